"""sark_audit_info against real audit databases of both SARK layouts (plain PostgreSQL: TimescaleDB is not available here).

Expected values are computed in the test from the rows read back, independently of the module's SQL."""

import datetime
import statistics
import uuid

import pytest

from harness.sarksim import schema

MODULE = "sark_audit_info"
NOW_SHIFT = datetime.timedelta(hours=1)  # seeded events end an hour before now: the recent minutes are the test's own


@pytest.fixture(scope="module")
def audit(pg_primary):
    now = datetime.datetime.now(datetime.timezone.utc)
    out = {}
    for layout, (sark_db, audit_db) in {"runbook": ("au_rb", "au_rb_audit"), "sark_v2": ("au_v2", "au_v2_audit")}.items():
        for name in (sark_db, audit_db):
            pg_primary.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        schema.install(pg_primary, layout, sark_db=sark_db, audit_db=audit_db)
        seed = schema.seed(pg_primary, layout, sark_db=sark_db, audit_db=audit_db, hours=6, events_per_hour=6, gap_hour=3,
                           now=now - NOW_SHIFT)
        out[layout] = {"db": audit_db, "seed": seed}
    rb, v2 = out["runbook"]["db"], out["sark_v2"]["db"]
    pg_primary.execute("""
        INSERT INTO audit_events (time, event_type, severity, user_id, details) VALUES
          (now() - interval '5 minutes', 'security_violation', 'critical', 'user-123', '{"why": "test"}'),
          (now() - interval '4 minutes', 'security_violation', 'critical', 'user-456', %s),
          (now() - interval '3 hours', 'security_violation', 'critical', 'user-456', '{}')""", rb,
                       params=('{"blob": "%s"}' % ("y" * 5000),))
    user = str(uuid.uuid4())
    pg_primary.execute("""
        INSERT INTO audit_events (id, timestamp, event_type, severity, user_id, decision, tool_name) VALUES
          (gen_random_uuid(), now() - interval '50 minutes', 'USER_LOGIN', 'LOW', %(u)s, NULL, NULL),
          (gen_random_uuid(), now() - interval '20 minutes', 'USER_LOGOUT', 'LOW', %(u)s, NULL, NULL),
          (gen_random_uuid(), now() - interval '15 minutes', 'USER_LOGIN', 'LOW', %(u)s, NULL, NULL),
          (gen_random_uuid(), now() - interval '5 minutes', 'USER_LOGOUT', 'LOW', %(u)s, NULL, NULL),
          (gen_random_uuid(), now() - interval '2 minutes', 'SECURITY_VIOLATION', 'CRITICAL', %(u)s, NULL, NULL),
          (gen_random_uuid(), now() - interval '10 minutes', 'AUTHORIZATION_DENIED', 'MEDIUM', %(u)s, 'deny', 'read_file'),
          (gen_random_uuid(), now() - interval '11 minutes', 'AUTHORIZATION_ALLOWED', 'LOW', %(u)s, 'allow', 'read_file')""",
                       v2, params={"u": user})
    out["sark_v2"]["user"] = user
    yield out
    for name in ("au_rb", "au_rb_audit", "au_v2", "au_v2_audit", "au_v2_migrated"):
        pg_primary.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def rows(server, db, sql):
    return server.execute(sql, db, fetch=True)


def expected_hours(server, db, time_column, result_hours):
    counts = dict(rows(server, db, "SELECT date_trunc('hour', %s), count(*) FROM audit_events GROUP BY 1" % time_column))
    return [counts.get(datetime.datetime.fromisoformat(h["hour"]), 0) for h in result_hours]


def pair_sessions(events, window_start):
    """The same pairing the module promises, done in Python: a logout ends the same user's session opened just before."""
    by_user = {}
    for user, at, kind in sorted(events, key=lambda e: (str(e[0]), e[1])):
        by_user.setdefault(user, []).append((at, kind))
    durations = []
    for seq in by_user.values():
        for (prev_at, prev_kind), (at, kind) in zip(seq, seq[1:]):
            if kind == "out" and prev_kind == "in" and at >= window_start:
                durations.append((at - prev_at).total_seconds())
    return durations


