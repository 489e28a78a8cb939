# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK MCP servers through the API, for both layouts (private): list, find, register, change status.

The CSV import is in _server_import.py, the database row and the export file in _server_export.py.

- ``runbook``: ``GET /api/v1/servers?owner_id=&search=&status=&limit=`` -> ``{servers}`` (names unique),
  ``POST /api/v1/servers``, ``PATCH``/``DELETE /api/v1/servers/{id}`` (DELETE is the soft delete).
- ``sark_v2``: the list route gives one page of at most 200 items without endpoints (following its
  cursor answers 500) and ``search`` is a substring match, so every full listing streams
  ``GET /api/v1/export/servers.json`` and a lookup filters exact names itself and reads endpoints from
  ``GET /api/v1/servers/{id}`` (or the export); names are not unique (a server is identified by
  name + endpoint); registrations of an import go through ``POST /api/v1/bulk/servers/register`` and
  status changes through ``PATCH /api/v1/bulk/servers/status``, always with
  ``fail_on_first_error: false`` (true is broken upstream: it commits and reports failure) and with
  the outcome read per item.

Memory stays bounded: the export route is decoded object by object from the HTTP stream.
"""

import codecs
import json
import re
import threading

from ansible_collections.sark.ops.plugins.module_utils._layout import trait_values
from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkLimitError,
    SarkValidationError,
)

SENSITIVITIES = ("low", "medium", "high", "critical")
TRANSPORTS = ("http", "stdio", "sse")
SERVER_FIELDS = ("id", "name", "endpoint", "status", "owner_id", "team_id", "transport", "sensitivity_level",
                 "description", "tags", "created_at", "updated_at")
STREAM_CHUNK = 64 * 1024
MAX_OBJECT_BYTES = 4 * 1024 * 1024
URL_PATTERN = re.compile(r"^https?://[^\s/]+[^\s]*$")
MAX_ENDPOINT = 500
HYDRATE_MAX = 20
# a bulk registration is not retried on an answer that may come after SARK did (part of) the work
BULK_RETRY_ON = (429, 503)
# registration fields sent even when not given, with their default
SENT_ALWAYS = {"tags": [], "transport": "http", "tools": []}


def endpoint_problem(endpoint):
    """Why an endpoint is refused (the same rule for one registration and for every import row), or None."""
    if len(endpoint) > MAX_ENDPOINT or not URL_PATTERN.match(endpoint):
        return "endpoint %r is not an http(s) URL of at most %d characters" % (endpoint[:80], MAX_ENDPOINT)
    return None


def normalize(item):
    """One server as a flat dict with the same keys in both layouts (lowercase labels, text ids)."""
    out = {}
    for field in SERVER_FIELDS:
        value = item.get(field)
        if field == "id" and value is None:
            value = item.get("server_id")
        if field in ("status", "transport", "sensitivity_level") and isinstance(value, str):
            value = value.lower()
        if field in ("id", "owner_id", "team_id") and value is not None:
            value = str(value)
        out[field] = value
    return out


def server_key(name, endpoint):
    return (name or "", (endpoint or "").strip())


def matches(server, filters):
    """Client-side filters: the ones a layout's API does not apply itself (and exact name/endpoint)."""
    if filters.get("name") is not None and server["name"] != filters["name"]:
        return False
    if filters.get("endpoint") is not None and (server["endpoint"] or "") != filters["endpoint"]:
        return False
    if filters.get("owner_id") is not None and (server["owner_id"] or "") != str(filters["owner_id"]):
        return False
    if filters.get("status") and (server["status"] or "") not in filters["status"]:
        return False
    if filters.get("sensitivity") and (server["sensitivity_level"] or "") not in filters["sensitivity"]:
        return False
    search = filters.get("search")
    if search:
        needle = search.lower()
        haystack = [server.get(k) or "" for k in ("name", "endpoint", "description")]
        if not any(needle in text.lower() for text in haystack):
            return False
    return True


