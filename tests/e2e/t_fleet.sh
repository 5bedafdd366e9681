#!/usr/bin/env bash
# Fleet state in etcd (fleet/, rasd.conf(5) etcd_endpoints): a real etcd
# (Debian's etcd-server) on loopback ports and two real rasd, host-a and
# host-b, each with a VM from ras-vmmsim. Both publish their record under
# /rasd/hosts/ on a lease, with its fields (identity, what their VMMs can
# inject, free memory, VMs with their pinned profiles); `rasctl fleet
# hosts` lists both. kill -9 of host-b's rasd: its record goes with its
# lease, its VM stays listed as unknown (held/), and it comes back when
# rasd restarts. etcd stopped: rasd keeps answering forwards and rasctl,
# logs once, and republishes when etcd returns (even from an empty data
# directory, under a new lease).
# needs:
. "$(dirname "$0")/lib.sh"

for t in etcd etcdctl jq; do
	if ! command -v "$t" >/dev/null; then
		why="missing $t (Debian packages etcd-server, etcd-client, jq; tools/deps.sh installs them)"
		if [ "${CI:-}" = true ]; then notok "$why"; else
			echo "# SKIPPING t_fleet: $why" >&2; skip "$why"; fi
		exit 0
	fi
done

TTL=6
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
CPORT=$(free_port); PPORT=$(free_port)
EP=http://127.0.0.1:$CPORT
ETCD_PID=
start_etcd() {
	etcd --name t --data-dir "$T/etcd" --listen-client-urls "$EP" \
	    --advertise-client-urls "$EP" \
	    --listen-peer-urls "http://127.0.0.1:$PPORT" \
	    --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	    --initial-cluster "t=http://127.0.0.1:$PPORT" \
	    >>"$T/etcd.log" 2>&1 &
	ETCD_PID=$!
	within 20 ectl endpoint health >/dev/null 2>&1
}
stop_etcd() { kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=; }
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EP" --command-timeout=2s "$@"; }
value() { ectl get --print-value-only "$1" 2>/dev/null; }
has_key() { [ -n "$(ectl get --keys-only "$1" 2>/dev/null)" ]; }
no_key() { ectl get --keys-only "$1" >"$T/nokey" 2>&1 && [ ! -s "$T/nokey" ]; }

# host B: a second rasd with its own socket, state and log.
SOCK_B=$T/b.sock STATE_B=$T/state-b LOG_B=$T/rasd-b.log PID_B=
start_b() {
	"$RASD_BIN" --foreground --no-libvirt -c "$T/b.conf" --socket "$SOCK_B" \
	    --state-dir "$STATE_B" >>"$LOG_B" 2>&1 &
	PID_B=$!
	wait_for "$RASCTL_BIN" --socket "$SOCK_B" list-vms >/dev/null 2>&1
}
cleanup_fleet() {
	[ -n "$PID_B" ] && kill "$PID_B" 2>/dev/null
	[ -n "$ETCD_PID" ] && stop_etcd
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG_B" 2>/dev/null; then
		notok "sanitizer report in host-b's log"
	fi
	[ "$failures" -eq 0 ] || { echo "# host-b log:"; tail -30 "$LOG_B" | sed 's/^/#   /'; }
	cleanup
}
trap cleanup_fleet EXIT

for h in a b; do
	printf 'etcd_endpoints = %s\nfleet_host_id = host-%s\nfleet_ttl = %s\n' \
	    "$EP" "$h" "$TTL" >"$T/$h.conf"
done

# --- etcd down at start: rasd starts and serves all the same ----------------
check "rasd starts while etcd is not running" start_rasd -c "$T/a.conf"
check "... and logs that etcd does not answer" \
	wait_for grep -q "fleet: etcd does not answer" "$RASD_LOG"
check "start etcd on 127.0.0.1:$CPORT" start_etcd
check "host-a publishes once etcd is up" within 10 has_key /rasd/hosts/host-a
check "start host-b" start_b

# --- both publish, with the record's fields ---------------------------------
vmmsim --name vm-a --arch x86_64 --declare 1:MCE --caps MCE --hold \
    >"$T/sim-a.out" 2>&1 &
