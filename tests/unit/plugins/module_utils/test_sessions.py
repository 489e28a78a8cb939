# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _sessions.py: which scope a read or a revocation takes, the bounded top-N counter, session records and
the session keys of both layouts."""

import json

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._sessions import SessionStore, TopCounter, decode_record, read_scope, revoke_scope


class Sweeper:
    params = {}
    evidence = None


def revoke(**params):
    return revoke_scope(dict({"scope": None, "session_id": None, "user_id": None, "force": False}, **params))


def test_read_scope_is_implied_by_the_filters():
    assert read_scope({}) == "all"
    assert read_scope({"user_id": "u1"}) == "user"
    assert read_scope({"user_id": "u1", "session_id": "s1"}) == "session"
    for params, message in (({"scope": "session"}, "scope=session needs session_id"),
                            ({"scope": "user"}, "scope=user needs user_id"),
                            ({"scope": "all", "user_id": "u1"}, "drop user_id/session_id")):
        with pytest.raises(SarkValidationError, match=message):
            read_scope(params)


def test_revoke_scope_never_implies_all():
    assert revoke(session_id="s1") == "session" and revoke(user_id="u1") == "user"
    assert revoke(scope="all", force=True) == "all"
    with pytest.raises(SarkValidationError, match="Nothing was revoked"):
        revoke()
    with pytest.raises(SarkValidationError, match="Confirm it with force: true"):
        revoke(scope="all")
    with pytest.raises(SarkValidationError, match="drop user_id/session_id"):
        revoke(scope="all", user_id="u1", force=True)
    with pytest.raises(SarkValidationError, match="scope=user needs user_id"):
        revoke(scope="user", session_id="s1")


def test_top_counter_is_exact_within_capacity():
    counter = TopCounter(capacity=10)
    for item, amount in (("a", 3), ("b", 5), ("c", 5), ("a", 4)):
        counter.add(item, amount)
    assert counter.top(2) == [("a", 7), ("c", 5)] and counter.exact is True


def test_top_counter_prunes_past_capacity_and_says_so():
    counter = TopCounter(capacity=10)
    counter.add("heavy", 1000)
    for n in range(50):
        counter.add("light-%d" % n)
    assert counter.exact is False and len(counter.counts) <= 10
    assert counter.top(1) == [("heavy", 1000)]


def test_decode_record_of_a_hash_and_of_json_masks_secrets():
    record = decode_record({b"user_id": b"u1", b"token": b"t0ken"})
    assert record == {"user_id": "u1", "token": MASK}
    assert decode_record(json.dumps({"user_id": "u1", "refresh": "r"}), secret_keys=("refresh",)) == {"user_id": "u1", "refresh": MASK}
    assert decode_record(b'{"token": "t0ken"}', show_secrets=True) == {"token": "t0ken"}
    assert decode_record(b"\x00not json") == {"value": "<9 bytes, not JSON>"}
    assert decode_record(b"[1, 2]") == {"value": [1, 2]}
    assert decode_record(None) is None


def test_session_keys_of_both_layouts():
    runbook = SessionStore(None, Layout("runbook"), Sweeper())
    assert runbook.session_key("s1", "alice") == "session:user:alice:s1" and runbook.indexed is False
    assert runbook.parse_key(b"session:user:alice:admin:s1") == {"user_id": "alice:admin", "session_id": "s1"}
    assert runbook.session_type == "hash"
    v2 = SessionStore(None, Layout("sark_v2"), Sweeper())
    assert v2.session_key("s1", "ignored") == "session:s1" and v2.index_key("u1") == "user_sessions:u1"
    assert v2.indexed is True and v2.session_type == "string" and v2.parse_key("session:s1") == {"session_id": "s1"}
    assert v2.parse_key("other:s1") == {}
