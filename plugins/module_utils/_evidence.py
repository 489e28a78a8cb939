# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Security-incident evidence for sark_evidence (private): seed 002 playbook 6 "Preserve evidence (DO NOT modify
logs/systems yet)" and seed 003's evidence collection.

What a compromised principal left in Redis (its session and rate-limit keys, secrets masked), a full RDB snapshot
(BGSAVE, waited for through LASTSAVE), the principal's audit events, and the seal over an evidence directory: a
``SHA256SUMS`` file (``sha256sum -c`` reads it) and a JSON ``manifest.json``, both re-read and verified after writing.
Everything streams: keys page by page, audit rows through a server-side cursor, files in chunks.
"""

import datetime
import json
import os
import shutil
import time

from ansible_collections.sark.ops.plugins.module_utils._files import CHUNK_BYTES, AtomicFile, atomic_write, sha256_file
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkLimitError,
    SarkOperationError,
    SarkPreconditionError,
    SarkValidationError,
    isoformat,
    mask_secrets,
    utcnow,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import to_text

SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
REDIS_KEYS_FILE = "redis-keys.jsonl"
REDIS_RDB_FILE = "redis-dump.rdb"
AUDIT_FILE = "audit-events.jsonl"
SEAL_FILES = (SUMS, MANIFEST)
COLLECTIONS = ("redis_keys", "redis_rdb", "audit_events")
FILE_MODE = 0o600
DIR_MODE = 0o700
MAX_FILES = 10000
AUDIT_BATCH = 1000
VALUE_READ_CHUNK = 1000


class EvidenceError(SarkOperationError):
    """Evidence could not be collected or does not verify."""


def validate(params):
    if params["state"] == "present" and not (params.get("user_id") or params.get("server_id")):
        if set(params["collect"]) - {"redis_rdb"}:
            raise SarkValidationError("user_id or server_id is required to collect %s: name the compromised principal"
                                      % ", ".join(sorted(set(params["collect"]) - {"redis_rdb"})))
    unknown = sorted(set(params["collect"]) - set(COLLECTIONS))
    if unknown:
        raise SarkValidationError("collect: unknown %s (choose from %s)" % (", ".join(unknown), ", ".join(COLLECTIONS)))
    for name, low, high in (("audit_window_hours", 1, 8760), ("max_events", 1, 10000000), ("max_keys", 1, 10000000),
                            ("rdb_timeout", 1, 3600)):
        value = params.get(name)
        if value is not None and not low <= value <= high:
            raise SarkValidationError("%s must be between %s and %s, got %s" % (name, low, high, value))
    for name in ("user_id", "server_id"):
        value = params.get(name)
        if value is not None and (not value.strip() or any(ch in value for ch in "*?[]\\\x00\n")):
            raise SarkValidationError("%s %r must be a plain id (no wildcards, newlines or backslashes)" % (name, value))


def prepare_dir(directory):
    """The evidence directory, created 0700 when missing; a file in the way is refused."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SarkPreconditionError("dir %s exists and is not a directory: choose another evidence directory" % directory)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=DIR_MODE)
    # evidence holds password hashes (the dumps) and session data: only its owner reads it
    os.chmod(directory, DIR_MODE)


def evidence_files(directory):
    """Every regular evidence file under directory (relative paths, sorted), the seal files and partial writes excluded."""
    out = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if rel in SEAL_FILES or name.endswith(".partial") or os.path.islink(path) or not os.path.isfile(path):
                continue
            out.append(rel)
            if len(out) > MAX_FILES:
                raise SarkLimitError("more than %d files under %s: refusing to seal a directory this large (is dir right?)"
                                     % (MAX_FILES, directory))
    return out


# --------------------------------------------------------------------------- Redis

def principal_key_patterns(layout, user_id):
    """(description, SCAN pattern, key type, exact ':' count) of the user's keys the layout keeps by SCAN pattern."""
    out = []
    if layout.has("session_key") and "user_id" in layout.template("session_key"):
        out.append(("session", layout.pattern("session_key", user_id=user_id), layout.key_type("session_key"),
                    layout.colons("session_key", user_id=user_id)))
    if layout.has("ratelimit_key"):
        out.append(("rate_limit", layout.pattern("ratelimit_key", kind="user", subject=user_id),
                    layout.key_type("ratelimit_key"), layout.colons("ratelimit_key", kind="user", subject=user_id)))
    return out


def indexed_session_keys(client, layout, user_id, limit):
    """sark_v2: the index set user_sessions:{uid} and the session keys it names (read in pages)."""
    if not layout.has("user_sessions_key"):
        return []
    index = layout.key("user_sessions_key", user_id=user_id)
    keys = [index]
    for member in client.sscan_iter(index, count=VALUE_READ_CHUNK):
        keys.append(layout.key("session_key", session_id=to_text(member)))
        if len(keys) > limit:
            break
    return keys