SIM_A=$!
"$VMMSIM_BIN" --socket "$SOCK_B" --name vm-b --arch arm64 --declare 1:SEA \
    --declare 2:GSIV --caps SEA,GSIV,GPIO --hold >"$T/sim-b.out" 2>&1 &
SIM_B=$!
rec_has() { value "/rasd/hosts/$1" | jq -e "$2" >/dev/null 2>&1; }
check "host-a's record lists vm-a, running, pinned MCE" within 10 rec_has host-a \
	'.vms | map(select(.name == "vm-a" and .state == "running" and .profile_pinned and .profile == ["MCE"])) | length == 1'
check "host-b's record lists vm-b with profile SEA,GSIV" within 10 rec_has host-b \
	'.vms[0].name == "vm-b" and .vms[0].profile == ["SEA","GSIV"] and .vms[0].arch == "arm64"'
rec=$(value /rasd/hosts/host-b)
expect_eq "host-b: what its VMMs inject, per architecture" \
	"$(jq -c .inject <<<"$rec")" '{"arm64":["GPIO","SEA","GSIV"]}'
expect_eq "host-b: host_id, hostname, boot id, version" \
	"$(jq -r '[.host_id, .hostname, .boot_id, .version] | join(" ")' <<<"$rec")" \
	"host-b $(hostname) $(cat /proc/sys/kernel/random/boot_id) 1"
mem=$(jq .mem_available <<<"$rec")
avail=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
check "host-b: mem_available ($mem) is MemAvailable (within 10%)" \
	awk -v m="$mem" -v a="$avail" 'BEGIN { d = m - a; if (d < 0) d = -d; exit !(m > 0 && d < a / 10) }'
expect_eq "host-b: health state healthy (no errors), no reasons" \
	"$(jq -c .health <<<"$rec")" '{"reasons":[],"state":"healthy"}'
lease=$(ectl get /rasd/hosts/host-b -w json | jq -r '.kvs[0].lease')
check "host-b's record is on a lease (TTL $TTL s)" \
	test -n "$lease" -a "$lease" != null -a "$lease" != 0
expect_eq "held/host-b (not leased) names vm-b" \
	"$(value /rasd/held/host-b | jq -r '.vms[].name')" vm-b
expect_eq "held/host-b has no lease" \
	"$(ectl get /rasd/held/host-b -w json | jq -r '.kvs[0].lease // 0')" 0

hosts_json() { rasctl --json fleet hosts; }
out=$(hosts_json)
expect_eq "rasctl fleet hosts --json: both up" \
	"$(jq -r 'map("\(.host)=\(.status)") | join(" ")' <<<"$out")" "host-a=up host-b=up"
expect_eq "... host-a is the one that answered" \
	"$(jq -r 'map(select(.self)) | .[0].host' <<<"$out")" host-a
out=$(rasctl fleet hosts)
expect_match "rasctl fleet hosts: a table with host-b up and arm64:GPIO,SEA,GSIV" \
	"$out" 'host-b +up +[a-z]+ +[0-9.]+[KMGT] +1 +arm64:GPIO,SEA,GSIV'
expect_match "... and vm-b running on host-b" "$out" 'vm-b +[0-9a-f-]{36} +host-b +running +arm64 +SEA,GSIV +yes'

# --- kill -9 host-b: its record goes with the lease, its VM stays unknown ---
kill -9 "$PID_B"; wait "$PID_B" 2>/dev/null; PID_B=
kill "$SIM_B" 2>/dev/null; wait "$SIM_B" 2>/dev/null
t0=$(date +%s)
check "host-b's record vanishes after the TTL" within $((TTL * 4)) no_key /rasd/hosts/host-b
el=$(( $(date +%s) - t0 ))
check "... not before the lease ran out (${el}s, TTL ${TTL}s)" test "$el" -ge $((TTL - 2))
out=$(hosts_json)
expect_eq "rasctl fleet hosts: host-b gone, its VM unknown" \
	"$(jq -r '.[] | select(.host == "host-b") | "\(.status) \(.vms[0].name) \(.vms[0].state)"' <<<"$out")" \
	"gone vm-b unknown"
expect_match "the table says so too" "$(rasctl fleet hosts)" 'vm-b +[0-9a-f-]{36} +host-b +unknown'

