# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdicts of SARK's weekly checklist (seed 000 "Weekly Tasks") and the week-over-week trend maths.

One function per check turns what the role read (Prometheus range queries, the Kubernetes API, the pods' logs,
the restore test of sark_dr_drill, sark_audit_info) into a check of the shared schema (plugins/filter/checks.py).
A source that is missing, skipped or failed is UNKNOWN with the reason, never a silent pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import (
    as_time,
    check_known,
    check_threshold,
    limits,
    make_check,
    prom_series,
    unread,
    worst_verdict,
)

RB = "000 Weekly Tasks"
WEEK = 7 * 86400
DEFAULTS = {
    # growth of this week's mean over last week's, in percent
    "error_rate_change_percent": {"warning": 50, "critical": 200},
    "latency_change_percent": {"warning": 25, "critical": 100},
    "resource_change_percent": {"warning": 20, "critical": 50},
    # a week whose 5xx share stays below this (percent) is OK whatever its growth (noise on a quiet service)
    "error_rate_floor_percent": {"warning": 0.01},
    "volume_used_percent": {"warning": 80, "critical": 90},
    "log_warnings": {"warning": 100, "critical": 1000},
    "security_events": {"warning": 1, "critical": 50},
}
TRENDS = (
    # id, title, unit, scale (series value -> unit), threshold name
    ("error_rate", "5xx error rate", "%", 100.0, "error_rate_change_percent"),
    ("p95_latency", "p95 latency", "s", 1.0, "latency_change_percent"),
    ("memory", "Memory use (working set)", "MiB", 1.0 / 1048576, "resource_change_percent"),
    ("cpu", "CPU use", "cores", 1.0, "resource_change_percent"),
)
WARN = re.compile(r"warn", re.IGNORECASE)


def week_over_week(points, now):
    """{this_week, last_week, change_percent} - the means of the samples of the last 7 days and of the 7 before.

    points: [[unix time, value], ...]. A week without samples gives None; change_percent is None unless both
    weeks have a mean and last week's is not zero.
    """
    now = float(now)
    this = [v for t, v in points if now - WEEK < t <= now]
    last = [v for t, v in points if now - 2 * WEEK < t <= now - WEEK]
    mean_this = sum(this) / len(this) if this else None
    mean_last = sum(last) / len(last) if last else None
    change = None
    if mean_this is not None and mean_last:
        change = round(100.0 * (mean_this - mean_last) / abs(mean_last), 1)
    return {"this_week": mean_this, "last_week": mean_last, "change_percent": change,
            "samples": {"this_week": len(this), "last_week": len(last)}}


def _fmt(value, unit):
    return "-" if value is None else "%.4g %s" % (value, unit)


def check_trend(trend_id, title, unit, scale, threshold_name, result, thresholds, now):
    """A week-over-week check of one range query (the worst series decides)."""
    check_id = "%s_trend" % trend_id
    title = "%s, week over week" % title
    why = unread(result, "json")
    if why:
        return make_check(check_id, title, "UNKNOWN", reason=why, runbook=RB + " 1")
    body = result["json"] or {}
    if body.get("status") != "success":
        return make_check(check_id, title, "UNKNOWN", reason="Prometheus answered %s: %s" % (
            body.get("status"), body.get("error")), runbook=RB + " 1")
    warning, critical = limits(DEFAULTS, thresholds, threshold_name)
    rows = []
    for series in prom_series(body):
        stats = week_over_week([(t, v * scale) for t, v in series["points"]], now)
        stats["series"] = "overall" if series["name"] == "value" else series["name"]
        rows.append(stats)
    judged = [r for r in rows if r["change_percent"] is not None]
    if not judged:
        return make_check(check_id, title, "UNKNOWN", reason="no samples for both weeks (%d series)" % len(rows),
                          details={"series": rows}, runbook=RB + " 1")
    worst = max(judged, key=lambda r: r["change_percent"])
    check = check_threshold(worst["change_percent"], id=check_id, title=title, warning=warning, critical=critical,
                            unit="% change", details={"series": rows}, runbook=RB + " 1")
    check["reason"] = "%s: this week %s, last week %s (%+.1f %%)" % (
        worst["series"], _fmt(worst["this_week"], unit), _fmt(worst["last_week"], unit), worst["change_percent"])
    if trend_id == "error_rate":
        floor = limits(DEFAULTS, thresholds, "error_rate_floor_percent")[0]
        if check["verdict"] != "OK" and floor is not None and worst["this_week"] < float(floor):
            check["verdict"] = "OK"
            check["reason"] += "; below the %s %% floor" % floor
    if check["verdict"] != "OK":
        check["reason"] += " (%s)" % check["threshold"]
    return check


