#!/usr/bin/env bash
# needs: kvm qemu
# Real poison under a real QEMU/KVM guest started by a real libvirtd, with
# the shim preloaded and rasd watching libvirt -- nothing forged: the page
# of guest RAM behind GPA 0x6000000 goes through the kernel's own
# memory_failure() (hwpoison-inject), as when a patrol scrub reports it.
# QEMU asked for early kill at start, so the kernel sends it
# BUS_MCEERR_AO; QEMU's main loop reads it from its signalfd, the shim
# forwards it to rasd first, then QEMU injects a machine check into the
# guest (the boot-sector guest's #MC handler reports it on COM1; QEMU >= 9.1
# writes a deferred error without #MC instead) and libvirt emits its
# memory-failure event, which rasd links to the record.
# g1's shim observes (RASD_SHIM_MODE=observe): QEMU's own path with real
# poison. g2's shim enforces (the default), and its guest (touch-guest)
# keeps loading from GPA 0x9f000: memory_failure() on the page behind it,
# then the guest's own load makes KVM send the vCPU thread BUS_MCEERR_AR;
# the shim carries out rasd's decision (a machine check with rasd's
# values), the guest's handler runs and takes the page offline, and QEMU's
# own handler sees nothing.
# Runs against the lane's QEMU (RAS_QEMU: 7.2 or 10). Needs root, KVM and
# hwpoison injection (the nested host of tests/kvmhost has all three);
# skips where they are missing. The page is unpoisoned at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/hwpoison-lib.sh"
hwp_require

B=$(virt_abs "${B:-build}")
# An ASan build's shim cannot load into the plain QEMU: use the plain one.
SHIM_BUILD=$(virt_abs "${RAS_SHIM_B:-$B}")
INJECT=$B/tests/tools/ras-inject
for f in "$SHIM_BUILD/lib/rasd-shim.so" "$INJECT" "$B/tests/tools/mce-guest.img" \
    "$B/tests/tools/touch-guest.img"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done
GPA=0x6000000

virt_start || { notok "private libvirtd starts"; exit 1; }
RASD_LIBVIRT=qemu:///system start_rasd --config "$VIRT_RASD_CONF" ||
    { notok "rasd starts, watching libvirt"; exit 1; }
SHIM=$(virt_share "$SHIM_BUILD/lib/rasd-shim.so")
virt_events_start
echo "# QEMU: $("$VIRT_QEMU" --version | head -1)"

state() { rasctl --json show "$1" 2>/dev/null | jq -r .state; }
is_state() { [ "$(state "$1")" = "$2" ]; }
ranges() {
	rasctl --json list-poison "$1" 2>/dev/null |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind) \(.action) \(.notification)"'
}
has_ranges() { [ "$(ranges "$1")" = "$2" ]; }
# first_event VM: rasd's first libvirt event of VM, "recipient action gpa".
first_event() {
	rasctl --json events "$1" 2>/dev/null |
	    jq -r '.[0] | "\(.recipient) \(.action) \(.gpa)"'
}
has_event() { [ "$(first_event "$1")" = "$2" ]; }

virt_define_guest g1 "$(virt_share "$B/tests/tools/mce-guest.img")" --shim "$SHIM" \
	--env RASD_SHIM_MODE=observe
check "g1 starts under libvirt with the shim" vsh start g1
check "g1's guest is ready (it takes machine checks)" virt_wait_ready g1
check "the shim registered g1 with rasd" wait_for is_state g1 running
pid=$(virt_qemu_pid g1)

# The host page behind the GPA, made a page of its own (guest RAM not yet
# touched maps the shared zero page): write a pattern into it.
out=$("$INJECT" --pid "$pid" --ram-size 128M --code AO --dry-run \
	--ram-offset "$GPA" 2>&1)
hva=$(sed -n 's/.* at host VA \(0x[0-9a-f]*\) .*/\1/p' <<<"$out")
check "the host VA of GPA $GPA is found in QEMU's maps" test -n "$hva"
head -c 4096 /dev/urandom | dd of="/proc/$pid/mem" bs=4096 \
	seek=$((hva / 4096)) conv=notrunc status=none 2>"$T/fill.err"
check "the page is filled through /proc/PID/mem" test ! -s "$T/fill.err"
pfn=$(pagemap_pfn "$pid" "$hva")
echo "# GPA $GPA: host VA $hva, PFN $pfn"
check "the page has a PFN" test "$pfn" != none

# memory_failure() on it: the kernel kills early what asked for it.
check "hwpoison-inject takes PFN $pfn (memory_failure())" inject "$pfn"
check "the kernel sent QEMU the SIGBUS (early kill)" wait_for \
	klog "$pfn: Sending SIGBUS to qemu-system-x86:$pid due to hardware memory corruption"
