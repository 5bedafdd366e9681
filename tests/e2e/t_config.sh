#!/usr/bin/env bash
# rasd.conf(5) and `rasd -n`, as bgpd's -n tests do: each file under
# tests/data/config/ is checked with `rasd -n -c FILE` and the output diffed
# against FILE's .golden; the output read back as a configuration prints
# the same (round trip); a bad value names the file and line and exits 2;
# the keys rasd.conf(5) documents, the keys `rasd -n` prints and the keys
# deploy/rasd.conf.example shows are the same set, so docs and code cannot
# drift; the page renders without warnings.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONF=$DATA/config
PAGE=$ROOT/deploy/man/rasd.conf.5
EXAMPLE=$ROOT/deploy/rasd.conf.example

# The defaults that depend on who runs rasd (rasd.conf(5), socket).
export XDG_RUNTIME_DIR=/run/user/4242
if [ "$(id -u)" -eq 0 ]; then
	D_SOCKET=/run/rasd/rasd.sock D_STATE=/var/lib/rasd D_LIBVIRT=qemu:///system
else
	D_SOCKET=$XDG_RUNTIME_DIR/rasd/rasd.sock D_STATE=$XDG_RUNTIME_DIR/rasd
	D_LIBVIRT=off
fi
golden() {
	sed -e "s|@SOCKET@|$D_SOCKET|" -e "s|@STATE_DIR@|$D_STATE|" \
	    -e "s|@LIBVIRT@|$D_LIBVIRT|" "$1"
}
rasd_n() { "$RASD_BIN" -n "$@"; }

# --- golden files and the round trip ------------------------------------
for f in "$CONF"/*.conf; do
	n=$(basename "$f" .conf)
	if ! rasd_n -c "$f" >"$T/$n.out" 2>"$T/$n.err"; then
		notok "$n.conf: rasd -n fails: $(cat "$T/$n.err")"
		continue
	fi
	golden "$CONF/$n.golden" >"$T/$n.want"
	if diff -u "$T/$n.want" "$T/$n.out" >"$T/$n.diff"; then
		ok "$n.conf: rasd -n prints $n.golden"
	else
		notok "$n.conf: rasd -n differs from $n.golden:"
		sed 's/^/#   /' "$T/$n.diff"
	fi
	check "$n.conf: nothing on stderr" test ! -s "$T/$n.err"
	if rasd_n -c "$T/$n.out" >"$T/$n.again" 2>&1 &&
	    cmp -s "$T/$n.out" "$T/$n.again"; then
		ok "$n.conf: the output read back prints the same (round trip)"
	else
		notok "$n.conf: round trip differs:"
		diff -u "$T/$n.out" "$T/$n.again" | sed 's/^/#   /'
	fi
done
check "four golden cases ran" test "$(ls "$CONF"/*.golden | wc -l)" -ge 4

# Command-line options override the file, and print back the same way.
rasd_n -c "$CONF/every.conf" --socket /tmp/cli.sock --state-dir /tmp/cli \
    --ar-order GSIV --ao-order none --no-libvirt >"$T/cli.out" 2>&1
expect_eq "options override the file" \
	"$(grep -E '^(socket|state_dir|ar_order|ao_order|libvirt|max_clients) ' "$T/cli.out" | tr '\n' ';')" \
	"socket = /tmp/cli.sock;state_dir = /tmp/cli;ar_order = GSIV;ao_order = none;max_clients = 200;libvirt = off;"
rasd_n -c "$T/cli.out" >"$T/cli.again" 2>&1
check "options print back the same (round trip)" cmp -s "$T/cli.out" "$T/cli.again"

# A value the file syntax cannot hold is refused, not printed differently.
rasd_n -c "$CONF/empty.conf" --socket '/tmp/a#b.sock' >"$T/hash.out" 2>&1
rc=$?
expect_eq "a '#' in an option's value is refused (exit 2)" "$rc" 2
check "and says why" grep -q "socket: .#. starts a comment" "$T/hash.out"

# --- bad values: file:line: what, exit 2 --------------------------------
bad() {	# bad DESCRIPTION LINE PATTERN TEXT
	local d=$1 line=$2 pat=$3 rc
	printf '%s' "$4" >"$T/bad.conf"
	rasd_n -c "$T/bad.conf" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ ! -s "$T/bad.out" ] &&
	    grep -q "^rasd: $T/bad.conf:$line: .*$pat" "$T/bad.err"; then
		ok "$d: exit 2, \"$(cat "$T/bad.err")\""
	else
		notok "$d: exit $rc, stdout '$(cat "$T/bad.out")', stderr '$(cat "$T/bad.err")'"
	fi
}
bad "max_clients out of range" 3 'bad max_clients "0"' \
	$'# comment\n\nmax_clients = 0\n'
bad "idle_timeout above its bound" 2 'bad idle_timeout "86401" (must be 0..86400)' \
	$'idle_timeout = 10\nidle_timeout = 86401\n'
bad "unregistered_frame_max below its bound" 1 'must be 4096\.\.' \
	$'unregistered_frame_max = 100\n'
bad "negative max_vms_per_uid" 1 'bad max_vms_per_uid "-1"' \
	$'max_vms_per_uid = -1\n'
bad "socket_mode not octal" 1 'bad socket_mode "0999"' $'socket_mode = 0999\n'
bad "relative socket" 2 'socket must be an absolute path' \
	$'state_dir = /tmp/x\nsocket = rasd.sock\n'
bad "unknown key" 1 'unknown key "max_client"' $'max_client = 10\n'
bad "a line without =" 1 'expected key = value' $'socket /tmp/x\n'
bad "unknown group" 1 'unknown group "no-such-group-xyz"' \
	$'socket_group = no-such-group-xyz\n'
bad "unknown notification type" 1 'unknown notification type "LOCL"' \
	$'ar_order = SEA,LOCL\n'
bad "fleet_key not absolute" 1 'fleet_key must be an absolute path' \
	$'fleet_key = fleet.key\n'
bad "metrics_listen with a host name" 1 'bad metrics_listen "localhost:9468"' \
	$'metrics_listen = localhost:9468\n'
bad "metrics_listen without a port" 1 'bad metrics_listen "127.0.0.1"' \
	$'metrics_listen = 127.0.0.1\n'
bad "metrics_listen port 0" 1 'bad metrics_listen "127.0.0.1:0"' \
	$'metrics_listen = 127.0.0.1:0\n'
bad "metrics_listen port above 65535" 1 'bad metrics_listen "127.0.0.1:65536"' \
	$'metrics_listen = 127.0.0.1:65536\n'
bad "metrics_listen IPv6 without brackets" 1 'bad metrics_listen "::1:9468"' \
	$'metrics_listen = ::1:9468\n'
bad "metrics_listen bad IPv4" 1 'give a numeric IPv4 address' \
	$'metrics_listen = 127.1:9468\n'
rasd_n -c "$T/no-such.conf" >"$T/missing.out" 2>&1
rc=$?
expect_eq "a missing file: exit 2" "$rc" 2
check "and it is named" grep -q "$T/no-such.conf: No such file" "$T/missing.out"

# --- docs and code list the same keys -----------------------------------
# rasd.conf(5) documents each setting as .TP then .BI "key = " value.
keys_printed=$(sed -n 's/^\([a-z_]*\) = .*/\1/p' "$T/empty.out" | sort)
keys_page=$(sed -n 's/^\.BI "\([a-z_]*\) = ".*/\1/p' "$PAGE" 2>/dev/null | sort)
keys_example=$(sed -n 's/^#\([a-z_]*\) = .*/\1/p' "$EXAMPLE" | sort -u)
expect_eq "rasd -n prints every key once" \
	"$(uniq -d <<<"$keys_printed")" ""
