# Copyright: sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.platform_checks import (
    auditron_health_check, auditron_queue_check, platform_checks, platform_health_check,
)


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


# --- AUDITRON ---------------------------------------------------------------------------------------------------

PLAIN = {"name": "auditron-api", "path": "/health", "shape": "auditron_plain"}
DETAILED = {"name": "auditron-api-detailed", "path": "/health/detailed", "shape": "auditron_detailed"}


def uri(item, status, body=None, msg=""):
    result = {"item": item, "status": status, "msg": msg}
    if body is not None:
        result["json"] = body
    return result


def detailed_body(status, **checks):
    base = {"database": "up", "redis": "up", "minio": "up", "queue": "up", "memory": "up", "disk": "up"}
    base.update(checks)
    return {"status": status, "checks": dict((k, {"status": v}) for k, v in base.items())}


@pytest.mark.parametrize("http, body, expected, named", [
    (200, detailed_body("healthy"), "OK", None),
    (200, detailed_body("degraded", minio="down"), "WARNING", "minio down"),
    (503, detailed_body("unhealthy", redis="down"), "CRITICAL", "redis down"),
    (401, {"error": "Unauthorized"}, "UNKNOWN", "token was refused"),
])
def test_auditron_detailed_health(http, body, expected, named):
    check = auditron_health_check({"results": [uri(PLAIN, 200, {"status": "ok"}), uri(DETAILED, http, body)]})
    assert check["id"] == "platform_health" and check["verdict"] == expected, check
    if named:
        assert named in check["reason"]
    assert check["details"]["services"]["auditron-api"]["status"] == "up"


def test_auditron_plain_health_only_says_it_checks_nothing():
    check = auditron_health_check({"results": [uri(PLAIN, 200, {"status": "ok", "timestamp": "x"})]})
    assert check["verdict"] == "OK" and "checks no dependency" in check["reason"]
    assert check["details"]["dependencies_checked"] is False


@pytest.mark.parametrize("result", [uri(PLAIN, -1, msg="Connection refused"), uri(PLAIN, 502, {"error": "bad gateway"})])
def test_auditron_api_down_is_critical(result):
    check = auditron_health_check({"results": [result]})
    assert check["verdict"] == "CRITICAL" and "auditron-api down" in check["reason"]


def test_auditron_health_not_read_is_unknown():
    assert auditron_health_check({})["verdict"] == "UNKNOWN"
    assert auditron_health_check({"skipped": True, "results": []})["verdict"] == "UNKNOWN"


def queue(waiting=3, failed=0, dead=0, paused=False, threshold=100, via="bullmq"):
    jobs = waiting
    return {"via": via, "queue": "agentic-jobs", "paused": paused,
            "counts": {"waiting": waiting, "active": 0, "completed": 10, "failed": failed, "delayed": 0, "paused": 0},
            "backlog": {"jobs": jobs, "threshold": threshold, "exceeded": jobs > threshold},
            "dead_letter": {"queue": "dead-letter", "count": dead}, "failed_jobs": []}


@pytest.mark.parametrize("result, expected, named", [
    (queue(), "OK", None),
    (queue(waiting=100), "OK", None),
    (queue(waiting=101), "WARNING", "backlog 101 jobs above 100"),
    (queue(failed=2), "WARNING", "2 failed jobs"),
    (queue(dead=1), "WARNING", "1 jobs in the dead-letter queue"),
    (queue(paused=True), "WARNING", "queue paused"),
])
def test_auditron_queue_verdicts(result, expected, named):
    check = auditron_queue_check(result)
    assert check["id"] == "queue_backlog" and check["verdict"] == expected, check
    assert check["figure"] == result["backlog"]["jobs"]
    if named:
        assert named in check["reason"]


@pytest.mark.parametrize("result", [{}, {"skipped": True}, {"failed": True, "msg": "Redis unreachable: 127.0.0.1:1"}])
def test_auditron_queue_not_read_is_unknown(result):
    check = auditron_queue_check(result)
    assert check["verdict"] == "UNKNOWN"
    if result.get("msg"):
        assert "Redis unreachable" in check["reason"]
