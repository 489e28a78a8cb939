"""sark_incident_record: the timeline file (check / real / second run / bad input) and the action plugin's actor."""

import getpass
import json
import os

import pytest

MODULE = "sark_incident_record"
ENTRY = {"id": "diag-pg", "phase": "diagnose", "kind": "check", "action": "PostgreSQL connections against max_connections",
         "status": "critical", "result": {"connections": 98, "max_connections": 100}, "details": {"api_token": "s3cr3t-value"}}


def read_lines(path):
    """The timeline read back independently of the module."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def snapshot(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture()
def run_dir(tmp_path):
    return str(tmp_path / "INC-1")


def args(run_dir, **extra):
    base = {"run_dir": run_dir, "incident_id": "INC-1", "severity": "P0", "entries": [ENTRY]}
    base.update(extra)
    return base


def test_check_real_second_run(run_module, run_dir):
    timeline = os.path.join(run_dir, "timeline.jsonl")
    check = run_module(MODULE, args(run_dir), check_mode=True, diff=True)
    assert not check.failed, check
    assert check.changed and check["added"] == ["diag-pg"]
    assert [a["action"] for a in check["planned_actions"]] == ["create_run_dir", "append_entries"]
    assert check["executed_actions"] == [] and not os.path.exists(run_dir)
    assert check["timeline"][0]["id"] == "diag-pg" and "diag-pg" in check["diff"]["after"]

    real = run_module(MODULE, args(run_dir), diff=True)
    assert not real.failed and real.changed and real["added"] == ["diag-pg"]
    stored = read_lines(timeline)
    assert len(stored) == 1 and stored[0]["id"] == "diag-pg" and stored[0]["result"] == {"connections": 98, "max_connections": 100}
    assert stored[0]["phase"] == "diagnose" and stored[0]["severity"] == "P0" and stored[0]["time"].endswith("Z")
    assert stored[0]["details"]["api_token"] == "********" and "s3cr3t-value" not in snapshot(timeline).decode()
    assert stored[0]["actor_source"] == "local" and stored[0]["actor"]
    assert real["timeline"] == stored and real["entries_total"] == 1
    assert oct(os.stat(timeline).st_mode & 0o777) == "0o640"

    before = snapshot(timeline)
    again = run_module(MODULE, args(run_dir), diff=True)
    assert not again.failed and not again.changed, again
    assert again["added"] == [] and again["already_recorded"] == ["diag-pg"] and snapshot(timeline) == before

    # a second entry is appended after the first; check mode plans it without writing
    second = dict(ENTRY, id="fix-pg", phase="remediate", kind="change", status="changed", action="terminated idle backends",
                  result={"terminated": 37}, details={})
    planned = run_module(MODULE, args(run_dir, entries=[ENTRY, second]), check_mode=True)
    assert planned.changed and planned["added"] == ["fix-pg"] and snapshot(timeline) == before
    assert [e["id"] for e in planned["timeline"]] == ["diag-pg", "fix-pg"]
    done = run_module(MODULE, args(run_dir, entries=[second]))
    assert done.changed and [e["id"] for e in read_lines(timeline)] == ["diag-pg", "fix-pg"]
    assert snapshot(timeline).startswith(before)


def test_derived_ids_make_reruns_idempotent(run_module, run_dir):
    entry = {k: v for k, v in ENTRY.items() if k != "id"}
    first = run_module(MODULE, args(run_dir, entries=[entry]))
    assert first.changed and first["added"][0].startswith("e-")
    second = run_module(MODULE, args(run_dir, entries=[entry]))
    assert not second.changed and second["already_recorded"] == first["added"]
    # another run (an AWX job) or another result is another entry
    other_run = run_module(MODULE, args(run_dir, entries=[entry], run_context={"awx_job_id": "4711"}))
    other_result = run_module(MODULE, args(run_dir, entries=[dict(entry, result={"connections": 12})]))
    assert other_run.changed and other_result.changed
    assert len(read_lines(os.path.join(run_dir, "timeline.jsonl"))) == 3
    # a given time is part of the entry: the alert of 10:05 recorded after the fact
    past = run_module(MODULE, args(run_dir, entries=[{"phase": "detection", "kind": "alert", "action": "alert received",
                                                      "time": "2025-11-22T10:05:00Z"}]))
    assert past["timeline"][-1]["time"] == "2025-11-22T10:05:00.000000Z"


def test_empty_entries_return_the_timeline(run_module, run_dir):
    run_module(MODULE, args(run_dir))
    read = run_module(MODULE, args(run_dir, entries=[]))
    assert not read.changed and [e["id"] for e in read["timeline"]] == ["diag-pg"]


BAD_INPUT = [
    ({"entries": [dict(ENTRY, phase="fixing")]}, "phase"),
    ({"entries": [dict(ENTRY, time="yesterday")]}, "ISO 8601"),
    ({"entries": [dict(ENTRY, action="x" * 2001)]}, "2000"),
    ({"entries": [dict(ENTRY, id="bad id with spaces")]}, "entries[0].id"),
    ({"incident_id": "INC 1"}, "incident_id"),
    ({"entries": [ENTRY, dict(ENTRY, result={"connections": 1})]}, "given twice"),
    ({"max_entries": 0}, "max_entries"),
]


def test_bad_input_names_what_to_fix(run_module, run_dir):
    run_module(MODULE, args(run_dir))
    timeline = os.path.join(run_dir, "timeline.jsonl")
    before = snapshot(timeline)
    for bad, message in BAD_INPUT:
        result = run_module(MODULE, args(run_dir, **bad))
        assert result.failed and message in result["msg"], (bad, result["msg"])
        assert snapshot(timeline) == before


def test_recorded_entries_are_never_rewritten(run_module, run_dir):
    run_module(MODULE, args(run_dir))
    timeline = os.path.join(run_dir, "timeline.jsonl")
    before = snapshot(timeline)
    result = run_module(MODULE, args(run_dir, entries=[dict(ENTRY, status="ok")]))
    assert result.failed and "already recorded" in result["msg"] and "status" in result["msg"]
    other = run_module(MODULE, args(run_dir, incident_id="INC-2"))
    assert other.failed and "belongs to incident INC-1" in other["msg"]
    assert snapshot(timeline) == before


def test_corrupt_timeline_is_reported_not_overwritten(run_module, run_dir):
    run_module(MODULE, args(run_dir))
    timeline = os.path.join(run_dir, "timeline.jsonl")
    with open(timeline, "a", encoding="utf-8") as handle:
        handle.write('{"id": "half-writt')
    before = snapshot(timeline)
    result = run_module(MODULE, args(run_dir, entries=[dict(ENTRY, id="new")]))
    assert result.failed and "line 2 is not JSON" in result["msg"]
    assert snapshot(timeline) == before


def test_run_dir_that_is_a_file(run_module, tmp_path):
    path = tmp_path / "plain"
    path.write_text("x")
    result = run_module(MODULE, args(str(path)))
    assert result.failed and "not a directory" in result["msg"]


PLAY = """
- name: Record incident entries as three different people
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record from AWX (awx_user_name wins over the older tower_user_name)
      sark.ops.sark_incident_record:
        run_dir: "{{ base }}/awx"
        incident_id: INC-7
        entries: [{id: detect, phase: detection, kind: alert, action: alert received}]
      vars:
        awx_user_name: jdoe
        tower_user_name: ignored-older-name
        awx_job_id: 4711
      register: record
    - name: Record from an older AWX (tower_user_name)
      sark.ops.sark_incident_record:
        run_dir: "{{ base }}/tower"
        incident_id: INC-7
        entries: [{id: detect, phase: detection, kind: alert, action: alert received}]
      vars:
        tower_user_name: asmith
    - name: Record from ansible-playbook
      sark.ops.sark_incident_record:
        run_dir: "{{ base }}/local"
        incident_id: INC-7
        entries: [{id: detect, phase: detection, kind: alert, action: alert received}]
    - name: Publish
      ansible.builtin.set_stats:
        data:
          sark_incident_timeline: "{{ record.timeline }}"
"""


def published(runner_result):
    for event in runner_result.events:
        if event.get("event") == "playbook_on_stats":
            return event["event_data"].get("artifact_data", {})
    return {}


def test_actor_is_the_awx_user_through_the_action_plugin(playbook, tmp_path):
    result = playbook(PLAY, extravars={"base": str(tmp_path)})
    assert result.rc == 0, result.stdout_text
    entry = read_lines(str(tmp_path / "awx" / "timeline.jsonl"))[0]
    assert (entry["actor"], entry["actor_source"]) == ("jdoe", "awx")
    assert entry["context"]["awx_job_id"] == "4711" and entry["context"]["host"] == "localhost"
    assert published(result)["sark_incident_timeline"][0]["id"] == "detect"
    assert read_lines(str(tmp_path / "tower" / "timeline.jsonl"))[0]["actor"] == "asmith"
    entry = read_lines(str(tmp_path / "local" / "timeline.jsonl"))[0]
    assert entry["actor_source"] == "local" and entry["actor"] == getpass.getuser()
