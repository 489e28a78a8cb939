#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_queue
short_description: Inspect, drain and repair the SARK SIEM event queue in Redis
version_added: 0.1.0
description:
  - Automates the runbook's "View SIEM Queue", "Drain SIEM Queue" (manual part) and "View SIEM Errors".
  - O(operation=status) returns the lengths of the event queue (C(siem:event_queue)) and the failed-events list
    (C(siem:failed_events)) and judges the queue by the runbook's thresholds - healthy under 1,000 events, warning up to
    10,000, critical above.
  - O(operation=peek) returns the oldest events of a list, with secret fields masked.
  - O(operation=requeue) moves failed events back to the tail of the queue for another delivery attempt, oldest first.
  - O(operation=export) moves events from a list into a local file (JSON lines, mode 0600) - the runbook's
    C(LPOP siem:event_queue 100) without losing the events.
  - O(operation=trim) drops the oldest events of a list so at most O(keep) remain, refusing to drop more than O(max_events);
    with O(path) the dropped events are exported instead of discarded.
  - Every event is moved exactly once, also when two runs race and when a run (or Redis) is killed at any point.
    A run that changes a list first takes its exclusive lock C({<list>}:sark_ops_lock) (SET NX with a 30 s TTL, refreshed
    by every batch, released at the end); a second run refuses, naming the holder, or waits O(lock_wait) seconds. The lock
    of a run that died on this machine is taken over at once; one held from another machine expires 30 s after its last batch.
  - An export moves each batch, in one Lua script that checks the lock, into a per-run staging list next to the source
    (same hash slot) and records in C({<list>}:sark_ops_export_state) the file and the offset the batch goes to; the batch
    is written there and fsynced, and a second script deletes the staging list and the state together. A later run finds
    the state, cuts the file back to the recorded offset and writes the staged batch once - never twice, never skipped.
    A batch staged for another file is finished only by a run with that O(path). The file is also locked (flock).
  - Requeue moves events with C(LMOVE) (atomic per event). In a Redis Cluster where the queue and the failed list are in
    different hash slots it uses a staging list (an interruption may then deliver a batch twice, never lose it).
  - A failure part-way (Redis down, disk full) reports C(changed), C(partial) and how many events had been moved.
  - In the V(sark_v2) layout the SIEM queue is in process memory; the module reports that (RV(in_redis=false)) and changes nothing.
options:
  operation:
    description: V(status), V(peek), V(requeue), V(export) or V(trim).
    type: str
    choices: [status, peek, requeue, export, trim]
    default: status
  list:
    description: Which list V(peek), V(export) and V(trim) work on - V(queue) (C(siem_queue_key)) or V(failed) (C(siem_failed_key)).
    type: str
    choices: [queue, failed]
    default: queue
  count:
    description:
      - V(peek) - how many events to show (default 10, at most 1000).
      - V(requeue) and V(export) - how many events to move, oldest first (default all of them).
    type: int
  max_events:
    description:
      - Safety cap - the most events a run may move or drop. When more would be, the module fails before touching any,
        saying how many there are and how to proceed (set O(count), raise O(max_events), or export first).
    type: int
    default: 10000
  keep:
    description: V(trim) - how many of the newest events to keep.
    type: int
  path:
    description:
      - V(export) - the file the events are appended to (created with mode 0600; its directory must exist).
      - V(trim) - when set, the dropped events are exported there instead of being discarded.
    type: path
  batch_size:
    description: Events moved per round trip.
    type: int
    default: 500
  warning_threshold:
    description: Queue length from which the status is V(warning).
    type: int
    default: 1000
  critical_threshold:
    description: Queue length above which the status is V(critical).
    type: int
    default: 10000
  show_secrets:
    description: Show secret-looking fields of peeked events unmasked.
    type: bool
    default: false
  lock_wait:
    description:
      - Seconds to wait for another run's lock on the same list before failing. V(0) fails at once, naming the other run.
    type: float
    default: 0
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_REDIS
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reports exactly how many events would move or be dropped; no file is written.
  diff_mode:
    support: full
    details:
      - Shows the list lengths before and after.
  idempotent:
    support: full
    details:
      - A second V(requeue), V(export) or V(trim) finds nothing left to do.
notes:
  - Requires Redis 6.2 or later (C(LMOVE)). The Redis user needs C(+@scripting) (the lock and staging steps are Lua scripts).
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: SIEM queue health
  sark.ops.sark_siem_queue:
  register: siem
  failed_when: siem.queue.state == 'critical'

- name: Look at the failed events (masked)
  sark.ops.sark_siem_queue:
    operation: peek
    list: failed
    count: 10

- name: Retry every failed event
  sark.ops.sark_siem_queue:
    operation: requeue

- name: Drain the queue into a file for manual forwarding
  sark.ops.sark_siem_queue:
    operation: export
    list: queue
    count: 5000
    path: /var/tmp/siem-events.jsonl

