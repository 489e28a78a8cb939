"""The HTTP API of the `sark_v2` layout (what the SARK 2.x code serves).

Deliberate fidelity to SARK 2.x quirks (contract section "SARK 2.x details that decide idempotence,
bulk work and safe writes"):
- routes end in a slash, so /api/v1/servers answers 307 (Starlette's trailing-slash redirect);
- no DELETE/PATCH on /api/v1/servers/{id}: 405 (the only way is the bulk status route);
- list items carry only {id, name, transport, status, sensitivity_level, created_at} (no endpoint, no
  description); `search` is a case-insensitive substring match on the name, newest first; `limit`
  is 1-200; following `next_cursor` answers 500 and so does any `tags=` filter; `total` is null
  unless include_total=true, and then it counts the whole table, ignoring the filters;
- GET /api/v1/servers/{id} is the full record (endpoint, tools, metadata); the export
  /api/v1/export/servers.json lists every server unpaged;
- a registration (single or bulk item) asks for a policy decision (`server:register`), writes the
  server row(s) and a SERVER_REGISTERED audit event: a bulk request does the same work per item;
  a single registration denied by policy answers 500 "Server registration failed" (SARK wraps its
  403 in a catch-all);
- both bulk endpoints with fail_on_first_error=true report every item failed with "Transaction
  failed: Can't operate on closed transaction inside context manager..." while the first item
  (register) or the first update (status) is committed anyway (SARK commits inside begin_nested);
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
CSV_FIELDS = ("id", "name", "description", "transport", "endpoint", "status", "sensitivity_level", "created_at")
EXPORT_BATCH = 1000
CLOSED_TRANSACTION = ("Can't operate on closed transaction inside context manager.  Please complete the context "
                      "manager before emitting further commands.")


def list_item_json(row):
    """A list item as SARK 2.x's ServerListItem: no endpoint, no description."""
    return {"id": str(row[0]), "name": row[1], "transport": row[3], "status": row[5], "sensitivity_level": row[6],
            "created_at": iso(row[11])}


def server_json(row):
    """GET /api/v1/servers/{id} (tools are added by the route)."""
    return {"id": str(row[0]), "name": row[1], "description": row[2], "transport": row[3], "endpoint": row[4],
            "status": row[5], "sensitivity_level": row[6], "metadata": row[10], "created_at": iso(row[11])}


def export_json(row):
    """One server of GET /api/v1/export/servers.json."""
    return {"id": str(row[0]), "name": row[1], "description": row[2], "transport": row[3], "endpoint": row[4],
            "status": row[5], "sensitivity_level": row[6], "created_at": iso(row[11]), "updated_at": iso(row[12]),
            "metadata": row[10]}


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


class BulkRegistrationItem(ServerRegistrationRequest):
    """One server of a bulk registration: the fields of a single registration, but its tools are plain objects and
    may be left out (SARK's BulkRegistrationItem)."""
    tools: List[Dict[str, Any]] = Field(default_factory=list)


