# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.sark.ops.plugins.doc_fragments.http_endpoint import endpoint_options


class ModuleDocFragment:

    # Matches plugins/module_utils/_alerting.py prometheus_argument_spec() (_http.http_argument_spec("prometheus", "PROMETHEUS"))
    DOCUMENTATION = endpoint_options("prometheus", "PROMETHEUS", "Prometheus", "http://prometheus:9090")
