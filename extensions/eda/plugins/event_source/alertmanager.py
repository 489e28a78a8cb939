"""sark.ops.alertmanager: an ansible-rulebook event source receiving Alertmanager's webhook.

Alertmanager's ``webhook_configs`` POST one notification per alert group; this source checks the bearer
token (``http_config.authorization.credentials`` on the Alertmanager side), validates the body against
the webhook's JSON schema (version 4) and puts one event per alert on the queue:

    {"alert": {status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint},
     "alertmanager": {receiver, status, groupKey, groupLabels, commonLabels, commonAnnotations,
                      externalURL, truncatedAlerts}}

A request without the token or with a wrong one is answered 401, a body that is not JSON or does not
match the schema 400; both are logged (never with the token) and the source keeps listening.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import web

try:
    import jsonschema
except ImportError:  # pragma: no cover - ansible-rulebook depends on jsonschema
    jsonschema = None

DOCUMENTATION = r"""
---
short_description: Receive Prometheus Alertmanager webhook notifications, one event per alert.
description:
  - Listens for Alertmanager webhook notifications (payload version 4), checks a bearer token,
    validates the payload against a JSON schema and emits one event per alert.
  - Requests without the token, or with a malformed payload, are rejected (HTTP 401 / 400) and logged;
    the source keeps running.
options:
  host:
    description: Address to listen on.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    required: true
  token:
    description:
      - Bearer token Alertmanager must send (webhook_configs http_config authorization credentials).
      - Required; there is no unauthenticated mode.
    type: str
    required: true
  path:
    description: URL path of the webhook.
    type: str
    default: /alerts
  max_body_bytes:
    description: Largest request body accepted.
    type: int
    default: 1048576
  max_alerts:
    description: Most alerts accepted in one notification; larger ones are rejected.
    type: int
    default: 1000
"""

EXAMPLES = r"""
- name: SARK alerts
  hosts: all
  sources:
    - sark.ops.alertmanager:
        host: 0.0.0.0
        port: 5050
        token: "{{ sark_eda_token }}"
  rules:
    - name: Show
      condition: event.alert.labels.alertname is defined
      action:
        debug:
"""

LOG = logging.getLogger("sark.ops.alertmanager")

_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "status", "alerts"],
    "properties": {
        "version": {"const": "4"},
        "groupKey": {"type": "string"},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "groupLabels": _LABELS,
        "commonLabels": _LABELS,
        "commonAnnotations": _LABELS,
        "externalURL": {"type": "string"},
        "alerts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["status", "labels"],
                "properties": {
                    "status": {"enum": ["firing", "resolved"]},
                    "labels": {
                        "type": "object",
                        "required": ["alertname"],
                        "properties": {"alertname": {"type": "string", "minLength": 1}},
                        "additionalProperties": {"type": "string"},
                    },
                    "annotations": _LABELS,
                    "startsAt": {"type": "string"},
                    "endsAt": {"type": "string"},
                    "generatorURL": {"type": "string"},
                    "fingerprint": {"type": "string"},
                },
            },
        },
    },
}

GROUP_KEYS = ("receiver", "status", "groupKey", "groupLabels", "commonLabels", "commonAnnotations",
              "externalURL", "truncatedAlerts")
ALERT_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint")


def validate(body: Any, max_alerts: int) -> str | None:
    """The first schema violation of an Alertmanager webhook body as 'path: message', or None."""
    if jsonschema is None:
        raise RuntimeError("the jsonschema library is missing (ansible-rulebook depends on it)")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(body)"
        return "%s: %s" % (where, err.message[:200])
    if len(body["alerts"]) > max_alerts:
        return "alerts: %d alerts in one notification, more than max_alerts %d" % (len(body["alerts"]), max_alerts)
    return None


def to_events(body: dict) -> list:
    """One event per alert of a validated webhook body."""
    group = {k: body[k] for k in GROUP_KEYS if k in body}
    return [{"alert": {k: alert[k] for k in ALERT_KEYS if k in alert}, "alertmanager": group}
            for alert in body["alerts"]]


def token_matches(header: str, token: str) -> bool:
    scheme, dummy, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def make_app(queue: asyncio.Queue, args: dict) -> web.Application:
    token = args.get("token")
    if not token or not isinstance(token, str):
        raise ValueError("sark.ops.alertmanager: the token argument is required")
    max_body = int(args.get("max_body_bytes", 1048576))
    max_alerts = int(args.get("max_alerts", 1000))
    path = args.get("path", "/alerts")

    async def receive(request: web.Request) -> web.Response:
        peer = request.remote
        if not token_matches(request.headers.get("Authorization", ""), token):
            LOG.warning("rejected a notification from %s: missing or wrong bearer token", peer)
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="sark.ops.alertmanager"'})
        try:
            body = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            LOG.warning("rejected a notification from %s: body larger than %d bytes", peer, max_body)
            return web.json_response({"error": "body too large"}, status=413)
        except (ValueError, UnicodeDecodeError) as exc:
            LOG.warning("rejected a notification from %s: body is not JSON (%s)", peer, str(exc)[:120])
            return web.json_response({"error": "body is not JSON"}, status=400)
        problem = validate(body, max_alerts)
        if problem:
            LOG.warning("rejected a notification from %s: not an Alertmanager webhook payload: %s", peer, problem)
            return web.json_response({"error": "invalid payload", "detail": problem}, status=400)
        events = to_events(body)
        for event in events:
            await queue.put(event)
        LOG.info("accepted a notification from %s: %d alert(s) %s", peer, len(events),
                 ",".join(sorted({e["alert"]["labels"]["alertname"] for e in events})))
        return web.json_response({"accepted": len(events)}, status=202)

    app = web.Application(client_max_size=max_body)
    app.router.add_post(path, receive)
    return app


async def main(queue: asyncio.Queue, args: dict) -> None:
    app = make_app(queue, args)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, args.get("host", "127.0.0.1"), int(args["port"]))
    await site.start()
    LOG.info("listening on %s:%s%s", args.get("host", "127.0.0.1"), args["port"], args.get("path", "/alerts"))
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    class _PrintQueue:
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(_PrintQueue(), {"port": 5050, "token": "example"}))
