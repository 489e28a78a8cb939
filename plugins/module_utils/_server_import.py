# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Importing SARK MCP servers from a CSV file (private): rows read one by one and checked, existing servers
recognised, the rest registered with bounded concurrency (in bulk where the layout has a bulk route), a result per row.

Memory stays bounded: the file is read row by row (capped at max_rows) and only the matching existing servers are kept.
"""

import csv
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sark.ops.plugins.module_utils._files import AtomicFile
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkError, SarkLimitError, SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._servers import (
    SENSITIVITIES,
    TRANSPORTS,
    endpoint_problem,
    normalize,
    server_key,
)

IMPORT_COLUMNS = ("name", "endpoint", "description", "transport", "sensitivity_level", "tags")
SKIP_COLUMN = "-"
AMBIGUOUS = "outcome unknown"


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


def parse_row(line, cells, columns, fields, default_transport="http"):
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
    # only what a registration of this layout takes (fields: the layout's server_fields)
    for field in ("transport", "sensitivity_level", "description"):
        if field not in fields:
            row.spec.pop(field)
    return row


def read_csv_rows(path, columns, header, max_rows, fields, default_transport="http"):
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
            rows.append(parse_row(reader.line_num, cells, columns, fields, default_transport))
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
        if self.api.truncated and self.api.names_unique:
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
            elif self.api.names_unique and row.name in by_name:
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
            body = self.api._request("GET", self.api.layout.route("servers_route"),
                                     query={"search": name, "limit": self.api.layout.traits["server_list_max"]}).json() or {}
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
            if exc.status == 409 and self.api.names_unique:
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
    """All per-row results as CSV (line,name,endpoint,result,reason,id), replaced whole or not at all."""
    with AtomicFile(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "name", "endpoint", "result", "reason", "id"])
        for row in rows:
            writer.writerow([row.line, row.name or "", row.endpoint or "", row.result, row.reason or "", row.id or ""])
