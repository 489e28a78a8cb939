"""AUDITRON's queue backlog incident check (seed 004 Troubleshooting "Queue Backlog")."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import IncidentCheckError, compare, queue_backlog


def queue(waiting=150, failed=2, dead=0, paused=False, threshold=100, reasons=("OpenAI 429",)):
    return {"via": "bullmq", "paused": paused,
            "counts": {"waiting": waiting, "active": 0, "completed": 0, "failed": failed, "delayed": 0, "paused": 0},
            "backlog": {"jobs": waiting, "threshold": threshold, "exceeded": waiting > threshold},
            "dead_letter": {"count": dead}, "failed_jobs": [{"failed_reason": r} for r in reasons]}


def workers(name="auditron-worker", desired=2, ready=2):
    return {"workloads": [{"kind": "Deployment", "name": name, "replicas": {"desired": desired, "ready": ready}}]}


def test_a_backlog_names_its_causes_and_scales_the_workers():
    check = queue_backlog(queue(), workers(), "auditron-worker")
    assert check["id"] == "queue_backlog" and check["verdict"] == "WARNING"
    assert check["details"]["causes"] == ["backlog_growing", "failing_jobs", "too_few_workers"]
    assert check["details"]["fix"] == "scale_out" and check["details"]["resources"]["scale"] == {"from": 2, "to": 4}
    assert "OpenAI 429" in check["reason"] and "scale to 4" in check["reason"]
    assert (check["figure"], check["unit"]) == (2, "ready replicas")


def test_scaling_out_counts_as_an_improvement_not_a_resolution():
    before = queue_backlog(queue(), workers(), "auditron-worker")
    after = queue_backlog(queue(), workers(desired=4, ready=4), "auditron-worker")
    outcome = compare(before, after)
    assert outcome["improved"] and not outcome["resolved"]
    assert not compare(before, queue_backlog(queue(), workers(desired=4, ready=2), "auditron-worker"))["improved"]


@pytest.mark.parametrize("desired, expected", [(1, 2), (6, 10), (10, None)])
def test_the_worker_count_is_bounded(desired, expected):
    check = queue_backlog(queue(), workers(desired=desired, ready=desired), "auditron-worker", max_replicas=10)
    scale = check["details"]["resources"]["scale"]
    assert (scale or {}).get("to") == expected
    assert ("too_few_workers" in check["details"]["causes"]) == (expected is not None)


def test_no_backlog_is_ok_and_names_dead_letters_and_a_pause():
    assert queue_backlog(queue(waiting=100, failed=0), workers(), "auditron-worker")["verdict"] == "OK"
    check = queue_backlog(queue(waiting=3, failed=0, dead=2, paused=True), workers(), "auditron-worker")
    assert check["verdict"] == "WARNING" and check["details"]["causes"] == ["queue_paused", "dead_letter_jobs"]
    assert check["details"]["fix"] is None and "resumed" in check["reason"]


def test_an_unreadable_queue_and_a_missing_worker():
    check = queue_backlog({"failed": True, "msg": "Redis unreachable"}, workers(), "auditron-worker")
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["queue_unreadable"]
    check = queue_backlog(queue(), workers(name="other"), "auditron-worker")
    assert "not found" in check["reason"] and "too_few_workers" not in check["details"]["causes"]
    with pytest.raises(IncidentCheckError, match="workloads"):
        queue_backlog(queue(), {}, "auditron-worker")
