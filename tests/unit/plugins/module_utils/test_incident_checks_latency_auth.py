"""high_latency, auth_failures and api_down's memory/restart causes of _incident_checks, per threshold."""

import copy

import pytest

from ansible_collections.sark.ops.plugins.module_utils._incident_checks import (
    IncidentCheckError, api_down, auth_endpoints, auth_failures, cache_ttl_setting, compare, high_latency, last_changed,
    raised_memory_limit, stale_pods, template_references)

SHAPE = {"id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"}


# --- high latency ---------------------------------------------------------------------------------------------------

def pg(bloat=None, long_running=None, top=None, available=True):
    if not available:
        return {"is_available": False, "error": "connection refused"}
    return {"is_available": True, "bloat": bloat or [], "long_running": long_running or [],
            "top_queries": top if top is not None else {"available": False, "reason": "not installed"}}


def table(dead, live, name="latency_bloat"):
    return {"schema": "public", "table": name, "n_dead_tup": dead, "n_live_tup": live, "table_bytes": 10 << 20}


def workloads(cpu=18.0, mem=30.0, desired=3, metrics=True):
    pods = [{"name": "sark-%d" % i, "containers": [{"name": "sark", "cpu_limit_percent": cpu, "memory_limit_percent": mem}]}
            for i in range(desired)]
    return {"metrics_available": metrics,
            "workloads": [{"kind": "Deployment", "name": "sark", "replicas": {"desired": desired, "ready": desired}, "pods": pods}]}


def redis(hits=900, misses=100):
    total = hits + misses
    return {"is_available": True, "stats": {"keyspace_hits": hits, "keyspace_misses": misses,
                                            "hit_ratio": round(float(hits) / total, 4) if total else None}}


def deployment(env=None, env_from=None, volumes=None):
    container = {"name": "sark", "image": "ghcr.io/sark/sark:2.1.0", "env": env or [],
                 "envFrom": env_from if env_from is not None else [{"configMapRef": {"name": "sark-config"}}]}
    return {"kind": "Deployment", "metadata": {"name": "sark"},
            "spec": {"template": {"spec": {"containers": [container], "volumes": volumes or []}}}}


