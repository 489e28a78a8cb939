#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_pg_backup_info
short_description: List SARK's PostgreSQL backups with their age, size and checksum
version_added: 0.2.0
description:
  - Lists the backups M(sark.ops.sark_pg_backup) wrote to O(backup_dir) - per database, newest first, with C(created_at),
    C(age_s), C(size_bytes) and, with O(verify=true), the SHA-256 recomputed and compared with the C(.sha256) file next to
    each dump and the size compared with its manifest. It never changes anything and never writes a file.
  - RV(catalogue) gives the age of the newest backup of each database - the "Check backup age" of the runbook's daily
    checklist. A dump whose checksum or size does not match is reported (RV(backups[].ok=false), RV(mismatched)), not failed on;
    a task can fail on it with C(failed_when).
  - Taking, test-restoring and pruning backups is M(sark.ops.sark_pg_backup)'s job; this module needs no database connection.
options:
  backup_dir:
    description: Directory holding the dumps.
    type: path
    required: true
  databases:
    description: Only the backups of these databases (default - every database found in O(backup_dir)).
    type: list
    elements: str
    default: []
  max_results:
    description: The most backups listed (and verified) per database, newest first.
    type: int
    default: 10
  verify:
    description:
      - Recompute each listed dump's SHA-256 (reading the whole file) and compare it with its C(.sha256) file.
      - V(false) lists names, ages and sizes only (fast).
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_ALL
  - sark.ops.attributes.INFO_MODULE
seealso:
  - module: sark.ops.sark_pg_backup
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Age of the newest backups (daily checklist), every listed dump's checksum verified
  sark.ops.sark_pg_backup_info:
    backup_dir: /var/backups/sark
  register: backups

- name: Fail when the newest backup of sark is older than a day
  ansible.builtin.assert:
    that: backups.catalogue.sark.newest_age_s < 86400

- name: Names and sizes only
  sark.ops.sark_pg_backup_info:
    backup_dir: /var/backups/sark
    databases: [sark_audit]
    verify: false
'''

RETURN = r'''
backup_dir:
  description: The backup directory.
  returned: always
  type: str
  sample: /var/backups/sark
exists:
  description: Whether O(backup_dir) exists (a missing directory holds no backups; nothing fails).
  returned: always
  type: bool
  sample: true
catalogue:
  description: Per database, the backups in O(backup_dir).
  returned: always
  type: dict
  sample: {"sark": {"count": 7, "newest": "sark-20260102T030405.123Z.dump", "newest_age_s": 3600.0, "total_bytes": 337491}}
  contains:
    count:
      description: How many backups the database has.
      type: int
      returned: always
    newest:
      description: The newest backup's file name.
      type: str
      returned: always
    newest_age_s:
      description: Seconds since the newest backup was taken (from its name, UTC).
      type: float
      returned: always
    total_bytes:
      description: Size of all its backups.
      type: int
      returned: always
backups:
  description: The listed backups, by database, newest first.
  returned: always
  type: list
  elements: dict
  sample: [{"database": "sark", "file": "sark-20260102T030405.123Z.dump", "created_at": "2026-01-02T03:04:05.123000+00:00",
            "age_s": 3600.0, "size_bytes": 48213, "checksum": {"ok": true}, "size": {"ok": true}, "ok": true}]
  contains:
    database:
      description: The database.
      type: str
      returned: always
    file:
      description: The dump's file name.
      type: str
      returned: always
    path:
      description: Its path.
      type: str
      returned: always
    created_at:
      description: When it was taken (ISO 8601, UTC, from its name).
      type: str
      returned: always
    age_s:
      description: Seconds since then.
      type: float
      returned: always
    size_bytes:
      description: Its size.
      type: int
      returned: always
    has_checksum:
      description: Whether a C(.sha256) file is next to it.
      type: bool
      returned: always
    has_manifest:
      description: Whether a manifest (C(.json)) is next to it.
      type: bool
      returned: always
    tables_counted:
      description: Tables whose rows the manifest counted (null without a manifest).
      type: int
      returned: always
    server_version:
      description: The server version the manifest records.
      type: str
      returned: always
    checksum:
      description: C(expected) (from the C(.sha256) file), C(actual) and C(ok).
      type: dict
      returned: with verify
    size:
      description: C(expected) (from the manifest), C(actual) and C(ok).
      type: dict
      returned: when the dump has a manifest
    ok:
      description: Whether the checksum and the size match (null without O(verify)).
      type: bool
      returned: always
mismatched:
  description: File names of the listed backups whose checksum or size does not match.
  returned: always
  type: list
  elements: str
  sample: []
partial_files:
  description: Leftovers of interrupted dumps.
  returned: always
  type: list
  elements: str
  sample: []
evidence:
  description: The audit record - options asked for, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._backup import list_backups
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._pg_backup import inspect_backup, parse_series, partial_files, validate_database_name


def run(module):
    for name in module.params["databases"]:
        validate_database_name(name)
    return list_backups(module, module.params["databases"], parse_series, inspect_backup, partial_files)


def main():
    spec = dict(
        backup_dir=dict(type="path", required=True),
        databases=dict(type="list", elements="str", default=[]),
        max_results=dict(type="int", default=10),
        verify=dict(type="bool", default=True),
    )
    sark_main(run, spec, (layout_argument_spec,))


if __name__ == "__main__":
    main()
