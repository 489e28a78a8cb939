#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_user
short_description: Create, update, disable SARK users and reset their passwords (API or database), revoking their sessions
version_added: 0.1.0
description:
  - Automates the runbook's "Create User" (via API and the database "emergency" path), "Disable User" (with "Revoke all
    sessions"), "Reset User Password" (argon2id, with "Revoke all sessions") and "Grant Admin Role" steps.
  - O(via=api) uses C(GET/POST /api/v1/users) and C(PATCH /api/v1/users/{id}); it exists only in the V(runbook) layout (SARK 2.x
    has no users API, so O(via=api) fails there and says to use O(via=database)).
  - O(via=database) writes the C(users) table of either layout. In V(runbook) a user is identified by O(name) (the username),
    in V(sark_v2) by O(email).
  - O(state=absent) disables the user (C(is_active=false)); a user is never deleted.
  - Disabling a user, or changing the password, also revokes every session of the user in Redis (the session logic of
    M(sark.ops.sark_session), SCAN/UNLINK in bounded batches, never C(KEYS)).
  - Passwords are hashed with argon2id and the runbook's parameters (m=65536, t=3, p=4). The password is never returned or logged.
options:
  name:
    description: Username (the identity in the V(runbook) layout; not used by V(sark_v2), which has no username).
    type: str
  email:
    description: Email address (the identity in the V(sark_v2) layout).
    type: str
  full_name:
    description: Full name (V(sark_v2) only).
    type: str
  state:
    description:
      - V(present) creates or updates the user (and makes it active); V(absent) disables it and revokes its sessions - the
        user is never deleted unless asked.
      - V(deleted) removes the user's row for good (the runbook's database path), after revoking its sessions. It needs
        O(via=database) and O(force=true); rows that still reference the user (servers, API keys) make it fail, unchanged.
    type: str
    choices: [present, absent, deleted]
    default: present
  force:
    description: Confirms O(state=deleted).
    type: bool
    default: false
  rate_limit_per_minute:
    description:
      - The user's own rate limit (the runbook's "Adjust Rate Limits" step, column C(rate_limit_per_minute)).
      - Only the V(runbook) layout has it; SARK 2.x sets limits per API key and globally.
    type: int
  roles:
    description: Roles of the user (V(runbook), a list; in V(sark_v2) the first one becomes the single O(role)).
    type: list
    elements: str
  role:
    description: The single role of a V(sark_v2) user (in V(runbook), the same as O(roles=[role])).
    type: str
  admin:
    description: Whether the user is an administrator (C(is_admin)).
    type: bool
  password:
    description: The user's password. Required to create a user through the API.
    type: str
  update_password:
    description:
      - V(on_create) sets the password only when the user is created; an existing hash is not touched.
      - V(always) verifies the stored hash against O(password) and changes it only when it does not match (so a second run is
        unchanged). Verifying needs the database (the API never returns hashes), so with O(via=api) the pg_* options are used too.
    type: str
    choices: [on_create, always]
    default: on_create
  via:
    description: Make changes through the V(api) (runbook layout only) or directly in the V(database).
    type: str
    choices: [api, database]
    default: api
  revoke_sessions:
    description: Revoke the user's sessions in Redis when it is disabled or its password changes.
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.postgres
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Looks the user and its sessions up and returns RV(planned_actions); C(changed) is true only if something would change.
  diff_mode:
    support: full
    details:
      - Shows the user's fields before and after (a password change shows as C(password_changed)).
  idempotent:
    support: full
  action_group:
    description: Use C(group/sark.ops.api), C(group/sark.ops.postgres) and C(group/sark.ops.redis) in C(module_defaults).
    support: full
    membership:
      - sark.ops.all
      - sark.ops.api
      - sark.ops.postgres
      - sark.ops.redis
notes:
  - SARK 2.x has a C(hashed_password) column but nothing in SARK 2.x writes or reads it, so setting a password there may not
    change how the user logs in; the module warns.
seealso:
  - module: sark.ops.sark_user_info
  - module: sark.ops.sark_session
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Create a user through the API (runbook)
  sark.ops.sark_user:
    name: john.doe
    email: john.doe@example.com
    password: "{{ vault_john_password }}"
    roles: [user]

- name: Disable a user and revoke its sessions
  sark.ops.sark_user:
    name: john.doe
    state: absent

- name: Reset a password in the database (emergency path), idempotently
  sark.ops.sark_user:
    name: john.doe
    password: "{{ vault_new_password }}"
    update_password: always
    via: database

- name: Grant admin on SARK 2.x (no users API)
  sark.ops.sark_user:
    layout: sark_v2
    via: database
    email: jane.roe@example.com
    admin: true
