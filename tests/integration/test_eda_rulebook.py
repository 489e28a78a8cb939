"""End to end: the shipped Prometheus rules fire in a real Prometheus -> a real Alertmanager -> our event
source (extensions/eda/plugins/event_source/alertmanager.py) in a real ansible-rulebook process running the
shipped rulebook (extensions/eda/rulebooks/sark_alerts.yml) -> a playbook runs and writes its record."""

import copy
import glob
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from harness.servers import AlertmanagerServer, PrometheusServer, free_port, port_open, stop_pid, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(ROOT, "extensions", "prometheus", "sark-alerts.yml")
TOKEN = "eda-test-token-6f1d"


class SarkPrometheus(PrometheusServer):
    """Prometheus scraping a SARK API job whose only target does not answer (up == 0)."""

    def __init__(self, dead_port, **kwargs):
        super().__init__(**kwargs)
        self.dead_port = dead_port

    def write_config(self):
        path = super().write_config()
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        config["scrape_configs"].append({"job_name": "sark-api", "scrape_interval": "1s", "scrape_timeout": "500ms",
                                         "static_configs": [{"targets": ["127.0.0.1:%d" % self.dead_port]}]})
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        return path


class TokenAlertmanager(AlertmanagerServer):
    """Alertmanager sending its webhook with a bearer token, as the rulebook's source requires."""

    def write_config(self):
        path = super().write_config()
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        config["receivers"][0]["webhook_configs"][0]["http_config"] = {"authorization": {"type": "Bearer", "credentials": TOKEN}}
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        return path


def fast_rules(tmp_path):
    """The shipped rules with APIDown's `for` cut to 0s (the expression is the shipped one)."""
    with open(RULES, encoding="utf-8") as handle:
        rules = yaml.safe_load(handle)
    fast = copy.deepcopy(rules)
    for group in fast["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule["alert"] == "APIDown":
                rule["for"] = "0s"
    path = tmp_path / "sark-alerts-fast.yml"
    path.write_text(yaml.safe_dump(fast))
    return str(path)


def post(url, body, token=TOKEN):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # nosec - loopback
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def records(record_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(record_dir, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            out.append(json.load(handle))
    return out


@pytest.fixture(scope="module")
def eda_stack(installed_collection, tmp_path_factory):
    work = tmp_path_factory.mktemp("eda")
    record_dir = work / "records"
    record_dir.mkdir()
    source_port = free_port()
    playbook = os.path.join(HERE, "files", "eda_record_run.yml")
    (work / "inventory.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                                        "      ansible_python_interpreter: %s\n" % sys.executable)
    with open(os.path.join(ROOT, "extensions", "eda", "rulebooks", "sark_alerts_vars.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update({"sark_eda_host": "127.0.0.1", "sark_eda_port": source_port, "sark_eda_token": TOKEN,
                      "sark_eda_playbooks": {k: playbook for k in variables["sark_eda_incidents"]},
                      "sark_eda_remediate": ["high_error_rate"]})
    (work / "vars.yml").write_text(yaml.safe_dump(variables))
    env = dict(os.environ, SARK_EDA_RECORD_DIR=str(record_dir), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(p for p in [installed_collection, os.environ.get("SARK_DEPS_COLLECTIONS", "")] if p))
    log_path = work / "rulebook.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["ansible-rulebook", "-r", "sark.ops.sark_alerts", "-i", str(work / "inventory.yml"),
                                 "--vars", str(work / "vars.yml"), "-v"], cwd=str(work), env=env,
                                stdout=log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
    try:
        def listening():
            if proc.poll() is not None:
                raise AssertionError("ansible-rulebook exited: " + log_path.read_text()[-3000:])
            return port_open(source_port)
        # ansible-rulebook starts a JVM: about 10 s alone, over a minute on a machine at load 25
        wait_for(listening, 240, "the rulebook's alertmanager source on port %d" % source_port)
        source_url = "http://127.0.0.1:%d/alerts" % source_port
        with TokenAlertmanager(webhook_url=source_url) as am:
            with SarkPrometheus(free_port(), rule_files=[fast_rules(work)], alertmanager_port=am.port) as prom:
                yield {"proc": proc, "log": log_path, "records": str(record_dir), "source": source_url, "am": am, "prom": prom}
    finally:
        stop_pid(proc.pid)


def wait_records(stack, count, what):
    def enough():
        if stack["proc"].poll() is not None:
            raise AssertionError("ansible-rulebook exited: " + stack["log"].read_text()[-3000:])
        return len(records(stack["records"])) >= count
    wait_for(enough, 90, what)
    return records(stack["records"])


def log_count(stack, text):
    return stack["log"].read_text().count(text)


def am_alert(alertname, incident, instance):
    return [{"labels": {"alertname": alertname, "sark_incident": incident, "instance": instance, "service": "sark",
                        "severity": "critical"}, "annotations": {"summary": "posted by the test"}}]


def test_prometheus_alert_runs_the_diagnose_playbook_once(eda_stack):
    first = wait_records(eda_stack, 1, "the APIDown diagnosis record")
    assert [(r["alertname"], r["incident"], r["remediate"], r["rule"]) for r in first] == \
        [("APIDown", "api_down", False, "Diagnose an incident")]

    # a storm: a second APIDown (another instance) reaches the source inside the throttle window
    accepted = log_count(eda_stack, "accepted a notification")
    req = urllib.request.Request(eda_stack["am"].url + "/api/v2/alerts", method="POST",
                                 data=json.dumps(am_alert("APIDown", "api_down", "sark-1:8000")).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - loopback
        assert resp.status == 200
    wait_for(lambda: log_count(eda_stack, "accepted a notification") > accepted,
             60, "Alertmanager's second notification at the source")

    # bad requests are rejected and logged; the source keeps running
    bad = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"severity": "critical"}}]}
    assert post(eda_stack["source"], am_body("HighErrorRate", "high_error_rate"), token=None) == 401
    assert post(eda_stack["source"], am_body("HighErrorRate", "high_error_rate"), token="wrong-token") == 401
    assert post(eda_stack["source"], b"{not json", token=TOKEN) == 400
    assert post(eda_stack["source"], bad) == 400
    log = eda_stack["log"].read_text()
    assert log.count("missing or wrong bearer token") == 2
    assert "body is not JSON" in log
    assert "not an Alertmanager webhook payload: alerts/0/labels: 'alertname' is a required property" in log
    assert TOKEN not in log and "wrong-token" not in log

    # another incident afterwards still runs (allow-listed: remediation); actions run in order, so once it
    # has finished the throttled APIDown events have been dealt with too
    assert post(eda_stack["source"], am_body("HighErrorRate", "high_error_rate")) == 202
    done = wait_records(eda_stack, 2, "the HighErrorRate record")
    assert sorted((r["alertname"], r["remediate"], r["rule"]) for r in done) == [
        ("APIDown", False, "Diagnose an incident"), ("HighErrorRate", True, "Remediate an allow-listed incident")]
    assert eda_stack["proc"].poll() is None


def am_body(alertname, incident):
    return {"version": "4", "status": "firing", "receiver": "default", "groupKey": "{}:{}", "groupLabels": {},
            "commonLabels": {"alertname": alertname}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1:1",
            "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": alertname, "sark_incident": incident},
                        "annotations": {}, "startsAt": "2026-12-01T13:00:00Z", "fingerprint": "f00"}]}
