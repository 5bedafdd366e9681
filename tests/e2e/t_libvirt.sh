#!/usr/bin/env bash
# needs: kvm qemu
# Issue 3 end to end: an unmodified QEMU/KVM started by a real (private)
# libvirtd, covered by rasd through the LD_PRELOAD shim, rasd watching
# libvirt, the shim observing (RASD_SHIM_MODE=observe: QEMU's own handler
# acts; t_enforce.sh has the default, enforcing). A real memory-error
# SIGBUS is raised in QEMU's vCPU thread with ptrace (TESTBED.md) at a
# host address inside guest RAM, and:
#  - rasctl list-poison shows the guest-physical address QEMU itself logged;
#  - QEMU's own handling still happened (its log line, the guest's MCE
#    handler, libvirt's memory-failure event), and rasd recorded that event
#    linked to the forward;
#  - virsh dumpxml carries rasd's metadata with that range;
#  - restarting libvirtd keeps everything; stopping the domain marks the VM
#    stopped;
#  - a guest that cannot take the machine check is reset by QEMU and rasd
#    retires its active poison, keeping it in history.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt-lib.sh"

B=$(virt_abs "${B:-build}")
# The shim is loaded into the system's QEMU: under a sanitizer build, use
# the plain build's shim (an ASan .so cannot load into a plain QEMU).
SHIM_BUILD=$(virt_abs "${RAS_SHIM_B:-$B}")
for f in "$SHIM_BUILD/lib/rasd-shim.so" "$B/tests/tools/ras-inject" \
    "$B/tests/tools/mce-guest.img" "$B/tests/tools/nomce-guest.img"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done
INJECT=$B/tests/tools/ras-inject

virt_start || { notok "private libvirtd starts"; exit 1; }
RASD_LIBVIRT=qemu:///system start_rasd --config "$VIRT_RASD_CONF" ||
    { notok "rasd starts, watching libvirt"; exit 1; }
SHIM=$(virt_share "$SHIM_BUILD/lib/rasd-shim.so")
virt_events_start

# state VM: rasd's state of the VM ("" if unknown).
state() { rasctl --json show "$1" 2>/dev/null | jq -r .state; }

# --- a guest that takes machine checks, covered by the shim ----------------
virt_define_guest g1 "$(virt_share "$B/tests/tools/mce-guest.img")" --shim "$SHIM" --env RASD_SHIM_MODE=observe
check "g1 starts under libvirt with the shim" vsh start g1
check "g1 guest is ready" virt_wait_ready g1
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show g1 2>/dev/null | jq -r .state)\" = running ]"
expect_eq "the shim registered g1 with rasd" "$(state g1)" running
check "QEMU's log says the shim covers g1" grep -q "rasd-shim: VM g1" "$(virt_qemu_log g1)"
# Observing records what QEMU does: QEMU >= 9.1 encodes a machine check
# for this AMD-vendor guest the AMD way, 7.2 the Intel way; QEMU >= 9.0
# will refuse to migrate g1 once it has a memory error, and the shim
# says so.
if virt_qemu_amd_mce; then enc=amd; else enc=intel; fi
expect_eq "rasd names QEMU's own MCE encoding for g1 ($enc)" \
	"$(rasctl --json show g1 | jq -r .mce_encoding)" "$enc"
expect_eq "rasd marks g1 observed (QEMU's handler acts)" \
	"$(rasctl --json show g1 | jq -r .observing)" true
check "rasctl show says so" grep -q "observing: the VMM's own handler acts" \
	<<<"$(rasctl show g1)"
if [ "$VIRT_QEMU_VERSION" -ge 900 ]; then
	check "the shim says QEMU will refuse to migrate g1 once poisoned" \
		grep -q "rasd-shim: VM g1 .*observing: QEMU acts on its own, and refuses to migrate" "$(virt_qemu_log g1)"
else
	check "the shim says QEMU acts on its own" \
		grep -q "rasd-shim: VM g1 .*(observing: QEMU acts on its own)" "$(virt_qemu_log g1)"
fi
expect_eq "rasd sees libvirt's view of g1" "$(rasctl --json show g1 | jq -r .libvirt_state)" running
expect_eq "x86 QEMU profile: source 0 MCE" \
	"$(rasctl --json show g1 | jq -r '[.profile[] | "\(.source_id):\(.notification)"] | join(",")')" "0:MCE"
check "the memory map has guest RAM" test "$(rasctl --json show g1 | jq '[.slots[] | select(.gpa == "0x100000")] | length')" -ge 1

QPID=$(virt_qemu_pid g1)
"$INJECT" --pid "$QPID" --code AO --ram-offset 0x6000000 >"$T/inject1.out" 2>&1
check "ptrace AO injected into g1's vCPU thread" test $? -eq 0
check "QEMU handled it itself (its log line)" virt_wait_log g1 "of type BUS_MCEERR_AO injected"
GPA=$(grep -a -o "GUEST addr 0x[0-9a-f]*" "$(virt_qemu_log g1)" | tail -1 | awk '{print $3}')
check "QEMU logged a guest address" test -n "$GPA"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison g1 | jq length)\" = 1 ]"
expect_eq "rasd has the GPA QEMU logged" "$(poison_json g1 | jq -r '.[0].gpa')" "$GPA"
expect_eq "decision: inject MCE source 0" \
	"$(poison_json g1 | jq -r '.[0] | "\(.action) \(.notification) \(.source_id)"')" "inject MCE 0"
