#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_alert_info
short_description: Read firing alerts from Prometheus and Alertmanager and judge the runbooks' PromQL checks
version_added: 0.1.0
description:
  - Reads the alerts Prometheus evaluates (C(GET /api/v1/alerts), the runbook's "View Active Alerts" and daily
    checklist step) and the alerts Alertmanager holds (C(GET /api/v2/alerts)), with their silenced and inhibited
    state (C(status.state=suppressed), C(silencedBy), C(inhibitedBy)).
  - Runs instant PromQL queries (C(GET /api/v1/query)) - your own O(query) and the runbooks' checks as named
    O(presets) - and judges each against its runbook threshold (every sample must be below it).
  - Presets - V(error_rate_24h) is the daily checklist's share of 5xx responses over 24 hours, V(error_rate_5m)
    is runbook 002's C(rate(http_requests_total{status=~"5.."}[5m])) (5xx per second, per series),
    V(error_ratio_5m) the share of 5xx over 5 minutes, all judged against 0.001 (error rate < 0.1%, the AUDITRON SLO);
    V(p95_latency_5m) is runbook 002's C(histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m])))
    judged against 0.2 seconds (p95 < 200 ms). V(error_ratio_7d) and V(p95_latency_7d) are the same checks over the
    previous week, for the weekly review of error-rate trends and performance degradation.
