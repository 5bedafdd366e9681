#!/usr/bin/env bash
# needs: kvm
# Memory poison made the way hardware makes it -- by the kernel's own
# memory_failure() and by KVM -- reaching the real rasd through
# rasd-shim.so preloaded into a real KVM VMM (tests/tools/kvmvmm). Nothing
# here raises a signal by hand: every SIGBUS comes from the kernel.
# - AO: a VMM that asked for early kill as QEMU does (PR_MCE_KILL_EARLY)
#   has a page of guest RAM poisoned through hwpoison-inject (its PFN from
#   /proc/PID/pagemap into debugfs hwpoison/corrupt-pfn, which runs
#   memory_failure() as a patrol scrub's report would): the kernel sends
#   BUS_MCEERR_AO to the VMM's main thread, which reads it from its
#   signalfd as QEMU's does; rasd lists that guest page as AO;
# - AR through KVM: the guest (real code on the vCPU) then loads from
#   that page: KVM cannot map it and sends the vCPU thread BUS_MCEERR_AR
#   with si_addr_lsb 12; rasd records AR at that GPA. The same with no
#   early kill: memory_failure() sends nothing, the guest's access is the
#   first the VMM hears of it;
# - AR from memory_failure() itself: MADV_HWPOISON on the vCPU thread
#   (MF_ACTION_REQUIRED, what the kernel does after a consumed machine
#   check) signals that thread with BUS_MCEERR_AR;
# - a UFFDIO_POISON marker (how the shim re-arms poison after migration)
#   touched by the guest gives the vCPU thread BUS_MCEERR_AR too.
# Not covered: a machine check consumed while the guest runs (#MC ->
# kvm_machine_check() -> memory_failure(MF_ACTION_REQUIRED)): nothing
# here can raise a #MC; MADV_HWPOISON runs the same memory_failure() call.
# Needs root, KVM and hwpoison injection (the nested host of
# tests/kvmhost has all three); skips where they are missing. The pages
# it poisons are unpoisoned at the end (debugfs hwpoison/unpoison-pfn).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hwpoison-lib.sh"

T0=$(date +%s)

# KVM must really work here; hwpoison injection must exist; else skip.
. "$(dirname "$0")/kvmvmm-lib.sh"
hwp_require
check "kvmvmm runs without the shim" test "$KVM_PROBE_RC" -eq 0

U1=6a3c2b9e-5e1f-4c2a-9d3e-0000000000b1	# early kill
U2=6a3c2b9e-5e1f-4c2a-9d3e-0000000000b2	# late kill (the default)
U3=6a3c2b9e-5e1f-4c2a-9d3e-0000000000b3	# poison marker
# Guest pages, none adjacent to another (rasd merges adjacent ranges).
P_AO=0x6000000 P_MADV=0x6004000 P_LATE=0x6002000 P_MARK=0x6006000
P_CLEAN=0x6010000

# ranges VM, hist VM: rasd's active ranges and history as "gpa length kind,".
ranges() {
	rasctl --json list-poison "$1" |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind)"' | tr '\n' ,
}
# has_ranges VM WANT: rasd's active ranges of VM are WANT (for waits: the
# ranges are read again on every try).
has_ranges() { [ "$(ranges "$1")" = "$2" ]; }
hist() {
	rasctl --json history "$1" |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind)"' | tr '\n' ,
}
# The shim enforces by default; kvmvmm sets up no machine-check banks, so
# what the shim cannot carry out goes to kvmvmm's own handler.
covered() { echo "rasd-shim: VM $1 ($2) covered, forwarding memory errors to $SOCK (enforcing: the shim carries out rasd's decisions)"; }
# wait_long COMMAND...: wait_for, for the slower nested host (~30 s).
wait_long() {
	local i
	for i in $(seq 1 300); do "$@" && return 0; sleep 0.1; done
	return 1
}
# registered VM: rasd has VM running with kvmvmm's final map (3 slots).
registered() {
	[ "$(rasctl --json show "$1" 2>/dev/null | jq -r '"\(.state) \(.slots | length)"')" = "running 3" ]
}
# cmd LINE PREFIX: send LINE to the held kvmvmm, print its answer (the
# first line starting with PREFIX).
cmd() {
	local line
	echo "$1" >&"${VMM[1]}"
	while read -r -t 120 line <&"${VMM[0]}"; do
		case $line in
		"$2"*|"bad command"*) echo "$line"; return 0 ;;
		esac
	done
	echo "no answer to $1"
}
# quit_vmm LABEL ERRFILE VM UUID: end the held kvmvmm; it exits 0 and the
# shim said nothing but its covered line.
quit_vmm() {
	echo quit >&"${VMM[1]}"
	wait "$SIM_PID"	# (bash unsets VMM_PID once the coproc is reaped)
	check "the $1 VMM exits 0" test $? -eq 0
	SIM_PID=
	expect_eq "the shim said nothing but the covered line" \
		"$(cat "$2")" "$(covered "$3" "$4")"
}
# field LINE KEY: the value of KEY=VALUE in LINE.
field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }
# sigbus_pending PID TID: whether SIGBUS is pending for that thread alone.
sigbus_pending() {
	local m
	m=$(awk '/^SigPnd:/ { print $2 }' "/proc/$1/task/$2/status")
	(( (0x$m >> 6) & 1 )) && echo yes || echo no
}

