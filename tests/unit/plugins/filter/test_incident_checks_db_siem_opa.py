"""incident_check(siem) reads the Deployment and ConfigMaps for the batch-size tuning (002 playbook 5 cause 4)."""

from ansible_collections.sark.ops.plugins.filter.incident_checks import incident_check

RATE_LIMITED = {"verdict": "rate_limited", "status": 429, "code": None, "text": "Too Many Requests"}
CLOSED = {"in_redis": True, "breakers": [{"name": "splunk", "state": "closed", "failures": 0}]}
EMPTY = {"in_redis": True, "queue": {"length": 0}, "failed_events": {"length": 0}}
DEPLOYMENT = {"metadata": {"name": "sark"}, "spec": {"template": {"spec": {"containers": [
    {"name": "sark", "envFrom": [{"configMapRef": {"name": "sark-config"}}]}]}}}}


def configmap(**data):
    return {"metadata": {"name": "sark-config"}, "data": data}


def test_siem_filter_reads_the_deployment_and_configmaps():
    data = {"breaker": CLOSED, "queue": EMPTY, "hec": RATE_LIMITED, "deployment": DEPLOYMENT,
            "configmaps": [configmap(SIEM_BATCH_SIZE="150")]}
    check = incident_check(data, "siem", size_target=300)
    assert check["details"]["fix"] == "tune_batch_size"
    assert check["details"]["batch"]["settings"][0]["current"] == 150 and check["details"]["batch"]["settings"][0]["target"] == 300
    untuned = incident_check({"breaker": CLOSED, "queue": EMPTY, "hec": RATE_LIMITED}, "siem")
    assert untuned["details"]["batch"] is None and untuned["details"]["fix"] is None


def test_db_connections_filter_reads_the_databases_and_the_setting():
    pg = {"is_available": True, "connections": {"total": 5, "max_connections": 100, "superuser_reserved_connections": 3}}
    check = incident_check({"pg_info": pg, "idle": {}, "databases": {"is_available": True, "databases": [{"name": "postgres"}]},
                            "setting": {"setting": "100", "pending_restart": True}}, "db_connections", database="sark")
    assert check["details"]["fix"] == "restore_backup" and check["details"]["pending_restart"] is True


def test_db_outage_filter_judges_the_database_pod():
    pod = {"name": "postgres-0", "ready": False, "reason": "CrashLoopBackOff", "restarts": 2,
           "last_termination": {"container": "postgres", "reason": "OOMKilled"},
           "containers": [{"name": "postgres", "limits": {"memory": "1Gi"}}]}
    check = incident_check({"pg_info": {"is_available": True, "connections": {"total": 1, "max_connections": 100}},
                            "idle": {}, "workloads": {"workloads": [{"name": "postgres", "pods": [pod]}]},
                            "pod_name": "postgres-0", "logs": {"pods": []}}, "db_outage", memory_target="4Gi")
    assert check["details"]["fix"] == "raise_db_memory_limit" and check["details"]["pod"]["memory"]["raised"] == "4Gi"
    assert incident_check({"pg_info": {"is_available": True, "connections": {"total": 1, "max_connections": 100}},
                           "idle": {}}, "db_outage")["details"].get("pod") is None
