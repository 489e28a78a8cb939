"""Faults injected for real into PostgreSQL 15 and the file system, and bad input, for sark_pg_maintenance, sark_pg_backup and
sark_pg_info (issue #9, 11, 13, 14, 16 and the standing proof suite).

The server here is this file's own: the tests restart it, which the shared session servers must never see.
Every fault test asserts a clean failure that keeps the partial results, nothing lost, and a rerun that converges.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from harness.servers import PostgresServer, wait_for

PASSWORD = "reliability-pg-pw"
MAINT = "sark_pg_maintenance"
BACKEND = "sark_pg_backend"
BACKUP = "sark_pg_backup"
APP = "sark.ops/sark_pg_maintenance"


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer(password=PASSWORD, auth="scram-sha-256", settings={"max_connections": 40, "autovacuum": "off"})
    server.start()
    yield server
    server.cleanup()


def conn_args(server, database=None, **extra):
    out = {"pg_host": server.host, "pg_port": server.port, "pg_user": "postgres", "pg_password": PASSWORD, "pg_sslmode": "disable"}
    if database:
        out["pg_database"] = database
    out.update(extra)
    return out


def fresh_database(server, name, tables=("t1", "t2", "t3"), rows=2000):
    server.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    server.create_database(name)
    for table in tables:
        # a text column gives every table a TOAST table with an index of its own, which REINDEX CONCURRENTLY rebuilds too
        server.execute("""
            CREATE TABLE {t} (id int PRIMARY KEY, name text, payload text);
            CREATE INDEX {t}_name ON {t} (name);
            INSERT INTO {t} SELECT g, 'n' || g, md5(g::text) FROM generate_series(1, {rows}) g;""".format(t=table, rows=rows), name)
    return name


def invalid_indexes(server, database):
    rows = server.execute("SELECT n.nspname || '.' || c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1", database, fetch=True)
    return [r[0] for r in rows]


def row_counts(server, database, tables=("t1", "t2", "t3")):
    return {t: server.execute("SELECT count(*) FROM %s" % t, database, fetch=True)[0][0] for t in tables}


def warning_texts(result):
    out = []
    for item in result.get("warnings") or []:
        out.append((item.get("event") or {}).get("msg") or item.get("msg") or str(item) if isinstance(item, dict) else str(item))
    return out


def hold_writer_lock(server, database, table):
    """An open transaction that wrote to table: REINDEX CONCURRENTLY of it waits for this after creating its _ccnew indexes."""
    conn = server.connect(database, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO %s (id, name, payload) VALUES (-1, 'holder', 'x')" % table)
    return conn


def hold_table_lock(server, database, table, mode="SHARE UPDATE EXCLUSIVE"):
    conn = server.connect(database, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("LOCK TABLE %s IN %s MODE" % (table, mode))
    return conn


def close_quietly(conn):
    try:
        conn.rollback()
        conn.close()
    except Exception:  # pylint: disable=broad-except
        pass


def in_background(func, *args, **kwargs):
    box = {}

    def target():
        box["result"] = func(*args, **kwargs)
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def wait_module_waiting(server, database, statement_start):
    """Until the module's backend waits on a lock in a statement starting with statement_start."""
    def waiting():
        rows = server.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = %s "
                              "AND wait_event_type = 'Lock' AND query ILIKE %s", params=(APP, database, statement_start + "%"),
                              fetch=True)
        return rows[0][0] == 1
    wait_for(waiting, 30, "the module waiting in %s" % statement_start)


def restart(server):
    """A real restart (fast shutdown: every session is terminated), same data directory and port."""
    server.stop()
    server.start()


# --- faults: PostgreSQL restarted mid-REINDEX CONCURRENTLY and mid-VACUUM -----------------------------------------

