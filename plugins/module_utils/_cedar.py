# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cedar policies checked and evaluated by a real Cedar engine, cedarpy (private).

The Rust Security Platform's policy-service evaluates Cedar; its images carry no cedar CLI, so the runbook's
``kubectl exec ... cedar validate`` cannot run there. These functions do the same off-cluster: parse (syntax),
validate against a schema when one is given, and answer a decision request locally.
"""

import hashlib
import json
import os
import traceback

from ansible_collections.sark.ops.plugins.module_utils._module import SarkDependencyError, SarkValidationError

try:
    import cedarpy
    HAS_CEDARPY = True
    CEDARPY_IMPORT_ERROR = None
except ImportError:
    cedarpy = None
    HAS_CEDARPY = False
    CEDARPY_IMPORT_ERROR = traceback.format_exc()

MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_FILES = 500
DECISIONS = ("Allow", "Deny")


def require_cedarpy():
    if not HAS_CEDARPY:
        raise SarkDependencyError("cedarpy", CEDARPY_IMPORT_ERROR, reason="to parse, validate and evaluate Cedar policies")


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_policy_files(path):
    """[(file, text)] of a .cedar file or of every *.cedar file of a directory (sorted), within the size caps."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".cedar"))
        if not names:
            raise SarkValidationError("policy_path %s holds no *.cedar file" % path)
        if len(names) > MAX_POLICY_FILES:
            raise SarkValidationError("policy_path %s holds %d *.cedar files, more than %d" % (path, len(names), MAX_POLICY_FILES))
        files = [os.path.join(path, n) for n in names]
    elif os.path.isfile(path):
        files = [path]
    else:
        raise SarkValidationError("policy_path %s is neither a file nor a directory" % path)
    out, total = [], 0
    for name in files:
        total += os.path.getsize(name)
        if total > MAX_POLICY_BYTES:
            raise SarkValidationError("the policies under %s exceed %d bytes" % (path, MAX_POLICY_BYTES))
        with open(name, encoding="utf-8") as handle:
            out.append((name, handle.read()))
    return out


def policy_sources(params):
    """[(name, text)] from the options policies (text) or policy_path; exactly one must be given."""
    if bool(params.get("policies")) == bool(params.get("policy_path")):
        raise SarkValidationError("give exactly one of policies (Cedar text) and policy_path (a .cedar file or a directory)")
    if params.get("policies"):
        if len(params["policies"].encode("utf-8")) > MAX_POLICY_BYTES:
            raise SarkValidationError("policies exceed %d bytes" % MAX_POLICY_BYTES)
        return [("policies", params["policies"])]
    return read_policy_files(params["policy_path"])


def schema_text(params):
    """The schema as text (Cedar or JSON syntax) from schema (text or dict) or schema_path; None when none is given."""
    schema, path = params.get("schema"), params.get("schema_path")
    if schema and path:
        raise SarkValidationError("give schema or schema_path, not both")
    if path:
        if not os.path.isfile(path):
            raise SarkValidationError("schema_path %s is not a file" % path)
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    if isinstance(schema, dict):
        return json.dumps(schema)
    return schema or None


def parse(sources):
    """Parse each source with Cedar's own parser. Returns (policies [{source, id, effect}], errors [{source, error}])."""
    require_cedarpy()
    policies, errors = [], []
    for name, text in sources:
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(text))
        except ValueError as exc:
            errors.append({"source": name, "stage": "syntax", "error": str(exc)})
            continue
        static = parsed.get("staticPolicies") or {}
        for pid in sorted(static, key=lambda k: (len(k), k)):
            policy = static[pid]
            policies.append({"source": name, "id": (policy.get("annotations") or {}).get("id") or pid,
                             "effect": policy.get("effect")})
        for pid in sorted(parsed.get("templates") or {}):
            policies.append({"source": name, "id": pid, "effect": parsed["templates"][pid].get("effect"), "template": True})
    return policies, errors


def validate(sources, schema):
    """Validate the parsed policies against a schema: [{source, stage, policy_id, error}] (empty when they conform)."""
    require_cedarpy()
    errors = []
    for name, text in sources:
        result = cedarpy.validate_policies(text, schema)
        for err in result.errors:
            message = err.error
            stage = "schema" if message.startswith("Schema parse error") else "validation"
            errors.append({"source": name, "stage": stage, "policy_id": err.policy_id or None, "error": message})
    return errors


def entity_uid(value, field):
    """'Type::"id"' from {type, id} (the policy-service request shape)."""
    if not isinstance(value, dict) or not value.get("type") or not value.get("id"):
        raise SarkValidationError("%s must be {type, id}, got %r" % (field, value))
    return '%s::"%s"' % (value["type"], str(value["id"]).replace("\\", "\\\\").replace('"', '\\"'))


def decide_locally(policies_text, test, entities=None):
    """Evaluate one decision request {principal, action, resource, context} with cedarpy: (decision, diagnostics)."""
    require_cedarpy()
    action = test["action"]
    request = {"principal": entity_uid(test["principal"], "principal"),
               "action": action if "::" in action else 'Action::"%s"' % action.replace('"', '\\"'),
               "resource": entity_uid(test["resource"], "resource"), "context": test.get("context") or {}}
    result = cedarpy.is_authorized(request, policies_text, entities or [])
    decision = {cedarpy.Decision.Allow: "Allow", cedarpy.Decision.Deny: "Deny"}.get(result.decision)
    diagnostics = {"reasons": list(result.diagnostics.reasons), "errors": list(result.diagnostics.errors)}
    return decision, diagnostics
