"""A week of Prometheus history for the demo stack, backfilled with `promtool tsdb create-blocks-from openmetrics`.

A Prometheus started for the demo has scraped the SARK simulator for a few seconds only: `rate(...[24h])` and
the trends of the daily and weekly reports would have nothing to read. This writes what a Prometheus scraping
SARK (job "sark-api") for the past week would hold, as OpenMetrics with time stamps, and turns it into TSDB
blocks in the data directory *before* Prometheus starts (it loads them at start):

- ``http_requests_total{job, instance, method, endpoint, status}`` and
  ``http_request_duration_seconds_bucket|_sum|_count{job, instance, method, endpoint, le}``: the same series the
  simulator exports at /metrics (same labels, so the live scrape continues them: its counters start again at 0,
  which PromQL's rate() reads as the counter reset of a restarted process). Traffic follows a day/night curve;
  about 0.04 % of the answers are 5xx, except one hour `incident_days_ago` days back (a 5xx burst of
  `incident_error_share`), and the last `slow_minutes` minutes are slow (p95 about 0.3 s: the HighLatency alert
  of extensions/prometheus/sark-alerts.yml is active).
- ``ALERTS{alertname="HighLatency", alertstate}`` and ``ALERTS_FOR_STATE{alertname="HighLatency"}``: what Prometheus
  records itself while that alert is pending and firing. Prometheus restores an alert's `for` state from
  ALERTS_FOR_STATE at start (rules.alert.for-outage-tolerance, default 1 h), so the alert that was firing before
  the demo started is firing again at once, and reaches Alertmanager, instead of waiting its 10 minutes again.

Samples are 15 s apart for the last 30 minutes, 2 minutes apart for the 26 hours before and 10 minutes apart
before that (a week at one-minute resolution would take promtool longer than the whole daily check); the last is
at `end`, the moment the history is written, seconds before Prometheus starts. Nothing here is live: the live series are what
Prometheus scrapes from the simulator from the moment it starts.

    summary = write_history(path, instance="127.0.0.1:8123", layout="runbook")
    backfill(path, data_dir)            # then start Prometheus with --storage.tsdb.path=data_dir
"""

import math
import os
import random
import subprocess
import time

# prometheus_client's default buckets, as the simulator's histogram (tests/harness/sarksim/metrics.py)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
JOB = "sark-api"

# (method, route template, requests per second at the daily peak, median seconds): the layouts' own routes
TRAFFIC = {
    "runbook": [
        ("GET", "/api/v1/servers", 3.0, 0.030),
        ("GET", "/api/v1/servers/{server_id}", 1.6, 0.018),
        ("POST", "/api/v1/auth/login", 0.5, 0.090),
        ("GET", "/api/v1/users", 0.3, 0.025),
        ("GET", "/health", 0.2, 0.004),
    ],
    "sark_v2": [
        ("GET", "/api/v1/servers/", 3.0, 0.030),
        ("GET", "/api/v1/servers/{server_id}", 1.6, 0.018),
        ("POST", "/api/v1/policy/evaluate", 0.9, 0.060),
        ("POST", "/api/v1/auth/login", 0.5, 0.090),
        ("GET", "/health/", 0.2, 0.004),
    ],
}
HIGH_LATENCY_LABELS = {"alertname": "HighLatency", "job": JOB, "priority": "P1", "sark_incident": "high_latency",
                       "service": "sark", "severity": "warning"}
HIGH_LATENCY_FOR = 600  # the rule's `for: 10m`


def _labels(pairs):
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(pairs.items())) + "}"


def _share_below(limit, median, sigma=0.6):
    """The share of a log-normal latency distribution (median, sigma) at or below `limit` seconds."""
    return 0.5 * (1.0 + math.erf((math.log(limit) - math.log(median)) / (sigma * math.sqrt(2.0))))


def _diurnal(stamp):
    hour = (stamp % 86400) / 3600.0
    return 0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 6.0) / 14.0)) if 6 <= hour <= 20 else 0.35


def timeline(end, days=7, fine_hours=26, fine_step=120, coarse_step=600, last_minutes=30, last_step=15):
    """The sample times: coarse_step apart up to fine_hours before `end`, fine_step apart up to last_minutes before it,
    then last_step apart, the last exactly at `end` (so a 5-minute rate() right after Prometheus starts still finds
    backfilled samples to read)."""
    stamps = set()
    for step, begin, until in ((coarse_step, end - days * 86400, end - fine_hours * 3600),
                               (fine_step, end - fine_hours * 3600, end - last_minutes * 60),
                               (last_step, end - last_minutes * 60, end)):
        stamp = float(int(begin) - int(begin) % step)
        while stamp < until:
            if stamp >= end - days * 86400:
                stamps.add(stamp)
            stamp += step
    stamps.add(float(end))
    return sorted(stamps)


