#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_incident_record
short_description: Record what was checked, changed and decided during a SARK incident in its timeline
version_added: 0.2.0
description:
  - Appends timestamped entries to the incident's JSON-lines timeline C(<run_dir>/timeline.jsonl) - who (the AWX user
    when the job runs from AWX, else the local user), the phase, what was checked or changed, and the result - and
    returns the whole timeline, which roles and playbooks publish with C(ansible.builtin.set_stats).
  - Entries are identified by id. An entry already in the timeline is not written again, so a rerun of a playbook does
    not duplicate its timeline; an entry is never rewritten - the same id with other content fails. Without an id, the
    id is derived from the entry's content, its O(entries[].time) when given, and O(run_id).
  - The file is rewritten whole through a temporary file and a rename (it is complete or unchanged, never half
    written), under an exclusive lock (C(<run_dir>/.timeline.lock)) so concurrent tasks do not lose entries.
  - With O(audit_db=true) every entry of the timeline that is not yet in the layout's audit table (C(audit_events) in
    V(sark_audit)) is inserted there as well, with the layout's event type (V(announcement) in the runbook layout; set
    C(layout_templates.incident_event_type) for C(sark_v2), which has no such label), the incident's severity mapped to
    the table's severity labels (P0 critical, P1 high, P2 medium, P3 low) and the entry in C(details). The entry id
    in C(details) (and a deterministic C(id) where the table has a uuid id column) makes the insert idempotent.
  - Automates "Start incident log" (seed 002 Phase 1) and the Scribe's "Documents timeline" (Phase 2); the timeline is
    the source of the communication and post-incident documents (seed 002 Phases 5 and 7).
