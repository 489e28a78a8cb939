"""A real Prometheus with weeks of history, and a real Alertmanager, on 127.0.0.1.

    python -m harness.prom_checklists up --dir DIR [--days 14]   # backfill, start, write DIR/prom.json and DIR/prom_vars.yml
    python -m harness.prom_checklists down --dir DIR              # stop both by PID

The history is generated here as OpenMetrics text and written into TSDB blocks by Prometheus' own backfiller
(``promtool tsdb create-blocks-from openmetrics``); Prometheus then serves it like any scraped data (range
queries, ``ALERTS``). What the series hold (so tests can assert on it) is in ``SARK_WEEK``:

- ``http_requests_total{job="sark", status}`` - 100 requests/s, 5xx 0.2 % of them until 7 days ago, 0.4 % since
  (this week's error rate doubled);
- ``http_request_duration_seconds`` (histogram, ``job="sark"``) - the same latency both weeks (p95 about 0.19 s);
- ``container_memory_working_set_bytes`` / ``container_cpu_usage_seconds_total`` of ``sark-api-0`` in ``production``
  - memory 600 MiB last week, 630 MiB this week, CPU 0.18 cores;
- ``kubelet_volume_stats_{capacity,used}_bytes`` of the PVCs ``postgres-data-postgres-0`` (50 GiB, used growing to
  86 %) and ``redis-data-redis-0`` (10 GiB, 10 %);
- every series but ``ALERTS`` goes on for an hour past the start (see ``sark_week``);
- ``ALERTS{alertstate="firing"}`` - ``HighLatency`` (warning) 3 days ago for 40 minutes and 26 hours ago for 20
  minutes, ``HighErrorRate`` (critical) 10 days ago for 30 minutes (before this week).

A rule file makes Prometheus fire ``SarkVolumeFillingUp`` (warning) from the backfilled volume statistics and send it
to the Alertmanager; other alerts can be posted to the Alertmanager's API directly.
Other helpers can call ``write_openmetrics`` / ``backfill`` with series of their own.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import yaml

from harness.servers import AlertmanagerServer, PrometheusServer, stop_pid

DAY = 86400
MIB = 1048576.0
GIB = 1073741824.0
BUCKETS = (("0.05", 0.60), ("0.1", 0.85), ("0.2", 0.96), ("0.5", 0.99), ("1", 0.999), ("+Inf", 1.0))
RULES = {"groups": [{"name": "sark-capacity", "interval": "1s", "rules": [{
    "alert": "SarkVolumeFillingUp",
    "expr": "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes > 0.8",
    "labels": {"severity": "warning"},
    "annotations": {"summary": "PVC {{ $labels.persistentvolumeclaim }} is more than 80 % full"}}]}]}


def _labels(labels):
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(labels.items())) + "}" if labels else ""


def sark_week(now, days=14, step=300, ahead=3600):
    """The metric families of SARK's last `days` days: [(name, type, [(labels, [(t, value)])])].

    The series go on `ahead` seconds past now, so that instant queries made during a slow test run still find a
    sample within Prometheus' 5-minute lookback (nothing scrapes these series live)."""
    start = int(now - days * DAY) // step * step
    stamps = list(range(start, int(now + ahead) + 1, step))
    week_ago = now - 7 * DAY
    requests = {"200": [], "500": []}
    count = {"200": 0.0, "500": 0.0}
    buckets = dict((bucket[0], []) for bucket in BUCKETS)
    hist_total = []
    hist_sum = []
    total = 0.0
    for t in stamps:
        share = 0.004 if t >= week_ago else 0.002
        count["500"] += 100 * step * share
        count["200"] += 100 * step * (1 - share)
        for status in requests:
            requests[status].append((t, count[status]))
        total += 100 * step
        for le, fraction in BUCKETS:
            buckets[le].append((t, total * fraction))
        hist_total.append((t, total))
        hist_sum.append((t, total * 0.07))
    pod = {"namespace": "production", "pod": "sark-api-0", "container": "sark"}
    memory = [(t, (630 if t >= week_ago else 600) * MIB) for t in stamps]
    cpu = [(t, 0.18 * (t - start)) for t in stamps]
    pg_pvc = {"namespace": "production", "persistentvolumeclaim": "postgres-data-postgres-0"}
    redis_pvc = {"namespace": "production", "persistentvolumeclaim": "redis-data-redis-0"}
    pg_used = [(t, GIB * 50 * (0.70 + 0.16 * min(1.0, (t - start) / max(1.0, now - start)))) for t in stamps]
    family = [
        ("http_requests_total", "counter", [({"job": "sark", "status": s}, v) for s, v in sorted(requests.items())]),
        ("container_memory_working_set_bytes", "gauge", [(pod, memory)]),
        ("container_cpu_usage_seconds_total", "counter", [(pod, cpu)]),
        ("kubelet_volume_stats_capacity_bytes", "gauge", [(pg_pvc, [(t, 50 * GIB) for t in stamps]),
                                                          (redis_pvc, [(t, 10 * GIB) for t in stamps])]),
        ("kubelet_volume_stats_used_bytes", "gauge", [(pg_pvc, pg_used), (redis_pvc, [(t, GIB) for t in stamps])]),
        ("ALERTS", "gauge", _alert_history(now)),
    ]
    histogram = ("http_request_duration_seconds", [{"job": "sark"}], buckets, hist_total, hist_sum)
    return family, histogram


