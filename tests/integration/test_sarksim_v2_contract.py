"""The sark_v2 simulator follows the contract's "SARK 2.x details" on users, Redis writers and OpenAPI methods.

- users: extra_metadata, created_at, updated_at are NOT NULL without a database default (in both databases),
  so a row written by SQL without them is refused, as on SARK 2.x;
- Redis: a running SARK 2.x writes only policy:decision:* keys - no session:*, user_sessions:* or rate_limit:* -
  whatever the API is asked (and it never answers 429 on its own);
- OpenAPI: /api/v1/servers/{server_id} has only `get`; DELETE/PATCH there are 405.
"""

import uuid

import httpx
import psycopg2
import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import SarkSimulator  # noqa: E402

SARK_DB, AUDIT_DB = "simc_v2", "simc_v2_audit"
ORM_FILLED = ("extra_metadata", "created_at", "updated_at")


@pytest.fixture(scope="module")
def v2(pg_server, redis_server, redis_db):
    sim = SarkSimulator("sark_v2", pg=pg_server, redis=redis_server, redis_db=redis_db, sark_db=SARK_DB, audit_db=AUDIT_DB,
                        seed=True)
    sim.redis = sim.redis_client()
    sim.redis.flushdb()
    sim.pg_server = pg_server
    try:
        sim.start()
        yield sim
    finally:
        sim.cleanup()


def _sql(sim, dbname, query, params=None):
    conn = psycopg2.connect(sim.pg_server.dsn(dbname))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


@pytest.mark.parametrize("dbname", [SARK_DB, AUDIT_DB])
def test_users_orm_columns_have_no_database_default(v2, dbname):
    columns = dict((name, (nullable, default)) for name, nullable, default in _sql(
        v2, dbname, "SELECT column_name, is_nullable, column_default FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = 'users'"))
    for name in ORM_FILLED:
        assert columns[name] == ("NO", None), (name, columns[name])
    with pytest.raises(psycopg2.errors.NotNullViolation):
        _sql(v2, dbname, "INSERT INTO users (id, email) VALUES (%s, 'sql.only@example.com')", (str(uuid.uuid4()),))
    # the seeded users were written as the ORM writes them
    assert _sql(v2, dbname, "SELECT count(*) FROM users WHERE extra_metadata::text = '{}' AND updated_at IS NOT NULL")[0][0] == 4


def test_api_writes_only_policy_decisions_and_never_rate_limits(v2):
    v2.redis.flushdb()
    with v2.client() as client:
        assert client.get("/api/v1/servers/").status_code == 200
        created = client.post("/api/v1/servers/", json={"name": "simc-1", "transport": "http", "endpoint": "http://simc-1:8080",
                                                        "tools": []})
        assert created.status_code == 201
        server_id = created.json()["server_id"]
        assert client.get("/api/v1/servers/%s" % server_id).status_code == 200
        assert client.patch("/api/v1/bulk/servers/status", json={"updates": [{"server_id": server_id, "status": "active"}],
                                                                 "fail_on_first_error": False}).status_code == 200
        assert client.post("/api/v1/policy/evaluate", json={"action": "tool:invoke", "tool": "query"}).status_code == 200
        assert client.get("/health/detailed").status_code == 200
    # read at once: a decision lives policy_cache_ttl (120 s) and the requests below can take that long on a loaded machine
    keys = sorted(v2.redis.scan_iter(count=1000))
    assert keys and all(k.startswith("policy:decision:") for k in keys), keys
    # unauthenticated and bad-token requests: SARK 2.x would count them against an IP/token if its limiter were wired
    statuses = {httpx.get(v2.url + "/api/v1/servers/").status_code for _n in range(120)}
    statuses |= {httpx.get(v2.url + "/api/v1/servers/", headers={"Authorization": "Bearer not.a.jwt"}).status_code for _n in range(5)}
    assert statuses == {401}
    keys = sorted(v2.redis.scan_iter(count=1000))
    assert all(k.startswith("policy:decision:") for k in keys), keys  # no rate-limit key (the decision may have expired)
    answer = httpx.get(v2.url + "/api/v1/servers/", headers={"Authorization": "Bearer " + v2.token})
    assert "X-RateLimit-Limit" not in answer.headers


def test_rate_limiting_cannot_be_switched_on(v2):
    assert httpx.get(v2.url + "/_sim/config").json()["rate_limit_enabled"] is False
    refused = httpx.post(v2.url + "/_sim/config", json={"rate_limit_enabled": True})
    assert refused.status_code == 422 and "does not wire" in refused.json()["detail"]
    assert httpx.post(v2.url + "/_sim/config", json={"rate_limit_enabled": False}).status_code == 200


def test_openapi_single_server_route_has_only_get(v2):
    paths = httpx.get(v2.url + "/openapi.json").json()["paths"]
    assert set(paths["/api/v1/servers/{server_id}"]) == {"get"}
    with v2.client() as client:
        some_id = str(uuid.uuid4())
        assert client.delete("/api/v1/servers/%s" % some_id).status_code == 405
        assert client.patch("/api/v1/servers/%s" % some_id, json={"status": "inactive"}).status_code == 405
