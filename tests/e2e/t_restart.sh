#!/usr/bin/env bash
# Durability: what rasd acknowledged survives a clean restart and a crash
# (SIGKILL), and a VMM that stays up re-registers and keeps going.
. "$(dirname "$0")/lib.sh"

start_rasd || { notok "rasd starts"; exit 1; }
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest

vmmsim --name vm1 --arch arm64 --hest "$HEST" --poison AR:0x40001000 \
	--poison AO:0x40400000 --poison AR:0x40010000:16 >/dev/null 2>&1
vmmsim --name vm2 --arch x86_64 --declare 0:MCE --poison AO:0x7000 >/dev/null 2>&1
before1=$(poison_json vm1); before2=$(poison_json vm2)
hist1=$(rasctl --json history vm1)
expect_eq "vm1 has three ranges before restart" "$(jq length <<<"$before1")" 3

stop_rasd TERM
start_rasd || notok "rasd restarts"
expect_eq "clean restart: vm1 poison identical" "$(poison_json vm1)" "$before1"
expect_eq "clean restart: vm2 poison identical" "$(poison_json vm2)" "$before2"
expect_eq "clean restart: history identical" "$(rasctl --json history vm1)" "$hist1"

stop_rasd KILL
start_rasd || notok "rasd restarts after SIGKILL"
expect_eq "crash: vm1 poison identical" "$(poison_json vm1)" "$before1"
expect_eq "crash: vm2 poison identical" "$(poison_json vm2)" "$before2"
expect_eq "crash: VM list keeps both" "$(rasctl --json list-vms | jq -r '[.[].name] | sort | join(",")')" "vm1,vm2"
expect_eq "boot profile still pinned" "$(rasctl --json show vm1 | jq -r .profile_pinned)" true
expect_eq "boot profile still SEA+GPIO" \
	"$(rasctl --json show vm1 | jq -r '[.profile[] | "\(.source_id):\(.notification)"] | join(",")')" "0:SEA,1:GPIO"

# A running VMM reconnects by itself after rasd restarts.
coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm3 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show vm3 2>/dev/null | jq -r .state)\" = running ]"
check "vm3 is running" test "$(rasctl --json show vm3 | jq -r .state)" = running
stop_rasd KILL
start_rasd || notok "rasd restarts under a live VMM"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show vm3 2>/dev/null | jq -r .state)\" = running ]"
check "vm3 re-registered after the restart" test "$(rasctl --json show vm3 | jq -r .state)" = running
echo "AR 0x40006000 12" >&"${SIM[1]}"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vm3 | jq length)\" = 1 ]"
expect_eq "forward after the restart recorded" "$(poison_json vm3 | jq -r '.[0].gpa')" 0x40006000
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show vm3 | jq -r .state)\" != running ]"
check "vm3 no longer running after its VMM exits" test "$(rasctl --json show vm3 | jq -r .state)" != running

# A second rasd on the same state directory is refused.
"$RASD_BIN" --foreground --no-libvirt --socket "$T/other.sock" --state-dir "$STATE" >"$T/second.log" 2>&1
check "second rasd on the same state dir exits non-zero" test $? -ne 0
check "and says why" grep -q "in use by another rasd" "$T/second.log"
