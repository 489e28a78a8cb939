"""The incident_check filter's queue_backlog kind (AUDITRON, seed 004 "Queue Backlog"); the check itself is tested in
tests/unit/plugins/module_utils/test_incident_checks_queue.py."""

from ansible_collections.sark.ops.plugins.filter.incident_checks import incident_check


def queue(waiting=150, failed=2):
    return {"via": "bullmq", "paused": False,
            "counts": {"waiting": waiting, "active": 0, "completed": 0, "failed": failed, "delayed": 0, "paused": 0},
            "backlog": {"jobs": waiting, "threshold": 100, "exceeded": waiting > 100},
            "dead_letter": {"count": 0}, "failed_jobs": [{"failed_reason": "OpenAI 429"}]}


def workers(name, desired, ready):
    return {"workloads": [{"kind": "Deployment", "name": name, "replicas": {"desired": desired, "ready": ready}}]}


def test_the_filter_kind():
    data = {"queue": queue(), "workloads": workers("auditron-api", 3, 3)}
    assert incident_check(data, "queue_backlog", worker="auditron-api")["details"]["resources"]["scale"]["to"] == 6
