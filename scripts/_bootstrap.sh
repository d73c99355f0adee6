# Shared by scripts/run and scripts/test: make sure Chromium and the virtualenv exist.
# Sourced, not executed. Idempotent and quiet when everything is already in place.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MAPAY_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_chromium() {
  # The headless shell runs the gateway (half the memory per login of the full browser); the full browser
  # serves --headed runs and windowed recording.
  [ -z "${MAPAY_CHROMIUM_PATH:-}" ] || return 0
  local browser="" shell="" sudo=""
  { command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 && browser=1
  command -v chromium-headless-shell >/dev/null 2>&1 && shell=1
  [ -z "$browser" ] || [ -z "$shell" ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -n "$browser" ] && command -v apt-get >/dev/null 2>&1; then
    echo ">> installing Debian's chromium-headless-shell (the gateway's headless browser)"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends chromium-headless-shell >/dev/null; } \
      || echo ">> chromium-headless-shell is not installable here: the full chromium runs headless (more memory per login)"
  elif command -v apt-get >/dev/null 2>&1; then
    echo ">> installing Debian's chromium and chromium-headless-shell (and a CJK font for readable screenshots)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium \
      chromium-headless-shell fonts-noto-cjk fonts-dejavu-core >/dev/null
  elif [ -z "$browser" ] && [ -z "$shell" ]; then
    echo ">> no system chromium and no apt-get: falling back to 'playwright install chromium' (needs internet)"
    "$VENV/bin/python" -m playwright install chromium
  fi
}

ensure_venv() {
  # Third-party packages from a lock with hashes (requirements/*.lock, refreshed by scripts/lock), then the
  # package itself, editable, without touching the network again (its build backend is in the lock too).
  local extras="${1:-}"
  # runtime.lock + build.lock for scripts/run; test.lock (runtime, test extras and build backend) for tests.
  local locks=(-r "$ROOT/requirements/runtime.lock" -r "$ROOT/requirements/build.lock")
  [ -z "$extras" ] || locks=(-r "$ROOT/requirements/$extras.lock")
  if [ ! -x "$VENV/bin/python" ]; then
    echo ">> [1/3] creating the virtualenv $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  # Re-install only when the lock or pyproject.toml changed since the last successful install.
  local stamp="$VENV/.mapay-installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] \
     || [ -n "$(find "$ROOT/requirements" -name '*.lock' -newer "$stamp")" ]; then
    local total
    total="$(cat "${locks[@]/#-r/}" 2>/dev/null | grep -c '==' || true)"
    echo ">> [2/3] installing $total locked packages into $VENV (a few minutes the first time)"
    "$VENV/bin/python" -m pip install --require-hashes --progress-bar off "${locks[@]}" | show_progress "$total"
    echo ">> [3/3] installing $ROOT itself (editable)"
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    touch "$stamp"
    echo ">> installed"
  fi
}

show_progress() {
  # pip's "Collecting NAME" lines, one per package, as "   [n/total] NAME".
  local total="$1" n=0 line name
  while IFS= read -r line; do
    case "$line" in
      Collecting*|Requirement\ already\ satisfied*)
        n=$((n + 1))
        set -- $line
        [ "$1" = "Collecting" ] && name="$2" || name="$4"
        printf '   [%d/%s] %s\n' "$n" "$total" "${name%%[=<>;]*}";;
    esac
  done
}
