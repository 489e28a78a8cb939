#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_redis_backup
short_description: Back up Redis the way Redis persists (BGSAVE, RDB, multi-part AOF), verify the copy and test-restore it
version_added: 0.3.0
description:
  - O(state=present) - waits (bounded by O(save_timeout)) for a BGSAVE or AOF rewrite someone else started, runs C(BGSAVE)
    and waits until it has finished (C(rdb_bgsave_in_progress) 0 and C(LASTSAVE) advanced - the BGSAVE is sent in a later
    second than the last save, as C(LASTSAVE) counts whole seconds; C(rdb_last_bgsave_status) must be V(ok)), then copies
    the RDB (C(CONFIG GET dir) and C(dbfilename)) into O(backup_dir) as
    C(<name>-<UTC time>.rdb) (mode 0600, whole or not at all), with a SHA-256 checksum (C(.sha256), the C(sha256sum -c) format)
    and a manifest (C(.json)) holding the key counts per database (C(INFO keyspace)) read when the save had finished.
    The counts are exact (C(counts_exact) in RV(backups)) when C(rdb_changes_since_last_save) was 0 then - nothing was
    written since the save's fork.
  - The copy is refused when its C(ctime) (an RDB auxiliary field, from the server's clock) is older than the save just taken -
    the file this host sees is not the one this Redis wrote (another server's directory, a stale copy).
  - When C(appendonly) is V(yes) (O(aof=auto)) Redis restarts from its AOF, not from C(dump.rdb) - so the module also runs
    C(BGREWRITEAOF), waits until C(aof_rewrite_in_progress) and C(aof_rewrite_scheduled) are 0 and C(aof_rewrites) has
    advanced, and copies the Redis 7 multi-part AOF (the manifest and the base and incremental files it names, from
    C(<dir>/<appenddirname>)) as an uncompressed tar C(<name>-<UTC time>.aof.tar) with its checksum and manifest.
  - With O(verify) each new backup is checked - checksum recomputed, size against the manifest, C(redis-check-rdb) (or
    C(redis-check-aof) on the unpacked manifest) - and with O(restore_test) loaded into a scratch C(redis-server) the module
    starts on a Unix socket in a private temporary directory (no TCP port, no save points, no AOF of its own for an RDB) and
    stops by PID (SIGTERM, SIGKILL after 10 s); its C(INFO keyspace) is compared database by database with the counts at the
    save. Keys whose TTL passed in between are reported as explained (C(rdb_last_load_keys_expired)), not as a mismatch.
  - O(state=restore_test) - the same checks and scratch restore for the newest backups (or O(backup_file)); no Redis connection.
  - O(state=prune) - retention only (O(keep), O(max_age_days)); the newest backup of each kind is never deleted, and only files
    this module named are touched.
  - Automates the seed 003 "Backup Procedures - Redis backup" (C(redis-cli BGSAVE) then C(kubectl cp .../dump.rdb)) and the
    "Backup verification" and "Backup status" checks for Redis, the way Redis really works - the runbook copies C(dump.rdb)
    before the BGSAVE has finished, and ignores the AOF that a server with C(--appendonly yes) restarts from.
  - A restore into the live Redis is not done by this module - see the notes for why and for the procedure.
options:
  state:
    description:
      - V(present) takes a new backup (then verifies and prunes), V(restore_test) checks and test-restores existing ones,
        V(prune) applies retention only.
    type: str
    choices: [present, restore_test, prune]
    default: present
  backup_dir:
    description: Directory holding the backups (created with mode 0700 when missing, for V(present)).
    type: path
    required: true
  name:
    description: Prefix of the backup file names, to keep the backups of several Redis servers apart in one directory.
    type: str
    default: redis
  backup_file:
    description: With O(state=restore_test), the backup (C(.rdb) or C(.aof.tar)) to check; otherwise the newest of each kind.
    type: path
  aof:
    description:
      - V(auto) backs up the AOF as well when the server has C(appendonly yes); V(always) fails when it has not;
        V(never) backs up the RDB only.
    type: str
    choices: [auto, always, never]
    default: auto
  verify:
    description: After a backup, check the checksum and run C(redis-check-rdb)/C(redis-check-aof) (and the restore test if O(restore_test)).
    type: bool
    default: true
  restore_test:
    description:
      - With O(state=present), load each new backup into a scratch C(redis-server) and compare the key counts per database.
        The scratch server needs as much memory as the data set. O(state=restore_test) always does.
    type: bool
    default: false
  keep:
    description: Retention - keep the newest this many backups of each kind (RDB, AOF) of O(name).
    type: int
  max_age_days:
    description: Retention - delete backups older than this many days (never the newest of a kind).
    type: float
  reuse_within:
    description:
      - Take no new backup when the newest one of O(name) is younger than this many seconds and still matches its checksum;
        the run then reports C(changed=false) and sends no C(BGSAVE). This is what idempotence means for a backup - a
        retried job or a second run of the same play does not fork the server again. V(0) always takes a new backup.
    type: float
    default: 0
  save_timeout:
    description:
      - Seconds to wait for a save someone else started, then for our C(BGSAVE) (and C(BGREWRITEAOF)) to finish. A save that
        runs past it goes on in the server; the module fails without a backup.
    type: float
    default: 300
  restore_timeout:
    description: Seconds the scratch C(redis-server) may take to load a backup, and C(redis-check-rdb)/C(redis-check-aof) to run.
    type: float
    default: 300
  redis_data_dir:
    description:
      - The server's data directory as this host sees it (a mounted volume, for example). Default - C(CONFIG GET dir), which is
        only right when this module runs on the Redis host.
    type: path
  redis_bin_dir:
    description: Directory of C(redis-server), C(redis-check-rdb) and C(redis-check-aof) (default - the C(PATH)).
    type: path
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Connects, reads the configuration and whether a save is running, and returns the plan (C(BGSAVE), the copy from and
        to, checksum, C(redis-check-rdb), the scratch server's command line, deletions) with C(changed=true); no C(BGSAVE), no
        file. V(restore_test) still reads the files (checksum, C(redis-check-rdb)); the scratch restore is only planned.
  diff_mode:
    support: full
    details:
      - The list of backup files before and after.
  idempotent:
    support: partial
    details:
      - V(prune) and V(restore_test) are idempotent. V(present) takes a new backup on every run (C(changed=true)) unless
        O(reuse_within) finds a recent, intact one.
notes:
  - The module runs where it can read the RDB - on the Redis host, or where its data directory is mounted (O(redis_data_dir)).
    For a Redis it cannot read (a pod, a managed service) it fails and says so; it never copies a file it cannot prove is the
    one just saved.
  - O(redis_cluster) is refused for V(present) - an RDB holds one node's slots; back up each primary with its own task.
  - The user needs C(BGSAVE), C(BGREWRITEAOF), C(LASTSAVE), C(INFO) and C(CONFIG GET) (C(+@admin) or those commands in the ACL).
  - Backups hold every key, sessions and tokens included - keep O(backup_dir) private. Files are created with mode 0600.
  - >-
    Restore into the live Redis stays a documented manual step (see the collection's C(docs/redis-backup.md)): the runbook's
    C(DEBUG RESTART) is disabled by default since Redis 7 (C(enable-debug-command no)), a server with C(appendonly yes) ignores a
    copied C(dump.rdb), and stop - copy - start needs whoever supervises C(redis-server) (systemd, the Kubernetes pod) to start
    it again, which this module cannot do for a server it did not start. O(state=restore_test) proves the backup restores.
seealso:
  - module: sark.ops.sark_redis_backup_info
  - module: sark.ops.sark_redis_info
  - module: sark.ops.sark_pg_backup
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Nightly Redis backup on the Redis host, verified and test-restored, keeping 7
  sark.ops.sark_redis_backup:
    redis_password: "{{ vault_redis_password }}"
    backup_dir: /var/backups/redis
    restore_test: true
    keep: 7
  delegate_to: "{{ redis_host }}"

- name: Backup from a mounted data volume, not repeated when the job is retried within the hour
  sark.ops.sark_redis_backup:
    redis_host: redis.rust-security.svc
    redis_data_dir: /mnt/redis-pvc
    backup_dir: /var/backups/redis
    name: rsp-redis
    reuse_within: 3600

- name: Weekly backup verification - checksum, redis-check-rdb and a scratch restore of the newest backups
  sark.ops.sark_redis_backup:
    state: restore_test
    backup_dir: /var/backups/redis

- name: What would retention delete?
  sark.ops.sark_redis_backup:
    state: prune
    backup_dir: /var/backups/redis
    keep: 7
  check_mode: true
'''

RETURN = r'''
backups:
  description:
    - One entry per backup taken or reused - C(kind) (V(rdb) or V(aof)), C(file), C(path), C(source), C(size_bytes), C(sha256),
      C(created_at), C(reused), C(keyspace) (per database C(keys) and C(expires) at the save), C(counts_exact) and
      C(verification).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "rdb", "file": "redis-20260102T030405.123Z.rdb", "size_bytes": 48213, "reused": false, "sha256": "5f0c...",
            "keyspace": {"db0": {"keys": 120, "expires": 40}}, "counts_exact": true, "verification": {"ok": true}}]
verifications:
  description:
    - One entry per backup checked - C(file), C(kind), C(ok), C(checksum) (C(expected), C(actual), C(ok)), C(size),
      C(check_tool) (C(tool), C(ok), C(rc), C(summary)) and C(restore_test) (C(ok), C(pid) of the scratch server, C(stopped),
      C(exact), C(databases) with C(db), C(source_keys), C(restored_keys), C(match) per database, C(mismatches),
      C(expired_at_load)).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "redis-20260102T030405.123Z.rdb", "ok": true, "check_tool": {"tool": "redis-check-rdb", "ok": true, "rc": 0}}]