def iter_json_array(chunks, key="servers"):
    """Yield the objects of the array under ``key`` of a JSON document arriving as byte chunks.

    Bounded memory: only the unparsed tail of the stream is buffered (an object may not exceed
    MAX_OBJECT_BYTES). Assumes ``key`` appears once, as the document's array (true of SARK's export).
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    opening = re.compile(r'"%s"\s*:\s*\[' % re.escape(key))
    buf = ""
    source = iter(chunks)
    eof = False

    def more():
        try:
            return utf8.decode(next(source))
        except StopIteration:
            return None

    while True:
        match = opening.search(buf)
        if match:
            buf = buf[match.end():]
            break
        chunk = more()
        if chunk is None:
            raise SarkAPIError("The export ended without a %r array: is this the export endpoint?" % key)
        buf = buf[-len(key) - 16:] + chunk
    while True:
        stripped = buf.lstrip(" \t\r\n,")
        if stripped.startswith("]"):
            return
        if stripped:
            try:
                obj, end = decoder.raw_decode(stripped)
            except ValueError:
                obj, end = None, None
            if end is not None:
                buf = stripped[end:]
                yield obj
                continue
            if len(stripped) > MAX_OBJECT_BYTES:
                raise SarkAPIError("One object of the export is larger than %d bytes: refusing to buffer it" % MAX_OBJECT_BYTES)
        else:
            buf = stripped
        if eof:
            raise SarkAPIError("The export stream ended in the middle of the %r array (connection cut?)" % key)
        chunk = more()
        if chunk is None:
            eof = True
            chunk = ""
        buf = stripped + chunk


class ServerApi:
    """The servers of one SARK deployment through its HTTP API, in one layout."""

    def __init__(self, client, layout, bulk=False):
        # bulk: many concurrent registrations through the shared client, each worker thread on its own
        # kept-alive connection (one TLS handshake per thread, not per row).
        self.client = client
        self.bulk = bulk
        client.keep_alive = bool(bulk)
        self.layout = layout
        traits = layout.traits
        # runbook: names unique (409 on a second one); sark_v2: a server is its name + endpoint
        self.names_unique = traits["server_names_unique"]
        # sark_v2: list items lack the endpoint and one page is all the list route gives: full listings read the export
        self.list_has_endpoint = traits["server_list_has_endpoint"]
        self.fields = traits["server_fields"]
        self.default_status = traits["server_default_status"]
        self.requests = 0
        self._lock = threading.Lock()
        self.truncated = False

    def _request(self, method, path, **kwargs):
        with self._lock:
            self.requests += 1
        return self.client.request(method, path, **kwargs)

    def statuses(self):
        return self.layout.traits["server_statuses"]

    # ------------------------------------------------------------------ reading

    def iter_servers(self, filters=None):
        """Every server (filters the API understands are sent to it; the rest are applied here)."""
        filters = dict(filters or {})
        if not self.list_has_endpoint:
            owned = None
            if filters.get("owner_id") is not None:
                owned = self._owned_ids(filters.pop("owner_id"))
            with self._lock:
                self.requests += 1
            source = (normalize(obj) for obj in iter_json_array(self.client.stream(self.layout.route("servers_export_route"), chunk_size=STREAM_CHUNK)))
            for server in source:
                if owned is not None:
                    if server["id"] not in owned:
                        continue
                    server["owner_id"] = owned[server["id"]]
                if matches(server, filters):
                    yield server
            return
        cap = self.layout.traits["server_list_max"]
        query = {"limit": cap, "owner_id": filters.get("owner_id"), "search": filters.get("search")}
        if filters.get("status") and len(filters["status"]) == 1:
            query["status"] = filters["status"][0]
        if filters.get("name") and not filters.get("search"):
            query["search"] = filters["name"]
        body = self._request("GET", self.layout.route("servers_route"), query=query).json() or {}
        items = body.get("servers") or []
        if len(items) >= cap:
            self.truncated = True
        for server in (normalize(obj) for obj in items):
            if matches(server, filters):
                yield server

    def _list_page(self, **query):
        """sark_v2: the one page the list route gives (at most 200 items, no endpoint in them)."""
        query["limit"] = self.layout.traits["server_list_max"]
        return self._request("GET", self.layout.route("servers_route"), query=query).json() or {}

    def _owned_ids(self, owner_id):
        """sark_v2: the export carries no owner, so the owner's servers come from the list route (one page)."""
        body = self._list_page(owner_id=owner_id)
        if body.get("has_more"):
            page = self.layout.traits["server_list_max"]
            raise SarkLimitError("owner_id %s owns more than %d servers, and SARK 2.x lists one page of at most %d (its cursor "
                                 "is broken): filter by search or status instead" % (owner_id, page, page))
        return {str(item.get("id")): str(owner_id) for item in body.get("items") or []}

    def get(self, server_id):
        """One server by id, or None."""
        path = self.layout.route("server_get_route", server_id=server_id)
        try:
            body = self._request("GET", path).json()
        except SarkAPIError as exc:
            if exc.status in (404, 422):
                return None
            raise
        return normalize(body or {})

    def find(self, name, endpoint=None):
        """The servers named exactly ``name`` (and with ``endpoint`` when given), each a full record.

        sark_v2: ``search`` is a substring match and list items carry no endpoint, so the exact name is
        filtered here and each candidate is read whole with GET /api/v1/servers/{id}; past one page of
        candidates (or more than HYDRATE_MAX of them) the export is read instead.
        """
        filters = {"name": name, "endpoint": endpoint.strip() if endpoint else None}
        if not self.list_has_endpoint:
            body = self._list_page(search=name)
            if not body.get("has_more"):
                ids = [str(i.get("id")) for i in body.get("items") or [] if i.get("name") == name]
                if len(ids) <= HYDRATE_MAX:
                    found = [self.get(server_id) for server_id in ids]
                    return [s for s in found if s is not None and matches(s, filters)]
        return list(self.iter_servers(filters))

    # ------------------------------------------------------------------ writing

    def register_body(self, spec):
        """The registration of one server with the fields this layout takes (its server_fields)."""
        body = {"name": spec["name"]}
        for field in self.fields:
            value = spec.get(field)
            if field in SENT_ALWAYS:
                body[field] = value or SENT_ALWAYS[field]
            elif value not in (None, "", {}) and field != "name":
                body[field] = value
        return body

    def register(self, spec):
        """Create one server; returns its id. Raises SarkAPIError (status 409: the runbook name exists)."""
        body = self._request("POST", self.layout.route("servers_route"), json_body=self.register_body(spec),
                             expect=(200, 201)).json() or {}
        return str(body.get("server_id") or body.get("id") or "")

    def set_status(self, server_id, status):
        """Change one server's status: runbook DELETE (soft delete) / PATCH, sark_v2 bulk status route."""
        if self.layout.has("servers_bulk_status_route"):
            route = self.layout.route("servers_bulk_status_route")
            update = {"updates": [{"server_id": server_id, "status": status}], "fail_on_first_error": False}
            body = self._request("PATCH", route, json_body=update).json() or {}
            done = [i for i in body.get("succeeded_items") or [] if str(i.get("server_id")) == str(server_id)]
            if not done:
                errors = "; ".join(str(i.get("error")) for i in body.get("failed_items") or []) or "no result for it in %s" % body
                raise SarkAPIError("SARK refused to set server %s to %s: %s" % (server_id, status, errors))
            return "PATCH %s" % route
        route = self.layout.route("server_route", server_id=server_id)
        if status == "inactive":
            self._request("DELETE", route)
            return "DELETE %s" % route
        self._request("PATCH", route, json_body={"status": status})
        return "PATCH %s" % route

    def register_batch(self, specs):
        """sark_v2: POST /api/v1/bulk/servers/register with 1-100 items, fail_on_first_error false.

        Returns (succeeded_items, failed_items). Not retried on 500/502/504 or a timeout: SARK may have
        registered (some of) the batch before answering, and a retry would register them twice."""
        body = self._request("POST", self.layout.route("servers_bulk_register_route"),
                             json_body={"servers": [self.register_body(spec) for spec in specs], "fail_on_first_error": False},
                             expect=200, retry_on=BULK_RETRY_ON).json() or {}
        return list(body.get("succeeded_items") or []), list(body.get("failed_items") or [])

    def update_fields(self, server_id, changes):
        """runbook only: PATCH endpoint/tags of an existing server."""
        route = self.layout.route("server_route", server_id=server_id)
        self._request("PATCH", route, json_body=changes)
        return "PATCH %s" % route


