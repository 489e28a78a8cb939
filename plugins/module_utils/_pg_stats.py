# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL statistics readers for sark_pg_info (private). One function per subset."""

import datetime
import decimal
import re

from ansible_collections.sark.ops.plugins.module_utils._postgres import fetch_all, fetch_one, fetch_value

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
    text = PASSWORD_LITERAL.sub(r"\1'********'", text)
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


GATHERERS = {
    "version": gather_version,
    "databases": gather_databases,
    "connections": gather_connections,
    "long_running": gather_long_running,
    "replication": gather_replication,
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
    verdict = "critical" if critical else ("warning" if warnings else "ok")
    return {"verdict": verdict, "findings": critical + warnings}
