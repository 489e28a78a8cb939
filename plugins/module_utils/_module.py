# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module wrapper shared by every sark.ops module (private).

One exception hierarchy, caught once in SarkModule.run(); secrets masked; an evidence
record (what was asked, planned and executed actions, counts, duration) on every result.
"""

import datetime
import fnmatch
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

MASK = "********"
SECRET_WORDS = ("password", "token", "secret", "passwd", "api_key", "apikey", "private_key", "authorization", "cookie")


class SarkError(Exception):
    """Base of every error a sark.ops module reports. Carries extra result fields in details."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class SarkDependencyError(SarkError):
    """A Python library the module needs is missing on the target."""

    def __init__(self, library, exception_text=None, reason=None):
        super().__init__(missing_required_lib(library, reason=reason))
        self.library = library
        self.exception_text = exception_text


class SarkConnectionError(SarkError):
    """A server could not be reached or refused us. kind: unreachable, auth, timeout, tls, protocol."""

    def __init__(self, msg, kind="unreachable", **details):
        super().__init__(msg, **details)
        self.kind = kind


class SarkValidationError(SarkError):
    """Bad input detected before anything was touched."""


class SarkPreconditionError(SarkError):
    """The current state is not what the caller said it expected."""


class SarkLimitError(SarkError):
    """A safety cap (max_keys, max_backends, ...) would be exceeded; nothing was changed."""


class SarkAPIError(SarkError):
    """The SARK (or another HTTP) API answered with an error status."""

    def __init__(self, msg, status=None, body=None, **details):
        super().__init__(msg, status=status, **details)
        self.status = status
        self.body = body


class SarkOperationError(SarkError):
    """An operation failed part-way; details say what had been done."""


