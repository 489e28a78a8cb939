"""Verdicts of plugins/filter/maintenance_check.py, one test per threshold."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.maintenance_check import FilterModule, maintenance_check

HEALTHY = {"is_available": True, "verdict": "healthy", "unhealthy_components": [], "unknown_components": []}
STEPS = [{"step": "announce", "status": "done"}, {"step": "backup", "status": "done"},
         {"step": "read-only on", "status": "done"}, {"step": "task vacuum", "status": "done"},
         {"step": "read-only off", "status": "done"}, {"step": "smoke test", "status": "done"}]


def test_registered():
    assert FilterModule().filters()["maintenance_check"] is maintenance_check


def test_all_done_is_ok():
    check = maintenance_check(STEPS, read_only="false", smoke=HEALTHY)
    assert check["verdict"] == "OK"
    assert (check["figure"], check["threshold"], check["unit"]) == (6, 6, "steps done")
    assert set(check) == {"id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"}


def test_skipped_steps_are_still_ok_and_counted():
    steps = STEPS[:1] + [{"step": "backup", "status": "skipped"}] + STEPS[2:]
    check = maintenance_check(steps, read_only="False", smoke=HEALTHY)
    assert check["verdict"] == "OK" and "1 skipped" in check["reason"]


@pytest.mark.parametrize("value", ["true", "TRUE", "1", ""])
def test_left_in_read_only_is_critical(value):
    check = maintenance_check(STEPS, read_only=value, smoke=HEALTHY)
    assert check["verdict"] == "CRITICAL" and "read-only" in check["reason"]


def test_unreadable_read_only_is_unknown():
    assert maintenance_check(STEPS, read_only=None, smoke=HEALTHY)["verdict"] == "UNKNOWN"


def test_failed_step_with_service_back_is_a_warning_naming_the_step():
    steps = STEPS[:3] + [{"step": "task vacuum", "status": "failed", "detail": "lock timeout"}] + STEPS[4:]
    check = maintenance_check(steps, read_only="false", smoke=HEALTHY)
    assert check["verdict"] == "WARNING"
    assert "task vacuum (lock timeout)" in check["reason"]
    assert check["details"]["failed_steps"] == ["task vacuum"]


def test_failed_step_left_read_only_is_critical_and_names_both():
    steps = STEPS[:3] + [{"step": "task vacuum", "status": "failed", "detail": "x"}]
    check = maintenance_check(steps, read_only="true", smoke=HEALTHY)
    assert check["verdict"] == "CRITICAL" and "task vacuum" in check["reason"]


@pytest.mark.parametrize("smoke,verdict", [
    (None, "CRITICAL"),
    ({"is_available": False, "verdict": "unavailable", "error": "connection refused"}, "CRITICAL"),
    ({"is_available": True, "verdict": "unhealthy", "unhealthy_components": ["redis"]}, "CRITICAL"),
    ({"is_available": True, "verdict": "degraded", "unknown_components": ["opa"]}, "WARNING"),
    (HEALTHY, "OK"),
])
def test_smoke_test(smoke, verdict):
    check = maintenance_check(STEPS, read_only="false", smoke=smoke)
    assert check["verdict"] == verdict
    if verdict != "OK":
        assert "smoke test" in check["reason"]


def test_check_mode_is_unknown():
    assert maintenance_check(STEPS, read_only="true", smoke=None, check_mode=True)["verdict"] == "UNKNOWN"


@pytest.mark.parametrize("bad", ["x", [1], [{"step": "a", "status": "maybe"}]])
def test_bad_input(bad):
    with pytest.raises(AnsibleFilterError):
        maintenance_check(bad)
