import re

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import (
    ABSENT_REASONS,
    LAYOUT_NAMES,
    TEMPLATES,
    Layout,
    glob_escape,
    placeholders,
)
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError


def test_runbook_and_v2_session_keys_differ():
    assert Layout("runbook").key("session_key", user_id="u1", session_id="s1") == "session:user:u1:s1"
    assert Layout("sark_v2").key("session_key", session_id="s1") == "session:s1"
    assert Layout("sark_v2").key("user_sessions_key", user_id="u1") == "user_sessions:u1"


def test_every_template_is_defined_for_both_layouts():
    """For each layout every template either works (fills in, reads back) or is absent with its own reason - never the
    generic "not part of this layout", never a reason for something the layout has."""
    for name in LAYOUT_NAMES:
        layout = Layout(name)
        assert sorted(layout.templates) == sorted(TEMPLATES)
        for key, values in TEMPLATES.items():
            assert len(values) == len(LAYOUT_NAMES) and any(v is not None for v in values), key
            if layout.has(key):
                value = layout.template(key)
                filled = layout.key(key, **{field: "v%d" % n for n, field in enumerate(placeholders(value))})
                assert "{" not in filled and layout.parser(key).match(filled), (name, key, filled)
            else:
                assert (name, key) in ABSENT_REASONS, "%s: %s is absent without a reason" % (name, key)
                with pytest.raises(SarkValidationError, match=re.escape(ABSENT_REASONS[(name, key)])):
                    layout.template(key)
    for name, key in ABSENT_REASONS:
        assert key in TEMPLATES and not Layout(name).has(key), "a reason for %s in %s, which has it" % (key, name)


def test_absent_template_names_the_reason():
    with pytest.raises(SarkValidationError, match="in process memory"):
        Layout("sark_v2").template("siem_queue_key")
    with pytest.raises(SarkValidationError, match="no users API"):
        Layout("sark_v2").route("users_route")


def test_pattern_escapes_literals_and_values():
    layout = Layout("runbook")
    assert layout.pattern("session_key") == "session:user:*:*"
    assert layout.pattern("session_key", user_id="user-123") == "session:user:user-123:*"
    # a user id with glob characters must not widen the match
    assert layout.pattern("session_key", user_id="a*b[1]") == "session:user:a\\*b\\[1\\]:*"
    assert glob_escape("x?y") == "x\\?y"


def test_parser_reads_values_back():
    parsed = Layout("runbook").parser("session_key").match("session:user:user-1:sess-9")
    assert parsed.groupdict() == {"user_id": "user-1", "session_id": "sess-9"}
    assert Layout("runbook").parser("session_key").match("ratelimit:user:x") is None


def test_override_keeps_placeholders():
    layout = Layout("runbook", {"session_key": "sess:{user_id}/{session_id}"})
    assert layout.key("session_key", user_id="u", session_id="s") == "sess:u/s"
    assert layout.overridden == ["session_key"]
    with pytest.raises(SarkValidationError, match="exactly the placeholders"):
        Layout("runbook", {"session_key": "sess:{user_id}"})


def test_override_unknown_name_and_wrong_type():
    with pytest.raises(SarkValidationError, match="unknown template 'sesion_key'"):
        Layout("runbook", {"sesion_key": "x"})
    with pytest.raises(SarkValidationError, match="must be a string"):
        Layout("runbook", {"session_key": 5})


def test_unknown_layout():
    with pytest.raises(SarkValidationError, match="Unknown layout 'v3'"):
        Layout("v3")


def test_missing_placeholder_value():
    with pytest.raises(SarkValidationError, match="needs session_id"):
        Layout("runbook").key("session_key", user_id="u")


def test_traits():
    assert Layout("runbook").key_type("session_key") == "hash"
    assert Layout("sark_v2").key_type("session_key") == "string"
    assert not Layout("sark_v2").traits["server_names_unique"] and Layout("runbook").traits["server_names_unique"]
    assert Layout("sark_v2").key("audit_time_column") == "timestamp"
    assert Layout("runbook").key("audit_time_column") == "time"


def test_every_route_has_its_methods_and_every_probe_route_is_a_route():
    from ansible_collections.sark.ops.plugins.module_utils._layout import PROBE_ROUTES, ROUTE_METHODS
    routes = sorted(k for k in TEMPLATES if k.endswith("_route"))
    assert sorted(ROUTE_METHODS) == routes
    for template, method in PROBE_ROUTES.values():
        assert method in ROUTE_METHODS[template], (template, method)
    assert Layout("sark_v2").route_methods("server_route") == ()
    assert Layout("runbook").route_methods("server_route") == ("patch", "delete")


def test_columns_and_traits_agree():
    from ansible_collections.sark.ops.plugins.module_utils._layout import TRAITS
    assert sorted(TRAITS["runbook"]) == sorted(TRAITS["sark_v2"]) or set(TRAITS["runbook"]) ^ set(TRAITS["sark_v2"]) == {
        "ratelimit_window_format", "ratelimit_window_seconds"}
    for name in LAYOUT_NAMES:
        layout = Layout(name)
        traits = layout.traits
        columns = layout.columns("users_table")
        assert traits["user_identity"] in columns and traits["user_password_column"] in columns
        assert ("roles" if traits["user_roles"] == "list" else "role") in columns
        assert ("rate_limit_per_minute" in columns) == traits["user_rate_limit_column"]
        assert traits["server_default_status"] in traits["server_statuses"]
        assert len(traits["session_events"]) == 2
        assert set(traits["key_types"]) <= set(k for k in TEMPLATES if layout.has(k))


def test_trait_values_and_layouts_where():
    from ansible_collections.sark.ops.plugins.module_utils._layout import layouts_where, trait_values
    assert trait_values("session_events") == {"runbook": ("login", "logout"), "sark_v2": ("user_login", "user_logout")}
    assert layouts_where("audit_time_column", ["timestamp", "created_at"]) == ["sark_v2"]
    assert layouts_where("servers_table", ["servers"]) == ["runbook"]


def test_every_trait_is_read_by_some_plugin():
    """A trait nothing asks is dead: remove it (the layout's facts are what the modules use)."""
    import os
    from ansible_collections.sark.ops.plugins.module_utils import _layout
    from ansible_collections.sark.ops.plugins.module_utils._layout import TRAITS, WRITERS
    plugins = os.path.dirname(os.path.dirname(os.path.abspath(_layout.__file__)))
    text = []
    for root, _dirs, files in os.walk(plugins):
        for name in files:
            if name.endswith(".py") and name != "_layout.py":
                with open(os.path.join(root, name), encoding="utf-8") as handle:
                    text.append(handle.read())
    text = "\n".join(text)
    # key_types is read through Layout.key_type(), the writer traits through WRITERS (by the drift probe)
    indirect = {"key_types"} | {trait for trait, _templates in WRITERS.values()}
    unread = [t for t in set(TRAITS["runbook"]) | set(TRAITS["sark_v2"]) if t not in indirect and '"%s"' % t not in text]
    assert not unread, unread


def test_exact_structure_of_one_users_keys():
    layout = Layout("runbook")
    assert layout.colons("session_key", user_id="alice") == 3
    assert layout.colons("session_key", user_id="alice:admin") == 4
    assert layout.colons("session_key") is None  # any user: ids may hold ':'
    assert layout.colons("ratelimit_key", kind="user", subject="::1") == 5
    assert layout.colons("policy_decision_key", user_id="alice") is None  # actions hold ':' (tool:invoke)
    assert layout.key_type("session_key") == "hash" and Layout("sark_v2").key_type("session_key") == "string"
