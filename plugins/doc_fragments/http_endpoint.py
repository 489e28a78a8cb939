# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation of one HTTP endpoint's connection options, as plugins/module_utils/_http.py http_argument_spec()
builds them: ``<prefix>_url``, ``_token``, ``_validate_certs``, ``_ca_path``, ``_timeout``, ``_retries``, ``_backoff``,
each with its ``<ENV_PREFIX>_*`` environment fallback. The family fragments (alertmanager, prometheus, opa, api) are
made from it and say only what differs."""

ORDER = ("url", "token", "validate_certs", "ca_path", "timeout", "retries", "backoff")
TYPES = {"url": ("str", None), "token": ("str", None), "validate_certs": ("bool", "true"), "ca_path": ("path", None),
         "timeout": ("float", "30.0"), "retries": ("int", "3"), "backoff": ("float", "0.5")}
DESCRIPTIONS = {
    "url": "Base URL of {service}, for example V({example}).",
    "token": "Bearer token for {service} behind an authenticating proxy. Never logged or returned.",
    "validate_certs": "Validate the TLS certificate of {service}.",
    "ca_path": "CA bundle used to validate the TLS certificate of {service}.",
    "timeout": "Seconds to wait for each HTTP request to {service}.",
    "retries": "How many times to retry a request to {service} that got HTTP 429 or 5xx, with exponential backoff.",
    "backoff": "First retry delay in seconds, doubled for each further retry (or the server's C(Retry-After)).",
}


def endpoint_options(prefix, env_prefix, service, example, notes=(), **descriptions):
    """The DOCUMENTATION of a doc fragment: the options of http_argument_spec(prefix, env_prefix).

    A keyword named after an option (url=, token=, ...) replaces its description: a list of lines, or one line.
    """
    lines = ["options:"]
    for name in ORDER:
        text = descriptions.get(name, DESCRIPTIONS[name].format(service=service, example=example))
        lines += ["  %s_%s:" % (prefix, name), "    description:"]
        lines += ["      - %s" % line for line in ([text] if isinstance(text, str) else text)]
        lines.append("      - If not set, the value of the E(%s_%s) environment variable is used." % (env_prefix, name.upper()))
        option_type, default = TYPES[name]
        lines.append("    type: %s" % option_type)
        if default is not None:
            lines.append("    default: %s" % default)
    if notes:
        lines.append("notes:")
        lines += ["  - %s" % note for note in notes]
    return "\n".join(lines) + "\n"
