#!/usr/bin/env bash
# Full disk. rasd's state directory is a 4 MiB tmpfs that a filler file
# fills. What must hold:
#  - recording needs only a few records' worth of free space: the WAL stays
#    a small ring, so with 64 KiB free every forward is still recorded;
#  - when nothing is left, a forward gets a clear store error (the VMM
#    decides locally and keeps it for replay), rasd logs why and keeps
#    serving reads;
#  - once space is back, rasd records again by itself, without a restart,
#    and the VMM's replays land;
#  - after a kill -9 on the full disk rasd restarts, a registration works
#    or fails with a clear reason, and once space is back everything works
#    without another restart;
#  - nothing acknowledged is lost, and every forward is recorded once.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$STATE" ||
    ! mount -t tmpfs -o size=4m rasd-test "$STATE" 2>/dev/null; then
	skip "needs root to mount a 4 MiB tmpfs as a full disk"
	exit 0
fi
trap 'stop_rasd TERM; kill ${SIM_PID:-} 2>/dev/null; wait 2>/dev/null; umount "$STATE" 2>/dev/null; cleanup' EXIT
start_rasd || { notok "rasd starts"; exit 1; }
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
WAL=$STATE/rasd.db-wal
FILL=$STATE/fill

coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" --hold --stdin --timeout-ms 2000 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm1 >/dev/null 2>&1"

# Every forward goes to a page of its own, two pages apart, so each is a
# range and a history row of its own.
NEXT=$((0x40000000))
SENT=() ACKED=()
# fw: one AR forward; LINE is the VMM's answer, rc 0 if rasd decided it.
fw() {
	NEXT=$((NEXT + 0x2000))
	LAST=$(printf '0x%x' "$NEXT")
	SENT+=("$LAST")
	echo "AR $LAST 12" >&"${SIM[1]}"
	LINE=
	read -r -t 10 LINE <&"${SIM[0]}"
	grep -q "(rasd)" <<<"$LINE" || return 1
	ACKED+=("$LAST")
}
# fw_n N: N forwards; prints how many rasd decided.
fw_n() {
	local i n=0
	for i in $(seq 1 "$1"); do fw && n=$((n + 1)); done
	FW_OK=$n
}
# fw_until_refused MAX: forward until rasd does not decide one.
fw_until_refused() {
	local i
	for i in $(seq 1 "$1"); do fw || return 0; done
	return 1
}
# fill [KIB]: fill the state directory, leaving KIB KiB free.
fill() {
	dd if=/dev/zero of="$FILL" bs=4k oflag=append conv=notrunc 2>/dev/null
	if [ -n "${1:-}" ]; then
		truncate -s $(( $(stat -c %s "$FILL") - $1 * 1024 )) "$FILL"
	fi
}
history_gpas() { rasctl --json history vm1 2>/dev/null | jq -r '.[].gpa' | sort; }
# all_recorded: every forward sent so far is in the history exactly once.
all_recorded() {
	[ "$(history_gpas)" = "$(printf '%s\n' "${SENT[@]}" | sort)" ]
}
# nothing_lost: every forward rasd acknowledged is in the history.
nothing_lost() {
	local h g
	h=$(history_gpas)
	for g in "${ACKED[@]}"; do grep -qx "$g" <<<"$h" || return 1; done
}
sim_status() {
	echo status >&"${SIM[1]}"
	read -r -t 5 STATUS <&"${SIM[0]}"
}

# --- the WAL is a small ring, not 18 KB more a forward ---
fw_n 100
expect_eq "100 forwards with space left are decided by rasd" "$FW_OK" 100
wal=$(stat -c %s "$WAL" 2>/dev/null || echo 0)
echo "# WAL after 100 forwards: $wal bytes; state dir: $(du -sk "$STATE" | cut -f1) KiB"
check "WAL stays small (<= 512 KiB after 100 forwards, was $wal)" \
	test "$wal" -le 524288

# --- a few records' worth of space is enough to record ---
fill 64
fw_n 30
expect_eq "with 64 KiB free, 30 forwards are all recorded" "$FW_OK" 30

