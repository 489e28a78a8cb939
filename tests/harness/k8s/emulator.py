"""A Kubernetes API server for tests: kmock's KubernetesEmulator with what kubernetes.core's dynamic client needs.

kmock (https://github.com/nolar/kmock) serves discovery (/api, /apis, /apis/<group>/<version>) from its bundled
resource list, which we extend with the CRDs SARK's runbooks touch. Every request for a resource is answered
here instead, with the semantics of a real API server that kmock's plain emulator lacks
(../shared/notes/toolchain.md sec. 8): list kind/apiVersion/resourceVersion, labelSelector and fieldSelector,
uid/creationTimestamp/resourceVersion/generation, PUT, merge/strategic-merge/JSON patch, dryRun=All,
the status/scale/log subresources, namespaces that must exist, deletion of a namespace's objects,
``GET /version/``. The objects live in kmock's ``objects`` array (one version each, no history kept).

Controllers (Deployments, ReplicaSets, StatefulSets, Jobs, pods' fates, events, metrics) are in controller.py;
they run in the same event loop as the request handlers, under the emulator's lock.
What this server does not do is listed in docs/kubernetes.md.
"""

import base64
import copy
import datetime
import json
import re
import uuid

import aiohttp.web
import kmock
from kmock._internal import parsing as _kmock_parsing

_kmock_parse_path = _kmock_parsing.parse_path


def _parse_path(path):
    # kmock 0.8's path parser raises on /api/v1/namespaces (a POST creating a namespace); we parse resource
    # paths ourselves (Path below) and only need kmock's parse for discovery.
    try:
        return _kmock_parse_path(path)
    except ValueError:
        return _kmock_parse_path("/")


_kmock_parsing.parse_path = _parse_path

from . import rbac
from .patching import PatchError, json_patch, merge_patch, strategic_merge_patch
from .selectors import SelectorError, match_fields, match_labels

VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-sark-kmock", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0",
           "compiler": "gc", "platform": "linux/amd64"}

# Custom resources the seeds touch (kubectl get certificate / virtualservice / vulnerabilityreports), and the
# cert-manager issuers a Certificate names (certmanager.py issues from them).
CRDS = {
    ("cert-manager.io", "v1", "certificates"): ("Certificate", "certificate", {"cert", "certs"}),
    ("cert-manager.io", "v1", "issuers"): ("Issuer", "issuer", set()),
    ("cert-manager.io", "v1", "clusterissuers"): ("ClusterIssuer", "clusterissuer", set()),
    ("networking.istio.io", "v1beta1", "virtualservices"): ("VirtualService", "virtualservice", {"vs"}),
    ("networking.istio.io", "v1", "virtualservices"): ("VirtualService", "virtualservice", {"vs"}),
    ("aquasecurity.github.io", "v1alpha1", "vulnerabilityreports"): ("VulnerabilityReport", "vulnerabilityreport", {"vuln", "vulns"}),
}
CRD_GROUPS = {key[0] for key in CRDS}
CLUSTER_SCOPED_CRDS = {("cert-manager.io", "clusterissuers")}

# The same object is served under several versions; stored once under the first.
STORAGE_VERSION = {("autoscaling", "horizontalpodautoscalers"): "v2", ("networking.istio.io", "virtualservices"): "v1"}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job", "HorizontalPodAutoscaler"}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(kind_plural, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (kind_plural, name), {"name": name, "kind": kind_plural})


class Path:
    """A resource path: /api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]] or /apis/GROUP/VERSION/..."""

    __slots__ = ("group", "version", "plural", "namespace", "name", "sub")

    RX = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/(?P<rest>.+?)/?$")

    @classmethod
    def parse(cls, path):
        match = cls.RX.match(path)
        if not match:
            return None
        parts = match.group("rest").split("/")
        self = cls()
        self.group = match.group("group") or ""
        self.version = match.group("cv") or match.group("version")
        self.namespace = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            self.namespace, parts = parts[1], parts[2:]
        if len(parts) > 3:
            return None
        self.plural = parts[0]
        self.name = parts[1] if len(parts) > 1 else None
        self.sub = parts[2] if len(parts) > 2 else None
        return self


