# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdicts of the daily checklist (seed 000's Morning Checklist plus health, sessions, SIEM, audit gaps).

One function per check turns what the sark.ops info modules returned into a check of
the shared schema (plugins/filter/checks.py). A result that is missing, skipped or failed is UNKNOWN with the
reason, except where the failure is the finding (Redis, PostgreSQL or the SARK API down: CRITICAL).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import check_threshold, limits, make_check, parse_time, unread

RB = "000 Morning Checklist"
DEFAULTS = {
    "pods_not_running": {"warning": 1, "critical": 3},
    # a pod Running and ready that restarted this often (OOMKilled, crashed) is a warning: it is not yet down
    "pod_restarts": {"warning": 3},
    "resource_memory_percent": {"warning": 80, "critical": 95},
    "error_rate_percent": {"warning": 0.1, "critical": 1.0},
    "database_size_mib": {"warning": 10240, "critical": 51200},
    "redis_memory_percent": {"warning": 75, "critical": 90},
    "redis_memory_mib": {"warning": 1024, "critical": 4096},
    "backup_age_hours": {"warning": 26, "critical": 50},
    "firing_alerts": {"warning": 1},
    "sessions": {"warning": 100000},
    "siem_queue": {"warning": 1000, "critical": 10000},
    "audit_gap_hours": {"warning": 1, "critical": 3},
}
BAD_POD_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "OOMKilled", "CreateContainerConfigError")
S3_LIST_LIMIT = 1000
STAMP = re.compile(r"(20\d{2})(\d{2})(\d{2})[-T_]?(\d{2})(\d{2})(\d{2})?")


def _judge(figure, check_id, title, thresholds, name, **kwargs):
    warning, critical = limits(DEFAULTS, thresholds, name)
    return check_threshold(figure, id=check_id, title=title, warning=warning, critical=critical, **kwargs)


def check_pods(k8s, thresholds):
    title = "Pods not Running"
    why = unread(k8s, "workloads")
    if why:
        return make_check("pods_not_running", title, "UNKNOWN", reason=why, runbook=RB + " 1")
    bad = []
    for workload in k8s.get("workloads") or []:
        for pod in workload.get("pods") or []:
            if pod.get("phase") != "Running" or not pod.get("ready") or pod.get("reason") in BAD_POD_REASONS:
                bad.append({"pod": pod.get("name"), "workload": workload.get("name"), "phase": pod.get("phase"),
                            "reason": pod.get("reason"), "restarts": pod.get("restarts")})
    check = _judge(len(bad), "pods_not_running", title, thresholds, "pods_not_running", unit="pods",
                   details={"pods": bad}, runbook=RB + " 1")
    crash = [p for p in bad if p["reason"] in BAD_POD_REASONS]
    if crash:
        check["verdict"] = "CRITICAL"
    restart_limit = limits(DEFAULTS, thresholds, "pod_restarts")[0]
    restarted = []
    for workload in k8s.get("workloads") or []:
        for pod in workload.get("pods") or []:
            if restart_limit is not None and (pod.get("restarts") or 0) >= restart_limit and pod.get("name") not in [b["pod"] for b in bad]:
                last = pod.get("last_termination") or {}
                restarted.append({"pod": pod.get("name"), "workload": workload.get("name"), "restarts": pod.get("restarts"),
                                  "last_reason": last.get("reason"), "last_finished_at": last.get("finished_at")})
    check["details"]["restarted"] = restarted
    if bad:
        check["reason"] = "%d not Running or not ready: %s" % (len(bad), ", ".join(
            "%s (%s%s)" % (p["pod"], p["reason"] or p["phase"], ", %s restarts" % p["restarts"] if p["restarts"] else "")
            for p in bad[:5]))
    else:
        check["reason"] = "all %d pods Running and ready" % sum(len(w.get("pods") or []) for w in k8s.get("workloads") or [])
    if restarted:
        if check["verdict"] == "OK":
            check["verdict"] = "WARNING"
        check["reason"] += "; restarting: %s (warning >= %s restarts)" % (", ".join(
            "%s %s restarts%s" % (r["pod"], r["restarts"], ", last %s" % r["last_reason"] if r["last_reason"] else "")
            for r in restarted[:5]), _fmt_limit(restart_limit))
    return check


def _fmt_limit(value):
    return ("%d" % value) if float(value).is_integer() else ("%s" % value)


