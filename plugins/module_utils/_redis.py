# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redis connection for sark.ops modules (private): one argument spec, one connect().

Matches the doc fragment sark.ops.redis. Every option falls back to a REDIS_* environment
variable so an AWX credential type can inject it.
"""

import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkConnectionError,
    SarkDependencyError,
    SarkValidationError,
)

REDIS_IMPORT_ERROR = None
try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    REDIS_IMPORT_ERROR = traceback.format_exc()
    redis = None


def redis_argument_spec():
    return dict(
        redis_host=dict(type="str", default="localhost", fallback=(env_fallback, ["REDIS_HOST"])),
        redis_port=dict(type="int", default=6379, fallback=(env_fallback, ["REDIS_PORT"])),
        redis_unix_socket=dict(type="path", fallback=(env_fallback, ["REDIS_SOCKET"])),
        redis_db=dict(type="int", default=0, fallback=(env_fallback, ["REDIS_DB"])),
        redis_username=dict(type="str", fallback=(env_fallback, ["REDIS_USERNAME"])),
        redis_password=dict(type="str", no_log=True, fallback=(env_fallback, ["REDIS_PASSWORD"])),
        redis_tls=dict(type="bool", default=False, fallback=(env_fallback, ["REDIS_TLS"])),
        redis_tls_ca_certs=dict(type="path", fallback=(env_fallback, ["REDIS_TLS_CA_CERTS"])),
        redis_tls_certfile=dict(type="path", fallback=(env_fallback, ["REDIS_TLS_CERTFILE"])),
        redis_tls_keyfile=dict(type="path", no_log=False, fallback=(env_fallback, ["REDIS_TLS_KEYFILE"])),
        redis_tls_validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["REDIS_TLS_VALIDATE_CERTS"])),
        redis_cluster=dict(type="bool", default=False, fallback=(env_fallback, ["REDIS_CLUSTER"])),
        redis_connect_timeout=dict(type="float", default=5.0, fallback=(env_fallback, ["REDIS_CONNECT_TIMEOUT"])),
        redis_socket_timeout=dict(type="float", default=10.0, fallback=(env_fallback, ["REDIS_SOCKET_TIMEOUT"])),
    )


def describe_target(params):
    if params.get("redis_unix_socket"):
        return "unix:%s" % params["redis_unix_socket"]
    scheme = "rediss" if params.get("redis_tls") else "redis"
    return "%s://%s:%s/%s" % (scheme, params.get("redis_host"), params.get("redis_port"), params.get("redis_db") or 0)


def _validate(params):
    if params.get("redis_port") is not None and not 0 < params["redis_port"] < 65536:
        raise SarkValidationError("redis_port must be between 1 and 65535, got %s" % params["redis_port"])
    if params.get("redis_db") is not None and params["redis_db"] < 0:
        raise SarkValidationError("redis_db must be 0 or more, got %s" % params["redis_db"])
    for key in ("redis_connect_timeout", "redis_socket_timeout"):
        if params.get(key) is not None and params[key] <= 0:
            raise SarkValidationError("%s must be a positive number of seconds, got %s" % (key, params[key]))
    if params.get("redis_cluster") and params.get("redis_db"):
        raise SarkValidationError("Redis Cluster has only database 0: unset redis_db or redis_cluster")
    if params.get("redis_cluster") and params.get("redis_unix_socket"):
        raise SarkValidationError("redis_cluster needs redis_host/redis_port, not redis_unix_socket")


def connection_kwargs(params):
    kwargs = dict(
        username=params.get("redis_username") or None,
        password=params.get("redis_password") or None,
        socket_connect_timeout=params.get("redis_connect_timeout"),
        socket_timeout=params.get("redis_socket_timeout"),
        decode_responses=False,
        client_name="sark.ops",
    )
    if params.get("redis_tls"):
        kwargs.update(
            ssl=True,
            ssl_ca_certs=params.get("redis_tls_ca_certs"),
            ssl_certfile=params.get("redis_tls_certfile"),
            ssl_keyfile=params.get("redis_tls_keyfile"),
            ssl_cert_reqs="required" if params.get("redis_tls_validate_certs", True) else "none",
            ssl_check_hostname=bool(params.get("redis_tls_validate_certs", True)),
        )
    return kwargs


LOST_MARKERS = ("connection reset", "connection refused", "closed by server", "broken pipe", "connection aborted",
                "error while reading", "error 104", "error 111", "error 32 ", "eof")


def classify_error(exc, params, connected=False):
    """Turn a redis-py exception into a SarkConnectionError that says what to check.

    connected: the error came after a successful connect and PING, so a reset or refused connection means the server went
    away (it died, restarted or dropped us), not a TLS or address problem.
    """
    target = describe_target(params)
    text = (str(exc) or type(exc).__name__).strip().rstrip(".")
    lowered = text.lower()
    if "db index is out of range" in lowered or "invalid db index" in lowered:
        return SarkConnectionError("redis_db=%s: database index out of range (this server has %s). Choose a database the server "
                                   "has (redis_db, REDIS_DB)." % (params.get("redis_db"), _databases_text(params)),
                                   kind="config", target=target)
    auth_error = redis is not None and isinstance(exc, redis.exceptions.AuthenticationError)
    if (auth_error or "noauth" in lowered or "hello must be called" in lowered) and not params.get("redis_password"):
        return SarkConnectionError("Redis at %s requires a password and none was given: set redis_password (or REDIS_PASSWORD)."
                                   % target, kind="auth", target=target)
    if auth_error or "wrongpass" in lowered or "invalid password" in lowered or "invalid username-password" in lowered:
        who = params.get("redis_username") or "default"
        return SarkConnectionError("Redis at %s rejected the credentials of user %r: %s. Check redis_username/"
                                   "redis_password (or REDIS_USERNAME/REDIS_PASSWORD)." % (target, who, text),
                                   kind="auth", target=target)
    if "noauth" in lowered or "authentication required" in lowered:
        return SarkConnectionError("Redis at %s requires a password: set redis_password (or REDIS_PASSWORD)." % target,
                                   kind="auth", target=target)
    if "noperm" in lowered or "no permissions" in lowered:
        return SarkConnectionError("Redis user %r lacks a permission at %s: %s. Grant it in the ACL or use another user."
                                   % (params.get("redis_username") or "default", target, text), kind="auth", target=target)
    if "loading the dataset" in lowered or (redis is not None and isinstance(exc, redis.exceptions.BusyLoadingError)):
        return SarkConnectionError("Redis at %s is still loading its data set into memory (it has just started): %s. Retry in a "
                                   "moment." % (target, text), kind="loading", target=target)
    lost = redis is not None and isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)) \
        and any(marker in lowered for marker in LOST_MARKERS)
    if connected and (lost or (redis is not None and isinstance(exc, redis.exceptions.ConnectionError))):
        return SarkConnectionError("Lost the connection to Redis at %s in the middle of the work: %s. The server closed the connection "
                                   "or stopped (restart, crash, failover, network). Check that redis-server is running, then rerun: "
                                   "the rerun does what is left." % (target, text), kind="lost", target=target)
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return SarkConnectionError("TLS handshake with Redis at %s failed: %s. Check redis_tls, redis_tls_ca_certs and "
                                   "redis_tls_validate_certs." % (target, text), kind="tls", target=target)
    if (redis is not None and isinstance(exc, redis.exceptions.TimeoutError)) or "timed out" in lowered:
        return SarkConnectionError("Timed out talking to Redis at %s: %s. Is the host reachable? Raise "
                                   "redis_connect_timeout/redis_socket_timeout if it is just slow." % (target, text),
                                   kind="timeout", target=target)
    if "connection reset" in lowered and not params.get("redis_tls"):
        return SarkConnectionError("Redis at %s closed the connection: %s. If the server only speaks TLS, set redis_tls: true."
                                   % (target, text), kind="protocol", target=target)
    return SarkConnectionError("Cannot connect to Redis at %s: %s. Is redis-server running there? Check redis_host/"
                               "redis_port (or REDIS_HOST/REDIS_PORT)." % (target, text), kind="unreachable", target=target)


def _databases_text(params):
    """'N databases, 0 to N-1' from CONFIG GET databases on database 0, or a hint when the server does not say."""
    try:
        kwargs = connection_kwargs(params)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        if params.get("redis_unix_socket"):
            probe = redis.Redis(unix_socket_path=params["redis_unix_socket"], db=0, **kwargs)
        else:
            probe = redis.Redis(host=params.get("redis_host"), port=params.get("redis_port"), db=0, **kwargs)
        try:
            values = probe.config_get("databases")
            count = int(values.get(b"databases", values.get("databases")))
        finally:
            probe.close()
        return "%d databases, 0 to %d" % (count, count - 1)
    except Exception:  # pylint: disable=broad-except
        return "fewer databases; see its 'databases' setting, 16 by default"


def require_redis():
    if REDIS_IMPORT_ERROR is not None:
        raise SarkDependencyError("redis", REDIS_IMPORT_ERROR)


def connect(params):
    """Connect and PING. Returns a redis.Redis or redis.cluster.RedisCluster client."""
    require_redis()
    _validate(params)
    kwargs = connection_kwargs(params)
    # Fail fast: an operator waiting on a dead server wants the error, not three silent retries.
    kwargs["retry"] = Retry(NoBackoff(), 0)
    try:
        return _open(params, kwargs)
    except SarkConnectionError as exc:
        # a least-privilege ACL user may not name its connection (CLIENT SETNAME): go on without the name
        if "setname" in exc.msg.lower() and kwargs.pop("client_name", None):
            return _open(params, kwargs)
        raise


def _open(params, kwargs):
    try:
        if params.get("redis_cluster"):
            from redis.cluster import RedisCluster  # pylint: disable=import-outside-toplevel
            kwargs = dict(kwargs)
            kwargs.pop("client_name", None)
            client = RedisCluster(host=params.get("redis_host"), port=params.get("redis_port"), **kwargs)
        elif params.get("redis_unix_socket"):
            client = redis.Redis(unix_socket_path=params["redis_unix_socket"], db=params.get("redis_db") or 0, **kwargs)
        else:
            client = redis.Redis(host=params.get("redis_host"), port=params.get("redis_port"),
                                 db=params.get("redis_db") or 0, **kwargs)
        _ping(client, params)
    except SarkConnectionError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise classify_error(exc, params) from exc
    return client


def _ping(client, params):
    if not client.ping():
        raise SarkConnectionError("Redis at %s did not answer PING" % describe_target(params), kind="protocol")


def primaries(client):
    """Yield (node name, client) for every primary: one for a standalone server, each shard's for a cluster."""
    if hasattr(client, "get_primaries"):
        for node in client.get_primaries():
            yield "%s:%s" % (node.host, node.port), client.get_redis_connection(node)
    else:
        kwargs = client.connection_pool.connection_kwargs
        name = kwargs.get("path") or "%s:%s" % (kwargs.get("host"), kwargs.get("port"))
        yield name, client


def to_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
