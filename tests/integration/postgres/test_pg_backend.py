"""sark_pg_backend against a real PostgreSQL 15 primary (and its streaming replica): cancel and terminate in check
mode, for real and a second time; backends created by the tests themselves."""

import psycopg2
import pytest

MODULE = "sark_pg_backend"


def sqls(actions):
    """The statements of planned_actions/executed_actions (lists of dicts from the evidence record), in order."""
    assert all(isinstance(a, dict) and "action" in a for a in actions), actions
    return [a["sql"] for a in actions]


def test_cancel_exactly_the_three_of_five_sleeping_backends(run_module, pg_primary, pgh, backends):
    victims = backends.sleeping("sark-test-victim", 3)
    bystanders = backends.sleeping("sark-test-bystander", 2)
    opts = dict(pgh.connection_args(pg_primary), state="cancel", application_names=["sark-test-victim"],
                states=["active"], min_duration=0)

    check = run_module(MODULE, opts, check_mode=True, diff=True)
    assert not check.failed, check["msg"]
    assert check.changed is True and check["matched"] == 3
    victim_pids = sorted(v["pid"] for v in victims)
    assert sorted(b["pid"] for b in check["backends"]) == victim_pids
    assert all(b["outcome"] == "planned" for b in check["backends"])
    assert len(check["planned_actions"]) == 3
    for pid in victim_pids:
        assert any(s.startswith("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = %d AND backend_start = '" % pid)
                   for s in sqls(check["planned_actions"]))
    assert check["diff"] == {"before": {"backends": victim_pids}, "after": {"backends": []}}
    assert backends.alive(victim_pids + [b["pid"] for b in bystanders]) == {p: "active" for p in victim_pids + [b["pid"] for b in bystanders]}

    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    assert real.changed is True and real["signalled"] == {"cancelled": 3, "terminated": 0}
    assert sorted(sqls(real["executed_actions"])) == sorted(sqls(check["planned_actions"]))
    assert {a["action"] for a in real["executed_actions"]} == {"pg_cancel_backend"}
    for victim in victims:
        assert victim["done"].wait(10)
        assert isinstance(victim["error"], psycopg2.errors.QueryCanceled)  # pylint: disable=no-member
    for bystander in bystanders:
        assert not bystander["done"].is_set() and bystander["error"] is None
    assert set(backends.alive([b["pid"] for b in bystanders]).values()) == {"active"}
    assert set(backends.alive(victim_pids).values()) == {"idle"}  # cancelled, not terminated

    again = run_module(MODULE, opts)
    assert not again.failed and again.changed is False and again["matched"] == 0 and again["planned_actions"] == []


def test_max_backends_refuses_and_signals_nothing(run_module, pg_primary, pgh, backends):
    sleepers = backends.sleeping("sark-test-capped", 3)
    opts = dict(pgh.connection_args(pg_primary), state="terminate", application_names=["sark-test-capped"],
                max_backends=2)
    for check_mode in (True, False):
        result = run_module(MODULE, opts, check_mode=check_mode)
        assert result.failed and result["matched"] == 3
        assert "3 backends match the filter, more than max_backends=2: nothing was signalled" in result["msg"]
        assert result["evidence"]["executed_actions"] == []
    pids = [s["pid"] for s in sleepers]
    assert backends.alive(pids) == {pid: "active" for pid in pids}
    assert not any(s["done"].is_set() for s in sleepers)


def test_own_replication_autovacuum_and_sark_ops_backends_are_never_touched(run_module, pg_primary, pg_replica, pgh, backends):
    walsenders = [r[0] for r in pg_primary.execute("SELECT pid FROM pg_stat_replication", fetch=True)]
    assert walsenders, "the replica must be streaming"
    launcher = pg_primary.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher'", fetch=True)[0][0]
    other_module = backends.sleeping("sark.ops/sark_pg_info", 1)[0]
    # a filter every backend of user postgres satisfies
    wide = dict(pgh.connection_args(pg_primary), state="terminate", users=["postgres", ""], max_backends=50)
    check = run_module(MODULE, wide, check_mode=True)
    assert not check.failed, check["msg"]
    targets = {b["pid"] for b in check["backends"]}
    assert check["own_pid"] not in targets
    assert not targets & set(walsenders) and launcher not in targets and other_module["pid"] not in targets
    assert check["protected"]["own_connection"] == 1
    assert check["protected"]["not_client_backend"] >= len(walsenders)
    assert check["protected"]["sark_ops_connection"] == 1

    filters = ({"application_names": ["walreceiver"]}, {"pids": walsenders + [launcher]}, {"application_names": ["sark.ops/*"]})
    # lock_wait: the three runs take turns on the maintenance advisory lock
    runs = pgh.run_parallel(run_module, [(MODULE, dict(pgh.connection_args(pg_primary), state="terminate", lock_wait=30,
                                                       **flt), None) for flt in filters])
    for real in runs:
        assert not real.failed, real["msg"]
        assert real.changed is False and real["matched"] == 0 and real["protected"]
    assert pg_primary.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", fetch=True)[0][0] == 1
    assert backends.alive([other_module["pid"]]) == {other_module["pid"]: "active"}
    assert pg_primary.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", params=(launcher,), fetch=True)[0][0] == 1


