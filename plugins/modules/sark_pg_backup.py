#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_pg_backup
short_description: Back up SARK's PostgreSQL databases with pg_dump, verify the dumps and test-restore them
version_added: 0.1.0
description:
  - O(state=present) - C(pg_dump --format=custom) of each of O(databases) into O(backup_dir) as
    C(<database>-<UTC time>.dump) (mode 0600), then a SHA-256 checksum next to it (C(.sha256), the
    C(sha256sum -c) format, computed by streaming the file) and a manifest (C(.json)) with the server version
    and, with O(count_rows), the exact row count of every table taken in the same snapshot as the dump.
    Then, with O(verify), the checks below and the retention rules.
  - O(state=restore_test) - the newest dump of each database (or O(backup_file)) is checked - the checksum is recomputed
    and compared, the size must match the manifest, C(pg_restore --list) must read the archive's table of contents - and
    restored into a scratch database (O(restore_test_database), created and dropped by the module) whose row counts are
    compared table by table with the manifest. Any failing check fails the task - a corrupted or truncated dump is
    detected, not reported as a backup. The same checks run after O(state=present) (O(verify), O(restore_test)).
  - O(state=prune) - delete the backups beyond the newest O(keep) or older than O(max_age_days) (the newest backup of a
    database is never deleted), with their sidecar files. Only files named by this module are ever touched.
  - The password reaches C(pg_dump) and C(pg_restore) through the environment (C(PGPASSWORD)), never their
    command line; C(PGAPPNAME) is V(sark.ops/sark_pg_backup).
  - Automates "Database Backups - Full backup" (C(pg_dump -Fc)), "Verify backups" (the weekly restore test) and the
    pre-maintenance backup. "Check backup age" of the daily checklist is M(sark.ops.sark_pg_backup_info)'s job (read only).
    Uploading to object storage is out of scope.
