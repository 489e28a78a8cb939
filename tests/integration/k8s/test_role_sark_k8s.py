"""The sark.ops.sark_k8s role (restart, scale, rollback entry points) against the test Kubernetes API."""

ROLE = '''
- name: {title}
  ansible.builtin.import_role: {{name: sark.ops.sark_k8s, tasks_from: {entry}}}
  vars: {vars}
- name: {title} (result)
  ansible.builtin.set_fact:
    result_{n}: "{{{{ sark_k8s_result }}}}"
'''


def role(title, entry, variables, n):
    return ROLE.format(title=title, entry=entry, vars=variables, n=n)


FAST = "sark_k8s_wait_timeout: 30, sark_k8s_wait_sleep: 1"


def test_restart_scale_and_rollback_entry_points(k8s_play):
    restart = "{sark_k8s_namespace: sark-system, sark_k8s_name: opa, sark_k8s_restarted_at: '2026-12-01T08:00:00Z', %s}" % FAST
    scale = "{sark_k8s_namespace: sark-system, sark_k8s_name: opa, sark_k8s_replicas: 5, %s}" % FAST
    back = "{sark_k8s_namespace: sark-system, sark_k8s_name: opa, sark_k8s_replicas: 2, %s}" % FAST
    rollback = "{sark_k8s_namespace: sark-system, sark_k8s_name: opa, %s}" % FAST
    r = k8s_play(role("restart", "restart", restart, 1) + role("restart again", "restart", restart, 2)
                 + role("scale", "scale", scale, 3) + role("scale again", "scale", scale, 4) + role("scale back", "scale", back, 5) + '''
- name: a new image for opa (revision 3)
  kubernetes.core.k8s:
    kind: Deployment
    name: opa
    namespace: sark-system
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    definition:
      metadata: {annotations: {kubernetes.io/change-cause: "opa 0.61.0"}}
      spec: {template: {spec: {containers: [{name: opa, image: "openpolicyagent/opa:0.61.0"}]}}}
- name: opa history
  kubernetes.core.k8s_info: {api_version: apps/v1, kind: ReplicaSet, namespace: sark-system, label_selectors: [app=opa]}
''')
    history = sorted((rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], rs["spec"]["template"]["spec"]["containers"][0]["image"],
                      (rs["spec"]["template"]["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt"))
                     for rs in r["opa history"]["resources"])
    assert history == [("1", "openpolicyagent/opa:0.60.0", None), ("2", "openpolicyagent/opa:0.60.0", "2026-12-01T08:00:00Z"),
                       ("3", "openpolicyagent/opa:0.61.0", "2026-12-01T08:00:00Z")], history
    facts = {n: r[t + " (result)"]["ansible_facts"]["result_%d" % n] for n, t in enumerate(
        ["restart", "restart again", "scale", "scale again", "scale back"], start=1)}
    assert facts[1]["changed"] is True and facts[2]["changed"] is False
    assert facts[1]["revision"] == "2" and facts[1]["ready_replicas"] == 2 and facts[1]["updated_replicas"] == 2
    assert facts[3]["changed"] is True and facts[4]["changed"] is False
    assert facts[3]["ready_replicas"] == 5 and facts[5]["ready_replicas"] == 2

    # check mode (ansible-playbook --check): the plan, nothing changes
    restart_now = "{sark_k8s_namespace: sark-system, sark_k8s_name: opa, %s}" % FAST
    r = k8s_play('''
- name: opa before check mode
  kubernetes.core.k8s_info: {kind: Deployment, name: opa, namespace: sark-system}
''' + role("restart", "restart", restart_now, 1) + '''
- name: opa after restart check
  kubernetes.core.k8s_info: {kind: Deployment, name: opa, namespace: sark-system}
''' + role("scale", "scale", scale, 2) + role("rollback", "rollback", rollback, 3) + '''
- name: opa after check mode
  kubernetes.core.k8s_info: {kind: Deployment, name: opa, namespace: sark-system}
''', cmdline="--check")
    facts = {n: r[t + " (result)"]["ansible_facts"]["result_%d" % n] for n, t in enumerate(["restart", "scale", "rollback"], start=1)}
    assert r["opa after restart check"]["resources"][0]["metadata"]["generation"] == r["opa before check mode"]["resources"][0]["metadata"]["generation"]
    assert facts[1]["changed"] is True and facts[2]["changed"] is True and facts[3]["changed"] is True
    assert facts[3]["from_revision"] == 3 and facts[3]["images"] == ["openpolicyagent/opa:0.60.0"] and "revision" not in facts[3]
    opa = r["opa after check mode"]["resources"][0]
    assert opa["metadata"]["generation"] == 3 and opa["spec"]["replicas"] == 2
    assert opa["spec"]["template"]["spec"]["containers"][0]["image"] == "openpolicyagent/opa:0.61.0"

    r = k8s_play(role("rollback", "rollback", rollback, 1) + '''
- name: opa after the rollback
  kubernetes.core.k8s_info: {kind: Deployment, name: opa, namespace: sark-system}
''')
    fact = r["rollback (result)"]["ansible_facts"]["result_1"]
    assert fact["changed"] is True and fact["from_revision"] == 3 and fact["revision"] == 4
    assert fact["images"] == ["openpolicyagent/opa:0.60.0"] and fact["change_cause"] == "deploy opa 0.60.0"
    opa = r["opa after the rollback"]["resources"][0]
    assert opa["spec"]["template"]["spec"]["containers"][0]["image"] == "openpolicyagent/opa:0.60.0"
    assert opa["status"]["readyReplicas"] == 2


def test_rollback_without_history_and_bad_arguments_fail_clearly(k8s_play):
    r = k8s_play('''
- name: a deployment with one revision
  kubernetes.core.k8s:
    wait: true
    wait_timeout: 30
    wait_sleep: 1
    definition:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: single-revision, namespace: production}
      spec:
        replicas: 1
        selector: {matchLabels: {app: single-revision}}
        template:
          metadata: {labels: {app: single-revision}}
          spec: {containers: [{name: web, image: "nginx:1.25"}]}
- name: rollback without history
  ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: rollback, apply: {ignore_errors: true}}
  vars: {sark_k8s_namespace: production, sark_k8s_name: single-revision}
- name: rollback of a missing deployment
  ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: rollback, apply: {ignore_errors: true}}
  vars: {sark_k8s_namespace: production, sark_k8s_name: no-such-deployment}
- name: scale without replicas
  ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: scale, apply: {ignore_errors: true}}
  vars: {sark_k8s_namespace: production, sark_k8s_name: sark}
  ignore_errors: true
- name: the main entry point
  ansible.builtin.include_role: {name: sark.ops.sark_k8s, apply: {ignore_errors: true}}
  ignore_errors: true
- name: clean up
  kubernetes.core.k8s: {kind: Deployment, name: single-revision, namespace: production, state: absent}
''')
    messages = {i: res.get("msg", "") for i, (dummy, res) in enumerate(r.failures)}
    assert any("has no revision before 1" in m and "nothing to roll back to" in m for m in messages.values()), messages
    assert any("production/no-such-deployment not found" in m for m in messages.values()), messages
    assert any("sark_k8s_replicas" in m for m in messages.values()), messages
    assert any("tasks_from: restart, scale or rollback" in m for m in messages.values()), messages
