# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployments of the Rust Security Platform (seed 003, "Deployment Procedures"), private: the canary's weight steps
and its VirtualService routes, the Deployments and Service a blue-green or canary release derives from the running
one, and the canary's error-rate gate read from Prometheus. The orchestration is the role sark.ops.rsp_deploy; the
names (Service, VirtualService, canary host, labels, metric names) come from the layout registry in _layout.py.
"""

import copy
import re
import time

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

STRATEGIES = ("rolling", "blue_green", "canary")
DEFAULT_STEPS = (10, 25, 50, 100)
MAX_STEPS = 20
COLORS = ("blue", "green")
MAX_CHECKS = 120
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
WINDOW = re.compile(r"^[0-9]+(ms|s|m|h)$")
# what the API server sets and a derived manifest must not carry over
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "ownerReferences")
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


# --- canary steps and routes ------------------------------------------------------------------------------------

def canary_steps(steps):
    """The canary's weights in percent: whole numbers rising strictly from 1 to a last step of 100."""
    if steps is None or steps == []:
        steps = list(DEFAULT_STEPS)
    if not isinstance(steps, (list, tuple)):
        raise SarkValidationError("canary steps must be a list of percentages, e.g. [10, 25, 50, 100]")
    if len(steps) > MAX_STEPS:
        raise SarkValidationError("%d canary steps; at most %d" % (len(steps), MAX_STEPS))
    out = []
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, (int, str)) or not str(step).strip().isdigit():
            raise SarkValidationError("canary step %r is not a whole percentage (1-100)" % (step,))
        value = int(step)
        if not 1 <= value <= 100:
            raise SarkValidationError("canary step %d is outside 1-100" % value)
        if out and value <= out[-1]:
            raise SarkValidationError("canary steps must rise: %d comes after %d" % (value, out[-1]))
        out.append(value)
    if out[-1] != 100:
        raise SarkValidationError("the last canary step must be 100 (the canary takes all traffic), not %d" % out[-1])
    return out


def _destination(host, weight, port=None):
    dest = {"host": host}
    if port:
        dest["port"] = {"number": int(port)}
    return {"destination": dest, "weight": int(weight)}


def canary_http_routes(stable_host, canary_host, weight, header=None, port=None):
    """spec.http of the VirtualService for one step, as seed 003 patches it: an optional header route (``canary:
    exact "true"``) that always reaches the canary, then the split of the remaining traffic (stable first)."""
    if not stable_host or not canary_host:
        raise SarkValidationError("the stable and the canary host are both needed for the VirtualService routes")
    if stable_host == canary_host:
        raise SarkValidationError("the canary host must differ from the stable host (%s)" % stable_host)
    weight = int(weight)
    if not 0 <= weight <= 100:
        raise SarkValidationError("canary weight %d is outside 0-100" % weight)
    routes = []
    if header and weight > 0:
        routes.append({"match": [{"headers": {header: {"exact": "true"}}}],
                       "route": [{"destination": _destination(canary_host, 0, port)["destination"]}]})
    routes.append({"route": [_destination(stable_host, 100 - weight, port), _destination(canary_host, weight, port)]})
    return routes


def route_weights(virtual_service, stable_host, canary_host):
    """{stable, canary, other} percent of the VirtualService's default route (its last http entry without a match)."""
    http = ((virtual_service or {}).get("spec") or {}).get("http") or []
    default = [r for r in http if not r.get("match")]
    weights = {"stable": 0, "canary": 0, "other": 0}
    if not default:
        return weights
    destinations = default[-1].get("route") or []
    for dest in destinations:
        host = (dest.get("destination") or {}).get("host")
        weight = dest.get("weight", 100 if len(destinations) == 1 else 0)
        key = "stable" if host == stable_host else "canary" if host == canary_host else "other"
        weights[key] += int(weight)
    return weights


# --- derived manifests ------------------------------------------------------------------------------------------

