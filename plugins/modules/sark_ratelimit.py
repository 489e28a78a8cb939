#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_ratelimit
short_description: Reset SARK rate limits in Redis
version_added: 0.1.0
description:
  - Automates the resets of the runbook's "Rate Limiting Operations" - reset a subject's current window or every
    rate-limit key - without C(KEYS).
  - O(state=absent) resets the current window of a subject (O(scope=window)), every window of a subject
    (O(scope=subject)), or every rate-limit key (O(scope=all), which needs O(force=true)).
  - Reading a limit or ranking subjects is M(sark.ops.sark_ratelimit_info)'s job.
  - V(runbook) layout - a fixed hourly window, a string counter C(ratelimit:{kind}:{subject}:{YYYY-MM-DD-HH}) (UTC).
    V(sark_v2) layout - a sliding window of 3600 s, a sorted set C(rate_limit:{kind}:{subject}) holding one member per
    request scored by its time; there is one window per subject, so V(window) and V(subject) resets are the same.
  - API keys and tokens used as subjects are secrets - they are masked in every result unless O(show_secrets=true).
options:
  state:
    description: V(absent) removes the rate-limit keys of the O(scope) (the subject starts afresh).
    type: str
    choices: [absent]
    default: absent
    version_added: 0.2.0
  subject:
    description:
      - The user id, API key, token number or IP address whose limit is reset.
      - Required for O(scope=window) and O(scope=subject).
    type: str
  kind:
    description: What O(subject) is. SARK 2.x keys are C(rate_limit:user:...), C(rate_limit:api_key:...), C(rate_limit:ip:...)
      and C(rate_limit:token:...); the runbook documents C(ratelimit:user:...).
    type: str
    choices: [user, api_key, ip, token]
    default: user
  scope:
    description: What is reset - V(window) (the current window), V(subject) (every window of the subject)
      or V(all) (every rate-limit key, needs O(force=true)).
    type: str
    choices: [window, subject, all]
    default: window
  window:
    description:
      - V(runbook) layout - the hourly window to reset, as C(YYYY-MM-DD-HH). Defaults to the current hour in UTC
        (the runbook's C($(date +%Y-%m-%d-%H)) on a UTC host).
      - Ignored by the V(sark_v2) layout.
    type: str
  rate_limit:
    description:
      - The allowed requests per window of O(subject), when it differs from the default of its O(kind) (for RV(status)).
    type: int
    version_added: 0.2.0
  limits:
    description:
      - Allowed requests per window by kind, merged over the defaults (user 5000, api_key 1000, ip 100; token has none).
    type: dict
    default: {}
  force:
    description: Confirms O(scope=all). Without it the module refuses and changes nothing.
    type: bool
    default: false
  show_secrets:
    description: Show API keys and tokens used as subjects in full.
    type: bool
    default: false
  max_keys:
    description:
      - The most keys this run may remove. A safety cap - when more match, the run stops before the page that would cross
        it and fails, saying how many matched so far; check mode counts them all and fails the same way.
    type: int
    default: 10000
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.redis_sweep
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Counts exactly what a reset would remove; C(changed) is true only if something would be.
  diff_mode:
    support: full
    details:
      - A reset shows the subject's used count before and after.
  idempotent:
    support: full
notes:
  - Requires Redis 6.0 or later. With O(redis_cluster=true) every primary is scanned.
  - A least-privilege Redis ACL user needs C(+@read +@write +@keyspace +@scripting +ping +client|setname) on the keys it
    touches (for example C(~ratelimit:* ~rate_limit:*)). Without C(+@scripting) the module falls back to O(engine=client).
seealso:
  - module: sark.ops.sark_ratelimit_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Reset the user's current window (runbook "Reset Rate Limit")
  sark.ops.sark_ratelimit:
    state: absent
    subject: user-123

- name: Reset every window an API key has (its value stays masked in the output)
  sark.ops.sark_ratelimit:
    state: absent
    scope: subject
    kind: api_key
    subject: "{{ leaked_api_key }}"
    layout: sark_v2

- name: Emergency - reset all rate limits
  sark.ops.sark_ratelimit:
    state: absent
    scope: all
    force: true
    max_keys: 500000
'''

RETURN = r'''
model:
  description: The rate-limit model of the layout - V(fixed_hourly) or V(sliding_window).
  returned: always
  type: str
  sample: fixed_hourly
layout:
  description: The layout the keys were removed in.
  returned: always
  type: str
  sample: runbook
scope:
  description: What was reset - V(window), V(subject) or V(all).
  returned: always
  type: str
  sample: window
status:
  description:
    - The subject's limit after the reset (before it, in check mode), as M(sark.ops.sark_ratelimit_info) returns it -
      C(kind), C(subject) (masked), C(key) (masked), C(model), C(limit), C(used), C(remaining), C(limited), C(reset_at),
      C(reset_epoch), C(ttl), C(exists) and C(window) for the fixed model.
  returned: when scope is window or subject
  type: dict
  sample: {"kind": "user", "subject": "user-123", "model": "fixed_hourly", "limit": 5000, "used": 0, "remaining": 5000,
           "limited": false, "reset_at": "2025-11-22T11:00:00Z", "reset_epoch": 1763809200, "window": "2025-11-22-10"}
matched:
  description: Keys that matched the reset; in check mode, exactly what would be removed.
  returned: always
  type: int
  sample: 1
removed:
  description: Keys removed (0 in check mode).
  returned: always
  type: int
  sample: 1
sample:
  description: Some of the keys removed or that would be (masked).
  returned: always
  type: list
  elements: str
  sample: ["ratelimit:user:user-123:2025-11-22-10"]
progress:
  description: C(batches), C(pages), C(keys), C(removed), C(nodes), C(duration_ms), C(keys_per_second), C(engine).
  returned: when keys were scanned
  type: dict
  sample: {"batches": 1, "pages": 1, "keys": 3, "removed": 3, "nodes": 1, "duration_ms": 1.2, "keys_per_second": 2500,
           "engine": "script"}
planned_actions:
  description: What the reset was to remove, from the evidence record.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "unlink", "scope": "window", "target": "ratelimit:user:user-123:2025-11-22-10"}]
