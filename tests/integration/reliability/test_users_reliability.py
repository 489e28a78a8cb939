"""Proof suite, users and probes: bad input is refused with a clear message and changes nothing; Redis failing while a user
is disabled keeps and reports the database change, and a rerun converges.

Real PostgreSQL (both layouts' users tables) and a Redis of this module's own (append-only, so it can be stopped and
started again with its keys); the SARK simulator (runbook) for the API cases. Every bad-input case compares a snapshot
of the users rows of both layouts and every Redis key (type and DUMP) before and after.
"""

import socket
import threading

import psycopg2
import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import SarkSimulator, schema  # noqa: E402
from harness.servers import RedisServer  # noqa: E402

RB_DB, RB_AUDIT, V2_DB, V2_AUDIT = "rel_usr_rb", "rel_usr_rb_audit", "rel_usr_v2", "rel_usr_v2_audit"
V2_JOHN = "00000000-0000-4000-8000-000000000123"
V2_JANE = "00000000-0000-4000-8000-000000000456"


@pytest.fixture(scope="module")
def env(pg_server):
    redis = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    redis.start()
    sim = SarkSimulator("runbook", pg=pg_server, redis=redis, sark_db=RB_DB, audit_db=RB_AUDIT, seed=True)
    try:
        schema.install(pg_server, "sark_v2", sark_db=V2_DB, audit_db=V2_AUDIT)
        schema.seed(pg_server, "sark_v2", sark_db=V2_DB, audit_db=V2_AUDIT)
        sim.start()
        client = redis.client(decode_responses=True)
        client.hset("session:user:user-123:s1", mapping={"token": "secret-rb", "ip": "10.0.0.1"})
        for sid in ("v2-a", "v2-b"):
            client.set("session:%s" % sid, '{"session_id": "%s", "user_id": "%s"}' % (sid, V2_JANE), ex=3600)
            client.sadd("user_sessions:%s" % V2_JANE, sid)
        yield {"pg": pg_server, "redis": redis, "sim": sim}
    finally:
        sim.cleanup()
        redis.cleanup()


def pg_args(env, layout):
    return {"pg_host": "127.0.0.1", "pg_port": env["pg"].port, "pg_user": "postgres", "pg_password": "sark-test-pw",
            "pg_database": RB_DB if layout == "runbook" else V2_DB, "pg_sslmode": "disable", "layout": layout}


def redis_args(env):
    return {"redis_host": "127.0.0.1", "redis_port": env["redis"].port, "redis_connect_timeout": 2, "redis_socket_timeout": 2}


def user_args(env, layout, via="database", **extra):
    out = dict(pg_args(env, layout), via=via, api_url=env["sim"].url, api_token=env["sim"].token, api_backoff=0.01,
               **redis_args(env))
    out.update(extra)
    return out


def query(env, dbname, sql, params=None):
    conn = psycopg2.connect(env["pg"].dsn(dbname))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def snapshot(env):
    """Every users row of both layouts and every Redis key with its type and DUMP."""
    client = env["redis"].client()
    keys = sorted(client.scan_iter(count=1000))
    return {"runbook": query(env, RB_DB, "SELECT row_to_json(u)::text FROM users u ORDER BY id"),
            "sark_v2": query(env, V2_DB, "SELECT row_to_json(u)::text FROM users u ORDER BY id"),
            "redis": [(k, client.type(k), client.dump(k)) for k in keys]}


def expect_refused(run_module, env, module, module_args, *fragments):
    before = snapshot(env)
    result = run_module(module, module_args)
    assert result.failed, result
    for fragment in fragments:
        assert fragment in result["msg"], (fragment, result["msg"])
    assert not result.changed
    assert snapshot(env) == before, "the refused call changed rows or keys"
    return result


# ---------------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("email", ["not-an-email", "john.doe@example.com'; DROP TABLE users; --",
                                   "x' OR '1'='1@example.com", "a b@example.com", "jane@example..com", "a" * 250 + "@ex.com"])
def test_sark_user_refuses_invalid_email(run_module, env, email):
    expect_refused(run_module, env, "sark_user", user_args(env, "sark_v2", email=email, admin=True), "is not a valid e-mail address",
                   "nothing was changed")
    assert query(env, V2_DB, "SELECT to_regclass('users') IS NOT NULL")[0][0]


@pytest.mark.parametrize("name", ["o'brien", "john.doe; DROP TABLE users", "john.doe' --", 'x"y', "john doe", "", "a\nb"])
def test_sark_user_refuses_usernames_with_quotes_semicolons_and_spaces(run_module, env, name):
    expect_refused(run_module, env, "sark_user", user_args(env, "runbook", name=name, state="absent"), "is not a valid username")


