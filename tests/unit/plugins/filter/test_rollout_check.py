"""Verdicts of plugins/filter/rollout_check.py, one test per threshold."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.rollout_check import FilterModule, rollout_check


def obs(**kw):
    base = {"action": "restart", "kind": "Deployment", "name": "sark", "namespace": "production",
            "replicas": 3, "ready_replicas": 3, "updated_replicas": 3}
    base.update(kw)
    return base


def test_registered():
    assert FilterModule().filters()["rollout_check"] is rollout_check


def test_all_ready_is_ok_with_the_shared_check_fields():
    check = rollout_check(obs(), runbook="000 Rolling Restart")
    assert set(check) == {"id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"}
    assert check["verdict"] == "OK"
    assert (check["figure"], check["threshold"]) == (3, 3)
    assert check["id"] == "restart:production/sark"
    assert check["runbook"] == "000 Rolling Restart"
    assert "3/3" in check["reason"]


@pytest.mark.parametrize("ready,updated,verdict", [
    (3, 3, "OK"), (4, 3, "OK"), (2, 3, "WARNING"), (3, 2, "WARNING"), (1, 1, "WARNING"), (0, 0, "CRITICAL"), (0, 3, "CRITICAL"),
])
def test_thresholds(ready, updated, verdict):
    assert rollout_check(obs(ready_replicas=ready, updated_replicas=updated))["verdict"] == verdict


def test_an_error_is_never_ok():
    check = rollout_check(obs(error="timed out waiting for the rollout"))
    assert check["verdict"] == "WARNING" and "timed out" in check["reason"]
    check = rollout_check(obs(ready_replicas=0, error="timed out"))
    assert check["verdict"] == "CRITICAL"


def test_scale_to_zero():
    assert rollout_check(obs(action="scale", replicas=0, ready_replicas=0))["verdict"] == "OK"
    assert rollout_check(obs(action="scale", replicas=0, ready_replicas=1))["verdict"] == "WARNING"


def test_unreadable_state_is_unknown_unless_it_failed():
    check = rollout_check(obs(replicas=None, ready_replicas=None))
    assert check["verdict"] == "UNKNOWN" and "could not be read" in check["reason"]
    check = rollout_check(obs(replicas=None, ready_replicas=None, error="Forbidden"))
    assert check["verdict"] == "CRITICAL" and "Forbidden" in check["reason"]


def test_check_mode_is_unknown():
    check = rollout_check(obs(check_mode=True))
    assert check["verdict"] == "UNKNOWN" and "check mode" in check["reason"]


def db(**kw):
    base = {"action": "db_restart", "pod": "postgres-0", "namespace": "production",
            "uid_before": "a", "uid_after": "b", "ready": True}
    base.update(kw)
    return base


def test_db_restart():
    assert rollout_check(db())["verdict"] == "OK"
    same = rollout_check(db(uid_after="a"))
    assert same["verdict"] == "CRITICAL" and "not recreated" in same["reason"]
    refused = rollout_check(db(uid_after="a", error="pod has no controller"))
    assert refused["verdict"] == "CRITICAL" and "no controller" in refused["reason"]
    assert rollout_check(db(ready=False))["verdict"] == "CRITICAL"
    assert rollout_check(db(uid_after=None))["verdict"] == "UNKNOWN"
    failed = rollout_check(db(uid_after=None, error="pod postgres-0 not Ready within 300 s"))
    assert failed["verdict"] == "CRITICAL" and "not Ready within" in failed["reason"]
    assert rollout_check(db())["title"] == "Database pod restart of production/postgres-0"


@pytest.mark.parametrize("bad", ["text", {"action": "delete"}, obs(replicas="three")])
def test_bad_input(bad):
    with pytest.raises(AnsibleFilterError):
        rollout_check(bad)
