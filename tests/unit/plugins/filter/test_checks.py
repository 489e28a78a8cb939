import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.checks import (
    FilterModule, build_report, check_result, check_threshold, checks_summary, prom_series, report_files, report_render,
    svg_chart, threshold_verdict, worst_verdict)


@pytest.mark.parametrize("figure,expected", [
    (0, "OK"), (9.99, "OK"), (10, "WARNING"), (19.9, "WARNING"), (20, "CRITICAL"), (1e9, "CRITICAL"),
    ("15", "WARNING"), (None, "UNKNOWN"), (float("nan"), "UNKNOWN"), ("", "UNKNOWN"),
])
def test_threshold_above(figure, expected):
    assert threshold_verdict(figure, warning=10, critical=20) == expected


@pytest.mark.parametrize("figure,expected", [(50, "OK"), (20, "WARNING"), (10.5, "WARNING"), (10, "CRITICAL"), (0, "CRITICAL")])
def test_threshold_below(figure, expected):
    assert threshold_verdict(figure, warning=20, critical=10, direction="below") == expected


def test_threshold_only_one_limit():
    assert threshold_verdict(100, critical=50) == "CRITICAL"
    assert threshold_verdict(49, critical=50) == "OK"
    assert threshold_verdict(100, warning=50) == "WARNING"
    assert threshold_verdict(100) == "OK"


def test_threshold_bad_input():
    with pytest.raises(AnsibleFilterError, match="direction"):
        threshold_verdict(1, direction="sideways")
    with pytest.raises(AnsibleFilterError, match="figure must be a number"):
        threshold_verdict("lots", warning=1)
    with pytest.raises(AnsibleFilterError, match="boolean"):
        threshold_verdict(True, warning=1)


def test_check_threshold_schema_and_reason():
    check = check_threshold(25.0, id="err", title="5xx", warning=1, critical=5, unit="%", runbook="000 #3")
    assert sorted(check) == sorted(["id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook"])
    assert check["verdict"] == "CRITICAL"
    assert check["figure"] == 25.0
    assert check["reason"] == "25 % (critical >= 5 %)"
    assert check["threshold"] == "warning >= 1 %, critical >= 5 %"
    ok = check_threshold(0.5, id="err", title="5xx", warning=1, critical=5, unit="%")
    assert ok["verdict"] == "OK" and ok["reason"] == "0.5 %"


def test_unreadable_is_unknown_with_reason_never_ok():
    check = check_threshold(None, id="redis_memory", title="Redis memory", warning=1, unknown_reason="Redis unreachable")
    assert check["verdict"] == "UNKNOWN"
    assert check["reason"] == "Redis unreachable"
    assert check["figure"] is None
    assert check_threshold(None, id="x", title="X")["reason"] == "could not be read"
    assert check_result("unknown", id="x", title="X")["reason"] == "could not be read"


def test_check_result_normalises():
    assert check_result("crit", id="a", title="A")["verdict"] == "CRITICAL"
    assert check_result("warn", id="a", title="A")["verdict"] == "WARNING"
    assert check_result("ok", id="a", title="A")["verdict"] == "OK"
    with pytest.raises(AnsibleFilterError, match="verdict must be one of"):
        check_result("fine", id="a", title="A")
    with pytest.raises(AnsibleFilterError, match="id and a title"):
        check_result("OK", title="A")


def test_worst_verdict_order():
    assert worst_verdict([]) == "OK"
    assert worst_verdict(["OK", "UNKNOWN"]) == "UNKNOWN"
    assert worst_verdict(["UNKNOWN", "WARNING", "OK"]) == "WARNING"
    assert worst_verdict(["WARNING", "CRITICAL", "UNKNOWN"]) == "CRITICAL"


def _checks():
    return [check_result("OK", id="a", title="A", reason="fine"),
            check_result("WARNING", id="b", title="B", reason="queue 5000"),
            check_result("CRITICAL", id="c", title="C", reason="redis down"),
            check_result("UNKNOWN", id="d", title="D", reason="no Prometheus")]


