#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_ratelimit
short_description: Inspect and reset SARK rate limits in Redis
version_added: 0.1.0
description:
  - Automates the runbook's "Rate Limiting Operations" - check a subject's rate limit, view the rate-limit keys, reset a
    subject's current window or every rate-limit key - without C(KEYS).
  - O(operation=status) returns a subject's limit, used and remaining requests and when the limit resets, like the
    C(X-RateLimit-*) headers, read straight from Redis.
  - O(operation=reset) resets the current window of a subject (O(scope=window)), every window of a subject
    (O(scope=subject)), or every rate-limit key (O(scope=all), which needs O(force=true)).
  - O(operation=top) lists the most limited subjects (highest share of their limit used), reading the keys page by page.
  - V(runbook) layout - a fixed hourly window, a string counter C(ratelimit:{kind}:{subject}:{YYYY-MM-DD-HH}) (UTC).
    V(sark_v2) layout - a sliding window of 3600 s, a sorted set C(rate_limit:{kind}:{subject}) holding one member per
    request scored by its time; there is one window per subject, so V(window) and V(subject) resets are the same.
  - API keys and tokens used as subjects are secrets - they are masked in every result unless O(show_secrets=true).
options:
  operation:
    description: V(status), V(reset) or V(top).
    type: str
    choices: [status, reset, top]
    default: status
  subject:
    description:
      - The user id, API key, token number or IP address whose limit is read or reset.
      - Required for O(operation=status) and for O(scope=window) and O(scope=subject).
    type: str
  kind:
    description: What O(subject) is. SARK 2.x keys are C(rate_limit:user:...), C(rate_limit:api_key:...), C(rate_limit:ip:...)
      and C(rate_limit:token:...); the runbook documents C(ratelimit:user:...).
    type: str
    choices: [user, api_key, ip, token]
    default: user
  scope:
    description: What O(operation=reset) resets - V(window) (the current window), V(subject) (every window of the subject)
      or V(all) (every rate-limit key, needs O(force=true)).
    type: str
    choices: [window, subject, all]
    default: window
  window:
    description:
      - V(runbook) layout - the hourly window to read or reset, as C(YYYY-MM-DD-HH). Defaults to the current hour in UTC
        (the runbook's C($(date +%Y-%m-%d-%H)) on a UTC host).
      - Ignored by the V(sark_v2) layout.
    type: str
  limit:
    description: The per-hour limit of O(subject), when it differs from the default of its O(kind).
    type: int
  limits:
    description:
      - Per-hour limits by kind, merged over the defaults (user 5000, api_key 1000, ip 100; token has none).
    type: dict
    default: {}
  top:
    description: How many subjects O(operation=top) returns.
    type: int
    default: 10
  force:
    description: Confirms O(scope=all). Without it the module refuses and changes nothing.
    type: bool
    default: false
  show_secrets:
    description: Show API keys and tokens used as subjects in full.
    type: bool
    default: false
  max_keys:
    description:
      - The most keys this run may remove. A safety cap - when more match, the run stops before the page that would cross
        it and fails, saying how many matched so far; check mode counts them all and fails the same way.
    type: int
    default: 10000
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.redis_sweep
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_REDIS
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Counts exactly what a reset would remove; C(changed) is true only if something would be.
  diff_mode:
    support: full
    details:
      - A reset shows the subject's used count before and after.
  idempotent:
    support: full
notes:
  - Requires Redis 6.0 or later. With O(redis_cluster=true) every primary is scanned.
  - A least-privilege Redis ACL user needs C(+@read +@write +@keyspace +@scripting +ping +client|setname) on the keys it
    touches (for example C(~session:* ~user_sessions:*)). Without C(+@scripting) the module falls back to O(engine=client).
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Check a user's rate limit
  sark.ops.sark_ratelimit:
    subject: user-123
  register: rl

- name: Reset the user's current window (runbook "Reset Rate Limit")
  sark.ops.sark_ratelimit:
    operation: reset
    subject: user-123

- name: Reset every window an API key has (its value stays masked in the output)
  sark.ops.sark_ratelimit:
    operation: reset
    scope: subject
    kind: api_key
    subject: "{{ leaked_api_key }}"
    layout: sark_v2

- name: The 20 most limited subjects
  sark.ops.sark_ratelimit:
    operation: top
    top: 20

- name: Emergency - reset all rate limits
  sark.ops.sark_ratelimit:
    operation: reset
    scope: all
    force: true
    max_keys: 500000
'''

RETURN = r'''
status:
  description:
    - The subject's limit. C(key) (masked), C(model) (V(fixed_hourly) or V(sliding_window)), C(limit) (null when unknown),
      C(used), C(remaining), C(limited), C(reset_at) (ISO 8601, UTC) and C(reset_epoch) (as C(X-RateLimit-Reset)), C(ttl),
      and C(window) for the fixed model.
    - In the sliding window, C(reset_at) is when the oldest request in the window ages out (the next slot frees up).
  returned: when operation is status, or reset with scope window or subject
  type: dict
  sample: {"kind": "user", "subject": "user-123", "model": "fixed_hourly", "limit": 5000, "used": 150, "remaining": 4850,
           "limited": false, "reset_at": "2025-11-22T11:00:00Z", "reset_epoch": 1763809200, "window": "2025-11-22-10"}
top:
  description: The most limited subjects, most limited first - C(kind), C(subject) (masked), C(used), C(limit), C(remaining), C(ratio), C(limited).
  returned: when operation is top
  type: list
  elements: dict
matched:
  description: Keys that matched the reset; in check mode, exactly what would be removed.
  returned: when operation is reset
  type: int
removed:
  description: Keys removed (0 in check mode).
  returned: when operation is reset
  type: int
sample:
  description: Some of the keys removed or that would be (masked).
  returned: when operation is reset
  type: list
  elements: str
progress:
  description: C(batches), C(pages), C(keys), C(removed), C(nodes), C(duration_ms), C(keys_per_second), C(engine).
  returned: when keys were scanned
  type: dict
diff:
  description: The subject's used count before and after a reset (with C(--diff)).
  returned: when operation is reset and diff mode is on
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

import datetime
import heapq
import time

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec, placeholders
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkModule, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec, to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    KeyBudget,
    KeySweeper,
    SweepStats,
    mask_key,
    merge_stats,
    redis_errors,
    require_type,
    sweep_argument_spec,
    validate_sweep_params,
)

