import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.monthly_checks import (
    FilterModule, capacity_history, capacity_trends, linear_forecast, monthly_checks, vacuum_pair)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
T = NOW.timestamp()
DAY = 86400
IDS = ["vacuum_analyze", "pg_log_cleanup", "security_accounts", "security_api_keys", "capacity_forecast"]


def plan(database, *tables, deferred=()):
    return {"item": database, "selection": {"considered": 5, "deferred": list(deferred)},
            "results": [{"target": t, "status": "planned"} for t in tables], "planned_actions": []}


def run(database, *tables, status="ok"):
    return {"item": {"item": database}, "selection": {}, "results": [{"target": t, "status": status} for t in tables]}


def report(days_ago, **current):
    stamp = datetime.datetime.fromtimestamp(T - days_ago * DAY, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"finished": stamp, "checks": [{"id": "capacity_forecast", "details": {"current": current}}]}


def healthy():
    return {
        "vacuum": [vacuum_pair(plan("sark", "public.servers"), [run("sark", "public.servers")]),
                   vacuum_pair(plan("sark_audit"), [])],
        "pg_settings": {"log_directory": "log", "data_directory": "/pg", "log_path": "/pg/log"},
        "old_logs": {"files": [{"path": "/pg/log/a.log"}, {"path": "/pg/log/b.log"}]},
        "log_removal": {"results": [{"path": "/pg/log/a.log", "state": "absent"}, {"path": "/pg/log/b.log", "state": "absent"}]},
        "admins": {"users": [{"username": "admin", "is_admin": True}]},
        "disabled": {"users": [{"username": "old", "is_admin": False}]},
        "api_keys": {"not_in_layout": "no api_keys table"},
        "capacity": {"database_bytes": 100.0, "sessions": 10, "servers": 5},
        "history": capacity_history([report(60, database_bytes=100.0, sessions=10, servers=5),
                                     report(30, database_bytes=100.0, sessions=10, servers=5)]),
    }


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_healthy_month_is_ok_in_runbook_order():
    checks = monthly_checks(healthy(), now=NOW)
    assert [c["id"] for c in checks] == IDS
    assert set(c["verdict"] for c in checks) == {"OK"}, [c["reason"] for c in checks]
    assert by_id(checks)["vacuum_analyze"]["figure"] == 1
    assert by_id(checks)["pg_log_cleanup"]["reason"].startswith("removed 2 logs")


def test_linear_forecast_exact_line():
    out = linear_forecast([[0, 10], [DAY, 20], [2 * DAY, 30]], 100)
    assert out["slope_per_day"] == pytest.approx(10) and out["days_to_limit"] == 7.0
    assert out["crossing"] == "1970-01-10T00:00:00Z"


def test_linear_forecast_least_squares_and_now():
    out = linear_forecast([[0, 0], [DAY, 12], [2 * DAY, 18], [3 * DAY, 30]], 100, now=3 * DAY)
    # slope = 48 / 5 = 9.6/day, intercept 15 - 9.6 * 1.5 = 0.6: 100 reached at 99.4 / 9.6 = 10.35 days, 7.35 after now
    assert out["slope_per_day"] == pytest.approx(9.6)
    assert out["days_to_limit"] == pytest.approx(7.35, abs=0.06)
    assert out["value_now"] == pytest.approx(0.6 + 9.6 * 3)


def test_linear_forecast_edges():
    assert linear_forecast([], 10)["days_to_limit"] is None
    assert linear_forecast([[0, 5]], 10)["days_to_limit"] is None
    assert linear_forecast([[0, 5], [0, 6]], 10)["days_to_limit"] is None
    assert linear_forecast([[0, 9], [DAY, 8]], 10)["days_to_limit"] is None
    assert linear_forecast([[0, 5], [DAY, 12]], 10)["days_to_limit"] == 0.0


@pytest.mark.parametrize("growth_per_30d, verdict", [
    (5.0, "OK"),         # 900 / (5/30) = 5400 days
    (29.0, "OK"),        # 900 / (29/30) = 931 days ... still OK
    (300.0, "WARNING"),  # 90 days exactly
    (450.0, "WARNING"),  # 60 days
    (900.0, "CRITICAL"),  # 30 days
    (2000.0, "CRITICAL"),
])
def test_capacity_forecast_thresholds(growth_per_30d, verdict):
    history = capacity_history([report(30, database_bytes=100.0 - growth_per_30d, sessions=10, servers=5)])
    results = dict(healthy(), history=history)
    check = by_id(monthly_checks(results, now=NOW, capacity_limits={"database_bytes": 1000}))["capacity_forecast"]
    forecasts = dict((f["figure"], f) for f in check["details"]["forecasts"])
    assert forecasts["database_bytes"]["verdict"] == verdict
    assert check["verdict"] == verdict


