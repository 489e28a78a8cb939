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
    assert Layout("runbook").traits["session_type"] == "hash"
    assert Layout("sark_v2").traits["csrf_required"] is True
    assert Layout("sark_v2").key("audit_time_column") == "timestamp"
    assert Layout("runbook").key("audit_time_column") == "time"


def test_exact_structure_of_one_users_keys():
    layout = Layout("runbook")
    assert layout.colons("session_key", user_id="alice") == 3
    assert layout.colons("session_key", user_id="alice:admin") == 4
    assert layout.colons("session_key") is None  # any user: ids may hold ':'
    assert layout.colons("ratelimit_key", kind="user", subject="::1") == 5
    assert layout.colons("policy_decision_key", user_id="alice") is None  # actions hold ':' (tool:invoke)
    assert layout.key_type("session_key") == "hash" and Layout("sark_v2").key_type("session_key") == "string"
