#!/usr/bin/env python
"""Session revocation at scale: the runbook's command vs redis-cli SCAN|xargs vs sark.ops.sark_session.

Starts its own throwaway redis-server on a free 127.0.0.1 port, seeds N session keys (default 1,000,000) in
the runbook layout (and in the sark_v2 layout), and for each scenario - global logout, one user's logout -
runs each method on the same data (restored from an RDB snapshot between runs) while a separate process
PINGs Redis every millisecond:

  (a) the runbook's own command:  redis-cli EVAL "return redis.call('del', unpack(redis.call('keys', ...)))" 0
  (b) redis-cli --scan --pattern ... | xargs redis-cli unlink
  (c) this collection's module, run as a real module process (JSON args file, like Ansible runs it)

It reports wall time, keys removed, keys/s, the worst PING latency the concurrent client saw, the longest
command Redis itself recorded (LATENCY), and the module's peak RSS (os.wait4 rusage of the module process),
then the ratios and the targets of issue #3. Usage:

    python benchmarks/bench_session_revoke.py [--keys N] [--users U] [--repeat R] [--json results.json]

Exit status: 1 when a correctness check fails - a sark_session run failed, or removed (counted in Redis) or reported
another number of keys than the scenario holds; 0 otherwise. The performance targets are reported, never enforced.
"""

import argparse
import datetime
import functools
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

# pylint: disable=wrong-import-position
import redis  # noqa: E402

from harness.redis_seed import bulk_seed_sessions  # noqa: E402
from harness.servers import RedisServer  # noqa: E402

VICTIM = "user-123"


# ---------------------------------------------------------------- the concurrent client

def _realtime_priority():
    """Let the prober run as soon as Redis answers, so what it measures is Redis's delay, not this host's CPU queue."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "SCHED_FIFO"
    except (AttributeError, OSError):
        try:
            os.nice(-10)
            return "nice -10"
        except OSError:
            return "normal"


def _pinger(port, stop, results):
    priority = _realtime_priority()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    samples = []
    while not stop.is_set():
        started = time.perf_counter()
        client.ping()
        samples.append(time.perf_counter() - started)
        time.sleep(0.001)
    samples.sort()
    results.put({"priority": priority, "pings": len(samples), "worst_ms": round(samples[-1] * 1000, 2) if samples else None,
                 "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2) if samples else None})


class Pinger:
    """PING every millisecond from another process (its own interpreter, so our work does not delay it)."""

    def __init__(self, port):
        self.stop = multiprocessing.Event()
        self.results = multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=_pinger, args=(port, self.stop, self.results), daemon=True)

    def __enter__(self):
        self.proc.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stop.set()

    def report(self):
        result = self.results.get(timeout=30)
        self.proc.join(timeout=10)
        return result


# ---------------------------------------------------------------- the data

class Dataset:
    """A redis-server whose data can be put back to a snapshot between runs."""

    def __init__(self, workdir):
        self.server = RedisServer(workdir=workdir, extra_args=["--latency-monitor-threshold", "1", "--maxclients", "1000"])
        self.snapshots = {}

    def start(self):
        self.server.start()
        self.wait_loaded()

    def client(self):
        return self.server.client(socket_timeout=120)

    def wait_loaded(self):
        deadline = time.monotonic() + 300
        while True:
            try:
                if self.client().ping():
                    return
            except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def snapshot(self, name):
        client = self.client()
        client.save()
        path = os.path.join(self.server.workdir, "%s.rdb" % name)
        shutil.copy(os.path.join(self.server.workdir, "dump.rdb"), path)
        self.snapshots[name] = path

    def restore(self, name):
        self.server.stop()
        shutil.copy(self.snapshots[name], os.path.join(self.server.workdir, "dump.rdb"))
        self.server.start()
        self.wait_loaded()


# ---------------------------------------------------------------- the methods

def runbook_eval(port, pattern):
    """(a) The runbook's command, as written (minus kubectl exec)."""
    script = "return redis.call('del', unpack(redis.call('keys', '%s')))" % pattern
    proc = subprocess.run(["redis-cli", "-p", str(port), "EVAL", script, "0"], capture_output=True, text=True, check=False)
    out = (proc.stdout + proc.stderr).strip()
    return {"ok": "ERR" not in out, "note": out.splitlines()[-1][:90] if out else ""}


