# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL statistics readers for sark_pg_info (private). One function per subset."""

import datetime
import decimal
import re

from ansible_collections.sark.ops.plugins.module_utils._module import MASK
from ansible_collections.sark.ops.plugins.module_utils._postgres import fetch_all, fetch_one, fetch_value, pgsql, psycopg_errors

BLOAT_WARNING_RATIO = 0.5
PASSWORD_LITERAL = re.compile(r"(password\s+)('(?:[^']|'')*'|\S+)", re.IGNORECASE)


def jsonable(value):
    """Make psycopg2 values JSON-friendly: intervals in seconds, times in ISO 8601, decimals as floats."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds(), 3)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, memoryview):
        return value.tobytes().hex()
    return value


def mask_query(text, max_length):
    if text is None:
        return None
    text = PASSWORD_LITERAL.sub(r"\1'%s'" % MASK, text)
    if max_length and len(text) > max_length:
        return text[:max_length] + "..."
    return text if max_length else ""


def gather_version(conn, params):
    num = int(fetch_value(conn, "SHOW server_version_num"))
    return {"full": fetch_value(conn, "SELECT version()"), "server_version_num": num,
            "major": num // 10000, "minor": num % 10000,
            "in_recovery": bool(fetch_value(conn, "SELECT pg_is_in_recovery()"))}


def gather_databases(conn, params):
    rows = fetch_all(conn, """
        SELECT datname AS name, pg_database_size(datname) AS size_bytes,
               pg_size_pretty(pg_database_size(datname)) AS size_pretty
          FROM pg_database
         WHERE NOT datistemplate AND datallowconn AND has_database_privilege(datname, 'CONNECT')
         ORDER BY pg_database_size(datname) DESC""")
    return jsonable(rows)


def gather_connections(conn, params):
    by_state = fetch_all(conn, """
        SELECT coalesce(state, 'unknown') AS state, count(*) AS n
          FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1""")
    by_db = fetch_all(conn, """
        SELECT coalesce(datname, '') AS datname, count(*) AS n
          FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1""")
    max_connections = int(fetch_value(conn, "SHOW max_connections"))
    reserved = int(fetch_value(conn, "SHOW superuser_reserved_connections"))
    total = sum(row["n"] for row in by_state)
    oldest_idle_tx = fetch_value(conn, """
        SELECT max(now() - state_change) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'""")
    return jsonable({
        "total": total,
        "by_state": {row["state"]: row["n"] for row in by_state},
        "by_database": {row["datname"]: row["n"] for row in by_db},
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
        "available": max(max_connections - reserved - total, 0),
        "usage_ratio": round(float(total) / max_connections, 4) if max_connections else None,
        "usage_percent": round(100.0 * total / max_connections, 2) if max_connections else None,
        "oldest_idle_in_transaction_s": oldest_idle_tx,
    })


def gather_long_running(conn, params):
    rows = fetch_all(conn, """
        SELECT pid, usename AS user, datname AS database, application_name, client_addr::text AS client_addr,
               state, wait_event_type, wait_event, backend_type,
               extract(epoch FROM now() - query_start) AS duration_s, query_start, query
          FROM pg_stat_activity
         WHERE state IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid()
           AND query_start IS NOT NULL AND now() - query_start > make_interval(secs => %s)
         ORDER BY query_start ASC
         LIMIT 100""", (params["long_running_threshold"],))
    for row in rows:
        row["query"] = mask_query(row["query"], params["query_max_length"])
        row["duration_s"] = round(float(row["duration_s"]), 3)
    return jsonable(rows)


def gather_replication(conn, params):
    if fetch_value(conn, "SELECT pg_is_in_recovery()"):
        receiver = fetch_one(conn, """
            SELECT status, sender_host, sender_port, slot_name, last_msg_receipt_time, latest_end_lsn::text AS latest_end_lsn
              FROM pg_stat_wal_receiver""")
        lag = fetch_one(conn, """
            SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn,
                   pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS replay_lag_bytes,
                   CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS replay_lag_s,
                   pg_last_xact_replay_timestamp() AS last_replay""")
        return jsonable({"role": "standby", "receiver": receiver, **(lag or {})})
    replicas = fetch_all(conn, """
        SELECT client_addr::text AS client_addr, application_name, state, sync_state,
               write_lag, flush_lag, replay_lag,
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes
          FROM pg_stat_replication ORDER BY application_name""")
    for replica in replicas:
        replica["replay_lag_s"] = replica.pop("replay_lag")
    slots = fetch_all(conn, """
        SELECT slot_name, slot_type, active,
               pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained_bytes
          FROM pg_replication_slots""")
    return jsonable({"role": "primary", "replicas": replicas, "slots": slots})


