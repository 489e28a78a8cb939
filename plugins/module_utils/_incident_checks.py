# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident diagnosis: from what the info modules read to the checks of seed 002's incident playbooks.

Every function takes the registered results of read-only modules and returns one check
``{id, title, verdict, figure, unit, threshold, reason, details, runbook}`` (the shared check shape);
``details.causes`` names the seed's causes found, in the seed's order, and ``details.fix`` the first fix
the remediate phase applies (``None``: nothing to remediate automatically). ``compare()`` decides whether
a remediate step improved a check. No I/O here: the role reads, this module judges.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

VERDICTS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_RANK = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
BAD_POD_REASONS = ("CrashLoopBackOff", "OOMKilled", "Error", "ImagePullBackOff", "ErrImagePull",
                   "CreateContainerConfigError", "RunContainerError")


class IncidentCheckError(ValueError):
    """The input is not what the check needs (a wrong register, a failed read)."""


def _check(check_id, title, verdict, figure, unit, threshold, reason, details, runbook):
    if verdict not in VERDICTS:
        raise IncidentCheckError("unknown verdict %r" % (verdict,))
    return {"id": check_id, "title": title, "verdict": verdict, "figure": figure, "unit": unit,
            "threshold": threshold, "reason": reason, "details": details, "runbook": runbook}


def _require(data, key, what):
    if not isinstance(data, dict) or key not in data:
        raise IncidentCheckError("%s: missing %r (pass the registered result of %s)" % (what, key, what))
    return data[key]


def db_connections(pg_info, idle, warning_ratio=0.8, critical_ratio=0.95):
    """Seed 002 playbook 4 (database outage): reachability, then too many connections.

    pg_info: sark_pg_info with the connections subset; idle: the terminate plan of the idle backends
    (sark_pg_backend state=terminate in check mode: ``matched``, ``backends``)."""
    runbook = "002 Playbook 4 (Database Outage)"
    title = "PostgreSQL connections"
    if not isinstance(pg_info, dict):
        raise IncidentCheckError("db_connections: pg_info must be the registered result of sark_pg_info")
    if not pg_info.get("is_available", False):
        return _check("db_connections", title, "CRITICAL", None, "connections", None,
                      "PostgreSQL does not answer: %s" % (pg_info.get("error") or pg_info.get("msg") or "unreachable"),
                      {"causes": ["database_unreachable"], "fix": None}, runbook)
    conns = _require(pg_info, "connections", "sark_pg_info (filter: connections)")
    total = int(conns["total"])
    maximum = int(conns["max_connections"])
    reserved = int(conns.get("superuser_reserved_connections") or 0)
    usable = max(maximum - reserved, 1)
    ratio = float(total) / usable
    matched = int((idle or {}).get("matched") or 0)
    idle_pids = sorted(b["pid"] for b in (idle or {}).get("backends") or [] if "pid" in b)
    details = {"total": total, "max_connections": maximum, "reserved": reserved, "usable": usable,
               "by_state": conns.get("by_state") or {}, "idle_terminable": matched, "idle_pids": idle_pids,
               "causes": [], "fix": None}
    threshold = int(usable * warning_ratio)
    if ratio >= critical_ratio:
        verdict = "CRITICAL"
    elif ratio >= warning_ratio:
        verdict = "WARNING"
    else:
        verdict = "OK"
    reason = "%d of %d usable connections in use (%.0f%%; warning at %.0f%%)" % (total, usable, ratio * 100, warning_ratio * 100)
    if verdict != "OK":
        details["causes"].append("too_many_connections")
        if matched:
            details["fix"] = "terminate_idle"
            reason += "; %d idle backends can be terminated" % matched
        else:
            reason += "; no idle backend matches the termination filter: raise max_connections (restart required)"
    return _check("db_connections", title, verdict, total, "connections", threshold, reason, details, runbook)


def _pod_bad(pod):
    last = pod.get("last_termination") or {}
    return pod.get("reason") in BAD_POD_REASONS or last.get("reason") == "OOMKilled"


