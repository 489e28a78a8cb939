# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict logic every sark.ops checklist role shares, and the rendering of its reports.

A check is a dict ``{id, title, verdict, figure, unit, threshold, reason, details, runbook}`` with
verdict one of OK, WARNING, CRITICAL, UNKNOWN. "Could not be read" is UNKNOWN with the reason, never OK.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html
import json
import math
import os

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

VERDICTS = ("OK", "UNKNOWN", "WARNING", "CRITICAL")
# the order of severity: a report's verdict is its worst check's; UNKNOWN ranks above OK (never a silent pass)
# and below WARNING (nothing is known to be wrong)
RANK = dict((v, i) for i, v in enumerate(VERDICTS))
CHECK_KEYS = ("id", "title", "verdict", "figure", "unit", "threshold", "reason", "details", "runbook")
COLOURS = {"OK": "#1a7f37", "UNKNOWN": "#6e7781", "WARNING": "#b58500", "CRITICAL": "#cf222e"}


# --- reading the registered results (shared by the checklist filters) ------------------------------------------

def unread(result, expect=None):
    """Why a registered result holds nothing to judge, or None when it does (shared by the checklist filters: daily, weekly, monthly, on-call hand-off)."""
    if result is None or result == {}:
        return "not read (source not configured)"
    if not isinstance(result, dict):
        return "not read"
    if result.get("skipped"):
        reason = result.get("skip_reason") or "skipped"
        return "not read (%s)" % ("source not configured" if reason == "Conditional result was False" else reason)
    if result.get("failed") or (expect and expect not in result):
        return "could not be read: %s" % to_text(result.get("msg") or "the task failed")[:300]
    return None


def limits(defaults, thresholds, name):
    merged = dict(defaults[name])
    merged.update((thresholds or {}).get(name) or {})
    return merged.get("warning"), merged.get("critical")


def check_known(defaults, thresholds):
    unknown = set(thresholds or {}) - set(defaults)
    if unknown:
        raise AnsibleFilterError("unknown thresholds %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(sorted(defaults))))


def as_time(now):
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, datetime.datetime):
        return now if now.tzinfo else now.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.fromtimestamp(float(now), datetime.timezone.utc)


