# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the server helpers: streamed export decoding, CSV row parsing, filters."""

import json

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkLimitError
from ansible_collections.sark.ops.plugins.module_utils._servers import (
    iter_json_array,
    matches,
    normalize,
    parse_row,
    read_csv_rows,
)


def chunked(data, size):
    raw = data.encode("utf-8")
    return [raw[i:i + size] for i in range(0, len(raw), size)]


@pytest.mark.parametrize("size", [1, 7, 64, 100000])
def test_iter_json_array_any_chunking(size):
    servers = [{"id": str(n), "name": "s-%d é" % n, "tags": ["a", {"b": "]"}]} for n in range(50)]
    doc = json.dumps({"export_type": "servers", "total_records": 50, "servers": servers})
    assert list(iter_json_array(chunked(doc, size))) == servers


def test_iter_json_array_cut_stream():
    doc = json.dumps({"servers": [{"id": "1"}, {"id": "2"}]})[:-8]
    with pytest.raises(SarkAPIError, match="ended in the middle"):
        list(iter_json_array(chunked(doc, 5)))


def test_parse_row_reasons():
    columns = ["name", "endpoint"]
    assert parse_row(3, ["a"], columns, False).reason == "expected 2 fields (name,endpoint), got 1"
    assert parse_row(3, ["", "https://x"], columns, False).reason == "empty name"
    assert "not an http(s) URL" in parse_row(3, ["a", "ftp://x"], columns, False).reason
    good = parse_row(4, [" a ", "https://a.example.com"], columns, True)
    assert good.result is None and good.spec["name"] == "a" and good.spec["transport"] == "http"


def test_read_csv_rows_header_cap_and_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,name,endpoint,status\n1,a,https://a.example.com,active\n\n2,b,notaurl,active\n", encoding="utf-8")
    rows, columns = read_csv_rows(str(path), ["name", "endpoint"], "auto", 10, False)
    assert columns == ["-", "name", "endpoint", "-"]
    assert [(r.line, r.result) for r in rows] == [(2, None), (4, "failed")]
    with pytest.raises(SarkLimitError):
        read_csv_rows(str(path), ["name", "endpoint"], "auto", 1, False)


def test_matches_and_normalize():
    server = normalize({"server_id": 5, "name": "prod-1", "endpoint": "https://p", "status": "ACTIVE", "owner_id": None})
    assert server["id"] == "5" and server["status"] == "active"
    assert matches(server, {"search": "PROD", "status": ["active"]})
    assert not matches(server, {"owner_id": "u1"})
