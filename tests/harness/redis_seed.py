"""Seed Redis with SARK's data-plane keys in either layout, for the Redis module tests and the benchmark.

Small keyspaces are written with non-transactional pipelines (works with a cluster client too);
large ones (the benchmark's million sessions) with a server-side Lua loop, which is several times
faster than sending every command from Python. Session ids are deterministic so tests can name them.
"""

import datetime
import json
import os

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


class ForkedResult(dict):
    @property
    def failed(self):
        return bool(self.get("failed"))

    @property
    def changed(self):
        return bool(self.get("changed"))


def freeze_clock(now):
    """Stop datetime.datetime.now()/utcnow() and time.time() at `now` in this process (call it in a forked child only)."""
    import time  # pylint: disable=import-outside-toplevel
    stamp = now.timestamp()
    real = datetime.datetime

    class FrozenDatetime(real):
        @classmethod
        def now(cls, tz=None):
            return real.fromtimestamp(stamp, tz)

        @classmethod
        def utcnow(cls):
            return real.fromtimestamp(stamp, datetime.timezone.utc).replace(tzinfo=None)

    datetime.datetime = FrozenDatetime
    time.time = lambda: stamp


class ForkedModuleRunner:
    """Run a module like conftest's run_module does - its own process, reading a JSON args file, printing its result -
    but forked from the test process, which has imported ansible and redis once already.

    A module run then costs a few milliseconds of CPU instead of half a second of interpreter start-up and imports,
    which keeps the Redis module suites fast. Falls back to the subprocess runner when the test process has threads
    (forking a threaded process is unsafe)."""

    SCRUB = ("REDIS_", "PG", "SARK_API_", "SARK_LAYOUT")

    def __init__(self, collections_dir, fallback=None):
        import importlib  # pylint: disable=import-outside-toplevel
        import sys  # pylint: disable=import-outside-toplevel
        self.collections_dir = str(collections_dir)
        self.fallback = fallback
        if self.collections_dir not in sys.path:
            sys.path.insert(0, self.collections_dir)
        for name in ("ansible.module_utils.basic", "redis", "redis.cluster", "redis.crc",
                     "ansible_collections.sark.ops.plugins.module_utils._redis_keys",
                     "ansible_collections.sark.ops.plugins.module_utils._sessions"):
            importlib.import_module(name)
        self.root = os.path.join(self.collections_dir, "ansible_collections", "sark", "ops")

    def __call__(self, name, args=None, check_mode=False, diff=False, env=None, timeout=120, now=None):
        """now (an aware datetime): the module's clock - datetime.now() and time.time() - stands still at that moment
        (the forked process only), so a test's seeds and the module agree on the hour whenever the test runs."""
        import runpy  # pylint: disable=import-outside-toplevel
        import signal  # pylint: disable=import-outside-toplevel
        import sys  # pylint: disable=import-outside-toplevel
        import tempfile  # pylint: disable=import-outside-toplevel
        import threading  # pylint: disable=import-outside-toplevel
        import time  # pylint: disable=import-outside-toplevel
        threaded = threading.active_count() > 1  # forking a threaded process is unsafe
        if threaded and self.fallback is not None and now is None:
            return self.fallback(name, args, check_mode=check_mode, diff=diff, env=env, timeout=timeout)
        module_path = os.path.join(self.root, "plugins", "modules", name + ".py")
        payload = dict(args or {})
        payload.update({"_ansible_check_mode": check_mode, "_ansible_diff": diff, "_ansible_module_name": "sark.ops." + name,
                        "_ansible_tmpdir": tempfile.gettempdir(), "_ansible_remote_tmp": tempfile.gettempdir(),
                        "_ansible_keep_remote_files": False})
        work = tempfile.mkdtemp(prefix="sark-fork-")
        paths = {k: os.path.join(work, k) for k in ("args.json", "stdout", "stderr")}
        with open(paths["args.json"], "w", encoding="utf-8") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
        if threaded:
            # a frozen clock without fork: a fresh interpreter stops its clock, then runs the module the same way
            self._run_fresh(name, module_path, paths, env, timeout, now)
            return self._result(name, paths, work)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the module process
            code = 1
            try:
                out = open(paths["stdout"], "w", encoding="utf-8")  # pylint: disable=consider-using-with
                err = open(paths["stderr"], "w", encoding="utf-8")  # pylint: disable=consider-using-with
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout, sys.stderr = out, err
                for key in list(os.environ):
                    if key.startswith(self.SCRUB):
                        del os.environ[key]
                os.environ.update(env or {})
                if now is not None:
                    freeze_clock(now)
                from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
                basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
                sys.argv = [module_path, paths["args.json"]]
                try:
                    runpy.run_path(module_path, run_name="__main__")
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # pylint: disable=broad-except
                import traceback  # pylint: disable=import-outside-toplevel
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)  # pylint: disable=protected-access
        deadline = time.monotonic() + timeout
        while True:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("module %s did not finish within %ss" % (name, timeout))
            time.sleep(0.002)
        return self._result(name, paths, work)

    BOOT = ("import datetime, runpy, sys; sys.path.insert(0, sys.argv[1]); from harness.redis_seed import freeze_clock; "
            "freeze_clock(datetime.datetime.fromisoformat(sys.argv[2])); sys.argv = sys.argv[3:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")

    def _run_fresh(self, name, module_path, paths, env, timeout, now):
        import subprocess  # pylint: disable=import-outside-toplevel
        import sys  # pylint: disable=import-outside-toplevel
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(self.SCRUB)}
        child_env.update(env or {})
        child_env["PYTHONPATH"] = os.pathsep.join([self.collections_dir] + [p for p in [child_env.get("PYTHONPATH")] if p])
        tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(paths["stdout"], "w", encoding="utf-8") as out, open(paths["stderr"], "w", encoding="utf-8") as err:
            try:
                subprocess.run([sys.executable, "-c", self.BOOT, tests_dir, now.isoformat(), module_path, paths["args.json"]],
                               stdout=out, stderr=err, env=child_env, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise AssertionError("module %s did not finish within %ss" % (name, timeout)) from exc

    @staticmethod
    def _result(name, paths, work):
        with open(paths["stdout"], encoding="utf-8") as handle:
            stdout = handle.read()
        with open(paths["stderr"], encoding="utf-8") as handle:
            stderr = handle.read()
        for path in paths.values():
            os.unlink(path)
        os.rmdir(work)
        try:
            result = ForkedResult(json.loads(stdout))
        except ValueError as exc:
            raise AssertionError("module %s printed no JSON:\nstdout: %s\nstderr: %s" % (name, stdout[-3000:], stderr[-3000:])) from exc
        result["_stdout"] = stdout
        result["_stderr"] = stderr
        return result
