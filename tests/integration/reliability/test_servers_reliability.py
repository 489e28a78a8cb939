"""Standing proof suite, servers share (issue #9): bad input and injected faults for sark_server / sark_server_info.

Bad input: every case asserts the operator's message AND that the servers table (and any file the
module could write) is unchanged. Faults (500, 429 with Retry-After, a timeout) are injected into
the simulator during a sark_v2 import (the bulk route): each asserts a clean failure with partial
counts, that no row was lost or registered twice, and that a rerun converges to exactly one server
per CSV row. Real PostgreSQL and Redis; the simulator for the HTTP API.
"""

import hashlib
import os
import time

import pytest

# pylint: disable=wrong-import-position,redefined-outer-name
from harness.sarksim.schema import SERVERS_TABLE as TABLE  # noqa: E402
from harness.servers import free_port, wait_for  # noqa: E402

SIM_OPTIONS = {"rate_limit_enabled": False}  # read by conftest's sims fixture
BULK = "/api/v1/bulk/servers/register"

pytestmark = pytest.mark.usefixtures("fresh_sims")


def query(sim, sql, args=()):
    return sim.sql(sql, args)


def table_digest(sim):
    """Every row of the layout's servers table (id, name, endpoint, status, updated_at): any change shows."""
    table = TABLE[sim.layout]
    found = query(sim, "SELECT id::text, name, coalesce(endpoint, ''), status::text, coalesce(updated_at::text, '') FROM "
                  + table + " ORDER BY id")
    return len(found), hashlib.sha256(repr(found).encode("utf-8")).hexdigest()


def api(sim, **extra):
    return sim.api_args(**extra)


def fault(sim, **spec):
    sim.add_fault(**spec)


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def files_in(directory):
    return sorted(os.listdir(directory))


# --- bad input -----------------------------------------------------------------------------------------------

def _import_case(tmp_path, content, **extra):
    path = tmp_path / "in.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(path, content)
    args = {"import_csv": str(path), "report_path": str(tmp_path / "report.csv")}
    args.update(extra)
    return args


BAD_IMPORTS = [
    # (id, layout, csv content, extra args, what the message must say)
    ("malformed-csv-unterminated-quote", "sark_v2", '"bad-quote,https://bad-quote.example.com\n', {},
     "no row could be imported"),
    ("not-utf8", "runbook", b"caf\xe9-1,https://cafe.example.com\n", {}, "no row could be imported"),
    ("header-required-but-missing", "runbook", "hdr-1,https://hdr-1.example.com\n", {"csv_header": "true"},
     "csv_header=true but line 1"),
    ("unknown-csv-column", "sark_v2", "col-1,https://col-1.example.com\n", {"csv_columns": ["name", "url"]},
     "csv_columns ['name', 'url']: every entry must be one of"),
    ("max-rows-negative", "runbook", "neg-1,https://neg-1.example.com\n", {"max_rows": -5},
     "max_rows and max_failures must be 1 or more"),
    ("concurrency-huge", "sark_v2", "huge-1,https://huge-1.example.com\n", {"concurrency": 10 ** 9},
     "concurrency must be between 1 and 32, got 1000000000"),
    ("concurrency-zero", "runbook", "zero-1,https://zero-1.example.com\n", {"concurrency": 0},
     "concurrency must be between 1 and 32, got 0"),
    ("concurrency-wrong-type", "sark_v2", "type-1,https://type-1.example.com\n", {"concurrency": "many"},
     "concurrency"),
    ("over-max-rows", "sark_v2", "".join("cap-%d,https://cap-%d.example.com\n" % (n, n) for n in range(3)),
     {"max_rows": 2}, "more than max_rows=2 data rows: nothing was imported"),
    ("not-a-url-rows-only", "sark_v2", "nu-1,not a url\nnu-2,ftp://nu-2.example.com\n", {},
     "no row could be imported"),
]


@pytest.mark.parametrize("case", BAD_IMPORTS, ids=[c[0] for c in BAD_IMPORTS])
def test_bad_import_input_changes_nothing(run_module, sims, tmp_path, case):
    _name, layout, content, extra, message = case
    sim = sims[layout]
    before, listing = table_digest(sim), None
    args = api(sim, **_import_case(tmp_path, content, **extra))
    listing = [f for f in files_in(tmp_path) if f != "report.csv"]
    result = run_module("sark_server", args)
    assert result.failed, result
    assert message in result["msg"], result["msg"]
    assert not result.changed
    assert table_digest(sim) == before
    # nothing written but (for a file that was read at all) the per-row report; no temporary file left behind
    assert [f for f in files_in(tmp_path) if f != "report.csv"] == listing
    assert not [f for f in files_in(tmp_path) if f.startswith(".sark-")]


