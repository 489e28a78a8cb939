import errno
import os

import pytest

from ansible_collections.sark.ops.plugins.module_utils._files import AtomicFile, atomic_write, check_writable_file, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, SarkValidationError


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    atomic_write(str(target), "new content", mode=0o600)
    assert target.read_text() == "new content"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["out.json"]


def test_failure_while_writing_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with AtomicFile(str(target)) as handle:
            handle.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_disk_full_becomes_an_operator_message_and_nothing_is_left(tmp_path):
    target = tmp_path / "dump.bin"
    with pytest.raises(SarkOperationError) as info:
        with AtomicFile(str(target), binary=True) as handle:
            handle.write(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "full" in info.value.msg and str(target) in info.value.msg and "ENOSPC" in info.value.msg
    assert not target.exists() and os.listdir(tmp_path) == []


def test_missing_directory_is_reported_when_opening(tmp_path):
    with pytest.raises(SarkOperationError) as info:
        atomic_write(str(tmp_path / "nope" / "f"), "x")
    assert "does not exist" in info.value.msg


def test_check_writable_file_refuses_a_directory_and_a_missing_parent(tmp_path):
    with pytest.raises(SarkValidationError, match="is a directory"):
        check_writable_file(str(tmp_path))
    with pytest.raises(SarkValidationError, match="does not exist"):
        check_writable_file(str(tmp_path / "a" / "b.csv"))
    assert check_writable_file(str(tmp_path / "b.csv")) == str(tmp_path / "b.csv")


def test_describe_os_error_names_path_and_errno():
    text = describe_os_error(OSError(errno.EROFS, "Read-only file system"), "/mnt/ro/x", doing="write")
    assert text == "Cannot write /mnt/ro/x: the file system is mounted read-only: choose a writable destination (EROFS)"


def test_write_planned_reports_each_file_as_written_and_stops_at_a_disk_error(tmp_path, monkeypatch):
    from ansible_collections.sark.ops.plugins.module_utils import _files

    directory, planned = _files.plan_files(str(tmp_path / "r"), [{"name": "a.md", "content": "1"}, {"name": "b.md", "content": "2"},
                                                                 {"name": "c.md", "content": "3"}], 0o640, 1000)
    real_write = _files.atomic_write

    def full_disk_at_b(path, data, mode=0o644):
        if path.endswith("b.md"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data, mode=mode)

    monkeypatch.setattr(_files, "atomic_write", full_disk_at_b)
    done = []
    with pytest.raises(SarkOperationError) as info:
        _files.write_planned(directory, planned, 0o640, 0o750, lambda entry: done.append(os.path.basename(entry["path"])))
    assert done == ["a.md"] and "full" in info.value.msg and "b.md" in info.value.msg
    assert sorted(os.listdir(directory)) == ["a.md"]


def test_plan_files_tells_create_update_mode_and_nothing(tmp_path):
    from ansible_collections.sark.ops.plugins.module_utils._files import parse_mode, place_in, plan_files

    (tmp_path / "same.md").write_text("same")
    os.chmod(tmp_path / "same.md", 0o640)
    (tmp_path / "other.md").write_text("old")
    (tmp_path / "perm.md").write_text("perm")
    os.chmod(tmp_path / "perm.md", 0o600)
    _directory, planned = plan_files(str(tmp_path), [{"name": n, "content": c} for n, c in
                                                     (("same.md", "same"), ("other.md", "new"), ("perm.md", "perm"), ("new.md", ""))],
                                     0o640, 100)
    assert [p["change"] for p in planned] == [None, "update", "mode", "create"]
    assert parse_mode("0640") == 0o640
    with pytest.raises(SarkValidationError):
        parse_mode("999")
    with pytest.raises(SarkValidationError):
        place_in(str(tmp_path), "a/../../b")
    assert place_in(str(tmp_path), "a/./b.md") == str(tmp_path / "a" / "b.md")
