#!/usr/bin/env bash
# needs: kvm qemu
# Enforcing mode (plugins/shim/shim_mce.c): an unmodified QEMU under a real
# libvirtd, with RASD_SHIM_MODE=enforce. A memory-error SIGBUS raised in
# QEMU's vCPU thread (ptrace, as the kernel sends it) is decided by rasd
# and carried out by the shim through KVM_X86_SET_MCE:
#  - the guest's machine-check handler prints exactly the MCi_STATUS and
#    MCi_ADDR rasd's decision names -- for the test guests' CPU (qemu64,
#    AuthenticAMD) the AMD encoding, which QEMU 7.2 never injects;
#  - QEMU's own handler never saw the error (no "Guest MCE Memory Error"
#    line in its log), so QEMU keeps no poisoned-page list of its own;
#  - rasctl list-poison shows the decision that was carried out;
#  - with an AR that has nothing deliverable (rasd's AR order without MCE)
#    the decision is stop-vm: the guest is not told, its vCPU is held, QEMU
#    says why, and the operator keeps control (suspend, resume, destroy).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt-lib.sh"

B=$(virt_abs "${B:-build}")
SHIM_BUILD=$(virt_abs "${RAS_SHIM_B:-$B}")
for f in "$SHIM_BUILD/lib/rasd-shim.so" "$B/tests/tools/ras-inject" \
    "$B/tests/tools/mce-guest.img"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done
INJECT=$B/tests/tools/ras-inject

virt_start || { notok "private libvirtd starts"; exit 1; }
RASD_LIBVIRT=qemu:///system start_rasd --config "$VIRT_RASD_CONF" ||
    { notok "rasd starts, watching libvirt"; exit 1; }
SHIM=$(virt_share "$SHIM_BUILD/lib/rasd-shim.so")
IMG=$(virt_share "$B/tests/tools/mce-guest.img")

# enforced NAME [XML]: define NAME (the machine-check guest) with the shim
# in enforcing mode; XML goes into the domain (virt_write_domain).
enforced() {
	local disk=$VIRT_SHARE/$1.img
	cp "$IMG" "$disk" && chmod 0644 "$disk" || return 1
	: >"$(virt_serial "$1")"
	virt_write_domain "$1" "$disk" \
	    " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" \
	    "  <qemu:commandline>
    <qemu:env name='LD_PRELOAD' value='$SHIM'/>
    <qemu:env name='RASD_SOCKET' value='$SOCK'/>
    <qemu:env name='RASD_SHIM_MODE' value='enforce'/>
  </qemu:commandline>" "${2:-}"
}
running() { [ "$(rasctl --json show "$1" 2>/dev/null | jq -r .state)" = running ]; }

# --- inject: rasd's values reach the guest, QEMU's handler is not called ----
enforced e1 || notok "e1 defined"
check "e1 starts under libvirt with the shim enforcing" vsh start e1
check "e1 guest is ready" virt_wait_ready e1
wait_for running e1
check "the shim registered e1" running e1
check "QEMU's log says the shim enforces" \
	grep -q "rasd-shim: VM e1 .*enforcing: the shim carries out" "$(virt_qemu_log e1)"
QPID=$(virt_qemu_pid e1)
expect_eq "rasd encodes e1's machine checks for its AMD-vendor CPU" \
	"$(rasctl --json show e1 | jq -r .mce_encoding)" amd
expect_eq "e1 is not marked observed (the shim carries decisions out)" \
	"$(rasctl --json show e1 | jq -r .observing)" false

"$INJECT" --pid "$QPID" --code AR --gpa 0x9f000 >"$T/inject1.out" 2>&1
check "ptrace AR injected into e1's vCPU thread" test $? -eq 0
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e1 | jq length)\" = 1 ]"
expect_eq "rasd decided: inject MCE 0 for the AR at 0x9f000" \
	"$(poison_json e1 | jq -r '.[0] | "\(.gpa) \(.ar.action) \(.ar.notification) \(.ar.source_id)"')" \
	"0x9f000 inject MCE 0"
