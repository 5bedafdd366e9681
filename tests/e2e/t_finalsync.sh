#!/usr/bin/env bash
# The final sync of a migration (migrate/README.md, step 4), between two
# real rasd ("host A", the source, and "host B", the destination) with a
# shared fleet key: a poison recorded on A after the bundle was exported
# still reaches B before B's VMM lets the guest run; without the source, or
# with a forged request, B's VMM is told to fail safe. Then a man in the
# middle (tests/tools/ras-peerfake) records, replays and tampers with the
# peer traffic: a replayed final sync, a snapshot swapped into the answer
# (stale generation), a captured answer replayed to a new request (forged)
# and another VM's answer (cross-VM) are all refused with the reason
# logged, and B's VMM fails safe (migrate/README.md, the hand-off FSM).
. "$(dirname "$0")/lib.sh"
PEERFAKE_BIN=${PEERFAKE_BIN:-$(dirname "$RASD_BIN")/../tests/tools/ras-peerfake}
[ -x "$PEERFAKE_BIN" ] || { notok "ras-peerfake is built ($PEERFAKE_BIN)"; exit 1; }

HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/fleet.key"
chmod 600 "$T/fleet.key"
printf 'fleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/a-peer.sock" >"$T/a.conf"
printf 'fleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/b-peer.sock" >"$T/b.conf"
start_rasd --config "$T/a.conf" || { notok "rasd A starts"; exit 1; }

BSOCK=$T/b.sock B_PID=
start_b() {
	"$RASD_BIN" --foreground --no-libvirt --socket "$BSOCK" \
	    --state-dir "$T/bstate" --config "${1:-$T/b.conf}" >>"$T/b.log" 2>&1 &
	B_PID=$!
	wait_for "$RASCTL_BIN" --socket "$BSOCK" list-vms >/dev/null 2>&1
}
stop_b() { [ -n "$B_PID" ] && kill "$B_PID" && wait "$B_PID"; B_PID=; }
FAKE_PID=
start_fake() {
	[ -n "$FAKE_PID" ] && { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; }
	rm -f "$T/mitm.sock"
	"$PEERFAKE_BIN" --listen "$T/mitm.sock" "$@" 2>>"$T/fake.log" &
	FAKE_PID=$!
	wait_for test -S "$T/mitm.sock"
}
trap 'stop_b 2>/dev/null; [ -n "$FAKE_PID" ] && kill "$FAKE_PID"; cleanup' EXIT
start_b || notok "rasd B starts"
rasctl_b() { "$RASCTL_BIN" --socket "$BSOCK" "$@"; }

# The source VM runs on A and has one poison.
coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm1 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "A records the first poison" grep -q "(rasd)" <<<"$line"

# The snapshot libvirt would carry: exported now, imported on B.
rasctl export vm1 -o "$T/vm1.bundle" >/dev/null
check "B imports the snapshot" rasctl_b import --replace "$T/vm1.bundle" >/dev/null
expect_eq "B has the snapshot's range" "$(rasctl_b --json list-poison vm1 | jq length)" 1

# A poison on the source after the snapshot.
echo "AO 0x40200000 21" >&"${SIM[1]}"
read -r -t 5 line <&"${SIM[0]}"
check "A records a poison after the snapshot" grep -q "(rasd)" <<<"$line"
expect_eq "B does not have it yet" "$(rasctl_b --json list-poison vm1 | jq length)" 1

# The destination VMM, before the guest runs there.
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm1 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "the destination VMM gets the final state" test $? -eq 0
check "it re-arms the snapshot's range" grep -q "REARM gpa=0x40001000 len=4096" <<<"$out"
check "and the one recorded after the snapshot" grep -q "REARM gpa=0x40200000 len=2097152" <<<"$out"
expect_eq "B now lists both" "$(rasctl_b --json list-poison vm1 | jq -r '[.[].gpa] | join(",")')" "0x40001000,0x40200000"
expect_eq "B keeps A's decisions" "$(rasctl_b --json list-poison vm1 | jq -r '[.[].notification] | join(",")')" "SEA,GPIO"
expect_eq "A marks the VM handed off" "$(rasctl --json show vm1 | jq -r .state)" migrated-away
check "A logged the final sync" grep -q "vm vm1: final sync to a peer" "$RASD_LOG"
check "B logged it" grep -q "vm vm1: final sync from the source: generation" "$T/b.log"
before=$(rasctl --json history vm1)
"$RASCTL_BIN" --socket "$SOCK" mark-stopped vm1 >/dev/null 2>&1
expect_eq "the source's stop keeps it migrated-away" "$(rasctl --json show vm1 | jq -r .state)" migrated-away
expect_eq "A's records are intact after the hand-off" "$(rasctl --json history vm1)" "$before"

