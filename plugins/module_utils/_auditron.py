# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AUDITRON (seed 004): its queue, API keys and health, in both layouts (private).

The queue is BullMQ. In the ``runbook`` layout it is driven through the runbook's admin API
(``/api/admin/queue/*``); in ``auditron_code`` (no admin routes) through BullMQ's own operations on Redis with BullMQ
for Python - getJobCounts, pause/resume, clean, Job.retry - never by editing its keys. Every name comes from
_layout.PlatformLayout("auditron", ...).
"""

import asyncio
import datetime
import traceback

from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils import _redis
from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import PlatformLayout, platform_layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkConnectionError,
    SarkDependencyError,
    SarkError,
    SarkValidationError,
    mask_secrets,
)

BULLMQ_IMPORT_ERROR = None
try:
    import redis.asyncio as redis_asyncio
    from bullmq import Queue as BullQueue
except ImportError:
    BULLMQ_IMPORT_ERROR = traceback.format_exc()
    BullQueue = None
    redis_asyncio = None

PLATFORM = "auditron"
# every state a BullMQ job can be in, for a look at a queue (the dead-letter queue's jobs usually just wait)
ALL_STATES = ("waiting", "paused", "delayed", "prioritized", "waiting-children", "active", "failed", "completed")
DATA_PREVIEW_CHARS = 300


def layout_spec():
    return platform_layout_argument_spec(PLATFORM)


def layout_of(params):
    return PlatformLayout.from_params(PLATFORM, params)


def api_argument_spec():
    """auditron_url, auditron_token, ... (AUDITRON_URL, AUDITRON_TOKEN, ...): the AUDITRON API, runbook layout."""
    return http_argument_spec("auditron", "AUDITRON")


class AuditronApiClient(HttpClient):
    def __init__(self, params):
        super().__init__(params.get("auditron_url"), token=params.get("auditron_token"),
                         validate_certs=params.get("auditron_validate_certs", True),
                         ca_path=params.get("auditron_ca_path"), timeout=params.get("auditron_timeout"),
                         retries=params.get("auditron_retries"), backoff=params.get("auditron_backoff"),
                         service="AUDITRON API", option_prefix="auditron", env_prefix="AUDITRON")

    def running_hint(self):
        return "AUDITRON's API is running."

    def status_hint(self, status):
        if status == 401:
            return "the token is missing or invalid (auditron_token: an admin JWT signed with JWT_SECRET)"
        if status == 403:
            return "the token is not an admin's"
        if status == 404:
            return "no such route or resource (is layout right? AUDITRON's code has no admin routes: layout auditron_code)"
        return super().status_hint(status)


def utc_ms():
    return int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)


def iso_ms(value):
    if value in (None, "", 0):
        return None
    try:
        moment = datetime.datetime.fromtimestamp(int(float(value)) / 1000.0, tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def counts_dict(layout, raw):
    return {name: int(raw.get(name) or 0) for name in layout.fact("job_count_types")}


def job_summary(job):
    """What a look at a job shows: ids, state times, attempts and reason; the data masked and cut short."""
    data = mask_secrets(job.data) if isinstance(job.data, (dict, list)) else job.data
    preview = repr(data) if not isinstance(data, str) else data
    return {"id": str(job.id), "name": job.name, "created_at": iso_ms(job.timestamp),
            "processed_at": iso_ms(getattr(job, "processedOn", None)), "finished_at": iso_ms(getattr(job, "finishedOn", None)),
            "attempts_made": int(getattr(job, "attemptsMade", 0) or 0), "failed_reason": getattr(job, "failedReason", None) or None,
            "data_preview": preview[:DATA_PREVIEW_CHARS] + ("..." if len(preview) > DATA_PREVIEW_CHARS else "")}


# --------------------------------------------------------------------------------------------------------------------
# BullMQ on Redis (layout auditron_code)
# --------------------------------------------------------------------------------------------------------------------

class BullMQ:
    """The AUDITRON queues through BullMQ for Python. Use: BullMQ(params, layout).run(async_fn), fn(bull) -> value."""

    def __init__(self, params, layout):
        if BULLMQ_IMPORT_ERROR is not None:
            raise SarkDependencyError("bullmq", BULLMQ_IMPORT_ERROR, reason="to drive AUDITRON's BullMQ queue")
        if params.get("redis_cluster"):
            raise SarkValidationError("AUDITRON's BullMQ queue: redis_cluster is not supported by these modules yet; "
                                      "point redis_host at the primary that holds the bull:* keys")
        self.params = params
        self.layout = layout
        self.prefix = layout.fact("queue_prefix")
        self.client = None
        self._queues = {}
        # the synchronous connect first: a fast PING with an error that names the option to fix
        _redis.connect(params).close()

    def queue(self, name=None):
        name = name or self.layout.fact("queue_name")
        if name not in self._queues:
            self._queues[name] = BullQueue(name, {"connection": self.client, "prefix": self.prefix})
        return self._queues[name]

    def dead_letter(self):
        return self.queue(self.layout.fact("dead_letter_queue"))

    def _open(self):
        kwargs = _redis.connection_kwargs(self.params)
        kwargs["decode_responses"] = True
        if self.params.get("redis_unix_socket"):
            return redis_asyncio.Redis(unix_socket_path=self.params["redis_unix_socket"], db=self.params.get("redis_db") or 0,
                                       **kwargs)
        return redis_asyncio.Redis(host=self.params.get("redis_host"), port=self.params.get("redis_port"),
                                   db=self.params.get("redis_db") or 0, **kwargs)

    def run(self, func):
        async def wrapper():
            self.client = self._open()
            try:
                return await func(self)
            finally:
                await self.client.aclose()
        try:
            return asyncio.run(wrapper())
        except SarkError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            if _redis.redis is not None and isinstance(exc, _redis.redis.RedisError):
                raise _redis.classify_error(exc, self.params, connected=True) from exc
            raise

    # --- reads ---
    async def counts(self, queue):
        return counts_dict(self.layout, await queue.getJobCounts(*self.layout.fact("job_count_types")))

    async def stats(self):
        main = self.queue()
        dead = await self.counts(self.dead_letter())
        return {"queue": main.name, "paused": bool(await main.isPaused()), "counts": await self.counts(main),
                "dead_letter": {"queue": self.dead_letter().name, "count": sum(dead.values()), "counts": dead}}

    async def jobs(self, queue, states, limit, oldest_first=True):
        """Up to limit jobs of the given states (BullMQ's getJobs; it reads at most limit per state)."""
        if limit <= 0:
            return []
        found = await queue.getJobs(list(states), 0, limit - 1, oldest_first)
        return [job for job in found if job is not None][:limit]

    async def cleanable(self, state, grace_ms, limit, now_ms):
        """The jobs BullMQ's clean(grace, limit, state) would remove now: the oldest `limit` finished at or before
        now - grace (clean ranges the set by score, its finish time, then checks finishedOn)."""
        cutoff = now_ms - grace_ms
        oldest = await self.jobs(self.queue(), [state], limit)
        return [job for job in oldest if not getattr(job, "finishedOn", None) or int(job.finishedOn) <= cutoff]

    # --- changes ---
    async def set_paused(self, paused):
        queue = self.queue()
        await (queue.pause() if paused else queue.resume())
        return bool(await queue.isPaused())

    async def clean(self, state, grace_ms, limit):
        return [str(job_id) for job_id in (await self.queue().clean(grace_ms, limit, state) or [])]

    async def retry(self, job):
        await job.retry("failed")


# --------------------------------------------------------------------------------------------------------------------
# The runbook's admin API (layout runbook)
# --------------------------------------------------------------------------------------------------------------------

def api_stats(client, layout):
    """GET /api/admin/queue/stats, in the shape BullMQ.stats() returns."""
    body = client.request("GET", layout.fact("queue_stats_route")).json() or {}
    raw = body.get("counts") if isinstance(body.get("counts"), dict) else body
    if not isinstance(raw, dict) or not any(name in raw for name in layout.fact("job_count_types")):
        raise SarkAPIError("GET %s answered without BullMQ job counts: %s"
                           % (layout.fact("queue_stats_route"), str(body)[:200]))
    dead = body.get("deadLetter")
    dead_count = dead.get("count") if isinstance(dead, dict) else dead
    return {"queue": body.get("queue") or layout.fact("queue_name"), "paused": bool(body.get("isPaused", body.get("paused"))),
            "counts": counts_dict(layout, raw),
            "dead_letter": {"queue": layout.fact("dead_letter_queue"),
                            "count": int(dead_count) if dead_count is not None else None, "counts": None}}


def api_set_paused(client, layout, paused):
    body = client.request("POST", layout.fact("queue_pause_route" if paused else "queue_resume_route")).json() or {}
    return bool(body.get("isPaused", paused))


def api_clean(client, layout):
    body = client.request("POST", layout.fact("queue_clean_route")).json() or {}
    cleaned = body.get("cleaned") or {}
    return {state: [str(i) for i in (cleaned.get(state) or [])] for state in ("completed", "failed")}


# --------------------------------------------------------------------------------------------------------------------
# API keys (PostgreSQL, both table shapes; the runbook's revoke route)
# --------------------------------------------------------------------------------------------------------------------

class ApiKeys:
    """The ``"ApiKey"`` table of a layout: every identifier quoted, columns from the layout."""

    def __init__(self, conn, layout):
        self.conn = conn
        self.layout = layout
        self.table = pg.identifier(layout.fact("api_keys_table"))
        self.columns = layout.fact("api_key_columns")

    def col(self, name):
        return pg.pgsql.Identifier(self.columns[name])

    def check_table(self):
        """Fail clearly when the table or one of the layout's columns is missing (wrong layout?)."""
        rows = pg.fetch_all(self.conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                       "current_schema() AND table_name = %s", (self.layout.fact("api_keys_table"),))
        present = {row["column_name"] for row in rows}
        if not present:
            raise SarkValidationError("No %s table in database %s: AUDITRON's Prisma schema has none unless the deployment "
                                      "added it; check pg_database" % (self.layout.fact("api_keys_table"),
                                                                       self.conn.get_dsn_parameters().get("dbname")))
        missing = sorted(c for c in self.columns.values() if c and c not in present)
        if missing:
            other = [name for name in ("runbook", "auditron_code") if name != self.layout.name][0]
            raise SarkValidationError("The %s table lacks the %s layout's column(s) %s (it has %s): is layout=%s right?"
                                      % (self.layout.fact("api_keys_table"), self.layout.name, ", ".join(missing),
                                         ", ".join(sorted(present)), other))

    def _select(self):
        fields = [pg.pgsql.SQL("{} AS {}").format(self.col(name), pg.pgsql.Identifier(name))
                  for name in ("id", "org", "name", "active", "created_at", "last_used_at")]
        if self.columns.get("disabled_at"):
            fields.append(pg.pgsql.SQL("{} AS disabled_at").format(self.col("disabled_at")))
        return pg.pgsql.SQL("SELECT {} FROM {}").format(pg.pgsql.SQL(", ").join(fields), self.table)

    def list(self, org_id=None, key_ids=None, active_only=False, limit=1000):
        where, args = [], []
        if org_id is not None:
            where.append(pg.pgsql.SQL("{} = %s").format(self.col("org")))
            args.append(org_id)
        if key_ids is not None:
            where.append(pg.pgsql.SQL("{} = ANY(%s)").format(self.col("id")))
            args.append(list(key_ids))
        if active_only:
            where.append(pg.pgsql.SQL("{} IS TRUE").format(self.col("active")))
        query = self._select()
        if where:
            query += pg.pgsql.SQL(" WHERE ") + pg.pgsql.SQL(" AND ").join(where)
        query += pg.pgsql.SQL(" ORDER BY {} ASC, {} ASC LIMIT %s").format(self.col("created_at"), self.col("id"))
        return pg.fetch_all(self.conn, query, args + [limit])

    def revoke(self, key_ids):
        """Disable the given keys that are still active; returns the ids changed (one statement, atomic)."""
        sets = [pg.pgsql.SQL("{} = false").format(self.col("active"))]
        if self.columns.get("disabled_at"):
            sets.append(pg.pgsql.SQL("{} = now()").format(self.col("disabled_at")))
        query = pg.pgsql.SQL("UPDATE {} SET {} WHERE {} = ANY(%s) AND {} IS TRUE RETURNING {}").format(
            self.table, pg.pgsql.SQL(", ").join(sets), self.col("id"), self.col("active"), self.col("id"))
        with self.conn.cursor() as cur:
            cur.execute(query, (list(key_ids),))
            return [row[0] for row in cur.fetchall()]


def key_row(row, now, max_age_days=None):
    created = row.get("created_at")
    age = (now - created).total_seconds() / 86400.0 if created else None
    out = {"id": row["id"], "org_id": row["org"], "name": row["name"], "active": bool(row["active"]),
           "created_at": created.isoformat() if created else None,
           "last_used_at": row["last_used_at"].isoformat() if row.get("last_used_at") else None,
           "age_days": round(age, 2) if age is not None else None}
    if "disabled_at" in row:
        out["disabled_at"] = row["disabled_at"].isoformat() if row.get("disabled_at") else None
    if max_age_days is not None:
        out["rotation_due"] = bool(out["active"] and age is not None and age > max_age_days)
    return out


def api_revoke(client, layout, key_id):
    try:
        client.request("POST", layout.route("api_key_revoke_route", key_id=_quote(key_id)))
    except SarkAPIError as exc:
        if exc.status == 404:
            raise SarkAPIError("AUDITRON's API does not know API key %r (404)" % key_id, status=404) from None
        raise


def _quote(value):
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    return quote(str(value), safe="")


def unavailable(layout, fact):
    """A SarkValidationError for something this layout lacks (its reason says what to do instead)."""
    return SarkValidationError("%s: %s" % (fact, layout.absent_reason(fact)), layout=layout.name)


__all__ = ["AuditronApiClient", "ApiKeys", "BullMQ", "SarkConnectionError"]
