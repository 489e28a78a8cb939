import datetime
import decimal

from ansible_collections.sark.ops.plugins.module_utils._pg_stats import assess, jsonable, mask_query

PARAMS = {"connection_warning_ratio": 0.8, "long_running_threshold": 30, "replication_lag_warning": 30}


def test_mask_query_hides_password_literals_and_truncates():
    assert mask_query("ALTER ROLE sark PASSWORD 'it''s secret'", 200) == "ALTER ROLE sark PASSWORD '********'"
    assert mask_query("select 1", 3) == "sel..."
    assert mask_query(None, 10) is None


def test_jsonable_converts_intervals_times_and_decimals():
    value = {"lag": datetime.timedelta(seconds=1, milliseconds=500), "at": datetime.datetime(2026, 1, 2, 3, 4, 5),
             "n": decimal.Decimal("1.5"), "rows": [decimal.Decimal("2")]}
    assert jsonable(value) == {"lag": 1.5, "at": "2026-01-02T03:04:05", "n": 1.5, "rows": [2.0]}


def test_assess_connections_and_replication():
    facts = {"connections": {"total": 96, "max_connections": 100, "usage_ratio": 0.96}}
    assert assess(facts, PARAMS)["verdict"] == "critical"
    facts = {"connections": {"total": 85, "max_connections": 100, "usage_ratio": 0.85}}
    assert assess(facts, PARAMS)["verdict"] == "warning"
    facts = {"replication": {"role": "standby", "receiver": {"status": "streaming"}, "replay_lag_s": 45.0}}
    result = assess(facts, PARAMS)
    assert result["verdict"] == "warning" and "45.0s" in result["findings"][0]
    facts = {"replication": {"role": "primary", "replicas": [{"application_name": "r1", "state": "catchup"}]}}
    assert assess(facts, PARAMS)["verdict"] == "critical"
    assert assess({}, PARAMS) == {"verdict": "ok", "findings": []}


def test_lock_chains_follow_the_real_queue():
    from ansible_collections.sark.ops.plugins.module_utils._pg_stats import lock_chains
    # C waits on A and B, B waits on A: one chain A -> B -> C; A is the only root and blocks both
    waiting = [{"pid": 3, "blocked_by": [1, 2]}, {"pid": 2, "blocked_by": [1]}, {"pid": 5, "blocked_by": [4]}]
    roots, chains = lock_chains(waiting, {1: {"pid": 1, "state": "idle in transaction"}})
    assert chains == [[1, 2, 3], [4, 5]]
    assert roots == [{"pid": 1, "state": "idle in transaction", "blocks": [2, 3]}, {"pid": 4, "blocks": [5]}]
    # a cycle (a deadlock about to be broken) does not loop forever
    roots, chains = lock_chains([{"pid": 1, "blocked_by": [2]}, {"pid": 2, "blocked_by": [1]}, {"pid": 3, "blocked_by": [1]}], {})
    assert chains == [[2, 1, 3]] and roots == []


def test_assess_blocking_and_bloat():
    facts = {"blocking_locks": {"waiting": [{"pid": 2, "waiting_s": 45.0}], "roots": [{"pid": 1, "state": "idle in transaction"}]},
             "bloat": [{"schema": "public", "table": "audit_events", "bloat_ratio": 0.7, "bloat_bytes": 700, "table_bytes": 1000},
                       {"schema": "public", "table": "users", "bloat_ratio": 0.1, "bloat_bytes": 1, "table_bytes": 10}]}
    result = assess(facts, PARAMS)
    assert result["verdict"] == "warning"
    assert "root blocker pid 1 (idle in transaction)" in result["findings"][0]
    assert "public.audit_events is an estimated 70% bloat" in result["findings"][1] and len(result["findings"]) == 2
    quick = {"blocking_locks": {"waiting": [{"pid": 2, "waiting_s": 1.0}], "roots": [{"pid": 1}]}}
    assert assess(quick, PARAMS)["verdict"] == "ok"
