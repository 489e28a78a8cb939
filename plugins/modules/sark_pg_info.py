#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_pg_info
short_description: Health and statistics of SARK's PostgreSQL
version_added: 0.1.0
description:
  - Checks that PostgreSQL answers and gathers what the runbooks read with C(psql) - server version,
    database sizes, connections by state against C(max_connections), long-running queries and replication
    status and lag (on a primary from C(pg_stat_replication), on a standby from the WAL receiver and the
    replay timestamp) - and judges them against the runbooks' thresholds.
  - For the "High Latency" playbook it also estimates table bloat, lists indexes never scanned, tables read
    mostly by sequential scans (missing-index candidates), the slowest statements from C(pg_stat_statements)
    when the extension is there, and the chains of backends blocked on locks with their root blocker.
  - Automates "Database Health Check", "View Active Connections", the "View long-running queries" part of
    "Kill Long-Running Queries", step 5 of the daily checklist, the first checks of the "Database Outage"
    and "Too Many Connections" playbooks, "Check slow queries" and "Check table bloat" of "High Latency", and
    AUDITRON's "Database Optimization" (index usage, missing indexes).
  - An unreachable server or a rejected login is reported (RV(is_available=false), RV(error),
    RV(error_kind)), not a task failure, unless O(fail_on_unavailable=true).
options:
  filter:
    description:
      - Limit the subsets gathered. Shell-style wildcards are allowed; a leading V(!) excludes.
      - Subsets are V(version), V(databases), V(connections), V(long_running), V(replication), V(bloat),
        V(unused_indexes), V(seq_scans), V(top_queries) and V(blocking_locks).
      - V(bloat), V(unused_indexes), V(seq_scans) and V(top_queries) describe the database connected to (O(pg_database)).
      - Unknown names are refused.
    type: list
    elements: str
    default: []
  long_running_threshold:
    description: Seconds a non-idle query must have run to be listed in RV(long_running) (the runbook uses 30).
    type: float
    default: 30
  query_max_length:
    description: Characters of each query text to return. Literals after C(PASSWORD) are masked.
    type: int
    default: 200
  connection_warning_ratio:
    description: Share of C(max_connections) in use above which the assessment warns (critical at 0.95).
    type: float
    default: 0.8
  replication_lag_warning:
    description: Replay lag in seconds above which the assessment warns.
    type: float
    default: 30
  top_n:
    description: At most this many rows in RV(bloat), RV(unused_indexes), RV(seq_scans) and RV(top_queries).
    type: int
    default: 10
  seq_scan_threshold:
    description: A table is listed in RV(seq_scans) after this many sequential scans, when they outnumber its index scans (the runbook uses 1000).
    type: int
    default: 1000
  bloat_min_bytes:
    description: Tables smaller than this are left out of RV(bloat) (on small tables the estimate is noise).
    type: int
    default: 10485760
  top_queries_order:
    description: What RV(top_queries) is sorted by (the runbooks sort by mean time).
    type: str
    choices: [mean_exec_time, total_exec_time, calls]
    default: mean_exec_time
  fail_on_unavailable:
    description: Fail the task when PostgreSQL cannot be reached instead of reporting RV(is_available=false).
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.postgres
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
notes:
  - Connects to O(pg_database), or to V(postgres) when it is not set. Database sizes are read for every
    database the user may connect to.
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Database health check
  sark.ops.sark_pg_info:
    pg_host: postgres.sark.svc
    pg_user: sark
    pg_password: "{{ vault_pg_password }}"
    pg_database: sark
  register: pg

- name: Queries running for more than five minutes
  sark.ops.sark_pg_info:
    filter: [long_running]
    long_running_threshold: 300

- name: High latency - slow queries, bloat, missing indexes, lock chains
  sark.ops.sark_pg_info:
    pg_database: sark
    filter: [top_queries, bloat, seq_scans, unused_indexes, blocking_locks]
    top_n: 10