def scan_xargs(port, pattern):
    """(b) redis-cli --scan | xargs redis-cli unlink."""
    cmd = "redis-cli -p %d --scan --pattern '%s' | xargs -r redis-cli -p %d unlink > /dev/null" % (port, pattern, port)
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    return {"ok": proc.returncode == 0, "note": proc.stderr.strip()[:90]}


def v2_xargs(port, user):
    """(b) for sark_v2: the ids of the user's index, each session key, then the index."""
    cmd = ("redis-cli -p {p} SMEMBERS user_sessions:{u} | sed 's/^/session:/' | xargs -r redis-cli -p {p} unlink > /dev/null && "
           "redis-cli -p {p} UNLINK user_sessions:{u} > /dev/null").format(p=port, u=user)
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    return {"ok": proc.returncode == 0, "note": proc.stderr.strip()[:90]}


class ModuleProcess:
    def __init__(self, collections_dir):
        self.collections_dir = collections_dir

    def __call__(self, name, args):
        """(c) Run a module like Ansible does on the target: a fresh interpreter, a JSON args file."""
        module_path = os.path.join(REPO, "plugins", "modules", name + ".py")
        payload = dict(args, _ansible_check_mode=False, _ansible_diff=False, _ansible_module_name="sark.ops." + name)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
            args_file = handle.name
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SARK_"))}
        env["PYTHONPATH"] = self.collections_dir
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen([sys.executable, module_path, args_file], stdout=out,  # pylint: disable=consider-using-with
                                    stderr=subprocess.DEVNULL, env=env)
            _pid, _status, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0
            out.seek(0)
            text = out.read().decode()
        os.unlink(args_file)
        result = json.loads(text)
        progress = result.get("progress") or {}
        return {"ok": not result.get("failed"), "note": (result.get("msg") or "")[:90], "rss_mb": round(usage.ru_maxrss / 1024.0, 1),
                "module_ms": progress.get("duration_ms"), "engine": progress.get("engine"), "batches": progress.get("batches"),
                "reported_removed": result.get("removed")}


BOOKKEEPING = ("ping", "info", "config|resetstat", "latency|reset", "latency|latest", "dbsize", "client|setname", "restore",
               "dump", "pttl", "save")
NESTED = ("scan", "unlink", "del", "keys", "time", "smembers")


def redis_busy_seconds(commandstats):
    """Seconds Redis spent executing the method's commands (a script's inner commands are counted once, in the script)."""
    names = {name[len("cmdstat_"):]: stats for name, stats in commandstats.items()}
    scripted = any(name in names for name in ("eval", "evalsha"))
    total = sum(stats["usec"] for name, stats in names.items()
                if name not in BOOKKEEPING and not (scripted and name in NESTED))
    return round(total / 1e6, 3)


def measure(dataset, label, method):
    client = dataset.client()
    before = client.dbsize()
    client.execute_command("LATENCY", "RESET")
    client.config_resetstat()
    with Pinger(dataset.server.port) as pinger:
        started = time.perf_counter()
        outcome = method()
        wall = time.perf_counter() - started
    pings = pinger.report()
    after = client.dbsize()
    busy = redis_busy_seconds(client.info("commandstats"))
    latest = client.execute_command("LATENCY", "LATEST")
    server_max = max([int(row[3]) for row in latest] or [0])
    removed = before - after
    row = {"method": label, "wall_s": round(wall, 3), "keys_before": before, "removed": removed,
           "keys_per_s": int(removed / wall) if wall > 0 else None, "worst_ping_ms": pings["worst_ms"], "p99_ping_ms": pings["p99_ms"],
           "pings": pings["pings"], "pinger_priority": pings["priority"], "server_max_ms": server_max, "redis_busy_s": busy}
    row.update(outcome)
    return row


