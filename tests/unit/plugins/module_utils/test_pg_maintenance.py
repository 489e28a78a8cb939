import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import (
    ADVISORY_LOCK_KEY,
    CC_LEFTOVER,
    MAX_TIMEOUT_MS,
    explain,
    need_reasons,
    parse_relation_name,
    validate_params,
)

DEFAULTS = {
    "state": "vacuum", "tables": [], "indexes": [], "analyze": True, "freeze": False, "full": False, "confirm_full": False,
    "concurrently": True, "min_dead_tuple_ratio": None, "min_dead_tuples": None, "last_run_older_than": None, "max_tables": 50,
    "lock_timeout": 10.0, "statement_timeout": 3600.0, "lock_wait": 0.0, "drop_invalid_indexes": False, "pg_database": "sark",
}


def params(**extra):
    out = dict(DEFAULTS)
    out.update(extra)
    return out


def test_lock_key_is_sarkmntc():
    assert ADVISORY_LOCK_KEY.to_bytes(8, "big") == b"SARKMNTC" and ADVISORY_LOCK_KEY < 2 ** 63


@pytest.mark.parametrize("name, expected", [
    ("audit_events", (None, "audit_events")),
    ("public.audit_events", ("public", "audit_events")),
    ("ops.Mixed Case", ("ops", "Mixed Case")),
])
def test_parse_relation_name_accepts_plain_names(name, expected):
    assert parse_relation_name(name) == expected


@pytest.mark.parametrize("name, message", [
    ('users"; DROP TABLE users; --', "not a plain relation name"),
    ("users'", "not a plain relation name"),
    ("users;", "not a plain relation name"),
    ("users\\", "not a plain relation name"),
    ("users\n", "not a plain relation name"),
    ("a.b.c", "schema.name"),
    (".users", "schema.name"),
    ("", "empty name"),
    ("x" * 64, "63-byte identifier limit"),
])
def test_parse_relation_name_refuses(name, message):
    with pytest.raises(SarkValidationError) as err:
        parse_relation_name(name)
    assert message in err.value.msg


@pytest.mark.parametrize("extra, message", [
    ({"full": True}, "Set confirm_full=true"),
    ({"min_dead_tuple_ratio": -0.1}, "min_dead_tuple_ratio must be 0 or more"),
    ({"min_dead_tuple_ratio": 1.0}, "below 1"),
    ({"min_dead_tuples": -5}, "min_dead_tuples must be 0 or more"),
    ({"last_run_older_than": -1}, "last_run_older_than must be 0 or more"),
    ({"lock_timeout": -1}, "lock_timeout must be 0 or more"),
    ({"max_tables": 0}, "max_tables must be at least 1"),
    ({"statement_timeout": 10 ** 12}, "statement_timeout must be at most"),
    ({"indexes": ["i"]}, "indexes applies to state reindex only"),
    ({"state": "analyze", "min_dead_tuple_ratio": 0.1}, "min_dead_tuple_ratio applies to state vacuum only"),
    ({"state": "reindex", "last_run_older_than": 5}, "last_run_older_than applies to state vacuum or analyze only"),
    ({"state": "analyze", "drop_invalid_indexes": True}, "drop_invalid_indexes applies to state reindex only"),
    ({"tables": ["t;"]}, "not a plain relation name"),
    ({"pg_database": None}, "set pg_database"),
])
def test_validate_params_refuses_before_connecting(extra, message):
    with pytest.raises(SarkValidationError) as err:
        validate_params(params(**extra))
    assert message in err.value.msg


