"""The deeper sark_pg_info subsets against a real PostgreSQL 15 with pg_stat_statements preloaded and a real streaming
replica: replication lag measured while replay is paused, bloat, unused indexes, sequential scans, top queries, lock chains."""

import threading

import pytest

from harness.servers import wait_for

MODULE = "sark_pg_info"


def test_replication_lag_is_measured_on_primary_and_standby(run_module, pg_primary, pg_replica, pgh):
    pg_primary.execute("CREATE TABLE IF NOT EXISTS repl_lag (id int, pad text)")
    wait_for(lambda: pg_replica.execute("SELECT to_regclass('repl_lag') IS NOT NULL", fetch=True)[0][0], 10, "table replayed")
    pg_replica.execute("SELECT pg_wal_replay_pause()")
    try:
        pg_primary.execute("INSERT INTO repl_lag SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g")
        # wait until the standby has received the WAL it is not allowed to replay
        target = pg_primary.execute("SELECT pg_current_wal_lsn()::text", fetch=True)[0][0]
        wait_for(lambda: pg_replica.execute("SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", params=(target,), fetch=True)[0][0],
                 10, "standby received the WAL")
        primary, standby = pgh.run_parallel(run_module, [
            (MODULE, dict(pgh.connection_args(pg_primary), filter=["replication"]), None),
            (MODULE, dict(pgh.connection_args(pg_replica), filter=["replication"], replication_lag_warning=0), None)])
        replica = primary["replication"]["replicas"][0]
        assert primary["replication"]["role"] == "primary" and replica["state"] == "streaming"
        assert replica["replay_lag_bytes"] > 500000  # 5000 rows of WAL not replayed yet
        assert standby["replication"]["role"] == "standby" and standby["replication"]["receiver"]["status"] == "streaming"
        assert standby["replication"]["replay_lag_bytes"] > 500000
        assert standby["replication"]["replay_lag_s"] is not None
    finally:
        pg_replica.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: pg_replica.execute("SELECT count(*) FROM repl_lag", fetch=True)[0][0] >= 5000, 10, "replay resumed")
    wait_for(lambda: pg_primary.execute("SELECT replay_lsn = pg_current_wal_lsn() FROM pg_stat_replication", fetch=True)[0][0],
             10, "replica caught up")
    caught_up = run_module(MODULE, dict(pgh.connection_args(pg_primary), filter=["replication"]))
    assert caught_up["replication"]["replicas"][0]["replay_lag_bytes"] == 0
    assert caught_up["assessment"]["verdict"] == "ok"


@pytest.fixture(scope="module")
def deep_db(pg_primary, pgh):
    db = pgh.make_database(pg_primary, "info_deep")
    pg_primary.execute("""
        CREATE EXTENSION pg_stat_statements;
        CREATE TABLE bloaty (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
        INSERT INTO bloaty SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
        DELETE FROM bloaty WHERE id % 4 <> 0;
        CREATE TABLE compact (id int PRIMARY KEY, v int, w int) WITH (autovacuum_enabled = false);
        INSERT INTO compact SELECT g, g % 100, g FROM generate_series(1, 20000) g;
        CREATE INDEX compact_v_unused ON compact (v);
        CREATE INDEX compact_w_used ON compact (w);
        CREATE TABLE scanned (id int, v text) WITH (autovacuum_enabled = false);
        INSERT INTO scanned SELECT g, 'v' || g FROM generate_series(1, 500) g;
        CREATE TABLE locks_t (id int PRIMARY KEY, v int);
        INSERT INTO locks_t VALUES (1, 0);
        ANALYZE;""", db)
    conn = pg_primary.connect(db)
    with conn.cursor() as cur:
        for dummy in range(25):
            cur.execute("SELECT count(*) FROM scanned")
        cur.execute("SET enable_seqscan = off; SELECT count(*) FROM compact WHERE w = 42; RESET enable_seqscan")
        for dummy in range(3):
            cur.execute("SELECT /* sark-top-query-marker */ pg_sleep(0.05)")
    conn.close()  # the session's statistics reach the shared stats when it ends
    yield db
    pgh.drop_databases(pg_primary, [db])


