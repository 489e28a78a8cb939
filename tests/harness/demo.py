"""The local demo stack: Redis, PostgreSQL 15, the SARK simulator and a Kubernetes API on 127.0.0.1.

    python -m harness.demo up --dir DIR [--layout runbook|sark_v2] [--realistic]   # start, write DIR/inventory.yml
    python -m harness.demo down --dir DIR                                           # stop every process by PID
    python -m harness.demo status --dir DIR

The servers keep running after `up` returns (each leads its own process group); `down` stops them
by the PIDs recorded in DIR/stack.json. Used by scripts/run-daily-check.sh and the Molecule scenarios.

`--realistic` (the main job, scripts/run-daily-check.sh) makes it a deployment after a normal week
(docs/demo.md): thousands of sessions, rate-limit keys, a SIEM queue, hundreds of servers, audit events over
the last 7 days; a real Prometheus scraping the simulator's /metrics (a week of history backfilled first,
tests/harness/prom_history.py) with extensions/prometheus/sark-alerts.yml loaded and a real Alertmanager it
sends its firing alert to; live traffic; S3 backups (one fresh, one stale) in moto's S3 server; redis-0
restarting now and then. Without it the stack is the small one the other Molecule scenarios share.
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
from harness.servers import (
    LOOPBACK, AlertmanagerServer, PostgresServer, PrometheusServer, RedisServer, S3Server, port_open, stop_pid, wait_for,
)

DEMO_PG_PASSWORD = "sark-demo-pw"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALERT_RULES = os.path.join(REPO, "extensions", "prometheus", "sark-alerts.yml")
S3_BUCKET = "sark-backups"
S3_PREFIX = "postgres/"
# what the realistic demo holds (docs/demo.md)
WEEK = {"sessions_users": 240, "sessions_per_user": 12, "ratelimit_subjects": 180, "siem_queued": 240,
        "siem_failed": 3, "servers": 320, "audit_hours": 168, "audit_events_per_hour": 30, "audit_gap_hour": 3}


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
    if stack.get("prometheus_url"):
        conn["sark_prometheus_connection"] = {"prometheus_url": stack["prometheus_url"],
                                              "alertmanager_url": stack["alertmanager_url"]}
    if stack.get("s3"):
        conn["sark_backup_location"] = "s3://%s/%s" % (S3_BUCKET, S3_PREFIX)
        conn["sark_s3_connection"] = stack["s3"]
    if stack.get("kubeconfig"):
        # the test Kubernetes API with SARK's workloads (tests/harness/k8s/scenario.yml); kubernetes.core options
        conn["sark_k8s_connection"] = {"kubeconfig": stack["kubeconfig"]}
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    if stack.get("realistic"):
        # one process per module instead of a temp file, chmod and cleanup around each (the local connection pipelines)
        host["ansible_pipelining"] = True
    return {"sark_control": {"hosts": {"localhost": host}, "vars": conn}}


def up(state_dir, layout, realistic=False):
    if os.path.exists(_state_file(state_dir)):
        raise SystemExit("a demo stack is already recorded in %s: run `down` first" % state_dir)
    os.makedirs(state_dir, exist_ok=True)
    timings = {}
    clock = time.monotonic()
    # PostgreSQL runs as the postgres user (initdb refuses root), which may not enter state_dir
    # (e.g. under /root): its data lives in a directory of its own under the system temp dir.
    pg_dir = tempfile.mkdtemp(prefix="sark-demo-pg-")
    started = []
    extra = {}
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
        timings["redis_postgres_sarksim"] = time.monotonic() - clock
        if realistic:
            clock = time.monotonic()
            extra["seeded"] = seed_week(pg, redis, layout)
            timings["seed_week"] = time.monotonic() - clock
        clock = time.monotonic()
        kube_pid, kubeconfig = start_kube_api(state_dir, scenario=demo_scenario(state_dir) if realistic else None)
        timings["kube_api"] = time.monotonic() - clock
        backup_dir = make_backups(state_dir)
        if realistic:
            clock = time.monotonic()
            s3 = S3Server(workdir=os.path.join(state_dir, "s3"))
            os.makedirs(s3.workdir, exist_ok=True)
            s3.start_on_free_port()
            started.append(s3)
            extra["s3_backups"] = make_s3_backups(s3, pg)
            extra["s3"] = s3.connection()
            timings["s3"] = time.monotonic() - clock
            clock = time.monotonic()
            prom, alertmanager, history = start_monitoring(state_dir, sim, layout)
            started += [alertmanager, prom]
            timings["prometheus_alertmanager"] = time.monotonic() - clock
            traffic_pid = start_traffic(state_dir, sim, layout)
            clock = time.monotonic()
            extra["firing"] = wait_for_alert(alertmanager.url, "HighLatency")
            timings["alert_firing"] = time.monotonic() - clock
            extra.update(prometheus_url=prom.url, alertmanager_url=alertmanager.url, history=history,
                         pids={"prometheus": prom.pid, "alertmanager": alertmanager.pid, "s3": s3.pid, "traffic": traffic_pid})
    except BaseException:
        for name in ("traffic",):
            stop_pid((extra.get("pids") or {}).get(name))
        for server in reversed(started):
            server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
        raise
    stack = {"layout": layout, "state_dir": os.path.abspath(state_dir), "realistic": bool(realistic),
             "api_url": sim.url, "api_token": sim.token,
             "redis_port": redis.port, "pg_port": pg.port, "pg_dir": pg_dir,
             "kubeconfig": kubeconfig, "backup_dir": backup_dir,
             "pids": {"sarksim": sim.pid, "postgres": pg.pid, "redis": redis.pid, "kube-api": kube_pid}}
    stack["pids"].update(extra.pop("pids", {}))
    stack.update(extra, setup_seconds=dict((k, round(v, 2)) for k, v in timings.items()))
    with open(_state_file(state_dir), "w", encoding="utf-8") as handle:
        json.dump(stack, handle, indent=2)
    os.chmod(_state_file(state_dir), 0o600)
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
    if realistic:
        seeded = stack["seeded"]
        print("  a normal week: %d sessions, %d rate-limit keys, %d SIEM events queued (%d failed), %d servers, "
              "%d audit events over %d h" % (seeded["sessions"], seeded["ratelimit_keys"], seeded["siem_queued"],
                                             seeded["siem_failed"], seeded["servers"], seeded["audit_events"], WEEK["audit_hours"]))
        print("  Prometheus %s (%d backfilled samples, %s live), Alertmanager %s (firing: %s), S3 %s (s3://%s/%s: %s)" % (
            stack["prometheus_url"], stack["history"]["samples"], "scraping " + sim.url + "/metrics", stack["alertmanager_url"],
            ", ".join(stack["firing"]) or "none yet", stack["s3"]["endpoint_url"], S3_BUCKET, S3_PREFIX,
            ", ".join(o["key"].rsplit("/", 1)[-1] for o in stack["s3_backups"])))
        print("  set-up seconds: %s" % ", ".join("%s %.1f" % kv for kv in stack["setup_seconds"].items()))
    return stack


def seed_week(pg, redis, layout, now=None):
    """The data of a deployment after a normal week (WEEK), on top of the simulator's own demo seed."""
    from harness import redis_seed  # pylint: disable=import-outside-toplevel
    from harness.sarksim import schema  # pylint: disable=import-outside-toplevel
    import datetime  # pylint: disable=import-outside-toplevel
    now = now or datetime.datetime.now(datetime.timezone.utc)
    client = redis.client()
    users = ["user-%03d" % n for n in range(WEEK["sessions_users"])]
    sessions = redis_seed.seed_sessions(client, layout, users, per_user=WEEK["sessions_per_user"])
    subjects = [("user", u, 40 + 7 * n % 900) for n, u in enumerate(users[:WEEK["ratelimit_subjects"] // 2])]
    subjects += [("api_key", "key-%03d" % n, 20 + 13 * n % 700) for n in range(WEEK["ratelimit_subjects"] // 4)]
    subjects += [("ip", "10.20.%d.%d" % (n // 200, n % 200), 5 + n % 90) for n in range(WEEK["ratelimit_subjects"] // 4)]
    # sark_v2 keeps a sliding window of one ZSET member per request: fewer members there
    if layout != "runbook":
        subjects = [(kind, subject, min(used, 60)) for kind, subject, used in subjects]
    ratelimit_keys = redis_seed.seed_ratelimits(client, layout, subjects, now=now)
    queued, failed = redis_seed.seed_siem(client, queued=WEEK["siem_queued"], failed=WEEK["siem_failed"])
    servers = schema.seed_servers(pg, layout, WEEK["servers"], prefix="mcp-server-")
    # a week of audit events (the simulator's seed covers the last 6 hours): one empty hour 3 hours back
    times = [t for t in schema.audit_times(now, WEEK["audit_hours"], WEEK["audit_events_per_hour"], WEEK["audit_gap_hour"])
             if t < now - datetime.timedelta(hours=6)]
    audit = _seed_audit(pg, layout, times)
    client.close()
    return {"sessions": sum(len(v) for v in sessions.values()), "ratelimit_keys": len(ratelimit_keys),
            "siem_queued": queued, "siem_failed": failed, "servers": servers, "audit_events": audit}


def _seed_audit(pg, layout, times):
    """Audit events at the given times in the layout's audit table (a mix of event types and severities)."""
    import random  # pylint: disable=import-outside-toplevel
    import uuid  # pylint: disable=import-outside-toplevel
    from psycopg2.extras import Json, execute_values  # pylint: disable=import-outside-toplevel
    rng = random.Random(7)
    conn = pg.connect("sark_audit", autocommit=False)
    try:
        with conn.cursor() as cur:
            if layout == "runbook":
                cycle = ["login", "tool_invoked", "tool_invoked", "server_registered", "logout", "policy_denied"]
                rows = [(t, cycle[i % len(cycle)], "critical" if i % 211 == 0 else ("high" if i % 6 == 5 else "low"),
                         None, None, Json({"demo": "week", "n": i})) for i, t in enumerate(times)]
                execute_values(cur, "INSERT INTO audit_events (time, event_type, severity, user_id, server_id, details)"
                               " VALUES %s", rows, page_size=1000)
                execute_values(cur, "INSERT INTO policy_evaluations (time, policy_name, decision, duration_ms, user_id)"
                               " VALUES %s", [(t, ("server_access", "tool_invocation", "data_export")[i % 3], i % 9 != 0,
                                               round(rng.uniform(0.5, 25.0), 3), None) for i, t in enumerate(times)],
                               page_size=1000)
            else:
                cycle = ["USER_LOGIN", "TOOL_INVOKED", "AUTHORIZATION_ALLOWED", "USER_LOGOUT", "AUTHORIZATION_DENIED", "TOOL_INVOKED"]
                rows = []
                for i, moment in enumerate(times):
                    event = "SECURITY_VIOLATION" if i % 311 == 0 else cycle[i % len(cycle)]
                    severity = "CRITICAL" if event == "SECURITY_VIOLATION" else ("MEDIUM" if event.endswith("DENIED") else "LOW")
                    rows.append((str(uuid.uuid4()), moment, event, severity, None, None, None, None,
                                 {"AUTHORIZATION_ALLOWED": "allow", "AUTHORIZATION_DENIED": "deny"}.get(event),
                                 "10.0.0.%d" % rng.randint(1, 254), Json({"demo": "week", "n": i})))
                execute_values(cur, "INSERT INTO audit_events (id, timestamp, event_type, severity, user_id, user_email,"
                               " server_id, tool_name, decision, ip_address, details) VALUES %s", rows, page_size=1000)
        conn.commit()
    finally:
        conn.close()
    return len(times)


def demo_scenario(state_dir):
    """scenario.yml with redis-0 restarting now and then (OOMKilled 4 times, the last 90 minutes ago; Running now)."""
    import copy  # pylint: disable=import-outside-toplevel
    from harness.k8s.server import load_scenario  # pylint: disable=import-outside-toplevel
    scenario = copy.deepcopy(load_scenario())
    scenario["images"].insert(0, {"match": "redis:7.2.4", "cpu": "30m", "memory": "610Mi", "logs": "redis",
                                  "restart_every": 7200, "restarts_before": 4, "restart_reason": "OOMKilled",
                                  "last_restart_ago": 5400})
    for obj in scenario["objects"]:
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == "redis":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "redis:7.2.4"
    path = os.path.join(os.path.abspath(state_dir), "k8s-scenario.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(scenario, handle, default_flow_style=False)
    return path


def make_s3_backups(s3, pg, now=None):
    """A real pg_dump of the sark database, uploaded as the runbook's backup job names it: 3 h and 40 h ago."""
    import datetime  # pylint: disable=import-outside-toplevel
    from harness.servers import PG_BIN  # pylint: disable=import-outside-toplevel
    now = now or datetime.datetime.now(datetime.timezone.utc)
    dump = subprocess.run([os.path.join(PG_BIN, "pg_dump"), "-Fc", "-h", LOOPBACK, "-p", str(pg.port), "-U", "postgres", "sark"],
                          capture_output=True, timeout=60, check=True, env=dict(os.environ, PGPASSWORD=DEMO_PG_PASSWORD)).stdout
    client = s3.client()
    client.create_bucket(Bucket=S3_BUCKET)
    made = []
    for hours in (40, 3):
        key = "%ssark-backup-%s.dump" % (S3_PREFIX, (now - datetime.timedelta(hours=hours)).strftime("%Y%m%d-%H%M"))
        client.put_object(Bucket=S3_BUCKET, Key=key, Body=dump)
        made.append({"key": key, "hours_old": hours, "size": len(dump)})
    return made


def start_monitoring(state_dir, sim, layout):
    """Alertmanager, then Prometheus on a backfilled week (prom_history), scraping the simulator as job sark-api."""
    from harness import prom_history  # pylint: disable=import-outside-toplevel
    from urllib.parse import urlparse  # pylint: disable=import-outside-toplevel
    alertmanager = AlertmanagerServer(workdir=os.path.join(os.path.abspath(state_dir), "alertmanager"))
    os.makedirs(alertmanager.workdir, exist_ok=True)
    alertmanager.start_on_free_port()
    target = urlparse(sim.url).netloc
    prom = PrometheusServer(workdir=os.path.join(os.path.abspath(state_dir), "prometheus"), rule_files=[ALERT_RULES],
                            alertmanager_port=alertmanager.port, scrape_interval="5s", eval_interval="1s",
                            scrape_configs=[{"job_name": prom_history.JOB, "static_configs": [{"targets": [target]}]}])
    os.makedirs(prom.workdir, exist_ok=True)
    try:
        om = os.path.join(prom.workdir, "history.om")
        history = prom_history.write_history(om, instance=target, layout=layout)
        history["backfill_seconds"] = round(prom_history.backfill(om, prom.data_dir), 2)
        os.unlink(om)
        prom.start_on_free_port()
    except BaseException:
        alertmanager.stop()
        raise
    return prom, alertmanager, history


def start_traffic(state_dir, sim, layout):
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SARK_DEMO_TOKEN=sim.token,
               PYTHONPATH=os.pathsep.join(p for p in [tests_dir, os.environ.get("PYTHONPATH", "")] if p))
    with open(os.path.join(state_dir, "traffic.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "harness.demo_traffic", "--url", sim.url, "--layout", layout],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc.pid


def wait_for_alert(alertmanager_url, name, timeout=30.0):
    """Until Alertmanager holds `name` active (Prometheus restored its `for` state from the history); the names held."""
    import urllib.request  # pylint: disable=import-outside-toplevel
    found = []

    def active():
        with urllib.request.urlopen(alertmanager_url + "/api/v2/alerts?active=true", timeout=2) as resp:  # nosec - loopback
            found[:] = sorted(set(a["labels"].get("alertname") for a in json.load(resp)))
        return name in found
    try:
        wait_for(active, timeout, "alert %s in Alertmanager" % name, interval=0.5)
    except TimeoutError as exc:
        print("warning: %s" % exc, file=sys.stderr)
    return found


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


def start_kube_api(state_dir, timeout=30.0, scenario=None):
    """The test Kubernetes API as a process of its own (python -m harness.k8s.server); returns (pid, kubeconfig)."""
    kubeconfig = os.path.join(os.path.abspath(state_dir), "kubeconfig")
    pid_file = os.path.join(os.path.abspath(state_dir), "kube-api.pid")
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [tests_dir, os.environ.get("PYTHONPATH", "")] if p))
    with open(os.path.join(state_dir, "kube-api.log"), "w", encoding="utf-8") as log:
        argv = [sys.executable, "-m", "harness.k8s.server", "--kubeconfig", kubeconfig, "--pid-file", pid_file]
        if scenario:
            argv += ["--scenario", scenario]
        proc = subprocess.Popen(argv,
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
    stop_recorded(state_dir, stack, ("traffic", "prometheus", "alertmanager", "s3", "sarksim", "redis", "kube-api"), remove)
    print("demo stack in %s stopped" % state_dir)


def stop_recorded(state_dir, stack, names, remove=False):
    """Stop the processes recorded in stack["pids"] under names, in that order, then PostgreSQL; forget the stack
    (DIR/stack.json) and, with remove, delete its state directory and PostgreSQL's data directory."""
    for name in names:
        stop_pid(stack["pids"].get(name))
    # PostgreSQL's fast shutdown is SIGINT
    import signal  # pylint: disable=import-outside-toplevel
    stop_pid(stack["pids"].get("postgres"), timeout=20, sig=signal.SIGINT)
    os.unlink(_state_file(state_dir))
    if remove:
        shutil.rmtree(state_dir, ignore_errors=True)
        if stack.get("pg_dir"):
            shutil.rmtree(stack["pg_dir"], ignore_errors=True)


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
    parser.add_argument("--realistic", action="store_true",
                        help="with up: a deployment after a normal week, with Prometheus, Alertmanager and S3 (docs/demo.md)")
    args = parser.parse_args(argv)
    if args.action == "up":
        up(args.dir, args.layout, realistic=args.realistic)
        return 0
    if args.action == "down":
        down(args.dir, args.remove)
        return 0
    return status(args.dir)


if __name__ == "__main__":
    sys.exit(main())
