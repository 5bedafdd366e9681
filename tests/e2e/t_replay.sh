#!/usr/bin/env bash
# Replay: rasd dies while a VMM forwards; the VMM decides locally from its
# boot profile, keeps the unacknowledged forwards, and replays them when
# rasd is back. Every forward arrives exactly once.
. "$(dirname "$0")/lib.sh"

start_rasd || { notok "rasd starts"; exit 1; }
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
count() { rasctl --json "$1" vm1 2>/dev/null | jq length; }

coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" --hold --stdin --timeout-ms 300 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm1 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "first forward answered by rasd" grep -q "rasd" <<<"$line"

stop_rasd KILL
echo "AR 0x40003000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "rasd down: local fallback decision" grep -qi "fallback" <<<"$line"
check "fallback decision uses the boot HEST (SEA)" grep -q "SEA" <<<"$line"
echo "AO 0x40005000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "rasd down: AO fallback is GPIO" grep -q "GPIO" <<<"$line"

start_rasd || notok "rasd restarts"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vm1 | jq length)\" = 3 ]"
expect_eq "replayed forwards arrived" "$(count list-poison)" 3
expect_eq "each exactly once in history" "$(count history)" 3
expect_eq "replayed AO decided by rasd" \
	"$(rasctl --json list-poison vm1 | jq -r '.[] | select(.gpa=="0x40005000") | .notification')" GPIO

# Crash rasd in the middle of a burst of forwards.
for i in $(seq 0 39); do
	printf 'AR 0x%x 12\n' $((0x40100000 + i * 0x2000)) >&"${SIM[1]}"
	[ "$i" = 15 ] && stop_rasd KILL
done
sleep 0.5
start_rasd || notok "rasd restarts after a crash mid-burst"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vm1 | jq length)\" = 43 ]"
expect_eq "all 40 burst forwards recorded after the crash" "$(count list-poison)" 43
expect_eq "none recorded twice" "$(count history)" 43
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
