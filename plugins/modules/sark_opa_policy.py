#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_opa_policy
short_description: List, read, upload, delete and test SARK's Rego policies on OPA
version_added: 0.1.0
description:
  - Manages policies through OPA's REST API - C(GET /v1/policies), C(GET|PUT|DELETE /v1/policies/{id}) - and
    evaluates a decision with C(POST /v1/data/{path}), as the runbook's "Policy Management" steps do (list, upload
    and test policy).
  - O(state=present) is idempotent by the policy text - when OPA already holds exactly that text nothing is
    uploaded and C(changed=false); with C(--diff) the old and new text are shown.
  - Before anything is uploaded the policy is compiled locally by a real Rego engine (regorus); a policy that
    does not compile is refused with the engine's C(file:line:col) message and nothing is sent to OPA.
  - O(operation=evaluate) reports the raw C(result) and, for SARK's decision path V(mcp/allow), whether SARK would
    allow the request - SARK needs C(result) to be an object with C(allow=true); a bare boolean, an undefined
    result or anything else counts as deny (fail closed).
options:
  operation:
    description:
      - V(apply) makes OPA match O(state) - uploads or deletes the policy.
      - V(get) reads one policy, V(list) lists them (read-only).
      - V(evaluate) asks OPA for the decision at O(decision_path) with O(input) (read-only).
    type: str
    choices: [apply, get, list, evaluate]
    default: apply
  state:
    description:
      - With O(operation=apply), V(present) uploads the policy when OPA does not already hold the same text and
        V(absent) deletes the policy when it exists.
    type: str
    choices: [present, absent]
    default: present
  policy_id:
    description:
      - The OPA policy id, for example V(server_access) (the runbook's C(PUT /v1/policies/server_access)).
      - Required for O(state=present), O(state=absent) and O(operation=get).
    type: str
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
  decision_path:
    description:
      - Data path evaluated by O(operation=evaluate), as V(mcp/allow), V(data.mcp.allow) or V(/v1/data/mcp/allow).
    type: str
    default: mcp/allow
  input:
    description:
      - The C(input) document sent with O(operation=evaluate), for example C({user, action, resource}).
    type: dict
    default: {}
  expect_allow:
    description:
      - With O(operation=evaluate) on SARK's V(mcp/allow), fail unless SARK's reading of the decision is this value
        (a policy test in a play).
    type: bool
  filter:
    description:
      - With O(operation=list), policy ids to include (shell wildcards) or, with a leading C(!), exclude.
    type: list
    elements: str
    default: []
  return_text:
    description:
      - With O(operation=list), also return each policy's Rego text.
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.opa
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_OPA
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads the current policy and returns the plan (RV(planned_actions)) with an honest C(changed); nothing is uploaded or deleted.
      - O(operation=evaluate), O(operation=get) and O(operation=list) are read-only and run normally.
  diff_mode:
    support: full
    details:
      - Shows the stored and the new policy text.
  idempotent:
    support: full
requirements:
  - gordon-to-regorus (Python package, import name C(regorus)) for O(validate=true)
notes:
  - No OPA binary is tested here; the tests use an OPA-compatible REST server backed by the same Rego engine.
seealso:
  - name: OPA REST API
    description: The policy and data APIs this module uses.
    link: https://www.openpolicyagent.org/docs/latest/rest-api/
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Upload a policy (runbook "Upload Policy"), validated locally first
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    policy_id: server_access
    src: policies/server_access.rego

- name: List policies (runbook "List Policies")
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    operation: list
  register: opa_policies

- name: Test the policy (runbook "Test Policy") - fail unless SARK would allow an admin to read
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    operation: evaluate
    decision_path: mcp/allow
    input:
      user: {id: user-123, roles: [admin]}
      action: server:read
      resource: server-456
    expect_allow: true
  register: decision

- name: Remove an obsolete policy
  sark.ops.sark_opa_policy:
    opa_url: http://opa:8181
    policy_id: legacy_rules
    state: absent
'''

RETURN = r'''
policy_id:
  description: The policy id acted on.
  returned: when O(policy_id) is given
  type: str
  sample: server_access
exists:
  description: Whether OPA held the policy before the task ran (O(state=present), O(state=absent), O(operation=get)).
  returned: when O(policy_id) is given
  type: bool
  sample: true
action:
  description: What was (or in check mode would be) done - V(created), V(updated), V(deleted) or V(none).
  returned: with O(state=present) and O(state=absent)
  type: str
  sample: updated
sha256:
  description: SHA-256 of the policy text OPA holds after the task (in check mode, of the text it would hold).
  returned: with O(state=present), O(state=absent) and O(operation=get)
  type: str
  sample: 3f0a...
previous_sha256:
  description: SHA-256 of the policy text OPA held before, or null.
  returned: with O(state=present) and O(state=absent)
  type: str
packages:
  description: The Rego packages the policy defines, from local validation.
  returned: with O(state=present) and O(validate=true)
  type: list
  elements: str
  sample: ["data.mcp.server_access"]
verified:
  description: Whether the text read back from OPA after the upload equals the text sent.
  returned: when a policy was uploaded
  type: bool
  sample: true
policy:
  description: The stored policy C({id, raw, sha256}) (O(operation=get)).
  returned: with O(operation=get) when the policy exists
  type: dict
policies:
  description: Policies OPA holds - C(id), C(sha256), C(size) and, with O(return_text=true), C(raw).
  returned: with O(operation=list)
  type: list
  elements: dict
  sample: [{"id": "server_access", "sha256": "3f0a...", "size": 512}]
defined:
  description: Whether the decision is defined (OPA omits C(result) when it is not).
  returned: with O(operation=evaluate)
  type: bool
  sample: true
result:
  description: The raw C(result) OPA returned (null when undefined).
  returned: with O(operation=evaluate)
  type: raw
  sample: {"allow": true, "audit_reason": "Allowed: admin role"}
decision_path:
  description: The normalised data path that was evaluated.
  returned: with O(operation=evaluate)
  type: str
  sample: mcp/allow
elapsed_ms:
  description: How long OPA took to answer the evaluation, in milliseconds (retries included).
  returned: with O(operation=evaluate)
  type: float
  sample: 3.2
sark_decision:
  description:
    - How SARK reads the decision (only for O(decision_path=mcp/allow)) - C(allow) (SARK would allow), C(shape)
      (V(object), V(boolean), V(undefined), ...), C(audit_reason) and an C(explanation).
  returned: with O(operation=evaluate) on V(mcp/allow)
  type: dict
  sample: {"allow": false, "shape": "boolean", "audit_reason": null, "explanation": "a bare boolean (true) is not a decision SARK can read"}
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
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkModule, SarkPreconditionError, SarkValidationError, match_filter,
)
from ansible_collections.sark.ops.plugins.module_utils._opa import (
    MAX_POLICY_BYTES, SARK_DECISION_PATH, OpaPolicies, check_policy_id, data_path, opa_argument_spec, opa_client,
    sark_decision, sha256, validate_rego,
)


