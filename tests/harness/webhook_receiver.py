"""A webhook receiver for the tests: records every notification POSTed to it, and a tiny metrics exporter.

    with WebhookReceiver() as hook:
        hook.url + "/slack/T000/B000/secret"       # any path is accepted
        hook.fail_next(500, count=2)                # the next 2 requests get HTTP 500 (retry tests)
        hook.require_token("s3cret")                # then 401 unless Authorization: Bearer s3cret
        hook.received()                             # [{method, path, headers, json, body, status}]

Answers like the services it stands in for: ``/v2/enqueue`` (PagerDuty Events v2) answers 202
``{status: success, message, dedup_key}`` and 400 for an invalid event; a path starting with ``/slack``
answers 200 ``ok`` (text), anything else 200 ``{ok: true}``. Runs in a thread of the test process.

``/services/collector/...`` answers as Splunk's HTTP Event Collector does (its documented reply codes), with the
token set by ``hec_tokens(valid=[...], disabled=[...])``: no ``Authorization`` 401 ``{text: Token is required,
code: 2}``; not ``Splunk <token>`` 401 ``{Invalid authorization, 3}``; a disabled token 403 ``{Token disabled, 1}``;
an unknown one 403 ``{Invalid token, 4}``; a known token with no body 400 ``{No data, 5}``, a body that is not
JSON 400 ``{Invalid data format, 6}``, else 200 ``{Success, 0}``. ``GET /services/collector/health`` answers
200 ``{HEC is healthy, 17}`` without a token.

``MetricsExporter`` serves ``/metrics`` with ``http_requests_total`` and ``http_request_duration_seconds``
counters growing linearly with time, so Prometheus' rate() and histogram_quantile() give known values:
5xx share 0.0005 (0.05%), 5xx rate 0.5/s (less over a window longer than the series' life:
rate() extrapolates over the whole window), p95 latency 0.19375 s.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")


def pagerduty_check(event):
    """PagerDuty Events v2 validation (the subset PagerDuty enforces): list of errors."""
    errors = []
    if not isinstance(event, dict):
        return ["body must be a JSON object"]
    if not event.get("routing_key") or len(event["routing_key"]) != 32:
        errors.append("routing_key must be 32 characters")
    if event.get("event_action") not in PD_ACTIONS:
        errors.append("event_action must be one of %s" % ", ".join(PD_ACTIONS))
    if event.get("event_action") in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("dedup_key is required for %s" % event.get("event_action"))
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        for key in ("summary", "source", "severity"):
            if not payload.get(key):
                errors.append("payload.%s is required" % key)
        if payload.get("severity") and payload["severity"] not in PD_SEVERITIES:
            errors.append("payload.severity must be one of %s" % ", ".join(PD_SEVERITIES))
    return errors


class _Handler(BaseHTTPRequestHandler):
    receiver = None

    def log_message(self, *args):
        pass

    def _reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/services/collector/health"):
            with self.receiver.lock:
                self.receiver.records.append({"method": "GET", "path": self.path, "headers": dict(self.headers.items()),
                                              "json": None, "body": "", "time": time.time(), "status": 200})
            return self._reply(200, {"text": "HEC is healthy", "code": 17})
        # injected failures and the token check apply to reads too (a stand-in for a failing Prometheus)
        with self.receiver.lock:
            failure = self.receiver.failures.pop(0) if self.receiver.failures else None
            self.receiver.records.append({"method": "GET", "path": self.path, "headers": dict(self.headers.items()),
                                          "json": None, "body": "", "time": time.time(), "status": failure or 200})
        if failure:
            return self._reply(failure, {"status": "error", "error": "injected failure"})
        if self.receiver.token and self.headers.get("Authorization") != "Bearer %s" % self.receiver.token:
            return self._reply(401, {"status": "error", "error": "invalid or expired token"})
        return self._reply(200, {"received": len(self.receiver.records)})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                  "json": parsed, "body": raw.decode("utf-8", "replace"), "time": time.time()}
        status, body, ctype = self.receiver.answer(record)
        record["status"] = status
        with self.receiver.lock:
            self.receiver.records.append(record)
        self._reply(status, body, ctype)

    do_PUT = do_POST


class WebhookReceiver:
    def __init__(self, host="127.0.0.1", port=0):
        self.lock = threading.Lock()
        self.records = []
        self.failures = []
        self.token = None
        self.hec = {"valid": set(), "disabled": set()}
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = None

    @property
    def url(self):
        return "http://%s:%d" % self.httpd.server_address[:2]

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        with self.lock:
            del self.records[:]
            del self.failures[:]
            self.token = None
            self.hec = {"valid": set(), "disabled": set()}

    def fail_next(self, status, count=1):
        with self.lock:
            self.failures.extend([status] * count)

    def require_token(self, token):
        self.token = token

    def hec_tokens(self, valid=(), disabled=()):
        self.hec = {"valid": set(valid), "disabled": set(disabled)}

    def _hec_answer(self, record):
        auth = record["headers"].get("Authorization")
        if not auth:
            return 401, {"text": "Token is required", "code": 2}
        if not auth.startswith("Splunk "):
            return 401, {"text": "Invalid authorization", "code": 3}
        token = auth[len("Splunk "):]
        if token in self.hec["disabled"]:
            return 403, {"text": "Token disabled", "code": 1}
        if token not in self.hec["valid"]:
            return 403, {"text": "Invalid token", "code": 4}
        if not record["body"]:
            return 400, {"text": "No data", "code": 5}
        if record["json"] is None:
            return 400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 0}
        return 200, {"text": "Success", "code": 0}

    def received(self, path_prefix=""):
        with self.lock:
            return [r for r in self.records if r["path"].startswith(path_prefix)]

    def answer(self, record):
        with self.lock:
            if self.failures:
                return self.failures.pop(0), {"message": "injected failure"}, "application/json"
        if record["path"].startswith("/services/collector"):
            status, body = self._hec_answer(record)
            return status, body, "application/json"
        if self.token and record["headers"].get("Authorization") != "Bearer %s" % self.token:
            return 401, {"message": "invalid or expired token"}, "application/json"
        if record["path"].startswith("/v2/enqueue"):
            errors = pagerduty_check(record["json"])
            if errors:
                return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, "application/json"
            dedup = record["json"].get("dedup_key") or uuid.uuid4().hex
            return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}, "application/json"
        if record["path"].startswith("/slack"):
            if not isinstance(record["json"], dict) or not record["json"].get("text"):
                return 400, "no_text", "text/plain"
            return 200, "ok", "text/plain"
        return 200, {"ok": True}, "application/json"


class _MetricsHandler(BaseHTTPRequestHandler):
    started = 0.0

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        elapsed = max(time.time() - self.started, 0.001)
        ok, errors = 999.5 * elapsed, 0.5 * elapsed
        total = ok + errors
        # cumulative buckets: 90% under 0.1 s, 98% under 0.25 s, all under 1 s -> p95 = 0.19375 s
        buckets = [("0.1", 0.90), ("0.25", 0.98), ("1", 1.0), ("+Inf", 1.0)]
        lines = ["# TYPE http_requests_total counter",
                 'http_requests_total{status="200"} %f' % ok,
                 'http_requests_total{status="500"} %f' % errors,
                 "# TYPE http_request_duration_seconds histogram"]
        lines += ['http_request_duration_seconds_bucket{le="%s"} %f' % (le, share * total) for le, share in buckets]
        lines += ["http_request_duration_seconds_sum %f" % (0.05 * total), "http_request_duration_seconds_count %f" % total]
        data = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class MetricsExporter(WebhookReceiver):
    """Serves /metrics (see the module docstring) in a thread."""

    def __init__(self, host="127.0.0.1", port=0):  # pylint: disable=super-init-not-called
        handler = type("Handler", (_MetricsHandler,), {"started": time.time() - 1.0})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = None

    @property
    def target(self):
        return "%s:%d" % self.httpd.server_address[:2]
