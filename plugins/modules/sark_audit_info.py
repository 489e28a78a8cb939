#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_audit_info
short_description: Read SARK's audit database - events per hour and gaps, severities, CRITICAL events, policy and session statistics
version_added: 0.1.0
description:
  - Reads the audit events of a SARK deployment in either layout - the C(runbook) layout (C(audit_events.time),
    lower-case labels, C(login_time)/C(logout_time), a C(policy_evaluations) table) or C(sark_v2) (C(audit_events.timestamp),
    event types C(USER_LOGIN)/C(USER_LOGOUT), no policy table). Enum labels are read from C(pg_enum) and matched
    regardless of case, so tables made by SARK's ORM (UPPER CASE) and by migrations (lower case) both work.
  - V(events_per_hour) - events in each whole hour of the window and the hours that have none (the "gaps" query of
    "Audit Events Not Recording").
  - V(by_severity), V(by_type) - counts over the window, every label listed, zeros included.
  - V(critical) - CRITICAL events of the last O(critical_minutes) (the "Security Incident - identify scope" query).
  - V(policy_evaluations) - per policy, evaluations, allowed, denied and durations from C(policy_evaluations)
    ("View Policy Statistics"); in C(sark_v2), which has no such table, from the authorization events in C(audit_events)
    (per tool, without durations).
  - V(sessions) - session durations ("Session Metrics") from C(logout_time - login_time) where the table has those
    columns, else by pairing each logout with the same user's preceding login; not available when neither works.
  - V(storage) - table size, row estimate, oldest and newest event and, with TimescaleDB, hypertable, chunks,
    compression and retention/compression policies.
options:
  filter:
    description:
      - Limit the subsets gathered. Shell-style wildcards are allowed; a leading V(!) excludes.
      - Subsets are V(events_per_hour), V(by_severity), V(by_type), V(critical), V(policy_evaluations), V(sessions) and V(storage).
      - Unknown names are refused.
    type: list
    elements: str
    default: []
  window_hours:
    description: How many whole hours back the hourly counts, severity/type counts, policy and session statistics look (at most 2160).
    type: int
    default: 24
  critical_minutes:
    description: How many minutes back RV(critical) looks (the runbook uses 60).
    type: int
    default: 60
  critical_limit:
    description: At most this many CRITICAL events are returned, newest first (the C(count) in RV(critical) counts them all).
    type: int
    default: 20
  session_lookback_hours:
    description: When pairing login and logout events, how far before the window a session's login may lie.
    type: int
    default: 24
  top_n:
    description: At most this many policy (or tool) groups in RV(policy_evaluations).
    type: int
    default: 20
  details_max_length:
    description: Nested values (event C(details)) longer than this many characters of JSON are shortened.
    type: int
    default: 500
extends_documentation_fragment:
  - sark.ops.postgres
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
notes:
  - Connects to O(pg_database), or when it is not set to the layout's audit database (V(sark_audit)). In C(sark_v2)
    both C(sark) and C(sark_audit) hold an C(audit_events) table - name the one SARK writes to.
  - Hours are whole UTC hours; the current, unfinished hour is reported apart (C(current_hour_so_far) in RV(events_per_hour)),
    never as a gap.
  - The hours before the first event ever recorded are not gaps (the trail had not begun); when no event exists at all the
    assessment says so instead of reporting every hour as a gap.
  - Works the same with or without TimescaleDB (plain SQL - C(date_trunc) and C(generate_series), no C(time_bucket));
    only V(storage) says more when the extension is there. See C(docs/timescaledb.md).
seealso:
  - module: sark.ops.sark_pg_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Audit events not recording - where are the gaps?
  sark.ops.sark_audit_info:
    pg_host: timescaledb.sark.svc
    pg_password: "{{ vault_pg_password }}"
    layout: sark_v2
    filter: [events_per_hour]
    window_hours: 24
  register: audit

- name: Security incident - CRITICAL events of the last hour
  sark.ops.sark_audit_info:
    filter: [critical]
    critical_minutes: 60
    critical_limit: 100

- name: Weekly security review - severities over 7 days
  sark.ops.sark_audit_info:
    filter: [by_severity]
    window_hours: 168

- name: Policy statistics and session durations of the last 24 hours
  sark.ops.sark_audit_info:
    filter: [policy_evaluations, sessions]
'''

RETURN = r'''
database:
  description: The database read.
  returned: always
  type: str
  sample: sark_audit
layout:
  description: The layout used.
  returned: always
  type: str
  sample: sark_v2
schema:
  description: The audit table as found - C(table), C(time_column), enum C(labels) of severity and event_type, C(label_case) and C(columns).
  returned: always
  type: dict
  sample: {"table": "public.audit_events", "time_column": "timestamp", "label_case": "upper",
           "labels": {"severity": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]}}
