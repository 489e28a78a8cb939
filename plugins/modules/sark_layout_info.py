#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_layout_info
short_description: Tell which SARK data layout a live deployment follows, and which runbook steps would be no-ops there
version_added: 0.2.0
description:
  - Probes a live deployment - the API routes in C(/openapi.json), the tables, columns and enum labels in PostgreSQL
    (C(information_schema) and C(pg_enum)), and a bounded C(SCAN) sample of Redis key names (never C(KEYS)) - and reports
    which layout it follows (V(runbook), V(sark_v2), V(mixed) or V(unknown)) with the evidence of every signal.
  - An API route counts as present only with its method (C(/api/v1/servers/{server_id}) with only C(get) has no DELETE).
  - Gives a verdict per runbook procedure (with the step IDs of the collection's C(docs/runbook-map.md)) - V(effective),
    V(different) (with what to use instead) or V(no-op).
  - Every signal is built from the collection's layout contract (the routes with their methods, key templates, table
    templates and columns of each layout), so the probe looks for exactly what the other modules would use.
  - Renamed from C(sark_contract_info) in 0.2.0.
  - Each source is optional (O(sources)); at least one must be given. A source that cannot be reached is reported in
    RV(errors), not a failure, as long as another one answered.
options:
  sources:
    description: Which sources to probe.
    type: list
    elements: str
    choices: [api, postgres, redis]
    required: true
  redis_scan_count:
    description: The C(COUNT) hint of each C(SCAN) page of the Redis sample.
    type: int
    default: 500
  redis_sample_size:
    description: The most Redis key names sampled.
    type: int
    default: 2000
notes:
  - O(layout) is the layout your inventory says the deployment follows (it is in the C(group/sark.ops.api) defaults
    of most plays). The probe never assumes it; it reports whether the live deployment agrees in
    RV(configured_layout_matches) and warns when it does not.
extends_documentation_fragment:
  - sark.ops.api
  - sark.ops.layout
  - sark.ops.postgres
  - sark.ops.redis
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
  - sark.ops.attributes.EVIDENCE
attributes:
  action_group:
    description: Use C(group/sark.ops.api), C(group/sark.ops.postgres) and C(group/sark.ops.redis) in C(module_defaults).
    support: full
    membership:
      - sark.ops.all
      - sark.ops.api
      - sark.ops.postgres
      - sark.ops.redis
seealso:
  - module: sark.ops.sark_health
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Which layout is this deployment?
  sark.ops.sark_layout_info:
    sources: [api, postgres, redis]
    api_url: https://sark.example.com
    pg_host: db.example.com
    pg_database: sark
    redis_host: redis.example.com
  register: drift

- name: Runbook steps that do nothing here
  ansible.builtin.debug:
    msg: "{{ drift.no_op_steps }}"
'''

RETURN = r'''
layout:
  description: V(runbook), V(sark_v2), V(mixed) (signals disagree) or V(unknown) (no signal).
  returned: always
  type: str
  sample: sark_v2
configured_layout:
  description: The O(layout) the probe was told to expect.
  returned: always
  type: str
  sample: runbook
configured_layout_matches:
  description: Whether the detected layout is the configured one; null when the probe found V(mixed) or V(unknown).
  returned: always
  type: bool
  sample: false
votes:
  description: How many signals point to each layout.
  returned: always
  type: dict
  sample: {"runbook": 0, "sark_v2": 12}
signals:
  description: Every signal - C(source), C(signal), C(points_to) (a layout or null) and C(evidence).
  returned: always
  type: list
  elements: dict
procedures:
  description:
    - Per runbook procedure - C(procedure), C(steps) (IDs), C(verdict) (V(effective), V(different), V(no-op), V(unknown)), C(instead)
      and, where the deployment's own data decided the verdict, C(basis).
    - The session and rate-limit steps are V(no-op) on a V(sark_v2) deployment unless its Redis holds such keys (a running
      SARK 2.x writes only C(policy:decision:*)); C(basis) says which Redis sample decided it, or that Redis was not probed.
  returned: always
  type: list
  elements: dict
