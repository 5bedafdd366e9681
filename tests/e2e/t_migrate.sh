#!/usr/bin/env bash
# needs: kvm qemu
# Issue 4 end to end: live migration of shim-covered QEMU/KVM guests
# between two real libvirtd "hosts" on this machine (libvirt2-lib.sh), each
# with its own rasd, the two sharing a fleet key and asking each other for
# the final sync. Poison is raised in the source QEMU with ptrace SIGBUS
# (ras-inject), as a real memory error:
#  a. a clean VM migrates A -> B and back; rasd on each side follows it;
#     QEMU's downtime is printed ("# downtime clean: N ms");
#  b. a VM poisoned on A migrates to B: B's rasd has the same ranges and
#     decisions and the pinned boot profile (0:MCE), B's QEMU has a poison
#     marker on the page (reads EIO, the neighbours read fine), and a
#     SIGBUS there on B is answered with MCE ("# downtime poisoned");
#  c. B's rasd runs with another default policy (--ar-order SEA,NMI
#     --ao-order GSIV,POLLED, no MCE): the migrated VM still gets MCE, its
#     boot profile, where a VM of B's own gets nothing;
#  d. a cancelled migration (domjobabort) of a poisoned VM, after A's
#     migration thread read the poisoned page (the shim gave it zeros): the
#     VM keeps running on A with its records and the page poisoned again,
#     and B runs nothing;
#  e. poison during pre-copy and at switchover: either B has every record
#     A has before the guest runs there, or the migration fails and the
#     VM runs on A with all of them;
#  f. a forged bundle in the migrating domain XML: B's hook refuses it
#     (REQUIRED=yes), the migration fails, the VM keeps running on A;
#  g. with the shim observing (QEMU's handler acts, QEMU keeps its own
#     list of poisoned pages), QEMU >= 9 refuses to migrate a poisoned VM
#     and says why; QEMU 7.2 migrates it.
# The shim enforces everywhere else (the default): QEMU's handler never
# sees the errors, so every QEMU migrates a poisoned VM.
# Skips where root, KVM or libvirt are missing (libvirt-lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/libvirt2-lib.sh"

B=$(virt_abs "${B:-build}")
# The shim is loaded into the system's QEMU: under a sanitizer build, use
# the plain build's shim (an ASan .so cannot load into a plain QEMU).
SHIM_BUILD=$(virt_abs "${RAS_SHIM_B:-$B}")
for f in "$SHIM_BUILD/lib/rasd-shim.so" "$B/tests/tools/ras-inject" \
    "$B/tests/tools/mce-guest.img"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done
INJECT=$B/tests/tools/ras-inject
B_POLICY=(--ar-order SEA,NMI --ao-order GSIV,POLLED)
GPA=0x6000000		# the poisoned page of every scenario
T_START=$(date +%s)

mig_start || { notok "libvirtd of hosts A and B start"; exit 1; }
mig_rasd_conf "$A_RASD_CONF" a
mig_rasd_conf "$B_RASD_CONF" b
RASD_LIBVIRT=$A_URI start_rasd --config "$A_RASD_CONF" ||
    { notok "rasd A starts, watching libvirt A"; exit 1; }
start_rasd_b --config "$B_RASD_CONF" -d "${B_POLICY[@]}" ||
    { notok "rasd B starts, watching libvirt B"; exit 1; }
SHIM=$(virt_share "$SHIM_BUILD/lib/rasd-shim.so")
MCE_IMG=$(virt_share "$B/tests/tools/mce-guest.img")
virt_events_start
b_events_start
echo "# hosts up after $(( $(date +%s) - T_START )) s"

