#!/usr/bin/env bash
# tests/run.sh -- the whole test suite (`make check`): criterion unit tests,
# fuzz-target replays, end-to-end tests (C and shell) against the real rasd.
# Prints one PASS/FAIL line per suite and a closing "N passed, N failed,
# N skipped".
#
# A shell test whose header says "# needs: kvm" runs only where KVM really
# works; "# needs: kvm qemu" also runs once per QEMU lane (RAS_QEMU is the
# emulator it must use). Where the KVM tests run:
#   - this machine, when /dev/kvm works here and its kernel has
#     memory-failure support (the fast path);
#   - else the nested KVM host (tests/kvmhost/kvmhost): booted once, it
#     runs this script with RAS_SUITE=kvm inside and reports back;
#   - else nowhere: one skip line with the reason, and a failure when CI=true
#     unless RAS_ALLOW_KVM_SKIP=1.
#
# Settings (environment):
#   RAS_SUITE=all|fast|kvm   all (default); fast: everything but the KVM
#                            tests; kvm: only the KVM tests, run here
#   RAS_QEMU_LANES="7.2 10"  the QEMU lanes (default both): 7.2 is the
#                            installed qemu-system-x86_64, 10 the backported
#                            one that tests/kvmhost unpacks beside it
#   RAS_KVM_WHERE=auto|local|nested   force where the KVM tests run
#   RAS_KVM_PART=all|qemu    qemu: only the KVM tests that use QEMU
#   RAS_ONLY=ERE             only the shell tests whose name matches
#   RAS_TEST_TIMEOUT=SEC     per shell test (default 1200); a test that
#                            outlives it is killed and fails; a nested
#                            host is killed after twice that
# A "not ok - ... # TODO issue N" line is a known failure that issue N
# fixes: counted as skipped and listed, never as a pass.
set -u
B=${B:-build}
cd "$(dirname "$0")/.."
export B RASD_BIN=$B/bin/rasd RASCTL_BIN=$B/bin/rasctl VMMSIM_BIN=$B/bin/ras-vmmsim
SUITE=${RAS_SUITE:-all}
# Both QEMU lanes by default: the guests boot from their own ROM, not
# SeaBIOS (tests/tools/guest-rom.S), under QEMU 10 as under 7.2.
LANES=${RAS_QEMU_LANES:-7.2 10}
TEST_TIMEOUT=${RAS_TEST_TIMEOUT:-1200}
pass=0 fail=0 skip=0 todo=0
# Inside the nested host, the logs go to its run folder, which the outer
# machine sees live (and keeps when something failed).
if [ -n "${KVMHOST_OUT:-}" ]; then
	log=$KVMHOST_OUT/check; mkdir -p "$log"
else
	log=$(mktemp -d /tmp/rasd-check-XXXXXX)
fi

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

# needs FILE: what a shell test needs ("", "kvm" or "kvm qemu").
needs() { sed -n 's/^# needs: //p' "$1" | head -1; }

# wanted FILE: the shell test is selected by RAS_ONLY (an ERE on its name).
wanted() { [ -z "${RAS_ONLY:-}" ] || [[ $(basename "$1" .sh) =~ $RAS_ONLY ]]; }

