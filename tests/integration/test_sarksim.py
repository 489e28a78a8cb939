"""The SARK API simulator (tests/harness/sarksim) behaves as shared/spec/sark-contract.md says, in both layouts.

Real PostgreSQL and Redis (the session servers of conftest.py); each layout gets its own two
databases and its own Redis database number.
"""

import datetime
import http.server
import json
import threading
import uuid

import httpx
import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import SarkSimulator, csrf_headers, data, policy  # noqa: E402
from harness.sarksim.__main__ import parse_args  # noqa: E402
from harness.servers import free_port  # noqa: E402

# these test the test harness (the simulator), not the collection: the test command counts them apart
pytestmark = pytest.mark.harness

LAYOUT_DBS = {"runbook": ("sarksim_rb", "sarksim_rb_audit"), "sark_v2": ("sarksim_v2", "sarksim_v2_audit")}


@pytest.fixture(scope="module")
def sims(pg_server, redis_server, redis_dbs):
    """Both layouts plus one whose PostgreSQL does not exist, started side by side (imports dominate start-up)."""
    started = {}
    numbers = [redis_dbs.take("test_sarksim/%s" % name) for name in ("runbook", "sark_v2", "no_pg")]
    for (layout, (sark_db, audit_db)), redis_db in zip(LAYOUT_DBS.items(), numbers):
        sim = SarkSimulator(layout, pg=pg_server, redis=redis_server, redis_db=redis_db, sark_db=sark_db,
                            audit_db=audit_db, seed=True)
        sim.redis = sim.redis_client()
        sim.redis.flushdb()
        started[layout] = sim
    started["no_pg"] = SarkSimulator("runbook", redis=redis_server, redis_db=numbers[2],
                                     pg_dsn_sark="host=127.0.0.1 port=%d dbname=sark user=postgres" % free_port(),
                                     pg_dsn_audit="host=127.0.0.1 port=%d dbname=sark_audit user=postgres" % free_port())
    try:
        for sim in started.values():
            sim.spawn()
        for sim in started.values():
            sim.wait_ready()
        yield started
    finally:
        for sim in started.values():
            sim.cleanup()
        for number in numbers:
            redis_dbs.give_back(number)


@pytest.fixture(scope="module")
def rb(sims):
    return sims["runbook"]


@pytest.fixture(scope="module")
def v2(sims):
    return sims["sark_v2"]


@pytest.fixture(autouse=True)
def _reset_faults(request):
    """Clear the fault plan and request log of whichever simulator a test uses."""
    for name in ("rb", "v2"):
        if name in request.fixturenames:
            httpx.post(request.getfixturevalue(name).url + "/_sim/reset")
    yield


def _sql(sim, query, params=None, audit=False):
    return sim.sql(query, params, audit=audit)


def _enum_labels(sim, type_name, audit=False):
    return [row[0] for row in _sql(sim, "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid"
                                        " WHERE t.typname = %s ORDER BY e.enumsortorder", (type_name,), audit)]


# --- runbook layout ---------------------------------------------------------------------------------------------

def test_runbook_health_shape_and_real_checks(rb):
    body = httpx.get(rb.url + "/health/detailed").json()
    assert set(body) == {"status", "version", "timestamp", "components", "metrics"}
    assert body["components"] == {"database": "healthy", "redis": "healthy", "opa": "unknown", "siem": "healthy"}
    assert body["status"] == "healthy" and body["timestamp"].endswith("Z")
    assert body["metrics"]["active_users"] == 3 and body["metrics"]["registered_servers"] >= 5
    assert httpx.get(rb.url + "/health").json()["components"] == body["components"]


def test_runbook_siem_component_reads_redis(rb):
    assert data.seed_siem_queue(rb.redis, events=1001) == (1001, 0)
    try:
        health = httpx.get(rb.url + "/health/detailed").json()
        assert health["components"]["siem"] == "degraded" and health["status"] == "degraded"
        for variant in ("000", "002"):
            data.set_circuit_breaker(rb.redis, variant, state="open")
            assert httpx.get(rb.url + "/health/detailed").json()["components"]["siem"] == "unhealthy"
            data.clear_circuit_breakers(rb.redis)
    finally:
        rb.redis.delete(data.SIEM_QUEUE, data.SIEM_FAILED)
        data.clear_circuit_breakers(rb.redis)
    assert httpx.get(rb.url + "/health/detailed").json()["components"]["siem"] == "healthy"


