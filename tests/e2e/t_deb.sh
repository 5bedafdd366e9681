#!/usr/bin/env bash
# The Debian packages (debian/), built, checked, installed on this machine,
# run and purged as an operator would: dpkg-buildpackage -us -uc -b on a
# copy of the tree (HEAD plus the working changes) under a temp dir;
# lintian without errors; apt-get install of rasd, librasclient1 and
# librasclient-dev; the system user, the store directory, `rasd -n`,
# systemd-analyze verify and security of the installed units, the man
# pages, pkg-config and a program linked against the installed library;
# the installed rasd started as systemd would (user rasd, no privileges,
# the socket passed by systemd-socket-activate on /run/rasd/rasd.sock) and
# reached by a VMM as QEMU's user and by rasctl's default socket; then a
# purge that leaves only what policy allows (the system user). Cleans up
# (rasd stopped, packages purged) even when a check fails.
# Needs root; takes about 3 minutes on 2 cores (most of it the build).
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKGS="rasd librasclient1 librasclient-dev"
SYSSOCK=/run/rasd/rasd.sock

# notrun REASON: skip, or fail under CI (CI must run every test).
notrun() {
	if [ "${CI:-}" = true ]; then notok "$1"; else skip "$1"; fi
	exit 0
}

[ "$(id -u)" -eq 0 ] || notrun "needs root: installs and purges packages"
# The ASan pass (make asan-check) would build the same packages again.
if ldd "$RASD_BIN" 2>/dev/null | grep -q libasan; then
	skip "packages are built and tested once, in the plain pass"
	exit 0
fi
for t in dpkg-buildpackage dh lintian fakeroot systemd-analyze man \
    pkg-config apt-get systemd-socket-activate setpriv cc; do
	command -v "$t" >/dev/null ||
	    notrun "$t not found (tools/deps.sh installs what this test needs)"
done
for p in $PKGS; do
	if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q installed; then
		notrun "$p is installed on this machine: not touching it"
	fi
done
if [ -S "$SYSSOCK" ] && "$RASCTL_BIN" --socket "$SYSSOCK" --timeout 1 \
    list-vms >/dev/null 2>&1; then
	notrun "a rasd answers on $SYSSOCK: not touching it"
fi

W=$T/pkg
INSTALLED=
ACT_PID=
MADE_RUN=

