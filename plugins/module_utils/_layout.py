# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SARK data contract: where every key, table, column and route lives in each layout (private).

``runbook`` is what the operations runbooks document; ``sark_v2`` is what the SARK 2.x code does
(see docs/layouts.md and the SARK data contract). No module hard-codes a key name, table or route: they ask a Layout.
Every template can be overridden by the user (option ``layout_templates``); an override must
keep the placeholders of the template it replaces, so the code can still fill it in.
"""

import re
import string

from ansible.module_utils.basic import env_fallback

from ansible_collections.sark.ops.plugins.module_utils._module import SarkValidationError

LAYOUT_NAMES = ("runbook", "sark_v2")

# name -> (runbook value, sark_v2 value). None means "this layout has no such thing".
TEMPLATES = {
    # --- Redis keys ---------------------------------------------------------------------------
    "session_key": ("session:user:{user_id}:{session_id}", "session:{session_id}"),
    "user_sessions_key": (None, "user_sessions:{user_id}"),
    "ratelimit_key": ("ratelimit:{kind}:{subject}:{window}", "rate_limit:{kind}:{subject}"),
    "policy_decision_key": ("policy:decision:{user_id}:{action}:{resource}:{context}",
                            "policy:decision:{user_id}:{action}:{resource}:{context}"),
    "policy_version_key": ("policy:version:{policy}", None),
    "siem_queue_key": ("siem:event_queue", None),
    "siem_failed_key": ("siem:failed_events", None),
    "breaker_state_key": ("siem:circuit_breaker:state", None),
    "breaker_failures_key": ("siem:circuit_breaker:failure_count", None),
    "siem_breaker_state_key": ("circuit:{siem}:state", None),
    "siem_breaker_failures_key": ("circuit:{siem}:failure", None),
    # --- PostgreSQL ---------------------------------------------------------------------------
    "app_database": ("sark", "sark"),
    "audit_database": ("sark_audit", "sark_audit"),
    "users_table": ("users", "users"),
    "servers_table": ("servers", "mcp_servers"),
    "tools_table": (None, "mcp_tools"),
    "audit_table": ("audit_events", "audit_events"),
    "audit_time_column": ("time", "timestamp"),
    "policy_evaluations_table": ("policy_evaluations", None),
    "api_keys_table": (None, "api_keys"),
    # the audit event_type label an incident timeline entry is written with (sark_incident_record, audit_db=true)
    "incident_event_type": ("announcement", None),
    # --- HTTP API -----------------------------------------------------------------------------
    "health_route": ("/health", "/health/"),
    "health_detailed_route": ("/health/detailed", "/health/detailed"),
    "health_live_route": (None, "/health/live"),
    "health_ready_route": (None, "/health/ready"),
    "users_route": ("/api/v1/users", None),
    "user_route": ("/api/v1/users/{user_id}", None),
    "servers_route": ("/api/v1/servers", "/api/v1/servers/"),
    "server_route": ("/api/v1/servers/{server_id}", None),
    "server_get_route": ("/api/v1/servers/{server_id}", "/api/v1/servers/{server_id}"),
    "servers_bulk_register_route": (None, "/api/v1/bulk/servers/register"),
    "servers_bulk_status_route": (None, "/api/v1/bulk/servers/status"),
    "servers_export_route": (None, "/api/v1/export/servers.json"),
    "policies_route": ("/api/v1/policies", "/api/v1/policy/list"),
    "policy_evaluate_route": (None, "/api/v1/policy/evaluate"),
    "announce_route": ("/api/v1/admin/announce", None),
}

# The HTTP methods each route template answers to, in every layout that has the route.
ROUTE_METHODS = {
    "health_route": ("get",),
    "health_detailed_route": ("get",),
    "health_live_route": ("get",),
    "health_ready_route": ("get",),
    "users_route": ("get", "post"),
    "user_route": ("get", "patch"),
    "servers_route": ("get", "post"),
    "server_route": ("patch", "delete"),
    "server_get_route": ("get",),
    "servers_bulk_register_route": ("post",),
    "servers_bulk_status_route": ("patch",),
    "servers_export_route": ("get",),
    "policies_route": ("get",),
    "policy_evaluate_route": ("post",),
    "announce_route": ("post",),
}

# The columns of the tables sark.ops reads or writes, per layout (name -> (runbook columns, sark_v2 columns)).
COLUMNS = {
    "users_table": (
        ("id", "username", "email", "password_hash", "is_active", "is_admin", "roles", "rate_limit_per_minute", "created_at"),
        ("id", "email", "full_name", "hashed_password", "is_active", "is_admin", "role", "extra_metadata", "created_at",
         "updated_at"),
    ),
}

# Facts that are not templates: types and behaviours that differ between layouts.
TRAITS = {
    "runbook": {
        # the Redis type of each key template, where the layout knows it: a sweep touches only keys of that type
        "key_types": {"session_key": "hash", "policy_decision_key": "string", "ratelimit_key": "string"},
        "ratelimit_window_format": "%Y-%m-%d-%H",
        # the runbook shows only user counters (limit 5000/h); api keys and IPs get SARK 2.x's limits
        "ratelimit_limits": {"user": 5000, "api_key": 1000, "ip": 100},
        # servers: names unique (409), list items carry the endpoint, one list call returns up to 10,000
        "server_names_unique": True,
        "server_list_has_endpoint": True,
        "server_list_max": 10000,
        "servers_bulk_max": None,
        "server_statuses": ("active", "inactive", "unhealthy", "decommissioned"),
        "server_default_status": "active",
        # what a registration (and an import row) may set
        "server_fields": ("name", "endpoint", "tags", "owner_id"),
        # users table: identity column, password column, roles as a list, a per-user rate limit, no ORM-filled columns
        "user_identity": "username",
        "user_password_column": "password_hash",
        "user_roles": "list",
        "user_builtin_roles": ("user", "admin"),
        "user_rate_limit_column": True,
        "users_orm_columns": False,
        "user_password_used": True,
        # audit event names (lower case; matched case-insensitively)
        "session_events": ("login", "logout"),
        # enum labels as its tables were made (the probe votes only on upper case: migrations make lower case everywhere)
        "enum_label_case": "lower",
        # Redis writers of a running deployment (the runbook documents sessions and rate-limit counters)
        "writes_sessions": True,
        "writes_rate_limits": True,
    },
    "sark_v2": {
        "key_types": {"session_key": "string", "user_sessions_key": "set", "policy_decision_key": "string", "ratelimit_key": "zset"},
        "ratelimit_window_seconds": 3600,
        # per hour; the contract names no limit for token:{n} identifiers
        "ratelimit_limits": {"user": 5000, "api_key": 1000, "ip": 100, "token": None},
        # servers: names not unique, list items without endpoint, one page of <= 200 (cursor and tags= answer 500),
        # bulk register/status take 1-100 items and fail_on_first_error=true is broken upstream (always send false)
        "server_names_unique": False,
        "server_list_has_endpoint": False,
        "server_list_max": 200,
        "servers_bulk_max": 100,
        "server_statuses": ("registered", "active", "inactive", "unhealthy", "decommissioned"),
        "server_default_status": "registered",
        "server_fields": ("name", "endpoint", "transport", "tools", "description", "sensitivity_level", "metadata"),
        "user_identity": "email",
        "user_password_column": "hashed_password",
        "user_roles": "single",
        "user_builtin_roles": ("admin", "developer"),
        "user_rate_limit_column": False,
        # SARK 2.x's ORM fills extra_metadata, created_at and updated_at (NOT NULL, no database default): a row written by
        # SQL must supply them and every UPDATE must set updated_at
        "users_orm_columns": True,
        # SARK 2.x has a hashed_password column but nothing reads or writes it
        "user_password_used": False,
        "session_events": ("user_login", "user_logout"),
        "enum_label_case": "upper",
        # a running SARK 2.x writes only policy:decision:* keys: its session service and rate-limit middleware are not wired
        "writes_sessions": False,
        "writes_rate_limits": False,
    },
}

# What the drift probe (_layout_probe.py) compares; every signal it gives derives from the facts above.
# API signal -> (route template, the method it needs): a layout "has" it when its template exists and answers that method.
PROBE_ROUTES = {
    "users_api": ("users_route", "get"),
    "servers_route_slash": ("servers_route", "get"),
    "server_delete": ("server_route", "delete"),
    "bulk_status": ("servers_bulk_status_route", "patch"),
    "export": ("servers_export_route", "get"),
    "policies": ("policies_route", "get"),
    "announce": ("announce_route", "post"),
    "health_probes": ("health_ready_route", "get"),
}
# Redis key templates the probe samples for (one signal each where the layouts differ)
REDIS_KEY_TEMPLATES = ("session_key", "user_sessions_key", "ratelimit_key", "policy_decision_key", "policy_version_key",
                       "siem_queue_key", "siem_failed_key", "breaker_state_key", "breaker_failures_key",
                       "siem_breaker_state_key", "siem_breaker_failures_key")
# writer -> (the trait that says the layout's SARK writes them, the key templates it writes)
WRITERS = {"sessions": ("writes_sessions", ("session_key", "user_sessions_key")),
           "rate_limits": ("writes_rate_limits", ("ratelimit_key",))}

# Why a layout lacks something, for error messages that say what to do instead.
ABSENT_REASONS = {
    ("runbook", "user_sessions_key"): "the runbook layout keeps no per-user session index; sessions are found by SCAN",
    ("sark_v2", "policy_version_key"): "SARK 2.x keeps no policy:version:* keys",
    ("sark_v2", "siem_queue_key"): "SARK 2.x keeps the SIEM queue in process memory, not in Redis",
    ("sark_v2", "siem_failed_key"): "SARK 2.x keeps failed SIEM events in process memory, not in Redis",
    ("sark_v2", "breaker_state_key"): "SARK 2.x keeps the SIEM circuit breaker in each worker's memory; restart the workers",
    ("sark_v2", "breaker_failures_key"): "SARK 2.x keeps the SIEM circuit breaker in each worker's memory; restart the workers",
    ("sark_v2", "siem_breaker_state_key"): "SARK 2.x keeps the SIEM circuit breaker in each worker's memory; restart the workers",
    ("sark_v2", "siem_breaker_failures_key"): "SARK 2.x keeps the SIEM circuit breaker in each worker's memory; restart the workers",
    ("sark_v2", "policy_evaluations_table"): "SARK 2.x has no policy_evaluations table; evaluations are audit_events",
    ("runbook", "tools_table"): "the runbook layout documents no tools table",
    ("runbook", "api_keys_table"): "the runbook layout documents no api_keys table",
    ("sark_v2", "users_route"): "SARK 2.x has no users API; user changes go through the database",
    ("sark_v2", "user_route"): "SARK 2.x has no users API; user changes go through the database",
    ("sark_v2", "server_route"): "SARK 2.x answers 405 to DELETE/PATCH of one server; use the bulk status endpoint",
    ("runbook", "servers_bulk_status_route"): "the runbook layout has no bulk status endpoint",
    ("runbook", "servers_bulk_register_route"): "the runbook layout has no bulk register endpoint: one POST per server",
    ("runbook", "servers_export_route"): "the runbook layout has no export endpoint; list servers instead",
    ("runbook", "policy_evaluate_route"): "the runbook layout evaluates policies on OPA directly",
    ("sark_v2", "announce_route"): "SARK 2.x has no announce endpoint; use a webhook notification",
    ("runbook", "health_live_route"): "the runbook layout documents only /health and /health/detailed",
    ("sark_v2", "incident_event_type"): ("SARK 2.x's auditeventtype enum has no operator or announcement label; set "
                                         "layout_templates.incident_event_type to the label to use (for example "
                                         "SECURITY_VIOLATION for a security incident)"),
    ("runbook", "health_ready_route"): "the runbook layout documents only /health and /health/detailed",
}

GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
# placeholders whose values never contain the key separator ':' (ids and windows SARK generates), so a key's structure is exact
COLON_FREE_FIELDS = ("session_id", "window", "kind")


def layout_argument_spec():
    return dict(
        layout=dict(type="str", choices=list(LAYOUT_NAMES), default="runbook",
                    fallback=(env_fallback, ["SARK_LAYOUT"])),
        layout_templates=dict(type="dict", default={}),
    )


def default_template(name, key):
    """The template of a layout as shipped (no user override), or None where the layout has no such thing."""
    return TEMPLATES[key][LAYOUT_NAMES.index(name)]


def columns_of(name, table):
    return COLUMNS[table][LAYOUT_NAMES.index(name)]


def trait_values(trait):
    """{layout: value} of one trait, for code that must recognise every layout's variant (e.g. of an event name)."""
    return {name: TRAITS[name].get(trait) for name in LAYOUT_NAMES}


