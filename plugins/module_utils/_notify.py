# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Notifications for sark.ops (private): payload builders for a generic JSON webhook, Slack incoming
webhooks and PagerDuty Events v2, and a record of every delivery.
"""

import json

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.warnings import warn

from ansible_collections.sark.ops.plugins.module_utils._http import http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, isoformat, utcnow

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_MESSAGE = 40000
MAX_SLACK_BLOCKS = 50


def notify_argument_spec():
    spec = http_argument_spec("webhook", "SARK_NOTIFY_WEBHOOK", url_no_log=True)
    spec.update(
        webhook_headers=dict(type="dict", no_log=True, default={}),
        pagerduty_url=dict(type="str", default=PAGERDUTY_EVENTS_URL, fallback=(env_fallback, ["PAGERDUTY_EVENTS_URL"])),
        routing_key=dict(type="str", no_log=True, fallback=(env_fallback, ["PAGERDUTY_ROUTING_KEY"])),
    )
    return spec


def check_message(message, required_for):
    if message is None or not str(message).strip():
        raise SarkValidationError("text is required for %s: say what operators should know" % required_for)
    if len(message) > MAX_MESSAGE:
        raise SarkValidationError("text is longer than %d characters" % MAX_MESSAGE)
    return message


def webhook_payload(message, payload, source):
    """The generic JSON body: the payload given, or {message, source, sent_at}."""
    if payload:
        return dict(payload)
    return {"message": check_message(message, "a webhook notification"), "source": source, "sent_at": isoformat(utcnow())}


def slack_payload(message, blocks=None, channel=None, username=None):
    """A Slack incoming-webhook body {text, blocks?}; text is the fallback shown in notifications."""
    body = {"text": check_message(message, "a Slack notification")}
    if blocks:
        if len(blocks) > MAX_SLACK_BLOCKS:
            raise SarkValidationError("Slack accepts at most %d blocks per message" % MAX_SLACK_BLOCKS)
        for index, block in enumerate(blocks):
            if not isinstance(block, dict) or not block.get("type"):
                raise SarkValidationError("slack_blocks[%d] needs a type, e.g. {type: section, text: {type: mrkdwn, text: ...}}"
                                          % index)
        body["blocks"] = blocks
    if channel:
        body["channel"] = channel
    if username:
        body["username"] = username
    return body


def pagerduty_event(routing_key, action, dedup_key=None, summary=None, source=None, severity="error", component=None,
                    group=None, event_class=None, custom_details=None):
    """A PagerDuty Events v2 body; validated as PagerDuty would, so a bad event fails before it is sent."""
    if not routing_key:
        raise SarkValidationError("routing_key is required for PagerDuty (the integration key of the service; or "
                                  "PAGERDUTY_ROUTING_KEY)")
    if routing_key.strip() != routing_key:
        warn("routing_key has leading or trailing whitespace (a trailing newline or spaces): it was removed before sending. "
             "Fix the stored key.")
        routing_key = routing_key.strip()
    if len(routing_key) != 32:
        raise SarkValidationError("routing_key must be the 32-character integration key of a PagerDuty Events v2 integration")
    if action not in PD_ACTIONS:
        raise SarkValidationError("event_action must be one of %s" % ", ".join(PD_ACTIONS))
    if dedup_key is not None and len(dedup_key) > MAX_DEDUP_KEY:
        raise SarkValidationError("dedup_key is longer than %d characters" % MAX_DEDUP_KEY)
    event = {"routing_key": routing_key, "event_action": action}
    if dedup_key:
        event["dedup_key"] = dedup_key
    if action != "trigger":
        if not dedup_key:
            raise SarkValidationError("event_action=%s needs dedup_key: the key of the incident to %s (the one the "
                                      "trigger used or PagerDuty returned)" % (action, action))
        return event
    if not summary or not str(summary).strip():
        raise SarkValidationError("A PagerDuty trigger needs a summary (or text)")
    if severity not in PD_SEVERITIES:
        raise SarkValidationError("severity must be one of %s" % ", ".join(PD_SEVERITIES))
    payload = {"summary": str(summary)[:MAX_SUMMARY], "source": source or "sark.ops", "severity": severity}
    for key, value in (("component", component), ("group", group), ("class", event_class), ("custom_details", custom_details)):
        if value:
            payload[key] = value
    event["payload"] = payload
    return event


def response_body(response):
    """The receiver's answer, parsed when it is JSON, trimmed otherwise."""
    text = response.body or ""
    try:
        return json.loads(text)
    except ValueError:
        return text[:500]
