# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    # Matches plugins/module_utils/_postgres.py postgres_argument_spec()
    DOCUMENTATION = r'''
options:
  pg_host:
    description:
      - PostgreSQL host name or IP address.
      - If not set, the value of the E(PGHOST) environment variable is used.
    type: str
    default: localhost
  pg_port:
    description:
      - PostgreSQL port.
      - If not set, the value of the E(PGPORT) environment variable is used.
    type: int
    default: 5432
  pg_unix_socket:
    description:
      - Directory of the PostgreSQL unix socket. When set it is used instead of O(pg_host).
      - If not set, the value of the E(SARK_PG_SOCKET_DIR) environment variable is used.
    type: path
  pg_user:
    description:
      - User to log in as.
      - If not set, the value of the E(PGUSER) environment variable is used.
    type: str
    default: postgres
  pg_password:
    description:
      - Password of O(pg_user). Never logged or returned.
      - If not set, the value of the E(PGPASSWORD) environment variable is used.
    type: str
  pg_database:
    description:
      - Database to connect to. Each module documents which database it uses when this is not set.
      - If not set, the value of the E(PGDATABASE) environment variable is used.
    type: str
  pg_sslmode:
    description:
      - libpq SSL mode.
      - If not set, the value of the E(PGSSLMODE) environment variable is used.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  pg_sslrootcert:
    description:
      - CA certificate file used to validate the server (with O(pg_sslmode=verify-ca) or O(pg_sslmode=verify-full)).
      - If not set, the value of the E(PGSSLROOTCERT) environment variable is used.
    type: path
  pg_sslcert:
    description:
      - Client certificate file.
      - If not set, the value of the E(PGSSLCERT) environment variable is used.
    type: path
  pg_sslkey:
    description:
      - Client private key file.
      - If not set, the value of the E(PGSSLKEY) environment variable is used.
    type: path
  pg_connect_timeout:
    description:
      - Seconds to wait for the connection.
      - If not set, the value of the E(PGCONNECT_TIMEOUT) environment variable is used.
    type: int
    default: 10
  pg_connect_params:
    description:
      - Further libpq connection parameters passed through as they are, for example C(options) or
        C(target_session_attrs). May not set host, port, user, password or dbname.
    type: dict
    default: {}
requirements:
  - psycopg2 (or psycopg2-binary)
attributes:
  action_group:
    description: Use C(group/sark.ops.postgres) in C(module_defaults) to set the PostgreSQL connection once for every PostgreSQL module.
    support: full
    membership:
      - sark.ops.all
      - sark.ops.postgres
notes:
  - Connections identify themselves with C(application_name) V(sark.ops/<module>), so they are easy to
    spot in C(pg_stat_activity) and are never terminated by sark.ops itself.
'''

    # The session bounds of the modules that take the maintenance lock (sark_pg_maintenance, sark_pg_backend).
    # Matches plugins/module_utils/_pg_maintenance.py session_argument_spec()
    SESSION = r'''
options:
  lock_timeout:
    description: Seconds each statement may wait for a lock before it gives up (C(SET lock_timeout)); V(0) waits forever.
    type: float
    default: 10
  statement_timeout:
    description: Seconds each statement may run (C(SET statement_timeout)); V(0) means no limit.
    type: float
    default: 3600
  lock_wait:
    description: Seconds to wait for the maintenance advisory lock when another run holds it; V(0) fails at once.
    type: float
    default: 0
'''
