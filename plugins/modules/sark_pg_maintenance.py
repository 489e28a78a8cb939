#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_pg_maintenance
short_description: VACUUM, ANALYZE and REINDEX SARK's PostgreSQL tables, safely
version_added: 0.1.0
description:
  - Runs the maintenance the runbooks do with C(psql) - C(VACUUM ANALYZE) (weekly), C(REINDEX DATABASE)
    (monthly), C(ANALYZE) - with the guard rails the runbooks leave to the operator. Ending runaway backends is
    M(sark.ops.sark_pg_backend)'s job.
  - B(Tables) are named (O(tables)) or chosen by need (O(min_dead_tuple_ratio), O(min_dead_tuples),
    O(last_run_older_than)). Every name is validated against the catalog before anything runs and quoted by
    the module; names carrying quotes, semicolons or backslashes are refused. With neither, every user
    table of the database is processed one at a time (the system catalogs are left to autovacuum), at most
    O(max_tables) per run, the ones with the most dead tuples first.
  - B(VACUUM FULL) rewrites the table under an C(ACCESS EXCLUSIVE) lock that blocks reads and writes until it
    ends; it runs only with O(full=true) B(and) O(confirm_full=true), and then with a warning.
  - B(REINDEX) runs C(CONCURRENTLY) by default, on O(tables), O(indexes) or, with neither, the whole database
    (C(REINDEX DATABASE), which skips the system catalogs when concurrent).
  - Every statement runs under O(lock_timeout) and O(statement_timeout). A session-level advisory lock
    (C(pg_try_advisory_lock(5999166662007215171)), the bytes V(SARKMNTC)) keeps two runs on the same database
    from overlapping; a second run fails naming the holder (or waits O(lock_wait) seconds).
  - Automates "Database Maintenance" (VACUUM ANALYZE, REINDEX DATABASE, ANALYZE) and the monthly "Database maintenance"
    task of the runbooks.
options:
  state:
    description:
      - What to run on relations of O(pg_database) - V(vacuum), V(analyze) or V(reindex).
    type: str
    required: true
    choices: [vacuum, analyze, reindex]
    version_added: 0.2.0
  tables:
    description:
      - Tables (or materialized views) to process, as V(name) (found through the C(search_path)) or
        V(schema.name). Not quoted - the module quotes them. Unknown names fail the task before anything runs.
      - Combined with a need criterion, only the listed tables that need it are processed.
    type: list
    elements: str
    default: []
  indexes:
    description: Indexes to rebuild (O(state=reindex) only), as V(name) or V(schema.name).
    type: list
    elements: str
    default: []
  analyze:
    description: Run C(VACUUM (ANALYZE)) - the runbook's C(VACUUM ANALYZE) - instead of a plain C(VACUUM).
    type: bool
    default: true
  freeze:
    description: C(VACUUM (FREEZE)) - freeze every tuple (before a wraparound deadline).
    type: bool
    default: false
  full:
    description:
      - C(VACUUM (FULL)) - rewrite the table to give space back to the operating system (the "Disk Full"
        playbook). Takes an C(ACCESS EXCLUSIVE) lock for the whole rewrite and needs room for a full copy.
      - Refused unless O(confirm_full=true).
    type: bool
    default: false
  confirm_full:
    description: Acknowledge that O(full=true) blocks every read and write of each table while it is rewritten.
    type: bool
    default: false
  concurrently:
    description: Rebuild indexes with C(REINDEX ... CONCURRENTLY) (no write lock on the table). Set V(false) only in a maintenance window.
    type: bool
    default: true
  min_dead_tuple_ratio:
    description:
      - Select tables whose dead tuples are more than this share (0-1) of live + dead tuples (O(state=vacuum)).
      - A table is selected when any need criterion holds.
    type: float
  min_dead_tuples:
    description: Select tables with at least this many dead tuples (O(state=vacuum)); with O(min_dead_tuple_ratio) both must hold.
    type: int
  last_run_older_than:
    description:
      - Select tables whose last vacuum (O(state=vacuum)) or last analyze (O(state=analyze)), manual or by autovacuum,
        is more than this many seconds ago, or that never had one.
    type: float
    aliases: [last_vacuum_older_than]
  max_tables:
    description:
      - At most this many tables per run. Chosen by need or by default, the neediest come first and the rest are reported
        in C(deferred) of RV(selection) (the next run takes them). An explicit O(tables) list longer than this is refused.
    type: int
    default: 50
  drop_invalid_indexes:
    description:
      - With O(state=reindex), first remove the invalid indexes an interrupted C(REINDEX CONCURRENTLY) left behind
        (names ending in C(_ccnew) or C(_ccold), TOAST indexes included) with C(DROP INDEX CONCURRENTLY), then reindex.
        Nothing is lost - each is a transient copy of an index that still exists.
      - Without it such indexes are reported in RV(invalid_indexes) and warned about, never touched. Invalid indexes of a
        failed C(CREATE INDEX CONCURRENTLY) (other names) are never dropped, only reported - rebuild them with O(indexes).
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.postgres
  - sark.ops.postgres.SESSION
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Validates every name and filter against the server, then returns the exact statements it would run
        (RV(planned_actions)) and the targets, and sets C(changed) to whether there is anything to do.
  diff_mode:
    support: full
    details:
      - Before/after dead tuples and sizes per relation.
  idempotent:
    support: partial
    details:
      - Selected by need (O(min_dead_tuple_ratio), O(min_dead_tuples), O(last_run_older_than)), VACUUM and ANALYZE are
        idempotent - a second run selects nothing and reports C(changed=false).
      - Named or whole-database VACUUM, ANALYZE and REINDEX always act and always report C(changed=true) - each run does
        the work again. Select by need to make them converge.