# --- helpers -------------------------------------------------------------
# rasctl on A, giving up after 2 s (rasctl_b does the same on B).
rasctl_a() { "$RASCTL_BIN" --socket "$SOCK" --timeout 2 "$@"; }
# st CTL VM: rasd's state of VM ("" if unknown); CTL is rasctl_a or rasctl_b.
st() { "$1" --json show "$2" 2>/dev/null | jq -r .state; }
is_st() { [ "$(st "$1" "$2")" = "$3" ]; }
# wait_st CTL VM STATE: up to 10 s.
wait_st() { within 10 is_st "$@"; }
# ranges CTL VM: the active ranges with their decisions, one line each.
ranges() {
	"$1" --json list-poison "$2" 2>/dev/null |
	    jq -r '.[] | "\(.gpa) \(.length) \(.kind) \(.action) \(.notification) \(.source_id)"'
}
# nranges CTL VM
nranges() { "$1" --json list-poison "$2" 2>/dev/null | jq length; }
is_nranges() { [ "$(nranges "$1" "$2")" = "$3" ]; }
# wait_nranges CTL VM N: up to 5 s.
wait_nranges() { within 5 is_nranges "$@"; }
# subset FILE1 FILE2: every line of FILE1 is in FILE2.
subset() { [ -z "$(comm -23 <(sort -u "$1") <(sort -u "$2"))" ]; }
profile() {
	"$1" --json show "$2" | jq -r '[.profile[] | "\(.source_id):\(.notification)"] | join(",")'
}
# running_on VSH NAME: virsh on that host says NAME is running.
running_on() { [ "$("$1" domstate "$2" 2>/dev/null | head -1)" = running ]; }
not_running_on() { ! running_on "$@"; }
# hva PID OFFSET: host address of guest RAM offset OFFSET in QEMU PID.
# ras-inject finds guest RAM as the one anonymous mapping of its size;
# while the shim's thread puts a poison marker on a page (UFFDIO_REGISTER
# of exactly that page, then close) that mapping is split in three for a
# moment -- long enough to be seen in the nested host: try again.
hva() {
	within 2 hva_try "$@" && echo "$HVA"
}
hva_try() {
	HVA=$("$INJECT" --pid "$1" --code AO --ram-offset "$2" --dry-run 2>/dev/null |
	    sed -n 's/.* at host VA \(0x[0-9a-f]*\).*/\1/p')
	[ -n "$HVA" ]
}
# hva_rasd CTL VM GPA: the same through rasd's memory map of the VM.
hva_rasd() {
	"$1" --json show "$2" | jq -r --arg g "$3" '
	    ($g | ltrimstr("0x") | explode | reduce .[] as $c (0;
	        . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end))) as $gpa
	    | [.slots[] | {gpa: (.gpa | ltrimstr("0x") | explode | reduce .[] as $c (0;
	        . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end))),
	        hva: (.hva | ltrimstr("0x") | explode | reduce .[] as $c (0;
	        . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end))), size}
	      | select(.gpa <= $gpa and $gpa < .gpa + .size)] | first
	    | if . == null then "" else (.hva + $gpa - .gpa) end' 2>/dev/null
}
# marked PID HVA: the page reads EIO and its neighbours fine.
marked() { [ "$(peek3 "$1" "$2")" = "ok EIO ok" ]; }
# in_kvm_run PID: QEMU PID's "CPU 0/KVM" thread is inside KVM_RUN (the
# boot-sector guest halts there, wchan kvm_vcpu_block); a vCPU that the
# shim's gate holds before its first KVM_RUN sleeps elsewhere.
in_kvm_run() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/KVM" ] || continue
		# syscall 16 = ioctl, second argument KVM_RUN (0xae80)
		read -r nr _ req _ <"$t/syscall" 2>/dev/null
		[ "$nr" = 16 ] && [ "$req" = 0xae80 ]
		return
	done
	return 1
}
# runs_on a|b NAME: NAME's guest runs on that host (within 10 s). When
# not, say where its vCPU is (thread state, guest EIP, halted or not).
runs_on() {
	local pid
	if [ "$1" = a ]; then pid=$(virt_qemu_pid "$2"); else pid=$(b_qemu_pid "$2"); fi
	[ -n "$pid" ] && within 10 in_kvm_run "$pid" && return 0
	echo "# $2 on $1: vCPU thread $(vcpu_where "$pid"); guest $(
	    if [ "$1" = a ]; then vsh qemu-monitor-command --hmp "$2" 'info registers'
	    else vsh_b qemu-monitor-command --hmp "$2" 'info registers'; fi 2>&1 |
	    grep -o 'EIP=[0-9a-f]* .*HLT=[01]' | sed 's/EFL=[^ ]* \[[^]]*\] //')"
	return 1
}
# vcpu_where PID: the "CPU 0/KVM" thread's system call ("running" when on
# a CPU) and system time so far.
vcpu_where() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/KVM" ] || continue
		echo "syscall '$(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)'," \
		    "stime $(cut -d' ' -f15 "$t/stat" 2>/dev/null) ticks"
		return
	done
	echo "not found"
}
# fill PID OFFSET MIB: write MIB MiB of random bytes into guest RAM at
# OFFSET (memory the boot-sector guest never uses), so that a migration
# has that much to send and a bandwidth limit makes it last.
fill() {
	local base
	base=$(hva "$1" 0)
	[ -n "$base" ] || return 1
	head -c "$3M" /dev/urandom | dd of="/proc/$1/mem" bs=1M \
	    seek=$(( base + $2 )) oflag=seek_bytes conv=notrunc status=none
}
# job_active VSH NAME: a migration job is under way and has sent data.
# (Waited for with within, in wall-clock time: a virsh call takes most of
# a second in the nested host, so wait_for's 250 * TIME_SCALE tries of it
# would wait some ten minutes for a job that never comes.)
job_active() {
	"$1" domjobinfo "$2" 2>/dev/null | grep -q '^Job type: *Unbounded'
}
# ev_ms EVENTS NAME TEXT: the time (ms of the day) of the last event line
# of NAME holding TEXT ("2026-11-25 13:35:42.205+0000: event ...").
ev_ms() {
	grep -a "for domain '$2': $3" "$1" | tail -1 |
	    sed -n 's/^[0-9-]* \([0-9]*\):\([0-9]*\):\([0-9]*\)\.\([0-9]*\).*/\1 \2 \3 \4/p' |
	    awk '{ print ((($1 * 60) + $2) * 60 + $3) * 1000 + $4 }'
}
# pause_ms SRC_EVENTS DST_EVENTS NAME: from the source pausing NAME for
# the switchover to the destination resuming it (libvirt's events; the
# shim's gate may hold the vCPU a little longer, see gate_ms).
pause_ms() {
	local t0 t1
	t0=$(ev_ms "$1" "$3" "Suspended Migrated")
	t1=$(ev_ms "$2" "$3" "Resumed Migrated")
	[ -n "$t0" ] && [ -n "$t1" ] && echo $(( t1 - t0 ))
}
# gate_ms QEMU_LOG NAME: how long the destination shim's gate held the
# first KVM_RUN waiting for rasd (its log line).
gate_ms() {
	grep -a "rasd-shim: VM $2: re-armed .* after [0-9.]* ms waiting" "$1" | tail -1 |
	    sed -n 's/.* after \([0-9.]*\) ms waiting.*/\1/p'
}
# rlog_ms LOG PATTERN: the time (ms of the day) of the last rasd log line
# matching PATTERN ("rasd[HH:MM:SS.mmm] ...").
rlog_ms() {
	grep -a -- "$2" "$1" | tail -1 |
	    sed -n 's/^rasd\[\([0-9]*\):\([0-9]*\):\([0-9]*\)\.\([0-9]*\)\].*/\1 \2 \3 \4/p' |
	    awk '{ print ((($1 * 60) + $2) * 60 + $3) * 1000 + $4 }'
}
# final_sync_ms VM: B's time from asking A to having A's answer.
final_sync_ms() {
	local t0 t1
	t0=$(rlog_ms "$B_RASD_LOG" "vm $1: asking the source rasd")
	t1=$(rlog_ms "$B_RASD_LOG" "vm $1: final sync from the source")
	[ -n "$t0" ] && [ -n "$t1" ] && echo $(( t1 - t0 ))
}
# start_guest NAME: define NAME on A (covered, RASD_SHIM_REQUIRED=1), start
# it, wait until the guest is ready and rasd A has it running.
start_guest() {
	local name=$1
	shift
	mig_define_guest "$name" "$MCE_IMG" --shim "$SHIM" \
	    --env RASD_SHIM_REQUIRED=1 "$@" || return 1
	set -- "$name"
	vsh start "$1" >/dev/null || return 1
	virt_wait_ready "$1" || return 1
	wait_st rasctl_a "$1" running
}
# hooklog_a NAME PHASE: A's hook line for NAME and PHASE (the last).
hooklog_a() { grep -a " $1 [-0-9a-f]* $2: " "$VIRT_HOOK_LOG" | tail -1; }
# inject_a NAME OFFSET [KIND]: a memory error in A's QEMU of NAME, handled
# by QEMU (its log line) and recorded by rasd A.
# The shim enforces (the default): rasd's log has the forward; QEMU's
# own handler never sees it (qemu_saw_none).
inject_a() {
	local n re="vm $1: (repeat )?A[OR] (poison )?at gpa "
	n=$(grep -acE "$re" "$RASD_LOG")
	"$INJECT" --pid "$(virt_qemu_pid "$1")" --code "${3:-AO}" \
	    --ram-offset "$2" >>"$T/inject.out" 2>&1 || return 1
	within 10 eval '[ "$(grep -acE "$re" "$RASD_LOG")" -gt "$n" ]'
}
# qemu_saw_none LOG: QEMU's handler injected nothing of its own.
qemu_saw_none() { ! grep -aq "of type BUS_MCEERR_" "$1"; }
# no_switchover_yet NAME: A has not paused NAME for the switchover.
no_switchover_yet() {
	! grep -a "for domain '$1'" "$VIRT_EVENTS" | grep -q "Suspended Migrated"
}
# hooklog_b NAME PHASE: B's hook line for NAME and PHASE (the last).
hooklog_b() { grep -a " $1 [-0-9a-f]* $2: " "$B_HOOK_LOG" | tail -1; }
# mig_bg NAME FROM TO [OPTIONS...]: mig_migrate in the background; its
# status, time and output land in $T/NAME.mig; pid in $MIG_BG.
mig_bg() {
	local n=$1
	( mig_migrate "$@"; rc=$?
	  printf '%s %s\n%s\n' "$rc" "$MIG_MS" "$MIG_OUT" >"$T/$n.mig" ) &
	MIG_BG=$!
}
# mig_bg_wait: wait (bounded by mig_migrate's own timeout) and read
# MIG_RC, MIG_MS, MIG_OUT.
mig_bg_wait() {
	wait "$MIG_BG"
	MIG_RC=$(head -1 "$T/$1.mig" | cut -d' ' -f1)
	MIG_MS=$(head -1 "$T/$1.mig" | cut -d' ' -f2)
	MIG_OUT=$(tail -n +2 "$T/$1.mig")
}

