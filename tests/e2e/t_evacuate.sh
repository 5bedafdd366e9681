#!/usr/bin/env bash
# The evacuation controller (fleet/evac.c, plan.c): a real etcd, three
# real rasd hosts with ras-vmmsim VMs of different architectures, boot
# profiles and sizes, and two more rasd with fleet_controller = on.
#   - rasctl evacuate --dry-run host-a prints the plan and writes nothing:
#     vm-mce goes to a host whose VMMs inject MCE, vm-arm (SEA,GSIV) is
#     refused because the only arm64 host cannot inject GSIV, vm-big (1T)
#     is refused for memory;
#   - the two controllers elect one through etcd (lease + a key's
#     create_revision under /rasd/election/); the other waits;
#   - rasctl evacuate host-a: the request goes to etcd, the acting
#     controller writes the intents (the dry run's destination), starts the
#     migration (which fails here: no libvirt on these hosts, so the move
#     is retried with a backoff, attempt by attempt);
#   - kill -9 of the acting controller: the other takes over within the
#     lease's TTL and carries on from the intents (the attempt count goes
#     on, nothing starts over);
#   - rasctl evacuate --cancel: planned and refused moves are cancelled;
#     the cancel request is dropped once the host is not marked;
#   - the host's health says evacuate (rasctl health --set): the controller
#     plans again by itself; healthy again (--set auto): cancelled again.
# The migration itself through libvirt is t_evacuate_kvm's.
# needs:
. "$(dirname "$0")/lib.sh"

for t in etcd etcdctl jq; do
	if ! command -v "$t" >/dev/null; then
		why="missing $t (Debian packages etcd-server, etcd-client, jq; tools/deps.sh installs them)"
		if [ "${CI:-}" = true ]; then notok "$why"; else
			echo "# SKIPPING t_evacuate: $why" >&2; skip "$why"; fi
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
etcd --name t --data-dir "$T/etcd" --listen-client-urls "$EP" \
    --advertise-client-urls "$EP" --listen-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "t=http://127.0.0.1:$PPORT" >>"$T/etcd.log" 2>&1 &
ETCD_PID=$!
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EP" --command-timeout=2s "$@"; }
value() { ectl get --print-value-only "$1" 2>/dev/null; }
count_keys() { ectl get --prefix --keys-only "$1" 2>/dev/null | grep -c .; }

# Extra rasd's: name -> pid, each with its socket $T/NAME.sock.
declare -A PIDS
start_host() {
	local n=$1
	"$RASD_BIN" --foreground --no-libvirt -c "$T/$n.conf" --socket "$T/$n.sock" \
	    --state-dir "$T/state-$n" >>"$T/rasd-$n.log" 2>&1 &
	PIDS[$n]=$!
	wait_for "$RASCTL_BIN" --socket "$T/$n.sock" list-vms >/dev/null 2>&1
}
SIMS=()
sim() { local s=$1; shift; "$VMMSIM_BIN" --socket "$s" --hold "$@" >>"$T/sims.out" 2>&1 & SIMS+=($!); }
cleanup_evac() {
	local n p
	for p in "${SIMS[@]}"; do kill "$p" 2>/dev/null; done
	for n in "${!PIDS[@]}"; do kill "${PIDS[$n]}" 2>/dev/null; done
	kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null
	for n in "${!PIDS[@]}"; do
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/rasd-$n.log" 2>/dev/null; then
			notok "sanitizer report in $n's log"
		fi
	done
	if [ "$failures" -ne 0 ]; then
		for n in ctl1 ctl2; do
			echo "# $n log:"; tail -25 "$T/rasd-$n.log" | sed 's/^/#   /'
		done
	fi
	cleanup
}
trap cleanup_evac EXIT

for h in host-a host-b host-c ctl1 ctl2; do
	printf 'etcd_endpoints = %s\nfleet_host_id = %s\nfleet_ttl = %s\n' \
	    "$EP" "$h" "$TTL" >"$T/$h.conf"
