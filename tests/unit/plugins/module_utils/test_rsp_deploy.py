# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RSP deployments' logic without a server: canary steps and routes, derived manifests, the plans, and the canary's
error-rate gate judged per threshold (and observed over time with a fake clock)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _rsp_deploy as d
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

STABLE = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "auth-service", "namespace": "rust-security", "uid": "u-1", "resourceVersion": "9", "generation": 4,
                       "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "auth-service"},
                       "annotations": {"deployment.kubernetes.io/revision": "4", "kubernetes.io/change-cause": "v1.1.0"}},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "auth-service", "version": "blue"}},
                   "template": {"metadata": {"labels": {"app": "auth-service", "version": "blue"}},
                                "spec": {"containers": [{"name": "auth-service", "image": "rust-security/auth-service:v1.1.0"},
                                                        {"name": "sidecar", "image": "envoy:1"}]}}},
          "status": {"readyReplicas": 3}}
SERVICE = {"metadata": {"name": "auth-service", "namespace": "rust-security", "labels": {"app": "auth-service"}, "uid": "s"},
           "spec": {"selector": {"app": "auth-service", "version": "blue"}, "ports": [{"port": 8080}], "clusterIP": "10.0.0.1"}}


@pytest.mark.parametrize("steps, expected", [(None, [10, 25, 50, 100]), ([], [10, 25, 50, 100]), ([50, "100"], [50, 100]), ([100], [100])])
def test_canary_steps(steps, expected):
    assert d.canary_steps(steps) == expected


@pytest.mark.parametrize("steps, message", [
    ([10, 10, 100], "must rise: 10 comes after 10"), ([25, 10, 100], "must rise"), ([10, 50], "last canary step must be 100"),
    ([0, 100], "outside 1-100"), ([10, 101], "outside 1-100"), ([10.5, 100], "not a whole percentage"), ([True, 100], "not a whole"),
    ("10,100", "must be a list"), (list(range(1, 100)) + [100], "at most 20")])
def test_bad_canary_steps(steps, message):
    with pytest.raises(SarkValidationError, match=message):
        d.canary_steps(steps)


def test_canary_routes_as_the_seed_patches_them():
    routes = d.canary_http_routes("auth-service", "auth-service-canary", 10, header="canary")
    assert routes == [{"match": [{"headers": {"canary": {"exact": "true"}}}], "route": [{"destination": {"host": "auth-service-canary"}}]},
                      {"route": [{"destination": {"host": "auth-service"}, "weight": 90},
                                 {"destination": {"host": "auth-service-canary"}, "weight": 10}]}]
    back = d.canary_http_routes("auth-service", "auth-service-canary", 0, header="canary")
    assert back == [{"route": [{"destination": {"host": "auth-service"}, "weight": 100}, {"destination": {"host": "auth-service-canary"}, "weight": 0}]}]
    assert d.route_weights({"spec": {"http": routes}}, "auth-service", "auth-service-canary") == {"stable": 90, "canary": 10, "other": 0}
    assert d.route_weights({"spec": {"http": [{"route": [{"destination": {"host": "auth-service"}}]}]}}, "auth-service", "c") == \
        {"stable": 100, "canary": 0, "other": 0}
    ported = d.canary_http_routes("a", "b", 50, port=8080)
    assert ported[0]["route"][1] == {"destination": {"host": "b", "port": {"number": 8080}}, "weight": 50}
    with pytest.raises(SarkValidationError, match="must differ"):
        d.canary_http_routes("a", "a", 10)
    with pytest.raises(SarkValidationError, match="both needed"):
        d.canary_http_routes("a", None, 10)
    with pytest.raises(SarkValidationError, match="outside 0-100"):
        d.canary_http_routes("a", "b", 110)


def test_derived_deployment_and_service():
    green = d.derived_deployment(STABLE, "auth-service-green", "version", "green", image="rust-security/auth-service:v1.2.0")
    assert green["metadata"] == {"name": "auth-service-green", "namespace": "rust-security", "labels": {"app": "auth-service", "version": "green"},
                                 "annotations": {"kubernetes.io/change-cause": "v1.1.0"}}
    assert green["spec"]["selector"]["matchLabels"] == {"app": "auth-service", "version": "green"}
    assert green["spec"]["template"]["metadata"]["labels"] == {"app": "auth-service", "version": "green"}
    assert [c["image"] for c in green["spec"]["template"]["spec"]["containers"]] == ["rust-security/auth-service:v1.2.0", "envoy:1"]
    assert "status" not in green and green["spec"]["replicas"] == 3
    assert STABLE["spec"]["selector"]["matchLabels"]["version"] == "blue"  # the source is not changed
    canary = d.derived_deployment(STABLE, "auth-service-canary", "version", "canary", image="x:2", container="sidecar", replicas=1)
    assert [c["image"] for c in canary["spec"]["template"]["spec"]["containers"]] == ["rust-security/auth-service:v1.1.0", "x:2"]
    assert canary["spec"]["replicas"] == 1
    with pytest.raises(SarkValidationError, match="container 'nope' is not in the pod template"):
        d.derived_deployment(STABLE, "n", "version", "green", image="x", container="nope")
    with pytest.raises(SarkValidationError, match="needs the running Deployment"):
        d.derived_deployment({"kind": "Service", "spec": {}}, "n", "version", "green")
    svc = d.derived_service(SERVICE, "auth-service-canary", "version", "canary")
    assert svc == {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "auth-service-canary", "namespace": "rust-security", "labels": {"app": "auth-service", "version": "canary"}},
                   "spec": {"selector": {"app": "auth-service", "version": "canary"}, "ports": [{"port": 8080}], "type": "ClusterIP"}}


