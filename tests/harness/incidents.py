"""Inject the real faults of the incident playbooks into the demo stack (python -m harness.demo up), and snapshot its state.

    python -m harness.incidents inject db_outage|api_down|siem_down|opa_failure|audit_gap --dir DEMO_DIR
    python -m harness.incidents snapshot --dir DEMO_DIR [--out FILE]    # JSON of what remediation changes
    python -m harness.incidents release --dir DEMO_DIR                  # stop a connection holder (destroy)

db_outage: a holder process opens idle PostgreSQL sessions (application_name incident-idle-leak) until 96 %
of the usable connections are in use, and keeps them until they are terminated (it exits when the server
closes them all) or 15 minutes pass. api_down: production/sark gets a new revision whose image crash-loops
in the Kubernetes API. siem_down: both per-SIEM breakers (seed 002 spelling) open with failed events queued.
api_down_oom: a new revision whose container needs more memory than its limit (OOMKilled in the Kubernetes API).
db_outage_oom: statefulset postgres gets a memory limit below what PostgreSQL uses: postgres-0 is OOMKilled and crash-loops.
high_latency: a table with 45 000 dead tuples (autovacuum off on it), a query held running (pg_sleep), a new revision
whose pods share a 2.85-CPU load (95 % of their 1-CPU limit), a Redis cache hit ratio under 70 % and
POLICY_CACHE_TTL_HIGH=60 in sark-config. auth_failures: the OIDC issuer in sark-config is a local port nothing
listens on, and the Secret the pods read SECRET_KEY from is rotated after they started (managedFields time).
opa_failure: the OPA test server (a real Rego engine) is started with the good policies of policies/, then
mcp_allow is replaced by a policy whose bare-boolean result SARK reads as deny for everyone; SARK is pointed at
it and decisions are cached under it. audit_gap: the audit events of the current and the two hours before are
deleted (events stopped arriving) and a stand-in for SARK's audit writer is started that records again only
after its Deployment (sark-system/sark-api) has been restarted and rolled out (the stuck batch writer).
"""

import argparse
import hashlib
import json
import math
import os
import select
import subprocess
import sys
import time

import yaml

from harness.demo import DEMO_PG_PASSWORD
from harness.sarksim import data
from harness.servers import LOOPBACK, stop_pid, wait_for

LEAK_APP = "incident-idle-leak"
API_NAMESPACE, API_NAME = "production", "sark"
CRASH_IMAGE = "ghcr.io/sark/sark-crashloop:2.1.1"
FAILED_EVENTS = 25


