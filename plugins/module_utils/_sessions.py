# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK user sessions in Redis, for both layouts (private): count, list, revoke.

Shared by sark_session and by any module that must log a user out (disable user, reset
password): build a SessionStore and call revoke_user(); do not re-implement the key logic.

- ``runbook``: one HASH per session, ``session:user:{user_id}:{session_id}``, no index: a
  user's sessions are found by SCAN of ``session:user:{user_id}:*``.
- ``sark_v2``: one STRING (JSON) per session, ``session:{session_id}``, plus an index SET
  ``user_sessions:{user_id}`` of session ids: a user's sessions are read from the index, and
  revoking them removes the session keys and then the index.

Which of the two applies follows the templates (a layout whose user_sessions_key is set is
indexed), so overridden templates keep working.
"""

import heapq
import json
import time

from ansible_collections.sark.ops.plugins.module_utils._layout import placeholders
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkPreconditionError,
    SarkValidationError,
    mask_secrets,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    KeyBudget,
    SweepLimitError,
    merge_stats,
    redis_errors,
    require_type,
)

READ_CHUNK = 500


def read_scope(params):
    """What sark_session_info reads: all, user or session (implied by the filters when not set)."""
    scope = params.get("scope")
    if scope is None:
        scope = "session" if params.get("session_id") else "user" if params.get("user_id") else "all"
    if scope == "session" and not params.get("session_id"):
        raise SarkValidationError("scope=session needs session_id")
    if scope == "user" and not params.get("user_id"):
        raise SarkValidationError("scope=user needs user_id")
    if scope == "all" and (params.get("user_id") or params.get("session_id")):
        raise SarkValidationError("scope=all counts every session: drop user_id/session_id, or use scope user/session")
    return scope


def revoke_scope(params):
    """What sark_session state=absent revokes: session, user or all (all is never implied and needs force)."""
    scope = params["scope"]
    if scope is None:
        if params["session_id"]:
            scope = "session"
        elif params["user_id"]:
            scope = "user"
        else:
            raise SarkValidationError("state=absent needs session_id, user_id, or scope: all with force: true (a global logout). "
                                      "Nothing was revoked.")
    if scope == "session" and not params["session_id"]:
        raise SarkValidationError("scope=session needs session_id")
    if scope == "user" and not params["user_id"]:
        raise SarkValidationError("scope=user needs user_id")
    if scope == "all":
        if params["user_id"] or params["session_id"]:
            raise SarkValidationError("scope=all revokes every session of every user: drop user_id/session_id, or use scope user/session")
        if not params["force"]:
            raise SarkValidationError("scope=all logs out every user. Confirm it with force: true (run in check mode first to see how "
                                      "many sessions would go). Nothing was revoked.")
    return scope


class TopCounter:
    """The items with the highest counts in bounded memory.

    Exact while there are at most ``capacity`` distinct items; past that the table is pruned to
    its heaviest half each time it fills up, and ``exact`` turns false.
    """

    def __init__(self, capacity=10000):
        self.capacity = max(10, int(capacity))
        self.counts = {}
        self.exact = True

    def add(self, item, amount=1):
        self.counts[item] = self.counts.get(item, 0) + amount
        if len(self.counts) > self.capacity:
            self.exact = False
            keep = heapq.nlargest(self.capacity // 2, self.counts.items(), key=lambda pair: pair[1])
            self.counts = dict(keep)

    def top(self, count):
        return heapq.nlargest(count, self.counts.items(), key=lambda pair: (pair[1], pair[0]))


def decode_record(raw, secret_keys=(), show_secrets=False):
    """A session's stored fields as a dict (a hash's fields, or the JSON of a string), secrets masked unless asked."""
    if isinstance(raw, dict):
        record = {to_text(k): to_text(v) for k, v in raw.items()}
    elif raw is None:
        return None
    else:
        text = to_text(raw)
        try:
            record = json.loads(text)
        except ValueError:
            record = {"value": "<%d bytes, not JSON>" % len(text)}
        if not isinstance(record, dict):
            record = {"value": record}
    return record if show_secrets else mask_secrets(record, secret_keys)


class SessionStore:
    """The sessions of one layout in one Redis (standalone or cluster)."""

    def __init__(self, client, layout, sweeper, evidence=None, show_secrets=False):
        self.client = client
        self.layout = layout
        self.sweeper = sweeper
        self.evidence = evidence
        self.show_secrets = show_secrets
        self.session_type = layout.key_type("session_key") or layout.traits.get("session_type", "hash")
        # Every sweep matches the session type only (SCAN ... TYPE, evaluated in Redis): a session key template that
        # overlaps other data (a short or overridden template) can never take keys of another type with it.
        self.match_type = self.session_type
        self.indexed = layout.has("user_sessions_key")
        self.key_has_user = "user_id" in placeholders(layout.template("session_key"))
        self.params = sweeper.params
        if sweeper.evidence is None:
            sweeper.evidence = evidence

    # ------------------------------------------------------------------ keys

    def session_key(self, session_id, user_id=None):
        values = {"session_id": session_id}
        if self.key_has_user:
            values["user_id"] = user_id
        return self.layout.key("session_key", **values)

    def index_key(self, user_id):
        return self.layout.key("user_sessions_key", user_id=user_id)

    def all_sessions_pattern(self):
        return self.layout.pattern("session_key")

    def user_pattern(self, user_id):
        return self.layout.pattern("session_key", user_id=user_id)

    def user_colons(self, user_id):
        """The exact ':' count of this user's session keys (None when the template does not make it exact)."""
        return self.layout.colons("session_key", user_id=user_id)

    def parse_key(self, key):
        # session ids are colon-free: in session:user:alice:admin:s1 the user is alice:admin
        match = self.layout.parser("session_key", session_id=r"[^:]+").match(to_text(key))
        return match.groupdict() if match else {}

    def _plan(self, action, **details):
        if self.evidence is not None:
            self.evidence.plan(action, **details)

    def _executed(self, action, **details):
        if self.evidence is not None:
            self.evidence.executed(action, **details)

    def _require_user(self, user_id, what):
        if user_id in (None, ""):
            raise SarkValidationError("%s needs user_id" % what)

    # ------------------------------------------------------------------ reading

    def count_all(self):
        """Every session: keys matching the session pattern that have the session type."""
        return self.sweeper.count(self.all_sessions_pattern(), self.match_type)

    def count_user(self, user_id):
        """(live sessions, stale index entries) of one user."""
        self._require_user(user_id, "counting a user's sessions")
        if self.indexed:
            live, stale = 0, 0
            for ids in self._index_pages(user_id):
                exists = self._exists_many([self.session_key(sid, user_id) for sid in ids])
                live += sum(exists)
                stale += len(exists) - sum(exists)
            return live, stale
        return self.sweeper.count(self.user_pattern(user_id), self.match_type, self.user_colons(user_id)).matched, 0

    def top_users(self, count, capacity=None):
        """The users with the most sessions: [(user_id, sessions)], and whether the figures are exact."""
        counter = TopCounter(capacity or max(1000, 100 * count))
        with redis_errors(self.params, "counting sessions per user"):
            if self.indexed:
                parser = self.layout.parser("user_sessions_key")
                for node, keys in self.sweeper.iter_keys(self.layout.pattern("user_sessions_key"), "set"):
                    pipe = node.pipeline(transaction=False)
                    for key in keys:
                        pipe.scard(key)
                    for key, size in zip(keys, pipe.execute()):
                        match = parser.match(to_text(key))
                        if match and size:
                            counter.add(match.group("user_id"), int(size))
            else:
                for _node, keys in self.sweeper.iter_keys(self.all_sessions_pattern(), self.match_type):
                    for key in keys:
                        user_id = self.parse_key(key).get("user_id")
                        if user_id is not None:
                            counter.add(user_id)
        return [{"user_id": uid, "sessions": n} for uid, n in counter.top(count)], counter.exact

    def list_user(self, user_id, limit=100):
        """A user's sessions with their fields (secrets masked unless show_secrets): (sessions, truncated, stale ids)."""
        self._require_user(user_id, "listing a user's sessions")
        keys, stale, truncated = [], 0, False
        with redis_errors(self.params, "listing the sessions of %s" % user_id):
            if self.indexed:
                for ids in self._index_pages(user_id):
                    for sid in ids:
                        if len(keys) >= limit:
                            truncated = True
                            break
                        keys.append(self.session_key(sid, user_id))
                    if truncated:
                        break
            else:
                for _node, page in self.sweeper.iter_keys(self.user_pattern(user_id), self.match_type,
                                                          colons=self.user_colons(user_id)):
                    room = limit - len(keys)
                    keys.extend(to_text(k) for k in page[:room])
                    if len(page) > room:
                        truncated = True
                        break
            sessions = []
            for session in self.read_sessions(keys, user_id):
                if session["fields"] is None:
                    stale += 1
                    continue
                sessions.append(session)
        return sessions, truncated, stale

    def get_session(self, session_id, user_id=None):
        """One session by id (its user found from the key or the record); None when it does not exist."""
        keys = self._find_session_keys(session_id, user_id)
        found = [s for s in self.read_sessions(keys, user_id) if s["fields"] is not None]
        return found[0] if found else None

    def read_sessions(self, keys, user_id=None):
        out = []
        with redis_errors(self.params, "reading sessions"):
            for start in range(0, len(keys), READ_CHUNK):
                chunk = keys[start:start + READ_CHUNK]
                pipe = self.client.pipeline(transaction=False)
                for key in chunk:
                    pipe.type(key)
                    pipe.ttl(key)
                raw = pipe.execute()
                types = [to_text(t) for t in raw[0::2]]
                ttls = raw[1::2]
                for key, key_type in zip(chunk, types):
                    if key_type not in ("none", self.session_type):
                        require_type(self.client, key, self.session_type, "a session", self.layout.name)
                pipe = self.client.pipeline(transaction=False)
                for key, key_type in zip(chunk, types):
                    if key_type == "hash":
                        pipe.hgetall(key)
                    elif key_type != "none":
                        pipe.get(key)
                values = iter(pipe.execute())
                for key, key_type, ttl in zip(chunk, types, ttls):
                    raw_value = next(values) if key_type != "none" else None
                    fields = decode_record(raw_value, show_secrets=self.show_secrets)
                    parsed = self.parse_key(key)
                    sid = parsed.get("session_id") or (fields or {}).get("session_id")
                    uid = parsed.get("user_id") or (fields or {}).get("user_id") or user_id
                    out.append({"session_id": sid, "user_id": uid, "key": to_text(key),
                                "ttl": int(ttl) if ttl is not None else None, "fields": fields})
        return out

    # ------------------------------------------------------------------ revoking

    def revoke_session(self, session_id, user_id=None, check_mode=False, budget=None):
        """Revoke one session (and its index entry). Returns a report dict."""
        if session_id in (None, ""):
            raise SarkValidationError("revoking one session needs session_id")
        budget = budget or KeyBudget(self.params.get("max_keys") or 10000)
        report = {"scope": "session", "session_id": session_id, "user_id": user_id, "sessions": 0, "index_entries": 0,
                  "matched": 0, "removed": 0, "sample": [], "progress": None}
        with redis_errors(self.params, "revoking session %s" % session_id):
            if self.key_has_user and user_id in (None, ""):
                # runbook layout without the user: the session id is found by a bounded SCAN
                pattern = self.layout.pattern("session_key", session_id=session_id)
                self._plan("unlink", pattern=pattern, type=self.match_type)
                stats = self.sweeper.sweep(pattern, self.match_type, budget, check_mode)
                self._executed_sweep(stats, check_mode)
                report.update(merge_stats([stats], self.sweeper.sample_size))
                report["sessions"] = stats.matched if check_mode else stats.removed
                return report
            key = self.session_key(session_id, user_id)
            exists = require_type(self.client, key, self.session_type, "a session", self.layout.name)
            owner = user_id
            if self.indexed and exists:
                record = decode_record(self.client.get(key), show_secrets=True) if self.session_type == "string" else None
                owner_in_record = (record or {}).get("user_id")
                if user_id not in (None, "") and owner_in_record not in (None, "") and str(owner_in_record) != str(user_id):
                    raise SarkPreconditionError("Session %s belongs to user %s, not %s: nothing was revoked. Check user_id."
                                                % (session_id, owner_in_record, user_id))
                owner = owner_in_record if owner_in_record not in (None, "") else user_id
            report["user_id"] = owner
            in_index = False
            if self.indexed and owner not in (None, ""):
                index = self.index_key(owner)
                require_type(self.client, index, "set", "a user's session index", self.layout.name)
                in_index = bool(self.client.sismember(index, session_id))
            report["matched"] = int(exists)
            report["sessions"] = int(exists)
            report["index_entries"] = int(in_index)
            report["sample"] = [self.sweeper.masker(key)] if exists else []
            if exists:
                self._plan("unlink", key=self.sweeper.masker(key))
            if in_index:
                self._plan("srem", key=self.index_key(owner), member=session_id)
            if check_mode or not (exists or in_index):
                return report
            if exists:
                if budget.remaining < 1:
                    raise SarkPreconditionError("max_keys leaves no room to remove %s" % key)
                report["removed"] = int(self.client.unlink(key))
                budget.spend(report["removed"])
                self._executed("unlink", key=self.sweeper.masker(key), removed=report["removed"])
            if in_index:
                report["index_entries"] = int(self.client.srem(self.index_key(owner), session_id))
                self._executed("srem", key=self.index_key(owner), removed=report["index_entries"])
        return report

    def revoke_user(self, user_id, check_mode=False, budget=None):
        """Revoke every session of one user; in an indexed layout the index goes too. Returns a report dict."""
        self._require_user(user_id, "revoking a user's sessions")
        budget = budget or KeyBudget(self.params.get("max_keys") or 10000)
        report = {"scope": "user", "user_id": user_id, "sessions": 0, "index_entries": 0}
        with redis_errors(self.params, "revoking the sessions of %s" % user_id):
            if not self.indexed:
                pattern = self.user_pattern(user_id)
                self._plan("unlink", pattern=pattern, type=self.match_type)
                stats = self.sweeper.sweep(pattern, self.match_type, budget, check_mode, colons=self.user_colons(user_id))
                self._executed_sweep(stats, check_mode)
                report.update(merge_stats([stats], self.sweeper.sample_size))
                report["sessions"] = stats.matched if check_mode else stats.removed
                return report
            report.update(self._revoke_indexed_user(user_id, check_mode, budget))
        return report

    def revoke_all(self, check_mode=False, budget=None):
        """Global logout: every session key, and every index in an indexed layout. Returns a report dict."""
        budget = budget or KeyBudget(self.params.get("max_keys") or 10000)
        report = {"scope": "all", "sessions": 0, "index_entries": 0}
        with redis_errors(self.params, "revoking every session"):
            pattern = self.all_sessions_pattern()
            self._plan("unlink", pattern=pattern, type=self.match_type)
            sessions = self.sweeper.sweep(pattern, self.match_type, budget, check_mode)
            self._executed_sweep(sessions, check_mode)
            indexes = None
            if self.indexed:
                index_pattern = self.layout.pattern("user_sessions_key")
                self._plan("unlink", pattern=index_pattern, type="set")
                indexes = self.sweeper.sweep(index_pattern, "set", budget, check_mode)
                self._executed_sweep(indexes, check_mode)
            report.update(merge_stats([sessions, indexes], self.sweeper.sample_size))
            report["sessions"] = sessions.matched if check_mode else sessions.removed
            report["index_keys"] = (indexes.matched if check_mode else indexes.removed) if indexes else 0
        return report

    # ------------------------------------------------------------------ helpers

    def _executed_sweep(self, stats, check_mode):
        # the sweeper records every batch in the evidence as it goes (so a failure reports it); only a sweeper without
        # evidence leaves the record to us
        if not check_mode and self.sweeper.evidence is None:
            self._executed("unlink", pattern=stats.pattern, type=stats.key_type, removed=stats.removed,
                           batches=stats.calls)

    def _index_pages(self, user_id, page=READ_CHUNK):
        """A user's session ids from the index, one SSCAN page at a time."""
        index = self.index_key(user_id)
        if not require_type(self.client, index, "set", "a user's session index", self.layout.name):
            return
        cursor = 0
        while True:
            cursor, members = self.client.sscan(index, cursor=cursor, count=page)
            if members:
                yield [to_text(m) for m in members]
            if int(cursor) == 0:
                return

    def _exists_many(self, keys):
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [int(n) for n in pipe.execute()]

    def _find_session_keys(self, session_id, user_id):
        if not self.key_has_user or user_id not in (None, ""):
            return [self.session_key(session_id, user_id)]
        pattern = self.layout.pattern("session_key", session_id=session_id)
        keys = []
        for _node, page in self.sweeper.iter_keys(pattern, self.match_type):
            keys.extend(to_text(k) for k in page)
            if len(keys) > 100:
                break
        return keys

    def _revoke_indexed_user(self, user_id, check_mode, budget):
        started = time.monotonic()
        index = self.index_key(user_id)
        sample = []
        sessions = 0
        ids = 0
        for page in self._index_pages(user_id):
            ids += len(page)
            keys = [self.session_key(sid, user_id) for sid in page]
            existing = [key for key, present in zip(keys, self._exists_many(keys)) if present]
            sample += [self.sweeper.masker(k) for k in existing[:max(0, self.sweeper.sample_size - len(sample))]]
            if check_mode:
                if sessions + len(existing) + 1 > budget.remaining:
                    raise self._index_cap_error(user_id, sessions + len(existing) + 1, budget)
                sessions += len(existing)
            elif existing:
                sessions += self.sweeper.unlink_keys(existing, budget)
        index_present = ids > 0
        if index_present:
            self._plan("unlink", keys="sessions listed in %s" % index, count=sessions)
            self._plan("unlink", key=index)
        removed_index = 0
        if index_present and not check_mode:
            removed_index = self.sweeper.unlink_keys([index], budget)
            if self.sweeper.evidence is None:
                self._executed("unlink", keys="sessions listed in %s" % index, removed=sessions)
                self._executed("unlink", key=index, removed=removed_index)
        if check_mode:
            budget.spend(sessions + int(index_present))
        matched = sessions + int(index_present)
        return {"sessions": sessions, "index_entries": ids, "index_keys": int(index_present), "matched": matched,
                "removed": 0 if check_mode else sessions + removed_index, "sample": sample,
                "progress": {"batches": 0, "pages": 0, "keys": matched, "removed": 0 if check_mode else sessions + removed_index,
                             "nodes": 1, "engine": "index", "duration_ms": round((time.monotonic() - started) * 1000.0, 3),
                             "keys_per_second": None}}

    @staticmethod
    def _index_cap_error(user_id, needed, budget):
        return SweepLimitError("Revoking the sessions of %s would remove at least %d keys, more than max_keys=%d allows. Nothing "
                               "was deleted; raise max_keys." % (user_id, needed, budget.limit), matched=needed, removed=0)
