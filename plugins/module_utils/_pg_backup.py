# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backups of SARK's databases for sark_pg_backup and sark_pg_backup_info (private).

The first part is plain file and string work the unit tests exercise without a server: names, catalogue,
checksums, retention, libpq environment, input checks. The second part, ``Backup``, is one run of
sark_pg_backup: pg_dump and pg_restore (through AnsibleModule.run_command), verification, the restore
test and retention, every step recorded in the evidence record.
"""

import errno
import glob
import os
import re
import tempfile
import time

from ansible_collections.sark.ops.plugins.module_utils import _backup as backups
from ansible_collections.sark.ops.plugins.module_utils._files import describe_os_error, sha256_file
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    MASK,
    isoformat,
    utcnow,
)
from ansible_collections.sark.ops.plugins.module_utils._pg_maintenance import SYSTEM_SCHEMAS
from ansible_collections.sark.ops.plugins.module_utils._postgres import (
    connect,
    describe_target,
    fetch_all,
    fetch_one,
    fetch_value,
    pgsql,
    psycopg_errors,
)

NAME_PATTERN = re.compile(r"^(?P<database>.+)-(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z\.dump$")
SCRATCH_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCRATCH_COMMENT = "sark.ops restore test scratch database"

# libpq reads these; the password goes to PGPASSWORD so it never appears in a process list.
OPTION_ENV = (("pg_port", "PGPORT"), ("pg_user", "PGUSER"), ("pg_password", "PGPASSWORD"), ("pg_sslmode", "PGSSLMODE"),
              ("pg_sslrootcert", "PGSSLROOTCERT"), ("pg_sslcert", "PGSSLCERT"), ("pg_sslkey", "PGSSLKEY"),
              ("pg_connect_timeout", "PGCONNECT_TIMEOUT"))
CONNECT_PARAM_ENV = {"options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS", "sslcrl": "PGSSLCRL",
                     "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING", "krbsrvname": "PGKRBSRVNAME",
                     "service": "PGSERVICE", "passfile": "PGPASSFILE", "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
                     "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "sslcompression": "PGSSLCOMPRESSION",
                     "requiressl": "PGREQUIRESSL", "gsslib": "PGGSSLIB", "sslsni": "PGSSLSNI"}


def utc(moment=None):
    return moment or utcnow()


def validate_database_name(name, option="databases"):
    """A database name becomes part of a file name: refuse what could escape the directory."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise SarkValidationError("%s: %r is not a database name" % (option, name))
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or len(name.encode("utf-8")) > 63:
        raise SarkValidationError("%s: %r cannot be backed up to a file of its own name (no '/', '\\', leading '.', "
                                  "at most 63 bytes)" % (option, name))
    return name


def validate_scratch_name(name, sources):
    if not SCRATCH_NAME.match(name or ""):
        raise SarkValidationError("restore_test_database %r must be a plain lowercase name (letters, digits, _)" % (name,))
    if name in sources:
        raise SarkValidationError("restore_test_database %r is one of the databases being backed up: the restore test drops "
                                  "and recreates it, so it must be a scratch name" % name)
    return name


def backup_name(database, moment):
    return "%s-%s.dump" % (database, backups.stamp(moment))


def parse_name(filename):
    """(database, created_at) of a file this module named, or None for any other file."""
    match = NAME_PATTERN.match(filename)
    if not match:
        return None
    return match.group("database"), backups.stamp_of(match)


def dedupe(names):
    """names in their first order without repeats, and the repeated ones."""
    seen, out, repeated = set(), [], []
    for name in names:
        if name in seen:
            if name not in repeated:
                repeated.append(name)
            continue
        seen.add(name)
        out.append(name)
    return out, repeated


TOOL_IO_HINTS = (("no space left on device", errno.ENOSPC), ("disk quota exceeded", errno.EDQUOT),
                 ("file too large", errno.EFBIG), ("read-only file system", errno.EROFS),
                 ("permission denied", errno.EACCES), ("is a directory", errno.EISDIR))


