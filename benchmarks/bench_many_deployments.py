#!/usr/bin/env python
"""The daily check against 1 and against N deployments (default 10): one inventory host per SARK deployment.

Starts the local demo stack (tests/harness/demo.py: Redis, PostgreSQL 15, the SARK simulator, the Kubernetes API) and
makes N deployments of it on the same servers - for deployment i a Kubernetes namespace `sark-dNN` holding a copy of
SARK's production workloads, a PostgreSQL database `sark_dNN` and Redis DB i. Each deployment is one inventory host of
group `sark_deployments` whose connection variables (sark_api_connection, sark_redis_connection with its redis_db,
sark_pg_connection, sark_k8s_connection, its namespace and database) are host variables, so Ansible's forks run the
checklist across the deployments in parallel (AWX job slicing splits such an inventory across nodes).

It runs `playbooks/daily_check.yml` (the real playbook, ansible-playbook as a subprocess) on the first deployment
alone, then on all N with `--forks N`, each --repeat times, and reports the wall time and the controller CPU (user +
system of ansible-playbook and every process it started, from os.wait4) in total and per deployment, and the ratio
N-run / 1-run against the target (N deployments in at most 3x the time of one). Usage:

    python benchmarks/bench_many_deployments.py [--deployments 10] [--repeat 1] [--json results.json]

The hosts set ansible_pipelining (SARK_BENCH_PIPELINING=false measures without).

Exit status: 1 when a correctness check fails - a playbook run failed, or a deployment's report is missing or does not
show the verdicts its deployment must give (its own namespace with its workloads, PostgreSQL and Redis ok); 0 otherwise.
The time target is reported, never enforced.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
sys.path.insert(0, TESTS)

# pylint: disable=wrong-import-position
import yaml  # noqa: E402

from harness import demo  # noqa: E402
from harness.servers import LOOPBACK  # noqa: E402

TARGET_RATIO = 3.0
PIPELINING = os.environ.get("SARK_BENCH_PIPELINING", "true").lower() in ("1", "true", "yes")
NAMESPACE = "sark-d%02d"
DATABASE = "sark_d%02d"


def make_deployments(stack, count):
    """Namespaces with a copy of the production workloads (without resource requests), databases and Redis DBs; returns the workload count per namespace."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel

    conn = psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=demo.DEMO_PG_PASSWORD,
                            dbname="postgres", sslmode="disable")
    conn.autocommit = True
    with conn.cursor() as cur:
        for i in range(1, count + 1):
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE % i,))
            if not cur.fetchone():
                cur.execute('CREATE DATABASE "%s"' % (DATABASE % i))
    conn.close()

    api_client = config.new_client_from_config(config_file=stack["kubeconfig"])
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    sources = ([("deployment", d) for d in apps.list_namespaced_deployment("production").items]
               + [("statefulset", s) for s in apps.list_namespaced_stateful_set("production").items])
    for i in range(1, count + 1):
        namespace = NAMESPACE % i
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        for kind, obj in sources:
            body = api_client.sanitize_for_serialization(obj)
            body["metadata"] = {"name": obj.metadata.name, "namespace": namespace, "labels": obj.metadata.labels or {}}
            body.pop("status", None)
            # the one test node has room for one production's resource requests, not for N: the copies request none
            for container in body["spec"]["template"]["spec"]["containers"]:
                container.pop("resources", None)
            if kind == "deployment":
                apps.create_namespaced_deployment(namespace, body)
            else:
                apps.create_namespaced_stateful_set(namespace, body)
    # every copy ready before anything is measured (bounded poll on the condition, no sleep as synchronisation)
    deadline = time.monotonic() + 120
    while True:
        pending = []
        for i in range(1, count + 1):
            for obj in apps.list_namespaced_deployment(NAMESPACE % i).items + apps.list_namespaced_stateful_set(NAMESPACE % i).items:
                if (obj.status.ready_replicas or 0) < (obj.spec.replicas or 0):
                    pending.append("%s/%s" % (NAMESPACE % i, obj.metadata.name))
        if not pending:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("copies not ready after 120 s: %s" % ", ".join(pending[:5]))
        time.sleep(0.2)
    return len(sources), sum(obj.spec.replicas or 0 for _kind, obj in sources)


def inventory(stack, count, report_dir):
    hosts = {}
    for i in range(1, count + 1):
        hosts["sark-d%02d" % i] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            # each module in one process (no temp file, chmod and rm around it): as the demo inventory sets it
            "ansible_pipelining": PIPELINING,
            "sark_layout": stack["layout"],
            "sark_api_connection": {"api_url": stack["api_url"], "api_token": stack["api_token"]},
            "sark_redis_connection": {"redis_host": LOOPBACK, "redis_port": stack["redis_port"], "redis_db": i},
            "sark_pg_connection": {"pg_host": LOOPBACK, "pg_port": stack["pg_port"], "pg_user": "postgres",
                                   "pg_password": demo.DEMO_PG_PASSWORD, "pg_sslmode": "disable"},
            "sark_k8s_connection": {"kubeconfig": stack["kubeconfig"]},
            "sark_daily_check_pg_database": DATABASE % i,
            "sark_daily_check_k8s_namespace": NAMESPACE % i,
            "sark_backup_dir": stack["backup_dir"],
            "sark_daily_check_report_dir": os.path.join(report_dir, "sark-d%02d" % i),
        }
    return {"sark_deployments": {"hosts": hosts}}


def run_measured(inv_path, limit, forks, env):
    argv = ["ansible-playbook", "-i", inv_path, os.path.join(REPO, "playbooks", "daily_check.yml"),
            "-e", "sark_hosts=sark_deployments", "--limit", limit, "--forks", str(forks)]
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunks = []
    for chunk in iter(lambda: proc.stdout.read(65536), b""):
        chunks.append(chunk)
    status, usage = os.wait4(proc.pid, 0)[1:]
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, b"".join(chunks).decode("utf-8", "replace")