def configmap(data, name="sark-config"):
    return {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def latency(**kw):
    args = {"pg_info": pg(), "workload_info": workloads(), "redis_info": redis()}
    for key in ("pg_info", "workload_info", "redis_info"):
        if key in kw:
            args[key] = kw.pop(key)
    return high_latency(args["pg_info"], args["workload_info"], args["redis_info"], **kw)


def test_latency_healthy_is_ok_with_no_problem():
    check = latency()
    assert set(check) == SHAPE
    assert check["verdict"] == "OK" and check["figure"] == 0 and check["details"]["causes"] == []
    assert check["details"]["fix"] is None


@pytest.mark.parametrize("dead, live, bloated", [
    (999, 1, False),      # fewer dead tuples than min_dead_tuples (1000)
    (1000, 4000, True),   # exactly 20 % dead
    (1000, 4001, False),  # just under 20 %
    (45000, 15000, True),
])
def test_latency_bloat_thresholds(dead, live, bloated):
    check = latency(pg_info=pg(bloat=[table(dead, live)]))
    assert ("table_bloat" in check["details"]["causes"]) == bloated
    if bloated:
        assert check["details"]["bloated_tables"][0]["table"] == "public.latency_bloat"
        assert check["details"]["fix"] == "vacuum_bloated" and check["verdict"] == "WARNING"


@pytest.mark.parametrize("mean_ms, slow", [(499.9, False), (500.0, True)])
def test_latency_slow_statement_threshold(mean_ms, slow):
    top = {"available": True, "queries": [{"queryid": "1", "mean_exec_time_ms": mean_ms, "calls": 3, "query": "SELECT 1"}]}
    check = latency(pg_info=pg(top=top))
    assert ("slow_queries" in check["details"]["causes"]) == slow
    # slow queries need a person: no automated fix
    assert check["details"]["fix"] is None


def test_latency_long_running_query_without_pg_stat_statements():
    check = latency(pg_info=pg(long_running=[{"pid": 42, "duration_s": 65.0, "state": "active",
                                              "application_name": "x", "query": "SELECT pg_sleep(900)"}]))
    assert check["details"]["causes"] == ["slow_queries"] and "pid 42" in check["reason"]
    assert check["details"]["top_queries_available"] is False


@pytest.mark.parametrize("cpu, saturated", [(79.9, False), (80.0, True)])
def test_latency_cpu_threshold_and_the_scale_plan(cpu, saturated):
    check = latency(workload_info=workloads(cpu=cpu))
    assert ("insufficient_resources" in check["details"]["causes"]) == saturated
    if saturated:
        assert check["details"]["resources"]["scale"] == {"from": 3, "to": 6}
        assert check["details"]["fix"] == "scale_out"


def test_latency_memory_threshold_counts_too():
    assert "insufficient_resources" in latency(workload_info=workloads(mem=80.0))["details"]["causes"]


def test_latency_scale_is_bounded_by_max_replicas_and_none_at_the_maximum():
    assert latency(workload_info=workloads(cpu=95), max_replicas=4)["details"]["resources"]["scale"] == {"from": 3, "to": 4}
    at_max = latency(workload_info=workloads(cpu=95, desired=10), max_replicas=10)
    assert at_max["details"]["resources"]["scale"] is None and at_max["details"]["fix"] is None
    assert "not automated" in at_max["reason"]
    # at least one more replica, even with a small factor
    assert latency(workload_info=workloads(cpu=95, desired=1), scale_factor=1.1)["details"]["resources"]["scale"]["to"] == 2


def test_latency_uses_the_request_percent_without_a_limit():
    work = workloads()
    for pod in work["workloads"][0]["pods"]:
        pod["containers"][0] = {"name": "sark", "cpu_request_percent": 90.0}
    assert "insufficient_resources" in latency(workload_info=work)["details"]["causes"]


@pytest.mark.parametrize("hits, misses, low", [
    (70, 30, False),   # 70 %: not below
    (69, 31, True),
    (5, 94, False),    # 99 lookups: under hit_ratio_min_lookups (100), not judged
])
def test_latency_cache_hit_ratio_threshold(hits, misses, low):
    assert ("cache_miss_rate_high" in latency(redis_info=redis(hits, misses))["details"]["causes"]) == low


@pytest.mark.parametrize("value, below", [("60", True), ("299", True), ("300", False), ("not-a-number", False)])
def test_latency_cache_ttl_below_the_target_is_the_automated_cause(value, below):
    check = latency(redis_info=redis(10, 90), deployment=deployment(), configmaps=[configmap({"POLICY_CACHE_TTL_HIGH": value})])
    assert "cache_miss_rate_high" in check["details"]["causes"]
    assert ("cache_ttl_below_target" in check["details"]["causes"]) == below
    assert (check["details"]["fix"] == "raise_cache_ttl") == below


def test_latency_cache_without_the_setting_says_it_is_not_automated():
    check = latency(redis_info=redis(10, 90), deployment=deployment(), configmaps=[configmap({})])
    assert check["details"]["causes"] == ["cache_miss_rate_high"] and "not automated" in check["reason"]


def test_cache_ttl_setting_env_then_configmap_ref_then_env_from():
    literal = deployment(env=[{"name": "POLICY_CACHE_TTL_HIGH", "value": "60"}])
    assert cache_ttl_setting(literal, [], "POLICY_CACHE_TTL_HIGH")["where"] == "env"
    ref = deployment(env=[{"name": "POLICY_CACHE_TTL_HIGH", "valueFrom": {"configMapKeyRef": {"name": "cache", "key": "ttl"}}}],
                     env_from=[])
    found = cache_ttl_setting(ref, [configmap({"ttl": "90"}, name="cache")], "POLICY_CACHE_TTL_HIGH")
    assert (found["where"], found["configmap"], found["name"], found["value"]) == ("configmap", "cache", "ttl", "90")
    from_cm = cache_ttl_setting(deployment(), [configmap({"POLICY_CACHE_TTL_HIGH": "60"})], "POLICY_CACHE_TTL_HIGH")
    assert (from_cm["where"], from_cm["configmap"]) == ("configmap", "sark-config")
    assert cache_ttl_setting(deployment(env_from=[]), [configmap({"POLICY_CACHE_TTL_HIGH": "60"})], "POLICY_CACHE_TTL_HIGH")["where"] is None


@pytest.mark.parametrize("slowest, slow", [(99.9, False), (100.0, True)])
def test_latency_opa_threshold(slowest, slow):
    opa = {"results": [{"elapsed_ms": 3.0}, {"elapsed_ms": slowest}, {"skipped": True}]}
    check = latency(opa=opa)
    assert ("opa_slow" in check["details"]["causes"]) == slow
    assert check["details"]["opa"]["decisions"] == 2


def test_latency_opa_errors_are_slow_and_not_configured_is_not_checked():
    assert "opa_slow" in latency(opa={"results": [{"failed": True, "msg": "connection refused"}]})["details"]["causes"]
    assert "opa" not in latency()["details"]


def test_latency_p95_breach_is_critical():
    prom = {"queries": {"p95_latency_5m": {"verdict": "breach", "worst": 1.2}}}
    check = latency(prometheus=prom)
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["latency_high"]
    assert check["figure"] == 0 and check["reason"].startswith("p95 latency 1.200 s")
    assert latency(prometheus={"queries": {"p95_latency_5m": {"verdict": "ok", "worst": 0.05}}})["verdict"] == "OK"


def test_latency_database_unreachable_is_critical():
    check = latency(pg_info=pg(available=False))
    assert check["verdict"] == "CRITICAL" and check["details"]["causes"] == ["database_unreachable"]


def test_latency_fix_follows_the_plan_order_and_steps_improve_by_problem_count():
    before = latency(pg_info=pg(bloat=[table(45000, 15000)]), workload_info=workloads(cpu=95), redis_info=redis(10, 90),
                     deployment=deployment(), configmaps=[configmap({"POLICY_CACHE_TTL_HIGH": "60"})])
    assert before["details"]["causes"] == ["table_bloat", "cache_miss_rate_high", "cache_ttl_below_target", "insufficient_resources"]
    assert before["details"]["fix"] == "vacuum_bloated" and before["figure"] == 4
    after = latency(pg_info=pg(bloat=[table(0, 15000)]), workload_info=workloads(cpu=95), redis_info=redis(10, 90),
                    deployment=deployment(), configmaps=[configmap({"POLICY_CACHE_TTL_HIGH": "60"})])
    assert after["details"]["fix"] == "scale_out"
    later, earlier = after, before
    assert compare(before, after)["improved"] and not compare(later, earlier)["improved"]


def test_latency_rejects_a_wrong_register():
    with pytest.raises(IncidentCheckError):
        high_latency(None, workloads(), redis())
    with pytest.raises(IncidentCheckError, match="workloads"):
        high_latency(pg(), {}, redis())


# --- api_down: memory limit, stale configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("current, factor, maximum, raised, capped", [
    ("768Mi", 1.5, "8Gi", "1152Mi", False),
    ("1Gi", 2, "8Gi", "2048Mi", False),
    ("6Gi", 1.5, "8Gi", "8192Mi", True),
    ("8Gi", 1.5, "8Gi", None, True),
    (None, 1.5, "8Gi", None, False),
])
def test_raised_memory_limit(current, factor, maximum, raised, capped):
    plan = raised_memory_limit(current, factor, maximum)
    assert (plan["raised"], plan["capped"]) == (raised, capped)
    if raised is None:
        assert plan["reason"]


