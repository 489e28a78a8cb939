# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK HTTP API client for sark.ops modules (private): one argument spec, one client.

The HTTP machinery lives in _http.HttpClient; this is its SARK flavour.

Bearer token auth, certificate validation, timeouts, retries with backoff on 429/5xx
(honouring Retry-After), same-origin redirects followed with method and body kept (SARK 2.x
answers 307 to add a trailing slash), and the CSRF double-submit header + cookie on writes.
"""

import secrets
import time

from ansible_collections.sark.ops.plugins.module_utils._http import WRITE_METHODS, HttpClient, http_argument_spec


def api_argument_spec():
    return http_argument_spec("api", "SARK_API")


class SarkApiClient(HttpClient):
    """HttpClient bound to one SARK base URL, with the CSRF double-submit pair on writes."""

    def __init__(self, params, csrf_token=None, sleep=time.sleep):
        super().__init__(params.get("api_url"), token=params.get("api_token"),
                         validate_certs=params.get("api_validate_certs", True), ca_path=params.get("api_ca_path"),
                         timeout=params.get("api_timeout"), retries=params.get("api_retries"),
                         backoff=params.get("api_backoff"), service="SARK API", option_prefix="api",
                         env_prefix="SARK_API", sleep=sleep)
        # Double-submit CSRF: the same random value as header and cookie (SARK 2.x requires it on writes).
        self.csrf_token = csrf_token or secrets.token_urlsafe(32)

    def running_hint(self):
        return "SARK is running."

    def _headers(self, method, body_type, extra):
        headers = super()._headers(method, body_type, None)
        if method in WRITE_METHODS:
            headers["X-CSRF-Token"] = self.csrf_token
            headers["Cookie"] = "csrf_token=%s" % self.csrf_token
        headers.update(extra or {})
        return headers

    def status_hint(self, status):
        if status == 403:
            return "the token lacks permission (admin needed?) or the CSRF check failed"
        if status == 404:
            return "no such resource or route (is the layout option right for this deployment?)"
        if status == 405:
            return "this deployment does not allow that method here (is the layout option right?)"
        return super().status_hint(status)