# --- a. a clean VM, A -> B -> A ------------------------------------------
check "a: m1 starts on A, covered, rasd A has it running" start_guest m1
mig_migrate m1 "$A_URI" "$B_URI"
check "a: m1 live-migrates A -> B ($MIG_MS ms) ${MIG_OUT:+: $MIG_OUT}" test $? -eq 0
check "a: m1 runs on B" running_on vsh_b m1
check "a: m1's guest runs on B (its vCPU is not held by the gate)" runs_on b m1
check "a: m1 no longer runs on A" not_running_on vsh m1
check "a: rasd B has m1 running" wait_st rasctl_b m1 running
expect_eq "a: B's hook imported m1's bundle" \
	"$(hooklog_b m1 'migrate begin' | sed 's/.*: \(imported bundle\) generation.*/\1/')" "imported bundle"
check "a: rasd A has m1 handed off" wait_st rasctl_a m1 migrated-away
hook_told_a() { hooklog_a "$1" 'stopped end' | grep -q "rasd marked the VM stopped"; }
if within 5 hook_told_a m1; then
	ok "a: A's hook told rasd A the source QEMU stopped (stopped end)"
else
	notok "a: A's hook told rasd A the source QEMU stopped: $(hooklog_a m1 'stopped end')"
fi
expect_eq "a: no poison on B" "$(nranges rasctl_b m1)" 0
expect_eq "a: B has the boot profile 0:MCE" "$(profile rasctl_b m1)" "0:MCE"
check "a: B's QEMU log says the shim covers m1" grep -q "rasd-shim: VM m1" "$(b_qemu_log m1)"
d=$(mig_downtime "$VIRT_EVENTS" m1)
echo "# downtime clean: ${d:-?} ms (QEMU); source paused -> destination resumed $(pause_ms "$VIRT_EVENTS" "$B_EVENTS" m1 || echo '?') ms; final sync $(final_sync_ms m1 || echo '?') ms; migration ${MIG_MS} ms"
check "a: QEMU reported the downtime (job-completed on A)" test -n "$d"
mig_migrate m1 "$B_URI" "$A_URI_FROM_B"
check "a: m1 migrates back B -> A ($MIG_MS ms) ${MIG_OUT:+: $MIG_OUT}" test $? -eq 0
check "a: m1 runs on A again" running_on vsh m1
check "a: m1's guest runs on A again" runs_on a m1
check "a: rasd A has m1 running again" wait_st rasctl_a m1 running
check "a: rasd B has m1 handed off" wait_st rasctl_b m1 migrated-away
d=$(mig_downtime "$B_EVENTS" m1)
echo "# downtime clean, back: ${d:-?} ms (QEMU); paused -> resumed $(pause_ms "$B_EVENTS" "$VIRT_EVENTS" m1 || echo '?') ms; migration ${MIG_MS} ms"
vsh destroy m1 >/dev/null

