# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every platform profile (roles/sark_platform/vars/<platform>_<layout>.yml) has the keys the roles read, and the SARK
profiles name exactly what the roles hard-coded before profiles (and what the test Kubernetes API seeds)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VARS = os.path.join(ROOT, "roles", "sark_platform", "vars")
LAYOUTS = {"sark": ("runbook", "sark_v2"), "rsp": ("runbook", "rsp_code"), "auditron": ("runbook", "auditron_code")}
REQUIRED = {"platform": str, "layout": str, "title": str, "namespace": str, "workloads": list, "health": list,
            "metrics": dict, "secrets": list, "datastores": dict, "daily_checks": list}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
HEALTH_SHAPES = ("status_code", "sark_health", "sark_detailed", "rsp_auth_static", "rsp_policy_static",
                 "auditron_plain", "auditron_detailed")
DAILY_CHECKS = ("pods_not_running", "top_resource_users", "error_rate_24h", "recent_rollouts", "database_size", "redis_memory",
                "backup_age", "firing_alerts", "health_detailed", "session_count", "siem_queue", "audit_gaps", "platform_health",
                "queue_backlog")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def profile_files():
    return sorted(glob.glob(os.path.join(VARS, "*_*.yml")))


def test_the_shipped_profiles_exist():
    names = [os.path.basename(p)[:-4] for p in profile_files()]
    for name in ("sark_runbook", "sark_sark_v2", "rsp_runbook", "rsp_rsp_code"):
        assert name in names


@pytest.mark.parametrize("path", profile_files(), ids=os.path.basename)
def test_profile_has_the_required_keys(path):
    data = load(path)
    assert list(data) == ["sark_profile"], "a profile file defines sark_profile and nothing else"
    profile = data["sark_profile"]
    for key, kind in REQUIRED.items():
        assert isinstance(profile.get(key), kind), (key, profile.get(key))
    platform, layout = os.path.basename(path)[:-4].split("_", 1)
    assert (profile["platform"], profile["layout"]) == (platform, layout), "file name is <platform>_<layout>.yml"
    assert layout in LAYOUTS[platform]
    assert profile["workloads"] and profile["health"]
    for workload in profile["workloads"]:
        assert set(workload) >= {"kind", "name", "labels", "role"}, workload
        assert workload["kind"] in WORKLOAD_KINDS and workload["name"] and isinstance(workload["labels"], dict)
        assert all(isinstance(v, str) for v in workload["labels"].values())
    assert len({w["name"] for w in profile["workloads"]}) == len(profile["workloads"])
    for endpoint in profile["health"]:
        assert set(endpoint) >= {"name", "url_var", "path", "shape"}, endpoint
        assert endpoint["path"].startswith("/") and endpoint["shape"] in HEALTH_SHAPES, endpoint
    for key in ("request_counter", "duration_histogram", "error_status_label"):
        assert isinstance(profile["metrics"].get(key), str) and profile["metrics"][key], key
    for secret in profile["secrets"]:
        assert secret["kind"] in ("Secret", "ConfigMap") and secret["name"] and isinstance(secret["keys"], list)
    assert isinstance(profile["datastores"].get("postgres"), list)
    assert isinstance(profile["datastores"].get("redis"), dict)
    assert profile["daily_checks"] and set(profile["daily_checks"]) <= set(DAILY_CHECKS), profile["daily_checks"]


def scenario_objects():
    return load(os.path.join(ROOT, "tests", "harness", "k8s", "scenario.yml"))["objects"]


