"""sark_pg_backup and sark_pg_backup_info against a real PostgreSQL 15 with both SARK layouts: pg_dump, checksum, pg_restore --list, a restore
test with row counts compared table by table, corruption detection and retention - check mode, real run, second run."""

import datetime
import hashlib
import json
import os
import stat

import pytest

MODULE = "sark_pg_backup"
INFO = "sark_pg_backup_info"


def dumps(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".dump"))


@pytest.fixture(scope="module")
def sark_databases(pg_primary, pgh):
    made = pgh.install_layouts(pg_primary)
    yield made
    pgh.drop_databases(pg_primary, [name for dbs in made.values() for name in (dbs["sark"], dbs["audit"])] + ["not_scratch"])


@pytest.fixture(scope="module")
def backed_up(run_module, pg_primary, pgh, sark_databases, tmp_path_factory):
    """One real backup of the runbook layout's two databases, with a restore test (shared by the tests below)."""
    directory = os.path.join(str(tmp_path_factory.mktemp("backups")), "sark")  # made by the real run, not by check mode
    databases = [sark_databases["runbook"]["sark"], sark_databases["runbook"]["audit"]]
    opts = dict(pgh.connection_args(pg_primary), databases=databases, backup_dir=directory, restore_test=True)
    databases_before = database_names(pg_primary)
    check = run_module(MODULE, opts, check_mode=True, diff=True)
    # what check mode left behind, read from the disk and the server (not from the module's report)
    after_check = {"dir_exists": os.path.lexists(directory), "files": tree(directory) if os.path.isdir(directory) else [],
                   "databases": database_names(pg_primary), "databases_before": databases_before}
    real = run_module(MODULE, opts, diff=True)
    return {"dir": directory, "databases": databases, "opts": opts, "check": check, "real": real, "after_check": after_check}


def tree(directory):
    """Every entry under directory (hidden and temporary files included), relative paths."""
    found = []
    for root, dirs, files in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(root, name), directory) for name in dirs + files)
    return sorted(found)


def database_names(server):
    return sorted(row[0] for row in server.execute("SELECT datname FROM pg_database", fetch=True))


def test_check_mode_plans_and_touches_nothing(backed_up, pgh):
    check = backed_up["check"]
    assert not check.failed, check["msg"]
    assert check.changed is True
    dump_plans = [a for a in check["planned_actions"] if a["action"] == "pg_dump"]
    assert [p["database"] for p in dump_plans] == backed_up["databases"]
    argv = dump_plans[0]["argv"]
    assert "--format=custom" in argv and "--no-password" in argv and any(a.startswith("--file=") for a in argv)
    assert dump_plans[0]["environment"]["PGPASSWORD"] == "********"
    assert pgh.PASSWORD not in json.dumps(check["planned_actions"]) and pgh.PASSWORD not in check["_stdout"]
    assert any(a["action"] == "restore_test" for a in check["planned_actions"])
    assert check["executed_actions"] == []
    assert check["diff"]["before"] == {"backups": []} and len(check["diff"]["after"]["backups"]) == 2
    # touched nothing: no file (dump, checksum, manifest, .tmp) in backup_dir, no restore-test scratch database
    after = backed_up["after_check"]
    assert {"action": "mkdir", "path": backed_up["dir"], "mode": "0700"} in check["planned_actions"]
    assert not after["dir_exists"] and after["files"] == [], after
    assert after["databases"] == after["databases_before"]
    assert backed_up["opts"].get("restore_test_database", "sark_ops_restore_test") not in after["databases"]


