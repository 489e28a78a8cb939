import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.weekly_checks import FilterModule, week_over_week, weekly_checks, weekly_trends

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc).timestamp()
DAY = 86400
IDS = ["error_rate_trend", "p95_latency_trend", "memory_trend", "cpu_trend", "disk_space", "log_warnings",
       "backup_restore", "security_events"]


def series(last, this, metric=None):
    """A query_range answer: hourly points, `last` in the week before, `this` in the last 7 days."""
    values = [[NOW - h * 3600, str(this if h * 3600 < 7 * DAY else last)] for h in range(14 * 24, -1, -1)]
    return {"json": {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": metric or {}, "values": values}]}}}


def pvcs(*names):
    return {"resources": [{"metadata": {"name": n, "namespace": "production"}, "status": {"phase": "Bound"},
                           "spec": {"resources": {"requests": {"storage": "50Gi"}}}} for n in names]}


def volumes(**used):
    return {"json": {"status": "success", "data": {"result": [
        {"metric": {"namespace": "production", "persistentvolumeclaim": k.replace("_", "-")}, "value": [NOW, str(v)]}
        for k, v in used.items()]}}}


def healthy():
    return {
        "trends": {"error_rate": series(0.002, 0.002), "p95_latency": series(0.19, 0.19),
                   "memory": series(600 * 1048576, 610 * 1048576, {"pod": "sark-0"}), "cpu": series(0.2, 0.2, {"pod": "sark-0"})},
        "pvcs": pvcs("pg-data"), "volumes": volumes(pg_data=0.5),
        "logs": {"log_lines": ["INFO ok", "WARNING slow", "info"]},
        "restore": [{"id": "backup_verified", "title": "Backup", "verdict": "OK", "reason": "verified"}],
        "audit": {"by_severity": {"counts": {"low": 10, "high": 0, "critical": 0}, "total": 10}, "critical": {"events": []}},
    }


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_healthy_week_is_ok_and_in_runbook_order():
    checks = weekly_checks(healthy(), now=NOW)
    assert [c["id"] for c in checks] == IDS
    assert set(c["verdict"] for c in checks) == {"OK"}
    assert by_id(checks)["log_warnings"]["figure"] == 1


def test_week_over_week_means_and_change():
    stats = week_over_week([[NOW - 10 * DAY, 1.0], [NOW - 8 * DAY, 3.0], [NOW - DAY, 4.0]], NOW)
    assert stats["last_week"] == 2.0 and stats["this_week"] == 4.0 and stats["change_percent"] == 100.0
    assert week_over_week([[NOW - DAY, 4.0]], NOW)["change_percent"] is None


@pytest.mark.parametrize("this, verdict", [(0.002, "OK"), (0.00299, "OK"), (0.003, "WARNING"), (0.00599, "WARNING"),
                                           (0.006, "CRITICAL")])
def test_error_rate_trend_thresholds(this, verdict):
    results = dict(healthy(), trends=dict(healthy()["trends"], error_rate=series(0.002, this)))
    assert by_id(weekly_checks(results, now=NOW))["error_rate_trend"]["verdict"] == verdict


def test_error_rate_below_floor_is_ok_whatever_its_growth():
    results = dict(healthy(), trends=dict(healthy()["trends"], error_rate=series(0.00001, 0.00005)))
    check = by_id(weekly_checks(results, now=NOW))["error_rate_trend"]
    assert check["verdict"] == "OK" and "floor" in check["reason"]


@pytest.mark.parametrize("this, verdict", [(0.2, "OK"), (0.25, "WARNING"), (0.4, "CRITICAL")])
def test_latency_trend_thresholds(this, verdict):
    results = dict(healthy(), trends=dict(healthy()["trends"], p95_latency=series(0.2, this)))
    assert by_id(weekly_checks(results, now=NOW))["p95_latency_trend"]["verdict"] == verdict


@pytest.mark.parametrize("this, verdict", [(119, "OK"), (120, "WARNING"), (150, "CRITICAL")])
def test_resource_trend_thresholds_worst_pod_decides(this, verdict):
    result = series(100 * 1048576, 100 * 1048576, {"pod": "a"})
    result["json"]["data"]["result"] += series(100 * 1048576, this * 1048576, {"pod": "b"})["json"]["data"]["result"]
    check = by_id(weekly_checks(dict(healthy(), trends=dict(healthy()["trends"], memory=result)), now=NOW))["memory_trend"]
    assert check["verdict"] == verdict
    assert "pod=b" in check["reason"] or verdict == "OK"


def test_trend_unread_and_error_answer_are_unknown():
    results = dict(healthy(), trends={"error_rate": {"failed": True, "msg": "connection refused"},
                                      "p95_latency": {"json": {"status": "error", "error": "bad query"}}})
    checks = by_id(weekly_checks(results, now=NOW))
    assert checks["error_rate_trend"]["verdict"] == "UNKNOWN" and "connection refused" in checks["error_rate_trend"]["reason"]
    assert checks["p95_latency_trend"]["verdict"] == "UNKNOWN" and "bad query" in checks["p95_latency_trend"]["reason"]
    assert checks["memory_trend"]["reason"] == "not read (source not configured)"


def test_trend_without_last_week_is_unknown():
    only_this = {"json": {"status": "success", "data": {"result": [{"metric": {}, "values": [[NOW - 3600, "0.1"]]}]}}}
    results = dict(healthy(), trends=dict(healthy()["trends"], error_rate=only_this))
    assert by_id(weekly_checks(results, now=NOW))["error_rate_trend"]["verdict"] == "UNKNOWN"


@pytest.mark.parametrize("used, verdict", [(0.799, "OK"), (0.8, "WARNING"), (0.899, "WARNING"), (0.9, "CRITICAL")])
def test_disk_space_thresholds(used, verdict):
    results = dict(healthy(), pvcs=pvcs("pg-data", "other"), volumes=volumes(pg_data=used, other=0.1))
    check = by_id(weekly_checks(results, now=NOW))["disk_space"]
    assert check["verdict"] == verdict
    assert check["figure"] == round(used * 100, 1)


def test_disk_space_pvc_not_bound_and_no_statistics():
    claims = pvcs("pg-data")
    claims["resources"][0]["status"]["phase"] = "Pending"
    check = by_id(weekly_checks(dict(healthy(), pvcs=claims), now=NOW))["disk_space"]
    assert check["verdict"] == "WARNING" and "not Bound" in check["reason"]
    check = by_id(weekly_checks(dict(healthy(), volumes={"json": {"status": "success", "data": {"result": []}}}), now=NOW))["disk_space"]
    assert check["verdict"] == "UNKNOWN" and "no volume statistics" in check["reason"]


@pytest.mark.parametrize("count, verdict", [(99, "OK"), (100, "WARNING"), (999, "WARNING"), (1000, "CRITICAL")])
def test_log_warnings_thresholds(count, verdict):
    lines = ["level=warn x"] * count + ["INFO fine"] * 5
    check = by_id(weekly_checks(dict(healthy(), logs={"log_lines": lines}), now=NOW))["log_warnings"]
    assert check["verdict"] == verdict and check["figure"] == count


def test_logs_unreadable_is_unknown():
    check = by_id(weekly_checks(dict(healthy(), logs={"failed": True, "msg": "pods not found"}), now=NOW))["log_warnings"]
    assert check["verdict"] == "UNKNOWN" and "pods not found" in check["reason"]


def test_restore_test_verdicts():
    bad = [{"id": "a", "title": "Backup", "verdict": "OK", "reason": "fine"},
           {"id": "b", "title": "Row counts", "verdict": "CRITICAL", "reason": "users: 3 != 4"}]
    check = by_id(weekly_checks(dict(healthy(), restore=bad), now=NOW))["backup_restore"]
    assert check["verdict"] == "CRITICAL" and "users: 3 != 4" in check["reason"]
    check = by_id(weekly_checks(dict(healthy(), restore={"failed": True, "msg": "no backups"}), now=NOW))["backup_restore"]
    assert check["verdict"] == "CRITICAL" and "no backups" in check["reason"]
    check = by_id(weekly_checks(dict(healthy(), restore={}), now=NOW))["backup_restore"]
    assert check["verdict"] == "UNKNOWN"


def test_redis_backup_restore_only_when_configured_and_its_verdicts():
    assert "redis_backup_restore" not in by_id(weekly_checks(dict(healthy(), redis_restore={"skipped": True}), now=NOW))
    ok = {"changed": False, "verifications": [{"file": "redis-1.rdb", "kind": "rdb", "ok": True, "restore_test": {
        "databases": [{"db": "db0", "source_keys": 5, "restored_keys": 5}]}}]}
    checks = weekly_checks(dict(healthy(), redis_restore=ok), now=NOW)
    assert [c["id"] for c in checks][-2:] == ["redis_backup_restore", "security_events"]
    check = by_id(checks)["redis_backup_restore"]
    assert check["verdict"] == "OK" and "db0 5/5" in check["reason"]
    bad = {"failed": True, "msg": "1 of 1 backups failed verification: checksum mismatch",
           "verifications": [{"file": "redis-1.rdb", "kind": "rdb", "ok": False}]}
    check = by_id(weekly_checks(dict(healthy(), redis_restore=bad), now=NOW))["redis_backup_restore"]
    assert check["verdict"] == "CRITICAL" and "checksum mismatch" in check["reason"]
    none = {"failed": True, "msg": "no backups named redis-* in /b to test"}
    assert by_id(weekly_checks(dict(healthy(), redis_restore=none), now=NOW))["redis_backup_restore"]["verdict"] == "CRITICAL"


@pytest.mark.parametrize("high, critical, verdict", [(0, 0, "OK"), (1, 0, "WARNING"), (0, 1, "WARNING"), (30, 19, "WARNING"),
                                                     (30, 20, "CRITICAL")])
def test_security_events_thresholds(high, critical, verdict):
    audit = {"by_severity": {"counts": {"HIGH": high, "CRITICAL": critical, "LOW": 5}, "total": 5 + high + critical}}
    check = by_id(weekly_checks(dict(healthy(), audit=audit), now=NOW))["security_events"]
    assert check["verdict"] == verdict and check["figure"] == high + critical


def test_threshold_override_and_unknown_name():
    results = dict(healthy(), logs={"log_lines": ["warn"] * 3})
    assert by_id(weekly_checks(results, {"log_warnings": {"warning": 3}}, now=NOW))["log_warnings"]["verdict"] == "WARNING"
    with pytest.raises(AnsibleFilterError, match="unknown thresholds"):
        weekly_checks(results, {"log_warning": {"warning": 3}}, now=NOW)
    with pytest.raises(AnsibleFilterError):
        weekly_checks([], now=NOW)


def test_trends_scaled_to_the_unit_of_their_check():
    trends = weekly_trends(healthy()["trends"])
    assert [t["id"] for t in trends] == ["error_rate", "p95_latency", "memory", "cpu"]
    assert trends[0]["series"][0]["points"][-1][1] == pytest.approx(0.2)
    assert trends[2]["series"][0]["points"][-1][1] == pytest.approx(610)
    assert FilterModule().filters()["weekly_checks"] is weekly_checks