start_rasd || { notok "rasd starts"; exit 1; }

# 1. Early kill: AO from memory_failure(), then AR when the guest touches it.
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK exec "$KVMVMM" -uuid "$U1" \
	-name guest=vmearly,debug-threads=on --mce-early --hold 2>"$T/early.err"; }
SIM_PID=$VMM_PID
PID=$VMM_PID
line=
read -r -t 120 line <&"${VMM[0]}"
expect_eq "the VMM asked for early kill as QEMU does" "$line" \
	"mce kill: early (PR_MCE_KILL_GET=1)"
check "early-kill VMM registers with its final map" wait_long registered vmearly
out=$(cmd "fill $P_CLEAN" filled)
expect_eq "a clean page: the guest's code loads what is there (no SIGBUS)" \
	"$(cmd "guest-load $P_CLEAN" "guest load")" "guest load gpa=$P_CLEAN: hlt value=0x06010000"

out=$(cmd "fill $P_AO" filled)
hva=$(field "$out" hva) pfn=$(field "$out" pfn)
echo "# $out ($(grep AnonHugePages "/proc/$PID/smaps_rollup" | tr -s ' '))"
expect_eq "the test finds the same PFN in /proc/PID/pagemap" \
	"$(pagemap_pfn "$PID" "$hva")" "$pfn"
expect_eq "before the poison the page reads" "$(memread "$PID" "$hva")" ok
check "hwpoison-inject takes PFN $pfn (memory_failure())" inject "$pfn"
[ -s "$T/inject.err" ] && echo "# corrupt-pfn: $(cat "$T/inject.err")"
expect_eq "the kernel sent SIGBUS to the main thread (pending there, SIGBUS blocked)" \
	"$(sigbus_pending "$PID" "$PID")" yes
check "the kernel log names the main thread as the one signalled" \
	klog "$pfn: Sending SIGBUS to kvmvmm:$PID due to hardware memory corruption"
klog_new | grep -F "$pfn" | sed 's/^/# kernel: /'
out=$(cmd "wait 10000" "async sigbus")
echo "# $out"
expect_eq "the main thread reads a genuine BUS_MCEERR_AO from its signalfd, lsb 12" \
	"$(sed 's/ addr=0x[0-9a-f]*//' <<<"$out")" \
	"async sigbus: via=signalfd pending=thread code=5 gpa=$P_AO lsb=12 handler=ran"
expect_eq "... at the page's host address" "$(field "$out" addr)" "$hva"
check "rasd lists the page as AO" wait_long has_ranges vmearly "$P_AO 4096 AO,"
expect_eq "the poisoned page is gone from the VMM: /proc/PID/mem reads EIO" \
	"$(memread "$PID" "$hva")" EIO
expect_eq "... the pages either side still read" \
	"$(memread "$PID" $((hva - 4096))) $(memread "$PID" $((hva + 4096)))" "ok ok"

out=$(cmd "guest-load $P_AO" "guest load")
echo "# $out"
expect_eq "the guest's load of it: KVM sends the vCPU thread BUS_MCEERR_AR, lsb 12" \
	"$(sed 's/ addr=0x[0-9a-f]*//' <<<"$out")" \
	"guest load gpa=$P_AO: sigbus code=4 gpa=$P_AO lsb=12 thread=\"CPU 0/KVM\" kvm_run=EINTR exit=10"
expect_eq "... at the page's host address" "$(field "$out" addr)" "$hva"
check "rasd records the AR: the range is AR now" \
	wait_long has_ranges vmearly "$P_AO 4096 AR,"
expect_eq "rasd's history: the AO, then the AR" "$(hist vmearly)" \
	"$P_AO 4096 AO,$P_AO 4096 AR,"

