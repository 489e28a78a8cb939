# -*- coding: utf-8 -*-
# Copyright (c) sark.ops contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dr_drill_checks: the verdicts of a restore drill (seed 000 weekly restore test, seed 004 monthly DR drill).

Per database: a verified backup exists (the newest one, or an older one when the newest failed its checksum), its
restore into a scratch database matched the row counts of the backup's manifest table by table, and the backup's
age against the recovery point objective; for the whole drill, the measured recovery time against the recovery
time objective.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sark.ops.plugins.filter.checks import make_check

RUNBOOK = "000 Weekly 4 (verify backups) / 004 Monthly DR drill"


def _restore(result):
    verifications = (result or {}).get("verifications") or []
    return (verifications[0].get("restore_test") or {}) if verifications else {}


def dr_drill_checks(info, restores, recovery_seconds, rto_minutes=240, rpo_hours=24):
    """info: sark_pg_backup_info's result; restores: {database: sark_pg_backup state=restore_test result or None}."""
    if not isinstance(info, dict) or not isinstance(restores, dict):
        raise AnsibleFilterError("dr_drill_checks: expects sark_pg_backup_info's result and a dict of restore results by database")
    try:
        seconds = float(recovery_seconds)
    except (TypeError, ValueError):
        raise AnsibleFilterError("dr_drill_checks: recovery_seconds must be a number, got %r" % (recovery_seconds,))
    checks = []
    backups = info.get("backups") or []
    for database in sorted(restores):
        listed = [b for b in backups if b.get("database") == database]
        verified = [b for b in listed if b.get("ok")]
        if not verified:
            checks.append(make_check("backup_%s" % database, "Verified backup of %s" % database, "CRITICAL",
                                     figure=len(listed), unit="backups", threshold=">= 1 verified",
                                     reason="no backup of %s passes its checksum (%d listed)" % (database, len(listed)),
                                     runbook=RUNBOOK))
            continue
        chosen = verified[0]
        newest_ok = listed[0] is chosen
        checks.append(make_check(
            "backup_%s" % database, "Verified backup of %s" % database, "OK" if newest_ok else "WARNING", figure=chosen.get("file"),
            reason=("newest backup %s verified" % chosen.get("file")) if newest_ok else
            ("the newest backup %s failed its checks; restored the older %s" % (listed[0].get("file"), chosen.get("file"))),
            details={"path": chosen.get("path"), "size_bytes": chosen.get("size_bytes")}, runbook=RUNBOOK))
        age_hours = float(chosen.get("age_s") or 0) / 3600.0
        verdict = "OK" if age_hours < rpo_hours else ("WARNING" if age_hours < 2 * rpo_hours else "CRITICAL")
        checks.append(make_check("backup_age_%s" % database, "Age of the restored backup of %s (RPO)" % database, verdict,
                                 figure=round(age_hours, 2), unit="hours", threshold="< %s h" % rpo_hours,
                                 reason="%.1f hours of data would be lost restoring it" % age_hours, runbook=RUNBOOK))
        result = restores.get(database)
        restore = _restore(result)
        if result is None:
            checks.append(make_check("restore_%s" % database, "Restore of %s with row counts" % database, "UNKNOWN",
                                     reason="not restored", runbook=RUNBOOK))
        elif restore.get("ok") and restore.get("tables_compared"):
            checks.append(make_check("restore_%s" % database, "Restore of %s with row counts" % database, "OK",
                                     figure=restore["tables_compared"], unit="tables", threshold="every row count matches",
                                     reason="%d tables restored, every row count matches the backup's manifest" % restore["tables_compared"],
                                     details={"restore_ms": restore.get("duration_ms")}, runbook=RUNBOOK))
        elif restore.get("ok"):
            checks.append(make_check("restore_%s" % database, "Restore of %s with row counts" % database, "WARNING",
                                     reason="restored, but the backup has no row counts to compare with", runbook=RUNBOOK))
        else:
            mismatches = restore.get("mismatches") or []
            reason = restore.get("error") or (result or {}).get("msg") or "the restore test failed"
            if mismatches:
                reason = "row counts differ: %s" % ", ".join(
                    "%s %s != %s" % (m.get("table"), m.get("source"), m.get("restored")) if isinstance(m, dict) else str(m)
                    for m in mismatches[:10])
            checks.append(make_check("restore_%s" % database, "Restore of %s with row counts" % database, "CRITICAL",
                                     figure=len(mismatches), unit="tables differ", reason=reason, runbook=RUNBOOK))
    verdict = "OK" if seconds <= rto_minutes * 60 else "CRITICAL"
    checks.append(make_check("recovery_time", "Measured recovery time (RTO)", verdict, figure=round(seconds, 1), unit="s",
                             threshold="<= %d min" % rto_minutes,
                             reason="verify + restore + row counts of %d database(s) took %.1f s" % (len(restores), seconds),
                             runbook=RUNBOOK))
    return checks


def newest_verified(database, info):
    """The newest backup of database that passed its checks (sark_pg_backup_info lists newest first), or None."""
    for entry in (info or {}).get("backups") or []:
        if entry.get("database") == database and entry.get("ok"):
            return entry
    return None


def restore_of(database, results):
    """The restore_test result of database out of a loop's results (item.key), or None when it was not restored."""
    for result in results or []:
        if (result.get("item") or {}).get("key") == database:
            return result
    return None


class FilterModule:
    def filters(self):
        return {"dr_drill_checks": dr_drill_checks, "dr_drill_newest_verified": newest_verified, "dr_drill_restore_of": restore_of}
