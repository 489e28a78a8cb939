"""The sark.ops.sark_k8s role's logs, pod_restart, resources, hpa and pvc_expand entry points against the test
Kubernetes API: one check-mode run (the plans, nothing changes) and one real run (the changes, a second run of each
that changes nothing, the refusals), every outcome read back from the API's storage."""

from test_role_sark_k8s import FAST, role

NS = "production"
PVC = "postgres-data-postgres-0"


def stored(kube_api, group, plural, name, namespace=NS):
    return kube_api.emu.get(group, plural, namespace, name)


def fact(r, title, n):
    return r[title + " (result)"]["ansible_facts"]["result_%d" % n]


RESOURCES = "{sark_k8s_namespace: production, sark_k8s_kind: StatefulSet, sark_k8s_name: postgres, sark_k8s_limits: {memory: %s}, %s}"
HPA = "{sark_k8s_namespace: production, sark_k8s_name: sark-hpa, sark_k8s_max_replicas: %d, sark_k8s_cpu_target: 60}"
PVC_VARS = "{sark_k8s_namespace: production, sark_k8s_pvc: %s, sark_k8s_size: %s, %s}"


def refusal(title, entry, variables):
    """The entry point run until it refuses (its failure rescued, the message kept as the fact `refused`)."""
    return """
- name: {title}
  block:
    - name: {title} (run)
      ansible.builtin.include_role: {{name: sark.ops.sark_k8s, tasks_from: {entry}}}
      vars: {vars}
  rescue:
    - name: "refused: {title}"
      ansible.builtin.set_fact:
        refused: "{{{{ ansible_failed_result.msg }}}}"
""".format(title=title, entry=entry, vars=variables)


