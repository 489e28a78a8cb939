#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: rsp_policy_decision_info
short_description: Test authorization decisions of the Rust Security Platform's policy-service (Cedar)
version_added: 0.3.0
description:
  - Runs decision tests - each a request C({principal {type, id}, action, resource {type, id}, context}) and the decision
    it must get (C(expect) V(Allow) or V(Deny)).
  - O(source=service) sends each to policy-service's C(POST /v1/authorize) (layout V(rsp_code)), checked first against the
    service's documented limits (C(request_id) 128, ids 512 and C(action) 256 characters, JSON depth 10, 1 MiB), so a
    test never fails on a limit the service would refuse. A C(400)/C(500) C({error}) answer is the test's result.
  - O(source=local) evaluates them with a real Cedar engine (C(cedarpy)) against O(policies) or O(policy_path) - before
    the policies ship, and in the V(runbook) layout, which documents no decision route.
  - Never changes anything. Fails when a test gets another decision than expected unless O(fail_on_mismatch=false).
options:
  tests:
    description: The decision tests; each C(name) (optional), C(principal), C(action), C(resource), C(context), C(expect).
    type: list
    elements: dict
    required: true
  source:
    description: V(service) (policy-service's C(POST /v1/authorize)) or V(local) (cedarpy on the given policies).
    type: str
    choices: [service, local]
    default: service
  policies:
    description: Cedar policy text for O(source=local).
    type: str
  policy_path:
    description: A C(.cedar) file or a directory of them for O(source=local).
    type: path
  entities:
    description: Cedar entities (the JSON entity list) for O(source=local), e.g. a user's roles as parents.
    type: list
    elements: dict
    default: []
  max_tests:
    description: At most this many tests per run.
    type: int
    default: 200
  fail_on_mismatch:
    description: Fail the task when a test gets another decision than its C(expect) (or none).
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
requirements:
  - cedarpy (for O(source=local))
seealso:
  - module: sark.ops.rsp_cedar_validate
  - module: sark.ops.rsp_health_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Decisions the live policy-service must give
  sark.ops.rsp_policy_decision_info:
    layout: rsp_code
    rsp_policy_url: http://policy-service.rust-security:8081
    tests:
      - {name: users read, principal: {type: User, id: alice}, action: read, resource: {type: Document, id: d1}, expect: Allow}
      - {name: users do not delete, principal: {type: User, id: alice}, action: delete, resource: {type: Document, id: d1},
         context: {locked: true}, expect: Deny}

- name: The same tests on the policies about to ship
  sark.ops.rsp_policy_decision_info:
    source: local
    policy_path: k8s/policies/
    tests: "{{ rsp_decision_tests }}"
'''

RETURN = r'''
passed_count:
  description: How many tests got the expected decision.
  returned: always
  type: int
  sample: 2
failed_count:
  description: How many did not (another decision, an error answer). Not C(failed), which is Ansible's own.
  returned: always
  type: int
  sample: 0
results:
  description: Per test - C(name), C(decision) (V(Allow), V(Deny) or null), C(expect), C(passed), C(error), C(http_status)
    (O(source=service)), C(diagnostics) (O(source=local) - the policy ids that decided, evaluation errors).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "users read", "decision": "Allow", "expect": "Allow", "passed": true, "error": null, "http_status": 200}]
source:
  description: Where the decisions came from.
  returned: always
  type: str
  sample: service
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._cedar import decide_locally, parse, policy_sources
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, SarkLimitError, SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._rsp import (
    authorize,
    client,
    decision_request,
    layout_of,
    rsp_argument_spec,
    rsp_layout_argument_spec,
)


def run(module):
    params = module.params
    layout = layout_of(params)
    tests = params["tests"]
    if not tests:
        raise SarkValidationError("tests is empty: give at least one {principal, action, resource, expect}")
    if len(tests) > params["max_tests"]:
        raise SarkLimitError("%d tests, more than max_tests %d: split them or raise max_tests" % (len(tests), params["max_tests"]))
    # every request is checked before the first is sent
    requests = [decision_request(layout, test, index) for index, test in enumerate(tests)]
    results = []
    if params["source"] == "service":
        if params["policies"] or params["policy_path"]:
            raise SarkValidationError("policies/policy_path are for source=local; source=service asks policy-service")
        if not layout.has("authorize_route"):
            raise SarkValidationError("source=service: %s" % layout.absent_reason("authorize_route"))
        http = client(params, "policy")
        for name, body, expect in requests:
            decision, error, status = authorize(http, layout, body)
            module.evidence.count("requests")
            results.append({"name": name, "decision": decision, "expect": expect, "error": error, "http_status": status,
                            "passed": decision is not None and (expect is None or decision == expect)})
    else:
        sources = policy_sources(params)
        _policies, errors = parse(sources)
        if errors:
            raise SarkValidationError("the policies do not parse (%s: %s): fix them first (sark.ops.rsp_cedar_validate)"
                                      % (errors[0]["source"], errors[0]["error"]), errors=errors)
        text = "\n".join(t for _n, t in sources)
        for name, body, expect in requests:
            decision, diagnostics = decide_locally(text, body, params["entities"])
            results.append({"name": name, "decision": decision, "expect": expect, "diagnostics": diagnostics,
                            "error": "; ".join(diagnostics["errors"]) or None if decision is None else None,
                            "passed": decision is not None and (expect is None or decision == expect)})
    passed = sum(1 for r in results if r["passed"])
    failed = len(results) - passed
    module.evidence.set_count("tests", len(results))
    result = {"passed_count": passed, "failed_count": failed, "results": results, "source": params["source"]}
    if failed and params["fail_on_mismatch"]:
        bad = [r for r in results if not r["passed"]]
        raise SarkError("%d of %d decision tests failed: %s" % (failed, len(results), "; ".join(
            "%s: %s" % (r["name"], r["error"] or "decided %s, expected %s" % (r["decision"], r["expect"])) for r in bad[:5])), **result)
    return result


def main():
    spec = dict(tests=dict(type="list", elements="dict", required=True), source=dict(type="str", choices=["service", "local"], default="service"),
                policies=dict(type="str"), policy_path=dict(type="path"), entities=dict(type="list", elements="dict", default=[]),
                max_tests=dict(type="int", default=200), fail_on_mismatch=dict(type="bool", default=True))
    sark_main(run, spec, (rsp_argument_spec, rsp_layout_argument_spec))


if __name__ == "__main__":
    main()
