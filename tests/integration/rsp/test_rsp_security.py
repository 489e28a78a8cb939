"""sark.ops.rsp_security (seed 003 security procedures) against the test Kubernetes API with RSP's workloads and
cert-manager (tests/harness/k8s/certmanager.py, tests/harness/k8s/rsp.py: Certificate auth-service-tls whose Secret
holds a certificate with 10 days left), and a real TLS server presenting that Secret's certificate. One playbook run;
every state is read back from the Kubernetes API itself afterwards and between the steps."""

import base64
import datetime
import json

from cryptography import x509

from harness.k8s.rsp import CERTIFICATE, NAMESPACE, rsp_scenario
from harness.k8s.server import KubeAPI
from harness.servers import free_port
from harness.tls_server import TlsServer


CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}


def role(title, entry, variables, check_mode=False):
    """An include of one entry point in a block whose rescue keeps the failure message; the result under `title`."""
    apply = "\n        apply: {check_mode: true}" if check_mode else ""
    return """
- name: {title}
  block:
    - name: {title} (run)
      ansible.builtin.include_role:
        name: sark.ops.rsp_security
        tasks_from: {entry}{apply}
      vars: {vars}
    - name: {title}
      ansible.builtin.debug: {{var: rsp_security_result}}
  rescue:
    - name: {title}
      ansible.builtin.debug: {{msg: "{{{{ ansible_failed_result.msg }}}}"}}
""".format(title=title, entry=entry, apply=apply, vars=json.dumps(variables))


def secret_cert(api):
    secret = api.call(lambda emu: emu.get("", "secrets", NAMESPACE, CERTIFICATE))
    return secret, x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))


