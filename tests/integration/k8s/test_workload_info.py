"""sark.ops.sark_workload_info against SARK's seeded workloads and against broken workloads the test creates."""

import ast
import os

ARGS_COMMON = "ansible_collections/kubernetes/core/plugins/module_utils/args_common.py"
OUR_K8S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "plugins", "module_utils", "_k8s.py")

DEPLOY = '''
- name: deployment {name}
  kubernetes.core.k8s:
    definition:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: {name}, namespace: diag, labels: {{suite: diag}}}}
      spec:
        replicas: {replicas}
        progressDeadlineSeconds: {deadline}
        selector: {{matchLabels: {{app: {name}}}}}
        template:
          metadata: {{labels: {{app: {name}}}}}
          spec:
            containers:
              - name: main
                image: "{image}"
                env: [{{name: API_TOKEN, value: "tok-never-shown"}}, {{name: DB_URL, value: "postgresql://u:pw-never-shown@db/x"}}]
                resources: {resources}
'''


def deploy(name, image, replicas=1, resources="{}", deadline=600):
    return DEPLOY.format(name=name, image=image, replicas=replicas, resources=resources, deadline=deadline)


def test_seeded_sark_workloads_are_ok_and_secrets_masked(k8s_play):
    r = k8s_play('''
- name: production
  sark.ops.sark_workload_info: {namespace: production}
- name: production (check mode)
  sark.ops.sark_workload_info: {namespace: production}
  check_mode: true
- name: one deployment in sark-system
  sark.ops.sark_workload_info: {namespace: sark-system, name: sark-api, kinds: [Deployment]}
- name: by labels
  sark.ops.sark_workload_info: {namespace: production, label_selectors: [app=postgres]}
- name: too many workloads
  sark.ops.sark_workload_info: {namespace: production, max_workloads: 2}
  ignore_errors: true
''')
    prod = r["production"]
    assert prod["changed"] is False and prod["metrics_available"] is True
    names = sorted((w["kind"], w["name"]) for w in prod["workloads"])
    assert ("Deployment", "sark") in names and {("StatefulSet", n) for n in ("postgres", "redis", "timescaledb")} <= set(names)
    sark = next(w for w in prod["workloads"] if w["name"] == "sark")
    assert sark["replicas"]["ready"] == sark["replicas"]["desired"] == 3
    assert sark["revisions"][0]["images"] == ["ghcr.io/sark/sark:2.1.0"]
    container = sark["pods"][0]["containers"][0]
    assert container["usage"] == {"cpu": "180m", "memory": "612Mi"} and container["memory_request_percent"] == 119.5
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["value"] == "postgresql://sark:********@postgres:5432/sark"
    assert env["SECRET_KEY"] == {"name": "SECRET_KEY", "from": "secret sark-secrets/secret-key"}
    assert "seeded-db-password" not in r.stdout
    assert r["production (check mode)"]["changed"] is False
    assert [w["name"] for w in r["one deployment in sark-system"]["workloads"]] == ["sark-api"]
    assert [w["name"] for w in r["by labels"]["workloads"]] == ["postgres"]
    assert "more than max_workloads=2" in r.failed["too many workloads"]["msg"]


