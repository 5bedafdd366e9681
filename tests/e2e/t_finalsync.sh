#!/usr/bin/env bash
# The final sync of a migration (migrate/README.md, step 4), between two
# real rasd ("host A", the source, and "host B", the destination). First
# over the insecure channel (peer_tls = off-insecure, a shared fleet key),
# where the hand-off's own checks are shown: a poison recorded on A after
# the bundle was exported
# still reaches B before B's VMM lets the guest run; without the source, or
# with a forged request, B's VMM is told to fail safe. Then a man in the
# middle (tests/tools/ras-peerfake) records, replays and tampers with the
# peer traffic: a replayed final sync, a snapshot swapped into the answer
# (stale generation), a captured answer replayed to a new request (forged)
# and another VM's answer (cross-VM) are all refused with the reason
# logged, and B's VMM fails safe (migrate/README.md, the hand-off FSM).
# Then over mutual TLS with a CA and host certificates made here
# (tls-lib.sh): the final sync gets through, and a source certificate from
# another CA, an expired one, one for another host, a client without a
# certificate or with one from another CA are all refused with a clear
# log line, the destination failing safe. Last, 2000 idle TCP connections
# on A's TLS peer port.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"
PEERFAKE_BIN=${PEERFAKE_BIN:-$(dirname "$RASD_BIN")/../tests/tools/ras-peerfake}
[ -x "$PEERFAKE_BIN" ] || { notok "ras-peerfake is built ($PEERFAKE_BIN)"; exit 1; }

HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/fleet.key"
chmod 600 "$T/fleet.key"
INSECURE=$'peer_tls = off-insecure\n'
printf '%sfleet_key = %s\npeer_listen = %s\n' "$INSECURE" "$T/fleet.key" "$T/a-peer.sock" >"$T/a.conf"
printf '%sfleet_key = %s\npeer_listen = %s\n' "$INSECURE" "$T/fleet.key" "$T/b-peer.sock" >"$T/b.conf"
start_rasd --config "$T/a.conf" || { notok "rasd A starts"; exit 1; }
check "A warns at start that the peer channel is insecure" grep -q "peer_tls = off-insecure: the peer channel is plain" "$RASD_LOG"

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
check "A warned that this final sync was insecure" grep -q "final sync asked over an INSECURE peer channel" "$RASD_LOG"
check "B too" grep -q "vm vm1: final sync over an INSECURE peer channel" "$T/b.log"
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
printf '%sfleet_key = %s\npeer_listen = %s\npeer_advertise = unix:%s\n' \
	"$INSECURE" "$T/other.key" "$T/b-peer.sock" "$T/a-peer.sock" >"$T/b2.conf"
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
printf '%sfleet_key = %s\npeer_listen = %s\npeer_advertise = unix:%s\n' \
	"$INSECURE" "$T/fleet.key" "$T/a-peer.sock" "$T/mitm.sock" >"$T/a3.conf"
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

# --- mutual TLS ------------------------------------------------------------
# A and B each get host certificates from one CA (libvirt's layout); A
# listens on TCP and advertises 127.0.0.1, which its certificate names.
if [ -n "${TLS_MISSING:-}" ]; then
	notok "the TLS part needs $TLS_MISSING"
	exit 1
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
[ -n "$FAKE_PID" ] && { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=; }
stop_rasd TERM
stop_b
P=$T/pki
tls_ca "$P/fleet" "fleet CA"
tls_ca "$P/rogue" "rogue CA"
tls_host "$P/a" "$P/fleet" host-a.test 127.0.0.1
tls_host "$P/b" "$P/fleet" host-b.test 127.0.0.1
tls_host "$P/a-rogue" "$P/rogue" host-a.test 127.0.0.1
tls_host "$P/a-expired" "$P/fleet" host-a.test 127.0.0.1 -1
tls_host "$P/a-other" "$P/fleet" host-c.test 127.0.0.9
tls_host "$P/a-addr3" "$P/fleet" host-a.test 127.0.0.3
tls_host "$P/b-rogue" "$P/rogue" host-b.test 127.0.0.1
check "certtool made the fleet's and a rogue CA's certificates" \
	test -s "$P/a/libvirt/servercert.pem" -a -s "$P/b-rogue/libvirt/clientcert.pem"
