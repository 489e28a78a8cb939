"""The authorization API of the test Kubernetes API: SelfSubjectAccessReview and SelfSubjectRulesReview
(authorization.k8s.io/v1, what ``kubectl auth can-i`` and ``kubectl auth can-i --list`` create), answered by
Kubernetes' RBAC authorizer over the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings stored here.

Who asks: the ``Impersonate-User`` header (``kubectl --as``, kubernetes.core's ``impersonate_user``) with its
``Impersonate-Group`` headers; a service account user (``system:serviceaccount:NS:NAME``) is given the groups
``system:serviceaccounts`` and ``system:serviceaccounts:NS``, every user ``system:authenticated``, as the API server's
impersonation filter does. Without impersonation the kubeconfig's token is user ``kubernetes-admin`` in group
``system:masters``.

Bootstrap policy as a kubeadm cluster has it, built in rather than stored (so listing ClusterRoles shows only the
scenario's): ``cluster-admin`` (everything) bound to ``system:masters``; ``system:basic-user`` (create
selfsubjectaccessreviews and selfsubjectrulesreviews) and ``system:discovery`` (get /api, /apis, /version, ...)
bound to ``system:authenticated``.

Not done: the requests themselves are not authorized (every caller may do everything; only the reviews judge),
aggregated ClusterRoles, SubjectAccessReview/LocalSubjectAccessReview (a cluster admin's API), ``escalate``/``bind``
checks on writing RBAC objects.
"""

import copy

GROUP = "rbac.authorization.k8s.io"
ADMIN_USER, ADMIN_GROUPS = "kubernetes-admin", ["system:masters", "system:authenticated"]
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"]
BOOTSTRAP = [
    # (binding kind, binding name, role name, subject group, rules)
    ("ClusterRoleBinding", "cluster-admin", "cluster-admin", "system:masters",
     [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
    ("ClusterRoleBinding", "system:basic-user", "system:basic-user", "system:authenticated",
     [{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]}]),
    ("ClusterRoleBinding", "system:discovery", "system:discovery", "system:authenticated",
     [{"nonResourceURLs": list(DISCOVERY_URLS), "verbs": ["get"]}]),
]


class ReviewError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def requester(headers):
    """(user, groups) of a request (see the module docstring)."""
    user = headers.get("Impersonate-User")
    if not user:
        return ADMIN_USER, list(ADMIN_GROUPS)
    groups = list(headers.getall("Impersonate-Group", [])) if hasattr(headers, "getall") else \
        [v for k, v in headers.items() if k.lower() == "impersonate-group"]
    parts = user.split(":")
    if user.startswith("system:serviceaccount:") and len(parts) == 4 and parts[2] and parts[3]:
        # a malformed service account name is an ordinary user name to the impersonation filter
        for group in ("system:serviceaccounts", "system:serviceaccounts:%s" % parts[2]):
            if group not in groups:
                groups.append(group)
    if "system:authenticated" not in groups:
        groups.append("system:authenticated")
    return user, groups


def _subject_matches(subject, user, groups, binding_namespace):
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user
    if kind == "Group":
        return subject.get("name") in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user == "system:serviceaccount:%s:%s" % (namespace, subject.get("name"))
    return False


def _subject_text(subject, binding_namespace):
    if subject.get("kind") == "ServiceAccount":
        return 'ServiceAccount "%s/%s"' % (subject.get("name"), subject.get("namespace") or binding_namespace)
    return '%s "%s"' % (subject.get("kind"), subject.get("name"))


def applicable_rules(emu, user, groups, namespace):
    """[(rules, why)] granted to the user: cluster-wide ones, and the namespace's when a namespace is given."""
    granted = []
    for kind, name, role, group, rules in BOOTSTRAP:
        if group in groups:
            granted.append((rules, 'ClusterRoleBinding "%s" of ClusterRole "%s" to Group "%s"' % (name, role, group)))
    bindings = [("ClusterRoleBinding", b) for b in emu.items(GROUP, "clusterrolebindings")]
    if namespace:
        bindings += [("RoleBinding", b) for b in emu.items(GROUP, "rolebindings", namespace)]
    for kind, binding in bindings:
        meta = binding["metadata"]
        ref = binding.get("roleRef") or {}
        if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
            continue
        if ref.get("kind") == "ClusterRole":
            role = emu.get(GROUP, "clusterroles", None, ref.get("name"))
        else:
            role = emu.get(GROUP, "roles", meta.get("namespace"), ref.get("name"))
        if role is None:
            continue
        for subject in binding.get("subjects") or []:
            if _subject_matches(subject, user, groups, meta.get("namespace")):
                where = '%s "%s%s"' % (kind, meta["name"], "/" + meta["namespace"] if meta.get("namespace") else "")
                who = _subject_text(subject, meta.get("namespace"))
                granted.append((role.get("rules") or [], '%s of %s "%s" to %s' % (where, ref.get("kind"), ref.get("name"), who)))
                break
    return granted


def _has(values, value):
    return "*" in (values or []) or value in (values or [])


def _resource_matches(rule, attrs):
    if "nonResourceURLs" in rule and not rule.get("resources"):
        return False
    resource = attrs.get("resource", "")
    if attrs.get("subresource"):
        resource = "%s/%s" % (resource, attrs["subresource"])
    resources = rule.get("resources") or []
    if not ("*" in resources or resource in resources or
            (attrs.get("subresource") and "*/%s" % attrs["subresource"] in resources)):
        return False
    if not _has(rule.get("verbs"), attrs.get("verb", "")) or not _has(rule.get("apiGroups"), attrs.get("group", "")):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.get("name", "") in names


def _path_matches(rule, attrs):
    if not _has(rule.get("verbs"), attrs.get("verb", "")):
        return False
    path = attrs.get("path", "")
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def access_review(emu, body, user, groups):
    """POST selfsubjectaccessreviews: the body with status {allowed, reason}."""
    spec = (body or {}).get("spec") or {}
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        raise ReviewError(422, "Invalid", "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: "
                          "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified")
    namespace = (resource or {}).get("namespace") or None
    allowed, reason = False, ""
    for rules, why in applicable_rules(emu, user, groups, namespace):
        if any(_resource_matches(r, resource) if resource else _path_matches(r, non_resource) for r in rules):
            allowed, reason = True, "RBAC: allowed by %s" % why
            break
    result = copy.deepcopy(body)
    result.update(apiVersion="authorization.k8s.io/v1", kind="SelfSubjectAccessReview")
    result["metadata"] = {"creationTimestamp": None}
    result["status"] = {"allowed": allowed}
    if reason:
        result["status"]["reason"] = reason
    return result


def rules_review(emu, body, user, groups):
    """POST selfsubjectrulesreviews: the rules the user has in spec.namespace."""
    namespace = ((body or {}).get("spec") or {}).get("namespace")
    if not namespace:
        raise ReviewError(400, "BadRequest", "no namespace on request")
    resource_rules, non_resource_rules = [], []
    for rules, dummy in applicable_rules(emu, user, groups, namespace):
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": list(rule.get("verbs") or []), "nonResourceURLs": list(rule["nonResourceURLs"])})
            else:
                entry = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                         "resources": list(rule.get("resources") or [])}
                if rule.get("resourceNames"):
                    entry["resourceNames"] = list(rule["resourceNames"])
                resource_rules.append(entry)
    result = copy.deepcopy(body)
    result.update(apiVersion="authorization.k8s.io/v1", kind="SelfSubjectRulesReview")
    result["metadata"] = {"creationTimestamp": None}
    result["status"] = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}
    return result