# ---------------------------------------------------------------- scenarios

def victim_keys(client, layout):
    if layout == "runbook":
        return list(client.scan_iter(match="session:user:%s:*" % VICTIM, count=5000))
    keys = ["session:%s" % m.decode() for m in client.smembers("user_sessions:%s" % VICTIM)]
    return keys + ["user_sessions:%s" % VICTIM]


def global_xargs(port, layout):
    if layout == "runbook":
        return scan_xargs(port, "session:user:*")
    outcome = scan_xargs(port, "session:*")
    scan_xargs(port, "user_sessions:*")
    return outcome


def dump_keys(client, keys):
    return [(k, client.pttl(k), client.dump(k)) for k in keys]


def restore_keys(dataset, dumped):
    client = dataset.client()
    for key, pttl, value in dumped:
        client.restore(key, max(0, pttl), value, replace=True)


def run(args):
    work = tempfile.mkdtemp(prefix="sark-bench-")
    coll = os.path.join(work, "collections")
    os.makedirs(os.path.join(coll, "ansible_collections", "sark"))
    os.symlink(REPO, os.path.join(coll, "ansible_collections", "sark", "ops"))
    module = ModuleProcess(coll)
    dataset = Dataset(os.path.join(work, "redis"))
    os.makedirs(dataset.server.workdir)
    rows = {}
    try:
        dataset.start()
        port = dataset.server.port
        base = {"redis_host": "127.0.0.1", "redis_port": port}
        for layout in args.layouts:
            client = dataset.client()
            client.flushall()
            started = time.perf_counter()
            bulk_seed_sessions(client, layout, args.keys, args.users)
            print("seeded %d %s sessions for %d users in %.1fs (dbsize %d)"
                  % (args.keys, layout, args.users, time.perf_counter() - started, client.dbsize()), flush=True)
            dataset.snapshot(layout)
            patterns = ["session:user:*"] if layout == "runbook" else ["session:*", "user_sessions:*"]
            expected_all = sum(1 for pattern in patterns for _key in client.scan_iter(match=pattern, count=5000))

            # global logout: every session (and, for sark_v2, every index); the runbook's command as written
            revoke_all = dict(base, layout=layout, state="absent", scope="all", force=True, max_keys=args.keys * 2)
            methods = [
                ("(a) runbook EVAL/KEYS", functools.partial(runbook_eval, port, "session:*")),
                ("(b) redis-cli scan|xargs", functools.partial(global_xargs, port, layout)),
                ("(c) sark_session", functools.partial(module, "sark_session", revoke_all)),
            ]
            scenario = "global logout (%s)" % layout
            rows[scenario] = repeat(args, scenario, methods, functools.partial(dataset.restore, layout), dataset, expected_all)

            # one user's logout (the user has keys/users sessions); the same keys are put back before each run
            dataset.restore(layout)
            saved = dump_keys(dataset.client(), victim_keys(dataset.client(), layout))
            user_pattern = "session:user:%s:*" % VICTIM
            revoke_user = dict(base, layout=layout, state="absent", scope="user", user_id=VICTIM)
            if layout == "runbook":
                xargs = ("(b) redis-cli scan|xargs", functools.partial(scan_xargs, port, user_pattern))
            else:
                xargs = ("(b) redis-cli smembers|xargs", functools.partial(v2_xargs, port, VICTIM))
            methods = [
                ("(a) runbook EVAL/KEYS", functools.partial(runbook_eval, port, user_pattern)),
                xargs,
                ("(c) sark_session", functools.partial(module, "sark_session", revoke_user)),
            ]
            scenario = "one user's logout (%s)" % layout
            rows[scenario] = repeat(args, scenario, methods, functools.partial(restore_keys, dataset, saved), dataset, len(saved))
    finally:
        dataset.server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def repeat(args, scenario, methods, before, dataset, expected):
    """Each method args.repeat times, interleaved (a b c a b c ...) so a busy neighbour slows them alike.

    Every run of the module (c) is checked: it must succeed and remove exactly `expected` keys (counted in Redis, and as
    it reports them); a failed check is recorded in args.problems and makes the benchmark exit non-zero. The baselines
    (a) and (b) are reported as they are (the runbook's EVAL/KEYS is expected to fail on a large keyspace)."""
    runs = {label: [] for label, _method in methods}
    for _round in range(args.repeat):
        for label, method in methods:
            before()
            row = measure(dataset, label, method)
            row["expected"] = expected
            runs[label].append(row)
            print_row(scenario, row)
            if label.startswith("(c)"):
                args.problems.extend(correctness_problems(scenario, row, expected))
    return [summarize_runs(label, entries) for label, entries in runs.items()]