def test_summary_findings_worst_first():
    summary = checks_summary(_checks())
    assert summary["verdict"] == "CRITICAL"
    assert summary["counts"] == {"OK": 1, "WARNING": 1, "CRITICAL": 1, "UNKNOWN": 1}
    assert summary["findings"] == ["CRITICAL C: redis down", "WARNING B: queue 5000", "UNKNOWN D: no Prometheus"]
    assert checks_summary(_checks()[:1])["findings"] == []


def test_summary_rejects_bad_checks():
    with pytest.raises(AnsibleFilterError, match="appears twice"):
        checks_summary(_checks() + [check_result("OK", id="a", title="again")])
    with pytest.raises(AnsibleFilterError, match="lacks verdict"):
        checks_summary([{"id": "x", "title": "X"}])
    with pytest.raises(AnsibleFilterError, match="list"):
        checks_summary("nope")


def test_prom_series():
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"service": "sark"}, "values": [[1700000000, "0.5"], [1700000060, "NaN"], [1700000120, "+Inf"], [1700000180, "1"]]}]}}
    assert prom_series(body, label="service") == [{"name": "sark", "points": [[1700000000.0, 0.5], [1700000180.0, 1.0]]}]
    assert prom_series(body["data"]["result"], name="x")[0]["name"] == "x"
    assert prom_series(body)[0]["name"] == "service=sark"


def test_svg_chart_draws_points_and_limits():
    svg = svg_chart({"id": "t", "title": "T <x>", "warning": 1, "critical": 5,
                     "series": [{"name": "s", "points": [[0, 0.0], [60, 2.0], [120, 1.0]]}]})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="limit"') == 2
    assert "T &lt;x&gt;" in svg
    assert len(svg.split('points="')[1].split('"')[0].split()) == 3
    assert "no data" in svg_chart({"id": "e", "title": "E", "series": []})


def test_report_build_and_render():
    report = build_report(_checks(), kind="daily", deployment="prod", environment="production", started=100.0, finished=112.5,
                          trends=[{"id": "t", "title": "T", "series": [{"name": "s", "points": [[0, 1], [1, 2]]}]}])
    assert report["duration_seconds"] == 12.5
    assert report["verdict"] == "CRITICAL"
    assert report["started"] == "1970-01-01T00:01:40Z"
    md = report_render(report, "markdown")
    assert "| C | CRITICAL |" in md and "- Deployment: prod" in md and "- Duration: 12.5 s" in md
    page = report_render(report, "html")
    for check_id, verdict in (("a", "ok"), ("b", "warning"), ("c", "critical"), ("d", "unknown")):
        assert 'class="check verdict-%s" data-check-id="%s"' % (verdict, check_id) in page
    assert "<svg" in page and "<script" not in page
    assert json.loads(report_render(report, "json"))["checks"][2]["id"] == "c"
    with pytest.raises(AnsibleFilterError, match="format"):
        report_render(report, "pdf")


def test_report_files_renders_each_format_under_its_file_name():
    report = build_report(_checks(), kind="daily", deployment="prod", finished=0)
    files = report_files(report, {"md": "/r/daily-1.md", "json": "/r/daily-1.json", "html": "/r/daily-1.html"})
    assert [f["name"] for f in files] == ["daily-1.html", "daily-1.json", "daily-1.md"]
    assert files[0]["content"] == report_render(report, "html") and files[2]["content"] == report_render(report, "md")
    assert json.loads(files[1]["content"])["verdict"] == "CRITICAL"
    with pytest.raises(AnsibleFilterError, match="format"):
        report_files(report, {"pdf": "/r/x.pdf"})
    with pytest.raises(AnsibleFilterError, match="takes"):
        report_files(report, {})


def test_render_escapes():
    report = build_report([check_result("WARNING", id="x", title="<script>alert(1)</script>", reason="a|b")], finished=0)
    page = report_render(report, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "a\\|b" in report_render(report, "md")


def test_filters_registered():
    assert set(FilterModule().filters()) == {"check_threshold", "check_result", "checks_summary", "worst_verdict",
                                             "prom_series", "report_build", "report_render", "report_files"}
