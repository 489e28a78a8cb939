#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_redis_info
short_description: Health and statistics of the Redis that backs SARK
version_added: 0.1.0
description:
  - Pings Redis and gathers the figures the runbooks read with C(redis-cli) - server version, memory
    (used, peak, fragmentation, maxmemory), C(DBSIZE) and the keyspace, cache hit ratio, connected
    clients, replication role and the slow log - and judges them against the runbooks' thresholds.
  - Automates "Redis Health Check", "Cache Statistics", "Monitor Redis" (slow log) of the operations runbook,
    step 6 of the daily checklist and the Redis checks of the incident playbooks.
  - An unreachable Redis, a wrong password or a TLS problem is reported (RV(is_available=false),
    RV(error), RV(error_kind)), not a task failure, unless O(fail_on_unavailable=true).
  - With O(redis_cluster=true) every primary is asked and RV(nodes) holds each one's figures.
options:
  filter:
    description:
      - Limit the subsets gathered. Shell-style wildcards are allowed; a leading V(!) excludes.
      - Subsets are V(server), V(memory), V(keyspace), V(stats), V(clients), V(replication) and V(slowlog).
      - Unknown names are refused.
    type: list
    elements: str
    default: []
  slowlog_count:
    description: How many slow log entries to return (C(SLOWLOG GET n)). Arguments past the key are masked.
    type: int
    default: 10
  hit_ratio_warning:
    description: Cache hit ratio (0-1) under which the assessment warns (the latency playbook uses 0.70).
    type: float
    default: 0.7
  hit_ratio_min_lookups:
    description: Judge the hit ratio only after this many lookups (hits + misses); fewer say nothing.
    type: int
    default: 1000
  memory_warning_ratio:
    description: Share of C(maxmemory) in use above which the assessment warns.
    type: float
    default: 0.8
  fail_on_unavailable:
    description: Fail the task when Redis cannot be reached instead of reporting RV(is_available=false).
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Redis health check
  sark.ops.sark_redis_info:
    redis_host: redis.sark.svc
    redis_password: "{{ vault_redis_password }}"
  register: redis

- name: Only memory and the hit ratio
  sark.ops.sark_redis_info:
    filter: [memory, stats]

- name: Everything but the slow log, over TLS with an ACL user
  sark.ops.sark_redis_info:
    redis_host: redis.sark.svc
    redis_port: 6380
    redis_tls: true
    redis_tls_ca_certs: /etc/ssl/sark-ca.pem
    redis_username: ops
    redis_password: "{{ vault_redis_ops_password }}"
    filter: ["!slowlog"]
'''

RETURN = r'''
is_available:
  description: Whether Redis answered PING.
  returned: always
  type: bool
  sample: true
error:
  description: Why Redis is not available.
  returned: when is_available is false
  type: str
  sample: "Cannot connect to Redis at redis://127.0.0.1:6390/0: Error 111 connecting to 127.0.0.1:6390. Connection refused."
error_kind:
  description: V(unreachable), V(auth), V(tls), V(timeout) or V(protocol).
  returned: when is_available is false
  type: str
  sample: auth
ping_ms:
  description: Round trip of the PING in milliseconds.
  returned: when is_available
  type: float
  sample: 0.21
server:
  description: Version, mode, uptime, port and OS of the server.
  returned: when selected
  type: dict
  sample: {"redis_version": "7.0.15", "redis_mode": "standalone", "uptime_in_seconds": 1234}
memory:
  description: Used, peak and RSS memory (bytes and human), fragmentation ratio, maxmemory and policy, share of maxmemory used.
  returned: when selected
  type: dict
  sample: {"used_memory": 1048576, "used_memory_human": "1.00M", "mem_fragmentation_ratio": 1.2, "maxmemory": 0}
keyspace:
  description: C(dbsize) of the selected database and key/expiry counts per database.
  returned: when selected
  type: dict
  sample: {"dbsize": 42, "databases": {"db0": {"keys": 42, "expires": 10, "avg_ttl": 0}}}
stats:
  description: Keyspace hits/misses, the hit ratio (null before any lookup), ops per second, evicted and expired keys.
  returned: when selected
  type: dict
  sample: {"keyspace_hits": 1000000, "keyspace_misses": 50000, "hit_ratio": 0.952}
clients:
  description: Connected, blocked and maximum clients.
  returned: when selected
  type: dict
  sample: {"connected_clients": 12, "blocked_clients": 0, "maxclients": 10000}
