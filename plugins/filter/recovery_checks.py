# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""recovery_checks: seed 002 Phase 6 "Recovery Verification" - the 8 checks, judged from the reads of the role.

Input: a dict of the module results the role registered (each may be missing: not checked), output: 8 checks of
the shared schema (plugins/filter/checks.py). A read that failed is never OK: an unreachable database or Redis is
CRITICAL (it is not healthy), an unreachable Prometheus is UNKNOWN (nothing is known about the figure).
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.checks import make_check

RUNBOOK = "002 Phase 6 Recovery Verification, check %d"
KEYS = ("health", "error_rate", "latency", "pods", "database", "redis", "siem", "user_validation")


def _failed(result):
    return isinstance(result, dict) and (result.get("failed") or result.get("is_available") is False)


def _message(result):
    return (result or {}).get("msg") or (result or {}).get("error") or "the read failed"


def _not_checked(number, check_id, title, why):
    return make_check(check_id, title, "UNKNOWN", reason="not checked: %s" % why, runbook=RUNBOOK % number)


def health_check(result):
    title = "Health checks pass (overall_healthy)"
    if result is None:
        return _not_checked(1, "health", title, "the SARK API check is turned off")
    if result.get("failed"):
        return make_check("health", title, "CRITICAL", reason="the health endpoint could not be read: %s" % _message(result),
                          runbook=RUNBOOK % 1)
    verdict = result.get("verdict")
    unhealthy = result.get("unhealthy_components") or []
    unknown = result.get("unknown_components") or []
    mapping = {"healthy": "OK", "degraded": "WARNING"}
    reason = "SARK reports %s" % verdict
    if unhealthy:
        reason += "; unhealthy: %s" % ", ".join(unhealthy)
    if unknown:
        reason += "; unknown: %s" % ", ".join(unknown)
    return make_check("health", title, mapping.get(verdict, "CRITICAL"), figure=verdict, threshold="healthy",
                      reason=reason, details={"unhealthy": unhealthy, "unknown": unknown}, runbook=RUNBOOK % 1)


def _query_check(number, check_id, title, result, preset, unit, threshold_text):
    if result is None:
        return _not_checked(number, check_id, title, "no Prometheus URL is set")
    if result.get("failed"):
        return make_check(check_id, title, "UNKNOWN", reason="Prometheus could not be read: %s" % _message(result),
                          runbook=RUNBOOK % number)
    query = (result.get("queries") or {}).get(preset)
    if not query:
        return make_check(check_id, title, "UNKNOWN", reason="the %s query was not run" % preset, runbook=RUNBOOK % number)
    verdict = {"ok": "OK", "breach": "CRITICAL"}.get(query.get("verdict"), "UNKNOWN")
    worst = query.get("worst")
    reason = {"OK": "worst %s %s, below %s" % (worst, unit, threshold_text),
              "CRITICAL": "worst %s %s, not below %s" % (worst, unit, threshold_text)}.get(
                  verdict, "no data for %s: the metric is not scraped" % query.get("expr"))
    return make_check(check_id, title, verdict, figure=worst, unit=unit, threshold="< %s" % threshold_text, reason=reason,
                      details={"expr": query.get("expr"), "samples": query.get("sample_count")}, runbook=RUNBOOK % number)


def pods_check(result):
    title = "All pods running (ready replicas = desired)"
    if result is None:
        return _not_checked(4, "pods", title, "the Kubernetes check is turned off")
    if result.get("failed"):
        return make_check("pods", title, "UNKNOWN", reason="the Kubernetes API could not be read: %s" % _message(result),
                          runbook=RUNBOOK % 4)
    workloads = result.get("workloads") or []
    if not workloads:
        return make_check("pods", title, "UNKNOWN", reason="no SARK workload found in the namespace", runbook=RUNBOOK % 4)
    desired = sum(int((w.get("replicas") or {}).get("desired") or 0) for w in workloads)
    ready = sum(int((w.get("replicas") or {}).get("ready") or 0) for w in workloads)
    bad = [w for w in workloads if w.get("verdict") != "OK"]
    verdict = "OK"
    if bad:
        verdict = "CRITICAL" if any(w.get("verdict") == "CRITICAL" for w in bad) else "WARNING"
    elif ready < desired:
        verdict = "CRITICAL"
    reasons = ["%s/%s: %s" % (w.get("kind"), w.get("name"), "; ".join(w.get("reasons") or [w.get("verdict") or "?"])) for w in bad]
    reason = "%d of %d replicas ready in %d workloads" % (ready, desired, len(workloads))
    if reasons:
        reason += "; " + "; ".join(reasons)
    return make_check("pods", title, verdict, figure=ready, unit="ready replicas", threshold="= %d desired" % desired,
                      reason=reason, details={"workloads": [{"kind": w.get("kind"), "name": w.get("name"), "verdict": w.get("verdict"),
                                                             "replicas": w.get("replicas")} for w in workloads]},
                      runbook=RUNBOOK % 4)


