"""sark_user and sark_user_info against the SARK simulator (both layouts, real PostgreSQL and Redis).

Each change: check mode with diff (nothing changes), real run (read back from the database and Redis),
second run (unchanged). Disabling a user or resetting its password revokes its sessions.
"""

import json

import pytest
from argon2 import PasswordHasher

# pylint: disable=wrong-import-position,redefined-outer-name

V2_JOHN = "00000000-0000-4000-8000-000000000123"


def args(sim, **extra):
    out = {"api_url": sim.url, "api_token": sim.token, "layout": sim.layout, "api_backoff": 0.01,
           "pg_host": "127.0.0.1", "pg_port": sim.pg_server.port, "pg_user": "postgres", "pg_password": "sark-test-pw",
           "pg_database": sim.sark_db, "pg_sslmode": "disable",
           "redis_host": "127.0.0.1", "redis_port": sim.redis_server.port, "redis_db": sim.redis_db}
    out.update(extra)
    return out


def info_args(sim, **extra):
    return {k: v for k, v in args(sim, **extra).items() if not k.startswith("redis_")}


def row(sim, sql, params=()):
    return sim.sql(sql, params, fetch="one")


def seed_sessions(sim, user_id, count=2):
    client = sim.redis_client()
    for n in range(count):
        sid = "sess-%s-%d" % (user_id[-3:], n)
        if sim.layout == "runbook":
            client.hset("session:user:%s:%s" % (user_id, sid), mapping={"token": "secret", "ip": "10.0.0.1"})
        else:
            client.set("session:%s" % sid, json.dumps({"session_id": sid, "user_id": user_id}), ex=3600)
            client.sadd("user_sessions:%s" % user_id, sid)
    return client


def session_count(sim, user_id):
    client = sim.redis_client()
    if sim.layout == "runbook":
        return len(list(client.scan_iter("session:user:%s:*" % user_id)))
    return sum(1 for _k in client.scan_iter("session:sess-*")) + client.exists("user_sessions:%s" % user_id)


def three_runs(run_module, module_args):
    check = run_module("sark_user", module_args, check_mode=True, diff=True)
    assert not check.failed, check.get("msg")
    assert check.changed and check["planned_actions"] and "diff" in check
    real = run_module("sark_user", module_args, diff=True)
    assert not real.failed, real.get("msg")
    assert real.changed and real["executed_actions"]
    again = run_module("sark_user", module_args)
    assert not again.failed and not again.changed, again
    for result in (check, real, again):
        if module_args.get("password"):
            assert module_args["password"] not in result["_stdout"]
    return check, real, again


def test_create_via_api_runbook(run_module, sims):
    sim = sims["runbook"]
    module_args = args(sim, name="new.user", email="new.user@example.com", password="N3w-Passw0rd!", roles=["user"])
    check, _real, _again = three_runs(run_module, module_args)
    assert check["diff"]["after"]["username"] == "new.user"
    found = row(sim, "SELECT is_active, roles, password_hash FROM users WHERE username = 'new.user'")
    assert found[0] is True and found[1] == ["user"]
    assert PasswordHasher().verify(found[2], "N3w-Passw0rd!")


def test_disable_revokes_sessions_runbook_api(run_module, sims):
    sim = sims["runbook"]
    seed_sessions(sim, "user-123")
    module_args = args(sim, name="john.doe", state="absent")
    check = run_module("sark_user", module_args, check_mode=True, diff=True)
    assert check.changed and check["sessions_revoked"] == 2 and check["diff"]["after"]["is_active"] is False
    assert session_count(sim, "user-123") == 2 and row(sim, "SELECT is_active FROM users WHERE id = 'user-123'")[0]
    real = run_module("sark_user", module_args)
    assert real.changed and real["action"] == "disabled" and real["sessions_revoked"] == 2
    assert row(sim, "SELECT is_active FROM users WHERE id = 'user-123'")[0] is False
    assert session_count(sim, "user-123") == 0
    again = run_module("sark_user", module_args)
    assert not again.changed


def test_reset_password_always_database(run_module, sims):
    sim = sims["runbook"]
    seed_sessions(sim, "user-456", 1)
    module_args = args(sim, name="jane.roe", password="Fresh-Passw0rd!", update_password="always", via="database")
    _check, real, _again = three_runs(run_module, module_args)
    assert real["password_changed"] and real["sessions_revoked"] == 1
    stored = row(sim, "SELECT password_hash FROM users WHERE id = 'user-456'")[0]
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PasswordHasher().verify(stored, "Fresh-Passw0rd!")
    assert session_count(sim, "user-456") == 0
    # on_create leaves an existing hash alone
    untouched = run_module("sark_user", dict(module_args, password="Other-Passw0rd!", update_password="on_create"))
    assert not untouched.changed and row(sim, "SELECT password_hash FROM users WHERE id = 'user-456'")[0] == stored