def argument_spec():
    spec = opa_argument_spec()
    spec.update(
        operation=dict(type="str", default="apply", choices=["apply", "get", "list", "evaluate"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        policy_id=dict(type="str", aliases=["id"]),
        policy=dict(type="str"),
        src=dict(type="path"),
        validate=dict(type="bool", default=True),
        rego_version=dict(type="str", default="v1", choices=["v0", "v1"]),
        decision_path=dict(type="str", default=SARK_DECISION_PATH),
        input=dict(type="dict", default={}),
        expect_allow=dict(type="bool"),
        filter=dict(type="list", elements="str", default=[]),
        return_text=dict(type="bool", default=False),
    )
    return spec


def read_policy_text(params):
    if params["policy"] is not None:
        text = params["policy"]
    elif params["src"]:
        try:
            with open(params["src"], "rb") as handle:
                raw = handle.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise SarkValidationError("Cannot read src %s: %s" % (params["src"], exc)) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SarkValidationError("src %s is not UTF-8 text" % params["src"]) from exc
    else:
        raise SarkValidationError("state=present needs the policy text: set policy (Rego text) or src (a .rego file)")
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise SarkValidationError("The policy is larger than %d bytes; OPA policies that large are not supported here"
                                  % MAX_POLICY_BYTES)
    if not text.strip():
        raise SarkValidationError("The policy text is empty")
    return text


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


def list_policies(module, opa):
    stored = opa.list()
    by_id = {item.get("id"): item for item in stored}
    selected = match_filter(sorted(by_id), module.params["filter"])
    policies = []
    for policy_id in selected:
        raw = by_id[policy_id].get("raw") or ""
        entry = {"id": policy_id, "sha256": sha256(raw), "size": len(raw.encode("utf-8"))}
        if module.params["return_text"]:
            entry["raw"] = raw
        policies.append(entry)
    module.evidence.set_count("policies", len(policies))
    return {"changed": False, "policies": policies, "msg": "%d of %d policies" % (len(policies), len(stored))}


def get_policy(opa, policy_id):
    current = opa.get(policy_id)
    if current is None:
        return {"changed": False, "policy_id": policy_id, "exists": False, "msg": "OPA has no policy %s" % policy_id}
    raw = current.get("raw") or ""
    return {"changed": False, "policy_id": policy_id, "exists": True, "sha256": sha256(raw),
            "policy": {"id": policy_id, "raw": raw, "sha256": sha256(raw)}}


def evaluate(module, opa):
    path = data_path(module.params["decision_path"])
    defined, value, response = opa.evaluate(path, module.params["input"])
    result = {"changed": False, "decision_path": path, "defined": defined, "result": value, "elapsed_ms": response.elapsed_ms}
    expect = module.params["expect_allow"]
    if path == SARK_DECISION_PATH:
        decision = sark_decision(defined, value)
        result["sark_decision"] = decision
        result["msg"] = "SARK would %s: %s" % ("allow" if decision["allow"] else "deny", decision["explanation"])
        if expect is not None and decision["allow"] != expect:
            raise SarkPreconditionError("Policy test failed: expected SARK to %s, but it would %s (%s)"
                                        % ("allow" if expect else "deny", "allow" if decision["allow"] else "deny",
                                           decision["explanation"]),
                                        **{k: v for k, v in result.items() if k != "msg"})
    elif expect is not None:
        raise SarkValidationError("expect_allow applies to SARK's decision path %s only, not %s" % (SARK_DECISION_PATH, path))
    return result


def run(module):
    params = module.params
    operation = params["operation"]
    opa = OpaPolicies(opa_client(params))
    if operation in ("apply", "get"):
        if not params["policy_id"]:
            what = "state=%s" % params["state"] if operation == "apply" else "operation=get"
            raise SarkValidationError("%s needs policy_id (the OPA policy id, e.g. server_access)" % what)
        policy_id = check_policy_id(params["policy_id"])
        if operation == "get":
            result = get_policy(opa, policy_id)
        elif params["state"] == "present":
            result = ensure_present(module, opa, policy_id)
        else:
            result = ensure_absent(module, opa, policy_id)
    elif operation == "list":
        result = list_policies(module, opa)
    else:
        result = evaluate(module, opa)
    result.update(module.actions())
    return result


def main():
    SarkModule(argument_spec=argument_spec(), supports_check_mode=True,
               mutually_exclusive=[("policy", "src")]).run(run)


if __name__ == "__main__":
    main()