def _quantity_mib(text):
    units = {"Ki": 1.0 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1048576.0, "K": 1e3 / 1048576, "M": 1e6 / 1048576, "G": 1e9 / 1048576}
    match = re.match(r"^([0-9.]+)([A-Za-z]*)$", to_text(text or ""))
    if not match:
        return None
    return float(match.group(1)) * units.get(match.group(2), 1.0 / 1048576)


def check_resources(k8s, thresholds, top=5):
    title = "Top resource users"
    why = unread(k8s, "workloads")
    if why:
        return make_check("top_resource_users", title, "UNKNOWN", reason=why, runbook=RB + " 2")
    if not k8s.get("metrics_available"):
        return make_check("top_resource_users", title, "UNKNOWN",
                          reason="no pod metrics: %s" % (k8s.get("metrics_error") or "metrics.k8s.io not available"), runbook=RB + " 2")
    rows = []
    for workload in k8s.get("workloads") or []:
        for pod in workload.get("pods") or []:
            for cont in pod.get("containers") or []:
                usage = cont.get("usage") or {}
                rows.append({"pod": pod.get("name"), "container": cont.get("name"), "cpu": usage.get("cpu"),
                             "memory": usage.get("memory"), "memory_mib": _quantity_mib(usage.get("memory")),
                             "memory_limit_percent": cont.get("memory_limit_percent")})
    rows.sort(key=lambda r: -(r["memory_mib"] or 0))
    worst = max([r["memory_limit_percent"] for r in rows if r["memory_limit_percent"] is not None] or [None], key=lambda v: v or 0)
    if worst is None:
        return make_check("top_resource_users", title, "OK" if rows else "UNKNOWN",
                          reason="no memory limits set" if rows else "no pods with metrics", details={"top": rows[:top]}, runbook=RB + " 2")
    check = _judge(worst, "top_resource_users", title, thresholds, "resource_memory_percent", unit="% of memory limit",
                   details={"top": rows[:top]}, runbook=RB + " 2")
    check["reason"] = "highest memory use %s%% of its limit; top: %s" % (
        check["figure"], ", ".join("%s %s" % (r["pod"], r["memory"]) for r in rows[:3]))
    return check


def check_error_rate(prometheus, thresholds):
    """prometheus: sark_alert_info with presets [error_rate_24h] (the share of 5xx responses over 24 h)."""
    title = "5xx error rate (24 h)"
    why = unread(prometheus, "queries")
    if why:
        return make_check("error_rate_24h", title, "UNKNOWN", reason=why, runbook=RB + " 3")
    query = (prometheus.get("queries") or {}).get("error_rate_24h") or {}
    values = [s.get("value") for s in query.get("samples") or [] if s.get("value") is not None]
    if query.get("worst") is not None:
        values.append(query["worst"])
    if not values:
        return make_check("error_rate_24h", title, "UNKNOWN", reason="no http_requests_total samples in the last 24 h",
                          details={"expr": query.get("expr")}, runbook=RB + " 3")
    percent = round(max(float(v) for v in values) * 100.0, 4)
    return _judge(percent, "error_rate_24h", title, thresholds, "error_rate_percent", unit="%", runbook=RB + " 3",
                  details={"expr": query.get("expr")})


def check_rollouts(k8s, now, hours=24):
    title = "Recent rollouts"
    why = unread(k8s, "workloads")
    if why:
        return make_check("recent_rollouts", title, "UNKNOWN", reason=why, runbook=RB + " 4")
    recent, stuck, pending = [], [], []
    for workload in k8s.get("workloads") or []:
        progressing = (workload.get("conditions") or {}).get("Progressing") or {}
        if progressing.get("status") == "False" or progressing.get("reason") == "ProgressDeadlineExceeded":
            stuck.append(workload.get("name"))
        elif workload.get("generation") is not None and workload.get("observed_generation") != workload.get("generation"):
            pending.append(workload.get("name"))
        for rev in workload.get("revisions") or []:
            created = parse_time(rev.get("created"))
            if created and (now - created).total_seconds() <= hours * 3600:
                recent.append({"workload": workload.get("name"), "revision": rev.get("revision"),
                               "images": rev.get("images"), "change_cause": rev.get("change_cause"), "created": rev.get("created")})
    verdict = "CRITICAL" if stuck else ("WARNING" if pending else "OK")
    reason = "%d rollouts in the last %d h" % (len(recent), hours)
    if stuck:
        reason += "; stuck: %s" % ", ".join(stuck)
    if pending:
        reason += "; not yet observed by the controller: %s" % ", ".join(pending)
    return make_check("recent_rollouts", title, verdict, len(recent), "rollouts", "a stuck rollout is critical", reason,
                      {"rollouts": recent[:10], "stuck": stuck}, RB + " 4")


