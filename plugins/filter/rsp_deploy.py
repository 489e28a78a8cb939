# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Rust Security Platform's deployments (seed 003): the pure parts the role sark.ops.rsp_deploy needs - canary steps
and VirtualService routes, the weights a VirtualService gives, the Deployment and Service a release derives from the
running ones, and the plan check mode shows. The logic is plugins/module_utils/_rsp_deploy.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils._module import SarkError
from ansible_collections.sark.ops.plugins.module_utils import _rsp_deploy


def _call(name, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except SarkError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.msg))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc))


def rsp_canary_steps(steps):
    """Filter: the canary's weight steps, validated (rising whole percentages ending at 100); empty - 10, 25, 50, 100."""
    return _call("rsp_canary_steps", _rsp_deploy.canary_steps, steps)


def rsp_canary_routes(weight, stable_host, canary_host, header=None, port=None):
    """Filter: spec.http of the VirtualService with `weight` percent to the canary (seed 003's patch)."""
    return _call("rsp_canary_routes", _rsp_deploy.canary_http_routes, stable_host, canary_host, weight, header=header or None, port=port)


def rsp_route_weights(virtual_service, stable_host, canary_host):
    """Filter: {stable, canary, other} percent of a VirtualService's default route."""
    return _call("rsp_route_weights", _rsp_deploy.route_weights, virtual_service, stable_host, canary_host)


def rsp_derived_deployment(source, name, label, value, image=None, container=None, replicas=None):
    """Filter: the Deployment a blue-green or canary release adds next to the running one."""
    return _call("rsp_derived_deployment", _rsp_deploy.derived_deployment, source, name, label, value, image=image or None,
                 container=container or None, replicas=replicas)


def rsp_derived_service(source, name, label, value):
    """Filter: the canary Service - the stable Service's ports, its selector plus `label`=`value`."""
    return _call("rsp_derived_service", _rsp_deploy.derived_service, source, name, label, value)


def rsp_matching(objects, selector):
    """Filter: the Deployments or pods whose pod labels carry every label of `selector` (a Service's), by name."""
    return _call("rsp_matching", _rsp_deploy.matching, objects, selector)


def rsp_deploy_plan(strategy, **kwargs):
    """Filter: the ordered steps of a deployment strategy (what check mode reports)."""
    return _call("rsp_deploy_plan", _rsp_deploy.deploy_plan, strategy, **kwargs)


class FilterModule:
    def filters(self):
        return {"rsp_canary_steps": rsp_canary_steps, "rsp_canary_routes": rsp_canary_routes, "rsp_route_weights": rsp_route_weights,
                "rsp_derived_deployment": rsp_derived_deployment, "rsp_derived_service": rsp_derived_service,
                "rsp_matching": rsp_matching, "rsp_deploy_plan": rsp_deploy_plan}