notes:
  - Connects to O(pg_database), which is required (for SARK, run once for V(sark) and once for V(sark_audit)).
  - Needs the privileges of the statements - the table owner (or C(pg_maintain) on PostgreSQL 17) for VACUUM/ANALYZE/REINDEX.
  - With TimescaleDB, VACUUM/ANALYZE/REINDEX of a hypertable is passed on to all its chunks by the extension; the
    hypertable itself holds no rows, so need criteria select the chunk tables (schema C(_timescaledb_internal)) one by one.
    C(REINDEX CONCURRENTLY) of a hypertable is refused (TimescaleDB does not support it) - name the chunks or set
    O(concurrently=false). See C(docs/timescaledb.md).
seealso:
  - module: sark.ops.sark_pg_info
    description: Bloat, dead tuples, unused indexes and long-running queries to decide what to maintain.
  - module: sark.ops.sark_pg_backend
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Weekly VACUUM ANALYZE of the tables that need it (idempotent)
  sark.ops.sark_pg_maintenance:
    pg_host: postgres.sark.svc
    pg_password: "{{ vault_pg_password }}"
    pg_database: "{{ item }}"
    state: vacuum
    min_dead_tuple_ratio: 0.1
    last_run_older_than: 604800
  loop: [sark, sark_audit]

- name: Monthly REINDEX DATABASE sark, without blocking writes
  sark.ops.sark_pg_maintenance:
    pg_database: sark
    state: reindex
    statement_timeout: 7200

- name: Refresh planner statistics of two tables
  sark.ops.sark_pg_maintenance:
    pg_database: sark
    state: analyze
    tables: [servers, public.users]

- name: Disk full - give space back (blocks the table while it runs)
  sark.ops.sark_pg_maintenance:
    pg_database: sark_audit
    state: vacuum
    tables: [audit_events]
    full: true
    confirm_full: true
'''

RETURN = r'''
state:
  description: The state asked for (the maintenance run).
  returned: always
  type: str
  sample: vacuum
database:
  description: The database the module connected to.
  returned: always
  type: str
  sample: sark
