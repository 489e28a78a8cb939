"""Bad input and injected faults for the HTTP modules (sark_opa_policy, sark_alert_info, sark_alert_silence, sark_notify,
sark_health) against real servers: the OPA server on a real Rego engine, Prometheus, Alertmanager, the SARK simulator and a
webhook receiver (issue #9 proof suite). Each case asserts the message and that nothing on the server changed.
"""

import json
import urllib.request

import pytest

from harness.opa_server import OpaServer
from harness.sarksim import SarkSimulator
from harness.servers import AlertmanagerServer, PrometheusServer, free_port
from harness.webhook_receiver import WebhookReceiver

OPA_TOKEN = "reliability-opa-token-1234"
MATCHERS = [{"name": "alertname", "value": "ReliabilityTest"}, {"name": "service", "value": "sark"}]
INVALID_REGO = "package sark.broken\n\nallow {\n  input.user ==\n}\n"
VALID_REGO = "package sark.fine\n\nimport rego.v1\n\ndefault allow := false\n"


def get_json(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % token} if token else {})
    with urllib.request.urlopen(request, timeout=5) as resp:  # nosec - loopback only
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def opa():
    with OpaServer(token=OPA_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def alerting():
    with AlertmanagerServer() as am, PrometheusServer(alertmanager_port=am.port) as prom:
        yield {"am": am, "prom": prom}


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(scope="module")
def sim(pg_server, redis_server, redis_db):
    with SarkSimulator("runbook", pg=pg_server, redis=redis_server, redis_db=redis_db, sark_db="httprel_sark",
                       audit_db="httprel_audit") as server:
        yield server


def opa_policies(opa):
    return sorted(p["id"] for p in get_json(opa.url + "/v1/policies", OPA_TOKEN)["result"])


def active_silences(am):
    return [s for s in get_json(am.url + "/api/v2/silences") if s["status"]["state"] == "active"]


# --- bad input ---------------------------------------------------------------------------------------------------

def test_invalid_rego_is_refused_and_opa_is_unchanged(run_module, opa):
    before = opa_policies(opa)
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "opa_token": OPA_TOKEN, "policy_id": "broken",
                                            "policy": INVALID_REGO})
    assert result.failed and "nothing was uploaded" in result["msg"] and result["changed"] is False
    assert opa_policies(opa) == before


@pytest.mark.parametrize("policy_id", ["x'; DROP POLICY --", "../etc/passwd", "a b"])
def test_policy_ids_with_quotes_semicolons_or_traversal_are_refused(run_module, opa, policy_id):
    before = opa_policies(opa)
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "opa_token": OPA_TOKEN, "policy_id": policy_id,
                                            "policy": VALID_REGO})
    assert result.failed and "policy_id" in result["msg"], result["msg"]
    assert opa_policies(opa) == before


@pytest.mark.parametrize("token, message", [
    (OPA_TOKEN[:8] + "\r\n" + OPA_TOKEN[8:], "contains a line break or another control character"),
    (OPA_TOKEN + "\u2019", "contains characters outside ASCII"),
])
def test_malformed_tokens_are_refused_without_showing_them(run_module, opa, token, message):
    before = opa_policies(opa)
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "opa_token": token, "policy_id": "fine", "policy": VALID_REGO})
    assert result.failed and message in result["msg"] and "opa_token" in result["msg"]
    assert OPA_TOKEN[8:] not in result["_stdout"] and OPA_TOKEN[:8] + "\\r" not in result["_stdout"]
    assert opa_policies(opa) == before


def test_token_with_a_trailing_newline_is_used_stripped_with_a_warning(run_module, opa):
    """Before the fix: `Unexpected ValueError: Invalid header value b'Bearer ...\\n'` showing the whole token."""
    result = run_module("sark_opa_policy_info", {"opa_url": opa.url, "opa_token": OPA_TOKEN + "\n"})
    assert not result.failed, result["msg"]
    assert any("opa_token has leading or trailing whitespace" in str(w) for w in result.get("warnings") or [])
    assert OPA_TOKEN not in result["_stdout"]


def test_expired_token_names_the_option_and_changes_nothing(run_module, opa):
    before = opa_policies(opa)
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "opa_token": "expired-token-xyz", "policy_id": "fine",
                                            "policy": VALID_REGO, "opa_retries": 0})
    assert result.failed and result["status"] == 401 and "opa_token (or OPA_TOKEN)" in result["msg"]
    assert "expired-token-xyz" not in result["_stdout"] and opa_policies(opa) == before


def test_bad_promql_is_a_clear_failure(run_module, alerting):
    result = run_module("sark_alert_info", {"prometheus_url": alerting["prom"].url, "query": "rate(http_requests_total[5m",
                                            "threshold": 1, "sources": ["prometheus"]})
    assert result.failed and result["changed"] is False
    assert "400" in result["msg"] or "parse error" in result["msg"], result["msg"]


