"""sark_pg_maintenance against a real PostgreSQL 15 primary: every mutating operation in check mode, for real and a
second time (backend signalling is tests/integration/postgres/test_pg_backend.py)."""

import itertools

import pytest

MODULE = "sark_pg_maintenance"
LOCK_KEY = 5999166662007215171
_counter = itertools.count()


@pytest.fixture()
def db(pg_primary, pgh):
    """A fresh database per test, so selection 'by need' sees only this test's tables."""
    name = pgh.make_database(pg_primary, "maint_%d" % next(_counter))
    yield name
    pgh.drop_databases(pg_primary, [name])


def make_bloated(server, database, table="bloated", rows=4000, delete=3000, schema="public"):
    server.execute("""
        CREATE TABLE {s}.{t} (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
        INSERT INTO {s}.{t} SELECT g, repeat('x', 200) FROM generate_series(1, {rows}) g;
        CREATE INDEX {t}_payload ON {s}.{t} (payload);
        DELETE FROM {s}.{t} WHERE id <= {delete};""".format(s=schema, t=table, rows=rows, delete=delete), database)
    # the DELETE's statistics reach the shared stats when that session ends (server.execute closes it)


def stats(server, database, table):
    rows = server.execute("SELECT n_dead_tup, last_vacuum, last_analyze, pg_total_relation_size(relid) "
                          "FROM pg_stat_user_tables WHERE relname = %s", database, params=(table,), fetch=True)
    return dict(zip(("n_dead_tup", "last_vacuum", "last_analyze", "total_bytes"), rows[0]))


def sqls(actions):
    """The statements of planned_actions/executed_actions (lists of dicts from the evidence record), in order."""
    assert all(isinstance(a, dict) and "action" in a for a in actions), actions
    return [a["sql"] for a in actions]


def args(pgh, server, database, **extra):
    out = pgh.connection_args(server, database)
    out.update(extra)
    return out


# --- vacuum / analyze / reindex ---------------------------------------------------------------------------

def test_vacuum_by_need_check_mode_real_run_and_idempotent_second_run(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db)
    pg_primary.execute("CREATE TABLE tidy (id int) WITH (autovacuum_enabled = false); INSERT INTO tidy VALUES (1)", db)
    assert stats(pg_primary, db, "bloated")["n_dead_tup"] == 3000
    opts = args(pgh, pg_primary, db, state="vacuum", min_dead_tuple_ratio=0.5)

    check = run_module(MODULE, opts, check_mode=True, diff=True)
    assert not check.failed, check["msg"]
    assert check.changed is True
    assert check["selection"]["mode"] == "need" and check["selection"]["considered"] == 2
    assert [r["target"] for r in check["results"]] == ["public.bloated"]
    assert sqls(check["planned_actions"]) == ["SET lock_timeout = '10000ms'", "SET statement_timeout = '3600000ms'",
                                              'VACUUM (ANALYZE) "public"."bloated"']
    assert check["executed_actions"] == []
    assert check["results"][0]["status"] == "planned" and check["results"][0]["before"]["n_dead_tup"] == 3000
    assert check["diff"]["before"]["public.bloated"]["n_dead_tup"] == 3000
    assert stats(pg_primary, db, "bloated")["n_dead_tup"] == 3000
    assert stats(pg_primary, db, "bloated")["last_vacuum"] is None

    real = run_module(MODULE, opts, diff=True)
    assert not real.failed, real["msg"]
    assert real.changed is True and real["lock"]["acquired"] is True
    entry = real["results"][0]
    assert entry["status"] == "ok" and entry["duration_ms"] > 0
    assert entry["before"]["n_dead_tup"] == 3000 and entry["after"]["n_dead_tup"] == 0
    assert entry["after"]["n_live_tup"] == 1000
    assert entry["before"]["total_bytes"] > 0 and entry["after"]["total_bytes"] > 0
    assert sqls(real["executed_actions"])[-1] == 'VACUUM (ANALYZE) "public"."bloated"'
    assert real["diff"]["after"]["public.bloated"]["n_dead_tup"] == 0
    after = stats(pg_primary, db, "bloated")
    assert after["n_dead_tup"] == 0 and after["last_vacuum"] is not None and after["last_analyze"] is not None
    assert real["evidence"]["counts"]["relations_processed"] == 1

    again = run_module(MODULE, opts)
    assert not again.failed, again["msg"]
    assert again.changed is False
    assert again["selection"]["selected"] == 0 and again["results"] == [] and again["planned_actions"] == []