options:
  state:
    description:
      - V(present) takes new dumps (then verifies and prunes), V(restore_test) checks and test-restores existing ones,
        V(prune) applies retention only.
    type: str
    choices: [present, restore_test, prune]
    default: present
    version_added: 0.2.0
  databases:
    description:
      - Databases to back up (required for V(present)); for SARK both V(sark) and V(sark_audit).
      - For V(restore_test) and V(prune), limits which databases' backups are looked at (default - every database found in O(backup_dir)).
    type: list
    elements: str
    default: []
  backup_dir:
    description: Directory holding the dumps (created with mode 0700 when missing).
    type: path
    required: true
  backup_file:
    description: With O(state=restore_test), the dump to check; otherwise the newest dump of each database is checked.
    type: path
  verify:
    description: After a backup, check the checksum and C(pg_restore --list) (and run the restore test if O(restore_test)).
    type: bool
    default: true
  restore_test:
    description:
      - With O(state=present), restore each new dump into O(restore_test_database) and compare row counts table by table.
        Needs C(CREATEDB). O(state=restore_test) always does.
    type: bool
    default: false
  restore_test_database:
    description:
      - Scratch database for the restore test. Created, then dropped at the end. It must not exist unless a previous
        restore test left it behind (the module marks its scratch databases with a comment); any other database of that
        name is refused, never dropped.
    type: str
    default: sark_ops_restore_test
  maintenance_database:
    description: Database to connect to for creating and dropping the scratch database.
    type: str
    default: postgres
  count_rows:
    description:
      - Record the exact row count of every table in the manifest, counted in the same snapshot pg_dump reads
        (a full scan of each table). Default - on when O(restore_test=true).
    type: bool
  max_count_tables:
    description: Count rows of at most this many tables (the restore test compares only those).
    type: int
    default: 1000
  keep:
    description: Retention - keep the newest this many backups per database.
    type: int
  max_age_days:
    description: Retention - delete backups older than this many days (never the newest of a database).
    type: float
  reuse_within:
    description:
      - Take no new dump of a database whose newest backup is younger than this many seconds and still matches its
        checksum. Makes repeated runs (a retried job) idempotent. V(0) always dumps.
    type: float
    default: 0
  compress:
    description: C(pg_dump --compress) level 0-9 (default - pg_dump's own).
    type: int
  dump_timeout:
    description: Seconds a C(pg_dump) may run before it is stopped (through C(timeout(1)) when the target has it).
    type: int
    default: 3600
  restore_timeout:
    description: Seconds a test C(pg_restore) may run.
    type: int
    default: 3600
  lock_wait_timeout:
    description: Seconds C(pg_dump) waits for its shared table locks before failing (C(--lock-wait-timeout)), instead of queueing behind DDL.
    type: float
    default: 60
  pg_bin_dir:
    description:
      - Directory of C(pg_dump) and C(pg_restore). Default - C(/usr/lib/postgresql/<server major>/bin) or
        C(/usr/pgsql-<major>/bin) when present, else the C(PATH). They must not be older than the server.
    type: path
extends_documentation_fragment:
  - sark.ops.postgres
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Returns the exact C(pg_dump)/C(pg_restore) command lines (the snapshot name is only known at run time), the
        statements and the files that would be deleted, and sets C(changed) accordingly. V(restore_test) still reads the
        files (checksum, table of contents) in check mode; only the restore itself is planned instead of run.
  diff_mode:
    support: full
    details:
      - The list of backup files before and after.
  idempotent:
    support: partial
    details:
      - V(prune) and V(restore_test) are idempotent (a restore test creates and drops its scratch database and reports
        C(changed=false)). V(present) takes a new dump on every run (C(changed=true)) unless O(reuse_within) finds a
        recent, intact one.
notes:
  - O(pg_database) is not used; O(databases) names what to dump. C(pg_connect_params) are passed as their libpq environment
    variables (for example C(options) as C(PGOPTIONS)).
  - Dumps hold SARK's password hashes and audit data - keep O(backup_dir) private. Files are created with mode 0600.
  - With TimescaleDB, the restore test creates the extension at the version recorded in the manifest in the scratch
    database and wraps C(pg_restore) in C(timescaledb_pre_restore()) / C(timescaledb_post_restore()), as Timescale
    documents; the extension must be installed on the server. See C(docs/timescaledb.md).
seealso:
  - module: sark.ops.sark_pg_backup_info
  - module: sark.ops.sark_pg_maintenance
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Nightly backup of both SARK databases, verified, keeping 7 (or 30 days)
  sark.ops.sark_pg_backup:
    pg_host: postgres.sark.svc
    pg_user: sark
    pg_password: "{{ vault_pg_password }}"
    databases: [sark, sark_audit]
    backup_dir: /var/backups/sark
    keep: 7
    max_age_days: 30

- name: Weekly restore test of the newest backups (runbook "Verify backups")
  sark.ops.sark_pg_backup:
    state: restore_test
    backup_dir: /var/backups/sark

- name: Pre-maintenance backup, not repeated when a retried job runs it again within the hour
  sark.ops.sark_pg_backup:
    databases: [sark, sark_audit]
    backup_dir: /var/backups/sark/pre-maintenance
    restore_test: true
    reuse_within: 3600

- name: Check and test-restore one dump before restoring it in an incident
  sark.ops.sark_pg_backup:
    state: restore_test
    backup_dir: /var/backups/sark
    backup_file: /var/backups/sark/sark-20260102T030405.123Z.dump

- name: What would retention delete?
  sark.ops.sark_pg_backup:
    state: prune
    backup_dir: /var/backups/sark
    keep: 7
  check_mode: true
'''

RETURN = r'''
backups:
  description:
    - One entry per database backed up - C(database), C(file), C(path), C(size_bytes), C(sha256), C(created_at),
      C(duration_ms), C(reused) (an existing recent dump was kept), C(tables_counted) and C(verification).
  returned: always
  type: list
  elements: dict
  sample: [{"database": "sark", "file": "sark-20260102T030405.123Z.dump", "size_bytes": 48213, "reused": false,
            "sha256": "5f0c...", "verification": {"ok": true}}]
verifications:
  description:
    - One entry per dump checked - C(file), C(ok), C(checksum) (C(expected), C(actual), C(ok)), C(size) (against the manifest),
      C(toc) (C(ok), C(entries),
      C(table_data_entries)) and C(restore_test) (C(ok), C(database), C(tables_compared), C(mismatches), C(comparison)
      with C(table), C(source), C(restored), C(match) per table).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "sark-20260102T030405.123Z.dump", "ok": true, "checksum": {"ok": true}, "toc": {"ok": true, "entries": 42}}]
