import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.recovery_checks import FilterModule, recovery_checks


def query(preset, verdict, worst):
    return {"queries": {preset: {"verdict": verdict, "worst": worst, "expr": "x", "sample_count": 1}}}


def workload(name, verdict, desired, ready, reasons=()):
    return {"kind": "Deployment", "name": name, "verdict": verdict, "replicas": {"desired": desired, "ready": ready},
            "reasons": list(reasons)}


HEALTHY = {
    "health": {"verdict": "healthy", "unhealthy_components": [], "unknown_components": []},
    "error_rate": query("error_rate_5m", "ok", 0.0002),
    "latency": query("p95_latency_5m", "ok", 0.12),
    "pods": {"workloads": [workload("sark", "OK", 3, 3), workload("opa", "OK", 2, 2)]},
    "database": {"is_available": True},
    "redis": {"is_available": True, "ping_ms": 0.3},
    "siem": {"queries": {"custom": {"expr": "sum(increase(siem_events_forwarded_total[5m]))", "samples": [{"value": 42.0}]}}},
    "user_validation": {"confirmed": True, "by": "jdoe", "note": "login and tool call work"},
}


def by_id(checks):
    return {c["id"]: c for c in checks}


def test_all_eight_ok_in_the_seed_order():
    checks = recovery_checks(HEALTHY)
    assert [c["id"] for c in checks] == ["health", "error_rate", "latency", "pods", "database", "redis", "siem", "user_validation"]
    assert all(c["verdict"] == "OK" for c in checks), [(c["id"], c["reason"]) for c in checks]
    assert [c["runbook"] for c in checks][3] == "002 Phase 6 Recovery Verification, check 4"
    assert by_id(checks)["pods"]["figure"] == 5 and by_id(checks)["siem"]["figure"] == 42.0


@pytest.mark.parametrize("key, value, check_id, verdict, reason", [
    ("health", {"verdict": "degraded", "unknown_components": ["opa"]}, "health", "WARNING", "unknown: opa"),
    ("health", {"verdict": "unhealthy", "unhealthy_components": ["database"]}, "health", "CRITICAL", "unhealthy: database"),
    ("health", {"failed": True, "msg": "connection refused"}, "health", "CRITICAL", "connection refused"),
    ("error_rate", query("error_rate_5m", "breach", 0.4), "error_rate", "CRITICAL", "not below 0.001"),
    ("error_rate", query("error_rate_5m", "no_data", None), "error_rate", "UNKNOWN", "no data"),
    ("error_rate", {"failed": True, "msg": "timed out"}, "error_rate", "UNKNOWN", "timed out"),
    ("latency", query("p95_latency_5m", "breach", 0.9), "latency", "CRITICAL", "0.9 seconds"),
    ("pods", {"workloads": [workload("sark", "CRITICAL", 3, 1, ["CrashLoopBackOff"])]}, "pods", "CRITICAL", "CrashLoopBackOff"),
    ("pods", {"workloads": [workload("sark", "WARNING", 3, 3, ["restarts"])]}, "pods", "WARNING", "restarts"),
    ("pods", {"workloads": [workload("sark", "OK", 3, 2)]}, "pods", "CRITICAL", "2 of 3"),
    ("pods", {"workloads": []}, "pods", "UNKNOWN", "no SARK workload"),
    ("database", {"is_available": False, "error": "refused", "error_kind": "unreachable"}, "database", "CRITICAL", "refused"),
    ("redis", {"failed": True, "msg": "Redis down"}, "redis", "CRITICAL", "Redis down"),
    ("siem", {"queries": {"custom": {"expr": "e", "samples": [{"value": 0.0}]}}}, "siem", "CRITICAL", "0.0 events"),
    ("siem", {"queries": {"custom": {"expr": "e", "samples": []}}}, "siem", "UNKNOWN", "no data"),
    ("user_validation", {"confirmed": False, "by": "asmith", "note": "logins fail"}, "user_validation", "CRITICAL", "logins fail"),
    ("user_validation", None, "user_validation", "UNKNOWN", "a person must ask"),
    ("redis", None, "redis", "UNKNOWN", "not checked"),
])
def test_each_failure_is_named(key, value, check_id, verdict, reason):
    check = by_id(recovery_checks(dict(HEALTHY, **{key: value})))[check_id]
    assert check["verdict"] == verdict and reason in check["reason"], check
    others = [c for c in recovery_checks(dict(HEALTHY, **{key: value})) if c["id"] != check_id]
    assert all(c["verdict"] == "OK" for c in others)


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="unknown key"):
        recovery_checks({"healt": {}})
    with pytest.raises(AnsibleFilterError, match="confirmed"):
        recovery_checks({"user_validation": {"confirmed": "yes"}})
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        recovery_checks([])
    assert FilterModule().filters()["recovery_checks"]({})[0]["verdict"] == "UNKNOWN"


def test_check_to_entry():
    from ansible_collections.sark.ops.plugins.filter.recovery_checks import check_to_entry
    check = recovery_checks(HEALTHY)[5]
    entry = check_to_entry(check)
    assert entry == {"phase": "verify", "kind": "check", "action": "Redis healthy (PING)", "status": "ok",
                     "result": {"figure": 0.3, "unit": "ms", "threshold": "", "reason": "Redis answers"},
                     "details": {"check_id": "redis", "runbook": "002 Phase 6 Recovery Verification, check 6"}}
    assert check_to_entry(check, phase="diagnose", run_id="7")["id"] == "diagnose-redis-7"
    with pytest.raises(AnsibleFilterError, match="check dict"):
        check_to_entry({"title": "no id"})
