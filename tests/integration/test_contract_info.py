"""sark_contract_info tells the simulator's runbook mode from its sark_v2 mode (API, PostgreSQL, Redis)."""

import json

import pytest

# pylint: disable=redefined-outer-name


@pytest.fixture(scope="module")
def sims(sims):
    """conftest's simulators, with what each SARK leaves in its Redis."""
    for sim in sims.values():
        client = sim.redis_client()
        client.flushdb()
        if sim.layout == "runbook":
            client.hset("session:user:user-123:s1", "ip", "10.0.0.1")
            client.set("ratelimit:user:user-123:2025-01-01-10", 5)
        else:
            # what a running SARK 2.x leaves in Redis: policy decisions only (no session or rate-limit writer)
            with sim.client() as api:
                api.post("/api/v1/policy/evaluate", json={"action": "tool:invoke", "tool": "query"}).raise_for_status()
    return sims


def args(sim, sources):
    return {"sources": sources, "api_url": sim.url, "api_token": sim.token, "pg_host": "127.0.0.1", "pg_port": sim.pg_server.port,
            "pg_user": "postgres", "pg_password": "sark-test-pw", "pg_database": sim.sark_db, "pg_sslmode": "disable",
            "redis_host": "127.0.0.1", "redis_port": sim.redis_server.port, "redis_db": sim.redis_db}


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_detects_layout(run_module, sims, layout):
    result = run_module("sark_contract_info", args(sims[layout], ["api", "postgres", "redis"]), check_mode=True)
    assert not result.failed, result.get("msg")
    assert result["layout"] == layout, result["votes"]
    assert not result["changed"] and result["errors"] == {}
    sources = {s["source"] for s in result["signals"] if s["points_to"] == layout}
    # SARK 2.x's Redis holds only policy:decision:* keys, which both layouts share: no vote from Redis there
    assert sources == ({"api", "postgres", "redis"} if layout == "runbook" else {"api", "postgres"})
    assert not [s for s in result["signals"] if s["points_to"] not in (layout, None)], result["signals"]
    verdict = {p["procedure"]: p["verdict"] for p in result["procedures"]}
    # layout defaults to runbook, like an inventory that never set it
    assert result["configured_layout"] == "runbook"
    if layout == "runbook":
        assert set(verdict.values()) == {"effective"} and result["no_op_steps"] == []
        assert result["configured_layout_matches"] is True and not result.get("warnings")
    else:
        assert verdict["users_api"] == "no-op" and verdict["server_delete"] == "different"
        assert {"000-41", "000-42", "000-49", "000-60", "000-22"} <= set(result["no_op_steps"])
        assert result["configured_layout_matches"] is False
        # ansible-core 2.19+ returns structured warnings; the text is inside
        assert "Set layout: sark_v2" in json.dumps(result["warnings"])
        told = run_module("sark_contract_info", dict(args(sims[layout], ["postgres"]), layout="sark_v2"))
        assert told["configured_layout_matches"] is True and not told.get("warnings")


def test_one_source_and_none(run_module, sims):
    only_pg = run_module("sark_contract_info", args(sims["sark_v2"], ["postgres"]))
    assert only_pg["layout"] == "sark_v2"
    empty = run_module("sark_contract_info", args(sims["sark_v2"], []))
    assert empty.failed and "at least one" in empty["msg"]
    dead = dict(args(sims["runbook"], ["api", "redis"]), api_url="http://127.0.0.1:1", redis_port=1)
    failed = run_module("sark_contract_info", dead)
    assert failed.failed and "No source could be probed" in failed["msg"]


def test_v2_single_server_route_without_delete_is_no_runbook_delete(run_module, sims):
    """SARK 2.x's OpenAPI lists /api/v1/servers/{server_id} with only `get`: no vote for the runbook's DELETE."""
    for layout in ("runbook", "sark_v2"):
        result = run_module("sark_contract_info", args(sims[layout], ["api"]))
        signal = next(s for s in result["signals"] if s["signal"] == "server_delete")
        assert signal["evidence"]["runbook_route"] == "DELETE /api/v1/servers/{server_id}"
        if layout == "runbook":
            assert signal["points_to"] == "runbook" and signal["evidence"]["runbook_present"] is True
        else:
            assert signal["points_to"] == "sark_v2" and signal["evidence"]["runbook_present"] is False
            assert signal["evidence"]["path_without_method"] == {"/api/v1/servers/{server_id}": ["get"]}
            assert result["votes"]["runbook"] == 0, result["votes"]


def test_v2_session_and_rate_limit_steps_are_no_ops(run_module, sims):
    """Nothing in a running SARK 2.x writes session or rate-limit keys: those runbook steps act on nothing there."""
    sim = sims["sark_v2"]
    client = sim.redis_client()
    assert not [k for k in client.scan_iter(count=1000) if not k.startswith("policy:decision:")]
    steps = {"000-26", "000-43", "000-48", "000-53", "000-56"}
    for sources in (["api", "postgres", "redis"], ["api", "postgres"]):
        result = run_module("sark_contract_info", dict(args(sim, sources), layout="sark_v2"))
        verdict = {p["procedure"]: p for p in result["procedures"]}
        for name in ("sessions_keys", "rate_limit_keys"):
            assert verdict[name]["verdict"] == "no-op", verdict[name]
            assert "not wired" in verdict[name]["basis"]
            assert ("not probed" in verdict[name]["basis"]) == ("redis" not in sources)
        assert steps <= set(result["no_op_steps"])
    # a deployment that does write SARK 2.x sessions (wired by its operator): those steps are merely different
    client.set("session:wired-1", json.dumps({"session_id": "wired-1", "user_id": "u"}), ex=300)
    client.zadd("rate_limit:user:u", {"1": 1})
    try:
        wired = run_module("sark_contract_info", dict(args(sim, ["api", "postgres", "redis"]), layout="sark_v2"))
        verdict = {p["procedure"]: p["verdict"] for p in wired["procedures"]}
        assert verdict["sessions_keys"] == verdict["rate_limit_keys"] == "different"
        assert not steps & set(wired["no_op_steps"])
    finally:
        client.delete("session:wired-1", "rate_limit:user:u")
