import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.incident_documents import (
    DOCUMENTS,
    incident_documents,
    FilterModule,
    blanks,
    incident_document,
    incident_summary,
)


def e(time, phase, kind, action, status=None, result=None, details=None, actor="jdoe"):
    return {"id": "%s-%s" % (phase, time), "incident_id": "INC-2025-11-22-001", "time": "2025-11-22T%s:00Z" % time,
            "phase": phase, "kind": kind, "action": action, "status": status, "result": result, "details": details or {},
            "actor": actor, "severity": "P0"}


# seed 002's example timeline (L978-989), as sark_incident_record would have recorded it
TIMELINE = [
    e("10:20", "diagnose", "check", "PostgreSQL connections", "critical", {"connections": 100, "max_connections": 100}),
    e("10:05", "detection", "alert", "Alert received (Prometheus: high error rate)"),
    e("10:15", "communication", "communication", "Team mobilized", "info"),
    e("10:25", "diagnose", "decision", "Root cause identified", None, None, {"root_cause": "database connection exhaustion"}),
    e("10:30", "remediate", "change", "Increased connection pool", "changed", {"pool": 50}),
    e("10:50", "verify", "check", "Health checks pass", "ok"),
    e("11:00", "verify", "check", "Latency normal", "ok"),
]


def test_summary_finds_the_milestones_in_time_order():
    s = incident_summary(TIMELINE, {"title": "API Outage"})
    assert [(m["event"], m["time"]) for m in s["milestones"]] == [
        ("Incident detected", "10:05"), ("Team notified", "10:15"), ("Root cause identified", "10:25"),
        ("Fix deployed", "10:30"), ("Services restored", "11:00")]
    assert s["duration_minutes"] == 55 and s["status"] == "Resolved" and s["severity"] == "P0"
    assert s["incident_id"] == "INC-2025-11-22-001" and s["date"] == "2025-11-22"
    assert s["findings"] == ["PostgreSQL connections: connections 100, max_connections 100"]
    assert s["actions_taken"] == ["10:30 Increased connection pool (pool 50)"]
    assert [r["time"] for r in s["timeline"]] == ["10:05", "10:15", "10:20", "10:25", "10:30", "10:50", "11:00"]


def test_status_follows_the_timeline():
    assert incident_summary(TIMELINE[:3])["status"] == "Identified"  # a critical finding
    assert incident_summary([TIMELINE[1]])["status"] == "Investigating"
    assert incident_summary(TIMELINE[:5])["status"] == "Monitoring"
    # a failed verification after the fix: not restored
    failed = incident_summary(TIMELINE + [e("11:05", "verify", "check", "Redis healthy", "critical")])
    assert failed["status"] == "Monitoring" and failed["milestones"][4]["time"] is None and failed["duration_minutes"] is None
    # a later fix reopens the verification window
    refix = incident_summary(TIMELINE + [e("11:10", "remediate", "change", "restart", "changed")])
    assert refix["status"] == "Monitoring"


def test_every_document_in_every_format_marks_its_blanks():
    s = incident_summary(TIMELINE, {"title": "API Outage"})
    for document in DOCUMENTS:
        for fmt in ("markdown", "html", "text"):
            text = incident_document(s, document, fmt)
            assert "TO COMPLETE" in text or document == "status_page", (document, fmt)
            if fmt == "html":
                assert text.startswith("<!DOCTYPE html>") and "<script" not in text
                if "TO COMPLETE" in text:
                    assert '<mark class="to-complete">' in text