def parse_time(text):
    if not text:
        return None
    try:
        return datetime.datetime.strptime(to_text(text)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _verdict(value):
    text = to_text(value if value is not None else "UNKNOWN").strip().upper()
    aliases = {"WARN": "WARNING", "CRIT": "CRITICAL", "ERROR": "CRITICAL", "FAIL": "CRITICAL", "PASS": "OK"}
    text = aliases.get(text, text)
    if text not in RANK:
        raise AnsibleFilterError("verdict must be one of %s, got %r" % (", ".join(VERDICTS), value))
    return text


def _number(value, what):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AnsibleFilterError("%s must be a number, got a boolean" % what)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("%s must be a number, got %r" % (what, value))
    if math.isnan(number):
        return None
    return number


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return "%d" % value
        return ("%.4g" % value) if abs(value) < 1e6 else ("%.0f" % value)
    return to_text(value)


def threshold_verdict(figure, warning=None, critical=None, direction="above"):
    """The verdict of one figure: CRITICAL at or past critical, WARNING at or past warning, OK otherwise.

    direction=above: high is bad (figure >= threshold breaches); below: low is bad (figure <= threshold).
    A figure that could not be read (None, NaN) is UNKNOWN.
    """
    if direction not in ("above", "below"):
        raise AnsibleFilterError("direction must be above or below, got %r" % direction)
    value = _number(figure, "figure")
    warning = _number(warning, "warning")
    critical = _number(critical, "critical")
    if value is None:
        return "UNKNOWN"

    def breached(limit):
        if limit is None:
            return False
        return value >= limit if direction == "above" else value <= limit

    if breached(critical):
        return "CRITICAL"
    if breached(warning):
        return "WARNING"
    return "OK"


def _threshold_text(warning, critical, direction, unit):
    sign = ">=" if direction == "above" else "<="
    unit = (" " + unit) if unit else ""
    parts = []
    if warning is not None:
        parts.append("warning %s %s%s" % (sign, _fmt(_number(warning, "warning")), unit))
    if critical is not None:
        parts.append("critical %s %s%s" % (sign, _fmt(_number(critical, "critical")), unit))
    return ", ".join(parts)


def make_check(check_id, title, verdict, figure=None, unit="", threshold="", reason="", details=None, runbook=""):
    """A check dict with every key of the schema, its verdict normalised."""
    if not check_id or not title:
        raise AnsibleFilterError("a check needs an id and a title")
    verdict = _verdict(verdict)
    reason = to_text(reason or "")
    if verdict == "UNKNOWN" and not reason:
        reason = "could not be read"
    return {"id": to_text(check_id), "title": to_text(title), "verdict": verdict, "figure": figure,
            "unit": to_text(unit or ""), "threshold": to_text(threshold or ""), "reason": reason,
            "details": details if details is not None else {}, "runbook": to_text(runbook or "")}


def check_threshold(figure, id=None, title=None, warning=None, critical=None, direction="above",  # pylint: disable=redefined-builtin
                    unit="", reason="", unknown_reason="", details=None, runbook=""):
    """Filter: a check judged from a figure against thresholds (UNKNOWN with unknown_reason when figure is None)."""
    verdict = threshold_verdict(figure, warning, critical, direction)
    value = _number(figure, "figure")
    if verdict == "UNKNOWN":
        text = unknown_reason or "could not be read"
        value = None
    else:
        text = reason or ("%s %s" % (_fmt(value), unit)).strip()
        if verdict != "OK":
            text += " (%s)" % _threshold_text(warning if verdict == "WARNING" else None,
                                              critical if verdict == "CRITICAL" else None, direction, unit)
    return make_check(id, title, verdict, value, unit, _threshold_text(warning, critical, direction, unit), text, details, runbook)


def check_result(verdict, id=None, title=None, figure=None, unit="", threshold="", reason="", details=None, runbook=""):  # pylint: disable=redefined-builtin
    """Filter: a check whose verdict was judged elsewhere (a module's own verdict), normalised to the schema."""
    return make_check(id, title, verdict, figure, unit, threshold, reason, details, runbook)


def worst_verdict(verdicts):
    """Filter: the worst of a list of verdicts (OK for an empty list)."""
    worst = "OK"
    for verdict in verdicts or []:
        verdict = _verdict(verdict)
        if RANK[verdict] > RANK[worst]:
            worst = verdict
    return worst


def validate_checks(checks):
    if not isinstance(checks, (list, tuple)):
        raise AnsibleFilterError("checks must be a list of check dicts")
    seen = set()
    out = []
    for index, check in enumerate(checks):
        if not isinstance(check, dict):
            raise AnsibleFilterError("check %d is not a dict" % index)
        missing = [k for k in ("id", "title", "verdict") if not check.get(k)]
        if missing:
            raise AnsibleFilterError("check %d (%s) lacks %s" % (index, check.get("id", "?"), ", ".join(missing)))
        if check["id"] in seen:
            raise AnsibleFilterError("check id %s appears twice" % check["id"])
        seen.add(check["id"])
        full = make_check(check["id"], check["title"], check["verdict"], check.get("figure"), check.get("unit"),
                          check.get("threshold"), check.get("reason"), check.get("details"), check.get("runbook"))
        out.append(full)
    return out


def checks_summary(checks):
    """Filter: {verdict, rank, counts, findings} of a list of checks; findings are the non-OK checks, worst first."""
    checks = validate_checks(checks)
    counts = dict((v, 0) for v in VERDICTS)
    for check in checks:
        counts[check["verdict"]] += 1
    bad = sorted((c for c in checks if c["verdict"] != "OK"), key=lambda c: -RANK[c["verdict"]])
    findings = ["%s %s: %s" % (c["verdict"], c["title"], c["reason"]) for c in bad]
    verdict = worst_verdict(c["verdict"] for c in checks)
    return {"verdict": verdict, "rank": RANK[verdict], "counts": counts, "findings": findings,
            "total": len(checks)}


def prom_series(result, label=None, name=None):
    """Filter: a Prometheus range query's data.result ([{metric, values}]) as chart series [{name, points}]."""
    if isinstance(result, dict):
        result = (result.get("data") or {}).get("result", result.get("result", []))
    series = []
    for item in result or []:
        metric = item.get("metric") or {}
        if name:
            series_name = name
        elif label and label in metric:
            series_name = to_text(metric[label])
        else:
            series_name = ",".join("%s=%s" % kv for kv in sorted(metric.items())) or "value"
        points = []
        for stamp, value in item.get("values") or []:
            number = _number(value, "sample value")
            if number is not None and not math.isinf(number):
                points.append([float(stamp), number])
        series.append({"name": series_name, "points": points})
    return series


def svg_chart(trend, width=640, height=180):
    """An inline SVG line chart of one trend {id, title, unit, series: [{name, points}], warning, critical}."""
    series = trend.get("series") or []
    xs = [p[0] for s in series for p in s.get("points", [])]
    ys = [p[1] for s in series for p in s.get("points", [])]
    esc = html.escape
    title = esc(to_text(trend.get("title", trend.get("id", "trend"))))
    if not xs:
        return ('<svg class="trend empty" xmlns="http://www.w3.org/2000/svg" width="%d" height="40" role="img" '
                'aria-label="%s"><text x="4" y="24" font-size="13">%s: no data</text></svg>' % (width, title, title))
    limits = [v for v in (_number(trend.get("warning"), "warning"), _number(trend.get("critical"), "critical")) if v is not None]
    lo_x, hi_x = min(xs), max(xs)
    lo_y = min(ys + [0.0])
    hi_y = max(ys + limits)
    if hi_y <= lo_y:
        hi_y = lo_y + 1.0
    left, right, top, bottom = 56, 8, 22, 22
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x):
        return left + (plot_w * (x - lo_x) / (hi_x - lo_x) if hi_x > lo_x else plot_w / 2.0)

    def py(y):
        return top + plot_h - plot_h * (y - lo_y) / (hi_y - lo_y)

    palette = ["#0969da", "#8250df", "#1a7f37", "#bf3989", "#953800"]
    parts = ['<svg class="trend" data-trend="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" role="img" aria-label="%s">' % (esc(to_text(trend.get("id", ""))), width, height, width, height, title),
             '<text x="%d" y="14" font-size="13" font-weight="bold">%s</text>' % (left, title),
             '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (left, top + plot_h, left + plot_w, top + plot_h),
             '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (left, top, left, top + plot_h),
             '<text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>' % (left - 4, top + 8, esc(_fmt(hi_y))),
             '<text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>' % (left - 4, top + plot_h, esc(_fmt(lo_y)))]
    for stamp, anchor, xpos in ((lo_x, "start", left), (hi_x, "end", left + plot_w)):
        label = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%m-%d %H:%M")
        parts.append('<text x="%d" y="%d" font-size="10" text-anchor="%s">%s</text>' % (xpos, height - 6, anchor, label))
    for limit, colour in ((_number(trend.get("warning"), "warning"), COLOURS["WARNING"]),
                          (_number(trend.get("critical"), "critical"), COLOURS["CRITICAL"])):
        if limit is not None:
            parts.append('<line class="limit" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>'
                         % (left, py(limit), left + plot_w, py(limit), colour))
    for index, item in enumerate(series):
        colour = palette[index % len(palette)]
        points = " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in item.get("points", []))
        parts.append('<polyline class="series" fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>'
                     % (colour, points, esc(to_text(item.get("name", "")))))
        parts.append('<text x="%d" y="%d" font-size="10" fill="%s">%s</text>'
                     % (left + 8, top + 10 + 11 * index, colour, esc(to_text(item.get("name", ""))[:40])))
    parts.append("</svg>")
    return "".join(parts)


