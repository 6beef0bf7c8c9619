#!/usr/bin/env bash
# sdk_conformance_test: runs conformance.mjs (the official openai and @anthropic-ai/sdk npm
# packages) against a fresh keel-llm-sim.
#   test/sdk/run.sh [path/to/keel-llm-sim]     (default: $KEEL_BIN_DIR/bin/keel-llm-sim)
# Installs the pinned packages with `npm ci` into test/sdk/node_modules when they are missing or
# older than package-lock.json. Fails (never skips) when node or npm is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sim="${1:-${KEEL_BIN_DIR:-build/debug}/bin/keel-llm-sim}"

fail() {
  echo "sdk_conformance_test: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not installed (scripts/setup installs Node.js 20+)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (scripts/setup installs Node.js 20+)"
[ -x "$sim" ] || fail "keel-llm-sim not found at $sim (build the keel-llm-sim target)"

# Two test runs (two build directories) share this source tree: install under a lock.
(
  flock 9
  stamp="$here/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
    echo "sdk_conformance_test: npm ci in $here" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
      fail "npm ci failed (is the npm registry reachable?)"
    touch "$stamp"
  fi
) 9>"${TMPDIR:-/tmp}/keel-sdk-npm-$(id -u).lock"

work="$(mktemp -d "${TMPDIR:-/tmp}/keel-sdk-XXXXXX")"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then
    kill -KILL "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

key="keel-sdk-test-key"
"$sim" --listen 127.0.0.1:0 --port-file "$work/port" --require-key "$key" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/port" ] && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    cat "$work/sim.log" >&2
    fail "keel-llm-sim exited during start-up"
  fi
  sleep 0.1
done
[ -s "$work/port" ] || fail "keel-llm-sim did not listen within 30 s"

KEEL_SIM_PORT="$(cat "$work/port")" KEEL_SIM_KEY="$key" node "$here/conformance.mjs"
