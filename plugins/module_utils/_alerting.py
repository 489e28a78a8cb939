# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus and Alertmanager for sark.ops (private): connections, the runbooks' PromQL presets and
their thresholds, alert summaries, and the silence identity used for idempotence.
"""

import datetime
import math
import re

from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkValidationError

# The runbooks' expressions, verbatim where they give one, with the thresholds they judge them by.
PRESETS = {
    "error_rate_24h": {
        "expr": 'sum(rate(http_requests_total{status=~"5.*"}[24h]))/sum(rate(http_requests_total[24h]))',
        "threshold": 0.001, "unit": "ratio",
        "source": "runbook 000 daily checklist (error rate, last 24h); threshold < 0.1% (AUDITRON SLO)"},
    "error_rate_5m": {
        "expr": 'rate(http_requests_total{status=~"5.."}[5m])',
        "threshold": 0.001, "unit": "per_second",
        "source": "runbook 002 Phase 3 / post-incident check (rate(...) < 0.001)"},
    "error_ratio_5m": {
        "expr": 'sum(rate(http_requests_total{status=~"5.."}[5m]))/sum(rate(http_requests_total[5m]))',
        "threshold": 0.001, "unit": "ratio",
        "source": "share of 5xx responses over 5 minutes; threshold < 0.1% (AUDITRON SLO)"},
    "p95_latency_5m": {
        "expr": "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))",
        "threshold": 0.2, "unit": "seconds",
        "source": "runbook 002 Phase 3 / post-incident check (p95 < 200 ms)"},
    "error_ratio_7d": {
        "expr": 'sum(rate(http_requests_total{status=~"5.."}[7d]))/sum(rate(http_requests_total[7d]))',
        "threshold": 0.001, "unit": "ratio",
        "source": "runbook 000 weekly tasks (error rate trend of the previous week); threshold < 0.1% (AUDITRON SLO)"},
    "p95_latency_7d": {
        "expr": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[7d])))",
        "threshold": 0.2, "unit": "seconds",
        "source": "runbook 000 weekly tasks (performance degradation over the previous week; p95 < 200 ms)"},
}
DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_UNITS = (7 * 86400, 86400, 3600, 60, 1)
MAX_SILENCE_SECONDS = 90 * 86400


def prometheus_argument_spec():
    return http_argument_spec("prometheus", "PROMETHEUS")


def alertmanager_argument_spec():
    return http_argument_spec("alertmanager", "ALERTMANAGER")


def prometheus_client(params, **kwargs):
    return HttpClient.from_params(params, "prometheus", "PROMETHEUS", "Prometheus", **kwargs)


def alertmanager_client(params, **kwargs):
    return HttpClient.from_params(params, "alertmanager", "ALERTMANAGER", "Alertmanager", **kwargs)


def parse_duration(text, option="duration"):
    """'1h', '90m', '1h30m', '2d' or plain seconds -> seconds (int)."""
    value = str(text or "").strip()
    if value.isdigit():
        seconds = int(value)
    else:
        match = DURATION.match(value)
        if not value or not match or not any(match.groups()):
            raise SarkValidationError("%s %r is not a duration such as 30m, 1h, 1h30m or 2d" % (option, text))
        seconds = sum(int(part) * unit for part, unit in zip(match.groups(), DURATION_UNITS) if part)
    if seconds <= 0:
        raise SarkValidationError("%s must be longer than 0 seconds" % option)
    if seconds > MAX_SILENCE_SECONDS:
        # also keeps the end time inside what a date can hold (a typo of 999999999h was an OverflowError)
        raise SarkValidationError("%s %r is longer than %d days, the most a silence may last" % (option, text, MAX_SILENCE_SECONDS // 86400))
    return seconds


def parse_time(text, option="time"):
    """RFC 3339 as Alertmanager writes it (nanoseconds, Z or an offset) -> aware datetime."""
    if isinstance(text, datetime.datetime):
        return text if text.tzinfo else text.replace(tzinfo=datetime.timezone.utc)
    match = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", str(text or "").strip())
    if not match:
        raise SarkValidationError("%s %r is not an RFC 3339 time such as 2025-11-22T10:00:00Z" % (option, text))
    day, clock, fraction, zone = match.groups()
    moment = datetime.datetime.strptime("%sT%s" % (day, clock), "%Y-%m-%dT%H:%M:%S")
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    offset = datetime.timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(tzinfo=datetime.timezone(offset)).astimezone(datetime.timezone.utc)


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- queries

def sample_value(raw):
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def instant_query(client, expr):
    """Samples [{labels, value}] of an instant query (vector or scalar)."""
    body = client.get_json("/api/v1/query", query={"query": expr}) or {}
    if body.get("status") != "success":
        raise SarkAPIError("Prometheus could not run %r: %s" % (expr, body.get("error") or body))
    data = body.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        return kind, [{"labels": {}, "value": sample_value(result[1]) if result else None}]
    if kind == "vector":
        return kind, [{"labels": item.get("metric") or {}, "value": sample_value((item.get("value") or [None, None])[1])}
                      for item in result or []]
    raise SarkValidationError("Query %r returned a %s; give an instant vector or scalar expression" % (expr, kind))


MAX_RANGE_QUERIES = 10
MAX_RANGE_POINTS = 11000  # Prometheus refuses more points per series (its own limit)
MAX_RANGE_SERIES = 20


def range_query(client, expr, duration, step, end=None, max_series=MAX_RANGE_SERIES):
    """A range query (GET /api/v1/query_range) over the `duration` before `end` (now) every `step`:
    {expr, start, end, step, result_type, series_count, truncated, result: [{metric, values: [[unix time, "value"]]}]}."""
    seconds = parse_duration(duration, "duration")
    step_seconds = parse_duration(step, "step")
    if seconds / step_seconds > MAX_RANGE_POINTS:
        raise SarkValidationError("a range of %s every %s is %d points; at most %d (take a longer step)"
                                  % (duration, step, seconds // step_seconds, MAX_RANGE_POINTS))
    end = float(end if end is not None else datetime.datetime.now(datetime.timezone.utc).timestamp())
    end -= end % step_seconds  # aligned steps: the same query at the same minute draws the same points
    start = end - seconds
    query = {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end, "step": str(step_seconds)}
    body = client.get_json("/api/v1/query_range", query=query) or {}
    if body.get("status") != "success":
        raise SarkAPIError("Prometheus could not run the range query %r: %s" % (expr, body.get("error") or body))
    data = body.get("data") or {}
    if data.get("resultType") != "matrix":
        raise SarkValidationError("Range query %r returned a %s; give an instant vector expression" % (expr, data.get("resultType")))
    result = data.get("result") or []
    return {"expr": expr, "start": start, "end": end, "step": step_seconds, "result_type": "matrix",
            "series_count": len(result), "truncated": len(result) > max_series,
            "result": [{"metric": item.get("metric") or {}, "values": item.get("values") or []} for item in result[:max_series]]}


def judge(samples, threshold):
    """ok (every sample below the threshold), breach, or no_data; the worst value."""
    values = [s["value"] for s in samples if s["value"] is not None]
    if not values:
        return "no_data", None
    worst = max(values)
    if threshold is None:
        return "unjudged", worst
    return ("ok" if worst < threshold else "breach"), worst


# ---------------------------------------------------------------- alerts

def prometheus_alert(item):
    labels = item.get("labels") or {}
    return {"alertname": labels.get("alertname"), "severity": labels.get("severity"), "state": item.get("state"),
            "labels": labels, "annotations": item.get("annotations") or {}, "active_at": item.get("activeAt"),
            "value": item.get("value")}


def alertmanager_alert(item):
    labels = item.get("labels") or {}
    status = item.get("status") or {}
    return {"alertname": labels.get("alertname"), "severity": labels.get("severity"), "state": status.get("state"),
            "silenced_by": status.get("silencedBy") or [], "inhibited_by": status.get("inhibitedBy") or [],
            "labels": labels, "annotations": item.get("annotations") or {}, "starts_at": item.get("startsAt"),
            "ends_at": item.get("endsAt"), "fingerprint": item.get("fingerprint"),
            "receivers": [r.get("name") for r in item.get("receivers") or []]}


# ---------------------------------------------------------------- silences

def normalize_matchers(matchers):
    """Validated matchers in Alertmanager's shape, sorted, so the same set compares equal."""
    if not matchers:
        raise SarkValidationError("matchers is empty: a silence needs at least one matcher, e.g. "
                                  "[{name: alertname, value: HighErrorRate}]")
    clean = []
    for index, matcher in enumerate(matchers):
        name = (matcher.get("name") or "").strip()
        if not name:
            raise SarkValidationError("matchers[%d] has no name: every matcher needs a label name and a value, e.g. "
                                      "{name: alertname, value: HighErrorRate}" % index)
        value = matcher.get("value")
        if value is None:
            raise SarkValidationError("matchers[%d] (%s) has no value" % (index, name))
        is_regex = bool(matcher.get("is_regex", matcher.get("isRegex", False)))
        if is_regex:
            try:
                re.compile(str(value))
            except re.error as exc:
                raise SarkValidationError("matchers[%d] (%s) is not a valid regular expression: %s" % (index, name, exc)) from exc
        is_equal = matcher.get("is_equal", matcher.get("isEqual", True))
        clean.append({"name": name, "value": str(value), "isRegex": is_regex, "isEqual": True if is_equal is None else bool(is_equal)})
    return sorted(clean, key=lambda m: (m["name"], m["value"], m["isRegex"], m["isEqual"]))


