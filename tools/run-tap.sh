#!/bin/sh
# Runs one test program that speaks TAP and passes its output through.  When
# the program exits non-zero without reporting a failure (a crash, a load
# error), adds a "not ok" line so the summary cannot miss it.
#   tools/run-tap.sh NAME COMMAND [ARG ...]
name=$1; shift
out=$(mktemp "${TMPDIR:-/tmp}/assoc-tap.XXXXXX")
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
  echo "not ok - $name exited with status $rc"
fi
if ! grep -qE '^(not )?ok' "$out"; then
  echo "not ok - $name reported no test"
fi
rm -f "$out"
exit 0