def test_runbook_layout(run_module, pg_primary, pgh, audit):
    db = audit["runbook"]["db"]
    result = run_module(MODULE, dict(pgh.connection_args(pg_primary, db), layout="runbook", window_hours=6))
    assert not result.failed, result.get("msg")
    assert result["schema"]["time_column"] == "time" and result["schema"]["label_case"] == "lower"
    assert result["schema"]["labels"]["severity"] == ["low", "medium", "high", "critical"]

    hours = result["events_per_hour"]
    assert len(hours["hours"]) == 6
    expected = expected_hours(pg_primary, db, "time", hours["hours"])
    assert [h["events"] for h in hours["hours"]] == expected and hours["total"] == sum(expected)
    # the seeded gap (3 hours back from the shifted now) and the hour the shift left empty
    gap = datetime.datetime.fromisoformat(audit["runbook"]["seed"]["gap_start"])
    # the hour the shift left empty holds the test's own recent events when this runs in the first minutes of an hour,
    # so the empty hours are counted from the database itself (expected), not assumed
    empty = [h["hour"] for h, n in zip(hours["hours"], expected) if n == 0]
    assert gap.isoformat() in hours["gaps"] and hours["empty_hours"] == len(empty) and sorted(hours["gaps"]) == sorted(empty)
    assert 1 <= len(empty) <= 2
    assert hours["current_hour_so_far"] >= 0
    assert result["assessment"]["verdict"] == "warning"
    assert any("gaps" in f for f in result["assessment"]["findings"])

    severity = result["by_severity"]["counts"]
    db_counts = dict(rows(pg_primary, db, "SELECT severity::text, count(*) FROM audit_events WHERE time >= now() - interval '6 hours' "
                                          "GROUP BY 1"))
    assert {k: v for k, v in severity.items() if v} == db_counts and severity["medium"] == 0
    assert sum(result["by_type"]["counts"].values()) == result["by_type"]["total"] == sum(db_counts.values())

    crit = result["critical"]
    assert crit["count"] == 2 and crit["label"] == ["critical"] and len(crit["events"]) == 2
    assert crit["events"][0]["user_id"] == "user-456" and crit["events"][1]["details"] == {"why": "test"}
    assert crit["events"][0]["details"]["blob"].endswith("...") and len(crit["events"][0]["details"]["blob"]) == 503

    policy = result["policy_evaluations"]
    raw = rows(pg_primary, db, "SELECT policy_name, decision, duration_ms FROM policy_evaluations WHERE time >= now() - interval '6 hours'")
    assert policy["available"] and policy["source"] == "public.policy_evaluations" and policy["group_by"] == "policy_name"
    for group in policy["groups"]:
        mine = [r for r in raw if r[0] == group["name"]]
        assert group["evaluations"] == len(mine) and group["allowed"] == sum(1 for r in mine if r[1])
        assert group["denied"] == sum(1 for r in mine if not r[1])
        assert group["avg_duration_ms"] == pytest.approx(statistics.mean(r[2] for r in mine))
    assert policy["totals"]["evaluations"] == len(raw) > 0

    sessions = result["sessions"]
    durations = [r[0] for r in rows(pg_primary, db, "SELECT extract(epoch FROM logout_time - login_time)::float8 FROM audit_events "
                                                    "WHERE event_type = 'logout' AND time >= now() - interval '6 hours'")]
    assert sessions["available"] and sessions["method"] == "login_logout_columns"
    assert sessions["sessions"] == len(durations) > 0
    assert sessions["avg_s"] == pytest.approx(statistics.mean(durations)) and sessions["max_s"] == pytest.approx(max(durations))

    storage = result["storage"]
    assert storage["timescaledb"] == {"installed": False, "version": None}
    assert storage["size_bytes"] > 0 and storage["newest"] is not None


