# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed 003's monthly RBAC review (``kubectl auth can-i --list --as=system:serviceaccount:rust-security:auth-service``):
the rules a SelfSubjectRulesReview returns judged against the permissions the subject is expected to have, and
SelfSubjectAccessReviews of what it must not be able to do. No AnsibleModule here: the filter rsp_rbac_check uses it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
ORDER = {OK: 0, WARNING: 1, CRITICAL: 2}
# What every authenticated subject has on any cluster (bootstrap ClusterRole system:basic-user): never a finding.
BASELINE = ({"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
             "verbs": ["create"]},)
# Resources whose unexpected grant is CRITICAL: credentials, code execution, and the power to grant more.
SENSITIVE = {"secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token", "roles", "rolebindings",
             "clusterroles", "clusterrolebindings", "certificatesigningrequests", "nodes/proxy"}
ESCALATING_VERBS = {"escalate", "bind", "impersonate"}


def _list(rule, key, where):
    value = rule.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SarkValidationError("%s: %s must be a list of strings, got %r" % (where, key, value))
    return value


def _tuples(rule, where):
    verbs, groups, resources = _list(rule, "verbs", where), _list(rule, "apiGroups", where), _list(rule, "resources", where)
    if not verbs or not resources:
        raise SarkValidationError("%s: a rule needs verbs and resources, got %r" % (where, rule))
    names = tuple(sorted(_list(rule, "resourceNames", where)))
    return [(g, r, v, names) for g in (groups or [""]) for r in resources for v in verbs]


def _covers(allowed, wanted):
    group, resource, verb, names = allowed
    w_group, w_resource, w_verb, w_names = wanted
    return (group in ("*", w_group) and resource in ("*", w_resource) and verb in ("*", w_verb)
            and (not names or (w_names and set(w_names) <= set(names))))


def _text(t):
    group, resource, verb, names = t
    return "%s %s%s%s" % (verb, resource, "." + group if group not in ("", None) else "", " (%s)" % ",".join(names) if names else "")


def check(resource_rules, expected, access=None, incomplete=False):  # pylint: disable=too-many-locals,too-many-branches
    """The verdict of one subject's review.

    resource_rules: status.resourceRules of a SelfSubjectRulesReview; expected: rules of the same shape the subject
    may have; access: [{attributes, allowed, reason}] - SelfSubjectAccessReviews of what it must not do.
    Findings: a granted permission no expected rule covers (too broad: CRITICAL for a wildcard, a sensitive resource or
    an escalating verb, else WARNING); an expected permission (without a wildcard) not granted (WARNING: the service
    may fail); an
    allowed must-not access (CRITICAL); an incomplete review (WARNING)."""
    if not isinstance(resource_rules, list) or not isinstance(expected, list):
        raise SarkValidationError("resource_rules and expected must be lists of rules (apiGroups, resources, verbs)")
    wanted = [t for i, rule in enumerate(expected) for t in _tuples(rule, "expected[%d]" % i)]
    accepted = wanted + [t for rule in BASELINE for t in _tuples(rule, "baseline")]
    granted = [t for i, rule in enumerate(resource_rules) for t in _tuples(rule, "resourceRules[%d]" % i)]
    findings = []
    seen = set()
    for t in granted:
        if t in seen or any(_covers(a, t) for a in accepted):
            continue
        seen.add(t)
        group, resource, verb, names = t
        wildcard = "*" in (group, resource, verb)
        if wildcard or resource in SENSITIVE or verb in ESCALATING_VERBS:
            severity = CRITICAL
        else:
            severity = WARNING
        findings.append({"severity": severity, "kind": "too_broad", "permission": _text(t),
                         "message": "can %s, which is not expected%s" % (_text(t), " (a wildcard)" if wildcard else "")})
    for t in wanted:
        # an expectation with a wildcard says what may be granted, not what must be
        if "*" not in t[:3] and not any(_covers(g, t) for g in granted):
            findings.append({"severity": WARNING, "kind": "missing", "permission": _text(t),
                             "message": "cannot %s, which is expected" % _text(t)})
    for i, entry in enumerate(access or []):
        if not isinstance(entry, dict) or "allowed" not in entry:
            raise SarkValidationError("access[%d] must be {attributes, allowed[, reason]}, got %r" % (i, entry))
        if entry["allowed"]:
            attrs = entry.get("attributes") or {}
            what = "%s %s%s" % (attrs.get("verb"), attrs.get("resource"), "/" + attrs["subresource"] if attrs.get("subresource") else "")
            findings.append({"severity": CRITICAL, "kind": "must_not", "permission": what,
                             "message": "can %s, which it must not (%s)" % (what, entry.get("reason") or "allowed")})
    if incomplete:
        findings.append({"severity": WARNING, "kind": "incomplete", "permission": "",
                         "message": "the rules review is incomplete (an authorizer could not list its rules)"})
    findings.sort(key=lambda f: (-ORDER[f["severity"]], f["kind"], f["permission"]))
    counts = {OK: 0, WARNING: 0, CRITICAL: 0}
    for finding in findings:
        counts[finding["severity"]] += 1
    verdict = max((f["severity"] for f in findings), key=ORDER.get, default=OK)
    return {"verdict": verdict, "findings": findings, "counts": counts}
