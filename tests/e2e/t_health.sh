#!/usr/bin/env bash
# Host memory health (daemon/health.c): the real rasd reads an EDAC tree
# built here in sysfs' layout (dimmN with dimm_ce_count/dimm_ue_count/
# dimm_label/dimm_location, and an older kernel's csrowN/ce_count), and
# a rasdaemon database with the table rasdaemon --record creates
# (ras-record.c's mc_event); ras-vmmsim forwards AR and AO errors. The
# test raises the counters and checks `rasctl health --json` (state,
# reasons, per-DIMM and per-window figures), that everything survives a
# restart, the operator's override (admin only), and the metrics.
. "$(dirname "$0")/lib.sh"

for t in jq sqlite3; do
	command -v "$t" >/dev/null || { skip "missing $t"; exit 0; }
done

EDAC=$T/edac
RD=$T/rasdaemon/ras-mc_event.db
L0='CPU_SrcID#0_MC#0_Chan#0_DIMM#0'
L1='CPU_SrcID#0_MC#0_Chan#1_DIMM#0'
mkdimm() {	# mkdimm MC DIMM LABEL LOCATION
	local d=$EDAC/mc/mc$1/dimm$2
	mkdir -p "$d"
	echo 0 >"$d/dimm_ce_count"; echo 0 >"$d/dimm_ue_count"
	echo "$3" >"$d/dimm_label"; echo "$4" >"$d/dimm_location"
	echo 8192 >"$d/size"
}
mkdimm 0 0 "$L0" "channel 0 slot 0"
mkdimm 0 1 "$L1" "channel 1 slot 0"
echo 0 >"$EDAC/mc/mc0/seconds_since_reset"
mkdir -p "$EDAC/mc/mc1/csrow0"
echo 0 >"$EDAC/mc/mc1/csrow0/ce_count"; echo 0 >"$EDAC/mc/mc1/csrow0/ue_count"
echo "mc#1csrow#0channel#0" >"$EDAC/mc/mc1/csrow0/ch0_dimm_label"
mkdir -p "$T/rasdaemon"

free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
MPORT=$(free_port)
cat >"$T/rasd.conf" <<CONF
edac_root = $EDAC
rasdaemon_db = $RD
health_poll_interval = 1
health_ue_degraded = 1 / 24h
health_ue_evacuate = 3 / 24h
health_vm_ue_degraded = 2 / 24h
health_ce_degraded = 5 / 1h
health_ce_evacuate = 50 / 1h
metrics_listen = 127.0.0.1:$MPORT
CONF
check "rasd starts with an EDAC tree and no rasdaemon database" \
	start_rasd -c "$T/rasd.conf"

h() { rasctl --json health; }
hq() { h | jq -r "$1"; }
dimm() { h | jq -r --arg d "$1" ".dimms[] | select(.dimm == \$d) | $2"; }
win() {	# win SCOPE NAME ERRORS FOR FIELD
	h | jq -r --arg s "$1" --arg n "$2" --arg e "$3" --arg f "$4" \
	    ".windows[] | select(.scope == \$s and .name == \$n and .errors == \$e and .for == \$f) | .$5"
}
poll() { sleep 1.3; }	# one poll interval and a bit

expect_eq "healthy at first" "$(hq .state)" healthy
expect_eq "score 100" "$(hq .score)" 100
expect_eq "corrected errors rated from EDAC" "$(hq .rate_source)" edac
expect_eq "three DIMMs: two dimmN, one csrow" "$(hq '.dimms | length')" 3
expect_eq "the csrow is keyed by its channel's label" \
	"$(dimm 'mc#1csrow#0channel#0' .location)" csrow0
expect_eq "DIMM 1's location from dimm_location" "$(dimm "$L1" .location)" "channel 1 slot 0"
expect_eq "no rasdaemon database: said so" \
	"$(hq '.poll_error')" null

# Corrected errors: 4 within the hour is under 5 / 1h, 6 is over.
echo 4 >"$EDAC/mc/mc0/dimm1/dimm_ce_count"
poll
expect_eq "4 corrected errors: still healthy" "$(hq .state)" healthy
expect_eq "... DIMM 1's bucket holds 4" "$(win dimm "$L1" corrected degraded level)" 4
expect_eq "... and its EDAC counter reads 4" "$(dimm "$L1" .edac_ce)" 4
expect_eq "... score 92 (4 of 50 to evacuate)" "$(hq .score)" 92
echo 6 >"$EDAC/mc/mc0/dimm1/dimm_ce_count"
poll
expect_eq "6 corrected errors within the hour: degraded" "$(hq .state)" degraded
expect_match "the reason names the DIMM and the threshold" \
	"$(hq '.reasons[]')" "DIMM $L1: corrected errors reached 5 / 1h \(degraded"
