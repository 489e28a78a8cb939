"""sark_notify: SARK's announce endpoint on the simulator (runbook layout), and webhook, Slack and PagerDuty
Events v2 payloads delivered to a local receiver (never the real services)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.sarksim import SarkSimulator
from harness.webhook_receiver import WebhookReceiver

ROUTING_KEY = "R0ut1ngKey0123456789abcdefABCDEF"  # 32 characters, like a PagerDuty integration key
SHORT_KEY = "Sh0rtPdK3y"  # too short to be a key; a string found nowhere else in a result
SLACK_PATH = "/slack/services/T0000/B0000/XyzSecretPart"
MESSAGE = "Emergency maintenance - all users logged out"


@pytest.fixture(scope="module")
def sim(pg_server, redis_server, redis_db):
    with SarkSimulator("runbook", pg=pg_server, redis=redis_server, redis_db=redis_db, sark_db="notify_sark",
                       audit_db="notify_audit") as server:
        yield server


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(autouse=True)
def fresh(receiver):
    receiver.reset()


def run_parallel(run_module, *calls):
    """Run independent module calls at once (each is a subprocess); results in call order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run_module, name, args, **kwargs) for name, args, kwargs in calls]
        return [f.result() for f in futures]


def announcements(sim):
    client = sim.redis_server.client(db=sim.redis_db)
    try:
        return [json.loads(item) for item in client.lrange("sark:announcements", 0, -1)]
    finally:
        client.close()


def test_announce_check_real_and_again(run_module, sim):
    args = {"target": "announce", "api_url": sim.url, "api_token": sim.token, "text": MESSAGE}
    before = len(announcements(sim))
    check = run_module("sark_notify", args, check_mode=True, diff=True)
    assert not check.failed and check.changed, check
    assert check["payload"] == {"message": MESSAGE} and check["deliveries"] == []
    assert check["planned_actions"][0]["action"] == "send_announce" and check["executed_actions"] == []
    assert len(announcements(sim)) == before

    sent = run_module("sark_notify", args)
    assert sent.changed and sent["delivered_via"] == "announce"
    assert sent["deliveries"][0]["status"] == 202 and sent["deliveries"][0]["ok"]
    stored = announcements(sim)
    assert stored[0]["message"] == MESSAGE and stored[0]["id"] == sent["announcement"]["id"]
    # an announcement is an event: a second run announces again (and says so)
    again = run_module("sark_notify", args)
    assert again.changed and len(announcements(sim)) == before + 2
    assert sim.token not in sent["_stdout"]


def test_announce_expired_token_and_server_errors(run_module, sim):
    expired, empty = run_parallel(
        run_module, ("sark_notify", {"target": "announce", "api_url": sim.url, "text": MESSAGE,
                                     "api_token": sim.make_token(ttl=-60)}, {}),
        ("sark_notify", {"target": "announce", "api_url": sim.url, "api_token": sim.token}, {}))
    assert expired.failed and expired["status"] == 401
    assert "HTTP 401" in expired["msg"] and "api_token (or SARK_API_TOKEN)" in expired["msg"]
    assert expired["deliveries"][0]["ok"] is False and expired["deliveries"][0]["status"] == 401
    assert empty.failed and "text is required" in empty["msg"]


def test_announce_in_sark_v2_layout_falls_back_or_fails_clearly(run_module, receiver):
    args = {"target": "announce", "layout": "sark_v2", "api_url": "http://127.0.0.1:9", "text": MESSAGE}
    refused = run_module("sark_notify", args)
    assert refused.failed and "sark_v2 layout has no announce endpoint" in refused["msg"] and "webhook_url" in refused["msg"]
    fallback = run_module("sark_notify", dict(args, webhook_url=receiver.url + SLACK_PATH, fallback_format="slack"))
    assert not fallback.failed and fallback["delivered_via"] == "slack", fallback
    assert "no announce endpoint" in fallback["fallback_reason"] and "no announce endpoint" in json.dumps(fallback["warnings"])
    got = receiver.received(SLACK_PATH)
    assert len(got) == 1 and got[0]["json"] == {"text": MESSAGE}