save:
  description:
    - The BGSAVE of this run - C(waited_for_running_s) and C(running_before) (a save someone else had started), C(duration_ms),
      C(server_time_at_start), C(lastsave), C(rdb_saves), C(keyspace), C(changes_since_save), C(counts_exact).
  returned: with state=present
  type: dict
  sample: {"waited_for_running_s": 0.0, "running_before": [], "lastsave": 1767323045, "counts_exact": true}
source:
  description:
    - The server backed up - C(target), C(redis_version), C(data_dir) (and C(data_dir_from)), C(rdb_path), C(appendonly),
      C(aof_dir), C(readable) (whether this host can read the data directory).
  returned: with state=present, when the server was asked
  type: dict
  sample: {"target": "redis://localhost:6379/0", "rdb_path": "/var/lib/redis/dump.rdb", "appendonly": false, "readable": true}
retention:
  description: C(deleted) (file, kind and reason each) and C(kept) per C(<name>.<kind>).
  returned: always
  type: dict
  sample: {"deleted": [{"file": "redis-20260101T030405.000Z.rdb", "kind": "rdb", "reason": "beyond the newest 7"}], "kept": {"redis.rdb": 7}}
catalogue:
  description: Per C(<name>.<kind>), the backups after the run - C(count), C(newest), C(newest_age_s), C(total_bytes).
  returned: always
  type: dict
  sample: {"redis.rdb": {"count": 7, "newest": "redis-20260102T030405.123Z.rdb", "newest_age_s": 3600.0, "total_bytes": 337491}}
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
backup_dir:
  description: The backup directory.
  returned: always
  type: str
  sample: /var/backups/redis
