"""Policy decisions for sark_v2: OPA (fail closed) or a small built-in rule, cached in Redis."""

import hashlib
import json
import time

DECISION_PREFIX = "policy:decision"
OPA_DECISION_PATH = "/v1/data/mcp/allow"

STATIC_V2_POLICIES = [
    {"name": "mcp.allow", "path": OPA_DECISION_PATH, "description": "Tool and server authorization (OPA)",
     "type": "rego"},
    {"name": "mcp.server_registration", "path": "/v1/data/mcp/server_registration",
     "description": "Who may register MCP servers", "type": "rego"},
    {"name": "mcp.sensitivity", "path": "/v1/data/mcp/sensitivity",
     "description": "Sensitivity-level rules for tools", "type": "rego"},
]

STATIC_RUNBOOK_POLICIES = [
    {"id": "server_access", "name": "server_access", "source": "builtin"},
    {"id": "tool_invocation", "name": "tool_invocation", "source": "builtin"},
    {"id": "data_export", "name": "data_export", "source": "builtin"},
]


def context_hash(parameters):
    """First 16 hex digits of sha256 over the canonical (sorted-key) JSON of the parameters."""
    canonical = json.dumps(parameters or {}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def resource_of(tool=None, server_id=None):
    if tool:
        return "tool:%s" % tool
    if server_id:
        return "server:%s" % server_id
    return "global"


def decision_key(user, action, resource, parameters):
    """policy:decision:{user}:{action}:{resource}:{ctx16}; like SARK, ':' and '/' in the resource become '_'."""
    clean = resource.replace(":", "_").replace("/", "_")
    return "%s:%s:%s:%s:%s" % (DECISION_PREFIX, user, action, clean, context_hash(parameters))


def builtin_decision(is_admin, action, parameters):
    """Admins may do anything; everyone else only `*:read` actions."""
    if is_admin:
        return True, "Allowed: admin role", parameters
    if action.endswith(":read"):
        return True, "Allowed: read access", parameters
    return False, "Denied: action %s requires the admin role" % action, None


def _httpx():
    import httpx  # pylint: disable=import-outside-toplevel  # only when an OPA is configured: saves start-up time
    return httpx


def opa_decision(opa_url, opa_input, timeout):
    """(allow, reason, filtered_parameters, cacheable) from OPA, failing closed like SARK 2.x."""
    httpx = _httpx()
    try:
        response = httpx.post(opa_url + OPA_DECISION_PATH, json={"input": opa_input}, timeout=timeout)
        response.raise_for_status()
        body = response.json()
    except httpx.HTTPError as exc:
        return False, "Policy evaluation failed: %s" % exc, None, False
    except ValueError:
        return False, "Internal error during policy evaluation", None, False
    result = body.get("result", {}) if isinstance(body, dict) else None
    if not isinstance(result, dict):
        # a bare boolean (or anything but an object) is not a decision SARK can read: deny
        return False, "Internal error during policy evaluation", None, True
    allow = result.get("allow") is True
    reason = result.get("audit_reason") or "Policy evaluation completed"
    return allow, reason, result.get("filtered_parameters"), True


def opa_healthy(opa_url, timeout):
    """(healthy, latency_ms, error) of GET {opa_url}/health."""
    httpx = _httpx()
    start = time.monotonic()
    try:
        response = httpx.get(opa_url + "/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return False, (time.monotonic() - start) * 1000.0, str(exc) or exc.__class__.__name__
    latency = (time.monotonic() - start) * 1000.0
    if response.status_code != 200:
        return False, latency, "OPA answered HTTP %d" % response.status_code
    return True, latency, None


def opa_policies(opa_url, timeout):
    """Policy ids uploaded to OPA (GET /v1/policies), or None when OPA cannot be asked."""
    httpx = _httpx()
    try:
        response = httpx.get(opa_url + "/v1/policies", timeout=timeout)
        response.raise_for_status()
        result = response.json().get("result", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return [{"id": item.get("id"), "name": item.get("id"), "source": "opa"} for item in result
            if isinstance(item, dict)]
