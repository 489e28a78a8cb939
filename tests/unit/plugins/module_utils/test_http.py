"""HttpClient with a family's option names (OPA, Prometheus, webhooks) against a loopback server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkConnectionError, SarkValidationError


class Handler(BaseHTTPRequestHandler):
    seen = []

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "csrf": self.headers.get("X-CSRF-Token"),
                          "type": self.headers.get("Content-Type"), "body": body.decode()})
        status, payload = (401, {"message": "token expired"}) if self.path == "/secure" else (200, {"ok": True})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = _handle


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def test_argument_spec_names_and_fallbacks():
    spec = http_argument_spec("opa", "OPA")
    assert spec["opa_url"]["fallback"][1] == ["OPA_URL"] and spec["opa_token"]["no_log"] is True
    assert "webhook_token" not in http_argument_spec("webhook", "W", token=False)
    assert http_argument_spec("webhook", "W", url_no_log=True)["webhook_url"]["no_log"] is True


def test_text_body_token_and_no_csrf(server):
    client = HttpClient.from_params({"opa_url": server, "opa_token": "t1"}, "opa", "OPA", "OPA server")
    client.request("PUT", "/v1/policies/x", text_body="package x\n")
    last = Handler.seen[-1]
    assert last["auth"] == "Bearer t1" and last["type"] == "text/plain" and last["body"] == "package x\n" and last["csrf"] is None


def test_messages_name_the_family_options(server):
    client = HttpClient.from_params({"opa_url": server, "opa_token": "old"}, "opa", "OPA", "OPA server")
    with pytest.raises(SarkAPIError) as err:
        client.request("GET", "/secure")
    assert "OPA server GET" in err.value.msg and "opa_token (or OPA_TOKEN)" in err.value.msg and "token expired" in err.value.msg
    with pytest.raises(SarkValidationError, match=r"prometheus_url is required: set it \(or PROMETHEUS_URL\)"):
        HttpClient.from_params({}, "prometheus", "PROMETHEUS", "Prometheus")
    with pytest.raises(SarkConnectionError, match="Cannot reach the Alertmanager .*alertmanager_url"):
        HttpClient.from_params({"alertmanager_url": "http://127.0.0.1:9", "alertmanager_retries": 0}, "alertmanager",
                               "ALERTMANAGER", "Alertmanager").request("GET", "/")


def test_secret_url_is_not_shown(server):
    client = HttpClient(server + "/slack/T0/B0/secretpart", url_is_secret=True, retries=0, option_prefix="webhook")
    client.request("POST", "", json_body={"text": "x"})
    assert Handler.seen[-1]["path"] == "/slack/T0/B0/secretpart"
    assert "secretpart" not in client.display_url(client.base_url) and client.request_log[-1]["url"].endswith("/...")
    with pytest.raises(SarkValidationError) as err:
        HttpClient("ftp://host/secretpart", url_is_secret=True, option_prefix="webhook")
    assert "secretpart" not in err.value.msg
