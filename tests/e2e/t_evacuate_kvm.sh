#!/usr/bin/env bash
# needs: kvm qemu
# Evacuation end to end (fleet/evac.c): a real etcd and the two real
# libvirt hosts of libvirt2-lib.sh, each with its rasd publishing its
# record; A's rasd is also the fleet's controller (fleet_controller = on,
# fleet_migrate_unsafe = on: the guests' disks are copies, as in
# t_migrate). A shim-covered QEMU/KVM guest on A gets an AO memory error
# (ras-inject); B runs an x86_64 VMM that can inject MCE (a ras-vmmsim on
# B's rasd stands for the guests a real destination already runs, which
# is how a host's record says what it can take). The operator evacuates
# A: the dry run plans e1 to host-b, the controller writes the intent,
# live-migrates e1 through libvirt (peer to peer, from A's libvirt to
# B's), the poison arrives on B with the VM (rasctl list-poison on B), and
# the intent ends done after one attempt.
# Skips where root, KVM, libvirt or etcd are missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/libvirt2-lib.sh"

for t in etcd etcdctl jq; do
	if ! command -v "$t" >/dev/null; then
		why="missing $t (Debian packages etcd-server, etcd-client, jq)"
		if [ "${CI:-}" = true ]; then notok "$why"; else
			echo "# SKIPPING t_evacuate_kvm: $why" >&2; skip "$why"; fi
		exit 0
	fi
done

B=$(virt_abs "${B:-build}")
SHIM_BUILD=$(virt_abs "${RAS_SHIM_B:-$B}")
for f in "$SHIM_BUILD/lib/rasd-shim.so" "$B/tests/tools/ras-inject" \
    "$B/tests/tools/mce-guest.img"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done
INJECT=$B/tests/tools/ras-inject
GPA=0x6000000
T_START=$(date +%s)

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
etcd --name t --data-dir "$T/etcd" --listen-client-urls "$EP" \
    --advertise-client-urls "$EP" --listen-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "t=http://127.0.0.1:$PPORT" >>"$T/etcd.log" 2>&1 &
ETCD_PID=$!
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EP" --command-timeout=3s "$@"; }
value() { ectl get --print-value-only "$1" 2>/dev/null; }
check "etcd starts" within 30 eval 'ectl endpoint health >/dev/null 2>&1'

mig_start || { notok "libvirtd of hosts A and B start"; kill "$ETCD_PID"; exit 1; }
mig_rasd_conf "$A_RASD_CONF" a
mig_rasd_conf "$B_RASD_CONF" b
printf 'etcd_endpoints = %s\nfleet_host_id = host-a\nfleet_ttl = 10\nfleet_controller = on\nfleet_migrate_unsafe = on\n' \
    "$EP" >>"$A_RASD_CONF"
printf 'etcd_endpoints = %s\nfleet_host_id = host-b\nfleet_ttl = 10\n' "$EP" >>"$B_RASD_CONF"
RASD_LIBVIRT=$A_URI start_rasd --config "$A_RASD_CONF" ||
    { notok "rasd A starts, watching libvirt A"; kill "$ETCD_PID"; exit 1; }
start_rasd_b --config "$B_RASD_CONF" ||
    { notok "rasd B starts, watching libvirt B"; kill "$ETCD_PID"; exit 1; }
SHIM=$(virt_share "$SHIM_BUILD/lib/rasd-shim.so")
MCE_IMG=$(virt_share "$B/tests/tools/mce-guest.img")
echo "# hosts up after $(( $(date +%s) - T_START )) s"

rasctl_a() { "$RASCTL_BIN" --socket "$SOCK" --timeout 5 "$@"; }
vmst() { "$1" --json show "$2" 2>/dev/null | jq -r .state; }
is_vmst() { [ "$(vmst "$1" "$2")" = "$3" ]; }
nranges() { "$1" --json list-poison "$2" 2>/dev/null | jq length; }
ranges() {
	"$1" --json list-poison "$2" 2>/dev/null |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind) \(.action) \(.notification) \(.source_id)"'
}
running_on() { [ "$("$1" domstate "$2" 2>/dev/null | head -1)" = running ]; }