klog_new | grep -F "$pfn" | sed 's/^/# kernel: /'
want="Guest MCE Memory Error at QEMU addr $hva and GUEST addr $GPA of type BUS_MCEERR_AO injected"
check "QEMU handled it as a memory error: $want" virt_wait_log g1 "$want" 20
if virt_qemu_amd_mce; then
	# QEMU >= 9.1 encodes it the AMD way for this (AMD-vendor) guest: an
	# AO is a deferred error in MC9, with no #MC (tests/kvmhost/QEMU10.md).
	sleep 2
	expect_eq "the AO is deferred: no #MC in the guest (QEMU >= 9.1, AMD)" \
		"$(grep -ac "addr=0000000006000000" "$(virt_serial g1)")" 0
else
	check "the guest's #MC handler ran (addr $GPA)" \
		virt_wait_serial g1 "addr=0000000006000000" 1 20
fi
check "libvirt's memory-failure event" \
	virt_wait_event "event 'memory-failure' for domain 'g1'" 20
check "rasd recorded the AO at the GPA, with its decision" wait_for \
	has_ranges g1 "$GPA 4096 AO inject MCE"
check "rasd linked libvirt's event to the record" wait_for \
	has_event g1 "guest inject $GPA"
expect_eq "the page is gone from QEMU (reads EIO)" "$(memread "$pid" "$hva")" EIO
expect_eq "the page after it reads" "$(memread "$pid" $((hva + 4096)))" ok
check "QEMU still runs" kill -0 "$pid"
expect_eq "the guest booted once (no reset)" "$(grep -ac READY "$(virt_serial g1)")" 1
expect_eq "g1 is still running for libvirt" "$(vsh domstate g1)" running

vsh destroy g1 >/dev/null
check "destroying g1 marks it stopped in rasd" wait_for is_state g1 stopped
expect_eq "its poison stays recorded" "$(ranges g1)" "$GPA 4096 AO inject MCE"

# --- g2: the shim enforcing, the guest's own load of real poison ----------
TGPA=0x9f000
virt_define_guest g2 "$(virt_share "$B/tests/tools/touch-guest.img")" --shim "$SHIM"
check "g2 (loading from GPA $TGPA, the shim enforcing) starts" vsh start g2
check "g2's guest is ready" virt_wait_ready g2
check "the shim registered g2 with rasd" wait_for is_state g2 running
check "QEMU's log says the shim enforces for g2" \
	grep -q "rasd-shim: VM g2 .*enforcing" "$(virt_qemu_log g2)"
pid2=$(virt_qemu_pid g2)
out=$("$INJECT" --pid "$pid2" --code AR --gpa $TGPA --dry-run 2>&1)
hva2=$(sed -n 's/.* at host VA \(0x[0-9a-f]*\) .*/\1/p' <<<"$out")
check "the host VA of GPA $TGPA is found" test -n "$hva2"
head -c 4096 /dev/urandom | dd of="/proc/$pid2/mem" bs=4096 \
	seek=$((hva2 / 4096)) conv=notrunc status=none 2>"$T/fill2.err"
pfn2=$(pagemap_pfn "$pid2" "$hva2")
echo "# GPA $TGPA of g2: host VA $hva2, PFN $pfn2"
check "g2's page has a PFN" test "$pfn2" != none
check "hwpoison-inject takes PFN $pfn2 (memory_failure())" inject "$pfn2"
check "the guest's load reached its #MC handler (addr $TGPA)" \
	virt_wait_serial g2 "addr=000000000009F000" 1 30
check "the guest took the page offline (TOUCH DONE)" \
	virt_wait_serial g2 "TOUCH DONE" 1 10
grep -a "MCE status" "$(virt_serial g2)" | sed 's/^/# g2 COM1: /'
check "rasd recorded the guest's AR at $TGPA and decided inject MCE" wait_for \
	bash -c "$RASCTL_BIN --socket $SOCK --json list-poison g2 | jq -e '.[] | select(.gpa == \"$TGPA\") | .ar.action == \"inject\"' >/dev/null"
grep -a "vm g2:" "$RASD_LOG" | sed 's/^/# rasd: /'
check "QEMU's own handler saw nothing (the shim carried it out)" \
	bash -c "! grep -q 'Guest MCE Memory Error' '$(virt_qemu_log g2)'"
check "g2's QEMU still runs" kill -0 "$pid2"
expect_eq "g2 booted once (no reset)" "$(grep -ac READY "$(virt_serial g2)")" 1
vsh destroy g2 >/dev/null
hwp_unpoison
