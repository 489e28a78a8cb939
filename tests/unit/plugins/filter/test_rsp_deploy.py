"""plugins/filter/rsp_deploy.py: the filters wrap _rsp_deploy and turn its errors into filter errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter import rsp_deploy as f


def test_filters_and_their_errors():
    filters = f.FilterModule().filters()
    assert sorted(filters) == ["rsp_canary_routes", "rsp_canary_steps", "rsp_deploy_plan", "rsp_derived_deployment", "rsp_derived_service",
                               "rsp_matching", "rsp_route_weights"]
    assert filters["rsp_canary_steps"]([]) == [10, 25, 50, 100]
    with pytest.raises(AnsibleFilterError, match="rsp_canary_steps: the last canary step must be 100"):
        filters["rsp_canary_steps"]([10, 50])
    routes = filters["rsp_canary_routes"](25, "auth-service", "auth-service-canary", header="")
    assert routes == [{"route": [{"destination": {"host": "auth-service"}, "weight": 75}, {"destination": {"host": "auth-service-canary"}, "weight": 25}]}]
    assert filters["rsp_route_weights"]({"spec": {"http": routes}}, "auth-service", "auth-service-canary")["canary"] == 25
    with pytest.raises(AnsibleFilterError, match="rsp_derived_service: derived_service needs the stable Service"):
        filters["rsp_derived_service"]("x", "n", "version", "canary")
    with pytest.raises(AnsibleFilterError, match="rsp_canary_routes: .*invalid literal"):
        filters["rsp_canary_routes"]("ten", "a", "b")
    assert filters["rsp_deploy_plan"]("rolling", namespace="ns", deployment="d", image="i")[0].startswith("set image")
