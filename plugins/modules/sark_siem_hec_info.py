#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
---
module: sark_siem_hec_info
short_description: Test the Splunk HEC token SARK forwards audit events with
version_added: 0.3.0
description:
  - The "Test HEC token manually" step of the SIEM-down incident playbook (seed 002 playbook 5, cause 1), as a real request to
    the HTTP Event Collector - C(GET /services/collector/health), then C(POST /services/collector/event) with
    the header C(Authorization) set to C(Splunk <token>) and an empty body.
  - Splunk checks the token before the body - a valid token is answered 400 "No data" (code 5) and nothing is indexed, a wrong
    one 403 "Invalid token" (code 4) or "Token disabled" (code 1), a missing or malformed header 401 (code 2 or 3). The seed's
    own test sends a test event; this one does not, so it changes nothing in the SIEM either.
  - Reports RV(verdict) - V(ok), V(auth_failed), V(rate_limited), V(unreachable) or V(error). A refused token is a result, not
    a task failure, unless O(fail_on_auth_failure=true). The token is never returned, logged or shown in an error.
options:
  hec_url:
    description:
      - Base URL of the HEC endpoint, for example V(https://splunk.example.com:8088).
      - If not set, the value of the E(SIEM_HEC_URL) environment variable is used.
    type: str
  hec_token:
    description:
      - The HEC token (the C(splunk_hec_token) of the C(sark-siem-secrets) Secret). Never logged or returned.
      - If not set, the value of the E(SIEM_HEC_TOKEN) environment variable is used.
    type: str
  hec_validate_certs:
    description:
      - Validate the endpoint's TLS certificate (the seed's C(curl -k) is V(false)).
      - If not set, the value of the E(SIEM_HEC_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  hec_ca_path:
    description:
      - CA bundle used to validate the endpoint's TLS certificate.
      - If not set, the value of the E(SIEM_HEC_CA_PATH) environment variable is used.
    type: path
  hec_timeout:
    description:
      - Seconds to wait for each HTTP request.
      - If not set, the value of the E(SIEM_HEC_TIMEOUT) environment variable is used.
    type: float
    default: 10.0
  hec_retries:
    description:
      - Retries of a request that could not be sent (the test's answers themselves are never retried).
      - If not set, the value of the E(SIEM_HEC_RETRIES) environment variable is used.
    type: int
    default: 0
  hec_backoff:
    description:
      - First retry delay in seconds.
      - If not set, the value of the E(SIEM_HEC_BACKOFF) environment variable is used.
    type: float
    default: 0.5
  health:
    description: Also read C(GET /services/collector/health) (no token needed) before the token test.
    type: bool
    default: true
  fail_on_auth_failure:
    description: Fail the task when HEC refuses the token (RV(verdict=auth_failed)).
    type: bool
    default: false
extends_documentation_fragment:
  - sark.ops.layout.ACCEPTED
  - sark.ops.attributes
  - sark.ops.attributes.ACTIONGROUP_ALL
  - sark.ops.attributes.INFO_MODULE
notes:
  - The tests use a stand-in that answers with Splunk's documented HEC reply codes; no Splunk runs there.
seealso:
  - module: sark.ops.sark_siem_breaker_info
  - module: sark.ops.sark_siem_queue_info
  - name: Splunk HEC reply codes
    description: The status codes this module reads.
    link: https://docs.splunk.com/Documentation/Splunk/latest/Data/TroubleshootHTTPEventCollector
author:
  - sark.ops maintainers (@sark-ops)
'''

EXAMPLES = r'''
- name: Test the HEC token (seed 002 playbook 5, cause 1)
  sark.ops.sark_siem_hec_info:
    hec_url: https://splunk.example.com:8088
    hec_token: "{{ splunk_hec_token }}"
  register: hec

- name: Say what to do when the token was refused
  ansible.builtin.debug:
    msg: "{{ hec.reason }}"
  when: hec.verdict == 'auth_failed'
'''

RETURN = r'''
verdict:
  description: V(ok) (the token is accepted), V(auth_failed), V(rate_limited) (HTTP 429/503, code 9), V(unreachable) or V(error).
  returned: always
  type: str
  sample: auth_failed
status:
  description: HTTP status of the token test (null when the endpoint did not answer).
  returned: always
  type: int
  sample: 403
code:
  description: HEC's reply C(code) (0 success, 1 token disabled, 2 token required, 3 invalid authorization, 4 invalid token, 5 no data, ...).
  returned: always
  type: int
  sample: 4
text:
  description: HEC's reply C(text).
  returned: always
  type: str
  sample: Invalid token
health:
  description: The health answer - C(status), C(code), C(text) - or null when O(health=false).
  returned: always
  type: dict
  sample: {"status": 200, "code": 17, "text": "HEC is healthy"}
reason:
  description: What the answer means and what to do.
  returned: always
  type: str
  sample: "HEC refused the token: HTTP 403 Invalid token (code 4): replace the token in the SIEM secret, then restart SARK"
msg:
  description: The same as RV(reason).
  returned: always
  type: str
evidence:
  description: The audit record - options asked for (secrets masked), counts, start time and duration.
  returned: always
  type: dict
'''

from ansible_collections.sark.ops.plugins.module_utils._http import HttpClient, http_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._layout import layout_argument_spec
from ansible_collections.sark.ops.plugins.module_utils._module import SarkModule, SarkPreconditionError
from ansible_collections.sark.ops.plugins.module_utils._siem import hec_token_test


def run(module):
    params = module.params
    if not params["hec_token"]:
        raise SarkPreconditionError("hec_token is required (or SIEM_HEC_TOKEN in the environment): the token to test")
    client = HttpClient.from_params(params, "hec", "SIEM_HEC", "Splunk HEC endpoint", token_prefix="Splunk ")
    result = hec_token_test(client, health=params["health"])
    result["msg"] = result["reason"]
    if result["verdict"] == "auth_failed" and params["fail_on_auth_failure"]:
        module._fail(result.pop("msg"), **result)  # pylint: disable=protected-access
    return result


def main():
    spec = http_argument_spec("hec", "SIEM_HEC", timeout=10.0, retries=0)
    spec.update(
        health=dict(type="bool", default=True),
        fail_on_auth_failure=dict(type="bool", default=False),
    )
    spec.update(layout_argument_spec())
    SarkModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