def is_secret_name(name):
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask_secrets(value, secret_keys=()):
    """Return a copy of value with every secret-looking or listed key masked, recursively."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            if key in secret_keys or is_secret_name(key):
                masked[key] = MASK if item not in (None, "") else item
            else:
                masked[key] = mask_secrets(item, secret_keys)
        return masked
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item, secret_keys) for item in value]
    return value


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def isoformat(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def glob_match(value, patterns):
    """Does value match one of the shell wildcards (case-sensitive, as Redis SCAN MATCH and PostgreSQL names are)?"""
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def selected_by(value, patterns):
    """Shell wildcards include, a leading '!' excludes; with only exclusions (or none) what is not excluded is selected."""
    includes = [p for p in patterns or () if not p.startswith("!")]
    excludes = [p[1:] for p in patterns or () if p.startswith("!")]
    return (not includes or glob_match(value, includes)) and not glob_match(value, excludes)


def match_filter(names, patterns):
    """Select names by a filter list: shell wildcards include, a leading '!' excludes.

    With only exclusions (or no filter at all) everything not excluded is selected.
    Returns the selected names in their original order.
    """
    patterns = [p.strip() for p in (patterns or []) if p and p.strip()]
    return [name for name in names if selected_by(name, patterns)]


def unknown_filter_entries(names, patterns):
    """Filter entries (without '!') that match no known subset: likely typos."""
    unknown = []
    for pattern in patterns or []:
        bare = pattern[1:] if pattern.startswith("!") else pattern
        if not any(glob_match(name, [bare]) for name in names):
            unknown.append(pattern)
    return unknown


class Evidence:
    """What was asked, what was planned and executed, counts and duration: the audit trail."""

    SAMPLE_LIMIT = 20

    def __init__(self, module_name, params, check_mode, secret_keys=()):
        self._start = time.monotonic()
        self.record = {
            "module": module_name,
            "check_mode": bool(check_mode),
            "requested": mask_secrets(dict(params), secret_keys),
            "planned_actions": [],
            "executed_actions": [],
            "counts": {},
            "started_at": isoformat(utcnow()),
            "duration_ms": None,
        }

    def plan(self, action, **details):
        entry = dict(action=action, **details)
        self.record["planned_actions"].append(entry)
        return entry

    def executed(self, action, **details):
        entry = dict(action=action, **details)
        self.record["executed_actions"].append(entry)
        return entry

    def count(self, name, amount=1):
        self.record["counts"][name] = self.record["counts"].get(name, 0) + amount

    def set_count(self, name, value):
        self.record["counts"][name] = value

    def finish(self):
        self.record["duration_ms"] = round((time.monotonic() - self._start) * 1000.0, 3)
        return self.record


class SarkModule:
    """AnsibleModule plus the sark.ops conventions.

    Usage in a module::

        def run(module):
            ...
            return dict(changed=..., ...)

        def main():
            SarkModule(argument_spec=spec, supports_check_mode=True).run(run)
    """

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        self.module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        secret_keys = [name for name, spec in argument_spec.items() if spec.get("no_log")]
        self.secret_keys = secret_keys
        for name in secret_keys:
            value = self.params.get(name)
            if isinstance(value, str) and value.strip() != value:
                # connection code strips a secret read with a trailing newline: mask the stripped form as well
                self.add_secret(value.strip())
        self.evidence = Evidence(self.module._name, self.params, self.module.check_mode, secret_keys)
        self.warnings = []

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return self.module._diff

    def warn(self, msg):
        self.module.warn(msg)

    def actions(self):
        """planned_actions and executed_actions for a mutating module's result (both, even when empty)."""
        record = self.evidence.record
        return {"planned_actions": record["planned_actions"], "executed_actions": record["executed_actions"]}

    def add_secret(self, value):
        """Make sure a value discovered at run time (a token, a password) never reaches the output."""
        if value:
            self.module.no_log_values.add(str(value))

    def run(self, func):
        try:
            result = func(self) or {}
        except SarkDependencyError as exc:
            self._fail(exc.msg, exception=exc.exception_text)
        except SarkError as exc:
            fields = dict(exc.details)
            if isinstance(exc, SarkConnectionError):
                fields.setdefault("error_kind", exc.kind)
            self._fail(exc.msg, **fields)
        except OSError as exc:
            # a file system or socket error no domain code turned into a SarkError: the operator's to fix, not a bug
            self._fail("%s failed: %s%s" % (type(exc).__name__, exc.strerror or exc,
                                            " (%s)" % exc.filename if getattr(exc, "filename", None) else ""),
                       exception=traceback.format_exc())
        except Exception as exc:  # pylint: disable=broad-except
            # A bug, not an operator error: keep the traceback for -vvv but name what to do.
            self._fail("Unexpected %s: %s (this is a sark.ops bug; please report it with the module's -vvv output)"
                       % (type(exc).__name__, exc), exception=traceback.format_exc())
        else:
            result.setdefault("changed", False)
            record = self.evidence.record
            if record["planned_actions"] or record["executed_actions"]:
                # the plan and what was done, at the top level where a playbook reads them
                for key, value in self.actions().items():
                    result.setdefault(key, value)
            result["evidence"] = self.evidence.finish()
            self.module.exit_json(**result)

    def _fail(self, msg, **fields):
        """Fail with what was done so far: work before the failure makes the result changed (partial work is work)."""
        fields = {k: v for k, v in fields.items() if v is not None}
        record = self.evidence.record
        if record["executed_actions"] and not self.check_mode:
            fields["changed"] = True
            fields.setdefault("partial", True)
        if record["planned_actions"] or record["executed_actions"]:
            for key, value in self.actions().items():
                fields.setdefault(key, value)
        if record["counts"]:
            fields.setdefault("counts", dict(record["counts"]))
        fields.setdefault("changed", False)
        fields["evidence"] = self.evidence.finish()
        self.module.fail_json(msg=msg, **fields)


def sark_main(run, options, families=(), **kwargs):
    """A module's main(): its own options plus each connection family's (api_argument_spec, ...), check mode supported."""
    spec = dict(options)
    for family in families:
        spec.update(family())
    SarkModule(argument_spec=spec, supports_check_mode=True, **kwargs).run(run)
