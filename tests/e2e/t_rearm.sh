#!/usr/bin/env bash
# needs: kvm
# Migration re-arm with rasd-shim.so in a real KVM process (tests/tools/kvmvmm):
# - destination: a VMM started with -incoming does not enter KVM_RUN before
#   every poisoned range rasd reports for the VM carries a poison marker
#   (UFFDIO_POISON): /proc/self/mem reads EIO there, the neighbours read,
#   a vCPU load raises SIGBUS into the VMM's own handler and the marker stays
#   (on a kernel with memory-failure support that SIGBUS is a genuine
#   BUS_MCEERR_AR, which the shim forwards: rasd then records the guest's
#   access as AR; on one without, e.g. the PVM host, BUS_ADRERR, nothing);
#   several vCPU threads wait for one re-arm; with two rasd sharing a fleet
#   key, a poison the source records after the export is re-armed too (the
#   gate asks for the final state);
# - source: an injected memory error's page is made to fault like hardware
#   poison; QEMU 7.2's migration thread ("live_migration", SIGBUS blocked
#   like all its helper threads) reading a poisoned page gets zeros instead
#   of killing the process, nothing new is forwarded, and the page is
#   poisoned again shortly after;
# - no vCPU ever reads those zeros: a vCPU reads the poisoned memory (and
#   the pages around it, or the rest of a 2 MiB granule) in a tight loop
#   while the migration thread reads the poisoned page five times
#   (kvmvmm --race); the shim holds the vCPUs out of the guest while
#   anything but poison is mapped there, and a shared memfd stays shared;
# - the gate fails safe with RASD_SHIM_REQUIRED=1: rasd away while the
#   migration runs, the VMM exits 1 (the migration fails); at KVM_RUN
#   (too late to fail it) the vCPUs are held, QEMU can still kick them out,
#   and the guest runs once rasd answers and the ranges are re-armed.
#   Without it the guest runs, re-armed late when rasd answers;
# - a VMM that is not a migration destination never re-arms.
# rasd learns the VM's poison from ras-vmmsim; with rasctl export/import the
# destination is a second rasd holding the imported bundle (state incoming),
# without them the same rasd answers the resumed registration.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/kvmvmm-lib.sh"
"$KVMVMM" --uffd-probe >"$T/uffd.out" 2>&1
if [ $? -ne 0 ]; then
	skip "UFFDIO_POISON is not usable here: $(tail -1 "$T/uffd.out")"
	exit 0
fi

# A kernel with memory-failure support (the nested host of tests/kvmhost,
# a distribution kernel) raises BUS_MCEERR_AR for any access to a poison
# marker, as for hardware poison; without it (the PVM host) BUS_ADRERR.
REAL_MF=0
[ -e /proc/sys/vm/memory_failure_early_kill ] && REAL_MF=1
# The shim's gate, stretched where everything runs slower (TIME_SCALE).
GATE=$(( 300 * TIME_SCALE ))

U=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a1	# the migrated VM
U2=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a2	# a source VM
U3=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a3	# a VM that is not migrating
U4=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a4	# migrated with a final sync
# Poisoned GPAs, all inside kvmvmm's RAM: two pages with a clean one
# between them, and 8 KiB in the slot kvmvmm moves (GPA != host offset).
P1=0x6000000 P2=0x6002000 P3=0x10004000

vmm() { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK "$KVMVMM" "$@"; }
ranges() {
	rasctl --json list-poison "$1" |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind)"' | tr '\n' ,
}
state() { rasctl --json show "$1" 2>/dev/null | jq -r .state; }
covered() { echo "rasd-shim: VM $1 ($2) covered, forwarding memory errors to $SOCK (enforcing: the shim carries out rasd's decisions)"; }

# Checksummed bundles between the two rasd of parts 1-2 (no certificates
# here yet): the explicit insecure mode.
printf 'peer_tls = off-insecure\n' >"$T/insecure.conf"
start_rasd -c "$T/insecure.conf" || { notok "rasd starts"; exit 1; }

# 1. The source: rasd records three poisoned ranges of vmr.
"$VMMSIM_BIN" --socket "$SOCK" --name vmr --uuid "$U" --arch x86_64 \
	--declare 0:MCE --ram 512M --poison AO:$P1 --poison AO:$P2 \
	--poison AO:$P3:13 >"$T/sim.out" 2>&1
