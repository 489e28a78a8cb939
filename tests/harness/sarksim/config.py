"""Configuration of the SARK API simulator and the fixed identities of its demo data."""

import dataclasses
from typing import Optional

LAYOUTS = ("runbook", "sark_v2")

# Demo identities: the admin token of a SarkSimulator names these users, and schema.seed() creates them.
RUNBOOK_ADMIN_ID = "user-admin"
SARK_V2_ADMIN_ID = "00000000-0000-4000-8000-000000000001"

DEFAULT_VERSIONS = {"runbook": "1.0.0", "sark_v2": "2.0.0"}


def admin_id(layout):
    """The user id the default admin token of a layout carries as `sub`."""
    return RUNBOOK_ADMIN_ID if layout == "runbook" else SARK_V2_ADMIN_ID


@dataclasses.dataclass
class SimConfig:
    """Everything create_app() needs. DSNs are libpq strings; redis_url is a redis:// URL."""

    layout: str
    pg_dsn_sark: str
    pg_dsn_audit: str
    redis_url: str
    jwt_secret: str
    opa_url: Optional[str] = None
    version: Optional[str] = None
    environment: str = "development"
    # SARK 2.x reports OPA unhealthy whatever OPA does (its health check calls a method the
    # client it builds does not have); set False to judge OPA for real.
    opa_bug: bool = True
    # runbook only: SARK 2.x has a rate-limit middleware in its code but does not wire it, so a sark_v2
    # simulator never rate-limits and never writes rate_limit:* keys (this is forced off there)
    rate_limit_enabled: bool = True
    rate_limit_user: int = 5000        # per hour
    rate_limit_api_key: int = 1000     # per hour (kept for the CLI; nothing uses it while sark_v2 is unwired)
    rate_limit_ip: int = 100           # per hour (likewise)
    policy_cache_ttl: int = 120
    pool_size: int = 10
    request_log_size: int = 2000
    redis_timeout: float = 2.0
    opa_timeout: float = 2.0

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError("layout must be one of %s, not %r" % (", ".join(LAYOUTS), self.layout))
        if not self.jwt_secret:
            raise ValueError("jwt_secret must not be empty")
        if not self.version:
            self.version = DEFAULT_VERSIONS[self.layout]
        if self.opa_url:
            self.opa_url = self.opa_url.rstrip("/")
        if self.layout == "sark_v2":
            self.rate_limit_enabled = False

    @classmethod
    def from_dict(cls, values):
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError("unknown config fields: %s" % ", ".join(sorted(unknown)))
        return cls(**values)

    # fields that POST /_sim/config may change at run time
    MUTABLE = ("opa_url", "opa_bug", "rate_limit_enabled", "rate_limit_user", "rate_limit_api_key",
               "rate_limit_ip", "policy_cache_ttl")

    def public(self):
        """The configuration without the JWT secret and DSN passwords."""
        return {"layout": self.layout, "version": self.version, "environment": self.environment,
                "opa_url": self.opa_url, "opa_bug": self.opa_bug,
                "rate_limit_enabled": self.rate_limit_enabled, "rate_limit_user": self.rate_limit_user,
                "rate_limit_api_key": self.rate_limit_api_key, "rate_limit_ip": self.rate_limit_ip,
                "policy_cache_ttl": self.policy_cache_ttl}
