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
    description:
      - Username (the identity in the V(runbook) layout; not used by V(sark_v2), which has no username).
      - Letters, digits and C(. _ @ + -), starting with a letter or digit, at most 255 characters; anything else (quotes,
        semicolons, spaces) is refused before anything is looked up.
    type: str
  email:
    description:
      - Email address (the identity in the V(sark_v2) layout).
      - Must be a valid address (C(name@domain.tld), at most 254 characters, no spaces, quotes, semicolons or commas); an invalid one is
        refused before anything is looked up.
    type: str
  full_name:
    description: Full name (V(sark_v2) only; at most 255 characters, no control characters).
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
    description:
      - Confirms O(state=deleted).
      - Also allows a role that no user has and that is not one of SARK's built-in roles (V(user), V(admin) in V(runbook);
        V(admin), V(developer) in V(sark_v2)); without it such a role (most likely a typo) is refused.
    type: bool
    default: false
  rate_limit_per_minute:
    description:
      - The user's own rate limit (the runbook's "Adjust Rate Limits" step, column C(rate_limit_per_minute)), 1 to 1000000.
      - Only the V(runbook) layout has it; SARK 2.x sets limits per API key and globally.
    type: int
  roles:
    description:
      - Roles of the user (V(runbook), a list; a V(sark_v2) user has exactly one, so at most one item there).
      - Role names are lower-case letters, digits, C(_) and C(-), at most 50 characters; see O(force) for unknown roles.
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
  - In V(sark_v2) a user written through the database gets C(extra_metadata) (V({})), C(created_at) and C(updated_at), which SARK's
    ORM fills and which have no database default, and every update sets C(updated_at), as the ORM does.
  - When the user's row was changed but revoking its sessions in Redis then fails (Redis down), the task fails with C(changed=true),
    RV(done) and RV(not_done); the change is kept, and a rerun of a disable revokes the sessions once Redis is back.
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
  description: V(created), V(updated), V(disabled), V(deleted) or V(none).
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
done:
  description: When the task fails after changing the user, what was changed (for example V(is_active=false)).
  returned: on failure after a change
  type: list
  elements: str
not_done:
  description: When the task fails after changing the user, what was not done (the session revocation).
  returned: on failure after a change
  type: list
  elements: str
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
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkError,
    SarkOperationError,
    SarkValidationError,
    sark_main,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis import connect as redis_connect
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeySweeper
from ansible_collections.sark.ops.plugins.module_utils._sessions import SessionStore
from ansible_collections.sark.ops.plugins.module_utils._users import (
    ApiUsers,
    DbUsers,
    hash_password,
    password_matches,
    validate_email,
    validate_role,
    validate_username,
)

SHOWN = ("username", "email", "full_name", "is_active", "is_admin", "roles", "role", "rate_limit_per_minute")
MAX_RATE_LIMIT = 1000000
MAX_FULL_NAME = 255


def validate(params, layout):
    """Bad input fails here, before anything is looked up or changed."""
    if params["name"] is not None:
        validate_username(params["name"])
    if params["email"] is not None:
        validate_email(params["email"])
    if params["full_name"] is not None and (len(params["full_name"]) > MAX_FULL_NAME
                                            or any(ord(ch) < 32 or ord(ch) == 127 for ch in params["full_name"])):
        raise SarkValidationError("full_name must be at most %d characters without control characters; nothing was changed"
                                  % MAX_FULL_NAME)
    for role in wanted_roles(params) or []:
        validate_role(role, "roles" if params["roles"] is not None else "role")
    if layout.traits.get("user_roles") == "single" and params["roles"] is not None and len(params["roles"]) > 1:
        raise SarkValidationError("roles: a %s user has exactly one role, got %d (%s): set role instead; nothing was changed"
                                  % (layout.name, len(params["roles"]), ", ".join(params["roles"])))
    limit = params["rate_limit_per_minute"]
    if limit is not None:
        if not layout.traits.get("user_rate_limit_column"):
            raise SarkValidationError("rate_limit_per_minute: the %s layout has no per-user rate limit column; SARK 2.x sets "
                                      "limits per API key (api_keys.rate_limit) and globally" % layout.name)
        if not 1 <= limit <= MAX_RATE_LIMIT:
            raise SarkValidationError("rate_limit_per_minute must be between 1 and %d, got %s; nothing was changed" % (MAX_RATE_LIMIT, limit))


