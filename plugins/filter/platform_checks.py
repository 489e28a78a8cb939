# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daily checklist's checks that only a sibling platform has (issue #15): its services' health, judged for what the
health endpoints prove, and the selection of the checklist's checks that exist on a platform (its profile's daily_checks)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import make_check

VERDICTS = {"healthy": "OK", "degraded": "WARNING", "unhealthy": "CRITICAL"}


def platform_health_check(result, title="Service health", runbook=""):
    """Filter: check platform_health from rsp_health_info (or another platform's health module with verdict/summary).

    healthy -> OK, degraded -> WARNING, unhealthy -> CRITICAL; the reason is the module's summary, which says when the
    health endpoints checked no dependency and no decision was tested. A missing, skipped or failed read is UNKNOWN."""
    if not result or not isinstance(result, dict):
        return make_check("platform_health", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    if result.get("skipped"):
        return make_check("platform_health", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    if result.get("failed") or "verdict" not in result:
        return make_check("platform_health", title, "UNKNOWN",
                          reason="could not be read: %s" % to_text(result.get("msg") or "the task failed")[:300], runbook=runbook)
    verdict = VERDICTS.get(result["verdict"], "UNKNOWN")
    services = result.get("services") or {}
    details = {"services": {name: {k: entry.get(k) for k in ("status", "route", "http_status", "note")}
                            for name, entry in services.items()},
               "verified": result.get("verified"), "dependencies_checked": result.get("dependencies_checked"),
               "decision": result.get("decision")}
    return make_check("platform_health", title, verdict, result["verdict"], "", "degraded is a warning, unhealthy critical",
                      to_text(result.get("summary") or result["verdict"]), details, runbook)


def platform_checks(checks, wanted):
    """Filter: the checks whose id is in wanted (a profile's daily_checks), in the checklist's order."""
    if not isinstance(checks, list) or not isinstance(wanted, (list, tuple)):
        raise AnsibleFilterError("platform_checks takes a list of checks and a list of check ids")
    return [c for c in checks if c.get("id") in wanted]


# --- AUDITRON (seed 004) ----------------------------------------------------------------------------------------

def _uri_status(result):
    """The HTTP status of a registered ansible.builtin.uri result (-1: no answer)."""
    try:
        return int(result.get("status", -1))
    except (TypeError, ValueError):
        return -1


def _service_entry(entry, result):
    status = _uri_status(result)
    body = result.get("json") if isinstance(result.get("json"), dict) else {}
    out = {"route": entry.get("path"), "http_status": status, "shape": entry.get("shape"), "status": None, "note": ""}
    if status == -1:
        out["status"] = "down"
        out["note"] = "no answer: %s" % to_text(result.get("msg") or "unreachable")[:200]
    elif entry.get("shape") == "auditron_detailed":
        if status in (401, 403):
            out["status"] = "unknown"
            out["note"] = "HTTP %d: the admin token was refused (auditron_token)" % status
        elif status == 404:
            out["status"] = "unknown"
            out["note"] = "HTTP 404: /health/detailed is not routed"
        else:
            checks = body.get("checks") if isinstance(body.get("checks"), dict) else {}
            out["status"] = to_text(body.get("status") or ("unhealthy" if status >= 500 else "unknown"))
            out["checks"] = dict((name, to_text((c or {}).get("status"))) for name, c in sorted(checks.items()))
            bad = ["%s %s" % (name, st) for name, st in out["checks"].items() if st != "up"]
            out["note"] = ", ".join(bad)
    else:
        ok = status == 200 and to_text(body.get("status")) == "ok"
        out["status"] = "up" if ok else "down"
        out["note"] = "checks no dependency" if ok else "HTTP %d" % status
    return out


def auditron_health_check(results, title="AUDITRON service health", runbook=""):
    """Filter: the platform_health check from the registered loop of ansible.builtin.uri over the profile's health
    entries (each result's item is the entry: name, path, shape).

    /health (auditron_plain) down -> CRITICAL (API down). /health/detailed (auditron_detailed): healthy OK, degraded
    WARNING, unhealthy CRITICAL, naming the checks not up; a refused token is UNKNOWN. With only /health (the code's
    layout routes nothing else) an answering API is OK and the reason says that it checks no dependency."""
    items = (results or {}).get("results") if isinstance(results, dict) else None
    if not items:
        return make_check("platform_health", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    services = {}
    for result in items:
        entry = result.get("item") or {}
        services[to_text(entry.get("name") or entry.get("path"))] = _service_entry(entry, result)
    down = [name for name, s in services.items() if s["status"] in ("down", "unhealthy")]
    degraded = [name for name, s in services.items() if s["status"] == "degraded"]
    unknown = [name for name, s in services.items() if s["status"] == "unknown"]
    detailed = [s for s in services.values() if s["shape"] == "auditron_detailed"]
    notes = ["%s %s (%s)" % (name, s["status"], s["note"]) if s["note"] else "%s %s" % (name, s["status"])
             for name, s in services.items()]
    if down:
        verdict, figure = "CRITICAL", "unhealthy"
    elif degraded:
        verdict, figure = "WARNING", "degraded"
    elif unknown and len(unknown) == len(services):
        verdict, figure = "UNKNOWN", "unknown"
    else:
        verdict, figure = "OK", "healthy"
    reason = "; ".join(notes)
    if not detailed:
        reason += "; no detailed health in this layout (database, Redis and queue are judged by their own checks)"
    elif unknown and verdict == "OK":
        verdict = "UNKNOWN"
    details = {"services": services, "dependencies_checked": any(s["status"] not in ("unknown",) for s in detailed)}
    return make_check("platform_health", title, verdict, figure, "", "degraded is a warning, unhealthy critical",
                      reason, details, runbook)


def auditron_queue_check(result, title="Job queue (agentic-jobs)", runbook=""):
    """Filter: the queue_backlog check from sark.ops.auditron_queue_info: WARNING (the seed's Queue Backlog alert is a
    warning) when the backlog is above the runbook's 100 jobs, the queue is paused, jobs failed or the dead-letter
    queue holds jobs; OK otherwise; a failed or skipped read UNKNOWN."""
    if not result or not isinstance(result, dict) or result.get("skipped"):
        return make_check("queue_backlog", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    if result.get("failed") or "counts" not in result:
        return make_check("queue_backlog", title, "UNKNOWN",
                          reason="could not be read: %s" % to_text(result.get("msg") or "the task failed")[:300], runbook=runbook)
    counts = result["counts"]
    backlog = result.get("backlog") or {}
    dead = (result.get("dead_letter") or {}).get("count") or 0
    problems = []
    if backlog.get("exceeded"):
        problems.append("backlog %d jobs above %d" % (backlog.get("jobs", 0), backlog.get("threshold", 0)))
    if result.get("paused"):
        problems.append("queue paused")
    if counts.get("failed"):
        problems.append("%d failed jobs" % counts["failed"])
    if dead:
        problems.append("%d jobs in the dead-letter queue" % dead)
    summary = "%d waiting, %d active, %d delayed, %d failed (via %s)" % (
        counts.get("waiting", 0), counts.get("active", 0), counts.get("delayed", 0), counts.get("failed", 0), result.get("via"))
    details = {"counts": counts, "backlog": backlog, "paused": result.get("paused"), "dead_letter": dead,
               "failed_jobs": [j.get("failed_reason") for j in (result.get("failed_jobs") or [])][:5]}
    return make_check("queue_backlog", title, "WARNING" if problems else "OK", backlog.get("jobs"), "jobs",
                      "backlog > %s jobs, paused, failed or dead-letter jobs: warning" % backlog.get("threshold", 100),
                      ("; ".join(problems) + " - " if problems else "") + summary, details, runbook)


class FilterModule(object):
    """sark.ops filters of the sibling platforms' checks."""

    def filters(self):
        return {"platform_health_check": platform_health_check, "platform_checks": platform_checks,
                "auditron_health_check": auditron_health_check, "auditron_queue_check": auditron_queue_check}
