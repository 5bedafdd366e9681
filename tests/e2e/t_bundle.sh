#!/usr/bin/env bash
# State bundles between two rasd "hosts" on this machine: export on A,
# import on B (rasctl and the libvirt hook's migrate phase), the boot
# profile enforced on B, and every bundle B must refuse (corrupted,
# forged, unauthenticated, truncated, oversized, a VM B already knows or
# runs) refused with a clear error and B's state untouched.
#
# A is lib.sh's rasd ($SOCK, $STATE); B is a second rasd started here on
# $T/b.sock and $T/bstate with its own log and a different default policy.
# Both run on the same machine, so their host ids (boot ids) are equal:
# the history's host column is compared, but cannot tell A from B here.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest		# SEA 0, GPIO 1
HEST_SEA=$DATA/qemu-virt-10.0-sea.hest		# SEA 0
HEST_ALL=$DATA/iasl-arm64-ghesv2.hest		# SEA, GSIV, SEI, SDEI, GPIO
B_POLICY=(--ar-order GSIV,SEA --ao-order SEI,GSIV,GPIO)

# Absolute paths: the hook runs rasctl from wherever libvirt runs it.
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
RASCTL_ABS=$(abspath "$RASCTL_BIN")

BSOCK=$T/b.sock
BSTATE=$T/bstate
BLOG=$T/b.log
B_PID=
HOLD_PID=

# Start B in the foreground; wait until it answers.
start_b() {
	"$RASD_BIN" --foreground --no-libvirt --socket "$BSOCK" \
	    --state-dir "$BSTATE" "$@" >>"$BLOG" 2>&1 &
	B_PID=$!
	local i
	for i in $(seq 1 300); do
		[ -S "$BSOCK" ] && "$RASCTL_BIN" --socket "$BSOCK" list-vms \
		    >/dev/null 2>&1 && return 0
		kill -0 "$B_PID" 2>/dev/null || { echo "# rasd B died"; return 1; }
		sleep 0.02
	done
	echo "# rasd B did not come up"; return 1
}

# Stop B cleanly (TERM, must exit 0), by its pid.
stop_b() {
	local rc
	[ -n "$B_PID" ] || return 0
	kill -TERM "$B_PID" 2>/dev/null
	wait "$B_PID" 2>/dev/null
	rc=$?
	B_PID=
	[ "$rc" -eq 0 ] || notok "rasd B exited with status $rc on SIGTERM"
}

bundle_cleanup() {
	if [ -n "$HOLD_PID" ]; then
		kill "$HOLD_PID" 2>/dev/null
		wait "$HOLD_PID" 2>/dev/null
	fi
	stop_b
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BLOG" 2>/dev/null; then
		notok "sanitizer report in rasd B's log"
	fi
	if [ "$failures" -ne 0 ]; then
		echo "# rasd B log:"; sed 's/^/#   /' "$BLOG" 2>/dev/null | tail -40
		echo "# hook log:"; sed 's/^/#   /' "$T/hook.log" 2>/dev/null | tail -20
	fi
	cleanup
}
trap bundle_cleanup EXIT

rasctl_b() { "$RASCTL_BIN" --socket "$BSOCK" "$@"; }
vmmsim_b() { "$VMMSIM_BIN" --socket "$BSOCK" "$@"; }
b_serving() { rasctl_b list-vms >/dev/null; }
b_running() { [ "$(rasctl_b --json show "$1" | jq -r .state)" = running ]; }
b_not_running() { ! b_running "$1"; }

# expect_match DESCRIPTION TEXT PATTERN (grep -E)
expect_match() {
	if grep -qE -- "$3" <<<"$2"; then ok "$1"; else notok "$1: '$2' lacks /$3/"; fi
}

# What B must never change behind a refusal: poison, history, the VM row.
b_state() {
	rasctl_b --json list-poison "$1"
	rasctl_b --json history "$1"
	rasctl_b --json show "$1" | jq -c '{state, pid, generation, profile_pinned, profile}'
}

# flip FILE OFFSET: invert one byte in place.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $((b ^ 0xff)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# A fleet key: 32 random bytes as hex, mode 0600, and a config naming it.
make_key() {
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$T/$1.key")
	printf 'fleet_key = %s\n' "$T/$1.key" >"$T/$1.conf"
}

