# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RSP domain logic without a server: the layouts' facts, health judged for what it proves, decision requests checked
against policy-service's documented limits, the layout vote."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _rsp
from ansible_collections.sark.ops.plugins.module_utils._layout import PlatformLayout, platform_layout_names
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

RUNBOOK = PlatformLayout("rsp", "runbook")
CODE = PlatformLayout("rsp", "rsp_code")
TEST = {"principal": {"type": "User", "id": "alice"}, "action": "read", "resource": {"type": "Document", "id": "d1"}, "expect": "Allow"}


def answer(status=200, body=None, path="/health"):
    return {"path": path, "method": "GET", "status": status, "ok": status is not None and 200 <= status < 300,
            "error": None if status else "refused", "body": body}


def test_layouts_and_absent_facts():
    assert platform_layout_names("rsp") == ("runbook", "rsp_code")
    assert CODE.fact("policy_port") == 8081 and RUNBOOK.fact("policy_port") == 8080
    with pytest.raises(SarkValidationError, match="new image and a restart"):
        CODE.fact("policies_configmap")
    with pytest.raises(SarkValidationError, match="source: local"):
        RUNBOOK.fact("authorize_route")
    assert _rsp.health_routes(RUNBOOK) == ("/health", "/admin/policies")
    assert _rsp.health_routes(CODE) == ("/health", "/health")


def test_static_health_is_up_but_checks_nothing():
    body = {"status": "healthy", "service": "rust-security-auth-service", "version": "1", "features": {}}
    entry = _rsp.judge_auth_health(CODE, answer(body=body))
    assert entry["status"] == "up" and entry["checks_dependencies"] is False and "checks no dependency" in entry["note"]
    # another body in the code's layout is not silently up
    assert _rsp.judge_auth_health(CODE, answer(body={"status": "healthy"}))["status"] == "unexpected"
    assert _rsp.judge_auth_health(RUNBOOK, answer(body=None))["status"] == "up"
    assert _rsp.judge_auth_health(RUNBOOK, answer(503))["status"] == "down"
    assert _rsp.judge_auth_health(CODE, answer(None))["status"] == "down"


def test_policy_health_per_layout():
    ok = {"status": "ok", "service": "policy-service-mvp", "version": "1", "timestamp": "now"}
    assert _rsp.judge_policy_health(CODE, answer(body=ok))["status"] == "up"
    assert _rsp.judge_policy_health(CODE, answer(body={"status": "ok"}))["status"] == "unexpected"
    listed = _rsp.judge_policy_health(RUNBOOK, answer(body={"policies": [{"id": "p"}]}, path="/admin/policies"))
    assert listed["status"] == "up" and listed["policy_count"] == 1
    assert _rsp.judge_policy_health(RUNBOOK, answer(body={"policies": []}, path="/admin/policies"))["status"] == "degraded"
    assert _rsp.judge_policy_health(RUNBOOK, answer(body={"x": 1}, path="/admin/policies"))["status"] == "unexpected"


@pytest.mark.parametrize("change, words", [
    ({"request_id": "r" * 129}, "refuses more than 128"),
    ({"action": "a" * 257}, "refuses more than 256"),
    ({"principal": {"type": "User", "id": "u" * 513}}, "refuses more than 512"),
    ({"resource": "d1"}, "must be {type, id}"),
    ({"action": ""}, "action is required"),
    ({"context": []}, "context must be a dict"),
    ({"context": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}}, "deeper than 10"),
    ({"context": {"blob": "x" * 1048576}}, "larger than 1048576"),
    ({"expect": "allow"}, "expect must be Allow or Deny"),
])
def test_decision_request_limits(change, words):
    with pytest.raises(SarkValidationError, match=words.replace("{", r"\{").replace("}", r"\}")):
        _rsp.decision_request(CODE, dict(TEST, **change), 0)


def test_decision_request_at_the_limits():
    name, body, expect = _rsp.decision_request(CODE, dict(TEST, request_id="r" * 128, action="a" * 256,
                                                          principal={"type": "User", "id": "u" * 512}), 2)
    assert name == "test 3" and expect == "Allow" and body["context"] == {} and len(body["request_id"]) == 128


def test_layout_vote():
    def signal(points):
        return {"points_to": points}
    assert _rsp.decide_layout([signal("rsp_code"), signal("rsp_code"), signal(None)]) == ("rsp_code", {"runbook": 0, "rsp_code": 2})
    assert _rsp.decide_layout([signal("runbook"), signal("rsp_code")])[0] == "mixed"
    assert _rsp.decide_layout([signal(None)])[0] == "unknown"
    verdicts = {p["procedure"]: p["verdict"] for p in _rsp.procedure_verdicts("rsp_code")}
    assert verdicts["policy reload (replace ConfigMap policy-service-policies)"] == "no-op"
    assert set(p["verdict"] for p in _rsp.procedure_verdicts("runbook")) == {"effective"}
