# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK audit database readers for sark_audit_info (private).

The layout names the table and its time column; the catalog says what is really there. Enum labels
are read from pg_enum (upper case when SARK's ORM made the tables, lower case from migrations and in
the runbook layout) and matched case-insensitively, never assumed.
"""

import json

from ansible_collections.sark.ops.plugins.module_utils._layout import layouts_where, trait_values
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError, unknown_filter_entries
from ansible_collections.sark.ops.plugins.module_utils._pg_stats import jsonable
from ansible_collections.sark.ops.plugins.module_utils._postgres import fetch_all, fetch_one, fetch_value, pgsql

SUBSETS = ("events_per_hour", "by_severity", "by_type", "critical", "policy_evaluations", "sessions", "storage")
LIMITS = {"window_hours": (1, 2160), "critical_minutes": (1, 43200), "critical_limit": (0, 1000),
          "session_lookback_hours": (0, 720), "top_n": (1, 1000), "details_max_length": (0, 100000)}
AUTHORIZATION_EVENTS = {"allowed": ("authorization_allowed", "policy_allowed"), "denied": ("authorization_denied", "policy_denied")}
DECISION_WORDS = {"allowed": ("allow", "allowed", "permit", "true"), "denied": ("deny", "denied", "false")}
TIME_COLUMN_CANDIDATES = ("time", "timestamp", "created_at", "event_time", "occurred_at")


def find_table(conn, name):
    """oid, schema and name of a table (bare name: through search_path; or schema.name), or None."""
    schema, _dot, relname = name.rpartition(".")
    return fetch_one(conn, """
        SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND CASE WHEN %s = '' THEN pg_table_is_visible(c.oid) ELSE n.nspname = %s END
         LIMIT 1""", (relname, schema, schema))


def table_columns(conn, oid):
    """column -> {type (SQL-ready, from format_type), is_time, labels (enum labels in order, or None)}."""
    rows = fetch_all(conn, """
        SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, t.typtype::text AS typtype,
               t.typcategory::text AS category,
               CASE WHEN t.typtype = 'e' THEN (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                                                 FROM pg_enum e WHERE e.enumtypid = t.oid) END AS labels
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = %s::oid AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum""", (oid,))
    return {r["name"]: {"type": r["type"], "labels": r["labels"], "is_time": r["category"] == "D"} for r in rows}


def label_case(labels):
    letters = [label for label in labels or [] if any(ch.isalpha() for ch in label)]
    if not letters:
        return None
    if all(label == label.upper() for label in letters):
        return "upper"
    if all(label == label.lower() for label in letters):
        return "lower"
    return "mixed"


class AuditTable:
    """The audit_events table of one deployment, as the catalog describes it."""

    def __init__(self, conn, layout, database):
        self.conn = conn
        self.layout = layout
        self.database = database
        name = layout.template("audit_table")
        found = find_table(conn, name)
        if not found:
            raise SarkPreconditionError(
                "table %s not found in database %s (layout %s): is this the audit database? Set pg_database to it (SARK keeps "
                "audit events in sark_audit) or layout_templates.audit_table." % (name, database, layout.name))
        self.oid, self.schema, self.name = found["oid"], found["schema"], found["name"]
        self.ident = pgsql.Identifier(self.schema, self.name)
        self.columns = table_columns(conn, self.oid)
        self.time_column = layout.template("audit_time_column")
        if self.time_column not in self.columns:
            others = [c for c in TIME_COLUMN_CANDIDATES if c in self.columns and self.columns[c]["is_time"]]
            hint = ""
            if others:
                # another layout whose audit time column the table has
                guess = next((n for n in layouts_where("audit_time_column", others) if n != layout.name), None)
                advice = ("this looks like a %s deployment - set layout: %s" % (guess, guess) if guess
                          else "set layout_templates.audit_time_column")
                hint = " It has %s: %s." % (", ".join(others), advice)
            raise SarkPreconditionError("%s.%s in %s has no column %s (the %s layout's audit time column).%s" % (
                self.schema, self.name, database, self.time_column, layout.name, hint))
        self.time = pgsql.Identifier(self.time_column)

    def has(self, column):
        return column in self.columns

    def labels(self, column):
        return (self.columns.get(column) or {}).get("labels")

    def label_condition(self, column, canonical):
        """SQL for `column is one of canonical (case-insensitive)`, or None when no label of the column matches.

        Enum columns are compared with their real labels cast to the enum type (an index on the column stays usable);
        text columns in lower case. Labels come from pg_enum and go in as literals, so the result has no parameters.
        """
        if column not in self.columns:
            return None
        wanted = [c.lower() for c in canonical]
        labels = self.labels(column)
        ident = pgsql.Identifier(column)
        if labels is not None:
            actual = [label for label in labels if label.lower() in wanted]
            if not actual:
                return None
            # format_type() output comes from the catalog and is already quoted where needed
            return pgsql.SQL("{} = ANY({}::{}[])").format(ident, pgsql.Literal(actual), pgsql.SQL(self.columns[column]["type"]))
        return pgsql.SQL("lower({}::text) = ANY({})").format(ident, pgsql.Literal(wanted))

    def matched_labels(self, column, canonical):
        labels = self.labels(column)
        if labels is None:
            return list(canonical)
        return [label for label in labels if label.lower() in [c.lower() for c in canonical]]

    def describe(self):
        labels = {c: self.labels(c) for c in ("severity", "event_type") if self.labels(c) is not None}
        cases = {label_case(v) for v in labels.values()} - {None}
        return {"table": "%s.%s" % (self.schema, self.name), "time_column": self.time_column,
                "labels": labels, "label_case": cases.pop() if len(cases) == 1 else ("mixed" if cases else None),
                "columns": sorted(self.columns)}

    def window(self, hours):
        return pgsql.SQL("{} >= now() - make_interval(hours => %s)").format(self.time), [hours]


def hourly(table, hours):
    """Events per whole hour over the last `hours` whole hours (the current, partial hour apart), with the empty ones.

    An empty hour is a gap in the trail only from the hour of the first recorded event on: the hours before the trail
    began are reported as such, not as gaps; with no event at all there are no gaps, and events_recorded says so."""
    query = pgsql.SQL("""
        WITH bounds AS (SELECT date_trunc('hour', now()) AS top),
        hours AS (
            SELECT generate_series(top - make_interval(hours => %s), top - interval '1 hour', interval '1 hour') AS hour FROM bounds
        ), counts AS (
            SELECT date_trunc('hour', {t}) AS hour, count(*) AS n
              FROM {table}, bounds
             WHERE {t} >= top - make_interval(hours => %s) AND {t} < top
             GROUP BY 1
        )
        SELECT h.hour, coalesce(c.n, 0) AS events FROM hours h LEFT JOIN counts c USING (hour) ORDER BY h.hour""").format(
        t=table.time, table=table.ident)
    raw = fetch_all(table.conn, query, (hours, hours))
    current = fetch_value(table.conn, pgsql.SQL("SELECT count(*) FROM {} WHERE {} >= date_trunc('hour', now())").format(
        table.ident, table.time))
    # min() of the (indexed) time column: where the trail begins
    first = fetch_one(table.conn, pgsql.SQL("SELECT min({t}) AS first, date_trunc('hour', min({t})) AS first_hour FROM {table}").format(
        t=table.time, table=table.ident)) or {}
    first_hour = first.get("first_hour")
    rows, before = [], 0
    for row in raw:
        out = jsonable(dict(row))
        if first_hour is None or row["hour"] < first_hour:
            out["before_first_event"] = True
            before += 1
        rows.append(out)
    gaps = [r["hour"] for r in rows if not r["events"] and not r.get("before_first_event")]
    counts = [r["events"] for r in rows]
    return {"window_hours": hours, "window_start": rows[0]["hour"] if rows else None,
            "window_end": fetch_value(table.conn, "SELECT date_trunc('hour', now())").isoformat(),
            "hours": rows, "gaps": gaps, "empty_hours": len(gaps), "total": sum(counts),
            "min_per_hour": min(counts) if counts else None, "max_per_hour": max(counts) if counts else None,
            "current_hour_so_far": current, "events_recorded": first_hour is not None,
            "first_event": jsonable(first["first"]) if first_hour is not None else None,
            "hours_before_first_event": before}


def counts_by(table, column, hours):
    """label -> events in the window, every enum label listed (zero included), most frequent first."""
    if not table.has(column):
        return {"available": False, "reason": "%s has no column %s" % (table.name, column)}
    condition, params = table.window(hours)
    rows = fetch_all(table.conn, pgsql.SQL("SELECT {c}::text AS label, count(*) AS n FROM {t} WHERE {w} GROUP BY 1").format(
        c=pgsql.Identifier(column), t=table.ident, w=condition), params)
    counts = {label: 0 for label in table.labels(column) or []}
    for row in rows:
        counts[row["label"] if row["label"] is not None else "(null)"] = row["n"]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {"window_hours": hours, "total": sum(counts.values()), "counts": dict(ordered)}


def trim(value, max_length):
    """Shorten big nested values (event details) so one event cannot blow up the result."""
    if isinstance(value, dict):
        return {k: trim(v, max_length) for k, v in value.items()}
    text = json.dumps(value) if isinstance(value, list) else value
    if isinstance(text, str) and max_length and len(text) > max_length:
        return text[:max_length] + "..."
    return value


def critical(table, minutes, limit, max_length):
    condition = table.label_condition("severity", ["critical"])
    if condition is None:
        return {"available": False, "reason": "no severity label 'critical' in %s (labels: %s)" % (
            table.name, ", ".join(table.labels("severity") or []) or "no severity column")}
    where = pgsql.SQL("{} AND {} >= now() - make_interval(mins => %s)").format(condition, table.time)
    count = fetch_value(table.conn, pgsql.SQL("SELECT count(*) FROM {} e WHERE {}").format(table.ident, where), (minutes,))
    rows = fetch_all(table.conn, pgsql.SQL("SELECT to_jsonb(e) AS event FROM {} e WHERE {} ORDER BY {} DESC LIMIT %s").format(
        table.ident, where, table.time), (minutes, limit)) if limit else []
    events = [trim(jsonable(r["event"]), max_length) for r in rows]
    return {"minutes": minutes, "label": table.matched_labels("severity", ["critical"]), "count": count,
            "events": events, "truncated": count > len(events)}


def _policy_table(table):
    if not table.layout.has("policy_evaluations_table"):
        return None, table.layout.absent_reason("policy_evaluations_table")
    name = table.layout.template("policy_evaluations_table")
    found = find_table(table.conn, name)
    if not found:
        return None, "table %s not found in %s" % (name, table.database)
    return found, None


def policy_evaluations(table, hours, top_n):
    """Per-policy evaluations, allowed/denied and durations (runbook table) or the same from audit_events (sark_v2)."""
    found, reason = _policy_table(table)
    if found:
        columns = table_columns(table.conn, found["oid"])
        time_col = next((c for c in TIME_COLUMN_CANDIDATES if c in columns and columns[c]["is_time"]), None)
        if time_col is None or "decision" not in columns:
            return {"available": False, "source": found["name"], "reason": "%s has no time or decision column" % found["name"]}
        has_duration = "duration_ms" in columns
        duration = pgsql.SQL("avg(duration_ms)::float8 AS avg_duration_ms, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) "
                             "AS p95_duration_ms, max(duration_ms)::float8 AS max_duration_ms" if has_duration else
                             "NULL::float8 AS avg_duration_ms, NULL::float8 AS p95_duration_ms, NULL::float8 AS max_duration_ms")
        query = pgsql.SQL("""
            SELECT {name} AS name, count(*) AS evaluations, count(*) FILTER (WHERE decision) AS allowed,
                   count(*) FILTER (WHERE NOT decision) AS denied, {duration}
              FROM {t} WHERE {time} >= now() - make_interval(hours => %s)
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s""").format(
            name=pgsql.Identifier("policy_name") if "policy_name" in columns else pgsql.SQL("'(all)'::text"),
            duration=duration, t=pgsql.Identifier(found["schema"], found["name"]), time=pgsql.Identifier(time_col))
        groups = jsonable(fetch_all(table.conn, query, (hours, top_n)))
        return _policy_summary(groups, hours, source="%s.%s" % (found["schema"], found["name"]), group_by="policy_name")
    return _policy_from_audit(table, hours, top_n, reason)


def _any_of(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return pgsql.SQL("({})").format(pgsql.SQL(" OR ").join(parts))


def _policy_from_audit(table, hours, top_n, reason):
    decision = pgsql.SQL("lower(decision::text) = ANY({})")
    allowed = _any_of([table.label_condition("event_type", AUTHORIZATION_EVENTS["allowed"]),
                       decision.format(pgsql.Literal(list(DECISION_WORDS["allowed"]))) if table.has("decision") else None])
    denied = _any_of([table.label_condition("event_type", AUTHORIZATION_EVENTS["denied"]),
                      decision.format(pgsql.Literal(list(DECISION_WORDS["denied"]))) if table.has("decision") else None])
    if allowed is None and denied is None:
        return {"available": False, "source": None, "reason": "%s; and %s has neither authorization events nor a decision column"
                % (reason, table.name)}
    allowed = allowed or pgsql.SQL("false")
    denied = denied or pgsql.SQL("false")
    group = pgsql.SQL("coalesce({}::text, '(none)')").format(pgsql.Identifier("tool_name")) if table.has("tool_name") \
        else pgsql.SQL("'(all)'::text")
    query = pgsql.SQL("""
        SELECT {group} AS name, count(*) AS evaluations, count(*) FILTER (WHERE {allowed}) AS allowed,
               count(*) FILTER (WHERE NOT {allowed}) AS denied,
               NULL::float8 AS avg_duration_ms, NULL::float8 AS p95_duration_ms, NULL::float8 AS max_duration_ms
          FROM {t} WHERE {time} >= now() - make_interval(hours => %s) AND ({allowed} OR {denied})
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s""").format(group=group, allowed=allowed, denied=denied, t=table.ident, time=table.time)
    groups = jsonable(fetch_all(table.conn, query, (hours, top_n)))
    summary = _policy_summary(groups, hours, source="%s.%s" % (table.schema, table.name),
                              group_by="tool_name" if table.has("tool_name") else None)
    summary["note"] = "%s; evaluations are read from the audit events (no durations are recorded there)" % reason
    return summary


def _policy_summary(groups, hours, source, group_by):
    evaluations = sum(g["evaluations"] for g in groups)
    denied = sum(g["denied"] for g in groups)
    return {"available": True, "source": source, "group_by": group_by, "window_hours": hours, "groups": groups,
            "totals": {"evaluations": evaluations, "allowed": sum(g["allowed"] for g in groups), "denied": denied,
                       "deny_ratio": round(float(denied) / evaluations, 4) if evaluations else None}}


STATS_SQL = ("count(*) AS sessions, avg(s)::float8 AS avg_s, min(s)::float8 AS min_s, max(s)::float8 AS max_s, "
             "percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50_s, percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95_s")


def sessions(table, hours, lookback_hours):
    """Session durations ending in the window: from login_time/logout_time where the table has them, else by pairing
    each logout with the same user's login just before it."""
    preferred = tuple(table.layout.traits["session_events"])
    pairs = [preferred] + [tuple(p) for p in trait_values("session_events").values() if tuple(p) != preferred]
    events = next((p for p in pairs if table.label_condition("event_type", [p[1]]) is not None), None)
    if events is None:
        return {"available": False, "reason": "%s has no logout event type (labels: %s)" % (
            table.name, ", ".join(table.labels("event_type") or []) or "none")}
    login_cond = table.label_condition("event_type", [events[0]])
    logout_cond = table.label_condition("event_type", [events[1]])
    labels = {"login": table.matched_labels("event_type", [events[0]]), "logout": table.matched_labels("event_type", [events[1]])}
    if table.has("login_time") and table.has("logout_time"):
        query = pgsql.SQL("""
            WITH d AS (SELECT extract(epoch FROM logout_time - login_time) AS s FROM {t}
                        WHERE {logout} AND {time} >= now() - make_interval(hours => %s)
                          AND login_time IS NOT NULL AND logout_time IS NOT NULL AND logout_time >= login_time)
            SELECT {stats} FROM d""").format(t=table.ident, logout=logout_cond, time=table.time, stats=pgsql.SQL(STATS_SQL))
        out = jsonable(fetch_one(table.conn, query, (hours,)))
        out.update(available=True, method="login_logout_columns", labels=labels, window_hours=hours)
        return out
    if login_cond is None or not table.has("user_id"):
        return {"available": False, "reason": "%s has no login_time/logout_time columns and no %s events with a user_id to pair"
                % (table.name, events[0])}
    query = pgsql.SQL("""
        WITH ev AS (
            SELECT user_id, {time} AS at, CASE WHEN {login} THEN 'in' ELSE 'out' END AS kind FROM {t}
             WHERE ({login} OR {logout}) AND user_id IS NOT NULL AND {time} >= now() - make_interval(hours => %s)
        ), seq AS (
            SELECT kind, at, lag(kind) OVER w AS prev_kind, lag(at) OVER w AS prev_at, lead(kind) OVER w AS next_kind
              FROM ev WINDOW w AS (PARTITION BY user_id ORDER BY at, kind)
        ), d AS (
            SELECT extract(epoch FROM at - prev_at) AS s FROM seq
             WHERE kind = 'out' AND prev_kind = 'in' AND at >= now() - make_interval(hours => %s)
        )
        SELECT {stats},
               (SELECT count(*) FROM seq WHERE kind = 'out' AND prev_kind IS DISTINCT FROM 'in'
                                            AND at >= now() - make_interval(hours => %s)) AS unpaired_logouts,
               (SELECT count(*) FROM seq WHERE kind = 'in' AND next_kind IS NULL) AS open_sessions
          FROM d""").format(time=table.time, login=login_cond, t=table.ident, logout=logout_cond, stats=pgsql.SQL(STATS_SQL))
    out = jsonable(fetch_one(table.conn, query, (hours + lookback_hours, hours, hours)))
    out.update(available=True, method="paired_events", labels=labels, window_hours=hours, lookback_hours=lookback_hours)
    return out