# Unkeyed, unsigned bundles (checksummed) are taken only in the explicit
# insecure mode; t_bundle_sign.sh tests the signed ones.
printf 'peer_tls = off-insecure\n' >"$T/insecure.conf"
start_rasd -c "$T/insecure.conf" || { notok "rasd A starts"; exit 1; }
start_b -c "$T/insecure.conf" "${B_POLICY[@]}" || { notok "rasd B starts"; exit 1; }

# --- export on A, import on B --------------------------------------------
out=$(vmmsim --name vm1 --arch arm64 --hest "$HEST" \
	--poison AR:0x40001000 --poison AO:0x40200000:21 2>&1)
check "A: vmmsim forwards AR and AO for vm1" test $? -eq 0
expect_eq "A: vm1 has two ranges" "$(poison_json vm1 | jq length)" 2
a_poison=$(poison_json vm1)
a_show=$(rasctl --json show vm1)
a_hist=$(rasctl --json history vm1)
a_gen=$(jq -r .generation <<<"$a_show")

F=$T/vm1.bundle
out=$(rasctl export vm1 -o "$F" 2>&1)
check "A: export vm1 -o FILE" test $? -eq 0
expect_match "export reports what it wrote" "$out" \
	"^exported vm1 generation $a_gen \\([0-9]+ bytes\\) to $F\$"
expect_eq "bundle file is mode 0600" "$(stat -c %a "$F")" 600
check "no temporary file left next to it" \
	test "$(find "$T" -maxdepth 1 -name 'vm1.bundle.*' | wc -l)" -eq 0
js=$(rasctl --json export vm1 -o "$T/vm1.json.bundle")
check "export --json -o FILE" test $? -eq 0
expect_eq "export --json: vm, generation, bytes, file" \
	"$(jq -c '[.vm, .generation, .bytes, .file]' <<<"$js")" \
	"[\"vm1\",$a_gen,$(stat -c %s "$T/vm1.json.bundle"),\"$T/vm1.json.bundle\"]"
expect_eq "export --json: uuid" "$(jq -r .uuid <<<"$js")" "$(jq -r .uuid <<<"$a_show")"
rasctl export vm1 >"$T/vm1.stdout.bundle"
check "export to a pipe writes the bundle" test -s "$T/vm1.stdout.bundle"
expect_eq "export to a pipe: same size as to a file" \
	"$(stat -c %s "$T/vm1.stdout.bundle")" "$(stat -c %s "$F")"
rasctl --json export vm1 >/dev/null 2>"$T/err"
expect_eq "export --json without -o: usage error" $? 2
if command -v script >/dev/null 2>&1; then
	script -qec "$RASCTL_ABS --socket $SOCK export vm1" /dev/null >"$T/tty.out" 2>&1
	rc=$?
	expect_eq "export to a terminal: exit 2" $rc 2
	expect_match "export to a terminal: refused" "$(tr -d '\r' <"$T/tty.out")" \
		"refusing to write a binary bundle to a terminal; use -o FILE or a pipe"
else
	skip "export to a terminal (no script(1))"
fi
rasctl export nosuchvm -o "$T/none.bundle" 2>"$T/err"
expect_eq "export of an unknown VM: exit 1" $? 1
expect_match "export of an unknown VM: ERR_NO_SUCH_VM" "$(cat "$T/err")" "ERR_NO_SUCH_VM"
check "export of an unknown VM writes no file" test ! -e "$T/none.bundle"

out=$(rasctl_b import "$F" 2>&1)
check "B: import FILE" test $? -eq 0
expect_eq "B: import prints what it took" "$out" "imported $F"
expect_eq "B: list-poison vm1 equals A's exactly" "$(rasctl_b --json list-poison vm1)" "$a_poison"
b_show=$(rasctl_b --json show vm1)
expect_eq "B: vm1 state incoming" "$(jq -r .state <<<"$b_show")" incoming
expect_eq "B: vm1 profile pinned" "$(jq -r .profile_pinned <<<"$b_show")" true
expect_eq "B: vm1 has A's boot profile" "$(jq -c .profile <<<"$b_show")" "$(jq -c .profile <<<"$a_show")"
expect_eq "B: vm1 has A's generation" "$(jq -r .generation <<<"$b_show")" "$a_gen"
expect_eq "B: vm1 has A's UUID" "$(jq -r .uuid <<<"$b_show")" "$(jq -r .uuid <<<"$a_show")"
expect_eq "B: history has A's records (all but the id)" \
	"$(rasctl_b --json history vm1 | jq -c '[.[] | del(.id)]')" \
	"$(jq -c '[.[] | del(.id)]' <<<"$a_hist")"
