"""Run the AUDITRON simulator: python -m harness.auditronsim --layout runbook --port 3000 (tests/ on PYTHONPATH).

The PostgreSQL DSN, Redis URL and JWT secret come from AUDITRONSIM_PG_DSN, AUDITRONSIM_REDIS_URL and
AUDITRONSIM_JWT_SECRET (kept out of ps); AUDITRONSIM_MINIO_URL optionally names a MinIO to health-check."""

import argparse
import os
import sys

import uvicorn

from .app import create_app, config_from_env
from .schema import LAYOUTS


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.auditronsim", description=__doc__)
    parser.add_argument("--layout", choices=LAYOUTS, default="runbook")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--workdir", default=os.getcwd())
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = config_from_env(args.layout, args.workdir)
    for name, value in (("AUDITRONSIM_PG_DSN", config.pg_dsn), ("AUDITRONSIM_REDIS_URL", config.redis_url),
                        ("AUDITRONSIM_JWT_SECRET", config.jwt_secret)):
        if not value:
            parser.error("%s is required" % name)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
