#!/bin/bash
# Runs the reference workloads W1-W4 and the gateway/agent workloads G1-G2 (docs/PERFORMANCE.md)
# against build/release and prints a summary table. `make bench` builds the release preset,
# then calls this; it builds nothing.
#
# Environment:
#   REPS=3              repetitions of W1, W2, G1 and G2 (W3 and W4 run once)
#   WORKLOADS="w1 w2 w3 w4 g1 g2"
#   G1_CASES="1 64 64:50"  one G1 invocation per case: concurrent runs[:simulator latency in ms]
#   G2_CASES="1 64"        the same for G2 (the agent benchmark; simulator at zero latency)
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
#   QUIET_WAIT_S=0      before each Keel run, wait up to this many seconds for the machine to be
#                       quiet (under 0.1 CPU busy over 5 s); on a shared machine, e.g. 600. The
#                       run goes ahead anyway after that, its other_cpu_s telling how busy it was.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KEEL_BUILD_DIR:-$ROOT/build/release}
BENCH=$BUILD/bin/keel_bench
REPS=${REPS:-3}
WORKLOADS=${WORKLOADS:-w1 w2 w3 w4 g1 g2}
G1_CASES=${G1_CASES:-1 64 64:50}
G2_CASES=${G2_CASES:-1 64}
PEER_WORKLOADS=${PEER_WORKLOADS:-w1 w2}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)}
PEERS=${KEEL_PEERS_DIR:-$(cd "$ROOT/.." && pwd)/shared/peers}
read -r -a EXTRA <<< "${KEEL_BENCH_ARGS:-}"

if [ ! -x "$BENCH" ] || [ ! -x "$BUILD/bin/keel" ]; then
  echo "run_all.sh: $BENCH or $BUILD/bin/keel is missing; run 'make bench' (or build the release preset)" >&2
  exit 2
fi
case " $WORKLOADS " in
  *" g1 "*|*" g2 "*)
    if [ ! -x "$BUILD/bin/keel-llm-sim" ]; then
      echo "run_all.sh: $BUILD/bin/keel-llm-sim is missing (G1/G2 need it); run 'make bench'" >&2
      exit 2
    fi ;;
esac
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

# Waits up to QUIET_WAIT_S seconds until the machine used less than 0.1 CPU over 5 s.
wait_quiet() {
  local limit=${QUIET_WAIT_S:-0} start=$SECONDS b0 b1
  [ "$limit" -gt 0 ] || return 0
  busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    b0=$(busy); sleep 5; b1=$(busy)
    # /proc/stat counts USER_HZ ticks (100 per second per CPU): 0.1 CPU over 5 s is 50.
    if [ $((b1 - b0)) -lt 50 ]; then return 0; fi
  done
  log "the machine stayed busy for ${limit} s; running anyway"
}

failures=0
# keel W REP [SYSTEM [extra keel_bench args]]: one keel_bench run, its JSON line appended to
# $OUT/W.jsonl. SYSTEM (default keel) starts the label; a G workload's label also names its
# case ($G_CASE).
keel() {
  local w=$1 rep=$2 system=${3:-keel}
  shift 3 || shift $#
  local label="$system-$w-r$rep"
  case $w in g*) label="$system-$w-c${G_CASE/:/-l}-r$rep" ;; esac
  wait_quiet
  log "$label"
  local line
  local rc=0
  line=$("$BENCH" "$w" --label "$label" "$@" "${EXTRA[@]}") || rc=$?
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

G_CASE=
for w in $WORKLOADS; do
  case $w in
    w1|w2|g1|g2) reps=$REPS ;;
    *) reps=1 ;;
  esac
  if [ "$w" = g1 ] || [ "$w" = g2 ]; then
    cases=$G1_CASES
    [ "$w" = g2 ] && cases=$G2_CASES
    for rep in $(seq 1 "$reps"); do
      for G_CASE in $cases; do
        c=${G_CASE%%:*}
        latency=0
        case $G_CASE in *:*) latency=${G_CASE#*:} ;; esac
        keel "$w" "$rep" keel --c "$c" --sim-latency-ms "$latency"
      done
    done
    continue
  fi
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
