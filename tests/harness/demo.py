"""The local demo stack: Redis, PostgreSQL 15, the SARK simulator and a Kubernetes API on 127.0.0.1.

    python -m harness.demo up --dir DIR [--layout runbook|sark_v2]   # start, write DIR/inventory.yml
    python -m harness.demo down --dir DIR                             # stop every process by PID
    python -m harness.demo status --dir DIR

The servers keep running after `up` returns (each leads its own process group); `down` stops them
by the PIDs recorded in DIR/stack.json. Used by scripts/run-daily-check.sh and the Molecule scenarios.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

from harness.sarksim import SarkSimulator
from harness.servers import LOOPBACK, PostgresServer, RedisServer, port_open, stop_pid

DEMO_PG_PASSWORD = "sark-demo-pw"


def _state_file(state_dir):
    return os.path.join(state_dir, "stack.json")


def inventory(stack):
    conn = {
        "sark_layout": stack["layout"],
        "sark_api_connection": {"api_url": stack["api_url"], "api_token": stack["api_token"]},
        "sark_redis_connection": {"redis_host": LOOPBACK, "redis_port": stack["redis_port"]},
        "sark_pg_connection": {"pg_host": LOOPBACK, "pg_port": stack["pg_port"], "pg_user": "postgres",
                               "pg_password": DEMO_PG_PASSWORD, "pg_sslmode": "disable"},
    }
    if stack.get("backup_dir"):
        conn["sark_backup_dir"] = stack["backup_dir"]
    if stack.get("kubeconfig"):
        # the test Kubernetes API with SARK's workloads (tests/harness/k8s/scenario.yml); kubernetes.core options
        conn["sark_k8s_connection"] = {"kubeconfig": stack["kubeconfig"]}
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return {"sark_control": {"hosts": {"localhost": host}, "vars": conn}}


def up(state_dir, layout):
    if os.path.exists(_state_file(state_dir)):
        raise SystemExit("a demo stack is already recorded in %s: run `down` first" % state_dir)
    os.makedirs(state_dir, exist_ok=True)
    # PostgreSQL runs as the postgres user (initdb refuses root), which may not enter state_dir
    # (e.g. under /root): its data lives in a directory of its own under the system temp dir.
    pg_dir = tempfile.mkdtemp(prefix="sark-demo-pg-")
    started = []
    try:
        redis = RedisServer(workdir=os.path.join(state_dir, "redis"))
        os.makedirs(redis.workdir, exist_ok=True)
        redis.start()
        started.append(redis)
        pg = PostgresServer(workdir=pg_dir, password=DEMO_PG_PASSWORD, auth="scram-sha-256")
        pg.start()
        started.append(pg)
        sim = SarkSimulator(layout, pg=pg, redis=redis, seed=True, workdir=os.path.join(state_dir, "sim"))
        os.makedirs(sim.workdir, exist_ok=True)
        sim.start()
        started.append(sim)
        kube_pid, kubeconfig = start_kube_api(state_dir)
        backup_dir = make_backups(state_dir)
    except BaseException:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
        raise
    stack = {"layout": layout, "state_dir": os.path.abspath(state_dir),
             "api_url": sim.url, "api_token": sim.token,
             "redis_port": redis.port, "pg_port": pg.port, "pg_dir": pg_dir,
             "kubeconfig": kubeconfig, "backup_dir": backup_dir,
             "pids": {"sarksim": sim.pid, "postgres": pg.pid, "redis": redis.pid, "kube-api": kube_pid}}
    with open(_state_file(state_dir), "w", encoding="utf-8") as handle:
        json.dump(stack, handle, indent=2)
    inv_path = os.path.join(state_dir, "inventory.yml")
    with open(inv_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory(stack), handle, default_flow_style=False)
    os.chmod(inv_path, 0o600)
    # the same connection variables, flat, for include_vars (Molecule scenarios, ad-hoc plays)
    vars_path = os.path.join(state_dir, "vars.yml")
    with open(vars_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory(stack)["sark_control"]["vars"], handle, default_flow_style=False)
    os.chmod(vars_path, 0o600)
    print("demo stack (%s layout) up: SARK simulator %s, Redis %s:%d, PostgreSQL %s:%d, Kubernetes API (kubeconfig %s); "
          "inventory %s" % (layout, sim.url, LOOPBACK, redis.port, LOOPBACK, pg.port, kubeconfig, inv_path))
    return stack


def make_backups(state_dir, now=None):
    """Two pg_dump backups named as the runbook's backup job names them: one of 3 hours ago, one of 40 hours ago
    (the daily check judges the newest; a scenario that removes the fresh one sees a stale backup)."""
    import datetime  # pylint: disable=import-outside-toplevel
    backup_dir = os.path.join(os.path.abspath(state_dir), "backups", "postgres")
    os.makedirs(backup_dir, exist_ok=True)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    for hours in (3, 40):
        name = "sark-backup-%s.dump" % (now - datetime.timedelta(hours=hours)).strftime("%Y%m%d-%H%M")
        with open(os.path.join(backup_dir, name), "wb") as handle:
            handle.write(b"PGDMP demo backup\n")
    return backup_dir


def start_kube_api(state_dir, timeout=30.0):
    """The test Kubernetes API as a process of its own (python -m harness.k8s.server); returns (pid, kubeconfig)."""
    kubeconfig = os.path.join(os.path.abspath(state_dir), "kubeconfig")
    pid_file = os.path.join(os.path.abspath(state_dir), "kube-api.pid")
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [tests_dir, os.environ.get("PYTHONPATH", "")] if p))
    with open(os.path.join(state_dir, "kube-api.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "harness.k8s.server", "--kubeconfig", kubeconfig, "--pid-file", pid_file],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not os.path.exists(pid_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            raise RuntimeError("the Kubernetes API did not start: see %s" % os.path.join(state_dir, "kube-api.log"))
        time.sleep(0.1)
    return proc.pid, kubeconfig


def down(state_dir, remove=False):
    path = _state_file(state_dir)
    if not os.path.exists(path):
        print("no demo stack recorded in %s" % state_dir)
        return
    with open(path, encoding="utf-8") as handle:
        stack = json.load(handle)
    for name in ("sarksim", "redis", "kube-api"):
        stop_pid(stack["pids"].get(name))
    # PostgreSQL's fast shutdown is SIGINT
    import signal  # pylint: disable=import-outside-toplevel
    stop_pid(stack["pids"].get("postgres"), timeout=20, sig=signal.SIGINT)
    os.unlink(path)
    if remove:
        shutil.rmtree(state_dir, ignore_errors=True)
        if stack.get("pg_dir"):
            shutil.rmtree(stack["pg_dir"], ignore_errors=True)
    print("demo stack in %s stopped" % state_dir)


def status(state_dir):
    path = _state_file(state_dir)
    if not os.path.exists(path):
        print("no demo stack recorded in %s" % state_dir)
        return 1
    with open(path, encoding="utf-8") as handle:
        stack = json.load(handle)
    ok = port_open(stack["redis_port"]) and port_open(stack["pg_port"])
    print(json.dumps(dict(stack, api_token="********", listening=ok), indent=2))
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.demo", description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", required=True, help="state directory (PIDs, logs, data, inventory)")
    parser.add_argument("--layout", choices=["runbook", "sark_v2"], default="runbook")
    parser.add_argument("--remove", action="store_true", help="with down: also delete the state directory")
    args = parser.parse_args(argv)
    if args.action == "up":
        up(args.dir, args.layout)
        return 0
    if args.action == "down":
        down(args.dir, args.remove)
        return 0
    return status(args.dir)


if __name__ == "__main__":
    sys.exit(main())