class SarkKubeEmulator(kmock.KubernetesEmulator):  # pylint: disable=too-many-public-methods
    """kmock's emulator with a real API server's object semantics (see the module docstring)."""

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.resources.load_bundled()
        for (group, version, plural), (kind, singular, shortnames) in CRDS.items():
            self.resources[kmock.resource(group, version, plural)] = kmock.ResourceInfo(
                namespaced=(group, plural) not in CLUSTER_SCOPED_CRDS, kind=kind, singular=singular, shortnames=shortnames,
                verbs={"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
                subresources={"status"})
        self.rv = 1000
        self.controller = None  # set by controller.Controller
        self.log_provider = None  # callable(pod, container, previous) -> list of (timestamp, line)
        self.exec_reason = ("pods/exec needs a container to run the command in; this test API has no container "
                            "runtime (docs/kubernetes.md)")

    # ---- store -------------------------------------------------------------------------------------

    def info(self, group, version, plural):
        res = kmock.resource(group, version, plural)
        if res not in self.resources:
            return None
        return self.resources[res]

    def storage_key(self, group, plural, namespace, name):
        version = STORAGE_VERSION.get((group, plural))
        if version is None:
            versions = sorted(r.version for r in self.resources if r.group == group and r.plural == plural)
            version = versions[0]
        return (kmock.resource(group, version, plural), namespace, name)

    def get(self, group, plural, namespace, name):
        key = self.storage_key(group, plural, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        if obj.deleted:
            return None
        return copy.deepcopy(obj.raw)

    def items(self, group, plural, namespace=None):
        version = self.storage_key(group, plural, None, "")[0].version
        result = []
        for (res, ns, dummy), obj in list(self.objects.items()):
            if res.group == group and res.plural == plural and res.version == version and not obj.deleted:
                if namespace is None or ns == namespace:
                    result.append(copy.deepcopy(obj.raw))
        result.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return result

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, group, plural, body):
        """Store an object (controllers and handlers): stamps resourceVersion if it changed."""
        meta = body["metadata"]
        key = self.storage_key(group, plural, meta.get("namespace"), meta["name"])
        old = self.get(group, plural, meta.get("namespace"), meta["name"])
        if old is not None and _strip_rv(old) == _strip_rv(body):
            return old
        meta["resourceVersion"] = self.next_rv()
        if key in self.objects:
            self.objects[key].history[:] = [body]
        else:
            self.objects[key] = body
        if self.controller is not None:
            self.controller.wake()
        return copy.deepcopy(body)

    def remove(self, group, plural, namespace, name):
        key = self.storage_key(group, plural, namespace, name)
        if key in self.objects:
            del self.objects[key]
        if self.controller is not None:
            self.controller.wake()

    def all_objects(self):
        for (res, dummy, dummy2), obj in list(self.objects.items()):
            if not obj.deleted:
                yield res, obj.raw

    # ---- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request):
        raw = request._raw_request  # pylint: disable=protected-access
        path = raw.path
        if path in ("/version", "/version/"):
            return aiohttp.web.json_response(VERSION)
        parsed = Path.parse(path)
        if parsed is None:
            return await super()._handle(request)
        try:
            async with self._lock:
                status, payload = self.dispatch(raw.method, parsed, dict(raw.query), raw.headers.get("Content-Type", ""),
                                                request.body, raw.headers)
        except ApiError as exc:
            return aiohttp.web.json_response(exc.status(), status=exc.code)
        if isinstance(payload, str):
            return aiohttp.web.Response(text=payload, status=status, content_type="text/plain")
        return aiohttp.web.json_response(payload, status=status)

    # pylint: disable-next=too-many-return-statements,too-many-positional-arguments,too-many-arguments
    def dispatch(self, method, p, query, content_type, body, headers=None):
        info = self.info(p.group, p.version, p.plural)
        if info is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if p.group == "authorization.k8s.io" and p.plural in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
            return self.review(method, p, body, headers or {})
        if p.namespace is not None and not info.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if p.group == "metrics.k8s.io":
            return self.serve_metrics(method, p, query, info)
        data = None
        if body:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", "the request body is not JSON: %s" % exc) from exc
        dry_run = query.get("dryRun") == "All"
        if p.name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    raise ApiError(405, "MethodNotAllowed", "watch is not implemented by this test API (docs/kubernetes.md)")
                return 200, self.serve_list(p, query, info)
            if method == "POST":
                return 201, self.create(p, info, data, dry_run)
            if method == "DELETE":
                return 200, self.delete_collection(p, query, info)
            raise ApiError(405, "MethodNotAllowed", "method %s is not allowed on a collection" % method)
        if p.sub == "log":
            return 200, self.serve_log(p, query)
        if p.sub in ("exec", "attach", "portforward", "proxy"):
            raise ApiError(400, "BadRequest", "%s: %s" % (p.sub, self.exec_reason))
        if p.sub not in (None, "status", "scale"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            obj = self._require(p, info)
            return 200, self.to_scale(obj) if p.sub == "scale" else self.present(p, obj)
        if method == "PUT":
            return 200, self.replace(p, info, data, dry_run)
        if method == "PATCH":
            return 200, self.patch(p, info, data, content_type, dry_run)
        if method == "DELETE":
            return 200, self.delete(p, info, dry_run)
        raise ApiError(405, "MethodNotAllowed", "method %s is not allowed" % method)

    def review(self, method, p, body, headers):
        """kubectl auth can-i (--list): answered by RBAC (rbac.py), never stored."""
        if method != "POST" or p.name is not None:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        try:
            data = json.loads(body) if body else {}
            user, groups = rbac.requester(headers)
            if p.plural == "selfsubjectaccessreviews":
                return 201, rbac.access_review(self, data, user, groups)
            return 201, rbac.rules_review(self, data, user, groups)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "the request body is not JSON: %s" % exc) from exc
        except rbac.ReviewError as exc:
            raise ApiError(exc.code, exc.reason, exc.message) from exc

    # ---- reading --------------------------------------------------------------------------------

    def _require(self, p, info, name=None):
        name = name or p.name
        obj = self.get(p.group, p.plural, p.namespace, name)
        if obj is None:
            raise not_found("%s%s" % (p.plural, "." + p.group if p.group else ""), name)
        return obj

    def api_version(self, p):
        return "%s/%s" % (p.group, p.version) if p.group else p.version

    def present(self, p, obj):
        """An object as the requested version shows it."""
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = self.api_version(p)
        if p.group == "autoscaling" and p.version == "v1":
            obj["spec"] = _hpa_v2_to_v1(obj.get("spec", {}))
        return obj

    def serve_list(self, p, query, info):
        items = self.items(p.group, p.plural, p.namespace)
        try:
            if query.get("labelSelector"):
                items = [o for o in items if match_labels(query["labelSelector"], o["metadata"].get("labels") or {})]
            if query.get("fieldSelector"):
                items = [o for o in items if match_fields(query["fieldSelector"], o)]
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", "unable to parse requirement: %s" % exc) from exc
        return {"kind": info.kind + "List", "apiVersion": self.api_version(p),
                "metadata": {"resourceVersion": str(self.rv)},
                "items": [self.present(p, o) for o in items]}

    def to_scale(self, obj):
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace"),
                             "uid": obj["metadata"].get("uid"), "resourceVersion": obj["metadata"].get("resourceVersion"),
                             "creationTimestamp": obj["metadata"].get("creationTimestamp")},
                "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                           "selector": ",".join("%s=%s" % kv for kv in sorted(labels.items()))}}

    def serve_log(self, p, query):
        if p.plural != "pods":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        pod = self.get("", "pods", p.namespace, p.name)
        if pod is None:
            raise not_found("pods", p.name)
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        container = query.get("container")
        if not container:
            if len(containers) > 1:
                raise ApiError(400, "BadRequest", "a container name must be specified for pod %s, choose one of: %s"
                               % (p.name, containers))
            container = containers[0]
        elif container not in containers:
            raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (container, p.name))
        previous = query.get("previous") in ("true", "1", "True")
        if self.log_provider is None:
            return ""
        lines, error = self.log_provider(pod, container, previous)
        if error:
            raise ApiError(400, "BadRequest", error)
        if query.get("sinceSeconds"):
            cutoff = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(query["sinceSeconds"]))
            lines = [(ts, line) for ts, line in lines if ts >= cutoff]
        if query.get("tailLines"):
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail else []
        stamp = query.get("timestamps") in ("true", "1")
        return "".join("%s%s\n" % (ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ ") if stamp else "", line) for ts, line in lines)

    def serve_metrics(self, method, p, query, info):
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", "the metrics API is read-only")
        items = self.controller.metrics(p.plural, p.namespace) if self.controller else []
        if query.get("labelSelector"):
            items = [o for o in items if match_labels(query["labelSelector"], o["metadata"].get("labels") or {})]
        if p.name is not None:
            for item in items:
                if item["metadata"]["name"] == p.name:
                    return 200, item
            raise not_found("%s.metrics.k8s.io" % p.plural, p.name)
        return 200, {"kind": info.kind + "List", "apiVersion": "metrics.k8s.io/v1beta1",
                     "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    # ---- writing --------------------------------------------------------------------------------

    def _check_namespace(self, p, info, namespace):
        if info.namespaced and self.get("", "namespaces", None, namespace) is None:
            raise not_found("namespaces", namespace)

    def _normalise(self, p, info, obj, old=None):
        """What the API server does to every object it stores (defaults, conversions, validation)."""
        obj["kind"] = info.kind
        obj["apiVersion"] = self.api_version(p)
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = p.namespace
        else:
            meta.pop("namespace", None)
        for field in ("labels", "annotations"):
            if meta.get(field) == {}:
                del meta[field]
            for key, value in (meta.get(field) or {}).items():
                if not isinstance(value, str):
                    raise ApiError(422, "Invalid", "%s %s: metadata.%s.%s: must be a string" % (info.kind, meta["name"], field, key))
        if p.group == "autoscaling" and p.version == "v1":
            obj["spec"] = _hpa_v1_to_v2(obj.get("spec", {}), (old or {}).get("spec"))
        obj["apiVersion"] = self.api_version(p) if not (p.group == "autoscaling") else "autoscaling/v2"
        if info.kind == "Secret":
            string_data = obj.pop("stringData", None) or {}
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            for key, value in data.items():
                try:
                    base64.b64decode(value, validate=True)
                except (ValueError, TypeError) as exc:
                    raise ApiError(422, "Invalid", "Secret %s: data[%s]: illegal base64 data" % (meta["name"], key)) from exc
            obj.setdefault("type", "Opaque")
        if info.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
                raise ApiError(422, "Invalid", "%s %s: spec.replicas: must be a non-negative integer" % (info.kind, meta["name"]))
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                raise ApiError(422, "Invalid", "%s.apps \"%s\" is invalid: spec.template.metadata.labels: Invalid value: "
                               "`selector` does not match template `labels`" % (info.kind, meta["name"]))
            spec.setdefault("revisionHistoryLimit", 10)
            if info.kind == "Deployment":
                spec.setdefault("progressDeadlineSeconds", 600)
                strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
                if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                    strategy["type"] = "RollingUpdate"
                    rolling = strategy.setdefault("rollingUpdate", {})
                    rolling.setdefault("maxSurge", "25%")
                    rolling.setdefault("maxUnavailable", "25%")
            if info.kind == "StatefulSet":
                spec.setdefault("podManagementPolicy", "OrderedReady")
                spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            for container in (spec.get("template") or {}).get("spec", {}).get("containers", []):
                _check_container(info.kind, meta["name"], container)
        if info.kind == "PersistentVolumeClaim" and old is not None:
            self._check_pvc_resize(meta["name"], old, obj)
        if info.kind == "Pod":
            for container in obj.get("spec", {}).get("containers", []):
                _check_container("Pod", meta["name"], container)
            obj.setdefault("status", {"phase": "Pending"})
        return obj

    def _check_pvc_resize(self, name, old, new):
        """The API server's rules for a bound claim's storage request (validation and the PersistentVolumeClaimResize
        admission): it may not shrink, and it may grow only where the claim's StorageClass allows volume expansion."""
        def storage(obj):
            return (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        before, after = storage(old), storage(new)
        if before == after or after is None:
            return
        from .controller import parse_quantity  # pylint: disable=import-outside-toplevel
        if parse_quantity(after) < parse_quantity(before):
            raise ApiError(422, "Invalid", 'PersistentVolumeClaim "%s" is invalid: spec.resources.requests.storage: '
                           "Forbidden: field can not be less than previous value" % name)
        class_name = (old.get("spec") or {}).get("storageClassName") or ""
        sc = self.get("storage.k8s.io", "storageclasses", None, class_name) if class_name else None
        if not sc or sc.get("allowVolumeExpansion") is not True:
            raise ApiError(403, "Forbidden", 'persistentvolumeclaims "%s" is forbidden: only dynamically provisioned pvc '
                           "can be resized and the storageclass that provisions the pvc must support resize" % name)

    def create(self, p, info, data, dry_run):
        if not isinstance(data, dict):
            raise ApiError(400, "BadRequest", "the body of a create must be an object")
        obj = copy.deepcopy(data)
        meta = obj.setdefault("metadata", {})
        if p.namespace is None and info.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if meta.get("namespace") and info.namespaced and meta["namespace"] != p.namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise ApiError(422, "Invalid", "%s is invalid: metadata.name: Required value: name or generateName is required" % info.kind)
        if self.get(p.group, p.plural, p.namespace, meta["name"]) is not None:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (p.plural, meta["name"]),
                           {"name": meta["name"], "kind": p.plural})
        self._check_namespace(p, info, p.namespace)
        self._normalise(p, info, obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if info.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        if dry_run:
            meta["resourceVersion"] = str(self.rv)
            return self.present(p, obj)
        return self.present(p, self.put(p.group, p.plural, obj))

    def _update(self, p, info, old, new, dry_run, subresource=None):
        meta = new.setdefault("metadata", {})
        if meta.get("name", old["metadata"]["name"]) != old["metadata"]["name"]:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        for key in ("uid", "creationTimestamp", "name", "namespace"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        if subresource == "status":
            new = dict(old, status=new.get("status", old.get("status")))
        else:
            if "status" in old and info.kind not in ("Namespace",):
                new["status"] = old["status"]
            self._normalise(p, info, new, old)
        meta = new["metadata"]
        meta["generation"] = old["metadata"].get("generation", 1)
        if new.get("spec") != old.get("spec"):
            meta["generation"] += 1
        meta["resourceVersion"] = old["metadata"].get("resourceVersion")
        if dry_run:
            return self.present(p, new)
        return self.present(p, self.put(p.group, p.plural, new))

    def replace(self, p, info, data, dry_run):
        old = self._require(p, info)
        if not isinstance(data, dict):
            raise ApiError(400, "BadRequest", "the body of a replace must be an object")
        if p.sub == "scale":
            new = copy.deepcopy(old)
            new["spec"]["replicas"] = (data.get("spec") or {}).get("replicas", 1)
            result = self._update(p, info, old, new, dry_run)
            return self.to_scale(result)
        sent_rv = (data.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"].get("resourceVersion"):
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                           "please apply your changes to the latest version and try again" % (p.plural, p.name))
        return self._update(p, info, old, copy.deepcopy(data), dry_run, p.sub)

    def patch(self, p, info, data, content_type, dry_run):
        old = self._require(p, info)
        ctype = content_type.split(";")[0].strip()
        base = self.to_scale(old) if p.sub == "scale" else self.present(p, old)
        try:
            if ctype == "application/json-patch+json":
                new = json_patch(base, data)
            elif ctype == "application/merge-patch+json":
                new = merge_patch(base, data)
            elif ctype == "application/strategic-merge-patch+json":
                if p.group in CRD_GROUPS:
                    raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                                   "types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
                new = strategic_merge_patch(base, data)
            elif ctype == "application/apply-patch+yaml":
                raise ApiError(415, "UnsupportedMediaType", "server-side apply is not implemented by this test API (docs/kubernetes.md)")
            else:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format: %s" % ctype)
        except PatchError as exc:
            raise ApiError(422, "Invalid", str(exc)) from exc
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the patched object is not an object")
        if p.sub == "scale":
            target = copy.deepcopy(old)
            target["spec"]["replicas"] = (new.get("spec") or {}).get("replicas", 1)
            return self.to_scale(self._update(p, info, old, target, dry_run))
        return self._update(p, info, old, new, dry_run, p.sub)

    def delete(self, p, info, dry_run):
        obj = self._require(p, info)
        obj["metadata"]["deletionTimestamp"] = now_iso()
        if dry_run:
            return self.present(p, obj)
        self.remove(p.group, p.plural, p.namespace, p.name)
        if info.kind == "Namespace":
            for res, item in list(self.all_objects()):
                if item.get("metadata", {}).get("namespace") == p.name:
                    self.remove(res.group, res.plural, p.name, item["metadata"]["name"])
        if self.controller is not None:
            self.controller.deleted(info.kind, obj)
        return self.present(p, obj)

    def delete_collection(self, p, query, info):
        listing = self.serve_list(p, query, info)
        for item in listing["items"]:
            self.remove(p.group, p.plural, item["metadata"].get("namespace"), item["metadata"]["name"])
            if self.controller is not None:
                self.controller.deleted(info.kind, item)
        return listing


def _strip_rv(obj):
    obj = copy.deepcopy(obj)
    obj.get("metadata", {}).pop("resourceVersion", None)
    return obj


QUANTITY = re.compile(r"^([0-9.]+)(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei|P|Pi)?$")


def _check_container(kind, name, container):
    if not container.get("name"):
        raise ApiError(422, "Invalid", "%s %s: spec.containers.name: Required value" % (kind, name))
    if not container.get("image"):
        raise ApiError(422, "Invalid", "%s %s: spec.containers[%s].image: Required value" % (kind, name, container.get("name")))
    for section in ("requests", "limits"):
        for resource, value in ((container.get("resources") or {}).get(section) or {}).items():
            if not QUANTITY.match(str(value)):
                raise ApiError(422, "Invalid", "%s %s: spec.containers[%s].resources.%s[%s]: Invalid value: %r: quantities must "
                               "match the regular expression" % (kind, name, container["name"], section, resource, value))


def _hpa_v2_to_v1(spec):
    spec = copy.deepcopy(spec)
    metrics = spec.pop("metrics", None) or []
    for metric in metrics:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            spec["targetCPUUtilizationPercentage"] = (resource.get("target") or {}).get("averageUtilization")
    spec.pop("behavior", None)
    return spec


def _hpa_v1_to_v2(spec, old_v2):
    spec = copy.deepcopy(spec)
    target = spec.pop("targetCPUUtilizationPercentage", None)
    metrics = [m for m in (old_v2 or {}).get("metrics") or [] if not (m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu")]
    if target is not None:
        metrics.insert(0, {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
    if metrics:
        spec["metrics"] = metrics
    return spec