def test_matching_and_colours():
    green = d.derived_deployment(STABLE, "auth-service-green", "version", "green")
    assert [o["metadata"]["name"] for o in d.matching([green, STABLE], SERVICE["spec"]["selector"])] == ["auth-service"]
    assert [o["metadata"]["name"] for o in d.matching([green, STABLE], {"app": "auth-service"})] == ["auth-service", "auth-service-green"]
    pod = {"kind": "Pod", "metadata": {"name": "p", "labels": {"app": "auth-service", "version": "green"}}}
    assert d.matching([pod], {"version": "green"}) == [pod]
    with pytest.raises(SarkValidationError, match="selector is empty"):
        d.matching([STABLE], {})
    assert d.other_color("blue") == "green" and d.other_color("green") == "blue" and d.other_color(None) == "blue"
    assert d.other_color("red") is None


def test_plans():
    rolling = d.deploy_plan("rolling", "rust-security", "auth-service", image="i:2")
    assert rolling[0] == "set image of Deployment rust-security/auth-service to i:2" and len(rolling) == 3
    canary = d.deploy_plan("canary", "rust-security", "auth-service", image="i:2", virtual_service="auth-service",
                           canary_host="auth-service-canary", steps=[10, 50, 100], threshold=0.05)
    assert len(canary) == 5 and "10% to auth-service-canary" in canary[2] and "back to 0%" in canary[2]
    back = d.deploy_plan("blue_green", "ns", "", service="auth-service", to_color="blue", action="switch_back")
    assert back[0] == "switch Service ns/auth-service selector version to blue (one step)"
    with pytest.raises(SarkValidationError, match="use one of rolling, blue_green, canary"):
        d.deploy_plan("recreate", "ns", "x")


def test_queries():
    requests, errors = d.error_rate_queries("http_requests_total", {"job": "auth-service-canary"}, "status", "2m")
    assert requests == 'sum(increase(http_requests_total{job="auth-service-canary"}[2m]))'
    assert errors == 'sum(increase(http_requests_total{job="auth-service-canary",status=~"5.."}[2m]))'
    _r, errors = d.error_rate_queries("auth_http_requests_total", {"b": 'x"y', "a": "1"}, "status_code", "30s", error_regex="5..|429")
    assert errors == 'sum(increase(auth_http_requests_total{a="1",b="x\\"y",status_code=~"5..|429"}[30s]))'
    for args, message in [(("m", {}, "status", "1m"), "selector is empty"), (("m", {"a-b": 1}, "status", "1m"), "not a Prometheus label"),
                          (("m x", {"a": 1}, "status", "1m"), "not a Prometheus metric"), (("m", {"a": 1}, "status", "5 minutes"), "not a Prometheus duration"),
                          (("m", {"a": 1}, "st-atus", "1m"), "status_label")]:
        with pytest.raises(SarkValidationError, match=message):
            d.error_rate_queries(*args)


@pytest.mark.parametrize("requests, errors, threshold, min_requests, verdict", [
    (100, 0, 0.05, 20, "pass"),
    (100, 5, 0.05, 20, "pass"),        # exactly at the threshold passes
    (100, 6, 0.05, 20, "fail"),        # just above fails
    (100, 1, 0.0, 20, "fail"),         # zero tolerance
    (100, 0, 0.0, 20, "pass"),
    (100, 100, 1.0, 20, "pass"),       # threshold 1 never fails
    (19, 19, 0.05, 20, "insufficient"),  # too few requests: neither a pass nor a fail
    (0, 0, 0.05, 1, "insufficient"),
    (20, 2, 0.05, 20, "fail"),
    (40.7, 1.2, 0.05, 20, "pass"),     # Prometheus' increase() extrapolates
    (10, 30, 0.5, 5, "fail"),          # errors are capped at the requests
])
def test_judge_error_rate_per_threshold(requests, errors, threshold, min_requests, verdict):
    result = d.judge_error_rate(requests, errors, threshold, min_requests)
    assert result["verdict"] == verdict and result["passed"] is (verdict == "pass")
    if verdict != "insufficient":
        assert result["error_rate"] == round(min(errors, requests) / requests, 6)
        assert ("above" if verdict == "fail" else "within") in result["reason"]
    else:
        assert "at least %d needed" % min_requests in result["reason"]


def test_judge_refuses_a_percentage_as_threshold():
    with pytest.raises(SarkValidationError, match="give 0-1"):
        d.judge_error_rate(100, 1, 5, 20)


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_observe_stops_at_the_first_failure():
    clock = FakeClock()
    readings = iter([(50, 0), (100, 20), (150, 0)])
    final, checks = d.observe(lambda: next(readings), 0.05, 20, observe_seconds=30, interval_seconds=10, clock=clock.clock, sleep=clock.sleep)
    assert final["verdict"] == "fail" and [c["verdict"] for c in checks] == ["pass", "fail"] and clock.now == 20


def test_observe_judges_until_the_end_and_the_last_counts():
    clock = FakeClock()
    readings = iter([(5, 0), (30, 0), (60, 1)])
    final, checks = d.observe(lambda: next(readings), 0.05, 20, observe_seconds=25, interval_seconds=10, clock=clock.clock, sleep=clock.sleep)
    assert [c["verdict"] for c in checks] == ["insufficient", "pass", "pass"] and final["requests"] == 60
    assert clock.sleeps == [10, 10, 5]
    once, checks = d.observe(lambda: (0, 0), 0.05, 20, clock=clock.clock, sleep=clock.sleep)
    assert once["verdict"] == "insufficient" and len(checks) == 1 and clock.sleeps == [10, 10, 5]
