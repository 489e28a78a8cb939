"""Bulk server import: sark.ops.sark_server (import_csv) against the runbook's one-curl-per-line loop, both layouts.

For each layout (runbook, sark_v2) in one run, against one SARK simulator of that layout (real PostgreSQL and
Redis on 127.0.0.1), each with its own CSV of --rows servers (different names, so both really create):

1. ``sark_server`` with ``import_csv`` (run as Ansible runs a module: a JSON args file), ``concurrency`` threads;
   in sark_v2 it sends ``POST /api/v1/bulk/servers/register`` with 100 servers per request (the simulator does per
   server what one registration does: policy decision, INSERT, audit event), in runbook one POST per row;
2. the same module again on the same file: must create nothing (the runbook's loop would duplicate or fail);
3. the runbook's import loop as a real bash loop with real curl, CORRECTED so that it works against the layout:
   runbook: verbatim apart from the URL/token variables; sark_v2: the trailing-slash route (the runbook's path
   answers 307 and curl without -L drops the POST), the CSRF cookie + header pair, and ``transport``/``tools``
   (required by SARK 2.x), otherwise every request would fail and the loop would "finish" at no cost::

       while IFS=',' read -r name endpoint; do curl -X POST .../api/v1/servers ... -d "{...}"; done < servers.csv

Prints rows, seconds, rows/s and the ratio per layout, and checks the row counts in PostgreSQL.

    . scripts/setup.sh && python benchmarks/bench_server_import.py --rows 10000
"""

import argparse
import json
import os
import resource
import secrets
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

LAYOUTS = ("runbook", "sark_v2")

CURL_LOOPS = {
    "runbook": r'''
while IFS=',' read -r name endpoint; do
  curl -s -o /dev/null -X POST "$SARK_URL/api/v1/servers" \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: application/json" \
    -d "{
      \"name\": \"$name\",
      \"endpoint\": \"$endpoint\"
    }"
done < "$CSV"
''',
    "sark_v2": r'''
while IFS=',' read -r name endpoint; do
  curl -s -o /dev/null -X POST "$SARK_URL/api/v1/servers/" \
    -H "Authorization: Bearer $TOKEN" \
    -H "X-CSRF-Token: $CSRF" -H "Cookie: csrf_token=$CSRF" \
    -H "Content-Type: application/json" \
    -d "{
      \"name\": \"$name\",
      \"endpoint\": \"$endpoint\",
      \"transport\": \"http\",
      \"tools\": []
    }"
done < "$CSV"
''',
}
TABLES = {"runbook": "servers", "sark_v2": "mcp_servers"}


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


def count(pg, layout, prefix):
    conn = psycopg2.connect(pg.dsn("sark_" + layout))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM " + TABLES[layout] + " WHERE name LIKE %s", (prefix + "%",))
            return cur.fetchone()[0]
    finally:
        conn.close()


def bench_layout(layout, args, pg, redis_server, collections, work, curl):
    """One layout: import, import again, corrected curl loop; returns a dict of figures."""
    module_csv, curl_csv = os.path.join(work, layout + "-module.csv"), os.path.join(work, layout + "-curl.csv")
    write_csv(module_csv, "mod-", args.rows)
    write_csv(curl_csv, "curl-", args.rows)
    with SarkSimulator(layout, pg=pg, redis=redis_server, seed=True, sark_db="sark_" + layout, audit_db="audit_" + layout,
                       redis_db=LAYOUTS.index(layout),
                       # the runbook loop would hit the 5000 requests/hour user limit long before 10,000 rows;
                       # a command-line setting reaches every worker (/_sim/config would reach one)
                       extra_args=["--workers", str(args.sim_workers), "--no-rate-limit"]) as sim:
        module_args = {"api_url": sim.url, "api_token": sim.token, "import_csv": module_csv, "layout": layout,
                       "concurrency": args.concurrency, "report_rows": "problems"}
        cpu_before = (tree_cpu(sim.pid), tree_cpu(pg.pid), children_cpu())
        module_s, first = run_module(collections, module_args)
        cpu_after = (tree_cpu(sim.pid), tree_cpu(pg.pid), children_cpu())
        cpu = [after - before for after, before in zip(cpu_after, cpu_before)]
        again_s, second = run_module(collections, module_args)
        env = dict(os.environ, SARK_URL=sim.url, TOKEN=sim.token, CSV=curl_csv, CSRF=secrets.token_urlsafe(32))
        started = time.monotonic()
        subprocess.run(["bash", "-c", CURL_LOOPS[layout]], env=env, check=True)
        curl_s = time.monotonic() - started
        module_rows, curl_rows = count(pg, layout, "mod-"), count(pg, layout, "curl-")
    ok = module_rows == args.rows and curl_rows == args.rows and first["counts"]["created"] == args.rows \
        and second["counts"]["created"] == 0
    return {"layout": layout, "module_s": module_s, "first": first, "cpu": cpu, "again_s": again_s, "second": second,
            "curl_s": curl_s, "module_rows": module_rows, "curl_rows": curl_rows, "ok": ok,
            "requests": first["evidence"]["counts"].get("requests")}


def report(res, args):
    rows = args.rows
    print("== layout %s" % res["layout"])
    print("sark_server import_csv:       %7.1f s  %7.0f rows/s  counts=%s  (concurrency %d, %s requests)"
          % (res["module_s"], rows / res["module_s"], res["first"]["counts"], args.concurrency, res["requests"]))
    print("  CPU during the import:      simulator %.1f s, PostgreSQL %.1f s, module %.1f s"
          " (%.2f / %.2f / %.2f ms per row; %d CPUs)"
          % tuple(res["cpu"] + [1000.0 * c / rows for c in res["cpu"]] + [os.cpu_count()]))
    print("sark_server, same file again: %7.1f s  counts=%s" % (res["again_s"], res["second"]["counts"]))
    print("corrected runbook curl loop:  %7.1f s  %7.0f rows/s" % (res["curl_s"], rows / res["curl_s"]))
    print("ratio (loop / import):        %7.1fx" % (res["curl_s"] / res["module_s"]))
    print("rows in PostgreSQL:           module %d, curl loop %d  -> %s"
          % (res["module_rows"], res["curl_rows"], "OK" if res["ok"] else "MISMATCH"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument("--sim-workers", type=int, default=2,
                        help="uvicorn worker processes of the simulator (default 2: SARK runs at least two API replicas,"
                             " runbook 001 scales down to 2 under load)")
    args = parser.parse_args()
    curl = shutil.which("curl")
    if not curl:
        raise SystemExit("curl is not installed: the runbook loop needs it")
    work = tempfile.mkdtemp(prefix="bench-import-")
    collections = collections_dir(work)
    results = []
    load_before = os.getloadavg()
    with PostgresServer() as pg, RedisServer() as redis_server:
        for layout in args.layouts:
            results.append(bench_layout(layout, args, pg, redis_server, collections, work, curl))
    shutil.rmtree(work, ignore_errors=True)
    print("rows per CSV: %d; SARK simulator on 127.0.0.1 with %d worker(s); %s; load average before %.2f %.2f %.2f, after %.2f"
          % ((args.rows, args.sim_workers, curl) + tuple(load_before) + (os.getloadavg()[0],)))
    for res in results:
        report(res, args)
    figures = ["%s %.1fx (%.1f s vs %.1f s)" % (r["layout"], r["curl_s"] / r["module_s"], r["module_s"], r["curl_s"])
               for r in results]
    print("== summary: " + ", ".join(figures))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
