"""sark_siem_queue(_info) and sark_siem_breaker(_info) against a real Redis (runbook layout), and their sark_v2 answers."""

import json
import os
import stat

import pytest

from harness.redis_seed import BREAKER_KEYS, redis_args, run_three_ways, seed_siem, set_breaker
from harness.servers import free_port

QUEUE, FAILED = "siem:event_queue", "siem:failed_events"


@pytest.fixture(scope="module")
def run(run_module):
    return run_module


def events(client, key):
    return [json.loads(e)["event_id"] for e in client.lrange(key, 0, -1)]


# ---------------------------------------------------------------- sark_siem_queue

def test_queue_thresholds(run_module, run, redis_server, redis_client):
    seed_siem(redis_client, queued=999, failed=2)
    states = []
    for extra in (0, 1, 9001):  # 999 healthy, 1,000 warning, 10,001 critical
        if extra:
            seed_siem(redis_client, queued=extra)
        result = (run if extra else run_module)("sark_siem_queue_info", redis_args(redis_server))
        states.append((result["queue"]["length"], result["queue"]["state"], result["assessment"]["verdict"]))
        assert result["failed_events"]["length"] == 2 and not result.changed
    assert states == [(999, "healthy", "healthy"), (1000, "warning", "warning"), (10001, "critical", "critical")]
    assert "2 events failed delivery (siem:failed_events)" in result["assessment"]["findings"]


def test_peek_masks_secrets(run, redis_server, redis_client):
    seed_siem(redis_client, queued=3, failed=5)
    result = run("sark_siem_queue_info", redis_args(redis_server, list="failed", max_events=2))
    assert [e["event_id"] for e in result["events"]] == ["failed-00000", "failed-00001"]
    assert result["events"][0]["api_key"] == "********" and "sk-live-00000-secret" not in result["_stdout"]
    shown = run("sark_siem_queue_info", redis_args(redis_server, list="failed", max_events=1, show_secrets=True))
    assert shown["events"][0]["api_key"] == "sk-live-00000-secret"
    assert redis_client.llen(FAILED) == 5 and not shown.changed and "events" not in run("sark_siem_queue_info", redis_args(redis_server))
    too_many = run("sark_siem_queue_info", redis_args(redis_server, max_events=1001))
    assert too_many.failed and "max_events must be between 0 and 1000" in too_many["msg"]


def test_requeue_failed_events(run, redis_server, redis_client):
    seed_siem(redis_client, queued=4, failed=25)
    before_queue = events(redis_client, QUEUE)
    failed = events(redis_client, FAILED)
    check, real, again = run_three_ways(run, "sark_siem_queue", redis_args(redis_server, state="requeue", batch_size=10))
    assert check.changed and check["moved"] == 25 and check["diff"]["after"] == {"queue": 29, "failed": 0}
    assert real.changed and real["moved"] == 25 and real["progress"]["batches"] == 3
    assert not again.changed and again["moved"] == 0
    assert events(redis_client, QUEUE) == before_queue + failed  # oldest first, appended to the tail
    assert redis_client.llen(FAILED) == 0


def test_requeue_part_and_cap(run, redis_server, redis_client):
    seed_siem(redis_client, failed=30)
    capped = run("sark_siem_queue", redis_args(redis_server, state="requeue", max_events=20))
    assert capped.failed and "more than max_events=20" in capped["msg"] and redis_client.llen(FAILED) == 30
    part = run("sark_siem_queue", redis_args(redis_server, state="requeue", count=20, max_events=20))
    assert part["moved"] == 20 and redis_client.llen(FAILED) == 10 and redis_client.llen(QUEUE) == 20