def test_bad_input_duplicate_rows_register_once(run_module, sims, tmp_path):
    """Duplicate rows of one server: one registration, the duplicate named with the line it repeats."""
    sim = sims["sark_v2"]
    before = table_digest(sim)[0]
    args = api(sim, **_import_case(tmp_path, "dup-row,https://dup-row.example.com\n" * 3))
    result = run_module("sark_server", args)
    assert not result.failed, result.get("msg")
    assert result["counts"] == {"rows": 3, "created": 1, "unchanged": 2, "failed": 0}
    assert [r["reason"] for r in result["rows"]][1:] == ["same name and endpoint as line 1"] * 2
    assert table_digest(sim)[0] == before + 1
    assert query(sim, "SELECT count(*) FROM mcp_servers WHERE name = 'dup-row'") == [(1,)]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_bad_input_single_register_not_a_url(run_module, sims, layout):
    sim = sims[layout]
    before = table_digest(sim)
    result = run_module("sark_server", api(sim, name="nu-single", endpoint="not a url"))
    assert result.failed and "endpoint 'not a url' is not an http(s) URL" in result["msg"] and not result.changed
    assert table_digest(sim) == before


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_bad_input_name_with_quotes_and_semicolons(run_module, sims, layout):
    """A name that is SQL is a literal: the purge finds no such row and drops nothing; the info module matches nothing."""
    sim = sims[layout]
    evil = "x'); DROP TABLE %s; --\"" % TABLE[layout]
    before = table_digest(sim)
    purge = run_module("sark_server", {"layout": layout, "name": evil, "state": "purged", "force": True, "pg_host": "127.0.0.1",
                                       "pg_port": sim.pg_server.port, "pg_user": "postgres", "pg_password": "sark-test-pw",
                                       "pg_database": sim.sark_db, "pg_sslmode": "disable"})
    assert not purge.failed and not purge.changed and purge["msg"] == "No server %r in the database" % evil, purge.get("msg")
    info = run_module("sark_server_info", api(sim, name=evil))
    assert not info.failed and info["count"] == 0
    assert table_digest(sim) == before


def test_bad_input_unknown_layout(run_module, sims):
    sim = sims["sark_v2"]
    before = table_digest(sim)
    result = run_module("sark_server", dict(api(sim, name="lay-1", endpoint="https://lay-1.example.com"), layout="sark_v3"))
    assert result.failed and "value of layout must be one of: runbook, sark_v2, got: sark_v3" in result["msg"]
    assert table_digest(sim) == before


