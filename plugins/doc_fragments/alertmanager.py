# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_alerting.py alertmanager_argument_spec() (_http.http_argument_spec("alertmanager", "ALERTMANAGER"))
    DOCUMENTATION = r'''
options:
  alertmanager_url:
    description:
      - Base URL of Alertmanager, for example V(http://alertmanager:9093).
      - If not set, the value of the E(ALERTMANAGER_URL) environment variable is used.
    type: str
  alertmanager_token:
    description:
      - Bearer token for Alertmanager behind an authenticating proxy. Never logged or returned.
      - If not set, the value of the E(ALERTMANAGER_TOKEN) environment variable is used.
    type: str
  alertmanager_validate_certs:
    description:
      - Validate the TLS certificate of Alertmanager.
      - If not set, the value of the E(ALERTMANAGER_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  alertmanager_ca_path:
    description:
      - CA bundle used to validate the TLS certificate of Alertmanager.
      - If not set, the value of the E(ALERTMANAGER_CA_PATH) environment variable is used.
    type: path
  alertmanager_timeout:
    description:
      - Seconds to wait for each HTTP request to Alertmanager.
      - If not set, the value of the E(ALERTMANAGER_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  alertmanager_retries:
    description:
      - How many times to retry a request to Alertmanager that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(ALERTMANAGER_RETRIES) environment variable is used.
    type: int
    default: 3
  alertmanager_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).
      - If not set, the value of the E(ALERTMANAGER_BACKOFF) environment variable is used.
    type: float
    default: 0.5
attributes:
  action_group:
    description: Use C(group/sark.ops.alertmanager) in C(module_defaults) to set the Alertmanager connection once.
    support: full
    membership:
      - sark.ops.alertmanager
      - sark.ops.all
'''
