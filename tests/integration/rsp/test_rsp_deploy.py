"""sark.ops.rsp_deploy (seed 003 "Deployment Procedures") against one stack for the whole file: the test Kubernetes API
with RSP's workloads (tests/harness/k8s/rsp.py), two RSP simulators standing for the stable and the canary (or green)
release, a real Prometheus scraping both every 0.5 s, and a traffic generator that splits its requests between them
by the weights the VirtualService in the Kubernetes API gives at that moment - so a canary's errors reach Prometheus
only as far as the role routes traffic to it. Every test reads the Kubernetes state (and Prometheus) itself afterwards."""

import json
import threading
import time
import urllib.parse
import urllib.request

import pytest

from harness.k8s.rsp import NAMESPACE, rsp_scenario
from harness.k8s.server import KubeAPI
from harness.rspsim import RspSimulator
from harness.servers import PrometheusServer, free_port

OLD, NEW, GREEN, BAD = ("rust-security/auth-service:v1.1.0", "rust-security/auth-service:v1.2.0", "rust-security/auth-service:v1.3.0",
                        "rust-security/auth-service:v1.3.1-rc")
FAST = {"rsp_deploy_wait_timeout": 30, "rsp_deploy_wait_sleep": 1}
GATE = {"rsp_deploy_canary_window": "3s", "rsp_deploy_canary_observe_seconds": 2, "rsp_deploy_canary_interval_seconds": 1,
        "rsp_deploy_canary_min_requests": 4, "rsp_deploy_canary_threshold": 0.1}


class Traffic(threading.Thread):
    """About 40 requests a second to GET /health, each to the stable or the canary simulator as the VirtualService's
    default route weighs them (read from the Kubernetes API every 0.2 s). on_weight(weight) is called on each read."""

    def __init__(self, kube_api, stable, canary):
        super().__init__(daemon=True, name="rsp-traffic")
        self.kube_api, self.stable, self.canary = kube_api, stable, canary
        self.stop = threading.Event()
        self.on_weight = None
        self.sent = {"stable": 0, "canary": 0}
        self.weight = 0
        self.history = []  # the canary weights seen, each time it changed

    def read_weight(self):
        vs = self.kube_api.call(lambda emu: emu.get("networking.istio.io", "virtualservices", NAMESPACE, "auth-service"))
        default = [r for r in (vs or {}).get("spec", {}).get("http", []) if not r.get("match")]
        for dest in (default[-1].get("route") or []) if default else []:
            if dest["destination"]["host"] == "auth-service-canary":
                return int(dest.get("weight", 0))
        return 0

    def run(self):
        share, last_read = 0.0, 0.0
        while not self.stop.is_set():
            if time.monotonic() - last_read > 0.2:
                self.weight, last_read = self.read_weight(), time.monotonic()
                if not self.history or self.history[-1] != self.weight:
                    self.history.append(self.weight)
                if self.on_weight:
                    self.on_weight(self.weight)
            share += self.weight / 100.0
            target = "canary" if share >= 1 else "stable"
            share -= 1 if share >= 1 else 0
            sim = self.canary if target == "canary" else self.stable
            try:
                with urllib.request.urlopen(sim.auth_url + "/health", timeout=2):  # nosec - loopback
                    pass
            except OSError:
                pass
            self.sent[target] += 1
            self.stop.wait(0.025)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with KubeAPI(scenario=rsp_scenario("runbook")) as api, RspSimulator("runbook") as stable, RspSimulator("runbook") as canary:
        jobs = [{"job_name": name, "scrape_interval": "500ms", "static_configs": [{"targets": ["127.0.0.1:%d" % sim.port]}]}
                for name, sim in (("auth-service", stable), ("auth-service-canary", canary))]
        with PrometheusServer(workdir=str(tmp_path_factory.mktemp("prom")), scrape_configs=jobs) as prom:
            traffic = Traffic(api, stable, canary)
            traffic.start()
            try:
                yield {"api": api, "stable": stable, "canary": canary, "prom": prom, "traffic": traffic}
            finally:
                traffic.stop.set()
                traffic.join(5)