# script FILE [LABEL]: run a shell test; it prints "ok - ..." / "not ok -
# ..." / "skip - ...". A KVM test that skips as a whole fails under CI.
script() {
	local t=$1 name out p f s x rc t0 secs
	name=${2:-$(basename "$t" .sh)}
	out="$log/$name.out"
	t0=$(date +%s)
	timeout -k 20 "$TEST_TIMEOUT" bash "$t" >"$out" 2>&1
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	[ "$rc" -eq 124 ] && echo "not ok - $name killed after $TEST_TIMEOUT s (RAS_TEST_TIMEOUT)" >>"$out"
	p=$(grep -ac '^ok - ' "$out")
	f=$(grep -a '^not ok - ' "$out" | grep -vc '# TODO')
	x=$(grep -a '^not ok - ' "$out" | grep -c '# TODO')
	s=$(grep -ac '^skip - ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -gt 0 ] && [ -n "$(needs "$t")" ] &&
	    [ "${CI:-}" = true ] && [ -z "${RAS_ALLOW_KVM_SKIP:-}" ]; then
		echo "FAIL $name: a KVM test skipped under CI (RAS_ALLOW_KVM_SKIP=1 allows it):"
		grep -a '^skip - ' "$out" | head -3
		fail=$((fail + 1)); skip=$((skip + s)); return
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s + x)); todo=$((todo + x))
	if [ "$f" -gt 0 ]; then
		echo "FAIL $name ($p ok, $f not ok, exit $rc, $secs s)"; grep -a -v '^ok - ' "$out" | tail -40
	else
		local extra=''
		[ "$s" -gt 0 ] && extra=", $s skipped"
		[ "$x" -gt 0 ] && extra="$extra, $x known failures"
		echo "PASS $name ($p checks$extra, $secs s)"
		grep -a -E '^(skip - |not ok - .*# TODO)' "$out" | sed 's/^/  /'
	fi
}

# kvm_here: KVM works on this machine (a KVM VMM runs a guest) and its
# kernel has memory-failure support, so that poison behaves as on real
# hardware (a guest touching it gets BUS_MCEERR_AR, not BUS_ADRERR).
kvm_here() {
	[ -c /dev/kvm ] || { KVM_WHY="no /dev/kvm"; return 1; }
	[ -e /proc/sys/vm/memory_failure_early_kill ] ||
	    { KVM_WHY="this kernel has no CONFIG_MEMORY_FAILURE"; return 1; }
	local o
	o=$("$B/tests/tools/kvmvmm" 2>&1)
	case $? in
	0) return 0 ;;
	*) KVM_WHY="KVM unusable: $(tail -1 <<<"$o")"; return 1 ;;
	esac
}

# lane_qemu LANE: the emulator binary of a QEMU lane.
lane_qemu() {
	case $1 in
	7.2) command -v qemu-system-x86_64 ;;
	10) tests/kvmhost/kvmhost qemu10 2>>"$log/kvmhost-fetch.out" ;;
	*) return 1 ;;
	esac
}

# Run the KVM tests here: those that use no QEMU once (unless
# RAS_KVM_PART=qemu), and those that do once per lane.
kvm_tests_here() {
	local t n lane q
	for t in tests/e2e/t_*.sh; do
		wanted "$t" || continue
		n=$(needs "$t")
		case $n in
		kvm) [ "${RAS_KVM_PART:-all}" = qemu ] || script "$t" ;;
		"kvm qemu")
			for lane in $LANES; do
				if ! q=$(lane_qemu "$lane") || [ ! -x "$q" ]; then
					echo "FAIL $(basename "$t" .sh)[qemu$lane]: QEMU $lane not available"
					tail -3 "$log/kvmhost-fetch.out" 2>/dev/null
					fail=$((fail + 1)); continue
				fi
				RAS_QEMU=$q script "$t" "$(basename "$t" .sh)[qemu$lane]"
			done ;;
		esac
	done
}

