# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-call handoff page (seed 000 "On-Call Handoff"): firing alerts, the week's incidents, alert history,
audit events, recent rollouts and what is unresolved, as checks of the shared schema.

Incidents come from the timelines sark_incident_record writes (timeline.jsonl, one JSON entry a line); an incident
is resolved when its newest verify/recovery/post_incident entry has status ok, or a decision entry says it was
resolved or closed. Alert history comes from Prometheus' ALERTS series (a range query), split into episodes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import check_threshold, make_check, worst_verdict
from ansible_collections.sark.ops.plugins.filter.checks import as_time, check_known, limits, parse_time, unread

RB = "000 On-Call Handoff"
DEFAULTS = {
    "firing_alerts": {"warning": 1},
    "open_incidents": {"warning": 1},
    "alert_episodes": {"warning": 10, "critical": 50},
    "security_events": {"warning": 1, "critical": 50},
}
RESOLVED = re.compile(r"\b(resolved|closed)\b", re.IGNORECASE)
SEVERITY_RANK = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}


def parse_timeline(text, max_entries=10000):
    """The entries of one timeline.jsonl (blank and broken lines are counted, not fatal)."""
    entries, broken = [], 0
    for line in to_text(text or "").splitlines():
        if not line.strip():
            continue
        if len(entries) >= max_entries:
            break
        try:
            entry = json.loads(line)
        except ValueError:
            broken += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries, broken


def summarise_incident(entries, path=""):
    """{incident_id, severity, opened, last, entries, resolved, status, last_action, path} of one timeline."""
    entries = sorted(entries, key=lambda e: to_text(e.get("time")))
    severity = None
    for entry in entries:
        if entry.get("severity") in SEVERITY_RANK and (severity is None or SEVERITY_RANK[entry["severity"]] < SEVERITY_RANK[severity]):
            severity = entry["severity"]
    closing = [e for e in entries if e.get("phase") in ("verify", "recovery", "post_incident")]
    decided = [e for e in entries if e.get("kind") == "decision" and RESOLVED.search(to_text(e.get("action")))]
    resolved = bool(decided) or bool(closing and closing[-1].get("status") == "ok")
    last = entries[-1] if entries else {}
    return {"incident_id": next((e.get("incident_id") for e in entries if e.get("incident_id")), None),
            "severity": severity, "opened": entries[0].get("time") if entries else None, "last": last.get("time"),
            "entries": len(entries), "resolved": resolved, "status": last.get("status"),
            "last_action": to_text(last.get("action"))[:200], "path": path}


def incidents_of(slurped, now, days=7):
    """Filter: the incidents whose timeline has an entry in the last `days`, from slurped timeline.jsonl results."""
    moment = as_time(now)
    out = []
    for item in (slurped or {}).get("results") or []:
        if item.get("failed") or "content" not in item:
            continue
        text = base64.b64decode(item["content"]).decode("utf-8", "replace")
        entries, broken = parse_timeline(text)
        if not entries:
            continue
        summary = summarise_incident(entries, item.get("source") or item.get("item", {}).get("path", ""))
        summary["broken_lines"] = broken
        last = parse_time(summary["last"])
        if last is None or (moment - last).total_seconds() <= days * 86400:
            out.append(summary)
    return sorted(out, key=lambda s: to_text(s["opened"]))


def alert_episodes(result, step=60):
    """Filter: ALERTS{alertstate=firing} range data as episodes [{alertname, severity, start, end, minutes}]: a gap of
    more than two steps between samples ends an episode."""
    body = (result or {}).get("json") if isinstance(result, dict) and "json" in result else result
    out = []
    for series in ((body or {}).get("data") or {}).get("result") or []:
        metric = series.get("metric") or {}
        stamps = sorted(float(t) for t, v in series.get("values") or [] if to_text(v) not in ("0", "NaN"))
        start = prev = None
        for stamp in stamps + [None]:
            if start is not None and (stamp is None or stamp - prev > 2 * step):
                out.append({"alertname": metric.get("alertname"), "severity": metric.get("severity"),
                            "start": start, "end": prev, "minutes": round((prev - start) / 60.0 + step / 60.0, 1)})
                start = None
            if stamp is not None:
                if start is None:
                    start = stamp
                prev = stamp
    return sorted(out, key=lambda e: e["start"])


