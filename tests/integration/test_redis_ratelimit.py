"""sark_ratelimit_info and sark_ratelimit against a real Redis: status, top, reset (window, subject, all), both layouts, bad input."""

import datetime

import pytest

from harness.redis_seed import current_window, keys_matching, redis_args, run_three_ways, seed_ratelimits

API_KEY = "sk-live-0123456789abcdef"
# The clock of the window tests, seeds and module alike: the last microsecond of an hour, on purpose - the module's clock
# is stopped there (run_module now=), so no test can see the hour turn between seeding and the module's run.
NOW = datetime.datetime(2026, 12, 1, 10, 59, 59, 999999, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def run(run_module):
    return run_module


def seed_subjects(client, layout, now=None):
    return seed_ratelimits(client, layout, [("user", "u1", 150), ("user", "u2", 30), ("api_key", API_KEY, 990), ("ip", "10.1.2.3", 100)],
                           now=now)


def test_status_fixed_hourly_window(run_module, run, redis_server, redis_client):
    seed_subjects(redis_client, "runbook", now=NOW)
    result = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="u1"), now=NOW)
    status = result["status"]
    assert status["key"] == "ratelimit:user:u1:2026-12-01-10" == "ratelimit:user:u1:%s" % current_window(NOW)
    assert (status["limit"], status["used"], status["remaining"], status["limited"]) == (5000, 150, 4850, False)
    assert status["reset_epoch"] == int(datetime.datetime(2026, 12, 1, 11, tzinfo=datetime.timezone.utc).timestamp())
    assert status["window"] == "2026-12-01-10" and status["model"] == "fixed_hourly"
    assert 0 < status["ttl"] <= 3600 and not result.changed
    # a microsecond later it is the next hour's counter, which nobody has touched
    later = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="u1"), now=NOW + datetime.timedelta(microseconds=1))
    assert later["status"]["window"] == "2026-12-01-11" and later["status"]["used"] == 0 and later["status"]["exists"] is False
    # the module in its own interpreter (as Ansible runs it), on the same window named explicitly
    explicit = run_module("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="u1", window="2026-12-01-10"))
    assert explicit["status"]["used"] == 150 and explicit["status"]["key"] == status["key"]

    limited = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="10.1.2.3", kind="ip"), now=NOW)
    assert limited["status"]["limited"] is True and limited["status"]["remaining"] == 0

    secret = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject=API_KEY, kind="api_key", rate_limit=2000), now=NOW)
    assert secret["status"]["used"] == 990 and secret["status"]["remaining"] == 1010
    assert API_KEY not in secret["_stdout"] and secret["status"]["subject"] == "sk-l********"


def test_frozen_clock_holds_also_when_the_test_process_has_threads(run, redis_server, redis_client):
    """Other suites leave daemon threads (servers, sleeping queries): the frozen clock then runs in a fresh interpreter."""
    import threading  # pylint: disable=import-outside-toplevel
    seed_subjects(redis_client, "runbook", now=NOW)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert threading.active_count() > 1
        status = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="u1"), now=NOW)["status"]
        later = run("sark_ratelimit_info", redis_args(redis_server, "runbook", subject="u1"), now=NOW + datetime.timedelta(microseconds=1))
    finally:
        stop.set()
        thread.join()
    assert status["window"] == "2026-12-01-10" and status["used"] == 150
    assert later["status"]["window"] == "2026-12-01-11" and later["status"]["used"] == 0


def test_status_sliding_window(run, redis_server, redis_client):
    seed_subjects(redis_client, "sark_v2", now=NOW)
    stamp = NOW.timestamp()
    # three requests older than the window must not count
    redis_client.zadd("rate_limit:user:u1", {"old-%d" % n: stamp - 4000 - n for n in range(3)})
    result = run("sark_ratelimit_info", redis_args(redis_server, "sark_v2", subject="u1"), now=NOW)
    status = result["status"]
    assert status["key"] == "rate_limit:user:u1" and status["model"] == "sliding_window"
    assert (status["used"], status["entries"], status["remaining"]) == (150, 153, 4850)
    # the oldest request in the window is 149 * 10 s old: the window frees a slot when it is an hour old
    assert status["reset_epoch"] == int(stamp - 1490 + 3600)
    api = run("sark_ratelimit_info", redis_args(redis_server, "sark_v2", subject=API_KEY, kind="api_key"), now=NOW)
    assert api["status"]["limit"] == 1000 and api["status"]["used"] == 360  # one request every 10 s: 360 in the last hour
    # 15 s on, the request from 3590 s before NOW is older than an hour: the window really slides
    slid = run("sark_ratelimit_info", redis_args(redis_server, "sark_v2", subject=API_KEY, kind="api_key"),
               now=NOW + datetime.timedelta(seconds=15))
    assert slid["status"]["used"] == 359
    assert API_KEY not in api["_stdout"]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_reset_current_window(run, redis_server, redis_client, layout):
    keys = seed_subjects(redis_client, layout, now=NOW)
    if layout == "runbook":
        redis_client.set("ratelimit:user:u1:2020-01-01-00", 4999)  # an older window stays
    check, real, again = run_three_ways(lambda *a, **k: run(*a, now=NOW, **k), "sark_ratelimit",
                                        redis_args(redis_server, layout, state="absent", subject="u1"))
    assert check.changed and check["matched"] == 1 and check["removed"] == 0
    assert check["diff"]["before"]["used"] == 150 and check["diff"]["after"]["used"] == 0
    assert real.changed and real["removed"] == 1 and real["status"]["used"] == 0 and real["status"]["remaining"] == 5000
    assert not again.changed and again["removed"] == 0 and again["diff"]["before"]["used"] == 0
    assert not redis_client.exists(keys[0])
    assert redis_client.exists(*keys[1:]) == 3
    if layout == "runbook":
        assert redis_client.get("ratelimit:user:u1:2020-01-01-00") == b"4999"


