# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.sark.ops.plugins.doc_fragments.http_endpoint import endpoint_options


class ModuleDocFragment:

    # Matches plugins/module_utils/_notify.py notify_argument_spec() (_http.http_argument_spec("webhook", "SARK_NOTIFY_WEBHOOK"));
    # the webhook receiver is also the fallback of an announce, and its TLS and retry options serve Slack and PagerDuty.
    DOCUMENTATION = endpoint_options(
        "webhook", "SARK_NOTIFY_WEBHOOK", "the receiver", None,
        url=["The webhook to post to (O(target=webhook) and O(target=slack); the fallback of O(target=announce)).",
             "Treated as a secret, since Slack's webhook URLs embed their credential - only its origin appears in results."],
        token="Bearer token sent to the webhook (not used for Slack or PagerDuty). Never logged or returned.",
        validate_certs="Validate the receiver's TLS certificate (webhook, Slack and PagerDuty).",
        ca_path="CA bundle used to validate the receiver's TLS certificate.",
        timeout="Seconds to wait for each HTTP request (webhook, Slack and PagerDuty).",
        retries="Retries after HTTP 429 or 5xx (webhook, Slack and PagerDuty). A retried trigger without O(dedup_key) may"
                " open a second incident if the first attempt was in fact received.",
        backoff="First retry delay in seconds, doubled for each further retry (or the receiver's C(Retry-After)).")
