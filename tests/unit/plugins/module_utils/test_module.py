from ansible_collections.sark.ops.plugins.module_utils._module import (
    MASK,
    Evidence,
    SarkConnectionError,
    SarkError,
    mask_secrets,
    match_filter,
    unknown_filter_entries,
)

NAMES = ["server", "memory", "keyspace", "stats", "slowlog"]


def test_filter_includes_excludes_and_wildcards():
    assert match_filter(NAMES, []) == NAMES
    assert match_filter(NAMES, ["memory", "stats"]) == ["memory", "stats"]
    assert match_filter(NAMES, ["!slowlog"]) == ["server", "memory", "keyspace", "stats"]
    assert match_filter(NAMES, ["s*", "!stats"]) == ["server", "slowlog"]


def test_unknown_filter_entries():
    assert unknown_filter_entries(NAMES, ["memroy", "!slowlog", "s*"]) == ["memroy"]


def test_mask_secrets_recursively():
    data = {"user": "u", "password": "p", "nested": [{"api_token": "t", "x": 1}], "empty_secret": ""}
    masked = mask_secrets(data)
    assert masked == {"user": "u", "password": MASK, "nested": [{"api_token": MASK, "x": 1}], "empty_secret": ""}
    assert data["password"] == "p"


def test_evidence_records_plan_execution_counts_and_duration():
    ev = Evidence("sark.ops.x", {"redis_password": "pw", "pattern": "a:*"}, check_mode=True, secret_keys=["redis_password"])
    ev.plan("unlink", keys=3)
    ev.count("batches")
    ev.count("batches", 2)
    record = ev.finish()
    assert record["requested"] == {"redis_password": MASK, "pattern": "a:*"}
    assert record["planned_actions"] == [{"action": "unlink", "keys": 3}]
    assert record["executed_actions"] == []
    assert record["counts"] == {"batches": 3}
    assert record["check_mode"] is True
    assert record["duration_ms"] >= 0


def test_errors_carry_details():
    err = SarkConnectionError("down", kind="auth", target="redis://x")
    assert isinstance(err, SarkError)
    assert err.kind == "auth" and err.details == {"target": "redis://x"}