def test_certificates_check_renew_and_served_certificate(playbook):
    with KubeAPI(scenario=rsp_scenario("runbook")) as api:
        secret, old_cert = secret_cert(api)
        with TlsServer(base64.b64decode(secret["data"]["tls.crt"]), base64.b64decode(secret["data"]["tls.key"])) as tls:
            served = {"host": "127.0.0.1", "port": tls.port, "certificate": CERTIFICATE}
            closed = {"host": "127.0.0.1", "port": free_port(), "certificate": CERTIFICATE}
            renew = {"rsp_security_renew_interval": 0.2, "rsp_security_renew_timeout": 30}
            tasks = "".join([
                role("check before", "certificates", {"rsp_security_tls_endpoints": [served]}),
                role("renew check mode", "certificate_renew", renew, check_mode=True),
                """
- name: read back after check mode
  kubernetes.core.k8s_info: {api_version: cert-manager.io/v1, kind: Certificate, namespace: rust-security, name: auth-service-tls}
  register: after_check
- name: read back after check mode
  ansible.builtin.debug: {var: after_check}
""",
                role("renew", "certificate_renew", renew),
                role("renew again", "certificate_renew", renew),
                role("renew unknown", "certificate_renew", dict(renew, rsp_security_certificate="no-such-cert")),
                role("check after", "certificates", {"rsp_security_tls_endpoints": [served, closed]}),
                role("check bad thresholds", "certificates", {"rsp_security_cert_warn_days": 5, "rsp_security_cert_critical_days": 7}),
                role("rbac", "rbac", {"rsp_security_rbac_expected": [CONFIGMAPS]}),
                role("rbac check mode", "rbac", {"rsp_security_rbac_expected": [CONFIGMAPS, SECRETS]}, check_mode=True),
                role("rbac bad subject", "rbac", {"rsp_security_rbac_subject": "auth service"}),
            ])
            text = "- name: rsp security test\n  hosts: localhost\n  gather_facts: false\n  tasks:\n" + "\n".join(
                "    " + line if line.strip() else line for line in tasks.strip("\n").splitlines()) + "\n"
            result = playbook(text, envvars=dict(api.env, ANSIBLE_PIPELINING="True"))
            assert result.status == "successful", result.stdout_text[-6000:]
            res = {}
            for event in result.events:
                data = event.get("event_data") or {}
                if event.get("event") == "runner_on_ok":
                    res[data.get("task", "")] = data["res"]
            assert tls.handshakes >= 2
        crt = api.call(lambda emu: emu.get("cert-manager.io", "certificates", NAMESPACE, CERTIFICATE))
        stored_reviews = api.call(lambda emu: [res.plural for res, dummy in emu.all_objects() if res.group == "authorization.k8s.io"])
        role_after = api.call(lambda emu: emu.get("rbac.authorization.k8s.io", "roles", NAMESPACE, "auth-service"))
        secret_after, new_cert = secret_cert(api)

    # 1. the check: 10 days left is a WARNING (30/7), the served certificate is the Secret's; due for renewal
    before = res["check before"]["rsp_security_result"]
    item = before["certificates"][0]
    assert before["verdict"] == "WARNING" and before["renew"] == [CERTIFICATE] and before["changed"] is False
    assert 9.9 < item["days_left"] <= 10 and item["revision"] == 1 and item["ready"]
    assert item["served"][0]["not_after"] == item["not_after"] and item["served"][0]["verdict"] == "WARNING"
    # 2. check mode: planned, and the Certificate read back through the API is unchanged (no Issuing condition)
    planned = res["renew check mode"]["rsp_security_result"]
    assert planned["changed"] is True and planned["check_mode"] is True
    assert planned["planned_actions"][0]["action"] == "set_issuing_condition"
    status = res["read back after check mode"]["after_check"]["resources"][0]["status"]
    assert status["revision"] == 1 and [c["type"] for c in status["conditions"]] == ["Ready"]
    # 3. the renewal: cert-manager issued revision 2, 90 days, Issuing gone; the Secret holds the new certificate
    renewed = res["renew"]["rsp_security_result"]["certificate"]
    assert renewed["renewed"] and renewed["revision_before"] == 1 and renewed["revision"] == 2 and renewed["days_left"] > 89
    assert crt["status"]["revision"] == 2 and [c["type"] for c in crt["status"]["conditions"]] == ["Ready"]
    assert crt["status"]["notAfter"] == renewed["not_after"]
    assert new_cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ") == crt["status"]["notAfter"]
    assert new_cert.serial_number != old_cert.serial_number and secret_after["data"]["tls.key"] != secret["data"]["tls.key"]
    # 4. the second run: not due any more, nothing changes (revision stayed 2 above)
    again = res["renew again"]["rsp_security_result"]
    assert again["changed"] is False and not again["certificate"]["renewed"] and "later than 30" in again["certificate"]["reason"]
    # 5. bad input names what to fix
    assert "Certificate rust-security/no-such-cert not found" in res["renew unknown"]["msg"]
    # 6. after the renewal the server still presents the old certificate (it has not reloaded the Secret), and an
    #    endpoint without a TLS server is CRITICAL
    after = res["check after"]["rsp_security_result"]
    item = after["certificates"][0]
    assert after["verdict"] == "CRITICAL" and after["renew"] == []
    assert [s["verdict"] for s in item["served"]] == ["WARNING", "CRITICAL"]
    assert any("serves an older certificate" in r for r in item["reasons"])
    assert item["served"][1]["reasons"][0].startswith("no TLS handshake")
    assert "critical_days (7) must not be more than warn_days (5)" in res["check bad thresholds"]["msg"]
    # 7. RBAC (kubectl auth can-i --list --as=system:serviceaccount:rust-security:auth-service): the Role also reads
    #    every Secret - too broad, and "list secrets" is allowed although it must not be; pods/exec is refused
    rbac = res["rbac"]["rsp_security_result"]
    assert rbac["subject"] == "system:serviceaccount:rust-security:auth-service" and rbac["verdict"] == "CRITICAL"
    assert [(f["severity"], f["kind"], f["permission"]) for f in rbac["findings"]] == [
        ("CRITICAL", "must_not", "list secrets"), ("CRITICAL", "too_broad", "get secrets"), ("CRITICAL", "too_broad", "list secrets")]
    assert "RoleBinding \"auth-service/rust-security\"" in rbac["findings"][0]["message"]
    # the same review in check mode (server-side dry runs) with secrets expected: only the must-not access is left
    checked = res["rbac check mode"]["rsp_security_result"]
    assert [(f["kind"], f["permission"]) for f in checked["findings"]] == [("must_not", "list secrets")] and checked["changed"] is False
    assert "is not a user name" in res["rbac bad subject"]["msg"]
    # nothing was stored, the Role is as seeded
    assert stored_reviews == [] and [r["resources"] for r in role_after["rules"]] == [["configmaps"], ["secrets"]]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert old_cert.not_valid_after_utc < now + datetime.timedelta(days=11)