SECRET_KINDS = ("api_key", "token")
WINDOW_REGEX = r"\d{4}-\d{2}-\d{2}-\d{2}"
WINDOW_SECONDS = 3600


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RateLimits:
    """Rate-limit keys of one layout: a fixed hourly counter (runbook) or a sliding-window ZSET (sark_v2)."""

    def __init__(self, client, layout, sweeper, params):
        self.client = client
        self.layout = layout
        self.sweeper = sweeper
        self.params = params
        self.fixed = "window" in placeholders(layout.template("ratelimit_key"))
        self.model = "fixed_hourly" if self.fixed else "sliding_window"
        self.key_type = "string" if self.fixed else "zset"
        self.window_format = layout.traits.get("ratelimit_window_format", "%Y-%m-%d-%H")
        self.window_seconds = layout.traits.get("ratelimit_window_seconds", WINDOW_SECONDS)
        self.limits = dict(layout.traits.get("ratelimit_limits") or {})
        self.limits.update(params.get("limits") or {})
        self.show_secrets = params.get("show_secrets")

    def mask_subject(self, kind, subject):
        if self.show_secrets or kind not in SECRET_KINDS or subject is None:
            return subject
        return subject[:4] + MASK if len(subject) > 8 else MASK

    def mask(self, key):
        return to_text(key) if self.show_secrets else mask_key(key)

    def limit_of(self, kind, explicit=None):
        if explicit is not None:
            return explicit
        value = self.limits.get(kind)
        return int(value) if value not in (None, "") else None

    def window(self):
        if self.params.get("window"):
            try:
                datetime.datetime.strptime(self.params["window"], self.window_format)
            except ValueError as exc:
                raise SarkValidationError("window %r does not match the layout's window format %s (for example %s)"
                                          % (self.params["window"], self.window_format, utc_now().strftime(self.window_format))) from exc
            return self.params["window"]
        return utc_now().strftime(self.window_format)

    def key(self, kind, subject):
        values = {"kind": kind, "subject": subject}
        if self.fixed:
            values["window"] = self.window()
        return self.layout.key("ratelimit_key", **values)

    def parser(self):
        return self.layout.parser("ratelimit_key", kind=r"[^:]+", window=WINDOW_REGEX)

    # ------------------------------------------------------------------ reading

    def status(self, kind, subject, limit=None):
        key = self.key(kind, subject)
        limit = self.limit_of(kind, limit)
        exists = require_type(self.client, key, self.key_type, "a rate-limit key", self.layout.name)
        status = {"kind": kind, "subject": self.mask_subject(kind, subject), "key": self.mask(key), "model": self.model,
                  "limit": limit, "exists": exists}
        if self.fixed:
            window = self.window()
            raw = self.client.get(key) if exists else None
            try:
                used = int(to_text(raw)) if raw is not None else 0
            except ValueError as exc:
                raise SarkValidationError("%s holds %r, not a request counter: check layout and layout_templates"
                                          % (self.mask(key), to_text(raw)[:40])) from exc
            start = datetime.datetime.strptime(window, self.window_format).replace(tzinfo=datetime.timezone.utc)
            reset = start + datetime.timedelta(hours=1)
            status.update(window=window, used=used, reset_at=iso(reset), reset_epoch=int(reset.timestamp()))
        else:
            now = time.time()
            since = now - self.window_seconds
            used = int(self.client.zcount(key, "(%f" % since, "+inf")) if exists else 0
            oldest = self.client.zrangebyscore(key, "(%f" % since, "+inf", start=0, num=1, withscores=True) if used else []
            reset_epoch = oldest[0][1] + self.window_seconds if oldest else now
            status.update(used=used, entries=int(self.client.zcard(key)) if exists else 0,
                          reset_at=iso(datetime.datetime.fromtimestamp(reset_epoch, datetime.timezone.utc)),
                          reset_epoch=int(reset_epoch), window_seconds=self.window_seconds)
        status["remaining"] = max(0, limit - used) if limit is not None else None
        status["limited"] = bool(limit is not None and used >= limit)
        status["ttl"] = int(self.client.ttl(key)) if exists else None
        return status

    def top(self, count):
        """The most limited subjects, scanning one page at a time and keeping only `count` in memory."""
        if self.fixed:
            pattern = self.layout.pattern("ratelimit_key", window=self.window())
        else:
            pattern = self.layout.pattern("ratelimit_key")
        parser = self.parser()
        heap = []
        since = time.time() - self.window_seconds
        stats = SweepStats(pattern, self.key_type, 0)
        order = 0
        for node, keys in self.sweeper.iter_keys(pattern, self.key_type, stats):
            pipe = node.pipeline(transaction=False)
            for key in keys:
                if self.fixed:
                    pipe.get(key)
                else:
                    pipe.zcount(key, "(%f" % since, "+inf")
            for key, raw in zip(keys, pipe.execute()):
                match = parser.match(to_text(key))
                if not match:
                    continue
                try:
                    used = int(to_text(raw) or 0)
                except ValueError:
                    continue
                kind, subject = match.group("kind"), match.group("subject")
                limit = self.limit_of(kind)
                ratio = round(float(used) / limit, 4) if limit else None
                order += 1
                entry = ((ratio if ratio is not None else -1.0, used, -order), kind, subject, used, limit, ratio, to_text(key))
                if len(heap) < count:
                    heapq.heappush(heap, entry)
                elif entry[0] > heap[0][0]:
                    heapq.heapreplace(heap, entry)
        rows = []
        for _rank, kind, subject, used, limit, ratio, key in sorted(heap, reverse=True):
            rows.append({"kind": kind, "subject": self.mask_subject(kind, subject), "key": self.mask(key), "used": used,
                         "limit": limit, "remaining": max(0, limit - used) if limit is not None else None, "ratio": ratio,
                         "limited": bool(limit is not None and used >= limit)})
        return rows, stats

    # ------------------------------------------------------------------ resetting

    def reset_key(self, key, check_mode, budget):
        exists = require_type(self.client, key, self.key_type, "a rate-limit key", self.layout.name)
        report = {"matched": int(exists), "removed": 0, "sample": [self.mask(key)] if exists else [], "progress": None}
        if exists and not check_mode:
            report["removed"] = self.sweeper.unlink_keys([key], budget)
        return report

    def reset(self, scope, kind, subject, check_mode, budget):
        if scope == "all":
            pattern = self.layout.pattern("ratelimit_key")
            return merge_stats([self.sweeper.sweep(pattern, self.key_type, budget, check_mode)], self.sweeper.sample_size), pattern
        if scope == "window" or not self.fixed:
            key = self.key(kind, subject)
            return self.reset_key(key, check_mode, budget), key
        pattern = self.layout.pattern("ratelimit_key", kind=kind, subject=subject)
        # exact structure: subject alice must not take alice:admin's counters (ratelimit:user:alice:admin:<window>)
        colons = self.layout.colons("ratelimit_key", kind=kind, subject=subject)
        stats = self.sweeper.sweep(pattern, self.key_type, budget, check_mode, colons=colons)
        return merge_stats([stats], self.sweeper.sample_size), pattern


