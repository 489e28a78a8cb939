"""Fixtures for the integration tests: real servers on 127.0.0.1 and two ways of running modules.

``tests/`` is on sys.path through pytest.ini (``pythonpath``), so ``harness`` imports without path edits.

- ``run_module`` (tests/harness/runner.py) executes a module file the way Ansible's module runner does (a JSON
  args file, ``_ansible_check_mode``/``_ansible_diff`` set) - fast (forked when it can), so every operation can
  be tested in check mode, for real and a second time; ``now=`` freezes the module's clock, ``start()``/``finish()``
  run one in the background.
- ``playbook`` runs ansible-playbook through ansible-runner against the collection built and
  installed from its tarball, the way AWX runs a job template.
"""

import os
import subprocess
import sys

import pytest

from harness.runner import ModuleRunner
from harness.servers import PostgresServer, RedisServer

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION_ROOT = os.path.dirname(TESTS_DIR)


def _collections_dir():
    """The directory holding ansible_collections/ for this checkout (ansible-test stages one)."""
    path = COLLECTION_ROOT
    for dummy in range(3):
        path = os.path.dirname(path)
    if os.path.basename(os.path.dirname(os.path.dirname(COLLECTION_ROOT))) == "ansible_collections":
        return path
    return None


# The longest files first: under pytest-xdist (--dist loadfile, scripts/run-tests.sh) files are handed to the workers
# in collection order, so a long file collected last would run alone at the end while the other workers sit idle.
# measured (CPU seconds of a loaded full run): the AWX job templates ~400, the kubectl steps ~200, the RSP deployments ~190,
# the secrets at -vvv ~90, the sark_k8s role ~75, the AWX apply ~70, the AUDITRON migration ~50
LONGEST_FIRST = ("test_awx_job_templates.py", "rsp/test_rsp_deploy.py", "k8s/test_kubectl_steps.py", "reliability/test_secrets.py",
                 "k8s/test_role_sark_k8s.py", "test_awx_apply.py", "k8s/test_auditron_migrate.py", "k8s/test_workload_info.py",
                 "test_incident_comms.py", "test_daily_check_playbook.py", "reliability/test_redis_reliability.py", "test_server.py")


def _rank(item):
    path = str(item.fspath).replace(os.sep, "/")
    for rank, suffix in enumerate(LONGEST_FIRST):
        if path.endswith("/integration/" + suffix):
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(items):
    """Tests marked harness say so in the junit report (a testcase property), where scripts/run-tests.sh counts them apart.
    The longest files go first (a stable sort: each file's own order is kept)."""
    for item in items:
        if item.get_closest_marker("harness"):
            item.user_properties.append(("harness", "true"))
    items.sort(key=_rank)


@pytest.fixture(scope="session")
def collections_dir(tmp_path_factory):
    """A directory containing ansible_collections/sark/ops for this checkout."""
    existing = _collections_dir()
    if existing:
        return existing
    root = tmp_path_factory.mktemp("collections")
    os.makedirs(os.path.join(root, "ansible_collections", "sark"))
    os.symlink(COLLECTION_ROOT, os.path.join(root, "ansible_collections", "sark", "ops"))
    return str(root)


@pytest.fixture(scope="session")
def run_module(collections_dir):
    return ModuleRunner(collections_dir)


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    """Build the collection tarball and install it offline, like a user would; returns the collections path."""
    work = tmp_path_factory.mktemp("built")
    dist = os.path.join(work, "dist")
    subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path", dist, COLLECTION_ROOT],
                   check=True, capture_output=True, text=True)
    tarball = [os.path.join(dist, f) for f in os.listdir(dist) if f.endswith(".tar.gz")][0]
    target = os.path.join(work, "inst")
    subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force", "-p", target, tarball],
                   check=True, capture_output=True, text=True)
    return target


