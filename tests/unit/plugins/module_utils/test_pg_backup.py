import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _pg_backup as backup
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

UTC = datetime.timezone.utc
DEFAULTS = {"state": "present", "databases": ["sark", "sark_audit"], "backup_dir": "/b", "backup_file": None, "verify": True,
            "restore_test": False, "restore_test_database": "sark_ops_restore_test", "maintenance_database": "postgres",
            "count_rows": None, "max_count_tables": 1000, "keep": None, "max_age_days": None, "reuse_within": 0.0, "compress": None,
            "dump_timeout": 3600, "restore_timeout": 3600, "lock_wait_timeout": 60.0, "pg_bin_dir": None,
            "pg_host": "db.example", "pg_port": 5432, "pg_user": "sark", "pg_password": "s3cret", "pg_sslmode": "prefer",
            "pg_connect_timeout": 10, "pg_connect_params": {}, "pg_unix_socket": None}


def params(**extra):
    out = dict(DEFAULTS)
    out.update(extra)
    return out


def test_names_round_trip():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    name = backup.backup_name("sark_audit", moment)
    assert name == "sark_audit-20260102T030405.123Z.dump"
    assert backup.parse_name(name) == ("sark_audit", moment.replace(microsecond=123000))
    assert backup.parse_name("with-dash-20260102T030405.000Z.dump")[0] == "with-dash"
    for other in ("notes.txt", "sark.dump", "sark-20260102T030405.123Z.dump.partial", "sark-20260102T030405.123Z.dump.sha256"):
        assert backup.parse_name(other) is None


def test_catalogue_reads_only_module_names(tmp_path):
    for name in ("sark-20260101T000000.000Z.dump", "sark-20260102T000000.000Z.dump", "sark_audit-20260101T000000.000Z.dump",
                 "other.dump", "sark-20260103T000000.000Z.dump.partial"):
        (tmp_path / name).write_bytes(b"x")
    found = backup.catalogue(str(tmp_path), now=datetime.datetime(2026, 1, 3, tzinfo=UTC))
    assert sorted(found) == ["sark", "sark_audit"]
    assert [e["file"] for e in found["sark"]] == ["sark-20260102T000000.000Z.dump", "sark-20260101T000000.000Z.dump"]
    assert found["sark"][0]["age_s"] == 86400.0
    assert backup.catalogue(str(tmp_path), ["sark_audit"]).keys() == {"sark_audit"}
    assert backup.partial_files(str(tmp_path)) == ["sark-20260103T000000.000Z.dump.partial"]


def test_libpq_environment_keeps_the_password_out_of_argv():
    env = backup.libpq_environment(params(pg_connect_params={"options": "-c statement_timeout=0"}), "sark", "sark.ops/x")
    assert env["PGPASSWORD"] == "s3cret" and env["PGHOST"] == "db.example" and env["PGDATABASE"] == "sark"
    assert env["PGOPTIONS"] == "-c statement_timeout=0" and env["PGAPPNAME"] == "sark.ops/x"
    assert backup.describe_environment(env)["PGPASSWORD"] == "********"
    assert backup.libpq_environment(params(pg_unix_socket="/run/pg"), "sark", "a")["PGHOST"] == "/run/pg"
    with pytest.raises(SarkValidationError) as err:
        backup.libpq_environment(params(pg_connect_params={"keepalives": 1}), "sark", "a")
    assert "no libpq environment variable" in err.value.msg


@pytest.mark.parametrize("extra, message", [
    ({"databases": []}, "needs databases"),
    ({"databases": ["../etc"]}, "cannot be backed up to a file"),
    ({"databases": [".hidden"]}, "cannot be backed up to a file"),
    ({"keep": 0}, "keep must be at least 1"),
    ({"max_age_days": 0}, "max_age_days must be more than 0"),
    ({"state": "prune"}, "needs keep and/or max_age_days"),
    ({"backup_file": "/b/x.dump"}, "backup_file applies to state=restore_test only"),
    ({"restore_test": True, "restore_test_database": "sark"}, "is one of the databases"),
    ({"restore_test": True, "restore_test_database": "x; DROP"}, "plain lowercase name"),
    ({"compress": 12}, "compress must be between 0 and 9"),
    ({"dump_timeout": 0}, "dump_timeout must be at least 1"),
    ({"reuse_within": -1}, "reuse_within must be 0 or more"),
    ({"pg_connect_params": {"keepalives": 1}}, "no libpq environment variable"),
])
def test_validate_params(extra, message):
    with pytest.raises(SarkValidationError) as err:
        backup.validate_params(params(**extra))
    assert message in err.value.msg


