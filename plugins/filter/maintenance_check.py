# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: maintenance_check
short_description: Judge a maintenance window (its steps, the read-only mode left behind, the smoke test) as a checklist check
version_added: 0.2.0
description:
  - Turns the step log of C(sark.ops.sark_maintenance) into the checklist check of the shared report
    (C(id), C(title), C(verdict), C(figure), C(unit), C(threshold), C(reason), C(details), C(runbook)).
  - V(CRITICAL) when SARK was left in read-only mode (C(READ_ONLY_MODE) is not V(false) after the window) or the
    smoke test found SARK unavailable or unhealthy - users are affected.
  - V(WARNING) when a step failed but read-only mode is off again and the smoke test passed - the maintenance is
    incomplete, the service is back.
  - V(UNKNOWN) when the read-only mode after the window could not be read, or in check mode.
  - V(OK) when every step is done, read-only mode is off and the smoke test passed.
options:
  _input:
    description:
      - The step log, a list of C({step, status, detail}) with C(status) one of V(done), V(skipped), V(failed),
        V(planned).
    type: list
    elements: dict
    required: true
  read_only:
    description: The value of C(READ_ONLY_MODE) in the deployment after the window (V(None) - could not be read).
    type: str
  smoke:
    description:
      - The result of the C(sark.ops.sark_health) smoke test (C(is_available), C(verdict), C(error), C(unhealthy_components),
        C(unknown_components)), or V(None) when it did not run. V(unhealthy) and V(unavailable) are CRITICAL, V(degraded) a WARNING.
    type: dict
  check_mode:
    description: The window ran in check mode.
    type: bool
    default: false
  runbook:
    description: The runbook step the check refers to.
    type: str
    default: "000 Planned Maintenance"
'''

EXAMPLES = r'''
- name: Judge the window
  ansible.builtin.set_fact:
    check: "{{ steps | sark.ops.maintenance_check(read_only='false', smoke=health) }}"
'''

RETURN = r'''
_value:
  description: The check, a dict of C(id), C(title), C(verdict), C(figure), C(unit), C(threshold), C(reason), C(details), C(runbook).
  type: dict
'''

from ansible.errors import AnsibleFilterError

STATUSES = ("done", "skipped", "failed", "planned")


def maintenance_check(steps, read_only=None, smoke=None, check_mode=False, runbook="000 Planned Maintenance"):
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise AnsibleFilterError("maintenance_check expects a list of step dicts")
    for step in steps:
        if step.get("status") not in STATUSES:
            raise AnsibleFilterError("maintenance_check: step %r has status %r, expected one of %s"
                                     % (step.get("step"), step.get("status"), ", ".join(STATUSES)))
    failed = [s for s in steps if s["status"] == "failed"]
    done = [s for s in steps if s["status"] == "done"]
    check = {
        "id": "maintenance", "title": "Maintenance window", "verdict": "UNKNOWN",
        "figure": len(done), "unit": "steps done", "threshold": len(steps),
        "reason": "", "runbook": runbook,
        "details": {"steps": steps, "read_only_after": read_only, "smoke": smoke, "failed_steps": [s.get("step") for s in failed]},
    }
    if check_mode:
        check["reason"] = "check mode: %d steps planned, nothing was changed or verified" % len(steps)
        return check
    problems = []
    if failed:
        problems.append("failed: " + "; ".join("%s (%s)" % (s.get("step"), s.get("detail") or "no detail") for s in failed))
    if read_only is None:
        check["reason"] = "READ_ONLY_MODE after the window could not be read" + ("; " + problems[0] if problems else "")
        return check
    normalized = str(read_only).strip().lower()
    if normalized != "false":
        check["verdict"] = "CRITICAL"
        check["reason"] = "SARK is still in read-only mode (READ_ONLY_MODE=%s)" % read_only
        check["reason"] += ("; " + problems[0]) if problems else ""
        return check
    if not smoke or not smoke.get("is_available") or smoke.get("verdict") == "unavailable":
        check["verdict"] = "CRITICAL"
        check["reason"] = ("smoke test: SARK is not available (%s)" % (smoke.get("error") or "no answer")) if smoke else "the smoke test did not run"
        check["reason"] += ("; " + problems[0]) if problems else ""
        return check
    bad = list(smoke.get("unhealthy_components") or []) + list(smoke.get("unknown_components") or [])
    if smoke.get("verdict") not in ("healthy", "degraded"):
        check["verdict"] = "CRITICAL"
        check["reason"] = "smoke test: SARK is %s (%s)" % (smoke.get("verdict"), ", ".join(bad) or "no component named")
        check["reason"] += ("; " + problems[0]) if problems else ""
        return check
    notes = []
    if smoke.get("verdict") == "degraded":
        notes.append("smoke test: SARK is degraded (%s)" % (", ".join(bad) or "no component named"))
    if failed or notes:
        check["verdict"] = "WARNING"
        check["reason"] = "; ".join(
            (["maintenance incomplete, read-only mode off"] if failed else ["%d steps done, read-only mode off" % len(done)])
            + notes + problems)
        return check
    check["verdict"] = "OK"
    check["reason"] = "%d steps done%s, read-only mode off, smoke test passed" % (
        len(done), (", %d skipped" % (len(steps) - len(done))) if len(steps) > len(done) else "")
    return check


class FilterModule(object):

    def filters(self):
        return {"maintenance_check": maintenance_check}