def correctness_problems(scenario, row, expected):
    problems = []
    if not row["ok"]:
        problems.append("%s: %s failed: %s" % (scenario, row["method"], row["note"]))
    if row["removed"] != expected:
        problems.append("%s: %s removed %d keys (counted in Redis), expected %d" % (scenario, row["method"], row["removed"], expected))
    if row.get("reported_removed") is not None and row["reported_removed"] != row["removed"]:
        problems.append("%s: %s reported %s keys removed, Redis lost %d" % (scenario, row["method"], row["reported_removed"], row["removed"]))
    return problems


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def summarize_runs(label, entries):
    best = min(entries, key=lambda r: r["wall_s"])
    out = dict(best)
    out.update(method=label, runs=len(entries), wall_s=best["wall_s"], wall_median_s=median([r["wall_s"] for r in entries]),
               worst_ping_ms=median([r["worst_ping_ms"] for r in entries]), worst_ping_max_ms=max(r["worst_ping_ms"] or 0 for r in entries),
               p99_ping_ms=median([r["p99_ping_ms"] for r in entries]), server_max_ms=median([r["server_max_ms"] for r in entries]),
               redis_busy_s=median([r["redis_busy_s"] for r in entries]),
               ok=all(r["ok"] for r in entries), removed=best["removed"],
               keys_per_s=int(best["removed"] / best["wall_s"]) if best["wall_s"] else None)
    if any(r.get("rss_mb") is not None for r in entries):
        out["rss_mb"] = max(r.get("rss_mb") or 0 for r in entries)
        out["module_ms"] = median([r.get("module_ms") for r in entries])
    return out


def print_row(scenario, row):
    print("  %-28s %-26s %8.3fs removed %8d  worst ping %7.1f ms  server max %4d ms  %s" % (
        scenario, row["method"], row["wall_s"], row["removed"], row["worst_ping_ms"] or 0, row["server_max_ms"],
        "ok" if row["ok"] else "FAILED: " + row["note"]), flush=True)


def ratio(a, b):
    return "%.1fx" % (float(a) / b) if a and b else "n/a"