def test_export_to_file_and_resume(run, redis_server, redis_client, tmp_path):
    seed_siem(redis_client, queued=30)
    queued = events(redis_client, QUEUE)
    path = str(tmp_path / "siem.jsonl")
    args = redis_args(redis_server, state="export", list="queue", path=path, batch_size=8)
    planned = run("sark_siem_queue", dict(args, count=20), check_mode=True)
    assert planned.changed and planned["moved"] == 20 and not os.path.exists(path) and redis_client.llen(QUEUE) == 30

    first = run("sark_siem_queue", dict(args, count=20))
    assert first.changed and first["moved"] == 20 and first["queue"]["length"] == 10
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # an interrupted earlier run: events staged but not yet written, and a torn last line in the file
    staged = [redis_client.lpop(QUEUE) for _index in range(3)]
    redis_client.rpush("{siem:event_queue}:sark_ops_export", *staged)
    with open(path, "ab") as handle:
        handle.write(b'{"event_id": "torn')
    check, real, again = run_three_ways(run, "sark_siem_queue", args)
    assert check["moved"] == 7 and check["recovered"] == 3
    assert real["moved"] == 7 and real["recovered"] == 3 and not again.changed
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(line)["event_id"] for line in handle]
    assert sorted(lines) == sorted(queued) and len(lines) == 30  # every event exactly once, the torn line gone
    assert redis_client.llen(QUEUE) == 0 and not redis_client.exists("{siem:event_queue}:sark_ops_export")


def test_trim_with_cap(run, redis_server, redis_client, tmp_path):
    seed_siem(redis_client, queued=50)
    queued = events(redis_client, QUEUE)
    refused = run("sark_siem_queue", redis_args(redis_server, state="trim", keep=0, max_events=10))
    assert refused.failed and "would touch 50 events" in refused["msg"] and redis_client.llen(QUEUE) == 50

    check, real, again = run_three_ways(run, "sark_siem_queue", redis_args(redis_server, state="trim", keep=35))
    assert check["dropped"] == 15 and real["dropped"] == 15 and not again.changed
    assert events(redis_client, QUEUE) == queued[15:]  # the oldest went

    path = str(tmp_path / "overflow.jsonl")
    saved = run("sark_siem_queue", redis_args(redis_server, state="trim", keep=30, path=path))
    assert saved["moved"] == 5 and saved["dropped"] == 0 and events(redis_client, QUEUE) == queued[20:]
    with open(path, encoding="utf-8") as handle:
        assert [json.loads(line)["event_id"] for line in handle] == queued[15:20]


def test_queue_bad_input_and_wrong_type(run, redis_server, redis_client):
    seed_siem(redis_client, queued=5, failed=1)
    for args, message in [
        (redis_args(redis_server, state="export"), "needs path"),
        (redis_args(redis_server, state="trim"), "needs keep"),
        (redis_args(redis_server, state="trim", keep=-1), "needs keep"),
        (redis_args(redis_server, state="requeue", max_events=-3), "max_events must be 1 or more"),
        (redis_args(redis_server, state="export", path="/nonexistent/dir/x.jsonl"), "does not exist"),
        (redis_args(redis_server), "state"),
        (redis_args(redis_server, state="requeue", operation="requeue"), "operation"),
    ]:
        result = run("sark_siem_queue", args)
        assert result.failed and message in result["msg"], (args, result["msg"])
    assert redis_client.llen(QUEUE) == 5 and redis_client.llen(FAILED) == 1
    redis_client.delete(FAILED)
    redis_client.set(FAILED, "oops")
    wrong = run("sark_siem_queue", redis_args(redis_server, state="requeue"))
    assert wrong.failed and "siem:failed_events is a Redis string" in wrong["msg"]
    assert redis_client.llen(QUEUE) == 5


def test_queue_in_process_memory_for_sark_v2(run, redis_client):
    # sark_v2 must not even connect: point it at a closed port
    status = run("sark_siem_queue_info", {"redis_port": free_port(), "layout": "sark_v2"})
    assert not status.failed and not status.changed and "process memory" in status["not_in_layout"]
    for state in ("requeue", "trim"):
        result = run("sark_siem_queue", {"redis_port": free_port(), "layout": "sark_v2", "state": state, "keep": 0})
        assert not result.failed and not result.changed and "process memory" in result["not_in_layout"]
        assert "process memory" in result["msg"]


