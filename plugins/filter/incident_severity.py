# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_severity: seed 002's incident classification (P0-P3) and the due times that follow from it.

Every number and name below is copied from seed 002 (Incident Classification L50-162, Escalation Matrix L468-475,
Communication Cadence L490-497, On-Call Expectations L1101-1107, Incident Severity Matrix L1214-1221) and seed 001
(Escalation Procedures L215-240). The tables are data; classify() only combines them.
"""

import datetime
import re

from ansible.errors import AnsibleFilterError

LEVELS = ("P0", "P1", "P2", "P3")
MINUTE = 1
HOUR = 60
DAY = 24 * HOUR
WEEK = 7 * DAY

# seed 002 L54-162: definition, SEV name, response time targets (minutes), communication, team
SEVERITY_LEVELS = {
    "P0": {"name": "Critical", "sev": "SEV-1", "definition": "Complete service outage or security breach",
           "acknowledge_minutes": 5 * MINUTE, "mitigate_minutes": 30 * MINUTE, "resolve_minutes": 4 * HOUR,
           "communication": ["Immediate notification to all stakeholders", "Status updates every 30 minutes",
                             "Executive notification required"],
           "stakeholder_notification_minutes": 0, "notify": "all stakeholders", "executive_notification": True,
           "manager_notification": True, "manager_notification_minutes": 0,
           "team": ["Incident Commander (IC)", "Tech Lead", "SRE On-Call", "Communications Lead"],
           "security_team": "Security Team (if security-related)"},
    "P1": {"name": "High", "sev": "SEV-2", "definition": "Major service degradation affecting multiple users",
           "acknowledge_minutes": 15 * MINUTE, "mitigate_minutes": 2 * HOUR, "resolve_minutes": 8 * HOUR,
           "communication": ["Notification to stakeholders within 15 minutes", "Status updates every hour",
                             "Manager notification required"],
           "stakeholder_notification_minutes": 15, "notify": "stakeholders", "executive_notification": False,
           "manager_notification": True, "manager_notification_minutes": 0,
           "team": ["Incident Commander (IC)", "SRE On-Call", "Tech Lead (if needed)"], "security_team": None},
    "P2": {"name": "Medium", "sev": "SEV-3", "definition": "Minor service degradation affecting some users",
           "acknowledge_minutes": 1 * HOUR, "mitigate_minutes": 8 * HOUR, "resolve_minutes": 24 * HOUR,
           "communication": ["Notification to team", "Status updates at shift changes",
                             "Manager notification if not resolved in 24h"],
           "stakeholder_notification_minutes": None, "notify": "team", "executive_notification": False,
           "manager_notification": False, "manager_notification_minutes": 24 * HOUR,
           "team": ["SRE On-Call", "Developer (if code change needed)"], "security_team": None},
    "P3": {"name": "Low", "sev": "SEV-4", "definition": "Minor issue with workaround available",
           "acknowledge_minutes": 4 * HOUR, "mitigate_minutes": 48 * HOUR, "resolve_minutes": 1 * WEEK,
           "communication": ["Ticket created in tracking system", "No immediate notification required"],
           "stakeholder_notification_minutes": None, "notify": "ticket", "executive_notification": False,
           "manager_notification": False, "manager_notification_minutes": None,
           "team": ["Developer", "Documentation team (if applicable)"], "security_team": None},
}

# seed 002 L58-147: the examples of each level, by the incident type a playbook passes as `type`
SEVERITY_EXAMPLES = {
    "api_down": ("P0", "SARK API completely down"),
    "data_corruption": ("P0", "Database corruption or data loss"),
    "data_loss": ("P0", "Database corruption or data loss"),
    "security_breach": ("P0", "Security breach with data exfiltration"),
    "auth_broken": ("P0", "Authentication completely broken"),
    "credentials_compromised": ("P0", "Production credentials compromised"),
    "database_outage": ("P0", "Playbook 4: Database Outage (P0)"),
    "security_incident": ("P0", "Playbook 6: Security Incident (P0)"),
    "latency_5x": ("P1", "API response time degraded (>5x normal)"),
    "high_latency": ("P1", "Playbook 2: High Latency (P1)"),
    "auth_delays": ("P1", "Authentication delays affecting >50% of users"),
    "auth_failure": ("P1", "Playbook 3: Authentication Failures (P0/P1): P1 unless authentication is completely broken"),
    "siem_down": ("P1", "SIEM integration down (no audit logs)"),
    "audit_gap": ("P1", "SIEM integration down (no audit logs): audit events not recording"),
    "policy_failure": ("P1", "Policy evaluation failures affecting critical operations"),
    "partial_database_outage": ("P1", "Partial database outage"),
    "endpoint_errors": ("P2", "Non-critical endpoint errors (<5% error rate)"),
    "latency_2x": ("P2", "Performance degradation (2x normal latency)"),
    "server_registration_failure": ("P2", "Single server registration failures"),
    "rate_limiting_aggressive": ("P2", "Rate limiting too aggressive"),
    "monitoring_gap": ("P2", "Monitoring gaps"),
    "documentation_error": ("P3", "Documentation errors"),
    "cosmetic_ui": ("P3", "Cosmetic UI issues"),
    "logging_issue": ("P3", "Non-critical logging issues"),
    "performance_tuning": ("P3", "Performance tuning needed but not urgent"),
}

# seed 002 L1214-1221: rows = duration, columns = impact
IMPACTS = ("none", "single_user", "multiple_users", "all_users")
DURATION_ROWS = (
    ("< 5 minutes", lambda m: m < 5, ("P3", "P3", "P2", "P1")),
    ("5-30 minutes", lambda m: 5 <= m < 30, ("P3", "P2", "P1", "P0")),
    ("30 min - 2 hours", lambda m: 30 <= m <= 120, ("P2", "P1", "P0", "P0")),
    ("> 2 hours", lambda m: m > 120, ("P1", "P0", "P0", "P0")),
)

# seed 002 L470-475
ESCALATION_MATRIX = {
    "P0": {"first_contact": "On-Call SRE", "escalate_after_minutes": 0, "escalate_after": "Immediate",
           "escalate_to": ["Engineering Manager", "VP Eng"]},
    "P1": {"first_contact": "On-Call SRE", "escalate_after_minutes": 2 * HOUR, "escalate_after": "2 hours",
           "escalate_to": ["Engineering Manager"]},
    "P2": {"first_contact": "On-Call SRE", "escalate_after_minutes": 8 * HOUR, "escalate_after": "8 hours",
           "escalate_to": ["Engineering Manager"]},
    "P3": {"first_contact": "Developer", "escalate_after_minutes": 48 * HOUR, "escalate_after": "48 hours",
           "escalate_to": ["Team Lead"]},
}

# seed 002 L492-497 (None: at shift change)
UPDATE_CADENCE = {
    "P0": {"every_minutes": 30, "text": "Every 30 minutes"},
    "P1": {"every_minutes": 60, "text": "Every hour"},
    "P2": {"every_minutes": 4 * HOUR, "text": "Every 4 hours"},
    "P3": {"every_minutes": None, "text": "At shift change"},
}

# seed 002 L478-488: which channels each level uses
CHANNELS = {
    "P0": ["Slack #incidents", "PagerDuty", "Email (stakeholder updates)", "Zoom/Meet war room", "Status page"],
    "P1": ["Slack #incidents", "PagerDuty", "Email (stakeholder updates)", "Zoom/Meet war room", "Status page"],
    "P2": ["Slack #incidents"],
    "P3": ["Slack #incidents", "Ticket"],
}

# seed 001 L215-240: escalation levels and their triggers
LEVEL2_UNRESOLVED_MINUTES = 30
LEVEL2_TRIGGERS = {"data_loss_suspected": "Data loss suspected", "security_breach_confirmed": "Security breach confirmed"}
LEVEL3_TRIGGERS = {"sensitive_data_exposed": "Sensitive data exposed",
                   "regulatory_affected": "Regulatory requirements affected",
                   "media_involved": "Media/PR involvement"}
ESCALATION_LEVELS = {1: "On-Call Engineer", 2: "Senior SRE", 3: "Management + Security"}

# boolean facts that make an incident P0 by themselves (seed 002 L56-63)
P0_FLAGS = {"service_down": "SARK API completely down", "data_loss": "Database corruption or data loss",
            "data_corruption": "Database corruption or data loss",
            "data_exfiltration": "Security breach with data exfiltration",
            "security_breach": "Complete service outage or security breach",
            "auth_broken": "Authentication completely broken",
            "credentials_compromised": "Production credentials compromised"}
P1_FLAGS = {"siem_down": "SIEM integration down (no audit logs)", "partial_database_outage": "Partial database outage",
            "critical_policy_failures": "Policy evaluation failures affecting critical operations"}
P2_FLAGS = {"single_server_registration_failure": "Single server registration failures",
            "rate_limiting_aggressive": "Rate limiting too aggressive", "monitoring_gap": "Monitoring gaps"}
P3_FLAGS = {"workaround_available": "Minor issue with workaround available"}

ALIASES = {"SEV-1": "P0", "SEV-2": "P1", "SEV-3": "P2", "SEV-4": "P3", "SEV1": "P0", "SEV2": "P1", "SEV3": "P2", "SEV4": "P3",
           "CRITICAL": "P0", "HIGH": "P1", "MEDIUM": "P2", "LOW": "P3"}
KNOWN_FACTS = ({"severity", "type", "impact", "duration_minutes", "latency_ratio", "error_rate", "auth_affected_ratio",
                "security_related", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at", "last_update_at",
                "unresolved_minutes", "title", "incident_id"}
               | set(P0_FLAGS) | set(P1_FLAGS) | set(P2_FLAGS) | set(P3_FLAGS) | set(LEVEL2_TRIGGERS) | set(LEVEL3_TRIGGERS))


def _utc(value, name):
    """A timezone-aware UTC datetime from an ISO 8601 string or a datetime; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise AnsibleFilterError("incident_severity: %s=%r is not an ISO 8601 time (e.g. 2025-11-22T10:05:00Z)" % (name, value))
    else:
        raise AnsibleFilterError("incident_severity: %s must be an ISO 8601 string, got %s" % (name, type(value).__name__))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _level(value, name="severity"):
    text = str(value).strip().upper()
    text = ALIASES.get(text, text)
    if text not in LEVELS:
        raise AnsibleFilterError("incident_severity: %s=%r is not a level: use P0, P1, P2, P3 (or SEV-1..SEV-4)" % (name, value))
    return text