@pytest.mark.parametrize("accepted, refused_by, message", [
    (dict(min_dead_tuple_ratio=0.2, last_run_older_than=3600), {"state": "analyze"}, "min_dead_tuple_ratio applies to state vacuum only"),
    (dict(min_dead_tuple_ratio=0.0, min_dead_tuples=0, last_run_older_than=0), {"min_dead_tuple_ratio": 1.0}, "below 1"),
    (dict(full=True, confirm_full=True, tables=["audit_events"]), {"confirm_full": False}, "Set confirm_full=true"),
    (dict(state="reindex", indexes=["public.ix"], concurrently=False), {"indexes": ["public.ix;"]}, "not a plain relation name"),
    (dict(state="reindex", drop_invalid_indexes=True), {"state": "vacuum"}, "drop_invalid_indexes applies to state reindex only"),
    (dict(state="vacuum", max_tables=1, lock_timeout=0), {"max_tables": 0}, "max_tables must be at least 1"),
    (dict(state="analyze", pg_database="sark_audit"), {"pg_database": None}, "set pg_database"),
])
def test_validate_params_accepts_sensible_combinations(accepted, refused_by, message):
    """Each sensible combination passes, unchanged, and the one change next to it that is not sensible is refused."""
    given = params(**accepted)
    untouched = dict(given)
    validate_params(given)
    assert given == untouched
    with pytest.raises(SarkValidationError) as err:
        validate_params(params(**dict(accepted, **refused_by)))
    assert message in err.value.msg


def stat_row(**extra):
    row = {"dead_ratio": 0.0, "n_dead_tup": 0, "vacuum_age_s": 10.0, "analyze_age_s": 10.0}
    row.update(extra)
    return row


def test_need_reasons():
    crit = {"min_dead_tuple_ratio": 0.2}
    assert need_reasons(stat_row(dead_ratio=0.5, n_dead_tup=50), "vacuum", crit) == ["dead tuple ratio 0.500 (50 dead)"]
    assert need_reasons(stat_row(dead_ratio=0.2, n_dead_tup=50), "vacuum", crit) == []  # above, not at, the threshold
    assert need_reasons(stat_row(dead_ratio=0.0, n_dead_tup=0), "vacuum", {"min_dead_tuple_ratio": 0}) == []
    both = {"min_dead_tuple_ratio": 0.1, "min_dead_tuples": 100}
    assert need_reasons(stat_row(dead_ratio=0.5, n_dead_tup=50), "vacuum", both) == []
    assert need_reasons(stat_row(dead_ratio=0.5, n_dead_tup=500), "vacuum", both)
    older = {"last_run_older_than": 60}
    assert need_reasons(stat_row(vacuum_age_s=None), "vacuum", older) == ["never vacuumed"]
    assert need_reasons(stat_row(analyze_age_s=None), "analyze", older) == ["never analyzed"]
    assert need_reasons(stat_row(vacuum_age_s=120.0), "vacuum", older) == ["last vacuum 120s ago"]
    assert need_reasons(stat_row(vacuum_age_s=30.0), "vacuum", older) == []
    # any criterion is enough
    assert len(need_reasons(stat_row(dead_ratio=0.5, n_dead_tup=9, vacuum_age_s=None), "vacuum",
                            {"min_dead_tuple_ratio": 0.1, "last_run_older_than": 60})) == 2


class FakePgError(Exception):
    def __init__(self, text, pgcode):
        super().__init__(text)
        self.pgcode = pgcode


def test_explain_names_what_to_fix():
    assert explain(FakePgError("canceling statement due to lock timeout\nCONTEXT: x", "55P03")) == (
        "canceling statement due to lock timeout (lock_timeout reached: another session holds a conflicting lock; "
        "retry later or raise lock_timeout)")
    assert explain(FakePgError("something else", "XX000")) == "something else"


@pytest.mark.parametrize("name, leftover", [("t_pkey_ccnew", True), ("t_pkey_ccnew1", True), ("pg_toast_16384_index_ccold", True),
                                            ("t_pkey", False), ("ccnew_index", False)])
def test_cc_leftover_names(name, leftover):
    assert bool(CC_LEFTOVER.search(name)) is leftover


def test_timeouts_beyond_postgres_limit_are_refused():
    params = {"state": "vacuum", "full": False, "confirm_full": False, "min_dead_tuple_ratio": None, "max_tables": 1,
              "max_backends": 1, "pids": [], "tables": [], "indexes": [], "pg_database": "x", "lock_timeout": 10,
              "statement_timeout": MAX_TIMEOUT_MS / 1000.0 + 1}
    with pytest.raises(SarkValidationError) as err:
        validate_params(params)
    assert "statement_timeout must be at most" in err.value.msg