own_pid:
  description: Process id of the module's own connection.
  returned: always
  type: int
  sample: 4711
planned_actions:
  description:
    - The statements, in order, this run runs (or in check mode would run), from the evidence record - first the C(SET) of
      the timeouts (action V(set)), then C(drop_invalid_index) and one entry per relation (action = the state, C(target),
      C(sql)). Empty when there is nothing to do.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "set", "sql": "SET lock_timeout = '10000ms'"}, {"action": "set", "sql": "SET statement_timeout = '3600000ms'"},
           {"action": "vacuum", "target": "public.audit_events", "sql": "VACUUM (ANALYZE) \"public\".\"audit_events\""}]
executed_actions:
  description:
    - The statements that ran successfully, from the evidence record (empty in check mode). The C(SET) of the timeouts is
      a session setting, not a change, and is not listed.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "vacuum", "target": "public.audit_events", "sql": "VACUUM (ANALYZE) \"public\".\"audit_events\""}]
selection:
  description:
    - How relations were chosen - C(mode) (V(names), V(need), V(names+need), V(all) or V(database)), C(considered),
      C(selected), C(deferred) (over O(max_tables), processed next run) and the C(criteria).
  returned: always
  type: dict
  sample: {"mode": "need", "considered": 12, "selected": 1, "deferred": 0, "criteria": {"min_dead_tuple_ratio": 0.1}}
results:
  description:
    - One entry per relation (or the database) - C(target), C(kind), C(statement), C(status) (V(planned), V(ok), V(failed),
      V(not_run) when the connection was lost before it),
      C(duration_ms), C(reasons) it was selected, C(before) and C(after) (C(n_dead_tup), C(n_live_tup), C(total_bytes),
      C(table_bytes), C(index_bytes)) and C(error) or C(notices).
  returned: always
  type: list
  elements: dict
  sample: [{"target": "public.audit_events", "status": "ok", "duration_ms": 152.4,
            "before": {"n_dead_tup": 1500, "total_bytes": 237568}, "after": {"n_dead_tup": 0, "total_bytes": 237568}}]
invalid_indexes:
  description:
    - Invalid indexes (C(pg_index.indisvalid = false), TOAST indexes included) C(before) and C(after) the run, and the ones
      C(dropped) with O(drop_invalid_indexes). Each entry has C(index), C(table) (for a TOAST index the table it belongs to),
      C(toast), C(leftover) (V(ccnew)/V(ccold) for leftovers of an interrupted C(REINDEX CONCURRENTLY), else null),
      C(in_progress) (another session is building it now) and C(dropped) or C(drop_error).
  returned: when state is reindex
  type: dict
  sample: {"before": [{"index": "public.servers_pkey_ccnew", "table": "public.servers", "toast": false, "leftover": "ccnew",
           "in_progress": false}], "dropped": ["public.servers_pkey_ccnew"], "after": []}
connection_lost:
  description: On a failure, whether the connection to PostgreSQL was lost part-way (results then say which statements ran).
  returned: on failure
  type: bool
  sample: false
lock:
  description: The maintenance advisory lock - C(key), whether this run C(acquired) it, and the C(holder) seen in check mode.
  returned: always
  type: dict
  sample: {"key": 5999166662007215171, "acquired": true}
diff:
  description: Dead tuples and sizes per relation before and after (with C(--diff)).
  returned: when diff mode is on and something would run
  type: dict
  sample: {"before": {"public.audit_events": {"n_dead_tup": 1500}}, "after": {"public.audit_events": {"n_dead_tup": 0}}}
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''


