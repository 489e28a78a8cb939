#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: auditron_api_key
short_description: Revoke AUDITRON API keys - one, several, or every key of an organisation
version_added: 0.3.0
description:
  - Seed 004's "Revoking API Keys" and the security-incident step "Contain - disable affected keys".
  - O(via=api) calls the runbook's C(POST /api/admin/api-keys/{id}/revoke) for each key (runbook layout only - the code has
    no such route); O(via=database) runs one C(UPDATE "ApiKey" SET active = false) for all of them (and, in the code's table
    shape, C("disabledAt" = now())). Either way the current state is read from the database first, so a second run
    changes nothing and check mode shows exactly which keys would be revoked.
  - Every SQL identifier is quoted; the table and column names come from the layout (both C("ApiKey") shapes).
  - Refuses (before changing anything) when a named key does not exist, or when more than O(max_keys) would be revoked.
options:
  state:
    description: V(revoked) - the keys are inactive afterwards.
    type: str
    choices: [revoked]
    default: revoked
  key_ids:
    description: The keys to revoke. One of O(key_ids) and O(org_id) is required.
    type: list
    elements: str
  org_id:
    description: Revoke every active key of this organisation.
    type: str
  via:
    description: How to revoke. Default - V(api) in the V(runbook) layout, V(database) in V(auditron_code).
    type: str
    choices: [api, database]
  max_keys:
    description: The most keys one run may revoke; more is refused (raise it on purpose for a large organisation).
    type: int
    default: 100
extends_documentation_fragment:
  - sark.ops.auditron
  - sark.ops.auditron.API
  - sark.ops.postgres
  - sark.ops.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: sark.ops.auditron_api_key_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Revoke one key through the admin API (runbook)
  sark.ops.auditron_api_key:
    key_ids: [ckx1y2z3a0000abcd1234efgh]
    auditron_url: https://api.auditron.ai
    auditron_token: "{{ auditron_admin_token }}"
    pg_host: db.auditron.internal
    pg_database: auditron

- name: Contain an incident - revoke every key of an organisation (code layout, database)
  sark.ops.auditron_api_key:
    layout: auditron_code
    org_id: "{{ compromised_org }}"
    pg_host: db.auditron.internal
    pg_database: auditron
'''

RETURN = r'''
via:
  description: V(api) or V(database).
  returned: always
  type: str
  sample: database
revoked:
  description: The ids revoked by this run (check mode - that would be).
  returned: always
  type: list
  elements: str
  sample: ["ckx1y2z3a0000abcd1234efgh"]
already_revoked:
  description: The named keys that were inactive already.
  returned: always
  type: list
  elements: str
diff:
  description: With C(--diff) - C(active) per key id, before and after.
  returned: when diff mode is on and something changes
  type: dict
planned_actions:
  description: What the run would do (check mode) or did.
  returned: always
  type: list
  elements: dict
executed_actions:
  description: What was done.
  returned: always
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _auditron as au
from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkLimitError,
    SarkPreconditionError,
    SarkValidationError,
    sark_main,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec


def validate(params, layout):
    if bool(params.get("key_ids")) == bool(params.get("org_id")):
        raise SarkValidationError("Give exactly one of key_ids (the keys to revoke) and org_id (all keys of an organisation)")
    if params.get("key_ids") and any(not str(k).strip() for k in params["key_ids"]):
        raise SarkValidationError("key_ids may not contain an empty id")
    if params["max_keys"] < 1:
        raise SarkValidationError("max_keys must be at least 1")
    via = params.get("via") or ("api" if layout.has("api_key_revoke_route") else "database")
    if via == "api" and not layout.has("api_key_revoke_route"):
        raise au.unavailable(layout, "api_key_revoke_route")
    return via


def current_keys(keys, params):
    if params.get("org_id"):
        return keys.list(org_id=params["org_id"], limit=params["max_keys"] + 1, active_only=True)
    wanted = list(dict.fromkeys(str(k).strip() for k in params["key_ids"]))
    rows = keys.list(key_ids=wanted, limit=len(wanted))
    missing = sorted(set(wanted) - {row["id"] for row in rows})
    if missing:
        raise SarkPreconditionError("No such API key: %s; nothing was revoked" % ", ".join(missing))
    return rows


def run(module):
    params = module.params
    layout = au.layout_of(params)
    via = validate(params, layout)
    conn = pg.connect(params, dbname=params.get("pg_database") or layout.fact("database"), module_name="auditron_api_key")
    try:
        keys = au.ApiKeys(conn, layout)
        keys.check_table()
        rows = current_keys(keys, params)
        to_revoke = [row["id"] for row in rows if row["active"]]
        already = [row["id"] for row in rows if not row["active"]]
        if len(to_revoke) > params["max_keys"]:
            raise SarkLimitError("More than max_keys=%d active keys would be revoked; nothing was revoked. Raise max_keys "
                                 "to revoke them all" % params["max_keys"])
        result = dict(via=via, layout=layout.name, revoked=to_revoke, already_revoked=already, changed=bool(to_revoke))
        if to_revoke:
            module.evidence.plan("revoke", via=via, keys=len(to_revoke), ids=to_revoke[:20])
        if module.diff_mode and to_revoke:
            result["diff"] = {"before": {k: True for k in to_revoke}, "after": {k: False for k in to_revoke}}
        if module.check_mode or not to_revoke:
            result["msg"] = ("Would revoke %d API key(s)" % len(to_revoke)) if to_revoke else "Nothing to do: no active key"
            return result
        if via == "database":
            done = keys.revoke(to_revoke)
            module.evidence.executed("revoke", via=via, keys=len(done), ids=done[:20])
        else:
            client = au.AuditronApiClient(params)
            done = []
            for key_id in to_revoke:
                au.api_revoke(client, layout, key_id)
                done.append(key_id)
                module.evidence.executed("POST %s" % layout.route("api_key_revoke_route", key_id=key_id))
            still = [row["id"] for row in keys.list(key_ids=done, limit=len(done)) if row["active"]]
            if still:
                raise SarkPreconditionError("The API answered, but key(s) %s are still active in the database"
                                            % ", ".join(still))
        result["revoked"] = done
        module.evidence.set_count("revoked", len(done))
        result["msg"] = "Revoked %d API key(s)" % len(done)
        return result
    finally:
        conn.close()


def main():
    options = dict(
        state=dict(type="str", choices=["revoked"], default="revoked"),
        key_ids=dict(type="list", elements="str", no_log=False),
        org_id=dict(type="str"),
        via=dict(type="str", choices=["api", "database"]),
        max_keys=dict(type="int", default=100, no_log=False),
    )
    sark_main(run, options, families=(au.layout_spec, au.api_argument_spec, postgres_argument_spec))


if __name__ == "__main__":
    main()