- name: Keep the newest 10,000 events, exporting the rest
  sark.ops.sark_siem_queue:
    operation: trim
    keep: 10000
    max_events: 100000
    path: /var/tmp/siem-overflow.jsonl
'''

RETURN = r'''
in_redis:
  description: Whether the layout keeps the SIEM queue in Redis (false for V(sark_v2)).
  returned: always
  type: bool
queue:
  description: C(key), C(length) and C(state) (V(healthy), V(warning), V(critical)) of the event queue.
  returned: when in_redis
  type: dict
  sample: {"key": "siem:event_queue", "length": 420, "state": "healthy"}
failed_events:
  description: C(key) and C(length) of the failed-events list.
  returned: when in_redis
  type: dict
  sample: {"key": "siem:failed_events", "length": 3}
assessment:
  description: C(verdict) (the queue state) and C(findings).
  returned: when in_redis
  type: dict
events:
  description: The oldest events of the list, decoded from JSON where possible, secrets masked.
  returned: when operation is peek
  type: list
  elements: raw
moved:
  description: Events moved (requeue, export, or trim with path), or that would be in check mode.
  returned: when operation is requeue, export or trim
  type: int
dropped:
  description: Events dropped by V(trim) (or that would be).
  returned: when operation is trim
  type: int
recovered:
  description: Events an interrupted run had staged, delivered first (written once at the offset that run recorded).
  returned: when operation is requeue or export
  type: int
path:
  description: The export file.
  returned: when events were exported
  type: str
progress:
  description: C(batches), C(events), C(duration_ms).
  returned: when events were moved
  type: dict
diff:
  description: List lengths before and after (with C(--diff)).
  returned: when something would change and diff mode is on
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

import json
import time

from ansible_collections.sark.ops.plugins.module_utils._files import check_writable_file
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkLimitError, SarkModule, SarkValidationError, mask_secrets
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec, to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors
from ansible_collections.sark.ops.plugins.module_utils._siem import LIST_TEMPLATES, SiemLists


def queue_state(length, params):
    if length > params["critical_threshold"]:
        return "critical"
    if length >= params["warning_threshold"]:
        return "warning"
    return "healthy"


def decode_event(raw, show_secrets):
    text = to_text(raw)
    try:
        event = json.loads(text)
    except ValueError:
        return text if show_secrets else "<%d bytes, not JSON>" % len(text)
    return event if show_secrets else mask_secrets(event)


def in_memory_result(layout):
    return {"changed": False, "in_redis": False, "layout": layout.name,
            "msg": "The %s layout keeps the SIEM event queue and failed events in each worker's process memory (%s): there is "
                   "nothing in Redis to read or change. Use the workers' metrics and logs." % (layout.name, layout.absent_reason("siem_queue_key"))}


def validate(params):
    for name in ("max_events", "batch_size"):
        if params[name] < 1:
            raise SarkValidationError("%s must be 1 or more, got %s" % (name, params[name]))
    if params["count"] is not None and params["count"] < 1:
        raise SarkValidationError("count must be 1 or more, got %s" % params["count"])
    if params["operation"] == "peek" and (params["count"] or 10) > 1000:
        raise SarkValidationError("peek shows at most 1000 events; use operation=export to read more")
    if params["warning_threshold"] < 0 or params["critical_threshold"] < params["warning_threshold"]:
        raise SarkValidationError("thresholds must satisfy 0 <= warning_threshold <= critical_threshold")
    if params["operation"] == "export" and not params["path"]:
        raise SarkValidationError("operation=export needs path (the file the events are appended to)")
    if params["path"] and params["operation"] in ("export", "trim"):
        check_writable_file(params["path"], "export file")
    if params["operation"] == "trim":
        if params["keep"] is None or params["keep"] < 0:
            raise SarkValidationError("operation=trim needs keep (how many of the newest events stay), 0 or more; got %s" % params["keep"])
    if params["batch_size"] > 10000:
        raise SarkValidationError("batch_size must be 10000 or less")
    if not 0 <= params["lock_wait"] <= 3600:
        raise SarkValidationError("lock_wait must be between 0 and 3600 seconds, got %s" % params["lock_wait"])


def check_cap(what, amount, available, params):
    if amount > params["max_events"]:
        raise SarkLimitError("%s would touch %d events (%d in the list), more than max_events=%d. Nothing was changed. Set count to "
                             "move part of them, raise max_events, or (for trim) export them first." % (what, amount, available,
                                                                                                        params["max_events"]),
                             events=available)


def plan(lists, params, lengths):
    """(source list, purpose, events to move or drop, events staged by an interrupted run) of a changing operation."""
    operation = params["operation"]
    if operation == "requeue":
        source, purpose = "failed", "requeue"
        amount = min(params["count"] or lengths["failed"], lengths["failed"])
    elif operation == "export":
        source, purpose = params["list"], "export"
        amount = min(params["count"] or lengths[source], lengths[source])
    else:
        source, purpose = params["list"], "export" if params["path"] else None
        amount = max(0, lengths[source] - params["keep"])
    staged = lists.pending(source, purpose)[0] if purpose else 0
    check_cap(operation, amount, lengths[source], params)
    return source, purpose, amount, staged


