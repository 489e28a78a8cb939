# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Rust Security Platform (seed 003): its two HTTP services, health judged honestly, decision requests, and the
layout probe (private). Every route and name comes from the platform-layout registry in _layout.py.

Connections: ``rsp_auth_*`` (auth-service) and ``rsp_policy_*`` (policy-service), with ``RSP_AUTH_*`` /
``RSP_POLICY_*`` environment fallbacks.
"""

import json

from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import PlatformLayout, platform_layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkError, SarkValidationError

PLATFORM = "rsp"
SERVICES = ("auth", "policy")
SERVICE_NAMES = {"auth": "auth-service", "policy": "policy-service"}
# statuses a probe reads as an answer, not a failure to retry
ANSWERS = tuple(range(200, 600))


def rsp_argument_spec():
    spec = http_argument_spec("rsp_auth", "RSP_AUTH", retries=1)
    spec.update(http_argument_spec("rsp_policy", "RSP_POLICY", retries=1))
    return spec


def rsp_layout_argument_spec():
    return platform_layout_argument_spec(PLATFORM)


def layout_of(params):
    return PlatformLayout.from_params(PLATFORM, params)


def client(params, service):
    prefix = "rsp_%s" % service
    return HttpClient.from_params(params, prefix, prefix.upper(), "RSP %s" % SERVICE_NAMES[service])


def probe(http, method, path, json_body=None):
    """One request whose status is the answer: {status, body (parsed JSON or text), ok, error}."""
    try:
        resp = http.request(method, path, json_body=json_body, expect=ANSWERS, retry_on=())
    except SarkError as exc:
        return {"path": path, "method": method, "status": None, "ok": False, "error": exc.msg, "body": None}
    try:
        body = json.loads(resp.body) if resp.body else None
    except ValueError:
        body = resp.body[:2000]
    return {"path": path, "method": method, "status": resp.status, "ok": 200 <= resp.status < 300, "error": None, "body": body,
            "elapsed_ms": resp.elapsed_ms}


# --- health ------------------------------------------------------------------------------------------------------

def judge_auth_health(layout, answer):
    """auth-service's /health: up or down, and what the answer proves (never more than it does)."""
    facts = layout.facts
    entry = {"service": "auth-service", "route": answer["path"], "http_status": answer["status"], "error": answer["error"],
             "checks_dependencies": False}
    if not answer["ok"]:
        entry.update(status="down", note="GET %s did not answer 2xx" % answer["path"])
        return entry
    if facts["auth_health_shape"] == "static":
        body = answer["body"] if isinstance(answer["body"], dict) else {}
        expected = facts["auth_service_name"]
        if body.get("status") != "healthy" or body.get("service") != expected or not isinstance(body.get("features"), dict):
            note = ("GET /health answered, but not the code's static {status: healthy, service: %s, version, features} body: "
                    "is this layout right?" % expected)
            entry.update(status="unexpected", note=note, body=body)
            return entry
        entry.update(status="up", version=body.get("version"), features=body.get("features"),
                     note="static answer: the process is up; /health checks no dependency")
        return entry
    entry.update(status="up", note="the runbook's health signal answered %s; it documents no body, so nothing about "
                                   "dependencies follows from it" % answer["status"])
    return entry


def judge_policy_health(layout, answer):
    facts = layout.facts
    entry = {"service": "policy-service", "route": answer["path"], "http_status": answer["status"], "error": answer["error"],
             "checks_dependencies": False}
    if not answer["ok"]:
        entry.update(status="down", note="GET %s did not answer 2xx" % answer["path"])
        return entry
    body = answer["body"] if isinstance(answer["body"], dict) else {}
    if layout.has("policy_health_route"):
        if body.get("status") != "ok" or body.get("service") != facts["policy_service_name"]:
            entry.update(status="unexpected", body=body,
                         note="GET /health answered, but not the code's static {status: ok, service: %s} body"
                              % facts["policy_service_name"])
            return entry
        entry.update(status="up", version=body.get("version"),
                     note="static answer: the process is up; /health checks no dependency (not even the policies)")
        return entry
    policies = body.get("policies")
    if not isinstance(policies, list):
        entry.update(status="unexpected", note="GET %s answered without a policies list" % answer["path"])
        return entry
    entry.update(status="up" if policies else "degraded", policy_count=len(policies),
                 note=("%d policies loaded (the admin API answers: policies are in memory)" % len(policies)) if policies
                 else "the admin API answers but holds no policy: every request is denied")
    return entry


def health_routes(layout):
    """(auth route, policy route) the health check reads in this layout."""
    policy = layout.fact("policy_health_route") if layout.has("policy_health_route") else layout.fact("policies_route")
    return layout.fact("auth_health_route"), policy


# --- decisions ---------------------------------------------------------------------------------------------------

