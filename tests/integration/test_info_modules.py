"""sark_redis_info, sark_pg_info and sark_health against real servers (and the SARK simulator)."""

import os
import threading
import time

import pytest

from harness.sarksim import SarkSimulator
from harness.servers import PostgresServer, RedisCluster, RedisServer, free_port, make_tls_material, wait_for

REDIS_PW = "r3dis-Secret-pw"


@pytest.fixture(scope="module")
def auth_redis():
    with RedisServer(password=REDIS_PW, acl_users=["ops on >ops-Secret-pw ~* &* +@all"]) as server:
        yield server


def redis_args(server, **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_password": REDIS_PW}
    args.update(extra)
    return args


def assert_clean_failure(result):
    assert "Traceback" not in result["_stdout"] + result["_stderr"]
    assert "exception" not in result or "sark.ops bug" not in result.get("msg", "")


# ---------------------------------------------------------------- sark_redis_info

def test_redis_info_reports_real_figures(run_module, auth_redis):
    client = auth_redis.client()
    client.flushall()
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    with client.pipeline() as pipe:
        for i in range(250):
            pipe.set("policy:decision:u%d:read:srv:ctx" % i, "x")
        pipe.execute()
    for i in range(30):
        client.get("policy:decision:u%d:read:srv:ctx" % i)  # hits
    for i in range(10):
        client.get("missing:%d" % i)  # misses
    client.set("session:tok", "super-secret-session-token")
    info = client.info()
    result = run_module("sark_redis_info", redis_args(auth_redis, slowlog_count=128, hit_ratio_min_lookups=1))
    assert result["is_available"] and not result.get("failed")
    assert result["server"]["redis_version"] == info["redis_version"]
    assert result["keyspace"]["dbsize"] == 251
    assert result["keyspace"]["databases"]["db0"]["keys"] == 251
    assert result["stats"]["keyspace_hits"] == 30 and result["stats"]["keyspace_misses"] == 10
    assert result["stats"]["hit_ratio"] == 0.75
    assert result["memory"]["used_memory"] > 0 and "mem_fragmentation_ratio" in result["memory"]
    assert result["clients"]["connected_clients"] >= 2
    assert result["replication"]["role"] == "master"
    # the slow log shows command and key, never the value
    commands = [e["command"] for e in result["slowlog"]["entries"]]
    assert ["SET", "session:tok", "<1 more arguments masked>"] in commands
    assert "super-secret-session-token" not in result["_stdout"]
    assert REDIS_PW not in result["_stdout"]
    assert result["assessment"]["verdict"] == "ok"
    assert result["evidence"]["requested"]["redis_password"] == "********"
    client.config_set("slowlog-log-slower-than", 10000)


def test_redis_info_hit_ratio_assessment(run_module, auth_redis):
    client = auth_redis.client()
    client.config_resetstat()
    for i in range(10):
        client.get("nothing:%d" % i)
    result = run_module("sark_redis_info", redis_args(auth_redis, filter=["stats"], hit_ratio_min_lookups=5))
    assert result["stats"]["hit_ratio"] == 0.0
    assert result["assessment"]["verdict"] == "warning"
    assert "cache hit ratio 0.00 is below 0.70" in result["assessment"]["findings"]
    quiet = run_module("sark_redis_info", redis_args(auth_redis, filter=["stats"]))
    assert quiet["assessment"]["verdict"] == "ok"  # 10 lookups are below the default minimum of 1000


def test_redis_info_filter(run_module, auth_redis):
    result = run_module("sark_redis_info", redis_args(auth_redis, filter=["memory", "stats"]))
    assert result["subsets"] == ["memory", "stats"]
    assert "server" not in result and "slowlog" not in result
    result = run_module("sark_redis_info", redis_args(auth_redis, filter=["!slowlog", "!s*"]))
    assert result["subsets"] == ["memory", "keyspace", "clients", "replication"]
    bad = run_module("sark_redis_info", redis_args(auth_redis, filter=["memroy"]))
    assert bad.failed and "unknown subset(s) memroy" in bad["msg"] and "known subsets" in bad["msg"]


def test_redis_info_acl_user(run_module, auth_redis):
    result = run_module("sark_redis_info", redis_args(auth_redis, redis_username="ops", redis_password="ops-Secret-pw",
                                                      filter=["server"]))
    assert result["is_available"]
    wrong = run_module("sark_redis_info", redis_args(auth_redis, redis_username="ops", redis_password="nope"))
    assert not wrong["is_available"] and wrong["error_kind"] == "auth" and "'ops'" in wrong["error"]


def test_redis_info_wrong_password_wrong_port_stopped_server(run_module, auth_redis):
    wrong_pw = run_module("sark_redis_info", redis_args(auth_redis, redis_password="wrong-password"))
    assert wrong_pw["is_available"] is False and wrong_pw["error_kind"] == "auth"
    assert "redis_password" in wrong_pw["error"] and "wrong-password" not in wrong_pw["_stdout"]
    no_pw = run_module("sark_redis_info", {"redis_port": auth_redis.port})
    assert no_pw["error_kind"] == "auth" and "password" in no_pw["error"]
    wrong_port = run_module("sark_redis_info", {"redis_port": free_port()})
    assert wrong_port["is_available"] is False and wrong_port["error_kind"] == "unreachable"
    assert "Connection refused" in wrong_port["error"] and "redis_port" in wrong_port["error"]
    with RedisServer() as doomed:
        port = doomed.port
        assert run_module("sark_redis_info", {"redis_port": port})["is_available"]
    stopped = run_module("sark_redis_info", {"redis_port": port})
    assert stopped["is_available"] is False and stopped["error_kind"] == "unreachable"
    assert stopped["assessment"]["verdict"] == "critical"
    failing = run_module("sark_redis_info", {"redis_port": port, "fail_on_unavailable": True})
    assert failing.failed and "Cannot connect to Redis" in failing["msg"] and failing["error_kind"] == "unreachable"
    for result in (wrong_pw, no_pw, wrong_port, stopped, failing):
        assert_clean_failure(result)


def test_redis_info_environment_fallbacks(run_module, auth_redis):
    result = run_module("sark_redis_info", {"filter": ["server"]},
                        env={"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(auth_redis.port), "REDIS_PASSWORD": REDIS_PW})
    assert result["is_available"] and result["target"] == "redis://127.0.0.1:%d/0" % auth_redis.port
    assert result["evidence"]["requested"]["redis_password"] == "********"


def test_redis_info_tls(run_module, tmp_path):
    tls = make_tls_material(str(tmp_path / "tls"))
    with RedisServer(tls=tls) as server:
        ok = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_tls": True,
                                            "redis_tls_ca_certs": tls["ca"], "filter": ["server"]})
        assert ok["is_available"] and ok["target"].startswith("rediss://")
        mutual = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_tls": True,
                                                "redis_tls_ca_certs": tls["ca"], "redis_tls_certfile": tls["client_cert"],
                                                "redis_tls_keyfile": tls["client_key"], "filter": ["server"]})
        assert mutual["is_available"]
        untrusted = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_tls": True})
        assert untrusted["is_available"] is False and untrusted["error_kind"] == "tls"
        plain = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port,
                                               "redis_connect_timeout": 2, "redis_socket_timeout": 2})
        assert plain["is_available"] is False and plain["error_kind"] in ("protocol", "unreachable", "timeout")
        assert_clean_failure(untrusted)