# rasd's decision for an AMD-vendor guest: VAL|UC|EN|MISCV|ADDRV|POISON,
# and MCG_STATUS MCIP|EIPV|RIPV.
check "the guest's handler got rasd's MCi_STATUS, MCi_ADDR and MCG_STATUS (AMD encoding)" \
	virt_wait_serial e1 "MCE status=BC00080000000000 addr=000000000009F000 mcg=0000000000000007"
check "QEMU's own handler never saw it (no injection line of its own)" \
	bash -c "! grep -q 'Guest MCE Memory Error' '$(virt_qemu_log e1)'"
check "QEMU is still running" kill -0 "$QPID"

# A second AR on the same page: the repeat is carried out again.
"$INJECT" --pid "$QPID" --code AR --gpa 0x9f000 >"$T/inject2.out" 2>&1
check "a repeated AR reaches the guest again" \
	virt_wait_serial e1 "addr=000000000009F000" 2
expect_eq "one range, one record (the repeat is not a record)" \
	"$(poison_json e1 | jq -r '.[0].records')" 1

# An AO: for an AMD guest a deferred error (no #MC), as QEMU >= 9.1 does.
"$INJECT" --pid "$QPID" --code AO --ram-offset 0x6000000 >"$T/inject3.out" 2>&1
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e1 | jq length)\" = 2 ]"
expect_eq "rasd decided the AO: inject MCE" \
	"$(poison_json e1 | jq -r '.[] | select(.gpa == "0x6000000") | "\(.ao.action) \(.ao.notification)"')" \
	"inject MCE"
check "QEMU's handler did not see the AO either" \
	bash -c "! grep -q 'Guest MCE Memory Error' '$(virt_qemu_log e1)'"
sleep 1
expect_eq "a deferred error: no #MC in the guest for the AO" \
	"$(grep -ac 'MCE status' "$(virt_serial e1)")" 2

# A guest reset: QEMU never saw these errors, so the shim gives the
# poisoned pages fresh memory, as QEMU does for those in its own list.
check "virsh reset e1" vsh reset e1
check "the shim gave both poisoned ranges fresh memory" \
	virt_wait_log e1 "guest reset: 2 poisoned ranges given fresh memory"
check "the guest boots again" virt_wait_ready e1 2
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e1 | jq length)\" = 0 ]"
expect_eq "rasd retired the VM's poison at the reset (libvirt's reboot event)" \
	"$(poison_json e1 | jq length)" 0
expect_eq "and keeps it in history" "$(rasctl --json history e1 | jq length)" 2
check "QEMU's handler still saw nothing" \
	bash -c "! grep -q 'Guest MCE Memory Error' '$(virt_qemu_log e1)'"
# The page is memory again: a new error there is a new record. (The fresh
# pages split QEMU's RAM mapping, so ras-inject takes the host address it
# found the first time.)
HVA=$(sed -n 's/.*at host VA \(0x[0-9a-f]*\).*/\1/p' "$T/inject1.out")
"$INJECT" --pid "$QPID" --code AR --addr "$HVA" >"$T/inject5.out" 2>&1
check "ptrace AR injected again at host address $HVA" test $? -eq 0
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e1 | jq length)\" = 1 ]"
expect_eq "a new record after the reset" "$(rasctl --json history e1 | jq length)" 3
check "a new AR after the reset reaches the guest" \
	virt_wait_serial e1 "addr=000000000009F000" 3
vsh destroy e1 >/dev/null

# --- guest RAM on a shared memfd: the reset keeps it shared -----------------
# (what vhost-user backends need): the shim punches the poisoned range out
# of the file and maps it again, shared, as QEMU's qemu_ram_remap() does.
enforced e3 "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" ||
    notok "e3 defined"
check "e3 (guest RAM on a shared memfd) starts" vsh start e3
check "e3 guest is ready" virt_wait_ready e3
wait_for running e3
Q3=$(virt_qemu_pid e3)
"$INJECT" --pid "$Q3" --code AR --gpa 0x9f000 >"$T/inject6.out" 2>&1
check "ptrace AR injected into e3's vCPU thread" test $? -eq 0
H3=$(sed -n 's/.*at host VA \(0x[0-9a-f]*\).*/\1/p' "$T/inject6.out")
check "e3's guest took the machine check" virt_wait_serial e3 "addr=000000000009F000"
expect_match "e3's page is in a shared memfd mapping" "$(map_of "$Q3" "$H3")" \
	"^rw-s /memfd:"