def test_sark_user_info_refuses_injection_in_filters_and_searches_literally(run_module, env):
    info = {k: v for k, v in user_args(env, "runbook").items() if not k.startswith("redis_")}
    expect_refused(run_module, env, "sark_user_info", dict(info, name="' OR '1'='1"), "is not a valid username")
    expect_refused(run_module, env, "sark_user_info", dict(info, email="x@example.com' OR 1=1 --"), "is not a valid e-mail address")
    expect_refused(run_module, env, "sark_user_info", dict(info, role="admin'; --"), "is not a valid role name")
    # % and _ are plain characters in a search: "%" finds no user instead of every user
    wildcard = run_module("sark_user_info", dict(info, search="%"))
    assert not wildcard.failed and wildcard["count"] == 0, wildcard.get("users")
    assert run_module("sark_user_info", dict(info, search="john"))["count"] == 1


@pytest.mark.parametrize("extra,fragment", [
    ({"admin": "maybe"}, "admin"),
    ({"rate_limit_per_minute": "many"}, "rate_limit_per_minute"),
    ({"roles": {"a": 1}}, "roles"),
    ({"state": "gone"}, "state"),
])
def test_sark_user_refuses_wrong_types(run_module, env, extra, fragment):
    result = expect_refused(run_module, env, "sark_user", user_args(env, "runbook", name="john.doe", **extra), fragment)
    assert "this is a sark.ops bug" not in result["msg"]


@pytest.mark.parametrize("module,extra,fragment", [
    ("sark_user", {"rate_limit_per_minute": -5}, "rate_limit_per_minute must be between 1 and 1000000, got -5"),
    ("sark_user", {"rate_limit_per_minute": 10 ** 12}, "rate_limit_per_minute must be between 1 and 1000000"),
    ("sark_user_info", {"max_results": 0}, "max_results must be between 1 and 1000, got 0"),
    ("sark_user_info", {"max_results": 10 ** 9}, "max_results must be between 1 and 1000"),
    ("sark_user_info", {"limit": 10}, "limit"),
    ("sark_audit_info", {"window_hours": -1}, "window_hours must be between 1 and 2160, got -1"),
    ("sark_audit_info", {"critical_limit": 10 ** 7}, "critical_limit must be between 0 and 1000"),
    ("sark_contract_info", {"sources": ["postgres"], "redis_sample_size": 0}, "redis_sample_size 1-100000"),
    ("sark_contract_info", {"sources": ["postgres"], "redis_scan_count": 10 ** 9}, "redis_scan_count must be 10-100000"),
])
def test_negative_and_huge_caps_are_refused(run_module, env, module, extra, fragment):
    base = user_args(env, "runbook", name="john.doe") if module == "sark_user" else dict(pg_args(env, "runbook"))
    if module == "sark_user_info":
        base["via"] = "database"
    if module == "sark_audit_info":
        base["pg_database"] = RB_AUDIT
    expect_refused(run_module, env, module, dict(base, **extra), fragment)


def test_unknown_role_and_several_roles_on_sark_v2_are_refused(run_module, env):
    expect_refused(run_module, env, "sark_user", user_args(env, "runbook", name="john.doe", roles=["user", "amdin"]),
                   "Unknown role amdin", "force: true")
    expect_refused(run_module, env, "sark_user", user_args(env, "sark_v2", email="john.doe@example.com", role="develper"),
                   "Unknown role develper")
    expect_refused(run_module, env, "sark_user", user_args(env, "sark_v2", email="john.doe@example.com", roles=["admin", "viewer"]),
                   "exactly one role")
    expect_refused(run_module, env, "sark_user", user_args(env, "runbook", name="john.doe", role="Admin User"), "is not a valid role name")
    expect_refused(run_module, env, "sark_user", user_args(env, "sark_v2", email="john.doe@example.com", full_name="John\x1bDoe"),
                   "control characters")


