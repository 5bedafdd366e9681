# tests/e2e/libvirt2-lib.sh -- two libvirt "hosts" on this machine, for
# live-migration end-to-end tests. Source it after lib.sh and
# libvirt-lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/libvirt-lib.sh"
#	. "$(dirname "$0")/libvirt2-lib.sh"
#	mig_start || { notok "hosts A and B start"; exit 1; }
#
# Host A is libvirt-lib.sh's private libvirtd: the test itself runs in A's
# mount namespace. Host B is a second libvirtd in a mount namespace of its
# own (TESTBED.md, "Two hosts on one machine"): `unshare --mount
# --propagation private` from A's, with B's private directories (under
# $B_ROOT) bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /var/log/libvirt, its own host_uuid, and other
# migration ports. From A's namespace, B's files are reached through those
# backing directories: b_path /var/lib/libvirt/x prints where B's
# /var/lib/libvirt/x is seen from here. B's libvirtd listens on
# $B_RUN/libvirt-sock, so from A (the test) it is
# $B_URI = qemu+unix:///system?socket=$B_RUN/libvirt-sock, and B reaches
# A at $A_URI_FROM_B (A's socket through A's backing directory).
#
# Each host has its own rasd. A's is lib.sh's (start_rasd) on $SOCK =
# /var/lib/libvirt/rasd/rasd.sock in A's namespace; B's listens on the
# same path in B's namespace ($B_SOCK from here): the shim reads the
# socket from the domain XML (<qemu:env name='RASD_SOCKET'>), and a
# migrated domain keeps its XML, so the path must mean "this host's rasd"
# on both. Both rasd's read a config (mig_rasd_conf) with socket_group =
# kvm, socket_mode = 0660, the same fleet key ($MIG_FLEET_KEY) and their
# own peer_listen ($T/a-peer.sock, $T/b-peer.sock); the peer lines come
# from $MIG_RASD_PEER_CONF (set it empty to leave them out), with mutual
# TLS: host certificates from one CA made here (tls-lib.sh, $T/pki, host-a
# and host-b). Both watch their libvirt (A: qemu:///system, B: $B_URI).
#
# The hook (deploy/libvirt/install.sh) is installed on both hosts as
# /etc/libvirt/hooks/qemu with settings in /etc/libvirt/rasd-hook.conf;
# B's has REQUIRED=yes and SOCKET = B's rasd as seen from B's namespace.
#
# What the test gets (besides libvirt-lib.sh's A side):
#   mig_start                 start B's libvirtd (in parallel with A's
#                             virt_start, which it calls), wait for both
#                             and have both probe QEMU's capabilities
#   vsh_b ARGS...             virsh on B
#   b_path PATH               B's PATH as seen from A's namespace
#   b_qemu_pid NAME, b_qemu_log NAME, b_serial NAME (a path seen from A)
#   b_events_start; b_wait_event REGEX [SECONDS]  (into $B_EVENTS)
#   b_hook_set KEY VALUE      change B's hook settings
#   mig_define_guest NAME IMG [--shim PATH] [--env NAME=VALUE]...
#                             define NAME on A (as virt_define_guest, plus
#                             any extra <qemu:env>) and put its disk and
#                             serial file at the same paths on B
#   mig_migrate NAME FROM_URI TO_URI [VIRSH-MIGRATE-OPTIONS...]
#                             virsh migrate --live --p2p --persistent
#                             --undefinesource --unsafe; its output in $MIG_OUT,
#                             its time in $MIG_MS (ms), status returned
#   mig_downtime EVENTS NAME  QEMU's downtime (ms) of NAME's last completed
#                             migration job, from the source's event log
#                             ($VIRT_EVENTS or $B_EVENTS: job-completed;
#                             domjobinfo --completed cannot tell once
#                             --undefinesource removed the domain)
#   mig_rasd_conf FILE HOST   write rasd's config for host a or b
#   start_rasd_b ARGS...; stop_rasd_b [SIG]; rasctl_b ARGS...
#                             B's rasd: socket $B_SOCK, state $B_STATE,
#                             log $B_RASD_LOG, pid $B_RASD_PID; rasctl_b
#                             gives up after 2 s
# At exit B's domains are destroyed and its QEMUs, libvirtd and rasd are
# stopped by pid, before libvirt-lib.sh's and lib.sh's cleanup.

