# tests/e2e/lib.sh -- helpers for shell end-to-end tests. Each test starts
# the real rasd on a private socket and state directory, drives ras-vmmsim
# and rasctl as an operator would, and prints "ok - ..." / "not ok - ...".
set -u
RASD_BIN=${RASD_BIN:-build/bin/rasd}
RASCTL_BIN=${RASCTL_BIN:-build/bin/rasctl}
VMMSIM_BIN=${VMMSIM_BIN:-build/bin/ras-vmmsim}
DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)
T=$(mktemp -d /tmp/rasd-e2e-XXXXXX)
SOCK=$T/rasd.sock
STATE=$T/state
RASD_LOG=$T/rasd.log
RASD_PID=
failures=0

cleanup() {
	local p
	[ -n "$RASD_PID" ] && stop_rasd TERM
	for p in $(jobs -p) ${SIM_PID:-}; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	# Sanitizer builds (make asan-check): any report in rasd's log fails.
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$RASD_LOG" 2>/dev/null; then
		notok "sanitizer report in rasd's log"
	fi
	if [ "$failures" -eq 0 ] && [ -z "${RAS_KEEP_TMP:-}" ]; then
		rm -rf "$T"
	else
		echo "# state kept in $T"
		echo "# rasd log:"; sed 's/^/#   /' "$RASD_LOG" 2>/dev/null | tail -40
	fi
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failures=$((failures + 1)); }
skip() { echo "skip - $*"; }

# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
	local d=$1; shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}

# expect_eq DESCRIPTION GOT WANT
expect_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else notok "$1: got '$2', want '$3'"; fi
}
# expect_match DESCRIPTION TEXT PATTERN (grep -E)
expect_match() {
	if grep -qE -- "$3" <<<"$2"; then ok "$1"; else notok "$1: '$2' lacks /$3/"; fi
}

# Start rasd in the foreground on the private socket; wait until it listens.
# RASD_LIBVIRT=URI makes it watch libvirt; otherwise --no-libvirt.
start_rasd() {
	local virt=--no-libvirt
	[ -n "${RASD_LIBVIRT:-}" ] && virt=--libvirt=$RASD_LIBVIRT
	"$RASD_BIN" --foreground "$virt" --socket "$SOCK" \
	    --state-dir "$STATE" "$@" >>"$RASD_LOG" 2>&1 &
	RASD_PID=$!
	local i
	for i in $(seq 1 300); do
		[ -S "$SOCK" ] && "$RASCTL_BIN" --socket "$SOCK" list-vms \
		    >/dev/null 2>&1 && return 0
		kill -0 "$RASD_PID" 2>/dev/null || { echo "# rasd died"; return 1; }
		sleep 0.02
	done
	echo "# rasd did not come up"; return 1
}

# Stop rasd: clean (TERM, must exit 0) or hard (KILL, as a crash).
stop_rasd() {
	local sig=${1:-TERM} rc
	[ -n "$RASD_PID" ] || return 0
	kill -"$sig" "$RASD_PID" 2>/dev/null
	wait "$RASD_PID" 2>/dev/null
	rc=$?
	RASD_PID=
	if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
		notok "rasd exited with status $rc on SIGTERM"
	fi
}

rasctl() { "$RASCTL_BIN" --socket "$SOCK" "$@"; }
vmmsim() { "$VMMSIM_BIN" --socket "$SOCK" "$@"; }

# poison_json VM: rasctl list-poison --json
poison_json() { rasctl --json list-poison "$1"; }

# Waits are stretched where everything runs slower: in the nested KVM host
# (tests/kvmhost) all of userspace is emulated by TCG.
TIME_SCALE=${RAS_TIME_SCALE:-1}
[ -n "${KVMHOST:-}" ] && TIME_SCALE=${RAS_TIME_SCALE:-4}

# Wait until COMMAND succeeds (up to ~5 s, times TIME_SCALE).
wait_for() {
	local i
	for i in $(seq 1 $(( 250 * TIME_SCALE ))); do "$@" && return 0; sleep 0.02; done
	return 1
}

# within SECONDS COMMAND...: retry COMMAND until it succeeds, for at most
# SECONDS (times TIME_SCALE) of wall-clock time (each try may itself block).
within() {
	local end=$(( $(date +%s%N) + $1 * TIME_SCALE * 1000000000 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
