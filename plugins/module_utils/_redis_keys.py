# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SCAN/UNLINK batch engine shared by the sark.ops Redis data-plane modules (private).

Never ``KEYS``: every key is found with ``SCAN`` (bounded ``COUNT``) on every primary, and
removed with ``UNLINK`` in bounded batches. By default each batch is one server-side Lua
script that scans pages until a time budget (``max_block_ms``) is used up and unlinks what it
found, so the keys never travel to the controller and no single call blocks Redis for long.
If the Redis user may not run scripts, the same loop runs client side (SCAN, then UNLINK).

Safety cap: a sweep never removes more than ``max_keys`` keys. Before each page is deleted the
engine checks that the page still fits under the cap; the page that would cross it is left
alone, the sweep stops and a SweepLimitError says how many keys matched so far, how many were
removed, and how to raise the cap. Check mode counts every match exactly and fails the same
way when the count is above the cap, so an operator sees the exact number before any delete.

Memory stays bounded: at most one page of key names (and a small sample) is held at a time.
"""

import contextlib
import itertools
import re
import time

from ansible_collections.sark.ops.plugins.module_utils._module import (
    MASK,
    SarkConnectionError,
    SarkError,
    SarkLimitError,
    SarkOperationError,
    SarkValidationError,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import classify_error, primaries, redis, to_text

DEFAULT_MAX_KEYS = 10000
# Inside a script small pages are cheaper per key (Redis 7.0 copies every key of a page before filtering it, and
# smaller pages stay in the CPU cache); from the client, bigger pages save round trips. Measured on 1,000,000 keys.
SCRIPT_SCAN_COUNT = 100
CLIENT_SCAN_COUNT = 1000
DEFAULT_MAX_BLOCK_MS = 4.0
DEFAULT_SAMPLE_SIZE = 10
UNLINK_CHUNK = 1000  # keys per UNLINK (and per Lua unpack(), which is limited to a few thousand values)

ENGINES = ("auto", "script", "client")

# One bounded step of a sweep, run inside Redis. It scans pages until the time budget is spent (or
# the cursor is back at 0) and, when deleting, unlinks each page unless the page would take the
# deletions past the cap: then it stops without touching that page. Keys never leave the server,
# only a small sample does. per_key unlinks one key per call (Redis Cluster refuses multi-key
# commands across hash slots, even on the node that owns all of them).
SWEEP_SCRIPT = """
local cursor = ARGV[1]
local pattern = ARGV[2]
local count = ARGV[3]
local key_type = ARGV[4]
local delete = ARGV[5] == '1'
local remaining = tonumber(ARGV[6])
local budget_us = tonumber(ARGV[7])
local want = tonumber(ARGV[8])
local per_key = ARGV[9] == '1'
local colons = tonumber(ARGV[10])
local function now_us()
  -- an ACL user may lack TIME: then each call does a single page
  local t = redis.pcall('TIME')
  if type(t) ~= 'table' or t.err then return nil end
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local started = now_us()
local matched, removed, pages, capped = 0, 0, 0, 0
local sample = {}
repeat
  local reply
  if key_type == '' then
    reply = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count)
  else
    reply = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count, 'TYPE', key_type)
  end
  pages = pages + 1
  local keys = reply[2]
  if colons >= 0 then
    -- exact structure: a user's pattern session:user:alice:* must not take alice:admin's session:user:alice:admin:*
    local kept = {}
    for i = 1, #keys do
      local _, found = string.gsub(keys[i], ':', '')
      if found == colons then kept[#kept + 1] = keys[i] end
    end
    keys = kept
  end
  local n = #keys
  if delete and n > remaining then
    matched = matched + n
    capped = 1
    break
  end
  cursor = reply[1]
  matched = matched + n
  if n > 0 then
    if delete then
      local gone = 0
      if per_key then
        for i = 1, n do gone = gone + redis.call('UNLINK', keys[i]) end
      else
        for i = 1, n, 1000 do gone = gone + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, n))) end
      end
      removed = removed + gone
      remaining = remaining - gone
    end
    local i = 1
    while #sample < want and i <= n do
      sample[#sample + 1] = keys[i]
      i = i + 1
    end
  end
until cursor == '0' or started == nil or now_us() - started >= budget_us
return {cursor, matched, removed, pages, capped, sample}
"""

GLOB_SPECIAL = "*?[]"
PERMISSION_MARKERS = ("noperm", "no permissions", "can't run this command", "can't access")
SECRET_SEGMENT = re.compile(r"(?i)((?:^|:)(?:api_key|apikey|token|secret|password|passwd)[:=])([^:]+)")


def sweep_argument_spec(max_keys=DEFAULT_MAX_KEYS):
    """Options every key-sweeping module shares (documented in each module)."""
    return dict(
        max_keys=dict(type="int", default=max_keys, no_log=False),
        scan_count=dict(type="int"),
        max_block_ms=dict(type="float", default=DEFAULT_MAX_BLOCK_MS),
        engine=dict(type="str", default="auto", choices=list(ENGINES)),
        sample_size=dict(type="int", default=DEFAULT_SAMPLE_SIZE),
    )


def validate_sweep_params(params, cap_name="max_keys"):
    cap = params.get(cap_name)
    if cap is None or cap < 1:
        raise SarkValidationError("%s must be a positive number (the most keys this run may remove), got %s. It is a safety cap: "
                                  "run in check mode to count the matching keys, then set %s to at least that number."
                                  % (cap_name, cap, cap_name))
    if params.get("scan_count") is not None and not 10 <= params["scan_count"] <= 100000:
        raise SarkValidationError("scan_count must be between 10 and 100000 (the SCAN COUNT hint per page), got %s"
                                  % params.get("scan_count"))
    if not 0.1 <= params.get("max_block_ms", DEFAULT_MAX_BLOCK_MS) <= 1000:
        raise SarkValidationError("max_block_ms must be between 0.1 and 1000 milliseconds, got %s" % params.get("max_block_ms"))
    if not 0 <= params.get("sample_size", DEFAULT_SAMPLE_SIZE) <= 1000:
        raise SarkValidationError("sample_size must be between 0 and 1000, got %s" % params.get("sample_size"))


def glob_parts(pattern):
    """The parts of a glob in order: (True, character) for one that must match literally (an escape resolved),
    (False, text) for a wildcard or a whole character class."""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            yield True, pattern[i + 1]
            i += 2
        elif char == "[":
            end = pattern.find("]", i + 1)
            stop = len(pattern) if end < 0 else end + 1
            yield False, pattern[i:stop]
            i = stop
        else:
            yield char not in GLOB_SPECIAL, char
            i += 1


def literal_characters(pattern):
    """The characters of a glob that must match literally (escaped characters count, classes and wildcards do not)."""
    return "".join(text for literal, text in glob_parts(pattern) if literal)


def literal_prefix(pattern):
    """The literal start of a glob: everything before its first unescaped wildcard or class (escapes resolved)."""
    return "".join(text for literal, text in itertools.takewhile(lambda part: part[0], glob_parts(pattern)))


def has_literal_prefix(pattern):
    """Whether a glob starts with a literal part naming something (a letter or digit before the first wildcard)."""
    return any(char.isalnum() for char in literal_prefix(pattern))


def require_literal_prefix(pattern, force=False, option="pattern"):
    """Refuse a sweep whose pattern has no literal prefix (``*:*``, a template such as ``{user_id}:{session_id}``): it would
    match keys of every application in the database."""
    if force or has_literal_prefix(pattern):
        return pattern
    raise SarkValidationError("%s %r has no literal prefix before its first wildcard: it matches keys of every kind in the database "
                              "(sessions, rate limits, caches, other applications' data). Name the keys with a literal start, for "
                              "example policy:decision:*%s. Nothing was deleted."
                              % (option, pattern, "" if option != "pattern" else ", or set force: true if every such key should go"),
                              pattern=pattern)


def check_pattern(pattern, force=False, option="pattern"):
    """Refuse an empty pattern, and one without a literal prefix (``*``, ``*:*``) unless force is set."""
    if pattern is None or not str(pattern).strip():
        raise SarkValidationError("%s is empty: name the keys to match (for example policy:decision:*). Nothing was deleted." % option)
    if pattern != pattern.strip():
        raise SarkValidationError("%s %r has leading or trailing spaces; Redis would match them literally. Nothing was deleted."
                                  % (option, pattern))
    if not literal_characters(pattern).strip() and not force:
        raise SarkValidationError("%s %r is wildcards only and matches every key in the database. If that is really meant, set "
                                  "force: true (and max_keys above the key count). Nothing was deleted." % (option, pattern))
    return require_literal_prefix(pattern, force, option)


def mask_key(key):
    """A key name with the value after api_key:/token:/secret: segments shortened to 4 characters."""
    text = to_text(key)

    def shorten(match):
        value = match.group(2)
        return match.group(1) + (value[:4] + MASK if len(value) > 8 else MASK)
    return SECRET_SEGMENT.sub(shorten, text)


def _error_text(exc):
    return (str(exc) or type(exc).__name__).strip()


@contextlib.contextmanager
def redis_errors(params, doing):
    """Turn redis-py errors into SarkErrors that say what was being done and what to check."""
    try:
        yield
    except SarkError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        if redis is None or not isinstance(exc, redis.exceptions.RedisError):
            raise
        text = _error_text(exc)
        lowered = text.lower()
        if isinstance(exc, redis.exceptions.NoPermissionError) or any(m in lowered for m in PERMISSION_MARKERS):
            raise SarkConnectionError("The Redis user %r may not do what %s needs: %s. Grant it in the ACL (see the module's notes) "
                                      "or use another user. Nothing more was changed."
                                      % (params.get("redis_username") or "default", doing, text), kind="auth") from exc
        if isinstance(exc, redis.exceptions.ResponseError):
            if "wrongtype" in text.lower():
                raise SarkValidationError("Redis answered WRONGTYPE while %s: a key holds another type than the layout expects. "
                                          "Check layout and layout_templates. (%s)" % (doing, text)) from exc
            raise SarkOperationError("Redis refused a command while %s: %s" % (doing, text)) from exc
        raise classify_error(exc, params, connected=True) from exc


class SweepLimitError(SarkLimitError):
    """A sweep reached its max_keys cap; nothing beyond the cap was removed."""


class KeyBudget:
    """How many keys one module run may still remove, shared by every sweep of the run."""

    def __init__(self, limit, option="max_keys"):
        self.limit = int(limit)
        self.used = 0
        self.option = option

    @property
    def remaining(self):
        return max(0, self.limit - self.used)

    def spend(self, amount):
        self.used += amount


class SweepStats:
    """Progress and outcome of one sweep (or of several, merged)."""

    def __init__(self, pattern, key_type=None, sample_size=DEFAULT_SAMPLE_SIZE, masker=mask_key):
        self.pattern = pattern
        self.key_type = key_type
        self.sample_size = sample_size
        self.masker = masker
        self.matched = 0
        self.removed = 0
        self.pages = 0
        self.calls = 0
        self.nodes = 0
        self.capped = False
        self.engine = None
        self.sample = []
        self._started = time.monotonic()
        self.duration = 0.0
        self.executed_entry = None

    def add_sample(self, keys):
        for key in keys:
            if len(self.sample) >= self.sample_size:
                return
            self.sample.append(to_text(key))

    def finish(self):
        self.duration = time.monotonic() - self._started
        return self

    def progress(self):
        seconds = self.duration or (time.monotonic() - self._started)
        return {"batches": self.calls, "pages": self.pages, "keys": self.matched, "removed": self.removed, "nodes": self.nodes,
                "duration_ms": round(seconds * 1000.0, 3),
                "keys_per_second": int(self.matched / seconds) if seconds > 0 else None,
                "engine": self.engine}

    def masked_sample(self):
        return [self.masker(key) for key in self.sample] if self.masker else list(self.sample)

    def as_dict(self):
        return {"pattern": self.pattern, "type": self.key_type, "matched": self.matched, "removed": self.removed,
                "sample": self.masked_sample(), "progress": self.progress()}


def merge_stats(stats_list, sample_size=DEFAULT_SAMPLE_SIZE):
    """One summary of several sweeps of the same run."""
    progress = {"batches": 0, "pages": 0, "keys": 0, "removed": 0, "duration_ms": 0.0, "nodes": 0, "engine": None}
    merged = {"matched": 0, "removed": 0, "sample": [], "progress": progress}
    for stats in stats_list:
        if stats is None:
            continue
        part = stats.as_dict()
        merged["matched"] += part["matched"]
        merged["removed"] += part["removed"]
        merged["sample"] += part["sample"][:max(0, sample_size - len(merged["sample"]))]
        for key in ("batches", "pages", "keys", "removed"):
            merged["progress"][key] += part["progress"][key]
        merged["progress"]["duration_ms"] = round(merged["progress"]["duration_ms"] + part["progress"]["duration_ms"], 3)
        merged["progress"]["nodes"] = max(merged["progress"]["nodes"], part["progress"]["nodes"])
        merged["progress"]["engine"] = merged["progress"]["engine"] or part["progress"]["engine"]
    seconds = merged["progress"]["duration_ms"] / 1000.0
    merged["progress"]["keys_per_second"] = int(merged["progress"]["keys"] / seconds) if seconds > 0 else None
    return merged


class KeySweeper:
    """Count, list or remove the keys matching a SCAN pattern on every primary, in bounded batches."""

    def __init__(self, client, params=None, scan_count=None, max_block_ms=DEFAULT_MAX_BLOCK_MS, engine="auto",
                 sample_size=DEFAULT_SAMPLE_SIZE, masker=mask_key, evidence=None):
        self.client = client
        # every removal is recorded in the evidence as it happens, so a failure later in the run reports it (changed, partial)
        self.evidence = evidence
        self.params = params or {}
        self.cluster = hasattr(client, "get_primaries")
        self.script_count = int(scan_count or SCRIPT_SCAN_COUNT)
        self.scan_count = int(scan_count or CLIENT_SCAN_COUNT)
        self.budget_us = int(float(max_block_ms) * 1000)
        self.engine = engine
        self.sample_size = int(sample_size)
        self.masker = masker
        self._sha = {}
        self._scripts = {"auto": None, "script": True, "client": False}[engine]

    @classmethod
    def from_params(cls, client, params, masker=mask_key, evidence=None):
        return cls(client, params, scan_count=params.get("scan_count"),
                   max_block_ms=params.get("max_block_ms") or DEFAULT_MAX_BLOCK_MS, engine=params.get("engine") or "auto",
                   sample_size=params.get("sample_size", DEFAULT_SAMPLE_SIZE), masker=masker, evidence=evidence)

    def nodes(self):
        return list(primaries(self.client))

    # ------------------------------------------------------------------ public operations

    def count(self, pattern, key_type=None, colons=None):
        """Exactly how many keys match (SCAN may repeat a key if the keyspace is resized meanwhile).

        key_type: only keys of this Redis type. colons: only keys with exactly this many ':' (the structure of one user's keys)."""
        return self._run(pattern, key_type, delete=False, budget=None, colons=colons)

    def plan(self, pattern, key_type=None, budget=None, colons=None, force=False):
        """Check mode: count every match; fail like a real run would if the count is above the cap."""
        require_literal_prefix(pattern, force)
        stats = self.count(pattern, key_type, colons)
        if budget is not None:
            if stats.matched > budget.remaining:
                raise SweepLimitError(
                    "%d keys match %s%s, more than max_keys allows (%d of %d left for this sweep): a real run would stop at the cap. "
                    "Nothing was deleted. If they should all go, set %s to at least %d; otherwise narrow the selection."
                    % (stats.matched, pattern, self._type_text(key_type), budget.remaining, budget.limit, budget.option,
                       budget.used + stats.matched), **self._fail_details(stats))
            budget.spend(stats.matched)
        return stats

    def delete(self, pattern, key_type=None, budget=None, colons=None, force=False):
        """Remove every matching key, page by page, never more than the budget allows.

        A pattern without a literal prefix is refused unless force (see require_literal_prefix)."""
        require_literal_prefix(pattern, force)
        budget = budget if budget is not None else KeyBudget(DEFAULT_MAX_KEYS)
        return self._run(pattern, key_type, delete=True, budget=budget, colons=colons)

    def sweep(self, pattern, key_type=None, budget=None, check_mode=False, colons=None, force=False):
        if check_mode:
            return self.plan(pattern, key_type, budget, colons, force)
        return self.delete(pattern, key_type, budget, colons, force)

    def _record(self, stats):
        """Keep the evidence's executed entry of this sweep current (created with the first removed key)."""
        if self.evidence is None or not stats.removed:
            return
        if stats.executed_entry is None:
            stats.executed_entry = self.evidence.executed("unlink", pattern=self.masker(stats.pattern) if self.masker else stats.pattern,
                                                          type=stats.key_type, removed=0, batches=0)
        stats.executed_entry.update(removed=stats.removed, batches=stats.calls)

    @staticmethod
    def _keep(keys, colons):
        if colons is None:
            return keys
        return [key for key in keys if (key.count(b":") if isinstance(key, bytes) else key.count(":")) == colons]

    def iter_keys(self, pattern, key_type=None, stats=None, colons=None):
        """Yield (node client, [keys]) one SCAN page at a time, client side, for callers that read the keys."""
        stats = stats if stats is not None else SweepStats(pattern, key_type, self.sample_size, self.masker)
        stats.engine = "client"
        with redis_errors(self.params, "scanning %s" % pattern):
            for _name, node in self.nodes():
                stats.nodes += 1
                cursor = 0
                while True:
                    cursor, keys = node.scan(cursor=cursor, match=pattern, count=self.scan_count, _type=key_type)
                    keys = self._keep(keys, colons)
                    stats.pages += 1
                    stats.calls += 1
                    stats.matched += len(keys)
                    if keys:
                        yield node, keys
                    if int(cursor) == 0:
                        break
        stats.finish()

    def unlink_keys(self, keys, budget=None):
        """UNLINK known keys (through the cluster client, so each reaches its owner) in bounded chunks; returns how many went."""
        keys = list(keys)
        if budget is not None and len(keys) > budget.remaining:
            raise SweepLimitError("Removing %d keys would exceed %s=%d (%d already removed by this run). Nothing more was deleted; "
                                  "raise %s." % (len(keys), budget.option, budget.limit, budget.used, budget.option),
                                  removed=budget.used)
        removed = 0
        entry = None
        try:
            with redis_errors(self.params, "unlinking keys"):
                for start in range(0, len(keys), UNLINK_CHUNK):
                    chunk = keys[start:start + UNLINK_CHUNK]
                    if self.cluster:
                        pipe = self.client.pipeline()
                        for key in chunk:
                            pipe.unlink(key)
                        gone = sum(int(n or 0) for n in pipe.execute())
                    else:
                        gone = int(self.client.unlink(*chunk))
                    removed += gone
                    if budget is not None:
                        budget.spend(gone)
                    if gone and self.evidence is not None:
                        entry = entry or self.evidence.executed("unlink", keys=len(keys), removed=0)
                        entry["removed"] = removed
        except SarkError as exc:
            if removed:
                exc.msg += " This run had already removed %d of %d listed keys before the failure." % (removed, len(keys))
                exc.details.setdefault("removed", removed)
            raise
        return removed

    # ------------------------------------------------------------------ the loop

    @staticmethod
    def _type_text(key_type):
        return " (type %s)" % key_type if key_type else ""

    def _fail_details(self, stats):
        return {"matched": stats.matched, "removed": stats.removed, "sample": stats.masked_sample(), "progress": stats.progress()}

    def _run(self, pattern, key_type, delete, budget, colons=None):
        stats = SweepStats(pattern, key_type, self.sample_size, self.masker)
        doing = "%s keys matching %s%s" % ("removing" if delete else "counting", pattern, self._type_text(key_type))
        try:
            with redis_errors(self.params, doing):
                for _name, node in self.nodes():
                    stats.nodes += 1
                    if self._use_scripts(node):
                        stats.engine = "script"
                        self._run_script(node, pattern, key_type, delete, budget, stats, colons)
                    else:
                        stats.engine = stats.engine or "client"
                        self._run_client(node, pattern, key_type, delete, budget, stats, colons)
                    if stats.capped:
                        break
        except SarkError as exc:
            stats.finish()
            if delete:
                exc.msg += (" Before the failure this run had removed %d key(s) matching %s in %d batch(es); each removal is whole "
                            "(UNLINK), nothing else was touched, and a rerun removes the rest." % (stats.removed, pattern, stats.calls))
                for key, value in self._fail_details(stats).items():
                    exc.details.setdefault(key, value)
            raise
        stats.finish()
        if stats.capped:
            raise SweepLimitError(
                "Stopped at the safety cap: removing every key that matches %s%s would take this run past %s=%d. %d matched so far "
                "(the scan stopped there), %d were removed, and nothing beyond the cap was deleted. Run the same task in check mode "
                "to count the matches exactly; if they should all go, raise %s above that count, otherwise narrow the selection."
                % (pattern, self._type_text(key_type), budget.option, budget.limit, stats.matched, stats.removed, budget.option),
                **self._fail_details(stats))
        return stats

    def _use_scripts(self, node):
        if self._scripts is False:
            return False
        key = id(node)
        if key in self._sha:
            return True
        try:
            self._sha[key] = node.script_load(SWEEP_SCRIPT)
            self._scripts = True
            return True
        except redis.exceptions.ResponseError as exc:
            if self.engine == "script":
                raise SarkOperationError("engine=script, but Redis refused to load the sweep script: %s. Grant the user +script "
                                         "+evalsha (ACL), or use engine: client." % _error_text(exc)) from exc
            self._scripts = False  # scripting disabled or not allowed for this user: SCAN + UNLINK from here
            return False

    def _run_script(self, node, pattern, key_type, delete, budget, stats, colons=None):
        cursor = "0"
        while True:
            remaining = budget.remaining if delete else 0
            want = max(0, self.sample_size - len(stats.sample))
            args = (cursor, pattern, self.script_count, key_type or "", "1" if delete else "0", remaining, self.budget_us, want,
                    "1" if self.cluster else "0", -1 if colons is None else int(colons))
            try:
                reply = node.evalsha(self._sha[id(node)], 0, *args)
            except redis.exceptions.NoScriptError:
                # the script cache was flushed (SCRIPT FLUSH, failover) since we loaded it
                self._sha[id(node)] = node.script_load(SWEEP_SCRIPT)
                reply = node.evalsha(self._sha[id(node)], 0, *args)
            cursor = to_text(reply[0])
            matched, removed, pages, capped = (int(v) for v in reply[1:5])
            stats.calls += 1
            stats.pages += pages
            stats.matched += matched
            stats.removed += removed
            stats.add_sample(reply[5])
            if delete:
                budget.spend(removed)
                self._record(stats)
            if capped:
                stats.capped = True
                return
            if cursor == "0":
                return

    def _run_client(self, node, pattern, key_type, delete, budget, stats, colons=None):
        cursor = 0
        while True:
            cursor, keys = node.scan(cursor=cursor, match=pattern, count=self.scan_count, _type=key_type)
            keys = self._keep(keys, colons)
            stats.calls += 1
            stats.pages += 1
            if delete and len(keys) > budget.remaining:
                stats.matched += len(keys)
                stats.capped = True
                return
            stats.matched += len(keys)
            if keys:
                if delete:
                    removed = self._unlink_on_node(node, keys)
                    stats.removed += removed
                    budget.spend(removed)
                    self._record(stats)
                stats.add_sample(keys)
            if int(cursor) == 0:
                return

    def _unlink_on_node(self, node, keys):
        removed = 0
        for start in range(0, len(keys), UNLINK_CHUNK):
            chunk = keys[start:start + UNLINK_CHUNK]
            if self.cluster:
                pipe = node.pipeline(transaction=False)
                for key in chunk:
                    pipe.unlink(key)
                removed += sum(int(n or 0) for n in pipe.execute())
            else:
                removed += int(node.unlink(*chunk))
        return removed


def key_type_of(client, key):
    """The Redis type of one key as text ('none' when it does not exist)."""
    return to_text(client.type(key))


def require_type(client, key, expected, what, layout_name=None):
    """Fail (touching nothing) when an existing key holds another type than expected; returns whether it exists."""
    actual = key_type_of(client, key)
    if actual == "none":
        return False
    if actual != expected:
        where = " in the %s layout" % layout_name if layout_name else ""
        raise SarkValidationError("%s is a Redis %s, but %s%s is a %s. Nothing was changed: check the layout option and "
                                  "layout_templates (is this the right key?)." % (mask_key(key), actual, what, where, expected),
                                  key=mask_key(key), key_type=actual, expected_type=expected)
    return True
