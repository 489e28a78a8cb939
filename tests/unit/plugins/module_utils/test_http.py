"""_http.py: HttpClient with a family's option names (OPA, Prometheus, webhooks) against a loopback server, the classification
of HTTP failures, and secrets (tokens, secret URLs, passwords in URLs, headers) never shown in any form."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _http
from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient
from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec, scrub_text, secret_forms
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


def serve(handler):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module")
def server():
    yield from serve(Handler)


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


# secrets: a careless server echoes what it was sent
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-Secret-42"


class EchoHandler(BaseHTTPRequestHandler):
    """Answers 401 echoing the Authorization header and the path back (a careless server does that)."""

    seen = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.seen.append(self.headers.get("Authorization"))
        data = json.dumps({"detail": "bad token %s for %s" % (self.headers.get("Authorization"), self.path)}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET


@pytest.fixture(scope="module")
def echo_server():
    yield from serve(EchoHandler)


@pytest.fixture()
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(_http, "warn", seen.append)
    monkeypatch.setattr(_http, "_WARNED", set())
    return seen


def leaked(text, secret):
    return [form for form in secret_forms(secret) if form in text]


@pytest.mark.parametrize("shape", [TOKEN + "\n", "  " + TOKEN + "  ", TOKEN + "\r\n", "\t" + TOKEN])
def test_token_with_surrounding_whitespace_is_stripped_with_a_warning_and_never_shown(echo_server, warnings, shape):
    """Before the fix: urllib raised ValueError("Invalid header value b'Bearer eyJ...\\n'") with the token in it."""
    client = SarkApiClient({"api_url": echo_server, "api_token": shape, "api_retries": 0})
    with pytest.raises(SarkAPIError) as err:
        client.request("GET", "/api/v1/servers")
    assert EchoHandler.seen[-1] == "Bearer " + TOKEN  # sent stripped
    assert not leaked(err.value.msg + (err.value.body or ""), TOKEN)
    assert "********" in err.value.msg
    assert any("api_token has leading or trailing whitespace" in w for w in warnings)
    assert not any(TOKEN in w for w in warnings)


@pytest.mark.parametrize("shape", [TOKEN[:10] + "\r\n" + TOKEN[10:], TOKEN[:10] + "\nX-Injected: 1", TOKEN + "\u2019"])
def test_token_with_inner_line_break_or_non_ascii_is_refused_without_the_value(shape):
    with pytest.raises(SarkValidationError) as err:
        HttpClient.from_params({"opa_url": "http://127.0.0.1:9", "opa_token": shape}, "opa", "OPA", "OPA server")
    assert "opa_token" in err.value.msg and "not shown" in err.value.msg
    assert not leaked(err.value.msg, TOKEN[:10]) and TOKEN not in err.value.msg


def test_secret_url_is_never_shown_unreachable_or_refused(warnings):
    secret_path = "/services/T000/B000/XXXXXXXXSecretPath"
    client = HttpClient("http://127.0.0.1:9" + secret_path + "\n", service="webhook receiver", option_prefix="webhook",
                        url_is_secret=True, retries=0, timeout=2)
    with pytest.raises(SarkConnectionError) as err:
        client.request("POST", "", json_body={"text": "x"})
    assert "XXXXXXXXSecretPath" not in err.value.msg and quote("XXXXXXXXSecretPath") not in err.value.msg
    with pytest.raises(SarkValidationError) as err:
        HttpClient("http://127.0.0.1:9/hook?token=Secret\r\nX", option_prefix="webhook", url_is_secret=True)
    assert "Secret" not in err.value.msg


def test_password_in_url_is_hidden(echo_server):
    client = HttpClient(echo_server.replace("http://", "http://admin:UrlPassw0rd@") + "/x", service="Prometheus",
                        option_prefix="prometheus", retries=0)
    with pytest.raises(SarkAPIError) as err:
        client.request("GET", "/api/v1/query")
    assert "UrlPassw0rd" not in err.value.msg and "admin:" not in client.display_origin


def test_header_values_are_validated_and_scrubbed(echo_server, warnings):
    client = HttpClient(echo_server, service="webhook receiver", option_prefix="webhook", retries=0)
    with pytest.raises(SarkValidationError) as err:
        client.request("POST", "/x", json_body={}, headers={"X-Api-Key": "HeaderSecret\r\nX-Evil: 1"})
    assert "HeaderSecret" not in err.value.msg and "X-Api-Key" in err.value.msg
    with pytest.raises(SarkAPIError) as err:
        client.request("POST", "/HeaderSecret2", json_body={}, headers={"X-Api-Key": " HeaderSecret2 "})
    assert "HeaderSecret2" not in err.value.msg + (err.value.body or "")


def test_scrub_covers_encoded_forms():
    text = "a %s b %s c %s d %r" % (base64.b64encode(TOKEN.encode()).decode(), quote(TOKEN + "\n", safe=""), TOKEN,
                                    (TOKEN + "\n").encode())
    cleaned = scrub_text(text, secret_forms(TOKEN + "\n"))
    assert not leaked(cleaned, TOKEN) and cleaned.count("********") == 4
