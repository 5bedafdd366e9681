#!/usr/bin/env bash
# tests/data/mkstore-v1.sh -- how tests/data/store-v1.db was made: a real
# schema-1 store written by rasd as of commit aa72992 (the last schema-1
# rasd), for tests/e2e/t_store.sh. Do not regenerate it with a newer rasd:
# its point is to be what an old rasd left behind.
#
#   git archive aa72992 | tar -x -C /tmp/rasd-v1
#   make -C /tmp/rasd-v1 build/bin/rasd build/bin/rasctl build/bin/ras-vmmsim
#   tests/data/mkstore-v1.sh /tmp/rasd-v1/build tests/data/store-v1.db
#
# What it holds: vm1 (arm64, QEMU's SEA+GPIO HEST) with three active ranges
# and one forward a guest reset retired; vm2 (x86_64, declared 0:MCE) with
# one AO range, stopped cleanly; vm3 (arm64) whose VMM was held at the
# clean shutdown (disconnected, with its pid). The one row not written by
# rasd's own code path is vm2's 'unrecorded:UUID' meta key (3), inserted
# with the sqlite3 CLI exactly as store_save_unrecorded() writes it: making
# rasd write it takes an error storm of more than 4096 forwards, which
# would make the file large. The old rasd is restarted on the result and
# must show that count, so it is a state schema-1 rasd reads.
set -eu
OLD=${1:?usage: mkstore-v1.sh OLD-BUILD-DIR OUT.db}
OUT=${2:?usage: mkstore-v1.sh OLD-BUILD-DIR OUT.db}
DATA=$(cd "$(dirname "$0")" && pwd)
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
T=$(mktemp -d /tmp/mkstore-XXXXXX)
SOCK=$T/rasd.sock
rasd() {
	"$OLD/bin/rasd" --foreground --no-libvirt --socket "$SOCK" \
	    --state-dir "$T/state" >>"$T/rasd.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		"$OLD/bin/rasctl" --socket "$SOCK" list-vms >/dev/null 2>&1 &&
		    return 0
		sleep 0.05
	done
	echo "rasd did not start" >&2; exit 1
}
ctl() { "$OLD/bin/rasctl" --socket "$SOCK" "$@"; }
sim() { "$OLD/bin/ras-vmmsim" --socket "$SOCK" "$@"; }

rasd
printf 'AR 0x40200000 12\nreset\n' | sim --name vm1 --arch arm64 \
    --hest "$HEST" --stdin >/dev/null
sim --name vm1 --arch arm64 --hest "$HEST" --resume --poison AR:0x40001000 \
    --poison AO:0x40400000 --poison AR:0x40010000:16 >/dev/null
sim --name vm2 --arch x86_64 --declare 0:MCE --poison AO:0x7000 >/dev/null
sim --name vm3 --arch arm64 --hest "$HEST" --hold >/dev/null 2>&1 &
SIM=$!
for _ in $(seq 100); do
	[ "$(ctl --json show vm3 2>/dev/null | jq -r .state)" = running ] &&
	    break
	sleep 0.05
done
kill -TERM "$PID"; wait "$PID"
kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null || true
uuid=$(sqlite3 "$T/state/rasd.db" "SELECT lower(hex(uuid)) FROM vm \
    WHERE name='vm2'" | sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/')
sqlite3 "$T/state/rasd.db" "INSERT INTO meta VALUES('unrecorded:$uuid', 3)"
rasd
[ "$(ctl --json show vm2 | jq .unrecorded)" = 3 ] ||
    { echo "the old rasd does not read the count" >&2; exit 1; }
ctl list-vms
kill -TERM "$PID"; wait "$PID"
# A clean shutdown leaves no WAL worth keeping; fold it in to be sure.
sqlite3 "$T/state/rasd.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$T/state/rasd.db" "$OUT"
rm -rf "$T"
echo "wrote $OUT"
