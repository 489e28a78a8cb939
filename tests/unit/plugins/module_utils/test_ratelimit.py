# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _ratelimit.py: the window model each layout's template implies, a subject's status, masking, the checks."""

import time

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._ratelimit import RateLimits, validate_limits, validate_reset


class FakeRedis:
    """The few reads RateLimits.status() makes, over a dict of key -> (type, value)."""

    def __init__(self, keys):
        self.keys = keys

    def type(self, key):
        return self.keys[key][0].encode() if key in self.keys else b"none"

    def get(self, key):
        return self.keys[key][1]

    def ttl(self, key):
        return 1800

    def _scores(self, key, low):
        return sorted(score for score in self.keys[key][1] if score > float(low.lstrip("(")))

    def zcount(self, key, low, high):
        return len(self._scores(key, low))

    def zrangebyscore(self, key, low, high, start=0, num=1, withscores=True):
        return [(b"m", score) for score in self._scores(key, low)[start:start + num]]

    def zcard(self, key):
        return len(self.keys[key][1])


def limits(layout, keys=None, **params):
    return RateLimits(FakeRedis(keys or {}), Layout(layout), None, params)


def test_the_template_decides_the_model():
    runbook, v2 = limits("runbook"), limits("sark_v2")
    assert (runbook.model, runbook.key_type) == ("fixed_hourly", "string")
    assert (v2.model, v2.key_type) == ("sliding_window", "zset")
    overridden = limits("runbook", layout_templates=None)
    overridden.layout = Layout("runbook", {"ratelimit_key": "rl:{subject}:{kind}:{window}"})
    assert overridden.key("ip", "1.2.3.4").startswith("rl:1.2.3.4:ip:")


def test_keys_of_both_layouts():
    assert limits("runbook", window="2026-03-02-09").key("user", "u1") == "ratelimit:user:u1:2026-03-02-09"
    assert limits("sark_v2").key("ip", "10.0.0.1") == "rate_limit:ip:10.0.0.1"


def test_a_window_in_another_format_is_refused():
    with pytest.raises(SarkValidationError, match="does not match the layout's window format"):
        limits("runbook", window="2026-03-02T09").key("user", "u1")


def test_limits_come_from_the_layout_unless_given():
    rl = limits("runbook", limits={"ip": "250"})
    assert rl.limit_of("user") == 5000 and rl.limit_of("ip") == 250 and rl.limit_of("user", 7) == 7
    assert limits("sark_v2").limit_of("token") is None


def test_secret_subjects_are_masked_unless_asked():
    rl = limits("runbook")
    assert rl.mask_subject("api_key", "sk-live-1234567890") == "sk-l" + MASK
    assert rl.mask_subject("token", "short") == MASK
    assert rl.mask_subject("user", "user-123") == "user-123"
    assert limits("runbook", show_secrets=True).mask_subject("api_key", "sk-live-1234567890") == "sk-live-1234567890"


def test_fixed_window_status():
    key = "ratelimit:user:u1:2026-03-02-09"
    status = limits("runbook", {key: ("string", b"5000")}, window="2026-03-02-09").status("user", "u1")
    assert status["used"] == 5000 and status["limit"] == 5000 and status["remaining"] == 0 and status["limited"] is True
    assert status["reset_at"] == "2026-03-02T10:00:00Z" and status["ttl"] == 1800 and status["exists"] is True
    missing = limits("runbook", window="2026-03-02-09").status("user", "u2", limit=10)
    assert missing["used"] == 0 and missing["remaining"] == 10 and missing["limited"] is False and missing["ttl"] is None


def test_a_counter_that_is_not_a_number_is_refused():
    key = "ratelimit:user:u1:2026-03-02-09"
    with pytest.raises(SarkValidationError, match="not a request counter"):
        limits("runbook", {key: ("string", b"lots")}, window="2026-03-02-09").status("user", "u1")


def test_a_key_of_another_type_is_refused():
    with pytest.raises(SarkValidationError, match="is a Redis hash, but a rate-limit key"):
        limits("sark_v2", {"rate_limit:user:u1": ("hash", None)}).status("user", "u1")


def test_sliding_window_counts_only_the_last_hour():
    now = time.time()
    scores = [now - 7200, now - 1000, now - 10]
    status = limits("sark_v2", {"rate_limit:ip:1.2.3.4": ("zset", scores)}).status("ip", "1.2.3.4", limit=2)
    assert status["used"] == 2 and status["entries"] == 3 and status["limited"] is True
    assert status["reset_epoch"] == int(now - 1000 + 3600)


def test_reset_checks():
    with pytest.raises(SarkValidationError, match="needs subject"):
        validate_reset({"scope": "window", "subject": None, "force": False})
    with pytest.raises(SarkValidationError, match="Confirm it with force: true"):
        validate_reset({"scope": "all", "subject": None, "force": False})
    with pytest.raises(SarkValidationError, match="drop subject"):
        validate_reset({"scope": "all", "subject": "u1", "force": True})
    with pytest.raises(SarkValidationError, match="surrounding spaces"):
        validate_reset({"scope": "subject", "subject": " u1", "force": False})
    validate_reset({"scope": "all", "subject": None, "force": True})


def test_limit_checks():
    with pytest.raises(SarkValidationError, match="rate_limit must be 0 or more"):
        validate_limits({"rate_limit": -1})
    with pytest.raises(SarkValidationError, match="limits.ip must be a non-negative integer"):
        validate_limits({"limits": {"ip": "many"}})
    validate_limits({"rate_limit": 0, "limits": {"ip": 5, "token": None}})
