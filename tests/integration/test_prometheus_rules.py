"""The Prometheus alerting rules shipped in extensions/prometheus: promtool's checks and unit tests, the
runbooks' alert names, and a real Prometheus loading and evaluating the file as shipped."""

import json
import os
import subprocess
import urllib.request

import yaml

from harness.servers import PrometheusServer, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES_DIR = os.path.join(ROOT, "extensions", "prometheus")
RULES = os.path.join(RULES_DIR, "sark-alerts.yml")
# the operations runbook's "Common Alerts" table (its "DiskSpacelow" spelled as the others are), the incident
# response playbooks' SIEM integration down and failed-authentication spikes
RUNBOOK_ALERTS = {"APIDown": "P0", "HighErrorRate": "P1", "HighLatency": "P1", "DatabaseConnectionHigh": "P1",
                  "DiskSpaceLow": "P2", "SIEMForwardingFailures": "P1", "AuthenticationFailureSpike": "P1"}


def shipped_rules():
    with open(RULES, encoding="utf-8") as handle:
        return [rule for group in yaml.safe_load(handle)["groups"] for rule in group["rules"]]


def test_promtool_check_rules():
    proc = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout


def test_promtool_unit_tests():
    proc = subprocess.run(["promtool", "test", "rules", os.path.join("tests", "sark-alerts_test.yml")], cwd=RULES_DIR,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_runbook_alert_is_shipped_with_its_priority_and_incident():
    rules = {rule["alert"]: rule for rule in shipped_rules()}
    assert {name: rule["labels"]["priority"] for name, rule in rules.items()} == RUNBOOK_ALERTS
    with open(os.path.join(ROOT, "extensions", "eda", "rulebooks", "sark_alerts_vars.yml"), encoding="utf-8") as handle:
        eda_vars = yaml.safe_load(handle)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["labels"]["sark_incident"] in eda_vars["sark_eda_incidents"], name
        assert rule["labels"]["sark_incident"] in eda_vars["sark_eda_playbooks"], name
        assert rule["annotations"]["runbook"] and rule["annotations"]["summary"], name


def test_real_prometheus_loads_and_evaluates_the_shipped_rules():
    with PrometheusServer(rule_files=[RULES]) as prom:
        def evaluated():
            with urllib.request.urlopen(prom.url + "/api/v1/rules", timeout=5) as resp:  # nosec - loopback
                groups = json.load(resp)["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None
        # the groups' default interval is Prometheus' evaluation_interval (1s in the harness)
        rules = wait_for(evaluated, 30, "Prometheus evaluating the shipped rules") or evaluated()
        assert sorted(r["name"] for r in rules) == sorted(RUNBOOK_ALERTS)
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        # nothing scrapes a sark-api job here, so only APIDown's absent() branch fires (pending: for 1m)
        states = {r["name"]: r["state"] for r in rules}
        assert states.pop("APIDown") in ("pending", "firing")
        assert set(states.values()) == {"inactive"}
