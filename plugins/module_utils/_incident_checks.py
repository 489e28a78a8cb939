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


DISK_FULL_MARKERS = ("no space left on device", "could not extend file", "disk full", "could not write to file")


def _database_names(databases):
    """The names of a sark_pg_info result with the databases subset (None: not read)."""
    if not isinstance(databases, dict) or not databases.get("is_available", False) or "databases" not in databases:
        return None
    return sorted(d.get("name") for d in databases["databases"] or [] if d.get("name"))


def db_connections(pg_info, idle, warning_ratio=0.8, critical_ratio=0.95, databases=None, database=None, setting=None,
                   max_connections_target=200):
    """Seed 002 playbook 4 (database outage): reachability and disk full, the database itself, then too many connections.

    pg_info: sark_pg_info with the connections subset; idle: the terminate plan of the idle backends
    (sark_pg_backend state=terminate in check mode: ``matched``, ``backends``); databases: sark_pg_info with the
    databases subset read from the maintenance database and database: the name SARK uses - missing there, cause 4
    (the data is gone: restore from the last verified backup, never automatically); setting: the row of pg_settings
    for max_connections (``setting``, ``pending_restart``) - cause 3 when no idle backend can be terminated: raise
    max_connections to max_connections_target (ALTER SYSTEM, restart required)."""
    runbook = "002 Playbook 4 (Database Outage)"
    title = "PostgreSQL connections"
    if not isinstance(pg_info, dict):
        raise IncidentCheckError("db_connections: pg_info must be the registered result of sark_pg_info")
    if not pg_info.get("is_available", False):
        error = str(pg_info.get("error") or pg_info.get("msg") or "unreachable")
        if any(marker in error.lower() for marker in DISK_FULL_MARKERS):
            return _check("db_connections", title, "CRITICAL", None, "connections", None,
                          "PostgreSQL fails on a full disk: %s; free space (VACUUM FULL) or expand the volume "
                          "(kubectl edit pvc postgres-data-postgres-0), then restart the pod" % error,
                          {"causes": ["disk_full"], "fix": None}, runbook)
        return _check("db_connections", title, "CRITICAL", None, "connections", None,
                      "PostgreSQL does not answer: %s" % error,
                      {"causes": ["database_unreachable"], "fix": None}, runbook)
    conns = _require(pg_info, "connections", "sark_pg_info (filter: connections)")
    total = int(conns["total"])
    maximum = int(conns["max_connections"])
    reserved = int(conns.get("superuser_reserved_connections") or 0)
    usable = max(maximum - reserved, 1)
    ratio = float(total) / usable
    matched = int((idle or {}).get("matched") or 0)
    idle_pids = sorted(b["pid"] for b in (idle or {}).get("backends") or [] if "pid" in b)
    target = int(max_connections_target)
    pending = bool((setting or {}).get("pending_restart")) if isinstance(setting, dict) else False
    details = {"total": total, "max_connections": maximum, "reserved": reserved, "usable": usable,
               "by_state": conns.get("by_state") or {}, "idle_terminable": matched, "idle_pids": idle_pids,
               "max_connections_target": target, "pending_restart": pending,
               "database": database, "database_exists": None, "causes": [], "fix": None}
    names = _database_names(databases)
    if database and names is not None:
        details["database_exists"] = database in names
        if database not in names:
            details["causes"].append("database_missing")
            details["fix"] = "restore_backup"
            return _check("db_connections", title, "CRITICAL", total, "connections", int(usable * warning_ratio),
                          "the database %s is missing on the server (found: %s): restore it from the last verified "
                          "backup - LAST RESORT, data since that backup is lost; needs an explicit confirmation"
                          % (database, ", ".join(names) or "none"), details, runbook)
    threshold = int(usable * warning_ratio)
    if ratio >= critical_ratio:
        verdict = "CRITICAL"
    elif ratio >= warning_ratio:
        verdict = "WARNING"
    else:
        verdict = "OK"
    reason = "%d of %d usable connections in use (%.0f%%; warning at %.0f%%)" % (total, usable, ratio * 100, warning_ratio * 100)
    if pending:
        reason += "; a changed max_connections waits for a restart"
    if verdict != "OK":
        details["causes"].append("too_many_connections")
        if matched:
            details["causes"].append("idle_sessions")
            details["fix"] = "terminate_idle"
            reason += "; %d idle backends can be terminated" % matched
        elif maximum < target:
            details["causes"].append("connections_at_limit")
            details["fix"] = "raise_max_connections"
            reason += ("; no idle backend matches the termination filter: raise max_connections %d -> %d "
                       "(ALTER SYSTEM, restart required)" % (maximum, target))
        else:
            reason += ("; no idle backend matches the termination filter and max_connections is already %d "
                       "(target %d): find the client holding them (seed 001: scale the API down, check its pool)"
                       % (maximum, target))
    return _check("db_connections", title, verdict, total, "connections", threshold, reason, details, runbook)


# --- db_outage: the database pod (002 playbook 4 check 1 and causes 1-2; 001 database connection failure) ----------

DB_LOG_PATTERN = "FATAL|PANIC|ERROR|No space left|out of memory|could not write|too many clients"


def _log_findings(logs, previous):
    """(matched lines, disk-full lines) of the current or previous reads of a sark_k8s logs result (None: not read)."""
    matches = [line for pod in (logs or {}).get("pods") or [] if bool(pod.get("previous")) == previous
               for line in pod.get("matches") or []]
    return matches, [line for line in matches if any(marker in line.lower() for marker in DISK_FULL_MARKERS)]


def db_memory_plan(current, target="8Gi"):
    """The OOMKilled database container's new memory limit: the seed's `--limits=memory=8Gi` (target), only upwards."""
    from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import parse_quantity  # pylint: disable=import-outside-toplevel
    want = parse_quantity(target)
    if not want:
        raise IncidentCheckError("the database memory limit target %r is not a Kubernetes quantity" % (target,))
    have = parse_quantity(current)
    if have and have >= want:
        return {"current": current, "raised": None,
                "reason": "the limit %s is already at or above %s (sark_incident_db_memory_limit)" % (current, target)}
    return {"current": current, "raised": target, "reason": None}


