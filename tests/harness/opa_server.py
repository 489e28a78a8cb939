"""An OPA-compatible REST server for the tests, backed by the regorus Rego engine (gordon-to-regorus).

No OPA binary can be had here (see shared/notes/toolchain.md section 10), so this speaks the part of
OPA's REST API that SARK and the runbook use, with the same shapes and status codes:

- ``PUT /v1/policies/{id}`` (text/plain Rego) -> 200 ``{}``; a module that does not compile (together
  with the other stored modules, as OPA compiles them) -> 400 ``{code: invalid_parameter, message,
  errors: [{code, message, location: {file, row, col}}]}`` and nothing is stored
- ``GET /v1/policies`` -> ``{result: [{id, raw, ast}]}``; ``GET /v1/policies/{id}`` -> ``{result: {id, raw, ast}}``
  or 404 ``{code: resource_not_found, ...}``; ``DELETE /v1/policies/{id}`` -> 200 ``{}`` or 404
- ``POST /v1/data/{path}`` ``{input}`` -> ``{result}``, with ``result`` omitted when undefined (like OPA)
- ``GET /health`` -> 200 ``{}``

With ``--token`` every request needs ``Authorization: Bearer <token>`` (OPA's ``--authentication=token``
plus a simple authz), else 401 ``{code: unauthorized}``. Test controls (not OPA): ``GET /_test/requests``
(the request log), ``POST /_test/fail`` ``{status, count}`` (answer the next count requests with status).

Run: ``python -m harness.opa_server --port 8181 [--token T]`` or ``OpaServer()`` from the tests.
"""

import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

try:
    from harness.servers import LOOPBACK, Server, wait_for
except ImportError:  # run as a plain script
    LOOPBACK, Server, wait_for = "127.0.0.1", object, None

import regorus

LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<row>\d+):(?P<col>\d+)")


def engine_message(exc):
    """regorus' error text without the Rust stack backtrace."""
    text = str(exc).split("Stack backtrace:", maxsplit=1)[0]
    return text.strip()


def compile_error(policy_id, exc):
    """An OPA-style error object for a regorus compile error."""
    message = engine_message(exc)
    match = LOCATION.search(message)
    location = {"file": policy_id, "row": 0, "col": 0}
    if match:
        location = {"file": match.group("file"), "row": int(match.group("row")), "col": int(match.group("col"))}
    lines = [line for line in message.splitlines() if line.strip().startswith("error:")]
    short = lines[-1].strip()[len("error:"):].strip() if lines else message.splitlines()[-1].strip()
    code = "rego_parse_error" if "expect" in short or "keyword" in short or "unexpected" in short else "rego_compile_error"
    return {"code": code, "message": short, "location": location, "details": {"engine": message}}


