"""The daily checklist through the platform profile (sark_platform: rsp) in both RSP layouts: real Redis, the RSP
simulator; SARK's own checks (database, sessions, SIEM, audit, /health/detailed) are not run, the platform's service
health is - with a real decision through policy-service in the code's layout."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from harness.servers import RedisServer


def collections_path(collections_dir):
    """This checkout as sark.ops, then the dependency collections (kubernetes.core, amazon.aws, ...) of the test stack."""
    return ":".join(p for p in (str(collections_dir), os.environ.get("SARK_DEPS_COLLECTIONS", "")) if p)


@pytest.fixture(scope="module")
def redis():
    with RedisServer() as server:
        yield server


def run_checklist(collections_dir, tmp_path, extravars):
    (tmp_path / "extra.json").write_text(json.dumps(extravars))
    play = [{"name": "RSP daily check", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "checklist", "ansible.builtin.include_role": {"name": "sark.ops.sark_daily_check"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(collections_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    for name in [k for k in env if k.startswith(("K8S_AUTH_", "SARK_", "REDIS_", "PG"))]:
        del env[name]
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-e", "@%s" % (tmp_path / "extra.json"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    reports = sorted((tmp_path / "reports").glob("daily-*.json"))
    return proc, (json.loads(reports[-1].read_text()) if reports else None)


@pytest.mark.parametrize("layout", ["runbook", "rsp_code"])
def test_rsp_daily_check_through_the_profile(collections_dir, tmp_path, rspsims, redis, layout):
    sim = rspsims[layout]
    sim.fault()
    extravars = {"sark_platform": "rsp", "sark_layout": layout,
                 "sark_rsp_connection": {"rsp_auth_url": sim.auth_url, "rsp_policy_url": sim.policy_url},
                 "sark_redis_connection": {"redis_host": "127.0.0.1", "redis_port": redis.port},
                 "sark_daily_check_report_dir": str(tmp_path / "reports"), "sark_daily_check_fail_on_critical": False}
    if layout == "rsp_code":
        extravars["sark_daily_check_decision_test"] = {"principal": {"type": "User", "id": "alice"}, "action": "read",
                                                       "resource": {"type": "Document", "id": "d1"}, "expect": "Allow"}
        sim.fault(authorize_error=True)
    try:
        proc, report = run_checklist(collections_dir, tmp_path, extravars)
    finally:
        sim.fault()
    assert proc.returncode == 0, proc.stdout[-4000:]
    checks = {c["id"]: c for c in report["checks"]}
    assert list(checks) == ["pods_not_running", "top_resource_users", "error_rate_24h", "recent_rollouts", "redis_memory",
                            "backup_age", "firing_alerts", "platform_health"]
    assert report["title"].startswith("Rust Security Platform daily check")
    assert checks["redis_memory"]["verdict"] == "OK"
    # no Kubernetes, Prometheus or backup directory configured here: UNKNOWN, never a silent pass
    assert checks["pods_not_running"]["verdict"] == checks["error_rate_24h"]["verdict"] == "UNKNOWN"
    health = checks["platform_health"]
    assert health["title"] == "Rust Security Platform service health"
    if layout == "runbook":
        assert health["verdict"] == "OK" and "no decision was tested" in health["reason"]
        assert health["details"]["services"]["policy-service"]["route"] == "/admin/policies"
    else:
        # /health of both services still answers its static ok: only the decision shows policy-service is broken
        assert health["verdict"] == "CRITICAL" and "policy evaluation failed" in health["reason"]
        assert health["details"]["services"]["auth-service"]["status"] == "up"
        assert "checks no dependency" in health["reason"]
