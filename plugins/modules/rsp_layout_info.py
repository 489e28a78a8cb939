#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: rsp_layout_info
short_description: Tell which layout a live Rust Security Platform follows - its runbook's or its code's
version_added: 0.3.0
description:
  - Probes auth-service and policy-service and reports whether the deployment follows the V(runbook) layout (seed 003 -
    policy-service's admin API C(GET /admin/policies) and C(/admin/policy-stats)) or the V(rsp_code) layout (what the code
    deploys - auth-service's static C(/health) with C(features), C(GET /api/v1/status), C(/metrics) answering 403 unless
    C(METRICS_PUBLIC=true); policy-service's static C(/health) and C(POST /v1/authorize)), with the evidence of every signal.
  - The decision route is probed with an empty object, which the code refuses with 400 before evaluating anything - no
    decision is made. Nothing is changed.
  - Gives a verdict per runbook procedure - V(effective), V(different) (with what to use instead) or V(no-op).
  - A service that cannot be reached is reported in RV(errors), not a failure, as long as the other one answered.
options:
  sources:
    description: Which services to probe; default both whose URL is set.
    type: list
    elements: str
    choices: [auth, policy]
extends_documentation_fragment:
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
notes:
  - O(layout) is the layout the inventory expects; the probe never assumes it and warns when the deployment disagrees.
seealso:
  - module: sark.ops.rsp_health_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Which layout does this Rust Security Platform follow?
  sark.ops.rsp_layout_info:
    rsp_auth_url: http://auth-service.rust-security:8080
    rsp_policy_url: http://policy-service.rust-security:8081
  register: rsp_layout

- name: Runbook procedures that do nothing here
  ansible.builtin.debug:
    msg: "{{ rsp_layout.procedures | selectattr('verdict', 'equalto', 'no-op') | map(attribute='procedure') | list }}"
'''

RETURN = r'''
layout:
  description: V(runbook), V(rsp_code), V(mixed) (signals disagree) or V(unknown) (no signal).
  returned: always
  type: str
  sample: rsp_code
configured_layout:
  description: The O(layout) the probe was told to expect.
  returned: always
  type: str
  sample: runbook
configured_layout_matches:
  description: Whether the detected layout is the configured one; null when the probe found V(mixed) or V(unknown).
  returned: always
  type: bool
  sample: false
votes:
  description: How many signals point to each layout.
  returned: always
  type: dict
  sample: {"runbook": 0, "rsp_code": 6}
signals:
  description: Every signal.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: V(auth) or V(policy).
      type: str
    signal:
      description: What was asked.
      type: str
    points_to:
      description: The layout it points to, or null.
      type: str
    evidence:
      description: The statuses and fields seen.
      type: dict
  sample: [{"source": "policy", "signal": "GET /admin/policies", "points_to": "rsp_code", "evidence": {"status": 404}}]
procedures:
  description: Per runbook procedure - C(procedure), C(verdict) (V(effective), V(different), V(no-op), V(unknown)), C(instead).
  returned: always
  type: list
  elements: dict
  sample: [{"procedure": "policy stats (GET :8080/admin/policy-stats)", "verdict": "no-op", "instead": "no admin routes"}]
answers:
  description: The HTTP status of each probe per service (null where it could not be reached).
  returned: always
  type: dict
  sample: {"auth": {"health": 200, "status": 200, "metrics": 403}}
errors:
  description: Services that could not be probed, with the reason.
  returned: always
  type: dict
  sample: {}
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._rsp import (
    SERVICES,
    client,
    decide_layout,
    layout_of,
    probe_auth,
    probe_policy,
    procedure_verdicts,
    rsp_argument_spec,
    rsp_layout_argument_spec,
)


def run(module):
    params = module.params
    sources = params["sources"] or [s for s in SERVICES if params["rsp_%s_url" % s]]
    if not sources:
        raise SarkError("Set rsp_auth_url and/or rsp_policy_url (or RSP_AUTH_URL / RSP_POLICY_URL): nothing to probe")
    probes = {"auth": probe_auth, "policy": probe_policy}
    signals, answers, errors = [], {}, {}
    for source in sources:
        found, answer = probes[source](client(params, source))
        signals.extend(found)
        answers[source] = {k: v for k, v in answer.items() if k != "errors"}
        if not found:
            errors[source] = "; ".join(answer["errors"]) or "no probe answered"
    if len(errors) == len(sources):
        raise SarkError("No RSP service could be probed: %s" % "; ".join("%s: %s" % kv for kv in sorted(errors.items())),
                        errors=errors, answers=answers)
    layout, votes = decide_layout(signals)
    configured = layout_of(params).name
    matches = configured == layout if layout in ("runbook", "rsp_code") else None
    if matches is False:
        module.warn("This Rust Security Platform follows the %s layout, but layout is set to %s: set layout: %s." % (layout, configured, layout))
    module.evidence.set_count("signals", len(signals))
    return {"layout": layout, "configured_layout": configured, "configured_layout_matches": matches, "votes": votes,
            "signals": signals, "procedures": procedure_verdicts(layout), "answers": answers, "errors": errors}


def main():
    sark_main(run, dict(sources=dict(type="list", elements="str", choices=list(SERVICES))),
              (rsp_argument_spec, rsp_layout_argument_spec))


if __name__ == "__main__":
    main()
