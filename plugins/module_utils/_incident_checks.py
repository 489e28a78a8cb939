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

import datetime

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


def siem(breaker_info, queue_info, hec=None, workers_restarted=False):
    """Seed 002 playbook 5 (SIEM integration down): HEC token, breaker state, failed events waiting.

    hec: sark_siem_hec_info (optional; cause 1 token invalid, cause 2 unreachable, cause 4 rate limited - named, the
    fixes are a person's: a new token, a network policy, the batch size); workers_restarted: the sark_v2 workers were
    restarted and rolled out in this run (their in-process breakers start closed)."""
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
               "failed_events": failed, "queued_events": queued, "in_redis": in_redis, "hec": None,
               "workers_restarted": bool(workers_restarted), "causes": [], "fix": None}
    parts = []
    hec_bad = False
    if isinstance(hec, dict) and hec.get("verdict"):
        details["hec"] = {"verdict": hec["verdict"], "status": hec.get("status"), "code": hec.get("code"),
                          "text": hec.get("text")}
        cause = {"auth_failed": "hec_token_invalid", "unreachable": "siem_unreachable", "rate_limited": "rate_limited",
                 "error": "siem_unreachable"}.get(hec["verdict"])
        if cause:
            hec_bad = True
            details["causes"].append(cause)
            parts.append({"hec_token_invalid": "HEC refused the token (HTTP %s, code %s): replace splunk_hec_token in the "
                                               "SIEM secret, then restart SARK",
                          "siem_unreachable": "the SIEM does not answer (HTTP %s, code %s): check egress, network "
                                              "policies and the firewall",
                          "rate_limited": "the SIEM rate-limits SARK (HTTP %s, code %s): raise SIEM_BATCH_SIZE and "
                                          "SIEM_BATCH_TIMEOUT_SECONDS"}[cause] % (hec.get("status"), hec.get("code")))
    if not in_redis:
        if workers_restarted:
            reason = "; ".join(parts + ["the SARK workers were restarted and rolled out: their in-process breakers "
                                        "and queues start empty and closed"])
            return _check("siem", title, "CRITICAL" if hec_bad else "OK", 1 if hec_bad else 0, "problems", 0, reason,
                          details, runbook)
        details["causes"].append("breaker_in_process_memory")
        details["fix"] = "restart_workers"
        reason = "; ".join(parts + ["%s: restart the SARK workers (sark_k8s restart)"
                                    % (not_in_layout or "the layout keeps the breaker and queue in worker memory")])
        return _check("siem", title, "CRITICAL" if hec_bad else "UNKNOWN", 2 if hec_bad else 1, "problems", 0, reason,
                      details, runbook)
    if open_names:
        details["causes"].append("circuit_breaker_open")
        details["fix"] = "reset_breaker"
        parts.append("breakers open: %s" % ", ".join(open_names))
    if failed:
        details["causes"].append("failed_events_waiting")
        details["fix"] = details["fix"] or "requeue_failed"
        parts.append("%d failed events waiting" % failed)
    verdict = "CRITICAL" if open_names or hec_bad else ("WARNING" if failed else "OK")
    reason = "; ".join(parts) if parts else "every breaker closed, no failed event waiting (%d queued)" % queued
    figure = len(open_names) + (1 if failed else 0) + (1 if hec_bad else 0)
    return _check("siem", title, verdict, figure, "problems", 0, reason, details, runbook)


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


# --- h13b: policy evaluation failure (seed 001 incident 1) and audit events not recording (seed 001 incident 4) ---

def _decision_allow(decision):
    """SARK's reading of a registered sark_opa_decision_info result: True, False, or None (the test could not run)."""
    if not isinstance(decision, dict) or decision.get("failed"):
        return None
    sark = decision.get("sark_decision")
    if not isinstance(sark, dict):
        return None
    return bool(sark.get("allow"))