@pytest.mark.parametrize("factor", [1, 0.5, 4.5, None])
def test_raised_memory_limit_refuses_an_unbounded_factor(factor):
    with pytest.raises(IncidentCheckError, match="factor"):
        raised_memory_limit("1Gi", factor)


def oom_workload(limit="768Mi"):
    pod = {"name": "sark-x-1", "reason": "CrashLoopBackOff", "restarts": 3,
           "last_termination": {"container": "sark", "reason": "OOMKilled", "exit_code": 137},
           "containers": [{"name": "sark", "limits": {"memory": limit} if limit else {}}]}
    return {"workloads": [{"kind": "Deployment", "name": "sark", "verdict": "CRITICAL", "revision": "3",
                           "replicas": {"desired": 3, "ready": 2, "updated": 1}, "pods": [pod], "images": ["m:1"],
                           "revisions": [{"revision": 3, "images": ["m:1"]}, {"revision": 2, "images": ["s:2"]}]}]}


def test_api_down_oom_names_the_limit_to_raise():
    check = api_down(oom_workload(), "sark")
    assert check["details"]["causes"] == ["out_of_memory"] and check["details"]["fix"] == "raise_memory_limit"
    assert check["details"]["memory"] == [{"container": "sark", "current": "768Mi", "raised": "1152Mi", "capped": False,
                                           "reason": None}]
    assert "from 768Mi to 1152Mi" in check["reason"]


