"""sark_siem_hec_info against a stand-in answering with Splunk HEC's documented reply codes (harness.webhook_receiver)."""

import json

import pytest

from harness.servers import free_port
from harness.webhook_receiver import WebhookReceiver

GOOD = "hec-good-token-0123456789abcdef"
WRONG = "hec-wrong-token-fedcba9876543210"
DISABLED = "hec-disabled-token-00112233445566"


@pytest.fixture(scope="module")
def hec():
    with WebhookReceiver() as receiver:
        receiver.hec_tokens(valid=[GOOD], disabled=[DISABLED])
        yield receiver


def args(hec, token):
    return {"hec_url": hec.url, "hec_token": token}


def test_a_valid_token_is_ok_and_nothing_is_indexed(run_module, hec):
    hec.reset()
    hec.hec_tokens(valid=[GOOD], disabled=[DISABLED])
    result = run_module("sark_siem_hec_info", args(hec, GOOD))
    assert not result.failed and not result.changed, result
    assert result["verdict"] == "ok" and result["status"] == 400 and result["code"] == 5
    assert result["health"] == {"status": 200, "code": 17, "text": "HEC is healthy"}
    posts = [r for r in hec.received("/services/collector/event") if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["body"] == ""
    assert posts[0]["headers"]["Authorization"] == "Splunk " + GOOD
    # the same answer again (a read)
    again = run_module("sark_siem_hec_info", args(hec, GOOD))
    assert again["verdict"] == "ok" and not again.changed


@pytest.mark.parametrize("token, code, status", [(WRONG, 4, 403), (DISABLED, 1, 403)])
def test_a_refused_token_is_an_auth_failure_and_never_shown(run_module, hec, token, code, status):
    hec.hec_tokens(valid=[GOOD], disabled=[DISABLED])
    result = run_module("sark_siem_hec_info", args(hec, token))
    assert not result.failed
    assert result["verdict"] == "auth_failed" and result["code"] == code and result["status"] == status
    assert "replace the token" in result["reason"]
    assert token not in json.dumps(result)
    failed = run_module("sark_siem_hec_info", dict(args(hec, token), fail_on_auth_failure=True))
    assert failed.failed and failed["verdict"] == "auth_failed"
    assert token not in json.dumps(failed)


def test_check_mode_sends_the_same_read(run_module, hec):
    hec.hec_tokens(valid=[GOOD])
    result = run_module("sark_siem_hec_info", dict(args(hec, WRONG), health=False), check_mode=True)
    assert result["verdict"] == "auth_failed" and result["health"] is None and not result.changed


def test_unreachable_and_bad_input(run_module):
    closed = "http://127.0.0.1:%d" % free_port()
    result = run_module("sark_siem_hec_info", {"hec_url": closed, "hec_token": GOOD})
    assert not result.failed and result["verdict"] == "unreachable" and "does not answer" in result["reason"]
    assert GOOD not in json.dumps(result)
    missing = run_module("sark_siem_hec_info", {"hec_url": closed})
    assert missing.failed and "hec_token is required" in missing["msg"]
    bad = run_module("sark_siem_hec_info", {"hec_url": "ftp://splunk", "hec_token": GOOD})
    assert bad.failed and "not an http(s) URL" in bad["msg"] and GOOD not in json.dumps(bad)