def opa_policies(policy_info, expected, tests, decisions, workload=None, cache=None, health=None):
    """Seed 001 incident 1 (policy evaluation failure) and 002 playbook 2 cause 3: OPA health, loaded policies, decision test.

    policy_info: sark_opa_policy_info (list); expected: [{id, sha256, src}] (the good policy files);
    tests: [{name, input, expect_allow}] and decisions: the sark_opa_decision_info result of each, in order;
    workload: sark_workload_info of the OPA Deployment (optional); cache: sark_cache target=decisions in check
    mode (``matched``); health: sark_health (SARK's view of OPA, ``components.opa``)."""
    runbook = "001 Incident 1 (Policy Evaluation Failure)"
    title = "OPA policy evaluation"
    if not isinstance(expected, list) or not isinstance(tests, list):
        raise IncidentCheckError("opa_policies: expected and tests must be lists")
    decisions = list(decisions or [])
    if len(decisions) != len(tests):
        raise IncidentCheckError("opa_policies: %d decision results for %d tests" % (len(decisions), len(tests)))
    details = {"opa_reachable": True, "pods": None, "changed_policies": [], "missing_policies": [],
               "extra_policies": [], "policies": {}, "failed_tests": [], "tests": [],
               "cached_decisions": None, "sark_view": None, "causes": [], "fix": None}
    if isinstance(cache, dict) and not cache.get("failed") and "matched" in cache:
        details["cached_decisions"] = int(cache["matched"])
    if isinstance(health, dict) and not health.get("failed"):
        component = (health.get("components") or {}).get("opa") or {}
        details["sark_view"] = {"status": component.get("status"), "healthy": component.get("healthy"),
                                "verdict": health.get("verdict")}
    pods_bad = False
    if isinstance(workload, dict) and not workload.get("failed") and workload.get("workloads"):
        work = workload["workloads"][0]
        replicas = work.get("replicas") or {}
        ready, desired = int(replicas.get("ready") or 0), int(replicas.get("desired") or 0)
        details["pods"] = {"name": work.get("name"), "ready": ready, "desired": desired, "verdict": work.get("verdict"),
                           "reasons": work.get("reasons") or []}
        pods_bad = ready < desired or work.get("verdict") == "CRITICAL"
    if not isinstance(policy_info, dict) or policy_info.get("failed") or "policies" not in policy_info:
        details["opa_reachable"] = False
        details["causes"].append("opa_pods_down" if pods_bad else "opa_unreachable")
        error = (policy_info or {}).get("msg") if isinstance(policy_info, dict) else None
        reason = "OPA does not answer GET /v1/policies (%s)" % (error or "no result")
        if pods_bad:
            reason += "; OPA pods %d/%d ready: scale deploy/opa (seed 001 recovery 1)" % (
                details["pods"]["ready"], details["pods"]["desired"])
        return _check("opa_policies", title, "CRITICAL", len(tests), "failed decision tests", 0, reason, details, runbook)
    loaded = {p["id"]: p.get("sha256") for p in policy_info["policies"]}
    details["policies"] = loaded
    wanted = {}
    for item in expected:
        if not isinstance(item, dict) or not item.get("id") or not item.get("sha256"):
            raise IncidentCheckError("opa_policies: every expected policy needs id and sha256 (got %r)" % (item,))
        wanted[item["id"]] = item["sha256"]
        if item["id"] not in loaded:
            details["missing_policies"].append(item["id"])
        elif loaded[item["id"]] != item["sha256"]:
            details["changed_policies"].append(item["id"])
    details["extra_policies"] = sorted(set(loaded) - set(wanted))
    for test, decision in zip(tests, decisions):
        got = _decision_allow(decision)
        expect = bool(test.get("expect_allow"))
        sark = (decision or {}).get("sark_decision") or {} if isinstance(decision, dict) else {}
        row = {"name": test.get("name"), "expect_allow": expect, "allow": got, "shape": sark.get("shape"),
               "passed": got is not None and got == expect,
               "error": decision.get("msg") if isinstance(decision, dict) and decision.get("failed") else None}
        details["tests"].append(row)
        if not row["passed"]:
            details["failed_tests"].append(row["name"])
    drift = details["changed_policies"] + details["missing_policies"]
    failed = len(details["failed_tests"])
    parts = []
    if drift:
        parts.append("policies differ from the good files: %s" % ", ".join(
            ["%s (checksum changed)" % p for p in details["changed_policies"]]
            + ["%s (not loaded)" % p for p in details["missing_policies"]]))
    if failed:
        described = []
        for test in details["tests"]:
            if test["passed"]:
                continue
            got = "error" if test["allow"] is None else ("allow" if test["allow"] else "deny")
            described.append("%s: expected %s, SARK reads %s%s" % (
                test["name"], "allow" if test["expect_allow"] else "deny", got,
                " (%s result)" % test["shape"] if test["shape"] else ""))
        parts.append("%d of %d decision tests fail (%s)" % (failed, len(tests), ", ".join(described)))
    if pods_bad:
        details["causes"].append("opa_pods_down")
        parts.append("OPA pods %d/%d ready" % (details["pods"]["ready"], details["pods"]["desired"]))
    if drift:
        details["causes"].append("policy_changed")
        details["fix"] = "rollback_policy"
    if failed and not drift:
        details["causes"].append("decision_test_failed")
        parts.append("the loaded policies match the good files: the good files or the tests are wrong (no rollback)")
    if details["cached_decisions"]:
        parts.append("%d cached decisions (cleared after a rollback)" % details["cached_decisions"])
    verdict = "CRITICAL" if failed or pods_bad else ("WARNING" if drift else "OK")
    reason = "; ".join(parts) if parts else "%d policies match the good files, %d of %d decision tests pass" % (
        len(wanted), len(tests), len(tests))
    return _check("opa_policies", title, verdict, failed, "failed decision tests", 0, reason, details, runbook)


