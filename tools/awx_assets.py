#!/usr/bin/env python
"""Generate the AWX assets of sark.ops (the format `awx import` reads) from the collection itself.

    python tools/awx_assets.py [--root .] [--output extensions/awx/sark_ops_assets.yml] [--check]

- one custom credential type, "SARK connections", whose injectors set the environment variables the
  modules read (SARK_API_*, REDIS_*, PG*, OPA_*, PROMETHEUS_*, ALERTMANAGER_*, K8S_AUTH_*);
- a job template per playbook in playbooks/, its survey generated from the argument specs of the roles
  the playbook runs (types, choices, defaults, required);
- for each incident playbook (playbooks/incident_*.yml), a workflow diagnose -> approval -> remediate ->
  recovery verification.

The file is reproducible (sorted, no timestamps): `--check` fails when the committed file is stale.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys

import yaml

ORGANIZATION = "Default"
PROJECT = "sark.ops"
INVENTORY = "SARK"
CREDENTIAL = "SARK connections"
CREDENTIAL_TYPE = "SARK connections"
APPROVAL_TIMEOUT = 3600
RECOVERY_PLAYBOOK = "playbooks/recovery_verification.yml"
DEFAULT_OUTPUT = os.path.join("extensions", "awx", "sark_ops_assets.yml")
# playbooks that are not job templates: the one that applies these assets to a controller
NOT_JOB_TEMPLATES = ("playbooks/awx_apply.yml",)

# (field id, label, type, secret, injected environment variable, default, help)
CREDENTIAL_FIELDS = [
    ("sark_api_url", "SARK API URL", "string", False, "SARK_API_URL", None, "e.g. https://sark.example.com"),
    ("sark_api_token", "SARK API token", "string", True, "SARK_API_TOKEN", None, "Bearer token of an admin user"),
    ("redis_host", "Redis host", "string", False, "REDIS_HOST", "localhost", None),
    ("redis_port", "Redis port", "string", False, "REDIS_PORT", "6379", None),
    ("redis_username", "Redis ACL user", "string", False, "REDIS_USERNAME", "default", None),
    ("redis_password", "Redis password", "string", True, "REDIS_PASSWORD", None, None),
    ("pg_host", "PostgreSQL host", "string", False, "PGHOST", "localhost", None),
    ("pg_port", "PostgreSQL port", "string", False, "PGPORT", "5432", None),
    ("pg_user", "PostgreSQL user", "string", False, "PGUSER", "postgres", None),
    ("pg_password", "PostgreSQL password", "string", True, "PGPASSWORD", None, None),
    ("pg_database", "PostgreSQL database", "string", False, "PGDATABASE", "sark", None),
    ("pg_sslmode", "PostgreSQL sslmode", "string", False, "PGSSLMODE", "prefer", None),
    ("opa_url", "OPA URL", "string", False, "OPA_URL", None, "e.g. http://opa:8181"),
    ("opa_token", "OPA token", "string", True, "OPA_TOKEN", None, None),
    ("prometheus_url", "Prometheus URL", "string", False, "PROMETHEUS_URL", None, "e.g. http://prometheus:9090"),
    ("prometheus_token", "Prometheus token", "string", True, "PROMETHEUS_TOKEN", None, None),
    ("alertmanager_url", "Alertmanager URL", "string", False, "ALERTMANAGER_URL", None, "e.g. http://alertmanager:9093"),
    ("alertmanager_token", "Alertmanager token", "string", True, "ALERTMANAGER_TOKEN", None, None),
    ("k8s_host", "Kubernetes API URL", "string", False, "K8S_AUTH_HOST", None, "e.g. https://kubernetes.default.svc"),
    ("k8s_api_key", "Kubernetes bearer token", "string", True, "K8S_AUTH_API_KEY", None, None),
    ("k8s_verify_ssl", "Verify the Kubernetes API certificate", "boolean", False, "K8S_AUTH_VERIFY_SSL", True, None),
]
CREDENTIAL_REQUIRED = ["sark_api_url", "sark_api_token"]

# argument spec type -> AWX survey question type (None: not asked in a survey)
SURVEY_TYPES = {"str": "text", "path": "text", "int": "integer", "float": "float", "bool": "multiplechoice",
                "list": "text", "raw": "text"}


class AssetsError(Exception):
    pass


def org_key():
    return {"name": ORGANIZATION, "type": "organization"}


def named_key(name, kind):
    return {"organization": org_key(), "name": name, "type": kind}


def credential_type_key():
    return {"name": CREDENTIAL_TYPE, "kind": "cloud", "type": "credential_type"}


def credential_key():
    return {"organization": org_key(), "name": CREDENTIAL, "credential_type": credential_type_key(), "type": "credential"}


def _title(text):
    return text[:1].upper() + text[1:]


def credential_type():
    fields, env = [], {}
    for fid, label, ftype, secret, var, default, help_text in CREDENTIAL_FIELDS:
        field = {"id": fid, "label": label, "type": ftype}
        if secret:
            field["secret"] = True
        if default is not None:
            field["default"] = default
        if help_text:
            field["help_text"] = help_text
        fields.append(field)
        env[var] = "{{ %s }}" % fid
    return {
        "name": CREDENTIAL_TYPE, "kind": "cloud",
        "description": "Connections of the sark.ops modules: injected as the environment variables they read.",
        "inputs": {"fields": fields, "required": list(CREDENTIAL_REQUIRED)},
        "injectors": {"env": env},
        "natural_key": credential_type_key(),
    }


def render_injectors(ctype, inputs):
    """The environment AWX gives a job from a credential of this type (unset inputs render as '' or the default)."""
    values = {}
    for field in ctype["inputs"]["fields"]:
        value = inputs.get(field["id"], field.get("default", False if field["type"] == "boolean" else ""))
        values[field["id"]] = value
    env = {}
    for var, template in ctype["injectors"]["env"].items():
        match = re.fullmatch(r"\{\{ (\w+) \}\}", template)
        if not match:
            raise AssetsError("injector %s: only plain {{ field }} templates are generated" % var)
        value = values[match.group(1)]
        env[var] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


# ---------------------------------------------------------------- playbooks and argument specs

def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def argument_specs(root):
    """{role name: {entry point: options}} from roles/*/meta/argument_specs.yml."""
    specs = {}
    roles_dir = os.path.join(root, "roles")
    for role in sorted(os.listdir(roles_dir)) if os.path.isdir(roles_dir) else []:
        path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
        if os.path.isfile(path):
            entries = (load_yaml(path) or {}).get("argument_specs", {}) or {}
            specs[role] = dict((entry, (spec or {}).get("options", {}) or {}) for entry, spec in entries.items())
    return specs


def _role_names(node):
    """(role, entry point) of the roles used anywhere in a play/task tree (include_role/import_role with
    tasks_from naming the entry point, roles:)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                if isinstance(value, dict) and isinstance(value.get("name"), str):
                    found.append((value["name"], value.get("tasks_from") or "main"))
            elif key == "roles" and isinstance(value, list):
                for role in value:
                    name = role.get("role", role.get("name")) if isinstance(role, dict) else role
                    if isinstance(name, str):
                        found.append((name, "main"))
            found.extend(_role_names(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_role_names(item))
    return found


def playbook_roles(root, playbook, _seen=None):
    """(role, entry point) pairs of this collection's roles the playbook runs, following import_playbook."""
    seen = _seen if _seen is not None else set()
    if playbook in seen:
        return []
    seen.add(playbook)
    plays = load_yaml(os.path.join(root, playbook)) or []
    roles = []
    for play in plays:
        target = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if isinstance(target, str):
            name = target.split(".")[-1] if target.startswith("sark.ops.") else os.path.splitext(os.path.basename(target))[0]
            path = "playbooks/%s.yml" % name
            if os.path.isfile(os.path.join(root, path)):
                roles.extend(playbook_roles(root, path, seen))
            continue
        for name, entry in _role_names(play):
            short = name[len("sark.ops."):] if name.startswith("sark.ops.") else name
            entry = os.path.splitext(entry)[0]
            if (short, entry) not in roles:
                roles.append((short, entry))
    return roles


def playbook_title(root, playbook):
    plays = load_yaml(os.path.join(root, playbook)) or []
    for play in plays:
        if isinstance(play, dict) and play.get("name") and "hosts" in play:
            return str(play["name"])
    return os.path.splitext(os.path.basename(playbook))[0].replace("_", " ")


def _question_default(spec, qtype):
    default = spec.get("default")
    if default is None:
        return ""
    if spec.get("type") == "bool":
        return "true" if default else "false"
    if spec.get("type") == "list":
        return ",".join(str(v) for v in default) if isinstance(default, list) else str(default)
    if qtype in ("integer", "float"):
        return default
    return str(default)


def jt_name(title):
    return title if title.upper().startswith("SARK") else "SARK " + title


def question_name(name, description):
    sentence = re.split(r"(?<=[.;:])\s", description, maxsplit=1)[0].rstrip(".;:") if description else ""
    sentence = re.sub(r"[A-Z]\(([^)]*)\)", r"\1", sentence)
    return (sentence[:77] + "...") if len(sentence) > 80 else (sentence or name)


def survey_question(name, spec):
    """An AWX survey question for one argument spec option, or None when a survey cannot ask it."""
    atype = spec.get("type", "str")
    qtype = SURVEY_TYPES.get(atype)
    if qtype is None or spec.get("elements") in ("dict", "list"):
        return None
    description = spec.get("description", "")
    if isinstance(description, list):
        description = " ".join(description)
    question = {"variable": name, "question_name": question_name(name, description), "question_description": description,
                "required": bool(spec.get("required", False)), "new_question": True}
    if atype == "bool":
        question.update(type="multiplechoice", choices=["true", "false"])
    elif spec.get("choices"):
        choices = [str(c) for c in spec["choices"]]
        question.update(type="multiselect" if atype == "list" else "multiplechoice", choices=choices)
    else:
        question["type"] = qtype
        if spec.get("no_log"):
            question["type"] = "password"
        if qtype in ("text", "password"):
            question.update(min=0, max=1024)
        elif qtype == "integer":
            question.update(min=-(2 ** 31), max=2 ** 31 - 1)
        else:
            question.update(min=-1e12, max=1e12)
    default = _question_default(spec, question["type"])
    if question["type"] == "multiselect":
        default = "\n".join(str(v) for v in (spec.get("default") or []))
    question["default"] = default
    return question


def _entry_label(role, entry):
    return role if entry == "main" else "%s (%s)" % (role, entry)


def survey_spec(title, roles, specs, skip=()):
    """The survey of a job template: the options of the (role, entry point) pairs it runs, first one wins."""
    questions, seen = [], set(skip)
    for role, entry in roles:
        options = specs.get(role, {}).get(entry, {})
        for name in sorted(options):
            if name in seen:
                continue
            seen.add(name)
            question = survey_question(name, options[name])
            if question is not None:
                questions.append(question)
    labels = [_entry_label(r, e) for r, e in roles]
    return {"name": title, "description": "Generated from the argument specs of %s" % ", ".join(labels or ["(none)"]),
            "spec": questions}


def survey_extra_vars(survey):
    """The extra vars AWX sends when a survey is launched with its defaults (empty answers are left out)."""
    out = {}
    for question in survey["spec"]:
        default = question.get("default")
        if default in ("", None):
            continue
        if question["type"] == "multiselect":
            out[question["variable"]] = default.split("\n")
        else:
            out[question["variable"]] = default
    return out


def remediate_switch(roles, specs):
    """The bool option of the incident's roles that turns its remediate phase on (name ending in _remediate)."""
    for role, entry in roles:
        for name, spec in sorted(specs.get(role, {}).get(entry, {}).items()):
            if name.endswith("_remediate") and spec.get("type") == "bool":
                return name
    return None


# ---------------------------------------------------------------- assets

def job_template(name, playbook, description, survey, extra_vars=None):
    jt = {
        "name": name, "description": description, "job_type": "run", "playbook": playbook,
        "project": named_key(PROJECT, "project"), "inventory": named_key(INVENTORY, "inventory"),
        "organization": org_key(), "verbosity": 0, "forks": 0, "limit": "", "become_enabled": False,
        "ask_variables_on_launch": False, "ask_limit_on_launch": True, "allow_simultaneous": False,
        "use_fact_cache": False, "survey_enabled": bool(survey["spec"]),
        "extra_vars": yaml.safe_dump(extra_vars or {}, default_flow_style=False, sort_keys=True) if extra_vars else "---",
        "natural_key": named_key(name, "job_template"),
        "related": {"credentials": [credential_key()], "labels": [], "survey_spec": survey},
    }
    return jt


def workflow(incident, title, diagnose_jt, remediate_jt, verify_jt):
    wf_key = named_key("%s - workflow" % jt_name(title), "workflow_job_template")

    def node_key(identifier):
        return {"workflow_job_template": copy.deepcopy(wf_key), "identifier": identifier, "type": "workflow_job_template_node"}

    def node(identifier, jt, success=(), approval=None):
        entry = {"identifier": identifier, "all_parents_must_converge": False, "extra_data": {},
                 "unified_job_template": named_key(jt, "job_template") if jt else None,
                 "natural_key": node_key(identifier),
                 "related": {"success_nodes": [node_key(s) for s in success], "failure_nodes": [], "always_nodes": [],
                             "credentials": []}}
        if approval:
            entry["related"]["create_approval_template"] = approval
        return entry
    approval = {"name": "Approve remediation: %s" % title, "timeout": APPROVAL_TIMEOUT,
                "description": "Read the diagnosis (job output and its set_stats artifacts) before approving."}
    return {
        "name": wf_key["name"], "organization": org_key(),
        "description": "Diagnose (changes nothing) -> approval -> remediate -> recovery verification (%s)" % incident,
        "survey_enabled": False, "allow_simultaneous": False, "ask_variables_on_launch": True, "extra_vars": "---",
        "natural_key": wf_key,
        "related": {"labels": [], "workflow_nodes": [
            node("diagnose", diagnose_jt, success=["approve"]),
            node("approve", None, success=["remediate"], approval=approval),
            node("remediate", remediate_jt, success=["verify"]),
            node("verify", verify_jt),
        ]},
    }


def build_assets(root, warn=None):
    warn = warn or (lambda msg: None)
    specs = argument_specs(root)
    playbooks = sorted("playbooks/" + f for f in os.listdir(os.path.join(root, "playbooks"))
                       if f.endswith(".yml") and "playbooks/" + f not in NOT_JOB_TEMPLATES)
    job_templates, workflows = [], []
    recovery = RECOVERY_PLAYBOOK if RECOVERY_PLAYBOOK in playbooks else None
    for playbook in playbooks:
        base = os.path.splitext(os.path.basename(playbook))[0]
        title = playbook_title(root, playbook)
        roles = playbook_roles(root, playbook)
        for role, entry in roles:
            if role not in specs:
                raise AssetsError("%s runs role %s, which has no meta/argument_specs.yml" % (playbook, role))
            if entry not in specs[role]:
                raise AssetsError("%s runs role %s with tasks_from %s, which has no entry point in its argument specs"
                                  % (playbook, role, entry))
        name = jt_name(title)
        if base.startswith("incident_"):
            switch = remediate_switch(roles, specs)
            if switch is None:
                warn("%s: no bool *_remediate option in the argument specs of %s; job template only, no workflow"
                     % (playbook, ", ".join(_entry_label(r, e) for r, e in roles) or "its roles"))
                job_templates.append(job_template(name, playbook, "Incident playbook " + playbook,
                                                  survey_spec(name, roles, specs)))
                continue
            survey = survey_spec(name, roles, specs, skip=(switch,))
            diag, rem = "%s - diagnose" % name, "%s - remediate" % name
            job_templates.append(job_template(diag, playbook, "Diagnose phase of %s: changes nothing" % playbook,
                                              survey, {switch: False}))
            job_templates.append(job_template(rem, playbook, "Remediate phase of %s (after approval)" % playbook,
                                              survey, {switch: True}))
            if recovery:
                verify = jt_name(playbook_title(root, recovery))
            else:
                warn("%s not found: the workflows verify recovery by running the diagnose phase again" % RECOVERY_PLAYBOOK)
                verify = diag
            workflows.append(workflow(base[len("incident_"):], title, diag, rem, verify))
        else:
            job_templates.append(job_template(name, playbook, "Playbook %s of sark.ops" % playbook,
                                              survey_spec(name, roles, specs)))
    return {"credential_types": [credential_type()], "job_templates": job_templates,
            "workflow_job_templates": workflows}


class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """Lists indented under their key (yamllint's, and so ansible-lint's, indentation rule)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(assets):
    header = ("# Generated by tools/awx_assets.py from roles/*/meta/argument_specs.yml and playbooks/*.yml: do not edit.\n"
              "# Import: awx import < this-file (awxkit), or playbooks/awx_apply.yml (the controller's REST API).\n"
              "# The project (%s), the inventory (%s) and the credential (%s, of type %s) are referenced by name:\n"
              "# create them first (see README, 'For AWX administrators').\n---\n" % (PROJECT, INVENTORY, CREDENTIAL, CREDENTIAL_TYPE))
    return header + yaml.dump(assets, Dumper=_Dumper, default_flow_style=False, sort_keys=True, width=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--output", default=None, help="default: <root>/%s" % DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the file on disk differs from what would be generated")
    args = parser.parse_args(argv)
    output = args.output or os.path.join(args.root, DEFAULT_OUTPUT)
    try:
        text = dump(build_assets(args.root, warn=lambda msg: print("warning: " + msg, file=sys.stderr)))
    except (AssetsError, OSError, yaml.YAMLError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    if args.check:
        try:
            with open(output, encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        if current != text:
            print("%s is stale: run python tools/awx_assets.py" % output, file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print("wrote %s" % output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
