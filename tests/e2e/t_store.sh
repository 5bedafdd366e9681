#!/usr/bin/env bash
# The store, looked after: a real schema-1 store written by an older rasd
# (tests/data/store-v1.db, see tests/data/mkstore-v1.sh) is upgraded at
# start with a backup taken first, and everything comes back; the VMM
# binding and the unrecorded count are columns now and survive a restart;
# `rasd --check-store` says what is wrong in words (exit 0 clean, 1
# problems, 2 could not check), `--repair` fixes only what is safe; a
# store of a newer schema is refused and left untouched.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { notok "sqlite3 CLI missing (tools/deps.sh installs it)"; exit 1; }
sq() { sqlite3 "$@"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
check_store() { "$RASD_BIN" --check-store --state-dir "$1" >"$T/check.out" 2>&1; echo $?; }
VM1=203c1f00-d9c2-4d65-8354-a29415af1663
VM2=203f8500-d9c5-408e-835e-d29415b7bc78

# Work on copies only: opening the committed file would write beside it.
cp "$DATA/store-v1.db" "$T/v1.db"
mkdir -p "$STATE"
cp "$T/v1.db" "$STATE/rasd.db"
expect_eq "the committed store is schema 1" \
	"$(sq "$T/v1.db" "SELECT value FROM meta WHERE key='schema'")" 1

# --- upgrade 1 -> 2 at start -------------------------------------------
start_rasd || { notok "rasd starts on a schema-1 store"; exit 1; }
expect_eq "every VM back" \
	"$(rasctl --json list-vms | jq -r '[.[].name] | sort | join(",")')" "vm1,vm2,vm3"
expect_eq "vm1's active ranges back" \
	"$(rasctl --json list-poison vm1 | jq -r '[.[] | "\(.gpa):\(.length):\(.kind):\(.notification)"] | join(",")')" \
	"0x40001000:4096:AR:SEA,0x40010000:65536:AR:SEA,0x40400000:4096:AO:GPIO"
expect_eq "vm2's active range back" \
	"$(rasctl --json list-poison vm2 | jq -r '[.[] | "\(.gpa):\(.kind):\(.notification)"] | join(",")')" \
	"0x7000:AO:MCE"
expect_eq "vm1's history back, the reset-retired forward inactive" \
	"$(rasctl --json history vm1 | jq -r '[.[] | "\(.id):\(.gpa):\(.active)"] | join(",")')" \
	"1:0x40200000:false,2:0x40001000:true,3:0x40400000:true,4:0x40010000:true"
expect_eq "states back" \
	"$(rasctl --json list-vms | jq -r '[.[] | "\(.name)=\(.state)"] | sort | join(",")')" \
	"vm1=stopped,vm2=stopped,vm3=disconnected"
expect_eq "vm1's boot profile back, pinned" \
	"$(rasctl --json show vm1 | jq -r '"\(.profile_pinned) " + ([.profile[] | "\(.source_id):\(.notification)"] | join(","))')" \
	"true 0:SEA,1:GPIO"
expect_eq "vm2's declared profile back" \
	"$(rasctl --json show vm2 | jq -r '[.profile[] | "\(.source_id):\(.notification)"] | join(",")')" "0:MCE"
expect_eq "vm2's unrecorded count back" "$(rasctl --json show vm2 | jq .unrecorded)" 3
check "the upgrade is logged with both versions" \
	grep -q "store: .*upgraded from schema 1 to 4" "$RASD_LOG"
check "through every step, 2 to 3 included" \
	grep -q "store: step 2 to 3: pinned orders as VM columns, incoming migrations" "$RASD_LOG"
check "... and 3 to 4" \
	grep -q "store: step 3 to 4: host memory health: DIMM counters and buckets" "$RASD_LOG"
check "a backup of the schema-1 file was taken first" test -f "$STATE/rasd.db.v1.bak"
expect_eq "the backup is schema 1" \
	"$(sq "$STATE/rasd.db.v1.bak" "SELECT value FROM meta WHERE key='schema'")" 1
expect_eq "the backup holds what the old file held" \
	"$(sq "$STATE/rasd.db.v1.bak" .dump | md5sum)" "$(sq "$T/v1.db" .dump | md5sum)"

# The binding to a VMM's process is kept across a restart now.
"$VMMSIM_BIN" --socket "$SOCK" --name vm4 --arch arm64 \
	--hest "$DATA/qemu-virt-10.2-sea-gpio.hest" --hold >/dev/null 2>&1 &
SIM_PID=$!
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show vm4 2>/dev/null | jq -r .state)\" = running ]"
stop_rasd TERM
expect_eq "the store is schema 4" "$(sq "$STATE/rasd.db" "SELECT value FROM meta WHERE key='schema'")" 4
expect_eq "schema 4: the health_dimm table exists, empty" \
	"$(sq "$STATE/rasd.db" "SELECT count(*) FROM health_dimm")" 0