def weekly_trends(results, thresholds=None):
    """Filter: the trends of the report (inline SVG) from the range query results, in the unit of their check."""
    out = []
    for trend_id, title, unit, scale, _name in TRENDS:
        result = (results or {}).get(trend_id) or {}
        if unread(result, "json") or (result.get("json") or {}).get("status") != "success":
            continue
        series = [{"name": s["name"], "points": [[t, v * scale] for t, v in s["points"]]} for s in prom_series(result["json"])]
        out.append({"id": trend_id, "title": "%s (14 days)" % title, "unit": unit, "series": series})
    return out


def check_disk(pvcs, volumes, thresholds):
    """pvcs: kubernetes.core.k8s_info of PersistentVolumeClaims; volumes: the instant query of used / capacity per PVC."""
    title = "Disk space (PVCs)"
    why = unread(pvcs, "resources")
    if why:
        return make_check("disk_space", title, "UNKNOWN", reason=why, runbook=RB + " 2")
    used = {}
    stats_why = unread(volumes, "json")
    if not stats_why:
        for sample in ((volumes["json"] or {}).get("data") or {}).get("result") or []:
            metric = sample.get("metric") or {}
            try:
                used[(metric.get("namespace"), metric.get("persistentvolumeclaim"))] = round(100.0 * float(sample["value"][1]), 1)
            except (KeyError, IndexError, TypeError, ValueError):
                continue
    rows = []
    for pvc in pvcs.get("resources") or []:
        meta = pvc.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        rows.append({"pvc": meta.get("name"), "namespace": meta.get("namespace"), "phase": (pvc.get("status") or {}).get("phase"),
                     "requested": (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage"),
                     "used_percent": used.get(key)})
    if not rows:
        return make_check("disk_space", title, "OK", 0, "PVCs", reason="no PersistentVolumeClaims", runbook=RB + " 2")
    measured = [r for r in rows if r["used_percent"] is not None]
    unbound = [r["pvc"] for r in rows if r["phase"] != "Bound"]
    if not measured:
        check = make_check("disk_space", title, "UNKNOWN", reason="%d PVCs, no volume statistics: %s" % (
            len(rows), stats_why or "kubelet_volume_stats_* has no sample for them"), details={"pvcs": rows}, runbook=RB + " 2")
    else:
        worst = max(measured, key=lambda r: r["used_percent"])
        warning, critical = limits(DEFAULTS, thresholds, "volume_used_percent")
        check = check_threshold(worst["used_percent"], id="disk_space", title=title, warning=warning, critical=critical,
                                unit="% used", details={"pvcs": rows}, runbook=RB + " 2")
        check["reason"] = "fullest %s/%s %s%% used; %d PVCs, %d with statistics" % (
            worst["namespace"], worst["pvc"], worst["used_percent"], len(rows), len(measured)) + (
            "" if check["verdict"] == "OK" else " (%s)" % check["threshold"])
    if unbound:
        check["verdict"] = worst_verdict([check["verdict"], "WARNING"])
        check["reason"] += "; not Bound: %s" % ", ".join(unbound)
    return check


def check_log_warnings(logs, thresholds, hours=168):
    """logs: kubernetes.core.k8s_log (log_lines) of the deployment over the last `hours`."""
    title = "Warnings in the logs (%d h)" % hours
    why = unread(logs, "log_lines")
    if why:
        return make_check("log_warnings", title, "UNKNOWN", reason=why, runbook=RB + " 3")
    lines = logs.get("log_lines") or []
    warnings = [to_text(line) for line in lines if WARN.search(to_text(line))]
    warning, critical = limits(DEFAULTS, thresholds, "log_warnings")
    check = check_threshold(len(warnings), id="log_warnings", title=title, warning=warning, critical=critical,
                            unit="lines", details={"lines_read": len(lines), "sample": [w[:300] for w in warnings[-5:]]},
                            runbook=RB + " 3")
    check["reason"] = "%d of %d lines mention a warning" % (len(warnings), len(lines)) + (
        "" if check["verdict"] == "OK" else " (%s)" % check["threshold"])
    return check


def check_restore(drill):
    """drill: the checks of sark_dr_drill (a real restore test), or a failed result when the drill could not run."""
    title = "Backup verification (restore test)"
    if isinstance(drill, dict):
        return make_check("backup_restore", title, "CRITICAL" if drill.get("failed") else "UNKNOWN",
                          reason="the restore test could not run: %s" % to_text(drill.get("msg") or "not run")[:300],
                          runbook=RB + " 4")
    if not isinstance(drill, list) or not drill:
        return make_check("backup_restore", title, "UNKNOWN", reason="the restore test returned no checks", runbook=RB + " 4")
    verdict = worst_verdict(c.get("verdict") for c in drill)
    bad = [c for c in drill if c.get("verdict") != "OK"]
    reason = "; ".join("%s %s: %s" % (c.get("verdict"), c.get("title"), c.get("reason")) for c in bad) or \
        "restored and compared: " + "; ".join(to_text(c.get("reason")) for c in drill[:3])
    return make_check("backup_restore", title, verdict, len(drill) - len(bad), "checks passed", "any failed drill check",
                      reason[:500], {"drill": [dict((k, c.get(k)) for k in ("id", "verdict", "reason")) for c in drill]},
                      RB + " 4")


def check_redis_restore(result):
    """result: sark_redis_backup state=restore_test (checksum, redis-check-rdb/aof, scratch restore of the newest Redis backups)."""
    title = "Redis backup verification (scratch restore)"
    runbook = "003 Weekly 4"
    if not isinstance(result, dict) or result.get("skipped"):
        return make_check("redis_backup_restore", title, "UNKNOWN", reason=unread(result), runbook=runbook)
    checked = result.get("verifications") or []
    if not checked:
        # no backup to test, or the module could not run: a missing backup is no verified backup
        return make_check("redis_backup_restore", title, "CRITICAL",
                          reason="the restore test could not run: %s" % to_text(result.get("msg") or "no backups")[:300], runbook=runbook)
    bad = [v for v in checked if not v.get("ok")]

    def keys(verification):
        rows = (verification.get("restore_test") or {}).get("databases") or []
        if not rows:
            return "restored (the backup holds no keys)"
        return "restored, keys per database (restored/at the save) " + ", ".join(
            "%s %s/%s" % (r.get("db"), r.get("restored_keys"), r.get("source_keys")) for r in rows)

    if bad:
        reason = to_text(result.get("msg") or "; ".join("%s failed" % v.get("file") for v in bad))
    else:
        reason = "; ".join("%s: %s" % (v.get("file"), keys(v)) for v in checked)
    return make_check("redis_backup_restore", title, "CRITICAL" if bad else "OK", len(checked) - len(bad), "backups verified",
                      "any backup failing its checksum, redis-check-rdb/aof or the key counts", reason[:500],
                      {"verifications": [dict((k, v.get(k)) for k in ("file", "kind", "ok")) for v in checked]}, runbook)


def check_security_events(audit, thresholds, labels=("high", "critical")):
    """audit: sark_audit_info (by_severity over the week, critical)."""
    title = "High-severity audit events (7 days)"
    why = unread(audit, "by_severity")
    if why:
        return make_check("security_events", title, "UNKNOWN", reason=why, runbook=RB + " 5")
    counts = dict((to_text(k).lower(), v) for k, v in ((audit.get("by_severity") or {}).get("counts") or {}).items())
    figure = sum(int(counts.get(label) or 0) for label in labels)
    warning, critical = limits(DEFAULTS, thresholds, "security_events")
    newest = ((audit.get("critical") or {}).get("events") or [])[:5]
    check = check_threshold(figure, id="security_events", title=title, warning=warning, critical=critical, unit="events",
                            details={"by_severity": counts, "newest_critical": newest}, runbook=RB + " 5")
    check["reason"] = "%s (of %s events in the window)" % (", ".join("%s %s" % (counts.get(l, 0), l) for l in labels),
                                                           (audit.get("by_severity") or {}).get("total")) + (
        "" if check["verdict"] == "OK" else " (%s)" % check["threshold"])
    return check


def weekly_checks(results, thresholds=None, now=None, log_hours=168):
    """Filter: the weekly checklist's checks from what the role read, in the runbook's order."""
    if not isinstance(results, dict):
        raise AnsibleFilterError("weekly_checks takes a dict of registered results")
    check_known(DEFAULTS, thresholds)
    stamp = as_time(now).timestamp()
    trends = results.get("trends") or {}
    checks = [check_trend(i, t, u, s, n, trends.get(i), thresholds, stamp) for i, t, u, s, n in TRENDS]
    checks += [
        check_disk(results.get("pvcs"), results.get("volumes"), thresholds),
        check_log_warnings(results.get("logs"), thresholds, int(log_hours)),
        check_restore(results.get("restore")),
    ]
    redis_restore = results.get("redis_restore")
    if redis_restore and not redis_restore.get("skipped"):
        # only where Redis backups are kept (sark_weekly_redis_backup_dir, the Rust Security Platform's seed 003)
        checks.append(check_redis_restore(redis_restore))
    return checks + [check_security_events(results.get("audit"), thresholds)]


class FilterModule(object):
    """sark.ops weekly checklist filters."""

    def filters(self):
        return {"weekly_checks": weekly_checks, "weekly_trends": weekly_trends}