check "ras-vmmsim forwards three errors of vmr" test $? -eq 0
WANT="$P1 4096 AO,$P2 4096 AO,$P3 8192 AO,"
expect_eq "rasd has vmr's three ranges" "$(ranges vmr)" "$WANT"

# 2. The destination: a second rasd imports the bundle, if rasctl can.
if rasctl export vmr -o "$T/vmr.bundle" >"$T/export.out" 2>&1; then
	stop_rasd TERM
	SOCK=$T/dest.sock STATE=$T/dest-state
	start_rasd -c "$T/insecure.conf" || { notok "the destination's rasd starts"; exit 1; }
	check "the destination's rasd imports the bundle" \
		rasctl import --replace "$T/vmr.bundle" >"$T/import.out"
	expect_eq "the imported VM is incoming" "$(state vmr)" incoming
	expect_eq "the imported VM has the three ranges" "$(ranges vmr)" "$WANT"
	IMPORTED=1
else
	skip "rasctl export/import not usable ($(head -1 "$T/export.out")): the destination is the same rasd"
	IMPORTED=0
fi
# reimport: make vmr an incoming VM again (no-op without export/import).
reimport() {
	[ "$IMPORTED" = 1 ] && rasctl import --replace "$T/vmr.bundle" >/dev/null
	return 0
}
history_len() { rasctl --json history "$1" | jq length; }
HIST=$(history_len vmr)

# 3. Re-arm before KVM_RUN, with two vCPU threads at the gate.
out=$(vmm -uuid "$U" -name guest=vmr,debug-threads=on -incoming defer \
	--run --vcpus 2 --check $P1 --check $P2 --check $P3:0x2000 \
	--check 0x6001000 2>"$T/vmr.err")
check "the incoming VMM exits 0" test $? -eq 0
expect_eq "before KVM_RUN the pages were still readable (the gate re-arms)" \
	"$(grep -c '^before kvm_run: gpa=.* memread=ok$' <<<"$out")" 4
expect_eq "both vCPU threads entered KVM_RUN once" \
	"$(grep -c '^kvm_run: cpu=[01] rc=' <<<"$out")" 2
for r in "$P1 len=4096" "$P2 len=4096" "$P3 len=8192"; do
	expect_eq "re-armed: $r reads EIO, neighbours read, vCPU load SIGBUS, marker stays" \
		"$(grep "^check gpa=${r% *} " <<<"$out")" \
		"check gpa=${r% *} ${r#* } memread=EIO below=ok above=ok load=SIGBUS after=EIO"
done
expect_eq "the clean page between two ranges is left alone" \
	"$(grep '^check gpa=0x6001000 ' <<<"$out")" \
	"check gpa=0x6001000 len=4096 memread=readable below=EIO above=EIO load=value=0 after=ok"
check "one line says the re-arm happened, and how long it took" \
	grep -q '^rasd-shim: VM vmr: re-armed 3 poisoned ranges (16384 bytes) before the guest runs: [0-9.]* ms, after [0-9.]* ms waiting for rasd (final state [0-9.]* ms)$' "$T/vmr.err"
expect_eq "the shim's output: covered and re-armed, nothing else" \
	"$(wc -l <"$T/vmr.err")" 2
sed -n 's/.*before the guest runs: \(.*\)$/# re-arm of 3 ranges: \1/p' "$T/vmr.err"
if [ "$REAL_MF" = 1 ]; then
	expect_eq "the vCPU loads of re-armed pages reached rasd as AR (BUS_MCEERR_AR)" \
		"$(ranges vmr)" "$P1 4096 AR,$P2 4096 AR,$P3 8192 AR,"
else
	expect_eq "the vCPU loads forwarded nothing new (BUS_ADRERR here)" \
		"$(ranges vmr)" "$WANT"
fi

