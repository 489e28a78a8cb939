"""The controllers of the test Kubernetes API: what kube-controller-manager, the scheduler and the kubelet do.

Runs as one asyncio task in the emulator's event loop; every pass (``timing.tick`` seconds, or sooner after a
write) reconciles under the emulator's lock:

- garbage collection: an object whose ``ownerReferences`` name a uid that no longer exists is deleted;
- Deployments own ReplicaSets: the ReplicaSet for the current pod template (``pod-template-hash`` label,
  ``deployment.kubernetes.io/revision`` and ``kubernetes.io/change-cause`` annotations), a rolling update within
  maxSurge/maxUnavailable (old pods go only as new ones turn Ready: a rollout whose new pods fail stops half
  way), Recreate, status (observedGeneration, replicas, updated/ready/available/unavailable, conditions
  Progressing and Available, ProgressDeadlineExceeded after ``progressDeadlineSeconds``);
- ReplicaSets create and delete pods; StatefulSets create ``<name>-<ordinal>`` in order (OrderedReady), bring a
  deleted pod back, update from the highest ordinal, create PVCs from ``volumeClaimTemplates``;
- Jobs run pods until ``completions`` succeed or ``backoffLimit`` failures;
- the scheduler puts a pod on the first node whose allocatable CPU/memory still fits its requests, else leaves it
  Pending (PodScheduled=False, Unschedulable, "0/N nodes are available: N Insufficient memory.");
- the kubelet decides each container's fate from the scenario's image table (scenario.yml ``images``, first
  ``match`` wins, see its header): an image no entry matches cannot be pulled (ErrImagePull, then
  ImagePullBackOff); an image whose memory use exceeds the container's memory limit is OOMKilled; an image
  with ``exit_code`` exits after ``run_for`` seconds (CrashLoopBackOff under restartPolicy Always, Succeeded or
  Failed under Never); anything else runs and turns Ready after ``timing.ready_after`` seconds;
- events for each of these (Scheduled, FailedScheduling, Pulled, Failed, BackOff, Started, Killing,
  ScalingReplicaSet, SuccessfulCreate, SuccessfulDelete, Completed, BackoffLimitExceeded);
- metrics.k8s.io PodMetrics/NodeMetrics from the image table's cpu/memory use (``load_cpu``: a load shared by the
  running containers of the image); pods/log lines from its ``logs``;
- cert-manager: Issuers, ClusterIssuers and Certificates (issuance, renewal, ``cmctl renew``), certmanager.py.
"""

import asyncio
import copy
import datetime
import fnmatch
import hashlib
import json
import math
import time
import uuid

from .certmanager import CertManager
from .emulator import now_iso

MAX_EVENTS = 1000


def parse_quantity(value):
    """A Kubernetes quantity as a float (cores for CPU, bytes for memory)."""
    if value is None:
        return 0.0
    text = str(value)
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024.0, "Mi": 1024.0 ** 2,
                "Gi": 1024.0 ** 3, "Ti": 1024.0 ** 4}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * suffixes[suffix]
    return float(text)


def _intstr(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        scaled = total * int(value[:-1]) / 100.0
        return int(math.ceil(scaled) if round_up else math.floor(scaled))
    return int(value)


def template_hash(template):
    template = copy.deepcopy(template)
    ((template.get("metadata") or {}).get("labels") or {}).pop("pod-template-hash", None)
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghjklmnpqrstvwxz2456789")[:10] or digest[:10]


def _set_condition(conditions, ctype, status, reason, message=""):
    for cond in conditions:
        if cond["type"] == ctype:
            if cond["status"] != status or cond.get("reason") != reason:
                cond.update(status=status, reason=reason, message=message, lastTransitionTime=now_iso(), lastUpdateTime=now_iso())
            elif cond.get("message") != message:
                cond.update(message=message, lastUpdateTime=now_iso())
            return
    conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                       "lastTransitionTime": now_iso(), "lastUpdateTime": now_iso()})


def _owned(obj, owner):
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner, kind, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