def test_v2_database_admin_and_disable(run_module, sims):
    sim = sims["sark_v2"]
    refused = run_module("sark_user", args(sim, email="john.doe@example.com", admin=True))
    assert refused.failed and "no users API" in refused["msg"] and "via=database" in refused["msg"]
    grant = args(sim, email="john.doe@example.com", admin=True, via="database")
    check, _real, _again = three_runs(run_module, grant)
    assert check["diff"]["before"]["is_admin"] is False and check["diff"]["after"]["is_admin"] is True
    assert row(sim, "SELECT is_admin FROM users WHERE id = %s", (V2_JOHN,))[0] is True
    seed_sessions(sim, V2_JOHN, 2)
    disable = args(sim, email="john.doe@example.com", state="absent", via="database")
    _check, real, _again = three_runs(run_module, disable)
    assert real["sessions_revoked"] == 2 and session_count(sim, V2_JOHN) == 0
    assert row(sim, "SELECT is_active FROM users WHERE id = %s", (V2_JOHN,))[0] is False


def test_v2_create_in_database(run_module, sims):
    sim = sims["sark_v2"]
    module_args = args(sim, email="ops@example.com", full_name="Ops Person", role="viewer", password="0ps-Passw0rd!", via="database")
    three_runs(run_module, module_args)
    found = row(sim, "SELECT role, full_name, hashed_password FROM users WHERE email = 'ops@example.com'")
    assert found[0] == "viewer" and found[1] == "Ops Person" and PasswordHasher().verify(found[2], "0ps-Passw0rd!")


def test_unknown_user(run_module, sims):
    sim = sims["runbook"]
    result = run_module("sark_user", args(sim, name="nobody", state="absent"))
    assert not result.failed and not result.changed and result["user"] is None and "does not exist" in result["msg"]
    info = run_module("sark_user_info", info_args(sim, name="nobody"))
    assert info["count"] == 0


@pytest.mark.parametrize("layout,via", [("runbook", "api"), ("runbook", "database"), ("sark_v2", "database")])
def test_user_info(run_module, sims, layout, via):
    sim = sims[layout]
    result = run_module("sark_user_info", info_args(sim, via=via, admin=True))
    assert not result.failed, result.get("msg")
    expected = row(sim, "SELECT count(*) FROM users WHERE is_admin")[0]
    assert result["count"] == expected >= 1 and all(u["is_admin"] for u in result["users"])
    assert "argon2" not in result["_stdout"] and "password_hash" not in result["_stdout"]
    assert "hashed_password" not in result["_stdout"]


