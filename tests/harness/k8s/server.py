"""Run the test Kubernetes API on 127.0.0.1: kmock.Server in front of SarkKubeEmulator, plus the controllers.

    with KubeAPI() as api:                  # a free port, scenario.yml loaded, seeded workloads Ready
        api.kubeconfig                       # a kubeconfig file (server http://127.0.0.1:PORT, dummy token)
        api.env                              # {"K8S_AUTH_KUBECONFIG": ...} for ansible / kubernetes.core
        api.call(lambda emu: ...)            # run code in the server's event loop, under its lock

``python -m harness.k8s.server --kubeconfig PATH [--scenario FILE] [--pid-file F]`` runs it as a process
(the demo stack), until SIGTERM.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time

import kmock
import yaml

from .controller import Controller
from .emulator import Path, SarkKubeEmulator

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, "scenario.yml")


def load_scenario(path=None):
    with open(path or SCENARIO, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def object_path(emu, obj):
    """The collection URL of an object from its apiVersion and kind (by discovery)."""
    api_version = obj["apiVersion"]
    group, version = api_version.rsplit("/", 1) if "/" in api_version else ("", api_version)
    for res in emu.resources:
        info = emu.resources[res]
        if res.group == group and res.version == version and info.kind == obj["kind"]:
            prefix = "/apis/%s/%s" % (group, version) if group else "/api/v1"
            namespace = obj["metadata"].get("namespace")
            if info.namespaced:
                return "%s/namespaces/%s/%s" % (prefix, namespace or "default", res.plural)
            return "%s/%s" % (prefix, res.plural)
    raise ValueError("unknown kind %s in %s" % (obj["kind"], api_version))


def seed(emu, scenario):
    """Create the scenario's namespaces, nodes and objects through the API's own create path."""
    def create(obj):
        emu.dispatch("POST", Path.parse(object_path(emu, obj)), {}, "application/json", json.dumps(obj).encode())

    for name in scenario.get("namespaces") or []:
        create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}})
    for node in scenario.get("nodes") or []:
        create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["name"], "labels": node.get("labels") or {}}})
        stored = emu.get("", "nodes", None, node["name"])
        stored["status"] = {"capacity": node["capacity"], "allocatable": node.get("allocatable") or node["capacity"],
                            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                            "nodeInfo": {"kubeletVersion": "v1.30.0", "containerRuntimeVersion": "containerd://1.7.0"}}
        emu.put("", "nodes", stored)
    for obj in scenario.get("objects") or []:
        create(obj)


class KubeAPI:
    """The API server in a background thread with its own event loop (see the module docstring)."""

    def __init__(self, scenario=None, port=0, kubeconfig=None, timing=None):
        self.scenario = scenario if isinstance(scenario, dict) else load_scenario(scenario)
        if timing:
            self.scenario = dict(self.scenario, timing=dict(self.scenario.get("timing") or {}, **timing))
        self.port = port
        self.kubeconfig = kubeconfig
        self._own_kubeconfig = kubeconfig is None
        self.loop = None
        self.emu = None
        self.controller = None
        self._thread = None
        self._started = threading.Event()
        self._stop = None
        self._error = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def env(self):
        return {"K8S_AUTH_KUBECONFIG": self.kubeconfig}

    def start(self, wait_ready=30.0):
        self._thread = threading.Thread(target=self._run, name="kube-api", daemon=True)
        self._thread.start()
        if not self._started.wait(30) or self._error:
            raise RuntimeError("the test Kubernetes API did not start: %r" % (self._error,))
        if self.kubeconfig is None:
            handle, self.kubeconfig = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yml")
            os.close(handle)
        write_kubeconfig(self.kubeconfig, self.url)
        if wait_ready:
            self.wait_ready(wait_ready)
        return self

    def _run(self):
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # pylint: disable=broad-except
            self._error = exc
            self._started.set()
        finally:
            loop.close()

    async def _serve(self):
        self._stop = asyncio.Event()
        async with SarkKubeEmulator() as emu:
            server = kmock.Server(emu, host="127.0.0.1", port=self.port or None)
            async with server:
                self.port = server.url.port
                self.emu = emu
                self.controller = Controller(emu, self.scenario)
                async with emu._lock:  # pylint: disable=protected-access
                    seed(emu, self.scenario)
                self.controller.start()
                self._started.set()
                await self._stop.wait()
                await self.controller.stop()

    def call(self, func, timeout=10):
        """Run func(emu) in the server's loop under its lock and return the result."""
        async def run():
            async with self.emu._lock:  # pylint: disable=protected-access
                return func(self.emu)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def wait_ready(self, timeout=30.0):
        """Until every seeded Deployment and StatefulSet has all its pods Ready."""
        deadline = time.monotonic() + timeout

        def check(emu):
            for group, plural in (("apps", "deployments"), ("apps", "statefulsets")):
                for obj in emu.items(group, plural):
                    status = obj.get("status") or {}
                    if status.get("readyReplicas", 0) != obj["spec"]["replicas"] or \
                            status.get("replicas", 0) != obj["spec"]["replicas"]:
                        return "%s/%s" % (plural, obj["metadata"]["name"])
            return None
        while True:
            waiting = self.call(check)
            if waiting is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the seeded workloads did not turn Ready in %ss (%s)" % (timeout, waiting))
            time.sleep(0.1)

    def stop(self):
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._own_kubeconfig and self.kubeconfig and os.path.exists(self.kubeconfig):
            os.unlink(self.kubeconfig)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def write_kubeconfig(path, url, token="dummy-token-for-the-test-api"):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "sark-test",
              "clusters": [{"name": "sark-test", "cluster": {"server": url}}],
              "users": [{"name": "sark-test", "user": {"token": token}}],
              "contexts": [{"name": "sark-test", "context": {"cluster": "sark-test", "user": "sark-test", "namespace": "production"}}]}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    os.chmod(path, 0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--scenario", default=SCENARIO)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pid-file")
    args = parser.parse_args(argv)
    api = KubeAPI(args.scenario, port=args.port, kubeconfig=args.kubeconfig).start()
    if args.pid_file:
        with open(args.pid_file, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
    print("kubernetes API on %s (kubeconfig %s)" % (api.url, api.kubeconfig), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
