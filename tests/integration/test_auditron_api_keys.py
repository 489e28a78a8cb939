"""auditron_api_key(_info) and auditron_layout_info against real PostgreSQL holding both "ApiKey" shapes, and the
AUDITRON simulator in both layouts (runbook: the admin revoke route; auditron_code: no admin routes)."""

import pytest

from harness.auditronsim import AuditronSimulator
from harness.auditronsim import schema as auditron_schema

LAYOUTS = ("runbook", "auditron_code")


@pytest.fixture(scope="module")
def sims(pg_server, redis_server, redis_db):
    started = {}
    try:
        for layout, db in zip(LAYOUTS, ("auditron_keys_rb", "auditron_keys_code")):
            started[layout] = AuditronSimulator(layout, pg=pg_server, redis=redis_server, redis_db=redis_db, dbname=db,
                                                seed=True).start()
        yield started
    finally:
        for sim in started.values():
            sim.cleanup()


@pytest.fixture(params=LAYOUTS)
def sim(request, sims):
    return sims[request.param]


def active(sim, key_id):
    return sim.sql('SELECT active FROM "ApiKey" WHERE id = %s', (key_id,), fetch="one")[0]


def revoke_args(sim, **extra):
    args = sim.pg_args(**sim.api_args())
    args.pop("api_url"), args.pop("api_token"), args.pop("api_backoff")
    args.update(auditron_url=sim.url, auditron_token=sim.token, auditron_backoff=0.01)
    args.update(extra)
    return args


def test_keys_by_age_for_rotation(run_module, sim):
    keys = sim.seed_summary["api_keys"]
    listed = run_module("auditron_api_key_info", sim.pg_args())
    assert not listed.changed and not listed["truncated"]
    oldest_first = ("acme-revoked", "acme-ci", "acme-old", "globex-main", "acme-new")
    assert [k["id"] for k in listed["api_keys"]] == [keys[n] for n in oldest_first]
    assert listed["rotation_due"] == [keys["acme-ci"], keys["acme-old"], keys["globex-main"]]
    assert listed["api_keys"][1]["age_days"] > 199 and listed["api_keys"][1]["last_used_at"]
    assert ("disabled_at" in listed["api_keys"][0]) == (sim.layout == "auditron_code")
    assert "hashedKey" not in listed["_stdout"] and "sha256:" not in listed["_stdout"]
    acme = sim.seed_summary["organizations"]["acme"]
    narrowed = run_module("auditron_api_key_info", sim.pg_args(org_id=acme, active_only=True, max_age_days=150, limit=2))
    assert [k["name"] for k in narrowed["api_keys"]] == ["ci", "old integration"] and narrowed["truncated"]
    assert narrowed["rotation_due"] == [keys["acme-ci"]]
    assert "limit must be between 1 and 10000" in run_module("auditron_api_key_info", sim.pg_args(limit=0))["msg"]


def test_revoke_one_key(run_module, sim):
    key = sim.seed_summary["api_keys"]["acme-old"]
    args = revoke_args(sim, key_ids=[key])
    check = run_module("auditron_api_key", args, check_mode=True, diff=True)
    assert check.changed and check["revoked"] == [key] and check["diff"]["after"] == {key: False}
    assert active(sim, key) is True, "check mode revoked the key"
    real = run_module("auditron_api_key", args)
    assert real.changed and real["revoked"] == [key] and real["via"] == ("api" if sim.layout == "runbook" else "database")
    assert active(sim, key) is False
    if sim.layout == "auditron_code":
        assert sim.sql('SELECT "disabledAt" IS NOT NULL FROM "ApiKey" WHERE id = %s', (key,), fetch="one")[0]
        refused = run_module("auditron_api_key", revoke_args(sim, key_ids=[key], via="api"))
        assert refused.failed and "no API-key revoke route" in refused["msg"]
    else:  # the runbook's SQL revokes just as well
        other = sim.seed_summary["api_keys"]["acme-ci"]
        assert run_module("auditron_api_key", revoke_args(sim, key_ids=[other], via="database")).changed
        assert active(sim, other) is False
    again = run_module("auditron_api_key", args)
    assert not again.changed and again["already_revoked"] == [key] and again["revoked"] == []


def test_revoke_every_key_of_an_organisation(run_module, sim):
    globex = sim.seed_summary["organizations"]["globex"]
    conn = sim.pg.connect(sim.dbname)
    try:
        extra = [auditron_schema.add_api_key(conn, sim.layout, globex, "extra-%d" % n) for n in range(2)]
    finally:
        conn.close()
    capped = run_module("auditron_api_key", revoke_args(sim, org_id=globex, max_keys=2))
    assert capped.failed and "max_keys=2" in capped["msg"] and all(active(sim, k) for k in extra)
    real = run_module("auditron_api_key", revoke_args(sim, org_id=globex))
    assert real.changed and sorted(real["revoked"]) == sorted(extra + [sim.seed_summary["api_keys"]["globex-main"]])
    assert sim.sql('SELECT count(*) FROM "ApiKey" WHERE active', fetch="one")[0] >= 1  # acme's keys untouched
    assert not run_module("auditron_api_key", revoke_args(sim, org_id=globex)).changed


def test_bad_input_nothing_revoked(run_module, sims):
    sim = sims["auditron_code"]
    key = sim.seed_summary["api_keys"]["acme-new"]
    both = run_module("auditron_api_key", revoke_args(sim, key_ids=[key], org_id="x"))
    assert both.failed and "exactly one of key_ids" in both["msg"]
    unknown = run_module("auditron_api_key", revoke_args(sim, key_ids=[key, "c-no-such-key"]))
    assert unknown.failed and "No such API key: c-no-such-key" in unknown["msg"] and active(sim, key) is True
    injected = run_module("auditron_api_key", revoke_args(sim, org_id="x' OR '1'='1"))
    assert not injected.failed and not injected.changed and active(sim, key) is True
    wrong_shape = run_module("auditron_api_key", revoke_args(sim, key_ids=[key], layout="runbook", via="database"))
    assert wrong_shape.failed and "organizationId" in wrong_shape["msg"] and "layout=auditron_code" in wrong_shape["msg"]
    no_table = run_module("auditron_api_key_info", sim.pg_args(pg_database="postgres"))
    assert no_table.failed and "No ApiKey table" in no_table["msg"]


def test_layout_probe_tells_the_layouts_apart(run_module, sims):
    for layout, sim in sims.items():
        args = revoke_args(sim, sources=["api", "postgres", "redis"], layout="runbook")
        args.update(redis_host="127.0.0.1", redis_port=sim.redis_server.port, redis_db=sim.redis_db)
        probe = run_module("auditron_layout_info", args)
        assert not probe.changed and probe["layout"] == layout, probe["signals"]
        assert probe["votes"][layout] == 3 and probe["configured_layout_matches"] == (layout == "runbook")
        verdicts = {p["procedure"].split(" ")[0]: p["verdict"] for p in probe["procedures"]}
        assert verdicts["Queue"] == ("effective" if layout == "runbook" else "different")
    dead_api = run_module("auditron_layout_info", revoke_args(sims["auditron_code"], sources=["api", "postgres"],
                                                              auditron_url="http://127.0.0.1:1", auditron_retries=0))
    assert dead_api["layout"] == "auditron_code" and "api" in dead_api["errors"]
    nothing = run_module("auditron_layout_info", revoke_args(sims["runbook"], sources=["api"], auditron_url="http://127.0.0.1:1",
                                                             auditron_retries=0))
    assert nothing.failed and "No source could be probed" in nothing["msg"]