def write_history(path, instance, layout="runbook", end=None, days=7, seed=42, base_error_share=0.0004,
                  incident_days_ago=3, incident_error_share=0.03, slow_minutes=40, slow_factor=9.0):
    """Write the OpenMetrics file; returns a summary (series, samples, the window, the alert's active_at)."""
    rng = random.Random(seed)
    end = float(int(end if end is not None else time.time()))
    stamps = timeline(end, days)
    incident_start = end - incident_days_ago * 86400 - (end % 3600)
    slow_from = end - slow_minutes * 60
    routes = TRAFFIC[layout]
    samples = 0
    active_at = None
    with open(path, "w", encoding="utf-8") as out:
        out.write("# TYPE http_requests counter\n# HELP http_requests HTTP requests answered, by method, route and status\n")
        for method, endpoint, peak, _median in routes:
            base = {"job": JOB, "instance": instance, "method": method, "endpoint": endpoint}
            statuses = ["200", "404", "500", "503"] if "{" in endpoint else ["200", "500", "503"]
            if endpoint.endswith("/login"):
                statuses.append("401")
            totals = dict((status, 0.0) for status in statuses)
            series = dict((status, []) for status in statuses)
            previous = stamps[0]
            for stamp in stamps:
                answered = peak * _diurnal(stamp) * (stamp - previous) * rng.uniform(0.85, 1.15)
                previous = stamp
                errors = incident_error_share if incident_start <= stamp < incident_start + 3600 else base_error_share
                shares = {"500": errors * 0.3, "503": errors * 0.7, "404": 0.02, "401": 0.06}
                ok = 1.0 - sum(shares[s] for s in statuses if s != "200")
                for status in statuses:
                    totals[status] += answered * (ok if status == "200" else shares[status])
                    series[status].append((stamp, math.floor(totals[status])))
            for status in statuses:
                name = "http_requests_total" + _labels(dict(base, status=status))
                for stamp, value in series[status]:
                    out.write("%s %d %.3f\n" % (name, value, stamp))
                    samples += 1
        out.write("# TYPE http_request_duration_seconds histogram\n"
                  "# HELP http_request_duration_seconds Time to answer an HTTP request, by method and route\n")
        for method, endpoint, peak, median in routes:
            base = {"job": JOB, "instance": instance, "method": method, "endpoint": endpoint}
            buckets = [0.0] * len(BUCKETS)
            count = total = 0.0
            previous = stamps[0]
            names = ["http_request_duration_seconds_bucket" + _labels(dict(base, le=repr(limit))) for limit in BUCKETS]
            inf_name = "http_request_duration_seconds_bucket" + _labels(dict(base, le="+Inf"))
            count_name = "http_request_duration_seconds_count" + _labels(base)
            sum_name = "http_request_duration_seconds_sum" + _labels(base)
            for stamp in stamps:
                answered = peak * _diurnal(stamp) * (stamp - previous) * rng.uniform(0.85, 1.15)
                previous = stamp
                slow = stamp > slow_from and endpoint != "/health" and endpoint != "/health/"
                mid = median * (slow_factor if slow else 1.0)
                for index, limit in enumerate(BUCKETS):
                    buckets[index] += answered * _share_below(limit, mid)
                count += answered
                total += answered * mid * math.exp(0.18)  # the mean of the log-normal (sigma 0.6)
                for index, name in enumerate(names):
                    out.write("%s %d %.3f\n" % (name, math.floor(buckets[index]), stamp))
                out.write("%s %d %.3f\n%s %d %.3f\n%s %.3f %.3f\n" % (inf_name, math.floor(count), stamp,
                                                                      count_name, math.floor(count), stamp,
                                                                      sum_name, total, stamp))
                samples += len(names) + 3
        # Prometheus' own record of the HighLatency alert: pending from the first evaluation that saw p95 > 0.2 s
        # over 5 minutes (about 3 minutes into the slow spell), firing 10 minutes later
        out.write("# TYPE ALERTS gauge\n# TYPE ALERTS_FOR_STATE gauge\n")
        alert_stamps = [s for s in stamps if s >= slow_from + 180]
        if alert_stamps:
            active_at = alert_stamps[0]
            for state in ("pending", "firing"):
                name = "ALERTS" + _labels(dict(HIGH_LATENCY_LABELS, alertstate=state))
                for stamp in alert_stamps:
                    if (state == "firing") == (stamp - active_at >= HIGH_LATENCY_FOR):
                        out.write("%s 1 %.3f\n" % (name, stamp))
                        samples += 1
            name = "ALERTS_FOR_STATE" + _labels(HIGH_LATENCY_LABELS)
            for stamp in alert_stamps:
                out.write("%s %d %.3f\n" % (name, active_at, stamp))
                samples += 1
        out.write("# EOF\n")
    return {"path": path, "start": stamps[0], "end": end, "samples": samples, "instance": instance, "job": JOB,
            "layout": layout, "incident_start": incident_start, "slow_from": slow_from, "high_latency_active_at": active_at,
            "backfilled": ["http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
                           "http_request_duration_seconds_count", "ALERTS", "ALERTS_FOR_STATE"]}


def backfill(openmetrics_path, data_dir, promtool="promtool", timeout=120):
    """promtool tsdb create-blocks-from openmetrics into data_dir (Prometheus' --storage.tsdb.path); returns seconds."""
    os.makedirs(data_dir, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
                           openmetrics_path, data_dir], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError("promtool tsdb create-blocks-from openmetrics failed (rc=%s): %s%s"
                           % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return time.monotonic() - started