import heapq
import time

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkLimitError,
    SarkOperationError,
    SarkValidationError,
    sark_main,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import (
    INDEX_KINDS,
    NEED_CRITERIA,
    TABLE_ACTIONS,
    TABLE_KINDS,
    analyze_statement,
    connection_lost,
    database_index_bytes,
    describe_invalid,
    drop_index_statement,
    explain,
    find_invalid_indexes,
    hypertables,
    index_stats,
    iter_candidate_tables,
    locked_session,
    need_reasons,
    reindex_statement,
    relation_sizes,
    resolve_relations,
    session_argument_spec,
    table_stats,
    vacuum_statement,
    validate_params,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_stats import jsonable
from ansible_collections.sark.ops.plugins.module_utils._postgres import connect, postgres_argument_spec, psycopg_errors

MODULE = "sark_pg_maintenance"
SNAPSHOT_FIELDS = ("n_live_tup", "n_dead_tup", "total_bytes", "table_bytes", "index_bytes")


# --- vacuum / analyze / reindex -------------------------------------------------------------------------

def priority(row, action):
    """Neediest first: most dead tuples for vacuum, longest since the last analyze for analyze."""
    if action == "analyze":
        age = row["analyze_age_s"]
        return (float("inf") if age is None else float(age), row["est_bytes"])
    return (float(row["dead_ratio"]), row["n_dead_tup"], row["est_bytes"])


def choose_from_catalog(conn, action, criteria, max_tables):
    """Stream every user table (server-side cursor), keep the max_tables neediest that qualify."""
    heap, considered, qualified = [], 0, 0
    for seq, row in enumerate(iter_candidate_tables(conn)):
        considered += 1
        reasons = need_reasons(row, action, criteria) if criteria else ["all tables"]
        if not reasons:
            continue
        qualified += 1
        row["reasons"] = reasons
        item = (priority(row, action), -seq, row)
        if len(heap) < max_tables:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)
    chosen = [item[2] for item in sorted(heap, key=lambda it: (it[0], it[1]), reverse=True)]
    return considered, chosen, qualified - len(chosen)


def table_target(row, kind="table"):
    return {"kind": kind, "oid": row["oid"], "schema": row["schema"], "name": row["name"],
            "target": "%s.%s" % (row["schema"], row["name"]), "reasons": row.get("reasons") or ["named"]}


def statement_for(params, target, database):
    action = params["state"]
    if action == "vacuum":
        return vacuum_statement(target["schema"], target["name"], full=params["full"], freeze=params["freeze"],
                                analyze=params["analyze"])
    if action == "analyze":
        return analyze_statement(target["schema"], target["name"])
    if target["kind"] == "database":
        return reindex_statement("database", params["concurrently"], database=database)
    return reindex_statement(target["kind"], params["concurrently"], target["schema"], target["name"])


def snapshot(conn, targets):
    """target name -> the figures shown before/after (dead tuples and sizes).

    Exact sizes need a lock on each table: one we cannot get within lock_timeout is reported as an error
    for that table instead of failing the run.
    """
    tables = table_stats(conn, [t["oid"] for t in targets if t["kind"] == "table"])
    indexes = index_stats(conn, [t["oid"] for t in targets if t["kind"] == "index"])
    out = {}
    for t in targets:
        if t["kind"] == "table":
            row = dict(tables.get(t["oid"]) or {})
            try:
                row.update(relation_sizes(conn, t["oid"]) or {})
            except psycopg_errors() as exc:
                row["size_error"] = explain(exc)
            out[t["target"]] = {k: row.get(k) for k in SNAPSHOT_FIELDS}
            if "size_error" in row:
                out[t["target"]]["size_error"] = row["size_error"]
        elif t["kind"] == "index":
            row = indexes.get(t["oid"]) or {}
            out[t["target"]] = {"index_bytes": row.get("index_bytes"), "valid": row.get("valid")}
        else:
            out[t["target"]] = {"index_bytes": database_index_bytes(conn)}
    return jsonable(out)


