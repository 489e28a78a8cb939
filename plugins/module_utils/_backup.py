# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the PostgreSQL and the Redis backups share, whatever they back up (private; _pg_backup, _redis_backup).

A backup is a file named ``<series>-<UTC stamp>.<ext>`` in a backup directory with two sidecars: ``<file>.sha256``
(sha256sum format) and ``<file>.json`` (the manifest: size, what was saved, what the restore test compares). Here:
the sidecars, the catalogue of a directory, the read-only inspection, the checksum and size checks of a verification,
retention (``plan_retention``), the directory check, and ``BackupRun``, the bookkeeping of one run of a backup module.

A *series* is what retention counts in: a database for PostgreSQL, a (name, kind) pair for Redis. Each backup file
knows its series through the parser its module gives (``parse(file name) -> (series, labels, created_at)`` or None);
the labels (``{"database": ...}``, ``{"name": ..., "kind": ...}``) start each catalogue entry.
"""

import datetime
import json
import os
import re

from ansible_collections.sark.ops.plugins.module_utils._files import (
    atomic_write,
    check_writable_file,
    describe_os_error,
    sha256_file,
)
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkError,
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    utcnow,
)

FILE_MODE = 0o600
DIR_MODE = 0o700


# --- names -------------------------------------------------------------------------------------------------

def stamp(moment):
    """The UTC time in a backup's name, to the millisecond: 20260102T030405.123Z."""
    return "%s.%03dZ" % (moment.strftime("%Y%m%dT%H%M%S"), moment.microsecond // 1000)


def stamp_of(match):
    """The time of a name matched by a pattern with the groups ``stamp`` (20260102T030405) and ``ms`` (123)."""
    return datetime.datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%S").replace(
        microsecond=int(match.group("ms")) * 1000, tzinfo=datetime.timezone.utc)


# --- sidecars ----------------------------------------------------------------------------------------------

def checksum_path(path):
    return path + ".sha256"


def manifest_path(path):
    return path + ".json"


def companions(path):
    """The backup and its sidecar files, as far as they exist."""
    return [p for p in (path, checksum_path(path), manifest_path(path)) if os.path.exists(p)]


def write_checksum(path, digest):
    atomic_write(checksum_path(path), "%s  %s\n" % (digest, os.path.basename(path)), mode=FILE_MODE)


def read_checksum(path):
    """The hex digest recorded next to a backup (sha256sum format), or None."""
    try:
        with open(checksum_path(path), "r") as handle:
            first = handle.readline().split()
    except (IOError, OSError):
        return None
    return first[0].lower() if first and re.match(r"^[0-9a-fA-F]{64}$", first[0]) else None


def write_manifest(path, manifest):
    atomic_write(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True) + "\n", mode=FILE_MODE)


def read_manifest(path):
    try:
        with open(manifest_path(path), "r") as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def remove_quietly(path):
    try:
        if path and os.path.lexists(path):
            os.remove(path)
    except OSError:
        pass


# --- the catalogue -----------------------------------------------------------------------------------------

def series_name(series):
    """The name a series is selected by (the database; the Redis backup's name)."""
    return series[0] if isinstance(series, tuple) else series


def series_label(series):
    """How a series is named in results: V(sark), V(redis.rdb)."""
    return ".".join(series) if isinstance(series, tuple) else series


def catalogue(directory, parse, names=None, now=None):
    """series -> its backups in directory, newest first, from the file names the module writes (parse: see above).

    names, when given, keeps only the series of those names.
    """
    now = now or utcnow()
    found = {}
    if not os.path.isdir(directory):
        return found
    for entry in sorted(os.listdir(directory)):
        parsed = parse(entry)
        if not parsed or (names and series_name(parsed[0]) not in names):
            continue
        path = os.path.join(directory, entry)
        if not os.path.isfile(path):
            continue
        series, labels, created = parsed
        found.setdefault(series, []).append(dict(
            labels, file=entry, path=path, created_at=created.isoformat(), age_s=round((now - created).total_seconds(), 3),
            size_bytes=os.path.getsize(path), has_checksum=os.path.exists(checksum_path(path)),
            has_manifest=os.path.exists(manifest_path(path))))
    for entries in found.values():
        entries.sort(key=lambda e: e["file"], reverse=True)
    return found