def check_database(pg, thresholds, database):
    title = "Database size"
    why = unread(pg, "is_available")
    if why:
        return make_check("database_size", title, "UNKNOWN", reason=why, runbook=RB + " 5")
    if not pg.get("is_available", True):
        return make_check("database_size", title, "CRITICAL", reason="PostgreSQL unreachable: %s" % "; ".join(
            (pg.get("assessment") or {}).get("findings") or ["not available"]), runbook=RB + " 5")
    sizes = dict((d.get("name"), d.get("size_bytes")) for d in pg.get("databases") or [])
    if sizes.get(database) is None:
        return make_check("database_size", title, "UNKNOWN", reason="database %s not found" % database, runbook=RB + " 5")
    mib = round(sizes[database] / 1048576.0, 1)
    return _judge(mib, "database_size", title, thresholds, "database_size_mib", unit="MiB", runbook=RB + " 5",
                  details={"databases": pg.get("databases")})


def check_redis(redis, thresholds):
    title = "Redis memory"
    why = unread(redis, "is_available")
    if why:
        if redis and redis.get("failed") and "unreachable" in to_text(redis.get("msg")).lower():
            return make_check("redis_memory", title, "CRITICAL", reason="Redis unreachable: %s" % redis.get("msg"), runbook=RB + " 6")
        return make_check("redis_memory", title, "UNKNOWN", reason=why, runbook=RB + " 6")
    if not redis.get("is_available", True):
        return make_check("redis_memory", title, "CRITICAL", reason="Redis unreachable: %s" % "; ".join(
            (redis.get("assessment") or {}).get("findings") or ["not available"]), runbook=RB + " 6")
    memory = redis.get("memory") or {}
    used = memory.get("used_memory")
    if used is None:
        return make_check("redis_memory", title, "UNKNOWN", reason="INFO memory had no used_memory", runbook=RB + " 6")
    if memory.get("maxmemory"):
        percent = round(100.0 * used / memory["maxmemory"], 1)
        check = _judge(percent, "redis_memory", title, thresholds, "redis_memory_percent", unit="% of maxmemory",
                       details=memory, runbook=RB + " 6")
        check["reason"] = "%s used of %s (%s%%)" % (memory.get("used_memory_human"), memory.get("maxmemory_human"), percent)
        return check
    check = _judge(round(used / 1048576.0, 1), "redis_memory", title, thresholds, "redis_memory_mib", unit="MiB",
                   details=memory, runbook=RB + " 6")
    check["reason"] = "%s used, no maxmemory set" % memory.get("used_memory_human")
    return check


def backup_time(item):
    """When a backup was made: the time stamp in its name (runbook's sark-backup-YYYYmmdd-HHMM.dump, sark.ops'
    <db>-YYYYmmddTHHMMSS.mmmZ.dump), else its created_at / LastModified."""
    name = to_text(item.get("key") or item.get("file") or item.get("path") or item.get("name") or "")
    match = STAMP.search(name.rsplit("/", 1)[-1])
    if match:
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        try:
            return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
        except ValueError:
            pass
    if isinstance(item.get("mtime"), (int, float)):
        return datetime.datetime.fromtimestamp(item["mtime"], datetime.timezone.utc)
    for field in ("created_at", "last_modified", "LastModified"):
        value = item.get(field)
        if isinstance(value, datetime.datetime):
            return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        parsed = parse_time(value)
        if parsed:
            return parsed
    return None