# 3b. The final state: two rasd sharing a fleet key, as two hosts. The
#     source records a poison after the export; the destination's gate
#     asks for the final state and re-arms that one too.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/fleet.key"
chmod 600 "$T/fleet.key"
. "$(dirname "$0")/tls-lib.sh"
tls_ca "$T/pki/fleet" && tls_host "$T/pki/a" "$T/pki/fleet" host-a &&
    tls_host "$T/pki/b" "$T/pki/fleet" host-b || notok "certtool makes the hosts' certificates"
{ printf 'fleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/a-peer.sock"; tls_conf "$T/pki/a" "$T/pki/fleet"; } >"$T/a.conf"
{ printf 'fleet_key = %s\npeer_listen = %s\n' "$T/fleet.key" "$T/b-peer.sock"; tls_conf "$T/pki/b" "$T/pki/fleet"; } >"$T/b.conf"
# rasd_at NAME: start rasd NAME (a or b) on $T/NAME.sock with $T/NAME.conf.
rasd_at() {
	"$RASD_BIN" --foreground --no-libvirt --socket "$T/$1.sock" \
	    --state-dir "$T/$1-state" --config "$T/$1.conf" >>"$RASD_LOG" 2>&1 &
	eval "${1^^}_PID=$!"
	wait_for "$RASCTL_BIN" --socket "$T/$1.sock" list-vms >/dev/null 2>&1
}
rasd_at a && rasd_at b || notok "two rasd with a fleet key start"
coproc SRC { exec "$VMMSIM_BIN" --socket "$T/a.sock" --name vmf --uuid "$U4" \
	--arch x86_64 --declare 0:MCE --ram 512M --hold --stdin 2>&1; }
SIM_PID=$SRC_PID
echo "AO $P1 12" >&"${SRC[1]}"
read -r -t 5 line <&"${SRC[0]}"
check "final state: the source records a poison" grep -q "(rasd)" <<<"$line"
"$RASCTL_BIN" --socket "$T/a.sock" export vmf -o "$T/vmf.bundle" >/dev/null
check "final state: the destination imports the snapshot" \
	"$RASCTL_BIN" --socket "$T/b.sock" import --replace "$T/vmf.bundle" >/dev/null
echo "AO 0x6004000 12" >&"${SRC[1]}"
read -r -t 5 line <&"${SRC[0]}"
check "final state: the source records one more after the snapshot" grep -q "(rasd)" <<<"$line"
out=$(LD_PRELOAD=$PRELOAD RASD_SOCKET=$T/b.sock "$KVMVMM" -uuid "$U4" \
	-name guest=vmf,debug-threads=on -incoming defer --run --check $P1 \
	--check 0x6004000 2>"$T/vmf.err")
check "final state: the incoming VMM exits 0" test $? -eq 0
check "final state: the snapshot's range is re-armed" \
	grep -q "^check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO$" <<<"$out"
check "final state: so is the one recorded after the snapshot" \
	grep -q "^check gpa=0x6004000 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO$" <<<"$out"
check "final state: both re-armed before the guest ran" \
	grep -q '^rasd-shim: VM vmf: re-armed 2 poisoned ranges (8192 bytes) before the guest runs' "$T/vmf.err"
sed -n 's/.*vmf: re-armed .*before the guest runs: \(.*\)$/# re-arm with the final sync: \1/p' "$T/vmf.err"
check "final state: the destination's rasd synced with the source" \
	grep -q "vm vmf: final sync from the source" "$RASD_LOG"
expect_eq "final state: the source hands the VM off" \
	"$("$RASCTL_BIN" --socket "$T/a.sock" --json show vmf | jq -r .state)" migrated-away
kill "$SRC_PID" 2>/dev/null; wait "$SRC_PID" 2>/dev/null
SIM_PID=
for r in A B; do
	eval "pid=\$${r}_PID"
	kill -TERM "$pid"; wait "$pid"
	check "final state: rasd $r stops cleanly" test $? -eq 0
done

# 4. The migration thread reads a re-armed page (this VMM migrating on).
reimport
out=$(vmm -uuid "$U" -name guest=vmr,debug-threads=on -incoming defer \
	--run --migrate-read $P2 --check $P1 2>"$T/vmr2.err")
check "the VMM survives its migration thread reading poison (exit 0)" test $? -eq 0
check "the migration thread's read completed with zeros" \
	grep -q "^migration read gpa=$P2 by live_migration: completed nonzero=0 " <<<"$out"
check "200 ms later the page is poisoned again" \
	grep -q "^migration read gpa=$P2: 200 ms later memread=EIO$" <<<"$out"
check "a vCPU fault is still the guest's, not the migration thread's case" \
	grep -q "^check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO$" <<<"$out"
expect_eq "one line for that page, naming the thread" \
	"$(grep -c "thread \"live_migration\" read poisoned memory at guest address $P2 (4096 bytes): gave it zeros" "$T/vmr2.err")" 1
