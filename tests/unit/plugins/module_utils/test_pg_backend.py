import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._pg_backend import (
    backend_matches,
    protected_reason,
    select_backends,
    unmatched_pids,
    validate_backend_params,
)

DEFAULTS = {
    "state": "terminate", "pids": [], "databases": [], "users": [], "application_names": [], "states": [], "min_duration": None,
    "max_backends": 10, "escalate": False, "grace_period": 10.0, "query_max_length": 200, "lock_timeout": 10.0,
    "statement_timeout": 3600.0, "lock_wait": 0.0, "pg_database": None,
}


def params(**extra):
    out = dict(DEFAULTS)
    out.update(extra)
    return out


@pytest.mark.parametrize("extra, message", [
    ({}, "needs at least one filter"),
    ({"escalate": True, "states": ["idle"]}, "escalate applies to state cancel only"),
    ({"state": "cancel", "pids": [0]}, "pids must be positive"),
    ({"state": "cancel", "states": ["active"], "max_backends": 0}, "max_backends must be at least 1"),
    ({"state": "cancel", "states": ["active"], "grace_period": -2}, "grace_period must be 0 or more"),
    ({"states": ["idle"], "lock_timeout": -1}, "lock_timeout must be 0 or more"),
])
def test_validate_backend_params_refuses_before_connecting(extra, message):
    with pytest.raises(SarkValidationError) as err:
        validate_backend_params(params(**extra))
    assert message in err.value.msg


@pytest.mark.parametrize("accepted, refused_by, message", [
    (dict(state="cancel", states=["active"], min_duration=300, escalate=True), {"state": "terminate"},
     "escalate applies to state cancel only"),
    (dict(pids=[4242]), {"pids": []}, "needs at least one filter"),
    (dict(pids=[1]), {"pids": [0]}, "pids must be positive"),
])
def test_validate_backend_params_accepts_sensible_combinations(accepted, refused_by, message):
    given = params(**accepted)
    untouched = dict(given)
    validate_backend_params(given)
    assert given == untouched
    with pytest.raises(SarkValidationError) as err:
        validate_backend_params(params(**dict(accepted, **refused_by)))
    assert message in err.value.msg


def backend(pid, **extra):
    row = {"pid": pid, "backend_start": datetime.datetime(2026, 1, 1), "user": "sark", "database": "sark",
           "application_name": "api", "client_addr": "10.0.0.1", "state": "active", "backend_type": "client backend",
           "state_duration_s": 400.0, "is_self": False, "query": "SELECT 1"}
    row.update(extra)
    return row


def test_backend_filters_all_must_hold():
    row = backend(1)
    assert backend_matches(row, {"states": ["active"], "min_duration": 300})
    assert not backend_matches(row, {"states": ["idle"]})
    assert not backend_matches(row, {"min_duration": 500})
    assert backend_matches(row, {"users": ["sa*"], "databases": ["sark"], "application_names": ["api", "worker"]})
    assert not backend_matches(row, {"users": ["!sark"]})
    assert backend_matches(backend(2, application_name=""), {"application_names": [""]})
    assert not backend_matches(row, {"pids": [2, 3]})
    assert not backend_matches(backend(4, state_duration_s=None), {"min_duration": 0})


def test_protected_backends_are_never_targets():
    rows = [backend(1), backend(2, is_self=True), backend(3, backend_type="walsender", application_name="walreceiver"),
            backend(4, backend_type="autovacuum worker"), backend(5, application_name="sark.ops/sark_pg_info"),
            backend(6, backend_type="parallel worker")]
    targets, protected = select_backends(rows, {"users": ["sark"]})
    assert [t["pid"] for t in targets] == [1]
    assert protected == {"own_connection": 1, "not_client_backend": 3, "sark_ops_connection": 1}
    assert protected_reason(backend(7)) is None


def test_unmatched_pids_say_why():
    rows = [backend(1), backend(2, is_self=True), backend(3, user="other")]
    targets, _protected = select_backends(rows, {"pids": [1, 2, 3, 9], "users": ["sark"]})
    why = unmatched_pids([1, 2, 3, 9], rows, targets)
    assert sorted(why) == ["2", "3", "9"]
    assert "own connection" in why["2"] and "does not match" in why["3"] and "not a backend" in why["9"]
