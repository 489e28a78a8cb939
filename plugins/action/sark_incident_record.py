# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of sark_incident_record: who ran the job, taken from the controller's variables.

A module does not see extra vars, and the module's process user is the target's user, not the person who started the
job. This plugin fills ``actor`` (the AWX user from ``tower_user_name``/``awx_user_name``, which AWX passes as extra
vars, else the user running ansible-playbook), ``actor_source`` and ``run_context`` (AWX job ids, the host) and runs
the module.
"""

import getpass

from ansible.plugins.action import ActionBase

AWX_USER_VARS = ("awx_user_name", "tower_user_name")
AWX_CONTEXT_VARS = {"awx_job_id": ("awx_job_id", "tower_job_id"),
                    "awx_job_template_name": ("awx_job_template_name", "tower_job_template_name"),
                    "awx_workflow_job_id": ("awx_workflow_job_id", "tower_workflow_job_id"),
                    "awx_workflow_job_name": ("awx_workflow_job_name", "tower_workflow_job_name")}


def controller_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (some containers)
        return None


def actor_from(task_vars, explicit=None):
    """(actor, source) the way the module documents it: explicit > AWX user > the controller's user."""
    if explicit:
        return explicit, "explicit"
    for name in AWX_USER_VARS:
        value = task_vars.get(name)
        if value:
            return str(value), "awx"
    return controller_user(), "local"


def context_from(task_vars, given=None):
    context = {}
    for key, names in AWX_CONTEXT_VARS.items():
        for name in names:
            if task_vars.get(name) not in (None, ""):
                context[key] = str(task_vars[name])
                break
    if task_vars.get("inventory_hostname"):
        context["host"] = str(task_vars["inventory_hostname"])
    context.update(given or {})
    return context


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        actor, source = actor_from(task_vars, args.get("actor"))
        if actor:
            args["actor"] = actor
            args.setdefault("actor_source", source)
        args["run_context"] = context_from(task_vars, args.get("run_context"))
        result.update(self._execute_module(module_name="sark.ops.sark_incident_record", module_args=args,
                                           task_vars=task_vars))
        return result
