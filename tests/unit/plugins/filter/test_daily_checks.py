import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.daily_checks import (
    FilterModule, backup_time, daily_checks, daily_trend_queries, daily_trends,
)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
IDS = ["pods_not_running", "top_resource_users", "error_rate_24h", "recent_rollouts", "database_size", "redis_memory",
       "backup_age", "firing_alerts", "health_detailed", "session_count", "siem_queue", "audit_gaps"]


def pod(name, phase="Running", ready=True, reason=None, restarts=0, mem="100Mi", mem_pct=10.0):
    return {"name": name, "phase": phase, "ready": ready, "reason": reason, "restarts": restarts,
            "containers": [{"name": "c", "usage": {"cpu": "10m", "memory": mem}, "memory_limit_percent": mem_pct}]}


def k8s(*pods, revisions=None, progressing="True", generation=1, observed=1):
    return {"metrics_available": True, "workloads": [{
        "name": "sark", "pods": list(pods), "generation": generation, "observed_generation": observed,
        "conditions": {"Progressing": {"status": progressing, "reason": "NewReplicaSetAvailable"}},
        "revisions": revisions or [{"revision": 2, "created": "2026-12-01T08:00:00Z", "images": ["sark:2"]},
                                   {"revision": 1, "created": "2026-11-20T08:00:00Z", "images": ["sark:1"]}]}]}


def healthy():
    return {
        "k8s": k8s(pod("a"), pod("b")),
        "prometheus": {"queries": {"error_rate_24h": {"samples": [{"labels": {}, "value": 0.0002}], "worst": 0.0002}}},
        "alerts": {"counts": {}, "prometheus_alerts": [], "alertmanager_alerts": []},
        "pg": {"is_available": True, "databases": [{"name": "sark", "size_bytes": 100 * 1048576}]},
        "redis": {"is_available": True, "memory": {"used_memory": 100 * 1048576, "maxmemory": 0, "used_memory_human": "100M"}},
        "backups": {"location": "/b", "objects": [{"path": "/b/sark-backup-20261201-0900.dump"}]},
        "health": {"is_available": True, "verdict": "healthy", "components": {"redis": {"status": "healthy"}}},
        "sessions": {"total": 4200},
        "siem": {"in_redis": True, "queue": {"length": 12}, "failed_events": {"length": 0}},
        "audit": {"events_per_hour": {"events_recorded": True, "empty_hours": 0, "gaps": []}},
    }


def run(results=None, **change):
    data = healthy() if results is None else results
    data.update(change)
    return dict((c["id"], c) for c in daily_checks(data, now=NOW))


def test_all_twelve_checks_in_runbook_order_and_healthy():
    checks = daily_checks(healthy(), now=NOW)
    assert [c["id"] for c in checks] == IDS
    assert [c["id"] for c in checks if c["verdict"] != "OK"] == []


def test_nothing_configured_is_unknown_never_ok():
    checks = daily_checks({}, now=NOW)
    assert set(c["verdict"] for c in checks) == {"UNKNOWN"}
    assert all(c["reason"] for c in checks)


def test_failed_read_is_unknown_with_the_reason():
    check = run(sessions={"failed": False, "msg": "Redis at x refused the connection"})["session_count"]
    assert check["verdict"] == "UNKNOWN" and "refused the connection" in check["reason"]
    assert run(prometheus={"skipped": True, "skip_reason": "Conditional result was False"})["error_rate_24h"]["reason"] == \
        "not read (source not configured)"


@pytest.mark.parametrize("pods,verdict", [
    ([pod("a")], "OK"),
    ([pod("a"), pod("b", phase="Pending", ready=False)], "WARNING"),
    ([pod("a", ready=False), pod("b", ready=False), pod("c", ready=False)], "CRITICAL"),
    ([pod("a"), pod("b", reason="CrashLoopBackOff", ready=False, restarts=7)], "CRITICAL"),
])
def test_pods(pods, verdict):
    check = run(k8s=k8s(*pods))["pods_not_running"]
    assert check["verdict"] == verdict
    if verdict == "CRITICAL" and len(pods) == 2:
        assert "CrashLoopBackOff, 7 restarts" in check["reason"]