def test_sark_v2_layout(run_module, pg_primary, pgh, audit):
    db = audit["sark_v2"]["db"]
    opts = dict(pgh.connection_args(pg_primary, db), layout="sark_v2", window_hours=6, critical_minutes=30)
    result, check = pgh.run_parallel(run_module, [(MODULE, opts, None), (MODULE, opts, {"check_mode": True})])
    assert not result.failed, result.get("msg")
    assert check.changed is False and check["critical"]["count"] == result["critical"]["count"]
    assert result["schema"]["time_column"] == "timestamp" and result["schema"]["label_case"] == "upper"

    hours = result["events_per_hour"]
    assert [h["events"] for h in hours["hours"]] == expected_hours(pg_primary, db, "timestamp", hours["hours"])
    assert datetime.datetime.fromisoformat(audit["sark_v2"]["seed"]["gap_start"]).isoformat() in hours["gaps"]

    crit = result["critical"]
    assert crit["count"] == 1 and crit["label"] == ["CRITICAL"]
    assert crit["events"][0]["event_type"] == "SECURITY_VIOLATION" and crit["events"][0]["user_id"] == audit["sark_v2"]["user"]
    assert result["by_severity"]["counts"]["CRITICAL"] >= 1 and set(result["by_severity"]["counts"]) == {"LOW", "MEDIUM", "HIGH", "CRITICAL"}

    policy = result["policy_evaluations"]
    assert policy["available"] and policy["source"] == "public.audit_events" and policy["group_by"] == "tool_name"
    assert "no policy_evaluations table" in policy["note"]
    raw = rows(pg_primary, db, "SELECT coalesce(tool_name, '(none)'), decision FROM audit_events WHERE timestamp >= now() - interval '6 hours' "
                               "AND event_type IN ('AUTHORIZATION_ALLOWED', 'AUTHORIZATION_DENIED')")
    groups = {g["name"]: g for g in policy["groups"]}
    assert groups["read_file"] == {"name": "read_file", "evaluations": 2, "allowed": 1, "denied": 1, "avg_duration_ms": None,
                                   "p95_duration_ms": None, "max_duration_ms": None}
    assert policy["totals"]["evaluations"] == len(raw)
    assert policy["totals"]["denied"] == sum(1 for r in raw if r[1] == "deny")

    sessions = result["sessions"]
    assert sessions["available"] and sessions["method"] == "paired_events"
    assert sessions["labels"] == {"login": ["USER_LOGIN"], "logout": ["USER_LOGOUT"]}
    events = rows(pg_primary, db, "SELECT user_id, timestamp, CASE WHEN event_type = 'USER_LOGIN' THEN 'in' ELSE 'out' END "
                                  "FROM audit_events WHERE event_type IN ('USER_LOGIN', 'USER_LOGOUT') AND user_id IS NOT NULL")
    window_start = pg_primary.execute("SELECT now() - interval '6 hours'", fetch=True)[0][0]
    durations = pair_sessions(events, window_start)
    assert sessions["sessions"] == len(durations) >= 2
    assert sessions["avg_s"] == pytest.approx(statistics.mean(durations), abs=1)
    assert 1800 in [round(d) for d in durations] and 600 in [round(d) for d in durations]
    assert sessions["unpaired_logouts"] > 0  # the seed's logouts belong to users without a login before them


def test_lowercase_labels_from_migrations_are_matched(run_module, pg_primary, pgh):
    db = pgh.make_database(pg_primary, "au_v2_migrated")
    pg_primary.execute("""
        CREATE TYPE severitylevel AS ENUM ('low', 'medium', 'high', 'critical');
        CREATE TYPE auditeventtype AS ENUM ('user_login', 'user_logout', 'security_violation');
        CREATE TABLE audit_events (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), timestamp timestamptz NOT NULL,
                                   event_type auditeventtype NOT NULL, severity severitylevel NOT NULL, user_id uuid);
        INSERT INTO audit_events (timestamp, event_type, severity, user_id) VALUES
          (now() - interval '1 minute', 'security_violation', 'critical', NULL),
          (now() - interval '40 minutes', 'user_login', 'low', '00000000-0000-4000-8000-000000000001'),
          (now() - interval '10 minutes', 'user_logout', 'low', '00000000-0000-4000-8000-000000000001')""", db)
    result = run_module(MODULE, dict(pgh.connection_args(pg_primary, db), layout="sark_v2", filter=["critical", "sessions", "by_*"]))
    assert not result.failed, result.get("msg")
    assert result["schema"]["label_case"] == "lower"
    assert result["critical"]["count"] == 1 and result["critical"]["label"] == ["critical"]
    assert result["sessions"]["sessions"] == 1 and result["sessions"]["avg_s"] == pytest.approx(1800, abs=1)
    assert "events_per_hour" not in result and result["by_type"]["counts"]["user_login"] == 1


