#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_evidence
short_description: Preserve the evidence of a SARK security incident with SHA-256 checksums, and verify it
version_added: 0.3.0
description:
  - Automates "Preserve evidence (DO NOT modify logs/systems yet)" of the incident runbook (002 playbook 6) and the evidence
    collection of the security procedures (003) for SARK - before anything is isolated or revoked.
  - O(state=present) writes, into the evidence directory O(dir), what the compromised principal left in Redis (C(redis-keys.jsonl) -
    its session and rate-limit keys with type, TTL and value; secret-named fields such as session tokens masked), a full Redis snapshot
    (C(BGSAVE), waited for through C(LASTSAVE), copied as C(redis-dump.rdb) when this host can read the server's RDB file), and the
    principal's audit events of the last O(audit_window_hours) hours (C(audit-events.jsonl), streamed through a server-side cursor).
  - Then it seals every file under O(dir) - these and whatever was written there before (database dumps of
    M(sark.ops.sark_pg_backup), pod logs) - with a C(SHA256SUMS) file (C(sha256sum -c SHA256SUMS) checks it) and a JSON C(manifest.json)
    (path, size, SHA-256 and modification time of each file, the principal, the incident id), re-reads both and verifies every checksum.
    A directory already sealed is not collected again (idempotent); one whose seal does not verify is refused.
  - O(state=verified) only recomputes the checksums of a sealed directory (changes nothing); RV(verification.ok) says whether the
    evidence is intact.
  - Collecting changes nothing on the servers (reads, and a C(BGSAVE) that writes the server's own snapshot file).
options:
  state:
    description: V(present) collects and seals; V(verified) only verifies an existing seal.
    type: str
    choices: [present, verified]
    default: present
  dir:
    description: The evidence directory (created with mode 0700; every file written with mode 0600).
    type: path
    required: true
  user_id:
    description: The compromised user's id (for its Redis keys and audit events).
    type: str
  server_id:
    description: The compromised MCP server's id (for its audit events).
    type: str
  collect:
    description:
      - What O(state=present) collects before sealing - V(redis_keys), V(redis_rdb), V(audit_events).
      - V(redis_keys) needs O(user_id); V(audit_events) needs O(user_id) or O(server_id).
    type: list
    elements: str
    default: [redis_keys, redis_rdb, audit_events]
  incident_id:
    description: The incident's id, recorded in the manifest.
    type: str
  audit_window_hours:
    description: How many hours of the principal's audit events are kept (1-8760).
    type: int
    default: 24
  max_events:
    description: The most audit events one run writes; more fails before sealing (narrow the window or raise it).
    type: int
    default: 100000
  max_keys:
    description: The most Redis keys of the user one run writes; more fails before sealing.
    type: int
    default: 10000
  rdb_timeout:
    description: Seconds to wait for the C(BGSAVE) to finish.
    type: int
    default: 60
  audit_database:
    description: The audit database (default - the layout's, C(sark_audit)).
    type: str
extends_documentation_fragment:
  - sark.ops.layout
  - sark.ops.postgres
  - sark.ops.redis
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - With O(state=present), counts the keys and audit events that would be written and reads the RDB location; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A sealed directory that verifies is left as it is (C(changed=false)).
  action_group:
    description: Use C(group/sark.ops.postgres) and C(group/sark.ops.redis) in C(module_defaults).
    support: full
    membership:
      - sark.ops.all
      - sark.ops.postgres
      - sark.ops.redis
notes:
  - Session tokens and other secret-named fields are masked in the evidence (C(********)); the keys, TTLs and every other field are kept.
  - Where the Redis server refuses C(CONFIG GET) or C(BGSAVE) (managed Redis), RV(redis_rdb.reason) says so and the snapshot stays on
    the server; the rest is still collected and sealed.
seealso:
  - module: sark.ops.sark_pg_backup
  - module: sark.ops.sark_session_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Preserve the evidence of a compromised user (after the database dumps were written to the same directory)
  sark.ops.sark_evidence:
    dir: /var/tmp/sark-ops/incidents/INC-2026-12-01-security/evidence
    user_id: user-123
    incident_id: INC-2026-12-01-security
  register: evidence

- name: Check the evidence later (nothing is changed)
  sark.ops.sark_evidence:
    state: verified
    dir: /var/tmp/sark-ops/incidents/INC-2026-12-01-security/evidence
  register: check
  failed_when: not check.verification.ok
'''

RETURN = r'''
sealed:
  description: Whether O(dir) carries a seal after the run (in check mode - before it).
  returned: always
  type: bool
  sample: true
redis_keys:
  description: The user's Redis keys written (or counted in check mode).
  returned: when collected
  type: dict
  sample: {"count": 5, "by_kind": {"session": 3, "rate_limit": 2}, "file": "redis-keys.jsonl"}
  contains:
    count:
      description: How many keys.
      type: int
      returned: always
    by_kind:
      description: Keys per kind (V(session), V(rate_limit)).
      type: dict
      returned: always
    file:
      description: The file under O(dir).
      type: str
      returned: unless check mode
redis_rdb:
  description: The Redis snapshot.
  returned: when collected
  type: dict
  sample: {"lastsave_before": 1764600000, "lastsave_after": 1764600300, "rdb_source": "/var/lib/redis/dump.rdb", "copied": true,
           "reason": null, "file": "redis-dump.rdb"}
  contains:
    lastsave_before:
      description: C(LASTSAVE) before the C(BGSAVE).
      type: raw
      returned: always
    lastsave_after:
      description: C(LASTSAVE) after it (null in check mode or when refused).
      type: raw
      returned: always
    rdb_source:
      description: The server's RDB file (C(CONFIG GET dir) and C(dbfilename)), null when CONFIG is refused.
      type: str
      returned: always
    copied:
      description: Whether the RDB was copied into O(dir).
      type: bool
      returned: always
    reason:
      description: Why the snapshot was not taken or not copied (null when it was).
      type: str
      returned: always
audit_events:
  description: The principal's audit events written (or counted).
  returned: when collected
  type: dict
  sample: {"events": 14, "file": "audit-events.jsonl", "window_hours": 24}
manifest:
  description: The seal - sealed_at, incident_id, principal, collected, and each file's path, sha256, size and mtime.
  returned: when O(dir) is sealed (not in check mode unless it already was)
  type: dict
  sample: {"sealed_at": "2026-12-01T10:05:00.000000Z", "incident_id": "INC-1", "principal": {"user_id": "user-123"},
           "files": [{"path": "redis-keys.jsonl", "sha256": "9f86d0...", "size": 812, "mtime": "2026-12-01T10:04:59.000000Z"}]}
verification:
  description: The checksums recomputed from disk.
  returned: always
  type: dict
  sample: {"sealed": true, "ok": true, "files": 6, "mismatched": [], "missing": [], "unlisted": []}
  contains:
    sealed:
      description: Whether a manifest exists.
      type: bool
      returned: always
    ok:
      description: Every listed file exists and matches, and no file is unlisted.
      type: bool
      returned: always
    files:
      description: Files listed in C(SHA256SUMS).
      type: int
      returned: always
    mismatched:
      description: Files whose checksum differs.
      type: list
      elements: str
      returned: always
    missing:
      description: Listed files that are gone.
      type: list
      elements: str
      returned: always
    unlisted:
      description: Files under O(dir) the seal does not cover.
      type: list
      elements: str
      returned: always
sums_file:
  description: Path of C(SHA256SUMS).
  returned: always
  type: str
  sample: /var/tmp/sark-ops/incidents/INC-1/evidence/SHA256SUMS
manifest_file:
  description: Path of C(manifest.json).
  returned: always
  type: str
  sample: /var/tmp/sark-ops/incidents/INC-1/evidence/manifest.json
msg:
  description: What was done.
  returned: always
  type: str
  sample: Preserved 5 Redis keys, the RDB and 14 audit events; sealed 6 files (SHA256SUMS verified)
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

import os

from ansible_collections.sark.ops.plugins.module_utils import _evidence as ev
from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._postgres import connect as pg_connect
from ansible_collections.sark.ops.plugins.module_utils._postgres import identifier, pgsql, postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis import connect as redis_connect
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeySweeper, redis_errors


def run(module):
    params = module.params
    ev.validate(params)
    directory = os.path.abspath(params["dir"])
    result = {"sums_file": os.path.join(directory, ev.SUMS), "manifest_file": os.path.join(directory, ev.MANIFEST)}
    existing = ev.verify(directory)
    if params["state"] == "verified" or existing["sealed"]:
        result.update(sealed=existing["sealed"], verification=existing, manifest=existing["manifest"])
        if params["state"] == "present" and not existing["ok"]:
            raise SarkPreconditionError("%s is sealed but does not verify (mismatched %s, missing %s, unlisted %s): the evidence was "
                                        "changed after sealing. Keep it as it is for the investigators and collect into a new dir."
                                        % (directory, existing["mismatched"], existing["missing"], existing["unlisted"]),
                                        verification=existing)
        if existing["sealed"]:
            result["msg"] = "%s is sealed: %d files, %s" % (directory, existing["files"],
                                                            "every checksum verifies" if existing["ok"] else "the seal does NOT verify")
        else:
            result["msg"] = "%s holds no sealed evidence" % directory
        return result

    layout = Layout.from_params(params)
    collect = params["collect"]
    user_id, server_id = params.get("user_id"), params.get("server_id")
    check = module.check_mode
    if not check:
        ev.prepare_dir(directory)
    if "redis_keys" in collect or "redis_rdb" in collect:
        client = redis_connect(params)
        sweeper = KeySweeper.from_params(client, params)
        if "redis_keys" in collect and user_id:
            path = os.path.join(directory, ev.REDIS_KEYS_FILE)
            module.evidence.plan("write", file=ev.REDIS_KEYS_FILE, what="Redis keys of user %s" % user_id)
            with redis_errors(params, "reading the keys of user %s" % user_id):
                result["redis_keys"] = ev.collect_redis_keys(client, sweeper, layout, user_id, path, params["max_keys"], check)
            if not check:
                result["redis_keys"]["file"] = ev.REDIS_KEYS_FILE
                module.evidence.executed("write", file=ev.REDIS_KEYS_FILE, keys=result["redis_keys"]["count"])
        if "redis_rdb" in collect:
            module.evidence.plan("bgsave", file=ev.REDIS_RDB_FILE)
            with redis_errors(params, "taking the Redis snapshot (BGSAVE)"):
                result["redis_rdb"] = ev.redis_snapshot(client, os.path.join(directory, ev.REDIS_RDB_FILE), params["rdb_timeout"], check)
            if not check and result["redis_rdb"]["copied"]:
                result["redis_rdb"]["file"] = ev.REDIS_RDB_FILE
                module.evidence.executed("bgsave", file=ev.REDIS_RDB_FILE)
            if result["redis_rdb"]["reason"]:
                module.warn("Redis snapshot: %s" % result["redis_rdb"]["reason"])
    if "audit_events" in collect and (user_id or server_id):
        database = params.get("audit_database") or layout.template("audit_database")
        conn = pg_connect(params, dbname=database, module_name="sark_evidence", autocommit=False)
        try:
            path = os.path.join(directory, ev.AUDIT_FILE)
            module.evidence.plan("write", file=ev.AUDIT_FILE, what="audit events of the principal")
            result["audit_events"] = ev.collect_audit_events(conn, layout, user_id, server_id, params["audit_window_hours"],
                                                             params["max_events"], path, pgsql, identifier, check)
        finally:
            conn.rollback()
            conn.close()
        result["audit_events"]["window_hours"] = params["audit_window_hours"]
        if not check:
            result["audit_events"]["file"] = ev.AUDIT_FILE
            module.evidence.executed("write", file=ev.AUDIT_FILE, events=result["audit_events"]["events"])
    if check:
        result.update(sealed=False, verification=existing, changed=True,
                      msg="Would preserve the evidence of %s into %s and seal it" % (_who(user_id, server_id), directory))
        return result
    principal = {k: v for k, v in (("user_id", user_id), ("server_id", server_id)) if v}
    collected = {k: dict(result[k].items()) for k in ("redis_keys", "redis_rdb", "audit_events") if k in result}
    manifest, verification = ev.seal(directory, {"incident_id": params.get("incident_id"), "principal": principal,
                                                 "layout": layout.name, "collected": collected})
    module.evidence.executed("seal", files=len(manifest["files"]))
    result.update(changed=True, sealed=True, manifest=manifest, verification=verification)
    result["msg"] = "Preserved the evidence of %s: sealed %d files under %s (SHA256SUMS and manifest.json verified)" % (
        _who(user_id, server_id), len(manifest["files"]), directory)
    return result


def _who(user_id, server_id):
    return " and ".join(p for p in (("user %s" % user_id) if user_id else "", ("server %s" % server_id) if server_id else "") if p) \
        or "the Redis snapshot"


def main():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "verified"]),
        dir=dict(type="path", required=True),
        user_id=dict(type="str"),
        server_id=dict(type="str"),
        collect=dict(type="list", elements="str", default=["redis_keys", "redis_rdb", "audit_events"]),
        incident_id=dict(type="str"),
        audit_window_hours=dict(type="int", default=24),
        max_events=dict(type="int", default=100000),
        max_keys=dict(type="int", default=10000, no_log=False),
        rdb_timeout=dict(type="int", default=60),
        audit_database=dict(type="str"),
    )
    sark_main(run, spec, (layout_argument_spec, postgres_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
