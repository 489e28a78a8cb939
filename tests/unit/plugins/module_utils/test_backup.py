import datetime
import errno
import hashlib
import os
import re

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _backup as backups
from ansible_collections.sark.ops.plugins.module_utils._files import CHUNK_BYTES, sha256_file
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, SarkPreconditionError

UTC = datetime.timezone.utc
PATTERN = re.compile(r"^(?P<name>[a-z]+)-(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z\.(?P<kind>rdb|aof)$")


def parse_pair(filename):
    """A series of two parts, like the Redis backups' (name, kind)."""
    match = PATTERN.match(filename)
    if not match:
        return None
    return (match.group("name"), match.group("kind")), {"name": match.group("name"), "kind": match.group("kind")}, \
        backups.stamp_of(match)


def test_stamp_round_trip():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert backups.stamp(moment) == "20260102T030405.123Z"
    assert parse_pair("redis-%s.rdb" % backups.stamp(moment))[2] == moment.replace(microsecond=123000)


def test_sha256_streams_and_sidecar_round_trip(tmp_path):
    path = tmp_path / "sark-20260102T030405.123Z.dump"
    data = os.urandom(CHUNK_BYTES * 2 + 17)
    path.write_bytes(data)
    digest = sha256_file(str(path))
    assert digest == hashlib.sha256(data).hexdigest()
    backups.write_checksum(str(path), digest)
    assert backups.read_checksum(str(path)) == digest
    assert (tmp_path / (path.name + ".sha256")).read_text() == "%s  %s\n" % (digest, path.name)
    assert oct((tmp_path / (path.name + ".sha256")).stat().st_mode & 0o777) == "0o600"
    assert backups.check_checksum(str(path), "dump")["ok"] is True
    (tmp_path / (path.name + ".sha256")).write_text("garbage\n")
    assert backups.read_checksum(str(path)) is None
    missing = backups.check_checksum(str(path), "dump")
    assert missing["ok"] is False and "no %s.sha256 next to the dump" % path.name in missing["error"]


def test_sidecars_are_whole_or_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "x.dump")
    backups.write_checksum(path, "abc")
    target = tmp_path / "x.dump.sha256"
    assert target.read_text() == "abc  x.dump\n" and oct(os.stat(str(target)).st_mode & 0o777) == "0o600"

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SarkOperationError) as err:
        backups.write_manifest(path, {"size_bytes": 1})
    assert "the file system is full" in err.value.msg
    assert target.read_text() == "abc  x.dump\n" and sorted(os.listdir(str(tmp_path))) == ["x.dump.sha256"]


def entries(ages_days, name="sark"):
    now = datetime.datetime(2026, 6, 1, tzinfo=UTC)
    out = []
    for days in sorted(ages_days):
        file_name = "%s-%s.dump" % (name, backups.stamp(now - datetime.timedelta(days=days)))
        out.append({"database": name, "file": file_name, "path": "/b/" + file_name, "age_s": days * 86400.0})
    return out


def test_retention_keep_max_age_and_newest_always_kept():
    rows = entries([0, 1, 2, 3, 40])
    doomed = backups.plan_retention(rows, keep=3)
    assert [d["file"] for d in doomed] == [rows[3]["file"], rows[4]["file"]]
    doomed = backups.plan_retention(rows, max_age_days=2.5)
    assert [d["reason"] for d in doomed] == ["older than 2.5 days", "older than 2.5 days"]
    assert backups.plan_retention(entries([50, 60]), max_age_days=30)[0]["file"] == entries([50, 60])[1]["file"]
    assert len(backups.plan_retention(entries([50]), max_age_days=30)) == 0  # the only backup stays
    assert backups.plan_retention(rows, keep=1, protect={rows[1]["path"]})[0]["file"] == rows[2]["file"]
    assert [d["path"] for d in backups.plan_retention(rows, keep=2, protect={rows[4]["path"]})] == [rows[2]["path"], rows[3]["path"]]
    assert backups.plan_retention(rows) == []