expect_eq "rasd.conf(5) documents exactly the keys rasd -n prints" \
	"$(diff <(echo "$keys_page") <(echo "$keys_printed") | grep '^[<>]' | tr '\n' ' ')" ""
expect_eq "rasd.conf.example shows exactly the keys rasd -n prints" \
	"$(diff <(echo "$keys_example") <(echo "$keys_printed") | grep '^[<>]' | tr '\n' ' ')" ""
expect_eq "rasd -n prints the keys in the order rasd.conf(5) lists them" \
	"$(sed -n 's/^\.BI "\([a-z_]*\) = ".*/\1/p' "$PAGE" 2>/dev/null | tr '\n' ' ')" \
	"$(sed -n 's/^\([a-z_]*\) = .*/\1/p' "$T/empty.out" | tr '\n' ' ')"
# Each documented default is what rasd -n prints for an empty file.
while read -r key def; do
	want=$(sed -n "s/^$key = //p" "$T/empty.out")
	case $key in socket|state_dir|libvirt) continue ;; esac
	[ "$def" = "$want" ] || notok "rasd.conf(5) says $key defaults to '$def', rasd -n prints '$want'"
done < <(awk '/^\.BI "[a-z_]* = "/ { key = $2; gsub(/"/, "", key) } /^Default: / && key != "" {
	sub(/^Default: /, ""); sub(/\.$/, ""); gsub(/\\f[BIR]|\\/, ""); print key, $0; key = "" }' "$PAGE" 2>/dev/null)
expect_eq "rasd.conf(5) gives a default for every key" \
	"$(grep -c '^Default: ' "$PAGE" 2>/dev/null)" "$(echo "$keys_printed" | wc -l)"
# The example's defaults, uncommented, are the defaults.
grep -E '^#[a-z_]+ = ' "$EXAMPLE" | sed 's/^#//' |
    grep -vE '^(socket|state_dir|libvirt|socket_group|admin_group|fleet_key|peer_listen|peer_advertise|metrics_listen) ' \
    >"$T/example-defaults.conf"
rasd_n -c "$T/example-defaults.conf" >"$T/example.out" 2>&1
check "rasd.conf.example's commented values are the defaults" \
	cmp -s "$T/example.out" "$T/empty.out"

# --- the page renders without warnings ----------------------------------
if [ ! -f "$PAGE" ]; then
	notok "deploy/man/rasd.conf.5 is missing"
elif command -v groff >/dev/null; then
	groff -man -ww -z "$PAGE" >"$T/groff.out" 2>&1
	check "groff -man -ww renders rasd.conf.5 without a warning" test ! -s "$T/groff.out"
	[ -s "$T/groff.out" ] && sed 's/^/#   /' "$T/groff.out"
else
	skip "groff not installed: rasd.conf.5 not rendered"
fi
if command -v mandoc >/dev/null; then
	mandoc -T lint -W warning "$PAGE" >"$T/mandoc.out" 2>&1
	check "mandoc -T lint finds nothing in rasd.conf.5" test ! -s "$T/mandoc.out"
	[ -s "$T/mandoc.out" ] && sed 's/^/#   /' "$T/mandoc.out"
fi
