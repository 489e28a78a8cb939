#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_breaker
short_description: Read and reset the SARK SIEM circuit breakers
version_added: 0.1.0
description:
  - Automates "Reset Circuit Breaker" of the operations runbook (000) and the circuit-breaker checks and resets of the
    incident runbook (002, "SIEM Integration Failure").
  - The two runbooks disagree on the keys, so both variants are read - V(global), runbook 000's single breaker
    C(siem:circuit_breaker:state) and C(siem:circuit_breaker:failure_count); and V(per_siem), runbook 002's
    C(circuit:{siem}:state) and C(circuit:{siem}:failure) for each SIEM in O(siems). All names are templates of the layout
    (C(breaker_state_key), C(breaker_failures_key), C(siem_breaker_state_key), C(siem_breaker_failures_key)).
  - O(operation=reset) deletes the state and failure-count keys, as the runbooks do (a missing state means closed).
    With O(expected_state), every breaker that has a state must be in that state, or nothing is reset.
  - In the V(sark_v2) layout the breaker lives in each worker's memory (it opens after 5 failures and closes itself
    after 60 s). The module then changes nothing, does not contact Redis, and returns RV(in_redis=false) and
    RV(restart_required=true) for a reset - restart the SARK workers instead.
options:
  operation:
    description: V(status) or V(reset).
    type: str
    choices: [status, reset]
    default: status
  siems:
    description: The SIEMs of the V(per_siem) variant.
    type: list
    elements: str
    default: [splunk, datadog]
  variant:
    description: Which key variant to read or reset - V(both), V(global) (runbook 000) or V(per_siem) (runbook 002).
    type: str
    choices: [both, global, per_siem]
    default: both
  expected_state:
    description:
      - Precondition for O(operation=reset) - the state every breaker with a state key must be in (for example V(open)).
        When one differs, the module fails and resets nothing. Breakers without a state key are closed and skipped.
    type: str
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_REDIS
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
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Circuit breaker states (both runbook variants)
  sark.ops.sark_siem_breaker:
  register: breakers

- name: Reset the Splunk breaker, only if it is open
  sark.ops.sark_siem_breaker:
    operation: reset
    variant: per_siem
    siems: [splunk]
    expected_state: open

- name: SARK 2.x - tells you to restart the workers instead
  sark.ops.sark_siem_breaker:
    operation: reset
    layout: sark_v2
  register: reset
  # reset.restart_required is true; nothing was changed
'''

RETURN = r'''
in_redis:
  description: Whether the layout keeps the breaker in Redis (false for V(sark_v2)).
  returned: always
  type: bool
restart_required:
  description: True when a reset was asked but the breaker lives in process memory - restart the SARK workers.
  returned: always
  type: bool
breakers:
  description: Each breaker - C(name) (V(global) or the SIEM), C(variant), C(state_key), C(failures_key), C(state)
    (V(closed) when there is no state key), C(failures), C(present), C(ttl).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "splunk", "variant": "per_siem", "state_key": "circuit:splunk:state", "state": "open", "failures": 7,
            "present": true}]
open:
  description: Names of the breakers that are not closed.
  returned: always
  type: list
  elements: str
reset:
  description: Names of the breakers reset (or that would be in check mode).
  returned: when operation is reset
  type: list
  elements: str
diff:
  description: State and failure count of each breaker before and after (with C(--diff)).
  returned: when operation is reset and diff mode is on
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkModule, SarkPreconditionError, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis, redis_argument_spec, to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors, require_type

CLOSED = "closed"


def breaker_keys(layout, params):
    """[(name, variant, state_key, failures_key)] of the breakers the layout keeps in Redis."""
    out = []
    if params["variant"] in ("both", "global") and layout.has("breaker_state_key"):
        out.append(("global", "global", layout.key("breaker_state_key"), layout.key("breaker_failures_key")))
    if params["variant"] in ("both", "per_siem") and layout.has("siem_breaker_state_key"):
        for siem in params["siems"]:
            out.append((siem, "per_siem", layout.key("siem_breaker_state_key", siem=siem),
                        layout.key("siem_breaker_failures_key", siem=siem)))
    return out


