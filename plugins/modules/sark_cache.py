#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_cache
short_description: Clear SARK's policy decision cache and other Redis key sets, safely
version_added: 0.1.0
description:
  - Automates "Clear Policy Cache" and "Clear Cache" of the operations runbook and "Clear Cache" of the incident runbook.
    The runbook's C(EVAL "return redis.call('del', unpack(redis.call('keys', 'policy:decision:*')))") blocks Redis and
    fails past a few thousand keys; this module finds keys with C(SCAN) on every primary and removes them with C(UNLINK)
    in bounded batches.
  - O(target=decisions) clears cached policy decisions C(policy:decision:{user}:{action}:{resource}:{context}) - all of them,
    or those of a user, an action (O(decision_action)) and/or a resource.
  - O(target=versions) removes C(policy:version:{policy}) entries (one policy or all); the V(sark_v2) layout has none, so
    there is nothing to do there (RV(not_in_layout)).
  - O(target=prefix) removes every key starting with O(prefix) (taken literally); O(target=pattern) every key matching the
    glob O(pattern). A wildcard-only pattern such as V(*) needs O(force=true).
  - O(target=all) empties the database with C(FLUSHDB ASYNC) on every primary, only with O(force=true). This also logs every
    user out and resets every rate limit.
  - Returns how many keys were (or would be) removed and a sample. O(max_keys) caps every run, C(FLUSHDB) included.
options:
  state:
    description: V(absent) removes the keys of the O(target).
    type: str
    choices: [absent]
    default: absent
    version_added: 0.2.0
  target:
    description: V(decisions), V(versions), V(prefix), V(pattern) or V(all).
    type: str
    choices: [decisions, versions, prefix, pattern, all]
    default: decisions
  user_id:
    description: V(decisions) - only this user's cached decisions.
    type: str
  decision_action:
    description: V(decisions) - only decisions for this policy action (for example C(tool:invoke)).
    type: str
    version_added: 0.2.0
  resource:
    description: V(decisions) - only decisions for this resource.
    type: str
  policy:
    description: V(versions) - only this policy's version entry (the runbook's C(DEL policy:version:server_access)).
    type: str
  prefix:
    description: V(prefix) - the key prefix, taken literally (glob characters in it are escaped). Must not be empty.
    type: str
  pattern:
    description:
      - V(pattern) - a Redis glob (C(SCAN MATCH) syntax). Must not be empty and must start with a literal prefix naming the
        keys, for example C(policy:*). A pattern without one, such as C(*) or C(*:*), needs O(force=true).
    type: str
  force:
    description: Confirms O(target=all) and patterns without a literal prefix.
    type: bool
    default: false
  max_keys:
    description:
      - The most keys this run may remove. A safety cap - when more match, the run stops before the page that would cross it
        and fails, saying how many matched so far; check mode counts them all and fails the same way, deleting nothing.
      - For O(target=all) the database size must not be above it.
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
      - Counts exactly what would be removed and returns a sample; C(changed) is true only if something would be.
  diff_mode:
    support: full
    details:
      - Shows the number of matching keys before and after.
  idempotent:
    support: full
notes:
  - Requires Redis 6.0 or later. With O(redis_cluster=true) every primary is scanned (and flushed for O(target=all)).
  - A least-privilege Redis ACL user needs C(+@read +@write +@keyspace +@scripting +ping +client|setname) on the keys it
    touches (for example C(~session:* ~user_sessions:*)). Without C(+@scripting) the module falls back to O(engine=client).
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Clear the whole policy decision cache
  sark.ops.sark_cache:
    target: decisions
    max_keys: 1000000

- name: Clear one user's cached decisions for one action
  sark.ops.sark_cache:
    target: decisions
    user_id: user-123
    decision_action: tool:invoke

- name: Clear one policy's version entry (runbook layout)
  sark.ops.sark_cache:
    target: versions
    policy: server_access

- name: "Clear everything under policy: (see first how much)"
  sark.ops.sark_cache:
    target: prefix
    prefix: "policy:"
  check_mode: true

- name: LAST RESORT - FLUSHDB
  sark.ops.sark_cache:
    target: all
    force: true
    max_keys: 5000000
'''

RETURN = r'''
not_in_layout:
  description: Why the layout has no such keys (V(versions) in V(sark_v2)); nothing was done.
  returned: when the layout has no keys of the target
  type: str
  sample: "the sark_v2 layout has no policy:version keys (...)"
