import fnmatch

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    KeyBudget,
    KeySweeper,
    SweepLimitError,
    SweepStats,
    check_pattern,
    has_literal_prefix,
    literal_prefix,
    require_literal_prefix,
    literal_characters,
    mask_key,
    merge_stats,
    validate_sweep_params,
)
from ansible_collections.sark.ops.plugins.module_utils._sessions import TopCounter, decode_record


class FakeNode:
    """Just enough of a redis.Redis for the client-side sweep: SCAN pages in key order, UNLINK."""

    def __init__(self, keys, types=None):
        self.keys = sorted(keys)
        self.types = types or {}
        self.unlinked = []
        self.connection_pool = type("Pool", (), {"connection_kwargs": {"host": "fake", "port": 1}})()

    def scan(self, cursor=0, match=None, count=10, _type=None):
        start = int(cursor)
        page = self.keys[start:start + count]
        nxt = start + count if start + count < len(self.keys) else 0
        found = [k for k in page if k not in self.unlinked and fnmatch.fnmatchcase(k, match or "*")
                 and (not _type or self.types.get(k, "string") == _type)]
        return nxt, [k.encode() for k in found]

    def unlink(self, *keys):
        # deleted keys stay in the scan order (like Redis, deleting does not move the cursor's position)
        gone = [k.decode() for k in keys if k.decode() in self.keys and k.decode() not in self.unlinked]
        self.unlinked += gone
        return len(gone)

    @property
    def remaining(self):
        return [k for k in self.keys if k not in self.unlinked]


def sweeper(node, count=10, sample_size=5):
    return KeySweeper(node, {}, scan_count=count, engine="client", sample_size=sample_size)


def test_literal_characters_and_wildcard_only_patterns():
    assert literal_characters("policy:decision:*") == "policy:decision:"
    assert literal_characters("*") == "" and literal_characters("?*[abc]*") == ""
    assert literal_characters("\\*") == "*"
    for pattern in ("*", "**", "?", "[a-z]*"):
        with pytest.raises(SarkValidationError, match="wildcards only"):
            check_pattern(pattern)
        assert check_pattern(pattern, force=True) == pattern
    for pattern in ("", "   ", None):
        with pytest.raises(SarkValidationError, match="empty"):
            check_pattern(pattern, force=True)
    with pytest.raises(SarkValidationError, match="spaces"):
        check_pattern(" policy:*")
    assert check_pattern("session:user:u1:*") == "session:user:u1:*"


def test_sweep_params_are_validated():
    good = {"max_keys": 1, "scan_count": 1000, "max_block_ms": 5.0, "sample_size": 10}
    validate_sweep_params(good)
    for bad, message in ((dict(good, max_keys=-1), "max_keys must be a positive"), (dict(good, max_keys=0), "positive"),
                         (dict(good, scan_count=5), "scan_count"), (dict(good, max_block_ms=0), "max_block_ms"),
                         (dict(good, sample_size=-1), "sample_size")):
        with pytest.raises(SarkValidationError, match=message):
            validate_sweep_params(bad)


def test_mask_key_hides_api_keys_and_tokens():
    assert mask_key("rate_limit:api_key:sk-live-0123456789") == "rate_limit:api_key:sk-l********"
    assert mask_key(b"rate_limit:token:42") == "rate_limit:token:********"
    assert mask_key("session:user:u1:s1") == "session:user:u1:s1"


def test_count_and_delete_with_client_engine():
    node = FakeNode(["session:user:u%d:s%d" % (u, s) for u in range(5) for s in range(4)] + ["other:%d" % n for n in range(7)])
    stats = sweeper(node).count("session:user:u1:*")
    assert stats.matched == 4 and stats.removed == 0 and stats.engine == "client" and stats.nodes == 1
    assert node.unlinked == []
    budget = KeyBudget(100)
    stats = sweeper(node).delete("session:user:*", budget=budget)
    assert stats.removed == 20 and budget.used == 20 and len(stats.sample) == 5
    assert sorted(node.remaining) == sorted("other:%d" % n for n in range(7))
    assert stats.progress()["pages"] == 3 and stats.progress()["removed"] == 20


def test_cap_stops_before_the_page_that_would_cross_it():
    node = FakeNode(["k:%03d" % n for n in range(50)])
    budget = KeyBudget(25)
    with pytest.raises(SweepLimitError) as caught:
        sweeper(node, count=10).delete("k:*", budget=budget)
    # pages of 10: two pages (20 keys) fit under 25, the third would cross the cap and is left alone
    assert len(node.unlinked) == 20 and budget.used == 20
    assert caught.value.details["matched"] == 30 and caught.value.details["removed"] == 20
    assert "max_keys=25" in caught.value.msg and "raise max_keys" in caught.value.msg


def test_plan_counts_everything_and_fails_above_the_cap():
    node = FakeNode(["k:%03d" % n for n in range(50)])
    with pytest.raises(SweepLimitError, match="at least 50") as caught:
        sweeper(node).plan("k:*", budget=KeyBudget(10))
    assert caught.value.details["matched"] == 50 and node.unlinked == []
    budget = KeyBudget(60)
    assert sweeper(node).plan("k:*", budget=budget).matched == 50 and budget.used == 50