def read_breaker(client, layout, name, variant, state_key, failures_key):
    state_present = require_type(client, state_key, "string", "a circuit-breaker state", layout.name)
    failures_present = require_type(client, failures_key, "string", "a circuit-breaker failure count", layout.name)
    state = to_text(client.get(state_key)) if state_present else None
    raw_failures = to_text(client.get(failures_key)) if failures_present else None
    try:
        failures = int(raw_failures) if raw_failures not in (None, "") else 0
    except ValueError as exc:
        raise SarkValidationError("%s holds %r, not a failure count: check layout_templates" % (failures_key, raw_failures[:40])) from exc
    return {"name": name, "variant": variant, "state_key": state_key, "failures_key": failures_key,
            "state": (state or CLOSED).lower(), "failures": failures, "present": bool(state_present or failures_present),
            "state_present": bool(state_present), "ttl": int(client.ttl(state_key)) if state_present else None}


def check_expected(breakers, expected):
    if not expected:
        return
    wrong = ["%s is %s" % (b["name"], b["state"]) for b in breakers if b["state_present"] and b["state"] != expected.lower()]
    if wrong:
        raise SarkPreconditionError("expected_state=%s, but %s. Nothing was reset; re-read the state and adjust expected_state."
                                    % (expected, ", ".join(wrong)), breakers=breakers)


def delete_breaker(client, layout, breaker, expected, cluster):
    """Delete one breaker's keys; on a standalone server the state is re-checked inside WATCH/MULTI."""
    if cluster:
        current = read_breaker(client, layout, breaker["name"], breaker["variant"], breaker["state_key"], breaker["failures_key"])
        check_expected([current], expected)
        return int(client.delete(breaker["state_key"])) + int(client.delete(breaker["failures_key"]))
    for _attempt in range(5):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(breaker["state_key"], breaker["failures_key"])
                state = pipe.get(breaker["state_key"])
                if expected and state is not None and to_text(state).lower() != expected.lower():
                    raise SarkPreconditionError("expected_state=%s, but %s became %s meanwhile. Nothing more was reset."
                                                % (expected, breaker["name"], to_text(state)))
                pipe.multi()
                pipe.delete(breaker["state_key"], breaker["failures_key"])
                return int(pipe.execute()[0])
            except redis.exceptions.WatchError:
                continue
    raise SarkPreconditionError("%s kept changing while being reset (5 attempts); the SIEM worker is writing it. Retry." % breaker["name"])


def in_memory_result(layout, params):
    reset = params["operation"] == "reset"
    advice = ("Restart the SARK workers to reset it (a rolling restart of the deployment); nothing was changed." if reset
              else "Read it from the workers' metrics or logs.")
    msg = ("The %s layout keeps the SIEM circuit breaker in each worker's memory (it opens after 5 failures and closes itself "
           "after 60 s), so there is nothing in Redis to %s. %s" % (layout.name, "reset" if reset else "read", advice))
    return {"changed": False, "in_redis": False, "restart_required": reset, "breakers": [], "open": [], "msg": msg,
            "layout": layout.name}


def run(module):
    params = module.params
    if not params["siems"] or any(not s or not s.strip() for s in params["siems"]):
        raise SarkValidationError("siems must list at least one SIEM name (for example splunk, datadog) without empty entries")
    layout = Layout.from_params(params)
    keys = breaker_keys(layout, params)
    if not keys:
        return in_memory_result(layout, params)
    client = connect(params)
    result = {"in_redis": True, "restart_required": False, "layout": layout.name}
    with redis_errors(params, "reading the SIEM circuit breakers"):
        breakers = [read_breaker(client, layout, *k) for k in keys]
    result["breakers"] = breakers
    result["open"] = [b["name"] for b in breakers if b["state"] != CLOSED]
    if params["operation"] == "status":
        module.evidence.set_count("open", len(result["open"]))
        return result
    check_expected(breakers, params["expected_state"])
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
                removed = delete_breaker(client, layout, breaker, params["expected_state"], cluster)
                module.evidence.executed("delete", keys=[breaker["state_key"], breaker["failures_key"]], removed=removed)
            result["breakers"] = [read_breaker(client, layout, *k) for k in keys]
            result["open"] = [b["name"] for b in result["breakers"] if b["state"] != CLOSED]
    verb = "Would reset" if module.check_mode else "Reset"
    result["msg"] = "%s %s" % (verb, ", ".join(result["reset"])) if targets else "Every breaker is already closed (no keys)"
    module.evidence.set_count("reset", len(targets))
    return result


def main():
    spec = dict(
        operation=dict(type="str", default="status", choices=["status", "reset"]),
        siems=dict(type="list", elements="str", default=["splunk", "datadog"]),
        variant=dict(type="str", default="both", choices=["both", "global", "per_siem"]),
        expected_state=dict(type="str"),
    )
    spec.update(layout_argument_spec())
    spec.update(redis_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
