import datetime
import struct

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._redis_backup import (
    backup_name,
    compare_keyspace,
    keyspace_of,
    parse_aof_manifest,
    parse_name,
    parse_rdb_header,
    validate_name,
)


def aux(key, value):
    """An RDB auxiliary field: 0xFA, key and value as length-prefixed strings (value int-encoded when it is an int)."""
    if isinstance(value, int):
        encoded = bytes([0xC2]) + struct.pack("<i", value)
    else:
        encoded = bytes([len(value)]) + value.encode()
    return b"\xfa" + bytes([len(key)]) + key.encode() + encoded


def test_rdb_header_reads_version_and_aux_fields():
    data = b"REDIS0010" + aux("redis-ver", "7.0.15") + aux("ctime", 1767323045) + b"\xfe\x00"
    header = parse_rdb_header(data)
    assert header == {"rdb_version": 10, "aux": {"redis-ver": "7.0.15", "ctime": "1767323045"}}


def test_rdb_header_refuses_other_files_and_stops_at_a_cut():
    with pytest.raises(ValueError):
        parse_rdb_header(b"PGDMP\x01\x0e")
    cut = (b"REDIS0011" + aux("redis-ver", "7.2.4") + aux("ctime", 5))[:-2]
    assert parse_rdb_header(cut) == {"rdb_version": 11, "aux": {"redis-ver": "7.2.4"}}


def test_names_round_trip_and_other_files_are_ignored():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc)
    assert backup_name("rsp-redis", moment, "rdb") == "rsp-redis-20260102T030405.123Z.rdb"
    assert parse_name("rsp-redis-20260102T030405.123Z.aof.tar") == ("rsp-redis", "aof", moment)
    assert parse_name("dump.rdb") is None and parse_name("rsp-redis-20260102T030405.123Z.rdb.sha256") is None
    with pytest.raises(SarkValidationError):
        validate_name("../etc")


def test_aof_manifest_is_parsed_and_paths_outside_refused():
    text = "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.2.incr.aof seq 2 type h\nfile appendonly.aof.5.incr.aof seq 5 type i\n"
    assert [(e["file"], e["type"]) for e in parse_aof_manifest(text)] == [
        ("appendonly.aof.3.base.rdb", "b"), ("appendonly.aof.2.incr.aof", "h"), ("appendonly.aof.5.incr.aof", "i")]
    with pytest.raises(ValueError):
        parse_aof_manifest("file ../../etc/passwd seq 1 type b\n")


def test_keyspace_comparison_exact_expiry_and_inexact():
    source = keyspace_of({"db0": {"keys": 10, "expires": 3, "avg_ttl": 0}, "db2": {"keys": 4, "expires": 0}, "redis_version": "7"})
    assert source == {"db0": {"keys": 10, "expires": 3}, "db2": {"keys": 4, "expires": 0}}
    same = compare_keyspace(source, {"db0": {"keys": 10, "expires": 3}, "db2": {"keys": 4, "expires": 0}})
    assert same["ok"] is True and same["mismatches"] == []
    # two keys with a TTL expired before the restore loaded them: explained, not a mismatch
    expired = compare_keyspace(source, {"db0": {"keys": 8, "expires": 1}, "db2": {"keys": 4, "expires": 0}}, expired_at_load=2)
    assert expired["ok"] is True and "explained" in expired["databases"][0]
    # a lost persistent key is a mismatch; with inexact source counts it is reported but tolerated
    lost = compare_keyspace(source, {"db0": {"keys": 10, "expires": 3}, "db2": {"keys": 3, "expires": 0}})
    assert lost["ok"] is False and [m["db"] for m in lost["mismatches"]] == ["db2"]
    assert compare_keyspace(source, {"db0": {"keys": 10, "expires": 3}}, exact=False)["ok"] is True
