"""A demo stack of a sibling platform (seed 003 RSP, seed 004 AUDITRON) in both of its layouts, on 127.0.0.1.

    python -m harness.platform_stack up --dir DIR --platform rsp|auditron     # start, write DIR/<layout>/vars.yml
    python -m harness.platform_stack inject api_down --dir DIR --layout L      # the API Deployment crash-loops
    python -m harness.platform_stack inject memory_leak --dir DIR --layout L   # RSP: the new revision is OOMKilled
    python -m harness.platform_stack inject queue_backlog --dir DIR --layout L # AUDITRON: 150 waiting, 2 failed jobs
    python -m harness.platform_stack down --dir DIR                             # stop every process by PID

One real Redis (a database per layout) and, for AUDITRON, one real PostgreSQL 15 (a database per layout); per layout
the platform's simulator (tests/harness/rspsim, tests/harness/auditronsim) and a Kubernetes API holding the platform's
workloads (tests/harness/k8s/rsp.py, auditron.py); one real Prometheus scraping each simulator's /metrics with the rule
TargetDown (up == 0) and a real Alertmanager. Used by the Molecule scenarios rsp_platform and auditron_platform."""

import argparse
import copy
import datetime
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

from harness.demo import start_kube_api, stop_recorded, wait_for_alert
from harness.servers import LOOPBACK, AlertmanagerServer, PostgresServer, PrometheusServer, RedisServer, stop_pid, wait_for

LAYOUTS = {"rsp": ("runbook", "rsp_code"), "auditron": ("runbook", "auditron_code")}
PG_PASSWORD = "platform-demo-pw"
# the API Deployment of each platform (the profile's workload of role auth / api) and the image that crash-loops
API = {"rsp": {"namespace": "rust-security", "name": "auth-service", "crash_image": "rust-security/auth-service:v1.2.0-crashloop",
               "leak_image": "rust-security/auth-service:v1.2.0-leak"},
       "auditron": {"namespace": "auditron", "name": "auditron-api",
                    "crash_image": "ghcr.io/tanny28/auditron-backend:1.5.0-crashloop"}}
RULES = {"groups": [{"name": "platform-demo", "rules": [
    {"alert": "TargetDown", "expr": 'up{job=~"(rsp|auditron)-.*"} == 0', "for": "0s", "labels": {"severity": "warning"},
     "annotations": {"summary": "Prometheus cannot scrape {{ $labels.job }}"}}]}]}


def _state_file(state_dir):
    return os.path.join(state_dir, "stack.json")


def _load(state_dir):
    with open(_state_file(state_dir), encoding="utf-8") as handle:
        return json.load(handle)


def _write(path, data, as_yaml=False):
    with open(path, "w", encoding="utf-8") as handle:
        if as_yaml:
            yaml.safe_dump(data, handle, default_flow_style=False)
        else:
            json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)


def kube_scenario(platform, layout, state_dir):
    """SARK's scenario file without SARK's objects (nodes, timing, images kept) plus the platform's workloads."""
    from harness.k8s.auditron import auditron_scenario  # pylint: disable=import-outside-toplevel
    from harness.k8s.rsp import rsp_scenario  # pylint: disable=import-outside-toplevel
    from harness.k8s.server import load_scenario  # pylint: disable=import-outside-toplevel
    base = copy.deepcopy(load_scenario())
    base["objects"], base["namespaces"] = [], []
    # a controller pass every 0.3 s instead of 0.1 s: two of these APIs run for the whole scenario
    base["timing"] = dict(base.get("timing") or {}, tick=0.3)
    scenario = rsp_scenario(layout, base=base) if platform == "rsp" else auditron_scenario(layout, base=base)
    path = os.path.join(state_dir, "k8s-scenario.yml")
    _write(path, scenario, as_yaml=True)
    return path