def select_targets(module, conn, database):
    params = module.params
    action = params["state"]
    criteria = {k: params[k] for k in NEED_CRITERIA if params.get(k) is not None}
    selection = {"criteria": criteria, "deferred": 0}
    if action == "reindex" and not params["tables"] and not params["indexes"]:
        selection.update(mode="database", considered=1)
        targets = [{"kind": "database", "name": database, "target": "database %s" % database, "reasons": ["whole database"]}]
    elif params["tables"] or params["indexes"]:
        rows = resolve_relations(conn, params["tables"], TABLE_KINDS, "tables") if params["tables"] else []
        idx = resolve_relations(conn, params["indexes"], INDEX_KINDS, "indexes") if params["indexes"] else []
        if len(rows) + len(idx) > params["max_tables"]:
            raise SarkLimitError("%d relations named, more than max_tables=%d; nothing was run. Split the list or raise max_tables."
                                 % (len(rows) + len(idx), params["max_tables"]))
        selection.update(mode="names+need" if criteria else "names", considered=len(rows) + len(idx))
        targets = []
        if criteria:
            stats = table_stats(conn, [r["oid"] for r in rows])
            for row in rows:
                reasons = need_reasons(stats[row["oid"]], action, criteria)
                if reasons:
                    row["reasons"] = reasons
                    targets.append(table_target(row))
        else:
            targets = [table_target(row) for row in rows]
        targets += [table_target(row, "index") for row in idx]
    else:
        considered, chosen, deferred = choose_from_catalog(conn, action, criteria, params["max_tables"])
        selection.update(mode="need" if criteria else "all", considered=considered, deferred=deferred)
        targets = [table_target(row) for row in chosen]
        if deferred:
            module.warn("%d more tables qualify than max_tables=%d allows; they were deferred to the next run"
                        % (deferred, params["max_tables"]))
    selection["selected"] = len(targets)
    if action == "reindex" and params["concurrently"]:
        hyper = hypertables(conn)
        refused = [t["target"] for t in targets if t["kind"] == "table" and (t["schema"], t["name"]) in hyper]
        if refused:
            raise SarkValidationError("REINDEX CONCURRENTLY is not supported on TimescaleDB hypertables (%s): name their chunk "
                                      "tables (schema _timescaledb_internal) or set concurrently=false in a maintenance window"
                                      % ", ".join(refused))
    return targets, selection


def warn_invalid(module, entries, database, dropping):
    leftovers = [e for e in entries if e["leftover"] and not e["in_progress"]]
    own = [e for e in entries if not e["leftover"] and not e["in_progress"]]
    busy = [e for e in entries if e["in_progress"]]
    if leftovers and not dropping:
        module.warn("%d invalid indexes left by an interrupted REINDEX CONCURRENTLY in database %s: %s. They cost every write and "
                    "REINDEX CONCURRENTLY skips them; rerun with drop_invalid_indexes=true to DROP INDEX CONCURRENTLY them "
                    "(nothing is lost: each is a transient copy)." % (len(leftovers), database, describe_invalid(leftovers)))
    if own:
        module.warn("%d invalid indexes in database %s (a failed CREATE INDEX CONCURRENTLY?): %s. They are not used by queries "
                    "but cost every write; rebuild them with state=reindex and indexes=[...] (drop_invalid_indexes leaves "
                    "them alone: dropping would lose their definition)." % (len(own), database, describe_invalid(own)))
    if busy:
        module.warn("%d invalid indexes in database %s are being built by another session right now and are left alone: %s"
                    % (len(busy), database, describe_invalid(busy)))


def scan_after(module, conn, database):
    """Invalid indexes after the run; through a new connection when ours was lost (the server may be back)."""
    if not connection_lost(conn):
        return find_invalid_indexes(conn), None
    try:
        fresh = connect(module.params, dbname=database, module_name=MODULE)
    except SarkConnectionError as exc:
        return None, "could not reconnect to look for invalid indexes: %s" % exc.msg
    try:
        return find_invalid_indexes(fresh), None
    except psycopg_errors() as exc:
        return None, "could not look for invalid indexes: %s" % explain(exc)
    finally:
        fresh.close()


