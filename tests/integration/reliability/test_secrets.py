"""No secret in any output, result, exception text or written file, whatever its shape (issue #9, 8 and the proof suite).

All 20 modules run in one play through ansible-runner at -vvv against real servers (Redis with a password, PostgreSQL
with SCRAM, the SARK simulator, the OPA server with a token, Prometheus, Alertmanager and a webhook receiver), once with
well-formed secrets and twice with malformed ones: a trailing newline, surrounding spaces, CR/LF at the end and inside,
non-ASCII characters. Everything the run printed or recorded (stdout, every job event, the artifacts) and every file the
modules wrote is scanned for each secret as given, stripped, split at its line breaks, escaped (repr/JSON) and URL- or
base64-encoded.
"""

import base64
import json
import os
import re
from urllib.parse import quote, quote_plus

import pytest

from harness.opa_server import OpaServer
from harness.sarksim import SarkSimulator
from harness.servers import AlertmanagerServer, PrometheusServer, RedisServer
from harness.webhook_receiver import WebhookReceiver

PG_PASSWORD = "sark-test-pw"  # the session PostgreSQL's (tests/integration/conftest.py)
REDIS_PASSWORD = "Redis-S3cret-Passw0rd-4711"
OPA_TOKEN = "Opa-S3cret-Token-0815-abcdef"
PROMETHEUS_TOKEN = "Prometheus-S3cret-Token-88"
ALERTMANAGER_TOKEN = "Alertmanager-S3cret-Token-77"
WEBHOOK_TOKEN = "Webhook-S3cret-Token-99-xyz"
WEBHOOK_PATH = "/hooks/Hook-S3cretPath-1234"
SLACK_PATH = "/slack/services/T0/B0/Slack-S3cretPath-5678"
ROUTING_KEY = "Pd0RoutingKey0S3cret0123456789ab"  # 32 characters
HEADER_SECRET = "Header-S3cret-Value-31-qwerty"
USER_PASSWORD = "User-Passw0rd-S3cret-42!"
SIM_DB, SIM_AUDIT = "secrets_sark", "secrets_audit"

SHAPES = {
    "well_formed": lambda s: s,
    "trailing_newline": lambda s: s + "\n",
    "spaces": lambda s: "  " + s + "  ",
    "crlf_end": lambda s: s + "\r\n",
    "crlf_inside": lambda s: s[:9] + "\r\n" + s[9:],
    "unicode": lambda s: s + "\u00e9\u2019",
}
# the malformed runs give each secret a different shape, rotating, so every family meets every shape across the runs
MALFORMED_RUNS = [["trailing_newline", "spaces", "crlf_end", "crlf_inside", "unicode"],
                  ["crlf_inside", "unicode", "trailing_newline", "spaces", "crlf_end"]]


def secret_forms(secret):
    pieces = {secret, secret.strip()} | {p for p in re.split(r"[\r\n]+", secret) if len(p.strip()) >= 8}
    out = set()
    for text in pieces:
        raw = text.encode("utf-8")
        b64 = base64.b64encode(raw).decode("ascii")
        out.update({text, text.strip(), repr(text)[1:-1], json.dumps(text)[1:-1], repr(raw)[2:-1], quote(text, safe=""),
                    quote_plus(text), quote(text), b64, b64.rstrip("="), base64.urlsafe_b64encode(raw).decode("ascii")})
    return {f for f in out if len(f.strip()) >= 8}


@pytest.fixture(scope="module")
def servers(pg_server):
    with RedisServer(password=REDIS_PASSWORD) as redis, OpaServer(token=OPA_TOKEN) as opa, WebhookReceiver() as hook, \
            AlertmanagerServer() as am, PrometheusServer(alertmanager_port=am.port) as prom:
        with SarkSimulator("runbook", pg=pg_server, redis=redis, redis_db=3, sark_db=SIM_DB, audit_db=SIM_AUDIT) as sim:
            yield {"redis": redis, "opa": opa, "hook": hook, "am": am, "prom": prom, "sim": sim, "pg": pg_server}


