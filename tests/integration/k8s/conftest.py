"""The test Kubernetes API (tests/harness/k8s) for kubernetes.core and sark.ops modules.

One API server per test file (scenario.yml, SARK's workloads); each test that changes a seeded workload puts it
back or works on objects of its own. ``k8s_play`` runs a playbook against it through ansible-runner (the
``playbook`` fixture) with ``K8S_AUTH_KUBECONFIG`` in the environment, the way AWX's Kubernetes credential
injects it, and returns the results by task name.
"""

import pytest

from harness.k8s.server import KubeAPI


@pytest.fixture(scope="module")
def kube_api():
    # one API per test file, stopped (its thread joined) at the file's end: a fresh scenario for each file, and no
    # thread left in the test process for the tests that fork a module run with a frozen clock
    with KubeAPI() as api:
        yield api


class PlayResult:
    def __init__(self, runner_result):
        self.runner = runner_result
        self.status = runner_result.status
        self.stdout = runner_result.stdout_text
        self.tasks = {}
        self.failed = {}
        self.failures = []  # (task name, result) in order, also when one task fails several times
        for event in runner_result.events:
            data = event.get("event_data") or {}
            name = data.get("task", "")
            if event.get("event") == "runner_on_ok":
                self.tasks[name] = data["res"]
            elif event.get("event") == "runner_on_failed":
                self.failed[name] = data["res"]
                self.failures.append((name, data["res"]))
                if data.get("ignore_errors"):
                    self.tasks[name] = data["res"]

    def __getitem__(self, name):
        if name not in self.tasks:
            raise AssertionError("task %r has no result; failed: %s\n%s" % (name, list(self.failed), self.stdout[-5000:]))
        return self.tasks[name]


@pytest.fixture(scope="module")
def k8s_play(playbook, kube_api):
    def run(tasks_yaml, extravars=None, expect_ok=True, header=None, cmdline=None):
        play = ("- name: k8s test\n  hosts: localhost\n  gather_facts: false\n%s  tasks:\n" % (header or "")
                + "\n".join("    " + line if line.strip() else line for line in tasks_yaml.strip("\n").splitlines()) + "\n")
        result = PlayResult(playbook(play, extravars=extravars, envvars=dict(kube_api.env), cmdline=cmdline))
        if expect_ok:
            assert result.status == "successful", result.stdout[-6000:]
        return result
    return run