# Run the KVM tests in nested hosts: a fresh host for each test and QEMU
# lane, two at a time (RAS_KVM_PARALLEL=1: one; the machine has two cores,
# each host is one TCG thread). A fresh host per test keeps one test's
# guests from changing the next one's: after several KVM guests in one
# nested host, or with more nested hosts than cores, a guest's SeaBIOS was
# seen stuck (the nested SVM's #UD loop, tests/kvmhost/README, Limits);
# the libvirt tests reset such a guest once (virt_wait_ready). One at a
# time takes about 21 minutes a pass here, over the 45-minute budget for
# both passes. A boot costs ~10 s.
# Add up the counts they report.
kvm_tests_nested() {
	local lane t n name out jobs=() j n_run=0 pids=() outs=() i line p f s
	local t0 p0=$pass first=${LANES%% *} par=${RAS_KVM_PARALLEL:-2}
	t0=$(date +%s)
	for t in tests/e2e/t_*.sh; do
		wanted "$t" || continue
		n=$(needs "$t")
		case $n in
		kvm) [ "${RAS_KVM_PART:-all}" = qemu ] || jobs+=("$first $t") ;;
		"kvm qemu") for lane in $LANES; do jobs+=("$lane $t"); done ;;
		esac
	done
	for j in "${jobs[@]}"; do
		lane=${j%% *} t=${j#* }
		name=$(basename "$t" .sh)
		[ "$n_run" -ge "$par" ] && wait "${pids[$((n_run - par))]}"
		out=$log/kvmhost-$name-qemu$lane.out
		tests/kvmhost/kvmhost run --timeout $(( TEST_TIMEOUT * 2 )) -- \
		    env RAS_SUITE=kvm RAS_KVM_WHERE=local RAS_QEMU_LANES="$lane" \
		    RAS_ONLY="^$name\$" tests/run.sh >"$out" 2>&1 &
		pids+=($!) outs+=("$out")
		n_run=$((n_run + 1))
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		out=${outs[$i]}
		name=${out##*/kvmhost-}
		echo "# nested KVM host, ${name%.out}:"
		sed -e '/^[0-9]* passed, [0-9]* failed/d' "$out"
		line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
		if [ -z "$line" ]; then
			echo "FAIL kvmhost: the nested host gave no result"
			fail=$((fail + 1)); continue
		fi
		p=$(sed 's/^\([0-9]*\) passed.*/\1/' <<<"$line")
		f=$(sed 's/.* \([0-9]*\) failed.*/\1/' <<<"$line")
		s=$(sed -n 's/.* \([0-9]*\) skipped.*/\1/p' <<<"$line")
		pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + ${s:-0}))
		todo=$((todo + $(grep -ac '^  not ok - .*# TODO' "$out")))
	done
	KVM_NOTE="$((pass - p0)) KVM checks passed in ${#jobs[@]} nested KVM hosts, one per test (QEMU lanes: $LANES), $(( $(date +%s) - t0 )) s with their boots"
}

if [ "$SUITE" != kvm ]; then
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
	for t in tests/e2e/t_*.sh; do
		[ -f "$t" ] && [ -z "$(needs "$t")" ] && wanted "$t" && script "$t"
	done
fi

KVM_NOTE=
if [ "$SUITE" != fast ]; then
	where=${RAS_KVM_WHERE:-auto}
	KVM_WHY=
	if [ "$where" = auto ]; then
		if kvm_here; then where=local; else where=nested; fi
	fi
	case $where in
	local)
		t0=$(date +%s) p0=$pass
		kvm_tests_here
		host="this machine's"
		[ -n "${KVMHOST:-}" ] && host="the nested host's"
		KVM_NOTE="$((pass - p0)) KVM checks passed on $host /dev/kvm (QEMU lanes: $LANES), $(( $(date +%s) - t0 )) s" ;;
	nested)
		echo "# KVM tests: ${KVM_WHY:-nested host requested}; running them in the nested KVM host"
		if tests/kvmhost/kvmhost fetch >"$log/kvmhost-fetch.out" 2>&1; then
			kvm_tests_nested
		else
			echo "skip - KVM tests: no /dev/kvm here and no nested host:"
			tail -3 "$log/kvmhost-fetch.out" | sed 's/^/  /'
			if [ "${CI:-}" = true ] && [ -z "${RAS_ALLOW_KVM_SKIP:-}" ]; then
				echo "FAIL KVM tests skipped under CI (RAS_ALLOW_KVM_SKIP=1 allows it)"
				fail=$((fail + 1))
			else
				skip=$((skip + 1))
			fi
			KVM_NOTE="KVM tests did not run"
		fi ;;
	esac
fi

[ "$todo" -gt 0 ] && echo "# $todo known failures (# TODO lines above), counted as skipped"
[ -n "$KVM_NOTE" ] && echo "# $KVM_NOTE"
[ "$fail" -eq 0 ] && rm -rf "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
