"""sark_incident_record audit_db=true against real audit databases of both SARK layouts (PostgreSQL 15)."""

import json

import pytest

from harness.sarksim import schema

MODULE = "sark_incident_record"
DATABASES = {"runbook": ("ir_rb", "ir_rb_audit"), "sark_v2": ("ir_v2", "ir_v2_audit")}
ENTRIES = [{"id": "detect", "phase": "detection", "kind": "alert", "action": "alert received", "time": "2025-11-22T10:05:00Z"},
           {"id": "diag-pg", "phase": "diagnose", "kind": "check", "action": "connections", "status": "critical",
            "result": {"connections": 98}, "details": {"pg_password": "hunter2-secret"}}]


@pytest.fixture(scope="module")
def audit_dbs(pg_primary, pgh):
    for layout, (sark_db, audit_db) in DATABASES.items():
        pgh.drop_databases(pg_primary, (sark_db, audit_db))
        schema.install(pg_primary, layout, sark_db=sark_db, audit_db=audit_db)
    yield {layout: names[1] for layout, names in DATABASES.items()}
    pgh.drop_databases(pg_primary, [n for names in DATABASES.values() for n in names])


def rows(server, database, time_column):
    """The incident rows, read back with SQL of the test's own."""
    return server.execute(
        "SELECT %s, event_type::text, severity::text, details::text FROM audit_events "
        "WHERE (details::jsonb)->>'sark_ops_incident_id' = 'INC-DB' ORDER BY 1" % time_column, database, fetch=True)


def test_runbook_audit_table(run_module, pg_primary, pgh, audit_dbs, tmp_path):
    database = audit_dbs["runbook"]
    base = dict(pgh.connection_args(pg_primary, database), run_dir=str(tmp_path), incident_id="INC-DB", severity="P0",
                entries=ENTRIES, audit_db=True)
    others = pg_primary.execute("SELECT count(*) FROM audit_events", database, fetch=True)[0][0]
    check = run_module(MODULE, base, check_mode=True)
    assert not check.failed, check["msg"] if check.failed else check
    assert check.changed and check["audit"]["inserted"] == ["detect", "diag-pg"]
    assert [a["action"] for a in check["planned_actions"]].count("insert_audit_row") == 2
    assert rows(pg_primary, database, "time") == []

    real = run_module(MODULE, base)
    assert not real.failed and real.changed and real["audit"]["event_type"] == "announcement"
    stored = rows(pg_primary, database, "time")
    assert len(stored) == 2
    assert [(r[1], r[2]) for r in stored] == [("announcement", "critical"), ("announcement", "critical")]
    assert stored[0][0].isoformat() == "2025-11-22T10:05:00+00:00"
    details = json.loads(stored[1][3])
    assert details["sark_ops_entry_id"] == "diag-pg" and details["result"] == {"connections": 98}
    assert details["details"]["pg_password"] == "********" and "hunter2-secret" not in stored[1][3]
    actor = pg_primary.execute("SELECT DISTINCT user_id FROM audit_events WHERE (details::jsonb)->>'sark_ops_incident_id' = 'INC-DB'",
                               database, fetch=True)
    assert actor == [(real["actor"]["name"],)]

    again = run_module(MODULE, base)
    assert not again.failed and not again.changed and again["audit"]["inserted"] == []
    assert again["audit"]["already_present"] == ["detect", "diag-pg"] and len(rows(pg_primary, database, "time")) == 2
    assert pg_primary.execute("SELECT count(*) FROM audit_events", database, fetch=True)[0][0] == others + 2

    # rows lost from the table (a failed earlier write) are caught up from the timeline; the file is not touched
    pg_primary.execute("DELETE FROM audit_events WHERE (details::jsonb)->>'sark_ops_entry_id' = 'detect'", database)
    catch_up = run_module(MODULE, dict(base, entries=[]))
    assert catch_up.changed and catch_up["added"] == [] and catch_up["audit"]["inserted"] == ["detect"]
    assert len(rows(pg_primary, database, "time")) == 2


def test_sark_v2_needs_an_event_label(run_module, pg_primary, pgh, audit_dbs, tmp_path):
    database = audit_dbs["sark_v2"]
    base = dict(pgh.connection_args(pg_primary, database), run_dir=str(tmp_path), incident_id="INC-DB", severity="P1",
                entries=ENTRIES, audit_db=True, layout="sark_v2")
    refused = run_module(MODULE, base)
    assert refused.failed and "layout_templates.incident_event_type" in refused["msg"]
    assert not (tmp_path / "timeline.jsonl").exists() and rows(pg_primary, database, "timestamp") == []

    wrong = run_module(MODULE, dict(base, layout_templates={"incident_event_type": "incident_note"}))
    assert wrong.failed and "SECURITY_VIOLATION" in wrong["msg"] and rows(pg_primary, database, "timestamp") == []

    good = dict(base, layout_templates={"incident_event_type": "security_violation"})
    real = run_module(MODULE, good)
    assert not real.failed and real.changed, real.get("msg")
    stored = pg_primary.execute("SELECT id::text, event_type::text, severity::text FROM audit_events "
                                "WHERE (details::jsonb)->>'sark_ops_incident_id' = 'INC-DB' ORDER BY timestamp", database, fetch=True)
    assert [(r[1], r[2]) for r in stored] == [("SECURITY_VIOLATION", "HIGH")] * 2
    again = run_module(MODULE, good)
    assert not again.changed and len(rows(pg_primary, database, "timestamp")) == 2


def test_audit_db_errors_name_what_to_fix(run_module, pg_primary, pgh, audit_dbs, tmp_path):
    # the application database has no audit table in the runbook layout
    wrong_db = run_module(MODULE, dict(pgh.connection_args(pg_primary, DATABASES["runbook"][0]), run_dir=str(tmp_path),
                                       incident_id="INC-DB", entries=ENTRIES, audit_db=True))
    assert wrong_db.failed and "audit_events not found" in wrong_db["msg"]
    # the timeline was written before the database was asked: the result says so
    assert wrong_db["changed"] and wrong_db.get("partial") and (tmp_path / "timeline.jsonl").exists()
    bad_password = run_module(MODULE, dict(pgh.connection_args(pg_primary, audit_dbs["runbook"]), pg_password="wrong",
                                           run_dir=str(tmp_path), incident_id="INC-DB", entries=ENTRIES, audit_db=True))
    assert bad_password.failed and "rejected the login" in bad_password["msg"]
