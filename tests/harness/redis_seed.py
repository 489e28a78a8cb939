"""Seed Redis with SARK's data-plane keys in either layout, for the Redis module tests and the benchmark.

Small keyspaces are written with non-transactional pipelines (works with a cluster client too);
large ones (the benchmark's million sessions) with a server-side Lua loop, which is several times
faster than sending every command from Python. Session ids are deterministic so tests can name them.
"""

import datetime
import json

SESSION_TTL = 86400
INDEX_GRACE = 3600
RATE_WINDOW = 3600
TOKEN_PREFIX = "sess_"


def session_id(user_id, number):
    return "sid-%s-%04d" % (user_id, number)


def token_of(sid):
    return TOKEN_PREFIX + "secret-token-of-" + sid


def session_fields(user_id, sid, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"user_id": str(user_id), "session_id": sid, "created_at": now.isoformat(),
            "expires_at": (now + datetime.timedelta(seconds=SESSION_TTL)).isoformat(),
            "last_activity": now.isoformat(), "ip_address": "10.0.0.10", "user_agent": "Mozilla/5.0 (sark-test)",
            "token": token_of(sid)}


def _nodes(client):
    if hasattr(client, "get_primaries"):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def count_keys(client, pattern, key_type=None):
    """How many keys match, on every primary (SCAN, never KEYS)."""
    return sum(1 for node in _nodes(client) for _key in node.scan_iter(match=pattern, count=1000, _type=key_type))


def keys_matching(client, pattern):
    return sorted(k.decode() if isinstance(k, bytes) else k
                  for node in _nodes(client) for k in node.scan_iter(match=pattern, count=1000))


def seed_sessions(client, layout, users, per_user=2, ttl=SESSION_TTL, first=0):
    """Sessions of each user in the layout's shape; returns {user_id: [session ids]}."""
    out = {}
    pipe = client.pipeline(transaction=False)
    for user_id in users:
        sids = [session_id(user_id, n) for n in range(first, first + per_user)]
        out[user_id] = sids
        for sid in sids:
            fields = session_fields(user_id, sid)
            if layout == "runbook":
                key = "session:user:%s:%s" % (user_id, sid)
                pipe.hset(key, mapping=fields)
                pipe.expire(key, ttl)
            else:
                record = dict(fields, metadata={"auth_method": "oidc", "refresh_token": "rt-" + sid})
                pipe.set("session:%s" % sid, json.dumps(record), ex=ttl)
        if layout != "runbook" and sids:
            pipe.sadd("user_sessions:%s" % user_id, *sids)
            pipe.expire("user_sessions:%s" % user_id, ttl + INDEX_GRACE)
    pipe.execute()
    return out


# One call writes `count` sessions numbered start.. (user = n % users) in the chosen layout.
BULK_SESSION_SCRIPT = """
local start, count, users, layout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for n = start, start + count - 1 do
  local uid = 'user-' .. (n % users)
  local sid = string.format('%08x-%04x-4%03x-8%03x-%012x', n, n % 65536, n % 4096, (n * 7) % 4096, n * 2654435761 % 281474976710656)
  if layout == 'runbook' then
    local key = 'session:user:' .. uid .. ':' .. sid
    redis.call('HSET', key, 'user_id', uid, 'session_id', sid, 'created_at', '2025-11-22T10:00:00+00:00',
      'expires_at', '2025-11-23T10:00:00+00:00', 'last_activity', '2025-11-22T10:05:00+00:00',
      'ip_address', '10.0.0.10', 'user_agent', 'Mozilla/5.0 (bench)', 'token', 'sess_' .. sid)
    redis.call('EXPIRE', key, 86400)
  else
    redis.call('SET', 'session:' .. sid, '{"session_id":"' .. sid .. '","user_id":"' .. uid ..
      '","created_at":"2025-11-22T10:00:00+00:00","expires_at":"2025-11-23T10:00:00+00:00","last_activity":' ..
      '"2025-11-22T10:05:00+00:00","ip_address":"10.0.0.10","user_agent":"Mozilla/5.0 (bench)","metadata":{}}', 'EX', 86400)
    redis.call('SADD', 'user_sessions:' .. uid, sid)
    redis.call('EXPIRE', 'user_sessions:' .. uid, 90000)
  end
end
return count
"""


