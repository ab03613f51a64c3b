#!/usr/bin/env bash
# The eager phase of the benchmark workload at several scales, and its peak memory beside
# LuaDBI's (the hand-written baseline of the kit).  Run from the repo root:
#
#   bench/scaling.sh                    # U = 1000 10000 100000, 3 runs each
#   SCALES="1000 10000" RUNS=5 bench/scaling.sh
#
# For each U the kit's raw C peer fills a fresh database (the whole workload, not timed
# here); then each eager-only script runs RUNS times in a fresh process on it:
# bench/profile.lua (assoc: User:findAll{ include = { Post } } and the title loop of
# bench/workload.lua) and bench/eager_luadbi.lua (the LuaDBI peer's phase 2).  Printed per U:
# the median seconds, the per-row cost (seconds / (U + U*P) rows), and the peak RSS of the
# process (/usr/bin/time) with, beside it, the RSS of the same script stopping before the
# phase (its fixed cost: interpreter, modules, connection).
set -euo pipefail
SHARED=${SHARED:-../shared}
SCALES=${SCALES:-"1000 10000 100000"}
RUNS=${RUNS:-3}
export BENCH_P=${BENCH_P:-10} BENCH_R=${BENCH_R:-1000} BENCH_M=${BENCH_M:-5}
export BENCH_SCHEMA="$SHARED/bench/peers/schema.sql"
[ -f bench/workload.lua ] || { echo "run from the repo root" >&2; exit 2; }
[ -f "$SHARED/bench/peers/c/bench.c" ] || { echo "no $SHARED/bench/peers (set SHARED)" >&2; exit 2; }
make -s >/dev/null
WORK=$(mktemp -d "${TMPDIR:-/tmp}/assoc-scaling.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -std=c11 -o "$WORK/c-bench" "$SHARED/bench/peers/c/bench.c" -lsqlite3
export LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;"

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# run SCRIPT: prints "seconds maxrss_kb" of one run of the eager phase
run() {
  /usr/bin/time -f "%M" -o "$WORK/rss" lua5.4 "$1" >"$WORK/out"
  printf '%s %s\n' "$(awk '$1 == "eager" { print $2 }' "$WORK/out")" "$(tail -n 1 "$WORK/rss")"
}
base_rss() { PHASES=none /usr/bin/time -f "%M" -o "$WORK/rss" lua5.4 "$1" >/dev/null; tail -n 1 "$WORK/rss"; }

printf '%-8s %-8s %10s %14s %12s %12s\n' U peer eager_s us_per_row peak_rss_MB fixed_MB
for U in $SCALES; do
  export BENCH_U=$U BENCH_K=$(( U < 1000 ? U : 1000 )) BENCH_Q=10
  export BENCH_DB="$WORK/u$U.db"
  rm -f "$BENCH_DB"*
  "$WORK/c-bench" >/dev/null
  rows=$(( U + U * BENCH_P ))
  for peer in assoc luadbi; do
    script=bench/profile.lua
    [ "$peer" = luadbi ] && script=bench/eager_luadbi.lua
    export PHASES=eager
    : >"$WORK/runs"
    for _ in $(seq 1 "$RUNS"); do run "$script" >>"$WORK/runs"; done
    s=$(awk '{ print $1 }' "$WORK/runs" | median)
    rss=$(awk '{ print $2 }' "$WORK/runs" | median)
    fixed=$(base_rss "$script")
    awk -v u="$U" -v p="$peer" -v s="$s" -v n="$rows" -v r="$rss" -v f="$fixed" \
      'BEGIN { printf "%-8s %-8s %10.4f %14.3f %12.1f %12.1f\n", u, p, s, s * 1e6 / n, r / 1024, f / 1024 }'
  done
done