class BulkServerRegistrationRequest(BaseModel):
    servers: List[BulkRegistrationItem] = Field(..., min_length=1, max_length=100)
    fail_on_first_error: bool = False


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

    def registration_allowed(claims, item):
        """SARK asks OPA `server:register` on resource server:{name} for every registration (bulk: per item)."""
        context = {"user_role": claims.get("role", "developer"), "user_teams": [], "server_name": item.name,
                   "sensitivity_level": item.sensitivity_level, "transport": item.transport}
        decision, _cache_hit = decide(claims["sub"], "server:register", None, None, "server:%s" % item.name, context,
                                      claims)
        return decision.get("allow") is True

    def insert_server(cur, item, claims, tools):
        """The server row (and its tools) of one registration; returns (server_id, status, consul_id)."""
        server_id = str(uuid.uuid4())
        # owner is the caller when the caller is a known user (FK to users, ON DELETE SET NULL)
        cur.execute(
            "INSERT INTO mcp_servers (id, name, description, transport, endpoint, command, mcp_version,"
            " capabilities, sensitivity_level, signature, status, owner_id, tags, extra_metadata)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'REGISTERED',"
            " (SELECT id FROM users WHERE id = %s), '[]', %s) RETURNING lower(status::text), consul_id",
            (server_id, item.name, item.description, item.transport.upper(), item.endpoint, item.command,
             item.version, Json(item.capabilities), item.sensitivity_level.upper(), item.signature,
             as_uuid(claims["sub"]), Json(item.metadata)))
        status, consul_id = cur.fetchone()
        if tools:
            execute_values(cur, "INSERT INTO mcp_tools (id, server_id, name, description, parameters,"
                           " sensitivity_level, signature, requires_approval) VALUES %s",
                           [(str(uuid.uuid4()), server_id, t["name"], t.get("description"), Json(t.get("parameters") or {}),
                             str(t.get("sensitivity_level") or item.sensitivity_level).upper(), t.get("signature"),
                             bool(t.get("requires_approval"))) for t in tools])
        return server_id, status, consul_id

    def register_one(item, claims, tools):
        # without tools the registration is one statement (no BEGIN/COMMIT round trips); with tools, a transaction
        with state.db.connection(autocommit=not tools) as conn:
            with conn.cursor() as cur:
                return insert_server(cur, item, claims, tools)

    @router.post("/servers/", status_code=201)
    def register_server(body: ServerRegistrationRequest, request: Request, claims=Depends(current_claims)):
        if not registration_allowed(claims, body):
            # SARK raises 403 inside a catch-all that turns every exception into this 500
            return JSONResponse({"detail": "Server registration failed"}, status_code=500)
        tools = [t.model_dump() for t in body.tools]
        server_id, status, consul_id = register_one(body, claims, tools)
        write_v2_audit(state, "SERVER_REGISTERED", "MEDIUM", claims=claims, server_id=server_id,
                       ip_address=client_host(request), user_agent=request.headers.get("user-agent"),
                       details={"server_name": body.name, "transport": body.transport,
                                "tool_count": len(body.tools), "sensitivity_level": body.sensitivity_level})
        return JSONResponse({"server_id": server_id, "status": status, "consul_id": consul_id}, status_code=201)

    @router.post("/bulk/servers/register")
    def bulk_register(body: BulkServerRegistrationRequest, request: Request, claims=Depends(current_claims)):
        """Per item the same work as one registration: policy decision, the INSERT(s), one audit event."""
        items = body.servers
        allowed = [registration_allowed(claims, item) for item in items]
        succeeded, failed = [], []
        if body.fail_on_first_error:
            if not all(allowed):
                failed = [{"name": item.name, "error": "Policy denied: Policy evaluation completed" if not ok else
                           "Transaction rolled back due to policy failures"} for item, ok in zip(items, allowed)]
            else:
                # SARK commits the first server inside begin_nested(); its next statement then fails
                try:
                    register_one(items[0], claims, items[0].tools)
                    error = CLOSED_TRANSACTION
                except (psycopg2.Error, KeyError, TypeError) as exc:
                    error = str(exc)
                failed = [{"name": item.name, "error": "Transaction failed: %s" % error} for item in items]
        else:
            for item, ok in zip(items, allowed):
                if not ok:
                    failed.append({"name": item.name, "error": "Policy denied: Policy evaluation completed"})
                    continue
                try:
                    server_id, status, _consul = register_one(item, claims, item.tools)
                except (psycopg2.Error, KeyError, TypeError) as exc:
                    failed.append({"name": item.name, "error": str(exc)})
                    continue
                succeeded.append({"server_id": server_id, "name": item.name, "status": status})
                # one audit write per server, as SARK's bulk service logs each (and as one registration does):
                # batching them here would make the bulk route cheaper than SARK's
                write_v2_audit(state, "SERVER_REGISTERED", "MEDIUM", claims=claims, server_id=server_id,
                               ip_address=client_host(request), user_agent=request.headers.get("user-agent"),
                               details={"server_name": item.name, "bulk_operation": True})
        return {"total": len(items), "succeeded": len(succeeded), "failed": len(failed),
                "succeeded_items": succeeded, "failed_items": failed}

    @router.get("/servers/")
    def list_servers(limit: int = Query(50, ge=1, le=200), cursor: Optional[str] = None,
                     sort_order: str = Query("desc", pattern="^(asc|desc)$"), status: Optional[str] = None,
                     sensitivity: Optional[str] = None, team_id: Optional[str] = None,
                     owner_id: Optional[str] = None, tags: Optional[str] = None, match_all_tags: bool = False,
                     search: Optional[str] = None, include_total: bool = False,
                     claims=Depends(current_claims)):
        del claims
        if cursor is not None or tags:
            # SARK 2.x: decoding its own cursor and the tags filter both raise (upstream bugs)
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
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
        del match_all_tags
        if search:
            where.append("name ILIKE %s")
            params.append("%" + escape_like(search) + "%")
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
        return {"items": [list_item_json(r) for r in rows], "next_cursor": next_cursor, "has_more": has_more,
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
        item = server_json(row)
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
                    # SARK commits the first update inside begin_nested(); its next statement then fails, so every
                    # item is reported failed although the first change is in the table (and no audit event for it)
                    try:
                        apply_status(cur, body.updates[0])
                        error = CLOSED_TRANSACTION
                    except (_StatusUpdateFailed, psycopg2.DataError) as exc:
                        conn.rollback()
                        error = str(exc)
                    failed = [{"server_id": u.server_id, "error": "Transaction failed: %s" % error}
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
            text = ", ".join(json.dumps(export_json(r)) for r in batch)
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
                item = export_json(row)
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

    def decide(user, action, tool, server_id, resource, parameters, claims):
        """A policy decision as SARK's OPA client makes it: the Redis cache, else OPA (fail closed) or the built-in rule.

        Returns (decision dict, cache_hit)."""
        config = state.config
        resource = resource or policy.resource_of(tool, server_id)
        key = policy.decision_key(user, action, resource, parameters)
        cached = state.redis.get(key)
        if cached is not None:
            return json.loads(cached), True
        is_admin, role = user_is_admin(user, claims)
        cacheable = True
        if config.opa_url:
            opa_input = {"user": {"id": user, "role": role, "is_admin": is_admin, "teams": []},
                         "action": action,
                         "tool": {"name": tool} if tool else None,
                         "server": {"id": server_id} if server_id else None,
                         "parameters": parameters, "context": {"timestamp": int(utcnow().timestamp())}}
            allow, reason, filtered, cacheable = policy.opa_decision(config.opa_url, opa_input, config.opa_timeout)
        else:
            allow, reason, filtered = policy.builtin_decision(is_admin, action, parameters)
        decision = {"allow": allow, "reason": reason, "filtered_parameters": filtered,
                    "audit_id": str(uuid.uuid4())}
        if cacheable:
            state.redis.set(key, json.dumps(decision), ex=config.policy_cache_ttl)
        return decision, False

    @router.post("/policy/evaluate")
    def evaluate(body: PolicyEvaluationRequest, request: Request, claims=Depends(current_claims)):
        user = body.user_id or claims["sub"]
        decision, cache_hit = decide(user, body.action, body.tool, body.server_id, None, body.parameters, claims)
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
