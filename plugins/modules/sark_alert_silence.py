#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_alert_silence
short_description: Create, extend and expire Alertmanager silences idempotently
version_added: 0.1.0
description:
  - The runbook's "Silence Alert" step (C(POST /api/v2/silences)) made repeatable.
  - A silence is identified by its matchers and comment - the same matchers (in any order) and the same O(comment)
    are the same silence, found among the active and pending silences, so running the task again changes nothing.
    O(silence_id) picks one silence explicitly instead.
  - O(duration) counts from the silence's start - running again with the same duration is a no-op, a longer
    duration extends the silence (a new C(endsAt) on the same silence); O(ends_at) sets the end explicitly.
  - O(state=absent) expires the silence (C(DELETE /api/v2/silence/{id})).
options:
  state:
    description:
      - V(present) creates the silence or moves its end; V(absent) expires it.
    type: str
    choices: [present, absent]
    default: present
  matchers:
    description:
      - Label matchers; an alert is silenced when all match. Required unless O(silence_id) is given.
    type: list
    elements: dict
    suboptions:
      name:
        description: Label name, for example V(alertname).
        type: str
      value:
        description: Label value, or a regular expression with O(matchers[].is_regex=true).
        type: str
      is_regex:
        description: Match O(matchers[].value) as a regular expression.
        type: bool
        default: false
      is_equal:
        description: V(false) negates the matcher (C(!=), C(!~)).
        type: bool
        default: true
  comment:
    description:
      - Why the alert is silenced; part of the silence's identity. Required to create a silence.
    type: str
  created_by:
    description:
      - Who silences it (Alertmanager's C(createdBy)).
    type: str
    default: sark.ops
  duration:
    description:
      - How long the silence lasts from its start, as V(30m), V(1h), V(1h30m), V(2d) or seconds. At most 90 days.
      - Default V(1h) when O(ends_at) is not set either.
    type: str
  starts_at:
    description:
      - Start of a new silence (RFC 3339); default now. An existing silence keeps its start.
    type: str
  ends_at:
    description:
      - End of the silence (RFC 3339), instead of O(duration).
    type: str
  silence_id:
    description:
      - Act on this silence instead of looking it up by matchers and comment. An unknown id fails.
    type: str
extends_documentation_fragment:
  - sark.ops.alertmanager
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Looks the silence up and returns the plan (RV(planned_actions)) with an honest C(changed); nothing is written.
  diff_mode:
    support: full
    details:
      - Shows the silence before and after (matchers, start, end, comment, state).
  idempotent:
    support: full
    details:
      - With O(duration) the end is computed from the silence's start, not from now, so repeated runs agree.
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Silence HighErrorRate for one hour (runbook "Silence Alert")
  sark.ops.sark_alert_silence:
    alertmanager_url: http://alertmanager:9093
    matchers:
      - name: alertname
        value: HighErrorRate
    comment: Investigating high error rate
    created_by: ops@example.com
    duration: 1h
  register: silence

- name: Still investigating - extend the same silence to three hours from its start
  sark.ops.sark_alert_silence:
    alertmanager_url: http://alertmanager:9093
    matchers:
      - name: alertname
        value: HighErrorRate
    comment: Investigating high error rate
    duration: 3h

- name: Done - expire it
  sark.ops.sark_alert_silence:
    alertmanager_url: http://alertmanager:9093
    silence_id: "{{ silence.silence_id }}"
    state: absent
'''

RETURN = r'''
silence_id:
  description: Id of the silence acted on (null when none exists or, in check mode, before it is created).
  returned: always
  type: str
  sample: 5f0e1b2c-6b7a-4a55-9f0e-0a1b2c3d4e5f
action:
  description: V(created), V(extended) (end moved later), V(shortened), V(expired) or V(none).
  returned: always
  type: str
  sample: created
silence:
  description: The silence after the task (as planned in check mode) - C(id), C(state), C(matchers), C(starts_at), C(ends_at), C(created_by), C(comment).
  returned: when a silence exists or is planned
  type: dict
previous:
  description: The silence before the task, in the same shape, or null.
  returned: always
  type: dict
covered_alerts:
  description: Names of the alerts Alertmanager currently holds that the matchers select.
  returned: with O(state=present)
  type: list
  elements: str
  sample: ["HighErrorRate"]
planned_actions:
  description: The writes planned (in check mode, the writes that would run).
  returned: always
  type: list
  elements: dict
executed_actions:
  description: The writes that ran (empty in check mode).
  returned: always
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

import datetime

from ansible_collections.sark.ops.plugins.module_utils._alerting import (
    MAX_SILENCE_SECONDS, Silences, alertmanager_argument_spec, alertmanager_client, format_time, normalize_matchers,
    parse_duration, parse_time, silence_summary,
)
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError, sark_main, utcnow

TOLERANCE = datetime.timedelta(seconds=1)
DEFAULT_DURATION = "1h"


def lookup(module, silences, matchers):
    """The live silence this task is about, or None (an explicit unknown id fails)."""
    params = module.params
    if params["silence_id"]:
        found = silences.get(params["silence_id"])
        if found is None:
            raise SarkValidationError("Alertmanager has no silence with id %s: check silence_id (GET /api/v2/silences lists "
                                      "them) or omit it to find the silence by matchers and comment" % params["silence_id"])
        return found
    found = silences.find(matchers, params["comment"])
    if len(found) > 1:
        module.warn("%d live silences share these matchers and comment; acting on %s (ends last)" % (len(found), found[0]["id"]))
    return found[0] if found else None


def desired_end(params, start):
    if params["ends_at"]:
        return parse_time(params["ends_at"], "ends_at")
    return start + datetime.timedelta(seconds=parse_duration(params["duration"] or DEFAULT_DURATION))


def diff_view(summary):
    return dict(summary) if summary else {}


def ensure_present(module, silences, matchers, current):
    params = module.params
    now = utcnow()
    if current is not None and (current.get("status") or {}).get("state") == "expired":
        raise SarkPreconditionError("Silence %s has expired and cannot be extended; omit silence_id to create a new one"
                                    % current["id"])
    if current is None:
        if not params["comment"]:
            raise SarkValidationError("comment is required to create a silence (Alertmanager needs one): say why it is silenced")
        start = parse_time(params["starts_at"], "starts_at") if params["starts_at"] else now
        body = {"matchers": matchers, "startsAt": format_time(start), "createdBy": params["created_by"],
                "comment": params["comment"]}
        action = "created"
    else:
        start = parse_time(current["startsAt"])
        body = {"id": current["id"], "matchers": normalize_matchers(current["matchers"]), "startsAt": current["startsAt"],
                "createdBy": current.get("createdBy") or params["created_by"], "comment": current.get("comment")}
        action = None
    end = desired_end(params, start)
    if end <= max(start, now):
        raise SarkValidationError("The silence would end at %s, which is not after its start and now; use state=absent to "
                                  "expire it" % format_time(end))
    if (end - start).total_seconds() > MAX_SILENCE_SECONDS:
        raise SarkValidationError("A silence longer than 90 days is refused: fix the alert or its rule instead")
    body["endsAt"] = format_time(end)
    previous = silence_summary(current)
    if current is not None:
        current_end = parse_time(current["endsAt"])
        if abs(current_end - end) <= TOLERANCE:
            return {"changed": False, "action": "none", "silence_id": current["id"], "silence": previous, "previous": previous,
                    "msg": "Silence %s already ends at %s" % (current["id"], current["endsAt"])}
        action = "extended" if end > current_end else "shortened"
    planned = dict(previous or {}, matchers=body["matchers"], starts_at=body["startsAt"], ends_at=body["endsAt"],
                   created_by=body["createdBy"], comment=body["comment"], state=(previous or {}).get("state") or
                   ("pending" if parse_time(body["startsAt"]) > now else "active"), id=body.get("id"))
    result = {"changed": True, "action": action, "silence_id": body.get("id"), "silence": planned, "previous": previous}
    if module.diff_mode:
        result["diff"] = {"before": diff_view(previous), "after": diff_view(planned)}
    module.evidence.plan(action, silence_id=body.get("id"), ends_at=body["endsAt"])
    if module.check_mode:
        result["msg"] = "Would %s the silence (ends %s)" % (action[:-1] if action.endswith("ed") else action, body["endsAt"])
        return result
    silence_id = silences.save(body)
    module.evidence.executed(action, silence_id=silence_id, ends_at=body["endsAt"])
    stored = silences.get(silence_id)
    result.update(silence_id=silence_id, silence=silence_summary(stored),
                  msg="Silence %s %s, ends %s" % (silence_id, action, body["endsAt"]))
    return result


def ensure_absent(module, silences, current):
    previous = silence_summary(current)
    if current is None or (current.get("status") or {}).get("state") == "expired":
        return {"changed": False, "action": "none", "silence_id": current["id"] if current else None, "previous": previous,
                "silence": previous, "msg": "No live silence to expire"}
    planned = dict(previous, state="expired")
    result = {"changed": True, "action": "expired", "silence_id": current["id"], "previous": previous, "silence": planned}
    if module.diff_mode:
        result["diff"] = {"before": diff_view(previous), "after": diff_view(planned)}
    module.evidence.plan("expire", silence_id=current["id"])
    if module.check_mode:
        result["msg"] = "Would expire silence %s" % current["id"]
        return result
    silences.expire(current["id"])
    module.evidence.executed("expire", silence_id=current["id"])
    result.update(silence=silence_summary(silences.get(current["id"])), msg="Silence %s expired" % current["id"])
    return result


def run(module):
    params = module.params
    if not params["matchers"] and not params["silence_id"]:
        raise SarkValidationError("Give matchers (e.g. [{name: alertname, value: HighErrorRate}]) or silence_id")
    matchers = normalize_matchers(params["matchers"]) if params["matchers"] else None
    if params["ends_at"] is None:
        parse_duration(params["duration"] or DEFAULT_DURATION)
    silences = Silences(alertmanager_client(params))
    current = lookup(module, silences, matchers)
    if params["state"] == "present":
        result = ensure_present(module, silences, matchers, current)
        covered = silences.covered_alerts((result.get("silence") or {}).get("matchers") or matchers or [])
        result["covered_alerts"] = sorted(set(a["alertname"] for a in covered if a["alertname"]))
    else:
        result = ensure_absent(module, silences, current)
    result.update(module.actions())
    return result


def main():
    spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        matchers=dict(type="list", elements="dict", options=dict(
            name=dict(type="str"), value=dict(type="str"), is_regex=dict(type="bool", default=False),
            is_equal=dict(type="bool", default=True))),
        comment=dict(type="str"),
        created_by=dict(type="str", default="sark.ops"),
        duration=dict(type="str"),
        starts_at=dict(type="str"),
        ends_at=dict(type="str"),
        silence_id=dict(type="str"),
    )
    sark_main(run, spec, (alertmanager_argument_spec, layout_argument_spec), mutually_exclusive=[("duration", "ends_at")])


if __name__ == "__main__":
    main()