B_ROOT=$T/virtb
# mig_backing DIR: the backing directory of one of B's private mounts.
mig_backing() { echo "$B_ROOT/mnt${1//\//_}"; }
B_RUN=$(mig_backing /run/libvirt)
B_URI="qemu+unix:///system?socket=$B_RUN/libvirt-sock"
A_URI=qemu:///system
A_URI_FROM_B="qemu+unix:///system?socket=$VIRT_ROOT/mnt_run_libvirt/libvirt-sock"
B_NS_SCRIPT=$B_ROOT/b-ns.sh
B_SOCK_IN_B=$VIRT_SHARE/rasd.sock
B_LIBVIRTD_PID='' B_EVENTS_PID='' B_RASD_PID=''
B_EVENTS=$B_ROOT/events.log
B_STATE=$T/bstate
B_RASD_LOG=$T/b-rasd.log
MIG_FLEET_KEY=$T/fleet.key
A_RASD_CONF=$T/a-rasd.conf
B_RASD_CONF=$T/b-rasd.conf
# The peer (final sync) settings of each rasd; "%s" is the host, a or b.
# Empty: the rasd's run without them.
MIG_RASD_PEER_CONF=${MIG_RASD_PEER_CONF-"peer_listen = $T/%s-peer.sock"}
MIG_OUT='' MIG_MS=''

