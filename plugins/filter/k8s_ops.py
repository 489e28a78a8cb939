# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the sark.ops.sark_k8s role: k8s_log_matches, k8s_pvc_plan, k8s_hpa_plan, k8s_resources_plan,
k8s_unready_pods (docs in
the .yml files); the judgements live in module_utils/_k8s_ops.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.module_utils import _k8s_ops as ops


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ops.K8sOpsError as exc:
        raise AnsibleFilterError(str(exc))


def k8s_log_matches(logs, pattern="", ignore_case=True, max_lines=50):
    return _call(ops.log_matches, logs, pattern, ignore_case, max_lines)


def k8s_pvc_plan(pvc, size, storage_class=None):
    return _call(ops.pvc_expand_plan, pvc, size, storage_class)


def k8s_hpa_plan(hpa, max_replicas=None, cpu_target=None, min_replicas=None):
    return _call(ops.hpa_plan, hpa, max_replicas, cpu_target, min_replicas)


def k8s_resources_plan(workload, container=None, limits=None, requests=None):
    return _call(ops.resources_plan, workload, container, limits, requests)


def k8s_unready_pods(pods, revision=""):
    if not isinstance(pods, list):
        raise AnsibleFilterError("k8s_unready_pods: the input must be a list of pods (k8s_info resources)")
    return ops.unready_pods(pods, revision)


class FilterModule(object):
    def filters(self):
        return {"k8s_log_matches": k8s_log_matches, "k8s_pvc_plan": k8s_pvc_plan, "k8s_hpa_plan": k8s_hpa_plan,
                "k8s_resources_plan": k8s_resources_plan, "k8s_unready_pods": k8s_unready_pods}
