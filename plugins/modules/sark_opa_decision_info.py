#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_opa_decision_info
short_description: Ask OPA for a SARK policy decision
version_added: 0.2.0
description:
  - Evaluates a decision with C(POST /v1/data/{path}), as the runbook's "Test Policy" step does. It never changes anything.
  - Reports the raw C(result) and, for SARK's decision path V(mcp/allow), whether SARK would allow the request - SARK
    needs C(result) to be an object with C(allow=true); a bare boolean, an undefined result or anything else counts as
    deny (fail closed).
  - With O(expect_allow) it is a policy test - the task fails unless SARK's reading of the decision is that value.
options:
  decision_path:
    description:
      - Data path evaluated, as V(mcp/allow), V(data.mcp.allow) or V(/v1/data/mcp/allow).
    type: str
    default: mcp/allow
  input:
    description:
      - The C(input) document sent, for example C({user, action, resource}).
    type: dict
    default: {}
  expect_allow:
    description:
      - On SARK's V(mcp/allow), fail unless SARK's reading of the decision is this value (a policy test in a play).
    type: bool
extends_documentation_fragment:
  - sark.ops.opa
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
seealso:
  - module: sark.ops.sark_opa_policy
  - module: sark.ops.sark_opa_policy_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Test the policy (runbook "Test Policy") - fail unless SARK would allow an admin to read
  sark.ops.sark_opa_decision_info:
    opa_url: http://opa:8181
    decision_path: mcp/allow
    input:
      user: {id: user-123, roles: [admin]}
      action: server:read
      resource: server-456
    expect_allow: true
  register: decision
'''

RETURN = r'''
defined:
  description: Whether the decision is defined (OPA omits C(result) when it is not).
  returned: always
  type: bool
  sample: true
result:
  description: The raw C(result) OPA returned (null when undefined).
  returned: always
  type: raw
  sample: {"allow": true, "audit_reason": "Allowed: admin role"}
decision_path:
  description: The normalised data path that was evaluated.
  returned: always
  type: str
  sample: mcp/allow
elapsed_ms:
  description: How long OPA took to answer, in milliseconds (retries included).
  returned: always
  type: float
  sample: 3.2
sark_decision:
  description: How SARK reads the decision (only for O(decision_path=mcp/allow)).
  returned: when decision_path is mcp/allow
  type: dict
  sample: {"allow": false, "shape": "boolean", "audit_reason": null, "explanation": "a bare boolean (true) is not a decision SARK can read"}
  contains:
    allow:
      description: Whether SARK would allow the request.
      type: bool
      returned: always
    shape:
      description: V(object), V(boolean), V(undefined), ...
      type: str
      returned: always
    audit_reason:
      description: The policy's C(audit_reason), when it gave one.
      type: str
      returned: always
    explanation:
      description: Why SARK reads it so.
      type: str
      returned: always
msg:
  description: SARK's reading of the decision.
  returned: when decision_path is mcp/allow
  type: str
  sample: "SARK would allow: ..."
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._opa import SARK_DECISION_PATH, OpaPolicies, evaluate, opa_argument_spec, opa_client


def run(module):
    params = module.params
    return evaluate(OpaPolicies(opa_client(params)), params["decision_path"], params["input"], params["expect_allow"])


def main():
    spec = dict(
        decision_path=dict(type="str", default=SARK_DECISION_PATH),
        input=dict(type="dict", default={}),
        expect_allow=dict(type="bool"),
    )
    sark_main(run, spec, (opa_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
