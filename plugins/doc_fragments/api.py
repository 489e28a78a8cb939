# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_api.py api_argument_spec()
    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of the SARK API, for example V(https://sark.example.com).
      - If not set, the value of the E(SARK_API_URL) environment variable is used.
    type: str
  api_token:
    description:
      - "Bearer token (JWT) sent in the C(Authorization) header. Never logged or returned."
      - If not set, the value of the E(SARK_API_TOKEN) environment variable is used.
    type: str
  api_validate_certs:
    description:
      - Validate the API's TLS certificate.
      - If not set, the value of the E(SARK_API_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  api_ca_path:
    description:
      - CA bundle used to validate the API's TLS certificate.
      - If not set, the value of the E(SARK_API_CA_PATH) environment variable is used.
    type: path
  api_timeout:
    description:
      - Seconds to wait for each HTTP request.
      - If not set, the value of the E(SARK_API_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  api_retries:
    description:
      - How many times to retry a request that got HTTP 429 or 5xx, with exponential backoff
        (O(api_backoff) doubled each time) or the server's C(Retry-After).
      - If not set, the value of the E(SARK_API_RETRIES) environment variable is used.
    type: int
    default: 3
  api_backoff:
    description:
      - First retry delay in seconds.
      - If not set, the value of the E(SARK_API_BACKOFF) environment variable is used.
    type: float
    default: 0.5
attributes:
  action_group:
    description: Use C(group/sark.ops.api) in C(module_defaults) to set the SARK API connection and layout once for every API module.
    support: full
    membership:
      - sark.ops.all
      - sark.ops.api
notes:
  - Redirects to the same origin are followed with method and body kept (SARK 2.x answers C(307) to add
    a trailing slash); redirects to another origin are refused so the token never leaves.
  - Every write (POST, PUT, PATCH, DELETE) carries the CSRF double-submit pair SARK 2.x requires,
    header C(X-CSRF-Token) and cookie C(csrf_token) with the same random value.
'''
