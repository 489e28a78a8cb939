"""Regression tests of issue #9's server defects (sark_server / sark_server_info against the simulator).

Each test reproduces one defect as it showed against SARK 2.x; the simulator follows the contract's
"SARK 2.x details" section (list items without endpoint, substring search, one page of 200, bulk
endpoints with their broken fail_on_first_error), so these fail on the code before the fix.
Real PostgreSQL and Redis.
"""


import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import schema  # noqa: E402
from harness.sarksim.schema import SERVERS_TABLE as TABLE  # noqa: E402

SIM_OPTIONS = {"rate_limit_enabled": False}  # read by conftest's sims fixture
BOM = "\ufeff"

pytestmark = pytest.mark.usefixtures("fresh_sims")


def rows(sim, sql, args=()):
    return sim.sql(sql, args)


def named(sim, pattern):
    return rows(sim, "SELECT name, endpoint, lower(status::text) FROM " + TABLE[sim.layout] + " WHERE name LIKE %s ORDER BY name, endpoint",
                (pattern,))


def api(sim, **extra):
    return sim.api_args(**extra)


def requests_log(sim, prefix, method=None):
    return sim.requests_log(prefix, method)


def fault(sim, **spec):
    sim.add_fault(**spec)


def write(path, text, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


# --- 1. sark_v2 registration is idempotent by name + endpoint -------------------------------------------------

def test_v2_register_same_name_and_endpoint_twice_is_one_server(run_module, sims):
    sim = sims["sark_v2"]
    with sim.client() as client:
        # neighbours a substring search also returns: bk1-1 matches bk1-10 and bk1-199
        for name in ("idem-1-0", "idem-1-00", "xidem-1"):
            assert client.post("/api/v1/servers/", json={"name": name, "transport": "http", "tools": [],
                                                         "endpoint": "https://idem.example.com"}).status_code == 201
    args = api(sim, name="idem-1", endpoint="https://idem.example.com")
    first = run_module("sark_server", args)
    assert not first.failed and first.changed and first["action"] == "registered", first.get("msg")
    check = run_module("sark_server", args, check_mode=True, diff=True)
    assert not check.failed and not check.changed, check
    assert check["server"]["id"] == first["server"]["id"] and check["action"] == "none"
    assert not [a for a in check.get("planned_actions", []) if a["action"] == "register"]
    again = run_module("sark_server", args)
    assert not again.failed and not again.changed and again["server"]["id"] == first["server"]["id"]
    assert named(sim, "idem-1") == [("idem-1", "https://idem.example.com", "registered")]


def test_v2_lookup_past_one_page_of_search_results(run_module, sims):
    """More than 200 servers contain the name: the list cannot answer, the export does."""
    sim = sims["sark_v2"]
    schema.seed_servers(sim.pg_server, "sark_v2", 230, prefix="pagey-", sark_db=sim.sark_db)
    existing = rows(sim, "SELECT name, endpoint FROM mcp_servers WHERE name LIKE 'pagey-%%' ORDER BY created_at LIMIT 1")[0]
    result = run_module("sark_server", api(sim, name=existing[0], endpoint=existing[1]))
    assert not result.failed and not result.changed, result.get("msg")
    with sim.client() as client:
        assert client.post("/api/v1/servers/", json={"name": "pagey", "transport": "http", "tools": [],
                                                     "endpoint": "https://pagey.example.com"}).status_code == 201
    result = run_module("sark_server", api(sim, name="pagey", endpoint="https://pagey.example.com", state="absent"))
    assert not result.failed and result.changed and result["action"] == "soft_deleted", result.get("msg")
    assert named(sim, "pagey") == [("pagey", "https://pagey.example.com", "inactive")]


def test_v2_absent_by_name_and_endpoint_soft_deletes(run_module, sims):
    sim = sims["sark_v2"]
    args = api(sim, name="gone-1", endpoint="https://gone-1.example.com")
    assert run_module("sark_server", args).changed
    absent = dict(args, state="absent")
    check = run_module("sark_server", absent, check_mode=True, diff=True)
    assert check.changed and check["action"] == "soft_deleted" and check["diff"]["after"]["status"] == "inactive", check
    real = run_module("sark_server", absent)
    assert not real.failed and real.changed and real["action"] == "soft_deleted", real.get("msg")
    assert named(sim, "gone-1") == [("gone-1", "https://gone-1.example.com", "inactive")]
    assert not run_module("sark_server", absent).changed


# --- 2. status by server_id: fail_on_first_error false, per-item result ----------------------------------------

def test_v2_status_change_by_server_id_succeeds(run_module, sims):
    sim = sims["sark_v2"]
    created = run_module("sark_server", api(sim, name="stat-1", endpoint="https://stat-1.example.com"))
    server_id = created["server"]["id"]
    for status in ("active", "inactive"):
        result = run_module("sark_server", api(sim, server_id=server_id, status=status) if status == "active"
                            else api(sim, server_id=server_id, state="absent"))
        assert not result.failed, result.get("msg")
        assert result.changed
        assert rows(sim, "SELECT lower(status::text) FROM mcp_servers WHERE id::text = %s", (server_id,)) == [(status,)]
    missing = run_module("sark_server", api(sim, server_id=server_id, status="active", name="stat-1"))
    assert not missing.failed and missing.changed


# --- 3. the import uses the bulk endpoint ---------------------------------------------------------------------

def test_v2_import_goes_through_bulk_register(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    lines = ["bulkimp-%03d,https://bulkimp-%03d.example.com" % (n, n) for n in range(250)]
    # one name twice with two endpoints: two servers, which must land in different requests
    lines += ["bulkimp-twin,https://twin-a.example.com", "bulkimp-twin,https://twin-b.example.com"]
    path = tmp_path / "bulk.csv"
    write(path, "\n".join(lines) + "\n")
    args = api(sim, import_csv=str(path), concurrency=2)
    check = run_module("sark_server", args, check_mode=True)
    assert check.changed and check["counts"]["created"] == 252
    assert check["planned_actions"][0]["request"] == "POST /api/v1/bulk/servers/register"
    assert check["planned_actions"][0]["requests"] == 4  # 100 + 100 + 51, and the second twin in a request of its own
    real = run_module("sark_server", args)
    assert not real.failed, real.get("msg")
    assert real["counts"] == {"rows": 252, "created": 252, "unchanged": 0, "failed": 0}
    posts = requests_log(sim, "/api/v1/", method="POST")
    assert [p["path"] for p in posts] == ["/api/v1/bulk/servers/register"] * 4
    in_db = dict(rows(sim, "SELECT id::text, endpoint FROM mcp_servers WHERE name LIKE 'bulkimp-%%'"))
    assert len(in_db) == 252
    assert {r["id"]: r["endpoint"] for r in real["rows"]} == in_db  # every row got its own server's id
    again = run_module("sark_server", args)
    assert not again.changed and again["counts"]["unchanged"] == 252


# --- 12. an import in which every row fails ends failed -------------------------------------------------------

@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_import_where_every_row_fails_is_a_failure(run_module, sims, tmp_path, layout):
    sim = sims[layout]
    path = tmp_path / "all-fail.csv"
    write(path, "".join("allfail-%d,https://allfail-%d.example.com\n" % (n, n) for n in range(5)))
    route = "/api/v1/bulk/servers/register" if layout == "sark_v2" else "/api/v1/servers"
    fault(sim, path_prefix=route, status=500, count=1000, method="POST")
    result = run_module("sark_server", api(sim, import_csv=str(path), api_retries=1))
    assert result.failed, result
    assert "failed" in result["msg"] and "SARK failed 5 row(s)" in result["msg"]
    assert result["counts"] == {"rows": 5, "created": 0, "unchanged": 0, "failed": 5}
    assert [r["result"] for r in result["rows"]] == ["failed"] * 5 and all("HTTP 500" in r["reason"] for r in result["rows"])
    assert not result.changed
    assert named(sim, "allfail-%") == []


def test_import_of_only_bad_rows_is_a_failure(run_module, sims, tmp_path):
    sim = sims["runbook"]
    path = tmp_path / "bad.csv"
    write(path, "onlybad-1,not a url\nonlybad-2\n")
    result = run_module("sark_server", api(sim, import_csv=str(path)))
    assert result.failed and "no row could be imported" in result["msg"], result
    assert result["counts"]["failed"] == 2 and not result.changed
    assert named(sim, "onlybad-%") == []


# --- 15. a UTF-8 byte-order mark ------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_import_csv_with_bom(run_module, sims, tmp_path, layout):
    sim = sims[layout]
    with_header = tmp_path / "header.csv"
    write(with_header, BOM + "name,endpoint\r\nbom-h-%s,https://bom-h.example.com\r\n" % layout)
    result = run_module("sark_server", api(sim, import_csv=str(with_header)))
    assert not result.failed, result.get("msg")
    assert result["columns"] == ["name", "endpoint"] and result["counts"]["created"] == 1
    without = tmp_path / "plain.csv"
    write(without, BOM + "bom-p-%s,https://bom-p.example.com\n" % layout)
    result = run_module("sark_server", api(sim, import_csv=str(without)))
    assert not result.failed and result["rows"][0]["name"] == "bom-p-%s" % layout
    assert [r[0] for r in named(sim, "%bom-_-" + layout)] == ["bom-h-" + layout, "bom-p-" + layout]


# --- 16. one endpoint rule for a single registration and an import --------------------------------------------

@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_single_register_refuses_not_a_url(run_module, sims, layout):
    sim = sims[layout]
    before = rows(sim, "SELECT count(*) FROM " + TABLE[layout])
    result = run_module("sark_server", api(sim, name="nourl-1", endpoint="not a url"))
    assert result.failed and "'not a url' is not an http(s) URL" in result["msg"] and not result.changed
    assert rows(sim, "SELECT count(*) FROM " + TABLE[layout]) == before
    assert requests_log(sim, "/api/v1/", method="POST") == []