def test_broken_workloads_are_diagnosed(k8s_play):
    r = k8s_play('''
- name: namespace diag
  kubernetes.core.k8s: {definition: {apiVersion: v1, kind: Namespace, metadata: {name: diag}}}
''' + deploy("crashing", "ghcr.io/sark/sark-crashloop:1.0")
        + deploy("oom", "ghcr.io/sark/memory-hog:1.0", resources="{limits: {memory: 256Mi}}")
        + deploy("badimage", "ghcr.io/sark/sark:does-not-exist")
        + deploy("pending", "ghcr.io/sark/sark:2.1.0", resources="{requests: {memory: 500Gi}}")
        + deploy("halfway", "nginx:1.25", replicas=2, deadline=2) + '''
- name: wait for halfway to be ready
  kubernetes.core.k8s_info:
    kind: Deployment
    name: halfway
    namespace: diag
    wait: true
    wait_sleep: 1
    wait_timeout: 30
    wait_condition: {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
- name: a bad image for halfway
  kubernetes.core.k8s:
    kind: Deployment
    name: halfway
    namespace: diag
    definition: {spec: {template: {spec: {containers: [{name: main, image: "nginx:does-not-exist"}]}}}}
- name: let the pods fail
  ansible.builtin.pause: {seconds: 4}
- name: diagnose
  sark.ops.sark_workload_info: {namespace: diag, max_events: 5, restart_threshold: 3}
  check_mode: true
- name: clean up
  kubernetes.core.k8s: {kind: Namespace, name: diag, state: absent}
''')
    result = r["diagnose"]
    assert result["changed"] is False and result["verdict"] == "CRITICAL"
    by_name = {w["name"]: w for w in result["workloads"]}
    crashing = by_name["crashing"]
    pod = crashing["pods"][0]
    assert crashing["verdict"] == "CRITICAL" and pod["reason"] == "CrashLoopBackOff" and pod["restarts"] >= 3
    assert pod["last_termination"]["reason"] == "Error" and pod["last_termination"]["exit_code"] == 1
    assert any(r.startswith("CrashLoopBackOff: 1 pod(s)") for r in crashing["reasons"])
    assert any(r.startswith("restarts>=3") for r in crashing["reasons"])
    oom = by_name["oom"]["pods"][0]
    assert oom["reason"] == "OOMKilled" and oom["last_termination"]["exit_code"] == 137
    bad = by_name["badimage"]["pods"][0]
    assert bad["reason"] == "ImagePullBackOff" and bad["phase"] == "Pending"
    assert any(e["reason"] == "Failed" and "does-not-exist" in e["message"] for e in by_name["badimage"]["warning_events"])
    assert len(by_name["crashing"]["warning_events"]) <= 5 and by_name["crashing"]["warning_events_total"] >= 1
    pending = by_name["pending"]
    assert pending["pods"][0]["reason"] == "Unschedulable"
    assert "0/1 nodes are available: 1 Insufficient memory." in " ".join(pending["reasons"])
    halfway = by_name["halfway"]
    assert halfway["verdict"] == "CRITICAL" and halfway["replicas"]["ready"] == 2 and halfway["replicas"]["updated"] == 1
    assert any(reason.startswith("rollout stuck") for reason in halfway["reasons"])
    assert [rev["images"] for rev in halfway["revisions"]] == [["nginx:does-not-exist"], ["nginx:1.25"]]
    envs = {e["name"]: e["value"] for e in crashing["pods"][0]["containers"][0]["env"]}
    assert envs == {"API_TOKEN": "********", "DB_URL": "postgresql://u:********@db/x"}
    assert "pw-never-shown" not in str(result) and "tok-never-shown" not in str(result)


def _spec_from(path, names):
    """Evaluate the module-level dict assignments `names` of a Python file (without importing it)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    scope = {"dict": dict}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names:
            scope[node.targets[0].id] = eval(compile(ast.Expression(node.value), path, "eval"), scope)  # pylint: disable=eval-used
    return scope


def test_auth_options_are_kubernetes_cores():
    """_k8s.K8S_AUTH_ARG_SPEC is a copy (sanity runs without kubernetes.core): it must equal the original."""
    roots = [p for p in os.environ.get("SARK_DEPS_COLLECTIONS", os.path.expanduser("~/.cache/sark-ops/collections")).split(os.pathsep) if p]
    original = next(os.path.join(r, ARGS_COMMON) for r in roots if os.path.exists(os.path.join(r, ARGS_COMMON)))
    theirs = _spec_from(original, ("AUTH_PROXY_HEADERS_SPEC", "AUTH_ARG_SPEC"))["AUTH_ARG_SPEC"]
    ours = _spec_from(OUR_K8S, ("_PROXY_HEADERS_SPEC", "K8S_AUTH_ARG_SPEC"))["K8S_AUTH_ARG_SPEC"]
    assert ours == theirs