@pytest.mark.parametrize("pct,verdict", [(79.9, "OK"), (80, "WARNING"), (95, "CRITICAL")])
def test_top_resource_users(pct, verdict):
    check = run(k8s=k8s(pod("a", mem="900Mi", mem_pct=pct), pod("b", mem="2Gi", mem_pct=5)))["top_resource_users"]
    assert check["verdict"] == verdict
    assert check["details"]["top"][0]["pod"] == "b"  # by memory used, most first


def test_top_resource_users_without_metrics_is_unknown():
    data = k8s(pod("a"))
    data["metrics_available"] = False
    assert run(k8s=data)["top_resource_users"]["verdict"] == "UNKNOWN"


@pytest.mark.parametrize("ratio,verdict", [(0.0009, "OK"), (0.001, "WARNING"), (0.0099, "WARNING"), (0.01, "CRITICAL")])
def test_error_rate(ratio, verdict):
    check = run(prometheus={"queries": {"error_rate_24h": {"samples": [{"value": ratio}], "worst": ratio}}})["error_rate_24h"]
    assert check["verdict"] == verdict and check["unit"] == "%"


def test_error_rate_no_samples_is_unknown():
    assert run(prometheus={"queries": {"error_rate_24h": {"samples": []}}})["error_rate_24h"]["verdict"] == "UNKNOWN"


def test_rollouts():
    assert run()["recent_rollouts"]["figure"] == 1
    assert run(k8s=k8s(pod("a"), progressing="False"))["recent_rollouts"]["verdict"] == "CRITICAL"
    assert run(k8s=k8s(pod("a"), generation=3, observed=2))["recent_rollouts"]["verdict"] == "WARNING"


@pytest.mark.parametrize("mib,verdict", [(10239, "OK"), (10240, "WARNING"), (51200, "CRITICAL")])
def test_database_size(mib, verdict):
    assert run(pg={"is_available": True, "databases": [{"name": "sark", "size_bytes": mib * 1048576}]})["database_size"]["verdict"] == verdict


def test_database_down_is_critical_and_missing_database_unknown():
    assert run(pg={"is_available": False, "assessment": {"findings": ["refused"]}})["database_size"]["verdict"] == "CRITICAL"
    assert run(pg={"is_available": True, "databases": [{"name": "other", "size_bytes": 1}]})["database_size"]["verdict"] == "UNKNOWN"


@pytest.mark.parametrize("used,maxmemory,verdict", [(74, 100, "OK"), (75, 100, "WARNING"), (90, 100, "CRITICAL"),
                                                    (1023, 0, "OK"), (1024, 0, "WARNING"), (4096, 0, "CRITICAL")])
def test_redis_memory(used, maxmemory, verdict):
    memory = {"used_memory": used * 1048576, "maxmemory": maxmemory * 1048576}
    assert run(redis={"is_available": True, "memory": memory})["redis_memory"]["verdict"] == verdict


def test_stopped_redis_is_critical():
    check = run(redis={"is_available": False, "assessment": {"findings": ["redis unreachable: connection refused"]}})["redis_memory"]
    assert check["verdict"] == "CRITICAL" and "connection refused" in check["reason"]


@pytest.mark.parametrize("name,verdict", [
    ("sark-backup-20261201-0100.dump", "OK"),            # 11 h
    ("sark-backup-20261130-1000.dump", "WARNING"),       # 26 h
    ("sark-20261129T095959.123Z.dump", "CRITICAL"),      # 50 h
])
def test_backup_age(name, verdict):
    check = run(backups={"location": "/b", "objects": [{"path": "/b/old-20200101-0000.dump"}, {"path": "/b/" + name}]})["backup_age"]
    assert check["verdict"] == verdict
    assert check["details"]["newest"] == "/b/" + name