def _episode(start, minutes, step=60):
    return [(t, 1.0) for t in range(int(start), int(start + minutes * 60) + 1, step)]


def _alert_history(now):
    def labels(name, severity):
        return {"alertname": name, "alertstate": "firing", "severity": severity, "job": "sark"}
    return [(labels("HighLatency", "warning"), _episode(now - 3 * DAY, 40) + _episode(now - 26 * 3600, 20)),
            (labels("HighErrorRate", "critical"), _episode(now - 10 * DAY, 30))]


def write_openmetrics(path, families, histogram=None):
    """Write families [(name, type, [(labels, [(t, value)])])] (and one histogram) as OpenMetrics text."""
    with open(path, "w", encoding="utf-8") as out:
        for name, kind, series in families:
            family = name[:-len("_total")] if kind == "counter" and name.endswith("_total") else name
            out.write("# TYPE %s %s\n" % (family, kind))
            for labels, points in series:
                text = _labels(labels)
                for stamp, value in points:
                    out.write("%s%s %r %d\n" % (name, text, float(value), stamp))
        if histogram:
            name, label_sets, buckets, totals, sums = histogram
            out.write("# TYPE %s histogram\n" % name)
            for labels in label_sets:
                for index, (stamp, total) in enumerate(totals):
                    for le in (bucket[0] for bucket in BUCKETS):
                        out.write("%s_bucket%s %r %d\n" % (name, _labels(dict(labels, le=le)), buckets[le][index][1], stamp))
                    out.write("%s_count%s %r %d\n" % (name, _labels(labels), total, stamp))
                    out.write("%s_sum%s %r %d\n" % (name, _labels(labels), sums[index][1], stamp))
        out.write("# EOF\n")


def backfill(openmetrics_path, data_dir):
    """Prometheus' own backfiller: the OpenMetrics file into TSDB blocks under data_dir."""
    os.makedirs(data_dir, exist_ok=True)
    proc = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
                           openmetrics_path, data_dir], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError("promtool create-blocks-from openmetrics failed: %s%s" % (proc.stdout[-2000:], proc.stderr[-2000:]))


def up(state_dir, days=14, now=None):
    state_dir = os.path.abspath(state_dir)
    state = os.path.join(state_dir, "prom.json")
    if os.path.exists(state):
        raise SystemExit("Prometheus is already recorded in %s: run `down` first" % state)
    now = now or time.time()
    prom_dir = os.path.join(state_dir, "prometheus")
    am_dir = os.path.join(state_dir, "alertmanager")
    os.makedirs(prom_dir, exist_ok=True)
    os.makedirs(am_dir, exist_ok=True)
    families, histogram = sark_week(now, days)
    source = os.path.join(prom_dir, "history.om")
    write_openmetrics(source, families, histogram)
    backfill(source, os.path.join(prom_dir, "data"))
    os.unlink(source)
    rules = os.path.join(prom_dir, "rules.yml")
    with open(rules, "w", encoding="utf-8") as handle:
        yaml.safe_dump(RULES, handle)
    started = []
    try:
        alertmanager = AlertmanagerServer(workdir=am_dir)
        alertmanager.start()
        started.append(alertmanager)
        prometheus = PrometheusServer(workdir=prom_dir, rule_files=[rules], alertmanager_port=alertmanager.port)
        prometheus.start()
        started.append(prometheus)
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    record = {"prometheus_url": prometheus.url, "alertmanager_url": alertmanager.url, "history_end": now, "days": days,
              "pids": {"prometheus": prometheus.pid, "alertmanager": alertmanager.pid}}
    with open(state, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    with open(os.path.join(state_dir, "prom_vars.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"sark_prometheus_connection": {"prometheus_url": prometheus.url,
                                                       "alertmanager_url": alertmanager.url}}, handle)
    print("Prometheus %s (%d days of history) and Alertmanager %s up" % (prometheus.url, days, alertmanager.url))
    return record


def down(state_dir, remove=False):
    state = os.path.join(os.path.abspath(state_dir), "prom.json")
    if not os.path.exists(state):
        print("no Prometheus recorded in %s" % state_dir)
        return
    with open(state, encoding="utf-8") as handle:
        record = json.load(handle)
    for name in ("prometheus", "alertmanager"):
        stop_pid(record["pids"].get(name))
    os.unlink(state)
    if remove:
        for sub in ("prometheus", "alertmanager"):
            shutil.rmtree(os.path.join(state_dir, sub), ignore_errors=True)
    print("Prometheus and Alertmanager in %s stopped" % state_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.prom_checklists", description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    if args.action == "up":
        up(args.dir, args.days)
    else:
        down(args.dir, args.remove)
    return 0


if __name__ == "__main__":
    sys.exit(main())