def test_redis_info_cluster(run_module):
    with RedisCluster(primaries=3) as cluster:
        client = cluster.nodes[0].client()
        from redis.cluster import RedisCluster as ClusterClient  # pylint: disable=import-outside-toplevel
        cc = ClusterClient(host="127.0.0.1", port=cluster.port)
        for i in range(90):
            cc.set("session:%d" % i, "v")
        result = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": cluster.port, "redis_cluster": True,
                                                "filter": ["keyspace", "server"]})
        assert result["is_available"]
        assert len(result["nodes"]) == 3
        assert result["keyspace"]["dbsize"] == 90
        assert sum(n["keyspace"]["dbsize"] for n in result["nodes"].values()) == 90
        assert all(n["keyspace"]["dbsize"] > 0 for n in result["nodes"].values())
        assert result["server"]["redis_mode"] == "cluster"
        client.close()
        cc.close()


# ---------------------------------------------------------------- sark_pg_info

def pg_args(server, **extra):
    args = {"pg_host": "127.0.0.1", "pg_port": server.port, "pg_user": "postgres", "pg_password": "sark-test-pw",
            "pg_sslmode": "disable"}
    args.update(extra)
    return args


def test_pg_info_real_figures_connections_and_long_running(run_module, pg_server):
    pg_server.execute("DROP DATABASE IF EXISTS sarkinfo")
    pg_server.create_database("sarkinfo")
    pg_server.execute("CREATE TABLE t AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g",
                      dbname="sarkinfo")
    idle = [pg_server.connect("sarkinfo") for dummy in range(3)]
    in_tx = pg_server.connect("sarkinfo", autocommit=False)
    with in_tx.cursor() as cur:
        cur.execute("SELECT 1")  # leaves the backend idle in transaction
    sleeper = pg_server.connect("sarkinfo")
    sleeper_pid = sleeper.get_backend_pid()

    def sleep_query():
        try:
            sleeper.cursor().execute("SELECT pg_sleep(120)")
        except Exception:  # pylint: disable=broad-except
            pass  # cancelled at the end of the test, as intended

    def sleeping_for():
        rows = pg_server.execute("SELECT extract(epoch FROM now() - query_start) FROM pg_stat_activity WHERE pid = %s "
                                 "AND state = 'active' AND query = 'SELECT pg_sleep(120)'", params=(sleeper_pid,), fetch=True)
        return float(rows[0][0]) if rows else 0.0

    thread = threading.Thread(target=sleep_query, daemon=True)
    thread.start()
    try:
        # no sleep: wait (bounded) until the server has seen the query run past the threshold; it runs on until cancelled
        wait_for(lambda: sleeping_for() > 1.2, 30, "the sleeper's query running for 1.2 s")
        result = run_module("sark_pg_info", pg_args(pg_server, pg_database="sarkinfo", long_running_threshold=1))
        assert result["is_available"] and not result.get("failed")
        size = pg_server.execute("SELECT pg_database_size('sarkinfo')", fetch=True)[0][0]
        db = [d for d in result["databases"] if d["name"] == "sarkinfo"][0]
        assert abs(db["size_bytes"] - size) < 64 * 1024
        conns = result["connections"]
        assert conns["by_state"].get("idle", 0) >= 3
        assert conns["by_state"].get("idle in transaction", 0) >= 1
        assert conns["by_state"].get("active", 0) >= 2  # the sleeper and the module itself
        assert conns["by_database"]["sarkinfo"] >= 6
        assert conns["max_connections"] == 100 and conns["usage_ratio"] == round(conns["total"] / 100.0, 4)
        pids = [q["pid"] for q in result["long_running"]]
        assert sleeper_pid in pids
        sleeper_row = [q for q in result["long_running"] if q["pid"] == sleeper_pid][0]
        assert sleeper_row["query"] == "SELECT pg_sleep(120)" and sleeper_row["duration_s"] >= 1.2
        assert result["assessment"]["verdict"] == "warning"
        assert result["version"]["major"] == 15 and result["version"]["in_recovery"] is False
        assert "sark-test-pw" not in result["_stdout"]
    finally:
        pg_server.execute("SELECT pg_cancel_backend(%s)", params=(sleeper_pid,))
        thread.join(5)
        for conn in idle + [in_tx, sleeper]:
            conn.close()


