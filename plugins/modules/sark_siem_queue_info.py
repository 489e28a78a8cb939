#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_queue_info
short_description: Read the SARK SIEM event queue in Redis
version_added: 0.2.0
description:
  - Automates the runbook's "View SIEM Queue" and "View SIEM Errors". It never changes anything.
  - Returns the lengths of the event queue (C(siem:event_queue)) and the failed-events list (C(siem:failed_events)) and
    judges the queue by the runbook's thresholds - healthy under 1,000 events, warning up to 10,000, critical above.
  - With O(max_events), also returns the oldest events of a list (O(list)), with secret fields masked.
  - In the V(sark_v2) layout the SIEM queue is in process memory; the module reports that (RV(not_in_layout)).
  - Requeueing, exporting and trimming are M(sark.ops.sark_siem_queue)'s job.
options:
  list:
    description: Which list's events RV(events) shows - V(queue) (C(siem_queue_key)) or V(failed) (C(siem_failed_key)).
    type: str
    choices: [queue, failed]
    default: queue
  max_events:
    description: How many of the oldest events of O(list) to return (V(0), the default, returns none; at most 1000).
    type: int
    default: 0
  warning_threshold:
    description: Queue length from which the state is V(warning).
    type: int
    default: 1000
  critical_threshold:
    description: Queue length above which the state is V(critical).
    type: int
    default: 10000
  show_secrets:
    description: Show secret-looking fields of the events unmasked.
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
notes:
  - The Redis user needs C(+@read +ping +client|setname) on the SIEM lists.
seealso:
  - module: sark.ops.sark_siem_queue
  - module: sark.ops.sark_siem_breaker_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: SIEM queue health
  sark.ops.sark_siem_queue_info:
  register: siem
  failed_when: siem.queue.state == 'critical'

- name: Look at the failed events (masked)
  sark.ops.sark_siem_queue_info:
    list: failed
    max_events: 10
'''

RETURN = r'''
layout:
  description: The layout the lists were read in.
  returned: always
  type: str
  sample: runbook
not_in_layout:
  description: Why the layout has no SIEM queue in Redis (V(sark_v2) keeps it in process memory).
  returned: when the layout keeps no SIEM queue in Redis
  type: str
  sample: the sark_v2 layout keeps the SIEM event queue and failed events in each worker's process memory (...)
queue:
  description: The event queue.
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"key": "siem:event_queue", "length": 420, "state": "healthy"}
  contains:
    key:
      description: The list's key.
      type: str
      returned: always
    length:
      description: Events in the list.
      type: int
      returned: always
    state:
      description: V(healthy), V(warning) or V(critical).
      type: str
      returned: always
failed_events:
  description: The failed-events list.
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"key": "siem:failed_events", "length": 3}
  contains:
    key:
      description: The list's key.
      type: str
      returned: always
    length:
      description: Events in the list.
      type: int
      returned: always
assessment:
  description: The verdict (the queue state) and what led to it.
  returned: when the layout keeps the queue in Redis
  type: dict
  sample: {"verdict": "healthy", "findings": ["3 events failed delivery (siem:failed_events)"]}
  contains:
    verdict:
      description: V(healthy), V(warning) or V(critical).
      type: str
      returned: always
    findings:
      description: One sentence per finding.
      type: list
      elements: str
      returned: always
events:
  description: The oldest events of the list, decoded from JSON where possible, secrets masked.
  returned: when max_events > 0 and the layout keeps the queue in Redis
  type: list
  elements: raw
  sample: [{"event_type": "tool_invoked", "user_id": "user-1", "token": "********"}]
msg:
  description: Why nothing was read.
  returned: when the layout keeps no SIEM queue in Redis
  type: str
  sample: "Not in this layout: ..."
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors
from ansible_collections.sark.ops.plugins.module_utils._siem import (
    LIST_TEMPLATES,
    PEEK_MAX,
    SiemLists,
    assess,
    decode_event,
    not_in_layout,
    validate_thresholds,
)


def run(module):
    params = module.params
    if not 0 <= params["max_events"] <= PEEK_MAX:
        raise SarkValidationError("max_events must be between 0 and %d, got %s; use sark_siem_queue state=export to read more"
                                  % (PEEK_MAX, params["max_events"]))
    validate_thresholds(params)
    layout = Layout.from_params(params)
    if not (layout.has("siem_queue_key") and layout.has("siem_failed_key")):
        return not_in_layout(layout)
    client = connect(params)
    lists = SiemLists(client, layout, params, module.evidence)
    with redis_errors(params, "reading the SIEM lists"):
        lengths = {name: lists.length(name) for name in LIST_TEMPLATES}
        result = assess(lists, lengths, params)
        if params["max_events"]:
            raw = client.lrange(lists.keys[params["list"]], 0, params["max_events"] - 1)
            result["events"] = [decode_event(e, params["show_secrets"]) for e in raw]
    result["layout"] = layout.name
    module.evidence.set_count("events", lengths["queue"])
    return result


def main():
    spec = dict(
        list=dict(type="str", default="queue", choices=["queue", "failed"]),
        max_events=dict(type="int", default=0),
        warning_threshold=dict(type="int", default=1000),
        critical_threshold=dict(type="int", default=10000),
        show_secrets=dict(type="bool", default=False),
    )
    sark_main(run, spec, (layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
