# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_auditron.py layout_spec() (the auditron entry of _layout.PLATFORM_LAYOUTS);
    # every AUDITRON module is in group/sark.ops.auditron
    DOCUMENTATION = r'''
options:
  layout:
    description:
      - Which AUDITRON layout the deployment follows (see C(shared/spec/platforms-contract.md) and
        M(sark.ops.auditron_layout_info)).
      - V(runbook) is the operations runbook (seed 004) - an admin API C(/api/admin/queue/*) and
        C(/api/admin/api-keys/{id}/revoke), C(/health/detailed).
      - V(auditron_code) is the published code - no admin routes; the queue is BullMQ on Redis, driven here with BullMQ's
        own operations (BullMQ for Python), never by editing its keys.
      - If not set, the value of the E(AUDITRON_LAYOUT) environment variable is used.
    type: str
    choices: [runbook, auditron_code]
    default: runbook
attributes:
  action_group:
    description: Use C(group/sark.ops.auditron) in C(module_defaults) to set the AUDITRON connections and layout once.
    support: full
    membership:
      - sark.ops.auditron
'''

    # Matches _auditron.api_argument_spec()
    API = r'''
options:
  auditron_url:
    description:
      - Base URL of the AUDITRON API, for example V(https://api.auditron.ai).
      - If not set, the value of the E(AUDITRON_URL) environment variable is used.
    type: str
  auditron_token:
    description:
      - "Admin JWT sent as C(Authorization: Bearer <token>). Never logged or returned."
      - If not set, the value of the E(AUDITRON_TOKEN) environment variable is used.
    type: str
  auditron_validate_certs:
    description:
      - Validate the API's TLS certificate.
      - If not set, the value of the E(AUDITRON_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  auditron_ca_path:
    description:
      - CA bundle used to validate the API's TLS certificate.
      - If not set, the value of the E(AUDITRON_CA_PATH) environment variable is used.
    type: path
  auditron_timeout:
    description:
      - Seconds to wait for each HTTP request.
      - If not set, the value of the E(AUDITRON_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  auditron_retries:
    description:
      - How many times to retry a request that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(AUDITRON_RETRIES) environment variable is used.
    type: int
    default: 3
  auditron_backoff:
    description:
      - First retry delay in seconds.
      - If not set, the value of the E(AUDITRON_BACKOFF) environment variable is used.
    type: float
    default: 0.5
'''
