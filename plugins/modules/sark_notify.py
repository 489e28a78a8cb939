#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_notify
short_description: Announce maintenance and send notifications (SARK announce, webhook, Slack, PagerDuty)
version_added: 0.1.0
description:
  - The runbooks' announcement and notification steps - "Force Global Logout" and "Planned Maintenance" announce,
    Slack C(#incidents), PagerDuty.
  - O(target=announce) posts C({message}) to SARK's C(POST /api/v1/admin/announce). The V(sark_v2) layout has no
    announce endpoint - the task fails with a clear message, or, when O(webhook_url) is given, sends the message
    there instead (as O(fallback_format)) with a warning.
  - O(target=webhook) posts a JSON document to O(webhook_url) - O(payload), or C({message, source, sent_at}).
  - O(target=slack) posts a Slack incoming-webhook body C({text, blocks?}) to O(webhook_url).
  - O(target=pagerduty) sends a PagerDuty Events v2 event (V(trigger), V(acknowledge), V(resolve)) to O(pagerduty_url).
  - Every send is recorded in RV(deliveries) (status code, attempts, the receiver's answer) and in the evidence.
options:
  target:
    description: Where the notification goes.
    type: str
    choices: [announce, webhook, slack, pagerduty]
    required: true
  text:
    description:
      - The message - the announcement's C(message), the Slack C(text), the C(message) of the default webhook body,
        and the PagerDuty summary when O(summary) is not set.
    type: str
  source:
    description: Who sends it - the webhook body's C(source) and the PagerDuty C(payload.source).
    type: str
    default: sark.ops
  payload:
    description: With O(target=webhook), the JSON document to send instead of C({message, source, sent_at}).
    type: dict
  fallback_format:
    description:
      - How O(target=announce) falls back to O(webhook_url) in a layout without an announce endpoint.
      - V(none) never falls back (the task fails instead).
    type: str
    choices: [webhook, slack, none]
    default: webhook
  webhook_url:
    description:
      - The webhook to post to (O(target=webhook) and O(target=slack); the fallback of O(target=announce)).
      - Treated as a secret, since Slack's webhook URLs embed their credential - only its origin appears in results.
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_URL) environment variable is used.
    type: str
  webhook_token:
    description:
      - Bearer token sent to the webhook (not used for Slack or PagerDuty). Never logged or returned.
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_TOKEN) environment variable is used.
    type: str
  webhook_headers:
    description: Extra HTTP headers for the webhook and PagerDuty requests. Treated as secrets.
    type: dict
    default: {}
  webhook_validate_certs:
    description:
      - Validate the receiver's TLS certificate (webhook, Slack and PagerDuty).
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  webhook_ca_path:
    description:
      - CA bundle used to validate the receiver's TLS certificate.
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_CA_PATH) environment variable is used.
    type: path
  webhook_timeout:
    description:
      - Seconds to wait for each HTTP request (webhook, Slack and PagerDuty).
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  webhook_retries:
    description:
      - Retries after HTTP 429 or 5xx (webhook, Slack and PagerDuty). A retried trigger without O(dedup_key) may
        open a second incident if the first attempt was in fact received.
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_RETRIES) environment variable is used.
    type: int
    default: 3
  webhook_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the receiver's C(Retry-After)).
      - If not set, the value of the E(SARK_NOTIFY_WEBHOOK_BACKOFF) environment variable is used.
    type: float
    default: 0.5
  slack_blocks:
    description: Slack Block Kit blocks sent with the text (at most 50).
    type: list
    elements: dict
  slack_channel:
    description: Channel override for legacy Slack webhooks, for example V(#incidents).
    type: str
  slack_username:
    description: Sender name override for legacy Slack webhooks.
    type: str
  pagerduty_url:
    description:
      - The PagerDuty Events v2 endpoint. Point it at a test receiver in tests, never at the real PagerDuty.
      - If not set, the value of the E(PAGERDUTY_EVENTS_URL) environment variable is used.
    type: str
    default: https://events.pagerduty.com/v2/enqueue
  routing_key:
    description:
      - The 32-character integration key of the PagerDuty service. Never logged or returned.
      - If not set, the value of the E(PAGERDUTY_ROUTING_KEY) environment variable is used.
    type: str
  event_action:
    description: The PagerDuty event - V(acknowledge) and V(resolve) need O(dedup_key).
    type: str
    choices: [trigger, acknowledge, resolve]
    default: trigger
  dedup_key:
    description:
      - The PagerDuty incident key. Triggers with the same key update one incident instead of opening another;
        acknowledge and resolve name the incident with it.
    type: str
  severity:
    description: Severity of a PagerDuty trigger.
    type: str
    choices: [critical, error, warning, info]
    default: error
  summary:
    description: Summary of a PagerDuty trigger (at most 1024 characters); default O(text).
    type: str
  component:
    description: PagerDuty C(payload.component), for example V(sark-api).
    type: str
  group:
    description: PagerDuty C(payload.group), for example V(production).
    type: str
  event_class:
    description: PagerDuty C(payload.class), for example V(error_rate).
    type: str
  custom_details:
    description: PagerDuty C(payload.custom_details).
    type: dict
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Builds and validates the payload and returns it (secrets masked) in RV(payload) and RV(planned_actions) without sending.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Sending a notification is an event, not a state - every run sends again and reports C(changed=true).
      - For PagerDuty, a O(dedup_key) makes repeated triggers update one incident instead of opening new ones.
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Announce the emergency logout (runbook "Force Global Logout")
  sark.ops.sark_notify:
    target: announce
    api_url: https://api.example.com
    api_token: "{{ admin_token }}"
    text: Emergency maintenance - all users logged out

- name: The same on SARK 2.x, which has no announce endpoint - falls back to the Slack webhook
  sark.ops.sark_notify:
    target: announce
    layout: sark_v2
    api_url: https://api.example.com
    webhook_url: "{{ slack_incidents_webhook }}"
    fallback_format: slack
    text: Emergency maintenance - all users logged out

- name: "Tell #incidents with blocks"
  sark.ops.sark_notify:
    target: slack
    webhook_url: "{{ slack_incidents_webhook }}"
    text: "SARK error rate above 0.1% - investigating"
    slack_blocks:
      - type: section
        text: {type: mrkdwn, text: "*SARK* error rate above 0.1% - investigating"}

- name: Page the on-call engineer (idempotent thanks to dedup_key)
  sark.ops.sark_notify:
    target: pagerduty
    routing_key: "{{ pagerduty_routing_key }}"
    event_action: trigger
    dedup_key: sark-high-error-rate
    severity: critical
    summary: SARK 5xx rate above 0.1%
    source: sark-prod
    component: sark-api

- name: Acknowledge it (runbook "Acknowledge Alert")
  sark.ops.sark_notify:
    target: pagerduty
    routing_key: "{{ pagerduty_routing_key }}"
    event_action: acknowledge
    dedup_key: sark-high-error-rate
'''

RETURN = r'''
deliveries:
  description:
    - One entry per request sent - C(target) (V(announce), V(webhook), V(slack), V(pagerduty)), C(destination) (the
      origin only), C(status) (HTTP status), C(ok), C(attempts), C(elapsed_ms), C(response) (the receiver's answer),
      C(dedup_key) (PagerDuty). Empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{"target": "pagerduty", "status": 202, "ok": true, "attempts": 1, "dedup_key": "sark-high-error-rate"}]
delivered_via:
  description: The target actually used - differs from O(target) when an announcement fell back to the webhook.
  returned: always
  type: str
  sample: announce
fallback_reason:
  description: Why an announcement went to the webhook instead of SARK's announce endpoint.
  returned: when O(target=announce) fell back
  type: str
  sample: The sark_v2 layout has no announce endpoint; sending the announcement to webhook_url as slack
payload:
  description: The body sent (or, in check mode, that would be sent), with the routing key masked.
  returned: always
  type: dict
  sample: {"message": "Emergency maintenance - all users logged out"}
dedup_key:
  description: The PagerDuty incident key - the one given or the one PagerDuty assigned to a new trigger.
  returned: with O(target=pagerduty)
  type: str
  sample: sark-high-error-rate
announcement:
  description: What SARK answered to the announcement (id, created_at, ...).
  returned: when delivered through the announce endpoint
  type: dict
planned_actions:
  description: The sends planned (in check mode, the sends that would run).
  returned: always
  type: list
  elements: dict
executed_actions:
  description: The sends that ran (empty in check mode).
  returned: always
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    MASK, SarkAPIError, SarkValidationError, sark_main,
)
from ansible_collections.sark.ops.plugins.module_utils._notify import (
    notify_argument_spec, pagerduty_event, response_body, slack_payload, webhook_payload, check_message,
)


