# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_layout.py layout_argument_spec()
    DOCUMENTATION = r'''
options:
  layout:
    description:
      - Which SARK data layout the deployment follows.
      - V(runbook) is what the SARK operations runbooks document; V(sark_v2) is what the SARK 2.x code does.
        They differ in key names, tables and API routes; see the collection's C(docs/layouts.md).
        Use M(sark.ops.sark_contract_info) to ask a live deployment which one it follows.
      - If not set, the value of the E(SARK_LAYOUT) environment variable is used.
    type: str
    choices: [runbook, sark_v2]
    default: runbook
  layout_templates:
    description:
      - >-
        Override individual key templates, table names or routes of the chosen layout, for example
        C({"session_key": "sess:{user_id}:{session_id}"}). An override must keep the placeholders of the
        template it replaces. Unknown names are refused with the list of known ones.
    type: dict
    default: {}
'''

    # For modules that read no layout fact: the options exist so that module_defaults can set them once for a whole
    # action group (group/sark.ops.all and the family groups) without breaking this module. Matches layout_argument_spec().
    ACCEPTED = r'''
options:
  layout:
    description:
      - Accepted so that C(module_defaults) can set it once for a whole action group (for example C(group/sark.ops.all));
        this module reads no layout fact and ignores it.
      - If not set, the value of the E(SARK_LAYOUT) environment variable is used.
    type: str
    choices: [runbook, sark_v2]
    default: runbook
  layout_templates:
    description: Accepted with O(layout); this module ignores it.
    type: dict
    default: {}
'''
