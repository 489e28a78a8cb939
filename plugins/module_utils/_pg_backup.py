# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup files for sark_pg_backup (private): names, catalogue, checksums, retention, libpq environment.

Nothing here runs pg_dump itself (the module does, through AnsibleModule.run_command); everything here
is plain file and string work that the unit tests exercise without a server.
"""

import datetime
import errno
import glob
import hashlib
import json
import os
import re

from ansible_collections.sark.ops.plugins.module_utils._files import atomic_write, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import MASK, SarkValidationError, utcnow

CHUNK_BYTES = 1024 * 1024
NAME_PATTERN = re.compile(r"^(?P<database>.+)-(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z\.dump$")
SCRATCH_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCRATCH_COMMENT = "sark.ops restore test scratch database"
FILE_MODE = 0o600
DIR_MODE = 0o700

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
    return "%s-%s.%03dZ.dump" % (database, moment.strftime("%Y%m%dT%H%M%S"), moment.microsecond // 1000)


def parse_name(filename):
    """(database, created_at) of a file this module named, or None for any other file."""
    match = NAME_PATTERN.match(filename)
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%S").replace(
        microsecond=int(match.group("ms")) * 1000, tzinfo=datetime.timezone.utc)
    return match.group("database"), moment


def checksum_path(path):
    return path + ".sha256"


def manifest_path(path):
    return path + ".json"


def companions(path):
    """The dump and its sidecar files, as far as they exist."""
    return [p for p in (path, checksum_path(path), manifest_path(path)) if os.path.exists(p)]


def sha256_file(path):
    """Stream the file through SHA-256: memory stays at one chunk whatever the dump size."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def write_private(path, text):
    """Write a small file whole or not at all with mode 0600 (dumps hold password hashes; so do their sidecars' names).

    A full disk, a read-only file system or a directory in the way raise SarkOperationError naming the path; no
    temporary file is left behind (plugins/module_utils/_files.py).
    """
    atomic_write(path, text, mode=FILE_MODE)


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


def write_checksum(path, digest):
    write_private(checksum_path(path), "%s  %s\n" % (digest, os.path.basename(path)))


def read_checksum(path):
    """The hex digest recorded next to a dump (sha256sum format), or None."""
    try:
        with open(checksum_path(path), "r") as handle:
            first = handle.readline().split()
    except (IOError, OSError):
        return None
    return first[0].lower() if first and re.match(r"^[0-9a-fA-F]{64}$", first[0]) else None


def write_manifest(path, manifest):
    write_private(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(path):
    try:
        with open(manifest_path(path), "r") as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def catalogue(directory, databases=None, now=None):
    """database -> its backups in directory, newest first, from the file names this module writes."""
    now = utc(now)
    found = {}
    if not os.path.isdir(directory):
        return found
    for entry in sorted(os.listdir(directory)):
        parsed = parse_name(entry)
        if not parsed or (databases and parsed[0] not in databases):
            continue
        path = os.path.join(directory, entry)
        if not os.path.isfile(path):
            continue
        database, created = parsed
        found.setdefault(database, []).append({
            "database": database, "file": entry, "path": path, "created_at": created.isoformat(),
            "age_s": round((now - created).total_seconds(), 3), "size_bytes": os.path.getsize(path),
            "has_checksum": os.path.exists(checksum_path(path)), "has_manifest": os.path.exists(manifest_path(path)),
        })
    for entries in found.values():
        entries.sort(key=lambda e: e["file"], reverse=True)
    return found


def partial_files(directory):
    """Leftovers of interrupted dumps (never deleted automatically: an operator may want to look at them)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(directory), "*.dump.partial")))


def plan_retention(entries, keep=None, max_age_days=None, protect=()):
    """Which backups of one database to delete, with the reason for each.

    A backup goes when it is not among the newest ``keep`` or is older than ``max_age_days``.
    The newest backup and the ones in ``protect`` (just taken) are never deleted, so a max age alone
    can never leave a database without a backup.
    """
    doomed = []
    for index, entry in enumerate(entries):  # newest first
        if index == 0 or entry["path"] in protect:
            continue
        reasons = []
        if keep is not None and index >= keep:
            reasons.append("beyond the newest %d" % keep)
        if max_age_days is not None and entry["age_s"] > max_age_days * 86400:
            reasons.append("older than %g days" % max_age_days)
        if reasons:
            doomed.append(dict(entry, reason=" and ".join(reasons)))
    return doomed


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
    """Every input check that needs neither the server nor the files."""
    for name in params["databases"]:
        validate_database_name(name)
    if params["action"] == "backup" and not params["databases"]:
        raise SarkValidationError("action=backup needs databases (for SARK: [sark, sark_audit])")
    if params["backup_file"] and params["action"] != "verify":
        raise SarkValidationError("backup_file applies to action=verify only")
    if params["action"] == "prune" and params["keep"] is None and params["max_age_days"] is None:
        raise SarkValidationError("action=prune needs keep and/or max_age_days")
    if params["keep"] is not None and params["keep"] < 1:
        raise SarkValidationError("keep must be at least 1 (the newest backup is always kept), got %s" % params["keep"])
    if params["max_age_days"] is not None and params["max_age_days"] <= 0:
        raise SarkValidationError("max_age_days must be more than 0, got %s" % params["max_age_days"])
    if params["compress"] is not None and not 0 <= params["compress"] <= 9:
        raise SarkValidationError("compress must be between 0 and 9, got %s" % params["compress"])
    for name in ("dump_timeout", "restore_timeout", "max_count_tables"):
        if params[name] < 1:
            raise SarkValidationError("%s must be at least 1, got %s" % (name, params[name]))
    for name in ("reuse_within", "lock_wait_timeout"):
        if params[name] < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (name, params[name]))
    if params["restore_test"]:
        validate_scratch_name(params["restore_test_database"], params["databases"])
    libpq_environment(params, "postgres", "sark.ops")  # refuses pg_connect_params libpq cannot take from the environment
