"""The three PATCH flavours of the Kubernetes API, as the API server applies them.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): dicts merge, ``null`` deletes, lists replace.
- Strategic merge patch (``application/strategic-merge-patch+json``): like a merge patch, but the lists
  Kubernetes declares with a patch merge key merge item by item on that key (containers by ``name``, env by
  ``name``, ports by ``containerPort``, ...); an item ``{"$patch": "delete", <key>: ...}`` removes one, a
  list ``[{"$patch": "replace"}, ...]`` replaces; ``$setElementOrder``/``$retainKeys`` directives are dropped.
  Only the merge keys listed in MERGE_KEYS are known (the shapes the runbooks and kubernetes.core send);
  any other list replaces, as for an unknown field of a real server.
- JSON patch (RFC 6902, ``application/json-patch+json``): add, remove, replace, move, copy, test.
"""

import copy

# field name -> merge key, for the lists of core/apps/batch objects that merge (from the Kubernetes OpenAPI
# x-kubernetes-patch-merge-key declarations).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "tolerations": None,  # no merge key: replaced (as in Kubernetes)
    "conditions": "type",
    "ownerReferences": "uid",
}


class PatchError(ValueError):
    """A patch that cannot be applied (the API server answers 422)."""


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strategic_list(field, target, patch):
    key = MERGE_KEYS.get(field)
    if not key or not all(isinstance(item, dict) for item in patch):
        return [strategic_merge_patch(None, item) if isinstance(item, dict) else copy.deepcopy(item)
                for item in patch if not (isinstance(item, dict) and item.get("$patch") == "replace")]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [strategic_merge_patch(None, item) for item in patch if item.get("$patch") != "replace"]
    result = copy.deepcopy(target) if isinstance(target, list) else []
    for item in patch:
        if key not in item:
            raise PatchError("map in list %s does not contain the merge key %r" % (field, key))
        index = next((i for i, have in enumerate(result) if isinstance(have, dict) and have.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(strategic_merge_patch(None, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def strategic_merge_patch(target, patch):
    """Apply a strategic merge patch (see the module docstring for what is supported)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(key, result.get(key), value)
        elif isinstance(value, dict):
            result[key] = strategic_merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc, parts):
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        else:
            doc = doc[part]
    return doc


def json_patch(target, operations):
    """RFC 6902; raises PatchError for a failed test or a missing path."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        try:
            name, parts = op["op"], _pointer(op["path"])
            if name in ("move", "copy"):
                value = copy.deepcopy(_walk(doc, _pointer(op["from"])))
                if name == "move":
                    doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
                name, op = "add", dict(op, value=value)
            if name == "test":
                if _walk(doc, parts) != op["value"]:
                    raise PatchError("test operation failed at %s" % op["path"])
                continue
            if not parts:
                if name in ("add", "replace"):
                    doc = copy.deepcopy(op["value"])
                    continue
                raise PatchError("cannot remove the whole document")
            parent = _walk(doc, parts[:-1])
            last = parts[-1]
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if name == "add":
                    parent.insert(index, copy.deepcopy(op["value"]))
                elif name == "remove":
                    del parent[index]
                elif name == "replace":
                    parent[index] = copy.deepcopy(op["value"])
                else:
                    raise PatchError("unknown op %r" % name)
            else:
                if name in ("remove", "replace") and last not in parent:
                    raise PatchError("path %s does not exist" % op["path"])
                if name == "remove":
                    del parent[last]
                elif name in ("add", "replace"):
                    parent[last] = copy.deepcopy(op["value"])
                else:
                    raise PatchError("unknown op %r" % name)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError("cannot apply %r: %s" % (op, exc)) from exc
    return doc