# --- b, c. a VM poisoned on A ------------------------------------------
check "b: m2 starts on A" start_guest m2
check "b: AO injected into m2's vCPU on A, forwarded to rasd A" inject_a m2 $GPA
check "b: rasd A recorded it" wait_nranges rasctl_a m2 1
ranges rasctl_a m2 >"$T/m2.a"
expect_eq "b: A's decision: inject MCE source 0" "$(cat "$T/m2.a")" "$GPA 4096 AO inject MCE 0"
check "b: the shim carried it out, QEMU's own handler saw nothing" \
	qemu_saw_none "$(virt_qemu_log m2)"
expect_eq "b: an AO to this AMD-vendor guest is a deferred error: no #MC" \
	"$(grep -ac 'MCE status' "$(virt_serial m2)")" 0
QA=$(virt_qemu_pid m2)
HA=$(hva "$QA" $GPA)
expect_eq "b: rasd A's memory map gives the same host address" \
	"$(printf '0x%x' "$(hva_rasd rasctl_a m2 $GPA)")" "$HA"
within 5 marked "$QA" "$HA"	# the shim's thread puts the marker on the page
p=$(peek3 "$QA" "$HA")
expect_eq "b: A's poisoned page reads EIO (a marker, like hardware poison), its neighbours fine" "$p" "ok EIO ok"
a_gen=$(rasctl_a --json show m2 | jq -r .generation)
mig_migrate m2 "$A_URI" "$B_URI"
mrc=$?
check "b: poisoned m2 live-migrates A -> B ($MIG_MS ms) ${MIG_OUT:+: $MIG_OUT}" test $mrc -eq 0
check "b: m2 runs on B (A's QEMU survived its migration thread reading the page)" running_on vsh_b m2
check "b: m2 no longer runs on A" not_running_on vsh m2
b_runs=0
runs_on b m2 && b_runs=1
check "b: m2's guest runs on B (the gate opened)" test "$b_runs" = 1
expect_match "b: B's hook imported the bundle, A's generation $a_gen" "$(hooklog_b m2 'migrate begin')" \
	"imported bundle generation $a_gen\$"
