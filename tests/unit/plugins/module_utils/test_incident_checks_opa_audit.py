"""Unit tests of the policy-evaluation-failure and audit-gap checks (seed 001 incidents 1 and 4)."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import (
    IncidentCheckError, audit_gap, compare, opa_policies, siem)

SHAPE = {"id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"}
GOOD = {"mcp_allow": "a" * 64, "server_access": "b" * 64}
EXPECTED = [{"id": pid, "sha256": sha, "src": "/p/%s.rego" % pid} for pid, sha in sorted(GOOD.items())]
TESTS = [{"name": "admin writes", "input": {}, "expect_allow": True},
         {"name": "developer invokes", "input": {}, "expect_allow": False}]


def policies(loaded):
    return {"policies": [{"id": pid, "sha256": sha, "size": 10} for pid, sha in sorted(loaded.items())]}


def decision(allow, shape="object"):
    return {"sark_decision": {"allow": allow, "shape": shape}, "defined": True}


def test_opa_all_good_is_ok():
    check = opa_policies(policies(GOOD), EXPECTED, TESTS, [decision(True), decision(False)], cache={"matched": 20})
    assert set(check) == SHAPE
    assert check["verdict"] == "OK" and check["figure"] == 0
    assert check["details"]["causes"] == [] and check["details"]["fix"] is None
    assert check["details"]["cached_decisions"] == 20


def test_opa_changed_policy_that_denies_everything_is_critical_with_a_rollback():
    loaded = dict(GOOD, mcp_allow="c" * 64)
    check = opa_policies(policies(loaded), EXPECTED, TESTS, [decision(False, "boolean"), decision(False, "boolean")])
    assert check["verdict"] == "CRITICAL" and check["figure"] == 1
    assert check["details"]["changed_policies"] == ["mcp_allow"]
    assert check["details"]["causes"] == ["policy_changed"] and check["details"]["fix"] == "rollback_policy"
    assert check["details"]["failed_tests"] == ["admin writes"]
    assert "mcp_allow (checksum changed)" in check["reason"] and "boolean result" in check["reason"]


def test_opa_drift_with_passing_tests_is_a_warning_and_a_missing_policy_counts_as_drift():
    loaded = {"mcp_allow": GOOD["mcp_allow"], "extra": "d" * 64}
    check = opa_policies(policies(loaded), EXPECTED, TESTS, [decision(True), decision(False)])
    assert check["verdict"] == "WARNING"
    assert check["details"]["missing_policies"] == ["server_access"]
    assert check["details"]["extra_policies"] == ["extra"]
    assert check["details"]["fix"] == "rollback_policy"


def test_opa_failed_test_without_drift_has_no_rollback():
    check = opa_policies(policies(GOOD), EXPECTED, TESTS, [decision(True), decision(True)])
    assert check["verdict"] == "CRITICAL"
    assert check["details"]["causes"] == ["decision_test_failed"] and check["details"]["fix"] is None


def test_opa_a_decision_that_errored_fails_the_test():
    check = opa_policies(policies(GOOD), EXPECTED, TESTS, [{"failed": True, "msg": "HTTP 500"}, decision(False)])
    assert check["details"]["tests"][0]["allow"] is None and check["details"]["tests"][0]["error"] == "HTTP 500"
    assert check["verdict"] == "CRITICAL"


def test_opa_unreachable_names_the_pods_when_they_are_down():
    workload = {"workloads": [{"name": "opa", "verdict": "CRITICAL", "replicas": {"ready": 0, "desired": 2}}]}
    check = opa_policies({"failed": True, "msg": "connection refused"}, EXPECTED, TESTS, [{}, {}], workload=workload)
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["opa_pods_down"]
    assert check["details"]["opa_reachable"] is False and "0/2" in check["reason"]
    check = opa_policies({"failed": True, "msg": "refused"}, EXPECTED, TESTS, [{}, {}])
    assert check["details"]["causes"] == ["opa_unreachable"]


def test_opa_rollback_improves_the_check():
    before = opa_policies(policies(dict(GOOD, mcp_allow="c" * 64)), EXPECTED, TESTS, [decision(False), decision(False)])
    after = opa_policies(policies(GOOD), EXPECTED, TESTS, [decision(True), decision(False)])
    outcome = compare(before, after)
    assert outcome["improved"] and outcome["resolved"]


@pytest.mark.parametrize("expected, tests, decisions", [
    ("x", TESTS, []), (EXPECTED, TESTS, [decision(True)]), ([{"id": "x"}], [], [])])
def test_opa_bad_input_is_refused(expected, tests, decisions):
    with pytest.raises(IncidentCheckError):
        opa_policies(policies(GOOD), expected, tests, decisions)


NOW = "2026-12-01T12:30:00+00:00"


def audit(newest, gaps=(), size=1000, current=0):
    return {"events_per_hour": {"gaps": list(gaps), "window_hours": 24, "current_hour_so_far": current},
            "storage": {"newest": newest, "size_bytes": size}}


@pytest.mark.parametrize("newest, verdict, fresh", [
    ("2026-12-01T12:29:00+00:00", "OK", True),
    ("2026-12-01T11:31:00+00:00", "OK", True),        # 59 minutes: still arriving
    ("2026-12-01T11:30:00+00:00", "CRITICAL", False),  # 60 minutes: stopped
    ("2026-12-01 09:00:00+00", "CRITICAL", False),    # PostgreSQL's text form
])
def test_audit_gap_threshold_of_the_newest_event(newest, verdict, fresh):
    check = audit_gap(audit(newest), NOW, stale_minutes=60)
    assert set(check) == SHAPE
    assert check["verdict"] == verdict
    assert ("events_not_arriving" in check["details"]["causes"]) == (not fresh)
    assert check["details"]["fix"] == (None if fresh else "restart_writer")


def test_audit_gap_names_the_gap_hours_and_the_batch_failures():
    gaps = ["2026-12-01T09:00:00+00:00", "2026-12-01T10:00:00+00:00"]
    logs = ['{"msg":"audit_batch flushed"}', '{"msg":"audit_batch failed: timescale connection reset"}']
    check = audit_gap(audit("2026-12-01T08:59:00+00:00", gaps), NOW, logs=logs,
                      siem_queue={"queue": {"length": 3}, "failed_events": {"length": 0}})
    assert check["details"]["causes"] == ["events_not_arriving", "batch_failures", "audit_gaps"]
    assert check["details"]["gaps"] == gaps and check["details"]["batch_failures"] == 1
    assert check["details"]["minutes_since_newest"] == 211 and check["figure"] == 211
    assert check["details"]["newest_epoch"] == 1796115540.0
    assert check["details"]["siem_queue"]["queued"] == 3
    assert all(g in check["reason"] for g in gaps)


def test_audit_gap_old_gaps_with_fresh_events_are_a_warning_and_the_restart_improves():
    before = audit_gap(audit("2026-12-01T08:00:00+00:00", ["2026-12-01T09:00:00+00:00"]), NOW)
    after = audit_gap(audit("2026-12-01T12:29:59+00:00", ["2026-12-01T09:00:00+00:00"]), NOW)
    assert after["verdict"] == "WARNING" and after["details"]["causes"] == ["audit_gaps"]
    assert after["details"]["fix"] is None
    outcome = compare(before, after)
    assert outcome["improved"] and not outcome["resolved"]


def test_audit_gap_disk_limit_and_unreachable_database():
    check = audit_gap(audit("2026-12-01T12:29:00+00:00", size=5000), NOW, max_db_bytes=5000)
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["disk_full"]
    assert audit_gap(audit("2026-12-01T12:29:00+00:00", size=4999), NOW, max_db_bytes=5000)["verdict"] == "OK"
    pg = {"is_available": True, "databases": [{"name": "sark", "size_bytes": 9000}, {"name": "sark_audit", "size_bytes": 6000}]}
    check = audit_gap(audit("2026-12-01T12:29:00+00:00", size=10), NOW, pg_info=pg, max_db_bytes=6000)
    assert check["details"]["causes"] == ["disk_full"] and check["details"]["database_size_bytes"] == 6000
    check = audit_gap(audit("2026-12-01T12:29:00+00:00"), NOW, pg_info={"is_available": False, "error": "refused"})
    assert check["details"]["causes"] == ["audit_db_unreachable"] and "refused" in check["reason"]
    check = audit_gap({"failed": True, "msg": "could not connect"}, NOW)
    assert check["details"]["causes"] == ["audit_db_unreachable"] and "could not connect" in check["reason"]


def test_audit_gap_never_recorded_and_bad_input():
    check = audit_gap(audit(None), NOW)
    assert check["verdict"] == "CRITICAL" and "ever" in check["reason"]
    with pytest.raises(IncidentCheckError):
        audit_gap(audit("yesterday"), NOW)
    with pytest.raises(IncidentCheckError):
        audit_gap(audit(None), NOW, stale_minutes=0)


# --- siem_down: the HEC token test and the sark_v2 worker restart (seed 002 playbook 5) -------------------------


def _breakers(state="closed"):
    return {"in_redis": True, "breakers": [{"name": "splunk", "state": state, "failures": 0}]}


def _queue(failed=0):
    return {"in_redis": True, "queue": {"length": 0}, "failed_events": {"length": failed}}


@pytest.mark.parametrize("verdict, cause, advice", [
    ("auth_failed", "hec_token_invalid", "replace splunk_hec_token"),
    ("unreachable", "siem_unreachable", "network policies"),
    ("rate_limited", "rate_limited", "SIEM_BATCH_SIZE"),
])
def test_siem_hec_test_names_the_cause_first_and_never_the_token(verdict, cause, advice):
    hec = {"verdict": verdict, "status": 403, "code": 4, "text": "Invalid token"}
    check = siem(_breakers("open"), _queue(3), hec=hec)
    assert check["details"]["causes"] == [cause, "circuit_breaker_open", "failed_events_waiting"]
    assert check["verdict"] == "CRITICAL" and advice in check["reason"]
    assert check["details"]["fix"] == "reset_breaker"
    assert check["figure"] == 3


def test_siem_hec_ok_adds_nothing():
    check = siem(_breakers(), _queue(), hec={"verdict": "ok", "status": 400, "code": 5})
    assert check["verdict"] == "OK" and check["details"]["causes"] == [] and check["details"]["hec"]["code"] == 5


def test_siem_sark_v2_restart_workers_then_ok():
    before = siem({"in_redis": False, "breakers": []}, {"in_redis": False})
    assert before["details"]["causes"] == ["breaker_in_process_memory"] and before["details"]["fix"] == "restart_workers"
    after = siem({"in_redis": False, "breakers": []}, {"in_redis": False}, workers_restarted=True)
    assert after["verdict"] == "OK" and after["figure"] == 0 and "restarted" in after["reason"]
    assert compare(before, after)["improved"]
    still = siem({"in_redis": False, "breakers": []}, {"in_redis": False}, hec={"verdict": "auth_failed"},
                 workers_restarted=True)
    assert still["verdict"] == "CRITICAL" and still["details"]["causes"] == ["hec_token_invalid"]
