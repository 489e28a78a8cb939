# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The judgements behind the sark.ops.sark_k8s role's entry points (logs, pvc_expand, hpa, resources): which log lines
match and what they say with their secrets masked, whether a volume may grow, what an HPA or a resource patch changes.
No I/O here: the role reads with kubernetes.core, this module decides."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import parse_quantity
from ansible_collections.sark.ops.plugins.module_utils._module import MASK


class K8sOpsError(ValueError):
    """The input is not what the entry point needs; the message says what to fix."""


# secrets as they appear in log lines: key=value / "key": "value" for secret-looking keys, URL passwords, bearer
# tokens and JWTs (three base64url parts, the first a JSON header)
_KEY_VALUE = re.compile(r"""(?i)((?:password|passwd|secret|token|api_?key|authorization|cookie)["']?\s*[:=]\s*["']?)([^"'\s,;&}]+)""")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@/\s]+)(@)")
_BEARER = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def mask_line(line):
    """One log line with every secret-looking value replaced by the mask."""
    line = _JWT.sub(MASK, str(line))
    line = _URL_PASSWORD.sub(r"\1" + MASK + r"\3", line)
    line = _BEARER.sub(r"\1" + MASK, line)
    return _KEY_VALUE.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == MASK else MASK), line)


def _registered_read(result):
    """One result of a kubernetes.core.k8s_log loop (failed_when: false) over pod names or {pod, previous} as a read."""
    item = result["item"]
    pod, previous = (item.get("pod"), bool(item.get("previous"))) if isinstance(item, dict) else (item, False)
    if result.get("failed") or "log_lines" not in result:   # failed_when: false clears `failed`: no log_lines tells
        return {"pod": pod, "previous": previous, "error": str(result.get("msg") or "the log could not be read")}
    lines = list(result.get("log_lines") or [])
    if lines and lines[-1] == "":
        lines.pop()   # k8s_log splits the log at "\n": the newline that ends the last line is no line of its own
    return {"pod": pod, "previous": previous, "lines": lines}


