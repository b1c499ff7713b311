#!/bin/sh
# Prints "tests: N passed, N failed[, N skipped]" from a TRX file (the plain closing line CI reads).
set -eu
trx=$1
if [ ! -f "$trx" ]; then echo "tests: 0 passed, 1 failed (no results file: $trx)"; exit 0; fi
line=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
get() { printf '%s' "$line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
skipped=$(( ${total:-0} - ${executed:-0} ))
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
