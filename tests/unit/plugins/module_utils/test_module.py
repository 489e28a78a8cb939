from ansible_collections.sark.ops.plugins.module_utils._module import (
    MASK,
    Evidence,
    SarkAPIError,
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


def test_errors_carry_details(capsys):
    """What an error carries reaches the failed result: its details as fields, a connection error's kind as error_kind,
    an API error's status; details that are None are left out."""
    err = SarkConnectionError("down", kind="auth", target="redis://x")
    assert isinstance(err, SarkError) and err.kind == "auth" and err.details == {"target": "redis://x"}

    def connect(module):
        raise SarkConnectionError("Redis refused the password", kind="auth", target="redis://127.0.0.1:6379", hint=None)

    result = _run_module(capsys, connect)
    assert result["failed"] is True and result["changed"] is False and result["msg"] == "Redis refused the password"
    assert result["error_kind"] == "auth" and result["target"] == "redis://127.0.0.1:6379" and "hint" not in result

    def api(module):
        raise SarkAPIError("SARK answered HTTP 409", status=409, body="conflict", server_id="srv-1")

    result = _run_module(capsys, api)
    assert result["failed"] is True and result["msg"] == "SARK answered HTTP 409"
    assert result["status"] == 409 and result["server_id"] == "srv-1" and "error_kind" not in result


def _run_module(capsys, func, check_mode=False):
    """Run func through SarkModule.run with real AnsibleModule argument handling; return the JSON result."""
    import json

    import pytest
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.sark.ops.plugins.module_utils._module import SarkModule

    with patch_module_args({"name": "x", "_ansible_check_mode": check_mode}):
        module = SarkModule(argument_spec={"name": {"type": "str"}}, supports_check_mode=True)
        with pytest.raises(SystemExit):
            module.run(func)
    return json.loads(capsys.readouterr().out)


def test_failure_after_partial_work_is_changed_with_the_work_done(capsys):
    from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError

    def work(module):
        module.evidence.executed("unlink", keys=500)
        module.evidence.count("keys_removed", 500)
        raise SarkOperationError("Lost the connection after 500 keys", removed=500)

    result = _run_module(capsys, work)
    assert result["failed"] is True and result["changed"] is True and result["partial"] is True
    assert result["executed_actions"] == [{"action": "unlink", "keys": 500}]
    assert result["counts"] == {"keys_removed": 500} and result["removed"] == 500


def test_failure_before_any_work_is_not_changed(capsys):
    from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

    def work(module):
        module.evidence.plan("unlink", keys=3)
        raise SarkValidationError("bad pattern")

    result = _run_module(capsys, work)
    assert result["failed"] is True and result["changed"] is False and "partial" not in result
    assert result["planned_actions"] == [{"action": "unlink", "keys": 3}] and result["executed_actions"] == []


def test_os_error_is_reported_as_such_not_as_a_bug(capsys):
    import errno

    def work(module):
        raise OSError(errno.EROFS, "Read-only file system", "/srv/out.json")

    result = _run_module(capsys, work)
    assert result["failed"] is True
    assert "Read-only file system" in result["msg"] and "/srv/out.json" in result["msg"] and "bug" not in result["msg"]