def validate(params):
    validate_sweep_params(params)
    operation, scope = params["operation"], params["scope"]
    needs_subject = operation == "status" or (operation == "reset" and scope in ("window", "subject"))
    if needs_subject and not params["subject"]:
        raise SarkValidationError("operation=%s%s needs subject (a user id, API key, token number or IP address)"
                                  % (operation, " scope=%s" % scope if operation == "reset" else ""))
    if operation == "reset" and scope == "all":
        if params["subject"]:
            raise SarkValidationError("scope=all resets every subject: drop subject, or use scope window/subject")
        if not params["force"]:
            raise SarkValidationError("scope=all resets the rate limits of every user, API key and IP. Confirm it with force: true "
                                      "(run in check mode first to see how many keys would go). Nothing was reset.")
    if params["limit"] is not None and params["limit"] < 0:
        raise SarkValidationError("limit must be 0 or more, got %s" % params["limit"])
    if params["top"] < 1:
        raise SarkValidationError("top must be 1 or more, got %s" % params["top"])
    for kind, value in (params["limits"] or {}).items():
        try:
            if value is not None and int(value) < 0:
                raise ValueError(value)
        except (TypeError, ValueError) as exc:
            raise SarkValidationError("limits.%s must be a non-negative integer, got %r" % (kind, value)) from exc
    if params["subject"] is not None and (not params["subject"].strip() or params["subject"] != params["subject"].strip()):
        raise SarkValidationError("subject %r is empty or has surrounding spaces" % params["subject"])


