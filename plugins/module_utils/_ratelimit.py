# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK rate limits in Redis, for both layouts (private): a subject's status, the most limited subjects, resets.

- ``runbook``: a fixed hourly window, a string counter ``ratelimit:{kind}:{subject}:{YYYY-MM-DD-HH}`` (UTC).
- ``sark_v2``: a sliding window, a sorted set ``rate_limit:{kind}:{subject}`` with one member per request scored by its time.

Which model applies follows the template (a ``{window}`` placeholder means fixed windows), so overridden templates keep working.
Used by sark_ratelimit_info (reads) and sark_ratelimit (resets).
"""

import datetime
import heapq
import time

from ansible_collections.sark.ops.plugins.module_utils._layout import placeholders
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkValidationError, utcnow
from ansible_collections.sark.ops.plugins.module_utils._redis import to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    SweepStats,
    mask_key,
    merge_stats,
    require_type,
)

SECRET_KINDS = ("api_key", "token")
WINDOW_REGEX = r"\d{4}-\d{2}-\d{2}-\d{2}"
WINDOW_SECONDS = 3600


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
                                          % (self.params["window"], self.window_format, utcnow().strftime(self.window_format))) from exc
            return self.params["window"]
        return utcnow().strftime(self.window_format)

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


def validate_subject(params, needed, doing):
    """subject is set where needed and has no surrounding spaces; API keys and tokens become secrets of the run."""
    if needed and not params["subject"]:
        raise SarkValidationError("%s needs subject (a user id, API key, token number or IP address)" % doing)
    if params["subject"] is not None and (not params["subject"].strip() or params["subject"] != params["subject"].strip()):
        raise SarkValidationError("subject %r is empty or has surrounding spaces" % params["subject"])


def validate_limits(params):
    """rate_limit and limits: non-negative request counts per window."""
    if params.get("rate_limit") is not None and params["rate_limit"] < 0:
        raise SarkValidationError("rate_limit must be 0 or more, got %s" % params["rate_limit"])
    for kind, value in (params.get("limits") or {}).items():
        try:
            if value is not None and int(value) < 0:
                raise ValueError(value)
        except (TypeError, ValueError) as exc:
            raise SarkValidationError("limits.%s must be a non-negative integer, got %r" % (kind, value)) from exc


def validate_reset(params):
    """What a reset needs: a subject for window/subject scopes, force and no subject for all."""
    scope = params["scope"]
    validate_subject(params, scope in ("window", "subject"), "state=absent scope=%s" % scope)
    if scope == "all":
        if params["subject"]:
            raise SarkValidationError("scope=all resets every subject: drop subject, or use scope window/subject")
        if not params["force"]:
            raise SarkValidationError("scope=all resets the rate limits of every user, API key and IP. Confirm it with force: true "
                                      "(run in check mode first to see how many keys would go). Nothing was reset.")
    validate_limits(params)
