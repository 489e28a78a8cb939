"""plugins/filter/rsp_security.py: the filter wraps _rsp_certificates.check and turns its errors into filter errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter import rsp_security as f


def test_filter_and_its_errors():
    filters = f.FilterModule().filters()
    assert sorted(filters) == ["rsp_certificate_check", "rsp_rbac_check"]
    status = {"notAfter": "2026-12-11T00:00:00Z", "conditions": [{"type": "Ready", "status": "True"}]}
    crt = {"metadata": {"name": "auth-service-tls"}, "status": status}
    result = filters["rsp_certificate_check"]([crt], now="2026-12-01T00:00:00Z", warn_days=30, critical_days=7)
    assert result["verdict"] == "WARNING" and result["renew"] == ["auth-service-tls"]
    with pytest.raises(AnsibleFilterError, match="rsp_certificate_check: critical_days"):
        filters["rsp_certificate_check"]([crt], warn_days=1, critical_days=7)
    with pytest.raises(AnsibleFilterError, match="rsp_certificate_check: "):
        filters["rsp_certificate_check"]([crt], served=[{"certificate": "auth-service-tls", "not_after": "soon"}])
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    assert filters["rsp_rbac_check"](rules, [])["verdict"] == "CRITICAL"
    with pytest.raises(AnsibleFilterError, match="rsp_rbac_check: resource_rules and expected must be lists"):
        filters["rsp_rbac_check"](rules, None)
