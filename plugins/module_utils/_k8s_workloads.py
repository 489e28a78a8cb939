# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Workload diagnosis: what is wrong with a Deployment or StatefulSet, from the objects Kubernetes returns.

Pure functions over plain dicts (as kubernetes.core's client returns them with to_dict()), so the judgement is
testable without a cluster. The module sark_workload_info reads the objects and calls diagnose_workload().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import re

from ansible_collections.sark.ops.plugins.module_utils._module import MASK, is_secret_name, utcnow

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
ORDER = {OK: 0, WARNING: 1, CRITICAL: 2}

# container states that mean the container does not run as it should
BAD_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
               "CreateContainerError", "InvalidImageName", "RunContainerError"}
BAD_TERMINATED = {"OOMKilled", "Error", "ContainerCannotRun", "DeadlineExceeded"}
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@/\s]+)(@)")

_SUFFIXES = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
             "Ki": 1024.0, "Mi": 1024.0 ** 2, "Gi": 1024.0 ** 3, "Ti": 1024.0 ** 4, "Pi": 1024.0 ** 5, "Ei": 1024.0 ** 6,
             "n": 1e-9, "u": 1e-6}


def parse_quantity(value):
    """A Kubernetes quantity (V(250m), V(2Gi), V(1200Mi), V(15n)) as a float; None for None or garbage."""
    if value is None:
        return None
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return float(text[:-len(suffix)]) * _SUFFIXES[suffix]
            except ValueError:
                return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_time(value):
    if not value:
        return None
    try:
        return datetime.datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def age_seconds(value, now):
    moment = parse_time(value)
    return None if moment is None else max(0, int((now - moment).total_seconds()))


def mask_env(env):
    """Container env as name -> value, with secret-looking names and URL passwords masked; references named."""
    result = []
    for item in env or []:
        name = item.get("name", "")
        if "valueFrom" in item:
            source = item["valueFrom"] or {}
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef") or {}
            kind = "secret" if "secretKeyRef" in source else ("configmap" if "configMapKeyRef" in source else "field")
            result.append({"name": name, "from": "%s %s/%s" % (kind, ref.get("name", ""), ref.get("key", "")) if ref else kind})
            continue
        value = item.get("value")
        if value is not None and (is_secret_name(name) or re.search(r"(?i)(secret|token|password|passwd|api_?key|credential)", name)):
            value = MASK
        elif isinstance(value, str):
            value = _URL_PASSWORD.sub(r"\1" + MASK + r"\3", value)
        result.append({"name": name, "value": value})
    return result


def mask_resources(resources):
    """Copies of Kubernetes objects fit to keep in a file: every container's env through mask_env (secret-looking values
    and URL passwords masked, references named) and the last-applied-configuration annotation (which repeats the env)
    masked. Pod descriptions kept as incident evidence must not carry the secrets they were started with."""
    masked = []
    for resource in resources or []:
        resource = copy.deepcopy(resource)
        annotations = (resource.get("metadata") or {}).get("annotations") or {}
        if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = MASK
        spec = resource.get("spec") or {}
        specs = [spec, ((spec.get("template") or {}).get("spec") or {})]
        for pod_spec in specs:
            for key in ("containers", "initContainers", "ephemeralContainers"):
                for container in pod_spec.get(key) or []:
                    if container.get("env"):
                        container["env"] = mask_env(container["env"])
        masked.append(resource)
    return masked


def _container_reason(status):
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    if "waiting" in state:
        reason = (state["waiting"] or {}).get("reason") or "Waiting"
        if reason == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
            return "OOMKilled", (state["waiting"] or {}).get("message")
        return reason, (state["waiting"] or {}).get("message")
    if "terminated" in state:
        return (state["terminated"] or {}).get("reason") or "Terminated", (state["terminated"] or {}).get("message")
    return None, None


