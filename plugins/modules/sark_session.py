#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_session
short_description: Revoke SARK user sessions in Redis
version_added: 0.1.0
description:
  - Replaces the revocation one-liners of the runbook's "Session Management" section, and the session revocation
    steps of "Disable User" and "Reset User Password". It never uses C(KEYS) - the runbook's
    C(EVAL "... unpack(redis.call('keys', ...))") blocks Redis and fails outright on large keyspaces - but C(SCAN)
    with a bounded C(COUNT) on every primary and C(UNLINK) in bounded batches.
  - O(state=absent) revokes one session (O(session_id)), every session of a user (O(user_id)), or every session of
    every user (O(scope=all), which also needs O(force=true)).
  - Counting and listing sessions is M(sark.ops.sark_session_info)'s job.
  - In the V(runbook) layout a session is a hash C(session:user:{user_id}:{session_id}) and a user's sessions are found
    by C(SCAN). In the V(sark_v2) layout a session is a JSON string C(session:{session_id}) indexed by the set
    C(user_sessions:{user_id}); the module reads the index and removes both the sessions and the index entries.
  - O(max_keys) is a safety cap. A run never removes more keys than that; when more match, it stops before the page that
    would cross the cap and fails, saying how many matched so far. Check mode counts the keys exactly.
options:
  state:
    description:
      - V(absent) revokes the sessions of the O(scope).
    type: str
    choices: [absent]
    default: absent
    version_added: 0.2.0
  scope:
    description:
      - What is revoked. V(session) needs O(session_id) (O(user_id) makes it faster in the V(runbook)
        layout and is checked against the session's owner in V(sark_v2)); V(user) needs O(user_id); V(all) logs out every
        user and needs O(force=true).
      - When not set, V(session) if O(session_id) is given, else V(user) if O(user_id) is given. V(all) is never implied.
    type: str
    choices: [session, user, all]
  user_id:
    description: The user whose sessions are revoked.
    type: str
  session_id:
    description: One session to revoke.
    type: str
  force:
    description:
      - Confirms O(scope=all) (a global logout). Without it the module refuses and changes nothing.
      - It does not lift the literal-prefix rule - a session template without a literal prefix is always refused for sweeps.
    type: bool
    default: false
  max_keys:
    description:
      - The most keys this run may remove (sessions plus index sets). A safety cap against a wrong user id, layout or template.
      - When more keys match, the run stops before the page that would take it past the cap and fails with the number matched
        so far; check mode counts all of them and fails the same way, without deleting anything.
      - Raise it for a global logout of a large deployment.
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
      - Counts exactly what would be revoked and returns a sample; C(changed) is true only if something would be.
  diff_mode:
    support: full
    details:
      - Revocations show the session count of the scope before and after.
  idempotent:
    support: full
notes:
  - Requires Redis 6.0 or later (C(SCAN ... TYPE), C(UNLINK)). With O(redis_cluster=true) every primary is scanned.
  - A least-privilege Redis ACL user needs C(+@read +@write +@keyspace +@scripting +ping +client|setname) on the keys it
    touches (for example C(~session:* ~user_sessions:*)). Without C(+@scripting) the module falls back to O(engine=client).
  - Session ids are shown; session tokens and other secret-looking fields are masked.
seealso:
  - module: sark.ops.sark_session_info
  - module: sark.ops.sark_redis_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Revoke one session
  sark.ops.sark_session:
    state: absent
    user_id: user-123
    session_id: session-456

- name: Disable user - revoke all of their sessions (SARK 2.x layout)
  sark.ops.sark_session:
    state: absent
    scope: user
    user_id: 6f1c2a9e-0d2b-4c1e-9a57-3f0e8d1c4b21
    layout: sark_v2

- name: Force global logout - see first how many sessions would go
  sark.ops.sark_session:
    state: absent
    scope: all
    force: true
    max_keys: 2000000
  check_mode: true
  register: logout_plan

- name: Force global logout
  sark.ops.sark_session:
    state: absent
    scope: all
    force: true
    max_keys: 2000000
'''

RETURN = r'''
sessions:
  description: The number of sessions revoked, or that would be in check mode.
  returned: always
  type: int
  sample: 4
user_id:
  description: The user of a revoked session (found from the key or the record when O(session_id) is given alone).
  returned: when scope is session
  type: str
  sample: user-123
scope:
  description: What was revoked - V(session), V(user) or V(all).
  returned: always
  type: str
  sample: user
index_entries:
  description: Session ids removed (or that would be) from V(sark_v2) user indexes.
  returned: always
  type: int
  sample: 4
matched:
  description: Keys that matched (sessions plus index sets); in check mode, exactly what would be removed.
  returned: always
  type: int
  sample: 12
removed:
  description: Keys actually removed (0 in check mode).
  returned: always
  type: int
  sample: 12
sample:
  description: Some of the keys removed or that would be.
  returned: always
  type: list
  elements: str
  sample: ["session:user:user-123:session-456"]
progress:
  description: How the scan went - C(batches) (round trips), C(pages) (SCAN calls), C(keys), C(removed), C(nodes),
    C(duration_ms), C(keys_per_second), C(engine) (V(script), V(client) or V(index)).
  returned: when keys were scanned
  type: dict
  sample: {"batches": 12, "pages": 40, "keys": 12, "removed": 12, "nodes": 1, "duration_ms": 35.2, "keys_per_second": 340,
           "engine": "script"}
planned_actions:
  description: What would be or was to be removed, from the evidence record.
  returned: when something matched
  type: list
  elements: dict
  sample: [{"action": "unlink", "pattern": "session:user:user-123:*", "keys": 4}]
executed_actions:
  description: What was removed, batch by batch, from the evidence record (empty in check mode).
  returned: when something matched
  type: list
  elements: dict
  sample: [{"action": "unlink", "pattern": "session:user:user-123:*", "keys": 4}]
diff:
  description: Sessions of the scope before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"sessions": 4}, "after": {"sessions": 0}}
