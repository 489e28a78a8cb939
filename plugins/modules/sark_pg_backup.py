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
  - B(backup) - C(pg_dump --format=custom) of each of O(databases) into O(backup_dir) as
    C(<database>-<UTC time>.dump) (mode 0600), then a SHA-256 checksum next to it (C(.sha256), the
    C(sha256sum -c) format, computed by streaming the file) and a manifest (C(.json)) with the server version
    and, with O(count_rows), the exact row count of every table taken in the same snapshot as the dump.
    Then, with O(verify), the checks below and the retention rules.
  - B(verify) - the checksum is recomputed and compared, the size must match the manifest, C(pg_restore --list) must
    read the archive's table of contents, and with O(restore_test=true) the dump is restored into a scratch database (O(restore_test_database),
    created and dropped by the module) whose row counts are compared table by table with the manifest. Any
    failing check fails the task - a corrupted or truncated dump is detected, not reported as a backup.
  - B(prune) - delete the backups beyond the newest O(keep) or older than O(max_age_days) (the newest backup of a
    database is never deleted), with their sidecar files. Only files named by this module are ever touched.
  - The password reaches C(pg_dump) and C(pg_restore) through the environment (C(PGPASSWORD)), never their
    command line; C(PGAPPNAME) is V(sark.ops/sark_pg_backup).
  - Automates "Database Backups - Full backup" (C(pg_dump -Fc)), "Verify backups" (the weekly restore test),
    "Check backup age" of the daily checklist (RV(catalogue)) and the pre-maintenance backup. Uploading to object
    storage is out of scope.
options:
  action:
    description: V(backup) takes new dumps (then verifies and prunes), V(verify) checks existing ones, V(prune) applies retention only.
    type: str
    choices: [backup, verify, prune]
    default: backup
  databases:
    description:
      - Databases to back up (required for V(backup)); for SARK both V(sark) and V(sark_audit).
      - For V(verify) and V(prune), limits which databases' backups are looked at (default - every database found in O(backup_dir)).
    type: list
    elements: str
    default: []
  backup_dir:
    description: Directory holding the dumps (created with mode 0700 when missing).
    type: path
    required: true
  backup_file:
    description: With O(action=verify), the dump to check; otherwise the newest dump of each database is checked.
    type: path
  verify:
    description: After a backup, check the checksum and C(pg_restore --list) (and run the restore test if O(restore_test)).
    type: bool
    default: true
  restore_test:
    description: Restore each dump into O(restore_test_database) and compare row counts table by table. Needs C(CREATEDB).
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
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_POSTGRES
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Returns the exact C(pg_dump)/C(pg_restore) command lines (the snapshot name is only known at run time), the
        statements and the files that would be deleted, and sets C(changed) accordingly. V(verify) still reads the
        files (checksum, table of contents) in check mode; only the restore test is planned instead of run.
  diff_mode:
    support: full
    details:
      - The list of backup files before and after.
  idempotent:
    support: partial
    details:
      - V(prune) and V(verify) are idempotent. V(backup) takes a new dump on every run (C(changed=true)) unless
        O(reuse_within) finds a recent, intact one.
notes:
  - O(pg_database) is not used; O(databases) names what to dump. C(pg_connect_params) are passed as their libpq environment
    variables (for example C(options) as C(PGOPTIONS)).
  - Dumps hold SARK's password hashes and audit data - keep O(backup_dir) private. Files are created with mode 0600.
  - With TimescaleDB, the restore test creates the extension at the version recorded in the manifest in the scratch
    database and wraps C(pg_restore) in C(timescaledb_pre_restore()) / C(timescaledb_post_restore()), as Timescale
    documents; the extension must be installed on the server. See C(docs/timescaledb.md).
seealso:
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
    action: verify
    backup_dir: /var/backups/sark
    restore_test: true

- name: Pre-maintenance backup, not repeated when a retried job runs it again within the hour
  sark.ops.sark_pg_backup:
    databases: [sark, sark_audit]
    backup_dir: /var/backups/sark/pre-maintenance
    restore_test: true
    reuse_within: 3600

- name: Check one dump before restoring it in an incident
  sark.ops.sark_pg_backup:
    action: verify
    backup_dir: /var/backups/sark
    backup_file: /var/backups/sark/sark-20260102T030405.123Z.dump

