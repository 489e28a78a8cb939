"""sark_session_info and sark_session against a real Redis, both layouts: count, list, revoke (one, user, all), caps and bad input."""

import json

import pytest

from harness.redis_seed import count_keys, keys_matching, redis_args, run_three_ways, seed_sessions, token_of

LAYOUTS = ["runbook", "sark_v2"]


@pytest.fixture(scope="module")
def run(run_module):
    """Forked module runs (cheap); the first call of each module suite uses the plain subprocess runner."""
    return run_module


def session_key(layout, user, sid):
    return "session:user:%s:%s" % (user, sid) if layout == "runbook" else "session:%s" % sid


def sessions_of(client, layout, user):
    """Session ids of a user that still exist in Redis (read independently of the module)."""
    if layout == "runbook":
        return sorted(k.rsplit(":", 1)[1] for k in keys_matching(client, "session:user:%s:*" % user))
    return sorted(m.decode() for m in client.smembers("user_sessions:%s" % user) if client.exists("session:%s" % m.decode()))


def total_sessions(client, layout):
    return count_keys(client, "session:user:*:*", "hash") if layout == "runbook" else count_keys(client, "session:*", "string")


def seed_three_users(client, layout):
    seeded = seed_sessions(client, layout, ["u1"], per_user=4)
    seeded.update(seed_sessions(client, layout, ["u2"], per_user=2))
    seeded.update(seed_sessions(client, layout, ["u3"], per_user=1))
    # look-alikes that are not sessions of this layout and must never be counted or deleted
    client.set("sessions:report", "x")
    client.hset("session:bogus", mapping={"a": "b"})  # a hash: not a sark_v2 session (those are strings)
    if layout == "runbook":
        client.set("session:user:u1", "not a session")  # one segment short of session:user:{uid}:{sid}
    return seeded


LOOK_ALIKES = {"runbook": ("sessions:report", "session:bogus", "session:user:u1"), "sark_v2": ("sessions:report", "session:bogus")}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_count_and_list(run_module, run, redis_server, redis_client, layout):
    seeded = seed_three_users(redis_client, layout)
    result = run_module("sark_session_info", redis_args(redis_server, layout, top_n=2))
    assert not result.failed, result["msg"]
    assert result["total"] == 7 == total_sessions(redis_client, layout)
    assert result["scope"] == "all" and "planned_actions" not in result
    assert result["top_users"] == [{"user_id": "u1", "sessions": 4}, {"user_id": "u2", "sessions": 2}]
    assert result["top_users_exact"] is True
    assert result["progress"]["nodes"] == 1 and result["progress"]["keys"] == 7
    assert not result.changed

    listed = run("sark_session_info", redis_args(redis_server, layout, user_id="u1"))
    assert not listed.changed and listed["user_sessions"] == 4
    assert sorted(s["session_id"] for s in listed["sessions"]) == sorted(seeded["u1"])
    first = listed["sessions"][0]
    assert first["user_id"] == "u1" and first["fields"]["ip_address"] == "10.0.0.10" and 0 < first["ttl"] <= 86400
    assert first["fields"]["token"] == "********"
    for sid in seeded["u1"]:
        assert token_of(sid) not in listed["_stdout"]
    if layout == "sark_v2":
        assert first["fields"]["metadata"]["refresh_token"] == "********"
        assert first["fields"]["metadata"]["auth_method"] == "oidc"

    limited = run("sark_session_info", redis_args(redis_server, layout, user_id="u1", max_results=2))
    assert limited["count"] == 2 and limited["truncated"] is True

    one = run("sark_session_info", redis_args(redis_server, layout, session_id=seeded["u2"][1], show_secrets=True))
    assert one["count"] == 1 and one["sessions"][0]["user_id"] == "u2"
    assert one["sessions"][0]["fields"]["token"] == token_of(seeded["u2"][1])


