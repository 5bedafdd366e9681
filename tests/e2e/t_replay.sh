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

# An error storm while rasd is away: repeats of a page share one replay
# entry; distinct errors beyond the ring are counted, shown by the library,
# and reported to rasd when it is back, which says so.
stop_rasd KILL
mkfifo "$T/in2"
"$VMMSIM_BIN" --socket "$SOCK" --name vm2 --arch arm64 --hest "$HEST" --stdin \
	--hold --timeout-ms 100 <"$T/in2" >"$T/out2" 2>"$T/err2" &
SIM2=$!
exec 7>"$T/in2"
{ for i in $(seq 0 9); do echo "AR 0x40000000 12"; done
  for i in $(seq 1 4099); do printf 'AR 0x%x 12\n' $((0x40000000 + i * 0x2000)); done
  echo status; } >&7
within 60 grep -q '^status' "$T/out2"
expect_eq "4109 fallback decisions printed" "$(grep -c ' -> ' "$T/out2")" 4109
expect_eq "ring: 4096 kept, the repeats shared one entry, 4 counted lost" \
	"$(grep '^status' "$T/out2")" "status pending=4096 lost=4 connected=0"
start_rasd || notok "rasd restarts after the storm"
within 60 bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vm2 2>/dev/null | jq length)\" = 4096 ]"
expect_eq "every kept forward replayed and recorded once" \
	"$(rasctl --json history vm2 | jq length)" 4096
expect_eq "rasd records what was not kept" \
	"$(rasctl --json show vm2 | jq .unrecorded)" 4
check "rasd logs the loss" grep -q "vm vm2 .*reports 4 local decisions not recorded" "$RASD_LOG"
check "rasctl show says so" grep -q "unrecorded.*4 local decisions" <<<"$(rasctl show vm2)"
echo status >&7
within 10 bash -c "[ \"\$(grep '^status' $T/out2 | tail -1)\" = 'status pending=0 lost=4 connected=1' ]"
expect_eq "the library still counts its loss" "$(grep '^status' "$T/out2" | tail -1)" \
	"status pending=0 lost=4 connected=1"
exec 7>&-
kill -TERM "$SIM2"; wait "$SIM2"
check "the VMM warns at exit" grep -q "4 local decisions could not be kept" "$T/err2"
stop_rasd
start_rasd || notok "rasd restarts"
expect_eq "the count survives a restart" "$(rasctl --json show vm2 | jq .unrecorded)" 4