def storage(table):
    """Size, row estimate, time range and, with TimescaleDB, hypertable, chunk, compression and retention facts."""
    out = {"table": "%s.%s" % (table.schema, table.name)}
    bounds = fetch_one(table.conn, pgsql.SQL("SELECT min({t}) AS oldest, max({t}) AS newest FROM {tbl}").format(
        t=table.time, tbl=table.ident))
    out.update(jsonable(bounds))
    tsdb = fetch_value(table.conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    out["timescaledb"] = {"installed": tsdb is not None, "version": tsdb}
    hyper = None
    if tsdb:
        try:
            hyper = fetch_one(table.conn, """
                SELECT num_chunks, compression_enabled FROM timescaledb_information.hypertables
                 WHERE hypertable_schema = %s AND hypertable_name = %s""", (table.schema, table.name))
        except Exception as exc:  # pylint: disable=broad-except
            # the information views changed between TimescaleDB releases: report, do not fail the whole module
            out["timescaledb"]["error"] = str(exc).strip()
    if hyper:
        out["timescaledb"].update(hypertable=True, chunks=hyper["num_chunks"], compression_enabled=hyper["compression_enabled"])
        qualified = "%s.%s" % (table.schema, table.name)
        out["size_bytes"] = fetch_value(table.conn, "SELECT hypertable_size(%s::regclass)", (qualified,))
        out["rows_estimate"] = fetch_value(table.conn, "SELECT approximate_row_count(%s::regclass)", (qualified,))
        jobs = fetch_all(table.conn, """
            SELECT proc_name, schedule_interval::text AS schedule_interval, config
              FROM timescaledb_information.jobs WHERE hypertable_schema = %s AND hypertable_name = %s""", (table.schema, table.name))
        out["timescaledb"]["policies"] = jsonable(jobs)
        if hyper["compression_enabled"]:
            out["timescaledb"]["compression"] = jsonable(fetch_one(table.conn, """
                SELECT sum(before_compression_total_bytes) AS before_bytes, sum(after_compression_total_bytes) AS after_bytes
                  FROM hypertable_compression_stats(%s::regclass)""", (qualified,)))
    else:
        if tsdb:
            out["timescaledb"]["hypertable"] = False
        out["size_bytes"] = fetch_value(table.conn, "SELECT pg_total_relation_size(%s::oid)", (table.oid,))
        out["rows_estimate"] = fetch_value(table.conn, "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::oid",
                                           (table.oid,))
    return out


def assess(facts, critical_minutes):
    findings_critical, findings_warning = [], []
    hours = facts.get("events_per_hour") or {}
    table = (facts.get("schema") or {}).get("table") or "the audit table"
    if hours and not hours.get("events_recorded", True):
        findings_warning.append("No audit event was ever recorded in %s of %s: audit events are not being written (or this is "
                                "not the audit database - check pg_database)" % (table, facts.get("database")))
    elif hours.get("empty_hours"):
        since = (" since the first recorded event (%s)" % hours["first_event"]) if hours.get("hours_before_first_event") else ""
        findings_warning.append("%d of the last %d hours%s have no audit events (first gap %s): the audit trail has gaps" % (
            hours["empty_hours"], hours["window_hours"], since, hours["gaps"][0]))
    crit = facts.get("critical") or {}
    if crit.get("count"):
        findings_warning.append("%d CRITICAL audit events in the last %d minutes" % (crit["count"], critical_minutes))
    verdict = "critical" if findings_critical else ("warning" if findings_warning else "ok")
    return {"verdict": verdict, "findings": findings_critical + findings_warning}


def validate_params(params):
    unknown = unknown_filter_entries(SUBSETS, params["filter"])
    if unknown:
        raise SarkValidationError("filter: unknown subset(s) %s; known subsets: %s" % (", ".join(unknown), ", ".join(SUBSETS)))
    for name, (low, high) in sorted(LIMITS.items()):
        if not low <= params[name] <= high:
            raise SarkValidationError("%s must be between %d and %d, got %s" % (name, low, high, params[name]))