def _number(facts, name):
    value = facts.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AnsibleFilterError("incident_severity: %s must be a number, got a boolean" % name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("incident_severity: %s must be a number, got %r" % (name, value))
    if number < 0:
        raise AnsibleFilterError("incident_severity: %s must not be negative, got %s" % (name, value))
    return number


def matrix_level(impact, duration_minutes):
    """seed 002's Incident Severity Matrix: (level, row label) for an impact and a duration in minutes."""
    if impact not in IMPACTS:
        raise AnsibleFilterError("incident_severity: impact=%r: use one of %s" % (impact, ", ".join(IMPACTS)))
    column = IMPACTS.index(impact)
    for label, test, levels in DURATION_ROWS:
        if test(duration_minutes):
            return levels[column], label
    raise AnsibleFilterError("incident_severity: duration_minutes=%r fits no row" % duration_minutes)  # pragma: no cover


def derive(facts):
    """Every rule that applies to the facts: a list of {level, rule, reason}. The most severe wins."""
    reasons = []
    for level, flags in (("P0", P0_FLAGS), ("P1", P1_FLAGS), ("P2", P2_FLAGS), ("P3", P3_FLAGS)):
        for flag, text in flags.items():
            if facts.get(flag) is True:
                reasons.append({"level": level, "rule": flag, "reason": "%s (seed 002 %s example)" % (text, level)})
    kind = facts.get("type")
    if kind not in (None, ""):
        if kind not in SEVERITY_EXAMPLES:
            raise AnsibleFilterError("incident_severity: type=%r is not known; known types: %s" % (kind, ", ".join(sorted(SEVERITY_EXAMPLES))))
        level, text = SEVERITY_EXAMPLES[kind]
        reasons.append({"level": level, "rule": "type", "reason": "%s: %s" % (kind, text)})
    ratio = _number(facts, "latency_ratio")
    if ratio is not None:
        # seed 002 L89 says ">5x normal", Playbook 2 (P1) says ">1 second (5x normal)": 5x itself is P1
        if ratio >= 5:
            reasons.append({"level": "P1", "rule": "latency_ratio", "reason": "API response time %.1fx normal (5x: P1)" % ratio})
        elif ratio >= 2:
            reasons.append({"level": "P2", "rule": "latency_ratio", "reason": "latency %.1fx normal (2x: P2)" % ratio})
    affected = _number(facts, "auth_affected_ratio")
    if affected is not None:
        if affected > 1:
            raise AnsibleFilterError("incident_severity: auth_affected_ratio is a fraction of users (0-1), got %s" % affected)
        if affected > 0.5:
            reasons.append({"level": "P1", "rule": "auth_affected_ratio",
                            "reason": "authentication delays affect %.0f%% of users (>50%%: P1)" % (affected * 100)})
    error_rate = _number(facts, "error_rate")
    if error_rate is not None:
        if error_rate > 1:
            raise AnsibleFilterError("incident_severity: error_rate is a fraction (0-1), got %s" % error_rate)
        if 0 < error_rate < 0.05:
            reasons.append({"level": "P2", "rule": "error_rate",
                            "reason": "endpoint errors at %.2f%% (<5%% error rate: P2)" % (error_rate * 100)})
    impact = facts.get("impact")
    duration = _number(facts, "duration_minutes")
    if impact not in (None, "") or duration is not None:
        if impact in (None, "") or duration is None:
            raise AnsibleFilterError("incident_severity: the severity matrix needs both impact and duration_minutes")
        level, row = matrix_level(impact, duration)
        reasons.append({"level": level, "rule": "matrix",
                        "reason": "severity matrix: impact %s, duration %s -> %s" % (impact, row, level)})
    return reasons


def _shift_change_after(moment, times):
    """The first shift change (HH:MM UTC, daily) strictly after moment."""
    candidates = []
    for text in times:
        match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", str(text).strip())
        if not match:
            raise AnsibleFilterError("incident_severity: shift_change_times entries are HH:MM (UTC), got %r" % (text,))
        for days in (0, 1):
            day = moment + datetime.timedelta(days=days)
            candidate = day.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)
            if candidate > moment:
                candidates.append(candidate)
    return min(candidates) if candidates else None


