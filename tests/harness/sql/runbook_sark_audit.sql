-- SARK `runbook` layout, database "sark_audit" (TimescaleDB in production; plain tables here).
-- Enum labels are lowercase; logout events carry login_time/logout_time (runbook 000 session metrics).

DO $$ BEGIN
    CREATE TYPE event_type AS ENUM (
        'login', 'logout', 'login_failed', 'server_registered', 'server_updated', 'server_deleted',
        'tool_invoked', 'policy_evaluated', 'policy_denied', 'user_created', 'user_updated',
        'user_disabled', 'user_enabled', 'announcement', 'security_violation');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

DO $$ BEGIN
    CREATE TYPE severity AS ENUM ('low', 'medium', 'high', 'critical');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS audit_events (
    time        timestamptz NOT NULL DEFAULT now(),
    event_type  event_type NOT NULL,
    severity    severity NOT NULL DEFAULT 'low',
    user_id     text,
    server_id   text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    login_time  timestamptz,
    logout_time timestamptz
);
CREATE INDEX IF NOT EXISTS idx_audit_events_time ON audit_events (time DESC);
CREATE INDEX IF NOT EXISTS idx_audit_events_type_time ON audit_events (event_type, time DESC);

CREATE TABLE IF NOT EXISTS policy_evaluations (
    time        timestamptz NOT NULL DEFAULT now(),
    policy_name text NOT NULL,
    decision    boolean NOT NULL,
    duration_ms double precision,
    user_id     text
);
CREATE INDEX IF NOT EXISTS idx_policy_evaluations_time ON policy_evaluations (time DESC);
