"""plugins/module_utils/_rsp_certificates.py: Certificate facts, the renewal decision, cmctl renew's condition, the verdict."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError
from ansible_collections.sark.ops.plugins.module_utils import _rsp_certificates as c

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def cert(name="auth-service-tls", days=60.0, ready=True, issuing=None, revision=1):
    conditions = [{"type": "Ready", "status": "True" if ready else "False", "reason": "Ready" if ready else "DoesNotExist",
                   "message": "Certificate is up to date and has not expired" if ready else "Issuing certificate as Secret does not exist"}]
    if issuing:
        conditions.append({"type": "Issuing", "status": "True", "reason": issuing})
    status = {"conditions": conditions, "revision": revision}
    if days is not None:
        status["notAfter"] = c.iso(NOW + datetime.timedelta(days=days))
    return {"metadata": {"name": name, "namespace": "rust-security", "generation": 3},
            "spec": {"secretName": name, "issuerRef": {"name": "rsp-selfsigned"}}, "status": status}


def test_parse_time_takes_both_formats_and_rejects_junk():
    assert c.parse_time("2026-12-11T22:04:49Z") == datetime.datetime(2026, 12, 11, 22, 4, 49, tzinfo=datetime.timezone.utc)
    assert c.parse_time("20261211220449Z") == c.parse_time("2026-12-11T22:04:49Z")
    assert c.parse_time("2026-12-11T22:04:49+00:00") == c.parse_time("2026-12-11T22:04:49Z")
    for bad in ("", None, "next tuesday", 5):
        with pytest.raises(SarkValidationError):
            c.parse_time(bad)


def test_summary():
    facts = c.summary(cert(days=10, issuing="Renewing", revision=4), NOW)
    assert facts["days_left"] == 10.0 and facts["issuing"] and facts["issuing_reason"] == "Renewing" and facts["revision"] == 4
    assert facts["ready"] and facts["issuer"] == "rsp-selfsigned" and facts["secret_name"] == "auth-service-tls"
    assert c.summary(cert(days=None, ready=False), NOW)["days_left"] is None


def test_renewal_plan():
    assert c.renewal_plan(cert(days=80), NOW) == (True, "renewal asked for")
    assert c.renewal_plan(cert(days=80), NOW, 30) == (False, "expires in 80.0 days, later than 30 days")
    assert c.renewal_plan(cert(days=10), NOW, 30) == (True, "expires in 10.0 days (renew within 30)")
    assert c.renewal_plan(cert(days=30), NOW, 30)[0] is True  # the boundary renews
    assert c.renewal_plan(cert(days=None, ready=False), NOW, 30) == (True, "the Certificate has no notAfter yet")
    renew, why = c.renewal_plan(cert(days=5, issuing="ManuallyTriggered"), NOW)
    assert not renew and "already in progress" in why


def test_with_issuing_is_what_cmctl_renew_sets_and_leaves_the_input_alone():
    old = cert(days=5, issuing=None)
    new = c.with_issuing(old, NOW)
    assert [x["type"] for x in old["status"]["conditions"]] == ["Ready"]
    issuing = [x for x in new["status"]["conditions"] if x["type"] == "Issuing"]
    assert issuing == [{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                        "message": "Certificate re-issuance manually triggered", "lastTransitionTime": "2026-12-01T12:00:00Z",
                        "observedGeneration": 3}]
    # a finished (False) Issuing condition is replaced, never doubled
    old["status"]["conditions"].append({"type": "Issuing", "status": "False", "reason": "Failed"})
    assert [x["type"] for x in c.with_issuing(old, NOW)["status"]["conditions"]] == ["Ready", "Issuing"]


@pytest.mark.parametrize("days, ready, issuing, verdict", [
    (60, True, None, "OK"),
    (30.5, True, None, "OK"),
    (30, True, None, "WARNING"),
    (8, True, None, "WARNING"),
    (7, True, None, "CRITICAL"),
    (-1, True, None, "CRITICAL"),
    (60, False, None, "CRITICAL"),
    (60, True, "Renewing", "WARNING"),
    (None, False, "DoesNotExist", "CRITICAL"),
])
def test_check_thresholds(days, ready, issuing, verdict):
    result = c.check([cert(days=days, ready=ready, issuing=issuing)], now=c.iso(NOW))
    assert result["verdict"] == verdict
    assert result["certificates"][0]["verdict"] == verdict
    assert (result["certificates"][0]["reasons"] == []) == (verdict == "OK")


def test_check_served_certificates():
    crt = cert(days=89)
    stale = {"certificate": "auth-service-tls", "endpoint": "127.0.0.1:8443",
             "not_after": (NOW + datetime.timedelta(days=10)).strftime("%Y%m%d%H%M%SZ")}
    result = c.check([crt], served=[stale], now=c.iso(NOW))
    item = result["certificates"][0]
    assert result["verdict"] == "WARNING"
    assert item["served"][0]["days_left"] == 10.0
    assert any("serves an older certificate" in r for r in item["reasons"])
    assert any("expires in 10.0 days" in r for r in item["reasons"])
    same = dict(stale, not_after=crt["status"]["notAfter"])
    assert c.check([crt], served=[same], now=c.iso(NOW))["verdict"] == "OK"
    down = {"certificate": "auth-service-tls", "endpoint": "127.0.0.1:1", "error": "connection refused"}
    result = c.check([crt], served=[down], now=c.iso(NOW))
    assert result["verdict"] == "CRITICAL" and result["certificates"][0]["reasons"] == ["127.0.0.1:1: no TLS handshake: connection refused"]


def test_check_orders_counts_and_renew_list():
    result = c.check([cert("a", days=60), cert("b", days=3), cert("c", days=20), cert("d", days=20, issuing="Renewing"),
                      cert("e", days=None, ready=False)], now=c.iso(NOW))
    assert [i["name"] for i in result["certificates"]] == ["b", "e", "c", "d", "a"]
    assert result["counts"] == {"OK": 1, "WARNING": 2, "CRITICAL": 2}
    assert result["renew"] == ["b", "c"]
    assert c.check([], now=c.iso(NOW)) == {"verdict": "OK", "counts": {"OK": 0, "WARNING": 0, "CRITICAL": 0},
                                           "certificates": [], "renew": []}


@pytest.mark.parametrize("kwargs, message", [
    ({"warn_days": 5, "critical_days": 7}, "critical_days (7) must not be more than warn_days (5)"),
    ({"warn_days": -1}, "warn_days must be a number of days"),
    ({"critical_days": "7"}, "critical_days must be a number of days"),
    ({"served": [{"certificate": "other", "endpoint": "x", "not_after": "20261211220449Z"}]},
     "served certificates name Certificates that were not read: other"),
    ({"now": "yesterday"}, "now 'yesterday' is not an RFC 3339 time"),
])
def test_check_bad_input(kwargs, message):
    with pytest.raises(SarkValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        c.check([cert()], **kwargs)
    with pytest.raises(SarkValidationError, match="list of Certificate objects"):
        c.check({"items": []})
    with pytest.raises(SarkValidationError, match="metadata.name"):
        c.check([{"status": {}}])