def test_api_down_oom_at_the_maximum_is_not_automated():
    check = api_down(oom_workload("8Gi"), "sark", memory_max="8Gi")
    assert check["details"]["causes"] == ["out_of_memory_at_limit"] and check["details"]["fix"] is None
    assert "not automated" in check["reason"]


def secret(name, created="2026-12-01T10:00:00Z", changed=None, status_only=False):
    meta = {"name": name, "creationTimestamp": created}
    if changed:
        meta["managedFields"] = [{"manager": "kubectl-edit", "operation": "Update", "time": changed,
                                  **({"subresource": "status"} if status_only else {})}]
    return {"kind": "Secret", "metadata": meta}


def pod(name, started):
    return {"metadata": {"name": name, "creationTimestamp": started}, "status": {"startTime": started}}


DEP = deployment(env=[{"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "sark-secrets", "key": "secret-key"}}}])


def test_template_references_env_env_from_and_volumes():
    dep = deployment(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
                          {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}],
                     env_from=[{"secretRef": {"name": "s2"}}, {"configMapRef": {"name": "c2"}}],
                     volumes=[{"name": "v", "secret": {"secretName": "s3"}}, {"name": "w", "configMap": {"name": "c3"}}])
    assert template_references(dep) == {("Secret", "s1"), ("ConfigMap", "c1"), ("Secret", "s2"), ("ConfigMap", "c2"),
                                        ("Secret", "s3"), ("ConfigMap", "c3")}


def test_last_changed_ignores_status_writes_and_falls_back_to_creation():
    assert last_changed(secret("s", changed="2026-12-01T12:00:00Z"))[1] == "managedFields"
    assert last_changed(secret("s", changed="2026-12-01T12:00:00Z", status_only=True))[1] == "creationTimestamp"


def test_stale_pods_only_for_referenced_objects_changed_after_the_pod_started():
    pods = [pod("old", "2026-12-01T11:00:00Z"), pod("new", "2026-12-01T13:00:00Z")]
    stale = stale_pods(DEP, pods, [secret("sark-secrets", changed="2026-12-01T12:00:00Z"),
                                   secret("unrelated", changed="2026-12-01T12:30:00Z")])
    assert stale == [{"kind": "Secret", "name": "sark-secrets", "changed_at": "2026-12-01T12:00:00Z",
                      "changed_from": "managedFields", "pods": ["old"]}]
    assert stale_pods(DEP, [pod("new", "2026-12-01T13:00:00Z")], [secret("sark-secrets", changed="2026-12-01T12:00:00Z")]) == []


def test_api_down_restart_only_when_unhealthy_and_the_config_changed_under_the_pods():
    objects = [secret("sark-secrets", changed="2026-12-01T12:00:00Z")]
    pods = [pod("old", "2026-12-01T11:00:00Z")]
    healthy = {"workloads": [{"kind": "Deployment", "name": "sark", "replicas": {"desired": 1, "ready": 1}, "pods": [],
                              "revision": "1", "revisions": []}]}
    assert api_down(healthy, "sark", deployment=DEP, pods=pods, objects=objects)["details"]["causes"] == []
    not_ready = copy.deepcopy(healthy)
    not_ready["workloads"][0]["replicas"]["ready"] = 0
    check = api_down(not_ready, "sark", deployment=DEP, pods=pods, objects=objects)
    assert check["details"]["causes"] == ["not_ready", "stale_config"] and check["details"]["fix"] == "restart"


# --- authentication failures ------------------------------------------------------------------------------------------

def test_auth_endpoints_from_env_configmap_ref_and_env_from():
    dep = deployment(env=[{"name": "LDAP_SERVER", "value": "openldap"},
                          {"name": "OIDC_ISSUER", "valueFrom": {"configMapKeyRef": {"name": "idp", "key": "issuer"}}}])
    found = auth_endpoints(dep, [configmap({"issuer": "https://user:pw@keycloak.example:8443/realms/sark"}, name="idp"),
                                 configmap({"OIDC_DISCOVERY_URL": "http://127.0.0.1:9/.well-known/openid-configuration"})])
    assert [(e["setting"], e["url"], e["source"]) for e in found] == [
        ("LDAP_SERVER", "ldap://openldap:389", "env of container sark"),
        ("OIDC_ISSUER", "https://keycloak.example:8443/realms/sark", "ConfigMap idp"),
        ("OIDC_DISCOVERY_URL", "http://127.0.0.1:9/.well-known/openid-configuration", "ConfigMap sark-config")]
    assert all("pw" not in (e["url"] or "") for e in found)
    assert auth_endpoints(deployment(), []) == []


def endpoints():
    return [{"setting": "OIDC_ISSUER_URL", "url": "http://127.0.0.1:9/realms/sark", "scheme": "http", "host": "127.0.0.1", "port": 9},
            {"setting": "LDAP_SERVER", "url": "ldap://openldap:389", "scheme": "ldap", "host": "openldap", "port": 389}]


UP_HTTP = {"status": 200, "url": "http://127.0.0.1:9/realms/sark"}
DOWN_HTTP = {"status": -1, "msg": "Request failed: <urlopen error [Errno 111] Connection refused>"}
UP_TCP = {"state": "started", "port": 389}
DOWN_TCP = {"msg": "Timeout when waiting for openldap:389", "elapsed": 3}
SKIP = {"skipped": True}
NOW = "2026-12-01T12:10:00Z"


def auth(http=(UP_HTTP, SKIP), tcp=(SKIP, UP_TCP), redis_info=None, secrets=None, pods=None, clocks=None, **kw):
    return auth_failures(endpoints(), {"http": list(http), "tcp": list(tcp)},
                         redis_info if redis_info is not None else {"is_available": True, "memory": {}, "stats": {}},
                         deployment=DEP, pods=pods or [], secrets=secrets or [], clocks=clocks, now=NOW,
                         jwt_secrets=("jwt-keys", "sark-secrets"), **kw)


def test_auth_healthy_is_ok():
    check = auth()
    assert set(check) == SHAPE and check["verdict"] == "OK" and check["details"]["causes"] == []
    assert [e["reachable"] for e in check["details"]["endpoints"]] == [True, True]


@pytest.mark.parametrize("http, tcp, down", [
    ((DOWN_HTTP, SKIP), (SKIP, UP_TCP), ["OIDC_ISSUER_URL"]),
    ((UP_HTTP, SKIP), (SKIP, DOWN_TCP), ["LDAP_SERVER"]),
    ((dict(UP_HTTP, status=503), SKIP), (SKIP, UP_TCP), []),  # an HTTP answer, even an error, is reachable
])
def test_auth_identity_provider_reachability(http, tcp, down):
    check = auth(http=http, tcp=tcp)
    assert [e["setting"] for e in check["details"]["endpoints"] if e["reachable"] is False] == down
    assert (check["verdict"] == "CRITICAL") == bool(down)
    assert ("identity_provider_unreachable" in check["details"]["causes"]) == bool(down)


def test_auth_session_store_down_and_evicting():
    down = auth(redis_info={"is_available": False, "error": "connection refused"})
    assert down["details"]["causes"] == ["session_store_down"] and down["verdict"] == "CRITICAL"
    evicting = auth(redis_info={"is_available": True, "memory": {"maxmemory_used_ratio": 0.5}, "stats": {"evicted_keys": 3}})
    assert evicting["details"]["causes"] == ["session_store_evicting"] and evicting["verdict"] == "WARNING"
    full = auth(redis_info={"is_available": True, "memory": {"maxmemory_used_ratio": 0.95}, "stats": {"evicted_keys": 0}})
    assert full["details"]["causes"] == ["session_store_evicting"]
    assert auth(redis_info={"is_available": True, "memory": {"maxmemory_used_ratio": 0.94}, "stats": {}})["verdict"] == "OK"


@pytest.mark.parametrize("changed, recent", [
    ("2026-12-01T12:00:00Z", True),         # 10 minutes ago
    ("2026-11-30T12:10:00Z", True),         # exactly the window (86400 s)
    ("2026-11-30T12:09:59Z", False),
])
def test_auth_recent_rotation_window(changed, recent):
    check = auth(secrets=[secret("jwt-keys", created="2026-01-01T00:00:00Z", changed=changed)])
    assert ("jwt_secret_rotated" in check["details"]["causes"]) == recent
    if recent:
        assert "log in again" in check["details"]["fixes"]["jwt_secret_rotated"]


def test_auth_a_new_secret_without_managed_fields_is_not_a_rotation():
    assert auth(secrets=[secret("jwt-keys", created="2026-12-01T12:05:00Z")])["details"]["causes"] == []


def test_auth_pods_on_the_old_secret_are_restarted():
    check = auth(secrets=[secret("sark-secrets", created="2026-01-01T00:00:00Z", changed="2026-12-01T12:00:00Z")],
                 pods=[pod("a", "2026-12-01T11:00:00Z"), pod("b", "2026-12-01T12:05:00Z")])
    assert check["details"]["causes"] == ["pods_on_old_secret", "jwt_secret_rotated"]
    assert check["details"]["fix"] == "restart" and check["verdict"] == "CRITICAL"
    assert check["details"]["stale_refs"][0]["pods"] == ["a"]
    after = auth(secrets=[secret("sark-secrets", created="2026-01-01T00:00:00Z", changed="2026-12-01T12:00:00Z")],
                 pods=[pod("c", "2026-12-01T12:09:00Z")])
    assert after["details"]["causes"] == ["jwt_secret_rotated"] and compare(check, after)["improved"]


@pytest.mark.parametrize("server, skewed", [
    ("Tue, 01 Dec 2026 12:10:30 GMT", False),   # 30 s ahead of the probe window's end: not above 30
    ("Tue, 01 Dec 2026 12:10:31 GMT", True),
    ("Tue, 01 Dec 2026 12:09:29 GMT", False),   # 30 s behind the start (the header has whole seconds)
    ("Tue, 01 Dec 2026 12:09:28 GMT", True),
])
def test_auth_clock_skew_threshold(server, skewed):
    clocks = {"local_before": "2026-12-01T12:10:00Z", "local_after": "2026-12-01T12:10:00Z",
              "responses": [{"url": "http://sark", "date": server}, SKIP, {"status": -1}]}
    check = auth(clocks=clocks)
    assert len(check["details"]["clocks"]) == 1
    assert ("clock_skew" in check["details"]["causes"]) == skewed


def test_last_changed_is_the_newest_write_of_any_manager():
    obj = secret("s")
    obj["metadata"]["managedFields"] = [{"manager": "helm", "time": "2026-12-01T09:00:00Z"},
                                        {"manager": "kubectl-edit", "time": "2026-12-01T12:00:00Z"},
                                        {"manager": "kubelet", "time": "2026-12-01T13:00:00Z", "subresource": "status"}]
    changed, source = last_changed(obj)
    assert (changed.strftime("%H:%M"), source) == ("12:00", "managedFields")
