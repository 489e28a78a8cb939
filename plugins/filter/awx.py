# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of playbooks/awx_apply.yml: awx_changed_fields, awx_job_template_body (docs in the .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

_MISSING = object()


def awx_changed_fields(desired, existing, keys=None):
    """The fields of desired whose value differs from (or is absent in) existing: the body of a PATCH."""
    if not isinstance(desired, dict):
        raise AnsibleFilterError("awx_changed_fields: the input must be a dict of desired fields, not %s" % type(desired).__name__)
    if existing is None:
        existing = {}
    if not isinstance(existing, dict):
        raise AnsibleFilterError("awx_changed_fields: existing must be a dict (an object the API returned), not %s" % type(existing).__name__)
    wanted = list(desired) if keys is None else list(keys)
    unknown = [k for k in wanted if k not in desired]
    if unknown:
        raise AnsibleFilterError("awx_changed_fields: keys not in the desired fields: %s" % ", ".join(sorted(unknown)))
    return dict((k, desired[k]) for k in wanted if existing.get(k, _MISSING) != desired[k])


JOB_TEMPLATE_FIELDS = ("name", "description", "job_type", "playbook", "verbosity", "forks", "limit", "become_enabled",
                       "ask_variables_on_launch", "ask_limit_on_launch", "allow_simultaneous", "use_fact_cache",
                       "survey_enabled", "extra_vars")


def awx_job_template_body(asset, organization, project, inventory):
    """The POST/PATCH body of a job template of the assets file, with the ids its references resolved to."""
    if not isinstance(asset, dict) or "name" not in asset:
        raise AnsibleFilterError("awx_job_template_body: the input must be a job template of the assets file")
    missing = [f for f in JOB_TEMPLATE_FIELDS if f not in asset]
    if missing:
        raise AnsibleFilterError("awx_job_template_body: job template %s lacks %s" % (asset["name"], ", ".join(missing)))
    body = dict((f, asset[f]) for f in JOB_TEMPLATE_FIELDS)
    body.update(organization=int(organization), project=int(project), inventory=int(inventory))
    return body


class FilterModule(object):
    def filters(self):
        return {"awx_changed_fields": awx_changed_fields, "awx_job_template_body": awx_job_template_body}