done
for h in ctl1 ctl2; do
	printf 'fleet_controller = on\nfleet_evacuate_per_host = 1\n' >>"$T/$h.conf"
done

check "etcd starts" within 20 eval 'ectl endpoint health >/dev/null 2>&1'
check "host-a's rasd starts" start_rasd -c "$T/host-a.conf"
check "host-b's rasd starts" start_host host-b
check "host-c's rasd starts" start_host host-c

# host-a: three VMs to move. host-b: x86_64 MCE and arm64 SEA (no GSIV).
# host-c: x86_64 MCE,NMI.
vmmsim --name vm-mce --arch x86_64 --declare 1:MCE --caps MCE --ram 64M \
    --hold >>"$T/sims.out" 2>&1 & SIMS+=($!)
vmmsim --name vm-arm --arch arm64 --declare 1:SEA --declare 2:GSIV \
    --caps SEA,GSIV --ram 64M --hold >>"$T/sims.out" 2>&1 & SIMS+=($!)
vmmsim --name vm-big --arch x86_64 --declare 1:MCE --caps MCE --ram 1T \
    --hold >>"$T/sims.out" 2>&1 & SIMS+=($!)
sim "$T/host-b.sock" --name vm-b1 --arch x86_64 --declare 1:MCE --caps MCE --ram 64M
sim "$T/host-b.sock" --name vm-b2 --arch arm64 --declare 1:SEA --caps SEA,GPIO --ram 64M
sim "$T/host-c.sock" --name vm-c1 --arch x86_64 --declare 1:MCE --caps MCE,NMI --ram 64M
# (jq -e passes on empty input: an absent record must fail.)
rec_has() {
	local v
	v=$(value "/rasd/hosts/$1")
	[ -n "$v" ] && jq -e "$2" <<<"$v" >/dev/null 2>&1
}
check "host-a's record lists its three VMs with their memory" within 10 rec_has host-a \
	'[.vms[] | select(.state == "running")] | length == 3 and (map(select(.name == "vm-mce"))[0].memory == 67108864) and (map(select(.name == "vm-big"))[0].memory == 1099511627776)'
check "host-b's record: x86_64 MCE and arm64 SEA,GPIO" within 10 rec_has host-b \
	'.inject.x86_64 == ["MCE"] and (.inject.arm64 | sort) == ["GPIO","SEA"]'
check "host-c's record: x86_64 MCE,NMI" within 10 rec_has host-c \
	'(.inject.x86_64 | sort) == ["MCE","NMI"]'

# --- the dry run: a plan, nothing written -----------------------------------
# (A loaded machine may let a host's lease lapse for a moment: retry.)
dry() {
	rasctl --json evacuate --dry-run host-a >"$T/dry.json" 2>"$T/dry.err" &&
	    jq -e '.moves | length == 3' "$T/dry.json" >/dev/null
}
check "the dry run answers" within 20 dry
out=$(cat "$T/dry.json")
mv_of() { jq -r --arg v "$2" '.moves[] | select(.vm == $v) | '"$3" <<<"$1"; }
expect_eq "dry run: no controller acts yet" "$(jq -r .controller <<<"$out")" null
expect_eq "dry run: it says so" "$(jq -r .dry_run <<<"$out")" true
expect_eq "dry run: three moves" "$(jq '.moves | length' <<<"$out")" 3
expect_match "vm-mce planned to an x86_64 host that injects MCE" \
	"$(mv_of "$out" vm-mce '"\(.state) \(.dest)"')" '^planned host-(b|c)$'
DRY_DEST=$(mv_of "$out" vm-mce .dest)
expect_eq "vm-arm refused" "$(mv_of "$out" vm-arm .state)" refused
expect_match "... for its boot profile (host-b cannot inject GSIV)" \
	"$(mv_of "$out" vm-arm .reason)" 'host-b cannot inject GSIV \(boot profile SEA,GSIV\)'
