#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: rsp_certificate
short_description: Force the renewal of a cert-manager Certificate, as cmctl renew does (seed 003 monthly task 1)
version_added: 0.3.0
description:
  - Seed 003's monthly "SSL certificate renewal" ends with C(kubectl annotate certificate auth-service-tls
    cert-manager.io/force-renew=true). No cert-manager release reads that annotation; the supported way, C(cmctl renew),
    sets the Certificate's C(Issuing) condition (status V(True), reason V(ManuallyTriggered)) through the status
    subresource, and cert-manager issues a new certificate into the Certificate's Secret. This module does exactly that
    write. kubernetes.core.k8s cannot - it writes the main resource, where the API server ignores C(status).
  - With O(state=renewed) the condition is set unless an issuance is already in progress (then nothing changes). With
    O(renew_within_days) only a Certificate expiring within that many days is renewed, which makes "renew if needed"
    idempotent; without it every run triggers an issuance, as C(cmctl renew) does.
  - With O(wait) the module waits, bounded by O(wait_timeout), until cert-manager has issued (C(status.revision) went up,
    C(Issuing) gone, C(Ready) V(True)); a failed or slow issuance is an error that says the renewal was triggered
    (C(partial)).
  - Check mode reads the Certificate and returns the plan; C(--diff) shows the status conditions before and after.
  - Reads no Secret and returns no key material.
options:
  name:
    description: The Certificate; empty - the layout's (V(auth-service-tls) in both layouts).
    type: str
  namespace:
    description: Its namespace; empty - the layout's (V(rust-security)).
    type: str
  state:
    description: V(renewed) - an issuance triggered (or already in progress).
    type: str
    choices: [renewed]
    default: renewed
  renew_within_days:
    description:
      - Only renew when the certificate expires within this many days (or has no C(notAfter) yet). Not set - always.
    type: float
  wait:
    description: Wait until cert-manager has issued the new certificate.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the issuance (1-3600).
    type: int
    default: 120
  wait_interval:
    description: Seconds between two reads while waiting.
    type: float
    default: 1.0
extends_documentation_fragment:
  - sark.ops.k8s_auth
  - sark.ops.rsp
  - sark.ops.attributes
  - sark.ops.attributes.EVIDENCE
attributes:
  check_mode:
    support: full
    details:
      - Reads the Certificate and returns C(planned_actions); writes nothing.
  diff_mode:
    support: full
    details:
      - The Certificate's status conditions before and after.
  idempotent:
    support: partial
    details:
      - With O(renew_within_days) a renewed Certificate is not renewed again; without it every run renews (as C(cmctl renew)),
        except while an issuance is in progress.
requirements:
  - kubernetes.core collection
  - kubernetes (Python library)
seealso:
  - name: cmctl renew
    description: cert-manager's command this module does the write of.
    link: https://cert-manager.io/docs/reference/cmctl/#renew
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Renew auth-service-tls when it expires within 30 days, and wait for the new certificate
  sark.ops.rsp_certificate:
    renew_within_days: 30
  register: renewal

- name: Force a renewal now (cmctl renew -n rust-security auth-service-tls), without waiting
  sark.ops.rsp_certificate:
    name: auth-service-tls
    namespace: rust-security
    wait: false
'''

RETURN = r'''
certificate:
  description: The Certificate before and after.
  returned: success
  type: dict
  contains:
    name: {description: Its name., type: str, sample: auth-service-tls}
    namespace: {description: Its namespace., type: str, sample: rust-security}
    renewed: {description: Whether an issuance was triggered (or would be in check mode)., type: bool}
    reason: {description: Why it was or was not renewed., type: str, sample: "expires in 9.99 days (renew within 30.0)"}
    revision_before: {description: C(status.revision) before., type: int, sample: 1}
    revision: {description: C(status.revision) at the end (after the wait)., type: int, sample: 2}
    not_after_before: {description: C(status.notAfter) before., type: str, sample: "2026-12-11T22:04:49Z"}
    not_after: {description: C(status.notAfter) at the end., type: str, sample: "2027-03-01T22:05:50Z"}
    days_left: {description: Days until C(not_after)., type: float, sample: 89.99}
    ready: {description: The Ready condition at the end., type: bool}
    issuing: {description: Whether an issuance is still in progress at the end., type: bool}
planned_actions:
  description: What the run does (or would do, in check mode).
  returned: when there is something to do
  type: list
  elements: dict
  sample: [{action: set_issuing_condition, certificate: rust-security/auth-service-tls, reason: ManuallyTriggered}]
executed_actions:
  description: What was done.
  returned: when there is something to do
  type: list
  elements: dict
