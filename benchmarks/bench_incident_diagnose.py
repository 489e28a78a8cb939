#!/usr/bin/env python
"""Incident diagnose playbooks against the demo stack with their faults injected: playbook seconds per incident.

Starts the demo stack (python -m harness.demo up: Redis, PostgreSQL 15, the SARK simulator, the Kubernetes API),
injects the real faults (harness.incidents: a bloated table, a held query, pods sharing a CPU load and cache misses;
a dead OIDC endpoint and a rotated secret; idle PostgreSQL sessions up to 96 % of the connections, a crash-looping
newest revision of production/sark, open SIEM breakers with failed events queued, a compromised user with real
sessions and CRITICAL audit events, a deny-everything policy in the OPA test server, the last hours of audit events
gone with the writer stuck) and runs each diagnose-only
playbook (`ansible-playbook playbooks/incident_<name>.yml`) R times, timing the whole ansible-playbook process.
Beside it, in the same run, the runbook's own read commands where this machine has the tool (psql, redis-cli;
kubectl is not installed, so api_down has none).

    python benchmarks/bench_incident_diagnose.py [--repeat R] [--json results.json]

Needs ANSIBLE_COLLECTIONS_PATH to reach this checkout as sark.ops (scripts/setup.sh sets it up).
Exit status 1 when a correctness check fails: a playbook failed, its diagnosis did not name the injected fault, or
the stack's state changed during a diagnose run. The target (<= 20 s per diagnose, issue #13) is reported, never enforced.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
sys.path.insert(0, TESTS)

# pylint: disable=wrong-import-position
from harness import demo, incidents  # noqa: E402

TARGET_S = 20.0
# high_latency first: its fault is a revision (a shared CPU load) that api_down's crash-looping revision then replaces
EXPECT = {"high_latency": "table_bloat", "auth_failures": "identity_provider_unreachable",
          "db_outage": "too_many_connections", "api_down": "bad_deployment", "siem_down": "circuit_breaker_open",
          "security": "active_sessions", "opa_failure": "policy_changed", "audit_gap": "events_not_arriving"}
EXTRA = {"db_outage": {"sark_incident_db_idle_min_seconds": 0}, "high_latency": {"sark_incident_latency_long_query_seconds": 1},
         "security": {"sark_incident_security_user": incidents.SEC_USERNAME}}
# variables files the fault injection writes into the state directory (the OPA test server's URL)
EXTRA_FILES = {"opa_failure": "opa_vars.yml"}


def run_playbook(name, state_dir, run_dir):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_SHOW_CUSTOM_STATS="true",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    extra = dict(EXTRA.get(name, {}), sark_incident_run_dir=run_dir)
    argv = ["ansible-playbook", "-i", os.path.join(state_dir, "inventory.yml"),
            os.path.join(REPO, "playbooks", "incident_%s.yml" % name), "-e", json.dumps(extra)]
    if name in EXTRA_FILES:
        argv += ["-e", "@" + os.path.join(state_dir, EXTRA_FILES[name])]
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    result = None
    try:
        out = json.loads(proc.stdout)
        stats = out.get("global_custom_stats") or (out.get("custom_stats") or {}).get("localhost") or {}
        result = stats.get("sark_incident_result")
    except ValueError:
        pass
    return seconds, proc.returncode, result, proc.stderr[-2000:]


def runbook_commands(stack):
    """The seed's own first reads, timed the same way (a process per command)."""
    env = dict(os.environ, PGPASSWORD=demo.DEMO_PG_PASSWORD)
    cmds = {
        "db_outage": [["psql", "-h", "127.0.0.1", "-p", str(stack["pg_port"]), "-U", "postgres", "-d", "sark", "-Atc",
                       "SELECT count(*) FROM pg_stat_activity"],
                      ["psql", "-h", "127.0.0.1", "-p", str(stack["pg_port"]), "-U", "postgres", "-d", "sark", "-Atc",
                       "SHOW max_connections"]],
        "siem_down": [["redis-cli", "-h", "127.0.0.1", "-p", str(stack["redis_port"]), "GET", "circuit:splunk:state"],
                      ["redis-cli", "-h", "127.0.0.1", "-p", str(stack["redis_port"]), "GET", "circuit:datadog:state"]],
    }
    out = {}
    for name, argvs in cmds.items():
        if not all(shutil.which(a[0]) for a in argvs):
            continue
        start = time.monotonic()
        for argv in argvs:
            subprocess.run(argv, env=env, capture_output=True, check=True)
        out[name] = time.monotonic() - start
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="sark-bench-incident-")
    state_dir = os.path.join(work, "demo")
    ok = True
    rows = []
    try:
        stack = demo.up(state_dir, "runbook")
        for name in EXPECT:
            print("inject %s: %s" % (name, {"high_latency": lambda: incidents.inject_high_latency(state_dir, stack),
                                            "auth_failures": lambda: incidents.inject_auth_failures(stack),
                                            "db_outage": lambda: incidents.inject_db_outage(state_dir, stack),
                                            "api_down": lambda: incidents.inject_api_down(stack),
                                            "siem_down": lambda: incidents.inject_siem_down(stack),
                                            "security": lambda: incidents.inject_security(stack),
                                            "opa_failure": lambda: incidents.inject_opa_failure(state_dir, stack),
                                            "audit_gap": lambda: incidents.inject_audit_gap(state_dir, stack)}[name]()))
        runbook = runbook_commands(stack)
        for name, cause in EXPECT.items():
            times = []
            for n in range(args.repeat):
                before = incidents.snapshot(stack)
                seconds, rc, result, err = run_playbook(name, state_dir, os.path.join(work, "run-%s-%d" % (name, n)))
                after = incidents.snapshot(stack)
                causes = ((result or {}).get("diagnosis") or {}).get("details", {}).get("causes", [])
                problems = []
                if rc != 0:
                    problems.append("ansible-playbook exited %d: %s" % (rc, err))
                if cause not in causes:
                    problems.append("the diagnosis did not name %s (causes: %s)" % (cause, causes))
                if before != after:
                    problems.append("the stack changed during diagnose: %s -> %s" % (before, after))
                if problems:
                    ok = False
                    print("FAIL %s run %d: %s" % (name, n + 1, "; ".join(problems)))
                times.append(seconds)
            rows.append({"incident": name, "runs": times, "median_s": statistics.median(times), "max_s": max(times),
                         "runbook_commands_s": runbook.get(name), "target_s": TARGET_S,
                         "within_target": max(times) <= TARGET_S})
    finally:
        incidents.release(state_dir)
        demo.down(state_dir, remove=True)
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print("\nload average %.2f / %.2f / %.2f" % load)
    print("%-13s %-28s %9s %9s %14s %s" % ("incident", "runs (s)", "median", "max", "runbook cmds", "<= 20 s"))
    for row in rows:
        rb = "%.2f s" % row["runbook_commands_s"] if row["runbook_commands_s"] is not None else "n/a (kubectl)"
        runs = " ".join("%.1f" % t for t in row["runs"])
        verdict = "yes" if row["within_target"] else "NO"
        print("%-13s %-28s %8.1fs %8.1fs %14s %s" % (row["incident"], runs, row["median_s"], row["max_s"], rb, verdict))
        if row["runbook_commands_s"]:
            print("%-10s playbook / runbook commands: %.0fx" % ("", row["median_s"] / row["runbook_commands_s"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "load": load, "ok": ok}, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
