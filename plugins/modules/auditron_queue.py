#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: auditron_queue
short_description: Pause, resume or clean AUDITRON's BullMQ job queue, or retry its failed jobs
version_added: 0.3.0
description:
  - Seed 004's "Queue Operations" (pause, resume, clean old jobs) and the queue-backlog resolution "check for failing
    jobs" (retry them).
  - O(state=paused) / O(state=resumed) - BullMQ's pause and resume of the queue C(agentic-jobs); a paused queue hands
    no new job to any worker (jobs already running finish).
  - O(state=cleaned) - what AUDITRON's queue service does - BullMQ's C(clean) of completed jobs finished more than 24 hours
    ago and of failed jobs finished more than 7 days ago, at most 1000 of each per run.
  - O(state=retried) - BullMQ's retry of failed jobs (oldest first, at most O(max_jobs), or the O(job_ids) given); they go
    back to waiting.
  - O(via=api) uses the runbook's admin API (C(POST /api/admin/queue/pause|resume|clean)); it has no retry route.
    O(via=bullmq) uses BullMQ for Python on Redis - AUDITRON's code has no admin routes, so V(auditron_code) always does.
    BullMQ's own operations are used, never hand-edited keys.
options:
  state:
    description: What to do.
    type: str
    required: true
    choices: [paused, resumed, cleaned, retried]
  via:
    description:
      - How to reach the queue. Default - the layout's way (V(api) for V(runbook), V(bullmq) for V(auditron_code)).
    type: str
    choices: [api, bullmq]
  job_ids:
    description: With O(state=retried) - retry only these failed jobs (each must exist and be failed).
    type: list
    elements: str
  max_jobs:
    description: With O(state=retried) - the most failed jobs retried in one run (the rest are reported in RV(remaining)).
    type: int
    default: 1000
extends_documentation_fragment:
  - sark.ops.auditron
  - sark.ops.auditron.API
  - sark.ops.redis
  - sark.ops.attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the plan. With O(via=bullmq) a clean lists exactly the jobs BullMQ's clean would remove now; the API shows no
        job ages, so with O(via=api) a clean's check mode can only say whether there are completed or failed jobs.
  diff_mode:
    support: full
  idempotent:
    support: full
requirements:
  - bullmq (Python) for O(via=bullmq)
seealso:
  - module: sark.ops.auditron_queue_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Pause the queue (runbook - admin API)
  sark.ops.auditron_queue:
    state: paused
    auditron_url: https://api.auditron.ai
    auditron_token: "{{ auditron_admin_token }}"

