"""AUDITRON's database (shared/spec/platforms-contract.md): snake_case tables, cuid string ids, FK organizationId,
and the ``"ApiKey"`` table in the shape of each layout (runbook: the columns the runbook's SQL and the schema's
conventions imply; auditron_code: the columns the service code assumes)."""

import datetime
import secrets
import string

import psycopg2
from psycopg2 import sql

LAYOUTS = ("runbook", "auditron_code")

BASE_SQL = """
CREATE TABLE IF NOT EXISTS organizations (
    id text PRIMARY KEY, name text NOT NULL, "createdAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS users (
    id text PRIMARY KEY, email text NOT NULL UNIQUE, name text,
    "organizationId" text REFERENCES organizations(id), "createdAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS agent_jobs (
    id text PRIMARY KEY, "organizationId" text REFERENCES organizations(id), status text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS audit_logs (
    id text PRIMARY KEY, "organizationId" text REFERENCES organizations(id), action text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now());
"""

API_KEY_SQL = {
    "runbook": """
CREATE TABLE IF NOT EXISTS "ApiKey" (
    id text PRIMARY KEY, "organizationId" text NOT NULL REFERENCES organizations(id), name text NOT NULL,
    active boolean NOT NULL DEFAULT true, "createdAt" timestamptz NOT NULL DEFAULT now(), "lastUsedAt" timestamptz);
""",
    "auditron_code": """
CREATE TABLE IF NOT EXISTS "ApiKey" (
    id text PRIMARY KEY, "orgId" text NOT NULL REFERENCES organizations(id), name text NOT NULL,
    "hashedKey" text NOT NULL, "maskedKey" text NOT NULL, "createdBy" text,
    active boolean NOT NULL DEFAULT true, "createdAt" timestamptz NOT NULL DEFAULT now(), "lastUsedAt" timestamptz,
    "disabledAt" timestamptz);
""",
}

ORG_COLUMN = {"runbook": "organizationId", "auditron_code": "orgId"}


def cuid():
    """A cuid-looking id (c + 24 lower-case letters and digits), as Prisma's @default(cuid()) makes."""
    return "c" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for dummy in range(24))


def create_database(pg, dbname):
    conn = pg.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if not cur.fetchone():
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    finally:
        conn.close()


def install(pg, layout, dbname="auditron"):
    if layout not in LAYOUTS:
        raise ValueError("layout must be one of %s" % ", ".join(LAYOUTS))
    create_database(pg, dbname)
    conn = pg.connect(dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(BASE_SQL)
            cur.execute(API_KEY_SQL[layout])
    finally:
        conn.close()


def add_api_key(conn, layout, org_id, name, created_at=None, active=True, last_used_at=None, key_id=None):
    """Insert one API key row in the layout's shape; returns its id."""
    key_id = key_id or cuid()
    created_at = created_at or datetime.datetime.now(datetime.timezone.utc)
    with conn.cursor() as cur:
        if layout == "runbook":
            cur.execute('INSERT INTO "ApiKey" (id, "organizationId", name, active, "createdAt", "lastUsedAt") '
                        "VALUES (%s, %s, %s, %s, %s, %s)", (key_id, org_id, name, active, created_at, last_used_at))
        else:
            raw = "ak_live_" + secrets.token_hex(16)
            cur.execute('INSERT INTO "ApiKey" (id, "orgId", name, "hashedKey", "maskedKey", "createdBy", active, '
                        '"createdAt", "lastUsedAt", "disabledAt") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)',
                        (key_id, org_id, name, "sha256:" + secrets.token_hex(32), raw[:8] + "..." + raw[-4:], None,
                         active, created_at, last_used_at, None if active else created_at))
    return key_id


def seed(pg, layout, dbname="auditron", now=None):
    """Two organisations, a user each, and API keys of several ages (one already revoked); returns their ids."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    conn = pg.connect(dbname)
    try:
        with conn.cursor() as cur:
            orgs = {"acme": cuid(), "globex": cuid()}
            for name, org_id in orgs.items():
                cur.execute("INSERT INTO organizations (id, name, \"createdAt\") VALUES (%s, %s, %s)",
                            (org_id, name, now - 400 * day))
                cur.execute('INSERT INTO users (id, email, name, "organizationId") VALUES (%s, %s, %s, %s)',
                            (cuid(), "admin@%s.example.com" % name, name + " admin", org_id))
        keys = {
            "acme-ci": add_api_key(conn, layout, orgs["acme"], "ci", now - 200 * day, last_used_at=now - day),
            "acme-old": add_api_key(conn, layout, orgs["acme"], "old integration", now - 120 * day),
            "acme-new": add_api_key(conn, layout, orgs["acme"], "new", now - 3 * day),
            "acme-revoked": add_api_key(conn, layout, orgs["acme"], "revoked", now - 300 * day, active=False),
            "globex-main": add_api_key(conn, layout, orgs["globex"], "main", now - 95 * day),
        }
    finally:
        conn.close()
    return {"organizations": orgs, "api_keys": keys}


def connect_dsn(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn
