"""sark_server, sark_server_info and sark_server_export against the SARK simulator in both layouts (real PostgreSQL).

Every mutating operation: check mode with diff (nothing changes), real run (read back from the
database), second run (unchanged). Plus the 10,000-row import, exports, and bad input.
"""

import csv
import json
import os
import time

import httpx
import psycopg2
import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim import schema  # noqa: E402

# read by conftest's sims fixture: 10,000 registrations with one token would hit SARK's 5000/hour user limit
SIM_OPTIONS = {"rate_limit_enabled": False}
TABLE = {"runbook": "servers", "sark_v2": "mcp_servers"}


def db(sim):
    conn = psycopg2.connect(sim.pg_server.dsn(sim.sark_db))
    conn.autocommit = True
    return conn


def rows(sim, sql, args=()):
    return sim.sql(sql, args)


def pg_args(sim):
    return sim.pg_args()


def api(sim, **extra):
    return sim.api_args(**extra)


def requests_log(sim, prefix):
    return sim.requests_log(prefix)


def reset_log(sim):
    sim.reset()


def three_runs(run_module, module, args):
    """check+diff, real, second real: returns the three results after checking the common contract."""
    check = run_module(module, args, check_mode=True, diff=True)
    assert not check.failed, check.get("msg")
    assert check.changed, check
    assert check["planned_actions"], check
    real = run_module(module, args, diff=True)
    assert not real.failed, real.get("msg")
    assert real.changed
    assert real["executed_actions"]
    again = run_module(module, args)
    assert not again.failed, again.get("msg")
    assert not again.changed, again
    return check, real, again


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_register_soft_delete_purge(run_module, sims, layout):
    sim = sims[layout]
    table = TABLE[layout]
    args = api(sim, name="reg-%s" % layout, endpoint="https://reg.example.com", tags=["t1"])
    check, real, _again = three_runs(run_module, "sark_server", args)
    assert check["diff"]["before"] == {} and check["diff"]["after"]["name"] == "reg-%s" % layout
    found = rows(sim, "SELECT id::text, endpoint, lower(status::text) FROM " + table + " WHERE name = %s", (args["name"],))
    assert len(found) == 1 and found[0][1] == "https://reg.example.com"
    assert real["server"]["id"] == found[0][0]

    # status change (incident 001 "disable compromised server" uses status inactive; here: unhealthy)
    status_args = dict(args, status="unhealthy")
    check, real, _again = three_runs(run_module, "sark_server", status_args)
    assert check["diff"]["before"]["status"] != "unhealthy" and check["diff"]["after"]["status"] == "unhealthy"
    assert rows(sim, "SELECT lower(status::text) FROM " + table + " WHERE id::text = %s", (found[0][0],))[0][0] == "unhealthy"

    # soft delete
    reset_log(sim)
    absent = dict(args, state="absent")
    check, real, _again = three_runs(run_module, "sark_server", absent)
    assert check["action"] == "soft_deleted" and check["diff"]["after"]["status"] == "inactive"
    assert rows(sim, "SELECT lower(status::text) FROM " + table + " WHERE id::text = %s", (found[0][0],))[0][0] == "inactive"
    writes = [r for r in requests_log(sim, "/api/v1/") if r.get("method") in ("DELETE", "PATCH")]
    if layout == "runbook":
        assert [w["method"] for w in writes] == ["DELETE"]
    else:
        assert [w["path"] for w in writes] == ["/api/v1/bulk/servers/status"]

    # hard delete through the database
    purge = dict(pg_args(sim), layout=layout, name=args["name"], endpoint=args["endpoint"], state="purged")
    refused = run_module("sark_server", purge)
    assert refused.failed and "force" in refused["msg"]
    purge["force"] = True
    check, real, _again = three_runs(run_module, "sark_server", purge)
    assert real["action"] == "purged"
    assert rows(sim, "SELECT count(*) FROM " + table + " WHERE name = %s", (args["name"],))[0][0] == 0


