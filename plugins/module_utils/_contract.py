# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which SARK layout a live deployment follows, from its API routes, PostgreSQL schema and Redis key names (private).

Each probe yields signals (name, layout it points to or None, evidence). The verdict per runbook step
(docs/runbook-map.md IDs) follows from the detected layout and the drift table of the SARK data contract.
"""

import fnmatch

from ansible_collections.sark.ops.plugins.module_utils._redis import to_text

# signal name -> (what the runbook layout has, what sark_v2 has)
ROUTE_SIGNALS = {
    "users_api": ("/api/v1/users", None),
    "servers_route_slash": ("/api/v1/servers", "/api/v1/servers/"),
    "server_delete": ("/api/v1/servers/{server_id}", None),
    "bulk_status": (None, "/api/v1/bulk/servers/status"),
    "export": (None, "/api/v1/export/servers.json"),
    "policies": ("/api/v1/policies", "/api/v1/policy/list"),
    "announce": ("/api/v1/admin/announce", None),
    "health_probes": (None, "/health/ready"),
}
REDIS_PATTERNS = {
    "runbook": ["session:user:*", "ratelimit:*", "policy:version:*", "siem:*", "circuit:*"],
    "sark_v2": ["user_sessions:*", "rate_limit:*"],
}

# step ids -> (procedure, runbook verdict, sark_v2 verdict, what to use instead under sark_v2)
STEPS = [
    ("sessions_keys", ["000-26", "000-28", "000-43", "000-44", "000-45", "000-46", "000-47", "000-48"], "different",
     "STRING session:{session_id} + SET user_sessions:{user_id} (sark_session)"),
    ("rate_limit_keys", ["000-53", "000-54", "000-55", "000-56"], "different", "ZSET rate_limit:{identifier} (sark_ratelimit)"),
    ("policy_cache_version", ["000-41"], "no-op", "no policy:version:* keys; decisions only (sark_cache)"),
    ("policy_cache_decisions", ["000-40", "000-77", "002-25"], "different", "policy:decision:{user}:{action}:{resource}:{ctx16} JSON"),
    ("siem_queue", ["000-60", "000-62", "000-63"], "no-op", "in process memory: nothing in Redis"),
    ("siem_breaker", ["000-64", "002-24"], "no-op", "in each worker's memory: restart the workers"),
    ("users_api", ["000-22", "000-24", "000-25", "000-29"], "no-op", "no users API: sark_user via=database"),
    ("users_table", ["000-23", "000-27", "000-57"], "different", "users(email, full_name, hashed_password, role); no rate_limit_per_minute"),
    ("server_list", ["000-30", "000-34"], "different", "GET /api/v1/servers/ (limit<=200) or GET /api/v1/export/servers.json"),
    ("server_register", ["000-31", "000-35"], "different", "POST /api/v1/servers/ {name, transport, tools}; CSRF"),
    ("server_delete", ["000-32", "001-27"], "different", "PATCH /api/v1/bulk/servers/status"),
    ("servers_table", ["000-33", "002-91"], "different", "table mcp_servers (+ mcp_tools)"),
    ("policy_evaluations_table", ["000-42"], "no-op", "no policy_evaluations table; audit_events.decision"),
    ("announce", ["000-49"], "no-op", "no announce endpoint; sark_notify webhook"),
    ("health_shape", ["000-01", "000-59"], "different", "{dependencies, overall_healthy}; no siem component"),
    ("csrf", ["000-31", "000-32", "000-35", "001-27"], "different", "X-CSRF-Token header = csrf_token cookie on writes"),
    ("trailing_slash", ["000-95", "000-30"], "different", "307 to the trailing-slash form: follow redirects"),
]


def route_signals(paths):
    """Signals from the set of OpenAPI paths."""
    signals = []
    for name, (runbook, v2) in sorted(ROUTE_SIGNALS.items()):
        has_rb = runbook is not None and runbook in paths
        has_v2 = v2 is not None and v2 in paths
        if has_rb and not has_v2:
            points = "runbook"
        elif has_v2 and not has_rb:
            points = "sark_v2"
        elif not has_rb and not has_v2 and (runbook is None or v2 is None):
            points = "sark_v2" if runbook is not None else "runbook"
        else:
            points = None
        signals.append({"source": "api", "signal": name, "points_to": points,
                        "evidence": {"runbook_route": runbook, "runbook_present": has_rb, "sark_v2_route": v2, "sark_v2_present": has_v2}})
    return signals


def pg_signals(tables, columns, enums):
    """tables: set of names; columns: {table: set}; enums: {type: [labels]}."""
    signals = []

    def add(name, points, evidence):
        signals.append({"source": "postgres", "signal": name, "points_to": points, "evidence": evidence})
    if "mcp_servers" in tables or "servers" in tables:
        add("servers_table", "sark_v2" if "mcp_servers" in tables and "servers" not in tables else
            ("runbook" if "servers" in tables and "mcp_servers" not in tables else None),
            {"servers": "servers" in tables, "mcp_servers": "mcp_servers" in tables})
    users = columns.get("users", set())
    if users:
        points = "runbook" if "username" in users else ("sark_v2" if "hashed_password" in users else None)
        add("users_columns", points, {"username": "username" in users, "password_hash": "password_hash" in users,
                                      "hashed_password": "hashed_password" in users, "role": "role" in users})
    add("policy_evaluations_table", "runbook" if "policy_evaluations" in tables else "sark_v2",
        {"policy_evaluations": "policy_evaluations" in tables})
    if enums:
        labels = [label for values in enums.values() for label in values]
        upper = sum(1 for label in labels if label.isupper())
        add("enum_case", "sark_v2" if upper > len(labels) / 2 else None,
            {"types": sorted(enums), "uppercase_labels": upper, "labels": len(labels)})
    return signals


def redis_signals(keys):
    signals = []
    for layout, patterns in sorted(REDIS_PATTERNS.items()):
        for pattern in patterns:
            hits = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
            if hits:
                signals.append({"source": "redis", "signal": "keys %s" % pattern, "points_to": layout,
                                "evidence": {"matches_in_sample": len(hits), "examples": hits[:3]}})
    return signals


def scan_sample(client, count, cap):
    """Key names from a bounded SCAN (never KEYS): at most cap names, COUNT per page."""
    keys, cursor, pages = [], 0, 0
    while True:
        cursor, batch = client.scan(cursor=cursor, count=count)
        pages += 1
        keys.extend(to_text(k) for k in batch)
        if int(cursor) == 0 or len(keys) >= cap or pages >= max(10, cap // max(count, 1) * 4):
            break
    return keys[:cap], int(cursor) != 0


def decide(signals):
    votes = {"runbook": 0, "sark_v2": 0}
    for signal in signals:
        if signal["points_to"] in votes:
            votes[signal["points_to"]] += 1
    if not any(votes.values()):
        return "unknown", votes
    if votes["runbook"] and votes["sark_v2"]:
        share = max(votes.values()) / float(sum(votes.values()))
        if share < 0.8:
            return "mixed", votes
    return max(votes, key=votes.get), votes


def verdicts(layout):
    out = []
    for name, steps, v2_verdict, instead in STEPS:
        if layout == "runbook":
            verdict, use = "effective", None
        elif layout == "sark_v2":
            verdict, use = v2_verdict, instead
        else:
            verdict, use = "unknown", instead
        out.append({"procedure": name, "steps": steps, "verdict": verdict, "instead": use})
    return out