def test_max_tables_processes_the_neediest_and_defers_the_rest(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, "t_low", rows=1000, delete=300)
    make_bloated(pg_primary, db, "t_high", rows=1000, delete=900)
    make_bloated(pg_primary, db, "t_mid", rows=1000, delete=600)
    opts = args(pgh, pg_primary, db, state="vacuum", min_dead_tuple_ratio=0.1, max_tables=2, analyze=False)
    first = run_module(MODULE, opts)
    assert not first.failed, first["msg"]
    assert [r["target"] for r in first["results"]] == ["public.t_high", "public.t_mid"]
    assert first["selection"]["deferred"] == 1 and any("deferred" in w for w in pgh.warnings(first))
    assert sqls(first["planned_actions"])[-1] == 'VACUUM "public"."t_mid"'
    assert stats(pg_primary, db, "t_low")["n_dead_tup"] == 300
    second = run_module(MODULE, opts)
    assert [r["target"] for r in second["results"]] == ["public.t_low"] and second.changed
    third = run_module(MODULE, opts)
    assert third.changed is False and third["selection"]["selected"] == 0


def test_vacuum_full_needs_confirmation_then_warns_and_shrinks(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=4000, delete=3900)
    opts = args(pgh, pg_primary, db, state="vacuum", tables=["bloated"], full=True)
    refused = run_module(MODULE, opts)
    assert refused.failed and "confirm_full" in refused["msg"] and "Nothing was run" in refused["msg"]
    assert refused["evidence"]["executed_actions"] == []
    assert stats(pg_primary, db, "bloated")["last_vacuum"] is None

    opts["confirm_full"] = True
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and sqls(check["planned_actions"])[-1] == 'VACUUM (FULL, ANALYZE) "public"."bloated"'
    assert any("ACCESS EXCLUSIVE" in w for w in pgh.warnings(check))
    size_before = stats(pg_primary, db, "bloated")["total_bytes"]
    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    assert any("ACCESS EXCLUSIVE" in w for w in pgh.warnings(real))
    entry = real["results"][0]
    assert entry["before"]["total_bytes"] == size_before
    assert entry["after"]["total_bytes"] < size_before / 4
    assert stats(pg_primary, db, "bloated")["total_bytes"] == entry["after"]["total_bytes"]
    # named tables always act: documented, and reported honestly
    again = run_module(MODULE, opts)
    assert again.changed is True and again["results"][0]["status"] == "ok"


# the checks that need no server are unit tests (tests/unit/plugins/module_utils/test_pg_maintenance.py); these run
# against the real catalog, and each must leave the table untouched
BAD_INPUTS = [
    ({"tables": ['bloated"; DROP TABLE bloated; --']}, "not a plain relation name"),
    ({"tables": ["bloatd"]}, "unknown table bloatd (did you mean public.bloated?)"),
    ({"tables": ["nope", "bloated"]}, "unknown table nope"),
    ({"tables": ["a_view"]}, "a_view is a view"),
    ({"min_dead_tuple_ratio": -0.1}, "min_dead_tuple_ratio must be 0 or more"),
    ({"full": True, "tables": ["bloated"]}, "Set confirm_full=true"),
]


def test_bad_input_is_refused_and_nothing_runs(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db)
    pg_primary.execute("CREATE VIEW a_view AS SELECT 1 AS one", db)
    # the runs check names against the catalog under the maintenance lock: parallel runs queue for it (lock_wait)
    calls = [(MODULE, dict(args(pgh, pg_primary, db, state="vacuum", lock_wait=60), **extra), None) for extra, _message in BAD_INPUTS]
    results = pgh.run_parallel(run_module, calls)
    for (extra, message), result in zip(BAD_INPUTS, results):
        assert result.failed, (extra, result)
        assert message in result["msg"], (extra, result["msg"])
        assert result["evidence"]["executed_actions"] == [], extra
    assert pg_primary.execute("SELECT count(*) FROM bloated", db, fetch=True)[0][0] == 1000
    assert stats(pg_primary, db, "bloated")["last_vacuum"] is None
    assert stats(pg_primary, db, "bloated")["n_dead_tup"] == 3000


def test_names_are_quoted_by_the_module(run_module, pg_primary, pgh, db):
    pg_primary.execute('CREATE SCHEMA ops; CREATE TABLE ops."Mixed Case" (id int) WITH (autovacuum_enabled = false); '
                       'INSERT INTO ops."Mixed Case" SELECT generate_series(1, 10); DELETE FROM ops."Mixed Case" WHERE id < 5', db)
    result = run_module(MODULE, args(pgh, pg_primary, db, state="vacuum", tables=["ops.Mixed Case"]))
    assert not result.failed, result["msg"]
    assert sqls(result["executed_actions"])[-1] == 'VACUUM (ANALYZE) "ops"."Mixed Case"'
    assert result["results"][0]["after"]["n_dead_tup"] == 0
    assert stats(pg_primary, db, "Mixed Case")["last_vacuum"] is not None