class Controller:  # pylint: disable=too-many-instance-attributes
    """See the module docstring."""

    def __init__(self, emu, scenario):
        self.emu = emu
        self.scenario = scenario
        timing = scenario.get("timing") or {}
        self.tick = float(timing.get("tick", 0.1))
        self.ready_after = float(timing.get("ready_after", 0.4))
        self.backoff_after = float(timing.get("pull_backoff_after", 0.4))
        self.crash_interval = float(timing.get("crash_interval", 0.5))
        self.images = scenario.get("images") or []
        self.logs = scenario.get("logs") or {}
        self.nodes = scenario.get("nodes") or []
        self.started = {}  # pod uid -> monotonic time it was scheduled
        self.emitted = set()  # (uid, reason, message) of events already emitted once
        self.progress = {}  # deployment uid -> (template hash, monotonic time the rollout started)
        self._wake = None
        self._task = None
        self.cert_manager = CertManager(emu)
        emu.controller = self
        emu.log_provider = self.pod_log

    # ---- loop ---------------------------------------------------------------------------------

    def start(self):
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self):
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def wake(self):
        if self._wake is not None:
            self._wake.set()

    async def run(self):
        while True:
            self._wake.clear()
            async with self.emu._lock:  # pylint: disable=protected-access
                try:
                    self.reconcile()
                except Exception as exc:  # pylint: disable=broad-except
                    # a controller bug must show in the test output, not stop the loop silently
                    print("k8s controller error: %r" % exc, flush=True)
                    import traceback  # pylint: disable=import-outside-toplevel
                    traceback.print_exc()
            await asyncio.sleep(0.02)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick)
            except asyncio.TimeoutError:
                pass

    def reconcile(self):
        self.collect_garbage()
        for dep in self.emu.items("apps", "deployments"):
            self.sync_deployment(dep)
        for rs in self.emu.items("apps", "replicasets"):
            self.sync_replicaset(rs)
        for sts in self.emu.items("apps", "statefulsets"):
            self.sync_statefulset(sts)
        for job in self.emu.items("batch", "jobs"):
            self.sync_job(job)
        for pvc in self.emu.items("", "persistentvolumeclaims"):
            self.sync_pvc(pvc)
        for pod in self.emu.items("", "pods"):
            self.sync_pod(pod)
        # status of owners after their pods moved
        for rs in self.emu.items("apps", "replicasets"):
            self.status_replicaset(rs)
        for dep in self.emu.items("apps", "deployments"):
            self.status_deployment(dep)
        self.cert_manager.sync()

    # ---- events -------------------------------------------------------------------------------

    def event(self, obj, etype, reason, message, once=True, component="kubelet"):
        meta = obj["metadata"]
        key = (meta["uid"], reason, message)
        if once and key in self.emitted:
            return
        namespace = meta.get("namespace") or "default"
        existing = None
        if key in self.emitted:
            for item in self.emu.items("", "events", namespace):
                if item.get("involvedObject", {}).get("uid") == meta["uid"] and item.get("reason") == reason \
                        and item.get("message") == message:
                    existing = item
                    break
        self.emitted.add(key)
        if existing is not None:
            existing["count"] = existing.get("count", 1) + 1
            existing["lastTimestamp"] = now_iso()
            self.emu.put("", "events", existing)
            return
        name = "%s.%s" % (meta["name"], uuid.uuid4().hex[:16])
        self.emu.put("", "events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()},
            "involvedObject": {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                               "uid": meta["uid"], "apiVersion": obj.get("apiVersion")},
            "reason": reason, "message": message, "type": etype, "count": 1,
            "firstTimestamp": now_iso(), "lastTimestamp": now_iso(), "source": {"component": component},
            "reportingComponent": component})
        events = self.emu.items("", "events")
        if len(events) > MAX_EVENTS:
            events.sort(key=lambda e: (e.get("lastTimestamp") or "", e["metadata"]["resourceVersion"]))
            for item in events[:len(events) - MAX_EVENTS]:
                self.emu.remove("", "events", item["metadata"]["namespace"], item["metadata"]["name"])

    def deleted(self, kind, obj):
        """An object was deleted through the API (emulator.delete)."""
        if kind == "Pod":
            self.started.pop(obj["metadata"]["uid"], None)
            for ref in obj["metadata"].get("ownerReferences") or []:
                owner = {"kind": ref["kind"], "apiVersion": ref.get("apiVersion"),
                         "metadata": {"name": ref["name"], "uid": ref["uid"], "namespace": obj["metadata"].get("namespace")}}
                self.event(obj, "Normal", "Killing", "Stopping container %s" % obj["spec"]["containers"][0]["name"])
                del owner
        self.wake()

    # ---- garbage collector --------------------------------------------------------------------

    def collect_garbage(self):
        objects = list(self.emu.all_objects())
        uids = {obj["metadata"].get("uid") for dummy, obj in objects}
        for res, obj in objects:
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and not any(ref.get("uid") in uids for ref in refs):
                self.emu.remove(res.group, res.plural, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                if res.plural == "pods":
                    self.started.pop(obj["metadata"]["uid"], None)

    # ---- deployments --------------------------------------------------------------------------

    def _replicasets(self, dep):
        result = [rs for rs in self.emu.items("apps", "replicasets", dep["metadata"]["namespace"]) if _owned(rs, dep)]
        result.sort(key=lambda rs: int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0")))
        return result

    def _revision(self, rs):
        return int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))

    def sync_deployment(self, dep):  # pylint: disable=too-many-locals,too-many-branches,too-many-statements
        meta, spec = dep["metadata"], dep["spec"]
        namespace = meta["namespace"]
        thash = template_hash(spec["template"])
        sets = self._replicasets(dep)
        new_rs = next((rs for rs in sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == thash), None)
        max_revision = max([self._revision(rs) for rs in sets] or [0])
        change_cause = (meta.get("annotations") or {}).get("kubernetes.io/change-cause")
        if new_rs is None:
            template = copy.deepcopy(spec["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = thash
            annotations = {"deployment.kubernetes.io/revision": str(max_revision + 1),
                           "deployment.kubernetes.io/desired-replicas": str(spec["replicas"])}
            if change_cause:
                annotations["kubernetes.io/change-cause"] = change_cause
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = thash
            new_rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                      "metadata": {"name": "%s-%s" % (meta["name"], thash), "namespace": namespace,
                                   "uid": str(uuid.uuid4()), "creationTimestamp": now_iso(), "generation": 1,
                                   "labels": dict(template["metadata"]["labels"]), "annotations": annotations,
                                   "ownerReferences": [_owner_ref(dep, "Deployment")]},
                      "spec": {"replicas": 0, "selector": selector, "template": template},
                      "status": {"replicas": 0, "observedGeneration": 1}}
            new_rs = self.emu.put("apps", "replicasets", new_rs)
            sets.append(new_rs)
            self.progress[meta["uid"]] = (thash, time.monotonic())
            self.event(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d"
                       % (new_rs["metadata"]["name"], spec["replicas"] if spec["strategy"]["type"] == "RollingUpdate" else 0),
                       component="deployment-controller")
        elif self._revision(new_rs) != max_revision:
            # a rollback to an older template: its ReplicaSet becomes the newest revision again
            new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(max_revision + 1)
            if change_cause:
                new_rs["metadata"]["annotations"]["kubernetes.io/change-cause"] = change_cause
            new_rs = self.emu.put("apps", "replicasets", new_rs)
            self.progress[meta["uid"]] = (thash, time.monotonic())
            self.event(dep, "Normal", "DeploymentRollback", "Rolled back deployment %s to revision %s"
                       % (meta["name"], self._revision(new_rs)), component="deployment-controller")
        elif meta["uid"] not in self.progress:
            self.progress[meta["uid"]] = (thash, time.monotonic())
        revision = str(self._revision(new_rs))
        if (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") != revision:
            dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
            dep = self.emu.put("apps", "deployments", dep)
            meta, spec = dep["metadata"], dep["spec"]
        old_sets = [rs for rs in sets if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        desired = spec["replicas"]
        pods = {rs["metadata"]["uid"]: self._rs_pods(rs) for rs in sets}
        ready = {uid: sum(1 for p in items if pod_ready(p)) for uid, items in pods.items()}
        if spec.get("paused"):
            return
        if spec["strategy"]["type"] == "Recreate":
            if any(rs["spec"]["replicas"] for rs in old_sets):
                for rs in old_sets:
                    self._scale_rs(dep, rs, 0)
            elif not any(pods[rs["metadata"]["uid"]] for rs in old_sets):
                self._scale_rs(dep, new_rs, desired)
        else:
            rolling = spec["strategy"].get("rollingUpdate") or {}
            surge = _intstr(rolling.get("maxSurge", "25%"), desired, True)
            unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, False)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            # the Deployment controller's rolling update (pkg/controller/deployment/rolling.go), in one pass
            total = sum(rs["spec"]["replicas"] for rs in sets)
            if new_rs["spec"]["replicas"] > desired:
                self._scale_rs(dep, new_rs, desired)
            elif new_rs["spec"]["replicas"] < desired:
                up = min(desired + surge - total, desired - new_rs["spec"]["replicas"])
                if up > 0:
                    self._scale_rs(dep, new_rs, new_rs["spec"]["replicas"] + up)
            total = sum(rs["spec"]["replicas"] for rs in sets)
            min_available = desired - unavailable
            new_unavailable = max(0, new_rs["spec"]["replicas"] - ready[new_rs["metadata"]["uid"]])
            # first the old replicas that are not available anyway
            cleanup = total - min_available - new_unavailable
            for rs in old_sets:
                unhealthy = rs["spec"]["replicas"] - ready[rs["metadata"]["uid"]]
                if cleanup <= 0 or unhealthy <= 0:
                    continue
                down = min(unhealthy, cleanup)
                self._scale_rs(dep, rs, rs["spec"]["replicas"] - down)
                cleanup -= down
            # then as many available ones as minAvailable allows
            available = sum(ready.values())
            budget = available - min_available
            for rs in old_sets:
                if budget <= 0:
                    break
                if rs["spec"]["replicas"]:
                    down = min(rs["spec"]["replicas"], budget)
                    self._scale_rs(dep, rs, rs["spec"]["replicas"] - down)
                    budget -= down
        # keep revisionHistoryLimit old ReplicaSets with 0 replicas
        limit = spec.get("revisionHistoryLimit", 10)
        idle = [rs for rs in old_sets if not rs["spec"]["replicas"] and not pods[rs["metadata"]["uid"]]]
        for rs in idle[:max(0, len(idle) - limit)]:
            self.emu.remove("apps", "replicasets", namespace, rs["metadata"]["name"])

    def _scale_rs(self, dep, rs, replicas):
        old = rs["spec"]["replicas"]
        if old == replicas:
            return
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        rs["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(dep["spec"]["replicas"])
        self.emu.put("apps", "replicasets", rs)
        self.event(dep, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d"
                   % ("up" if replicas > old else "down", rs["metadata"]["name"], old, replicas),
                   once=False, component="deployment-controller")

    def status_deployment(self, dep):
        meta, spec = dep["metadata"], dep["spec"]
        sets = self._replicasets(dep)
        thash = template_hash(spec["template"])
        new_rs = next((rs for rs in sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == thash), None)
        if new_rs is None:
            return
        all_pods = [p for rs in sets for p in self._rs_pods(rs)]
        new_pods = self._rs_pods(new_rs)
        ready = sum(1 for p in all_pods if pod_ready(p))
        desired = spec["replicas"]
        rolling = spec["strategy"].get("rollingUpdate") or {}
        unavailable_allowed = _intstr(rolling.get("maxUnavailable", "25%"), desired, False) if spec["strategy"]["type"] == "RollingUpdate" else 0
        status = copy.deepcopy(dep.get("status") or {})
        status.update(observedGeneration=meta.get("generation", 1), replicas=len(all_pods), updatedReplicas=len(new_pods),
                      readyReplicas=ready, availableReplicas=ready)
        status["unavailableReplicas"] = max(0, desired - ready)
        if not status["unavailableReplicas"]:
            del status["unavailableReplicas"]
        conditions = status.setdefault("conditions", [])
        if ready >= desired - unavailable_allowed:
            _set_condition(conditions, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            _set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        new_ready = sum(1 for p in new_pods if pod_ready(p))
        complete = len(new_pods) == desired and new_ready == desired and len(all_pods) == desired
        started = self.progress.get(meta["uid"], (thash, time.monotonic()))[1]
        if complete:
            _set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                           'ReplicaSet "%s" has successfully progressed.' % new_rs["metadata"]["name"])
        elif time.monotonic() - started > spec.get("progressDeadlineSeconds", 600):
            if not any(c["type"] == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded" for c in conditions):
                self.event(dep, "Warning", "ProgressDeadlineExceeded", 'ReplicaSet "%s" has timed out progressing.'
                           % new_rs["metadata"]["name"], component="deployment-controller")
            _set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                           'ReplicaSet "%s" has timed out progressing.' % new_rs["metadata"]["name"])
        else:
            _set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                           'ReplicaSet "%s" is progressing.' % new_rs["metadata"]["name"])
        conditions.sort(key=lambda c: c["type"])
        if status != dep.get("status"):
            dep["status"] = status
            self.emu.put("apps", "deployments", dep)

    # ---- replica sets -------------------------------------------------------------------------

    def _rs_pods(self, owner):
        return [p for p in self.emu.items("", "pods", owner["metadata"]["namespace"]) if _owned(p, owner)]

    def _new_pod(self, owner, kind, name, extra_labels=None, api_version="apps/v1"):
        template = copy.deepcopy(owner["spec"]["template"])
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update(extra_labels or {})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "uid": str(uuid.uuid4()),
                            "creationTimestamp": now_iso(), "labels": labels,
                            "ownerReferences": [_owner_ref(owner, kind, api_version)]},
               "spec": template.get("spec") or {}, "status": {"phase": "Pending", "qosClass": "Burstable"}}
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = dict(tmeta["annotations"])
        pod["spec"].setdefault("restartPolicy", "Always")
        self.emu.put("", "pods", pod)
        self.event(owner, "Normal", "SuccessfulCreate", "Created pod: %s" % name, once=False,
                   component="%s-controller" % kind.lower())
        return pod

    def sync_replicaset(self, rs):
        pods = self._rs_pods(rs)
        want = rs["spec"]["replicas"]
        while len(pods) < want:
            pods.append(self._new_pod(rs, "ReplicaSet", "%s-%s" % (rs["metadata"]["name"], uuid.uuid4().hex[:5])))
        if len(pods) > want:
            # delete unscheduled, then not ready, then the newest first (as the ReplicaSet controller ranks them)
            pods.sort(key=lambda p: (bool(p["spec"].get("nodeName")), pod_ready(p), -self.started.get(p["metadata"]["uid"], 0)))
            for pod in pods[:len(pods) - want]:
                self.emu.remove("", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                self.started.pop(pod["metadata"]["uid"], None)
                self.event(rs, "Normal", "SuccessfulDelete", "Deleted pod: %s" % pod["metadata"]["name"], once=False,
                           component="replicaset-controller")

    def status_replicaset(self, rs):
        pods = self._rs_pods(rs)
        ready = sum(1 for p in pods if pod_ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        if status != rs.get("status"):
            rs["status"] = status
            self.emu.put("apps", "replicasets", rs)

    # ---- stateful sets ------------------------------------------------------------------------

    def sync_statefulset(self, sts):  # pylint: disable=too-many-locals
        meta, spec = sts["metadata"], sts["spec"]
        namespace = meta["namespace"]
        revision = "%s-%s" % (meta["name"], template_hash(spec["template"]))
        pods = {p["metadata"]["name"]: p for p in self._rs_pods(sts)}
        want = spec["replicas"]
        parallel = spec.get("podManagementPolicy") == "Parallel"
        for ordinal in range(want):
            name = "%s-%d" % (meta["name"], ordinal)
            if name in pods:
                if not pod_ready(pods[name]) and not parallel:
                    break
                continue
            for tmpl in spec.get("volumeClaimTemplates") or []:
                claim = "%s-%s" % (tmpl["metadata"]["name"], name)
                if self.emu.get("", "persistentvolumeclaims", namespace, claim) is None:
                    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": claim, "namespace": namespace, "uid": str(uuid.uuid4()),
                                        "creationTimestamp": now_iso(), "labels": dict((spec["selector"].get("matchLabels") or {}))},
                           "spec": copy.deepcopy(tmpl.get("spec") or {}), "status": {"phase": "Pending"}}
                    if not pvc["spec"].get("storageClassName") and self.default_storage_class():
                        pvc["spec"]["storageClassName"] = self.default_storage_class()   # DefaultStorageClass admission
                    self.emu.put("", "persistentvolumeclaims", pvc)
            labels = {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": name}
            pod = self._new_pod(sts, "StatefulSet", name, labels)
            pod["spec"]["hostname"] = name
            volumes = pod["spec"].setdefault("volumes", [])
            for tmpl in spec.get("volumeClaimTemplates") or []:
                volumes.append({"name": tmpl["metadata"]["name"],
                                "persistentVolumeClaim": {"claimName": "%s-%s" % (tmpl["metadata"]["name"], name)}})
            self.emu.put("", "pods", pod)
            pods[name] = pod
            if not parallel:
                break
        for name, pod in sorted(pods.items(), key=lambda kv: -int(kv[0].rsplit("-", 1)[1])):
            if int(name.rsplit("-", 1)[1]) >= want:
                self.emu.remove("", "pods", namespace, name)
                self.started.pop(pod["metadata"]["uid"], None)
                self.event(sts, "Normal", "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful" % (name, meta["name"]),
                           once=False, component="statefulset-controller")
                del pods[name]
                if not parallel:
                    break
        current = [p for p in pods.values() if int(p["metadata"]["name"].rsplit("-", 1)[1]) < want]
        ready = sum(1 for p in current if pod_ready(p))
        updated = [p for p in current if p["metadata"]["labels"].get("controller-revision-hash") == revision]
        if spec["updateStrategy"].get("type", "RollingUpdate") == "RollingUpdate" and ready == want == len(current):
            stale = sorted((p for p in current if p not in updated), key=lambda p: -int(p["metadata"]["name"].rsplit("-", 1)[1]))
            if stale:
                self.emu.remove("", "pods", namespace, stale[0]["metadata"]["name"])
                self.started.pop(stale[0]["metadata"]["uid"], None)
        status = copy.deepcopy(sts.get("status") or {})
        current_revision = status.get("currentRevision") or revision
        if len(updated) == want and ready == want:
            current_revision = revision
        status.update(observedGeneration=meta.get("generation", 1), replicas=len(current), readyReplicas=ready,
                      availableReplicas=ready, currentReplicas=len(current) - len(updated) if current_revision != revision else len(current),
                      updatedReplicas=len(updated), currentRevision=current_revision, updateRevision=revision)
        if status != sts.get("status"):
            sts["status"] = status
            self.emu.put("apps", "statefulsets", sts)

    def default_storage_class(self):
        for sc in self.emu.items("storage.k8s.io", "storageclasses"):
            if ((sc.get("metadata") or {}).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true":
                return sc["metadata"]["name"]
        return None

    def sync_pvc(self, pvc):
        request = ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        status = {"phase": "Bound", "accessModes": (pvc.get("spec") or {}).get("accessModes") or ["ReadWriteOnce"],
                  "capacity": {"storage": request or "1Gi"}}
        if pvc.get("status") != status:
            pvc["status"] = status
            pvc["spec"].setdefault("volumeName", "pvc-" + pvc["metadata"]["uid"])
            self.emu.put("", "persistentvolumeclaims", pvc)

    # ---- jobs -----------------------------------------------------------------------------------

    def sync_job(self, job):
        meta, spec = job["metadata"], job["spec"]
        status = copy.deepcopy(job.get("status") or {})
        conditions = status.setdefault("conditions", [])
        if any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions):
            return
        pods = self._rs_pods(job)
        succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p["status"].get("phase") == "Failed")
        active = len(pods) - succeeded - failed
        completions = spec.get("completions", 1)
        parallelism = spec.get("parallelism", 1)
        status.setdefault("startTime", now_iso())
        if succeeded >= completions:
            status["completionTime"] = now_iso()
            _set_condition(conditions, "Complete", "True", "", "")
            self.event(job, "Normal", "Completed", "Job completed", component="job-controller")
        elif failed > spec.get("backoffLimit", 6):
            _set_condition(conditions, "Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            self.event(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit", component="job-controller")
        else:
            while active < min(parallelism, completions - succeeded):
                self._new_pod(job, "Job", "%s-%s" % (meta["name"], uuid.uuid4().hex[:5]),
                              {"job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"]}, "batch/v1")
                active += 1
        if not conditions:
            del status["conditions"]
        status.update(active=active, succeeded=succeeded, failed=failed)
        if status != job.get("status"):
            job["status"] = status
            self.emu.put("batch", "jobs", job)

    # ---- scheduler and kubelet ------------------------------------------------------------------

    def image_entry(self, image, container=None):
        """The first image-table entry whose `match` glob fits the image and, when the entry has one, whose `command`
        glob fits the container's command and args joined by spaces (one image can run a server or a one-off Job)."""
        argv = " ".join(str(a) for a in ((container or {}).get("command") or []) + ((container or {}).get("args") or []))
        for entry in self.images:
            if fnmatch.fnmatchcase(image, entry["match"]) and fnmatch.fnmatchcase(argv, entry.get("command", "*")):
                return entry
        return None

    def _requests(self, pod):
        cpu = mem = 0.0
        for container in pod["spec"].get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or (container.get("resources") or {}).get("limits") or {}
            cpu += parse_quantity(requests.get("cpu"))
            mem += parse_quantity(requests.get("memory"))
        return cpu, mem

    def schedule(self, pod):
        cpu, mem = self._requests(pod)
        scheduled = [p for p in self.emu.items("", "pods") if p["spec"].get("nodeName")
                     and p["status"].get("phase") not in ("Succeeded", "Failed")]
        short = {"cpu": 0, "memory": 0}
        for node in self.nodes:
            used_cpu = sum(self._requests(p)[0] for p in scheduled if p["spec"]["nodeName"] == node["name"])
            used_mem = sum(self._requests(p)[1] for p in scheduled if p["spec"]["nodeName"] == node["name"])
            alloc = node.get("allocatable") or node["capacity"]
            fits_cpu = used_cpu + cpu <= parse_quantity(alloc["cpu"])
            fits_mem = used_mem + mem <= parse_quantity(alloc["memory"])
            if fits_cpu and fits_mem:
                return node["name"], None
            short["cpu"] += not fits_cpu
            short["memory"] += not fits_mem
        reasons = ", ".join("%d Insufficient %s" % (n, what) for what, n in sorted(short.items()) if n)
        return None, "0/%d nodes are available: %s." % (len(self.nodes), reasons or "no nodes")

    def sync_pod(self, pod):  # pylint: disable=too-many-branches,too-many-statements,too-many-locals
        meta, spec = pod["metadata"], pod["spec"]
        status = copy.deepcopy(pod.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        conditions = status.setdefault("conditions", [])
        if not spec.get("nodeName"):
            node, why = self.schedule(pod)
            if node is None:
                status["phase"] = "Pending"
                _set_condition(conditions, "PodScheduled", "False", "Unschedulable", why)
                self.event(pod, "Warning", "FailedScheduling", why, component="default-scheduler")
                self._write_pod(pod, status)
                return
            pod["spec"]["nodeName"] = node
            self.started[meta["uid"]] = time.monotonic()
            self.event(pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s" % (meta["namespace"], meta["name"], node),
                       component="default-scheduler")
            status.update(hostIP="10.0.0.%d" % (1 + [n["name"] for n in self.nodes].index(node)),
                          podIP="10.244.%d.%d" % (len(self.started) // 250, 2 + len(self.started) % 250),
                          startTime=now_iso())
        _set_condition(conditions, "PodScheduled", "True", "", "")
        age = time.monotonic() - self.started.setdefault(meta["uid"], time.monotonic())
        statuses = []
        for container in spec.get("containers") or []:
            statuses.append(self._container_status(pod, container, age, {c["name"]: c for c in status.get("containerStatuses") or []}))
        status["containerStatuses"] = statuses
        all_ready = all(c["ready"] for c in statuses)
        restart = spec.get("restartPolicy", "Always")
        terminated = [c["state"].get("terminated") for c in statuses]
        if restart != "Always" and all(terminated):
            status["phase"] = "Succeeded" if all(t["exitCode"] == 0 for t in terminated) else "Failed"
        elif any("running" in c["state"] or c.get("restartCount") for c in statuses):
            status["phase"] = "Running"
        else:
            status["phase"] = "Pending"
        _set_condition(conditions, "Initialized", "True", "", "")
        _set_condition(conditions, "ContainersReady", "True" if all_ready else "False", "" if all_ready else "ContainersNotReady",
                       "" if all_ready else "containers with unready status: [%s]" % " ".join(c["name"] for c in statuses if not c["ready"]))
        _set_condition(conditions, "Ready", "True" if all_ready else "False", "" if all_ready else "ContainersNotReady",
                       conditions[-1]["message"] if not all_ready else "")
        order = {"Initialized": 0, "Ready": 1, "ContainersReady": 2, "PodScheduled": 3}
        conditions.sort(key=lambda c: order.get(c["type"], 9))
        self._write_pod(pod, status)

    def _write_pod(self, pod, status):
        stored = self.emu.get("", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"]) or {}
        if status != pod.get("status") or pod["spec"].get("nodeName") != stored.get("spec", {}).get("nodeName"):
            pod["status"] = status
            self.emu.put("", "pods", pod)

    def _container_status(self, pod, container, age, previous):  # pylint: disable=too-many-branches
        image = container["image"]
        entry = self.image_entry(image, container)
        prev = previous.get(container["name"]) or {}
        result = {"name": container["name"], "image": image, "imageID": "", "ready": False, "started": False,
                  "restartCount": prev.get("restartCount", 0)}
        if entry is None or entry.get("pull") is False:
            if age < self.ready_after:
                result["state"] = {"waiting": {"reason": "ContainerCreating"}}
            else:
                # the kubelet backs off only after a failed pull: its events come first even when this loop (slowed by
                # a loaded machine) first looks after the ErrImagePull window, as a real kubelet never skips the pull
                msg = 'Failed to pull image "%s": rpc error: code = NotFound desc = failed to pull and unpack image "%s": not found' % (image, image)
                self.event(pod, "Warning", "Failed", msg)
                self.event(pod, "Warning", "Failed", "Error: ErrImagePull")
                result["state"] = {"waiting": {"reason": "ErrImagePull", "message": msg}}
            if age >= self.ready_after + self.backoff_after:
                msg = 'Back-off pulling image "%s"' % image
                result["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": msg}}
                self.event(pod, "Normal", "BackOff", msg)
                self.event(pod, "Warning", "Failed", "Error: ImagePullBackOff")
            return result
        result["imageID"] = "docker-pullable://%s@sha256:%s" % (image.split(":")[0], hashlib.sha256(image.encode()).hexdigest())
        if age < self.ready_after:
            result["state"] = {"waiting": {"reason": "ContainerCreating"}}
            return result
        self.event(pod, "Normal", "Pulled", 'Container image "%s" already present on machine' % image)
        self.event(pod, "Normal", "Created", "Created container %s" % container["name"])
        limit = parse_quantity(((container.get("resources") or {}).get("limits") or {}).get("memory"))
        oom = bool(limit) and parse_quantity(entry.get("memory", "0")) > limit
        exit_code = entry.get("exit_code")
        run_for = float(entry.get("run_for", 0.0))
        restart = pod["spec"].get("restartPolicy", "Always")
        if not oom and exit_code is None:
            result.update(ready=True, started=True, state={"running": {"startedAt": prev.get("state", {}).get("running", {}).get("startedAt") or now_iso()}})
            if prev.get("lastState"):
                result["lastState"] = prev["lastState"]
            if entry.get("restart_every"):
                # a container that keeps running but is restarted now and then (restarts_before, then one per
                # restart_every seconds): Running and Ready, its restartCount and lastState tell the story
                restarts = int(entry.get("restarts_before", 0)) + int(max(0.0, age - self.ready_after) / float(entry["restart_every"]))
                if restarts and (restarts != result["restartCount"] or "lastState" not in prev):
                    reason = entry.get("restart_reason", "OOMKilled")
                    finished = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(entry.get("last_restart_ago", 0)))
                    result["lastState"] = {"terminated": {"exitCode": 137 if reason == "OOMKilled" else 1, "reason": reason,
                                                          "finishedAt": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                          "containerID": "containerd://" + uuid.uuid4().hex}}
                result["restartCount"] = restarts
            self.event(pod, "Normal", "Started", "Started container %s" % container["name"])
            return result
        run_for = min(run_for, self.crash_interval / 2) if oom else run_for
        lived = age - self.ready_after
        if lived < run_for:
            result.update(started=True, ready=exit_code == 0 and restart == "Always",
                          state={"running": {"startedAt": now_iso()}})
            self.event(pod, "Normal", "Started", "Started container %s" % container["name"])
            return result
        reason = "OOMKilled" if oom else ("Completed" if exit_code == 0 else "Error")
        code = 137 if oom else int(exit_code)
        terminated = {"exitCode": code, "reason": reason, "startedAt": now_iso(), "finishedAt": now_iso(),
                      "containerID": "containerd://" + uuid.uuid4().hex}
        if restart == "Never" or (restart == "OnFailure" and code == 0):
            old = prev.get("state", {}).get("terminated")
            result["state"] = {"terminated": old or terminated}
            return result
        restarts = 1 + int((lived - run_for) / self.crash_interval)
        if restarts != result["restartCount"] or "lastState" not in prev:
            result["lastState"] = {"terminated": terminated}
            result["restartCount"] = restarts
        else:
            result["lastState"] = prev["lastState"]
        msg = "back-off %ds restarting failed container=%s pod=%s" % (min(300, 10 * 2 ** min(restarts, 5)), container["name"], pod["metadata"]["name"])
        result["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
        if oom:
            self.event(pod, "Warning", "OOMKilling", "Memory cgroup out of memory: Killed process (%s)" % container["name"])
        self.event(pod, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s" % (container["name"], pod["metadata"]["name"]))
        return result

    # ---- metrics and logs -----------------------------------------------------------------------

    def container_cpu(self, image, namespace):
        """CPU use of a running container: the image entry's `cpu`, or its `load_cpu` (the CPU a fixed request load
        needs) shared by the running containers of that image in the namespace - scaling out lowers each one's share."""
        entry = self.image_entry(image) or {}
        if "load_cpu" not in entry:
            return entry.get("cpu", "1m")
        sharing = sum(1 for pod in self.emu.items("", "pods", namespace) if pod["status"].get("phase") == "Running"
                      for container, cstatus in zip(pod["spec"]["containers"], pod["status"].get("containerStatuses") or [])
                      if container["image"] == image and "running" in cstatus.get("state", {}))
        return "%dm" % int(parse_quantity(entry["load_cpu"]) * 1000 / max(sharing, 1))

    def metrics(self, plural, namespace):
        stamp = now_iso()
        pods = [p for p in self.emu.items("", "pods", namespace) if p["status"].get("phase") == "Running"]
        if plural == "pods":
            items = []
            for pod in pods:
                containers = []
                for container, cstatus in zip(pod["spec"]["containers"], pod["status"].get("containerStatuses") or []):
                    if "running" not in cstatus.get("state", {}):
                        continue
                    entry = self.image_entry(container["image"], container) or {}
                    containers.append({"name": container["name"], "usage": {"cpu": self.container_cpu(container["image"], pod["metadata"]["namespace"]),
                                                                            "memory": entry.get("memory", "1Mi")}})
                if containers:
                    items.append({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                                  "metadata": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
                                               "labels": pod["metadata"].get("labels") or {}, "creationTimestamp": stamp},
                                  "timestamp": stamp, "window": "30s", "containers": containers})
            return items
        items = []
        for node in self.nodes:
            cpu = parse_quantity((node.get("base_usage") or {}).get("cpu", "250m"))
            mem = parse_quantity((node.get("base_usage") or {}).get("memory", "1Gi"))
            for pod in self.emu.items("", "pods"):
                if pod["spec"].get("nodeName") == node["name"] and pod["status"].get("phase") == "Running":
                    for container in pod["spec"]["containers"]:
                        entry = self.image_entry(container["image"], container) or {}
                        cpu += parse_quantity(self.container_cpu(container["image"], pod["metadata"]["namespace"]))
                        mem += parse_quantity(entry.get("memory", "1Mi"))
            items.append({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                          "metadata": {"name": node["name"], "labels": node.get("labels") or {}, "creationTimestamp": stamp},
                          "timestamp": stamp, "window": "30s",
                          "usage": {"cpu": "%dm" % int(cpu * 1000), "memory": "%dKi" % int(mem / 1024)}})
        return items

    def pod_log(self, pod, container, previous):
        cstatus = next((c for c in pod.get("status", {}).get("containerStatuses") or [] if c["name"] == container), None)
        if cstatus is None or ("waiting" in cstatus.get("state", {}) and not cstatus.get("restartCount") and not previous):
            reason = ((cstatus or {}).get("state", {}).get("waiting") or {}).get("reason", "ContainerCreating")
            return [], 'container "%s" in pod "%s" is waiting to start: %s' % (container, pod["metadata"]["name"], reason)
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        entry = self.image_entry(spec["image"], spec) or {}
        if previous:
            if not cstatus.get("restartCount"):
                return [], 'previous terminated container "%s" in pod "%s" not found' % (container, pod["metadata"]["name"])
            # what the last terminated container wrote depends on how it ended: an OOMKilled one is SIGKILLed
            # mid-work (no error line), one that exited on an error logged it (previous_logs_by_reason)
            reason = ((cstatus.get("lastState") or {}).get("terminated") or {}).get("reason")
            name = (entry.get("previous_logs_by_reason") or {}).get(reason) or entry.get("previous_logs") or entry.get("logs") or ""
            lines = self.logs.get(name, [])
        else:
            lines = self.logs.get(entry.get("logs") or "", [])
        span = float((self.scenario.get("timing") or {}).get("log_span_seconds", 7200))
        now = datetime.datetime.now(datetime.timezone.utc)
        count = len(lines)
        return [(now - datetime.timedelta(seconds=span * (count - i) / max(count, 1)), line) for i, line in enumerate(lines)], None