executed_actions:
  description: What was removed, from the evidence record (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: []
diff:
  description: The subject's used count before and after a reset (with C(--diff)).
  returned: when scope is window or subject and diff mode is on
  type: dict
  sample: {"before": {"used": 150, "remaining": 4850}, "after": {"used": 0, "remaining": 5000}}
msg:
  description: What was done.
  returned: always
  type: str
  sample: Reset 1 rate-limit key(s)
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._ratelimit import SECRET_KINDS, RateLimits, validate_reset
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    KeyBudget,
    KeySweeper,
    redis_errors,
    sweep_argument_spec,
    validate_sweep_params,
)


def run(module):
    params = module.params
    if params["kind"] in SECRET_KINDS and params["subject"] and not params["show_secrets"]:
        module.add_secret(params["subject"])
    validate_sweep_params(params)
    validate_reset(params)
    layout = Layout.from_params(params)
    client = connect(params)
    limits = RateLimits(client, layout, None, params)
    limits.sweeper = KeySweeper.from_params(client, params, masker=limits.mask, evidence=module.evidence)
    kind, subject, scope = params["kind"], params["subject"], params["scope"]
    result = {"layout": layout.name, "model": limits.model, "scope": scope}
    with redis_errors(params, "reset of rate limits"):
        before = limits.status(kind, subject, params["rate_limit"]) if scope != "all" else None
        module.evidence.plan("unlink", scope=scope, target=before["key"] if before else layout.pattern("ratelimit_key"))
        report, _target = limits.reset(scope, kind, subject, module.check_mode, KeyBudget(params["max_keys"]))
        result.update(report)
        result["changed"] = bool(report["matched"] if module.check_mode else report["removed"])
        if before is not None:
            result["status"] = limits.status(kind, subject, params["rate_limit"]) if not module.check_mode else before
            if module.diff_mode:
                result["diff"] = {"before": {"used": before["used"], "remaining": before["remaining"]},
                                  "after": {"used": 0 if result["changed"] else before["used"],
                                            "remaining": before["limit"] if result["changed"] else before["remaining"]},
                                  "before_header": before["key"], "after_header": before["key"]}
        module.evidence.set_count("keys_removed", report["removed"])
    verb = "Would reset" if module.check_mode else "Reset"
    result["msg"] = ("%s %d rate-limit key(s)" % (verb, report["matched"] if module.check_mode else report["removed"])
                     if result["changed"] else "Nothing to reset")
    return result


def main():
    spec = dict(
        state=dict(type="str", default="absent", choices=["absent"]),
        subject=dict(type="str"),
        kind=dict(type="str", default="user", choices=["user", "api_key", "ip", "token"]),
        scope=dict(type="str", default="window", choices=["window", "subject", "all"]),
        window=dict(type="str"),
        rate_limit=dict(type="int"),
        limits=dict(type="dict", default={}),
        force=dict(type="bool", default=False),
        show_secrets=dict(type="bool", default=False),
    )
    sark_main(run, spec, (sweep_argument_spec, layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
