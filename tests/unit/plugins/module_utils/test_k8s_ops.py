"""The judgements of the sark_k8s entry points (plugins/module_utils/_k8s_ops.py)."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _k8s_ops as ops


@pytest.mark.parametrize("line, secret", [
    ('{"msg":"connecting to postgresql://sark:s3cret-pw@postgres:5432/sark"}', "s3cret-pw"),
    ('{"authorization":"Bearer abc.def-token"}', "abc.def-token"),
    ("password=hunter2 user=sark", "hunter2"),
    ('"token": "tkn-123"', "tkn-123"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl rejected", "eyJzdWIiOiJ1LTEifQ"),
])
def test_mask_line_masks_every_secret_shape(line, secret):
    masked = ops.mask_line(line)
    assert secret not in masked and ops.MASK in masked


def test_mask_line_keeps_plain_text():
    line = "FATAL: password authentication failed for user sark"
    assert ops.mask_line(line) == line


def test_log_matches_counts_bounds_and_reports_unreadable_pods():
    reads = [{"pod": "a", "lines": ["ok", "ERROR one", "error two password=x", "ERROR three"]},
             {"item": "b", "failed": True, "msg": 'previous terminated container "b" in pod "b" not found'},
             {"item": {"pod": "c", "previous": False}, "log_lines": ["fine", ""]},
             {"item": {"pod": "c", "previous": True}, "failed": False, "msg": "container not found"}]
    out = ops.log_matches(reads, "error", max_lines=2)
    assert (out["lines"], out["matched"], out["errors"]) == (5, 3, 2)
    a, b, c, d = out["pods"]
    assert d["previous"] and d["error"] == "container not found" and not c["previous"]
    assert a["matched"] == 3 and a["matches"] == ["error two password=" + ops.MASK, "ERROR three"]
    assert b["error"].startswith("previous terminated container") and b["lines"] == 0
    assert c["lines"] == 1 and c["matched"] == 0
    assert out["first_match"] == "error two password=" + ops.MASK
    assert ops.log_matches(reads, "error", ignore_case=False)["matched"] == 1


@pytest.mark.parametrize("args, message", [
    (("not a list",), "must be a list"),
    (([{"lines": []}],), "pod name"),
    (([], "("), "not a regular expression"),
    (([], "", True, 0), "max_lines"),
])
def test_log_matches_bad_input(args, message):
    with pytest.raises(ops.K8sOpsError, match=message):
        ops.log_matches(*args)


def claim(storage="50Gi", class_name="standard"):
    spec = {"resources": {"requests": {"storage": storage}}}
    if class_name:
        spec["storageClassName"] = class_name
    return {"metadata": {"name": "data"}, "spec": spec, "status": {"capacity": {"storage": storage}}}


def sclass(name="standard", expand=True, default=False):
    meta = {"name": name}
    if default:
        meta["annotations"] = {ops.DEFAULT_CLASS_ANNOTATION: "true"}
    return {"metadata": meta, "allowVolumeExpansion": expand}


def test_pvc_plan_grows_where_the_class_allows_it():
    plan = ops.pvc_expand_plan(claim(), "100Gi", sclass())
    assert plan["changed"] and plan["allowed"] and "50Gi -> 100Gi" in plan["reason"]


def test_pvc_plan_refuses_a_shrink_and_a_class_without_expansion():
    shrink = ops.pvc_expand_plan(claim(), "10Gi", sclass())
    assert not shrink["allowed"] and not shrink["changed"] and "cannot shrink" in shrink["reason"]
    fixed = ops.pvc_expand_plan(claim(class_name="fixed"), "100Gi", sclass("fixed", expand=False))
    assert not fixed["allowed"] and "StorageClass fixed does not allow volume expansion" in fixed["reason"]
    missing = ops.pvc_expand_plan(claim(), "100Gi", None)
    assert not missing["allowed"] and "not found" in missing["reason"]


def test_pvc_plan_same_size_is_unchanged_and_the_default_class_is_found_in_a_list():
    assert ops.pvc_expand_plan(claim(), "50Gi", sclass())["changed"] is False
    plan = ops.pvc_expand_plan(claim(class_name=None), "60Gi", [sclass("other", False), sclass("std", default=True)])
    assert plan["allowed"] and plan["storage_class"] == "std"
    plan = ops.pvc_expand_plan(claim(class_name="other"), "60Gi", [sclass("other", False), sclass("std", default=True)])
    assert not plan["allowed"] and plan["storage_class"] == "other"


def test_pvc_plan_bad_input():
    with pytest.raises(ops.K8sOpsError, match="not a Kubernetes quantity"):
        ops.pvc_expand_plan(claim(), "lots")
    with pytest.raises(ops.K8sOpsError, match="not found"):
        ops.pvc_expand_plan(None, "1Gi")


def hpa(max_replicas=10, target=70):
    return {"spec": {"minReplicas": 3, "maxReplicas": max_replicas, "metrics": [
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]}}


def test_hpa_plan_patches_only_what_changes_and_keeps_other_metrics():
    plan = ops.hpa_plan(hpa(), max_replicas=20, cpu_target=60)
    assert plan["changed"] and plan["before"] == {"min_replicas": 3, "max_replicas": 10, "cpu_target": 70}
    assert plan["after"] == {"min_replicas": 3, "max_replicas": 20, "cpu_target": 60}
    assert plan["patch"]["spec"]["maxReplicas"] == 20 and "minReplicas" not in plan["patch"]["spec"]
    assert [m["resource"]["name"] for m in plan["patch"]["spec"]["metrics"]] == ["memory", "cpu"]
    assert plan["patch"]["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"] == 60
    same = ops.hpa_plan(hpa(20, 60), max_replicas=20, cpu_target=60)
    assert not same["changed"] and same["patch"] == {"spec": {}} and same["reason"] == "already as wanted"


@pytest.mark.parametrize("kwargs, message", [
    ({}, "nothing to change"),
    ({"max_replicas": 2}, "at least minReplicas 3"),
    ({"cpu_target": 150}, "1-100"),
])
def test_hpa_plan_bad_input(kwargs, message):
    with pytest.raises(ops.K8sOpsError, match=message):
        ops.hpa_plan(hpa(), **kwargs)


def sts(limits=None, requests=None, containers=("postgres",)):
    return {"spec": {"template": {"spec": {"containers": [
        {"name": n, "resources": {"limits": dict(limits or {"memory": "4Gi", "cpu": "2"}),
                                  "requests": dict(requests or {"memory": "2Gi"})}} for n in containers]}}}}


def test_resources_plan_patches_one_container_with_before_and_after():
    plan = ops.resources_plan(sts(), None, limits={"memory": "8Gi"})
    assert plan["changed"] and plan["container"] == "postgres"
    assert plan["before"]["limits"] == {"memory": "4Gi", "cpu": "2"} and plan["after"]["limits"] == {"memory": "8Gi", "cpu": "2"}
    assert plan["patch"] == {"spec": {"template": {"spec": {"containers": [{"name": "postgres", "resources": {"limits": {"memory": "8Gi"}}}]}}}}
    assert ops.resources_plan(sts(), "postgres", limits={"memory": "4096Mi"})["changed"] is False   # the same quantity


@pytest.mark.parametrize("args, kwargs, message", [
    ((sts(containers=("a", "b")), None), {"limits": {"memory": "1Gi"}}, "container None not in the pod template"),
    ((sts(), "postgres"), {}, "give limits or requests"),
    ((sts(), "postgres"), {"limits": {"disk": "1Gi"}}, "'disk' is not one of"),
    ((sts(), "postgres"), {"limits": {"memory": "big"}}, "not a Kubernetes quantity"),
    ((sts(), "postgres"), {"limits": {"memory": "1Gi"}}, "request 2Gi would be above its limit 1Gi"),
])
def test_resources_plan_bad_input(args, kwargs, message):
    with pytest.raises(ops.K8sOpsError, match=message):
        ops.resources_plan(*args, **kwargs)


def pod(name, revision, ready):
    return {"metadata": {"name": name, "labels": {"controller-revision-hash": revision}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_unready_pods_of_the_old_revision():
    pods = [pod("pg-1", "old", False), pod("pg-0", "old", False), pod("pg-2", "old", True), pod("pg-3", "new", False),
            {"metadata": {"name": "pg-4", "labels": {"controller-revision-hash": "old"}}, "status": {}}]
    assert ops.unready_pods(pods, "old") == ["pg-0", "pg-1", "pg-4"]
    assert ops.unready_pods(pods, "") == ["pg-0", "pg-1", "pg-3", "pg-4"]
