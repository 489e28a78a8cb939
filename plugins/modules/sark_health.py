#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_health
short_description: Read SARK's health endpoints and judge every component
version_added: 0.1.0
description:
  - Reads C(GET /health/detailed) in both shapes SARK uses - the runbook's C(components) map of status
    strings and SARK 2.x's C(dependencies.*.healthy) objects with latency - and, where the deployment has
    them, the C(/health/live) and C(/health/ready) probes.
  - Judges each component itself instead of trusting the overall flag (SARK 2.x always reports OPA
    unhealthy, a known upstream bug; list such components in O(ignore_components)).
  - An unreachable or failing API is reported (RV(is_available=false) and RV(error)), not a task failure,
    unless O(fail_on_unhealthy=true).
  - Automates the runbook's "Quick Health Check", "Check SIEM Health" and "Check Overall Health" steps.
options:
  probes:
    description:
      - Which endpoints to read. V(detailed) is C(/health/detailed); V(live) and V(ready) exist only in the
        V(sark_v2) layout and are skipped (with a note) in the V(runbook) layout.
    type: list
    elements: str
    choices: [detailed, live, ready]
    default: [detailed, live, ready]
  ignore_components:
    description:
      - Components whose bad status is reported but does not make the verdict unhealthy, for example V(opa)
        on SARK 2.x while the upstream bug stands.
    type: list
    elements: str
    default: []
  fail_on_unhealthy:
    description:
      - Fail the task when the API is unreachable or the verdict is not V(healthy).
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Quick health check (runbook layout)
  sark.ops.sark_health:
    api_url: https://sark.example.com
  register: health

- name: SARK 2.x, ignoring the known OPA health bug, failing the play when unhealthy
  sark.ops.sark_health:
    api_url: https://sark.example.com
    api_token: "{{ sark_token }}"
    layout: sark_v2
    ignore_components: [opa]
    fail_on_unhealthy: true

- name: Check only the SIEM component
  ansible.builtin.assert:
    that: health.components.siem.healthy
    fail_msg: "SIEM is {{ health.components.siem.status }}"
'''

RETURN = r'''
is_available:
  description: Whether C(/health/detailed) answered with a usable body.
  returned: always
  type: bool
  sample: true
error:
  description: Why the API is not available (connection error or HTTP status), when it is not.
  returned: when is_available is false
  type: str
  sample: "Cannot reach the SARK API at http://127.0.0.1:9/health/detailed: [Errno 111] Connection refused"
verdict:
  description:
    - V(healthy); V(degraded) when only ignored components are bad, a component is V(unknown) or a dependency is not ready;
      V(unhealthy); V(unavailable) when the API did not answer.
  returned: always
  type: str
  sample: healthy
shape:
  description: Which body shape /health/detailed had - V(components) (runbook) or V(dependencies) (SARK 2.x).
  returned: when is_available
  type: str
  sample: components
reported_status:
  description: The overall status the API itself reported.
  returned: when is_available
  type: str
  sample: healthy
version:
  description: SARK version the API reported.
  returned: when is_available
  type: str
  sample: 1.0.0
components:
  description:
    - Per component - C(status) string, C(healthy) (true, false, or null when unknown), C(latency_ms) (SARK 2.x only, else null),
      C(error), C(ignored).
  returned: when is_available
  type: dict
  sample: {"database": {"status": "healthy", "healthy": true, "latency_ms": null, "error": null, "ignored": false}}
unknown_components:
  description: Names of components SARK reported as V(unknown) (it could not judge them); they make the verdict V(degraded).
  returned: always
  type: list
  elements: str
  sample: []
unhealthy_components:
  description: Names of components judged not healthy (ignored ones included).
  returned: always
  type: list
  elements: str
  sample: []
metrics:
  description: The C(metrics) block of the runbook shape (active users, registered servers, requests per minute).
  returned: when the API reports it
  type: dict
  sample: {"active_users": 1250}
probes:
  description: Per probe - HTTP status, latency in ms, body, error and whether the layout has it.
  returned: always
  type: dict
  sample: {"detailed": {"status": 200, "latency_ms": 12.3, "ok": true}}
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._health import evaluate_health
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, sark_main

PROBE_ROUTES = {"detailed": "health_detailed_route", "live": "health_live_route", "ready": "health_ready_route"}


def read_probe(client, layout, name):
    route_key = PROBE_ROUTES[name]
    if not layout.has(route_key):
        return {"skipped": True, "reason": layout.absent_reason(route_key), "ok": None}
    try:
        # SARK answers 503 with a full body when a dependency is down: that is an answer to read, not to retry
        resp = client.request("GET", layout.route(route_key), expect=tuple(range(200, 600)), retry_on=(429, 502, 504))
    except SarkError as exc:
        return {"ok": False, "error": exc.msg, "status": None, "latency_ms": None, "body": None}
    try:
        body = resp.json()
    except SarkError:
        body = None
    ok = isinstance(body, dict) and (resp.status == 200 or (resp.status == 503 and name != "live"))
    probe = {"ok": ok, "status": resp.status, "latency_ms": resp.elapsed_ms, "body": body,
             "attempts": resp.attempts, "redirects": len(resp.redirects)}
    if not ok:
        probe["error"] = client.error_for("GET", resp.url, resp).msg if resp.status != 200 else "body is not a JSON object"
    return probe


def run(module):
    params = module.params
    layout = Layout.from_params(params)
    client = SarkApiClient(params)
    probes = {}
    for name in params["probes"]:
        probes[name] = read_probe(client, layout, name)
        module.evidence.count("requests")
    result = evaluate_health(probes, set(params["ignore_components"]))
    result["probes"] = probes
    result["layout"] = layout.name
    if params["fail_on_unhealthy"] and result["verdict"] not in ("healthy", "degraded"):
        reason = result.get("error") or "unhealthy components: %s" % ", ".join(result["unhealthy_components"])
        raise SarkError("SARK is %s: %s" % (result["verdict"], reason), **result)
    return result


def main():
    spec = dict(
        probes=dict(type="list", elements="str", choices=sorted(PROBE_ROUTES), default=["detailed", "live", "ready"]),
        ignore_components=dict(type="list", elements="str", default=[]),
        fail_on_unhealthy=dict(type="bool", default=False),
    )
    sark_main(run, spec, (api_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