def test_runbook_openapi_routes(rb):
    paths = httpx.get(rb.url + "/openapi.json").json()["paths"]
    for path in ("/health/detailed", "/api/v1/servers", "/api/v1/users", "/api/v1/users/{user_id}",
                 "/api/v1/admin/announce", "/api/v1/policies"):
        assert path in paths
    assert "/api/v1/policy/evaluate" not in paths and "/api/v1/servers/" not in paths
    assert not any(p.startswith("/_sim") for p in paths)


def test_runbook_auth_errors(rb):
    url = rb.url + "/api/v1/servers"
    assert httpx.get(url).status_code == 401
    bad = httpx.get(url, headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401 and "detail" in bad.json()
    expired = httpx.get(url, headers={"Authorization": "Bearer " + rb.make_token(ttl=-60)})
    assert expired.status_code == 401 and "expired" in expired.json()["detail"].lower()
    user_token = rb.make_token("user-123", is_admin=False)
    assert httpx.get(url, headers={"Authorization": "Bearer " + user_token}).status_code == 200
    assert httpx.get(rb.url + "/api/v1/users", headers={"Authorization": "Bearer " + user_token}).status_code == 403


def test_runbook_servers_crud_and_soft_delete(rb):
    with rb.client() as client:
        created = client.post("/api/v1/servers", json={"name": "rb-srv-1", "endpoint": "https://rb1.example.com",
                                                       "tags": ["production", "us-west-2"]})
        assert created.status_code == 201
        server = created.json()
        assert server["status"] == "active" and server["owner_id"] == rb.admin_id
        assert client.post("/api/v1/servers", json={"name": "rb-srv-1", "endpoint": "x"}).status_code == 409
        found = client.get("/api/v1/servers", params={"search": "rb-srv"}).json()["servers"]
        assert [s["id"] for s in found] == [server["id"]]
        assert client.get("/api/v1/servers", params={"owner_id": "user-123"}).json()["servers"]
        assert client.patch("/api/v1/servers/" + server["id"], json={"status": "INACTIVE"}).status_code == 422
        assert client.patch("/api/v1/servers/" + server["id"], json={"status": "unhealthy"}).json()["status"] == \
            "unhealthy"
        deleted = client.delete("/api/v1/servers/" + server["id"])
        assert deleted.status_code == 200 and deleted.json()["status"] == "inactive"
        assert client.delete("/api/v1/servers/no-such-id").status_code == 404
    assert _sql(rb, "SELECT status::text FROM servers WHERE id = %s", (server["id"],)) == [("inactive",)]
    assert _enum_labels(rb, "server_status") == ["active", "inactive", "unhealthy", "decommissioned"]
    events = _sql(rb, "SELECT event_type::text FROM audit_events WHERE server_id = %s ORDER BY time",
                  (server["id"],), audit=True)
    assert [e[0] for e in events] == ["server_registered", "server_updated", "server_deleted"]


def test_runbook_users_api(rb):
    with rb.client() as client:
        made = client.post("/api/v1/users", json={"username": "new.person", "email": "np@example.com",
                                                  "password": "SecureP@ssw0rd!", "roles": ["user"]})
        assert made.status_code == 201
        user = made.json()
        assert "password_hash" not in user and user["is_admin"] is False
        assert client.post("/api/v1/users", json={"username": "new.person", "password": "x"}).status_code == 409
        assert client.patch("/api/v1/users/" + user["id"], json={"roles": ["user", "admin"]}).json()["is_admin"]
        disabled = client.patch("/api/v1/users/" + user["id"], json={"is_active": False}).json()
        assert disabled["is_active"] is False
        assert client.get("/api/v1/users/" + user["id"]).json()["roles"] == ["user", "admin"]
        listed = client.get("/api/v1/users", params={"is_active": "false"}).json()
        assert {"new.person", "old.account"} <= {u["username"] for u in listed["users"]}
        assert client.patch("/api/v1/users/nobody", json={"is_active": False}).status_code == 404
    (password_hash,) = _sql(rb, "SELECT password_hash FROM users WHERE id = %s", (user["id"],))[0]
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert ("user_disabled",) in _sql(rb, "SELECT event_type::text FROM audit_events WHERE details->>'user_id' = %s",
                                      (user["id"],), audit=True)


def test_runbook_announce_stored_in_redis(rb):
    # the runbook's curl sends JSON without Content-Type: accepted as well
    answer = httpx.post(rb.url + "/api/v1/admin/announce", content=b'{"message": "Emergency maintenance"}',
                        headers={"Authorization": "Bearer " + rb.token,
                                 "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 202
    stored = json.loads(rb.redis.lindex("sark:announcements", 0))
    assert stored["message"] == "Emergency maintenance" and stored["created_by"] == rb.admin_id
    with rb.client() as client:
        assert client.post("/api/v1/admin/announce", json={}).status_code == 422
    user_token = rb.make_token("user-123", is_admin=False)
    assert httpx.post(rb.url + "/api/v1/admin/announce", json={"message": "x"},
                      headers={"Authorization": "Bearer " + user_token}).status_code == 403


def test_runbook_rate_limit_headers_keys_and_429(rb):
    sub = "rl-user-%s" % uuid.uuid4().hex[:8]
    headers = {"Authorization": "Bearer " + rb.make_token(sub, is_admin=False)}
    first = httpx.get(rb.url + "/api/v1/servers", headers=headers)
    assert first.headers["X-RateLimit-Limit"] == "5000" and first.headers["X-RateLimit-Remaining"] == "4999"
    key = data.runbook_rate_limit_key(sub)
    assert rb.redis.type(key) == "string" and rb.redis.get(key) == "1" and 0 < rb.redis.ttl(key) <= 3600
    assert int(first.headers["X-RateLimit-Reset"]) % 3600 == 0
    assert httpx.post(rb.url + "/_sim/config", json={"rate_limit_user": 0}).status_code == 422
    assert httpx.post(rb.url + "/_sim/config", json={"jwt_secret": "x"}).status_code == 422
    httpx.post(rb.url + "/_sim/config", json={"rate_limit_user": 2})
    try:
        assert httpx.get(rb.url + "/api/v1/servers", headers=headers).status_code == 200
        limited = httpx.get(rb.url + "/api/v1/servers", headers=headers)
        assert limited.status_code == 429 and limited.headers["X-RateLimit-Remaining"] == "0"
        assert "Retry-After" not in limited.headers  # runbook layout: only the X-RateLimit-* headers
    finally:
        httpx.post(rb.url + "/_sim/config", json={"rate_limit_user": 5000})
    assert httpx.get(rb.url + "/health").headers.get("X-RateLimit-Limit") is None


def test_runbook_seeded_audit_gap_and_policy_evaluations(rb):
    summary = rb.seed_summary
    gap_start = datetime.datetime.fromisoformat(summary["gap_start"])
    hours = _sql(rb, "SELECT date_trunc('hour', time) AS h, count(*) FROM audit_events"
                     " WHERE details->>'seed' = 'true' GROUP BY h ORDER BY h", audit=True)
    assert len(hours) == 5 and gap_start not in [h for h, _n in hours]
    assert _sql(rb, "SELECT count(*) FROM policy_evaluations", audit=True)[0][0] == summary["policy_evaluations"] > 0
    assert _sql(rb, "SELECT count(*) FROM audit_events WHERE event_type = 'logout' AND logout_time > login_time",
                audit=True)[0][0] > 0
    assert "user_disabled" in _enum_labels(rb, "event_type", audit=True)


def test_runbook_fault_injection_and_request_log(rb):
    fault = httpx.post(rb.url + "/_sim/faults", json={"path_prefix": "/api/v1/servers", "status": 503, "count": 2,
                                                      "retry_after": 1}).json()["fault"]
    with rb.client() as client:
        codes = [client.get("/api/v1/servers") for _attempt in range(3)]
    assert [r.status_code for r in codes] == [503, 503, 200] and codes[0].headers["Retry-After"] == "1"
    log = httpx.get(rb.url + "/_sim/requests", params={"path_prefix": "/api/v1/servers"}).json()["requests"]
    assert [(e["status"], e["fault"]) for e in log] == [(503, fault["id"]), (503, fault["id"]), (200, None)]
    assert httpx.get(rb.url + "/_sim/faults").json()["faults"] == []
    httpx.post(rb.url + "/_sim/faults", json={"path_prefix": "/api/", "status": 500, "count": 5})
    httpx.post(rb.url + "/_sim/reset")
    with rb.client() as client:
        assert client.get("/api/v1/servers").status_code == 200


def _metric(sim, name, **labels):
    """The value of one sample of the simulator's /metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families  # pylint: disable=import-outside-toplevel
    for family in text_string_to_metric_families(httpx.get(sim.url + "/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_runbook_metrics_count_the_answers_really_sent(rb):
    ok = dict(method="GET", endpoint="/api/v1/servers", status="200")
    fault = dict(ok, status="503")
    detail = dict(method="GET", endpoint="/api/v1/servers/{server_id}", status="404")
    before = [_metric(rb, "http_requests_total", **labels) for labels in (ok, fault, detail)]
    slow_before = _metric(rb, "http_request_duration_seconds_bucket", method="GET", endpoint="/api/v1/servers", le="0.25")
    count_before = _metric(rb, "http_request_duration_seconds_count", method="GET", endpoint="/api/v1/servers")
    httpx.post(rb.url + "/_sim/faults", json={"path_prefix": "/api/v1/servers", "status": 503, "count": 1})
    httpx.post(rb.url + "/_sim/faults", json={"path_prefix": "/api/v1/servers", "delay_seconds": 0.3, "count": 1})
    with rb.client() as client:
        codes = [client.get("/api/v1/servers").status_code for _attempt in range(4)]
        assert client.get("/api/v1/servers/999999").status_code == 404
    assert codes == [503, 200, 200, 200]
    after = [_metric(rb, "http_requests_total", **labels) for labels in (ok, fault, detail)]
    # the fault is answered before routing and still counted under its route; the id is not a label
    assert [a - b for a, b in zip(after, before)] == [3, 1, 1]
    # the held request took > 0.3 s: one more in the count than at or below 0.25 s
    assert _metric(rb, "http_request_duration_seconds_count", method="GET", endpoint="/api/v1/servers") - count_before == 4
    assert _metric(rb, "http_request_duration_seconds_bucket", method="GET", endpoint="/api/v1/servers", le="0.25") - slow_before == 3
    # neither /metrics nor the simulator's controls are counted
    assert _metric(rb, "http_requests_total", endpoint="/metrics") == 0
    assert not [line for line in httpx.get(rb.url + "/metrics").text.splitlines() if "/_sim/" in line]


# --- sark_v2 layout ---------------------------------------------------------------------------------------------

def test_v2_health_redirect_and_shapes(v2):
    redirect = httpx.get(v2.url + "/health")
    assert redirect.status_code == 307 and redirect.headers["location"].endswith("/health/")
    assert httpx.get(v2.url + "/health", follow_redirects=True).json()["status"] == "healthy"
    detailed = httpx.get(v2.url + "/health/detailed").json()
    assert set(detailed) == {"status", "version", "environment", "dependencies", "overall_healthy"}
    deps = detailed["dependencies"]
    assert deps["postgresql"]["healthy"] and deps["redis"]["healthy"]
    assert set(deps["postgresql"]) == {"healthy", "latency_ms", "error"}
    assert deps["opa"]["healthy"] is False  # the known SARK 2.x bug
    assert detailed["status"] == "degraded" and detailed["overall_healthy"] is False
    ready = httpx.get(v2.url + "/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": False, "database": True, "redis": True, "opa": False}
    assert httpx.get(v2.url + "/health/live").json()["status"] == "alive"
    assert httpx.get(v2.url + "/health/startup").json()["status"] == "started"


def test_v2_openapi_routes(v2):
    paths = httpx.get(v2.url + "/openapi.json").json()["paths"]
    for path in ("/health/", "/api/v1/servers/", "/api/v1/bulk/servers/status", "/api/v1/export/servers.json",
                 "/api/v1/policy/evaluate", "/api/v1/policy/list"):
        assert path in paths
    assert "/api/v1/users" not in paths and "/api/v1/admin/announce" not in paths
    assert set(paths["/api/v1/servers/{server_id}"]) == {"get"}


def test_v2_servers_redirect_csrf_and_duplicates(v2):
    auth = {"Authorization": "Bearer " + v2.token}
    listing = httpx.get(v2.url + "/api/v1/servers", headers=auth)
    assert listing.status_code == 307 and listing.headers["location"].endswith("/api/v1/servers/")
    body = {"name": "dup-name", "transport": "http", "endpoint": "http://dup.example.com",
            "tools": [{"name": "query", "sensitivity_level": "high"}], "sensitivity_level": "low"}
    assert httpx.post(v2.url + "/api/v1/servers/", json=body, headers=auth).status_code == 403
    mismatched = dict(auth, **{"X-CSRF-Token": "a" * 40, "Cookie": "csrf_token=" + "b" * 40})
    assert httpx.post(v2.url + "/api/v1/servers/", json=body, headers=mismatched).status_code == 403
    short = dict(auth, **csrf_headers("short-token"))
    assert httpx.post(v2.url + "/api/v1/servers/", json=body, headers=short).status_code == 403
    with v2.client() as client:
        assert client.post("/api/v1/servers", json=body).status_code == 307  # with a valid CSRF pair
        first = client.post("/api/v1/servers/", json=body)
        second = client.post("/api/v1/servers", json=body, follow_redirects=True)
    assert first.status_code == second.status_code == 201
    assert first.json()["status"] == "registered" and set(first.json()) == {"server_id", "status", "consul_id"}
    assert first.json()["server_id"] != second.json()["server_id"]
    rows = _sql(v2, "SELECT status::text, transport::text, sensitivity_level::text FROM mcp_servers WHERE name = %s",
                ("dup-name",))
    assert rows == [("REGISTERED", "HTTP", "LOW")] * 2
    assert _enum_labels(v2, "serverstatus")[:2] == ["REGISTERED", "ACTIVE"]
    assert _sql(v2, "SELECT count(*) FROM mcp_tools t JOIN mcp_servers s ON s.id = t.server_id WHERE s.name = %s",
                ("dup-name",))[0][0] == 2
    log = httpx.get(v2.url + "/_sim/requests", params={"method": "POST"}).json()["requests"]
    assert [(e["status"], e["csrf_ok"]) for e in log] == [(403, False), (403, False), (403, False), (307, True),
                                                          (201, True), (307, True), (201, True)]


def test_v2_list_limits_broken_cursor_and_total(v2):
    """Details in test_sarksim_servers.py (the contract's servers section, fact by fact)."""
    with v2.client() as client:
        assert client.get("/api/v1/servers/", params={"limit": 201}).status_code == 422
        page = client.get("/api/v1/servers/", params={"limit": 2}).json()
        assert set(page) == {"items", "next_cursor", "has_more", "total"}
        assert page["has_more"] and page["next_cursor"] and page["total"] is None
        item = page["items"][0]
        assert set(item) == {"id", "name", "transport", "status", "sensitivity_level", "created_at"}
        assert item["status"] == item["status"].lower()
        assert client.get("/api/v1/servers/", params={"limit": 2, "cursor": page["next_cursor"]}).status_code == 500
        total = client.get("/api/v1/servers/", params={"status": "unhealthy", "include_total": "true"}).json()
        assert len(total["items"]) == 1 and total["total"] > 1  # total ignores the filters
        assert client.get("/api/v1/servers/", params={"search": "analytics"}).json()["items"][0]["name"] == "analytics"


def test_v2_no_delete_or_patch_and_bulk_status(v2):
    ids = v2.seed_summary["servers"]
    with v2.client() as client:
        assert client.delete("/api/v1/servers/" + ids[0]).status_code == 405
        assert client.patch("/api/v1/servers/" + ids[0], json={"status": "inactive"}).status_code == 405
        assert client.patch("/api/v1/bulk/servers/status", json={"updates": []}).status_code == 422
        too_many = [{"server_id": ids[0], "status": "inactive"}] * 101
        assert client.patch("/api/v1/bulk/servers/status", json={"updates": too_many}).status_code == 422
        best_effort = client.patch("/api/v1/bulk/servers/status", json={"updates": [
            {"server_id": ids[0], "status": "inactive"}, {"server_id": "not-a-uuid", "status": "inactive"},
            {"server_id": str(uuid.uuid4()), "status": "inactive"}]}).json()
        assert (best_effort["total"], best_effort["succeeded"], best_effort["failed"]) == (3, 1, 2)
        assert best_effort["succeeded_items"][0] == {"server_id": ids[0], "name": "prod-server-01", "status": "inactive"}
        atomic = client.patch("/api/v1/bulk/servers/status", json={"fail_on_first_error": True, "updates": [
            {"server_id": ids[0], "status": "active"}, {"server_id": "not-a-uuid", "status": "active"}]}).json()
        assert (atomic["succeeded"], atomic["failed"]) == (0, 2)
    # SARK 2.x's broken transactional mode: reported failed, the first update committed anyway
    assert _sql(v2, "SELECT status::text FROM mcp_servers WHERE id = %s", (ids[0],)) == [("ACTIVE",)]


def test_v2_export_json_and_csv(v2):
    count = _sql(v2, "SELECT count(*) FROM mcp_servers")[0][0]
    with v2.client() as client:
        exported = client.get("/api/v1/export/servers.json").json()
        csv_text = client.get("/api/v1/export/servers.csv").text
    assert exported["total_records"] == len(exported["servers"]) == count
    assert {"id", "name", "status", "metadata"} <= set(exported["servers"][0])
    assert csv_text.splitlines()[0].startswith("id,name,description,transport,endpoint,status")
    assert len(csv_text.strip().splitlines()) == count + 1


def test_v2_has_no_users_or_announce_api(v2):
    with v2.client() as client:
        assert client.get("/api/v1/users").status_code == 404
        assert client.post("/api/v1/users", json={"username": "x"}).status_code == 404
        assert client.post("/api/v1/admin/announce", json={"message": "x"}).status_code == 404
    assert _sql(v2, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'policy_evaluations'") == [(0,)]
    assert _sql(v2, "SELECT count(*) FROM users", audit=True)[0][0] == 4  # same tables in sark_audit


# sark_v2 has no rate limiting and no session writers: tests/integration/test_sarksim_v2_contract.py


def test_v2_policy_evaluate_cache_key_and_audit(v2):
    params = {"query": "select 1", "limit": 5}
    request = {"action": "tool:invoke", "tool": "query", "parameters": params}
    with v2.client() as client:
        first = client.post("/api/v1/policy/evaluate", json=request).json()
        second = client.post("/api/v1/policy/evaluate", json=request).json()
        assert client.get("/api/v1/policy/list").json()["policies"]
    assert first["decision"] == "allow" and first["cache_hit"] is False and second["cache_hit"] is True
    key = "policy:decision:%s:tool:invoke:tool_query:%s" % (v2.admin_id, policy.context_hash(params))
    assert key == policy.decision_key(v2.admin_id, "tool:invoke", "tool:query", params)
    cached = json.loads(v2.redis.get(key))
    assert set(cached) == {"allow", "reason", "filtered_parameters", "audit_id"} and cached["allow"] is True
    assert 0 < v2.redis.ttl(key) <= 120
    user_token = v2.make_token("00000000-0000-4000-8000-000000000123", is_admin=False)
    with v2.client(token=user_token) as client:
        assert client.post("/api/v1/policy/evaluate", json={"action": "tool:invoke"}).json()["decision"] == "deny"
        assert client.post("/api/v1/policy/evaluate", json={"action": "server:read"}).json()["decision"] == "allow"
    audit = _sql(v2, "SELECT event_type::text, decision FROM audit_events WHERE id = %s", (second["audit_id"],),
                 audit=True)
    assert audit == [("AUTHORIZATION_ALLOWED", "allow")]


class _FakeOpa(http.server.BaseHTTPRequestHandler):
    answer = {"result": True}

    def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        payload = json.dumps(self.answer).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args):  # pylint: disable=arguments-differ
        pass


def test_v2_policy_evaluate_through_opa_fails_closed(v2):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _FakeOpa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    httpx.post(v2.url + "/_sim/config", json={"opa_url": "http://127.0.0.1:%d" % server.server_address[1]})
    try:
        with v2.client() as client:
            _FakeOpa.answer = {"result": True}  # a bare boolean is not a decision: deny
            bare = client.post("/api/v1/policy/evaluate", json={"action": "a:read", "parameters": {"n": 1}}).json()
            _FakeOpa.answer = {"result": {"allow": True, "audit_reason": "opa says yes"}}
            good = client.post("/api/v1/policy/evaluate", json={"action": "a:read", "parameters": {"n": 2}}).json()
            server.shutdown()
            server.server_close()
            down = client.post("/api/v1/policy/evaluate", json={"action": "a:read", "parameters": {"n": 3}}).json()
        assert bare["decision"] == "deny"
        assert good["decision"] == "allow" and good["reason"] == "opa says yes"
        assert down["decision"] == "deny" and "failed" in down["reason"].lower()
    finally:
        httpx.post(v2.url + "/_sim/config", json={"opa_url": None})
        server.server_close()


def test_v2_fault_injection_with_retry_after(v2):
    fault = {"path_prefix": "/api/v1/export/", "status": 429, "count": 1, "retry_after": 2}
    httpx.post(v2.url + "/_sim/faults", json=fault)
    with v2.client() as client:
        limited = client.get("/api/v1/export/servers.json")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert client.get("/api/v1/export/servers.json").status_code == 200
        client.get("/api/v1/servers", follow_redirects=True)
    log = httpx.get(v2.url + "/_sim/requests").json()["requests"]
    assert [e["status"] for e in log] == [429, 200, 307, 200] and log[2]["redirected"] is True


# --- Redis seeding helpers ----------------------------------------------------------------------------------------

def test_seeding_helpers_write_each_layout(rb, v2):
    # what was written, counted in Redis (a wall-clock bound here said nothing about the layout and could trip on a
    # loaded machine)
    before = data.scan_count(rb.redis, "session:user:*")
    made = data.seed_runbook_sessions(rb.redis, ["user-%d" % n for n in range(2500)], per_user=4)
    assert len(made) == 10000 and len(set(made)) == 10000
    assert data.scan_count(rb.redis, "session:user:*") - before == 10000
    user_id, session_id = made[0]
    session = rb.redis.hgetall(data.runbook_session_key(user_id, session_id))
    assert {"user_id", "created_at", "expires_at", "ip_address", "user_agent", "token"} <= set(session)
    assert data.scan_count(rb.redis, "session:user:user-1:*") == 4
    over = data.seed_v2_sessions(v2.redis, ["00000000-0000-4000-8000-000000000123"], per_user=7, enforce_limit=False)
    kept = data.seed_v2_sessions(v2.redis, [str(uuid.uuid4())], per_user=7)
    assert len(over) == 7 and len(kept) == 5
    record = json.loads(v2.redis.get(data.v2_session_key(kept[0][1])))
    assert set(record) == {"session_id", "user_id", "created_at", "expires_at", "last_activity", "ip_address",
                           "user_agent", "metadata"}
    assert 86300 < v2.redis.ttl(data.v2_session_key(kept[0][1])) <= 86400
    assert 86400 < v2.redis.ttl(data.v2_user_sessions_key(kept[0][0])) <= 90000
    assert v2.redis.type(data.seed_rate_limits(v2.redis, "sark_v2", ["api_key:k1"], count=30)[0]) == "zset"
    assert v2.redis.zcard("rate_limit:api_key:k1") == 30
    assert rb.redis.get(data.seed_rate_limits(rb.redis, "runbook", ["user-9"], count=12)[0]) == "12"
    keys = data.seed_policy_decisions(v2.redis, "sark_v2", 10)
    assert all(k.startswith("policy:decision:") for k in keys) and 0 < v2.redis.ttl(keys[0]) <= 120
    assert rb.redis.get(data.seed_policy_versions(rb.redis)[0]) == "3"
    assert data.set_circuit_breaker(rb.redis, "002", state="open") == [
        "circuit:splunk:state", "circuit:splunk:failure", "circuit:datadog:state", "circuit:datadog:failure"]
    assert data.clear_circuit_breakers(rb.redis) == 4
    rb.redis.delete(*[data.runbook_session_key(u, s) for u, s in made])


def test_cli_requires_a_secret(monkeypatch):
    monkeypatch.delenv("SARKSIM_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        parse_args(["--pg-dsn-sark", "x", "--pg-dsn-audit", "y", "--redis-url", "redis://127.0.0.1:1/0"])


def test_database_outage_is_reported(sims):
    """A simulator whose PostgreSQL is gone still answers: health unhealthy/503, API 500."""
    sim = sims["no_pg"]
    health = httpx.get(sim.url + "/health/detailed")
    assert health.status_code == 503 and health.json()["components"]["database"] == "unhealthy"
    assert health.json()["status"] == "unhealthy" and health.json()["metrics"]["active_users"] is None
    with sim.client() as client:
        answer = client.get("/api/v1/servers")
    assert answer.status_code == 500 and "database" in answer.json()["detail"]
