# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident record (private): timeline entries, the JSON-lines timeline file, and audit-table rows.

An entry is one thing the responder (a person or a playbook) checked, changed, decided or said during an incident.
Entries are identified by id: recording the same entry twice is a no-op, so a rerun of a playbook does not
duplicate its timeline. The file is ``<run_dir>/timeline.jsonl``, one JSON object per line, in recording order.
"""

import datetime
import hashlib
import json
import os
import re
import uuid

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkPreconditionError,
    SarkValidationError,
    isoformat,
    mask_secrets,
)

TIMELINE_FILE = "timeline.jsonl"
LOCK_FILE = ".timeline.lock"
KINDS = ("check", "change", "decision", "note", "communication", "alert")
STATUSES = ("ok", "warning", "critical", "unknown", "failed", "changed", "skipped", "info")
PHASES = ("detection", "triage", "diagnose", "remediate", "verify", "communication", "recovery", "post_incident", "note")
INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")
# the fields that make an entry what it is: a rerun with the same id must agree on them
IDENTITY_FIELDS = ("phase", "kind", "action", "status", "result", "details")
# seed 002 severity -> the audit table's severity label (matched case-insensitively to pg_enum)
AUDIT_SEVERITY = {"P0": "critical", "P1": "high", "P2": "medium", "P3": "low"}
ID_NAMESPACE = uuid.UUID("5b8f0e2a-3c1d-4f6e-9a7b-0d2c4e6f8a10")
MAX_TEXT = 2000


def parse_time(value, name):
    """An ISO 8601 string -> aware UTC datetime (naive taken as UTC)."""
    text = str(value).strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise SarkValidationError("%s=%r is not an ISO 8601 time (for example 2025-11-22T10:05:00Z)" % (name, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def validate_incident_id(incident_id):
    if not incident_id or not INCIDENT_ID.match(incident_id):
        raise SarkValidationError("incident_id=%r: use 1-100 letters, digits and . _ : - (for example INC-2025-11-22-001)"
                                  % (incident_id,))


def derive_id(incident_id, run_id, entry):
    """A stable id from what the entry says (and the run), so the same entry recorded again is recognised."""
    basis = canonical([incident_id, run_id or "", entry.get("time") if entry.get("time_given") else ""]
                      + [entry.get(f) for f in IDENTITY_FIELDS])
    return "e-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def normalise(raw, index, incident_id, now, actor, actor_source, severity, context, run_id):
    """One entry as given -> the stored entry. Raises SarkValidationError naming the entry and the field."""
    where = "entries[%d]" % index
    for field in ("phase", "action"):
        if not str(raw.get(field) or "").strip():
            raise SarkValidationError("%s.%s is required: say which phase and what was checked or changed" % (where, field))
    phase = str(raw["phase"]).strip()
    if phase not in PHASES:
        raise SarkValidationError("%s.phase=%r: use one of %s" % (where, phase, ", ".join(PHASES)))
    kind = raw.get("kind") or "note"
    if kind not in KINDS:
        raise SarkValidationError("%s.kind=%r: use one of %s" % (where, kind, ", ".join(KINDS)))
    status = raw.get("status")
    if status is not None and status not in STATUSES:
        raise SarkValidationError("%s.status=%r: use one of %s" % (where, status, ", ".join(STATUSES)))
    action = str(raw["action"]).strip()
    if len(action) > MAX_TEXT:
        raise SarkValidationError("%s.action is %d characters long: keep it under %d and put the rest in details"
                                  % (where, len(action), MAX_TEXT))
    details = raw.get("details")
    if details is not None and not isinstance(details, dict):
        raise SarkValidationError("%s.details must be a dict, got %s" % (where, type(details).__name__))
    try:
        canonical(raw.get("result"))
        canonical(details)
    except (TypeError, ValueError) as exc:
        raise SarkValidationError("%s: result and details must be JSON data: %s" % (where, exc))
    time_given = raw.get("time") not in (None, "")
    moment = parse_time(raw["time"], where + ".time") if time_given else now
    entry = {
        "incident_id": incident_id,
        "time": isoformat(moment),
        "time_given": time_given,
        "phase": phase,
        "kind": kind,
        "action": action,
        "status": status,
        # a secret-looking key (password, token, ...) never reaches the timeline or the audit table
        "result": mask_secrets(raw.get("result")),
        "details": mask_secrets(details or {}),
        "actor": actor,
        "actor_source": actor_source,
        "severity": severity,
        "context": dict(context or {}),
    }
    if raw.get("id") not in (None, ""):
        entry_id = str(raw["id"])
        if not ENTRY_ID.match(entry_id):
            raise SarkValidationError("%s.id=%r: use 1-200 letters, digits and . _ : @ / -" % (where, entry_id))
    else:
        entry_id = derive_id(incident_id, run_id, entry)
    entry["id"] = entry_id
    del entry["time_given"]
    return entry


def same_entry(stored, entry):
    return all(canonical(stored.get(f)) == canonical(entry.get(f)) for f in IDENTITY_FIELDS)


def read_timeline(path, max_entries):
    """The entries of a timeline file ([] when absent). A line that is not a JSON object is an error, never skipped."""
    if not os.path.exists(path):
        return [], ""
    if not os.path.isfile(path):
        raise SarkValidationError("%s exists and is not a file" % path)
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise SarkPreconditionError("%s line %d is not JSON (%s): the timeline was edited or truncated; fix or move "
                                        "the file, nothing was written" % (path, number, exc), line=number)
        if not isinstance(entry, dict) or not entry.get("id"):
            raise SarkPreconditionError("%s line %d is not a timeline entry (a JSON object with an id)" % (path, number),
                                        line=number)
        entries.append(entry)
        if len(entries) > max_entries:
            raise SarkPreconditionError("%s holds more than max_entries=%d entries: raise max_entries or start a new run_dir"
                                        % (path, max_entries))
    if text and not text.endswith("\n"):
        text += "\n"
    return entries, text


def merge(existing, new_entries, incident_id, path):
    """Split the entries to record into (to add, already there). Same id and other content is an error."""
    by_id = {entry["id"]: entry for entry in existing}
    for entry in existing:
        if entry.get("incident_id") not in (None, incident_id):
            raise SarkPreconditionError("%s belongs to incident %s, not %s: use a run_dir per incident"
                                        % (path, entry.get("incident_id"), incident_id))
    added, present, seen = [], [], {}
    for entry in new_entries:
        if entry["id"] in seen:
            if not same_entry(seen[entry["id"]], entry):
                raise SarkValidationError("entries: id %s is given twice with different content" % entry["id"])
            continue
        seen[entry["id"]] = entry
        stored = by_id.get(entry["id"])
        if stored is None:
            added.append(entry)
        elif same_entry(stored, entry):
            present.append(stored)
        else:
            differs = [f for f in IDENTITY_FIELDS if canonical(stored.get(f)) != canonical(entry.get(f))]
            raise SarkPreconditionError("entry %s is already recorded in %s with a different %s: an entry is never rewritten; "
                                        "give the new fact a new id" % (entry["id"], path, ", ".join(differs)),
                                        entry_id=entry["id"], differs=differs)
    return added, present


def to_lines(entries):
    return "".join(canonical(entry) + "\n" for entry in entries)


def sorted_timeline(entries):
    """Entries by time (recording order among equal times): what a report shows."""
    return [e for _i, e in sorted(enumerate(entries), key=lambda pair: (pair[1].get("time") or "", pair[0]))]


# --- the audit table --------------------------------------------------------------------------------------------------

def row_id(incident_id, entry_id):
    """A deterministic uuid for tables whose id column has no default (sark_v2): the same entry, the same row."""
    return str(uuid.uuid5(ID_NAMESPACE, "%s/%s" % (incident_id, entry_id)))


def pick_label(labels, wanted, column, what):
    """The real enum label matching wanted (case-insensitive); labels None means a text column: wanted as is."""
    if labels is None:
        return wanted
    for label in labels:
        if label.lower() == str(wanted).lower():
            return label
    raise SarkPreconditionError("the audit table's %s has no label %r for %s (labels: %s): set layout_templates.%s to one of them"
                                % (column, wanted, what, ", ".join(labels), "incident_event_type" if column == "event_type" else column),
                                labels=labels)


def audit_details(entry):
    return {"source": "sark.ops.sark_incident_record", "sark_ops_incident_id": entry["incident_id"],
            "sark_ops_entry_id": entry["id"], "actor": entry.get("actor"), "actor_source": entry.get("actor_source"),
            "phase": entry.get("phase"), "kind": entry.get("kind"), "action": entry.get("action"),
            "status": entry.get("status"), "result": entry.get("result"), "details": entry.get("details"),
            "incident_severity": entry.get("severity"), "context": entry.get("context")}
