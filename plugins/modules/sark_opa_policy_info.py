#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_opa_policy_info
short_description: List and read SARK's Rego policies on OPA
version_added: 0.2.0
description:
  - Reads policies through OPA's REST API - C(GET /v1/policies) and C(GET /v1/policies/{id}) - as the runbook's
    "List Policies" step does. It never changes anything.
  - With O(policy_id), returns that policy (RV(policy)); without it, lists the policies (RV(policies)).
  - Uploading and deleting are M(sark.ops.sark_opa_policy)'s job; decisions are M(sark.ops.sark_opa_decision_info)'s.
options:
  policy_id:
    description: One policy to read, for example V(server_access).
    type: str
    aliases: [id]
  filter:
    description:
      - Without O(policy_id), policy ids to include (shell wildcards) or, with a leading C(!), exclude.
    type: list
    elements: str
    default: []
  return_text:
    description:
      - Without O(policy_id), also return each policy's Rego text.
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.opa
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
seealso:
  - module: sark.ops.sark_opa_policy
  - module: sark.ops.sark_opa_decision_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: List policies (runbook "List Policies")
  sark.ops.sark_opa_policy_info:
    opa_url: http://opa:8181
  register: opa_policies

- name: Every policy but the mcp ones, with their text
  sark.ops.sark_opa_policy_info:
    opa_url: http://opa:8181
    filter: ["*", "!mcp_*"]
    return_text: true

- name: One policy
  sark.ops.sark_opa_policy_info:
    opa_url: http://opa:8181
    policy_id: server_access
'''

RETURN = r'''
policy_id:
  description: The policy id read.
  returned: when policy_id is given
  type: str
  sample: server_access
exists:
  description: Whether OPA holds the policy.
  returned: when policy_id is given
  type: bool
  sample: true
sha256:
  description: SHA-256 of the policy text.
  returned: when policy_id is given and the policy exists
  type: str
  sample: 3f0a...
policy:
  description: The stored policy.
  returned: when policy_id is given and the policy exists
  type: dict
  sample: {"id": "server_access", "raw": "package mcp.server_access ...", "sha256": "3f0a..."}
  contains:
    id:
      description: The policy id.
      type: str
      returned: always
    raw:
      description: The Rego text.
      type: str
      returned: always
    sha256:
      description: SHA-256 of the text.
      type: str
      returned: always
policies:
  description: Policies OPA holds, sorted by id.
  returned: when policy_id is not given
  type: list
  elements: dict
  sample: [{"id": "server_access", "sha256": "3f0a...", "size": 512}]
  contains:
    id:
      description: The policy id.
      type: str
      returned: always
    sha256:
      description: SHA-256 of the text.
      type: str
      returned: always
    size:
      description: Bytes of the text.
      type: int
      returned: always
    raw:
      description: The Rego text.
      type: str
      returned: when return_text is true
msg:
  description: What was found.
  returned: always
  type: str
  sample: 3 of 3 policies
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._opa import (
    OpaPolicies, check_policy_id, get_policy, list_policies, opa_argument_spec, opa_client,
)


def run(module):
    params = module.params
    opa = OpaPolicies(opa_client(params))
    if params["policy_id"]:
        result = get_policy(opa, check_policy_id(params["policy_id"]))
        if result["exists"]:
            result["msg"] = "Policy %s, %d bytes" % (result["policy_id"], len(result["policy"]["raw"].encode("utf-8")))
        return result
    result = list_policies(opa, params["filter"], params["return_text"])
    module.evidence.set_count("policies", len(result["policies"]))
    return result


def main():
    spec = dict(
        policy_id=dict(type="str", aliases=["id"]),
        filter=dict(type="list", elements="str", default=[]),
        return_text=dict(type="bool", default=False),
    )
    sark_main(run, spec, (opa_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