check "the shim put a poison marker on e3's page (reads EIO)" \
	within 5 eval '[ "$(peek "$Q3" "$H3")" = EIO ]'
check "virsh reset e3" vsh reset e3
check "the shim gave the shared range fresh memory" \
	virt_wait_log e3 "guest reset: 1 poisoned ranges given fresh memory"
check "e3 boots again" virt_wait_ready e3 2
expect_eq "the page reads again" "$(peek "$Q3" "$H3")" ok
expect_match "and is still the shared memfd" "$(map_of "$Q3" "$H3")" "^rw-s /memfd:"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e3 | jq length)\" = 0 ]"
expect_eq "rasd retired e3's poison, keeping its history" \
	"$(poison_json e3 | jq length) $(rasctl --json history e3 | jq length)" "0 1"
vsh destroy e3 >/dev/null

# --- stop-vm: nothing deliverable for an AR ---------------------------------
stop_rasd
RASD_LIBVIRT=qemu:///system start_rasd --config "$VIRT_RASD_CONF" --ar-order NMI ||
    notok "rasd restarts with an AR order without MCE"
# This one is covered as an operator does it: rasd-cover --mode enforce.
virt_define_guest e2 "$IMG" --shim "$SHIM" || notok "e2 defined"
"$VIRT_REPO/deploy/libvirt/rasd-cover" -c "$VIRT_URI" --shim "$SHIM" \
    --mode enforce e2 >"$T/cover.out" 2>&1
check "rasd-cover --mode enforce e2" grep -q "^e2: covered" "$T/cover.out"
check "the definition has RASD_SHIM_MODE=enforce" \
	bash -c "virsh -c '$VIRT_URI' dumpxml e2 | grep -q \"name='RASD_SHIM_MODE' value='enforce'\""
check "e2 starts" vsh start e2
check "e2 guest is ready" virt_wait_ready e2
wait_for running e2
QPID=$(virt_qemu_pid e2)
"$INJECT" --pid "$QPID" --code AR --gpa 0x9f000 >"$T/inject4.out" 2>&1
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison e2 | jq length)\" = 1 ]"
expect_eq "rasd decided stop-vm" "$(poison_json e2 | jq -r '.[0].ar.action')" stop-vm
check "QEMU's log says the vCPUs are held, and why" \
	virt_wait_log e2 "rasd decided stop-vm for a memory error"
expect_eq "rasctl show says e2 is held, for the AR at 0x9f000" \
	"$(rasctl --json show e2 | jq -r '"\(.held_since != null) \(.held_addr)"')" "true 0x9f000"
check "... in words too" grep -q "stop-vm, nothing the guest can be told reports the AR at gpa 0x9f000" \
	<<<"$(rasctl show e2)"
check "rasd logged that it holds e2" grep -q "vm e2: guest held (stop-vm)" "$RASD_LOG"
sleep 1
expect_eq "the guest was not told (no #MC)" "$(grep -ac 'MCE status' "$(virt_serial e2)")" 0
check "QEMU's own handler did not inject either" \
	bash -c "! grep -q 'Guest MCE Memory Error' '$(virt_qemu_log e2)'"
# virsh_in ACTION: the operator's command answers within a minute.
virsh_in() { timeout 60 virsh -q -c "$VIRT_URI" "$1" e2 >/dev/null; }
check "the operator can still pause the held guest" virsh_in suspend
expect_eq "libvirt shows it paused" "$(vsh domstate e2)" paused
check "and resume it" virsh_in resume
sleep 1
expect_eq "resumed, still not told" "$(grep -ac 'MCE status' "$(virt_serial e2)")" 0
check "and destroy it" virsh_in destroy
check "a destroyed guest is held no longer" \
	within 10 eval '[ "$(rasctl --json show e2 | jq -r .held_since)" = null ]'
[ "$failures" -ne 0 ] && virt_dump_logs
exit $((failures > 0))