replication:
  description: Role and replica count (and link status on a replica).
  returned: when selected
  type: dict
  sample: {"role": "master", "connected_slaves": 0}
slowlog:
  description: The slow log length and newest entries (id, start time, duration in microseconds, command with arguments past the key masked).
  returned: when selected
  type: dict
  sample: {"length": 1, "entries": [{"id": 1, "duration_us": 15000, "command": ["KEYS", "session:*"]}]}
nodes:
  description: With O(redis_cluster=true), the selected subsets per primary.
  returned: when redis_cluster
  type: dict
assessment:
  description: C(verdict) (V(ok), V(warning), V(critical)) and the C(findings) behind it.
  returned: always
  type: dict
  sample: {"verdict": "warning", "findings": ["cache hit ratio 0.52 is below 0.70"]}
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import time

from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkValidationError,
    match_filter,
    sark_main,
    unknown_filter_entries,
)
from ansible_collections.sark.ops.plugins.module_utils._redis import (
    classify_error,
    connect,
    describe_target,
    primaries,
    redis_argument_spec,
    to_text,
)

SUBSETS = ("server", "memory", "keyspace", "stats", "clients", "replication", "slowlog")
SERVER_FIELDS = ("redis_version", "redis_mode", "os", "arch_bits", "tcp_port", "uptime_in_seconds", "process_id",
                 "executable", "config_file")
MEMORY_FIELDS = ("used_memory", "used_memory_human", "used_memory_peak", "used_memory_peak_human", "used_memory_rss",
                 "used_memory_rss_human", "mem_fragmentation_ratio", "maxmemory", "maxmemory_human", "maxmemory_policy")
STATS_FIELDS = ("keyspace_hits", "keyspace_misses", "instantaneous_ops_per_sec", "total_commands_processed",
                "evicted_keys", "expired_keys", "rejected_connections", "total_connections_received")
CLIENT_FIELDS = ("connected_clients", "blocked_clients", "maxclients", "client_recent_max_input_buffer")
REPLICATION_FIELDS = ("role", "connected_slaves", "master_host", "master_port", "master_link_status",
                      "master_last_io_seconds_ago", "master_repl_offset")


def pick(info, fields):
    return {field: info[field] for field in fields if field in info}


def slowlog_entries(client, count):
    entries = []
    for entry in client.slowlog_get(count):
        command = entry.get("command")
        args = [to_text(part) for part in (command.split(b" ") if isinstance(command, bytes) else (command or "").split(" "))]
        # the command name and its key tell the story; values may be session payloads or tokens
        shown = args[:2] + (["<%d more arguments masked>" % (len(args) - 2)] if len(args) > 2 else [])
        entries.append({"id": entry.get("id"), "start_time": entry.get("start_time"),
                        "duration_us": entry.get("duration"), "command": shown,
                        "client_name": to_text(entry.get("client_name")) or None})
    return {"length": client.slowlog_len(), "entries": entries}


def gather_node(client, subsets, params):
    info = client.info("everything")
    if "clients" in subsets:
        try:
            info["maxclients"] = int(client.config_get("maxclients").get("maxclients", 0))
        except Exception:  # pylint: disable=broad-except
            pass  # CONFIG may be renamed or forbidden by ACL: report what INFO has
    facts = {}
    if "server" in subsets:
        facts["server"] = pick(info, SERVER_FIELDS)
    if "memory" in subsets:
        memory = pick(info, MEMORY_FIELDS)
        if memory.get("maxmemory"):
            memory["maxmemory_used_ratio"] = round(float(memory.get("used_memory", 0)) / memory["maxmemory"], 4)
        facts["memory"] = memory
    if "keyspace" in subsets:
        databases = {name: value for name, value in info.items() if name.startswith("db") and isinstance(value, dict)}
        facts["keyspace"] = {"dbsize": client.dbsize(), "databases": databases}
    if "stats" in subsets:
        stats = pick(info, STATS_FIELDS)
        hits, misses = stats.get("keyspace_hits", 0), stats.get("keyspace_misses", 0)
        stats["hit_ratio"] = round(float(hits) / (hits + misses), 4) if hits + misses else None
        facts["stats"] = stats
    if "clients" in subsets:
        facts["clients"] = pick(info, CLIENT_FIELDS)
    if "replication" in subsets:
        facts["replication"] = pick(info, REPLICATION_FIELDS)
    if "slowlog" in subsets:
        facts["slowlog"] = slowlog_entries(client, params["slowlog_count"])
    return facts