@pytest.fixture(scope="module")
def play(playbook, stack):
    """Run tasks in a play against the stack's Kubernetes API (K8S_AUTH_KUBECONFIG, as AWX injects it); returns
    (status, {task name: result}, stdout)."""
    def run(tasks_yaml, cmdline=None, expect_ok=True):
        text = ("- name: rsp deploy test\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
                + "\n".join("    " + line if line.strip() else line for line in tasks_yaml.strip("\n").splitlines()) + "\n")
        result = playbook(text, envvars=dict(stack["api"].env, ANSIBLE_PIPELINING="True"), cmdline=cmdline)
        tasks = {}
        for event in result.events:
            data = event.get("event_data") or {}
            if event.get("event") in ("runner_on_ok", "runner_on_failed"):
                tasks[data.get("task", "")] = data["res"]
        if expect_ok:
            assert result.status == "successful", result.stdout_text[-6000:]
        return result.status, tasks, result.stdout_text
    return run


def role(title, entry, variables):
    """An include of the role's entry point in a block whose rescue keeps the failure; the result or the failure under
    `title`."""
    return """
- name: {title}
  block:
    - name: {title} (run)
      ansible.builtin.include_role: {{name: sark.ops.rsp_deploy, tasks_from: {entry}}}
      vars: {vars}
    - name: {title}
      ansible.builtin.debug: {{var: rsp_deploy_result}}
  rescue:
    - name: {title}
      ansible.builtin.debug: {{msg: "{{{{ ansible_failed_result.msg }}}}"}}
""".format(title=title, entry=entry, vars=json.dumps(variables))


def deployment(api, name):
    return api.call(lambda emu: emu.get("apps", "deployments", NAMESPACE, name))


def pods(api, **labels):
    return api.call(lambda emu: [p for p in emu.items("", "pods", NAMESPACE)
                                 if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
                                 and not p["metadata"].get("deletionTimestamp")])


def service_selector(api):
    return api.call(lambda emu: emu.get("", "services", NAMESPACE, "auth-service"))["spec"]["selector"]


def weights(api):
    vs = api.call(lambda emu: emu.get("networking.istio.io", "virtualservices", NAMESPACE, "auth-service"))
    default = [r for r in vs["spec"]["http"] if not r.get("match")][-1]
    return {d["destination"]["host"]: d.get("weight", 100) for d in default["route"]}


def prom_value(prom, expr):
    url = prom.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:  # nosec - loopback
        result = json.loads(resp.read())["data"]["result"]
    return sum(float(r["value"][1]) for r in result)


def health(sim):
    return {"rsp_auth_url": sim.auth_url, "rsp_auth_backoff": 0.01}


def images(api, **labels):
    return sorted({c["image"] for p in pods(api, **labels) for c in p["spec"]["containers"]})


def health(sim):
    return {"rsp_auth_url": sim.auth_url, "rsp_auth_backoff": 0.01}


def images(api, **labels):
    return sorted({c["image"] for p in pods(api, **labels) for c in p["spec"]["containers"]})


def canary_vars(stack, image, **extra):
    return dict(FAST, **GATE, rsp_deploy_image=image, rsp_deploy_prometheus_connection={"prometheus_url": stack["prom"].url}, **extra)


class BreakTheSecondCanary:
    """The traffic generator's on_weight: once a first canary has reached 100 % and a second one starts below 25 %,
    the canary simulator starts answering 500 when that second canary takes 25 % (its error rate rises)."""

    def __init__(self, sim):
        self.sim, self.seen_full, self.armed, self.broken_at = sim, False, False, None

    def __call__(self, weight):
        self.seen_full = self.seen_full or weight == 100
        self.armed = self.armed or (self.seen_full and weight < 25)
        if self.armed and self.broken_at is None and weight >= 25:
            self.sim.fault(error_paths={"/health": 500})
            self.broken_at = weight