def check_backup(backups, thresholds, now):
    """backups: {location, objects: [{key|file|path, mtime|created_at|last_modified}] or [S3 key, ...]} or a
    failed/skipped result."""
    title = "Age of the newest backup"
    why = unread(backups, "objects")
    if why:
        return make_check("backup_age", title, "UNKNOWN", reason=why, runbook=RB + " 7")
    objects = [{"key": i} if not isinstance(i, dict) else i for i in backups.get("objects") or []]
    items = [dict(i, time=backup_time(i)) for i in objects]
    dated = [i for i in items if i["time"] is not None]
    where = to_text(backups.get("location") or "")
    if not dated:
        return make_check("backup_age", title, "CRITICAL", reason="no backup found in %s%s" % (
            where, " (%d objects, none with a time stamp in its name or a modification time)" % len(items) if items else ""),
            details={"objects": len(items)}, runbook=RB + " 7")
    newest = max(dated, key=lambda i: i["time"])
    hours = round((now - newest["time"]).total_seconds() / 3600.0, 1)
    name = newest.get("key") or newest.get("file") or newest.get("path") or newest.get("name")
    check = _judge(hours, "backup_age", title, thresholds, "backup_age_hours", unit="hours", runbook=RB + " 7",
                   details={"newest": name, "location": where, "count": len(dated)})
    check["reason"] = "newest %s, %s h old (%d backups in %s)" % (name, hours, len(dated), where) + (
        "" if check["verdict"] == "OK" else " (%s)" % check["threshold"])
    if where.startswith("s3://") and len(items) >= S3_LIST_LIMIT:
        # one ListObjectsV2 call returns at most 1000 keys, the oldest first for date-stamped names
        check["reason"] += "; only the first %d keys were listed: prune old backups or narrow the prefix" % S3_LIST_LIMIT
        if check["verdict"] == "OK":
            check["verdict"] = "UNKNOWN"
    return check


def check_alerts(alerts, thresholds):
    """alerts: sark_alert_info (firing Prometheus alerts, active Alertmanager alerts; silenced ones do not count)."""
    title = "Firing alerts"
    why = unread(alerts, "counts")
    if why:
        return make_check("firing_alerts", title, "UNKNOWN", reason=why, runbook=RB + " 8")
    firing = [dict(a, source="prometheus") for a in alerts.get("prometheus_alerts") or [] if a.get("state") == "firing"]
    firing += [dict(a, source="alertmanager") for a in alerts.get("alertmanager_alerts") or [] if a.get("state") == "active"]
    names = sorted(set(to_text(a.get("alertname")) for a in firing))
    check = _judge(len(names), "firing_alerts", title, thresholds, "firing_alerts", unit="alerts", runbook=RB + " 8",
                   details={"alerts": [dict((k, a.get(k)) for k in ("alertname", "severity", "source", "state")) for a in firing][:20],
                            "counts": alerts.get("counts")})
    if any(a.get("severity") == "critical" for a in firing):
        check["verdict"] = "CRITICAL"
    check["reason"] = ("firing: %s" % ", ".join(names)) if names else "none firing"
    return check


def check_health(health):
    title = "SARK /health/detailed"
    why = unread(health, "is_available")
    if why:
        return make_check("health_detailed", title, "UNKNOWN", reason=why)
    if not health.get("is_available", True):
        return make_check("health_detailed", title, "CRITICAL", reason="SARK API unavailable")
    verdict = {"healthy": "OK", "degraded": "WARNING", "unhealthy": "CRITICAL"}.get(health.get("verdict"), "UNKNOWN")
    parts = ["%s %s" % (name, (c or {}).get("status")) for name, c in sorted((health.get("components") or {}).items())
             if (c or {}).get("status") != "healthy"]
    reason = "%s%s" % (health.get("verdict"), (": " + ", ".join(parts)) if parts else "")
    return make_check("health_detailed", title, verdict, health.get("verdict"), "", "degraded is a warning, unhealthy critical",
                      reason, {"components": health.get("components"), "version": health.get("version")})


def check_sessions(sessions, thresholds):
    title = "Active sessions"
    why = unread(sessions, "total")
    if why:
        return make_check("session_count", title, "UNKNOWN", reason=why)
    return _judge(sessions.get("total"), "session_count", title, thresholds, "sessions", unit="sessions",
                  details={"top_users": sessions.get("top_users")}, unknown_reason="no session count returned")


def check_siem(siem, thresholds):
    title = "SIEM queue"
    why = unread(siem, "queue" if not (siem or {}).get("not_in_layout") else None)
    if why:
        return make_check("siem_queue", title, "UNKNOWN", reason=why)
    if siem.get("not_in_layout") or siem.get("in_redis") is False:
        return make_check("siem_queue", title, "OK", reason="not applicable: %s" % (siem.get("not_in_layout") or "queue not in Redis"))
    length = (siem.get("queue") or {}).get("length")
    failed = (siem.get("failed_events") or {}).get("length")
    check = _judge(length, "siem_queue", title, thresholds, "siem_queue", unit="events",
                   details={"failed_events": failed}, unknown_reason="no queue length returned")
    if check["verdict"] != "UNKNOWN":
        check["reason"] = "%s events queued, %s failed" % (length, failed) + (
            "" if check["verdict"] == "OK" else " (%s)" % check["threshold"])
    return check


