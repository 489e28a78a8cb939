# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SIEM event lists in Redis (private): move, export and trim without losing or duplicating an event.

Three mechanisms together give "every event exactly once" under concurrent runs and a kill at any point:

- An exclusive lock per source list, ``{<list>}:sark_ops_lock`` (SET NX with a TTL, refreshed by each batch, released at
  the end). Its value names the run (id, host, pid, operation, file). A second run refuses (or waits ``lock_wait``
  seconds); a lock whose holder process is dead on this host is taken over at once, any other one expires after its TTL.
  Every step that changes the lists is a Lua script that first checks the caller still holds the lock.
- A per-run staging list ``{<list>}:sark_ops_export:<run id>`` next to the source (same hash slot) and a run-state hash
  ``{<list>}:sark_ops_export_state`` recording the staging list, the file and the file offset at which the staged batch
  is written. One script moves a batch into staging and records the offset; the batch is written at that offset and
  fsynced; a second script deletes staging and state together.
- An idempotent resume: a later run finds the state, cuts the file back to the recorded offset (dropping whatever part of
  the batch reached it) and writes the staged batch again, once. The export file is also locked (flock) against a second
  writer on the same machine.

Requeue moves events with LMOVE (atomic per event) under the same lock. In a Redis Cluster where the queue and the failed
list are in different hash slots it goes through the staging list, and an interruption may then deliver a batch twice
(never lose it).
"""

import fcntl
import json
import os
import socket
import time
import uuid

from ansible_collections.sark.ops.plugins.module_utils._files import check_writable_file, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkConnectionError,
    SarkError,
    SarkLimitError,
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    isoformat,
    mask_secrets,
    utcnow,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import redis, to_text
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import redis_errors, require_type

try:
    from redis.crc import key_slot
except ImportError:  # the import error itself is reported by connect()
    key_slot = None

LIST_TEMPLATES = {"queue": "siem_queue_key", "failed": "siem_failed_key"}
LOCK_TTL_MS = 30000
PEEK_MAX = 1000


def queue_state(length, params):
    """The runbook's judgement of the queue: healthy under warning_threshold, critical above critical_threshold."""
    if length > params["critical_threshold"]:
        return "critical"
    if length >= params["warning_threshold"]:
        return "warning"
    return "healthy"


def decode_event(raw, show_secrets):
    text = to_text(raw)
    try:
        event = json.loads(text)
    except ValueError:
        return text if show_secrets else "<%d bytes, not JSON>" % len(text)
    return event if show_secrets else mask_secrets(event)


def validate_thresholds(params):
    if params["warning_threshold"] < 0 or params["critical_threshold"] < params["warning_threshold"]:
        raise SarkValidationError("thresholds must satisfy 0 <= warning_threshold <= critical_threshold")


def validate_change(params):
    """The options of a requeue, export or trim (state); files are checked before any event moves."""
    state = params["state"]
    for name in ("max_events", "batch_size"):
        if params[name] < 1:
            raise SarkValidationError("%s must be 1 or more, got %s" % (name, params[name]))
    if params["count"] is not None and params["count"] < 1:
        raise SarkValidationError("count must be 1 or more, got %s" % params["count"])
    validate_thresholds(params)
    if state == "export" and not params["path"]:
        raise SarkValidationError("state=export needs path (the file the events are appended to)")
    if params["path"] and state in ("export", "trim"):
        check_writable_file(params["path"], "export file")
    if state == "trim":
        if params["keep"] is None or params["keep"] < 0:
            raise SarkValidationError("state=trim needs keep (how many of the newest events stay), 0 or more; got %s" % params["keep"])
    if params["batch_size"] > 10000:
        raise SarkValidationError("batch_size must be 10000 or less")
    if not 0 <= params["lock_wait"] <= 3600:
        raise SarkValidationError("lock_wait must be between 0 and 3600 seconds, got %s" % params["lock_wait"])


def check_cap(what, amount, available, params):
    if amount > params["max_events"]:
        raise SarkLimitError("%s would touch %d events (%d in the list), more than max_events=%d. Nothing was changed. Set count to "
                             "move part of them, raise max_events, or (for trim) export them first." % (what, amount, available,
                                                                                                        params["max_events"]),
                             events=available)


