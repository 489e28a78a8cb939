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

# ansible-test needs the collection at .../ansible_collections/sark/ops as a real directory. Steps that run at the
# same time and write into the tree (ansible-test's tests/output, ansible-lint's .ansible) get a staged copy each.
WORK="$(mktemp -d /tmp/sark-ops-tests.XXXXXX)"
stage() {  # root: a copy of the checkout at <root>/ansible_collections/sark/ops; prints its path
  local dest="$1/ansible_collections/sark/ops"
  mkdir -p "$1/ansible_collections/sark"
  cp -a "$REPO" "$dest"
  rm -rf "$dest/.ansible" "$dest/collections" "$dest/tests/output" "$dest/dist"
  echo "$dest"
}
COLL="$(stage "$WORK")"
COLL311="$(stage "$WORK/py311")"
COLL_LINT="$(stage "$WORK/lint")"
COLL_BUILD="$(stage "$WORK/build")"
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
# The 3.11 lane is the oldest supported ansible-core (2.19): it runs every sanity test whose verdict depends on the
# ansible-core version (compile, import, validate-modules, ansible-doc, runtime-metadata, ...). The code-style linters
# (pylint, pep8, yamllint, shellcheck) judge the same files the same way whatever the version and run once, in the
# 3.12 lane: pylint alone was half of this lane's CPU on a CI bound by CPU.
SANITY311_SKIP=(--skip-test pylint --skip-test pep8 --skip-test yamllint --skip-test shellcheck)
step_sanity311() { cd "$COLL311" && with_venv "$SARK_VENV311" ansible-test sanity --python 3.11 --local --color no "${SANITY311_SKIP[@]}"; }
step_units311() {
  cd "$COLL311" || return 1
  with_venv "$SARK_VENV311" ansible-test units --python 3.11 --local --color no; local rc=$?; copy_junit units311; return $rc
}
step_lint() { cd "$COLL_LINT" && ansible-lint --offline --profile production --nocolor; }
step_integration() {
  # SARK_INTEGRATION_TARGETS narrows the run for development (e.g. "tests/integration/test_redis_session.py -k revoke")
  # shellcheck disable=SC2086
  python -m pytest -c tests/integration/pytest.ini ${SARK_INTEGRATION_TARGETS:-tests/integration} -p no:cacheprovider \
    --junitxml="$JUNIT/integration.xml" -q "${SARK_PYTEST_ARGS[@]}"
}
cpu_seconds() {  # file holding `times` output (its last line, the children's "1m2.5s 0m3.25s"): user + system, seconds
  tail -n 1 "$1" 2>/dev/null | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] } printf "%d", t }'
}
run_scenario() {  # scenario: one Molecule scenario with an ephemeral directory and a log of its own; writes <log>.rc
  local scenario="$1" log="$WORK/molecule-logs/$1.log" start rc
  start=$(date +%s)
  # the subshell's `times` (its children's user and system CPU) gives the scenario's CPU time
  (
    MOLECULE_EPHEMERAL_DIRECTORY="$WORK/molecule/$scenario" molecule test -s "$scenario" >"$log" 2>&1
    rc=$?
    times >"$log.cpu"
    exit $rc
  )
  rc=$?
  echo "$rc $(( $(date +%s) - start )) $(cpu_seconds "$log.cpu")" >"$log.rc"
  return $rc
}
MOLECULE_LONGEST_FIRST="auditron_platform rsp_platform incident_db_outage incident_security incident_api_down incident_high_latency sark_daily_check incident_opa_failure"
step_molecule() {
  # SARK_MOLECULE_JOBS scenarios at a time (default 4), each with an ephemeral directory of this run's own: Molecule's
  # default (~/.ansible/tmp/molecule.<hash of "ops">.<scenario>) is shared by every checkout and every concurrent run.
  # Every scenario's demo stack uses free ports and lives in its ephemeral directory, so scenarios do not share state.
  # Each scenario's output goes to its own log, printed whole when it ends, then a summary line per scenario.
  local jobs="${SARK_MOLECULE_JOBS:-4}" rc=0 config scenario running=0 status secs cpu
  local -a scenarios=()
  mkdir -p "$WORK/molecule-logs"
  if [ -n "${SARK_MOLECULE_SCENARIOS:-}" ]; then
    read -r -a scenarios <<<"$SARK_MOLECULE_SCENARIOS"
  else
    # the longest first (measured), so that no long scenario runs alone at the end; then every other one
    for scenario in $MOLECULE_LONGEST_FIRST; do
      [ -f "extensions/molecule/$scenario/molecule.yml" ] && scenarios+=("$scenario")
    done
    for config in extensions/molecule/*/molecule.yml; do
      scenario="$(basename "$(dirname "$config")")"
      [[ " $MOLECULE_LONGEST_FIRST " == *" $scenario "* ]] || scenarios+=("$scenario")
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
      read -r status secs cpu <"$WORK/molecule-logs/$scenario.log.rc"
    else
      status=1 secs="?" cpu="?"
    fi
    printf 'molecule %-26s %-6s %5ss  (CPU %ss)\n' "$scenario" "$([ "$status" = 0 ] && echo ok || echo FAILED)" "$secs" "${cpu:-?}"
    [ "$status" = 0 ] || rc=1
  done
  return $rc
}
step_build() {
  local dist="$WORK/dist" inst="$WORK/inst" tarball
  cd "$COLL_BUILD" || return 1
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

# The integration tests run in SARK_PYTEST_XDIST pytest-xdist workers (default 4; 0 = in this process). Each worker
# starts its own servers on free ports; --dist loadfile keeps a file's tests (and its module-scoped servers) on one worker.
# 4 workers and 4 Molecule scenarios at a time on 2 CPUs: with 3 + 3 the two steps kept 1.66 CPUs busy on average
# (both wait on servers, rollouts and polls a good part of the time); the waits of one fill with another's work.
SARK_PYTEST_ARGS=(--durations=30)
SARK_PYTEST_XDIST="${SARK_PYTEST_XDIST:-4}"
[ "$SARK_PYTEST_XDIST" != 0 ] && SARK_PYTEST_ARGS+=(-n "$SARK_PYTEST_XDIST" --dist loadfile)

# The steps run in lanes, each lane's steps one after the other, the lanes of a phase at the same time: ansible-test
# and ansible-lint use one CPU each, so on a 2-CPU machine three static lanes take about the time of the longest;
# then the integration tests and the Molecule scenarios share the machine (both wait on servers a good part of the
# time). A lane's output goes to a log per step, printed whole, in step order, when its phase ends.
# SARK_SERIAL=1 runs every step one after the other in the order given (timings of a step alone).
LOGS="$WORK/step-logs"
mkdir -p "$LOGS"
declare -A LANE_OF=([sanity]=a [units]=a [sanity311]=b [units311]=b [lint]=c [build]=c [integration]=d [molecule]=e)
declare -A PHASE_OF=([sanity]=1 [units]=1 [sanity311]=1 [units311]=1 [lint]=1 [build]=1 [integration]=2 [molecule]=2)
run_lane() {  # steps...: one after the other, each into $LOGS/<step>.log, its status and seconds into <step>.rc
  local step start rc
  for step in "$@"; do
    start=$(date +%s)
    (
      cd "$COLL" && echo "== $step: step_$step" && "step_$step"
      rc=$?
      times >"$LOGS/$step.cpu"
      exit $rc
    ) >"$LOGS/$step.log" 2>&1
    rc=$?
    echo "$rc $(( $(date +%s) - start )) $(cpu_seconds "$LOGS/$step.cpu")" >"$LOGS/$step.rc"
  done
}
collect_step() {  # step: print its log and add its result line
  local step="$1" rc=1 secs="?" cpu="?"
  echo "::group:: $step"
  cat "$LOGS/$step.log" 2>/dev/null
  echo "::endgroup::"
  [ -f "$LOGS/$step.rc" ] && read -r rc secs cpu <"$LOGS/$step.rc"
  RESULTS+=("$(printf '%-12s %-6s %5ss  (CPU %ss)' "$step" "$([ "$rc" = 0 ] && echo ok || echo FAILED)" "$secs" "$cpu")")
  [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
}
for step in "${STEPS[@]}"; do
  [ -n "${LANE_OF[$step]:-}" ] || { echo "unknown step $step" >&2; FAILED=$((FAILED + 1)); }
done
if [ "${SARK_SERIAL:-0}" = 1 ]; then
  for step in "${STEPS[@]}"; do
    [ -n "${LANE_OF[$step]:-}" ] && run_step "$step" "step_$step"
  done
else
  for phase in 1 2; do
    declare -A lanes=()
    phase_steps=()
    for step in "${STEPS[@]}"; do
      [ "${PHASE_OF[$step]:-}" = "$phase" ] || continue
      lanes[${LANE_OF[$step]}]+="$step "
      phase_steps+=("$step")
    done
    [ ${#phase_steps[@]} -gt 0 ] || continue
    phase_start=$(date +%s)
    for lane in "${!lanes[@]}"; do
      # shellcheck disable=SC2086
      run_lane ${lanes[$lane]} &
    done
    wait
    for step in "${phase_steps[@]}"; do
      collect_step "$step"
    done
    RESULTS+=("$(printf '%-12s %-6s %5ss' "(phase $phase)" "" "$(( $(date +%s) - phase_start ))")")
    unset lanes
  done
fi

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
