"""Real PostgreSQL 15 for the sark_pg_* and sark_audit_info tests: a primary with pg_stat_statements preloaded,
a streaming replica made by pg_basebackup, both SARK layouts installed, and helpers that create real
long-running, idle and idle-in-transaction backends.
"""

import os
import signal
import subprocess
import tempfile
import threading

import pytest

from harness.sarksim import schema
from harness.servers import PostgresServer, stop_pid, wait_for

PASSWORD = "sark-test-pw"
LAYOUT_DATABASES = {"runbook": ("sark_rb", "sark_rb_audit"), "sark_v2": ("sark_v2", "sark_v2_audit")}


@pytest.fixture(scope="session")
def pg_primary():
    settings = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "top",
                "max_connections": 60, "autovacuum_naptime": "60s"}
    server = PostgresServer(workdir=new_workdir("primary"), password=PASSWORD, auth="scram-sha-256", settings=settings)
    try:
        server.start()
        yield server
    finally:
        quick_stop(server)
        remove_later(server.workdir)


@pytest.fixture(scope="session")
def pg_replica(pg_primary):
    # pg_basebackup -R records the password it was given in primary_conninfo; give it only for this call
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = PASSWORD
    server = PostgresServer(workdir=new_workdir("replica"), primary=pg_primary)
    try:
        server.start()
    finally:
        if saved is None:
            del os.environ["PGPASSWORD"]
        else:
            os.environ["PGPASSWORD"] = saved
    server.password = PASSWORD  # the copied cluster has the primary's roles and pg_hba.conf
    wait_for(lambda: pg_primary.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                                        fetch=True)[0][0] == 1, 20, "replica streaming")
    yield server
    quick_stop(server)
    remove_later(server.workdir)


def new_workdir(role):
    return tempfile.mkdtemp(prefix="sark-pgops-%s-" % role)


def remove_later(path):
    """Delete a stopped cluster's directory in a detached rm: thousands of files, nothing the tests wait for."""
    subprocess.Popen(["rm", "-rf", "--", path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                     stderr=subprocess.DEVNULL, start_new_session=True)


def quick_stop(server):
    """Immediate shutdown (no final checkpoint): these clusters are thrown away, and a checkpoint of everything the tests
    wrote is most of the teardown time."""
    stop_pid(server.pid, timeout=10, sig=signal.SIGQUIT)
    server.pid = None
    server.proc = None


def connection_args(server, database=None):
    """Module options for a server: TCP with the scram password, as a real deployment would."""
    args = {"pg_host": server.host, "pg_port": server.port, "pg_user": "postgres", "pg_password": PASSWORD,
            "pg_sslmode": "disable"}
    if database:
        args["pg_database"] = database
    return args


def install_layouts(server):
    """Both SARK layouts installed and seeded: layout -> {"sark": db, "audit": db, "seed": summary}."""
    out = {}
    for layout, (sark_db, audit_db) in LAYOUT_DATABASES.items():
        schema.install(server, layout, sark_db=sark_db, audit_db=audit_db)
        summary = schema.seed(server, layout, sark_db=sark_db, audit_db=audit_db)
        out[layout] = {"sark": sark_db, "audit": audit_db, "seed": summary}
    return out


def drop_databases(server, names):
    """Drop what a test module made, so a replica made later copies less."""
    for name in names:
        server.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def make_database(server, name):
    server.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    server.create_database(name)
    return name


class Backends:
    """Real client backends held open by this test process: sleeping queries, idle and idle-in-transaction sessions."""

    def __init__(self, server):
        self.server = server
        self.items = []

    def _connect(self, app, database):
        import psycopg2  # pylint: disable=import-outside-toplevel
        conn = psycopg2.connect(self.server.dsn(database), application_name=app)
        conn.autocommit = True
        return conn

    def sleeping(self, app, count=1, seconds=60, database="postgres"):
        """count backends running SELECT pg_sleep(seconds); each records the error that ended its query."""
        started = []
        for dummy in range(count):
            item = {"app": app, "conn": self._connect(app, database), "error": None, "done": threading.Event()}
            item["pid"] = item["conn"].get_backend_pid()
            item["thread"] = threading.Thread(target=self._sleep, args=(item, seconds), daemon=True)
            item["thread"].start()
            started.append(item)
        self.items += started
        self._wait_state([i["pid"] for i in started], "active")
        return started

    @staticmethod
    def _sleep(item, seconds):
        try:
            with item["conn"].cursor() as cur:
                cur.execute("SELECT pg_sleep(%s)", (seconds,))
        except Exception as exc:  # pylint: disable=broad-except
            item["error"] = exc
        finally:
            item["done"].set()

    def idle(self, app, count=1, in_transaction=False, database="postgres"):
        started = []
        for dummy in range(count):
            conn = self._connect(app, database)
            if in_transaction:
                conn.autocommit = False
                conn.cursor().execute("SELECT 1")
            started.append({"app": app, "conn": conn, "pid": conn.get_backend_pid(), "error": None,
                            "done": threading.Event(), "thread": None})
        self.items += started
        self._wait_state([i["pid"] for i in started], "idle in transaction" if in_transaction else "idle")
        return started

    def _wait_state(self, pids, state):
        def ready():
            rows = self.server.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND state = %s",
                                       params=(pids, state), fetch=True)
            return rows[0][0] == len(pids)
        wait_for(ready, 10, "%d backends %s" % (len(pids), state))

    def alive(self, pids):
        rows = self.server.execute("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s)", params=(list(pids),), fetch=True)
        return dict(rows)

    def close(self):
        pids = [i["pid"] for i in self.items]
        if pids:
            self.server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", params=(pids,),
                                fetch=True)
        for item in self.items:
            if item["thread"] is not None:
                item["thread"].join(10)
            try:
                item["conn"].close()
            except Exception:  # pylint: disable=broad-except
                pass
        self.items = []


@pytest.fixture()
def backends(pg_primary):
    holder = Backends(pg_primary)
    yield holder
    holder.close()


def wait_gone(server, pids, timeout=10):
    wait_for(lambda: not server.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", params=(list(pids),),
                                        fetch=True)[0][0], timeout, "backends %s gone" % list(pids))


def warnings(result):
    """Warning texts of a module result (ansible-core 2.19+ returns structured warning summaries)."""
    out = []
    for item in result.get("warnings") or []:
        if isinstance(item, dict):
            out.append((item.get("event") or {}).get("msg") or item.get("msg") or str(item))
        else:
            out.append(str(item))
    return out


def run_parallel(run_module, calls, workers=4):
    """Run independent module invocations at once: [(name, args, kwargs)] -> results in the same order."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_module, name, module_args, **(kwargs or {})) for name, module_args, kwargs in calls]
        return [f.result() for f in futures]


class Helpers:
    """Plain functions the test modules need (conftest modules are not importable by name)."""

    PASSWORD = PASSWORD
    connection_args = staticmethod(connection_args)
    make_database = staticmethod(make_database)
    install_layouts = staticmethod(install_layouts)
    drop_databases = staticmethod(drop_databases)
    wait_gone = staticmethod(wait_gone)
    wait_for = staticmethod(wait_for)
    warnings = staticmethod(warnings)
    run_parallel = staticmethod(run_parallel)


@pytest.fixture(scope="session")
def pgh():
    return Helpers
