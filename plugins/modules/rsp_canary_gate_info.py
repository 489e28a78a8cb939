#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: rsp_canary_gate_info
short_description: The error-rate gate of a Rust Security Platform canary step, read from Prometheus
version_added: 0.3.0
description:
  - Seed 003's canary deployment says "Monitor metrics - error rates" between two weight steps. This module reads, from
    Prometheus, how many requests the canary's series answered over O(window) and how many of them were errors
    (status matching O(error_status_regex)), and judges the share against O(threshold).
  - V(fail) when at least O(min_requests) requests were seen and the error share is above O(threshold);
    V(insufficient) when fewer requests reached the canary (nothing proves it works, so the gate does not pass);
    V(pass) otherwise.
  - With O(observe_seconds), it judges every O(interval_seconds) over that time and stops at the first V(fail), so a
    bad canary is rolled back as soon as it shows; otherwise the last judgement counts.
  - The metric and the name of its status label follow the layout - V(runbook) C(http_requests_total) with C(status),
    V(rsp_code) C(auth_http_requests_total) with C(status_code) - unless O(metric) and O(status_label) are given.
  - Never changes anything; used by the role C(sark.ops.rsp_deploy) after each canary step.
options:
  selector:
    description:
      - "Labels (exact values) that pick the canary's series only, for example V({job: auth-service-canary}) when
        Prometheus scrapes the canary Service as its own job."
    type: dict
    required: true
  metric:
    description: The request counter. Default - the layout's (C(http_requests_total) or C(auth_http_requests_total)).
    type: str
  status_label:
    description: The counter's label with the HTTP status. Default - the layout's (C(status) or C(status_code)).
    type: str
  error_status_regex:
    description: The statuses that count as errors (a PromQL regular expression).
    type: str
    default: "5.."
  window:
    description: The range over which requests and errors are counted (C(increase(...[window]))), e.g. V(1m).
    type: str
    default: 1m
  threshold:
    description: The largest share of errors that passes (V(0.05) = 5 %).
    type: float
    default: 0.05
  min_requests:
    description: Fewer requests than this over the window are V(insufficient) (never a pass).
    type: int
    default: 20
  observe_seconds:
    description: How long to keep judging (0 - once, now).
    type: float
    default: 0
  interval_seconds:
    description: Seconds between two judgements while observing.
    type: float
    default: 10
notes:
  - The RSP connection options (O(rsp_auth_url), O(rsp_policy_url), ...) are accepted so that C(module_defaults) of
    C(group/sark.ops.rsp) apply to this module too; the gate reads Prometheus only.
attributes:
  action_group:
    description:
      - Use C(group/sark.ops.rsp) in C(module_defaults) to set the layout and Prometheus once.
      - Not in C(group/sark.ops.prometheus) - its layout values are RSP's (V(runbook), V(rsp_code)), so a SARK layout set
        for the Prometheus group (V(sark_v2)) must not reach it.
    support: full
    membership:
      - sark.ops.rsp
extends_documentation_fragment:
  - sark.ops.prometheus
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
seealso:
  - module: sark.ops.rsp_health_info
  - module: sark.ops.sark_alert_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Error-rate gate of the canary at 10 %
  sark.ops.rsp_canary_gate_info:
    prometheus_url: http://prometheus.monitoring:9090
    selector: {job: auth-service-canary}
    window: 2m
    threshold: 0.01
    min_requests: 50
    observe_seconds: 120
    interval_seconds: 15
  register: gate
- name: Roll back when the gate fails
  ansible.builtin.debug:
    msg: "{{ gate.reason }}"
  when: not gate.passed
'''

RETURN = r'''
passed:
  description: Whether the canary may take the next step.
  returned: always
  type: bool
  sample: true
verdict:
  description: V(pass), V(fail) or V(insufficient).
  returned: always
  type: str
  sample: pass
reason:
  description: One sentence with the figures.
  returned: always
  type: str
  sample: "error rate 0.00% of 84 requests is within 5.00%"
error_rate:
  description: Errors per request over the window of the last judgement (null without requests).
  returned: always
  type: float
  sample: 0.0
requests:
  description: Requests the canary answered over the window (Prometheus' C(increase), so not always whole).
  returned: always
  type: float
  sample: 84.0
errors:
  description: Of those, the errors.
  returned: always
  type: float
  sample: 0.0
checks:
  description: Every judgement made while observing (C(verdict), C(error_rate), C(requests), C(errors)), oldest first.
  returned: always
  type: list
  elements: dict
queries:
  description: The two PromQL expressions read (C(requests), C(errors)).
  returned: always
  type: dict
  sample: {"requests": "sum(increase(http_requests_total{job=\"auth-service-canary\"}[1m]))"}
layout:
  description: The layout whose metric names were used.
  returned: always
  type: str
  sample: runbook
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._alerting import instant_query, prometheus_argument_spec, prometheus_client
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._rsp import layout_of, rsp_argument_spec, rsp_layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._rsp_deploy import error_rate_queries, observe

MAX_OBSERVE_SECONDS = 3600


def read_counts(client, queries):
    """(requests, errors) of the two queries; a series that does not exist yet counts 0."""
    values = []
    for expr in queries:
        _kind, samples = instant_query(client, expr)
        values.append(sum(s["value"] for s in samples if s["value"] is not None))
    return values[0], values[1]


def run(module):
    params = module.params
    layout = layout_of(params)
    if not 0 <= params["observe_seconds"] <= MAX_OBSERVE_SECONDS:
        raise SarkValidationError("observe_seconds must be 0-%d" % MAX_OBSERVE_SECONDS)
    if params["min_requests"] < 1:
        raise SarkValidationError("min_requests must be at least 1: a gate over no request proves nothing")
    metric = params["metric"] or layout.fact("request_counter")
    status_label = params["status_label"] or layout.fact("error_status_label")
    requests_q, errors_q = error_rate_queries(metric, params["selector"], status_label, params["window"], params["error_status_regex"])
    client = prometheus_client(params)

    def read():
        module.evidence.count("queries", 2)
        return read_counts(client, (requests_q, errors_q))

    verdict, checks = observe(read, params["threshold"], params["min_requests"], params["observe_seconds"], params["interval_seconds"])
    module.evidence.set_count("checks", len(checks))
    return dict(verdict, checks=[{k: c[k] for k in ("verdict", "error_rate", "requests", "errors")} for c in checks],
                queries={"requests": requests_q, "errors": errors_q}, layout=layout.name)


def main():
    spec = dict(selector=dict(type="dict", required=True),
                metric=dict(type="str"),
                status_label=dict(type="str"),
                error_status_regex=dict(type="str", default="5.."),
                window=dict(type="str", default="1m"),
                threshold=dict(type="float", default=0.05),
                min_requests=dict(type="int", default=20),
                observe_seconds=dict(type="float", default=0),
                interval_seconds=dict(type="float", default=10))
    sark_main(run, spec, (prometheus_argument_spec, rsp_layout_argument_spec, rsp_argument_spec))


if __name__ == "__main__":
    main()
