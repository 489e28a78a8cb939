#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_user_info
short_description: List and filter SARK users (API or database), never with password hashes
version_added: 0.1.0
description:
  - Automates the runbook's "List Users" (via API and via the database) and the security review of user permissions.
  - O(via=api) reads C(GET /api/v1/users) (V(runbook) layout only; SARK 2.x has no users API). O(via=database) reads the
    C(users) table of either layout.
  - Users have the same keys in both layouts; password hashes are never read out of the database nor returned.
options:
  name:
    description: Only the user with this username (V(runbook)); an invalid username (quotes, semicolons, spaces) is refused.
    type: str
  email:
    description: Only the user with this email; an invalid address is refused.
    type: str
  search:
    description:
      - Only users whose username, full name or email contains this text (case-insensitive; C(%) and C(_) are plain characters).
      - 1 to 255 characters without control characters.
    type: str
  active:
    description: Only active (V(true)) or disabled (V(false)) users.
    type: bool
  admin:
    description: Only administrators (V(true)) or non-administrators (V(false)).
    type: bool
  role:
    description: Only users with this role.
    type: str
  max_results:
    description: The most users returned, newest first (1-1000).
    type: int
    default: 100
    version_added: 0.2.0
  via:
    description: Read through the V(api) (runbook layout only) or the V(database).
    type: str
    choices: [api, database]
    default: api
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.postgres
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
attributes:
  action_group:
    description: Use C(group/sark.ops.api) and C(group/sark.ops.postgres) in C(module_defaults).
    support: full
    membership:
      - sark.ops.all
      - sark.ops.api
      - sark.ops.postgres
seealso:
  - module: sark.ops.sark_user
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: The 20 newest users (runbook "List Users")
  sark.ops.sark_user_info:
    max_results: 20

- name: Administrators of a SARK 2.x deployment
  sark.ops.sark_user_info:
    layout: sark_v2
    via: database
    admin: true
'''

RETURN = r'''
users:
  description: The matching users, newest first - C(id), C(username), C(email), C(full_name), C(is_active), C(is_admin), C(roles), C(role), C(created_at).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "user-123", "username": "john.doe", "email": "john.doe@example.com", "is_active": true, "is_admin": false, "roles": ["user"]}]
count:
  description: How many users were returned.
  returned: always
  type: int
  sample: 4
layout:
  description: The layout used.
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
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._users import ApiUsers, DbUsers, validate_email, validate_role, validate_username

MAX_SEARCH = 255


def run(module):
    params = module.params
    layout = Layout.from_params(params)
    if not 1 <= params["max_results"] <= 1000:
        raise SarkValidationError("max_results must be between 1 and 1000, got %s" % params["max_results"])
    if params["name"] is not None:
        validate_username(params["name"])
    if params["email"] is not None:
        validate_email(params["email"])
    if params["role"] is not None:
        validate_role(params["role"])
    search = params["search"]
    if search is not None and (not search or len(search) > MAX_SEARCH or any(ord(ch) < 32 or ord(ch) == 127 for ch in search)):
        raise SarkValidationError("search must be 1 to %d characters without control characters" % MAX_SEARCH)
    conn = None
    try:
        if params["via"] == "api":
            store = ApiUsers(SarkApiClient(params), layout)
        else:
            conn = pg.connect(params, dbname=params["pg_database"] or layout.template("app_database"), module_name="sark_user_info")
            store = DbUsers(conn, layout, pg)
        search = params["search"] or params["name"] or params["email"]
        users = store.list(search=search, active=params["active"], admin=params["admin"], role=params["role"], limit=params["max_results"])
    finally:
        if conn is not None:
            conn.close()
    if params["name"]:
        users = [u for u in users if u["username"] == params["name"]]
    if params["email"]:
        users = [u for u in users if (u["email"] or "").lower() == params["email"].lower()]
    module.evidence.set_count("users", len(users))
    return {"users": users, "count": len(users), "layout": layout.name}


def main():
    spec = dict(
        name=dict(type="str"),
        email=dict(type="str"),
        search=dict(type="str"),
        active=dict(type="bool"),
        admin=dict(type="bool"),
        role=dict(type="str"),
        max_results=dict(type="int", default=100),
        via=dict(type="str", choices=["api", "database"], default="api"),
    )
    sark_main(run, spec, (api_argument_spec, postgres_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