partial_files:
  description: Leftovers of interrupted copies in O(backup_dir) (never deleted automatically).
  returned: always
  type: list
  elements: str
  sample: []
planned_actions:
  description: What this run does or would do, in order (C(BGSAVE), C(copy), C(checksum), C(restore_test) with the scratch command line, C(delete)).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "BGSAVE", "target": "redis://localhost:6379/0", "timeout_s": 300}]
executed_actions:
  description: What ran, from the evidence record (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "copy", "source": "/var/lib/redis/dump.rdb", "file": "/var/backups/redis/redis-20260102T030405.123Z.rdb"}]
diff:
  description: The backup files before and after (with C(--diff)).
  returned: when the files change and diff mode is on
  type: dict
  sample: {"before": {"backups": []}, "after": {"backups": ["redis-20260102T030405.123Z.rdb"]}}
evidence:
  description: The audit record - options asked for (secrets masked), planned and executed actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._backup import newest_paths
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec, require_redis
from ansible_collections.sark.ops.plugins.module_utils._redis_backup import (
    RedisBackup,
    catalogue,
    check_directory,
    files_in,
    validate_params,
)


def run(module):
    params = module.params
    validate_params(params)
    job = RedisBackup(module)
    before = files_in(params["backup_dir"])
    try:
        result = job.reporting(lambda: run_state(module, job, before))
    finally:
        if job.client is not None:
            job.client.close()
    result.update(module.actions())
    return result


