#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: auditron_api_key_info
short_description: List AUDITRON API keys by age, for rotation
version_added: 0.3.0
description:
  - Lists the keys of the C("ApiKey") table (either layout's shape), oldest first, with their age and whether they are due
    for rotation (older than O(max_age_days) and still active). Never returns a key's hash.
  - Never changes anything.
options:
  org_id:
    description: Only this organisation's keys.
    type: str
  active_only:
    description: Only active keys.
    type: bool
    default: false
  max_age_days:
    description: A key older than this (and active) is due for rotation.
    type: int
    default: 90
  limit:
    description: The most keys listed (oldest first); at most 10000.
    type: int
    default: 1000
extends_documentation_fragment:
  - sark.ops.auditron
  - sark.ops.postgres
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
seealso:
  - module: sark.ops.auditron_api_key
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Keys due for rotation
  sark.ops.auditron_api_key_info:
    layout: auditron_code
    pg_host: db.auditron.internal
    pg_database: auditron
    active_only: true
  register: keys

- name: Show them
  ansible.builtin.debug:
    msg: "{{ keys.rotation_due }}"
'''

RETURN = r'''
api_keys:
  description:
    - Oldest first - C(id), C(org_id), C(name), C(active), C(created_at), C(last_used_at), C(age_days), C(rotation_due) and,
      in the code's shape, C(disabled_at).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "ckx1", "org_id": "cko1", "name": "ci", "active": true, "age_days": 200.0, "rotation_due": true}]
rotation_due:
  description: The ids of active keys older than O(max_age_days).
  returned: always
  type: list
  elements: str
truncated:
  description: Whether more keys exist than O(limit).
  returned: always
  type: bool
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _auditron as au
from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main, utcnow
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec


def run(module):
    params = module.params
    if not 1 <= params["limit"] <= 10000:
        raise SarkValidationError("limit must be between 1 and 10000, got %s" % params["limit"])
    if params["max_age_days"] < 1:
        raise SarkValidationError("max_age_days must be at least 1")
    layout = au.layout_of(params)
    conn = pg.connect(params, dbname=params.get("pg_database") or layout.fact("database"), module_name="auditron_api_key_info")
    try:
        keys = au.ApiKeys(conn, layout)
        keys.check_table()
        rows = keys.list(org_id=params.get("org_id"), active_only=params["active_only"], limit=params["limit"] + 1)
    finally:
        conn.close()
    now = utcnow()
    listed = [au.key_row(row, now, params["max_age_days"]) for row in rows[:params["limit"]]]
    module.evidence.set_count("keys", len(listed))
    return dict(changed=False, layout=layout.name, api_keys=listed, truncated=len(rows) > params["limit"],
                rotation_due=[key["id"] for key in listed if key["rotation_due"]])


def main():
    options = dict(
        org_id=dict(type="str"),
        active_only=dict(type="bool", default=False),
        max_age_days=dict(type="int", default=90),
        limit=dict(type="int", default=1000),
    )
    sark_main(run, options, families=(au.layout_spec, postgres_argument_spec))


if __name__ == "__main__":
    main()