def silence_key(matchers, comment):
    return (tuple((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in normalize_matchers(matchers)), comment or "")


def matcher_filter(matchers):
    """Alertmanager's ?filter= syntax for the matchers (to list the alerts a silence covers)."""
    ops = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
    return ['%s%s"%s"' % (m["name"], ops[(m["isRegex"], m["isEqual"])], m["value"].replace("\\", "\\\\").replace('"', '\\"'))
            for m in matchers]


def silence_summary(silence):
    if not silence:
        return None
    return {"id": silence.get("id"), "state": (silence.get("status") or {}).get("state"),
            "matchers": normalize_matchers(silence.get("matchers") or []) if silence.get("matchers") else [],
            "starts_at": silence.get("startsAt"), "ends_at": silence.get("endsAt"),
            "created_by": silence.get("createdBy"), "comment": silence.get("comment")}


class Silences:
    """Alertmanager's silence API (v2)."""

    LIVE = ("active", "pending")

    def __init__(self, client):
        self.client = client

    def list(self):
        return self.client.get_json("/api/v2/silences") or []

    def get(self, silence_id):
        response = self.client.request("GET", "/api/v2/silence/" + silence_id, expect=(200, 404))
        return response.json() if response.status == 200 else None

    def find(self, matchers, comment):
        """Live silences with exactly these matchers and this comment, newest end first."""
        key = silence_key(matchers, comment)
        found = [s for s in self.list() if (s.get("status") or {}).get("state") in self.LIVE
                 and silence_key(s.get("matchers") or [], s.get("comment")) == key]
        return sorted(found, key=lambda s: s.get("endsAt") or "", reverse=True)

    def save(self, body):
        response = self.client.request("POST", "/api/v2/silences", json_body=body)
        return (response.json() or {}).get("silenceID")

    def expire(self, silence_id):
        self.client.request("DELETE", "/api/v2/silence/" + silence_id)

    def covered_alerts(self, matchers):
        alerts = self.client.get_json("/api/v2/alerts", query=[("filter", f) for f in matcher_filter(matchers)]) or []
        return [alertmanager_alert(a) for a in alerts]