# The --check of P1 is a vCPU load: with real memory-failure support it
# is the guest's access, recorded as AR; the migration thread's read of P2
# is never forwarded.
if [ "$REAL_MF" = 1 ] && [ "$IMPORTED" = 1 ]; then
	expect_eq "the migration thread's read forwarded nothing (P1: the vCPU's AR)" \
		"$(ranges vmr)" "$P1 4096 AR,$P2 4096 AO,$P3 8192 AO,"
	expect_eq "one new record in vmr's history: the vCPU's" \
		"$(history_len vmr)" "$((HIST + 1))"
elif [ "$REAL_MF" = 0 ]; then
	expect_eq "the migration thread's read forwarded nothing" "$(ranges vmr)" "$WANT"
	expect_eq "no new record in vmr's history" "$(history_len vmr)" "$HIST"
else
	check "the migration thread's read forwarded nothing (P2 still AO)" \
		grep -q "$P2 4096 AO," <<<"$(ranges vmr)"
fi

# 4b. Any other helper thread blocks SIGBUS as QEMU's do: the kernel kills
#     the process, as it would QEMU (the shim opens migration threads only).
reimport
vmm -uuid "$U" -name guest=vmr,debug-threads=on -incoming defer --run \
	--migrate-read $P2 --migrate-name worker >"$T/worker.out" 2>&1
expect_eq "a non-migration helper thread reading poison dies by SIGBUS" "$?" 135

# 5. A source VMM: poison forwarded from a vCPU. The signal was injected, so
#    the page still reads: the shim puts a marker on it, and it faults like
#    the hardware poison rasd now records. Then the migration thread reads it.
out=$(vmm -uuid "$U2" -name guest=vmsrc,debug-threads=on --run \
	--poison AR:$P1 --settle 200 --check $P1 --migrate-read $P1 \
	2>"$T/vmsrc.err")
check "source VMM exits 0" test $? -eq 0
check "source: the vCPU's AR reached the VMM's handler" \
	grep -q "^handler ran: code=4 .* gpa=$P1$" <<<"$out"
expect_eq "source: the shim made the injected error's page fault like poison" \
	"$(grep "^check gpa=$P1 " <<<"$out")" \
	"check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
expect_eq "source: the shim's only output is the covered line" \
	"$(cat "$T/vmsrc.err" | grep -v 'read poisoned memory')" "$(covered vmsrc "$U2")"
check "source: the migration read completed with zeros" \
	grep -q "^migration read gpa=$P1 by live_migration: completed nonzero=0 " <<<"$out"
check "source: poisoned again 200 ms later" \
	grep -q "^migration read gpa=$P1: 200 ms later memread=EIO$" <<<"$out"
expect_eq "source: rasd has the one forwarded AR, nothing more" \
	"$(ranges vmsrc)" "$P1 4096 AR,"
took=$(sed -n 's/^kvm_run: cpu=0 rc=.* took=\([0-9]*\)\..*/\1/p' <<<"$out")
check "source: KVM_RUN was not held (no migration destination; took ${took:-?} ms)" \
	test "${took:-999}" -lt 100

