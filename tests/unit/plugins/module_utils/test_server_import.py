# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _server_import.py: CSV row parsing and the bounded, concurrent registration of the rows."""

import threading
import time

import pytest

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkLimitError
from ansible_collections.sark.ops.plugins.module_utils._server_import import ImportRow, ServerImport, parse_row, read_csv_rows


def test_parse_row_reasons():
    columns = ["name", "endpoint"]
    runbook, v2 = Layout("runbook").traits["server_fields"], Layout("sark_v2").traits["server_fields"]
    assert parse_row(3, ["a"], columns, runbook).reason == "expected 2 fields (name,endpoint), got 1"
    assert parse_row(3, ["", "https://x"], columns, runbook).reason == "empty name"
    assert "not an http(s) URL" in parse_row(3, ["a", "ftp://x"], columns, runbook).reason
    good = parse_row(4, [" a ", "https://a.example.com"], columns, v2)
    assert good.result is None and good.spec["name"] == "a" and good.spec["transport"] == "http"
    # the runbook's registration has no transport, sensitivity or description
    plain = parse_row(4, [" a ", "https://a.example.com"], columns, runbook)
    assert sorted(plain.spec) == ["endpoint", "name", "tags"]


def test_read_csv_rows_header_cap_and_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,name,endpoint,status\n1,a,https://a.example.com,active\n\n2,b,notaurl,active\n", encoding="utf-8")
    rows, columns = read_csv_rows(str(path), ["name", "endpoint"], "auto", 10, ())
    assert columns == ["-", "name", "endpoint", "-"]
    assert [(r.line, r.result) for r in rows] == [(2, None), (4, "failed")]
    with pytest.raises(SarkLimitError):
        read_csv_rows(str(path), ["name", "endpoint"], "auto", 1, ())


class FakeApi:
    """register() for ServerImport.create: fails the names in `failing`, records the peak in flight."""

    def __init__(self, failing=(), boom=None, layout="runbook"):
        self.failing = set(failing)
        self.boom = boom
        self.layout = Layout(layout)
        self.names_unique = self.layout.traits["server_names_unique"]
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.calls = 0

    def register(self, spec):
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return self.answer(spec, 0.002)

    def answer(self, spec, hold):
        """The server's answer after `hold` seconds in flight: an id, an HTTP 500 for a failing name, or a bug."""
        try:
            time.sleep(hold)
            if spec["name"] == self.boom:
                raise RuntimeError("bug in register")
            if spec["name"] in self.failing:
                raise SarkAPIError("HTTP 500 from POST /api/v1/servers", status=500)
            return "id-" + spec["name"]
        finally:
            with self.lock:
                self.in_flight -= 1


def import_rows(count):
    return [ImportRow(n + 1, "s%d" % n, "https://s%d" % n, {"name": "s%d" % n}) for n in range(count)]


class GatedApi(FakeApi):
    """FakeApi whose first calls wait (bounded) until `gate` requests are in flight at once: concurrency is forced by an
    event, not hoped for from thread scheduling. A create() that runs fewer requests at a time never opens the gate and
    fails with a clear error; the first ones then hold briefly, so a worker beyond the bound would show in the peak."""

    def __init__(self, gate, failing=(), timeout=30.0):
        super().__init__(failing)
        self.gate = gate
        self.timeout = timeout
        self.all_in = threading.Condition(self.lock)
        self.opened = False

    def register(self, spec):
        with self.lock:
            waiting = not self.opened
        if waiting:
            with self.all_in:
                self.in_flight += 1
                self.calls += 1
                self.peak = max(self.peak, self.in_flight)
                self.all_in.notify_all()
                if not self.all_in.wait_for(lambda: self.opened or self.in_flight >= self.gate, timeout=self.timeout):
                    self.in_flight -= 1
                    raise AssertionError("only %d requests ever in flight at once, expected %d" % (self.peak, self.gate))
                self.opened = True
                self.all_in.notify_all()
            return self.answer(spec, 0.05)  # hold: a request beyond the bound would arrive now and raise the peak
        return super().register(spec)


def test_import_create_bounded_concurrency_and_results():
    api, rows = GatedApi(4, failing={"s3"}), import_rows(60)
    stopped = ServerImport(api, rows, concurrency=4, max_failures=10).create(rows)
    assert not stopped and api.calls == 60 and api.opened and api.peak == 4
    assert [r.line for r in rows if r.result == "failed"] == [4]
    assert rows[3].reason.startswith("HTTP 500")
    assert all(r.result == "created" and r.id == "id-" + r.name for r in rows if r.line != 4)


def test_import_create_stops_after_max_failures():
    api, rows = FakeApi(failing={"s%d" % n for n in range(100)}), import_rows(100)
    stopped = ServerImport(api, rows, concurrency=3, max_failures=5).create(rows)
    attempted = [r for r in rows if not (r.reason or "").startswith("not attempted")]
    assert stopped
    # every worker may have one request in flight when the fifth failure is counted
    assert 5 <= api.calls == len(attempted) <= 5 + 2
    assert all(r.result == "failed" for r in rows)
    assert rows[-1].reason == "not attempted: max_failures=5 reached"


def test_import_create_surfaces_unexpected_errors():
    rows = import_rows(10)
    with pytest.raises(RuntimeError, match="bug in register"):
        ServerImport(FakeApi(boom="s2"), rows, concurrency=2).create(rows)


def test_import_batches_keep_names_unique_within_a_request():
    """SARK answers bulk items by name only: no name twice in one request, at most 100 per request, file order kept."""
    rows = [ImportRow(n + 1, "twin" if n % 50 == 0 else "s%d" % n, "https://e%d" % n, {}) for n in range(250)]
    batches = ServerImport(FakeApi(layout="sark_v2"), rows).batches(rows)
    assert sorted(r.line for b in batches for r in b) == list(range(1, 251))
    assert all(len(b) <= 100 and len({r.name for r in b}) == len(b) for b in batches)
    assert all([r.line for r in b] == sorted(r.line for r in b) for b in batches)
    assert len(batches) == 5  # the five "twin" rows need five requests
