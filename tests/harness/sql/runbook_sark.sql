-- SARK `runbook` layout, database "sark": the tables runbooks 000-002 query.
-- Idempotent: safe to apply to a database that already has them.
-- No index on servers(status): runbook 002 adds idx_servers_status as a latency fix.

DO $$ BEGIN
    CREATE TYPE server_status AS ENUM ('active', 'inactive', 'unhealthy', 'decommissioned');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS users (
    id                    text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    username              text NOT NULL UNIQUE,
    email                 text,
    password_hash         text,
    is_active             boolean NOT NULL DEFAULT true,
    is_admin              boolean NOT NULL DEFAULT false,
    roles                 text[] NOT NULL DEFAULT '{user}',
    rate_limit_per_minute integer,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_users_created_at ON users (created_at);

CREATE TABLE IF NOT EXISTS servers (
    id         text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name       text NOT NULL UNIQUE,
    endpoint   text,
    status     server_status NOT NULL DEFAULT 'active',
    owner_id   text,
    tags       jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_servers_owner_id ON servers (owner_id);
CREATE INDEX IF NOT EXISTS idx_servers_created_at ON servers (created_at);
