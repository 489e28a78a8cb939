"""The HTTP API of the `sark_v2` layout (what the SARK 2.x code serves).

Deliberate fidelity to SARK 2.x quirks:
- routes end in a slash, so /api/v1/servers answers 307 (Starlette's trailing-slash redirect);
- no DELETE/PATCH on /api/v1/servers/{id}: 405 (the only way is the bulk status route);
- list pagination is broken: the `cursor` parameter is accepted and ignored, so every "next page"
  is the first page again while `next_cursor` keeps coming; `total` is null unless
  include_total=true, and then it counts the whole table, ignoring the filters;
- server names are not unique.
"""

import base64
import csv
import io
import json
import uuid
from typing import Any, Dict, List, Optional

import psycopg2
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from psycopg2.extras import Json, execute_values
from pydantic import BaseModel, Field

from . import policy
from .auth import claims_are_admin
from .common import as_uuid, client_host, escape_like, iso, v2_audit_row, write_v2_audit, write_v2_audit_rows
from .state import utcnow

STATUSES = ("registered", "active", "inactive", "unhealthy", "decommissioned")
SENSITIVITIES = ("low", "medium", "high", "critical")
LEVEL_PATTERN = "^(low|medium|high|critical)$"
SERVER_COLUMNS = ("id, name, description, lower(transport::text), endpoint, lower(status::text),"
                  " lower(sensitivity_level::text), owner_id, team_id, tags, extra_metadata, created_at, updated_at")
CSV_FIELDS = ("id", "name", "description", "transport", "endpoint", "status", "sensitivity_level", "owner_id",
              "team_id", "tags", "created_at", "updated_at")
EXPORT_BATCH = 1000


def server_json(row, with_metadata=False):
    item = {"id": str(row[0]), "name": row[1], "description": row[2], "transport": row[3], "endpoint": row[4],
            "status": row[5], "sensitivity_level": row[6], "owner_id": str(row[7]) if row[7] else None,
            "team_id": str(row[8]) if row[8] else None, "tags": row[9], "created_at": iso(row[11]),
            "updated_at": iso(row[12])}
    if with_metadata:
        item["metadata"] = row[10]
    return item


class ToolDefinition(BaseModel):
    name: str = Field(..., min_length=1, max_length=255)
    description: Optional[str] = Field(None, max_length=2000)
    parameters: Dict[str, Any] = Field(default_factory=dict)
    sensitivity_level: str = Field("medium", pattern=LEVEL_PATTERN)
    signature: Optional[str] = None
    requires_approval: bool = False


class ServerRegistrationRequest(BaseModel):
    name: str = Field(..., min_length=1, max_length=255)
    transport: str = Field(..., pattern="^(http|stdio|sse)$")
    endpoint: Optional[str] = Field(None, max_length=500)
    command: Optional[str] = Field(None, max_length=500)
    version: str = "2025-06-18"
    capabilities: List[str] = Field(default_factory=list)
    tools: List[ToolDefinition]
    description: Optional[str] = Field(None, max_length=1000)
    sensitivity_level: str = Field("medium", pattern=LEVEL_PATTERN)
    signature: Optional[str] = None
    metadata: Dict[str, Any] = Field(default_factory=dict)


class ServerStatusUpdateItem(BaseModel):
    server_id: str
    status: str = Field(..., pattern="^(registered|active|inactive|unhealthy|decommissioned)$")


class BulkServerStatusUpdateRequest(BaseModel):
    updates: List[ServerStatusUpdateItem] = Field(..., min_length=1, max_length=100)
    fail_on_first_error: bool = False


class PolicyEvaluationRequest(BaseModel):
    user_id: Optional[str] = None
    action: str = Field(..., min_length=1)
    tool: Optional[str] = None
    server_id: Optional[str] = None
    parameters: Dict[str, Any] = Field(default_factory=dict)


def _split_labels(value, allowed, field):
    labels = [item.strip().lower() for item in value.split(",") if item.strip()]
    bad = [item for item in labels if item not in allowed]
    if bad:
        raise HTTPException(status_code=422, detail=[{"type": "value_error", "loc": ["query", field],
                                                      "msg": "invalid value(s): %s" % ", ".join(bad)}])
    return [item.upper() for item in labels]


