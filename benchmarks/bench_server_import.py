"""Bulk server import: sark.ops.sark_server (import_csv) against the runbook's one-curl-per-line loop.

Both run in the same process tree against the same SARK simulator (runbook layout, real PostgreSQL and
Redis on 127.0.0.1), each with its own CSV of --rows servers (different names, so both really create):

1. ``sark_server`` with ``import_csv`` (run as Ansible runs a module: a JSON args file), ``concurrency`` threads;
2. the same module again on the same file: must create nothing (the runbook's loop would duplicate or fail);
3. the runbook's import loop, verbatim apart from the URL/token variables, as a real bash loop with real curl::

       while IFS=',' read -r name endpoint; do curl -X POST .../api/v1/servers ... -d "{...}"; done < servers.csv

Prints rows, seconds, rows/s and the speed-up, and checks the row counts in PostgreSQL.

    . scripts/setup.sh && python benchmarks/bench_server_import.py --rows 10000
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import psycopg2  # noqa: E402  pylint: disable=wrong-import-position

from harness.sarksim import SarkSimulator  # noqa: E402  pylint: disable=wrong-import-position
from harness.servers import PostgresServer, RedisServer  # noqa: E402  pylint: disable=wrong-import-position

CURL_LOOP = r'''
while IFS=',' read -r name endpoint; do
  curl -s -o /dev/null -X POST "$SARK_URL/api/v1/servers" \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" \
    -d "{
      \"name\": \"$name\",
      \"endpoint\": \"$endpoint\"
    }"
done < "$CSV"
'''


def collections_dir(work):
    root = os.path.join(work, "collections")
    os.makedirs(os.path.join(root, "ansible_collections", "sark"))
    os.symlink(ROOT, os.path.join(root, "ansible_collections", "sark", "ops"))
    return root


def write_csv(path, prefix, rows):
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(rows):
            handle.write("%s%05d,https://%s%05d.example.com\n" % (prefix, n, prefix, n))


def tree_cpu(root):
    """CPU seconds (user + system, reaped children included) of a process and all its descendants.

    By parent, not by process group: PostgreSQL's backends each call setsid()."""
    stats, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                    stats[int(entry)] = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
    children = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is ppid; [11:15] utime stime cutime cstime
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(v) for v in stats[pid][11:15]) / tick
        todo.extend(children.get(pid, ()))
    return total


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_module(collections, args):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        args_file = handle.name
    env = dict(os.environ, PYTHONPATH=collections)
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "plugins", "modules", "sark_server.py"), args_file],
                              capture_output=True, text=True, env=env, check=False, timeout=3600)
    finally:
        os.unlink(args_file)
    elapsed = time.monotonic() - started
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit("sark_server failed: %s" % result.get("msg"))
    return elapsed, result


def count(pg, prefix):
    conn = psycopg2.connect(pg.dsn("sark"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM servers WHERE name LIKE %s", (prefix + "%",))
            return cur.fetchone()[0]
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sim-workers", type=int, default=2,
                        help="uvicorn worker processes of the simulator (default 2: SARK runs at least two API replicas,"
                             " runbook 001 scales down to 2 under load)")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if not curl:
        raise SystemExit("curl is not installed: the runbook loop needs it")
    work = tempfile.mkdtemp(prefix="bench-import-")
    collections = collections_dir(work)
    module_csv, curl_csv = os.path.join(work, "module.csv"), os.path.join(work, "curl.csv")
    write_csv(module_csv, "mod-", args.rows)
    write_csv(curl_csv, "curl-", args.rows)
    with PostgresServer() as pg, RedisServer() as redis_server, \
            SarkSimulator("runbook", pg=pg, redis=redis_server, seed=True,
                          # the runbook loop would hit the 5000 requests/hour user limit long before 10,000 rows;
                          # a command-line setting reaches every worker (/_sim/config would reach one)
                          extra_args=["--workers", str(args.sim_workers), "--no-rate-limit"]) as sim:
        module_args = {"api_url": sim.url, "api_token": sim.token, "import_csv": module_csv,
                       "concurrency": args.concurrency, "report_rows": "problems"}
        cpu_before = (tree_cpu(sim.pid), tree_cpu(pg.pid), children_cpu())
        module_s, first = run_module(collections, module_args)
        cpu_after = (tree_cpu(sim.pid), tree_cpu(pg.pid), children_cpu())
        cpu = [after - before for after, before in zip(cpu_after, cpu_before)]
        again_s, second = run_module(collections, module_args)
        env = dict(os.environ, SARK_URL=sim.url, TOKEN=sim.token, CSV=curl_csv)
        started = time.monotonic()
        subprocess.run(["bash", "-c", CURL_LOOP], env=env, check=True)
        curl_s = time.monotonic() - started
        module_rows, curl_rows = count(pg, "mod-"), count(pg, "curl-")
    shutil.rmtree(work, ignore_errors=True)
    print("rows per CSV:                 %d (runbook layout, SARK simulator on 127.0.0.1 with %d worker(s), %s)"
          % (args.rows, args.sim_workers, curl))
    print("sark_server import_csv:       %7.1f s  %7.0f rows/s  counts=%s  (concurrency %d)"
          % (module_s, args.rows / module_s, first["counts"], args.concurrency))
    print("  CPU during the import:      simulator %.1f s, PostgreSQL %.1f s, module %.1f s"
          " (%.2f / %.2f / %.2f ms per row; %d CPUs)"
          % tuple(cpu + [1000.0 * c / args.rows for c in cpu] + [os.cpu_count()]))
    print("sark_server, same file again: %7.1f s  counts=%s" % (again_s, second["counts"]))
    print("runbook curl loop:            %7.1f s  %7.0f rows/s" % (curl_s, args.rows / curl_s))
    print("speed-up:                     %7.1fx" % (curl_s / module_s))
    print("rows in PostgreSQL:           module %d, curl loop %d" % (module_rows, curl_rows))
    ok = module_rows == args.rows and curl_rows == args.rows and first["counts"]["created"] == args.rows \
        and second["counts"]["created"] == 0
    print("result:                       %s" % ("OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
