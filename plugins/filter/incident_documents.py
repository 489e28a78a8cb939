# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""incident_summary and incident_document: the communication and post-incident documents of seeds 001/002, from the timeline.

incident_summary reads an incident timeline (sark_incident_record's entries) and the facts only a person knows
(title, impact, root cause, ...) and finds the milestones: detected, team notified, root cause identified, fix
deployed, services restored. incident_document lays out one of the seeds' templates from that summary as
Markdown, HTML or plain text. Whatever neither the timeline nor the person gave is a blank, marked
``[TO COMPLETE: what]`` so that nobody sends a document with a hole in it unnoticed.
"""

import datetime
import html

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils._incident import parse_time
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

BLANK = "[TO COMPLETE: %s]"
DOCUMENTS = ("status_update", "customer_notice", "status_page", "stakeholder_email", "incident_report", "postmortem")
FORMATS = ("markdown", "html", "text")
STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")
KNOWN_FACTS = ("incident_id", "title", "severity", "status", "impact", "users_affected", "services_affected", "root_cause",
               "eta", "incident_commander", "tech_lead", "status_page_url", "support_contact", "next_update_at",
               "what_went_well", "what_could_be_improved", "action_items", "lessons_learned", "requests_failed",
               "revenue_impact", "data_loss", "error_messages", "follow_up", "current_situation", "next_steps", "detected_at",
               "resolved_at", "update_every_minutes")
# seed 002 Communication Cadence, for the customer notice's "We will provide updates every ..."
CADENCE = {"P0": 30, "P1": 60, "P2": 240}


def blank(what):
    return BLANK % what


def _time(value):
    if not value:
        return None
    try:
        return parse_time(value, "time")
    except SarkValidationError:
        raise AnsibleFilterError("incident_summary: %r is not an ISO 8601 time" % (value,))


def _hhmm(moment):
    return moment.strftime("%H:%M") if moment else None


def _stamp(moment):
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else None


def _result_text(entry):
    result = entry.get("result")
    if result is None or result == "":
        return ""
    if isinstance(result, dict):
        if result.get("reason"):
            return str(result["reason"])
        return ", ".join("%s %s" % (k, v) for k, v in sorted(result.items()) if v not in (None, "", [], {}))
    return str(result)


def _first(entries, test):
    for entry in entries:
        if test(entry):
            return entry
    return None


def incident_summary(timeline, incident=None):
    """The facts of the documents: milestones from the timeline, the person's facts, and the blanks left."""
    if not isinstance(timeline, list):
        raise AnsibleFilterError("incident_summary: expects the timeline (a list of entries), got %s" % type(timeline).__name__)
    facts = dict(incident or {})
    unknown = sorted(k for k in facts if k not in KNOWN_FACTS)
    if unknown:
        raise AnsibleFilterError("incident_summary: unknown fact(s) %s; known: %s" % (", ".join(unknown), ", ".join(KNOWN_FACTS)))
    entries = []
    for index, entry in enumerate(timeline):
        if not isinstance(entry, dict) or not entry.get("time"):
            raise AnsibleFilterError("incident_summary: timeline[%d] is not an entry with a time" % index)
        entries.append(dict(entry, _at=_time(entry["time"]), _index=index))
    entries.sort(key=lambda e: (e["_at"], e["_index"]))

    def is_finding(e):
        return e.get("phase") == "diagnose" and e.get("status") in ("critical", "warning", "failed")

    detected = _first(entries, lambda e: e.get("phase") == "detection") or (entries[0] if entries else None)
    notified = _first(entries, lambda e: e.get("kind") == "communication" or e.get("phase") == "communication")
    identified = _first(entries, lambda e: e.get("kind") == "decision" and (e.get("details") or {}).get("root_cause")) or \
        _first(entries, is_finding)
    fixes = [e for e in entries if e.get("phase") == "remediate" and e.get("kind") == "change" and e.get("status") != "failed"]
    fixed = fixes[0] if fixes else None
    last_fix_at = fixes[-1]["_at"] if fixes else None
    verifies = [e for e in entries if e.get("phase") == "verify" and (last_fix_at is None or e["_at"] >= last_fix_at)]
    restored = None
    if verifies and not any(e.get("status") in ("critical", "failed") for e in verifies):
        restored = verifies[-1]
    detected_at = _time(facts.get("detected_at")) or (detected["_at"] if detected else None)
    resolved_at = _time(facts.get("resolved_at")) or (restored["_at"] if restored else None)
    status = facts.get("status")
    if status is None:
        status = "Resolved" if restored else ("Monitoring" if fixed else ("Identified" if identified else "Investigating"))
    elif status not in STATUSES:
        raise AnsibleFilterError("incident_summary: status=%r: use one of %s" % (status, ", ".join(STATUSES)))
    if not facts.get("root_cause") and identified and (identified.get("details") or {}).get("root_cause"):
        facts["root_cause"] = identified["details"]["root_cause"]
    severity = facts.get("severity") or next((e.get("severity") for e in reversed(entries) if e.get("severity")), None)
    duration = None
    if detected_at and resolved_at:
        duration = int(round((resolved_at - detected_at).total_seconds() / 60.0))

    milestones = [("Incident detected", detected), ("Team notified", notified), ("Root cause identified", identified),
                  ("Fix deployed", fixed), ("Services restored", restored)]
    rows = [{"time": _hhmm(e["_at"]), "date": e["_at"].strftime("%Y-%m-%d"), "timestamp": _stamp(e["_at"]),
             "phase": e.get("phase"), "kind": e.get("kind"), "actor": e.get("actor"), "action": e.get("action"),
             "status": e.get("status"), "result": _result_text(e)} for e in entries]
    summary = {
        "incident_id": facts.get("incident_id") or next((e.get("incident_id") for e in entries if e.get("incident_id")), None),
        "title": facts.get("title"), "severity": severity, "status": status,
        "detected_at": _stamp(detected_at), "resolved_at": _stamp(resolved_at), "duration_minutes": duration,
        "date": detected_at.strftime("%Y-%m-%d") if detected_at else None,
        "milestones": [{"event": name, "time": _hhmm(e["_at"]) if e else None, "timestamp": _stamp(e["_at"]) if e else None,
                        "action": e.get("action") if e else None} for name, e in milestones],
        "findings": ["%s: %s" % (e.get("action"), _result_text(e) or e.get("status")) for e in entries if is_finding(e)],
        "actions_taken": ["%s %s%s" % (_hhmm(e["_at"]), e.get("action"), (" (%s)" % _result_text(e)) if _result_text(e) else "")
                          for e in entries if e.get("kind") == "change"],
        "checks": len([e for e in entries if e.get("kind") == "check"]),
        "actors": sorted({e.get("actor") for e in entries if e.get("actor")}),
        "timeline": rows,
        "facts": facts,
    }
    return summary


# ------------------------------------------------------------------------------------------------ document layout
# A document is a list of blocks: ("h1"|"h2", text), ("p", text), ("kv", [(key, value)]), ("ul", [items]),
# ("table", headers, rows), ("pre", text). Values None become blanks.

def _v(value, what):
    if value in (None, "", []):
        return blank(what)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _list(value, what):
    if value in (None, "", []):
        return [blank(what)]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _subject(summary, what):
    return summary["facts"].get("title") or blank(what)


def _status_update(s):
    f = s["facts"]
    return "[SARK] Incident Update - %s" % _subject(s, "brief description"), [
        ("kv", [("Status", s["status"]), ("Severity", _v(s["severity"], "severity P0-P3")), ("Start Time", _v(s["detected_at"], "start time")),
                ("Impact", _v(f.get("impact"), "description of user impact"))]),
        ("h2", "Current Situation"), ("p", _v(f.get("current_situation") or "; ".join(s["findings"]), "what we know")),
        ("h2", "Actions Taken"), ("ul", _list(s["actions_taken"], "what we have done")),
        ("h2", "Next Steps"), ("p", _v(f.get("next_steps"), "what we are doing next")),
        ("kv", [("ETA to Resolution", _v(f.get("eta"), "best estimate"))]),
    ]


def _customer_notice(s):
    f = s["facts"]
    every = f.get("update_every_minutes") or CADENCE.get(s["severity"] or "", 30)
    resolved = s["status"] == "Resolved"
    return "Service Disruption Notice - SARK MCP Governance", [
        ("p", "The issues with SARK authorization services have been resolved." if resolved
         else "We are currently experiencing issues with SARK authorization services."),
        ("h2", "Impact"), ("ul", _list(f.get("impact"), "customer-facing impact, e.g. MCP server registrations may be delayed")),
        ("kv", [("Status", "Resolved" if resolved else "We are actively working on resolution"),
                ("ETA", "-" if resolved else _v(f.get("eta"), "approximately X hours"))]),
        ("p", "We will provide updates every %s minutes." % every if not resolved else "No further updates are planned."),
        ("p", "For urgent issues, please contact: %s" % _v(f.get("support_contact"), "support contact")),
    ]


PAGE_TEXT = {"Investigating": "We are investigating reports of %s. %s",
             "Identified": "We have identified %s. We are working on a fix.",
             "Monitoring": "We have deployed a fix (%s) and are monitoring for improvement.",
             "Resolved": "The issue has been resolved. %s"}


def _status_page(s):
    f = s["facts"]
    ms = {m["event"]: m for m in s["milestones"]}
    investigating = PAGE_TEXT["Investigating"] % (_v(f.get("title"), "the symptom users see"),
                                                  _v(f.get("impact"), "what users may experience"))
    phases = [("Investigating", ms["Incident detected"], investigating),
              ("Identified", ms["Root cause identified"], PAGE_TEXT["Identified"] % _v(f.get("root_cause"), "the cause, in plain words")),
              ("Monitoring", ms["Fix deployed"], PAGE_TEXT["Monitoring"] % _v(ms["Fix deployed"]["action"], "the fix")),
              ("Resolved", ms["Services restored"], PAGE_TEXT["Resolved"] % "Service has returned to normal.")]
    reached = STATUSES.index(s["status"])
    blocks = []
    for index, (name, milestone, text) in enumerate(phases):
        if index > reached:
            break
        blocks += [("h2", name), ("p", text), ("p", "Posted: %s" % _v(milestone["timestamp"], "time of posting"))]
    return "Status page - %s" % _subject(s, "incident title"), blocks


def _stakeholder_email(s):
    f = s["facts"]
    ms = {m["event"]: m for m in s["milestones"]}
    return "[%s] SARK Production Incident - %s" % (s["severity"] or blank("severity"), _subject(s, "brief description")), [
        ("p", "Dear Stakeholders,"),
        ("p", "We are experiencing a %s incident affecting SARK production services." % (s["severity"] or blank("severity"))
         if s["status"] != "Resolved" else "The %s incident affecting SARK production services is resolved." % (s["severity"] or blank("severity"))),
        ("h2", "Impact"), ("ul", _list(f.get("impact"), "what fails for users") + [
            "Users affected: %s" % _v(f.get("users_affected"), "share or number of users"),
            "Estimated duration: %s" % _v(f.get("eta") if s["duration_minutes"] is None else "%d minutes" % s["duration_minutes"], "estimate")]),
        ("h2", "Status"), ("ul", [
            "Incident detected: %s" % _v(ms["Incident detected"]["time"], "time") + " UTC",
            "Team mobilized: %s" % _v(ms["Team notified"]["time"], "time") + " UTC",
            "Root cause identified: %s UTC (%s)" % (_v(ms["Root cause identified"]["time"], "time"), _v(f.get("root_cause"), "root cause")),
            "Fix in progress: %s UTC" % _v(ms["Fix deployed"]["time"], "time")]),
        ("kv", [("Next Update", _v(f.get("next_update_at"), "time of the next update") + " (or sooner if status changes)"),
                ("Incident Commander", _v(f.get("incident_commander"), "name and e-mail"))]),
        ("p", "For real-time updates, see: %s" % _v(f.get("status_page_url"), "status page URL")),
    ]


def _timeline_table(s):
    rows = [[m["time"] or blank("HH:MM"), m["event"] + ((" - " + m["action"]) if m["action"] else "")] for m in s["milestones"]]
    return ("table", ["Time (UTC)", "Event"], rows)


def _full_timeline(s):
    return ("table", ["Time (UTC)", "Phase", "Who", "What", "Result"],
            [[r["timestamp"], r["phase"], r["actor"] or "", r["action"], " ".join(x for x in (r["status"] or "", r["result"]) if x)]
             for r in s["timeline"]])


def _incident_report(s):
    f = s["facts"]
    return "Incident Report: %s" % _subject(s, "brief description"), [
        ("kv", [("Incident ID", _v(s["incident_id"], "incident id")), ("Date", _v(s["date"], "date")),
                ("Duration", _v(None if s["duration_minutes"] is None else "%d minutes" % s["duration_minutes"], "duration")),
                ("Severity", _v(s["severity"], "severity")), ("Status", s["status"])]),
        ("h2", "Executive Summary"), ("p", blank("1-2 sentence summary of incident and impact")),
        ("h2", "Technical Details"),
        ("kv", [("Root Cause", _v(f.get("root_cause"), "detailed root cause")),
                ("Affected Systems", _v(f.get("services_affected"), "list of systems")),
                ("Error Messages", _v(f.get("error_messages") or s["findings"], "key error messages"))]),
        ("h2", "Impact"),
        ("kv", [("Users Affected", _v(f.get("users_affected"), "number/percentage")), ("Services Down", _v(f.get("services_affected"), "list")),
                ("Data Loss", _v(f.get("data_loss"), "yes/no - if yes, details")), ("Revenue Impact", _v(f.get("revenue_impact"), "estimate"))]),
        ("h2", "Response"),
        ("kv", [("Detection Time", _v(s["detected_at"], "timestamp")),
                ("Response Time", _v(_since(s, "Team notified"), "detection to first response")),
                ("Resolution Time", _v(None if s["duration_minutes"] is None else "%d minutes" % s["duration_minutes"], "duration")),
                ("Mitigation", _v(s["actions_taken"], "actions taken"))]),
        ("h2", "Timeline"), _timeline_table(s), _full_timeline(s),
        ("h2", "Follow-up Actions"), ("ul", _list(f.get("action_items") and ["%s" % _item(a) for a in f["action_items"]],
                                                  "action items with owners and due dates")),
        ("h2", "Attachments"), ("ul", ["Post-mortem document: %s" % blank("link"), "Incident log: timeline.jsonl of the run directory",
                                       "Metrics/graphs: %s" % blank("link")]),
    ]


def _since(s, event):
    ms = {m["event"]: m for m in s["milestones"]}
    start, end = ms["Incident detected"]["timestamp"], ms[event]["timestamp"]
    if not start or not end:
        return None
    minutes = (datetime.datetime.strptime(end, "%Y-%m-%d %H:%M UTC") - datetime.datetime.strptime(start, "%Y-%m-%d %H:%M UTC"))
    return "%d minutes" % int(minutes.total_seconds() // 60)


def _item(item):
    if isinstance(item, dict):
        return "%s - owner %s, due %s, %s" % (
            item.get("action") or blank("action"), item.get("owner") or blank("owner"),
            item.get("due") or blank("due date"), item.get("status") or item.get("priority") or "TODO")
    return str(item)


def _postmortem(s):
    f = s["facts"]
    items = f.get("action_items") or []
    return "Post-Mortem: %s - %s" % (_subject(s, "incident title"), s["date"] or blank("date")), [
        ("h2", "Summary"),
        ("p", "On %s at %s, SARK %s lasting %s. %s" % (
            _v(s["date"], "date"), _v(s["milestones"][0]["time"] and s["milestones"][0]["time"] + " UTC", "time"),
            _v(f.get("title"), "what happened"), _v(None if s["duration_minutes"] is None else "%d minutes" % s["duration_minutes"], "duration"),
            _v(f.get("impact"), "what users saw and how many"))),
        ("h2", "Impact"),
        ("kv", [("Duration", _v(None if s["duration_minutes"] is None else "%d minutes (%s - %s)"
                                % (s["duration_minutes"], s["milestones"][0]["time"], s["resolved_at"][11:16]), "duration")),
                ("Users Affected", _v(f.get("users_affected"), "users affected")), ("Requests Failed", _v(f.get("requests_failed"), "requests failed")),
                ("Revenue Impact", _v(f.get("revenue_impact"), "revenue impact")), ("Severity", _v(s["severity"], "severity"))]),
        ("h2", "Root Cause"), ("p", _v(f.get("root_cause"), "root cause and its contributing factors")),
        ("h2", "Timeline"), _full_timeline(s),
        ("h2", "What Went Well"), ("ul", _list(f.get("what_went_well"), "what went well")),
        ("h2", "What Could Be Improved"), ("ul", _list(f.get("what_could_be_improved"), "what could be improved")),
        ("h2", "Action Items"), ("table", ["Action", "Owner", "Due Date", "Status"],
                                 [[i.get("action") or blank("action"), i.get("owner") or blank("owner"), i.get("due") or blank("due date"),
                                   i.get("status") or "TODO"] for i in items if isinstance(i, dict)]
                                 or [[blank("action"), blank("owner"), blank("due date"), "TODO"]]),
        ("h2", "Lessons Learned"), ("ul", _list(f.get("lessons_learned"), "lessons learned")),
        ("h2", "Follow-up"), ("ul", _list(f.get("follow_up"), "follow-up")),
    ]


BUILDERS = {"status_update": _status_update, "customer_notice": _customer_notice, "status_page": _status_page,
            "stakeholder_email": _stakeholder_email, "incident_report": _incident_report, "postmortem": _postmortem}


def _cell_md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(title, blocks, subject_line=False):
    out = ["Subject: %s" % title, ""] if subject_line else ["# %s" % title, ""]
    for block in blocks:
        kind = block[0]
        if kind == "h2":
            out += ["## %s" % block[1], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "kv":
            out += ["**%s:** %s  " % (k, v) for k, v in block[1]] + [""]
        elif kind == "ul":
            out += ["- %s" % item for item in block[1]] + [""]
        elif kind == "table":
            out += ["| %s |" % " | ".join(block[1]), "|%s|" % "|".join("---" for _h in block[1])]
            out += ["| %s |" % " | ".join(_cell_md(c) for c in row) for row in block[2]] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_text(title, blocks):
    out = ["Subject: %s" % title, ""]
    for block in blocks:
        kind = block[0]
        if kind == "h2":
            out += ["%s:" % block[1]]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "kv":
            out += ["%s: %s" % kv for kv in block[1]] + [""]
        elif kind == "ul":
            out += ["- %s" % item for item in block[1]] + [""]
        elif kind == "table":
            out += ["  ".join(str(c) for c in [block[1]][0])] + ["  ".join(str(c) for c in row) for row in block[2]] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def _esc(text):
    escaped = html.escape(str(text))
    # a blank stands out on the page too
    return escaped.replace("[TO COMPLETE:", '<mark class="to-complete">[TO COMPLETE:').replace("]", "]</mark>") \
        if "[TO COMPLETE:" in escaped else escaped


def render_html(title, blocks):
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>%s</title>' % html.escape(title),
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:.2em .5em;text-align:left}mark.to-complete{background:#ffd33d}</style>",
           "</head><body>", "<h1>%s</h1>" % _esc(title)]
    for block in blocks:
        kind = block[0]
        if kind == "h2":
            out.append("<h2>%s</h2>" % _esc(block[1]))
        elif kind == "p":
            out.append("<p>%s</p>" % _esc(block[1]))
        elif kind == "kv":
            out.append("<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (_esc(k), _esc(v)) for k, v in block[1]))
        elif kind == "ul":
            out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _esc(i) for i in block[1]))
        elif kind == "table":
            out.append("<table><tr>%s</tr>%s</table>" % ("".join("<th>%s</th>" % _esc(h) for h in block[1]), "".join(
                "<tr>%s</tr>" % "".join("<td>%s</td>" % _esc(c) for c in row) for row in block[2])))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def incident_document(summary, document, output_format="markdown"):
    """One of the seeds' documents, rendered. summary: what incident_summary returned."""
    if document not in BUILDERS:
        raise AnsibleFilterError("incident_document: document=%r: use one of %s" % (document, ", ".join(DOCUMENTS)))
    if output_format not in FORMATS:
        raise AnsibleFilterError("incident_document: format=%r: use one of %s" % (output_format, ", ".join(FORMATS)))
    if not isinstance(summary, dict) or "milestones" not in summary:
        raise AnsibleFilterError("incident_document: expects the result of sark.ops.incident_summary")
    title, blocks = BUILDERS[document](summary)
    if output_format == "html":
        return render_html(title, blocks)
    if output_format == "text":
        return render_text(title, blocks)
    return render_markdown(title, blocks, subject_line=document in ("status_update", "customer_notice", "stakeholder_email"))


def blanks(text):
    """The blanks left in a rendered document (what a person must complete)."""
    found, start = [], 0
    marker = "[TO COMPLETE: "
    while True:
        start = text.find(marker, start)
        if start < 0:
            return found
        end = text.find("]", start)
        found.append(text[start + len(marker):end])
        start = end


EXTENSIONS = {"markdown": "md", "html": "html", "text": "txt"}
POST_INCIDENT = ("incident_report", "postmortem")


def incident_documents(summary, documents, formats=("markdown", "html", "text"), directory="documents", send=None):
    """Every requested document in every format, with its file paths, blanks and the timeline entry recording it."""
    send = list(send or [])
    for index, item in enumerate(send):
        if not isinstance(item, dict) or item.get("document") not in documents or not item.get("target"):
            raise AnsibleFilterError("incident_documents: send[%d] needs a document out of %s and a target" % (index, ", ".join(documents)))
    out, entries = {}, []
    for document in documents:
        files = [{"format": fmt, "name": "%s.%s" % (document, EXTENSIONS.get(fmt, fmt)),
                  "path": "%s/%s.%s" % (directory, document, EXTENSIONS.get(fmt, fmt)),
                  "content": incident_document(summary, document, fmt)} for fmt in formats]
        text = incident_document(summary, document, "text")
        left = blanks(text)
        targets = [item["target"] for item in send if item["document"] == document]
        if targets:
            action = "sent %s via %s" % (document, ", ".join(targets))
        elif document in POST_INCIDENT:
            action = "wrote %s for a person to complete" % document
        else:
            action = "wrote %s for a person to send" % document
        out[document] = {"files": files, "text": text, "blanks": left, "paths": [f["path"] for f in files], "sent_to": targets}
        entries.append({
            "phase": "post_incident" if document in POST_INCIDENT else "communication", "kind": "communication",
            "action": action,
            "status": "changed" if targets else "info",
            "result": {"status": summary.get("status"), "blanks": len(left)},
            "details": {"document": document, "paths": [f["path"] for f in files], "blanks": left, "sent_to": targets}})
    return {"documents": out, "entries": entries,
            "index": {name: {"paths": doc["paths"], "blanks": doc["blanks"], "sent_to": doc["sent_to"]} for name, doc in out.items()}}


class FilterModule:
    def filters(self):
        return {"incident_summary": incident_summary, "incident_document": incident_document, "incident_blanks": blanks,
                "incident_documents": incident_documents}