def test_backup_checksum_manifest_and_restore_test_row_counts(backed_up, pg_primary, pgh, sark_databases):
    real, directory = backed_up["real"], backed_up["dir"]
    assert not real.failed, real.get("msg")
    assert real.changed is True
    files = dumps(directory)
    assert len(files) == 2 and [b["file"] for b in real["backups"]] == [
        f for db in backed_up["databases"] for f in files if f.startswith(db + "-")]
    assert real["diff"]["after"]["backups"] == files
    assert pgh.PASSWORD not in real["_stdout"]
    for backup in real["backups"]:
        path = os.path.join(directory, backup["file"])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path, "rb") as handle:
            assert handle.read(5) == b"PGDMP"  # pg_dump custom format
            handle.seek(0)
            digest = hashlib.sha256(handle.read()).hexdigest()
        assert backup["sha256"] == digest
        with open(path + ".sha256") as handle:
            assert handle.read() == "%s  %s\n" % (digest, backup["file"])
        with open(path + ".json") as handle:
            manifest = json.load(handle)
        # the counts recorded with the dump are the real ones
        for table, count in manifest["row_counts"].items():
            schema, name = table.split(".")
            assert pg_primary.execute('SELECT count(*) FROM "%s"."%s"' % (schema, name), backup["database"], fetch=True)[0][0] == count
        verification = backup["verification"]
        assert verification["ok"] and verification["checksum"]["ok"] and verification["toc"]["ok"]
        assert verification["toc"]["table_data_entries"] >= len(manifest["row_counts"])
        restore = verification["restore_test"]
        assert restore["ok"] and restore["dropped"] and restore["mismatches"] == []
        assert restore["tables_compared"] == len(manifest["row_counts"]) >= 2
        assert all(row["match"] and row["source"] == row["restored"] for row in restore["comparison"])
    audit = [b for b in real["backups"] if b["database"] == sark_databases["runbook"]["audit"]][0]
    compared = {row["table"]: row for row in audit["verification"]["restore_test"]["comparison"]}
    assert compared["public.audit_events"]["restored"] == sark_databases["runbook"]["seed"]["audit_events"]
    assert compared["public.policy_evaluations"]["restored"] == sark_databases["runbook"]["seed"]["policy_evaluations"]
    # the scratch database is gone again
    assert not pg_primary.execute("SELECT 1 FROM pg_database WHERE datname = 'sark_ops_restore_test'", fetch=True)
    assert real["catalogue"][backed_up["databases"][0]]["count"] == 1
    assert any(a["action"] == "pg_dump" for a in real["executed_actions"])
    assert pgh.PASSWORD not in " ".join(" ".join(a["argv"]) for a in real["executed_actions"] if "argv" in a)


def test_second_run_reuses_a_recent_intact_backup(backed_up, run_module):
    again = run_module(MODULE, dict(backed_up["opts"], reuse_within=3600, restore_test=False))
    assert not again.failed, again.get("msg")
    assert again.changed is False and all(b["reused"] for b in again["backups"])
    assert len(dumps(backed_up["dir"])) == 2
    assert all(b["verification"]["ok"] for b in again["backups"])