def test_webhook_check_real_retry_and_failure(run_module, receiver):
    args = {"target": "webhook", "webhook_url": receiver.url + "/hooks/ops", "webhook_token": "hook-token",
            "payload": {"event": "maintenance", "window": "02:00-04:00"}, "webhook_backoff": 0.01}
    check = run_module("sark_notify", args, check_mode=True)
    assert check.changed and check["payload"] == {"event": "maintenance", "window": "02:00-04:00"}
    assert receiver.received() == []

    receiver.fail_next(503, count=1)
    sent = run_module("sark_notify", args)
    assert sent.changed and sent["deliveries"][0]["attempts"] == 2 and sent["deliveries"][0]["status"] == 200
    posts = receiver.received("/hooks/ops")
    assert [p["status"] for p in posts] == [503, 200]
    assert posts[-1]["json"] == args["payload"] and posts[-1]["headers"]["Authorization"] == "Bearer hook-token"

    receiver.reset()
    receiver.fail_next(500, count=10)
    failed = run_module("sark_notify", dict(args, webhook_retries=2))
    assert failed.failed and "still failed after 2 retries" in failed["msg"] and len(receiver.received()) == 3
    assert failed["deliveries"][0]["status"] == 500 and failed["deliveries"][0]["ok"] is False

    receiver.reset()
    default = run_module("sark_notify", {"target": "webhook", "webhook_url": receiver.url + "/hooks/ops", "text": "hi"})
    body = receiver.received("/hooks/ops")[-1]["json"]
    assert default.changed and body["message"] == "hi" and body["source"] == "sark.ops" and body["sent_at"].endswith("Z")


def test_slack_payload_and_secret_url(run_module, receiver):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SARK* maintenance tonight"}}]
    args = {"target": "slack", "webhook_url": receiver.url + SLACK_PATH, "text": "SARK maintenance tonight",
            "slack_blocks": blocks, "slack_channel": "#incidents"}
    check = run_module("sark_notify", args, check_mode=True)
    assert not check.failed and check.changed, check
    assert check["payload"] == {"text": "SARK maintenance tonight", "blocks": blocks, "channel": "#incidents"}
    assert check["deliveries"] == [] and check["executed_actions"] == [] and check["planned_actions"][0]["action"] == "send_slack"
    assert receiver.received() == [], "check mode must send nothing"
    sent = run_module("sark_notify", args)
    assert sent.changed and sent["deliveries"][0]["status"] == 200 and sent["deliveries"][0]["response"] == "ok"
    assert receiver.received(SLACK_PATH)[0]["json"]["blocks"] == blocks
    assert "XyzSecretPart" not in sent["_stdout"] and "XyzSecretPart" not in check["_stdout"]
    assert sent["deliveries"][0]["destination"] == receiver.url
    bad = run_module("sark_notify", dict(args, slack_blocks=[{"text": "no type"}]))
    assert bad.failed and "slack_blocks[0] needs a type" in bad["msg"]


def test_pagerduty_trigger_acknowledge_resolve(run_module, receiver):
    base = {"target": "pagerduty", "routing_key": ROUTING_KEY, "pagerduty_url": receiver.url + "/v2/enqueue"}
    trigger = dict(base, event_action="trigger", dedup_key="sark-high-error-rate", severity="critical",
                   summary="SARK 5xx rate above 0.1%", source="sark-prod", component="sark-api",
                   custom_details={"error_rate": 0.004})
    check = run_module("sark_notify", trigger, check_mode=True)
    assert check.changed and check["payload"]["routing_key"] == "********" and receiver.received() == []
    assert check["payload"]["payload"] == {"summary": "SARK 5xx rate above 0.1%", "source": "sark-prod", "severity": "critical",
                                           "component": "sark-api", "custom_details": {"error_rate": 0.004}}
    sent = run_module("sark_notify", trigger)
    assert sent["deliveries"][0]["status"] == 202 and sent["dedup_key"] == "sark-high-error-rate"
    event = receiver.received("/v2/enqueue")[0]["json"]
    assert event["routing_key"] == ROUTING_KEY and event["event_action"] == "trigger" and event["dedup_key"] == "sark-high-error-rate"
    assert ROUTING_KEY not in sent["_stdout"] and ROUTING_KEY not in check["_stdout"]

    ack = run_module("sark_notify", dict(base, event_action="acknowledge", dedup_key="sark-high-error-rate"))
    resolve, new = run_parallel(run_module, ("sark_notify", dict(base, event_action="resolve", dedup_key="sark-high-error-rate"), {}),
                                ("sark_notify", dict(base, text="Disk filling"), {}))
    assert ack["deliveries"][0]["status"] == 202 and resolve["deliveries"][0]["status"] == 202
    events = receiver.received("/v2/enqueue")
    assert [e["json"]["event_action"] for e in events[:2]] == ["trigger", "acknowledge"] and "payload" not in events[1]["json"]
    assert sorted(e["json"]["event_action"] for e in events[2:]) == ["resolve", "trigger"]
    assert new["dedup_key"] and len(new["dedup_key"]) == 32  # assigned by the receiver, like PagerDuty does

    no_key, short = run_parallel(run_module, ("sark_notify", dict(base, event_action="acknowledge"), {}),
                                 ("sark_notify", dict(base, routing_key=SHORT_KEY, text="x"), {}))
    assert no_key.failed and "needs dedup_key" in no_key["msg"] and len(receiver.received()) == 4
    # a key that appears nowhere else: any occurrence in the output (JSON value, message, traceback) is a leak
    assert short.failed and "32-character integration key" in short["msg"]
    assert SHORT_KEY not in short["_stdout"] and SHORT_KEY not in short["_stderr"]