def layouts_where(key, values):
    """The layouts whose shipped template `key` is one of values (e.g. which layout names its audit time column so)."""
    return [name for name in LAYOUT_NAMES if default_template(name, key) in values]


def placeholders(template):
    return [field for _text, field, _spec, _conv in string.Formatter().parse(template) if field]


def glob_escape(value):
    """Escape a literal so Redis SCAN MATCH treats it literally (a user id may contain * or [)."""
    return GLOB_SPECIAL.sub(r"\\\1", str(value))


class Layout:
    """The templates and traits of one layout, with the user's overrides applied and validated."""

    def __init__(self, name="runbook", overrides=None):
        if name not in LAYOUT_NAMES:
            raise SarkValidationError("Unknown layout %r: use one of %s" % (name, ", ".join(LAYOUT_NAMES)))
        self.name = name
        self.traits = dict(TRAITS[name])
        index = LAYOUT_NAMES.index(name)
        self.templates = {key: values[index] for key, values in TEMPLATES.items()}
        self.overridden = sorted((overrides or {}).keys())
        for key, value in (overrides or {}).items():
            self._override(key, value)

    @classmethod
    def from_params(cls, params):
        return cls(params.get("layout") or "runbook", params.get("layout_templates") or {})

    def _override(self, key, value):
        if key not in self.templates:
            raise SarkValidationError("layout_templates: unknown template %r; known templates: %s"
                                      % (key, ", ".join(sorted(self.templates))))
        if value in (None, ""):
            self.templates[key] = None
            return
        if not isinstance(value, str):
            raise SarkValidationError("layout_templates.%s must be a string, got %s" % (key, type(value).__name__))
        default = self.templates[key]
        if default is not None:
            expected = sorted(set(placeholders(default)))
            got = sorted(set(placeholders(value)))
            if expected != got:
                raise SarkValidationError(
                    "layout_templates.%s=%r must use exactly the placeholders %s (got %s)"
                    % (key, value, ", ".join("{%s}" % p for p in expected) or "none", ", ".join("{%s}" % p for p in got) or "none"))
        self.templates[key] = value

    def has(self, key):
        return self.templates.get(key) is not None

    def template(self, key):
        if key not in self.templates:
            raise KeyError(key)
        value = self.templates[key]
        if value is None:
            reason = ABSENT_REASONS.get((self.name, key)) or "not part of this layout"
            raise SarkValidationError("%s is not available in the %s layout: %s" % (key, self.name, reason),
                                      layout=self.name)
        return value

    def route_methods(self, key):
        """The HTTP methods a route template answers to in this layout (empty where the layout has no such route)."""
        return ROUTE_METHODS.get(key, ()) if self.has(key) else ()

    def columns(self, table):
        """The columns of a table in this layout."""
        return columns_of(self.name, table)

    def key_type(self, key):
        """The Redis type the layout stores under a template (hash, string, set, zset), or None when it does not say."""
        return (self.traits.get("key_types") or {}).get(key)

    def colons(self, key, **values):
        """How many ':' every key of this template has once the given placeholders are filled in, when that is exact
        (every other placeholder is colon-free); None otherwise. Filters out keys of a longer id that shares the prefix
        (user alice must not match alice:admin)."""
        template = self.template(key)
        count = 0
        for text, field, _spec, _conv in string.Formatter().parse(template):
            count += text.count(":")
            if field:
                if values.get(field) is not None:
                    count += str(values[field]).count(":")
                elif field not in COLON_FREE_FIELDS:
                    return None
        return count

    def absent_reason(self, key):
        return ABSENT_REASONS.get((self.name, key)) or "not part of this layout"

    def key(self, key, **values):
        """Fill a template completely; every placeholder must be given."""
        template = self.template(key)
        missing = [p for p in placeholders(template) if p not in values]
        if missing:
            raise SarkValidationError("%s needs %s" % (key, ", ".join(missing)))
        return template.format(**{k: str(v) for k, v in values.items()})

    route = key

    def pattern(self, key, **values):
        """A SCAN MATCH glob: given placeholders filled in literally (escaped), the others become *."""
        template = self.template(key)
        out = []
        for text, field, _spec, _conv in string.Formatter().parse(template):
            out.append(glob_escape(text))
            if field:
                if values.get(field) is not None:
                    out.append(glob_escape(values[field]))
                else:
                    out.append("*")
        return "".join(out)

    def parser(self, key, **field_regexes):
        """A compiled regex with one named group per placeholder, to read values back out of a key.

        field_regexes narrows what a placeholder may match (e.g. window=r"\\d{4}-\\d{2}-\\d{2}-\\d{2}")."""
        template = self.template(key)
        parts = []
        fields = placeholders(template)
        for text, field, _spec, _conv in string.Formatter().parse(template):
            parts.append(re.escape(text))
            if field and field in field_regexes:
                parts.append("(?P<%s>%s)" % (field, field_regexes[field]))
            elif field:
                # the last placeholder takes the rest; earlier ones stop at the next literal
                parts.append("(?P<%s>.+)" % field if field == fields[-1] else "(?P<%s>.+?)" % field)
        return re.compile("^" + "".join(parts) + "$")

    def describe(self):
        return {"name": self.name, "overridden": self.overridden, "traits": dict(self.traits),
                "templates": dict(sorted(self.templates.items()))}