def test_corrupted_dump_is_detected(backed_up, run_module, pgh, pg_primary, tmp_path):
    source = os.path.join(backed_up["dir"], backed_up["real"]["backups"][1]["file"])
    with open(source, "rb") as handle:
        data = handle.read()
    base = "sark_rb_audit-20260101T000000.000Z.dump"
    # 1. bytes flipped after the checksum was written
    flipped = tmp_path / base
    middle = len(data) // 2
    flipped.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])
    (tmp_path / (base + ".sha256")).write_text(open(source + ".sha256").read().replace(os.path.basename(source), base))
    (tmp_path / (base + ".json")).write_text(open(source + ".json").read())
    listed = run_module(INFO, {"backup_dir": str(tmp_path)})
    assert not listed.failed and not listed.changed and listed["mismatched"] == [base]
    assert listed["backups"][0]["checksum"]["ok"] is False and listed["backups"][0]["ok"] is False
    args = dict(pgh.connection_args(pg_primary), state="restore_test", backup_dir=str(tmp_path),
                backup_file=str(flipped))
    result = run_module(MODULE, args)
    assert result.failed and "checksum mismatch" in result["msg"]
    assert result["verifications"][0]["checksum"]["ok"] is False
    check = run_module(MODULE, args, check_mode=True)  # read-only checks run in check mode too
    assert check.failed and "checksum mismatch" in check["msg"]

    # 2. truncated, then checksummed again (a copy cut short, its checksum made from the copy): the checksum agrees and
    #    pg_restore still reads the table of contents at the head of the file; the manifest's size catches it, and
    #    without a manifest the restore test does
    truncated = tmp_path / ("t" + base)
    truncated.write_bytes(data[:int(len(data) * 0.95)])
    (tmp_path / ("t" + base + ".sha256")).write_text("%s  %s\n" % (hashlib.sha256(truncated.read_bytes()).hexdigest(), "t" + base))
    (tmp_path / ("t" + base + ".json")).write_text(open(source + ".json").read())
    listed = run_module(INFO, {"backup_dir": str(tmp_path), "databases": ["t" + base.split("-", maxsplit=1)[0]]})
    assert listed["mismatched"] == ["t" + base] and listed["backups"][0]["checksum"]["ok"] is True
    assert listed["backups"][0]["size"]["ok"] is False
    result = run_module(MODULE, dict(args, backup_file=str(truncated)))
    assert result.failed and "the file was truncated or replaced" in result["msg"], result.get("msg")
    verification = result["verifications"][0]
    assert verification["checksum"]["ok"] is True and verification["toc"]["ok"] is True and verification["size"]["ok"] is False
    os.remove(str(tmp_path / ("t" + base + ".json")))
    result = run_module(MODULE, dict(args, backup_file=str(truncated)))
    assert result.failed and "restore test failed" in result["msg"] and "end of file" in result["msg"], result.get("msg")
    verification = result["verifications"][0]
    assert verification["toc"]["ok"] is True and verification["restore_test"]["ok"] is False
    assert verification["restore_test"]["dropped"] is True
    assert not pg_primary.execute("SELECT 1 FROM pg_database WHERE datname = 'sark_ops_restore_test'", fetch=True)

    # 3. not a dump at all
    garbage = tmp_path / ("g" + base)
    garbage.write_bytes(b"this is not a pg_dump archive\n" * 100)
    (tmp_path / ("g" + base + ".sha256")).write_text("%s  %s\n" % (hashlib.sha256(garbage.read_bytes()).hexdigest(), "g" + base))
    result = run_module(MODULE, dict(args, backup_file=str(garbage)))
    assert result.failed and "table of contents" in result["msg"]