expect_eq "B: history hosts are A's host id" \
	"$(rasctl_b --json history vm1 | jq -r '[.[].host] | unique | join(",")')" \
	"$(jq -r '[.[].host] | unique | join(",")' <<<"$a_hist")"
check "B logged the import" grep -q "vm vm1 .*imported from host" "$BLOG"

# --- the boot profile travels and is enforced ----------------------------
before=$(b_state vm1)
out=$(vmmsim_b --name vm1 --arch arm64 --hest "$HEST_SEA" --resume 2>&1)
expect_eq "B: resume claiming another HEST (SEA only) refused: exit 1" $? 1
expect_match "B: the refusal names the boot profile" "$out" "boot profile"
out=$(vmmsim_b --name vm1 --arch arm64 --hest "$HEST_ALL" --resume 2>&1)
expect_eq "B: resume claiming a HEST with SEI (B's preference) refused" $? 1
out=$(vmmsim_b --name vm1 --arch arm64 --hest "$HEST_SEA" 2>&1)
expect_eq "B: fresh registration of the incoming VM with another HEST refused" $? 1
check "B logged the profile mismatch" grep -q "boot profile differs" "$BLOG"
expect_eq "B: refused registrations change nothing" "$(b_state vm1)" "$before"

out=$(vmmsim_b --name vm1 --arch arm64 --hest "$HEST" --resume \
	--poison AO:0x40800000 --poison AR:0x40403000 2>&1)
check "B: resume with the boot HEST accepted" test $? -eq 0
expect_match "B: AO -> GPIO (B prefers SEI, GSIV: not in the boot HEST)" "$out" \
	"^AO gpa=0x40800000 .*inject GPIO source=1 \\(rasd\\)"
expect_match "B: AR -> SEA (B prefers GSIV: not in the boot HEST)" "$out" \
	"^AR gpa=0x40403000 .*inject SEA source=0 \\(rasd\\)"
expect_eq "B: vm1 keeps A's ranges and adds B's" \
	"$(rasctl_b --json list-poison vm1 | jq -r '[.[].gpa] | join(",")')" \
	"0x40001000,0x40200000,0x40403000,0x40800000"
expect_eq "B: A's ranges unchanged after the resume" \
	"$(rasctl_b --json list-poison vm1 | jq -c '[.[] | select(.gpa == "0x40001000" or .gpa == "0x40200000")]')" \
	"$(jq -c . <<<"$a_poison")"

# --- corrupted bundles -----------------------------------------------------
before=$(b_state vm1)
cp "$F" "$T/corrupt.bundle"
flip "$T/corrupt.bundle" $(($(stat -c %s "$F") / 2))
check "corrupted copy differs" test "$(cmp -s "$F" "$T/corrupt.bundle"; echo $?)" -eq 1
out=$(rasctl_b import --replace "$T/corrupt.bundle" 2>&1)
expect_eq "B: corrupted bundle refused: exit 1" $? 1
expect_match "B: corrupted bundle: the seal does not match" "$out" \
	"^rasctl: import refused: bundle seal does not match: corrupted or forged \\(ERR_INVALID\\)\$"
expect_eq "B: corrupted bundle changes nothing" "$(b_state vm1)" "$before"

head -c $(($(stat -c %s "$F") - 40)) "$F" >"$T/trunc.bundle"
out=$(rasctl_b import --replace "$T/trunc.bundle" 2>&1)
expect_eq "B: truncated bundle refused: exit 1" $? 1
expect_match "B: truncated bundle: clear error" "$out" "import refused: .*(truncated|malformed|seal)"
: >"$T/empty.bundle"
out=$(rasctl_b import --replace "$T/empty.bundle" 2>&1)
expect_eq "empty file refused: exit 1" $? 1
expect_eq "empty file: clear error" "$out" "rasctl: $T/empty.bundle is empty: not a rasd bundle"
head -c 2M /dev/urandom >"$T/random.bundle"
out=$(rasctl_b import --replace "$T/random.bundle" 2>&1)
expect_eq "2 MiB of random bytes refused: exit 1" $? 1
expect_match "2 MiB: refused by rasd with a reason" "$out" "import refused: .*(sealed bundle|seal)"
head -c 1000 /dev/urandom >"$T/random1k.bundle"
out=$(rasctl_b import --replace - <"$T/random1k.bundle" 2>&1)
expect_eq "1000 random bytes on stdin refused by B: exit 1" $? 1
expect_match "1000 random bytes: clear error" "$out" "import refused: .*(sealed bundle|seal)"
out=$(head -c 17M /dev/zero | rasctl_b import - 2>&1)
expect_eq "17 MiB on stdin refused: exit 1" $? 1
expect_match "17 MiB: over 16 MiB" "$out" "standard input has more than the 16 MiB"
rasctl_b import "$T/no-such-file" 2>/dev/null
expect_eq "missing file: exit 1" $? 1
rasctl_b import 2>/dev/null
expect_eq "import without a file: usage error" $? 2
expect_eq "B: bad files change nothing" "$(b_state vm1)" "$before"
check "B still serving (list-vms)" b_serving
check "B still running" kill -0 "$B_PID"

