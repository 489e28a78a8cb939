# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK MCP servers through the API, for both layouts (private): list, find, register, status, export, import.

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

Memory stays bounded: the export is decoded object by object from the HTTP stream, CSV files are read
row by row, and the import keeps only the rows of the file (capped) and the matching existing servers.
"""

import codecs
import csv
import json
import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkError,
    SarkLimitError,
    SarkValidationError,
)

RUNBOOK_LIST_LIMIT = 10000
V2_PAGE_LIMIT = 200
STATUSES = {"runbook": ("active", "inactive", "unhealthy", "decommissioned"),
            "sark_v2": ("registered", "active", "inactive", "unhealthy", "decommissioned")}
SENSITIVITIES = ("low", "medium", "high", "critical")
TRANSPORTS = ("http", "stdio", "sse")
SERVER_FIELDS = ("id", "name", "endpoint", "status", "owner_id", "team_id", "transport", "sensitivity_level",
                 "description", "tags", "created_at", "updated_at")
IMPORT_COLUMNS = ("name", "endpoint", "description", "transport", "sensitivity_level", "tags")
SKIP_COLUMN = "-"
STREAM_CHUNK = 64 * 1024
MAX_OBJECT_BYTES = 4 * 1024 * 1024
URL_PATTERN = re.compile(r"^https?://[^\s/]+[^\s]*$")
MAX_ENDPOINT = 500
HYDRATE_MAX = 20
# a bulk registration is not retried on an answer that may come after SARK did (part of) the work
BULK_RETRY_ON = (429, 503)
AMBIGUOUS = "outcome unknown"


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


def stream_get(client, path, query=None, chunk_size=STREAM_CHUNK):
    """GET path with the client's auth and retry policy, yielding the body in chunks (never held whole)."""
    return client.stream(path, query=query, chunk_size=chunk_size)


class ServerApi:
    """The servers of one SARK deployment through its HTTP API, in one layout."""

    def __init__(self, client, layout, bulk=False):
        # bulk: many concurrent registrations through the shared client, each worker thread on its own
        # kept-alive connection (one TLS handshake per thread, not per row).
        self.client = client
        self.bulk = bulk
        client.keep_alive = bool(bulk)
        self.layout = layout
        self.name = layout.name
        self.v2 = layout.has("servers_export_route")
        self.requests = 0
        self._lock = threading.Lock()
        self.truncated = False

    def _request(self, method, path, **kwargs):
        with self._lock:
            self.requests += 1
        return self.client.request(method, path, **kwargs)

    def _bulk_request(self, method, path, **kwargs):
        return self._request(method, path, **kwargs)

    def close(self):
        """Nothing to release: kept-alive connections are per worker thread and close when the threads end."""

    def statuses(self):
        return STATUSES["sark_v2" if self.v2 else "runbook"]

    # ------------------------------------------------------------------ reading

    def iter_servers(self, filters=None):
        """Every server (filters the API understands are sent to it; the rest are applied here)."""
        filters = dict(filters or {})
        if self.v2:
            owned = None
            if filters.get("owner_id") is not None:
                owned = self._owned_ids(filters.pop("owner_id"))
            with self._lock:
                self.requests += 1
            source = (normalize(obj) for obj in iter_json_array(stream_get(self.client, self.layout.route("servers_export_route"))))
            for server in source:
                if owned is not None:
                    if server["id"] not in owned:
                        continue
                    server["owner_id"] = owned[server["id"]]
                if matches(server, filters):
                    yield server
            return
        query = {"limit": RUNBOOK_LIST_LIMIT, "owner_id": filters.get("owner_id"), "search": filters.get("search")}
        if filters.get("status") and len(filters["status"]) == 1:
            query["status"] = filters["status"][0]
        if filters.get("name") and not filters.get("search"):
            query["search"] = filters["name"]
        body = self._request("GET", self.layout.route("servers_route"), query=query).json() or {}
        items = body.get("servers") or []
        if len(items) >= RUNBOOK_LIST_LIMIT:
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
        if self.v2:
            body = self._list_page(search=name)
            if not body.get("has_more"):
                ids = [str(i.get("id")) for i in body.get("items") or [] if i.get("name") == name]
                if len(ids) <= HYDRATE_MAX:
                    found = [self.get(server_id) for server_id in ids]
                    return [s for s in found if s is not None and matches(s, filters)]
        return list(self.iter_servers(filters))

    # ------------------------------------------------------------------ writing

    def register_body(self, spec):
        if self.v2:
            body = {"name": spec["name"], "transport": spec.get("transport") or "http", "tools": spec.get("tools") or []}
            for field in ("endpoint", "description", "sensitivity_level"):
                if spec.get(field) is not None:
                    body[field] = spec[field]
            if spec.get("metadata"):
                body["metadata"] = spec["metadata"]
            return body
        body = {"name": spec["name"], "endpoint": spec.get("endpoint"), "tags": spec.get("tags") or []}
        if spec.get("owner_id"):
            body["owner_id"] = spec["owner_id"]
        return body

    def register(self, spec):
        """Create one server; returns its id. Raises SarkAPIError (status 409: the runbook name exists)."""
        body = self._bulk_request("POST", self.layout.route("servers_route"), json_body=self.register_body(spec),
                                  expect=(200, 201)).json() or {}
        return str(body.get("server_id") or body.get("id") or "")

    def set_status(self, server_id, status):
        """Change one server's status: runbook DELETE (soft delete) / PATCH, sark_v2 bulk status route."""
        if self.v2:
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


