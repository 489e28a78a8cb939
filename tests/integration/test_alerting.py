"""sark_alert_info and sark_alert_silence against real Prometheus and Alertmanager (tests/harness/rules fire at once)."""

import json
import os
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.servers import AlertmanagerServer, PrometheusServer, wait_for
from harness.webhook_receiver import MetricsExporter, WebhookReceiver

RULES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "rules", "sark_test_alerts.yml")
MATCHERS = [{"name": "alertname", "value": "HighErrorRate"}, {"name": "service", "value": "sark"}]
COMMENT = "Investigating high error rate"


def get_json(url, **query):
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    with urllib.request.urlopen(url, timeout=5) as resp:  # nosec - loopback only
        return json.loads(resp.read())


def run_parallel(run_module, *calls):
    """Run independent module calls at once (each is a subprocess); results in call order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run_module, name, args, **kwargs) for name, args, kwargs in calls]
        return [f.result() for f in futures]


def am_alerts(am):
    return {a["labels"]["alertname"]: a for a in get_json(am.url + "/api/v2/alerts")}


@pytest.fixture(scope="module")
def stack():
    with MetricsExporter() as metrics, AlertmanagerServer() as am, \
            PrometheusServer(rule_files=[RULES], alertmanager_port=am.port, scrape_targets=[metrics.target]) as prom:
        # Prometheus drops its first notification (it has not discovered Alertmanager yet); the resend comes 1 s later
        wait_for(lambda: {"HighErrorRate", "SarkDiskFilling"} <= set(am_alerts(am)), 30, "alerts to reach Alertmanager")
        yield {"prometheus": prom, "alertmanager": am}


@pytest.fixture()
def expire_all(stack):
    yield
    am = stack["alertmanager"]
    for silence in get_json(am.url + "/api/v2/silences"):
        if silence["status"]["state"] != "expired":
            request = urllib.request.Request(am.url + "/api/v2/silence/" + silence["id"], method="DELETE")
            urllib.request.urlopen(request, timeout=5).close()  # nosec - loopback only


@pytest.fixture(scope="module")
def fake():
    with WebhookReceiver() as receiver:
        yield receiver


def conn(stack):
    return {"prometheus_url": stack["prometheus"].url, "alertmanager_url": stack["alertmanager"].url}


def test_alert_info_reads_both_sources(run_module, stack):
    result = run_module("sark_alert_info", conn(stack), check_mode=True)
    assert not result.failed and not result.changed, result
    prom = {a["alertname"]: a for a in result["prometheus_alerts"]}
    assert set(prom) == {"HighErrorRate", "SarkDiskFilling"} and prom["HighErrorRate"]["severity"] == "critical"
    assert result["counts"]["prometheus"] == {"firing": 2, "pending": 1}
    am = {a["alertname"]: a for a in result["alertmanager_alerts"]}
    assert am["HighErrorRate"]["state"] == "active" and am["HighErrorRate"]["silenced_by"] == []
    assert result["firing"] == ["HighErrorRate", "SarkDiskFilling"]

    narrowed, pending = run_parallel(
        run_module, ("sark_alert_info", dict(conn(stack), severity=["critical"], include_pending=True, sources=["prometheus"]), {}),
        ("sark_alert_info", dict(conn(stack), filter=["Sark*"], include_pending=True, sources=["prometheus"], max_results=1), {}))
    assert [a["alertname"] for a in narrowed["prometheus_alerts"]] == ["HighErrorRate"]
    assert "alertmanager_alerts" not in narrowed
    assert pending["counts"]["prometheus"] == {"firing": 1, "pending": 1} and pending["truncated"] is True
    assert len(pending["prometheus_alerts"]) == 1


def test_presets_judged_against_runbook_thresholds(run_module, stack):
    args = dict(conn(stack), sources=["prometheus"], presets=["error_rate_24h", "error_rate_5m", "error_ratio_5m", "p95_latency_5m",
                                                              "error_ratio_7d", "p95_latency_7d"])
    # the premise, read from Prometheus itself: every series the presets use has 3 scrapes (rate() needs two). Data only
    # accumulates, so the module's run after this sees it too - no retry loop that could give up and assert anyway.
    prom = stack["prometheus"]

    def scraped_three_times():
        counts = [get_json(prom.url + "/api/v1/query", query="count_over_time(%s[5m])" % series)["data"]["result"]
                  for series in ("http_requests_total", "http_request_duration_seconds_bucket")]
        # 2 status counters and 4 buckets, each scraped 3 times or more
        return [len(c) for c in counts] == [2, 4] and all(float(r["value"][1]) >= 3 for c in counts for r in c)
    wait_for(scraped_three_times, 60, "three scrapes of the exporter's series")
    result = run_module("sark_alert_info", args)
    assert not result.failed, result
    queries = result["queries"]
    assert all(q["verdict"] != "no_data" for q in queries.values()), queries
    # ratios and quantiles of the exporter's linear counters do not depend on how old the series are
    assert queries["error_rate_24h"]["verdict"] == "ok" and queries["error_rate_24h"]["worst"] == pytest.approx(0.0005, rel=0.05)
    assert queries["error_ratio_5m"]["verdict"] == "ok" and queries["error_ratio_5m"]["worst"] == pytest.approx(0.0005, rel=0.05)
    # a rate does: rate() over 5m of a series younger than 5m is extrapolated over the whole window (about 0.5/s x age/300
    # - above 0.001 from a 1 s old series on); from 5 minutes on it is the true 0.5/s. Asserted for every age in between.
    assert queries["error_rate_5m"]["verdict"] == "breach" and 0.001 < queries["error_rate_5m"]["worst"] <= 0.5 * 1.01
    assert queries["error_rate_5m"]["samples"][0]["labels"]["status"] == "500"
    assert queries["p95_latency_5m"]["verdict"] == "ok" and queries["p95_latency_5m"]["worst"] == pytest.approx(0.19375, rel=0.01)
    assert queries["p95_latency_5m"]["threshold"] == 0.2 and queries["error_rate_24h"]["threshold"] == 0.001
    # the weekly review: same ratio and quantile over 7 days (the exporter's whole life here)
    assert queries["error_ratio_7d"]["verdict"] == "ok" and queries["error_ratio_7d"]["worst"] == pytest.approx(0.0005, rel=0.05)
    assert queries["p95_latency_7d"]["verdict"] == "ok" and queries["p95_latency_7d"]["worst"] == pytest.approx(0.19375, rel=0.01)
    assert result["breaches"] == ["error_rate_5m"]

    failing = run_module("sark_alert_info", dict(args, presets=["error_rate_5m"], fail_on_breach=True))
    assert failing.failed and "Runbook thresholds breached: error_rate_5m" in failing["msg"]
    custom = run_module("sark_alert_info", dict(conn(stack), sources=["prometheus"], query="scalar(vector(5))", threshold=1))
    assert custom["queries"]["custom"]["result_type"] == "scalar" and custom["queries"]["custom"]["verdict"] == "breach"
    bad = run_module("sark_alert_info", dict(conn(stack), sources=["prometheus"], query="sum(rate(x[5m]"))
    assert bad.failed and bad["status"] == 400 and "Prometheus GET" in bad["msg"] and "parse error" in bad["msg"]


def test_range_queries(run_module, stack):
    prom = stack["prometheus"]
    # the module's range ends on a 30 s step boundary: wait until the rate at the last boundary has both series (two
    # scrapes inside its 1 m window), not merely until the counters were scraped once (a fresh Prometheus has not)
    wait_for(lambda: len(get_json(prom.url + "/api/v1/query", query="sum by (status) (rate(http_requests_total[1m]))",
                                  time=str(int(time.time()) // 30 * 30))["data"]["result"]) == 2,
             90, "the rate of the exporter's counters at the last 30 s step")
    ranges = [{"name": "requests", "expr": "sum by (status) (rate(http_requests_total[1m]))", "duration": "10m", "step": "30s"},
              {"name": "up", "expr": "up", "duration": "2m", "step": "15s"}]
    args = dict(conn(stack), sources=["prometheus"], range_queries=ranges)
    planned, done = (run_module("sark_alert_info", args, check_mode=True), run_module("sark_alert_info", args))
    for result in (planned, done):  # a read: the same in check mode, nothing changed
        assert not result.failed and not result.changed, result
        requests = result["ranges"]["requests"]
        assert requests["result_type"] == "matrix" and requests["step"] == 30 and requests["end"] % 30 == 0
        assert requests["end"] - requests["start"] == 600
        assert sorted(r["metric"]["status"] for r in requests["result"]) == ["200", "500"]
        assert all(len(r["values"]) >= 1 and float(r["values"][-1][1]) > 0 for r in requests["result"])
        assert result["ranges"]["up"]["series_count"] == 2
    assert done["evidence"]["counts"]["range_queries"] == 2
    too_many = run_module("sark_alert_info", dict(args, range_queries=[{"name": "x", "expr": "up", "duration": "30d", "step": "10s"}]))
    assert too_many.failed and "at most 11000" in too_many["msg"]
    twice = run_module("sark_alert_info", dict(args, range_queries=[ranges[1], ranges[1]]))
    assert twice.failed and "unique" in twice["msg"]
    bad = run_module("sark_alert_info", dict(args, range_queries=[{"name": "x", "expr": "up", "step": "often"}]))
    assert bad.failed and "not a duration" in bad["msg"]
    unparsable = run_module("sark_alert_info", dict(args, range_queries=[{"name": "x", "expr": "sum(rate(x[5m]"}]))
    assert unparsable.failed and unparsable["status"] == 400


def test_silence_lifecycle(run_module, stack, expire_all):
    am = stack["alertmanager"]
    args = {"alertmanager_url": am.url, "matchers": MATCHERS, "comment": COMMENT, "created_by": "ops@example.com",
            "duration": "1h"}
    check = run_module("sark_alert_silence", args, check_mode=True, diff=True)
    assert not check.failed and check.changed and check["action"] == "created", check
    assert check["diff"]["before"] == {} and check["diff"]["after"]["comment"] == COMMENT
    assert check["covered_alerts"] == ["HighErrorRate"] and check["executed_actions"] == []
    assert get_json(am.url + "/api/v2/silences") == []

    created = run_module("sark_alert_silence", args)
    assert created.changed and created["action"] == "created"
    silence_id = created["silence_id"]
    stored = get_json(am.url + "/api/v2/silence/" + silence_id)
    assert stored["status"]["state"] == "active" and stored["createdBy"] == "ops@example.com" and stored["comment"] == COMMENT
    assert sorted((m["name"], m["value"]) for m in stored["matchers"]) == [("alertname", "HighErrorRate"), ("service", "sark")]
    alerts = am_alerts(am)
    assert alerts["HighErrorRate"]["status"]["state"] == "suppressed"
    assert alerts["HighErrorRate"]["status"]["silencedBy"] == [silence_id]
    assert alerts["SarkDiskFilling"]["status"]["state"] == "active"

    # same matchers in another order + same comment = the same silence
    again = run_module("sark_alert_silence", dict(args, matchers=list(reversed(MATCHERS))), diff=True)
    assert not again.changed and again["silence_id"] == silence_id and "diff" not in again
    assert len(get_json(am.url + "/api/v2/silences")) == 1

    info = run_module("sark_alert_info", dict(conn(stack), sources=["alertmanager"]))
    am_info = {a["alertname"]: a for a in info["alertmanager_alerts"]}
    assert am_info["HighErrorRate"]["state"] == "suppressed" and am_info["HighErrorRate"]["silenced_by"] == [silence_id]
    assert info["firing"] == ["SarkDiskFilling"]

    extend = dict(args, duration="2h")
    check = run_module("sark_alert_silence", extend, check_mode=True, diff=True)
    assert check.changed and check["action"] == "extended" and check["diff"]["before"]["ends_at"] != check["diff"]["after"]["ends_at"]
    assert get_json(am.url + "/api/v2/silence/" + silence_id)["endsAt"] == stored["endsAt"]
    extended = run_module("sark_alert_silence", extend)
    assert extended.changed and extended["action"] == "extended"
    live = [s for s in get_json(am.url + "/api/v2/silences") if s["status"]["state"] == "active"]
    assert len(live) == 1
    start = live[0]["startsAt"]
    assert live[0]["endsAt"][:16] > stored["endsAt"][:16] and live[0]["startsAt"] == start
    assert not run_module("sark_alert_silence", extend).changed

    expire = {"alertmanager_url": am.url, "silence_id": live[0]["id"], "state": "absent"}
    check = run_module("sark_alert_silence", expire, check_mode=True, diff=True)
    assert check.changed and check["diff"]["after"]["state"] == "expired" and check["diff"]["before"]["state"] == "active"
    assert get_json(am.url + "/api/v2/silence/" + live[0]["id"])["status"]["state"] == "active"
    expired = run_module("sark_alert_silence", expire)
    assert expired.changed and expired["action"] == "expired"
    assert get_json(am.url + "/api/v2/silence/" + live[0]["id"])["status"]["state"] == "expired"
    assert am_alerts(am)["HighErrorRate"]["status"]["state"] == "active"
    assert not run_module("sark_alert_silence", expire).changed
    assert not run_module("sark_alert_silence", dict(args, state="absent")).changed


def test_silence_bad_input(run_module, stack):
    am = stack["alertmanager"]
    nameless, unknown, no_comment, bad_duration = run_parallel(
        run_module,
        ("sark_alert_silence", {"alertmanager_url": am.url, "comment": COMMENT,
                                "matchers": [{"name": "alertname", "value": "X"}, {"value": "sark"}]}, {}),
        ("sark_alert_silence", {"alertmanager_url": am.url, "silence_id": "00000000-0000-0000-0000-000000000000",
                                "state": "absent"}, {}),
        ("sark_alert_silence", {"alertmanager_url": am.url, "matchers": MATCHERS}, {}),
        ("sark_alert_silence", {"alertmanager_url": am.url, "matchers": MATCHERS, "comment": "x", "duration": "soon"}, {}))
    assert nameless.failed and "matchers[1] has no name" in nameless["msg"]
    assert unknown.failed and "no silence with id 00000000-0000-0000-0000-000000000000" in unknown["msg"]
    assert no_comment.failed and "comment is required" in no_comment["msg"]
    assert bad_duration.failed and "not a duration" in bad_duration["msg"]
    assert get_json(am.url + "/api/v2/silences") == [] or all(
        s["status"]["state"] == "expired" for s in get_json(am.url + "/api/v2/silences"))


def test_api_errors_are_clear(run_module, fake):
    fake.reset()
    fake.require_token("good-token")
    expired = run_module("sark_alert_info", {"prometheus_url": fake.url, "prometheus_token": "old-token"})
    assert expired.failed and expired["status"] == 401
    assert "prometheus_token (or PROMETHEUS_TOKEN)" in expired["msg"] and "old-token" not in expired["_stdout"]
    fake.reset()
    fake.fail_next(500, count=10)
    broken = run_module("sark_alert_silence", {"alertmanager_url": fake.url, "matchers": MATCHERS, "comment": COMMENT,
                                               "alertmanager_retries": 2, "alertmanager_backoff": 0.01})
    assert broken.failed and broken["status"] == 500 and "still failed after 2 retries" in broken["msg"]
    assert "Alertmanager GET" in broken["msg"] and len(fake.received()) == 3
    fake.reset()


PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/sark.ops.prometheus:
      prometheus_url: "{{ prometheus_url }}"
    group/sark.ops.alertmanager:
      alertmanager_url: "{{ alertmanager_url }}"
  tasks:
    - name: View active alerts and judge the p95 preset
      sark.ops.sark_alert_info:
        severity: [critical]
        presets: [p95_latency_5m]
      register: info
    - name: Plan a silence (check mode, diff)
      sark.ops.sark_alert_silence:
        matchers: [{name: alertname, value: HighErrorRate}]
        comment: playbook check
      check_mode: true
      diff: true
      register: planned
    - ansible.builtin.assert:
        that:
          - "'HighErrorRate' in info.firing"
          - info.queries.p95_latency_5m.threshold == 0.2
          - planned is changed
          - planned.action == 'created'
          - planned.covered_alerts == ['HighErrorRate']
"""


@pytest.mark.slow
def test_action_groups_in_a_playbook(playbook, stack):
    """module_defaults on group/sark.ops.prometheus and group/sark.ops.alertmanager reach the modules (meta/runtime.yml)."""
    result = playbook(PLAY, extravars={"prometheus_url": stack["prometheus"].url, "alertmanager_url": stack["alertmanager"].url})
    assert result.rc == 0, result.stdout_text[-3000:]
    assert get_json(stack["alertmanager"].url + "/api/v2/silences") == [] or all(
        s["comment"] != "playbook check" for s in get_json(stack["alertmanager"].url + "/api/v2/silences"))
