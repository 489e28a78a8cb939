"""The one way tests run a module of this collection: like Ansible does on a target.

A module runs in a process of its own, reads a JSON args file (``ANSIBLE_MODULE_ARGS`` with
``_ansible_check_mode``/``_ansible_diff`` set) and prints its result as JSON; the result comes back as a
:class:`ModuleResult` (a dict with ``failed``/``changed`` properties, plus ``_stdout``/``_stderr``).

How the process is made:
- forked from the test process when it has no other thread (a few milliseconds instead of half a second of
  interpreter start-up and imports; pytest-xdist workers are single-threaded, so this holds under ``-n`` too);
- a fresh interpreter otherwise (forking a threaded process is unsafe: the simulators and the Kubernetes API
  harness serve from threads), or always when ``SARK_TEST_RUNNER=subprocess`` is set.
``now=`` (an aware datetime) stops the module's clock - ``datetime.now()``/``utcnow()`` and ``time.time()`` -
at that moment, in the module's process only, either way.

:meth:`ModuleRunner.start` starts a module without waiting (optionally through a wrapper script that injects
a fault), for the tests that kill or race a running module; :meth:`ModuleRunner.finish` collects it.

Connection settings of the developer's own shell (``REDIS_*``, ``PG*``, ``SARK_API_*``, ``SARK_LAYOUT``)
never reach a module; ``env=`` adds what a test wants it to see.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

SCRUB = ("REDIS_", "PG", "SARK_API_", "SARK_LAYOUT")
TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a fresh interpreter that stops its clock, then runs the module (argv: tests dir, ISO time, module, args file)
_FROZEN_BOOT = ("import datetime, runpy, sys; sys.path.insert(0, sys.argv[1]); from harness.runner import freeze_clock; "
                "freeze_clock(datetime.datetime.fromisoformat(sys.argv[2])); sys.argv = sys.argv[3:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')")


class ModuleResult(dict):
    @property
    def failed(self):
        return bool(self.get("failed"))

    @property
    def changed(self):
        return bool(self.get("changed"))


def freeze_clock(now):
    """Stop datetime.datetime.now()/utcnow() and time.time() at `now` in this process (a module's process only)."""
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


def module_payload(name, args=None, check_mode=False, diff=False):
    payload = dict(args or {})
    payload.update({"_ansible_check_mode": check_mode, "_ansible_diff": diff, "_ansible_module_name": "sark.ops." + name,
                    "_ansible_tmpdir": tempfile.gettempdir(), "_ansible_remote_tmp": tempfile.gettempdir(),
                    "_ansible_keep_remote_files": False})
    return {"ANSIBLE_MODULE_ARGS": payload}


def parse_result(name, stdout, stderr, returncode=None):
    try:
        result = ModuleResult(json.loads(stdout))
    except ValueError as exc:
        raise AssertionError("module %s printed no JSON (rc=%s):\nstdout: %s\nstderr: %s"
                             % (name, returncode, stdout[-3000:], stderr[-3000:])) from exc
    result["_stdout"] = stdout
    result["_stderr"] = stderr
    return result


class ModuleRunner:
    """``runner(name, args, check_mode=False, diff=False, env=None, timeout=120, now=None)`` -> ModuleResult."""

    def __init__(self, collections_dir, preload=("ansible.module_utils.basic", "redis", "redis.cluster", "redis.crc")):
        """collections_dir holds ansible_collections/sark/ops. It goes onto this process's sys.path (the one place
        tests touch it) so forked module processes find the collection already imported."""
        import importlib  # pylint: disable=import-outside-toplevel
        self.collections_dir = str(collections_dir)
        self.root = os.path.join(self.collections_dir, "ansible_collections", "sark", "ops")
        self.fork_allowed = os.environ.get("SARK_TEST_RUNNER", "fork") != "subprocess"
        if self.collections_dir not in sys.path:
            sys.path.insert(0, self.collections_dir)
        for name in preload:
            importlib.import_module(name)

    def module_path(self, name):
        return os.path.join(self.root, "plugins", "modules", name + ".py")

    def child_env(self, env=None):
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB)}
        run_env.update(env or {})
        run_env["PYTHONPATH"] = os.pathsep.join([self.collections_dir] + [p for p in [run_env.get("PYTHONPATH")] if p])
        return run_env

    def _args_file(self, name, args, check_mode, diff, directory=None):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=directory) as handle:
            json.dump(module_payload(name, args, check_mode, diff), handle)
            return handle.name

    def __call__(self, name, args=None, check_mode=False, diff=False, env=None, timeout=120, now=None):
        work = tempfile.mkdtemp(prefix="sark-module-")
        paths = {k: os.path.join(work, k) for k in ("stdout", "stderr")}
        paths["args"] = self._args_file(name, args, check_mode, diff, work)
        try:
            if self.fork_allowed and threading.active_count() == 1:
                returncode = self._run_forked(name, paths, env, timeout, now)
            else:
                returncode = self._run_fresh(name, paths, env, timeout, now)
            with open(paths["stdout"], encoding="utf-8") as handle:
                stdout = handle.read()
            with open(paths["stderr"], encoding="utf-8") as handle:
                stderr = handle.read()
        finally:
            for path in paths.values():
                if os.path.exists(path):
                    os.unlink(path)
            os.rmdir(work)
        return parse_result(name, stdout, stderr, returncode)

    def _run_fresh(self, name, paths, env, timeout, now):
        argv = [sys.executable, self.module_path(name), paths["args"]]
        if now is not None:
            argv = [sys.executable, "-c", _FROZEN_BOOT, TESTS_DIR, now.isoformat()] + argv[1:]
        with open(paths["stdout"], "w", encoding="utf-8") as out, open(paths["stderr"], "w", encoding="utf-8") as err:
            try:
                proc = subprocess.run(argv, stdout=out, stderr=err, env=self.child_env(env), timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise AssertionError("module %s did not finish within %ss" % (name, timeout)) from exc
        return proc.returncode

    def _run_forked(self, name, paths, env, timeout, now):
        import runpy  # pylint: disable=import-outside-toplevel
        module_path = self.module_path(name)
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
                child_env = self.child_env(env)  # read before the clear: it starts from this environment
                os.environ.clear()
                os.environ.update(child_env)
                if now is not None:
                    freeze_clock(now)
                from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
                basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
                sys.argv = [module_path, paths["args"]]
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
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("module %s did not finish within %ss" % (name, timeout))
            time.sleep(0.002)

    def start(self, name, args=None, check_mode=False, diff=False, env=None, wrapper=None):
        """Start a module without waiting for it (a Popen with text stdout/stderr pipes); wrapper = a script run as
        ``python wrapper module.py args.json`` in its place (e.g. one that injects a fault). Collect with finish()."""
        args_file = self._args_file(name, args, check_mode, diff)
        argv = [sys.executable] + ([wrapper] if wrapper else []) + [self.module_path(name), args_file]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,  # pylint: disable=consider-using-with
                                env=self.child_env(env))
        proc.args_file = args_file
        proc.module_name = name
        return proc

    @staticmethod
    def finish(proc, timeout=300):
        """Wait for a started module; its ModuleResult, or {"killed": True, "_stderr": ...} if it was SIGKILLed."""
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if os.path.exists(proc.args_file):
                os.unlink(proc.args_file)
        if proc.returncode == -signal.SIGKILL:
            return ModuleResult({"killed": True, "_stderr": err})
        return parse_result(proc.module_name, out, err, proc.returncode)
