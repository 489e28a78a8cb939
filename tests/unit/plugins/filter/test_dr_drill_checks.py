import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.dr_drill_checks import FilterModule, dr_drill_checks


def backup(db, name, ok=True, age_h=2.0):
    return {"database": db, "file": name, "path": "/b/" + name, "ok": ok, "age_s": age_h * 3600, "size_bytes": 10}


def restored(ok=True, tables=4, mismatches=None):
    return {"verifications": [{"restore_test": {"ok": ok, "tables_compared": tables, "mismatches": mismatches or [], "duration_ms": 900}}]}


def verdicts(checks):
    return {c["id"]: c["verdict"] for c in checks}


def test_a_good_drill():
    info = {"backups": [backup("sark", "sark-2.dump"), backup("sark", "sark-1.dump", age_h=26)]}
    checks = dr_drill_checks(info, {"sark": restored()}, 12.5)
    assert verdicts(checks) == {"backup_sark": "OK", "backup_age_sark": "OK", "restore_sark": "OK", "recovery_time": "OK"}
    assert checks[-1]["figure"] == 12.5 and checks[0]["figure"] == "sark-2.dump"


def test_fallback_age_mismatch_rto():
    info = {"backups": [backup("sark", "sark-2.dump", ok=False), backup("sark", "sark-1.dump", age_h=30)]}
    mismatch = [{"table": "users", "source": 10, "restored": 9}]
    checks = dr_drill_checks(info, {"sark": restored(ok=False, mismatches=mismatch)}, 7200, rto_minutes=60)
    assert verdicts(checks) == {"backup_sark": "WARNING", "backup_age_sark": "WARNING", "restore_sark": "CRITICAL",
                                "recovery_time": "CRITICAL"}
    assert "users 10 != 9" in checks[2]["reason"] and "sark-2.dump failed" in checks[0]["reason"]
    assert verdicts(dr_drill_checks({"backups": [backup("sark", "a", age_h=49)]}, {"sark": restored()}, 1))["backup_age_sark"] == "CRITICAL"


def test_nothing_verified_or_not_restored():
    checks = dr_drill_checks({"backups": [backup("sark", "x", ok=False)]}, {"sark": None, "sark_audit": None}, 0)
    assert verdicts(checks) == {"backup_sark": "CRITICAL", "backup_sark_audit": "CRITICAL", "recovery_time": "OK"}
    assert verdicts(dr_drill_checks({"backups": [backup("a", "a1")]}, {"a": None}, 0))["restore_a"] == "UNKNOWN"
    assert verdicts(dr_drill_checks({"backups": [backup("a", "a1")]}, {"a": restored(tables=0)}, 0))["restore_a"] == "WARNING"


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="recovery_seconds"):
        dr_drill_checks({}, {}, "soon")
    with pytest.raises(AnsibleFilterError, match="expects"):
        dr_drill_checks([], {}, 1)
    assert "dr_drill_checks" in FilterModule().filters()


def test_helpers():
    from ansible_collections.sark.ops.plugins.filter.dr_drill_checks import newest_verified, restore_of
    info = {"backups": [backup("sark", "new", ok=False), backup("sark", "old"), backup("audit", "a")]}
    assert newest_verified("sark", info)["file"] == "old" and newest_verified("nope", info) is None
    results = [{"item": {"key": "sark"}, "verifications": []}, {"skipped": True}]
    assert restore_of("sark", results)["item"]["key"] == "sark" and restore_of("audit", results) is None
