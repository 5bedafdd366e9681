#!/usr/bin/env bash
# Full disk: a forward that cannot be made durable is answered with an
# error (the VMM decides locally and keeps it), rasd logs why and keeps
# serving; once space is back the VMM's replay lands, and nothing that was
# acknowledged is lost.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$STATE" || ! mount -t tmpfs -o size=1m rasd-test "$STATE" 2>/dev/null; then
	skip "needs root and tmpfs mounts to make a full disk"
	exit 0
fi
trap 'stop_rasd TERM; kill ${SIM_PID:-} 2>/dev/null; wait 2>/dev/null; umount "$STATE" 2>/dev/null; cleanup' EXIT
start_rasd || { notok "rasd starts"; exit 1; }
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest

coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" --hold --stdin --timeout-ms 2000 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm1 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "forward with space left is decided by rasd" grep -q "(rasd)" <<<"$line"

dd if=/dev/zero of="$STATE/fill" bs=4k 2>/dev/null
echo "AR 0x40003000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "disk full: VMM still gets a decision (local)" grep -qi "fallback" <<<"$line"
check "disk full: rasd logs why" grep -qE "not recorded.*(full|disk)" "$RASD_LOG"
expect_eq "disk full: rasd keeps serving reads" "$(poison_json vm1 | jq length)" 1
expect_eq "disk full: unrecorded poison is not shown as recorded" \
	"$(poison_json vm1 | jq -r '.[0].gpa')" 0x40001000

rm -f "$STATE/fill"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vm1 | jq length)\" = 2 ]"
expect_eq "space back: the kept forward is replayed and recorded" "$(poison_json vm1 | jq length)" 2
expect_eq "recorded once" "$(rasctl --json history vm1 | jq length)" 2
stop_rasd TERM
start_rasd || notok "rasd restarts"
expect_eq "both records durable across a restart" "$(poison_json vm1 | jq length)" 2
