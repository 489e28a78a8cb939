# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _siem.py: the runbook's queue verdict, the checks and caps of a change, staging keys, event lines and
the circuit breakers of both runbook variants."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkLimitError, SarkPreconditionError, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._siem import (
    breaker_keys,
    breaker_not_in_layout,
    check_cap,
    check_expected,
    decode_event,
    event_line,
    queue_state,
    read_breaker,
    staging_key,
    validate_change,
    validate_siems,
)

THRESHOLDS = {"warning_threshold": 1000, "critical_threshold": 10000}


def change(**params):
    base = dict(THRESHOLDS, state="requeue", max_events=100, batch_size=10, count=None, path=None, keep=None, lock_wait=0)
    base.update(params)
    return base


class FakeRedis:
    def __init__(self, keys):
        self.keys = keys

    def type(self, key):
        return b"string" if key in self.keys else b"none"

    def get(self, key):
        return self.keys.get(key)

    def ttl(self, key):
        return 120


@pytest.mark.parametrize("length, state", [(0, "healthy"), (999, "healthy"), (1000, "warning"), (10000, "warning"),
                                           (10001, "critical")])
def test_queue_state_follows_the_runbook_thresholds(length, state):
    assert queue_state(length, THRESHOLDS) == state


def test_decode_event_masks_secrets_and_hides_what_is_not_json():
    assert decode_event(b'{"user": "u1", "api_key": "k"}', False) == {"user": "u1", "api_key": MASK}
    assert decode_event(b'{"api_key": "k"}', True) == {"api_key": "k"}
    assert decode_event(b"plain text", False) == "<10 bytes, not JSON>"


def test_change_checks():
    validate_change(change())
    for params, message in ((dict(max_events=0), "max_events must be 1 or more"),
                            (dict(count=0), "count must be 1 or more"),
                            (dict(warning_threshold=5, critical_threshold=4), "warning_threshold <= critical_threshold"),
                            (dict(state="export"), "state=export needs path"),
                            (dict(state="trim"), "state=trim needs keep"),
                            (dict(batch_size=10001, max_events=20000), "batch_size must be 10000 or less"),
                            (dict(lock_wait=3601), "lock_wait must be between 0 and 3600")):
        with pytest.raises(SarkValidationError, match=message):
            validate_change(change(**params))


def test_the_cap_refuses_before_anything_moves():
    check_cap("requeue", 100, 500, change())
    with pytest.raises(SarkLimitError, match="more than max_events=100. Nothing was changed") as refused:
        check_cap("requeue", 101, 500, change())
    assert refused.value.details["events"] == 500


def test_staging_keys_stay_in_the_hash_slot_of_their_list():
    assert staging_key("siem:event_queue", "export:r1") == "{siem:event_queue}:sark_ops_export:r1"
    assert staging_key("{siem}:failed", "requeue") == "{siem}:failed:sark_ops_requeue"
    assert staging_key("a{}b", "x") == "{a{}b}:sark_ops_x"


def test_event_lines_never_break_a_jsonl_file():
    assert event_line(b'{"a": 1}') == '{"a": 1}'
    assert event_line(b"two\nlines") == '"two\\nlines"'


def test_breaker_keys_of_both_runbook_variants():
    runbook = Layout("runbook")
    assert breaker_keys(runbook, "both", ["splunk"]) == [
        ("global", "global", "siem:circuit_breaker:state", "siem:circuit_breaker:failure_count"),
        ("splunk", "per_siem", "circuit:splunk:state", "circuit:splunk:failure")]
    assert [k[0] for k in breaker_keys(runbook, "per_siem", ["splunk", "datadog"])] == ["splunk", "datadog"]
    assert breaker_keys(Layout("sark_v2"), "both", ["splunk"]) == []


def test_read_breaker_missing_keys_mean_closed():
    breaker = read_breaker(FakeRedis({}), Layout("runbook"), "splunk", "per_siem", "circuit:splunk:state", "circuit:splunk:failure")
    assert breaker["state"] == "closed" and breaker["failures"] == 0 and breaker["present"] is False and breaker["ttl"] is None


def test_read_breaker_and_the_precondition():
    keys = {"circuit:splunk:state": b"OPEN", "circuit:splunk:failure": b"7"}
    breaker = read_breaker(FakeRedis(keys), Layout("runbook"), "splunk", "per_siem", "circuit:splunk:state", "circuit:splunk:failure")
    assert breaker["state"] == "open" and breaker["failures"] == 7 and breaker["state_present"] is True and breaker["ttl"] == 120
    check_expected([breaker], "open")
    check_expected([breaker], None)
    with pytest.raises(SarkPreconditionError, match="current_state=half_open, but splunk is open. Nothing was reset"):
        check_expected([breaker], "half_open")


def test_a_failure_count_that_is_not_a_number_is_refused():
    keys = {"circuit:splunk:failure": b"many"}
    with pytest.raises(SarkValidationError, match="not a failure count"):
        read_breaker(FakeRedis(keys), Layout("runbook"), "splunk", "per_siem", "circuit:splunk:state", "circuit:splunk:failure")


def test_breaker_not_in_layout_tells_to_restart_when_resetting():
    reset = breaker_not_in_layout(Layout("sark_v2"), resetting=True)
    assert reset["restart_required"] is True and reset["changed"] is False and "Restart the SARK workers" in reset["msg"]
    assert "restart_required" not in breaker_not_in_layout(Layout("sark_v2"), resetting=False)


def test_siems_must_be_named():
    validate_siems(["splunk"])
    for siems in ([], ["splunk", " "], None):
        with pytest.raises(SarkValidationError, match="siems must list at least one SIEM"):
            validate_siems(siems)
