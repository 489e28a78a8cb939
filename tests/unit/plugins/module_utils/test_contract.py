# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the layout probe's signal logic and of the argon2id helpers."""

from ansible_collections.sark.ops.plugins.module_utils._contract import decide, pg_signals, redis_signals, route_signals, verdicts
from ansible_collections.sark.ops.plugins.module_utils._users import hash_password, password_matches


def test_routes_point_to_layouts():
    v2 = route_signals({"/api/v1/servers/", "/api/v1/bulk/servers/status", "/api/v1/export/servers.json", "/api/v1/policy/list",
                        "/health/ready"})
    assert decide(v2)[0] == "sark_v2"
    runbook = route_signals({"/api/v1/users", "/api/v1/servers", "/api/v1/servers/{server_id}", "/api/v1/policies",
                             "/api/v1/admin/announce"})
    assert decide(runbook)[0] == "runbook"


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


def test_argon2id_parameters():
    digest = hash_password("s3cret!")
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert password_matches(digest, "s3cret!") and not password_matches(digest, "other") and not password_matches(None, "x")
