"""The database pod in the db_outage diagnosis (002 playbook 4 check 1, causes 1-2; 001 database connection failure)."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import (
    IncidentCheckError, api_down, compare, db_memory_plan, db_outage, db_pod)

PG_OK = {"is_available": True, "connections": {"total": 10, "max_connections": 100, "superuser_reserved_connections": 3}}


def workloads(reason=None, ready=True, restarts=0, last=None, limit="4Gi", events=()):
    pod = {"name": "postgres-0", "ready": ready, "reason": reason, "restarts": restarts, "last_termination": last,
           "containers": [{"name": "postgres", "limits": {"memory": limit}}]}
    return {"workloads": [{"name": "postgres", "kind": "StatefulSet", "pods": [pod], "warning_events": list(events)}]}


def logs(current=(), previous=()):
    return {"pods": [{"pod": "postgres-0", "previous": False, "matches": list(current)},
                     {"pod": "postgres-0", "previous": True, "matches": list(previous)}]}


OOM = {"container": "postgres", "reason": "OOMKilled", "exit_code": 137}


def test_a_healthy_pod_adds_nothing_and_keeps_the_log_lines():
    pod = db_pod(workloads(), "postgres-0", logs(["WARNING:  too many clients already"]))
    assert pod["causes"] == [] and pod["fix"] is None and pod["ready"]
    assert pod["log_lines"] == ["WARNING:  too many clients already"] and pod["claim"] == "postgres-data-postgres-0"
    check = db_outage(PG_OK, {"matched": 0}, pod=pod)
    assert check["verdict"] == "OK" and check["details"]["causes"] == [] and "pod postgres-0 ready, 0 restarts" in check["reason"]


def test_oomkilled_raises_the_statefulset_limit_first_and_is_critical():
    events = [{"reason": "OOMKilling", "message": "Memory cgroup out of memory", "object": "Pod/postgres-0"},
              {"reason": "BackOff", "message": "other", "object": "Pod/sark-1"}]
    pod = db_pod(workloads("CrashLoopBackOff", False, 4, OOM, "1Gi", events), "postgres-0", logs())
    assert pod["causes"] == ["db_out_of_memory"] and pod["fix"] == "raise_db_memory_limit"
    assert pod["memory"] == {"current": "1Gi", "raised": "8Gi", "reason": None, "container": "postgres"}
    assert pod["events"] == ["OOMKilling: Memory cgroup out of memory"]
    check = db_outage(PG_OK, {"matched": 0}, pod=pod)
    assert check["verdict"] == "CRITICAL" and check["details"]["fix"] == "raise_db_memory_limit"
    assert check["reason"].startswith("pod postgres-0 was OOMKilled (4 restarts)") and "from 1Gi to 8Gi" in check["reason"]
    after = db_outage(PG_OK, {"matched": 0}, pod=db_pod(workloads(), "postgres-0", logs()))
    assert compare(check, after)["improved"] and compare(check, after)["resolved"]


def test_oomkilled_at_the_target_is_named_but_not_automated():
    pod = db_pod(workloads("CrashLoopBackOff", False, 2, OOM, "8Gi"), "postgres-0", logs())
    assert pod["causes"] == ["db_out_of_memory_at_limit"] and pod["fix"] is None
    assert "already at or above 8Gi" in pod["reasons"][0]


def test_disk_full_in_the_previous_log_expands_the_volume():
    line = 'FATAL:  could not write to file "pg_wal/xlogtemp.1": No space left on device'
    pod = db_pod(workloads("CrashLoopBackOff", False, 3, {"container": "postgres", "reason": "Error", "exit_code": 1}),
                 "postgres-0", logs(previous=[line]))
    assert pod["causes"] == ["disk_full"] and pod["fix"] == "expand_db_volume" and pod["disk_full_lines"] == [line]
    assert "expand the volume postgres-data-postgres-0" in pod["reasons"][0]
    check = db_outage({"is_available": False, "error": "connection refused"}, {}, pod=pod)
    assert check["details"]["causes"] == ["disk_full", "database_unreachable"] and check["details"]["fix"] == "expand_db_volume"


def test_a_failing_pod_for_another_reason_is_restarted():
    pod = db_pod(workloads("CrashLoopBackOff", False, 5, {"container": "postgres", "reason": "Error"}), "postgres-0",
                 logs(previous=["FATAL:  the database system is starting up"]))
    assert pod["causes"] == ["db_pod_failing"] and pod["fix"] == "restart_db_pod"
    assert "last log line: FATAL:  the database system is starting up" in pod["reasons"][0]


def test_a_missing_pod_is_named():
    pod = db_pod({"workloads": []}, "postgres-0", None)
    assert pod["causes"] == ["db_pod_missing"] and pod["fix"] is None


def test_memory_plan_only_upwards_and_a_bad_target():
    assert db_memory_plan(None)["raised"] == "8Gi"
    assert db_memory_plan("16Gi")["raised"] is None
    with pytest.raises(IncidentCheckError, match="not a Kubernetes quantity"):
        db_memory_plan("1Gi", "lots")


def api(reason="CrashLoopBackOff"):
    return {"workloads": [{"name": "sark", "kind": "Deployment", "replicas": {"desired": 3, "ready": 0, "updated": 3},
                           "revision": "2", "revisions": [{"revision": 2}, {"revision": 1, "images": ["sark:1"]}],
                           "pods": [{"name": "sark-a", "reason": reason, "restarts": 3}]}]}


CRASH = {"pods": [{"pod": "sark-a", "previous": False,
                   "matches": ['{"level":"CRITICAL","msg":"cannot connect to postgres: connection refused"}']}]}


def test_api_down_names_the_crash_line_and_a_ready_database_pod():
    check = api_down(api(), "sark", logs=CRASH, db=db_pod(workloads(), "postgres-0", logs()))
    assert check["details"]["crash_reason"].endswith("connection refused\"}")
    assert "crash log: " in check["reason"] and "pod postgres-0 is ready" in check["reason"]
    assert check["details"]["causes"] == ["bad_deployment"] and check["details"]["fix"] == "rollback"


def test_api_down_restarts_a_failing_database_pod_first():
    db = db_pod(workloads("CrashLoopBackOff", False, 7, {"container": "postgres", "reason": "Error"}), "postgres-0", logs())
    check = api_down(api(), "sark", logs=CRASH, db=db)
    assert check["details"]["causes"][0] == "database_down" and check["details"]["fix"] == "restart_db_pod"
    assert check["details"]["database_pod"]["causes"] == ["db_pod_failing"]


def test_api_down_does_not_blame_a_database_pod_that_is_not_there():
    """AUDITRON's crash-looping API logs "Environment variable not found: DATABASE_URL" and its PostgreSQL is not a pod of
    its namespace: a missing pod cannot be restarted, so the crash is the release's (roll back), not the database's."""
    db = db_pod({"workloads": []}, "postgres-0")
    check = api_down(api(), "sark", logs=CRASH, db=db)
    assert "database_down" not in check["details"]["causes"] and check["details"]["fix"] == "rollback"
    assert "no pod postgres-0 here" in check["reason"]