class _StatusUpdateFailed(Exception):
    pass


def build_router(state, current_claims):  # pylint: disable=too-many-statements,too-many-locals
    """All /api/v1 routes of the sark_v2 layout, bound to one simulator state."""
    router = APIRouter(prefix="/api/v1")

    @router.post("/servers/", status_code=201)
    def register_server(body: ServerRegistrationRequest, request: Request, claims=Depends(current_claims)):
        server_id = str(uuid.uuid4())
        # without tools the registration is one statement (no BEGIN/COMMIT round trips); with tools, a transaction
        with state.db.connection(autocommit=not body.tools) as conn:
            with conn.cursor() as cur:
                # owner is the caller when the caller is a known user (FK to users, ON DELETE SET NULL)
                cur.execute(
                    "INSERT INTO mcp_servers (id, name, description, transport, endpoint, command, mcp_version,"
                    " capabilities, sensitivity_level, signature, status, owner_id, tags, extra_metadata)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'REGISTERED',"
                    " (SELECT id FROM users WHERE id = %s), '[]', %s) RETURNING lower(status::text), consul_id",
                    (server_id, body.name, body.description, body.transport.upper(), body.endpoint, body.command,
                     body.version, Json(body.capabilities), body.sensitivity_level.upper(), body.signature,
                     as_uuid(claims["sub"]), Json(body.metadata)))
                status, consul_id = cur.fetchone()
                if body.tools:
                    execute_values(cur, "INSERT INTO mcp_tools (id, server_id, name, description, parameters,"
                                   " sensitivity_level, signature, requires_approval) VALUES %s",
                                   [(str(uuid.uuid4()), server_id, t.name, t.description, Json(t.parameters),
                                     t.sensitivity_level.upper(), t.signature, t.requires_approval)
                                    for t in body.tools])
        write_v2_audit(state, "SERVER_REGISTERED", "MEDIUM", claims=claims, server_id=server_id,
                       ip_address=client_host(request), user_agent=request.headers.get("user-agent"),
                       details={"server_name": body.name, "transport": body.transport,
                                "tool_count": len(body.tools), "sensitivity_level": body.sensitivity_level})
        return JSONResponse({"server_id": server_id, "status": status, "consul_id": consul_id}, status_code=201)

    @router.get("/servers/")
    def list_servers(limit: int = Query(50, ge=1, le=200), cursor: Optional[str] = None,
                     sort_order: str = Query("desc", pattern="^(asc|desc)$"), status: Optional[str] = None,
                     sensitivity: Optional[str] = None, team_id: Optional[str] = None,
                     owner_id: Optional[str] = None, tags: Optional[str] = None, match_all_tags: bool = False,
                     search: Optional[str] = None, include_total: bool = False,
                     claims=Depends(current_claims)):
        del claims, cursor  # the cursor is ignored: SARK 2.x pagination restarts at page one
        where, params = [], []
        if status:
            where.append("status::text = ANY(%s)")
            params.append(_split_labels(status, STATUSES, "status"))
        if sensitivity:
            where.append("sensitivity_level::text = ANY(%s)")
            params.append(_split_labels(sensitivity, SENSITIVITIES, "sensitivity"))
        for column, value in (("team_id", team_id), ("owner_id", owner_id)):
            if value:
                where.append("%s = %%s" % column)
                params.append(as_uuid(value) or "00000000-0000-0000-0000-000000000000")
        if tags:
            where.append("tags::jsonb %s %%s" % ("?&" if match_all_tags else "?|"))
            params.append([t.strip() for t in tags.split(",") if t.strip()])
        if search:
            where.append("(name ILIKE %s OR description ILIKE %s)")
            pattern = "%" + escape_like(search) + "%"
            params += [pattern, pattern]
        sql = "SELECT " + SERVER_COLUMNS + " FROM mcp_servers"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if sort_order == "desc" else "ASC"
        sql += " ORDER BY created_at %s, id %s LIMIT %%s" % (direction, direction)
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute(sql, params + [limit + 1])
                rows = cur.fetchall()
                total = None
                if include_total:
                    cur.execute("SELECT count(*) FROM mcp_servers")
                    total = cur.fetchone()[0]
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if has_more and rows:
            next_cursor = base64.b64encode(iso(rows[-1][11]).encode("utf-8")).decode("ascii")
        return {"items": [server_json(r) for r in rows], "next_cursor": next_cursor, "has_more": has_more,
                "total": total}

    @router.get("/servers/{server_id}")
    def get_server(server_id: uuid.UUID, claims=Depends(current_claims)):
        del claims
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT " + SERVER_COLUMNS + " FROM mcp_servers WHERE id = %s", (str(server_id),))
                row = cur.fetchone()
                tools = []
                if row is not None:
                    cur.execute("SELECT id, name, description, lower(sensitivity_level::text) FROM mcp_tools"
                                " WHERE server_id = %s ORDER BY name", (str(server_id),))
                    tools = [{"id": str(t[0]), "name": t[1], "description": t[2], "sensitivity_level": t[3]}
                             for t in cur.fetchall()]
        if row is None:
            raise HTTPException(status_code=404, detail="Server not found")
        item = server_json(row, with_metadata=True)
        item["tools"] = tools
        return item

    def apply_status(cur, update):
        server_id = as_uuid(update.server_id)
        if server_id is None:
            raise _StatusUpdateFailed("badly formed hexadecimal UUID string")
        cur.execute("UPDATE mcp_servers SET status = %s, updated_at = now() WHERE id = %s"
                    " RETURNING id, name, lower(status::text)", (update.status.upper(), server_id))
        row = cur.fetchone()
        if row is None:
            raise _StatusUpdateFailed("Server not found: %s" % server_id)
        return {"server_id": str(row[0]), "name": row[1], "status": row[2]}

    @router.patch("/bulk/servers/status")
    def bulk_status(body: BulkServerStatusUpdateRequest, request: Request, claims=Depends(current_claims)):
        succeeded, failed = [], []
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                if body.fail_on_first_error:
                    # all or nothing: the first failure rolls every update back, all reported failed
                    try:
                        for update in body.updates:
                            succeeded.append(apply_status(cur, update))
                    except (_StatusUpdateFailed, psycopg2.DataError) as exc:
                        conn.rollback()
                        succeeded = []
                        failed = [{"server_id": u.server_id, "error": "Transaction failed: %s" % exc}
                                  for u in body.updates]
                else:
                    for update in body.updates:
                        cur.execute("SAVEPOINT bulk_item")
                        try:
                            succeeded.append(apply_status(cur, update))
                            cur.execute("RELEASE SAVEPOINT bulk_item")
                        except (_StatusUpdateFailed, psycopg2.DataError) as exc:
                            cur.execute("ROLLBACK TO SAVEPOINT bulk_item")
                            failed.append({"server_id": update.server_id, "error": str(exc)})
        write_v2_audit_rows(state, [
            v2_audit_row("SERVER_UPDATED", "LOW", claims=claims, server_id=item["server_id"],
                         ip_address=client_host(request),
                         details={"status_change": {"new": item["status"]}, "bulk_operation": True})
            for item in succeeded])
        return {"total": len(body.updates), "succeeded": len(succeeded), "failed": len(failed),
                "succeeded_items": succeeded, "failed_items": failed}

    def export_rows():
        """Yield (total, batches of rows) from one snapshot, never holding the whole table."""
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("SELECT count(*) FROM mcp_servers")
                yield cur.fetchone()[0]
            with conn.cursor(name="sarksim_export_%s" % uuid.uuid4().hex) as cur:
                cur.itersize = EXPORT_BATCH
                cur.execute("SELECT " + SERVER_COLUMNS + " FROM mcp_servers ORDER BY created_at, id")
                while True:
                    batch = cur.fetchmany(EXPORT_BATCH)
                    if not batch:
                        break
                    yield batch

    def export_json_chunks():
        rows = export_rows()
        total = next(rows, 0)
        yield '{"export_type": "servers", "exported_at": %s, "total_records": %d, "servers": [' % (
            json.dumps(utcnow().isoformat()), total)
        first = True
        for batch in rows:
            text = ", ".join(json.dumps(server_json(r, with_metadata=True)) for r in batch)
            yield text if first else ", " + text
            first = False
        yield "]}"

    def export_csv_chunks():
        rows = export_rows()
        next(rows, None)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        yield buffer.getvalue()
        for batch in rows:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in batch:
                item = server_json(row)
                item["tags"] = json.dumps(item["tags"])
                writer.writerow(["" if item[f] is None else item[f] for f in CSV_FIELDS])
            yield buffer.getvalue()

    def attachment(suffix):
        return {"Content-Disposition": 'attachment; filename="servers_%s.%s"' % (
            utcnow().strftime("%Y%m%d_%H%M%S"), suffix)}

    @router.get("/export/servers.json")
    def export_servers_json(claims=Depends(current_claims)):
        del claims
        return StreamingResponse(export_json_chunks(), media_type="application/json", headers=attachment("json"))

    @router.get("/export/servers.csv")
    def export_servers_csv(claims=Depends(current_claims)):
        del claims
        return StreamingResponse(export_csv_chunks(), media_type="text/csv", headers=attachment("csv"))

    @router.get("/policy/list")
    def list_policies(claims=Depends(current_claims)):
        del claims
        return {"policies": policy.STATIC_V2_POLICIES, "total": len(policy.STATIC_V2_POLICIES)}

    def user_is_admin(user, claims):
        if user == claims["sub"]:
            return claims_are_admin(claims), claims.get("role", "developer")
        user_uuid = as_uuid(user)
        if user_uuid is None:
            return False, "developer"
        with state.db.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT is_admin, role FROM users WHERE id = %s", (user_uuid,))
                row = cur.fetchone()
        if row is None:
            return False, "developer"
        return bool(row[0]) or row[1] == "admin", row[1]

    @router.post("/policy/evaluate")
    def evaluate(body: PolicyEvaluationRequest, request: Request, claims=Depends(current_claims)):
        config = state.config
        user = body.user_id or claims["sub"]
        key = policy.decision_key(user, body.action, policy.resource_of(body.tool, body.server_id), body.parameters)
        cached = state.redis.get(key)
        cache_hit = cached is not None
        if cache_hit:
            decision = json.loads(cached)
        else:
            is_admin, role = user_is_admin(user, claims)
            cacheable = True
            if config.opa_url:
                opa_input = {"user": {"id": user, "role": role, "is_admin": is_admin, "teams": []},
                             "action": body.action,
                             "tool": {"name": body.tool} if body.tool else None,
                             "server": {"id": body.server_id} if body.server_id else None,
                             "parameters": body.parameters, "context": {"timestamp": int(utcnow().timestamp())}}
                allow, reason, filtered, cacheable = policy.opa_decision(config.opa_url, opa_input, config.opa_timeout)
            else:
                allow, reason, filtered = policy.builtin_decision(is_admin, body.action, body.parameters)
            decision = {"allow": allow, "reason": reason, "filtered_parameters": filtered,
                        "audit_id": str(uuid.uuid4())}
            if cacheable:
                state.redis.set(key, json.dumps(decision), ex=config.policy_cache_ttl)
        allow = decision.get("allow") is True
        audit_id = write_v2_audit(
            state, "AUTHORIZATION_ALLOWED" if allow else "AUTHORIZATION_DENIED", "LOW" if allow else "MEDIUM",
            claims=claims, user_id=user, server_id=body.server_id, tool_name=body.tool,
            decision="allow" if allow else "deny", ip_address=client_host(request),
            user_agent=request.headers.get("user-agent"),
            details={"action": body.action, "reason": decision.get("reason"), "cache_hit": cache_hit})
        return JSONResponse({"decision": "allow" if allow else "deny", "reason": decision.get("reason"),
                             "filtered_parameters": decision.get("filtered_parameters"),
                             "audit_id": audit_id or decision.get("audit_id"), "cache_hit": cache_hit})

    return router