layout:
  description: The layout the keys were removed in.
  returned: always
  type: str
  sample: runbook
msg:
  description: What was done.
  returned: always
  type: str
  sample: Revoked 4 session(s) of user user-123
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    KeyBudget,
    KeySweeper,
    sweep_argument_spec,
    validate_sweep_params,
)
from ansible_collections.sark.ops.plugins.module_utils._sessions import SessionStore, revoke_scope


def revoke(module, store):
    params = module.params
    scope = revoke_scope(params)
    budget = KeyBudget(params["max_keys"])
    if scope == "session":
        report = store.revoke_session(params["session_id"], params["user_id"], module.check_mode, budget)
    elif scope == "user":
        report = store.revoke_user(params["user_id"], module.check_mode, budget)
    else:
        report = store.revoke_all(module.check_mode, budget)
    if module.check_mode:
        changed = bool(report.get("matched") or report.get("index_entries"))
    else:
        changed = bool(report.get("removed") or report.get("index_entries"))
    result = dict(report, changed=changed)
    module.evidence.set_count("sessions", report.get("sessions", 0))
    module.evidence.set_count("keys_removed", report.get("removed", 0))
    if module.diff_mode:
        who = {"session": "session %s" % params["session_id"], "user": "user %s" % params["user_id"], "all": "all users"}[scope]
        result["diff"] = {"before": {"sessions": report.get("sessions", 0)}, "after": {"sessions": 0},
                          "before_header": "sessions of %s" % who, "after_header": "sessions of %s" % who}
    if changed:
        verb = "Would revoke" if module.check_mode else "Revoked"
        whose = {"session": "session %s" % params["session_id"], "user": "user %s" % params["user_id"], "all": "every user"}[scope]
        result["msg"] = "%s %d session(s) of %s" % (verb, report.get("sessions", 0), whose)
    else:
        result["msg"] = "No session to revoke"
    return result


def run(module):
    params = module.params
    validate_sweep_params(params)
    layout = Layout.from_params(params)
    client = connect(params)
    store = SessionStore(client, layout, KeySweeper.from_params(client, params), module.evidence)
    result = revoke(module, store)
    result["layout"] = layout.name
    return result


def main():
    spec = dict(
        state=dict(type="str", default="absent", choices=["absent"]),
        scope=dict(type="str", choices=["session", "user", "all"]),
        user_id=dict(type="str"),
        session_id=dict(type="str"),
        force=dict(type="bool", default=False),
    )
    sark_main(run, spec, (sweep_argument_spec, layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
