"""plugins/module_utils/_rsp_rbac.py: an RBAC review judged against the expected permissions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils import _rsp_rbac as r

BASIC = {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}
CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}


def test_exactly_the_expected_rules_are_ok():
    assert r.check([BASIC, CONFIGMAPS], [CONFIGMAPS]) == {"verdict": "OK", "findings": [], "counts": {"OK": 0, "WARNING": 0, "CRITICAL": 0}}
    # a wider expectation covers narrower grants (and a wildcard expectation is no must); named resources are covered
    # by the same names or none
    assert r.check([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}],
                   [{"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list"]}])["verdict"] == "OK"


def test_too_broad_and_missing():
    result = r.check([BASIC, {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                      {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
                      {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}], [CONFIGMAPS])
    assert result["verdict"] == "CRITICAL"
    assert [(f["severity"], f["kind"], f["permission"]) for f in result["findings"]] == [
        ("CRITICAL", "too_broad", "get secrets"),
        ("WARNING", "missing", "watch configmaps"),
        ("WARNING", "too_broad", "patch deployments.apps")]
    assert result["counts"] == {"OK": 0, "WARNING": 2, "CRITICAL": 1}


@pytest.mark.parametrize("rule", [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
])
def test_critical_grants(rule):
    assert r.check([rule], [])["findings"][0]["severity"] == "CRITICAL"


def test_named_grants_only_cover_their_names():
    named = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["auth-service-tls"]}
    assert r.check([named], [named])["verdict"] == "OK"
    assert r.check([dict(named, resourceNames=[])], [named])["findings"][0]["permission"] == "get secrets"
    assert r.check([named], [dict(named, resourceNames=["other"])])["verdict"] == "CRITICAL"


def test_access_reviews_and_incomplete():
    access = [{"attributes": {"verb": "list", "resource": "secrets"}, "allowed": True, "reason": "RBAC: allowed by RoleBinding x"},
              {"attributes": {"verb": "create", "resource": "pods", "subresource": "exec"}, "allowed": False}]
    result = r.check([CONFIGMAPS], [CONFIGMAPS], access=access, incomplete=True)
    assert [(f["kind"], f["message"]) for f in result["findings"]] == [
        ("must_not", "can list secrets, which it must not (RBAC: allowed by RoleBinding x)"),
        ("incomplete", "the rules review is incomplete (an authorizer could not list its rules)")]


@pytest.mark.parametrize("args, message", [
    (({"rules": []}, []), "resource_rules and expected must be lists"),
    (([], [{"verbs": ["get"]}]), r"expected\[0\]: a rule needs verbs and resources"),
    (([{"verbs": "get", "resources": ["x"]}], []), r"resourceRules\[0\]: verbs must be a list of strings"),
])
def test_bad_input(args, message):
    with pytest.raises(SarkValidationError, match=message):
        r.check(*args)
    with pytest.raises(SarkValidationError, match=r"access\[0\] must be"):
        r.check([], [], access=[{"attributes": {}}])