def test_restart_mid_reindex_concurrently_keeps_partial_results_finds_invalid_indexes_and_rerun_converges(run_module, pg):
    db = fresh_database(pg, "rel_reindex")
    opts = conn_args(pg, db, state="reindex", tables=["t1", "t2", "t3"], lock_timeout=60)
    holder = hold_writer_lock(pg, db, "t2")
    try:
        thread, box = in_background(run_module, MAINT, opts)
        wait_module_waiting(pg, db, "REINDEX TABLE CONCURRENTLY \"public\".\"t2\"")
        assert any(name.endswith("_ccnew") for name in invalid_indexes(pg, db))  # mid-REINDEX for real
        restart(pg)
        thread.join(60)
    finally:
        close_quietly(holder)
    failed = box["result"]
    assert failed.failed
    assert "connection to PostgreSQL" in failed["msg"] and "lost" in failed["msg"]
    assert "privilege" not in failed["msg"]  # before the fix: "... Check the privileges of postgres"
    assert failed["changed"] is True and failed["partial"] is True and failed["connection_lost"] is True
    assert [r["status"] for r in failed["results"]] == ["ok", "failed", "not_run"]
    assert failed["counts"]["relations_processed"] == 1
    left = invalid_indexes(pg, db)
    assert any(name.startswith("pg_toast.") and name.endswith("_ccnew") for name in left), left  # TOAST ones too
    assert any(name.startswith("public.") and name.endswith("_ccnew") for name in left), left
    assert row_counts(pg, db) == {"t1": 2000, "t2": 2000, "t3": 2000}  # nothing lost

    # a rerun reports them loudly (before the fix: ok, the invalid indexes only inside notices)
    rerun = run_module(MAINT, opts)
    assert not rerun.failed, rerun["msg"]
    assert sorted(e["index"] for e in rerun["invalid_indexes"]["before"]) == left
    assert all(e["leftover"] == "ccnew" for e in rerun["invalid_indexes"]["before"])
    assert any("interrupted REINDEX CONCURRENTLY" in w and "drop_invalid_indexes" in w for w in warning_texts(rerun))
    assert invalid_indexes(pg, db) == left  # reported, never dropped without the option

    check = run_module(MAINT, dict(opts, drop_invalid_indexes=True), check_mode=True)
    assert check.changed and invalid_indexes(pg, db) == left
    planned = [a["sql"] for a in check["planned_actions"]]
    assert sum(1 for s in planned if s.startswith("DROP INDEX CONCURRENTLY IF EXISTS")) == len(left)
    assert sum(1 for a in check["planned_actions"] if a["action"] == "drop_invalid_index") == len(left)
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "pg_toast".' in " ".join(planned)

    cleaned = run_module(MAINT, dict(opts, drop_invalid_indexes=True))
    assert not cleaned.failed, cleaned["msg"]
    assert sorted(cleaned["invalid_indexes"]["dropped"]) == left and cleaned["invalid_indexes"]["after"] == []
    assert cleaned["evidence"]["counts"]["invalid_indexes_dropped"] == len(left)
    assert invalid_indexes(pg, db) == []

    converged = run_module(MAINT, dict(opts, drop_invalid_indexes=True))
    assert not converged.failed and converged["invalid_indexes"]["before"] == [] and converged["invalid_indexes"]["dropped"] == []
    assert not any("invalid" in w for w in warning_texts(converged))


def test_restart_mid_vacuum_keeps_partial_results_and_rerun_converges(run_module, pg):
    db = fresh_database(pg, "rel_vacuum")
    pg.execute("DELETE FROM t1 WHERE id <= 500; DELETE FROM t2 WHERE id <= 500; DELETE FROM t3 WHERE id <= 500", db)
    opts = conn_args(pg, db, state="vacuum", tables=["t1", "t2", "t3"], lock_timeout=60)
    holder = hold_table_lock(pg, db, "t2")
    try:
        thread, box = in_background(run_module, MAINT, opts)
        wait_module_waiting(pg, db, "VACUUM (ANALYZE) \"public\".\"t2\"")
        restart(pg)
        thread.join(60)
    finally:
        close_quietly(holder)
    failed = box["result"]
    assert failed.failed and "lost" in failed["msg"] and "privilege" not in failed["msg"]
    assert failed["changed"] is True and failed["partial"] is True
    assert [r["status"] for r in failed["results"]] == ["ok", "failed", "not_run"]
    assert [a["target"] for a in failed["evidence"]["executed_actions"]] == ["public.t1"]
    assert row_counts(pg, db) == {"t1": 1500, "t2": 1500, "t3": 1500}

    rerun = run_module(MAINT, opts)
    assert not rerun.failed, rerun["msg"]
    assert [r["status"] for r in rerun["results"]] == ["ok", "ok", "ok"]
    dead = pg.execute("SELECT relname, n_dead_tup FROM pg_stat_user_tables ORDER BY 1", db, fetch=True)
    assert dict(dead) == {"t1": 0, "t2": 0, "t3": 0}


# --- fault: a lock held during maintenance -------------------------------------------------------------------------

