#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_ratelimit_info
short_description: Read SARK rate limits in Redis
version_added: 0.2.0
description:
  - Automates the reading half of the runbook's "Rate Limiting Operations" - check a subject's rate limit, view the most
    limited subjects - without C(KEYS). It never changes anything.
  - With O(subject), returns that subject's limit, used and remaining requests and when the limit resets, like the
    C(X-RateLimit-*) headers, read straight from Redis (RV(status)).
  - Without O(subject), lists the O(top_n) most limited subjects (highest share of their limit used), reading the keys
    page by page (RV(top)).
  - V(runbook) layout - a fixed hourly window, a string counter C(ratelimit:{kind}:{subject}:{YYYY-MM-DD-HH}) (UTC).
    V(sark_v2) layout - a sliding window of 3600 s, a sorted set C(rate_limit:{kind}:{subject}) holding one member per
    request scored by its time.
  - API keys and tokens used as subjects are secrets - they are masked in every result unless O(show_secrets=true).
  - Resetting a limit is M(sark.ops.sark_ratelimit)'s job.
options:
  subject:
    description:
      - The user id, API key, token number or IP address whose limit is read. Without it the module ranks subjects.
    type: str
  kind:
    description: What O(subject) is. SARK 2.x keys are C(rate_limit:user:...), C(rate_limit:api_key:...), C(rate_limit:ip:...)
      and C(rate_limit:token:...); the runbook documents C(ratelimit:user:...).
    type: str
    choices: [user, api_key, ip, token]
    default: user
  window:
    description:
      - V(runbook) layout - the hourly window to read, as C(YYYY-MM-DD-HH). Defaults to the current hour in UTC
        (the runbook's C($(date +%Y-%m-%d-%H)) on a UTC host).
      - Ignored by the V(sark_v2) layout.
    type: str
  rate_limit:
    description: The allowed requests per window of O(subject), when it differs from the default of its O(kind).
    type: int
  limits:
    description:
      - Allowed requests per window by kind, merged over the defaults (user 5000, api_key 1000, ip 100; token has none).
    type: dict
    default: {}
  top_n:
    description: How many subjects the ranking returns (without O(subject)).
    type: int
    default: 10
  show_secrets:
    description: Show API keys and tokens used as subjects in full.
    type: bool
    default: false
  scan_count:
    description:
      - The C(COUNT) hint of each C(SCAN) page of the ranking (between 10 and 100000). When not set, 1000.
    type: int
extends_documentation_fragment:
  - sark.ops.redis
  - sark.ops.layout
  - sark.ops.attributes
  - sark.ops.attributes.INFO_MODULE
notes:
  - Requires Redis 6.0 or later. With O(redis_cluster=true) every primary is scanned.
  - A least-privilege Redis ACL user needs C(+@read +@keyspace +ping +client|setname) on the keys it reads
    (for example C(~ratelimit:* ~rate_limit:*)).
seealso:
  - module: sark.ops.sark_ratelimit
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Check a user's rate limit
  sark.ops.sark_ratelimit_info:
    subject: user-123
  register: rl

- name: An API key's limit (its value stays masked in the output), with its own allowance
  sark.ops.sark_ratelimit_info:
    kind: api_key
    subject: "{{ api_key }}"
    rate_limit: 2000
    layout: sark_v2

- name: The 20 most limited subjects
  sark.ops.sark_ratelimit_info:
    top_n: 20
'''

RETURN = r'''
model:
  description: The rate-limit model of the layout - V(fixed_hourly) or V(sliding_window).
  returned: always
  type: str
  sample: fixed_hourly
layout:
  description: The layout the keys were read in.
  returned: always
  type: str
  sample: runbook
status:
  description:
    - The subject's limit. In the sliding window, C(reset_at) is when the oldest request in the window ages out.
  returned: when subject is given
  type: dict
  sample: {"kind": "user", "subject": "user-123", "model": "fixed_hourly", "limit": 5000, "used": 150, "remaining": 4850,
           "limited": false, "reset_at": "2025-11-22T11:00:00Z", "reset_epoch": 1763809200, "window": "2025-11-22-10"}
  contains:
    kind:
      description: What the subject is.
      type: str
      returned: always
    subject:
      description: The subject (API keys and tokens masked).
      type: str
      returned: always
    key:
      description: The Redis key (masked).
      type: str
      returned: always
    model:
      description: V(fixed_hourly) or V(sliding_window).
      type: str
      returned: always
    exists:
      description: Whether the key exists.
      type: bool
      returned: always
    limit:
      description: The allowed requests per window (null when unknown).
      type: int
      returned: always
    used:
      description: Requests in the window.
      type: int
      returned: always
    remaining:
      description: Requests left in the window (null when the limit is unknown).
      type: int
      returned: always
    limited:
      description: Whether the subject is at or over its limit.
      type: bool
      returned: always
    reset_at:
      description: When the limit resets (ISO 8601, UTC).
      type: str
      returned: always
    reset_epoch:
      description: The same as a Unix time, as C(X-RateLimit-Reset).
      type: int
      returned: always
    ttl:
      description: The key's TTL in seconds (null when the key does not exist).
      type: int
      returned: always
    window:
      description: The hourly window.
      type: str
      returned: in the fixed_hourly model
    entries:
      description: Members of the sorted set, including requests older than the window.
      type: int
      returned: in the sliding_window model
    window_seconds:
      description: The length of the sliding window.
      type: int
      returned: in the sliding_window model
top:
  description: The most limited subjects, most limited first.
  returned: when subject is not given
  type: list
  elements: dict
  sample: [{"kind": "ip", "subject": "10.1.2.3", "key": "ratelimit:ip:10.1.2.3:2025-11-22-10", "used": 100, "limit": 100,
            "remaining": 0, "ratio": 1.0, "limited": true}]
  contains:
    kind:
      description: What the subject is.
      type: str
      returned: always
    subject:
      description: The subject (API keys and tokens masked).
      type: str
      returned: always
    key:
      description: The Redis key (masked).
      type: str
      returned: always
    used:
      description: Requests in the window.
      type: int
      returned: always
    limit:
      description: The allowed requests per window (null when unknown).
      type: int
      returned: always
    remaining:
      description: Requests left (null when the limit is unknown).
      type: int
      returned: always
    ratio:
      description: Share of the limit used (null when the limit is unknown).
      type: float
      returned: always
    limited:
      description: Whether the subject is at or over its limit.
      type: bool
      returned: always
subjects_scanned:
  description: How many rate-limit keys the ranking read.
  returned: when subject is not given
  type: int
  sample: 4
progress:
  description: How the scan went - C(batches), C(pages), C(keys), C(nodes), C(duration_ms), C(keys_per_second), C(engine).
  returned: when subject is not given
  type: dict
  sample: {"batches": 1, "pages": 1, "keys": 4, "removed": 0, "nodes": 1, "duration_ms": 1.2, "keys_per_second": 3300,
           "engine": "client"}
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._layout import Layout, layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError, sark_main
from ansible_collections.sark.ops.plugins.module_utils._ratelimit import SECRET_KINDS, RateLimits, validate_limits, validate_subject
from ansible_collections.sark.ops.plugins.module_utils._redis import connect, redis_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import KeySweeper, redis_errors, validate_sweep_params


def run(module):
    params = module.params
    if params["kind"] in SECRET_KINDS and params["subject"] and not params["show_secrets"]:
        module.add_secret(params["subject"])
    validate_subject(params, False, "reading a rate limit")
    validate_limits(params)
    validate_sweep_params(dict(params, max_keys=1))  # scan_count; nothing is removed
    if params["top_n"] < 1:
        raise SarkValidationError("top_n must be 1 or more, got %s" % params["top_n"])
    layout = Layout.from_params(params)
    client = connect(params)
    limits = RateLimits(client, layout, None, params)
    limits.sweeper = KeySweeper.from_params(client, dict(params, engine="client"), masker=limits.mask)
    result = {"layout": layout.name, "model": limits.model}
    with redis_errors(params, "reading rate limits"):
        if params["subject"]:
            result["status"] = limits.status(params["kind"], params["subject"], params["rate_limit"])
            return result
        result["top"], stats = limits.top(params["top_n"])
    result["progress"] = stats.progress()
    result["subjects_scanned"] = stats.matched
    module.evidence.set_count("subjects", stats.matched)
    return result


def main():
    spec = dict(
        subject=dict(type="str"),
        kind=dict(type="str", default="user", choices=["user", "api_key", "ip", "token"]),
        window=dict(type="str"),
        rate_limit=dict(type="int"),
        limits=dict(type="dict", default={}),
        top_n=dict(type="int", default=10),
        show_secrets=dict(type="bool", default=False),
        scan_count=dict(type="int"),
    )
    sark_main(run, spec, (layout_argument_spec, redis_argument_spec))


if __name__ == "__main__":
    main()
