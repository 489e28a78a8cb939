"""The incident_check filter's new kinds and incident_auth_endpoints."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.incident_checks import FilterModule, incident_auth_endpoints, incident_check


def test_filters_are_registered():
    assert {"incident_check", "incident_compare", "incident_auth_endpoints"} <= set(FilterModule().filters())


def test_high_latency_kind_reads_the_registered_results():
    data = {"pg_info": {"is_available": True, "bloat": [], "long_running": [], "top_queries": {"available": False}},
            "workloads": {"metrics_available": True, "workloads": []}, "redis": {"is_available": True, "stats": {}},
            "opa": None, "prometheus": None, "deployment": None, "configmaps": []}
    assert incident_check(data, "high_latency", name="sark")["id"] == "high_latency"


def test_auth_failures_kind_and_a_bad_option_is_a_filter_error():
    data = {"endpoints": [], "probes": {"http": [], "tcp": []}, "redis": {"is_available": True}, "deployment": None,
            "pods": [], "secrets": [], "clocks": {}}
    assert incident_check(data, "auth_failures")["verdict"] == "OK"
    with pytest.raises(AnsibleFilterError, match="auth_failures"):
        incident_check(data, "auth_failures", no_such_option=1)


def test_api_down_kind_refuses_an_unbounded_memory_factor():
    data = {"workloads": {"workloads": [{"kind": "Deployment", "name": "sark", "replicas": {"desired": 1, "ready": 0},
                                         "pods": [{"name": "p", "reason": "OOMKilled", "containers": [{"name": "sark", "limits": {"memory": "1Gi"}}]}],
                                         "revisions": []}]}}
    assert incident_check(data, "api_down", name="sark")["details"]["memory"][0]["raised"] == "1536Mi"
    with pytest.raises(AnsibleFilterError, match="factor"):
        incident_check(data, "api_down", name="sark", memory_factor=10)


def test_incident_auth_endpoints_rejects_a_non_dict():
    with pytest.raises(AnsibleFilterError, match="Deployment"):
        incident_auth_endpoints(["not", "a", "deployment"])
    assert incident_auth_endpoints(None) == []