def read_key(client, key):
    """One key as JSON-ready data: type, TTL and value (every secret-named field masked, e.g. session tokens)."""
    kind = to_text(client.type(key))
    ttl = client.ttl(key)
    if kind == "none":
        return None
    if kind == "string":
        raw = to_text(client.get(key))
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            value = raw
    elif kind == "hash":
        value = {to_text(k): to_text(v) for k, v in client.hscan_iter(key, count=VALUE_READ_CHUNK)}
    elif kind == "set":
        value = sorted(to_text(m) for m in client.sscan_iter(key, count=VALUE_READ_CHUNK))
    elif kind == "zset":
        value = [[to_text(m), s] for m, s in client.zscan_iter(key, count=VALUE_READ_CHUNK)]
    elif kind == "list":
        value = [to_text(m) for m in client.lrange(key, 0, VALUE_READ_CHUNK - 1)]
    else:
        value = "<%s, not read>" % kind
    if isinstance(value, (dict, list)):
        value = mask_secrets(value)
    return {"key": to_text(key), "type": kind, "ttl": ttl, "value": value}


def collect_redis_keys(client, sweeper, layout, user_id, path, max_keys, check_mode=False):
    """Write the user's keys to path as JSON lines; returns {keys, by_kind}. Check mode counts without writing."""
    counts = {}
    total = [0]
    seen = set()
    handle_ctx = None if check_mode else AtomicFile(path, mode=FILE_MODE)
    handle = handle_ctx.__enter__() if handle_ctx else None

    def emit(kind, key):
        if key in seen:
            return
        seen.add(key)
        if len(seen) > max_keys:
            raise SarkLimitError("more than max_keys=%d keys of user %s: raise max_keys to keep them all (nothing was "
                                 "sealed)" % (max_keys, user_id))
        if check_mode:
            counts[kind] = counts.get(kind, 0) + 1
            total[0] += 1
            return
        record = read_key(client, key)
        if record is None:
            return
        record["kind"] = kind
        handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        counts[kind] = counts.get(kind, 0) + 1
        total[0] += 1

    try:
        for kind, pattern, key_type, colons in principal_key_patterns(layout, user_id):
            for _node, keys in sweeper.iter_keys(pattern, key_type=key_type, colons=colons):
                for key in keys:
                    emit(kind, to_text(key))
        for key in indexed_session_keys(client, layout, user_id, max_keys):
            emit("session", key)
    except BaseException:
        if handle_ctx:
            handle_ctx.discard()
        raise
    if handle_ctx:
        handle_ctx.__exit__(None, None, None)
    return {"count": total[0], "by_kind": counts}


def redis_snapshot(client, dest, timeout, check_mode=False, sleep=0.05):
    """BGSAVE, wait until LASTSAVE moves (bounded), and copy the RDB into dest when this host can read it.

    Returns {lastsave_before, lastsave_after, rdb_source, copied, reason}. Where the server refuses BGSAVE or CONFIG
    (managed Redis, renamed commands) the reason says so and nothing is copied: the snapshot stays on the server."""
    out = {"lastsave_before": None, "lastsave_after": None, "rdb_source": None, "copied": False, "reason": None}
    before = client.lastsave()
    out["lastsave_before"] = isoformat(before) if hasattr(before, "strftime") else before
    try:
        config = client.config_get("dir")
        config.update(client.config_get("dbfilename"))
        source = os.path.join(to_text(config.get("dir")), to_text(config.get("dbfilename")))
        out["rdb_source"] = source
    except Exception as exc:  # pylint: disable=broad-except
        source = None
        out["reason"] = "CONFIG GET is not allowed (%s): the RDB location is unknown, it stays on the server" % (
            to_text(getattr(exc, "args", [exc])[0]),)
    if check_mode:
        return out
    saves_before = int(client.info("persistence").get("rdb_saves", -1))
    try:
        client.bgsave()
    except Exception as exc:  # pylint: disable=broad-except
        text = to_text(str(exc))
        if "in progress" not in text.lower():
            out["reason"] = "BGSAVE refused: %s" % text
            return out
    deadline = time.monotonic() + timeout
    while True:
        # LASTSAVE has a resolution of one second: rdb_saves (Redis 7) tells a second save within the same second apart
        info = client.info("persistence")
        now = client.lastsave()
        if not int(info.get("rdb_bgsave_in_progress", 0)):
            if str(info.get("rdb_last_bgsave_status", "ok")) != "ok":
                raise EvidenceError("BGSAVE failed on the Redis server (rdb_last_bgsave_status=%s): check its disk and logs"
                                    % info.get("rdb_last_bgsave_status"))
            if now != before or int(info.get("rdb_saves", -1)) > saves_before >= 0:
                break
        if time.monotonic() > deadline:
            raise EvidenceError("BGSAVE did not finish within rdb_timeout=%ss (LASTSAVE still %s): raise rdb_timeout or "
                                "leave redis_rdb out of collect" % (timeout, out["lastsave_before"]))
        time.sleep(sleep)
    out["lastsave_after"] = isoformat(now) if hasattr(now, "strftime") else now
    if source and os.path.isfile(source) and os.access(source, os.R_OK):
        with AtomicFile(dest, mode=FILE_MODE, binary=True) as handle, open(source, "rb") as src:
            shutil.copyfileobj(src, handle, CHUNK_BYTES)
        out["copied"] = True
    elif source:
        out["reason"] = "the RDB %s is not readable on this host: it stays on the Redis server" % source
    return out