def tool_io_hint(stderr, path):
    """An operator's sentence when pg_dump's stderr shows a file system error writing path, else None."""
    lowered = (stderr or "").lower()
    for needle, code in TOOL_IO_HINTS:
        if needle in lowered and ("output file" in lowered or "could not write" in lowered or "could not open" in lowered
                                  or "could not close" in lowered):
            return describe_os_error(OSError(code, os.strerror(code)), path)
    return None


def parse_series(filename):
    """(database, labels, created_at) of a file this module named (the series of _backup.catalogue), or None."""
    parsed = parse_name(filename)
    return (parsed[0], {"database": parsed[0]}, parsed[1]) if parsed else None


def catalogue(directory, databases=None, now=None):
    """database -> its backups in directory, newest first, from the file names this module writes."""
    return backups.catalogue(directory, parse_series, databases, now)


def partial_files(directory):
    """Leftovers of interrupted dumps (never deleted automatically: an operator may want to look at them)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(directory), "*.dump.partial")))


def libpq_environment(params, database, application_name):
    """Environment for pg_dump/pg_restore: every connection setting, the password included, stays out of argv."""
    env = {"PGHOST": params.get("pg_unix_socket") or params.get("pg_host"), "PGDATABASE": database,
           "PGAPPNAME": application_name}
    for option, name in OPTION_ENV:
        if params.get(option) not in (None, ""):
            env[name] = str(params[option])
    for key, value in sorted((params.get("pg_connect_params") or {}).items()):
        if key not in CONNECT_PARAM_ENV:
            raise SarkValidationError("pg_connect_params.%s has no libpq environment variable, so pg_dump/pg_restore cannot be "
                                      "given it; supported here: %s" % (key, ", ".join(sorted(CONNECT_PARAM_ENV))))
        env[CONNECT_PARAM_ENV[key]] = str(value)
    return {k: v for k, v in env.items() if v is not None}


def describe_environment(env):
    """What the evidence shows of the environment: names, and values only where they are not secret."""
    return {k: (MASK if k == "PGPASSWORD" else v) for k, v in sorted(env.items())}


def parse_tool_version(text):
    """Major version from `pg_dump --version` output ("pg_dump (PostgreSQL) 15.20 (Debian ...)")."""
    match = re.search(r"\)\s+(\d+)(?:\.(\d+))?", text or "")
    return int(match.group(1)) if match else None


def toc_summary(list_path, sample=5):
    """Count a pg_restore --list output file line by line (bounded memory): entries and TABLE DATA entries."""
    entries = data = 0
    first = []
    with open(list_path, "r", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            entries += 1
            if " TABLE DATA " in line:
                data += 1
            if len(first) < sample:
                first.append(line)
    return {"entries": entries, "table_data_entries": data, "sample": first}


def compare_counts(source, restored):
    """Table-by-table comparison of row counts: list of {table, source, restored, match}."""
    rows = []
    for table in sorted(set(source) | set(restored)):
        src, dst = source.get(table), restored.get(table)
        rows.append({"table": table, "source": src, "restored": dst, "match": src == dst})
    return rows


def validate_params(params):
    """Every input check of sark_pg_backup that needs neither the server nor the files."""
    state = params["state"]
    for name in params["databases"]:
        validate_database_name(name)
    if state == "present" and not params["databases"]:
        raise SarkValidationError("state=present needs databases (for SARK: [sark, sark_audit])")
    backups.validate_retention_params(params)
    if params["compress"] is not None and not 0 <= params["compress"] <= 9:
        raise SarkValidationError("compress must be between 0 and 9, got %s" % params["compress"])
    for name in ("dump_timeout", "restore_timeout", "max_count_tables"):
        if params[name] < 1:
            raise SarkValidationError("%s must be at least 1, got %s" % (name, params[name]))
    if params["lock_wait_timeout"] < 0:
        raise SarkValidationError("lock_wait_timeout must be 0 or more, got %s" % params["lock_wait_timeout"])
    if params["restore_test"] or state == "restore_test":
        validate_scratch_name(params["restore_test_database"], params["databases"])
    libpq_environment(params, "postgres", "sark.ops")  # refuses pg_connect_params libpq cannot take from the environment


def inspect_backup(entry, verify=True):
    """One catalogue entry with what sark_pg_backup_info reports (_backup.inspect_backup), the tables counted and the
    server's version."""
    manifest = backups.read_manifest(entry["path"]) or {}
    out = backups.inspect_backup(entry, manifest, verify, "dump")
    out["tables_counted"] = len(manifest.get("row_counts") or {}) if manifest else None
    out["server_version"] = manifest.get("server_version")
    return out