def log_matches(logs, pattern="", ignore_case=True, max_lines=50):
    """logs: [{pod, container, previous, lines | error}] (one per k8s_log read). Returns per read the number of lines,
    the matching lines (masked, the newest max_lines) and their count, and the totals; a pod whose log cannot be read
    (waiting to start, no previous container) is reported with the API's message, not dropped."""
    if not isinstance(logs, list):
        raise K8sOpsError("k8s_log_matches: the input must be a list of {pod, container, previous, lines} reads")
    if int(max_lines) < 1:
        raise K8sOpsError("k8s_log_matches: max_lines must be at least 1, got %r" % (max_lines,))
    try:
        regex = re.compile(pattern or "", re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise K8sOpsError("k8s_log_matches: the pattern %r is not a regular expression: %s" % (pattern, exc))
    pods, total_lines, total_matched = [], 0, 0
    for read in logs:
        if isinstance(read, dict) and "pod" not in read and "item" in read:
            read = _registered_read(read)
        if not isinstance(read, dict) or "pod" not in read:
            raise K8sOpsError("k8s_log_matches: every read needs a pod name, got %r" % (read,))
        entry = {"pod": read["pod"], "container": read.get("container"), "previous": bool(read.get("previous")),
                 "lines": 0, "matched": 0, "matches": [], "error": None}
        if read.get("error"):
            entry["error"] = mask_line(read["error"])
            pods.append(entry)
            continue
        lines = [str(line) for line in read.get("lines") or []]
        hits = [line for line in lines if regex.search(line)]
        entry.update(lines=len(lines), matched=len(hits), matches=[mask_line(line) for line in hits[-int(max_lines):]])
        total_lines += len(lines)
        total_matched += len(hits)
        pods.append(entry)
    return {"pattern": pattern or "", "pods": pods, "lines": total_lines, "matched": total_matched,
            "errors": sum(1 for p in pods if p["error"]),
            "first_match": next((p["matches"][0] for p in pods if p["matches"]), None)}


def _quantity(value, what):
    number = parse_quantity(value)
    if number is None:
        raise K8sOpsError("%s %r is not a Kubernetes quantity (for example 100Gi)" % (what, value))
    return number


DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def _claim_class(name, classes):
    """The claim's StorageClass among `classes`: the named one, else the default one (a claim without a class name)."""
    for sc in classes:
        meta = sc.get("metadata") or {}
        if (name and meta.get("name") == name) or (not name and (meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"):
            return sc
    return None


def pvc_expand_plan(pvc, size, storage_class=None):
    """Whether the claim's storage request may become `size`: never smaller (Kubernetes refuses a shrink), only where
    its StorageClass has allowVolumeExpansion. storage_class: the class, or a list of classes to find the claim's one
    in (by name, else the default). {claim, current, capacity, wanted, changed, allowed, reason, storage_class}."""
    if not isinstance(pvc, dict) or "spec" not in pvc:
        raise K8sOpsError("pvc_expand: the claim was not found (pass the k8s_info resource of the PersistentVolumeClaim)")
    spec = pvc.get("spec") or {}
    current = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    capacity = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
    have, want = _quantity(current, "the claim's storage request"), _quantity(size, "the size")
    if isinstance(storage_class, list):
        storage_class = _claim_class(spec.get("storageClassName"), storage_class)
    class_name = spec.get("storageClassName") or ((storage_class or {}).get("metadata") or {}).get("name")
    plan = {"claim": (pvc.get("metadata") or {}).get("name"), "current": current, "capacity": capacity, "wanted": size,
            "storage_class": class_name, "changed": False, "allowed": False, "reason": None}
    if want < have:
        plan["reason"] = ("refused: %s is smaller than the claim's %s - a PersistentVolumeClaim cannot shrink"
                          % (size, current))
        return plan
    if want == have:
        plan.update(allowed=True, reason="the claim already requests %s" % current)
        return plan
    if not storage_class:
        plan["reason"] = ("refused: the StorageClass %s of the claim was not found, so volume expansion cannot be "
                          "confirmed" % (class_name or "(none: the claim has no storageClassName and there is no default)"))
        return plan
    if storage_class.get("allowVolumeExpansion") is not True:
        plan["reason"] = ("refused: the StorageClass %s does not allow volume expansion (allowVolumeExpansion is not "
                          "true): create a larger volume and move the data" % class_name)
        return plan
    plan.update(changed=True, allowed=True,
                reason="%s -> %s (StorageClass %s allows volume expansion)" % (current, size, class_name))
    return plan


def _cpu_target(hpa):
    for metric in (hpa.get("spec") or {}).get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            return (resource.get("target") or {}).get("averageUtilization")
    return (hpa.get("spec") or {}).get("targetCPUUtilizationPercentage")


def hpa_plan(hpa, max_replicas=None, cpu_target=None, min_replicas=None):
    """The patch of an autoscaling/v2 HPA for a new maxReplicas / minReplicas / CPU averageUtilization target, with
    the values before and after. {before, after, changed, patch, reason}."""
    if not isinstance(hpa, dict) or "spec" not in hpa:
        raise K8sOpsError("hpa: the HorizontalPodAutoscaler was not found (pass its k8s_info resource)")
    if max_replicas is None and cpu_target is None and min_replicas is None:
        raise K8sOpsError("hpa: give max_replicas, min_replicas or cpu_target (nothing to change)")
    spec = hpa["spec"]
    before = {"min_replicas": spec.get("minReplicas", 1), "max_replicas": spec.get("maxReplicas"), "cpu_target": _cpu_target(hpa)}
    after = dict(before)
    for key, value in (("max_replicas", max_replicas), ("min_replicas", min_replicas), ("cpu_target", cpu_target)):
        if value is not None:
            after[key] = int(value)
    if after["min_replicas"] < 1 or after["max_replicas"] < after["min_replicas"]:
        raise K8sOpsError("hpa: maxReplicas %s must be at least minReplicas %s (and minReplicas at least 1)"
                          % (after["max_replicas"], after["min_replicas"]))
    if after["cpu_target"] is not None and not 1 <= after["cpu_target"] <= 100:
        raise K8sOpsError("hpa: the CPU target must be a percentage 1-100, got %s" % after["cpu_target"])
    patch = {"spec": {}}
    if after["max_replicas"] != before["max_replicas"]:
        patch["spec"]["maxReplicas"] = after["max_replicas"]
    if after["min_replicas"] != before["min_replicas"]:
        patch["spec"]["minReplicas"] = after["min_replicas"]
    if after["cpu_target"] != before["cpu_target"]:
        others = [m for m in spec.get("metrics") or [] if not (m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu")]
        patch["spec"]["metrics"] = others + [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": after["cpu_target"]}}}]
    changed = bool(patch["spec"])
    reason = ", ".join("%s %s -> %s" % (k, before[k], after[k]) for k in ("min_replicas", "max_replicas", "cpu_target")
                       if before[k] != after[k]) or "already as wanted"
    return {"before": before, "after": after, "changed": changed, "patch": patch, "reason": reason}


RESOURCE_NAMES = ("cpu", "memory")


def resources_plan(workload, container, limits=None, requests=None):
    """The strategic-merge patch setting one container's limits/requests of a Deployment or StatefulSet, with the
    values before. Refuses a request above its limit (the API would reject the pod template)."""
    if not isinstance(workload, dict) or "spec" not in workload:
        raise K8sOpsError("resources: the workload was not found (pass its k8s_info resource)")
    containers = (((workload["spec"].get("template") or {}).get("spec") or {}).get("containers")) or []
    names = [c.get("name") for c in containers]
    if not container and len(names) == 1:
        container = names[0]
    found = [c for c in containers if c.get("name") == container]
    if not found:
        raise K8sOpsError("resources: container %r not in the pod template (containers: %s)" % (container, ", ".join(names)))
    limits, requests = dict(limits or {}), dict(requests or {})
    if not limits and not requests:
        raise K8sOpsError("resources: give limits or requests (memory, cpu)")
    for key in list(limits) + list(requests):
        if key not in RESOURCE_NAMES:
            raise K8sOpsError("resources: %r is not one of %s" % (key, ", ".join(RESOURCE_NAMES)))
    for value in list(limits.values()) + list(requests.values()):
        _quantity(value, "the value")
    have = found[0].get("resources") or {}
    before = {"limits": dict(have.get("limits") or {}), "requests": dict(have.get("requests") or {})}
    after = {"limits": dict(before["limits"], **limits), "requests": dict(before["requests"], **requests)}
    for key in RESOURCE_NAMES:
        if key in after["limits"] and key in after["requests"] and \
                parse_quantity(after["requests"][key]) > parse_quantity(after["limits"][key]):
            raise K8sOpsError("resources: the %s request %s would be above its limit %s" % (key, after["requests"][key], after["limits"][key]))
    same = all(parse_quantity(before[b].get(k)) == parse_quantity(v) for b, values in (("limits", limits), ("requests", requests))
               for k, v in values.items())
    patch_resources = {}
    if limits:
        patch_resources["limits"] = limits
    if requests:
        patch_resources["requests"] = requests
    return {"container": container, "before": before, "after": after, "changed": not same,
            "patch": {"spec": {"template": {"spec": {"containers": [{"name": container, "resources": patch_resources}]}}}}}


def unready_pods(pods, revision):
    """Names of the pods on `revision` (a StatefulSet's controller-revision-hash before its template changed) whose
    Ready condition is not True: the pods an OrderedReady StatefulSet will not replace by itself."""
    names = []
    for pod in pods or []:
        meta = pod.get("metadata") or {}
        if revision and (meta.get("labels") or {}).get("controller-revision-hash") != revision:
            continue
        ready = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            names.append(meta.get("name"))
    return sorted(names)