def run_drops(module, conn, result, drops):
    """DROP INDEX CONCURRENTLY each leftover, recorded as it happens. Returns the failures."""
    failures = []
    for entry, sql, text in drops:
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        except psycopg_errors() as exc:
            entry["drop_error"] = explain(exc)
            failures.append("%s: %s" % (entry["index"], entry["drop_error"]))
            if connection_lost(conn):
                break
        else:
            entry["dropped"] = True
            result["invalid_indexes"]["dropped"].append(entry["index"])
            module.evidence.executed("drop_invalid_index", index=entry["index"], sql=text)
            module.evidence.count("invalid_indexes_dropped")
    return failures


def run_tables(module, conn, result, setup):
    params = module.params
    action = params["state"]
    database = result["database"]
    targets, selection = select_targets(module, conn, database)
    drops = []
    if action == "reindex":
        invalid = find_invalid_indexes(conn)
        result["invalid_indexes"] = {"before": invalid, "dropped": [], "after": None}
        warn_invalid(module, invalid, database, params["drop_invalid_indexes"])
        if params["drop_invalid_indexes"]:
            for entry in invalid:
                if entry["leftover"] and not entry["in_progress"]:
                    sql = drop_index_statement(entry["schema"], entry["name"])
                    drops.append((entry, sql, sql.as_string(conn)))
        leftover_names = {e["index"] for e in invalid if e["leftover"]}
        skipped = [t for t in targets if t["kind"] == "index" and t["target"] in leftover_names]
        if skipped:
            targets = [t for t in targets if t not in skipped]
            module.warn("not rebuilding %s: transient leftovers of an interrupted REINDEX CONCURRENTLY (drop_invalid_indexes "
                        "removes them)" % ", ".join(t["target"] for t in skipped))
    for target in targets:
        target["sql"] = statement_for(params, target, database)
        target["statement"] = target["sql"].as_string(conn)
    work = [d[2] for d in drops] + [t["statement"] for t in targets]
    if work:
        # the plan, in the order it runs: the session's timeouts, the drops, then one statement per relation
        for statement in setup:
            module.evidence.plan("set", sql=statement)
        for entry, _sql, text in drops:
            module.evidence.plan("drop_invalid_index", index=entry["index"], sql=text)
        for target in targets:
            module.evidence.plan(action, target=target["target"], sql=target["statement"])
    if params["full"] and targets:
        module.warn("VACUUM FULL holds an ACCESS EXCLUSIVE lock on each table while it rewrites it: every read and write "
                    "of %s waits until it finishes" % ", ".join(t["target"] for t in targets))
    result["selection"] = selection
    before = snapshot(conn, targets)
    results = []
    for target in targets:
        entry = {"target": target["target"], "kind": target["kind"], "statement": target["statement"],
                 "reasons": target["reasons"], "status": "planned", "before": before.get(target["target"])}
        results.append(entry)
    result["results"] = results
    if module.check_mode or not work:
        result["changed"] = bool(work)
        if module.diff_mode and work:
            result["diff"] = {"before": before, "after": {t["target"]: {"planned": t["statement"]} for t in targets}}
        return result
    drop_failures = run_drops(module, conn, result, drops)
    for target, entry in zip(targets, results):
        if connection_lost(conn):
            entry.update(status="not_run", error="not run: the connection to PostgreSQL was lost before it")
            continue
        del conn.notices[:]
        started = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(target["sql"])
        except psycopg_errors() as exc:
            entry.update(status="failed", error=explain(exc))
            if connection_lost(conn):
                entry["error"] = "the connection to PostgreSQL was lost during the statement (server restart or crash?): %s" \
                    % entry["error"]
        else:
            entry["status"] = "ok"
            module.evidence.executed(action, target=target["target"], sql=target["statement"])
            module.evidence.count("relations_processed" if target["kind"] != "database" else "databases_processed")
        entry["duration_ms"] = round((time.monotonic() - started) * 1000.0, 3)
        notices = [n.strip() for n in conn.notices if n.strip()]
        if notices:
            entry["notices"] = notices[-10:]
    lost = connection_lost(conn)
    after = snapshot(conn, targets) if not lost else {}
    for entry in results:
        entry["after"] = after.get(entry["target"])
    if action == "reindex":
        remaining, scan_error = scan_after(module, conn, database)
        result["invalid_indexes"]["after"] = remaining
        if scan_error:
            result["invalid_indexes"]["error"] = scan_error
        before_names = {e["index"] for e in result["invalid_indexes"]["before"]}
        if remaining:
            new = [e for e in remaining if e["index"] not in before_names]
            if new:
                module.warn("this run left %d invalid indexes in database %s: %s; rerun with drop_invalid_indexes=true to remove "
                            "them, then reindex again" % (len(new), database, describe_invalid(new)))
            for entry in results:
                if entry["status"] == "failed":
                    mine = [e["index"] for e in remaining if e["table"] == entry["target"] or e["index"] == entry["target"]]
                    if mine:
                        entry["invalid_indexes"] = mine
                        entry["error"] += "; the failed REINDEX CONCURRENTLY left invalid indexes %s: rerun with " \
                            "drop_invalid_indexes=true to DROP INDEX CONCURRENTLY them" % ", ".join(mine)
    ok = [e for e in results if e["status"] == "ok"]
    result["changed"] = bool(ok) or bool(result.get("invalid_indexes", {}).get("dropped"))
    if module.diff_mode:
        result["diff"] = {"before": before, "after": after}
    failed = [e for e in results if e["status"] in ("failed", "not_run")]
    if failed or drop_failures:
        counts = "%d of %d %s statements ok" % (len(ok), len(results), action.upper())
        if lost:
            msg = ("The connection to PostgreSQL (database %s) was lost part-way (server restart or crash?): %s; %d not run. "
                   "Done so far: %s. Rerun to finish (it continues with what is left%s)." % (
                       database, counts, len([e for e in results if e["status"] == "not_run"]),
                       ", ".join(e["target"] for e in ok) or "nothing",
                       "; add drop_invalid_indexes=true to remove the invalid indexes the interruption left" if action == "reindex" else ""))
        else:
            msg = "%s; failed: %s. The others ran; see results." % (counts, "; ".join(
                ["%s: %s" % (e["target"], e["error"]) for e in failed[:5]] + drop_failures[:5]))
        raise SarkOperationError(msg, changed=result["changed"], results=results, selection=selection,
                                 invalid_indexes=result.get("invalid_indexes"), connection_lost=lost)
    return result


