"""sark_cache against a real Redis: decisions, versions, prefix, pattern, FLUSHDB, caps and bad input."""

import pytest

from harness.redis_seed import (
    count_keys,
    keys_matching,
    redis_args,
    run_three_ways,
    seed_decisions,
    seed_sessions,
    seed_versions,
)


@pytest.fixture(scope="module")
def run(run_module):
    return run_module


def seed_all(client):
    decisions = seed_decisions(client, 60, users=("user-1", "user-2", "user-3"))
    versions = seed_versions(client)
    seed_sessions(client, "runbook", ["u1", "u2"], per_user=2)
    client.set("policy_note", "not under policy:")
    return decisions, versions


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_clear_all_decisions(run_module, run, redis_server, redis_client, layout):
    _decisions, versions = seed_all(redis_client)
    args = redis_args(redis_server, layout, target="decisions")
    check = run_module("sark_cache", args, check_mode=True, diff=True)
    assert check.changed and check["matched"] == 60 and check["removed"] == 0 and len(check["sample"]) == 10
    assert check["diff"] == {"before": {"keys": 60}, "after": {"keys": 0}, "before_header": "policy:decision:*:*:*:*",
                             "after_header": "policy:decision:*:*:*:*"}
    assert count_keys(redis_client, "policy:decision:*") == 60
    real = run("sark_cache", args)
    assert real.changed and real["removed"] == 60 and real["progress"]["engine"] == "script"
    again = run("sark_cache", args)
    assert not again.changed and again["matched"] == 0
    assert count_keys(redis_client, "policy:decision:*") == 0
    assert redis_client.exists(*versions) == 3 and count_keys(redis_client, "session:*") == 4


def test_clear_decisions_of_a_user_and_action(run, redis_server, redis_client):
    decisions, _versions = seed_all(redis_client)
    mine = [k for k in decisions if k.startswith("policy:decision:user-2:tool:invoke:")]
    check, real, again = run_three_ways(run, "sark_cache", redis_args(redis_server, target="decisions", user_id="user-2",
                                                                      decision_action="tool:invoke"))
    assert check["matched"] == len(mine) == real["removed"] and len(mine) == 10 and not again.changed
    assert check["pattern"] == "policy:decision:user-2:tool:invoke:*:*"
    assert count_keys(redis_client, "policy:decision:*") == 50 and redis_client.exists(*mine) == 0
    by_resource = run("sark_cache", redis_args(redis_server, target="decisions", resource="tool-3"))
    assert by_resource["removed"] == len([k for k in decisions if ":tool-3:" in k and k not in mine])


def test_versions(run, redis_server, redis_client):
    _decisions, versions = seed_all(redis_client)
    check, real, again = run_three_ways(run, "sark_cache", redis_args(redis_server, target="versions", policy="server_access"))
    assert check["matched"] == 1 and real["removed"] == 1 and not again.changed
    assert not redis_client.exists("policy:version:server_access") and redis_client.exists(*versions[1:]) == 2
    every = run("sark_cache", redis_args(redis_server, target="versions"))
    assert every["removed"] == 2 and count_keys(redis_client, "policy:*") == 60
    v2 = run("sark_cache", redis_args(redis_server, "sark_v2", target="versions"))
    assert not v2.changed and "no policy:version" in v2["not_in_layout"] and "no policy:version" in v2["msg"]


def test_prefix_and_pattern(run, redis_server, redis_client):
    seed_all(redis_client)
    redis_client.set("weird*prefix:1", "x")
    redis_client.set("weirdXprefix:1", "x")
    check, real, again = run_three_ways(run, "sark_cache", redis_args(redis_server, target="prefix", prefix="policy:"))
    assert check["matched"] == 63 and real["removed"] == 63 and not again.changed
    assert redis_client.get("policy_note") == b"not under policy:"
    literal = run("sark_cache", redis_args(redis_server, target="prefix", prefix="weird*"))
    assert literal["removed"] == 1 and redis_client.exists("weirdXprefix:1")  # '*' in a prefix is literal

    glob = run("sark_cache", redis_args(redis_server, target="pattern", pattern="session:user:u?:*"))
    assert glob["removed"] == 4 and count_keys(redis_client, "session:*") == 0


def test_wildcard_only_and_flushdb_need_force(run, redis_server, redis_client):
    seed_all(redis_client)
    total = redis_client.dbsize()
    for args, message in [
        (redis_args(redis_server, target="pattern", pattern="*"), "wildcards only"),
        (redis_args(redis_server, target="pattern", pattern="**"), "wildcards only"),
        (redis_args(redis_server, target="pattern", pattern="?*[a-z]"), "wildcards only"),
        (redis_args(redis_server, target="pattern", pattern=""), "is empty"),
        (redis_args(redis_server, target="pattern"), "is empty"),
        (redis_args(redis_server, target="prefix", prefix=""), "non-empty prefix"),
        (redis_args(redis_server, target="prefix", prefix="*"), "no literal characters"),
        (redis_args(redis_server, target="all"), "force: true"),
        (redis_args(redis_server, target="decisions", max_keys=-10), "max_keys must be a positive number"),
        (redis_args(redis_server, target="decisions", prefix="x"), "does not use prefix"),
        (redis_args(redis_server, target="decisions", user_id=" "), "user_id is empty"),
        (redis_args(redis_server, target="decisions", layout="nope"), "layout"),
        (redis_args(redis_server, target="decisions", action="tool:invoke"), "action"),
        (redis_args(redis_server, target="decisions", state="present"), "state"),
    ]:
        result = run("sark_cache", args)
        assert result.failed and message in result["msg"], (args, result["msg"])
    assert redis_client.dbsize() == total

    capped = run("sark_cache", redis_args(redis_server, target="pattern", pattern="*", force=True, max_keys=10))
    assert capped.failed and "safety cap" in capped["msg"] and capped["removed"] <= 10
    assert redis_client.dbsize() == total - capped["removed"]
    total = redis_client.dbsize()
    too_big = run("sark_cache", redis_args(redis_server, target="all", force=True, max_keys=10))
    assert too_big.failed and "FLUSHDB would remove %d keys" % total in too_big["msg"] and redis_client.dbsize() == total

    check, real, again = run_three_ways(run, "sark_cache", redis_args(redis_server, target="all", force=True))
    assert check["matched"] == total and check["removed"] == 0 and real["removed"] == total and not again.changed
    assert redis_client.dbsize() == 0


def test_cache_cap_in_check_mode_counts_everything(run, redis_server, redis_client):
    seed_decisions(redis_client, 120)
    result = run("sark_cache", redis_args(redis_server, target="decisions", max_keys=50), check_mode=True)
    assert result.failed and result["matched"] == 120 and "at least 120" in result["msg"]
    result = run("sark_cache", redis_args(redis_server, target="decisions", max_keys=50, scan_count=10))
    assert result.failed and 0 < result["removed"] <= 50
    assert count_keys(redis_client, "policy:decision:*") == 120 - result["removed"]
    assert len(keys_matching(redis_client, "policy:decision:*")) == 120 - result["removed"]
