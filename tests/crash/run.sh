#!/usr/bin/env bash
# make check-crash: kills tests/crash/workload.lua with SIGKILL at random moments and checks
# the database after every kill (tests/crash/check.lua).  Half of the kills run on a WAL
# database (the engine's default for files), half on one switched to journal_mode=DELETE.
#   tests/crash/run.sh KILLS TMPDIR [LUA]
# Run from the repository root with LUA_PATH/LUA_CPATH pointing at the in-tree modules.
# Exits non-zero on any violation, or when the child exits by itself (it must loop until
# killed).  The first bad database is kept in TMPDIR/failed-<n>.db for inspection.
set -u
kills=${1:-50}; tmp=${2:?usage: run.sh KILLS TMPDIR [LUA]}; lua=${3:-lua5.4}
min_ms=${CRASH_MIN_MS:-30}; max_ms=${CRASH_MAX_MS:-400}
fail=0; survived=0; early=0; consistent=0
for journal in wal delete; do
  db="$tmp/crash-$journal.db"
  rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
  if ! "$lua" tests/crash/workload.lua init "$db" "$journal"; then
    echo "check-crash: the workload could not create its database ($journal)"; exit 1
  fi
done
for i in $(seq 1 "$kills"); do
  if [ $((i % 2)) -eq 1 ]; then journal=wal; else journal=delete; fi
  db="$tmp/crash-$journal.db"
  "$lua" tests/crash/workload.lua run "$db" "$i" "$journal" >"$tmp/child.out" 2>&1 &
  pid=$!
  ms=$(( min_ms + RANDOM % (max_ms - min_ms + 1) ))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    survived=$((survived + 1))
  else
    wait "$pid"; rc=$?
    echo "check-crash: kill $i: the workload exited by itself (status $rc) before the kill:"
    tail -5 "$tmp/child.out"
    early=$((early + 1)); fail=1
  fi
  out=$("$lua" tests/crash/check.lua "$db" 2>&1); crc=$?
  if [ $crc -ne 0 ]; then
    echo "check-crash: kill $i ($journal, after ${ms} ms): $out"
    [ -f "$tmp/failed-$i.db" ] || cp "$db" "$tmp/failed-$i.db" 2>/dev/null
    fail=1
  else
    consistent=$((consistent + 1))
  fi
  if [ $crc -eq 0 ] && [ "${CRASH_VERBOSE:-0}" = 1 ]; then
    echo "  kill $i ($journal, ${ms} ms, $(wc -c <"$tmp/child.out") progress dots): $out"
  fi
done
last_wal=$("$lua" tests/crash/check.lua "$tmp/crash-wal.db" 2>&1 | head -1)
last_del=$("$lua" tests/crash/check.lua "$tmp/crash-delete.db" 2>&1 | head -1)
echo "check-crash: final WAL db: $last_wal"
echo "check-crash: final DELETE-journal db: $last_del"
echo "check-crash: $kills kills (SIGKILL after ${min_ms}-${max_ms} ms): $survived killed mid-run, $consistent checked consistent, $((kills - consistent)) inconsistent, $early early exits"
exit $fail
