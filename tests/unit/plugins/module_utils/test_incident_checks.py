import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import (
    IncidentCheckError, api_workload, compare, db_connections, siem, worst)

SHAPE = {"id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"}


def pg(total, maximum=100, reserved=3, available=True):
    if not available:
        return {"is_available": False, "error": "connection refused"}
    return {"is_available": True, "connections": {"total": total, "max_connections": maximum,
                                                  "superuser_reserved_connections": reserved,
                                                  "by_state": {"idle": total - 1, "active": 1}}}


def idle(pids):
    return {"matched": len(pids), "backends": [{"pid": p, "state": "idle"} for p in pids]}


@pytest.mark.parametrize("total, verdict", [(10, "OK"), (77, "OK"), (78, "WARNING"), (92, "WARNING"), (93, "CRITICAL"), (97, "CRITICAL")])
def test_db_connections_thresholds_are_shares_of_the_usable_connections(total, verdict):
    check = db_connections(pg(total), idle([]))
    assert set(check) == SHAPE
    assert check["verdict"] == verdict
    assert check["figure"] == total and check["threshold"] == 77
    assert ("too_many_connections" in check["details"]["causes"]) == (verdict != "OK")


def test_db_connections_names_the_idle_sessions_and_the_fix():
    check = db_connections(pg(94), idle([303, 101, 202]))
    assert check["details"]["fix"] == "terminate_idle"
    assert check["details"]["causes"] == ["too_many_connections", "idle_sessions"]
    assert check["details"]["idle_terminable"] == 3 and check["details"]["idle_pids"] == [101, 202, 303]
    assert "3 idle backends can be terminated" in check["reason"]


def test_db_connections_without_idle_sessions_raises_max_connections():
    check = db_connections(pg(94), idle([]))
    assert check["verdict"] == "CRITICAL" and check["details"]["fix"] == "raise_max_connections"
    assert check["details"]["causes"] == ["too_many_connections", "connections_at_limit"]
    assert "raise max_connections 100 -> 200" in check["reason"]


def test_db_connections_at_the_target_already_has_no_automated_fix():
    check = db_connections(pg(194, maximum=200), idle([]))
    assert check["verdict"] == "CRITICAL" and check["details"]["fix"] is None
    assert check["details"]["causes"] == ["too_many_connections"]
    assert "already 200" in check["reason"]


def test_db_connections_idle_sessions_come_before_raising_the_limit():
    check = db_connections(pg(94), idle([7]), setting={"setting": "100", "pending_restart": False})
    assert check["details"]["fix"] == "terminate_idle" and "connections_at_limit" not in check["details"]["causes"]


def dbs(*names):
    return {"is_available": True, "databases": [{"name": n} for n in names]}


def test_db_missing_is_a_restore_not_a_connection_problem():
    check = db_connections(pg(5), idle([]), databases=dbs("postgres", "sark_audit"), database="sark")
    assert check["verdict"] == "CRITICAL"
    assert check["details"]["causes"] == ["database_missing"] and check["details"]["fix"] == "restore_backup"
    assert check["details"]["database_exists"] is False
    assert "needs an explicit confirmation" in check["reason"]
    present = db_connections(pg(5), idle([]), databases=dbs("postgres", "sark"), database="sark")
    assert present["verdict"] == "OK" and present["details"]["database_exists"] is True
    unread = db_connections(pg(5), idle([]), databases={"is_available": False}, database="sark")
    assert unread["verdict"] == "OK" and unread["details"]["database_exists"] is None


def test_db_disk_full_is_named_from_the_server_error():
    check = db_connections({"is_available": False, "error": "could not extend file base/16384/2619: No space left on device"},
                           None)
    assert check["details"]["causes"] == ["disk_full"] and check["details"]["fix"] is None
    assert "expand the volume" in check["reason"]


def test_db_pending_restart_is_reported():
    check = db_connections(pg(10), idle([]), setting={"setting": "100", "pending_restart": True})
    assert check["details"]["pending_restart"] is True and "waits for a restart" in check["reason"]


def test_db_unreachable_is_critical_with_the_error():
    check = db_connections(pg(0, available=False), None)
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["database_unreachable"]
    assert "connection refused" in check["reason"]


def test_db_connections_rejects_a_result_without_connections():
    with pytest.raises(IncidentCheckError, match="connections"):
        db_connections({"is_available": True}, {})


def workload(pods, revision="2", ready=3, desired=3, updated=1, revisions=None):
    return {"workloads": [{"kind": "Deployment", "name": "sark", "verdict": "CRITICAL" if pods else "OK", "revision": revision,
                           "images": ["ghcr.io/sark/sark-crashloop:2.1.1"],
                           "replicas": {"desired": desired, "ready": ready, "updated": updated},
                           "pods": pods, "reasons": [],
                           "revisions": revisions if revisions is not None else [
                               {"revision": 2, "images": ["ghcr.io/sark/sark-crashloop:2.1.1"]},
                               {"revision": 1, "images": ["ghcr.io/sark/sark:2.1.0"]}]}]}


