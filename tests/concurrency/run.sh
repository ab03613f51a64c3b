#!/usr/bin/env bash
# make check-concurrency: two writer processes (N multi-statement transactions each, through
# the public API; see worker.lua) and one reader on one WAL database, default busy timeout; then the final
# state is compared with the serial result.  Exits non-zero on any error reaching a script
# (SQLITE_BUSY included), any inconsistent snapshot, or any difference.
#   tests/concurrency/run.sh N TMPDIR [LUA]
set -u
n=${1:-1000}; tmp=${2:?usage: run.sh N TMPDIR [LUA]}; lua=${3:-lua5.4}
db="$tmp/conc.db"
rm -f "$db" "$db-wal" "$db-shm" "$tmp/done"
"$lua" tests/concurrency/worker.lua init "$db" "$n" || { echo "check-concurrency: init failed"; exit 1; }
"$lua" tests/concurrency/worker.lua write "$db" 1 "$n" >"$tmp/w1.out" 2>&1 & p1=$!
"$lua" tests/concurrency/worker.lua write "$db" 2 "$n" >"$tmp/w2.out" 2>&1 & p2=$!
"$lua" tests/concurrency/worker.lua read "$db" "$tmp/done" >"$tmp/r.out" 2>&1 & p3=$!
rc=0
wait $p1 || rc=1
wait $p2 || rc=1
touch "$tmp/done"
wait $p3 || rc=1
cat "$tmp/w1.out" "$tmp/w2.out" "$tmp/r.out"
"$lua" tests/concurrency/worker.lua check "$db" "$n" || rc=1
# the writers must have overlapped in time, or the run proved nothing
s1=$(sed -n 's/.*start \([0-9]*\) end \([0-9]*\).*/\1 \2/p' "$tmp/w1.out")
s2=$(sed -n 's/.*start \([0-9]*\) end \([0-9]*\).*/\1 \2/p' "$tmp/w2.out")
if [ -n "$s1" ] && [ -n "$s2" ]; then
  set -- $s1 $s2
  lo=$(( $1 > $3 ? $1 : $3 )); hi=$(( $2 < $4 ? $2 : $4 ))
  overlap=$(( hi - lo ))
  echo "check-concurrency: the writers ran side by side for ${overlap} ms"
  if [ "$overlap" -le 0 ]; then echo "check-concurrency: the writers did not overlap"; rc=1; fi
fi
echo "check-concurrency: 2 writers x $n transactions: $([ $rc = 0 ] && echo passed || echo FAILED)"
exit $rc
