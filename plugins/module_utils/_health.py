# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judging SARK health bodies of both shapes (private, pure functions)."""

HEALTHY_WORDS = ("healthy", "ok", "up", "pass", "passing", "alive", "ready", "true")
# SARK could not judge the component (e.g. no OPA configured): worth a warning, not an outage
UNKNOWN_WORDS = ("unknown", "not_configured", "n/a", "")
DEGRADED_WORDS = ("degraded", "warn", "warning")


def _status_word(value):
    if isinstance(value, bool):
        return "healthy" if value else "unhealthy"
    if value is None:
        return "unknown"
    if isinstance(value, dict):
        if "healthy" in value:
            return "healthy" if value.get("healthy") else "unhealthy"
        return str(value.get("status", "unknown")).lower()
    return str(value).lower()


def judge_components(body):
    """Return (shape, {name: component}) for a /health/detailed body of either shape."""
    components = {}
    if isinstance(body.get("dependencies"), dict):
        shape = "dependencies"
        for name, dep in body["dependencies"].items():
            dep = dep if isinstance(dep, dict) else {"healthy": bool(dep)}
            word = _status_word(dep)
            components[name] = {"status": word, "healthy": word in HEALTHY_WORDS,
                                "latency_ms": dep.get("latency_ms"), "error": dep.get("error")}
    elif isinstance(body.get("components"), dict):
        shape = "components"
        for name, value in body["components"].items():
            word = _status_word(value)
            error = value.get("error") if isinstance(value, dict) else None
            latency = value.get("latency_ms") if isinstance(value, dict) else None
            components[name] = {"status": word, "healthy": word in HEALTHY_WORDS, "latency_ms": latency, "error": error}
    else:
        shape = "unknown"
    return shape, components


def evaluate_health(probes, ignore=frozenset()):
    """Turn probe results into a verdict. probes: {detailed|live|ready: probe dict}."""
    result = {"is_available": False, "verdict": "unavailable", "unhealthy_components": [], "unknown_components": [],
              "components": {}}
    detailed = probes.get("detailed") or {}
    if not detailed or detailed.get("skipped"):
        result["error"] = "the detailed probe was not requested"
        return result
    if not detailed.get("ok"):
        result["error"] = detailed.get("error") or "no answer"
        return result
    body = detailed["body"]
    shape, components = judge_components(body)
    if shape == "unknown":
        result["error"] = "unrecognised /health/detailed body: neither 'components' nor 'dependencies' is a mapping"
        return result
    for name, comp in components.items():
        comp["ignored"] = name in ignore
    for comp in components.values():
        if comp["status"] in UNKNOWN_WORDS:
            comp["healthy"] = None
    unhealthy = sorted(name for name, comp in components.items() if comp["healthy"] is False)
    unknown = sorted(name for name, comp in components.items() if comp["healthy"] is None)
    counted = [name for name in unhealthy if name not in ignore]
    verdict = "unhealthy" if counted else ("degraded" if unhealthy or unknown else "healthy")

    ready = probes.get("ready") or {}
    if ready.get("ok") and isinstance(ready.get("body"), dict):
        not_ready = sorted(name for name, value in ready["body"].items()
                           if name != "ready" and isinstance(value, bool) and not value and name not in ignore)
        result["ready"] = not not_ready
        result["not_ready"] = not_ready
        if not_ready and verdict == "healthy":
            verdict = "degraded"
    elif ready and not ready.get("skipped"):
        result["ready"] = False
        verdict = "unhealthy"
    live = probes.get("live") or {}
    if live and not live.get("skipped"):
        result["live"] = bool(live.get("ok"))
        if not live.get("ok"):
            verdict = "unhealthy"

    result.update(
        is_available=True,
        verdict=verdict,
        shape=shape,
        reported_status=body.get("status"),
        version=body.get("version"),
        components=components,
        unhealthy_components=unhealthy,
        unknown_components=unknown,
    )
    if "overall_healthy" in body:
        result["reported_overall_healthy"] = body["overall_healthy"]
    if isinstance(body.get("metrics"), dict):
        result["metrics"] = body["metrics"]
    return result