expect_eq "vm-big refused" "$(mv_of "$out" vm-big .state)" refused
expect_match "... for memory (it needs 1.0T)" "$(mv_of "$out" vm-big .reason)" 'free, it needs 1\.0T'
expect_eq "dry run: no request in etcd" "$(count_keys /rasd/evacuate/)" 0
expect_eq "dry run: no intent in etcd" "$(count_keys /rasd/evac/)" 0
out=$(rasctl evacuate --dry-run host-a)
expect_match "the table: vm-arm refused with its reason" "$out" \
	'host-a +vm-arm +- +refused +0 +64(\.0)?M +SEA,GSIV +no valid destination: host-b cannot inject GSIV'
expect_match "the table: vm-mce planned" "$out" "host-a +vm-mce +$DRY_DEST +planned"
rasctl evacuate --dry-run host-zz >"$T/zz.out" 2>&1; rc=$?
expect_eq "an unknown host: exit 1" "$rc" 1
check "... saying no such host is up" grep -q 'no host "host-zz" is up' "$T/zz.out"
"$RASCTL_BIN" evacuate --dry-run --cancel host-a >/dev/null 2>&1; rc=$?
expect_eq "--dry-run with --cancel: a usage error (exit 2)" "$rc" 2

# --- two controllers: one acts -----------------------------------------------
check "controller ctl1 starts" start_host ctl1
check "controller ctl2 starts" start_host ctl2
check "both campaign: two keys under /rasd/election/" within 10 \
	eval '[ "$(count_keys /rasd/election/)" -eq 2 ]'
acts() { grep -l "fleet: controller .* acts" "$T/rasd-ctl1.log" "$T/rasd-ctl2.log" 2>/dev/null | wc -l; }
check "one controller acts" within 10 eval '[ "$(acts)" -eq 1 ]'
sleep 2
expect_eq "... and only one" "$(acts)" 1
LEADER=$(rasctl --json fleet status | jq -r .controller)
check "fleet status names it ($LEADER)" test "$LEADER" = ctl1 -o "$LEADER" = ctl2
OTHER=ctl1; [ "$LEADER" = ctl1 ] && OTHER=ctl2
first=$(ectl get --prefix /rasd/election/ -w json | jq -r '[.kvs[] | {c: (.create_revision|tonumber), v: .value}] | sort_by(.c) | .[0].v' | base64 -d)
expect_eq "the leader holds the lowest create_revision" "$first" "$LEADER"

# --- the operator evacuates host-a ------------------------------------------
out=$(rasctl --json evacuate host-a)
expect_match "evacuate: the request is passed on" "$(jq -r .note <<<"$out")" \
	"evacuation of host-a requested; the acting controller \\($LEADER\\)"
expect_eq "evacuate: the plan shown is the dry run's" \
	"$(mv_of "$out" vm-mce .dest)" "$DRY_DEST"
expect_eq "the request is in etcd" "$(value /rasd/evacuate/host-a | jq -r .mode)" evacuate
intent() { value "/rasd/evac/host-a/$(uuid_of "$1")"; }
uuid_of() { jq -r --arg v "$1" '.moves[] | select(.vm == $v) | .uuid' "$T/dry.json"; }
st() { intent "$1" | jq -r "$2" 2>/dev/null; }
check "the controller writes vm-mce's intent toward $DRY_DEST" within 10 \
	eval '[ "$(st vm-mce .dest)" = "$DRY_DEST" ]'
check "vm-arm's intent: refused, with the reason" within 10 \
	eval 'st vm-arm .reason | grep -q "cannot inject GSIV"'
expect_eq "vm-big's intent: refused" "$(st vm-big .state)" refused
check "vm-mce's migration is attempted (and fails: no libvirt here)" within 15 \
	eval '[ "$(st vm-mce .attempt)" -ge 1 ] && st vm-mce .reason | grep -q "attempt 1: host-a publishes no libvirt URI"'