# Stop what the test started, purge what it installed: on every exit.
deb_cleanup() {
	if [ -n "$ACT_PID" ]; then
		kill "$ACT_PID" 2>/dev/null
		wait "$ACT_PID" 2>/dev/null
	fi
	if [ -n "$MADE_RUN" ]; then
		rm -f "$SYSSOCK"
		rmdir /run/rasd 2>/dev/null
	fi
	if [ -n "$INSTALLED" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
		    -o DPkg::Lock::Timeout=300 $PKGS >/dev/null 2>&1
	fi
	cleanup
}
trap deb_cleanup EXIT

# 1. Build from a copy: dpkg-buildpackage writes ../*.deb.
mkdir -p "$W/rasd"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -z -c -o --exclude-standard |
	    while IFS= read -r -d '' f; do
		case $f in build/*|build-*/*|debian/build/*) continue ;; esac
		[ -e "$f" ] && printf '%s\0' "$f"
	    done | tar -cf - --null -T -) | tar -xf - -C "$W/rasd"
else
	tar -C "$ROOT" --exclude=./build --exclude='./build-*' \
	    --exclude=./debian/build -cf - . | tar -xf - -C "$W/rasd"
fi
t0=$(date +%s)
(cd "$W/rasd" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1
rc=$?
echo "# dpkg-buildpackage: $(( $(date +%s) - t0 )) s"
if [ "$rc" -ne 0 ]; then
	notok "dpkg-buildpackage -us -uc -b (exit $rc)"
	tail -30 "$T/build.log" | sed 's/^/#   /'
	exit 1
fi
ok "dpkg-buildpackage -us -uc -b builds the packages"
for p in $PKGS; do
	check "$p's .deb is built" test -f "$W/${p}_"*.deb
done
check "the build left nothing in the repository" sh -c \
    "[ ! -e '$ROOT/debian/tmp' ] && [ ! -e '$ROOT/debian/build' ] &&
     ! ls '$(dirname "$ROOT")'/rasd_*.changes >/dev/null 2>&1"

# 2. lintian: no errors; warnings are listed.
lintian --fail-on error --display-info "$W"/rasd_*.changes >"$T/lintian.log" 2>&1
check "lintian reports no errors" test $? -eq 0
grep -E '^[EWI]: ' "$T/lintian.log" | sed 's/^/# lintian: /'
check "lintian has no warnings either" \
    test "$(grep -c -E '^[EW]: ' "$T/lintian.log")" -eq 0
check "librasclient1 has a symbols file" \
    sh -c "dpkg-deb -I '$W'/librasclient1_*.deb symbols | grep -q rasc_forward@RASCLIENT_1"
check "librasclient1's SONAME is librasclient.so.1" \
    sh -c "dpkg-deb -I '$W'/librasclient1_*.deb shlibs | grep -q '^librasclient 1 librasclient1'"

# 3. Install.
debs=$(for p in $PKGS; do echo "$W/${p}_"*.deb; done)
INSTALLED=1
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o DPkg::Lock::Timeout=300 $debs >"$T/install.log" 2>&1
rc=$?
check "apt-get install of the three packages" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -20 "$T/install.log" | sed 's/^/#   /'
for p in $PKGS; do
	check "$p is installed" sh -c \
	    "dpkg-query -W -f '\${Status}' $p | grep -q 'ok installed'"
done

check "the system user rasd exists" sh -c "getent passwd rasd >/dev/null"
check "rasd is a system user without a login shell" sh -c \
    "[ \$(id -u rasd) -lt 1000 ] && getent passwd rasd | grep -q ':/usr/sbin/nologin$'"
if getent group libvirt >/dev/null; then
	check "rasd is in the libvirt group (qemu:///system)" sh -c \
	    "id -Gn rasd | tr ' ' '\n' | grep -qx libvirt"
fi
expect_eq "/var/lib/rasd: rasd's, 0750" \
    "$(stat -c '%U:%G %a' /var/lib/rasd 2>&1)" "rasd:rasd 750"

out=$(/usr/sbin/rasd -n 2>&1)
check "rasd -n accepts the packaged configuration" test $? -eq 0
for kv in "socket = /run/rasd/rasd.sock" "state_dir = /var/lib/rasd" \
    "libvirt = qemu:///system"; do
	check "rasd -n: $kv" grep -qx "$kv" <<<"$out"
done
check "rasd -n as the user rasd" setpriv --reuid=rasd --regid=rasd \
    --init-groups /usr/sbin/rasd -n >/dev/null

units="/lib/systemd/system/rasd.socket /lib/systemd/system/rasd.service"
# shellcheck disable=SC2086
out=$(systemd-analyze verify $units 2>&1)
check "systemd-analyze verify of the installed units" test $? -eq 0
check "... says nothing" test -z "$out" || sed 's/^/#   /' <<<"$out"
out=$(systemd-analyze security --offline=true \
    /lib/systemd/system/rasd.service 2>&1 | grep -o 'Overall exposure.*')
score=$(sed -n 's/.*rasd.service: \([0-9.]*\) .*/\1/p' <<<"$out")
echo "# systemd-analyze security: $out"
check "systemd-analyze security rasd.service: exposure $score <= 2.0" \
    awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
check "the service runs as rasd, the socket is kvm's" sh -c \
    "grep -qx User=rasd /lib/systemd/system/rasd.service &&
     grep -qx SocketGroup=kvm /lib/systemd/system/rasd.socket"
check "both units are enabled" sh -c \
    "test -L /etc/systemd/system/sockets.target.wants/rasd.socket &&
     test -L /etc/systemd/system/multi-user.target.wants/rasd.service"

expect_eq "man -w rasd" "$(man -w rasd 2>&1)" \
    /usr/share/man/man8/rasd.8.gz
for page in rasd rasctl rasd-cover "5 rasd.conf"; do
	# shellcheck disable=SC2086
	out=$(MANWIDTH=80 MANPAGER=cat man --warnings $page 2>"$T/man.err")
	check "man $page renders without warnings" sh -c \
	    "[ -n \"\$1\" ] && [ ! -s '$T/man.err' ]" _ "$out"
done
check "man rasd says how systemd runs it" grep -q "^SYSTEMD" \
    <<<"$(MANPAGER=cat man rasd 2>/dev/null)"

check "pkg-config --cflags rasclient" pkg-config --cflags rasclient
expect_eq "pkg-config --libs rasclient" \
    "$(pkg-config --libs rasclient | sed 's/ *$//')" -lrasclient
cat >"$T/use.c" <<'EOF'
#include <rasclient.h>
#include <stdio.h>

int
main(void)
{
	printf("%d\n", rasc_connected(NULL) == 0 ||
	    rasc_strerror(NULL) != NULL);
	return 0;
}
EOF
# shellcheck disable=SC2046
check "a program builds against the installed library" \
    cc -o "$T/use" "$T/use.c" $(pkg-config --cflags --libs rasclient)
check "... and runs with the installed librasclient.so.1" sh -c \
    "ldd '$T/use' | grep -q 'librasclient.so.1 => /.*/librasclient.so.1'"

# 4. The installed rasd, run as rasd.service would run it: as the user
# rasd, with no capabilities, on the socket systemd passes.
MADE_RUN=1
mkdir -p /run/rasd
rm -f "$SYSSOCK"
systemd-socket-activate -l "$SYSSOCK" setpriv --reuid=rasd --regid=rasd \
    --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    /usr/sbin/rasd --foreground >>"$RASD_LOG" 2>&1 &
ACT_PID=$!
wait_for test -S "$SYSSOCK"
# What rasd.socket sets: SocketGroup=kvm, SocketMode=0660.
chgrp kvm "$SYSSOCK" && chmod 0660 "$SYSSOCK"
out=$(setpriv --reuid=libvirt-qemu --regid=kvm --init-groups \
    "$VMMSIM_BIN" --socket "$SYSSOCK" --name debvm --arch arm64 \
    --hest "$DATA/qemu-virt-10.2-sea-gpio.hest" --poison AR:0x40001000 2>&1)
check "a VMM as QEMU's user (libvirt-qemu:kvm) gets rasd's decision" \
    grep -q "inject SEA source=0 (rasd)" <<<"$out"
check "rasd took the socket systemd passed" \
    grep -q "listening on $SYSSOCK, passed by systemd" "$RASD_LOG"
expect_eq "rasd runs as the user rasd" \
    "$(ps -o user= -p "$ACT_PID" 2>&1 | tr -d ' ')" rasd
expect_eq "the store is rasd's" "$(stat -c %U /var/lib/rasd/rasd.db 2>&1)" \
    rasd
# rasctl without --socket: root's default is the system socket.
out=$(env -u RASD_SOCKET "$RASCTL_BIN" --json list-poison debvm 2>&1)
expect_eq "root's rasctl finds the system rasd by default" \
    "$(jq -r '.[0].gpa' <<<"$out" 2>&1)" 0x40001000
# A non-root operator without a rasd of their own reaches the system one
# (in the socket's group, not in admin_group: rasd answers "denied").
run=$(mktemp -d /tmp/rasd-deb-run-XXXXXX)
chown libvirt-qemu "$run"
out=$(setpriv --reuid=libvirt-qemu --regid=kvm --init-groups env \
    -u RASD_SOCKET XDG_RUNTIME_DIR="$run" "$RASCTL_BIN" list-vms 2>&1)
check "a non-root rasctl finds the system socket by default" \
    grep -q "denied: operator commands need root or the admin group" \
    <<<"$out"
out=$(setpriv --reuid=libvirt-qemu --regid=kvm --init-groups env \
    -u RASD_SOCKET XDG_RUNTIME_DIR="$run" "$RASCTL_BIN" help 2>&1)
check "... and its help names it" grep -q "(here: $SYSSOCK)" <<<"$out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env \
    -u RASD_SOCKET XDG_RUNTIME_DIR="$run" "$RASCTL_BIN" list-vms 2>&1)
check "outside the kvm group the socket refuses (and says where)" \
    grep -q "$SYSSOCK.*Permission denied" <<<"$out"
rm -rf "$run"
kill -TERM "$ACT_PID"
wait "$ACT_PID"
expect_eq "rasd (user rasd) stops cleanly on SIGTERM" "$?" 0
ACT_PID=
check "rasd left the socket file to its owner" test -S "$SYSSOCK"
rm -f "$SYSSOCK"
rmdir /run/rasd 2>/dev/null
MADE_RUN=

# 5. Purge: nothing the packages installed is left, nor /etc/rasd, nor
# the store; the system user may stay (Debian keeps system users).
files=$(for d in $debs; do dpkg-deb -c "$d"; done | awk '$1 !~ /^d/ {
	p = $6; sub(/^\./, "", p); print p }')
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
    -o DPkg::Lock::Timeout=300 $PKGS >"$T/purge.log" 2>&1
check "apt-get purge of the three packages" test $? -eq 0
INSTALLED=
left=
for f in $files; do
	if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done
expect_eq "no file of the packages is left" "$left" ""
for p in $PKGS; do
	check "$p is gone from dpkg's database" sh -c \
	    "! dpkg-query -W -f '\${Status}' $p 2>/dev/null | grep -q installed"
done
check "/etc/rasd is gone" test ! -e /etc/rasd
check "the store /var/lib/rasd is gone" test ! -e /var/lib/rasd
check "the unit symlinks are gone" sh -c \
    "[ -z \"\$(find /etc/systemd/system -name 'rasd.*' 2>/dev/null)\" ]"
check "the hook is gone" test ! -e /etc/libvirt/hooks/qemu.d/rasd
if getent passwd rasd >/dev/null; then
	echo "# the system user rasd stays after the purge (Debian policy)"
fi
exit 0