def test_analyze_by_age_check_real_idempotent(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=500, delete=0)
    opts = args(pgh, pg_primary, db, state="analyze", tables=["bloated"], last_run_older_than=3600)
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and sqls(check["planned_actions"])[-1] == 'ANALYZE "public"."bloated"'
    assert check["results"][0]["reasons"] == ["never analyzed"]
    assert stats(pg_primary, db, "bloated")["last_analyze"] is None
    real = run_module(MODULE, opts)
    assert real.changed and real["results"][0]["status"] == "ok"
    assert stats(pg_primary, db, "bloated")["last_analyze"] is not None
    again = run_module(MODULE, opts)
    assert again.changed is False and again["selection"]["mode"] == "names+need" and again["results"] == []


def index_filenode(server, database, index):
    return server.execute("SELECT pg_relation_filenode(%s::regclass)", database, params=(index,), fetch=True)[0][0]


def test_reindex_table_concurrently_index_and_database(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=2000, delete=1000)
    node = index_filenode(pg_primary, db, "bloated_payload")
    opts = args(pgh, pg_primary, db, state="reindex", tables=["bloated"])
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and sqls(check["planned_actions"])[-1] == 'REINDEX TABLE CONCURRENTLY "public"."bloated"'
    assert index_filenode(pg_primary, db, "bloated_payload") == node
    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    assert real.changed and real["results"][0]["before"]["index_bytes"] > 0
    rebuilt = index_filenode(pg_primary, db, "bloated_payload")
    assert rebuilt != node
    again = run_module(MODULE, opts)  # REINDEX always acts: changed every time (documented)
    assert again.changed and index_filenode(pg_primary, db, "bloated_payload") != rebuilt

    one = run_module(MODULE, args(pgh, pg_primary, db, state="reindex", indexes=["bloated_payload"], concurrently=False))
    assert sqls(one["executed_actions"])[-1] == 'REINDEX INDEX "public"."bloated_payload"'
    assert one["results"][0]["after"]["valid"] is True

    whole = args(pgh, pg_primary, db, state="reindex")
    nodes = {index: index_filenode(pg_primary, db, index) for index in ("bloated_pkey", "bloated_payload")}
    check = run_module(MODULE, whole, check_mode=True)
    assert not check.failed and check.changed, check.get("msg")
    assert sqls(check["planned_actions"])[-1] == 'REINDEX DATABASE CONCURRENTLY "%s"' % db
    assert check["selection"]["mode"] == "database" and check["executed_actions"] == []
    # check mode rebuilt nothing: every index keeps its file
    assert {index: index_filenode(pg_primary, db, index) for index in nodes} == nodes
    node = nodes["bloated_pkey"]
    real = run_module(MODULE, whole)
    assert not real.failed, real["msg"]
    assert index_filenode(pg_primary, db, "bloated_pkey") != node
    assert any("system catalogs" in n for n in real["results"][0]["notices"])


def test_lock_timeout_bounds_a_blocked_statement(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=100, delete=50)
    blocker = pg_primary.connect(db, autocommit=False)
    try:
        blocker.cursor().execute("LOCK TABLE bloated IN ACCESS EXCLUSIVE MODE")
        # the lock is held until after the module returns: without lock_timeout the VACUUM would wait for it for as long
        # as statement_timeout (an hour), so returning at all is the proof; the run's own timeout turns a hang into a failure
        result = run_module(MODULE, args(pgh, pg_primary, db, state="vacuum", tables=["bloated"], lock_timeout=0.3), timeout=90)
        assert result.failed and "lock_timeout reached" in result["msg"]
        assert result["results"][0]["status"] == "failed" and result.changed is False
        # it waited for the lock (at least lock_timeout), and far less than the statement_timeout it would otherwise get
        assert 300 <= result["results"][0]["duration_ms"] < 60000, result["results"][0]["duration_ms"]
        # and it gave up: nothing of the module is left waiting for the lock on the server
        waiting = pg_primary.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                                     db, params=("bloated",), fetch=True)[0][0]
        assert waiting == 0
    finally:
        blocker.rollback()
        blocker.close()
    assert stats(pg_primary, db, "bloated")["n_dead_tup"] == 50


def test_advisory_lock_keeps_two_runs_apart(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=100, delete=50)
    holder = pg_primary.connect(db)
    try:
        holder.cursor().execute("SET application_name = 'other-maintenance'; SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        opts = args(pgh, pg_primary, db, state="vacuum", tables=["bloated"])
        check = run_module(MODULE, opts, check_mode=True)
        assert check.changed and check["lock"]["holder"] == holder.get_backend_pid()
        assert any("holds the maintenance lock" in w for w in pgh.warnings(check))
        busy = run_module(MODULE, dict(opts, lock_wait=0.5))
        assert busy.failed and "pid %d" % holder.get_backend_pid() in busy["msg"] and "other-maintenance" in busy["msg"]
        assert busy["evidence"]["executed_actions"] == []
        assert stats(pg_primary, db, "bloated")["last_vacuum"] is None
    finally:
        holder.close()
    ok = run_module(MODULE, args(pgh, pg_primary, db, state="vacuum", tables=["bloated"]))
    assert not ok.failed and ok["lock"]["acquired"] and ok.changed
