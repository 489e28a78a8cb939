"""playbooks/awx_apply.yml against a recording stand-in of the controller's REST API (tests/harness/awx_recorder.py):
the requests an AWX API expects, the objects they leave behind (matching the assets file), idempotence, and
clear failures."""

import os
import shutil
import textwrap

import awx_assets  # tools/ is on sys.path through pytest.ini (pythonpath)
import pytest
import yaml

from harness.awx_recorder import AwxRecorder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOKEN = "awx-admin-token-91c2"
APPLY = "- name: Apply\n  ansible.builtin.import_playbook: sark.ops.awx_apply\n"
CRED_INPUTS = {"sark_api_url": "https://sark.example.com", "sark_api_token": "sark-secret-token-77",
               "redis_password": "redis-secret-55"}


@pytest.fixture(scope="module")
def assets_file(tmp_path_factory):
    """A fixed small tree (the cost of a run grows with the number of templates): the daily check playbook and
    role of the collection, one incident playbook with a remediate switch, and a recovery check."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(os.path.join(ROOT, "roles", "sark_daily_check"), root / "roles" / "sark_daily_check")
    (root / "playbooks").mkdir()
    shutil.copy(os.path.join(ROOT, "playbooks", "daily_check.yml"), root / "playbooks" / "daily_check.yml")
    (root / "roles" / "sark_incident_t" / "meta").mkdir(parents=True)
    (root / "roles" / "sark_incident_t" / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {"main": {
        "options": {"sark_incident_t_remediate": {"type": "bool", "default": False, "description": "Remediate."},
                    "sark_incident_t_max": {"type": "int", "default": 10, "description": "At most."}}}}}))
    (root / "playbooks" / "incident_t.yml").write_text(textwrap.dedent("""\
        - name: SARK incident T
          hosts: all
          roles: [sark.ops.sark_incident_t]
        """))
    (root / "playbooks" / "recovery_verification.yml").write_text(
        "- name: SARK recovery verification\n  hosts: all\n  roles: [sark.ops.sark_daily_check]\n")
    out = root / "assets.yml"
    assert awx_assets.main(["--root", str(root), "--output", str(out)]) == 0
    return str(out)


@pytest.fixture()
def awx():
    with AwxRecorder(TOKEN) as recorder:
        org = recorder.add("organizations", name="Default")
        recorder.add("projects", name="sark.ops", organization=org["id"])
        recorder.add("inventories", name="SARK", organization=org["id"])
        yield recorder


def apply(playbook, awx, assets_file, **extra):
    extravars = {"sark_awx_host": awx.url, "sark_awx_assets_file": assets_file}
    extravars.update(extra)
    return playbook(APPLY, extravars=extravars, envvars={"CONTROLLER_OAUTH_TOKEN": TOKEN})


def changed_tasks(result):
    return [e["event_data"]["task"] for e in result.events
            if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")]


def test_apply_creates_everything_and_a_second_run_changes_nothing(playbook, awx, assets_file):
    with open(assets_file, encoding="utf-8") as handle:
        assets = yaml.safe_load(handle)
    result = apply(playbook, awx, assets_file, sark_awx_credential_inputs=CRED_INPUTS)
    assert result.status == "successful", result.stdout_text[-4000:]
    for secret in CRED_INPUTS.values():
        assert secret not in result.stdout_text

    (ctype,) = awx.objects["credential_types"].values()
    assert ctype["injectors"] == assets["credential_types"][0]["injectors"]
    assert ctype["inputs"] == assets["credential_types"][0]["inputs"] and ctype["kind"] == "cloud"
    (cred,) = awx.objects["credentials"].values()
    assert cred["credential_type"] == ctype["id"] and cred["inputs"] == CRED_INPUTS

    project = awx.find("projects", name="sark.ops")[0]["id"]
    inventory = awx.find("inventories", name="SARK")[0]["id"]
    jts = {jt["name"]: jt for jt in awx.objects["job_templates"].values()}
    assert sorted(jts) == sorted(jt["name"] for jt in assets["job_templates"])
    for want in assets["job_templates"]:
        got = jts[want["name"]]
        assert (got["playbook"], got["project"], got["inventory"]) == (want["playbook"], project, inventory)
        assert got["extra_vars"] == want["extra_vars"] and got["survey_enabled"] is want["survey_enabled"]
        assert awx.surveys[got["id"]] == want["related"]["survey_spec"]
        assert awx.jt_credentials[got["id"]] == [cred["id"]]

    (wf,) = awx.objects["workflow_job_templates"].values()
    assert wf["name"] == "SARK incident T - workflow"
    nodes = {n["identifier"]: n for n in awx.find("workflow_job_template_nodes", workflow_job_template=wf["id"])}
    assert sorted(nodes) == ["approve", "diagnose", "remediate", "verify"]
    by_id = {n["id"]: i for i, n in nodes.items()}
    assert {i: [by_id[c] for c in n["success_nodes"]] for i, n in nodes.items()} == {
        "diagnose": ["approve"], "approve": ["remediate"], "remediate": ["verify"], "verify": []}
    assert nodes["diagnose"]["unified_job_template"] == jts["SARK incident T - diagnose"]["id"]
    assert nodes["remediate"]["unified_job_template"] == jts["SARK incident T - remediate"]["id"]
    assert nodes["verify"]["unified_job_template"] == jts["SARK recovery verification"]["id"]
    (approval,) = awx.objects["workflow_approval_templates"].values()
    assert nodes["approve"]["unified_job_template"] == approval["id"]
    assert approval["timeout"] == awx_assets.APPROVAL_TIMEOUT
    assert yaml.safe_load(jts["SARK incident T - remediate"]["extra_vars"]) == {"sark_incident_t_remediate": True}

    # the requests an AWX API expects: every write under /api/v2/, authenticated, JSON
    writes = awx.writes()
    assert writes and all(r["path"].startswith("/api/v2/") and r["path"].endswith("/") for r in writes)
    posts = sorted({r["path"] for r in writes if r["method"] == "POST"})
    assert "/api/v2/credential_types/" in posts and "/api/v2/job_templates/" in posts
    assert any(p.endswith("/create_approval_template/") for p in posts)

    # second run: reads only
    before = len(awx.requests)
    again = apply(playbook, awx, assets_file, sark_awx_credential_inputs=CRED_INPUTS)
    assert again.status == "successful", again.stdout_text[-4000:]
    assert changed_tasks(again) == []
    assert [r for r in awx.requests[before:] if r["method"] != "GET"] == []


def test_apply_without_credential_stops_after_the_credential_type(playbook, awx, assets_file):
    result = apply(playbook, awx, assets_file)
    assert result.status == "failed"
    assert "Credential type 'SARK connections' is in place. Create the credential" in result.stdout_text
    assert len(awx.objects["credential_types"]) == 1 and not awx.objects["job_templates"]


def test_apply_with_a_bad_token_or_a_missing_project_fails_clearly(playbook, awx, assets_file):
    result = playbook(APPLY, extravars={"sark_awx_host": awx.url, "sark_awx_assets_file": assets_file},
                      envvars={"CONTROLLER_OAUTH_TOKEN": "wrong"})
    assert result.status == "failed" and "401" in result.stdout_text
    assert awx.writes() == []
    awx.objects["projects"].clear()
    result = apply(playbook, awx, assets_file, sark_awx_credential_inputs=CRED_INPUTS)
    assert result.status == "failed" and "Create project 'sark.ops' on the controller first" in result.stdout_text
    assert awx.writes() == []