# --- import rules: known VM, live VM ----------------------------------------
out=$(rasctl_b import "$F" 2>&1)
expect_eq "B: import of a known VM without --replace: exit 1" $? 1
expect_match "B: ... refused as already known" "$out" "already known.*\\(ERR_BUSY\\)\$"
expect_eq "B: refused import changes nothing" "$(b_state vm1)" "$before"

vmmsim_b --name vm1 --arch arm64 --hest "$HEST" --resume --hold >/dev/null 2>&1 &
HOLD_PID=$!
check "B: vm1's VMM is live" wait_for b_running vm1
live=$(b_state vm1)
out=$(rasctl_b import --replace "$F" 2>&1)
expect_eq "B: import over a live VMM refused even with --replace: exit 1" $? 1
expect_match "B: ... names the running VMM" "$out" "running here under VMM pid .*\\(ERR_BUSY\\)\$"
expect_eq "B: the live VM's state is untouched" "$(b_state vm1)" "$live"
kill "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null; HOLD_PID=
check "B: vm1's VMM gone" wait_for b_not_running vm1

# --- fleet keys: forged and unauthenticated bundles --------------------------
make_key k1
make_key k2
# A bundle sealed by a rasd that holds another key: a forgery to B.
stop_rasd
start_rasd -c "$T/k2.conf" || notok "A restarts with key k2"
rasctl export vm1 -o "$T/forged.bundle" >/dev/null
check "A (key k2): export" test -s "$T/forged.bundle"
stop_b
start_b -c "$T/k1.conf" "${B_POLICY[@]}" || notok "B restarts with key k1"
check "B logged its fleet key" grep -q "fleet key $T/k1.key" "$BLOG"
before=$(b_state vm1)
out=$(rasctl_b import --replace "$T/forged.bundle" 2>&1)
expect_eq "B (k1): bundle sealed under k2 refused: exit 1" $? 1
expect_match "B (k1): ... the seal does not match" "$out" "seal does not match.*\\(ERR_INVALID\\)\$"
out=$(rasctl_b import --replace "$F" 2>&1)
expect_eq "B (k1): unkeyed (checksum-only) bundle refused: exit 1" $? 1
expect_match "B (k1): ... as unauthenticated" "$out" "unauthenticated bundle"
expect_eq "B (k1): refused bundles change nothing" "$(b_state vm1)" "$before"

stop_rasd
start_rasd -c "$T/k1.conf" || notok "A restarts with key k1"
rasctl export vm1 -o "$T/keyed.bundle" >/dev/null
check "A (k1): export" test -s "$T/keyed.bundle"
out=$(rasctl_b import --replace "$T/keyed.bundle" 2>&1)
check "B (k1): bundle sealed under the shared key imported" test $? -eq 0
expect_eq "B (k1): keyed import restores A's ranges" \
	"$(rasctl_b --json list-poison vm1)" "$(poison_json vm1)"
expect_eq "B (k1): ... and state incoming" "$(rasctl_b --json show vm1 | jq -r .state)" incoming
cp "$T/keyed.bundle" "$T/keyed-corrupt.bundle"
flip "$T/keyed-corrupt.bundle" $(($(stat -c %s "$T/keyed.bundle") / 2))
out=$(rasctl_b import --replace "$T/keyed-corrupt.bundle" 2>&1)
expect_eq "B (k1): corrupted keyed bundle refused" $? 1
expect_match "B (k1): ... seal" "$out" "seal"

# --- the libvirt hook's migrate phase ----------------------------------------
vmmsim --name vm2 --arch arm64 --hest "$HEST" \
	--poison AR:0x40005000 --poison AO:0x40600000:21 >/dev/null 2>&1
