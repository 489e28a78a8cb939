#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_pg_backend
short_description: Cancel and terminate runaway PostgreSQL backends of SARK, safely
version_added: 0.2.0
description:
  - Ends long-running queries and idle connections as the runbooks do with C(psql) ("Kill Long-Running Queries", the
    "Too Many Connections" and "High Latency" fixes), with the guard rails the runbooks leave to the operator.
  - B(Backends) are chosen by a filter (O(pids), O(databases), O(users), O(application_names), O(states),
    O(min_duration); all given filters must hold, at least one is required). V(cancel) cancels the
    running query (C(pg_cancel_backend)); with O(escalate=true) every backend still matching the filter after
    O(grace_period) seconds is then terminated. V(terminate) ends the sessions (C(pg_terminate_backend)).
  - The module's own connection, every non-client backend (WAL senders to replicas, autovacuum, background
    and parallel workers) and every other sark.ops connection (C(application_name) V(sark.ops/*)) are never
    signalled. More matches than O(max_backends) refuses the whole run, signalling nothing.
  - Every statement runs under O(lock_timeout) and O(statement_timeout). The maintenance advisory lock of
    M(sark.ops.sark_pg_maintenance) keeps two runs on the same database from overlapping; a second run fails naming
    the holder (or waits O(lock_wait) seconds).
  - Table maintenance (VACUUM, ANALYZE, REINDEX) is M(sark.ops.sark_pg_maintenance)'s job.
options:
  state:
    description:
      - V(cancel) cancels the running query of each matching backend, V(terminate) ends its session.
    type: str
    required: true
    choices: [cancel, terminate]
  pids:
    description: Backend process ids to signal (for "Kill specific query").
    type: list
    elements: int
    default: []
  databases:
    description: Only backends connected to these databases. Shell wildcards; a leading V(!) excludes.
    type: list
    elements: str
    default: []
  users:
    description: Only backends of these roles. Shell wildcards; a leading V(!) excludes.
    type: list
    elements: str
    default: []
  application_names:
    description:
      - Only backends with these C(application_name)s. Shell wildcards; a leading V(!) excludes; V('') matches
        backends that set none.
    type: list
    elements: str
    default: []
  states:
    description: Only backends in these C(pg_stat_activity) states.
    type: list
    elements: str
    choices: [active, idle, idle in transaction, idle in transaction (aborted), fastpath function call, disabled]
    default: []
  min_duration:
    description:
      - Only backends that have been in their current state for at least this many seconds (since C(state_change);
        for an active backend that is when its query started).
    type: float
  max_backends:
    description: Refuse - signalling nothing - when more backends than this match the filter.
    type: int
    default: 10
  escalate:
    description:
      - With O(state=cancel), terminate every cancelled backend that, after O(grace_period) seconds, is
        still the same backend and still matches the filter. A cancelled query makes its backend idle, so only
        backends the cancel did not help (a stuck query, an idle transaction) are terminated.
    type: bool
    default: false
  grace_period:
    description: Seconds between the cancel and the escalation to terminate, and the most the module waits for terminated backends to exit.
    type: float
    default: 10
  query_max_length:
    description: Characters of each backend's query text to return. Literals after C(PASSWORD) are masked.
    type: int
    default: 200
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
      - Validates the filter against the server, then returns the exact statements it would run (RV(planned_actions))
        and the backends, and sets C(changed) to whether there is anything to signal.
  diff_mode:
    support: full
    details:
      - Before/after list of matching backends.
  idempotent:
    support: full
    details:
      - A second run finds no matching backend (a cancelled query is no longer active; a terminated session is gone) and
        reports C(changed=false).
notes:
  - Connects to O(pg_database), or V(postgres) when it is not set, and sees the backends of every database.
  - Needs C(pg_signal_backend) and C(pg_read_all_stats) to signal other roles' backends.
seealso:
  - module: sark.ops.sark_pg_info
    description: Long-running queries and connection counts to decide what to end.
  - module: sark.ops.sark_pg_maintenance
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Cancel queries running longer than 5 minutes, terminate the ones that do not stop within 10 s
  sark.ops.sark_pg_backend:
    state: cancel
    databases: [sark]
    states: [active]
    min_duration: 300
    escalate: true
    grace_period: 10
    max_backends: 20

- name: Too many connections - end sessions idle for more than 5 minutes
  sark.ops.sark_pg_backend:
    state: terminate
    states: [idle]
    min_duration: 300
    users: [sark]
    max_backends: 50

- name: Kill one query by pid (runbook "Kill specific query")
  sark.ops.sark_pg_backend:
    state: terminate
    pids: [12345]
'''

RETURN = r'''
state:
  description: The state asked for.
  returned: always
  type: str
  sample: terminate
database:
  description: The database the module connected to.
  returned: always
  type: str
  sample: postgres
own_pid:
  description: Process id of the module's own connection (never signalled).
  returned: always
  type: int
  sample: 4711
planned_actions:
  description: The signal statements this run sends (or in check mode would send), in order, from the evidence record.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "pg_terminate_backend", "pid": 12345,
            "sql": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = 12345 AND backend_start = '...'"}]
executed_actions:
  description: The signals PostgreSQL sent, from the evidence record (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "pg_terminate_backend", "pid": 12345, "outcome": "terminated", "sql": "SELECT pg_terminate_backend(pid) ..."}]
matched:
  description: Number of backends that matched the filter and may be signalled.
  returned: always
  type: int
  sample: 3
backends:
  description: The matching backends.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 12345, "user": "sark", "database": "sark", "application_name": "sark-api", "state": "idle",
            "state_duration_s": 320.5, "query": "SELECT ...", "outcome": "terminated", "exited": true}]
  contains:
    pid:
      description: The backend's process id.
      type: int
      returned: always
    user:
      description: Its role.
      type: str
      returned: always
    database:
      description: Its database.
      type: str
      returned: always
    application_name:
      description: Its C(application_name).
      type: str
      returned: always
    client_addr:
      description: Its client address.
      type: str
      returned: always
    state:
      description: Its C(pg_stat_activity) state.
      type: str
      returned: always
    backend_type:
      description: Its backend type.
      type: str
      returned: always
    state_duration_s:
      description: Seconds in its current state.
      type: float
      returned: always
    backend_start:
      description: When the backend started.
      type: str
      returned: always
    query:
      description: Its query, shortened to O(query_max_length), literals after C(PASSWORD) masked.
      type: str
      returned: always
    sql:
      description: The signal statement.
      type: str
      returned: always
    escalation_sql:
      description: The terminate statement of an escalation.
      type: str
      returned: with escalate
    outcome:
      description: V(planned), V(cancelled), V(terminated), V(gone) or V(failed).
      type: str
      returned: always
    escalated:
      description: Whether the cancel was escalated to a terminate.
      type: bool
      returned: when escalated
    exited:
      description: Whether a terminated backend exited within O(grace_period).
      type: bool
      returned: after a terminate
    error:
      description: Why the signal failed.
      type: str
      returned: when the outcome is failed
protected:
  description:
    - Backends that matched the filter but are never signalled, counted by reason - V(own_connection),
      V(not_client_backend) (WAL senders, autovacuum, workers) and V(sark_ops_connection).
  returned: always
  type: dict
  sample: {"not_client_backend": 2}
signalled:
  description: Counts of successful C(cancelled) and C(terminated) signals.
  returned: always
  type: dict
  sample: {"cancelled": 3, "terminated": 0}
pids_not_matched:
  description: For each pid of O(pids) that was not signalled, why - not a backend of this server, a protected backend, or not matching the other filters.
  returned: when pids names a pid that is not signalled
  type: dict
  sample: {"1": "is not a backend of this PostgreSQL server (not in pg_stat_activity: another process, or already gone)"}
lock:
  description: The maintenance advisory lock - C(key), whether this run C(acquired) it, and the C(holder) seen in check mode.
  returned: always
  type: dict
  sample: {"key": 5999166662007215171, "acquired": true}
diff:
  description: The matching backends before and after (with C(--diff)).
  returned: when diff mode is on and a backend matched
  type: dict
  sample: {"before": {"backends": [12345]}, "after": {"backends": []}}
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkLimitError, SarkOperationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._pg_backend import (
    BACKEND_FILTERS,
    BACKEND_STATES,
    SIGNALS,
    list_activity,
    select_backends,
    signal,
    signal_statement,
    summarize,
    unmatched_pids,
    validate_backend_params,
    wait_until,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import locked_session, session_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec

MODULE = "sark_pg_backend"


def plan(module, conn, targets, summaries, first):
    """The signal statements, recorded in the evidence: one per backend, and the terminate each would get after a cancel."""
    params = module.params
    for row, summary in zip(targets, summaries):
        summary["sql"] = signal_statement(conn, first, row["pid"], row["backend_start"])
        module.evidence.plan(first, pid=row["pid"], sql=summary["sql"])
    for row, summary in zip(targets, summaries):
        if params["escalate"]:
            summary["escalation_sql"] = signal_statement(conn, "pg_terminate_backend", row["pid"], row["backend_start"])
            module.evidence.plan("pg_terminate_backend", pid=row["pid"], sql=summary["escalation_sql"],
                                 when="after %ss if still matching the filter" % params["grace_period"])


def signal_backends(module, conn, result):
    params = module.params
    flt = {name: params[name] for name in BACKEND_FILTERS}
    activity = list_activity(conn)
    targets, protected = select_backends(activity, flt)
    result.update(matched=len(targets), protected=protected, signalled={"cancelled": 0, "terminated": 0})
    unmatched = unmatched_pids(params["pids"], activity, targets)
    if unmatched:
        result["pids_not_matched"] = unmatched
        module.warn("pids not signalled: %s" % "; ".join("%s %s" % (pid, why) for pid, why in sorted(unmatched.items(), key=lambda i: int(i[0]))))
    summaries = [summarize(row, params) for row in targets]
    if len(targets) > params["max_backends"]:
        raise SarkLimitError("%d backends match the filter, more than max_backends=%d: nothing was signalled. Narrow the filter "
                             "(states, min_duration, databases, users, application_names, pids) or raise max_backends."
                             % (len(targets), params["max_backends"]), matched=len(targets), backends=summaries[:20],
                             protected=protected)
    first = SIGNALS[params["state"]]
    plan(module, conn, targets, summaries, first)
    idle = [s["pid"] for s in summaries if s["state"] and s["state"].startswith("idle")]
    if params["state"] == "cancel" and idle and not params["escalate"]:
        module.warn("pg_cancel_backend only stops a running query: it does nothing to the idle or idle-in-transaction "
                    "backends %s. Use state=terminate or escalate=true to end them." % idle)
    result["backends"] = summaries
    before_pids = sorted(s["pid"] for s in summaries)
    if module.check_mode or not targets:
        for summary in summaries:
            summary["outcome"] = "planned"
        result["changed"] = bool(targets)
        if module.diff_mode and targets:
            result["diff"] = {"before": {"backends": before_pids}, "after": {"backends": []}}
        return result
    failures = []
    for row, summary in zip(targets, summaries):
        sent, error = signal(module.evidence, conn, summary["sql"], row["pid"], first)
        if error:
            summary["outcome"], summary["error"] = "failed", error
            failures.append(summary)
        elif sent:
            summary["outcome"] = "cancelled" if first == "pg_cancel_backend" else "terminated"
            result["signalled"][summary["outcome"]] += 1
        else:
            summary["outcome"] = "gone"
    by_pid = {row["pid"]: (row, summary) for row, summary in zip(targets, summaries)}
    if params["escalate"]:
        cancelled = [row for row, summary in by_pid.values() if summary["outcome"] == "cancelled"]
        stubborn = wait_until(conn, cancelled, flt, params["grace_period"], need_match=True)
        for pid in sorted(stubborn):
            row, summary = by_pid[pid]
            sent, error = signal(module.evidence, conn, summary["escalation_sql"], pid, "pg_terminate_backend")
            summary["escalated"] = True
            if error:
                summary["outcome"], summary["error"] = "failed", error
                failures.append(summary)
            elif sent:
                summary["outcome"] = "terminated"
                result["signalled"]["terminated"] += 1
    terminated = [by_pid[s["pid"]][0] for s in summaries if s["outcome"] == "terminated"]
    alive = wait_until(conn, terminated, flt, params["grace_period"], need_match=False) if terminated else {}
    for summary in summaries:
        if summary["outcome"] == "terminated":
            summary["exited"] = summary["pid"] not in alive
    result["changed"] = bool(result["signalled"]["cancelled"] or result["signalled"]["terminated"])
    if module.diff_mode:
        remaining = wait_until(conn, targets, flt, 0, need_match=True)
        result["diff"] = {"before": {"backends": before_pids}, "after": {"backends": sorted(remaining)}}
    if failures:
        raise SarkOperationError("Signalling %d of %d backends failed: %s" % (
            len(failures), len(targets), "; ".join("pid %s: %s" % (f["pid"], f["error"]) for f in failures[:5])),
            changed=result["changed"], backends=summaries)
    return result


def run(module):
    params = module.params
    validate_backend_params(params)

    def work(conn, result, _setup):
        result["state"] = params["state"]
        return signal_backends(module, conn, result)

    result = locked_session(module, params.get("pg_database") or "postgres", MODULE, work, partial_keys=("backends",))
    result.update(module.actions())
    return result


def main():
    spec = dict(
        state=dict(type="str", required=True, choices=list(SIGNALS)),
        pids=dict(type="list", elements="int", default=[]),
        databases=dict(type="list", elements="str", default=[]),
        users=dict(type="list", elements="str", default=[]),
        application_names=dict(type="list", elements="str", default=[]),
        states=dict(type="list", elements="str", default=[], choices=list(BACKEND_STATES)),
        min_duration=dict(type="float"),
        max_backends=dict(type="int", default=10),
        escalate=dict(type="bool", default=False),
        grace_period=dict(type="float", default=10),
        query_max_length=dict(type="int", default=200),
    )
    sark_main(run, spec, (postgres_argument_spec, session_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