def _clean_metadata(meta, name):
    meta = copy.deepcopy(meta or {})
    for field in SERVER_FIELDS:
        meta.pop(field, None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    meta.pop("deletionTimestamp", None)
    meta["name"] = name
    return meta


def derived_deployment(source, name, label, value, image=None, container=None, replicas=None):
    """The Deployment `name` a release adds next to `source` (the running one): its spec with pod label and selector
    `label`=`value` (blue/green/canary), and `image` on `container` (default: the first container)."""
    if not isinstance(source, dict) or (source.get("kind") or "Deployment") != "Deployment" or "spec" not in source:
        raise SarkValidationError("derived_deployment needs the running Deployment (a k8s_info resource)")
    if not LABEL_NAME.match(label.replace(".", "_").replace("/", "_").replace("-", "_")):
        raise SarkValidationError("%r is not a label key" % label)
    spec = copy.deepcopy(source["spec"])
    spec.pop("paused", None)
    selector = spec.setdefault("selector", {}).setdefault("matchLabels", {})
    selector[label] = value
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta.setdefault("labels", {})[label] = value
    for key, wanted in selector.items():
        template_meta["labels"].setdefault(key, wanted)
    if replicas is not None:
        spec["replicas"] = int(replicas)
    if image:
        set_image(spec["template"], image, container)
    meta = _clean_metadata(source.get("metadata"), name)
    meta.setdefault("labels", {})[label] = value
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def set_image(template, image, container=None):
    containers = ((template.get("spec") or {}).get("containers")) or []
    if not containers:
        raise SarkValidationError("the pod template has no containers")
    names = [c.get("name") for c in containers]
    target = container or names[0]
    if target not in names:
        raise SarkValidationError("container %r is not in the pod template (containers: %s)" % (target, ", ".join(map(str, names))))
    for item in containers:
        if item.get("name") == target:
            item["image"] = image
    return template


def derived_service(source, name, label, value):
    """A Service `name` with the ports of `source` whose selector also requires `label`=`value` (the canary host)."""
    if not isinstance(source, dict) or "spec" not in source:
        raise SarkValidationError("derived_service needs the stable Service (a k8s_info resource)")
    spec = {"selector": dict((source["spec"].get("selector") or {}), **{label: value}),
            "ports": copy.deepcopy(source["spec"].get("ports") or [])}
    if source["spec"].get("type") in ("ClusterIP", None):
        spec["type"] = "ClusterIP"
    meta = {"name": name, "namespace": (source.get("metadata") or {}).get("namespace")}
    labels = dict(((source.get("metadata") or {}).get("labels")) or {})
    labels[label] = value
    meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def matching(objects, selector):
    """The Deployments (or pods) of `objects` whose pod labels carry every label of `selector`, by name."""
    if not isinstance(selector, dict) or not selector:
        raise SarkValidationError("the selector is empty: a Service without a selector routes to no release")
    out = []
    for obj in objects or []:
        if obj.get("kind") == "Pod":
            labels = (obj.get("metadata") or {}).get("labels") or {}
        else:
            labels = ((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")) or {}
        if all(labels.get(k) == str(v) for k, v in selector.items()):
            out.append(obj)
    return sorted(out, key=lambda o: (o.get("metadata") or {}).get("name") or "")


def other_color(current, colors=COLORS):
    """The colour a blue-green release goes to: the other one of the two (blue when nothing is selected yet)."""
    if current not in colors:
        return colors[0] if current is None else None
    return colors[1] if current == colors[0] else colors[0]


# --- plans (what check mode shows) ---------------------------------------------------------------------------------

def deploy_plan(strategy, namespace, deployment, image=None, service=None, virtual_service=None, canary_host=None,
                steps=None, to_color=None, action="switch", label="version", threshold=None):
    """The ordered steps a strategy takes, as text an operator reads (check mode returns it as the plan)."""
    if strategy not in STRATEGIES:
        raise SarkValidationError("strategy %r: use one of %s" % (strategy, ", ".join(STRATEGIES)))
    where = "%s/%s" % (namespace, deployment)
    if strategy == "rolling":
        return ["set image of Deployment %s to %s" % (where, image),
                "wait until every replica of %s runs the new template (kubectl rollout status)" % where,
                "verify the health of the service"]
    if strategy == "blue_green":
        if action == "switch_back":
            return ["switch Service %s/%s selector %s to %s (one step)" % (namespace, service, label, to_color),
                    "verify the Service selects %s" % to_color]
        return ["apply Deployment %s/%s-%s (%s=%s) with image %s" % (namespace, service, to_color, label, to_color, image),
                "wait until it is ready",
                "health gate on %s: stop unless healthy" % to_color,
                "switch Service %s/%s selector %s to %s" % (namespace, service, label, to_color),
                "verify the Service selects %s" % to_color]
    plan = ["apply canary Deployment %s-canary with image %s and Service %s" % (where, image, canary_host),
            "wait until the canary is ready"]
    for step in canary_steps(steps):
        plan.append("VirtualService %s/%s: %d%% to %s, then error-rate gate (<= %s); above it: back to 0%%"
                    % (namespace, virtual_service, step, canary_host, threshold))
    return plan


# --- the error-rate gate ----------------------------------------------------------------------------------------

def check_window(window):
    if not isinstance(window, str) or not WINDOW.match(window):
        raise SarkValidationError("window %r is not a Prometheus duration such as 30s, 2m or 1h" % (window,))
    return window


def _matchers(selector):
    parts = []
    for key, value in sorted((selector or {}).items()):
        if not LABEL_NAME.match(str(key)):
            raise SarkValidationError("selector label %r is not a Prometheus label name" % (key,))
        parts.append('%s="%s"' % (key, str(value).replace("\\", "\\\\").replace('"', '\\"')))
    return parts


def error_rate_queries(metric, selector, status_label, window, error_regex="5.."):
    """(requests, errors): PromQL for the requests and the 5xx answers of the selected series over `window`."""
    if not metric or not LABEL_NAME.match(metric.replace(":", "_")):
        raise SarkValidationError("metric %r is not a Prometheus metric name" % (metric,))
    if not status_label or not LABEL_NAME.match(status_label):
        raise SarkValidationError("status_label %r is not a Prometheus label name" % (status_label,))
    if not selector:
        raise SarkValidationError("selector is empty: give the labels that pick the canary's series only (e.g. {job: auth-service-canary})")
    check_window(window)
    matchers = _matchers(selector)
    errors = matchers + ['%s=~"%s"' % (status_label, error_regex.replace("\\", "\\\\").replace('"', '\\"'))]
    return ("sum(increase(%s{%s}[%s]))" % (metric, ",".join(matchers), window),
            "sum(increase(%s{%s}[%s]))" % (metric, ",".join(errors), window))


def judge_error_rate(requests, errors, threshold, min_requests):
    """The gate: {verdict: pass|fail|insufficient, passed, error_rate, requests, errors, reason}.

    fail when at least min_requests were answered and the share of errors is above the threshold; insufficient when
    fewer requests were seen (no proof either way, so the gate does not pass)."""
    threshold = float(threshold)
    if not 0 <= threshold <= 1:
        raise SarkValidationError("threshold %s is a share of requests: give 0-1 (0.05 = 5%%)" % threshold)
    requests = max(float(requests or 0), 0.0)
    errors = min(max(float(errors or 0), 0.0), requests)
    rate = errors / requests if requests else None
    result = {"requests": round(requests, 3), "errors": round(errors, 3),
              "error_rate": round(rate, 6) if rate is not None else None, "threshold": threshold, "min_requests": int(min_requests)}
    if requests < int(min_requests) or requests == 0:
        return dict(result, verdict="insufficient", passed=False,
                    reason="%.0f requests reached the canary (at least %d needed to judge it)" % (requests, int(min_requests)))
    if rate > threshold:
        return dict(result, verdict="fail", passed=False,
                    reason="error rate %.2f%% of %.0f requests is above %.2f%%" % (rate * 100, requests, threshold * 100))
    return dict(result, verdict="pass", passed=True,
                reason="error rate %.2f%% of %.0f requests is within %.2f%%" % (rate * 100, requests, threshold * 100))


def observe(read, threshold, min_requests, observe_seconds=0.0, interval_seconds=10.0, clock=time.monotonic, sleep=time.sleep,
            max_checks=MAX_CHECKS):
    """Judge read() -> (requests, errors) every interval for observe_seconds (at least once, at the end): a fail stops
    at once, otherwise the last judgement counts. Returns (final judgement, [judgements])."""
    observe_seconds = max(float(observe_seconds or 0), 0.0)
    interval_seconds = max(float(interval_seconds or 0), 0.1)
    deadline = clock() + observe_seconds
    checks = []
    while True:
        remaining = deadline - clock()
        if remaining > 0:
            sleep(min(interval_seconds, remaining))
        requests, errors = read()
        verdict = judge_error_rate(requests, errors, threshold, min_requests)
        checks.append(verdict)
        if verdict["verdict"] == "fail" or clock() >= deadline or len(checks) >= max_checks:
            return verdict, checks