def test_type_filter_and_merge():
    node = FakeNode(["session:a", "session:b", "session:c"], types={"session:c": "hash"})
    strings = sweeper(node).count("session:*", "string")
    hashes = sweeper(node).count("session:*", "hash")
    assert (strings.matched, hashes.matched) == (2, 1)
    merged = merge_stats([strings.finish(), hashes.finish(), None], sample_size=2)
    assert merged["matched"] == 3 and len(merged["sample"]) == 2 and merged["progress"]["pages"] == 2


def test_unlink_keys_respects_budget():
    node = FakeNode(["a", "b", "c"])
    with pytest.raises(SweepLimitError):
        sweeper(node).unlink_keys([b"a", b"b", b"c"], KeyBudget(2))
    assert node.unlinked == []
    assert sweeper(node).unlink_keys([b"a", b"b"], KeyBudget(2)) == 2


class FakeClock:
    """time.monotonic for _redis_keys, moved by the test."""

    def __init__(self, now=100.0):
        self.now = now

    def monotonic(self):
        return self.now


def test_stats_progress_reports_rate(monkeypatch):
    from ansible_collections.sark.ops.plugins.module_utils import _redis_keys  # pylint: disable=import-outside-toplevel

    clock = FakeClock()
    monkeypatch.setattr(_redis_keys, "time", clock)
    stats = SweepStats("x:*")
    stats.matched, stats.removed, stats.pages, stats.calls, stats.nodes = 1000, 400, 7, 3, 1
    clock.now += 0.5  # still running: the rate so far
    running = stats.progress()
    assert running["duration_ms"] == 500.0 and running["keys_per_second"] == 2000
    clock.now += 1.5
    stats.finish()
    clock.now += 60  # after finish() the figures no longer move
    progress = stats.progress()
    assert progress == {"batches": 3, "pages": 7, "keys": 1000, "removed": 400, "nodes": 1, "duration_ms": 2000.0,
                        "keys_per_second": 500, "engine": None}
    instant = SweepStats("y:*")
    instant.matched = 5
    assert instant.finish().progress()["keys_per_second"] is None and instant.progress()["duration_ms"] == 0.0  # no time: no rate


def test_top_counter_is_exact_below_capacity_and_bounded_above():
    counter = TopCounter(capacity=10)
    for user, n in (("a", 5), ("b", 3), ("c", 1)):
        counter.add(user, n)
    assert counter.top(2) == [("a", 5), ("b", 3)] and counter.exact
    for n in range(100):
        counter.add("noise-%d" % n)
    assert len(counter.counts) <= 10 and not counter.exact and counter.top(1) == [("a", 5)]


def test_decode_record_masks_secrets():
    assert decode_record({b"token": b"t", b"ip_address": b"1.2.3.4"}) == {"token": "********", "ip_address": "1.2.3.4"}
    expected = {"user_id": "u1", "metadata": {"refresh_token": "********"}}
    assert decode_record(b'{"user_id": "u1", "metadata": {"refresh_token": "x"}}') == expected
    assert decode_record(b"not json") == {"value": "<8 bytes, not JSON>"}
    assert decode_record({b"token": b"t"}, show_secrets=True) == {"token": "t"}


def test_layout_parser_field_regexes_and_ratelimit_traits():
    layout = Layout("runbook")
    parser = layout.parser("ratelimit_key", kind=r"[^:]+", window=r"\d{4}-\d{2}-\d{2}-\d{2}")
    match = parser.match("ratelimit:ip:2001:db8::1:2025-11-22-10")
    assert match.group("kind") == "ip" and match.group("subject") == "2001:db8::1" and match.group("window") == "2025-11-22-10"
    assert layout.traits["ratelimit_limits"]["user"] == 5000
    assert Layout("sark_v2").traits["ratelimit_limits"]["api_key"] == 1000
    assert Layout("sark_v2").pattern("ratelimit_key") == "rate_limit:*:*"


@pytest.mark.parametrize("pattern,prefix", [("policy:decision:*", "policy:decision:"), ("*:*", ""), (r"a\*b*", "a*b"),
                                            ("[ab]lice:*", ""), ("session:user:?", "session:user:")])
def test_literal_prefix(pattern, prefix):
    assert literal_prefix(pattern) == prefix


@pytest.mark.parametrize("pattern", ["*:*", ":*", "[a-z]*", "?:*", "*"])
def test_patterns_without_a_literal_prefix_are_refused(pattern):
    assert not has_literal_prefix(pattern)
    with pytest.raises(SarkValidationError, match="literal prefix|wildcards only"):
        check_pattern(pattern)
    assert require_literal_prefix(pattern, force=True) == pattern


def test_a_template_without_literal_part_gives_a_refused_sweep():
    layout = Layout("runbook", {"session_key": "{user_id}:{session_id}"})
    with pytest.raises(SarkValidationError, match="no literal prefix"):
        require_literal_prefix(layout.pattern("session_key"))