def api_workload(workload_info, name):
    """Seed 002 playbook 1 (API completely down): pods, rollout history, crash reason."""
    runbook = "002 Playbook 1 (API Completely Down)"
    title = "API workload %s" % name
    workloads = _require(workload_info, "workloads", "sark_workload_info")
    found = [w for w in workloads if w.get("name") == name and w.get("kind", "Deployment") == "Deployment"]
    if not found:
        return _check("api_workload", title, "CRITICAL", 0, "ready replicas", None,
                      "Deployment %s not found" % name, {"causes": ["not_found"], "fix": None}, runbook)
    work = found[0]
    replicas = work.get("replicas") or {}
    desired = int(replicas.get("desired") or 0)
    ready = int(replicas.get("ready") or 0)
    pods = work.get("pods") or []
    bad = [p for p in pods if _pod_bad(p)]
    oom = [p for p in pods if (p.get("last_termination") or {}).get("reason") == "OOMKilled" or p.get("reason") == "OOMKilled"]
    revisions = work.get("revisions") or []
    current = str(work.get("revision") or "")
    previous = None
    for rev in revisions:
        if str(rev.get("revision")) != current:
            previous = rev
            break
    details = {"revision": current, "images": work.get("images") or [], "desired": desired, "ready": ready,
               "bad_pods": [{"name": p.get("name"), "reason": p.get("reason"), "restarts": p.get("restarts"),
                             "last_termination": p.get("last_termination")} for p in bad],
               "previous_revision": str(previous["revision"]) if previous else None,
               "previous_images": previous.get("images") if previous else None,
               "workload_reasons": work.get("reasons") or [], "causes": [], "fix": None}
    unhealthy = bool(bad) or ready < desired or work.get("verdict") == "CRITICAL"
    if not unhealthy:
        return _check("api_workload", title, "OK", ready, "ready replicas", desired,
                      "%d/%d replicas ready on revision %s" % (ready, desired, current), details, runbook)
    updated = int(replicas.get("updated") or 0)
    details["updated"] = updated
    reason = "%d/%d replicas ready, %d updated to the newest revision %s" % (ready, desired, updated, current)
    if bad:
        reason += "; %d pods failing (%s)" % (len(bad), ", ".join(sorted(set(str(p.get("reason")) for p in bad))))
    # the seed's causes in its order: 1 bad deployment, 3 out of memory (2 and 4 need people or other checks)
    if bad and previous is not None and not oom:
        details["causes"].append("bad_deployment")
        details["fix"] = "rollback"
        reason += "; the newest revision %s fails, revision %s before it: roll back" % (current, previous["revision"])
    if oom:
        details["causes"].append("out_of_memory")
        details["fix"] = details["fix"] or "raise_memory_limit"
        reason += "; OOMKilled: raise the memory limit"
    if not details["causes"]:
        details["causes"].append("not_ready")
    verdict = "CRITICAL" if ready == 0 or bad else "WARNING"
    return _check("api_workload", title, verdict, ready, "ready replicas", desired, reason, details, runbook)


def siem(breaker_info, queue_info):
    """Seed 002 playbook 5 (SIEM integration down): breaker state, failed events waiting."""
    runbook = "002 Playbook 5 (SIEM Integration Down)"
    title = "SIEM forwarding"
    breakers = _require(breaker_info, "breakers", "sark_siem_breaker_info")
    open_names = sorted(b["name"] for b in breakers if b.get("state") not in ("closed", None))
    queue_info = queue_info or {}
    not_in_layout = breaker_info.get("not_in_layout") or queue_info.get("not_in_layout")
    in_redis = bool(breaker_info.get("in_redis", True)) and bool(queue_info.get("in_redis", True)) and not not_in_layout
    failed = int((queue_info.get("failed_events") or {}).get("length") or 0)
    queued = int((queue_info.get("queue") or {}).get("length") or 0)
    details = {"open_breakers": open_names,
               "breakers": {b["name"]: {"state": b.get("state"), "failures": b.get("failures")} for b in breakers},
               "failed_events": failed, "queued_events": queued, "in_redis": in_redis, "causes": [], "fix": None}
    if not in_redis:
        details["causes"].append("breaker_in_process_memory")
        details["fix"] = None
        return _check("siem", title, "UNKNOWN", None, "open breakers", 0,
                      "%s: restart the SARK workers (sark_k8s restart)"
                      % (not_in_layout or "the layout keeps the breaker and queue in worker memory"), details, runbook)
    parts = []
    if open_names:
        details["causes"].append("circuit_breaker_open")
        details["fix"] = "reset_breaker"
        parts.append("breakers open: %s" % ", ".join(open_names))
    if failed:
        details["causes"].append("failed_events_waiting")
        details["fix"] = details["fix"] or "requeue_failed"
        parts.append("%d failed events waiting" % failed)
    verdict = "CRITICAL" if open_names else ("WARNING" if failed else "OK")
    reason = "; ".join(parts) if parts else "every breaker closed, no failed event waiting (%d queued)" % queued
    return _check("siem", title, verdict, len(open_names) + (1 if failed else 0), "problems", 0, reason, details, runbook)


