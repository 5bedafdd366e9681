#!/usr/bin/env bash
# A destination rasd restarted between the import and the guest's first
# instruction (migrate/README.md, "A destination rasd restart"): two real
# rasd ("host A", the source, and "host B", the destination) talking
# mutual TLS. B imports A's snapshot; a poison is recorded on A after it;
# B is killed with SIGKILL (and, for a second VM, stopped cleanly) and
# started again. B's store kept the incoming migration (the source's
# address, the migration id, the imported generation: table incoming,
# written with the import), so B resumes the final sync when its VMM
# awaits the final state: the VMM re-arms the poison recorded after the
# snapshot, not the snapshot alone. With the source gone, a restarted B
# fails safe (ERR_PEER) and never answers with the snapshot, across any
# number of restarts. The orders pinned on A survive B's restart (vm
# columns), the row goes once the final state is in, and a reset or
# fresh boot ends an incoming migration without one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"
command -v sqlite3 >/dev/null || { notok "sqlite3 CLI missing (tools/deps.sh installs it)"; exit 1; }
[ -z "${TLS_MISSING:-}" ] || { notok "this test needs $TLS_MISSING"; exit 1; }

# The peer channel as deployed: mutual TLS with host certificates from one
# CA (tls-lib.sh), A's peer port on 127.0.0.1. After B's restart the
# source's identity is checked again from the stored address.
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
P=$T/pki
tls_ca "$P/fleet" "fleet CA"
tls_host "$P/a" "$P/fleet" host-a.test 127.0.0.1
tls_host "$P/b" "$P/fleet" host-b.test 127.0.0.1
PA=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A pins GPIO before SEA for AR; B's own (default) order has SEA first.
{ tls_conf "$P/a" "$P/fleet"; printf 'peer_listen = 127.0.0.1:%s\nar_order = GPIO,SEA\n' "$PA"; } >"$T/a.conf"
{ tls_conf "$P/b" "$P/fleet"; printf 'peer_listen = %s\n' "$T/b-peer.sock"; } >"$T/b.conf"
SRC=tcp:127.0.0.1:$PA
start_rasd --config "$T/a.conf" || { notok "rasd A starts"; exit 1; }

BSOCK=$T/b.sock BSTATE=$T/bstate B_PID=
start_b() {
	"$RASD_BIN" --foreground --no-libvirt --socket "$BSOCK" \
	    --state-dir "$BSTATE" --config "$T/b.conf" >>"$T/b.log" 2>&1 &
	B_PID=$!
	wait_for "$RASCTL_BIN" --socket "$BSOCK" list-vms >/dev/null 2>&1
}
# stop_b SIGNAL: TERM is a clean stop, KILL a crash.
stop_b() {
	[ -n "$B_PID" ] || return 0
	kill -"${1:-TERM}" "$B_PID"; wait "$B_PID" 2>/dev/null; B_PID=
}
trap 'stop_b 2>/dev/null; cleanup' EXIT
rasctl_b() { "$RASCTL_BIN" --socket "$BSOCK" "$@"; }
bsq() { sqlite3 "$BSTATE/rasd.db" "$@"; }
uuid_of() { rasctl_b --json show "$1" | jq -r .uuid; }
incoming() {	# incoming row of VM $1: "peer|state|length of the id|generation"
	bsq "SELECT peer || '|' || state || '|' || length(migration_id) || '|' || generation FROM incoming WHERE lower(hex(vm)) = '$(uuid_of "$1" | tr -d -)'"
}
start_b || { notok "rasd B starts"; exit 1; }

# source VM NAME: runs on A with one poison (the snapshot's), then is
# exported and imported on B, then gets a second poison on A.
source_vm() {
	local n=$1 line
	coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name "$n" --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
	wait_for bash -c "$RASCTL_BIN --socket $SOCK show $n >/dev/null 2>&1"
	echo "AR 0x40001000 12" >&"${SIM[1]}"
	read -r -t 5 line <&"${SIM[0]}"
	check "$n: A records the snapshot's poison" grep -q "(rasd)" <<<"$line"
	rasctl export "$n" -o "$T/$n.bundle" >/dev/null
	check "$n: B imports the snapshot" rasctl_b import --replace "$T/$n.bundle" >/dev/null
	echo "AO 0x40200000 21" >&"${SIM[1]}"
	read -r -t 5 line <&"${SIM[0]}"
	check "$n: A records a poison after the snapshot" grep -q "(rasd)" <<<"$line"
	kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null
}
await_final() {
	"$VMMSIM_BIN" --socket "$BSOCK" --name "$1" --arch arm64 --hest "$HEST" --await-final 2>&1
}

# --- 1. kill -9 between the import and the first KVM_RUN -----------------
source_vm vm1
gen=$(jq -r .generation <<<"$(rasctl_b --json show vm1)")
expect_eq "the import wrote the incoming migration, in state imported" \
	"$(incoming vm1)" "$SRC|0|16|$gen"
