"""tools/awx_assets.py: surveys from argument specs, the credential type, job templates and incident workflows."""

import importlib.util
import os
import re
import textwrap

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _load_tool(name):
    """tools/ is not a package of the collection: load the generator from its file (no sys.path edit)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


awx_assets = _load_tool("awx_assets")


def test_survey_question_types_choices_defaults_required():
    q = awx_assets.survey_question
    assert q("a", {"type": "str", "default": "x", "description": "A thing. More."}) == {
        "variable": "a", "question_name": "A thing", "question_description": "A thing. More.", "required": False,
        "new_question": True, "type": "text", "min": 0, "max": 1024, "default": "x"}
    assert q("n", {"type": "int", "required": True})["type"] == "integer"
    assert q("n", {"type": "int", "required": True})["required"] is True
    assert q("n", {"type": "int", "default": 5})["default"] == 5
    assert q("f", {"type": "float", "default": 2.5})["type"] == "float"
    flag = q("b", {"type": "bool", "default": False})
    assert (flag["type"], flag["choices"], flag["default"]) == ("multiplechoice", ["true", "false"], "false")
    level = q("l", {"type": "str", "choices": ["ok", "never"], "default": "never"})
    assert (level["type"], level["choices"], level["default"]) == ("multiplechoice", ["ok", "never"], "never")
    multi = q("m", {"type": "list", "elements": "str", "choices": ["a", "b", "c"], "default": ["a", "c"]})
    assert (multi["type"], multi["default"]) == ("multiselect", "a\nc")
    assert q("s", {"type": "str", "no_log": True})["type"] == "password"
    assert q("lst", {"type": "list", "elements": "str", "default": ["x", "y"]})["default"] == "x,y"
    assert q("d", {"type": "dict"}) is None
    assert q("ld", {"type": "list", "elements": "dict"}) is None
    assert q("u", {"type": "str"})["default"] == ""


def test_survey_extra_vars_are_the_non_empty_defaults():
    survey = {"spec": [{"variable": "a", "type": "text", "default": "x"}, {"variable": "b", "type": "text", "default": ""},
                       {"variable": "c", "type": "multiselect", "default": "p\nq"}, {"variable": "d", "type": "integer", "default": 0}]}
    assert awx_assets.survey_extra_vars(survey) == {"a": "x", "c": ["p", "q"], "d": 0}


ENTRIES = sorted((role, entry) for role, entries in awx_assets.argument_specs(ROOT).items() for entry in entries)


@pytest.mark.parametrize("role,entry", ENTRIES)
def test_surveys_match_the_real_argument_specs(role, entry):
    options = awx_assets.argument_specs(ROOT)[role][entry]
    survey = awx_assets.survey_spec("t", [(role, entry)], {role: {entry: options}})
    asked = {question["variable"]: question for question in survey["spec"]}
    surveyable = {n for n, s in options.items() if s.get("type", "str") != "dict" and s.get("elements") not in ("dict", "list")}
    assert set(asked) == surveyable
    for name, question in asked.items():
        spec = options[name]
        assert question["required"] is bool(spec.get("required", False))
        if spec.get("type") == "bool":
            assert question["choices"] == ["true", "false"]
            assert question["default"] == ("" if "default" not in spec else ("true" if spec["default"] else "false"))
        elif spec.get("choices"):
            assert question["choices"] == [str(c) for c in spec["choices"]]
            if spec.get("type") == "list":  # AWX multiselect: the default is the chosen values, one per line
                assert question["type"] == "multiselect"
                assert question["default"].split("\n") == [str(c) for c in spec.get("default") or []] or question["default"] == ""
                assert set(filter(None, question["default"].split("\n"))) <= set(question["choices"])
            else:
                assert question["default"] in question["choices"] + [""]
        else:
            assert question["type"] == {"int": "integer", "float": "float"}.get(spec.get("type"), "password" if spec.get("no_log") else "text")
        if "default" in spec and spec.get("type") in ("int", "float"):
            assert question["default"] == spec["default"]
        if "default" in spec and spec.get("type", "str") == "str" and not spec.get("choices"):
            assert question["default"] == str(spec["default"])


def test_credential_type_injects_variables_the_collection_reads():
    ctype = awx_assets.credential_type()
    sources = []
    for base, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        sources.extend(open(os.path.join(base, f), encoding="utf-8").read() for f in files if f.endswith(".py"))
    text = "\n".join(sources)
    for var in ctype["injectors"]["env"]:
        assert re.search(r"\b%s\b" % var, text), "%s is injected but no plugin reads it" % var
    needed = {"SARK_API_URL", "SARK_API_TOKEN", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "PGHOST", "PGPORT", "PGUSER",
              "PGPASSWORD", "OPA_URL", "PROMETHEUS_URL", "ALERTMANAGER_URL", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"}
    assert needed <= set(ctype["injectors"]["env"])
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    for secret in ("sark_api_token", "redis_password", "pg_password", "opa_token", "k8s_api_key"):
        assert fields[secret]["secret"] is True
    assert set(ctype["inputs"]["required"]) <= set(fields)


def test_render_injectors_like_awx():
    env = awx_assets.render_injectors(awx_assets.credential_type(), {"sark_api_url": "http://a", "sark_api_token": "t",
                                                                     "redis_port": "7000", "k8s_verify_ssl": False})
    assert env["SARK_API_URL"] == "http://a" and env["SARK_API_TOKEN"] == "t"
    assert env["REDIS_PORT"] == "7000" and env["REDIS_HOST"] == "localhost"  # the field's default
    assert env["PGPASSWORD"] == "" and env["K8S_AUTH_VERIFY_SSL"] == "false"
    assert awx_assets.render_injectors(awx_assets.credential_type(), {})["K8S_AUTH_VERIFY_SSL"] == "true"


def make_tree(tmp_path, recovery=True, switch=True):
    (tmp_path / "roles" / "sark_incident_x" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "sark_check" / "meta").mkdir(parents=True)
    (tmp_path / "playbooks").mkdir()
    options = {"sark_incident_x_threshold": {"type": "int", "default": 3, "description": "How many."},
               "sark_incident_x_target": {"type": "str", "required": True, "description": "Which one."}}
    if switch:
        options["sark_incident_x_remediate"] = {"type": "bool", "default": False, "description": "Remediate."}
    (tmp_path / "roles" / "sark_incident_x" / "meta" / "argument_specs.yml").write_text(
        yaml.safe_dump({"argument_specs": {"main": {"options": {}}, "x": {"options": options}}}))
    (tmp_path / "roles" / "sark_check" / "meta" / "argument_specs.yml").write_text(
        yaml.safe_dump({"argument_specs": {"main": {"options": {"sark_check_level": {"type": "str", "choices": ["a", "b"]}}}}}))
    (tmp_path / "playbooks" / "incident_x.yml").write_text(textwrap.dedent("""\
        - name: SARK incident X
          hosts: all
          tasks:
            - name: Run
              ansible.builtin.include_role:
                name: sark.ops.sark_incident_x
                tasks_from: x
        """))
    (tmp_path / "playbooks" / "check.yml").write_text(textwrap.dedent("""\
        - name: Checks
          hosts: all
          roles:
            - role: sark.ops.sark_check
        - name: And the incident's
          ansible.builtin.import_playbook: sark.ops.incident_x
        """))
    if recovery:
        (tmp_path / "playbooks" / "recovery_verification.yml").write_text(
            "- name: SARK recovery verification\n  hosts: all\n  roles: [sark.ops.sark_check]\n")
    return str(tmp_path)


def test_incident_workflow_diagnose_approval_remediate_verify(tmp_path):
    assets = awx_assets.build_assets(make_tree(tmp_path))
    jts = {jt["name"]: jt for jt in assets["job_templates"]}
    assert sorted(jts) == ["SARK Checks", "SARK incident X - diagnose", "SARK incident X - remediate",
                           "SARK recovery verification"]
    diag, rem = jts["SARK incident X - diagnose"], jts["SARK incident X - remediate"]
    assert diag["playbook"] == rem["playbook"] == "playbooks/incident_x.yml"
    assert yaml.safe_load(diag["extra_vars"]) == {"sark_incident_x_remediate": False}
    assert yaml.safe_load(rem["extra_vars"]) == {"sark_incident_x_remediate": True}
    asked = [q["variable"] for q in diag["related"]["survey_spec"]["spec"]]
    assert asked == ["sark_incident_x_target", "sark_incident_x_threshold"]  # never the switch
    assert diag["related"]["survey_spec"]["spec"][0]["required"] is True
    # import_playbook is followed: the checks playbook asks the incident role's options too
    assert [q["variable"] for q in jts["SARK Checks"]["related"]["survey_spec"]["spec"]] == [
        "sark_check_level", "sark_incident_x_remediate", "sark_incident_x_target", "sark_incident_x_threshold"]
    (workflow,) = assets["workflow_job_templates"]
    assert workflow["name"] == "SARK incident X - workflow"
    nodes = {n["identifier"]: n for n in workflow["related"]["workflow_nodes"]}
    assert list(nodes) == ["diagnose", "approve", "remediate", "verify"]
    chain = {i: [s["identifier"] for s in n["related"]["success_nodes"]] for i, n in nodes.items()}
    assert chain == {"diagnose": ["approve"], "approve": ["remediate"], "remediate": ["verify"], "verify": []}
    assert nodes["approve"]["unified_job_template"] is None
    assert nodes["approve"]["related"]["create_approval_template"]["timeout"] == awx_assets.APPROVAL_TIMEOUT
    assert nodes["diagnose"]["unified_job_template"]["name"] == "SARK incident X - diagnose"
    assert nodes["remediate"]["unified_job_template"]["name"] == "SARK incident X - remediate"
    assert nodes["verify"]["unified_job_template"]["name"] == "SARK recovery verification"
    for node in nodes.values():
        assert node["natural_key"]["workflow_job_template"] == workflow["natural_key"]


def test_incident_workflow_without_recovery_playbook_verifies_with_the_diagnosis(tmp_path):
    warnings = []
    assets = awx_assets.build_assets(make_tree(tmp_path, recovery=False), warn=warnings.append)
    nodes = {n["identifier"]: n for n in assets["workflow_job_templates"][0]["related"]["workflow_nodes"]}
    assert nodes["verify"]["unified_job_template"]["name"] == "SARK incident X - diagnose"
    assert warnings and "recovery_verification.yml not found" in warnings[0]


def test_incident_without_remediate_switch_gets_no_workflow(tmp_path):
    warnings = []
    assets = awx_assets.build_assets(make_tree(tmp_path, switch=False), warn=warnings.append)
    assert assets["workflow_job_templates"] == []
    assert "SARK incident X" in [jt["name"] for jt in assets["job_templates"]]
    assert "no bool *_remediate option" in warnings[0]


def test_tasks_from_without_entry_point_is_an_error(tmp_path):
    root = make_tree(tmp_path)
    with open(os.path.join(root, "playbooks", "incident_x.yml"), "a", encoding="utf-8") as handle:
        handle.write("    - name: Again\n      ansible.builtin.import_role:\n        name: sark.ops.sark_incident_x\n"
                     "        tasks_from: nope.yml\n")
    with pytest.raises(awx_assets.AssetsError, match="with tasks_from nope, which has no entry point"):
        awx_assets.build_assets(root)


def test_missing_argument_spec_is_an_error(tmp_path):
    root = make_tree(tmp_path)
    os.unlink(os.path.join(root, "roles", "sark_check", "meta", "argument_specs.yml"))
    with pytest.raises(awx_assets.AssetsError, match="runs role sark_check, which has no meta/argument_specs.yml"):
        awx_assets.build_assets(root)


def test_committed_assets_file_is_current(capsys):
    assert awx_assets.main(["--root", ROOT, "--check"]) == 0, capsys.readouterr().err


def test_check_reports_a_stale_file(tmp_path, capsys):
    root = make_tree(tmp_path)
    assert awx_assets.main(["--root", root]) == 0
    assert awx_assets.main(["--root", root, "--check"]) == 0
    with open(os.path.join(root, awx_assets.DEFAULT_OUTPUT), "a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    assert awx_assets.main(["--root", root, "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
