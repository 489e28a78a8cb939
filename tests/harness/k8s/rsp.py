"""The Rust Security Platform's workloads (seed 003 / platforms-contract.md) for the test Kubernetes API, on top of
SARK's scenario, as its deployment procedures start from them.

rsp_scenario(layout) -> a scenario dict for KubeAPI(scenario=...): namespace ``rust-security``; Deployment
``auth-service`` (2 replicas, pods ``app=auth-service, version=blue``, image ``rust-security/auth-service:v1.1.0``);
Service ``auth-service`` selecting ``version: blue`` (seed 003's blue-green switch patches that selector); the Istio
VirtualService (``auth-service`` in the runbook, ``auth-service-routing`` in the code's layout) sending all traffic
to host ``auth-service``; cert-manager's Certificate ``auth-service-tls`` (platforms-contract.md: in ``rust-security``,
both layouts) from the self-signed Issuer ``rsp-selfsigned``, its Secret seeded with a certificate issued 80 days ago
that expires in CERT_DAYS_LEFT days (renewBefore 168h: cert-manager would renew it only 7 days before);
ServiceAccount ``auth-service`` with a Role that also reads every Secret (rsp_rbac_objects).
Images ``rust-security/auth-service:*`` run, ``*-crashloop`` tags crash-loop, ``*-leak`` tags are OOMKilled;
``*:does-not-exist*`` fails to pull (SARK's scenario)."""

import copy
import datetime

from .certmanager import make_certificate, new_key, pem_key, tls_secret
from .server import load_scenario

NAMESPACE = "rust-security"
IMAGE = "rust-security/auth-service:v1.1.0"
VIRTUAL_SERVICE = {"runbook": "auth-service", "rsp_code": "auth-service-routing"}

IMAGES = [
    # a release that crash-loops (incident: service down), before the images that run
    {"match": "rust-security/auth-service:*-crashloop", "exit_code": 1, "run_for": 0.1, "cpu": "5m", "memory": "20Mi",
     "logs": "rsp_auth_crash"},
    # a release with a memory leak: it needs 700Mi under the 512Mi limit, so it is OOMKilled (seed 003 Memory Leaks)
    {"match": "rust-security/auth-service:*-leak", "cpu": "60m", "memory": "700Mi", "logs": "rsp_auth"},
    {"match": "rust-security/auth-service:*", "cpu": "60m", "memory": "48Mi", "logs": "rsp_auth"},
]
LOGS = {"rsp_auth": ['{"level":"INFO","target":"auth_service","message":"listening on 0.0.0.0:8080"}'],
        "rsp_auth_crash": ['{"level":"ERROR","target":"auth_service","message":"JWT_SECRET is not set"}']}
LABELS = {"app": "auth-service", "version": "blue"}
CERTIFICATE = "auth-service-tls"
CERT_DNS = ["auth.rust-security.example", "auth-service.rust-security.svc"]
CERT_DAYS_LEFT = 10


def rsp_certificate_objects(days_left=CERT_DAYS_LEFT):
    """The Issuer, the Certificate and its Secret holding a certificate of 90 days with `days_left` to go."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=days_left)
    key = new_key()
    cert = make_certificate(key, CERT_DNS[0], CERT_DNS, not_after - datetime.timedelta(days=90), not_after)
    return [
        {"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "rsp-selfsigned", "namespace": NAMESPACE},
         "spec": {"selfSigned": {}}},
        tls_secret(NAMESPACE, CERTIFICATE, cert, pem_key(key), cert),
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": CERTIFICATE, "namespace": NAMESPACE},
         "spec": {"secretName": CERTIFICATE, "commonName": CERT_DNS[0], "dnsNames": list(CERT_DNS), "duration": "2160h",
                  "renewBefore": "168h", "issuerRef": {"name": "rsp-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}}},
    ]


def rsp_objects(layout="runbook", image=IMAGE, replicas=2):
    container = {"name": "auth-service", "image": image, "ports": [{"containerPort": 8080}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "auth-service", "namespace": NAMESPACE, "labels": {"app": "auth-service"},
                      "annotations": {"kubernetes.io/change-cause": "auth-service v1.1.0"}},
         "spec": {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)},
                  "template": {"metadata": {"labels": dict(LABELS)}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "auth-service", "namespace": NAMESPACE, "labels": {"app": "auth-service"}},
         "spec": {"selector": dict(LABELS), "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}},
        {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
         "metadata": {"name": VIRTUAL_SERVICE[layout], "namespace": NAMESPACE},
         "spec": {"hosts": ["auth-service"], "http": [{"route": [{"destination": {"host": "auth-service"}, "weight": 100}]}]}},
    ] + rsp_certificate_objects() + rsp_rbac_objects()


def rsp_rbac_objects():
    """auth-service's ServiceAccount and its Role: reading its ConfigMaps, and - broader than it needs - get and list
    on every Secret of the namespace (what a review must find)."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "auth-service", "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "auth-service", "namespace": NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "auth-service", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "auth-service"},
         "subjects": [{"kind": "ServiceAccount", "name": "auth-service", "namespace": NAMESPACE}]},
    ]


def rsp_scenario(layout="runbook", image=IMAGE, base=None):
    scenario = copy.deepcopy(base if base is not None else load_scenario())
    scenario["images"] = IMAGES + list(scenario.get("images") or [])
    scenario["logs"] = dict(scenario.get("logs") or {}, **LOGS)
    scenario["namespaces"] = list(scenario.get("namespaces") or []) + [NAMESPACE]
    scenario["objects"] = list(scenario.get("objects") or []) + rsp_objects(layout, image)
    return scenario