def webhook_client(params, url, secret_url=True, token=True):
    return HttpClient(url, token=params["webhook_token"] if token else None, validate_certs=params["webhook_validate_certs"],
                      ca_path=params["webhook_ca_path"], timeout=params["webhook_timeout"], retries=params["webhook_retries"],
                      backoff=params["webhook_backoff"], service="webhook receiver", option_prefix="webhook",
                      env_prefix="SARK_NOTIFY_WEBHOOK", url_is_secret=secret_url)


def pagerduty_client(params):
    client = webhook_client(params, params["pagerduty_url"], secret_url=False, token=False)
    client.service = "PagerDuty Events API"
    client.option_prefix = "pagerduty"
    client.env_prefix = "PAGERDUTY_EVENTS"
    return client


def plan_delivery(module, params):
    """(delivered_via, send) where send() performs the request and returns (response, payload sent)."""
    target = params["target"]
    if target == "announce":
        layout = Layout.from_params(params)
        if layout.has("announce_route"):
            return "announce", announce_sender(module, params, layout)
        if not params["webhook_url"] or params["fallback_format"] == "none":
            raise SarkValidationError("The %s layout has no announce endpoint (%s): give webhook_url (a webhook or Slack "
                                      "incoming webhook) to send the announcement there instead"
                                      % (layout.name, layout.absent_reason("announce_route")), layout=layout.name)
        module.fallback_reason = ("The %s layout has no announce endpoint; sending the announcement to webhook_url as %s"
                                  % (layout.name, params["fallback_format"]))
        module.warn(module.fallback_reason)
        target = params["fallback_format"]
    if target == "webhook":
        return "webhook", json_sender(params, webhook_payload(params["text"], params["payload"], params["source"]))
    if target == "slack":
        body = slack_payload(params["text"], params["slack_blocks"], params["slack_channel"], params["slack_username"])
        return "slack", json_sender(params, body, token=False)
    event = pagerduty_event(params["routing_key"], params["event_action"], params["dedup_key"],
                            params["summary"] or params["text"], params["source"], params["severity"], params["component"],
                            params["group"], params["event_class"], params["custom_details"])
    return "pagerduty", pagerduty_sender(params, event)


