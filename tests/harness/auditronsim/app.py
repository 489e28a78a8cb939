"""create_app(config): AUDITRON's HTTP API in the ``runbook`` or ``auditron_code`` layout (platforms-contract.md).

Both layouts:
- ``GET /health`` -> 200 ``{"status": "ok", "timestamp": ISO}``; it checks nothing (the code's handler).
Runbook layout only (the seed's routes; the runbook names the routes, not the bodies: the bodies below are this
simulator's, documented in README.md, and every one of them needs ``Authorization: Bearer <admin JWT>``):
- ``GET /health/detailed`` -> the code's detailed handler: ``{status: healthy|degraded|unhealthy, timestamp, uptime,
  version, checks: {database, redis, minio, queue, memory, disk: {status: up|down|degraded, latency?, message?}}}``,
  HTTP 200, or 503 when unhealthy (database or redis down).
- ``GET /api/admin/queue/stats``, ``POST /api/admin/queue/{pause,resume,clean}`` over the real BullMQ queue
  ``agentic-jobs`` (prefix ``bull``) in Redis, with BullMQ for Python (clean: completed older than 24 h and failed
  older than 7 days, at most 1000 each, as the code's queue service does).
- ``POST /api/admin/api-keys/{id}/revoke`` -> ``UPDATE "ApiKey" SET active = false`` in PostgreSQL.
The code's layout has none of these: unknown routes answer 404 ``{"error": "Not Found"}`` (Express-style).
"""

import datetime
import os
import shutil
import time

import jwt
import psycopg2
import redis
from bullmq import Queue
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

QUEUE = "agentic-jobs"
DEAD_LETTER = "dead-letter"
PREFIX = "bull"
COUNT_TYPES = ("waiting", "active", "completed", "failed", "delayed", "paused")
CLEAN_COMPLETED_GRACE_MS = 24 * 3600 * 1000
CLEAN_FAILED_GRACE_MS = 7 * 24 * 3600 * 1000
CLEAN_LIMIT = 1000
QUEUE_DEGRADED_WAITING = 100  # the runbook's "Queue Length: < 100 jobs"
DISK_DEGRADED = 0.90
DISK_DOWN = 0.95


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(status, message):
    return JSONResponse({"error": message}, status_code=status)


class Config:  # pylint: disable=too-few-public-methods
    def __init__(self, layout, pg_dsn, redis_url, jwt_secret, version="1.0.0", minio_url=None, workdir="/tmp",
                 memory_limit_mb=512):
        self.layout = layout
        self.pg_dsn = pg_dsn
        self.redis_url = redis_url
        self.jwt_secret = jwt_secret
        self.version = version
        self.minio_url = minio_url
        self.workdir = workdir
        self.memory_limit_mb = memory_limit_mb