def summarize(rows, args):
    lines = []
    lines.append("| scenario | method | wall s (best / median of %d) | keys removed | keys/s | worst PING ms (median / max) "
                 "| p99 PING ms | Redis longest command ms | Redis busy s | module peak RSS MB | outcome |" % args.repeat)
    lines.append("|" + "---|" * 11)
    for scenario, entries in rows.items():
        for row in entries:
            outcome = "ok" if row["ok"] else "fails: %s" % row["note"]
            if row.get("module_ms") is not None:
                outcome += " (module's own work %.0f ms, %s batches, engine %s)" % (row["module_ms"], row["batches"], row["engine"])
            lines.append("| %s | %s | %.3f / %.3f | %d | %s | %s / %s | %s | %s | %s | %s | %s |" % (
                scenario, row["method"], row["wall_s"], row["wall_median_s"], row["removed"], "{:,}".format(row["keys_per_s"] or 0),
                row["worst_ping_ms"], row["worst_ping_max_ms"], row["p99_ping_ms"], row["server_max_ms"], row["redis_busy_s"],
                row.get("rss_mb", "-"), outcome))
    lines.append("")
    targets = []
    for scenario, entries in rows.items():
        by = {r["method"][:3]: r for r in entries}
        a, b, c = by["(a)"], by["(b)"], by["(c)"]
        lines.append("%s: (c) vs (b): %s faster (median %s), worst PING %s of (b)'s; (c) vs (a): wall %s, worst PING %s"
                     % (scenario, ratio(b["wall_s"], c["wall_s"]), ratio(b["wall_median_s"], c["wall_median_s"]),
                        ratio(c["worst_ping_ms"], b["worst_ping_ms"]), ratio(c["wall_s"], a["wall_s"]),
                        ratio(c["worst_ping_ms"], a["worst_ping_ms"])))
        if scenario.startswith("global"):
            targets.append(("%s: >= 3.5x faster than (b)" % scenario, b["wall_s"] / c["wall_s"] >= 3.5,
                            "%.2fx (median %.2fx)" % (b["wall_s"] / c["wall_s"], b["wall_median_s"] / c["wall_median_s"])))
            targets.append(("%s: worst PING <= 20 ms" % scenario, (c["worst_ping_ms"] or 0) <= 20,
                            "%s ms (max %s)" % (c["worst_ping_ms"], c["worst_ping_max_ms"])))
        elif "runbook" in scenario:
            targets.append(("%s: <= 1.5 s" % scenario, c["wall_s"] <= 1.5, "%.3f s (median %.3f)" % (c["wall_s"], c["wall_median_s"])))
            targets.append(("%s: worst PING <= 10 ms" % scenario, (c["worst_ping_ms"] or 0) <= 10,
                            "%s ms (max %s)" % (c["worst_ping_ms"], c["worst_ping_max_ms"])))
        else:
            targets.append(("%s: <= 50 ms (module's own work)" % scenario, (c["module_ms"] or 0) <= 50, "%s ms" % c["module_ms"]))
        if c.get("rss_mb") is not None:
            targets.append(("%s: module peak RSS < 100 MB" % scenario, c["rss_mb"] < 100, "%s MB" % c["rss_mb"]))
    lines.append("")
    lines.append("| target | result | measured |")
    lines.append("|---|---|---|")
    for name, passed, measured in targets:
        lines.append("| %s | %s | %s |" % (name, "PASS" if passed else "MISS", measured))
    lines.append("")
    lines.append("%d session keys, %d users, %d runs per method; %s; %d CPUs, load average now %s" % (
        args.keys, args.users, args.repeat, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--keys", type=int, default=1000000, help="session keys to seed (default 1,000,000)")
    parser.add_argument("--users", type=int, default=None, help="users the sessions belong to (default keys/10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, interleaved; the table shows the best and the median")
    parser.add_argument("--layouts", nargs="+", default=["runbook", "sark_v2"], choices=["runbook", "sark_v2"])
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()
    args.users = args.users or max(1, args.keys // 10)
    args.problems = []
    print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)
    rows = run(args)
    print()
    print(summarize(rows, args))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"keys": args.keys, "users": args.users, "rows": rows, "problems": args.problems}, handle, indent=2)
    # performance targets are reported above, not enforced; correctness is
    if args.problems:
        print("\nCORRECTNESS CHECKS FAILED (%d):" % len(args.problems))
        for problem in args.problems:
            print("  " + problem)
        return 1
    print("\ncorrectness: every sark_session run succeeded and removed exactly the expected keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