def test_wrong_layout_bad_filter_and_limits_fail_clearly(run_module, pg_primary, pgh, audit):
    base = pgh.connection_args(pg_primary, audit["sark_v2"]["db"])
    cases = [
        ({"layout": "runbook"}, "has no column time"),
        ({"layout": "runbook"}, "set layout: sark_v2"),
        ({"layout": "sark_v2", "pg_database": "postgres"}, "table audit_events not found in database postgres"),
        ({"layout": "sark_v2", "layout_templates": {"audit_time_column": "created_at"}}, "has no column created_at"),
    ]
    results = pgh.run_parallel(run_module, [(MODULE, dict(base, **extra), None) for extra, _message in cases])
    for (extra, message), result in zip(cases, results):
        assert result.failed and message in result["msg"], (extra, result.get("msg"))
    rb = run_module(MODULE, dict(pgh.connection_args(pg_primary, audit["runbook"]["db"]), layout="sark_v2", filter=["critical"]))
    assert rb.failed and "set layout: runbook" in rb["msg"]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_hours_before_the_first_event_are_no_gaps(run_module, pg_primary, pgh, layout):
    """A trail that began 3 hours ago has no gaps in the 21 hours before it; an empty table says nothing was ever recorded."""
    db = pgh.make_database(pg_primary, "au_first_%s" % layout.replace("_", ""))
    try:
        schema.apply_schema(pg_primary, db, layout, "sark_audit")
        opts = dict(pgh.connection_args(pg_primary, db), layout=layout, window_hours=24, filter=["events_per_hour"])
        empty = run_module(MODULE, opts)
        assert not empty.failed, empty.get("msg")
        hours = empty["events_per_hour"]
        assert hours["gaps"] == [] and hours["empty_hours"] == 0, hours["gaps"]
        assert hours["events_recorded"] is False and hours["first_event"] is None and hours["hours_before_first_event"] == 24
        assert empty["assessment"]["verdict"] == "warning"
        assert any("No audit event was ever recorded" in f for f in empty["assessment"]["findings"]), empty["assessment"]

        time_col, event, severity = ("time", "login", "low") if layout == "runbook" else ("timestamp", "USER_LOGIN", "LOW")
        extra = (", id", ", gen_random_uuid()") if layout == "sark_v2" else ("", "")
        # events 3 and 1 hours back (whole hours), none 2 hours back: that hour is the only gap
        pg_primary.execute(
            "INSERT INTO audit_events (%s, event_type, severity%s) VALUES"
            " (date_trunc('hour', now()) - interval '3 hours' + interval '10 minutes', '%s', '%s'%s),"
            " (date_trunc('hour', now()) - interval '1 hour' + interval '10 minutes', '%s', '%s'%s)"
            % (time_col, extra[0], event, severity, extra[1], event, severity, extra[1]), db)
        started = run_module(MODULE, opts)
        hours = started["events_per_hour"]
        two_back = [h["hour"] for h in hours["hours"]][-2]
        assert hours["events_recorded"] is True and hours["gaps"] == [two_back], hours["gaps"]
        assert hours["hours_before_first_event"] == 21 and hours["empty_hours"] == 1
        assert sum(1 for h in hours["hours"] if h.get("before_first_event")) == 21
        assert any("since the first recorded event" in f for f in started["assessment"]["findings"])
    finally:
        pg_primary.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
