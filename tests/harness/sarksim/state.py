"""Process state of one simulator: its connections, fault plan, request log and request rate."""

import asyncio
import collections
import datetime
import itertools
import threading
import time

import redis
import redis.asyncio as aioredis

from .auth import TokenCache
from .db import Database
from .metrics import RequestMetrics


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class FaultPlan:
    """Faults injected through POST /_sim/faults: the next `count` matching requests get `status`."""

    def __init__(self):
        self._faults = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, path_prefix, status=None, count=1, retry_after=None, method=None, delay_seconds=0.0,
            body=None, after=False):
        # after: the request is served, then its answer held delay_seconds (the work is done, the answer is late)
        fault = {"id": next(self._ids), "path_prefix": path_prefix, "status": status, "remaining": int(count),
                 "retry_after": retry_after, "method": method.upper() if method else None,
                 "delay_seconds": float(delay_seconds or 0.0), "body": body, "after": bool(after)}
        with self._lock:
            self._faults.append(fault)
        return dict(fault)

    def take(self, method, path):
        """The first live fault matching this request (its count decremented), else None."""
        with self._lock:
            for fault in self._faults:
                if fault["remaining"] <= 0 or not path.startswith(fault["path_prefix"]):
                    continue
                if fault["method"] and fault["method"] != method:
                    continue
                fault["remaining"] -= 1
                taken = dict(fault)
                if fault["remaining"] <= 0:
                    self._faults.remove(fault)
                return taken
        return None

    def list(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults = []


class RequestLog:
    """A bounded log of recent requests, newest last, plus a one-minute request rate."""

    def __init__(self, size):
        self._entries = collections.deque(maxlen=size)
        self._recent = collections.deque()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, entry):
        now = time.monotonic()
        with self._lock:
            entry["seq"] = next(self._seq)
            self._entries.append(entry)
            self._recent.append(now)
            self._trim(now)

    def _trim(self, now):
        while self._recent and self._recent[0] < now - 60.0:
            self._recent.popleft()

    def per_minute(self):
        with self._lock:
            self._trim(time.monotonic())
            return len(self._recent)

    def entries(self, limit=None, path_prefix=None, method=None):
        with self._lock:
            items = list(self._entries)
        if path_prefix:
            items = [e for e in items if e["path"].startswith(path_prefix)]
        if method:
            items = [e for e in items if e["method"] == method.upper()]
        if limit:
            items = items[-int(limit):]
        return items

    def clear(self):
        with self._lock:
            self._entries.clear()


class SimState:
    """What the routes and the middleware share."""

    def __init__(self, config):
        self.config = config
        self.db = Database(config.pg_dsn_sark, size=config.pool_size)
        self.audit_db = Database(config.pg_dsn_audit, size=config.pool_size)
        # blocking pool: a burst of requests waits for a connection instead of failing
        pool = redis.BlockingConnectionPool.from_url(config.redis_url, decode_responses=True,
                                                     socket_timeout=config.redis_timeout,
                                                     socket_connect_timeout=config.redis_timeout,
                                                     max_connections=config.pool_size * 4, timeout=10)
        self.redis = redis.Redis(connection_pool=pool)
        self.tokens = TokenCache(config.jwt_secret)
        self.faults = FaultPlan()
        self.requests = RequestLog(config.request_log_size)
        self.metrics = RequestMetrics()
        self.started_at = utcnow()
        self._aredis = None
        self._aredis_loop = None

    def async_redis(self):
        """A redis.asyncio client bound to the running event loop (for the middleware)."""
        loop = asyncio.get_running_loop()
        if self._aredis is None or self._aredis_loop is not loop:
            pool = aioredis.BlockingConnectionPool.from_url(
                self.config.redis_url, decode_responses=True, socket_timeout=self.config.redis_timeout,
                socket_connect_timeout=self.config.redis_timeout, max_connections=self.config.pool_size * 4,
                timeout=10)
            self._aredis = aioredis.Redis(connection_pool=pool)
            self._aredis_loop = loop
        return self._aredis

    async def aclose(self):
        if self._aredis is not None:
            await self._aredis.aclose()
            self._aredis = None
        self.close()

    def close(self):
        self.db.close()
        self.audit_db.close()
        self.redis.close()