expect_eq "DIMM 1 degraded" "$(dimm "$L1" .state)" degraded
expect_eq "DIMM 0 healthy" "$(dimm "$L0" .state)" healthy
check "the change is logged" grep -q "health: host degraded (was healthy)" "$RASD_LOG"
# The old kernel's csrow counters are read too.
echo 2 >"$EDAC/mc/mc1/csrow0/ue_count"
poll
expect_eq "csrow uncorrected errors counted" "$(dimm 'mc#1csrow#0channel#0' .ue_total)" 2
expect_match "... and make the host degraded for that DIMM too" \
	"$(hq '.reasons[]')" "DIMM mc#1csrow#0channel#0: uncorrected errors reached 1 / 24h"

# Uncorrected errors forwarded: AR and AO of vm1, then vm2.
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
vmmsim --name vm1 --arch arm64 --hest "$HEST" --poison AR:0x40001000 \
	--poison AO:0x40200000:21 >/dev/null 2>&1
check "vm1 forwarded an AR and an AO" test $? -eq 0
expect_eq "two uncorrected errors counted" "$(hq .uncorrected_forwarded)" 2
expect_eq "vm1's window holds 2" "$(win vm vm1 uncorrected degraded level)" 2
expect_match "vm1 at 2 / 24h is a reason" "$(hq '.reasons[]')" "VM vm1: uncorrected errors reached 2 / 24h"
expect_eq "2 of 3 to evacuate: not yet" "$(hq .state)" degraded
vmmsim --name vm1 --arch arm64 --hest "$HEST" --resume --poison AR:0x40001000 >/dev/null 2>&1
expect_eq "a repeat of a recorded range is not a new error" "$(hq .uncorrected_forwarded)" 2
vmmsim --name vm2 --arch x86_64 --declare 0:MCE --poison AO:0x7000 >/dev/null 2>&1
expect_eq "vm2's error is the third" "$(hq .uncorrected_forwarded)" 3
expect_eq "3 / 24h: evacuate" "$(hq .state)" evacuate
expect_eq "score 0" "$(hq .score)" 0
expect_match "the host's reason" "$(hq '.reasons[]')" "host: uncorrected errors reached 3 / 24h \(evacuate"
check "logged" grep -q "health: host evacuate (was degraded)" "$RASD_LOG"
rasctl health >"$T/table" 2>&1
check "rasctl health (table) says the state" grep -q "^state: evacuate" "$T/table"
check "... and lists DIMM 1 with its counters" grep -qE "^$L1 +channel 1 slot 0 +6 +0 " "$T/table"

# Metrics.
if command -v curl >/dev/null; then
	curl -sS --max-time 5 -o "$T/page" "http://127.0.0.1:$MPORT/metrics"
	metric() { S=$1 awk '$1 == ENVIRON["S"] { print $2 }' "$T/page"; }
	expect_eq "rasd_host_health_state{state=\"evacuate\"} 1" \
		"$(metric 'rasd_host_health_state{state="evacuate"}')" 1
	expect_eq "rasd_host_health_state{state=\"healthy\"} 0" \
		"$(metric 'rasd_host_health_state{state="healthy"}')" 0
	expect_eq "rasd_host_uncorrected_errors_total 3" \
		"$(metric rasd_host_uncorrected_errors_total)" 3
	expect_eq "rasd_dimm_ce_total of DIMM 1" \
		"$(metric "rasd_dimm_ce_total{dimm=\"$L1\"}")" 6
	expect_match "rasd_vm_uncorrected_errors_total of vm1" \
		"$(grep '^rasd_vm_uncorrected_errors_total{vm="vm1"' "$T/page")" ' 2$'
	if command -v promtool >/dev/null; then
		check "promtool check metrics passes" bash -c "promtool check metrics <'$T/page' >/dev/null 2>&1"
	fi
else
	skip "curl missing: metrics not checked"
fi

