#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_redis_backup_info
short_description: List the Redis backups M(sark.ops.sark_redis_backup) made, with their age, size and checksum validity
version_added: 0.3.0
description:
  - Lists the RDB (C(.rdb)) and AOF (C(.aof.tar)) backups in O(backup_dir), newest first per O(name) and kind, with their age
    (from the UTC time in their name), size, the key counts per database their manifest recorded, and - with O(verify) - the
    SHA-256 checksum recomputed and compared with the C(.sha256) file and the size compared with the manifest.
  - Read only. Automates "Daily 5. Backup status" for Redis (the newest backup's age and integrity); the weekly
    "Backup verification" with C(redis-check-rdb) and a scratch restore is M(sark.ops.sark_redis_backup) with C(state=restore_test).
options:
  backup_dir:
    description: Directory holding the backups.
    type: path
    required: true
  name:
    description: Only backups with these name prefixes (default - every backup this module's sibling named).
    type: list
    elements: str
    default: []
  max_results:
    description: At most this many backups per name and kind, newest first.
    type: int
    default: 10
  verify:
    description: Recompute each listed backup's checksum (reads every file whole).
    type: bool
    default: true
extends_documentation_fragment:
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_ALL
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
notes:
  - Needs no Redis connection (it reads files only), so it is in C(group/sark.ops.all) but not in C(group/sark.ops.redis).
seealso:
  - module: sark.ops.sark_redis_backup
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Redis backup status (daily checklist)
  sark.ops.sark_redis_backup_info:
    backup_dir: /var/backups/redis
  register: redis_backups

- name: Fail when the newest Redis backup is older than a day or damaged
  ansible.builtin.assert:
    that:
      - redis_backups.catalogue['redis.rdb'].newest_age_s < 86400
      - redis_backups.mismatched | length == 0
'''

RETURN = r'''
backup_dir:
  description: The directory listed.
  returned: always
  type: str
  sample: /var/backups/redis
exists:
  description: Whether it exists.
  returned: always
  type: bool
  sample: true
backups:
  description: The listed backups, newest first per name and kind.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "redis", "kind": "rdb", "file": "redis-20260102T030405.123Z.rdb", "age_s": 3600.0, "size_bytes": 48213,
            "checksum": {"ok": true}, "ok": true, "keyspace": {"db0": {"keys": 120, "expires": 40}}}]
  contains:
    name:
      description: The name prefix.
      type: str
      returned: always
    kind:
      description: V(rdb) or V(aof).
      type: str
      returned: always
    file:
      description: The file name.
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
    keyspace:
      description: Key counts per database at the save, from the manifest (null without one).
      type: dict
      returned: always
    counts_exact:
      description: Whether nothing was written between the save's fork and the count.
      type: bool
      returned: always
    redis_version:
      description: The server's version at the backup.
      type: str
      returned: always
    checksum:
      description: C(expected) (from the C(.sha256) file), C(actual) and C(ok).
      type: dict
      returned: with verify
    size:
      description: C(expected) (from the manifest), C(actual) and C(ok).
      type: dict
      returned: when the backup has a manifest
    ok:
      description: Whether the checksum and the size match (null without O(verify)).
      type: bool
      returned: always
mismatched:
  description: File names of the listed backups whose checksum or size does not match (or that have no checksum).
  returned: always
  type: list
  elements: str
  sample: []
catalogue:
  description: Per C(<name>.<kind>) - C(count), C(newest), C(newest_age_s), C(total_bytes).
  returned: always
  type: dict
  sample: {"redis.rdb": {"count": 3, "newest": "redis-20260102T030405.123Z.rdb", "newest_age_s": 3600.0, "total_bytes": 144639}}
partial_files:
  description: Leftovers of interrupted copies.
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
from ansible_collections.sark.ops.plugins.module_utils._redis_backup import inspect_backup, parse_series, partial_files, validate_name


def run(module):
    for name in module.params["name"]:
        validate_name(name)
    return list_backups(module, module.params["name"], parse_series, inspect_backup, partial_files)


def main():
    spec = dict(
        backup_dir=dict(type="path", required=True),
        name=dict(type="list", elements="str", default=[]),
        max_results=dict(type="int", default=10),
        verify=dict(type="bool", default=True),
    )
    sark_main(run, spec, (layout_argument_spec,))


if __name__ == "__main__":
    main()
