"""The generated AWX assets file as awxkit (what `awx import` runs) reads it: its YAML loader, its exportable
resources, the natural keys its page classes define; and the surveys by AWX's survey spec rules."""

import os

import pytest
from awxkit import yaml_file
from awxkit.api import pages
from awxkit.api import utils as awx_utils
from awxkit.api.pages.api import EXPORTABLE_RESOURCES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS_FILE = os.path.join(ROOT, "extensions", "awx", "sark_ops_assets.yml")
PAGE_CLASSES = {"organization": pages.Organization, "project": pages.Project, "inventory": pages.Inventory,
                "credential_type": pages.CredentialType, "credential": pages.Credential, "job_template": pages.JobTemplate,
                "workflow_job_template": pages.WorkflowJobTemplate, "workflow_job_template_node": pages.WorkflowJobTemplateNode}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


@pytest.fixture(scope="module")
def assets():
    with open(ASSETS_FILE, encoding="utf-8") as handle:
        return yaml_file.Loader(handle).get_single_data()


def natural_keys(node):
    if isinstance(node, dict):
        if node.get("type") in PAGE_CLASSES and "name" in node or node.get("type") == "workflow_job_template_node":
            yield node
        for value in node.values():
            yield from natural_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from natural_keys(item)


def test_resources_are_exportable_ones(assets):
    assert set(assets) <= set(EXPORTABLE_RESOURCES)
    assert assets["credential_types"] and assets["job_templates"]
    for resource, items in assets.items():
        for item in items:
            assert item["natural_key"]["type"] + "s" in (resource, resource + "s") or resource == "inventory", resource


def test_natural_keys_are_awxkits(assets):
    keys = list(natural_keys(assets))
    assert len(keys) > 10
    for key in keys:
        cls = PAGE_CLASSES[key["type"]]
        assert set(key) - {"type"} == set(cls.NATURAL_KEY), (key["type"], key)
        awx_utils.freeze(key)  # what awxkit's PageCache indexes by


def test_references_resolve_inside_the_file_or_are_documented_prerequisites(assets):
    defined = {awx_utils.freeze(item["natural_key"]) for items in assets.values() for item in items}
    nodes = {awx_utils.freeze(n["natural_key"]) for wf in assets.get("workflow_job_templates", [])
             for n in wf["related"]["workflow_nodes"]}
    prerequisites = {"organization", "project", "inventory", "credential"}
    for key in natural_keys(assets):
        assert awx_utils.freeze(key) in defined | nodes or key["type"] in prerequisites, key


def check_survey(survey):
    assert isinstance(survey["name"], str) and isinstance(survey["description"], str)
    variables = [q["variable"] for q in survey["spec"]]
    assert len(variables) == len(set(variables))
    for q in survey["spec"]:
        assert q["type"] in SURVEY_TYPES and q["question_name"] and isinstance(q["required"], bool), q
        default = q.get("default", "")
        if q["type"] == "multiplechoice":
            assert isinstance(q["choices"], list) and (default == "" or default in q["choices"]), q
        elif q["type"] == "multiselect":
            assert all(d in q["choices"] for d in default.split("\n") if d), q
        elif q["type"] in ("integer", "float"):
            assert default == "" or (isinstance(default, (int, float)) and q["min"] <= default <= q["max"]), q
        elif q["type"] == "password":
            assert default in ("", "$encrypted$"), q
        else:
            assert isinstance(default, str) and q["min"] <= len(default) <= q["max"], q


def test_surveys_follow_awx_rules(assets):
    for jt in assets["job_templates"]:
        check_survey(jt["related"]["survey_spec"])
        assert jt["survey_enabled"] is bool(jt["related"]["survey_spec"]["spec"])


def test_survey_checker_can_fail():
    with pytest.raises(AssertionError):
        check_survey({"name": "x", "description": "", "spec": [
            {"variable": "a", "question_name": "A", "required": False, "type": "multiplechoice", "choices": ["p"], "default": "q"}]})


def test_credential_type_is_a_valid_custom_type(assets):
    (ctype,) = assets["credential_types"]
    assert ctype["kind"] == "cloud"
    ids = [f["id"] for f in ctype["inputs"]["fields"]]
    assert len(ids) == len(set(ids))
    assert all(f["type"] in ("string", "boolean") for f in ctype["inputs"]["fields"])
    for template in ctype["injectors"]["env"].values():
        assert template.strip("{} ") in ids