class PolicyStore:
    """The modules OPA holds, compiled together on every change.

    regorus engines may not cross threads, so each request builds its own (about a millisecond).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.policies = {}

    @staticmethod
    def build(policies):
        engine = regorus.Engine()
        for policy_id, raw in sorted(policies.items()):
            try:
                engine.add_policy(policy_id, raw)
            except Exception as exc:  # pylint: disable=broad-except
                raise ValueError(compile_error(policy_id, exc)) from exc
        return engine

    def put(self, policy_id, raw):
        with self.lock:
            candidate = dict(self.policies)
            candidate[policy_id] = raw
            self.build(candidate)
            self.policies = candidate

    def delete(self, policy_id):
        with self.lock:
            if policy_id not in self.policies:
                return False
            candidate = dict(self.policies)
            del candidate[policy_id]
            self.build(candidate)
            self.policies = candidate
            return True

    def evaluate(self, path, opa_input):
        """(defined, value) of data.<path> for opa_input."""
        query = "data" + "".join(".%s" % part if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", part) else '["%s"]' % part
                                 for part in path.split("/") if part)
        with self.lock:
            engine = self.build(self.policies)
        if opa_input is not None:
            engine.set_input(opa_input)
        answer = engine.eval_query(query)
        results = answer.get("result") or []
        if not results:
            return False, None
        return True, results[0]["expressions"][0]["value"]


class Handler(BaseHTTPRequestHandler):
    store = None
    token = None
    log = []
    failures = {"status": None, "count": 0}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        path = urlsplit(self.path).path
        raw = self._body()
        if path.startswith("/_test/"):
            return self._test_control(path, raw)
        self.log.append({"method": self.command, "path": path, "content_type": self.headers.get("Content-Type"),
                         "auth": bool(self.headers.get("Authorization"))})
        if self.failures["count"] > 0:
            self.failures["count"] -= 1
            return self._send(self.failures["status"], {"code": "internal_error", "message": "injected failure"})
        if self.token and self.headers.get("Authorization") != "Bearer %s" % self.token:
            return self._send(401, {"code": "unauthorized", "message": "authentication required"})
        if path == "/health":
            return self._send(200, {})
        if path == "/v1/policies" and self.command == "GET":
            return self._send(200, {"result": [self._policy(pid) for pid in sorted(self.store.policies)]})
        if path.startswith("/v1/policies/"):
            return self._policies(unquote(path[len("/v1/policies/"):]), raw)
        if path.startswith("/v1/data") and self.command in ("POST", "GET"):
            return self._data(path[len("/v1/data"):], raw)
        return self._send(404, {"code": "resource_not_found", "message": "no route for %s %s" % (self.command, path)})

    def _test_control(self, path, raw):
        if path == "/_test/requests":
            return self._send(200, {"requests": self.log})
        if path == "/_test/fail":
            spec = json.loads(raw or b"{}")
            self.failures.update(status=int(spec.get("status", 500)), count=int(spec.get("count", 1)))
            return self._send(200, dict(self.failures))
        if path == "/_test/reset":
            del self.log[:]
            self.failures.update(status=None, count=0)
            return self._send(200, {})
        return self._send(404, {})

    def _policy(self, policy_id):
        return {"id": policy_id, "raw": self.store.policies[policy_id], "ast": {}}

    def _not_found(self, policy_id):
        return self._send(404, {"code": "resource_not_found", "message": 'storage_not_found_error: policy id "%s"' % policy_id})

    def _policies(self, policy_id, raw):
        if self.command == "GET":
            if policy_id not in self.store.policies:
                return self._not_found(policy_id)
            return self._send(200, {"result": self._policy(policy_id)})
        if self.command == "PUT":
            try:
                self.store.put(policy_id, raw.decode("utf-8"))
            except UnicodeDecodeError:
                return self._send(400, {"code": "invalid_parameter", "message": "policy is not UTF-8 text"})
            except ValueError as exc:
                error = exc.args[0]
                return self._send(400, {"code": "invalid_parameter", "message": "error(s) occurred while compiling module(s)",
                                        "errors": [error]})
            return self._send(200, {})
        if self.command == "DELETE":
            if not self.store.delete(policy_id):
                return self._not_found(policy_id)
            return self._send(200, {})
        return self._send(405, {"code": "method_not_allowed", "message": self.command})

    def _data(self, path, raw):
        opa_input = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._send(400, {"code": "invalid_parameter", "message": "body must be JSON"})
            opa_input = body.get("input") if isinstance(body, dict) else None
        try:
            defined, value = self.store.evaluate(path, opa_input)
        except Exception as exc:  # pylint: disable=broad-except
            return self._send(500, {"code": "internal_error", "message": engine_message(exc)})
        return self._send(200, {"result": value} if defined else {})

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle


def serve(host, port, token=None):
    handler = type("BoundHandler", (Handler,), {"store": PolicyStore(), "token": token, "log": [],
                                                "failures": {"status": None, "count": 0}})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd


class OpaServer(Server):  # pylint: disable=too-few-public-methods
    """The server above as a subprocess on a free loopback port, stopped by PID."""

    name = "opa"

    def __init__(self, workdir=None, port=None, token=None):
        super().__init__(workdir, port)
        self.token = token

    def start(self):
        import os  # pylint: disable=import-outside-toplevel
        import urllib.request  # pylint: disable=import-outside-toplevel
        argv = [sys.executable, "-m", "harness.opa_server", "--host", LOOPBACK, "--port", str(self.port)]
        env = dict(os.environ)
        tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join([tests_dir] + [p for p in [env.get("PYTHONPATH")] if p])
        if self.token:
            env["OPA_TEST_TOKEN"] = self.token  # not on the command line, where ps shows it

        self._spawn(argv, env=env)

        def ready():
            self._check_alive()
            try:
                with urllib.request.urlopen(self.url + "/_test/requests", timeout=1):  # nosec - loopback only
                    return True
            except OSError:
                return False
        wait_for(ready, 20, "opa test server on port %d" % self.port)
        return self

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)


def main(argv=None):
    import os  # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    args = parser.parse_args(argv)
    httpd = serve(args.host, args.port, token=os.environ.get("OPA_TEST_TOKEN"))
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