'''

RETURN = r'''
user:
  description: The user after the run (in check mode, as it would be), without any password hash; null for an unknown user set absent.
  returned: always
  type: dict
  sample: {"id": "user-123", "username": "john.doe", "email": "john.doe@example.com", "is_active": false, "is_admin": false, "roles": ["user"]}
action:
  description: V(created), V(updated), V(disabled) or V(none).
  returned: always
  type: str
  sample: disabled
password_changed:
  description: Whether the password was (or would be) set.
  returned: always
  type: bool
sessions_revoked:
  description: How many sessions of the user were (or would be) revoked.
  returned: always
  type: int
  sample: 2
planned_actions:
  description: What would be done (check mode).
  returned: in check mode
  type: list
  elements: dict
executed_actions:
  description: What was done.
  returned: when not in check mode
  type: list
  elements: dict
msg:
  description: What happened, in a sentence.
  returned: always
  type: str
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkModule, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis import connect as redis_connect
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeySweeper
from ansible_collections.sark.ops.plugins.module_utils._sessions import SessionStore
from ansible_collections.sark.ops.plugins.module_utils._users import ApiUsers, DbUsers, hash_password, password_matches

SHOWN = ("username", "email", "full_name", "is_active", "is_admin", "roles", "role", "rate_limit_per_minute")


def desired_fields(params, layout):
    fields = {"is_active": params["state"] == "present"}
    if params["rate_limit_per_minute"] is not None:
        if layout.name != "runbook":
            raise SarkValidationError("rate_limit_per_minute: the %s layout has no per-user rate limit column; SARK 2.x sets "
                                      "limits per API key (api_keys.rate_limit) and globally" % layout.name)
        if params["rate_limit_per_minute"] < 1:
            raise SarkValidationError("rate_limit_per_minute must be 1 or more, got %s" % params["rate_limit_per_minute"])
        fields["rate_limit_per_minute"] = params["rate_limit_per_minute"]
    if params["email"] is not None:
        fields["email"] = params["email"]
    if params["admin"] is not None:
        fields["is_admin"] = params["admin"]
    if layout.name == "sark_v2":
        role = params["role"] or (params["roles"][0] if params["roles"] else None)
        if role:
            fields["role"] = role
        if params["full_name"] is not None:
            fields["full_name"] = params["full_name"]
    else:
        roles = params["roles"] if params["roles"] is not None else ([params["role"]] if params["role"] else None)
        if roles is not None:
            fields["roles"] = roles
    return fields


def changes_for(user, fields):
    return {k: v for k, v in fields.items() if user.get(k) != v and not (k == "roles" and sorted(user.get(k) or []) == sorted(v))}


def revoke(module, layout, user_id):
    params = module.params
    client = redis_connect(params)
    try:
        store = SessionStore(client, layout, KeySweeper.from_params(client, params), module.evidence)
        report = store.revoke_user(user_id, module.check_mode)
    finally:
        client.close()
    return int(report.get("sessions") or 0)


