# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _server_export.py: the CSV and JSON export text, streamed; the file replaced only when it changes."""

import csv
import hashlib
import io
import json
import os

from ansible_collections.sark.ops.plugins.module_utils._server_export import CHUNK, export_servers, file_digest, render

FIELDS = ["id", "name", "tags", "owner_id"]
SERVERS = [{"id": "1", "name": "prod, \"one\"", "tags": ["a", "b"], "owner_id": None, "endpoint": "not exported"},
           {"id": "2", "name": "stage", "tags": [], "owner_id": "u1"}]


def test_csv_quotes_cells_and_writes_lists_as_json():
    text = "".join(render(SERVERS, "csv", FIELDS))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [FIELDS, ["1", 'prod, "one"', '["a", "b"]', ""], ["2", "stage", "[]", "u1"]]
    assert "".join(render(SERVERS, "csv", FIELDS, header=False)).splitlines()[0].startswith("1,")


def test_json_is_one_document_with_the_fields_asked_and_a_count():
    doc = json.loads("".join(render(iter(SERVERS), "json", FIELDS)))
    assert doc["count"] == 2 and [s["id"] for s in doc["servers"]] == ["1", "2"]
    assert set(doc["servers"][0]) == set(FIELDS)
    assert json.loads("".join(render([], "json", FIELDS))) == {"servers": [], "count": 0}


def test_csv_streams_in_pieces():
    many = ({"id": str(n), "name": "s" * 100, "tags": [], "owner_id": None} for n in range(3000))
    pieces = list(render(many, "csv", FIELDS))
    assert len(pieces) > 3 and all(len(p) < CHUNK + 200 for p in pieces)


def test_file_digest(tmp_path):
    path = tmp_path / "x"
    assert file_digest(str(path)) == (None, None)
    path.write_bytes(b"abc")
    assert file_digest(str(path)) == (hashlib.sha256(b"abc").hexdigest(), 3)


def test_export_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "servers.csv")
    result = export_servers(iter(SERVERS), path, "csv", FIELDS, check_mode=True)
    assert result["changed"] is True and result["rows"] == 2 and result["before"]["exists"] is False
    assert os.listdir(str(tmp_path)) == []


def test_export_writes_once_then_leaves_an_equal_file_alone(tmp_path):
    path = str(tmp_path / "servers.json")
    first = export_servers(iter(SERVERS), path, "json", FIELDS)
    with open(path, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == first["sha256"] and first["changed"] is True
    mtime = os.stat(path).st_mtime_ns
    second = export_servers(iter(SERVERS), path, "json", FIELDS)
    assert second["changed"] is False and second["before"]["sha256"] == first["sha256"]
    assert os.stat(path).st_mtime_ns == mtime and sorted(os.listdir(str(tmp_path))) == ["servers.json"]
    third = export_servers(iter(SERVERS[:1]), path, "json", FIELDS)
    assert third["changed"] is True and json.loads(open(path, encoding="utf-8").read())["count"] == 1


def test_a_failing_source_leaves_the_old_file_whole(tmp_path):
    path = str(tmp_path / "servers.csv")
    export_servers(iter(SERVERS), path, "csv", FIELDS)
    before = open(path, encoding="utf-8").read()

    def broken():
        yield SERVERS[0]
        raise RuntimeError("API went away")

    try:
        export_servers(broken(), path, "csv", FIELDS)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the error was swallowed")
    assert open(path, encoding="utf-8").read() == before and sorted(os.listdir(str(tmp_path))) == ["servers.csv"]