# (accepted, the one change that gets the same call refused, the refusal): acceptance is proven at the edge it sits on,
# so a validator that lets everything through fails here as surely as one that refuses too much
ACCEPTED_AT_THE_EDGE = [
    (dict(restore_test=True, keep=1, max_age_days=30, compress=9), {"keep": 0}, "keep must be at least 1"),
    (dict(compress=0, max_age_days=0.5), {"compress": 10}, "compress must be between 0 and 9"),
    (dict(max_age_days=0.01), {"max_age_days": 0}, "max_age_days must be more than 0"),
    (dict(state="restore_test", databases=[], backup_file="/b/x.dump"), {"state": "prune", "keep": 3}, "backup_file applies to state=restore_test only"),
    (dict(state="restore_test", databases=[]), {"state": "present"}, "needs databases"),
    (dict(state="prune", databases=[], keep=3), {"keep": None}, "needs keep and/or max_age_days"),
    (dict(state="prune", databases=[], max_age_days=7), {"max_age_days": None}, "needs keep and/or max_age_days"),
    (dict(restore_test=True, restore_test_database="sark_ops_scratch"), {"restore_test_database": "sark_audit"}, "is one of the databases"),
    (dict(restore_test=False, restore_test_database="sark_audit"), {"restore_test": True}, "is one of the databases"),
    (dict(dump_timeout=1, reuse_within=0, lock_wait_timeout=0), {"reuse_within": -0.5}, "reuse_within must be 0 or more"),
    (dict(pg_connect_params={"target_session_attrs": "read-write"}), {"pg_connect_params": {"keepalives": 1}}, "no libpq environment variable"),
]


@pytest.mark.parametrize("accepted, refused_by, message", ACCEPTED_AT_THE_EDGE)
def test_validate_params_accepts(accepted, refused_by, message):
    given = params(**accepted)
    untouched = dict(given)
    backup.validate_params(given)  # raises nothing...
    assert given == untouched  # ...and changes nothing it was given
    with pytest.raises(SarkValidationError) as err:
        backup.validate_params(params(**dict(accepted, **refused_by)))
    assert message in err.value.msg


def test_tool_version_toc_and_counts(tmp_path):
    assert backup.parse_tool_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == 15
    assert backup.parse_tool_version("pg_restore (PostgreSQL) 17beta1") == 17
    assert backup.parse_tool_version("nonsense") is None
    listing = tmp_path / "toc.list"
    listing.write_text(";\n; Archive created at 2026-01-01\n;\n215; 1259 16390 TABLE public users postgres\n"
                       "3380; 0 16390 TABLE DATA public users postgres\n3381; 0 16399 TABLE DATA public servers postgres\n")
    summary = backup.toc_summary(str(listing))
    assert summary["entries"] == 3 and summary["table_data_entries"] == 2
    rows = backup.compare_counts({"public.a": 1, "public.b": 2}, {"public.a": 1, "public.b": 3, "public.c": 0})
    assert [r["match"] for r in rows] == [True, False, False]


def test_dedupe_keeps_first_order_and_names_repeats():
    assert backup.dedupe(["sark", "sark_audit", "sark", "sark", "x"]) == (["sark", "sark_audit", "x"], ["sark"])


@pytest.mark.parametrize("stderr, needle", [
    ("pg_dump: error: could not write to output file: No space left on device", "the file system is full"),
    ('pg_dump: error: could not open output file "/b/x.dump.partial": Read-only file system', "mounted read-only"),
    ("pg_dump: error: could not write to output file: File too large", "file-size limit"),
])
def test_tool_io_hint_explains_file_system_errors(stderr, needle):
    assert needle in backup.tool_io_hint(stderr, "/b")


def test_tool_io_hint_ignores_other_errors():
    assert backup.tool_io_hint('pg_dump: error: connection to server failed: FATAL: permission denied for database', "/b") is None
