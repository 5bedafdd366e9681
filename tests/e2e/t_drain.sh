#!/usr/bin/env bash
# Nothing the source VMM knows is lost (migrate/README.md): a source rasd
# answers a final sync only when everything its VMM has seen is durable
# there. Two real rasd, A (source) and B (destination), with a fleet key;
# the source VMM (ras-vmmsim, the real library) keeps memory errors of its
# own ("hold", as the shim's queue does) or drops them ("drop", a full
# queue): A refuses the final sync with the reason, B's VMM fails safe,
# and once the VMM has forwarded what it held the final sync goes
# through; a drop fails it until a guest reset. Then the operator's way
# out: B's source is gone, rasctl release --force lets the gate go.
# The peer channel runs insecure (a fleet key, as t_finalsync's first part):
# what is tested here is the source's check, not the channel.
. "$(dirname "$0")/lib.sh"

HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/fleet.key"
chmod 600 "$T/fleet.key"
printf 'peer_tls = off-insecure\nfleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/a-peer.sock" >"$T/a.conf"
printf 'peer_tls = off-insecure\nfleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/b-peer.sock" >"$T/b.conf"
start_rasd --config "$T/a.conf" || { notok "rasd A starts"; exit 1; }
BSOCK=$T/b.sock
"$RASD_BIN" --foreground --no-libvirt --socket "$BSOCK" --state-dir "$T/bstate" \
    --config "$T/b.conf" >>"$T/b.log" 2>&1 &
B_PID=$!
trap 'kill $B_PID 2>/dev/null; cleanup' EXIT
wait_for "$RASCTL_BIN" --socket "$BSOCK" list-vms >/dev/null 2>&1
rasctl_b() { "$RASCTL_BIN" --socket "$BSOCK" "$@"; }
dest() { "$VMMSIM_BIN" --socket "$BSOCK" --name "$1" --arch arm64 --hest "$HEST" --await-final 2>&1; }

# vm1 runs on A with one poison; B has the snapshot.
coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm1 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm1 >/dev/null 2>&1"
say() { echo "$1" >&"${SIM[1]}"; read -r -t 5 line <&"${SIM[0]}"; echo "$line"; }
out=$(say "AR 0x40001000 12")
check "A records vm1's poison" grep -q "(rasd)" <<<"$out"
rasctl export vm1 -o "$T/vm1.bundle" >/dev/null
check "B imports vm1's snapshot" rasctl_b import --replace "$T/vm1.bundle" >/dev/null

# The VMM keeps one error of its own: its connection is cut, it registers
# again saying so, and A refuses to hand vm1 off meanwhile.
say "hold 1" >/dev/null
wait_for grep -q "vm vm1: its VMM holds 1 memory errors not yet recorded" "$RASD_LOG"
check "A hears at the re-registration that the VMM holds one error" \
    grep -q "vm vm1: its VMM holds 1 memory errors not yet recorded" "$RASD_LOG"
out=$(dest vm1)
check "final sync while the source VMM holds an error: B's VMM fails safe" test $? -eq 1
expect_match "it is told the source's reason" "$out" "may hold memory errors not recorded"
check "A logs why" grep -q "vm vm1: no final sync yet: its VMM holds 1 memory errors" "$RASD_LOG"
check "A logs the refusal" grep -q "vm vm1: final sync refused: the VM's VMM may hold" "$RASD_LOG"
expect_eq "vm1 still runs on A" "$(rasctl --json show vm1 | jq -r .state)" running

# It forwards it: the library says so, and the final sync goes through.
say "AO 0x40200000 21" >/dev/null
say "hold -1" >/dev/null
say "service" >/dev/null
wait_for grep -q "vm vm1: its VMM holds nothing unrecorded any more" "$RASD_LOG"
out=$(dest vm1)
check "once the VMM has forwarded it, the final sync succeeds" test $? -eq 0
check "and carries the error it held" grep -q "REARM gpa=0x40200000 len=2097152" <<<"$out"
expect_eq "A hands vm1 off" "$(rasctl --json show vm1 | jq -r .state)" migrated-away
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null