@pytest.mark.parametrize("layout", ["runbook", "sark_v2"])
def test_sark_profiles_name_what_the_roles_hard_coded(layout):
    profile = load(os.path.join(VARS, "sark_%s.yml" % layout))["sark_profile"]
    daily = load(os.path.join(ROOT, "roles", "sark_daily_check", "defaults", "main.yml"))
    incident = load(os.path.join(ROOT, "roles", "sark_incident", "defaults", "main.yml"))
    # the checklist's namespace and databases, the incident's Deployment
    # the checklist reads its namespace from the profile now; before profiles it was production (seed 000's -n production)
    assert daily["sark_daily_check_k8s_namespace"].startswith("{{ sark_daily_check_profile.namespace")
    assert profile["namespace"] == "production"
    # the checklist's database is the profile's first (sark), the audit database the second
    assert "sark_daily_check_profile.datastores" in daily["sark_daily_check_pg_database"]
    assert profile["datastores"]["postgres"] == ["sark", daily["sark_daily_check_audit_database"]]
    api = [w for w in profile["workloads"] if w["role"] == "api"]
    # the incident's Deployment is the profile's api/auth workload, SARK's production/sark without a profile
    assert [(w["kind"], w["name"]) for w in api] == [("Deployment", "sark")]
    assert "selectattr('role', 'in', ['api', 'auth'])" in incident["sark_incident_api_name"]
    assert "default('sark', true)" in incident["sark_incident_api_name"]
    assert profile["namespace"] == "production" and "default('production')" in incident["sark_incident_api_namespace"]
    # all twelve checks of the checklist, in its order
    assert profile["daily_checks"][:12] == list(DAILY_CHECKS[:12])
    # every workload exists in the test cluster, in the namespace, with the labels its pods carry
    seeded = {(o["kind"], o["metadata"]["name"]): o for o in scenario_objects()
              if o["metadata"].get("namespace") == profile["namespace"]}
    for workload in profile["workloads"]:
        obj = seeded[(workload["kind"], workload["name"])]
        assert obj["spec"]["template"]["metadata"]["labels"].items() >= workload["labels"].items()
    secrets = {o["metadata"]["name"]: o for o in scenario_objects()
               if o["kind"] == "Secret" and o["metadata"].get("namespace") == profile["namespace"]}
    for secret in profile["secrets"]:
        assert set(secret["keys"]) <= set(secrets[secret["name"]]["stringData"])


def test_sark_health_paths_are_the_layout_contract():
    from ansible_collections.sark.ops.plugins.module_utils._layout import default_template
    for layout in ("runbook", "sark_v2"):
        profile = load(os.path.join(VARS, "sark_%s.yml" % layout))["sark_profile"]
        paths = {h["name"]: h["path"] for h in profile["health"]}
        assert paths["sark"] == default_template(layout, "health_route")
        assert paths["sark_detailed"] == default_template(layout, "health_detailed_route")


def test_rsp_profiles_follow_the_platforms_contract():
    runbook = load(os.path.join(VARS, "rsp_runbook.yml"))["sark_profile"]
    code = load(os.path.join(VARS, "rsp_rsp_code.yml"))["sark_profile"]
    assert runbook["namespace"] == code["namespace"] == "rust-security"
    assert {w["name"] for w in runbook["workloads"]} == {"auth-service", "policy-service", "redis-master"}
    assert {(w["kind"], w["name"]) for w in code["workloads"]} == {
        ("Deployment", "auth-service"), ("Deployment", "policy-service"), ("Deployment", "redis")}
    assert runbook["policy_api"]["port"] == 8080 and code["policy_api"]["port"] == 8081
    assert code["policy_api"]["policies_path"] is None and code["policy_api"]["authorize_path"] == "/v1/authorize"
    assert runbook["metrics"]["request_counter"] == "http_requests_total"
    assert code["metrics"]["request_counter"] == "auth_http_requests_total"
    assert code["metrics"]["duration_histogram"] == "auth_http_request_duration_seconds"
    assert [s["name"] for s in code["secrets"]] == ["auth-secrets"] and "auth-service-config" in code["config_maps"]
    assert runbook["deploy"]["virtual_service"] == "auth-service"
    assert code["deploy"]["virtual_service"] == "auth-service-routing"
    assert (runbook["network_policy"], code["network_policy"]) == ("default-deny", "default-deny-all")
    assert (runbook["policies"]["reload"], code["policies"]["reload"]) == ("configmap", "image")
    assert code["datastores"]["redis"]["appendonly"] is True
