"""sark_redis_backup and sark_redis_backup_info against real redis-server 7 processes of their own: BGSAVE and its wait, the
RDB copy with checksum and manifest, the real redis-check-rdb, a scratch restore compared key count by key count, a second
run (reuse_within), retention, bad input (a file for backup_dir, a data directory this host cannot read, a stale RDB),
a corrupted backup found by the info module, a BGSAVE already running, and the AOF of a server with appendonly yes.

Every claim is read back independently: the files from disk, the checksum with hashlib, the RDB with redis-check-rdb
and with a redis-server of the harness loading the copy, the source's rdb_saves from INFO."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from harness.servers import RedisServer

MODULE = "sark_redis_backup"
INFO = "sark_redis_backup_info"
SEED = {0: 30, 2: 12, 5: 3}  # db -> keys; db0 also gets keys with a TTL


def seed(server):
    for db, count in SEED.items():
        client = server.client(db=db)
        client.flushdb()
        pipe = client.pipeline()
        for i in range(count):
            pipe.set("key:%d:%d" % (db, i), "v" * (i + 1))
        pipe.execute()
        client.close()
    client = server.client(db=0)
    client.set("session:ttl:1", "x", ex=3600)
    client.set("session:ttl:2", "y", ex=3600)
    client.hset("hash:1", mapping={"a": "1", "b": "2"})
    client.close()
    return {"db0": SEED[0] + 3, "db2": SEED[2], "db5": SEED[5]}


def rdb_saves(server):
    client = server.client()
    try:
        return int(client.info("persistence")["rdb_saves"])
    finally:
        client.close()


def opts(server, directory, **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": server.port, "backup_dir": directory}
    args.update(extra)
    return args


def tree(directory):
    found = []
    for root, dirs, files in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(root, name), directory) for name in dirs + files)
    return sorted(found)


def independent_keycounts(rdb_file, tmp_path):
    """Load a copy of the backup into a harness redis-server and count keys per database with DBSIZE."""
    workdir = tmp_path / ("load-%d" % time.monotonic_ns())
    workdir.mkdir()
    shutil.copy(rdb_file, workdir / "dump.rdb")
    with RedisServer(workdir=str(workdir)) as server:
        counts = {}
        for db in range(16):
            client = server.client(db=db)
            size = client.dbsize()
            client.close()
            if size:
                counts["db%d" % db] = size
        return counts


@pytest.fixture(scope="module")
def source():
    with RedisServer() as server:
        server.expected = seed(server)
        yield server


@pytest.fixture(scope="module")
def backed_up(run_module, source, tmp_path_factory):
    directory = os.path.join(str(tmp_path_factory.mktemp("redis-backups")), "rsp")
    args = opts(source, directory, restore_test=True)
    saves_before = rdb_saves(source)
    check = run_module(MODULE, args, check_mode=True, diff=True)
    after_check = {"dir_exists": os.path.lexists(directory), "saves": rdb_saves(source)}
    real = run_module(MODULE, args, diff=True)
    return {"dir": directory, "args": args, "check": check, "real": real, "saves_before": saves_before,
            "after_check": after_check, "saves_after": rdb_saves(source)}


def test_check_mode_plans_and_saves_nothing(backed_up):
    check = backed_up["check"]
    assert not check.failed, check.get("msg")
    assert check.changed is True
    actions = [a["action"] for a in check["planned_actions"]]
    assert actions[:4] == ["mkdir", "BGSAVE", "copy", "checksum"], actions
    assert "redis-check-rdb" in actions and "restore_test" in actions
    assert check["executed_actions"] == []
    assert check["source"]["readable"] is True and check["source"]["appendonly"] is False
    assert check["diff"]["before"] == {"backups": []} and len(check["diff"]["after"]["backups"]) == 1
    # nothing happened: no directory, no BGSAVE on the server (its own counter)
    assert backed_up["after_check"] == {"dir_exists": False, "saves": backed_up["saves_before"]}


def test_real_run_file_checksum_check_rdb_and_scratch_restore(backed_up, source, tmp_path):
    real, directory = backed_up["real"], backed_up["dir"]
    assert not real.failed, real.get("msg")
    assert real.changed is True
    assert backed_up["saves_after"] == backed_up["saves_before"] + 1  # exactly one BGSAVE on the server
    files = tree(directory)
    rdb = [f for f in files if f.endswith(".rdb")]
    assert len(rdb) == 1 and files == sorted([rdb[0], rdb[0] + ".json", rdb[0] + ".sha256"]), files
    path = os.path.join(directory, rdb[0])
    assert oct(os.stat(path).st_mode & 0o777) == "0o600" and oct(os.stat(directory).st_mode & 0o777) == "0o700"
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with open(path + ".sha256", encoding="utf-8") as handle:
        assert handle.read() == "%s  %s\n" % (digest, rdb[0])
    assert subprocess.run(["sha256sum", "-c", rdb[0] + ".sha256"], cwd=directory, capture_output=True, check=False).returncode == 0
    check = subprocess.run(["redis-check-rdb", path], capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "RDB looks OK" in check.stdout, check.stdout
    with open(path + ".json", encoding="utf-8") as handle:
        manifest = json.load(handle)
    expected = {db: {"keys": n, "expires": 2 if db == "db0" else 0} for db, n in source.expected.items()}
    assert manifest["keyspace"] == expected and manifest["counts_exact"] is True
    # the module's verification: redis-check-rdb and the scratch restore, equal per database, scratch server gone
    backup = real["backups"][0]
    assert backup["kind"] == "rdb" and backup["sha256"] == digest and backup["reused"] is False
    verification = backup["verification"]
    assert verification["ok"] is True and verification["check_tool"] == dict(verification["check_tool"], tool="redis-check-rdb", ok=True, rc=0)
    restore = verification["restore_test"]
    assert restore["ok"] is True and restore["exact"] is True and restore["stopped"] is True
    assert {r["db"]: r["restored_keys"] for r in restore["databases"]} == source.expected
    assert all(r["match"] for r in restore["databases"])
    with pytest.raises(ProcessLookupError):
        os.kill(restore["pid"], 0)
    # an independent load of the copy by a redis-server of the harness
    assert independent_keycounts(path, tmp_path) == source.expected
    assert real["save"]["counts_exact"] is True and real["save"]["running_before"] == []


def test_second_run_reuses_within_interval_then_new_backup_and_retention(run_module, backed_up, source):
    directory = backed_up["dir"]
    saves = rdb_saves(source)
    again = run_module(MODULE, opts(source, directory, reuse_within=3600), diff=True)
    assert not again.failed, again.get("msg")
    assert again.changed is False and again["backups"][0]["reused"] is True
    assert rdb_saves(source) == saves  # no BGSAVE
    assert "diff" not in again and len([f for f in os.listdir(directory) if f.endswith(".rdb")]) == 1
    # without reuse_within a run is a new backup; keep=1 then prunes the older one (never the one just taken)
    time.sleep(0.01)  # file names carry milliseconds
    new = run_module(MODULE, opts(source, directory, keep=1, verify=False))
    assert not new.failed, new.get("msg")
    assert new.changed is True and rdb_saves(source) == saves + 1
    remaining = sorted(f for f in os.listdir(directory) if f.endswith(".rdb"))
    assert remaining == [new["backups"][0]["file"]]
    assert [d["file"] for d in new["retention"]["deleted"]] == [backed_up["real"]["backups"][0]["file"]]
    assert not any(f.startswith(backed_up["real"]["backups"][0]["file"]) for f in os.listdir(directory))


def test_info_lists_and_detects_a_corrupted_backup(run_module, backed_up, source, tmp_path):
    directory = str(tmp_path / "info")
    made = run_module(MODULE, opts(source, directory, verify=False))
    assert not made.failed, made.get("msg")
    listing = run_module(INFO, {"backup_dir": directory})
    assert not listing.failed and listing.changed is False
    entry = listing["backups"][0]
    assert entry["ok"] is True and entry["checksum"]["ok"] is True and entry["kind"] == "rdb"
    assert entry["size_bytes"] == os.path.getsize(entry["path"]) and entry["age_s"] >= 0 and listing["mismatched"] == []
    assert listing["catalogue"]["redis.rdb"]["count"] == 1
    # flip one byte in the middle: the info module and the restore test both catch it
    with open(entry["path"], "r+b") as handle:
        handle.seek(entry["size_bytes"] // 2)
        byte = handle.read(1)
        handle.seek(entry["size_bytes"] // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    listing = run_module(INFO, {"backup_dir": directory})
    assert listing["mismatched"] == [entry["file"]] and listing["backups"][0]["checksum"]["ok"] is False
    tested = run_module(MODULE, {"state": "restore_test", "backup_dir": directory})
    assert tested.failed and "checksum mismatch" in tested["msg"], tested.get("msg")
    assert tested["verifications"][0]["restore_test"]["ok"] is False


def test_bad_input_file_as_dir_unreadable_data_dir_and_stale_rdb(run_module, source, tmp_path):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    saves = rdb_saves(source)
    result = run_module(MODULE, opts(source, str(a_file)))
    assert result.failed and "is not a directory" in result["msg"]
    # a Redis whose data directory this host cannot see (as a remote one): said plainly, no BGSAVE
    result = run_module(MODULE, opts(source, str(tmp_path / "b1"), redis_data_dir="/nonexistent/redis-data"))
    assert result.failed and "cannot copy" in result["msg"] and "delegate_to" in result["msg"], result["msg"]
    assert rdb_saves(source) == saves and not os.path.exists(tmp_path / "b1" / "x")
    # a directory holding an old RDB of another server: refused by its ctime, nothing kept
    stale = tmp_path / "stale"
    stale.mkdir()
    with RedisServer(workdir=str(stale)) as other:
        other.client().set("other", "1")
        other.client().save()
    time.sleep(1.1)  # the stale RDB's ctime is now in an earlier second than the next save's start
    result = run_module(MODULE, opts(source, str(tmp_path / "b2"), redis_data_dir=str(stale)))
    assert result.failed and "is not the file the Redis" in result["msg"], result["msg"]
    assert [f for f in os.listdir(tmp_path / "b2") if not f.startswith(".")] == []


def test_a_running_bgsave_is_waited_for_or_times_out(run_module, source, tmp_path):
    client = source.client()
    # 200 ms per key: a save of ~50 keys takes ~10 s, so it is still running when the module starts even on a machine
    # loaded enough to take seconds to start a process (at 40 ms per key, a 2 s save had ended before the module looked)
    client.config_set("rdb-key-save-delay", 200000)
    try:
        saves = rdb_saves(source)  # rdb_saves counts saves started
        client.bgsave()
        result = run_module(MODULE, opts(source, str(tmp_path / "t"), save_timeout=0.5))
        assert result.failed and "still running" in result["msg"] and "rdb_bgsave_in_progress" in result["msg"], result["msg"]
        assert rdb_saves(source) == saves + 1  # only the running one
        client.config_set("rdb-key-save-delay", 0)
        result = run_module(MODULE, opts(source, str(tmp_path / "w"), save_timeout=60, verify=False))
        assert not result.failed, result.get("msg")
        assert result["save"]["running_before"] == ["rdb_bgsave_in_progress"]
        assert rdb_saves(source) == saves + 2  # the one that was running, then ours
    finally:
        client.config_set("rdb-key-save-delay", 0)
        client.close()


def test_appendonly_server_backs_up_the_multipart_aof(run_module, tmp_path):
    with RedisServer(extra_args=["--appendonly", "yes"]) as server:
        expected = seed(server)
        directory = str(tmp_path / "aof")
        client = server.client()
        rewrites = int(client.info("persistence")["aof_rewrites"])
        check = run_module(MODULE, opts(server, directory, restore_test=True), check_mode=True)
        assert not check.failed and check.changed is True
        assert "BGREWRITEAOF" in [a["action"] for a in check["planned_actions"]]
        assert int(client.info("persistence")["aof_rewrites"]) == rewrites and not os.path.exists(directory)
        result = run_module(MODULE, opts(server, directory, restore_test=True))
        assert not result.failed, result.get("msg")
        kinds = {b["kind"]: b for b in result["backups"]}
        assert set(kinds) == {"rdb", "aof"}
        aof = kinds["aof"]
        assert aof["verification"]["ok"] is True and aof["verification"]["check_tool"]["tool"] == "redis-check-aof"
        restore = aof["verification"]["restore_test"]
        assert {r["db"]: r["restored_keys"] for r in restore["databases"]} == expected and restore["exact"] is True
        assert int(client.info("persistence")["aof_rewrites"]) == rewrites + 1
        client.close()
        # independently: the tar holds the manifest and the files it names, and redis-check-aof accepts them
        unpacked = tmp_path / "unpacked"
        with tarfile.open(aof["path"]) as tar:
            names = tar.getnames()
            tar.extractall(unpacked, filter="data")
        manifest = [n for n in names if n.endswith(".manifest")]
        assert len(manifest) == 1 and any(".base." in n for n in names)
        out = subprocess.run(["redis-check-aof", str(unpacked / manifest[0])], capture_output=True, text=True, check=False)
        assert out.returncode == 0 and "All AOF files and manifest are valid" in out.stdout, out.stdout