def write_fake(directory, database, moment, content=b"x"):
    name = "%s-%s.%03dZ.dump" % (database, moment.strftime("%Y%m%dT%H%M%S"), moment.microsecond // 1000)
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(content)
    with open(path + ".sha256", "w") as handle:
        handle.write("%s  %s\n" % (hashlib.sha256(content).hexdigest(), name))
    return name


def test_retention_keep_and_max_age_check_real_idempotent(run_module, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    directory = str(tmp_path)
    sark = [write_fake(directory, "sark", now - datetime.timedelta(days=d)) for d in (0, 1, 2, 3, 40)]
    audit = [write_fake(directory, "sark_audit", now - datetime.timedelta(days=d)) for d in (50, 60)]
    (tmp_path / "notes.txt").write_text("not a backup")
    (tmp_path / "sark-garbage.dump").write_text("not named by the module")
    opts = {"state": "prune", "backup_dir": directory, "keep": 3, "max_age_days": 30}

    check = run_module(MODULE, opts, check_mode=True, diff=True)
    assert not check.failed, check.get("msg")
    assert check.changed is True
    deleted = sorted(d["file"] for d in check["retention"]["deleted"])
    # sark: beyond the newest 3 (days 3 and 40); sark_audit: older than 30 days but the newest one is always kept
    assert deleted == sorted([sark[3], sark[4], audit[1]])
    assert {d["file"]: d["reason"] for d in check["retention"]["deleted"]}[sark[4]] == "beyond the newest 3 and older than 30 days"
    assert len(os.listdir(directory)) == 16
    assert sorted(check["diff"]["before"]["backups"]) == sorted(sark + audit)

    real = run_module(MODULE, opts, diff=True)
    assert real.changed is True and sorted(d["file"] for d in real["retention"]["deleted"]) == deleted
    assert sorted(dumps(directory)) == sorted(sark[:3] + audit[:1] + ["sark-garbage.dump"])
    assert not os.path.exists(os.path.join(directory, sark[4] + ".sha256"))
    assert (tmp_path / "notes.txt").exists()
    assert real["catalogue"]["sark"]["count"] == 3 and real["catalogue"]["sark_audit"]["count"] == 1
    assert real["retention"]["kept"] == {"sark": 3, "sark_audit": 1}

    again = run_module(MODULE, opts)
    assert again.changed is False and again["retention"]["deleted"] == []


def test_bad_input_is_refused(run_module, pgh, tmp_path, pg_primary):
    base = dict(pgh.connection_args(pg_primary), backup_dir=str(tmp_path))
    # the other input checks are unit tests (tests/unit/plugins/module_utils/test_pg_backup.py)
    cases = [
        ({"databases": ["../etc"]}, "cannot be backed up to a file"),
        ({"databases": ["sark"], "restore_test": True, "restore_test_database": "sark"}, "is one of the databases"),
        ({"databases": ["no_such_db"]}, "no_such_db"),
        ({"databases": ["sark"], "action": "backup"}, "action"),
        ({"state": "prune"}, "state=prune needs keep"),
        ({"databases": ["sark"], "backup_file": "/x.dump"}, "backup_file applies to state=restore_test only"),
    ]
    results = pgh.run_parallel(run_module, [(MODULE, dict(base, **extra), None) for extra, _message in cases])
    for (extra, message), result in zip(cases, results):
        assert result.failed and message in result["msg"], (extra, result.get("msg"))
    assert dumps(str(tmp_path)) == []


def test_restore_test_never_drops_a_database_it_did_not_create(run_module, pgh, pg_primary, backed_up):
    pgh.make_database(pg_primary, "not_scratch")
    result = run_module(MODULE, dict(pgh.connection_args(pg_primary), state="restore_test", backup_dir=backed_up["dir"],
                                     restore_test_database="not_scratch"))
    assert result.failed and "was not created by sark.ops" in result["msg"]
    assert pg_primary.execute("SELECT 1 FROM pg_database WHERE datname = 'not_scratch'", fetch=True)


def test_info_lists_backups_with_age_size_and_checksum(run_module, backed_up, tmp_path):
    before = tree(backed_up["dir"])
    listed = run_module(INFO, {"backup_dir": backed_up["dir"]})
    assert not listed.failed, listed.get("msg")
    assert listed.changed is False and listed["exists"] is True and listed["mismatched"] == []
    by_db = {b["database"]: b for b in listed["backups"]}
    assert sorted(by_db) == sorted(backed_up["databases"])
    for entry in backed_up["real"]["backups"]:
        found = by_db[entry["database"]]
        assert found["file"] == entry["file"] and found["size_bytes"] == os.path.getsize(entry["path"])
        assert found["checksum"] == {"expected": entry["sha256"], "actual": entry["sha256"], "ok": True}
        assert found["ok"] is True and 0 <= found["age_s"] < 3600
        assert listed["catalogue"][entry["database"]]["newest"] == entry["file"]
    fast = run_module(INFO, {"backup_dir": backed_up["dir"], "verify": False, "max_results": 1}, check_mode=True)
    assert not fast.changed and all("checksum" not in b and b["ok"] is None for b in fast["backups"])
    assert tree(backed_up["dir"]) == before  # read only
    missing = run_module(INFO, {"backup_dir": str(tmp_path / "none")})
    assert not missing.failed and missing["exists"] is False and missing["backups"] == [] and missing["catalogue"] == {}
    for extra, message in (({"max_results": 0}, "max_results must be at least 1"), ({"databases": ["../etc"]}, "cannot be backed up"),
                           ({"state": "present"}, "state")):
        bad = run_module(INFO, dict({"backup_dir": backed_up["dir"]}, **extra))
        assert bad.failed and message in bad["msg"], (extra, bad.get("msg"))
    assert not os.path.exists(str(tmp_path / "none"))
