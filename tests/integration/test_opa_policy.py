"""sark_opa_policy, sark_opa_policy_info and sark_opa_decision_info against the OPA-compatible REST server backed by
the regorus Rego engine (tests/harness/opa_server.py)."""

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.opa_server import OpaServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICIES = os.path.join(REPO, "policies")
MCP_ALLOW = os.path.join(POLICIES, "mcp_allow.rego")
SERVER_ACCESS = os.path.join(POLICIES, "server_access.rego")
BARE_BOOLEAN = os.path.join(POLICIES, "bare_boolean.rego")
INVALID = "package mcp\n\n# v0 syntax: OPA 1.x wants `if`\nallow { true }\n"


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def http(method, url, body=None, token=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body.encode() if body else None)
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # nosec - loopback only
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def opa():
    with OpaServer() as server:
        yield server


@pytest.fixture(scope="module")
def opa_auth():
    with OpaServer(token="opa-secret-token") as server:
        yield server


@pytest.fixture(autouse=True)
def clean(opa):
    http("POST", opa.url + "/_test/reset")
    status, body = http("GET", opa.url + "/v1/policies")
    for item in body["result"]:
        http("DELETE", opa.url + "/v1/policies/" + item["id"])
    http("POST", opa.url + "/_test/reset")


def stored(opa, policy_id):
    status, body = http("GET", opa.url + "/v1/policies/" + policy_id)
    return body["result"]["raw"] if status == 200 else None


