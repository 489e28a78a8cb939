"""The Redis modules' proof suite: bad input refused with nothing changed, and real faults (Redis killed mid-purge and
mid-export, the module SIGKILLed at chosen points, Redis restarted with another password, concurrent runs) ending in a
clean failure with partial counts, nothing lost or duplicated, and a rerun that converges.

Every event and key is unique, so losses and duplicates are countable: the tests count every event in Redis and in the
export files, and compare a digest of every key (name, type, DUMP) before and after each refused run.
"""

import hashlib
import json
import os
import time

import pytest

from harness.redis_seed import seed_sessions, seed_siem
from harness.servers import RedisServer, free_port, wait_for

QUEUE, FAILED = "siem:event_queue", "siem:failed_events"
EXPORT_EVENTS = 100000

# Runs the module file like Ansible does, after installing a fault: the process SIGKILLs itself at a chosen point.
FAULT_RUNNER = r'''
import os, runpy, signal, sys
kind, nth = os.environ["SARK_TEST_FAULT"].split(":")
nth, calls = int(nth), [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if kind == "after_fsync":          # the batch reached the file (fsynced), its commit in Redis not yet done
    real_fsync = os.fsync
    def fsync(fd):
        real_fsync(fd)
        calls[0] += 1
        if calls[0] == nth:
            die()
    os.fsync = fsync
elif kind == "mid_write":           # half a batch written, then the process dies
    real_write = os.write
    def write(fd, data):
        if fd > 2:
            calls[0] += 1
            if calls[0] == nth:
                real_write(fd, bytes(data[:max(1, len(data) // 2)]))
                die()
        return real_write(fd, data)
    os.write = write
elif kind == "after_eval":          # right after the nth Lua script (stage, commit, stage, commit, ...) answered
    import redis
    real = redis.Redis.execute_command
    def execute_command(self, *args, **options):
        result = real(self, *args, **options)
        if str(args[0]).upper() == "EVAL":
            calls[0] += 1
            if calls[0] == nth:
                die()
        return result
    redis.Redis.execute_command = execute_command
module_path, args_file = sys.argv[1], sys.argv[2]
sys.argv = [module_path, args_file]
runpy.run_path(module_path, run_name="__main__")
'''


class Spawner:
    """Start a module as its own process (optionally with a fault), so a test can kill it or race it: the run_module
    runner's start()/finish(), with FAULT_RUNNER as the wrapper when a fault is asked for."""

    def __init__(self, runner, workdir):
        self.runner_ = runner
        self.runner = os.path.join(workdir, "fault_runner.py")
        with open(self.runner, "w", encoding="utf-8") as handle:
            handle.write(FAULT_RUNNER)

    def start(self, name, args, fault=None, check_mode=False):
        if fault:
            return self.runner_.start(name, args, check_mode=check_mode, env={"SARK_TEST_FAULT": fault}, wrapper=self.runner)
        return self.runner_.start(name, args, check_mode=check_mode)

    def finish(self, proc, timeout=300):
        return self.runner_.finish(proc, timeout)

    def run(self, name, args, fault=None, check_mode=False, timeout=300):
        return self.finish(self.start(name, args, fault, check_mode), timeout)


@pytest.fixture(scope="module")
def spawn(run_module, tmp_path_factory):
    return Spawner(run_module, str(tmp_path_factory.mktemp("spawn")))


@pytest.fixture(scope="module")
def durable_redis():
    """A Redis that keeps every acknowledged write across a SIGKILL (AOF, fsync always), for the kill tests."""
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        yield server


@pytest.fixture()
def durable(durable_redis):
    if not durable_redis.pid:
        durable_redis.start()
    client = durable_redis.client()
    client.flushall()
    yield durable_redis, client
    client.close()
    if durable_redis.password or not durable_redis.pid:
        durable_redis.restart(password="")  # the next test gets a server without a password
        durable_redis.client().flushall()


def args_for(server, **extra):
    args = {"redis_host": "127.0.0.1", "redis_port": server.port, "layout": "runbook"}
    if server.password:
        args["redis_password"] = server.password
    args.update(extra)
    return args