def worst(checks):
    """The worst verdict of a list of checks (OK for none); UNKNOWN ranks above CRITICAL."""
    verdict = "OK"
    for check in checks or []:
        if _RANK.get(check.get("verdict"), 3) > _RANK[verdict]:
            verdict = check["verdict"] if check.get("verdict") in _RANK else "UNKNOWN"
    return verdict


def compare(before, after):
    """Did a remediate step improve a check? {improved, resolved, before, after, reason}.

    Improved: the verdict is better, or it is the same (not OK) and the figure moved towards the
    threshold (fewer connections, more ready replicas) - direction from the check's unit."""
    for name, check in (("before", before), ("after", after)):
        if not isinstance(check, dict) or "verdict" not in check:
            raise IncidentCheckError("compare: %s is not a check" % name)
    if before.get("id") != after.get("id"):
        raise IncidentCheckError("compare: checks differ (%s vs %s)" % (before.get("id"), after.get("id")))
    rank_b, rank_a = _RANK.get(before["verdict"], 3), _RANK.get(after["verdict"], 3)
    resolved = after["verdict"] == "OK"
    if rank_a < rank_b:
        improved = True
    elif rank_a > rank_b or resolved:
        improved = resolved and rank_b == 0
    else:
        fig_b, fig_a = before.get("figure"), after.get("figure")
        higher_is_better = after.get("unit") == "ready replicas"
        improved = (fig_b is not None and fig_a is not None
                    and ((fig_a > fig_b) if higher_is_better else (fig_a < fig_b)))
    reason = "%s: %s -> %s (%s -> %s %s)" % (
        after.get("title"), before["verdict"], after["verdict"], before.get("figure"), after.get("figure"), after.get("unit") or "")
    return {"improved": bool(improved), "resolved": resolved, "before": before["verdict"], "after": after["verdict"],
            "reason": reason}


SECURITY_ITEMS = ("evidence", "isolate", "sessions", "secret", "user", "server")
SECURITY_CAUSES = {"evidence": "evidence_not_preserved", "isolate": "not_isolated", "sessions": "active_sessions",
                   "secret": "secret_not_rotated", "user": "user_active", "server": "server_active"}
SECURITY_FIXES = {"evidence": "preserve_evidence", "isolate": "isolate", "sessions": "revoke_sessions",
                  "secret": "rotate_secret", "user": "disable_principal", "server": "disable_principal"}


