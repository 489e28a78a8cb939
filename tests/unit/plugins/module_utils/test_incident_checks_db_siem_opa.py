"""Unit tests of the remediations issue #13 added last: SIEM batch-size tuning (002 playbook 5 cause 4) and scaling OPA
(001 incident 1 recovery 1); the database's restore and max_connections causes are in test_incident_checks.py."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import compare, opa_policies, siem, siem_batch

GOOD = {"mcp_allow": "a" * 64}
EXPECTED = [{"id": "mcp_allow", "sha256": "a" * 64, "src": "/p/mcp_allow.rego"}]
TESTS = [{"name": "admin writes", "input": {}, "expect_allow": True}]


def deployment(env=None, env_from=True):
    container = {"name": "sark", "env": env or []}
    if env_from:
        container["envFrom"] = [{"configMapRef": {"name": "sark-config"}}]
    return {"metadata": {"name": "sark"}, "spec": {"template": {"spec": {"containers": [container]}}}}


def configmap(**data):
    return {"metadata": {"name": "sark-config"}, "data": data}


def closed():
    return {"in_redis": True, "breakers": [{"name": "splunk", "state": "closed", "failures": 0}]}


def empty():
    return {"in_redis": True, "queue": {"length": 0}, "failed_events": {"length": 0}}


RATE_LIMITED = {"verdict": "rate_limited", "status": 429, "code": None, "text": "Too Many Requests"}


def test_siem_batch_absent_settings_go_to_the_configmap_the_pods_read_with_the_seed_defaults():
    batch = siem_batch(deployment(), [configmap(SIEM_FORWARDER="splunk")])
    assert batch["below_target"] is True
    size, timeout = batch["settings"]
    assert size["name"] == "SIEM_BATCH_SIZE" and size["where"] == "configmap" and size["configmap"] == "sark-config"
    assert size["set"] is False and size["current"] == 100 and size["target"] == 200
    assert timeout["current"] == 5 and timeout["target"] == 10


def test_siem_batch_literal_env_and_targets_reached():
    dep = deployment(env=[{"name": "SIEM_BATCH_SIZE", "value": "250"}], env_from=False)
    batch = siem_batch(dep, [])
    size, timeout = batch["settings"]
    assert size["where"] == "env" and size["container"] == "sark" and size["below"] is False
    assert timeout["where"] == "env" and timeout["set"] is False and timeout["below"] is True
    done = siem_batch(deployment(), [configmap(SIEM_BATCH_SIZE="200", SIEM_BATCH_TIMEOUT_SECONDS="10")])
    assert done["below_target"] is False
    assert siem_batch(None, []) is None


def test_siem_rate_limited_with_small_batches_is_fixed_by_tuning_them():
    check = siem(closed(), empty(), hec=RATE_LIMITED, batch=siem_batch(deployment(), [configmap()]))
    assert check["verdict"] == "CRITICAL"
    assert check["details"]["causes"] == ["rate_limited", "batch_too_small"]
    assert check["details"]["fix"] == "tune_batch_size"
    assert "SIEM_BATCH_SIZE 100 -> 200" in check["reason"]


def test_siem_breaker_reset_comes_before_tuning_in_the_seed_order():
    open_breaker = {"in_redis": True, "breakers": [{"name": "splunk", "state": "open", "failures": 7}]}
    check = siem(open_breaker, empty(), hec=RATE_LIMITED, batch=siem_batch(deployment(), [configmap()]))
    assert check["details"]["fix"] == "reset_breaker" and "batch_too_small" in check["details"]["causes"]


def test_siem_tuned_batches_improve_the_check_even_while_the_siem_still_rate_limits():
    before = siem(closed(), empty(), hec=RATE_LIMITED, batch=siem_batch(deployment(), [configmap()]))
    tuned = siem_batch(deployment(), [configmap(SIEM_BATCH_SIZE="200", SIEM_BATCH_TIMEOUT_SECONDS="10")])
    still = siem(closed(), empty(), hec=RATE_LIMITED, batch=tuned)
    assert still["verdict"] == "WARNING" and "batch_too_small" not in still["details"]["causes"]
    assert still["details"]["fix"] is None and "higher quota" in still["reason"]
    assert compare(before, still)["improved"] is True
    recovered = siem(closed(), empty(), hec={"verdict": "ok", "status": 400, "code": 5}, batch=tuned)
    assert recovered["verdict"] == "OK"


def test_siem_rate_limited_without_a_deployment_names_the_cause_only():
    check = siem(closed(), empty(), hec=RATE_LIMITED)
    assert check["details"]["causes"] == ["rate_limited"] and check["details"]["fix"] is None


def opa_workload(ready, desired):
    return {"workloads": [{"name": "opa", "verdict": "CRITICAL" if ready < desired else "OK",
                           "replicas": {"ready": ready, "desired": desired}}]}


def test_opa_scaled_to_zero_is_scaled_to_the_seed_replicas_first():
    check = opa_policies({"failed": True, "msg": "connection refused"}, EXPECTED, TESTS, [{}],
                         workload=opa_workload(0, 0), scale_to=5)
    assert check["details"]["causes"] == ["opa_pods_down", "opa_under_scaled"]
    assert check["details"]["fix"] == "scale_opa" and check["details"]["scale_to"] == 5
    assert "scale deploy/opa to 5" in check["reason"]


@pytest.mark.parametrize("ready, desired, scale_to, fix", [
    (1, 2, 5, "scale_opa"),          # pods down and fewer asked for than the seed: scale
    (3, 5, 5, None),                 # already asks for 5: scaling does not help, read the logs
    (1, 2, None, None),              # no scale_to: no scaling step
    (2, 2, 5, None),                 # all ready: nothing to scale
])
def test_opa_scale_only_when_it_asks_for_fewer_replicas(ready, desired, scale_to, fix):
    check = opa_policies({"policies": [{"id": "mcp_allow", "sha256": "a" * 64}]}, EXPECTED, TESTS,
                         [{"sark_decision": {"allow": True, "shape": "object"}}], workload=opa_workload(ready, desired),
                         scale_to=scale_to)
    assert check["details"]["fix"] == fix
    assert ("opa_under_scaled" in check["details"]["causes"]) == (fix == "scale_opa")


def test_opa_scale_comes_before_a_policy_rollback_and_improves():
    changed = {"policies": [{"id": "mcp_allow", "sha256": "c" * 64}]}
    deny = [{"sark_decision": {"allow": False, "shape": "boolean"}}]
    check = opa_policies(changed, EXPECTED, TESTS, deny, workload=opa_workload(0, 1), scale_to=5)
    assert check["details"]["fix"] == "scale_opa" and "policy_changed" in check["details"]["causes"]
    after = opa_policies(changed, EXPECTED, TESTS, deny, workload=opa_workload(5, 5), scale_to=5)
    assert after["details"]["fix"] == "rollback_policy" and "opa_under_scaled" not in after["details"]["causes"]
    good = opa_policies({"policies": [{"id": "mcp_allow", "sha256": "a" * 64}]}, EXPECTED, TESTS,
                        [{"sark_decision": {"allow": True, "shape": "object"}}], workload=opa_workload(0, 0), scale_to=5)
    scaled = opa_policies({"policies": [{"id": "mcp_allow", "sha256": "a" * 64}]}, EXPECTED, TESTS,
                          [{"sark_decision": {"allow": True, "shape": "object"}}], workload=opa_workload(5, 5), scale_to=5)
    assert good["verdict"] == "CRITICAL" and scaled["verdict"] == "OK" and compare(good, scaled)["improved"]
