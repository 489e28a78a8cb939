#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_breaker
short_description: Reset the SARK SIEM circuit breakers
version_added: 0.1.0
description:
  - Automates "Reset Circuit Breaker" of the operations runbook (000) and the circuit-breaker resets of the incident
    runbook (002, "SIEM Integration Failure").
  - The two runbooks disagree on the keys, so both variants are handled - V(global), runbook 000's single breaker
    C(siem:circuit_breaker:state) and C(siem:circuit_breaker:failure_count); and V(per_siem), runbook 002's
    C(circuit:{siem}:state) and C(circuit:{siem}:failure) for each SIEM in O(siems). All names are templates of the layout.
  - O(state=closed) deletes the state and failure-count keys, as the runbooks do (a missing state means closed).
    With O(current_state), every breaker that has a state must be in that state, or nothing is reset.
  - In the V(sark_v2) layout the breaker lives in each worker's memory (it opens after 5 failures and closes itself
    after 60 s). The module then changes nothing, does not contact Redis, and returns RV(not_in_layout) and
    RV(restart_required=true) - restart the SARK workers instead.
  - Reading the breakers is M(sark.ops.sark_siem_breaker_info)'s job.
options:
  state:
    description: V(closed) closes the breakers (deletes their state and failure keys).
    type: str
    choices: [closed]
    default: closed
    version_added: 0.2.0
  current_state:
    description:
      - Precondition - the state every breaker with a state key must be in (for example V(open)).
        When one differs, the module fails and resets nothing. Breakers without a state key are closed and skipped.
    type: str
    version_added: 0.2.0
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.redis.SIEM_BREAKER
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Shows each breaker's state and failure count before and after.
  idempotent:
    support: full
notes:
  - On a standalone Redis the precondition and the delete run in one C(WATCH)/C(MULTI) transaction. In a Redis Cluster the
    state and failure keys live in different hash slots, so the state is checked right before the delete instead.
seealso:
  - module: sark.ops.sark_siem_breaker_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Reset the Splunk breaker, only if it is open
  sark.ops.sark_siem_breaker:
    state: closed
    variant: per_siem
    siems: [splunk]
    current_state: open

- name: SARK 2.x - tells you to restart the workers instead
  sark.ops.sark_siem_breaker:
    state: closed
    layout: sark_v2
  register: reset
  # reset.restart_required is true; nothing was changed
'''

RETURN = r'''
breakers:
  description:
    - Each breaker after the run (in check mode, as it was), with the fields of
      RV(sark.ops.sark_siem_breaker_info#module:breakers) - C(name), C(variant), C(state_key), C(failures_key), C(state),
      C(failures), C(present), C(state_present), C(ttl).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "splunk", "variant": "per_siem", "state_key": "circuit:splunk:state", "failures_key": "circuit:splunk:failure",
            "state": "closed", "failures": 0, "present": false, "state_present": false, "ttl": null}]
open:
  description: Names of the breakers that are not closed.
  returned: always
  type: list
  elements: str
  sample: [splunk]
not_in_layout:
  description: Why the layout has no breaker in Redis (V(sark_v2) keeps it in each worker's memory).
  returned: when the layout keeps no breaker in Redis
  type: str
  sample: the sark_v2 layout keeps the SIEM circuit breaker in each worker's memory (...)
layout:
  description: The layout the keys were read in.
  returned: always
  type: str
  sample: runbook
restart_required:
  description: True when the breaker lives in process memory - restart the SARK workers.
  returned: always
  type: bool
  sample: false
reset:
  description: Names of the breakers reset (or that would be in check mode).
  returned: when the layout keeps the breaker in Redis
  type: list
  elements: str
  sample: [splunk]
planned_actions:
  description: The keys to delete, from the evidence record.
  returned: when a breaker has keys
  type: list
  elements: dict
  sample: [{"action": "delete", "keys": ["circuit:splunk:state", "circuit:splunk:failure"], "state": "open"}]
executed_actions:
  description: The keys deleted, from the evidence record (empty in check mode).
  returned: when a breaker has keys
  type: list
  elements: dict
  sample: [{"action": "delete", "keys": ["circuit:splunk:state", "circuit:splunk:failure"], "removed": 2}]
diff:
  description: State and failure count of each breaker before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"splunk": {"state": "open", "failures": 7}}, "after": {"splunk": {"state": "closed", "failures": 0}}}
msg:
  description: What was done.
  returned: always
  type: str
  sample: Reset splunk
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors
from ansible_collections.sark.ops.plugins.module_utils._siem import (
    CLOSED,
    breaker_argument_spec,
    breaker_keys,
    breaker_not_in_layout,
    check_expected,
    delete_breaker,
    read_breakers,
    validate_siems,
)


def run(module):
    params = module.params
    validate_siems(params["siems"])
    layout = Layout.from_params(params)
    keys = breaker_keys(layout, params["variant"], params["siems"])
    if not keys:
        return breaker_not_in_layout(layout, resetting=True)
    client = connect(params)
    breakers, opened = read_breakers(client, params, layout, keys)
    result = {"restart_required": False, "layout": layout.name, "breakers": breakers, "open": opened}
    check_expected(breakers, params["current_state"])
    targets = [b for b in breakers if b["present"]]
    result["reset"] = [b["name"] for b in targets]
    result["changed"] = bool(targets)
    for breaker in targets:
        module.evidence.plan("delete", keys=[breaker["state_key"], breaker["failures_key"]], state=breaker["state"])
    if module.diff_mode:
        result["diff"] = {"before": {b["name"]: {"state": b["state"], "failures": b["failures"]} for b in breakers},
                          "after": {b["name"]: {"state": CLOSED if b["present"] else b["state"],
                                                "failures": 0 if b["present"] else b["failures"]} for b in breakers}}
    if targets and not module.check_mode:
        cluster = hasattr(client, "get_primaries")
        with redis_errors(params, "resetting the SIEM circuit breakers"):
            for breaker in targets:
                removed = delete_breaker(client, layout, breaker, params["current_state"], cluster)
                module.evidence.executed("delete", keys=[breaker["state_key"], breaker["failures_key"]], removed=removed)
        result["breakers"], result["open"] = read_breakers(client, params, layout, keys)
    verb = "Would reset" if module.check_mode else "Reset"
    result["msg"] = "%s %s" % (verb, ", ".join(result["reset"])) if targets else "Every breaker is already closed (no keys)"
    module.evidence.set_count("reset", len(targets))
    return result


def main():
    spec = dict(
        state=dict(type="str", default="closed", choices=["closed"]),
        current_state=dict(type="str"),
    )
    sark_main(run, spec, (breaker_argument_spec, layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