check "restart host-b's rasd" start_b
check "host-b is back" within 10 has_key /rasd/hosts/host-b
expect_eq "rasctl fleet hosts: host-b up again" \
	"$(hosts_json | jq -r '.[] | select(.host == "host-b") | .status')" up

# --- etcd stopped: rasd serves as usual; back: republished ------------------
downs=$(grep -c "fleet: etcd does not answer" "$RASD_LOG")
stop_etcd
t0=$(date +%s%N)
out=$(vmmsim --name vm-c --arch x86_64 --declare 1:MCE --caps MCE --ram 64M \
    --poison AR:0x100000 2>&1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_match "etcd down: a forward is answered (${ms} ms)" "$out" 'inject|MCE'
check "... promptly (under 2 s: nothing waits for etcd)" test "$ms" -lt 2000
expect_eq "... and recorded by rasd (one active range)" \
	"$(rasctl --json list-poison vm-c | jq length)" 1
check "rasctl list-vms answers" eval 'rasctl list-vms >/dev/null'
rasctl fleet hosts >"$T/down.out" 2>&1; rc=$?
expect_eq "rasctl fleet hosts fails (exit 1) while etcd is down" "$rc" 1
check "... saying etcd does not answer" grep -q "etcd" "$T/down.out"
logged_down() { [ "$(grep -c "fleet: etcd does not answer" "$RASD_LOG")" -gt "$downs" ]; }
check "rasd logs that etcd does not answer" within 10 logged_down
sleep $((TTL + 1))
n=$(( $(grep -c "fleet: etcd does not answer\|fleet: .* failed .* in a row" "$RASD_LOG") - downs ))
check "... rate-limited ($n lines over the outage)" test "$n" -le 3
check "start etcd again" start_etcd
check "host-a says etcd answers again" \
	within 15 grep -q "fleet: etcd answers again" "$RASD_LOG"
check "host-a's record is there (vm-c in it)" within 10 rec_has host-a \
	'.vms | map(.name) | index("vm-c") != null'
check "host-b's record is there" within 10 has_key /rasd/hosts/host-b
# vm-c's AR (1 / 24h uncorrected: degraded, rasd.conf(5)) made while
# etcd was down is in host-a's record, with its reason.
check "host-a's record says degraded, with the reason" within 10 rec_has host-a \
	'.health.state == "degraded" and (.health.reasons | map(select(test("uncorrected"))) | length) >= 1'
expect_eq "rasctl fleet hosts --json says so" \
	"$(hosts_json | jq -r '.[] | select(.host == "host-a") | .health')" degraded

# A wiped etcd (its lease forgotten): a new lease, the record put again.
stop_etcd
rm -rf "$T/etcd"
check "start an empty etcd" start_etcd
check "host-a republishes under a new lease" within 20 has_key /rasd/hosts/host-a
check "host-b too" within 20 has_key /rasd/hosts/host-b
check "held/host-a is written again" within 10 has_key /rasd/held/host-a
check "host-a logged the new lease" grep -q "granting a new one\|lease .* expired\|lease .* granted" "$RASD_LOG"

# --- configuration -----------------------------------------------------------
printf 'etcd_endpoints = https://127.0.0.1:%s\n' "$CPORT" >"$T/bad.conf"
"$RASD_BIN" -n -c "$T/bad.conf" >/dev/null 2>"$T/bad.err"; rc=$?
expect_eq "etcd_endpoints must be http:// (exit 2)" "$rc" 2
NOFLEET_SOCK=$T/nofleet.sock
"$RASD_BIN" --foreground --no-libvirt --socket "$NOFLEET_SOCK" \
    --state-dir "$T/state-nofleet" >>"$T/nofleet.log" 2>&1 &
NF=$!
wait_for "$RASCTL_BIN" --socket "$NOFLEET_SOCK" list-vms >/dev/null 2>&1
"$RASCTL_BIN" --socket "$NOFLEET_SOCK" fleet hosts >"$T/nf.out" 2>&1; rc=$?
kill "$NF"; wait "$NF" 2>/dev/null
expect_eq "without etcd_endpoints, fleet hosts fails (exit 1)" "$rc" 1
check "... saying etcd_endpoints is not set" grep -q "etcd_endpoints is not set" "$T/nf.out"

kill "$SIM_A" 2>/dev/null
