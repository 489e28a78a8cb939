-- SARK `sark_v2` layout: the tables SARK 2.x's ORM creates. SARK 2.x puts the same tables in
-- both "sark" and "sark_audit", so this one file is applied to both (see sarksim/schema.py sql_path).
-- Enum types are named after the Python enums and labelled with their UPPERCASE member names,
-- as SQLAlchemy's Enum() does: clients must read pg_enum, never assume the case.
-- No policy_evaluations table in this layout.

DO $$ BEGIN
    CREATE TYPE transporttype AS ENUM ('HTTP', 'STDIO', 'SSE');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE serverstatus AS ENUM ('REGISTERED', 'ACTIVE', 'INACTIVE', 'UNHEALTHY', 'DECOMMISSIONED');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE sensitivitylevel AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE auditeventtype AS ENUM (
        'SERVER_REGISTERED', 'SERVER_UPDATED', 'SERVER_DECOMMISSIONED', 'TOOL_INVOKED',
        'AUTHORIZATION_ALLOWED', 'AUTHORIZATION_DENIED', 'POLICY_CREATED', 'POLICY_UPDATED',
        'POLICY_ACTIVATED', 'USER_LOGIN', 'USER_LOGOUT', 'SECURITY_VIOLATION');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE severitylevel AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS users (
    id              uuid PRIMARY KEY,
    email           varchar(255) NOT NULL UNIQUE,
    full_name       varchar(255),
    hashed_password varchar(255),
    is_active       boolean NOT NULL DEFAULT true,
    is_admin        boolean NOT NULL DEFAULT false,
    role            varchar(50) NOT NULL DEFAULT 'developer',
    -- SARK 2.x's ORM fills these three itself: no database default, so a row written by SQL must supply them
    -- (extra_metadata '{}') and every UPDATE must set updated_at
    extra_metadata  json NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS teams (
    id          uuid PRIMARY KEY,
    name        varchar(255) NOT NULL UNIQUE,
    description varchar(1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS mcp_servers (
    id                uuid PRIMARY KEY,
    name              varchar(255) NOT NULL,
    description       varchar(1000),
    transport         transporttype NOT NULL,
    endpoint          varchar(500),
    command           varchar(500),
    mcp_version       varchar(20) NOT NULL DEFAULT '2025-06-18',
    capabilities      json NOT NULL DEFAULT '[]',
    sensitivity_level sensitivitylevel NOT NULL DEFAULT 'MEDIUM',
    signature         varchar(1000),
    status            serverstatus NOT NULL DEFAULT 'REGISTERED',
    health_endpoint   varchar(500),
    last_health_check timestamptz,
    owner_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    team_id           uuid REFERENCES teams (id) ON DELETE SET NULL,
    consul_id         varchar(255) UNIQUE,
    tags              json NOT NULL DEFAULT '[]',
    extra_metadata    json NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_mcp_servers_name ON mcp_servers (name);
CREATE INDEX IF NOT EXISTS ix_mcp_servers_created_at ON mcp_servers (created_at);

CREATE TABLE IF NOT EXISTS mcp_tools (
    id                uuid PRIMARY KEY,
    server_id         uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    name              varchar(255) NOT NULL,
    description       varchar(2000),
    parameters        json NOT NULL DEFAULT '{}',
    sensitivity_level sensitivitylevel NOT NULL DEFAULT 'MEDIUM',
    signature         varchar(1000),
    requires_approval boolean NOT NULL DEFAULT false,
    invocation_count  integer NOT NULL DEFAULT 0,
    last_invoked      timestamptz,
    extra_metadata    json NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_mcp_tools_name ON mcp_tools (name);
CREATE INDEX IF NOT EXISTS ix_mcp_tools_server_id ON mcp_tools (server_id);

CREATE TABLE IF NOT EXISTS audit_events (
    id             uuid PRIMARY KEY,
    timestamp      timestamptz NOT NULL DEFAULT now(),
    event_type     auditeventtype NOT NULL,
    severity       severitylevel NOT NULL DEFAULT 'LOW',
    user_id        uuid,
    user_email     varchar(255),
    server_id      uuid,
    tool_name      varchar(255),
    decision       varchar(20),
    policy_id      uuid,
    ip_address     varchar(45),
    user_agent     varchar(500),
    request_id     varchar(100),
    details        json NOT NULL DEFAULT '{}',
    siem_forwarded timestamptz
);
CREATE INDEX IF NOT EXISTS ix_audit_events_timestamp ON audit_events (timestamp);
CREATE INDEX IF NOT EXISTS ix_audit_events_event_type ON audit_events (event_type);
CREATE INDEX IF NOT EXISTS ix_audit_events_user_id ON audit_events (user_id);
CREATE INDEX IF NOT EXISTS ix_audit_events_server_id ON audit_events (server_id);
CREATE INDEX IF NOT EXISTS ix_audit_events_tool_name ON audit_events (tool_name);
CREATE INDEX IF NOT EXISTS ix_audit_events_request_id ON audit_events (request_id);

CREATE TABLE IF NOT EXISTS api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    team_id      uuid,
    name         varchar(255) NOT NULL,
    description  text,
    key_prefix   varchar(16) NOT NULL UNIQUE,
    key_hash     varchar(255) NOT NULL,
    scopes       varchar[] NOT NULL DEFAULT '{}',
    rate_limit   integer NOT NULL DEFAULT 1000,
    is_active    boolean NOT NULL DEFAULT true,
    expires_at   timestamp,
    last_used_at timestamp,
    last_used_ip varchar(45),
    usage_count  integer NOT NULL DEFAULT 0,
    created_at   timestamp NOT NULL DEFAULT now(),
    updated_at   timestamp NOT NULL DEFAULT now(),
    revoked_at   timestamp,
    revoked_by   uuid
);
CREATE INDEX IF NOT EXISTS ix_api_keys_user_id ON api_keys (user_id);
CREATE INDEX IF NOT EXISTS ix_api_keys_is_active ON api_keys (is_active);
CREATE INDEX IF NOT EXISTS ix_api_keys_expires_at ON api_keys (expires_at);
