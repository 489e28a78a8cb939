"""_k8s.py: how Kubernetes API failures are classified and worded (credentials/RBAC, not served, unreachable, API error)."""

import pytest

from ansible_collections.sark.ops.plugins.module_utils import _k8s
from ansible_collections.sark.ops.plugins.module_utils._module import SarkError


class FakeApiError(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text

    def summary(self):
        return "%s: %s" % (self.status, self.text)


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_point_at_credentials_and_rbac(status):
    error = _k8s.api_error(FakeApiError(status, "pods is forbidden"), "list Pod in sark")
    assert isinstance(error, SarkError) and error.details["status"] == status
    assert "Kubernetes refused to list Pod in sark (HTTP %d)" % status in error.msg
    assert "kubeconfig, api_key, K8S_AUTH_*" in error.msg and "RBAC" in error.msg and "pods is forbidden" in error.msg


def test_other_statuses_are_api_errors_with_the_status():
    error = _k8s.api_error(FakeApiError(500, "etcd timeout"), "list Deployment in sark")
    assert error.msg.startswith("Kubernetes API error while trying to list Deployment in sark (HTTP 500)")
    assert "credentials" not in error.msg and error.details["status"] == 500


def test_an_error_without_status_says_so():
    error = _k8s.api_error(ValueError("bad answer"), "list Pod in sark")
    assert error.msg == "Kubernetes API error while trying to list Pod in sark: bad answer" and error.details["status"] is None


class Evidence:
    def __init__(self):
        self.counts = {}

    def count(self, name, n=1):
        self.counts[name] = self.counts.get(name, 0) + n


class Module:
    def __init__(self):
        self.evidence = Evidence()
        self.params = {}


def reader(client):
    obj = object.__new__(_k8s.K8sReader)
    obj.module, obj.client = Module(), client
    return obj


class Client:
    def __init__(self, discovery=None, get=None):
        self.discovery, self.get_error = discovery, get

    def resource(self, kind, api_version):
        if self.discovery:
            raise self.discovery
        return (kind, api_version)

    def get(self, resource, **params):
        if self.get_error:
            raise self.get_error

        class Answer:
            @staticmethod
            def to_dict():
                return {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}
        return Answer()


needs_kubernetes = pytest.mark.skipif(not _k8s.HAS_K8S, reason="kubernetes library not installed")


@needs_kubernetes
def test_list_classifies_each_failure_and_counts_what_it_read():
    from kubernetes.dynamic.exceptions import ResourceNotFoundError  # pylint: disable=import-outside-toplevel
    with pytest.raises(SarkError, match="does not serve apps/v1 Deployment"):
        reader(Client(discovery=ResourceNotFoundError("no"))).list("Deployment", "apps/v1", "sark")
    with pytest.raises(SarkError, match=r"cannot reach the Kubernetes API \(discovery of v1 Pod\): Connection refused"):
        reader(Client(discovery=OSError("Connection refused"))).list("Pod", "v1", "sark")
    with pytest.raises(SarkError, match="cannot reach the Kubernetes API to list Pod in sark: reset"):
        reader(Client(get=ConnectionResetError("reset"))).list("Pod", "v1", "sark")
    ok = reader(Client())
    assert [i["metadata"]["name"] for i in ok.list("Pod", "v1", "sark", label_selector="app=sark")] == ["a", "b"]
    assert ok.module.evidence.counts == {"objects_read": 2, "requests": 1}
