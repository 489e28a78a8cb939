# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: rollout_check
short_description: Judge the outcome of a restart, scale, rollback or database pod restart as a checklist check
version_added: 0.2.0
description:
  - Turns what C(sark.ops.sark_restart) observed after an operation into the checklist check of the shared report
    (C(id), C(title), C(verdict), C(figure), C(unit), C(threshold), C(reason), C(details), C(runbook)).
  - V(OK) when every wanted replica is updated and ready (for a database pod restart - a new pod, Ready);
    V(WARNING) when some but not all are ready; V(CRITICAL) when none is ready, the wait failed, or the pod was not
    recreated; V(UNKNOWN) when the state could not be read or the run was in check mode (nothing was verified).
options:
  _input:
    description:
      - The observation - C(action) (V(restart), V(scale), V(rollback), V(db_restart)), C(kind), C(name),
        C(namespace), C(replicas) (wanted), C(ready_replicas), C(updated_replicas); for V(db_restart) C(pod),
        C(uid_before), C(uid_after), C(ready); C(error) (the failed task's message) and C(check_mode).
    type: dict
    required: true
  runbook:
    description: The runbook step the check refers to.
    type: str
    default: ""
'''

EXAMPLES = r'''
- name: Judge the rolling restart
  ansible.builtin.set_fact:
    check: "{{ sark_k8s_result | sark.ops.rollout_check(runbook='000 Rolling Restart') }}"
'''

RETURN = r'''
_value:
  description: The check, a dict of C(id), C(title), C(verdict), C(figure), C(unit), C(threshold), C(reason), C(details), C(runbook).
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

ACTIONS = ("restart", "scale", "rollback", "db_restart")


def _int(value, field):
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("rollout_check: %s must be an integer, got %r" % (field, value))


def rollout_check(observed, runbook=""):
    if not isinstance(observed, dict):
        raise AnsibleFilterError("rollout_check expects a dict, got %s" % type(observed).__name__)
    action = observed.get("action")
    if action not in ACTIONS:
        raise AnsibleFilterError("rollout_check: action must be one of %s, got %r" % (", ".join(ACTIONS), action))
    namespace = observed.get("namespace") or ""
    name = observed.get("pod") if action == "db_restart" else observed.get("name")
    target = "%s/%s" % (namespace, name)
    check = {
        "id": "%s:%s" % (action, target),
        "title": {"restart": "Rolling restart", "scale": "Scale", "rollback": "Rollout undo",
                  "db_restart": "Database pod restart"}[action] + " of " + target,
        "verdict": "UNKNOWN", "figure": None, "unit": "ready replicas", "threshold": None,
        "reason": "", "details": dict(observed), "runbook": runbook,
    }
    error = observed.get("error")
    if observed.get("check_mode"):
        check["reason"] = "check mode: the %s was planned, nothing was changed or verified" % action
        return check

    if action == "db_restart":
        check["unit"] = "pod"
        check["threshold"] = "a new pod, Ready"
        before, after, ready = observed.get("uid_before"), observed.get("uid_after"), observed.get("ready")
        if error and after is None:
            check["verdict"] = "CRITICAL"
            check["reason"] = "the restart of %s failed: %s" % (target, to_native(error))
        elif after is None:
            check["reason"] = "the state of %s could not be read" % target
        elif before is not None and after == before:
            check["verdict"] = "CRITICAL"
            check["reason"] = "%s was not recreated (same pod uid %s)%s" % (target, after, (": " + to_native(error)) if error else "")
        elif ready is not True:
            check["verdict"] = "CRITICAL"
            check["reason"] = "%s was recreated but is not Ready%s" % (target, (": " + to_native(error)) if error else "")
        else:
            check["verdict"] = "OK"
            check["figure"] = 1
            check["reason"] = "%s recreated (uid %s) and Ready" % (target, after)
        return check

    wanted = _int(observed.get("replicas"), "replicas")
    ready = _int(observed.get("ready_replicas"), "ready_replicas")
    updated = _int(observed.get("updated_replicas"), "updated_replicas")
    if wanted is None or ready is None:
        check["reason"] = "the state of %s could not be read%s" % (target, (": " + to_native(error)) if error else "")
        if error:
            check["verdict"] = "CRITICAL"
        return check
    check["figure"] = ready
    check["threshold"] = wanted
    if updated is None:
        updated = ready
    if wanted == 0:
        check["verdict"] = "OK" if ready == 0 and not error else "WARNING"
        check["reason"] = "%s scaled to 0 (%d still ready)" % (target, ready)
        return check
    if ready >= wanted and updated >= wanted and not error:
        check["verdict"] = "OK"
        check["reason"] = "%d/%d replicas of %s updated and ready" % (ready, wanted, target)
    elif ready == 0:
        check["verdict"] = "CRITICAL"
        check["reason"] = "no replica of %s is ready (0/%d)%s" % (target, wanted, (": " + to_native(error)) if error else "")
    else:
        check["verdict"] = "WARNING"
        check["reason"] = "%d/%d replicas of %s ready, %d updated%s" % (
            ready, wanted, target, updated, (": " + to_native(error)) if error else "")
    return check


class FilterModule(object):

    def filters(self):
        return {"rollout_check": rollout_check}
