"""auditron_queue and auditron_queue_info against AUDITRON's BullMQ queue in a real Redis, with the reference BullMQ
(npm) as the real producer and worker: through the runbook's admin API (auditronsim, which drives BullMQ) and through
BullMQ for Python (auditron_code). Pausing must stop the real worker, resuming restart it, and clean must remove
exactly what BullMQ's own clean removes from an identical twin queue."""

import json
import time

import pytest

from harness import bullmq_node as bn
from harness.auditronsim import AuditronSimulator

pytestmark = pytest.mark.skipif(not bn.node_available(), reason="Node.js and npm's bullmq are needed: run "
                                "scripts/setup.sh (test profile), which exports SARK_BULLMQ_NODE_DIR")

QUEUE, TWIN, DEAD = "agentic-jobs", "twin-jobs", "dead-letter"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
LAYOUTS = ("runbook", "auditron_code")


@pytest.fixture(scope="module")
def stack(pg_server, redis_server, redis_db):
    with AuditronSimulator("runbook", pg=pg_server, redis=redis_server, redis_db=redis_db,
                           dbname="auditron_queue_rb") as sim:
        yield sim


@pytest.fixture()
def redis_url(stack, redis_server):
    client = redis_server.client(db=stack.redis_db)
    client.flushdb()
    client.close()
    return stack.redis_url


def args_for(stack, layout, **extra):
    """Runbook: the simulator's admin API; auditron_code: BullMQ on the same Redis database."""
    if layout == "runbook":
        args = {"layout": "runbook", "auditron_url": stack.url, "auditron_token": stack.token, "auditron_backoff": 0.01}
    else:
        args = stack.redis_args(layout="auditron_code")
    args.update(extra)
    return args


def counts(url, queue=QUEUE):
    return bn.run("counts", url, queue)


def processed(worker, event="completed", queue=QUEUE):
    return worker.ids(event, queue)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pause_stops_the_real_worker_and_resume_restarts_it(run_module, stack, redis_url, layout):
    with bn.NodeWorker(redis_url, QUEUE) as worker:
        bn.run("add", redis_url, QUEUE, 3)
        worker.wait_for(lambda _e: len(processed(worker)) == 3, 15, "3 jobs completed")

        check = run_module("auditron_queue", args_for(stack, layout, state="paused"), check_mode=True, diff=True)
        assert check.changed and check["paused"] is True and check["counts_after"] is None
        assert check["diff"]["before"]["paused"] is False and check["planned_actions"] and not check["executed_actions"]
        real = run_module("auditron_queue", args_for(stack, layout, state="paused"))
        assert real.changed and real["paused"] is True and real["executed_actions"]
        again = run_module("auditron_queue", args_for(stack, layout, state="paused"))
        assert not again.changed and "already paused" in again["msg"]

        bn.run("add", redis_url, QUEUE, 10)
        time.sleep(1.0)
        assert len(processed(worker)) == 3 and len(processed(worker, "active")) == 3, "the paused queue handed out jobs"
        held = counts(redis_url)
        assert held["paused"] is True, "the queue is not paused in BullMQ's eyes"
        held = held["counts"]
        assert held["waiting"] + held["paused"] == 10 and held["completed"] == 3

        info = run_module("auditron_queue_info", args_for(stack, layout))
        assert not info.changed and info["paused"] is True and info["counts"] == held
        assert info["backlog"] == {"jobs": 10, "threshold": 100, "exceeded": False}

        check = run_module("auditron_queue", args_for(stack, layout, state="resumed"), check_mode=True)
        assert check.changed and check["paused"] is False
        real = run_module("auditron_queue", args_for(stack, layout, state="resumed"))
        assert real.changed and real["paused"] is False
        worker.wait_for(lambda _e: len(processed(worker)) == 13, 15, "the 10 held jobs completed after resume")
        assert not run_module("auditron_queue", args_for(stack, layout, state="resumed")).changed