def check_audit(audit, thresholds):
    title = "Audit-trail gaps (24 h)"
    why = unread(audit, "events_per_hour")
    if why:
        return make_check("audit_gaps", title, "UNKNOWN", reason=why)
    hours = audit.get("events_per_hour") or {}
    if not hours.get("events_recorded", True):
        return make_check("audit_gaps", title, "CRITICAL", 0, "hours", reason="no audit events recorded at all")
    empty = hours.get("empty_hours")
    check = _judge(empty, "audit_gaps", title, thresholds, "audit_gap_hours", unit="empty hours",
                   details={"gaps": (hours.get("gaps") or [])[:24]}, unknown_reason="no hourly counts returned")
    if check["verdict"] != "UNKNOWN":
        check["reason"] = ("%d hours without audit events, first %s" % (empty, (hours.get("gaps") or ["?"])[0])) if empty else "no gaps"
    return check


def daily_checks(results, thresholds=None, database="sark", now=None):
    """Filter: the daily checklist's checks from the registered results, in the runbook's order."""
    if not isinstance(results, dict):
        raise AnsibleFilterError("daily_checks takes a dict of registered results")
    unknown = set(thresholds or {}) - set(DEFAULTS)
    if unknown:
        raise AnsibleFilterError("unknown thresholds %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(sorted(DEFAULTS))))
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif not isinstance(now, datetime.datetime):
        now = datetime.datetime.fromtimestamp(float(now), datetime.timezone.utc)
    get = results.get
    return [
        check_pods(get("k8s"), thresholds),
        check_resources(get("k8s"), thresholds),
        check_error_rate(get("prometheus"), thresholds),
        check_rollouts(get("k8s"), now),
        check_database(get("pg"), thresholds, database),
        check_redis(get("redis"), thresholds),
        check_backup(get("backups"), thresholds, now),
        check_alerts(get("alerts"), thresholds),
        check_health(get("health")),
        check_sessions(get("sessions"), thresholds),
        check_siem(get("siem"), thresholds),
        check_audit(get("audit"), thresholds),
    ]


def daily_trend_queries(trends, duration="24h", step="15m"):
    """Filter: the range_queries of sark.ops.sark_alert_info for the report's trends ({id, expr, ...} each)."""
    if not isinstance(trends, (list, tuple)):
        raise AnsibleFilterError("daily_trend_queries takes a list of trends {id, title, unit, expr, warning, critical}")
    queries = []
    for index, trend in enumerate(trends):
        if not isinstance(trend, dict) or not trend.get("id") or not trend.get("expr"):
            raise AnsibleFilterError("trend %d needs an id and an expr, got %r" % (index, trend))
        queries.append({"name": to_text(trend["id"]), "expr": to_text(trend["expr"]),
                        "duration": to_text(trend.get("duration") or duration), "step": to_text(trend.get("step") or step)})
    return queries


def daily_trends(ranges, trends):
    """Filter: the report's trends (sark_report_trends) from sark_alert_info's `ranges` and the trend definitions.

    A trend whose range was not read (no Prometheus, a failed query) is left out of the charts: its check says why."""
    from ansible_collections.sark.ops.plugins.filter.checks import prom_series  # pylint: disable=import-outside-toplevel
    out = []
    for trend in trends or []:
        found = (ranges or {}).get(trend.get("id"))
        if not found:
            continue
        series = prom_series(found.get("result") or [], name=trend.get("title") if len(found.get("result") or []) == 1 else None)
        chart = {"id": trend["id"], "title": trend.get("title") or trend["id"], "unit": trend.get("unit") or "",
                 "series": series, "source": "Prometheus %s, every %ss" % (found.get("expr"), found.get("step"))}
        for key in ("warning", "critical"):
            if trend.get(key) is not None:
                chart[key] = trend[key]
        out.append(chart)
    return out


class FilterModule(object):
    """sark.ops daily checklist filters."""

    def filters(self):
        return {"daily_checks": daily_checks, "daily_trend_queries": daily_trend_queries, "daily_trends": daily_trends}