def test_reset_every_window_of_a_subject(run, redis_server, redis_client):
    seed_subjects(redis_client, "runbook", now=NOW)
    for hour in ("2020-01-01-00", "2020-01-01-01"):
        redis_client.set("ratelimit:user:u1:%s" % hour, 10)
    redis_client.set("ratelimit:user:u10:%s" % current_window(NOW), 5)  # u10 starts with u1: must stay
    check, real, again = run_three_ways(run, "sark_ratelimit",
                                        redis_args(redis_server, "runbook", state="absent", scope="subject", subject="u1"))
    assert check["matched"] == 3 and real["removed"] == 3 and not again.changed
    assert keys_matching(redis_client, "ratelimit:user:u1:*") == []
    assert redis_client.exists("ratelimit:user:u10:%s" % current_window(NOW), "ratelimit:user:u2:%s" % current_window(NOW)) == 2


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_reset_all_needs_force(run, redis_server, redis_client, layout):
    keys = seed_subjects(redis_client, layout)
    redis_client.set("ratelimit_config", "keep me")
    refused = run("sark_ratelimit", redis_args(redis_server, layout, state="absent", scope="all"))
    assert refused.failed and "force: true" in refused["msg"]
    assert redis_client.exists(*keys) == 4
    check, real, again = run_three_ways(run, "sark_ratelimit",
                                        redis_args(redis_server, layout, state="absent", scope="all", force=True))
    assert check.changed and check["matched"] == 4 and real["removed"] == 4 and not again.changed
    assert redis_client.exists(*keys) == 0 and redis_client.get("ratelimit_config") == b"keep me"
    assert all(API_KEY not in s for s in real["sample"]) and API_KEY not in real["_stdout"]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_top_subjects(run, redis_server, redis_client, layout):
    seed_subjects(redis_client, layout, now=NOW)
    result = run("sark_ratelimit_info", redis_args(redis_server, layout, top_n=3), now=NOW)
    rows = result["top"]
    assert [r["kind"] for r in rows] == ["ip", "api_key", "user"]  # by share of the limit used: 100/100, then 990/1000
    assert rows[0]["limited"] is True and rows[0]["ratio"] == 1.0
    assert rows[1]["subject"] == "sk-l********" and API_KEY not in result["_stdout"]
    assert rows[2]["subject"] == "u1" and rows[2]["used"] == 150
    assert result["subjects_scanned"] == 4 and not result.changed


def test_bad_input_and_wrong_types(run, redis_server, redis_client):
    keys = seed_subjects(redis_client, "runbook", now=NOW)
    base = redis_args(redis_server, "runbook", state="absent")
    for args, message in [
        (dict(base), "needs subject"),
        (dict(base, subject="u1", max_keys=-1), "max_keys must be a positive number"),
        (dict(base, subject="u1", window="yesterday"), "window 'yesterday' does not match"),
        (dict(base, subject=" u1"), "surrounding spaces"),
        (dict(base, scope="all", subject="u1", force=True), "drop subject"),
        (dict(base, subject="u1", layout="v3"), "layout"),
        (dict(base, subject="u1", rate_limit=-1), "rate_limit must be 0 or more"),
        (dict(base, subject="u1", limit=10), "limit"),
        (dict(base, subject="u1", operation="reset"), "operation"),
    ]:
        result = run("sark_ratelimit", args, now=NOW)
        assert result.failed and message in result["msg"], (args, result["msg"])
    assert redis_client.exists(*keys) == 4

    redis_client.delete(keys[0])
    redis_client.zadd(keys[0], {"x": 1})
    wrong = run("sark_ratelimit", dict(base, subject="u1"), now=NOW)
    assert wrong.failed and "is a Redis zset" in wrong["msg"] and "string" in wrong["msg"]
    assert redis_client.zcard(keys[0]) == 1

    redis_client.set("rate_limit:user:u9", "12")
    wrong = run("sark_ratelimit", redis_args(redis_server, "sark_v2", state="absent", subject="u9"))
    assert wrong.failed and "is a Redis string" in wrong["msg"] and "zset" in wrong["msg"]
    wrong = run("sark_ratelimit_info", redis_args(redis_server, "sark_v2", subject="u9"))
    assert wrong.failed and "is a Redis string" in wrong["msg"] and "zset" in wrong["msg"]
    assert redis_client.get("rate_limit:user:u9") == b"12"


def test_info_bad_input_changes_nothing(run, redis_server, redis_client):
    keys = seed_subjects(redis_client, "runbook", now=NOW)
    before = {k: redis_client.get(k) for k in keys}
    for extra, message in [
        (dict(top_n=0), "top_n must be 1 or more"),
        (dict(subject=" u1"), "surrounding spaces"),
        (dict(subject="u1", limits={"user": "many"}), "limits.user must be a non-negative integer"),
        (dict(subject="u1", state="absent"), "state"),
    ]:
        result = run("sark_ratelimit_info", redis_args(redis_server, "runbook", **extra), now=NOW)
        assert result.failed and message in result["msg"], (extra, result["msg"])
    assert {k: redis_client.get(k) for k in keys} == before
