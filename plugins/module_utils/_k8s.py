# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kubernetes connection: kubernetes.core's client and authentication options, nothing of our own.

K8S_AUTH_ARG_SPEC is kubernetes.core's AUTH_ARG_SPEC (6.6.0); a copy because the module's argument spec must
not depend on whether another collection is importable (ansible-test sanity runs without it). The
integration tests check that it equals kubernetes.core's. The client is kubernetes.core's get_api_client,
so K8S_AUTH_* environment variables and kubeconfig handling are exactly kubernetes.core's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.sark.ops.plugins.module_utils._module import SarkDependencyError, SarkError

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    HAS_K8S_CORE = True
    K8S_CORE_ERROR = None
except ImportError:
    HAS_K8S_CORE = False
    K8S_CORE_ERROR = traceback.format_exc()

try:
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    HAS_K8S = True
    K8S_ERROR = None
except ImportError:
    class DynamicApiError(Exception):
        pass

    class ResourceNotFoundError(Exception):
        pass
    HAS_K8S = False
    K8S_ERROR = traceback.format_exc()

_PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True),
    basic_auth=dict(type="str", no_log=True),
    user_agent=dict(type="str"),
)

K8S_AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw"},
    "context": {},
    "host": {},
    "api_key": {"no_log": True},
    "username": {},
    "password": {"no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": _PROXY_HEADERS_SPEC},
    "persist_config": {"type": "bool"},
    "impersonate_user": {},
    "impersonate_groups": {"type": "list", "elements": "str"},
}


def k8s_auth_argument_spec():
    import copy  # pylint: disable=import-outside-toplevel
    return copy.deepcopy(K8S_AUTH_ARG_SPEC)


def api_error(exc, what):
    status = getattr(exc, "status", None)
    summary = getattr(exc, "summary", None)
    text = summary() if callable(summary) else str(exc)
    if status in (401, 403):
        return SarkError("Kubernetes refused to %s (HTTP %s): check the credentials (kubeconfig, api_key, K8S_AUTH_*) "
                         "and the RBAC rights to %s: %s" % (what, status, what, text), status=status)
    return SarkError("Kubernetes API error while trying to %s%s: %s" % (what, " (HTTP %s)" % status if status else "", text), status=status)


class K8sReader:
    """Lists objects with kubernetes.core's client (one list call per kind and namespace), counted in the evidence."""

    def __init__(self, module):
        if not HAS_K8S_CORE:
            raise SarkDependencyError("the kubernetes.core collection", K8S_CORE_ERROR, "its client and auth options are used")
        if not HAS_K8S:
            raise SarkDependencyError("kubernetes", K8S_ERROR, "kubernetes.core's client needs it")
        self.module = module
        params = module.params
        try:
            self.client = get_api_client(**{k: params.get(k) for k in K8S_AUTH_ARG_SPEC})
        except Exception as exc:  # pylint: disable=broad-except  # CoreException or the library's ConfigException
            raise SarkError("cannot build a Kubernetes client: %s (give kubeconfig/context or host and api_key, "
                            "or set K8S_AUTH_*)" % exc) from exc

    def list(self, kind, api_version, namespace, label_selector=None, name=None):
        try:
            resource = self.client.resource(kind, api_version)
        except ResourceNotFoundError as exc:
            raise SarkError("the Kubernetes API does not serve %s %s" % (api_version, kind)) from exc
        except Exception as exc:  # pylint: disable=broad-except  # discovery: connection refused, TLS, ...
            raise SarkError("cannot reach the Kubernetes API (discovery of %s %s): %s" % (api_version, kind, exc)) from exc
        params = {"namespace": namespace}
        if label_selector:
            params["label_selector"] = label_selector
        if name:
            params["field_selector"] = "metadata.name=%s" % name
        try:
            items = self.client.get(resource, **params).to_dict().get("items") or []
        except DynamicApiError as exc:
            raise api_error(exc, "list %s in %s" % (kind, namespace)) from exc
        except Exception as exc:  # pylint: disable=broad-except  # urllib3 connection errors and the like
            raise SarkError("cannot reach the Kubernetes API to list %s in %s: %s" % (kind, namespace, exc)) from exc
        self.module.evidence.count("objects_read", len(items))
        self.module.evidence.count("requests")
        return items

    def get(self, kind, api_version, namespace, name):
        """One object, or None when it does not exist."""
        items = self.list(kind, api_version, namespace, name=name)
        return items[0] if items else None

    def replace_status(self, kind, api_version, body):
        """PUT the status subresource (what ``UpdateStatus`` does; kubernetes.core.k8s writes the main resource only,
        where an API server ignores ``status``). The body's resourceVersion makes a concurrent change a 409."""
        meta = body["metadata"]
        try:
            resource = self.client.resource(kind, api_version)
            subresource = resource.subresources["status"]
        except (ResourceNotFoundError, KeyError) as exc:
            raise SarkError("the Kubernetes API serves no status subresource for %s %s" % (api_version, kind)) from exc
        try:
            result = self.client.client.replace(subresource, body=body, namespace=meta.get("namespace"), name=meta["name"])
        except DynamicApiError as exc:
            raise api_error(exc, "update the status of %s %s/%s" % (kind, meta.get("namespace"), meta["name"])) from exc
        except Exception as exc:  # pylint: disable=broad-except  # urllib3 connection errors and the like
            raise SarkError("cannot reach the Kubernetes API to update %s %s: %s" % (kind, meta["name"], exc)) from exc
        self.module.evidence.count("requests")
        return result.to_dict()
