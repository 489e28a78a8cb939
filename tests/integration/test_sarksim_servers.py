"""The simulator's sark_v2 servers API follows the contract section "SARK 2.x details that decide
idempotence, bulk work and safe writes" (shared/spec/sark-contract.md), fact by fact.

A simulator kinder than SARK hides exactly the bugs these facts cause (duplicates from a list
without endpoints, a substring search taken for an exact match, a transactional bulk mode that
commits and reports failure), so each fact gets its own test. Real PostgreSQL and Redis.
"""

import uuid

import httpx
import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import SarkSimulator, policy  # noqa: E402

LIST_ITEM_KEYS = {"id", "name", "transport", "status", "sensitivity_level", "created_at"}
EXPORT_KEYS = {"id", "name", "description", "transport", "endpoint", "status", "sensitivity_level", "created_at",
               "updated_at", "metadata"}
CLOSED = "Transaction failed: Can't operate on closed transaction inside context manager"


@pytest.fixture(scope="module")
def v2(pg_server, redis_server, redis_db):
    sim = SarkSimulator("sark_v2", pg=pg_server, redis=redis_server, redis_db=redis_db, sark_db="simsrv_v2",
                        audit_db="simsrv_v2_audit", seed=True)
    sim.spawn()
    try:
        sim.wait_ready()
        httpx.post(sim.url + "/_sim/config", json={"rate_limit_enabled": False}, timeout=10).raise_for_status()
        sim.redis = sim.redis_client()
        yield sim
    finally:
        sim.cleanup()


def sql(sim, query, params=None, audit=False):
    return sim.sql(query, params, audit=audit)


def item(name, **extra):
    body = {"name": name, "transport": "http", "endpoint": "https://%s.example.com" % name}
    body.update(extra)
    return body


def register(client, name, **extra):
    answer = client.post("/api/v1/servers/", json=dict(item(name, **extra), tools=[]))
    assert answer.status_code == 201, answer.text
    return answer.json()["server_id"]


def registration_key(sim, name, sensitivity="medium", transport="http"):
    """The policy:decision key of a `server:register` decision for the simulator's admin token."""
    context = {"user_role": "admin", "user_teams": [], "server_name": name, "sensitivity_level": sensitivity,
               "transport": transport}
    return policy.decision_key(sim.admin_id, "server:register", "server:%s" % name, context)


def test_list_items_carry_no_endpoint_or_description(v2):
    with v2.client() as client:
        register(client, "li-1", description="has a description")
        items = client.get("/api/v1/servers/", params={"search": "li-1"}).json()["items"]
    assert [set(i) for i in items] == [LIST_ITEM_KEYS]


def test_search_is_a_case_insensitive_name_substring_newest_first(v2):
    with v2.client() as client:
        ids = [register(client, name) for name in ("bk1-1", "bk1-10", "BK1-199")]
        register(client, "unrelated", description="mentions bk1-1 in its description")
        items = client.get("/api/v1/servers/", params={"search": "bK1-1"}).json()["items"]
    assert [i["id"] for i in items] == ids[::-1]  # substring, any case, newest first; descriptions not searched


def test_limit_range_cursor_and_tags_are_broken(v2):
    with v2.client() as client:
        assert client.get("/api/v1/servers/", params={"limit": 0}).status_code == 422
        assert client.get("/api/v1/servers/", params={"limit": 201}).status_code == 422
        page = client.get("/api/v1/servers/", params={"limit": 1})
        assert page.status_code == 200 and page.json()["has_more"] and page.json()["next_cursor"]
        assert client.get("/api/v1/servers/", params={"limit": 200}).status_code == 200
        assert client.get("/api/v1/servers/", params={"limit": 1, "cursor": page.json()["next_cursor"]}).status_code == 500
        assert client.get("/api/v1/servers/", params={"tags": "production"}).status_code == 500


def test_get_one_server_is_the_full_record(v2):
    with v2.client() as client:
        server_id = register(client, "full-1", metadata={"team": "a"})
        body = client.get("/api/v1/servers/" + server_id).json()
        assert client.get("/api/v1/servers/" + str(uuid.uuid4())).status_code == 404
    assert body["endpoint"] == "https://full-1.example.com" and body["tools"] == [] and body["metadata"] == {"team": "a"}


def test_export_is_every_server_unpaged_in_the_contract_shape(v2):
    with v2.client() as client:
        answer = client.post("/api/v1/bulk/servers/register", json={"servers": [item("exp-%03d" % n) for n in range(100)]})
        assert answer.json()["succeeded"] == 100
        answer = client.post("/api/v1/bulk/servers/register", json={"servers": [item("exp-%03d" % n) for n in range(100, 200)]})
        assert answer.json()["succeeded"] == 100
        body = client.get("/api/v1/export/servers.json").json()
    count = sql(v2, "SELECT count(*) FROM mcp_servers")[0][0]
    assert count > 200
    assert set(body) == {"export_type", "exported_at", "total_records", "servers"} and body["export_type"] == "servers"
    assert body["total_records"] == len(body["servers"]) == count
    assert all(set(s) == EXPORT_KEYS for s in body["servers"])


def test_no_delete_or_patch_of_one_server_and_openapi_says_get_only(v2):
    with v2.client() as client:
        server_id = register(client, "no-del-1")
        assert client.delete("/api/v1/servers/" + server_id).status_code == 405
        assert client.patch("/api/v1/servers/" + server_id, json={"status": "inactive"}).status_code == 405
    paths = httpx.get(v2.url + "/openapi.json").json()["paths"]
    assert set(paths["/api/v1/servers/{server_id}"]) == {"get"}
    assert set(paths["/api/v1/bulk/servers/register"]) == {"post"}
    assert set(paths["/api/v1/bulk/servers/status"]) == {"patch"}
    assert sql(v2, "SELECT lower(status::text) FROM mcp_servers WHERE id = %s", (server_id,)) == [("registered",)]


