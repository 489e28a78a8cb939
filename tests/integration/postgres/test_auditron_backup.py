"""sark.ops.sark_auditron tasks_from=backup against a real PostgreSQL 15 holding AUDITRON's schema: the runbook's gzip SQL
dump and the custom format, both restore-tested (row counts of the restored copy equal the source's)."""

import gzip
import os

from harness.auditronsim import schema as auditron_schema

PLAY = '''
- name: AUDITRON backup
  hosts: localhost
  gather_facts: false
  tasks:
    - name: backup
      ansible.builtin.include_role: {name: sark.ops.sark_auditron, tasks_from: backup}
    - name: write the result
      ansible.builtin.copy: {dest: "%s", content: "{{ sark_auditron_backup | to_json }}", mode: "0600"}
'''


def test_gzip_sql_and_custom_backups_restore(playbook, pg_server, tmp_path):
    import json  # pylint: disable=import-outside-toplevel
    auditron_schema.install(pg_server, "auditron_code", "auditron_bk")
    auditron_schema.seed(pg_server, "auditron_code", "auditron_bk")
    out = tmp_path / "result.json"
    extravars = {"sark_auditron_backup_database": "auditron_bk", "sark_auditron_backup_dir": str(tmp_path / "backups"),
                 "sark_auditron_backup_formats": "sql_gzip, custom",
                 "sark_auditron_pg_connection": {"pg_host": "127.0.0.1", "pg_port": pg_server.port, "pg_user": "postgres",
                                                 "pg_password": pg_server.password, "pg_sslmode": "disable"}}
    result = playbook(PLAY % out, extravars=extravars)
    assert result.status == "successful", result.stdout_text[-4000:]
    backup = json.loads(out.read_text())
    sql = backup["sql_gzip"]
    assert sql["restore_test_ok"] is True and sql["source_rows"] == sql["restored_rows"]
    assert "public.ApiKey=5" in sql["source_rows"] and "public.organizations=2" in sql["source_rows"]
    with gzip.open(sql["file"], "rt", encoding="utf-8") as handle:
        text = handle.read()
    assert "PostgreSQL database dump" in text and 'CREATE TABLE public."ApiKey"' in text
    assert oct(os.stat(sql["file"]).st_mode & 0o777) == "0o600"
    custom = backup["custom"]
    assert custom and custom[0]["database"] == "auditron_bk" and custom[0]["file"].endswith(".dump")
    assert pg_server.password not in result.stdout_text
    assert not pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE 'auditron_bk_restore_test%%'", fetch=True)