@pytest.mark.parametrize("token_kind", ["expired", "malformed", "wrong_secret"])
def test_bad_tokens_change_nothing(run_module, env, token_kind):
    sim = env["sim"]
    token = {"expired": sim.make_token(ttl=-60), "malformed": "not.a.jwt",
             "wrong_secret": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLWFkbWluIn0.c2lnbmF0dXJl"}[token_kind]
    disable = user_args(env, "runbook", via="api", name="john.doe", state="absent", api_token=token)
    result = expect_refused(run_module, env, "sark_user", disable, "401")
    assert token not in result["_stdout"]
    info_args = {k: v for k, v in user_args(env, "runbook", via="api").items() if not k.startswith("redis_")}
    info = expect_refused(run_module, env, "sark_user_info", dict(info_args, api_token=token), "401")
    assert token not in info["_stdout"]


def test_unreachable_hosts_are_reported_not_crashed(run_module, env):
    dead = {"api_url": "http://127.0.0.1:1", "api_timeout": 3, "api_retries": 0}
    health = run_module("sark_health", dict(dead, api_token="x"))
    assert not health.failed and health["is_available"] is False and health["verdict"] == "unavailable", health
    assert "Cannot reach the SARK API at http://127.0.0.1:1/health/detailed" in health["error"]
    strict = expect_refused(run_module, env, "sark_health", dict(dead, api_token="x", fail_on_unhealthy=True), "unavailable")
    assert "this is a sark.ops bug" not in strict["msg"]
    expect_refused(run_module, env, "sark_user", dict(user_args(env, "runbook", via="api", name="john.doe", state="absent"), **dead),
                   "127.0.0.1:1")
    pg_down = expect_refused(run_module, env, "sark_user", dict(user_args(env, "sark_v2", email="jane.roe@example.com", state="absent"),
                                                                pg_port=1), "Cannot connect to PostgreSQL at", "port 1")
    assert "Check pg_host/pg_port" in pg_down["msg"]
    contract = expect_refused(run_module, env, "sark_contract_info", dict(dead, sources=["api", "redis"], redis_port=1),
                              "No source could be probed")
    assert set(contract["errors"]) == {"api", "redis"}


# ---------------------------------------------------------------------------------------------------- faults

def test_redis_down_while_disabling_a_user_keeps_and_reports_the_change(run_module, env):
    """The database change is kept and reported (changed, partial, done/not_done); the revocation is reported not done;
    once Redis is back a rerun revokes the sessions and a third run changes nothing."""
    redis, email = env["redis"], "jane.roe@example.com"
    disable = user_args(env, "sark_v2", email=email, state="absent")
    assert query(env, V2_DB, "SELECT is_active FROM users WHERE id = %s", (V2_JANE,))[0][0] is True
    redis.stop()
    try:
        failed = run_module("sark_user", disable)
    finally:
        redis.start()
    assert failed.failed and failed.changed and failed["partial"] is True, failed
    assert "was changed in the database (is_active=false), but its sessions were NOT revoked" in failed["msg"]
    assert "Run this task again once Redis is reachable" in failed["msg"]
    assert "TLS" not in failed["msg"] and "tls" not in failed["msg"]
    assert failed["done"] == ["is_active=false"] and "revoke the sessions" in failed["not_done"][0]
    assert failed["sessions_revoked"] == 0 and [a["action"] for a in failed["executed_actions"]] == ["update"]
    assert query(env, V2_DB, "SELECT is_active FROM users WHERE id = %s", (V2_JANE,))[0][0] is False
    client = redis.client(decode_responses=True)
    assert client.scard("user_sessions:%s" % V2_JANE) == 2  # not revoked (append-only Redis kept them over the restart)

    rerun = run_module("sark_user", disable)
    assert not rerun.failed and rerun.changed and rerun["sessions_revoked"] == 2, rerun
    assert rerun["msg"] == "User %s is already disabled; revoked 2 session(s) left over" % email
    assert not client.exists("user_sessions:%s" % V2_JANE, "session:v2-a", "session:v2-b")
    third = run_module("sark_user", disable)
    assert not third.failed and not third.changed


class DyingRedis:
    """Answers the connection handshake (CLIENT SETNAME, PING) and then resets the connection: a peer that dies mid-run."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    upper = data.upper()
                    if b"PING" in upper:
                        conn.sendall(b"+PONG\r\n")
                    elif b"CLIENT" in upper or b"SELECT" in upper:
                        conn.sendall(b"+OK\r\n")
                    else:
                        # RST instead of FIN: the client sees "Connection reset by peer"
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        break

    def close(self):
        self.sock.close()


def test_connection_lost_after_the_change_says_what_was_done_and_blames_no_tls(run_module, env):
    email = "john.doe@example.com"
    dying = DyingRedis()
    try:
        failed = run_module("sark_user", dict(user_args(env, "sark_v2", email=email, state="absent"), redis_port=dying.port))
    finally:
        dying.close()
    assert failed.failed and failed.changed and failed["done"] == ["is_active=false"], failed
    assert "could not be reached or closed the connection" in failed["msg"], failed["msg"]
    assert "TLS" not in failed["msg"]
    assert query(env, V2_DB, "SELECT is_active FROM users WHERE id = %s", (V2_JOHN,))[0][0] is False
    again = run_module("sark_user", user_args(env, "sark_v2", email=email, state="absent"))
    assert not again.failed and not again.changed and again["msg"] == "User %s is already disabled and has no sessions" % email