def test_v2_count_sees_stale_index_entries(run, redis_server, redis_client):
    seeded = seed_sessions(redis_client, "sark_v2", ["u1"], per_user=3)
    redis_client.delete("session:%s" % seeded["u1"][0])  # expired: still listed in user_sessions:u1
    result = run("sark_session_info", redis_args(redis_server, "sark_v2"))
    assert result["total"] == 2
    listed = run("sark_session_info", redis_args(redis_server, "sark_v2", user_id="u1"))
    assert listed["user_sessions"] == 2 and listed["stale_index_entries"] == 1
    assert listed["count"] == 2 and listed["stale_index_entries"] == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_revoke_one_session(run, redis_server, redis_client, layout):
    seeded = seed_three_users(redis_client, layout)
    victim = seeded["u1"][2]
    check, real, again = run_three_ways(run, "sark_session",
                                        redis_args(redis_server, layout, state="absent", user_id="u1", session_id=victim))
    assert check.changed and check["sessions"] == 1 and check["removed"] == 0
    assert check["diff"]["before"] == {"sessions": 1} and check["diff"]["after"] == {"sessions": 0}
    assert real.changed and real["sessions"] == 1 and real["removed"] == 1
    assert not again.changed and again["sessions"] == 0
    assert sessions_of(redis_client, layout, "u1") == sorted(set(seeded["u1"]) - {victim})
    assert total_sessions(redis_client, layout) == 6
    if layout == "sark_v2":
        assert check["index_entries"] == 1 and real["index_entries"] == 1
        assert not redis_client.sismember("user_sessions:u1", victim)  # the index is cleaned too
        assert redis_client.scard("user_sessions:u1") == 3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_revoke_one_session_without_user_id(run, redis_server, redis_client, layout):
    seeded = seed_three_users(redis_client, layout)
    victim = seeded["u2"][0]
    check, real, again = run_three_ways(run, "sark_session",
                                        redis_args(redis_server, layout, state="absent", session_id=victim))
    assert check.changed and real.changed and not again.changed
    assert real["user_id"] in ("u2", None)
    assert sessions_of(redis_client, layout, "u2") == [seeded["u2"][1]]
    assert total_sessions(redis_client, layout) == 6


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("engine", ["script", "client"])
def test_revoke_user(run, redis_server, redis_client, layout, engine):
    seed_three_users(redis_client, layout)
    check, real, again = run_three_ways(run, "sark_session",
                                        redis_args(redis_server, layout, state="absent", scope="user", user_id="u1",
                                                   engine=engine))
    assert check.changed and check["sessions"] == 4 and check["removed"] == 0
    assert sessions_of(redis_client, layout, "u2") and len(check["sample"]) == 4
    assert real.changed and real["sessions"] == 4
    assert not again.changed and again["sessions"] == 0 and again["msg"] == "No session to revoke"
    assert sessions_of(redis_client, layout, "u1") == []
    assert total_sessions(redis_client, layout) == 3
    assert len(sessions_of(redis_client, layout, "u2")) == 2
    assert redis_client.exists(*LOOK_ALIKES[layout]) == len(LOOK_ALIKES[layout])
    if layout == "sark_v2":
        assert real["removed"] == 5 and not redis_client.exists("user_sessions:u1")  # 4 sessions + the index
        assert redis_client.exists("user_sessions:u2")
    else:
        assert real["removed"] == 4 and real["progress"]["engine"] == engine


@pytest.mark.parametrize("layout", LAYOUTS)
def test_global_logout(run, redis_server, redis_client, layout):
    seed_three_users(redis_client, layout)
    args = redis_args(redis_server, layout, state="absent", scope="all")
    refused = run("sark_session", args)
    assert refused.failed and "force: true" in refused["msg"]
    assert total_sessions(redis_client, layout) == 7

    check, real, again = run_three_ways(run, "sark_session", dict(args, force=True))
    indexes = 3 if layout == "sark_v2" else 0
    assert check.changed and check["sessions"] == 7 and check["matched"] == 7 + indexes and check["removed"] == 0
    assert real.changed and real["sessions"] == 7 and real["removed"] == 7 + indexes
    assert real["progress"]["removed"] == 7 + indexes and real["progress"]["duration_ms"] >= 0
    assert not again.changed and again["matched"] == 0
    assert total_sessions(redis_client, layout) == 0
    assert count_keys(redis_client, "user_sessions:*") == 0
    assert redis_client.exists(*LOOK_ALIKES[layout]) == len(LOOK_ALIKES[layout])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cap_stops_before_deleting_more(run, redis_server, redis_client, layout):
    seed_sessions(redis_client, layout, ["u%d" % n for n in range(30)], per_user=2)
    args = redis_args(redis_server, layout, state="absent", scope="all", force=True, max_keys=10)
    planned = run("sark_session", args, check_mode=True)
    assert planned.failed and planned["matched"] == 60 and "max_keys" in planned["msg"] and "at least 60" in planned["msg"]
    stopped = run("sark_session", args)
    assert stopped.failed and "safety cap" in stopped["msg"] and "raise max_keys" in stopped["msg"]
    assert stopped["removed"] <= 10 and stopped["matched"] > 10
    assert total_sessions(redis_client, layout) == 60 - stopped["removed"]
    # small pages: the cap is hit after some pages were removed, never more than the cap
    paged = run("sark_session", dict(args, scan_count=10, engine="client"))
    assert paged.failed and paged["removed"] <= 10
    assert total_sessions(redis_client, layout) == 60 - stopped["removed"] - paged["removed"]


# what a sweep of all sessions scans: (pattern, TYPE filter) of the layout
SESSION_SWEEP = {"runbook": ("session:user:*:*", None), "sark_v2": ("session:*", "string")}


def scan_pages(client, pattern, count, key_type=None):
    """The SCAN pages (cursor 0 back to 0) a sweep with this COUNT sees, read with the test's own client."""
    pages, cursor = [], 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=pattern, count=count, _type=key_type)
        pages.append(set(keys))
        if int(cursor) == 0:
            return pages