no_op_steps:
  description: The runbook step IDs that would act on nothing in this deployment.
  returned: always
  type: list
  elements: str
  sample: ["000-41", "000-60"]
errors:
  description: Sources that could not be probed, with the reason.
  returned: always
  type: dict
evidence:
  description: The audit record - options asked for (secrets masked), actions, counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils import _postgres as pg
from ansible_collections.sark.ops.plugins.module_utils._api import SarkApiClient, api_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import LAYOUT_NAMES, Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout_probe import (
    decide,
    pg_signals,
    redis_signals,
    route_methods,
    route_signals,
    scan_sample,
    verdicts,
)
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._postgres import postgres_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis import connect as redis_connect
from ansible_collections.sark.ops.plugins.module_utils._redis import redis_argument_spec


def probe_api(params):
    spec = SarkApiClient(params).request("GET", "/openapi.json").json() or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise SarkError("GET /openapi.json did not answer an OpenAPI document with a paths object")
    return route_signals(route_methods(spec["paths"]))


def probe_postgres(params):
    conn = pg.connect(params, dbname=params["pg_database"] or "sark", module_name="sark_layout_info")
    try:
        rows = pg.fetch_all(conn, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'")
        enums = pg.fetch_all(conn, "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                                   "ORDER BY t.typname, e.enumsortorder")
    finally:
        conn.close()
    columns = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    labels = {}
    for row in enums:
        labels.setdefault(row["typname"], []).append(row["enumlabel"])
    return pg_signals(set(columns), columns, labels)


def probe_redis(params, sample):
    client = redis_connect(params)
    try:
        keys, more = scan_sample(client, params["redis_scan_count"], params["redis_sample_size"])
    finally:
        client.close()
    sample.update(keys=keys, truncated=more)
    signals = redis_signals(keys)
    for signal in signals:
        signal["evidence"]["sampled_keys"] = len(keys)
        signal["evidence"]["sample_truncated"] = more
    return signals


def run(module):
    params = module.params
    if not params["sources"]:
        raise SarkValidationError("sources is empty: give at least one of api, postgres, redis (with its connection options)")
    if not 10 <= params["redis_scan_count"] <= 100000 or not 1 <= params["redis_sample_size"] <= 100000:
        raise SarkValidationError("redis_scan_count must be 10-100000 and redis_sample_size 1-100000")
    redis_sample = {}
    probes = {"api": probe_api, "postgres": probe_postgres, "redis": lambda p: probe_redis(p, redis_sample)}
    signals, errors = [], {}
    for source in params["sources"]:
        try:
            signals.extend(probes[source](params))
        except SarkError as exc:
            errors[source] = exc.msg
    if len(errors) == len(params["sources"]):
        raise SarkError("No source could be probed: %s" % "; ".join("%s: %s" % kv for kv in sorted(errors.items())), errors=errors)
    layout, votes = decide(signals)
    procedures = verdicts(layout, redis_sample or None)
    no_op = sorted({step for p in procedures if p["verdict"] == "no-op" for step in p["steps"]})
    module.evidence.set_count("signals", len(signals))
    configured = Layout.from_params(params).name
    matches = configured == layout if layout in LAYOUT_NAMES else None
    if matches is False:
        module.warn("This deployment follows the %s layout, but layout is set to %s: runbook steps and sark.ops modules "
                    "would act on the wrong keys, tables or routes. Set layout: %s." % (layout, configured, layout))
    return {"layout": layout, "configured_layout": configured, "configured_layout_matches": matches, "votes": votes,
            "signals": signals, "procedures": procedures, "no_op_steps": no_op, "errors": errors}


def main():
    spec = dict(
        sources=dict(type="list", elements="str", choices=["api", "postgres", "redis"], required=True),
        redis_scan_count=dict(type="int", default=500),
        redis_sample_size=dict(type="int", default=2000),
    )
    sark_main(run, spec, (api_argument_spec, layout_argument_spec, postgres_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
