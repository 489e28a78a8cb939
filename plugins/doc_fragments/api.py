# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.sark.ops.plugins.doc_fragments.http_endpoint import endpoint_options


class ModuleDocFragment:

    # Matches plugins/module_utils/_api.py api_argument_spec() (_http.http_argument_spec("api", "SARK_API"))
    DOCUMENTATION = endpoint_options(
        "api", "SARK_API", "the SARK API", "https://sark.example.com",
        token='"Bearer token (JWT) sent in the C(Authorization) header. Never logged or returned."',
        retries="How many times to retry a request that got HTTP 429 or 5xx, with exponential backoff"
                " (O(api_backoff) doubled each time) or the server's C(Retry-After).",
        backoff="First retry delay in seconds.",
        notes=["Redirects to the same origin are followed with method and body kept (SARK 2.x answers C(307) to add"
               " a trailing slash); redirects to another origin are refused so the token never leaves.",
               "Every write (POST, PUT, PATCH, DELETE) carries the CSRF double-submit pair SARK 2.x requires,"
               " header C(X-CSRF-Token) and cookie C(csrf_token) with the same random value."])
