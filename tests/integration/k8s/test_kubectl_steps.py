"""Every kubectl step of the runbooks (seeds 000-002) through kubernetes.core, against the test Kubernetes API.

Each test runs one playbook (ansible-runner, the installed collection, K8S_AUTH_KUBECONFIG in the environment)
that does a step in check mode, for real and a second time, and reads the result back with k8s_info. The
runbook command each task replaces is its name. Tests that change a seeded workload put it back at the end.
"""

import base64

NS = "production"


def _pods(result, task):
    return result[task]["resources"]


def test_get_describe_top_and_history(k8s_play):
    r = k8s_play('''
- name: kubectl get pods -n production
  kubernetes.core.k8s_info: {kind: Pod, namespace: production}
  check_mode: true
- name: kubectl get pods -n production -l app=sark
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, label_selectors: [app=sark]}
- name: kubectl get pods -n production | grep -v Running
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, field_selectors: [status.phase!=Running]}
- name: kubectl get pods -n sark-system -l app=opa
  kubernetes.core.k8s_info: {kind: Pod, namespace: sark-system, label_selectors: ["app in (opa)"]}
- name: kubectl describe pod postgres-0 -n production
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, name: postgres-0}
- name: kubectl describe pod postgres-0 -n production (events)
  kubernetes.core.k8s_info:
    kind: Event
    namespace: production
    field_selectors: [involvedObject.kind=Pod, involvedObject.name=postgres-0]
- name: kubectl top pods -n production
  kubernetes.core.k8s_info: {api_version: metrics.k8s.io/v1beta1, kind: PodMetrics, namespace: production}
- name: kubectl top nodes
  kubernetes.core.k8s_info: {api_version: metrics.k8s.io/v1beta1, kind: NodeMetrics}
- name: kubectl get pvc -n production
  kubernetes.core.k8s_info: {kind: PersistentVolumeClaim, namespace: production}
- name: kubectl get configmap sark-config -n production -o yaml
  kubernetes.core.k8s_info: {kind: ConfigMap, namespace: production, name: sark-config}
- name: kubectl get secret jwt-keys -n production -o yaml
  kubernetes.core.k8s_info: {kind: Secret, namespace: production, name: jwt-keys}
  no_log: true
  register: jwt
- name: Secret keys only
  ansible.builtin.set_fact:
    jwt_keys: "{{ jwt.resources[0].data.keys() | list | sort }}"
- name: kubectl rollout history deployment/sark -n production
  kubernetes.core.k8s_info: {api_version: apps/v1, kind: ReplicaSet, namespace: production, label_selectors: [app=sark]}
- name: kubectl get hpa -n production
  kubernetes.core.k8s_info: {api_version: autoscaling/v2, kind: HorizontalPodAutoscaler, namespace: production}
- name: kubectl get certificate,virtualservice,vulnerabilityreports -n production
  kubernetes.core.k8s_info: {api_version: cert-manager.io/v1, kind: Certificate, namespace: production, name: sark-tls}
- name: kubectl get pod openldap-0 -n production
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, name: openldap-0}
''')
    names = sorted(p["metadata"]["name"] for p in _pods(r, "kubectl get pods -n production"))
    assert {"postgres-0", "redis-0", "timescaledb-0"} <= set(names) and sum(n.startswith("sark-") for n in names) == 3
    assert all(p["metadata"]["labels"]["app"] == "sark" for p in _pods(r, "kubectl get pods -n production -l app=sark"))
    assert len(_pods(r, "kubectl get pods -n production -l app=sark")) == 3
    assert _pods(r, "kubectl get pods -n production | grep -v Running") == []
    assert len(_pods(r, "kubectl get pods -n sark-system -l app=opa")) == 2
    pod = _pods(r, "kubectl describe pod postgres-0 -n production")[0]
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"] == "sark-node-1"
    reasons = {e["reason"] for e in _pods(r, "kubectl describe pod postgres-0 -n production (events)")}
    assert {"Scheduled", "Started"} <= reasons
    top = {m["metadata"]["name"]: m["containers"][0]["usage"] for m in _pods(r, "kubectl top pods -n production")}
    assert top["postgres-0"] == {"cpu": "150m", "memory": "1200Mi"}
    assert _pods(r, "kubectl top nodes")[0]["usage"]["cpu"].endswith("m")
    pvcs = {p["metadata"]["name"]: p["status"] for p in _pods(r, "kubectl get pvc -n production")}
    assert pvcs["postgres-data-postgres-0"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "50Gi"}}
    assert _pods(r, "kubectl get configmap sark-config -n production -o yaml")[0]["data"]["READ_ONLY_MODE"] == "false"
    assert r["Secret keys only"]["ansible_facts"]["jwt_keys"] == ["algorithm", "jwt-secret"]
    assert "seeded-jwt-secret" not in r.stdout and base64.b64encode(b"seeded-jwt-secret").decode() not in r.stdout
    history = _pods(r, "kubectl rollout history deployment/sark -n production")
    assert [rs["metadata"]["annotations"]["kubernetes.io/change-cause"] for rs in history][:1] == ["deploy sark 2.1.0"]
    assert _pods(r, "kubectl get hpa -n production")[0]["spec"]["maxReplicas"] == 10
    assert _pods(r, "kubectl get certificate,virtualservice,vulnerabilityreports -n production")[0]["spec"]["secretName"] == "sark-tls"
    assert _pods(r, "kubectl get pod openldap-0 -n production") == []