def _stack(state_dir):
    with open(os.path.join(state_dir, "stack.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _pg(stack, app="incident-harness"):
    import psycopg2  # pylint: disable=import-outside-toplevel
    return psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=DEMO_PG_PASSWORD,
                            dbname="postgres", application_name=app, connect_timeout=5)


def _redis(stack):
    import redis  # pylint: disable=import-outside-toplevel
    return redis.Redis(host=LOOPBACK, port=stack["redis_port"], decode_responses=True, socket_timeout=5)


def _apps(stack):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.AppsV1Api(config.new_client_from_config(config_file=stack["kubeconfig"]))


def _one(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def leak_backends(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid", (LEAK_APP,))
        return [row[0] for row in cur.fetchall()]


# --- db_outage -------------------------------------------------------------------------------------------

def hold(port, count, ready_file, lifetime=900.0, app=LEAK_APP):
    """Open `count` idle sessions, write ready_file, wait until the server has closed every one (or lifetime)."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    conns = [psycopg2.connect(host=LOOPBACK, port=port, user="postgres", password=DEMO_PG_PASSWORD, dbname="sark",
                              application_name=app, connect_timeout=10) for dummy in range(count)]
    with open(ready_file + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    os.rename(ready_file + ".tmp", ready_file)
    # an idle session's socket becomes readable only when the server sends something: the termination notice
    live = {c.fileno(): c for c in conns}
    deadline = time.monotonic() + lifetime
    while live and time.monotonic() < deadline:
        readable = select.select(list(live), [], [], max(deadline - time.monotonic(), 0))[0]
        for fd in readable:
            live.pop(fd).close()
    return 0


def _sessions_to_96_percent(stack):
    """(max_connections, how many more client sessions take the server to 96 % of its usable connections)."""
    conn = _pg(stack)
    try:
        maximum = int(_one(conn, "SHOW max_connections")[0])
        reserved = int(_one(conn, "SHOW superuser_reserved_connections")[0])
        total = int(_one(conn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0])
    finally:
        conn.close()
    return maximum, max(int(math.ceil(0.96 * (maximum - reserved))) - total, 1)


def inject_db_outage(state_dir, stack):
    maximum, count = _sessions_to_96_percent(stack)
    pid = _start_holder(state_dir, stack, ["hold", "--port", str(stack["pg_port"]), "--count", str(count)], name="incident-holder",
                        timeout=120, what="%d idle PostgreSQL sessions" % count)
    return {"idle_sessions": count, "max_connections": maximum, "holder_pid": pid}


# --- db_outage, connections at the limit (no idle session to terminate) and the database dropped ------------------

BUSY_APP = "incident-busy"
PG_POD_NAMESPACE, PG_POD = "production", "postgres-0"


def _pg_pod_uid(stack):
    try:
        return _core(stack).read_namespaced_pod(PG_POD, PG_POD_NAMESPACE).metadata.uid
    except Exception:  # pylint: disable=broad-except
        return None   # deleted, not recreated yet


def inject_db_outage_limit(state_dir, stack):
    """Sessions of another application (not the leak the playbook may terminate) up to 96 % of the usable connections,
    and the stand-in of the postgres-0 pod: PostgreSQL is restarted for real once that pod is deleted and recreated in
    the Kubernetes API (what kubectl delete pod postgres-0 does to the server)."""
    maximum, count = _sessions_to_96_percent(stack)
    holder = _start_holder(state_dir, stack, ["hold", "--port", str(stack["pg_port"]), "--count", str(count),
                                              "--app", BUSY_APP], name="incident-holder")
    uid = _pg_pod_uid(stack)
    proc = _spawn(state_dir, ["pg-pod", "--dir", state_dir, "--uid", uid or ""], "incident-pgpod")
    return {"busy_sessions": count, "max_connections": maximum, "holder_pid": holder, "pg_pod_uid": uid,
            "pg_pod_standin_pid": proc.pid}


def pg_pod(state_dir, uid, lifetime=900.0):
    """Wait until postgres-0 has another uid (deleted and recreated), then restart the real server with the options it
    was started with (postmaster.opts; ALTER SYSTEM values in postgresql.auto.conf apply), recording its new pid."""
    import signal  # pylint: disable=import-outside-toplevel
    import shlex  # pylint: disable=import-outside-toplevel
    from harness.servers import PG_BIN  # pylint: disable=import-outside-toplevel
    stack = _stack(state_dir)
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        now = _pg_pod_uid(stack)
        if now and now != uid:
            break
        time.sleep(0.2)
    else:
        return 1
    datadir = os.path.join(stack["pg_dir"], "data")
    with open(os.path.join(datadir, "postmaster.opts"), encoding="utf-8") as handle:
        argv = shlex.split(handle.read().strip())
    stop_pid(stack["pids"]["postgres"], timeout=20, sig=signal.SIGINT)
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    with open(os.path.join(state_dir, "postgres-restarted.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack["pids"]["postgres"] = proc.pid
    with open(os.path.join(state_dir, "stack.json.tmp"), "w", encoding="utf-8") as handle:
        json.dump(stack, handle, indent=2)
    os.rename(os.path.join(state_dir, "stack.json.tmp"), os.path.join(state_dir, "stack.json"))
    wait_for(lambda: subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", LOOPBACK, "-p", str(stack["pg_port"]), "-q"],
                                    check=False).returncode == 0, 30, "the restarted PostgreSQL", interval=0.1)
    print("postgres restarted as pid %d" % proc.pid)
    return 0


def inject_db_outage_dropped(stack):
    """The database is gone (cause 4): DROP DATABASE sark, its sessions terminated."""
    conn = _pg(stack)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP DATABASE sark WITH (FORCE)")
    finally:
        conn.close()
    return {"dropped": "sark"}


DB_OOM_LIMIT = "1Gi"   # the postgres image of the scenario uses 1200Mi


def inject_db_outage_oom(stack):
    """Cause 1, the pod crashed: the memory limit of statefulset postgres lowered below what PostgreSQL uses; the
    StatefulSet rolls postgres-0 onto it and the new container is OOMKilled again and again (CrashLoopBackOff).
    Returns once postgres-0 reports lastState.terminated.reason OOMKilled."""
    apps, core = _apps(stack), _core(stack)
    apps.patch_namespaced_stateful_set("postgres", PG_POD_NAMESPACE, {"spec": {"template": {"spec": {"containers": [
        {"name": "postgres", "resources": {"limits": {"memory": DB_OOM_LIMIT}}}]}}}})

    def oom_killed():
        try:
            pod = core.read_namespaced_pod(PG_POD, PG_POD_NAMESPACE)
        except Exception:  # pylint: disable=broad-except
            return False   # deleted by the rollout, not recreated yet
        return any(cs.last_state and cs.last_state.terminated and cs.last_state.terminated.reason == "OOMKilled"
                   for cs in pod.status.container_statuses or [])
    wait_for(oom_killed, 60, "%s/%s to be OOMKilled" % (PG_POD_NAMESPACE, PG_POD), interval=0.2)
    return {"statefulset": "%s/postgres" % PG_POD_NAMESPACE, "memory_limit": DB_OOM_LIMIT, "pod": PG_POD}


def db_pod_state(stack):
    """The StatefulSet's memory limit and postgres-0's readiness, restarts and last termination (None: no such pod)."""
    sts = _apps(stack).read_namespaced_stateful_set("postgres", PG_POD_NAMESPACE)
    try:
        pod = _core(stack).read_namespaced_pod(PG_POD, PG_POD_NAMESPACE)
    except Exception:  # pylint: disable=broad-except
        return None   # deleted, not recreated yet
    statuses = pod.status.container_statuses or []
    return {"memory_limit": sts.spec.template.spec.containers[0].resources.limits.get("memory"),
            "pod_memory_limit": pod.spec.containers[0].resources.limits.get("memory"),
            "ready": bool(statuses) and all(cs.ready for cs in statuses),
            "restarts": sum(cs.restart_count for cs in statuses),
            "last_termination": next((cs.last_state.terminated.reason for cs in statuses
                                      if cs.last_state and cs.last_state.terminated), None),
            "uid": pod.metadata.uid}


def sark_rows(stack):
    """Row counts of every table of the sark database (None when the database does not exist)."""
    conn = _pg(stack)
    try:
        if not _one(conn, "SELECT count(*) FROM pg_database WHERE datname = 'sark'")[0]:
            return None
    finally:
        conn.close()
    conn = _pg_sark(stack)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1")
            tables = [row[0] for row in cur.fetchall()]
            counts = {}
            for table in tables:
                schema, name = table.split(".", 1)
                cur.execute('SELECT count(*) FROM "%s"."%s"' % (schema, name))
                counts[table] = cur.fetchone()[0]
        return counts
    finally:
        conn.close()


def release(state_dir):
    for name in ("incident-holder.pid", "incident-slowquery.pid", "incident-writer.pid", "incident-opa.pid",
                 "incident-pgpod.pid", "incident-hec.pid"):
        path = os.path.join(state_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                stop_pid(int(handle.read().strip()))
            os.unlink(path)


# --- api_down --------------------------------------------------------------------------------------------

def _deployment(apps):
    return apps.read_namespaced_deployment(API_NAME, API_NAMESPACE)


def _roll_out_until(stack, container, matches, what):
    """Patch production/sark's container (a new revision) and wait until a pod of that revision has a container status
    for which matches(status) holds; returns (the revision it came from, the patched image)."""
    apps, core = _apps(stack), _core(stack)
    revision = int(_deployment(apps).metadata.annotations.get("deployment.kubernetes.io/revision", "1"))
    image = container["image"]
    apps.patch_namespaced_deployment(API_NAME, API_NAMESPACE, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "deploy %s" % image}},
        "spec": {"template": {"spec": {"containers": [dict(container, name="sark")]}}}})

    def rolled_out():
        dep = _deployment(apps)
        if int(dep.metadata.annotations.get("deployment.kubernetes.io/revision", "0")) <= revision:
            return False
        pods = core.list_namespaced_pod(API_NAMESPACE, label_selector="app=sark").items
        return any(matches(cs) for pod in pods for cs in (pod.status.container_statuses or []) if cs.image == image)
    wait_for(rolled_out, 60, "the new revision of %s/%s %s" % (API_NAMESPACE, API_NAME, what), interval=0.2)
    return revision


def inject_api_down(stack, image=CRASH_IMAGE):
    """A new revision of production/sark with `image` (one that crash-loops); returns when its pods do."""
    revision = _roll_out_until(stack, {"image": image},
                               lambda cs: cs.state and cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff",
                               "to crash-loop")
    return {"deployment": "%s/%s" % (API_NAMESPACE, API_NAME), "from_revision": revision, "image": image}


def _core(stack):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.CoreV1Api(config.new_client_from_config(config_file=stack["kubeconfig"]))


# --- siem_down -------------------------------------------------------------------------------------------

def inject_siem_down(stack):
    client = _redis(stack)
    data.set_circuit_breaker(client, variant="002", state="open", failures=7)
    queued, failed = data.seed_siem_queue(client, failed=FAILED_EVENTS)
    return {"breakers": "circuit:{splunk,datadog}:state=open", "queued": queued, "failed": failed}


# --- siem_down, rate limited (002 playbook 5 cause 4) -------------------------------------------------------

HEC_TOKEN = "seeded-splunk-token"
BATCH_SETTING, BATCH_TARGET = "SIEM_BATCH_SIZE", 200


def _batch_tuned(stack, restarted_at):
    """SARK sends bigger batches: SIEM_BATCH_SIZE >= 200 in sark-config and the Deployment restarted and rolled out."""
    data_ = _core(stack).read_namespaced_config_map("sark-config", API_NAMESPACE).data or {}
    try:
        size = int(data_.get(BATCH_SETTING) or 0)
    except ValueError:
        size = 0
    return size >= BATCH_TARGET and _rolled_out(_deployment(_apps(stack)), restarted_at)


def hec(state_dir, port, ready_file, lifetime=900.0):
    """A Splunk HEC stand-in that answers 429 to SARK's small batches until they are bigger (_batch_tuned), then as
    Splunk answers a valid token with no data (400, code 5). GET /services/collector/health: healthy."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # pylint: disable=import-outside-toplevel
    stack = _stack(state_dir)
    restarted_at = (_deployment(_apps(stack)).spec.template.metadata.annotations or {}).get(RESTARTED_AT) or ""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status, body):
            text = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def do_GET(self):  # noqa: N802 - http.server's name
            self._answer(200, {"text": "HEC is healthy", "code": 17})

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != "Splunk " + HEC_TOKEN:
                self._answer(403, {"text": "Invalid token", "code": 4})
            elif _batch_tuned(stack, restarted_at):
                self._answer(400, {"text": "No data", "code": 5})
            else:
                self._answer(429, {"text": "Too many requests"})

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    with open(ready_file + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    os.rename(ready_file + ".tmp", ready_file)
    server.timeout = 1
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        server.handle_request()
    return 0


def _hec_status(url):
    """The HTTP status the HEC stand-in answers SARK's event POST with, read independently of the collection."""
    import urllib.error  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    request = urllib.request.Request(url + "/services/collector/event", data=b"", method="POST",
                                     headers={"Authorization": "Splunk " + HEC_TOKEN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # nosec - loopback only
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def inject_siem_down_rate(state_dir, stack):
    """On top of siem_down: the SIEM rate-limits SARK (cause 4), a HEC stand-in answering 429 until the batches grow."""
    from harness.servers import free_port  # pylint: disable=import-outside-toplevel
    result = {}
    port = free_port()
    pid = _start_holder(state_dir, stack, ["hec", "--dir", state_dir, "--port", str(port)], name="incident-hec")
    url = "http://%s:%d" % (LOOPBACK, port)
    with open(os.path.join(state_dir, "incident-hec.url"), "w", encoding="utf-8") as handle:
        handle.write(url)
    result.update(hec_url=url, hec_pid=pid)
    return result


# --- security --------------------------------------------------------------------------------------------

SEC_USER_ID, SEC_USERNAME = "user-123", "john.doe"
SEC_SESSIONS = 3
SEC_CRITICAL_EVENTS = 4
SEC_SECRET, SEC_SECRET_KEY = "sark-secrets", "secret-key"


def inject_security(stack):
    """A compromised user: real sessions in Redis from an unknown address, a rate-limit counter near the limit, and
    CRITICAL audit events (suspicious tool invocations) in the audit database."""
    client = _redis(stack)
    sessions = data.seed_runbook_sessions(client, [SEC_USER_ID], per_user=SEC_SESSIONS, ip_address="203.0.113.66",
                                          user_agent="curl/8.4.0")
    data.seed_rate_limits(client, "runbook", [SEC_USER_ID], count=4900)
    import psycopg2  # pylint: disable=import-outside-toplevel
    from psycopg2.extras import Json  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=DEMO_PG_PASSWORD,
                            dbname="sark_audit", application_name="incident-harness", connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            for n in range(SEC_CRITICAL_EVENTS):
                cur.execute("INSERT INTO audit_events (time, event_type, severity, user_id, server_id, details)"
                            " VALUES (now() - make_interval(mins => %s), 'tool_invoked', 'critical', %s, NULL, %s)",
                            (n * 5, SEC_USER_ID, Json({"tool": "export_all", "ip_address": "203.0.113.66", "n": n})))
    finally:
        conn.close()
    return {"user": "%s (%s)" % (SEC_USERNAME, SEC_USER_ID), "sessions": len(sessions), "critical_events": SEC_CRITICAL_EVENTS}


def security_state(stack):
    """The compromised user's sessions and state, the NetworkPolicies, the secret's digest (never its value)."""
    client = _redis(stack)
    sessions = sorted(client.scan_iter(match="session:user:%s:*" % SEC_USER_ID, count=1000))
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=DEMO_PG_PASSWORD,
                            dbname="sark", application_name="incident-harness", connect_timeout=5)
    try:
        active = _one(conn, "SELECT is_active FROM users WHERE id = %s", (SEC_USER_ID,))
    finally:
        conn.close()
    from kubernetes import client as kclient, config  # pylint: disable=import-outside-toplevel
    api = config.new_client_from_config(config_file=stack["kubeconfig"])
    core, net = kclient.CoreV1Api(api), kclient.NetworkingV1Api(api)
    secret = core.read_namespaced_secret(SEC_SECRET, API_NAMESPACE)
    value = (secret.data or {}).get(SEC_SECRET_KEY) or ""
    template = _deployment(_apps(stack)).spec.template.metadata
    return {"user_sessions": len(sessions), "user_active": bool(active[0]) if active else None,
            "network_policies": sorted(p.metadata.name for p in net.list_namespaced_network_policy(API_NAMESPACE).items),
            "secret_digest": hashlib.sha256(value.encode()).hexdigest(),
            "restarted_at": (template.annotations or {}).get("kubectl.kubernetes.io/restartedAt")}


# --- opa_failure ------------------------------------------------------------------------------------------

OPA_GOOD = ("mcp_allow", "server_access")         # policies/<id>.rego, loaded first
OPA_BROKEN = ("mcp_allow", "bare_boolean.rego")   # then this id gets this file's text
OPA_CACHED_PREFIX = "policy:decision:incident-cached-"
OPA_CACHED = 12


def _policies_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "policies")


def _http(method, url, body=None, content_type="application/json", token=None):
    import urllib.request  # pylint: disable=import-outside-toplevel
    data = body.encode("utf-8") if isinstance(body, str) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    if token:
        request.add_header("Authorization", "Bearer %s" % token)
    with urllib.request.urlopen(request, timeout=10) as answer:  # nosec - loopback only
        return json.loads(answer.read() or b"{}")


def _opa_state(state_dir):
    path = os.path.join(state_dir, "incident-opa.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def inject_opa_failure(state_dir, stack):
    from harness.opa_server import OpaServer  # pylint: disable=import-outside-toplevel
    workdir = os.path.join(state_dir, "opa")
    os.makedirs(workdir, exist_ok=True)
    opa = OpaServer(workdir=workdir)
    opa.start_on_free_port()
    with open(os.path.join(state_dir, "incident-opa.pid"), "w", encoding="utf-8") as handle:
        handle.write(str(opa.pid))
    for policy_id in OPA_GOOD:
        with open(os.path.join(_policies_dir(), policy_id + ".rego"), encoding="utf-8") as handle:
            _http("PUT", "%s/v1/policies/%s" % (opa.url, policy_id), handle.read(), "text/plain")
    broken_id, broken_file = OPA_BROKEN
    with open(os.path.join(_policies_dir(), broken_file), encoding="utf-8") as handle:
        broken = handle.read()
    _http("PUT", "%s/v1/policies/%s" % (opa.url, broken_id), broken, "text/plain")
    # SARK asks this OPA from now on; decisions made under the broken policy sit in the cache
    _http("POST", stack["api_url"].rstrip("/") + "/_sim/config", {"opa_url": opa.url})
    client = _redis(stack)
    for n in range(OPA_CACHED):
        client.set("%suser-%d:tool:invoke:tool_t%d:%016x" % (OPA_CACHED_PREFIX, n, n, n),
                   json.dumps({"allow": False, "reason": "Internal error during policy evaluation",
                               "filtered_parameters": None, "audit_id": "incident-%d" % n}), ex=900)
    with open(os.path.join(state_dir, "incident-opa.json"), "w", encoding="utf-8") as handle:
        json.dump({"url": opa.url, "pid": opa.pid, "broken": broken_id,
                   "broken_sha256": hashlib.sha256(broken.encode("utf-8")).hexdigest()}, handle)
    with open(os.path.join(state_dir, "opa_vars.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"sark_opa_connection": {"opa_url": opa.url}}, handle, default_flow_style=False)
    return {"opa_url": opa.url, "broken_policy": broken_id, "broken_with": broken_file, "cached_decisions": OPA_CACHED}


def opa_snapshot(state_dir):
    opa = _opa_state(state_dir)
    if opa is None:
        return None
    policies = _http("GET", opa["url"] + "/v1/policies")["result"]
    return {p["id"]: hashlib.sha256(p["raw"].encode("utf-8")).hexdigest() for p in policies}


# --- audit_gap --------------------------------------------------------------------------------------------

AUDIT_LOST_HOURS = 2       # the current hour and the 2 whole hours before it lose their events
WRITER_NAMESPACE, WRITER_NAME = "sark-system", "sark-api"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _audit(stack):
    import psycopg2  # pylint: disable=import-outside-toplevel
    return psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=DEMO_PG_PASSWORD,
                            dbname="sark_audit", application_name="incident-harness", connect_timeout=5)


def _time_column(stack):
    return "timestamp" if stack["layout"] == "sark_v2" else "time"


def audit_gaps(conn, column, hours=24):
    """Whole hours of the last `hours` without events, from the first event's hour on (what the runbook's query shows)."""
    with conn.cursor() as cur:
        cur.execute("""
            WITH top AS (SELECT date_trunc('hour', now()) AS t),
            first AS (SELECT date_trunc('hour', min("{c}")) AS f FROM audit_events),
            hours AS (SELECT generate_series(t - make_interval(hours => %s), t - interval '1 hour', interval '1 hour') AS h FROM top)
            SELECT h FROM hours, first
             WHERE h >= f AND NOT EXISTS (SELECT 1 FROM audit_events WHERE "{c}" >= h AND "{c}" < h + interval '1 hour')
             ORDER BY h""".format(c=column), (hours,))
        return [row[0].isoformat() for row in cur.fetchall()]


def inject_audit_gap(state_dir, stack):
    column = _time_column(stack)
    conn = _audit(stack)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('DELETE FROM audit_events WHERE "{c}" >= date_trunc(\'hour\', now()) - make_interval(hours => %s)'
                        .format(c=column), (AUDIT_LOST_HOURS,))
            deleted = cur.rowcount
        gaps = audit_gaps(conn, column)
    finally:
        conn.close()
    annotations = (_writer(_apps(stack), stack).spec.template.metadata.annotations or {})
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [tests_dir, os.environ.get("PYTHONPATH", "")] if p))
    with open(os.path.join(state_dir, "incident-writer.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "harness.incidents", "writer", "--dir", state_dir,
                                 "--restarted-at", annotations.get(RESTARTED_AT) or ""],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    with open(os.path.join(state_dir, "incident-writer.pid"), "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    result = {"deleted_events": deleted, "gaps": gaps, "writer_pid": proc.pid,
              "writer": "%s/%s" % _writer_ref(stack)}
    with open(os.path.join(state_dir, "incident-audit.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return result


def _writer_ref(stack):
    """The audit writer's Deployment: sark-system/sark-api (runbook layout); SARK 2.x's API writes the events itself."""
    return (API_NAMESPACE, API_NAME) if stack["layout"] == "sark_v2" else (WRITER_NAMESPACE, WRITER_NAME)


def _writer(apps, stack):
    namespace, name = _writer_ref(stack)
    return apps.read_namespaced_deployment(name, namespace)


def _rolled_out(dep, restarted_at):
    annotations = dep.spec.template.metadata.annotations or {}
    status = dep.status
    return (annotations.get(RESTARTED_AT) or "") != restarted_at and status is not None \
        and (status.observed_generation or 0) >= (dep.metadata.generation or 0) \
        and (status.updated_replicas or 0) == dep.spec.replicas and (status.available_replicas or 0) >= dep.spec.replicas


def writer(state_dir, restarted_at, lifetime=900.0, interval=1.0):
    """The stuck audit writer: records nothing until its Deployment was restarted and rolled out, then an event a second."""
    stack = _stack(state_dir)
    apps = _apps(stack)
    column = _time_column(stack)
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and not _rolled_out(_writer(apps, stack), restarted_at):
        time.sleep(0.3)
    conn = _audit(stack)
    conn.autocommit = True
    while time.monotonic() < deadline:
        with conn.cursor() as cur:
            if stack["layout"] == "sark_v2":
                cur.execute("INSERT INTO audit_events (id, timestamp, event_type, severity, details) "
                            "VALUES (gen_random_uuid(), now(), 'AUTHORIZATION_ALLOWED', 'LOW', '{\"writer\": \"incident-harness\"}')")
            else:
                cur.execute("INSERT INTO audit_events (time, event_type, severity, details) "
                            "VALUES (now(), 'policy_evaluated', 'low', '{\"writer\": \"incident-harness\"}')")
        time.sleep(interval)
    conn.close()
    return 0


def audit_snapshot(stack):
    conn = _audit(stack)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT count(*), max("{c}") FROM audit_events'.format(c=_time_column(stack)))
            count, newest = cur.fetchone()
        return {"events": count, "newest": newest.isoformat() if newest else None}
    finally:
        conn.close()


# --- snapshot --------------------------------------------------------------------------------------------

def _digest(items):
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def snapshot(stack):
    """What a remediation would change, read independently of the collection."""
    out = {}
    conn = _pg(stack)
    try:
        pids = leak_backends(conn)
        out["pg"] = {"leak_backends": len(pids), "leak_pids": pids,
                     "max_connections": int(_one(conn, "SHOW max_connections")[0]),
                     "busy_backends": int(_one(conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                               (BUSY_APP,))[0])}
    finally:
        conn.close()
    client = _redis(stack)
    queue, failed = client.lrange(data.SIEM_QUEUE, 0, -1), client.lrange(data.SIEM_FAILED, 0, -1)
    breaker = {}
    for variant in data.BREAKER_KEYS:
        for pair in data.breaker_keys(variant):
            for key in pair:
                breaker[key] = client.get(key)
    out["siem"] = {"breakers": breaker, "queue_length": len(queue), "failed_length": len(failed),
                   "queue_digest": _digest(queue), "failed_digest": _digest(failed),
                   "all_events_digest": _digest(queue + failed), "all_events": len(queue) + len(failed)}
    cm = _core(stack).read_namespaced_config_map("sark-config", API_NAMESPACE).data or {}
    out["siem"]["batch"] = {name: cm.get(name) for name in ("SIEM_BATCH_SIZE", "SIEM_BATCH_TIMEOUT_SECONDS")}
    hec_url = os.path.join(stack["state_dir"], "incident-hec.url")
    if os.path.exists(hec_url):
        with open(hec_url, encoding="utf-8") as handle:
            out["siem"]["hec_status"] = _hec_status(handle.read().strip())
    out["opa_cached_decisions"] = sum(1 for _key in client.scan_iter(OPA_CACHED_PREFIX + "*", count=1000))
    out["pg"]["sark_rows"] = sark_rows(stack)
    out["audit"] = audit_snapshot(stack) if out["pg"]["sark_rows"] is not None or stack["layout"] != "sark_v2" else None
    opa = opa_snapshot(stack["state_dir"])
    if opa is not None:
        out["opa"] = opa
    dep = _deployment(_apps(stack))
    out["k8s"] = {"generation": dep.metadata.generation,
                  "revision": dep.metadata.annotations.get("deployment.kubernetes.io/revision"),
                  "images": [c.image for c in dep.spec.template.spec.containers],
                  "replicas": dep.spec.replicas}
    exists = out["pg"]["sark_rows"] is not None   # db_outage drops the sark database (cause 4)
    out["security"] = security_state(stack) if exists else None
    # memory limits (api_down OOM), the bloated table, the HPA, the ConfigMap, the Secret and the pods (auth)
    out["k8s"]["memory_limits"] = [((c.resources and c.resources.limits) or {}).get("memory") for c in dep.spec.template.spec.containers]
    out["latency"] = {"bloat": bloat_stats(stack) if exists else None}
    from kubernetes import client as k8s_client, config  # pylint: disable=import-outside-toplevel
    hpa = k8s_client.AutoscalingV2Api(config.new_client_from_config(config_file=stack["kubeconfig"])).read_namespaced_horizontal_pod_autoscaler(
        "sark-hpa", API_NAMESPACE)
    out["latency"]["hpa_min_replicas"] = hpa.spec.min_replicas
    out["auth"] = _auth_snapshot(stack)
    out["opa_replicas"] = _apps(stack).read_namespaced_deployment("opa", "sark-system").spec.replicas
    out["db_pod"] = db_pod_state(stack)
    return out


# --- api_down, OOMKilled ----------------------------------------------------------------------------------------

OOM_IMAGE, OOM_LIMIT = "ghcr.io/sark/memory-hog:1.0", "768Mi"


def inject_api_down_oom(stack):
    """A new revision of production/sark whose container uses 900Mi under a 768Mi limit; returns when it is OOMKilled."""
    revision = _roll_out_until(
        stack, {"image": OOM_IMAGE, "resources": {"limits": {"memory": OOM_LIMIT}}},
        lambda cs: cs.last_state and cs.last_state.terminated and cs.last_state.terminated.reason == "OOMKilled",
        "to be OOMKilled")
    return {"deployment": "%s/%s" % (API_NAMESPACE, API_NAME), "from_revision": revision, "image": OOM_IMAGE,
            "memory_limit": OOM_LIMIT}


# --- high_latency ------------------------------------------------------------------------------------------------

BLOAT_TABLE, BLOAT_ROWS, BLOAT_DELETED = "latency_bloat", 60000, 45000
LOADED_IMAGE = "ghcr.io/sark/sark:2.1.0-loaded"
SLOW_APP = "incident-slow-query"
CACHE_SETTING, CACHE_TTL = "POLICY_CACHE_TTL_HIGH", "60"


def _pg_sark(stack, app="incident-harness"):
    import psycopg2  # pylint: disable=import-outside-toplevel
    return psycopg2.connect(host=LOOPBACK, port=stack["pg_port"], user="postgres", password=DEMO_PG_PASSWORD,
                            dbname="sark", application_name=app, connect_timeout=5)


def hold_query(port, seconds, ready_file):
    """Run one query for `seconds` (SELECT pg_sleep) after writing ready_file."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(host=LOOPBACK, port=port, user="postgres", password=DEMO_PG_PASSWORD, dbname="sark",
                            application_name=SLOW_APP, connect_timeout=10)
    conn.autocommit = True
    with open(ready_file + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    os.rename(ready_file + ".tmp", ready_file)
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT pg_sleep(%s)", (seconds,))
        except Exception:  # pylint: disable=broad-except
            pass  # terminated: that is how it ends
    return 0


def _spawn(state_dir, argv, name):
    """python -m harness.incidents <argv> in its own session, its output in <name>.log and its pid in <name>.pid."""
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [tests_dir, os.environ.get("PYTHONPATH", "")] if p))
    with open(os.path.join(state_dir, name + ".log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "harness.incidents"] + argv,
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    with open(os.path.join(state_dir, name + ".pid"), "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    return proc


def _start_holder(state_dir, stack, argv, name="incident-slowquery", timeout=60, what="the incident holder"):
    ready = os.path.join(state_dir, name + ".ready")
    if os.path.exists(ready):
        os.unlink(ready)
    proc = _spawn(state_dir, argv + ["--ready-file", ready], name)

    def started():
        if proc.poll() is not None:
            raise RuntimeError("the holder exited (see %s.log)" % name)
        return os.path.exists(ready)
    wait_for(started, timeout, what, interval=0.1)
    return proc.pid


def bloat_stats(stack):
    conn = _pg_sark(stack)
    try:
        row = _one(conn, "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", (BLOAT_TABLE,))
    finally:
        conn.close()
    return {"n_live_tup": row[0], "n_dead_tup": row[1]} if row else None


def _patch_configmap(stack, data):
    _core(stack).patch_namespaced_config_map("sark-config", API_NAMESPACE, {"data": data})


def _roll_to(stack, image):
    """A new revision of production/sark with `image`; returns when every replica runs it and is ready."""
    apps, core = _apps(stack), _core(stack)
    apps.patch_namespaced_deployment(API_NAME, API_NAMESPACE, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "deploy %s" % image}},
        "spec": {"template": {"spec": {"containers": [{"name": "sark", "image": image}]}}}})

    def rolled():
        dep = _deployment(apps)
        status = dep.status
        pods = core.list_namespaced_pod(API_NAMESPACE, label_selector="app=sark").items
        return (status.updated_replicas == dep.spec.replicas and status.ready_replicas == dep.spec.replicas
                and status.replicas == dep.spec.replicas
                and all(c.image == image for pod in pods for c in pod.spec.containers))
    wait_for(rolled, 60, "production/sark to run %s" % image, interval=0.2)


def inject_high_latency(state_dir, stack):
    conn = _pg_sark(stack)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS public.%s" % BLOAT_TABLE)
            cur.execute("CREATE TABLE public.%s (id bigint PRIMARY KEY, payload text) WITH (autovacuum_enabled = false)" % BLOAT_TABLE)
            cur.execute("INSERT INTO public.%s SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, %%s) g" % BLOAT_TABLE,
                        (BLOAT_ROWS,))
            cur.execute("DELETE FROM public.%s WHERE id %% 4 <> 0" % BLOAT_TABLE)
            cur.execute("ANALYZE public.%s" % BLOAT_TABLE)
    finally:
        conn.close()
    wait_for(lambda: (bloat_stats(stack) or {}).get("n_dead_tup", 0) >= BLOAT_DELETED, 10, "the dead tuples in the statistics",
             interval=0.2)
    # the held query starts after the deletes: its snapshot does not keep VACUUM from removing them
    holder = _start_holder(state_dir, stack, ["hold-query", "--port", str(stack["pg_port"]), "--seconds", "900"])
    client = _redis(stack)
    client.set("policy:decision:incident-probe:read:server-1:0000000000000000", '{"allow": true}', ex=600)
    for number in range(50):
        client.get("policy:decision:incident-probe:read:server-1:0000000000000000")
    for number in range(450):
        client.get("policy:decision:incident-miss:read:server-%d:0000000000000000" % number)
    _patch_configmap(stack, {CACHE_SETTING: CACHE_TTL})
    _roll_to(stack, LOADED_IMAGE)
    return {"bloated_table": "public.%s" % BLOAT_TABLE, "dead_tuples": bloat_stats(stack)["n_dead_tup"],
            "slow_query_holder_pid": holder, "image": LOADED_IMAGE, "cache": "450 misses, 50 hits",
            CACHE_SETTING: CACHE_TTL}


# --- auth_failures -----------------------------------------------------------------------------------------------

OIDC_SETTING = "OIDC_ISSUER_URL"


def inject_auth_failures(stack):
    from harness.servers import free_port  # pylint: disable=import-outside-toplevel
    port = free_port()
    _patch_configmap(stack, {OIDC_SETTING: "http://%s:%d/realms/sark" % (LOOPBACK, port)})
    import datetime  # pylint: disable=import-outside-toplevel
    time.sleep(1.1)  # the pods started at least a second before the rotation (times have whole seconds)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # a rotation the way the API server records it: the writer's managedFields entry carries the time of the write
    _core(stack).patch_namespaced_secret("sark-secrets", API_NAMESPACE, {
        "metadata": {"managedFields": [{"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": stamp,
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:secret-key": {}}}}]},
        "stringData": {"secret-key": "rotated-secret-key-%d" % int(time.time())}})
    return {"oidc": "%s: nothing listens on %s:%d" % (OIDC_SETTING, LOOPBACK, port), "rotated": "sark-secrets at %s" % stamp}


def _auth_snapshot(stack):
    core = _core(stack)
    secret = core.read_namespaced_secret("sark-secrets", API_NAMESPACE)
    cm = core.read_namespaced_config_map("sark-config", API_NAMESPACE)
    pods = core.list_namespaced_pod(API_NAMESPACE, label_selector="app=sark").items
    return {"secret_resource_version": secret.metadata.resource_version,
            "configmap": dict(sorted((cm.data or {}).items())),
            "pods": sorted(p.metadata.name for p in pods if not p.metadata.deletion_timestamp)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.incidents", description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["inject", "snapshot", "release", "hold", "hold-query", "writer", "pg-pod", "hec"])
    parser.add_argument("incident", nargs="?", choices=["db_outage", "db_outage_limit", "db_outage_dropped", "db_outage_oom", "siem_down_rate",
                                                        "api_down", "siem_down", "security", "api_down_oom",
                                                        "high_latency", "auth_failures", "opa_failure", "audit_gap"])
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--dir", help="the demo stack's state directory")
    parser.add_argument("--out", help="snapshot: write the JSON here (default: stdout)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int)
    parser.add_argument("--ready-file")
    parser.add_argument("--app", default=LEAK_APP, help="hold: the application_name of the sessions")
    parser.add_argument("--uid", default="", help="pg-pod: the uid of postgres-0 at injection")
    parser.add_argument("--restarted-at", default="", help="writer: the restartedAt annotation at injection")
    parser.add_argument("--image", default=CRASH_IMAGE, help="inject api_down: the crash-looping image of the new revision")
    args = parser.parse_args(argv)
    if args.action == "hold":
        return hold(args.port, args.count, args.ready_file, app=args.app)
    if args.action == "pg-pod":
        return pg_pod(args.dir, args.uid)
    if args.action == "hec":
        return hec(args.dir, args.port, args.ready_file)
    if args.action == "hold-query":
        return hold_query(args.port, args.seconds, args.ready_file)
    if args.action == "writer":
        return writer(args.dir, args.restarted_at)
    stack = _stack(args.dir)
    if args.action == "release":
        release(args.dir)
        return 0
    if args.action == "snapshot":
        text = json.dumps(snapshot(stack), indent=2, sort_keys=True)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            print(text)
        return 0
    injectors = {
        "db_outage": lambda: inject_db_outage(args.dir, stack),
        "db_outage_limit": lambda: inject_db_outage_limit(args.dir, stack),
        "db_outage_dropped": lambda: inject_db_outage_dropped(stack),
        "db_outage_oom": lambda: inject_db_outage_oom(stack),
        "siem_down_rate": lambda: inject_siem_down_rate(args.dir, stack),
        "api_down": lambda: inject_api_down(stack, args.image),
        "siem_down": lambda: inject_siem_down(stack),
        "security": lambda: inject_security(stack),
        "api_down_oom": lambda: inject_api_down_oom(stack),
        "high_latency": lambda: inject_high_latency(args.dir, stack),
        "auth_failures": lambda: inject_auth_failures(stack),
        "opa_failure": lambda: inject_opa_failure(args.dir, stack),
        "audit_gap": lambda: inject_audit_gap(args.dir, stack),
    }
    if args.incident not in injectors:
        parser.error("inject needs an incident")
    result = injectors[args.incident]()
    print(yaml.safe_dump({"injected": args.incident, **result}, default_flow_style=False).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