def wanted_roles(params):
    if params["roles"] is not None:
        return params["roles"]
    return [params["role"]] if params["role"] else None


def check_roles_known(store, layout, params, key):
    """A role no user has and SARK does not define is most likely a typo: refuse it unless forced."""
    roles = wanted_roles(params)
    if not roles or params["force"]:
        return
    known = set(layout.traits.get("user_builtin_roles") or ()) | store.roles_in_use()
    unknown = sorted(set(roles) - known)
    if unknown:
        raise SarkValidationError("Unknown role %s for user %s: no user has it and it is not one of SARK's built-in roles (%s). "
                                  "Check the spelling, or set force: true to grant a new role; nothing was changed"
                                  % (", ".join(unknown), key, ", ".join(sorted(known))))


def desired_fields(params, layout):
    fields = {"is_active": params["state"] == "present"}
    if params["rate_limit_per_minute"] is not None:
        fields["rate_limit_per_minute"] = params["rate_limit_per_minute"]
    if params["email"] is not None:
        fields["email"] = params["email"]
    if params["admin"] is not None:
        fields["is_admin"] = params["admin"]
    roles = wanted_roles(params)
    if layout.traits.get("user_roles") == "single":
        if roles:
            fields["role"] = roles[0]
        if params["full_name"] is not None:
            fields["full_name"] = params["full_name"]
    elif roles is not None:
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


def redis_problem(exc):
    """What went wrong with Redis, in words that fit the cause: a dead peer is not a TLS problem."""
    cause = exc.__cause__
    if isinstance(exc, SarkConnectionError) and exc.kind in ("unreachable", "protocol", "timeout") and cause is not None:
        target = exc.details.get("target") or "the configured address"
        return "Redis at %s could not be reached or closed the connection (%s)" % (target, str(cause).strip() or type(cause).__name__)
    return exc.msg


def revoke_after_change(module, layout, user, key, done, after):
    """Revoke the sessions after the user's row changed; a Redis failure keeps (and reports) the change and fails clearly."""
    try:
        return revoke(module, layout, user["id"])
    except SarkError as exc:
        problem = redis_problem(exc)
        if module.check_mode:
            raise SarkOperationError("Counting the sessions of user %s failed: %s. Nothing was changed." % (key, problem),
                                     user=after) from exc
        not_done = "revoke the sessions of user %s (id %s) in Redis" % (key, user["id"])
        if done:
            advice = ("Run this task again once Redis is reachable: it finds the user disabled and revokes its sessions"
                      if done.get("disabled") else
                      "Revoke them once Redis is reachable with sark.ops.sark_session (user_id: %s, state: absent): a rerun of this "
                      "task finds the password already set and does not revoke them again" % user["id"])
            msg = ("User %s was changed in the %s (%s), but its sessions were NOT revoked: %s. Its existing sessions stay valid "
                   "until they expire. %s." % (key, done["where"], done["what"], problem, advice))
        else:
            msg = ("User %s needed no change, but revoking its sessions failed: %s. Nothing was changed; run this task again once "
                   "Redis is reachable." % (key, problem))
        raise SarkOperationError(msg, user=after, action="disabled" if done.get("disabled") else "none",
                                 done=[done["what"]] if done else [], not_done=[not_done], sessions_revoked=0,
                                 error_kind=getattr(exc, "kind", None)) from exc