PA=$(free_port)
# conf_a HOSTDIR [LISTEN]: A's configuration with those certificates.
conf_a() {
	{ tls_conf "$1" "$P/fleet"; printf 'peer_listen = %s\nsocket_mode = 0666\n' "${2:-127.0.0.1:$PA}"; } >"$T/a-tls.conf"
}
conf_b() {
	{ tls_conf "$1" "$P/fleet"; printf 'peer_listen = %s\n' "$T/b-peer.sock"; } >"$T/b-tls.conf"
}
conf_a "$P/a"
conf_b "$P/b"
rm -rf "$STATE" "$T/bstate"
start_rasd --config "$T/a-tls.conf" || { notok "rasd A starts with TLS"; exit 1; }
blines=$(wc -l <"$T/b.log")
start_b "$T/b-tls.conf" || notok "rasd B starts with TLS"
check "A listens with mutual TLS" grep -q "peer listener on 127.0.0.1:$PA (final syncs; mutual TLS" "$RASD_LOG"
if tail -n +"$((blines + 1))" "$T/b.log" | grep -q off-insecure; then
	notok "no insecure warning with TLS"
else
	ok "no insecure warning with TLS"
fi

# hand_off NAME GPA: a VM on A with one poison, its snapshot on B, a
# second poison on A, then B's VMM awaits the final state; sets $out, $rc.
hand_off() {
	coproc SIMT { exec "$VMMSIM_BIN" --socket "$SOCK" --name "$1" --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
	wait_for bash -c "$RASCTL_BIN --socket $SOCK show $1 >/dev/null 2>&1"
	echo "AR 0x40001000 12" >&"${SIMT[1]}"
	read -r -t 5 line <&"${SIMT[0]}"
	rasctl export "$1" -o "$T/$1.bundle" >/dev/null
	rasctl_b import --replace "$T/$1.bundle" >/dev/null
	echo "AO $2 12" >&"${SIMT[1]}"
	read -r -t 5 line <&"${SIMT[0]}"
	out=$("$VMMSIM_BIN" --socket "$BSOCK" --name "$1" --arch arm64 --hest "$HEST" --await-final 2>&1)
	rc=$?
	kill "$SIMT_PID" 2>/dev/null; wait "$SIMT_PID" 2>/dev/null
}
hand_off t1 0x40400000
check "TLS: the destination VMM gets the final state" test "$rc" -eq 0
check "with the poison recorded after the snapshot" grep -q "REARM gpa=0x40400000" <<<"$out"
check "B logs the source's certificate and the handshake" grep -q "vm t1: final sync from the source: .*TLS handshake [0-9.]* ms, source .*CN=host-a.test" "$T/b.log"
check "A logs the destination's certificate with the migration id" grep -q "vm t1: final sync to a peer: .*handed off to .*CN=host-b.test.* (migration [0-9a-f]\{32\})" "$RASD_LOG"
# Over a Unix socket (two hosts on one machine, as t_migrate runs them):
# the chain is checked, there is no host name to check.
stop_rasd TERM
conf_a "$P/a" "$T/a-peer.sock"
start_rasd --config "$T/a-tls.conf" || notok "rasd A listens on a Unix socket with TLS"
hand_off t2 0x40400000
check "TLS over a Unix socket: the destination VMM gets the final state" test "$rc" -eq 0
check "B took it from A's certificate" grep -q "vm t2: final sync from the source: .*source .*CN=host-a.test" "$T/b.log"

# refused SRC_HOSTDIR LISTEN_IP NAME PATTERN [SNAPSHOT_HOSTDIR]: B
# imports a snapshot A signed with its own certificate (or SNAPSHOT's,
# one that names LISTEN_IP), then A restarts with another certificate
# (or address); B's final sync must fail safe in the TLS handshake, B
# logs PATTERN. (A snapshot signed with a refused certificate is refused
# at its import already: t_bundle_sign.sh.)
refused() {
	stop_rasd TERM
	conf_a "${5:-$P/a}" "$2:$PA"
	start_rasd --config "$T/a-tls.conf" || { notok "rasd A restarts ($3)"; return; }
	"$VMMSIM_BIN" --socket "$SOCK" --name "$3" --arch arm64 --hest "$HEST" \
	    --poison AR:0x40001000 >/dev/null 2>&1
	rasctl export "$3" -o "$T/$3.bundle" >/dev/null
	check "$3: B imports the snapshot" rasctl_b import --replace "$T/$3.bundle" >/dev/null
	stop_rasd TERM
	conf_a "$1" "$2:$PA"
	start_rasd --config "$T/a-tls.conf" || { notok "rasd A restarts ($3)"; return; }
	out=$("$VMMSIM_BIN" --socket "$BSOCK" --name "$3" --arch arm64 --hest "$HEST" --await-final 2>&1)
	rc=$?
	check "$3: the destination VMM fails safe" test "$rc" -eq 1
	if grep -q REARM <<<"$out"; then notok "$3: nothing re-armed"; else ok "$3: nothing re-armed"; fi
	check "$3: B logs why" grep -q "vm $3: final sync with the source failed: .*$4" "$T/b.log"
	check "$3: A did not hand the VM off" test "$(rasctl --json show "$3" | jq -r .state)" != migrated-away
}
refused "$P/a-rogue" 127.0.0.1 rogue-ca "TLS handshake failed: the server's certificate is refused: .*issuer is unknown"
refused "$P/a-expired" 127.0.0.1 expired "TLS handshake failed: the server's certificate is refused: .*expired"
refused "$P/a-other" 127.0.0.1 wrong-host "TLS handshake failed: the server's certificate is refused: .*name in the certificate does not match"
# The right certificate at an address it does not name (127.0.0.3).
refused "$P/a" 127.0.0.3 wrong-addr "TLS handshake failed: the server's certificate is refused: .*does not match" "$P/a-addr3"

# The destination's side: B with a client certificate from another CA,
# then a client with none (gnutls-cli) -- A refuses both and says so.
stop_rasd TERM
conf_a "$P/a"
start_rasd --config "$T/a-tls.conf" || notok "rasd A restarts with its certificate"
stop_b
conf_b "$P/b-rogue"
start_b "$T/b-tls.conf" || notok "rasd B restarts with a rogue CA's certificate"
hand_off rogue-client 0x40800000
check "a destination with another CA's certificate: its VMM fails safe" test "$rc" -eq 1
# (GnuTLS sends only a certificate whose issuer the server names.)
check "A refuses it and says why" grep -q "peer 127.0.0.1: TLS handshake failed: the client sent no certificate; connection closed" "$RASD_LOG"
check "A did not hand that VM off" test "$(rasctl --json show rogue-client | jq -r .state)" != migrated-away
if command -v gnutls-cli >/dev/null; then
	gnutls-cli --x509cafile "$P/fleet/CA/cacert.pem" --port "$PA" 127.0.0.1 </dev/null >"$T/cli.out" 2>&1
	check "a client without a certificate is refused" wait_for test "$(grep -c "peer 127.0.0.1: TLS handshake failed: the client sent no certificate" "$RASD_LOG")" -ge 2
else
	skip "gnutls-cli not installed: the no-client-certificate case"
fi
B_CERT=$P/b
stop_b
conf_b "$B_CERT"
start_b "$T/b-tls.conf" || notok "rasd B restarts with its certificate"

# What TLS costs: 10 final syncs each way, the destination's own timing.
ms_of() { grep -o "vm $1[0-9]*: final sync from the source: .*; [0-9.]* ms" "$2" | sed 's/.*; \([0-9.]*\) ms/\1/' | sort -n | sed -n '5p'; }
for i in 1 2 3 4 5 6 7 8 9; do hand_off "bt$i" 0x40400000; done
tls_ms=$(ms_of bt "$T/b.log")
hs_ms=$(grep -o "vm bt[0-9]*: final sync from the source: .*TLS handshake [0-9.]* ms" "$T/b.log" | sed 's/.*TLS handshake \([0-9.]*\) ms/\1/' | sort -n | sed -n '5p')
stop_rasd TERM
{ printf '%s' "$INSECURE"; printf 'peer_listen = 127.0.0.1:%s\nsocket_mode = 0666\nfleet_key = %s\n' "$PA" "$T/fleet.key"; } >"$T/a-plain.conf"
start_rasd --config "$T/a-plain.conf" || notok "rasd A restarts plain"
stop_b
printf '%sfleet_key = %s\n' "$INSECURE" "$T/fleet.key" >"$T/b-plain.conf"
start_b "$T/b-plain.conf" || notok "rasd B restarts plain"
for i in 1 2 3 4 5 6 7 8 9; do hand_off "bp$i" 0x40400000; done
plain_ms=$(ms_of bp "$T/b.log")
echo "# final sync (median of 9, destination's view): TLS $tls_ms ms (handshake $hs_ms ms), plain $plain_ms ms"
check "the timings were measured" test -n "$tls_ms" -a -n "$plain_ms"
stop_b
conf_b "$B_CERT"
start_b "$T/b-tls.conf" || notok "rasd B restarts with TLS"

# --- 2000 idle peers ------------------------------------------------------
# A listens for peers on TCP, with TLS: the idle connections never finish
# a handshake. A client at 127.0.0.2 opens 2000 idle
# connections to it and keeps reopening those A closes (at most 2000 a
# second), so 2000 are always open or being opened;
# a local VMM (an unprivileged uid) must still register and forward, and
# B's final sync (from 127.0.0.1) must still get through.
command -v setpriv >/dev/null || { skip "the idle-peers part needs setpriv"; exit 0; }
PORT=$PA
stop_rasd TERM
conf_a "$P/a"
start_rasd --config "$T/a-tls.conf" || { notok "rasd A listens for peers on TCP"; exit 1; }
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
