#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: auditron_queue_info
short_description: Read AUDITRON's job queue - BullMQ's job counts, the dead-letter queue and failed jobs
version_added: 0.3.0
description:
  - Seed 004's "Check queue length" / "Check queue stats" / "Review dead-letter queue" steps.
  - Reports BullMQ's job counts of the queue C(agentic-jobs) (V(waiting), V(active), V(completed), V(failed), V(delayed),
    V(paused)), whether it is paused, the size of the C(dead-letter) queue and, through BullMQ, a capped look at its
    jobs and at the oldest failed jobs.
  - O(via=api) asks the runbook's admin API (C(GET /api/admin/queue/stats)); it reports counts only. O(via=bullmq) reads
    the queues with BullMQ for Python on Redis (AUDITRON's code has no admin routes, so V(auditron_code) always does).
  - Never changes anything.
options:
  via:
    description:
      - How to reach the queue. Default - the layout's way (V(api) for V(runbook), V(bullmq) for V(auditron_code)).
      - V(api) is refused in the V(auditron_code) layout (no admin routes there).
    type: str
    choices: [api, bullmq]
  job_sample:
    description: How many dead-letter jobs and failed jobs to show (each); at most 100. V(0) shows none.
    type: int
    default: 10
  backlog_threshold:
    description: The runbook's "Queue Length < 100 jobs"; RV(backlog.exceeded) is true above it (waiting + delayed + paused).
    type: int
    default: 100
extends_documentation_fragment:
  - sark.ops.auditron
  - sark.ops.auditron.API
  - sark.ops.redis
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
notes:
  - Job data is shown as a short preview with secret-looking fields masked.
requirements:
  - bullmq (Python) for O(via=bullmq)
seealso:
  - module: sark.ops.auditron_queue
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Queue stats through the runbook's admin API
  sark.ops.auditron_queue_info:
    auditron_url: https://api.auditron.ai
    auditron_token: "{{ auditron_admin_token }}"
  register: queue

- name: Queue stats and the dead-letter queue through BullMQ (the code's layout)
  sark.ops.auditron_queue_info:
    layout: auditron_code
    redis_host: redis.auditron.svc
    job_sample: 20
  register: queue

- name: Warn about a backlog
  ansible.builtin.debug:
    msg: "{{ queue.counts.waiting }} jobs waiting"
  when: queue.backlog.exceeded
'''

RETURN = r'''
queue:
  description: The queue's name.
  returned: always
  type: str
  sample: agentic-jobs
via:
  description: How the queue was read (V(api) or V(bullmq)).
  returned: always
  type: str
  sample: bullmq
layout:
  description: The layout used.
  returned: always
  type: str
  sample: auditron_code
paused:
  description: Whether the queue is paused (BullMQ's C(isPaused)).
  returned: always
  type: bool
  sample: false
counts:
  description: BullMQ's job counts.
  returned: always
  type: dict
  contains:
    waiting: {description: Jobs waiting., type: int, returned: always}
    active: {description: Jobs being processed., type: int, returned: always}
    completed: {description: Completed jobs kept., type: int, returned: always}
    failed: {description: Failed jobs kept., type: int, returned: always}
    delayed: {description: Delayed jobs., type: int, returned: always}
    paused: {description: Jobs held by a pause., type: int, returned: always}
  sample: {"waiting": 12, "active": 5, "completed": 940, "failed": 3, "delayed": 0, "paused": 0}
backlog:
  description: The backlog against the runbook's threshold.
  returned: always
  type: dict
  contains:
    jobs: {description: Waiting + delayed + paused jobs., type: int, returned: always}
    threshold: {description: O(backlog_threshold)., type: int, returned: always}
    exceeded: {description: Whether RV(backlog.jobs) is above the threshold., type: bool, returned: always}
  sample: {"jobs": 12, "threshold": 100, "exceeded": false}
dead_letter:
  description:
    - C(queue), C(count) (all its jobs), C(counts) (per state; null through the API) and C(jobs) (oldest first, at most
      O(job_sample); null through the API, which shows no jobs).
  returned: always
  type: dict
  sample: {"queue": "dead-letter", "count": 2, "counts": {"waiting": 2}, "jobs": [{"id": "1", "name": "dead-letter"}]}
failed_jobs:
  description:
    - The oldest failed jobs of the queue (at most O(job_sample)) - C(id), C(name), C(created_at), C(processed_at),
      C(finished_at), C(attempts_made), C(failed_reason), C(data_preview); null through the API.
  returned: always
  type: list
  elements: dict
notes:
  description: What this read could not show, and why.
  returned: always
  type: list
  elements: str
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _auditron as au
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec

MAX_SAMPLE = 100


def resolve_via(params, layout):
    via = params.get("via") or layout.fact("queue_backend")
    if via == "api" and not layout.has("queue_stats_route"):
        raise au.unavailable(layout, "queue_stats_route")
    return via


def read_bullmq(params, layout, sample):
    async def look(bull):
        stats = await bull.stats()
        dead = await bull.jobs(bull.dead_letter(), au.ALL_STATES, sample)
        stats["dead_letter"]["jobs"] = [au.job_summary(job) for job in dead]
        stats["failed_jobs"] = [au.job_summary(job) for job in await bull.jobs(bull.queue(), ["failed"], sample)]
        return stats
    return au.BullMQ(params, layout).run(look)


def read_api(params, layout):
    stats = au.api_stats(au.AuditronApiClient(params), layout)
    stats["dead_letter"]["jobs"] = None
    stats["failed_jobs"] = None
    stats["notes"] = ["The runbook's admin API shows counts only: use via=bullmq (Redis options) to look at the "
                      "dead-letter and failed jobs"]
    return stats


def run(module):
    params = module.params
    if not 0 <= params["job_sample"] <= MAX_SAMPLE:
        raise SarkValidationError("job_sample must be between 0 and %d, got %s" % (MAX_SAMPLE, params["job_sample"]))
    if params["backlog_threshold"] < 0:
        raise SarkValidationError("backlog_threshold must be 0 or more")
    layout = au.layout_of(params)
    via = resolve_via(params, layout)
    stats = read_bullmq(params, layout, params["job_sample"]) if via == "bullmq" else read_api(params, layout)
    counts = stats["counts"]
    jobs = counts["waiting"] + counts["delayed"] + counts["paused"]
    module.evidence.set_count("jobs", sum(counts.values()))
    return dict(changed=False, via=via, layout=layout.name, queue=stats["queue"], paused=stats["paused"], counts=counts,
                backlog={"jobs": jobs, "threshold": params["backlog_threshold"], "exceeded": jobs > params["backlog_threshold"]},
                dead_letter=stats["dead_letter"], failed_jobs=stats["failed_jobs"], notes=stats.get("notes", []))


def main():
    options = dict(
        via=dict(type="str", choices=["api", "bullmq"]),
        job_sample=dict(type="int", default=10),
        backlog_threshold=dict(type="int", default=100),
    )
    sark_main(run, options, families=(au.layout_spec, au.api_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
