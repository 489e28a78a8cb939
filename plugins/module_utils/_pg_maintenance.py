# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL table maintenance for sark_pg_maintenance (private), and the session frame it shares with sark_pg_backend.

Choosing relations (validated against the catalog before anything runs), building the exact statements
(identifiers quoted by psycopg2.sql), the advisory lock that keeps two runs on one database apart, and
the bounded, locked session both maintenance modules run in. Backend selection and signalling are in _pg_backend.py.
"""

import difflib
import re
import time

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import (
    connect,
    fetch_all,
    fetch_one,
    fetch_value,
    pgsql,
    psycopg2,
    psycopg_errors,
)

# pg_try_advisory_lock(bigint) key shared by every sark_pg_maintenance run: b"SARKMNTC" as a big-endian integer.
ADVISORY_LOCK_KEY = 5999166662007215171

# Schemas never chosen when no table is named: the catalogs and TimescaleDB's own bookkeeping.
# TimescaleDB chunks (_timescaledb_internal) are ordinary tables and stay selectable by need.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "_timescaledb_catalog", "_timescaledb_config",
                  "_timescaledb_cache", "timescaledb_information", "timescaledb_experimental")

UNSAFE_NAME = re.compile(r"[\"';\\\x00-\x1f\x7f]")
NAMEDATALEN = 63
MAX_TIMEOUT_MS = 2147483647  # lock_timeout/statement_timeout are int milliseconds

TABLE_ACTIONS = ("vacuum", "analyze", "reindex")
NEED_CRITERIA = ("min_dead_tuple_ratio", "min_dead_tuples", "last_run_older_than")
# options that only make sense for some actions: given elsewhere they would be silently ignored, so they are refused
OPTION_ACTIONS = {
    "tables": TABLE_ACTIONS, "indexes": ("reindex",), "freeze": ("vacuum",), "full": ("vacuum",),
    "confirm_full": ("vacuum",), "min_dead_tuple_ratio": ("vacuum",), "min_dead_tuples": ("vacuum",),
    "last_run_older_than": ("vacuum", "analyze"),
    "drop_invalid_indexes": ("reindex",),
}
TABLE_KINDS = {"r": "table", "m": "materialized view", "p": "partitioned table"}
INDEX_KINDS = {"i": "index", "I": "partitioned index"}
KIND_NAMES = {"v": "view", "S": "sequence", "f": "foreign table", "c": "composite type", "t": "TOAST table"}
KIND_NAMES.update(TABLE_KINDS)
KIND_NAMES.update(INDEX_KINDS)


# --- relation names ---------------------------------------------------------------------------------

def parse_relation_name(name, option="tables"):
    """Split ``table`` or ``schema.table`` after refusing anything that is not a plain name.

    Names are looked up literally in the catalog and quoted by psycopg2.sql, so quoting by the
    caller is never needed; quotes, semicolons and backslashes in a name are a sign of an
    injection attempt or a copy-paste mistake and are refused before we connect.
    """
    if not isinstance(name, str) or not name.strip():
        raise SarkValidationError("%s: empty name; give table or schema.table" % option)
    if UNSAFE_NAME.search(name):
        raise SarkValidationError(
            "%s: %r is not a plain relation name: quotes, semicolons, backslashes and control characters are "
            "refused. Give the bare name (audit_events or public.audit_events); sark.ops quotes it itself." % (option, name))
    parts = name.split(".")
    if len(parts) > 2 or any(not part for part in parts):
        raise SarkValidationError("%s: %r must be name or schema.name" % (option, name))
    for part in parts:
        if len(part.encode("utf-8")) > NAMEDATALEN:
            raise SarkValidationError("%s: %r is longer than PostgreSQL's %d-byte identifier limit" % (option, part, NAMEDATALEN))
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def qualified(schema, name):
    return "%s.%s" % (schema, name)


def user_relations(conn, kinds):
    """Every visible-by-name relation of the given relkinds outside the system schemas (for suggestions)."""
    rows = fetch_all(conn, """
        SELECT n.nspname AS schema, c.relname AS name
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = ANY(%s) AND n.nspname <> ALL(%s) AND n.nspname !~ '^pg_(toast|temp)'
         ORDER BY 1, 2 LIMIT 5000""", (list(kinds), list(SYSTEM_SCHEMAS)))
    return [qualified(r["schema"], r["name"]) for r in rows]


def resolve_relations(conn, names, wanted_kinds, option):
    """Look every name up in the catalog (search_path rules for bare names); refuse unknown or wrong-kind ones.

    Returns dicts with oid, schema, name, relkind, in the order given, without duplicates.
    """
    parsed = [(name, parse_relation_name(name, option)) for name in names]
    found, unknown, wrong = [], [], []
    seen = set()
    for given, (schema, relname) in parsed:
        row = fetch_one(conn, """
            SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = %s AND CASE WHEN %s::text IS NULL THEN pg_table_is_visible(c.oid) ELSE n.nspname = %s END
             LIMIT 1""", (relname, schema, schema))
        if row is None:
            unknown.append(given)
        elif row["relkind"] not in wanted_kinds:
            wrong.append("%s is a %s" % (given, KIND_NAMES.get(row["relkind"], "relation of kind %s" % row["relkind"])))
        elif row["oid"] not in seen:
            seen.add(row["oid"])
            found.append(row)
    if unknown:
        known = user_relations(conn, wanted_kinds)
        hints = []
        for given in unknown:
            close = difflib.get_close_matches(given, known, n=3) or difflib.get_close_matches(
                given, [k.split(".", 1)[1] for k in known], n=3)
            if close:
                hints.append("%s (did you mean %s?)" % (given, ", ".join(close)))
            else:
                hints.append(given)
        what = "index" if set(wanted_kinds) <= set(INDEX_KINDS) else "table"
        raise SarkValidationError("%s: unknown %s %s in database %s. Nothing was run; check the names (schema.name for "
                                  "relations outside the search_path)." % (option, what, "; ".join(hints), current_database(conn)),
                                  unknown=unknown)
    if wrong:
        raise SarkValidationError("%s: %s; expected a %s. Nothing was run." % (
            option, "; ".join(wrong), " or ".join(sorted(set(wanted_kinds.values())))))
    return found


def current_database(conn):
    return fetch_value(conn, "SELECT current_database()")


# --- selection by need --------------------------------------------------------------------------------

# Lock-free: statistics views and pg_class only. pg_relation_size() and friends take a lock on the relation,
# so one table locked by someone else would stall (and time out) a whole selection; est_bytes comes from
# relpages, which VACUUM and ANALYZE keep current.
TABLE_STATS_SQL = """
    SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
           coalesce(s.n_live_tup, 0) AS n_live_tup, coalesce(s.n_dead_tup, 0) AS n_dead_tup,
           CASE WHEN coalesce(s.n_live_tup, 0) + coalesce(s.n_dead_tup, 0) > 0
                THEN s.n_dead_tup::float8 / (s.n_live_tup + s.n_dead_tup) ELSE 0 END AS dead_ratio,
           greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
           greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze,
           extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum)) AS vacuum_age_s,
           extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze)) AS analyze_age_s,
           c.relpages::bigint * current_setting('block_size')::bigint AS est_bytes
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
"""


def table_stats(conn, oids):
    """Statistics of the given relations keyed by oid (dead tuples, last vacuum/analyze); takes no locks."""
    if not oids:
        return {}
    rows = fetch_all(conn, TABLE_STATS_SQL + " WHERE c.oid = ANY(%s::oid[])", (list(oids),))
    return {row["oid"]: row for row in rows}


def relation_sizes(conn, oid):
    """Exact sizes of one table; waits for a lock on it (bounded by lock_timeout)."""
    return fetch_one(conn, "SELECT pg_total_relation_size(%s::oid) AS total_bytes, pg_relation_size(%s::oid) AS table_bytes, "
                           "pg_indexes_size(%s::oid) AS index_bytes", (oid, oid, oid))


def index_stats(conn, oids):
    rows = fetch_all(conn, """
        SELECT c.oid::bigint AS oid, c.relpages::bigint * current_setting('block_size')::bigint AS index_bytes, i.indisvalid AS valid
          FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = ANY(%s::oid[])""", (list(oids),))
    return {row["oid"]: row for row in rows}


def need_reasons(row, action, criteria):
    """Why a table needs the action (empty list: it does not). A table is chosen when ANY criterion holds."""
    reasons = []
    ratio = criteria.get("min_dead_tuple_ratio")
    min_dead = criteria.get("min_dead_tuples")
    if ratio is not None or min_dead is not None:
        ratio_ok = ratio is None or row["dead_ratio"] > ratio
        count_ok = min_dead is None or row["n_dead_tup"] >= max(min_dead, 1)
        if ratio_ok and count_ok and row["n_dead_tup"] > 0:
            reasons.append("dead tuple ratio %.3f (%d dead)" % (row["dead_ratio"], row["n_dead_tup"]))
    older = criteria.get("last_run_older_than")
    if older is not None:
        age = row["analyze_age_s"] if action == "analyze" else row["vacuum_age_s"]
        what = "analyze" if action == "analyze" else "vacuum"
        if age is None:
            reasons.append("never analyzed" if what == "analyze" else "never vacuumed")
        elif float(age) > older:
            reasons.append("last %s %.0fs ago" % (what, float(age)))
    return reasons


def stream_rows(conn, query, params=None, itersize=500):
    """Yield dict rows through a server-side cursor: the client holds one batch at a time."""
    name = "sark_ops_%d" % int(time.monotonic() * 1000000)
    # WITH HOLD: named cursors need it in autocommit mode (the server keeps the result, we fetch in batches)
    with conn.cursor(name=name, cursor_factory=psycopg2.extras.RealDictCursor, withhold=True) as cur:
        cur.itersize = itersize
        cur.execute(query, params)
        for row in cur:
            yield dict(row)


def iter_candidate_tables(conn):
    """Every user table and materialized view (not partitioned parents: their leaves carry the data)."""
    return stream_rows(conn, TABLE_STATS_SQL + """
         WHERE c.relkind IN ('r', 'm') AND n.nspname <> ALL(%s) AND n.nspname !~ '^pg_(toast|temp)'
         ORDER BY 2, 3""", (list(SYSTEM_SCHEMAS),))


def database_index_bytes(conn):
    """Total size of the indexes outside the system schemas (before/after of REINDEX DATABASE)."""
    return fetch_value(conn, """
        SELECT coalesce(sum(c.relpages::bigint * current_setting('block_size')::bigint), 0)::bigint
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'i' AND n.nspname <> ALL(%s) AND n.nspname !~ '^pg_(toast|temp)'""", (list(SYSTEM_SCHEMAS),))


def hypertables(conn):
    """(schema, table) of TimescaleDB hypertables, or an empty set without the extension."""
    if not fetch_value(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
        return set()
    rows = fetch_all(conn, "SELECT schema_name::text AS schema, table_name::text AS name FROM _timescaledb_catalog.hypertable")
    return {(r["schema"], r["name"]) for r in rows}


# --- statements ---------------------------------------------------------------------------------------

def relation_identifier(schema, name):
    return pgsql.Identifier(schema, name)


def vacuum_statement(schema, name, full=False, freeze=False, analyze=False):
    options = [word for word, wanted in (("FULL", full), ("FREEZE", freeze), ("ANALYZE", analyze)) if wanted]
    head = pgsql.SQL("VACUUM ({}) ").format(pgsql.SQL(", ".join(options))) if options else pgsql.SQL("VACUUM ")
    return head + relation_identifier(schema, name)


def analyze_statement(schema, name):
    return pgsql.SQL("ANALYZE ") + relation_identifier(schema, name)


def reindex_statement(kind, concurrently, schema=None, name=None, database=None):
    """REINDEX TABLE|INDEX|DATABASE [CONCURRENTLY] target."""
    words = {"table": "TABLE", "index": "INDEX", "database": "DATABASE"}[kind]
    head = pgsql.SQL("REINDEX %s %s" % (words, "CONCURRENTLY " if concurrently else ""))
    if kind == "database":
        return head + pgsql.Identifier(database)
    return head + relation_identifier(schema, name)


def timeout_statements(lock_timeout, statement_timeout):
    """SET statements bounding every maintenance statement (seconds -> milliseconds; 0 means no limit)."""
    return [pgsql.SQL("SET lock_timeout = {}").format(pgsql.Literal("%dms" % round(lock_timeout * 1000))),
            pgsql.SQL("SET statement_timeout = {}").format(pgsql.Literal("%dms" % round(statement_timeout * 1000)))]


def invalid_indexes(conn, table_oid):
    """Indexes left invalid on a table (a failed REINDEX/CREATE INDEX CONCURRENTLY leaves *_ccnew ones)."""
    rows = fetch_all(conn, """
        SELECT n.nspname || '.' || c.relname AS name
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE i.indrelid = %s::oid AND NOT i.indisvalid""", (table_oid,))
    return [r["name"] for r in rows]


CC_LEFTOVER = re.compile(r"_cc(new|old)[0-9]*$")

INVALID_INDEXES_SQL = """
    SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, tn.nspname AS table_schema, t.relname AS table_name,
           t.relkind::text AS table_kind,
           (SELECT on_.nspname || '.' || o.relname FROM pg_class o JOIN pg_namespace on_ ON on_.oid = o.relnamespace
             WHERE o.reltoastrelid = t.oid LIMIT 1) AS toast_of,
           EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                    WHERE p.index_relid = c.oid OR p.relid = t.oid
                       OR p.relid = (SELECT o.oid FROM pg_class o WHERE o.reltoastrelid = t.oid LIMIT 1)) AS in_progress
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
     WHERE NOT i.indisvalid
     ORDER BY 2, 3