# 5b. A vCPU reads the poisoned memory in a tight loop (filled with a
#     non-zero pattern first) while the migration thread reads the page:
#     the shim kicks the vCPUs out of KVM_RUN and parks them there for as
#     long as zeros stand in, so the vCPU sees poison (SIGBUS, forwarded as
#     AR) or its pattern, never a zero. race NAME UUID ARGS... runs it.
race() {
	local name=$1 uuid=$2
	shift 2
	vmm -uuid "$uuid" -name guest="$name",debug-threads=on --run "$@" \
		2>"$T/$name.err"
}
# race_ok LABEL OUT GPA: the race line says the reader got zeros five
# times, the vCPU took faults and read no zero, and the page is poisoned.
race_ok() {
	local line
	line=$(grep "^race gpa=" <<<"$2")
	echo "# $1: ${line#race }"
	check "$1: the migration thread read the page five times, all zeros" \
		grep -q ": mreads=5 completed=5 nonzero=0 " <<<"$line"
	check "$1: the vCPU ran the loop and took faults on the poison" \
		grep -qE " passes=[1-9][0-9]* faults=[1-9][0-9]* " <<<"$line"
	expect_eq "$1: the vCPU never read a zero" \
		"$(sed -n 's/.* zeros=\([0-9]*\) .*/\1/p' <<<"$line")" 0
	check "$1: the vCPU was parked in KVM_RUN while zeros stood in" \
		test "$(sed -n 's/.* longest-run=\([0-9]*\)\..*/\1/p' <<<"$line")" -ge 10
	check "$1: the page is poisoned again at the end" \
		grep -q " after=EIO$" <<<"$line"
}
U5=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a5
U6=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a6
U7=6a3c2b9e-5e1f-4c2a-9d3e-0000000000a7
out=$(race vmrace "$U5" --poison AR:$P1 --settle 200 \
	--race 0x5fff000:0x3000 --race-read $P1)
check "race 4 KiB: the VMM exits 0" test $? -eq 0
race_ok "race 4 KiB (and the pages either side)" "$out"
check "race 4 KiB: one line says the vCPUs were held, memory private" grep -q \
	"thread \"live_migration\" read poisoned memory at guest address $P1 (4096 bytes): gave it zeros so QEMU survives (the destination re-arms it), with the guest's vCPUs held out of the guest until the private memory was back in place, poisoned, [0-9.]* ms later$" \
	"$T/vmrace.err"

#     A 2 MiB granule (a memory error with si_addr_lsb 21, as a hugetlbfs
#     page gives): the whole granule is poisoned and moved, never only the
#     4 KiB the error named; the vCPU reads all of it.
G2=0x6400000
out=$(race vmrace2 "$U6" --poison AR:0x6403000:21 --settle 300 \
	--check $G2:0x200000 --race $G2:0x200000:0x10000 --race-read 0x6403000)
check "race 2 MiB: the VMM exits 0" test $? -eq 0
expect_eq "race 2 MiB: the whole aligned granule faults like poison" \
	"$(grep "^check gpa=$G2 " <<<"$out")" \
	"check gpa=$G2 len=2097152 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
race_ok "race 2 MiB" "$out"
check "race 2 MiB: the line names the whole granule" grep -q \
	"read poisoned memory at guest address $G2 (2097152 bytes): gave it zeros" \
	"$T/vmrace2.err"
expect_eq "race 2 MiB: rasd has the granule, as AR" "$(ranges vmrace2)" "$G2 2097152 AR,"

#     Guest RAM shared from a memfd (memory-backend-memfd,share=on, as
#     vhost-user needs): after the rescues the page is the memfd's again.
out=$(race vmrace3 "$U7" --memfd --poison AR:$P1 --settle 200 \
	--race 0x5fff000:0x3000 --race-read $P1)
check "race memfd: the VMM exits 0" test $? -eq 0
race_ok "race memfd" "$out"
expect_eq "race memfd: the page is still the shared memfd mapping" \
	"$(grep "^race mapping " <<<"$out")" \
	"race mapping gpa=$P1: shared /memfd:kvmvmm-ram (deleted)"
check "race memfd: the line says the shared memory came back" grep -q \
	"(4096 bytes): gave it zeros .* until the shared memory was back in place" \
	"$T/vmrace3.err"

# 6. Not a migration destination: poison rasd reports at a later
#    registration is already in the process (here: the marker the shim put
#    on the injected error's page); nothing is re-armed, nothing said.
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK exec "$KVMVMM" -uuid "$U3" \
	-name guest=vmstay,debug-threads=on --run --hold 2>"$T/vmstay.err"; }
SIM_PID=$VMM_PID
cmd() {
	local line
	echo "$1" >&"${VMM[1]}"
	while read -r -t 10 line <&"${VMM[0]}"; do
		case $line in
		handler*|check*|"bad command"*) echo "$line"; return 0;;
		esac
	done
	echo "no answer"
}
check "vmstay registers" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json show vmstay 2>/dev/null | jq -r .state)\" = running ]"
check "vmstay: AO forwarded" grep -q '^handler ran: code=5 ' <<<"$(cmd "AO $P1")"
sleep 0.2
# (cmd must not run in a pipeline: the coproc's descriptors stay behind.)
got=$(cmd "check $P1")
expect_eq "vmstay: the forwarded page faults like poison" "$got" \
	"check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