# Source unreachable: the destination VMM must not let the guest run.
rasctl export vm1 -o "$T/vm1b.bundle" >/dev/null
rasctl_b import --replace "$T/vm1b.bundle" >/dev/null 2>&1 || true
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
stop_rasd TERM
rasctl_b import --replace "$T/vm1b.bundle" >/dev/null
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm1 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "source rasd down: the destination VMM fails safe (exit 1)" test $? -eq 1
check "and says why" grep -q "final sync with the source rasd failed" <<<"$out"
check "B logs it" grep -q "final sync with the source failed" "$T/b.log"

# A forged request: B holds another fleet key, and a bundle sealed with it
# that names A as the source. A must refuse B's final sync.
start_rasd --config "$T/a.conf" || notok "rasd A restarts"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/other.key"
chmod 600 "$T/other.key"
printf 'fleet_key = %s\npeer_listen = %s\npeer_advertise = unix:%s\n' \
	"$T/other.key" "$T/b-peer.sock" "$T/a-peer.sock" >"$T/b2.conf"
stop_b
rm -rf "$T/bstate"
start_b "$T/b2.conf" || notok "rasd B restarts with another key"
out=$(rasctl_b import --replace "$T/vm1b.bundle" 2>&1)
check "a bundle sealed with another fleet key is refused" grep -q "seal" <<<"$out"
"$VMMSIM_BIN" --socket "$BSOCK" --name vm1 --arch arm64 --hest "$HEST" >/dev/null 2>&1
rasctl_b export vm1 -o "$T/forged.bundle" >/dev/null
rasctl_b import --replace "$T/forged.bundle" >/dev/null
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm1 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "a final sync signed with another key: the VMM fails safe" test $? -eq 1
check "A denied it" grep -q "final sync not signed with the fleet key" "$RASD_LOG"
expect_eq "A's state is untouched by the forged request" "$(rasctl --json show vm1 | jq -r .state)" migrated-away
"$RASCTL_BIN" --socket "$T/a-peer.sock" list-vms >"$T/peer.out" 2>&1
check "A's peer socket answers nothing but final syncs" grep -q "denied" "$T/peer.out"

# --- the hand-off under attack --------------------------------------------
# A advertises the man in the middle as its peer address; B holds the
# fleet key again.
stop_rasd TERM
printf 'fleet_key = %s\npeer_listen = %s\npeer_advertise = unix:%s\n' \
	"$T/fleet.key" "$T/a-peer.sock" "$T/mitm.sock" >"$T/a3.conf"
start_rasd --config "$T/a3.conf" || { notok "rasd A restarts behind a proxy"; exit 1; }
stop_b
rm -rf "$T/bstate"
start_b "$T/b.conf" || notok "rasd B restarts with the fleet key"
mkdir -p "$T/rec"
start_fake --upstream "$T/a-peer.sock" --record "$T/rec"

# A genuine hand-off of vm2 through the proxy, recorded.
coproc SIM2 { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm2 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm2 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM2[1]}"
read -r -t 5 line <&"${SIM2[0]}"
rasctl export vm2 -o "$T/vm2.bundle" >/dev/null
rasctl_b import --replace "$T/vm2.bundle" >/dev/null
echo "AO 0x40400000 12" >&"${SIM2[1]}"
read -r -t 5 line <&"${SIM2[0]}"
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm2 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "through the proxy: the genuine final sync of vm2 succeeds" test $? -eq 0
check "and carries the poison recorded after the snapshot" grep -q "REARM gpa=0x40400000" <<<"$out"
check "the proxy recorded the request and the answer" test -s "$T/rec/req.1" -a -s "$T/rec/resp.1"

# Replay: the captured FinalSync again, straight to A's peer socket.
out=$("$PEERFAKE_BIN" --send "$T/rec/req.1" --to "$T/a-peer.sock")
check "a replayed final sync (same migration id) is refused" test $? -ne 0
expect_match "it is answered with the reason" "$out" "replayed final sync"
check "A logs the replay" grep -q "vm vm2: final sync refused: replayed final sync" "$RASD_LOG"
kill "$SIM2_PID" 2>/dev/null; wait "$SIM2_PID" 2>/dev/null

# vm3: its snapshot on B, a poison on A after it.
coproc SIM3 { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm3 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm3 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM3[1]}"
read -r -t 5 line <&"${SIM3[0]}"
rasctl export vm3 -o "$T/vm3.bundle" >/dev/null
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
echo "AO 0x40800000 12" >&"${SIM3[1]}"
read -r -t 5 line <&"${SIM3[0]}"
check "A records vm3's poison after the snapshot" grep -q "(rasd)" <<<"$line"

# Stale generation: the proxy swaps the snapshot (genuinely sealed by A,
# the generation B imported) into A's answer.
mkdir -p "$T/rec3"
start_fake --upstream "$T/a-peer.sock" --record "$T/rec3" --swap-bundle "$T/vm3.bundle"
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "stale generation (the snapshot swapped into the answer): the VMM fails safe" test $? -eq 1
check "no range is re-armed from it" bash -c "! grep -q REARM <<<'$out'"
check "B logs why" grep -q "vm vm3: final sync with the source failed: the answer is not sealed for this request" "$T/b.log"
expect_eq "B did not take the snapshot as final" "$(rasctl_b --json list-poison vm3 | jq length)" 1

