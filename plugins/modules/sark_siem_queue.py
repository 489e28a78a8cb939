#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_queue
short_description: Drain and repair the SARK SIEM event queue in Redis
version_added: 0.1.0
description:
  - Automates the runbook's "Drain SIEM Queue" (manual part) and the repair of failed events. Reading the queue is
    M(sark.ops.sark_siem_queue_info)'s job.
  - O(state=requeue) moves failed events back to the tail of the queue for another delivery attempt, oldest first.
  - O(state=export) moves events from a list into a local file (JSON lines, mode 0600) - the runbook's
    C(LPOP siem:event_queue 100) without losing the events.
  - O(state=trim) drops the oldest events of a list so at most O(keep) remain, refusing to drop more than O(max_events);
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
  - In the V(sark_v2) layout the SIEM queue is in process memory; the module reports that (RV(not_in_layout)) and changes nothing.
options:
  state:
    description:
      - V(requeue) moves failed events back to the queue, V(export) moves events of O(list) into O(path), V(trim) drops
        (or with O(path) exports) the oldest events of O(list) so O(keep) remain.
    type: str
    required: true
    choices: [requeue, export, trim]
    version_added: 0.2.0
  list:
    description: Which list V(export) and V(trim) work on - V(queue) (C(siem_queue_key)) or V(failed) (C(siem_failed_key)).
    type: str
    choices: [queue, failed]
    default: queue
  count:
    description:
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
    description: Queue length from which RV(queue) is V(warning).
    type: int
    default: 1000
  critical_threshold:
    description: Queue length above which RV(queue) is V(critical).
    type: int
    default: 10000
  lock_wait:
    description:
      - Seconds to wait for another run's lock on the same list before failing. V(0) fails at once, naming the other run.
    type: float
    default: 0
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
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
seealso:
  - module: sark.ops.sark_siem_queue_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Retry every failed event
  sark.ops.sark_siem_queue:
    state: requeue

- name: Drain the queue into a file for manual forwarding
  sark.ops.sark_siem_queue:
    state: export
    list: queue
    count: 5000
    path: /var/tmp/siem-events.jsonl

- name: Keep the newest 10,000 events, exporting the rest
  sark.ops.sark_siem_queue:
    state: trim
    keep: 10000
    max_events: 100000
    path: /var/tmp/siem-overflow.jsonl
'''

RETURN = r'''
layout:
  description: The layout the lists were changed in.
  returned: always
  type: str
  sample: runbook
not_in_layout:
  description: Why the layout has no SIEM queue in Redis (V(sark_v2) keeps it in process memory); nothing was changed.
  returned: when the layout keeps no SIEM queue in Redis
  type: str
  sample: the sark_v2 layout keeps the SIEM event queue and failed events in each worker's process memory (...)
queue:
  description: C(key), C(length) and C(state) (V(healthy), V(warning), V(critical)) of the event queue after the run.
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"key": "siem:event_queue", "length": 420, "state": "healthy"}
failed_events:
  description: C(key) and C(length) of the failed-events list after the run.
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"key": "siem:failed_events", "length": 3}
assessment:
  description: C(verdict) (the queue state before the run) and C(findings).
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"verdict": "healthy", "findings": []}
moved:
  description: Events moved (requeue, export, or trim with path), or that would be in check mode.
  returned: when the layout keeps the queue in Redis
  type: int
  sample: 120
dropped:
  description: Events dropped by V(trim) (or that would be).
  returned: when state is trim
  type: int
  sample: 0
recovered:
  description: Events an interrupted run had staged, delivered first (written once at the offset that run recorded).
  returned: when the layout keeps the queue in Redis
  type: int
  sample: 0
path:
  description: The export file.
  returned: when events were exported
  type: str
  sample: /var/tmp/siem-events.jsonl
progress:
  description: C(batches), C(events), C(duration_ms).
  returned: when events were moved
  type: dict
  sample: {"batches": 3, "events": 120, "duration_ms": 12.5}
planned_actions:
  description: What the run was to do, from the evidence record.
  returned: when the layout keeps the queue in Redis
  type: list
  elements: dict
  sample: [{"action": "requeue", "source": "siem:failed_events", "events": 120, "staged": 0, "what": "move to siem:event_queue"}]
executed_actions:
  description: What was done, batch by batch, from the evidence record (empty in check mode).
  returned: when the layout keeps the queue in Redis
  type: list
  elements: dict
  sample: [{"action": "requeue", "source": "siem:failed_events", "events": 120}]
diff:
  description: List lengths before and after (with C(--diff)).
  returned: when something would change and diff mode is on
  type: dict
  sample: {"before": {"queue": 0, "failed": 120}, "after": {"queue": 120, "failed": 0}}
msg:
  description: What was done.
  returned: always
  type: str
  sample: Moved 120 event(s) to siem:event_queue
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

import time

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors
from ansible_collections.sark.ops.plugins.module_utils._siem import (
    LIST_TEMPLATES,
    SiemLists,
    assess,
    not_in_layout,
    plan_change,
    queue_state,
    validate_change,
)


def run(module):
    params = module.params
    validate_change(params)
    layout = Layout.from_params(params)
    if not (layout.has("siem_queue_key") and layout.has("siem_failed_key")):
        return not_in_layout(layout)
    client = connect(params)
    lists = SiemLists(client, layout, params, module.evidence)
    started = time.monotonic()
    with redis_errors(params, "%s of the SIEM lists" % params["state"]):
        lengths = {name: lists.length(name) for name in LIST_TEMPLATES}
        result = assess(lists, lengths, params)
        result["layout"] = layout.name
        source, purpose, amount, staged = plan_change(lists, params, lengths)
        if not module.check_mode and (amount or staged):
            # under the lock the lists are read again: another run may have moved events since
            lists.acquire(source, params["state"], params["path"])
            lengths = {name: lists.length(name) for name in LIST_TEMPLATES}
            source, purpose, amount, staged = plan_change(lists, params, lengths)
        try:
            return act(module, lists, result, lengths, (source, purpose, amount, staged), started)
        finally:
            lists.release()


def act(module, lists, result, lengths, planned, started):
    params = module.params
    operation = params["state"]
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
        state=dict(type="str", required=True, choices=["requeue", "export", "trim"]),
        list=dict(type="str", default="queue", choices=["queue", "failed"]),
        count=dict(type="int"),
        max_events=dict(type="int", default=10000),
        keep=dict(type="int"),
        path=dict(type="path"),
        batch_size=dict(type="int", default=500),
        warning_threshold=dict(type="int", default=1000),
        critical_threshold=dict(type="int", default=10000),
        lock_wait=dict(type="float", default=0.0),
    )
    sark_main(run, spec, (layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