events_per_hour:
  description:
    - C(hours) (each C(hour) start and its C(events); C(before_first_event=true) on hours before the first event ever recorded),
      C(gaps) (hours without events, counted only from the hour of the first recorded event on), C(empty_hours), C(total),
      C(min_per_hour), C(max_per_hour), C(window_start), C(window_end) and C(current_hour_so_far).
    - C(events_recorded) (false when the table holds no event at all - then there are no gaps, and the assessment says that
      nothing was ever recorded), C(first_event) and C(hours_before_first_event).
  returned: when selected
  type: dict
  sample: {"gaps": ["2026-01-02T03:00:00+00:00"], "empty_hours": 1, "total": 138, "window_hours": 24}
by_severity:
  description: C(counts) per severity label (every label, zeros included) and C(total) over the window.
  returned: when selected
  type: dict
  sample: {"counts": {"low": 100, "high": 30, "critical": 8, "medium": 0}, "total": 138, "window_hours": 24}
by_type:
  description: C(counts) per event type label and C(total) over the window.
  returned: when selected
  type: dict
critical:
  description: C(count) of CRITICAL events in the last O(critical_minutes), the newest C(events) (whole rows), the C(label) matched and C(truncated).
  returned: when selected
  type: dict
  sample: {"count": 2, "label": ["CRITICAL"], "minutes": 60, "truncated": false, "events": [{"event_type": "SECURITY_VIOLATION"}]}
policy_evaluations:
  description:
    - C(available), C(source) (the table read), C(group_by) (V(policy_name) or V(tool_name)), C(groups) (C(name),
      C(evaluations), C(allowed), C(denied), C(avg_duration_ms), C(p95_duration_ms), C(max_duration_ms)), C(totals)
      with C(deny_ratio), and a C(note) or C(reason) when the layout has no policy table.
  returned: when selected
  type: dict
sessions:
  description:
    - C(available), C(method) (V(login_logout_columns) or V(paired_events)), C(sessions), C(avg_s), C(min_s), C(max_s),
      C(p50_s), C(p95_s); with pairing also C(unpaired_logouts) and C(open_sessions); C(reason) when not available.
  returned: when selected
  type: dict
  sample: {"available": true, "method": "paired_events", "sessions": 2, "avg_s": 1200.0}
storage:
  description: C(size_bytes), C(rows_estimate), C(oldest), C(newest) and C(timescaledb) (C(installed), C(version), C(hypertable), C(chunks), ...).
  returned: when selected
  type: dict
assessment:
  description: C(verdict) (V(ok) or V(warning)) and C(findings) - gaps in the audit trail, recent CRITICAL events.
  returned: always
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, match_filter, sark_main
from ansible_collections.sark.ops.plugins.module_utils._pg_audit import (
    SUBSETS,
    AuditTable,
    assess,
    counts_by,
    critical,
    hourly,
    policy_evaluations,
    sessions,
    storage,
    validate_params,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import connect, postgres_argument_spec, psycopg_errors


def gather(name, table, params):
    if name == "events_per_hour":
        return hourly(table, params["window_hours"])
    if name == "by_severity":
        return counts_by(table, "severity", params["window_hours"])
    if name == "by_type":
        return counts_by(table, "event_type", params["window_hours"])
    if name == "critical":
        return critical(table, params["critical_minutes"], params["critical_limit"], params["details_max_length"])
    if name == "policy_evaluations":
        return policy_evaluations(table, params["window_hours"], params["top_n"])
    if name == "sessions":
        return sessions(table, params["window_hours"], params["session_lookback_hours"])
    return storage(table)


def run(module):
    params = module.params
    validate_params(params)
    layout = Layout.from_params(params)
    database = params.get("pg_database") or layout.template("audit_database")
    subsets = match_filter(SUBSETS, params["filter"])
    conn = connect(params, dbname=database, module_name="sark_audit_info")
    try:
        with conn.cursor() as cur:
            # whole UTC hours, and never hang a job on a lock or a huge scan
            cur.execute("SET TIME ZONE 'UTC'; SET statement_timeout = '60s'; SET default_transaction_read_only = on")
        try:
            table = AuditTable(conn, layout, database)
        except psycopg_errors() as exc:
            raise SarkOperationError("Reading the catalog of %s failed: %s" % (database, str(exc).strip())) from exc
        result = {"database": database, "layout": layout.name, "subsets": subsets, "schema": table.describe()}
        for name in subsets:
            try:
                result[name] = gather(name, table, params)
            except psycopg_errors() as exc:
                raise SarkOperationError("Reading %s from %s.%s in %s failed: %s. Does %s have SELECT on it?" % (
                    name, table.schema, table.name, database, str(exc).strip(), params["pg_user"]), subset=name) from exc
            module.evidence.count("subsets")
    finally:
        conn.close()
    result["assessment"] = assess(result, params["critical_minutes"])
    return result


def main():
    spec = dict(
        filter=dict(type="list", elements="str", default=[]),
        window_hours=dict(type="int", default=24),
        critical_minutes=dict(type="int", default=60),
        critical_limit=dict(type="int", default=20),
        session_lookback_hours=dict(type="int", default=24),
        top_n=dict(type="int", default=20),
        details_max_length=dict(type="int", default=500),
    )
    sark_main(run, spec, (postgres_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