def test_v2_names_not_unique(run_module, sims):
    sim = sims["sark_v2"]
    # the seed has two "analytics" servers; a third endpoint is a new server
    args = api(sim, name="analytics", endpoint="https://analytics-c.example.com")
    three_runs(run_module, "sark_server", args)
    assert rows(sim, "SELECT count(*) FROM mcp_servers WHERE name = 'analytics'")[0][0] == 3
    ambiguous = run_module("sark_server", api(sim, name="analytics", state="absent"))
    assert ambiguous.failed and "not unique" in ambiguous["msg"] and "endpoint or server_id" in ambiguous["msg"]
    # tools go with a purged server (ON DELETE CASCADE)
    server_id = rows(sim, "SELECT id::text FROM mcp_servers WHERE endpoint = 'https://analytics-b.example.com'")[0][0]
    tools = rows(sim, "SELECT count(*) FROM mcp_tools WHERE server_id::text = %s", (server_id,))[0][0]
    result = run_module("sark_server", dict(pg_args(sim), layout="sark_v2", server_id=server_id, state="purged", force=True))
    assert result.changed and result["tools_deleted"] == tools == 2
    assert rows(sim, "SELECT count(*) FROM mcp_tools WHERE server_id::text = %s", (server_id,))[0][0] == 0


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_info_filters(run_module, sims, layout):
    sim = sims[layout]
    table = TABLE[layout]
    everything = run_module("sark_server_info", api(sim))
    assert not everything.failed, everything.get("msg")
    assert everything["count"] == rows(sim, "SELECT count(*) FROM " + table)[0][0]
    owner = rows(sim, "SELECT owner_id::text FROM " + table + " WHERE name = 'prod-server-01'")[0][0]
    owned = run_module("sark_server_info", api(sim, owner_id=owner))
    assert owned["count"] == rows(sim, "SELECT count(*) FROM " + table + " WHERE owner_id::text = %s", (owner,))[0][0] > 0
    assert all(s["owner_id"] == owner for s in owned["servers"])
    search = run_module("sark_server_info", api(sim, search="prod", status=["active"]))
    assert sorted(s["name"] for s in search["servers"]) == ["prod-server-01", "prod-server-02"]
    if layout == "sark_v2":
        high = run_module("sark_server_info", api(sim, sensitivity=["high", "critical"]))
        assert sorted(s["name"] for s in high["servers"]) == ["prod-server-01", "prod-server-02"]
    else:
        refused = run_module("sark_server_info", api(sim, sensitivity=["high"]))
        assert refused.failed and "sensitivity" in refused["msg"]


