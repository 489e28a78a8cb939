"""_postgres.py: connection options and the classification of PostgreSQL errors (what to check, by kind)."""

import pytest

psycopg2 = pytest.importorskip("psycopg2")

from ansible_collections.sark.ops.plugins.module_utils._postgres import classify_error, describe_target  # noqa: E402

PARAMS = {"pg_host": "127.0.0.1", "pg_port": 1, "pg_user": "sark", "pg_password": "s3cr3t-pw", "pg_database": "sark"}


@pytest.mark.parametrize("text,kind,says", [
    ('connection to server at "127.0.0.1", port 1 failed: FATAL:  password authentication failed for user "sark"',
     "auth", "Check pg_user/pg_password"),
    ('connection to server at "127.0.0.1", port 1 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.1"',
     "auth", "pg_hba.conf"),
    ('connection to server at "127.0.0.1", port 1 failed: FATAL:  database "sark" does not exist', "config",
     "Check pg_database"),
    ("SSL error: certificate verify failed", "tls", "Check pg_sslmode"),
    ('connection to server at "127.0.0.1", port 1 failed: timeout expired', "timeout", "pg_connect_timeout"),
    ("FATAL:  sorry, too many clients already: remaining connection slots are reserved", "capacity",
     "no free connection slots"),
    ('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running on that host?',
     "unreachable", "Check pg_host/pg_port"),
])
def test_each_error_family_names_what_to_check(text, kind, says):
    error = classify_error(psycopg2.OperationalError(text), PARAMS)
    assert error.kind == kind, error.msg
    assert says in error.msg
    assert error.details["target"] == "postgresql://sark@127.0.0.1:1/sark"
    assert "s3cr3t-pw" not in error.msg and "\n" not in error.msg  # libpq's repeated lines folded into one


def test_the_target_names_the_database_worked_on():
    assert describe_target(PARAMS, "sark_audit") == "postgresql://sark@127.0.0.1:1/sark_audit"
    assert describe_target(dict(PARAMS, pg_unix_socket="/run/postgresql")).startswith("postgresql://sark@/run/postgresql:")
    error = classify_error(psycopg2.OperationalError('FATAL:  database "sark_audit" does not exist'), PARAMS, "sark_audit")
    assert error.kind == "config" and "sark_audit" in error.details["target"]