def test_catalogue_of_series_in_two_parts(tmp_path):
    for name in ("redis-20260101T000000.000Z.rdb", "redis-20260102T000000.000Z.rdb", "redis-20260101T000000.000Z.aof",
                 "cache-20260101T000000.000Z.rdb", "notes.txt", "redis-20260103T000000.000Z.rdb.sha256"):
        (tmp_path / name).write_bytes(b"xy")
    (tmp_path / "redis-20260102T000000.000Z.rdb.sha256").write_text("0" * 64 + "  x\n")
    found = backups.catalogue(str(tmp_path), parse_pair, now=datetime.datetime(2026, 1, 3, tzinfo=UTC))
    assert sorted(found) == [("cache", "rdb"), ("redis", "aof"), ("redis", "rdb")]
    newest = found[("redis", "rdb")][0]
    assert newest["file"] == "redis-20260102T000000.000Z.rdb" and newest["age_s"] == 86400.0
    assert newest["name"] == "redis" and newest["kind"] == "rdb" and newest["has_checksum"] and not newest["has_manifest"]
    assert sorted(backups.catalogue(str(tmp_path), parse_pair, ["cache"])) == [("cache", "rdb")]
    summary = backups.summarize_catalogue(found)
    assert summary["redis.rdb"] == {"count": 2, "newest": "redis-20260102T000000.000Z.rdb", "newest_age_s": 86400.0, "total_bytes": 4}
    assert backups.files_in(str(tmp_path), parse_pair) == sorted(n for n in os.listdir(str(tmp_path)) if parse_pair(n))
    assert backups.catalogue(str(tmp_path / "absent"), parse_pair) == {}
    with pytest.raises(SarkPreconditionError) as err:
        backups.newest_paths({}, " named redis-*", "/b")
    assert err.value.msg == "no backups named redis-* in /b to test"


def test_inspect_backup_checks_size_and_checksum(tmp_path):
    path = tmp_path / "redis-20260101T000000.000Z.rdb"
    path.write_bytes(b"abc")
    backups.write_checksum(str(path), sha256_file(str(path)))
    entry = {"file": path.name, "path": str(path), "size_bytes": 3}
    assert backups.inspect_backup(entry, {"size_bytes": 3}, True, "backup")["ok"] is True
    assert backups.inspect_backup(entry, {}, False, "backup")["ok"] is None
    short = backups.inspect_backup(entry, {"size_bytes": 4}, True, "backup")
    assert short["ok"] is False and short["size"] == {"expected": 4, "actual": 3, "ok": False}
    path.write_bytes(b"abd")
    assert backups.inspect_backup(entry, {"size_bytes": 3}, True, "backup")["checksum"]["ok"] is False


def test_describe_failure_names_the_first_check_that_failed():
    def fmt(verification):
        return "format bad" if not verification.get("format", {}).get("ok", True) else None

    def mismatch(rows):
        return "%d differ" % len(rows)
    good = {"checksum": {"ok": True}, "size": {"ok": True, "expected": 3, "actual": 3}}
    assert backups.describe_failure({"error": "no such file"}, fmt, mismatch) == "no such file"
    assert "checksum mismatch (recorded a, file now b)" in backups.describe_failure(
        {"checksum": {"ok": False, "expected": "a", "actual": "b"}}, fmt, mismatch)
    assert backups.describe_failure(dict(good, size={"ok": False, "expected": 4, "actual": 3}), fmt, mismatch).startswith(
        "3 bytes, but 4 were written")
    assert backups.describe_failure(dict(good, format={"ok": False}), fmt, mismatch) == "format bad"
    assert backups.describe_failure(dict(good, restore_test={"error": "boom"}), fmt, mismatch) == "restore test failed: boom"
    assert backups.describe_failure(dict(good, restore_test={"mismatches": [1, 2]}), fmt, mismatch) == "2 differ"