layout:
  description: The layout the keys were removed in.
  returned: always
  type: str
  sample: runbook
pattern:
  description: The C(SCAN MATCH) pattern used (or C(FLUSHDB)).
  returned: always
  type: str
  sample: "policy:decision:user-123:*:*:*"
matched:
  description: Keys that matched; in check mode, exactly what would be removed.
  returned: always
  type: int
  sample: 1200
removed:
  description: Keys removed (0 in check mode).
  returned: always
  type: int
  sample: 1200
sample:
  description: Some of the keys removed or that would be (secret-looking segments masked).
  returned: always
  type: list
  elements: str
  sample: ["policy:decision:user-123:tool:invoke:srv-1:ctx"]
progress:
  description: C(batches), C(pages), C(keys), C(removed), C(nodes), C(duration_ms), C(keys_per_second), C(engine).
  returned: when keys were scanned
  type: dict
  sample: {"batches": 2, "pages": 3, "keys": 1200, "removed": 1200, "nodes": 1, "duration_ms": 20.1, "keys_per_second": 59700,
           "engine": "script"}
planned_actions:
  description: What the run was to remove, from the evidence record.
  returned: when the layout has keys of the target
  type: list
  elements: dict
  sample: [{"action": "unlink", "pattern": "policy:decision:*:*:*:*", "type": "string"}]
executed_actions:
  description: What was removed, batch by batch, from the evidence record (empty in check mode).
  returned: when the layout has keys of the target
  type: list
  elements: dict
  sample: [{"action": "unlink", "pattern": "policy:decision:*:*:*:*", "keys": 1200}]
diff:
  description: Matching keys before and after (with C(--diff)).
  returned: when something would change and diff mode is on
  type: dict
  sample: {"before": {"keys": 1200}, "after": {"keys": 0}}
msg:
  description: What was done.
  returned: always
  type: str
  sample: "Removed 1200 key(s) matching policy:decision:*:*:*:*"
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._cache import flushdb, target_pattern, validate_target
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeyBudget, KeySweeper, merge_stats, sweep_argument_spec


def run(module):
    params = module.params
    validate_target(params)
    layout = Layout.from_params(params)
    pattern, absent = target_pattern(params, layout)
    if absent:
        return {"changed": False, "not_in_layout": absent, "matched": 0, "removed": 0, "sample": [], "pattern": None,
                "layout": layout.name, "msg": "Not in this layout, nothing to clear: %s." % absent}
    client = connect(params)
    if params["target"] == "all":
        stats = flushdb(module, client, params)
        report = merge_stats([stats], params["sample_size"])
    else:
        # every batch is recorded in the evidence as it is removed: a failure after some batches reports them
        sweeper = KeySweeper.from_params(client, params, evidence=module.evidence)
        budget = KeyBudget(params["max_keys"])
        key_type = layout.key_type("policy_decision_key") if params["target"] == "decisions" else None
        module.evidence.plan("unlink", pattern=pattern, type=key_type)
        stats = sweeper.sweep(pattern, key_type, budget, module.check_mode, force=params["target"] == "pattern" and params["force"])
        report = merge_stats([stats], params["sample_size"])
    changed = bool(report["matched"] if module.check_mode else report["removed"])
    result = dict(report, changed=changed, pattern=pattern, layout=layout.name)
    if module.diff_mode and changed:
        result["diff"] = {"before": {"keys": report["matched"]}, "after": {"keys": 0}, "before_header": pattern, "after_header": pattern}
    module.evidence.set_count("keys_removed", report["removed"])
    verb = "Would remove" if module.check_mode else "Removed"
    what = "with FLUSHDB ASYNC" if params["target"] == "all" else "matching %s" % pattern
    result["msg"] = "%s %d key(s) %s" % (verb, report["matched"] if module.check_mode else report["removed"], what) \
        if changed else "No key to remove (%s)" % what
    return result


def main():
    spec = dict(
        state=dict(type="str", default="absent", choices=["absent"]),
        target=dict(type="str", default="decisions", choices=["decisions", "versions", "prefix", "pattern", "all"]),
        user_id=dict(type="str"),
        decision_action=dict(type="str"),
        resource=dict(type="str"),
        policy=dict(type="str"),
        prefix=dict(type="str"),
        pattern=dict(type="str"),
        force=dict(type="bool", default=False),
    )
    sark_main(run, spec, (sweep_argument_spec, layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
