import base64
import datetime
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.oncall_handoff import (
    FilterModule, alert_episodes, incidents_of, oncall_handoff, parse_timeline, summarise_incident)

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
T = NOW.timestamp()
IDS = ["firing_alerts", "incidents_week", "alert_history", "audit_week", "recent_rollouts", "unresolved"]


def iso(days_ago):
    return (NOW - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline(incident, *entries):
    lines = [json.dumps(dict(e, incident_id=incident)) for e in entries]
    return {"source": "/runs/%s/timeline.jsonl" % incident, "content": base64.b64encode("\n".join(lines).encode()).decode()}


def alerts_range(*episodes):
    result = []
    for name, severity, start, minutes in episodes:
        result.append({"metric": {"alertname": name, "severity": severity, "alertstate": "firing"},
                       "values": [[start + 60 * i, "1"] for i in range(minutes + 1)]})
    return {"json": {"status": "success", "data": {"resultType": "matrix", "result": result}}}


def healthy():
    return {
        "alerts": {"counts": {}, "prometheus_alerts": [], "alertmanager_alerts": []},
        "incidents": incidents_of({"results": [timeline(
            "INC-1", {"time": iso(2), "phase": "diagnose", "status": "critical", "severity": "P1", "action": "api down"},
            {"time": iso(2), "phase": "verify", "status": "ok", "severity": "P1", "action": "healthy again"})]}, T),
        "alert_history": alerts_range(("HighLatency", "warning", T - 3 * 86400, 40)),
        "audit": {"by_severity": {"counts": {"low": 3, "high": 0, "critical": 0}, "total": 3}},
        "k8s": {"workloads": [{"name": "sark", "conditions": {"Progressing": {"status": "True"}},
                               "revisions": [{"revision": "3", "created": iso(1), "images": ["sark:3"]},
                                             {"revision": "2", "created": iso(20), "images": ["sark:2"]}]}]},
    }


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_quiet_week_is_ok():
    checks = oncall_handoff(healthy(), now=T)
    assert [c["id"] for c in checks] == IDS
    assert set(c["verdict"] for c in checks) == {"OK"}, [c["reason"] for c in checks]
    assert by_id(checks)["recent_rollouts"]["figure"] == 1
    assert by_id(checks)["unresolved"]["reason"] == "nothing open"


def test_firing_alerts_warning_and_critical():
    results = dict(healthy(), alerts={"counts": {}, "prometheus_alerts": [{"alertname": "A", "severity": "warning", "state": "firing"}],
                                      "alertmanager_alerts": [{"alertname": "S", "severity": "info", "state": "suppressed"}]})
    checks = by_id(oncall_handoff(results, now=T))
    assert checks["firing_alerts"]["verdict"] == "WARNING" and checks["firing_alerts"]["figure"] == 1
    assert checks["unresolved"]["verdict"] == "WARNING" and "alert A" in checks["unresolved"]["reason"]
    results["alerts"]["alertmanager_alerts"].append({"alertname": "Down", "severity": "critical", "state": "active"})
    assert by_id(oncall_handoff(results, now=T))["firing_alerts"]["verdict"] == "CRITICAL"


def test_incident_resolution_rules():
    assert summarise_incident([{"phase": "verify", "status": "failed"}])["resolved"] is False
    assert summarise_incident([{"phase": "verify", "status": "ok", "time": "1"}, {"phase": "recovery", "status": "warning", "time": "2"}])["resolved"] is False
    assert summarise_incident([{"phase": "diagnose", "status": "critical"}, {"kind": "decision", "action": "incident closed"}])["resolved"] is True
    assert summarise_incident([{"severity": "P2"}, {"severity": "P0"}])["severity"] == "P0"


@pytest.mark.parametrize("severity, verdict", [("P3", "WARNING"), ("P2", "WARNING"), ("P1", "CRITICAL"), ("P0", "CRITICAL")])
def test_open_incident_verdict_by_level(severity, verdict):
    incidents = incidents_of({"results": [timeline("INC-2", {"time": iso(1), "phase": "diagnose", "severity": severity, "action": "x"})]}, T)
    checks = by_id(oncall_handoff(dict(healthy(), incidents=incidents), now=T))
    assert checks["incidents_week"]["verdict"] == verdict and checks["incidents_week"]["figure"] == 1
    assert "INC-2" in checks["unresolved"]["reason"]


def test_incidents_outside_the_period_and_broken_lines():
    slurped = {"results": [timeline("OLD", {"time": iso(30), "phase": "diagnose", "severity": "P0"}),
                           {"source": "/x", "content": base64.b64encode(b'{"time": "' + iso(1).encode() + b'", "incident_id": "B"}\nnot json\n').decode()},
                           {"failed": True, "msg": "permission denied"}]}
    incidents = incidents_of(slurped, T)
    assert [i["incident_id"] for i in incidents] == ["B"] and incidents[0]["broken_lines"] == 1
    entries, broken = parse_timeline("{}\n\n[1]\n{")
    assert entries == [{}] and broken == 1


def test_alert_episodes_split_on_gaps():
    history = alerts_range(("A", "warning", T - 7200, 10), ("A", "warning", T - 3600, 5), ("B", "critical", T - 600, 2))
    episodes = alert_episodes(history)
    assert [(e["alertname"], e["minutes"]) for e in episodes] == [("A", 11.0), ("A", 6.0), ("B", 3.0)]


@pytest.mark.parametrize("count, verdict", [(9, "OK"), (10, "WARNING"), (49, "WARNING"), (50, "CRITICAL")])
def test_alert_history_thresholds(count, verdict):
    episodes = [("A", "warning", T - 86400 + i * 600, 1) for i in range(count)]
    check = by_id(oncall_handoff(dict(healthy(), alert_history=alerts_range(*episodes)), now=T))["alert_history"]
    assert check["verdict"] == verdict and check["figure"] == count


@pytest.mark.parametrize("high, verdict", [(0, "OK"), (1, "WARNING"), (49, "WARNING"), (50, "CRITICAL")])
def test_audit_week_thresholds(high, verdict):
    audit = {"by_severity": {"counts": {"high": high, "critical": 0}, "total": high}}
    assert by_id(oncall_handoff(dict(healthy(), audit=audit), now=T))["audit_week"]["verdict"] == verdict


def test_stuck_rollout_and_unknown_sources():
    results = healthy()
    results["k8s"]["workloads"][0]["conditions"]["Progressing"] = {"status": "False", "reason": "ProgressDeadlineExceeded"}
    checks = by_id(oncall_handoff(results, now=T))
    assert checks["recent_rollouts"]["verdict"] == "CRITICAL" and checks["unresolved"]["verdict"] == "CRITICAL"
    checks = by_id(oncall_handoff(dict(healthy(), alerts={}, k8s={"failed": True, "msg": "403"}), now=T))
    assert checks["firing_alerts"]["verdict"] == "UNKNOWN"
    assert checks["unresolved"]["verdict"] == "UNKNOWN" and "not known" in checks["unresolved"]["reason"]
    checks = by_id(oncall_handoff(dict(healthy(), incidents={"failed": True, "msg": "dir not readable"}), now=T))
    assert checks["incidents_week"]["verdict"] == "UNKNOWN"


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        oncall_handoff([], now=T)
    with pytest.raises(AnsibleFilterError, match="unknown thresholds"):
        oncall_handoff(healthy(), {"alerts": {"warning": 1}}, now=T)
    assert "alert_episodes" in FilterModule().filters()