def test_pg_info_replication_primary_and_standby(run_module, pg_server):
    with PostgresServer(primary=pg_server, password="sark-test-pw") as replica:
        pg_server.execute("CREATE TABLE IF NOT EXISTS repl_probe(x int)")
        pg_server.execute("INSERT INTO repl_probe VALUES (1)")
        deadline = time.time() + 10
        while time.time() < deadline and not replica.execute("SELECT count(*) FROM pg_stat_wal_receiver WHERE status='streaming'", fetch=True)[0][0]:
            time.sleep(0.1)
        primary = run_module("sark_pg_info", pg_args(pg_server, filter=["replication"]))
        assert primary["replication"]["role"] == "primary"
        assert len(primary["replication"]["replicas"]) == 1
        assert primary["replication"]["replicas"][0]["state"] == "streaming"
        standby = run_module("sark_pg_info", pg_args(replica, filter=["replication", "version"]))
        assert standby["version"]["in_recovery"] is True
        assert standby["replication"]["role"] == "standby"
        assert standby["replication"]["receiver"]["status"] == "streaming"
        assert standby["replication"]["replay_lag_bytes"] is not None
        assert standby["assessment"]["verdict"] == "ok"


def test_pg_info_wrong_password_wrong_port_stopped_server(run_module, pg_server):
    wrong_pw = run_module("sark_pg_info", pg_args(pg_server, pg_password="not-it"))
    assert wrong_pw["is_available"] is False and wrong_pw["error_kind"] == "auth"
    assert "password authentication failed" in wrong_pw["error"] and "not-it" not in wrong_pw["_stdout"]
    wrong_port = run_module("sark_pg_info", pg_args(pg_server, pg_port=free_port()))
    assert wrong_port["is_available"] is False and wrong_port["error_kind"] == "unreachable"
    missing_db = run_module("sark_pg_info", pg_args(pg_server, pg_database="no_such_db"))
    assert missing_db["error_kind"] == "config" and "pg_database" in missing_db["error"]
    with PostgresServer() as doomed:
        port = doomed.port
    stopped = run_module("sark_pg_info", {"pg_host": "127.0.0.1", "pg_port": port, "fail_on_unavailable": True})
    assert stopped.failed and "Cannot connect to PostgreSQL" in stopped["msg"] and stopped["error_kind"] == "unreachable"
    bad_filter = run_module("sark_pg_info", pg_args(pg_server, filter=["replicaton"]))
    assert bad_filter.failed and "unknown subset(s) replicaton" in bad_filter["msg"]
    negative = run_module("sark_pg_info", pg_args(pg_server, long_running_threshold=-1))
    assert negative.failed and "long_running_threshold must be 0 or more" in negative["msg"]
    reserved = run_module("sark_pg_info", pg_args(pg_server, pg_connect_params={"password": "x"}))
    assert reserved.failed and "pg_connect_params may not set password" in reserved["msg"]
    for result in (wrong_pw, wrong_port, missing_db, stopped, bad_filter, negative):
        assert_clean_failure(result)