def test_lock_held_during_reindex_respects_lock_timeout_fails_cleanly_and_rerun_converges(run_module, pg):
    db = fresh_database(pg, "rel_lock")
    opts = conn_args(pg, db, state="reindex", tables=["t1", "t2", "t3"], lock_timeout=1)
    holder = hold_writer_lock(pg, db, "t2")
    try:
        started = time.monotonic()
        failed = run_module(MAINT, opts)
        elapsed = time.monotonic() - started
    finally:
        close_quietly(holder)
    assert failed.failed
    assert elapsed < 20  # bounded by lock_timeout, not by the holder
    assert [r["status"] for r in failed["results"]] == ["ok", "failed", "ok"]
    assert "lock_timeout reached" in failed["results"][1]["error"]
    assert "1 of 3" not in failed["msg"] and "2 of 3 REINDEX statements ok" in failed["msg"]
    assert failed["changed"] is True and failed["partial"] is True and failed["counts"]["relations_processed"] == 2
    # the timed-out REINDEX CONCURRENTLY left its _ccnew copies: named in the failure and in its entry
    assert failed["results"][1]["invalid_indexes"] and "drop_invalid_indexes=true" in failed["results"][1]["error"]
    assert failed["invalid_indexes"]["after"]
    assert invalid_indexes(pg, db)
    assert row_counts(pg, db) == {"t1": 2000, "t2": 2000, "t3": 2000}

    rerun = run_module(MAINT, dict(opts, drop_invalid_indexes=True, tables=["t2"]))
    assert not rerun.failed, rerun["msg"]
    assert rerun["invalid_indexes"]["after"] == [] and invalid_indexes(pg, db) == []
    assert rerun["results"][0]["status"] == "ok"


# --- fault: two concurrent runs -------------------------------------------------------------------------------------

def test_two_concurrent_maintenance_runs_one_fails_cleanly_naming_the_holder_and_rerun_converges(run_module, pg):
    db = fresh_database(pg, "rel_concurrent", tables=("t1", "t2"))
    pg.execute("DELETE FROM t1 WHERE id <= 100; DELETE FROM t2 WHERE id <= 100", db)
    opts = conn_args(pg, db, state="vacuum", tables=["t1", "t2"], lock_timeout=30)
    holder = hold_table_lock(pg, db, "t2")
    try:
        thread, box = in_background(run_module, MAINT, opts)
        wait_module_waiting(pg, db, "VACUUM (ANALYZE) \"public\".\"t2\"")
        second = run_module(MAINT, opts)
    finally:
        close_quietly(holder)
    thread.join(60)
    first = box["result"]
    assert not first.failed, first["msg"]
    assert [r["status"] for r in first["results"]] == ["ok", "ok"]
    assert second.failed and "holds the sark_pg_maintenance lock" in second["msg"]
    assert second["changed"] is False and not second.get("partial")
    assert second["evidence"]["executed_actions"] == []
    rerun = run_module(MAINT, opts)
    assert not rerun.failed and [r["status"] for r in rerun["results"]] == ["ok", "ok"]


def test_two_concurrent_backups_both_complete_and_every_dump_verifies(run_module, pg, tmp_path):
    db = fresh_database(pg, "rel_backup_concurrent", tables=("t1",))
    directory = str(tmp_path / "backups")
    opts = conn_args(pg, databases=[db], backup_dir=directory)
    results = [None, None]

    def one(index):
        results[index] = run_module(BACKUP, opts)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for result in results:
        assert not result.failed, result["msg"]
        assert result.changed and result["backups"][0]["verification"]["ok"]
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.dump")))
    assert len(files) == 2 and files == sorted(r["backups"][0]["file"] for r in results)
    assert not [f for f in os.listdir(directory) if f.endswith((".partial", ".tmp"))]
    verified = run_module("sark_pg_backup_info", {"databases": [db], "backup_dir": directory})
    assert not verified.failed and len(verified["backups"]) == 2 and all(b["ok"] for b in verified["backups"])


# --- fault: disk full during a backup --------------------------------------------------------------------------------

