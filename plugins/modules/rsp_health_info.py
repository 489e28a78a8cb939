#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: rsp_health_info
short_description: Health of the Rust Security Platform's auth-service and policy-service, judged for what it proves
version_added: 0.3.0
description:
  - Reads auth-service's C(GET /health) and policy-service's health in the deployment's layout - V(runbook) (seed 003's
    C(/health) health signal; policy-service's admin API C(GET /admin/policies), whose policy count shows the policies
    are loaded) or V(rsp_code) (the code's static C(/health) bodies of both services).
  - Honest about what each answer proves - the code's C(/health) handlers return a static body and check no dependency,
    so the verdict says so (RV(dependencies_checked) false) and only calls the platform verified when a real decision
    went through policy-service (O(decision_test), C(POST /v1/authorize), layout V(rsp_code)).
  - Never changes anything. Unreachable services are findings (C(down)), not task failures.
options:
  services:
    description: Which services to read.
    type: list
    elements: str
    choices: [auth, policy]
    default: [auth, policy]
  decision_test:
    description:
      - A decision request sent to policy-service's C(POST /v1/authorize) (layout V(rsp_code)) - C(principal) (C({type, id})),
        C(action), C(resource) (C({type, id})), optional C(context) and C(expect) (V(Allow) or V(Deny)). A wrong or missing
        decision makes policy-service C(unhealthy) - what its static C(/health) cannot show.
      - The runbook layout documents no decision route; there the test is refused (use M(sark.ops.rsp_policy_decision_info)
        with O(sark.ops.rsp_policy_decision_info#module:source=local)).
    type: dict
extends_documentation_fragment:
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
seealso:
  - module: sark.ops.rsp_layout_info
  - module: sark.ops.rsp_policy_decision_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Health of the platform, with a real decision through policy-service
  sark.ops.rsp_health_info:
    layout: rsp_code
    rsp_auth_url: http://auth-service.rust-security:8080
    rsp_policy_url: http://policy-service.rust-security:8081
    decision_test:
      principal: {type: User, id: alice}
      action: read
      resource: {type: Document, id: handbook}
      expect: Allow
  register: rsp_health
'''

RETURN = r'''
verdict:
  description: V(healthy), V(degraded) or V(unhealthy) - the worst of the services read.
  returned: always
  type: str
  sample: healthy
verified:
  description: Whether a real decision went through policy-service and came back as expected.
  returned: always
  type: bool
  sample: true
dependencies_checked:
  description: Whether anything read here checked a dependency - false for the health endpoints of both layouts.
  returned: always
  type: bool
  sample: false
summary:
  description: One sentence that says what was checked and what was not.
  returned: always
  type: str
  sample: "healthy: auth-service up (static /health: checks no dependency); policy-service decided Allow as expected"
services:
  description: Per service (V(auth-service), V(policy-service)).
  returned: always
  type: dict
  contains:
    status:
      description: V(up), V(degraded), V(down), V(unexpected) (answered, but not the layout's body) or V(unhealthy) (a failed decision).
      type: str
    route:
      description: The route read.
      type: str
    http_status:
      description: Its HTTP status (null when unreachable).
      type: int
    checks_dependencies:
      description: Always false - neither layout's health route checks a dependency.
      type: bool
    note:
      description: What the answer proves.
      type: str
  sample: {"auth-service": {"status": "up", "route": "/health", "http_status": 200, "checks_dependencies": false}}
decision:
  description: The decision test - C(request), C(decision), C(expect), C(error), C(http_status), C(passed); null without O(decision_test).
  returned: always
  type: dict
  sample: {"decision": "Allow", "expect": "Allow", "passed": true, "http_status": 200}
layout:
  description: The layout the services were read in.
  returned: always
  type: str
  sample: rsp_code
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._rsp import (
    SERVICES,
    authorize,
    client,
    decision_request,
    health_routes,
    judge_auth_health,
    judge_policy_health,
    layout_of,
    probe,
    rsp_argument_spec,
    rsp_layout_argument_spec,
)

RANK = {"up": 0, "degraded": 1, "unexpected": 1, "unhealthy": 2, "down": 2}
VERDICTS = ("healthy", "degraded", "unhealthy")


def run_decision_test(params, layout, http):
    if not layout.has("authorize_route"):
        raise SarkValidationError("decision_test: %s" % layout.absent_reason("authorize_route"))
    _name, body, expect = decision_request(layout, params["decision_test"], 0)
    decision, error, status = authorize(http, layout, body)
    passed = decision is not None and (expect is None or decision == expect)
    return {"request": body, "decision": decision, "expect": expect, "error": error, "http_status": status, "passed": passed}


def run(module):
    params = module.params
    layout = layout_of(params)
    if not params["services"]:
        raise SarkValidationError("services is empty: give auth and/or policy")
    if params["decision_test"] is not None and "policy" not in params["services"]:
        raise SarkValidationError("decision_test goes to policy-service: add policy to services")
    auth_route, policy_route = health_routes(layout)
    services, decision, notes = {}, None, []
    if "auth" in params["services"]:
        entry = judge_auth_health(layout, probe(client(params, "auth"), "GET", auth_route))
        services["auth-service"] = entry
        notes.append("auth-service %s (%s)" % (entry["status"], entry["note"]))
    if "policy" in params["services"]:
        http = client(params, "policy")
        entry = judge_policy_health(layout, probe(http, "GET", policy_route))
        services["policy-service"] = entry
        if params["decision_test"] is not None:
            decision = run_decision_test(params, layout, http)
            module.evidence.count("decisions")
            if decision["passed"]:
                notes.append("policy-service decided %s%s" % (decision["decision"], " as expected" if decision["expect"] else ""))
            else:
                entry["status"] = "unhealthy"
                why = decision["error"] or "decided %s, expected %s" % (decision["decision"], decision["expect"])
                entry["note"] = "the decision test failed: %s" % why
                notes.append("policy-service unhealthy (%s)" % entry["note"])
        else:
            notes.append("policy-service %s (%s)" % (entry["status"], entry["note"]))
    worst = max(RANK[e["status"]] for e in services.values())
    verdict = VERDICTS[worst]
    verified = bool(decision and decision["passed"])
    summary = "%s: %s" % (verdict, "; ".join(notes))
    if not verified and verdict == "healthy":
        summary += ("; no decision was tested, so nothing shows the platform can authorize"
                    + (" (set decision_test)" if layout.has("authorize_route") else ""))
    module.evidence.set_count("services", len(services))
    return {"verdict": verdict, "verified": verified, "dependencies_checked": False, "summary": summary,
            "services": services, "decision": decision, "layout": layout.name}


def main():
    spec = dict(services=dict(type="list", elements="str", choices=list(SERVICES), default=list(SERVICES)),
                decision_test=dict(type="dict"))
    sark_main(run, spec, (rsp_argument_spec, rsp_layout_argument_spec))


if __name__ == "__main__":
    main()