def check_firing(alerts, thresholds):
    title = "Firing alerts now"
    why = unread(alerts, "counts")
    if why:
        return make_check("firing_alerts", title, "UNKNOWN", reason=why, runbook=RB)
    firing = [dict(a, source="prometheus") for a in alerts.get("prometheus_alerts") or [] if a.get("state") == "firing"]
    firing += [dict(a, source="alertmanager") for a in alerts.get("alertmanager_alerts") or [] if a.get("state") == "active"]
    names = sorted(set(to_text(a.get("alertname")) for a in firing))
    warning, critical = limits(DEFAULTS, thresholds, "firing_alerts")
    check = check_threshold(len(names), id="firing_alerts", title=title, warning=warning, critical=critical, unit="alerts",
                            details={"alerts": [dict((k, a.get(k)) for k in ("alertname", "severity", "source", "state"))
                                                for a in firing][:20]}, runbook=RB)
    if any(a.get("severity") == "critical" for a in firing):
        check["verdict"] = "CRITICAL"
    check["reason"] = ("firing: %s" % ", ".join(names)) if names else "none firing"
    return check


def check_incidents(incidents, thresholds, days):
    title = "Incidents of the week"
    if not isinstance(incidents, list):
        return make_check("incidents_week", title, "UNKNOWN", reason=unread(incidents) or "no incident timelines read", runbook=RB + " 1")
    open_ = [i for i in incidents if not i["resolved"]]
    warning, critical = limits(DEFAULTS, thresholds, "open_incidents")
    check = check_threshold(len(open_), id="incidents_week", title=title, warning=warning, critical=critical,
                            unit="open incidents", details={"incidents": incidents[:50]}, runbook=RB + " 1")
    if any(i["severity"] in ("P0", "P1") for i in open_):
        check["verdict"] = "CRITICAL"
    check["reason"] = "%d incidents in %d days, %d open%s" % (len(incidents), days, len(open_), (": " + ", ".join(
        "%s (%s, last: %s)" % (i["incident_id"], i["severity"] or "no level", i["last_action"][:80]) for i in open_[:5])) if open_ else "")
    return check


def check_alert_history(result, thresholds, days, step=60):
    title = "Alert history (%d days)" % days
    why = unread(result, "json")
    if why:
        return make_check("alert_history", title, "UNKNOWN", reason=why, runbook=RB + " 1")
    if (result["json"] or {}).get("status") != "success":
        return make_check("alert_history", title, "UNKNOWN", reason="Prometheus answered %s" % (result["json"] or {}).get("error"),
                          runbook=RB + " 1")
    episodes = alert_episodes(result, step)
    per_alert = {}
    for episode in episodes:
        item = per_alert.setdefault(episode["alertname"], {"episodes": 0, "minutes": 0.0, "severity": episode["severity"]})
        item["episodes"] += 1
        item["minutes"] += episode["minutes"]
    warning, critical = limits(DEFAULTS, thresholds, "alert_episodes")
    check = check_threshold(len(episodes), id="alert_history", title=title, warning=warning, critical=critical, unit="episodes",
                            details={"alerts": per_alert, "episodes": episodes[-50:]}, runbook=RB + " 1")
    check["reason"] = ", ".join("%s %d times (%.0f min)" % (name, v["episodes"], v["minutes"])
                                for name, v in sorted(per_alert.items())) or "no alert fired"
    return check


def check_audit(audit, thresholds):
    title = "High-severity audit events (7 days)"
    why = unread(audit, "by_severity")
    if why:
        return make_check("audit_week", title, "UNKNOWN", reason=why, runbook=RB + " 1")
    counts = dict((to_text(k).lower(), v) for k, v in ((audit.get("by_severity") or {}).get("counts") or {}).items())
    figure = int(counts.get("high") or 0) + int(counts.get("critical") or 0)
    warning, critical = limits(DEFAULTS, thresholds, "security_events")
    check = check_threshold(figure, id="audit_week", title=title, warning=warning, critical=critical, unit="events",
                            details={"by_severity": counts}, runbook=RB + " 1")
    check["reason"] = "%s high, %s critical of %s events" % (counts.get("high", 0), counts.get("critical", 0),
                                                             (audit.get("by_severity") or {}).get("total"))
    return check


