# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _notify.py: the webhook, Slack and PagerDuty Events v2 bodies and what each refuses before sending."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._notify import (
    MAX_MESSAGE,
    MAX_SUMMARY,
    check_message,
    notify_argument_spec,
    pagerduty_event,
    response_body,
    slack_payload,
    webhook_payload,
)

KEY = "0123456789abcdef0123456789abcdef"


class Answer:
    def __init__(self, body):
        self.body = body


def test_spec_treats_the_webhook_url_and_the_routing_key_as_secrets():
    spec = notify_argument_spec()
    assert spec["webhook_url"]["no_log"] is True and spec["routing_key"]["no_log"] is True
    assert spec["webhook_headers"]["no_log"] is True
    assert spec["webhook_url"]["fallback"][1] == ["SARK_NOTIFY_WEBHOOK_URL"]


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_a_blank_message_is_refused(text):
    with pytest.raises(SarkValidationError, match="text is required for a webhook"):
        check_message(text, "a webhook")


def test_a_message_too_long_is_refused():
    assert check_message("x" * MAX_MESSAGE, "x") == "x" * MAX_MESSAGE
    with pytest.raises(SarkValidationError, match="longer than %d" % MAX_MESSAGE):
        check_message("x" * (MAX_MESSAGE + 1), "x")


def test_webhook_body_is_the_payload_given_or_message_source_time():
    assert webhook_payload(None, {"a": 1}, "src") == {"a": 1}
    body = webhook_payload("Maintenance at 10:00", None, "sark.ops")
    assert body["message"] == "Maintenance at 10:00" and body["source"] == "sark.ops"
    assert body["sent_at"].endswith("Z") and "T" in body["sent_at"]


def test_slack_body_and_its_block_checks():
    assert slack_payload("hi") == {"text": "hi"}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    assert slack_payload("hi", blocks, "#incidents", "sark") == {"text": "hi", "blocks": blocks, "channel": "#incidents",
                                                                 "username": "sark"}
    with pytest.raises(SarkValidationError, match=r"slack_blocks\[1\] needs a type"):
        slack_payload("hi", blocks + [{"text": "no type"}])
    with pytest.raises(SarkValidationError, match="at most 50 blocks"):
        slack_payload("hi", blocks * 51)


def test_pagerduty_trigger_body():
    event = pagerduty_event(KEY, "trigger", summary="SARK down" + "!" * 2000, severity="critical", component="api",
                            event_class="outage", custom_details={"pods": 0})
    assert event["routing_key"] == KEY and event["event_action"] == "trigger" and "dedup_key" not in event
    assert event["payload"]["source"] == "sark.ops" and event["payload"]["severity"] == "critical"
    assert len(event["payload"]["summary"]) == MAX_SUMMARY
    assert event["payload"]["class"] == "outage" and event["payload"]["component"] == "api"
    assert "group" not in event["payload"]


def test_pagerduty_acknowledge_and_resolve_need_the_dedup_key_and_carry_no_payload():
    expected = {"routing_key": KEY, "event_action": "resolve", "dedup_key": "inc-1"}
    assert pagerduty_event(KEY, "resolve", dedup_key="inc-1") == expected
    with pytest.raises(SarkValidationError, match="event_action=acknowledge needs dedup_key"):
        pagerduty_event(KEY, "acknowledge")


def test_pagerduty_routing_key_whitespace_is_removed(monkeypatch):
    warned = []
    monkeypatch.setattr("ansible_collections.sark.ops.plugins.module_utils._notify.warn", warned.append)
    event = pagerduty_event(KEY + "\n", "trigger", summary="s")
    assert event["routing_key"] == KEY and len(warned) == 1 and KEY not in warned[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(routing_key=None, action="trigger", summary="s"), "routing_key is required"),
    (dict(routing_key="short", action="trigger", summary="s"), "32-character integration key"),
    (dict(routing_key=KEY, action="snooze", summary="s"), "event_action must be one of"),
    (dict(routing_key=KEY, action="trigger", summary=" "), "needs a summary"),
    (dict(routing_key=KEY, action="trigger", summary="s", severity="fatal"), "severity must be one of"),
    (dict(routing_key=KEY, action="trigger", summary="s", dedup_key="k" * 256), "dedup_key is longer than 255"),
])
def test_pagerduty_refuses_what_pagerduty_would(kwargs, message):
    with pytest.raises(SarkValidationError, match=message):
        pagerduty_event(**kwargs)


def test_response_body_parses_json_and_trims_text():
    assert response_body(Answer('{"status": "success", "dedup_key": "k"}')) == {"status": "success", "dedup_key": "k"}
    assert response_body(Answer("ok" * 400)) == ("ok" * 400)[:500]
    assert response_body(Answer(None)) == ""