# Sizes below come from pg_class.relpages (kept current by VACUUM and ANALYZE), not pg_relation_size(): the latter
# locks each relation, and an info module must not queue behind a VACUUM FULL or an ALTER TABLE.
USER_SCHEMAS_FILTER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"

BLOAT_SQL = """
    WITH cols AS (
        SELECT schemaname, tablename, sum((1 - coalesce(null_frac, 0)) * coalesce(avg_width, 0)) AS data_width,
               max(coalesce(null_frac, 0)) > 0 AS has_nulls, count(*) AS ncols
          FROM pg_stats GROUP BY 1, 2
    ), tbl AS (
        SELECT c.oid, n.nspname AS schema, c.relname AS name, c.reltuples, c.relpages::bigint AS relpages,
               current_setting('block_size')::int AS bs,
               coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int FROM unnest(c.reloptions) o
                          WHERE o ~ '^fillfactor=' LIMIT 1), 100) AS fillfactor,
               cols.data_width, cols.has_nulls, cols.ncols
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN cols ON cols.schemaname = n.nspname AND cols.tablename = c.relname
         WHERE c.relkind IN ('r', 'm') AND """ + USER_SCHEMAS_FILTER + """
    ), est AS (
        SELECT *, relpages * bs AS table_bytes,
               CASE WHEN data_width IS NULL OR reltuples < 0 THEN NULL
                    ELSE ceil(reltuples * (24 + 4 + CASE WHEN has_nulls THEN ceil(ncols / 8.0) ELSE 0 END + data_width)
                              / ((bs - 24) * fillfactor / 100.0))::bigint * bs END AS expected_bytes
          FROM tbl
    )
    SELECT e.schema, e.name AS table, e.table_bytes, e.expected_bytes,
           CASE WHEN e.expected_bytes IS NULL THEN NULL ELSE greatest(e.table_bytes - e.expected_bytes, 0) END AS bloat_bytes,
           CASE WHEN e.expected_bytes IS NULL OR e.table_bytes = 0 THEN NULL
                ELSE round(greatest(e.table_bytes - e.expected_bytes, 0)::numeric / e.table_bytes, 4) END AS bloat_ratio,
           greatest(e.reltuples, 0)::bigint AS est_rows, s.n_live_tup, s.n_dead_tup,
           CASE WHEN coalesce(s.n_live_tup, 0) + coalesce(s.n_dead_tup, 0) > 0
                THEN round(s.n_dead_tup::numeric / (s.n_live_tup + s.n_dead_tup), 4) END AS dead_ratio,
           greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum, e.fillfactor
      FROM est e LEFT JOIN pg_stat_all_tables s ON s.relid = e.oid
     WHERE e.table_bytes >= %s
     ORDER BY bloat_bytes DESC NULLS LAST, e.table_bytes DESC
     LIMIT %s"""


def gather_bloat(conn, params):
    """Estimated table bloat: pages held beyond what the live rows need (from pg_stats widths), plus dead tuples."""
    rows = jsonable(fetch_all(conn, BLOAT_SQL, (params.get("bloat_min_bytes", 0), params.get("top_n", 10))))
    for row in rows:
        if row["expected_bytes"] is None:
            row["note"] = "no planner statistics yet: run ANALYZE for an estimate"
    return rows


def gather_unused_indexes(conn, params):
    """Indexes never scanned since the statistics were reset, leaving out unique, primary key and constraint indexes."""
    since = fetch_value(conn, "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")
    rows = fetch_all(conn, """
        SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, s.idx_scan,
               c.relpages::bigint * current_setting('block_size')::bigint AS size_bytes, pg_get_indexdef(s.indexrelid) AS definition
          FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid JOIN pg_class c ON c.oid = s.indexrelid
         WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid)
         ORDER BY c.relpages DESC, 1, 2, 3
         LIMIT %s""", (params.get("top_n", 10),))
    return jsonable({"stats_since": since, "indexes": rows})


