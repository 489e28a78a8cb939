# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_opa.py opa_argument_spec() (_http.http_argument_spec("opa", "OPA"));
    # every OPA module is in group/sark.ops.opa
    DOCUMENTATION = r'''
options:
  opa_url:
    description:
      - Base URL of the OPA REST API, for example V(http://opa:8181).
      - If not set, the value of the E(OPA_URL) environment variable is used.
    type: str
  opa_token:
    description:
      - Bearer token for an OPA started with C(--authentication=token). Never logged or returned.
      - If not set, the value of the E(OPA_TOKEN) environment variable is used.
    type: str
  opa_validate_certs:
    description:
      - Validate OPA's TLS certificate.
      - If not set, the value of the E(OPA_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  opa_ca_path:
    description:
      - CA bundle used to validate OPA's TLS certificate.
      - If not set, the value of the E(OPA_CA_PATH) environment variable is used.
    type: path
  opa_timeout:
    description:
      - Seconds to wait for each HTTP request.
      - If not set, the value of the E(OPA_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  opa_retries:
    description:
      - How many times to retry a request that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(OPA_RETRIES) environment variable is used.
    type: int
    default: 3
  opa_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).
      - If not set, the value of the E(OPA_BACKOFF) environment variable is used.
    type: float
    default: 0.5
notes:
  - No OPA binary is tested here; the tests use an OPA-compatible REST server backed by the same Rego engine.
seealso:
  - name: OPA REST API
    description: The policy and data APIs this module uses.
    link: https://www.openpolicyagent.org/docs/latest/rest-api/
attributes:
  action_group:
    description: Use C(group/sark.ops.opa) in C(module_defaults) to set the OPA connection once for every OPA module.
    support: full
    membership:
      - sark.ops.all
      - sark.ops.opa
'''
