# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _opa.py: policy ids, data paths, how SARK reads a decision, OPA's error bodies and the policy text."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._opa import (
    MAX_POLICY_BYTES,
    SARK_DECISION_PATH,
    check_policy_id,
    data_path,
    evaluate,
    get_policy,
    list_policies,
    opa_compile_errors,
    read_policy_text,
    sark_decision,
    sha256,
)


class Answer:
    def __init__(self, body=None, elapsed_ms=1.5):
        self.body = body
        self.elapsed_ms = elapsed_ms


class FakeOpa:
    """Stands in for OpaPolicies: the policies it holds and the one decision it answers."""

    def __init__(self, policies=(), decision=(True, None)):
        self.policies = {p["id"]: p for p in policies}
        self.decision = decision
        self.asked = []

    def list(self):
        return list(self.policies.values())

    def get(self, policy_id):
        return self.policies.get(policy_id)

    def evaluate(self, path, opa_input):
        self.asked.append((path, opa_input))
        return self.decision[0], self.decision[1], Answer()


@pytest.mark.parametrize("path", ["mcp/allow", "/v1/data/mcp/allow", "data.mcp.allow", "mcp.allow", " /mcp/allow/ "])
def test_data_path_spellings_mean_one_document(path):
    assert data_path(path) == "mcp/allow"


def test_data_path_refuses_what_is_not_a_path():
    with pytest.raises(SarkValidationError, match="not a data path"):
        data_path("mcp/allow?x=1")


@pytest.mark.parametrize("policy_id", ["server_access", "sark/v2-rules.main"])
def test_valid_policy_ids(policy_id):
    assert check_policy_id(policy_id) == policy_id


@pytest.mark.parametrize("policy_id", ["", None, "../etc", "a b", "x?y"])
def test_invalid_policy_ids(policy_id):
    with pytest.raises(SarkValidationError, match="not a valid OPA policy id"):
        check_policy_id(policy_id)


def test_sark_decision_only_an_object_with_allow_true_allows():
    assert sark_decision(True, {"allow": True, "audit_reason": "admin"}) == {
        "shape": "object", "allow": True, "audit_reason": "admin", "explanation": "allow is true"}
    assert sark_decision(True, {"allow": "true"})["allow"] is False
    assert sark_decision(True, {"audit_reason": "x"})["explanation"] == "the object has no allow field: SARK denies"
    assert sark_decision(True, True)["shape"] == "boolean" and sark_decision(True, True)["allow"] is False
    assert sark_decision(False, None)["shape"] == "undefined" and sark_decision(False, None)["allow"] is False
    assert sark_decision(True, [1])["shape"] == "list" and sark_decision(True, [1])["allow"] is False


def test_opa_compile_errors_from_a_400_body():
    body = '{"code": "invalid_parameter", "errors": [{"message": "rego_parse_error: unexpected", ' \
           '"location": {"file": "p.rego", "row": 3, "col": 7}}]}'
    assert opa_compile_errors(Answer(body)) == ["p.rego:3:7: rego_parse_error: unexpected"]
    assert opa_compile_errors(Answer("not json")) == [] and opa_compile_errors(Answer(None)) == []
    assert opa_compile_errors(Answer("[1, 2]")) == []


def test_read_policy_text_from_the_option_or_a_file(tmp_path):
    assert read_policy_text({"policy": "package x\n", "src": None}) == "package x\n"
    src = tmp_path / "p.rego"
    src.write_text("package y\n", encoding="utf-8")
    assert read_policy_text({"policy": None, "src": str(src)}) == "package y\n"


def test_read_policy_text_refusals(tmp_path):
    with pytest.raises(SarkValidationError, match="needs the policy text"):
        read_policy_text({"policy": None, "src": None})
    with pytest.raises(SarkValidationError, match="is empty"):
        read_policy_text({"policy": " \n", "src": None})
    with pytest.raises(SarkValidationError, match="Cannot read src"):
        read_policy_text({"policy": None, "src": str(tmp_path / "missing.rego")})
    binary = tmp_path / "b.rego"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(SarkValidationError, match="is not UTF-8"):
        read_policy_text({"policy": None, "src": str(binary)})
    with pytest.raises(SarkValidationError, match="larger than %d bytes" % MAX_POLICY_BYTES):
        read_policy_text({"policy": "#" * (MAX_POLICY_BYTES + 1), "src": None})


def test_list_policies_filters_and_returns_text_only_when_asked():
    opa = FakeOpa([{"id": "server_access", "raw": "package a"}, {"id": "legacy", "raw": "package b"}])
    listed = list_policies(opa, ["server_*"])
    assert listed == {"policies": [{"id": "server_access", "sha256": sha256("package a"), "size": 9}],
                      "msg": "1 of 2 policies"}
    assert [p["raw"] for p in list_policies(opa, ["!legacy"], return_text=True)["policies"]] == ["package a"]


def test_get_policy_present_and_absent():
    opa = FakeOpa([{"id": "p", "raw": "package p"}])
    assert get_policy(opa, "p")["policy"] == {"id": "p", "raw": "package p", "sha256": sha256("package p")}
    assert get_policy(opa, "q") == {"policy_id": "q", "exists": False, "msg": "OPA has no policy q"}


def test_evaluate_reads_sark_decision_and_checks_the_expectation():
    opa = FakeOpa(decision=(True, {"allow": False, "audit_reason": "not owner"}))
    result = evaluate(opa, "data.mcp.allow", {"user": "u"})
    assert opa.asked == [(SARK_DECISION_PATH, {"user": "u"})]
    assert result["sark_decision"]["allow"] is False and result["msg"].startswith("SARK would deny")
    assert evaluate(opa, "mcp/allow", {}, expect=False)["defined"] is True
    with pytest.raises(SarkPreconditionError, match="expected SARK to allow, but it would deny") as failure:
        evaluate(opa, "mcp/allow", {}, expect=True)
    assert failure.value.details["sark_decision"]["allow"] is False


def test_evaluate_other_paths_have_no_sark_reading_and_no_expectation():
    opa = FakeOpa(decision=(True, 42))
    assert "sark_decision" not in evaluate(opa, "mcp/limits", {})
    with pytest.raises(SarkValidationError, match="expect_allow applies to SARK's decision path"):
        evaluate(opa, "mcp/limits", {}, expect=True)
