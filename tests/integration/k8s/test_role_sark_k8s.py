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
    assert opa["metadata"]["generation"] == r["opa before check mode"]["resources"][0]["metadata"]["generation"]
    assert opa["spec"]["replicas"] == 2
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
  block:
    - name: rollback without history
      ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: rollback}
      vars: {sark_k8s_namespace: production, sark_k8s_name: single-revision}
  rescue:
    - name: record 1
      ansible.builtin.set_fact: {msg_history: "{{ ansible_failed_result.msg }}"}
- name: rollback of a missing deployment
  block:
    - name: rollback of a missing deployment
      ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: rollback}
      vars: {sark_k8s_namespace: production, sark_k8s_name: no-such-deployment}
  rescue:
    - name: record 2
      ansible.builtin.set_fact: {msg_missing: "{{ ansible_failed_result.msg }}"}
- name: scale without replicas
  block:
    - name: scale without replicas
      ansible.builtin.include_role: {name: sark.ops.sark_k8s, tasks_from: scale}
      vars: {sark_k8s_namespace: production, sark_k8s_name: sark}
  rescue:
    - name: record 3
      ansible.builtin.set_fact: {msg_spec: "{{ ansible_failed_result.msg }}"}
- name: the main entry point
  block:
    - name: the main entry point
      ansible.builtin.include_role: {name: sark.ops.sark_k8s}
  rescue:
    - name: record 4
      ansible.builtin.set_fact: {msg_main: "{{ ansible_failed_result.msg }}"}
- name: messages
  ansible.builtin.set_fact:
    messages: "{{ [msg_history | default(''), msg_missing | default(''), msg_spec | default(''), msg_main | default('')] }}"
- name: clean up
  kubernetes.core.k8s: {kind: Deployment, name: single-revision, namespace: production, state: absent}
''')
    history, missing, spec, main = r["messages"]["ansible_facts"]["messages"]
    assert "has no revision before 1" in history and "nothing to roll back to" in history, history
    assert "production/no-such-deployment not found" in missing, missing
    assert "sark_k8s_replicas" in spec, spec
    assert "tasks_from: restart, scale or rollback" in main, main
