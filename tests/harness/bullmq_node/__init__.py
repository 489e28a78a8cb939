"""The reference BullMQ (npm) as a test peer: a real Worker process and one-shot producer/inspector commands.

scripts/setup.sh installs npm's bullmq under $SARK_OPS_HOME and exports SARK_BULLMQ_NODE_DIR; nothing is fetched at
test time. node_available() says whether the tests can run (they skip, naming the set-up step, when not)."""

import json
import os
import shutil
import subprocess
import tempfile
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
    """A real BullMQ Worker (Node.js) in its own process group; its events are JSON lines in a log file, read on demand
    (no reader thread: the module runner forks only while the test process has a single thread)."""

    def __init__(self, redis_url, queue, concurrency=5, clock_offset_ms=0):
        self.argv = ["node", SCRIPT, "worker", redis_url, queue, str(concurrency), str(int(clock_offset_ms))]
        self.proc = None
        self.workdir = tempfile.mkdtemp(prefix="sark-bullmq-worker-")
        self.out_path = os.path.join(self.workdir, "events.jsonl")
        self.err_path = os.path.join(self.workdir, "stderr.log")

    def start(self, timeout=20):
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                         env=_env(), start_new_session=True)
        self.wait_for(lambda events: any(e["event"] == "ready" for e in events), timeout, "worker ready")
        return self

    @property
    def events(self):
        found = []
        with open(self.out_path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue  # a line still being written
        return found

    def ids(self, event, queue=None):
        return [e["id"] for e in self.events if e["event"] == event and (queue is None or e.get("queue") == queue)]

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        snapshot = []
        while time.monotonic() < deadline:
            snapshot = self.events
            if predicate(snapshot):
                return snapshot
            if self.proc.poll() is not None:
                with open(self.err_path, encoding="utf-8", errors="replace") as handle:
                    raise RuntimeError("BullMQ worker exited (%s): %s" % (self.proc.returncode, handle.read()[-2000:]))
            time.sleep(0.05)
        raise TimeoutError("BullMQ worker: no %s within %ss; events %s" % (what, timeout, snapshot[-10:]))

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
