"""SarkApiClient against a real HTTP server on 127.0.0.1 (in a thread)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkConnectionError, SarkValidationError


class Handler(BaseHTTPRequestHandler):
    counters = {}
    seen = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _handle(self):
        body = self._body()
        self.seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                          "csrf": self.headers.get("X-CSRF-Token"), "cookie": self.headers.get("Cookie")})
        count = self.counters[self.path] = self.counters.get(self.path, 0) + 1
        if self.path in ("/health", "/api/v1/servers"):
            return self._send(307, headers={"Location": self.path + "/"})
        if self.path == "/health/":
            return self._send(200, {"status": "healthy"})
        if self.path == "/api/v1/servers/":
            cookie = self.headers.get("Cookie") or ""
            token = self.headers.get("X-CSRF-Token")
            if not token or cookie != "csrf_token=%s" % token:
                return self._send(403, {"detail": "CSRF token missing or invalid"})
            return self._send(201, {"method": self.command, "received": body})
        if self.path == "/flaky":
            if count <= 2:
                return self._send(503, {"detail": "busy"}, {"Retry-After": "0"})
            return self._send(200, {"ok": True, "count": count})
        if self.path == "/always500":
            return self._send(500, {"detail": "boom"})
        if self.path == "/limited":
            return self._send(429, {"detail": "Rate limit exceeded"}, {"Retry-After": "7"})
        if self.path == "/away":
            return self._send(307, headers={"Location": "http://127.0.0.2:9/steal"})
        if self.path == "/expired":
            return self._send(401, {"detail": "Token has expired"})
        return self._send(404, {"detail": "Not Found"})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def client(url, **params):
    delays = []
    base = {"api_url": url, "api_token": "tok-123", "api_retries": 3, "api_backoff": 0.5, "api_timeout": 5}
    base.update(params)
    return SarkApiClient(base, sleep=delays.append), delays


def test_get_follows_307_and_sends_bearer(server):
    api, dummy = client(server)
    resp = api.request("GET", "/health")
    assert resp.status == 200 and resp.json() == {"status": "healthy"}
    assert resp.redirects[0]["status"] == 307 and resp.url.endswith("/health/")
    assert Handler.seen[-1]["auth"] == "Bearer tok-123"


def test_post_keeps_method_body_and_csrf_through_307(server):
    api, dummy = client(server)
    resp = api.request("POST", "/api/v1/servers", json_body={"name": "s1"}, expect=201)
    assert resp.json() == {"method": "POST", "received": {"name": "s1"}}
    last = Handler.seen[-1]
    assert last["csrf"] and len(last["csrf"]) >= 32 and last["cookie"] == "csrf_token=" + last["csrf"]


def test_get_sends_no_csrf(server):
    api, dummy = client(server)
    api.request("GET", "/health/")
    assert Handler.seen[-1]["csrf"] is None


def test_retries_5xx_with_retry_after_then_succeeds(server):
    api, delays = client(server)
    resp = api.request("GET", "/flaky")
    assert resp.json()["count"] == 3 and resp.attempts == 3
    assert delays == [0.0, 0.0]


def test_retries_exhausted_gives_clear_error_with_backoff(server):
    api, delays = client(server, api_retries=2)
    with pytest.raises(SarkAPIError) as err:
        api.request("GET", "/always500")
    assert err.value.status == 500 and "boom" in err.value.msg and "after 2 retries" in err.value.msg
    assert delays == [0.5, 1.0]


def test_429_honours_retry_after(server):
    api, delays = client(server, api_retries=1)
    with pytest.raises(SarkAPIError, match="rate limited"):
        api.request("GET", "/limited")
    assert delays == [7.0]


def test_expired_token_message(server):
    api, dummy = client(server)
    with pytest.raises(SarkAPIError) as err:
        api.request("GET", "/expired")
    assert err.value.status == 401
    assert "Token has expired" in err.value.msg and "api_token" in err.value.msg


def test_cross_origin_redirect_refused(server):
    api, dummy = client(server)
    with pytest.raises(SarkAPIError, match="another origin"):
        api.request("GET", "/away")


def test_unreachable_and_bad_url():
    api, dummy = client("http://127.0.0.1:9")
    with pytest.raises(SarkConnectionError) as err:
        api.request("GET", "/health")
    assert err.value.kind == "unreachable" and "SARK_API_URL" in err.value.msg
    with pytest.raises(SarkValidationError, match="api_url is required"):
        SarkApiClient({"api_url": None})
    with pytest.raises(SarkValidationError, match="not an http"):
        SarkApiClient({"api_url": "ftp://x"})


def test_keep_alive_path_behaves_the_same(server):
    api, delays = client(server)
    api.keep_alive = True
    resp = api.request("POST", "/api/v1/servers", json_body={"name": "ka"}, expect=201)
    assert resp.json() == {"method": "POST", "received": {"name": "ka"}} and resp.redirects[0]["status"] == 307
    last = Handler.seen[-1]
    assert last["cookie"] == "csrf_token=" + last["csrf"] and last["auth"] == "Bearer tok-123"
    Handler.counters.pop("/flaky", None)
    assert api.request("GET", "/flaky").attempts == 3 and delays == [0.0, 0.0]
    with pytest.raises(SarkAPIError, match="Token has expired"):
        api.request("GET", "/expired")
    down, dummy = client("http://127.0.0.1:9")
    down.keep_alive = True
    with pytest.raises(SarkConnectionError) as err:
        down.request("GET", "/health")
    assert err.value.kind == "unreachable"