def run(module):  # pylint: disable=too-many-branches,too-many-statements,too-many-locals
    params = module.params
    layout = Layout.from_params(params)
    validate(params, layout)
    identity = layout.traits.get("user_identity")
    key = params["name"] if identity == "username" else params["email"]
    if not key:
        raise SarkValidationError("The %s layout identifies users by %s: set it" % (layout.name, "name (username)" if identity == "username" else "email"))
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
            return finish(module, layout, delete_user(module, layout, store, user, key), key)
        if params["state"] == "present":
            check_roles_known(db or store, layout, params, key)
        if user is None:
            if params["state"] == "absent":
                result.update(changed=False, action="none", user=None, msg="User %s does not exist: nothing to disable" % key)
                return finish(module, layout, result, key)
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
            return finish(module, layout, result, key)
        changes = changes_for(user, fields)
        change_password = False
        if params["password"] and params["update_password"] == "always":
            change_password = not password_matches(stored_hash, params["password"])
        if changes:
            module.evidence.plan("update", user=key, id=user["id"], changes=changes, via=params["via"])
        if change_password:
            module.evidence.plan("set_password", user=key, id=user["id"], via=params["via"], hash="argon2id m=65536,t=3,p=4")
        after = dict(user, **changes)
        done = {}
        if not module.check_mode and (changes or change_password):
            secret = None
            if change_password:
                secret = params["password"] if params["via"] == "api" else hash_password(params["password"])
            store.update(user["id"], changes, secret)
            module.evidence.executed("update", user=key, id=user["id"], fields=sorted(changes) + (["password"] if change_password else []))
            done = {"where": "database" if params["via"] == "database" else "SARK API", "disabled": changes.get("is_active") is False,
                    "what": ", ".join(["is_active=false" if k == "is_active" and v is False else "%s set" % k for k, v in sorted(changes.items())]
                                      + (["password set"] if change_password else []))}
        sessions = 0
        if params["revoke_sessions"] and (params["state"] == "absent" or change_password):
            sessions = revoke_after_change(module, layout, user, key, done, after)
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
        return finish(module, layout, result, key, sorted(changes))
    finally:
        if conn is not None:
            conn.close()


def delete_user(module, layout, store, user, key):
    result = {"password_changed": False, "sessions_revoked": 0}
    if user is None:
        result.update(changed=False, action="none", user=None, msg="User %s does not exist: nothing to delete" % key)
        return result
    module.evidence.plan("delete", user=key, id=user["id"], via="database")
    try:
        sessions = revoke(module, layout, user["id"]) if module.params["revoke_sessions"] else 0
    except SarkError as exc:
        raise SarkOperationError("Deleting user %s revokes its sessions first, and that failed: %s. Nothing was deleted; run this "
                                 "task again once Redis is reachable (or set revoke_sessions: false)." % (key, redis_problem(exc))) from exc
    if not module.check_mode:
        store.delete(user["id"])
        module.evidence.executed("delete", user=key, id=user["id"])
    result.update(changed=True, action="deleted", user=user, sessions_revoked=sessions,
                  diff={"before": {k: user.get(k) for k in SHOWN}, "after": {}})
    return result


VERBS = {"created": ("Created", "Would create"), "updated": ("Updated", "Would update"), "disabled": ("Disabled", "Would disable"),
         "deleted": ("Deleted", "Would delete")}


def message(result, key, check_mode, fields=()):
    """One sentence saying what was (or would be) done."""
    sessions = result.get("sessions_revoked") or 0
    revoked = ("would revoke %d session(s)" if check_mode else "revoked %d session(s)") % sessions
    if not result.get("changed"):
        if result.get("action") == "none" and result.get("user") and result["user"].get("is_active") is False:
            return "User %s is already disabled and has no sessions" % key
        return "User %s is already as asked" % key
    if result["action"] == "none":
        return "User %s is already disabled; %s left over" % (key, revoked)
    text = "%s user %s" % (VERBS[result["action"]][1 if check_mode else 0], key)
    details = [f for f in fields if not (result["action"] == "disabled" and f == "is_active")]
    if details:
        text += " (%s)" % ", ".join(details)
    if result.get("password_changed") and result["action"] != "created":
        text += ", " + ("would set" if check_mode else "set") + " its password"
    if sessions or result["action"] in ("disabled", "deleted"):
        text += " and " + revoked
    return text


def finish(module, layout, result, key, fields=()):
    if not module.diff_mode or not result.get("changed"):
        result.pop("diff", None)
    if result.get("password_changed") and not layout.traits.get("user_password_used", True):
        module.warn("SARK 2.x does not read users.hashed_password: the new password may not change how the user logs in")
    result.setdefault("msg", message(result, key, module.check_mode, fields))
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
        # not a secret (the word "password" in its name made Ansible warn about a missing no_log)
        update_password=dict(type="str", choices=["on_create", "always"], default="on_create", no_log=False),
        via=dict(type="str", choices=["api", "database"], default="api"),
        revoke_sessions=dict(type="bool", default=True),
    )
    sark_main(run, spec, (api_argument_spec, postgres_argument_spec, redis_argument_spec, layout_argument_spec), mutually_exclusive=[("roles", "role")])


if __name__ == "__main__":
    main()