def check_entity(value, field, limit):
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not isinstance(value.get("id"), str) \
            or not value["type"] or not value["id"]:
        raise SarkValidationError("%s must be {type, id} with text values, got %r" % (field, value))
    if len(value["id"]) > limit:
        raise SarkValidationError("%s.id is %d characters; policy-service refuses more than %d" % (field, len(value["id"]), limit))
    return {"type": value["type"], "id": value["id"]}


def json_depth(value, depth=1):
    if isinstance(value, dict):
        return max([depth] + [json_depth(v, depth + 1) for v in value.values()])
    if isinstance(value, list):
        return max([depth] + [json_depth(v, depth + 1) for v in value])
    return depth


def decision_request(layout, test, index):
    """The POST /v1/authorize body of one test, checked against the service's documented limits first."""
    limits = layout.facts["authorize_limits"]
    if not isinstance(test, dict):
        raise SarkValidationError("tests[%d] must be a dict with principal, action, resource (and expect)" % index)
    name = test.get("name") or "test %d" % (index + 1)
    request_id = str(test.get("request_id") or "sark-ops-%d" % (index + 1))
    if len(request_id) > limits["request_id"]:
        raise SarkValidationError("%s: request_id is %d characters; policy-service refuses more than %d"
                                  % (name, len(request_id), limits["request_id"]))
    action = test.get("action")
    if not isinstance(action, str) or not action:
        raise SarkValidationError("%s: action is required" % name)
    if len(action) > limits["action"]:
        raise SarkValidationError("%s: action is %d characters; policy-service refuses more than %d" % (name, len(action), limits["action"]))
    context = test.get("context")
    context = {} if context is None else context
    if not isinstance(context, dict):
        raise SarkValidationError("%s: context must be a dict" % name)
    body = {"request_id": request_id, "principal": check_entity(test.get("principal"), "%s: principal" % name, limits["id"]),
            "action": action, "resource": check_entity(test.get("resource"), "%s: resource" % name, limits["id"]),
            "context": context}
    if json_depth(body) > limits["json_depth"]:
        raise SarkValidationError("%s: the request nests deeper than %d levels; policy-service refuses it" % (name, limits["json_depth"]))
    if len(json.dumps(body).encode("utf-8")) > limits["body_bytes"]:
        raise SarkValidationError("%s: the request is larger than %d bytes" % (name, limits["body_bytes"]))
    expect = test.get("expect")
    if expect is not None and expect not in ("Allow", "Deny"):
        raise SarkValidationError("%s: expect must be Allow or Deny, got %r" % (name, expect))
    return name, body, expect


def authorize(http, layout, body):
    """POST /v1/authorize: (decision, error). A 400/500 {error} is an answer (the error), not an exception."""
    resp = http.request("POST", layout.fact("authorize_route"), json_body=body, expect=ANSWERS, retry_on=(502, 503, 504))
    try:
        data = json.loads(resp.body) if resp.body else {}
    except ValueError:
        data = {}
    if resp.status == 200 and isinstance(data, dict) and data.get("decision") in ("Allow", "Deny"):
        return data["decision"], None, resp.status
    if resp.status == 404:
        raise SarkAPIError("policy-service answered 404 to POST %s: no decision route here (is the layout rsp_code?)"
                           % layout.fact("authorize_route"), status=404)
    error = data.get("error") if isinstance(data, dict) else None
    return None, error or ("HTTP %s: %s" % (resp.status, resp.body[:200])), resp.status


# --- layout probe -------------------------------------------------------------------------------------------------

def _signal(source, signal, points_to, evidence):
    return {"source": source, "signal": signal, "points_to": points_to, "evidence": evidence}


def probe_auth(http):
    """Signals from auth-service: the /health body, /api/v1/status, and what /metrics answers."""
    code = PlatformLayout(PLATFORM, "rsp_code").facts
    signals = []
    health = probe(http, "GET", "/health")
    body = health["body"] if isinstance(health["body"], dict) else {}
    if health["ok"]:
        static = body.get("service") == code["auth_service_name"] and isinstance(body.get("features"), dict)
        signals.append(_signal("auth", "GET /health body", "rsp_code" if static else "runbook",
                               {"status": health["status"], "service": body.get("service"), "has_features": "features" in body}))
    status = probe(http, "GET", code["auth_status_route"])
    if status["status"] is not None:
        signals.append(_signal("auth", "GET %s" % code["auth_status_route"], "rsp_code" if status["ok"] else
                               ("runbook" if status["status"] == 404 else None), {"status": status["status"]}))
    metrics = probe(http, "GET", code["metrics_route"])
    if metrics["status"] == 403:
        signals.append(_signal("auth", "GET /metrics restricted", "rsp_code", {"status": 403}))
    elif metrics["ok"] and isinstance(metrics["body"], str):
        text = metrics["body"]
        names = {name: PlatformLayout(PLATFORM, name).facts["request_counter"] for name in ("runbook", "rsp_code")}
        for name, counter in names.items():
            if any(line.startswith(counter + "{") or line.startswith(counter + " ") for line in text.splitlines()):
                signals.append(_signal("auth", "metric %s" % counter, name, {"status": metrics["status"]}))
    return signals, {"health": health["status"], "status": status["status"], "metrics": metrics["status"],
                     "errors": [a["error"] for a in (health, status, metrics) if a["error"]]}