# ------------------------------------------------------------------------------------------------------------------
# The sibling platforms (seed 003 Rust Security Platform "rsp", seed 004 AUDITRON "auditron"): one registry, one
# mechanism. Facts from shared/spec/platforms-contract.md; SARK's layouts above are not part of it.
# PLATFORM_LAYOUTS[platform][layout][fact] = value, or None where that layout has no such thing (PLATFORM_ABSENT says
# why and what to do instead). The first layout of a platform is its default (always ``runbook``, the seed).
# ------------------------------------------------------------------------------------------------------------------

PLATFORM_LAYOUTS = {
    "auditron": {
        "runbook": {
            # --- Kubernetes ---
            "namespace": "auditron",
            "api_deployment": "auditron-api",
            "worker_deployment": "auditron-worker",
            "api_labels": {"app": "auditron-api"},
            "secret": "auditron-secrets",
            # --- HTTP API (health: plain {status, timestamp}; detailed: the checks document, Bearer token) ---
            "health_route": "/health",
            "health_shape": "plain",
            "health_detailed_route": "/health/detailed",
            "health_liveness_route": None,
            "health_readiness_route": None,
            # the runbook's admin API over the queue (GET stats, POST the others) and its API-key revocation
            "queue_stats_route": "/api/admin/queue/stats",
            "queue_pause_route": "/api/admin/queue/pause",
            "queue_resume_route": "/api/admin/queue/resume",
            "queue_clean_route": "/api/admin/queue/clean",
            "queue_retry_route": None,
            "api_key_revoke_route": "/api/admin/api-keys/{key_id}/revoke",
            # how the queue is driven: through the admin API (runbook) or BullMQ on Redis (code)
            "queue_backend": "api",
            # --- PostgreSQL ---
            "database": "auditron",
            "api_keys_table": "ApiKey",
            # logical name -> column; revoke sets revoked_column to false (and disabled_at_column to now() where there is one)
            "api_key_columns": {"id": "id", "org": "organizationId", "name": "name", "active": "active",
                                "created_at": "createdAt", "last_used_at": "lastUsedAt", "disabled_at": None},
            "organizations_table": "organizations",
            "pg_stat_statements_columns": ("total_time", "mean_time"),
            # --- migrations, metrics ---
            "migrate_command": ("npm", "run", "prisma:migrate", "deploy"),
            "metrics_route": "/metrics",
        },
        "auditron_code": {
            "namespace": "auditron",
            "api_deployment": "auditron-api",
            "worker_deployment": None,
            "api_labels": {"app": "auditron-api", "version": "v1"},
            "secret": "auditron-secrets",
            "health_route": "/health",
            "health_shape": "plain",
            "health_detailed_route": None,
            "health_liveness_route": None,
            "health_readiness_route": None,
            "queue_stats_route": None,
            "queue_pause_route": None,
            "queue_resume_route": None,
            "queue_clean_route": None,
            "queue_retry_route": None,
            "api_key_revoke_route": None,
            "queue_backend": "bullmq",
            "database": "auditron",
            "api_keys_table": "ApiKey",
            "api_key_columns": {"id": "id", "org": "orgId", "name": "name", "active": "active",
                                "created_at": "createdAt", "last_used_at": "lastUsedAt", "disabled_at": "disabledAt"},
            "organizations_table": "organizations",
            "pg_stat_statements_columns": ("total_exec_time", "mean_exec_time"),
            "migrate_command": ("npx", "prisma", "migrate", "deploy"),
            "metrics_route": None,
        },
    },
}

