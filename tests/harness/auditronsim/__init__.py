"""AUDITRON API simulator for the sark.ops tests and demo (both layouts of shared/spec/platforms-contract.md).

    from harness.servers import PostgresServer, RedisServer
    from harness.auditronsim import AuditronSimulator

    with PostgresServer() as pg, RedisServer() as rs, AuditronSimulator("runbook", pg=pg, redis=rs, seed=True) as sim:
        sim.url, sim.token (admin JWT), sim.seed_summary (organisation and API-key ids)
"""

import secrets

import jwt

from harness.servers import LOOPBACK, Simulator

from . import schema
from .schema import LAYOUTS

__all__ = ["AuditronSimulator", "LAYOUTS", "make_token"]


def make_token(secret, sub="admin", role="ADMIN", **claims):
    """AUDITRON's JWT: HS256 with JWT_SECRET and no expiry (the code sets none)."""
    payload = {"userId": sub, "role": role}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


class AuditronSimulator(Simulator):
    """`python -m harness.auditronsim` as a subprocess (own process group, stopped by PID).

    pg: a harness PostgresServer (the database `dbname` gets the layout's schema, and `seed=True` the demo rows);
    redis: a harness RedisServer (database redis_db holds the BullMQ queues)."""

    name = "auditronsim"

    def __init__(self, layout="runbook", pg=None, redis=None, redis_db=0, dbname="auditron", seed=False,
                 jwt_secret=None, minio_url=None, workdir=None, port=None):
        super().__init__(workdir, port)
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s" % ", ".join(LAYOUTS))
        self.layout, self.pg, self.redis_server, self.redis_db, self.dbname = layout, pg, redis, redis_db, dbname
        self.seed, self.seed_summary, self.minio_url = seed, None, minio_url
        auth = ":%s@" % redis.password if getattr(redis, "password", None) else ""
        self.redis_url = "redis://%s%s:%d/%d" % (auth, LOOPBACK, redis.port, redis_db)
        self.jwt_secret = jwt_secret or secrets.token_urlsafe(32)
        self.token = make_token(self.jwt_secret)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        schema.install(self.pg, self.layout, self.dbname)
        if self.seed:
            self.seed_summary = schema.seed(self.pg, self.layout, self.dbname)
        self.spawn_module(["--layout", self.layout, "--host", self.host, "--port", str(self.port), "--workdir", self.workdir],
                          env={"AUDITRONSIM_PG_DSN": self.pg.dsn(self.dbname), "AUDITRONSIM_REDIS_URL": self.redis_url,
                               "AUDITRONSIM_JWT_SECRET": self.jwt_secret, "AUDITRONSIM_MINIO_URL": self.minio_url or ""})
        return self.wait_answering([self.url + "/health"], 30, "port %d" % self.port)

    def sql(self, query, params=None, fetch="all"):
        return self.pg.query(self.dbname, query, params, fetch)

    def api_args(self, **extra):
        args = {"api_url": self.url, "api_token": self.token, "layout": self.layout, "api_backoff": 0.01}
        args.update(extra)
        return args

    def pg_args(self, **extra):
        args = {"pg_host": LOOPBACK, "pg_port": self.pg.port, "pg_user": "postgres", "pg_password": self.pg.password,
                "pg_database": self.dbname, "pg_sslmode": "disable", "layout": self.layout}
        args.update(extra)
        return args

    def redis_args(self, **extra):
        args = {"redis_host": LOOPBACK, "redis_port": self.redis_server.port, "redis_db": self.redis_db,
                "layout": self.layout}
        if getattr(self.redis_server, "password", None):
            args["redis_password"] = self.redis_server.password
        args.update(extra)
        return args

    def describe(self):
        info = super().describe()
        info.update({"layout": self.layout, "url": self.url, "redis_url": self.redis_url, "dbname": self.dbname})
        return info
