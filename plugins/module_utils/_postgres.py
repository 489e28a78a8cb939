# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL connection for sark.ops modules (private): one argument spec, one connect().

Matches the doc fragment sark.ops.postgres. Options fall back to the libpq PG* environment
variables so an AWX credential type (or a plain shell) can inject them.
"""

import re
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkDependencyError,
    SarkValidationError,
)

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extras
    from psycopg2 import sql as pgsql
except ImportError:
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
    psycopg2 = None
    pgsql = None

APPLICATION_NAME = "sark.ops"
SSLMODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
# Keys connect_params may not set: they have their own options (or would break our guarantees).
RESERVED_CONNECT_PARAMS = ("host", "hostaddr", "port", "user", "password", "dbname", "database")


def postgres_argument_spec():
    return dict(
        pg_host=dict(type="str", default="localhost", fallback=(env_fallback, ["PGHOST"])),
        pg_port=dict(type="int", default=5432, fallback=(env_fallback, ["PGPORT"])),
        pg_unix_socket=dict(type="path", fallback=(env_fallback, ["SARK_PG_SOCKET_DIR"])),
        pg_user=dict(type="str", default="postgres", fallback=(env_fallback, ["PGUSER"])),
        pg_password=dict(type="str", no_log=True, fallback=(env_fallback, ["PGPASSWORD"])),
        pg_database=dict(type="str", fallback=(env_fallback, ["PGDATABASE"])),
        pg_sslmode=dict(type="str", default="prefer", choices=SSLMODES, fallback=(env_fallback, ["PGSSLMODE"])),
        pg_sslrootcert=dict(type="path", fallback=(env_fallback, ["PGSSLROOTCERT"])),
        pg_sslcert=dict(type="path", fallback=(env_fallback, ["PGSSLCERT"])),
        pg_sslkey=dict(type="path", no_log=False, fallback=(env_fallback, ["PGSSLKEY"])),
        pg_connect_timeout=dict(type="int", default=10, fallback=(env_fallback, ["PGCONNECT_TIMEOUT"])),
        pg_connect_params=dict(type="dict", default={}),
    )


def describe_target(params, dbname=None):
    host = params.get("pg_unix_socket") or params.get("pg_host")
    return "postgresql://%s@%s:%s/%s" % (params.get("pg_user"), host, params.get("pg_port"), dbname or params.get("pg_database") or "")


def require_psycopg2():
    if PSYCOPG2_IMPORT_ERROR is not None:
        raise SarkDependencyError("psycopg2", PSYCOPG2_IMPORT_ERROR)


def connection_kwargs(params, dbname=None, module_name=None):
    port = params.get("pg_port")
    if port is not None and not 0 < port < 65536:
        raise SarkValidationError("pg_port must be between 1 and 65535, got %s" % port)
    if params.get("pg_connect_timeout") is not None and params["pg_connect_timeout"] < 1:
        raise SarkValidationError("pg_connect_timeout must be at least 1 second")
    extra = dict(params.get("pg_connect_params") or {})
    reserved = sorted(k for k in extra if k in RESERVED_CONNECT_PARAMS)
    if reserved:
        raise SarkValidationError("pg_connect_params may not set %s: use the pg_* options for those" % ", ".join(reserved))
    kwargs = dict(
        host=params.get("pg_unix_socket") or params.get("pg_host"),
        port=port,
        user=params.get("pg_user"),
        dbname=dbname or params.get("pg_database") or "postgres",
        sslmode=params.get("pg_sslmode") or "prefer",
        connect_timeout=params.get("pg_connect_timeout"),
        application_name="%s/%s" % (APPLICATION_NAME, module_name) if module_name else APPLICATION_NAME,
    )
    if params.get("pg_password"):
        kwargs["password"] = params["pg_password"]
    for option, key in (("pg_sslrootcert", "sslrootcert"), ("pg_sslcert", "sslcert"), ("pg_sslkey", "sslkey")):
        if params.get(option):
            kwargs[key] = params[option]
    kwargs.update(extra)
    return kwargs


def classify_error(exc, params, dbname=None):
    target = describe_target(params, dbname)
    text = (str(exc) or type(exc).__name__).strip().rstrip(".")
    lowered = text.lower()
    # libpq repeats the message per address tried; keep it short
    text = re.sub(r"\s+", " ", text)
    if "password authentication failed" in lowered or "no password supplied" in lowered \
            or "authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        return SarkConnectionError("PostgreSQL at %s rejected the login: %s. Check pg_user/pg_password (or PGUSER/"
                                   "PGPASSWORD) and pg_hba.conf." % (target, text), kind="auth", target=target)
    if "does not exist" in lowered and "database" in lowered:
        return SarkConnectionError("PostgreSQL at %s: %s. Check pg_database (or PGDATABASE)." % (target, text),
                                   kind="config", target=target)
    if "ssl" in lowered or "certificate" in lowered:
        return SarkConnectionError("TLS with PostgreSQL at %s failed: %s. Check pg_sslmode and the pg_ssl* files."
                                   % (target, text), kind="tls", target=target)
    if "timeout" in lowered or "timed out" in lowered:
        return SarkConnectionError("Timed out connecting to PostgreSQL at %s: %s. Is the host reachable? Raise "
                                   "pg_connect_timeout if it is just slow." % (target, text), kind="timeout", target=target)
    if "too many connections" in lowered or "remaining connection slots" in lowered:
        return SarkConnectionError("PostgreSQL at %s has no free connection slots: %s. Free connections (see "
                                   "sark_pg_maintenance) or use a superuser-reserved slot." % (target, text),
                                   kind="capacity", target=target)
    return SarkConnectionError("Cannot connect to PostgreSQL at %s: %s. Is the server running there? Check pg_host/"
                               "pg_port (or PGHOST/PGPORT)." % (target, text), kind="unreachable", target=target)


def connect(params, dbname=None, module_name=None, autocommit=True):
    """Open a psycopg2 connection (autocommit by default: maintenance commands need it)."""
    require_psycopg2()
    kwargs = connection_kwargs(params, dbname, module_name)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        raise classify_error(exc, params, kwargs["dbname"]) from exc
    conn.autocommit = autocommit
    return conn


def psycopg_errors():
    """The psycopg2 base error class, for except clauses in code that runs only after connect()."""
    return psycopg2.Error


def fetch_all(conn, query, params=None):
    """Run a read query and return a list of dicts."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(query, params)
        return [dict(row) for row in cur.fetchall()]


def fetch_one(conn, query, params=None):
    rows = fetch_all(conn, query, params)
    return rows[0] if rows else None


def fetch_value(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        row = cur.fetchone()
        return row[0] if row else None


def identifier(name):
    """A safely quoted, possibly schema-qualified identifier (``schema.table`` or ``table``)."""
    require_psycopg2()
    if not isinstance(name, str) or not name or "\x00" in name:
        raise SarkValidationError("Invalid SQL identifier %r" % (name,))
    parts = name.split(".")
    if len(parts) > 2 or any(not part for part in parts):
        raise SarkValidationError("Invalid SQL identifier %r: use table or schema.table" % name)
    return pgsql.Identifier(*parts)
