# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which SARK layout a live deployment follows, from its API routes, PostgreSQL schema and Redis key names (private).

Each probe yields signals (name, layout it points to or None, evidence). The verdict per runbook step
(docs/runbook-map.md IDs) follows from the detected layout and the drift table of the SARK data contract.
"""

from ansible_collections.sark.ops.plugins.module_utils._layout import (
    COLUMNS,
    LAYOUT_NAMES,
    PROBE_ROUTES,
    REDIS_KEY_TEMPLATES,
    ROUTE_METHODS,
    TEMPLATES,
    WRITERS,
    Layout,
    columns_of,
    default_template,
)
from ansible_collections.sark.ops.plugins.module_utils._module import glob_match
from ansible_collections.sark.ops.plugins.module_utils._redis import to_text

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
RUNBOOK, V2 = LAYOUT_NAMES


def _probe_route(name, template, method):
    """(path, method) a layout serves for a probe route, or None when the layout lacks it (or it lacks the method)."""
    path = default_template(name, template)
    return (path, method) if path is not None and method in ROUTE_METHODS[template] else None


# signal name -> (what the runbook layout has, what sark_v2 has); each a (path, method): a route counts only with its method
ROUTE_SIGNALS = {signal: (_probe_route(RUNBOOK, template, method), _probe_route(V2, template, method))
                 for signal, (template, method) in PROBE_ROUTES.items()}


def _patterns(name, templates):
    layout = Layout(name)
    return [layout.pattern(t) for t in templates if layout.has(t)]


def _distinct_key_templates():
    """layout -> the SCAN patterns of its key templates that the other layout does not share."""
    out = {}
    for name in LAYOUT_NAMES:
        others = [n for n in LAYOUT_NAMES if n != name]
        out[name] = sorted({Layout(name).pattern(t) for t in REDIS_KEY_TEMPLATES
                            if default_template(name, t) is not None
                            and all(default_template(o, t) != default_template(name, t) for o in others)})
    return out


REDIS_PATTERNS = _distinct_key_templates()
# key families that show a session or rate-limit writer at work, per layout
WRITER_PATTERNS = {writer: {name: _patterns(name, templates) for name in LAYOUT_NAMES}
                   for writer, (_trait, templates) in WRITERS.items()}
WRITER_TRAITS = {writer: trait for writer, (trait, _templates) in WRITERS.items()}
# procedure -> the writer whose keys it acts on (a step on keys nothing writes is a no-op)
WRITER_STEPS = {"sessions_keys": "sessions", "rate_limit_keys": "rate_limits"}
# the table templates whose presence points to the one layout that has them (their absence proves nothing: the probe
# looks at one database, and some of them live in the audit database)
TABLE_TEMPLATES = [key for key in TEMPLATES if key.endswith("_table") and key not in COLUMNS]


def _v2(key, **values):
    """A sark_v2 fact for a verdict's text, from the layout (never typed out twice)."""
    layout = Layout(V2)
    return layout.template(key) if not values else layout.pattern(key, **values)


def _v2_absent(key):
    return Layout(V2).absent_reason(key)


def _v2_key(key):
    return "%s %s" % (Layout(V2).key_type(key).upper(), _v2(key))


