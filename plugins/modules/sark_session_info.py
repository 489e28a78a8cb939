#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_session_info
short_description: Count and list SARK user sessions in Redis
version_added: 0.2.0
description:
  - Replaces the C(redis-cli) counting and listing one-liners of the runbook's "Session Management" section. It never
    uses C(KEYS) but C(SCAN) with a bounded C(COUNT) on every primary. It never changes anything.
  - With no filter (O(scope=all)) it counts every session and can rank the users with the most sessions (O(top_n)).
  - With O(user_id) (O(scope=user)) it counts and lists that user's sessions with their stored fields; with O(session_id)
    (O(scope=session)) it returns that one session. Tokens and other secret fields are masked unless O(show_secrets=true).
  - In the V(runbook) layout a session is a hash C(session:user:{user_id}:{session_id}) and a user's sessions are found
    by C(SCAN). In the V(sark_v2) layout a session is a JSON string C(session:{session_id}) indexed by the set
    C(user_sessions:{user_id}).
  - Revoking sessions is M(sark.ops.sark_session)'s job.
options:
  scope:
    description:
      - What to read. V(all) counts every session; V(user) counts and lists one user's sessions (needs O(user_id));
        V(session) returns one session (needs O(session_id)).
      - When not set, V(session) if O(session_id) is given, else V(user) if O(user_id) is given, else V(all).
    type: str
    choices: [all, user, session]
  user_id:
    description: The user whose sessions are counted and listed.
    type: str
  session_id:
    description: One session to return.
    type: str
  max_results:
    description: The most sessions a user's list returns (RV(truncated) says whether it cut the list short).
    type: int
    default: 100
  top_n:
    description:
      - With O(scope=all), also return the O(top_n) users that have the most sessions (V(0) skips it).
      - Counting per user reads every session key name, so it is slower than the plain count. Exact up to 100 times
        O(top_n) distinct users (at least 1000), approximate above (RV(top_users_exact)).
    type: int
    default: 0
  show_secrets:
    description: Return secret fields of sessions (tokens) unmasked. Leave off unless you must see them.
    type: bool
    default: false
  scan_count:
    description:
      - The C(COUNT) hint of each C(SCAN) page (between 10 and 100000). When not set, 100 inside server-side scripts and
        1000 for the client engine.
    type: int
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
notes:
  - Requires Redis 6.0 or later (C(SCAN ... TYPE)). With O(redis_cluster=true) every primary is scanned.
  - A least-privilege Redis ACL user needs C(+@read +@keyspace +@scripting +ping +client|setname) on the keys it reads
    (for example C(~session:* ~user_sessions:*)). Without C(+@scripting) counting falls back to the client engine.
  - Session ids are shown; session tokens and other secret-looking fields are masked.
seealso:
  - module: sark.ops.sark_session
  - module: sark.ops.sark_redis_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Count active sessions and the ten users with the most
  sark.ops.sark_session_info:
    top_n: 10
  register: sessions

- name: List a user's sessions (tokens masked)
  sark.ops.sark_session_info:
    user_id: user-123

- name: One session, SARK 2.x layout
  sark.ops.sark_session_info:
    session_id: 0b7e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b
    layout: sark_v2
'''

RETURN = r'''
scope:
  description: What was read - V(all), V(user) or V(session).
  returned: always
  type: str
  sample: all
total:
  description: The number of sessions (keys of the session pattern and type).
  returned: when scope is all
  type: int
  sample: 15230
user_sessions:
  description: That user's live sessions.
  returned: when scope is user
  type: int
  sample: 3
stale_index_entries:
  description: Ids in a V(sark_v2) user index whose session key no longer exists (expired); V(0) in the V(runbook) layout.
  returned: when scope is user or session
  type: int
  sample: 1
top_users:
  description: The users with the most sessions, most first.
  returned: when scope is all and top_n > 0
  type: list
  elements: dict
  sample: [{"user_id": "user-123", "sessions": 5}]
  contains:
    user_id:
      description: The user.
      type: str
      returned: always
    sessions:
      description: How many sessions the user has.
      type: int
      returned: always
top_users_exact:
  description: Whether RV(top_users) counts are exact.
  returned: when scope is all and top_n > 0
  type: bool
  sample: true
sessions:
  description: The sessions found, secrets masked.
  returned: when scope is user or session
  type: list
  elements: dict
  sample: [{"session_id": "session-456", "user_id": "user-123", "key": "session:user:user-123:session-456", "ttl": 8000,
            "fields": {"ip_address": "10.0.0.10", "token": "********"}}]
  contains:
    session_id:
      description: The session id.
      type: str
      returned: always
    user_id:
      description: The session's user.
      type: str
      returned: always
    key:
      description: The session's Redis key.
      type: str
      returned: always
    ttl:
      description: Seconds until the session expires (V(-1) without expiry).
      type: int
      returned: always
    fields:
      description: The stored fields, secrets masked unless O(show_secrets=true).
      type: dict
      returned: always
count:
  description: How many sessions RV(sessions) holds.
  returned: when scope is user or session
  type: int
  sample: 3
truncated:
  description: Whether O(max_results) cut the list short.
  returned: when scope is user or session
  type: bool
  sample: false
progress:
  description: How the count went - C(batches), C(pages), C(keys), C(nodes), C(duration_ms), C(keys_per_second), C(engine).
  returned: when scope is all
  type: dict
  sample: {"batches": 12, "pages": 40, "keys": 12, "removed": 0, "nodes": 1, "duration_ms": 35.2, "keys_per_second": 340,
           "engine": "script"}
layout:
  description: The layout the keys were read in.
  returned: always
  type: str
  sample: runbook
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeySweeper, redis_errors, validate_sweep_params
from ansible_collections.sark.ops.plugins.module_utils._sessions import SessionStore, read_scope


def run(module):
    params = module.params
    validate_sweep_params(dict(params, max_keys=1))  # scan_count; nothing is removed
    if params["max_results"] < 1:
        raise SarkValidationError("max_results must be 1 or more, got %s" % params["max_results"])
    if params["top_n"] < 0:
        raise SarkValidationError("top_n must be 0 or more, got %s" % params["top_n"])
    scope = read_scope(params)
    layout = Layout.from_params(params)
    client = connect(params)
    sweeper = KeySweeper.from_params(client, params)
    store = SessionStore(client, layout, sweeper, module.evidence, params["show_secrets"])
    result = {"scope": scope, "layout": layout.name}
    with redis_errors(params, "reading sessions"):
        if scope == "all":
            stats = store.count_all()
            result.update(total=stats.matched, progress=stats.progress())
            if params["top_n"]:
                result["top_users"], result["top_users_exact"] = store.top_users(params["top_n"])
            module.evidence.set_count("sessions", result["total"])
            return result
        if scope == "session":
            session = store.get_session(params["session_id"], params["user_id"])
            sessions, truncated, stale = ([session] if session else []), False, 0
        else:
            sessions, truncated, stale = store.list_user(params["user_id"], params["max_results"])
            result["user_sessions"], stale = store.count_user(params["user_id"])
    module.evidence.set_count("sessions", len(sessions))
    result.update(sessions=sessions, count=len(sessions), truncated=truncated, stale_index_entries=stale)
    return result


def main():
    spec = dict(
        scope=dict(type="str", choices=["all", "user", "session"]),
        user_id=dict(type="str"),
        session_id=dict(type="str"),
        max_results=dict(type="int", default=100),
        top_n=dict(type="int", default=0),
        show_secrets=dict(type="bool", default=False),
        scan_count=dict(type="int"),
    )
    sark_main(run, spec, (layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