def plan_change(lists, params, lengths):
    """(source list, purpose, events to move or drop, events staged by an interrupted run) of a requeue, export or trim."""
    state = params["state"]
    if state == "requeue":
        source, purpose = "failed", "requeue"
        amount = min(params["count"] or lengths["failed"], lengths["failed"])
    elif state == "export":
        source, purpose = params["list"], "export"
        amount = min(params["count"] or lengths[source], lengths[source])
    else:
        source, purpose = params["list"], "export" if params["path"] else None
        amount = max(0, lengths[source] - params["keep"])
    staged = lists.pending(source, purpose)[0] if purpose else 0
    check_cap(state, amount, lengths[source], params)
    return source, purpose, amount, staged


def assess(lists, lengths, params):
    """The queue and failed-list figures and the runbook's verdict on them."""
    state = queue_state(lengths["queue"], params)
    findings = []
    if state != "healthy":
        findings.append("SIEM queue holds %d events (%s: warning from %d, critical above %d)"
                        % (lengths["queue"], state, params["warning_threshold"], params["critical_threshold"]))
    if lengths["failed"]:
        findings.append("%d events failed delivery (%s)" % (lengths["failed"], lists.keys["failed"]))
    return {"queue": {"key": lists.keys["queue"], "length": lengths["queue"], "state": state},
            "failed_events": {"key": lists.keys["failed"], "length": lengths["failed"]},
            "assessment": {"verdict": state, "findings": findings}}


def not_in_layout(layout):
    """The answer of a SIEM queue module in a layout that keeps the queue in process memory."""
    reason = ("the %s layout keeps the SIEM event queue and failed events in each worker's process memory (%s)"
              % (layout.name, layout.absent_reason("siem_queue_key")))
    return {"changed": False, "not_in_layout": reason, "layout": layout.name,
            "msg": "Not in this layout: %s: there is nothing in Redis to read or change. Use the workers' metrics and logs." % reason}


# KEYS: lock, source, stage, state. ARGV: token, count, path, offset, run id, lock ttl ms.
STAGE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[4], 'run', ARGV[5], 'path', ARGV[3], 'offset', ARGV[4], 'stage', KEYS[3])
local moved = 0
for i = 1, tonumber(ARGV[2]) do
  if not redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') then break end
  moved = moved + 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return moved
"""

# KEYS: lock, stage, state. ARGV: token, lock ttl ms. Deletes the staged batch (it is in the file now) and the state.
COMMIT_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local staged = redis.call('LLEN', KEYS[2])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return staged
"""

# KEYS: lock. ARGV: expected value, new value, ttl ms ('' new value: delete).
SWAP_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def staging_key(key, purpose):
    """A key in the same hash slot as key (its hash tag, or the whole name as one), for moves that survive interruption."""
    start = key.find("{")
    if start >= 0 and key.find("}", start + 2) > start:
        return "%s:sark_ops_%s" % (key, purpose)
    return "{%s}:sark_ops_%s" % (key, purpose)


def event_line(raw):
    text = to_text(raw)
    return text if "\n" not in text and "\r" not in text else json.dumps(text)


