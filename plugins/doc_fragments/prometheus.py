# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_alerting.py prometheus_argument_spec() (_http.http_argument_spec("prometheus", "PROMETHEUS"))
    DOCUMENTATION = r'''
options:
  prometheus_url:
    description:
      - Base URL of Prometheus, for example V(http://prometheus:9090).
      - If not set, the value of the E(PROMETHEUS_URL) environment variable is used.
    type: str
  prometheus_token:
    description:
      - Bearer token for Prometheus behind an authenticating proxy. Never logged or returned.
      - If not set, the value of the E(PROMETHEUS_TOKEN) environment variable is used.
    type: str
  prometheus_validate_certs:
    description:
      - Validate the TLS certificate of Prometheus.
      - If not set, the value of the E(PROMETHEUS_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  prometheus_ca_path:
    description:
      - CA bundle used to validate the TLS certificate of Prometheus.
      - If not set, the value of the E(PROMETHEUS_CA_PATH) environment variable is used.
    type: path
  prometheus_timeout:
    description:
      - Seconds to wait for each HTTP request to Prometheus.
      - If not set, the value of the E(PROMETHEUS_TIMEOUT) environment variable is used.
    type: float
    default: 30.0
  prometheus_retries:
    description:
      - How many times to retry a request to Prometheus that got HTTP 429 or 5xx, with exponential backoff.
      - If not set, the value of the E(PROMETHEUS_RETRIES) environment variable is used.
    type: int
    default: 3
  prometheus_backoff:
    description:
      - First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).
      - If not set, the value of the E(PROMETHEUS_BACKOFF) environment variable is used.
    type: float
    default: 0.5
attributes:
  action_group:
    description:
      - Use C(group/sark.ops.prometheus) in C(module_defaults) to set the Prometheus connection once, and
        C(group/sark.ops.alertmanager) for the Alertmanager connection.
    support: full
    membership:
      - sark.ops.alertmanager
      - sark.ops.all
      - sark.ops.prometheus
'''