# Forged answer: A's genuine answer to that request, replayed to a new one.
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
start_fake --answer "$T/rec3/resp.1"
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "forged answer (a captured answer to another request): the VMM fails safe" test $? -eq 1
check "B logs why" test "$(grep -c "vm vm3: final sync with the source failed: the answer is not sealed for this request" "$T/b.log")" -ge 2

# Cross-VM: vm2's genuine answer to B's question about vm3.
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
before=$(rasctl_b --json history vm2)
start_fake --answer "$T/rec/resp.1"
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "cross-VM answer (vm2's state for vm3): the VMM fails safe" test $? -eq 1
check "B logs why" grep -q "vm vm3: final sync with the source failed: the answer is for another VM" "$T/b.log"
expect_eq "B's vm2 is untouched" "$(rasctl_b --json history vm2)" "$before"
kill "$SIM3_PID" 2>/dev/null; wait "$SIM3_PID" 2>/dev/null

# --- 2000 idle peers ------------------------------------------------------
# A listens for peers on TCP. A client at 127.0.0.2 opens 2000 idle
# connections to it and keeps reopening those A closes (at most 2000 a
# second), so 2000 are always open or being opened;
# a local VMM (an unprivileged uid) must still register and forward, and
# B's final sync (from 127.0.0.1) must still get through.
command -v setpriv >/dev/null || { skip "the idle-peers part needs setpriv"; exit 0; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_rasd TERM
printf 'fleet_key = %s\npeer_listen = 127.0.0.1:%s\nsocket_mode = 0666\n' \
	"$T/fleet.key" "$PORT" >"$T/a4.conf"
start_rasd --config "$T/a4.conf" || { notok "rasd A listens for peers on TCP"; exit 1; }
chmod 0755 "$T"
cat >"$T/idle.py" <<'PY'
# Keep n connections to the peer port open or opening (non-blocking, so a
# full accept queue does not stall the others), reopening what is closed.
import resource, selectors, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
sel = selectors.DefaultSelector()
sel.register(sys.stdin, selectors.EVENT_READ)
live, dialled, said = 0, 0, False
def dial():
    global live, dialled
    s = socket.socket()
    s.setblocking(False)
    s.bind(("127.0.0.2", 0))
    s.connect_ex(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_READ)
    live += 1
    dialled += 1
while True:
    burst = 0
    while live < n and burst < 200:
        dial()
        burst += 1
    if not said and dialled >= n:
        print("dialled %d" % dialled, flush=True)
        said = True
    for key, _ in sel.select(0.1):
        if key.fileobj is sys.stdin:
            sys.stdin.readline()
            print("dialled %d, %d open or opening" % (dialled, live),
                flush=True)
            sys.exit(0)
        try:
            if key.fileobj.recv(1) != b"":
                continue
        except BlockingIOError:
            continue
        except OSError:
            pass
        sel.unregister(key.fileobj)
        key.fileobj.close()
        live -= 1
PY
n=2000
[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 2300 ] && n=$(( $(ulimit -Hn) - 300 ))
coproc IDLE { exec python3 "$T/idle.py" "$PORT" "$n"; }
read -r -t 30 line <&"${IDLE[0]}"
expect_match "the client opened $n idle connections to A's peer port" "$line" "^dialled $n"
sleep 1		# the flood goes on: A has refused and timed out some by now

coproc SIM4 { exec setpriv --reuid=4242 --regid=4242 --clear-groups -- "$VMMSIM_BIN" --socket "$SOCK" --name vm4 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm4 >/dev/null 2>&1"
echo "AR 0x40001000 12" >&"${SIM4[1]}"
read -r -t 5 line <&"${SIM4[0]}"
check "a local VMM (uid 4242) registers and forwards meanwhile" grep -q "(rasd)" <<<"$line"
rasctl export vm4 -o "$T/vm4.bundle" >/dev/null
rasctl_b import --replace "$T/vm4.bundle" >/dev/null
echo "AO 0x40400000 12" >&"${SIM4[1]}"
read -r -t 5 line <&"${SIM4[0]}"
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm4 --arch arm64 --hest "$HEST" --await-final 2>&1)
check "B's final sync gets through the idle connections" test $? -eq 0
check "with the poison recorded after the snapshot" grep -q "REARM gpa=0x40400000" <<<"$out"
echo >&"${IDLE[1]}"
read -r -t 10 line <&"${IDLE[0]}"
echo "# idle peers: $line"
check "A summed up the peer connections it refused" wait_for grep -q "peer connections: .* [1-9][0-9]* refused" "$RASD_LOG"
kill "$SIM4_PID" 2>/dev/null; wait "$SIM4_PID" 2>/dev/null
stop_b
# Sanitizer builds: B's log is checked like A's (lib.sh).
check "no sanitizer report in B's log" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/b.log'"