def db_pod(workload_info, pod_name, logs=None, memory_target="8Gi", claim_template="postgres-data"):
    """What the database pod says (kubectl get pod / describe pod / logs / logs --previous): {causes, fix, pod, findings}
    in the seed's order - cause 1 the pod crashed (OOMKilled: raise the StatefulSet's memory limit; otherwise restart
    the pod, 001 recovery 1), cause 2 the disk is full (a log line says so: expand the volume, restart the pod).
    logs: the sark.ops.sark_k8s logs result of the pod (its reads of the running and the previous container)."""
    workloads = _require(workload_info, "workloads", "sark_workload_info")
    pods = [p for w in workloads for p in w.get("pods") or [] if p.get("name") == pod_name]
    out = {"pod": pod_name, "found": bool(pods), "ready": None, "reason": None, "restarts": 0, "last_termination": None,
           "memory": None, "log_lines": [], "previous_log_lines": [], "disk_full_lines": [], "events": [],
           "statefulset": None, "claim": None, "causes": [], "fix": None, "reasons": []}
    if not pods:
        out["causes"].append("db_pod_missing")
        out["reasons"].append("pod %s not found" % pod_name)
        return out
    pod = pods[0]
    owner = [w for w in workloads if pod in (w.get("pods") or [])][0]
    out.update(ready=bool(pod.get("ready")), reason=pod.get("reason"), restarts=int(pod.get("restarts") or 0),
               last_termination=pod.get("last_termination"), statefulset=owner.get("name"),
               claim="%s-%s" % (claim_template, pod_name) if claim_template else None,
               events=["%s: %s" % (e.get("reason"), e.get("message")) for e in owner.get("warning_events") or []
                       if e.get("object") == "Pod/%s" % pod_name][:5])
    current, disk = _log_findings(logs, False)
    previous, disk_prev = _log_findings(logs, True)
    out.update(log_lines=current, previous_log_lines=previous, disk_full_lines=(disk_prev + disk)[:5])
    last = pod.get("last_termination") or {}
    oom = pod.get("reason") == "OOMKilled" or last.get("reason") == "OOMKilled"
    if oom:
        container = last.get("container") or ((pod.get("containers") or [{}])[0]).get("name")
        limits = [(c.get("limits") or {}).get("memory") for c in pod.get("containers") or [] if c.get("name") == container]
        plan = db_memory_plan(limits[0] if limits else None, memory_target)
        plan["container"] = container
        out["memory"] = plan
        if plan["raised"]:
            out["causes"].append("db_out_of_memory")
            out["fix"] = "raise_db_memory_limit"
            out["reasons"].append("pod %s was OOMKilled (%d restarts): raise the memory limit of statefulset %s from %s to %s"
                                  % (pod_name, out["restarts"], owner.get("name"), plan["current"], plan["raised"]))
        else:
            out["causes"].append("db_out_of_memory_at_limit")
            out["reasons"].append("pod %s was OOMKilled - not automated: %s" % (pod_name, plan["reason"]))
    if out["disk_full_lines"]:
        out["causes"].append("disk_full")
        out["fix"] = out["fix"] or "expand_db_volume"
        out["reasons"].append("the disk is full (log: %s): expand the volume %s, then restart the pod"
                              % (out["disk_full_lines"][0], out["claim"]))
    if not out["causes"] and (not out["ready"] or pod.get("reason") in BAD_POD_REASONS):
        out["causes"].append("db_pod_failing")
        out["fix"] = "restart_db_pod"
        out["reasons"].append("pod %s is not ready (%s, %d restarts%s): restart it (kubectl delete pod)"
                              % (pod_name, pod.get("reason") or pod.get("phase"), out["restarts"],
                                 ("; last log line: %s" % (previous or current)[-1]) if (previous or current) else ""))
    return out


def db_outage(pg_info, idle, pod=None, **kwargs):
    """db_connections plus the database pod (db_pod's result): the pod's causes come first (the seed's cause 1 and 2
    before cause 3), its fix before the connections' fix, and a failing pod makes the check CRITICAL."""
    check = db_connections(pg_info, idle, **kwargs)
    if not pod:
        return check
    details = check["details"]
    details["pod"] = pod
    if not pod["causes"]:
        check["reason"] += "; pod %s ready, %d restarts" % (pod["pod"], pod["restarts"])
        return check
    causes = [c for c in pod["causes"] if c not in details["causes"]]
    details["causes"] = causes + details["causes"]
    details["fix"] = pod["fix"] or details["fix"]
    check["verdict"] = "CRITICAL" if _RANK.get(check["verdict"], 3) < _RANK["CRITICAL"] else check["verdict"]
    check["reason"] = "; ".join(pod["reasons"] + [check["reason"]])
    return check


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


SIEM_BATCH_SETTINGS = ("SIEM_BATCH_SIZE", "SIEM_BATCH_TIMEOUT_SECONDS")
SIEM_BATCH_DEFAULTS = {"SIEM_BATCH_SIZE": 100, "SIEM_BATCH_TIMEOUT_SECONDS": 5}   # the seed's "increase from"


def _int_or(value, default):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def siem_batch(deployment, configmaps, size_target=200, timeout_target=10):
    """Seed 002 playbook 5 cause 4: where SIEM_BATCH_SIZE / SIEM_BATCH_TIMEOUT_SECONDS live and whether they are below
    the targets. A setting not set anywhere is written where the pods read their config (the ConfigMap of envFrom,
    the seed's sark-config), else as a literal env of the first container. None without a Deployment."""
    if not isinstance(deployment, dict) or not deployment:
        return None
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    fallback = {"where": None, "configmap": None, "container": containers[0].get("name") if containers else None}
    for container in containers:
        for item in container.get("envFrom") or []:
            ref = (item.get("configMapRef") or {}).get("name")
            if ref:
                fallback = {"where": "configmap", "configmap": ref, "container": container.get("name")}
                break
        if fallback["where"]:
            break
    if not fallback["where"] and fallback["container"]:
        fallback["where"] = "env"
    out = {"settings": [], "below_target": False}
    for name, target in zip(SIEM_BATCH_SETTINGS, (int(size_target), int(timeout_target))):
        found = cache_ttl_setting(deployment, configmaps, name)
        if not found["where"]:
            found.update(where=fallback["where"], configmap=fallback["configmap"], container=fallback["container"])
            found["set"] = False
        else:
            found["set"] = True
        current = _int_or(found["value"], SIEM_BATCH_DEFAULTS[name])
        found.update(current=current, target=target, below=current < target)
        out["below_target"] = out["below_target"] or found["below"]
        out["settings"].append(found)
    return out


