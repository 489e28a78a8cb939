"""sark_pg_maintenance against a real PostgreSQL 15 primary (and its streaming replica): every mutating operation in
check mode, for real and a second time; backends created by the tests themselves."""

import itertools

import psycopg2
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


def args(pgh, server, database, **extra):
    out = pgh.connection_args(server, database)
    out.update(extra)
    return out


# --- vacuum / analyze / reindex ---------------------------------------------------------------------------

def test_vacuum_by_need_check_mode_real_run_and_idempotent_second_run(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db)
    pg_primary.execute("CREATE TABLE tidy (id int) WITH (autovacuum_enabled = false); INSERT INTO tidy VALUES (1)", db)
    assert stats(pg_primary, db, "bloated")["n_dead_tup"] == 3000
    opts = args(pgh, pg_primary, db, action="vacuum", min_dead_tuple_ratio=0.5)

    check = run_module(MODULE, opts, check_mode=True, diff=True)
    assert not check.failed, check["msg"]
    assert check.changed is True
    assert check["selection"]["mode"] == "need" and check["selection"]["considered"] == 2
    assert [r["target"] for r in check["results"]] == ["public.bloated"]
    assert check["planned_actions"] == ["SET lock_timeout = '10000ms'", "SET statement_timeout = '3600000ms'",
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
    assert real["executed_actions"][-1] == 'VACUUM (ANALYZE) "public"."bloated"'
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
    opts = args(pgh, pg_primary, db, action="vacuum", min_dead_tuple_ratio=0.1, max_tables=2, analyze=False)
    first = run_module(MODULE, opts)
    assert not first.failed, first["msg"]
    assert [r["target"] for r in first["results"]] == ["public.t_high", "public.t_mid"]
    assert first["selection"]["deferred"] == 1 and any("deferred" in w for w in pgh.warnings(first))
    assert first["planned_actions"][-1] == 'VACUUM "public"."t_mid"'
    assert stats(pg_primary, db, "t_low")["n_dead_tup"] == 300
    second = run_module(MODULE, opts)
    assert [r["target"] for r in second["results"]] == ["public.t_low"] and second.changed
    third = run_module(MODULE, opts)
    assert third.changed is False and third["selection"]["selected"] == 0


def test_vacuum_full_needs_confirmation_then_warns_and_shrinks(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=4000, delete=3900)
    opts = args(pgh, pg_primary, db, action="vacuum", tables=["bloated"], full=True)
    refused = run_module(MODULE, opts)
    assert refused.failed and "confirm_full" in refused["msg"] and "Nothing was run" in refused["msg"]
    assert refused["evidence"]["executed_actions"] == []
    assert stats(pg_primary, db, "bloated")["last_vacuum"] is None

    opts["confirm_full"] = True
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and check["planned_actions"][-1] == 'VACUUM (FULL, ANALYZE) "public"."bloated"'
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
    calls = [(MODULE, dict(args(pgh, pg_primary, db, action="vacuum"), **extra), None) for extra, _message in BAD_INPUTS]
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
    result = run_module(MODULE, args(pgh, pg_primary, db, action="vacuum", tables=["ops.Mixed Case"]))
    assert not result.failed, result["msg"]
    assert result["executed_actions"][-1] == 'VACUUM (ANALYZE) "ops"."Mixed Case"'
    assert result["results"][0]["after"]["n_dead_tup"] == 0
    assert stats(pg_primary, db, "Mixed Case")["last_vacuum"] is not None


def test_analyze_by_age_check_real_idempotent(run_module, pg_primary, pgh, db):
    make_bloated(pg_primary, db, rows=500, delete=0)
    opts = args(pgh, pg_primary, db, action="analyze", tables=["bloated"], last_run_older_than=3600)
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and check["planned_actions"][-1] == 'ANALYZE "public"."bloated"'
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
    opts = args(pgh, pg_primary, db, action="reindex", tables=["bloated"])
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and check["planned_actions"][-1] == 'REINDEX TABLE CONCURRENTLY "public"."bloated"'
    assert index_filenode(pg_primary, db, "bloated_payload") == node
    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    assert real.changed and real["results"][0]["before"]["index_bytes"] > 0
    rebuilt = index_filenode(pg_primary, db, "bloated_payload")
    assert rebuilt != node
    again = run_module(MODULE, opts)  # REINDEX always acts: changed every time (documented)
    assert again.changed and index_filenode(pg_primary, db, "bloated_payload") != rebuilt

    one = run_module(MODULE, args(pgh, pg_primary, db, action="reindex", indexes=["bloated_payload"], concurrently=False))
    assert one["executed_actions"][-1] == 'REINDEX INDEX "public"."bloated_payload"'
    assert one["results"][0]["after"]["valid"] is True

    whole = args(pgh, pg_primary, db, action="reindex")
    nodes = {index: index_filenode(pg_primary, db, index) for index in ("bloated_pkey", "bloated_payload")}
    check = run_module(MODULE, whole, check_mode=True)
    assert not check.failed and check.changed, check.get("msg")
    assert check["planned_actions"][-1] == 'REINDEX DATABASE CONCURRENTLY "%s"' % db
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
        result = run_module(MODULE, args(pgh, pg_primary, db, action="vacuum", tables=["bloated"], lock_timeout=0.3), timeout=90)
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
        opts = args(pgh, pg_primary, db, action="vacuum", tables=["bloated"])
        check = run_module(MODULE, opts, check_mode=True)
        assert check.changed and check["lock"]["holder"] == holder.get_backend_pid()
        assert any("holds the maintenance lock" in w for w in pgh.warnings(check))
        busy = run_module(MODULE, dict(opts, lock_wait=0.5))
        assert busy.failed and "pid %d" % holder.get_backend_pid() in busy["msg"] and "other-maintenance" in busy["msg"]
        assert busy["evidence"]["executed_actions"] == []
        assert stats(pg_primary, db, "bloated")["last_vacuum"] is None
    finally:
        holder.close()
    ok = run_module(MODULE, args(pgh, pg_primary, db, action="vacuum", tables=["bloated"]))
    assert not ok.failed and ok["lock"]["acquired"] and ok.changed


# --- backends ---------------------------------------------------------------------------------------------

def test_cancel_exactly_the_three_of_five_sleeping_backends(run_module, pg_primary, pgh, backends):
    victims = backends.sleeping("sark-test-victim", 3)
    bystanders = backends.sleeping("sark-test-bystander", 2)
    opts = dict(pgh.connection_args(pg_primary), action="cancel_backends", application_names=["sark-test-victim"],
                states=["active"], min_duration=0)

    check = run_module(MODULE, opts, check_mode=True, diff=True)
    assert not check.failed, check["msg"]
    assert check.changed is True and check["matched"] == 3
    victim_pids = sorted(v["pid"] for v in victims)
    assert sorted(b["pid"] for b in check["backends"]) == victim_pids
    assert all(b["outcome"] == "planned" for b in check["backends"])
    assert len(check["planned_actions"]) == 3
    for pid in victim_pids:
        assert any(s.startswith("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = %d AND backend_start = '" % pid)
                   for s in check["planned_actions"])
    assert check["diff"] == {"before": {"backends": victim_pids}, "after": {"backends": []}}
    assert backends.alive(victim_pids + [b["pid"] for b in bystanders]) == {p: "active" for p in victim_pids + [b["pid"] for b in bystanders]}

    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    assert real.changed is True and real["signalled"] == {"cancelled": 3, "terminated": 0}
    assert sorted(real["executed_actions"]) == sorted(check["planned_actions"])
    for victim in victims:
        assert victim["done"].wait(10)
        assert isinstance(victim["error"], psycopg2.errors.QueryCanceled)  # pylint: disable=no-member
    for bystander in bystanders:
        assert not bystander["done"].is_set() and bystander["error"] is None
    assert set(backends.alive([b["pid"] for b in bystanders]).values()) == {"active"}
    assert set(backends.alive(victim_pids).values()) == {"idle"}  # cancelled, not terminated

    again = run_module(MODULE, opts)
    assert not again.failed and again.changed is False and again["matched"] == 0 and again["planned_actions"] == []


def test_max_backends_refuses_and_signals_nothing(run_module, pg_primary, pgh, backends):
    sleepers = backends.sleeping("sark-test-capped", 3)
    opts = dict(pgh.connection_args(pg_primary), action="terminate_backends", application_names=["sark-test-capped"],
                max_backends=2)
    for check_mode in (True, False):
        result = run_module(MODULE, opts, check_mode=check_mode)
        assert result.failed and result["matched"] == 3
        assert "3 backends match the filter, more than max_backends=2: nothing was signalled" in result["msg"]
        assert result["evidence"]["executed_actions"] == []
    pids = [s["pid"] for s in sleepers]
    assert backends.alive(pids) == {pid: "active" for pid in pids}
    assert not any(s["done"].is_set() for s in sleepers)


def test_own_replication_autovacuum_and_sark_ops_backends_are_never_touched(run_module, pg_primary, pg_replica, pgh, backends):
    walsenders = [r[0] for r in pg_primary.execute("SELECT pid FROM pg_stat_replication", fetch=True)]
    assert walsenders, "the replica must be streaming"
    launcher = pg_primary.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher'", fetch=True)[0][0]
    other_module = backends.sleeping("sark.ops/sark_pg_info", 1)[0]
    # a filter every backend of user postgres satisfies
    wide = dict(pgh.connection_args(pg_primary), action="terminate_backends", users=["postgres", ""], max_backends=50)
    check = run_module(MODULE, wide, check_mode=True)
    assert not check.failed, check["msg"]
    targets = {b["pid"] for b in check["backends"]}
    assert check["own_pid"] not in targets
    assert not targets & set(walsenders) and launcher not in targets and other_module["pid"] not in targets
    assert check["protected"]["own_connection"] == 1
    assert check["protected"]["not_client_backend"] >= len(walsenders)
    assert check["protected"]["sark_ops_connection"] == 1

    filters = ({"application_names": ["walreceiver"]}, {"pids": walsenders + [launcher]}, {"application_names": ["sark.ops/*"]})
    # lock_wait: the three runs take turns on the maintenance advisory lock
    runs = pgh.run_parallel(run_module, [(MODULE, dict(pgh.connection_args(pg_primary), action="terminate_backends", lock_wait=30,
                                                       **flt), None) for flt in filters])
    for real in runs:
        assert not real.failed, real["msg"]
        assert real.changed is False and real["matched"] == 0 and real["protected"]
    assert pg_primary.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", fetch=True)[0][0] == 1
    assert backends.alive([other_module["pid"]]) == {other_module["pid"]: "active"}
    assert pg_primary.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", params=(launcher,), fetch=True)[0][0] == 1


def test_cancel_escalates_to_terminate_only_for_backends_still_matching(run_module, pg_primary, pgh, backends):
    sleeper = backends.sleeping("sark-test-escalate", 1)[0]
    stuck = backends.idle("sark-test-escalate", 1, in_transaction=True)[0]
    opts = dict(pgh.connection_args(pg_primary), action="cancel_backends", application_names=["sark-test-escalate"],
                states=["active", "idle in transaction"], escalate=True, grace_period=1)
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and check["matched"] == 2
    assert len(check["planned_actions"]) == 4  # a cancel each, and the terminate each would get if still matching
    assert sum("pg_terminate_backend" in s for s in check["planned_actions"]) == 2
    assert backends.alive([sleeper["pid"], stuck["pid"]]) == {sleeper["pid"]: "active", stuck["pid"]: "idle in transaction"}

    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    outcome = {b["pid"]: b for b in real["backends"]}
    assert outcome[sleeper["pid"]]["outcome"] == "cancelled" and not outcome[sleeper["pid"]].get("escalated")
    assert outcome[stuck["pid"]]["outcome"] == "terminated" and outcome[stuck["pid"]]["escalated"] is True
    assert outcome[stuck["pid"]]["exited"] is True
    assert real["signalled"] == {"cancelled": 2, "terminated": 1}
    assert backends.alive([sleeper["pid"], stuck["pid"]]) == {sleeper["pid"]: "idle"}
    with pytest.raises(psycopg2.OperationalError):
        stuck["conn"].cursor().execute("SELECT 1")
    again = run_module(MODULE, opts)
    assert again.changed is False and again["matched"] == 0


def idle_seconds(server, pids):
    """How long the server has seen each backend idle (its own clock, as the module reads it)."""
    rows = server.execute("SELECT pid, extract(epoch FROM now() - state_change) FROM pg_stat_activity "
                          "WHERE pid = ANY(%s) AND state = 'idle'", params=(list(pids),), fetch=True)
    return {pid: float(age) for pid, age in rows}


class KeepFresh:
    """Runs SELECT 1 on a connection every few milliseconds until stopped: that backend is never idle for anything
    near a second, however long a module subprocess takes to start on a loaded machine."""

    def __init__(self, conn, every=0.02):
        import threading  # pylint: disable=import-outside-toplevel
        self.conn, self.every, self.pokes = conn, every, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute("SELECT 1")
                self.pokes += 1
                self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_terminate_idle_sessions_check_real_idempotent(run_module, pg_primary, pgh, backends):
    idle = backends.idle("sark-test-idle", 2) + backends.idle("sark-test-idle-other", 1)
    expected = sorted(i["pid"] for i in idle)
    # no sleep: wait (bounded) until the server itself has seen them idle for longer than min_duration (ages only grow)
    pgh.wait_for(lambda: len(idle_seconds(pg_primary, expected)) == 3 and min(idle_seconds(pg_primary, expected).values()) > 1.2,
                 30, "3 backends idle for more than 1.2 s")
    fresh = backends.idle("sark-test-idle", 1)  # idle between pokes, but never for long enough
    opts = dict(pgh.connection_args(pg_primary), action="terminate_backends", states=["idle"], min_duration=1,
                application_names=["sark-test-idle*"])
    with KeepFresh(fresh[0]["conn"]) as keeper:
        check = run_module(MODULE, opts, check_mode=True)
        assert check.changed and sorted(b["pid"] for b in check["backends"]) == expected
        assert backends.alive(expected) == {pid: "idle" for pid in expected}  # check mode terminated nothing
        real = run_module(MODULE, opts, diff=True)
        assert not real.failed, real["msg"]
        assert real["signalled"]["terminated"] == 3 and all(b["exited"] for b in real["backends"])
        assert sorted(b["pid"] for b in real["backends"]) == expected
        assert real["diff"]["after"] == {"backends": []}
        pgh.wait_gone(pg_primary, expected)
        again = run_module(MODULE, opts)
        assert again.changed is False and again["matched"] == 0
    assert keeper.pokes > 0
    assert backends.alive([fresh[0]["pid"]]) == {fresh[0]["pid"]: "idle"}