expect_eq "schema 3: the incoming table exists, empty" \
	"$(sq "$STATE/rasd.db" "SELECT count(*) FROM incoming")" 0
expect_eq "schema 3: vm4's pinned orders are stored" \
	"$(sq "$STATE/rasd.db" "SELECT length(ar_order) > 0 AND length(ao_order) > 0 FROM vm WHERE name='vm4'")" 1
expect_eq "no 'unrecorded:' meta key left" \
	"$(sq "$STATE/rasd.db" "SELECT count(*) FROM meta WHERE key LIKE 'unrecorded:%'")" 0
expect_eq "the count is vm2's column" \
	"$(sq "$STATE/rasd.db" "SELECT unrecorded FROM vm WHERE name='vm2'")" 3
start=$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[20] }' "/proc/$SIM_PID/stat")
expect_eq "vm4's VMM start time is stored" \
	"$(sq "$STATE/rasd.db" "SELECT pid || ':' || vmm_start FROM vm WHERE name='vm4'")" "$SIM_PID:$start"
expect_eq "vm4's VMM cgroup is stored" \
	"$(sq "$STATE/rasd.db" "SELECT vmm_cgroup FROM vm WHERE name='vm4'")" \
	"$(sed -n 's/^0:://p' "/proc/$SIM_PID/cgroup")"
bak=$(sum "$STATE/rasd.db.v1.bak")
start_rasd || notok "rasd restarts on the upgraded store"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json show vm4 2>/dev/null | jq -r .state)\" = running ]"
expect_eq "vm4's own VMM (same pid and start) re-registers" \
	"$(rasctl --json show vm4 | jq -r .state)" running
expect_eq "one upgrade only" "$(grep -c 'upgraded from schema' "$RASD_LOG")" 1
expect_eq "the backup is not retaken" "$(sum "$STATE/rasd.db.v1.bak")" "$bak"
expect_eq "vm2's count still 3" "$(rasctl --json show vm2 | jq .unrecorded)" 3
kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null; SIM_PID=

# --- the checker --------------------------------------------------------
expect_eq "--check-store refuses while rasd holds the store (exit 2)" "$(check_store "$STATE")" 2
check "and says so" grep -q "in use by a running rasd" "$T/check.out"
stop_rasd TERM
expect_eq "--check-store: a clean store (exit 0)" "$(check_store "$STATE")" 0
check "and says it is clean" grep -q "no problems" "$T/check.out"
check "it ran SQLite's integrity check" grep -q "integrity_check: ok" "$T/check.out"
mkdir -p "$T/v1only"; cp "$T/v1.db" "$T/v1only/rasd.db"
expect_eq "--check-store: the schema-1 store is clean too, and not written" \
	"$(check_store "$T/v1only"):$(sum "$T/v1only/rasd.db")" "0:$(sum "$T/v1.db")"
check "it says the next start upgrades it" grep -q "schema 1.*upgrade" "$T/check.out"

mkdir -p "$T/bad"; cp "$STATE/rasd.db" "$T/bad/rasd.db"
ORPHAN=00112233-4455-6677-8899-aabbccddeeff
sq "$T/bad/rasd.db" "
INSERT INTO event(id, vm, gpa, length, kind, action, notify, source_id, time, host, origin, active)
	VALUES(17, x'00112233445566778899aabbccddeeff', 4096, 4096, 1, 1, 8, 0, 0, 'h', 'forward', 1);
INSERT INTO event(id, vm, gpa, length, kind, action, notify, source_id, time, host, origin, active)
	VALUES(18, (SELECT uuid FROM vm WHERE name='vm1'), 6144, 4096, 1, 1, 8, 0, 0, 'h', 'forward', 1);
INSERT INTO event(id, vm, gpa, length, kind, action, notify, source_id, time, host, origin, active)
	VALUES(19, (SELECT uuid FROM vm WHERE name='vm1'), 0, 12288, 7, 9, 40, 0, 0, 'h', 'forward', 1);
INSERT INTO vevent(id, vm, time, recipient, action, flags, forward_id)
	VALUES(5, x'00112233445566778899aabbccddeeff', 0, 0, 0, 0, NULL);