# --- one sark_pg_backup run ------------------------------------------------------------------------------

MODULE = "sark_pg_backup"
APPLICATION_NAME = "sark.ops/sark_pg_backup"
SNAPSHOT_PLACEHOLDER = "<snapshot exported at run time>"
STDERR_TAIL = 2000


class Backup(backups.BackupRun):
    """One run of sark_pg_backup: the module (its options, check mode, run_command), the tools found and the result being built.

    Every command and statement is recorded in the evidence record when it is planned and when it has run.
    """

    parse = parse_series
    what = "dump"
    deleted_labels = ("database",)

    def selected_names(self):
        return self.params["databases"] or None

    def partial_files(self):
        return partial_files(self.params["backup_dir"])

    def describe_failure(self, verification):
        return describe_failure(verification)

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
        path = self.tool_in_bin_dir("pg_bin_dir", name)
        if path is None:
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
        return self.newest_intact(database)

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
            manifest = backups.read_manifest(reused["path"]) or {}
            entry = {"database": database, "file": reused["file"], "path": reused["path"], "size_bytes": reused["size_bytes"],
                     "sha256": backups.read_checksum(reused["path"]), "created_at": reused["created_at"], "reused": True,
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
            backups.remove_quietly(partial)
            hint = tool_io_hint(err, params["backup_dir"])
            raise SarkOperationError("pg_dump of %s failed (rc=%s): %s%s. Nothing was kept for %s%s." % (
                database, rc, hint + "; pg_dump said: " if hint else "", err.strip() or "no output", database, self.done_so_far()),
                database=database)
        self.plan("checksum", file=final, algorithm="sha256")
        try:
            os.rename(partial, final)
            digest = sha256_file(final)
            backups.write_checksum(final, digest)
            manifest = {"database": database, "file": os.path.basename(final), "format": "custom", "sha256": digest,
                        "size_bytes": os.path.getsize(final), "created_at": isoformat(moment), "server_version": info["version"],
                        "server_version_num": info["version_num"], "timescaledb": info["timescaledb"],
                        "row_counts": counts, "snapshot_consistent_counts": counts is not None, "tool": "sark.ops.sark_pg_backup"}
            backups.write_manifest(final, manifest)
        except (OSError, SarkOperationError) as exc:
            # a dump without its checksum and manifest is no backup: remove it whole rather than leave half of one
            for path in (partial, final, backups.checksum_path(final), backups.manifest_path(final)):
                backups.remove_quietly(path)
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
        entry, manifest = self.start_verification(path)
        if manifest is None:
            return entry
        if not self.check_mode:
            self.done("checksum_verify", file=path, ok=entry["checksum"]["ok"])
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
        self.conclude_verification(entry, "toc", "table of contents", restore_test,
                                   lambda: self.restore_test(path, manifest, restore_tool))
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


def files_in(directory):
    return backups.files_in(directory, parse_series)


def check_directory(module, job, directory, state):
    """backup_dir usable before any work (_backup.check_directory)."""
    backups.check_directory(module, job, directory, state, "backup.dump")


def describe_failure(verification):
    return backups.describe_failure(verification, describe_toc_failure, describe_mismatches)


def describe_toc_failure(verification):
    toc = verification.get("toc") or {}
    if not toc.get("ok"):
        return "pg_restore cannot read its table of contents: %s" % (toc.get("error") or "no entries")
    return None


def describe_mismatches(mismatches):
    return "restore test row counts differ in %d tables: %s" % (len(mismatches), ", ".join(
        "%s (%s vs %s)" % (m["table"], m["source"], m["restored"]) for m in mismatches[:5]))