- name: Replication lag on the standby
  sark.ops.sark_pg_info:
    pg_host: postgres-replica.sark.svc
    filter: [replication]
'''

RETURN = r'''
is_available:
  description: Whether PostgreSQL accepted the connection and answered.
  returned: always
  type: bool
  sample: true
error:
  description: Why PostgreSQL is not available.
  returned: when is_available is false
  type: str
error_kind:
  description: V(unreachable), V(auth), V(config), V(tls), V(timeout) or V(capacity).
  returned: when is_available is false
  type: str
  sample: auth
version:
  description: Server version (C(full), C(major), C(minor), C(server_version_num)) and whether it is in recovery.
  returned: when selected
  type: dict
  sample: {"full": "PostgreSQL 15.20 ...", "major": 15, "minor": 20, "server_version_num": 150020, "in_recovery": false}
databases:
  description: Size in bytes and pretty of each database the user can connect to, largest first.
  returned: when selected
  type: list
  elements: dict
  sample: [{"name": "sark", "size_bytes": 8000000, "size_pretty": "7813 kB"}]
connections:
  description: Total, per state, per database, C(max_connections), reserved slots, C(usage_ratio) and C(usage_percent).
  returned: when selected
  type: dict
  sample: {"total": 12, "by_state": {"active": 1, "idle": 11}, "max_connections": 100, "usage_ratio": 0.12, "usage_percent": 12.0}
long_running:
  description: Non-idle backends whose current query started more than O(long_running_threshold) seconds ago, longest first.
  returned: when selected
  type: list
  elements: dict
  sample: [{"pid": 4242, "duration_s": 312.5, "state": "active", "query": "SELECT pg_sleep(600)"}]
replication:
  description:
    - C(role) (V(primary) or V(standby)); on a primary the C(replicas) with state, sync state and lag; on a standby
      C(receiver) status and C(replay_lag_s).
  returned: when selected
  type: dict
  sample: {"role": "primary", "replicas": [{"client_addr": "10.0.0.5", "state": "streaming", "replay_lag_s": 0.01}]}
bloat:
  description:
    - Tables of at least O(bloat_min_bytes), most bloated first - C(schema), C(table), C(table_bytes), C(expected_bytes)
      (what the live rows need, from C(pg_stats) widths and the fillfactor), C(bloat_bytes), C(bloat_ratio), C(est_rows),
      C(n_live_tup), C(n_dead_tup), C(dead_ratio), C(last_vacuum). An estimate - sizes are pages as of the last VACUUM or ANALYZE.
  returned: when selected
  type: list
  elements: dict
  sample: [{"schema": "public", "table": "audit_events", "table_bytes": 104857600, "bloat_bytes": 73400320, "bloat_ratio": 0.7}]
unused_indexes:
  description:
    - C(indexes) never scanned (not unique, primary key or constraint indexes) with C(size_bytes) and C(definition),
      and C(stats_since) (when the statistics were last reset; null - since the cluster was created).
  returned: when selected
  type: dict
  sample: {"stats_since": null, "indexes": [{"schema": "public", "table": "servers", "index": "idx_servers_tags", "idx_scan": 0}]}
seq_scans:
  description:
    - Tables with at least O(seq_scan_threshold) sequential scans outnumbering their index scans - C(seq_scan), C(seq_tup_read),
      C(idx_scan), C(avg_rows_per_seq_scan), C(n_live_tup), C(table_bytes), C(has_indexes).
  returned: when selected
  type: list
  elements: dict
top_queries:
  description:
    - C(available); when true the C(queries) (C(query) masked and shortened, C(calls), C(mean_exec_time_ms), C(total_exec_time_ms),
      C(rows), C(cache_hit_percent), C(user), C(database)) sorted by C(order_by); when false the C(reason).
  returned: when selected
  type: dict
  sample: {"available": true, "order_by": "mean_exec_time", "queries": [{"query": "SELECT ...", "calls": 12, "mean_exec_time_ms": 250.3}]}
