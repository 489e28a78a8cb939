"""Seed Redis with SARK's keys laid out as either layout keeps them (contract, "Redis" table).

For tests of the collection's other modules and for the demo. Every helper pipelines its writes
(no MULTI) in batches of `batch` commands, so 100k+ keys take seconds. Clients may be created
with decode_responses True or False. Helpers return what they wrote so tests can assert on it.
"""

import datetime
import json
import secrets
import uuid

import redis

from . import policy

DEFAULT_BATCH = 5000
SESSION_TIMEOUT = 86400            # SARK's default session timeout (s)
USER_SESSIONS_GRACE = 3600         # sark_v2 user_sessions:{uid} lives timeout + 1 h
MAX_SESSIONS_PER_USER = 5          # sark_v2 default concurrent-session limit
RATE_WINDOW = 3600
SIEM_QUEUE = "siem:event_queue"
SIEM_FAILED = "siem:failed_events"
SIEMS = ("splunk", "datadog")
# both runbook circuit-breaker spellings; {siem} is filled in for variant "002"
BREAKER_KEYS = {
    "000": {"state": "siem:circuit_breaker:state", "failures": "siem:circuit_breaker:failure_count"},
    "002": {"state": "circuit:{siem}:state", "failures": "circuit:{siem}:failure"},
}


def _now(now=None):
    return now or datetime.datetime.now(datetime.timezone.utc)


def _iso(moment):
    return moment.isoformat()


def _pack(args):
    """One command in RESP, as redis-py would send it (str as UTF-8, numbers in decimal)."""
    encoded = [arg if isinstance(arg, bytes) else str(arg).encode("utf-8") for arg in args]
    return b"*%d\r\n" % len(encoded) + b"".join([b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in encoded])


class _Batcher:
    """Pipelined writes, flushed every `size` commands.

    For a plain redis.Redis the commands are packed here and written in one go on one pooled
    connection, then every reply is read (redis-py's pure-Python packer would otherwise cost more
    than Redis does); other clients (e.g. RedisCluster) get a non-transactional redis-py pipeline.
    """

    def __init__(self, client, size):
        self.client = client
        self.size = max(1, int(size))
        self.raw = isinstance(client, redis.Redis)
        self.pipe = None if self.raw else client.pipeline(transaction=False)
        self.buffer = []
        self.count = 0

    def command(self, *args):
        if self.raw:
            self.buffer.append(_pack(args))
        else:
            self.pipe.execute_command(*args)
        self.count += 1
        if self.count >= self.size:
            self.flush()

    def flush(self):
        if not self.count:
            return
        if not self.raw:
            self.pipe.execute()
            self.count = 0
            return
        pool = self.client.connection_pool
        conn = pool.get_connection()
        errors = []
        try:
            conn.send_packed_command([b"".join(self.buffer)])
            for _reply in range(self.count):
                try:
                    conn.read_response()
                except redis.ResponseError as exc:
                    errors.append(exc)
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
            self.buffer = []
            self.count = 0
        if errors:
            raise errors[0]


def runbook_session_key(user_id, session_id):
    return "session:user:%s:%s" % (user_id, session_id)


def v2_session_key(session_id):
    return "session:%s" % session_id


def v2_user_sessions_key(user_id):
    return "user_sessions:%s" % user_id


def runbook_rate_limit_key(user_id, when=None):
    """STRING counter of the fixed hourly window (UTC) the runbook documents."""
    return "ratelimit:user:%s:%s" % (user_id, _now(when).strftime("%Y-%m-%d-%H"))


def v2_rate_limit_key(identifier):
    """ZSET sliding-window log; identifier is user:{id}, api_key:{key}, token:{n} or ip:{addr}."""
    if ":" not in identifier:
        identifier = "user:%s" % identifier
    return "rate_limit:%s" % identifier


def seed_runbook_sessions(client, user_ids, per_user=2, ttl=SESSION_TIMEOUT, now=None, batch=DEFAULT_BATCH,
                          ip_address="10.0.0.10", user_agent="Mozilla/5.0 (sark-demo)"):
    """HASH session:user:{uid}:{sid} per session (fields user_id, session_id, created_at, expires_at,
    last_activity, ip_address, user_agent, token); EXPIRE ttl unless ttl is None. Returns [(uid, sid)]."""
    now = _now(now)
    last_activity = _iso(now)
    out = []
    batcher = _Batcher(client, batch)
    for user_id in user_ids:
        for n in range(per_user):
            session_id = str(uuid.uuid4())
            created = now - datetime.timedelta(minutes=5 * (per_user - n))
            key = runbook_session_key(user_id, session_id)
            batcher.command("HSET", key, "user_id", str(user_id), "session_id", session_id,
                            "created_at", _iso(created),
                            "expires_at", _iso(created + datetime.timedelta(seconds=ttl or SESSION_TIMEOUT)),
                            "last_activity", last_activity, "ip_address", ip_address, "user_agent", user_agent,
                            "token", "sess_" + secrets.token_urlsafe(24))
            if ttl:
                batcher.command("EXPIRE", key, int(ttl))
            out.append((user_id, session_id))
    batcher.flush()
    return out