# ---------------------------------------------------------------------- selecting servers (sark_server_info, sark_server_export)

def all_statuses():
    """Every status some layout knows (the option's choices; the layout decides which exist)."""
    return sorted({status for values in trait_values("server_statuses").values() for status in values})


class Collector:
    """Counts every server that streams past (per status too) and keeps the first max_results."""

    def __init__(self, max_results):
        self.max_results = max_results
        self.kept = []
        self.count = 0
        self.by_status = {}

    def __call__(self, servers):
        for server in servers:
            self.count += 1
            status = server.get("status") or "unknown"
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if len(self.kept) < self.max_results:
                self.kept.append(server)
            yield server


def filter_argument_spec():
    return dict(
        server_id=dict(type="str"),
        name=dict(type="str"),
        endpoint=dict(type="str"),
        owner_id=dict(type="str"),
        search=dict(type="str"),
        status=dict(type="list", elements="str", choices=all_statuses()),
        sensitivity=dict(type="list", elements="str", choices=list(SENSITIVITIES)),
    )


def select_servers(api, params):
    """The servers the filter options select, streamed; refuses filters the layout cannot apply."""
    if params["sensitivity"] and "sensitivity_level" not in api.fields:
        raise SarkValidationError("sensitivity: servers of the %s layout have no sensitivity level" % api.layout.name)
    if params["status"]:
        unknown = [s for s in params["status"] if s not in api.statuses()]
        if unknown:
            raise SarkValidationError("status %s does not exist in the %s layout (use %s)"
                                      % (", ".join(unknown), api.layout.name, ", ".join(api.statuses())))
    filters = {k: params[k] for k in ("name", "endpoint", "owner_id", "search", "status", "sensitivity")}
    if params["server_id"]:
        server = api.get(params["server_id"])
        return iter([server] if server and matches(server, filters) else [])
    return api.iter_servers(filters)
