# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generic HTTP machinery for sark.ops modules (private).

One careful client for every HTTP service the collection talks to (SARK, OPA, Prometheus,
Alertmanager, webhooks): optional token header, certificate validation, timeouts, retries with
backoff on 429/5xx (honouring Retry-After), same-origin redirects followed with method and body
kept, and error messages that name the option (and environment variable) to fix.

A connection family is described by an option prefix (``opa`` -> ``opa_url``, ``opa_token``, ...)
and an environment prefix (``OPA`` -> ``OPA_URL``, ``OPA_TOKEN``, ...); see http_argument_spec().
"""

import base64
import http.client
import json
import re
import socket
import ssl
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, quote_plus, urlencode, urljoin, urlsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.warnings import warn
from ansible.module_utils.urls import Request, SSLValidationError, make_context

from ansible_collections.sark.ops.plugins.module_utils._module import (
    MASK,
    SarkAPIError,
    SarkConnectionError,
    SarkError,
    SarkValidationError,
)

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0
USER_AGENT = "sark.ops"
MAX_BODY_BYTES = 16 * 1024 * 1024
# what can never travel in an HTTP header value or a URL: CR/LF (header injection), other control characters
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MIN_SECRET_LEN = 4


def secret_forms(value):
    """The shapes a secret can take in a message: as given, stripped, escaped (repr/JSON), URL- and base64-encoded."""
    forms = set()
    for text in (value, value.strip()):
        if len(text) < MIN_SECRET_LEN:
            continue
        raw = text.encode("utf-8", errors="replace")
        forms.update({text, repr(text)[1:-1], json.dumps(text)[1:-1], repr(raw)[2:-1], quote(text, safe=""), quote_plus(text),
                      quote(text), base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii"),
                      base64.b64encode(raw).decode("ascii").rstrip("=")})
    return {form for form in forms if len(form) >= MIN_SECRET_LEN}


def scrub_text(text, secrets):
    """text with every form of every secret replaced by the mask (longest first, so no fragment survives)."""
    if not text or not secrets or not isinstance(text, str):
        return text
    for form in sorted(secrets, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


_WARNED = set()


def warn_once(msg):
    """Warn about a value we repaired; a module that builds two clients from one option warns once."""
    if msg not in _WARNED:
        _WARNED.add(msg)
        warn(msg)


def clean_header_value(value, option, what="value"):
    """A value bound for an HTTP header: surrounding whitespace removed with a warning, anything else unsendable refused.

    Messages name the option, never the value (it is usually a secret).
    """
    if value is None:
        return None
    value = str(value)
    stripped = value.strip()
    if stripped != value:
        warn_once("%s has leading or trailing whitespace (a trailing newline or spaces, typical of a secret read from a file): "
                  "it was removed before sending. Fix the stored %s." % (option, what))
        value = stripped
    if CONTROL_CHARS.search(value):
        raise SarkValidationError("%s contains a line break or another control character inside it, which cannot be sent in "
                                  "an HTTP header (the value is not shown). Fix the stored %s." % (option, what))
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        raise SarkValidationError("%s contains characters outside ASCII, which an HTTP header cannot carry (the value is not "
                                  "shown). Fix the stored %s." % (option, what)) from None
    return value


def http_argument_spec(prefix, env_prefix, token=True, url_no_log=False, timeout=30.0, retries=3, backoff=0.5):
    """Connection options ``<prefix>_url``, ``<prefix>_token``, ... with ``<ENV_PREFIX>_*`` fallbacks."""
    spec = {
        prefix + "_url": dict(type="str", no_log=url_no_log, fallback=(env_fallback, [env_prefix + "_URL"])),
        prefix + "_validate_certs": dict(type="bool", default=True, fallback=(env_fallback, [env_prefix + "_VALIDATE_CERTS"])),
        prefix + "_ca_path": dict(type="path", fallback=(env_fallback, [env_prefix + "_CA_PATH"])),
        prefix + "_timeout": dict(type="float", default=timeout, fallback=(env_fallback, [env_prefix + "_TIMEOUT"])),
        prefix + "_retries": dict(type="int", default=retries, fallback=(env_fallback, [env_prefix + "_RETRIES"])),
        prefix + "_backoff": dict(type="float", default=backoff, fallback=(env_fallback, [env_prefix + "_BACKOFF"])),
    }
    if token:
        spec[prefix + "_token"] = dict(type="str", no_log=True, fallback=(env_fallback, [env_prefix + "_TOKEN"]))
    return spec


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


def error_detail(body):
    """The human part of an error body: FastAPI's detail, OPA's/Alertmanager's message, or the text."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return (body or "").strip()[:300]
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "msg"):
            if data.get(key):
                detail = data[key]
                return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    if isinstance(data, str):
        return data[:300]
    return json.dumps(data)[:300]


