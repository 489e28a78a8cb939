# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK's policy cache and other Redis keys to clear (private): which keys a target selects in a layout, the checks
before anything is deleted, and FLUSHDB bounded by max_keys. Used by sark_cache."""

from ansible_collections.sark.ops.plugins.module_utils._layout import glob_escape
from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils._redis import primaries
from ansible_collections.sark.ops.plugins.module_utils._redis_keys import (
    SweepLimitError,
    SweepStats,
    check_pattern,
    literal_characters,
    redis_errors,
    require_literal_prefix,
    validate_sweep_params,
)


def target_pattern(params, layout):
    """(pattern, reason it does not apply or None) for the chosen target."""
    target = params["target"]
    if target == "decisions":
        return require_literal_prefix(layout.pattern("policy_decision_key", user_id=params["user_id"], action=params["decision_action"],
                                                     resource=params["resource"]), option="the policy_decision_key template's pattern"), None
    if target == "versions":
        if not layout.has("policy_version_key"):
            return None, layout.absent_reason("policy_version_key")
        return require_literal_prefix(layout.pattern("policy_version_key", policy=params["policy"]),
                                      option="the policy_version_key template's pattern"), None
    if target == "prefix":
        prefix = params["prefix"]
        if prefix is None or not prefix.strip():
            raise SarkValidationError("target=prefix needs a non-empty prefix (for example 'policy:'); an empty prefix would match "
                                      "every key. Nothing was deleted.")
        if not literal_characters(prefix).strip():
            raise SarkValidationError("prefix %r has no literal characters. The prefix is taken literally; to match every key use "
                                      "target: all (FLUSHDB) or target: pattern with pattern: '*' and force: true." % prefix)
        return check_pattern(glob_escape(prefix) + "*", option="prefix"), None
    if target == "pattern":
        return check_pattern(params["pattern"], params["force"]), None
    return "FLUSHDB", None


def validate_target(params):
    validate_sweep_params(params)
    target = params["target"]
    unrelated = {"decisions": ("policy", "prefix", "pattern"), "versions": ("user_id", "decision_action", "resource", "prefix", "pattern"),
                 "prefix": ("user_id", "decision_action", "resource", "policy", "pattern"),
                 "pattern": ("user_id", "decision_action", "resource", "policy", "prefix"),
                 "all": ("user_id", "decision_action", "resource", "policy", "prefix", "pattern")}[target]
    given = [name for name in unrelated if params.get(name) not in (None, "")]
    if given:
        raise SarkValidationError("target=%s does not use %s; remove it or pick the matching target" % (target, ", ".join(given)))
    for name in ("user_id", "decision_action", "resource", "policy"):
        value = params.get(name)
        if value is not None and not value.strip():
            raise SarkValidationError("%s is empty: leave it out to mean 'any'" % name)
    if target == "all" and not params["force"]:
        raise SarkValidationError("target=all runs FLUSHDB: every key goes, including sessions (everyone is logged out) and rate "
                                  "limits. Confirm with force: true (run in check mode first). Nothing was deleted.")


def flushdb(module, client, params):
    """FLUSHDB ASYNC on every primary, after checking the key count against max_keys."""
    stats = SweepStats("FLUSHDB", None, params["sample_size"])
    stats.engine = "flushdb"
    nodes = list(primaries(client))
    with redis_errors(params, "counting the keys to flush"):
        for _name, node in nodes:
            stats.nodes += 1
            stats.matched += int(node.dbsize())
            _cursor, keys = node.scan(cursor=0, count=max(10, params["sample_size"]))
            stats.add_sample(keys)
    if stats.matched > params["max_keys"]:
        raise SweepLimitError("FLUSHDB would remove %d keys, more than max_keys=%d. Nothing was deleted. If the whole database "
                              "should really go, set max_keys to at least %d." % (stats.matched, params["max_keys"], stats.matched),
                              matched=stats.matched, removed=0, sample=stats.masked_sample())
    module.evidence.plan("flushdb", keys=stats.matched, nodes=stats.nodes)
    if not module.check_mode and stats.matched:
        entry = None
        with redis_errors(params, "flushing the database (%d of %d node(s) flushed before this one)" % (stats.calls, stats.nodes)):
            for name, node in nodes:
                node.flushdb(asynchronous=True)
                stats.calls += 1
                entry = entry or module.evidence.executed("flushdb", keys=stats.matched, nodes=0, flushed=[])
                entry.update(nodes=stats.calls, flushed=entry["flushed"] + [name])
        stats.removed = stats.matched
    return stats.finish()