# step ids -> (procedure, runbook verdict, sark_v2 verdict, what to use instead under sark_v2)
STEPS = [
    # "different" only where the deployment writes these keys (see WRITER_STEPS): a running SARK 2.x writes none
    ("sessions_keys", ["000-26", "000-28", "000-43", "000-44", "000-45", "000-46", "000-47", "000-48"], "different",
     "%s + %s (sark_session)" % (_v2_key("session_key"), _v2_key("user_sessions_key"))),
    ("rate_limit_keys", ["000-53", "000-54", "000-55", "000-56"], "different", "%s (sark_ratelimit)" % _v2_key("ratelimit_key")),
    ("policy_cache_version", ["000-41"], "no-op", "%s; decisions only (sark_cache)" % _v2_absent("policy_version_key")),
    ("policy_cache_decisions", ["000-40", "000-77", "002-25"], "different", "%s JSON" % _v2("policy_decision_key")),
    ("siem_queue", ["000-60", "000-62", "000-63"], "no-op", _v2_absent("siem_queue_key")),
    ("siem_breaker", ["000-64", "002-24"], "no-op", _v2_absent("breaker_state_key")),
    ("users_api", ["000-22", "000-24", "000-25", "000-29"], "no-op", "%s: sark_user via=database" % _v2_absent("users_route")),
    ("users_table", ["000-23", "000-27", "000-57"], "different", "%s(%s); no rate_limit_per_minute" % (
        _v2("users_table"), ", ".join(columns_of(V2, "users_table")))),
    ("server_list", ["000-30", "000-34"], "different", "GET %s (limit<=%d) or GET %s" % (
        _v2("servers_route"), Layout(V2).traits["server_list_max"], _v2("servers_export_route"))),
    ("server_register", ["000-31", "000-35"], "different", "POST %s {name, transport, tools}; CSRF" % _v2("servers_route")),
    ("server_delete", ["000-32", "001-27"], "different", "PATCH %s" % _v2("servers_bulk_status_route")),
    ("servers_table", ["000-33", "002-91"], "different", "table %s (+ %s)" % (_v2("servers_table"), _v2("tools_table"))),
    ("policy_evaluations_table", ["000-42"], "no-op", "%s (%s.decision)" % (
        _v2_absent("policy_evaluations_table"), _v2("audit_table"))),
    ("announce", ["000-49"], "no-op", "%s (sark_notify)" % _v2_absent("announce_route")),
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


def _one_of(present):
    """The layout the evidence points to: the only one whose fact is present (None when none or several are)."""
    names = [name for name in LAYOUT_NAMES if present[name]]
    return names[0] if len(names) == 1 else None


def pg_signals(tables, columns, enums):
    """tables: set of names; columns: {table: set}; enums: {type: [labels]}."""
    signals = []

    def add(name, points, evidence):
        signals.append({"source": "postgres", "signal": name, "points_to": points, "evidence": evidence})
    # tables every layout has under its own name (servers / mcp_servers)
    for key in TABLE_TEMPLATES:
        names = {name: default_template(name, key) for name in LAYOUT_NAMES}
        if None in names.values() or len(set(names.values())) == 1:
            continue
        if any(table in tables for table in names.values()):
            add(key, _one_of({name: table in tables for name, table in names.items()}),
                {table: table in tables for table in sorted(set(names.values()))})
    # tables only one layout has: present points to it; the probed database may lack them for other reasons (audit db)
    for key in TABLE_TEMPLATES:
        names = {name: default_template(name, key) for name in LAYOUT_NAMES}
        owners = [name for name, table in names.items() if table is not None]
        if len(owners) == 1:
            table = names[owners[0]]
            add(key, owners[0] if table in tables else None, {table: table in tables})
    # the users table: the columns only one layout has
    for key, per_layout in COLUMNS.items():
        found = columns.get(default_template(RUNBOOK, key), set()) | columns.get(default_template(V2, key), set())
        if not found:
            continue
        own = {name: set(per_layout[LAYOUT_NAMES.index(name)]) - set().union(
            *[per_layout[LAYOUT_NAMES.index(o)] for o in LAYOUT_NAMES if o != name]) for name in LAYOUT_NAMES}
        hash_columns = {name: Layout(name).traits["user_password_column"] for name in LAYOUT_NAMES}
        # identity or password column decides (a layout's own columns may be added by a migration of the other)
        decisive = {name: Layout(name).traits["user_identity"] if Layout(name).traits["user_identity"] in own[name]
                    else hash_columns[name] for name in LAYOUT_NAMES}
        add("users_columns", _one_of({name: decisive[name] in found for name in LAYOUT_NAMES}),
            {column: column in found for column in sorted(set(decisive.values()) | set(hash_columns.values()))})
    if enums:
        labels = [label for values in enums.values() for label in values]
        upper = sum(1 for label in labels if label.isupper())
        # only upper case votes: lower-case labels come from migrations in every layout
        upper_layouts = [name for name in LAYOUT_NAMES if Layout(name).traits["enum_label_case"] == "upper"]
        add("enum_case", upper_layouts[0] if upper > len(labels) / 2 and len(upper_layouts) == 1 else None,
            {"types": sorted(enums), "uppercase_labels": upper, "labels": len(labels)})
    return signals


def _matching(keys, patterns, exclude=()):
    return [k for k in keys if glob_match(k, patterns) and not glob_match(k, exclude)]


def _others_patterns(name, patterns_by_layout):
    return [p for other in LAYOUT_NAMES if other != name for p in patterns_by_layout[other]]


def writers_seen(keys):
    """{writer: {layout: matches}} - which session and rate-limit key families the sample holds.

    A key that also fits another layout's more specific family (session:user:... is a runbook session, not a SARK 2.x
    session:{id}) counts only for the layout whose own pattern is the more specific (the one with more literal text)."""
    seen = {}
    for writer, per_layout in WRITER_PATTERNS.items():
        seen[writer] = {}
        for name, patterns in per_layout.items():
            exclude = [p for p in _others_patterns(name, per_layout) if _specificity(p) > min(map(_specificity, patterns or ["*"]))]
            seen[writer][name] = len(_matching(keys, patterns, exclude))
    return seen


def _specificity(pattern):
    return len(pattern.replace("*", ""))


def redis_signals(keys):
    signals = []
    for name, patterns in sorted(REDIS_PATTERNS.items()):
        exclude = [p for p in _others_patterns(name, REDIS_PATTERNS) if _specificity(p) > min(map(_specificity, patterns or ["*"]))]
        for pattern in patterns:
            hits = _matching(keys, [pattern], exclude)
            if hits:
                signals.append({"source": "redis", "signal": "keys %s" % pattern, "points_to": name,
                                "evidence": {"matches_in_sample": len(hits), "examples": hits[:3]}})
    # no layout vote: what writes sessions and rate-limit counters here (decides whether those steps are no-ops)
    shared = [Layout(RUNBOOK).pattern(t) for t in REDIS_KEY_TEMPLATES
              if default_template(RUNBOOK, t) is not None and default_template(RUNBOOK, t) == default_template(V2, t)]
    decisions = _matching(keys, shared)
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
    written_by_layout = bool(Layout(layout).traits[WRITER_TRAITS[writer]])
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
        # the steps are the runbook's: effective where the deployment follows it
        if layout == RUNBOOK:
            verdict, use = "effective", None
        elif layout == V2:
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