def set_log_connections(server, value):
    """Turn connection logging on or off for new connections, and wait (bounded) until a new connection has it."""
    server.execute("ALTER SYSTEM SET log_connections = %s" % ("on" if value else "off"))
    server.execute("SELECT pg_reload_conf()")
    wait_for(lambda: server.execute("SHOW log_connections", fetch=True)[0][0] == ("on" if value else "off"), 10,
             "log_connections %s" % value)


def test_pg_info_env_fallbacks_and_application_name(run_module, pg_server):
    """Only PG* variables say where to connect; the server's own connection log shows who connected and under which
    application_name (read independently of the module's report)."""
    set_log_connections(pg_server, True)
    try:
        with open(pg_server.log_path, "rb") as handle:
            start = handle.seek(0, os.SEEK_END)
        result = run_module("sark_pg_info", {"filter": ["connections"], "pg_sslmode": "disable"},
                            env={"PGHOST": "127.0.0.1", "PGPORT": str(pg_server.port), "PGUSER": "postgres",
                                 "PGPASSWORD": "sark-test-pw"})
        with open(pg_server.log_path, "r", encoding="utf-8", errors="replace") as handle:
            handle.seek(start)
            logged = handle.read()
    finally:
        set_log_connections(pg_server, False)
    assert result["is_available"] and not result.failed, result.get("error")
    assert result["evidence"]["requested"]["pg_password"] == "********" and "sark-test-pw" not in result["_stdout"]
    authorized = [line for line in logged.splitlines() if "connection authorized:" in line]
    assert any("user=postgres database=postgres application_name=sark.ops/sark_pg_info" in line for line in authorized), logged[-2000:]


# ---------------------------------------------------------------- sark_health

@pytest.fixture(scope="module")
def sims():
    with RedisServer() as redis_rb, RedisServer() as redis_v2, PostgresServer() as pg:
        with SarkSimulator("runbook", pg=pg, redis=redis_rb, seed=True, sark_db="rb_sark", audit_db="rb_audit") as rb, \
                SarkSimulator("sark_v2", pg=pg, redis=redis_v2, seed=True, sark_db="v2_sark", audit_db="v2_audit") as v2:
            yield {"runbook": rb, "sark_v2": v2, "redis_runbook": redis_rb}


def test_health_runbook_shape(run_module, sims):
    sim = sims["runbook"]
    result = run_module("sark_health", {"api_url": sim.url, "api_token": sim.token})
    assert result["is_available"] and result["shape"] == "components" and result["layout"] == "runbook"
    assert result["components"]["database"]["healthy"] is True
    assert result["components"]["redis"]["healthy"] is True
    assert result["metrics"]["registered_servers"] >= 1
    assert result["probes"]["live"]["skipped"] and result["probes"]["ready"]["skipped"]
    assert result["probes"]["detailed"]["latency_ms"] > 0
    assert sim.token not in result["_stdout"]


def test_health_sark_v2_shape_redirect_and_opa_bug(run_module, sims):
    sim = sims["sark_v2"]
    args = {"api_url": sim.url, "api_token": sim.token, "layout": "sark_v2"}
    result = run_module("sark_health", args)
    assert result["shape"] == "dependencies"
    assert result["components"]["postgresql"]["healthy"] is True and result["components"]["postgresql"]["latency_ms"] is not None
    assert result["components"]["opa"]["healthy"] is False  # SARK 2.x always says so
    assert result["verdict"] == "unhealthy" and result["unhealthy_components"] == ["opa"]
    assert result["live"] is True
    ignoring = run_module("sark_health", dict(args, ignore_components=["opa"]))
    assert ignoring["verdict"] == "degraded" and ignoring["components"]["opa"]["ignored"]
    failing = run_module("sark_health", dict(args, fail_on_unhealthy=True))
    assert failing.failed and "unhealthy components: opa" in failing["msg"]