def pod_summary(pod, metrics, now):
    """One pod: phase, ready, reason (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable...), restarts, use."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    usage = {c.get("name"): c.get("usage") or {} for c in (metrics or {}).get("containers") or []}
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    reason, message = None, None
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        reason, message = scheduled.get("reason") or "Unschedulable", scheduled.get("message")
    containers = []
    restarts = 0
    last_termination = None
    for container in spec.get("containers") or []:
        cstatus = statuses.get(container.get("name")) or {}
        creason, cmessage = _container_reason(cstatus)
        restarts += int(cstatus.get("restartCount") or 0)
        last = (cstatus.get("lastState") or {}).get("terminated")
        if last:
            last_termination = {"container": container.get("name"), "reason": last.get("reason"),
                                "exit_code": last.get("exitCode"), "finished_at": last.get("finishedAt")}
        if creason and reason is None and (creason in BAD_WAITING or creason in BAD_TERMINATED or creason == "OOMKilled"
                                           or not ready):
            reason, message = creason, cmessage
        resources = container.get("resources") or {}
        use = usage.get(container.get("name")) or {}
        entry = {"name": container.get("name"), "image": container.get("image"), "ready": bool(cstatus.get("ready")),
                 "restarts": int(cstatus.get("restartCount") or 0), "state": creason or ("running" if cstatus else "unknown"),
                 "requests": resources.get("requests") or {}, "limits": resources.get("limits") or {},
                 "env": mask_env(container.get("env"))}
        if use:
            entry["usage"] = dict(use)
            for res_name in ("cpu", "memory"):
                used = parse_quantity(use.get(res_name))
                for bound in ("requests", "limits"):
                    have = parse_quantity((resources.get(bound) or {}).get(res_name))
                    if used is not None and have:
                        entry["%s_%s_percent" % (res_name, bound[:-1] if bound == "limits" else "request")] = round(100.0 * used / have, 1)
        containers.append(entry)
    if reason is None and status.get("phase") in ("Failed", "Unknown"):
        reason, message = status.get("reason") or status.get("phase"), status.get("message")
    return {"name": meta.get("name"), "phase": status.get("phase"), "ready": ready, "reason": reason, "message": message,
            "restarts": restarts, "last_termination": last_termination, "node": spec.get("nodeName"),
            "age_seconds": age_seconds(meta.get("creationTimestamp"), now),
            "images": [c.get("image") for c in spec.get("containers") or []],
            "revision_hash": (meta.get("labels") or {}).get("pod-template-hash") or (meta.get("labels") or {}).get("controller-revision-hash"),
            "containers": containers}


def rollout_history(workload, replicasets, max_revisions):
    """A Deployment's revisions from its ReplicaSets, newest first (what `kubectl rollout history` lists)."""
    uid = (workload.get("metadata") or {}).get("uid")
    owned = [rs for rs in replicasets if any(ref.get("uid") == uid for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]
    revisions = []
    for rs in owned:
        annotations = (rs.get("metadata") or {}).get("annotations") or {}
        try:
            number = int(annotations.get("deployment.kubernetes.io/revision", "0"))
        except ValueError:
            number = 0
        revisions.append({"revision": number, "replicaset": rs["metadata"].get("name"),
                          "images": [c.get("image") for c in ((rs.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []],
                          "change_cause": annotations.get("kubernetes.io/change-cause"),
                          "replicas": (rs.get("spec") or {}).get("replicas", 0),
                          "ready_replicas": (rs.get("status") or {}).get("readyReplicas", 0),
                          "created": (rs.get("metadata") or {}).get("creationTimestamp")})
    revisions.sort(key=lambda r: -r["revision"])
    return revisions[:max_revisions]


def _worse(current, new):
    return new if ORDER[new] > ORDER[current] else current


def diagnose_workload(workload, pods, replicasets, pod_metrics, events, limits, now=None):
    """The diagnosis of one Deployment or StatefulSet (see sark_workload_info's RETURN)."""
    now = now or utcnow()
    meta, spec, status = workload.get("metadata") or {}, workload.get("spec") or {}, workload.get("status") or {}
    kind = workload.get("kind")
    desired = spec.get("replicas", 1)
    summaries = [pod_summary(p, pod_metrics.get((p.get("metadata") or {}).get("name")), now) for p in pods]
    summaries.sort(key=lambda p: (p["ready"], p["name"] or ""))
    shown = summaries[:limits["max_pods"]]
    result = {"kind": kind, "name": meta.get("name"), "namespace": meta.get("namespace"),
              "replicas": {"desired": desired, "current": status.get("replicas", 0), "ready": status.get("readyReplicas", 0),
                           "updated": status.get("updatedReplicas", 0),
                           "available": status.get("availableReplicas", status.get("readyReplicas", 0) if kind == "StatefulSet" else 0)},
              "generation": meta.get("generation"), "observed_generation": status.get("observedGeneration"),
              "images": [c.get("image") for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []],
              "pods": shown, "pods_total": len(summaries), "pods_truncated": len(summaries) > len(shown),
              "conditions": {c.get("type"): {"status": c.get("status"), "reason": c.get("reason"), "message": c.get("message")}
                             for c in status.get("conditions") or []}}
    if kind == "Deployment":
        result["revision"] = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
        result["revisions"] = rollout_history(workload, replicasets, limits["max_revisions"])
    else:
        result["revision"] = status.get("updateRevision")
        result["current_revision"] = status.get("currentRevision")
    warnings = sorted((e for e in events if e.get("type") == "Warning"),
                      key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    result["warning_events"] = [{"reason": e.get("reason"), "message": e.get("message"), "count": e.get("count", 1),
                                 "object": "%s/%s" % ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")),
                                 "last_seen": e.get("lastTimestamp") or e.get("eventTime")} for e in warnings[:limits["max_events"]]]
    result["warning_events_total"] = len(warnings)

    verdict, reasons = OK, []
    ready = result["replicas"]["ready"]
    if desired and ready == 0:
        verdict = CRITICAL
        reasons.append("no replica is ready (0/%d)" % desired)
    elif ready < desired:
        verdict = WARNING
        reasons.append("%d/%d replicas ready" % (ready, desired))
    progressing = result["conditions"].get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        verdict = CRITICAL
        reasons.append("rollout stuck: %s" % (progressing.get("message") or "progress deadline exceeded"))
    elif desired and result["replicas"]["updated"] < desired:
        verdict = _worse(verdict, WARNING)
        reasons.append("rollout in progress or stuck: %d/%d replicas updated to revision %s"
                       % (result["replicas"]["updated"], desired, result.get("revision")))
    if result["observed_generation"] is not None and result["generation"] is not None and result["observed_generation"] < result["generation"]:
        verdict = _worse(verdict, WARNING)
        reasons.append("the controller has not seen generation %s yet" % result["generation"])
    by_reason = {}
    for pod in summaries:
        if pod["reason"] and not pod["ready"]:
            by_reason.setdefault(pod["reason"], []).append(pod["name"])
        elif pod["reason"] == "OOMKilled" or (pod["last_termination"] or {}).get("reason") == "OOMKilled":
            by_reason.setdefault("OOMKilled", []).append(pod["name"])
        if pod["restarts"] >= limits["restart_threshold"]:
            by_reason.setdefault("restarts>=%d" % limits["restart_threshold"], []).append(pod["name"])
        for container in pod["containers"]:
            if container.get("memory_limit_percent", 0) >= limits["memory_limit_percent"]:
                by_reason.setdefault("memory>=%d%% of limit" % limits["memory_limit_percent"], []).append(pod["name"])
    for reason in sorted(by_reason):
        names = sorted(set(by_reason[reason]))
        verdict = _worse(verdict, WARNING)
        sample = next((p for p in summaries if p["name"] in names and p["reason"] == reason), None)
        detail = (": %s" % sample["message"]) if sample and sample.get("message") else ""
        reasons.append("%s: %d pod(s) (%s)%s" % (reason, len(names), ", ".join(names[:5]), detail))
    if warnings and verdict == OK:
        reasons.append("%d recent Warning event(s), latest %s: %s" % (len(warnings), warnings[0].get("reason"), warnings[0].get("message")))
    result["verdict"] = verdict
    result["reasons"] = reasons
    return result


def overall(workloads):
    verdict = OK
    for item in workloads:
        verdict = _worse(verdict, item["verdict"])
    return verdict