check "b: rasd B has m2 running" wait_st rasctl_b m2 running
ranges rasctl_b m2 >"$T/m2.b"
expect_eq "b: B's list-poison: the same range and decision as A" "$(cat "$T/m2.b")" "$(cat "$T/m2.a")"
expect_eq "b: B has the pinned boot profile 0:MCE" \
	"$(profile rasctl_b m2) $(rasctl_b --json show m2 | jq -r .profile_pinned)" "0:MCE true"
check "b: rasd A has m2 handed off" wait_st rasctl_a m2 migrated-away
check "b: rasd B logged the final sync" grep -q "vm m2: final sync from the source" "$B_RASD_LOG"
check "b: rasd A logged the hand-off" grep -q "vm m2: final sync to a peer" "$RASD_LOG"
QB=$(b_qemu_pid m2)
HB=$(hva "$QB" $GPA)
check "b: B's QEMU RAM found ($HB)" test -n "$HB"
p=$(peek3 "$QB" "$HB")
expect_eq "b: B's page at GPA $GPA reads EIO (re-armed), its neighbours fine" "$p" "ok EIO ok"
check "b: B's shim re-armed the range before the guest ran" \
	grep -q "rasd-shim: VM m2: re-armed 1 poisoned range" "$(b_qemu_log m2)"
grep -a "rasd-shim: VM m2" "$(b_qemu_log m2)" | sed 's/^/# B QEMU: /' | tail -5
d=$(mig_downtime "$VIRT_EVENTS" m2)
fs=$(final_sync_ms m2)
echo "# downtime poisoned: ${d:-?} ms (QEMU); source paused -> destination resumed $(pause_ms "$VIRT_EVENTS" "$B_EVENTS" m2 || echo '?') ms; gate held the vCPU $(gate_ms "$(b_qemu_log m2)" m2 || echo '?') ms; final sync ${fs:-?} ms; migration ${MIG_MS} ms"
grep -a "final sync" "$B_RASD_LOG" "$RASD_LOG" | grep -a "vm m2" | sed 's/^/# /'

