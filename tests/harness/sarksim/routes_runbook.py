"""The HTTP API of the `runbook` layout (what runbooks 000-002 document)."""

import json
import urllib.parse
import uuid
from typing import Any, List, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from psycopg2.extras import Json
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from . import policy
from .auth import hash_password
from .common import escape_like, iso, write_runbook_audit
from .state import utcnow

SERVER_STATUSES = ("active", "inactive", "unhealthy", "decommissioned")
SERVER_COLUMNS = "id, name, endpoint, status::text, owner_id, tags, created_at, updated_at"
USER_COLUMNS = "id, username, email, is_active, is_admin, roles, rate_limit_per_minute, created_at"
ANNOUNCEMENTS_KEY = "sark:announcements"


def server_json(row):
    return {"id": row[0], "name": row[1], "endpoint": row[2], "status": row[3], "owner_id": row[4],
            "tags": row[5], "created_at": iso(row[6]), "updated_at": iso(row[7])}


def user_json(row):
    return {"id": row[0], "username": row[1], "email": row[2], "is_active": row[3], "is_admin": row[4],
            "roles": list(row[5] or []), "rate_limit_per_minute": row[6], "created_at": iso(row[7])}


class ServerIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=255)
    endpoint: Optional[str] = Field(None, max_length=500)
    tags: List[Any] = Field(default_factory=list)
    owner_id: Optional[str] = None


class ServerPatch(BaseModel):
    status: Optional[str] = None
    endpoint: Optional[str] = Field(None, max_length=500)
    tags: Optional[List[Any]] = None


class UserIn(BaseModel):
    username: str = Field(..., min_length=1, max_length=255)
    email: Optional[str] = Field(None, max_length=255)
    password: str = Field(..., min_length=1)
    roles: List[str] = Field(default_factory=lambda: ["user"])
    is_admin: Optional[bool] = None
    rate_limit_per_minute: Optional[int] = None


class UserPatch(BaseModel):
    is_active: Optional[bool] = None
    roles: Optional[List[str]] = None
    email: Optional[str] = Field(None, max_length=255)
    is_admin: Optional[bool] = None
    rate_limit_per_minute: Optional[int] = None
    password: Optional[str] = Field(None, min_length=1)


def _validation_error(field, message):
    return JSONResponse(status_code=422, content={"detail": [
        {"type": "value_error", "loc": ["body", field], "msg": message, "input": None}]})