def seed_v2_sessions(client, user_ids, per_user=2, timeout=SESSION_TIMEOUT, max_per_user=MAX_SESSIONS_PER_USER,
                     enforce_limit=True, now=None, batch=DEFAULT_BATCH, ip_address="10.0.0.10",
                     user_agent="Mozilla/5.0 (sark-demo)", metadata=None):
    """STRING session:{sid} (JSON, TTL timeout) plus SET user_sessions:{uid} (TTL timeout + 3600).

    With enforce_limit (SARK's behaviour) at most max_per_user sessions per user are written (the newest);
    enforce_limit=False writes all of them, to make an over-limit state. Returns [(uid, sid)]."""
    now = _now(now)
    out = []
    batcher = _Batcher(client, batch)
    keep = min(per_user, max_per_user) if enforce_limit else per_user
    for user_id in user_ids:
        session_ids = []
        for n in range(per_user - keep, per_user):
            session_id = str(uuid.uuid4())
            created = now - datetime.timedelta(minutes=5 * (per_user - n))
            record = {"session_id": session_id, "user_id": str(user_id), "created_at": _iso(created),
                      "expires_at": _iso(created + datetime.timedelta(seconds=timeout)),
                      "last_activity": _iso(now), "ip_address": ip_address, "user_agent": user_agent,
                      "metadata": dict(metadata or {})}
            batcher.command("SET", v2_session_key(session_id), json.dumps(record), "EX", int(timeout))
            session_ids.append(session_id)
            out.append((user_id, session_id))
        if session_ids:
            batcher.command("SADD", v2_user_sessions_key(user_id), *session_ids)
            batcher.command("EXPIRE", v2_user_sessions_key(user_id), int(timeout) + USER_SESSIONS_GRACE)
    batcher.flush()
    return out


def seed_sessions(client, layout, user_ids, per_user=2, **kwargs):
    """Sessions in the layout's shape (seed_runbook_sessions or seed_v2_sessions); returns [(uid, sid)]."""
    if layout == "runbook":
        if "timeout" in kwargs:
            kwargs["ttl"] = kwargs.pop("timeout")
        return seed_runbook_sessions(client, user_ids, per_user=per_user, **kwargs)
    if "ttl" in kwargs:
        kwargs["timeout"] = kwargs.pop("ttl")
    return seed_v2_sessions(client, user_ids, per_user=per_user, **kwargs)


def seed_rate_limits(client, layout, identifiers, count=10, now=None, batch=DEFAULT_BATCH):
    """Rate-limit state as if each identifier had made `count` requests this window; returns the keys.

    runbook: identifiers are user ids -> SET ratelimit:user:{uid}:{YYYY-MM-DD-HH} count EX 3600.
    sark_v2: identifiers are user:{id} / api_key:{k} / ip:{a} / token:{n} (a bare id means user:) ->
    ZSET rate_limit:{identifier} with `count` members spread over the last hour, EXPIRE 3660."""
    now = _now(now)
    keys = []
    batcher = _Batcher(client, batch)
    for identifier in identifiers:
        if layout == "runbook":
            key = runbook_rate_limit_key(identifier, now)
            batcher.command("SET", key, int(count), "EX", RATE_WINDOW)
        else:
            key = v2_rate_limit_key(identifier)
            stamp = now.timestamp()
            step = (RATE_WINDOW - 100.0) / max(1, count)
            members = []
            for n in range(count):
                score = stamp - n * step
                members += [score, repr(score)]
            if members:
                batcher.command("ZADD", key, *members)
            batcher.command("EXPIRE", key, RATE_WINDOW + 60)
        keys.append(key)
    batcher.flush()
    return keys