# 1b. MADV_HWPOISON: memory_failure() with MF_ACTION_REQUIRED signals the
#     calling thread (here the vCPU thread, as a consumed machine check
#     would) -- AR, never AO, whatever the early-kill setting.
out=$(cmd "fill $P_MADV" filled)
mpfn=$(field "$out" pfn) mhva=$(field "$out" hva)
out=$(cmd "madv-hwpoison $P_MADV" madv-hwpoison)
echo "# $out"
[ "$(field "$out" rc)" = 0 ] && POISONED="$POISONED $mpfn"
expect_eq "MADV_HWPOISON on the vCPU thread: BUS_MCEERR_AR to that thread, lsb 12" \
	"$(sed 's/ addr=0x[0-9a-f]*//' <<<"$out")" \
	"madv-hwpoison gpa=$P_MADV: rc=0 sigbus code=4 gpa=$P_MADV lsb=12 thread=\"CPU 0/KVM\""
expect_eq "... at the page's host address" "$(field "$out" addr)" "$mhva"
check "rasd records that AR" wait_long has_ranges vmearly \
	"$P_AO 4096 AR,$P_MADV 4096 AR,"
expect_eq "nothing else came asynchronously" "$(cmd "wait 500" "async sigbus")" \
	"async sigbus: none within 500 ms"
quit_vmm early-kill "$T/early.err" vmearly "$U1"

# 2. Late kill (the default): memory_failure() unmaps the page and tells
#    nobody; the guest's access is the first the VMM hears of it.
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK exec "$KVMVMM" -uuid "$U2" \
	-name guest=vmlate,debug-threads=on --hold 2>"$T/late.err"; }
SIM_PID=$VMM_PID
PID=$VMM_PID
check "late-kill VMM registers with its final map" wait_long registered vmlate
out=$(cmd "fill $P_LATE" filled)
hva=$(field "$out" hva) pfn=$(field "$out" pfn)
check "hwpoison-inject takes PFN $pfn" inject "$pfn"
expect_eq "late kill: no signal for any thread" \
	"$(cmd "wait 2000" "async sigbus")" "async sigbus: none within 2000 ms"
check "late kill: the kernel says it recovered the page" \
	klog "$pfn: recovery action for dirty LRU page: Recovered"
check "late kill: ... and signalled nobody" \
	test "$(klog_new | grep -cF "$pfn: Sending SIGBUS")" -eq 0
expect_eq "late kill: rasd has nothing yet" "$(ranges vmlate)" ""
expect_eq "late kill: the page is gone all the same (EIO)" "$(memread "$PID" "$hva")" EIO
out=$(cmd "guest-load $P_LATE" "guest load")
echo "# $out"
expect_eq "late kill: the guest's load gives the vCPU thread BUS_MCEERR_AR, lsb 12" \
	"$(sed 's/ addr=0x[0-9a-f]*//' <<<"$out")" \
	"guest load gpa=$P_LATE: sigbus code=4 gpa=$P_LATE lsb=12 thread=\"CPU 0/KVM\" kvm_run=EINTR exit=10"
expect_eq "... at the page's host address" "$(field "$out" addr)" "$hva"
check "late kill: rasd records AR at the GPA" \
	wait_long has_ranges vmlate "$P_LATE 4096 AR,"
quit_vmm late-kill "$T/late.err" vmlate "$U2"

# 3. A UFFDIO_POISON marker (what the shim re-arms a migrated VM's poison
#    with) touched by the guest: the same AR as hardware poison.
out=$(LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK "$KVMVMM" -uuid "$U3" \
	-name guest=vmmark,debug-threads=on --fill $((P_MARK + 0x2000)) \
	--mark $P_MARK --guest-load $((P_MARK + 0x2000)) --guest-load $P_MARK \
	2>"$T/mark.err")
check "marker VMM exits 0" test $? -eq 0
line=$(grep "^guest load gpa=$P_MARK:" <<<"$out")
echo "# $line"
expect_eq "marker: the guest's load gives the vCPU thread BUS_MCEERR_AR, lsb 12" \
	"$(sed 's/ addr=0x[0-9a-f]*//' <<<"$line")" \
	"guest load gpa=$P_MARK: sigbus code=4 gpa=$P_MARK lsb=12 thread=\"CPU 0/KVM\" kvm_run=EINTR exit=10"
expect_eq "marker: the page after it is plain RAM to the guest" \
	"$(grep "^guest load gpa=0x6008000:" <<<"$out")" \
	"guest load gpa=0x6008000: hlt value=0x06008000"
check "marker: rasd records AR at the GPA" \
	wait_long has_ranges vmmark "$P_MARK 4096 AR,"
expect_eq "marker: the shim said nothing but the covered line" \
	"$(cat "$T/mark.err")" "$(covered vmmark "$U3")"

hwp_unpoison
echo "# took $(( $(date +%s) - T0 )) s"