def announce_sender(module, params, layout):
    body = {"message": check_message(params["text"], "an announcement")}
    route = layout.route("announce_route")
    client = SarkApiClient(params)  # validates api_url in check mode too

    def send():
        return client, client.request("POST", route, json_body=body, expect=(200, 201, 202))
    send.payload = body
    send.destination = client.display_origin
    module.evidence.count("announce")
    return send


def json_sender(params, body, token=True):
    if not params["webhook_url"]:
        raise SarkValidationError("webhook_url is required for target=%s (or SARK_NOTIFY_WEBHOOK_URL)" % params["target"])

    def send():
        client = webhook_client(params, params["webhook_url"], token=token)
        return client, client.request("POST", "", json_body=body, headers=params["webhook_headers"])
    send.payload = body
    send.destination = webhook_client(params, params["webhook_url"]).display_origin
    return send


def pagerduty_sender(params, event):
    def send():
        client = pagerduty_client(params)
        return client, client.request("POST", "", json_body=event, headers=params["webhook_headers"], expect=(200, 201, 202))
    shown = dict(event, routing_key=MASK)
    send.payload = shown
    send.destination = pagerduty_client(params).display_origin
    return send


def run(module):
    params = module.params
    via, send = plan_delivery(module, params)
    result = {"changed": True, "delivered_via": via, "payload": send.payload, "deliveries": []}
    if getattr(module, "fallback_reason", None):
        result["fallback_reason"] = module.fallback_reason
    planned = module.evidence.plan("send_%s" % via, destination=send.destination)
    if via == "pagerduty":
        planned.update(event_action=params["event_action"], dedup_key=params["dedup_key"])
        result["dedup_key"] = params["dedup_key"]
    if module.check_mode:
        result["msg"] = "Would send a %s notification to %s" % (via, send.destination)
    else:
        try:
            client, response = send()
        except SarkAPIError as exc:
            entry = {"target": via, "destination": send.destination, "status": exc.status, "ok": False,
                     "attempts": exc.details.get("attempts"), "response": (exc.body or "")[:500]}
            module.evidence.executed("send_%s" % via, status=exc.status, ok=False)
            raise SarkAPIError(exc.msg, status=exc.status, deliveries=[entry], delivered_via=via) from exc
        answer = response_body(response)
        entry = {"target": via, "destination": client.display_origin, "status": response.status, "ok": True,
                 "attempts": response.attempts, "elapsed_ms": response.elapsed_ms, "response": answer}
        if via == "pagerduty":
            entry["dedup_key"] = answer.get("dedup_key") if isinstance(answer, dict) else params["dedup_key"]
            result["dedup_key"] = entry["dedup_key"] or params["dedup_key"]
        if via == "announce" and isinstance(answer, dict):
            result["announcement"] = answer
        result["deliveries"].append(entry)
        module.evidence.executed("send_%s" % via, status=response.status, attempts=response.attempts)
        module.evidence.count("deliveries")
        result["msg"] = "Sent a %s notification (HTTP %s)" % (via, response.status)
    result.update(module.actions())
    return result


def main():
    spec = dict(
        target=dict(type="str", required=True, choices=["announce", "webhook", "slack", "pagerduty"]),
        text=dict(type="str"),
        source=dict(type="str", default="sark.ops"),
        payload=dict(type="dict"),
        fallback_format=dict(type="str", default="webhook", choices=["webhook", "slack", "none"]),
        slack_blocks=dict(type="list", elements="dict"),
        slack_channel=dict(type="str"),
        slack_username=dict(type="str"),
        event_action=dict(type="str", default="trigger", choices=["trigger", "acknowledge", "resolve"]),
        dedup_key=dict(type="str", no_log=False),
        severity=dict(type="str", default="error", choices=["critical", "error", "warning", "info"]),
        summary=dict(type="str"),
        component=dict(type="str"),
        group=dict(type="str"),
        event_class=dict(type="str"),
        custom_details=dict(type="dict"),
    )
    sark_main(run, spec, (api_argument_spec, layout_argument_spec, notify_argument_spec))


if __name__ == "__main__":
    main()