def _process_gone(pid):
    """Whether a process id on this machine is dead (or a zombie, which will never write again)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open("/proc/%d/stat" % pid, "r", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class ExportFile:
    """The export file (JSON lines, mode 0600), locked against a second writer, written at known offsets."""

    def __init__(self, path):
        self.path = check_writable_file(path, "export file")
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SarkOperationError(describe_os_error(exc, self.path, "open") + ". Nothing was moved.") from exc
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self.fd)
            self.fd = None
            raise SarkPreconditionError("The export file %s is being written by another run on this machine. Wait for it to finish "
                                        "(or use another path). Nothing was moved." % self.path) from exc
        self._cut_torn_line()
        return self

    def _cut_torn_line(self):
        """A torn last line (a write cut short before this protocol recorded offsets) goes: its events are still in Redis.
        Every recorded offset ends a whole line, so this never cuts below one."""
        size = self.size()
        if not size:
            return
        start = max(0, size - 65536)
        os.lseek(self.fd, start, os.SEEK_SET)
        tail = os.read(self.fd, size - start)
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        os.ftruncate(self.fd, start + cut + 1 if cut >= 0 else start)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None

    def size(self):
        return os.fstat(self.fd).st_size

    def write_at(self, offset, events):
        """Cut the file back to offset, write the events there and fsync; returns the new size."""
        data = "".join(event_line(e) + "\n" for e in events).encode("utf-8")
        try:
            os.ftruncate(self.fd, offset)
            os.lseek(self.fd, offset, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError as exc:
            raise SarkOperationError(describe_os_error(exc, self.path), stage="file") from exc
        return offset + len(data)


class SiemLists:
    """The SIEM queue and failed-events list of one layout."""

    def __init__(self, client, layout, params, evidence=None):
        self.client = client
        self.params = params
        self.layout = layout
        self.evidence = evidence
        self.lock_wait = float(params.get("lock_wait") or 0)
        self.cluster = hasattr(client, "get_primaries")
        self.keys = {name: layout.key(template) for name, template in LIST_TEMPLATES.items()}
        self.run_id = uuid.uuid4().hex[:16]
        self.token = None
        self.lock_key = None
        self._entry = None

    # ------------------------------------------------------------------ reading

    def length(self, name):
        key = self.keys[name]
        require_type(self.client, key, "list", "the SIEM %s list" % name, self.layout.name)
        return int(self.client.llen(key))

    def state_key(self, name, purpose):
        return staging_key(self.keys[name], "%s_state" % purpose)

    def pending(self, name, purpose):
        """Events an interrupted run left staged for this list and purpose (they are delivered first): (count, state)."""
        legacy = staging_key(self.keys[name], purpose)
        require_type(self.client, legacy, "list", "a sark.ops staging list", self.layout.name)
        count = int(self.client.llen(legacy))
        state_key = self.state_key(name, purpose)
        require_type(self.client, state_key, "hash", "a sark.ops run-state hash", self.layout.name)
        state = {to_text(k): to_text(v) for k, v in (self.client.hgetall(state_key) or {}).items()}
        if state.get("stage"):
            require_type(self.client, state["stage"], "list", "a sark.ops staging list", self.layout.name)
            count += int(self.client.llen(state["stage"]))
        return count, state

    def same_slot(self, one, other):
        if not self.cluster:
            return True
        return key_slot(one.encode()) == key_slot(other.encode())

    # ------------------------------------------------------------------ the lock

    def acquire(self, name, operation, path=None):
        """Take the exclusive lock of a source list, or fail saying who holds it."""
        self.lock_key = staging_key(self.keys[name], "lock")
        value = json.dumps({"run": self.run_id, "host": socket.gethostname(), "pid": os.getpid(), "operation": operation,
                            "path": os.path.abspath(path) if path else None, "since": isoformat(utcnow())}, sort_keys=True)
        deadline = time.monotonic() + self.lock_wait
        while True:
            if self.client.set(self.lock_key, value, nx=True, px=LOCK_TTL_MS):
                self.token = value
                return
            held = self.client.get(self.lock_key)
            if held is not None and self._stale(held) and \
                    int(self.client.eval(SWAP_LOCK_SCRIPT, 1, self.lock_key, held, value, LOCK_TTL_MS)):
                self.token = value
                return
            if time.monotonic() >= deadline:
                raise self._busy(held)
            time.sleep(0.2)

    @staticmethod
    def _holder(held):
        try:
            info = json.loads(to_text(held))
            return info if isinstance(info, dict) else {}
        except (TypeError, ValueError):
            return {}

    def _stale(self, held):
        info = self._holder(held)
        pid = info.get("pid")
        return info.get("host") == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and _process_gone(pid)

    def _busy(self, held):
        info = self._holder(held)
        ttl = self.client.pttl(self.lock_key)
        return SarkPreconditionError(
            "Another sark.ops run is working on %s (lock %s: %s%s, pid %s on %s, since %s). Only one run at a time may move these "
            "events. Wait for it to finish and rerun%s; if that run died on another machine its lock expires %.0f s after its "
            "last batch. Nothing was changed." % (
                self.lock_key.split("}:")[0].lstrip("{"), self.lock_key, info.get("operation") or "?",
                " to %s" % info["path"] if info.get("path") else "", info.get("pid"), info.get("host"), info.get("since"),
                " (or set lock_wait to wait for it)" if not self.lock_wait else " (waited %.1f s)" % self.lock_wait,
                max(0, int(ttl or 0)) / 1000.0),
            lock=self.lock_key, holder=info)

    def release(self):
        if self.token is None:
            return
        try:
            self.client.eval(SWAP_LOCK_SCRIPT, 1, self.lock_key, self.token, "", 0)
        except Exception:  # pylint: disable=broad-except
            pass  # Redis is gone: the lock expires by itself, and a rerun on this machine takes over a dead run's lock
        self.token = None

    def _lost_lock(self):
        return SarkOperationError("This run lost its lock %s (it expired or was taken over while the run was stalled); it stopped "
                                  "before moving more events. Rerun to finish: the staged batch is written exactly once."
                                  % self.lock_key)

    # ------------------------------------------------------------------ progress

    def _progress(self, action, source, **counts):
        """The executed entry of this run, created with the first moved event and kept current (a failure reports it)."""
        if self.evidence is None:
            return
        if self._entry is None:
            self._entry = self.evidence.executed(action, source=source, events=0, recovered=0, batches=0)
        for key, value in counts.items():
            self._entry[key] = self._entry.get(key, 0) + value

    # ------------------------------------------------------------------ export

    def export(self, name, total, batch, path):
        """Move `total` events (oldest first) of a list into a JSON-lines file. Returns (moved, recovered, batches)."""
        source = self.keys[name]
        state_key = self.state_key(name, "export")
        stage = staging_key(source, "export:%s" % self.run_id)
        moved, recovered, batches = 0, 0, 0
        with ExportFile(path) as handle:
            try:
                with redis_errors(self.params, "exporting %s to %s" % (source, handle.path)):
                    moved, recovered, batches = self._export_batches(name, handle, total, batch)
            except SarkError as exc:
                raise self._annotate(exc, name, handle.path)
        return moved, recovered, batches

    def _export_batches(self, name, handle, total, batch):
        source = self.keys[name]
        state_key = self.state_key(name, "export")
        stage = staging_key(source, "export:%s" % self.run_id)
        moved, batches = 0, 0
        recovered = self._recover_export(name, handle)
        while moved < total:
            offset = handle.size()
            count = int(self.client.eval(STAGE_SCRIPT, 4, self.lock_key, source, stage, state_key, self.token,
                                         min(batch, total - moved), handle.path, offset, self.run_id, LOCK_TTL_MS))
            if count < 0:
                raise self._lost_lock()
            if count == 0:
                self.client.eval(COMMIT_SCRIPT, 3, self.lock_key, stage, state_key, self.token, LOCK_TTL_MS)
                break
            handle.write_at(offset, self.client.lrange(stage, 0, -1))
            if int(self.client.eval(COMMIT_SCRIPT, 3, self.lock_key, stage, state_key, self.token, LOCK_TTL_MS)) < 0:
                raise self._lost_lock()
            moved += count
            batches += 1
            self._progress("export", source, events=count, batches=1)
        return moved, recovered, batches

    def _recover_export(self, name, handle):
        """Write out what an interrupted export left staged, exactly once; returns how many events that was."""
        recovered = 0
        legacy = staging_key(self.keys[name], "export")
        events = self.client.lrange(legacy, 0, -1)
        if events:
            # left by a sark.ops version before the run-state protocol: appended once more at the end of the file
            handle.write_at(handle.size(), events)
            self.client.delete(legacy)
            recovered += len(events)
            self._progress("export", self.keys[name], recovered=len(events))
        _count, state = self.pending(name, "export")
        if not state:
            return recovered
        stage = state.get("stage") or ""
        staged = self.client.lrange(stage, 0, -1) if stage else []
        if staged:
            if os.path.abspath(state.get("path") or "") != handle.path:
                raise SarkPreconditionError(
                    "An interrupted export left %d event(s) staged in %s for the file %s. Rerun with path: %s to finish them (they "
                    "are written exactly once, where that run left off); then export to another file if you like. Nothing was "
                    "changed." % (len(staged), stage, state.get("path"), state.get("path")), staged=len(staged), path=state.get("path"))
            handle.write_at(min(int(state.get("offset") or 0), handle.size()), staged)
        if int(self.client.eval(COMMIT_SCRIPT, 3, self.lock_key, stage or self.state_key(name, "export"),
                                self.state_key(name, "export"), self.token, LOCK_TTL_MS)) < 0:
            raise self._lost_lock()
        if staged:
            recovered += len(staged)
            self._progress("export", self.keys[name], recovered=len(staged))
        return recovered

    def _annotate(self, exc, name, path):
        state_key = self.state_key(name, "export")
        entry = self._entry or {}
        moved, recovered = entry.get("events", 0), entry.get("recovered", 0)
        try:
            staged, _state = self.pending(name, "export")
        except Exception:  # pylint: disable=broad-except
            staged = None  # Redis is gone
        done = "Before the failure this run had exported %d event(s)%s to %s" % (
            moved, " (and %d left by an interrupted run)" % recovered if recovered else "", path)
        if staged:
            done += "; %d more are staged in Redis (%s records where) and are written exactly once by a rerun with the same path" \
                % (staged, state_key)
        elif staged is None:
            done += "; a batch may be staged in Redis (%s records it) and is written exactly once by a rerun with the same path" \
                % state_key
        exc.msg = "%s %s. No event was lost." % (exc.msg.rstrip(), done)
        exc.details.update(moved=moved, recovered=recovered, path=path, staged=staged)
        return exc

    # ------------------------------------------------------------------ requeue

    def requeue(self, total, batch):
        """Move `total` failed events (oldest first) to the tail of the queue. Returns (moved, recovered, batches)."""
        source, target = self.keys["failed"], self.keys["queue"]
        moved, recovered, batches = 0, 0, 0
        try:
            with redis_errors(self.params, "moving failed events to %s" % target):
                moved, recovered, batches = self._requeue_batches(source, target, total, batch)
        except SarkError as exc:
            entry = self._entry or {}
            moved, recovered = entry.get("events", 0), entry.get("recovered", 0)
            exc.msg = "%s Before the failure this run had moved %d event(s) to %s (each move is atomic: no event was lost)." \
                % (exc.msg.rstrip(), moved + recovered, target)
            exc.details.update(moved=moved, recovered=recovered)
            raise
        return moved, recovered, batches

    def _requeue_batches(self, source, target, total, batch):
        moved, batches = 0, 0
        recovered = self._recover_requeue(target)
        direct = self.same_slot(source, target)
        state_key = self.state_key("failed", "requeue")
        stage = staging_key(source, "requeue:%s" % self.run_id)
        while moved < total:
            if direct:
                if not self._refresh():
                    raise self._lost_lock()
                pipe = self.client.pipeline(transaction=False)
                for _index in range(min(batch, total - moved)):
                    pipe.lmove(source, target, "LEFT", "RIGHT")
                done = sum(1 for value in pipe.execute() if value is not None)
            else:
                done = int(self.client.eval(STAGE_SCRIPT, 4, self.lock_key, source, stage, state_key, self.token,
                                            min(batch, total - moved), "", 0, self.run_id, LOCK_TTL_MS))
                if done < 0:
                    raise self._lost_lock()
                events = self.client.lrange(stage, 0, -1)
                if events:
                    self.client.rpush(target, *events)
                self.client.eval(COMMIT_SCRIPT, 3, self.lock_key, stage, state_key, self.token, LOCK_TTL_MS)
            batches += 1
            moved += done
            if done:
                self._progress("requeue", source, events=done, batches=1)
            if not done:
                break
        return moved, recovered, batches

    def _refresh(self):
        return bool(int(self.client.eval(SWAP_LOCK_SCRIPT, 1, self.lock_key, self.token, self.token, LOCK_TTL_MS)))

    def _recover_requeue(self, target):
        recovered = 0
        legacy = staging_key(self.keys["failed"], "requeue")
        events = self.client.lrange(legacy, 0, -1)
        if events:
            self.client.rpush(target, *events)
            self.client.delete(legacy)
            recovered += len(events)
        _count, state = self.pending("failed", "requeue")
        if state:
            stage = state.get("stage") or ""
            events = self.client.lrange(stage, 0, -1) if stage else []
            if events:
                self.client.rpush(target, *events)
                recovered += len(events)
            self.client.eval(COMMIT_SCRIPT, 3, self.lock_key, stage or self.state_key("failed", "requeue"),
                             self.state_key("failed", "requeue"), self.token, LOCK_TTL_MS)
        if recovered:
            self._progress("requeue", self.keys["failed"], recovered=recovered)
        return recovered

    # ------------------------------------------------------------------ trim

    def trim(self, name, amount):
        """Drop the `amount` oldest events (LTRIM from the head: producers pushing meanwhile keep theirs)."""
        if not self._refresh():
            raise self._lost_lock()
        self.client.ltrim(self.keys[name], amount, -1)
        if self.evidence is not None:
            self.evidence.executed("trim", source=self.keys[name], dropped=amount)


# ---------------------------------------------------------------- circuit breakers

CLOSED = "closed"


def breaker_argument_spec():
    """The breaker selection sark_siem_breaker and sark_siem_breaker_info share (documented in sark.ops.redis.SIEM_BREAKER)."""
    return dict(
        siems=dict(type="list", elements="str", default=["splunk", "datadog"]),
        variant=dict(type="str", default="both", choices=["both", "global", "per_siem"]),
    )


def read_breakers(client, params, layout, keys):
    """Every selected breaker read in one go (errors worded for the operator) and the names of those not closed."""
    with redis_errors(params, "reading the SIEM circuit breakers"):
        breakers = [read_breaker(client, layout, *k) for k in keys]
    return breakers, [b["name"] for b in breakers if b["state"] != CLOSED]


def breaker_keys(layout, variant, siems):
    """[(name, variant, state_key, failures_key)] of the breakers the layout keeps in Redis."""
    out = []
    if variant in ("both", "global") and layout.has("breaker_state_key"):
        out.append(("global", "global", layout.key("breaker_state_key"), layout.key("breaker_failures_key")))
    if variant in ("both", "per_siem") and layout.has("siem_breaker_state_key"):
        for siem in siems:
            out.append((siem, "per_siem", layout.key("siem_breaker_state_key", siem=siem),
                        layout.key("siem_breaker_failures_key", siem=siem)))
    return out


def read_breaker(client, layout, name, variant, state_key, failures_key):
    state_present = require_type(client, state_key, "string", "a circuit-breaker state", layout.name)
    failures_present = require_type(client, failures_key, "string", "a circuit-breaker failure count", layout.name)
    state = to_text(client.get(state_key)) if state_present else None
    raw_failures = to_text(client.get(failures_key)) if failures_present else None
    try:
        failures = int(raw_failures) if raw_failures not in (None, "") else 0
    except ValueError as exc:
        raise SarkValidationError("%s holds %r, not a failure count: check layout_templates" % (failures_key, raw_failures[:40])) from exc
    return {"name": name, "variant": variant, "state_key": state_key, "failures_key": failures_key,
            "state": (state or CLOSED).lower(), "failures": failures, "present": bool(state_present or failures_present),
            "state_present": bool(state_present), "ttl": int(client.ttl(state_key)) if state_present else None}


def check_expected(breakers, expected):
    if not expected:
        return
    wrong = ["%s is %s" % (b["name"], b["state"]) for b in breakers if b["state_present"] and b["state"] != expected.lower()]
    if wrong:
        raise SarkPreconditionError("current_state=%s, but %s. Nothing was reset; re-read the state and adjust current_state."
                                    % (expected, ", ".join(wrong)), breakers=breakers)


def delete_breaker(client, layout, breaker, expected, cluster):
    """Delete one breaker's keys; on a standalone server the state is re-checked inside WATCH/MULTI."""
    if cluster:
        current = read_breaker(client, layout, breaker["name"], breaker["variant"], breaker["state_key"], breaker["failures_key"])
        check_expected([current], expected)
        return int(client.delete(breaker["state_key"])) + int(client.delete(breaker["failures_key"]))
    for _attempt in range(5):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(breaker["state_key"], breaker["failures_key"])
                state = pipe.get(breaker["state_key"])
                if expected and state is not None and to_text(state).lower() != expected.lower():
                    raise SarkPreconditionError("current_state=%s, but %s became %s meanwhile. Nothing more was reset."
                                                % (expected, breaker["name"], to_text(state)))
                pipe.multi()
                pipe.delete(breaker["state_key"], breaker["failures_key"])
                return int(pipe.execute()[0])
            except redis.exceptions.WatchError:
                continue
    raise SarkPreconditionError("%s kept changing while being reset (5 attempts); the SIEM worker is writing it. Retry." % breaker["name"])