# --- nothing left: a clear error, a log line, reads still served ---
fill
if fw_until_refused 400; then
	ok "disk full: a forward gets the VMM's local decision"
	check "disk full: the VMM's decision is local" grep -qi "fallback" <<<"$LINE"
	check "disk full: rasd answers a clear store error and logs it" \
		grep -qE "poison at gpa $LAST not recorded: .*disk (is )?full" "$RASD_LOG"
	check "disk full: rasd logs that it checkpoints and retries" \
		grep -q "store: write failed .*retrying" "$RASD_LOG"
else
	notok "disk full: 400 forwards on a full disk were all recorded"
fi
fw_n 3
expect_eq "still full: the next forwards are refused too" "$FW_OK" 0
check "disk full: rasd keeps serving reads" \
	bash -c "$RASCTL_BIN --socket $SOCK --json list-poison vm1 | jq -e 'length > 100' >/dev/null"
check "disk full: an unrecorded forward is not shown as recorded" \
	bash -c "! $RASCTL_BIN --socket $SOCK --json list-poison vm1 | grep -q '\"$LAST\"'"
check "nothing acknowledged lost while full" nothing_lost

# --- space returns: recording resumes by itself, replays land ---
rm -f "$FILL"
check "space back: the VMM's kept forwards are replayed and recorded once" \
	wait_for all_recorded
check "space back: the next forward is decided by rasd, no restart" fw
check "space back: rasd said it writes again" \
	grep -q "store: writing again after" "$RASD_LOG"
check "rasd was not restarted" kill -0 "$RASD_PID"

# --- kill -9 on a full disk, restart while full ---
fill
fw_until_refused 400 || notok "full again: 400 forwards were all recorded"
stop_rasd KILL
start_rasd || { notok "rasd restarts on a full disk"; exit 1; }
ok "rasd restarts on a full disk"
# vm1's VMM reconnects on its own: registered, or refused with a reason.
logpos=$(wc -l <"$RASD_LOG")
UUID1=$(rasctl --json show vm1 | jq -r .uuid)
regd() { [ "$(rasctl --json show vm1 2>/dev/null | jq -r .state)" = running ]; }
refused() {
	tail -n +"$((logpos + 1))" "$RASD_LOG" |
	    grep -qE "$UUID1: registration not recorded: .*disk (is )?full"
}
if within 5 eval 'regd || refused'; then
	ok "full after kill -9: vm1's registration works or fails clearly"
else
	notok "full after kill -9: vm1's registration neither works nor says why"
fi
out=$(vmmsim --name vm2 --arch arm64 --hest "$HEST" --poison AR:0x40001000 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || grep -qiE "disk (is )?full" <<<"$out"; then
	ok "full after kill -9: a new VM registers or is told the disk is full"
else
	notok "full after kill -9: new VM: exit $rc: $out"
fi
check "full after kill -9: reads are served" \
	bash -c "$RASCTL_BIN --socket $SOCK --json list-poison vm1 | jq -e 'length > 100' >/dev/null"
check "nothing acknowledged lost across kill -9 on a full disk" nothing_lost

rm -f "$FILL"
check "space back after kill -9: vm1 registered again, no restart" wait_for regd
check "space back after kill -9: kept forwards replayed and recorded once" \
	wait_for all_recorded
check "space back after kill -9: the next forward is decided by rasd" fw
out=$(vmmsim --name vm2 --arch arm64 --hest "$HEST" --poison AR:0x40003000 2>&1)
check "space back after kill -9: a new VM registers and is answered by rasd" \
	grep -q "(rasd)" <<<"$out"

wal=$(stat -c %s "$WAL" 2>/dev/null || echo 0)
echo "# WAL at the end: $wal bytes; ${#SENT[@]} forwards; state dir: $(du -sk "$STATE" | cut -f1) KiB"
n=${#SENT[@]}
stop_rasd TERM
start_rasd || notok "rasd restarts"
expect_eq "every forward durable across a restart, once" \
	"$(history_gpas | wc -l)" "$n"
check "every forward durable across a restart" all_recorded