def summarize_catalogue(found):
    """Per series: count, newest file, its age (the runbook's "backup age") and the total size."""
    return {series_label(series): {"count": len(entries), "newest": entries[0]["file"], "newest_age_s": entries[0]["age_s"],
                                   "total_bytes": sum(e["size_bytes"] for e in entries)}
            for series, entries in sorted(found.items())}


def files_in(directory, parse):
    return sorted(f for f in os.listdir(directory) if parse(f)) if os.path.isdir(directory) else []


def newest_paths(found, what, directory):
    """The newest backup of every series found, for a restore test; refuses an empty catalogue (what: " of sark")."""
    paths = [entries[0]["path"] for _series, entries in sorted(found.items())]
    if not paths:
        raise SarkPreconditionError("no backups%s in %s to test" % (what, directory))
    return paths


def list_backups(module, names, parse, inspect, partial_files):
    """The result of a backup _info module: the backups of the named series (newest first, at most max_results each),
    inspected (inspect(entry, verify)), the ones whose checksum or size does not match, the catalogue and leftovers."""
    params = module.params
    if params["max_results"] < 1:
        raise SarkValidationError("max_results must be at least 1, got %s" % params["max_results"])
    directory = params["backup_dir"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SarkValidationError("backup_dir %s is not a directory (a file stands there): give a directory." % directory)
    found = catalogue(directory, parse, names or None)
    listed = [inspect(entry, params["verify"]) for _series, entries in sorted(found.items())
              for entry in entries[:params["max_results"]]]
    mismatched = [b["file"] for b in listed if b["ok"] is False]
    module.evidence.set_count("backups", len(listed))
    module.evidence.set_count("mismatched", len(mismatched))
    return {"backup_dir": directory, "exists": os.path.isdir(directory), "backups": listed, "mismatched": mismatched,
            "catalogue": summarize_catalogue(found), "partial_files": partial_files(directory)}


# --- checks ------------------------------------------------------------------------------------------------

def check_checksum(path, what):
    """The checksum recorded next to path against the file's; ok is false when it is missing or differs."""
    expected = read_checksum(path)
    actual = sha256_file(path)
    out = {"expected": expected, "actual": actual, "ok": expected is not None and expected == actual}
    if expected is None:
        out["error"] = "no %s.sha256 next to the %s: its integrity cannot be proven" % (os.path.basename(path), what)
    return out


def check_size(size, manifest):
    """The file's size against the one the manifest recorded (None when it recorded none)."""
    if manifest.get("size_bytes") is None:
        return None
    return {"expected": manifest["size_bytes"], "actual": size, "ok": size == manifest["size_bytes"]}


def inspect_backup(entry, manifest, verify, what):
    """A catalogue entry with what an _info module reports: the size against the manifest and (verify) the checksum
    recomputed. Read only; ok is false when the checksum is missing or differs, or the size is not the one written."""
    out = dict(entry)
    size = check_size(entry["size_bytes"], manifest)
    if size:
        out["size"] = size
    ok = (size or {}).get("ok", True)
    if verify:
        out["checksum"] = check_checksum(entry["path"], what)
        ok = ok and out["checksum"]["ok"]
    out["ok"] = ok if verify else None
    return out


def describe_failure(verification, format_failure, mismatch_failure):
    """Why a verification failed, in the order its checks ran: missing file, checksum, size, the format check
    (format_failure(verification): a sentence or None), the restore test (mismatch_failure(mismatches) for differences)."""
    if verification.get("error"):
        return verification["error"]
    checksum = verification.get("checksum") or {}
    if not checksum.get("ok"):
        return checksum.get("error") or "checksum mismatch (recorded %s, file now %s): the file changed after it was written" % (
            checksum.get("expected"), checksum.get("actual"))
    size = verification.get("size") or {}
    if not size.get("ok", True):
        return "%d bytes, but %d were written (manifest): the file was truncated or replaced" % (size["actual"], size["expected"])
    failure = format_failure(verification)
    if failure:
        return failure
    restore = verification.get("restore_test") or {}
    if restore.get("error"):
        return "restore test failed: %s" % restore["error"]
    return mismatch_failure(restore.get("mismatches") or [])


def check_directory(module, job, directory, state, probe):
    """backup_dir usable before any work: a directory (made when missing, for a backup) we may write in (probe: a file name)."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SarkValidationError("backup_dir %s is not a directory (a file stands there): give a directory." % directory)
    if not os.path.isdir(directory):
        if state != "present":
            raise SarkValidationError("backup_dir %s does not exist" % directory)
        job.plan("mkdir", path=directory, mode="0700")
        if not module.check_mode:
            try:
                os.makedirs(directory, DIR_MODE, exist_ok=True)  # a concurrent run may have made it first
            except OSError as exc:
                raise SarkOperationError(describe_os_error(exc, directory, "create")) from exc
            job.done("mkdir", path=directory)
    if state == "present" and os.path.isdir(directory):
        check_writable_file(os.path.join(directory, probe), "backup")


def validate_retention_params(params):
    """The input checks of the options every backup module has (backup_file, keep, max_age_days, reuse_within)."""
    if params["backup_file"] and params["state"] != "restore_test":
        raise SarkValidationError("backup_file applies to state=restore_test only")
    if params["state"] == "prune" and params["keep"] is None and params["max_age_days"] is None:
        raise SarkValidationError("state=prune needs keep and/or max_age_days")
    if params["keep"] is not None and params["keep"] < 1:
        raise SarkValidationError("keep must be at least 1 (the newest backup is always kept), got %s" % params["keep"])
    if params["max_age_days"] is not None and params["max_age_days"] <= 0:
        raise SarkValidationError("max_age_days must be more than 0, got %s" % params["max_age_days"])
    if params["reuse_within"] < 0:
        raise SarkValidationError("reuse_within must be 0 or more, got %s" % params["reuse_within"])


def plan_retention(entries, keep=None, max_age_days=None, protect=()):
    """Which backup files of one series (newest first) to delete, with the reason for each.

    A backup goes when it is not among the newest ``keep`` or is older than ``max_age_days``. The newest backup and
    the ones in ``protect`` (just taken) are never deleted, so a max age alone can never leave a series without a
    backup.
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


# --- one run -----------------------------------------------------------------------------------------------

class BackupRun:
    """What one run of a backup module shares, whatever it backs up: the module (options, check mode), the tools found,
    the result being built ({backups, verifications, retention}) and its evidence bookkeeping.

    A subclass names its file parser (``parse``, see the module docstring), the ``what`` of its messages
    (V(dump), V(backup)) and the labels a deleted backup is reported with (``deleted_labels``).
    """

    parse = None
    what = "backup"
    deleted_labels = ()
    result_keys = ("backups", "verifications", "retention")

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.tools = {}
        self.result = {"backups": [], "verifications": [], "retention": {"deleted": [], "kept": {}}}

    def plan(self, action, **details):
        return self.module.evidence.plan(action, **details)

    def done(self, action, **details):
        self.module.evidence.count(action)
        return self.module.evidence.executed(action, **details)

    def done_so_far(self):
        """For a failure message: the backups this run completed before it (they stay valid)."""
        taken = [b["file"] for b in self.result["backups"] if not b.get("reused") and b.get("sha256")]
        return "; backups completed before this: %s" % ", ".join(taken) if taken else ""

    def tool_in_bin_dir(self, option, name):
        """name in the directory option gives (refused unless it is an executable there), or None without the option."""
        bin_dir = self.params[option]
        if not bin_dir:
            return None
        path = os.path.join(bin_dir, name)
        if not os.access(path, os.X_OK):
            raise SarkValidationError("%s: %s is not an executable %s" % (option, path, name))
        return path

    def catalogue(self, names=None):
        return catalogue(self.params["backup_dir"], type(self).parse, names)

    def selected_names(self):
        """The series names the options select (None: all)."""
        raise NotImplementedError

    def newest_intact(self, series):
        """The newest backup of series when reuse_within allows it and its checksum still matches, else None."""
        within = self.params["reuse_within"]
        if not within:
            return None
        entries = self.catalogue([series_name(series)]).get(series) or []
        if not entries or entries[0]["age_s"] > within or not entries[0]["has_checksum"]:
            return None
        newest = entries[0]
        if read_checksum(newest["path"]) != sha256_file(newest["path"]):
            self.module.warn("the newest backup %s does not match its checksum: taking a new one" % newest["file"])
            return None
        return newest

    def start_verification(self, path, **labels):
        """The first checks of every verification: the file exists, its checksum, its size against the manifest.

        Returns (entry, manifest); manifest is None when the file is missing (the entry, already recorded, says so).
        """
        entry = dict({"file": os.path.basename(path), "path": path}, **labels)
        if not os.path.isfile(path):
            entry.update(ok=False, error="no such file")
            self.result["verifications"].append(entry)
            return entry, None
        entry["checksum"] = check_checksum(path, self.what)
        manifest = read_manifest(path) or {}
        size = check_size(os.path.getsize(path), manifest)
        if size:
            entry["size"] = size
        return entry, manifest

    def conclude_verification(self, entry, check, check_name, restore_test, run_restore):
        """entry["ok"] from the checksum, the size and the format check (entry[check]); then the restore test
        (run_restore()) when asked, skipped when one of those already failed."""
        entry["ok"] = entry["checksum"]["ok"] and entry[check]["ok"] and (entry.get("size") or {}).get("ok", True)
        if restore_test:
            if not entry["ok"]:
                entry["restore_test"] = {"ok": False, "skipped": "the checksum or %s check already failed" % check_name}
            else:
                entry["restore_test"] = run_restore()
                entry["ok"] = entry["ok"] and entry["restore_test"].get("ok", True)
        return entry

    def retention(self, names, protect=()):
        """Delete (or plan to) the backups of the named series that keep/max_age_days let go, with their sidecars."""
        params = self.params
        if params["keep"] is None and params["max_age_days"] is None:
            return
        for series, entries in sorted(self.catalogue(names).items()):
            doomed = plan_retention(entries, params["keep"], params["max_age_days"], protect)
            self.result["retention"]["kept"][series_label(series)] = len(entries) - len(doomed)
            for entry in doomed:
                files = companions(entry["path"])
                self.plan("delete", file=entry["file"], reason=entry["reason"], files=[os.path.basename(f) for f in files])
                if not self.check_mode:
                    for file_path in files:
                        os.remove(file_path)
                    self.done("delete", file=entry["file"], reason=entry["reason"])
                deleted = {label: entry[label] for label in self.deleted_labels}
                deleted.update(file=entry["file"], reason=entry["reason"], age_s=entry["age_s"])
                self.result["retention"]["deleted"].append(deleted)

    def partial_files(self):
        """Leftovers of interrupted writes in backup_dir (never deleted automatically: an operator may want to look at them)."""
        raise NotImplementedError

    def failure_details(self):
        """What a failure reports besides the result so far (the Redis backup: the source server)."""
        return {}

    def describe_failure(self, verification):
        raise NotImplementedError

    def reporting(self, work):
        """work() with what this run did so far attached to any failure (partial work), an OSError turned into an
        operator's message."""
        directory = self.params["backup_dir"]
        try:
            return work()
        except SarkError as exc:
            for key in self.result_keys:
                exc.details.setdefault(key, self.result.get(key))
            for key, value in self.failure_details().items():
                exc.details.setdefault(key, value)
            exc.details.setdefault("partial_files", self.partial_files())
            raise
        except OSError as exc:
            raise SarkOperationError("%s%s" % (describe_os_error(exc, getattr(exc, "filename", None) or directory, "access"),
                                               self.done_so_far()), backups=self.result["backups"],
                                     verifications=self.result["verifications"], retention=self.result["retention"]) from exc

    def finish(self, state, changed, before):
        """The result of a run: changed, the catalogue and leftovers, the diff of the directory's backups, and a failure
        naming every backup that failed verification."""
        module, result, directory = self.module, self.result, self.params["backup_dir"]
        names = self.selected_names()
        result.update(changed=changed or bool(result["retention"]["deleted"]), state=state, backup_dir=directory,
                      catalogue=summarize_catalogue(self.catalogue(names)), partial_files=self.partial_files())
        if module.check_mode:
            after = sorted((set(before) | {e["file"] for e in result["backups"]}) - {d["file"] for d in result["retention"]["deleted"]})
        else:
            after = files_in(directory, type(self).parse)
        if module.diff_mode and before != after:
            result["diff"] = {"before": {"backups": before}, "after": {"backups": after}}
        failed = [v for v in result["verifications"] if not v.get("ok")]
        if failed:
            raise SarkOperationError("%d of %d backups failed verification: %s" % (len(failed), len(result["verifications"]), "; ".join(
                "%s: %s" % (v["file"], self.describe_failure(v)) for v in failed)), **result)
        return result