# ---------------------------------------------------------------------- database (hard delete)

def hard_delete(conn, layout, server_id, check_mode, pg):
    """DELETE one server row (sark_v2: its tools go with it, ON DELETE CASCADE). Returns (row or None, tools)."""
    table = pg.identifier(layout.template("servers_table"))
    query = pg.pgsql.SQL("SELECT id::text AS id, name, endpoint, status::text AS status FROM {} WHERE id::text = %s").format(table)
    row = pg.fetch_one(conn, query, (server_id,))
    if row is None:
        return None, 0
    tools = 0
    if layout.has("tools_table"):
        tools = pg.fetch_value(conn, pg.pgsql.SQL("SELECT count(*) FROM {} WHERE server_id::text = %s").format(
            pg.identifier(layout.template("tools_table"))), (server_id,)) or 0
    if not check_mode:
        with conn.cursor() as cur:
            cur.execute(pg.pgsql.SQL("DELETE FROM {} WHERE id::text = %s").format(table), (server_id,))
    row["status"] = (row.get("status") or "").lower()
    return row, int(tools)


# ---------------------------------------------------------------------- export

def export_servers(servers, path, fmt, fields, header=True, dry_run=False):
    """Stream servers to path (atomically replaced) as CSV or JSON; returns (rows, bytes, changed).

    dry_run (check mode) writes to a scratch file only, to tell honestly whether path would change.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise SarkValidationError("export_path %s: directory %s does not exist" % (path, directory))
    handle, tmp = tempfile.mkstemp(prefix=".sark-export-", dir=None if dry_run else directory)
    rows = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            if fmt == "csv":
                writer = csv.writer(out)
                if header:
                    writer.writerow(fields)
                for server in servers:
                    writer.writerow([_csv_cell(server.get(f)) for f in fields])
                    rows += 1
            else:
                out.write('{"servers": [')
                for server in servers:
                    out.write(("\n  " if rows == 0 else ",\n  ") + json.dumps({f: server.get(f) for f in fields}, sort_keys=True))
                    rows += 1
                out.write('\n], "count": %d}\n' % rows)
        size = os.path.getsize(tmp)
        changed = not _same_file(tmp, path)
        if dry_run:
            os.unlink(tmp)
        elif changed:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
        return rows, size, changed
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _same_file(left, right):
    if not os.path.exists(right) or os.path.getsize(left) != os.path.getsize(right):
        return False
    with open(left, "rb") as one, open(right, "rb") as two:
        while True:
            a, b = one.read(STREAM_CHUNK), two.read(STREAM_CHUNK)
            if a != b:
                return False
            if not a:
                return True


# ---------------------------------------------------------------------- import

class ImportRow:
    """One data row of an import. api_error: it failed because SARK failed (not because the row is bad)."""

    __slots__ = ("line", "name", "endpoint", "spec", "result", "reason", "id", "api_error")

    def __init__(self, line, name=None, endpoint=None, spec=None, result=None, reason=None):
        self.line = line
        self.name = name
        self.endpoint = endpoint
        self.spec = spec
        self.result = result
        self.reason = reason
        self.id = None
        self.api_error = False

    def as_dict(self):
        return {"line": self.line, "name": self.name, "endpoint": self.endpoint, "result": self.result,
                "reason": self.reason, "id": self.id}


def _header_columns(row):
    cells = [c.strip().lower() for c in row]
    if "name" in cells and all(c in IMPORT_COLUMNS or c in ("id", "status", "owner_id", "team_id", "created_at", "updated_at")
                               for c in cells):
        return [c if c in IMPORT_COLUMNS else SKIP_COLUMN for c in cells]
    return None


def validate_columns(columns):
    unknown = [c for c in columns if c not in IMPORT_COLUMNS and c != SKIP_COLUMN]
    if unknown or "name" not in columns:
        raise SarkValidationError("csv_columns %s: every entry must be one of %s (or '-' to skip a column) and 'name' must be one "
                                  "of them" % (columns, ", ".join(IMPORT_COLUMNS)))


def parse_row(line, cells, columns, v2, default_transport="http"):
    """One CSV row -> ImportRow (result 'failed' with a reason when malformed)."""
    if len(cells) != len(columns):
        return ImportRow(line, cells[0].strip() if cells else None, None, result="failed",
                         reason="expected %d fields (%s), got %d" % (len(columns), ",".join(columns), len(cells)))
    values = {col: cell.strip() for col, cell in zip(columns, cells) if col != SKIP_COLUMN}
    name, endpoint = values.get("name", ""), values.get("endpoint", "")
    row = ImportRow(line, name, endpoint)
    problem = None
    if any("\ufffd" in v or "\x00" in v for v in values.values()):
        problem = "not valid UTF-8 text (or contains NUL)"
    elif not name:
        problem = "empty name"
    elif len(name) > 255:
        problem = "name longer than 255 characters"
    elif "endpoint" in values and not endpoint:
        problem = "empty endpoint"
    elif endpoint and endpoint_problem(endpoint):
        problem = endpoint_problem(endpoint)
    elif values.get("transport") and values["transport"].lower() not in TRANSPORTS:
        problem = "transport %r is not one of %s" % (values["transport"], ", ".join(TRANSPORTS))
    elif values.get("sensitivity_level") and values["sensitivity_level"].lower() not in SENSITIVITIES:
        problem = "sensitivity_level %r is not one of %s" % (values["sensitivity_level"], ", ".join(SENSITIVITIES))
    tags = []
    if not problem and values.get("tags"):
        text = values["tags"]
        try:
            tags = json.loads(text) if text.startswith("[") else [t.strip() for t in text.split(";") if t.strip()]
        except ValueError:
            problem = "tags %r is neither a JSON list nor ';'-separated" % text[:80]
    if problem:
        row.result, row.reason = "failed", problem
        return row
    row.spec = {"name": name, "endpoint": endpoint or None, "tags": tags,
                "description": values.get("description") or None,
                "transport": (values.get("transport") or default_transport).lower(),
                "sensitivity_level": (values.get("sensitivity_level") or "").lower() or None}
    if not v2:
        row.spec.pop("transport")
        row.spec.pop("sensitivity_level")
        row.spec.pop("description")
    return row


def read_csv_rows(path, columns, header, max_rows, v2, default_transport="http"):
    """Every data row of the file as ImportRows (malformed ones already failed). Fails past max_rows."""
    rows = []
    if not os.path.isfile(path):
        raise SarkValidationError("import_csv %s does not exist or is not a file" % path)
    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first cell
    with open(path, "r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        first = True
        last_error_line = None
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if reader.line_num == last_error_line:
                    raise SarkValidationError("import_csv %s: cannot read past line %d: %s" % (path, reader.line_num, exc)) from exc
                last_error_line = reader.line_num
                rows.append(ImportRow(reader.line_num, result="failed", reason="unreadable CSV: %s" % exc))
                continue
            if first:
                first = False
                detected = _header_columns(cells) if header in ("auto", "true") else None
                if header == "true" and detected is None:
                    raise SarkValidationError("import_csv %s: csv_header=true but line 1 (%s) is not a header of known columns (%s)"
                                              % (path, ",".join(cells)[:200], ", ".join(IMPORT_COLUMNS)))
                if detected is not None:
                    columns = detected
                    continue
            if not cells or not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(rows) >= max_rows:
                raise SarkLimitError("import_csv %s has more than max_rows=%d data rows: nothing was imported. Split the file or "
                                     "raise max_rows." % (path, max_rows), max_rows=max_rows)
            rows.append(parse_row(reader.line_num, cells, columns, v2, default_transport))
    return rows, columns


class ServerImport:
    """Register the rows of a CSV that are not there yet, with bounded concurrency and per-row results."""

    def __init__(self, api, rows, concurrency=8, max_failures=100):
        self.api = api
        self.rows = rows
        self.concurrency = concurrency
        self.max_failures = max_failures

    def classify(self):
        """Mark rows unchanged (already registered / duplicate in file) or failed; return the rows to create."""
        wanted = {}
        for row in self.rows:
            if row.result is None:
                wanted.setdefault(row.name, set()).add(server_key(row.name, row.endpoint))
        existing, by_name = {}, {}
        if wanted:
            for server in self.api.iter_servers():
                keys = wanted.get(server["name"])
                if keys is None:
                    continue
                key = server_key(server["name"], server["endpoint"])
                if key in keys:
                    existing.setdefault(key, server["id"])
                by_name.setdefault(server["name"], server)
        if self.api.truncated and not self.api.v2:
            self._lookup_missing(wanted, existing, by_name)
        seen = {}
        to_create = []
        for row in self.rows:
            if row.result is not None:
                continue
            key = server_key(row.name, row.endpoint)
            if key in seen:
                row.result, row.reason = "unchanged", "same name and endpoint as line %d" % seen[key]
                continue
            seen[key] = row.line
            if key in existing:
                row.result, row.id = "unchanged", existing[key]
            elif not self.api.v2 and row.name in by_name:
                other = by_name[row.name]
                row.result, row.id = "failed", other["id"]
                row.reason = "a server named %r already exists with endpoint %r (runbook names are unique)" % (row.name, other["endpoint"])
            else:
                to_create.append(row)
        return to_create

    def _lookup_missing(self, wanted, existing, by_name):
        """runbook list cap reached: look the names not seen up one by one (concurrently, exact match)."""
        names = [name for name in wanted if name not in by_name]

        def one(name):
            body = self.api._bulk_request("GET", self.api.layout.route("servers_route"),
                                          query={"search": name, "limit": RUNBOOK_LIST_LIMIT}).json() or {}
            return name, [normalize(i) for i in body.get("servers") or [] if i.get("name") == name]

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for name, found in pool.map(one, names):
                for server in found:
                    key = server_key(server["name"], server["endpoint"])
                    if key in wanted[name]:
                        existing.setdefault(key, server["id"])
                    by_name.setdefault(name, server)

    def _create_one(self, row):
        try:
            row.id = self.api.register(row.spec)
            row.result = "created"
        except SarkAPIError as exc:
            if exc.status == 409 and not self.api.v2:
                self._resolve_conflict(row)
            else:
                row.result, row.reason, row.api_error = "failed", _short(exc), True
        except SarkError as exc:
            row.result, row.reason, row.api_error = "failed", _short(exc), True
        return row

    def _resolve_conflict(self, row):
        """runbook 409: the name exists (maybe past the list cap): unchanged if the endpoint is the same."""
        try:
            found = self.api.find(row.name)
        except SarkError as exc:
            row.result, row.reason = "failed", "name exists (409) and looking it up failed: %s" % _short(exc)
            return
        same = [s for s in found if (s["endpoint"] or "") == (row.endpoint or "")]
        if same:
            row.result, row.id = "unchanged", same[0]["id"]
        else:
            row.result = "failed"
            row.reason = "a server named %r already exists with endpoint %r (runbook names are unique)" % (
                row.name, found[0]["endpoint"] if found else None)

    def create(self, to_create):
        """Register the rows with at most `concurrency` requests in flight; stops after max_failures failures.

        Where the layout has a bulk register route, each request carries up to its batch size of rows
        (the per-request overhead is SARK's cost; the per-server work is the same); otherwise one POST per row.
        `concurrency` workers each take the next unit (a row or a batch) from one shared iterator (no future
        per unit: at thousands of rows the per-row scheduling cost more CPU than the HTTP client itself).
        """
        bulk = self.api.layout.has("servers_bulk_register_route")
        units = self.batches(to_create) if bulk else [[row] for row in to_create]
        lock = threading.Lock()
        source = iter(units)
        tally = {"failures": 0, "stopped": False}

        def worker():
            while True:
                with lock:
                    unit = None if tally["stopped"] else next(source, None)
                if unit is None:
                    return
                if bulk:
                    failures = self._create_batch(unit)
                else:
                    failures = 1 if self._create_one(unit[0]).result == "failed" else 0
                if failures:
                    with lock:
                        tally["failures"] += failures
                        if tally["failures"] >= self.max_failures:
                            tally["stopped"] = True

        workers = max(1, min(self.concurrency, len(units)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(worker) for _n in range(workers)]:
                future.result()  # a worker's unexpected exception surfaces here
        if bulk:
            self._settle_unknown([row for row in to_create if row.result == "failed" and row.reason and AMBIGUOUS in row.reason])
        for row in to_create:
            if row.result is None:
                row.result, row.reason = "failed", "not attempted: max_failures=%d reached" % self.max_failures
                row.api_error = True
        return tally["stopped"]

    def batches(self, rows):
        """Batches of at most the layout's bulk size in which no name appears twice, in file order.

        SARK answers per item with the name only (failed_items carry no id or index), so a name must be
        unique within its request for each answer to belong to exactly one row."""
        size = self.api.layout.traits.get("servers_bulk_max") or 100
        done, pending = [], []
        for row in rows:
            for batch, names in pending:
                if row.name not in names:
                    batch.append(row)
                    names.add(row.name)
                    break
            else:
                pending.append(([row], {row.name}))
            if len(pending) > 50:
                # one name on many rows (different endpoints): do not search ever more open batches
                done.append(pending.pop(0)[0])
            full = [entry for entry in pending if len(entry[0]) >= size]
            if full:
                done.extend(batch for batch, _names in full)
                pending = [entry for entry in pending if len(entry[0]) < size]
        done.extend(batch for batch, _names in pending)
        return done

    def _create_batch(self, batch):
        """One bulk request; returns the failures it counts against max_failures (a request failed whole counts once)."""
        try:
            succeeded, failed = self.api.register_batch([row.spec for row in batch])
        except SarkAPIError as exc:
            status = exc.status or 0
            reason = _short(exc)
            if status >= 500 and status != 503:
                reason = "%s: %s; a rerun registers only what is missing" % (AMBIGUOUS, reason)
            for row in batch:
                row.result, row.reason, row.api_error = "failed", reason, True
            return 1
        except SarkError as exc:
            reason = _short(exc)
            if getattr(exc, "kind", None) == "timeout":
                reason = "%s: %s; a rerun registers only what is missing" % (AMBIGUOUS, reason)
            for row in batch:
                row.result, row.reason, row.api_error = "failed", reason, True
            return 1
        by_name = {row.name: row for row in batch}
        for item in succeeded:
            row = by_name.pop(str(item.get("name")), None)
            if row is not None:
                row.result, row.id = "created", str(item.get("server_id") or "") or None
        for item in failed:
            row = by_name.pop(str(item.get("name")), None)
            if row is not None:
                row.result, row.reason, row.api_error = "failed", "SARK: %s" % str(item.get("error"))[:300], True
        for row in by_name.values():
            row.result, row.api_error = "failed", True
            row.reason = "%s: SARK's answer did not mention this row; a rerun registers only what is missing" % AMBIGUOUS
        return sum(1 for row in batch if row.result == "failed")

    def _settle_unknown(self, rows):
        """After answers that may have come after SARK did the work: what is registered now was registered by this run."""
        if not rows:
            return
        wanted = {server_key(row.name, row.endpoint): row for row in rows}
        names = {row.name for row in rows}
        try:
            for server in self.api.iter_servers():
                if server["name"] not in names:
                    continue
                row = wanted.pop(server_key(server["name"], server["endpoint"]), None)
                if row is not None:
                    row.result, row.id, row.api_error = "created", server["id"], False
                    row.reason = "registered although SARK's answer was an error (%s)" % row.reason[:200]
        except SarkError:
            return  # the rows stay failed with their reason: a rerun settles them


def _short(exc):
    text = getattr(exc, "msg", None) or str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


def write_report(path, rows):
    """All per-row results as CSV (line,name,endpoint,result,reason,id)."""
    handle, tmp = tempfile.mkstemp(prefix=".sark-import-", dir=os.path.dirname(os.path.abspath(path)) or ".")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "name", "endpoint", "result", "reason", "id"])
        for row in rows:
            writer.writerow([row.line, row.name or "", row.endpoint or "", row.result, row.reason or "", row.id or ""])
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
