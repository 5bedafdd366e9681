#!/usr/bin/env bash
# Identity of a VM's VMM: a VM is bound to the process that runs it, not
# only to its uid. Under libvirt every QEMU runs as one uid; here two
# unprivileged uids stand for "QEMU's uid" and "someone else":
#  - another process of the VMM's uid cannot take over a disconnected VM
#    (resume to read its ranges, or a fresh boot to retire them);
#  - no uid can squat the name of a known VM;
#  - VMs per uid are capped (max_vms_per_uid);
#  - the legitimate VMM still comes back: the same process after a rasd
#    restart, a restarted VMM in the VM's own (root-owned) cgroup, root,
#    any process of the owner once the VM is stopped.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { skip "t_identity needs root (runs VMMs as other uids)"; exit 0; }
command -v setpriv >/dev/null || { skip "t_identity needs setpriv"; exit 0; }

chmod 0755 "$T"
setpriv --reuid=40001 --regid=40001 --clear-groups -- test -x "$VMMSIM_BIN" -a -r "$DATA/qemu-virt-10.2-sea-gpio.hest" ||
    { skip "t_identity: uid 40001 cannot run $VMMSIM_BIN or read $DATA"; exit 0; }
cat >"$T/rasd.conf" <<EOF
socket_mode = 0666
max_vms_per_uid = 3
peer_tls = off-insecure
EOF
start_rasd --config "$T/rasd.conf" || { notok "rasd starts"; exit 1; }
HEST=$DATA/qemu-virt-10.2-sea-gpio.hest
QEMU_UID=40001		# the uid every VMM of the "host" runs as
OTHER_UID=40002

# as UID CMD...: run CMD as UID (and gid UID), no supplementary groups.
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@"; }
# sim UID ARGS...: ras-vmmsim as UID; its stderr in $T/sim.err.
sim() {
	local u=$1; shift
	as "$u" "$VMMSIM_BIN" --socket "$SOCK" --arch arm64 --hest "$HEST" "$@" \
	    >/dev/null 2>"$T/sim.err"
}
state() { rasctl --json show "$1" 2>/dev/null | jq -r .state; }
uuid_of() { rasctl --json show "$1" 2>/dev/null | jq -r .uuid; }
nranges() { rasctl --json list-poison "$1" 2>/dev/null | jq length; }
is_state() { [ "$(state "$1")" = "$2" ]; }

# --- the VM's own VMM, then it dies without unregistering ------------------
coproc SIM { exec setpriv --reuid=$QEMU_UID --regid=$QEMU_UID --clear-groups -- \
    "$VMMSIM_BIN" --socket "$SOCK" --name vma --arch arm64 --hest "$HEST" \
    --hold --stdin 2>&1; }
wait_for is_state vma running
check "vma registered by its VMM (uid $QEMU_UID)" is_state vma running
echo "AR 0x40001000 12" >&"${SIM[1]}"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vma | jq length)\" = 1 ]"
expect_eq "vma has one poisoned range" "$(nranges vma)" 1
VMA_UUID=$(uuid_of vma)
kill -KILL "$SIM_PID"; wait "$SIM_PID" 2>/dev/null
wait_for is_state vma disconnected
expect_eq "vma disconnected after its VMM died" "$(state vma)" disconnected

# --- another process of the same uid: no takeover ---------------------------
sim $QEMU_UID --name vma --resume
check "same uid, other process: resume of vma refused" test $? -ne 0
check "  with a clear error" grep -q "not the VMM of VM" "$T/sim.err"
sim $QEMU_UID --name vma
check "same uid, other process: fresh boot of vma refused" test $? -ne 0
expect_eq "vma's poison was not retired" "$(nranges vma)" 1
expect_eq "vma still disconnected" "$(state vma)" disconnected
check "rasd logged the refusal" grep -q "not the VMM of VM" "$RASD_LOG"

# --- names: never squatted --------------------------------------------------
sim $OTHER_UID --name vma --uuid 11111111-2222-4333-8444-555555555555
check "another uid cannot take the name of the known VM vma" test $? -ne 0
check "  with a clear error" grep -q "name vma is in use" "$T/sim.err"
sim $QEMU_UID --name vma --uuid 11111111-2222-4333-8444-666666666666
check "nor can another process of vma's uid under a new UUID" test $? -ne 0
expect_eq "rasctl show vma is still the real vma" "$(uuid_of vma)" "$VMA_UUID"
rasctl show 11111111-2222-4333-8444-555555555555 >/dev/null 2>&1
check "the squatter's UUID is not known" test $? -ne 0

# --- the legitimate VMM comes back ------------------------------------------
# Root may take a disconnected VM over (it could anyway).
"$VMMSIM_BIN" --socket "$SOCK" --name vma --arch arm64 --hest "$HEST" \
    --resume >/dev/null 2>"$T/root.err"
