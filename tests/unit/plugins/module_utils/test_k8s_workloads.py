import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import diagnose_workload, mask_env, parse_quantity, pod_summary

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
LIMITS = {"max_pods": 2, "max_events": 1, "max_revisions": 10, "restart_threshold": 5, "memory_limit_percent": 90}


@pytest.mark.parametrize("text, value", [("250m", 0.25), ("2Gi", 2 * 1024 ** 3), ("1200Mi", 1200 * 1024 ** 2), ("4", 4.0),
                                         ("15n", 15e-9), ("1k", 1000.0), (None, None), ("lots", None)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == (pytest.approx(value) if value is not None else None)


def test_mask_env_masks_secret_names_url_passwords_and_names_references():
    env = mask_env([{"name": "API_TOKEN", "value": "t"}, {"name": "DB_PASSWORD", "value": "p"},
                    {"name": "DATABASE_URL", "value": "postgresql://sark:hunter2@db:5432/sark"},
                    {"name": "LOG_LEVEL", "value": "INFO"},
                    {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "sark-secrets", "key": "secret-key"}}}])
    assert env == [{"name": "API_TOKEN", "value": "********"}, {"name": "DB_PASSWORD", "value": "********"},
                   {"name": "DATABASE_URL", "value": "postgresql://sark:********@db:5432/sark"},
                   {"name": "LOG_LEVEL", "value": "INFO"}, {"name": "SECRET_KEY", "from": "secret sark-secrets/secret-key"}]
    assert "hunter2" not in str(env)


def _pod(name, ready, waiting=None, last=None, restarts=0, scheduled=True, message=None):
    status = {"phase": "Running" if scheduled else "Pending",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                             {"type": "PodScheduled", "status": "True" if scheduled else "False",
                              "reason": None if scheduled else "Unschedulable", "message": message}],
              "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts,
                                     "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}},
                                     "lastState": {"terminated": last} if last else {}}] if scheduled else []}
    return {"metadata": {"name": name, "creationTimestamp": "2026-12-01T11:00:00Z", "labels": {"pod-template-hash": "h"}},
            "spec": {"containers": [{"name": "c", "image": "img:1", "resources": {"limits": {"memory": "100Mi"}}}]},
            "status": status}


def test_oomkilled_is_named_even_while_crash_looping():
    pod = pod_summary(_pod("p", False, "CrashLoopBackOff", {"reason": "OOMKilled", "exitCode": 137}, 7), None, NOW)
    assert pod["reason"] == "OOMKilled" and pod["restarts"] == 7 and pod["last_termination"]["exit_code"] == 137
    assert pod["age_seconds"] == 3600


def test_pending_pod_reports_the_scheduler_message():
    pod = pod_summary(_pod("p", False, scheduled=False, message="0/3 nodes are available: 3 Insufficient cpu."), None, NOW)
    assert pod["reason"] == "Unschedulable" and pod["message"] == "0/3 nodes are available: 3 Insufficient cpu."


def _deployment(desired, ready, updated, progressing="NewReplicaSetAvailable"):
    return {"kind": "Deployment", "metadata": {"name": "sark", "namespace": "production", "uid": "u1", "generation": 2,
                                               "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": desired, "template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}},
            "status": {"replicas": desired, "readyReplicas": ready, "updatedReplicas": updated, "availableReplicas": ready,
                       "observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "True", "reason": progressing}]}}


def test_healthy_deployment_is_ok():
    result = diagnose_workload(_deployment(2, 2, 2), [_pod("a", True), _pod("b", True)], [], {}, [], LIMITS, NOW)
    assert result["verdict"] == "OK" and result["reasons"] == []


def test_no_ready_replica_is_critical_and_caps_apply():
    pods = [_pod("a", False, "ImagePullBackOff"), _pod("b", False, "ImagePullBackOff"), _pod("c", False, "ImagePullBackOff")]
    events = [{"type": "Warning", "reason": "Failed", "message": "x", "involvedObject": {"kind": "Pod", "name": "a"}, "lastTimestamp": "1"},
              {"type": "Warning", "reason": "BackOff", "message": "y", "involvedObject": {"kind": "Pod", "name": "b"}, "lastTimestamp": "2"},
              {"type": "Normal", "reason": "Pulled", "message": "z", "involvedObject": {"kind": "Pod", "name": "c"}}]
    result = diagnose_workload(_deployment(3, 0, 3), pods, [], {}, events, LIMITS, NOW)
    assert result["verdict"] == "CRITICAL" and result["reasons"][0] == "no replica is ready (0/3)"
    assert "ImagePullBackOff: 3 pod(s) (a, b, c)" in result["reasons"]
    assert len(result["pods"]) == 2 and result["pods_total"] == 3 and result["pods_truncated"] is True
    assert [e["reason"] for e in result["warning_events"]] == ["BackOff"] and result["warning_events_total"] == 2


def test_stuck_rollout_is_critical_with_the_reason():
    result = diagnose_workload(_deployment(2, 2, 1, "ProgressDeadlineExceeded"), [_pod("a", True), _pod("b", True)], [], {}, [], LIMITS, NOW)
    assert result["verdict"] == "CRITICAL" and any(r.startswith("rollout stuck") for r in result["reasons"])


def test_memory_near_the_limit_warns():
    metrics = {"a": {"containers": [{"name": "c", "usage": {"cpu": "10m", "memory": "95Mi"}}]}}
    result = diagnose_workload(_deployment(1, 1, 1), [_pod("a", True)], [], metrics, [], LIMITS, NOW)
    assert result["pods"][0]["containers"][0]["memory_limit_percent"] == 95.0
    assert result["verdict"] == "WARNING" and result["reasons"] == ["memory>=90% of limit: 1 pod(s) (a)"]


def test_mask_resources_masks_env_secrets_and_last_applied_but_keeps_the_rest():
    from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import mask_resources
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": '{"env": "pw"}', "team": "sre"}
    env = [
        {"name": "DATABASE_URL", "value": "postgresql://sark:seeded-db-password@postgres:5432/sark"},
        {"name": "JWT_SECRET", "value": "s3cr3t"},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "sark-secrets", "key": "secret-key"}}},
    ]
    pod = {
        "metadata": {"name": "sark-1", "annotations": annotations},
        "spec": {
            "containers": [{"name": "api", "image": "sark:2", "env": env}],
            "initContainers": [{"name": "init", "env": [{"name": "API_TOKEN", "value": "tok"}]}],
        },
    }
    deployment = {"metadata": {"name": "sark"}, "spec": {"template": {"spec": {"containers": [
        {"name": "api", "env": [{"name": "REDIS_PASSWORD", "value": "redispw"}]}]}}}}
    masked = mask_resources([pod, deployment])
    text = repr(masked)
    for secret in ("seeded-db-password", "s3cr3t", "tok'", "redispw", '"env": "pw"'):
        assert secret not in text, secret
    env = {item["name"]: item for item in masked[0]["spec"]["containers"][0]["env"]}
    assert env["LOG_LEVEL"]["value"] == "info"
    assert env["DATABASE_URL"]["value"].startswith("postgresql://sark:") and "@postgres:5432/sark" in env["DATABASE_URL"]["value"]
    assert env["SECRET_KEY"] == {"name": "SECRET_KEY", "from": "secret sark-secrets/secret-key"}
    assert masked[0]["metadata"]["annotations"]["team"] == "sre"
    assert masked[0]["spec"]["containers"][0]["image"] == "sark:2"
    # the input is not changed
    assert pod["spec"]["containers"][0]["env"][1]["value"] == "s3cr3t"
