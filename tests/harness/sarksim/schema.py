"""Create the SARK databases of a layout and fill them with a small demo data set.

`target` everywhere is one of: a harness.servers.PostgresServer, a callable dbname -> DSN string,
a callable dbname -> new psycopg2 connection, or a libpq DSN string (its dbname is replaced per
database). Connections obtained from a target are closed after use.
"""

import contextlib

import datetime
import os
import random
import uuid

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn
from psycopg2.extras import Json, execute_values

from .auth import hash_password
from .config import LAYOUTS, RUNBOOK_ADMIN_ID, SARK_V2_ADMIN_ID

SQL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sql")
DEMO_PASSWORD = "SarkDemo-Passw0rd!"
SERVERS_TABLE = {"runbook": "servers", "sark_v2": "mcp_servers"}  # each layout's table of MCP servers

RUNBOOK_USERS = [
    {"id": RUNBOOK_ADMIN_ID, "username": "admin", "email": "admin@example.com", "is_admin": True,
     "roles": ["user", "admin"], "is_active": True},
    {"id": "user-123", "username": "john.doe", "email": "john.doe@example.com", "is_admin": False,
     "roles": ["user"], "is_active": True},
    {"id": "user-456", "username": "jane.roe", "email": "jane.roe@example.com", "is_admin": False,
     "roles": ["user"], "is_active": True, "rate_limit_per_minute": 100},
    {"id": "user-789", "username": "old.account", "email": "old.account@example.com", "is_admin": False,
     "roles": ["user"], "is_active": False},
]

SARK_V2_USERS = [
    {"id": SARK_V2_ADMIN_ID, "email": "admin@example.com", "full_name": "SARK Admin", "is_admin": True,
     "role": "admin", "is_active": True},
    {"id": "00000000-0000-4000-8000-000000000123", "email": "john.doe@example.com", "full_name": "John Doe",
     "is_admin": False, "role": "developer", "is_active": True},
    {"id": "00000000-0000-4000-8000-000000000456", "email": "jane.roe@example.com", "full_name": "Jane Roe",
     "is_admin": False, "role": "viewer", "is_active": True},
    {"id": "00000000-0000-4000-8000-000000000789", "email": "old.account@example.com", "full_name": "Old Account",
     "is_admin": False, "role": "developer", "is_active": False},
]

DEMO_SERVERS = [
    {"name": "prod-server-01", "endpoint": "https://prod-server-01.example.com", "status": "active",
     "tags": ["production", "us-west-2"], "sensitivity": "high", "owner": 1},
    {"name": "prod-server-02", "endpoint": "https://prod-server-02.example.com", "status": "active",
     "tags": ["production", "eu-west-1"], "sensitivity": "critical", "owner": 1},
    {"name": "staging-server-01", "endpoint": "https://staging-server-01.example.com", "status": "inactive",
     "tags": ["staging"], "sensitivity": "medium", "owner": 2},
    {"name": "dev-server-01", "endpoint": "http://dev-server-01.example.com:8080", "status": "unhealthy",
     "tags": ["dev"], "sensitivity": "low", "owner": 2},
    {"name": "analytics", "endpoint": "https://analytics-a.example.com", "status": "active",
     "tags": ["analytics"], "sensitivity": "medium", "owner": 0},
]
# sark_v2 only: a second server named like the first (names are not unique there)
V2_DUPLICATE = {"name": "analytics", "endpoint": "https://analytics-b.example.com", "status": "registered",
                "tags": ["analytics"], "sensitivity": "medium", "owner": 0}


def dsn_factory(target):
    """A callable dbname -> DSN for a PostgresServer, a callable, or a DSN string."""
    if hasattr(target, "dsn") and callable(target.dsn):
        return target.dsn
    if callable(target):
        return target
    if isinstance(target, str):
        return lambda dbname: make_dsn(target, dbname=dbname)
    raise TypeError("expected a PostgresServer, a callable dbname -> DSN, or a DSN string")


def sql_path(layout, database):
    """Path of the schema file of a layout for database 'sark' or 'sark_audit'.

    SARK 2.x keeps the same tables in both databases, so its one file serves both."""
    if layout not in LAYOUTS:
        raise ValueError("unknown layout %r" % layout)
    if layout == "sark_v2":
        database = "sark"
    return os.path.join(SQL_DIR, "%s_%s.sql" % (layout, database))


@contextlib.contextmanager
def connect(target, dbname, autocommit=False):
    """A new connection to dbname from a target (see the module doc), committed and closed on exit."""
    made = dsn_factory(target)(dbname)
    conn = psycopg2.connect(made) if isinstance(made, str) else made
    try:
        conn.autocommit = autocommit
        yield conn
        if not autocommit:
            conn.commit()
    finally:
        conn.close()


