#!/usr/bin/env bash
# Set up everything sark.ops needs on a fresh Debian 12 machine (run as root), idempotently:
#   - Debian packages that are missing (Redis, PostgreSQL 15, Prometheus, Alertmanager, openssl, Java for EDA)
#   - a Python 3.12 virtualenv with the pinned tool stack (ansible-core 2.21), and a Python 3.11 one
#     (ansible-core 2.19) for the secondary sanity/unit run
#   - kubernetes.core, community.postgresql and community.general taken from the `ansible` wheel on PyPI
#     (Galaxy is not reachable)
#   - the pip bootstrap script ansible-test would otherwise download
# Source it (`. scripts/setup.sh`) to get SARK_OPS_HOME, SARK_VENV, ANSIBLE_COLLECTIONS_PATH, ... exported.
set -euo pipefail

SARK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SARK_OPS_HOME="${SARK_OPS_HOME:-${HOME:-/root}/.cache/sark-ops}"
ANSIBLE_BUNDLE_VERSION="14.5.0"
# the reference BullMQ (Node.js) the AUDITRON queue tests run as a real producer and worker (test profile only)
BULLMQ_NPM_VERSION="5.81.5"
# run: what the main job needs (scripts/run-daily-check.sh); test: everything the test command needs (the default)
SARK_SETUP_PROFILE="${SARK_SETUP_PROFILE:-test}"
case "$SARK_SETUP_PROFILE" in run|test) ;; *) printf '[setup] SARK_SETUP_PROFILE must be run or test\n' >&2; exit 1 ;; esac
DEP_COLLECTIONS="kubernetes/core community/postgresql community/general community/library_inventory_filtering_v1 ansible/posix ansible/utils amazon/aws community/crypto"
mkdir -p "$SARK_OPS_HOME"

log() { printf '[setup] %s\n' "$*" >&2; }

content_hash() { cat "$@" | sha256sum | cut -c1-12; }  # of the contents only, never the paths

requirement_files() {  # $1 = requirements file; prints it and every file it includes with -r, recursively
  local req="$1" inc
  echo "$req"
  while read -r inc; do
    requirement_files "$(dirname "$req")/$inc"
  done < <(sed -n 's/^-r[[:space:]]*//p' "$req")
}

install_debian_packages() {
  local missing=()
  # the demo stack's servers (main job and tests)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
  [ -x /usr/lib/postgresql/15/bin/pg_dump ] || missing+=(postgresql-client-15)
  command -v runuser >/dev/null || missing+=(util-linux)
  # the demo's Prometheus (promtool backfills its history) and Alertmanager: the main job needs them too
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  if [ "$SARK_SETUP_PROFILE" = test ]; then
    command -v openssl >/dev/null || missing+=(openssl)
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v git >/dev/null || missing+=(git)
    # headless Chromium renders the daily report's HTML page in its DOM test
    command -v chromium >/dev/null || missing+=(chromium)
    # Node.js + npm run the reference BullMQ producer and worker of the AUDITRON queue tests
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      log "missing Debian packages: ${missing[*]} - run this script as root (or install them) first"
      exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packaged services from starting: tests start their own servers
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  fi
}

