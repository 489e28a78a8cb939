# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.platform_checks import platform_checks, platform_health_check


def health(verdict, **extra):
    result = {"verdict": verdict, "summary": "%s: auth-service up (static /health: checks no dependency)" % verdict,
              "verified": False, "dependencies_checked": False,
              "services": {"auth-service": {"status": "up", "route": "/health", "http_status": 200, "note": "static"}}}
    result.update(extra)
    return result


@pytest.mark.parametrize("verdict, expected", [("healthy", "OK"), ("degraded", "WARNING"), ("unhealthy", "CRITICAL"),
                                               ("sideways", "UNKNOWN")])
def test_verdicts(verdict, expected):
    check = platform_health_check(health(verdict), title="RSP service health")
    assert check["id"] == "platform_health" and check["verdict"] == expected and check["title"] == "RSP service health"
    assert check["details"]["services"]["auth-service"]["route"] == "/health"


def test_the_reason_says_what_was_not_checked():
    check = platform_health_check(health("healthy"))
    assert "checks no dependency" in check["reason"] and check["details"]["dependencies_checked"] is False


UNREAD = [(None, "not configured"), ({}, "not configured"), ({"skipped": True}, "not configured"),
          ({"failed": True, "msg": "layout: bad"}, "could not be read: layout: bad"), ({"changed": False}, "could not be read")]


@pytest.mark.parametrize("result, words", UNREAD)
def test_unread_is_unknown(result, words):
    check = platform_health_check(result)
    assert check["verdict"] == "UNKNOWN" and words in check["reason"]


def test_platform_checks_keeps_the_profile_ids_in_order():
    checks = [{"id": i} for i in ("pods_not_running", "database_size", "redis_memory", "session_count", "platform_health")]
    assert [c["id"] for c in platform_checks(checks, ["platform_health", "redis_memory", "pods_not_running"])] == [
        "pods_not_running", "redis_memory", "platform_health"]
    with pytest.raises(AnsibleFilterError):
        platform_checks(checks, "redis_memory")