def test_v2_listing_past_the_page_cap_and_export(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    schema.seed_servers(sim.pg_server, "sark_v2", 450, prefix="page-", sark_db=sim.sark_db)
    total = rows(sim, "SELECT count(*) FROM mcp_servers")[0][0]
    result = run_module("sark_server_info", api(sim, search="page-", max_results=10))
    assert result["count"] == 450 and len(result["servers"]) == 10 and result["truncated"] and not result.changed
    target = tmp_path / "servers.csv"
    args = api(sim, path=str(target), fields=["id", "name", "endpoint"])
    check = run_module("sark_server_export", args, check_mode=True, diff=True)
    assert check.changed and check["export"]["rows"] == total and not check["export"]["written"]
    # check mode writes nothing, not even a scratch file beside the target
    assert not target.exists() and os.listdir(tmp_path) == []
    assert check["planned_actions"] == [{"action": "write", "path": str(target), "format": "csv", "rows": total,
                                         "bytes": check["export"]["bytes"]}] and check["executed_actions"] == []
    assert check["diff"]["before"] == "exists: false\n" and "rows: %d" % total in check["diff"]["after"]
    real = run_module("sark_server_export", args)
    assert real.changed and real["export"]["written"] and real["executed_actions"][0]["rows"] == total
    assert real["export"]["sha256"] == check["export"]["sha256"] and os.path.getsize(target) == real["export"]["bytes"]
    with open(target, newline="", encoding="utf-8") as handle:
        exported = list(csv.reader(handle))
    assert exported[0] == ["id", "name", "endpoint"] and len(exported) == total + 1
    assert {r[0] for r in exported[1:]} == {r[0] for r in rows(sim, "SELECT id::text FROM mcp_servers")}
    stamp = os.stat(target).st_mtime_ns
    again = run_module("sark_server_export", args, diff=True)
    assert not again.changed and not again["export"]["written"] and again["planned_actions"] == []
    assert os.stat(target).st_mtime_ns == stamp and os.listdir(tmp_path) == ["servers.csv"]
    # one more server: the file is stale, check mode says so and leaves it, the real run rewrites it
    schema.seed_servers(sim.pg_server, "sark_v2", 1, prefix="late-", sark_db=sim.sark_db)
    stale = run_module("sark_server_export", args, check_mode=True)
    assert stale.changed and stale["export"]["rows"] == total + 1 and os.stat(target).st_mtime_ns == stamp
    assert run_module("sark_server_export", args).changed
    with open(target, newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == total + 2
    as_json = run_module("sark_server_export", api(sim, path=str(tmp_path / "s.json"), format="json", search="page-1"))
    with open(tmp_path / "s.json", encoding="utf-8") as handle:
        body = json.load(handle)
    assert body["count"] == as_json["count"] == len(body["servers"]) == 111  # page-1, page-10..19, page-100..199
    assert sorted(body["servers"][0]) == ["endpoint", "id", "name", "status"]


def test_export_bad_input_and_info_never_writes(run_module, sims, tmp_path):
    sim = sims["runbook"]
    target = tmp_path / "servers.csv"
    target.write_text("keep me\n")
    missing = run_module("sark_server_export", api(sim, path=str(tmp_path / "nowhere" / "s.csv")))
    assert missing.failed and "does not exist: create it first" in missing["msg"]
    as_dir = run_module("sark_server_export", api(sim, path=str(tmp_path)))
    assert as_dir.failed and "is a directory" in as_dir["msg"]
    status = run_module("sark_server_export", api(sim, path=str(target), status=["registered"]))
    assert status.failed and "registered does not exist in the runbook layout" in status["msg"]
    assert target.read_text() == "keep me\n" and sorted(os.listdir(tmp_path)) == ["servers.csv"]
    # sark_server_info only reads: the export options are gone, and it never reports a change
    refused = run_module("sark_server_info", api(sim, export_path=str(target)))
    assert refused.failed and "export_path" in refused["msg"]
    assert target.read_text() == "keep me\n"


def write_csv(path, lines):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.mark.slow
def test_import_10000_v2(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    path = tmp_path / "servers.csv"
    lines = ["bulk-%05d,https://bulk-%05d.example.com" % (n, n) for n in range(10000)]
    # one existing server (same name + endpoint) and one same name with another endpoint (a different server in sark_v2)
    lines[0] = "prod-server-01,https://prod-server-01.example.com"
    lines[1] = "prod-server-02,https://elsewhere.example.com"
    write_csv(path, lines)
    before = rows(sim, "SELECT count(*) FROM mcp_servers")[0][0]
    args = api(sim, import_csv=str(path), report_rows="problems")
    check = run_module("sark_server", args, check_mode=True, diff=True)
    assert check.changed and check["counts"] == {"rows": 10000, "created": 9999, "unchanged": 1, "failed": 0}
    assert rows(sim, "SELECT count(*) FROM mcp_servers")[0][0] == before
    started = time.monotonic()
    real = run_module("sark_server", dict(args, report_rows="all"), timeout=400)
    elapsed = time.monotonic() - started
    assert not real.failed, real.get("msg")
    assert real["counts"] == {"rows": 10000, "created": 9999, "unchanged": 1, "failed": 0}
    assert rows(sim, "SELECT count(*) FROM mcp_servers")[0][0] == before + 9999
    by_line = {r["line"]: r for r in real["rows"]}
    assert by_line[1]["result"] == "unchanged" and by_line[2]["result"] == "created"
    created_ids = {r["id"] for r in real["rows"] if r["result"] == "created"}
    assert created_ids == {r[0] for r in rows(sim, "SELECT id::text FROM mcp_servers WHERE name LIKE 'bulk-%%' "
                                                   "OR endpoint = 'https://elsewhere.example.com'")}
    print("import of 10,000 rows: %.1f s (module %.1f s)" % (elapsed, real["duration_s"]))
    again = run_module("sark_server", args)
    assert not again.changed and again["counts"] == {"rows": 10000, "created": 0, "unchanged": 10000, "failed": 0}
    assert rows(sim, "SELECT count(*) FROM mcp_servers")[0][0] == before + 9999


def test_import_malformed_rows_runbook(run_module, sims, tmp_path):
    sim = sims["runbook"]
    path = tmp_path / "mixed.csv"
    write_csv(path, [
        "good-1,https://good-1.example.com",
        "only-a-name",
        ",https://no-name.example.com",
        "bad-url,ftp://bad.example.com",
        "",
        "# a comment",
        "good-2,https://good-2.example.com",
        "prod-server-01,https://somewhere-else.example.com",
        "good-1,https://good-1.example.com",
        "x,y,z",
    ])
    report = tmp_path / "report.csv"
    args = api(sim, import_csv=str(path), report_path=str(report))
    check = run_module("sark_server", args, check_mode=True, diff=True)
    assert check.changed and check["counts"]["created"] == 2 and "good-1,https://good-1.example.com" in check["diff"]["after"]
    real = run_module("sark_server", args)
    assert not real.failed, real.get("msg")
    assert real["counts"] == {"rows": 8, "created": 2, "unchanged": 1, "failed": 5}
    by_line = {r["line"]: r for r in real["rows"]}
    assert by_line[2]["result"] == "failed" and "expected 2 fields" in by_line[2]["reason"]
    assert by_line[3]["reason"] == "empty name"
    assert "not an http(s) URL" in by_line[4]["reason"]
    assert by_line[7]["result"] == "created"
    assert "already exists with endpoint" in by_line[8]["reason"]
    assert by_line[9]["result"] == "unchanged" and "line 1" in by_line[9]["reason"]
    assert "expected 2 fields" in by_line[10]["reason"]
    assert rows(sim, "SELECT count(*) FROM servers WHERE name IN ('good-1', 'good-2')")[0][0] == 2
    with open(report, newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 9
    again = run_module("sark_server", args)
    assert not again.changed and again["counts"]["created"] == 0


def test_import_row_cap(run_module, sims, tmp_path):
    sim = sims["runbook"]
    path = tmp_path / "big.csv"
    write_csv(path, ["cap-%d,https://cap-%d.example.com" % (n, n) for n in range(20)])
    result = run_module("sark_server", api(sim, import_csv=str(path), max_rows=10))
    assert result.failed and "max_rows=10" in result["msg"]
    assert rows(sim, "SELECT count(*) FROM servers WHERE name LIKE 'cap-%%'")[0][0] == 0


def test_expired_token(run_module, sims):
    sim = sims["runbook"]
    expired = sim.make_token(ttl=-60)
    result = run_module("sark_server_info", api(sim, api_token=expired))
    assert result.failed and "HTTP 401" in result["msg"] and "expired or invalid" in result["msg"]
    assert expired not in result["_stdout"]


def test_500_retried_then_clear_error(run_module, sims):
    sim = sims["runbook"]
    rows(sim, "DELETE FROM servers WHERE name IN ('retry-me', 'retry-me-2') RETURNING id")
    reset_log(sim)
    httpx.post(sim.url + "/_sim/faults", json={"path_prefix": "/api/v1/servers", "status": 500, "count": 3}, timeout=10)
    result = run_module("sark_server", api(sim, name="retry-me", endpoint="https://retry.example.com", api_retries=3))
    assert not result.failed, result.get("msg")  # three 500s, then the fourth attempt succeeds
    assert result.changed
    # the attempts, as the simulator saw them: the lookup three times refused, then answered; one create
    seen = [(r["method"], r["status"], bool(r["fault"])) for r in requests_log(sim, "/api/v1/servers")]
    assert seen[:5] == [("GET", 500, True)] * 3 + [("GET", 200, False), ("POST", 201, False)], seen
    assert all(entry == ("GET", 200, False) for entry in seen[5:]), seen  # reading the created server back, nothing else
    # and the row written, once
    assert rows(sim, "SELECT endpoint FROM servers WHERE name = 'retry-me'") == [("https://retry.example.com",)]

    reset_log(sim)
    httpx.post(sim.url + "/_sim/faults", json={"path_prefix": "/api/v1/servers", "status": 500, "count": 10}, timeout=10)
    failed = run_module("sark_server", api(sim, name="retry-me-2", endpoint="https://retry2.example.com", api_retries=2))
    assert failed.failed and "HTTP 500" in failed["msg"] and "after 2 retries" in failed["msg"]
    assert failed["status"] == 500 and failed["attempts"] == 3 and failed.changed is False
    seen = [(r["method"], r["status"], bool(r["fault"])) for r in requests_log(sim, "/api/v1/servers")]
    assert seen == [("GET", 500, True)] * 3, seen  # one try and two retries; nothing created after the failed lookup
    assert rows(sim, "SELECT count(*) FROM servers WHERE name = 'retry-me-2'") == [(0,)]
    reset_log(sim)


def test_unknown_server_id(run_module, sims):
    sim = sims["sark_v2"]
    result = run_module("sark_server", api(sim, server_id="00000000-0000-4000-8000-00000000dead", state="absent"))
    assert not result.failed and not result.changed
    result = run_module("sark_server", api(sim, server_id="00000000-0000-4000-8000-00000000dead", status="active"))
    assert result.failed and "needs name and endpoint" in result["msg"]