def test_bloat_indexes_seq_scans_top_queries_connections(run_module, pg_primary, pgh, deep_db):
    opts = dict(pgh.connection_args(pg_primary, deep_db), filter=["bloat", "unused_indexes", "seq_scans", "top_queries", "connections"],
                bloat_min_bytes=0, seq_scan_threshold=20, top_n=50)
    result, no_ext, bad = pgh.run_parallel(run_module, [
        (MODULE, opts, None),
        (MODULE, dict(pgh.connection_args(pg_primary, "postgres"), filter=["top_queries"]), None),
        (MODULE, dict(opts, top_n=0), None)])
    assert not result.failed, result.get("msg")

    bloat = {t["table"]: t for t in result["bloat"]}
    assert bloat["bloaty"]["bloat_ratio"] > 0.6 and bloat["bloaty"]["est_rows"] == 5000
    assert bloat["bloaty"]["table_bytes"] == pg_primary.execute("SELECT pg_relation_size('bloaty')", deep_db, fetch=True)[0][0]
    assert bloat["bloaty"]["n_dead_tup"] == 15000
    assert bloat["compact"]["bloat_ratio"] < 0.25
    assert result["bloat"][0]["table"] == "bloaty"
    assert any("bloaty is an estimated" in f for f in result["assessment"]["findings"])

    unused = [i["index"] for i in result["unused_indexes"]["indexes"]]
    assert "compact_v_unused" in unused
    assert "compact_w_used" not in unused and "compact_pkey" not in unused and "bloaty_pkey" not in unused

    scans = {t["table"]: t for t in result["seq_scans"]}
    assert scans["scanned"]["seq_scan"] >= 25 and scans["scanned"]["has_indexes"] is False
    assert scans["scanned"]["seq_tup_read"] >= 25 * 500

    top = result["top_queries"]
    assert top["available"] and top["order_by"] == "mean_exec_time"
    marker = [q for q in top["queries"] if "sark-top-query-marker" in (q["query"] or "")]
    assert marker, [q["query"] for q in top["queries"]]
    assert marker[0]["calls"] == 3 and marker[0]["mean_exec_time_ms"] >= 50 and marker[0]["database"] == deep_db

    conns = result["connections"]
    assert conns["max_connections"] == 60
    assert conns["usage_percent"] == round(100.0 * conns["total"] / 60, 2)

    assert no_ext["top_queries"]["available"] is False and "CREATE EXTENSION pg_stat_statements" in no_ext["top_queries"]["reason"]
    assert bad.failed and "top_n must be at least 1" in bad["msg"]


def test_blocking_lock_chain(run_module, pg_primary, pgh, deep_db):
    holder = pg_primary.connect(deep_db, autocommit=False)
    holder.cursor().execute("UPDATE locks_t SET v = v + 1 WHERE id = 1")  # holds the row lock, then sits idle in transaction
    waiters = [pg_primary.connect(deep_db), pg_primary.connect(deep_db, autocommit=False)]  # LOCK TABLE needs a transaction
    a, b, c = holder.get_backend_pid(), waiters[0].get_backend_pid(), waiters[1].get_backend_pid()
    statements = ["UPDATE locks_t SET v = v + 10 WHERE id = 1", "LOCK TABLE locks_t IN ACCESS EXCLUSIVE MODE"]
    threads = []

    def waiting(pid):
        return pg_primary.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", params=(pid,),
                                  fetch=True)[0][0]
    try:
        for conn, statement, pid in zip(waiters, statements, (b, c)):
            thread = threading.Thread(target=_swallow, args=(conn, statement), daemon=True)
            thread.start()
            threads.append(thread)
            wait_for(lambda pid=pid: waiting(pid), 10, "backend %d waiting on a lock" % pid)
        result = run_module(MODULE, dict(pgh.connection_args(pg_primary, deep_db), filter=["blocking_locks"], long_running_threshold=0))
        assert not result.failed, result.get("msg")
        locks = result["blocking_locks"]
        waiting_rows = {w["pid"]: w for w in locks["waiting"]}
        assert set(waiting_rows) == {b, c}
        assert waiting_rows[b]["blocked_by"] == [a] and a in waiting_rows[c]["blocked_by"]
        assert locks["chains"] == [[a, b, c]]
        assert [r["pid"] for r in locks["roots"]] == [a]
        assert locks["roots"][0]["blocks"] == sorted([b, c]) and locks["roots"][0]["state"] == "idle in transaction"
        assert result["assessment"]["verdict"] == "warning"
        assert any("root blocker pid %d" % a in f for f in result["assessment"]["findings"])
    finally:
        holder.rollback()
        for thread in threads:
            thread.join(10)
        waiters[1].rollback()
        for conn in waiters + [holder]:
            conn.close()


def _swallow(conn, statement):
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    except Exception:  # pylint: disable=broad-except
        pass