retention:
  description: C(deleted) (file and reason each) and C(kept) per database.
  returned: always
  type: dict
  sample: {"deleted": [{"file": "sark-20260101T030405.000Z.dump", "reason": "beyond the newest 7"}], "kept": {"sark": 7}}
catalogue:
  description:
    - Per database, the backups in O(backup_dir) after the run - C(count), C(newest), C(newest_age_s) (the runbook's
      "backup age") and C(total_bytes); C(partial_files) lists leftovers of interrupted dumps.
  returned: always
  type: dict
  sample: {"sark": {"count": 7, "newest": "sark-20260102T030405.123Z.dump", "newest_age_s": 3600.0, "total_bytes": 337491}}
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
backup_dir:
  description: The backup directory.
  returned: always
  type: str
  sample: /var/backups/sark
partial_files:
  description: Leftovers of interrupted dumps in O(backup_dir) (never deleted automatically).
  returned: always
  type: list
  elements: str
  sample: []
planned_actions:
  description: The commands (argv, environment variable names) and statements this run runs or would run, in order, from the evidence record.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "pg_dump", "database": "sark", "argv": ["pg_dump", "--format=custom", "..."], "environment": ["PGPASSWORD"]}]
executed_actions:
  description: The commands and statements that ran, from the evidence record (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "checksum", "file": "/var/backups/sark/sark-20260102T030405.123Z.dump", "sha256": "5f0c..."}]
diff:
  description: The backup files before and after (with C(--diff)).
  returned: when the files change and diff mode is on
  type: dict
  sample: {"before": {"backups": []}, "after": {"backups": ["sark-20260102T030405.123Z.dump"]}}
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._backup import newest_paths
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import sark_main
from ansible_collections.sark.ops.plugins.module_utils._pg_backup import (
    Backup,
    catalogue,
    check_directory,
    dedupe,
    files_in,
    validate_params,
)
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec


def run(module):
    params = module.params
    params["databases"], repeated = dedupe(params["databases"])
    if repeated:
        module.warn("databases lists %s more than once: each database is backed up once" % ", ".join(repeated))
    validate_params(params)
    job = Backup(module)
    before = files_in(params["backup_dir"])
    result = job.reporting(lambda: run_state(module, job, before))
    result.update(module.actions())
    return result


def run_state(module, job, before):
    params = module.params
    state, directory, databases = params["state"], params["backup_dir"], params["databases"]
    if state == "present" or state == "restore_test":
        job.preflight(databases if state == "present" else [])
    check_directory(module, job, directory, state)
    changed = False
    if state == "present":
        taken = [job.backup(database) for database in databases]
        changed = any(not entry["reused"] for entry in taken)
        if params["verify"]:
            for entry in taken:
                if module.check_mode and not entry["reused"]:
                    job.plan("pg_restore --list", file=entry["path"])
                    if params["restore_test"]:
                        job.plan("restore_test", file=entry["path"], database=params["restore_test_database"])
                    continue
                entry["verification"] = job.verify(entry["path"], params["restore_test"])
        job.retention(databases or None, protect={entry["path"] for entry in taken})
    elif state == "restore_test":
        paths = [params["backup_file"]] if params["backup_file"] else newest_paths(
            catalogue(directory, databases or None), " of %s" % ", ".join(databases) if databases else "", directory)
        for path in paths:
            job.verify(path, True)
    else:
        job.retention(databases or None)
    return job.finish(state, changed, before)


def main():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "restore_test", "prune"]),
        databases=dict(type="list", elements="str", default=[]),
        backup_dir=dict(type="path", required=True),
        backup_file=dict(type="path"),
        verify=dict(type="bool", default=True),
        restore_test=dict(type="bool", default=False),
        restore_test_database=dict(type="str", default="sark_ops_restore_test"),
        maintenance_database=dict(type="str", default="postgres"),
        count_rows=dict(type="bool"),
        max_count_tables=dict(type="int", default=1000),
        keep=dict(type="int"),
        max_age_days=dict(type="float"),
        reuse_within=dict(type="float", default=0),
        compress=dict(type="int"),
        dump_timeout=dict(type="int", default=3600),
        restore_timeout=dict(type="int", default=3600),
        lock_wait_timeout=dict(type="float", default=60),
        pg_bin_dir=dict(type="path"),
    )
    sark_main(run, spec, (postgres_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