SET_ENV = '''
- name: kubectl set env deployment/sark READ_ONLY_MODE={value} -n production{suffix}
  kubernetes.core.k8s:
    kind: Deployment
    name: sark
    namespace: production
    wait: {wait}
    wait_timeout: 30
    wait_sleep: 1
    definition:
      metadata: {{annotations: {{kubernetes.io/change-cause: "READ_ONLY_MODE={value}"}}}}
      spec: {{template: {{spec: {{containers: [{{name: sark, env: [{{name: READ_ONLY_MODE, value: "{value}"}}]}}]}}}}}}
  check_mode: {check}
'''


def test_set_env_rollout_status_history_and_undo(k8s_play):
    tasks = (SET_ENV.format(value="true", suffix=" (check)", check="true", wait="false")
             + SET_ENV.format(value="true", suffix="", check="false", wait="true")
             + SET_ENV.format(value="true", suffix=" (again)", check="false", wait="true")
             + '''
- name: kubectl rollout status deployment/sark -n production
  kubernetes.core.k8s_info:
    kind: Deployment
    name: sark
    namespace: production
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    wait_condition: {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
- name: kubectl rollout history deployment/sark -n production
  kubernetes.core.k8s_info: {api_version: apps/v1, kind: ReplicaSet, namespace: production, label_selectors: [app=sark]}
- name: kubectl rollout undo deployment/sark -n production (check)
  kubernetes.core.k8s_rollback: {api_version: apps/v1, kind: Deployment, name: sark, namespace: production}
  check_mode: true
- name: kubectl rollout undo deployment/sark -n production
  kubernetes.core.k8s_rollback: {api_version: apps/v1, kind: Deployment, name: sark, namespace: production}
# kubectl rollout status: the controller has seen this generation and the new ReplicaSet has progressed (k8s_info's
# wait_condition alone could still read the previous rollout's condition before the controller acted on the undo)
- name: wait for the rollback
  kubernetes.core.k8s_info: {kind: Deployment, name: sark, namespace: production}
  register: rollback
  until: >-
    rollback.resources[0].status.observedGeneration | default(0) == rollback.resources[0].metadata.generation
    and (rollback.resources[0].status.conditions | default([]) | selectattr('type', 'equalto', 'Progressing')
         | map(attribute='reason') | list) == ['NewReplicaSetAvailable']
  retries: 30
  delay: 1
- name: the pods after the undo
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, label_selectors: [app=sark]}
''')
    r = k8s_play(tasks)
    check = r["kubectl set env deployment/sark READ_ONLY_MODE=true -n production (check)"]
    assert check["changed"] is True
    real = r["kubectl set env deployment/sark READ_ONLY_MODE=true -n production"]
    env = {e["name"]: e.get("value") for e in real["result"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert real["changed"] is True and env["READ_ONLY_MODE"] == "true" and env["JWT_ALGORITHM"] == "HS256"  # merged by name
    # k8s wait (kubernetes.core's deployment_ready) means all replicas available for this generation, not all updated
    assert real["result"]["status"]["readyReplicas"] == 3
    assert real["result"]["status"]["observedGeneration"] == real["result"]["metadata"]["generation"]
    assert r["kubectl set env deployment/sark READ_ONLY_MODE=true -n production (again)"]["changed"] is False
    dep = r["kubectl rollout status deployment/sark -n production"]["resources"][0]
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"] == 2  # check mode did not write
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == dep["status"]["replicas"] == 3
    history = sorted((int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
                      rs["metadata"]["annotations"].get("kubernetes.io/change-cause"), rs["spec"]["replicas"])
                     for rs in r["kubectl rollout history deployment/sark -n production"]["resources"])
    assert history == [(1, "deploy sark 2.1.0", 0), (2, "READ_ONLY_MODE=true", 3)]
    assert r["kubectl rollout undo deployment/sark -n production (check)"]["changed"] is True
    undone = r["wait for the rollback"]["resources"][0]
    assert undone["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"  # revision 1 became 3
    env = {e["name"]: e.get("value") for e in undone["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["READ_ONLY_MODE"] == "false"
    pods = r["the pods after the undo"]["resources"]
    assert len(pods) == 3 and len({p["metadata"]["labels"]["pod-template-hash"] for p in pods}) == 1
    assert all(p["status"]["phase"] == "Running" for p in pods)


RESTART = '''
- name: kubectl rollout restart deployment/sark-api -n sark-system{suffix}
  kubernetes.core.k8s:
    kind: Deployment
    name: sark-api
    namespace: sark-system
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    definition:
      spec: {{template: {{metadata: {{annotations: {{kubectl.kubernetes.io/restartedAt: "2026-12-01T09:00:00Z"}}}}}}}}
  check_mode: {check}
'''


def test_rollout_restart_rolls_every_pod(k8s_play):
    r = k8s_play('''
- name: pods before
  kubernetes.core.k8s_info: {kind: Pod, namespace: sark-system, label_selectors: [app=sark-api]}
''' + RESTART.format(suffix=" (check)", check="true") + '''
- name: pods after check mode
  kubernetes.core.k8s_info: {kind: Pod, namespace: sark-system, label_selectors: [app=sark-api]}
''' + RESTART.format(suffix="", check="false") + RESTART.format(suffix=" (again)", check="false") + '''
- name: pods after
  kubernetes.core.k8s_info: {kind: Pod, namespace: sark-system, label_selectors: [app=sark-api]}
''')
    before = {p["metadata"]["name"] for p in r["pods before"]["resources"]}
    assert r["kubectl rollout restart deployment/sark-api -n sark-system (check)"]["changed"] is True
    assert {p["metadata"]["name"] for p in r["pods after check mode"]["resources"]} == before
    assert r["kubectl rollout restart deployment/sark-api -n sark-system"]["changed"] is True
    assert r["kubectl rollout restart deployment/sark-api -n sark-system (again)"]["changed"] is False
    after = r["pods after"]["resources"]
    assert len(after) == 2 and not before & {p["metadata"]["name"] for p in after}
    assert all(p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == "2026-12-01T09:00:00Z" for p in after)


SCALE = '''
- name: kubectl scale deployment/sark-api --replicas={n} -n sark-system{suffix}
  kubernetes.core.k8s_scale: {{kind: Deployment, name: sark-api, namespace: sark-system, replicas: {n}, wait: true, wait_timeout: 30, wait_sleep: 1}}
  check_mode: {check}
'''


def test_scale_and_wait(k8s_play):
    r = k8s_play(SCALE.format(n=10, suffix=" (check)", check="true") + SCALE.format(n=10, suffix="", check="false")
                 + SCALE.format(n=10, suffix=" (again)", check="false") + '''
- name: pods at 10
  kubernetes.core.k8s_info: {kind: Pod, namespace: sark-system, label_selectors: [app=sark-api], field_selectors: [status.phase=Running]}
- name: kubectl scale deployment sark --replicas=0 -n production
  kubernetes.core.k8s_scale: {kind: Deployment, name: sark, namespace: production, replicas: 0, wait: true, wait_timeout: 30, wait_sleep: 1}
- name: pods at 0
  kubernetes.core.k8s_info: {kind: Pod, namespace: production, label_selectors: [app=sark]}
- name: kubectl scale deployment sark --replicas=3 -n production
  kubernetes.core.k8s_scale: {kind: Deployment, name: sark, namespace: production, replicas: 3, wait: true, wait_timeout: 30, wait_sleep: 1}
''' + SCALE.format(n=2, suffix=" (back)", check="false"))
    assert r["kubectl scale deployment/sark-api --replicas=10 -n sark-system (check)"]["changed"] is True
    assert r["kubectl scale deployment/sark-api --replicas=10 -n sark-system"]["changed"] is True
    assert r["kubectl scale deployment/sark-api --replicas=10 -n sark-system"]["result"]["status"]["readyReplicas"] == 10
    assert r["kubectl scale deployment/sark-api --replicas=10 -n sark-system (again)"]["changed"] is False
    assert len(r["pods at 10"]["resources"]) == 10
    assert r["pods at 0"]["resources"] == []
    assert r["kubectl scale deployment/sark-api --replicas=2 -n sark-system (back)"]["result"]["status"]["replicas"] == 2


RESOURCES = '''
- name: kubectl set resources deployment sark --limits=memory=4Gi -n production{suffix}
  kubernetes.core.k8s:
    kind: Deployment
    name: sark
    namespace: production
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    definition:
      spec: {{template: {{spec: {{containers: [{{name: sark, resources: {{limits: {{memory: 4Gi}}}}}}]}}}}}}
  check_mode: {check}
- name: kubectl patch hpa sark-hpa -n production -p '{{"spec":{{"maxReplicas":20}}}}'{suffix}
  kubernetes.core.k8s:
    api_version: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: sark-hpa
    namespace: production
    definition: {{spec: {{maxReplicas: 20}}}}
  check_mode: {check}
- name: kubectl patch hpa sark-hpa -p '{{"spec":{{"targetCPUUtilizationPercentage":60}}}}'{suffix}
  kubernetes.core.k8s:
    api_version: autoscaling/v1
    kind: HorizontalPodAutoscaler
    name: sark-hpa
    namespace: production
    definition: {{spec: {{targetCPUUtilizationPercentage: 60}}}}
  check_mode: {check}
'''


def test_set_resources_and_hpa_patches(k8s_play):
    r = k8s_play(RESOURCES.format(suffix=" (check)", check="true") + RESOURCES.format(suffix="", check="false")
                 + RESOURCES.format(suffix=" (again)", check="false") + '''
- name: kubectl set resources statefulset postgres --limits=memory=8Gi -n production
  kubernetes.core.k8s:
    api_version: apps/v1
    kind: StatefulSet
    name: postgres
    namespace: production
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    definition:
      spec: {template: {spec: {containers: [{name: postgres, resources: {limits: {memory: 8Gi}}}]}}}
- name: hpa v2 after
  kubernetes.core.k8s_info: {api_version: autoscaling/v2, kind: HorizontalPodAutoscaler, name: sark-hpa, namespace: production}
- name: postgres-0 after
  kubernetes.core.k8s_info: {kind: Pod, name: postgres-0, namespace: production}
''')
    name = "kubectl set resources deployment sark --limits=memory=4Gi -n production"
    assert r[name + " (check)"]["changed"] is True and r[name]["changed"] is True and r[name + " (again)"]["changed"] is False
    container = r[name]["result"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "4Gi"}}
    assert container["env"][0]["name"] == "READ_ONLY_MODE"  # strategic merge kept the rest of the container
    hpa = "kubectl patch hpa sark-hpa -n production -p '{\"spec\":{\"maxReplicas\":20}}'"
    assert r[hpa + " (check)"]["changed"] is True and r[hpa]["changed"] is True and r[hpa + " (again)"]["changed"] is False
    cpu = "kubectl patch hpa sark-hpa -p '{\"spec\":{\"targetCPUUtilizationPercentage\":60}}'"
    assert r[cpu]["changed"] is True and r[cpu + " (again)"]["changed"] is False
    spec = r["hpa v2 after"]["resources"][0]["spec"]
    assert spec["maxReplicas"] == 20 and spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    pod = r["postgres-0 after"]["resources"][0]
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "8Gi"  # the StatefulSet rolled postgres-0
    assert pod["status"]["phase"] == "Running"


def test_logs(k8s_play):
    r = k8s_play('''
- name: kubectl logs deployment/sark -n production --tail=50
  kubernetes.core.k8s_log: {api_version: apps/v1, kind: Deployment, name: sark, namespace: production, tail_lines: 50}
- name: kubectl logs deployment/sark -n production --since=5m
  kubernetes.core.k8s_log: {api_version: apps/v1, kind: Deployment, name: sark, namespace: production, since_seconds: 300}
- name: kubectl logs deployment/sark-api -n sark-system | grep slow_query
  kubernetes.core.k8s_log: {api_version: apps/v1, kind: Deployment, name: sark-api, namespace: sark-system}
- name: kubectl logs -n sark-system -l app=opa --tail=100
  kubernetes.core.k8s_log: {namespace: sark-system, label_selectors: [app=opa], tail_lines: 100}
- name: kubectl logs postgres-0 -n production --tail=50
  kubernetes.core.k8s_log: {name: postgres-0, namespace: production, tail_lines: 50}
  check_mode: true
- name: kubectl logs postgres-0 -n production --previous
  kubernetes.core.k8s_log: {name: postgres-0, namespace: production, previous: true}
  ignore_errors: true
''')
    lines = r["kubectl logs deployment/sark -n production --tail=50"]["log_lines"]
    assert len([line for line in lines if "jwt" in line.lower()]) == 2
    assert sum("WARNING" in line for line in lines) == 3
    assert len(r["kubectl logs deployment/sark -n production --since=5m"]["log_lines"]) <= 1
    api_lines = r["kubectl logs deployment/sark-api -n sark-system | grep slow_query"]["log_lines"]
    assert sum("slow_query" in line for line in api_lines) == 2 and sum("audit_batch" in line for line in api_lines) == 2
    assert any("rego_parse_error" in line for line in r["kubectl logs -n sark-system -l app=opa --tail=100"]["log_lines"])
    assert "ready to accept connections" in r["kubectl logs postgres-0 -n production --tail=50"]["log"]
    # a pod that never restarted has no previous container: the API says so, as a real one does
    failed = r.failed["kubectl logs postgres-0 -n production --previous"]
    assert "previous terminated container" in failed["msg"] and "postgres-0" in failed["msg"] and "not found" in failed["msg"]


def test_delete_statefulset_pod_and_wait_for_readiness(k8s_play):
    r = k8s_play('''
- name: postgres-0 before
  kubernetes.core.k8s_info: {kind: Pod, name: postgres-0, namespace: production}
- name: kubectl delete pod postgres-0 -n production (check)
  kubernetes.core.k8s: {kind: Pod, name: postgres-0, namespace: production, state: absent}
  check_mode: true
- name: kubectl delete pod postgres-0 -n production
  kubernetes.core.k8s: {kind: Pod, name: postgres-0, namespace: production, state: absent}
- name: kubectl wait --for=condition=ready pod/postgres-0 -n production --timeout=5m
  kubernetes.core.k8s_info:
    kind: Pod
    name: postgres-0
    namespace: production
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    wait_condition: {type: Ready, status: "True"}
- name: kubectl delete pod openldap-0 -n production
  kubernetes.core.k8s: {kind: Pod, name: openldap-0, namespace: production, state: absent}
''')
    before = r["postgres-0 before"]["resources"][0]["metadata"]["uid"]
    assert r["kubectl delete pod postgres-0 -n production (check)"]["changed"] is True
    assert r["kubectl delete pod postgres-0 -n production"]["changed"] is True
    after = r["kubectl wait --for=condition=ready pod/postgres-0 -n production --timeout=5m"]["resources"][0]
    assert after["metadata"]["uid"] != before and after["status"]["phase"] == "Running"
    assert r["kubectl delete pod openldap-0 -n production"]["changed"] is False  # nothing to delete: idempotent


SECRET = '''
- name: kubectl create secret generic sark-secrets --from-literal=secret-key=... -n sark-system{suffix}
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: v1
      kind: Secret
      metadata: {{name: sark-secrets, namespace: sark-system}}
      type: Opaque
      stringData: {{secret-key: "{{{{ new_key }}}}"}}
  no_log: true
  check_mode: {check}
  register: secret{n}
- name: kubectl apply -f network-policy-lockdown.yaml{suffix}
  kubernetes.core.k8s:
    state: present
    apply: true
    definition:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {{name: default-deny, namespace: production}}
      spec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}
  check_mode: {check}
- name: kubectl edit configmap sark-config -n production (RATE_LIMIT){suffix}
  kubernetes.core.k8s:
    kind: ConfigMap
    name: sark-config
    namespace: production
    definition: {{data: {{RATE_LIMIT_USER_REQUESTS_PER_MINUTE: "10000"}}}}
  check_mode: {check}
'''


def test_secrets_network_policies_and_config_maps(k8s_play):
    r = k8s_play(SECRET.format(suffix=" (check)", check="true", n=1) + SECRET.format(suffix="", check="false", n=2)
                 + SECRET.format(suffix=" (again)", check="false", n=3) + '''
- name: secret changes (no_log hides the results themselves)
  ansible.builtin.set_fact:
    secret_changes: "{{ [secret1.changed, secret2.changed, secret3.changed] }}"
- name: kubectl patch networkpolicy default-deny -p podSelector incident=isolate
  kubernetes.core.k8s:
    kind: NetworkPolicy
    api_version: networking.k8s.io/v1
    name: default-deny
    namespace: production
    definition: {spec: {podSelector: {matchLabels: {incident: isolate}}}}
- name: read back
  kubernetes.core.k8s_info: {kind: Secret, name: sark-secrets, namespace: sark-system}
  no_log: true
  register: secret
- name: decoded key matches
  ansible.builtin.set_fact:
    key_ok: "{{ secret.resources[0].data['secret-key'] | b64decode == new_key }}"
- name: kubectl delete networkpolicy default-deny
  kubernetes.core.k8s: {kind: NetworkPolicy, api_version: networking.k8s.io/v1, name: default-deny, namespace: production, state: absent}
- name: kubectl edit configmap sark-config -n production (back)
  kubernetes.core.k8s:
    kind: ConfigMap
    name: sark-config
    namespace: production
    definition: {data: {RATE_LIMIT_USER_REQUESTS_PER_MINUTE: "1000"}}
''', extravars={"new_key": "rotated-key-never-printed"})
    assert r["secret changes (no_log hides the results themselves)"]["ansible_facts"]["secret_changes"] == [True, True, False]
    for name in ("kubectl apply -f network-policy-lockdown.yaml",
                 "kubectl edit configmap sark-config -n production (RATE_LIMIT)"):
        assert r[name + " (check)"]["changed"] is True, name
        assert r[name]["changed"] is True, name
        assert r[name + " (again)"]["changed"] is False, name
    assert r["decoded key matches"]["ansible_facts"]["key_ok"] is True
    isolated = r["kubectl patch networkpolicy default-deny -p podSelector incident=isolate"]["result"]["spec"]
    assert isolated == {"podSelector": {"matchLabels": {"incident": "isolate"}}, "policyTypes": ["Ingress", "Egress"]}
    assert "rotated-key-never-printed" not in r.stdout
