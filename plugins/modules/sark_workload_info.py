#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: sark_workload_info
short_description: Say what is wrong with SARK's Deployments and StatefulSets in one call
version_added: 0.2.0
description:
  - Reads the Deployments and StatefulSets of a namespace (all, one by name, or by labels), their pods, their
    ReplicaSets (the rollout history), the pods' metrics (C(metrics.k8s.io), what C(kubectl top) reads) and the
    namespace's events, and judges each workload.
  - Per workload, desired, current, ready, updated and available replicas; each pod's phase and reason
    (C(CrashLoopBackOff), C(ImagePullBackOff), C(ErrImagePull), C(OOMKilled), C(Unschedulable) with the scheduler's
    message), restarts and last termination, age, images, CPU and memory use against requests and limits; the
    rollout revisions with their images and change-causes; recent Warning events; and a verdict
    (V(OK), V(WARNING), V(CRITICAL)) with the reasons.
  - Replaces the runbooks' C(kubectl get pods | grep -v Running), C(kubectl describe pod), C(kubectl top pods),
    C(kubectl rollout history) and C(kubectl get events) when the question is "what is wrong".
  - Connects with kubernetes.core's client and its authentication options (C(kubeconfig), C(context), C(host),
    C(api_key), ... and the C(K8S_AUTH_*) environment AWX's Kubernetes credential injects).
  - Never changes anything. Env values of secret-looking variables and passwords in URLs are masked; values taken
    from Secrets are shown as a reference only.
options:
  namespace:
    description: Namespace of the workloads (V(production), V(sark-system)).
    type: str
    required: true
  name:
    description: Only the workload of this name (for example V(sark), V(postgres)).
    type: str
  kinds:
    description: Which kinds of workloads to diagnose.
    type: list
    elements: str
    choices: [Deployment, StatefulSet]
    default: [Deployment, StatefulSet]
  label_selectors:
    description: Only workloads with these labels (C(app=sark), C(tier in (api,worker))), as in C(kubectl -l).
    type: list
    elements: str
    default: []
  max_workloads:
    description: At most this many workloads are read; more is an error (narrow the selection).
    type: int
    default: 50
  max_pods:
    description: At most this many pods are listed per workload (not ready ones first); all are counted.
    type: int
    default: 50
  max_events:
    description: At most this many Warning events are listed per workload (newest first); all are counted.
    type: int
    default: 10
  max_revisions:
    description: At most this many rollout revisions are listed per Deployment (newest first).
    type: int
    default: 10
  restart_threshold:
    description: A pod with at least this many container restarts makes its workload V(WARNING).
    type: int
    default: 5
  memory_limit_percent:
    description: A container using at least this share of its memory limit makes its workload V(WARNING).
    type: int
    default: 90
  metrics:
    description: Read pod metrics from C(metrics.k8s.io). Without a metrics server the result says so and goes on.
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.k8s_auth
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
attributes:
  action_group:
    description: Use C(group/sark.ops.k8s) in C(module_defaults) to set the Kubernetes connection once.
    support: full
    membership:
      - sark.ops.all
      - sark.ops.k8s
requirements:
  - kubernetes.core collection
  - kubernetes (Python library)
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: What is wrong in production (kubectl get pods | grep -v Running, describe, top, events)
  sark.ops.sark_workload_info:
    namespace: production
  register: workloads

- name: Fail the play when a SARK workload is critical
  ansible.builtin.assert:
    that: workloads.verdict != 'CRITICAL'
    fail_msg: "{{ workloads.workloads | selectattr('verdict', 'equalto', 'CRITICAL') | map(attribute='reasons') | list }}"

- name: One deployment, with an explicit kubeconfig and context
  sark.ops.sark_workload_info:
    namespace: sark-system
    name: sark-api
    kinds: [Deployment]
    kubeconfig: /etc/sark/kubeconfig
    context: prod
'''

RETURN = r'''
verdict:
  description: The worst verdict of all workloads (V(OK) when there are none).
  returned: success
  type: str
  sample: WARNING
counts:
  description: Workloads per verdict.
  returned: success
  type: dict
  sample: {OK: 4, WARNING: 1, CRITICAL: 0}
metrics_available:
  description: Whether C(metrics.k8s.io) answered; without it the C(usage) fields are missing.
  returned: success
  type: bool
metrics_error:
  description: Why the pod metrics could not be read.
  returned: when the metrics API did not answer
  type: str
