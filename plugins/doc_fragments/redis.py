# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_redis.py redis_argument_spec()
    DOCUMENTATION = r'''
options:
  redis_host:
    description:
      - Redis host name or IP address.
      - If not set, the value of the E(REDIS_HOST) environment variable is used.
    type: str
    default: localhost
  redis_port:
    description:
      - Redis TCP port.
      - If not set, the value of the E(REDIS_PORT) environment variable is used.
    type: int
    default: 6379
  redis_unix_socket:
    description:
      - Path of a Redis unix socket. When set, O(redis_host) and O(redis_port) are ignored.
      - If not set, the value of the E(REDIS_SOCKET) environment variable is used.
    type: path
  redis_db:
    description:
      - Redis database index.
      - If not set, the value of the E(REDIS_DB) environment variable is used.
    type: int
    default: 0
  redis_username:
    description:
      - Redis ACL user name (Redis 6+). Leave unset for the V(default) user.
      - If not set, the value of the E(REDIS_USERNAME) environment variable is used.
    type: str
  redis_password:
    description:
      - Password of the Redis user (C(requirepass) or ACL password). Never logged or returned.
      - If not set, the value of the E(REDIS_PASSWORD) environment variable is used.
    type: str
  redis_tls:
    description:
      - Connect with TLS.
      - If not set, the value of the E(REDIS_TLS) environment variable is used.
    type: bool
    default: false
  redis_tls_ca_certs:
    description:
      - CA bundle used to validate the Redis server certificate.
      - If not set, the value of the E(REDIS_TLS_CA_CERTS) environment variable is used.
    type: path
  redis_tls_certfile:
    description:
      - Client certificate for mutual TLS.
      - If not set, the value of the E(REDIS_TLS_CERTFILE) environment variable is used.
    type: path
  redis_tls_keyfile:
    description:
      - Private key of O(redis_tls_certfile).
      - If not set, the value of the E(REDIS_TLS_KEYFILE) environment variable is used.
    type: path
  redis_tls_validate_certs:
    description:
      - Validate the server certificate and host name. Disable only in a lab.
      - If not set, the value of the E(REDIS_TLS_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  redis_cluster:
    description:
      - Talk to a Redis Cluster. Key scans then visit every primary.
      - If not set, the value of the E(REDIS_CLUSTER) environment variable is used.
    type: bool
    default: false
  redis_connect_timeout:
    description:
      - Seconds to wait for the TCP/TLS connection.
      - If not set, the value of the E(REDIS_CONNECT_TIMEOUT) environment variable is used.
    type: float
    default: 5.0
  redis_socket_timeout:
    description:
      - Seconds to wait for any single command's answer.
      - If not set, the value of the E(REDIS_SOCKET_TIMEOUT) environment variable is used.
    type: float
    default: 10.0
requirements:
  - redis (the Python library, 4.2 or later)
attributes:
  action_group:
    description: Use C(group/sark.ops.redis) in C(module_defaults) to set the Redis connection once for every Redis module.
    support: full
    membership:
      - sark.ops.all
      - sark.ops.redis
notes:
  - The module sends an explicit C(PING) right after connecting and reports a clear error naming the
    target, the cause (unreachable, authentication, TLS, timeout) and the options to check.
'''

    # Matches plugins/module_utils/_siem.py breaker_argument_spec() (sark_siem_breaker, sark_siem_breaker_info)
    SIEM_BREAKER = r'''
options:
  siems:
    description: The SIEMs of the V(per_siem) variant.
    type: list
    elements: str
    default: [splunk, datadog]
  variant:
    description: Which key variant - V(both), V(global) (runbook 000) or V(per_siem) (runbook 002).
    type: str
    choices: [both, global, per_siem]
    default: both
'''
