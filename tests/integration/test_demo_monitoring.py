"""The demo's Prometheus history (tests/harness/prom_history.py): backfilled with promtool, read by sark_alert_info.

A real Prometheus started on the backfilled week with extensions/prometheus/sark-alerts.yml and a real Alertmanager:
the 24 h error rate has data at once, the range queries of the report's trends have points, and the HighLatency alert
Prometheus had recorded as firing (ALERTS_FOR_STATE) is restored and reaches Alertmanager without waiting its `for`.
"""

import json
import os
import urllib.request

import pytest

from harness import prom_history
from harness.servers import AlertmanagerServer, PrometheusServer, wait_for

RULES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "extensions", "prometheus", "sark-alerts.yml")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as resp:  # nosec - loopback only
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    work = tmp_path_factory.mktemp("prom-history")
    for sub in ("am", "prom"):
        (work / sub).mkdir()
    with AlertmanagerServer(workdir=str(work / "am")) as am:
        prom = PrometheusServer(workdir=str(work / "prom"), rule_files=[RULES], alertmanager_port=am.port)
        om = str(work / "history.om")
        summary = prom_history.write_history(om, instance="127.0.0.1:9", layout="runbook")
        prom_history.backfill(om, prom.data_dir)
        with prom:
            yield {"prometheus": prom, "alertmanager": am, "summary": summary}


def test_history_is_what_the_simulator_exports(week):
    summary = week["summary"]
    assert summary["end"] - summary["start"] >= 7 * 86400 - 600
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "ALERTS_FOR_STATE"} <= set(summary["backfilled"])
    series = get_json(week["prometheus"].url + "/api/v1/series?match[]=http_requests_total")["data"]
    assert {s["endpoint"] for s in series} >= {"/api/v1/servers", "/api/v1/servers/{server_id}", "/health"}
    assert {s["job"] for s in series} == {"sark-api"} and {s["instance"] for s in series} == {"127.0.0.1:9"}


def test_error_rate_and_trends_read_at_once(run_module, week):
    prom = week["prometheus"]
    result = run_module("sark_alert_info", {
        "prometheus_url": prom.url, "sources": ["prometheus"], "presets": ["error_rate_24h"],
        "range_queries": [{"name": "p95", "duration": "24h", "step": "15m",
                           "expr": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[15m])))"}]})
    assert not result.failed, result
    error_rate = result["queries"]["error_rate_24h"]
    # ~0.04 % 5xx: below the 0.1 % threshold (the 3 % hour lies 3 days back)
    assert error_rate["verdict"] == "ok" and 0.0002 < error_rate["worst"] < 0.0008
    points = result["ranges"]["p95"]["result"][0]["values"]
    assert len(points) >= 90
    # the slow last 40 minutes show in the trend: p95 above 200 ms at the end, below it a day before
    assert float(points[-1][1]) > 0.2 and float(points[0][1]) < 0.2


def test_firing_alert_restored_into_alertmanager(week):
    am = week["alertmanager"]

    def firing():
        return "HighLatency" in {a["labels"]["alertname"] for a in get_json(am.url + "/api/v2/alerts?active=true")}
    wait_for(firing, 40, "HighLatency in Alertmanager", interval=0.5)
    alert = [a for a in get_json(week["prometheus"].url + "/api/v1/alerts")["data"]["alerts"]
             if a["labels"]["alertname"] == "HighLatency"][0]
    assert alert["state"] == "firing" and alert["labels"]["severity"] == "warning"
    # active since the backfilled record, not since this Prometheus started
    active_at = alert["activeAt"][:19]
    import datetime  # pylint: disable=import-outside-toplevel
    restored = datetime.datetime.fromtimestamp(week["summary"]["high_latency_active_at"], datetime.timezone.utc)
    assert active_at == restored.strftime("%Y-%m-%dT%H:%M:%S")
