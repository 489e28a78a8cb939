from ansible_collections.sark.ops.plugins.module_utils._health import evaluate_health

RUNBOOK_BODY = {"status": "healthy", "version": "1.0.0", "timestamp": "2025-11-22T10:00:00Z",
                "components": {"database": "healthy", "redis": "healthy", "opa": "healthy", "siem": "healthy"},
                "metrics": {"active_users": 1250, "registered_servers": 3500, "requests_per_minute": 5000}}
V2_BODY = {"status": "degraded", "version": "2.0.0", "environment": "production", "overall_healthy": False,
           "dependencies": {"postgresql": {"healthy": True, "latency_ms": 1.2, "error": None},
                            "redis": {"healthy": True, "latency_ms": 0.4, "error": None},
                            "opa": {"healthy": False, "latency_ms": None, "error": "connection refused"}}}


def probe(body, status=200):
    return {"ok": status == 200, "status": status, "body": body, "latency_ms": 3.0}


def test_runbook_shape_healthy():
    result = evaluate_health({"detailed": probe(RUNBOOK_BODY)})
    assert result["is_available"] and result["shape"] == "components"
    assert result["verdict"] == "healthy"
    assert result["metrics"]["active_users"] == 1250
    assert result["components"]["siem"] == {"status": "healthy", "healthy": True, "latency_ms": None, "error": None, "ignored": False}
    unknown = evaluate_health({"detailed": probe(dict(RUNBOOK_BODY, components=dict(RUNBOOK_BODY["components"], opa="unknown")))})
    assert unknown["verdict"] == "degraded" and unknown["unknown_components"] == ["opa"] and unknown["unhealthy_components"] == []


def test_runbook_component_degraded_counts():
    body = dict(RUNBOOK_BODY, components=dict(RUNBOOK_BODY["components"], siem="degraded"))
    result = evaluate_health({"detailed": probe(body)})
    assert result["verdict"] == "unhealthy"
    assert result["unhealthy_components"] == ["siem"]


def test_v2_shape_judges_each_dependency_and_ignores_opa_when_asked():
    result = evaluate_health({"detailed": probe(V2_BODY)})
    assert result["shape"] == "dependencies" and result["verdict"] == "unhealthy"
    assert result["components"]["postgresql"]["latency_ms"] == 1.2
    ignored = evaluate_health({"detailed": probe(V2_BODY)}, {"opa"})
    assert ignored["verdict"] == "degraded"
    assert ignored["components"]["opa"]["ignored"] is True
    assert ignored["reported_overall_healthy"] is False


def test_ready_probe_false_dependency_makes_unhealthy_only_if_counted():
    ready = probe({"ready": False, "database": True, "redis": False, "opa": False})
    result = evaluate_health({"detailed": probe(V2_BODY), "ready": ready}, {"opa"})
    assert result["ready"] is False and result["not_ready"] == ["redis"]


def test_unavailable_and_unknown_shapes():
    down = evaluate_health({"detailed": {"ok": False, "error": "refused"}})
    assert down["is_available"] is False and down["verdict"] == "unavailable" and down["error"] == "refused"
    odd = evaluate_health({"detailed": probe({"status": "ok"})})
    assert odd["is_available"] is False and "unrecognised" in odd["error"]
