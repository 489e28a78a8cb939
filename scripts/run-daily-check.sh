#!/usr/bin/env bash
# The main job: the SARK daily checklist (playbook sark.ops.daily_check), set-up included.
#   bash scripts/run-daily-check.sh                      # against a local demo stack it starts and stops
#   bash scripts/run-daily-check.sh -i inventory.yml     # against your deployment
# Any other arguments go to ansible-playbook (e.g. -e sark_layout=sark_v2, -e sark_daily_check_report_dir=/tmp/reports).
# SARK_DEMO_LAYOUT=sark_v2 starts the demo stack in the SARK 2.x layout.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
setup_started=$(date +%s.%N)
# shellcheck source=scripts/setup.sh
SARK_SETUP_PROFILE=run . "$REPO/scripts/setup.sh"
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

has_inventory=0
for arg in "$@"; do
  case "$arg" in -i|--inventory|--inventory=*|-i*) has_inventory=1 ;; esac
done

ARGS=("$@")
if [ "$has_inventory" = 0 ]; then
  STATE="$(mktemp -d /tmp/sark-demo.XXXXXX)"
  export PYTHONPATH="$REPO/tests${PYTHONPATH:+:$PYTHONPATH}"
  trap 'python -m harness.demo down --dir "$STATE" --remove >/dev/null' EXIT
  # a deployment after a normal week: Prometheus + Alertmanager, S3 backups, live traffic (docs/demo.md)
  python -m harness.demo up --dir "$STATE" --layout "${SARK_DEMO_LAYOUT:-runbook}" --realistic
  ARGS=(-i "$STATE/inventory.yml" -e "sark_layout=${SARK_DEMO_LAYOUT:-runbook}" "${ARGS[@]}")
fi
printf '[run-daily-check] set-up %ss (tools%s)\n' "$(elapsed "$setup_started")" "$([ "$has_inventory" = 0 ] && echo ' and the demo stack')" >&2
playbook_started=$(date +%s.%N)
rc=0
ansible-playbook sark.ops.daily_check "${ARGS[@]}" || rc=$?
printf '[run-daily-check] playbook %ss (exit %s)\n' "$(elapsed "$playbook_started")" "$rc" >&2
exit "$rc"
