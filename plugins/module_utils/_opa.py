# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OPA policies for sark.ops (private): the OPA connection, Rego validation and SARK's reading of a decision.

Rego is validated locally with regorus (PyPI ``gordon-to-regorus``, a Rust Rego engine) before anything
is uploaded, so a broken policy never reaches OPA; OPA itself compiles it again on upload.
"""

import hashlib
import json
import re
import traceback

from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkDependencyError,
    SarkPreconditionError,
    SarkValidationError,
    match_filter,
)

try:
    import regorus
    HAS_REGORUS = True
    REGORUS_IMPORT_ERROR = None
except ImportError:
    regorus = None
    HAS_REGORUS = False
    REGORUS_IMPORT_ERROR = traceback.format_exc()

SARK_DECISION_PATH = "mcp/allow"
LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<row>\d+):(?P<col>\d+)")
POLICY_ID = re.compile(r"^[A-Za-z0-9_.\-/]+$")
MAX_POLICY_BYTES = 1024 * 1024


def opa_argument_spec():
    return http_argument_spec("opa", "OPA")


def opa_client(params, **kwargs):
    return HttpClient.from_params(params, "opa", "OPA", "OPA server", **kwargs)


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None


def check_policy_id(policy_id):
    if not policy_id or not POLICY_ID.match(policy_id) or ".." in policy_id:
        raise SarkValidationError("policy_id %r is not a valid OPA policy id: use letters, digits, '_', '-', '.' and '/'"
                                  % (policy_id,))
    return policy_id


def data_path(path):
    """'mcp/allow', '/v1/data/mcp/allow', 'data.mcp.allow' and 'mcp.allow' all mean the same document."""
    clean = (path or "").strip()
    if clean.startswith("/v1/data"):
        clean = clean[len("/v1/data"):]
    if clean.startswith("data.") or clean == "data":
        clean = clean[len("data"):].lstrip(".")
    if "/" not in clean:
        clean = clean.replace(".", "/")
    clean = clean.strip("/")
    if not re.match(r"^[A-Za-z0-9_\-/]*$", clean):
        raise SarkValidationError("decision_path %r is not a data path such as mcp/allow" % (path,))
    return clean


def engine_message(exc):
    """regorus' error text without the Rust stack backtrace."""
    return str(exc).split("Stack backtrace:", maxsplit=1)[0].strip()


def parse_engine_error(policy_id, exc):
    message = engine_message(exc)
    match = LOCATION.search(message)
    errors = [line.strip()[len("error:"):].strip() for line in message.splitlines() if line.strip().startswith("error:")]
    short = errors[-1] if errors else message.splitlines()[-1].strip() if message else "invalid policy"
    location = {"file": match.group("file"), "row": int(match.group("row")), "col": int(match.group("col"))} if match else \
        {"file": policy_id, "row": None, "col": None}
    return {"message": short, "location": location, "engine_output": message}


def validate_rego(policy_id, text, rego_version="v1"):
    """Compile the policy with regorus; raise SarkValidationError naming file:line:col when it does not compile.

    Returns the packages the policy defines (for example ['data.mcp']).
    """
    if not HAS_REGORUS:
        raise SarkDependencyError("gordon-to-regorus", REGORUS_IMPORT_ERROR,
                                  reason="to validate Rego before upload (or set validate: false)")
    engine = regorus.Engine()
    if rego_version == "v0":
        engine.set_rego_v0(True)
    try:
        packages = engine.add_policy(policy_id, text)
    except Exception as exc:  # pylint: disable=broad-except
        error = parse_engine_error(policy_id, exc)
        loc = error["location"]
        where = "%s:%s:%s" % (loc["file"], loc["row"], loc["col"]) if loc["row"] else loc["file"]
        raise SarkValidationError("Rego policy %s does not compile (%s): %s - nothing was uploaded. Fix the policy text "
                                  "(Rego %s syntax: rules need 'if', sets 'contains')."
                                  % (policy_id, where, error["message"], rego_version),
                                  rego_errors=[error]) from exc
    return [packages] if isinstance(packages, str) else list(packages or [])


