"""sark_incident_comms through ansible-playbook: documents rendered from a real timeline, written, sent, recorded."""

import json
import os

from harness.webhook_receiver import WebhookReceiver

PLAY = """
- name: Incident communication from the timeline
  hosts: localhost
  gather_facts: false
  vars:
    run_dir: "{{ base }}/INC-9"
  tasks:
    - name: Record what happened
      sark.ops.sark_incident_record:
        run_dir: "{{ run_dir }}"
        incident_id: INC-9
        severity: P1
        entries:
          - {id: d, phase: detection, kind: alert, action: Alert received (HighLatency), time: "2025-11-22T10:05:00Z"}
          - {id: c, phase: diagnose, kind: check, action: p95 latency, status: critical, result: {p95_seconds: 1.4}, time: "2025-11-22T10:12:00Z"}
          - {id: r, phase: remediate, kind: change, action: VACUUM ANALYZE on servers, status: changed, time: "2025-11-22T10:20:00Z"}

    - name: A document with blanks is not sent
      block:
        - name: Try to send the stakeholder e-mail with blanks (must fail)
          ansible.builtin.include_role:
            name: sark.ops.sark_incident_comms
          vars:
            sark_incident_comms_run_dir: "{{ run_dir }}"
            sark_incident_comms_incident_id: INC-9
            sark_incident_comms_documents: [stakeholder_email]
            sark_incident_comms_formats: [text]
            sark_incident_comms_send: [{document: stakeholder_email, target: webhook, options: {webhook_url: "{{ hook }}/mail"}}]
        - name: Sent anyway
          ansible.builtin.fail:
            msg: the e-mail with blanks was sent
      rescue:
        - name: Check why it was refused
          ansible.builtin.assert:
            that:
              - ansible_failed_result.msg is search('stakeholder_email still has blanks')
              - ansible_failed_result.msg is search('name and e-mail')

    - name: Write everything and send the complete customer notice
      ansible.builtin.include_role:
        name: sark.ops.sark_incident_comms
      vars:
        sark_incident_comms_run_dir: "{{ run_dir }}"
        sark_incident_comms_incident_id: INC-9
        sark_incident_comms_documents: [customer_notice, status_page, postmortem]
        sark_incident_comms_facts:
          title: Slow API responses
          impact: [Tool invocations may experience increased latency]
          eta: Approximately 1 hour
          support_contact: support@example.com
        sark_incident_comms_send: [{document: customer_notice, target: webhook, options: {webhook_url: "{{ hook }}/notice"}}]
"""


def test_documents_written_sent_and_recorded(playbook, tmp_path):
    with WebhookReceiver() as hook:
        result = playbook(PLAY, extravars={"base": str(tmp_path), "hook": hook.url})
        assert result.rc == 0, result.stdout_text
        assert hook.received("/mail") == []
        sent = hook.received("/notice")
    assert len(sent) == 1
    text = sent[0]["json"]["message"] if "message" in (sent[0]["json"] or {}) else json.dumps(sent[0]["json"])
    assert "We will provide updates every 60 minutes." in text  # P1 cadence
    assert "TO COMPLETE" not in text and "support@example.com" in text
    docs = tmp_path / "INC-9" / "documents"
    names = ("customer_notice", "status_page", "postmortem")
    # the refused run wrote its e-mail for a person to send; the second run every format of its three documents
    assert sorted(os.listdir(docs)) == sorted(["stakeholder_email.txt"] + ["%s.%s" % (d, x) for d in names for x in ("md", "html", "txt")])
    page = (docs / "status_page.md").read_text()
    assert "## Monitoring" in page and "Posted: 2025-11-22 10:20 UTC" in page and "## Resolved" not in page
    postmortem = (docs / "postmortem.html").read_text()
    assert '<mark class="to-complete">[TO COMPLETE: root cause and its contributing factors]</mark>' in postmortem
    assert "VACUUM ANALYZE on servers" in postmortem
    timeline = [json.loads(line) for line in (tmp_path / "INC-9" / "timeline.jsonl").read_text().splitlines()]
    comms = [e for e in timeline if e["kind"] == "communication"]
    # the refused run stopped before recording anything; the second run records its three documents
    assert [e["action"] for e in comms if e["details"]["document"] == "customer_notice"][-1] == "sent customer_notice via webhook"
    assert {e["details"]["document"] for e in comms} == {"customer_notice", "status_page", "postmortem"}
    assert [e["phase"] for e in comms if e["details"]["document"] == "postmortem"] == ["post_incident"]