# ---------------------------------------------------------------- sark_siem_breaker

def test_breaker_status_both_variants(run_module, redis_server, redis_client):
    set_breaker(redis_client, "global", "open", 7)
    set_breaker(redis_client, "splunk", "half_open", 3)
    result = run_module("sark_siem_breaker_info", redis_args(redis_server))
    by_name = {b["name"]: b for b in result["breakers"]}
    assert (by_name["global"]["state"], by_name["global"]["failures"]) == ("open", 7)
    assert by_name["global"]["state_key"] == "siem:circuit_breaker:state"
    assert (by_name["splunk"]["state"], by_name["splunk"]["failures"], by_name["splunk"]["state_key"]) == ("half_open", 3, "circuit:splunk:state")
    assert (by_name["datadog"]["state"], by_name["datadog"]["present"]) == ("closed", False)
    assert result["open"] == ["global", "splunk"] and "not_in_layout" not in result and not result.changed


def test_breaker_reset(run, redis_server, redis_client):
    set_breaker(redis_client, "global", "open", 7)
    set_breaker(redis_client, "splunk", "open", 5)
    set_breaker(redis_client, "datadog", "open", 6)
    args = redis_args(redis_server, state="closed", variant="per_siem", siems=["splunk"], current_state="open")
    check, real, again = run_three_ways(run, "sark_siem_breaker", args)
    assert check.changed and check["reset"] == ["splunk"]
    assert check["diff"]["before"]["splunk"] == {"state": "open", "failures": 5}
    assert check["diff"]["after"]["splunk"] == {"state": "closed", "failures": 0}
    assert real.changed and real["open"] == [] and not again.changed
    assert redis_client.exists(*BREAKER_KEYS["splunk"]) == 0
    assert redis_client.get("circuit:datadog:state") == b"open" and redis_client.get("siem:circuit_breaker:state") == b"open"
    everything = run("sark_siem_breaker", redis_args(redis_server, state="closed"))
    assert everything["reset"] == ["global", "datadog"] and redis_client.exists(*BREAKER_KEYS["global"], *BREAKER_KEYS["datadog"]) == 0


def test_breaker_precondition_and_wrong_type(run, redis_server, redis_client):
    set_breaker(redis_client, "global", "closed", 0)
    set_breaker(redis_client, "splunk", "open", 5)
    result = run("sark_siem_breaker", redis_args(redis_server, state="closed", current_state="open"))
    assert result.failed and "global is closed" in result["msg"] and "Nothing was reset" in result["msg"]
    assert redis_client.get("circuit:splunk:state") == b"open" and redis_client.get("siem:circuit_breaker:state") == b"closed"
    redis_client.delete("circuit:datadog:state")
    redis_client.rpush("circuit:datadog:state", "open")
    wrong = run("sark_siem_breaker", redis_args(redis_server, state="closed"))
    assert wrong.failed and "circuit:datadog:state is a Redis list" in wrong["msg"]
    assert redis_client.get("circuit:splunk:state") == b"open"
    for name in ("sark_siem_breaker", "sark_siem_breaker_info"):
        empty = run(name, redis_args(redis_server, siems=[]))
        assert empty.failed and "siems" in empty["msg"]
    old = run("sark_siem_breaker", redis_args(redis_server, expected_state="open"))
    assert old.failed and "expected_state" in old["msg"] and redis_client.get("circuit:splunk:state") == b"open"


def test_breaker_in_worker_memory_for_sark_v2(run):
    result = run("sark_siem_breaker", {"redis_port": free_port(), "layout": "sark_v2", "state": "closed"})
    assert not result.failed and not result.changed
    assert "worker's memory" in result["not_in_layout"] and result["restart_required"] is True and "Restart the SARK workers" in result["msg"]
    status = run("sark_siem_breaker_info", {"redis_port": free_port(), "layout": "sark_v2"})
    assert "restart_required" not in status and status["breakers"] == [] and "worker's memory" in status["not_in_layout"]