def assess(facts, params):
    findings = []
    critical = []
    memory = facts.get("memory") or {}
    ratio = memory.get("maxmemory_used_ratio")
    if ratio is not None and ratio >= 0.95:
        critical.append("memory at %.0f%% of maxmemory" % (ratio * 100))
    elif ratio is not None and ratio >= params["memory_warning_ratio"]:
        findings.append("memory at %.0f%% of maxmemory (warning at %.0f%%)" % (ratio * 100, params["memory_warning_ratio"] * 100))
    frag = memory.get("mem_fragmentation_ratio")
    if frag is not None and frag > 1.5 and memory.get("used_memory", 0) > 64 * 1024 * 1024:
        findings.append("memory fragmentation ratio %.2f is above 1.5" % frag)
    stats = facts.get("stats") or {}
    lookups = stats.get("keyspace_hits", 0) + stats.get("keyspace_misses", 0)
    if stats.get("hit_ratio") is not None and lookups >= params["hit_ratio_min_lookups"] \
            and stats["hit_ratio"] < params["hit_ratio_warning"]:
        findings.append("cache hit ratio %.2f is below %.2f" % (stats["hit_ratio"], params["hit_ratio_warning"]))
    if stats.get("rejected_connections"):
        findings.append("%d connections were rejected (maxclients reached)" % stats["rejected_connections"])
    clients = facts.get("clients") or {}
    if clients.get("maxclients") and clients.get("connected_clients", 0) >= 0.9 * clients["maxclients"]:
        critical.append("%d of %d client slots in use" % (clients["connected_clients"], clients["maxclients"]))
    replication = facts.get("replication") or {}
    if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
        critical.append("replica link to its primary is %s" % replication.get("master_link_status"))
    verdict = "critical" if critical else ("warning" if findings else "ok")
    return {"verdict": verdict, "findings": critical + findings}


def run(module):
    params = module.params
    unknown = unknown_filter_entries(SUBSETS, params["filter"])
    if unknown:
        raise SarkValidationError("filter: unknown subset(s) %s; known subsets: %s" % (", ".join(unknown), ", ".join(SUBSETS)))
    if params["slowlog_count"] < 0:
        raise SarkValidationError("slowlog_count must be 0 or more")
    subsets = match_filter(SUBSETS, params["filter"])
    target = describe_target(params)
    started = time.monotonic()
    try:
        client = connect(params)
    except SarkConnectionError as exc:
        if params["fail_on_unavailable"]:
            raise
        return {"is_available": False, "error": exc.msg, "error_kind": exc.kind, "target": target,
                "assessment": {"verdict": "critical", "findings": ["Redis unavailable: %s" % exc.kind]}}
    ping_ms = round((time.monotonic() - started) * 1000.0, 3)
    result = {"is_available": True, "target": target, "ping_ms": ping_ms, "subsets": subsets}
    try:
        if params["redis_cluster"]:
            nodes = {}
            for name, node in primaries(client):
                nodes[name] = gather_node(node, subsets, params)
                module.evidence.count("nodes")
            result["nodes"] = nodes
            first = next(iter(nodes.values()), {})
            result.update(first)
            if "keyspace" in subsets:
                result["keyspace"] = {"dbsize": sum(n["keyspace"]["dbsize"] for n in nodes.values()), "databases": {}}
            findings = []
            verdicts = []
            for name, facts in nodes.items():
                node_assessment = assess(facts, params)
                verdicts.append(node_assessment["verdict"])
                findings += ["%s: %s" % (name, f) for f in node_assessment["findings"]]
            verdict = "critical" if "critical" in verdicts else ("warning" if "warning" in verdicts else "ok")
            result["assessment"] = {"verdict": verdict, "findings": findings}
        else:
            result.update(gather_node(client, subsets, params))
            module.evidence.count("nodes")
            result["assessment"] = assess(result, params)
    except Exception as exc:  # pylint: disable=broad-except
        raise classify_error(exc, params) from exc
    return result


def main():
    spec = dict(
        filter=dict(type="list", elements="str", default=[]),
        slowlog_count=dict(type="int", default=10),
        hit_ratio_warning=dict(type="float", default=0.7),
        hit_ratio_min_lookups=dict(type="int", default=1000),
        memory_warning_ratio=dict(type="float", default=0.8),
        fail_on_unavailable=dict(type="bool", default=False),
    )
    sark_main(run, spec, (redis_argument_spec, layout_argument_spec))


if __name__ == "__main__":
    main()
