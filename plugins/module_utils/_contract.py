# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which SARK layout a live deployment follows, from its API routes, PostgreSQL schema and Redis key names (private).

Each probe yields signals (name, layout it points to or None, evidence). The verdict per runbook step
(docs/runbook-map.md IDs) follows from the detected layout and the drift table of the SARK data contract.
"""

import fnmatch

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._redis import to_text

# signal name -> (what the runbook layout has, what sark_v2 has); each a (path, method): a route counts only with its method
ROUTE_SIGNALS = {
    "users_api": (("/api/v1/users", "get"), None),
    "servers_route_slash": (("/api/v1/servers", "get"), ("/api/v1/servers/", "get")),
    "server_delete": (("/api/v1/servers/{server_id}", "delete"), None),
    "bulk_status": (None, ("/api/v1/bulk/servers/status", "patch")),
    "export": (None, ("/api/v1/export/servers.json", "get")),
    "policies": (("/api/v1/policies", "get"), ("/api/v1/policy/list", "get")),
    "announce": (("/api/v1/admin/announce", "post"), None),
    "health_probes": (None, ("/health/ready", "get")),
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REDIS_PATTERNS = {
    "runbook": ["session:user:*", "ratelimit:*", "policy:version:*", "siem:*", "circuit:*"],
    "sark_v2": ["user_sessions:*", "rate_limit:*"],
}
# key families that show a session or rate-limit writer at work, per layout
WRITER_PATTERNS = {
    "sessions": {"runbook": ["session:user:*"], "sark_v2": ["session:*", "user_sessions:*"]},
    "rate_limits": {"runbook": ["ratelimit:*"], "sark_v2": ["rate_limit:*"]},
}
# procedure -> the writer whose keys it acts on (a step on keys nothing writes is a no-op)
WRITER_STEPS = {"sessions_keys": "sessions", "rate_limit_keys": "rate_limits"}

# step ids -> (procedure, runbook verdict, sark_v2 verdict, what to use instead under sark_v2)
STEPS = [
    # "different" only where the deployment writes these keys (see WRITER_STEPS): a running SARK 2.x writes none
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


def route_methods(spec_paths):
    """{path: set of lower-case HTTP methods} from the `paths` object of an OpenAPI document."""
    out = {}
    for path, item in (spec_paths or {}).items():
        methods = item.keys() if isinstance(item, dict) else ()
        out[path] = {str(m).lower() for m in methods if str(m).lower() in HTTP_METHODS}
    return out


def _present(routes, route):
    return route is not None and route[1] in routes.get(route[0], ())


def _route_text(route):
    return "%s %s" % (route[1].upper(), route[0]) if route else None


def route_signals(routes):
    """Signals from {path: methods} (see route_methods): a route counts as present only with its method."""
    signals = []
    for name, (runbook, v2) in sorted(ROUTE_SIGNALS.items()):
        has_rb = _present(routes, runbook)
        has_v2 = _present(routes, v2)
        if has_rb and not has_v2:
            points = "runbook"
        elif has_v2 and not has_rb:
            points = "sark_v2"
        elif not has_rb and not has_v2 and (runbook is None or v2 is None):
            points = "sark_v2" if runbook is not None else "runbook"
        else:
            points = None
        evidence = {"runbook_route": _route_text(runbook), "runbook_present": has_rb,
                    "sark_v2_route": _route_text(v2), "sark_v2_present": has_v2}
        for route in (runbook, v2):
            if route is not None and route[0] in routes and route[1] not in routes[route[0]]:
                evidence.setdefault("path_without_method", {})[route[0]] = sorted(routes[route[0]])
        signals.append({"source": "api", "signal": name, "points_to": points, "evidence": evidence})
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
    # the runbook keeps policy_evaluations in sark_audit: its absence from the probed database proves nothing
    add("policy_evaluations_table", "runbook" if "policy_evaluations" in tables else None,
        {"policy_evaluations": "policy_evaluations" in tables})
    if enums:
        labels = [label for values in enums.values() for label in values]
        upper = sum(1 for label in labels if label.isupper())
        add("enum_case", "sark_v2" if upper > len(labels) / 2 else None,
            {"types": sorted(enums), "uppercase_labels": upper, "labels": len(labels)})
    return signals


def _matching(keys, patterns, exclude=()):
    return [k for k in keys if any(fnmatch.fnmatchcase(k, p) for p in patterns) and not any(fnmatch.fnmatchcase(k, p) for p in exclude)]


def writers_seen(keys):
    """{writer: {layout: matches}} - which session and rate-limit key families the sample holds."""
    seen = {}
    for writer, per_layout in WRITER_PATTERNS.items():
        seen[writer] = {}
        for layout, patterns in per_layout.items():
            # a runbook session key (session:user:...) is no SARK 2.x session
            exclude = WRITER_PATTERNS[writer]["runbook"] if layout == "sark_v2" else ()
            seen[writer][layout] = len(_matching(keys, patterns, exclude))
    return seen


def redis_signals(keys):
    signals = []
    for layout, patterns in sorted(REDIS_PATTERNS.items()):
        for pattern in patterns:
            hits = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
            if hits:
                signals.append({"source": "redis", "signal": "keys %s" % pattern, "points_to": layout,
                                "evidence": {"matches_in_sample": len(hits), "examples": hits[:3]}})
    # no layout vote: what writes sessions and rate-limit counters here (decides whether those steps are no-ops)
    decisions = _matching(keys, ["policy:decision:*"])
    signals.append({"source": "redis", "signal": "session_and_rate_limit_writers", "points_to": None,
                    "evidence": {"writers": writers_seen(keys), "policy_decision_keys": len(decisions)}})
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


def _writer_verdict(layout, writer, redis_sample):
    """sark_v2 verdict of a step on session or rate-limit keys: "different" only where something writes those keys."""
    trait = "writes_sessions" if writer == "sessions" else "writes_rate_limits"
    written_by_layout = bool(Layout(layout).traits.get(trait))
    families = ", ".join(WRITER_PATTERNS[writer][layout])
    if redis_sample is None:
        if written_by_layout:
            return "different", "Redis not probed"
        return "no-op", ("Redis not probed; a running SARK 2.x writes no %s keys (%s): its %s is not wired" % (
            "session" if writer == "sessions" else "rate-limit", families,
            "session service" if writer == "sessions" else "rate-limit middleware"))
    seen = writers_seen(redis_sample["keys"])[writer][layout]
    scope = "among the %d keys sampled%s" % (len(redis_sample["keys"]), " (not the whole keyspace)" if redis_sample["truncated"] else "")
    if seen:
        return "different", "%d %s key(s) %s: something writes them here" % (seen, families, scope)
    if written_by_layout:
        return "different", "no %s key %s" % (families, scope)
    return "no-op", ("no %s key %s: a running SARK 2.x writes none (its %s is not wired), so the runbook steps act on nothing" % (
        families, scope, "session service" if writer == "sessions" else "rate-limit middleware"))


def verdicts(layout, redis_sample=None):
    """Per procedure: verdict, what to use instead and, where the deployment's own data decided it, the basis.

    redis_sample: {"keys": [...], "truncated": bool} when Redis was probed, else None."""
    out = []
    for name, steps, v2_verdict, instead in STEPS:
        basis = None
        if layout == "runbook":
            verdict, use = "effective", None
        elif layout == "sark_v2":
            verdict, use = v2_verdict, instead
            if name in WRITER_STEPS:
                verdict, basis = _writer_verdict(layout, WRITER_STEPS[name], redis_sample)
        else:
            verdict, use = "unknown", instead
        entry = {"procedure": name, "steps": steps, "verdict": verdict, "instead": use}
        if basis:
            entry["basis"] = basis
        out.append(entry)
    return out