def _add(moment, minutes):
    return moment + datetime.timedelta(minutes=minutes) if moment is not None and minutes is not None else None


def classify(facts, now=None, shift_change_times=None):
    """An incident's facts -> its level, the reasons, and every due time (see plugins/filter/incident_severity.yml)."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError("incident_severity: expects a dict of incident facts, got %s" % type(facts).__name__)
    unknown = sorted(k for k in facts if k not in KNOWN_FACTS)
    if unknown:
        raise AnsibleFilterError("incident_severity: unknown fact(s) %s; known facts: %s" % (", ".join(unknown), ", ".join(sorted(KNOWN_FACTS))))
    now = _utc(now, "now") or datetime.datetime.now(datetime.timezone.utc)
    reasons = derive(facts)
    if facts.get("severity") not in (None, ""):
        level = _level(facts["severity"])
        source = "declared"
        reasons.insert(0, {"level": level, "rule": "severity", "reason": "declared by the responder"})
    elif reasons:
        level = min((r["level"] for r in reasons), key=LEVELS.index)
        source = "derived"
    else:
        raise AnsibleFilterError("incident_severity: no fact gives a severity: set severity, type, impact + duration_minutes, "
                                 "or one of %s" % ", ".join(sorted(set(P0_FLAGS) | set(P1_FLAGS) | set(P2_FLAGS))))
    spec = SEVERITY_LEVELS[level]
    detected = _utc(facts.get("detected_at"), "detected_at") or now
    acknowledged = _utc(facts.get("acknowledged_at"), "acknowledged_at")
    mitigated = _utc(facts.get("mitigated_at"), "mitigated_at")
    resolved = _utc(facts.get("resolved_at"), "resolved_at")
    last_update = _utc(facts.get("last_update_at"), "last_update_at")
    for earlier, later, names in ((detected, acknowledged, "detected_at/acknowledged_at"), (acknowledged, mitigated, "acknowledged_at/mitigated_at"),
                                  (mitigated, resolved, "mitigated_at/resolved_at")):
        if earlier and later and later < earlier:
            raise AnsibleFilterError("incident_severity: %s are out of order" % names)

    # the response-time targets chain: each phase's clock starts when the previous one ended (or was due)
    ack_due = _add(detected, spec["acknowledge_minutes"])
    mitigate_due = _add(acknowledged or ack_due, spec["mitigate_minutes"])
    resolve_due = _add(mitigated or mitigate_due, spec["resolve_minutes"])
    cadence = UPDATE_CADENCE[level]
    update_from = last_update or acknowledged or detected
    if cadence["every_minutes"] is not None:
        next_update = _add(update_from, cadence["every_minutes"])
        next_update_rule = "%s after %s" % (cadence["text"].lower(), "the last update" if last_update else
                                            ("acknowledgement" if acknowledged else "detection"))
    elif shift_change_times:
        next_update = _shift_change_after(update_from, shift_change_times)
        next_update_rule = "at the next shift change (%s UTC)" % ", ".join(str(t) for t in shift_change_times)
    else:
        next_update = None
        next_update_rule = "at shift change: pass shift_change_times to get a time"
    matrix = ESCALATION_MATRIX[level]
    escalate_due = _add(detected, matrix["escalate_after_minutes"])
    stakeholder_due = _add(detected, spec["stakeholder_notification_minutes"])
    manager_due = _add(detected, spec["manager_notification_minutes"])

    # seed 001's escalation levels
    escalation_level, level_reasons = 1, []
    unresolved = _number(facts, "unresolved_minutes")
    if unresolved is None and not resolved:
        unresolved = max(0.0, (now - detected).total_seconds() / 60.0)
    if unresolved is not None and unresolved > LEVEL2_UNRESOLVED_MINUTES and not resolved:
        escalation_level = 2
        level_reasons.append("Incident not resolved in 30 minutes")
    for flag, text in LEVEL2_TRIGGERS.items():
        if facts.get(flag) is True:
            escalation_level = max(escalation_level, 2)
            level_reasons.append(text)
    for flag, text in LEVEL3_TRIGGERS.items():
        if facts.get(flag) is True:
            escalation_level = 3
            level_reasons.append(text)

    team = list(spec["team"])
    security_flags = ("security_breach", "data_exfiltration", "credentials_compromised", "security_breach_confirmed")
    security = bool(facts.get("security_related")) or any(facts.get(f) is True for f in security_flags)
    if security and spec["security_team"]:
        team.insert(3, spec["security_team"].split(" (")[0])
    due = {"acknowledge": _iso(ack_due), "mitigate": _iso(mitigate_due), "resolve": _iso(resolve_due),
           "next_update": _iso(next_update), "escalate": _iso(escalate_due),
           "stakeholder_notification": _iso(stakeholder_due), "manager_notification": _iso(manager_due),
           "senior_sre_escalation": _iso(_add(detected, LEVEL2_UNRESOLVED_MINUTES))}
    done = {"acknowledge": acknowledged, "mitigate": mitigated, "resolve": resolved}
    deadlines = {"acknowledge": ack_due, "mitigate": mitigate_due, "resolve": resolve_due, "next_update": next_update,
                 "escalate": escalate_due}
    overdue = {}
    for name, deadline in deadlines.items():
        finished = done.get(name)
        overdue[name] = bool(deadline is not None and finished is None and now > deadline) or bool(
            finished is not None and deadline is not None and finished > deadline)
    if resolved:
        overdue["next_update"] = False
    return {
        "severity": level, "sev": spec["sev"], "name": spec["name"], "label": "%s (%s)" % (level, spec["name"]),
        "definition": spec["definition"], "source": source, "reasons": reasons,
        "targets_minutes": {"acknowledge": spec["acknowledge_minutes"], "mitigate": spec["mitigate_minutes"],
                            "resolve": spec["resolve_minutes"], "update_every": cadence["every_minutes"],
                            "escalate_after": matrix["escalate_after_minutes"]},
        "detected_at": _iso(detected), "evaluated_at": _iso(now), "due": due, "overdue": overdue,
        "next_update_rule": next_update_rule, "update_cadence": cadence["text"],
        "communication": {"notes": list(spec["communication"]), "notify": spec["notify"],
                          "executive_notification": spec["executive_notification"],
                          "manager_notification": spec["manager_notification"], "channels": list(CHANNELS[level]),
                          "pagerduty": level in ("P0", "P1"), "war_room": level in ("P0", "P1")},
        "escalation": {"first_contact": matrix["first_contact"], "escalate_after": matrix["escalate_after"],
                       "escalate_to": list(matrix["escalate_to"]), "due": _iso(escalate_due),
                       "level": escalation_level, "level_name": ESCALATION_LEVELS[escalation_level],
                       "level_reasons": level_reasons},
        "team": team, "roles": ["Incident Commander (IC)", "Tech Lead", "Communications Lead", "Scribe"]
        if level in ("P0", "P1") else ["Single responder (on-call engineer)"],
    }


def incident_severity(facts, now=None, shift_change_times=None):
    return classify(facts, now=now, shift_change_times=shift_change_times)


class FilterModule:
    def filters(self):
        return {"incident_severity": incident_severity}
