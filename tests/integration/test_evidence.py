"""sark_evidence against the SARK simulator's real PostgreSQL and Redis (both layouts): check mode collects nothing,
the real run writes the principal's keys, the RDB and its audit events and seals them (sha256sum -c agrees), the
second run changes nothing, a tampered file is caught, and bad input is refused before anything is written."""

import json
import os
import subprocess

import pytest

MODULE = "sark_evidence"


def args(sim, directory, **extra):
    out = {"dir": directory, "layout": sim.layout, "incident_id": "INC-test-security",
           "pg_host": "127.0.0.1", "pg_port": sim.pg_server.port, "pg_user": "postgres", "pg_password": "sark-test-pw",
           "pg_sslmode": "disable", "audit_database": sim.audit_db,
           "redis_host": "127.0.0.1", "redis_port": sim.redis_server.port, "redis_db": sim.redis_db}
    out.update(extra)
    return out


def busiest_user(sim):
    """The user with the most audit events in the last day, and that count (read independently of the module)."""
    column = "time" if sim.layout == "runbook" else "timestamp"
    row = sim.sql("SELECT user_id::text, count(*) FROM audit_events WHERE user_id IS NOT NULL AND %s >= now() - interval '24 hours'"
                  " GROUP BY 1 ORDER BY 2 DESC LIMIT 1" % column, audit=True, fetch="one")
    return row[0], int(row[1])


def seed_user_keys(sim, user_id):
    """Two sessions (with tokens) and a rate-limit key of the user, plus a look-alike of another user."""
    client = sim.redis_client()
    client.flushdb()
    tokens = []
    for n in range(2):
        sid = "sess-evidence-%d" % n
        token = "tok-evidence-secret-%d" % n
        tokens.append(token)
        if sim.layout == "runbook":
            client.hset("session:user:%s:%s" % (user_id, sid), mapping={"user_id": user_id, "token": token, "ip_address": "203.0.113.7"})
            client.hset("session:user:%s-other:%s" % (user_id, sid), mapping={"token": "x"})
        else:
            client.set("session:%s" % sid, json.dumps({"session_id": sid, "user_id": user_id, "ip_address": "203.0.113.7",
                                                       "metadata": {"refresh_token": token}}), ex=3600)
            client.sadd("user_sessions:%s" % user_id, sid)
    if sim.layout == "runbook":
        client.set("ratelimit:user:%s:2026-12-01-10" % user_id, 42, ex=3600)
    else:
        client.zadd("rate_limit:user:%s" % user_id, {"r1": 1.0, "r2": 2.0})
    return tokens