def _reachable_check(number, check_id, title, result, what, figure_key, unit):
    if result is None:
        return _not_checked(number, check_id, title, "the %s check is turned off" % what)
    if _failed(result):
        return make_check(check_id, title, "CRITICAL", reason="%s is not reachable: %s" % (what, _message(result)),
                          details={"error_kind": result.get("error_kind")}, runbook=RUNBOOK % number)
    figure = result.get(figure_key) if figure_key else None
    return make_check(check_id, title, "OK", figure=figure, unit=unit if figure is not None else "",
                      reason="%s answers" % what, runbook=RUNBOOK % number)


def siem_check(result, minimum):
    title = "SIEM forwarding (events forwarded in the window)"
    if result is None:
        return _not_checked(7, "siem", title, "no Prometheus URL is set")
    if result.get("failed"):
        return make_check("siem", title, "UNKNOWN", reason="Prometheus could not be read: %s" % _message(result), runbook=RUNBOOK % 7)
    query = (result.get("queries") or {}).get("custom") or {}
    samples = [s.get("value") for s in query.get("samples") or [] if s.get("value") is not None]
    if not samples:
        return make_check("siem", title, "UNKNOWN", reason="no data for %s: is the metric scraped?" % query.get("expr"),
                          details={"expr": query.get("expr")}, runbook=RUNBOOK % 7)
    forwarded = sum(samples)
    verdict = "OK" if forwarded >= minimum else "CRITICAL"
    return make_check("siem", title, verdict, figure=forwarded, unit="events", threshold=">= %s" % minimum,
                      reason="%s events forwarded in the window" % forwarded, details={"expr": query.get("expr")}, runbook=RUNBOOK % 7)


def user_check(validation):
    title = "User validation (a few users test key workflows)"
    if not validation:
        return make_check("user_validation", title, "UNKNOWN",
                          reason="a person must ask a few users to test key workflows, then set "
                                 "sark_recovery_verification_user_validation: {confirmed: true, by: <name>}", runbook=RUNBOOK % 8)
    if not isinstance(validation, dict) or not isinstance(validation.get("confirmed"), bool):
        raise AnsibleFilterError("recovery_checks: user_validation must be {confirmed: true|false, by: name, note: text}")
    by = validation.get("by") or "an unnamed person"
    note = validation.get("note") or ""
    if validation["confirmed"]:
        return make_check("user_validation", title, "OK", reason="confirmed by %s%s" % (by, ": " + note if note else ""),
                          details=dict(validation), runbook=RUNBOOK % 8)
    return make_check("user_validation", title, "CRITICAL", reason="users report problems (%s)%s" % (by, ": " + note if note else ""),
                      details=dict(validation), runbook=RUNBOOK % 8)


def recovery_checks(reads, siem_minimum=1):
    """The 8 checks of seed 002 Phase 6, in the seed's order."""
    if not isinstance(reads, dict):
        raise AnsibleFilterError("recovery_checks: expects a dict of reads, got %s" % type(reads).__name__)
    unknown = sorted(set(reads) - set(KEYS))
    if unknown:
        raise AnsibleFilterError("recovery_checks: unknown key(s) %s; known: %s" % (", ".join(unknown), ", ".join(KEYS)))
    return [
        health_check(reads.get("health")),
        _query_check(2, "error_rate", "Error rate normalized (5xx rate over 5 minutes)", reads.get("error_rate"), "error_rate_5m",
                     "per second", "0.001"),
        _query_check(3, "latency", "Latency normal (p95 over 5 minutes)", reads.get("latency"), "p95_latency_5m", "seconds", "0.2"),
        pods_check(reads.get("pods")),
        _reachable_check(5, "database", "Database healthy (SELECT 1)", reads.get("database"), "PostgreSQL", None, ""),
        _reachable_check(6, "redis", "Redis healthy (PING)", reads.get("redis"), "Redis", "ping_ms", "ms"),
        siem_check(reads.get("siem"), siem_minimum),
        user_check(reads.get("user_validation")),
    ]


def check_to_entry(check, phase="verify", run_id=None):
    """A check of the shared schema as a timeline entry of sark_incident_record (kind check, status = verdict)."""
    if not isinstance(check, dict) or not check.get("id") or not check.get("verdict"):
        raise AnsibleFilterError("check_to_entry: expects a check dict with id and verdict, got %r" % (check,))
    entry = {"phase": phase, "kind": "check", "action": check.get("title") or check["id"],
             "status": str(check["verdict"]).lower(),
             "result": {"figure": check.get("figure"), "unit": check.get("unit"), "threshold": check.get("threshold"),
                        "reason": check.get("reason")},
             "details": {"check_id": check["id"], "runbook": check.get("runbook")}}
    if run_id:
        entry["id"] = "%s-%s-%s" % (phase, check["id"], run_id)
    return entry


class FilterModule:
    def filters(self):
        return {"recovery_checks": recovery_checks, "check_to_entry": check_to_entry}