def run(module):
    params = module.params
    if params["kind"] in SECRET_KINDS and params["subject"] and not params["show_secrets"]:
        module.add_secret(params["subject"])
    validate(params)
    layout = Layout.from_params(params)
    client = connect(params)
    limits = RateLimits(client, layout, None, params)
    limits.sweeper = KeySweeper.from_params(client, params, masker=limits.mask, evidence=module.evidence)
    result = {"layout": layout.name, "model": limits.model}
    kind, subject = params["kind"], params["subject"]
    with redis_errors(params, "%s of rate limits" % params["operation"]):
        if params["operation"] == "status":
            result["status"] = limits.status(kind, subject, params["limit"])
            return result
        if params["operation"] == "top":
            result["top"], stats = limits.top(params["top"])
            result["progress"] = stats.progress()
            result["subjects_scanned"] = stats.matched
            return result
        scope = params["scope"]
        before = limits.status(kind, subject, params["limit"]) if scope != "all" else None
        budget = KeyBudget(params["max_keys"])
        module.evidence.plan("unlink", scope=scope, target=before["key"] if before else layout.pattern("ratelimit_key"))
        report, _target = limits.reset(scope, kind, subject, module.check_mode, budget)
        result.update(report)
        result["scope"] = scope
        result["changed"] = bool(report["matched"] if module.check_mode else report["removed"])
        if before is not None:
            result["status"] = limits.status(kind, subject, params["limit"]) if not module.check_mode else before
            if module.diff_mode:
                result["diff"] = {"before": {"used": before["used"], "remaining": before["remaining"]},
                                  "after": {"used": 0 if result["changed"] else before["used"],
                                            "remaining": before["limit"] if result["changed"] else before["remaining"]},
                                  "before_header": before["key"], "after_header": before["key"]}
        module.evidence.set_count("keys_removed", report["removed"])
    verb = "Would reset" if module.check_mode else "Reset"
    result["msg"] = ("%s %d rate-limit key(s)" % (verb, report["matched"] if module.check_mode else report["removed"])
                     if result["changed"] else "Nothing to reset")
    return result


def main():
    spec = dict(
        operation=dict(type="str", default="status", choices=["status", "reset", "top"]),
        subject=dict(type="str"),
        kind=dict(type="str", default="user", choices=["user", "api_key", "ip", "token"]),
        scope=dict(type="str", default="window", choices=["window", "subject", "all"]),
        window=dict(type="str"),
        limit=dict(type="int"),
        limits=dict(type="dict", default={}),
        top=dict(type="int", default=10),
        force=dict(type="bool", default=False),
        show_secrets=dict(type="bool", default=False),
    )
    spec.update(sweep_argument_spec())
    spec.update(layout_argument_spec())
    spec.update(redis_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