def run(module):  # pylint: disable=too-many-branches,too-many-statements
    params = module.params
    layout = Layout.from_params(params)
    key = params["name"] if layout.name == "runbook" else params["email"]
    if not key:
        raise SarkValidationError("The %s layout identifies users by %s: set it" % (layout.name, "name (username)" if layout.name == "runbook" else "email"))
    if params["state"] == "deleted":
        if params["via"] != "database" or not params["force"]:
            raise SarkValidationError("state=deleted removes user %s for good: it needs via=database and force=true "
                                      "(state=absent disables the user instead)" % key)
    conn = None
    try:
        if params["via"] == "database" or (params["password"] and params["update_password"] == "always"):
            conn = pg.connect(params, dbname=params["pg_database"] or layout.template("app_database"), module_name="sark_user")
        store = ApiUsers(SarkApiClient(params), layout) if params["via"] == "api" else DbUsers(conn, layout, pg)
        db = DbUsers(conn, layout, pg) if conn is not None else None
        user, stored_hash = db.find(key) if db is not None else store.find(key)
        fields = desired_fields(params, layout)
        result = {"password_changed": False, "sessions_revoked": 0}
        if params["state"] == "deleted":
            return finish(module, layout, delete_user(module, layout, store, user, key))
        if user is None:
            if params["state"] == "absent":
                result.update(changed=False, action="none", user=None, msg="User %s does not exist: nothing to disable" % key)
                return finish(module, layout, result)
            if params["via"] == "api" and not params["password"]:
                raise SarkValidationError("Creating user %s through the API needs password" % key)
            fields.setdefault("username", params["name"])
            fields.setdefault("email", params["email"])
            fields.setdefault("roles", ["user"])
            module.evidence.plan("create", user=key, via=params["via"], fields=sorted(fields))
            after = {k: fields.get(k) for k in SHOWN}
            if not module.check_mode:
                secret = params["password"] if params["via"] == "api" else (hash_password(params["password"]) if params["password"] else None)
                user_id = store.create(fields, secret)
                module.evidence.executed("create", user=key, id=user_id, via=params["via"])
                after, _unused = store.find(key)
            result.update(changed=True, action="created", user=after, password_changed=bool(params["password"]),
                          diff={"before": {}, "after": {k: (after or {}).get(k) for k in SHOWN}})
            return finish(module, layout, result)
        changes = changes_for(user, fields)
        change_password = False
        if params["password"] and params["update_password"] == "always":
            change_password = not password_matches(stored_hash, params["password"])
        if changes:
            module.evidence.plan("update", user=key, id=user["id"], changes=changes, via=params["via"])
        if change_password:
            module.evidence.plan("set_password", user=key, id=user["id"], via=params["via"], hash="argon2id m=65536,t=3,p=4")
        if not module.check_mode and (changes or change_password):
            secret = None
            if change_password:
                secret = params["password"] if params["via"] == "api" else hash_password(params["password"])
            store.update(user["id"], changes, secret)
            module.evidence.executed("update", user=key, id=user["id"], fields=sorted(changes) + (["password"] if change_password else []))
        sessions = 0
        if params["revoke_sessions"] and (params["state"] == "absent" or change_password):
            sessions = revoke(module, layout, user["id"])
        after = dict(user, **changes)
        action = "disabled" if changes.get("is_active") is False else ("updated" if changes or change_password else "none")
        result.update(changed=bool(changes or change_password or sessions), action=action, user=after,
                      password_changed=change_password, sessions_revoked=sessions)
        before_shown = {k: user.get(k) for k in SHOWN}
        after_shown = {k: after.get(k) for k in SHOWN}
        if change_password:
            before_shown["password_changed"], after_shown["password_changed"] = False, True
        if sessions:
            before_shown["sessions"], after_shown["sessions"] = sessions, 0
        result["diff"] = {"before": before_shown, "after": after_shown}
        return finish(module, layout, result)
    finally:
        if conn is not None:
            conn.close()


def delete_user(module, layout, store, user, key):
    result = {"password_changed": False, "sessions_revoked": 0}
    if user is None:
        result.update(changed=False, action="none", user=None, msg="User %s does not exist: nothing to delete" % key)
        return result
    module.evidence.plan("delete", user=key, id=user["id"], via="database")
    sessions = revoke(module, layout, user["id"]) if module.params["revoke_sessions"] else 0
    if not module.check_mode:
        store.delete(user["id"])
        module.evidence.executed("delete", user=key, id=user["id"])
    result.update(changed=True, action="deleted", user=user, sessions_revoked=sessions,
                  diff={"before": {k: user.get(k) for k in SHOWN}, "after": {}})
    return result


def finish(module, layout, result):
    if not module.diff_mode or not result.get("changed"):
        result.pop("diff", None)
    if result.get("password_changed") and layout.name == "sark_v2":
        module.warn("SARK 2.x does not read users.hashed_password: the new password may not change how the user logs in")
    if "msg" not in result:
        verb = "Would" if module.check_mode else "Did"
        who = result["user"].get("username") or result["user"].get("email")
        if result["changed"]:
            result["msg"] = "%s %s user %s (%d session(s) revoked)" % (verb, result["action"], who, result["sessions_revoked"])
        else:
            result["msg"] = "User %s is already as asked" % who
    result["layout"] = layout.name
    result.update(module.actions())
    return result


def main():
    spec = dict(
        name=dict(type="str"),
        email=dict(type="str"),
        full_name=dict(type="str"),
        state=dict(type="str", choices=["present", "absent", "deleted"], default="present"),
        force=dict(type="bool", default=False),
        rate_limit_per_minute=dict(type="int"),
        roles=dict(type="list", elements="str"),
        role=dict(type="str"),
        admin=dict(type="bool"),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", choices=["on_create", "always"], default="on_create"),
        via=dict(type="str", choices=["api", "database"], default="api"),
        revoke_sessions=dict(type="bool", default=True),
    )
    spec.update(api_argument_spec())
    spec.update(postgres_argument_spec())
    spec.update(redis_argument_spec())
    spec.update(layout_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True, mutually_exclusive=[("roles", "role")]).run(run)


if __name__ == "__main__":
    main()