def digest(client):
    """Every key's name, type, TTL presence and DUMP, hashed: equal before and after means nothing changed."""
    state = hashlib.sha256()
    for key in sorted(client.keys("*")):
        state.update(key + b"\0" + client.type(key) + b"\0" + (client.dump(key) or b"") + b"\0")
    return client.dbsize(), state.hexdigest()


def seed_export(client, total=EXPORT_EVENTS):
    seed_siem(client, queued=total)
    return total


def file_events(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as handle:
        return [json.loads(line)["event_id"] for line in handle.read().splitlines() if line.strip()]


def redis_events(client):
    """Every event in Redis: the queue, the failed list and any staging list."""
    found = [json.loads(e)["event_id"] for e in client.lrange(QUEUE, 0, -1) + client.lrange(FAILED, 0, -1)]
    for key in client.keys("*sark_ops_*"):
        if client.type(key) == b"list":
            found += [json.loads(e)["event_id"] for e in client.lrange(key, 0, -1)]
    return found


def assert_exactly_once(client, paths, total, kind="queued"):
    """Every one of the `total` events is in exactly one place: the files and Redis together, no duplicate."""
    everything = redis_events(client)
    for path in paths:
        everything += file_events(path)
    duplicates = len(everything) - len(set(everything))
    missing = {"%s-%05d" % (kind, n) for n in range(total)} - set(everything)
    assert duplicates == 0 and not missing, "%d duplicated, %d lost" % (duplicates, len(missing))


def no_protocol_keys_left(client):
    left = client.keys("*sark_ops_*")
    assert not left, left


# ======================================================================== bad input: refused, nothing changed

@pytest.fixture()
def seeded(redis_server, redis_client):
    """A varied database: two users whose ids share a prefix, other applications' keys of every type, SIEM lists."""
    seed_sessions(redis_client, "runbook", ["alice", "alice:admin", "bob"], per_user=3)
    redis_client.set("policy:decision:alice:tool:invoke:srv-1:0123456789abcdef", '{"allow": true}')
    redis_client.set("ratelimit:user:alice:2026-12-01-10", 7)
    redis_client.set("ratelimit:user:alice:admin:2026-12-01-10", 9)
    redis_client.hset("app:profile:1", mapping={"name": "x"})
    redis_client.set("app:counter", 1)
    redis_client.rpush("app:jobs", "a", "b")
    redis_client.sadd("app:tags", "t")
    seed_siem(redis_client, queued=20, failed=5)
    return redis_server, redis_client


BAD_INPUT = [
    # (id, module, args, message fragment)
    ("cache-pattern-star-colon-star", "sark_cache", {"target": "pattern", "pattern": "*:*"}, "has no literal prefix"),
    ("cache-pattern-star", "sark_cache", {"target": "pattern", "pattern": "*"}, "wildcards only"),
    ("cache-pattern-class-first", "sark_cache", {"target": "pattern", "pattern": "[a-z]*:decision:*"}, "no literal prefix"),
    ("cache-prefix-colon", "sark_cache", {"target": "prefix", "prefix": ":"}, "no literal prefix"),
    ("cache-decision-template-no-prefix", "sark_cache",
     {"target": "decisions", "layout_templates": {"policy_decision_key": "{user_id}:{action}:{resource}:{context}"}},
     "no literal prefix"),
    ("session-global-logout-template-no-prefix", "sark_session",
     {"state": "absent", "scope": "all", "force": True, "layout_templates": {"session_key": "{user_id}:{session_id}"}},
     "no literal prefix"),
    ("session-user-star", "sark_session", {"state": "absent", "user_id": "*"}, "No session to revoke"),
    ("session-user-question", "sark_session", {"state": "absent", "user_id": "alic?"}, "No session to revoke"),
    ("session-user-class", "sark_session", {"state": "absent", "user_id": "[ab]lice"}, "No session to revoke"),
    ("session-negative-cap", "sark_session", {"state": "absent", "user_id": "alice", "max_keys": -1},
     "max_keys must be a positive number"),
    ("session-global-logout-unforced", "sark_session", {"state": "absent", "scope": "all"}, "Confirm it with force: true"),
    ("ratelimit-subject-glob", "sark_ratelimit", {"state": "absent", "scope": "subject", "subject": "ali*"},
     "Nothing to reset"),
    ("ratelimit-huge-scan-count", "sark_ratelimit", {"state": "absent", "scope": "subject", "subject": "alice",
                                                     "scan_count": 10 ** 9}, "scan_count must be between"),
    ("siem-huge-batch", "sark_siem_queue", {"state": "export", "path": "/tmp/never.jsonl", "batch_size": 10 ** 6},
     "batch_size must be 10000 or less"),
    ("siem-negative-count", "sark_siem_queue", {"state": "requeue", "count": -5}, "count must be 1 or more"),
    ("siem-cap-below-length", "sark_siem_queue", {"state": "requeue", "max_events": 2}, "more than max_events=2"),
    ("siem-export-missing-dir", "sark_siem_queue", {"state": "export", "path": "/nonexistent/dir/x.jsonl"},
     "does not exist"),
    ("siem-negative-lock-wait", "sark_siem_queue", {"state": "requeue", "lock_wait": -1}, "lock_wait must be between"),
    ("breaker-wrong-expected-state", "sark_siem_breaker", {"state": "closed", "current_state": "half_open"}, None),
    ("redis-db-out-of-range", "sark_session", {"state": "absent", "user_id": "alice", "redis_db": 99},
     "database index out of range (this server has 16 databases, 0 to 15)"),
    ("redis-info-db-out-of-range", "sark_redis_info", {"redis_db": 99, "fail_on_unavailable": True},
     "database index out of range"),
    ("wrong-type-siem-queue", "sark_siem_queue", {"state": "requeue"}, "is a Redis string, but the SIEM queue list"),
    ("unreachable-host", "sark_cache", {"target": "decisions", "redis_port": "FREE_PORT"}, "Cannot connect to Redis"),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_changes_nothing(case, seeded, spawn):
    name, module, extra, fragment = case
    server, client = seeded
    if name == "wrong-type-siem-queue":
        client.delete(QUEUE)
        client.set(QUEUE, "not a list")
    if name == "breaker-wrong-expected-state":
        client.set("siem:circuit_breaker:state", "open")
        client.set("siem:circuit_breaker:failure_count", 5)
        fragment = "open"
    extra = dict(extra)
    if extra.get("redis_port") == "FREE_PORT":
        extra["redis_port"] = free_port()
    args = args_for(server, **extra)
    if module == "sark_redis_info":
        del args["layout"]
    before = digest(client)
    result = spawn.run(module, args)
    assert fragment in result["msg"], result["msg"]
    assert not result.get("changed"), result
    assert digest(client) == before, "Redis changed although the input was refused"
    if "No session" in fragment or "Nothing to reset" in fragment:
        assert not result.get("failed")  # a glob character is a literal part of an id: it matches no other user
    else:
        assert result.get("failed")
    assert "TLS" not in result["msg"]


def test_user_sweep_takes_that_user_only(seeded, spawn):
    """Regression (issue 9, item 10): revoking alice left alice:admin's sessions alone; the reset of alice's rate limit too."""
    server, client = seeded
    admin = sorted(client.keys("session:user:alice:admin:*"))
    assert len(admin) == 3
    result = spawn.run("sark_session", args_for(server, state="absent", user_id="alice"))
    assert result["changed"] and result["sessions"] == 3, result
    assert sorted(client.keys("session:user:alice:admin:*")) == admin
    assert not [k for k in client.keys("session:user:alice:*") if k.count(b":") == 3]
    reset = spawn.run("sark_ratelimit", args_for(server, state="absent", scope="subject", subject="alice"))
    assert reset["removed"] == 1 and client.exists("ratelimit:user:alice:admin:2026-12-01-10")


def test_sweeps_touch_only_the_layouts_key_type(seeded, spawn):
    """Regression (issue 9, item 9): a global logout and a decision clear leave keys of another type that match the pattern."""
    server, client = seeded
    client.set("session:user:carol:not-a-session", "a string under the session pattern")
    client.hset("policy:decision:x:y:z:0123456789abcdef", mapping={"a": "hash"})
    other = digest_of(client, ["session:user:carol:not-a-session", "policy:decision:x:y:z:0123456789abcdef", "app:profile:1"])
    logout = spawn.run("sark_session", args_for(server, state="absent", scope="all", force=True))
    assert logout["changed"] and logout["sessions"] == 9
    clear = spawn.run("sark_cache", args_for(server, target="decisions"))
    assert clear["removed"] == 1
    assert digest_of(client, ["session:user:carol:not-a-session", "policy:decision:x:y:z:0123456789abcdef",
                              "app:profile:1"]) == other


def digest_of(client, keys):
    return [(k, client.type(k), client.dump(k)) for k in keys]


def test_wrong_password_is_an_auth_error(spawn):
    with RedisServer(password="right-pw") as server:
        server.client().set("app:key", "v")
        result = spawn.run("sark_session", {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_password": "wrong-pw",
                                            "state": "absent", "user_id": "alice"})
        assert result["failed"] and "rejected the credentials" in result["msg"] and "wrong-pw" not in json.dumps(result)
        assert server.client().get("app:key") == b"v"


# ======================================================================== faults, for real

def test_redis_killed_mid_global_logout(durable, spawn):
    """Redis dies while a global logout is removing 200,000 sessions: the failure says how many went and blames no TLS;
    after a restart the rerun removes exactly the rest and nothing else."""
    server, client = durable
    from harness.redis_seed import bulk_seed_sessions  # pylint: disable=import-outside-toplevel
    bulk_seed_sessions(client, "runbook", 200000, 1000)
    client.set("app:keep", "v")
    total = client.dbsize()
    proc = spawn.start("sark_session", args_for(server, state="absent", scope="all", force=True, max_keys=300000,
                                                engine="client", scan_count=200))
    wait_for(lambda: client.dbsize() < total - 5000, 60, "the sweep to start removing", interval=0.01)
    server.kill()
    result = spawn.finish(proc)
    assert result["failed"] and result["changed"] and result["partial"], result
    assert "Lost the connection" in result["msg"] and "TLS" not in result["msg"]
    removed = result["removed"]
    assert removed > 0 and "had removed %d key(s)" % removed in result["msg"]
    assert result["executed_actions"] and result["executed_actions"][0]["removed"] == removed
    server.start()
    client = server.client()
    left = client.dbsize() - 1
    assert left <= 200000 - removed  # an UNLINK Redis had done when it died may not have been acknowledged
    rerun = spawn.run("sark_session", args_for(server, state="absent", scope="all", force=True, max_keys=300000))
    assert not rerun.get("failed") and rerun["sessions"] == left
    assert client.dbsize() == 1 and client.get("app:keep") == b"v"


def test_redis_killed_mid_cache_clear(durable, spawn):
    server, client = durable
    pipe = client.pipeline(transaction=False)
    for n in range(150000):
        pipe.set("policy:decision:u%d:tool:invoke:srv:%016x" % (n % 100, n), "{}")
    pipe.execute()
    client.set("app:keep", "v")
    proc = spawn.start("sark_cache", args_for(server, target="decisions", max_keys=200000, engine="client", scan_count=200))
    wait_for(lambda: client.dbsize() < 145000, 60, "the clear to start removing", interval=0.01)
    server.kill()
    result = spawn.finish(proc)
    assert result["failed"] and result["changed"] and result["partial"] and "TLS" not in result["msg"], result
    assert "Lost the connection" in result["msg"] and result["removed"] > 0
    server.start()
    client = server.client()
    rerun = spawn.run("sark_cache", args_for(server, target="decisions", max_keys=200000))
    assert not rerun.get("failed") and client.dbsize() == 1 and client.get("app:keep") == b"v"
    assert rerun["removed"] + result["removed"] <= 150000


def test_redis_restarted_with_another_password(durable, spawn):
    server, client = durable
    seed_sessions(client, "runbook", ["alice", "bob"], per_user=2)
    before = digest(client)
    server.restart(password="rotated-pw")
    stale = spawn.run("sark_session", {"redis_host": "127.0.0.1", "redis_port": server.port, "state": "absent",
                                       "scope": "all", "force": True})
    assert stale["failed"] and not stale["changed"] and "requires a password" in stale["msg"] and "TLS" not in stale["msg"]
    wrong = spawn.run("sark_session", {"redis_host": "127.0.0.1", "redis_port": server.port, "redis_password": "old-pw",
                                       "state": "absent", "scope": "all", "force": True})
    assert wrong["failed"] and "rejected the credentials" in wrong["msg"]
    assert digest(server.client()) == before
    rerun = spawn.run("sark_session", args_for(server, state="absent", scope="all", force=True))
    assert rerun["changed"] and rerun["sessions"] == 4
    assert server.client().dbsize() == 0


def test_export_killed_at_every_step_writes_each_event_once(durable, spawn, tmp_path):
    """Regression (issue 9, item 7): the module is SIGKILLed right after a batch reached the file, mid-write, right after
    staging and right after a commit, and at a random moment; each resume neither rewrites nor skips an event."""
    server, client = durable
    total = seed_export(client)
    path = str(tmp_path / "export.jsonl")
    args = args_for(server, state="export", list="queue", path=path, max_events=total, batch_size=500)
    for fault in ("after_fsync:3", "mid_write:5", "after_eval:7", "after_eval:10", "after_fsync:1"):
        killed = spawn.run("sark_siem_queue", args, fault=fault)
        assert killed.get("killed"), (fault, killed)
        if fault in ("after_eval:7", "after_eval:10"):  # killed right after a commit: a clean point, nothing staged
            assert_exactly_once(client, [path], total)
    proc = spawn.start("sark_siem_queue", args)
    time.sleep(0.8)
    proc.kill()
    spawn.finish(proc)
    final = spawn.run("sark_siem_queue", args)
    assert not final.get("failed"), final
    assert final["recovered"] >= 0 and final["queue"]["length"] == 0
    events = file_events(path)
    assert len(events) == total and len(set(events)) == total
    assert_exactly_once(client, [path], total)
    no_protocol_keys_left(client)
    again = spawn.run("sark_siem_queue", args)
    assert not again["changed"] and len(file_events(path)) == total


def test_export_killed_after_a_batch_reached_the_file(durable, spawn, tmp_path):
    """Regression (issue 9, item 7): SIGKILL right after the second batch was fsynced to the file, then resume."""
    server, client = durable
    total = seed_export(client, 5000)
    path = str(tmp_path / "export.jsonl")
    args = args_for(server, state="export", list="queue", path=path, batch_size=500)
    assert spawn.run("sark_siem_queue", args, fault="after_fsync:2").get("killed")
    resumed = spawn.run("sark_siem_queue", args)
    assert not resumed.get("failed"), resumed
    assert resumed["recovered"] == 500 and resumed["moved"] == total - 1000
    assert_exactly_once(client, [path], total)
    assert len(file_events(path)) == total
    no_protocol_keys_left(client)


def test_redis_killed_mid_export(durable, spawn, tmp_path):
    server, client = durable
    total = seed_export(client)
    path = str(tmp_path / "export.jsonl")
    args = args_for(server, state="export", list="queue", path=path, max_events=total, batch_size=200)
    proc = spawn.start("sark_siem_queue", args)
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 200000, 60, "the export to write", interval=0.01)
    server.kill()
    result = spawn.finish(proc)
    assert result["failed"] and result["changed"] and result["partial"], result
    assert "Lost the connection" in result["msg"] and "TLS" not in result["msg"] and "No event was lost" in result["msg"]
    assert result["moved"] > 0 and "exported %d event(s)" % result["moved"] in result["msg"]
    server.start()
    client = server.client()
    rerun = spawn.run("sark_siem_queue", args)
    assert not rerun.get("failed"), rerun
    events = file_events(path)
    assert len(events) == total and len(set(events)) == total
    no_protocol_keys_left(client)


def test_two_concurrent_exports(durable, spawn, tmp_path):
    """Regression (issue 9, item 7): two exports of the same list at once. Without waiting the second refuses, naming the
    first and changing nothing; with lock_wait it waits and finds nothing left. Every event ends in exactly one file."""
    server, client = durable
    total = seed_export(client)
    one, two = str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")
    first = spawn.start("sark_siem_queue", args_for(server, state="export", path=one, max_events=total))
    wait_for(lambda: os.path.exists(one) and os.path.getsize(one) > 0, 30, "the first export to write", interval=0.005)
    second = spawn.run("sark_siem_queue", args_for(server, state="export", path=two, max_events=total))
    first = spawn.finish(first)
    assert_exactly_once(client, [one, two], total)
    assert second["failed"] and not second["changed"] and "Another sark.ops run is working on" in second["msg"], second
    assert "export to %s" % one in second["msg"] and not os.path.exists(two)
    assert first["moved"] == total

    seed_siem(client, failed=total)  # the same race on requeue, both waiting their turn
    procs = [spawn.start("sark_siem_queue", args_for(server, state="requeue", max_events=total, lock_wait=120)) for _index in range(2)]
    results = [spawn.finish(p) for p in procs]
    assert all(not r.get("failed") for r in results), results
    assert sum(r["moved"] for r in results) == total
    queued = [json.loads(e)["event_id"] for e in client.lrange(QUEUE, 0, -1)]
    assert len(queued) == total and len(set(queued)) == total and client.llen(FAILED) == 0
    no_protocol_keys_left(client)


def test_two_racing_exports_that_wait(durable, spawn, tmp_path):
    server, client = durable
    total = seed_export(client, 30000)
    paths = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    procs = [spawn.start("sark_siem_queue", args_for(server, state="export", path=p, max_events=total, lock_wait=120))
             for p in paths]
    results = [spawn.finish(p) for p in procs]
    assert all(not r.get("failed") for r in results), results
    assert sorted(r["moved"] for r in results) == [0, total]
    assert_exactly_once(client, paths, total)
    assert sum(len(file_events(p)) for p in paths) == total


def test_two_concurrent_global_logouts_and_cache_clears(durable, spawn):
    server, client = durable
    from harness.redis_seed import bulk_seed_sessions  # pylint: disable=import-outside-toplevel
    bulk_seed_sessions(client, "runbook", 50000, 500)
    pipe = client.pipeline(transaction=False)
    for n in range(50000):
        pipe.set("policy:decision:u%d:tool:invoke:srv:%016x" % (n % 100, n), "{}")
    pipe.execute()
    client.set("app:keep", "v")
    for module, args, field in (("sark_session", dict(state="absent", scope="all", force=True, max_keys=60000), "sessions"),
                                ("sark_cache", dict(target="decisions", max_keys=60000), "removed")):
        procs = [spawn.start(module, args_for(server, **args)) for _index in range(2)]
        results = [spawn.finish(p) for p in procs]
        assert all(not r.get("failed") for r in results), results
        assert sum(r[field] for r in results) == 50000, [r[field] for r in results]  # each key removed by exactly one run
    assert client.dbsize() == 1 and client.get("app:keep") == b"v"


def test_global_logout_cap_after_partial_work_reports_it(redis_server, redis_client, spawn):
    """Regression (issue 9, item 13): a sweep stopped by its cap after removing keys reports changed, partial and the count."""
    from harness.redis_seed import bulk_seed_sessions  # pylint: disable=import-outside-toplevel
    bulk_seed_sessions(redis_client, "runbook", 5000, 50)
    result = spawn.run("sark_session", args_for(redis_server, state="absent", scope="all", force=True, max_keys=1000,
                                                engine="client", scan_count=100))
    assert result["failed"] and "Stopped at the safety cap" in result["msg"]
    assert result["changed"] and result["partial"] and result["removed"] > 0
    assert redis_client.dbsize() == 5000 - result["removed"]
    assert result["executed_actions"][0]["removed"] == result["removed"]