# A SIGBUS on B at that page: answered from the boot profile (MCE) even
# though B's own orders have no MCE (c).
# (Not while the gate holds B's vCPU: QEMU 7.2 then crashes on the AR.)
if [ "$b_runs" = 1 ]; then
	"$INJECT" --pid "$QB" --code AO --addr "$HB" >>"$T/inject.out" 2>&1
	check "b: rasd B answered an AO at the re-armed page on B as a repeat of the imported range" \
		within 5 grep -q "vm m2: repeat AO at gpa $GPA" "$B_RASD_LOG"
	check "b: B's shim carried it out, B's QEMU handler saw nothing" \
		qemu_saw_none "$(b_qemu_log m2)"
	expect_eq "b: B keeps one range, its decision MCE" "$(ranges rasctl_b m2)" "$(cat "$T/m2.a")"
	"$INJECT" --pid "$QB" --code AR --ram-offset 0x5000000 >>"$T/inject.out" 2>&1
	check "c: AR at a fresh page on B: B's guest took the machine check" \
		virt_wait_file "$(b_serial m2)" "addr=0000000005000000" 1 10
	check "c: ... from B's shim, not B's QEMU" qemu_saw_none "$(b_qemu_log m2)"
	wait_nranges rasctl_b m2 2
	expect_eq "c: B (ar-order SEA,NMI) answers the AR with the boot profile's MCE" \
		"$(ranges rasctl_b m2 | grep '^0x5000000 ')" "0x5000000 4096 AR inject MCE 0"
else
	skip "b, c: SIGBUS on B (m2's vCPU is held by the gate on B)"
fi
out=$("$VMMSIM_BIN" --socket "$B_SOCK" --name b-own --arch x86_64 \
	--declare 0:MCE --caps MCE --poison AO:0x6000000 --poison AR:0x5000000 2>&1)
echo "# c: a VM of B's own with the same profile gets: $(tr '\n' ';' <<<"$out")"
expect_match "c: ... B's own orders would not inject MCE (control)" "$out" "^AO .*(ignore|record)"
check "b: B's QEMU still running" kill -0 "$QB"
vsh_b destroy m2 >/dev/null

# --- d. a cancelled migration -------------------------------------------
check "d: m3 starts on A" start_guest m3
check "d: AO injected into m3 on A" inject_a m3 $GPA
wait_nranges rasctl_a m3 1
ranges rasctl_a m3 >"$T/m3.a"
QA=$(virt_qemu_pid m3)
HA=$(hva "$QA" $GPA)
within 5 marked "$QA" "$HA"
pa=$(peek3 "$QA" "$HA")
# 8 MiB to send after the poisoned page: at 1 MiB/s the migration thread
# reads that page (the shim gives it zeros and poisons it again ~50 ms
# later), then takes 8 s over the rest; the wait for that read is long, since
# a loaded nested host can take seconds to reach the page.
check "d: 8 MiB of guest RAM filled after the page" fill "$QA" 0x6800000 8
mig_bg m3 "$A_URI" "$B_URI" --bandwidth 1
check "d: the slow migration is under way" within 5 job_active vsh m3
check "d: A's migration thread read the poisoned page, the shim gave it zeros" \
	virt_wait_file "$(virt_qemu_log m3)" "read poisoned memory at guest address $GPA" 1 30
grep -a "rasd-shim: VM m3: thread" "$(virt_qemu_log m3)" | sed 's/^/# A QEMU: /'
vsh domjobabort m3 >"$T/abort.out" 2>&1
check "d: domjobabort" test $? -eq 0
mig_bg_wait m3
check "d: the migration failed ($MIG_OUT)" test "$MIG_RC" -ne 0
check "d: m3 keeps running on A" running_on vsh m3
check "d: the same QEMU on A" test "$(virt_qemu_pid m3)" = "$QA"
check "d: m3's guest runs on A" runs_on a m3
check "d: B runs no m3" not_running_on vsh_b m3
check "d: rasd A has m3 running" wait_st rasctl_a m3 running
ranges rasctl_a m3 >"$T/m3.a2"
expect_eq "d: A's list-poison unchanged" "$(cat "$T/m3.a2")" "$(cat "$T/m3.a")"
expect_eq "d: A's page poisoned again after the cancel (before the migration: $pa)" "$(peek3 "$QA" "$HA")" "ok EIO ok"
echo "# d: rasd B's state of m3 after the cancel: '$(st rasctl_b m3)'"
vsh destroy m3 >/dev/null