workloads:
  description: One diagnosis per workload, worst first.
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: V(Deployment) or V(StatefulSet).
      type: str
    name:
      description: Name of the workload.
      type: str
    namespace:
      description: Its namespace.
      type: str
    verdict:
      description: V(OK), V(WARNING) or V(CRITICAL).
      type: str
    reasons:
      description: Why (replicas not ready, rollout stuck, pods in CrashLoopBackOff, OOMKilled, ...).
      type: list
      elements: str
    replicas:
      description: desired, current, ready, updated and available replicas.
      type: dict
      sample: {desired: 3, current: 4, ready: 3, updated: 1, available: 3}
    generation:
      description: metadata.generation (the spec version).
      type: int
    observed_generation:
      description: status.observedGeneration (the spec version the controller has acted on).
      type: int
    images:
      description: Images of the pod template.
      type: list
      elements: str
    revision:
      description: Current rollout revision (Deployment) or update revision (StatefulSet).
      type: str
    current_revision:
      description: The StatefulSet's current revision.
      type: str
      returned: for StatefulSets
    revisions:
      description: Rollout history, newest first, from the Deployment's ReplicaSets.
      type: list
      elements: dict
      returned: for Deployments
      sample: [{revision: 2, replicaset: sark-5d9c7, images: ["ghcr.io/sark/sark:2.1.1"], change_cause: "2.1.1", replicas: 3, ready_replicas: 3}]
    conditions:
      description: The workload's status conditions by type (Available, Progressing).
      type: dict
    pods:
      description:
        - The pods, not ready first, at most O(max_pods). Each has name, phase, ready, reason, message, restarts,
          last_termination (container, reason, exit_code, finished_at), node, age_seconds, images, revision_hash
          and containers (name, image, ready, restarts, state, requests, limits, env masked, usage and
          cpu/memory use in percent of request and limit).
      type: list
      elements: dict
    pods_total:
      description: All pods of the workload.
      type: int
    pods_truncated:
      description: Whether O(max_pods) cut the list.
      type: bool
    warning_events:
      description: Warning events of the workload, its ReplicaSets and pods, newest first, at most O(max_events).
      type: list
      elements: dict
      sample: [{reason: BackOff, message: "Back-off restarting failed container", count: 12, object: Pod/sark-5d9c7-x1, last_seen: "2026-12-01T08:00:00Z"}]
    warning_events_total:
      description: All Warning events of the workload.
      type: int
evidence:
  description: What was asked (secrets masked), counts of objects read, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._k8s import K8sReader, k8s_auth_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import CRITICAL, OK, ORDER, WARNING, diagnose_workload, overall
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, SarkLimitError, sark_main


def _selector(workload):
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return labels


def _matches(labels, selector):
    return all((labels or {}).get(k) == v for k, v in selector.items())


def run(module):
    params = module.params
    for key in ("max_workloads", "max_pods", "max_events", "max_revisions", "restart_threshold", "memory_limit_percent"):
        if params[key] < 1:
            raise SarkError("%s must be at least 1, got %d" % (key, params[key]))
    namespace = params["namespace"]
    reader = K8sReader(module)
    label_selector = ",".join(params["label_selectors"]) or None
    workloads = []
    for kind in params["kinds"]:
        for item in reader.list(kind, "apps/v1", namespace, label_selector, params["name"]):
            item.setdefault("kind", kind)
            workloads.append(item)
    if len(workloads) > params["max_workloads"]:
        raise SarkLimitError("%d workloads match in %s, more than max_workloads=%d: narrow the selection with name or "
                             "label_selectors, or raise max_workloads" % (len(workloads), namespace, params["max_workloads"]))
    result = {"changed": False, "workloads": [], "verdict": OK, "counts": {OK: 0, WARNING: 0, CRITICAL: 0},
              "metrics_available": False}
    if not workloads:
        return result
    pods = reader.list("Pod", "v1", namespace)
    replicasets = reader.list("ReplicaSet", "apps/v1", namespace) if "Deployment" in params["kinds"] else []
    events = reader.list("Event", "v1", namespace)
    metrics = {}
    if params["metrics"]:
        try:
            metrics = {m["metadata"]["name"]: m for m in reader.list("PodMetrics", "metrics.k8s.io/v1beta1", namespace)}
            result["metrics_available"] = True
        except SarkError as exc:
            result["metrics_error"] = exc.msg
    limits = {k: params[k] for k in ("max_pods", "max_events", "max_revisions", "restart_threshold", "memory_limit_percent")}
    for workload in workloads:
        selector = _selector(workload)
        uid = workload["metadata"].get("uid")
        own_sets = [rs for rs in replicasets if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])]
        owner_uids = {uid} | {rs["metadata"].get("uid") for rs in own_sets}
        own_pods = [p for p in pods if selector and _matches(p["metadata"].get("labels"), selector)
                    and any(ref.get("uid") in owner_uids for ref in p["metadata"].get("ownerReferences") or [])]
        names = {workload["metadata"]["name"]} | {rs["metadata"]["name"] for rs in own_sets} | {p["metadata"]["name"] for p in own_pods}
        own_events = [e for e in events if (e.get("involvedObject") or {}).get("name") in names]
        result["workloads"].append(diagnose_workload(workload, own_pods, own_sets, metrics, own_events, limits))
    result["workloads"].sort(key=lambda w: (-ORDER[w["verdict"]], w["kind"], w["name"]))
    for item in result["workloads"]:
        result["counts"][item["verdict"]] += 1
    result["verdict"] = overall(result["workloads"])
    module.evidence.set_count("workloads", len(result["workloads"]))
    return result


def main():
    spec = dict(
        namespace=dict(type="str", required=True),
        name=dict(type="str"),
        kinds=dict(type="list", elements="str", choices=["Deployment", "StatefulSet"], default=["Deployment", "StatefulSet"]),
        label_selectors=dict(type="list", elements="str", default=[]),
        max_workloads=dict(type="int", default=50),
        max_pods=dict(type="int", default=50),
        max_events=dict(type="int", default=10),
        max_revisions=dict(type="int", default=10),
        restart_threshold=dict(type="int", default=5),
        memory_limit_percent=dict(type="int", default=90),
        metrics=dict(type="bool", default=True),
    )
    sark_main(run, spec, (k8s_auth_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
