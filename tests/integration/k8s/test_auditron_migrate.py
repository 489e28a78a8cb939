"""sark.ops.sark_auditron tasks_from=migrate: `prisma migrate deploy` as a Kubernetes Job from the API image, against
the test Kubernetes API with AUDITRON's workloads (the image runs the migration when its command is migrate deploy)."""

import os

import pytest

from harness.k8s.auditron import auditron_scenario
from harness.k8s.server import KubeAPI


@pytest.fixture(scope="module")
def kube_api():
    with KubeAPI(scenario=auditron_scenario("auditron_code")) as api:
        yield api


def migrate(artifacts, **extra):
    variables = dict(sark_auditron_artifact_dir=str(artifacts), sark_auditron_migrate_poll_interval=0.5,
                     sark_auditron_migrate_timeout=30, **extra)
    return '''
- name: migrate
  ansible.builtin.include_role: {name: sark.ops.sark_auditron, tasks_from: migrate}
  vars: %s
- name: result
  ansible.builtin.debug: {var: sark_auditron_migration}
''' % variables


def jobs(kube_api):
    return sorted(j["metadata"]["name"] for j in kube_api.emu.items("batch", "jobs", "auditron"))


def test_migrate_deploy_runs_as_a_job_and_keeps_its_logs(k8s_play, kube_api, tmp_path):
    check = k8s_play(migrate(tmp_path), cmdline="--check")
    assert check["result"]["sark_auditron_migration"]["check_mode"] is True and jobs(kube_api) == []
    play = k8s_play(migrate(tmp_path))
    result = play["result"]["sark_auditron_migration"]
    assert result["succeeded"] is True and result["image"] == "ghcr.io/tanny28/auditron-backend:1.4.0"
    assert result["command"] == ["npx", "prisma", "migrate", "deploy"] and jobs(kube_api) == [result["job"]]
    job = kube_api.emu.get("batch", "jobs", "auditron", result["job"])
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "auditron-secrets", "key": "database-url"}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never" and job["status"]["succeeded"] == 1
    with open(result["log_file"], encoding="utf-8") as handle:
        assert "All migrations have been successfully applied." in handle.read()
    assert os.path.dirname(result["log_file"]) == str(tmp_path)


def test_a_failed_migration_fails_with_its_log_and_dev_is_refused(k8s_play, tmp_path):
    broken = k8s_play(migrate(tmp_path, sark_auditron_migrate_image="ghcr.io/tanny28/auditron-backend:1.5.0-broken-migration"),
                      expect_ok=False)
    assert broken.status == "failed"
    msg = broken.failed["The migration succeeded"]["msg"]
    assert "failed" in msg and "P3009" in msg
    dev = k8s_play(migrate(tmp_path, sark_auditron_migrate_command=["npx", "prisma", "migrate", "dev"]), expect_ok=False)
    assert "only `prisma migrate deploy`" in dev.failed["Refuse a development or destructive migration command"]["msg"]