def pg_backup(pg, dbname, backup_dir, hours_ago):
    """seed 004's backup: pg_dump ... | gzip > backup.sql.gz (real), its mtime set hours_ago in the past."""
    os.makedirs(backup_dir, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    path = os.path.join(backup_dir, "%s-%s.sql.gz" % (dbname, when.strftime("%Y%m%d-%H%M")))
    dump = subprocess.run(["pg_dump", "-h", LOOPBACK, "-p", str(pg.port), "-U", "postgres", "-d", dbname],
                          capture_output=True, env=dict(os.environ, PGPASSWORD=pg.password), check=True, timeout=60)
    with gzip.open(path, "wb") as handle:
        handle.write(dump.stdout)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _start_layout(platform, layout, index, state_dir, redis, pg):
    """The layout's simulator and Kubernetes API; returns (servers started, its vars, pids)."""
    layout_dir = os.path.join(state_dir, layout)
    os.makedirs(layout_dir, exist_ok=True)
    redis_conn = {"redis_host": LOOPBACK, "redis_port": redis.port, "redis_db": index}
    vars_ = {"sark_platform": platform, "sark_layout": layout, "sark_redis_connection": redis_conn,
             "sark_daily_check_report_dir": os.path.join(layout_dir, "reports")}
    if platform == "rsp":
        from harness.rspsim import RspSimulator  # pylint: disable=import-outside-toplevel
        sim = RspSimulator(layout, workdir=os.path.join(layout_dir, "sim"))
        os.makedirs(sim.workdir, exist_ok=True)
        sim.start()
        vars_["sark_rsp_connection"] = {"rsp_auth_url": sim.auth_url, "rsp_policy_url": sim.policy_url}
        target = "%s:%d" % (LOOPBACK, sim.port)
    else:
        from harness.auditronsim import AuditronSimulator  # pylint: disable=import-outside-toplevel
        dbname = "auditron" if layout == "runbook" else "auditron_code"
        sim = AuditronSimulator(layout, pg=pg, redis=redis, redis_db=index, dbname=dbname, seed=True,
                                workdir=os.path.join(layout_dir, "sim"))
        os.makedirs(sim.workdir, exist_ok=True)
        sim.start()
        vars_["sark_auditron_connection"] = {"auditron_url": sim.url, "auditron_token": sim.token}
        vars_["sark_pg_connection"] = {"pg_host": LOOPBACK, "pg_port": pg.port, "pg_user": "postgres",
                                       "pg_password": pg.password, "pg_sslmode": "disable"}
        vars_["sark_daily_check_pg_database"] = dbname
        backups = os.path.join(layout_dir, "backups")
        pg_backup(pg, dbname, backups, 30)
        vars_["sark_backup_dir"] = backups
        vars_["sark_auditron_fresh_backup"] = pg_backup(pg, dbname, backups, 2)
        target = "%s:%d" % (LOOPBACK, sim.port)
    kube_pid, kubeconfig = start_kube_api(layout_dir, scenario=kube_scenario(platform, layout, layout_dir))
    vars_["sark_k8s_connection"] = {"kubeconfig": kubeconfig}
    return sim, vars_, {"sim": sim.pid, "kube-api": kube_pid}, target


def up(state_dir, platform):
    if os.path.exists(_state_file(state_dir)):
        raise SystemExit("a platform stack is already recorded in %s: run `down` first" % state_dir)
    os.makedirs(state_dir, exist_ok=True)
    started, pids, layouts, pg = [], {}, {}, None
    pg_dir = tempfile.mkdtemp(prefix="platform-demo-pg-") if platform == "auditron" else None
    try:
        redis = RedisServer(workdir=os.path.join(state_dir, "redis"))
        os.makedirs(redis.workdir, exist_ok=True)
        redis.start()
        started.append(redis)
        if pg_dir:
            pg = PostgresServer(workdir=pg_dir, password=PG_PASSWORD, auth="scram-sha-256")
            pg.start()
            started.append(pg)
        targets = {}
        for index, layout in enumerate(LAYOUTS[platform]):
            sim, vars_, layout_pids, targets[layout] = _start_layout(platform, layout, index, state_dir, redis, pg)
            started.append(sim)
            pids.update(("%s-%s" % (name, layout), pid) for name, pid in layout_pids.items())
            layouts[layout] = vars_
        mon_dir = os.path.join(state_dir, "monitoring")
        os.makedirs(mon_dir, exist_ok=True)
        rules = os.path.join(mon_dir, "platform-rules.yml")
        _write(rules, RULES, as_yaml=True)
        alertmanager = AlertmanagerServer(workdir=os.path.join(mon_dir, "alertmanager"))
        os.makedirs(alertmanager.workdir, exist_ok=True)
        alertmanager.start()
        started.append(alertmanager)
        prom = PrometheusServer(workdir=os.path.join(mon_dir, "prometheus"), rule_files=[rules],
                                alertmanager_port=alertmanager.port, scrape_interval="5s", eval_interval="2s",
                                scrape_configs=[{"job_name": "%s-%s" % (platform, layout), "static_configs": [{"targets": [t]}]}
                                                for layout, t in targets.items()])
        os.makedirs(prom.workdir, exist_ok=True)
        prom.start()
        started.append(prom)
        firing = wait_for_alert(alertmanager.url, "TargetDown")
    except BaseException:
        for server in reversed(started):
            server.stop()
        for pid in pids.values():
            stop_pid(pid)
        if pg_dir:
            shutil.rmtree(pg_dir, ignore_errors=True)
        raise
    pids.update(redis=redis.pid, prometheus=prom.pid, alertmanager=alertmanager.pid)
    if pg:
        pids["postgres"] = pg.pid
    stack = {"platform": platform, "state_dir": os.path.abspath(state_dir), "pg_dir": pg_dir, "pids": pids,
             "redis_port": redis.port, "firing": firing, "layouts": {}}
    for layout, vars_ in layouts.items():
        vars_["sark_prometheus_connection"] = {"prometheus_url": prom.url, "alertmanager_url": alertmanager.url}
        _write(os.path.join(state_dir, layout, "vars.yml"), vars_, as_yaml=True)
        stack["layouts"][layout] = {"kubeconfig": vars_["sark_k8s_connection"]["kubeconfig"],
                                    "redis_db": vars_["sark_redis_connection"]["redis_db"]}
    _write(_state_file(state_dir), stack)
    print("%s platform stack up in %s (layouts %s; Prometheus %s, Alertmanager %s, firing: %s)" % (
        platform, state_dir, ", ".join(layouts), prom.url, alertmanager.url, ", ".join(firing) or "none"))
    return stack


def _apps(kubeconfig):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.AppsV1Api(config.new_client_from_config(config_file=kubeconfig)), \
        client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


def inject_api_down(stack, layout, image_key="crash_image"):
    """A new revision of the API Deployment whose image crash-loops (memory_leak: is OOMKilled, RSP); returns when its
    pods crash-loop."""
    api = dict(API[stack["platform"]])
    if image_key not in api:
        raise SystemExit("no %s for %s" % (image_key, stack["platform"]))
    api["crash_image"] = api[image_key]
    apps, core = _apps(stack["layouts"][layout]["kubeconfig"])
    before = apps.read_namespaced_deployment(api["name"], api["namespace"])
    revision = int((before.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "1"))
    container = before.spec.template.spec.containers[0].name
    apps.patch_namespaced_deployment(api["name"], api["namespace"], {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "deploy %s" % api["crash_image"]}},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": api["crash_image"]}]}}}})
    selector = ",".join("%s=%s" % kv for kv in sorted(before.spec.selector.match_labels.items()))

    def crash_looping():
        dep = apps.read_namespaced_deployment(api["name"], api["namespace"])
        if int((dep.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "0")) <= revision:
            return False
        pods = core.list_namespaced_pod(api["namespace"], label_selector=selector).items
        return any(cs.state and cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"
                   for pod in pods for cs in (pod.status.container_statuses or []) if cs.image == api["crash_image"])
    wait_for(crash_looping, 60, "the new revision of %s/%s to crash-loop" % (api["namespace"], api["name"]), interval=0.2)
    return {"deployment": "%s/%s" % (api["namespace"], api["name"]), "from_revision": revision, "image": api["crash_image"]}


def inject_queue_backlog(stack, layout, waiting=150, failed=2):
    """AUDITRON: `failed` jobs failed by a real BullMQ Worker, then `waiting` jobs nobody processes (npm bullmq)."""
    from harness import bullmq_node  # pylint: disable=import-outside-toplevel
    if stack["platform"] != "auditron":
        raise SystemExit("queue_backlog is AUDITRON's incident")
    url = "redis://%s:%d/%d" % (LOOPBACK, stack["redis_port"], stack["layouts"][layout]["redis_db"])
    bullmq_node.run("prepare", url, "agentic-jobs", json.dumps([{"count": failed, "offset_ms": 0, "fail": True}]), timeout=60)
    added = bullmq_node.run("add", url, "agentic-jobs", waiting, json.dumps({"kind": "audit-report"}), timeout=60)
    return {"queue": "agentic-jobs", "waiting_added": len(added.get("ids") or []), "failed": failed}


def down(state_dir, remove=False):
    path = _state_file(state_dir)
    if not os.path.exists(path):
        print("no platform stack recorded in %s" % state_dir)
        return
    stack = _load(state_dir)
    stop_recorded(state_dir, stack, [name for name in stack["pids"] if name != "postgres"], remove)
    print("platform stack in %s stopped" % state_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.platform_stack", description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["up", "down", "inject"])
    parser.add_argument("fault", nargs="?", choices=["api_down", "memory_leak", "queue_backlog"])
    parser.add_argument("--dir", required=True, help="state directory (PIDs, logs, data, vars per layout)")
    parser.add_argument("--platform", choices=sorted(LAYOUTS), default="rsp")
    parser.add_argument("--layout")
    parser.add_argument("--remove", action="store_true", help="with down: also delete the state directory")
    args = parser.parse_args(argv)
    if args.action == "up":
        up(args.dir, args.platform)
    elif args.action == "down":
        down(args.dir, args.remove)
    else:
        stack = _load(args.dir)
        if not args.fault or args.layout not in stack["layouts"]:
            parser.error("inject needs a fault and --layout (one of %s)" % ", ".join(stack["layouts"]))
        if args.fault == "queue_backlog":
            injected = inject_queue_backlog(stack, args.layout)
        else:
            injected = inject_api_down(stack, args.layout, "leak_image" if args.fault == "memory_leak" else "crash_image")
        print(json.dumps(injected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