@pytest.fixture(scope="module")
def deployed(play, stack):
    """One real run of every procedure, in the order an operator would go: rolling (twice), blue-green (a failing gate,
    the switch, a second switch, switch back, a second switch back), a canary that completes, a canary that rolls back."""
    api, canary = stack["api"], stack["canary"]
    before = {"generation": deployment(api, "auth-service")["metadata"]["generation"], "selector": service_selector(api)}
    rolling = dict(FAST, rsp_deploy_image=NEW, rsp_deploy_change_cause="auth-service v1.2.0", rsp_deploy_health_connection=health(stack["stable"]))
    closed = {"rsp_auth_url": "http://127.0.0.1:%d" % free_port(), "rsp_auth_retries": 0}
    switch = dict(FAST, rsp_deploy_image=GREEN, rsp_deploy_bg_health_connection=health(canary))
    back = dict(FAST, rsp_deploy_bg_action="switch_back")
    breaker = BreakTheSecondCanary(canary)
    canary.fault()
    stack["traffic"].on_weight = breaker
    try:
        _status, tasks, out = play(
            role("rolling", "rolling", rolling)
            + role("gate fails", "blue_green", dict(switch, rsp_deploy_bg_health_connection=closed))
            + role("switch", "blue_green", switch) + role("switch again", "blue_green", switch) + """
- name: selector after the switch
  kubernetes.core.k8s_info: {kind: Service, name: auth-service, namespace: rust-security}
""" + role("back", "blue_green", back) + role("back again", "blue_green", back)
            + role("canary", "canary", canary_vars(stack, NEW, rsp_deploy_canary_steps=[10, 50, 100]))
            + role("bad canary", "canary", canary_vars(stack, BAD, rsp_deploy_canary_steps=[10, 25, 100])))
    finally:
        stack["traffic"].on_weight = None
        canary.fault()
    return {"tasks": tasks, "out": out, "before": before, "broken_at": breaker.broken_at, "history": list(stack["traffic"].history)}


def result(deployed, name):
    res = deployed["tasks"].get(name) or {}
    assert "rsp_deploy_result" in res or "msg" in res, (name, res, deployed["out"][-4000:])
    return res.get("rsp_deploy_result") or res["msg"]


def test_check_mode_plans_and_bad_input_changes_nothing(play, stack):
    api = stack["api"]
    before = (deployment(api, "auth-service")["metadata"]["generation"], service_selector(api), weights(api))
    common = dict(FAST, rsp_deploy_image=NEW)
    _status, tasks, out = play(
        role("rolling", "rolling", common)
        + role("blue-green", "blue_green", dict(common, rsp_deploy_bg_health_connection=health(stack["canary"])))
        + role("canary", "canary", canary_vars(stack, NEW))
        + role("no image", "rolling", dict(FAST, rsp_deploy_image=""))
        + role("no deployment", "rolling", dict(common, rsp_deploy_deployment="no-such-service"))
        + role("bad steps", "canary", canary_vars(stack, NEW, rsp_deploy_canary_steps=[10, 50]))
        + role("no prometheus", "canary", dict(common))
        + role("switch without gate", "blue_green", common), cmdline="--check")
    deployed_ = {"tasks": tasks, "out": out}
    rolling, green, canary = (result(deployed_, t) for t in ("rolling", "blue-green", "canary"))
    assert rolling["changed"] is True and rolling["check_mode"] is True and rolling["from_image"] == OLD
    assert rolling["plan"][0] == "set image of Deployment rust-security/auth-service to %s" % NEW
    assert green["changed"] is True and green["from"] == "blue" and green["to"] == "green" and green["deployment"] == "auth-service-green"
    assert "health gate on green: stop unless healthy" in green["plan"]
    assert canary["changed"] is True and canary["completed"] is False and canary["passed_steps"] == []
    steps = [p for p in canary["plan"] if p.startswith("VirtualService")]
    assert len(steps) == 4 and steps[0].startswith("VirtualService rust-security/auth-service: 10% to auth-service-canary")
    assert "rsp_deploy_image is empty" in result(deployed_, "no image")
    assert "Deployment rust-security/no-such-service not found" in result(deployed_, "no deployment")
    assert "the last canary step must be 100" in result(deployed_, "bad steps")
    assert "rsp_deploy_prometheus_connection.prometheus_url" in result(deployed_, "no prometheus")
    assert "the switch waits for a health gate on the new colour" in result(deployed_, "switch without gate")
    # read independently: nothing changed, nothing created
    assert (deployment(api, "auth-service")["metadata"]["generation"], service_selector(api), weights(api)) == before
    assert deployment(api, "auth-service-green") is None and deployment(api, "auth-service-canary") is None