stop_rasd TERM
start_rasd -c "$T/insecure.conf" || notok "rasd restarts"
check "vmstay re-registers (resume) with its active range" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json show vmstay 2>/dev/null | jq -r .state)\" = running ]"
sleep 0.3
expect_eq "vmstay: after the re-registration the page is as it was" \
	"$(cmd "check $P1")" \
	"check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
echo quit >&"${VMM[1]}"
wait "$SIM_PID"	# (bash unsets VMM_PID once the coproc is reaped)
SIM_PID=
expect_eq "vmstay: only the covered line" "$(cat "$T/vmstay.err")" "$(covered vmstay "$U3")"

if [ "$IMPORTED" = 1 ]; then
	reimport
	out=$(vmm -uuid "$U" -name guest=vmr,debug-threads=on --run \
		--check $P1 2>"$T/fresh.err")
	check "an imported VM started without -incoming: no re-arm" \
		grep -q "^check gpa=$P1 len=4096 memread=readable " <<<"$out"
	check "... and no re-arm line" test "$(grep -c 're-arm' "$T/fresh.err")" -eq 0
fi

# 7. The gate fails safe when rasd does not answer.
#    While the migration still runs (no vCPU in KVM_RUN yet), stopping the
#    destination makes it fail and the guest stays on the source: with
#    RASD_SHIM_REQUIRED=1 the VMM stops RASD_SHIM_GATE_MS after its start.
reimport
stop_rasd TERM
t0=$(date +%s%N)
RASD_SHIM_REQUIRED=1 RASD_SHIM_GATE_MS=$GATE vmm -uuid "$U" \
	-name guest=vmr,debug-threads=on -incoming defer --hold \
	>"$T/early.out" 2>"$T/early.err" < <(sleep 5)
rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "REQUIRED, rasd away, still migrating: the VMM exits 1" "$rc" 1
check "... about RASD_SHIM_GATE_MS after its start (${ms} ms)" test "$ms" -lt $(( 2000 * TIME_SCALE ))
# (Which of the two reasons depends on whether the shim had created its
# client by then: both say rasd was not reached in time.)
check "... with one line saying why and what happens" grep -qE \
	"^rasd-shim: VM vmr: cannot re-arm its poisoned ranges before the guest runs: (rasd at $SOCK did not take the registration within $GATE ms of the start \(.*\)|the shim did not register with rasd at $SOCK within $GATE ms of the start); stopping this QEMU so the migration fails and the guest keeps running on the source$" \
	"$T/early.err"
sed 's/^/# early: /' "$T/early.err"

#    At KVM_RUN the migration has completed (libvirt has resumed the
#    destination, the source is going away): exiting would lose the guest,
#    so REQUIRED holds the vCPUs, and QEMU can still take one back.
out=$(RASD_SHIM_REQUIRED=1 RASD_SHIM_GATE_MS=$GATE vmm -uuid "$U" \
	-name guest=vmr,debug-threads=on -incoming defer --run --vcpus 2 \
	--kick-after 1500 --check $P1 2>"$T/held.err")
check "REQUIRED, rasd away, at KVM_RUN: the VMM does not exit (exit 0)" test $? -eq 0
check "... one line: holding the vCPUs, and why" grep -q \
	"^rasd-shim: VM vmr: cannot re-arm its poisoned ranges before the guest runs: rasd at $SOCK did not take the registration within $GATE ms (.*); holding its vCPUs and trying again every 1000 ms (the migration has completed: stopping this QEMU now would lose the guest)$" \
	"$T/held.err"
took=$(sed -n 's/^kvm_run: cpu=0 rc=-1 error=Interrupted system call exit=[0-9]* took=\([0-9]*\)\..*/\1/p' <<<"$out")
check "... QEMU's kick gets the held vCPU back: KVM_RUN returns EINTR (after ${took:-?} ms)" \
	test "${took:-0}" -ge 1400 -a "${took:-0}" -lt 2500
expect_eq "... that held vCPU never entered the guest" \
	"$(grep -c '^kvm_run: cpu=0 rc=0' <<<"$out")" 0
