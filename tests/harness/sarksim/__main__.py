"""Run the SARK API simulator: python -m harness.sarksim --layout runbook --port 8000 ... (tests/ on PYTHONPATH)."""

import argparse
import dataclasses
import json
import logging
import os
import sys

import uvicorn
from psycopg2.extensions import make_dsn, parse_dsn

from . import schema
from .app import create_app
from .config import LAYOUTS, SimConfig

CONFIG_ENV = "SARKSIM_CONFIG_JSON"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m harness.sarksim", description=__doc__)
    parser.add_argument("--layout", choices=LAYOUTS, default="runbook")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    env = os.environ.get
    parser.add_argument("--pg-dsn-sark", default=env("SARKSIM_PG_DSN_SARK"),
                        help="libpq DSN of the sark database (default: $SARKSIM_PG_DSN_SARK)")
    parser.add_argument("--pg-dsn-audit", default=env("SARKSIM_PG_DSN_AUDIT"),
                        help="libpq DSN of the sark_audit database (default: $SARKSIM_PG_DSN_AUDIT)")
    parser.add_argument("--redis-url", default=env("SARKSIM_REDIS_URL"),
                        help="redis://127.0.0.1:6379/0 (default: $SARKSIM_REDIS_URL)")
    parser.add_argument("--jwt-secret", default=env("SARKSIM_JWT_SECRET"),
                        help="HS256 secret (default: $SARKSIM_JWT_SECRET)")
    parser.add_argument("--opa-url", default=None)
    parser.add_argument("--version", dest="app_version", default=None, help="version string the API reports")
    parser.add_argument("--environment", default="development")
    parser.add_argument("--no-opa-bug", action="store_true",
                        help="sark_v2: judge OPA for real instead of SARK 2.x's always-unhealthy report")
    parser.add_argument("--rate-limit-user", type=int, default=5000)
    parser.add_argument("--rate-limit-api-key", type=int, default=1000)
    parser.add_argument("--rate-limit-ip", type=int, default=100)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (benchmarks only: /_sim/ faults, request log and config are per worker)")
    parser.add_argument("--install-schema", action="store_true",
                        help="create the two databases (if missing) and apply the layout's schema first")
    parser.add_argument("--seed-demo", action="store_true", help="insert the demo data set first")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    for option, value in (("--pg-dsn-sark", args.pg_dsn_sark), ("--pg-dsn-audit", args.pg_dsn_audit),
                          ("--redis-url", args.redis_url), ("--jwt-secret", args.jwt_secret)):
        if not value:
            parser.error("%s (or its SARKSIM_* environment variable) is required" % option)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sark_db = parse_dsn(args.pg_dsn_sark).get("dbname", "sark")
    audit_db = parse_dsn(args.pg_dsn_audit).get("dbname", "sark_audit")
    if args.install_schema or args.seed_demo:
        def factory(dbname):
            return make_dsn(args.pg_dsn_sark, dbname=dbname)
        schema.install(factory, args.layout, sark_db=sark_db, audit_db=audit_db)
        if args.seed_demo:
            schema.seed(factory, args.layout, sark_db=sark_db, audit_db=audit_db)
    config = SimConfig(layout=args.layout, pg_dsn_sark=args.pg_dsn_sark, pg_dsn_audit=args.pg_dsn_audit,
                       redis_url=args.redis_url, jwt_secret=args.jwt_secret, opa_url=args.opa_url,
                       version=args.app_version, environment=args.environment, opa_bug=not args.no_opa_bug,
                       rate_limit_enabled=not args.no_rate_limit, rate_limit_user=args.rate_limit_user,
                       rate_limit_api_key=args.rate_limit_api_key, rate_limit_ip=args.rate_limit_ip,
                       pool_size=args.pool_size)
    # uvicorn[standard], as SARK runs in production. Not "auto": with several workers uvicorn binds the socket
    # itself (proto 0) and asyncio then leaves TCP_NODELAY off on accepted connections, so every keep-alive
    # response waits ~40 ms for a delayed ACK (h11 writes head and body apart); uvloop always sets it.
    server_options = {"loop": "uvloop", "http": "httptools", "log_level": args.log_level,
                      "access_log": args.access_log}
    if args.workers > 1:
        # uvicorn starts workers from an import string; each rebuilds the app from this environment variable
        os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        uvicorn.run("harness.sarksim.__main__:app_from_environment", factory=True, host=args.host, port=args.port,
                    workers=args.workers, **server_options)
        return 0
    uvicorn.run(create_app(config), host=args.host, port=args.port, workers=1, **server_options)
    return 0


def app_from_environment():
    """The app of one worker of a multi-worker simulator (see --workers)."""
    return create_app(SimConfig(**json.loads(os.environ[CONFIG_ENV])))


if __name__ == "__main__":
    sys.exit(main())