def opa_compile_errors(error):
    """file:row:col messages from an OPA 400 body {code, message, errors: [{code, message, location}]}."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return []
    found = []
    for item in (body.get("errors") or []) if isinstance(body, dict) else []:
        loc = item.get("location") or {}
        found.append("%s:%s:%s: %s" % (loc.get("file"), loc.get("row"), loc.get("col"), item.get("message")))
    return found


def sark_decision(defined, result):
    """How SARK reads a decision from POST /v1/data/mcp/allow: only an object with allow == true allows.

    A bare boolean, an undefined result or anything else is a deny (SARK fails closed).
    """
    if not defined:
        return {"shape": "undefined", "allow": False, "audit_reason": None,
                "explanation": "the decision is undefined (no policy defines it or no rule matched without a default): SARK denies"}
    if isinstance(result, dict):
        allow = result.get("allow") is True
        return {"shape": "object", "allow": allow, "audit_reason": result.get("audit_reason"),
                "explanation": "allow is %s" % json.dumps(result.get("allow")) if "allow" in result
                else "the object has no allow field: SARK denies"}
    if isinstance(result, bool):
        return {"shape": "boolean", "allow": False, "audit_reason": None,
                "explanation": "a bare boolean (%s) is not a decision SARK can read: SARK denies (the policy must return "
                               "{allow, audit_reason})" % json.dumps(result)}
    return {"shape": type(result).__name__, "allow": False, "audit_reason": None,
            "explanation": "the result is not an object: SARK denies"}


class OpaPolicies:
    """The policy API of one OPA server."""

    def __init__(self, client):
        self.client = client

    def list(self):
        body = self.client.get_json("/v1/policies") or {}
        return body.get("result") or []

    def get(self, policy_id):
        """The stored policy {id, raw, ...} or None when OPA has no policy with that id."""
        response = self.client.request("GET", "/v1/policies/" + policy_id, expect=(200, 404))
        if response.status == 404:
            return None
        return (response.json() or {}).get("result")

    def put(self, policy_id, text):
        try:
            return self.client.request("PUT", "/v1/policies/" + policy_id, text_body=text)
        except SarkAPIError as exc:
            if exc.status == 400:
                errors = opa_compile_errors(exc)
                if errors:
                    raise SarkAPIError("OPA refused policy %s: %s. Fix the policy text." % (policy_id, "; ".join(errors)),
                                       status=400, opa_errors=errors) from exc
            raise

    def delete(self, policy_id):
        response = self.client.request("DELETE", "/v1/policies/" + policy_id, expect=(200, 204, 404))
        return response.status != 404

    def evaluate(self, path, opa_input):
        """(defined, result, response) of POST /v1/data/<path> {input}."""
        response = self.client.request("POST", "/v1/data/" + path if path else "/v1/data", json_body={"input": opa_input})
        body = response.json() or {}
        if not isinstance(body, dict):
            raise SarkAPIError("OPA answered POST /v1/data/%s with %r, not an object" % (path, body), status=response.status)
        return "result" in body, body.get("result"), response


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


def list_policies(opa, patterns=(), return_text=False):
    """The policies OPA holds, selected by a filter list: {policies, msg}."""
    stored = opa.list()
    by_id = {item.get("id"): item for item in stored}
    selected = match_filter(sorted(by_id), patterns)
    policies = []
    for policy_id in selected:
        raw = by_id[policy_id].get("raw") or ""
        entry = {"id": policy_id, "sha256": sha256(raw), "size": len(raw.encode("utf-8"))}
        if return_text:
            entry["raw"] = raw
        policies.append(entry)
    return {"policies": policies, "msg": "%d of %d policies" % (len(policies), len(stored))}


def get_policy(opa, policy_id):
    """One policy: {policy_id, exists, sha256, policy}."""
    current = opa.get(policy_id)
    if current is None:
        return {"policy_id": policy_id, "exists": False, "msg": "OPA has no policy %s" % policy_id}
    raw = current.get("raw") or ""
    return {"policy_id": policy_id, "exists": True, "sha256": sha256(raw),
            "policy": {"id": policy_id, "raw": raw, "sha256": sha256(raw)}}


def evaluate(opa, decision_path, opa_input, expect=None):
    """The decision at decision_path for opa_input, and SARK's reading of it; fails when expect (allow) is not met."""
    path = data_path(decision_path)
    defined, value, response = opa.evaluate(path, opa_input)
    result = {"decision_path": path, "defined": defined, "result": value, "elapsed_ms": response.elapsed_ms}
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
