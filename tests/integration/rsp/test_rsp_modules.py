"""rsp_layout_info, rsp_health_info, rsp_cedar_validate and rsp_policy_decision_info against the RSP simulator (both
layouts of shared/spec/platforms-contract.md) and cedarpy: check mode, real run, second run, bad input."""

from harness.rspsim import DEMO_POLICIES, DEMO_SCHEMA

READ_ALICE = {"name": "users read", "principal": {"type": "User", "id": "alice"}, "action": "read",
              "resource": {"type": "Document", "id": "d1"}, "expect": "Allow"}
WRITE_ALICE = {"name": "users do not write", "principal": {"type": "User", "id": "alice"}, "action": "write",
               "resource": {"type": "Document", "id": "d1"}, "expect": "Deny"}


def twice(run_module, name, args):
    """check mode, real run, second run: an _info module gives the same answer each time and changes nothing."""
    results = [run_module(name, args, check_mode=True), run_module(name, args), run_module(name, args)]
    for result in results:
        assert not result.changed, result
    return results


# --- rsp_layout_info ---------------------------------------------------------------------------------------------

def test_layout_probe_tells_the_layouts_apart(run_module, rspsim):
    args = rspsim.module_args(layout="runbook")
    results = twice(run_module, "rsp_layout_info", args) if rspsim.layout == "rsp_code" else [run_module("rsp_layout_info", args)] * 2
    for result in results:
        assert not result.failed, result
        assert result["layout"] == rspsim.layout, result["signals"]
        assert result["votes"]["runbook" if rspsim.layout == "rsp_code" else "rsp_code"] == 0
        assert result["configured_layout_matches"] is (rspsim.layout == "runbook")
    verdicts = {p["procedure"]: p["verdict"] for p in results[1]["procedures"]}
    expected = "no-op" if rspsim.layout == "rsp_code" else "effective"
    assert verdicts["policy reload (replace ConfigMap policy-service-policies)"] == expected
    # the probe made no decision
    assert rspsim.stats()["decisions"] == {"Allow": 0, "Deny": 0}


def test_layout_probe_one_service_down(run_module, rspsims):
    sim = rspsims["rsp_code"]
    result = run_module("rsp_layout_info", sim.module_args(rsp_auth_url="http://127.0.0.1:9", rsp_auth_retries=0))
    assert not result.failed and result["layout"] == "rsp_code" and "auth" in result["errors"]
    both = run_module("rsp_layout_info", sim.module_args(rsp_auth_url="http://127.0.0.1:9", rsp_policy_url="http://127.0.0.1:9",
                                                         rsp_auth_retries=0, rsp_policy_retries=0))
    assert both.failed and "No RSP service could be probed" in both["msg"]
    bad = run_module("rsp_layout_info", {"layout": "sark_v2", "rsp_auth_url": sim.auth_url})
    assert bad.failed and "layout" in bad["msg"]


# --- rsp_health_info ---------------------------------------------------------------------------------------------

def test_health_is_honest_about_static_answers(run_module, rspsim):
    result = run_module("rsp_health_info", rspsim.module_args())
    assert not result.failed, result
    assert result["verdict"] == "healthy" and result["dependencies_checked"] is False and result["verified"] is False
    assert result["services"]["auth-service"]["status"] == "up"
    assert "no decision was tested" in result["summary"]
    if rspsim.layout == "rsp_code":
        assert "checks no dependency" in result["services"]["auth-service"]["note"]
        assert result["services"]["policy-service"]["route"] == "/health"
    else:
        assert result["services"]["policy-service"]["route"] == "/admin/policies"
        assert result["services"]["policy-service"]["policy_count"] == 3


def test_health_decision_test_catches_what_static_health_hides(run_module, rspsims):
    sim = rspsims["rsp_code"]
    sim.fault()
    args = sim.module_args(decision_test=READ_ALICE)
    ok = twice(run_module, "rsp_health_info", args)[1]
    assert ok["verdict"] == "healthy" and ok["verified"] is True and ok["decision"]["decision"] == "Allow"
    # the engine fails: /health still answers its static ok, only the decision shows it
    sim.fault(authorize_error=True)
    try:
        broken = run_module("rsp_health_info", args)
        assert not broken.failed and broken["verdict"] == "unhealthy" and broken["verified"] is False
        assert broken["services"]["policy-service"]["http_status"] == 200
        assert "policy evaluation failed" in broken["services"]["policy-service"]["note"]
        wrong = run_module("rsp_health_info", sim.module_args(decision_test=dict(READ_ALICE, expect="Deny")))
        assert wrong["verdict"] == "unhealthy"
    finally:
        sim.fault()