def security(principal, evidence, sessions=None, isolation=None, secret=None, critical=None, items=SECURITY_ITEMS,
             evidence_waived=False, incident_id=None):
    """Seed 002 playbook 6 (security incident): what is still open of the containment of a compromised principal.

    principal: {user: the user record (sark_user_info) or None, user_name, server: the server record or None,
    server_name}; evidence: sark_evidence state=verified (``verification``) plus, optionally, its check-mode plan
    (``plan``: redis_keys, audit_events); sessions: sark_session_info scope=user; isolation: {name, present};
    secret: {name, rotated_for} (the annotation the rotation sets; never the value); critical: sark_audit_info's
    critical subset. items: the containment items this run applies (evidence always counts). The figure is the
    number of open items, in the seed's order: evidence first, then isolate, revoke sessions, rotate, disable."""
    runbook = "002 Playbook 6 (Security Incident)"
    principal = principal or {}
    items = [i for i in SECURITY_ITEMS if i in set(items or ()) | {"evidence"}]
    unknown = sorted(set(items) - set(SECURITY_ITEMS))
    if unknown:
        raise IncidentCheckError("security: unknown items %s" % ", ".join(unknown))
    user, server = principal.get("user"), principal.get("server")
    user_name, server_name = principal.get("user_name"), principal.get("server_name")
    if not user_name and not server_name:
        raise IncidentCheckError("security: name the compromised user or server")
    names = [n for n in (("user %s" % user_name) if user_name else "", ("server %s" % server_name) if server_name else "") if n]
    title = "Security incident: %s" % " and ".join(names)
    verification = (evidence or {}).get("verification") or {}
    plan = (evidence or {}).get("plan") or {}
    details = {"user": user, "server": server, "sessions": None, "evidence": verification, "evidence_waived": bool(evidence_waived),
               "evidence_plan": {"redis_keys": (plan.get("redis_keys") or {}).get("keys"),
                                 "audit_events": (plan.get("audit_events") or {}).get("events")},
               "isolation": isolation, "secret_rotated": None, "critical_events": None, "open": [], "causes": [], "fix": None}
    missing = [n for n, wanted, found in (("user %s" % user_name, user_name, user), ("server %s" % server_name, server_name, server))
               if wanted and not found]
    if missing:
        details["causes"].append("principal_not_found")
        return _check("security", title, "CRITICAL", None, "open items", 0,
                      "%s not found: check the name (nothing can be contained)" % " and ".join(missing), details, runbook)
    if critical is not None:
        crit = critical.get("critical") if isinstance(critical, dict) else None
        details["critical_events"] = (crit or {}).get("count") if isinstance(crit, dict) else None
    evidence_ok = bool(verification.get("ok")) or bool(evidence_waived)
    details["evidence_ok"] = evidence_ok
    open_items = []
    if not evidence_ok:
        open_items.append("evidence")
    if "isolate" in items and not (isolation or {}).get("present"):
        open_items.append("isolate")
    if "sessions" in items and user_name:
        count = int(_require(sessions, "user_sessions", "sark_session_info (scope: user)"))
        details["sessions"] = count
        if count:
            open_items.append("sessions")
    if "secret" in items:
        rotated = bool(incident_id) and (secret or {}).get("rotated_for") == incident_id
        details["secret_rotated"] = rotated
        if not rotated:
            open_items.append("secret")
    if "user" in items and user_name and user.get("is_active", True):
        open_items.append("user")
    if "server" in items and server_name and str(server.get("status") or "").lower() not in ("inactive", "decommissioned"):
        open_items.append("server")
    details["open"] = open_items
    for item in open_items:
        if SECURITY_CAUSES[item] not in details["causes"]:
            details["causes"].append(SECURITY_CAUSES[item])
    details["fix"] = SECURITY_FIXES[open_items[0]] if open_items else None
    active = [i for i in open_items if i in ("sessions", "user", "server")]
    verdict = "CRITICAL" if active else ("WARNING" if open_items else "OK")
    parts = []
    if "evidence" in open_items:
        parts.append("evidence not preserved yet (%s Redis keys, %s audit events to keep)"
                     % (details["evidence_plan"]["redis_keys"], details["evidence_plan"]["audit_events"])
                     if plan else "evidence not preserved yet")
    elif evidence_waived and not verification.get("ok"):
        parts.append("evidence NOT preserved (waived by force)")
    else:
        parts.append("evidence sealed (%d files verified)" % int(verification.get("files") or 0))
    if "isolate" in items:
        parts.append("isolated by NetworkPolicy %s" % (isolation or {}).get("name") if "isolate" not in open_items else "not isolated")
    if details["sessions"] is not None:
        parts.append("%d active sessions" % details["sessions"])
    if "secret" in items:
        parts.append("secret rotated" if "secret" not in open_items else "secret not rotated")
    if "user" in items and user_name:
        parts.append("user %s" % ("active" if "user" in open_items else "disabled"))
    if "server" in items and server_name:
        parts.append("server %s" % (server.get("status") or "active"))
    if details["critical_events"]:
        parts.append("%d CRITICAL audit events in the last hour" % details["critical_events"])
    reason = "; ".join(parts)
    return _check("security", title, verdict, len(open_items), "open items", 0, reason, details, runbook)
