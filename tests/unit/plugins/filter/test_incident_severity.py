"""incident_severity against every row of seed 002's tables (and seed 001's escalation levels).

The expected values are typed in from the seed text (line numbers given), not read from the plugin's tables."""

import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.incident_severity import FilterModule, classify

T0 = "2025-11-22T10:05:00Z"
NOW = "2025-11-22T10:06:00Z"


def at(minutes):
    moment = datetime.datetime(2025, 11, 22, 10, 5, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# seed 002 L65-68, L95-98, L123-126, L149-152: detection->ack, ack->mitigation, mitigation->resolution
RESPONSE_TIMES = [("P0", 5, 30, 4 * 60), ("P1", 15, 2 * 60, 8 * 60), ("P2", 60, 8 * 60, 24 * 60), ("P3", 4 * 60, 48 * 60, 7 * 24 * 60)]


@pytest.mark.parametrize("level, ack, mitigate, resolve", RESPONSE_TIMES)
def test_response_time_targets(level, ack, mitigate, resolve):
    result = classify({"severity": level, "detected_at": T0}, now=NOW)
    assert result["severity"] == level and result["source"] == "declared"
    assert result["targets_minutes"]["acknowledge"] == ack
    assert result["due"]["acknowledge"] == at(ack)
    # nothing acknowledged yet: mitigation is due its target after the acknowledgement was due, resolution after that
    assert result["due"]["mitigate"] == at(ack + mitigate)
    assert result["due"]["resolve"] == at(ack + mitigate + resolve)


def test_due_times_chain_from_the_real_moments():
    result = classify({"severity": "P0", "detected_at": T0, "acknowledged_at": at(2), "mitigated_at": at(20)}, now=at(21))
    assert result["due"]["mitigate"] == at(2 + 30)
    assert result["due"]["resolve"] == at(20 + 240)
    assert result["overdue"] == {"acknowledge": False, "mitigate": False, "resolve": False, "next_update": False, "escalate": True}
    late = classify({"severity": "P0", "detected_at": T0, "acknowledged_at": at(7)}, now=at(8))
    assert late["overdue"]["acknowledge"] is True  # acknowledged 7 minutes after detection: target 5
    waiting = classify({"severity": "P1", "detected_at": T0}, now=at(16))
    assert waiting["overdue"]["acknowledge"] is True and waiting["overdue"]["mitigate"] is False


# seed 002 L1103-1107 On-Call Expectations: the same acknowledgement times
@pytest.mark.parametrize("level, minutes", [("P0", 5), ("P1", 15), ("P2", 60), ("P3", 240)])
def test_on_call_response_times(level, minutes):
    assert classify({"severity": level, "detected_at": T0}, now=NOW)["targets_minutes"]["acknowledge"] == minutes


# seed 002 L54, L84, L112, L139 and L56, L86, L114, L141
@pytest.mark.parametrize("level, sev, name, definition", [
    ("P0", "SEV-1", "Critical", "Complete service outage or security breach"),
    ("P1", "SEV-2", "High", "Major service degradation affecting multiple users"),
    ("P2", "SEV-3", "Medium", "Minor service degradation affecting some users"),
    ("P3", "SEV-4", "Low", "Minor issue with workaround available"),
])
def test_definitions(level, sev, name, definition):
    result = classify({"severity": level}, now=NOW)
    assert (result["sev"], result["name"], result["definition"]) == (sev, name, definition)
    assert classify({"severity": sev}, now=NOW)["severity"] == level


# seed 002 L58-63, L88-93, L116-121, L143-147: every example
@pytest.mark.parametrize("facts, level", [
    ({"type": "api_down"}, "P0"), ({"service_down": True}, "P0"),
    ({"type": "data_corruption"}, "P0"), ({"data_loss": True}, "P0"),
    ({"type": "security_breach"}, "P0"), ({"data_exfiltration": True}, "P0"),
    ({"type": "auth_broken"}, "P0"), ({"auth_broken": True}, "P0"),
    ({"type": "credentials_compromised"}, "P0"), ({"credentials_compromised": True}, "P0"),
    ({"type": "latency_5x"}, "P1"), ({"latency_ratio": 5.5}, "P1"),
    ({"type": "auth_delays"}, "P1"), ({"auth_affected_ratio": 0.51}, "P1"),
    ({"type": "siem_down"}, "P1"), ({"siem_down": True}, "P1"),
    ({"type": "policy_failure"}, "P1"), ({"critical_policy_failures": True}, "P1"),
    ({"type": "partial_database_outage"}, "P1"), ({"partial_database_outage": True}, "P1"),
    ({"type": "endpoint_errors"}, "P2"), ({"error_rate": 0.04}, "P2"),
    ({"type": "latency_2x"}, "P2"), ({"latency_ratio": 2}, "P2"),
    ({"type": "server_registration_failure"}, "P2"), ({"single_server_registration_failure": True}, "P2"),
    ({"type": "rate_limiting_aggressive"}, "P2"), ({"rate_limiting_aggressive": True}, "P2"),
    ({"type": "monitoring_gap"}, "P2"), ({"monitoring_gap": True}, "P2"),
    ({"type": "documentation_error"}, "P3"), ({"type": "cosmetic_ui"}, "P3"),
    ({"type": "logging_issue"}, "P3"), ({"type": "performance_tuning"}, "P3"), ({"workaround_available": True}, "P3"),
    # the playbooks' own levels (seed 002 L503, L570, L735, L831, L906)
    ({"type": "database_outage"}, "P0"), ({"type": "security_incident"}, "P0"), ({"type": "high_latency"}, "P1"),
    ({"type": "auth_failure"}, "P1"), ({"type": "auth_failure", "auth_broken": True}, "P0"),
])
def test_examples(facts, level):
    result = classify(dict(facts, detected_at=T0), now=NOW)
    assert result["severity"] == level and result["source"] == "derived"
    assert result["reasons"]


def test_thresholds_at_their_edges():
    assert "severity" not in [r["rule"] for r in classify({"latency_ratio": 4.9, "type": "cosmetic_ui"}, now=NOW)["reasons"]]
    assert classify({"latency_ratio": 4.9}, now=NOW)["severity"] == "P2"
    assert classify({"latency_ratio": 5}, now=NOW)["severity"] == "P1"
    with pytest.raises(AnsibleFilterError, match="no fact gives a severity"):
        classify({"latency_ratio": 1.9}, now=NOW)
    with pytest.raises(AnsibleFilterError, match="no fact gives a severity"):
        classify({"auth_affected_ratio": 0.5}, now=NOW)
    with pytest.raises(AnsibleFilterError, match="no fact gives a severity"):
        classify({"error_rate": 0.05}, now=NOW)


def test_most_severe_rule_wins_and_all_reasons_are_listed():
    result = classify({"type": "latency_2x", "siem_down": True, "impact": "single_user", "duration_minutes": 3}, now=NOW)
    assert result["severity"] == "P1"
    assert sorted(r["level"] for r in result["reasons"]) == ["P1", "P2", "P3"]
    declared = classify({"severity": "P3", "service_down": True}, now=NOW)
    assert declared["severity"] == "P3" and declared["source"] == "declared"  # the responder's word stands, the rest is listed
    assert [r["level"] for r in declared["reasons"]] == ["P3", "P0"]


# seed 002 L1216-1221: all 16 cells; durations on both sides of each row boundary
MATRIX = {
    "< 5 minutes": ((0, 4.9), ("P3", "P3", "P2", "P1")),
    "5-30 minutes": ((5, 29), ("P3", "P2", "P1", "P0")),
    "30 min - 2 hours": ((30, 120), ("P2", "P1", "P0", "P0")),
    "> 2 hours": ((121, 10000), ("P1", "P0", "P0", "P0")),
}
IMPACT_COLUMNS = ("none", "single_user", "multiple_users", "all_users")


@pytest.mark.parametrize("row", sorted(MATRIX))
@pytest.mark.parametrize("column", range(4))
def test_severity_matrix(row, column):
    durations, levels = MATRIX[row]
    for minutes in durations:
        result = classify({"impact": IMPACT_COLUMNS[column], "duration_minutes": minutes}, now=NOW)
        assert result["severity"] == levels[column], (row, IMPACT_COLUMNS[column], minutes)
        assert row in result["reasons"][0]["reason"]


# seed 002 L470-475
@pytest.mark.parametrize("level, first, after_minutes, after_text, to", [
    ("P0", "On-Call SRE", 0, "Immediate", ["Engineering Manager", "VP Eng"]),
    ("P1", "On-Call SRE", 120, "2 hours", ["Engineering Manager"]),
    ("P2", "On-Call SRE", 480, "8 hours", ["Engineering Manager"]),
    ("P3", "Developer", 2880, "48 hours", ["Team Lead"]),
])
def test_escalation_matrix(level, first, after_minutes, after_text, to):
    escalation = classify({"severity": level, "detected_at": T0}, now=NOW)["escalation"]
    assert escalation["first_contact"] == first and escalation["escalate_after"] == after_text
    assert escalation["escalate_to"] == to and escalation["due"] == at(after_minutes)


# seed 002 L492-497 (and L71, L101: P0 every 30 minutes, P1 every hour)
@pytest.mark.parametrize("level, minutes, text", [("P0", 30, "Every 30 minutes"), ("P1", 60, "Every hour"),
                                                  ("P2", 240, "Every 4 hours")])
def test_update_cadence(level, minutes, text):
    result = classify({"severity": level, "detected_at": T0}, now=NOW)
    assert result["update_cadence"] == text and result["due"]["next_update"] == at(minutes)
    after_update = classify({"severity": level, "detected_at": T0, "last_update_at": at(10)}, now=at(11))
    assert after_update["due"]["next_update"] == at(10 + minutes)


def test_update_cadence_p3_at_shift_change():
    result = classify({"severity": "P3", "detected_at": T0}, now=NOW)
    assert result["update_cadence"] == "At shift change" and result["due"]["next_update"] is None
    assert "shift_change_times" in result["next_update_rule"]
    shifts = classify({"severity": "P3", "detected_at": T0}, now=NOW, shift_change_times=["08:00", "20:00"])
    assert shifts["due"]["next_update"] == "2025-11-22T20:00:00Z"
    night = classify({"severity": "P3", "detected_at": "2025-11-22T21:00:00Z"}, now="2025-11-22T21:01:00Z",
                     shift_change_times=["08:00", "20:00"])
    assert night["due"]["next_update"] == "2025-11-23T08:00:00Z"
    with pytest.raises(AnsibleFilterError, match="HH:MM"):
        classify({"severity": "P3"}, now=NOW, shift_change_times=["8pm"])


# seed 002 L70-80, L100-108, L128-135, L154-160
def test_communication_and_team():
    p0 = classify({"severity": "P0", "detected_at": T0}, now=NOW)
    assert p0["communication"]["executive_notification"] is True and p0["due"]["stakeholder_notification"] == at(0)
    assert p0["team"] == ["Incident Commander (IC)", "Tech Lead", "SRE On-Call", "Communications Lead"]
    security = classify({"security_breach": True, "detected_at": T0}, now=NOW)
    assert security["team"] == ["Incident Commander (IC)", "Tech Lead", "SRE On-Call", "Security Team", "Communications Lead"]
    p1 = classify({"severity": "P1", "detected_at": T0}, now=NOW)
    assert p1["due"]["stakeholder_notification"] == at(15) and p1["communication"]["manager_notification"] is True
    assert p1["communication"]["executive_notification"] is False and p1["communication"]["pagerduty"] is True
    p2 = classify({"severity": "P2", "detected_at": T0}, now=NOW)
    assert p2["due"]["stakeholder_notification"] is None and p2["due"]["manager_notification"] == at(24 * 60)
    assert p2["team"] == ["SRE On-Call", "Developer (if code change needed)"] and p2["communication"]["war_room"] is False
    p3 = classify({"severity": "P3", "detected_at": T0}, now=NOW)
    assert p3["communication"]["notify"] == "ticket" and p3["due"]["manager_notification"] is None
    assert p3["team"] == ["Developer", "Documentation team (if applicable)"]


# seed 001 L215-240
def test_seed_001_escalation_levels():
    fresh = classify({"severity": "P1", "detected_at": T0}, now=at(10))["escalation"]
    assert fresh["level"] == 1 and fresh["level_name"] == "On-Call Engineer"
    old = classify({"severity": "P1", "detected_at": T0}, now=at(31))["escalation"]
    assert old["level"] == 2 and old["level_reasons"] == ["Incident not resolved in 30 minutes"]
    assert classify({"severity": "P1", "detected_at": T0, "resolved_at": at(29)}, now=at(60))["escalation"]["level"] == 1
    for flag in ("data_loss_suspected", "security_breach_confirmed"):
        assert classify({"severity": "P2", flag: True}, now=NOW)["escalation"]["level"] == 2
    for flag in ("sensitive_data_exposed", "regulatory_affected", "media_involved"):
        result = classify({"severity": "P2", flag: True}, now=NOW)["escalation"]
        assert result["level"] == 3 and result["level_name"] == "Management + Security"
    assert classify({"severity": "P0", "detected_at": T0}, now=NOW)["due"]["senior_sre_escalation"] == at(30)


def test_bad_input_names_what_to_fix():
    cases = [({"severity": "P5"}, "not a level"), ({"type": "meteor"}, "known types"), ({"impact": "all_users"}, "both impact"),
             ({"impact": "everyone", "duration_minutes": 3}, "impact="), ({"severity": "P1", "detected_at": "yesterday"}, "ISO 8601"),
             ({"severity": "P1", "detected_at": T0, "acknowledged_at": "2025-11-22T10:00:00Z"}, "out of order"),
             ({"severity": "P1", "colour": "red"}, "unknown fact"), ({"latency_ratio": "fast"}, "must be a number"),
             ({"error_rate": 3}, "fraction"), ({}, "no fact gives")]
    for facts, message in cases:
        with pytest.raises(AnsibleFilterError, match=message):
            classify(facts, now=NOW)
    with pytest.raises(AnsibleFilterError, match="expects a dict"):
        classify("P0")


def test_naive_times_are_utc_and_the_filter_is_registered():
    result = FilterModule().filters()["incident_severity"]({"severity": "P0", "detected_at": "2025-11-22T10:05:00"}, now=NOW)
    assert result["detected_at"] == T0 and result["label"] == "P0 (Critical)"