def test_cancel_escalates_to_terminate_only_for_backends_still_matching(run_module, pg_primary, pgh, backends):
    sleeper = backends.sleeping("sark-test-escalate", 1)[0]
    stuck = backends.idle("sark-test-escalate", 1, in_transaction=True)[0]
    opts = dict(pgh.connection_args(pg_primary), state="cancel", application_names=["sark-test-escalate"],
                states=["active", "idle in transaction"], escalate=True, grace_period=1)
    check = run_module(MODULE, opts, check_mode=True)
    assert check.changed and check["matched"] == 2
    assert len(check["planned_actions"]) == 4  # a cancel each, and the terminate each would get if still matching
    assert sum("pg_terminate_backend" in s for s in sqls(check["planned_actions"])) == 2
    assert backends.alive([sleeper["pid"], stuck["pid"]]) == {sleeper["pid"]: "active", stuck["pid"]: "idle in transaction"}

    real = run_module(MODULE, opts)
    assert not real.failed, real["msg"]
    outcome = {b["pid"]: b for b in real["backends"]}
    assert outcome[sleeper["pid"]]["outcome"] == "cancelled" and not outcome[sleeper["pid"]].get("escalated")
    assert outcome[stuck["pid"]]["outcome"] == "terminated" and outcome[stuck["pid"]]["escalated"] is True
    assert outcome[stuck["pid"]]["exited"] is True
    assert real["signalled"] == {"cancelled": 2, "terminated": 1}
    assert backends.alive([sleeper["pid"], stuck["pid"]]) == {sleeper["pid"]: "idle"}
    with pytest.raises(psycopg2.OperationalError):
        stuck["conn"].cursor().execute("SELECT 1")
    again = run_module(MODULE, opts)
    assert again.changed is False and again["matched"] == 0


def idle_seconds(server, pids):
    """How long the server has seen each backend idle (its own clock, as the module reads it)."""
    rows = server.execute("SELECT pid, extract(epoch FROM now() - state_change) FROM pg_stat_activity "
                          "WHERE pid = ANY(%s) AND state = 'idle'", params=(list(pids),), fetch=True)
    return {pid: float(age) for pid, age in rows}


class KeepFresh:
    """Runs SELECT 1 on a connection every few milliseconds until stopped: that backend is never idle for anything
    near a second, however long a module subprocess takes to start on a loaded machine."""

    def __init__(self, conn, every=0.02):
        import threading  # pylint: disable=import-outside-toplevel
        self.conn, self.every, self.pokes = conn, every, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute("SELECT 1")
                self.pokes += 1
                self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def test_terminate_idle_sessions_check_real_idempotent(run_module, pg_primary, pgh, backends):
    idle = backends.idle("sark-test-idle", 2) + backends.idle("sark-test-idle-other", 1)
    expected = sorted(i["pid"] for i in idle)
    # no sleep: wait (bounded) until the server itself has seen them idle for longer than min_duration (ages only grow)
    pgh.wait_for(lambda: len(idle_seconds(pg_primary, expected)) == 3 and min(idle_seconds(pg_primary, expected).values()) > 1.2,
                 30, "3 backends idle for more than 1.2 s")
    fresh = backends.idle("sark-test-idle", 1)  # idle between pokes, but never for long enough
    opts = dict(pgh.connection_args(pg_primary), state="terminate", states=["idle"], min_duration=1,
                application_names=["sark-test-idle*"])
    with KeepFresh(fresh[0]["conn"]) as keeper:
        check = run_module(MODULE, opts, check_mode=True)
        assert check.changed and sorted(b["pid"] for b in check["backends"]) == expected
        assert backends.alive(expected) == {pid: "idle" for pid in expected}  # check mode terminated nothing
        real = run_module(MODULE, opts, diff=True)
        assert not real.failed, real["msg"]
        assert real["signalled"]["terminated"] == 3 and all(b["exited"] for b in real["backends"])
        assert sorted(b["pid"] for b in real["backends"]) == expected
        assert real["diff"]["after"] == {"backends": []}
        pgh.wait_gone(pg_primary, expected)
        again = run_module(MODULE, opts)
        assert again.changed is False and again["matched"] == 0
    assert keeper.pokes > 0
    assert backends.alive([fresh[0]["pid"]]) == {fresh[0]["pid"]: "idle"}


def test_bad_input_is_refused_and_nothing_is_signalled(run_module, pg_primary, pgh, backends):
    sleepers = backends.sleeping("sark-test-bad-input", 1)
    base = pgh.connection_args(pg_primary)
    cases = [
        (dict(base, state="terminate"), "needs at least one filter"),
        (dict(base, state="terminate", application_names=["sark-test-bad-input"], escalate=True), "escalate applies to state cancel"),
        (dict(base, state="terminate", pids=[-1]), "pids must be positive"),
        (dict(base, state="terminate", application_names=["sark-test-bad-input"], tables=["t"]), "tables"),
        (dict(base, state="terminate", action="terminate_backends", application_names=["sark-test-bad-input"]), "action"),
    ]
    for opts, message in cases:
        result = run_module(MODULE, opts)
        assert result.failed and message in result["msg"], (opts, result["msg"])
        assert not result.get("executed_actions")
    assert backends.alive([s["pid"] for s in sleepers]) == {sleepers[0]["pid"]: "active"}