def test_rate_limit_per_minute_runbook_api_and_database(run_module, sims):
    sim = sims["runbook"]
    before = row(sim, "SELECT rate_limit_per_minute FROM users WHERE username = 'john.doe'")[0]
    planned = run_module("sark_user", args(sim, name="john.doe", rate_limit_per_minute=10000), check_mode=True, diff=True)
    assert planned.changed and planned["diff"]["after"]["rate_limit_per_minute"] == 10000
    assert row(sim, "SELECT rate_limit_per_minute FROM users WHERE username = 'john.doe'")[0] == before
    done = run_module("sark_user", args(sim, name="john.doe", rate_limit_per_minute=10000))
    assert done.changed and row(sim, "SELECT rate_limit_per_minute FROM users WHERE username = 'john.doe'")[0] == 10000
    again = run_module("sark_user", args(sim, name="john.doe", rate_limit_per_minute=10000))
    assert not again.changed
    via_db = run_module("sark_user", args(sim, name="john.doe", rate_limit_per_minute=120, via="database"))
    assert via_db.changed and row(sim, "SELECT rate_limit_per_minute FROM users WHERE username = 'john.doe'")[0] == 120
    v2 = run_module("sark_user", args(sims["sark_v2"], email="john.doe@example.com", via="database", rate_limit_per_minute=5))
    assert v2.failed and "no per-user rate limit column" in v2["msg"]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_hard_delete_needs_force_revokes_sessions_and_is_idempotent(run_module, sims, layout):
    sim = sims[layout]
    ident = {"name": "to.delete"} if layout == "runbook" else {"email": "to.delete@example.com"}
    created = run_module("sark_user", args(sim, via="database", password="Delete-Me-123", **dict(ident, email="to.delete@example.com")))
    assert created.changed
    key_sql = "SELECT id::text FROM users WHERE " + ("username = 'to.delete'" if layout == "runbook" else "email = 'to.delete@example.com'")
    user_id = row(sim, key_sql)[0]
    client = seed_sessions(sim, user_id, 3)

    def sessions():
        if layout == "runbook":
            return len(list(client.scan_iter("session:user:%s:*" % user_id)))
        return len(list(client.scan_iter("session:sess-%s-*" % user_id[-3:])))

    refused = run_module("sark_user", args(sim, state="deleted", via="database", **ident))
    assert refused.failed and "force=true" in refused["msg"]
    via_api = run_module("sark_user", args(sim, state="deleted", force=True, **ident))
    assert via_api.failed and "via=database" in via_api["msg"]
    assert row(sim, key_sql) is not None
    planned = run_module("sark_user", args(sim, state="deleted", force=True, via="database", **ident), check_mode=True)
    assert planned.changed and planned["sessions_revoked"] == 3 and row(sim, key_sql) is not None
    assert sessions() == 3
    deleted = run_module("sark_user", args(sim, state="deleted", force=True, via="database", **ident))
    assert deleted.changed and deleted["action"] == "deleted" and deleted["sessions_revoked"] == 3
    assert row(sim, key_sql) is None and sessions() == 0
    again = run_module("sark_user", args(sim, state="deleted", force=True, via="database", **ident))
    assert not again.changed and "does not exist" in again["msg"]


def test_v2_database_writes_fill_the_orm_columns(run_module, sims):
    """SARK 2.x's users table has no database default for extra_metadata/created_at/updated_at: the module supplies them,
    and every update sets updated_at as the ORM does (a no-op run leaves it alone)."""
    sim = sims["sark_v2"]
    created = run_module("sark_user", args(sim, email="orm.user@example.com", full_name="ORM User", via="database"))
    assert not created.failed, created.get("msg")
    assert created.changed and created["msg"] == "Created user orm.user@example.com"
    meta, created_at, updated_at = row(sim, "SELECT extra_metadata::text, created_at, updated_at FROM users WHERE email = %s",
                                       ("orm.user@example.com",))
    assert meta == "{}" and created_at is not None and updated_at is not None
    renamed = run_module("sark_user", args(sim, email="orm.user@example.com", full_name="ORM User 2", via="database"))
    assert renamed.changed and renamed["msg"] == "Updated user orm.user@example.com (full_name)"
    after = row(sim, "SELECT full_name, updated_at, created_at FROM users WHERE email = %s", ("orm.user@example.com",))
    assert after[0] == "ORM User 2" and after[1] > updated_at and after[2] == created_at
    same = run_module("sark_user", args(sim, email="orm.user@example.com", full_name="ORM User 2", via="database"))
    assert not same.changed and row(sim, "SELECT updated_at FROM users WHERE email = %s", ("orm.user@example.com",))[0] == after[1]


def test_messages_say_what_was_done(run_module, sims):
    sim = sims["sark_v2"]
    email = "msg.user@example.com"
    assert run_module("sark_user", args(sim, email=email, via="database")).changed
    user_id = row(sim, "SELECT id::text FROM users WHERE email = %s", (email,))[0]
    seed_sessions(sim, user_id, 2)
    disable = args(sim, email=email, state="absent", via="database")
    planned = run_module("sark_user", disable, check_mode=True)
    assert planned["msg"] == "Would disable user %s and would revoke 2 session(s)" % email
    done = run_module("sark_user", disable)
    assert done["msg"] == "Disabled user %s and revoked 2 session(s)" % email
    seed_sessions(sim, user_id, 1)
    leftover = run_module("sark_user", disable)
    assert leftover.changed and leftover["msg"] == "User %s is already disabled; revoked 1 session(s) left over" % email
    quiet = run_module("sark_user", disable)
    assert not quiet.changed and quiet["msg"] == "User %s is already disabled and has no sessions" % email
    for result in (planned, done, leftover, quiet):
        assert "Did " not in result["msg"] and " none " not in result["msg"]


def test_no_no_log_warning_for_update_password(run_module, sims):
    result = run_module("sark_user", args(sims["runbook"], name="john.doe"))
    assert not result.failed, result.get("msg")
    assert "no_log" not in json.dumps(result.get("warnings") or []), result.get("warnings")