check "libvirt reported the memory failure" virt_wait_event "memory-failure.*'g1'"
if virt_qemu_amd_mce; then
	# QEMU >= 9.1, AMD-vendor guest: the AO is a deferred error in MC9,
	# no #MC (libvirt-lib.sh); the event above came after the injection.
	check "QEMU >= 9.1: the guest took no #MC for the AO (deferred error)" \
		test "$(grep -ac 'MCE status' "$(virt_serial g1)")" -eq 0
else
	check "the guest's machine-check handler ran" virt_wait_serial g1 "MCE status"
fi
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json events g1 | jq length)\" -ge 1 ]"
expect_eq "rasd recorded libvirt's event (guest, inject)" \
	"$(rasctl --json events g1 | jq -r '.[0] | "\(.recipient) \(.action)"')" "guest inject"
expect_eq "and linked it to the forward" "$(rasctl --json events g1 | jq -r '.[0].gpa')" "$GPA"
check "QEMU is still running" kill -0 "$QPID"

"$INJECT" --pid "$QPID" --code AR --gpa 0x9f000 >"$T/inject2.out" 2>&1
check "QEMU handled an AR too" virt_wait_log g1 "of type BUS_MCEERR_AR injected"
check "the guest's machine-check handler ran for the AR" \
	virt_wait_serial g1 "addr=000000000009F000"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison g1 | jq length)\" = 2 ]"
expect_eq "rasd has the AR at 0x9f000" \
	"$(poison_json g1 | jq -r '.[] | select(.kind == "AR") | .gpa')" 0x9f000

# meta_has GPA: the live domain XML carries rasd's element with that range.
meta_has() {
	vsh dumpxml g1 >"$T/dom.xml" 2>&1 &&
	    grep -q '<rasd:state ' "$T/dom.xml" &&
	    grep -qE "<(rasd:)?poison gpa=[\"']$1[\"']" "$T/dom.xml"
}
wait_for meta_has "$GPA"
check "virsh dumpxml carries rasd's metadata with the range" meta_has "$GPA"
vsh metadata g1 https://rasd.dev/xmlns/state/1 >"$T/meta.xml" 2>&1
check "virsh metadata shows two ranges" test "$(grep -o '<poison ' "$T/meta.xml" | wc -l)" -eq 2

# --- libvirtd restarts under the running domain -----------------------------
before=$(poison_json g1)
virt_restart_libvirtd || notok "libvirtd restarts"
# reconnected: rasd's last connection line counts g1 again.
reconnected() {
	grep -a "connected" "$RASD_LOG" | tail -1 |
	    grep -q "libvirt: connected to qemu:///system, 1 domains"
}
within 10 reconnected
check "rasd reconnected to the restarted libvirtd" test "$(grep -ac 'libvirt: connected to' "$RASD_LOG")" -ge 2
expect_eq "poison unchanged across the libvirtd restart" "$(poison_json g1)" "$before"
expect_eq "g1 still running in rasd" "$(state g1)" running
check "the hook saw the reconnect" grep -q " g1 .* reconnect begin" "$VIRT_HOOK_LOG"

# --- stopping the domain ------------------------------------------------------
vsh destroy g1 >/dev/null
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show g1 | jq -r .state)\" = stopped ]"
expect_eq "destroying g1 marks it stopped" "$(state g1)" stopped
expect_eq "its poison stays recorded while stopped" "$(poison_json g1 | jq length)" 2
check "the hook told rasd" grep -q " g1 .* stopped end" "$VIRT_HOOK_LOG"

# --- guest reset: a guest that cannot take the machine check --------------
virt_define_guest g2 "$(virt_share "$B/tests/tools/nomce-guest.img")" --shim "$SHIM" --env RASD_SHIM_MODE=observe
check "g2 starts" vsh start g2
check "g2 guest is ready" virt_wait_ready g2
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show g2 2>/dev/null | jq -r .state)\" = running ]"
# QEMU >= 9.1 resets an AMD-vendor guest without CR4.MCE only for an AR
# (an AO is a deferred error there, no #MC: libvirt-lib.sh).
code=AO
virt_qemu_amd_mce && code=AR
"$INJECT" --pid "$(virt_qemu_pid g2)" --code $code --ram-offset 0x6000000 >"$T/inject3.out" 2>&1
check "libvirt reported the reset ($code)" virt_wait_event "reboot.*'g2'"
check "QEMU resets g2 (the guest boots again)" virt_wait_ready g2 2
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json history g2 | jq length)\" = 1 ]"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison g2 | jq length)\" = 0 ]"
expect_eq "the reset retired g2's active poison" "$(poison_json g2 | jq length)" 0
expect_eq "and kept it in history (inactive)" \
	"$(rasctl --json history g2 | jq -r '.[0] | "\(.gpa) \(.active)"')" "0x6000000 false"
expect_eq "the boot profile is unpinned by the reset" "$(rasctl --json show g2 | jq -r .profile_pinned)" false
check "rasd logged why" grep -q "vm g2: guest reset (libvirt reboot event) retires 1" "$RASD_LOG"
vsh destroy g2 >/dev/null
