"""create_app(config): a FastAPI app serving SARK's HTTP API in the `runbook` or `sark_v2` layout.

Data lives in a real PostgreSQL (databases sark and sark_audit) and a real Redis, laid out as
the contract describes; nothing the contract places there is kept in memory. Only the
simulator's own controls under /_sim/ (fault plan, request log, run-time settings) live in
process memory.

Health, as implemented:
- runbook `/health` and `/health/detailed` (same body): components database (sark and
  sark_audit both answer SELECT 1: healthy; only sark: degraded; else unhealthy), redis (PING),
  opa (GET {opa_url}/health; "unknown" when no opa_url is configured), siem ("unhealthy" when
  `siem:circuit_breaker:state` or `circuit:{splunk,datadog}:state` is "open" or LLEN
  siem:event_queue > 10000, "degraded" above 1000, "unknown" when Redis is down). Overall status
  is unhealthy when database or redis is, degraded when any component is degraded/unhealthy,
  else healthy ("unknown" components do not count); HTTP 503 when unhealthy, else 200.
- sark_v2 `/health/` (and `/health` -> 307), `/health/live`, `/health/startup`,
  `/health/ready` (always 200; ready = database and redis and opa) and `/health/detailed`
  (status healthy|degraded). OPA is reported unhealthy with error null, like SARK 2.x, unless
  config.opa_bug is False, in which case GET {opa_url}/health is judged.
"""

import contextlib
import time
from typing import Any, Optional

import psycopg2
import redis
from fastapi import Body, FastAPI, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from . import policy, routes_runbook, routes_v2
from .common import LOG, auth_dependencies
from .config import SimConfig
from .middleware import SimMiddleware
from .state import SimState, utcnow

SIEM_BREAKER_KEYS = ("siem:circuit_breaker:state", "circuit:splunk:state", "circuit:datadog:state")
SIEM_QUEUE_KEY = "siem:event_queue"
SIEM_QUEUE_WARNING = 1000
SIEM_QUEUE_CRITICAL = 10000


class FaultIn(BaseModel):
    path_prefix: str = "/"
    status: Optional[int] = Field(None, ge=100, le=599)
    count: int = Field(1, ge=1)
    retry_after: Optional[Any] = None
    method: Optional[str] = None
    delay_seconds: float = 0.0
    body: Optional[Any] = None
    after: bool = False


def _redis_ping(state):
    start = time.monotonic()
    try:
        state.redis.ping()
    except (redis.RedisError, OSError) as exc:
        return False, (time.monotonic() - start) * 1000.0, str(exc) or exc.__class__.__name__
    return True, (time.monotonic() - start) * 1000.0, None


def _siem_component(state):
    try:
        pipe = state.redis.pipeline(transaction=False)
        for key in SIEM_BREAKER_KEYS:
            pipe.get(key)
        pipe.llen(SIEM_QUEUE_KEY)
        values = pipe.execute()
    except (redis.RedisError, OSError):
        return "unknown"
    states, depth = values[:-1], values[-1]
    if any(str(value).lower() == "open" for value in states if value is not None) or depth > SIEM_QUEUE_CRITICAL:
        return "unhealthy"
    if depth > SIEM_QUEUE_WARNING:
        return "degraded"
    return "healthy"


def _runbook_metrics(state):
    metrics = {"active_users": None, "registered_servers": None,
               "requests_per_minute": state.requests.per_minute()}
    try:
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM users WHERE is_active),"
                            " (SELECT count(*) FROM servers WHERE status <> 'decommissioned')")
                metrics["active_users"], metrics["registered_servers"] = cur.fetchone()
    except psycopg2.Error as exc:
        LOG.warning("health metrics failed: %s", exc)
    return metrics


def runbook_health(state):
    config = state.config
    sark_ok = state.db.ping()[0]
    audit_ok = state.audit_db.ping()[0]
    database = "healthy" if sark_ok and audit_ok else ("degraded" if sark_ok else "unhealthy")
    redis_state = "healthy" if _redis_ping(state)[0] else "unhealthy"
    opa = "unknown"
    if config.opa_url:
        opa = "healthy" if policy.opa_healthy(config.opa_url, config.opa_timeout)[0] else "unhealthy"
    components = {"database": database, "redis": redis_state, "opa": opa, "siem": _siem_component(state)}
    if "unhealthy" in (database, redis_state):
        status = "unhealthy"
    elif any(value in ("unhealthy", "degraded") for value in components.values()):
        status = "degraded"
    else:
        status = "healthy"
    body = {"status": status, "version": config.version,
            "timestamp": utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "components": components,
            "metrics": _runbook_metrics(state) if sark_ok else {
                "active_users": None, "registered_servers": None,
                "requests_per_minute": state.requests.per_minute()}}
    return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)


def _v2_opa(state):
    config = state.config
    if config.opa_bug:
        # SARK 2.x: check_opa_health() calls a method its OPA client lacks, swallows the error, says False
        return False, 0.01, None
    if not config.opa_url:
        return False, 0.0, "OPA URL not configured"
    return policy.opa_healthy(config.opa_url, config.opa_timeout)


def _dependency(result):
    healthy, latency, error = result
    return {"healthy": healthy, "latency_ms": round(latency, 3), "error": error}