def _parse_time(text):
    if text is None:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    if " " in value and "T" not in value:
        value = value.replace(" ", "T", 1)
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise IncidentCheckError("not an ISO 8601 time: %r" % (text,)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def audit_gap(audit_info, now, logs=None, siem_queue=None, pg_info=None, audit_database="sark_audit", stale_minutes=60,
              max_db_bytes=0, log_pattern="audit_batch failed"):
    """Seed 001 incident 4 (audit events not recording): gaps per hour, the newest event's age, disk, batch processing.

    audit_info: sark_audit_info with events_per_hour and storage; now: the controller's UTC time (ISO 8601);
    logs: the audit writer's log lines (k8s_log ``log_lines``), searched for ``log_pattern``; siem_queue:
    sark_siem_queue_info (the SIEM path, reported); pg_info: sark_pg_info with the databases subset (PostgreSQL
    reachable, the size of ``audit_database``, judged against max_db_bytes when that is set). Events that stopped arriving (the newest older than
    stale_minutes) are CRITICAL with the fix ``restart_writer``; closed hours without events are gaps (WARNING:
    the lost hours cannot be brought back by the playbook; they belong in the incident report)."""
    runbook = "001 Incident 4 (Audit Events Not Recording)"
    title = "Audit events"
    if stale_minutes <= 0:
        raise IncidentCheckError("audit_gap: stale_minutes must be positive")
    details = {"db_reachable": True, "gaps": [], "gap_hours": 0, "newest_event": None, "newest_epoch": None,
               "minutes_since_newest": None,
               "current_hour_so_far": None, "size_bytes": None, "database_size_bytes": None, "batch_failures": 0, "batch_failure_lines": [],
               "siem_queue": None, "causes": [], "fix": None}
    if isinstance(siem_queue, dict) and not siem_queue.get("failed"):
        details["siem_queue"] = {"queued": (siem_queue.get("queue") or {}).get("length"),
                                 "failed": (siem_queue.get("failed_events") or {}).get("length"),
                                 "in_redis": siem_queue.get("in_redis", True)}
    if isinstance(pg_info, dict) and pg_info.get("is_available"):
        for database in pg_info.get("databases") or []:
            if database.get("name") == audit_database:
                details["database_size_bytes"] = database.get("size_bytes")
    lines = [str(line) for line in (logs or []) if log_pattern and log_pattern in str(line)]
    details["batch_failures"] = len(lines)
    details["batch_failure_lines"] = lines[-5:]
    if isinstance(pg_info, dict) and pg_info.get("is_available") is False:
        details["db_reachable"] = False
        details["causes"].append("audit_db_unreachable")
        return _check("audit_gap", title, "CRITICAL", None, "minutes since the newest event", stale_minutes,
                      "PostgreSQL does not answer: %s (check the TimescaleDB pod and its disk)"
                      % (pg_info.get("error") or "unreachable"), details, runbook)
    if not isinstance(audit_info, dict) or audit_info.get("failed") or "events_per_hour" not in audit_info:
        details["db_reachable"] = False
        details["causes"].append("audit_db_unreachable")
        return _check("audit_gap", title, "CRITICAL", None, "minutes since the newest event", stale_minutes,
                      "the audit database does not answer: %s (check the TimescaleDB pod and its disk)"
                      % ((audit_info or {}).get("msg") if isinstance(audit_info, dict) else "no result"), details, runbook)
    hours = audit_info["events_per_hour"]
    store = audit_info.get("storage") or {}
    details["gaps"] = list(hours.get("gaps") or [])
    details["gap_hours"] = len(details["gaps"])
    details["current_hour_so_far"] = hours.get("current_hour_so_far")
    details["size_bytes"] = store.get("size_bytes")
    newest = _parse_time(store.get("newest"))
    moment = _parse_time(now)
    if moment is None:
        raise IncidentCheckError("audit_gap: now is required")
    parts = []
    minutes = None
    if newest is not None:
        details["newest_event"] = newest.isoformat()
        details["newest_epoch"] = newest.timestamp()
        minutes = max(int((moment - newest).total_seconds() // 60), 0)
        details["minutes_since_newest"] = minutes
    stale = newest is None or minutes >= stale_minutes
    if stale:
        details["causes"].append("events_not_arriving")
        details["fix"] = "restart_writer"
        since = "ever" if newest is None else "for %d minutes (since %s; threshold %d)" % (
            minutes, newest.isoformat(), stale_minutes)
        parts.append("no audit event recorded %s" % since)
    if details["batch_failures"]:
        details["causes"].append("batch_failures")
        parts.append("%d '%s' lines in the writer's log" % (details["batch_failures"], log_pattern))
    size = details["database_size_bytes"] if details["database_size_bytes"] is not None else details["size_bytes"]
    if max_db_bytes and size is not None and int(size) >= int(max_db_bytes):
        details["causes"].append("disk_full")
        parts.append("the audit database holds %d bytes (limit %d): extend the PVC or enable compression"
                     % (int(size), int(max_db_bytes)))
    if details["gaps"]:
        details["causes"].append("audit_gaps")
        parts.append("%d of the last %s hours have no events: %s (lost; record them in the incident report)"
                     % (details["gap_hours"], hours.get("window_hours"), ", ".join(details["gaps"])))
    if stale or "disk_full" in details["causes"]:
        verdict = "CRITICAL"
    elif details["gaps"] or details["batch_failures"]:
        verdict = "WARNING"
    else:
        verdict = "OK"
    reason = "; ".join(parts) if parts else "events arriving (newest %s minutes ago), no gap in the last %s hours" % (
        minutes, hours.get("window_hours"))
    figure = minutes if minutes is not None else None
    return _check("audit_gap", title, verdict, figure, "minutes since the newest event", stale_minutes, reason, details, runbook)