def test_capacity_at_limit_is_critical_and_first_report_unknown():
    results = dict(healthy(), capacity={"database_bytes": 2000.0, "sessions": 10, "servers": 5})
    check = by_id(monthly_checks(results, now=NOW, capacity_limits={"database_bytes": 1000}))["capacity_forecast"]
    assert check["verdict"] == "CRITICAL" and check["figure"] == 0.0
    check = by_id(monthly_checks(dict(healthy(), history=[]), now=NOW))["capacity_forecast"]
    assert check["verdict"] == "UNKNOWN" and "no earlier report" in check["reason"]
    check = by_id(monthly_checks(dict(healthy(), capacity={"database_bytes": None, "sessions": 1, "servers": 1}), now=NOW))["capacity_forecast"]
    assert check["verdict"] == "UNKNOWN" and "could not be read" in check["reason"]


def test_capacity_history_skips_reports_without_figures():
    hist = capacity_history([report(10, servers=3), {"finished": "bad"}, "junk", report(20, servers=2)])
    assert [h[1]["servers"] for h in hist] == [2, 3]
    trends = capacity_trends(hist, {"servers": 4}, T)
    assert [t["id"] for t in trends] == ["servers"] and len(trends[0]["series"][0]["points"]) == 3


def test_vacuum_verdicts():
    results = dict(healthy(), vacuum=[vacuum_pair(plan("sark", "a", deferred=["b"]), [run("sark", "a")])])
    assert by_id(monthly_checks(results, now=NOW))["vacuum_analyze"]["verdict"] == "WARNING"
    results = dict(healthy(), vacuum=[vacuum_pair(plan("sark", "a"), [run("sark", "a", status="failed")])])
    assert by_id(monthly_checks(results, now=NOW))["vacuum_analyze"]["verdict"] == "CRITICAL"
    results = dict(healthy(), vacuum=[vacuum_pair(plan("sark", "a"), [{"item": {"item": "sark"}, "msg": "lost"}])])
    assert by_id(monthly_checks(results, now=NOW))["vacuum_analyze"]["verdict"] == "CRITICAL"
    results = dict(healthy(), vacuum=[vacuum_pair(plan("sark", "a"), [])])
    check = by_id(monthly_checks(results, now=NOW))["vacuum_analyze"]
    assert check["verdict"] == "OK" and "would vacuum a" in check["reason"]
    results = dict(healthy(), vacuum=[vacuum_pair({"item": "sark", "msg": "auth failed"}, [])])
    assert by_id(monthly_checks(results, now=NOW))["vacuum_analyze"]["verdict"] == "UNKNOWN"
    assert by_id(monthly_checks(dict(healthy(), vacuum=[]), now=NOW))["vacuum_analyze"]["verdict"] == "UNKNOWN"


def test_log_cleanup_check_mode_failure_and_unknown():
    results = dict(healthy(), log_removal={"results": []}, check_mode=True)
    assert by_id(monthly_checks(results, now=NOW))["pg_log_cleanup"]["reason"].startswith("would remove 2 logs")
    results = dict(healthy(), log_removal={"results": [{"path": "/pg/log/a.log", "msg": "permission denied"}]})
    assert by_id(monthly_checks(results, now=NOW))["pg_log_cleanup"]["verdict"] == "WARNING"
    assert by_id(monthly_checks(dict(healthy(), pg_settings={}), now=NOW))["pg_log_cleanup"]["verdict"] == "UNKNOWN"
    check = by_id(monthly_checks(dict(healthy(), old_logs={"files": []}), now=NOW))["pg_log_cleanup"]
    assert check["verdict"] == "OK" and check["figure"] == 0


@pytest.mark.parametrize("admins, verdict", [(3, "OK"), (4, "WARNING"), (9, "WARNING"), (10, "CRITICAL")])
def test_admin_accounts_thresholds(admins, verdict):
    results = dict(healthy(), admins={"users": [{"username": "a%d" % i, "is_admin": True} for i in range(admins)]})
    assert by_id(monthly_checks(results, now=NOW))["security_accounts"]["verdict"] == verdict


def test_disabled_admin_is_a_warning():
    results = dict(healthy(), disabled={"users": [{"username": "gone", "is_admin": True}]})
    check = by_id(monthly_checks(results, now=NOW))["security_accounts"]
    assert check["verdict"] == "WARNING" and "gone" in check["reason"]


@pytest.mark.parametrize("age, verdict", [(29, "OK"), (30, "WARNING"), (89, "WARNING"), (90, "CRITICAL")])
def test_api_key_age_thresholds(age, verdict):
    created = (NOW - datetime.timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%S")
    keys = {"keys": [{"name": "ci", "key_prefix": "sk_1", "created_at": created, "is_active": True},
                     {"name": "old revoked", "key_prefix": "sk_0", "created_at": "2020-01-01T00:00:00", "revoked_at": "2021-01-01"}]}
    check = by_id(monthly_checks(dict(healthy(), api_keys=keys), now=NOW))["security_api_keys"]
    assert check["verdict"] == verdict and check["figure"] == pytest.approx(age, abs=0.1)


def test_api_keys_unreadable_is_unknown_and_bad_thresholds_refused():
    check = by_id(monthly_checks(dict(healthy(), api_keys={"failed": True, "msg": "no reader"}), now=NOW))["security_api_keys"]
    assert check["verdict"] == "UNKNOWN"
    with pytest.raises(AnsibleFilterError, match="unknown thresholds"):
        monthly_checks(healthy(), {"admins": {"warning": 1}}, now=NOW)
    assert "linear_forecast" in FilterModule().filters()