def capped_sweep(pages, cap):
    """The cap's exact promise: whole pages are removed while they fit; the first page that would cross the cap is
    left alone (and counted as matched). Returns (keys removed, matched)."""
    removed = set()
    for page in pages:
        if len(removed) + len(page) > cap:
            return removed, len(removed) + len(page)
        removed |= page
    return removed, len(removed)


@pytest.mark.parametrize("engine", ["client", "script"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cap_is_exact_on_real_redis(run, redis_server, redis_client, layout, engine):
    """On real SCAN pages (not the unit test's exact fake ones): the sweep removes exactly the whole pages that fit under
    max_keys and stops at the first page that would cross it. The pages are read beforehand with the same COUNT:
    the sweep only deletes keys of pages already scanned, so later pages stay what they were."""
    seed_sessions(redis_client, layout, ["u%d" % n for n in range(30)], per_user=2)
    pattern, key_type = SESSION_SWEEP[layout]
    pages = scan_pages(redis_client, pattern, 10, key_type)
    assert pages == scan_pages(redis_client, pattern, 10, key_type)  # the keyspace is settled: the same pages twice
    cap = 25
    gone, matched = capped_sweep(pages, cap)
    assert 0 < len(gone) <= cap < matched  # the premise: some pages fit, a later one crosses the cap
    before = set(redis_client.scan_iter(match="*", count=1000))
    stopped = run("sark_session", redis_args(redis_server, layout, state="absent", scope="all", force=True, max_keys=cap,
                                             scan_count=10, engine=engine))
    assert stopped.failed and "safety cap" in stopped["msg"], stopped.get("msg")
    assert stopped["progress"]["engine"] == engine
    assert stopped["removed"] == len(gone) and stopped["matched"] == matched, (stopped["removed"], stopped["matched"], len(gone), matched)
    assert set(redis_client.scan_iter(match="*", count=1000)) == before - gone  # exactly those keys, no others


def test_bad_input_changes_nothing(run, redis_server, redis_client):
    seed_three_users(redis_client, "runbook")
    before = keys_matching(redis_client, "*")
    base = redis_args(redis_server, "runbook", state="absent", user_id="u1")
    cases = [
        (dict(base, max_keys=-5), "max_keys must be a positive number"),
        (dict(base, max_keys=0), "max_keys must be a positive number"),
        (dict(base, layout="sark_v3"), "layout"),
        (dict(base, scan_count=0), "scan_count"),
        (dict(redis_args(redis_server, "runbook", state="absent")), "needs session_id, user_id"),
        (dict(base, operation="revoke"), "operation"),
        (dict(base, scope="all", force=True), "drop user_id"),
        (dict(base, layout_templates={"session_key": "sess:{session_id}"}), "placeholders"),
        (dict(base, layout_templates={"no_such_key": "x"}), "unknown template"),
    ]
    for args, message in cases:
        result = run("sark_session", args)
        assert result.failed and message in result["msg"], (args, result["msg"])
    assert keys_matching(redis_client, "*") == before


def test_wrong_key_types_are_refused(run, redis_server, redis_client):
    redis_client.set("session:user:u1:s1", "a string, not the runbook's hash")
    result = run("sark_session", redis_args(redis_server, "runbook", state="absent", user_id="u1", session_id="s1"))
    assert result.failed and "is a Redis string" in result["msg"] and "hash" in result["msg"]
    assert redis_client.get("session:user:u1:s1")

    redis_client.set("user_sessions:u2", "not a set")
    redis_client.set("session:s2", json.dumps({"user_id": "u2", "session_id": "s2"}))
    result = run("sark_session", redis_args(redis_server, "sark_v2", state="absent", user_id="u2"))
    assert result.failed and "user_sessions:u2 is a Redis string" in result["msg"]
    assert redis_client.exists("user_sessions:u2", "session:s2") == 2


def test_v2_session_of_another_user_is_not_revoked(run, redis_server, redis_client):
    seeded = seed_sessions(redis_client, "sark_v2", ["u1", "u2"], per_user=1)
    result = run("sark_session", redis_args(redis_server, "sark_v2", state="absent", user_id="u2", session_id=seeded["u1"][0]))
    assert result.failed and "belongs to user u1, not u2" in result["msg"]
    assert redis_client.exists("session:%s" % seeded["u1"][0])


def test_info_bad_input_and_scope(run, redis_server, redis_client):
    seed_three_users(redis_client, "runbook")
    before = keys_matching(redis_client, "*")
    cases = [
        (dict(max_results=0), "max_results must be 1 or more"),
        (dict(top_n=-1), "top_n must be 0 or more"),
        (dict(scope="user"), "scope=user needs user_id"),
        (dict(scope="all", user_id="u1"), "drop user_id"),
        (dict(state="absent", user_id="u1"), "state"),
    ]
    for extra, message in cases:
        result = run("sark_session_info", redis_args(redis_server, "runbook", **extra))
        assert result.failed and message in result["msg"], (extra, result["msg"])
    assert keys_matching(redis_client, "*") == before
    checked = run("sark_session_info", redis_args(redis_server, "runbook", user_id="u1"), check_mode=True)
    assert not checked.failed and not checked.changed and checked["count"] == 4
