"""The two RSP services (auth-service, policy-service) in one process, each on its own port, in one layout of
shared/spec/platforms-contract.md. Standard library HTTP server; policy decisions by a real Cedar engine (cedarpy).

runbook (seed 003):
  auth-service    GET /health  (the runbook's health signal; it documents no body: {"status": "healthy"})
                  GET /metrics (http_requests_total{service="auth-service",method,path,status})
  policy-service  GET /admin/policies -> {"policies": [...]} (seed 003 counts `.policies | length`)
                  GET /admin/policy-stats; no health route and no decision route are documented (404)
                  policies: every *.cedar file of --policies-dir (the ConfigMap mounted at /etc/policies), read at start
rsp_code (lsendel/rust-security):
  auth-service    GET /health -> static {status: healthy, service: rust-security-auth-service, version, features}
                  GET /api/v1/status -> static; GET /metrics -> 403 unless METRICS_PUBLIC=true
                  (auth_http_requests_total{method,endpoint,status_code})
  policy-service  GET /health -> static {status: ok, service: policy-service-mvp, version, timestamp}
                  POST /v1/authorize {request_id, principal:{type,id}, action, resource:{type,id}, context}
                      -> {decision: Allow|Deny}; errors {error} with 400 (bad input, limits) or 500 (evaluation)
                  GET /metrics -> 403 unless METRICS_PUBLIC=true; no admin routes, no reload
                  policies: one Cedar file (--policy-file) read at start-up

Test controls under /_sim/ on both ports (not part of either service): POST /_sim/fault {"auth_health_status": 503,
"authorize_error": true, "error_paths": {"/api/v1/status": 500}}, GET /_sim/stats.
"""

import datetime
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cedarpy

LAYOUTS = ("runbook", "rsp_code")
VERSION = "1.0.0"
LIMITS = {"request_id": 128, "id": 512, "action": 256, "json_depth": 10, "body_bytes": 1024 * 1024}
FEATURES = {"rate_limiting": True, "mfa": True, "scim": False, "oidc": True, "redis_sessions": False}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def json_depth(value, depth=1):
    if isinstance(value, dict):
        return max([depth] + [json_depth(v, depth + 1) for v in value.values()])
    if isinstance(value, list):
        return max([depth] + [json_depth(v, depth + 1) for v in value])
    return depth


def cedar_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def load_policies(layout, policy_file=None, policies_dir=None):
    """(policy text, [(file, policy id, effect)]) - a syntax error stops the service, as a Cedar parse error at start-up would."""
    if layout == "rsp_code":
        files = [policy_file]
    else:
        files = sorted(os.path.join(policies_dir, f) for f in os.listdir(policies_dir) if f.endswith(".cedar"))
    texts, index = [], []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        parsed = json.loads(cedarpy.policies_to_json_str(text))  # raises ValueError on a syntax error
        offset = len(index)
        for number, (pid, policy) in enumerate(sorted(parsed.get("staticPolicies", {}).items(),
                                                      key=lambda kv: int(kv[0][6:]) if kv[0][6:].isdigit() else 0)):
            index.append({"id": (policy.get("annotations") or {}).get("id") or "policy%d" % (offset + number),
                          "effect": policy["effect"], "file": os.path.basename(path)})
        texts.append(text)
    return "\n".join(texts), index


class State:
    def __init__(self, layout, policies, index, metrics_public):
        self.layout = layout
        self.policies = policies
        self.index = index
        self.metrics_public = metrics_public
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.lock = threading.Lock()
        self.fault = {}
        self.requests = {}     # (service, method, path, status) -> count
        self.decisions = {"Allow": 0, "Deny": 0}

    def count(self, service, method, path, status):
        with self.lock:
            key = (service, method, path, status)
            self.requests[key] = self.requests.get(key, 0) + 1

    def metrics_text(self, service):
        lines = []
        if self.layout == "runbook":
            name = "http_requests_total"
            lines.append("# TYPE %s counter" % name)
            for (svc, method, path, status), value in sorted(self.requests.items()):
                if svc == service:
                    lines.append('%s{service="%s",method="%s",path="%s",status="%d"} %d' % (name, svc, method, path, status, value))
        else:
            name = "auth_http_requests_total" if service == "auth-service" else "policy_http_requests_total"
            lines.append("# TYPE %s counter" % name)
            for (svc, method, path, status), value in sorted(self.requests.items()):
                if svc == service:
                    lines.append('%s{method="%s",endpoint="%s",status_code="%d"} %d' % (name, method, path, status, value))
        return "\n".join(lines) + "\n"


