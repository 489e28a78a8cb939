#!/usr/bin/env bash
# Run every test of sark.ops, doing its own set-up first (see scripts/setup.sh):
#   ansible-test sanity + units (Python 3.12 / ansible-core 2.21, then Python 3.11 / ansible-core 2.19),
#   ansible-lint --profile production, the pytest integration tests against real servers,
#   every Molecule scenario, and a build + offline install of the collection tarball.
# Every step runs even if an earlier one failed; the exit code is non-zero if any failed.
# Usage: bash scripts/run-tests.sh [step ...]   (steps: sanity units sanity311 units311 lint integration molecule build)
# During development: SARK_INTEGRATION_TARGETS="tests/integration/test_x.py -k name" bash scripts/run-tests.sh integration
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
T0=$(date +%s)
# shellcheck source=scripts/setup.sh
. "$REPO/scripts/setup.sh" || { echo "set-up failed: nothing was tested" >&2; exit 1; }
set +e
SETUP_SECONDS=$(( $(date +%s) - T0 ))

STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(sanity units sanity311 units311 lint integration molecule build)

# ansible-test needs the collection at .../ansible_collections/sark/ops as a real directory.
WORK="$(mktemp -d /tmp/sark-ops-tests.XXXXXX)"
COLL="$WORK/ansible_collections/sark/ops"
mkdir -p "$WORK/ansible_collections/sark"
cp -a "$REPO" "$COLL"
rm -rf "$COLL/.ansible" "$COLL/collections" "$COLL/tests/output" "$COLL/dist"
export SARK_DEPS_COLLECTIONS="$SARK_OPS_HOME/collections"
export ANSIBLE_COLLECTIONS_PATH="$WORK:$SARK_DEPS_COLLECTIONS"
JUNIT="$WORK/junit"
mkdir -p "$JUNIT"
cd "$COLL" || exit 1

declare -a RESULTS=()
FAILED=0
run_step() {  # name, command...
  local name="$1" start rc; shift
  start=$(date +%s)
  echo "::group:: $name"
  echo "== $name: $*"
  "$@"
  rc=$?
  echo "::endgroup::"
  RESULTS+=("$(printf '%-12s %-6s %5ss' "$name" "$([ $rc = 0 ] && echo ok || echo FAILED)" "$(( $(date +%s) - start ))")")
  [ $rc = 0 ] || FAILED=$((FAILED + 1))
}

with_venv() {  # venv, command...: run with that venv first on PATH
  local venv="$1"; shift
  PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" "$@"
}