def run(module):
    params = module.params
    validate_params(params)

    def work(conn, result, setup):
        result["state"] = params["state"]
        # unknown or unsafe names fail here, before anything is selected
        resolve_relations(conn, params["tables"], TABLE_KINDS, "tables")
        resolve_relations(conn, params["indexes"], INDEX_KINDS, "indexes")
        return run_tables(module, conn, result, setup)

    result = locked_session(module, params["pg_database"], MODULE, work, partial_keys=("results", "selection", "invalid_indexes"))
    result.update(module.actions())
    return result


def main():
    spec = dict(
        state=dict(type="str", required=True, choices=list(TABLE_ACTIONS)),
        tables=dict(type="list", elements="str", default=[]),
        indexes=dict(type="list", elements="str", default=[]),
        analyze=dict(type="bool", default=True),
        freeze=dict(type="bool", default=False),
        full=dict(type="bool", default=False),
        confirm_full=dict(type="bool", default=False),
        concurrently=dict(type="bool", default=True),
        min_dead_tuple_ratio=dict(type="float"),
        min_dead_tuples=dict(type="int"),
        last_run_older_than=dict(type="float", aliases=["last_vacuum_older_than"]),
        max_tables=dict(type="int", default=50),
        drop_invalid_indexes=dict(type="bool", default=False),
    )
    sark_main(run, spec, (postgres_argument_spec, session_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
