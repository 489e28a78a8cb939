"""Pieces the routes of both layouts share: authentication dependencies, audit writes, JSON helpers."""

import logging
import uuid

import psycopg2
from fastapi import Depends, HTTPException, Request
from psycopg2.extras import Json, execute_values

from .auth import AuthError, bearer_token, claims_are_admin

LOG = logging.getLogger("sarksim")


def iso(value):
    return value.isoformat() if value is not None else None


def escape_like(text):
    """A user string made literal inside an ILIKE pattern (backslash is the default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def as_uuid(value):
    """The canonical form of a UUID string, or None when it is not one."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def client_host(request):
    return request.client.host if request.client else None


def auth_dependencies(state):
    """(current_claims, admin_claims) dependencies bound to one simulator's JWT secret."""

    async def current_claims(request: Request):
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise HTTPException(status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        try:
            return state.tokens.decode(token)
        except AuthError as exc:
            raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc

    async def admin_claims(claims=Depends(current_claims)):
        if not claims_are_admin(claims):
            raise HTTPException(status_code=403, detail="Admin privileges required")
        return claims

    return current_claims, admin_claims


def write_runbook_audit(state, event_type, severity="low", user_id=None, server_id=None, details=None,
                        login_time=None, logout_time=None):
    """One row in sark_audit.audit_events (runbook columns); best effort, like a side channel."""
    try:
        with state.audit_db.connection(autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO audit_events (time, event_type, severity, user_id, server_id, details,"
                    " login_time, logout_time) VALUES (now(), %s, %s, %s, %s, %s, %s, %s)",
                    (event_type, severity, user_id, server_id, Json(details or {}), login_time, logout_time))
    except psycopg2.Error as exc:
        LOG.warning("audit write failed: %s", exc)


def v2_audit_row(event_type, severity="LOW", claims=None, server_id=None, tool_name=None, decision=None,
                 ip_address=None, user_agent=None, details=None, user_id=None):
    """A tuple for write_v2_audit_rows(): one SARK 2.x audit event (UPPERCASE enum labels)."""
    claims = claims or {}
    return (str(uuid.uuid4()), event_type, severity, as_uuid(user_id or claims.get("sub")), claims.get("email"),
            as_uuid(server_id), tool_name, decision, ip_address, (user_agent or "")[:500] or None,
            uuid.uuid4().hex, Json(details or {}))


def write_v2_audit_rows(state, rows):
    """Insert audit events into sark_audit.audit_events in one statement; best effort."""
    if not rows:
        return True
    try:
        # one statement whatever the row count (page_size), so no transaction is needed around it
        with state.audit_db.connection(autocommit=True) as conn:
            with conn.cursor() as cur:
                execute_values(
                    cur, "INSERT INTO audit_events (id, event_type, severity, user_id, user_email, server_id,"
                    " tool_name, decision, ip_address, user_agent, request_id, details) VALUES %s", rows,
                    page_size=len(rows))
    except psycopg2.Error as exc:
        LOG.warning("audit write failed: %s", exc)
        return False
    return True


def write_v2_audit(state, event_type, severity="LOW", **fields):
    """One SARK 2.x audit event; returns its id, or None when it could not be written."""
    row = v2_audit_row(event_type, severity, **fields)
    return row[0] if write_v2_audit_rows(state, [row]) else None
