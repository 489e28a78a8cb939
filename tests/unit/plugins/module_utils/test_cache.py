# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _cache.py: the keys each sark_cache target selects in both layouts, the checks before anything is
deleted, and FLUSHDB bounded by max_keys."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._cache import flushdb, target_pattern, validate_target
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import Evidence, SarkLimitError, SarkValidationError

PARAMS = dict(target="decisions", user_id=None, decision_action=None, resource=None, policy=None, prefix=None, pattern=None,
              force=False, max_keys=100, sample_size=5, scan_count=500, max_block_ms=5.0, engine="auto")


def params(**changes):
    return dict(PARAMS, **changes)


class FakeRedis:
    """A standalone server as primaries() sees it, with the calls flushdb() makes."""

    def __init__(self, size):
        self.size = size
        self.flushed = []
        self.connection_pool = type("Pool", (), {"connection_kwargs": {"host": "127.0.0.1", "port": 6379}})()

    def dbsize(self):
        return self.size

    def scan(self, cursor=0, count=10):
        return 0, [b"key-%d" % n for n in range(min(count, self.size))]

    def flushdb(self, asynchronous=False):
        self.flushed.append(asynchronous)


class FakeModule:
    def __init__(self, check_mode):
        self.check_mode = check_mode
        self.evidence = Evidence("sark_cache", {}, check_mode)


def test_decision_patterns_escape_what_is_given_and_match_any_for_the_rest():
    assert target_pattern(params(), Layout("runbook")) == ("policy:decision:*:*:*:*", None)
    assert target_pattern(params(user_id="u:1*", decision_action="tool:invoke"), Layout("sark_v2"))[0] == \
        "policy:decision:u:1\\*:tool:invoke:*:*"


def test_versions_exist_only_in_the_runbook_layout():
    assert target_pattern(params(target="versions", policy="server_access"), Layout("runbook")) == \
        ("policy:version:server_access", None)
    pattern, absent = target_pattern(params(target="versions"), Layout("sark_v2"))
    assert pattern is None and "keeps no policy:version" in absent


def test_prefix_is_literal_and_must_have_literal_characters():
    assert target_pattern(params(target="prefix", prefix="pol*icy:"), Layout("runbook"))[0] == "pol\\*icy:*"
    with pytest.raises(SarkValidationError, match="needs a non-empty prefix"):
        target_pattern(params(target="prefix", prefix=" "), Layout("runbook"))
    with pytest.raises(SarkValidationError, match="has no literal characters"):
        target_pattern(params(target="prefix", prefix="*?"), Layout("runbook"))


def test_a_pattern_of_wildcards_only_needs_force():
    with pytest.raises(SarkValidationError, match="matches every key"):
        target_pattern(params(target="pattern", pattern="*"), Layout("runbook"))
    assert target_pattern(params(target="pattern", pattern="*", force=True), Layout("runbook"))[0] == "*"
    assert target_pattern(params(target="all"), Layout("runbook")) == ("FLUSHDB", None)


def test_options_of_another_target_are_refused():
    validate_target(params(user_id="u1"))
    with pytest.raises(SarkValidationError, match="target=versions does not use user_id"):
        validate_target(params(target="versions", user_id="u1"))
    with pytest.raises(SarkValidationError, match="resource is empty"):
        validate_target(params(resource=" "))
    with pytest.raises(SarkValidationError, match="Confirm with force: true"):
        validate_target(params(target="all"))
    validate_target(params(target="all", force=True))


def test_flushdb_check_mode_counts_and_flushes_nothing():
    client, module = FakeRedis(40), FakeModule(check_mode=True)
    stats = flushdb(module, client, params(target="all", force=True))
    assert stats.matched == 40 and stats.removed == 0 and client.flushed == []
    assert module.evidence.record["planned_actions"] == [{"action": "flushdb", "keys": 40, "nodes": 1}]
    assert module.evidence.record["executed_actions"] == []


def test_flushdb_real_run_records_each_flushed_node():
    client, module = FakeRedis(40), FakeModule(check_mode=False)
    stats = flushdb(module, client, params(target="all", force=True))
    assert stats.removed == 40 and client.flushed == [True]
    assert module.evidence.record["executed_actions"] == [{"action": "flushdb", "keys": 40, "nodes": 1, "flushed": ["127.0.0.1:6379"]}]


def test_flushdb_over_max_keys_deletes_nothing():
    client, module = FakeRedis(101), FakeModule(check_mode=False)
    with pytest.raises(SarkLimitError, match="more than max_keys=100. Nothing was deleted") as refused:
        flushdb(module, client, params(target="all", force=True))
    assert client.flushed == [] and refused.value.details["matched"] == 101
