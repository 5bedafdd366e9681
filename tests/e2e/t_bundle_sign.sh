#!/usr/bin/env bash
# Bundles signed with the exporting host's key, verified against the CA
# (migrate/README.md, "How bundles are trusted"). A and B are two rasd
# "hosts" on this machine with host certificates from one CA (tls-lib.sh,
# certtool). A exports, B imports:
#   - signed by A (the fleet CA): taken, the signer's DN logged;
#   - signed by a host of another CA, by an expired certificate, tampered
#     bytes: refused with the reason, logged, B's state untouched;
#   - signed by a fleet host (C) whose certificate does not name the host
#     the bundle gives as its source (peer_advertise tcp:HOST:PORT): a
#     host speaking for another one, refused; C exporting under its own
#     address is taken (any host of the CA may hand off its own VMs);
#   - fleet-key (HMAC) bundles: taken only while B has a fleet key, with
#     a deprecation warning per import; checksummed ones only with
#     peer_tls = off-insecure;
#   - a renewed certificate is read again without a restart;
#   - the libvirt hook's migrate phase with signed bundles.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls-lib.sh"
[ -z "${TLS_MISSING:-}" ] || { notok "this test needs $TLS_MISSING"; exit 1; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
RASCTL_ABS=$(abspath "$RASCTL_BIN")

P=$T/pki
tls_ca "$P/fleet" "fleet CA" &&
    tls_host "$P/a" "$P/fleet" host-a.test 127.0.0.1 &&
    tls_host "$P/b" "$P/fleet" host-b.test 127.0.0.2 &&
    tls_host "$P/c" "$P/fleet" host-c.test 127.0.0.3 &&
    tls_host "$P/old" "$P/fleet" host-a.test 127.0.0.1 -1 &&
    tls_ca "$P/rogue" "rogue CA" &&
    tls_host "$P/r" "$P/rogue" host-a.test 127.0.0.1 ||
    { notok "certtool makes the certificates"; exit 1; }
SRC=tcp:127.0.0.1:7465		# where A says it takes final syncs

# conf FILE HOSTDIR CADIR [LINES]: a host's rasd.conf.
conf() { { tls_conf "$2" "$3"; printf '%s' "${4:-}"; } >"$1"; }
conf "$T/a.conf" "$P/a" "$P/fleet" "peer_advertise = $SRC"$'\n'
conf "$T/b.conf" "$P/b" "$P/fleet"
conf "$T/rogue.conf" "$P/r" "$P/rogue" "peer_advertise = $SRC"$'\n'
conf "$T/old.conf" "$P/old" "$P/fleet" "peer_advertise = $SRC"$'\n'
conf "$T/c-as-a.conf" "$P/c" "$P/fleet" "peer_advertise = $SRC"$'\n'
conf "$T/c.conf" "$P/c" "$P/fleet" "peer_advertise = tcp:127.0.0.3:7465"$'\n'
conf "$T/c-unix.conf" "$P/c" "$P/fleet" "peer_advertise = unix:$T/c-peer.sock"$'\n'
(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$T/fleet.key")
printf 'peer_tls = off-insecure\nfleet_key = %s\n' "$T/fleet.key" >"$T/hmac.conf"
printf 'peer_tls = off-insecure\n' >"$T/insecure.conf"
conf "$T/b-key.conf" "$P/b" "$P/fleet" "fleet_key = $T/fleet.key"$'\n'

BSOCK=$T/b.sock BSTATE=$T/bstate BLOG=$T/b.log B_PID=
start_b() {
	"$RASD_BIN" --foreground --no-libvirt --socket "$BSOCK" \
	    --state-dir "$BSTATE" --config "$1" >>"$BLOG" 2>&1 &
	B_PID=$!
	wait_for "$RASCTL_BIN" --socket "$BSOCK" list-vms >/dev/null 2>&1
}
stop_b() {
	[ -n "$B_PID" ] || return 0
	kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null; B_PID=
}
b_cleanup() {
	stop_b
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BLOG" 2>/dev/null; then
		notok "sanitizer report in rasd B's log"
	fi
	[ "$failures" -eq 0 ] || { echo "# rasd B log:"; sed 's/^/#   /' "$BLOG" | tail -30; }
	cleanup
}
trap b_cleanup EXIT
rasctl_b() { "$RASCTL_BIN" --socket "$BSOCK" "$@"; }
b_state() {
	rasctl_b --json list-poison "$1"
	rasctl_b --json history "$1"
	rasctl_b --json show "$1" | jq -c '{state, generation, profile_pinned}'
}
# a_as CONF: restart A with another identity.
a_as() { stop_rasd; start_rasd --config "$1"; }
# export_as CONF FILE: A, as CONF says, exports vm1 to FILE.
export_as() { a_as "$1" && rasctl export vm1 -o "$2" >/dev/null; }
# import_b FILE: B imports; its output in $out, the status returned.
import_b() { out=$(rasctl_b import --replace "$1" 2>&1); }
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((b ^ 0xff)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

start_rasd --config "$T/a.conf" || { notok "rasd A starts"; exit 1; }
start_b "$T/b.conf" || { notok "rasd B starts"; exit 1; }
check "A says it signs with its host key" grep -q "bundles: signed with CN=host-a.test,O=rasd tests's key ($P/a/libvirt/servercert.pem)" "$RASD_LOG"
check "B verifies against the fleet CA" grep -q "bundles: signed bundles are verified against $P/fleet/CA/cacert.pem" "$BLOG"
"$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" \
	--poison AR:0x40001000 --poison AO:0x40200000:21 >/dev/null 2>&1
check "A: vm1 poisoned" test "$(rasctl --json list-poison vm1 | jq length)" -eq 2
a_poison=$(rasctl --json list-poison vm1)
UUID=$(rasctl --json show vm1 | jq -r .uuid)

# --- signed by A, a host of B's CA: taken --------------------------------
rasctl export vm1 -o "$T/a.bundle" >/dev/null
check "A: export" test -s "$T/a.bundle"
check "the bundle carries A's certificate" grep -qa host-a.test "$T/a.bundle"
import_b "$T/a.bundle"
check "B takes A's signed bundle" test $? -eq 0
expect_eq "B: A's ranges" "$(rasctl_b --json list-poison vm1)" "$a_poison"
check "B logged the signer's DN" grep -q "vm vm1 ($UUID): bundle signed by CN=host-a.test,O=rasd tests (generation" "$BLOG"
before=$(b_state vm1)

# refused BUNDLE DESCRIPTION PATTERN: B refuses it, says and logs why,
# and changes nothing.
refused() {
	local n
	n=$(grep -c "import refused: " "$BLOG")
	import_b "$1"
	expect_eq "$2: refused (exit 1)" $? 1
	expect_match "$2: the reason" "$out" "$3"
	check "$2: logged" test "$(grep -c "import refused: " "$BLOG")" -gt "$n"
	expect_match "$2: ... with the reason" "$(grep "import refused: " "$BLOG" | tail -1)" "$3"
	expect_eq "$2: B unchanged" "$(b_state vm1)" "$before"
}

# --- another CA, expired, tampered ----------------------------------------
export_as "$T/rogue.conf" "$T/rogue.bundle" || notok "A (rogue CA) exports"
refused "$T/rogue.bundle" "signed by a host of another CA" \
	"import refused: bundle signer CN=host-a.test,O=rasd tests is not trusted here: .*issuer is unknown"
export_as "$T/old.conf" "$T/old.bundle" || notok "A (expired certificate) exports"
refused "$T/old.bundle" "signed with an expired certificate" \
	"import refused: bundle signer CN=host-a.test,O=rasd tests is not trusted here: .*expired"
cp "$T/a.bundle" "$T/tampered.bundle"
flip "$T/tampered.bundle" 40
refused "$T/tampered.bundle" "a byte of the bundle changed" \
	"import refused: bundle signature by CN=host-a.test,O=rasd tests does not verify: corrupted or forged"
# The signature's last byte (the seal follows the bundle; the signer's
# certificate comes last).
cp "$T/a.bundle" "$T/badsig.bundle"
der=$(certtool -i --infile "$P/a/libvirt/servercert.pem" --outder | wc -c)
flip "$T/badsig.bundle" $(($(stat -c %s "$T/a.bundle") - der - 4))
refused "$T/badsig.bundle" "a byte of the signature changed" \
	"import refused: bundle signature by CN=host-a.test,O=rasd tests does not verify"

# --- a fleet host speaking for another ------------------------------------
export_as "$T/c-as-a.conf" "$T/c-as-a.bundle" || notok "C exports claiming A's address"
refused "$T/c-as-a.bundle" "signed by C, naming A's address as its source" \
	"import refused: bundle names its source $SRC, but its signer CN=host-c.test,O=rasd tests is not that host \\(its certificate does not name 127.0.0.1\\)"
export_as "$T/c.conf" "$T/c.bundle" || notok "C exports under its own address"
import_b "$T/c.bundle"
check "signed by C under C's own address: taken" test $? -eq 0
check "... B logged C as the signer" grep -q "vm vm1 ($UUID): bundle signed by CN=host-c.test,O=rasd tests" "$BLOG"
export_as "$T/c-unix.conf" "$T/c-unix.bundle" || notok "C exports with a unix: source"
import_b "$T/c-unix.bundle"
check "a unix: source names no host to check: taken" test $? -eq 0
import_b "$T/a.bundle"
check "A's bundle again" test $? -eq 0
before=$(b_state vm1)

# --- fleet-key and checksummed bundles ------------------------------------
export_as "$T/hmac.conf" "$T/hmac.bundle" || notok "A (fleet key, no TLS) exports"
refused "$T/hmac.bundle" "a fleet-key bundle on a host without a fleet key" \
	"import refused: bundle is sealed with a fleet key \\(HMAC\\) but no fleet key is configured"
export_as "$T/insecure.conf" "$T/sum.bundle" || notok "A (off-insecure) exports"
refused "$T/sum.bundle" "a checksummed bundle" \
	"import refused: bundle is not signed \\(SHA-256 checksum only\\): refusing an unauthenticated bundle"
stop_b
start_b "$T/b-key.conf" || notok "B restarts with a fleet key"
check "B says fleet-key bundles are deprecated" grep -q "fleet key $T/fleet.key: bundles sealed with it (HMAC-SHA-256) are still taken, deprecated" "$BLOG"
n=$(grep -c "bundle sealed with the fleet key, not signed by its host: deprecated" "$BLOG")
import_b "$T/hmac.bundle"
check "B (fleet key): the fleet-key bundle is taken" test $? -eq 0
import_b "$T/hmac.bundle"
expect_eq "... with a deprecation warning at each import" \
	"$(grep -c "vm vm1 ($UUID): bundle sealed with the fleet key, not signed by its host: deprecated" "$BLOG")" $((n + 2))
import_b "$T/a.bundle"
check "B (fleet key): signed bundles still taken" test $? -eq 0
before=$(b_state vm1)
refused "$T/sum.bundle" "B (fleet key): a checksummed bundle" "refusing an unauthenticated bundle"
stop_b
start_b "$T/insecure.conf" || notok "B restarts with peer_tls = off-insecure"
check "B warns that checksummed bundles are taken" grep -q "checksummed bundles are taken (INSECURE, for tests only)" "$BLOG"
import_b "$T/sum.bundle"
check "B (off-insecure): the checksummed bundle is taken" test $? -eq 0
check "... with a warning" grep -q "vm vm1 ($UUID): bundle only checksummed, taken unauthenticated" "$BLOG"
stop_b
start_b "$T/b.conf" || notok "B restarts with its certificate"

# --- a renewed certificate, read again without a restart ------------------
a_as "$T/a.conf" || notok "A restarts as A"
n=$(grep -c "bundles: signed with CN=host-a.test,O=rasd tests's key" "$RASD_LOG")
tls_cert "$P/fleet/CA" tls_www_server "$P/a/libvirt/private/serverkey.pem" \
	"$P/a/libvirt/servercert.pem" host-a.test 127.0.0.1 60
rasctl export vm1 -o "$T/renewed.bundle" >/dev/null
expect_eq "A read its renewed certificate and key" \
	"$(grep -c "bundles: signed with CN=host-a.test,O=rasd tests's key" "$RASD_LOG")" $((n + 1))
cmp -s <(tail -c 300 "$T/a.bundle") <(tail -c 300 "$T/renewed.bundle")
check "... and carries the new certificate" test $? -ne 0
import_b "$T/renewed.bundle"
check "B takes the bundle signed with the renewed key" test $? -eq 0

# --- the libvirt hook's migrate phase --------------------------------------
HOOKS=$T/hooks
sh "$ROOT/deploy/libvirt/install.sh" --hooks-dir "$HOOKS" --conf "$T/hook.conf" >/dev/null
set_conf() { sed -i "s|^$1=.*|$1=$2|" "$T/hook.conf"; }
set_conf RASCTL "$RASCTL_ABS"
set_conf SOCKET "$BSOCK"
set_conf LOG "$T/hook.log"
set_conf REQUIRED yes
domain_xml() {
	cat <<EOF
<domain type='kvm'>
  <name>vm1</name>
  <uuid>$UUID</uuid>
  <metadata>
    <rasd:state xmlns:rasd="https://rasd.dev/xmlns/state/1" generation="1" pinned="yes" host="a" state="running">
      <rasd:bundle generation='1'>$(base64 -w0 "$1")</rasd:bundle>
    </rasd:state>
  </metadata>
</domain>
EOF
}
hook() {
	"$HOOKS/qemu" vm1 migrate begin - <"$1" >/dev/null 2>"$T/hook.err"
	hrc=$?
}
domain_xml "$T/renewed.bundle" >"$T/signed.xml"
domain_xml "$T/rogue.bundle" >"$T/rogue.xml"
n=$(grep -c "bundle signed by CN=host-a.test" "$BLOG")
hook "$T/signed.xml"
expect_eq "hook: a signed bundle: exit 0" "$hrc" 0
check "hook: ... B logged the signer" test "$(grep -c "bundle signed by CN=host-a.test" "$BLOG")" -gt "$n"
before=$(b_state vm1)
hook "$T/rogue.xml"
expect_eq "hook: a bundle of another CA, REQUIRED=yes: exit 1" "$hrc" 1
expect_match "hook: ... logged with the reason" "$(tail -1 "$T/hook.log")" \
	"import FAILED: rasctl: import refused: bundle signer CN=host-a.test,O=rasd tests is not trusted here: .*REQUIRED=yes"
expect_eq "hook: ... B unchanged" "$(b_state vm1)" "$before"
check "B still running" kill -0 "$B_PID"
check "A still running" kill -0 "$RASD_PID"
exit $((failures > 0))