# --------------------------------------------------------------------------- audit database

def audit_query(layout, user_id, server_id, pgsql, identifier):
    """The principal's audit events in time order (values passed separately)."""
    table = identifier(layout.template("audit_table"))
    column = identifier(layout.template("audit_time_column"))
    conditions, args = [], []
    if user_id:
        conditions.append("e.user_id::text = %s")
        args.append(user_id)
    if server_id:
        conditions.append("e.server_id::text = %s")
        args.append(server_id)
    query = pgsql.SQL("SELECT row_to_json(e)::text FROM {table} e WHERE ({who}) AND e.{col} >= now() - make_interval(hours => %s) "
                      "ORDER BY e.{col}").format(table=table, col=column, who=pgsql.SQL(" OR ".join(conditions)))
    return query, args


def collect_audit_events(conn, layout, user_id, server_id, hours, max_events, path, pgsql, identifier, check_mode=False):
    """Stream the principal's audit events into path (JSON lines); returns {events}. Check mode counts only."""
    query, args = audit_query(layout, user_id, server_id, pgsql, identifier)
    if check_mode:
        with conn.cursor() as cur:
            cur.execute(pgsql.SQL("SELECT count(*) FROM ({q}) AS s").format(q=query), args + [int(hours)])
            return {"events": int(cur.fetchone()[0])}
    count = 0
    with AtomicFile(path, mode=FILE_MODE) as handle:
        with conn.cursor(name="sark_ops_evidence") as cur:
            cur.itersize = AUDIT_BATCH
            cur.execute(query, args + [int(hours)])
            for (row,) in cur:
                count += 1
                if count > max_events:
                    raise SarkLimitError("more than max_events=%d audit events of the principal in %d hours: raise max_events "
                                         "or narrow audit_window_hours (nothing was sealed)" % (max_events, hours))
                handle.write(json.dumps(mask_secrets(json.loads(row)), sort_keys=True, default=str) + "\n")
    return {"events": count}


# --------------------------------------------------------------------------- seal and verify

def read_sums(directory):
    path = os.path.join(directory, SUMS)
    sums = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            digest, sep, name = line.partition("  ")
            if not sep or len(digest) != 64:
                raise EvidenceError("%s line %d is not '<sha256>  <file>': the seal is damaged" % (path, number))
            sums[name] = digest
    return sums


def verify(directory):
    """Recompute every checksum of the seal: {sealed, ok, files, mismatched, missing, unlisted, manifest}."""
    out = {"sealed": False, "ok": False, "files": 0, "mismatched": [], "missing": [], "unlisted": [], "manifest": None}
    manifest_path = os.path.join(directory, MANIFEST)
    if not os.path.isdir(directory) or not os.path.exists(manifest_path):
        return out
    out["sealed"] = True
    with open(manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    out["manifest"] = {k: manifest.get(k) for k in ("sealed_at", "incident_id", "principal", "collected")}
    if not os.path.exists(os.path.join(directory, SUMS)):
        out["missing"].append(SUMS)
        return out
    sums = read_sums(directory)
    listed = {f["path"]: f["sha256"] for f in manifest.get("files", [])}
    if listed != sums:
        out["mismatched"].append("%s and %s disagree" % (SUMS, MANIFEST))
    for name, digest in sorted(sums.items()):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            out["missing"].append(name)
        elif sha256_file(path) != digest:
            out["mismatched"].append(name)
    out["unlisted"] = [name for name in evidence_files(directory) if name not in sums]
    out["files"] = len(sums)
    out["ok"] = not (out["mismatched"] or out["missing"] or out["unlisted"])
    return out


def seal(directory, meta):
    """Checksum every evidence file, write SHA256SUMS and manifest.json, then verify them from disk."""
    files = []
    for rel in evidence_files(directory):
        path = os.path.join(directory, rel)
        stat = os.stat(path)
        files.append({"path": rel, "sha256": sha256_file(path), "size": stat.st_size,
                      "mtime": isoformat(datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc))})
    if not files:
        raise EvidenceError("no evidence file under %s: nothing to seal" % directory)
    manifest = dict(meta, sealed_at=isoformat(utcnow()), algorithm="sha256", files=files)
    atomic_write(os.path.join(directory, SUMS), "".join("%s  %s\n" % (f["sha256"], f["path"]) for f in files), mode=FILE_MODE)
    atomic_write(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=2, sort_keys=True) + "\n", mode=FILE_MODE)
    check = verify(directory)
    if not check["ok"]:
        raise EvidenceError("the evidence under %s does not verify right after sealing (mismatched %s, missing %s, unlisted %s): "
                            "the disk or another writer changed it"
                            % (directory, check["mismatched"], check["missing"], check["unlisted"]), verification=check)
    return manifest, check
