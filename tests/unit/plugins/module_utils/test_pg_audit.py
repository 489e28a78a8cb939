import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._pg_audit import SUBSETS, assess, label_case, trim, validate_params

DEFAULTS = {"filter": [], "window_hours": 24, "critical_minutes": 60, "critical_limit": 20, "session_lookback_hours": 24,
            "top_n": 20, "details_max_length": 500}


def test_label_case_is_read_not_assumed():
    assert label_case(["LOW", "MEDIUM", "HIGH", "CRITICAL"]) == "upper"
    assert label_case(["low", "critical"]) == "lower"
    assert label_case(["low", "CRITICAL"]) == "mixed"
    assert label_case([]) is None and label_case(None) is None


@pytest.mark.parametrize("extra, message", [
    ({"filter": ["critcal"]}, "unknown subset(s) critcal"),
    ({"window_hours": 0}, "window_hours must be between 1 and 2160"),
    ({"window_hours": 5000}, "window_hours must be between 1 and 2160"),
    ({"critical_minutes": 0}, "critical_minutes must be between 1"),
    ({"critical_limit": -1}, "critical_limit must be between 0"),
])
def test_validate_params(extra, message):
    params = dict(DEFAULTS)
    params.update(extra)
    with pytest.raises(SarkValidationError) as err:
        validate_params(params)
    assert message in err.value.msg


@pytest.mark.parametrize("accepted, refused", [
    (["by_*", "!by_type", "critical"], ["by_*", "!by_typ", "critical"]),  # an exclusion is checked like an entry
    (["*"], ["critical", "sesions"]),
    (["!storage"], ["!storag*x"]),
    ([], ["by_severity", ""]),
])
def test_validate_params_accepts_wildcards_and_exclusions(accepted, refused):
    """Wildcards and !exclusions that name real subsets pass; one misspelt entry next to them does not."""
    validate_params(dict(DEFAULTS, filter=accepted))
    with pytest.raises(SarkValidationError) as err:
        validate_params(dict(DEFAULTS, filter=refused))
    assert "unknown subset(s)" in err.value.msg and "known subsets: %s" % ", ".join(SUBSETS) in err.value.msg


def test_validate_params_accepts_the_limits_inclusive():
    from ansible_collections.sark.ops.plugins.module_utils._pg_audit import LIMITS  # pylint: disable=import-outside-toplevel

    for name, (low, high) in LIMITS.items():
        for value in (low, high):
            validate_params(dict(DEFAULTS, **{name: value}))
        for value in (low - 1, high + 1):
            with pytest.raises(SarkValidationError, match="%s must be between %d and %d" % (name, low, high)):
                validate_params(dict(DEFAULTS, **{name: value}))


def test_trim_shortens_nested_values_only():
    event = {"event_type": "x" * 1000, "details": {"blob": "y" * 1000, "n": 1}, "tags": list(range(500))}
    out = trim(event, 20)
    assert out["details"]["blob"] == "y" * 20 + "..." and out["details"]["n"] == 1
    assert out["tags"].endswith("...") and len(out["tags"]) == 23
    assert trim(event, 0) == event


def test_assess_gaps_and_critical():
    facts = {"events_per_hour": {"empty_hours": 2, "window_hours": 24, "gaps": ["2026-01-01T03:00:00+00:00"]},
             "critical": {"count": 3}}
    result = assess(facts, 60)
    assert result["verdict"] == "warning" and len(result["findings"]) == 2
    assert "2 of the last 24 hours have no audit events" in result["findings"][0]
    assert assess({"events_per_hour": {"empty_hours": 0}, "critical": {"count": 0}}, 60) == {"verdict": "ok", "findings": []}
