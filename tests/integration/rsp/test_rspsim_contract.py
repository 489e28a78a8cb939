"""The RSP simulator answers exactly what shared/spec/platforms-contract.md says each layout answers (harness tests)."""

import json
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.harness


def call(url, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - loopback only
            text = resp.read().decode()
            return resp.status, (json.loads(text) if resp.headers.get("Content-Type", "").startswith("application/json") else text)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def request(**changes):
    body = {"request_id": "r1", "principal": {"type": "User", "id": "alice"}, "action": "read",
            "resource": {"type": "Document", "id": "d1"}, "context": {}}
    body.update(changes)
    return body


def test_runbook_layout(rspsims):
    sim = rspsims["runbook"]
    assert call(sim.auth_url + "/health")[0] == 200
    status, text = call(sim.auth_url + "/metrics")
    assert status == 200 and 'http_requests_total{service="auth-service"' in text
    assert call(sim.auth_url + "/api/v1/status")[0] == 404
    status, body = call(sim.policy_url + "/admin/policies")
    assert status == 200 and len(body["policies"]) == 3
    assert call(sim.policy_url + "/admin/policy-stats")[1]["policy_count"] == 3
    # no documented health or decision route on the runbook's policy-service
    assert call(sim.policy_url + "/health")[0] == 404
    assert call(sim.policy_url + "/v1/authorize", request())[0] == 404


def test_code_layout_static_health_and_restricted_metrics(rspsims):
    sim = rspsims["rsp_code"]
    status, body = call(sim.auth_url + "/health")
    assert status == 200 and body["service"] == "rust-security-auth-service" and isinstance(body["features"], dict)
    assert call(sim.auth_url + "/api/v1/status")[0] == 200
    assert call(sim.auth_url + "/metrics")[0] == 403 and call(sim.policy_url + "/metrics")[0] == 403
    status, body = call(sim.policy_url + "/health")
    assert status == 200 and body["status"] == "ok" and body["service"] == "policy-service-mvp" and body["timestamp"]
    assert call(sim.policy_url + "/admin/policies")[0] == 404


def test_code_layout_decisions_by_cedar(rspsims):
    url = rspsims["rsp_code"].policy_url + "/v1/authorize"
    assert call(url, request()) == (200, {"decision": "Allow"})
    assert call(url, request(action="write")) == (200, {"decision": "Deny"})
    assert call(url, request(action="delete", context={"locked": True})) == (200, {"decision": "Deny"})


@pytest.mark.parametrize("body, raw", [
    (request(request_id="x" * 129), None),
    (request(principal={"type": "User", "id": "a" * 513}), None),
    (request(action="a" * 257), None),
    (request(context={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}), None),
    (None, b"{not json"),
    (None, b'{"x": "' + b"a" * (1024 * 1024) + b'"}'),
    (request(principal="alice"), None),
])
def test_code_layout_limits_and_error_shape(rspsims, body, raw):
    status, answer = call(rspsims["rsp_code"].policy_url + "/v1/authorize", body, raw)
    assert status == 400 and set(answer) == {"error"}


def test_metrics_public(tmp_path):
    from harness.rspsim import RspSimulator
    with RspSimulator("rsp_code", metrics_public=True) as sim:
        call(sim.auth_url + "/health")
        status, text = call(sim.auth_url + "/metrics")
        assert status == 200 and 'auth_http_requests_total{method="GET",endpoint="/health",status_code="200"} 1' in text
