# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Rust Security Platform's security procedures (seed 003): the verdicts the role sark.ops.rsp_security draws.
The logic is plugins/module_utils/_rsp_certificates.py and _rsp_rbac.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils._module import SarkError
from ansible_collections.sark.ops.plugins.module_utils import _rsp_certificates, _rsp_rbac


def _call(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except SarkError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.msg))
    except (TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc))


def rsp_certificate_check(certificates, served=None, now=None, warn_days=30, critical_days=7):
    """Filter: the verdict over cert-manager Certificates and the certificates their servers present."""
    return _call("rsp_certificate_check", _rsp_certificates.check, certificates, served=served, now=now, warn_days=warn_days,
                 critical_days=critical_days)


def rsp_rbac_check(resource_rules, expected, access=None, incomplete=False):
    """Filter: the verdict of an RBAC review (SelfSubjectRulesReview rules against the expected ones, must-not accesses)."""
    return _call("rsp_rbac_check", _rsp_rbac.check, resource_rules, expected, access=access, incomplete=incomplete)


class FilterModule:
    def filters(self):
        return {"rsp_certificate_check": rsp_certificate_check, "rsp_rbac_check": rsp_rbac_check}