def test_postmortem_and_report_fill_what_is_known():
    s = incident_summary(TIMELINE, {"title": "API Outage", "root_cause": "Connection pool too small",
                                    "action_items": [{"action": "Increase pool to 50", "owner": "Jane Smith", "due": "2025-11-23",
                                                      "status": "Done"}]})
    pm = incident_document(s, "postmortem")
    assert pm.startswith("# Post-Mortem: API Outage - 2025-11-22")
    assert "lasting 55 minutes" in pm and "55 minutes (10:05 - 11:00)" in pm
    assert "| Increase pool to 50 | Jane Smith | 2025-11-23 | Done |" in pm
    assert "| 2025-11-22 10:30 UTC | remediate | jdoe | Increased connection pool | changed pool 50 |" in pm
    assert "Connection pool too small" in pm and "what went well" in blanks(pm)
    report = incident_document(s, "incident_report")
    assert "| 10:25 | Root cause identified - Root cause identified |" in report
    assert "**Response Time:** 10 minutes" in report and "1-2 sentence summary of incident and impact" in blanks(report)


def test_communications():
    s = incident_summary(TIMELINE[:5], {"title": "API Outage", "impact": "API requests failing with 503 errors"})
    update = incident_document(s, "status_update", "text")
    assert update.startswith("Subject: [SARK] Incident Update - API Outage") and "Status: Monitoring" in update
    assert "10:30 Increased connection pool (pool 50)" in update and "best estimate" in blanks(update)
    notice = incident_document(s, "customer_notice", "markdown")
    assert "We will provide updates every 30 minutes." in notice  # P0 cadence
    page = incident_document(s, "status_page")
    assert [line for line in page.splitlines() if line.startswith("## ")] == ["## Investigating", "## Identified", "## Monitoring"]
    assert "Posted: 2025-11-22 10:30 UTC" in page
    mail = incident_document(s, "stakeholder_email", "text")
    assert mail.startswith("Subject: [P0] SARK Production Incident - API Outage")
    assert "Root cause identified: 10:25 UTC" in mail and "name and e-mail" in blanks(mail)


def test_html_escapes():
    s = incident_summary([e("10:05", "detection", "alert", "<script>alert(1)</script>")], {"title": "A & B"})
    page = incident_document(s, "postmortem", "html")
    assert "<script>" not in page and "&lt;script&gt;" in page and "A &amp; B" in page


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="unknown fact"):
        incident_summary(TIMELINE, {"titel": "x"})
    with pytest.raises(AnsibleFilterError, match="status="):
        incident_summary(TIMELINE, {"status": "Fixed"})
    with pytest.raises(AnsibleFilterError, match="with a time"):
        incident_summary([{"id": "x"}])
    with pytest.raises(AnsibleFilterError, match="document="):
        incident_document(incident_summary(TIMELINE), "memo")
    with pytest.raises(AnsibleFilterError, match="format="):
        incident_document(incident_summary(TIMELINE), "postmortem", "pdf")
    with pytest.raises(AnsibleFilterError, match="incident_summary"):
        incident_document({}, "postmortem")
    assert set(FilterModule().filters()) == {"incident_summary", "incident_document", "incident_blanks", "incident_documents"}


def test_incident_documents_set():
    s = incident_summary(TIMELINE, {"title": "API Outage"})
    out = incident_documents(s, ["customer_notice", "postmortem"], ["markdown", "html"], "/r/documents",
                             [{"document": "customer_notice", "target": "slack"}])
    assert out["index"]["customer_notice"]["paths"] == ["/r/documents/customer_notice.md", "/r/documents/customer_notice.html"]
    assert out["documents"]["customer_notice"]["text"].startswith("Subject: Service Disruption Notice")
    notice, postmortem = out["entries"]
    assert notice["action"] == "sent customer_notice via slack" and notice["status"] == "changed" and notice["phase"] == "communication"
    assert postmortem["action"] == "wrote postmortem for a person to complete" and postmortem["phase"] == "post_incident"
    assert postmortem["result"]["blanks"] == len(out["index"]["postmortem"]["blanks"]) > 0
    with pytest.raises(AnsibleFilterError, match="send"):
        incident_documents(s, ["postmortem"], send=[{"document": "customer_notice", "target": "slack"}])
