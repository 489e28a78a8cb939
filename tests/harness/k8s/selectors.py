"""Label selectors (``a=b,c!=d,e in (x,y),f notin (z),g,!h``) and field selectors (``status.phase=Running``)."""

import re


class SelectorError(ValueError):
    pass


_SET = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$")


def _split(selector):
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def match_labels(selector, labels):
    for term in _split(selector):
        match = _SET.match(term)
        if match:
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",") if v.strip()}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
            continue
        match = _EQ.match(term)
        if not match:
            raise SelectorError("invalid label selector term %r" % term.strip())
        negate, key, op, value = match.groups()
        if op is None:
            if bool(negate) == (key in labels):
                return False
        elif negate:
            raise SelectorError("invalid label selector term %r" % term.strip())
        elif op in ("=", "=="):
            if labels.get(key) != value:
                return False
        elif key in labels and labels[key] == value:
            return False
    return True


def _field(obj, path):
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    return str(value)


def match_fields(selector, obj):
    for term in _split(selector):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise SelectorError("invalid field selector term %r" % term.strip())
        path, op, value = match.groups()
        have = _field(obj, path)
        if (op == "!=") == (have == value):
            return False
    return True
