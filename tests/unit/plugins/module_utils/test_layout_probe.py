# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the layout probe (_layout_probe.py): signals built from _layout.py, verdicts."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import (
    LAYOUT_NAMES,
    PROBE_ROUTES,
    REDIS_KEY_TEMPLATES,
    TEMPLATES,
    Layout,
    placeholders,
)
from ansible_collections.sark.ops.plugins.module_utils._layout_probe import (
    REDIS_PATTERNS,
    ROUTE_SIGNALS,
    decide,
    pg_signals,
    redis_signals,
    route_methods,
    route_signals,
    verdicts,
)


def test_routes_point_to_layouts():
    v2 = route_signals(route_methods({"/api/v1/servers/": {"get": {}, "post": {}}, "/api/v1/bulk/servers/status": {"patch": {}},
                                      "/api/v1/export/servers.json": {"get": {}}, "/api/v1/policy/list": {"get": {}},
                                      "/health/ready": {"get": {}}, "/api/v1/servers/{server_id}": {"get": {}}}))
    assert decide(v2)[0] == "sark_v2"
    runbook = route_signals(route_methods({"/api/v1/users": {"get": {}, "post": {}}, "/api/v1/servers": {"get": {}},
                                           "/api/v1/servers/{server_id}": {"get": {}, "delete": {}, "patch": {}},
                                           "/api/v1/policies": {"get": {}}, "/api/v1/admin/announce": {"post": {}}}))
    assert decide(runbook)[0] == "runbook"


def test_a_route_counts_only_with_its_method():
    """SARK 2.x lists /api/v1/servers/{server_id} with only `get`: that is no runbook DELETE."""
    signals = {s["signal"]: s for s in route_signals(route_methods({"/api/v1/servers/{server_id}": {"get": {}, "parameters": []}}))}
    delete = signals["server_delete"]
    assert delete["points_to"] == "sark_v2" and delete["evidence"]["runbook_present"] is False
    assert delete["evidence"]["runbook_route"] == "DELETE /api/v1/servers/{server_id}"
    assert delete["evidence"]["path_without_method"] == {"/api/v1/servers/{server_id}": ["get"]}
    with_delete = {s["signal"]: s for s in route_signals(route_methods({"/api/v1/servers/{server_id}": {"delete": {}}}))}
    assert with_delete["server_delete"]["points_to"] == "runbook"


def test_session_and_rate_limit_steps_are_no_ops_where_nothing_writes_them():
    quiet = {p["procedure"]: p for p in verdicts("sark_v2", {"keys": ["policy:decision:u:a:r:0123456789abcdef"], "truncated": False})}
    for name in ("sessions_keys", "rate_limit_keys"):
        assert quiet[name]["verdict"] == "no-op" and "not wired" in quiet[name]["basis"]
    unprobed = {p["procedure"]: p for p in verdicts("sark_v2")}
    assert unprobed["sessions_keys"]["verdict"] == "no-op" and "not probed" in unprobed["sessions_keys"]["basis"]
    sample = {"keys": ["session:s1", "user_sessions:u", "rate_limit:user:u"], "truncated": True}
    wired = {p["procedure"]: p for p in verdicts("sark_v2", sample)}
    assert wired["sessions_keys"]["verdict"] == "different" and wired["rate_limit_keys"]["verdict"] == "different"
    assert "not the whole keyspace" in wired["sessions_keys"]["basis"]
    # runbook session keys are no SARK 2.x sessions
    runbook_keys = {p["procedure"]: p for p in verdicts("sark_v2", {"keys": ["session:user:u:s1"], "truncated": False})}
    assert runbook_keys["sessions_keys"]["verdict"] == "no-op"
    assert all(p["verdict"] == "effective" for p in verdicts("runbook", {"keys": [], "truncated": False}))


def test_mixed_and_unknown():
    signals = redis_signals(["session:user:1:a", "user_sessions:1", "rate_limit:user:1"])
    assert decide(signals)[0] == "mixed"
    assert decide([])[0] == "unknown"


def test_pg_signals_and_verdicts():
    signals = pg_signals({"users", "mcp_servers"}, {"users": {"email", "hashed_password", "role"}}, {"serverstatus": ["ACTIVE", "INACTIVE"]})
    assert decide(signals)[0] == "sark_v2"
    by_name = {p["procedure"]: p for p in verdicts("sark_v2")}
    assert by_name["users_api"]["verdict"] == "no-op" and "000-22" in by_name["users_api"]["steps"]
    assert all(p["verdict"] == "effective" for p in verdicts("runbook"))


def _own_routes(name):
    """{path: methods} of exactly what the layout serves, from _layout.py."""
    from ansible_collections.sark.ops.plugins.module_utils._layout import ROUTE_METHODS
    layout = Layout(name)
    routes = {}
    for template, methods in ROUTE_METHODS.items():
        if layout.has(template):
            routes.setdefault(layout.template(template), set()).update(methods)
    return routes


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_a_deployment_built_from_the_layout_is_recognised(name):
    """The probe's signals derive from _layout.py: a deployment with exactly a layout's routes, tables, columns and keys
    is that layout by every signal that votes, whatever the facts are."""
    layout = Layout(name)
    signals = route_signals(_own_routes(name))
    tables = {layout.template(k) for k in TEMPLATES if k.endswith("_table") and layout.has(k)}
    signals += pg_signals(tables, {layout.template("users_table"): set(layout.columns("users_table"))}, {})
    keys = [layout.key(t, **{f: "x%d" % n for n, f in enumerate(placeholders(layout.template(t)))})
            for t in REDIS_KEY_TEMPLATES if layout.has(t)]
    signals += redis_signals(keys)
    assert decide(signals)[0] == name
    wrong = [s for s in signals if s["points_to"] not in (name, None)]
    assert not wrong, wrong
    voting = {s["signal"] for s in signals if s["points_to"] == name}
    assert {"servers_table", "users_columns"} <= voting and any(s.startswith("keys ") for s in voting)


def test_route_signals_are_the_layout_routes():
    for signal, (template, method) in PROBE_ROUTES.items():
        for name, route in zip(LAYOUT_NAMES, ROUTE_SIGNALS[signal]):
            layout = Layout(name)
            assert route == ((layout.template(template), method) if layout.has(template) else None), (signal, name)


def test_redis_patterns_are_the_distinct_key_templates():
    assert "session:user:*:*" in REDIS_PATTERNS["runbook"] and "user_sessions:*" in REDIS_PATTERNS["sark_v2"]
    # a template both layouts share votes for neither
    shared = Layout("runbook").pattern("policy_decision_key")
    assert not any(shared in patterns for patterns in REDIS_PATTERNS.values())
    assert decide(redis_signals(["policy:decision:u:a:r:0123456789abcdef"]))[0] == "unknown"