# b_path PATH: where B's PATH is, seen from A's namespace.
b_path() {
	local d
	for d in $VIRT_MOUNTS; do
		case $1 in
		"$d"|"$d"/*) echo "$(mig_backing "$d")${1#"$d"}"; return 0 ;;
		esac
	done
	echo "$1"
}
B_SOCK=$(b_path "$B_SOCK_IN_B")
B_SHARE=$(b_path "$VIRT_SHARE")
B_HOOK_CONF=$(b_path "$VIRT_HOOK_CONF")
B_HOOK_LOG=$(b_path "$VIRT_HOOK_LOG")

vsh_b() { virsh -q -c "$B_URI" "$@"; }
rasctl_b() { "$RASCTL_BIN" --socket "$B_SOCK" --timeout 2 "$@"; }
b_qemu_pid() { cat "$B_RUN/qemu/$1.pid" 2>/dev/null; }
b_qemu_log() { b_path "/var/log/libvirt/qemu/$1.log"; }
b_serial() { b_path "$(virt_serial "$1")"; }

# B's directories, configuration and hook, written from A's namespace
# into the backing directories, then the helper that enters B's namespace.
mig_setup_b() {
	local d uuid
	for d in $VIRT_MOUNTS; do
		mkdir -p "$(mig_backing "$d")" || return 1
	done
	chmod 0755 "$(b_path /etc/libvirt)" "$B_RUN" "$(b_path /var/lib/libvirt)" \
	    "$(b_path /var/log/libvirt)"
	chmod 0711 "$(b_path /var/cache/libvirt)"
	mkdir -p "$(b_path /etc/libvirt/hooks)" "$(b_path /var/lib/libvirt/qemu)" \
	    "$(b_path /var/lib/libvirt/images)" "$(b_path /var/cache/libvirt/qemu)" \
	    "$(b_path /var/log/libvirt/qemu)" "$B_SHARE" || return 1
	chown libvirt-qemu:libvirt-qemu "$(b_path /var/lib/libvirt/qemu)"
	chmod 0750 "$(b_path /var/lib/libvirt/qemu)"
	chmod 0711 "$(b_path /var/lib/libvirt/images)" "$(b_path /var/cache/libvirt/qemu)"
	chmod 0755 "$B_SHARE"
	uuid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$(b_path /etc/libvirt/libvirtd.conf)" <<-EOF
	# private libvirtd of a rasd test: host B
	host_uuid = "$uuid"
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	cat >"$(b_path /etc/libvirt/qemu.conf)" <<-EOF
	# private libvirtd of a rasd test: host B
	stdio_handler = "file"
	cgroup_controllers = [ ]
	security_driver = "none"
	migration_port_min = 49400
	migration_port_max = 49431
	EOF
	[ -n "${KVMHOST:-}" ] && echo 'namespaces = [ ]' >>"$(b_path /etc/libvirt/qemu.conf)"
	# The hook: the settings path is baked in as /etc/libvirt/rasd-hook.conf,
	# which in B's namespace is B's file.
	"$VIRT_REPO/deploy/libvirt/install.sh" \
	    --hooks-dir "$(b_path /etc/libvirt/hooks)" --conf "$VIRT_HOOK_CONF" \
	    >"$B_ROOT/install.out" 2>&1 || return 1
	cat >"$B_HOOK_CONF" <<-EOF
	RASCTL=$(virt_abs "$RASCTL_BIN")
	SOCKET=$B_SOCK_IN_B
	REQUIRED=yes
	LOG=$VIRT_HOOK_LOG
	SHIM=$VIRT_SHIM
	EOF
	# Run a command in B's namespace: a new mount namespace (from A's)
	# with B's directories mounted; exec keeps the pid.
	cat >"$B_NS_SCRIPT" <<-EOF
	#!/bin/bash
	# Enter host B: unshare --mount --propagation private -- bash $B_NS_SCRIPT CMD...
	for d in $VIRT_MOUNTS; do
		src=$B_ROOT/mnt\${d//\\//_}
		mount --bind "\$src" "\$d" || exit 1
	done
	exec "\$@"
	EOF
	chmod 0755 "$B_NS_SCRIPT"
	# The fleet key both rasd's share, and their TLS certificates.
	(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$MIG_FLEET_KEY")
	. "$(dirname "${BASH_SOURCE[0]}")/tls-lib.sh"
	tls_ca "$T/pki/fleet" && tls_host "$T/pki/a" "$T/pki/fleet" host-a &&
	    tls_host "$T/pki/b" "$T/pki/fleet" host-b || return 1
}

# b_hook_set KEY VALUE: set one of B's hook settings.
b_hook_set() {
	if grep -q "^$1=" "$B_HOOK_CONF"; then
		sed -i "s|^$1=.*|$1=$2|" "$B_HOOK_CONF"
	else
		echo "$1=$2" >>"$B_HOOK_CONF"
	fi
}

# Start B's libvirtd in its namespace (no virtlogd: stdio_handler = "file").
b_start_libvirtd() {
	unshare --mount --propagation private -- bash "$B_NS_SCRIPT" \
	    libvirtd -p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf \
	    >>"$B_ROOT/libvirtd.out" 2>&1 &
	B_LIBVIRTD_PID=$!
}

# Wait (up to 60 s) until B's libvirtd answers.
b_wait_libvirtd() {
	local end=$(( EPOCHSECONDS + 60 * TIME_SCALE ))
	while [ "$EPOCHSECONDS" -lt "$end" ]; do
		vsh_b list >/dev/null 2>&1 && return 0
		kill -0 "$B_LIBVIRTD_PID" 2>/dev/null ||
		    { echo "# libvirtd B died"; B_LIBVIRTD_PID=; return 1; }
		sleep 0.1
	done
	echo "# libvirtd B did not answer within $((60 * TIME_SCALE)) s"
	return 1
}

b_stop_libvirtd() {
	local i
	[ -n "$B_LIBVIRTD_PID" ] || return 0
	kill -TERM "$B_LIBVIRTD_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$B_LIBVIRTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$B_LIBVIRTD_PID" 2>/dev/null
	wait "$B_LIBVIRTD_PID" 2>/dev/null
	B_LIBVIRTD_PID=
}

# Start both hosts' libvirtd: B's starts while A's virt_start waits. Each
# probes QEMU's capabilities (~3 s here) the first time a domain needs
# them -- on B that would be the first incoming migration: warm both now.
mig_start() {
	local p
	b_start_libvirtd
	virt_start || return 1
	b_wait_libvirtd || return 1
	vsh domcapabilities >/dev/null 2>&1 &
	p=$!
	vsh_b domcapabilities >/dev/null 2>&1
	wait "$p"
}

# Record B's domain events into $B_EVENTS, with timestamps.
b_events_start() {
	stdbuf -oL virsh -c "$B_URI" event --all --loop --timestamp \
	    >>"$B_EVENTS" 2>&1 &
	B_EVENTS_PID=$!
	sleep 0.3
}

# b_wait_event REGEX [SECONDS]
b_wait_event() {
	local end=$(( EPOCHSECONDS + ${2:-10} * TIME_SCALE ))
	while :; do
		grep -qE -- "$1" "$B_EVENTS" 2>/dev/null && return 0
		[ "$EPOCHSECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# mig_rasd_conf FILE HOST: a rasd config for host HOST (a or b).
mig_rasd_conf() {
	{
		echo "# rasd of host $2 in a migration test"
		echo "socket_group = kvm"
		echo "socket_mode = 0660"
		echo "fleet_key = $MIG_FLEET_KEY"
		[ -z "$MIG_RASD_PEER_CONF" ] ||
		    printf '%s\n' "${MIG_RASD_PEER_CONF//%s/$2}"
		[ -z "$MIG_RASD_PEER_CONF" ] || tls_conf "$T/pki/$2" "$T/pki/fleet"
	} >"$1"
}

# Start B's rasd, watching B's libvirt; wait until it answers.
start_rasd_b() {
	"$RASD_BIN" --foreground "--libvirt=$B_URI" --socket "$B_SOCK" \
	    --state-dir "$B_STATE" "$@" >>"$B_RASD_LOG" 2>&1 &
	B_RASD_PID=$!
	local i
	for i in $(seq 1 300); do
		[ -S "$B_SOCK" ] && rasctl_b list-vms >/dev/null 2>&1 && return 0
		kill -0 "$B_RASD_PID" 2>/dev/null || { echo "# rasd B died"; B_RASD_PID=; return 1; }
		sleep 0.02
	done
	echo "# rasd B did not come up"; return 1
}

# stop_rasd_b [SIG]: TERM must exit 0.
stop_rasd_b() {
	local sig=${1:-TERM} rc
	[ -n "$B_RASD_PID" ] || return 0
	kill -"$sig" "$B_RASD_PID" 2>/dev/null
	wait "$B_RASD_PID" 2>/dev/null
	rc=$?
	B_RASD_PID=
	if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
		notok "rasd B exited with status $rc on SIGTERM"
	fi
}

# mig_define_guest NAME IMG [--shim PATH] [--socket PATH] [--env N=V]...
mig_define_guest() {
	local name=$1 img=$2 shim='' sock=$SOCK disk xml ns='' env='' extra='' rom
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--shim) shim=$2; shift 2 ;;
		--socket) sock=$2; shift 2 ;;
		--env) extra="$extra
    <qemu:env name='${2%%=*}' value='${2#*=}'/>"; shift 2 ;;
		*) echo "# mig_define_guest: bad option $1"; return 1 ;;
		esac
	done
	disk=$VIRT_SHARE/$name.img
	cp "$img" "$disk" && chmod 0644 "$disk" || return 1
	# The same disk, firmware and serial file on B (no shared storage here).
	cp "$img" "$(b_path "$disk")" && chmod 0644 "$(b_path "$disk")" || return 1
	rom=$(virt_rom "$disk")
	[ -z "$rom" ] || { cp "$rom" "$(b_path "$rom")" &&
	    chmod 0644 "$(b_path "$rom")"; } || return 1
	: >"$(virt_serial "$name")"
	: >"$(b_serial "$name")"
	if [ -n "$shim" ]; then
		case $shim in
		"$VIRT_SHARE"/*) ;;
		*) shim=$(virt_share "$shim") || return 1 ;;
		esac
		# The shim at the same path on B.
		cp "$shim" "$(b_path "$shim")" && chmod 0644 "$(b_path "$shim")" ||
		    return 1
		ns=" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
		env="  <qemu:commandline>
    <qemu:env name='LD_PRELOAD' value='$shim'/>
    <qemu:env name='RASD_SOCKET' value='$sock'/>$extra
  </qemu:commandline>"
	fi
	virt_write_domain "$name" "$disk" "$ns" "$env"
}

# mig_migrate NAME FROM_URI TO_URI [OPTIONS...]: live peer-to-peer
# migration, persistent on the destination, undefined on the source.
# --unsafe: the guest's disk is a copy at the same path on each host, not
# shared storage (libvirt refuses "Migration without shared storage").
mig_migrate() {
	local name=$1 from=$2 to=$3 t0 rc
	shift 3
	t0=$(date +%s%N)
	MIG_OUT=$(timeout 120 virsh -q -c "$from" migrate --live --p2p \
	    --persistent --undefinesource --unsafe "$@" "$name" "$to" 2>&1)
	rc=$?
	MIG_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	return $rc
}

# mig_downtime EVENTS NAME: QEMU's downtime (ms) in the last job-completed
# event of NAME in an event log (virsh event --all --loop output).
mig_downtime() {
	awk -v d="'$2':" '
	/event .job-completed. for domain/ { on = (index($0, d) > 0); next }
	/^[0-9]/ { on = 0 }
	on && $1 == "downtime:" { v = $2 }
	END { if (v != "") print v }' "$1"
}

# Show what B's libvirt, QEMU, hook and rasd said (after a failure).
mig_dump_logs() {
	local f
	for f in "$B_ROOT/libvirtd.out" "$(b_path /var/log/libvirt/libvirtd.log)" \
	    "$(b_path /var/log/libvirt/qemu)"/*.log "$B_HOOK_LOG" "$B_EVENTS" \
	    "$B_SHARE"/*.serial "$B_RASD_LOG"; do
		[ -s "$f" ] || continue
		echo "# B: $f:"
		tail -25 "$f" | tr -d '\r' | sed 's/^/#   /'
	done
}

# Destroy B's domains, stop its QEMUs, libvirtd, event recorder and rasd.
mig_cleanup() {
	local n f p
	if [ -n "$B_LIBVIRTD_PID" ]; then
		for n in $(vsh_b list --name 2>/dev/null); do
			vsh_b destroy "$n" >/dev/null 2>&1
		done
	fi
	for f in "$B_RUN"/qemu/*.pid; do
		[ -f "$f" ] && [ "${f##*/}" != driver.pid ] || continue
		p=$(cat "$f" 2>/dev/null)
		case $(cat "/proc/$p/comm" 2>/dev/null) in
		qemu*) kill -KILL "$p" ;;
		esac
	done
	if [ -n "$B_EVENTS_PID" ]; then
		kill "$B_EVENTS_PID" 2>/dev/null
		wait "$B_EVENTS_PID" 2>/dev/null
	fi
	b_stop_libvirtd
	stop_rasd_b TERM
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$B_RASD_LOG" 2>/dev/null; then
		notok "sanitizer report in rasd B's log"
	fi
	if [ "$failures" -ne 0 ] || [ -n "${RAS_KEEP_TMP:-}" ]; then
		mig_dump_logs
	fi
}

trap 'mig_cleanup; virt_cleanup; cleanup' EXIT
mig_setup_b || { notok "host B's private libvirt directories"; exit 1; }
