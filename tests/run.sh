#!/usr/bin/env bash
# tests/run.sh -- the whole test suite (`make check`): criterion unit tests,
# fuzz-target replays, end-to-end tests (C and shell) against the real rasd.
# Prints one PASS/FAIL line per suite and a closing "N passed, N failed".
set -u
B=${B:-build}
cd "$(dirname "$0")/.."
export RASD_BIN=$B/bin/rasd RASCTL_BIN=$B/bin/rasctl VMMSIM_BIN=$B/bin/ras-vmmsim
pass=0 fail=0 skip=0
log=$(mktemp -d /tmp/rasd-check-XXXXXX)

# Run a criterion binary and add its counts.
crit() {
	local bin=$1 name out line t p f c s
	name=$(basename "$bin")
	out="$log/$name.out"
	"$bin" --jobs=2 >"$out" 2>&1
	line=$(grep -a 'Synthesis:' "$out" | tail -1)
	t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
	p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
	f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
	c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
	s=$(grep -ac '\[SKIP\]' "$out")
	if [ -z "$line" ]; then
		echo "FAIL $name (no result; output in $out)"; tail -20 "$out"
		fail=$((fail + 1)); return
	fi
	pass=$((pass + p - s)); fail=$((fail + f + c)); skip=$((skip + s))
	if [ $((f + c)) -gt 0 ]; then
		echo "FAIL $name: $line"; grep -a -E '\[FAIL\]|\[----\]|CRASH' "$out" | head -40
	else
		if [ "$s" -gt 0 ]; then echo "PASS $name ($p of $t, $s skipped)"; else echo "PASS $name ($p of $t)"; fi
	fi
}

# Run a shell test script; it prints "ok - ..." / "not ok - ..." / "skip - ...".
script() {
	local t=$1 name out p f s
	name=$(basename "$t" .sh)
	out="$log/$name.out"
	bash "$t" >"$out" 2>&1
	local rc=$?
	p=$(grep -ac '^ok - ' "$out"); f=$(grep -ac '^not ok - ' "$out")
	s=$(grep -ac '^skip - ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $name ($p ok, $f not ok, exit $rc)"; grep -a -v '^ok - ' "$out" | tail -40
	else
		if [ "$s" -gt 0 ]; then echo "PASS $name ($p checks, $s skipped)"; else echo "PASS $name ($p checks)"; fi
	fi
}

for t in "$B"/tests/test_*; do [ -x "$t" ] && crit "$t"; done
for f in "$B"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	n=$(basename "$f"); c=tests/fuzz/corpus/${n#fuzz_}
	if "$f" "$c"/* tests/data/*.hest >"$log/$n.out" 2>&1; then
		echo "PASS $n ($(tail -1 "$log/$n.out"))"; pass=$((pass + 1))
	else
		echo "FAIL $n"; tail -20 "$log/$n.out"; fail=$((fail + 1))
	fi
done
for t in "$B"/tests/e2e_*; do [ -x "$t" ] && crit "$t"; done
for t in tests/e2e/t_*.sh; do [ -f "$t" ] && script "$t"; done

[ "$fail" -eq 0 ] && rm -rf "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