def breaker_not_in_layout(layout, resetting):
    """The answer of a breaker module in a layout that keeps the breaker in process memory."""
    reason = ("the %s layout keeps the SIEM circuit breaker in each worker's memory (it opens after 5 failures and closes "
              "itself after 60 s)" % layout.name)
    advice = ("Restart the SARK workers to reset it (a rolling restart of the deployment); nothing was changed." if resetting
              else "Read it from the workers' metrics or logs.")
    msg = "Not in this layout: %s, so there is nothing in Redis to %s. %s" % (reason, "reset" if resetting else "read", advice)
    result = {"changed": False, "not_in_layout": reason, "breakers": [], "open": [], "msg": msg, "layout": layout.name}
    if resetting:
        result["restart_required"] = True
    return result


def validate_siems(siems):
    if not siems or any(not s or not s.strip() for s in siems):
        raise SarkValidationError("siems must list at least one SIEM name (for example splunk, datadog) without empty entries")


# --- the HEC token test (seed 002 playbook 5, cause 1) ---------------------------------------------------------

HEC_EVENT_PATH = "/services/collector/event"
HEC_HEALTH_PATH = "/services/collector/health"
# Splunk HEC reply codes (its documented "status codes" table): code -> what the test concludes
HEC_CODES = {0: "accepted", 1: "token_disabled", 2: "token_missing", 3: "invalid_authorization", 4: "token_invalid",
             5: "token_valid", 6: "token_valid", 7: "token_valid", 9: "busy", 17: "healthy", 18: "unhealthy"}