# --- e1 on A, poisoned --------------------------------------------------------
mig_define_guest e1 "$MCE_IMG" --shim "$SHIM" --env RASD_SHIM_REQUIRED=1
check "e1 starts on A" eval 'vsh start e1 >/dev/null'
check "e1's guest is ready" virt_wait_ready e1
check "rasd A has e1 running" within 10 is_vmst rasctl_a e1 running
UUID=$(vsh domuuid e1 | head -1)
"$INJECT" --pid "$(virt_qemu_pid e1)" --code AO --ram-offset $GPA >>"$T/inject.out" 2>&1
check "an AO in e1 is recorded by rasd A" within 10 eval '[ "$(nranges rasctl_a e1)" = 1 ]'
ranges rasctl_a e1 >"$T/e1.a"

# B: an x86_64 VMM that can inject MCE (what B's record offers).
"$VMMSIM_BIN" --socket "$B_SOCK" --name b-resident --arch x86_64 --declare 1:MCE \
    --caps MCE --ram 64M --hold >>"$T/sim.out" 2>&1 &
SIM=$!
# (jq -e passes on empty input: an absent record must fail.)
rec_has() {
	local v
	v=$(value "/rasd/hosts/$1")
	[ -n "$v" ] && jq -e "$2" <<<"$v" >/dev/null 2>&1
}
check "host-a's record lists e1 with its memory and libvirt URI" within 15 rec_has host-a \
	".vms | map(select(.uuid == \"$UUID\" and .memory > 0)) | length == 1"
check "host-b's record offers x86_64 MCE" within 15 rec_has host-b '.inject.x86_64 == ["MCE"]'
check "the controller on A acts" within 20 grep -q "fleet: controller host-a acts" "$RASD_LOG"

# --- the plan, then the evacuation ------------------------------------------
out=$(rasctl_a --json evacuate --dry-run host-a)
expect_eq "dry run: e1 goes to host-b" \
	"$(jq -r --arg u "$UUID" '.moves[] | select(.uuid == $u) | "\(.state) \(.dest)"' <<<"$out")" \
	"planned host-b"
t0=$(date +%s)
out=$(rasctl_a --json evacuate host-a)
expect_match "evacuate host-a: requested" "$(jq -r .note <<<"$out")" "evacuation of host-a requested"
intent() { value "/rasd/evac/host-a/$UUID" | jq -r "$1"; }
check "the intent is written: e1 to host-b" within 15 eval '[ "$(intent .dest)" = host-b ]'
check "the controller migrates e1 (migrating or done)" within 20 \
	eval 'intent .state | grep -qE "migrating|done"'
check "the intent ends done" within 180 eval '[ "$(intent .state)" = done ]'
echo "# evacuation of e1 took $(( $(date +%s) - t0 )) s"
expect_eq "... after one attempt" "$(intent .attempt)" 1
check "e1 runs on B" running_on vsh_b e1
check "e1 no longer runs on A" eval '! running_on vsh e1'
check "rasd B has e1 running" within 15 is_vmst rasctl_b e1 running
check "the poison arrived on B with e1" within 10 eval '[ "$(nranges rasctl_b e1)" = 1 ]'
ranges rasctl_b e1 >"$T/e1.b"
expect_eq "B's ranges and decisions are A's" "$(cat "$T/e1.b")" "$(cat "$T/e1.a")"
check "rasd A has e1 handed off" within 10 is_vmst rasctl_a e1 migrated-away
check "the controller logged the move" grep -q "fleet: e1 ($UUID) moved from host-a to host-b" "$RASD_LOG"
out=$(rasctl_a fleet status)
expect_match "fleet status: e1 done" "$out" "host-a +e1 +host-b +done +1 "

kill "$SIM" 2>/dev/null
vsh_b destroy e1 >/dev/null 2>&1
kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null || true
