# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the incident playbooks: incident_check, incident_compare, incident_auth_endpoints (docs in the .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils import _incident_checks as checks
from ansible_collections.sark.ops.plugins.module_utils._k8s_workloads import mask_resources

KINDS = {
    "db_connections": lambda data, **kw: checks.db_connections(
        data.get("pg_info"), data.get("idle"), databases=data.get("databases"), setting=data.get("setting"), **kw),
    "db_outage": lambda data, **kw: checks.db_outage(
        data.get("pg_info"), data.get("idle"), databases=data.get("databases"), setting=data.get("setting"),
        pod=checks.db_pod(data["workloads"], data.get("pod_name"), data.get("logs"),
                          **{k: kw.pop(k) for k in ("memory_target", "claim_template") if k in kw})
        if data.get("workloads") else None, **kw),
    "api_workload": lambda data, **kw: checks.api_workload(data.get("workloads"), **kw),
    "siem": lambda data, **kw: checks.siem(
        data.get("breaker"), data.get("queue"), data.get("hec"), bool(data.get("workers_restarted")),
        batch=checks.siem_batch(data.get("deployment"), data.get("configmaps") or [], **kw) if data.get("deployment") else None),
    "security": lambda data, **kw: checks.security(data.get("principal"), data.get("evidence"), data.get("sessions"),
                                                   data.get("isolation"), data.get("secret"), data.get("critical"), **kw),
    "api_down": lambda data, **kw: checks.api_down(
        data.get("workloads"), deployment=data.get("deployment"), pods=data.get("pods"), objects=data.get("objects"),
        logs=data.get("logs"), db=checks.db_pod(data["db_workloads"], data.get("db_pod_name"), data.get("db_logs"))
        if data.get("db_workloads") else None, **kw),
    "high_latency": lambda data, **kw: checks.high_latency(
        data.get("pg_info"), data.get("workloads"), data.get("redis"), opa=data.get("opa"), prometheus=data.get("prometheus"),
        deployment=data.get("deployment"), configmaps=data.get("configmaps"), **kw),
    "auth_failures": lambda data, **kw: checks.auth_failures(
        data.get("endpoints"), data.get("probes"), data.get("redis"), deployment=data.get("deployment"), pods=data.get("pods"),
        secrets=data.get("secrets"), clocks=data.get("clocks"), **kw),
}
# AUDITRON's queue backlog (seed 004)
KINDS.update(queue_backlog=lambda data, **kw: checks.queue_backlog(data.get("queue"), data.get("workloads"), **kw))
# policy evaluation failure, audit events not recording
KINDS.update(
    opa_policies=lambda data, **kw: checks.opa_policies(
        data.get("policies"), data.get("expected"), data.get("tests"), data.get("decisions"),
        data.get("workload"), data.get("cache"), data.get("health"), **kw),
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


def k8s_masked(resources):
    if not isinstance(resources, list):
        raise AnsibleFilterError("k8s_masked: the input must be a list of Kubernetes objects")
    return mask_resources(resources)


def incident_auth_endpoints(deployment, configmaps=None, settings=None):
    if deployment is not None and not isinstance(deployment, dict):
        raise AnsibleFilterError("incident_auth_endpoints: the input must be a Deployment (a k8s_info resource)")
    try:
        return checks.auth_endpoints(deployment, configmaps or [], tuple(settings) if settings else checks.AUTH_ENDPOINT_SETTINGS)
    except checks.IncidentCheckError as exc:
        raise AnsibleFilterError("incident_auth_endpoints: %s" % exc)


def incident_compare(before, after):
    try:
        return checks.compare(before, after)
    except checks.IncidentCheckError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"incident_check": incident_check, "incident_compare": incident_compare, "k8s_masked": k8s_masked,
                "incident_auth_endpoints": incident_auth_endpoints}
