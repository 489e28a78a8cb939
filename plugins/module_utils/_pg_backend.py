# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL backends for sark_pg_backend (private): choosing them and signalling them.

Never our own connection, never a non-client backend (WAL senders, autovacuum, workers), never another
sark.ops connection; a signal goes to a pid only while it is still the same backend (backend_start), so
a reused pid is never hit.
"""

import fnmatch
import time

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import explain, given, validate_session_params
from ansible_collections.sark.ops.plugins.module_utils._pg_stats import jsonable, mask_query
from ansible_collections.sark.ops.plugins.module_utils._postgres import fetch_all, fetch_value, psycopg_errors

BACKEND_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)",
                  "fastpath function call", "disabled")
OWN_APPLICATION_PREFIX = "sark.ops/"
BACKEND_FILTERS = ("pids", "databases", "users", "application_names", "states", "min_duration")
SIGNALS = {"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}
OUTCOMES = {"pg_cancel_backend": "cancelled", "pg_terminate_backend": "terminated"}

# --- backends -------------------------------------------------------------------------------------------

ACTIVITY_SQL = """
    SELECT pid, backend_start, usename AS user, datname AS database, coalesce(application_name, '') AS application_name,
           client_addr::text AS client_addr, state, backend_type, wait_event_type, wait_event,
           extract(epoch FROM now() - state_change) AS state_duration_s,
           extract(epoch FROM now() - xact_start) AS xact_duration_s,
           query, pid = pg_backend_pid() AS is_self
      FROM pg_stat_activity
"""


def list_activity(conn):
    return fetch_all(conn, ACTIVITY_SQL + " ORDER BY backend_start")


def protected_reason(row):
    """Why a backend must never be signalled by sark.ops, or None."""
    if row["is_self"]:
        return "own_connection"
    if row["backend_type"] != "client backend":
        return "not_client_backend"
    if (row["application_name"] or "").startswith(OWN_APPLICATION_PREFIX):
        return "sark_ops_connection"
    return None


def _matches_patterns(value, patterns):
    """Shell wildcards include, a leading '!' excludes; None/empty patterns match everything."""
    if not patterns:
        return True
    includes = [p for p in patterns if not p.startswith("!")]
    excludes = [p[1:] for p in patterns if p.startswith("!")]
    value = value or ""
    if includes and not any(fnmatch.fnmatchcase(value, p) for p in includes):
        return False
    return not any(fnmatch.fnmatchcase(value, p) for p in excludes)


def backend_matches(row, flt):
    """Does one pg_stat_activity row satisfy every filter given (pids, databases, users, application_names,
    states, min_duration)?"""
    if flt.get("pids") and row["pid"] not in flt["pids"]:
        return False
    if flt.get("states") and row["state"] not in flt["states"]:
        return False
    for key, field in (("databases", "database"), ("users", "user"), ("application_names", "application_name")):
        if flt.get(key) and not _matches_patterns(row[field], flt[key]):
            return False
    if flt.get("min_duration") is not None:
        duration = row["state_duration_s"]
        if duration is None or float(duration) < flt["min_duration"]:
            return False
    return True


def select_backends(rows, flt):
    """Split pg_stat_activity rows into targets and a count of protected backends that matched (by reason)."""
    targets, protected = [], {}
    for row in rows:
        if not backend_matches(row, flt):
            continue
        reason = protected_reason(row)
        if reason:
            protected[reason] = protected.get(reason, 0) + 1
        else:
            targets.append(row)
    return targets, protected


def signal_statement(conn, function, pid, backend_start):
    """The exact statement that signals one backend, only if it is still the same backend (pid reuse)."""
    with conn.cursor() as cur:
        text = cur.mogrify("SELECT %s(pid) FROM pg_stat_activity WHERE pid = %%s AND backend_start = %%s" % function,
                           (pid, backend_start))
    return text.decode("utf-8") if isinstance(text, bytes) else text


def still_present(conn, targets):
    """pid -> current row for targets that still exist as the same backend."""
    if not targets:
        return {}
    rows = fetch_all(conn, ACTIVITY_SQL + " WHERE pid = ANY(%s)", ([t["pid"] for t in targets],))
    starts = {t["pid"]: t["backend_start"] for t in targets}
    return {r["pid"]: r for r in rows if starts.get(r["pid"]) == r["backend_start"]}


def summarize(row, params):
    return jsonable({"pid": row["pid"], "user": row["user"], "database": row["database"],
                     "application_name": row["application_name"], "client_addr": row["client_addr"],
                     "state": row["state"], "backend_type": row["backend_type"],
                     "state_duration_s": round(float(row["state_duration_s"]), 3) if row["state_duration_s"] is not None else None,
                     "backend_start": row["backend_start"], "query": mask_query(row["query"], params["query_max_length"])})


def signal(evidence, conn, statement, pid, function):
    """Run one planned signal statement, recorded when it was sent: (sent, error); sent is falsy when the backend is gone."""
    try:
        sent = fetch_value(conn, statement)
    except psycopg_errors() as exc:
        return False, explain(exc)
    if sent:
        evidence.executed(function, pid=pid, sql=statement, outcome=OUTCOMES[function])
        evidence.count("backends_" + OUTCOMES[function])
    return sent, None


def wait_until(conn, targets, flt, seconds, need_match):
    """Poll until none of targets is still present (and, if need_match, still matching) or seconds pass."""
    deadline = time.monotonic() + seconds
    while True:
        present = still_present(conn, targets)
        remaining = {pid: row for pid, row in present.items() if not need_match or backend_matches(row, flt)}
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))


PID_REASONS = {
    "own_connection": "is this module's own connection",
    "not_client_backend": "is not a client backend (a WAL sender, autovacuum or a worker: never signalled)",
    "sark_ops_connection": "is another sark.ops connection (never signalled)",
}


def unmatched_pids(pids, activity, targets):
    """pid (as text) -> why a pid given in pids is not among the targets: nothing given silently matches nothing."""
    by_pid = {row["pid"]: row for row in activity}
    chosen = {row["pid"] for row in targets}
    out = {}
    for pid in pids:
        if pid in chosen:
            continue
        row = by_pid.get(pid)
        if row is None:
            out[str(pid)] = "is not a backend of this PostgreSQL server (not in pg_stat_activity: another process, or already gone)"
        else:
            reason = protected_reason(row)
            out[str(pid)] = PID_REASONS[reason] if reason else "is a backend but does not match the other filters given"
    return out


def validate_backend_params(params):
    """Every input check of a backend run that needs no server. Nothing has connected yet when this raises."""
    if given(params, "escalate") and params["state"] != "cancel":
        raise SarkValidationError("escalate applies to state cancel only, not to state=%s" % params["state"])
    for name in ("grace_period", "min_duration", "query_max_length"):
        if params.get(name) is not None and params[name] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (name, params[name]))
    validate_session_params(params)
    if params["max_backends"] < 1:
        raise SarkValidationError("max_backends must be at least 1, got %s" % params["max_backends"])
    if any(pid <= 0 for pid in params["pids"]):
        raise SarkValidationError("pids must be positive process ids, got %s" % params["pids"])
    if not any(given(params, name) for name in BACKEND_FILTERS):
        raise SarkValidationError("state=%s needs at least one filter (pids, databases, users, application_names, states or "
                                  "min_duration): without one it would signal every client backend" % params["state"])
