"""The daily check's HTML report as a browser reads it: headless Chromium (Debian's chromium) parses the page,
the test reads the DOM Chromium serialises (every check present, with its verdict class) and keeps a screenshot
as a test artefact ($SARK_ARTIFACT_DIR, else $SARK_OPS_HOME/artifacts, else tests/output/artifacts)."""

import datetime
import html.parser
import importlib
import os
import shutil
import subprocess

import pytest

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOW = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=datetime.timezone.utc)


def results():
    """What the modules return on a stack with a crash-looping pod, a full SIEM queue, a stale backup, no Prometheus."""
    pods = [{"name": "sark-1", "phase": "Running", "ready": True, "reason": None, "restarts": 0,
             "containers": [{"name": "sark", "usage": {"memory": "612Mi"}, "memory_limit_percent": 29.9}]},
            {"name": "sark-worker-1", "phase": "Running", "ready": False, "reason": "CrashLoopBackOff", "restarts": 9,
             "containers": [{"name": "worker", "usage": {"memory": "60Mi"}, "memory_limit_percent": 23.4}]}]
    return {
        "k8s": {"metrics_available": True, "workloads": [{"name": "sark", "pods": pods, "generation": 1, "observed_generation": 1,
                                                          "revisions": [{"revision": 1, "created": "2026-12-01T05:00:00Z"}]}]},
        "prometheus": {"skipped": True, "skip_reason": "Conditional result was False"},
        "pg": {"is_available": True, "databases": [{"name": "sark", "size_bytes": 8 << 20}]},
        "redis": {"is_available": True, "memory": {"used_memory": 1 << 20, "maxmemory": 0, "used_memory_human": "1M"}},
        "backups": {"location": "/b", "objects": [{"path": "/b/sark-backup-20261129-1500.dump"}]},
        "health": {"is_available": True, "verdict": "degraded", "components": {"opa": {"status": "unknown"}}},
        "sessions": {"total": 4200},
        "siem": {"in_redis": True, "queue": {"length": 5000}, "failed_events": {"length": 3}},
        "audit": {"events_per_hour": {"events_recorded": True, "empty_hours": 0, "gaps": []}},
    }


class Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.ids, self.svgs = [], {}, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-check-id" in attrs:
            self.rows.append((attrs["data-check-id"], attrs.get("class", "").split(), attrs.get("data-verdict")))
        if attrs.get("id"):
            self.ids[attrs["id"]] = attrs
        if tag == "svg":
            self.svgs += 1


def artifact_dir():
    base = os.environ.get("SARK_ARTIFACT_DIR") or (
        os.path.join(os.environ["SARK_OPS_HOME"], "artifacts") if os.environ.get("SARK_OPS_HOME")
        else os.path.join(COLLECTION_ROOT, "tests", "output", "artifacts"))
    os.makedirs(base, exist_ok=True)
    return base


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)")
def test_daily_report_in_headless_chromium(tmp_path, run_module):
    # run_module puts this checkout's collections dir on sys.path (the one place tests do): import the filters
    del run_module
    checks_filter = importlib.import_module("ansible_collections.sark.ops.plugins.filter.checks")
    build_report, render_html = checks_filter.build_report, checks_filter.render_html
    daily_checks = importlib.import_module("ansible_collections.sark.ops.plugins.filter.daily_checks").daily_checks
    checks = daily_checks(results(), now=NOW)
    trend = {"id": "error_ratio", "title": "5xx share", "unit": "%", "warning": 0.1, "critical": 1.0,
             "series": [{"name": "sark", "points": [[NOW.timestamp() - 3600 * h, 0.05 + 0.01 * (h % 5)] for h in range(24, -1, -1)]}]}
    report = build_report(checks, kind="daily", deployment="prod-eu", environment="production",
                          started=NOW.timestamp() - 12.3, finished=NOW.timestamp(), trends=[trend])
    page = tmp_path / "daily.html"
    page.write_text(render_html(report), encoding="utf-8")
    profile = tmp_path / "profile"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=%s" % profile]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180, check=True).stdout
    parsed = Rows()
    parsed.feed(dom)
    expected = dict((c["id"], c["verdict"]) for c in checks)
    assert [r[0] for r in parsed.rows] == [c["id"] for c in checks]  # every check, in order
    for check_id, classes, verdict in parsed.rows:
        assert "verdict-%s" % expected[check_id].lower() in classes and verdict == expected[check_id]
    assert expected["pods_not_running"] == "CRITICAL" and expected["siem_queue"] == "WARNING"
    assert expected["backup_age"] == "WARNING" and expected["error_rate_24h"] == "UNKNOWN"
    assert parsed.ids["verdict"]["data-verdict"] == "CRITICAL"
    assert "prod-eu" in dom and "production" in dom and "12.3 s" in dom and "2026-12-01T07:00:00Z" in dom
    assert parsed.svgs == 1
    shot = os.path.join(artifact_dir(), "daily-report.png")
    subprocess.run(base + ["--window-size=1280,1400", "--screenshot=%s" % shot, page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    with open(shot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