# Facts every layout of a platform shares (the code's, which the runbook's admin API drives too).
PLATFORM_COMMON = {
    "auditron": {
        # BullMQ: queue names, key prefix, the worker's concurrency (inside the API process in the code)
        "queue_name": "agentic-jobs",
        "dead_letter_queue": "dead-letter",
        "queue_prefix": "bull",
        "worker_concurrency": 5,
        # what "clean" removes, as the code's queue service does: completed older than 24 h, failed older than 7 days,
        # at most 1000 of each per call
        "clean_completed_grace_ms": 24 * 3600 * 1000,
        "clean_failed_grace_ms": 7 * 24 * 3600 * 1000,
        "clean_limit": 1000,
        # BullMQ's job counts (getJobCounts) that the stats report
        "job_count_types": ("waiting", "active", "completed", "failed", "delayed", "paused"),
        "detailed_checks": ("database", "redis", "minio", "queue", "memory", "disk"),
        # the correct production migration, run as a Kubernetes Job from the API image
        "migrate_deploy_command": ("npx", "prisma", "migrate", "deploy"),
        "files_bucket": "auditron-files",
    },
}

PLATFORM_ABSENT = {
    ("auditron", "runbook", "health_liveness_route"): "the runbook documents only /health and /health/detailed",
    ("auditron", "runbook", "health_readiness_route"): "the runbook documents only /health and /health/detailed",
    ("auditron", "runbook", "queue_retry_route"): ("the runbook's admin API has no retry route; retry failed jobs through "
                                                   "BullMQ on Redis (layout auditron_code with the Redis options)"),
    ("auditron", "auditron_code", "worker_deployment"): ("AUDITRON's code has no worker Deployment: the BullMQ worker runs "
                                                         "inside the auditron-api process (concurrency 5)"),
    ("auditron", "auditron_code", "health_detailed_route"): ("AUDITRON's code does not route its detailed health handler; "
                                                             "only GET /health ({status: ok, timestamp}, checks nothing)"),
    ("auditron", "auditron_code", "health_liveness_route"): "the manifests probe /health/liveness, but the code does not route it",
    ("auditron", "auditron_code", "health_readiness_route"): "the manifests probe /health/readiness, but the code does not route it",
    ("auditron", "auditron_code", "queue_stats_route"): "AUDITRON's code has no admin routes: read BullMQ's job counts on Redis",
    ("auditron", "auditron_code", "queue_pause_route"): "AUDITRON's code has no admin routes: pause the BullMQ queue on Redis",
    ("auditron", "auditron_code", "queue_resume_route"): "AUDITRON's code has no admin routes: resume the BullMQ queue on Redis",
    ("auditron", "auditron_code", "queue_clean_route"): "AUDITRON's code has no admin routes: clean the BullMQ queue on Redis",
    ("auditron", "auditron_code", "queue_retry_route"): "AUDITRON's code has no admin routes: retry through BullMQ on Redis",
    ("auditron", "auditron_code", "api_key_revoke_route"): ("AUDITRON's code has no API-key revoke route: revoke in the "
                                                            "database (via: database)"),
    ("auditron", "auditron_code", "metrics_route"): ("AUDITRON's code defines metrics but routes no /metrics: Prometheus "
                                                     "sees up == 0"),
}