def gather_seq_scans(conn, params):
    """Tables read mostly by sequential scans: candidates for a missing index (runbook: seq_scan > 1000, idx_scan = 0)."""
    rows = fetch_all(conn, """
        SELECT s.schemaname AS schema, s.relname AS table, s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0) AS idx_scan,
               s.n_live_tup, s.seq_tup_read / nullif(s.seq_scan, 0) AS avg_rows_per_seq_scan,
               c.relpages::bigint * current_setting('block_size')::bigint AS table_bytes,
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = s.relid) AS has_indexes
          FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
         WHERE s.seq_scan >= %s AND coalesce(s.idx_scan, 0) < s.seq_scan
         ORDER BY s.seq_tup_read DESC, s.seq_scan DESC
         LIMIT %s""", (params.get("seq_scan_threshold", 1000), params.get("top_n", 10)))
    return jsonable(rows)


TOP_QUERY_ORDER = {"mean_exec_time": ("mean_exec_time", "mean_time"), "total_exec_time": ("total_exec_time", "total_time"),
                   "calls": ("calls", "calls")}


def gather_top_queries(conn, params):
    """The slowest statements from pg_stat_statements (runbook: ORDER BY mean_exec_time DESC LIMIT 10), when installed."""
    ext = fetch_one(conn, """
        SELECT e.extversion AS version, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements'""")
    database = fetch_value(conn, "SELECT current_database()")
    if not ext:
        return {"available": False, "reason": "the pg_stat_statements extension is not created in database %s: add "
                "pg_stat_statements to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements" % database}
    new_names = int(fetch_value(conn, "SHOW server_version_num")) >= 130000
    pick = 0 if new_names else 1
    order = TOP_QUERY_ORDER[params.get("top_queries_order") or "mean_exec_time"][pick]
    query = pgsql.SQL("""
        SELECT s.queryid::text AS queryid, r.rolname AS user, d.datname AS database, s.calls,
               s.{total}::float8 AS total_exec_time_ms, s.{mean}::float8 AS mean_exec_time_ms, s.rows,
               round(100.0 * s.shared_blks_hit / nullif(s.shared_blks_hit + s.shared_blks_read, 0), 2) AS cache_hit_percent,
               s.query
          FROM {schema}.pg_stat_statements s
          LEFT JOIN pg_roles r ON r.oid = s.userid LEFT JOIN pg_database d ON d.oid = s.dbid
         ORDER BY s.{order} DESC NULLS LAST LIMIT %s""").format(
        total=pgsql.Identifier(TOP_QUERY_ORDER["total_exec_time"][pick]), mean=pgsql.Identifier(TOP_QUERY_ORDER["mean_exec_time"][pick]),
        schema=pgsql.Identifier(ext["schema"]), order=pgsql.Identifier(order))
    try:
        rows = fetch_all(conn, query, (params.get("top_n", 10),))
    except psycopg_errors() as exc:
        # created but not preloaded: "pg_stat_statements must be loaded via shared_preload_libraries"
        return {"available": False, "extension_version": ext["version"], "reason": str(exc).strip()}
    for row in rows:
        row["query"] = mask_query(row["query"], params.get("query_max_length", 200))
    return jsonable({"available": True, "extension_version": ext["version"], "order_by": order, "queries": rows})


def lock_chains(waiting, blockers):
    """Root blockers (holding locks, waiting on nobody) and the chains root -> ... -> waiting backend.

    A backend blocked by several follows the one that is itself waiting (the real queue), so C waiting behind B
    waiting behind A gives the one chain [A, B, C]. Only chains that end in a backend nobody waits on are listed.
    """
    blocked_by = {w["pid"]: list(w["blocked_by"]) for w in waiting}

    def ancestors(pid):
        seen, todo = set(), list(blocked_by.get(pid, []))
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo.extend(blocked_by.get(other, []))
        return seen

    chains = []
    waited_on = {p for pids in blocked_by.values() for p in pids}
    for leaf in sorted(set(blocked_by) - waited_on):
        chain, pid = [leaf], leaf
        while blocked_by.get(pid):
            nxt = next((p for p in blocked_by[pid] if p in blocked_by), blocked_by[pid][0])
            if nxt in chain:  # a deadlock in the making: PostgreSQL's deadlock detector will break it
                break
            chain.append(nxt)
            pid = nxt
        chains.append(list(reversed(chain)))
    roots = []
    for pid in sorted(waited_on - set(blocked_by)):
        info = dict(blockers.get(pid) or {"pid": pid})
        info["blocks"] = sorted(w for w in blocked_by if pid in ancestors(w))
        roots.append(info)
    return roots, chains