def siem(breaker_info, queue_info, hec=None, workers_restarted=False, batch=None):
    """Seed 002 playbook 5 (SIEM integration down): HEC token, breaker state, failed events waiting.

    hec: sark_siem_hec_info (optional; cause 1 token invalid, cause 2 unreachable, cause 4 rate limited - named, the
    fixes are a person's: a new token, a network policy, the batch size); workers_restarted: the sark_v2 workers were
    restarted and rolled out in this run (their in-process breakers start closed); batch: siem_batch() - with a
    rate-limited HEC and the batch settings below their targets the fix is tune_batch_size (cause 4); with them
    at their targets a rate limit left is a WARNING for the SIEM's owner (a higher quota), not a fix of ours."""
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
               "workers_restarted": bool(workers_restarted), "batch": batch, "causes": [], "fix": None}
    parts = []
    hec_bad = False
    rate_limited_tuned = False
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
            if cause == "rate_limited" and isinstance(batch, dict):
                if batch.get("below_target"):
                    details["batch_fix"] = "tune_batch_size"
                    details["causes"].append("batch_too_small")
                    parts[-1] += " (%s)" % ", ".join("%s %s -> %s" % (b["name"], b["current"], b["target"])
                                                     for b in batch["settings"] if b["below"])
                else:
                    rate_limited_tuned = True
                    hec_bad = False
                    parts[-1] = ("the SIEM still rate-limits SARK (HTTP %s) with the batch settings at their targets (%s): "
                                 "ask the SIEM's owner for a higher quota" % (hec.get("status"), ", ".join(
                                     "%s=%s" % (b["name"], b["current"]) for b in batch["settings"])))
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
    if details.get("batch_fix"):
        details["fix"] = details["fix"] or details["batch_fix"]
    verdict = "CRITICAL" if open_names or hec_bad else ("WARNING" if failed or rate_limited_tuned else "OK")
    reason = "; ".join(parts) if parts else "every breaker closed, no failed event waiting (%d queued)" % queued
    figure = len(open_names) + (1 if failed else 0) + (1 if hec_bad or rate_limited_tuned else 0)
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
               "evidence_plan": {"redis_keys": (plan.get("redis_keys") or {}).get("count"),
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


# --- shared: objects a pod template references, pods that started before their last change ----------------------

def _parse_time(value):
    import datetime  # pylint: disable=import-outside-toplevel
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise IncidentCheckError("not an RFC 3339 time: %r" % (value,))


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def template_references(deployment):
    """The ConfigMaps and Secrets a Deployment's pod template reads: {('ConfigMap'|'Secret', name)}."""
    spec = ((deployment or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    refs = set()
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for item in container.get("env") or []:
            source = item.get("valueFrom") or {}
            if (source.get("secretKeyRef") or {}).get("name"):
                refs.add(("Secret", source["secretKeyRef"]["name"]))
            if (source.get("configMapKeyRef") or {}).get("name"):
                refs.add(("ConfigMap", source["configMapKeyRef"]["name"]))
        for item in container.get("envFrom") or []:
            if (item.get("secretRef") or {}).get("name"):
                refs.add(("Secret", item["secretRef"]["name"]))
            if (item.get("configMapRef") or {}).get("name"):
                refs.add(("ConfigMap", item["configMapRef"]["name"]))
    for volume in spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName"):
            refs.add(("Secret", volume["secret"]["secretName"]))
        if (volume.get("configMap") or {}).get("name"):
            refs.add(("ConfigMap", volume["configMap"]["name"]))
    return refs


def last_changed(obj):
    """When an object was last written: the newest managedFields time (the API server stamps one per manager
    and write), else its creationTimestamp. Status-subresource entries do not count."""
    meta = (obj or {}).get("metadata") or {}
    times = [_parse_time(m.get("time")) for m in meta.get("managedFields") or []
             if m.get("time") and m.get("subresource") != "status"]
    times = [t for t in times if t is not None]
    if times:
        return max(times), "managedFields"
    return _parse_time(meta.get("creationTimestamp")), "creationTimestamp"


def stale_pods(deployment, pods, objects):
    """Pods started before the last change of a ConfigMap/Secret their template reads (env is read at start):
    [{kind, name, changed_at, changed_from, pods: [names]}], the newest change first. No value is read."""
    refs = template_references(deployment)
    started = []
    for pod in pods or []:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            continue
        started.append((meta.get("name"), _parse_time(status.get("startTime") or meta.get("creationTimestamp"))))
    out = []
    for obj in objects or []:
        key = (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
        if key not in refs:
            continue
        changed, source = last_changed(obj)
        if changed is None:
            continue
        old = sorted(name for name, start in started if start is not None and start < changed)
        if old:
            out.append({"kind": key[0], "name": key[1], "changed_at": _iso(changed), "changed_from": source, "pods": old})
    out.sort(key=lambda e: e["changed_at"], reverse=True)
    return out


# --- api_down: the memory limit to raise -------------------------------------------------------------------------

_MI = 1024.0 * 1024.0


def raised_memory_limit(current, factor=1.5, maximum="8Gi"):
    """The raised memory limit of an OOMKilled container: ceil(current * factor) in Mi, at most `maximum`.
    {current, raised, capped}; raised is None when current is already at (or above) the maximum."""
    from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import parse_quantity  # pylint: disable=import-outside-toplevel
    import math  # pylint: disable=import-outside-toplevel
    if factor is None or float(factor) <= 1 or float(factor) > 4:
        raise IncidentCheckError("memory factor must be above 1 and at most 4, got %r" % (factor,))
    have, cap = parse_quantity(current), parse_quantity(maximum)
    if not cap:
        raise IncidentCheckError("memory maximum %r is not a Kubernetes quantity" % (maximum,))
    if not have:
        return {"current": current, "raised": None, "capped": False,
                "reason": "the container has no memory limit: an OOMKilled container without one hit the node's memory"}
    if have >= cap:
        return {"current": current, "raised": None, "capped": True,
                "reason": "the limit %s is already at the maximum %s (sark_incident_api_memory_max)" % (current, maximum)}
    want = int(math.ceil(have * float(factor) / _MI))
    capped = want * _MI > cap
    raised = int(cap // _MI) if capped else want
    return {"current": current, "raised": "%dMi" % raised, "capped": capped, "reason": None}


def api_memory_plan(workload_info, name, factor=1.5, maximum="8Gi"):
    """For every container of the Deployment's OOMKilled pods: its current and raised limit (api_down's fix 3)."""
    workloads = _require(workload_info, "workloads", "sark_workload_info")
    found = [w for w in workloads if w.get("name") == name and w.get("kind", "Deployment") == "Deployment"]
    plan = {}
    for pod in (found[0].get("pods") or []) if found else []:
        last = pod.get("last_termination") or {}
        oom_containers = [last.get("container")] if last.get("reason") == "OOMKilled" else []
        if pod.get("reason") == "OOMKilled" and not oom_containers:
            oom_containers = [c.get("name") for c in pod.get("containers") or []]
        for container in pod.get("containers") or []:
            if container.get("name") in oom_containers and container.get("name") not in plan:
                entry = raised_memory_limit((container.get("limits") or {}).get("memory"), factor, maximum)
                entry["container"] = container.get("name")
                plan[container.get("name")] = entry
    return [plan[k] for k in sorted(plan)]


def api_down(workload_info, name, memory_factor=1.5, memory_max="8Gi", deployment=None, pods=None, objects=None,
             logs=None, db=None):
    """api_workload plus the seed's fixes 3 and 4: the memory limit to raise (OOMKilled) and a restart when the pods
    run a ConfigMap/Secret older than its last change (seed cause 4, configuration: rollout restart). logs: the
    sark_k8s logs result of the failing pods (the crash reason, initial step 3); db: db_pod() of the database pod,
    read when the crash log names the database - a failing database pod is cause 2 (restart it) and comes first."""
    check = api_workload(workload_info, name)
    details = check["details"]
    crash = [line for pod in (logs or {}).get("pods") or [] for line in pod.get("matches") or []]
    details["crash_lines"] = crash[:5]
    details["crash_reason"] = crash[0] if crash else None
    if crash and check["verdict"] != "OK":
        check["reason"] += "; crash log: %s" % crash[0]
    details["database_pod"] = db
    if db is not None and check["verdict"] != "OK":
        if db["causes"] and db["causes"] != ["db_pod_missing"]:
            details["causes"].insert(0, "database_down")
            details["fix"] = "restart_db_pod"
            check["reason"] += "; the log names the database and %s" % "; ".join(db["reasons"])
        elif db["causes"]:
            # no such pod here: the database runs elsewhere (another namespace, a managed service, AUDITRON's external
            # PostgreSQL) or under another name; a pod that is not there cannot be restarted, so it is no cause
            check["reason"] += ("; the log names the database, but there is no pod %s here (a database outside this namespace "
                                "is not judged: sark_incident_db_pod names it)" % db["pod"])
        else:
            check["reason"] += "; the log names the database, but pod %s is ready (%d restarts)" % (db["pod"], db["restarts"])
    if "out_of_memory" in details["causes"]:
        plan = api_memory_plan(workload_info, name, memory_factor, memory_max)
        details["memory"] = plan
        raisable = [p for p in plan if p.get("raised")]
        if raisable:
            check["reason"] += " from %s to %s" % (", ".join(p["current"] for p in raisable), ", ".join(p["raised"] for p in raisable))
        else:
            details["fix"] = None if details["fix"] == "raise_memory_limit" else details["fix"]
            details["causes"].remove("out_of_memory")
            details["causes"].append("out_of_memory_at_limit")
            check["reason"] += " - not automated: %s" % "; ".join(p["reason"] or "" for p in plan) if plan else ""
    stale = stale_pods(deployment, pods, objects) if deployment else []
    details["stale_config"] = stale
    if check["verdict"] != "OK" and stale:
        details["causes"].append("stale_config")
        details["fix"] = details["fix"] or "restart"
        check["reason"] += "; %d pods started before %s %s changed at %s: rollout restart" % (
            len(stale[0]["pods"]), stale[0]["kind"], stale[0]["name"], stale[0]["changed_at"])
    return check


# --- high latency (seed 002 playbook 2, seed 001 "High API Latency") ---------------------------------------------

LATENCY_FIXES = {
    "slow_queries": "EXPLAIN the slow statements and add the missing index (CREATE INDEX CONCURRENTLY); a runaway query: sark_pg_backend",
    "table_bloat": "VACUUM ANALYZE the bloated tables (sark_pg_maintenance state=vacuum)",
    "cache_miss_rate_high": "raise the policy cache TTL (POLICY_CACHE_TTL_HIGH=300) and restart the deployment",
    "cache_ttl_below_target": "raise the policy cache TTL setting and restart the deployment",
    "opa_slow": "optimise the policies (no nested loops) or scale OPA (kubectl scale deployment opa)",
    "insufficient_resources": "scale the deployment out (kubectl scale --replicas), or lower the HPA's CPU target",
    "latency_high": "p95 above the target: see the causes",
    "database_unreachable": "PostgreSQL does not answer: run the db_outage playbook",
}


def _pct(container):
    cpu = container.get("cpu_limit_percent", container.get("cpu_request_percent"))
    mem = container.get("memory_limit_percent", container.get("memory_request_percent"))
    return cpu, mem


def latency_resources(workload_info, name, cpu_percent=80, memory_percent=80, scale_factor=2, max_replicas=10):
    """Average CPU/memory use of the Deployment's running pods (of their limit, else request) and the scale plan."""
    workloads = _require(workload_info, "workloads", "sark_workload_info")
    found = [w for w in workloads if w.get("name") == name and w.get("kind", "Deployment") == "Deployment"]
    out = {"metrics_available": bool(workload_info.get("metrics_available")), "found": bool(found),
           "cpu_percent": None, "memory_percent": None, "pods_measured": 0, "saturated": False, "scale": None}
    if not found:
        return out
    work = found[0]
    cpus, mems = [], []
    for pod in work.get("pods") or []:
        for container in pod.get("containers") or []:
            cpu, mem = _pct(container)
            if cpu is not None:
                cpus.append(cpu)
            if mem is not None:
                mems.append(mem)
        if any(_pct(c)[0] is not None for c in pod.get("containers") or []):
            out["pods_measured"] += 1
    if cpus:
        out["cpu_percent"] = round(sum(cpus) / len(cpus), 1)
    if mems:
        out["memory_percent"] = round(sum(mems) / len(mems), 1)
    out["saturated"] = bool((out["cpu_percent"] or 0) >= cpu_percent or (out["memory_percent"] or 0) >= memory_percent)
    desired = int((work.get("replicas") or {}).get("desired") or 0)
    if out["saturated"]:
        import math  # pylint: disable=import-outside-toplevel
        target = min(max(int(math.ceil(desired * float(scale_factor))), desired + 1), int(max_replicas))
        out["scale"] = {"from": desired, "to": target} if target > desired else None
    out["replicas"] = desired
    return out


def cache_ttl_setting(deployment, configmaps, setting):
    """Where the layout keeps the policy cache TTL: a literal env of the template, else a key of a ConfigMap the
    template reads (envFrom / configMapKeyRef). {where, name, configmap, container, value} or where None."""
    spec = ((deployment or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    cms = {(c.get("metadata") or {}).get("name"): c for c in configmaps or []}
    for container in spec.get("containers") or []:
        for item in container.get("env") or []:
            if item.get("name") != setting:
                continue
            if "value" in item:
                return {"where": "env", "name": setting, "container": container.get("name"), "value": item.get("value"),
                        "configmap": None}
            ref = (item.get("valueFrom") or {}).get("configMapKeyRef") or {}
            data = ((cms.get(ref.get("name")) or {}).get("data") or {})
            if ref.get("key") in data:
                return {"where": "configmap", "name": ref["key"], "configmap": ref["name"], "container": container.get("name"),
                        "value": data[ref["key"]]}
    for container in spec.get("containers") or []:
        for item in container.get("envFrom") or []:
            ref = (item.get("configMapRef") or {}).get("name")
            data = (cms.get(ref) or {}).get("data") or {}
            if setting in data:
                return {"where": "configmap", "name": setting, "configmap": ref, "container": container.get("name"),
                        "value": data[setting]}
    return {"where": None, "name": setting, "configmap": None, "container": None, "value": None}


def _opa_ms(opa):
    results = (opa or {}).get("results") if isinstance(opa, dict) and "results" in opa else opa
    times, errors = [], []
    for item in results or []:
        if item.get("skipped"):
            continue
        if item.get("failed"):
            errors.append(item.get("msg") or "failed")
        elif item.get("elapsed_ms") is not None:
            times.append(float(item["elapsed_ms"]))
    return times, errors


def high_latency(pg_info, workload_info, redis_info, name="sark", opa=None, prometheus=None, deployment=None,
                 configmaps=None, cache_setting="POLICY_CACHE_TTL_HIGH", cache_ttl_target=300, dead_ratio=0.2,
                 min_dead_tuples=1000, slow_query_ms=500.0, cpu_percent=80, memory_percent=80, hit_ratio_min=0.7,
                 hit_ratio_min_lookups=100, opa_ms=100.0, scale_factor=2, max_replicas=10):
    """Seed 002 playbook 2 (High Latency): the four causes in the seed's order, then the p95 symptom.

    pg_info: sark_pg_info (top_queries, bloat, long_running); workload_info: sark_workload_info of the Deployment with
    metrics; redis_info: sark_redis_info (stats); opa: the registered loop of timed sark_opa_decision_info calls (None:
    not configured); prometheus: sark_alert_info with the p95_latency_5m preset (None: not configured); deployment and
    configmaps: raw objects (kubernetes.core.k8s_info resources) to find the cache TTL setting."""
    runbook = "002 Playbook 2 (High Latency)"
    title = "API latency causes"
    if not isinstance(pg_info, dict):
        raise IncidentCheckError("high_latency: pg_info must be the registered result of sark_pg_info")
    causes, parts = [], []
    details = {"causes": causes, "fix": None, "fixes": {}}
    # 1. database slow queries, bloat
    if not pg_info.get("is_available", False):
        causes.append("database_unreachable")
        parts.append("PostgreSQL does not answer: %s" % (pg_info.get("error") or pg_info.get("msg") or "unreachable"))
        details.update(slow_queries=[], long_running=[], bloated_tables=[], top_queries_available=None)
    else:
        top = pg_info.get("top_queries") or {}
        slow = [q for q in top.get("queries") or [] if (q.get("mean_exec_time_ms") or 0) >= slow_query_ms] if top.get("available") else []
        long_running = [{"pid": r.get("pid"), "duration_s": r.get("duration_s"), "state": r.get("state"),
                         "application_name": r.get("application_name"), "query": r.get("query")}
                        for r in pg_info.get("long_running") or []]
        details["top_queries_available"] = bool(top.get("available"))
        details["top_queries_reason"] = top.get("reason")
        details["slow_queries"] = [{"queryid": q.get("queryid"), "mean_exec_time_ms": q.get("mean_exec_time_ms"),
                                    "calls": q.get("calls"), "query": q.get("query")} for q in slow]
        details["long_running"] = long_running
        if slow or long_running:
            causes.append("slow_queries")
            bits = []
            if slow:
                bits.append("%d statements average %.0f ms or more (slowest %.0f ms)" % (
                    len(slow), slow_query_ms, max(q["mean_exec_time_ms"] for q in slow)))
            if long_running:
                bits.append("%d queries running for more than the threshold (longest %.0f s, pid %s)" % (
                    len(long_running), max(r["duration_s"] or 0 for r in long_running), long_running[0]["pid"]))
            parts.append("slow queries: " + ", ".join(bits))
        bloated = []
        for row in pg_info.get("bloat") or []:
            dead, live = int(row.get("n_dead_tup") or 0), int(row.get("n_live_tup") or 0)
            ratio = float(dead) / (dead + live) if dead + live else 0.0
            if dead >= min_dead_tuples and ratio >= dead_ratio:
                bloated.append({"table": "%s.%s" % (row.get("schema"), row.get("table")), "n_dead_tup": dead,
                                "n_live_tup": live, "dead_ratio": round(ratio, 3), "table_bytes": row.get("table_bytes"),
                                "last_vacuum": row.get("last_vacuum")})
        bloated.sort(key=lambda b: -b["n_dead_tup"])
        details["bloated_tables"] = bloated
        if bloated:
            causes.append("table_bloat")
            parts.append("%d bloated tables (%s: %d dead tuples, %.0f%%)" % (
                len(bloated), bloated[0]["table"], bloated[0]["n_dead_tup"], bloated[0]["dead_ratio"] * 100))
    # 2. cache miss rate (the policy decision cache in Redis)
    stats = (redis_info or {}).get("stats") or {}
    hits, misses = int(stats.get("keyspace_hits") or 0), int(stats.get("keyspace_misses") or 0)
    hit_ratio = stats.get("hit_ratio")
    details["cache"] = {"available": bool((redis_info or {}).get("is_available")), "hits": hits, "misses": misses,
                        "hit_ratio": hit_ratio}
    setting = cache_ttl_setting(deployment, configmaps, cache_setting) if deployment else {"where": None, "name": cache_setting}
    details["cache_ttl"] = setting
    if hit_ratio is not None and hits + misses >= hit_ratio_min_lookups and float(hit_ratio) < hit_ratio_min:
        causes.append("cache_miss_rate_high")
        part = "cache hit ratio %.0f%% below %.0f%% (%d hits, %d misses since Redis started)" % (
            float(hit_ratio) * 100, hit_ratio_min * 100, hits, misses)
        try:
            value = int(str(setting.get("value")).strip()) if setting.get("where") else None
        except ValueError:
            value = None
        if setting.get("where") and value is not None and value < cache_ttl_target:
            causes.append("cache_ttl_below_target")
            setting["target"] = str(int(cache_ttl_target))
            where = "ConfigMap %s" % setting["configmap"] if setting["where"] == "configmap" else "env"
            part += "; %s=%d (%s) below %d" % (setting["name"], value, where, cache_ttl_target)
        elif not setting.get("where"):
            part += "; the deployment has no %s setting (env or ConfigMap): not automated" % cache_setting
        parts.append(part)
    # 3. OPA slow
    if opa is not None:
        times, errors = _opa_ms(opa)
        details["opa"] = {"decisions": len(times), "max_ms": max(times) if times else None,
                          "mean_ms": round(sum(times) / len(times), 1) if times else None, "errors": errors[:3]}
        if errors or (times and max(times) >= opa_ms):
            causes.append("opa_slow")
            parts.append("OPA %s" % ("failed: %s" % errors[0] if errors else "took up to %.0f ms (threshold %.0f ms)" % (max(times), opa_ms)))
    # 4. insufficient resources
    resources = latency_resources(workload_info, name, cpu_percent, memory_percent, scale_factor, max_replicas)
    details["resources"] = resources
    if resources["saturated"]:
        causes.append("insufficient_resources")
        part = "pods of %s at %s%% CPU / %s%% memory on average (threshold %d%%)" % (
            name, resources["cpu_percent"], resources["memory_percent"], cpu_percent)
        part += ("; scale %d -> %d" % (resources["scale"]["from"], resources["scale"]["to"]) if resources["scale"]
                 else "; already at %d replicas (max %d): not automated" % (resources["replicas"], max_replicas))
        parts.append(part)
    # the symptom: p95 from Prometheus
    p95 = None
    if prometheus is not None:
        query = ((prometheus or {}).get("queries") or {}).get("p95_latency_5m") or {}
        p95 = {"worst_s": query.get("worst"), "verdict": query.get("verdict") or ("error" if prometheus.get("failed") else None)}
        if query.get("verdict") == "breach":
            causes.append("latency_high")
            parts.insert(0, "p95 latency %.3f s above 0.2 s" % float(query.get("worst") or 0))
    details["p95"] = p95
    for cause in causes:
        details["fixes"][cause] = LATENCY_FIXES.get(cause)
    plan = (("table_bloat", "vacuum_bloated"), ("insufficient_resources", "scale_out"), ("cache_ttl_below_target", "raise_cache_ttl"))
    for cause, fix in plan:
        if cause in causes and (cause != "insufficient_resources" or resources["scale"]):
            details["fix"] = fix
            break
    problems = [c for c in causes if c != "latency_high"]
    if "database_unreachable" in causes or "latency_high" in causes:
        verdict = "CRITICAL"
    elif problems:
        verdict = "WARNING"
    else:
        verdict = "OK"
    reason = "; ".join(parts) if parts else "no slow query, bloat, cache miss rate, OPA or resource problem found"
    if resources["found"] and not resources["metrics_available"]:
        reason += " (no pod metrics: metrics.k8s.io did not answer)"
    return _check("high_latency", title, verdict, len(problems), "problems", 0, reason, details, runbook)


# --- authentication failures (seed 002 playbook 3) -----------------------------------------------------------------

AUTH_ENDPOINT_SETTINGS = ("LDAP_SERVER", "LDAP_URL", "LDAP_URI", "LDAP_HOST", "OIDC_ISSUER", "OIDC_ISSUER_URL",
                          "OIDC_DISCOVERY_URL", "OIDC_PROVIDER_URL", "SAML_IDP_METADATA_URL")
_DEFAULT_PORTS = {"ldap": 389, "ldaps": 636, "http": 80, "https": 443}

AUTH_FIXES = {
    "identity_provider_unreachable": "bring the identity provider back (LDAP: kubectl delete pod openldap-0; OIDC: the provider's status) "
                                     "or point the setting at a reachable endpoint",
    "session_store_down": "restart Redis (kubectl delete pod redis-0) - WARNING: every user is logged out",
    "session_store_evicting": "Redis evicts keys (sessions lost): raise maxmemory or free memory (sark.ops.sark_cache)",
    "pods_on_old_secret": "rollout restart of the deployment so every pod reads the same (rotated) secret",
    "jwt_secret_rotated": "tokens signed with the old secret are invalid: users must log in again - tell them "
                          "(\"We recently rotated security credentials. Please log in again.\")",
    "clock_skew": "the clocks differ: fix NTP on the nodes (ntpdate / chrony) - tokens look expired or not yet valid",
}


def auth_endpoints(deployment, configmaps, settings=AUTH_ENDPOINT_SETTINGS):
    """The identity providers the deployment is configured with (literal env of the template, else the ConfigMaps
    it reads): [{setting, source, url, scheme, host, port}]. Credentials in URLs are dropped."""
    try:
        from urllib.parse import urlsplit  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - Python 2
        from urlparse import urlsplit  # pylint: disable=import-outside-toplevel
    spec = ((deployment or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    cms = {(c.get("metadata") or {}).get("name"): (c.get("data") or {}) for c in configmaps or []}
    found = {}
    for container in spec.get("containers") or []:
        for item in container.get("env") or []:
            if item.get("name") in settings and item.get("value") and item["name"] not in found:
                found[item["name"]] = (item["value"], "env of container %s" % container.get("name"))
            ref = (item.get("valueFrom") or {}).get("configMapKeyRef") or {}
            if item.get("name") in settings and ref.get("key") in cms.get(ref.get("name"), {}) and item["name"] not in found:
                found[item["name"]] = (cms[ref["name"]][ref["key"]], "ConfigMap %s" % ref["name"])
        for item in container.get("envFrom") or []:
            ref = (item.get("configMapRef") or {}).get("name")
            for key, value in sorted(cms.get(ref, {}).items()):
                if key in settings and value and key not in found:
                    found[key] = (value, "ConfigMap %s" % ref)
    out = []
    for setting in settings:
        if setting not in found:
            continue
        value, source = found[setting]
        text = str(value).strip()
        if "://" not in text:
            text = ("ldap://" if setting.startswith("LDAP") else "https://") + text
        parts = urlsplit(text)
        scheme = (parts.scheme or "").lower()
        if not parts.hostname:
            out.append({"setting": setting, "source": source, "url": None, "scheme": scheme, "host": None, "port": None,
                        "error": "not a URL or host"})
            continue
        port = parts.port or _DEFAULT_PORTS.get(scheme)
        netloc = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
        url = "%s://%s:%d%s" % (scheme, netloc, port, parts.path or "")
        out.append({"setting": setting, "source": source, "url": url, "scheme": scheme, "host": parts.hostname, "port": port})
    return out


def _http_date(value):
    import email.utils  # pylint: disable=import-outside-toplevel
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed


def auth_failures(endpoints, probes, redis_info, deployment=None, pods=None, secrets=None, clocks=None,
                  jwt_secrets=("jwt-keys",), rotation_window=86400, max_skew_seconds=30, now=None,
                  memory_ratio=0.95):
    """Seed 002 playbook 3 (Authentication Failures): the four causes in the seed's order.

    endpoints: auth_endpoints(); probes: the registered loop of reachability probes over them (wait_for / uri
    results, same order); redis_info: sark_redis_info (server, memory, stats); deployment, pods, secrets: raw objects
    (k8s_info resources; secret values are never read); clocks: {local_before, local_after (RFC 3339),
    dates: [{source, date (HTTP Date header)}], responses: [registered uri results, their date header]}."""
    import datetime  # pylint: disable=import-outside-toplevel
    runbook = "002 Playbook 3 (Authentication Failures)"
    title = "Authentication dependencies"
    causes, parts = [], []
    details = {"causes": causes, "fix": None, "fixes": {}}
    # 1. LDAP / OIDC reachability
    if isinstance(probes, dict) and ("http" in probes or "tcp" in probes):
        # one loop of uri probes and one of wait_for probes over the same endpoints: each endpoint has one not skipped
        http, tcp = list(probes.get("http") or []), list(probes.get("tcp") or [])
        results = []
        for index in range(max(len(http), len(tcp))):
            pair = [r for r in (http[index] if index < len(http) else {}, tcp[index] if index < len(tcp) else {})
                    if r and not r.get("skipped")]
            results.append(pair[0] if pair else {"skipped": True})
    else:
        results = list(((probes or {}).get("results") if isinstance(probes, dict) else probes) or [])
    checked = []
    for index, endpoint in enumerate(endpoints or []):
        probe = results[index] if index < len(results) else {}
        if endpoint.get("error"):
            reachable, error = False, endpoint["error"]
        elif probe.get("skipped") or not probe:
            reachable, error = None, "not probed"
        elif "status" in probe:  # uri (failed_when: false): status -1 when nothing answered
            reachable = int(probe.get("status") or -1) > 0
            error = None if reachable else (probe.get("msg") or "no answer")
        else:  # wait_for (failed_when: false): state=started when the port accepted a connection
            reachable = probe.get("state") == "started" and not probe.get("failed")
            error = None if reachable else (probe.get("msg") or "no answer")
        checked.append({"setting": endpoint.get("setting"), "source": endpoint.get("source"), "url": endpoint.get("url"),
                        "reachable": reachable, "status": probe.get("status"), "error": error})
    details["endpoints"] = checked
    down = [e for e in checked if e["reachable"] is False]
    if down:
        causes.append("identity_provider_unreachable")
        parts.append("identity provider unreachable: %s" % ", ".join("%s %s (%s)" % (e["setting"], e["url"], e["error"]) for e in down))
    # 2. the Redis session store
    redis_info = redis_info or {}
    memory, stats = redis_info.get("memory") or {}, redis_info.get("stats") or {}
    details["session_store"] = {"available": bool(redis_info.get("is_available")), "error": redis_info.get("error"),
                                "used_memory": memory.get("used_memory"), "maxmemory": memory.get("maxmemory"),
                                "maxmemory_policy": memory.get("maxmemory_policy"),
                                "maxmemory_used_ratio": memory.get("maxmemory_used_ratio"),
                                "evicted_keys": stats.get("evicted_keys")}
    if not redis_info.get("is_available"):
        causes.append("session_store_down")
        parts.append("the Redis session store does not answer: %s" % (redis_info.get("error") or "unreachable"))
    elif int(stats.get("evicted_keys") or 0) > 0 or (memory.get("maxmemory_used_ratio") or 0) >= memory_ratio:
        causes.append("session_store_evicting")
        parts.append("Redis evicted %d keys (memory %s of maxmemory, policy %s)" % (
            int(stats.get("evicted_keys") or 0),
            "%.0f%%" % (memory["maxmemory_used_ratio"] * 100) if memory.get("maxmemory_used_ratio") is not None else "no limit",
            memory.get("maxmemory_policy")))
    # 3. a recent JWT secret rotation, and pods still running the secret they read before it
    now = _parse_time(now) if now else datetime.datetime.now(datetime.timezone.utc)
    rotations = []
    for secret in secrets or []:
        name = (secret.get("metadata") or {}).get("name")
        changed, source = last_changed(secret)
        if name in jwt_secrets and changed is not None:
            age = (now - changed).total_seconds()
            rotations.append({"name": name, "changed_at": _iso(changed), "changed_from": source, "age_seconds": round(age),
                              "recent": source == "managedFields" and age <= rotation_window})
    details["key_rotations"] = rotations
    stale = [s for s in stale_pods(deployment, pods, secrets) if s["kind"] == "Secret"] if deployment else []
    details["stale_refs"] = stale
    if stale:
        causes.append("pods_on_old_secret")
        parts.append("%d pods started before Secret %s changed at %s: pods disagree on the secret" % (
            len(stale[0]["pods"]), stale[0]["name"], stale[0]["changed_at"]))
    recent = [r for r in rotations if r["recent"]]
    if recent:
        causes.append("jwt_secret_rotated")
        parts.append("JWT secret %s changed %d s ago: tokens signed before are invalid" % (recent[0]["name"], recent[0]["age_seconds"]))
    # 4. token validation: clock skew
    clocks = clocks or {}
    skews = []
    before, after = _parse_time(clocks.get("local_before")), _parse_time(clocks.get("local_after"))
    dates = list(clocks.get("dates") or [])
    for response in clocks.get("responses") or []:
        if isinstance(response, dict) and response.get("date") and not response.get("skipped"):
            dates.append({"source": response.get("url") or (response.get("item") or {}).get("url") or response.get("item"),
                          "date": response["date"]})
    for entry in dates:
        server = _http_date(entry.get("date"))
        if server is None or before is None or after is None:
            continue
        # Date has whole seconds: the server's clock is off when it is outside [before - 1 s, after]
        low = (before - datetime.timedelta(seconds=1) - server).total_seconds()
        high = (server - after).total_seconds()
        skew = max(low, high, 0.0)
        skews.append({"source": entry.get("source"), "server_time": _iso(server), "skew_seconds": round(skew if high >= low else -skew, 1)})
    details["clocks"] = skews
    skewed = [s for s in skews if abs(s["skew_seconds"]) > max_skew_seconds]
    if skewed:
        causes.append("clock_skew")
        parts.append("clock skew: %s" % ", ".join("%s %+.0f s" % (s["source"], s["skew_seconds"]) for s in skewed))
    for cause in causes:
        details["fixes"][cause] = AUTH_FIXES.get(cause)
    if "pods_on_old_secret" in causes:
        details["fix"] = "restart"
    if any(c in causes for c in ("identity_provider_unreachable", "session_store_down", "pods_on_old_secret")):
        verdict = "CRITICAL"
    elif causes:
        verdict = "WARNING"
    else:
        verdict = "OK"
    reason = "; ".join(parts) if parts else "identity providers reachable (%d), session store up, no recent JWT secret rotation, clocks agree" % len(checked)
    return _check("auth_failures", title, verdict, len(causes), "problems", 0, reason, details, runbook)


# --- policy evaluation failure (seed 001 incident 1) and audit events not recording (seed 001 incident 4) ---

def _decision_allow(decision):
    """SARK's reading of a registered sark_opa_decision_info result: True, False, or None (the test could not run)."""
    if not isinstance(decision, dict) or decision.get("failed"):
        return None
    sark = decision.get("sark_decision")
    if not isinstance(sark, dict):
        return None
    return bool(sark.get("allow"))


def _opa_scale(details, pods_bad, scale_to):
    """Seed 001 incident 1 recovery 1 (OPA pods down): scale deploy/opa to scale_to when it asks for fewer replicas, or
    when fewer than scale_to are ready and more would serve (timeouts, latency); a Deployment already at scale_to whose
    pods do not come up is named, not scaled further."""
    pods = details.get("pods")
    if not pods_bad or not pods or not scale_to:
        return None
    if pods["desired"] < int(scale_to):
        details["causes"].append("opa_under_scaled")
        details["scale_to"] = int(scale_to)
        return "OPA asks for %d replicas: scale deploy/opa to %d (seed 001 recovery 1)" % (pods["desired"], int(scale_to))
    return "deploy/opa already asks for %d replicas: read the OPA logs (kubectl logs -l app=opa)" % pods["desired"]


def opa_policies(policy_info, expected, tests, decisions, workload=None, cache=None, health=None, scale_to=None):
    """Seed 001 incident 1 (policy evaluation failure) and 002 playbook 2 cause 3: OPA health, loaded policies, decision test.

    policy_info: sark_opa_policy_info (list); expected: [{id, sha256, src}] (the good policy files);
    tests: [{name, input, expect_allow}] and decisions: the sark_opa_decision_info result of each, in order;
    workload: sark_workload_info of the OPA Deployment (optional); cache: sark_cache target=decisions in check
    mode (``matched``); health: sark_health (SARK's view of OPA, ``components.opa``); scale_to: the replicas seed 001
    scales OPA to when its pods are down (None: no scaling step)."""
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
        # a Deployment asking for no replica serves no decision either (kubectl scale deploy/opa --replicas=0)
        pods_bad = ready < desired or desired == 0 or work.get("verdict") == "CRITICAL"
    if not isinstance(policy_info, dict) or policy_info.get("failed") or "policies" not in policy_info:
        details["opa_reachable"] = False
        details["causes"].append("opa_pods_down" if pods_bad else "opa_unreachable")
        error = (policy_info or {}).get("msg") if isinstance(policy_info, dict) else None
        reason = "OPA does not answer GET /v1/policies (%s)" % (error or "no result")
        if pods_bad:
            reason += "; OPA pods %d/%d ready" % (details["pods"]["ready"], details["pods"]["desired"])
            scale = _opa_scale(details, pods_bad, scale_to)
            if scale:
                reason += "; " + scale
                if "opa_under_scaled" in details["causes"]:
                    details["fix"] = "scale_opa"
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
        scale = _opa_scale(details, pods_bad, scale_to)
        if scale:
            parts.append(scale)
            if "opa_under_scaled" in details["causes"]:
                details["fix"] = "scale_opa"
    if drift:
        details["causes"].append("policy_changed")
        details["fix"] = details["fix"] or "rollback_policy"
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


# --- queue backlog (seed 004 Troubleshooting "Queue Backlog", AUDITRON) ------------------------------------------

def queue_backlog(queue_info, workload_info, worker, max_replicas=10, scale_factor=2):
    """Seed 004 "Queue Backlog" (jobs not processing, queue length growing): the backlog against the runbook's 100 jobs,
    the failing jobs and the dead-letter queue (resolution 1 and 4: named, people look at them), and the worker count
    (resolution 2, "Increase worker count": the fix, scale_out of the worker Deployment by scale_factor, at most
    max_replicas). WARNING like the seed's Queue Backlog alert; the figure is the ready workers (more is better), so a
    scale-out counts as an improvement while the backlog drains."""
    runbook = "004 Troubleshooting: Queue Backlog"
    title = "Queue backlog (worker %s)" % worker
    if not isinstance(queue_info, dict) or queue_info.get("failed") or "counts" not in queue_info:
        msg = (queue_info or {}).get("msg") if isinstance(queue_info, dict) else None
        return _check("queue_backlog", title, "CRITICAL", None, "ready replicas", None,
                      "the queue could not be read: %s" % (msg or "no result"), {"causes": ["queue_unreadable"], "fix": None},
                      runbook)
    workloads = _require(workload_info, "workloads", "sark_workload_info")
    found = [w for w in workloads if w.get("name") == worker and w.get("kind", "Deployment") == "Deployment"]
    replicas = (found[0].get("replicas") or {}) if found else {}
    desired, ready = int(replicas.get("desired") or 0), int(replicas.get("ready") or 0)
    counts = queue_info["counts"]
    backlog = queue_info.get("backlog") or {}
    dead = int((queue_info.get("dead_letter") or {}).get("count") or 0)
    reasons = sorted(set(str(j.get("failed_reason")) for j in (queue_info.get("failed_jobs") or []) if j.get("failed_reason")))
    details = {"counts": counts, "backlog": backlog, "paused": bool(queue_info.get("paused")), "dead_letter": dead,
               "failed_reasons": reasons, "worker": {"name": worker, "found": bool(found), "desired": desired, "ready": ready},
               "resources": {"replicas": desired, "scale": None}, "causes": [], "fix": None}
    parts = ["%d jobs waiting, delayed or paused (threshold %s)" % (backlog.get("jobs", 0), backlog.get("threshold"))]
    if backlog.get("exceeded"):
        details["causes"].append("backlog_growing")
    if details["paused"]:
        details["causes"].append("queue_paused")
        parts.append("the queue is paused (resume it: sark.ops.auditron_queue state=resumed)")
    if counts.get("failed"):
        details["causes"].append("failing_jobs")
        parts.append("%d failed jobs%s: check the external APIs (OpenAI, Stripe)" % (
            counts["failed"], (" (%s)" % "; ".join(reasons[:3])) if reasons else ""))
    if dead:
        details["causes"].append("dead_letter_jobs")
        parts.append("%d jobs in the dead-letter queue: review them" % dead)
    if not found:
        parts.append("worker Deployment %s not found" % worker)
    else:
        parts.append("worker %s %d/%d ready" % (worker, ready, desired))
    if backlog.get("exceeded") and found:
        target = min(int(max_replicas), max(int(desired * float(scale_factor)), desired + 1))
        if target > desired:
            details["causes"].append("too_few_workers")
            details["fix"] = "scale_out"
            details["resources"]["scale"] = {"from": desired, "to": target}
            parts.append("increase the worker count: scale to %d" % target)
        else:
            parts.append("already at %d workers (max_replicas)" % desired)
    verdict = "WARNING" if backlog.get("exceeded") or details["paused"] else "OK"
    return _check("queue_backlog", title, verdict, ready, "ready replicas", desired, "; ".join(parts), details, runbook)
