"""Sweep safety rules and Redis error wording (issue 9: items 9, 10, 13, 16)."""

import pytest

redis = pytest.importorskip("redis")

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout  # noqa: E402
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError  # noqa: E402
from ansible_collections.sark.ops.plugins.module_utils._redis import classify_error  # noqa: E402
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (  # noqa: E402
    check_pattern,
    has_literal_prefix,
    literal_prefix,
    require_literal_prefix,
)

PARAMS = {"redis_host": "127.0.0.1", "redis_port": 1, "redis_db": 0}


@pytest.mark.parametrize("pattern,prefix", [("policy:decision:*", "policy:decision:"), ("*:*", ""), (r"a\*b*", "a*b"),
                                            ("[ab]lice:*", ""), ("session:user:?", "session:user:")])
def test_literal_prefix(pattern, prefix):
    assert literal_prefix(pattern) == prefix


@pytest.mark.parametrize("pattern", ["*:*", ":*", "[a-z]*", "?:*", "*"])
def test_patterns_without_a_literal_prefix_are_refused(pattern):
    assert not has_literal_prefix(pattern)
    with pytest.raises(SarkValidationError, match="literal prefix|wildcards only"):
        check_pattern(pattern)
    assert require_literal_prefix(pattern, force=True) == pattern


def test_a_template_without_literal_part_gives_a_refused_sweep():
    layout = Layout("runbook", {"session_key": "{user_id}:{session_id}"})
    with pytest.raises(SarkValidationError, match="no literal prefix"):
        require_literal_prefix(layout.pattern("session_key"))


def test_exact_structure_of_one_users_keys():
    layout = Layout("runbook")
    assert layout.colons("session_key", user_id="alice") == 3
    assert layout.colons("session_key", user_id="alice:admin") == 4
    assert layout.colons("session_key") is None  # any user: ids may hold ':'
    assert layout.colons("ratelimit_key", kind="user", subject="::1") == 5
    assert layout.colons("policy_decision_key", user_id="alice") is None  # actions hold ':' (tool:invoke)
    assert layout.key_type("session_key") == "hash" and Layout("sark_v2").key_type("session_key") == "string"


def test_lost_connection_after_connect_is_not_blamed_on_tls():
    exc = redis.exceptions.ConnectionError("Error 104 while writing to socket. Connection reset by peer.")
    error = classify_error(exc, PARAMS, connected=True)
    assert error.kind == "lost" and "TLS" not in error.msg and "Lost the connection" in error.msg
    refused = classify_error(redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
                             PARAMS, connected=True)
    assert refused.kind == "lost" and "TLS" not in refused.msg


def test_db_index_out_of_range_names_the_database():
    error = classify_error(redis.exceptions.ResponseError("DB index is out of range"), dict(PARAMS, redis_db=99))
    assert error.kind == "config" and "redis_db=99: database index out of range" in error.msg
    assert "redis_host" not in error.msg


def test_missing_password_is_named():
    error = classify_error(redis.exceptions.AuthenticationError("Authentication required."), PARAMS)
    assert "requires a password and none was given" in error.msg
