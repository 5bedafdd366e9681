#!/usr/bin/env bash
# Socket activation (deploy/systemd/rasd.socket): rasd serves the listening
# socket systemd passes (LISTEN_PID/LISTEN_FDS, fd 3) instead of making its
# own, so VMMs that connect before rasd runs wait in the backlog and get
# rasd's answer, not the library's fallback. systemd-socket-activate(1)
# plays systemd: it listens, and execs rasd at the first connection. rasd
# leaves the socket file to its owner when it stops; what was passed but is
# unusable stops it at start; a LISTEN_PID that is not rasd's is ignored.
. "$(dirname "$0")/lib.sh"

ACT=$(command -v systemd-socket-activate)
if [ -z "$ACT" ]; then
	if [ "${CI:-}" = true ]; then
		notok "systemd-socket-activate not found (package systemd)"
	else
		skip "systemd-socket-activate not found (package systemd)"
	fi
	exit 0
fi

HEST=$DATA/qemu-virt-10.2-sea-gpio.hest

# mark; since: rasd's log from the last mark on.
mark() { MARK=$(wc -l <"$RASD_LOG"); }
since() { tail -n "+$((MARK + 1))" "$RASD_LOG"; }
MARK=0

# activate ARGS...: systemd-socket-activate listens on $SOCK and will exec
# rasd on it at the first connection; returns once the socket is there.
activate() {
	"$ACT" -l "$SOCK" "$RASD_BIN" --foreground --no-libvirt \
	    --socket "$SOCK" --state-dir "$STATE" "$@" >>"$RASD_LOG" 2>&1 &
	RASD_PID=$!
	wait_for test -S "$SOCK"
}

# 1. Three VMMs start while nothing but the listening socket exists.
check "the socket exists before rasd runs" activate
check "no rasd yet" test "$(grep -c 'rasd .* ready' "$RASD_LOG")" -eq 0
pids=
for i in 1 2 3; do
	vmmsim --name "vm$i" --arch arm64 --hest "$HEST" \
	    --poison "AR:0x4000${i}000" >"$T/vm$i.out" 2>&1 &
	pids="$pids $!"
done
rc=0
for p in $pids; do wait "$p" || rc=1; done
check "the three early VMMs exit 0" test "$rc" -eq 0
for i in 1 2 3; do
	check "vm$i got rasd's decision, not the fallback" \
	    grep -q "inject SEA source=0 (rasd)" "$T/vm$i.out"
done
check "rasd says it took the passed socket" \
    grep -q "listening on $SOCK, passed by systemd" "$RASD_LOG"
check "rasd made no socket of its own" \
    test "$(grep -c "(mode " "$RASD_LOG")" -eq 0
expect_eq "rasd knows the three VMs" \
    "$(rasctl --json list-vms | jq length)" 3
expect_eq "vm2's range is recorded" "$(poison_json vm2 | jq -r '.[0].gpa')" \
    0x40002000

# 2. Stopping leaves the socket file: it is the socket unit's.
pid=$RASD_PID
stop_rasd TERM
check "rasd (exec'd in place) has exited" test ! -d "/proc/$pid"
check "the socket file is left to systemd" test -S "$SOCK"

# 3. Started by hand on the leftover file, rasd binds its own as before.
mark
start_rasd || notok "rasd starts without activation"
check "without activation rasd binds and chmods its socket" \
    grep -q "listening on $SOCK (mode 0660)" <(since)
expect_eq "the store kept the activated run's VMs" \
    "$(rasctl --json list-vms | jq length)" 3
stop_rasd TERM
check "rasd removes a socket it made" test ! -e "$SOCK"

# 4. A LISTEN_PID that is another process's is not for rasd.
mark
LISTEN_PID=1 LISTEN_FDS=1 start_rasd || notok "rasd starts"
check "another process's LISTEN_PID is ignored" \
    grep -q "listening on $SOCK (mode 0660)" <(since)
stop_rasd TERM

# 5. What was passed but cannot be served stops rasd at start (exit 1).
mark
"$ACT" -l "$SOCK" -l "$T/second.sock" "$RASD_BIN" --foreground \
    --no-libvirt --socket "$SOCK" --state-dir "$STATE" >>"$RASD_LOG" 2>&1 &
apid=$!
wait_for test -S "$SOCK"
"$RASCTL_BIN" --socket "$SOCK" --timeout 2 list-vms >/dev/null 2>&1
wait "$apid"
expect_eq "two passed sockets: rasd exits 1" "$?" 1
check "... and says why" grep -q "LISTEN_FDS=2, want 1" <(since)
rm -f "$SOCK" "$T/second.sock"

mark
bash -c 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"' rasd "$RASD_BIN" \
    --foreground --no-libvirt --socket "$SOCK" --state-dir "$STATE" \
    3<"$DATA/qemu-virt-10.2-sea-gpio.hest" >>"$RASD_LOG" 2>&1
expect_eq "fd 3 not a socket: rasd exits 1" "$?" 1
check "... and says why" grep -q "fd 3 is not a listening Unix stream" \
    <(since)
