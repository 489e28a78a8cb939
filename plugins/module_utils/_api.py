# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SARK HTTP API client for sark.ops modules (private): one argument spec, one client.

Bearer token auth, certificate validation, timeouts, retries with backoff on 429/5xx
(honouring Retry-After), same-origin redirects followed with method and body kept (SARK 2.x
answers 307 to add a trailing slash), and the CSRF double-submit header + cookie on writes.
"""

import json
import secrets
import socket
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urljoin, urlsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import Request, SSLValidationError

from ansible_collections.sark.ops.plugins.module_utils._module import (
    SarkAPIError,
    SarkConnectionError,
    SarkValidationError,
)

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0
USER_AGENT = "sark.ops"


def api_argument_spec():
    return dict(
        api_url=dict(type="str", fallback=(env_fallback, ["SARK_API_URL"])),
        api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["SARK_API_TOKEN"])),
        api_validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["SARK_API_VALIDATE_CERTS"])),
        api_ca_path=dict(type="path", fallback=(env_fallback, ["SARK_API_CA_PATH"])),
        api_timeout=dict(type="float", default=30.0, fallback=(env_fallback, ["SARK_API_TIMEOUT"])),
        api_retries=dict(type="int", default=3, fallback=(env_fallback, ["SARK_API_RETRIES"])),
        api_backoff=dict(type="float", default=0.5, fallback=(env_fallback, ["SARK_API_BACKOFF"])),
    )


class Response:
    def __init__(self, status, headers, body, url, attempts, elapsed_ms, redirects):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.attempts = attempts
        self.elapsed_ms = elapsed_ms
        self.redirects = redirects

    def json(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SarkAPIError("%s answered %s with a body that is not JSON: %s"
                               % (self.url, self.status, self.body[:200]), status=self.status) from exc

    def header(self, name):
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def _error_detail(body):
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return (body or "").strip()[:300]
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "msg"):
            if data.get(key):
                detail = data[key]
                return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    return json.dumps(data)[:300]


class SarkApiClient:
    """A small, careful HTTP client bound to one SARK base URL."""

    def __init__(self, params, csrf_token=None, sleep=time.sleep):
        url = params.get("api_url")
        if not url:
            raise SarkValidationError("api_url is required: set it (or SARK_API_URL) to the SARK base URL, "
                                      "e.g. https://sark.example.com")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SarkValidationError("api_url %r is not an http(s) URL" % url)
        for key in ("api_retries",):
            if params.get(key) is not None and params[key] < 0:
                raise SarkValidationError("%s must be 0 or more, got %s" % (key, params[key]))
        if params.get("api_timeout") is not None and params["api_timeout"] <= 0:
            raise SarkValidationError("api_timeout must be a positive number of seconds")
        self.base_url = url.rstrip("/")
        self.origin = (parts.scheme, parts.netloc)
        self.token = params.get("api_token")
        self.timeout = params.get("api_timeout") or 30.0
        self.retries = params.get("api_retries") if params.get("api_retries") is not None else 3
        self.backoff = params.get("api_backoff") if params.get("api_backoff") is not None else 0.5
        self.validate_certs = params.get("api_validate_certs", True)
        self.ca_path = params.get("api_ca_path")
        # Double-submit CSRF: the same random value as header and cookie (SARK 2.x requires it on writes).
        self.csrf_token = csrf_token or secrets.token_urlsafe(32)
        self._sleep = sleep
        self.request_log = []

    def url_for(self, path, query=None):
        url = path if path.startswith(("http://", "https://")) else self.base_url + "/" + path.lstrip("/")
        if query:
            clean = [(k, v) for k, v in query.items() if v is not None] if isinstance(query, dict) else query
            if clean:
                url += ("&" if "?" in url else "?") + urlencode(clean, doseq=True)
        return url

    def _headers(self, method, body_type, extra):
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = "Bearer %s" % self.token
        if body_type:
            headers["Content-Type"] = body_type
        if method in WRITE_METHODS:
            headers["X-CSRF-Token"] = self.csrf_token
            headers["Cookie"] = "csrf_token=%s" % self.csrf_token
        headers.update(extra or {})
        return headers

    def _open_once(self, method, url, data, headers):
        request = Request(follow_redirects="none", validate_certs=self.validate_certs, ca_path=self.ca_path,
                          timeout=self.timeout, use_proxy=True)
        try:
            resp = request.open(method, url, data=data, headers=headers)
            return resp.getcode(), dict(resp.headers.items()), resp.read().decode("utf-8", errors="replace")
        except HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace") if exc.fp else ""
            return exc.code, dict(exc.headers.items()) if exc.headers else {}, body
        except SSLValidationError as exc:
            raise SarkConnectionError("TLS certificate of %s could not be validated: %s. Set api_ca_path to the CA "
                                      "bundle (or api_validate_certs: false for a lab)." % (url, exc), kind="tls") from exc
        except (URLError, socket.timeout, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            kind = "timeout" if "timed out" in str(reason).lower() else "unreachable"
            raise SarkConnectionError("Cannot reach the SARK API at %s: %s. Check api_url (or SARK_API_URL) and that "
                                      "SARK is running." % (url, reason), kind=kind) from exc

    def _same_origin(self, url):
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == self.origin

    def _retry_delay(self, attempt, headers):
        retry_after = None
        for key, value in headers.items():
            if key.lower() == "retry-after":
                try:
                    retry_after = float(value)
                except (TypeError, ValueError):
                    retry_after = None
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        return self.backoff * (2 ** attempt)

    def request(self, method, path, query=None, json_body=None, text_body=None, headers=None, expect=None,
                retry_on=RETRY_STATUSES):
        """Send a request; returns a Response. Raises SarkAPIError for an unexpected status.

        expect: a status or a tuple of statuses that count as success (default: any 2xx).
        retry_on: statuses retried with backoff (a health probe's 503 with a body is an answer, not a hiccup).
        """
        method = method.upper()
        url = self.url_for(path, query)
        body_type = None
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            body_type = "application/json"
        elif text_body is not None:
            data = text_body.encode("utf-8") if isinstance(text_body, str) else text_body
            body_type = "text/plain"
        req_headers = self._headers(method, body_type, headers)
        started = time.monotonic()
        attempt = 0
        redirects = []
        while True:
            status, resp_headers, body = self._open_once(method, url, data, req_headers)
            if status in REDIRECT_STATUSES:
                location = resp_headers.get("Location") or resp_headers.get("location")
                if not location or len(redirects) >= MAX_REDIRECTS:
                    raise SarkAPIError("%s %s: too many or empty redirects (%s)" % (method, url, redirects), status=status)
                target = urljoin(url, location)
                if not self._same_origin(target):
                    raise SarkAPIError("%s %s redirected to another origin (%s); refusing to send the token there. "
                                       "Point api_url at the final address." % (method, url, target), status=status)
                redirects.append({"status": status, "from": url, "to": target})
                if status == 303 or (status in (301, 302) and method != "HEAD"):
                    # the classic browser behaviour: these turn a write into a GET
                    if method in WRITE_METHODS:
                        raise SarkAPIError("%s %s answered %s to %s, which would drop the request body; use the "
                                           "final URL instead" % (method, url, status, target), status=status)
                url = target
                continue
            self.request_log.append({"method": method, "url": url, "status": status})
            if status in retry_on and attempt < self.retries:
                delay = self._retry_delay(attempt, resp_headers)
                attempt += 1
                self._sleep(delay)
                continue
            break
        response = Response(status, resp_headers, body, url, attempt + 1,
                            round((time.monotonic() - started) * 1000.0, 3), redirects)
        ok = (status in expect) if isinstance(expect, (tuple, list, set)) else (
            status == expect if expect is not None else 200 <= status < 300)
        if not ok:
            raise self.error_for(method, url, response)
        return response

    def error_for(self, method, url, response):
        detail = _error_detail(response.body)
        status = response.status
        if status == 401:
            hint = "the token was rejected (expired or invalid?): get a new token and set api_token (or SARK_API_TOKEN)"
        elif status == 403:
            hint = "the token lacks permission (admin needed?) or the CSRF check failed"
        elif status == 404:
            hint = "no such resource or route (is the layout option right for this deployment?)"
        elif status == 405:
            hint = "this deployment does not allow that method here (is the layout option right?)"
        elif status == 429:
            hint = "rate limited and still limited after %d retries" % self.retries
        elif status >= 500:
            hint = "the server failed and still failed after %d retries" % self.retries
        else:
            hint = "the request was refused"
        return SarkAPIError("SARK API %s %s answered HTTP %s: %s (%s)" % (method, url, status, detail, hint),
                            status=status, body=response.body[:2000], attempts=response.attempts)

    def get_json(self, path, query=None, expect=None):
        return self.request("GET", path, query=query, expect=expect).json()