check "A: vm2 poisoned" test "$(poison_json vm2 | jq length)" -eq 2
rasctl export vm2 -o "$T/vm2.bundle" >/dev/null
a2_show=$(rasctl --json show vm2)
a2_gen=$(jq -r .generation <<<"$a2_show")
uuid2=$(jq -r .uuid <<<"$a2_show")

# domain_xml BASE64 [POISON]: a domain XML as libvirt formats it, with
# rasd's metadata element carrying BASE64 (omitted when empty).
domain_xml() {
	cat <<EOF
<domain type='kvm' id='7'>
  <name>vm2</name>
  <uuid>$uuid2</uuid>
  <metadata>
    <rasd:state xmlns:rasd="https://rasd.dev/xmlns/state/1" generation="$a2_gen" pinned="yes" host="a-host" state="running">
      <rasd:profile>
        <rasd:source id="0" notify="SEA"/>
        <rasd:source id="1" notify="GPIO"/>
      </rasd:profile>
EOF
	if [ "${2:-yes}" = yes ]; then
		cat <<EOF
      <rasd:poison gpa='0x40005000' length='4096' kind='AR' action='inject' notify='SEA' source='0' first-seen='1764073496' records='1'/>
      <rasd:poison gpa='0x40600000' length='2097152' kind='AO' action='inject' notify='GPIO' source='1' first-seen='1764073496' records='1'/>
EOF
	fi
	if [ -n "$1" ]; then
		printf '      <rasd:bundle generation='"'"'%s'"'"'>%s</rasd:bundle>\n' "$a2_gen" "$1"
	fi
	cat <<EOF
    </rasd:state>
  </metadata>
  <memory unit='KiB'>1048576</memory>
  <os><type arch='aarch64' machine='virt-10.2'>hvm</type></os>
</domain>
EOF
}

HOOKS=$T/hooks
sh "$ROOT/deploy/libvirt/install.sh" --hooks-dir "$HOOKS" --conf "$T/hook.conf" >/dev/null
check "hook installed with its settings" test -x "$HOOKS/qemu" -a -f "$T/hook.conf"
check "installed hook reads \$T/hook.conf" grep -q "^RASD_HOOK_CONF=.*$T/hook.conf" "$HOOKS/qemu"
# set_conf KEY VALUE
set_conf() { sed -i "s|^$1=.*|$1=$2|" "$T/hook.conf"; }
set_conf RASCTL "$RASCTL_ABS"
set_conf SOCKET "$BSOCK"
set_conf LOG "$T/hook.log"
set_conf REQUIRED yes

# hook XMLFILE: run the hook as libvirt does; stdout to $T/hook.out,
# stderr to $T/hook.err, the status in $hrc.
hook() {
	TMPDIR=$T/htmp "$HOOKS/qemu" vm2 migrate begin - <"$1" \
	    >"$T/hook.out" 2>"$T/hook.err"
	hrc=$?
}
mkdir -p "$T/htmp"
lastlog() { tail -n 1 "$T/hook.log" 2>/dev/null; }

# The base64 wrapped at 76 columns, as one text node with newlines.
b64=$(base64 "$T/vm2.bundle")
domain_xml "$b64" >"$T/d.xml"
start=$(date +%s%N)
hook "$T/d.xml"
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "hook: migrate with a bundle: exit 0" "$hrc" 0
check "hook: stdout equals stdin" cmp -s "$T/d.xml" "$T/hook.out"
expect_match "hook: logs the import" "$(lastlog)" \
	" vm2 $uuid2 migrate begin: imported bundle generation $a2_gen\$"
expect_eq "B: vm2 has A's ranges" "$(rasctl_b --json list-poison vm2)" "$(poison_json vm2)"
expect_eq "B: vm2 incoming" "$(rasctl_b --json show vm2 | jq -r .state)" incoming
expect_eq "B: vm2 has A's profile" "$(rasctl_b --json show vm2 | jq -c .profile)" \
	"$(jq -c .profile <<<"$a2_show")"
echo "# hook migrate phase took ${ms} ms"
check "hook: fast (under 2 s)" test "$ms" -lt 2000

hook "$T/d.xml"
expect_eq "hook: a second migrate of the same VM replaces it: exit 0" "$hrc" 0