def test_health_runbook_signal_down_and_unreachable(run_module, rspsims):
    sim = rspsims["runbook"]
    sim.fault(auth_health_status=503)
    try:
        result = run_module("rsp_health_info", sim.module_args())
        assert not result.failed and result["verdict"] == "unhealthy"
        assert result["services"]["auth-service"]["status"] == "down" and result["services"]["auth-service"]["http_status"] == 503
    finally:
        sim.fault()
    gone = run_module("rsp_health_info", sim.module_args(rsp_policy_url="http://127.0.0.1:9", rsp_policy_retries=0))
    assert not gone.failed and gone["services"]["policy-service"]["status"] == "down" and gone["verdict"] == "unhealthy"


def test_health_bad_input(run_module, rspsims):
    runbook = run_module("rsp_health_info", rspsims["runbook"].module_args(decision_test=READ_ALICE))
    assert runbook.failed and "documents no decision route" in runbook["msg"]
    too_long = run_module("rsp_health_info", rspsims["rsp_code"].module_args(decision_test=dict(READ_ALICE, action="a" * 257)))
    assert too_long.failed and "refuses more than 256" in too_long["msg"]
    assert rspsims["rsp_code"].stats()["decisions"]["Allow"] >= 0
    wrong_layout = run_module("rsp_health_info", rspsims["rsp_code"].module_args(layout="runbook"))
    # told runbook, the code's policy-service has no admin API: not silently healthy
    assert not wrong_layout.failed and wrong_layout["services"]["policy-service"]["status"] == "down"


# --- rsp_cedar_validate ------------------------------------------------------------------------------------------

def test_cedar_valid_policies_with_schema(run_module, tmp_path):
    (tmp_path / "a.cedar").write_text(DEMO_POLICIES)
    (tmp_path / "schema.cedarschema").write_text(DEMO_SCHEMA)
    results = twice(run_module, "rsp_cedar_validate", {"policy_path": str(tmp_path), "schema_path": str(tmp_path / "schema.cedarschema")})
    results.append(run_module("rsp_cedar_validate", {"policies": DEMO_POLICIES, "schema": DEMO_SCHEMA}))
    # the same answer each time, from the files and from the text
    for result in results:
        assert not result.failed, result
        assert result["valid"] and result["schema_checked"] and result["errors"] == []
        assert [p["id"] for p in result["policies"]] == ["admins-all", "users-read-docs", "no-delete-locked"]


def test_cedar_syntax_error(run_module, tmp_path):
    (tmp_path / "good.cedar").write_text(DEMO_POLICIES)
    (tmp_path / "bad.cedar").write_text('permit(principal, action resource);')
    result = run_module("rsp_cedar_validate", {"policy_path": str(tmp_path)})
    assert result.failed and not result["valid"] and not result["syntax_valid"]
    assert result["errors"] == [{"source": "bad.cedar", "stage": "syntax", "error": "unexpected token `resource`"}]
    assert "bad.cedar" in result["msg"] and not result.changed
    soft = run_module("rsp_cedar_validate", {"policy_path": str(tmp_path), "fail_on_invalid": False}, check_mode=True)
    assert not soft.failed and soft["valid"] is False and len(soft["policies"]) == 3


def test_cedar_schema_violation(run_module):
    violating = 'permit(principal == Usr::"alice", action == Action::"read", resource);\n' \
                'permit(principal, action == Action::"read", resource is Document) when { context.level > 3 };'
    result = run_module("rsp_cedar_validate", {"policies": violating, "schema": DEMO_SCHEMA})
    assert result.failed and result["syntax_valid"] and not result["valid"]
    assert {e["policy_id"] for e in result["errors"]} == {"policy0", "policy1"}
    assert any("Usr" in e["error"] for e in result["errors"])
    # the same policies parse: without a schema they are valid (syntax only)
    assert run_module("rsp_cedar_validate", {"policies": violating})["valid"] is True


