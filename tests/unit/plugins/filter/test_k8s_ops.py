"""The filters of the sark_k8s role (plugins/filter/k8s_ops.py): registered, and errors as filter errors."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter import k8s_ops as filters


def test_filters_registered():
    names = {"k8s_log_matches", "k8s_pvc_plan", "k8s_hpa_plan", "k8s_resources_plan", "k8s_unready_pods"}
    assert set(filters.FilterModule().filters()) == names


@pytest.mark.parametrize("name, args, message", [
    ("k8s_log_matches", ("x",), "must be a list"),
    ("k8s_pvc_plan", (None, "1Gi"), "not found"),
    ("k8s_hpa_plan", ({"spec": {"maxReplicas": 3}},), "nothing to change"),
    ("k8s_resources_plan", (None,), "not found"),
    ("k8s_unready_pods", ("x",), "list of pods"),
])
def test_errors_are_filter_errors(name, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.FilterModule().filters()[name](*args)


def test_a_plan_passes_through():
    assert filters.k8s_unready_pods([{"metadata": {"name": "p"}, "status": {}}]) == ["p"]