def secrets_for(servers, shapes):
    """name -> (value as given to the modules, the well-formed secret)."""
    base = {"api_token": servers["sim"].token, "pg_password": PG_PASSWORD, "redis_password": REDIS_PASSWORD,
            "opa_token": OPA_TOKEN, "prometheus_token": PROMETHEUS_TOKEN, "alertmanager_token": ALERTMANAGER_TOKEN,
            "webhook_token": WEBHOOK_TOKEN, "webhook_url": servers["hook"].url + WEBHOOK_PATH,
            "slack_url": servers["hook"].url + SLACK_PATH, "routing_key": ROUTING_KEY, "header": HEADER_SECRET,
            "user_password": USER_PASSWORD}
    out = {}
    for index, (name, value) in enumerate(sorted(base.items())):
        shape = shapes[index % len(shapes)]
        out[name] = (SHAPES[shape](value), value, shape)
    return out


# a secret URL's secret is its path: the scan looks for that part (the origin is no secret and is shown on purpose)
URL_SECRET_PARTS = {"webhook_url": WEBHOOK_PATH.rsplit("/", 1)[1], "slack_url": SLACK_PATH.rsplit("/", 1)[1]}


def tasks(servers, secrets, work):
    s = {name: given for name, (given, _plain, _shape) in secrets.items()}
    sim, pg = servers["sim"], servers["pg"]
    api = {"api_url": sim.url, "api_token": s["api_token"], "api_retries": 0}
    redis = {"redis_host": "127.0.0.1", "redis_port": servers["redis"].port, "redis_password": s["redis_password"], "redis_db": 3}
    pgc = {"pg_host": pg.host, "pg_port": pg.port, "pg_user": "postgres", "pg_password": s["pg_password"], "pg_sslmode": "disable"}
    opa = {"opa_url": servers["opa"].url, "opa_token": s["opa_token"], "opa_retries": 0}
    prom = {"prometheus_url": servers["prom"].url, "prometheus_token": s["prometheus_token"], "prometheus_retries": 0}
    am = {"alertmanager_url": servers["am"].url, "alertmanager_token": s["alertmanager_token"], "alertmanager_retries": 0}
    hook = {"webhook_token": s["webhook_token"], "webhook_retries": 0, "webhook_headers": {"X-Api-Key": s["header"]}}
    out = [
        ("sark_health", dict(api)),
        ("sark_redis_info", dict(redis)),
        ("sark_session_info", dict(redis, user_id="alice")),
        ("sark_ratelimit_info", dict(redis, subject="alice")),
        ("sark_siem_queue", dict(redis, state="export", list="failed", path=os.path.join(work, "failed.jsonl"))),
        ("sark_siem_breaker_info", dict(redis)),
        ("sark_cache", dict(redis, target="decisions", user_id="alice")),
        ("sark_pg_info", dict(pgc)),
        ("sark_pg_maintenance", dict(pgc, state="analyze", pg_database=SIM_DB)),
        ("sark_pg_backup", dict(pgc, databases=[SIM_DB], backup_dir=os.path.join(work, "backups"))),
        ("sark_audit_info", dict(pgc, pg_database=SIM_AUDIT)),
        ("sark_user", dict(api, name="secretuser", email="secretuser@example.com", password=s["user_password"])),
        ("sark_user_info", dict(api)),
        ("sark_server", dict(api, name="secret-srv", endpoint="http://127.0.0.1:9/mcp")),
        ("sark_server_info", dict(api, export_path=os.path.join(work, "servers.csv"))),
        ("sark_opa_policy_info", dict(opa)),
        ("sark_alert_info", dict(prom, **am)),
        ("sark_alert_silence", dict(am, matchers=[{"name": "alertname", "value": "SecretsTest"}], comment="secrets test",
                                    duration="10m")),
        ("sark_notify", dict(api, **dict(hook, target="webhook", webhook_url=s["webhook_url"], text="secrets test"))),
        ("sark_notify", dict(hook, target="slack", webhook_url=s["slack_url"], text="secrets test")),
        ("sark_notify", dict(hook, target="pagerduty", pagerduty_url=servers["hook"].url + "/v2/enqueue",
                             routing_key=s["routing_key"], summary="secrets test")),
        ("sark_contract_info", dict(api, **dict(pgc, **dict(redis, sources=["api", "postgres", "redis"], pg_database=SIM_DB)))),
        ("sark_pg_backend", dict(pgc, state="cancel", application_names=["no-such-app"])),
        ("sark_pg_backup_info", dict(backup_dir=os.path.join(work, "backups"))),
    ]
    return out


