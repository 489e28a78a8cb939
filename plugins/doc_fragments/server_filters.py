# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_servers.py filter_argument_spec(): which servers sark_server_info and
    # sark_server_export select
    DOCUMENTATION = r'''
options:
  server_id:
    description: Only this one server.
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
'''