def test_check_mode_plans_and_changes_nothing(k8s_play, kube_api):
    sts_before = stored(kube_api, "apps", "statefulsets", "postgres")
    r = k8s_play(role("resources", "resources", RESOURCES % ("6Gi", FAST), 1)
                 + role("hpa", "hpa", HPA % 20, 2)
                 + role("pvc", "pvc_expand", PVC_VARS % (PVC, "80Gi", FAST), 3), cmdline="--check")
    res, hpa, pvc = fact(r, "resources", 1), fact(r, "hpa", 2), fact(r, "pvc", 3)
    assert res["changed"] is True and res["before"]["limits"]["memory"] == "4Gi" and res["after"]["limits"]["memory"] == "6Gi"
    assert hpa["changed"] is True and hpa["before"]["max_replicas"] == 10 and hpa["after"]["max_replicas"] == 20
    assert pvc["changed"] is True and pvc["before"] == "50Gi" and pvc["storage_class"] == "standard"
    sts = stored(kube_api, "apps", "statefulsets", "postgres")
    assert sts["spec"] == sts_before["spec"]
    assert stored(kube_api, "autoscaling", "horizontalpodautoscalers", "sark-hpa")["spec"]["maxReplicas"] == 10
    assert stored(kube_api, "", "persistentvolumeclaims", PVC)["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_logs_restart_resources_hpa_and_pvc(k8s_play, kube_api):  # pylint: disable=too-many-locals,too-many-statements
    logs = "{sark_k8s_namespace: production, sark_k8s_pods: [postgres-0, debug], sark_k8s_tail_lines: 3, " \
           "sark_k8s_pattern: 'too many clients|error|postgresql://|bearer'}"
    logs_prev = "{sark_k8s_namespace: production, sark_k8s_label_selectors: [app=redis], sark_k8s_previous: true}"
    redis_uid = stored(kube_api, "", "pods", "redis-0")["metadata"]["uid"]
    r = k8s_play('''
- name: a pod with debug logging (its log holds a password and a token), and a pod no controller owns
  kubernetes.core.k8s:
    definition:
      {apiVersion: v1, kind: Pod, metadata: {name: debug, namespace: production},
       spec: {containers: [{name: debug, image: "ghcr.io/sark/sark-debug:1.0"}]}}
    wait: true
    wait_timeout: 30
    wait_sleep: 1
- name: a StorageClass that cannot grow volumes and a claim of it
  kubernetes.core.k8s:
    definition:
      - {apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: fixed}, provisioner: kubernetes.io/no-provisioner,
         allowVolumeExpansion: false}
      - {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: fixed-claim, namespace: production},
         spec: {storageClassName: fixed, accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}}
- name: the fault - postgres' memory limit below what it uses
  kubernetes.core.k8s:
    kind: StatefulSet
    name: postgres
    namespace: production
    state: patched
    definition: {spec: {template: {spec: {containers: [{name: postgres, resources: {limits: {memory: 1Gi}}}]}}}}
- name: wait until the new postgres-0 is OOMKilled
  kubernetes.core.k8s_info: {kind: Pod, name: postgres-0, namespace: production}
  register: oom
  until: >-
    oom.resources | length == 1 and (oom.resources[0].status.containerStatuses | default([]) | map(attribute='lastState')
    | map(attribute='terminated', default={}) | map(attribute='reason', default='') | list) == ['OOMKilled']
  retries: 60
  delay: 1
''' + role("logs", "logs", logs, 1) + role("previous logs", "logs", logs_prev, 2)
        + role("restart redis", "pod_restart", "{sark_k8s_namespace: production, sark_k8s_pod: redis-0, %s}" % FAST, 5)
        + role("resources", "resources", RESOURCES % ("6Gi", FAST), 6)
        + role("resources again", "resources", RESOURCES % ("6Gi", FAST), 7)
        + role("hpa", "hpa", HPA % 20, 8) + role("hpa again", "hpa", HPA % 20, 9)
        + role("pvc", "pvc_expand", PVC_VARS % (PVC, "100Gi", FAST), 10)
        + role("pvc again", "pvc_expand", PVC_VARS % (PVC, "100Gi", FAST), 11)
        + refusal("bare pod", "pod_restart", "{sark_k8s_namespace: production, sark_k8s_pod: debug, %s}" % FAST)
        + refusal("shrink", "pvc_expand", PVC_VARS % (PVC, "10Gi", FAST))
        + refusal("fixed class", "pvc_expand", PVC_VARS % ("fixed-claim", "10Gi", FAST))
        + refusal("max below min", "hpa", HPA % 2))

    logs = fact(r, "logs", 1)   # tail 3 of postgres-0's 4 lines and of debug's 3
    assert logs["pods_read"] == 2 and logs["lines"] == 6 and logs["matched"] == 5 and logs["errors"] == 0
    pg, debug = logs["pods"]
    assert [m.split("]", 1)[1].strip()[:25] for m in pg["matches"]] == ["WARNING:  could not estab", "ERROR:  canceling stateme"]
    assert logs["first_match"].endswith("too many clients already")
    text = " ".join(debug["matches"])
    assert debug["matched"] == 3 and "debug-api-token" not in text and "debug-db-password" not in text and "********" in text
    assert "debug-api-token" not in r.stdout and "debug-db-password" not in r.stdout
    previous = fact(r, "previous logs", 2)   # redis-0 never restarted: the API's answer, not a silent empty list
    assert previous["pods_found"] == 1 and previous["errors"] == 1 and previous["matched"] == 0
    assert "previous terminated container" in previous["pods"][0]["error"]

    restart = fact(r, "restart redis", 5)
    assert restart["changed"] is True and restart["owner"] == "StatefulSet/redis" and restart["uid_before"] == redis_uid
    pod = stored(kube_api, "", "pods", "redis-0")
    assert pod["metadata"]["uid"] == restart["uid_after"] != redis_uid
    assert [c["status"] for c in pod["status"]["conditions"] if c["type"] == "Ready"] == ["True"]

    res, again = fact(r, "resources", 6), fact(r, "resources again", 7)
    assert res["changed"] is True and res["before"]["limits"]["memory"] == "1Gi" and res["after"]["limits"]["memory"] == "6Gi"
    assert res["replaced_pods"] == ["postgres-0"] and res["ready_replicas"] == 1
    assert again["changed"] is False and again["replaced_pods"] == []
    sts = stored(kube_api, "apps", "statefulsets", "postgres")
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "6Gi"}
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"] and sts["status"]["readyReplicas"] == 1
    pg = stored(kube_api, "", "pods", "postgres-0")
    assert pg["spec"]["containers"][0]["resources"]["limits"]["memory"] == "6Gi"
    assert not pg["status"]["containerStatuses"][0].get("lastState") and pg["status"]["containerStatuses"][0]["ready"]

    hpa, hpa_again = fact(r, "hpa", 8), fact(r, "hpa again", 9)
    assert hpa["changed"] is True and hpa["before"] == {"min_replicas": 3, "max_replicas": 10, "cpu_target": 70}
    assert hpa["after"] == {"min_replicas": 3, "max_replicas": 20, "cpu_target": 60} and hpa_again["changed"] is False
    spec = stored(kube_api, "autoscaling", "horizontalpodautoscalers", "sark-hpa")["spec"]
    assert spec["maxReplicas"] == 20 and spec["minReplicas"] == 3
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]

    pvc, pvc_again = fact(r, "pvc", 10), fact(r, "pvc again", 11)
    assert pvc["changed"] is True and pvc["before"] == "50Gi" and pvc["capacity"] == "100Gi" and pvc_again["changed"] is False
    claim = stored(kube_api, "", "persistentvolumeclaims", PVC)
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi" and claim["status"]["capacity"]["storage"] == "100Gi"

    refused = {name: r["refused: %s" % name]["ansible_facts"]["refused"] for name in ("bare pod", "shrink", "fixed class", "max below min")}
    assert "has no controller" in refused["bare pod"] and "refused" in refused["bare pod"]
    assert "cannot shrink" in refused["shrink"]
    assert "StorageClass fixed does not allow volume expansion" in refused["fixed class"]
    assert "maxReplicas 2 must be at least minReplicas 3" in refused["max below min"]
    assert stored(kube_api, "", "pods", "debug") is not None
    assert stored(kube_api, "", "persistentvolumeclaims", PVC)["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert stored(kube_api, "", "persistentvolumeclaims", "fixed-claim")["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert stored(kube_api, "autoscaling", "horizontalpodautoscalers", "sark-hpa")["spec"]["maxReplicas"] == 20
