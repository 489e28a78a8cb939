# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK MCP servers in the database and in export files (private): the hard delete of one row, and the export file
that sark_server_export writes (CSV or JSON, streamed, replaced atomically and only when its content changes).
"""

import csv
import hashlib
import io
import json
import os

from ansible_collections.sark.ops.plugins.module_utils._files import AtomicFile, describe_os_error
from ansible_collections.sark.ops.plugins.module_utils._module import SarkOperationError

CHUNK = 64 * 1024


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


# ---------------------------------------------------------------------- export file

def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def render(servers, fmt, fields, header=True):
    """The export's text in pieces of about CHUNK characters (never whole in memory)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        if header:
            writer.writerow(fields)
        for server in servers:
            writer.writerow([_csv_cell(server.get(f)) for f in fields])
            if buf.tell() >= CHUNK:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()
        return
    count = 0
    yield '{"servers": ['
    for server in servers:
        yield ("\n  " if count == 0 else ",\n  ") + json.dumps({f: server.get(f) for f in fields}, sort_keys=True)
        count += 1
    yield '\n], "count": %d}\n' % count


def file_digest(path):
    """(sha256, bytes) of an existing file, or (None, None) when there is none."""
    if not os.path.exists(path):
        return None, None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
    except OSError as exc:
        raise SarkOperationError(describe_os_error(exc, path, doing="read")) from exc
    return digest.hexdigest(), os.path.getsize(path)


def export_servers(servers, path, fmt, fields, header=True, check_mode=False):
    """Write servers to path as CSV or JSON, replacing it atomically and only when the content differs.

    Check mode writes nothing at all (not even a scratch file): the content is hashed as it streams and compared with
    the file's. Returns {rows, bytes, sha256, before: {sha256, bytes} , changed}."""
    before_sha, before_size = file_digest(path)
    box = {"rows": 0}

    def counted():
        for server in servers:
            box["rows"] += 1
            yield server

    digest = hashlib.sha256()
    size = 0
    target = None if check_mode else AtomicFile(path, newline="")
    out = target.__enter__() if target else None
    try:
        for piece in render(counted(), fmt, fields, header):
            data = piece.encode("utf-8")
            digest.update(data)
            size += len(data)
            if out is not None:
                out.write(piece)
    except BaseException:
        if target:
            target.discard()
        raise
    changed = digest.hexdigest() != before_sha
    if target:
        if changed:
            target.__exit__(None, None, None)
        else:
            target.discard()
    return {"rows": box["rows"], "bytes": size, "sha256": digest.hexdigest(), "changed": changed,
            "before": {"exists": before_sha is not None, "sha256": before_sha, "bytes": before_size}}