check "root resumes vma" test $? -eq 0
expect_eq "  and reads its range" "$(nranges vma)" 1
# Once stopped (libvirt's hook, or this unregistration), the owner's next
# VMM starts it again.
sim $QEMU_UID --name vma
check "stopped vma: a new VMM of its uid registers it" test $? -eq 0
expect_eq "  a fresh boot, its poison retired" "$(nranges vma)" 0

# The same process reconnects after rasd restarts.
coproc SIM { exec setpriv --reuid=$QEMU_UID --regid=$QEMU_UID --clear-groups -- \
    "$VMMSIM_BIN" --socket "$SOCK" --name vmc --arch arm64 --hest "$HEST" \
    --hold --stdin 2>&1; }
wait_for is_state vmc running
stop_rasd KILL
start_rasd --config "$T/rasd.conf" || notok "rasd restarts"
wait_for is_state vmc running
check "vmc's own VMM re-registered after a rasd crash" is_state vmc running
echo "AR 0x40002000 12" >&"${SIM[1]}"
wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vmc | jq length)\" = 1 ]"
expect_eq "  and forwards" "$(nranges vmc)" 1
kill -KILL "$SIM_PID"; wait "$SIM_PID" 2>/dev/null
wait_for is_state vmc disconnected

# A migration's destination: the imported VM is claimed by the VMM that
# registers it (here a new process of its uid), with its ranges.
rasctl export vmc -o "$T/vmc.bundle" >/dev/null &&
    rasctl import --replace "$T/vmc.bundle" >/dev/null
check "vmc exported and imported back (incoming)" is_state vmc incoming
sim $QEMU_UID --name vmc --resume
check "the incoming vmc is claimed by a new VMM of its uid" test $? -eq 0
expect_eq "  with its range" "$(nranges vmc)" 1

# A VMM in a cgroup of its own (a systemd service, libvirt's machine scope)
# is known by it: a restarted VMM in the same root-owned cgroup takes its
# VM back, another process of the uid outside it does not.
CG=
for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
	if [ -f "$d/cgroup.procs" ] && grep -q " $d cgroup2 " /proc/mounts &&
	    mkdir "$d/rasd-e2e-$$" 2>/dev/null; then
		CG=$d/rasd-e2e-$$
		trap 'cleanup; rmdir "$CG" 2>/dev/null' EXIT
		break
	fi
done
if [ -z "$CG" ]; then
	skip "no writable cgroup v2 hierarchy: cgroup binding not tested"
else
	# in_cg CMD...: run CMD inside $CG.
	in_cg() { bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }
	coproc SIM { exec bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" \
	    setpriv --reuid=$QEMU_UID --regid=$QEMU_UID --clear-groups -- \
	    "$VMMSIM_BIN" --socket "$SOCK" --name vmd --arch arm64 --hest "$HEST" \
	    --hold --stdin 2>&1; }
	wait_for is_state vmd running
	echo "AR 0x40003000 12" >&"${SIM[1]}"
	wait_for bash -c "[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vmd | jq length)\" = 1 ]"
	kill -KILL "$SIM_PID"; wait "$SIM_PID" 2>/dev/null
	wait_for is_state vmd disconnected
	sim $QEMU_UID --name vmd --resume
	check "vmd: a process outside its VMM's cgroup is refused" test $? -ne 0
	in_cg setpriv --reuid=$QEMU_UID --regid=$QEMU_UID --clear-groups -- \
	    "$VMMSIM_BIN" --socket "$SOCK" --name vmd --arch arm64 --hest "$HEST" \
	    --resume >/dev/null 2>"$T/sim.err"
	check "vmd: its restarted VMM in the same cgroup resumes it" test $? -eq 0
	expect_eq "  with its range" "$(nranges vmd)" 1
	rmdir "$CG" 2>/dev/null
fi

# --- VMs per uid -------------------------------------------------------------
for n in 1 2 3; do
	sim $OTHER_UID --name "o$n"
	check "uid $OTHER_UID registers VM $n of 3" test $? -eq 0
done
sim $OTHER_UID --name o4
check "uid $OTHER_UID: a 4th VM is refused (max_vms_per_uid 3)" test $? -ne 0
check "  with a clear error" grep -q "max_vms_per_uid" "$T/sim.err"
check "  and a log line" grep -q "max_vms_per_uid" "$RASD_LOG"
sim $OTHER_UID --name o2
check "uid $OTHER_UID: a known VM of its own still registers" test $? -eq 0
for n in 1 2 3 4; do
	"$VMMSIM_BIN" --socket "$SOCK" --name "r$n" --arch arm64 --hest "$HEST" \
	    >/dev/null 2>&1 || notok "root registers r$n"
done
ok "root is not capped"

rasctl list-vms >/dev/null
check "rasd still serves" test $? -eq 0
exit $((failures > 0))
