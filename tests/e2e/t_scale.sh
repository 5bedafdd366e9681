#!/usr/bin/env bash
# Scale: one VM with 50 000 poisoned ranges (past the ~38 800 that fitted
# in one registration answer). bench_scale forwards them through the real
# protocol, registers a VMM that gets them all (in pages), restarts rasd
# under it and checks that the VMM re-registers and gets rasd's decisions
# (repeats answered by rasd, not locally), then lists them with rasctl
# (--json and the table); it exits non-zero if any of that fails. It does
# all of it twice: pages forwarded in increasing order, then shuffled.
. "$(dirname "$0")/lib.sh"

N=50000
BENCH=${B:-build}/bench/bench_scale
[ -x "$BENCH" ] || { notok "bench_scale is built ($BENCH)"; exit 1; }
RASD_LOG=$T/scale-increasing-rasd.log
out=$(timeout 120 "$BENCH" "$(dirname "$RASD_BIN")" "$T" $N 2>&1)
rc=$?
check "bench_scale $N: registration, restart, repeats, list-poison" test $rc -eq 0
[ $rc -eq 0 ] || echo "$out" | sed 's/^/# /'
check "list-poison was timed for all $N ranges" grep -q "^list-poison --json " <<<"$out"
check "both orders ran" grep -q "random order):" <<<"$out"
for order in increasing random; do
	log=$T/scale-$order-rasd.log
	check "$order: rasd said resumed with all $N ranges after the restart" \
		grep -q "bench-scale ([0-9a-f-]*): resumed by pid [0-9]* .*, $N active ranges" "$log"
	check "$order: no registration went unanswered" bash -c "! grep -q 'not answered' '$log'"
	check "$order: the VMM fetched the rest by ActiveQuery (no answer too large)" \
		bash -c "! grep -q 'answer too large' '$log'"
done
exit $((failures > 0))