def build_router(state, current_claims, admin_claims):  # pylint: disable=too-many-statements
    """All /api/v1 routes of the runbook layout, bound to one simulator state."""
    router = APIRouter(prefix="/api/v1")

    def fetch_server(cur, server_id):
        cur.execute("SELECT " + SERVER_COLUMNS + " FROM servers WHERE id = %s", (server_id,))
        return cur.fetchone()

    @router.get("/servers")
    def list_servers(owner_id: Optional[str] = None, search: Optional[str] = None, status: Optional[str] = None,
                     limit: int = Query(100, ge=1, le=10000), claims=Depends(current_claims)):
        del claims
        where, params = [], []
        if owner_id:
            where.append("owner_id = %s")
            params.append(owner_id)
        if search:
            where.append("(name ILIKE %s OR endpoint ILIKE %s)")
            pattern = "%" + escape_like(search) + "%"
            params += [pattern, pattern]
        if status:
            if status not in SERVER_STATUSES:
                return _validation_error("status", "status must be one of %s" % ", ".join(SERVER_STATUSES))
            where.append("status = %s")
            params.append(status)
        sql = "SELECT " + SERVER_COLUMNS + " FROM servers"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id LIMIT %s"
        params.append(limit)
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall()
        return {"servers": [server_json(r) for r in rows]}

    @router.post("/servers", status_code=201)
    def register_server(body: ServerIn, claims=Depends(current_claims)):
        owner = body.owner_id or claims["sub"]
        with state.db.connection(autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO servers (name, endpoint, tags, owner_id) VALUES (%s, %s, %s, %s)"
                            " ON CONFLICT (name) DO NOTHING RETURNING " + SERVER_COLUMNS,
                            (body.name, body.endpoint, Json(body.tags), owner))
                row = cur.fetchone()
        if row is None:
            raise HTTPException(status_code=409, detail="Server with name '%s' already exists" % body.name)
        write_runbook_audit(state, "server_registered", "low", claims["sub"], row[0],
                            {"name": body.name, "endpoint": body.endpoint})
        return JSONResponse(server_json(row), status_code=201)  # skips FastAPI's re-encoding on the hot path

    @router.get("/servers/{server_id}")
    def get_server(server_id: str, claims=Depends(current_claims)):
        del claims
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                row = fetch_server(cur, server_id)
        if row is None:
            raise HTTPException(status_code=404, detail="Server not found")
        return server_json(row)

    def update_server(server_id, changes, claims, event_type):
        sets, params = [], []
        for column in ("status", "endpoint", "tags"):
            if column in changes:
                sets.append("%s = %%s" % column)
                params.append(Json(changes[column]) if column == "tags" else changes[column])
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                if sets:
                    cur.execute("UPDATE servers SET " + ", ".join(sets) + ", updated_at = now() WHERE id = %s"
                                " RETURNING " + SERVER_COLUMNS, params + [server_id])
                    row = cur.fetchone()
                else:
                    row = fetch_server(cur, server_id)
        if row is None:
            raise HTTPException(status_code=404, detail="Server not found")
        write_runbook_audit(state, event_type, "medium" if event_type == "server_deleted" else "low",
                            claims["sub"], server_id, {"changes": changes})
        return server_json(row)

    @router.patch("/servers/{server_id}")
    def patch_server(server_id: str, body: ServerPatch, claims=Depends(current_claims)):
        changes = body.model_dump(exclude_unset=True)
        if changes.get("status") is not None and changes["status"] not in SERVER_STATUSES:
            return _validation_error("status", "status must be one of %s" % ", ".join(SERVER_STATUSES))
        return update_server(server_id, changes, claims, "server_updated")

    @router.delete("/servers/{server_id}")
    def delete_server(server_id: str, claims=Depends(current_claims)):
        # soft delete, as runbook 000 says: the row stays, marked inactive
        return update_server(server_id, {"status": "inactive"}, claims, "server_deleted")

    @router.get("/users")
    def list_users(is_active: Optional[bool] = None, search: Optional[str] = None, role: Optional[str] = None,
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                   claims=Depends(admin_claims)):
        del claims
        where, params = [], []
        if is_active is not None:
            where.append("is_active = %s")
            params.append(is_active)
        if search:
            where.append("(username ILIKE %s OR email ILIKE %s)")
            pattern = "%" + escape_like(search) + "%"
            params += [pattern, pattern]
        if role:
            where.append("%s = ANY(roles)")
            params.append(role)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM users" + clause, params)
                total = cur.fetchone()[0]
                cur.execute("SELECT " + USER_COLUMNS + " FROM users" + clause +
                            " ORDER BY created_at DESC, id LIMIT %s OFFSET %s", params + [limit, offset])
                rows = cur.fetchall()
        return {"users": [user_json(r) for r in rows], "total": total}

    @router.get("/users/{user_id}")
    def get_user(user_id: str, claims=Depends(admin_claims)):
        del claims
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT " + USER_COLUMNS + " FROM users WHERE id = %s", (user_id,))
                row = cur.fetchone()
        if row is None:
            raise HTTPException(status_code=404, detail="User not found")
        return user_json(row)

    @router.post("/users", status_code=201)
    def create_user(body: UserIn, claims=Depends(admin_claims)):
        is_admin = body.is_admin if body.is_admin is not None else "admin" in body.roles
        password_hash = hash_password(body.password)
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO users (username, email, password_hash, roles, is_admin, rate_limit_per_minute)"
                            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING "
                            + USER_COLUMNS,
                            (body.username, body.email, password_hash, body.roles, is_admin,
                             body.rate_limit_per_minute))
                row = cur.fetchone()
        if row is None:
            raise HTTPException(status_code=409, detail="User '%s' already exists" % body.username)
        write_runbook_audit(state, "user_created", "low", claims["sub"], None,
                            {"user_id": row[0], "username": body.username})
        return user_json(row)

    @router.patch("/users/{user_id}")
    def patch_user(user_id: str, body: UserPatch, claims=Depends(admin_claims)):
        changes = body.model_dump(exclude_unset=True)
        columns = {}
        for field in ("is_active", "roles", "email", "is_admin", "rate_limit_per_minute"):
            if field in changes:
                columns[field] = changes[field]
        if "roles" in changes and "is_admin" not in changes and changes["roles"] is not None:
            # the runbook grants admin either way (roles via the API, is_admin in SQL): keep them in step
            columns["is_admin"] = "admin" in changes["roles"]
        if changes.get("password"):
            columns["password_hash"] = hash_password(changes["password"])
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                if columns:
                    assignments = ", ".join("%s = %%s" % name for name in columns)
                    cur.execute("UPDATE users SET " + assignments + " WHERE id = %s RETURNING " + USER_COLUMNS,
                                list(columns.values()) + [user_id])
                else:
                    cur.execute("SELECT " + USER_COLUMNS + " FROM users WHERE id = %s", (user_id,))
                row = cur.fetchone()
        if row is None:
            raise HTTPException(status_code=404, detail="User not found")
        event = "user_updated"
        if changes.get("is_active") is False:
            event = "user_disabled"
        elif changes.get("is_active") is True:
            event = "user_enabled"
        write_runbook_audit(state, event, "medium" if event == "user_disabled" else "low", claims["sub"], None,
                            {"user_id": user_id, "fields": sorted(k for k in changes if k != "password")})
        return user_json(row)

    @router.get("/policies")
    def list_policies(claims=Depends(current_claims)):
        del claims
        if state.config.opa_url:
            found = policy.opa_policies(state.config.opa_url, state.config.opa_timeout)
            if found is None:
                raise HTTPException(status_code=503, detail="OPA is unavailable")
            return {"policies": found}
        return {"policies": policy.STATIC_RUNBOOK_POLICIES}

    def store_announcement(message, user_id):
        record = {"id": str(uuid.uuid4()), "message": message, "created_at": utcnow().isoformat(),
                  "created_by": user_id}
        pipe = state.redis.pipeline(transaction=True)
        pipe.lpush(ANNOUNCEMENTS_KEY, json.dumps(record))
        pipe.ltrim(ANNOUNCEMENTS_KEY, 0, 999)
        pipe.execute()
        write_runbook_audit(state, "announcement", "medium", user_id, None, {"message": message})
        return record

    @router.post("/admin/announce", status_code=202)
    async def announce(request: Request, claims=Depends(admin_claims)):
        # The runbook's curl sends JSON without a Content-Type (so as a form): accept both.
        raw = await request.body()
        message = None
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            payload = None
        if isinstance(payload, dict):
            message = payload.get("message")
        elif raw:
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
            message = (form.get("message") or [None])[0]
        if not isinstance(message, str) or not message.strip():
            return _validation_error("message", "Field required: a non-empty message")
        record = await run_in_threadpool(store_announcement, message, claims["sub"])
        return {"status": "accepted", **record}

    return router
