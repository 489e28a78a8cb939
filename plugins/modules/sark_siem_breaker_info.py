#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_breaker_info
short_description: Read the SARK SIEM circuit breakers
version_added: 0.2.0
description:
  - Automates the circuit-breaker checks of the operations runbook (000) and the incident runbook (002, "SIEM Integration
    Failure"). It never changes anything.
  - The two runbooks disagree on the keys, so both variants are read - V(global), runbook 000's single breaker
    C(siem:circuit_breaker:state) and C(siem:circuit_breaker:failure_count); and V(per_siem), runbook 002's
    C(circuit:{siem}:state) and C(circuit:{siem}:failure) for each SIEM in O(siems). All names are templates of the layout
    (C(breaker_state_key), C(breaker_failures_key), C(siem_breaker_state_key), C(siem_breaker_failures_key)).
  - In the V(sark_v2) layout the breaker lives in each worker's memory; the module does not contact Redis and returns
    RV(not_in_layout).
  - Resetting a breaker is M(sark.ops.sark_siem_breaker)'s job.
options: {}
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.redis.SIEM_BREAKER
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
seealso:
  - module: sark.ops.sark_siem_breaker
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Circuit breaker states (both runbook variants)
  sark.ops.sark_siem_breaker_info:
  register: breakers

- name: Only the Splunk breaker of runbook 002
  sark.ops.sark_siem_breaker_info:
    variant: per_siem
    siems: [splunk]
'''

RETURN = r'''
breakers:
  description: Each breaker.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "splunk", "variant": "per_siem", "state_key": "circuit:splunk:state", "failures_key": "circuit:splunk:failure",
            "state": "open", "failures": 7, "present": true, "state_present": true, "ttl": -1}]
  contains:
    name:
      description: V(global) or the SIEM.
      type: str
      returned: always
    variant:
      description: V(global) or V(per_siem).
      type: str
      returned: always
    state_key:
      description: The state key.
      type: str
      returned: always
    failures_key:
      description: The failure-count key.
      type: str
      returned: always
    state:
      description: The state (V(closed) when there is no state key).
      type: str
      returned: always
    failures:
      description: The failure count.
      type: int
      returned: always
    present:
      description: Whether the state or the failure key exists.
      type: bool
      returned: always
    state_present:
      description: Whether the state key exists.
      type: bool
      returned: always
    ttl:
      description: TTL of the state key (null when it does not exist).
      type: int
      returned: always
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
msg:
  description: Why nothing was read.
  returned: when the layout keeps no breaker in Redis
  type: str
  sample: "Not in this layout: ..."
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._siem import (
    breaker_argument_spec,
    breaker_keys,
    breaker_not_in_layout,
    read_breakers,
    validate_siems,
)


def run(module):
    params = module.params
    validate_siems(params["siems"])
    layout = Layout.from_params(params)
    keys = breaker_keys(layout, params["variant"], params["siems"])
    if not keys:
        return breaker_not_in_layout(layout, resetting=False)
    breakers, opened = read_breakers(connect(params), params, layout, keys)
    module.evidence.set_count("open", len(opened))
    return {"breakers": breakers, "open": opened, "layout": layout.name}


def main():
    sark_main(run, {}, (breaker_argument_spec, layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