"""


def drop_index_statement(schema, name):
    return pgsql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(pgsql.Identifier(schema, name))


def find_invalid_indexes(conn):
    """Every invalid index of the database, TOAST indexes included (pg_index.indisvalid = false).

    leftover: ccnew/ccold for the transient indexes an interrupted REINDEX CONCURRENTLY leaves behind (dropping
    them loses nothing: a ccnew never became the index, a ccold was already replaced); None for an index whose own
    CREATE INDEX CONCURRENTLY failed (dropping it would lose its definition: rebuild it with REINDEX instead).
    in_progress: an index build is running on its table now (another session's CREATE/REINDEX CONCURRENTLY).
    """
    out = []
    for row in fetch_all(conn, INVALID_INDEXES_SQL):
        match = CC_LEFTOVER.search(row["name"])
        toast = row["table_kind"] == "t"
        entry = {"index": qualified(row["schema"], row["name"]), "schema": row["schema"], "name": row["name"],
                 "table": row["toast_of"] if toast and row["toast_of"] else qualified(row["table_schema"], row["table_name"]),
                 "toast": toast, "leftover": "cc" + match.group(1) if match else None, "in_progress": bool(row["in_progress"])}
        out.append(entry)
    return out


def describe_invalid(entries):
    return ", ".join("%s (%s%s)" % (e["index"], "TOAST index of " if e["toast"] else "on ", e["table"]) for e in entries)


# --- advisory lock --------------------------------------------------------------------------------------

def lock_holder(conn):
    """The backend holding the maintenance lock in this database, or None."""
    return fetch_one(conn, """
        SELECT a.pid, a.application_name, a.usename AS user, a.client_addr::text AS client_addr,
               a.backend_start, extract(epoch FROM now() - a.backend_start) AS held_for_s
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((l.classid::bigint << 32) | l.objid::bigint) = %s AND l.objsubid = 1
           AND l.pid <> pg_backend_pid()
         LIMIT 1""", (ADVISORY_LOCK_KEY,))


def acquire_lock(conn, wait_seconds):
    """Take the session-level maintenance lock, polling up to wait_seconds; raise naming the holder if busy."""
    deadline = time.monotonic() + max(wait_seconds, 0)
    while True:
        if fetch_value(conn, "SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))
    holder = lock_holder(conn) or {}
    raise SarkPreconditionError(
        "Another maintenance run holds the sark_pg_maintenance lock (pg_advisory_lock %d) on database %s: pid %s (%s, "
        "user %s). Runs on the same database must not overlap; wait for it to finish, raise lock_wait, or end that "
        "session if it is stuck." % (ADVISORY_LOCK_KEY, current_database(conn), holder.get("pid", "?"),
                                     holder.get("application_name") or "no application_name", holder.get("user", "?")),
        lock_holder=holder.get("pid"))


def release_lock(conn):
    fetch_value(conn, "SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


# --- input ---------------------------------------------------------------------------------------------

def given(params, name):
    value = params.get(name)
    return value not in (None, False, [], "")


def validate_params(params):
    """Every input check of a table maintenance run that needs no server. Nothing has connected yet when this raises."""
    action = params["state"]
    for name, actions in sorted(OPTION_ACTIONS.items()):
        if given(params, name) and action not in actions:
            raise SarkValidationError("%s applies to state %s only, not to state=%s" % (name, " or ".join(actions), action))
    if params["full"] and not params["confirm_full"]:
        raise SarkValidationError("full=true runs VACUUM FULL, which locks each table against every read and write until it "
                                  "is rewritten (and needs free disk for a full copy). Set confirm_full=true to accept that, or "
                                  "drop full for a plain VACUUM that blocks nothing. Nothing was run.")
    ratio = params["min_dead_tuple_ratio"]
    if ratio is not None and not 0 <= ratio < 1:
        raise SarkValidationError("min_dead_tuple_ratio must be 0 or more and below 1 (a share of live + dead tuples), got %s" % ratio)
    for name in ("min_dead_tuples", "last_run_older_than"):
        if params.get(name) is not None and params[name] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (name, params[name]))
    validate_session_params(params)
    if params["max_tables"] < 1:
        raise SarkValidationError("max_tables must be at least 1, got %s" % params["max_tables"])
    for name in params["tables"]:
        parse_relation_name(name, "tables")
    for name in params["indexes"]:
        parse_relation_name(name, "indexes")
    if not params.get("pg_database"):
        raise SarkValidationError("state=%s works on one database: set pg_database (for SARK, run it for sark and for sark_audit)" % action)


def session_argument_spec():
    """The options of a maintenance session (documented by the sark.ops.postgres.SESSION doc fragment)."""
    return dict(
        lock_timeout=dict(type="float", default=10),
        statement_timeout=dict(type="float", default=3600),
        lock_wait=dict(type="float", default=0),
    )


def validate_session_params(params):
    """The timeouts and the lock wait every maintenance session (tables or backends) takes."""
    for name in ("lock_timeout", "statement_timeout", "lock_wait"):
        if params.get(name) is not None and params[name] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (name, params[name]))
    for name in ("lock_timeout", "statement_timeout"):
        if params.get(name) is not None and params[name] * 1000 > MAX_TIMEOUT_MS:
            raise SarkValidationError("%s must be at most %d seconds (PostgreSQL's limit), got %s; 0 means no limit"
                                      % (name, MAX_TIMEOUT_MS // 1000, params[name]))


# --- errors and the session frame --------------------------------------------------------------------

SQLSTATE_HINTS = {
    "55P03": "lock_timeout reached: another session holds a conflicting lock; retry later or raise lock_timeout",
    "57014": "statement_timeout reached (or the statement was cancelled); raise statement_timeout or run it in a quieter hour",
    "42501": "permission denied; run as the owner of the relation or a superuser",
    "25001": "cannot run inside a transaction block",
}


def explain(exc):
    """One line for a PostgreSQL error, with what to do for the SQLSTATEs an operator meets."""
    code = getattr(exc, "pgcode", None)
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0]
    hint = SQLSTATE_HINTS.get(code)
    return "%s (%s)" % (text, hint) if hint else text


def connection_lost(conn):
    """psycopg2 marks a connection closed once the server went away (restart, crash, network)."""
    return bool(conn.closed)


def locked_session(module, dbname, module_name, work, partial_keys=()):
    """Connect, bound the session with the timeouts, take the maintenance lock (check mode only looks for a holder),
    run work(conn, result, setup) and release the lock. PostgreSQL errors become SarkOperationErrors that say what to fix.

    setup is the list of SET statements already run on the session (work records them with the statements it runs).
    """
    params = module.params
    conn = connect(params, dbname=dbname, module_name=module_name)
    locked = False
    result = {}
    try:
        result = {"database": current_database(conn), "own_pid": conn.get_backend_pid(),
                  "lock": {"key": ADVISORY_LOCK_KEY, "acquired": False}}
        setup = [stmt.as_string(conn) for stmt in timeout_statements(params["lock_timeout"], params["statement_timeout"])]
        with conn.cursor() as cur:
            for statement in setup:
                cur.execute(statement)  # session settings only: they bound our own catalog reads as well
        if module.check_mode:
            holder = lock_holder(conn)
            if holder:
                result["lock"]["holder"] = holder["pid"]
                module.warn("pid %s holds the maintenance lock on %s now: a real run would fail unless it ends first"
                            % (holder["pid"], result["database"]))
        else:
            acquire_lock(conn, params["lock_wait"])
            locked = result["lock"]["acquired"] = True
        return work(conn, result, setup)
    except psycopg_errors() as exc:
        partial = {k: result[k] for k in partial_keys if k in result}
        if connection_lost(conn):
            raise SarkOperationError("The connection to PostgreSQL (database %s) was lost (server restart or crash?): %s. Rerun "
                                     "when the server is back; the results show what was done." % (
                                         dbname or "postgres", explain(exc)), connection_lost=True, **partial) from exc
        if getattr(exc, "pgcode", None) == "42501":
            raise SarkOperationError("PostgreSQL refused to read the catalog or statistics on %s: %s. Check the privileges of %s "
                                     "(pg_read_all_stats, pg_signal_backend)." % (
                                         dbname or "postgres", explain(exc), params["pg_user"]), **partial) from exc
        raise SarkOperationError("PostgreSQL error on %s while reading the catalog or statistics: %s. Check the timeouts "
                                 "(lock_timeout, statement_timeout) and the privileges of %s." % (
                                     dbname or "postgres", explain(exc), params["pg_user"]), **partial) from exc
    finally:
        if locked and not connection_lost(conn):
            try:
                release_lock(conn)
            except psycopg_errors():  # closing the session releases it anyway
                pass
        conn.close()