stop_b KILL
start_b || notok "B starts again after SIGKILL"
check "B resumes the incoming migration from the store" \
	grep -q "vm vm1: resuming its incoming migration from $SRC (imported generation $gen, imported)" "$T/b.log"
expect_eq "B still has only the snapshot's range" "$(rasctl_b --json list-poison vm1 | jq length)" 1
out=$(await_final vm1)
check "after the crash, the destination VMM gets the final state" test $? -eq 0
check "it re-arms the snapshot's range" grep -q "REARM gpa=0x40001000 len=4096" <<<"$out"
check "and the poison recorded on A after the snapshot" grep -q "REARM gpa=0x40200000 len=2097152" <<<"$out"
check "B asked A for it, over TLS, A's certificate checked" \
	grep -q "vm vm1: final sync from the source: .*TLS handshake .*CN=host-a.test" "$T/b.log"
expect_eq "A handed the VM off" "$(rasctl --json show vm1 | jq -r .state)" migrated-away
expect_eq "the final state ended the incoming migration (row gone)" "$(incoming vm1)" ""

# The orders A pinned survive B's restart: an unmasked AR on B takes GPIO
# (A's order), not SEA (B's).
stop_b KILL
start_b || notok "B starts again"
check "nothing to resume once the final state is in" \
	test "$(grep -c "vm vm1: resuming" "$T/b.log")" -eq 1
out=$("$VMMSIM_BIN" --socket "$BSOCK" --name vm1 --arch arm64 --hest "$HEST" --resume --json \
	--poison AR-unmasked:0x40003000 2>&1)
expect_eq "B decides with the orders A pinned (GPIO first), after a restart" \
	"$(jq -r .notify <<<"$out" | head -1)" GPIO

# --- 2. a clean restart, the same --------------------------------------
source_vm vm2
stop_b TERM
start_b || notok "B starts again after a clean stop"
check "B resumes vm2's incoming migration" grep -q "vm vm2: resuming its incoming migration" "$T/b.log"
out=$(await_final vm2)
check "after a clean restart, the final state too" test $? -eq 0
check "with the poison recorded after the snapshot" grep -q "REARM gpa=0x40200000 len=2097152" <<<"$out"

# --- 3. the source gone: fail safe, restart after restart ----------------
source_vm vm3
stop_rasd TERM
stop_b KILL
start_b || notok "B starts again"
out=$(await_final vm3)
check "source gone after B's crash: the destination VMM fails safe (exit 1)" test $? -eq 1
check "no range is re-armed from the snapshot" bash -c "! grep -q REARM <<<'$out'"
check "the VMM is told why" grep -q "final sync with the source rasd failed: no answer from the source" <<<"$out"
check "B logs it" grep -q "vm vm3: final sync with the source failed" "$T/b.log"
expect_eq "the failure is in the store, the migration kept" "$(incoming vm3 | cut -d'|' -f2)" 4
stop_b TERM
start_b || notok "B starts again"
check "B resumes it from the failed state" \
	grep -q "vm vm3: resuming its incoming migration from .*, failed: no answer from the source" "$T/b.log"
out=$(await_final vm3)
check "and still fails safe, never the snapshot" test $? -eq 1
check "nothing re-armed" bash -c "! grep -q REARM <<<'$out'"
expect_eq "B still has only the snapshot's range" "$(rasctl_b --json list-poison vm3 | jq length)" 1

# --- 4. rows do not pile up -----------------------------------------------
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
expect_eq "an import again replaces the row (one per VM, state imported)" \
	"$(bsq "SELECT count(*) || ':' || max(state) FROM incoming")" "1:0"
out=$(printf 'reset\n' | "$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" --resume --stdin 2>&1)
check "the destination VMM resets the guest" grep -q "^reset pending=0" <<<"$out"
expect_eq "a reset ends the incoming migration" "$(bsq "SELECT count(*) FROM incoming")" 0
check "and says so" grep -q "vm vm3: incoming migration ended without a final sync (guest reset)" "$T/b.log"
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
"$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" --resume >/dev/null 2>&1
expect_eq "an unregistration before the final sync keeps it (a later VMM must still ask)" \
	"$(bsq "SELECT count(*) FROM incoming")" 1
out=$(await_final vm3)
check "so a VMM awaiting the final state then is still refused" test $? -eq 1
"$VMMSIM_BIN" --socket "$BSOCK" --name vm3 --arch arm64 --hest "$HEST" >/dev/null 2>&1
expect_eq "a fresh boot of the stopped VM ends it" "$(bsq "SELECT count(*) FROM incoming")" 0
check "and says so" grep -q "vm vm3: incoming migration ended without a final sync (a fresh boot)" "$T/b.log"
stop_b TERM
check "--check-store: B's store is clean" "$RASD_BIN" --check-store --state-dir "$BSTATE" >/dev/null
check "no sanitizer report in B's log" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/b.log'"