# vm2's VMM drops an error (its queue was full): counted, told, and the
# final sync fails until the guest is reset.
coproc SIM { exec "$VMMSIM_BIN" --socket "$SOCK" --name vm2 --arch arm64 --hest "$HEST" --hold --stdin 2>&1; }
wait_for bash -c "$RASCTL_BIN --socket $SOCK show vm2 >/dev/null 2>&1"
say "AR 0x40001000 12" >/dev/null
rasctl export vm2 -o "$T/vm2.bundle" >/dev/null
rasctl_b import --replace "$T/vm2.bundle" >/dev/null
say "drop 1" >/dev/null
wait_for grep -q "vm vm2: its VMM pid [0-9]* could neither forward nor keep 1 memory errors" "$RASD_LOG"
check "A logs the dropped error loudly" \
    grep -q "vm vm2: its VMM pid [0-9]* could neither forward nor keep 1 memory errors" "$RASD_LOG"
out=$(dest vm2)
check "a dropped error fails the final sync: B's VMM fails safe" test $? -eq 1
check "A says the state cannot be complete" \
    grep -q "vm vm2: no final sync yet: its VMM lost 1 memory errors since the guest's last reset" "$RASD_LOG"
out=$(dest vm2)
check "and again on a retry" test $? -eq 1
say "reset" >/dev/null
out=$(dest vm2)
check "after a guest reset (fresh memory) the final sync succeeds" test $? -eq 0
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null

# The operator's way out: vm3's source host is gone.
"$VMMSIM_BIN" --socket "$SOCK" --name vm3 --arch arm64 --hest "$HEST" --poison AR:0x40003000:12 >/dev/null 2>&1
rasctl export vm3 -o "$T/vm3.bundle" >/dev/null
rasctl_b import --replace "$T/vm3.bundle" >/dev/null
stop_rasd TERM
out=$(dest vm3)
check "source gone: B's VMM fails safe" test $? -eq 1
out=$(rasctl_b release vm3 2>&1)
check "release without --force is a usage error" test $? -eq 2
expect_match "and says why" "$out" "--force is required"
out=$(RASD_SOCKET=$BSOCK "$RASCTL_BIN" release --force nosuchvm 2>&1)
check "release of an unknown VM fails" test $? -eq 1
check "release --force vm3 is taken" rasctl_b release --force vm3
check "B logs it loudly" grep -q "vm vm3: OPERATOR RELEASED ITS GATE" "$T/b.log"
out=$(dest vm3)
check "the VMM then runs the guest" test $? -eq 0
check "told that the operator released it" grep -q "RELEASED by the operator" <<<"$out"
check "with the imported ranges to re-arm" grep -q "REARM gpa=0x40003000 len=4096" <<<"$out"
check "B logs the VMM going on without a final sync" \
    grep -q "vm vm3: its VMM pid [0-9]* runs the guest without a final sync" "$T/b.log"
out=$(rasctl_b history vm3 2>&1)
expect_match "history has the operator's release of the imported range" "$out" \
    "0x40003000.*operator: gate released"
out=$(rasctl_b --json history vm3 2>&1)
expect_eq "in --json too, as an inactive row" \
    "$(jq -r '[.[] | select(.origin | startswith("operator:")) | .active] | .[0]' <<<"$out")" false
out=$(rasctl_b show vm3 2>&1)
expect_match "show says the gate was released" "$out" "gate: *released by the operator"
out=$(rasctl_b --json show vm3 2>&1)
check "show --json has gate_released" jq -e '.gate_released | length > 0' <<<"$out"
out=$(rasctl_b --json release --force vm3 2>&1)
expect_eq "--json prints ok" "$(jq -r .ok <<<"$out")" true
"$RASCTL_BIN" --socket "$BSOCK" show vm3 >/dev/null
kill "$B_PID" && wait "$B_PID"
check "no sanitizer report in B's log" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$T/b.log'"
