"""Secrets at the connection layer: malformed tokens, secret URLs and header values never reach a message (issue #9, 8)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _http
from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient
from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, scrub_text, secret_forms
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkConnectionError, SarkValidationError

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
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture()
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(_http, "warn", seen.append)
    monkeypatch.setattr(_http, "_WARNED", set())
    return seen


def leaked(text, secret):
    return [form for form in secret_forms(secret) if form in text]


@pytest.mark.parametrize("shape", [TOKEN + "\n", "  " + TOKEN + "  ", TOKEN + "\r\n", "\t" + TOKEN])
def test_token_with_surrounding_whitespace_is_stripped_with_a_warning_and_never_shown(server, warnings, shape):
    """Before the fix: urllib raised ValueError("Invalid header value b'Bearer eyJ...\\n'") with the token in it."""
    client = SarkApiClient({"api_url": server, "api_token": shape, "api_retries": 0})
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


def test_password_in_url_is_hidden(server):
    client = HttpClient(server.replace("http://", "http://admin:UrlPassw0rd@") + "/x", service="Prometheus",
                        option_prefix="prometheus", retries=0)
    with pytest.raises(SarkAPIError) as err:
        client.request("GET", "/api/v1/query")
    assert "UrlPassw0rd" not in err.value.msg and "admin:" not in client.display_origin


def test_header_values_are_validated_and_scrubbed(server, warnings):
    client = HttpClient(server, service="webhook receiver", option_prefix="webhook", retries=0)
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