def make_handler(state, service):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = service

        def log_message(self, fmt, *args):  # quiet: the test log is the request counter
            pass

        def _send(self, status, body, content_type="application/json"):
            data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            path = self.path.split("?", 1)[0]
            if not path.startswith("/_sim/"):
                state.count(service, self.command, path, status)

        def _read_body(self, limit=None):
            length = int(self.headers.get("Content-Length") or 0)
            if limit is not None and length > limit:
                # drain what the client sends so it reads our answer, then refuse
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                raise ApiError(400, "request body exceeds %d bytes" % limit)
            return self.rfile.read(length) if length else b""

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_PUT(self):
            self._route("PUT")

        def do_DELETE(self):
            self._route("DELETE")

        def _route(self, method):
            path = self.path.split("?", 1)[0]
            try:
                if path.startswith("/_sim/"):
                    return self._sim(method, path)
                error_status = (state.fault.get("error_paths") or {}).get(path)
                if error_status:
                    return self._send(int(error_status), {"error": "injected failure"})
                handler = ROUTES[state.layout][service].get((method, path))
                if handler is None:
                    return self._send(404, {"error": "Not Found"})
                status, body = handler(self)
                return self._send(status, body, "text/plain; version=0.0.4" if isinstance(body, str) else "application/json")
            except ApiError as exc:
                return self._send(exc.status, {"error": exc.message})

        def _sim(self, method, path):
            if path == "/_sim/fault" and method == "POST":
                fault = json.loads(self._read_body() or b"{}")
                with state.lock:
                    state.fault = fault
                return self._send(200, {"fault": fault})
            if path == "/_sim/stats" and method == "GET":
                return self._send(200, {"layout": state.layout, "service": service, "decisions": state.decisions,
                                        "policies": len(state.index),
                                        "requests": [{"service": s, "method": m, "path": p, "status": st, "count": c}
                                                     for (s, m, p, st), c in sorted(state.requests.items())]})
            return self._send(404, {"error": "Not Found"})

        # --- auth-service ---------------------------------------------------------------------------------
        def auth_health_runbook(self):
            status = int(state.fault.get("auth_health_status") or 200)
            return status, {"status": "healthy" if status == 200 else "unhealthy"}

        def auth_health_code(self):
            # static: the code's handler checks nothing, so no fault makes it fail while the process runs
            return 200, {"status": "healthy", "service": "rust-security-auth-service", "version": VERSION, "features": FEATURES}

        def auth_status_code(self):
            return 200, {"service": "rust-security-auth-service", "version": VERSION, "status": "running"}

        def metrics(self):
            if state.layout == "rsp_code" and not state.metrics_public:
                return 403, {"error": "metrics endpoint is restricted (set METRICS_PUBLIC=true)"}
            return 200, state.metrics_text(service)

        # --- policy-service ---------------------------------------------------------------------------------
        def admin_policies(self):
            return 200, {"policies": state.index}

        def admin_policy_stats(self):
            effects = {}
            for entry in state.index:
                effects[entry["effect"]] = effects.get(entry["effect"], 0) + 1
            return 200, {"policy_count": len(state.index), "files": len({e["file"] for e in state.index}),
                         "by_effect": effects, "evaluations": dict(state.decisions)}

        def policy_health_code(self):
            return 200, {"status": "ok", "service": "policy-service-mvp", "version": VERSION,
                         "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()}

        def authorize(self):
            raw = self._read_body(LIMITS["body_bytes"])
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                raise ApiError(400, "invalid JSON: %s" % exc) from None
            if not isinstance(body, dict):
                raise ApiError(400, "request body must be a JSON object")
            if json_depth(body) > LIMITS["json_depth"]:
                raise ApiError(400, "JSON nesting exceeds %d levels" % LIMITS["json_depth"])
            request_id = body.get("request_id")
            if not isinstance(request_id, str) or not request_id:
                raise ApiError(400, "request_id is required")
            if len(request_id) > LIMITS["request_id"]:
                raise ApiError(400, "request_id exceeds %d characters" % LIMITS["request_id"])
            entities = {}
            for field in ("principal", "resource"):
                value = body.get(field)
                if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not isinstance(value.get("id"), str) \
                        or not value["type"] or not value["id"]:
                    raise ApiError(400, "%s must be {type, id}" % field)
                if len(value["id"]) > LIMITS["id"]:
                    raise ApiError(400, "%s.id exceeds %d characters" % (field, LIMITS["id"]))
                entities[field] = "%s::%s" % (value["type"], cedar_string(value["id"]))
            action = body.get("action")
            if not isinstance(action, str) or not action:
                raise ApiError(400, "action is required")
            if len(action) > LIMITS["action"]:
                raise ApiError(400, "action exceeds %d characters" % LIMITS["action"])
            context = body.get("context") if body.get("context") is not None else {}
            if not isinstance(context, dict):
                raise ApiError(400, "context must be an object")
            if state.fault.get("authorize_error"):
                raise ApiError(500, "policy evaluation failed")
            request = {"principal": entities["principal"], "action": "Action::%s" % cedar_string(action),
                       "resource": entities["resource"], "context": context}
            result = cedarpy.is_authorized(request, state.policies, [])
            decision = {cedarpy.Decision.Allow: "Allow", cedarpy.Decision.Deny: "Deny"}.get(result.decision)
            if decision is None:
                raise ApiError(500, "authorization failed: %s" % "; ".join(result.diagnostics.errors)[:500])
            with state.lock:
                state.decisions[decision] += 1
            return 200, {"decision": decision}

    return Handler


ROUTES = {
    "runbook": {
        "auth-service": {("GET", "/health"): lambda h: h.auth_health_runbook(), ("GET", "/metrics"): lambda h: h.metrics()},
        "policy-service": {("GET", "/admin/policies"): lambda h: h.admin_policies(),
                           ("GET", "/admin/policy-stats"): lambda h: h.admin_policy_stats(),
                           ("GET", "/metrics"): lambda h: h.metrics()},
    },
    "rsp_code": {
        "auth-service": {("GET", "/health"): lambda h: h.auth_health_code(), ("GET", "/api/v1/status"): lambda h: h.auth_status_code(),
                         ("GET", "/metrics"): lambda h: h.metrics()},
        "policy-service": {("GET", "/health"): lambda h: h.policy_health_code(), ("POST", "/v1/authorize"): lambda h: h.authorize(),
                           ("GET", "/metrics"): lambda h: h.metrics()},
    },
}


def serve(layout, host, auth_port, policy_port, policy_file=None, policies_dir=None, metrics_public=False):
    if layout not in LAYOUTS:
        raise SystemExit("layout must be one of %s" % ", ".join(LAYOUTS))
    policies, index = load_policies(layout, policy_file, policies_dir)
    state = State(layout, policies, index, metrics_public)
    servers = [ThreadingHTTPServer((host, auth_port), make_handler(state, "auth-service")),
               ThreadingHTTPServer((host, policy_port), make_handler(state, "policy-service"))]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print("rspsim %s: auth-service on %s:%d, policy-service on %s:%d, %d policies" % (
        layout, host, auth_port, host, policy_port, len(index)), flush=True)
    for thread in threads:
        thread.join()
