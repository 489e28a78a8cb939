#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_opa_policy
short_description: Upload and delete SARK's Rego policies on OPA
version_added: 0.1.0
description:
  - Manages policies through OPA's REST API - C(GET|PUT|DELETE /v1/policies/{id}) - as the runbook's "Upload Policy"
    step does. Listing and reading are M(sark.ops.sark_opa_policy_info)'s job, testing a decision
    M(sark.ops.sark_opa_decision_info)'s.
  - O(state=present) is idempotent by the policy text - when OPA already holds exactly that text nothing is
    uploaded and C(changed=false); with C(--diff) the old and new text are shown.
  - Before anything is uploaded the policy is compiled locally by a real Rego engine (regorus); a policy that
    does not compile is refused with the engine's C(file:line:col) message and nothing is sent to OPA.
options:
  state:
    description:
      - V(present) uploads the policy when OPA does not already hold the same text and
        V(absent) deletes the policy when it exists.
    type: str
    choices: [present, absent]
    default: present
  policy_id:
    description:
      - The OPA policy id, for example V(server_access) (the runbook's C(PUT /v1/policies/server_access)).
    type: str
    required: true
    aliases: [id]
  policy:
    description:
      - The Rego policy text. Mutually exclusive with O(src).
    type: str
  src:
    description:
      - Path (on the host the module runs on) of a C(.rego) file to upload. Mutually exclusive with O(policy).
    type: path
  validate:
    description:
      - Compile the policy with the regorus Rego engine before upload and refuse it when it does not compile.
      - Needs the Python package C(gordon-to-regorus) where the module runs; V(false) leaves validation to OPA alone.
    type: bool
    default: true
  rego_version:
    description:
      - Rego syntax the local validation expects. OPA 1.x speaks V(v1) (rules need C(if), sets C(contains)).
    type: str
    choices: [v0, v1]
    default: v1
extends_documentation_fragment:
  - sark.ops.opa
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads the current policy and returns the plan (RV(planned_actions)) with an honest C(changed); nothing is uploaded or deleted.
  diff_mode:
    support: full
    details:
      - Shows the stored and the new policy text.
  idempotent:
    support: full
requirements:
  - gordon-to-regorus (Python package, import name C(regorus)) for O(validate=true)
seealso:
  - module: sark.ops.sark_opa_policy_info
  - module: sark.ops.sark_opa_decision_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Upload a policy (runbook "Upload Policy"), validated locally first
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    policy_id: server_access
    src: policies/server_access.rego

- name: Remove an obsolete policy
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    policy_id: legacy_rules
    state: absent
'''

RETURN = r'''
policy_id:
  description: The policy id acted on.
  returned: always
  type: str
  sample: server_access
exists:
  description: Whether OPA held the policy before the task ran.
  returned: always
  type: bool
  sample: true
action:
  description: What was (or in check mode would be) done - V(created), V(updated), V(deleted) or V(none).
  returned: always
  type: str
  sample: updated
sha256:
  description: SHA-256 of the policy text OPA holds after the task (in check mode, of the text it would hold).
  returned: always
  type: str
  sample: 3f0a...
previous_sha256:
  description: SHA-256 of the policy text OPA held before, or null.
  returned: always
  type: str
  sample: 9c1d...
packages:
  description: The Rego packages the policy defines, from local validation.
  returned: when state is present and validate is true
  type: list
  elements: str
  sample: ["data.mcp.server_access"]
verified:
  description: Whether the text read back from OPA after the upload equals the text sent.
  returned: when a policy was uploaded
  type: bool
  sample: true
msg:
  description: What was done.
  returned: always
  type: str
  sample: Policy server_access updated
planned_actions:
  description: The writes planned (in check mode, the writes that would run).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "put_policy", "policy_id": "server_access"}]
executed_actions:
  description: The writes that ran (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "put_policy", "policy_id": "server_access", "sha256": "3f0a..."}]
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._opa import (
    OpaPolicies, check_policy_id, opa_argument_spec, opa_client, read_policy_text, sha256, validate_rego,
)


def ensure_present(module, opa, policy_id):
    params = module.params
    text = read_policy_text(params)
    result = {"policy_id": policy_id}
    if params["validate"]:
        result["packages"] = validate_rego(policy_id, text, params["rego_version"])
    current = opa.get(policy_id)
    before = current.get("raw") if current else None
    result.update(exists=current is not None, previous_sha256=sha256(before), sha256=sha256(text))
    if before == text:
        result.update(changed=False, action="none", msg="OPA already holds this text for policy %s" % policy_id)
        return result
    result.update(changed=True, action="updated" if current else "created")
    if module.diff_mode:
        result["diff"] = {"before": before or "", "after": text, "before_header": "opa:/v1/policies/%s" % policy_id,
                          "after_header": "opa:/v1/policies/%s" % policy_id}
    module.evidence.plan("put_policy", policy_id=policy_id, bytes=len(text.encode("utf-8")), sha256=result["sha256"])
    if module.check_mode:
        result["msg"] = "Would %s policy %s" % ("update" if current else "create", policy_id)
        return result
    opa.put(policy_id, text)
    module.evidence.executed("put_policy", policy_id=policy_id, sha256=result["sha256"])
    stored = opa.get(policy_id)
    result["verified"] = bool(stored) and stored.get("raw") == text
    if not result["verified"]:
        raise SarkPreconditionError("OPA accepted policy %s but reads back different text (another writer?)" % policy_id,
                                    **result)
    result["msg"] = "Policy %s %s" % (policy_id, result["action"])
    return result


def ensure_absent(module, opa, policy_id):
    current = opa.get(policy_id)
    before = current.get("raw") if current else None
    result = {"policy_id": policy_id, "exists": current is not None, "previous_sha256": sha256(before), "sha256": None}
    if current is None:
        result.update(changed=False, action="none", msg="OPA has no policy %s" % policy_id)
        return result
    result.update(changed=True, action="deleted")
    if module.diff_mode:
        result["diff"] = {"before": before, "after": "", "before_header": "opa:/v1/policies/%s" % policy_id,
                          "after_header": "(deleted)"}
    module.evidence.plan("delete_policy", policy_id=policy_id)
    if module.check_mode:
        result["msg"] = "Would delete policy %s" % policy_id
        return result
    opa.delete(policy_id)
    module.evidence.executed("delete_policy", policy_id=policy_id)
    result["msg"] = "Policy %s deleted" % policy_id
    return result


def run(module):
    params = module.params
    opa = OpaPolicies(opa_client(params))
    policy_id = check_policy_id(params["policy_id"])
    if params["state"] == "present":
        result = ensure_present(module, opa, policy_id)
    else:
        result = ensure_absent(module, opa, policy_id)
    result.update(module.actions())
    return result


def main():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        policy_id=dict(type="str", aliases=["id"], required=True),
        policy=dict(type="str"),
        src=dict(type="path"),
        validate=dict(type="bool", default=True),
        rego_version=dict(type="str", default="v1", choices=["v0", "v1"]),
    )
    sark_main(run, spec, (opa_argument_spec, layout_argument_spec), mutually_exclusive=[("policy", "src")])


if __name__ == "__main__":
    main()