def read_jsonl(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_check_real_second_run_and_tamper(run_module, sims, tmp_path, layout):
    sim = sims[layout]
    user_id, events = busiest_user(sim)
    assert events > 0
    tokens = seed_user_keys(sim, user_id)
    directory = str(tmp_path / layout / "evidence")
    # something written there before (a database dump) is sealed too
    module_args = args(sim, directory, user_id=user_id)

    check = run_module(MODULE, module_args, check_mode=True)
    assert not check.failed, check["msg"]
    assert check.changed and not os.path.exists(directory)
    assert check["redis_keys"]["count"] == 3 + (layout == "sark_v2") and check["audit_events"]["events"] == events
    assert [a["action"] for a in check["planned_actions"]] == ["write", "bgsave", "write"]

    os.makedirs(os.path.join(directory, "db"))
    with open(os.path.join(directory, "db", "sark.dump"), "wb") as handle:
        handle.write(b"PGDMP pretend dump")
    real = run_module(MODULE, module_args)
    assert not real.failed, real["msg"]
    assert real.changed and real["sealed"] and real["verification"]["ok"]
    kept = read_jsonl(os.path.join(directory, "redis-keys.jsonl"))
    assert sorted(k["kind"] for k in kept) == sorted(["session", "session", "rate_limit"] + (["session"] if layout == "sark_v2" else []))
    assert all(user_id in k["key"] or k["type"] == "string" for k in kept)
    assert not any("-other:" in k["key"] for k in kept)
    audit = read_jsonl(os.path.join(directory, "audit-events.jsonl"))
    assert len(audit) == events and {str(e["user_id"]) for e in audit} == {user_id}
    assert real["redis_rdb"]["copied"] and os.path.getsize(os.path.join(directory, "redis-dump.rdb")) > 0
    files = sorted(f["path"] for f in real["manifest"]["files"])
    assert files == ["audit-events.jsonl", "db/sark.dump", "redis-dump.rdb", "redis-keys.jsonl"]
    # the seal is the standard format: sha256sum -c agrees
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=directory, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    texts = "".join(open(os.path.join(directory, f), encoding="utf-8", errors="replace").read() for f in files if f.endswith(".jsonl"))
    for token in tokens:
        assert token not in texts and token not in real["_stdout"]
    assert oct(os.stat(directory).st_mode & 0o777) == "0o700"
    assert oct(os.stat(os.path.join(directory, "SHA256SUMS")).st_mode & 0o777) == "0o600"

    sums_before = open(os.path.join(directory, "SHA256SUMS"), encoding="utf-8").read()
    again = run_module(MODULE, module_args)
    assert not again.failed and not again.changed, again["msg"]
    assert open(os.path.join(directory, "SHA256SUMS"), encoding="utf-8").read() == sums_before

    verified = run_module(MODULE, {"dir": directory, "state": "verified"})
    assert not verified.failed and not verified.changed and verified["verification"]["ok"]

    with open(os.path.join(directory, "audit-events.jsonl"), "a", encoding="utf-8") as handle:
        handle.write("{}\n")
    tampered = run_module(MODULE, {"dir": directory, "state": "verified"})
    assert not tampered.failed and tampered["verification"]["mismatched"] == ["audit-events.jsonl"]
    assert not tampered["verification"]["ok"]
    refused = run_module(MODULE, module_args)
    assert refused.failed and "does not verify" in refused["msg"] and not refused.changed


def test_bad_input_writes_nothing(run_module, sims, tmp_path):
    sim = sims["runbook"]
    directory = str(tmp_path / "bad")
    no_principal = run_module(MODULE, args(sim, directory))
    assert no_principal.failed and "user_id or server_id is required" in no_principal["msg"]
    wildcard = run_module(MODULE, args(sim, directory, user_id="user-*"))
    assert wildcard.failed and "plain id" in wildcard["msg"]
    window = run_module(MODULE, args(sim, directory, user_id="u1", audit_window_hours=0))
    assert window.failed and "audit_window_hours" in window["msg"]
    assert not os.path.exists(directory)
    in_the_way = tmp_path / "file"
    in_the_way.write_text("x")
    blocked = run_module(MODULE, args(sim, str(in_the_way), user_id="u1"))
    assert blocked.failed and "not a directory" in blocked["msg"]
    capped = run_module(MODULE, args(sim, str(tmp_path / "capped"), user_id=busiest_user(sim)[0], max_events=1, collect=["audit_events"]))
    assert capped.failed and "max_events" in capped["msg"]
    assert not os.path.exists(str(tmp_path / "capped" / "manifest.json"))


def test_rdb_only_twice_within_a_second(run_module, sims, tmp_path):
    """Two snapshots back to back (LASTSAVE may not move within one second: rdb_saves tells them apart)."""
    sim = sims["runbook"]
    for n in range(2):
        directory = str(tmp_path / ("rdb-%d" % n))
        result = run_module(MODULE, args(sim, directory, collect=["redis_rdb"], rdb_timeout=5))
        assert not result.failed, result["msg"]
        assert result["redis_rdb"]["copied"] and [f["path"] for f in result["manifest"]["files"]] == ["redis-dump.rdb"]
        assert "redis_keys" not in result and "audit_events" not in result
