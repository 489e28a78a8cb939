#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: auditron_layout_info
short_description: Tell which AUDITRON layout a live deployment follows - the runbook's or the published code's
version_added: 0.3.0
description:
  - Probes a live AUDITRON and reports whether it follows V(runbook) (seed 004 - admin API, C(/health/detailed), a worker
    Deployment) or V(auditron_code) (the published code - no admin routes, BullMQ driven on Redis, the service code's
    C("ApiKey") columns), V(mixed) when signals disagree, V(unknown) without a signal.
  - API - whether C(GET /api/admin/queue/stats) and C(GET /health/detailed) are routed (404 means not; 401/403 still
    means the route exists). PostgreSQL - the columns of the C("ApiKey") table (C(orgId)/C(disabledAt) are the code's,
    C(organizationId) without them the runbook's; no table at all is the Prisma schema as published). Redis - whether
    BullMQ's C(bull:agentic-jobs:meta) exists (evidence only; both layouts queue with BullMQ).
  - Every signal is built from the layout facts the AUDITRON modules use (C(_layout.PLATFORM_LAYOUTS)).
  - A source that cannot be reached is reported in RV(errors), not a failure, as long as another one answered.
options:
  sources:
    description: Which sources to probe.
    type: list
    elements: str
    choices: [api, postgres, redis]
    required: true
extends_documentation_fragment:
  - sark.ops.auditron
  - sark.ops.auditron.API
  - sark.ops.postgres
  - sark.ops.redis
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
notes:
  - O(layout) is what the inventory says; the probe never assumes it and reports in RV(configured_layout_matches)
    whether the deployment agrees.
seealso:
  - module: sark.ops.auditron_queue_info
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Which AUDITRON layout is this?
  sark.ops.auditron_layout_info:
    sources: [api, postgres]
    auditron_url: https://api.auditron.ai
    auditron_token: "{{ auditron_admin_token }}"
    pg_host: db.auditron.internal
    pg_database: auditron
  register: auditron_layout
'''

RETURN = r'''
layout:
  description: V(runbook), V(auditron_code), V(mixed) or V(unknown).
  returned: always
  type: str
  sample: auditron_code
configured_layout:
  description: The O(layout) the probe was told to expect.
  returned: always
  type: str
  sample: runbook
configured_layout_matches:
  description: Whether the detected layout is the configured one; null for V(mixed) or V(unknown).
  returned: always
  type: bool
  sample: false
votes:
  description: How many signals point to each layout.
  returned: always
  type: dict
  sample: {"runbook": 0, "auditron_code": 3}
signals:
  description: Every signal - C(source), C(signal), C(points_to) (a layout or null) and C(evidence).
  returned: always
  type: list
  elements: dict
procedures:
  description: Per seed-004 procedure - C(procedure), C(verdict) (V(effective), V(different), V(unknown)) and C(instead).
  returned: always
  type: list
  elements: dict
errors:
  description: Sources that could not be probed, with the reason.
  returned: always
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _auditron as au
from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._layout import PlatformLayout, platform_layout_names
from ansible_collections.sark.ops.plugins.module_utils._module import SarkAPIError, SarkError, SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis import connect as redis_connect
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec

ROUTE_SIGNALS = ("queue_stats_route", "health_detailed_route")
# seed-004 procedure -> (the fact it needs, what to use where the layout lacks it)
PROCEDURES = (
    ("Queue operations (stats, pause, resume, clean) via /api/admin/queue/*", "queue_stats_route",
     "sark.ops.auditron_queue / auditron_queue_info with layout=auditron_code (BullMQ on Redis)"),
    ("Detailed health: GET /health/detailed", "health_detailed_route",
     "GET /health checks nothing: judge database, Redis and the queue with sark.ops.auditron_queue_info and the PostgreSQL modules"),
    ("Revoking API keys via POST /api/admin/api-keys/{id}/revoke", "api_key_revoke_route",
     "sark.ops.auditron_api_key via=database"),
    ("Worker logs: deployment/auditron-worker", "worker_deployment",
     "the worker runs inside auditron-api: read deployment/auditron-api's logs"),
    ("Prometheus metrics (p95, error rate, queue length)", "metrics_route",
     "no /metrics route: use auditron_queue_info for the queue length; latency/error rate are not exported"),
)


def layouts():
    return {name: PlatformLayout(au.PLATFORM, name) for name in platform_layout_names(au.PLATFORM)}


def probe_api(params):
    client = au.AuditronApiClient(params)
    signals = []
    for fact in ROUTE_SIGNALS:
        path = PlatformLayout(au.PLATFORM, "runbook").fact(fact)
        try:
            status = client.request("GET", path, retry_on=()).status
        except SarkAPIError as exc:
            status = exc.status
            if status is None:
                raise
        routed = status != 404
        having = [name for name, lay in layouts().items() if lay.has(fact) == routed]
        signals.append({"source": "api", "signal": fact, "points_to": having[0] if len(having) == 1 else None,
                        "evidence": "GET %s -> %s" % (path, status)})
    return signals


def probe_postgres(params):
    conn = pg.connect(params, module_name="auditron_layout_info")
    try:
        table = PlatformLayout(au.PLATFORM, "runbook").fact("api_keys_table")
        rows = pg.fetch_all(conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                                  "AND table_name = %s", (table,))
    finally:
        conn.close()
    present = {row["column_name"] for row in rows}
    if not present:
        return [{"source": "postgres", "signal": "api_keys_table", "points_to": "auditron_code",
                 "evidence": "no %s table (the published Prisma schema has none)" % table}]
    columns = {name: {col for col in lay.fact("api_key_columns").values() if col} for name, lay in layouts().items()}
    # a layout fits when the columns only it has are all there and none of the columns only the others have
    fits = [name for name, own in columns.items()
            if (own - set().union(*(c for n, c in columns.items() if n != name))) <= present
            and not (set().union(*(c for n, c in columns.items() if n != name)) - own) & present]
    return [{"source": "postgres", "signal": "api_key_columns", "points_to": fits[0] if len(fits) == 1 else None,
             "evidence": "%s columns: %s" % (table, ", ".join(sorted(present)))}]


def probe_redis(params):
    lay = PlatformLayout(au.PLATFORM, "runbook")
    client = redis_connect(params)
    try:
        meta = "%s:%s:meta" % (lay.fact("queue_prefix"), lay.fact("queue_name"))
        exists = bool(client.exists(meta))
    finally:
        client.close()
    return [{"source": "redis", "signal": "bullmq_queue", "points_to": None,
             "evidence": "%s %s (BullMQ queues in both layouts)" % (meta, "exists" if exists else "absent")}]


def decide(signals):
    votes = {name: 0 for name in platform_layout_names(au.PLATFORM)}
    for signal in signals:
        if signal["points_to"]:
            votes[signal["points_to"]] += 1
    pointed = [name for name, count in votes.items() if count]
    if not pointed:
        return "unknown", votes
    return (pointed[0] if len(pointed) == 1 else "mixed"), votes


def run(module):
    params = module.params
    sources = list(dict.fromkeys(params["sources"]))
    if not sources:
        raise SarkValidationError("sources must name at least one of api, postgres, redis")
    probes = {"api": probe_api, "postgres": probe_postgres, "redis": probe_redis}
    signals, errors = [], {}
    for source in sources:
        try:
            signals += probes[source](params)
        except SarkError as exc:
            errors[source] = exc.msg
    if len(errors) == len(sources):
        raise SarkError("No source could be probed: %s" % "; ".join("%s: %s" % item for item in errors.items()), errors=errors)
    layout, votes = decide(signals)
    procedures = []
    for procedure, fact, instead in PROCEDURES:
        if layout in votes:
            effective = layouts()[layout].has(fact)
            procedures.append({"procedure": procedure, "verdict": "effective" if effective else "different",
                               "instead": None if effective else instead})
        else:
            procedures.append({"procedure": procedure, "verdict": "unknown", "instead": instead})
    matches = None if layout not in votes else layout == params["layout"]
    if matches is False:
        module.warn("This AUDITRON follows the %s layout, but layout=%s was configured" % (layout, params["layout"]))
    module.evidence.set_count("signals", len(signals))
    return dict(changed=False, layout=layout, configured_layout=params["layout"], configured_layout_matches=matches,
                votes=votes, signals=signals, procedures=procedures, errors=errors)


def main():
    options = dict(sources=dict(type="list", elements="str", required=True, choices=["api", "postgres", "redis"]))
    sark_main(run, options, families=(au.layout_spec, au.api_argument_spec, postgres_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
