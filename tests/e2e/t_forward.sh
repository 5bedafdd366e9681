#!/usr/bin/env bash
# Forward AR/AO memory errors from ras-vmmsim (real SIGBUS on its own
# thread) for guests with different boot HESTs, and check what rasctl
# reports: the decision always comes from the boot profile.
. "$(dirname "$0")/lib.sh"

start_rasd || { notok "rasd starts"; exit 1; }

# field VM INDEX JQ-EXPR: one field of one poisoned range.
field() { poison_json "$1" | jq -r ".[$2]$3"; }

# QEMU virt 10.2: GHESv2 source 0 SEA, source 1 GPIO.
out=$(vmmsim --name vm1 --arch arm64 --hest "$DATA/qemu-virt-10.2-sea-gpio.hest" \
	--poison AR:0x40001000 --poison AO:0x40200000:21 2>&1)
check "vmmsim forwards AR and AO for vm1" test $? -eq 0
check "vmmsim prints rasd's decision" grep -q "inject SEA" <<<"$out"
expect_eq "vm1 has two ranges" "$(poison_json vm1 | jq length)" 2
expect_eq "AR gpa" "$(field vm1 0 .gpa)" 0x40001000
expect_eq "AR length" "$(field vm1 0 .length)" 4096
expect_eq "AR kind" "$(field vm1 0 .kind)" AR
expect_eq "AR action" "$(field vm1 0 .action)" inject
expect_eq "AR -> SEA" "$(field vm1 0 .notification)" SEA
expect_eq "AR source 0" "$(field vm1 0 .source_id)" 0
expect_eq "AO gpa (2 MiB granule)" "$(field vm1 1 .gpa)" 0x40200000
expect_eq "AO length" "$(field vm1 1 .length)" 2097152
expect_eq "AO -> GPIO" "$(field vm1 1 .notification)" GPIO
expect_eq "AO source 1" "$(field vm1 1 .source_id)" 1

# QEMU virt 10.0: SEA only. AO has nothing deliverable: recorded, ignored.
vmmsim --name vm2 --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--poison AR:0x40003000 --poison AO:0x40005000 >/dev/null 2>&1
expect_eq "SEA-only: AR -> SEA" "$(field vm2 0 .notification)" SEA
expect_eq "SEA-only: AO recorded" "$(field vm2 1 .gpa)" 0x40005000
expect_eq "SEA-only: AO ignored" "$(field vm2 1 .action)" ignore
expect_eq "SEA-only: AO no notification" "$(field vm2 1 .notification)" null
expect_eq "SEA-only: AO no source" "$(field vm2 1 .source_id)" null

# A VMM that cannot inject SEA: AR has nothing deliverable -> stop the VM.
vmmsim --name vm3 --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--caps GPIO,GSIV --poison AR:0x40007000 >/dev/null 2>&1
expect_eq "no deliverable AR -> stop-vm" "$(field vm3 0 .action)" stop-vm

# x86 QEMU: declared MCE profile (no HEST).
vmmsim --name vm4 --arch x86_64 --declare 0:MCE \
	--poison AR:0x100000 --poison AO:0x200000 >/dev/null 2>&1
expect_eq "x86 AR -> MCE" "$(field vm4 0 .notification)" MCE
expect_eq "x86 AO -> MCE" "$(field vm4 1 .notification)" MCE
expect_eq "x86 AR gpa" "$(field vm4 0 .gpa)" 0x100000

# iasl-built arm64 firmware-first table: SEA, GSIV, SEI, SDEI, GPIO.
vmmsim --name vm5 --arch arm64 --hest "$DATA/iasl-arm64-ghesv2.hest" \
	--poison AR:0x40010000 --poison AO:0x40020000 >/dev/null 2>&1
expect_eq "arm64 FF: AR -> SEA 0" "$(field vm5 0 '|"\(.notification) \(.source_id)"')" "SEA 0"
expect_eq "arm64 FF: AO -> GSIV 1 (never SEI by default)" \
	"$(field vm5 1 '|"\(.notification) \(.source_id)"')" "GSIV 1"

# Adjacent and overlapping forwards coalesce into one range.
vmmsim --name vm6 --arch arm64 --hest "$DATA/qemu-virt-10.2-sea-gpio.hest" \
	--poison AR:0x40100000 --poison AR:0x40101000 --poison AR:0x40100000 \
	>/dev/null 2>&1
expect_eq "adjacent ranges merge" "$(poison_json vm6 | jq length)" 1
expect_eq "merged length" "$(field vm6 0 .length)" 8192
expect_eq "merged records (repeat not counted)" "$(field vm6 0 .records)" 2
expect_eq "history has two records" "$(rasctl --json history vm6 | jq length)" 2

# The operator's order cannot pick a type the boot HEST lacks.
stop_rasd
start_rasd --ao-order SEI,GPIO --ar-order GSIV,SEA || notok "rasd restarts with a custom policy"
vmmsim --name vm7 --arch arm64 --hest "$DATA/qemu-virt-10.2-sea-gpio.hest" \
	--poison AO:0x40300000 --poison AR:0x40303000 >/dev/null 2>&1
expect_eq "SEI configured but not in HEST: AO -> GPIO" "$(field vm7 0 .notification)" GPIO
expect_eq "GSIV configured but not in HEST: AR -> SEA" "$(field vm7 1 .notification)" SEA
vmmsim --name vm8 --arch arm64 --hest "$DATA/iasl-arm64-ghesv2.hest" \
	--poison AO:0x40300000 >/dev/null 2>&1
expect_eq "SEI in HEST and enabled by the operator: AO -> SEI 2" \
	"$(field vm8 0 '|"\(.notification) \(.source_id)"')" "SEI 2"

# A forward outside guest RAM is an error, logged, and nothing is recorded.
vmmsim --name vm9 --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--ram 16M --poison AR:0x80000000 >/dev/null 2>&1
check "out-of-range GPA refused by vmmsim or rasd" test "$(poison_json vm9 | jq length)" -eq 0

# mark-stopped (the libvirt hook's "stopped") while the VM's VMM is still
# connected and running: refused, said and logged; once it is gone, done.
coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm10 --arch arm64 \
	--hest "$DATA/qemu-virt-10.0-sea.hest" --hold --stdin 2>&1; }
VPID=$SIM_PID
registered_running() { [ "$(rasctl --json show vm10 2>/dev/null | jq -r .state)" = running ]; }
check "vm10's VMM registers and holds its connection" wait_for registered_running
out=$(rasctl mark-stopped vm10 2>&1)
expect_eq "mark-stopped with the VMM connected and running: refused (exit 1)" "$?" 1
check "... saying why" grep -q "VM vm10 is not stopped: its VMM (pid $VPID) is still connected and running" <<<"$out"
expect_eq "... and vm10 stays running" "$(rasctl --json show vm10 | jq -r .state)" running
check "... logged" grep -q "VM vm10 is not stopped" "$RASD_LOG"
kill -KILL "$VPID"
wait "$VPID" 2>/dev/null
check "once the VMM is gone, mark-stopped marks it stopped" rasctl mark-stopped vm10
expect_eq "vm10 is stopped" "$(rasctl --json show vm10 | jq -r .state)" stopped