def platform_layout_names(platform):
    """The layouts of a sibling platform, its default (``runbook``) first."""
    if platform not in PLATFORM_LAYOUTS:
        raise SarkValidationError("Unknown platform %r: use one of %s" % (platform, ", ".join(sorted(PLATFORM_LAYOUTS))))
    return tuple(PLATFORM_LAYOUTS[platform])


def platform_layout_argument_spec(platform):
    """The ``layout`` option of a sibling platform's modules (env fallback ``<PLATFORM>_LAYOUT``, e.g. AUDITRON_LAYOUT)."""
    names = platform_layout_names(platform)
    return dict(layout=dict(type="str", choices=list(names), default=names[0],
                            fallback=(env_fallback, ["%s_LAYOUT" % platform.upper()])))


class PlatformLayout:
    """The facts of one layout of a sibling platform (rsp, auditron)."""

    def __init__(self, platform, name="runbook"):
        names = platform_layout_names(platform)
        if name not in names:
            raise SarkValidationError("Unknown %s layout %r: use one of %s" % (platform, name, ", ".join(names)))
        self.platform = platform
        self.name = name
        self.facts = dict(PLATFORM_COMMON.get(platform, {}))
        self.facts.update(PLATFORM_LAYOUTS[platform][name])

    @classmethod
    def from_params(cls, platform, params):
        return cls(platform, params.get("layout") or platform_layout_names(platform)[0])

    def has(self, fact):
        return self.facts.get(fact) is not None

    def absent_reason(self, fact):
        return PLATFORM_ABSENT.get((self.platform, self.name, fact)) or "not part of this layout"

    def fact(self, fact):
        """A fact's value; a fact this layout lacks raises SarkValidationError naming why and what to do instead."""
        if fact not in self.facts:
            raise KeyError(fact)
        value = self.facts[fact]
        if value is None:
            raise SarkValidationError("%s is not available in the %s %s layout: %s"
                                      % (fact, self.platform, self.name, self.absent_reason(fact)), layout=self.name)
        return value

    def route(self, fact, **values):
        """A route fact filled in (placeholders URL-quoted by the caller's HTTP client where needed)."""
        template = self.fact(fact)
        missing = [p for p in placeholders(template) if p not in values]
        if missing:
            raise SarkValidationError("%s needs %s" % (fact, ", ".join(missing)))
        return template.format(**{k: str(v) for k, v in values.items()})

    def describe(self):
        return {"platform": self.platform, "name": self.name,
                "facts": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(self.facts.items())}}


