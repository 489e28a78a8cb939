"""A recording stand-in for the parts of the AWX / Automation Controller REST API (v2) that
playbooks/awx_apply.yml uses: list endpoints filtered by query parameters, create (201), PATCH, survey_spec,
job template credentials, workflow nodes, approval templates and success links. Objects live in memory;
every request is recorded (method, path, query, JSON body) for the test to inspect.

No AWX can run on these machines; this answers the way AWX's API does for these calls (status codes, list
shape {count, results}, 204 on associate), nothing more."""

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLLECTIONS = ("organizations", "projects", "inventories", "credential_types", "credentials", "job_templates",
               "workflow_job_templates", "workflow_job_template_nodes", "workflow_approval_templates")


class AwxRecorder:
    def __init__(self, token):
        self.token = token
        self.objects = {name: {} for name in COLLECTIONS}
        self.surveys = {}
        self.jt_credentials = {}
        self.requests = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # ---------------------------------------------------------------- state
    def add(self, collection, **fields):
        with self._lock:
            obj = dict(fields, id=self._next_id)
            self._next_id += 1
            if collection == "workflow_job_template_nodes":
                obj.setdefault("success_nodes", [])
                obj.setdefault("failure_nodes", [])
                obj.setdefault("always_nodes", [])
                obj.setdefault("unified_job_template", None)
            self.objects[collection][obj["id"]] = obj
            return obj

    def find(self, collection, **fields):
        return [o for o in self.objects[collection].values() if all(o.get(k) == v for k, v in fields.items())]

    def writes(self):
        return [r for r in self.requests if r["method"] != "GET"]

    # ---------------------------------------------------------------- server
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def __enter__(self):
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status, body=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    return self._reply(400, {"detail": "JSON parse error"})
                query = dict(urllib.parse.parse_qsl(parsed.query))
                with recorder._lock:
                    recorder.requests.append({"method": method, "path": parsed.path, "query": query, "body": body})
                if self.headers.get("Authorization") != "Bearer " + recorder.token:
                    return self._reply(401, {"detail": "Authentication credentials were not provided."})
                status, answer = recorder.route(method, parsed.path, query, body)
                return self._reply(status, answer)

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # ---------------------------------------------------------------- API
    def route(self, method, path, query, body):  # pylint: disable=too-many-return-statements,too-many-branches
        match = re.fullmatch(r"/api/v2/(\w+)/(?:(\d+)/(?:(\w+)/)?)?", path)
        if not match or match.group(1) not in COLLECTIONS:
            return 404, {"detail": "Not found."}
        collection, oid, sub = match.group(1), match.group(2), match.group(3)
        if oid is None:
            if method == "GET":
                filters = dict((k, v) for k, v in query.items() if k not in ("page_size", "page", "order_by"))
                results = [o for o in self.objects[collection].values()
                           if all(str(o.get(k)) == v for k, v in filters.items())]
                return 200, {"count": len(results), "results": results}
            if method == "POST":
                if not isinstance(body, dict) or not body.get("name"):
                    return 400, {"name": ["This field is required."]}
                if self.find(collection, name=body["name"], **({"organization": body["organization"]} if "organization" in body else {})):
                    return 400, {"__all__": ["%s with this Name and Organization already exists." % collection]}
                return 201, self.add(collection, **body)
            return 405, {"detail": "Method not allowed."}
        obj = self.objects[collection].get(int(oid))
        if obj is None:
            return 404, {"detail": "Not found."}
        if sub is None:
            if method == "GET":
                return 200, obj
            if method == "PATCH":
                obj.update(body or {})
                return 200, obj
            return 405, {"detail": "Method not allowed."}
        if collection == "job_templates" and sub == "survey_spec":
            if method == "GET":
                return 200, self.surveys.get(obj["id"], {})
            if not isinstance(body, dict) or not isinstance(body.get("spec"), list):
                return 400, {"error": "'spec' must be a list of items."}
            self.surveys[obj["id"]] = body
            return 200, None
        if collection == "job_templates" and sub == "credentials":
            creds = self.jt_credentials.setdefault(obj["id"], [])
            if method == "GET":
                results = [self.objects["credentials"][c] for c in creds]
                return 200, {"count": len(results), "results": results}
            cred = (body or {}).get("id")
            if cred not in self.objects["credentials"]:
                return 400, {"msg": "credential %s does not exist" % cred}
            if cred not in creds:
                creds.append(cred)
            return 204, None
        if collection == "workflow_job_templates" and sub == "workflow_nodes":
            if method == "GET":
                results = self.find("workflow_job_template_nodes", workflow_job_template=obj["id"])
                return 200, {"count": len(results), "results": results}
            ujt = (body or {}).get("unified_job_template")
            if ujt is not None and ujt not in self.objects["job_templates"]:
                return 400, {"unified_job_template": ["Invalid pk"]}
            return 201, self.add("workflow_job_template_nodes", workflow_job_template=obj["id"], **(body or {}))
        if collection == "workflow_job_template_nodes" and sub == "create_approval_template":
            approval = self.add("workflow_approval_templates", **(body or {}))
            obj["unified_job_template"] = approval["id"]
            return 201, approval
        if collection == "workflow_job_template_nodes" and sub == "success_nodes":
            child = (body or {}).get("id")
            if child not in self.objects["workflow_job_template_nodes"]:
                return 400, {"msg": "node %s does not exist" % child}
            if child not in obj["success_nodes"]:
                obj["success_nodes"].append(child)
            return 204, None
        return 404, {"detail": "Not found."}