def test_health_sees_a_stopped_dependency(run_module, sims):
    sim = sims["runbook"]
    redis = sims["redis_runbook"]
    redis.stop()
    try:
        result = run_module("sark_health", {"api_url": sim.url, "api_token": sim.token})
        assert result["is_available"] and result["verdict"] == "unhealthy"
        assert result["components"]["redis"]["healthy"] is False
        assert result["probes"]["detailed"]["attempts"] == 1  # a 503 with a body is read, not retried
    finally:
        redis.start()


def test_health_unreachable_and_retries(run_module, sims):
    down = run_module("sark_health", {"api_url": "http://127.0.0.1:%d" % free_port()})
    assert down["is_available"] is False and down["verdict"] == "unavailable" and not down.failed
    assert "Connection refused" in down["error"]
    assert_clean_failure(down)
    failing = run_module("sark_health", {"api_url": "http://127.0.0.1:%d" % free_port(), "fail_on_unhealthy": True})
    assert failing.failed and "SARK is unavailable" in failing["msg"]
    sim = sims["runbook"]
    import httpx  # pylint: disable=import-outside-toplevel
    httpx.post(sim.url + "/_sim/faults", json={"path_prefix": "/health/detailed", "status": 502, "count": 2})
    flaky = run_module("sark_health", {"api_url": sim.url, "api_token": sim.token, "api_backoff": 0.01})
    assert flaky["is_available"] and flaky["probes"]["detailed"]["attempts"] == 3
    httpx.post(sim.url + "/_sim/faults", json={"path_prefix": "/health/detailed", "status": 502, "count": 5})
    broken = run_module("sark_health", {"api_url": sim.url, "api_retries": 1, "api_backoff": 0.01})
    assert broken["is_available"] is False and "HTTP 502" in broken["error"] and "after 1 retries" in broken["error"]
    httpx.post(sim.url + "/_sim/reset")


def test_secrets_never_in_output_at_vvv(playbook, sims, auth_redis, pg_server):
    sim = sims["runbook"]
    play = """
- name: Info modules at -vvv
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Health
      sark.ops.sark_health:
        api_url: "{{ api_url }}"
        api_token: "{{ api_token }}"
    - name: Redis
      sark.ops.sark_redis_info:
        redis_host: 127.0.0.1
        redis_port: "{{ redis_port }}"
        redis_password: "{{ redis_password }}"
    - name: Redis with a wrong password
      sark.ops.sark_redis_info:
        redis_host: 127.0.0.1
        redis_port: "{{ redis_port }}"
        redis_password: "{{ redis_password }}-wrong"
        fail_on_unavailable: true
      ignore_errors: true
    - name: PostgreSQL
      sark.ops.sark_pg_info:
        pg_host: 127.0.0.1
        pg_port: "{{ pg_port }}"
        pg_password: "{{ pg_password }}"
        pg_sslmode: disable
"""
    result = playbook(play, extravars={"api_url": sim.url, "api_token": sim.token, "redis_port": auth_redis.port,
                                       "redis_password": REDIS_PW, "pg_port": pg_server.port, "pg_password": "sark-test-pw"},
                      verbosity=3)
    assert result.status == "successful", result.stdout_text[-3000:]
    out = result.stdout_text
    assert "sark.ops.sark_pg_info" in out and "is_available" in out
    for secret in (sim.token, REDIS_PW, "sark-test-pw"):
        assert secret not in out
    events = [e for e in result.events if e.get("event") == "runner_on_ok"]
    assert len(events) == 3
    assert os.path.isdir(result.config.private_data_dir)


def test_redis_info_least_privilege_user_and_missing_permission(run_module):
    acl = ["monitor on >mon-pw ~* +ping +info +dbsize +slowlog +config|get",  # no CLIENT SETNAME
           "nothing on >no-pw ~* -@all"]
    with RedisServer(acl_users=acl) as server:
        ok = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port,
                                            "redis_username": "monitor", "redis_password": "mon-pw"})
        assert ok["is_available"] and ok["server"]["redis_version"]
        denied = run_module("sark_redis_info", {"redis_host": "127.0.0.1", "redis_port": server.port,
                                                "redis_username": "nothing", "redis_password": "no-pw"})
        assert denied["is_available"] is False and denied["error_kind"] == "auth"
        assert "lacks a permission" in denied["error"] and "'ping'" in denied["error"]
