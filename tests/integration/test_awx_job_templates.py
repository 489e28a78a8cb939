"""Every job template of the generated AWX assets (tools/awx_assets.py) run the way AWX runs it: ansible-runner
with process isolation off, the project being this collection's tree, the collection installed from its
tarball, the extra vars AWX sends when the survey is launched with its defaults (plus the template's own
extra vars), and the environment rendered from the "SARK connections" credential type's injectors.
The job must end successful with set_stats artifacts."""

import copy
import os
import sys
import uuid

import awx_assets  # tools/ is on sys.path through pytest.ini (pythonpath)
import pytest
import yaml

from harness.k8s.rsp import rsp_scenario
from harness.k8s.server import KubeAPI
from harness.sarksim import SarkSimulator
from harness.servers import PostgresServer, RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REDIS_PW = "awx-cred-redis-pw"
PG_PW = "awx-cred-pg-pw"
ASSETS = awx_assets.build_assets(ROOT)
TEMPLATES = {jt["name"]: jt for jt in ASSETS["job_templates"]}
# what each template's playbook must publish with set_stats (the keys AWX shows as artifacts)
# What sark_report publishes with set_stats (every checklist and incident report goes through it)
EXPECTED_ARTIFACTS = {"playbooks/daily_check.yml": {"sark_verdict", "sark_findings", "sark_report"}}
# An incident's diagnose template is its remediate template with the remediate switch off. On this healthy stack the
# remediate job runs the whole diagnose phase and then finds no cause to act on, so running the diagnose job as well
# would repeat the same tasks (about 10 CPU-s each on a CI that is CPU-bound). The diagnose jobs are instead proven
# identical to their twins but for the switch (test_diagnose_template_is_its_remediate_twin_with_the_switch_off), and the
# switch-off path runs in every incident Molecule scenario (diagnose first, against the injected fault).
DIAGNOSE_SUFFIX, REMEDIATE_SUFFIX = " - diagnose", " - remediate"
TWINS = {name: name[:-len(DIAGNOSE_SUFFIX)] + REMEDIATE_SUFFIX for name in TEMPLATES
         if name.endswith(DIAGNOSE_SUFFIX) and name[:-len(DIAGNOSE_SUFFIX)] + REMEDIATE_SUFFIX in TEMPLATES}
RUN = sorted(name for name in TEMPLATES if name not in TWINS)


@pytest.fixture(scope="module")
def stack(run_module, tmp_path_factory):
    """What the job templates act on: SARK (simulated, sark_v2), its Redis and PostgreSQL, the Kubernetes API with
    SARK's workloads (and RSP's, for the RSP deployment template), and a directory holding real pg_dump backups of
    both databases (for the DR drill)."""
    backups = str(tmp_path_factory.mktemp("awx-backups"))
    with RedisServer(password=REDIS_PW) as redis, PostgresServer(password=PG_PW, auth="scram-sha-256") as pg:
        with SarkSimulator("sark_v2", pg=pg, redis=redis, seed=True) as sim, KubeAPI(scenario=rsp_scenario("runbook")) as kube:
            made = run_module("sark_pg_backup", dict(sim.pg_args(), databases=[sim.sark_db, sim.audit_db], backup_dir=backups))
            assert not made.failed, made
            # a running SARK records audit events all the time: the newest one is minutes old, not hours
            sim.sql("INSERT INTO audit_events (id, timestamp, event_type, severity, decision, ip_address, details)"
                    " VALUES (%s, now(), 'AUTHORIZATION_ALLOWED', 'LOW', 'allow', '10.0.0.7', '{}')",
                    (str(uuid.uuid4()),), audit=True, fetch=None)
            yield {"redis": redis, "pg": pg, "sim": sim, "kube": kube, "backups": backups}


def credential_inputs(stack):
    """What an administrator types into the 'SARK connections' credential for this stack."""
    return {"sark_api_url": stack["sim"].url, "sark_api_token": stack["sim"].token,
            "redis_host": "127.0.0.1", "redis_port": str(stack["redis"].port), "redis_password": REDIS_PW,
            "pg_host": "127.0.0.1", "pg_port": str(stack["pg"].port), "pg_user": "postgres", "pg_password": PG_PW,
            "pg_sslmode": "disable", "k8s_host": stack["kube"].url, "k8s_api_key": "dummy-token-for-the-test-api",
            "k8s_verify_ssl": False}