def test_bad_input_unreachable_api(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    before = table_digest(sim)
    url = "http://127.0.0.1:%d" % free_port()
    args = dict(api(sim, **_import_case(tmp_path, "unr-1,https://unr-1.example.com\n")), api_url=url, api_retries=0)
    result = run_module("sark_server", args)
    assert result.failed and "Cannot reach the SARK API at %s" % url in result["msg"] and not result.changed
    assert table_digest(sim) == before
    assert files_in(tmp_path) == ["in.csv"]  # nothing was read from SARK, so no report either


@pytest.mark.parametrize("module", ["sark_server", "sark_server_info"])
def test_bad_input_malformed_token(run_module, sims, module):
    sim = sims["sark_v2"]
    before = table_digest(sim)
    token = "not-a-jwt-%s" % ("x" * 40)
    args = api(sim, api_token=token, name="tok-1")
    if module == "sark_server":
        args["endpoint"] = "https://tok-1.example.com"
    result = run_module(module, args)
    assert result.failed and "HTTP 401" in result["msg"] and "expired or invalid" in result["msg"]
    assert token not in result["_stdout"] and token not in result["_stderr"]
    assert table_digest(sim) == before


def test_bad_input_info_negative_max_results_and_runbook_sensitivity(run_module, sims):
    sim = sims["runbook"]
    before = table_digest(sim)
    negative = run_module("sark_server_info", api(sim, max_results=-1))
    assert negative.failed and negative["msg"] == "max_results must be 0 or more"
    no_level = run_module("sark_server_info", api(sim, sensitivity=["high"]))
    assert no_level.failed and "servers of the runbook layout have no sensitivity level" in no_level["msg"]
    assert table_digest(sim) == before


# --- injected faults during a sark_v2 import -------------------------------------------------------------------

ROWS = 500


def _fault_csv(tmp_path, prefix):
    path = tmp_path / ("%s.csv" % prefix)
    write(path, "".join("%s-%03d,https://%s-%03d.example.com\n" % (prefix, n, prefix, n) for n in range(ROWS)))
    return str(path)


def _one_row_per_server(sim, prefix):
    found = query(sim, "SELECT name, count(*) FROM mcp_servers WHERE name LIKE %s GROUP BY name", (prefix + "-%",))
    return len(found), max((c for _n, c in found), default=0)


def _assert_partial_failure(result, created, failed):
    assert result.failed, result
    assert result["counts"] == {"rows": ROWS, "created": created, "unchanged": 0, "failed": failed}, result["counts"]
    assert result.changed and result["partial"] is True
    assert "rerun the same import" in result["msg"]
    assert len(result["rows"]) == ROWS  # every row accounted for: none lost
    assert sum(1 for r in result["rows"] if r["result"] == "created" and r["id"]) == created


def _rerun_converges(run_module, sim, args, prefix, expect_created):
    again = run_module("sark_server", dict(args, concurrency=4))
    assert not again.failed, again.get("msg")
    assert again["counts"] == {"rows": ROWS, "created": expect_created, "unchanged": ROWS - expect_created, "failed": 0}
    assert _one_row_per_server(sim, prefix) == (ROWS, 1)
    third = run_module("sark_server", args)
    assert not third.changed and third["counts"]["unchanged"] == ROWS


def test_fault_500_during_import(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    args = api(sim, import_csv=_fault_csv(tmp_path, "f500"), concurrency=1, report_rows="all")
    fault(sim, path_prefix=BULK, method="POST", status=500, count=2)
    result = run_module("sark_server", args)
    # two of five requests answered 500 (not retried: SARK may have done the work), three registered 100 each
    _assert_partial_failure(result, created=300, failed=200)
    assert all("outcome unknown" in r["reason"] and "HTTP 500" in r["reason"] for r in result["rows"] if r["result"] == "failed")
    assert _one_row_per_server(sim, "f500") == (300, 1)
    _rerun_converges(run_module, sim, args, "f500", expect_created=200)


def test_fault_429_with_retry_after_during_import(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    args = api(sim, import_csv=_fault_csv(tmp_path, "f429"), concurrency=1, report_rows="all", api_retries=2)
    # three 429s with Retry-After: 1 s: the first request is refused, retried twice after 1 s each, and gives up
    fault(sim, path_prefix=BULK, method="POST", status=429, count=3, retry_after=1)
    started = time.monotonic()
    result = run_module("sark_server", args)
    assert time.monotonic() - started >= 2.0  # Retry-After honoured (api_backoff alone would wait 0.03 s)
    _assert_partial_failure(result, created=400, failed=100)
    assert all("HTTP 429" in r["reason"] for r in result["rows"] if r["result"] == "failed")
    assert _one_row_per_server(sim, "f429") == (400, 1)
    _rerun_converges(run_module, sim, args, "f429", expect_created=100)
    # fewer 429s than retries: absorbed, nothing fails
    fault(sim, path_prefix=BULK, method="POST", status=429, count=1, retry_after=1)
    absorbed = run_module("sark_server", dict(args, import_csv=_fault_csv(tmp_path, "f429b")))
    assert not absorbed.failed and absorbed["counts"]["created"] == ROWS


def hung_request_over(sim):
    """Wait until the simulator has finished the request it held (it is logged when its answer starts)."""
    wait_for(lambda: any(e["fault"] for e in sim.requests_log(BULK, "POST")), 60, "the held bulk request to end")


def test_fault_timeout_during_import(run_module, sims, tmp_path):
    sim = sims["sark_v2"]
    # api_timeout 3 s: a loaded machine answers the healthy requests well within it
    args = api(sim, import_csv=_fault_csv(tmp_path, "ftmo"), concurrency=1, report_rows="all", api_timeout=3)
    # the first bulk request hangs 8 s before SARK reads it: the module gives up after 3 s, SARK never does the work
    fault(sim, path_prefix=BULK, method="POST", delay_seconds=8, count=1)
    result = run_module("sark_server", args)
    _assert_partial_failure(result, created=400, failed=100)
    assert all("outcome unknown" in r["reason"] and "timed out" in r["reason"] for r in result["rows"] if r["result"] == "failed")
    hung_request_over(sim)
    assert _one_row_per_server(sim, "ftmo") == (400, 1)
    _rerun_converges(run_module, sim, args, "ftmo", expect_created=100)


def test_fault_timeout_after_sark_did_the_work(run_module, sims, tmp_path):
    """The answer is late, the work is done: the module finds the batch in the export instead of registering it twice."""
    sim = sims["sark_v2"]
    args = api(sim, import_csv=_fault_csv(tmp_path, "flate"), concurrency=1, report_rows="all", api_timeout=3)
    fault(sim, path_prefix=BULK, method="POST", delay_seconds=8, count=1, after=True)
    result = run_module("sark_server", args)
    assert not result.failed, result.get("msg")
    assert result["counts"] == {"rows": ROWS, "created": ROWS, "unchanged": 0, "failed": 0}
    settled = [r for r in result["rows"] if r["reason"]]
    assert len(settled) == 100 and all("registered although SARK's answer was an error" in r["reason"] and "timed out" in r["reason"]
                                       for r in settled)
    assert _one_row_per_server(sim, "flate") == (ROWS, 1)
    again = run_module("sark_server", args)
    assert not again.changed and again["counts"]["unchanged"] == ROWS
    assert _one_row_per_server(sim, "flate") == (ROWS, 1)