options:
  run_dir:
    description: Directory of this incident run; holds C(timeline.jsonl). Created (mode 0750) when missing.
    type: path
    required: true
  incident_id:
    description:
      - The incident's id (1-100 letters, digits and C(.), C(_), C(:), C(-)), for example V(INC-2025-11-22-001).
      - A timeline holds one incident.
    type: str
    required: true
  state:
    description: V(present) - the entries are in the timeline (and in the audit table with O(audit_db)).
    type: str
    choices: [present]
    default: present
  entries:
    description: The entries to record. An empty list records nothing and returns the timeline.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description:
          - Entry id (1-200 letters, digits and C(.), C(_), C(:), C(@), C(/), C(-)).
          - Default - derived from the content (see above).
        type: str
      phase:
        description: Incident phase (seed 002 Incident Response Process).
        type: str
        required: true
        choices: [detection, triage, diagnose, remediate, verify, communication, recovery, post_incident, note]
      kind:
        description: What the entry is.
        type: str
        choices: [check, change, decision, note, communication, alert]
        default: note
      action:
        description: What was checked or changed, in one line (at most 2000 characters).
        type: str
        required: true
      status:
        description: The verdict or outcome.
        type: str
        choices: [ok, warning, critical, unknown, failed, changed, skipped, info]
      result:
        description: The result (any JSON data - a figure, a message, a dict). Keys that look like secrets are masked.
        type: raw
      details:
        description: Further data (a dict). Keys that look like secrets are masked.
        type: dict
      time:
        description: When it happened (ISO 8601; without an offset taken as UTC). Default - now.
        type: str
  severity:
    description: The incident's level (see the P(sark.ops.incident_severity#filter) filter), stored in each new entry.
    type: str
    choices: [P0, P1, P2, P3]
  actor:
    description:
      - Who records the entries. The action plugin sets it - the AWX user (C(tower_user_name) or C(awx_user_name)
        extra vars, which AWX sets) when present, else the user running ansible-playbook. Set it only to override.
      - When the module runs without its action plugin and no actor is given, the local user of the module process.
    type: str
  actor_source:
    description: Where O(actor) came from (the action plugin sets it).
    type: str
    choices: [explicit, awx, local]
  run_context:
    description:
      - Facts about the run stored in each new entry (the action plugin adds the AWX job id, job template and workflow
        job ids when AWX set them, and the playbook's host).
    type: dict
    default: {}
  run_id:
    description:
      - Part of derived entry ids.
      - Default - the AWX job id when running from AWX, otherwise none (then the same entry content is one entry across runs).
    type: str
  max_entries:
    description: The most entries a timeline may hold (a safety cap on the file read and rewritten each time).
    type: int
    default: 10000
  audit_db:
    description: Also write the timeline to the audit table (see above). Uses the PostgreSQL options; O(pg_database) defaults to the layout's audit database.
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.postgres
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads the timeline (and with O(audit_db) the audit table), returns the entries that would be added as
        C(planned_actions) and the timeline as it would be; writes nothing, creates no directory.
  diff_mode:
    support: full
    details:
      - The timeline file's lines before and after.
  idempotent:
    support: full
    details:
      - Entries are identified by id; recording them again changes nothing.
notes:
  - A line of the timeline that is not a JSON object with an id fails the task (the file was edited or truncated);
    nothing is written until it is fixed.
  - The timeline and the audit table get masked values for keys that look like secrets (password, token, secret, ...).
seealso:
  - plugin: sark.ops.incident_severity
    plugin_type: filter
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Record what diagnose found
  sark.ops.sark_incident_record:
    run_dir: "/var/lib/sark-ops/incidents/{{ incident_id }}"
    incident_id: "{{ incident_id }}"
    severity: P0
    entries:
      - id: diagnose-pg-connections
        phase: diagnose
        kind: check
        action: PostgreSQL connections against max_connections
        status: critical
        result: {connections: 98, max_connections: 100}
  register: incident

- name: Publish the timeline on the job (AWX shows it in the job's artifacts)
  ansible.builtin.set_stats:
    data:
      sark_incident_timeline: "{{ incident.timeline }}"

- name: Record a remediation and write the timeline to the audit database
  sark.ops.sark_incident_record:
    run_dir: "/var/lib/sark-ops/incidents/{{ incident_id }}"
    incident_id: "{{ incident_id }}"
    audit_db: true
    pg_host: db.example.internal
    pg_user: sark_ops
    pg_password: "{{ vault_pg_password }}"
    entries:
      - phase: remediate
        kind: change
        action: Terminated idle backends older than 5 minutes
        status: changed
        result: {terminated: 37}
'''

RETURN = r'''
timeline:
  description: Every entry of the timeline after this task, in recording order (as it would be, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Entry id.
      type: str
      returned: always
    incident_id:
      description: The incident.
      type: str
      returned: always
    time:
      description: When it happened (UTC, ISO 8601).
      type: str
      returned: always
    phase:
      description: Incident phase.
      type: str
      returned: always
    kind:
      description: V(check), V(change), V(decision), V(note), V(communication) or V(alert).
      type: str
      returned: always
    action:
      description: What was checked or changed.
      type: str
      returned: always
    status:
      description: Verdict or outcome (may be null).
      type: str
      returned: always
    result:
      description: The result.
      type: raw
      returned: always
    details:
      description: Further data.
      type: dict
      returned: always
    actor:
      description: Who recorded it.
      type: str
      returned: always
    actor_source:
      description: V(awx), V(explicit) or V(local).
      type: str
      returned: always
    severity:
      description: The incident level when recorded (may be null).
      type: str
      returned: always
    context:
      description: Run facts - AWX job id, host.
      type: dict
      returned: always
  sample:
    - id: diagnose-pg-connections
      incident_id: INC-2025-11-22-001
      time: "2025-11-22T10:20:00.000000Z"
      phase: diagnose
      kind: check
      action: PostgreSQL connections against max_connections
      status: critical
      result: {connections: 98, max_connections: 100}
      details: {}
      actor: jdoe
      actor_source: awx
      severity: P0
      context: {awx_job_id: "4711"}
timeline_path:
  description: The timeline file.
  returned: always
  type: str
  sample: /var/lib/sark-ops/incidents/INC-2025-11-22-001/timeline.jsonl
added:
  description: Ids of the entries added by this task (that would be added, in check mode).
  returned: always
  type: list
  elements: str
already_recorded:
  description: Ids of the given entries that were in the timeline already.
  returned: always
  type: list
  elements: str
entries_total:
  description: Number of entries in the timeline.
  returned: always
  type: int
actor:
  description: Who the new entries are recorded for, and where that came from.
  returned: always
  type: dict
  sample: {name: jdoe, source: awx}
audit:
  description:
    - With O(audit_db) - the database, table, the event type label used, and the entry ids inserted (to insert, in check
      mode) and already there.
  returned: when O(audit_db=true)
  type: dict
  sample: {database: sark_audit, table: public.audit_events, event_type: announcement, inserted: [e-1a2b3c4d5e6f7a8b], already_present: []}
planned_actions:
  description: What the task does or would do (create the directory, append entries, insert rows).
  returned: when something is or would be done
  type: list
  elements: dict
executed_actions:
  description: What was done.
  returned: when something is or would be done
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import getpass
import json
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

from ansible_collections.sark.ops.plugins.module_utils._files import AtomicFile, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._incident import (
    AUDIT_SEVERITY,
    LOCK_FILE,
    TIMELINE_FILE,
    audit_details,
    merge,
    normalise,
    pick_label,
    read_timeline,
    row_id,
    to_lines,
    validate_incident_id,
)
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    sark_main,
    utcnow,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_audit import AuditTable
from ansible_collections.sark.ops.plugins.module_utils._postgres import connect, pgsql, postgres_argument_spec, psycopg_errors


class TimelineLock:
    """An exclusive lock on <run_dir>/.timeline.lock while the timeline is read and rewritten."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise SarkOperationError(describe_os_error(exc, self.path, "lock"))
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
        return False


def resolve_actor(params):
    if params.get("actor"):
        return params["actor"], params.get("actor_source") or "explicit"
    try:
        return getpass.getuser(), "local"
    except (KeyError, OSError):
        return "uid-%d" % os.getuid(), "local"


def audit_write(module, layout, entries, severity_of):
    """Insert the timeline's entries that the audit table does not have yet; returns the audit summary."""
    params = module.params
    database = params.get("pg_database") or layout.template("audit_database")
    incident_id = params["incident_id"]
    event_wanted = layout.template("incident_event_type")
    conn = connect(params, dbname=database, module_name="sark_incident_record", autocommit=False)
    try:
        try:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = '60s'")
            table = AuditTable(conn, layout, database)
            missing = [c for c in ("event_type", "details") if not table.has(c)]
            if missing:
                raise SarkPreconditionError("%s.%s in %s has no column %s: it is not a SARK audit table"
                                            % (table.schema, table.name, database, ", ".join(missing)))
            event_label = pick_label(table.labels("event_type"), event_wanted, "event_type", "an incident entry")
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("SELECT ({d}::jsonb)->>'sark_ops_entry_id' FROM {t} WHERE ({d}::jsonb)->>'sark_ops_incident_id' = %s")
                            .format(d=pgsql.Identifier("details"), t=table.ident), (incident_id,))
                present = {row[0] for row in cur.fetchall()}
            conn.rollback()
            to_insert = [e for e in entries if e["id"] not in present]
            summary = {"database": database, "table": "%s.%s" % (table.schema, table.name), "event_type": event_label,
                       "inserted": [e["id"] for e in to_insert], "already_present": sorted(present & {e["id"] for e in entries})}
            if not to_insert:
                return summary
            for entry in to_insert:
                module.evidence.plan("insert_audit_row", database=database, table=summary["table"], entry_id=entry["id"])
            if module.check_mode:
                return summary
            with conn.cursor() as cur:
                for entry in to_insert:
                    columns = [table.time_column, "event_type", "details"]
                    values = [pgsql.SQL("%s::timestamptz"), pgsql.SQL("%s::{}").format(pgsql.SQL(table.columns["event_type"]["type"])),
                              pgsql.SQL("%s::{}").format(pgsql.SQL(table.columns["details"]["type"]))]
                    args = [entry["time"], event_label, json.dumps(audit_details(entry), sort_keys=True, default=str)]
                    if table.has("severity"):
                        level = severity_of(entry)
                        label = pick_label(table.labels("severity"), AUDIT_SEVERITY[level], "severity", "level %s" % level) \
                            if level else None
                        if label is not None:
                            columns.append("severity")
                            values.append(pgsql.SQL("%s::{}").format(pgsql.SQL(table.columns["severity"]["type"])))
                            args.append(label)
                    if table.has("id") and table.columns["id"]["type"] == "uuid":
                        columns.append("id")
                        values.append(pgsql.SQL("%s::uuid"))
                        args.append(row_id(incident_id, entry["id"]))
                    if table.has("user_id") and table.columns["user_id"]["type"] == "text" and entry.get("actor"):
                        columns.append("user_id")
                        values.append(pgsql.SQL("%s"))
                        args.append(entry["actor"])
                    cur.execute(pgsql.SQL("INSERT INTO {t} ({c}) VALUES ({v})").format(
                        t=table.ident, c=pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns),
                        v=pgsql.SQL(", ").join(values)), args)
            conn.commit()
            for entry in to_insert:
                module.evidence.executed("insert_audit_row", database=database, table=summary["table"], entry_id=entry["id"])
            module.evidence.set_count("audit_rows_inserted", len(to_insert))
            return summary
        except psycopg_errors() as exc:
            conn.rollback()
            raise SarkOperationError("Writing the incident timeline to %s failed: %s. Does %s have INSERT on the audit table?"
                                     % (database, str(exc).strip(), params["pg_user"])) from exc
    finally:
        conn.close()


def run(module):
    params = module.params
    incident_id = params["incident_id"]
    validate_incident_id(incident_id)
    if params["max_entries"] < 1 or params["max_entries"] > 1000000:
        raise SarkValidationError("max_entries must be between 1 and 1000000, got %s" % params["max_entries"])
    layout = Layout.from_params(params)
    if params["audit_db"]:
        layout.template("incident_event_type")  # fail before any work when the layout has no label for it
    actor, actor_source = resolve_actor(params)
    context = dict(params.get("run_context") or {})
    run_id = params.get("run_id") or context.get("awx_job_id")
    now = utcnow()
    new = [normalise(raw, index, incident_id, now, actor, actor_source, params.get("severity"), context,
                     str(run_id) if run_id is not None else None)
           for index, raw in enumerate(params["entries"] or [])]

    run_dir = os.path.abspath(params["run_dir"])
    path = os.path.join(run_dir, TIMELINE_FILE)
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise SarkValidationError("run_dir %s exists and is not a directory" % run_dir)
    changed = False
    if not os.path.isdir(run_dir):
        module.evidence.plan("create_run_dir", path=run_dir)
        changed = True
        if not module.check_mode:
            try:
                os.makedirs(run_dir, mode=0o750)
            except OSError as exc:
                raise SarkOperationError(describe_os_error(exc, run_dir, "create the directory"))
            module.evidence.executed("create_run_dir", path=run_dir)

    def record():
        existing, before_text = read_timeline(path, params["max_entries"])
        added, present = merge(existing, new, incident_id, path)
        if len(existing) + len(added) > params["max_entries"]:
            raise SarkPreconditionError("the timeline would hold %d entries, more than max_entries=%d: raise max_entries or start a new run_dir"
                                        % (len(existing) + len(added), params["max_entries"]))
        after_text = before_text + to_lines(added)
        if added:
            module.evidence.plan("append_entries", path=path, ids=[e["id"] for e in added])
            if not module.check_mode:
                with AtomicFile(path, mode=0o640) as handle:
                    handle.write(after_text)
                module.evidence.executed("append_entries", path=path, ids=[e["id"] for e in added])
        return existing + added, added, present, before_text, after_text

    if module.check_mode or not os.path.isdir(run_dir):
        timeline, added, present, before_text, after_text = record()
    else:
        with TimelineLock(run_dir):
            timeline, added, present, before_text, after_text = record()
    changed = changed or bool(added)
    module.evidence.set_count("entries_added", len(added))
    result = {"timeline": timeline, "timeline_path": path, "added": [e["id"] for e in added],
              "already_recorded": [e["id"] for e in present], "entries_total": len(timeline),
              "actor": {"name": actor, "source": actor_source}}
    if module.diff_mode:
        result["diff"] = {"before_header": path, "after_header": path, "before": before_text, "after": after_text}
    if params["audit_db"]:
        severity_default = params.get("severity")
        audit = audit_write(module, layout, timeline, lambda e: e.get("severity") or severity_default)
        result["audit"] = audit
        changed = changed or bool(audit["inserted"])
    result["changed"] = changed
    return result


def main():
    entry_spec = dict(
        id=dict(type="str"),
        phase=dict(type="str", required=True, choices=["detection", "triage", "diagnose", "remediate", "verify", "communication",
                                                       "recovery", "post_incident", "note"]),
        kind=dict(type="str", default="note", choices=["check", "change", "decision", "note", "communication", "alert"]),
        action=dict(type="str", required=True),
        status=dict(type="str", choices=["ok", "warning", "critical", "unknown", "failed", "changed", "skipped", "info"]),
        result=dict(type="raw"),
        details=dict(type="dict"),
        time=dict(type="str"),
    )
    spec = dict(
        run_dir=dict(type="path", required=True),
        incident_id=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present"]),
        entries=dict(type="list", elements="dict", default=[], options=entry_spec),
        severity=dict(type="str", choices=["P0", "P1", "P2", "P3"]),
        actor=dict(type="str"),
        actor_source=dict(type="str", choices=["explicit", "awx", "local"]),
        run_context=dict(type="dict", default={}),
        run_id=dict(type="str"),
        max_entries=dict(type="int", default=10000),
        audit_db=dict(type="bool", default=False),
    )
    sark_main(run, spec, (postgres_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