def test_backup_none_is_critical_unreadable_unknown():
    assert run(backups={"location": "/b", "objects": []})["backup_age"]["verdict"] == "CRITICAL"
    assert run(backups={"failed": True, "msg": "not readable"})["backup_age"]["verdict"] == "UNKNOWN"


def test_backup_time_from_mtime_without_stamp():
    stamp = NOW.timestamp() - 7200
    assert backup_time({"path": "/b/latest.dump", "mtime": stamp}) == datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)


def test_alerts():
    firing = {"counts": {}, "prometheus_alerts": [{"alertname": "HighLatency", "severity": "warning", "state": "firing"},
                                                  {"alertname": "Pending", "severity": "critical", "state": "pending"}],
              "alertmanager_alerts": [{"alertname": "Silenced", "severity": "critical", "state": "suppressed"}]}
    check = run(alerts=firing)["firing_alerts"]
    assert check["verdict"] == "WARNING" and check["reason"] == "firing: HighLatency"
    firing["alertmanager_alerts"].append({"alertname": "DatabaseDown", "severity": "critical", "state": "active"})
    assert run(alerts=firing)["firing_alerts"]["verdict"] == "CRITICAL"


@pytest.mark.parametrize("verdict,expected", [("healthy", "OK"), ("degraded", "WARNING"), ("unhealthy", "CRITICAL"), ("odd", "UNKNOWN")])
def test_health(verdict, expected):
    assert run(health={"is_available": True, "verdict": verdict, "components": {}})["health_detailed"]["verdict"] == expected


def test_health_unavailable_is_critical():
    assert run(health={"is_available": False})["health_detailed"]["verdict"] == "CRITICAL"


@pytest.mark.parametrize("length,verdict", [(999, "OK"), (1000, "WARNING"), (5000, "WARNING"), (10000, "CRITICAL")])
def test_siem_queue(length, verdict):
    assert run(siem={"in_redis": True, "queue": {"length": length}, "failed_events": {"length": 0}})["siem_queue"]["verdict"] == verdict


def test_siem_not_in_layout():
    check = run(siem={"not_in_layout": "process memory", "layout": "sark_v2"})["siem_queue"]
    assert check["verdict"] == "OK" and "not applicable" in check["reason"]


@pytest.mark.parametrize("empty,verdict", [(0, "OK"), (1, "WARNING"), (3, "CRITICAL")])
def test_audit_gaps(empty, verdict):
    audit = {"events_per_hour": {"events_recorded": True, "empty_hours": empty, "gaps": ["2026-12-01T10:00:00+00:00"] * empty}}
    assert run(audit=audit)["audit_gaps"]["verdict"] == verdict


def test_sessions_and_threshold_override():
    data = healthy()
    assert run(data)["session_count"]["verdict"] == "OK"
    checks = dict((c["id"], c) for c in daily_checks(healthy(), {"sessions": {"warning": 4000}}, now=NOW))
    assert checks["session_count"]["verdict"] == "WARNING"
    with pytest.raises(AnsibleFilterError, match="unknown thresholds"):
        daily_checks(healthy(), {"session": {"warning": 1}}, now=NOW)


def test_registered():
    assert list(FilterModule().filters()) == ["daily_checks", "daily_trend_queries", "daily_trends"]


@pytest.mark.parametrize("restarts,verdict", [(0, "OK"), (2, "OK"), (3, "WARNING"), (40, "WARNING")])
def test_pod_restarts_running_pod(restarts, verdict):
    restarted = dict(pod("redis-0", restarts=restarts), last_termination={"reason": "OOMKilled", "finished_at": "2026-12-01T10:30:00Z"})
    check = run(k8s=k8s(pod("a"), restarted))["pods_not_running"]
    assert check["verdict"] == verdict
    if verdict == "WARNING":
        assert "redis-0 %d restarts, last OOMKilled" % restarts in check["reason"]
        assert check["details"]["restarted"][0]["pod"] == "redis-0"
    else:
        assert check["details"]["restarted"] == []


