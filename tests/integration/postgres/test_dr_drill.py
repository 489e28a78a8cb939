"""sark_dr_drill through ansible-playbook against real PostgreSQL 15: two real backups, the newest corrupted on disk;
the drill must restore the older verified one into a scratch database, match its row counts and measure the time."""

import glob
import json
import os

PLAY = """
- name: DR drill
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the drill
      ansible.builtin.include_role:
        name: sark.ops.sark_dr_drill
"""


def test_drill_restores_the_newest_verified_backup(run_module, playbook, pg_primary, pgh, tmp_path):
    database = pgh.make_database(pg_primary, "dr_drill_src")
    pg_primary.execute("CREATE TABLE servers (id int PRIMARY KEY, name text); "
                       "INSERT INTO servers SELECT g, 'server-' || g FROM generate_series(1, 250) g; "
                       "CREATE TABLE users (id int); INSERT INTO users SELECT generate_series(1, 40)", database)
    backup_dir = str(tmp_path / "backups")
    conn = pgh.connection_args(pg_primary)
    for dummy in range(2):
        made = run_module("sark_pg_backup", dict(conn, state="present", databases=[database], backup_dir=backup_dir, count_rows=True))
        assert not made.failed, made.get("msg")
    dumps = sorted(glob.glob(os.path.join(backup_dir, database + "-*.dump")))
    assert len(dumps) == 2
    with open(dumps[-1], "r+b") as handle:  # the newest dump is damaged on disk after it was checksummed
        handle.seek(100)
        handle.write(b"\x00" * 16)
    reports = tmp_path / "reports"
    result = playbook(PLAY, extravars={"sark_pg_connection": conn, "sark_dr_drill_backup_dir": backup_dir,
                                       "sark_dr_drill_databases": [database], "sark_dr_drill_report_dir": str(reports),
                                       "sark_dr_drill_scratch_database": "dr_drill_scratch"})
    assert result.rc == 0, result.stdout_text
    report = json.loads(open(glob.glob(str(reports / "dr_drill-*.json"))[0], encoding="utf-8").read())
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["backup_" + database]["verdict"] == "WARNING"
    assert checks["backup_" + database]["figure"] == os.path.basename(dumps[0])
    assert checks["restore_" + database]["verdict"] == "OK" and checks["restore_" + database]["figure"] == 2
    assert checks["backup_age_" + database]["verdict"] == "OK"
    assert checks["recovery_time"]["verdict"] == "OK" and checks["recovery_time"]["figure"] > 0
    assert report["verdict"] == "WARNING"
    # the scratch database is gone, the source untouched
    names = [r[0] for r in pg_primary.execute("SELECT datname FROM pg_database", fetch=True)]
    assert "dr_drill_scratch" not in names
    assert pg_primary.execute("SELECT count(*) FROM servers", database, fetch=True)[0][0] == 250
    pgh.drop_databases(pg_primary, [database])
