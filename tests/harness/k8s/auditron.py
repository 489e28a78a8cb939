"""AUDITRON's workloads (seed 004 / platforms-contract.md) for the test Kubernetes API, on top of SARK's scenario.

auditron_scenario(layout) -> a scenario dict for KubeAPI(scenario=...): namespace ``auditron``, Secret
``auditron-secrets``, Deployment ``auditron-api`` (port 3000; the code's labels app + version=v1, 3 replicas) and, in
the runbook layout, Deployment ``auditron-worker``. The API image runs as a server, and as a one-off Job when its
command is ``prisma migrate deploy`` (an image tagged ``*-broken-migration`` fails that Job, like a failed migration);
a tag ``*-crashloop`` crash-loops."""

import copy

from .server import load_scenario

NAMESPACE = "auditron"
IMAGE = "ghcr.io/tanny28/auditron-backend:1.4.0"

IMAGES = [
    {"match": "ghcr.io/tanny28/auditron-backend:*-broken-migration", "command": "*prisma migrate deploy*", "exit_code": 1,
     "run_for": 0.2, "cpu": "20m", "memory": "120Mi", "logs": "prisma_migrate_failed"},
    {"match": "ghcr.io/tanny28/auditron-backend:*", "command": "*prisma migrate deploy*", "exit_code": 0, "run_for": 0.2,
     "cpu": "20m", "memory": "120Mi", "logs": "prisma_migrate"},
    # a release that crash-loops (incident: API down)
    {"match": "ghcr.io/tanny28/auditron-backend:*-crashloop", "exit_code": 1, "run_for": 0.1, "cpu": "5m",
     "memory": "60Mi", "logs": "auditron_crash"},
    {"match": "ghcr.io/tanny28/auditron-backend:*", "cpu": "210m", "memory": "380Mi", "logs": "auditron_api"},
]

LOGS = {
    "prisma_migrate": [
        "Prisma schema loaded from prisma/schema.prisma",
        'Datasource "db": PostgreSQL database "auditron", schema "public" at "postgres:5432"',
        "3 migrations found in prisma/migrations",
        "Applying migration `20250101000000_init`",
        "Applying migration `20250110000000_agent_jobs`",
        "Applying migration `20250115000000_audit_logs`",
        "All migrations have been successfully applied.",
    ],
    "prisma_migrate_failed": [
        "Prisma schema loaded from prisma/schema.prisma",
        "Error: P3009",
        "migrate found failed migrations in the target database, new migrations will not be applied.",
    ],
    "auditron_crash": ['{"level":60,"msg":"Error: Environment variable not found: DATABASE_URL"}'],
    "auditron_api": [
        '{"level":30,"msg":"Server listening at http://0.0.0.0:3000"}',
        '{"level":30,"msg":"BullMQ worker started","queue":"agentic-jobs","concurrency":5}',
    ],
}


def _deployment(name, labels, replicas, image, port=None):
    container = {"name": name, "image": image,
                 "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}
    if port:
        container["ports"] = [{"containerPort": port}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": labels["app"]}},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}}}


def auditron_objects(layout="runbook", image=IMAGE):
    code = layout == "auditron_code"
    api_labels = {"app": "auditron-api", "version": "v1"} if code else {"app": "auditron-api"}
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "auditron-secrets", "namespace": NAMESPACE},
         "type": "Opaque", "stringData": {"database-url": "postgresql://postgres:seeded-pw@postgres:5432/auditron",
                                          "redis-url": "redis://redis:6379", "jwt-secret": "seeded-auditron-jwt"}},
        _deployment("auditron-api", api_labels, 3 if code else 2, image, port=3000),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "auditron-api", "namespace": NAMESPACE},
         "spec": {"selector": {"app": "auditron-api"}, "ports": [{"port": 3000, "targetPort": 3000}]}},
    ]
    if not code:
        objects.append(_deployment("auditron-worker", {"app": "auditron-worker"}, 2, image))
    return objects


def auditron_scenario(layout="runbook", image=IMAGE, base=None):
    scenario = copy.deepcopy(base if base is not None else load_scenario())
    scenario["images"] = IMAGES + list(scenario.get("images") or [])
    scenario["logs"] = dict(scenario.get("logs") or {}, **LOGS)
    scenario["namespaces"] = list(scenario.get("namespaces") or []) + [NAMESPACE]
    scenario["objects"] = list(scenario.get("objects") or []) + auditron_objects(layout, image)
    return scenario