# Unwrapped base64 and an XML without a final newline pass through too.
domain_xml "$(base64 -w0 "$T/vm2.bundle")" | head -c -1 >"$T/d1.xml"
hook "$T/d1.xml"
expect_eq "hook: one-line base64, no final newline: exit 0" "$hrc" 0
check "hook: ... stdout equals stdin byte for byte" cmp -s "$T/d1.xml" "$T/hook.out"

before=$(b_state vm2)
# Not base64 at all.
domain_xml "${b64:0:40}*!${b64:42}" >"$T/bad64.xml"
hook "$T/bad64.xml"
expect_eq "hook: invalid base64, REQUIRED=yes: exit 1" "$hrc" 1
check "hook: ... stdout still equals stdin" cmp -s "$T/bad64.xml" "$T/hook.out"
expect_match "hook: ... logged" "$(lastlog)" "import FAILED: .*not valid base64; REQUIRED=yes"
expect_match "hook: ... reason on stderr for libvirt" "$(cat "$T/hook.err")" "REQUIRED=yes"
# Valid base64 of a corrupted bundle.
cp "$T/vm2.bundle" "$T/vm2-corrupt.bundle"
flip "$T/vm2-corrupt.bundle" $(($(stat -c %s "$T/vm2.bundle") / 2))
domain_xml "$(base64 "$T/vm2-corrupt.bundle")" >"$T/corrupt.xml"
hook "$T/corrupt.xml"
expect_eq "hook: corrupted bundle, REQUIRED=yes: exit 1" "$hrc" 1
expect_match "hook: ... logs rasctl's message" "$(lastlog)" \
	"import FAILED: rasctl: import refused: bundle seal does not match: corrupted or forged \\(ERR_INVALID\\); REQUIRED=yes"
expect_eq "B: failed hook imports change nothing" "$(b_state vm2)" "$before"
set_conf REQUIRED no
hook "$T/corrupt.xml"
expect_eq "hook: corrupted bundle, REQUIRED=no: exit 0" "$hrc" 0
check "hook: ... stdout equals stdin" cmp -s "$T/corrupt.xml" "$T/hook.out"
expect_match "hook: ... logs the failure" "$(lastlog)" \
	"import FAILED: rasctl: import refused: bundle seal does not match.*REQUIRED=no"
hook "$T/bad64.xml"
expect_eq "hook: invalid base64, REQUIRED=no: exit 0" "$hrc" 0
expect_eq "B: still unchanged" "$(b_state vm2)" "$before"

# No bundle: fatal only when the XML says the VM has poison.
domain_xml "" yes >"$T/nobundle.xml"
domain_xml "" no >"$T/clean.xml"
set_conf REQUIRED yes
hook "$T/nobundle.xml"
expect_eq "hook: poison but no bundle, REQUIRED=yes: exit 1" "$hrc" 1
expect_match "hook: ... logged" "$(lastlog)" "no rasd bundle in the domain XML, but it lists poisoned ranges"
hook "$T/clean.xml"
expect_eq "hook: no bundle, no poison: exit 0" "$hrc" 0
expect_match "hook: ... logged" "$(lastlog)" "migrate begin: no rasd bundle in the domain XML\$"
check "hook: ... stdout equals stdin" cmp -s "$T/clean.xml" "$T/hook.out"
printf "<domain type='kvm'>\n  <name>vm2</name>\n  <uuid>%s</uuid>\n</domain>\n" "$uuid2" >"$T/plain.xml"
hook "$T/plain.xml"
expect_eq "hook: a domain without rasd metadata: exit 0" "$hrc" 0
check "hook: ... stdout equals stdin" cmp -s "$T/plain.xml" "$T/hook.out"
set_conf REQUIRED no
hook "$T/nobundle.xml"
expect_eq "hook: poison but no bundle, REQUIRED=no: exit 0" "$hrc" 0

# rasd B not answering.
set_conf SOCKET "$T/nobody.sock"
set_conf REQUIRED yes
hook "$T/d.xml"
expect_eq "hook: rasd down, REQUIRED=yes: exit 1" "$hrc" 1
expect_match "hook: ... logged" "$(lastlog)" "import FAILED: rasctl: cannot connect"
set_conf REQUIRED no
hook "$T/d.xml"
expect_eq "hook: rasd down, REQUIRED=no: exit 0" "$hrc" 0
check "hook: one log line per call" \
	test "$(wc -l <"$T/hook.log")" -eq "$(grep -c ' migrate begin: ' "$T/hook.log")"
check "hook: no temporary files left" test -z "$(ls -A "$T/htmp")"

check "B still running at the end" kill -0 "$B_PID"