diff:
  description: The status conditions before and after (with C(--diff)).
  returned: when renewed and in diff mode
  type: dict
'''

import time

from ansible_collections.sark.ops.plugins.module_utils._k8s import K8sReader, k8s_auth_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError, SarkValidationError, sark_main, utcnow
from ansible_collections.sark.ops.plugins.module_utils._rsp import layout_of, rsp_argument_spec, rsp_layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils import _rsp_certificates as certs

KIND = "Certificate"
API_VERSION = "cert-manager.io/v1"


def _conditions(crt):
    return [{k: c.get(k) for k in ("type", "status", "reason")} for c in (crt.get("status") or {}).get("conditions") or []]


def _wait_issued(module, reader, namespace, name, revision_before):
    params = module.params
    deadline = time.monotonic() + params["wait_timeout"]
    while True:
        crt = reader.get(KIND, API_VERSION, namespace, name)
        if crt is None:
            raise SarkError("Certificate %s/%s disappeared while waiting for its issuance" % (namespace, name))
        facts = certs.summary(crt, utcnow())
        if (facts["revision"] or 0) > (revision_before or 0) and not facts["issuing"] and facts["ready"]:
            return crt
        if time.monotonic() >= deadline:
            values = (namespace, name, params["wait_timeout"], facts["revision"], facts["ready"], facts["ready_message"],
                      facts["issuing_reason"], facts["issuer"], namespace, name)
            raise SarkError("the renewal of %s/%s was triggered, but cert-manager has not issued within %ss (revision %s, "
                            "Ready %s: %s, Issuing %s): check the issuer %s and its CertificateRequests (cmctl status "
                            "certificate -n %s %s)" % values)
        time.sleep(params["wait_interval"])


def run(module):
    params = module.params
    if not 1 <= params["wait_timeout"] <= 3600:
        raise SarkValidationError("wait_timeout must be 1-3600 seconds, got %d" % params["wait_timeout"])
    if params["wait_interval"] <= 0 or params["wait_interval"] > params["wait_timeout"]:
        raise SarkValidationError("wait_interval must be more than 0 and at most wait_timeout, got %s" % params["wait_interval"])
    if params["renew_within_days"] is not None and params["renew_within_days"] < 0:
        raise SarkValidationError("renew_within_days must be 0 or more, got %s" % params["renew_within_days"])
    layout = layout_of(params)
    name = params["name"] or layout.fact("certificate")
    namespace = params["namespace"] or layout.fact("namespace")
    reader = K8sReader(module)
    crt = reader.get(KIND, API_VERSION, namespace, name)
    if crt is None:
        raise SarkValidationError("Certificate %s/%s not found (kubectl get certificates -n %s): give name and namespace "
                                  "of an existing cert-manager Certificate" % (namespace, name, namespace))
    now = utcnow()
    before = certs.summary(crt, now)
    renew, reason = certs.renewal_plan(crt, now, params["renew_within_days"])
    result = {"changed": renew, "certificate": {
        "name": name, "namespace": namespace, "renewed": renew, "reason": reason,
        "revision_before": before["revision"], "revision": before["revision"],
        "not_after_before": before["not_after"], "not_after": before["not_after"], "days_left": before["days_left"],
        "ready": before["ready"], "issuing": before["issuing"]}}
    if not renew:
        return result
    target = "%s/%s" % (namespace, name)
    module.evidence.plan("set_issuing_condition", certificate=target, reason=certs.RENEW_REASON, why=reason)
    new = certs.with_issuing(crt, now)
    if module.diff_mode:
        result["diff"] = {"before": {"conditions": _conditions(crt)}, "after": {"conditions": _conditions(new)}}
    if module.check_mode:
        return result
    reader.replace_status(KIND, API_VERSION, new)
    module.evidence.executed("set_issuing_condition", certificate=target, reason=certs.RENEW_REASON)
    final = _wait_issued(module, reader, namespace, name, before["revision"]) if params["wait"] else reader.get(KIND, API_VERSION, namespace, name) or new
    after = certs.summary(final, utcnow())
    result["certificate"].update(revision=after["revision"], not_after=after["not_after"], days_left=after["days_left"],
                                 ready=after["ready"], issuing=after["issuing"])
    return result


def main():
    spec = dict(name=dict(type="str"),
                namespace=dict(type="str"),
                state=dict(type="str", choices=["renewed"], default="renewed"),
                renew_within_days=dict(type="float"),
                wait=dict(type="bool", default=True),
                wait_timeout=dict(type="int", default=120),
                wait_interval=dict(type="float", default=1.0))
    sark_main(run, spec, (k8s_auth_argument_spec, rsp_layout_argument_spec, rsp_argument_spec))


if __name__ == "__main__":
    main()
