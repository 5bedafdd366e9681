# tests/e2e/libvirt-lib.sh -- a private libvirtd for shell end-to-end tests.
# Source it after lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/libvirt-lib.sh"
#	virt_start || { notok "libvirtd starts"; exit 1; }
#
# It re-runs the test inside `unshare --mount --propagation private` and
# bind-mounts private directories (under $T/virt) over /etc/libvirt,
# /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt,
# so the test's libvirtd, its domains, logs and hook are invisible to the
# host's (TESTBED.md, "Two hosts on one machine"); nothing of the real
# configuration is touched. The only outside effects: /dev/kvm is given to
# group kvm, mode 0660, when it is not already (TESTBED.md), and an empty
# /run/libvirt mount point is created when missing. The test skips (exit 0)
# when it is not root, KVM is unusable, or libvirt/QEMU are not installed.
#
# What the test gets:
#   virt_start, virt_stop_libvirtd, virt_restart_libvirtd
#   vsh ARGS...               virsh on the private qemu:///system
#   virt_define_guest NAME IMG [--shim PATH] [--socket PATH] [--env N=V]...
#                             q35, 128 MiB, 1 vCPU, KVM; IMG as a raw SATA
#                             disk; COM1 into the file $(virt_serial NAME);
#                             --shim adds <qemu:env> LD_PRELOAD=PATH and
#                             RASD_SOCKET=--socket (default $SOCK)
#   virt_qemu_pid NAME        QEMU's pid (/run/libvirt/qemu/NAME.pid)
#   virt_qemu_log NAME        path of /var/log/libvirt/qemu/NAME.log
#   virt_serial NAME          path of the guest's COM1 output
#   virt_wait_serial NAME TEXT [COUNT [SECONDS]]
#                             wait until COUNT (1) lines hold TEXT
#   virt_wait_log NAME TEXT [SECONDS]   the same for QEMU's log
#   virt_events_start; virt_wait_event REGEX [SECONDS]
#                             `virsh event --all --loop` into $VIRT_EVENTS
#   virt_share FILE           copy FILE where QEMU (libvirt-qemu) can read
#                             it; prints the new path
#   virt_hook_set KEY VALUE   change the hook's settings ($VIRT_HOOK_CONF)
# and the variables VIRT_SHARE (a world-readable directory), VIRT_SHIM (the
# shim path the hook looks for), VIRT_HOOK_LOG, VIRT_HOOK_CONF, VIRT_EVENTS,
# VIRT_RASD_CONF (a rasd.conf with socket_group = kvm, socket_mode = 0660,
# so that QEMU can connect: `start_rasd --config "$VIRT_RASD_CONF"`).
# SOCK (lib.sh's rasd socket) moves into $VIRT_SHARE, where QEMU can reach
# it. deploy/libvirt/qemu is installed as the private
# /etc/libvirt/hooks/qemu (with deploy/libvirt/install.sh) before libvirtd
# starts. At exit every domain is destroyed, then libvirtd and virtlogd are
# stopped by pid.