def survey_answers(playbook, stack, tmp_path):
    """What an operator types into a survey question that has no usable default (as AWX sends it: text)."""
    return {
        # SARK 2.x (this stack's layout) has no announce endpoint: the operator announces elsewhere (with the default
        # fallback "none" the role stops at step 1 and says so)
        "playbooks/maintenance.yml": {"sark_maintenance_backup_dir": str(tmp_path / "maintenance-backups"),
                                      "sark_maintenance_announce": "false"},
        "playbooks/dr_drill.yml": {"sark_dr_drill_backup_dir": stack["backups"]},
        "playbooks/weekly_check.yml": {"sark_weekly_backup_dir": stack["backups"]},
        # the compromised principal has no default: the operator names the user (SARK 2.x: the email)
        "playbooks/incident_security.yml": {"sark_incident_security_user": "jane.roe@example.com"},
        # the strategy and the new image have no default: a rolling update of RSP's auth-service (the stack's Kubernetes
        # API holds RSP's workloads beside SARK's; no health connection in the survey, so the role says it did not verify)
        # AUDITRON's queue: this stack is SARK's (inventory sark_layout sark_v2), so the operator picks AUDITRON's code
        # layout, where the queue is BullMQ on the credential's Redis (empty here: nothing to remediate)
        "playbooks/incident_queue_backlog.yml": {"sark_incident_layout": "auditron_code"},
        "playbooks/rsp_deploy.yml": {"rsp_deploy_strategy": "rolling", "rsp_deploy_image": "rust-security/auth-service:v1.2.0",
                                     "rsp_deploy_wait_sleep": 1, "rsp_deploy_wait_timeout": 60},
    }.get(playbook, {})


def test_assets_cover_every_playbook():
    playbooks = sorted("playbooks/" + f for f in os.listdir(os.path.join(ROOT, "playbooks")) if f.endswith(".yml"))
    playbooks = [p for p in playbooks if p not in awx_assets.NOT_JOB_TEMPLATES]
    assert sorted({jt["playbook"] for jt in ASSETS["job_templates"]}) == playbooks


def test_diagnose_template_is_its_remediate_twin_with_the_switch_off():
    incidents = [f for f in os.listdir(os.path.join(ROOT, "playbooks")) if f.startswith("incident_") and f.endswith(".yml")]
    assert len(TWINS) == len(incidents)  # one per incident playbook
    for diagnose, remediate in TWINS.items():
        # deep copies: the comparison below pops keys, and TEMPLATES is what the job runs read afterwards
        d, r = copy.deepcopy(TEMPLATES[diagnose]), copy.deepcopy(TEMPLATES[remediate])
        d_vars, r_vars = yaml.safe_load(d.pop("extra_vars")), yaml.safe_load(r.pop("extra_vars"))
        switch = [k for k in d_vars if k.endswith("_remediate")]
        assert len(switch) == 1 and d_vars == {switch[0]: False} and r_vars == {switch[0]: True}, (diagnose, d_vars, r_vars)
        for key in ("name", "description", "natural_key"):
            d.pop(key), r.pop(key)
        d_survey, r_survey = d["related"].pop("survey_spec"), r["related"].pop("survey_spec")
        assert d_survey["spec"] == r_survey["spec"], diagnose
        assert d == r, diagnose


@pytest.mark.parametrize("name", RUN)
def test_job_template_runs_as_awx_runs_it(name, stack, installed_collection, tmp_path):
    import ansible_runner  # pylint: disable=import-outside-toplevel

    jt = TEMPLATES[name]
    extravars = yaml.safe_load(jt["extra_vars"]) or {}
    extravars.update(awx_assets.survey_extra_vars(jt["related"]["survey_spec"]))
    extravars.update(survey_answers(jt["playbook"], stack, tmp_path))
    env = awx_assets.render_injectors(ASSETS["credential_types"][0], credential_inputs(stack))
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(p for p in [installed_collection, os.environ.get("SARK_DEPS_COLLECTIONS", "")] if p),
                "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "ANSIBLE_NOCOLOR": "1"})
    # the AWX inventory: the control host group the playbooks target, the deployment's layout; no secrets
    inventory = {"all": {"children": {"sark_control": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}},
        "vars": {"sark_layout": "sark_v2"}}}
    result = ansible_runner.run(private_data_dir=str(tmp_path), project_dir=ROOT, playbook=jt["playbook"],
                                inventory=inventory, extravars=extravars, envvars=env, quiet=True,
                                settings={"process_isolation": False, "suppress_env_files": True})
    stdout = result.stdout.read()
    assert result.status == "successful", stdout[-4000:]
    stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    artifacts = stats[-1]["event_data"].get("artifact_data") or {}
    assert artifacts, "no set_stats artifacts"
    assert EXPECTED_ARTIFACTS.get(jt["playbook"], set()) <= set(artifacts)
    for secret in (stack["sim"].token, REDIS_PW, PG_PW):
        assert secret not in stdout