def check_rollouts(k8s, now, days):
    title = "Recent rollouts (%d days)" % days
    why = unread(k8s, "workloads")
    if why:
        return make_check("recent_rollouts", title, "UNKNOWN", reason=why, runbook=RB + " 7")
    moment = as_time(now)
    recent, stuck = [], []
    for workload in k8s.get("workloads") or []:
        progressing = (workload.get("conditions") or {}).get("Progressing") or {}
        if progressing.get("status") == "False" or progressing.get("reason") == "ProgressDeadlineExceeded":
            stuck.append(workload.get("name"))
        for rev in workload.get("revisions") or []:
            created = parse_time(rev.get("created"))
            if created and (moment - created).total_seconds() <= days * 86400:
                recent.append({"workload": workload.get("name"), "revision": rev.get("revision"), "images": rev.get("images"),
                               "change_cause": rev.get("change_cause"), "created": rev.get("created")})
    recent.sort(key=lambda r: to_text(r["created"]), reverse=True)
    reason = "%d rollouts: %s" % (len(recent), ", ".join(
        "%s rev %s (%s)" % (r["workload"], r["revision"], ", ".join(r["images"] or [])) for r in recent[:5])) if recent else "no rollout"
    if stuck:
        reason += "; stuck: %s" % ", ".join(stuck)
    return make_check("recent_rollouts", title, "CRITICAL" if stuck else "OK", len(recent), "rollouts",
                      "a stuck rollout is critical", reason, {"rollouts": recent[:20], "stuck": stuck}, RB + " 7")


def check_unresolved(checks):
    """What the next on-call inherits: firing alerts, open incidents, stuck rollouts."""
    by_id = dict((c["id"], c) for c in checks)
    items = []
    for alert in (by_id["firing_alerts"].get("details") or {}).get("alerts") or []:
        items.append("alert %s (%s, %s)" % (alert.get("alertname"), alert.get("severity"), alert.get("source")))
    for incident in (by_id["incidents_week"].get("details") or {}).get("incidents") or []:
        if not incident.get("resolved"):
            items.append("incident %s (%s)" % (incident.get("incident_id"), incident.get("severity") or "no level"))
    for name in (by_id["recent_rollouts"].get("details") or {}).get("stuck") or []:
        items.append("rollout of %s stuck" % name)
    sources = [by_id[i] for i in ("firing_alerts", "incidents_week", "recent_rollouts")]
    unknown = [c["title"] for c in sources if c["verdict"] == "UNKNOWN"]
    verdict = worst_verdict(c["verdict"] for c in sources if c["verdict"] != "UNKNOWN")
    if unknown and verdict == "OK":
        verdict = "UNKNOWN"
    reason = "; ".join(sorted(set(items), key=items.index)) or "nothing open"
    if unknown:
        reason += " (not known: %s)" % ", ".join(unknown)
    return make_check("unresolved", "Unresolved for the next on-call", verdict, len(set(items)), "items", "",
                      reason[:600], {"items": items}, RB + " 3")


def oncall_handoff(results, thresholds=None, now=None, days=7):
    """Filter: the handoff page's checks."""
    if not isinstance(results, dict):
        raise AnsibleFilterError("oncall_handoff takes a dict of registered results")
    check_known(DEFAULTS, thresholds)
    days = int(days)
    checks = [
        check_firing(results.get("alerts"), thresholds),
        check_incidents(results.get("incidents"), thresholds, days),
        check_alert_history(results.get("alert_history"), thresholds, days, float(results.get("alert_step") or 60)),
        check_audit(results.get("audit"), thresholds),
        check_rollouts(results.get("k8s"), now, days),
    ]
    return checks + [check_unresolved(checks)]


class FilterModule(object):
    """sark.ops on-call handoff filters."""

    def filters(self):
        return {"oncall_handoff": oncall_handoff, "oncall_incidents": incidents_of, "alert_episodes": alert_episodes}