class HttpClient:
    """A small, careful HTTP client bound to one base URL.

    service: how messages name the server ("OPA", "Alertmanager", ...).
    option_prefix/env_prefix: how messages name the options to fix (``opa_url`` / ``OPA_URL``).
    token_header/token_prefix: where the token goes (``Authorization: Bearer <token>`` by default).
    """

    def __init__(self, base_url, token=None, validate_certs=True, ca_path=None, timeout=30.0, retries=3, backoff=0.5,
                 service="HTTP API", option_prefix="url", env_prefix=None, token_header="Authorization",
                 token_prefix="Bearer ", sleep=time.sleep, url_is_secret=False):
        self.service = service
        self.option_prefix = option_prefix
        self.env_prefix = env_prefix
        self.url_is_secret = url_is_secret
        self.token_header = token_header
        self.token_prefix = token_prefix
        self.secrets = set()
        url_option = self.option_name("url")
        if not base_url:
            raise SarkValidationError("%s is required: set it%s to the %s base URL"
                                      % (url_option, self._env_hint("URL"), service))
        if url_is_secret:
            self.add_secret(base_url)
        base_url = self._clean_url(base_url, url_option)
        parts = urlsplit(base_url)
        if parts.password:
            # credentials in the URL: show only the origin without them, and never the password
            self.add_secret(parts.password)
            self.url_is_secret = url_is_secret = True
        if url_is_secret:
            self.add_secret(base_url)
            tail = base_url[len("%s://%s" % (parts.scheme, parts.netloc)):]
            if len(tail.strip("/")) >= 8:
                self.add_secret(tail)
            for piece in (parts.path.strip("/"), parts.query):
                if len(piece) >= 8:
                    self.add_secret(piece)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            shown = base_url if not url_is_secret else "(hidden)"
            raise SarkValidationError("%s %r is not an http(s) URL" % (url_option, shown))
        if retries is not None and retries < 0:
            raise SarkValidationError("%s must be 0 or more, got %s" % (self.option_name("retries"), retries))
        if timeout is not None and timeout <= 0:
            raise SarkValidationError("%s must be a positive number of seconds" % self.option_name("timeout"))
        self.base_url = base_url.rstrip("/")
        self.origin = (parts.scheme, parts.netloc)
        if token is not None and token != "":
            self.add_secret(token)
            token = clean_header_value(token, self.option_name("token"), "token")
            self.add_secret(token)
        self.token = token
        self.timeout = timeout or 30.0
        self.retries = retries if retries is not None else 3
        self.backoff = backoff if backoff is not None else 0.5
        self.validate_certs = validate_certs if validate_certs is not None else True
        self.ca_path = ca_path
        self._sleep = sleep
        self.request_log = []
        self._context = None
        # keep_alive: one persistent connection per thread (bulk work such as a CSV import). Off by default:
        # the urllib path honours proxy settings, a kept-alive connection goes straight to the origin.
        self.keep_alive = False
        self._local = threading.local()

    @property
    def ssl_context(self):
        """One TLS context per client. Request() would otherwise build one per request and re-read the whole
        system CA bundle each time (about 95 ms of CPU), which dominated bulk imports."""
        if self._context is None:
            self._context = make_context(cafile=self.ca_path, validate_certs=self.validate_certs)
        return self._context

    def add_secret(self, value):
        """A value that must never appear in a message, a result or a file this client produces."""
        if value:
            self.secrets.update(secret_forms(str(value)))
            if self.token_prefix and len(str(value).strip()) >= MIN_SECRET_LEN:
                self.secrets.update(secret_forms("%s%s" % (self.token_prefix, str(value).strip())))

    def scrub(self, text):
        return scrub_text(text, self.secrets)

    def _scrubbed(self, exc):
        """The same SarkError with every secret form masked in its message and details."""
        exc.msg = self.scrub(exc.msg)
        exc.args = (exc.msg,)
        for key, value in list(exc.details.items()):
            if isinstance(value, str):
                exc.details[key] = self.scrub(value)
        if isinstance(getattr(exc, "body", None), str):
            exc.body = self.scrub(exc.body)
        return exc

    def _clean_url(self, url, option):
        shown = "(hidden)" if self.url_is_secret else None
        stripped = url.strip()
        if stripped != url:
            warn_once("%s has leading or trailing whitespace (a trailing newline or spaces): it was removed." % option)
            url = stripped
        if CONTROL_CHARS.search(url) or " " in url:
            raise SarkValidationError("%s contains a line break, a space or another control character inside it, which no URL "
                                      "may carry%s. Fix the stored URL." % (option, "" if shown else " (%r)" % url))
        return url

    @classmethod
    def from_params(cls, params, prefix, env_prefix, service, **kwargs):
        """Build a client from the options http_argument_spec(prefix, env_prefix) defines."""
        return cls(params.get(prefix + "_url"), token=params.get(prefix + "_token"),
                   validate_certs=params.get(prefix + "_validate_certs", True), ca_path=params.get(prefix + "_ca_path"),
                   timeout=params.get(prefix + "_timeout"), retries=params.get(prefix + "_retries"),
                   backoff=params.get(prefix + "_backoff"), service=service, option_prefix=prefix,
                   env_prefix=env_prefix, **kwargs)

    def option_name(self, suffix):
        return "%s_%s" % (self.option_prefix, suffix)

    def _env_hint(self, suffix):
        return " (or %s_%s)" % (self.env_prefix, suffix) if self.env_prefix else ""

    @property
    def display_origin(self):
        scheme, netloc = self.origin
        return "%s://%s" % (scheme, netloc.rpartition("@")[2])

    def display_url(self, url):
        """The URL as messages show it: only the origin when the URL itself is a secret (a Slack webhook)."""
        if self.url_is_secret:
            return self.display_origin + "/..."
        return url

    def url_for(self, path, query=None):
        if path.startswith(("http://", "https://")):
            url = path
        elif not path:
            url = self.base_url
        else:
            url = self.base_url + "/" + path.lstrip("/")
        if query:
            clean = [(k, v) for k, v in query.items() if v is not None] if isinstance(query, dict) else query
            if clean:
                url += ("&" if "?" in url else "?") + urlencode(clean, doseq=True)
        return url

    def _headers(self, method, body_type, extra):
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers[self.token_header] = "%s%s" % (self.token_prefix or "", self.token)
        if body_type:
            headers["Content-Type"] = body_type
        headers.update(extra or {})
        return headers

    def _connection(self, parts):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout, context=self.ssl_context)
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
            conn.connect()
            # small requests and answers back to back: do not let Nagle hold them for a delayed ACK
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.conn = conn
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _open_kept_alive(self, method, url, data, headers):
        parts = urlsplit(url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        while True:
            reused = getattr(self._local, "conn", None) is not None
            try:
                conn = self._connection(parts)
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                body = resp.read(MAX_BODY_BYTES)
                if resp.will_close or not resp.isclosed():
                    # closed by the server, or a body past the cap still unread: this connection cannot carry more
                    self._drop_connection()
                return resp.status, dict(resp.getheaders()), body.decode("utf-8", errors="replace")
            except ssl.SSLError as exc:
                self._drop_connection()
                raise SarkConnectionError("TLS with %s failed: %s. Set %s to the CA bundle (or %s: false for a lab)."
                                          % (self.display_url(url), exc, self.option_name("ca_path"),
                                             self.option_name("validate_certs")), kind="tls") from exc
            except (http.client.HTTPException, OSError) as exc:
                self._drop_connection()
                if reused and isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue  # the server closed an idle kept-alive connection: the request never arrived
                kind = "timeout" if isinstance(exc, socket.timeout) else "unreachable"
                raise SarkConnectionError("Cannot reach the %s at %s: %s. Check %s%s and that %s"
                                          % (self.service, self.display_url(url), exc, self.option_name("url"),
                                             self._env_hint("URL"), self.running_hint()), kind=kind) from exc

    def _open_once(self, method, url, data, headers, stream=False):
        if self.keep_alive and not stream:
            return self._open_kept_alive(method, url, data, headers)
        request = Request(follow_redirects="none", validate_certs=self.validate_certs, ca_path=self.ca_path,
                          timeout=self.timeout, use_proxy=True, context=self.ssl_context)
        try:
            resp = request.open(method, url, data=data, headers=headers)
            if stream:
                # the caller reads the body itself, in chunks (2xx only: errors arrive as HTTPError below)
                return resp.getcode(), dict(resp.headers.items()), resp
            return resp.getcode(), dict(resp.headers.items()), resp.read(MAX_BODY_BYTES).decode("utf-8", errors="replace")
        except HTTPError as exc:
            body = exc.read(MAX_BODY_BYTES).decode("utf-8", errors="replace") if exc.fp else ""
            return exc.code, dict(exc.headers.items()) if exc.headers else {}, body
        except SSLValidationError as exc:
            raise SarkConnectionError("TLS certificate of %s could not be validated: %s. Set %s to the CA bundle (or %s: false "
                                      "for a lab)." % (self.display_url(url), exc, self.option_name("ca_path"),
                                                       self.option_name("validate_certs")), kind="tls") from exc
        except (URLError, socket.timeout, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            kind = "timeout" if "timed out" in str(reason).lower() else "unreachable"
            raise SarkConnectionError("Cannot reach the %s at %s: %s. Check %s%s and that %s"
                                      % (self.service, self.display_url(url), reason, self.option_name("url"),
                                         self._env_hint("URL"), self.running_hint()), kind=kind) from exc

    def running_hint(self):
        return "the %s is running." % self.service

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
                retry_on=RETRY_STATUSES, stream=False):
        """Send a request; returns a Response. Raises SarkAPIError for an unexpected status.

        expect: a status or a tuple of statuses that count as success (default: any 2xx).
        retry_on: statuses retried with backoff (a health probe's 503 with a body is an answer, not a hiccup).
        stream: leave a 2xx body unread; Response.raw is the open response (see stream()).

        No secret (token, secret URL, header values given here) survives in an error's text or in the body
        returned, in any form: as given, stripped, escaped, URL- or base64-encoded.
        """
        try:
            return self._request(method, path, query, json_body, text_body, headers, expect, retry_on, stream)
        except SarkError as exc:
            raise self._scrubbed(exc)
        except (ValueError, UnicodeError, http.client.HTTPException) as exc:
            # what the standard library refuses to send (a malformed header or URL) names the value: never show it
            raise SarkConnectionError(self.scrub("The request to the %s could not be sent: %s: %s. Check %s%s."
                                                 % (self.service, type(exc).__name__, exc, self.option_name("url"),
                                                    self._env_hint("URL"))), kind="protocol") from None

    def _request(self, method, path, query, json_body, text_body, headers, expect, retry_on, stream):
        method = method.upper()
        if headers:
            clean = {}
            for name, value in headers.items():
                self.add_secret(value)
                clean[name] = clean_header_value(value, "the %s header" % name)
                self.add_secret(clean[name])
            headers = clean
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
            status, resp_headers, body = self._open_once(method, url, data, req_headers, stream=stream)
            if status in REDIRECT_STATUSES:
                location = resp_headers.get("Location") or resp_headers.get("location")
                if not location or len(redirects) >= MAX_REDIRECTS:
                    raise SarkAPIError("%s %s: too many or empty redirects (%s)" % (method, self.display_url(url), redirects),
                                       status=status)
                target = urljoin(url, location)
                if not self._same_origin(target):
                    raise SarkAPIError("%s %s redirected to another origin (%s); refusing to send the token there. "
                                       "Point %s at the final address." % (method, self.display_url(url), target,
                                                                           self.option_name("url")), status=status)
                redirects.append({"status": status, "from": url, "to": target})
                if status == 303 or (status in (301, 302) and method != "HEAD"):
                    # the classic browser behaviour: these turn a write into a GET
                    if method in WRITE_METHODS:
                        raise SarkAPIError("%s %s answered %s to %s, which would drop the request body; use the "
                                           "final URL instead" % (method, self.display_url(url), status, target), status=status)
                url = target
                continue
            self.request_log.append({"method": method, "url": self.display_url(url), "status": status})
            if status in retry_on and attempt < self.retries:
                delay = self._retry_delay(attempt, resp_headers)
                attempt += 1
                self._sleep(delay)
                continue
            break
        raw = None
        if not isinstance(body, str):
            raw, body = body, ""
        response = Response(status, resp_headers, self.scrub(body), url, attempt + 1,
                            round((time.monotonic() - started) * 1000.0, 3), redirects)
        response.raw = raw
        ok = (status in expect) if isinstance(expect, (tuple, list, set)) else (
            status == expect if expect is not None else 200 <= status < 300)
        if not ok:
            raise self.error_for(method, url, response)
        return response

    def status_hint(self, status):
        token_option = self.option_name("token")
        if status == 401:
            return ("the token was rejected (expired or invalid?): get a new token and set %s%s"
                    % (token_option, self._env_hint("TOKEN")))
        if status == 403:
            return "the token lacks permission"
        if status == 404:
            return "no such resource or route"
        if status == 405:
            return "this server does not allow that method here"
        if status == 429:
            return "rate limited and still limited after %d retries" % self.retries
        if status >= 500:
            return "the server failed and still failed after %d retries" % self.retries
        return "the request was refused"

    def error_for(self, method, url, response):
        detail = error_detail(response.body)
        status = response.status
        return SarkAPIError("%s %s %s answered HTTP %s: %s (%s)" % (self.service, method, self.display_url(url), status, detail,
                                                                    self.status_hint(status)),
                            status=status, body=response.body[:2000], attempts=response.attempts)

    def stream(self, path, query=None, chunk_size=65536, headers=None):
        """GET path and yield its body in chunks, never holding it whole; same auth, retries and errors as request()."""
        response = self.request("GET", path, query=query, headers=headers, stream=True)
        raw = response.raw
        try:
            while True:
                try:
                    chunk = raw.read(chunk_size)
                except (socket.timeout, OSError) as exc:
                    raise SarkConnectionError("Reading %s from the %s failed: %s" % (self.display_url(response.url), self.service, exc),
                                              kind="timeout") from exc
                if not chunk:
                    return
                yield chunk
        finally:
            raw.close()

    def get_json(self, path, query=None, expect=None):
        return self.request("GET", path, query=query, expect=expect).json()