def test_pod_restarts_threshold_and_crashloop_stays_critical():
    restarted = pod("redis-0", restarts=5)
    assert run(k8s=k8s(restarted))["pods_not_running"]["verdict"] == "WARNING"
    checks = dict((c["id"], c) for c in daily_checks(dict(healthy(), k8s=k8s(restarted)), {"pod_restarts": {"warning": 10}}, now=NOW))
    assert checks["pods_not_running"]["verdict"] == "OK"
    crash = pod("w", reason="CrashLoopBackOff", ready=False, restarts=9)
    check = run(k8s=k8s(restarted, crash))["pods_not_running"]
    assert check["verdict"] == "CRITICAL" and "restarting: redis-0" in check["reason"]


def test_backup_age_from_s3_keys():
    keys = ["postgres/sark-backup-20261129-2000.dump", "postgres/sark-backup-20261201-0900.dump"]
    check = run(backups={"location": "s3://sark-backups/postgres/", "objects": keys})["backup_age"]
    assert check["verdict"] == "OK" and check["figure"] == 3.0
    assert check["details"]["newest"] == "postgres/sark-backup-20261201-0900.dump"
    stale = run(backups={"location": "s3://sark-backups/postgres/", "objects": keys[:1]})["backup_age"]
    assert stale["verdict"] == "WARNING" and stale["figure"] == 40.0
    undated = run(backups={"location": "s3://sark-backups/postgres/", "objects": ["postgres/latest.dump"]})["backup_age"]
    assert undated["verdict"] == "CRITICAL" and "none with a time stamp" in undated["reason"]


def test_backup_age_s3_listing_cut_at_1000_is_not_ok():
    keys = ["postgres/sark-backup-20261201-%04d.dump" % (n % 900) for n in range(1000)]
    check = run(backups={"location": "s3://b/postgres/", "objects": keys})["backup_age"]
    assert check["verdict"] == "UNKNOWN" and "first 1000 keys" in check["reason"]
    assert run(backups={"location": "s3://b/postgres/", "objects": keys[:999]})["backup_age"]["verdict"] == "OK"


TRENDS = [{"id": "error_ratio", "title": "5xx share", "unit": "%", "expr": "100 * x", "warning": 0.1},
          {"id": "rps", "title": "Requests", "unit": "req/s", "expr": "sum(rate(y[15m]))", "step": "5m"}]


def test_daily_trend_queries():
    assert daily_trend_queries(TRENDS, "24h", "15m") == [
        {"name": "error_ratio", "expr": "100 * x", "duration": "24h", "step": "15m"},
        {"name": "rps", "expr": "sum(rate(y[15m]))", "duration": "24h", "step": "5m"}]
    with pytest.raises(AnsibleFilterError, match="needs an id and an expr"):
        daily_trend_queries([{"id": "x"}])
    with pytest.raises(AnsibleFilterError, match="list of trends"):
        daily_trend_queries({"id": "x"})


def test_daily_trends_from_ranges():
    ranges = {"error_ratio": {"expr": "100 * x", "step": 900, "result": [
        {"metric": {}, "values": [[1764000000, "0.04"], [1764000900, "NaN"], [1764001800, "0.05"]]}]}}
    trends = daily_trends(ranges, TRENDS)
    assert [t["id"] for t in trends] == ["error_ratio"]  # rps was not read: left out
    assert trends[0]["series"] == [{"name": "5xx share", "points": [[1764000000.0, 0.04], [1764001800.0, 0.05]]}]
    assert trends[0]["warning"] == 0.1 and "critical" not in trends[0] and trends[0]["unit"] == "%"
    assert daily_trends({}, TRENDS) == []
