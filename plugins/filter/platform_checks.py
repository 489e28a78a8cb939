# -*- coding: utf-8 -*-
# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daily checklist's checks that only a sibling platform has (issue #15): its services' health, judged for what the
health endpoints prove, and the selection of the checklist's checks that exist on a platform (its profile's daily_checks)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sark.ops.plugins.filter.checks import make_check

VERDICTS = {"healthy": "OK", "degraded": "WARNING", "unhealthy": "CRITICAL"}


def platform_health_check(result, title="Service health", runbook=""):
    """Filter: check platform_health from rsp_health_info (or another platform's health module with verdict/summary).

    healthy -> OK, degraded -> WARNING, unhealthy -> CRITICAL; the reason is the module's summary, which says when the
    health endpoints checked no dependency and no decision was tested. A missing, skipped or failed read is UNKNOWN."""
    if not result or not isinstance(result, dict):
        return make_check("platform_health", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    if result.get("skipped"):
        return make_check("platform_health", title, "UNKNOWN", reason="not read (source not configured)", runbook=runbook)
    if result.get("failed") or "verdict" not in result:
        return make_check("platform_health", title, "UNKNOWN",
                          reason="could not be read: %s" % to_text(result.get("msg") or "the task failed")[:300], runbook=runbook)
    verdict = VERDICTS.get(result["verdict"], "UNKNOWN")
    services = result.get("services") or {}
    details = {"services": {name: {k: entry.get(k) for k in ("status", "route", "http_status", "note")}
                            for name, entry in services.items()},
               "verified": result.get("verified"), "dependencies_checked": result.get("dependencies_checked"),
               "decision": result.get("decision")}
    return make_check("platform_health", title, verdict, result["verdict"], "", "degraded is a warning, unhealthy critical",
                      to_text(result.get("summary") or result["verdict"]), details, runbook)


def platform_checks(checks, wanted):
    """Filter: the checks whose id is in wanted (a profile's daily_checks), in the checklist's order."""
    if not isinstance(checks, list) or not isinstance(wanted, (list, tuple)):
        raise AnsibleFilterError("platform_checks takes a list of checks and a list of check ids")
    return [c for c in checks if c.get("id") in wanted]


class FilterModule(object):
    """sark.ops filters of the sibling platforms' checks."""

    def filters(self):
        return {"platform_health_check": platform_health_check, "platform_checks": platform_checks}
