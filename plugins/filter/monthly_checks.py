# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdicts of SARK's monthly checklist (seed 000 "Monthly Tasks") and the capacity forecast.

VACUUM ANALYZE where needed (sark_pg_maintenance's selection), old PostgreSQL log cleanup, the security review
(admin and disabled accounts, API keys past the rotation age where the layout has them) and the capacity report:
a least-squares line through the history of each figure (previous monthly reports' JSON plus today's reading)
and the day it crosses its threshold.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import check_threshold, make_check, worst_verdict
from ansible_collections.sark.ops.plugins.filter.checks import as_time, check_known, limits, parse_time, unread

RB = "000 Monthly Tasks"
DAY = 86400.0
DEFAULTS = {
    "admin_accounts": {"warning": 4, "critical": 10},
    "api_key_age_days": {"warning": 30, "critical": 90},
    # days until a capacity figure crosses its limit (low is bad)
    "forecast_days": {"warning": 90, "critical": 30},
}
# capacity figures: id, title, unit, default limit
CAPACITY = (("database_bytes", "Database size", "bytes", 50 * 1073741824.0),
            ("sessions", "Active sessions", "sessions", 100000.0),
            ("servers", "Registered servers", "servers", 10000.0))


def linear_forecast(points, limit, now=None):
    """The least-squares line through points [[unix time, value], ...] and when it reaches limit.

    Returns {points, slope_per_day, value_now (on the line), limit, days_to_limit, crossing} - days_to_limit is 0
    when the newest value is at or past the limit, None when the line does not rise (never crossed) or there are
    fewer than 2 points at distinct times.
    """
    pts = sorted((float(t), float(v)) for t, v in points or [] if v is not None)
    limit = float(limit)
    out = {"points": len(pts), "slope_per_day": None, "value_now": None, "limit": limit, "days_to_limit": None,
           "crossing": None}
    if not pts:
        return out
    now = float(now) if now is not None else pts[-1][0]
    if pts[-1][1] >= limit:
        out.update(days_to_limit=0.0, crossing=_iso(pts[-1][0]), value_now=pts[-1][1])
        return out
    n = float(len(pts))
    mean_t = sum(point[0] for point in pts) / n
    mean_v = sum(point[1] for point in pts) / n
    var_t = sum((point[0] - mean_t) ** 2 for point in pts)
    if len(pts) < 2 or var_t == 0:
        return out
    slope = sum((t - mean_t) * (v - mean_v) for t, v in pts) / var_t
    intercept = mean_v - slope * mean_t
    value_now = intercept + slope * now
    out.update(slope_per_day=slope * DAY, value_now=value_now)
    if slope <= 0:
        return out
    when = (limit - intercept) / slope
    days = max(0.0, (when - now) / DAY)
    out.update(days_to_limit=round(days, 1), crossing=_iso(max(when, now)))
    return out


def _iso(stamp):
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def capacity_history(reports, check_id="capacity_forecast"):
    """Filter: [[time, {figure: value}]] from previous monthly reports (their JSON, as dicts), oldest first."""
    out = []
    for report in reports or []:
        if not isinstance(report, dict):
            continue
        when = parse_time(report.get("finished"))
        check = next((c for c in report.get("checks") or [] if isinstance(c, dict) and c.get("id") == check_id), None)
        current = ((check or {}).get("details") or {}).get("current")
        if when and isinstance(current, dict):
            out.append([when.timestamp(), current])
    return sorted(out, key=lambda item: item[0])


def check_capacity(current, history, thresholds, limits_by_figure, now):
    """current: {database_bytes, sessions, servers} read now; history: capacity_history of previous reports."""
    title = "Capacity forecast"
    warning, critical = limits(DEFAULTS, thresholds, "forecast_days")
    rows, verdicts = [], []
    for figure, name, unit, default_limit in CAPACITY:
        limit = float((limits_by_figure or {}).get(figure) or default_limit)
        value = (current or {}).get(figure)
        points = [[t, vals.get(figure)] for t, vals in history or [] if isinstance(vals, dict) and vals.get(figure) is not None]
        if value is not None:
            points.append([now, value])
        forecast = linear_forecast(points, limit, now)
        row = dict(forecast, figure=figure, title=name, unit=unit, current=value)
        if value is None:
            row["verdict"], row["reason"] = "UNKNOWN", "%s could not be read" % name
        elif forecast["days_to_limit"] == 0:
            row["verdict"], row["reason"] = "CRITICAL", "%s %s %s is at its limit %s" % (name, value, unit, limit)
        elif forecast["points"] < 2:
            row["verdict"], row["reason"] = "UNKNOWN", "%s %s %s; no earlier report to draw a trend from" % (name, value, unit)
        elif forecast["days_to_limit"] is None:
            row["verdict"], row["reason"] = "OK", "%s %s %s, not growing" % (name, value, unit)
        else:
            row["verdict"] = check_threshold(forecast["days_to_limit"], id="x", title="x", warning=warning,
                                             critical=critical, direction="below")["verdict"]
            row["reason"] = "%s %s %s, +%s %s/day: reaches %s in %s days (%s)" % (
                name, value, unit, "%.4g" % forecast["slope_per_day"], unit, "%.4g" % float(limit), forecast["days_to_limit"],
                (forecast["crossing"] or "")[:10])
        rows.append(row)
        verdicts.append(row["verdict"])
    judged = [r for r in rows if r["days_to_limit"] is not None]
    soonest = min(judged, key=lambda r: r["days_to_limit"]) if judged else None
    verdict = worst_verdict(verdicts)
    return make_check("capacity_forecast", title, verdict, soonest["days_to_limit"] if soonest else None, "days",
                      "limit reached within %s days is a warning, %s critical" % (warning, critical),
                      "; ".join(r["reason"] for r in rows),
                      {"current": dict((r["figure"], r["current"]) for r in rows), "forecasts": rows,
                       "history_points": len(history or [])}, RB + " 5")


def capacity_trends(history, current, now):
    """Filter: the capacity history (previous reports + now) as report trends."""
    out = []
    for figure, name, unit, _limit in CAPACITY:
        points = [[t, vals[figure]] for t, vals in history or [] if isinstance(vals, dict) and vals.get(figure) is not None]
        if (current or {}).get(figure) is not None:
            points.append([float(now), current[figure]])
        if points:
            out.append({"id": figure, "title": "%s (monthly reports)" % name, "unit": unit,
                        "series": [{"name": figure, "points": points}]})
    return out


def check_vacuum(runs):
    """runs: [{database, plan, run}] - plan is sark_pg_maintenance state=vacuum in check mode (the tables chosen by
    need), run the same for real (None or skipped when the plan was empty or in check mode)."""
    title = "VACUUM ANALYZE where needed"
    if not isinstance(runs, list) or not runs:
        return make_check("vacuum_analyze", title, "UNKNOWN", reason="not read (source not configured)", runbook=RB + " 1")
    verdicts, parts, details = [], [], {}
    total = 0
    for item in runs:
        database, plan, run = item.get("database"), item.get("plan"), item.get("run")
        why = unread(plan, "selection")
        if why:
            verdicts.append("UNKNOWN")
            parts.append("%s: %s" % (database, why))
            continue
        chosen = [r.get("target") for r in plan.get("results") or []]
        deferred = (plan.get("selection") or {}).get("deferred") or []
        details[database] = {"chosen": chosen, "deferred": deferred, "considered": (plan.get("selection") or {}).get("considered")}
        if not chosen:
            verdicts.append("OK")
            parts.append("%s: no table needs it" % database)
        elif run is None or not isinstance(run, dict) or run.get("skipped"):
            verdicts.append("OK")
            total += len(chosen)
            parts.append("%s: would vacuum %s (check mode)" % (database, ", ".join(chosen)))
        elif run.get("failed") or "selection" not in run or any(r.get("status") == "failed" for r in run.get("results") or []):
            done = [r.get("target") for r in run.get("results") or [] if r.get("status") == "ok"]
            verdicts.append("CRITICAL")
            total += len(done)
            parts.append("%s: VACUUM failed: %s (done: %s)" % (database, to_text(run.get("msg"))[:200], ", ".join(done) or "none"))
        else:
            done = [r.get("target") for r in run.get("results") or [] if r.get("status") == "ok"]
            details[database]["vacuumed"] = done
            verdicts.append("WARNING" if deferred else "OK")
            total += len(done)
            parts.append("%s: vacuumed %s%s" % (database, ", ".join(done), "; %d deferred to the next run" % len(deferred) if deferred else ""))
    return make_check("vacuum_analyze", title, worst_verdict(verdicts), total, "tables",
                      "a failed VACUUM is critical, tables deferred a warning", "; ".join(parts)[:600], details, RB + " 1")


def vacuum_pair(plan, runs):
    """Filter: {database, plan, run} of one database from the registered loops of the plan and of the run."""
    database = (plan or {}).get("item")
    run = next((r for r in ((runs or {}).get("results") if isinstance(runs, dict) else runs) or []
                if isinstance(r, dict) and (r.get("item") or {}).get("item") == database), None)
    return {"database": database, "plan": plan, "run": run}


def check_log_cleanup(settings, found, removed, days, check_mode=False):
    """settings: {log_directory, data_directory, log_path} from the server; found: ansible.builtin.find of old log
    files; removed: the loop of ansible.builtin.file state=absent over them (in check mode it only plans)."""
    title = "Old PostgreSQL logs (> %s days)" % days
    if not isinstance(settings, dict) or not settings.get("log_directory"):
        return make_check("pg_log_cleanup", title, "UNKNOWN", reason=unread(settings, "log_directory") or "log_directory not known",
                          runbook=RB + " 2")
    why = unread(found, "files")
    if why:
        return make_check("pg_log_cleanup", title, "UNKNOWN", reason=why, runbook=RB + " 2")
    files = sorted(f.get("path") for f in found.get("files") or [])
    where = settings.get("log_path") or settings["log_directory"]
    if not files:
        return make_check("pg_log_cleanup", title, "OK", 0, "files", reason="no log older than %s days in %s" % (days, where),
                          runbook=RB + " 2")
    results = (removed or {}).get("results") or []
    # the role registers with failed_when false: a removal that failed has no state
    failed = [r.get("path") or (r.get("item") or {}).get("path") for r in results if r.get("failed") or "state" not in r]
    if failed:
        return make_check("pg_log_cleanup", title, "WARNING", len(files) - len(failed), "files",
                          reason="could not remove %s" % ", ".join(failed), details={"files": files}, runbook=RB + " 2")
    verb = "would remove" if check_mode or not results else "removed"
    return make_check("pg_log_cleanup", title, "OK", len(files), "files",
                      reason="%s %d logs older than %s days from %s" % (verb, len(files), days, where),
                      details={"files": files[:50]}, runbook=RB + " 2")


def check_accounts(admins, disabled, thresholds):
    """admins: sark_user_info admin=true active=true; disabled: sark_user_info active=false."""
    title = "Security review: accounts"
    why = unread(admins, "users") or unread(disabled, "users")
    if why:
        return make_check("security_accounts", title, "UNKNOWN", reason=why, runbook=RB + " 4")
    names = [u.get("username") or u.get("email") for u in admins.get("users") or []]
    off = [u.get("username") or u.get("email") for u in disabled.get("users") or []]
    off_admins = [u.get("username") or u.get("email") for u in disabled.get("users") or [] if u.get("is_admin")]
    warning, critical = limits(DEFAULTS, thresholds, "admin_accounts")
    check = check_threshold(len(names), id="security_accounts", title=title, warning=warning, critical=critical,
                            unit="active admins", details={"admins": names, "disabled": off, "disabled_admins": off_admins},
                            runbook=RB + " 4")
    check["reason"] = "%d active admins (%s); %d disabled accounts%s" % (
        len(names), ", ".join(names[:10]) or "none", len(off),
        (" (%s)" % ", ".join(off[:10])) if off else "") + ("" if check["verdict"] == "OK" else "; admins: %s" % check["threshold"])
    if off_admins:
        check["verdict"] = "WARNING" if check["verdict"] == "OK" else check["verdict"]
        check["reason"] += "; disabled accounts that keep admin rights: %s" % ", ".join(off_admins)
    return check


def check_api_keys(keys, thresholds, now):
    """keys: {not_in_layout: why} or {keys: [{name, key_prefix, created_at, is_active, revoked_at}]}."""
    title = "Security review: API key age"
    if isinstance(keys, dict) and keys.get("not_in_layout"):
        return make_check("security_api_keys", title, "OK", reason="not applicable: %s" % keys["not_in_layout"], runbook=RB + " 4")
    why = unread(keys, "keys")
    if why:
        return make_check("security_api_keys", title, "UNKNOWN", reason=why, runbook=RB + " 4")
    ages = []
    for key in keys.get("keys") or []:
        created = parse_time(key.get("created_at"))
        if key.get("is_active", True) and not key.get("revoked_at") and created:
            ages.append({"name": key.get("name"), "key_prefix": key.get("key_prefix"),
                         "age_days": round((now - created).total_seconds() / DAY, 1)})
    if not ages:
        return make_check("security_api_keys", title, "OK", 0, "days", reason="no active API key", runbook=RB + " 4")
    ages.sort(key=lambda a: -a["age_days"])
    warning, critical = limits(DEFAULTS, thresholds, "api_key_age_days")
    check = check_threshold(ages[0]["age_days"], id="security_api_keys", title=title, warning=warning, critical=critical,
                            unit="days", details={"keys": ages[:20]}, runbook=RB + " 4")
    stale = [a for a in ages if a["age_days"] >= float(warning)]
    check["reason"] = "%d active keys, oldest %s (%s days); %d past the rotation age" % (
        len(ages), ages[0]["key_prefix"], ages[0]["age_days"], len(stale))
    return check


def monthly_checks(results, thresholds=None, now=None, log_days=30, capacity_limits=None):
    """Filter: the monthly checklist's checks, in the runbook's order (step 3, documentation, is for people)."""
    if not isinstance(results, dict):
        raise AnsibleFilterError("monthly_checks takes a dict of registered results")
    check_known(DEFAULTS, thresholds)
    moment = as_time(now)
    return [
        check_vacuum(results.get("vacuum")),
        check_log_cleanup(results.get("pg_settings"), results.get("old_logs"), results.get("log_removal"), log_days,
                          bool(results.get("check_mode"))),
        check_accounts(results.get("admins"), results.get("disabled"), thresholds),
        check_api_keys(results.get("api_keys"), thresholds, moment),
        check_capacity(results.get("capacity"), results.get("history"), thresholds, capacity_limits, moment.timestamp()),
    ]


class FilterModule(object):
    """sark.ops monthly checklist filters."""

    def filters(self):
        return {"monthly_checks": monthly_checks, "vacuum_pair": vacuum_pair, "linear_forecast": linear_forecast,
                "capacity_history": capacity_history, "capacity_trends": capacity_trends}
