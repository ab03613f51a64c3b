#!/bin/sh
# Runs libFuzzer targets side by side, each for SECONDS, and prints one line of figures per
# target (executions, corpus, findings).  Exits non-zero when any target found something (a
# crash, a sanitizer report, a leak, a timeout) or did not run.
#   tools/fuzz-run.sh BUILD_DIR SECONDS TARGET...
# Each target T reads its seeds from tests/fuzz/corpus/T (replayed first) and writes what it
# discovers to BUILD_DIR/corpus/T, so the repository is never modified; a finding is saved
# as BUILD_DIR/artifacts/T-crash-... (rerun it with: BUILD_DIR/T FILE).
set -u
dir=$1; secs=$2; shift 2
mkdir -p "$dir/artifacts"
pids=""
for t in "$@"; do
  mkdir -p "$dir/corpus/$t" "tests/fuzz/corpus/$t"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$dir/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 \
      -max_len=4096 -len_control=0 -artifact_prefix="$dir/artifacts/$t-" \
      "$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$dir/$t.log" 2>&1 &
  pids="$pids $!"
done
rc=0; i=0
for t in "$@"; do
  i=$((i + 1))
  pid=$(echo $pids | cut -d' ' -f$i)
  wait "$pid"; trc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$dir/$t.log" | tail -1)
  seeds=$(ls "tests/fuzz/corpus/$t" | wc -l)
  found=$(ls "$dir/corpus/$t" | wc -l)
  if [ $trc -eq 0 ] && [ -n "$execs" ]; then
    echo "fuzz: $t: ${execs} executions in ${secs} s (${rate:-?}/s), $cov, $seeds seeds replayed, $found corpus entries, 0 findings"
  else
    rc=1
    echo "fuzz: $t: FINDING (exit status $trc) after ${execs:-?} executions; log $dir/$t.log:"
    grep -E 'ERROR|FINDING|fuzz_(lua|sqlbuild):|SUMMARY|Test unit written|==[0-9]+==|^    #[0-9] ' "$dir/$t.log" | head -40
  fi
done
exit $rc
