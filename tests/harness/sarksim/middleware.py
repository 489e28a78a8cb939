"""ASGI middleware: request log, fault injection, rate limiting (runbook) and the sark_v2 CSRF check.

Order for a request outside /_sim/: fault plan -> rate limit (runbook, /api/ paths) -> CSRF (sark_v2,
mutating methods) -> routing (redirects, 404/405) -> authentication (route dependency).
SARK 2.x does not wire its rate-limit middleware (nor its session service): in sark_v2 nothing here writes
rate_limit:* or session keys.
"""

import asyncio
import datetime
import json
import time

import redis
from starlette.requests import cookie_parser

from .auth import CSRF_COOKIE, AuthError, bearer_token, csrf_pair_valid
from .state import utcnow

MUTATING = frozenset(("POST", "PUT", "PATCH", "DELETE"))
REDIRECTS = frozenset((301, 302, 303, 307, 308))
WINDOW_SECONDS = 3600


class RateVerdict:
    """Outcome of one rate-limit check: headers to add and, when refused, the 429 body."""

    def __init__(self, allowed, headers, body=None):
        self.allowed = allowed
        self.headers = headers
        self.body = body


def _headers(scope):
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}


def _encode_headers(pairs):
    return [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in pairs]


async def send_json(send, status, body, headers=()):
    payload = json.dumps(body).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": raw + _encode_headers(headers)})
    await send({"type": "http.response.body", "body": payload})


def client_ip(scope, headers):
    forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
    if forwarded:
        return forwarded
    if headers.get("x-real-ip"):
        return headers["x-real-ip"]
    client = scope.get("client")
    return client[0] if client else "unknown"


def _held(send, delay):
    """A send that holds the answer until `delay` seconds after the app started answering (work done, answer late)."""
    state = {"slept": False}

    async def held(message):
        if not state["slept"]:
            state["slept"] = True
            await asyncio.sleep(delay)
        await send(message)
    return held


class SimMiddleware:
    """Wraps the FastAPI app; everything under /_sim/ passes straight through."""

    def __init__(self, app, state):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_sim/") or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = _headers(scope)
        entry = {"time": utcnow().isoformat(), "method": scope["method"], "path": scope["path"],
                 "query": scope.get("query_string", b"").decode("latin-1"),
                 "had_auth": "authorization" in headers, "had_csrf": "x-csrf-token" in headers,
                 "csrf_ok": None, "fault": None, "rate_limited": False, "status": None,
                 "redirected": False, "location": None}
        extra_headers = []
        logged = []
        counted = self.state.metrics.counted(scope["path"])

        def log():
            # logged complete the moment the answer starts, before the client can see it: a client that reads
            # /_sim/requests after its last answer finds that request, and requests appear in the order they were
            # answered (logging after the body was sent let the next keep-alive request overtake it)
            if not logged:
                logged.append(True)
                entry["redirected"] = entry["status"] in REDIRECTS
                elapsed = time.monotonic() - started
                entry["duration_ms"] = round(elapsed * 1000.0, 3)
                self.state.requests.add(entry)
                if counted:
                    self.state.metrics.observe(scope, entry["status"], elapsed)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                if entry["status"] in REDIRECTS:
                    for key, value in message.get("headers", []):
                        if key.lower() == b"location":
                            entry["location"] = value.decode("latin-1")
                if extra_headers:
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + _encode_headers(extra_headers)
                log()
            await send(message)

        try:
            await self._handle(scope, receive, send_wrapper, headers, entry, extra_headers)
        finally:
            log()

    async def _handle(self, scope, receive, send, headers, entry, extra_headers):
        method, path = scope["method"], scope["path"]
        config = self.state.config
        fault = self.state.faults.take(method, path)
        if fault and fault.get("after"):
            entry["fault"] = fault["id"]
            send = _held(send, fault["delay_seconds"])
        elif fault:
            entry["fault"] = fault["id"]
            if fault["delay_seconds"] > 0:
                await asyncio.sleep(fault["delay_seconds"])
            if fault["status"]:
                fault_headers = []
                if fault["retry_after"] is not None:
                    fault_headers.append(("Retry-After", fault["retry_after"]))
                body = fault["body"] if fault["body"] is not None else {
                    "detail": "Simulated fault: HTTP %d" % fault["status"]}
                await send_json(send, int(fault["status"]), body, fault_headers)
                return
        if path.startswith("/api/") and config.rate_limit_enabled and config.layout == "runbook":
            verdict = await self._rate_limit(headers)
            if verdict is not None:
                extra_headers.extend(verdict.headers)
                if not verdict.allowed:
                    entry["rate_limited"] = True
                    await send_json(send, 429, verdict.body)
                    return
        if config.layout == "sark_v2" and method in MUTATING:
            cookies = cookie_parser(headers.get("cookie", ""))
            entry["csrf_ok"] = csrf_pair_valid(headers.get("x-csrf-token"), cookies.get(CSRF_COOKIE))
            if not entry["csrf_ok"]:
                await send_json(send, 403, {"detail": "CSRF token missing or invalid"})
                return
        await self.app(scope, receive, send)

    async def _rate_limit(self, headers):
        """Count this request in Redis; None when it is not counted (or Redis fails: SARK fails open)."""
        token = bearer_token(headers.get("authorization"))
        claims = None
        if token:
            try:
                claims = self.state.tokens.decode(token)
            except AuthError:
                claims = None
        try:
            return await self._fixed_hour_window(self.state.async_redis(), claims)
        except (redis.RedisError, OSError):
            return None

    async def _fixed_hour_window(self, client, claims):
        """runbook: STRING ratelimit:user:{user_id}:{YYYY-MM-DD-HH}, INCR + EXPIRE 3600."""
        if not claims:
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        key = "ratelimit:user:%s:%s" % (claims["sub"], now.strftime("%Y-%m-%d-%H"))
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS, nx=True)
        count, _set = await pipe.execute()
        limit = self.state.config.rate_limit_user
        reset = int(now.replace(minute=0, second=0, microsecond=0).timestamp()) + WINDOW_SECONDS
        headers = [("X-RateLimit-Limit", limit), ("X-RateLimit-Remaining", max(0, limit - count)),
                   ("X-RateLimit-Reset", reset)]
        if count > limit:
            return RateVerdict(False, headers, {"detail": "Rate limit exceeded: %d requests per hour" % limit})
        return RateVerdict(True, headers)