def finish_jobs(url, queues, groups):
    """For each (count, offset_ms, fail): add count jobs to each queue and let a real worker whose clock runs offset_ms
    behind finish them (one Node process for all); returns BullMQ's counts per queue."""
    spec = [{"count": c, "offset_ms": o, "fail": f} for c, o, f in groups]
    return bn.run("prepare", url, ",".join(queues), json.dumps(spec), timeout=60)["counts"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_clean_removes_exactly_what_bullmq_clean_removes(run_module, stack, redis_url, layout):
    both = [QUEUE, TWIN]
    made = finish_jobs(redis_url, both, [(3, 25 * HOUR_MS, False),   # completed 25 h ago: cleaned
                                         (2, 23 * HOUR_MS, False),   # completed 23 h ago: kept
                                         (2, 8 * DAY_MS, True),      # failed 8 days ago: cleaned
                                         (2, 2 * DAY_MS, True),      # failed 2 days ago: kept
                                         (1, 0, False)])             # just completed: kept
    assert made[QUEUE]["completed"] == made[TWIN]["completed"] == 6 and made[QUEUE]["failed"] == 4

    check = run_module("auditron_queue", args_for(stack, layout, state="cleaned"), check_mode=True)
    assert check.changed and counts(redis_url)["counts"]["completed"] == 6, "check mode removed jobs"
    real = run_module("auditron_queue", args_for(stack, layout, state="cleaned"))
    twin = {"completed": bn.run("clean", redis_url, TWIN, DAY_MS, 1000, "completed")["removed"],
            "failed": bn.run("clean", redis_url, TWIN, 7 * DAY_MS, 1000, "failed")["removed"]}
    assert real.changed
    for state in ("completed", "failed"):
        assert sorted(real["cleaned"][state]["ids"]) == sorted(twin[state]), state
        if layout == "auditron_code":  # BullMQ's plan is exact; the API shows no ages
            assert sorted(check["cleaned"][state]["ids"]) == sorted(twin[state]), state
    assert len(twin["completed"]) == 3 and len(twin["failed"]) == 2
    left = counts(redis_url)["counts"]
    assert left == counts(redis_url, TWIN)["counts"] and real["counts_after"] == left
    assert real["counts_after"]["completed"] == 3 and real["counts_after"]["failed"] == 2
    again = run_module("auditron_queue", args_for(stack, layout, state="cleaned"))
    assert not again.changed and again["cleaned"]["completed"]["count"] == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_retry_failed_jobs_and_look_at_dead_letters(run_module, stack, redis_url, layout):
    finish_jobs(redis_url, [QUEUE], [(3, 0, True)])
    bn.run("add", redis_url, DEAD, 2, '{"reason": "max attempts", "apiKey": "ak_live_secret_123"}')
    # the runbook's API has no retry route: BullMQ (via=bullmq) on the same Redis does it in both layouts
    bull = dict(stack.redis_args(layout=layout), via="bullmq")

    info = run_module("auditron_queue_info", dict(bull, job_sample=2))
    assert info["counts"]["failed"] == 3 and len(info["failed_jobs"]) == 2
    assert info["failed_jobs"][0]["failed_reason"].endswith("failed on purpose")
    assert info["dead_letter"]["count"] == 2 and [j["id"] for j in info["dead_letter"]["jobs"]] == ["1", "2"]
    assert "ak_live_secret_123" not in info["_stdout"] and "********" in info["dead_letter"]["jobs"][0]["data_preview"]
    if layout == "runbook":
        api = run_module("auditron_queue_info", args_for(stack, layout))
        assert api["via"] == "api" and api["dead_letter"]["count"] == 2 and api["dead_letter"]["jobs"] is None
        assert api["counts"] == info["counts"] and api["notes"]
        refused = run_module("auditron_queue", args_for(stack, layout, state="retried"))
        assert refused.failed and "no retry route" in refused["msg"]

    capped = run_module("auditron_queue", dict(bull, state="retried", max_jobs=2), check_mode=True)
    assert capped.changed and capped["retried"]["count"] == 2 and capped["remaining"] == 1
    real = run_module("auditron_queue", dict(bull, state="retried"))
    assert real.changed and sorted(real["retried"]["ids"]) == ["1", "2", "3"] and real["remaining"] == 0
    after = counts(redis_url)["counts"]
    assert after["failed"] == 0 and after["waiting"] == 3
    assert not run_module("auditron_queue", dict(bull, state="retried")).changed
    with bn.NodeWorker(redis_url, QUEUE) as worker:  # the real worker takes the retried jobs again
        worker.wait_for(lambda _e: sorted(processed(worker, "failed")) == ["1", "2", "3"], 15, "the retried jobs run")
    missing = run_module("auditron_queue", dict(bull, state="retried", job_ids=["999"]))
    assert missing.failed and "Job 999 does not exist" in missing["msg"]


def test_bad_input_and_unreachable(run_module, stack, redis_url):
    code = stack.redis_args(layout="auditron_code")
    api_in_code = run_module("auditron_queue", dict(code, state="paused", via="api"))
    assert api_in_code.failed and "no admin routes" in api_in_code["msg"]
    wrong = run_module("auditron_queue", dict(code, state="paused", job_ids=["1"]))
    assert wrong.failed and "job_ids is for state=retried only" in wrong["msg"]
    assert "job_sample must be between 0 and 100" in run_module("auditron_queue_info", dict(code, job_sample=101))["msg"]
    unknown = run_module("auditron_queue", dict(code, state="frozen"))
    assert unknown.failed and "state" in unknown["msg"]
    down = run_module("auditron_queue_info", dict(code, redis_port=1))
    assert down.failed and "Cannot connect to Redis" in down["msg"] and "redis_port" in down["msg"]
    denied = run_module("auditron_queue", args_for(stack, "runbook", state="paused", auditron_token="not-a-jwt"))
    assert denied.failed and "401" in denied["msg"] and "not-a-jwt" not in denied["_stdout"]
    assert counts(redis_url)["paused"] is False