def add_health_routes(app, state):
    config = state.config
    if config.layout == "runbook":
        app.add_api_route("/health", lambda: runbook_health(state), methods=["GET"], tags=["health"],
                          name="health")
        app.add_api_route("/health/detailed", lambda: runbook_health(state), methods=["GET"], tags=["health"],
                          name="health_detailed")
        return

    def basic(status):
        return {"status": status, "version": config.version, "environment": config.environment}

    @app.get("/health/", tags=["health"])
    async def health_check():
        return basic("healthy")

    @app.get("/health/live", tags=["health"])
    async def liveness_check():
        return basic("alive")

    @app.get("/health/startup", tags=["health"])
    async def startup_check():
        return basic("started")

    @app.get("/health/ready", tags=["health"])
    def readiness_check():
        database = state.db.ping()[0]
        redis_ok = _redis_ping(state)[0]
        opa = _v2_opa(state)[0]
        return {"ready": database and redis_ok and opa, "database": database, "redis": redis_ok, "opa": opa}

    @app.get("/health/detailed", tags=["health"])
    def detailed_health_check():
        dependencies = {"postgresql": _dependency(state.db.ping()), "redis": _dependency(_redis_ping(state)),
                        "opa": _dependency(_v2_opa(state))}
        overall = all(dep["healthy"] for dep in dependencies.values())
        return {"status": "healthy" if overall else "degraded", "version": config.version,
                "environment": config.environment, "dependencies": dependencies, "overall_healthy": overall}


def add_sim_routes(app, state):
    """Simulator controls: no auth, not in /openapi.json."""

    @app.post("/_sim/faults", include_in_schema=False)
    async def add_fault(fault: FaultIn):
        if fault.status is None and not fault.delay_seconds:
            return JSONResponse({"detail": "give a status, a delay_seconds, or both"}, status_code=422)
        if fault.after and (fault.status is not None or not fault.delay_seconds):
            return JSONResponse({"detail": "after holds the real answer: give delay_seconds and no status"},
                                status_code=422)
        return {"fault": state.faults.add(**fault.model_dump())}

    @app.get("/_sim/faults", include_in_schema=False)
    async def list_faults():
        return {"faults": state.faults.list()}

    @app.post("/_sim/reset", include_in_schema=False)
    async def reset():
        state.faults.clear()
        state.requests.clear()
        return {"ok": True}

    @app.get("/_sim/requests", include_in_schema=False)
    async def requests_log(limit: Optional[int] = Query(None, ge=1), path_prefix: Optional[str] = None,
                           method: Optional[str] = None):
        return {"requests": state.requests.entries(limit, path_prefix, method)}

    @app.get("/_sim/config", include_in_schema=False)
    async def get_config():
        return state.config.public()

    @app.post("/_sim/config", include_in_schema=False)
    async def set_config(changes: dict = Body(...)):
        unknown = sorted(set(changes) - set(SimConfig.MUTABLE))
        if unknown:
            return JSONResponse({"detail": "not changeable at run time: %s" % ", ".join(unknown)}, status_code=422)
        if state.config.layout == "sark_v2" and changes.get("rate_limit_enabled"):
            return JSONResponse({"detail": "SARK 2.x does not wire its rate-limit middleware: a sark_v2 deployment "
                                           "never rate-limits (use /_sim/faults for a 429)"}, status_code=422)
        try:
            values = {name: _coerce_setting(name, value) for name, value in changes.items()}
        except (TypeError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        for name, value in values.items():
            setattr(state.config, name, value)
        return state.config.public()


def _coerce_setting(name, value):
    """A run-time setting in the type the simulator uses, or ValueError."""
    if name == "opa_url":
        return str(value).rstrip("/") if value else None
    if name in ("opa_bug", "rate_limit_enabled"):
        if not isinstance(value, bool):
            raise ValueError("%s must be true or false" % name)
        return value
    number = int(value)
    if number < 1:
        raise ValueError("%s must be a positive integer" % name)
    return number


def create_app(config):
    """The simulator app for a SimConfig (or a dict of its fields)."""
    if isinstance(config, dict):
        config = SimConfig.from_dict(config)
    state = SimState(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await state.aclose()

    title = "SARK API" if config.layout == "runbook" else "SARK - Security Audit and Resource Kontroller"
    app = FastAPI(title=title, version=config.version, lifespan=lifespan)
    app.state.sim = state
    state.metrics.app = app
    current_claims, admin_claims = auth_dependencies(state)

    @app.exception_handler(psycopg2.Error)
    async def database_error(_request, exc):
        LOG.error("database error: %s", exc)
        return JSONResponse({"detail": "Internal server error: database unavailable"}, status_code=500)

    @app.exception_handler(redis.RedisError)
    async def redis_error(_request, exc):
        LOG.error("redis error: %s", exc)
        return JSONResponse({"detail": "Internal server error: cache unavailable"}, status_code=500)

    add_health_routes(app, state)
    if config.layout == "runbook":
        app.include_router(routes_runbook.build_router(state, current_claims, admin_claims))
    else:
        app.include_router(routes_v2.build_router(state, current_claims))
    add_sim_routes(app, state)

    @app.get("/metrics", include_in_schema=False)
    def metrics():
        return Response(state.metrics.render(), media_type=state.metrics.content_type)
    app.add_middleware(SimMiddleware, state=state)
    return app
