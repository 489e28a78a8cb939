# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _servers.py: streamed export decoding and the list filters."""

import json

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError
from ansible_collections.sark.ops.plugins.module_utils._servers import iter_json_array, matches, normalize


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


def test_matches_and_normalize():
    server = normalize({"server_id": 5, "name": "prod-1", "endpoint": "https://p", "status": "ACTIVE", "owner_id": None})
    assert server["id"] == "5" and server["status"] == "active"
    assert matches(server, {"search": "PROD", "status": ["active"]})
    assert not matches(server, {"owner_id": "u1"})