# A restart: everything comes back from the store.
stop_rasd TERM
check "rasd restarts" start_rasd -c "$T/rasd.conf"
expect_eq "after the restart: still evacuate" "$(hq .state)" evacuate
expect_eq "... 3 uncorrected errors (rebuilt from the event table)" "$(hq .uncorrected_forwarded)" 3
expect_eq "... DIMM 1's 6 corrected errors" "$(dimm "$L1" .ce_total)" 6
expect_eq "... and its tripped bucket" "$(win dimm "$L1" corrected degraded tripped)" true
expect_eq "... its counter not counted again" "$(win dimm "$L1" corrected degraded level)" 5
echo 7 >"$EDAC/mc/mc0/dimm1/dimm_ce_count"
poll
expect_eq "the counter goes on from where it was" "$(dimm "$L1" .ce_total)" 7
echo 1 >"$EDAC/mc/mc0/dimm1/dimm_ce_count"
poll
expect_eq "a counter that went down was reset: all of it is new" "$(dimm "$L1" .ce_total)" 8

# rasdaemon's database, as rasdaemon --record creates it (ras-record.c).
sqlite3 "$RD" "CREATE TABLE IF NOT EXISTS mc_event (id INTEGER PRIMARY KEY, timestamp TEXT, err_count INTEGER, err_type TEXT, err_msg TEXT, label TEXT, mc INTEGER, top_layer INTEGER, middle_layer INTEGER, lower_layer INTEGER, address INTEGER, grain INTEGER, syndrome INTEGER, driver_detail TEXT)"
rdrow() {	# rdrow WHEN COUNT TYPE LABEL
	sqlite3 "$RD" "INSERT INTO mc_event VALUES (NULL, '$(date -d "$1" '+%Y-%m-%d %H:%M:%S %z')', $2, '$3', 'memory read error', '$4', 0, 0, 0, -1, 305419896, 6, 0, 'APEI location: node:0 card:0 module:0')"
}
rdrow '2 days ago' 100 Corrected "$L0"
rdrow now 2 Corrected "$L0"
poll
expect_eq "rasdaemon's database is now the rate source" "$(hq .rate_source)" rasdaemon
expect_eq "DIMM 0: rasdaemon's records summed" "$(dimm "$L0" .rasdaemon_ce)" 102
expect_eq "... the old ones leaked: 2 in the bucket" "$(win dimm "$L0" corrected degraded level)" 2
expect_eq "... so DIMM 0 is healthy" "$(dimm "$L0" .state)" healthy
rdrow now 3 Corrected "$L0"
rdrow now 1 Info "$L0"
poll
expect_eq "5 recent corrected errors: DIMM 0 degraded" "$(dimm "$L0" .state)" degraded
expect_eq "Info records are not errors" "$(dimm "$L0" .rasdaemon_ce)" 105
echo 9 >"$EDAC/mc/mc0/dimm1/dimm_ce_count"
poll
expect_eq "EDAC's counter is shown, not rated (rasdaemon has it)" \
	"$(dimm "$L1" .edac_ce):$(dimm "$L1" .ce_total)" 9:8
rdrow now 1 Uncorrected 'any memory'
poll
expect_eq "an error the kernel could not place: keyed by mc and layers" \
	"$(dimm 'mc 0 layers 0:0' .rasdaemon_ue)" 1
stop_rasd TERM
check "restart" start_rasd -c "$T/rasd.conf"
poll
expect_eq "rasdaemon records are not read twice across a restart" "$(dimm "$L0" .rasdaemon_ce)" 105

# The operator's override: admin only, kept across a restart.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid 4242 --regid 4242 --clear-groups "$RASCTL_BIN" --socket "$SOCK" health --set auto >/dev/null 2>"$T/denied"
	expect_eq "not admin: --set refused (exit 1)" "$?" 1
	check "... denied" grep -q denied "$T/denied"
fi
rasctl health --set degraded --reason "DIMM 1 replaced, watching" >/dev/null
expect_eq "override: degraded though the buckets say evacuate" "$(hq .state)" degraded
expect_eq "... auto_state evacuate" "$(hq .auto_state)" evacuate
expect_eq "... the reason is kept" "$(hq .override.reason)" "DIMM 1 replaced, watching"
check "... logged" grep -q "health: operator (uid $(id -u), pid [0-9]*) set the host degraded: DIMM 1 replaced" "$RASD_LOG"
rasctl health --set healthy >/dev/null 2>&1
expect_eq "rasctl refuses --set healthy (usage, exit 2)" "$?" 2
stop_rasd TERM
check "restart" start_rasd -c "$T/rasd.conf"
expect_eq "the override survives a restart" "$(hq .override.state)" degraded
rasctl health --set auto >/dev/null
expect_eq "--set auto: the buckets decide again" "$(hq .state)" evacuate
expect_eq "sqlite3: the store holds the DIMMs (schema 4)" \
	"$(sqlite3 "$STATE/rasd.db" "SELECT count(*) FROM health_dimm")" 4

[ "$failures" -eq 0 ]