# ------------------------------------------------------------------------------------------------------------------
# Rust Security Platform (seed 003, lsendel/rust-security): `runbook` is what seed 003 documents, `rsp_code` what the
# code deploys (shared/spec/platforms-contract.md). Appended as statements so each platform's block stays its own.
# ------------------------------------------------------------------------------------------------------------------

PLATFORM_LAYOUTS["rsp"] = {
    "runbook": {
        # --- Kubernetes ---
        "namespace": "rust-security",
        "auth_deployment": "auth-service",
        "policy_deployment": "policy-service",
        # the runbook execs into redis-master-0: a StatefulSet redis-master
        "redis_workload": ("StatefulSet", "redis-master"),
        "redis_pod": "redis-master-0",
        "redis_pvc": None,
        "redis_appendonly": False,
        "pod_label_key": "app",
        # --- HTTP: auth-service ---
        # GET /health is the runbook's health signal; it documents no body, so only the status counts
        "auth_health_route": "/health",
        "auth_health_shape": "signal",
        "auth_status_route": None,
        # --- HTTP: policy-service (its admin API on :8080) ---
        "policy_port": 8080,
        "policy_health_route": None,
        "policies_route": "/admin/policies",
        "policy_stats_route": "/admin/policy-stats",
        "authorize_route": None,
        # --- metrics ---
        "metrics_route": "/metrics",
        "metrics_restricted": False,
        "request_counter": "http_requests_total",
        "error_status_label": "status",
        "duration_histogram": "http_request_duration_seconds",
        "authorization_histogram": "authorization_duration_seconds",
        # --- policies: reload = replace the ConfigMap mounted at /etc/policies, then restart policy-service ---
        "policy_reload": "configmap",
        "policies_configmap": "policy-service-policies",
        "policies_mount": "/etc/policies",
        # --- secrets ---
        "auth_config_kind": "Secret",
        "auth_config_name": "auth-service-config",
        "jwt_secret_name": "auth-service-jwt-new",
        "jwt_secret_key": "secret",
        "jwt_env": ("JWT_SECRET",),
        # --- deployments, network, certificates ---
        "service": "auth-service",
        "blue_green_label": "version",
        "virtual_service": "auth-service",
        "canary_host": "auth-service-canary",
        "network_policy": "default-deny",
        "certificate": "auth-service-tls",
        # --- Redis: sessions, rate limits and a cache live there (FLUSHDB clears it) ---
        "redis_usage": ("sessions", "rate_limits", "cache"),
        "redis_restore": "rdb",
    },
    "rsp_code": {
        "namespace": "rust-security",
        "auth_deployment": "auth-service",
        "policy_deployment": "policy-service",
        "redis_workload": ("Deployment", "redis"),
        "redis_pod": None,
        "redis_pvc": "redis-pvc",
        # redis runs with --appendonly yes: it reloads from the AOF, not dump.rdb
        "redis_appendonly": True,
        # the plain manifests label app=<name>; the Helm chart app.kubernetes.io/name=<name>
        "pod_label_key": "app",
        "auth_health_route": "/health",
        # {status: healthy, service: rust-security-auth-service, version, features}: static, checks no dependency
        "auth_health_shape": "static",
        "auth_status_route": "/api/v1/status",
        "policy_port": 8081,
        "policy_health_route": "/health",
        "policies_route": None,
        "policy_stats_route": None,
        "authorize_route": "/v1/authorize",
        "metrics_route": "/metrics",
        # /metrics answers 403 unless METRICS_PUBLIC=true
        "metrics_restricted": True,
        "request_counter": "auth_http_requests_total",
        "error_status_label": "status_code",
        "duration_histogram": "auth_http_request_duration_seconds",
        # only with a non-default feature of policy-service
        "authorization_histogram": "policy_service_authorization_duration_seconds",
        # one Cedar file read at start-up: a change is a new image and a restart
        "policy_reload": "image",
        "policies_configmap": None,
        "policies_mount": None,
        "auth_config_kind": "ConfigMap",
        "auth_config_name": "auth-service-config",
        "jwt_secret_name": "auth-secrets",
        "jwt_secret_key": "jwt-secret",
        # tokens are signed with an RSA key from one of these
        "jwt_env": ("JWT_RSA_PRIVATE_KEY", "RSA_PRIVATE_KEY"),
        "service": "auth-service",
        "blue_green_label": "version",
        "virtual_service": "auth-service-routing",
        "canary_host": None,
        "network_policy": "default-deny-all",
        "certificate": "auth-service-tls",
        # the running auth-service keeps users, tokens, blacklist and rate limits in process memory
        "redis_usage": (),
        "redis_restore": "aof",
    },
}

