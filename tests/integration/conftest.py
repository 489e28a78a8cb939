"""Fixtures for the integration tests: real servers on 127.0.0.1 and two ways of running modules.

- ``run_module`` executes a module file the way Ansible's module runner does (a JSON args file,
  ``_ansible_check_mode``/``_ansible_diff`` set) - fast, so every operation can be tested in
  check mode, for real and a second time.
- ``playbook`` runs ansible-playbook through ansible-runner against the collection built and
  installed from its tarball, the way AWX runs a job template.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION_ROOT = os.path.dirname(TESTS_DIR)
sys.path.insert(0, TESTS_DIR)

from harness.servers import PostgresServer, RedisServer  # noqa: E402  pylint: disable=wrong-import-position


def _collections_dir():
    """The directory holding ansible_collections/ for this checkout (ansible-test stages one)."""
    path = COLLECTION_ROOT
    for dummy in range(3):
        path = os.path.dirname(path)
    if os.path.basename(os.path.dirname(os.path.dirname(COLLECTION_ROOT))) == "ansible_collections":
        return path
    return None


class ModuleResult(dict):
    @property
    def failed(self):
        return bool(self.get("failed"))

    @property
    def changed(self):
        return bool(self.get("changed"))


class ModuleRunner:
    """Run a module of this collection with JSON args in a subprocess, like Ansible does on the target."""

    def __init__(self, pythonpath, env=None):
        self.pythonpath = pythonpath
        self.env = dict(env or {})

    def __call__(self, name, args=None, check_mode=False, diff=False, env=None, timeout=120):
        module_path = os.path.join(COLLECTION_ROOT, "plugins", "modules", name + ".py")
        payload = dict(args or {})
        payload.update({"_ansible_check_mode": check_mode, "_ansible_diff": diff, "_ansible_module_name": "sark.ops." + name,
                        "_ansible_tmpdir": tempfile.gettempdir(), "_ansible_remote_tmp": tempfile.gettempdir(),
                        "_ansible_keep_remote_files": False})
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
            args_file = handle.name
        run_env = dict(os.environ)
        run_env["PYTHONPATH"] = os.pathsep.join([self.pythonpath, run_env.get("PYTHONPATH", "")])
        # a module must not pick up the developer's own connection settings
        for key in list(run_env):
            if key.startswith(("REDIS_", "PG", "SARK_API_", "SARK_LAYOUT")):
                del run_env[key]
        run_env.update(self.env)
        run_env.update(env or {})
        try:
            proc = subprocess.run([sys.executable, module_path, args_file], capture_output=True, text=True,
                                  env=run_env, timeout=timeout, check=False)
        finally:
            os.unlink(args_file)
        try:
            result = json.loads(proc.stdout)
        except ValueError as exc:
            raise AssertionError("module %s printed no JSON (rc=%s):\nstdout: %s\nstderr: %s"
                                 % (name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc
        result = ModuleResult(result)
        result["_stdout"] = proc.stdout
        result["_stderr"] = proc.stderr
        return result


def pytest_collection_modifyitems(items):
    """Tests marked harness say so in the junit report (a testcase property), where scripts/run-tests.sh counts them apart."""
    for item in items:
        if item.get_closest_marker("harness"):
            item.user_properties.append(("harness", "true"))


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