expect_eq "... and planned again, for a retry" "$(st vm-mce .state)" planned
check "the leader logged the move" grep -q "fleet: evacuating host-a (operator): vm-mce .* goes to $DRY_DEST" "$T/rasd-$LEADER.log"
check "the other controller wrote nothing" eval '! grep -q "fleet: evacuating" "$T/rasd-$OTHER.log"'
out=$(rasctl fleet status)
expect_match "fleet status: the controller" "$out" "controller: $LEADER"
expect_match "fleet status: host-a is evacuated by the operator" "$out" 'evacuating: host-a \(operator\)'
expect_match "fleet status: vm-mce's row" "$out" "host-a +vm-mce +$DRY_DEST +(planned|migrating) +[12] +64(\\.0)?M +MCE"

# --- kill -9 the acting controller: the other takes over --------------------
att=$(st vm-mce .attempt)
kill -9 "${PIDS[$LEADER]}"; wait "${PIDS[$LEADER]}" 2>/dev/null; unset "PIDS[$LEADER]"
t0=$(date +%s)
check "$OTHER takes over" within $((TTL * 5)) grep -q "fleet: controller $OTHER acts" "$T/rasd-$OTHER.log"
echo "# took over after $(( $(date +%s) - t0 )) s (TTL $TTL s)"
check "fleet status names $OTHER" within 5 \
	eval '[ "$(rasctl --json fleet status | jq -r .controller)" = "$OTHER" ]'
check "$OTHER goes on from the intents: attempt $((att + 1))" within 30 \
	eval '[ "$(st vm-mce .attempt)" -gt "$att" ]'
expect_eq "... still toward $DRY_DEST" "$(st vm-mce .dest)" "$DRY_DEST"
check "... at most 3 attempts, then failed" within 40 \
	eval '[ "$(st vm-mce .state)" = failed ] && [ "$(st vm-mce .attempt)" -eq 3 ]'

# --- cancel ------------------------------------------------------------------
rasctl --json evacuate --cancel host-a >"$T/cancel.json"
expect_match "cancel: it says so" "$(jq -r .note "$T/cancel.json")" "evacuation of host-a cancelled"
check "vm-arm's refused move is cancelled" within 10 \
	eval '[ "$(st vm-arm .state)" = cancelled ]'
expect_eq "vm-big's too" "$(st vm-big .state)" cancelled
expect_eq "... because the operator cancelled" "$(st vm-big .reason)" "the operator cancelled"
expect_eq "vm-mce's failed move stays failed" "$(st vm-mce .state)" failed
check "the cancel request is dropped (host-a is not marked by its health)" within 10 \
	eval '[ "$(count_keys /rasd/evacuate/)" -eq 0 ]'

# --- host health: evacuate, then healthy again -------------------------------
rasctl health --set evacuate --reason "test: DIMM going bad" >/dev/null
check "host-a's record says evacuate" within 10 rec_has host-a '.health.state == "evacuate"'
check "the controller plans again by itself: vm-arm refused" within 10 \
	eval '[ "$(st vm-arm .state)" = refused ]'
check "fleet status: host-a evacuated for its health" within 5 \
	eval 'rasctl --json fleet status | jq -e ".hosts[] | select(.host == \"host-a\" and .why == \"health\")" >/dev/null'
rasctl health --set auto >/dev/null
check "healthy again: the pending moves are cancelled" within 15 \
	eval '[ "$(st vm-arm .state)" = cancelled ]'
expect_match "... saying why" "$(st vm-arm .reason)" 'no longer to be evacuated'

# --- admin only, configuration ------------------------------------------------
printf 'fleet_evacuate_max = 0\n' >"$T/bad.conf"
"$RASD_BIN" -n -c "$T/bad.conf" >/dev/null 2>"$T/bad.err"; rc=$?
expect_eq "fleet_evacuate_max = 0 is refused (exit 2)" "$rc" 2
printf 'fleet_controller = maybe\n' >"$T/bad.conf"
"$RASD_BIN" -n -c "$T/bad.conf" >/dev/null 2>"$T/bad.err"; rc=$?
expect_eq "fleet_controller = maybe is refused (exit 2)" "$rc" 2


