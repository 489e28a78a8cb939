import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident import (
    derive_id,
    merge,
    normalise,
    pick_label,
    read_timeline,
    row_id,
    sorted_timeline,
    to_lines,
)
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError

NOW = datetime.datetime(2025, 11, 22, 10, 20, tzinfo=datetime.timezone.utc)


def entry(**raw):
    base = {"phase": "diagnose", "action": "check connections", "kind": "check"}
    base.update(raw)
    return normalise(base, 0, "INC-1", NOW, "jdoe", "awx", "P0", {"awx_job_id": "1"}, None)


def test_normalise_fills_and_masks():
    e = entry(result={"token": "abc", "n": 3}, details={"password": "pw"})
    assert e["time"] == "2025-11-22T10:20:00.000000Z" and e["actor"] == "jdoe" and e["severity"] == "P0"
    assert e["result"] == {"token": "********", "n": 3} and e["details"] == {"password": "********"}
    assert e["id"].startswith("e-") and e["id"] == entry(result={"token": "abc", "n": 3}, details={"password": "pw"})["id"]
    assert entry(time="2025-11-22T11:05:00+01:00")["time"] == "2025-11-22T10:05:00.000000Z"
    assert entry(time="2025-11-22T10:05:00")["id"] != entry(time="2025-11-22T10:06:00")["id"]


def test_derived_id_depends_on_the_run():
    e = entry()
    assert derive_id("INC-1", "job-1", dict(e, time_given=False)) != derive_id("INC-1", "job-2", dict(e, time_given=False))


@pytest.mark.parametrize("raw, message", [({"phase": ""}, "phase is required"), ({"phase": "later"}, "phase="),
                                          ({"kind": "guess"}, "kind="), ({"status": "fine"}, "status="),
                                          ({"details": [1]}, "must be a dict"), ({"time": "noon"}, "ISO 8601"),
                                          ({"id": "has space"}, ".id=")])
def test_normalise_rejects(raw, message):
    with pytest.raises(SarkValidationError, match=message):
        entry(**raw)


def test_merge():
    a, b = entry(id="a"), entry(id="b", action="other")
    added, present = merge([a], [a, b, b], "INC-1", "t")
    assert [e["id"] for e in added] == ["b"] and [e["id"] for e in present] == ["a"]
    with pytest.raises(SarkPreconditionError, match="different status"):
        merge([a], [dict(a, status="ok")], "INC-1", "t")
    with pytest.raises(SarkPreconditionError, match="belongs to incident"):
        merge([dict(a, incident_id="INC-9")], [], "INC-1", "t")
    with pytest.raises(SarkValidationError, match="given twice"):
        merge([], [a, dict(a, action="changed")], "INC-1", "t")


def test_read_timeline(tmp_path):
    path = tmp_path / "timeline.jsonl"
    assert read_timeline(str(path), 10) == ([], "")
    path.write_text(to_lines([entry(id="a"), entry(id="b")]).rstrip("\n"))
    entries, text = read_timeline(str(path), 10)
    assert [e["id"] for e in entries] == ["a", "b"] and text.endswith("\n")
    with pytest.raises(SarkPreconditionError, match="more than max_entries=1"):
        read_timeline(str(path), 1)
    path.write_text('{"id": "a"}\n[1]\n')
    with pytest.raises(SarkPreconditionError, match="line 2 is not a timeline entry"):
        read_timeline(str(path), 10)


def test_sorted_timeline_and_labels():
    late, early = entry(id="late"), entry(id="early", time="2025-11-22T10:05:00Z")
    assert [e["id"] for e in sorted_timeline([late, early])] == ["early", "late"]
    assert pick_label(["LOW", "CRITICAL"], "critical", "severity", "P0") == "CRITICAL"
    assert pick_label(None, "announcement", "event_type", "x") == "announcement"
    with pytest.raises(SarkPreconditionError, match="layout_templates.incident_event_type"):
        pick_label(["USER_LOGIN"], "announcement", "event_type", "x")
    assert row_id("INC-1", "a") == row_id("INC-1", "a") != row_id("INC-1", "b")