def seed_policy_decisions(client, layout, count, user_ids=None, ttl=120, batch=DEFAULT_BATCH):
    """`count` cached decisions policy:decision:{user}:{action}:{resource}:{ctx16} (JSON {allow, reason,
    filtered_parameters, audit_id}, TTL ttl); the same shape in both layouts. Returns the keys."""
    del layout  # the runbook names only the prefix; both layouts get SARK 2.x's key shape
    users = list(user_ids or ["user-123"])
    actions = ("tool:invoke", "server:read", "server:register")
    keys = []
    batcher = _Batcher(client, batch)
    for n in range(count):
        user = users[n % len(users)]
        action = actions[n % len(actions)]
        parameters = {"n": n}
        key = policy.decision_key(user, action, policy.resource_of(tool="tool-%d" % (n % 50)), parameters)
        allow = action != "server:register"
        value = {"allow": allow, "reason": "seeded decision", "filtered_parameters": parameters if allow else None,
                 "audit_id": str(uuid.uuid4())}
        if ttl:
            batcher.command("SET", key, json.dumps(value), "EX", int(ttl))
        else:
            batcher.command("SET", key, json.dumps(value))
        keys.append(key)
    batcher.flush()
    return keys


def seed_policy_versions(client, versions=None):
    """runbook: STRING policy:version:{policy} per policy (the runbook deletes one to clear a policy's cache)."""
    versions = versions or {"server_access": "3", "tool_invocation": "7", "data_export": "1"}
    pipe = client.pipeline(transaction=False)
    keys = []
    for name, version in versions.items():
        key = "policy:version:%s" % name
        pipe.set(key, str(version))
        keys.append(key)
    pipe.execute()
    return keys


def seed_siem_queue(client, events=0, failed=0, now=None, chunk=1000):
    """runbook: RPUSH `events` JSON events on siem:event_queue and `failed` on siem:failed_events.

    Returns (LLEN queue, LLEN failed). Thresholds in the runbook: < 1,000 healthy, > 10,000 critical."""
    stamp = _iso(_now(now))
    pipe = client.pipeline(transaction=False)
    for key, total, kind in ((SIEM_QUEUE, events, "queued"), (SIEM_FAILED, failed, "failed")):
        for start in range(0, total, chunk):
            values = [json.dumps({"event_id": str(uuid.uuid4()), "event_type": "tool_invoked", "time": stamp,
                                  "status": kind, "n": n}) for n in range(start, min(total, start + chunk))]
            pipe.rpush(key, *values)
    pipe.llen(SIEM_QUEUE)
    pipe.llen(SIEM_FAILED)
    results = pipe.execute()
    return results[-2], results[-1]


def breaker_keys(variant="000", siems=SIEMS):
    """[(state_key, failures_key)] of a runbook circuit-breaker spelling ('000' or '002')."""
    template = BREAKER_KEYS[variant]
    if variant == "000":
        return [(template["state"], template["failures"])]
    return [(template["state"].format(siem=siem), template["failures"].format(siem=siem)) for siem in siems]


def set_circuit_breaker(client, variant="000", state="open", failures=5, siems=SIEMS, ttl=None):
    """Write a runbook SIEM circuit breaker: 000 = siem:circuit_breaker:{state,failure_count};
    002 = circuit:{siem}:{state,failure} for each siem. Returns the keys written."""
    pipe = client.pipeline(transaction=False)
    written = []
    for state_key, failures_key in breaker_keys(variant, siems):
        pipe.set(state_key, state, ex=ttl)
        pipe.set(failures_key, int(failures), ex=ttl)
        written += [state_key, failures_key]
    pipe.execute()
    return written


def clear_circuit_breakers(client, siems=SIEMS):
    """Delete both breaker spellings; returns how many keys existed."""
    keys = [key for variant in BREAKER_KEYS for pair in breaker_keys(variant, siems) for key in pair]
    return client.delete(*keys)


def scan_count(client, match, count=1000):
    """How many keys match a pattern, by SCAN (never KEYS)."""
    return sum(1 for _key in client.scan_iter(match=match, count=count))


def seed_demo_redis(client, layout, user_ids, sessions_per_user=2, rate_limited=None, decisions=20):
    """A small, plausible Redis for the demo; returns counts of what it wrote."""
    summary = {"sessions": len(seed_sessions(client, layout, user_ids, per_user=sessions_per_user))}
    identifiers = list(rate_limited or user_ids)
    summary["rate_limit_keys"] = len(seed_rate_limits(client, layout, identifiers, count=25))
    summary["policy_decisions"] = len(seed_policy_decisions(client, layout, decisions, user_ids=user_ids))
    if layout == "runbook":
        summary["policy_versions"] = len(seed_policy_versions(client))
        summary["siem_queue"], summary["siem_failed"] = seed_siem_queue(client, events=50, failed=3)
        summary["breaker_keys"] = len(set_circuit_breaker(client, "000", state="closed", failures=0))
    return summary
