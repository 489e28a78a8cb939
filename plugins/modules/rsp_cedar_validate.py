#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: rsp_cedar_validate
short_description: Validate Cedar policies with a real Cedar engine before they ship to the Rust Security Platform
version_added: 0.3.0
description:
  - Parses Cedar policies with Cedar's own parser (C(cedarpy)) and, when a schema is given, validates them against it -
    what seed 003's C(kubectl exec ... /usr/local/bin/cedar validate --policies /etc/policies/) means to do; the
    platform's distroless images carry no cedar CLI, so this runs off-cluster, before a policy ships.
  - Reports every syntax error (per file) and every schema violation (per policy id), the policies found with their
    ids and effects, and a SHA-256 of each source. Fails when the policies are invalid unless O(fail_on_invalid=false).
  - Reads only; never changes anything (C(changed) is always false).
options:
  policies:
    description: Cedar policy text. Give this or O(policy_path).
    type: str
  policy_path:
    description: A C(.cedar) file, or a directory whose C(*.cedar) files are validated (the ConfigMap's files, say).
    type: path
  schema:
    description:
      - A Cedar schema, in Cedar schema syntax or JSON (text or a dict). Without one only syntax is checked.
    type: raw
  schema_path:
    description: A file holding the schema (Cedar syntax or JSON). Give this or O(schema).
    type: path
  fail_on_invalid:
    description: Fail the task when a policy does not parse or violates the schema.
    type: bool
    default: true
notes:
  - The RSP connection options and O(layout) are accepted so that C(module_defaults) of C(group/sark.ops.rsp) can set them
    once; Cedar is the same in both layouts and this module contacts no service.
extends_documentation_fragment:
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
requirements:
  - cedarpy
seealso:
  - module: sark.ops.rsp_policy_decision_info
  - name: Cedar policy language
    description: The language the policy-service evaluates.
    link: https://docs.cedarpolicy.com/
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Validate the policies before they ship (seed 003 "Validate policy syntax")
  sark.ops.rsp_cedar_validate:
    policy_path: k8s/policies/
    schema_path: k8s/policies/schema.cedarschema

- name: Syntax only, without failing
  sark.ops.rsp_cedar_validate:
    policies: "{{ lookup('ansible.builtin.file', 'policies.cedar') }}"
    fail_on_invalid: false
  register: cedar
'''

RETURN = r'''
valid:
  description: Whether every policy parsed and (with a schema) conformed to it.
  returned: always
  type: bool
  sample: true
syntax_valid:
  description: Whether every source parsed.
  returned: always
  type: bool
  sample: true
schema_checked:
  description: Whether a schema was given and the policies were validated against it.
  returned: always
  type: bool
  sample: true
policies:
  description: The policies found - C(source), C(id) (its C(@id) annotation, else Cedar's C(policyN)), C(effect).
  returned: always
  type: list
  elements: dict
  sample: [{"source": "policies.cedar", "id": "users-read-docs", "effect": "permit"}]
sources:
  description: Each source read - C(name), C(sha256), C(bytes).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "policies.cedar", "sha256": "9f2c...", "bytes": 311}]
errors:
  description: Every error - C(source), C(stage) (V(syntax), V(schema) (the schema itself does not parse) or V(validation)), C(policy_id), C(error).
  returned: always
  type: list
  elements: dict
  sample: [{"source": "policies.cedar", "stage": "validation", "policy_id": "policy0", "error": "unrecognized entity type `Usr`"}]
evidence:
  description: The audit record - options asked for, counts, start time and duration.
  returned: always
  type: dict
'''

import os

from ansible_collections.sark.ops.plugins.module_utils._cedar import parse, policy_sources, schema_text, sha256, validate
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._rsp import rsp_argument_spec, rsp_layout_argument_spec


def run(module):
    params = module.params
    sources = policy_sources(params)
    schema = schema_text(params)
    policies, errors = parse(sources)
    syntax_valid = not errors
    if schema is not None and syntax_valid:
        errors.extend(validate(sources, schema))
    for error in errors:
        error["source"] = os.path.basename(error["source"])
    for policy in policies:
        policy["source"] = os.path.basename(policy["source"])
    module.evidence.set_count("policies", len(policies))
    module.evidence.set_count("errors", len(errors))
    result = {"valid": not errors, "syntax_valid": syntax_valid, "schema_checked": schema is not None and syntax_valid,
              "policies": policies, "errors": errors,
              "sources": [{"name": os.path.basename(n), "sha256": sha256(t), "bytes": len(t.encode("utf-8"))} for n, t in sources]}
    if errors and params["fail_on_invalid"]:
        first = errors[0]
        raise SarkError("%d Cedar error(s); first: %s%s: %s. Fix the policies (or the schema) before they ship."
                        % (len(errors), first["source"], " policy %s" % first["policy_id"] if first.get("policy_id") else "",
                           first["error"]), **result)
    return result


def main():
    spec = dict(policies=dict(type="str"), policy_path=dict(type="path"), schema=dict(type="raw"), schema_path=dict(type="path"),
                fail_on_invalid=dict(type="bool", default=True))
    # layout is accepted so group/sark.ops.rsp's module_defaults can set it; Cedar is the same in both layouts
    sark_main(run, spec, (rsp_argument_spec, rsp_layout_argument_spec))


if __name__ == "__main__":
    main()
