"""The reference BullMQ (npm) as a test peer: a real Worker process and one-shot producer/inspector commands.

scripts/setup.sh installs npm's bullmq under $SARK_OPS_HOME and exports SARK_BULLMQ_NODE_DIR; nothing is fetched at
test time. node_available() says whether the tests can run (they skip, naming the set-up step, when not)."""

import json
import os
import shutil
import subprocess
import threading
import time

from harness.servers import stop_pid

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bullmq_tool.js")


def node_dir():
    return os.environ.get("SARK_BULLMQ_NODE_DIR") or ""


def node_available():
    return bool(shutil.which("node")) and os.path.isdir(os.path.join(node_dir(), "node_modules", "bullmq"))


def _env():
    env = dict(os.environ)
    env["NODE_PATH"] = os.path.join(node_dir(), "node_modules")
    return env


def run(*args, timeout=30):
    """One command of bullmq_tool.js (add, counts, clean); returns its JSON answer."""
    done = subprocess.run(["node", SCRIPT] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError("bullmq_tool.js %s failed: %s" % (args[0], done.stderr.strip()))
    return json.loads(done.stdout.strip().splitlines()[-1])


class NodeWorker:
    """A real BullMQ Worker (Node.js) in its own process group; events collected from its stdout."""

    def __init__(self, redis_url, queue, concurrency=5, clock_offset_ms=0):
        self.argv = ["node", SCRIPT, "worker", redis_url, queue, str(concurrency), str(int(clock_offset_ms))]
        self.events = []
        self.proc = None
        self._lock = threading.Lock()

    def start(self, timeout=20):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,  # pylint: disable=consider-using-with
                                     env=_env(), start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda events: any(e["event"] == "ready" for e in events), timeout, "worker ready")
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)

    def ids(self, event):
        with self._lock:
            return [e["id"] for e in self.events if e["event"] == event]

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.events)
            if predicate(snapshot):
                return snapshot
            if self.proc.poll() is not None:
                raise RuntimeError("BullMQ worker exited (%s): %s" % (self.proc.returncode, self.proc.stderr.read()))
            time.sleep(0.05)
        raise TimeoutError("BullMQ worker: no %s within %ss; events %s" % (what, timeout, snapshot[-10:]))

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