# --- e. poison during pre-copy -------------------------------------------
check "e: m4 starts on A" start_guest m4
QA=$(virt_qemu_pid m4)
check "e: 8 MiB of m4's RAM filled" fill "$QA" 0x1000000 8
mig_bg m4 "$A_URI" "$B_URI" --bandwidth 1
check "e: pre-copy of m4 under way" within 5 job_active vsh m4
sleep 1
check "e: AO injected into m4 on A during pre-copy" inject_a m4 $GPA
check "e: ... before the switchover" no_switchover_yet m4
check "e: ... recorded by rasd A (within 3 s)" within 3 is_nranges rasctl_a m4 1
check "e: ... still before the switchover" no_switchover_yet m4
out=$(vsh migrate-setspeed m4 100000 2>&1)
check "e: bandwidth raised ${out:+($out)}" test $? -eq 0
mig_bg_wait m4
ranges rasctl_a m4 >"$T/m4.a"
echo "# e pre-copy: migration exit $MIG_RC after $MIG_MS ms${MIG_OUT:+: $MIG_OUT}"
if [ "$MIG_RC" -eq 0 ]; then
	ok "e: m4 migrated ($MIG_MS ms)"
	check "e: m4's guest runs on B" runs_on b m4
	ranges rasctl_b m4 >"$T/m4.b"
	check "e: B has every record A has ($(tr '\n' ' ' <"$T/m4.a"))" subset "$T/m4.a" "$T/m4.b"
	QB=$(b_qemu_pid m4)
	HB=$(hva "$QB" $GPA)
	expect_eq "e: B's page re-armed (EIO), neighbours fine" "$(peek3 "$QB" "$HB")" "ok EIO ok"
	echo "# e pre-copy: final sync $(final_sync_ms m4 || echo '?') ms"
	vsh_b destroy m4 >/dev/null
else
	ok "e: m4's migration failed: $MIG_OUT"
	check "e: ... m4 keeps running on A" running_on vsh m4
	check "e: ... its guest runs" runs_on a m4
	expect_eq "e: ... with its record" "$(cat "$T/m4.a")" "$GPA 4096 AO inject MCE 0"
	vsh destroy m4 >/dev/null
fi

# --- e. poison at the switchover ---------------------------------------
check "e: m5 starts on A" start_guest m5
QA=$(virt_qemu_pid m5)
mkfifo "$T/m5.fifo"
stdbuf -oL virsh -c "$A_URI" event --domain m5 --event lifecycle --loop \
    --timestamp >"$T/m5.fifo" 2>/dev/null &
EV=$!
(
	while IFS= read -r l; do
		case $l in
		*"Suspended Migrated"*)
			"$INJECT" --pid "$QA" --code AO --ram-offset 0x6200000 \
			    >"$T/m5.inject" 2>&1
			echo "$(date +%H:%M:%S.%N | cut -c1-12) injected after: $l" >>"$T/m5.inject"
			break ;;
		esac
	done <"$T/m5.fifo"
) &
W=$!
sleep 0.3
mig_migrate m5 "$A_URI" "$B_URI"
rc=$?
for i in $(seq 1 50); do kill -0 "$W" 2>/dev/null || break; sleep 0.1; done
kill "$EV" 2>/dev/null; wait "$EV" "$W" 2>/dev/null
sed 's/^/# e switchover: /' "$T/m5.inject" 2>/dev/null
sleep 0.5
ranges rasctl_a m5 >"$T/m5.a"
if [ ! -s "$T/m5.a" ]; then
	skip "e: switchover: the injection did not land on A in time (best effort)"
elif [ "$rc" -eq 0 ]; then
	ranges rasctl_b m5 >"$T/m5.b"
	if subset "$T/m5.a" "$T/m5.b"; then
		ok "e: switchover: m5 migrated and B has every record A has"
		check "e: switchover: m5's guest runs on B" runs_on b m5
	elif grep -q "vm m5: AO at gpa 0x6200000 after the VM was handed off" "$RASD_LOG"; then
		ok "e: switchover: the poison came after the hand-off (A's RAM already copied to B): recorded on A only"
	else
		notok "e: switchover: m5 migrated but B lacks A's records: A '$(cat "$T/m5.a")' B '$(cat "$T/m5.b")'"
	fi
	grep -a "vm m5" "$RASD_LOG" "$B_RASD_LOG" | grep -a "final sync\|handed off\|asking" | sed 's/^/# /'
	vsh_b destroy m5 >/dev/null 2>&1
