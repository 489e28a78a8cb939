# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files a module writes (private): validated before any work, written whole or not at all.

Every file a sark.ops module produces (a dump's sidecars, an export, an import report, a
failed-event export) goes through here, so that a read-only file system, a directory where a
file belongs or a full disk give an operator's message, never "a sark.ops bug", and no
half-written or temporary file is left behind.
"""

import errno
import hashlib
import os
import tempfile

from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError, SarkValidationError

CHUNK_BYTES = 1024 * 1024

_HINTS = {
    errno.ENOSPC: "the file system is full: free space or choose another destination",
    errno.EDQUOT: "the disk quota is exhausted: free space or choose another destination",
    errno.EFBIG: "the file is larger than this file system or the process's file-size limit allows",
    errno.EROFS: "the file system is mounted read-only: choose a writable destination",
    errno.EACCES: "permission denied: run as a user that may write there or choose another destination",
    errno.EPERM: "operation not permitted: run as a user that may write there or choose another destination",
    errno.EISDIR: "a directory stands where the file belongs: give a file path, not a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENOENT: "the directory does not exist: create it first",
    errno.EIO: "an I/O error from the storage: check the disk",
}


def describe_os_error(exc, path, doing="write"):
    """An operator's sentence for an OSError met while doing something with path."""
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if code else ""
    hint = _HINTS.get(code, exc.strerror or str(exc))
    return "Cannot %s %s: %s%s" % (doing, path, hint, " (%s)" % name if name else "")


def check_writable_file(path, what="file"):
    """Validate a destination before any work: its directory exists and is writable, it is no directory.

    Returns the absolute path. Raises SarkValidationError naming what to fix.
    """
    if not path:
        raise SarkValidationError("No path given for the %s." % what)
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise SarkValidationError("The %s path %s is a directory: give a file path (for example %s)."
                                  % (what, path, os.path.join(path, "out")))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise SarkValidationError("The directory of the %s, %s, does not exist: create it first." % (what, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SarkValidationError("The directory of the %s, %s, is not writable by this user: choose another destination."
                                  % (what, parent))
    if os.path.exists(path) and not os.access(path, os.W_OK) and not os.access(parent, os.W_OK):
        raise SarkValidationError("The %s %s exists and is not writable." % (what, path))
    return path


class AtomicFile:
    """Write a file whole or not at all: a temporary file beside it, fsync, rename on success.

    On any failure (including an OSError such as a full disk) the temporary file is removed and
    an OSError is turned into SarkOperationError with an operator's message; the destination is
    left exactly as it was. Use as a context manager; ``handle`` is the open file.
    """

    def __init__(self, path, mode=0o644, binary=False, encoding="utf-8", newline=None):
        self.path = os.path.abspath(path)
        self.mode = mode
        self.binary = binary
        self.encoding = encoding
        self.newline = newline
        self.tmp = None
        self.handle = None

    def __enter__(self):
        directory = os.path.dirname(self.path)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(self.path), suffix=".partial", dir=directory)
            os.fchmod(fd, self.mode)
            if self.binary:
                self.handle = os.fdopen(fd, "wb")
            else:
                self.handle = os.fdopen(fd, "w", encoding=self.encoding, newline=self.newline)
        except OSError as exc:
            self._discard()
            raise SarkOperationError(describe_os_error(exc, self.path))
        return self.handle

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._discard()
            if isinstance(exc, OSError):
                raise SarkOperationError(describe_os_error(exc, self.path)) from exc
            return False
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.tmp, self.path)
            self.tmp = None
        except OSError as exc:
            self._discard()
            raise SarkOperationError(describe_os_error(exc, self.path)) from exc
        return False

    def discard(self):
        """Give up the write (dry run, or the content turned out unchanged): the destination stays as it was."""
        self._discard()

    def _discard(self):
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
        if self.tmp and os.path.exists(self.tmp):
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
        self.tmp = None


def atomic_write(path, data, mode=0o644):
    """Write text or bytes to path whole or not at all."""
    with AtomicFile(path, mode=mode, binary=isinstance(data, bytes)) as handle:
        handle.write(data)


def parse_mode(text, what="mode"):
    """An octal permission string ("0640") as an int; SarkValidationError naming the option when it is not one."""
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise SarkValidationError("%s %r is not an octal permission such as 0640." % (what, text))
    return mode


def place_in(directory, name):
    """The absolute path of ``name`` (a relative path) inside ``directory``; refuses one that leaves it."""
    if not name or os.path.isabs(name):
        raise SarkValidationError("File name %r must be a path relative to %s." % (name, directory))
    path = os.path.normpath(os.path.join(directory, name))
    if os.path.commonpath([directory, path]) != directory or path == directory:
        raise SarkValidationError("File name %r leaves the directory %s: give a name inside it." % (name, directory))
    return path


def _non_directory_parent(directory, path):
    """The first existing path between directory and path's parent that is not a directory, else None."""
    current = directory
    for part in os.path.relpath(os.path.dirname(path), directory).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        if os.path.lexists(current) and not os.path.isdir(current):
            return current
    return None


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def _current(path):
    """(exists, sha256 or None, mode or None) of a file on disk."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return True, _digest(data), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return False, None, None
    except OSError as exc:
        raise SarkOperationError(describe_os_error(exc, path, "read"))


def plan_files(directory, files, mode, max_bytes):
    """Validate a set of files to write into ``directory`` before anything is touched.

    ``files`` is a list of {name, content}. Returns [{path, name, data (bytes), bytes, sha256, exists, before_sha256,
    change}] where change is "create", "update", "mode" (same content, other permissions) or None.
    """
    directory = os.path.abspath(os.path.expanduser(directory))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SarkValidationError("%s exists and is not a directory: give a directory for the files." % directory)
    seen, planned, total = set(), [], 0
    for entry in files:
        path = place_in(directory, entry["name"])
        if path in seen:
            raise SarkValidationError("File %s is given twice: give each file once." % path)
        seen.add(path)
        if os.path.isdir(path):
            raise SarkValidationError("A directory stands where the file %s belongs: give another name." % path)
        blocked = _non_directory_parent(directory, path)
        if blocked:
            raise SarkValidationError("%s is not a directory, so %s cannot be written: remove it or give another name."
                                      % (blocked, path))
        data = (entry.get("content") or "").encode("utf-8")
        total += len(data)
        if total > max_bytes:
            raise SarkValidationError("The files add up to more than max_bytes (%d bytes): raise it or write fewer files." % max_bytes)
        exists, before, before_mode = _current(path)
        digest = _digest(data)
        change = "create" if not exists else ("update" if before != digest else ("mode" if before_mode != mode else None))
        planned.append({"path": path, "name": entry["name"], "data": data, "bytes": len(data), "sha256": digest,
                        "exists": exists, "before_sha256": before, "change": change})
    return directory, planned


def write_planned(directory, planned, mode, dir_mode, done):
    """Create ``directory`` (and the files' subdirectories) and write every planned change, each file whole or not at
    all; ``done(entry)`` is called after each file so a failure half way reports what was written."""
    for entry in planned:
        if entry["change"] is None:
            continue
        parent = os.path.dirname(entry["path"])
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=dir_mode, exist_ok=True)
            if entry["change"] == "mode":
                os.chmod(entry["path"], mode)
            else:
                atomic_write(entry["path"], entry["data"], mode=mode)
        except OSError as exc:
            raise SarkOperationError(describe_os_error(exc, entry["path"]))
        done(entry)
    return directory


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
