"""_redis.py: the connection options and the classification of Redis errors (what to check, by kind)."""

import pytest

redis = pytest.importorskip("redis")

from ansible_collections.sark.ops.plugins.module_utils._redis import classify_error  # noqa: E402

PARAMS = {"redis_host": "127.0.0.1", "redis_port": 1, "redis_db": 0}


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


@pytest.mark.parametrize("exc,params,kind,says", [
    (redis.exceptions.AuthenticationError("WRONGPASS invalid username-password pair or user is disabled."),
     dict(PARAMS, redis_password="s3cr3t-pw", redis_username="ops"), "auth", "rejected the credentials of user 'ops'"),
    (redis.exceptions.ResponseError("NOPERM User ops has no permissions to run the 'scan' command"),
     dict(PARAMS, redis_password="s3cr3t-pw", redis_username="ops"), "auth", "lacks a permission"),
    (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), PARAMS, "loading", "still loading"),
    (redis.exceptions.ConnectionError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), PARAMS, "tls",
     "redis_tls_ca_certs"),
    (redis.exceptions.TimeoutError("Timeout connecting to server"), PARAMS, "timeout", "redis_connect_timeout"),
    (redis.exceptions.ConnectionError("Error 104 while reading from socket. Connection reset by peer."), PARAMS, "protocol",
     "set redis_tls: true"),
    (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), PARAMS, "unreachable",
     "Check redis_host/redis_port"),
])
def test_each_error_family_names_what_to_check(exc, params, kind, says):
    error = classify_error(exc, params)
    assert error.kind == kind, error.msg
    assert says in error.msg and error.details["target"] == "redis://127.0.0.1:1/0"
    assert "s3cr3t-pw" not in error.msg


def test_a_reset_with_tls_on_is_not_blamed_on_missing_tls():
    error = classify_error(redis.exceptions.ConnectionError("Connection reset by peer"), dict(PARAMS, redis_tls=True))
    assert error.kind == "unreachable" and "set redis_tls: true" not in error.msg
