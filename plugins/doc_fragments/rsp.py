# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_rsp.py rsp_argument_spec() (http_argument_spec for rsp_auth and rsp_policy) and
    # rsp_layout_argument_spec() (_layout.platform_layout_argument_spec("rsp")); every RSP module is in group/sark.ops.rsp
    DOCUMENTATION = r'''
options:
  rsp_auth_url:
    description:
      - Base URL of the Rust Security Platform's auth-service, for example V(http://auth-service.rust-security:8080).
      - If not set, the value of the E(RSP_AUTH_URL) environment variable is used.
    type: str
  rsp_auth_token:
    description:
      - Bearer token sent to auth-service, if it needs one. Never logged or returned.
      - If not set, the value of the E(RSP_AUTH_TOKEN) environment variable is used.
    type: str
  rsp_auth_validate_certs:
    description:
      - Validate auth-service's TLS certificate.
      - If not set, the value of the E(RSP_AUTH_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  rsp_auth_ca_path:
    description:
      - CA bundle used to validate auth-service's TLS certificate.
      - If not set, the value of the E(RSP_AUTH_CA_PATH) environment variable is used.
    type: path
  rsp_auth_timeout:
    description:
      - Seconds to wait for each HTTP request to auth-service.
      - If not set, the value of the E(RSP_AUTH_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  rsp_auth_retries:
    description:
      - How many times to retry a request to auth-service that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(RSP_AUTH_RETRIES) environment variable is used.
    type: int
    default: 1
  rsp_auth_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).
      - If not set, the value of the E(RSP_AUTH_BACKOFF) environment variable is used.
    type: float
    default: 0.5
  rsp_policy_url:
    description:
      - Base URL of the Rust Security Platform's policy-service, for example V(http://policy-service.rust-security:8081).
      - If not set, the value of the E(RSP_POLICY_URL) environment variable is used.
    type: str
  rsp_policy_token:
    description:
      - Bearer token sent to policy-service, if it needs one. Never logged or returned.
      - If not set, the value of the E(RSP_POLICY_TOKEN) environment variable is used.
    type: str
  rsp_policy_validate_certs:
    description:
      - Validate policy-service's TLS certificate.
      - If not set, the value of the E(RSP_POLICY_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  rsp_policy_ca_path:
    description:
      - CA bundle used to validate policy-service's TLS certificate.
      - If not set, the value of the E(RSP_POLICY_CA_PATH) environment variable is used.
    type: path
  rsp_policy_timeout:
    description:
      - Seconds to wait for each HTTP request to policy-service.
      - If not set, the value of the E(RSP_POLICY_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  rsp_policy_retries:
    description:
      - How many times to retry a request to policy-service that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(RSP_POLICY_RETRIES) environment variable is used.
    type: int
    default: 1
  rsp_policy_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).
      - If not set, the value of the E(RSP_POLICY_BACKOFF) environment variable is used.
    type: float
    default: 0.5
  layout:
    description:
      - Which layout the Rust Security Platform deployment follows - V(runbook) is what its operations runbook (seed 003)
        documents (policy-service admin API on C(:8080), policies in the ConfigMap C(policy-service-policies)),
        V(rsp_code) what its code deploys (policy-service on C(PORT) 8081 with only C(/health), C(POST /v1/authorize) and
        C(/metrics); auth-service's static C(/health)). Use M(sark.ops.rsp_layout_info) to ask a live deployment.
      - If not set, the value of the E(RSP_LAYOUT) environment variable is used.
    type: str
    choices: [runbook, rsp_code]
    default: runbook
attributes:
  action_group:
    description: Use C(group/sark.ops.rsp) in C(module_defaults) to set the RSP connections and layout once.
    support: full
    membership:
      - sark.ops.rsp
'''