options:
  sources:
    description:
      - Where to read alerts from. Default - every source whose URL is set.
    type: list
    elements: str
    choices: [prometheus, alertmanager]
  filter:
    description:
      - Alert names to include (shell wildcards) or, with a leading C(!), exclude.
    type: list
    elements: str
    default: []
  severity:
    description:
      - Only alerts whose C(severity) label is one of these.
    type: list
    elements: str
    default: []
  include_pending:
    description:
      - Also return Prometheus alerts that are still V(pending) (their C(for) has not elapsed); by default only V(firing).
    type: bool
    default: false
  include_suppressed:
    description:
      - Also return Alertmanager alerts that are silenced or inhibited (V(suppressed)); they are counted either way.
    type: bool
    default: true
  presets:
    description:
      - Runbook PromQL checks to run and judge, see the description. Needs O(prometheus_url).
    type: list
    elements: str
    choices: [error_rate_24h, error_rate_5m, error_ratio_5m, error_ratio_7d, p95_latency_5m, p95_latency_7d]
    default: []
    aliases: [preset]
  query:
    description:
      - An instant PromQL query of your own, returned as C(queries.custom).
    type: str
  threshold:
    description:
      - Judge O(query) against this value (every sample must be below it).
    type: float
  fail_on_breach:
    description:
      - Fail the task when a judged query breaches its threshold.
    type: bool
    default: false
  max_results:
    description:
      - At most this many alerts are returned per source (all are counted).
    type: int
    default: 500
    version_added: 0.2.0
  range_queries:
    description:
      - Range queries (C(GET /api/v1/query_range)) to return as C(ranges), e.g. the trends of a checklist's report
        (the P(sark.ops.prom_series#filter) filter turns each into chart series). At most 10, each at most 11,000
        points (Prometheus' own limit) and 20 series. Needs O(prometheus_url).
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
    suboptions:
      name:
        description: The key of this query in C(ranges).
        type: str
        required: true
      expr:
        description: The PromQL expression.
        type: str
        required: true
      duration:
        description: How far back from now, e.g. V(24h), V(7d).
        type: str
        default: 24h
      step:
        description: The resolution, e.g. V(15m).
        type: str
        default: 15m
extends_documentation_fragment:
  - sark.ops.prometheus
  - sark.ops.alertmanager
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Firing alerts (runbook "View Active Alerts") and the daily error-rate check
  sark.ops.sark_alert_info:
    prometheus_url: http://prometheus:9090
    alertmanager_url: http://alertmanager:9093
    presets: [error_rate_24h, p95_latency_5m]
  register: alerts

- name: Critical alerts only, failing the play when a runbook threshold is breached
  sark.ops.sark_alert_info:
    prometheus_url: http://prometheus:9090
    severity: [critical]
    presets: [error_ratio_5m, p95_latency_5m]
    fail_on_breach: true

- name: Post-incident check with an expression of your own
  sark.ops.sark_alert_info:
    prometheus_url: http://prometheus:9090
    sources: [prometheus]
    query: sum(rate(http_requests_total{status="429"}[5m]))
    threshold: 1

- name: The 5xx share of the last 24 hours every 15 minutes, for a report's trend
  sark.ops.sark_alert_info:
    prometheus_url: http://prometheus:9090
    sources: [prometheus]
    range_queries:
      - name: error_ratio
        expr: sum(rate(http_requests_total{status=~"5.."}[15m])) / sum(rate(http_requests_total[15m]))
        duration: 24h
        step: 15m
  register: trends

- name: Show the alert names
  ansible.builtin.debug:
    msg: "{{ alerts.prometheus_alerts | map(attribute='alertname') | list }}"
'''

RETURN = r'''
prometheus_alerts:
  description:
    - Prometheus alerts - C(alertname), C(severity), C(state) (V(firing) or V(pending)), C(labels), C(annotations),
      C(active_at), C(value).
  returned: when Prometheus is a source
  type: list
  elements: dict
  sample: [{"alertname": "HighErrorRate", "severity": "critical", "state": "firing"}]
alertmanager_alerts:
  description:
    - Alertmanager alerts - C(alertname), C(severity), C(state) (V(active), V(suppressed) or V(unprocessed)),
      C(silenced_by), C(inhibited_by), C(labels), C(annotations), C(starts_at), C(ends_at), C(fingerprint), C(receivers).
  returned: when Alertmanager is a source
  type: list
  elements: dict
  sample: [{"alertname": "HighErrorRate", "state": "suppressed", "silenced_by": ["5f0e..."]}]
counts:
  description: Alerts per source and state, before O(max_results) is applied, after the filters.
  returned: always
  type: dict
  sample: {"prometheus": {"firing": 2, "pending": 1}, "alertmanager": {"active": 1, "suppressed": 1}}
firing:
  description: Names of alerts that are firing in Prometheus or active (not suppressed) in Alertmanager.
  returned: always
  type: list
  elements: str
  sample: ["HighErrorRate"]
queries:
  description:
    - Per preset name (and V(custom) for O(query)) - C(expr), C(result_type), C(samples) (C(labels), C(value)),
      C(threshold), C(unit), C(source), C(worst) (the highest value) and C(verdict) (V(ok), V(breach), V(no_data)
      or V(unjudged)).
  returned: when O(presets) or O(query) is given
  type: dict
  sample: {"p95_latency_5m": {"verdict": "ok", "worst": 0.19, "threshold": 0.2}}
ranges:
  description:
    - Per O(range_queries) name - C(expr), C(start), C(end) and C(step) (unix seconds; C(end) aligned to the step),
      C(result_type) (V(matrix)), C(series_count), C(truncated) and C(result) (C([{metric, values=[[time, value]]}]),
      Prometheus' own shape, at most 20 series).
  returned: when O(range_queries) is given
  type: dict
  sample: {"error_ratio": {"step": 900, "series_count": 1, "result": [{"metric": {}, "values": [[1764000000, "0.0004"]]}]}}
  version_added: 0.3.0
breaches:
  description: Names of the queries whose verdict is V(breach).
  returned: always
  type: list
  elements: str
  sample: []
truncated:
  description: Whether O(max_results) cut a list short.
  returned: always
  type: bool
  sample: false
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._alerting import (
    MAX_RANGE_QUERIES, PRESETS, alertmanager_alert, alertmanager_argument_spec, alertmanager_client, instant_query, judge,
    prometheus_alert, prometheus_argument_spec, prometheus_client, range_query,
)
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError, match_filter, sark_main


def selected(alerts, params):
    names = [a["alertname"] or "" for a in alerts]
    keep = set(match_filter(names, params["filter"])) if params["filter"] else set(names)
    severities = set(params["severity"])
    return [a for a in alerts if (a["alertname"] or "") in keep and (not severities or a["severity"] in severities)]


def count_states(alerts):
    counts = {}
    for alert in alerts:
        counts[alert["state"]] = counts.get(alert["state"], 0) + 1
    return counts


def read_prometheus_alerts(module, client, result):
    body = client.get_json("/api/v1/alerts") or {}
    alerts = selected([prometheus_alert(a) for a in (body.get("data") or {}).get("alerts") or []], module.params)
    result["counts"]["prometheus"] = count_states(alerts)
    wanted = ("firing", "pending") if module.params["include_pending"] else ("firing",)
    alerts = [a for a in alerts if a["state"] in wanted]
    return alerts


def read_alertmanager_alerts(module, client, result):
    alerts = selected([alertmanager_alert(a) for a in client.get_json("/api/v2/alerts") or []], module.params)
    result["counts"]["alertmanager"] = count_states(alerts)
    if not module.params["include_suppressed"]:
        alerts = [a for a in alerts if a["state"] != "suppressed"]
    return alerts


def run_queries(module, client):
    params = module.params
    wanted = [(name, dict(PRESETS[name])) for name in params["presets"]]
    if params["query"]:
        wanted.append(("custom", {"expr": params["query"], "threshold": params["threshold"], "unit": None, "source": "query option"}))
    queries = {}
    for name, spec in wanted:
        kind, samples = instant_query(client, spec["expr"])
        verdict, worst = judge(samples, spec["threshold"])
        queries[name] = dict(spec, result_type=kind, samples=samples[:100], sample_count=len(samples), verdict=verdict, worst=worst)
        module.evidence.count("queries")
    return queries


def run(module):
    params = module.params
    if params["threshold"] is not None and not params["query"]:
        raise SarkValidationError("threshold judges query: set query too (presets carry their own thresholds)")
    if params["max_results"] < 1:
        raise SarkValidationError("max_results must be 1 or more, got %s" % params["max_results"])
    sources = params["sources"]
    if sources is None:
        sources = [s for s in ("prometheus", "alertmanager") if params[s + "_url"]]
        if not sources:
            raise SarkValidationError("Set prometheus_url (or PROMETHEUS_URL) and/or alertmanager_url (or ALERTMANAGER_URL)")
    if (params["presets"] or params["query"] or params["range_queries"]) and "prometheus" not in sources and not params["prometheus_url"]:
        raise SarkValidationError("presets, query and range_queries run on Prometheus: set prometheus_url (or PROMETHEUS_URL)")
    names = [q["name"] for q in params["range_queries"]]
    if len(names) > MAX_RANGE_QUERIES:
        raise SarkValidationError("at most %d range_queries, got %d" % (MAX_RANGE_QUERIES, len(names)))
    if len(set(names)) != len(names):
        raise SarkValidationError("range_queries names must be unique, got %s" % ", ".join(names))

    result = {"changed": False, "counts": {}, "truncated": False, "firing": [], "breaches": []}
    limit = params["max_results"]
    prometheus = (prometheus_client(params) if "prometheus" in sources or params["presets"] or params["query"]
                  or params["range_queries"] else None)
    if "prometheus" in sources:
        alerts = read_prometheus_alerts(module, prometheus, result)
        result["truncated"] = len(alerts) > limit
        result["prometheus_alerts"] = alerts[:limit]
        result["firing"].extend(a["alertname"] for a in alerts if a["state"] == "firing")
    if "alertmanager" in sources:
        alerts = read_alertmanager_alerts(module, alertmanager_client(params), result)
        result["truncated"] = result["truncated"] or len(alerts) > limit
        result["alertmanager_alerts"] = alerts[:limit]
        result["firing"].extend(a["alertname"] for a in alerts if a["state"] == "active")
    result["firing"] = sorted(set(n for n in result["firing"] if n))
    if params["presets"] or params["query"]:
        result["queries"] = run_queries(module, prometheus)
        result["breaches"] = sorted(name for name, q in result["queries"].items() if q["verdict"] == "breach")
    if params["range_queries"]:
        result["ranges"] = {}
        for spec in params["range_queries"]:
            result["ranges"][spec["name"]] = range_query(prometheus, spec["expr"], spec["duration"], spec["step"])
            module.evidence.count("range_queries")
    module.evidence.set_count("firing", len(result["firing"]))
    if result["breaches"] and params["fail_on_breach"]:
        details = ", ".join("%s worst %s (threshold %s)" % (n, result["queries"][n]["worst"], result["queries"][n]["threshold"])
                            for n in result["breaches"])
        raise SarkPreconditionError("Runbook thresholds breached: %s" % details, **result)
    return result


def main():
    spec = dict(
        sources=dict(type="list", elements="str", choices=["prometheus", "alertmanager"]),
        filter=dict(type="list", elements="str", default=[]),
        severity=dict(type="list", elements="str", default=[]),
        include_pending=dict(type="bool", default=False),
        include_suppressed=dict(type="bool", default=True),
        presets=dict(type="list", elements="str", default=[], choices=sorted(PRESETS), aliases=["preset"]),
        query=dict(type="str"),
        threshold=dict(type="float"),
        fail_on_breach=dict(type="bool", default=False),
        max_results=dict(type="int", default=500),
        range_queries=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            expr=dict(type="str", required=True),
            duration=dict(type="str", default="24h"),
            step=dict(type="str", default="15m"),
        )),
    )
    sark_main(run, spec, (prometheus_argument_spec, alertmanager_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