def take_backups(module, job):
    """The RDB (BGSAVE, copy), then the AOF when the server has one: each reused instead when reuse_within finds it."""
    params = module.params
    taken = []
    rdb = job.reusable("rdb")
    if rdb is None:
        job.inspect_source()
        job.result["save"] = job.bgsave()
        rdb = job.copy_rdb(job.result["save"])
    taken.append(rdb)
    if params["aof"] == "never":
        return taken
    aof = job.reusable("aof")
    if aof is None:
        if not job.source:
            job.inspect_source()
        if job.source["appendonly"]:
            job.bgrewriteaof()
            aof = job.copy_aof()
        elif params["aof"] == "always":
            raise SarkPreconditionError("aof=always, but the Redis at %s has appendonly no: there is no AOF to back up. The RDB "
                                        "backup %s stands." % (job.source["target"], rdb["file"]))
    if aof is not None:
        taken.append(aof)
    return taken


def run_state(module, job, before):
    params = module.params
    state, directory = params["state"], params["backup_dir"]
    check_directory(module, job, directory, state)
    changed = False
    if state == "present":
        taken = take_backups(module, job)
        changed = any(not entry["reused"] for entry in taken)
        if params["verify"]:
            for entry in taken:
                if module.check_mode and not entry["reused"]:
                    job.plan("redis-check-aof" if entry["kind"] == "aof" else "redis-check-rdb", file=entry["path"])
                    if params["restore_test"]:
                        job.plan("restore_test", file=entry["path"], server="scratch redis-server on a Unix socket, stopped by pid")
                    continue
                entry["verification"] = job.verify(entry["path"], params["restore_test"])
        job.retention([params["name"]], protect={entry["path"] for entry in taken})
    elif state == "restore_test":
        require_redis()
        paths = [params["backup_file"]] if params["backup_file"] else newest_paths(
            catalogue(directory, [params["name"]]), " named %s-*" % params["name"], directory)
        for path in paths:
            job.verify(path, True)
    else:
        job.retention([params["name"]])
    if state != "present":
        job.result.pop("save")
    if job.source:
        job.result["source"] = job.source
    return job.finish(state, changed, before)


def main():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "restore_test", "prune"]),
        backup_dir=dict(type="path", required=True),
        name=dict(type="str", default="redis"),
        backup_file=dict(type="path"),
        aof=dict(type="str", default="auto", choices=["auto", "always", "never"]),
        verify=dict(type="bool", default=True),
        restore_test=dict(type="bool", default=False),
        keep=dict(type="int"),
        max_age_days=dict(type="float"),
        reuse_within=dict(type="float", default=0),
        save_timeout=dict(type="float", default=300),
        restore_timeout=dict(type="float", default=300),
        redis_data_dir=dict(type="path"),
        redis_bin_dir=dict(type="path"),
    )
    sark_main(run, spec, (redis_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