@pytest.fixture(scope="session")
def playbook(installed_collection, tmp_path_factory):
    """Run a playbook (YAML text) with ansible-runner against the installed collection."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    deps = os.environ.get("SARK_DEPS_COLLECTIONS", "")

    def run(play_text, extravars=None, envvars=None, verbosity=0, cmdline=None):
        private = tmp_path_factory.mktemp("runner")
        os.makedirs(os.path.join(private, "project"))
        with open(os.path.join(private, "project", "play.yml"), "w", encoding="utf-8") as handle:
            handle.write(play_text)
        env = {"ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(p for p in [installed_collection, deps] if p),
               "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
               "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
               "ANSIBLE_NOCOLOR": "1"}
        env.update(envvars or {})
        result = ansible_runner.run(
            private_data_dir=str(private), playbook="play.yml",
            inventory="localhost ansible_connection=local ansible_python_interpreter=%s" % sys.executable,
            extravars=extravars or {}, envvars=env, quiet=True, verbosity=verbosity, cmdline=cmdline,
            settings={"suppress_env_files": True})
        result.stdout_text = result.stdout.read()
        return result
    return run


@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


class RedisDbAllocator:
    """The one place Redis database numbers are handed out in a test session (each xdist worker has a session and a
    Redis of its own). Database 0 belongs to ``redis_client`` (flushed before each test); 1-15 go to whoever asks,
    never to two owners at once, and are flushed when handed out."""

    def __init__(self, server, numbers=range(1, 16)):
        self.server = server
        self.free = list(numbers)
        self.owners = {}

    def take(self, owner):
        if not self.free:
            raise RuntimeError("no free Redis database for %s; in use: %s" % (owner, self.owners))
        number = self.free.pop(0)
        self.owners[number] = owner
        client = self.server.client(db=number)
        client.flushdb()
        client.close()
        return number

    def give_back(self, number):
        del self.owners[number]
        self.free.insert(0, number)


@pytest.fixture(scope="session")
def redis_dbs(redis_server):
    return RedisDbAllocator(redis_server)


@pytest.fixture(scope="module")
def redis_db(redis_dbs, request):
    """A Redis database number of this test module's own (released and flushed after its last test)."""
    number = redis_dbs.take(request.module.__name__)
    yield number
    redis_dbs.give_back(number)


LAYOUTS = ("runbook", "sark_v2")


@pytest.fixture(scope="module")
def sims(request, pg_server, redis_server, redis_dbs):
    """One seeded SARK simulator per layout for this test module: {layout: simulator}, started side by side.

    Databases are named after the module (PostgreSQL) or handed out by ``redis_dbs`` (Redis), so no two modules share
    one. A module sets ``SIM_OPTIONS = {"rate_limit_enabled": False}`` to pass options to harness.sarksim.simulators.
    Use ``sim`` for a test parameterised by layout."""
    from harness.sarksim import simulators  # pylint: disable=import-outside-toplevel
    base = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "", 1)[:40]
    numbers = {layout: redis_dbs.take("%s/%s" % (request.module.__name__, layout)) for layout in LAYOUTS}
    dbs = {layout: ("sim_%s_%s" % (base, short), "sim_%s_%s_audit" % (base, short), numbers[layout])
           for layout, short in zip(LAYOUTS, ("rb", "v2"))}
    try:
        with simulators(pg_server, redis_server, dbs, **getattr(request.module, "SIM_OPTIONS", {})) as started:
            yield started
    finally:
        for number in numbers.values():
            redis_dbs.give_back(number)


@pytest.fixture(params=LAYOUTS)
def sim(request, sims):
    """The module's simulator of each layout in turn (the test runs once per layout)."""
    return sims[request.param]


@pytest.fixture()
def fresh_sims(sims):
    """Every simulator of the module without faults or leftover state before and after the test
    (``pytestmark = pytest.mark.usefixtures("fresh_sims")``)."""
    for started in sims.values():
        started.reset()
    yield sims
    for started in sims.values():
        started.reset()


@pytest.fixture()
def redis_client(redis_server):
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def pg_server():
    with PostgresServer(password="sark-test-pw", auth="scram-sha-256") as server:
        yield server