expect_eq "... nor did the other one, kicked too" \
	"$(grep -c '^kvm_run: cpu=1 rc=-1 error=Interrupted system call' <<<"$out")" 1
expect_eq "... and the shim said nothing more" "$(grep -c . "$T/held.err")" 2

#    Held until rasd answers; then the ranges are re-armed and it runs.
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK RASD_SHIM_REQUIRED=1 \
	RASD_SHIM_GATE_MS=$GATE exec "$KVMVMM" -uuid "$U" \
	-name guest=vmr,debug-threads=on -incoming defer --run --check $P1 \
	--hold 2>"$T/hold.err"; }
SIM_PID=$VMM_PID
check "REQUIRED, rasd away: held" wait_for grep -q "holding its vCPUs" "$T/hold.err"
sleep 1
start_rasd -c "$T/insecure.conf" || notok "rasd restarts"
line=
read -r -t 10 line <&"${VMM[0]}"
while [ -n "$line" ] && [[ $line != kvm_run:* ]]; do read -r -t 10 line <&"${VMM[0]}" || break; done
echo "# $line"
check "rasd back: the held guest runs" grep -q '^kvm_run: cpu=0 rc=0 ' <<<"$line"
check "... once its ranges are re-armed, said in one line" grep -q \
	'^rasd-shim: VM vmr: re-armed 3 poisoned ranges (16384 bytes) after holding the guest [0-9.]* s; it runs now$' "$T/hold.err"
read -r -t 10 line <&"${VMM[0]}"
expect_eq "... and they read EIO" "$line" \
	"check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
echo quit >&"${VMM[1]}"
wait "$SIM_PID"	# (bash unsets VMM_PID once the coproc is reaped)
check "the held VMM exits 0" test $? -eq 0
SIM_PID=

#    Not REQUIRED: the guest runs after the bounded wait, re-armed late.
reimport
stop_rasd TERM
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK RASD_SHIM_GATE_MS=$GATE exec \
	"$KVMVMM" -uuid "$U" -name guest=vmr,debug-threads=on -incoming defer \
	--run --hold 2>"$T/late.err"; }
SIM_PID=$VMM_PID
line=
read -r -t 10 line <&"${VMM[0]}"
while [ -n "$line" ] && [[ $line != kvm_run:* ]]; do read -r -t 10 line <&"${VMM[0]}" || break; done
took=$(sed -n 's/^kvm_run: cpu=0 rc=.* took=\([0-9]*\)\..*/\1/p' <<<"$line")
check "not required, rasd away: the guest runs after the bounded wait (${took:-?} ms)" \
	test "${took:-0}" -ge "$GATE" -a "${took:-0}" -lt $(( GATE + 700 * TIME_SCALE ))
echo "# $line"
check "... with one line saying so" grep -q \
	"^rasd-shim: VM vmr: cannot re-arm its poisoned ranges before the guest runs: .*; the guest runs without them (RASD_SHIM_REQUIRED=1 would hold it instead)$" \
	"$T/late.err"
got=$(cmd "check $P1")
expect_eq "... and the pages are not poisoned yet" \
	"${got%% below=*}" "check gpa=$P1 len=4096 memread=readable"
start_rasd -c "$T/insecure.conf" || notok "rasd restarts"
check "rasd back: the ranges are re-armed late" wait_for grep -q \
	'^rasd-shim: VM vmr: rasd is back; re-armed 3 poisoned ranges (16384 bytes) late' "$T/late.err"
expect_eq "... and read EIO now" "$(cmd "check $P1")" \
	"check gpa=$P1 len=4096 memread=EIO below=ok above=ok load=SIGBUS after=EIO"
echo quit >&"${VMM[1]}"
wait "$SIM_PID"	# (bash unsets VMM_PID once the coproc is reaped)
check "the late VMM exits 0" test $? -eq 0
SIM_PID=

# 8. Other processes with the shim: nothing changes.
out=$(LD_PRELOAD=$PRELOAD /bin/true 2>&1)
expect_eq "/bin/true with the shim prints nothing" "$out" ""

# Sanitizer builds: a report from the shim lands in the VMM's stderr.
check "no sanitizer report from the shim or kvmvmm" bash -c \
	"! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' $T/*.err $T/*.out"
