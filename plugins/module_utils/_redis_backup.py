# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis backups for sark_redis_backup and sark_redis_backup_info (private).

The first part is plain file and byte work the unit tests exercise without a server: names, catalogue,
checksums, the RDB header, the multi-part AOF manifest, key count comparison, retention. The second part,
``RedisBackup``, is one run of sark_redis_backup: BGSAVE and its wait, the copy, BGREWRITEAOF and the AOF copy,
``redis-check-rdb``/``redis-check-aof``, the restore into a scratch redis-server the module starts and stops by PID,
and retention - every step recorded in the evidence record.

How Redis really persists (what the seed's ``BGSAVE`` + ``kubectl cp dump.rdb`` leaves out):
- BGSAVE forks; the child writes ``temp-<pid>.rdb`` and renames it over ``<dir>/<dbfilename>`` when done, so the save
  is finished when ``rdb_bgsave_in_progress`` is 0 and LASTSAVE has advanced (``rdb_saves`` counts saves started), and an open file
  handle keeps reading one whole RDB even when a later save replaces the name.
- ``rdb_changes_since_last_save`` after our save counts the writes since its fork: 0 means the key counts read then
  are exactly those of the snapshot.
- With ``appendonly yes`` Redis restarts from the AOF, not from ``dump.rdb``. Redis 7 keeps a multi-part AOF in
  ``<dir>/<appenddirname>``: a manifest naming a base file (RDB or AOF format) and incremental files.
"""

import hashlib
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import tarfile
import tempfile
import time

from ansible_collections.sark.ops.plugins.module_utils import _backup as backups
from ansible_collections.sark.ops.plugins.module_utils._files import CHUNK_BYTES, AtomicFile, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    isoformat,
    utcnow,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import classify_error, connect, describe_target, redis, to_text

KINDS = {"rdb": ".rdb", "aof": ".aof.tar"}
NAME_PATTERN = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z(?P<ext>\.rdb|\.aof\.tar)$")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
RDB_OK_MARKER = "RDB looks OK"
AOF_OK_MARKER = "valid"
TOOL_OUTPUT_TAIL = 2000
POLL_S = 0.1
SOCKET_PATH_MAX = 100
COARSE_CLOCK_S = 0.05
BANNER = ("oO0OoO0OoO0Oo", "Redis version=", "Configuration loaded", "WARNING overcommit_memory", "WARNING Memory overcommit",
          "monotonic clock")


# --- names, files, catalogue ------------------------------------------------------------------------------

def validate_name(name):
    if not PLAIN_NAME.match(name or ""):
        raise SarkValidationError("name %r must be a plain file name prefix (letters, digits, '.', '_', '-'; at most 63 characters)"
                                  % (name,))
    return name


def backup_name(name, moment, kind):
    return "%s-%s%s" % (name, backups.stamp(moment), KINDS[kind])


def parse_name(filename):
    """(name, kind, created_at) of a file this module named, or None for any other file."""
    match = NAME_PATTERN.match(filename)
    if not match:
        return None
    kind = "rdb" if match.group("ext") == ".rdb" else "aof"
    return match.group("name"), kind, backups.stamp_of(match)


def parse_series(filename):
    """((name, kind), labels, created_at) of a file this module named (the series of _backup.catalogue), or None."""
    parsed = parse_name(filename)
    return ((parsed[0], parsed[1]), {"name": parsed[0], "kind": parsed[1]}, parsed[2]) if parsed else None


def catalogue(directory, names=None, now=None):
    """(name, kind) -> its backups in directory, newest first, from the file names this module writes."""
    return backups.catalogue(directory, parse_series, names, now)


def partial_files(directory):
    """Leftovers of interrupted copies (AtomicFile's hidden .partial files), never deleted automatically."""
    if not os.path.isdir(directory):
        return []
    return sorted(f for f in os.listdir(directory) if f.startswith(".") and f.endswith(".partial"))


# --- RDB and AOF formats -----------------------------------------------------------------------------------

def _rdb_length(data, pos):
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], False, pos + 2
    if first == 0x80:
        return struct.unpack(">I", data[pos + 1:pos + 5])[0], False, pos + 5
    if first == 0x81:
        return struct.unpack(">Q", data[pos + 1:pos + 9])[0], False, pos + 9
    return first & 0x3F, True, pos + 1


def _rdb_string(data, pos):
    length, encoded, pos = _rdb_length(data, pos)
    if not encoded:
        if pos + length > len(data):
            raise ValueError("truncated string")
        return data[pos:pos + length].decode("utf-8", "replace"), pos + length
    formats = {0: ("<b", 1), 1: ("<h", 2), 2: ("<i", 4)}
    if length not in formats:
        raise ValueError("compressed auxiliary field")
    fmt, size = formats[length]
    return str(struct.unpack(fmt, data[pos:pos + size])[0]), pos + size


def rdb_header(path, limit=65536):
    """RDB format version and the auxiliary fields at the head of an RDB file (redis-ver, ctime, aof-base, ...).

    Raises ValueError when the file does not start like an RDB file.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit)
    return parse_rdb_header(data)


def parse_rdb_header(data):
    if data[:5] != b"REDIS" or not data[5:9].isdigit():
        raise ValueError("no REDIS magic and format version at the start")
    aux, pos = {}, 9
    try:
        while pos < len(data) and data[pos] == 0xFA:
            key, pos = _rdb_string(data, pos + 1)
            value, pos = _rdb_string(data, pos)
            aux[key] = value
    except (IndexError, struct.error, ValueError):
        pass  # a field we cannot read (compressed, cut by the read limit): what was read stands
    return {"rdb_version": int(data[5:9]), "aux": aux}


def parse_aof_manifest(text):
    """Redis 7 multi-part AOF manifest lines ("file <name> seq <n> type <b|h|i>") -> list of dicts."""
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        fields = dict(zip(parts[0::2], parts[1::2]))
        if "file" not in fields or "type" not in fields:
            raise ValueError("unreadable AOF manifest line %r" % line)
        if "/" in fields["file"] or fields["file"].startswith("."):
            raise ValueError("AOF manifest names a file outside its directory: %r" % fields["file"])
        entries.append({"file": fields["file"], "seq": int(fields.get("seq", 0)), "type": fields["type"]})
    return entries


def keyspace_of(info):
    """INFO keyspace (as redis-py parses it) -> {"db0": {"keys": n, "expires": m}} for the databases that hold keys."""
    out = {}
    for key, value in info.items():
        if re.match(r"^db\d+$", str(key)) and isinstance(value, dict):
            out[str(key)] = {"keys": int(value.get("keys", 0)), "expires": int(value.get("expires", 0))}
    return dict(sorted(out.items(), key=lambda item: int(item[0][2:])))


def compare_keyspace(source, restored, expired_at_load=0, exact=True):
    """Per database, the key count at the save against the scratch restore's.

    A database matches when the counts are equal. Keys with a TTL that passed between the save and the restore are
    not loaded (Redis drops expired keys when it loads an RDB as a primary): a shortfall no larger than the source's
    keys with a TTL and the restore's expired-at-load count is reported as explained, not as a mismatch. When the
    source counts were not exact (writes during the save), differences are reported but are not a failure.
    """
    rows, unexplained = [], 0
    expiry_budget = expired_at_load
    for db in sorted(set(source) | set(restored), key=lambda name: int(name[2:])):
        src = source.get(db, {"keys": 0, "expires": 0})
        dst = restored.get(db, {"keys": 0, "expires": 0})
        row = {"db": db, "source_keys": src["keys"], "restored_keys": dst["keys"], "match": src["keys"] == dst["keys"]}
        short = src["keys"] - dst["keys"]
        if not row["match"] and 0 < short <= min(src.get("expires", 0), expiry_budget):
            expiry_budget -= short
            row["explained"] = "%d keys with a TTL expired between the save and the restore" % short
        elif not row["match"]:
            unexplained += 1
        rows.append(row)
    ok = unexplained == 0 or not exact
    return {"ok": ok, "exact": exact, "databases": rows, "mismatches": [r for r in rows if not r["match"] and "explained" not in r],
            "expired_at_load": expired_at_load}


def summarize_tool_output(text, markers=("AUX FIELD", "[info]", "Checksum", "looks OK", "valid", "CORRUPT", "ERROR", "error",
                                         "not valid", "truncated")):
    """The lines of redis-check-rdb/redis-check-aof output that say something, at most 30."""
    lines = [line.strip() for line in (text or "").splitlines() if any(m in line for m in markers)]
    return lines[:30]


def validate_params(params):
    state = params["state"]
    validate_name(params["name"])
    backups.validate_retention_params(params)
    for option in ("save_timeout", "restore_timeout"):
        if params[option] <= 0:
            raise SarkValidationError("%s must be a positive number of seconds, got %s" % (option, params[option]))
    if params["redis_cluster"] and state == "present":
        raise SarkValidationError("redis_cluster: back up each primary of the cluster on its own (one task per node, "
                                  "redis_cluster: false, redis_host/redis_port of the node); one RDB holds one node's slots")


def inspect_backup(entry, verify=True):
    """One catalogue entry with what sark_redis_backup_info reports (_backup.inspect_backup) and the manifest's key counts."""
    manifest = backups.read_manifest(entry["path"]) or {}
    out = backups.inspect_backup(entry, manifest, verify, "backup")
    out.update(keyspace=manifest.get("keyspace"), redis_version=manifest.get("redis_version"),
               counts_exact=manifest.get("counts_exact"))
    return out


def describe_failure(verification):
    return backups.describe_failure(verification, describe_tool_failure, describe_mismatches)


def describe_tool_failure(verification):
    tool = verification.get("check_tool") or {}
    if not tool.get("ok", True):
        return "%s rejects it (rc=%s): %s" % (tool.get("tool"), tool.get("rc"), "; ".join(tool.get("summary") or [])[-500:])
    return None


def describe_mismatches(mismatches):
    return "restore test key counts differ in %d databases: %s" % (len(mismatches), ", ".join(
        "%s (%s at the save, %s restored)" % (m["db"], m["source_keys"], m["restored_keys"]) for m in mismatches[:5]))


# --- the scratch redis-server --------------------------------------------------------------------------------

class ScratchRedis:
    """A throwaway redis-server the module starts on a Unix socket in a private directory and stops by PID.

    A Unix socket in a 0700 directory rather than a TCP port: no other user can connect to the restored data, and no
    other process can take the address between choosing and binding it. No save points and no AOF unless asked, so
    nothing is ever written back over the backup.
    """

    def __init__(self, binary, workdir, timeout, databases=16):
        self.binary = binary
        self.workdir = workdir
        self.timeout = timeout
        self.databases = databases
        self.socket = os.path.join(workdir, "redis.sock")
        self.socket_dir = None
        if len(self.socket) > SOCKET_PATH_MAX:
            # a Unix socket path has at most 107 bytes on Linux, and Ansible's remote tmp paths are long: a short private
            # directory in the system's temporary directory, made when the server starts
            self.socket = os.path.join("<short temporary directory>", "sark-rs-<private>", "redis.sock")
        self.log_path = os.path.join(workdir, "redis.log")
        self.proc = None
        self.pid = None

    def argv(self, extra):
        return [self.binary, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--dir", self.workdir,
                "--save", "", "--daemonize", "no", "--supervised", "no", "--logfile", "", "--databases", str(self.databases),
                "--protected-mode", "yes"] + list(extra)

    def start(self, extra):
        if "<private>" in self.socket:
            base = next((d for d in (tempfile.gettempdir(), "/tmp", "/var/tmp") if len(d) < SOCKET_PATH_MAX - 30 and os.path.isdir(d)
                         and os.access(d, os.W_OK | os.X_OK)), None)
            if base is None:
                raise SarkOperationError("no temporary directory with a path short enough for the scratch server's Unix socket "
                                         "(at most 107 bytes): set TMPDIR to a short writable directory")
            self.socket_dir = tempfile.mkdtemp(prefix="sark-rs-", dir=base)
            os.chmod(self.socket_dir, backups.DIR_MODE)
            self.socket = os.path.join(self.socket_dir, "redis.sock")
        argv = self.argv(extra)
        with open(self.log_path, "wb") as log:
            # run_command waits for the process to end; the scratch server must run while it is asked, then be stopped by PID
            self.proc = subprocess.Popen(  # pylint: disable=ansible-bad-function,consider-using-with
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True,
                close_fds=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.timeout
        client = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SarkOperationError("the scratch redis-server exited with %s while loading the backup: %s" % (
                    self.proc.returncode, self.log_tail()))
            if os.path.exists(self.socket):
                try:
                    if client is None:
                        client = redis.Redis(unix_socket_path=self.socket, socket_timeout=5, socket_connect_timeout=2)
                    if client.ping():
                        return client
                except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError):
                    pass
            time.sleep(0.05)
        raise SarkOperationError("the scratch redis-server (pid %s) had not loaded the backup after restore_timeout=%ss: %s" % (
            self.pid, self.timeout, self.log_tail()))

    def stop(self, timeout=10.0):
        """SIGTERM (it has no save points, so it writes nothing), SIGKILL to its process group after timeout."""
        try:
            if self.proc is not None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except OSError:
                        self.proc.kill()
                    self.proc.wait(timeout)
        finally:
            self.proc = None
            if self.socket_dir:
                shutil.rmtree(self.socket_dir, ignore_errors=True)

    def log_tail(self, limit=600):
        """What redis-server said that matters: its warnings and errors (level '#'), not the start-up banner."""
        try:
            with open(self.log_path, "r", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return "(no log)"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = [line for line in lines if (" # " in line or "rror" in line or "Fatal" in line or "FATAL" in line)
                and not any(noise in line for noise in BANNER)]
        return " | ".join((said or lines)[-4:])[-limit:]


# --- one sark_redis_backup run --------------------------------------------------------------------------------

MODULE = "sark_redis_backup"


class RedisBackup(backups.BackupRun):
    """One run of sark_redis_backup: options, check mode, the Redis client, the tools found and the result being built."""

    def __init__(self, module):
        super().__init__(module)
        self.client = None
        self.source = {}
        self.result["save"] = {}

    parse = parse_series
    result_keys = backups.BackupRun.result_keys + ("save",)
    deleted_labels = ("kind",)

    def selected_names(self):
        return [self.params["name"]]

    def partial_files(self):
        return partial_files(self.params["backup_dir"])

    def failure_details(self):
        return {"source": self.source} if self.source else {}

    def describe_failure(self, verification):
        return describe_failure(verification)

    # --- tools ---------------------------------------------------------------------------------------------

    def tool(self, name):
        if name in self.tools:
            return self.tools[name]
        path = self.tool_in_bin_dir("redis_bin_dir", name)
        if path is None:
            path = self.module.module.get_bin_path(name)
            if not path:
                raise SarkPreconditionError("%s not found on this host: install the Redis tools (Debian/Ubuntu: apt-get install "
                                            "redis-tools redis-server; RHEL: dnf install redis) or set redis_bin_dir" % name)
        self.tools[name] = path
        return path

    def run_tool(self, argv, timeout):
        wrapper = self.module.module.get_bin_path("timeout")
        prefix = [wrapper, "--kill-after=10", "%ds" % max(1, int(round(timeout)))] if wrapper else []
        started = time.monotonic()
        rc, out, err = self.module.module.run_command(prefix + argv)
        text = (out or "") + (err or "")
        if wrapper and rc in (124, 137):
            text += "\nstopped after %ss (restore_timeout)" % timeout
        return rc, text, round((time.monotonic() - started) * 1000.0, 3)

    # --- the source server -----------------------------------------------------------------------------------

    def call(self, *args):
        try:
            return self.client.execute_command(*args)
        except redis.exceptions.ResponseError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise classify_error(exc, self.params, connected=True) from exc

    def server_time(self):
        seconds, micros = self.call("TIME")
        return int(seconds) + int(micros) / 1e6

    def lastsave(self):
        """LASTSAVE as a Unix time (redis-py turns the reply into a naive local datetime)."""
        value = self.call("LASTSAVE")
        return int(value.timestamp()) if hasattr(value, "timestamp") else int(value)

    def info(self, *sections):
        return self.call("INFO", *sections)

    def config_value(self, name):
        try:
            values = self.call("CONFIG", "GET", name)
        except redis.exceptions.ResponseError:
            return None
        if isinstance(values, list):
            values = dict(zip(values[0::2], values[1::2]))
        for key, value in (values or {}).items():
            if to_text(key) == name:
                return to_text(value)
        return None

    def inspect_source(self):
        """Connect and read where the server writes its RDB and AOF, and whether this host can read them."""
        params = self.params
        self.client = connect(params)
        server = self.info("server")
        names = ("dir", "dbfilename", "appendonly", "appenddirname", "appendfilename", "databases")
        conf = {name: self.config_value(name) for name in names}
        data_dir = params["redis_data_dir"] or conf["dir"]
        if not data_dir:
            raise SarkPreconditionError("CONFIG GET dir is not allowed for this user at %s (renamed command or ACL), so the RDB "
                                        "cannot be located: set redis_data_dir to the server's data directory as this host "
                                        "sees it" % describe_target(params))
        source = {
            "target": describe_target(params), "redis_version": server.get("redis_version"), "run_id": server.get("run_id"),
            "process_id": server.get("process_id"), "config": conf, "data_dir": data_dir,
            "data_dir_from": "redis_data_dir" if params["redis_data_dir"] else "CONFIG GET dir",
            "rdb_path": os.path.join(data_dir, conf["dbfilename"] or "dump.rdb"),
            "appendonly": (conf["appendonly"] or "no") == "yes", "databases": int(conf["databases"] or 16),
        }
        if source["appendonly"]:
            source["aof_dir"] = os.path.join(data_dir, conf["appenddirname"] or "appendonlydir")
            source["aof_manifest"] = os.path.join(source["aof_dir"], "%s.manifest" % (conf["appendfilename"] or "appendonly.aof"))
        source["readable"] = os.path.isdir(data_dir) and os.access(data_dir, os.R_OK | os.X_OK)
        self.source = source
        if not source["readable"]:
            where = "does not exist on this host" if not os.path.exists(data_dir) else "is not readable by this user"
            raise SarkPreconditionError(
                "The Redis at %s writes its RDB to %s on its own host; that directory %s, so this host cannot copy the "
                "snapshot (a remote Redis, for example one in a Kubernetes pod). Run the task on the Redis host "
                "(delegate_to), or mount the server's data directory here and set redis_data_dir to it. Nothing was saved."
                % (source["target"], source["rdb_path"], where), source=source)
        return source

    def wait_idle(self):
        """Wait (bounded by save_timeout) until no BGSAVE or AOF rewrite runs; returns the seconds waited and what ran."""
        deadline = time.monotonic() + self.params["save_timeout"]
        started = time.monotonic()
        seen = []
        while True:
            persistence = self.info("persistence")
            running = [name for name in ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
                       if int(persistence.get(name) or 0)]
            if not running:
                return round(time.monotonic() - started, 3), seen, persistence
            seen = sorted(set(seen) | set(running))
            if self.check_mode or time.monotonic() >= deadline:
                if self.check_mode:
                    return None, seen, persistence
                raise SarkOperationError(
                    "A save started by someone else (%s) is still running on %s after save_timeout=%ss: no backup was taken, "
                    "the running save goes on. Rerun when it has finished, or raise save_timeout." % (
                        ", ".join(seen), self.source["target"], self.params["save_timeout"]), source=self.source)
            time.sleep(POLL_S)

    # --- RDB --------------------------------------------------------------------------------------------------

    def bgsave(self):
        """BGSAVE and wait until it has finished; returns the save's facts (exact key counts when nothing was written since its fork)."""
        params = self.params
        waited, seen, _before = self.wait_idle()
        save = {"waited_for_running_s": waited, "running_before": seen}
        self.plan("BGSAVE", target=self.source["target"], wait="rdb_bgsave_in_progress 0 and LASTSAVE advanced",
                  timeout_s=params["save_timeout"])
        if self.check_mode:
            return save
        started = time.monotonic()
        deadline = started + params["save_timeout"]
        lastsave_before = self.lastsave()
        # LASTSAVE has a resolution of one second and rdb_saves counts saves started, not finished: let the second of
        # the last save pass, so that LASTSAVE advancing means that our save has finished. Redis stamps LASTSAVE and the
        # RDB's ctime with time(2), which on Linux may lag TIME (gettimeofday) by a clock tick: keep COARSE_CLOCK_S apart.
        while self.server_time() < lastsave_before + 1 + COARSE_CLOCK_S and time.monotonic() < deadline:
            time.sleep(0.02)
        server_start = int(self.server_time() - COARSE_CLOCK_S)
        while True:
            try:
                reply = to_text(self.call("BGSAVE"))
                break
            except redis.exceptions.ResponseError as exc:
                text = str(exc)
                if ("in progress" not in text and "rewriting" not in text) or time.monotonic() >= deadline:
                    raise SarkOperationError("BGSAVE was refused by %s: %s. No backup was taken." % (self.source["target"], text),
                                             source=self.source) from exc
                time.sleep(POLL_S)  # someone else's save started between our look and our BGSAVE: wait for it
        self.done("BGSAVE", reply=reply)
        while True:
            persistence = self.info("persistence")
            if not int(persistence.get("rdb_bgsave_in_progress") or 0):
                if int(persistence.get("rdb_last_save_time") or 0) > lastsave_before:
                    break
                if persistence.get("rdb_last_bgsave_status") != "ok":
                    break  # failed: reported below
            if time.monotonic() >= deadline:
                raise SarkOperationError("BGSAVE on %s had not finished after save_timeout=%ss (it goes on in the background): no "
                                         "backup was copied. Raise save_timeout for a data set this size." % (
                                             self.source["target"], params["save_timeout"]), source=self.source)
            time.sleep(POLL_S)
        if persistence.get("rdb_last_bgsave_status") != "ok":
            raise SarkOperationError("BGSAVE on %s failed (rdb_last_bgsave_status: %s): see the Redis log (full disk or no write "
                                     "permission in %s are the usual causes). No backup was taken." % (
                                         self.source["target"], persistence.get("rdb_last_bgsave_status"), self.source["data_dir"]),
                                     source=self.source)
        after = self.info("keyspace", "persistence")  # one INFO: the counts and the writes since the fork at one moment
        changes = int(after.get("rdb_changes_since_last_save") or 0)
        save.update(duration_ms=round((time.monotonic() - started) * 1000.0, 3), server_time_at_start=server_start,
                    lastsave=self.lastsave(), rdb_saves=persistence.get("rdb_saves"), keyspace=keyspace_of(after),
                    changes_since_save=changes, counts_exact=changes == 0)
        self.done("wait_bgsave", lastsave=save["lastsave"], duration_ms=save["duration_ms"], counts_exact=save["counts_exact"])
        return save

    def copy_rdb(self, save):
        params = self.params
        moment = utcnow()
        final = os.path.join(params["backup_dir"], backup_name(params["name"], moment, "rdb"))
        entry = {"kind": "rdb", "file": os.path.basename(final), "path": final, "reused": False, "source": self.source["rdb_path"]}
        self.plan("copy", source=self.source["rdb_path"], file=final, mode="0600")
        self.plan("checksum", file=final, algorithm="sha256")
        if self.check_mode:
            self.result["backups"].append(entry)
            return entry
        source = self.source["rdb_path"]
        try:
            handle = open(source, "rb")  # pylint: disable=consider-using-with
        except OSError as exc:
            raise SarkOperationError(describe_os_error(exc, source, "read") + ". The save finished on the server but its RDB "
                                     "cannot be read here: no backup was taken.", source=self.source) from exc
        try:
            header = parse_rdb_header(handle.read(65536))
            ctime = header["aux"].get("ctime")
            if ctime is not None and int(ctime) < save["server_time_at_start"]:
                raise SarkOperationError(
                    "The RDB at %s was written at %s (its ctime), before this save started at %s (the server's clock): it is not "
                    "the file the Redis at %s has just written (another Redis's data directory, or a stale copy). Point "
                    "redis_data_dir at this server's data directory. No backup was taken." % (
                        source, ctime, save["server_time_at_start"], self.source["target"]), source=self.source)
            handle.seek(0)
            digest, size = copy_stream(handle, final)
        except ValueError as exc:
            raise SarkOperationError("%s is not an RDB file (%s): no backup was taken." % (source, exc), source=self.source) from exc
        finally:
            handle.close()
        self.finish_backup(entry, final, digest, size, {"kind": "rdb", "rdb_version": header["rdb_version"], "aux": header["aux"],
                                                        "source": source}, save)
        self.done("copy", source=source, file=final, size_bytes=size)
        self.done("checksum", file=final, sha256=digest)
        return entry

    def finish_backup(self, entry, final, digest, size, extra, save):
        try:
            backups.write_checksum(final, digest)
            manifest = {"name": self.params["name"], "file": os.path.basename(final), "sha256": digest, "size_bytes": size,
                        "created_at": isoformat(utcnow()), "redis_version": self.source.get("redis_version"),
                        "target": self.source.get("target"), "run_id": self.source.get("run_id"),
                        "databases": self.source.get("databases"), "keyspace": save.get("keyspace"),
                        "counts_exact": save.get("counts_exact"), "lastsave": save.get("lastsave"),
                        "tool": "sark.ops.sark_redis_backup"}
            manifest.update(extra)
            backups.write_manifest(final, manifest)
        except (OSError, SarkOperationError) as exc:
            for path in (final, backups.checksum_path(final), backups.manifest_path(final)):
                backups.remove_quietly(path)
            text = exc.msg if isinstance(exc, SarkOperationError) else describe_os_error(exc, final)
            raise SarkOperationError("Backup %s could not be completed: %s. It was removed%s." % (
                os.path.basename(final), text, self.done_so_far())) from exc
        entry.update(size_bytes=size, sha256=digest, created_at=manifest["created_at"], keyspace=manifest["keyspace"],
                     counts_exact=manifest["counts_exact"])
        self.result["backups"].append(entry)

    # --- AOF --------------------------------------------------------------------------------------------------

    def bgrewriteaof(self):
        params = self.params
        self.plan("BGREWRITEAOF", target=self.source["target"], wait="aof_rewrite_in_progress and aof_rewrite_scheduled 0, aof_rewrites advanced",
                  timeout_s=params["save_timeout"])
        if self.check_mode:
            return {}
        _waited, _seen, before = self.wait_idle()
        rewrites_before = int(before.get("aof_rewrites") or 0)
        started = time.monotonic()
        deadline = started + params["save_timeout"]
        try:
            reply = to_text(self.call("BGREWRITEAOF"))
        except redis.exceptions.ResponseError as exc:
            raise SarkOperationError("BGREWRITEAOF was refused by %s: %s. The RDB backup stands; no AOF backup was taken." % (
                self.source["target"], exc), source=self.source) from exc
        self.done("BGREWRITEAOF", reply=reply)
        while True:
            persistence = self.info("persistence")
            if not int(persistence.get("aof_rewrite_in_progress") or 0) and not int(persistence.get("aof_rewrite_scheduled") or 0) \
                    and int(persistence.get("aof_rewrites") or 0) > rewrites_before:
                break
            if time.monotonic() >= deadline:
                raise SarkOperationError("The AOF rewrite on %s had not finished after save_timeout=%ss: no AOF backup was taken."
                                         % (self.source["target"], params["save_timeout"]), source=self.source)
            time.sleep(POLL_S)
        if persistence.get("aof_last_bgrewrite_status") != "ok":
            raise SarkOperationError("BGREWRITEAOF on %s failed (aof_last_bgrewrite_status: %s): see the Redis log." % (
                self.source["target"], persistence.get("aof_last_bgrewrite_status")), source=self.source)
        return {"duration_ms": round((time.monotonic() - started) * 1000.0, 3)}

    def copy_aof(self):
        """Tar the manifest and its base and incr files; the key counts are exact when the AOF did not grow during the copy."""
        params = self.params
        moment = utcnow()
        final = os.path.join(params["backup_dir"], backup_name(params["name"], moment, "aof"))
        entry = {"kind": "aof", "file": os.path.basename(final), "path": final, "reused": False, "source": self.source["aof_dir"]}
        self.plan("copy", source=self.source["aof_dir"], file=final, mode="0600", format="tar of the manifest, base and incr files")
        self.plan("checksum", file=final, algorithm="sha256")
        if self.check_mode:
            self.result["backups"].append(entry)
            return entry
        for _attempt in range(3):
            before = self.info("keyspace", "persistence")
            manifest_file = self.source["aof_manifest"]
            try:
                with open(manifest_file, "rb") as handle:
                    manifest_bytes = handle.read()
                files = [e for e in parse_aof_manifest(manifest_bytes.decode("utf-8", "replace")) if e["type"] in ("b", "i")]
            except (OSError, ValueError) as exc:
                raise SarkOperationError("Cannot read the AOF manifest %s: %s. No AOF backup was taken." % (
                    manifest_file, exc), source=self.source) from exc
            try:
                digest, size = write_aof_tar(final, self.source["aof_dir"], os.path.basename(manifest_file), manifest_bytes, files)
            except OSError as exc:
                raise SarkOperationError(describe_os_error(exc, getattr(exc, "filename", None) or self.source["aof_dir"], "read")
                                         + ". No AOF backup was taken.", source=self.source) from exc
            after = self.info("keyspace", "persistence")
            with open(manifest_file, "rb") as handle:
                if handle.read() == manifest_bytes:
                    break
            backups.remove_quietly(final)  # a rewrite replaced the files while we copied them: copy again
        else:
            raise SarkOperationError("The AOF of %s was rewritten three times while it was being copied: no AOF backup was taken."
                                     % self.source["target"], source=self.source)
        exact = before.get("aof_current_size") == after.get("aof_current_size") and keyspace_of(before) == keyspace_of(after)
        save = {"keyspace": keyspace_of(after), "counts_exact": exact, "lastsave": None}
        self.finish_backup(entry, final, digest, size, {"kind": "aof", "aof_manifest": os.path.basename(manifest_file),
                                                        "aof_files": [e["file"] for e in files],
                                                        "appenddirname": os.path.basename(self.source["aof_dir"]),
                                                        "appendfilename": self.source["config"].get("appendfilename") or "appendonly.aof",
                                                        "source": self.source["aof_dir"]}, save)
        self.done("copy", source=self.source["aof_dir"], file=final, size_bytes=size, files=[e["file"] for e in files])
        self.done("checksum", file=final, sha256=digest)
        return entry

    # --- reuse ------------------------------------------------------------------------------------------------

    def reusable(self, kind):
        newest = self.newest_intact((self.params["name"], kind))
        if newest is None:
            return None
        manifest = backups.read_manifest(newest["path"]) or {}
        entry = {"kind": kind, "file": newest["file"], "path": newest["path"], "reused": True, "size_bytes": newest["size_bytes"],
                 "sha256": backups.read_checksum(newest["path"]), "created_at": newest["created_at"], "age_s": newest["age_s"],
                 "keyspace": manifest.get("keyspace"), "counts_exact": manifest.get("counts_exact")}
        self.result["backups"].append(entry)
        return entry

    # --- verification -------------------------------------------------------------------------------------------

    def verify(self, path, restore_test):
        """Checksum, size, redis-check-rdb/redis-check-aof and (restore_test) a scratch restore. Read-only checks run in check mode."""
        parsed = parse_name(os.path.basename(path))
        kind = parsed[1] if parsed else "rdb"
        entry, manifest = self.start_verification(path, kind=kind)
        if manifest is None:
            return entry
        workdir = tempfile.mkdtemp(prefix="sark-ops-redis-restore-", dir=self.module.module.tmpdir)
        os.chmod(workdir, backups.DIR_MODE)
        try:
            if kind == "aof":
                try:
                    manifest_name = extract_aof_tar(path, workdir, manifest.get("appenddirname") or "appendonlydir")
                except (OSError, ValueError, tarfile.TarError) as exc:
                    entry["check_tool"] = {"tool": "redis-check-aof", "ok": False, "rc": None, "summary": ["cannot unpack: %s" % exc]}
                    manifest_name = None
                if manifest_name:
                    top = manifest.get("appenddirname") or "appendonlydir"
                    argv = [self.tool("redis-check-aof"), os.path.join(workdir, top, manifest_name)]
                    entry["check_tool"] = self.check_with(argv, "redis-check-aof", "All AOF files and manifest are valid")
            else:
                argv = [self.tool("redis-check-rdb"), path]
                entry["check_tool"] = self.check_with(argv, "redis-check-rdb", RDB_OK_MARKER)
            self.conclude_verification(entry, "check_tool", entry["check_tool"]["tool"], restore_test,
                                       lambda: self.restore_test(path, kind, manifest, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if not self.check_mode:
            self.done("verify", file=path, ok=entry["ok"])
        self.result["verifications"].append(entry)
        return entry

    def check_with(self, argv, tool, marker):
        rc, text, ms = self.run_tool(argv, self.params["restore_timeout"])
        if not self.check_mode:
            self.done(tool, argv=argv, rc=rc, duration_ms=ms)
        return {"tool": tool, "ok": rc == 0 and marker in text, "rc": rc, "summary": summarize_tool_output(text)}

    def restore_test(self, path, kind, manifest, workdir):
        server = ScratchRedis(self.tool("redis-server"), workdir, self.params["restore_timeout"],
                              int(manifest.get("databases") or self.source.get("databases") or 16))
        if kind == "aof":
            extra = ["--appendonly", "yes", "--appenddirname", manifest.get("appenddirname") or "appendonlydir",
                     "--appendfilename", manifest.get("appendfilename") or "appendonly.aof"]
        else:
            os.symlink(path, os.path.join(workdir, "dump.rdb"))
            extra = ["--appendonly", "no", "--dbfilename", "dump.rdb"]
        self.plan("restore_test", file=path, argv=server.argv(extra), stop="SIGTERM by pid, SIGKILL after 10 s")
        if self.check_mode:
            return {"planned": True}
        out = {"kind": kind}
        started = time.monotonic()
        try:
            client = server.start(extra)
            out["pid"] = server.pid
            try:
                info = client.execute_command("INFO", "keyspace", "persistence")
                out["load_ms"] = round((time.monotonic() - started) * 1000.0, 3)
            finally:
                client.close()
        except SarkOperationError as exc:
            out.update(ok=False, error=exc.msg, pid=server.pid)
            return out
        finally:
            server.stop()
            self.done("restore_test", file=path, pid=server.pid, stopped=True)
        out["stopped"] = True
        restored = keyspace_of(info)
        source = manifest.get("keyspace")
        if source is None:
            out.update(ok=True, restored_keyspace=restored, note="the backup has no manifest with key counts: only the load was tested")
            return out
        comparison = compare_keyspace(source, restored, int(info.get("rdb_last_load_keys_expired") or 0),
                                      bool(manifest.get("counts_exact")))
        out.update(comparison)
        if not comparison["exact"] and any(not r["match"] for r in comparison["databases"]):
            self.module.warn("%s: key counts differ from the server's at the save, which was being written to then "
                             "(counts_exact=false): %s" % (os.path.basename(path), comparison["databases"]))
        return out


def copy_stream(handle, final):
    """Copy an open file to final whole or not at all (mode 0600), hashing what is written. Returns (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    with AtomicFile(final, mode=backups.FILE_MODE, binary=True) as out:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _HashingWriter(io.RawIOBase):
    """A write-only file object that hashes and counts what passes through to the real file."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, data):  # pylint: disable=arguments-renamed
        self.target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def write_aof_tar(final, aof_dir, manifest_name, manifest_bytes, files):
    """An uncompressed tar of <appenddirname>/ with the manifest as read and each file as large as it was when opened."""
    top = os.path.basename(aof_dir.rstrip("/")) or "appendonlydir"
    with AtomicFile(final, mode=backups.FILE_MODE, binary=True) as out:
        hashing = _HashingWriter(out)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in files:
                source = os.path.join(aof_dir, entry["file"])
                with open(source, "rb") as handle:
                    info = tar.gettarinfo(fileobj=handle, arcname="%s/%s" % (top, entry["file"]))
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, handle)
            info = tarfile.TarInfo("%s/%s" % (top, manifest_name))
            info.size = len(manifest_bytes)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(manifest_bytes))
    return hashing.digest.hexdigest(), hashing.size


def extract_aof_tar(path, workdir, top):
    """Unpack an AOF backup into workdir/<top>/, refusing any member outside it. Returns the manifest's file name."""
    manifest_name = None
    target = os.path.join(workdir, top)
    os.makedirs(target, backups.DIR_MODE)
    with tarfile.open(path, mode="r:") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) != 2 or parts[0] != top or not member.isfile() or parts[1].startswith("."):
                raise ValueError("unexpected member %r in the AOF backup" % member.name)
            source = tar.extractfile(member)
            with open(os.path.join(target, parts[1]), "wb") as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
            if parts[1].endswith(".manifest"):
                manifest_name = parts[1]
    if not manifest_name:
        raise ValueError("no AOF manifest in the backup")
    return manifest_name


def files_in(directory):
    return backups.files_in(directory, parse_series)


def check_directory(module, job, directory, state):
    """backup_dir usable before any work (_backup.check_directory)."""
    backups.check_directory(module, job, directory, state, "backup.rdb")