def run(module):
    params = module.params
    validate(params)
    layout = Layout.from_params(params)
    if not (layout.has("siem_queue_key") and layout.has("siem_failed_key")):
        return in_memory_result(layout)
    client = connect(params)
    lists = SiemLists(client, layout, params, module.evidence)
    result = {"in_redis": True, "layout": layout.name}
    started = time.monotonic()
    with redis_errors(params, "%s of the SIEM lists" % params["operation"]):
        lengths = {name: lists.length(name) for name in LIST_TEMPLATES}
        result["queue"] = {"key": lists.keys["queue"], "length": lengths["queue"], "state": queue_state(lengths["queue"], params)}
        result["failed_events"] = {"key": lists.keys["failed"], "length": lengths["failed"]}
        findings = []
        if result["queue"]["state"] != "healthy":
            findings.append("SIEM queue holds %d events (%s: warning from %d, critical above %d)"
                            % (lengths["queue"], result["queue"]["state"], params["warning_threshold"], params["critical_threshold"]))
        if lengths["failed"]:
            findings.append("%d events failed delivery (%s)" % (lengths["failed"], lists.keys["failed"]))
        result["assessment"] = {"verdict": result["queue"]["state"], "findings": findings}
        operation = params["operation"]
        if operation == "status":
            return result
        if operation == "peek":
            raw = client.lrange(lists.keys[params["list"]], 0, (params["count"] or 10) - 1)
            result["events"] = [decode_event(e, params["show_secrets"]) for e in raw]
            return result
        source, purpose, amount, staged = plan(lists, params, lengths)
        if not module.check_mode and (amount or staged):
            # under the lock the lists are read again: another run may have moved events since
            lists.acquire(source, operation, params["path"])
            lengths = {name: lists.length(name) for name in LIST_TEMPLATES}
            source, purpose, amount, staged = plan(lists, params, lengths)
        try:
            return act(module, lists, result, lengths, (source, purpose, amount, staged), started)
        finally:
            lists.release()


def act(module, lists, result, lengths, planned, started):
    params = module.params
    operation = params["operation"]
    source, purpose, amount, staged = planned
    exporting = purpose == "export"
    result["changed"] = bool(amount or staged)
    if module.diff_mode and result["changed"]:
        after = dict(lengths)
        after[source] -= amount
        if operation == "requeue":
            after["queue"] += amount + staged
        result["diff"] = {"before": lengths, "after": after}
    action = {"requeue": "move to %s" % lists.keys["queue"], "export": "export to %s" % params["path"]}.get(purpose, "drop")
    module.evidence.plan(operation, source=lists.keys[source], events=amount, staged=staged, what=action)
    result["moved"] = amount if purpose else 0
    if operation == "trim":
        result["dropped"] = 0 if exporting else amount
    result["recovered"] = staged
    if module.check_mode or not result["changed"]:
        result["msg"] = ("Would %s %d event(s)" % (action, amount)) if result["changed"] else "Nothing to do"
        return result
    if operation == "requeue":
        moved, recovered, batches = lists.requeue(amount, params["batch_size"])
    elif exporting:
        moved, recovered, batches = lists.export(source, amount, params["batch_size"], params["path"])
        result["path"] = params["path"]
    else:
        lists.trim(source, amount)
        moved, recovered, batches = 0, 0, 1
    if purpose:
        result["moved"] = moved
    result["recovered"] = recovered
    module.evidence.set_count("events", moved if purpose else amount)
    result["progress"] = {"batches": batches, "events": (moved if purpose else amount) + recovered,
                          "duration_ms": round((time.monotonic() - started) * 1000.0, 3)}
    result["queue"]["length"] = lists.length("queue")
    result["queue"]["state"] = queue_state(result["queue"]["length"], params)
    result["failed_events"]["length"] = lists.length("failed")
    done = {"requeue": "Moved %d event(s) to %s" % (moved, lists.keys["queue"]),
            "export": "Exported %d event(s) to %s" % (moved, params["path"])}.get(purpose, "Dropped %d event(s)" % amount)
    result["msg"] = done + (", after delivering %d left by an interrupted run" % recovered if recovered else "")
    return result


def main():
    spec = dict(
        operation=dict(type="str", default="status", choices=["status", "peek", "requeue", "export", "trim"]),
        list=dict(type="str", default="queue", choices=["queue", "failed"]),
        count=dict(type="int"),
        max_events=dict(type="int", default=10000),
        keep=dict(type="int"),
        path=dict(type="path"),
        batch_size=dict(type="int", default=500),
        warning_threshold=dict(type="int", default=1000),
        critical_threshold=dict(type="int", default=10000),
        show_secrets=dict(type="bool", default=False),
        lock_wait=dict(type="float", default=0.0),
    )
    spec.update(layout_argument_spec())
    spec.update(redis_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
