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


def test_ready_probe_false_dependency_degrades_only_if_counted():
    """/health/ready (always HTTP 200) naming a dependency false lowers a healthy verdict to degraded (sark_health's
    documented verdicts) - unless that dependency is ignored; an unanswered ready probe is unhealthy."""
    healthy = dict(V2_BODY, status="healthy", overall_healthy=True,
                   dependencies=dict(V2_BODY["dependencies"], opa={"healthy": True, "latency_ms": 2.0, "error": None}))
    assert evaluate_health({"detailed": probe(healthy)})["verdict"] == "healthy"  # the premise: detailed alone is healthy
    all_ready = evaluate_health({"detailed": probe(healthy), "ready": probe({"ready": True, "database": True, "redis": True, "opa": True})})
    assert all_ready["verdict"] == "healthy" and all_ready["ready"] is True and all_ready["not_ready"] == []

    redis_down = probe({"ready": False, "database": True, "redis": False, "opa": False})
    counted = evaluate_health({"detailed": probe(healthy), "ready": redis_down}, {"opa"})
    assert counted["verdict"] == "degraded" and counted["ready"] is False and counted["not_ready"] == ["redis"]

    opa_only = probe({"ready": False, "database": True, "redis": True, "opa": False})
    ignored = evaluate_health({"detailed": probe(healthy), "ready": opa_only}, {"opa"})
    assert ignored["verdict"] == "healthy" and ignored["ready"] is True and ignored["not_ready"] == []
    not_ignored = evaluate_health({"detailed": probe(healthy), "ready": opa_only})
    assert not_ignored["verdict"] == "degraded" and not_ignored["not_ready"] == ["opa"]

    unanswered = evaluate_health({"detailed": probe(healthy), "ready": {"ok": False, "status": 503, "error": "HTTP 503"}})
    assert unanswered["verdict"] == "unhealthy" and unanswered["ready"] is False
    # an already unhealthy verdict stays unhealthy (a ready probe never makes things look better)
    worse = evaluate_health({"detailed": probe(V2_BODY), "ready": redis_down})
    assert worse["verdict"] == "unhealthy"


def test_unavailable_and_unknown_shapes():
    down = evaluate_health({"detailed": {"ok": False, "error": "refused"}})
    assert down["is_available"] is False and down["verdict"] == "unavailable" and down["error"] == "refused"
    odd = evaluate_health({"detailed": probe({"status": "ok"})})
    assert odd["is_available"] is False and "unrecognised" in odd["error"]
