"""sark_report_files on the real file system: check mode writes nothing (not even the directory), the real run writes
every file whole with its permissions, the second run changes nothing, a changed content or mode is put right, bad
input (also a file where a subdirectory must go) is refused before any file is written, and state=absent removes only
the named files. A failure half way (which needs a disk error) is unit-tested in tests/unit/.../test_files.py."""

import hashlib
import os
import stat

MODULE = "sark_report_files"

FILES = [{"name": "daily-1.md", "content": "# Daily\n| check | verdict |\n"},
         {"name": "daily-1.html", "content": "<html><body>ü</body></html>\n"},
         {"name": "sub/daily-1.json", "content": "{\"verdict\": \"OK\"}\n"}]


def mode_of(path):
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def snapshot(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = (handle.read(), mode_of(path))
    return out


def test_check_real_second_run_and_repair(run_module, tmp_path):
    target = tmp_path / "reports" / "prod"
    args = {"dir": str(target), "files": FILES}

    planned = run_module(MODULE, args, check_mode=True, diff=True)
    assert not planned.failed, planned
    assert planned.changed and [a["action"] for a in planned["planned_actions"]] == ["create"] * 3
    assert planned["executed_actions"] == [] and not (tmp_path / "reports").exists()
    assert len(planned["diff"]) == 3 and planned["diff"][0]["before"] == "exists: false\n"
    # the audit record names the files, it does not repeat their content
    assert planned["evidence"]["requested"]["files"][1] == {"name": "daily-1.html", "bytes": len(FILES[1]["content"].encode())}

    real = run_module(MODULE, args)
    assert not real.failed and real.changed, real
    assert [f["change"] for f in real["files"]] == ["create"] * 3
    for entry in FILES:
        path = target / entry["name"]
        assert path.read_text(encoding="utf-8") == entry["content"]
        assert mode_of(path) == "0o640"
        assert hashlib.sha256(entry["content"].encode()).hexdigest() in [f["sha256"] for f in real["files"]]
    assert mode_of(target) == "0o750" and mode_of(target / "sub") == "0o750"
    assert sorted(os.listdir(target)) == ["daily-1.html", "daily-1.md", "sub"]  # no temporary file left

    again = run_module(MODULE, args, diff=True)
    assert not again.failed and not again.changed and again["executed_actions"] == [] and again["diff"] == []
    before = snapshot(target)

    (target / "daily-1.md").write_text("edited by hand")
    os.chmod(target / "daily-1.html", 0o644)
    repaired = run_module(MODULE, args)
    assert repaired.changed and [f["change"] for f in repaired["files"]] == ["update", "mode", None]
    assert snapshot(target) == before


def test_bad_input_is_refused_before_anything_is_written(run_module, tmp_path):
    target = tmp_path / "r"
    target.mkdir()
    (target / "taken").mkdir()
    good = {"name": "ok.md", "content": "x"}
    cases = [
        ({"files": [good, {"name": "../escape.md", "content": "x"}]}, "leaves the directory"),
        ({"files": [good, {"name": "/etc/passwd", "content": "x"}]}, "relative"),
        ({"files": [good, {"name": "taken", "content": "x"}]}, "directory stands where"),
        ({"files": [good, {"name": "ok.md", "content": "y"}]}, "given twice"),
        ({"files": [good], "mode": "rw-r"}, "octal permission"),
        ({"files": [good, {"name": "big.md", "content": "x" * 100}], "max_bytes": 50}, "max_bytes"),
        ({"files": []}, "files is empty"),
    ]
    for extra, message in cases:
        result = run_module(MODULE, dict({"dir": str(target)}, **extra))
        assert result.failed and message in result["msg"], (extra, result)
        assert sorted(os.listdir(target)) == ["taken"], extra
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    result = run_module(MODULE, {"dir": str(blocked), "files": [good]})
    assert result.failed and "not a directory" in result["msg"] and blocked.read_text() == "not a directory"


def test_a_file_in_the_way_of_a_subdirectory_is_found_before_any_write(run_module, tmp_path):
    target = tmp_path / "r"
    target.mkdir()
    (target / "sub").write_text("a file where a directory must be")
    files = [{"name": "first.md", "content": "1"}, {"name": "sub/second.md", "content": "2"}]
    result = run_module(MODULE, {"dir": str(target), "files": files})
    assert result.failed and not result.changed and "sub" in result["msg"], result
    assert sorted(os.listdir(target)) == ["sub"]


def test_absent_removes_only_the_named_files(run_module, tmp_path):
    target = tmp_path / "r"
    assert not run_module(MODULE, {"dir": str(target), "files": FILES}).failed
    (target / "keep.md").write_text("keep")
    gone = [{"name": "daily-1.md"}, {"name": "sub/daily-1.json"}, {"name": "never-written.md"}]
    planned = run_module(MODULE, {"dir": str(target), "state": "absent", "files": gone}, check_mode=True)
    assert planned.changed and len(planned["planned_actions"]) == 2 and (target / "daily-1.md").exists()
    removed = run_module(MODULE, {"dir": str(target), "state": "absent", "files": gone})
    assert removed.changed and [f["change"] for f in removed["files"]] == ["remove", "remove", None]
    assert sorted(os.listdir(target)) == ["daily-1.html", "keep.md", "sub"] and os.listdir(target / "sub") == []
    assert not run_module(MODULE, {"dir": str(target), "state": "absent", "files": gone}).changed