def hec_token_test(client, health=True):
    """Test the HEC token the way seed 002 does, without indexing anything: POST the event endpoint with an empty body.

    Splunk checks the token before the body, so a valid token gets 400 "No data" (code 5) and nothing is stored,
    a wrong one 403 "Invalid token" (4) or "Token disabled" (1), a malformed header 401 (2 or 3). Returns
    {verdict (ok | auth_failed | rate_limited | unreachable | error), status, code, text, health, reason}; the token
    is never part of it."""
    result = {"health": None, "status": None, "code": None, "text": None}
    if health:
        try:
            answer = client.request("GET", HEC_HEALTH_PATH, expect=tuple(range(200, 600)), retry_on=())
            body = answer.json() if answer.body else None
            result["health"] = {"status": answer.status, "code": (body or {}).get("code") if isinstance(body, dict) else None,
                                "text": (body or {}).get("text") if isinstance(body, dict) else None}
        except (SarkAPIError, SarkConnectionError) as exc:
            result.update(verdict="unreachable", reason="the HEC endpoint does not answer: %s" % exc)
            return result
    try:
        answer = client.request("POST", HEC_EVENT_PATH, text_body="", headers={"Content-Type": "application/json"},
                                expect=tuple(range(200, 600)), retry_on=())
    except (SarkAPIError, SarkConnectionError) as exc:
        result.update(verdict="unreachable", reason="the HEC endpoint does not answer: %s" % exc)
        return result
    try:
        body = answer.json()
    except Exception:  # pylint: disable=broad-except
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    text = body.get("text") if isinstance(body, dict) else None
    result.update(status=answer.status, code=code, text=client.scrub(str(text)) if text is not None else None)
    meaning = HEC_CODES.get(code)
    if answer.status in (401, 403) or meaning in ("token_disabled", "token_missing", "invalid_authorization", "token_invalid"):
        result.update(verdict="auth_failed", reason="HEC refused the token: HTTP %s %s (code %s): replace the token "
                      "in the SIEM secret, then restart SARK" % (answer.status, text or "", code))
    elif answer.status in (429, 503) or meaning == "busy":
        result.update(verdict="rate_limited", reason="HEC is rate limiting or busy: HTTP %s %s (code %s)"
                      % (answer.status, text or "", code))
    elif meaning in ("token_valid", "accepted") or answer.status == 400 and code in (5, 6):
        result.update(verdict="ok", reason="HEC accepted the token (HTTP %s %s, code %s; nothing was indexed)"
                      % (answer.status, text or "", code))
    else:
        result.update(verdict="error", reason="unexpected HEC answer: HTTP %s %s (code %s)" % (answer.status, text or "", code))
    return result