else
	check "e: switchover: the migration failed and m5 runs on A ($MIG_OUT)" running_on vsh m5
	check "e: switchover: m5's guest runs on A" runs_on a m5
	vsh destroy m5 >/dev/null 2>&1
fi

# --- f. a forged bundle in the migrating XML -----------------------------
check "f: m6 starts on A" start_guest m6
check "f: AO injected into m6 on A" inject_a m6 $GPA
wait_nranges rasctl_a m6 1
within 5 bash -c "virsh -q -c $A_URI metadata m6 https://rasd.dev/xmlns/state/1 | grep -q '<poison '"
meta=$(vsh metadata m6 https://rasd.dev/xmlns/state/1)
# Change one base64 character in the middle of the sealed bundle.
b64=$(tr -d '\n' <<<"$meta" | sed -n 's:.*<bundle[^>]*>\([^<]*\)</bundle>.*:\1:p')
i=$(( ${#b64} / 2 ))
if [ "${b64:i:1}" = B ]; then c=C; else c=B; fi
forged=${meta/"$b64"/"${b64:0:i}$c${b64:i+1}"}
check "f: A published a bundle for m6 (${#b64} base64 characters)" test "$i" -gt 0
check "f: the forged copy differs" test "$forged" != "$meta"
vsh metadata m6 https://rasd.dev/xmlns/state/1 --key rasd --live --config \
    --set "$forged" >/dev/null
check "f: the forged bundle is in m6's domain XML" \
	test "$(vsh metadata m6 https://rasd.dev/xmlns/state/1)" = "$forged"
ranges rasctl_a m6 >"$T/m6.a"
mig_migrate m6 "$A_URI" "$B_URI"
check "f: migration with a forged bundle fails" test $? -ne 0
expect_match "f: ... libvirt says why (the hook's reason)" "$MIG_OUT" "seal does not match|REQUIRED=yes"
expect_match "f: B's hook refused it" "$(hooklog_b m6 'migrate begin')" \
	"import FAILED: .*REQUIRED=yes"
check "f: m6 keeps running on A" running_on vsh m6
check "f: m6's guest runs on A" runs_on a m6
check "f: B runs no m6" not_running_on vsh_b m6
expect_eq "f: rasd B does not know m6" "$(st rasctl_b m6)" ""
expect_eq "f: A's records intact" "$(ranges rasctl_a m6)" "$(cat "$T/m6.a")"
check "f: rasd A has m6 running" wait_st rasctl_a m6 running
vsh destroy m6 >/dev/null

# --- g. the shim observing: QEMU's own handler, QEMU's own list ----------
# QEMU >= 9.0 refuses to migrate once its list of poisoned pages is not
# empty (upstream 06152b89db64); 7.2 migrates.
check "g: m7 starts on A, the shim observing" start_guest m7 --env RASD_SHIM_MODE=observe
n=$(grep -ac "of type BUS_MCEERR_" "$(virt_qemu_log m7)")
check "g: AO injected into m7 on A" inject_a m7 $GPA
check "g: QEMU's own handler injected it" virt_wait_file "$(virt_qemu_log m7)" \
	"GUEST addr $GPA of type BUS_MCEERR_AO injected" $(( n + 1 )) 10
wait_nranges rasctl_a m7 1
mig_migrate m7 "$A_URI" "$B_URI"
mrc=$?
if [ "$VIRT_QEMU_VERSION" -ge 900 ]; then
	check "g: QEMU >= 9 refuses to migrate the observed, poisoned m7" test $mrc -ne 0
	expect_match "g: ... and libvirt says why" "$MIG_OUT" \
		"Can't migrate this vm with hardware poisoned memory"
	check "g: m7 keeps running on A" running_on vsh m7
	check "g: rasd A has m7 running, its range kept" wait_nranges rasctl_a m7 1
	vsh destroy m7 >/dev/null
else
	check "g: QEMU 7.2 migrates the observed, poisoned m7 ($MIG_OUT)" test $mrc -eq 0
	check "g: m7 runs on B" running_on vsh_b m7
	check "g: rasd B has m7's range" wait_nranges rasctl_b m7 1
	vsh_b destroy m7 >/dev/null
fi

check "rasd A still running" kill -0 "$RASD_PID"
check "rasd B still running" kill -0 "$B_RASD_PID"
echo "# t_migrate took $(( $(date +%s) - T_START )) s"
