#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_server_info
short_description: List, filter and count SARK MCP servers
version_added: 0.1.0
description:
  - Automates the runbook's "List Servers" (all, by owner, by search) step and the incident runbook's server count, in both
    layouts. It only reads; M(sark.ops.sark_server_export) writes the runbook's export file.
  - In the V(runbook) layout it reads C(GET /api/v1/servers) with the filters the API knows (up to 10,000 servers, the route's
    limit; RV(truncated) says when that cap was hit). In the V(sark_v2) layout the list route gives one page of at most 200
    items without endpoints (following its cursor answers 500), so the module streams C(GET /api/v1/export/servers.json) and
    filters as it reads.
  - Every matching server streams past and is counted (bounded memory); RV(servers) holds at most O(max_results) of them.
options:
  max_results:
    description: The most servers RV(servers) returns; RV(count) still counts every match.
    type: int
    default: 1000
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.server_filters
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
seealso:
  - module: sark.ops.sark_server
  - module: sark.ops.sark_server_export
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

- name: How many servers are there (the incident runbook's count)
  sark.ops.sark_server_info:
    max_results: 0
  register: all_servers
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
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._servers import Collector, ServerApi, filter_argument_spec, select_servers


def run(module):
    params = module.params
    if params["max_results"] < 0:
        raise SarkValidationError("max_results must be 0 or more")
    api = ServerApi(SarkApiClient(params), Layout.from_params(params))
    collector = Collector(params["max_results"])
    for dummy in collector(select_servers(api, params)):
        pass
    module.evidence.set_count("servers", collector.count)
    module.evidence.set_count("requests", api.requests)
    return {"changed": False, "layout": api.layout.name, "servers": collector.kept, "count": collector.count,
            "by_status": collector.by_status, "truncated": api.truncated or collector.count > len(collector.kept)}


def main():
    sark_main(run, dict(max_results=dict(type="int", default=1000)), (filter_argument_spec, api_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