def probe_policy(http):
    """Signals from policy-service: the admin API (runbook) or /health + POST /v1/authorize (code).

    The decision route is probed with an empty object, which the code refuses with 400 {error} before evaluating
    anything: no decision is made."""
    runbook = PlatformLayout(PLATFORM, "runbook").facts
    code = PlatformLayout(PLATFORM, "rsp_code").facts
    signals = []
    admin = probe(http, "GET", runbook["policies_route"])
    if admin["status"] is not None:
        has_list = admin["ok"] and isinstance(admin["body"], dict) and isinstance(admin["body"].get("policies"), list)
        signals.append(_signal("policy", "GET %s" % runbook["policies_route"], "runbook" if has_list else
                               ("rsp_code" if admin["status"] == 404 else None), {"status": admin["status"]}))
    health = probe(http, "GET", code["policy_health_route"])
    if health["status"] is not None:
        body = health["body"] if isinstance(health["body"], dict) else {}
        static = health["ok"] and body.get("service") == code["policy_service_name"]
        signals.append(_signal("policy", "GET /health", "rsp_code" if static else ("runbook" if health["status"] == 404 else None),
                               {"status": health["status"], "service": body.get("service")}))
    decide = probe(http, "POST", code["authorize_route"], json_body={})
    if decide["status"] is not None:
        refused = decide["status"] == 400 and isinstance(decide["body"], dict) and "error" in decide["body"]
        signals.append(_signal("policy", "POST %s" % code["authorize_route"], "rsp_code" if refused else
                               ("runbook" if decide["status"] in (404, 405) else None), {"status": decide["status"]}))
    return signals, {"admin": admin["status"], "health": health["status"], "authorize": decide["status"],
                     "errors": [a["error"] for a in (admin, health, decide) if a["error"]]}


def decide_layout(signals):
    votes = {"runbook": 0, "rsp_code": 0}
    for signal in signals:
        if signal["points_to"] in votes:
            votes[signal["points_to"]] += 1
    if not any(votes.values()):
        return "unknown", votes
    if votes["runbook"] and votes["rsp_code"]:
        return "mixed", votes
    return max(votes, key=votes.get), votes


# what each procedure of seed 003 does in the code's layout (verdict, what to use instead)
PROCEDURES = (
    ("health check (GET /health)", "different", "the code's /health is static and checks no dependency: add a decision test "
                                                "(sark.ops.rsp_health_info decision_test, sark.ops.rsp_policy_decision_info)"),
    ("policy count (GET :8080/admin/policies)", "no-op", "no admin routes: validate the Cedar file with sark.ops.rsp_cedar_validate"),
    ("policy stats (GET :8080/admin/policy-stats)", "no-op", "no admin routes"),
    ("cedar validate in the pod", "different", "no cedar CLI in the distroless images: sark.ops.rsp_cedar_validate off-cluster"),
    ("policy reload (replace ConfigMap policy-service-policies)", "no-op",
     "policies are one Cedar file read at start-up: build a new image and restart policy-service"),
    ("Redis FLUSHDB to clear sessions/caches", "no-op", "the running auth-service keeps sessions, tokens and rate limits in memory"),
    ("canary (VirtualService auth-service)", "different", "the VirtualService is auth-service-routing; no canary Service ships"),
    ("isolate (NetworkPolicy default-deny)", "different", "the NetworkPolicy is default-deny-all"),
    ("JWT rotation (Secret auth-service-jwt-new, env JWT_SECRET)", "different",
     "tokens are signed with an RSA key (JWT_RSA_PRIVATE_KEY / RSA_PRIVATE_KEY); secrets are in auth-secrets"),
    ("Redis restore (copy dump.rdb + DEBUG RESTART)", "different",
     "Redis runs with --appendonly yes (reloads the AOF, not dump.rdb) and Redis 7 disables DEBUG by default"),
)


def procedure_verdicts(layout):
    if layout == "runbook":
        return [{"procedure": p, "verdict": "effective", "instead": None} for p, _v, _i in PROCEDURES]
    if layout == "rsp_code":
        return [{"procedure": p, "verdict": v, "instead": i} for p, v, i in PROCEDURES]
    return [{"procedure": p, "verdict": "unknown", "instead": i} for p, _v, i in PROCEDURES]