copy_junit() {  # prefix: keep ansible-test's junit reports for the final count
  local f
  for f in tests/output/junit/*.xml; do
    [ -f "$f" ] && cp "$f" "$JUNIT/$1-$(basename "$f")"
  done
  rm -rf tests/output/junit
}

step_sanity() { with_venv "$SARK_VENV" ansible-test sanity --python 3.12 --local --color no; }
# SARK_UNIT_TARGETS narrows the unit run for development (ansible-test targets, e.g. tests/unit/plugins/module_utils/test_files.py)
# shellcheck disable=SC2086
step_units() { with_venv "$SARK_VENV" ansible-test units --python 3.12 --local --color no ${SARK_UNIT_TARGETS:-}; local rc=$?; copy_junit units312; return $rc; }
step_sanity311() { with_venv "$SARK_VENV311" ansible-test sanity --python 3.11 --local --color no; }
step_units311() { with_venv "$SARK_VENV311" ansible-test units --python 3.11 --local --color no; local rc=$?; copy_junit units311; return $rc; }
step_lint() { ansible-lint --offline --profile production --nocolor; }
step_integration() {
  # SARK_INTEGRATION_TARGETS narrows the run for development (e.g. "tests/integration/test_redis_session.py -k revoke")
  # shellcheck disable=SC2086
  python -m pytest -c tests/integration/pytest.ini ${SARK_INTEGRATION_TARGETS:-tests/integration} -p no:cacheprovider \
    --junitxml="$JUNIT/integration.xml" -q "${SARK_PYTEST_ARGS[@]}"
}
run_scenario() {  # scenario: one Molecule scenario with an ephemeral directory and a log of its own; writes <log>.rc
  local scenario="$1" log="$WORK/molecule-logs/$1.log" start rc
  start=$(date +%s)
  MOLECULE_EPHEMERAL_DIRECTORY="$WORK/molecule/$scenario" molecule test -s "$scenario" >"$log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$log.rc"
  return $rc
}
step_molecule() {
  # SARK_MOLECULE_JOBS scenarios at a time (default 2), each with an ephemeral directory of this run's own: Molecule's
  # default (~/.ansible/tmp/molecule.<hash of "ops">.<scenario>) is shared by every checkout and every concurrent run.
  # Every scenario's demo stack uses free ports and lives in its ephemeral directory, so scenarios do not share state.
  # Each scenario's output goes to its own log, printed whole when it ends, then a summary line per scenario.
  local jobs="${SARK_MOLECULE_JOBS:-2}" rc=0 config scenario running=0 status secs
  local -a scenarios=()
  mkdir -p "$WORK/molecule-logs"
  if [ -n "${SARK_MOLECULE_SCENARIOS:-}" ]; then
    read -r -a scenarios <<<"$SARK_MOLECULE_SCENARIOS"
  else
    for config in extensions/molecule/*/molecule.yml; do
      scenarios+=("$(basename "$(dirname "$config")")")
    done
  fi
  print_log() { echo "---- molecule scenario $1 (output)"; cat "$WORK/molecule-logs/$1.log"; echo "---- end of $1"; }
  for scenario in "${scenarios[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
      wait -n
      running=$((running - 1))
    fi
    run_scenario "$scenario" &
    running=$((running + 1))
  done
  wait
  for scenario in "${scenarios[@]}"; do
    print_log "$scenario"
  done
  echo "== molecule summary ($jobs at a time)"
  for scenario in "${scenarios[@]}"; do
    if [ -f "$WORK/molecule-logs/$scenario.log.rc" ]; then
      read -r status secs <"$WORK/molecule-logs/$scenario.log.rc"
    else
      status=1 secs="?"
    fi
    printf 'molecule %-24s %-6s %5ss\n' "$scenario" "$([ "$status" = 0 ] && echo ok || echo FAILED)" "$secs"
    [ "$status" = 0 ] || rc=1
  done
  return $rc
}
step_build() {
  local dist="$WORK/dist" inst="$WORK/inst" tarball
  ansible-galaxy collection build --force --output-path "$dist" . || return 1
  tarball="$(ls "$dist"/sark-ops-*.tar.gz)"
  # offline: the dependencies are already on the collections path, Galaxy is never asked
  ANSIBLE_COLLECTIONS_PATH="$SARK_DEPS_COLLECTIONS" ansible-galaxy collection install --offline --force -p "$inst" "$tarball" || return 1
  ANSIBLE_COLLECTIONS_PATH="$inst:$SARK_DEPS_COLLECTIONS" ansible-doc sark.ops.sark_health >/dev/null || return 1
  ANSIBLE_COLLECTIONS_PATH="$inst:$SARK_DEPS_COLLECTIONS" ansible-galaxy collection list sark.ops
  echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB) and installed it offline"
  step_ee "$tarball" "$inst"
}
step_ee() {  # tarball, install dir: the example execution environment's build context (no image: no container engine)
  local deps
  cp "$1" extensions/ee/sark-ops.tar.gz || return 1
  ansible-builder create -f extensions/ee/execution-environment.yml -c "$WORK/ee-context" || return 1
  rm -f extensions/ee/sark-ops.tar.gz
  [ -f "$WORK/ee-context/_build/sark-ops.tar.gz" ] || { echo "EE context lacks the collection tarball" >&2; return 1; }
  # what the EE image would install for sark.ops: its meta/execution-environment.yml, read from the installed tarball
  deps="$(ansible-builder introspect --sanitize "$2" 2>/dev/null)" || return 1
  for want in "postgresql-client \\[platform:dpkg\\]" "psycopg2-binary" "redis>="; do
    grep -q "$want.*from collection sark.ops" <<<"$deps" || { echo "EE introspection lacks $want:" >&2; echo "$deps" >&2; return 1; }
  done
  echo "ansible-builder create: EE context in $WORK/ee-context; collection dependencies found by introspection"
}

# The integration tests run in SARK_PYTEST_XDIST pytest-xdist workers (default 3; 0 = in this process). Each worker
# starts its own servers on free ports; --dist loadfile keeps a file's tests (and its module-scoped servers) on one worker.
SARK_PYTEST_ARGS=(--durations=30)
SARK_PYTEST_XDIST="${SARK_PYTEST_XDIST:-3}"
[ "$SARK_PYTEST_XDIST" != 0 ] && SARK_PYTEST_ARGS+=(-n "$SARK_PYTEST_XDIST" --dist loadfile)

for step in "${STEPS[@]}"; do
  case "$step" in
    sanity|units|sanity311|units311|lint|integration|molecule|build) run_step "$step" "step_$step" ;;
    *) echo "unknown step $step" >&2; FAILED=$((FAILED + 1)) ;;
  esac
done

echo
echo "== summary (setup ${SETUP_SECONDS}s, total $(( $(date +%s) - T0 ))s)"
printf '%s\n' "${RESULTS[@]}"
python - "$JUNIT" "$FAILED" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
# Counted per testcase. Tests marked `harness` (tests/integration/pytest.ini; they test the simulator and the other test
# helpers, not the collection) carry a junit property harness=true and are reported on a line of their own.
counts = {"collection": [0, 0, 0], "harness": [0, 0, 0]}  # passed, failed, skipped
for path in sorted(glob.glob(sys.argv[1] + "/*.xml")):
    for case in ET.parse(path).getroot().iter("testcase"):
        kind = "harness" if any(p.get("name") == "harness" and p.get("value") == "true" for p in case.iter("property")) else "collection"
        if case.find("failure") is not None or case.find("error") is not None:
            counts[kind][1] += 1
        elif case.find("skipped") is not None:
            counts[kind][2] += 1
        else:
            counts[kind][0] += 1
steps_failed = int(sys.argv[2])
passed, failed, skipped = counts["collection"]
print("harness tests (the simulator and test helpers, not counted below): %d passed, %d failed, %d skipped" % tuple(counts["harness"]))
print("pytest cases of the collection (units + integration): %d passed, %d failed, %d skipped" % (passed, failed, skipped))
print("steps failed: %d" % steps_failed)
print("tests: %d passed, %d failed, %d skipped" % (passed, failed + steps_failed, skipped))
PY
rm -rf "$WORK"
[ "$FAILED" = 0 ]