blocking_locks:
  description:
    - C(waiting) backends (C(pid), C(blocked_by), C(waiting_s), C(query), ...), the C(roots) that block them (holding locks,
      waiting on nobody; C(blocks) lists whom) and C(chains), each a list of pids from a root blocker down to a waiting backend.
  returned: when selected
  type: dict
  sample: {"waiting": [{"pid": 102, "blocked_by": [101]}], "roots": [{"pid": 101, "state": "idle in transaction", "blocks": [102]}],
           "chains": [[101, 102]]}
assessment:
  description: C(verdict) (V(ok), V(warning), V(critical)) and the C(findings) behind it.
  returned: always
  type: dict
  sample: {"verdict": "ok", "findings": []}
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import time

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkOperationError,
    SarkValidationError,
    match_filter,
    sark_main,
    unknown_filter_entries,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import (
    classify_error,
    connect,
    describe_target,
    postgres_argument_spec,
    psycopg_errors,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_stats import GATHERERS, assess

SUBSETS = tuple(GATHERERS)


def run(module):
    params = module.params
    unknown = unknown_filter_entries(SUBSETS, params["filter"])
    if unknown:
        raise SarkValidationError("filter: unknown subset(s) %s; known subsets: %s"
                                  % (", ".join(unknown), ", ".join(SUBSETS)))
    for option in ("long_running_threshold", "replication_lag_warning"):
        if params[option] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (option, params[option]))
    if params["query_max_length"] < 0:
        raise SarkValidationError("query_max_length must be 0 or more")
    if params["top_n"] < 1:
        raise SarkValidationError("top_n must be at least 1, got %s" % params["top_n"])
    for option in ("seq_scan_threshold", "bloat_min_bytes"):
        if params[option] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (option, params[option]))
    if not 0 < params["connection_warning_ratio"] <= 1:
        raise SarkValidationError("connection_warning_ratio must be between 0 and 1")
    subsets = match_filter(SUBSETS, params["filter"])
    target = describe_target(params, params.get("pg_database") or "postgres")
    started = time.monotonic()
    try:
        conn = connect(params, module_name="sark_pg_info")
    except SarkConnectionError as exc:
        if params["fail_on_unavailable"]:
            raise
        return {"is_available": False, "error": exc.msg, "error_kind": exc.kind, "target": target,
                "assessment": {"verdict": "critical", "findings": ["PostgreSQL unavailable: %s" % exc.kind]}}
    result = {"is_available": True, "target": target, "subsets": subsets,
              "connect_ms": round((time.monotonic() - started) * 1000.0, 3)}
    try:
        with conn.cursor() as cur:
            # an info module must never hang the job on a lock or a huge catalog
            cur.execute("SET statement_timeout = '30s'")
        for name in subsets:
            try:
                result[name] = GATHERERS[name](conn, params)
            except psycopg_errors() as exc:
                raise SarkOperationError("Reading %s from %s failed: %s. Does %s have the pg_monitor role?"
                                         % (name, target, str(exc).strip(), params["pg_user"]), subset=name) from exc
            module.evidence.count("subsets")
    except SarkOperationError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise classify_error(exc, params) from exc
    finally:
        conn.close()
    result["assessment"] = assess(result, params)
    return result


def main():
    spec = dict(
        filter=dict(type="list", elements="str", default=[]),
        long_running_threshold=dict(type="float", default=30),
        query_max_length=dict(type="int", default=200),
        connection_warning_ratio=dict(type="float", default=0.8),
        replication_lag_warning=dict(type="float", default=30),
        top_n=dict(type="int", default=10),
        seq_scan_threshold=dict(type="int", default=1000),
        bloat_min_bytes=dict(type="int", default=10485760),
        top_queries_order=dict(type="str", default="mean_exec_time", choices=["mean_exec_time", "total_exec_time", "calls"]),
        fail_on_unavailable=dict(type="bool", default=False),
    )
    sark_main(run, spec, (postgres_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