@pytest.fixture()
def small_tmpfs():
    """A 1 MiB tmpfs (root only): a real ENOSPC mid-dump."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a size-limited tmpfs")
    path = tempfile.mkdtemp(prefix="sark-rel-tmpfs-")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", path], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        os.rmdir(path)
        pytest.skip("cannot mount a tmpfs here: %s" % proc.stderr.strip())
    yield path
    subprocess.run(["umount", path], check=False)
    os.rmdir(path)


def test_disk_full_during_backup_leaves_no_partial_file_reports_the_first_backup_and_rerun_converges(run_module, pg, small_tmpfs):
    small = fresh_database(pg, "rel_small", tables=("t1",), rows=100)
    big = fresh_database(pg, "rel_big", tables=("t1", "t2"), rows=0)
    # about 4 MB of incompressible rows: far more than the 1 MiB file system holds
    pg.execute("INSERT INTO t1 SELECT g, 'n', string_agg(md5(random()::text), '') FROM generate_series(1, 1000) g, "
               "generate_series(1, 120) r GROUP BY g", big)
    opts = conn_args(pg, databases=[small, big], backup_dir=small_tmpfs, compress=0, reuse_within=3600)
    failed = run_module(BACKUP, opts)
    assert failed.failed
    assert "file system is full" in failed["msg"] and "Nothing was kept for rel_big" in failed["msg"]
    assert "sark.ops bug" not in failed["msg"]
    # item 13: the first database's backup was written before the failure - changed, and reported
    assert failed["changed"] is True and failed["partial"] is True
    assert [b["database"] for b in failed["backups"]] == [small] and failed["backups"][0]["sha256"]
    assert failed["backups"][0]["file"] in failed["msg"]
    left = sorted(os.listdir(small_tmpfs))
    assert not [f for f in left if "partial" in f or f.endswith(".tmp")], left
    assert [f for f in left if f.startswith("rel_big")] == []
    assert len([f for f in left if f.startswith("rel_small") and f.endswith(".dump")]) == 1

    subprocess.run(["mount", "-o", "remount,size=64m", small_tmpfs], check=True)
    rerun = run_module(BACKUP, opts)
    assert not rerun.failed, rerun["msg"]
    assert [b["reused"] for b in rerun["backups"]] == [True, False]  # the first backup is kept, the second taken now
    assert all(b["verification"]["ok"] for b in rerun["backups"] if not b["reused"])
    again = run_module(BACKUP, opts)
    assert not again.failed and again.changed is False and [b["reused"] for b in again["backups"]] == [True, True]


def test_read_only_backup_dir_is_refused_before_any_dump(run_module, pg, small_tmpfs):
    db = fresh_database(pg, "rel_ro", tables=("t1",), rows=10)
    subprocess.run(["mount", "-o", "remount,ro", small_tmpfs], check=True)
    try:
        result = run_module(BACKUP, conn_args(pg, databases=[db], backup_dir=small_tmpfs))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", small_tmpfs], check=True)
    assert result.failed and "sark.ops bug" not in result["msg"]
    assert small_tmpfs in result["msg"] and ("read-only" in result["msg"] or "not writable" in result["msg"])
    assert result["changed"] is False and os.listdir(small_tmpfs) == []


# --- bad input: rows and files unchanged -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def baddb(pg):
    return fresh_database(pg, "rel_bad", tables=("t1", "t2"), rows=50)


@pytest.mark.parametrize("name", ['t1"; DROP TABLE t2; --', "t1; DELETE FROM t1", "t1' OR '1'='1", "public.t1;TRUNCATE t2"])
def test_injection_in_table_names_is_refused_and_nothing_changes(run_module, pg, baddb, name):
    result = run_module(MAINT, conn_args(pg, baddb, state="vacuum", tables=[name]))
    assert result.failed and "is not a plain relation name" in result["msg"]
    assert result["changed"] is False and result["evidence"]["executed_actions"] == []
    assert row_counts(pg, baddb, ("t1", "t2")) == {"t1": 50, "t2": 50}


@pytest.mark.parametrize("module, extra, message", [
    (MAINT, {"state": "vacuum", "max_tables": -1}, "max_tables must be at least 1"),
    (BACKEND, {"state": "terminate", "states": ["idle"], "max_backends": 0}, "max_backends must be at least 1"),
    (MAINT, {"state": "vacuum", "lock_timeout": -5}, "lock_timeout must be 0 or more"),
    (MAINT, {"state": "vacuum", "statement_timeout": 10 ** 12}, "statement_timeout must be at most"),
    (BACKEND, {"state": "terminate", "pids": [-1]}, "pids must be positive"),
    (BACKEND, {"state": "cancel", "states": ["active"], "statement_timeout": 10 ** 12}, "statement_timeout must be at most"),
])
def test_negative_and_huge_caps_are_refused_before_connecting(run_module, pg, baddb, module, extra, message):
    result = run_module(module, conn_args(pg, baddb, **extra))
    assert result.failed and message in result["msg"], result["msg"]
    assert result["changed"] is False
    assert row_counts(pg, baddb, ("t1", "t2")) == {"t1": 50, "t2": 50}


def test_pids_that_are_no_backend_are_named(run_module, pg, baddb):
    """Before the fix: pids [1] silently matched nothing (ok, changed false, no word)."""
    result = run_module(BACKEND, conn_args(pg, baddb, state="terminate", pids=[1, 2 ** 31 - 1]))
    assert not result.failed and result.changed is False
    assert set(result["pids_not_matched"]) == {"1", str(2 ** 31 - 1)}
    assert "not a backend of this PostgreSQL server" in result["pids_not_matched"]["1"]
    assert any("pids not signalled: 1 is not a backend" in w for w in warning_texts(result))


def test_backup_of_a_database_listed_twice_dumps_it_once(run_module, pg, baddb, tmp_path):
    result = run_module(BACKUP, conn_args(pg, databases=[baddb, baddb], backup_dir=str(tmp_path)))
    assert not result.failed, result["msg"]
    assert len(result["backups"]) == 1 and len(glob.glob(str(tmp_path / "*.dump"))) == 1
    assert any("more than once" in w for w in warning_texts(result))


def test_backup_with_an_unknown_database_is_refused_before_any_dump(run_module, pg, baddb, tmp_path):
    result = run_module(BACKUP, conn_args(pg, databases=[baddb, "no_such_db"], backup_dir=str(tmp_path)))
    assert result.failed and "no_such_db not found" in result["msg"] and "Nothing was dumped" in result["msg"]
    assert result["changed"] is False and os.listdir(str(tmp_path)) == []


def test_restore_test_precondition_is_checked_before_the_dump(run_module, pg, baddb, tmp_path):
    """Before the fix: the dump was written, then the restore test refused the foreign scratch database."""
    pg.execute('DROP DATABASE IF EXISTS "not_ours"')
    pg.create_database("not_ours")
    try:
        result = run_module(BACKUP, conn_args(pg, databases=[baddb], backup_dir=str(tmp_path), restore_test=True,
                                              restore_test_database="not_ours"))
    finally:
        pg.execute('DROP DATABASE IF EXISTS "not_ours"')
    assert result.failed and "was not created by sark.ops" in result["msg"] and "Nothing was done" in result["msg"]
    assert result["changed"] is False and os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden"])
def test_backup_database_names_that_escape_the_directory_are_refused(run_module, pg, tmp_path, name):
    result = run_module(BACKUP, conn_args(pg, databases=[name], backup_dir=str(tmp_path)))
    assert result.failed and "cannot be backed up to a file of its own name" in result["msg"]
    assert os.listdir(str(tmp_path)) == []


def test_backup_dir_that_is_a_file_is_refused(run_module, pg, baddb, tmp_path):
    path = tmp_path / "afile"
    path.write_text("keep me")
    result = run_module(BACKUP, conn_args(pg, databases=[baddb], backup_dir=str(path)))
    assert result.failed and "is not a directory" in result["msg"] and "sark.ops bug" not in result["msg"]
    assert path.read_text() == "keep me" and sorted(os.listdir(str(tmp_path))) == ["afile"]


@pytest.mark.parametrize("extra, message", [
    ({"filter": ["no_such_subset"]}, "no_such_subset"),
    ({"top_n": -3}, "top_n must be at least 1"),
    ({"connection_warning_ratio": 5}, "connection_warning_ratio must be between 0 and 1"),
])
def test_pg_info_bad_input(run_module, pg, baddb, extra, message):
    result = run_module("sark_pg_info", conn_args(pg, baddb, **extra))
    assert result.failed and message in result["msg"], result.get("msg")
    assert row_counts(pg, baddb, ("t1", "t2")) == {"t1": 50, "t2": 50}


def test_unreachable_postgres_is_a_clean_failure(run_module, pg, tmp_path):
    dead = conn_args(pg, "postgres", pg_port=1, pg_connect_timeout=2)
    info = run_module("sark_pg_info", dead)
    maint = run_module(MAINT, dict(dead, state="vacuum"))
    backup = run_module(BACKUP, dict(dead, databases=["postgres"], backup_dir=str(tmp_path)))
    for result in (maint, backup):
        assert result.failed and "Cannot connect to PostgreSQL" in result["msg"] and result["changed"] is False
    assert info.get("is_available") is False or info.failed
    assert os.listdir(str(tmp_path)) == []