def bulk_seed_sessions(client, layout, total, users, chunk=20000):
    """Write `total` sessions for `users` users server side (standalone Redis); returns the number written."""
    sha = client.script_load(BULK_SESSION_SCRIPT)
    for start in range(0, total, chunk):
        client.evalsha(sha, 0, start, min(chunk, total - start), users, layout)
    return total


def current_window(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%d-%H")


def seed_ratelimits(client, layout, subjects, now=None):
    """subjects: [(kind, subject, used)]. runbook: STRING counter of the current hour; sark_v2: ZSET of `used` timestamps.

    Returns the keys written."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = now.timestamp()
    keys = []
    pipe = client.pipeline(transaction=False)
    for kind, subject, used in subjects:
        if layout == "runbook":
            key = "ratelimit:%s:%s:%s" % (kind, subject, current_window(now))
            pipe.set(key, int(used), ex=RATE_WINDOW)
        else:
            key = "rate_limit:%s:%s" % (kind, subject)
            members = {"%.6f-%d" % (stamp - n * 10.0, n): stamp - n * 10.0 for n in range(used)}
            if members:
                pipe.zadd(key, members)
            pipe.expire(key, RATE_WINDOW + 60)
        keys.append(key)
    pipe.execute()
    return keys


def seed_decisions(client, count, users=("user-1", "user-2"), actions=("tool:invoke", "server:read"), ttl=120):
    """Cached policy decisions policy:decision:{user}:{action}:{resource}:{ctx16}; returns the keys."""
    keys = []
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        user = users[n % len(users)]
        action = actions[(n // len(users)) % len(actions)]
        resource = "tool-%d" % (n % 7)
        key = "policy:decision:%s:%s:%s:%016x" % (user, action, resource, n)
        pipe.set(key, json.dumps({"allow": True, "reason": "seeded", "filtered_parameters": {}, "audit_id": "a-%d" % n}), ex=ttl)
        keys.append(key)
    pipe.execute()
    return keys


def seed_versions(client, policies=("server_access", "tool_invocation", "data_export")):
    pipe = client.pipeline(transaction=False)
    for number, name in enumerate(policies, 1):
        pipe.set("policy:version:%s" % name, str(number))
    pipe.execute()
    return ["policy:version:%s" % name for name in policies]


def seed_siem(client, queued=0, failed=0, queue="siem:event_queue", failed_list="siem:failed_events"):
    """RPUSH JSON events (with a secret-looking field) on the queue and the failed list; returns their LLENs."""
    pipe = client.pipeline(transaction=False)
    for key, total, kind in ((queue, queued, "queued"), (failed_list, failed, "failed")):
        for start in range(0, total, 500):
            events = [json.dumps({"event_id": "%s-%05d" % (kind, n), "event_type": "tool_invoked", "status": kind,
                                  "api_key": "sk-live-%05d-secret" % n}) for n in range(start, min(total, start + 500))]
            pipe.rpush(key, *events)
    pipe.execute()
    return client.llen(queue), client.llen(failed_list)


BREAKER_KEYS = {
    "global": ("siem:circuit_breaker:state", "siem:circuit_breaker:failure_count"),
    "splunk": ("circuit:splunk:state", "circuit:splunk:failure"),
    "datadog": ("circuit:datadog:state", "circuit:datadog:failure"),
}


def set_breaker(client, name, state="open", failures=5):
    state_key, failures_key = BREAKER_KEYS[name]
    client.set(state_key, state)
    client.set(failures_key, failures)
    return state_key, failures_key


def run_three_ways(run_module, name, args, diff=True):
    """Check mode, then for real, then again: returns the three results (none may have failed)."""
    results = []
    for check_mode in (True, False, False):
        result = run_module(name, args, check_mode=check_mode, diff=diff)
        assert not result.get("failed"), "%s failed: %s" % (name, result.get("msg"))
        assert "Traceback" not in result["_stderr"], result["_stderr"]
        results.append(result)
    return results


def redis_args(server, layout="runbook", **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": server.port, "layout": layout}
    if getattr(server, "password", None):
        args["redis_password"] = server.password
    args.update(extra)
    return args