- name: Clean old jobs through BullMQ (the code's layout)
  sark.ops.auditron_queue:
    state: cleaned
    layout: auditron_code
    redis_host: redis.auditron.svc

- name: Retry the failed jobs once the external API is back
  sark.ops.auditron_queue:
    state: retried
    layout: auditron_code
    redis_host: redis.auditron.svc
    max_jobs: 200
'''

RETURN = r'''
state:
  description: The O(state) asked for.
  returned: always
  type: str
  sample: paused
via:
  description: How the queue was reached (V(api) or V(bullmq)).
  returned: always
  type: str
  sample: bullmq
queue:
  description: The queue's name.
  returned: always
  type: str
  sample: agentic-jobs
paused:
  description: Whether the queue is paused after the run (in check mode - would be).
  returned: always
  type: bool
  sample: true
counts_before:
  description: BullMQ's job counts before the run (V(waiting), V(active), V(completed), V(failed), V(delayed), V(paused)).
  returned: always
  type: dict
  sample: {"waiting": 3, "active": 0, "completed": 12, "failed": 2, "delayed": 0, "paused": 0}
counts_after:
  description: The job counts after the run; null in check mode.
  returned: always
  type: dict
cleaned:
  description:
    - With O(state=cleaned) - per state (C(completed), C(failed)) C(count) and C(ids) (at most 20) removed (check mode -
      that would be removed; null counts through the API in check mode), plus C(grace_ms) and C(limit).
  returned: when state is cleaned
  type: dict
  sample: {"completed": {"count": 4, "ids": ["1", "2", "3", "4"], "grace_ms": 86400000, "limit": 1000}}
retried:
  description: With O(state=retried) - C(count) and C(ids) (at most 20) of the failed jobs moved back to waiting.
  returned: when state is retried
  type: dict
  sample: {"count": 2, "ids": ["7", "9"]}
remaining:
  description: With O(state=retried) - failed jobs left beyond O(max_jobs).
  returned: when state is retried
  type: int
  sample: 0
diff:
  description: With C(--diff) - the queue's paused flag and job counts, before and after.
  returned: when diff mode is on and something changes
  type: dict
planned_actions:
  description: What the run would do (check mode) or did.
  returned: always
  type: list
  elements: dict
executed_actions:
  description: What was done.
  returned: always
  type: list
  elements: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _auditron as au
from ansible_collections.sark.ops.plugins.module_utils._module import SarkPreconditionError, SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec

SAMPLE = 20
ROUTE_OF = {"paused": "queue_pause_route", "resumed": "queue_resume_route", "cleaned": "queue_clean_route",
            "retried": "queue_retry_route"}


def resolve_via(params, layout):
    via = params.get("via") or layout.fact("queue_backend")
    if via == "api" and not layout.has(ROUTE_OF[params["state"]]):
        raise au.unavailable(layout, ROUTE_OF[params["state"]])
    return via


def validate(params):
    if params.get("job_ids") and params["state"] != "retried":
        raise SarkValidationError("job_ids is for state=retried only")
    if params["max_jobs"] < 1 or params["max_jobs"] > 10000:
        raise SarkValidationError("max_jobs must be between 1 and 10000, got %s" % params["max_jobs"])
    if params.get("job_ids") is not None and (not params["job_ids"] or any(not str(i).strip() for i in params["job_ids"])):
        raise SarkValidationError("job_ids must name at least one job and no empty id")


def finish(module, result, before, after_paused, changed):
    result.update(changed=changed, paused=after_paused, counts_before=before["counts"])
    if module.diff_mode and changed:
        result["diff"] = {"before": {"paused": before["paused"], "counts": before["counts"]},
                          "after": {"paused": after_paused, "counts": result.get("counts_after") or "(after the run)"}}
    return result


# --- through BullMQ ------------------------------------------------------------------------------------------------

def bullmq_run(module, layout, result):
    params, state = module.params, module.params["state"]

    async def act(bull):
        before = await bull.stats()
        result["queue"] = before["queue"]
        paused = before["paused"]
        changed = False
        if state in ("paused", "resumed"):
            want = state == "paused"
            changed = paused != want
            if changed:
                module.evidence.plan("pause" if want else "resume", queue=before["queue"])
                if not module.check_mode:
                    paused = await bull.set_paused(want)
                    module.evidence.executed("pause" if want else "resume", queue=before["queue"])
                else:
                    paused = want
        elif state == "cleaned":
            result["cleaned"] = {}
            for job_state, grace in (("completed", "clean_completed_grace_ms"), ("failed", "clean_failed_grace_ms")):
                grace_ms, limit = layout.fact(grace), layout.fact("clean_limit")
                if module.check_mode:
                    ids = [str(job.id) for job in await bull.cleanable(job_state, grace_ms, limit, au.utc_ms())]
                else:
                    ids = await bull.clean(job_state, grace_ms, limit)
                if ids:
                    entry = dict(state=job_state, jobs=len(ids), grace_ms=grace_ms, limit=limit)
                    module.evidence.plan("clean", **entry)
                    if not module.check_mode:
                        module.evidence.executed("clean", **entry)
                result["cleaned"][job_state] = {"count": len(ids), "ids": ids[:SAMPLE], "grace_ms": grace_ms, "limit": limit}
                changed = changed or bool(ids)
        else:
            changed = await retry(module, bull, result)
        if not module.check_mode:
            result["counts_after"] = await bull.counts(bull.queue())
        return finish(module, result, before, paused, changed)
    return au.BullMQ(params, layout).run(act)


async def retry(module, bull, result):
    params = module.params
    queue = bull.queue()
    if params.get("job_ids"):
        jobs = []
        for job_id in dict.fromkeys(str(i).strip() for i in params["job_ids"]):
            job = await queue.getJob(job_id)
            if job is None:
                raise SarkPreconditionError("Job %s does not exist in queue %s" % (job_id, queue.name))
            job_state = await job.getState()
            if job_state == "failed":
                jobs.append(job)
            elif job_state not in ("waiting", "wait", "active", "paused", "prioritized", "delayed"):
                raise SarkPreconditionError("Job %s of queue %s is %s, not failed: only failed jobs are retried"
                                            % (job_id, queue.name, job_state))
        jobs = jobs[:params["max_jobs"]]
        remaining = 0
    else:
        failed_total = (await bull.counts(queue))["failed"]
        jobs = await bull.jobs(queue, ["failed"], params["max_jobs"])
        remaining = max(0, failed_total - len(jobs))
    ids = [str(job.id) for job in jobs]
    if ids:
        module.evidence.plan("retry", queue=queue.name, jobs=len(ids), sample=ids[:SAMPLE])
    done = []
    if not module.check_mode:
        for job in jobs:
            await bull.retry(job)
            done.append(str(job.id))
        if done:
            module.evidence.executed("retry", queue=queue.name, jobs=len(done), sample=done[:SAMPLE])
    result["retried"] = {"count": len(ids), "ids": ids[:SAMPLE]}
    result["remaining"] = remaining
    return bool(ids)


# --- through the runbook's admin API ---------------------------------------------------------------------------------

def api_run(module, layout, result):
    state = module.params["state"]
    client = au.AuditronApiClient(module.params)
    before = au.api_stats(client, layout)
    result["queue"] = before["queue"]
    paused = before["paused"]
    route = layout.fact(ROUTE_OF[state])
    if state in ("paused", "resumed"):
        want = state == "paused"
        changed = paused != want
        if changed:
            module.evidence.plan("POST %s" % route)
            if module.check_mode:
                paused = want
            else:
                paused = au.api_set_paused(client, layout, want)
                module.evidence.executed("POST %s" % route)
    else:
        grace = {"completed": layout.fact("clean_completed_grace_ms"), "failed": layout.fact("clean_failed_grace_ms")}
        if module.check_mode:
            # the API shows no ages: all it can tell is whether there is anything clean could remove
            changed = bool(before["counts"]["completed"] or before["counts"]["failed"])
            if changed:
                module.evidence.plan("POST %s" % route, note="the API shows no job ages; the jobs removed are not known "
                                                             "before the call")
            result["cleaned"] = {s: {"count": None, "ids": [], "grace_ms": grace[s], "limit": layout.fact("clean_limit")}
                                 for s in grace}
        else:
            module.evidence.plan("POST %s" % route)
            cleaned = au.api_clean(client, layout)
            module.evidence.executed("POST %s" % route, completed=len(cleaned["completed"]), failed=len(cleaned["failed"]))
            result["cleaned"] = {s: {"count": len(cleaned[s]), "ids": cleaned[s][:SAMPLE], "grace_ms": grace[s],
                                     "limit": layout.fact("clean_limit")} for s in grace}
            changed = bool(cleaned["completed"] or cleaned["failed"])
    if not module.check_mode:
        result["counts_after"] = au.api_stats(client, layout)["counts"]
    return finish(module, result, before, paused, changed)


def run(module):
    params = module.params
    validate(params)
    layout = au.layout_of(params)
    via = resolve_via(params, layout)
    result = dict(state=params["state"], via=via, layout=layout.name, counts_after=None)
    result = bullmq_run(module, layout, result) if via == "bullmq" else api_run(module, layout, result)
    verb = {"paused": "Paused", "resumed": "Resumed", "cleaned": "Cleaned", "retried": "Retried"}[params["state"]]
    if not result["changed"]:
        result["msg"] = "Nothing to do: " + {
            "paused": "queue %s is already paused", "resumed": "queue %s is already resumed",
            "cleaned": "queue %s has no job old enough to clean", "retried": "queue %s has no failed job to retry",
        }[params["state"]] % result["queue"]
    else:
        result["msg"] = "%s%s queue %s" % ("Would have " if module.check_mode else "", verb.lower() if module.check_mode
                                           else verb, result["queue"])
    return result


def main():
    options = dict(
        state=dict(type="str", required=True, choices=["paused", "resumed", "cleaned", "retried"]),
        via=dict(type="str", choices=["api", "bullmq"]),
        job_ids=dict(type="list", elements="str"),
        max_jobs=dict(type="int", default=1000),
    )
    sark_main(run, options, families=(au.layout_spec, au.api_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
