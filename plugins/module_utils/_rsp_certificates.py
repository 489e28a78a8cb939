# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed 003's monthly certificate renewal: what a cert-manager.io/v1 Certificate's status says, whether it needs a
renewal, the renewal itself (what ``cmctl renew`` writes), and the verdict over Certificates and the certificates
servers present in a TLS handshake. No AnsibleModule here: rsp_certificate and the filter rsp_certificate_check use it.

``kubectl annotate certificate auth-service-tls cert-manager.io/force-renew=true`` (the runbook's step) is not a
cert-manager interface: no cert-manager release reads that annotation. ``cmctl renew`` sets the Certificate's
``Issuing`` condition (True, ``ManuallyTriggered``) through the status subresource, and cert-manager issues."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
ORDER = {OK: 0, WARNING: 1, CRITICAL: 2}
RENEW_REASON = "ManuallyTriggered"
RENEW_MESSAGE = "Certificate re-issuance manually triggered"


def parse_time(value, what="time"):
    """An RFC 3339 time (cert-manager's ``2026-12-11T22:04:49Z``, get_certificate's ``20261211220449Z``), aware UTC."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if not isinstance(value, str) or not value:
        raise SarkValidationError("%s must be a time, got %r" % (what, value))
    text = value.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SarkValidationError("%s %r is not an RFC 3339 time" % (what, value)) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(obj, ctype):
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def days_between(later, earlier):
    return round((later - earlier).total_seconds() / 86400.0, 2)


def summary(crt, now):
    """The facts of one Certificate an operator reads in ``kubectl get certificate`` and ``cmctl status``."""
    meta = crt.get("metadata") or {}
    status = crt.get("status") or {}
    ready = condition(crt, "Ready") or {}
    issuing = condition(crt, "Issuing") or {}
    result = {
        "name": meta.get("name"), "namespace": meta.get("namespace"),
        "secret_name": (crt.get("spec") or {}).get("secretName"),
        "issuer": ((crt.get("spec") or {}).get("issuerRef") or {}).get("name"),
        "ready": ready.get("status") == "True", "ready_reason": ready.get("reason"), "ready_message": ready.get("message"),
        "issuing": issuing.get("status") == "True", "issuing_reason": issuing.get("reason"),
        "revision": status.get("revision"), "not_before": status.get("notBefore"), "not_after": status.get("notAfter"),
        "renewal_time": status.get("renewalTime"), "days_left": None,
    }
    if status.get("notAfter"):
        result["days_left"] = days_between(parse_time(status["notAfter"], "status.notAfter"), now)
    return result


def check_thresholds(warn_days, critical_days):
    for name, value in (("warn_days", warn_days), ("critical_days", critical_days)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SarkValidationError("%s must be a number of days (0 or more), got %r" % (name, value))
    if critical_days > warn_days:
        raise SarkValidationError("critical_days (%s) must not be more than warn_days (%s)" % (critical_days, warn_days))


def renewal_plan(crt, now, within_days=None):
    """(renew: bool, why) for one Certificate: an issuance in progress is never triggered twice; without
    within_days every other Certificate renews (as ``cmctl renew`` does), with it only one expiring within that
    many days or with no expiry known."""
    facts = summary(crt, now)
    if facts["issuing"]:
        return False, "an issuance is already in progress (Issuing: %s)" % facts["issuing_reason"]
    if within_days is None:
        return True, "renewal asked for"
    if facts["days_left"] is None:
        return True, "the Certificate has no notAfter yet"
    if facts["days_left"] <= within_days:
        return True, "expires in %s days (renew within %s)" % (facts["days_left"], within_days)
    return False, "expires in %s days, later than %s days" % (facts["days_left"], within_days)


def with_issuing(crt, now):
    """The Certificate with the condition ``cmctl renew`` sets (SetCertificateCondition, then UpdateStatus)."""
    new = copy.deepcopy(crt)
    status = new.setdefault("status", {}) or {}
    new["status"] = status
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Issuing"]
    conditions.append({"type": "Issuing", "status": "True", "reason": RENEW_REASON, "message": RENEW_MESSAGE,
                       "lastTransitionTime": iso(now), "observedGeneration": (crt.get("metadata") or {}).get("generation", 1)})
    status["conditions"] = conditions
    return new


def _served_for(served, name):
    return [s for s in served if s.get("certificate") == name]


def check(certificates, served=None, now=None, warn_days=30, critical_days=7):
    """The verdict over Certificates (k8s_info resources) and served certificates ({certificate, endpoint,
    not_after[, error]} - the handshake's result for the endpoint serving that Certificate's Secret).

    Per Certificate: CRITICAL when not Ready, expired or within critical_days, WARNING within warn_days or while an
    issuance is pending; a served certificate judged by its own expiry, and WARNING when it expires before the
    Certificate's (the server still presents an older certificate: it has not reloaded the Secret)."""
    check_thresholds(warn_days, critical_days)
    now = parse_time(now, "now") if now is not None else datetime.datetime.now(datetime.timezone.utc)
    served = list(served or [])
    if not isinstance(certificates, list):
        raise SarkValidationError("certificates must be a list of Certificate objects (k8s_info resources)")
    items = []
    names = set()
    for crt in certificates:
        if not isinstance(crt, dict) or not (crt.get("metadata") or {}).get("name"):
            raise SarkValidationError("every certificate must be a Certificate object with metadata.name")
        facts = summary(crt, now)
        names.add(facts["name"])
        reasons, verdict = [], OK
        if not facts["ready"]:
            verdict = CRITICAL
            reasons.append("not Ready (%s: %s)" % (facts["ready_reason"], facts["ready_message"]))
        days = facts["days_left"]
        if days is not None:
            if days <= 0:
                verdict = CRITICAL
                reasons.append("expired %s days ago" % -days)
            elif days <= critical_days:
                verdict = CRITICAL
                reasons.append("expires in %s days (critical within %s)" % (days, critical_days))
            elif days <= warn_days:
                verdict = max(verdict, WARNING, key=ORDER.get)
                reasons.append("expires in %s days (warning within %s)" % (days, warn_days))
        if facts["issuing"]:
            verdict = max(verdict, WARNING, key=ORDER.get)
            reasons.append("issuance pending (%s)" % facts["issuing_reason"])
        facts["served"] = []
        for entry in _served_for(served, facts["name"]):
            seen = _judge_served(entry, facts, now, warn_days, critical_days)
            facts["served"].append(seen)
            if ORDER[seen["verdict"]] > ORDER[verdict]:
                verdict = seen["verdict"]
            reasons.extend("%s: %s" % (seen["endpoint"], r) for r in seen["reasons"])
        facts.update(verdict=verdict, reasons=reasons)
        items.append(facts)
    unknown = sorted({s.get("certificate") for s in served} - names, key=str)
    if unknown:
        raise SarkValidationError("served certificates name Certificates that were not read: %s" % ", ".join(map(str, unknown)))
    items.sort(key=lambda i: (-ORDER[i["verdict"]], i["name"]))
    counts = {OK: 0, WARNING: 0, CRITICAL: 0}
    for item in items:
        counts[item["verdict"]] += 1
    overall = max((i["verdict"] for i in items), key=ORDER.get, default=OK)
    return {"verdict": overall, "counts": counts, "certificates": items,
            "renew": [i["name"] for i in items if i["verdict"] != OK and i["ready"] and not i["issuing"]
                      and i["days_left"] is not None and i["days_left"] <= warn_days]}


def _judge_served(entry, facts, now, warn_days, critical_days):
    endpoint = entry.get("endpoint") or "?"
    seen = {"endpoint": endpoint, "not_after": None, "days_left": None, "verdict": OK, "reasons": []}
    if entry.get("error"):
        seen.update(verdict=CRITICAL, reasons=["no TLS handshake: %s" % entry["error"]])
        return seen
    not_after = parse_time(entry.get("not_after"), "the served certificate's not_after (%s)" % endpoint)
    seen["not_after"] = iso(not_after)
    seen["days_left"] = days = days_between(not_after, now)
    if days <= 0:
        seen["verdict"] = CRITICAL
        seen["reasons"].append("serves a certificate that expired %s days ago" % -days)
    elif days <= critical_days:
        seen["verdict"] = CRITICAL
        seen["reasons"].append("serves a certificate that expires in %s days" % days)
    elif days <= warn_days:
        seen["verdict"] = WARNING
        seen["reasons"].append("serves a certificate that expires in %s days" % days)
    if facts["not_after"] and not_after < parse_time(facts["not_after"]):
        seen["verdict"] = max(seen["verdict"], WARNING, key=ORDER.get)
        seen["reasons"].append("serves an older certificate (notAfter %s) than the Secret holds (%s): reload or restart "
                               "the server" % (seen["not_after"], facts["not_after"]))
    return seen
