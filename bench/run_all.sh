#!/bin/bash
# Runs the reference workloads W1-W4 (docs/PERFORMANCE.md) against build/release and prints a
# summary table. `make bench` builds the release preset, then calls this; it builds nothing.
#
# Environment:
#   REPS=3              repetitions of W1 and W2 (W3 and W4 run once)
#   WORKLOADS="w1 w2 w3 w4"
#   OUT=bench/results/<UTC timestamp>   where the *.jsonl results go
#   KEEL_BUILD_DIR=build/release
#   RUN_PEERS=1         also run Restate through the peers' harness (../shared/peers), in the
#                       same invocation, interleaved with Keel: PEER_WORKLOADS="w1 w2" by default.
#                       Needs node and `npm install` in ../shared/peers/restate (done here if
#                       node_modules is missing). Restate uses the fixed ports 8080, 9070, 9080.
#   W3_EARLY_KILL_MS=300  W3 also runs with the kill this soon after the first submit (while
#                       every run is mid-flight); 0 turns that variant off. The reference W3
#                       kills at 1000 ms, when a fast server may have finished every run.
#   KEEL_BENCH_ARGS     extra keel_bench arguments, e.g. "--server-arg --config --server-arg F"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KEEL_BUILD_DIR:-$ROOT/build/release}
BENCH=$BUILD/bin/keel_bench
REPS=${REPS:-3}
WORKLOADS=${WORKLOADS:-w1 w2 w3 w4}
PEER_WORKLOADS=${PEER_WORKLOADS:-w1 w2}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)}
PEERS=${KEEL_PEERS_DIR:-$(cd "$ROOT/.." && pwd)/shared/peers}
read -r -a EXTRA <<< "${KEEL_BENCH_ARGS:-}"

if [ ! -x "$BENCH" ] || [ ! -x "$BUILD/bin/keel" ]; then
  echo "run_all.sh: $BENCH or $BUILD/bin/keel is missing; run 'make bench' (or build the release preset)" >&2
  exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }

peers_ready=0
if [ "${RUN_PEERS:-0}" = 1 ]; then
  if [ ! -x "$PEERS/restate/bench.sh" ]; then
    log "RUN_PEERS=1 but $PEERS/restate/bench.sh is missing; Restate skipped"
  elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "RUN_PEERS=1 but node/npm are missing; Restate skipped"
  else
    if [ ! -d "$PEERS/restate/node_modules" ]; then
      log "npm install in $PEERS/restate"
      (cd "$PEERS/restate" && npm install --no-audit --no-fund >&2)
    fi
    peers_ready=1
  fi
fi

failures=0
# keel W REP [extra keel_bench args]: one keel_bench run, its JSON line appended to $OUT/W.jsonl.
keel() {
  local w=$1 rep=$2 system=${3:-keel}
  shift 3 || shift $#
  log "$system $w rep $rep"
  local line
  local rc=0
  line=$("$BENCH" "$w" --label "$system-$w-r$rep" "$@" "${EXTRA[@]}") || rc=$?
  if [ $rc -ne 0 ]; then
    failures=$((failures + 1))
    log "$system $w rep $rep FAILED (exit $rc)"
  fi
  [ -n "$line" ] && echo "$line" >> "$OUT/$w.jsonl"
  log "  $line"
}
restate() {
  local w=$1 rep=$2
  [ $peers_ready = 1 ] || return 0
  case " $PEER_WORKLOADS " in *" $w "*) ;; *) return 0 ;; esac
  log "restate $w rep $rep (peers harness)"
  if ! "$PEERS/restate/bench.sh" "$w" "$rep" "$OUT" >&2; then
    failures=$((failures + 1))
    log "restate $w rep $rep FAILED"
  fi
}

log "results -> $OUT"
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "mem: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "keel: $("$BUILD/bin/keel" --version 2>/dev/null || echo '?')"
  echo "fdatasync_us (4 KiB, median of 200, in ${TMPDIR:-/tmp}): $("$BENCH" fsync-probe "${TMPDIR:-/tmp}")"
  echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "args: ${KEEL_BENCH_ARGS:-}"
} > "$OUT/machine.txt"

for w in $WORKLOADS; do
  case $w in
    w1|w2) reps=$REPS ;;
    *) reps=1 ;;
  esac
  for rep in $(seq 1 "$reps"); do
    keel "$w" "$rep"
    restate "$w" "$rep"
    if [ "$w" = w3 ] && [ "${W3_EARLY_KILL_MS:-300}" != 0 ]; then
      keel w3 "$rep" "keel-kill${W3_EARLY_KILL_MS:-300}ms" --crash-after-ms "${W3_EARLY_KILL_MS:-300}"
    fi
  done
done

"$BENCH" summary "$OUT" | tee "$OUT/summary.txt"
if [ $failures -gt 0 ]; then
  log "$failures run(s) failed; see $OUT"
  exit 1
fi