def test_bulk_register_does_per_item_what_one_registration_does(v2):
    with v2.client() as client:
        assert client.post("/api/v1/bulk/servers/register", json={"servers": []}).status_code == 422
        too_many = [item("tm-%d" % n) for n in range(101)]
        assert client.post("/api/v1/bulk/servers/register", json={"servers": too_many}).status_code == 422
        single = register(client, "one-by-one")
        answer = client.post("/api/v1/bulk/servers/register", json={
            "servers": [item("bulk-a"), item("bulk-b", sensitivity_level="high", tools=[{"name": "t1"}])],
            "fail_on_first_error": False})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"total", "succeeded", "failed", "succeeded_items", "failed_items"}
    assert (body["total"], body["succeeded"], body["failed"], body["failed_items"]) == (2, 2, 0, [])
    assert [(i["name"], i["status"]) for i in body["succeeded_items"]] == [("bulk-a", "registered"), ("bulk-b", "registered")]
    ids = [i["server_id"] for i in body["succeeded_items"]] + [single]
    rows = sql(v2, "SELECT id::text, name, endpoint, lower(sensitivity_level::text) FROM mcp_servers WHERE id::text = ANY(%s)"
               " ORDER BY name", (ids,))
    assert [r[1:] for r in rows] == [("bulk-a", "https://bulk-a.example.com", "medium"),
                                     ("bulk-b", "https://bulk-b.example.com", "high"),
                                     ("one-by-one", "https://one-by-one.example.com", "medium")]
    assert sql(v2, "SELECT count(*) FROM mcp_tools WHERE server_id = %s", (body["succeeded_items"][1]["server_id"],)) == [(1,)]
    # one SERVER_REGISTERED audit event per server, bulk or not
    events = sql(v2, "SELECT server_id::text FROM audit_events WHERE event_type::text = 'SERVER_REGISTERED'"
                     " AND server_id::text = ANY(%s)", (ids,), audit=True)
    assert sorted(e[0] for e in events) == sorted(ids)
    # a policy decision per server, bulk or not
    for name, level in (("bulk-a", "medium"), ("bulk-b", "high"), ("one-by-one", "medium")):
        assert v2.redis.exists(registration_key(v2, name, level)), name


def test_registration_denied_by_policy(v2):
    developer = v2.make_token(sub=str(uuid.uuid4()), is_admin=False, role="developer")
    with v2.client(token=developer) as client:
        single = client.post("/api/v1/servers/", json=dict(item("denied-1"), tools=[]))
        bulk = client.post("/api/v1/bulk/servers/register", json={"servers": [item("denied-2")]}).json()
    assert single.status_code == 500 and single.json() == {"detail": "Server registration failed"}
    assert bulk["failed"] == 1 and bulk["failed_items"][0]["error"].startswith("Policy denied")
    assert sql(v2, "SELECT count(*) FROM mcp_servers WHERE name LIKE 'denied-%%'") == [(0,)]


def test_bulk_register_fail_on_first_error_reports_all_failed_but_commits_the_first(v2):
    with v2.client() as client:
        body = client.post("/api/v1/bulk/servers/register", json={
            "servers": [item("ffe-1"), item("ffe-2"), item("ffe-3")], "fail_on_first_error": True}).json()
    assert (body["total"], body["succeeded"], body["failed"], body["succeeded_items"]) == (3, 0, 3, [])
    assert [i["name"] for i in body["failed_items"]] == ["ffe-1", "ffe-2", "ffe-3"]
    assert all(i["error"].startswith(CLOSED) for i in body["failed_items"])
    assert sql(v2, "SELECT name FROM mcp_servers WHERE name LIKE 'ffe-%%'") == [("ffe-1",)]


def test_bulk_status_best_effort_and_broken_fail_on_first_error(v2):
    with v2.client() as client:
        first, second = register(client, "st-1"), register(client, "st-2")
        assert client.patch("/api/v1/bulk/servers/status", json={"updates": []}).status_code == 422
        assert client.patch("/api/v1/bulk/servers/status", json={
            "updates": [{"server_id": first, "status": "active"}] * 101}).status_code == 422
        best = client.patch("/api/v1/bulk/servers/status", json={"fail_on_first_error": False, "updates": [
            {"server_id": first, "status": "unhealthy"}, {"server_id": str(uuid.uuid4()), "status": "active"}]}).json()
        broken = client.patch("/api/v1/bulk/servers/status", json={"fail_on_first_error": True, "updates": [
            {"server_id": first, "status": "inactive"}, {"server_id": second, "status": "inactive"}]}).json()
    assert (best["succeeded"], best["failed"]) == (1, 1)
    assert best["succeeded_items"] == [{"server_id": first, "name": "st-1", "status": "unhealthy"}]
    assert (broken["succeeded"], broken["failed"]) == (0, 2)
    assert all(i["error"].startswith(CLOSED) for i in broken["failed_items"])
    # reported failed, yet the change is committed (the first update of the batch)
    assert sql(v2, "SELECT name, lower(status::text) FROM mcp_servers WHERE id::text IN (%s, %s) ORDER BY name",
               (first, second)) == [("st-1", "inactive"), ("st-2", "registered")]
    updated = sql(v2, "SELECT count(*) FROM audit_events WHERE event_type::text = 'SERVER_UPDATED' AND server_id = %s",
                  (first,), audit=True)
    assert updated == [(1,)]  # the best-effort change only: the broken mode writes no event