def test_cedar_bad_input(run_module, tmp_path):
    both = run_module("rsp_cedar_validate", {"policies": DEMO_POLICIES, "policy_path": str(tmp_path)})
    assert both.failed and "exactly one of policies" in both["msg"]
    empty = run_module("rsp_cedar_validate", {"policy_path": str(tmp_path)})
    assert empty.failed and "no *.cedar file" in empty["msg"]
    schema = run_module("rsp_cedar_validate", {"policies": DEMO_POLICIES, "schema": "entity {"})
    assert schema.failed and schema["errors"][0]["stage"] == "schema"


# --- rsp_policy_decision_info ------------------------------------------------------------------------------------

def test_decisions_from_the_service(run_module, rspsims):
    sim = rspsims["rsp_code"]
    sim.fault()
    before = sim.stats()["decisions"]
    results = twice(run_module, "rsp_policy_decision_info", sim.module_args(tests=[READ_ALICE, WRITE_ALICE]))
    for result in results:
        assert not result.failed, result
        assert (result["passed_count"], result["failed_count"]) == (2, 0)
        assert [r["decision"] for r in result["results"]] == ["Allow", "Deny"]
    after = sim.stats()["decisions"]
    # check mode asks too (a decision changes nothing): three runs, one Allow and one Deny each
    assert after["Allow"] - before["Allow"] == 3 and after["Deny"] - before["Deny"] == 3


def test_decision_mismatch_and_error_answers(run_module, rspsims):
    sim = rspsims["rsp_code"]
    wrong = run_module("rsp_policy_decision_info", sim.module_args(tests=[dict(READ_ALICE, expect="Deny")]))
    assert wrong.failed and wrong["failed_count"] == 1 and "decided Allow, expected Deny" in wrong["msg"]
    sim.fault(authorize_error=True)
    try:
        broken = run_module("rsp_policy_decision_info", sim.module_args(tests=[READ_ALICE], fail_on_mismatch=False))
        assert not broken.failed and broken["results"][0]["http_status"] == 500
        assert broken["results"][0]["error"] == "policy evaluation failed"
    finally:
        sim.fault()


def test_decisions_locally_with_cedar(run_module, tmp_path):
    (tmp_path / "p.cedar").write_text(DEMO_POLICIES)
    entities = [{"uid": {"type": "User", "id": "root"}, "attrs": {}, "parents": [{"type": "Role", "id": "admin"}]},
                {"uid": {"type": "Role", "id": "admin"}, "attrs": {}, "parents": []}]
    admin_delete = {"name": "admins delete", "principal": {"type": "User", "id": "root"}, "action": "delete",
                    "resource": {"type": "Document", "id": "d1"}, "context": {"locked": False}, "expect": "Allow"}
    locked = dict(admin_delete, name="locked wins", context={"locked": True}, expect="Deny")
    args = {"source": "local", "policy_path": str(tmp_path), "entities": entities, "tests": [READ_ALICE, admin_delete, locked]}
    result = run_module("rsp_policy_decision_info", args, check_mode=True)
    assert not result.failed, result
    assert [r["decision"] for r in result["results"]] == ["Allow", "Allow", "Deny"]
    assert result["results"][2]["diagnostics"]["reasons"] == ["policy2"]
    # without the entity graph root is no admin: the test fails
    lost = run_module("rsp_policy_decision_info", dict(args, entities=[]))
    assert lost.failed and "admins delete" in lost["msg"]


def test_decision_bad_input(run_module, rspsims):
    runbook = run_module("rsp_policy_decision_info", rspsims["runbook"].module_args(tests=[READ_ALICE]))
    assert runbook.failed and "source: local" in runbook["msg"]
    sim = rspsims["rsp_code"]
    before = sim.stats()["decisions"]
    # the second test is too long: nothing is sent, not even the first
    long_id = run_module("rsp_policy_decision_info", sim.module_args(
        tests=[READ_ALICE, dict(READ_ALICE, principal={"type": "User", "id": "x" * 513})]))
    assert long_id.failed and "refuses more than 512" in long_id["msg"]
    assert sim.stats()["decisions"] == before
    bad_expect = run_module("rsp_policy_decision_info", sim.module_args(tests=[dict(READ_ALICE, expect="allow")]))
    assert bad_expect.failed and "expect must be Allow or Deny" in bad_expect["msg"]
    syntax = run_module("rsp_policy_decision_info", {"source": "local", "policies": "permit(", "tests": [READ_ALICE]})
    assert syntax.failed and "do not parse" in syntax["msg"]