PATH=$PATH:/usr/sbin:/sbin
# The emulator of the test's QEMU lane (tests/run.sh sets RAS_QEMU).
VIRT_QEMU=${RAS_QEMU:-$(command -v qemu-system-x86_64)}
# Its version as MAJOR*100+MINOR (7.2 -> 702, 10.0 -> 1000; 0 if unknown),
# for the checks whose right answer depends on it (tests/kvmhost/QEMU10.md).
VIRT_QEMU_VERSION=$("$VIRT_QEMU" --version 2>/dev/null | sed -n \
    '1s/^QEMU emulator version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
VIRT_QEMU_VERSION=${VIRT_QEMU_VERSION:-0 0}
VIRT_QEMU_VERSION=$(( ${VIRT_QEMU_VERSION% *} * 100 + ${VIRT_QEMU_VERSION#* } ))
# virt_qemu_amd_mce: whether QEMU encodes a memory error for the test
# guests' CPU (libvirt's default, qemu64, vendor AuthenticAMD) the AMD way,
# as QEMU >= 9.1 does ("i386: Fix MCE support for AMD hosts"; 7.2 used
# Intel values for every vendor). Then an AO is a *deferred* error: written
# to MC9 with no #MC, so the guest's handler does not run and a guest
# without CR4.MCE is not reset; an AR (UC|POISON) still raises #MC, or a
# reset without CR4.MCE. Measured in tests/kvmhost/QEMU10.md.
virt_qemu_amd_mce() { [ "$VIRT_QEMU_VERSION" -ge 901 ]; }
VIRT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VIRT_MOUNTS="/etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt"

# Print the skip line and leave (lib.sh's EXIT trap removes $T).
virt_skip() {
	skip "$*"
	exit 0
}

# First pass: check what the test needs, then run it again in its own
# mount namespace.
if [ -z "${RAS_VIRT_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || virt_skip "libvirt tests need root"
	for _c in libvirtd virtlogd virsh unshare "$VIRT_QEMU"; do
		command -v "$_c" >/dev/null ||
		    virt_skip "$_c not installed (apt-get install libvirt-daemon-system libvirt-clients qemu-system-x86)"
	done
	[ -c /dev/kvm ] || virt_skip "no /dev/kvm: QEMU handles memory-error SIGBUS only under KVM"
	getent group kvm >/dev/null || virt_skip "no kvm group for /dev/kvm"
	# No udev here: /dev/kvm comes up root:root 0600 (TESTBED.md).
	if [ "$(stat -c %G /dev/kvm)" != kvm ] ||
	    [ $(( 0$(stat -c %a /dev/kvm) & 060 )) -ne $(( 060 )) ]; then
		chgrp kvm /dev/kvm && chmod 660 /dev/kvm ||
		    virt_skip "cannot give /dev/kvm to group kvm"
	fi
	if ! _out=$(echo quit | timeout 60 "$VIRT_QEMU" -accel kvm \
	    -machine none -nodefaults -display none -monitor stdio 2>&1); then
		virt_skip "KVM unusable: $(tail -1 <<<"$_out")"
	fi
	unshare --mount --propagation private true 2>/dev/null ||
	    virt_skip "cannot create a mount namespace (unshare --mount)"
	for _d in $VIRT_MOUNTS; do
		[ -d "$_d" ] || mkdir -p "$_d" ||
		    virt_skip "cannot create mount point $_d"
	done
	rm -rf "$T"
	trap - EXIT
	# The outer namespace, so that the second pass can tell it is not in it.
	RAS_VIRT_NS=$(readlink /proc/self/ns/mnt)
	export RAS_VIRT_NS
	exec unshare --mount --propagation private -- bash "$0" "$@"
fi

# Second pass, inside the private mount namespace: never bind-mount over
# the host's directories in the namespace the test was started in.
# RAS_VIRT_NS is the first pass's namespace, "mnt:[N]"; ours must differ.
_ns=$(readlink /proc/self/ns/mnt)
if [[ "$RAS_VIRT_NS" != mnt:\[*\] ]] || [ "$_ns" = "$RAS_VIRT_NS" ]; then
	notok "libvirt-lib.sh: not in a private mount namespace (RAS_VIRT_NS set by hand?)"
	exit 1
fi
VIRT_ROOT=$T/virt
VIRT_URI=qemu:///system
VIRT_SHARE=/var/lib/libvirt/rasd
VIRT_SHIM=$VIRT_SHARE/rasd-shim.so
VIRT_HOOK_CONF=/etc/libvirt/rasd-hook.conf
VIRT_HOOK_LOG=/var/log/libvirt/rasd-hook.log
VIRT_EVENTS=$VIRT_ROOT/events.log
VIRT_RASD_CONF=$VIRT_ROOT/rasd.conf
VIRTLOGD_PID='' LIBVIRTD_PID='' VIRT_EVENTS_PID=''
SOCK=$VIRT_SHARE/rasd.sock

# virsh on the private libvirtd.
vsh() { virsh -q -c "$VIRT_URI" "$@"; }

# An absolute path for a path relative to the repository.
virt_abs() {
	case $1 in /*) echo "$1" ;; *) echo "$VIRT_REPO/$1" ;; esac
}

# Bind-mount the private directories and write libvirt's configuration.
virt_setup() {
	local d src uuid
	for d in $VIRT_MOUNTS; do
		src=$VIRT_ROOT/mnt${d//\//_}
		mkdir -p "$src" && mount --bind "$src" "$d" || return 1
	done
	chmod 0755 /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt
	chmod 0711 /var/cache/libvirt
	mkdir -p /etc/libvirt/hooks /var/lib/libvirt/qemu \
	    /var/lib/libvirt/images /var/cache/libvirt/qemu \
	    /var/log/libvirt/qemu "$VIRT_SHARE"
	chown libvirt-qemu:libvirt-qemu /var/lib/libvirt/qemu
	chmod 0750 /var/lib/libvirt/qemu
	chmod 0711 /var/lib/libvirt/images /var/cache/libvirt/qemu
	chmod 0755 "$VIRT_SHARE"
	uuid=$(cat /proc/sys/kernel/random/uuid)
	cat >/etc/libvirt/libvirtd.conf <<-EOF
	# private libvirtd of a rasd test
	host_uuid = "$uuid"
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	cat >/etc/libvirt/qemu.conf <<-EOF
	# private libvirtd of a rasd test
	stdio_handler = "file"
	cgroup_controllers = [ ]
	security_driver = "none"
	EOF
	# In the nested KVM host (tests/kvmhost) the root is 9p + overlay:
	# a private /dev per domain would hide /dev/kvm and /dev/null from QEMU.
	[ -n "${KVMHOST:-}" ] && echo 'namespaces = [ ]' >>/etc/libvirt/qemu.conf
	cat >"$VIRT_RASD_CONF" <<-EOF
	# rasd for a libvirt test: QEMU (libvirt-qemu, group kvm) connects.
	socket_group = kvm
	socket_mode = 0660
	EOF
	"$VIRT_REPO/deploy/libvirt/install.sh" --hooks-dir /etc/libvirt/hooks \
	    --conf "$VIRT_HOOK_CONF" >"$VIRT_ROOT/install.out" 2>&1 || return 1
	cat >"$VIRT_HOOK_CONF" <<-EOF
	RASCTL=$(virt_abs "$RASCTL_BIN")
	SOCKET=$SOCK
	REQUIRED=no
	LOG=$VIRT_HOOK_LOG
	SHIM=$VIRT_SHIM
	EOF
}

# virt_hook_set KEY VALUE: set one of the hook's settings.
virt_hook_set() {
	if grep -q "^$1=" "$VIRT_HOOK_CONF"; then
		sed -i "s|^$1=.*|$1=$2|" "$VIRT_HOOK_CONF"
	else
		echo "$1=$2" >>"$VIRT_HOOK_CONF"
	fi
}

# Start libvirtd (and virtlogd first) and wait until it answers.
virt_start() {
	local i
	if [ -z "$VIRTLOGD_PID" ]; then
		virtlogd -p /run/libvirt/virtlogd.pid \
		    >>"$VIRT_ROOT/virtlogd.out" 2>&1 &
		VIRTLOGD_PID=$!
	fi
	libvirtd -p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf \
	    >>"$VIRT_ROOT/libvirtd.out" 2>&1 &
	LIBVIRTD_PID=$!
	# The first start probes QEMU's capabilities: 7-12 s here. Waits are
	# bounded by the clock, not by a count of tries: in the nested host
	# every try (a fork of virsh) itself takes a good part of a second.
	local end=$(( EPOCHSECONDS + 60 * TIME_SCALE ))
	while [ "$EPOCHSECONDS" -lt "$end" ]; do
		vsh list >/dev/null 2>&1 && return 0
		kill -0 "$LIBVIRTD_PID" 2>/dev/null ||
		    { echo "# libvirtd died"; LIBVIRTD_PID=; return 1; }
		sleep 0.1
	done
	echo "# libvirtd did not answer within $((60 * TIME_SCALE)) s"
	return 1
}

# Stop libvirtd (TERM; KILL after 10 s); its domains keep running.
virt_stop_libvirtd() {
	local i
	[ -n "$LIBVIRTD_PID" ] || return 0
	kill -TERM "$LIBVIRTD_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$LIBVIRTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$LIBVIRTD_PID" 2>/dev/null
	wait "$LIBVIRTD_PID" 2>/dev/null
	LIBVIRTD_PID=
}

# Restart libvirtd under the running domains (hook: "reconnect"); the
# event recorder, cut off with the old daemon, reconnects.
virt_restart_libvirtd() {
	virt_stop_libvirtd
	virt_start || return 1
	if [ -n "$VIRT_EVENTS_PID" ]; then
		kill "$VIRT_EVENTS_PID" 2>/dev/null
		wait "$VIRT_EVENTS_PID" 2>/dev/null
		virt_events_start
	fi
}

# virt_share FILE: copy FILE into $VIRT_SHARE, readable by QEMU; print it.
virt_share() {
	local dst
	dst=$VIRT_SHARE/$(basename "$1")
	[ "$1" -ef "$dst" ] || cp "$1" "$dst" || return 1
	chmod 0644 "$dst"
	echo "$dst"
}

virt_serial() { echo "$VIRT_SHARE/$1.serial"; }
virt_qemu_log() { echo "/var/log/libvirt/qemu/$1.log"; }
virt_qemu_pid() { cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }

# virt_define_guest NAME IMG [--shim PATH] [--socket PATH] [--env N=V]...:
# define NAME; each --env goes into QEMU's environment with the shim's.
virt_define_guest() {
	local name=$1 img=$2 shim='' sock=$SOCK disk xml ns='' env='' extra=''
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--shim) shim=$2; shift 2 ;;
		--socket) sock=$2; shift 2 ;;
		--env) extra="$extra
    <qemu:env name='${2%%=*}' value='${2#*=}'/>"; shift 2 ;;
		*) echo "# virt_define_guest: bad option $1"; return 1 ;;
		esac
	done
	disk=$VIRT_SHARE/$name.img
	cp "$img" "$disk" && chmod 0644 "$disk" || return 1
	: >"$(virt_serial "$name")"
	if [ -n "$shim" ]; then
		case $shim in
		"$VIRT_SHARE"/*) ;;
		*) shim=$(virt_share "$shim") || return 1 ;;
		esac
		ns=" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
		env="  <qemu:commandline>
    <qemu:env name='LD_PRELOAD' value='$shim'/>
    <qemu:env name='RASD_SOCKET' value='$sock'/>$extra
  </qemu:commandline>"
	fi
	virt_write_domain "$name" "$disk" "$ns" "$env"
}

# virt_rom DISK: the firmware image (tests/tools/guest-rom.S) that runs the
# boot sector DISK starts with, shared with QEMU; nothing if none is built.
virt_rom() {
	local r
	for r in "$B"/tests/tools/*-guest.rom; do
		[ -f "$r" ] && cmp -s -n 512 "$1" "$r" && { virt_share "$r"; return; }
	done
	echo "# virt_rom: no firmware image for $1: SeaBIOS boots it" >&2
}

# virt_write_domain NAME DISK NS ENV [XML]: define the test guest (q35, 128 MiB,
# 1 vCPU, KVM, with ACPI like every real domain: without it libvirt 9.0
# passes -no-acpi, which QEMU 10 removed; DISK as raw SATA, COM1 into a
# file), with NS added to <domain> and ENV (a <qemu:commandline> block, or
# "") inside it. The guest's firmware is the boot sector's own ROM
# (virt_rom), not SeaBIOS: it never enables interrupts, which the nested
# host's emulated SVM now and then delivers wrongly to real-mode code.
# XML (e.g. <memoryBacking>) goes in after <vcpu>. Shared with
# libvirt2-lib.sh.
virt_write_domain() {
	local name=$1 disk=$2 ns=$3 env=$4 more=${5:-} xml rom loader=''
	xml=$VIRT_ROOT/$name.xml
	rom=$(virt_rom "$disk")
	[ -z "$rom" ] || loader="<loader type='rom'>$rom</loader>"
	cat >"$xml" <<-EOF
	<domain type='kvm'$ns>
	  <name>$name</name>
	  <memory unit='MiB'>128</memory>
	  <vcpu>1</vcpu>
	  $more
	  <os>
	    <type arch='x86_64' machine='q35'>hvm</type>
	    $loader
	    <boot dev='hd'/>
	  </os>
	  <features>
	    <acpi/>
	    <apic/>
	  </features>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>restart</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>$VIRT_QEMU</emulator>
	    <disk type='file' device='disk'>
	      <driver name='qemu' type='raw'/>
	      <source file='$disk'/>
	      <target dev='sda' bus='sata'/>
	    </disk>
	    <controller type='usb' model='none'/>
	    <serial type='file'>
	      <source path='$(virt_serial "$name")'/>
	      <target port='0'/>
	    </serial>
	    <memballoon model='none'/>
	  </devices>
	$env
	</domain>
	EOF
	vsh define "$xml" >/dev/null
}

# peek PID HVA: "ok" when QEMU's page at HVA reads, "EIO" when it is
# poisoned (hardware poison or a marker), else the error.
peek() {
	local out
	if out=$(dd if="/proc/$1/mem" of=/dev/null bs=4096 count=1 \
	    skip=$(( $2 / 4096 )) 2>&1); then
		echo ok
	elif grep -q "Input/output error" <<<"$out"; then
		echo EIO
	else
		tail -1 <<<"$out"
	fi
}
# peek3 PID HVA: peek of the page before HVA, of HVA's, of the next.
peek3() {
	[ -n "$2" ] || { echo "no host address"; return; }
	echo "$(peek "$1" $(( $2 - 4096 ))) $(peek "$1" "$2") $(peek "$1" $(( $2 + 4096 )))"
}
# map_of PID HVA: the permissions and path of PID's mapping holding HVA.
map_of() {
	local range perms path
	while read -r range perms _ _ _ path; do
		if (( $2 >= 16#${range%-*} && $2 < 16#${range#*-} )); then
			echo "$perms $path"
			return
		fi
	done <"/proc/$1/maps"
}

# virt_wait_file FILE TEXT COUNT SECONDS: COUNT lines of FILE hold TEXT.
# SECONDS (times TIME_SCALE) are wall-clock time, whatever each try costs.
virt_wait_file() {
	local n end=$(( EPOCHSECONDS + $4 * TIME_SCALE ))
	while :; do
		n=$(grep -acF -- "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "$3" ] && return 0
		[ "$EPOCHSECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# virt_wait_serial NAME TEXT [COUNT [SECONDS]]
virt_wait_serial() {
	virt_wait_file "$(virt_serial "$1")" "$2" "${3:-1}" "${4:-20}"
}

# virt_wait_ready NAME [COUNT]: wait until the guest's COM1 has COUNT (1)
# READY lines: its first boot, or COUNT-1 reboots. In the nested KVM host a
# guest's SeaBIOS is now and then caught in the nested SVM's #UD loop
# (tests/kvmhost/README, Limits) and never gets to its boot sector; a reset
# gets it out. So when READY does not come within 60 s (times TIME_SCALE),
# the guest is reset once, saying so, and waited for again; the reboot
# event that reset causes is left out of what virt_wait_event looks at
# from then on.
virt_wait_ready() {
	local end want=${2:-1}
	end=$(( $(date +%s) + 60 * TIME_SCALE ))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ "$(grep -ac READY "$(virt_serial "$1")" 2>/dev/null)" -ge "$want" ] &&
		    return 0
		sleep 0.5
	done
	echo "# $1: no READY on COM1 in $((60 * TIME_SCALE)) s; its vCPU:"
	timeout 30 virsh -c "$VIRT_URI" qemu-monitor-command "$1" --hmp \
	    "info registers" 2>&1 | head -3 | sed 's/^/#   /'
	echo "# resetting $1 once (the nested SVM's #UD loop in SeaBIOS?)"
	vsh reset "$1" >/dev/null || return 1
	end=$(( $(date +%s) + 60 * TIME_SCALE ))
	while [ "$(date +%s)" -lt "$end" ]; do
		if [ "$(grep -ac READY "$(virt_serial "$1")" 2>/dev/null)" -ge "$want" ]; then
			sleep 1
			VIRT_EVENTS_FROM=$(wc -l <"$VIRT_EVENTS")
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# virt_wait_log NAME TEXT [SECONDS]: wait for TEXT in QEMU's log.
virt_wait_log() {
	virt_wait_file "$(virt_qemu_log "$1")" "$2" 1 "${3:-10}"
}

# Record every domain event into $VIRT_EVENTS, with timestamps.
virt_events_start() {
	stdbuf -oL virsh -c "$VIRT_URI" event --all --loop --timestamp \
	    >>"$VIRT_EVENTS" 2>&1 &
	VIRT_EVENTS_PID=$!
	sleep 0.3
}

# virt_wait_event REGEX [SECONDS]: wait for an event line matching REGEX.
virt_wait_event() {
	local end=$(( EPOCHSECONDS + ${2:-10} * TIME_SCALE ))
	while :; do
		tail -n +$(( ${VIRT_EVENTS_FROM:-0} + 1 )) "$VIRT_EVENTS" 2>/dev/null |
		    grep -qE -- "$1" && return 0
		[ "$EPOCHSECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# Show what libvirt, QEMU and the hook said (after a failure).
virt_dump_logs() {
	local f
	for f in "$VIRT_ROOT/libvirtd.out" /var/log/libvirt/libvirtd.log \
	    /var/log/libvirt/qemu/*.log "$VIRT_HOOK_LOG" "$VIRT_EVENTS" \
	    "$VIRT_SHARE"/*.serial "$VIRT_ROOT"/*.regs; do
		[ -s "$f" ] || continue
		echo "# $f:"
		tail -25 "$f" | tr -d '\r' | sed 's/^/#   /'
	done
}

# Destroy every domain, stop libvirtd and virtlogd, unmount.
virt_cleanup() {
	local n p f i
	if [ -n "$LIBVIRTD_PID" ]; then
		# Where each running guest's vCPU is (a guest that never printed
		# READY: stuck in SeaBIOS or in the boot sector?).
		if [ "$failures" -ne 0 ] || [ -n "${RAS_KEEP_TMP:-}" ]; then
			for n in $(vsh list --name 2>/dev/null); do
				timeout 30 virsh -c "$VIRT_URI" qemu-monitor-command "$n" \
				    --hmp "info registers" 2>&1 | head -8 \
				    >"$VIRT_ROOT/$n.regs"
			done
		fi
		for n in $(vsh list --name 2>/dev/null); do
			vsh destroy "$n" >/dev/null 2>&1
		done
	fi
	# QEMU outlives libvirtd: kill any left, by the pid in its pid file
	# (driver.pid there is libvirtd's own).
	for f in /run/libvirt/qemu/*.pid; do
		[ -f "$f" ] && [ "${f##*/}" != driver.pid ] || continue
		p=$(cat "$f" 2>/dev/null)
		case $(cat "/proc/$p/comm" 2>/dev/null) in
		qemu*) kill -KILL "$p" ;;
		esac
	done
	if [ -n "$VIRT_EVENTS_PID" ]; then
		kill "$VIRT_EVENTS_PID" 2>/dev/null
		wait "$VIRT_EVENTS_PID" 2>/dev/null
	fi
	virt_stop_libvirtd
	if [ -n "$VIRTLOGD_PID" ]; then
		kill -TERM "$VIRTLOGD_PID" 2>/dev/null
		wait "$VIRTLOGD_PID" 2>/dev/null
	fi
	if [ "$failures" -ne 0 ] || [ -n "${RAS_KEEP_TMP:-}" ]; then
		virt_dump_logs
	fi
	for i in $VIRT_MOUNTS; do umount -l "$i" 2>/dev/null; done
}

trap 'virt_cleanup; cleanup' EXIT
virt_setup || { notok "private libvirt directories"; exit 1; }