def run_parallel(run_module, *calls):
    """Run independent module calls at once (each is a subprocess); results in call order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run_module, name, args, **kwargs) for name, args, kwargs in calls]
        return [f.result() for f in futures]


def upload(opa, policy_id, path):
    assert http("PUT", opa.url + "/v1/policies/" + policy_id, read(path))[0] == 200


def writes(opa):
    return [r for r in http("GET", opa.url + "/_test/requests")[1]["requests"] if r["method"] in ("PUT", "DELETE")]


def test_put_check_diff_real_idempotent_update(run_module, opa):
    args = {"opa_url": opa.url, "policy_id": "server_access", "src": SERVER_ACCESS}
    check = run_module("sark_opa_policy", args, check_mode=True, diff=True)
    assert not check.failed, check
    assert check.changed and check["action"] == "created" and check["packages"] == ["data.mcp.server_access"]
    assert check["diff"]["before"] == "" and check["diff"]["after"] == read(SERVER_ACCESS)
    assert check["planned_actions"][0]["action"] == "put_policy" and check["executed_actions"] == []
    assert stored(opa, "server_access") is None and writes(opa) == []

    real = run_module("sark_opa_policy", args)
    assert real.changed and real["verified"] and real["action"] == "created", real
    assert stored(opa, "server_access") == read(SERVER_ACCESS)
    assert real["executed_actions"][0]["policy_id"] == "server_access"

    again = run_module("sark_opa_policy", args, diff=True)
    assert not again.changed and again["action"] == "none" and "diff" not in again
    assert again["sha256"] == again["previous_sha256"] == real["sha256"]
    assert len(writes(opa)) == 1

    changed_text = read(SERVER_ACCESS).replace('"docs"', '"docs", "wiki"')
    update = run_module("sark_opa_policy", {"opa_url": opa.url, "policy_id": "server_access", "policy": changed_text},
                        check_mode=True, diff=True)
    assert update.changed and update["action"] == "updated"
    assert update["diff"]["before"] == read(SERVER_ACCESS) and update["diff"]["after"] == changed_text
    assert stored(opa, "server_access") == read(SERVER_ACCESS)
    update = run_module("sark_opa_policy", {"opa_url": opa.url, "policy_id": "server_access", "policy": changed_text})
    assert update.changed and stored(opa, "server_access") == changed_text


def test_invalid_rego_refused_with_location_nothing_uploaded(run_module, opa):
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "policy_id": "broken", "policy": INVALID})
    assert result.failed
    assert "broken:4:7" in result["msg"] and "`if` keyword is required" in result["msg"], result["msg"]
    assert "nothing was uploaded" in result["msg"]
    assert result["rego_errors"][0]["location"] == {"file": "broken", "row": 4, "col": 7}
    assert writes(opa) == [] and stored(opa, "broken") is None


def test_opa_refusal_reported_when_local_validation_off(run_module, opa):
    result = run_module("sark_opa_policy", {"opa_url": opa.url, "policy_id": "broken", "policy": INVALID, "validate": False})
    assert result.failed and result["status"] == 400
    assert "OPA refused policy broken: broken:4:7:" in result["msg"], result["msg"]
    assert stored(opa, "broken") is None


def test_list_get_and_filter(run_module, opa):
    for policy_id, path in (("server_access", SERVER_ACCESS), ("mcp_allow", MCP_ALLOW)):
        upload(opa, policy_id, path)
    listed = run_module("sark_opa_policy_info", {"opa_url": opa.url})
    assert [p["id"] for p in listed["policies"]] == ["mcp_allow", "server_access"] and not listed.changed
    assert listed["policies"][0]["size"] == len(read(MCP_ALLOW).encode())
    filtered = run_module("sark_opa_policy_info", {"opa_url": opa.url, "filter": ["*", "!mcp_*"], "return_text": True})
    assert [p["id"] for p in filtered["policies"]] == ["server_access"]
    assert filtered["policies"][0]["raw"] == read(SERVER_ACCESS)
    got = run_module("sark_opa_policy_info", {"opa_url": opa.url, "policy_id": "mcp_allow"})
    assert got["exists"] and got["policy"]["raw"] == read(MCP_ALLOW)
    missing = run_module("sark_opa_policy_info", {"opa_url": opa.url, "policy_id": "nope"})
    assert not missing.failed and missing["exists"] is False and not missing.changed and not got.changed


def test_delete_check_diff_real_idempotent(run_module, opa):
    args = {"opa_url": opa.url, "policy_id": "server_access", "state": "absent"}
    upload(opa, "server_access", SERVER_ACCESS)
    check = run_module("sark_opa_policy", args, check_mode=True, diff=True)
    assert check.changed and check["diff"]["before"] == read(SERVER_ACCESS) and check["diff"]["after"] == ""
    assert stored(opa, "server_access") is not None
    real = run_module("sark_opa_policy", args)
    assert real.changed and real["action"] == "deleted" and stored(opa, "server_access") is None
    again = run_module("sark_opa_policy", args, check_mode=True)
    assert not again.changed and again["planned_actions"] == []
    assert not run_module("sark_opa_policy", args).changed


def test_evaluate_reads_decision_like_sark(run_module, opa):
    upload(opa, "mcp_allow", MCP_ALLOW)
    admin = {"user": {"id": "user-123", "roles": ["admin"]}, "action": "server:write", "resource": "server-456"}
    base = {"opa_url": opa.url, "decision_path": "mcp/allow"}
    allowed = run_module("sark_opa_decision_info", dict(base, input=admin, expect_allow=True), check_mode=True)
    assert not allowed.failed and not allowed.changed, allowed
    assert allowed["result"] == {"allow": True, "audit_reason": "Allowed: admin role"}
    assert allowed["sark_decision"]["allow"] is True and allowed["sark_decision"]["shape"] == "object"

    user = {"user": {"id": "u2", "roles": ["dev"]}, "action": "server:write"}
    denied = run_module("sark_opa_decision_info", dict(base, input=user, decision_path="data.mcp.allow"))
    assert denied["decision_path"] == "mcp/allow" and denied["sark_decision"]["allow"] is False
    assert denied["sark_decision"]["audit_reason"] == "Denied: no rule allows this request"
    failed = run_module("sark_opa_decision_info", dict(base, input=user, expect_allow=True))
    assert failed.failed and "expected SARK to allow, but it would deny" in failed["msg"]

    # a bare boolean true is still a deny for SARK
    http("DELETE", opa.url + "/v1/policies/mcp_allow")
    upload(opa, "bare", BARE_BOOLEAN)
    bare = run_module("sark_opa_decision_info", dict(base, input=admin))
    assert bare["result"] is True and bare["defined"] is True
    assert bare["sark_decision"]["allow"] is False and bare["sark_decision"]["shape"] == "boolean"

    http("DELETE", opa.url + "/v1/policies/bare")
    undefined = run_module("sark_opa_decision_info", dict(base, input=admin))
    assert undefined["defined"] is False and undefined["result"] is None
    assert undefined["sark_decision"]["shape"] == "undefined" and undefined["sark_decision"]["allow"] is False


def test_expired_token_gives_clear_message(run_module, opa_auth):
    ok, bad = run_parallel(
        run_module, ("sark_opa_policy_info", {"opa_url": opa_auth.url, "opa_token": "opa-secret-token"}, {}),
        ("sark_opa_policy_info", {"opa_url": opa_auth.url, "opa_token": "expired-token"}, {}))
    assert not ok.failed and ok["policies"] == []
    assert bad.failed and bad["status"] == 401
    assert "HTTP 401" in bad["msg"] and "opa_token (or OPA_TOKEN)" in bad["msg"]
    assert "expired-token" not in bad["_stdout"] and "opa-secret-token" not in ok["_stdout"]


def requests_seen(opa):
    """(method, path) of every request OPA received since the last reset, in order."""
    return [(r["method"], r["path"]) for r in http("GET", opa.url + "/_test/requests")[1]["requests"]]


def test_server_error_is_retried_then_reported(run_module, opa):
    upload(opa, "mcp_allow", MCP_ALLOW)
    http("POST", opa.url + "/_test/reset")
    http("POST", opa.url + "/_test/fail", {"status": 503, "count": 1})
    ok = run_module("sark_opa_policy_info", {"opa_url": opa.url, "opa_backoff": 0.01})
    assert not ok.failed, ok.get("msg")
    assert [p["id"] for p in ok["policies"]] == ["mcp_allow"]  # the answer of the retry, not of the failure
    assert requests_seen(opa) == [("GET", "/v1/policies")] * 2  # one 503, one retry

    http("POST", opa.url + "/_test/reset")
    http("POST", opa.url + "/_test/fail", {"status": 500, "count": 10})
    bad = run_module("sark_opa_policy", {"opa_url": opa.url, "policy_id": "server_access", "src": SERVER_ACCESS,
                                         "opa_retries": 2, "opa_backoff": 0.01})
    assert bad.failed and bad["status"] == 500 and bad["attempts"] == 3 and bad.changed is False
    assert "still failed after 2 retries" in bad["msg"] and "injected failure" in bad["msg"]
    # the read of the current policy, tried three times; no PUT was sent after it failed
    assert requests_seen(opa) == [("GET", "/v1/policies/server_access")] * 3
    http("POST", opa.url + "/_test/reset")
    assert stored(opa, "server_access") is None and stored(opa, "mcp_allow") == read(MCP_ALLOW)


def test_bad_input(run_module, opa):
    missing, no_id, no_url, env, old = run_parallel(
        run_module, ("sark_opa_policy", {"opa_url": opa.url, "policy_id": "x"}, {}),
        ("sark_opa_policy", {"opa_url": opa.url, "policy": "package x\n"}, {}),
        ("sark_opa_policy_info", {}, {}),
        ("sark_opa_policy_info", {}, {"env": {"OPA_URL": opa.url}}),
        ("sark_opa_policy", {"opa_url": opa.url, "operation": "list", "policy_id": "x", "policy": "package x\n"}, {}))
    assert missing.failed and "set policy (Rego text) or src" in missing["msg"]
    assert no_id.failed and "policy_id" in no_id["msg"] and "required" in no_id["msg"]
    assert old.failed and "operation" in old["msg"] and stored(opa, "x") is None
    assert no_url.failed and "opa_url is required" in no_url["msg"] and "OPA_URL" in no_url["msg"]
    assert not env.failed
