"""SARK API simulator for the sark.ops tests and demo (both layouts of shared/spec/sark-contract.md).

    from harness.servers import PostgresServer, RedisServer
    from harness.sarksim import SarkSimulator

    with PostgresServer() as pg, RedisServer() as rs, SarkSimulator("sark_v2", pg=pg, redis=rs, seed=True) as sim:
        httpx.get(sim.url + "/health/detailed")
        client = sim.client()          # bearer admin token and (sark_v2) a CSRF cookie+header pair
"""

import contextlib
import secrets

from harness.servers import LOOPBACK, Simulator

from . import schema
from .auth import CSRF_COOKIE, CSRF_HEADER, csrf_headers, make_token, new_csrf_token
from .config import LAYOUTS, SimConfig, admin_id

__all__ = ["SarkSimulator", "simulators", "SimConfig", "make_token", "csrf_headers", "new_csrf_token", "admin_id", "LAYOUTS"]


class SarkSimulator(Simulator):
    """`python -m harness.sarksim` as a subprocess (own process group, log file, stopped by PID).

    pg/redis: a PostgresServer and RedisServer from harness.servers, or give pg_dsn_sark,
    pg_dsn_audit and redis_url directly. With a PostgresServer the schema is installed into
    `sark_db`/`audit_db` first (install_schema=False skips it) and `seed=True` adds the demo data
    (its summary lands in `seed_summary`). Rate limits default to the contract's (user 5000/h,
    API key 1000/h, IP 100/h): a run that registers 10,000 servers with one token needs
    rate_limit_user raised (or POST /_sim/config) unless it is testing the 429 path.
    Attributes: url, token (admin JWT, `sub` = admin_id), layout, jwt_secret, pid, log_path.
    """

    name = "sarksim"

    def __init__(self, layout="runbook", pg=None, redis=None, pg_dsn_sark=None, pg_dsn_audit=None, redis_url=None,
                 redis_db=0, jwt_secret=None, opa_url=None, version=None, sark_db="sark", audit_db="sark_audit",
                 install_schema=True, seed=False, extra_args=None, workdir=None, port=None, token_ttl=12 * 3600,
                 rate_limit_user=None, rate_limit_api_key=None, rate_limit_ip=None, rate_limit_enabled=True,
                 opa_bug=True):
        super().__init__(workdir, port)
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s" % ", ".join(LAYOUTS))
        self.layout = layout
        self.pg = pg
        # the stores, for tests that read them directly
        self.pg_server, self.redis_server, self.redis_db = pg, redis, redis_db
        self.sark_db = sark_db
        self.audit_db = audit_db
        self.pg_dsn_sark = pg_dsn_sark or (pg.dsn(sark_db) if pg is not None else None)
        self.pg_dsn_audit = pg_dsn_audit or (pg.dsn(audit_db) if pg is not None else None)
        if redis_url is None and redis is not None:
            auth = ":%s@" % redis.password if getattr(redis, "password", None) else ""
            redis_url = "redis://%s%s:%d/%d" % (auth, LOOPBACK, redis.port, redis_db)
        self.redis_url = redis_url
        if not (self.pg_dsn_sark and self.pg_dsn_audit and self.redis_url):
            raise ValueError("give pg= (or both pg_dsn_*) and redis= (or redis_url)")
        self.jwt_secret = jwt_secret or secrets.token_urlsafe(32)
        self.opa_url = opa_url
        self.version = version
        self.install_schema = install_schema
        self.seed = seed
        self.seed_summary = None
        self.extra_args = list(extra_args or [])
        self.rate_limits = {"--rate-limit-user": rate_limit_user, "--rate-limit-api-key": rate_limit_api_key,
                            "--rate-limit-ip": rate_limit_ip}
        self.rate_limit_enabled = rate_limit_enabled
        self.opa_bug = opa_bug
        self.token_ttl = token_ttl
        self.admin_id = admin_id(layout)
        self.token = make_token(self.jwt_secret, self.admin_id, is_admin=True, ttl=token_ttl,
                                email="admin@example.com")

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def argv(self):
        """The arguments after `python -m harness.sarksim`."""
        # DSNs, Redis URL and JWT secret travel in the environment (see spawn), not where ps shows them
        argv = ["--layout", self.layout, "--host", self.host, "--port", str(self.port)]
        if self.opa_url:
            argv += ["--opa-url", self.opa_url]
        if self.version:
            argv += ["--version", self.version]
        for option, value in self.rate_limits.items():
            if value is not None:
                argv += [option, str(int(value))]
        if not self.rate_limit_enabled:
            argv.append("--no-rate-limit")
        if not self.opa_bug:
            argv.append("--no-opa-bug")
        return argv + self.extra_args

    def spawn(self):
        """Install/seed as configured and launch the process without waiting (see wait_ready)."""
        if self.pg is not None and (self.install_schema or self.seed):
            schema.install(self.pg, self.layout, sark_db=self.sark_db, audit_db=self.audit_db)
        if self.pg is not None and self.seed:
            self.seed_summary = schema.seed(self.pg, self.layout, sark_db=self.sark_db, audit_db=self.audit_db)
        self.spawn_module(self.argv(), env={"SARKSIM_JWT_SECRET": self.jwt_secret, "SARKSIM_PG_DSN_SARK": self.pg_dsn_sark,
                                            "SARKSIM_PG_DSN_AUDIT": self.pg_dsn_audit, "SARKSIM_REDIS_URL": self.redis_url})
        return self

    def wait_ready(self, timeout=30):
        probe = self.url + ("/health" if self.layout == "runbook" else "/health/live")
        return self.wait_answering([probe], timeout, "port %d" % self.port)

    def start(self):
        return self.spawn().wait_ready()

    def make_token(self, sub=None, is_admin=True, ttl=3600, **claims):
        return make_token(self.jwt_secret, sub or self.admin_id, is_admin=is_admin, ttl=ttl, **claims)

    def headers(self, token=None, csrf=True):
        """Authorization plus, for sark_v2, a CSRF cookie/header pair."""
        headers = {"Authorization": "Bearer %s" % (token or self.token)}
        if csrf and self.layout == "sark_v2":
            headers.update(csrf_headers())
        return headers

    def client(self, token=None, csrf=True, **kwargs):
        """An httpx.Client on this simulator: bearer token and, for sark_v2, a CSRF pair whose cookie sits in
        the client's cookie jar (httpx drops a hand-set Cookie header when it follows a redirect).
        Redirects are not followed unless asked."""
        import httpx  # pylint: disable=import-outside-toplevel
        headers = self.headers(token, csrf=False)
        cookies = {}
        if csrf and self.layout == "sark_v2":
            pair = new_csrf_token()
            headers[CSRF_HEADER] = pair
            cookies[CSRF_COOKIE] = pair
        return httpx.Client(base_url=self.url, headers=headers, cookies=cookies, timeout=kwargs.pop("timeout", 10),
                            **kwargs)

    def redis_client(self, **kwargs):
        """A redis-py client on the simulator's Redis database (decode_responses=True unless given)."""
        import redis  # pylint: disable=import-outside-toplevel
        kwargs.setdefault("decode_responses", True)
        return redis.Redis.from_url(self.redis_url, **kwargs)

    # what tests read and steer (one copy here instead of one per test file)
    def sql(self, query, params=None, audit=False, fetch="all"):
        """Run one statement on the simulator's SARK (or audit) database, autocommit; fetch = all | one | None."""
        return self.pg.query(self.audit_db if audit else self.sark_db, query, params, fetch)

    def api_args(self, **extra):
        """The API connection options of the collection's modules for this simulator (fast retries)."""
        args = {"api_url": self.url, "api_token": self.token, "layout": self.layout, "api_backoff": 0.01}
        args.update(extra)
        return args

    def pg_args(self, **extra):
        """The PostgreSQL connection options of the collection's modules for the SARK database."""
        args = {"pg_host": "127.0.0.1", "pg_port": self.pg.port, "pg_user": "postgres", "pg_password": self.pg.password,
                "pg_database": self.sark_db, "pg_sslmode": "disable"}
        args.update(extra)
        return args

    def requests_log(self, path_prefix=None, method=None):
        """The simulator's log of API requests (oldest first), optionally under a path prefix / for a method."""
        import httpx  # pylint: disable=import-outside-toplevel
        params = {k: v for k, v in (("path_prefix", path_prefix), ("method", method)) if v}
        return httpx.get(self.url + "/_sim/requests", params=params, timeout=10).json()["requests"]

    def add_fault(self, **spec):
        """Inject a fault (see README: path_prefix, status, count, delay_seconds, retry_after, ...)."""
        import httpx  # pylint: disable=import-outside-toplevel
        httpx.post(self.url + "/_sim/faults", json=spec, timeout=10).raise_for_status()

    def reset(self):
        """Drop every fault and the request log."""
        import httpx  # pylint: disable=import-outside-toplevel
        httpx.post(self.url + "/_sim/reset", timeout=10).raise_for_status()

    def describe(self):
        info = super().describe()
        info.update({"layout": self.layout, "url": self.url, "redis_url": self.redis_url,
                     "sark_db": self.sark_db, "audit_db": self.audit_db})
        return info


@contextlib.contextmanager
def simulators(pg, redis, dbs, rate_limit_enabled=None):
    """One seeded simulator per layout, started side by side; yields {layout: simulator}.

    dbs maps a layout to (sark database, audit database, Redis db). Each simulator carries redis_db,
    pg_server and redis_server for the tests that read its stores directly. rate_limit_enabled=False turns the
    runbook layout's rate limiting off (bulk tests would hit the 5000/hour user limit; sark_v2 has none).
    """
    started = {}
    try:
        for layout, (sark_db, audit_db, redis_db) in dbs.items():
            sim = SarkSimulator(layout, pg=pg, redis=redis, redis_db=redis_db, sark_db=sark_db, audit_db=audit_db, seed=True)
            started[layout] = sim
        for sim in started.values():
            sim.spawn()
        for sim in started.values():
            sim.wait_ready()
            if rate_limit_enabled is not None:
                import httpx  # pylint: disable=import-outside-toplevel
                httpx.post(sim.url + "/_sim/config", json={"rate_limit_enabled": rate_limit_enabled}, timeout=10).raise_for_status()
        yield started
    finally:
        for sim in started.values():
            sim.cleanup()
