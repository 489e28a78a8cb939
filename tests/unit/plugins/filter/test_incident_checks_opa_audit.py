"""The incident_check filter dispatches the opa_policies and audit_gap kinds."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.incident_checks import incident_check

GOOD = [{"id": "mcp_allow", "sha256": "a" * 64}]
TESTS = [{"name": "admin", "input": {}, "expect_allow": True}]
NOW = "2026-12-01T12:30:00+00:00"


def test_opa_policies_kind():
    check = incident_check({"policies": {"policies": [{"id": "mcp_allow", "sha256": "b" * 64}]}, "expected": GOOD,
                            "tests": TESTS, "decisions": [{"sark_decision": {"allow": False, "shape": "boolean"}}]},
                           "opa_policies")
    assert check["id"] == "opa_policies" and check["details"]["fix"] == "rollback_policy"


def test_audit_gap_kind_takes_the_thresholds():
    audit = {"events_per_hour": {"gaps": [], "window_hours": 24}, "storage": {"newest": "2026-12-01T12:20:00+00:00"}}
    assert incident_check({"audit": audit, "now": NOW}, "audit_gap", stale_minutes=5)["verdict"] == "CRITICAL"
    assert incident_check({"audit": audit, "now": NOW}, "audit_gap", stale_minutes=11)["verdict"] == "OK"


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError):
        incident_check({"audit": {"events_per_hour": {}, "storage": {"newest": "bad"}}, "now": NOW}, "audit_gap")
    with pytest.raises(AnsibleFilterError):
        incident_check({"policies": {"policies": []}, "expected": GOOD, "tests": TESTS, "decisions": []}, "opa_policies")