def play(task_list):
    items = [{"name": "%02d %s" % (i, name), "sark.ops.%s" % name: args, "ignore_errors": True}
             for i, (name, args) in enumerate(task_list)]
    # JSON is YAML: every secret keeps its exact shape (newlines, CR, unicode) through the parser
    return json.dumps([{"name": "secrets", "hosts": "localhost", "gather_facts": False, "tasks": items}], indent=1)


def scan(texts, secrets):
    """[(where, secret name, shape, form)] for every form of every secret found."""
    found = []
    for name, (given, plain, shape) in secrets.items():
        forms = secret_forms(URL_SECRET_PARTS[name]) if name in URL_SECRET_PARTS else secret_forms(given) | secret_forms(plain)
        for where, text in texts:
            for form in forms:
                if form in text:
                    found.append((where, name, shape, form))
                    break
    return found


def written_files(work):
    out = []
    for root, _dirs, files in os.walk(work):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out.append((path, handle.read().decode("utf-8", errors="replace")))
    return out


def run_and_scan(playbook, servers, shapes, tmp_path):
    work = str(tmp_path / "written")
    os.makedirs(work)
    secrets = secrets_for(servers, shapes)
    task_list = tasks(servers, secrets, work)
    result = playbook(play(task_list), verbosity=3)
    events = list(result.events)
    texts = [("stdout", result.stdout_text)]
    for event in events:
        where = "event %s %s" % (event.get("event"), (event.get("event_data") or {}).get("task", ""))
        texts.append((where, json.dumps(event)))
    artifacts = result.config.artifact_dir
    for root, _dirs, files in os.walk(artifacts):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                texts.append(("artifact " + name, handle.read().decode("utf-8", errors="replace")))
    texts += [("file " + path, text) for path, text in written_files(work)]
    results = {e["event_data"]["task"]: e["event_data"].get("res", {}) for e in events
               if e.get("event") in ("runner_on_ok", "runner_on_failed")}
    return scan(texts, secrets), results, len(task_list), result


def test_well_formed_secrets_never_appear_at_vvv(playbook, servers, tmp_path):
    leaks, results, count, _run = run_and_scan(playbook, servers, ["well_formed"], tmp_path)
    assert len(results) == count  # every module ran
    assert not leaks, leaks[:10]
    # the secrets were real and used: the modules that need them worked
    for task in ("00 sark_health", "01 sark_redis_info", "07 sark_pg_info", "15 sark_opa_policy_info", "18 sark_notify",
                 "20 sark_notify", "09 sark_pg_backup"):
        assert not results[task].get("failed"), (task, results[task].get("msg"))


@pytest.mark.parametrize("shapes", MALFORMED_RUNS, ids=["rotation1", "rotation2"])
def test_malformed_secrets_never_appear_at_vvv(playbook, servers, tmp_path, shapes):
    """Before the fix: `Invalid header value b'Bearer eyJ...\\n'` (the whole token) in the failure of every HTTP module."""
    leaks, results, count, _run = run_and_scan(playbook, servers, shapes, tmp_path)
    assert len(results) == count
    assert not leaks, sorted(set((where, name, shape) for where, name, shape, _form in leaks))[:30]
    for res in results.values():
        assert "sark.ops bug" not in (res.get("msg") or ""), res.get("msg")