UPDATE vm SET slots = x'0102030405' WHERE name='vm2';
UPDATE vm SET arch = 9, name = '' WHERE name='vm3';"
rc=$(check_store "$T/bad")
expect_eq "--check-store: a damaged store (exit 1)" "$rc" 1
check "an orphan event is named in words" \
	grep -q "^event 17: VM $ORPHAN has no row (orphan)" "$T/check.out"
check "a misaligned range is named" grep -q "^event 18 (VM vm1): gpa 0x1800 is not aligned to its length 0x1000" "$T/check.out"
check "a length that is no power of two is named" grep -q "^event 19 (VM vm1): length 12288 is not a power of two" "$T/check.out"
check "an unknown kind is named" grep -q "^event 19 (VM vm1): unknown kind 7" "$T/check.out"
check "an unknown action is named" grep -q "^event 19 (VM vm1): unknown action 9" "$T/check.out"
check "an unknown notification is named" grep -q "^event 19 (VM vm1): unknown notification 40" "$T/check.out"
check "an orphan libvirt event is named" grep -q "^vevent 5: VM $ORPHAN has no row (orphan)" "$T/check.out"
check "a bad slots blob is named" grep -q "^VM $VM2 (vm2): slots .*5 bytes.*multiple of 24" "$T/check.out"
check "an empty name is named" grep -q "^VM 2042eb00-.*: empty name" "$T/check.out"
check "an unknown arch is named" grep -q "^VM 2042eb00-.*: unknown arch 9" "$T/check.out"
check "a summary line counts them" grep -Eq "^[0-9]+ problems? found" "$T/check.out"

# --repair: only the orphan libvirt event is deleted (nothing reads it);
# the rest is left, with a backup taken first.
rc=$("$RASD_BIN" --check-store --repair --state-dir "$T/bad" >"$T/repair.out" 2>&1; echo $?)
expect_eq "--repair leaves the unrepairable: exit 1" "$rc" 1
check "--repair says what it deleted" grep -q "repaired: deleted 1 orphan libvirt event" "$T/repair.out"
check "--repair took a backup first" bash -c "ls $T/bad/rasd.db.repair-*.bak >/dev/null"
expect_eq "the orphan vevent is gone" "$(sq "$T/bad/rasd.db" "SELECT count(*) FROM vevent WHERE id=5")" 0
expect_eq "the orphan event is kept" "$(sq "$T/bad/rasd.db" "SELECT count(*) FROM event WHERE id=17")" 1
mkdir -p "$T/vev"; cp "$STATE/rasd.db" "$T/vev/rasd.db"
sq "$T/vev/rasd.db" "INSERT INTO vevent(vm, time, recipient, action, flags) VALUES(x'00', 0, 0, 0, 0)"
expect_eq "--repair: a store with only an orphan vevent ends clean" \
	"$("$RASD_BIN" --check-store --repair --state-dir "$T/vev" >/dev/null 2>&1; echo $?):$(check_store "$T/vev")" 0:0

# A file that is not a database at all cannot be checked.
mkdir -p "$T/junk"; head -c 8192 /dev/urandom >"$T/junk/rasd.db"
expect_eq "--check-store on a non-database: exit 2" "$(check_store "$T/junk")" 2
expect_eq "--check-store on a missing store: exit 2" "$(check_store "$T/nothere")" 2
check "and says there is no store" grep -q "no store" "$T/check.out"

# --- a newer schema is refused, the file untouched ----------------------
mkdir -p "$T/new"; cp "$T/v1.db" "$T/new/rasd.db"
sq "$T/new/rasd.db" "UPDATE meta SET value='99' WHERE key='schema'"
before=$(sum "$T/new/rasd.db")
"$RASD_BIN" --foreground --no-libvirt --socket "$T/new.sock" --state-dir "$T/new" >"$T/new.log" 2>&1
rc=$?
check "rasd refuses a schema-99 store (exit non-zero)" test "$rc" -ne 0
check "naming both versions" grep -q "schema version 99.*newer than.*4" "$T/new.log"
expect_eq "the schema-99 file is unchanged" "$(sum "$T/new/rasd.db")" "$before"
check "no backup is taken of it" bash -c "! ls $T/new/*.bak 2>/dev/null"
expect_eq "--check-store cannot check it (exit 2)" "$(check_store "$T/new")" 2
check "and says why" grep -q "schema version 99.*newer" "$T/check.out"
expect_eq "the file is still unchanged" "$(sum "$T/new/rasd.db")" "$before"
