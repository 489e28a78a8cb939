"""Plain helpers behind the PostgreSQL reliability fixes (issue #9: 11, 14, 16)."""

import errno
import os

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _pg_backup
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import CC_LEFTOVER, MAX_TIMEOUT_MS, validate_params


def test_dedupe_keeps_first_order_and_names_repeats():
    assert _pg_backup.dedupe(["sark", "sark_audit", "sark", "sark", "x"]) == (["sark", "sark_audit", "x"], ["sark"])


@pytest.mark.parametrize("stderr, needle", [
    ("pg_dump: error: could not write to output file: No space left on device", "the file system is full"),
    ('pg_dump: error: could not open output file "/b/x.dump.partial": Read-only file system', "mounted read-only"),
    ("pg_dump: error: could not write to output file: File too large", "file-size limit"),
])
def test_tool_io_hint_explains_file_system_errors(stderr, needle):
    assert needle in _pg_backup.tool_io_hint(stderr, "/b")


def test_tool_io_hint_ignores_other_errors():
    assert _pg_backup.tool_io_hint('pg_dump: error: connection to server failed: FATAL: permission denied for database', "/b") is None


def test_write_private_is_whole_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "x.dump.sha256"
    _pg_backup.write_private(str(target), "abc  x.dump\n")
    assert target.read_text() == "abc  x.dump\n" and oct(os.stat(str(target)).st_mode & 0o777) == "0o600"

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SarkOperationError) as err:
        _pg_backup.write_private(str(target), "other\n")
    assert "the file system is full" in err.value.msg
    assert target.read_text() == "abc  x.dump\n" and sorted(os.listdir(str(tmp_path))) == ["x.dump.sha256"]


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
