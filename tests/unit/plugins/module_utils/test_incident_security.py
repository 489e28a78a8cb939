"""The security incident's check (seed 002 playbook 6) and the evidence seal (_evidence), per threshold and order."""

import json
import os

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _evidence as ev
from ansible_collections.sark.ops.plugins.module_utils._incident_checks import IncidentCheckError, compare, security

USER = {"id": "user-123", "username": "mallory", "is_active": True}


def state(sealed=False, isolated=False, sessions=3, rotated=False, active=True, server=None):
    principal = {"user": dict(USER, is_active=active), "user_name": "mallory"}
    if server is not None:
        principal.update(server={"id": "s1", "name": "prod-1", "status": server}, server_name="prod-1")
    return dict(principal=principal,
                evidence={"verification": {"sealed": sealed, "ok": sealed, "files": 5 if sealed else 0},
                          "plan": {"redis_keys": {"count": 4}, "audit_events": {"events": 12}}},
                sessions={"user_sessions": sessions},
                isolation={"name": "sark-incident-isolate", "present": isolated},
                secret={"name": "sark-secrets", "rotated_for": "INC-1" if rotated else None},
                incident_id="INC-1")


def test_everything_open_names_every_cause_in_the_seed_order_evidence_first():
    check = security(**state())
    assert check["verdict"] == "CRITICAL" and check["figure"] == 5 and check["unit"] == "open items"
    assert check["details"]["causes"] == ["evidence_not_preserved", "not_isolated", "active_sessions", "secret_not_rotated", "user_active"]
    assert check["details"]["fix"] == "preserve_evidence"
    assert "4 Redis keys, 12 audit events to keep" in check["reason"] and "3 active sessions" in check["reason"]


def test_each_step_closes_one_item_and_compare_sees_the_improvement():
    steps = [state(), state(sealed=True), state(sealed=True, isolated=True), state(sealed=True, isolated=True, sessions=0),
             state(sealed=True, isolated=True, sessions=0, rotated=True),
             state(sealed=True, isolated=True, sessions=0, rotated=True, active=False)]
    checks = [security(**s) for s in steps]
    assert [c["figure"] for c in checks] == [5, 4, 3, 2, 1, 0]
    assert [c["details"]["fix"] for c in checks] == ["preserve_evidence", "isolate", "revoke_sessions", "rotate_secret",
                                                     "disable_principal", None]
    # active sessions or an active user keep it CRITICAL; what remains without them is a WARNING
    assert [c["verdict"] for c in checks] == ["CRITICAL", "CRITICAL", "CRITICAL", "CRITICAL", "CRITICAL", "OK"]
    for before, after in zip(checks, checks[1:]):
        assert compare(before, after)["improved"]
    assert compare(checks[-2], checks[-1])["resolved"]
    # a step that changed nothing did not improve
    assert not compare(checks[1], security(**state(sealed=True)))["improved"]


def test_contained_principal_with_only_rotation_left_is_a_warning():
    check = security(**state(sealed=True, isolated=True, sessions=0, active=False))
    assert check["verdict"] == "WARNING" and check["details"]["open"] == ["secret"]


def test_rotation_counts_only_for_this_incident():
    other = state(sealed=True, isolated=True, sessions=0, active=False)
    other["secret"]["rotated_for"] = "INC-OLD"
    assert security(**other)["details"]["secret_rotated"] is False


def test_server_inactive_and_decommissioned_are_contained():
    assert "server_active" in security(**state(server="active"))["details"]["causes"]
    for status in ("inactive", "decommissioned", "INACTIVE"):
        assert "server_active" not in security(**state(server=status))["details"]["causes"]


def test_items_left_out_are_not_counted_but_evidence_always_is():
    check = security(items=["sessions"], **state())
    assert check["details"]["open"] == ["evidence", "sessions"]


def test_waived_evidence_is_said_and_unblocks():
    check = security(evidence_waived=True, **state())
    assert "evidence" not in check["details"]["open"] and check["details"]["evidence_ok"]
    assert "evidence NOT preserved (waived by force)" in check["reason"]


def test_a_missing_principal_is_critical_with_nothing_to_fix():
    s = state()
    s["principal"]["user"] = None
    check = security(**s)
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["principal_not_found"] and check["details"]["fix"] is None


def test_bad_input():
    with pytest.raises(IncidentCheckError):
        security({}, {})
    s = state()
    s["sessions"] = {}
    with pytest.raises(IncidentCheckError):
        security(**s)


# --- the evidence seal -----------------------------------------------------------------------------------

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_seal_then_verify_and_every_kind_of_damage(tmp_path):
    d = str(tmp_path)
    write(os.path.join(d, "a.jsonl"), "{}\n")
    write(os.path.join(d, "logs", "pod.log"), "line\n")
    write(os.path.join(d, ".x.partial"), "half")
    manifest, check = ev.seal(d, {"incident_id": "INC-1"})
    assert [f["path"] for f in manifest["files"]] == ["a.jsonl", "logs/pod.log"]
    assert check == dict(check, sealed=True, ok=True, files=2, mismatched=[], missing=[], unlisted=[])
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as handle:
        assert json.load(handle)["incident_id"] == "INC-1"
    write(os.path.join(d, "new.txt"), "later")
    assert ev.verify(d)["unlisted"] == ["new.txt"] and not ev.verify(d)["ok"]
    os.unlink(os.path.join(d, "new.txt"))
    write(os.path.join(d, "a.jsonl"), "{\"changed\": 1}\n")
    assert ev.verify(d)["mismatched"] == ["a.jsonl"]
    os.unlink(os.path.join(d, "logs", "pod.log"))
    assert ev.verify(d)["missing"] == ["logs/pod.log"]


def test_unsealed_and_damaged_seal_files(tmp_path):
    d = str(tmp_path)
    assert ev.verify(d) == dict(ev.verify(d), sealed=False, ok=False)
    with pytest.raises(ev.EvidenceError):
        ev.seal(d, {})
    write(os.path.join(d, "a"), "x")
    ev.seal(d, {})
    write(os.path.join(d, "SHA256SUMS"), "not a sum line\n")
    with pytest.raises(ev.EvidenceError):
        ev.verify(d)


@pytest.mark.parametrize("params, text", [
    ({"state": "present", "collect": ["audit_events"]}, "user_id or server_id is required"),
    ({"state": "present", "collect": ["nope"], "user_id": "u"}, "unknown nope"),
    ({"state": "present", "collect": ["redis_keys"], "user_id": "u*"}, "plain id"),
    ({"state": "present", "collect": ["redis_keys"], "user_id": "u", "rdb_timeout": 0}, "rdb_timeout"),
])
def test_validate(params, text):
    with pytest.raises(Exception) as err:
        ev.validate(params)
    assert text in str(err.value)


def test_validate_accepts_rdb_only_without_a_principal():
    ev.validate({"state": "present", "collect": ["redis_rdb"]})
