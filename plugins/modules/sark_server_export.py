#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_server_export
short_description: Write SARK's MCP servers to a CSV or JSON file
version_added: 0.2.0
description:
  - Automates the runbook's "Bulk Operations - Export all servers" step in both layouts - every server matching the filters
    is streamed into O(path) on the managed node.
  - In the V(runbook) layout the servers come from C(GET /api/v1/servers) (up to 10,000, the route's limit); in the
    V(sark_v2) layout from C(GET /api/v1/export/servers.json), decoded object by object. Memory stays bounded either way.
  - The file is written whole or not at all (a temporary file beside it, renamed into place) and only when its content
    differs, so a second run with the same servers reports C(changed=false) and leaves the file alone.
  - The filters are those of M(sark.ops.sark_server_info), which only reads.
options:
  path:
    description: The file to write on the managed node. Its directory must exist.
    type: path
    required: true
  format:
    description: V(csv), or V(json) (C({"servers":[...], "count":N})).
    type: str
    choices: [csv, json]
    default: csv
  fields:
    description: The fields written, in order. The runbook's export has C(id,name,endpoint).
    type: list
    elements: str
    choices: [id, name, endpoint, status, owner_id, team_id, transport, sensitivity_level, description, tags, created_at, updated_at]
    default: [id, name, endpoint, status]
  header:
    description: Write a header line to a CSV file (M(sark.ops.sark_server) recognises it when importing the file).
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.server_filters
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads the servers and hashes the content it would write, writing nothing (not even a scratch file); C(changed) says
        whether O(path) would change.
  diff_mode:
    support: full
    details:
      - A summary of the file before and after (exists, bytes, rows, SHA-256), not the content.
  idempotent:
    support: full
seealso:
  - module: sark.ops.sark_server_info
  - module: sark.ops.sark_server
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Export every server to CSV (runbook "Export all servers")
  sark.ops.sark_server_export:
    path: /srv/backup/servers.csv
    fields: [id, name, endpoint]

- name: Active production servers of SARK 2.x as JSON
  sark.ops.sark_server_export:
    layout: sark_v2
    path: /srv/backup/prod-servers.json
    format: json
    search: prod
    status: [active]
  register: exported

- name: Show what was written
  ansible.builtin.debug:
    msg: "{{ exported.export.rows }} servers, {{ exported.export.bytes }} bytes"
'''

RETURN = r'''
export:
  description: What was (or in check mode would be) written.
  returned: success
  type: dict
  contains:
    path:
      description: The absolute path of the file.
      type: str
      sample: /srv/backup/servers.csv
    format:
      description: V(csv) or V(json).
      type: str
      sample: csv
    rows:
      description: How many servers the file holds.
      type: int
      sample: 10005
    bytes:
      description: The size of the content.
      type: int
      sample: 812345
    sha256:
      description: The SHA-256 of the content.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    written:
      description: Whether the file was replaced (false in check mode and when the content was already the same).
      type: bool
      sample: true
  sample: {"path": "/srv/servers.csv", "format": "csv", "rows": 10005, "bytes": 812345, "sha256": "9f86...", "written": true}
count:
  description: How many servers were exported (the same as C(export.rows)).
  returned: success
  type: int
  sample: 10005
by_status:
  description: Exported servers per status.
  returned: success
  type: dict
  sample: {"active": 3, "inactive": 1}
truncated:
  description: Whether the V(runbook) list route's 10,000 cap was reached (the file then lacks servers past it).
  returned: success
  type: bool
  sample: false
layout:
  description: The layout used.
  returned: success
  type: str
  sample: sark_v2
planned_actions:
  description: The write that is (or in check mode would be) needed; empty when the file is already the same.
  returned: success
  type: list
  elements: dict
  sample: [{"action": "write", "path": "/srv/servers.csv", "format": "csv", "rows": 3, "bytes": 120}]
executed_actions:
  description: The write done; empty in check mode and when the file was already the same.
  returned: success
  type: list
  elements: dict
  sample: [{"action": "write", "path": "/srv/servers.csv", "format": "csv", "rows": 3, "bytes": 120}]
diff:
  description: With C(--diff), a summary of the file before and after.
  returned: diff mode
  type: dict
  sample: {"before": "exists: false\n", "after": "exists: true\nbytes: 120\nrows: 3\nsha256: 9f86...\n"}
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._files import check_writable_file
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._server_export import export_servers
from ansible_collections.sark.ops.plugins.module_utils._servers import (
    SERVER_FIELDS,
    Collector,
    ServerApi,
    filter_argument_spec,
    select_servers,
)


def summary(exists, size=None, rows=None, sha256=None):
    if not exists:
        return "exists: false\n"
    lines = ["exists: true", "bytes: %s" % size] + (["rows: %s" % rows] if rows is not None else []) + ["sha256: %s" % sha256]
    return "\n".join(lines) + "\n"


def run(module):
    params = module.params
    path = check_writable_file(params["path"], "export file")
    if not params["fields"]:
        raise SarkValidationError("fields is empty: name at least one of %s" % ", ".join(SERVER_FIELDS))
    api = ServerApi(SarkApiClient(params), Layout.from_params(params))
    collector = Collector(0)
    outcome = export_servers(collector(select_servers(api, params)), path, params["format"], params["fields"],
                             params["header"], check_mode=module.check_mode)
    written = outcome["changed"] and not module.check_mode
    details = {"path": path, "format": params["format"], "rows": outcome["rows"], "bytes": outcome["bytes"]}
    if outcome["changed"]:
        module.evidence.plan("write", **details)
    if written:
        module.evidence.executed("write", **details)
    module.evidence.set_count("servers", collector.count)
    module.evidence.set_count("requests", api.requests)
    result = {"changed": outcome["changed"], "layout": api.layout.name, "count": collector.count, "by_status": collector.by_status,
              "truncated": api.truncated, "export": dict(details, sha256=outcome["sha256"], written=written)}
    result.update(module.actions())
    if module.diff_mode:
        before = outcome["before"]
        result["diff"] = {"before_header": path, "after_header": path,
                          "before": summary(before["exists"], before["bytes"], sha256=before["sha256"]),
                          "after": summary(True, outcome["bytes"], outcome["rows"], outcome["sha256"])}
    return result


def main():
    spec = dict(
        path=dict(type="path", required=True),
        format=dict(type="str", choices=["csv", "json"], default="csv"),
        fields=dict(type="list", elements="str", choices=list(SERVER_FIELDS), default=["id", "name", "endpoint", "status"]),
        header=dict(type="bool", default=True),
    )
    sark_main(run, spec, (filter_argument_spec, api_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