def create_app(config):  # noqa: C901  (one route table per layout reads best in one place)
    app = FastAPI(title="AUDITRON simulator (%s)" % config.layout, docs_url=None, redoc_url=None, openapi_url=None)
    started = time.monotonic()
    queues = {}

    def queue(name=QUEUE):
        if name not in queues:
            queues[name] = Queue(name, {"connection": config.redis_url, "prefix": PREFIX})
        return queues[name]

    def admin(request):
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return error(401, "Authentication required")
        try:
            claims = jwt.decode(header[7:].strip(), config.jwt_secret, algorithms=["HS256"], options={"require": []})
        except jwt.PyJWTError:
            return error(401, "Invalid token")
        if str(claims.get("role", "")).upper() != "ADMIN":
            return error(403, "Admin access required")
        return None

    @app.exception_handler(404)
    async def not_found(_request, _exc):
        return error(404, "Not Found")

    @app.get("/health")
    async def health():
        return {"status": "ok", "timestamp": now_iso()}

    if config.layout != "runbook":
        return app

    def check_database():
        start = time.monotonic()
        try:
            conn = psycopg2.connect(config.pg_dsn, connect_timeout=3)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
            finally:
                conn.close()
        except psycopg2.Error as exc:
            return {"status": "down", "message": str(exc).strip().splitlines()[0]}
        return {"status": "up", "latency": round((time.monotonic() - start) * 1000.0, 1)}

    def check_redis():
        start = time.monotonic()
        try:
            client = redis.Redis.from_url(config.redis_url, socket_timeout=3, socket_connect_timeout=3)
            try:
                client.ping()
            finally:
                client.close()
        except (redis.RedisError, OSError) as exc:
            return {"status": "down", "message": str(exc)}
        return {"status": "up", "latency": round((time.monotonic() - start) * 1000.0, 1)}

    def check_minio():
        if not config.minio_url:
            return {"status": "down", "message": "MinIO endpoint not configured"}
        import urllib.request  # pylint: disable=import-outside-toplevel
        start = time.monotonic()
        try:
            with urllib.request.urlopen(config.minio_url.rstrip("/") + "/minio/health/live", timeout=3) as response:
                ok = response.status == 200
        except OSError as exc:
            return {"status": "down", "message": str(exc)}
        return {"status": "up" if ok else "down", "latency": round((time.monotonic() - start) * 1000.0, 1)}

    async def check_queue(redis_check):
        if redis_check["status"] != "up":
            return {"status": "down", "message": "Redis unavailable"}
        counts = await queue().getJobCounts("waiting")
        if counts.get("waiting", 0) > QUEUE_DEGRADED_WAITING:
            return {"status": "degraded", "message": "%d jobs waiting" % counts["waiting"]}
        return {"status": "up", "message": "%d jobs waiting" % counts.get("waiting", 0)}

    def check_memory():
        import resource  # pylint: disable=import-outside-toplevel
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        status = "degraded" if rss_mb > config.memory_limit_mb * 0.9 else "up"
        return {"status": status, "message": "%.0f MB of %d MB" % (rss_mb, config.memory_limit_mb)}

    def check_disk():
        usage = shutil.disk_usage(config.workdir)
        used = usage.used / float(usage.total)
        status = "down" if used > DISK_DOWN else "degraded" if used > DISK_DEGRADED else "up"
        return {"status": status, "message": "%.0f%% used" % (used * 100)}

    @app.get("/health/detailed")
    async def health_detailed(request: Request):
        denied = admin(request)
        if denied:
            return denied
        checks = {"database": check_database(), "redis": check_redis(), "minio": check_minio()}
        checks["queue"] = await check_queue(checks["redis"])
        checks["memory"] = check_memory()
        checks["disk"] = check_disk()
        if checks["database"]["status"] == "down" or checks["redis"]["status"] == "down":
            status = "unhealthy"
        elif any(check["status"] != "up" for check in checks.values()):
            status = "degraded"
        else:
            status = "healthy"
        body = {"status": status, "timestamp": now_iso(), "uptime": round(time.monotonic() - started, 3),
                "version": config.version, "checks": checks}
        return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)

    async def stats_body():
        counts = await queue().getJobCounts(*COUNT_TYPES)
        dead = await queue(DEAD_LETTER).getJobCounts(*COUNT_TYPES)
        return {"queue": QUEUE, "isPaused": await queue().isPaused(),
                "counts": {name: int(counts.get(name, 0)) for name in COUNT_TYPES},
                "deadLetter": sum(int(value) for value in dead.values())}

    def queue_route(handler):
        async def route(request: Request):
            denied = admin(request)
            if denied:
                return denied
            try:
                return await handler()
            except (redis.RedisError, OSError) as exc:
                return error(500, "Queue unavailable: %s" % exc)
        return route

    async def stats():
        return await stats_body()

    async def pause():
        await queue().pause()
        return {"queue": QUEUE, "isPaused": True}

    async def resume():
        await queue().resume()
        return {"queue": QUEUE, "isPaused": False}

    async def clean():
        completed = await queue().clean(CLEAN_COMPLETED_GRACE_MS, CLEAN_LIMIT, "completed")
        failed = await queue().clean(CLEAN_FAILED_GRACE_MS, CLEAN_LIMIT, "failed")
        return {"queue": QUEUE, "cleaned": {"completed": list(completed or []), "failed": list(failed or [])}}

    app.add_api_route("/api/admin/queue/stats", queue_route(stats), methods=["GET"])
    app.add_api_route("/api/admin/queue/pause", queue_route(pause), methods=["POST"])
    app.add_api_route("/api/admin/queue/resume", queue_route(resume), methods=["POST"])
    app.add_api_route("/api/admin/queue/clean", queue_route(clean), methods=["POST"])

    @app.post("/api/admin/api-keys/{key_id}/revoke")
    async def revoke(key_id: str, request: Request):
        denied = admin(request)
        if denied:
            return denied
        conn = psycopg2.connect(config.pg_dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute('UPDATE "ApiKey" SET active = false WHERE id = %s RETURNING id', (key_id,))
                row = cur.fetchone()
        finally:
            conn.close()
        if not row:
            return error(404, "API key not found")
        return {"id": row[0], "active": False}

    return app


def config_from_env(layout, host_workdir=None):
    env = os.environ.get
    return Config(layout, env("AUDITRONSIM_PG_DSN"), env("AUDITRONSIM_REDIS_URL"), env("AUDITRONSIM_JWT_SECRET"),
                  version=env("AUDITRONSIM_VERSION", "1.0.0"), minio_url=env("AUDITRONSIM_MINIO_URL") or None,
                  workdir=host_workdir or "/tmp")
