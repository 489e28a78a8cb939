#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_server_info
short_description: List, filter, count and export SARK MCP servers
version_added: 0.1.0
description:
  - Automates the runbook's "List Servers" (all, by owner, by search) and "Bulk Operations - Export all servers" steps, and the
    incident runbook's server count, in both layouts.
  - In the V(runbook) layout it reads C(GET /api/v1/servers) with the filters the API knows (up to 10,000 servers, the route's
    limit; RV(truncated) says when that cap was hit). In the V(sark_v2) layout the list route gives one page of at most 200
    items without endpoints (following its cursor answers 500), so the module streams C(GET /api/v1/export/servers.json) and
    filters as it reads.
  - With O(export_path), every matching server is streamed to a CSV or JSON file (bounded memory, written to a temporary file
    and moved into place); RV(servers) then holds at most O(max_results) of them.
options:
  server_id:
    description: Return this one server.
    type: str
  name:
    description: Only servers with exactly this name.
    type: str
  endpoint:
    description: Only servers with exactly this endpoint.
    type: str
  owner_id:
    description:
      - Only servers of this owner (the runbook's C(?owner_id=)).
      - In V(sark_v2) the export carries no owner, so the owner's servers are taken from one page of the list route
        (C(?owner_id=), at most 200, since SARK 2.x's cursor is broken); an owner of more servers is refused with a clear error.
    type: str
  search:
    description: Only servers whose name, endpoint or description contains this text (case-insensitive).
    type: str
  status:
    description: Only servers with one of these statuses.
    type: list
    elements: str
    choices: [registered, active, inactive, unhealthy, decommissioned]
  sensitivity:
    description: Only servers with one of these sensitivity levels (V(sark_v2) only).
    type: list
    elements: str
    choices: [low, medium, high, critical]
  max_results:
    description: The most servers RV(servers) returns; RV(count) still counts every match.
    type: int
    default: 1000
  export_path:
    description:
      - Write every matching server to this file on the managed node (replaced atomically; left alone when the content is the same).
      - Not written in check mode; C(changed) then says whether it would be.
    type: path
  export_format:
    description: Format of O(export_path) - V(csv) or V(json) (C({"servers":[...], "count":N})).
    type: str
    choices: [csv, json]
    default: csv
  export_fields:
    description: The fields written to O(export_path), in order. The runbook's export has C(id,name,endpoint).
    type: list
    elements: str
    choices: [id, name, endpoint, status, owner_id, team_id, transport, sensitivity_level, description, tags, created_at, updated_at]
    default: [id, name, endpoint, status]
  export_header:
    description: Write a header line to a CSV export (M(sark.ops.sark_server) recognises it when importing the file).
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_API
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads as usual; an export is written to a scratch file only, so C(changed) says whether O(export_path) would change.
  diff_mode:
    support: none
  idempotent:
    support: full
seealso:
  - module: sark.ops.sark_server
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Servers of one owner (runbook "Filter by owner")
  sark.ops.sark_server_info:
    owner_id: user-123
  register: owned

- name: Active production servers on SARK 2.x
  sark.ops.sark_server_info:
    layout: sark_v2
    search: prod
    status: [active]

- name: Export every server to CSV (runbook "Export all servers")
  sark.ops.sark_server_info:
    export_path: /srv/backup/servers.csv
    export_fields: [id, name, endpoint]
    max_results: 0
'''

RETURN = r'''
servers:
  description: The matching servers (at most O(max_results)), with the same keys in both layouts.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "3f2c", "name": "prod-server-01", "endpoint": "https://prod-server-01.example.com", "status": "active",
            "owner_id": "user-123", "tags": ["production"], "sensitivity_level": null, "transport": null}]
count:
  description: How many servers matched.
  returned: always
  type: int
  sample: 5
truncated:
  description: Whether RV(servers) holds fewer than RV(count), or the V(runbook) list route's 10,000 cap was reached.
  returned: always
  type: bool
  sample: false
by_status:
  description: Matching servers per status.
  returned: always
  type: dict
  sample: {"active": 3, "inactive": 1}
export:
  description: The export - C(path), C(format), C(rows), C(bytes), C(written) (false in check mode or when the file was already the same).
  returned: when export_path is given
  type: dict
  sample: {"path": "/srv/servers.csv", "format": "csv", "rows": 10005, "bytes": 812345, "written": true}
changed:
  description: True when an export file was written with new content.
  returned: always
  type: bool
layout:
  description: The layout used.
  returned: always
  type: str
  sample: sark_v2
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkModule, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._servers import (
    SERVER_FIELDS,
    STATUSES,
    ServerApi,
    export_servers,
    matches,
)


class Collector:
    """Counts every server that streams past and keeps the first max_results."""

    def __init__(self, max_results):
        self.max_results = max_results
        self.kept = []
        self.count = 0
        self.by_status = {}

    def __call__(self, servers):
        for server in servers:
            self.count += 1
            status = server.get("status") or "unknown"
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if len(self.kept) < self.max_results:
                self.kept.append(server)
            yield server


def run(module):
    params = module.params
    layout = Layout.from_params(params)
    if params["max_results"] < 0:
        raise SarkValidationError("max_results must be 0 or more")
    api = ServerApi(SarkApiClient(params), layout)
    if params["sensitivity"] and not api.v2:
        raise SarkValidationError("sensitivity: servers of the runbook layout have no sensitivity level (only sark_v2 has it)")
    if params["status"]:
        unknown = [s for s in params["status"] if s not in api.statuses()]
        if unknown:
            raise SarkValidationError("status %s does not exist in the %s layout (use %s)"
                                      % (", ".join(unknown), layout.name, ", ".join(api.statuses())))
    filters = {k: params[k] for k in ("name", "endpoint", "owner_id", "search", "status", "sensitivity")}
    collector = Collector(params["max_results"])
    result = {"changed": False, "layout": layout.name}
    if params["server_id"]:
        server = api.get(params["server_id"])
        stream = iter([server] if server and matches(server, filters) else [])
    else:
        stream = api.iter_servers(filters)
    counted = collector(stream)
    if params["export_path"]:
        rows, size, changed = export_servers(counted, params["export_path"], params["export_format"], params["export_fields"],
                                             params["export_header"], dry_run=module.check_mode)
        written = changed and not module.check_mode
        result["export"] = {"path": params["export_path"], "format": params["export_format"], "rows": rows, "bytes": size,
                            "written": written}
        result["changed"] = changed
        record = module.evidence.plan if module.check_mode else module.evidence.executed
        record("export", path=params["export_path"], rows=rows, written=written)
    else:
        for dummy in counted:
            pass
    result.update(servers=collector.kept, count=collector.count, by_status=collector.by_status,
                  truncated=api.truncated or collector.count > len(collector.kept))
    module.evidence.set_count("servers", collector.count)
    module.evidence.set_count("requests", api.requests)
    return result


def main():
    spec = dict(
        server_id=dict(type="str"),
        name=dict(type="str"),
        endpoint=dict(type="str"),
        owner_id=dict(type="str"),
        search=dict(type="str"),
        status=dict(type="list", elements="str", choices=list(STATUSES["sark_v2"])),
        sensitivity=dict(type="list", elements="str", choices=["low", "medium", "high", "critical"]),
        max_results=dict(type="int", default=1000),
        export_path=dict(type="path"),
        export_format=dict(type="str", choices=["csv", "json"], default="csv"),
        export_fields=dict(type="list", elements="str", choices=list(SERVER_FIELDS), default=["id", "name", "endpoint", "status"]),
        export_header=dict(type="bool", default=True),
    )
    spec.update(api_argument_spec())
    spec.update(layout_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