def test_rolling_update_waited_on_and_verified(deployed, stack):
    api = stack["api"]
    first = result(deployed, "rolling")
    assert first["changed"] is True and first["from_image"] == OLD and first["image"] == NEW and first["ready_replicas"] == 2
    assert first["revision"] == "2" and first["health"].startswith("healthy: auth-service up")
    # read independently: every replica runs the new image and is Ready, one new revision
    dep = deployment(api, "auth-service")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    assert dep["metadata"]["generation"] == deployed["before"]["generation"] + 1
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == 2
    assert images(api, app="auth-service", version="blue") == [NEW] and len(pods(api, app="auth-service", version="blue")) == 2


def test_blue_green_switch_behind_a_health_gate_and_switch_back(deployed, stack):
    api = stack["api"]
    refused = result(deployed, "gate fails")
    assert "health gate on green failed (unhealthy" in refused and "still selects blue, nothing was switched" in refused, refused
    first, again = result(deployed, "switch"), result(deployed, "switch again")
    assert first["changed"] is True and first["from"] == "blue" and first["to"] == "green" and first["health"].startswith("healthy")
    assert again["changed"] is False and again["to"] == "green" and "already serves" in again["note"]
    after_switch = deployed["tasks"]["selector after the switch"]["resources"][0]
    assert after_switch["spec"]["selector"] == {"app": "auth-service", "version": "green"}
    assert after_switch["metadata"]["annotations"]["sark.ops/blue-green-previous"] == "blue"
    back, back_again = result(deployed, "back"), result(deployed, "back again")
    assert back["changed"] is True and back["from"] == "green" and back["to"] == "blue"
    assert back_again["changed"] is False and "no earlier colour recorded" in back_again["note"]
    # read independently: the Service selects blue again; the green release stays deployed and ready on the new image
    assert deployed["before"]["selector"] == service_selector(api) == {"app": "auth-service", "version": "blue"}
    assert deployment(api, "auth-service-green")["status"]["readyReplicas"] == 2
    assert images(api, app="auth-service", version="green") == [GREEN]
    assert "sark.ops/blue-green-previous" not in (api.call(lambda emu: emu.get("", "services", NAMESPACE, "auth-service"))["metadata"]
                                                  .get("annotations") or {})


def test_canary_completes_when_errors_stay_low(deployed, stack):
    done = result(deployed, "canary")
    assert done["completed"] is True and done["rolled_back"] is False, done
    assert [s["weight"] for s in done["passed_steps"]] == [10, 50, 100]
    assert all(s["verdict"] == "pass" and s["requests"] >= 4 and s["errors"] == 0 for s in done["passed_steps"]), done["passed_steps"]
    assert done["weights"] == {"stable": 0, "canary": 100, "other": 0}
    # read independently: the traffic generator saw the VirtualService take the steps, in order, up to 100 %
    history = deployed["history"]
    assert history[:history.index(100) + 1][-3:] == [10, 50, 100], history


def test_canary_rolls_itself_back_when_the_error_rate_rises(deployed, stack):
    api, prom = stack["api"], stack["prom"]
    assert deployed["broken_at"] == 25, deployed["history"]
    msg = result(deployed, "bad canary")
    assert "rolled back at 25 %" in msg and "is above 10.00%" in msg, msg
    assert "sends 100 % to auth-service and 0 % to auth-service-canary" in msg, msg
    # read independently: the VirtualService sends nothing to the canary; the steps the generator saw end at 0 %;
    # the real counters in Prometheus show the canary's 500s
    assert weights(api) == {"auth-service": 100, "auth-service-canary": 0}
    history = deployed["history"]
    assert history[history.index(100):][-3:] == [10, 25, 0], history
    assert prom_value(prom, 'sum(http_requests_total{job="auth-service-canary",status="500"})') > 0
    assert prom_value(prom, 'sum(http_requests_total{job="auth-service-canary",status="200"})') > 20
    assert images(api, app="auth-service", version="canary") == [BAD]