def create_database(target, dbname, maintenance_db="postgres"):
    """CREATE DATABASE dbname unless it exists; True when it was created."""
    with connect(target, maintenance_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone():
            return False
        try:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg2.errors.DuplicateDatabase:  # pylint: disable=no-member
            return False
        return True


def apply_schema(target, dbname, layout, database):
    """Apply one layout's schema file (database 'sark' or 'sark_audit') to the database dbname."""
    with open(sql_path(layout, database), "r", encoding="utf-8") as handle:
        text = handle.read()
    with connect(target, dbname) as conn, conn.cursor() as cur:
        cur.execute(text)


def install(target, layout, sark_db="sark", audit_db="sark_audit"):
    """Create both databases (when missing) and apply the layout's schema; returns {'sark': name, 'sark_audit': name}."""
    names = {}
    for database, dbname in (("sark", sark_db), ("sark_audit", audit_db)):
        create_database(target, dbname)
        apply_schema(target, dbname, layout, database)
        names[database] = dbname
    return names


def _hour_floor(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def audit_times(now, hours, per_hour, gap_hour):
    """Event times over the `hours` whole hours before now's hour, except the hour `gap_hour` back."""
    base = _hour_floor(now)
    times = []
    for back in range(1, hours + 1):
        if back == gap_hour:
            continue
        start = base - datetime.timedelta(hours=back)
        step = 3600.0 / per_hour
        times += [start + datetime.timedelta(seconds=step * (k + 0.5)) for k in range(per_hour)]
    return times


def _runbook_seed(target, sark_db, audit_db, users, servers, times, rng):
    summary = {"users": [], "servers": []}
    with connect(target, sark_db) as conn, conn.cursor() as cur:
        password_hash = hash_password(DEMO_PASSWORD)
        for user in users:
            cur.execute("INSERT INTO users (id, username, email, password_hash, is_active, is_admin, roles,"
                        " rate_limit_per_minute) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (id) DO NOTHING",
                        (user["id"], user["username"], user["email"], password_hash, user["is_active"],
                         user["is_admin"], user["roles"], user.get("rate_limit_per_minute")))
            summary["users"].append(user["id"])
        for server in servers:
            owner = users[server["owner"] % len(users)]["id"] if users else None
            cur.execute("INSERT INTO servers (name, endpoint, status, owner_id, tags) VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                        (server["name"], server["endpoint"],
                         "active" if server["status"] == "registered" else server["status"], owner,
                         Json(server["tags"])))
            summary["servers"].append(cur.fetchone()[0])
    cycle = ["login", "tool_invoked", "server_registered", "logout", "policy_denied", "tool_invoked"]
    rows, evaluations = [], []
    for i, moment in enumerate(times):
        event = cycle[i % len(cycle)]
        user_id = users[i % len(users)]["id"] if users else None
        severity = "critical" if i % 17 == 0 else ("high" if event == "policy_denied" else "low")
        login = logout = None
        if event == "login":
            login = moment
        elif event == "logout":
            login, logout = moment - datetime.timedelta(minutes=rng.randint(5, 240)), moment
        server_id = summary["servers"][i % len(summary["servers"])] if summary["servers"] else None
        rows.append((moment, event, severity, user_id, server_id, Json({"seed": True, "n": i}), login, logout))
        evaluations.append((moment, ("server_access", "tool_invocation", "data_export")[i % 3], i % 4 != 0,
                            round(rng.uniform(0.5, 25.0), 3), user_id))
    with connect(target, audit_db) as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO audit_events (time, event_type, severity, user_id, server_id, details,"
                       " login_time, logout_time) VALUES %s", rows)
        execute_values(cur, "INSERT INTO policy_evaluations (time, policy_name, decision, duration_ms, user_id)"
                       " VALUES %s", evaluations)
    summary["audit_events"] = len(rows)
    summary["policy_evaluations"] = len(evaluations)
    return summary


def _v2_seed(target, sark_db, audit_db, users, servers, times, rng):
    summary = {"users": [], "servers": []}
    server_rows, tool_rows = [], []
    for server in servers:
        server_id = str(uuid.uuid4())
        owner = users[server["owner"] % len(users)]["id"] if users else None
        server_rows.append((server_id, server["name"], "%s MCP server" % server["name"], "HTTP", server["endpoint"],
                            server["sensitivity"].upper(), server["status"].upper(), owner, Json(server["tags"]),
                            Json({"seed": True})))
        for tool in ("read_file", "query"):
            tool_rows.append((str(uuid.uuid4()), server_id, tool, "demo tool %s" % tool, server["sensitivity"].upper()))
        summary["servers"].append(server_id)
    for dbname in (sark_db, audit_db):  # SARK 2.x keeps the same tables in both databases
        with connect(target, dbname) as conn, conn.cursor() as cur:
            for user in users:
                # as SARK's ORM writes a user: extra_metadata, created_at and updated_at have no database default
                cur.execute("INSERT INTO users (id, email, full_name, is_active, is_admin, role, extra_metadata,"
                            " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, '{}', now(), now())"
                            " ON CONFLICT (id) DO NOTHING",
                            (user["id"], user["email"], user["full_name"], user["is_active"], user["is_admin"],
                             user["role"]))
            if dbname == sark_db:
                execute_values(cur, "INSERT INTO mcp_servers (id, name, description, transport, endpoint,"
                               " sensitivity_level, status, owner_id, tags, extra_metadata) VALUES %s", server_rows)
                execute_values(cur, "INSERT INTO mcp_tools (id, server_id, name, description, sensitivity_level)"
                               " VALUES %s", tool_rows)
        summary["users"] = [user["id"] for user in users]
    cycle = ["USER_LOGIN", "TOOL_INVOKED", "AUTHORIZATION_ALLOWED", "USER_LOGOUT", "AUTHORIZATION_DENIED",
             "TOOL_INVOKED"]
    rows = []
    for i, moment in enumerate(times):
        event = "SECURITY_VIOLATION" if i % 23 == 0 else cycle[i % len(cycle)]
        severity = "CRITICAL" if event == "SECURITY_VIOLATION" else ("MEDIUM" if event.endswith("DENIED") else "LOW")
        user = users[i % len(users)] if users else {"id": None, "email": None}
        decision = {"AUTHORIZATION_ALLOWED": "allow", "AUTHORIZATION_DENIED": "deny"}.get(event)
        server_id = summary["servers"][i % len(summary["servers"])] if summary["servers"] else None
        rows.append((str(uuid.uuid4()), moment, event, severity, user["id"], user["email"], server_id,
                     "query" if event == "TOOL_INVOKED" else None, decision,
                     "10.0.0.%d" % rng.randint(1, 254), Json({"seed": True, "n": i})))
    with connect(target, audit_db) as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO audit_events (id, timestamp, event_type, severity, user_id, user_email,"
                       " server_id, tool_name, decision, ip_address, details) VALUES %s", rows)
    summary["audit_events"] = len(rows)
    summary["policy_evaluations"] = 0
    return summary


def seed(target, layout, users=None, servers=None, sark_db="sark", audit_db="sark_audit", hours=6,
         events_per_hour=6, gap_hour=3, now=None, random_seed=42):
    """Insert the demo data set of a layout; returns what it made.

    users/servers default to the demo lists (RUNBOOK_USERS or SARK_V2_USERS, DEMO_SERVERS; sark_v2 adds a
    second server named "analytics"). Audit events fall in each of the `hours` whole hours before the
    current one, `events_per_hour` each, except the hour `gap_hour` back, which stays empty; the result
    names that gap as `gap_start`/`gap_end`. The runbook layout also gets policy_evaluations rows.
    """
    if layout not in LAYOUTS:
        raise ValueError("unknown layout %r" % layout)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rng = random.Random(random_seed)
    times = audit_times(now, hours, events_per_hour, gap_hour)
    if layout == "runbook":
        summary = _runbook_seed(target, sark_db, audit_db, list(RUNBOOK_USERS if users is None else users),
                                list(DEMO_SERVERS if servers is None else servers), times, rng)
    else:
        summary = _v2_seed(target, sark_db, audit_db, list(SARK_V2_USERS if users is None else users),
                           list(DEMO_SERVERS + [V2_DUPLICATE] if servers is None else servers), times, rng)
    gap_start = _hour_floor(now) - datetime.timedelta(hours=gap_hour)
    summary.update({"layout": layout, "demo_password": DEMO_PASSWORD,
                    "gap_start": gap_start.isoformat() if 1 <= gap_hour <= hours else None,
                    "gap_end": (gap_start + datetime.timedelta(hours=1)).isoformat() if 1 <= gap_hour <= hours else None})
    return summary


def seed_servers(target, layout, count, prefix="bulk-server-", sark_db="sark", page_size=1000):
    """Insert `count` servers named prefix0..prefixN-1 in pages (for benchmarks); returns the count inserted."""
    inserted = 0
    with connect(target, sark_db) as conn, conn.cursor() as cur:
        for start in range(0, count, page_size):
            names = ["%s%d" % (prefix, n) for n in range(start, min(count, start + page_size))]
            if layout == "runbook":
                execute_values(cur, "INSERT INTO servers (name, endpoint, tags) VALUES %s ON CONFLICT (name) DO NOTHING",
                               [(name, "https://%s.example.com" % name, Json(["bulk"])) for name in names],
                               page_size=len(names))
            else:
                execute_values(cur, "INSERT INTO mcp_servers (id, name, transport, endpoint, status, tags) VALUES %s",
                               [(str(uuid.uuid4()), name, "HTTP", "https://%s.example.com" % name, "REGISTERED",
                                 Json(["bulk"])) for name in names], page_size=len(names))
            inserted += cur.rowcount
    return inserted