EXPECTED = {"database_size": "OK", "redis_memory": "OK", "pods_not_running": "OK", "recent_rollouts": "OK"}


def check_reports(report_dir, hosts, pods):
    """Correctness: every deployment's JSON report (sark_report) exists and shows the verdicts of a healthy deployment,
    read from its own database, Redis DB and namespace (the pod count of its namespace's copies)."""
    problems = []
    for i in hosts:
        directory = os.path.join(report_dir, "sark-d%02d" % i)
        reports = sorted(f for f in os.listdir(directory) if f.endswith(".json")) if os.path.isdir(directory) else []
        if len(reports) != 1:
            problems.append("sark-d%02d: %d JSON reports, expected 1" % (i, len(reports)))
            continue
        with open(os.path.join(directory, reports[0]), encoding="utf-8") as handle:
            report = json.load(handle)
        verdicts = {c["id"]: c for c in report.get("checks", [])}
        for check, verdict in EXPECTED.items():
            got = verdicts.get(check, {}).get("verdict")
            if got != verdict:
                problems.append("sark-d%02d: %s is %s, expected %s" % (i, check, got, verdict))
        reason = verdicts.get("pods_not_running", {}).get("reason", "")
        if not re.search(r"\ball %d pods\b" % pods, reason):
            problems.append("sark-d%02d: the pod check did not read the %d pods of its namespace %s (%r)"
                            % (i, pods, NAMESPACE % i, reason))
        if report.get("deployment") != "sark-d%02d" % i:
            problems.append("sark-d%02d: the report names deployment %r" % (i, report.get("deployment")))
        shutil.rmtree(directory)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deployments", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    if args.deployments < 2 or args.repeat < 1:
        parser.error("--deployments must be at least 2 and --repeat at least 1")

    work = tempfile.mkdtemp(prefix="sark-bench-many-")
    state_dir = os.path.join(work, "demo")
    report_dir = os.path.join(work, "reports")
    os.makedirs(report_dir)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    problems, results = [], {}
    try:
        stack = demo.up(state_dir, "runbook")
        t0 = time.monotonic()
        workloads, pods = make_deployments(stack, args.deployments)
        print("%d deployments (%d workloads, %d pods each) made in %.1f s" % (args.deployments, workloads, pods, time.monotonic() - t0))
        inv_path = os.path.join(work, "inventory.yml")
        with open(inv_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory(stack, args.deployments, report_dir), handle)
        runs = [("1 deployment", "sark-d01", 1, [1]),
                ("%d deployments" % args.deployments, "sark_deployments", args.deployments, list(range(1, args.deployments + 1)))]
        for label, limit, forks, hosts in runs:
            walls, cpus = [], []
            for _run in range(args.repeat):
                rc, wall, cpu, out = run_measured(inv_path, limit, forks, env)
                if rc != 0:
                    problems.append("%s: ansible-playbook exited %d:\n%s" % (label, rc, out[-3000:]))
                problems.extend(check_reports(report_dir, hosts, pods))
                walls.append(wall)
                cpus.append(cpu)
            best = min(range(len(walls)), key=walls.__getitem__)
            results[label] = {"deployments": len(hosts), "wall_s": round(walls[best], 2), "cpu_s": round(cpus[best], 2),
                              "wall_per_deployment_s": round(walls[best] / len(hosts), 2),
                              "cpu_per_deployment_s": round(cpus[best] / len(hosts), 2), "all_wall_s": [round(w, 2) for w in walls]}
    finally:
        demo.down(state_dir, remove=True)
        shutil.rmtree(work, ignore_errors=True)

    if len(results) == 2:
        one, many = results["1 deployment"], results["%d deployments" % args.deployments]
        ratio = many["wall_s"] / one["wall_s"]
        print("\n| run | wall | controller CPU | wall / deployment | CPU / deployment |")
        print("|---|---|---|---|---|")
        for label, r in results.items():
            print("| %s | %.1f s | %.1f s | %.2f s | %.2f s |"
                  % (label, r["wall_s"], r["cpu_s"], r["wall_per_deployment_s"], r["cpu_per_deployment_s"]))
        print("\n%d deployments took %.2fx the time of one (target <= %.1fx: %s); load average %s"
              % (args.deployments, ratio, TARGET_RATIO, "met" if ratio <= TARGET_RATIO else "NOT met",
                 " / ".join("%.2f" % x for x in os.getloadavg())))
        # What the cores allow: the N-run needs its controller CPU spread over every core of the machine at best, so its
        # wall time cannot be below cpu_N / cores; against the measured 1-run, that is the smallest ratio this machine
        # can show for this checklist, whatever the forks (and no fork setting can beat it while the run is CPU-bound).
        cores = os.cpu_count() or 1
        floor = (many["cpu_s"] / cores) / one["wall_s"]
        busy = one["cpu_s"] / one["wall_s"]
        print("CPU-bound floor on this machine: %d cores, so %d deployments need at least %.1f s (%.1f CPU-s / %d): %.2fx "
              "the 1-deployment run, which kept %.0f%% of one core busy%s"
              % (cores, args.deployments, many["cpu_s"] / cores, many["cpu_s"], cores, floor, busy * 100,
                 "; the target is out of reach on this machine unless the CPU per deployment falls" if floor > TARGET_RATIO else ""))
        results["ratio"] = round(ratio, 2)
        results["cpu_bound_floor_ratio"] = round(floor, 2)
        results["cores"] = cores
        results["target_met"] = ratio <= TARGET_RATIO
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    if problems:
        print("\nCORRECTNESS CHECKS FAILED:\n- " + "\n- ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
