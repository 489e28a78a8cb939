# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the incident playbooks: incident_check, incident_compare (docs in the .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils import _incident_checks as checks

KINDS = {
    "db_connections": lambda data, **kw: checks.db_connections(data.get("pg_info"), data.get("idle"), **kw),
    "api_workload": lambda data, **kw: checks.api_workload(data.get("workloads"), **kw),
    "siem": lambda data, **kw: checks.siem(data.get("breaker"), data.get("queue"), data.get("hec"),
                                           bool(data.get("workers_restarted"))),
}
# h13b: policy evaluation failure, audit events not recording
KINDS.update(
    opa_policies=lambda data, **kw: checks.opa_policies(
        data.get("policies"), data.get("expected"), data.get("tests"), data.get("decisions"),
        data.get("workload"), data.get("cache"), data.get("health")),
    audit_gap=lambda data, **kw: checks.audit_gap(
        data.get("audit"), data.get("now"), data.get("logs"), data.get("siem_queue"), data.get("pg_info"), **kw),
)


def incident_check(data, kind, **kwargs):
    if kind not in KINDS:
        raise AnsibleFilterError("incident_check: unknown kind %r (one of %s)" % (kind, ", ".join(sorted(KINDS))))
    if not isinstance(data, dict):
        raise AnsibleFilterError("incident_check: the input must be a dict of registered results")
    try:
        return KINDS[kind](data, **kwargs)
    except (checks.IncidentCheckError, TypeError, KeyError) as exc:
        raise AnsibleFilterError("incident_check(%s): %s" % (kind, exc))


def incident_compare(before, after):
    try:
        return checks.compare(before, after)
    except checks.IncidentCheckError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"incident_check": incident_check, "incident_compare": incident_compare}