def test_unknown_preset_is_refused(run_module, alerting):
    result = run_module("sark_alert_info", {"prometheus_url": alerting["prom"].url, "presets": ["p99_bogus"]})
    assert result.failed and "p99_bogus" in result["msg"] and "p95_latency_5m" in result["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"duration": "-1h"}, "duration"),
    ({"duration": "999999999h"}, "is longer than 90 days"),  # before the fix: Unexpected OverflowError (a sark.ops bug)
    ({"matchers": []}, "matchers"),
])
def test_silence_bad_input_creates_nothing(run_module, alerting, extra, message):
    am = alerting["am"]
    before = active_silences(am)
    args = dict({"alertmanager_url": am.url, "matchers": MATCHERS, "comment": "bad input"}, **extra)
    result = run_module("sark_alert_silence", args)
    assert result.failed and message in result["msg"], result["msg"]
    assert active_silences(am) == before


def test_alert_info_max_results_below_one_is_refused(run_module, alerting):
    result = run_module("sark_alert_info", {"alertmanager_url": alerting["am"].url, "max_results": -5})
    assert result.failed and "max_results must be 1 or more" in result["msg"]
    old = run_module("sark_alert_info", {"alertmanager_url": alerting["am"].url, "max_alerts": 5})
    assert old.failed and "max_alerts" in old["msg"]


def test_notify_malformed_routing_key_sends_nothing(run_module, receiver):
    receiver.reset()
    result = run_module("sark_notify", {"target": "pagerduty", "pagerduty_url": receiver.url + "/v2/enqueue",
                                        "routing_key": "short'; --", "summary": "x"})
    assert result.failed and "32-character integration key" in result["msg"] and "short'; --" not in result["_stdout"]
    assert receiver.received() == []


def test_notify_routing_key_with_surrounding_spaces_is_sent_stripped(run_module, receiver):
    receiver.reset()
    key = "Rk0123456789abcdefABCDEF01234567"
    result = run_module("sark_notify", {"target": "pagerduty", "pagerduty_url": receiver.url + "/v2/enqueue",
                                        "routing_key": " %s\n" % key, "summary": "x"})
    assert not result.failed, result["msg"]
    assert receiver.received()[0]["json"]["routing_key"] == key and key not in result["_stdout"]
    assert any("routing_key has leading or trailing whitespace" in str(w) for w in result.get("warnings") or [])


def test_notify_bad_webhook_url_is_refused_without_showing_it(run_module, receiver):
    receiver.reset()
    result = run_module("sark_notify", {"target": "slack", "webhook_url": "hooks.slack.example/services/SecretPart123",
                                        "text": "x"})
    assert result.failed and "webhook_url" in result["msg"] and "SecretPart123" not in result["_stdout"]
    assert receiver.received() == []


def test_unreachable_hosts_fail_cleanly_and_name_the_option(run_module):
    dead = "http://127.0.0.1:%d" % free_port()
    health = run_module("sark_health", {"api_url": dead, "api_token": "t0ken-value-1", "api_retries": 0})
    notify = run_module("sark_notify", {"target": "webhook", "webhook_url": dead + "/hook/SecretHookPath99", "text": "x",
                                        "webhook_retries": 0})
    silence = run_module("sark_alert_silence", {"alertmanager_url": dead, "matchers": MATCHERS, "comment": "x",
                                                "alertmanager_retries": 0})
    assert health["verdict"] == "unavailable" and health["is_available"] is False and "api_url" in json.dumps(health["probes"])
    assert "t0ken-value-1" not in health["_stdout"]
    assert notify.failed and "webhook_url" in notify["msg"] and "SecretHookPath99" not in notify["_stdout"]
    assert notify["changed"] is False
    assert silence.failed and "Cannot reach the Alertmanager" in silence["msg"] and "alertmanager_url" in silence["msg"]
    assert silence["changed"] is False


# --- fault: Alertmanager down ------------------------------------------------------------------------------------

def test_alertmanager_down_silence_and_info_fail_cleanly_and_a_rerun_converges(run_module, alerting):
    am = alerting["am"]
    args = {"alertmanager_url": am.url, "matchers": MATCHERS, "comment": "maintenance window", "duration": "1h",
            "alertmanager_retries": 1, "alertmanager_backoff": 0.05, "alertmanager_timeout": 3}
    am.stop()
    try:
        silence = run_module("sark_alert_silence", args)
        info = run_module("sark_alert_info", {"alertmanager_url": am.url, "sources": ["alertmanager"], "alertmanager_retries": 0})
    finally:
        am.start()
    assert silence.failed and "Cannot reach the Alertmanager" in silence["msg"] and silence["error_kind"] == "unreachable"
    assert silence["changed"] is False and "sark.ops bug" not in silence["msg"]
    assert info.failed and "Cannot reach the Alertmanager" in info["msg"] and info["changed"] is False
    assert [s for s in active_silences(am) if s["comment"] == "maintenance window"] == []

    created = run_module("sark_alert_silence", args)
    assert not created.failed and created.changed, created.get("msg")
    again = run_module("sark_alert_silence", args)
    assert not again.failed and again.changed is False  # converged: one silence, not two
    assert len([s for s in active_silences(am) if s["comment"] == "maintenance window"]) == 1
    healthy = run_module("sark_alert_info", {"alertmanager_url": am.url, "sources": ["alertmanager"]})
    assert not healthy.failed
    removed = run_module("sark_alert_silence", dict(args, state="absent"))
    assert not removed.failed and removed.changed