def gather_blocking_locks(conn, params):
    """Backends waiting on a lock, who blocks them (pg_blocking_pids) and the chains down from each root blocker."""
    waiting = fetch_all(conn, """
        SELECT pid, usename AS user, datname AS database, application_name, state, wait_event_type, wait_event,
               pg_blocking_pids(pid) AS blocked_by, extract(epoch FROM now() - coalesce(state_change, query_start)) AS waiting_s, query
          FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0
         ORDER BY waiting_s DESC NULLS LAST
         LIMIT 200""")
    blocker_pids = sorted({p for w in waiting for p in w["blocked_by"]})
    blockers = {}
    if blocker_pids:
        for row in fetch_all(conn, """
                SELECT pid, usename AS user, datname AS database, application_name, state,
                       extract(epoch FROM now() - xact_start) AS xact_duration_s, query
                  FROM pg_stat_activity WHERE pid = ANY(%s)""", (blocker_pids,)):
            row["query"] = mask_query(row["query"], params.get("query_max_length", 200))
            blockers[row["pid"]] = row
    for row in waiting:
        row["query"] = mask_query(row["query"], params.get("query_max_length", 200))
        row["waiting_s"] = round(float(row["waiting_s"]), 3) if row["waiting_s"] is not None else None
    roots, chains = lock_chains(waiting, blockers)
    return jsonable({"waiting": waiting, "roots": roots, "chains": chains})


GATHERERS = {
    "version": gather_version,
    "databases": gather_databases,
    "connections": gather_connections,
    "long_running": gather_long_running,
    "replication": gather_replication,
    "bloat": gather_bloat,
    "unused_indexes": gather_unused_indexes,
    "seq_scans": gather_seq_scans,
    "top_queries": gather_top_queries,
    "blocking_locks": gather_blocking_locks,
}


def assess(facts, params):
    critical, warnings = [], []
    connections = facts.get("connections") or {}
    ratio = connections.get("usage_ratio")
    if ratio is not None:
        if ratio >= 0.95:
            critical.append("%d of %d connections in use" % (connections["total"], connections["max_connections"]))
        elif ratio >= params["connection_warning_ratio"]:
            warnings.append("%d of %d connections in use (warning at %.0f%%)"
                            % (connections["total"], connections["max_connections"], params["connection_warning_ratio"] * 100))
    long_running = facts.get("long_running")
    if long_running:
        warnings.append("%d queries running longer than %ss (longest %.0fs, pid %s)"
                        % (len(long_running), params["long_running_threshold"], long_running[0]["duration_s"], long_running[0]["pid"]))
    replication = facts.get("replication") or {}
    if replication.get("role") == "standby":
        receiver = replication.get("receiver") or {}
        if receiver.get("status") != "streaming":
            critical.append("standby WAL receiver is %s" % (receiver.get("status") or "not running"))
        lag = replication.get("replay_lag_s")
        if lag is not None and lag > params["replication_lag_warning"]:
            warnings.append("standby replay lag %.1fs is above %ss" % (lag, params["replication_lag_warning"]))
    for replica in replication.get("replicas") or []:
        if replica.get("state") != "streaming":
            critical.append("replica %s is %s" % (replica.get("application_name") or replica.get("client_addr"), replica.get("state")))
        elif replica.get("replay_lag_s") is not None and replica["replay_lag_s"] > params["replication_lag_warning"]:
            warnings.append("replica %s replay lag %.1fs" % (replica.get("application_name"), replica["replay_lag_s"]))
    locks = facts.get("blocking_locks") or {}
    stuck = [w for w in locks.get("waiting") or [] if (w.get("waiting_s") or 0) >= params.get("long_running_threshold", 30)]
    if stuck:
        root = (locks.get("roots") or [{}])[0]
        warnings.append("%d backends waiting on locks for %ss or more (longest %.0fs); root blocker pid %s (%s)" % (
            len(stuck), params.get("long_running_threshold", 30), stuck[0]["waiting_s"], root.get("pid"), root.get("state")))
    for table in facts.get("bloat") or []:
        if table.get("bloat_ratio") is not None and table["bloat_ratio"] >= BLOAT_WARNING_RATIO:
            warnings.append("table %s.%s is an estimated %.0f%% bloat (%d of %d bytes)" % (
                table["schema"], table["table"], table["bloat_ratio"] * 100, table["bloat_bytes"], table["table_bytes"]))
    verdict = "critical" if critical else ("warning" if warnings else "ok")
    return {"verdict": verdict, "findings": critical + warnings}