CRASH = {"name": "sark-b-1", "reason": "CrashLoopBackOff", "restarts": 4, "last_termination": {"reason": "Error", "exit_code": 1}}
OOM = {"name": "sark-b-2", "reason": "CrashLoopBackOff", "restarts": 4, "last_termination": {"reason": "OOMKilled", "exit_code": 137}}


def test_api_crash_looping_newest_revision_is_a_bad_deployment_to_roll_back():
    check = api_workload(workload([CRASH]), "sark")
    assert set(check) == SHAPE
    assert check["verdict"] == "CRITICAL"
    assert check["details"]["causes"] == ["bad_deployment"] and check["details"]["fix"] == "rollback"
    assert check["details"]["previous_revision"] == "1" and check["details"]["previous_images"] == ["ghcr.io/sark/sark:2.1.0"]
    assert "roll back" in check["reason"]


def test_api_oom_killed_asks_for_memory_not_a_rollback():
    check = api_workload(workload([OOM]), "sark")
    assert check["details"]["causes"] == ["out_of_memory"] and check["details"]["fix"] == "raise_memory_limit"


def test_api_crash_without_an_earlier_revision_cannot_roll_back():
    check = api_workload(workload([CRASH], revision="1", revisions=[{"revision": 1, "images": ["x"]}]), "sark")
    assert check["details"]["fix"] is None and check["details"]["causes"] == ["not_ready"]


def test_api_healthy_and_missing():
    assert api_workload(workload([], updated=3), "sark")["verdict"] == "OK"
    missing = api_workload(workload([]), "other")
    assert missing["verdict"] == "CRITICAL" and missing["details"]["causes"] == ["not_found"]


def test_api_not_ready_without_failing_pods_is_a_warning():
    check = api_workload(workload([], ready=1), "sark")
    assert check["verdict"] == "WARNING" and check["details"]["fix"] is None


def breakers(splunk="closed", datadog="closed"):
    return {"in_redis": True, "breakers": [{"name": "splunk", "state": splunk, "failures": 7},
                                           {"name": "datadog", "state": datadog, "failures": 0}]}


def queue(failed, queued=0):
    return {"in_redis": True, "queue": {"length": queued}, "failed_events": {"length": failed}}


def test_siem_open_breakers_then_failed_events_in_the_seed_order():
    check = siem(breakers("open", "open"), queue(25))
    assert set(check) == SHAPE
    assert check["verdict"] == "CRITICAL"
    assert check["details"]["causes"] == ["circuit_breaker_open", "failed_events_waiting"]
    assert check["details"]["fix"] == "reset_breaker" and check["details"]["open_breakers"] == ["datadog", "splunk"]
    after_reset = siem(breakers(), queue(25))
    assert after_reset["verdict"] == "WARNING" and after_reset["details"]["fix"] == "requeue_failed"
    assert siem(breakers(), queue(0, queued=25))["verdict"] == "OK"


def test_siem_half_open_counts_as_not_closed():
    assert siem(breakers("half_open"), queue(0))["details"]["open_breakers"] == ["splunk"]


def test_siem_in_process_memory_is_unknown_with_the_restart_advice():
    check = siem({"in_redis": False, "breakers": []}, {"in_redis": False})
    assert check["verdict"] == "UNKNOWN" and "restart" in check["reason"]
    renamed = siem({"breakers": []}, {"not_in_layout": "the sark_v2 layout keeps the SIEM event queue in memory"})
    assert renamed["verdict"] == "UNKNOWN" and renamed["reason"].startswith("the sark_v2 layout keeps")


@pytest.mark.parametrize("before, after, improved, resolved", [
    (("CRITICAL", 94), ("OK", 21), True, True),
    (("CRITICAL", 2), ("WARNING", 1), True, False),
    (("CRITICAL", 94), ("CRITICAL", 90), True, False),
    (("CRITICAL", 94), ("CRITICAL", 94), False, False),
    (("WARNING", 80), ("CRITICAL", 95), False, False),
    (("CRITICAL", 94), ("UNKNOWN", None), False, False),
])
def test_compare(before, after, improved, resolved):
    def chk(verdict, figure):
        return {"id": "db_connections", "title": "t", "verdict": verdict, "figure": figure, "unit": "connections"}
    outcome = compare(chk(*before), chk(*after))
    assert (outcome["improved"], outcome["resolved"]) == (improved, resolved)


def test_compare_ready_replicas_higher_is_better_and_mismatched_checks_fail():
    def chk(figure):
        return {"id": "api_workload", "title": "t", "verdict": "CRITICAL", "figure": figure, "unit": "ready replicas"}
    assert compare(chk(1), chk(2))["improved"] and not compare(chk(2), chk(1))["improved"]
    with pytest.raises(IncidentCheckError, match="differ"):
        compare(chk(1), dict(chk(1), id="siem"))


def test_worst():
    assert worst([]) == "OK"
    assert worst([{"verdict": "WARNING"}, {"verdict": "CRITICAL"}]) == "CRITICAL"
    assert worst([{"verdict": "CRITICAL"}, {"verdict": "UNKNOWN"}]) == "UNKNOWN"