PLATFORM_COMMON["rsp"] = {
    "auth_service_name": "rust-security-auth-service",
    "policy_service_name": "policy-service-mvp",
    "label_keys": ("app", "app.kubernetes.io/name"),
    # POST /v1/authorize limits (characters, nesting, bytes)
    "authorize_limits": {"request_id": 128, "id": 512, "action": 256, "json_depth": 10, "body_bytes": 1048576},
    # Redis key families of the code's storage modules (not written by the running auth-service)
    "redis_key_families": ("session:*", "user_sessions:*", "auth:session:*", "auth:user_sessions:*", "token_record:*",
                           "refresh_token:*", "authcode:*", "mfa:*", "policy:*"),
}

PLATFORM_ABSENT.update({
    ("rsp", "runbook", "redis_pvc"): "the runbook names no PVC; its Redis is the StatefulSet redis-master",
    ("rsp", "runbook", "auth_status_route"): "the runbook documents only GET /health for auth-service",
    ("rsp", "runbook", "policy_health_route"): ("the runbook documents no health route for policy-service; GET "
                                                "/admin/policies (its admin API on :8080) answers when it is up"),
    ("rsp", "runbook", "authorize_route"): ("the runbook documents no decision route; test decisions off-cluster with "
                                            "cedarpy against the policies (source: local)"),
    ("rsp", "rsp_code", "redis_pod"): "the code's Redis is a Deployment (redis, PVC redis-pvc), not redis-master-0",
    ("rsp", "rsp_code", "policies_route"): ("policy-service in the code has no admin routes: its policies are one Cedar "
                                            "file read at start-up"),
    ("rsp", "rsp_code", "policy_stats_route"): "policy-service in the code has no admin routes (no policy-stats)",
    ("rsp", "rsp_code", "policies_configmap"): ("the code reads one Cedar file baked into the image at start-up: a policy "
                                                "change needs a new image and a restart, not a ConfigMap"),
    ("rsp", "rsp_code", "policies_mount"): "the code reads one Cedar file baked into the image, not /etc/policies",
    ("rsp", "rsp_code", "canary_host"): ("the code ships no canary Service; create one for the canary Deployment and "
                                         "give its host"),
})