def _figure_text(check):
    figure = check.get("figure")
    if figure is None or figure == "":
        return ""
    if isinstance(figure, (dict, list)):
        return json.dumps(figure, sort_keys=True)
    return ("%s %s" % (_fmt(figure), check.get("unit") or "")).strip()


def build_report(checks, title="", kind="", deployment="", environment="", started=None, finished=None, trends=None):
    """Filter: the report dict (what the JSON file holds) from checks and run metadata."""
    checks = validate_checks(checks)
    summary = checks_summary(checks)
    finished = _number(finished, "finished")
    started = _number(started, "started")
    if finished is None:
        finished = float(datetime.datetime.now(datetime.timezone.utc).timestamp())

    def iso(stamp):
        return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {"title": to_text(title or ("SARK %s check" % kind)), "kind": to_text(kind), "deployment": to_text(deployment),
            "environment": to_text(environment), "started": iso(started) if started is not None else "",
            "finished": iso(finished), "duration_seconds": round(finished - started, 1) if started is not None else None,
            "verdict": summary["verdict"], "counts": summary["counts"], "findings": summary["findings"],
            "checks": checks, "trends": list(trends or [])}


def _md_cell(text):
    return to_text(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def render_markdown(report):
    lines = ["# %s" % report["title"], "",
             "- Date: %s" % report["finished"],
             "- Deployment: %s" % (report["deployment"] or "-"),
             "- Environment: %s" % (report["environment"] or "-"),
             "- Duration: %s" % (("%.1f s" % report["duration_seconds"]) if report.get("duration_seconds") is not None else "-"),
             "- Verdict: **%s** (%s)" % (report["verdict"], ", ".join("%d %s" % (n, v) for v, n in sorted(
                 report["counts"].items(), key=lambda kv: -RANK[kv[0]]) if n)), "",
             "| Check | Verdict | Figure | Threshold | Reason | Runbook |", "|---|---|---|---|---|---|"]
    for check in report["checks"]:
        lines.append("| %s | %s | %s | %s | %s | %s |" % tuple(_md_cell(x) for x in (
            check["title"], check["verdict"], _figure_text(check), check["threshold"], check["reason"], check["runbook"])))
    if report["findings"]:
        lines += ["", "## Findings", ""] + ["- %s" % f for f in report["findings"]]
    for trend in report.get("trends") or []:
        lines += ["", "## Trend: %s" % trend.get("title", trend.get("id")), ""]
        for item in trend.get("series") or []:
            values = [p[1] for p in item.get("points") or []]
            if values:
                lines.append("- %s: %d points, min %s, max %s, last %s %s" % (
                    item.get("name"), len(values), _fmt(min(values)), _fmt(max(values)), _fmt(values[-1]), trend.get("unit", "")))
            else:
                lines.append("- %s: no data" % item.get("name"))
    return "\n".join(lines) + "\n"


def render_html(report):
    esc = html.escape
    rows = []
    for check in report["checks"]:
        verdict = check["verdict"]
        rows.append('<tr class="check verdict-%s" data-check-id="%s" data-verdict="%s"><td>%s</td><td class="verdict">%s</td>'
                    '<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                    % (verdict.lower(), esc(check["id"]), verdict, esc(check["title"]), verdict, esc(_figure_text(check)),
                       esc(check["threshold"]), esc(check["reason"]), esc(check["runbook"])))
    style = "".join(".verdict-%s td.verdict{background:%s;color:#fff;font-weight:bold}.verdict-%s{border-left:6px solid %s}"
                    % (v.lower(), c, v.lower(), c) for v, c in COLOURS.items())
    findings = "".join("<li>%s</li>" % esc(f) for f in report["findings"])
    charts = "".join('<figure class="trend-chart">%s</figure>' % svg_chart(t) for t in report.get("trends") or [])
    duration = ("%.1f s" % report["duration_seconds"]) if report.get("duration_seconds") is not None else "-"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%(title)s</title>"
            "<style>body{font-family:sans-serif;margin:2em;color:#1f2328}table{border-collapse:collapse;width:100%%}"
            "td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}"
            "#verdict{display:inline-block;padding:2px 10px;color:#fff;background:%(colour)s}%(style)s</style></head>"
            "<body class=\"report kind-%(kind)s\"><h1>%(title)s</h1>"
            "<dl id=\"meta\"><dt>Date</dt><dd id=\"date\">%(date)s</dd><dt>Deployment</dt><dd id=\"deployment\">%(deployment)s</dd>"
            "<dt>Environment</dt><dd id=\"environment\">%(environment)s</dd><dt>Duration</dt><dd id=\"duration\">%(duration)s</dd>"
            "<dt>Verdict</dt><dd><span id=\"verdict\" class=\"verdict-%(verdict_l)s\" data-verdict=\"%(verdict)s\">%(verdict)s</span></dd></dl>"
            "<table id=\"checks\"><thead><tr><th>Check</th><th>Verdict</th><th>Figure</th><th>Threshold</th><th>Reason</th>"
            "<th>Runbook</th></tr></thead><tbody>%(rows)s</tbody></table>"
            "%(findings)s%(charts)s</body></html>\n") % {
        "title": esc(report["title"]), "kind": esc(report["kind"]), "date": esc(report["finished"]),
        "deployment": esc(report["deployment"] or "-"), "environment": esc(report["environment"] or "-"),
        "duration": duration, "verdict": report["verdict"], "verdict_l": report["verdict"].lower(),
        "colour": COLOURS[report["verdict"]], "style": style, "rows": "".join(rows),
        "findings": ("<h2>Findings</h2><ul id=\"findings\">%s</ul>" % findings) if findings else "",
        "charts": ("<h2>Trends</h2><div id=\"trends\">%s</div>" % charts) if charts else ""}


def report_render(report, fmt="markdown"):
    """Filter: a report dict (from report_build) as markdown, html or json text."""
    if not isinstance(report, dict) or "checks" not in report:
        raise AnsibleFilterError("report_render takes the dict report_build returns")
    if fmt in ("markdown", "md"):
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True) + "\n"
    raise AnsibleFilterError("format must be markdown, html or json, got %r" % fmt)


def report_files(report, paths):
    """Filter: the report rendered once per format, as the files of sark.ops.sark_report_files ({format: path} ->
    [{name (the path's file name), content}])."""
    if not isinstance(paths, dict) or not paths:
        raise AnsibleFilterError("report_files takes {format: path}, e.g. {'md': '/r/daily.md', 'html': '/r/daily.html'}")
    return [{"name": os.path.basename(path), "content": report_render(report, fmt)} for fmt, path in sorted(paths.items())]


class FilterModule(object):
    """sark.ops check and report filters."""

    def filters(self):
        return {
            "check_threshold": check_threshold,
            "check_result": check_result,
            "checks_summary": checks_summary,
            "worst_verdict": worst_verdict,
            "prom_series": prom_series,
            "report_build": build_report,
            "report_render": report_render,
            "report_files": report_files,
        }
