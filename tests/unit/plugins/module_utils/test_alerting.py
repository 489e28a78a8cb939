"""Pure helpers of module_utils/_alerting, _opa and _notify."""

import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils._alerting import (
    PRESETS, judge, matcher_filter, normalize_matchers, parse_duration, parse_time, silence_key,
)
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._notify import pagerduty_event, slack_payload
from ansible_collections.sark.ops.plugins.module_utils._opa import data_path, sark_decision, validate_rego


@pytest.mark.parametrize("text,seconds", [("1h", 3600), ("90m", 5400), ("1h30m", 5400), ("2d", 172800), ("45", 45), ("1w", 604800)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "0", "h"])
def test_parse_duration_refuses(text):
    with pytest.raises(SarkValidationError):
        parse_duration(text)


def test_parse_time_handles_alertmanager_formats():
    utc = datetime.timezone.utc
    assert parse_time("2025-11-22T10:00:00Z") == datetime.datetime(2025, 11, 22, 10, tzinfo=utc)
    assert parse_time("2025-11-22T10:00:00.123456789Z").microsecond == 123456
    assert parse_time("2025-11-22T12:00:00+02:00") == datetime.datetime(2025, 11, 22, 10, tzinfo=utc)
    with pytest.raises(SarkValidationError, match="RFC 3339"):
        parse_time("tomorrow", "ends_at")


def test_matchers_normalised_and_keyed_order_free():
    one = [{"name": "alertname", "value": "HighErrorRate"}, {"name": "service", "value": "sark", "is_regex": False}]
    two = [{"name": "service", "value": "sark", "isRegex": False, "isEqual": True}, {"name": "alertname", "value": "HighErrorRate"}]
    assert silence_key(one, "c") == silence_key(two, "c") != silence_key(one, "other comment")
    assert normalize_matchers(one)[0] == {"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True}
    with pytest.raises(SarkValidationError, match=r"matchers\[0\] has no name"):
        normalize_matchers([{"value": "x"}])
    with pytest.raises(SarkValidationError, match="not a valid regular expression"):
        normalize_matchers([{"name": "a", "value": "(", "is_regex": True}])
    assert matcher_filter(normalize_matchers([{"name": "a", "value": 'x"y', "is_regex": True, "is_equal": False}])) == ['a!~"x\\"y"']


def test_judge_and_presets():
    assert judge([{"value": 0.1}, {"value": 0.3}], 0.2) == ("breach", 0.3)
    assert judge([{"value": 0.1}], 0.2) == ("ok", 0.1)
    assert judge([], 0.2) == ("no_data", None)
    assert judge([{"value": 5.0}], None) == ("unjudged", 5.0)
    assert PRESETS["p95_latency_5m"]["threshold"] == 0.2 and PRESETS["error_rate_24h"]["threshold"] == 0.001


def test_sark_decision_shapes():
    assert sark_decision(True, {"allow": True, "audit_reason": "ok"})["allow"] is True
    assert sark_decision(True, {"allow": "true"})["allow"] is False
    assert sark_decision(True, True)["allow"] is False and sark_decision(True, True)["shape"] == "boolean"
    assert sark_decision(False, None)["shape"] == "undefined"
    assert data_path("data.mcp.allow") == data_path("/v1/data/mcp/allow") == data_path("mcp/allow") == "mcp/allow"


def test_validate_rego_reports_location():
    pytest.importorskip("regorus")
    assert validate_rego("ok", "package mcp\n\ndefault allow := false\n") == ["data.mcp"]
    with pytest.raises(SarkValidationError) as err:
        validate_rego("bad", "package mcp\nallow { true }\n")
    assert "bad:2:7" in err.value.msg and err.value.details["rego_errors"][0]["location"]["row"] == 2
    assert validate_rego("old", "package mcp\nallow { true }\n", rego_version="v0") == ["data.mcp"]


def test_pagerduty_and_slack_payloads():
    key = "k" * 32
    event = pagerduty_event(key, "trigger", "d1", "summary", "src", "critical", component="api")
    assert event == {"routing_key": key, "event_action": "trigger", "dedup_key": "d1",
                     "payload": {"summary": "summary", "source": "src", "severity": "critical", "component": "api"}}
    assert pagerduty_event(key, "resolve", "d1") == {"routing_key": key, "event_action": "resolve", "dedup_key": "d1"}
    with pytest.raises(SarkValidationError, match="needs dedup_key"):
        pagerduty_event(key, "acknowledge")
    with pytest.raises(SarkValidationError, match="32-character"):
        pagerduty_event("short", "trigger", summary="x")
    assert slack_payload("hi") == {"text": "hi"}
    with pytest.raises(SarkValidationError, match="text is required"):
        slack_payload(" ")