- name: What would retention delete?
  sark.ops.sark_pg_backup:
    action: prune
    backup_dir: /var/backups/sark
    keep: 7
  check_mode: true
'''

RETURN = r'''
backups:
  description:
    - One entry per database backed up - C(database), C(file), C(path), C(size_bytes), C(sha256), C(created_at),
      C(duration_ms), C(reused) (an existing recent dump was kept), C(tables_counted) and C(verification).
  returned: when action is backup
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
planned_actions:
  description: The commands (argv, environment variable names) and statements this run runs or would run, in order.
  returned: always
  type: list
  elements: dict
executed_actions:
  description: The commands and statements that ran (empty in check mode).
  returned: always
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

import os
import tempfile
import time

from ansible_collections.sark.ops.plugins.module_utils._files import check_writable_file, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkError,
    SarkModule,
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    isoformat,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_backup import (
    DIR_MODE,
    SCRATCH_COMMENT,
    backup_name,
    catalogue,
    checksum_path,
    companions,
    compare_counts,
    describe_environment,
    dedupe,
    libpq_environment,
    manifest_path,
    parse_name,
    parse_tool_version,
    partial_files,
    plan_retention,
    read_checksum,
    read_manifest,
    sha256_file,
    toc_summary,
    tool_io_hint,
    utc,
    validate_params,
    write_checksum,
    write_manifest,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import SYSTEM_SCHEMAS
from ansible_collections.sark.ops.plugins.module_utils._postgres import (
    connect,
    describe_target,
    fetch_all,
    fetch_one,
    fetch_value,
    pgsql,
    postgres_argument_spec,
    psycopg_errors,
)

MODULE = "sark_pg_backup"
APPLICATION_NAME = "sark.ops/sark_pg_backup"
SNAPSHOT_PLACEHOLDER = "<snapshot exported at run time>"
STDERR_TAIL = 2000


class Backup:
    """One run: the module, its options, the tools found and the result being built."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.tools = {}
        self.result = {"backups": [], "verifications": [], "retention": {"deleted": [], "kept": {}},
                       "planned_actions": [], "executed_actions": []}

    # --- bookkeeping -----------------------------------------------------------------------------------

    def plan(self, action, **details):
        entry = dict(action=action, **details)
        self.result["planned_actions"].append(entry)
        self.module.evidence.plan(action, **details)
        return entry

    def done(self, action, **details):
        entry = dict(action=action, **details)
        self.result["executed_actions"].append(entry)
        self.module.evidence.executed(action, **details)
        self.module.evidence.count(action)
        return entry

    def done_so_far(self):
        taken = [b["file"] for b in self.result["backups"] if not b.get("reused") and b.get("sha256")]
        return "; backups completed before this: %s" % ", ".join(taken) if taken else ""

    def preflight(self, databases):
        """Before any work: every database exists, and the restore test's scratch database may be (re)created."""
        params = self.params
        conn, last = None, None
        for dbname in [params["maintenance_database"]] + list(databases):
            try:
                conn = connect(params, dbname=dbname, module_name=MODULE)
                break
            except SarkConnectionError as exc:
                if exc.kind not in ("config", "auth"):
                    raise
                last = exc
        if conn is None:
            raise last
        try:
            found = {r["datname"] for r in fetch_all(conn, "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                                                     (list(databases) + [params["restore_test_database"]],))}
            missing = [d for d in databases if d not in found]
            if missing:
                raise SarkValidationError("databases: %s not found on %s. Nothing was dumped; check the names." % (
                    ", ".join(missing), describe_target(params, "")), missing=missing)
            if params["restore_test"] and params["restore_test_database"] in found:
                comment = fetch_value(conn, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                                      (params["restore_test_database"],))
                if comment != SCRATCH_COMMENT:
                    raise SarkPreconditionError("restore_test_database %s exists and was not created by sark.ops: refusing to drop it "
                                                "for the restore test. Choose another restore_test_database. Nothing was done."
                                                % params["restore_test_database"])
        finally:
            conn.close()

    # --- tools -----------------------------------------------------------------------------------------

    def tool(self, name, server_major=None):
        """Path of pg_dump/pg_restore, refusing one older than the server it must read or write."""
        key = (name, server_major)
        if key in self.tools:
            return self.tools[key]
        bin_dir = self.params["pg_bin_dir"]
        if bin_dir:
            path = os.path.join(bin_dir, name)
            if not os.access(path, os.X_OK):
                raise SarkValidationError("pg_bin_dir: %s is not an executable %s" % (path, name))
        else:
            candidates = []
            if server_major:
                candidates = ["/usr/lib/postgresql/%d/bin/%s" % (server_major, name), "/usr/pgsql-%d/bin/%s" % (server_major, name)]
            path = next((c for c in candidates if os.access(c, os.X_OK)), None) or self.module.module.get_bin_path(name)
            if not path:
                raise SarkPreconditionError("%s not found on the target: install the PostgreSQL %s client (postgresql-client-%s) "
                                            "or set pg_bin_dir" % (name, server_major or "", server_major or "<major>"))
        rc, out, err = self.module.module.run_command([path, "--version"])
        version = parse_tool_version(out) if rc == 0 else None
        if server_major and version and version < server_major:
            raise SarkPreconditionError("%s is version %s, older than the PostgreSQL %s server: it cannot handle its dumps. Install "
                                        "postgresql-client-%s or point pg_bin_dir at it." % (path, version, server_major, server_major))
        self.tools[key] = path
        return path

    def run_tool(self, argv, env, timeout):
        """Run pg_dump/pg_restore with the password in the environment; bounded by timeout(1) when available."""
        wrapper = self.module.module.get_bin_path("timeout")
        prefix = [wrapper, "--kill-after=30", "%ds" % timeout] if wrapper else []
        started = time.monotonic()
        rc, out, err = self.module.module.run_command(prefix + argv, environ_update=env, umask=0o077)
        elapsed = round((time.monotonic() - started) * 1000.0, 3)
        if wrapper and rc in (124, 137):
            err = "%s\nstopped after %ss (dump_timeout/restore_timeout)" % (err or "", timeout)
        return rc, (out or "")[-STDERR_TAIL:], (err or "")[-STDERR_TAIL:], elapsed

    # --- row counts ------------------------------------------------------------------------------------

    def count_rows(self, conn):
        """Exact row count of every user table (ONLY: each heap once; partition leaves and chunks are tables too)."""
        limit = self.params["max_count_tables"]
        tables = fetch_all(conn, """
            SELECT n.nspname AS schema, c.relname AS name
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname <> ALL(%s) AND n.nspname !~ '^pg_(toast|temp)'
             ORDER BY 1, 2 LIMIT %s""", (list(SYSTEM_SCHEMAS), limit + 1))
        if len(tables) > limit:
            self.module.warn("more than max_count_tables=%d tables: only the first %d (by name) are counted and compared"
                             % (limit, limit))
            tables = tables[:limit]
        counts = {}
        for table in tables:
            query = pgsql.SQL("SELECT count(*) FROM ONLY {}").format(pgsql.Identifier(table["schema"], table["name"]))
            counts["%s.%s" % (table["schema"], table["name"])] = fetch_value(conn, query)
        return counts

    # --- backup ----------------------------------------------------------------------------------------

    def reusable(self, database):
        """The newest backup of database if it is recent enough and intact, else None."""
        within = self.params["reuse_within"]
        if not within:
            return None
        entries = catalogue(self.params["backup_dir"], [database]).get(database) or []
        if not entries or entries[0]["age_s"] > within or not entries[0]["has_checksum"]:
            return None
        newest = entries[0]
        if read_checksum(newest["path"]) != sha256_file(newest["path"]):
            self.module.warn("the newest backup %s does not match its checksum: taking a new one" % newest["file"])
            return None
        return newest

    def dump_argv(self, tool, partial):
        argv = [tool, "--format=custom", "--no-password", "--file=%s" % partial,
                "--lock-wait-timeout=%d" % round(self.params["lock_wait_timeout"] * 1000)]
        if self.params["compress"] is not None:
            argv.append("--compress=%d" % self.params["compress"])
        return argv

    def backup(self, database):
        params = self.params
        reused = self.reusable(database)
        if reused:
            manifest = read_manifest(reused["path"]) or {}
            entry = {"database": database, "file": reused["file"], "path": reused["path"], "size_bytes": reused["size_bytes"],
                     "sha256": read_checksum(reused["path"]), "created_at": reused["created_at"], "reused": True,
                     "tables_counted": len(manifest.get("row_counts") or {})}
            self.result["backups"].append(entry)
            return entry
        moment = utc()
        final = os.path.join(params["backup_dir"], backup_name(database, moment))
        partial = final + ".partial"
        env = libpq_environment(params, database, APPLICATION_NAME)
        count = params["count_rows"] if params["count_rows"] is not None else params["restore_test"]
        entry = {"database": database, "file": os.path.basename(final), "path": final, "reused": False}
        if self.check_mode:
            argv = self.dump_argv(self.tool("pg_dump"), partial) + ["--snapshot=%s" % SNAPSHOT_PLACEHOLDER]
            self.plan("pg_dump", database=database, argv=argv, environment=describe_environment(env))
            self.plan("checksum", file=final, algorithm="sha256")
            self.result["backups"].append(entry)
            return entry
        started = time.monotonic()
        try:
            conn = connect(params, dbname=database, module_name=MODULE, autocommit=False)
        except SarkConnectionError as exc:
            if exc.kind == "config":
                raise SarkValidationError("databases: %s does not exist on %s. Nothing was dumped for it." % (
                    database, exc.details.get("target", "the server"))) from exc
            raise
        try:
            # one snapshot for pg_dump and our row counts: the counts describe exactly what the dump holds
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            info = fetch_one(conn, """
                SELECT pg_export_snapshot() AS snapshot, current_setting('server_version_num')::int AS version_num,
                       current_setting('server_version') AS version,
                       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb""")
            argv = self.dump_argv(self.tool("pg_dump", info["version_num"] // 10000), partial)
            argv.append("--snapshot=%s" % info["snapshot"])
            self.plan("pg_dump", database=database, argv=argv, environment=describe_environment(env))
            counts = self.count_rows(conn) if count else None
            rc, _out, err, dump_ms = self.run_tool(argv, env, params["dump_timeout"])
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()
        if rc != 0:
            remove_quietly(partial)
            hint = tool_io_hint(err, params["backup_dir"])
            raise SarkOperationError("pg_dump of %s failed (rc=%s): %s%s. Nothing was kept for %s%s." % (
                database, rc, hint + "; pg_dump said: " if hint else "", err.strip() or "no output", database, self.done_so_far()),
                database=database)
        self.plan("checksum", file=final, algorithm="sha256")
        try:
            os.rename(partial, final)
            digest = sha256_file(final)
            write_checksum(final, digest)
            manifest = {"database": database, "file": os.path.basename(final), "format": "custom", "sha256": digest,
                        "size_bytes": os.path.getsize(final), "created_at": isoformat(moment), "server_version": info["version"],
                        "server_version_num": info["version_num"], "timescaledb": info["timescaledb"],
                        "row_counts": counts, "snapshot_consistent_counts": counts is not None, "tool": "sark.ops.sark_pg_backup"}
            write_manifest(final, manifest)
        except (OSError, SarkOperationError) as exc:
            # a dump without its checksum and manifest is no backup: remove it whole rather than leave half of one
            for path in (partial, final, checksum_path(final), manifest_path(final)):
                remove_quietly(path)
            text = exc.msg if isinstance(exc, SarkOperationError) else describe_os_error(exc, getattr(exc, "filename", None) or final)
            raise SarkOperationError("Backup of %s could not be completed: %s. The dump was removed, nothing was kept for %s%s."
                                     % (database, text, database, self.done_so_far()), database=database) from exc
        self.done("pg_dump", database=database, argv=argv, duration_ms=dump_ms, file=final)
        self.done("checksum", file=final, sha256=digest)
        entry.update(size_bytes=manifest["size_bytes"], sha256=digest, created_at=manifest["created_at"],
                     duration_ms=round((time.monotonic() - started) * 1000.0, 3),
                     tables_counted=len(counts) if counts is not None else None)
        self.result["backups"].append(entry)
        return entry

    # --- verification ------------------------------------------------------------------------------------

    def verify(self, path, restore_test):
        """Checksum, table of contents, optional restore test. Read-only checks run in check mode too."""
        entry = {"file": os.path.basename(path), "path": path}
        if not os.path.isfile(path):
            entry.update(ok=False, error="no such file")
            self.result["verifications"].append(entry)
            return entry
        expected = read_checksum(path)
        actual = sha256_file(path)
        entry["checksum"] = {"expected": expected, "actual": actual, "ok": expected is not None and expected == actual}
        if expected is None:
            entry["checksum"]["error"] = "no %s.sha256 next to the dump: its integrity cannot be proven" % os.path.basename(path)
        if not self.check_mode:
            self.done("checksum_verify", file=path, ok=entry["checksum"]["ok"])
        manifest = read_manifest(path) or {}
        if manifest.get("size_bytes") is not None:
            size = os.path.getsize(path)
            entry["size"] = {"expected": manifest["size_bytes"], "actual": size, "ok": size == manifest["size_bytes"]}
        major = (manifest.get("server_version_num") or 0) // 10000 or None
        restore_tool = self.tool("pg_restore", major)
        handle, list_path = tempfile.mkstemp(prefix="sark-ops-toc-", suffix=".list", dir=self.module.module.tmpdir)
        os.close(handle)
        try:
            argv = [restore_tool, "--list", "--file=%s" % list_path, path]
            rc, _out, err, list_ms = self.run_tool(argv, {}, self.params["restore_timeout"])
            if not self.check_mode:
                self.done("pg_restore_list", file=path, argv=argv, rc=rc, duration_ms=list_ms)
            entry["toc"] = {"ok": rc == 0}
            if rc == 0:
                entry["toc"].update(toc_summary(list_path))
                entry["toc"]["ok"] = entry["toc"]["entries"] > 0
            else:
                entry["toc"]["error"] = err.strip() or "pg_restore --list failed (rc=%s)" % rc
        finally:
            os.remove(list_path)
        entry["ok"] = entry["checksum"]["ok"] and entry["toc"]["ok"] and (entry.get("size") or {}).get("ok", True)
        if restore_test:
            if not entry["ok"]:
                entry["restore_test"] = {"ok": False, "skipped": "the checksum or table of contents check already failed"}
            else:
                entry["restore_test"] = self.restore_test(path, manifest, restore_tool)
                entry["ok"] = entry["ok"] and entry["restore_test"].get("ok", True)
        self.result["verifications"].append(entry)
        return entry

    def restore_test(self, path, manifest, restore_tool):
        params = self.params
        scratch = params["restore_test_database"]
        env = libpq_environment(params, scratch, APPLICATION_NAME)
        argv = [restore_tool, "--no-password", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname=%s" % scratch, path]
        create = pgsql.SQL("CREATE DATABASE {} TEMPLATE template0").format(pgsql.Identifier(scratch))
        comment = pgsql.SQL("COMMENT ON DATABASE {} IS {}").format(pgsql.Identifier(scratch), pgsql.Literal(SCRATCH_COMMENT))
        drop = pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(scratch))
        admin = connect(params, dbname=params["maintenance_database"], module_name=MODULE)
        out = {"database": scratch}
        try:
            texts = [s.as_string(admin) for s in (create, comment)]
            existing = fetch_one(admin, "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = %s",
                                 (scratch,))
            if existing and existing["comment"] != SCRATCH_COMMENT:
                raise SarkPreconditionError("restore_test_database %s exists and was not created by sark.ops: refusing to drop it. "
                                            "Choose another restore_test_database." % scratch)
            for text in ([drop.as_string(admin)] if existing else []) + texts:
                self.plan("sql", database=params["maintenance_database"], sql=text)
            self.plan("pg_restore", database=scratch, argv=argv, environment=describe_environment(env))
            self.plan("sql", database=params["maintenance_database"], sql=drop.as_string(admin))
            if self.check_mode:
                out["planned"] = True
                return out
            with admin.cursor() as cur:
                for statement in ([drop] if existing else []) + [create, comment]:
                    cur.execute(statement)
                    self.done("sql", sql=statement.as_string(admin))
            try:
                out.update(self._restore_and_count(path, manifest, argv, env, scratch))
            finally:
                with admin.cursor() as cur:
                    cur.execute(drop)
                self.done("sql", sql=drop.as_string(admin))
                out["dropped"] = True
        except psycopg_errors() as exc:
            out.update(ok=False, error="restore test database %s: %s" % (scratch, str(exc).strip()))
        finally:
            admin.close()
        return out

    def _restore_and_count(self, path, manifest, argv, env, scratch):
        params = self.params
        tsdb = manifest.get("timescaledb")
        conn = connect(params, dbname=scratch, module_name=MODULE)
        try:
            if tsdb:
                with conn.cursor() as cur:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb VERSION %s", (tsdb,))
                    cur.execute("SELECT timescaledb_pre_restore()")
            rc, _out, err, ms = self.run_tool(argv, env, params["restore_timeout"])
            if rc != 0:
                return {"ok": False, "restore_rc": rc, "error": err.strip() or "pg_restore failed", "duration_ms": ms}
            self.done("pg_restore", database=scratch, argv=argv, duration_ms=ms)
            if tsdb:
                with conn.cursor() as cur:
                    cur.execute("SELECT timescaledb_post_restore()")
            restored = self.count_rows(conn)
        finally:
            conn.close()
        source = manifest.get("row_counts")
        if source is None:
            return {"ok": True, "duration_ms": ms, "tables_restored": len(restored), "comparison": None,
                    "note": "no row counts were recorded with this dump (count_rows was off): only the restore itself was tested"}
        comparison = compare_counts(source, restored)
        mismatches = [row for row in comparison if not row["match"]]
        return {"ok": not mismatches, "duration_ms": ms, "tables_compared": len(comparison), "mismatches": mismatches,
                "comparison": comparison}

    # --- retention -----------------------------------------------------------------------------------------

    def retention(self, databases, protect=()):
        params = self.params
        if params["keep"] is None and params["max_age_days"] is None:
            return
        found = catalogue(params["backup_dir"], databases or None)
        for database, entries in sorted(found.items()):
            doomed = plan_retention(entries, params["keep"], params["max_age_days"], protect)
            self.result["retention"]["kept"][database] = len(entries) - len(doomed)
            for entry in doomed:
                files = companions(entry["path"])
                self.plan("delete", file=entry["file"], reason=entry["reason"], files=[os.path.basename(f) for f in files])
                if not self.check_mode:
                    for path in files:
                        os.remove(path)
                    self.done("delete", file=entry["file"], reason=entry["reason"])
                self.result["retention"]["deleted"].append({"database": database, "file": entry["file"], "reason": entry["reason"],
                                                            "age_s": entry["age_s"]})


def files_in(directory):
    return sorted(f for f in os.listdir(directory) if parse_name(f)) if os.path.isdir(directory) else []


def summarize_catalogue(directory, databases):
    out = {}
    for database, entries in sorted(catalogue(directory, databases or None).items()):
        out[database] = {"count": len(entries), "newest": entries[0]["file"], "newest_age_s": entries[0]["age_s"],
                         "total_bytes": sum(e["size_bytes"] for e in entries)}
    return out


def remove_quietly(path):
    try:
        if path and os.path.lexists(path):
            os.remove(path)
    except OSError:
        pass


def check_directory(module, job, directory, action):
    """backup_dir usable before any work: a directory (made when missing, for a backup) we may write in."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SarkValidationError("backup_dir %s is not a directory (a file stands there): give a directory." % directory)
    if not os.path.isdir(directory):
        if action != "backup":
            raise SarkValidationError("backup_dir %s does not exist" % directory)
        job.plan("mkdir", path=directory, mode="0700")
        if not module.check_mode:
            try:
                os.makedirs(directory, DIR_MODE, exist_ok=True)  # a concurrent run may have made it first
            except OSError as exc:
                raise SarkOperationError(describe_os_error(exc, directory, "create")) from exc
            job.done("mkdir", path=directory)
    if action == "backup" and os.path.isdir(directory):
        check_writable_file(os.path.join(directory, "backup.dump"), "backup")


def run(module):
    params = module.params
    params["databases"], repeated = dedupe(params["databases"])
    if repeated:
        module.warn("databases lists %s more than once: each database is backed up once" % ", ".join(repeated))
    validate_params(params)
    job = Backup(module)
    directory = params["backup_dir"]
    before = files_in(directory)
    try:
        return run_action(module, job, directory, before)
    except SarkError as exc:
        for key in ("backups", "verifications", "retention"):
            exc.details.setdefault(key, job.result[key])
        if os.path.isdir(directory):
            exc.details.setdefault("partial_files", partial_files(directory))
        raise
    except OSError as exc:
        raise SarkOperationError("%s%s" % (describe_os_error(exc, getattr(exc, "filename", None) or directory, "access"),
                                           job.done_so_far()), backups=job.result["backups"],
                                 verifications=job.result["verifications"], retention=job.result["retention"]) from exc


def run_action(module, job, directory, before):
    params = module.params
    if params["action"] == "backup" or (params["restore_test"] and params["action"] == "verify"):
        job.preflight(params["databases"] if params["action"] == "backup" else [])
    check_directory(module, job, directory, params["action"])
    changed = False
    if params["action"] == "backup":
        taken = [job.backup(database) for database in params["databases"]]
        changed = any(not entry["reused"] for entry in taken)
        if params["verify"]:
            for entry in taken:
                if module.check_mode and not entry["reused"]:
                    job.plan("pg_restore --list", file=entry["path"])
                    if params["restore_test"]:
                        job.plan("restore_test", file=entry["path"], database=params["restore_test_database"])
                    continue
                entry["verification"] = job.verify(entry["path"], params["restore_test"])
        job.retention(params["databases"], protect={entry["path"] for entry in taken})
    elif params["action"] == "verify":
        if params["backup_file"]:
            paths = [params["backup_file"]]
        else:
            found = catalogue(directory, params["databases"] or None)
            paths = [entries[0]["path"] for _db, entries in sorted(found.items())]
            if not paths:
                raise SarkPreconditionError("no backups%s in %s to verify" % (
                    " of %s" % ", ".join(params["databases"]) if params["databases"] else "", directory))
        for path in paths:
            job.verify(path, params["restore_test"])
    else:
        job.retention(params["databases"])
    changed = changed or bool(job.result["retention"]["deleted"])
    result = job.result
    result.update(changed=changed, action=params["action"], backup_dir=directory,
                  catalogue=summarize_catalogue(directory, params["databases"]), partial_files=partial_files(directory))
    if module.check_mode:
        after = sorted((set(before) | {e["file"] for e in result["backups"]}) - {d["file"] for d in result["retention"]["deleted"]})
    else:
        after = files_in(directory)
    if module.diff_mode and before != after:
        result["diff"] = {"before": {"backups": before}, "after": {"backups": after}}
    failed = [v for v in result["verifications"] if not v.get("ok")]
    if failed:
        raise SarkOperationError("%d of %d backups failed verification: %s" % (len(failed), len(result["verifications"]), "; ".join(
            "%s: %s" % (v["file"], describe_failure(v)) for v in failed)), **result)
    return result


def describe_failure(verification):
    if verification.get("error"):
        return verification["error"]
    checksum = verification.get("checksum") or {}
    if not checksum.get("ok"):
        return checksum.get("error") or "checksum mismatch (recorded %s, file now %s): the file changed after it was written" % (
            checksum.get("expected"), checksum.get("actual"))
    size = verification.get("size") or {}
    if not size.get("ok", True):
        return "%d bytes, but %d were written (manifest): the file was truncated or replaced" % (size["actual"], size["expected"])
    toc = verification.get("toc") or {}
    if not toc.get("ok"):
        return "pg_restore cannot read its table of contents: %s" % (toc.get("error") or "no entries")
    restore = verification.get("restore_test") or {}
    if restore.get("error"):
        return "restore test failed: %s" % restore["error"]
    mismatches = restore.get("mismatches") or []
    return "restore test row counts differ in %d tables: %s" % (len(mismatches), ", ".join(
        "%s (%s vs %s)" % (m["table"], m["source"], m["restored"]) for m in mismatches[:5]))


def main():
    spec = dict(
        action=dict(type="str", default="backup", choices=["backup", "verify", "prune"]),
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
    spec.update(postgres_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
