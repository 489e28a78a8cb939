# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.sark.ops.plugins.doc_fragments.http_endpoint import endpoint_options


class ModuleDocFragment:

    # Matches plugins/module_utils/_opa.py opa_argument_spec() (_http.http_argument_spec("opa", "OPA"))
    DOCUMENTATION = endpoint_options(
        "opa", "OPA", "OPA", "http://opa:8181",
        url="Base URL of the OPA REST API, for example V(http://opa:8181).",
        token="Bearer token for an OPA started with C(--authentication=token). Never logged or returned.")
