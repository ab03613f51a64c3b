#!/bin/sh
# Reads TAP streams (busted -o TAP and the C tests) on stdin, echoes them, and
# ends with the line CI reads:  spec: N passed, M failed[, K skipped]
# Exits non-zero when anything failed or when no test ran at all.
awk '
  { print }
  /^ok [0-9]+/ { if ($0 ~ /# (SKIP|skip|TODO)/) skipped++; else passed++ }
  /^not ok( |$)/ { failed++ }
  /^Bail out!/ { bailed = 1; failed++ }
  END {
    line = sprintf("spec: %d passed, %d failed", passed, failed)
    if (skipped) line = line sprintf(", %d skipped", skipped)
    print line
    exit (failed > 0 || passed == 0) ? 1 : 0
  }'
