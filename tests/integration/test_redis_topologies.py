"""The Redis data-plane modules on a real 3-primary Redis Cluster, over TLS with a generated CA, and as ACL users."""

import pytest

from harness.redis_seed import (
    BREAKER_KEYS,
    count_keys,
    run_three_ways,
    seed_decisions,
    seed_ratelimits,
    seed_sessions,
    seed_siem,
    set_breaker,
)
from harness.servers import RedisCluster, RedisServer, make_tls_material

ADMIN_PW = "adm1n-Secret-pw"
OPS_PW = "ops-Secret-pw"
NOSCRIPT_PW = "noscript-Secret-pw"


@pytest.fixture(scope="module")
def run(run_module):
    return run_module


@pytest.fixture(scope="module")
def cluster():
    with RedisCluster(primaries=3) as started:
        yield started


@pytest.fixture()
def cluster_client(cluster):
    from redis.cluster import RedisCluster as ClusterClient  # pylint: disable=import-outside-toplevel
    client = ClusterClient(host="127.0.0.1", port=cluster.port)
    client.flushall(target_nodes=ClusterClient.PRIMARIES)
    yield client
    client.close()


def cluster_args(cluster, layout="runbook", **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": cluster.port, "redis_cluster": True, "layout": layout}
    args.update(extra)
    return args


def keys_per_node(cluster, pattern):
    return [count_keys(node.client(), pattern) for node in cluster.nodes]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_cluster_sessions(run, cluster, cluster_client, layout):
    seed_sessions(cluster_client, layout, ["u%d" % n for n in range(12)], per_user=3)
    pattern = "session:user:*" if layout == "runbook" else "session:*"
    assert all(n > 0 for n in keys_per_node(cluster, pattern))  # the sessions really are spread over the 3 primaries
    counted = run("sark_session_info", cluster_args(cluster, layout, top_n=1))
    assert counted["total"] == 36 and counted["progress"]["nodes"] == 3 and counted["top_users"][0]["sessions"] == 3
    assert run("sark_session_info", cluster_args(cluster, layout, user_id="u4"))["user_sessions"] == 3

    check, real, again = run_three_ways(run, "sark_session", cluster_args(cluster, layout, state="absent", user_id="u4"))
    assert check["sessions"] == 3 and real["sessions"] == 3 and not again.changed
    assert count_keys(cluster_client, pattern, "hash" if layout == "runbook" else "string") == 33

    for engine in ("client", "script"):
        # each engine gets a cluster with sessions on every primary, and must leave none on any of them
        cluster_client.flushall(target_nodes=cluster_client.PRIMARIES)
        seed_sessions(cluster_client, layout, ["u%d" % n for n in range(12)], per_user=3)
        sessions, indexes = keys_per_node(cluster, "session:*"), keys_per_node(cluster, "user_sessions:*")
        assert all(n > 0 for n in sessions) and sum(sessions) == 36, sessions
        logout = run("sark_session", cluster_args(cluster, layout, state="absent", scope="all", force=True, engine=engine,
                                                  scan_count=10))
        assert not logout.failed, logout["msg"]
        assert logout["progress"]["nodes"] == 3 and logout["progress"]["engine"] == engine
        assert logout.changed and logout["removed"] == sum(sessions) + sum(indexes), (engine, logout["removed"], sessions, indexes)
        assert keys_per_node(cluster, "session:*") == [0, 0, 0] and keys_per_node(cluster, "user_sessions:*") == [0, 0, 0], engine


def test_cluster_cache_ratelimit_siem(run, cluster, cluster_client, tmp_path):
    seed_decisions(cluster_client, 90, users=("user-1", "user-2", "user-3"))
    check, real, again = run_three_ways(run, "sark_cache", cluster_args(cluster, target="decisions", user_id="user-1"))
    assert check["matched"] == 30 and real["removed"] == 30 and not again.changed
    assert count_keys(cluster_client, "policy:decision:*") == 60
    flushed = run("sark_cache", cluster_args(cluster, target="all", force=True))
    assert flushed["removed"] == 60 and flushed["progress"]["nodes"] == 3

    seed_ratelimits(cluster_client, "sark_v2", [("user", "u%d" % n, 5) for n in range(20)])
    reset = run("sark_ratelimit", cluster_args(cluster, "sark_v2", state="absent", scope="all", force=True))
    assert reset["removed"] == 20 and count_keys(cluster_client, "rate_limit:*") == 0

    # siem:event_queue and siem:failed_events live in different hash slots: requeue goes through a staging list
    seed_siem(cluster_client, queued=2, failed=12)
    check, real, again = run_three_ways(run, "sark_siem_queue", cluster_args(cluster, state="requeue", batch_size=5))
    assert check["moved"] == 12 and real["moved"] == 12 and not again.changed
    assert cluster_client.llen("siem:event_queue") == 14 and cluster_client.llen("siem:failed_events") == 0
    exported = run("sark_siem_queue", cluster_args(cluster, state="export", path=str(tmp_path / "q.jsonl")))
    assert exported["moved"] == 14 and cluster_client.llen("siem:event_queue") == 0

    set_breaker(cluster_client, "splunk", "open", 5)
    set_breaker(cluster_client, "global", "open", 9)
    before = {key: cluster_client.get(key) for name in ("global", "splunk") for key in BREAKER_KEYS[name]}
    assert before[BREAKER_KEYS["splunk"][0]] == b"open" and before[BREAKER_KEYS["global"][1]] == b"9"
    check = run("sark_siem_breaker", cluster_args(cluster, state="closed", current_state="open"), check_mode=True, diff=True)
    assert not check.failed and check.changed, check
    assert check["reset"] == ["global", "splunk"], check
    assert {key: cluster_client.get(key) for key in before} == before  # check mode changed no breaker
    check, real, again = run_three_ways(run, "sark_siem_breaker", cluster_args(cluster, state="closed", current_state="open"))
    assert check["reset"] == ["global", "splunk"] and check.changed
    assert real["reset"] == ["global", "splunk"] and real.changed and not again.changed and again["reset"] == []
    assert cluster_client.exists("circuit:splunk:state", "siem:circuit_breaker:failure_count") == 0


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    material = make_tls_material(str(tmp_path_factory.mktemp("tls")))
    acl = ["default on >%s ~* &* +@all" % ADMIN_PW,
           # what the modules need, and no more: SCAN/UNLINK/scripts on the SARK keys
           "ops on >%s ~session:* ~user_sessions:* ~policy:* ~rate_limit:* ~ratelimit:* ~siem:* ~{siem:* ~circuit:* "
           "resetchannels -@all +@read +@write +@keyspace +@scripting +ping +client|setname" % OPS_PW,
           "noscript on >%s ~* resetchannels +@all -@scripting" % NOSCRIPT_PW]
    with RedisServer(tls={"cert": material["cert"], "key": material["key"], "ca": material["ca"]}, acl_users=acl) as server:
        server.material = material
        yield server


def tls_args(server, user, password, **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_tls": True,
            "redis_tls_ca_certs": server.material["ca"], "redis_username": user, "redis_password": password}
    args.update(extra)
    return args


@pytest.fixture()
def tls_client(tls_redis):
    client = tls_redis.client(ssl=True, ssl_ca_certs=tls_redis.material["ca"], password=ADMIN_PW)
    client.flushall()
    yield client
    client.close()


def test_tls_with_least_privilege_acl_user(run, tls_redis, tls_client):
    seed_sessions(tls_client, "sark_v2", ["u1", "u2"], per_user=2)
    seed_decisions(tls_client, 20)
    check, real, again = run_three_ways(run, "sark_session", tls_args(tls_redis, "ops", OPS_PW, layout="sark_v2",
                                                                      state="absent", user_id="u1"))
    assert check["sessions"] == 2 and real["removed"] == 3 and not again.changed
    cleared = run("sark_cache", tls_args(tls_redis, "ops", OPS_PW, target="decisions"))
    assert cleared["removed"] == 20 and cleared["progress"]["engine"] == "script"
    assert OPS_PW not in cleared["_stdout"] and cleared["evidence"]["requested"]["redis_password"] == "********"
    assert tls_client.dbsize() == 3  # u2's two sessions and index

    untrusted = run("sark_session_info", tls_args(tls_redis, "ops", OPS_PW, redis_tls_ca_certs=None))
    assert untrusted.failed and untrusted["error_kind"] == "tls"
    plain = run("sark_session_info", {"redis_host": "127.0.0.1", "redis_port": tls_redis.port,
                                      "redis_connect_timeout": 2, "redis_socket_timeout": 2})
    assert plain.failed and plain["error_kind"] in ("protocol", "unreachable", "timeout")
    wrong = run("sark_session_info", tls_args(tls_redis, "ops", "wrong-password"))
    assert wrong.failed and wrong["error_kind"] == "auth" and "wrong-password" not in wrong["_stdout"]


def test_acl_user_without_scripting_falls_back(run, tls_redis, tls_client):
    seed_sessions(tls_client, "runbook", ["u1", "u2"], per_user=3)
    check, real, again = run_three_ways(run, "sark_session", tls_args(tls_redis, "noscript", NOSCRIPT_PW, state="absent",
                                                                      scope="all", force=True))
    assert real["removed"] == 6 and real["progress"]["engine"] == "client" and not again.changed
    forced = run("sark_cache", tls_args(tls_redis, "noscript", NOSCRIPT_PW, target="decisions", engine="script"))
    assert forced.failed and "engine: client" in forced["msg"]


def test_acl_user_without_a_needed_permission_gets_a_clear_error(run, tls_redis, tls_client):
    seed_siem(tls_client, queued=3)
    tls_client.set("other:key", "x")
    result = run("sark_cache", tls_args(tls_redis, "ops", OPS_PW, target="prefix", prefix="other:"))
    assert result.failed and result["error_kind"] == "auth" and "may not do what" in result["msg"], result["msg"]
    assert tls_client.get("other:key") == b"x"