find_python() {  # $1 = minor version, e.g. 3.12
  local candidate
  for candidate in "${PYENV_ROOT:-/root/.pyenv}"/versions/"$1".*/bin/python "$(command -v "python$1" || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

pip_quiet() {  # $1 = venv; the rest are pip arguments. Shows pip's output only when it fails.
  local venv="$1" out; shift
  out="$(mktemp)"
  if ! "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" >"$out" 2>&1; then
    grep -v "is ignored" "$out" >&2 || true
    rm -f "$out"
    log "pip $* failed in $venv"
    return 1
  fi
  rm -f "$out"
}

make_venv() {  # $1 = name prefix, $2 = python minor, $3 = requirements file; prints the venv path
  # A venv is immutable and named after the hash of its requirements: a changed pin makes a new one, and
  # nobody's running venv is ever rebuilt underneath them.
  local prefix="$1" pyver="$2" req="$3" venv python
  venv="$SARK_OPS_HOME/$prefix-$(content_hash $(requirement_files "$req"))"
  if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
    echo "$venv"; return 0
  fi
  python="$(find_python "$pyver")" || { log "Python $pyver not found (pyenv or python$pyver)"; return 1; }
  log "creating $venv with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv" || return 1
  pip_quiet "$venv" install -U pip || return 1
  pip_quiet "$venv" install -r "$req" || return 1
  touch "$venv/.complete"
  echo "$venv"
}

install_dep_collections() {
  local target="$SARK_OPS_HOME/collections" stamp="ansible-$ANSIBLE_BUNDLE_VERSION $DEP_COLLECTIONS"
  if [ "$(cat "$target/.stamp" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  log "extracting $DEP_COLLECTIONS from the ansible $ANSIBLE_BUNDLE_VERSION wheel"
  mkdir -p "$SARK_OPS_HOME/dl"
  ls "$SARK_OPS_HOME"/dl/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl >/dev/null 2>&1 || \
    pip_quiet "$SARK_VENV" download --no-deps -d "$SARK_OPS_HOME/dl" "ansible==$ANSIBLE_BUNDLE_VERSION"
  rm -rf "$target"
  WHEEL_DIR="$SARK_OPS_HOME/dl" TARGET="$target" WANT="$DEP_COLLECTIONS" VERSION="$ANSIBLE_BUNDLE_VERSION" \
    "$SARK_VENV/bin/python" - <<'PY'
import glob, os, zipfile
wheel = glob.glob(os.path.join(os.environ["WHEEL_DIR"], "ansible-%s-*.whl" % os.environ["VERSION"]))[0]
want = tuple("ansible_collections/%s/" % c for c in os.environ["WANT"].split())
with zipfile.ZipFile(wheel) as zf:
    zf.extractall(os.environ["TARGET"], [n for n in zf.namelist() if n.startswith(want)])
PY
  echo "$stamp" > "$target/.stamp"
}

install_get_pip_shim() {  # ansible-test's pip bootstrap download is unreachable here
  local venv ver
  mkdir -p "${HOME:-/root}/.ansible/test/cache"
  for venv in "$SARK_VENV" "$SARK_VENV311"; do
    [ -n "$venv" ] && [ -x "$venv/bin/python" ] || continue
    for ver in $("$venv/bin/python" - <<'PY'
import os, re, ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(*sorted(set(re.findall(r"pip='([0-9.]+)'", open(path).read()))))
PY
    ); do
      cp "$SARK_REPO/tests/ci/get_pip_shim.py" "${HOME:-/root}/.ansible/test/cache/get_pip_${ver//./_}.py"
    done
  done
}

install_bullmq_npm() {  # npm's bullmq into $SARK_OPS_HOME, once; tests find it through SARK_BULLMQ_NODE_DIR (no network later)
  local dir="$SARK_OPS_HOME/node/bullmq-$BULLMQ_NPM_VERSION"
  if [ ! -f "$dir/.complete" ]; then
    log "installing bullmq@$BULLMQ_NPM_VERSION (npm) into $dir"
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    (cd "$dir" && printf '{"name":"sark-ops-bullmq-harness","private":true}\n' > package.json &&
      npm install --no-audit --no-fund --silent --save-exact "bullmq@$BULLMQ_NPM_VERSION" >/dev/null) || {
      log "npm install bullmq@$BULLMQ_NPM_VERSION failed"; return 1; }
    touch "$dir/.complete"
  fi
  SARK_BULLMQ_NODE_DIR="$dir"
  export SARK_BULLMQ_NODE_DIR
}

sark_setup() {
  install_debian_packages || return 1
  SARK_VENV311=""
  if [ "$SARK_SETUP_PROFILE" = run ]; then
    # the main job: the controller, the modules' libraries and the demo stack, nothing of the test tool chain
    SARK_VENV="$(make_venv venvrun 3.12 "$SARK_REPO/tests/ci/requirements-run.txt")" || return 1
  else
    SARK_VENV="$(make_venv venv312 3.12 "$SARK_REPO/tests/ci/requirements-py312.txt")" || return 1
    if [ "${SARK_SKIP_PY311:-0}" != 1 ]; then
      SARK_VENV311="$(make_venv venv311 3.11 "$SARK_REPO/tests/ci/requirements-py311.txt")" || return 1
    fi
  fi
  export SARK_REPO SARK_OPS_HOME SARK_VENV SARK_VENV311
  install_dep_collections || return 1
  if [ "$SARK_SETUP_PROFILE" = test ]; then
    install_get_pip_shim || return 1
    install_bullmq_npm || return 1
  fi
  # The collection is found through a link to this checkout (ansible-test needs a real copy; see run-tests.sh).
  mkdir -p "$SARK_OPS_HOME/src/ansible_collections/sark"
  ln -sfn "$SARK_REPO" "$SARK_OPS_HOME/src/ansible_collections/sark/ops"
}

# One set-up at a time per SARK_OPS_HOME: parallel jobs would otherwise build the same venv twice.
exec 9>"$SARK_OPS_HOME/.setup.lock"
flock 9
if ! sark_setup; then
  exec 9>&-
  log "set-up failed (see above)"
  return 1 2>/dev/null || exit 1
fi
exec 9>&-

export PATH="$SARK_VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$SARK_OPS_HOME/src:$SARK_OPS_HOME/collections"
export ANSIBLE_PYTHON_INTERPRETER="$SARK_VENV/bin/python"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PYTHONDONTWRITEBYTECODE=1
log "ready: venv $SARK_VENV, collections $ANSIBLE_COLLECTIONS_PATH"
