#!/usr/bin/env bash
# needs: kvm
# rasd-shim.so preloaded into a real KVM process (tests/tools/kvmvmm, which
# never talks to rasd itself): the shim names the VM from -uuid/-name,
# follows the memory slots through KVM_SET_USER_MEMORY_REGION (split,
# renumbered, moved, deleted, ROM), chains the VMM's own SIGBUS handler and
# forwards memory errors to the real rasd -- also on QEMU's signalfd path,
# while rasd is down (replayed later), and never for other SIGBUS codes.
. "$(dirname "$0")/lib.sh"

# KVM must really work here (root, or a kvm group member); else skip.
. "$(dirname "$0")/kvmvmm-lib.sh"
check "kvmvmm runs without the shim" test "$KVM_PROBE_RC" -eq 0

U1=6a3c2b9e-5e1f-4c2a-9d3e-000000000001
U2=6a3c2b9e-5e1f-4c2a-9d3e-000000000002
U3=6a3c2b9e-5e1f-4c2a-9d3e-000000000003
U4=6a3c2b9e-5e1f-4c2a-9d3e-000000000004
U5=6a3c2b9e-5e1f-4c2a-9d3e-000000000005
U6=6a3c2b9e-5e1f-4c2a-9d3e-000000000006
U3b=6a3c2b9e-5e1f-4c2a-9d3e-00000000003b

# vmm ARGS...: kvmvmm with the shim, talking to the private rasd.
vmm() { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK "$KVMVMM" "$@"; }
# ranges VM: the active ranges as "gpa kind notification source" lines.
ranges() {
	rasctl --json list-poison "$1" |
	    jq -r '.[] | "\(.gpa) \(.kind) \(.notification) \(.source_id)"'
}
# slots VM: rasd's memory map of VM as "gpa hva size" lines.
slots() { rasctl --json show "$1" | jq -r '.slots[] | "\(.gpa) \(.hva) \(.size)"'; }
# layout OUT: kvmvmm's live RAM slots in the same form.
layout() {
	sed -n 's/^layout ram gpa=\([^ ]*\) size=\([^ ]*\) hva=\([^ ]*\)$/\1 \3 \2/p' <<<"$1"
}
# The shim enforces by default; kvmvmm sets up no machine-check banks, so
# what the shim cannot carry out goes to kvmvmm's own handler.
covered() { echo "rasd-shim: VM $1 ($2) covered, forwarding memory errors to $SOCK (enforcing: the shim carries out rasd's decisions)"; }

start_rasd || { notok "rasd starts"; exit 1; }

# 1. One run, memory errors raised as soon as guest RAM exists (before or
#    after the shim's registration, whichever comes first).
out=$(vmm -uuid "$U1" -name guest=vmk,debug-threads=on \
	--poison AR:0x6000000 --poison AO:0x200000 --poison AO@fd:0x300000 \
	--poison ADRERR:0x400000 --poison AR:0x10002000 --poison AR:0x30000000 \
	2>"$T/vmk.err")
check "kvmvmm with the shim exits 0" test $? -eq 0
expect_eq "a query returns the shim's wrapper, not the VMM's handler" \
	"$(grep '^sigbus handler as queried' <<<"$out")" "sigbus handler as queried: other"
expect_eq "the VMM's own handler ran once for each of the 6 signals" \
	"$(grep -c '^handler ran: code=' <<<"$out")" 6
check "AR reached the VMM's handler with code 4 and the host address" \
	grep -q '^handler ran: code=4 addr=0x[0-9a-f]* gpa=0x6000000$' <<<"$out"
check "AO on the signalfd path reached the VMM's handler (code 5)" \
	grep -q '^handler ran: code=5 addr=0x[0-9a-f]* gpa=0x300000 via=signalfd$' <<<"$out"
check "BUS_ADRERR reached the VMM's handler (code 2)" \
	grep -q '^handler ran: code=2 addr=0x[0-9a-f]* gpa=0x400000$' <<<"$out"
expect_eq "the shim's only output is the covered line" \
	"$(cat "$T/vmk.err")" "$(covered vmk "$U1")"
expect_eq "exact GPAs through the split, moved and deleted slots; MCE source 0" \
	"$(ranges vmk | tr '\n' ,)" \
	"0x200000 AO MCE 0,0x300000 AO MCE 0,0x6000000 AR MCE 0,0x10002000 AR MCE 0,"
expect_eq "BUS_ADRERR and the deleted slot left nothing in the history" \
	"$(rasctl --json history vmk | jq length)" 4
expect_eq "rasd's map is the VMM's RAM: split, moved, no deleted slot" \
	"$(slots vmk)" "$(layout "$out")"
if grep -q '^layout rom gpa=0xc0000' <<<"$out"; then
	expect_eq "the read-only ROM slot is not in rasd's map" \
		"$(rasctl --json show vmk | jq '[.slots[] | select(.gpa == "0xc0000")] | length')" 0
else
	skip "KVM has no read-only memory here: ROM slot not exercised"
fi
expect_eq "registered as x86_64 with the declared MCE profile" \
	"$(rasctl --json show vmk | jq -r '"\(.arch) \(.profile[0].source_id):\(.profile[0].notification) \(.caps | join(","))"')" \
	"x86_64 0:MCE MCE"

# 2. A long-running VMM: errors raised after the registration are
#    forwarded from inside the handler; with rasd stopped the VMM's handler
#    still runs and the errors, and a slot move, reach rasd once it is back.
coproc VMM { LD_PRELOAD=$PRELOAD RASD_SOCKET=$SOCK exec "$KVMVMM" -uuid "$U2" \
	-name guest=vmh,debug-threads=on --hold 2>"$T/vmh.err"; }
SIM_PID=$VMM_PID
# cmd LINE: send a command to kvmvmm and print its answer.
cmd() {
	local line
	echo "$1" >&"${VMM[1]}"
	while read -r -t 10 line <&"${VMM[0]}"; do
		case $line in
		handler*|moved*|"move failed"*|"bad command"*) echo "$line"; return 0;;
		esac
	done
	echo "no answer"
}
check "the held VMM registers" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json show vmh 2>/dev/null | jq -r .state)\" = running ]"
# Wait for the final map too, so the next error goes out from the handler.
check "the held VMM's final map reaches rasd" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json show vmh | jq '.slots | length')\" = 3 ]"
check "AR forwarded from the handler: handler ran" \
	grep -q '^handler ran: code=4 .*gpa=0x6001000$' <<<"$(cmd 'AR 0x6001000')"
expect_eq "AR recorded before the handler returned" "$(ranges vmh)" "0x6001000 AR MCE 0"

stop_rasd TERM
check "rasd down: the VMM's handler still runs (AR)" \
	grep -q '^handler ran: code=4 .*gpa=0x6003000$' <<<"$(cmd 'AR 0x6003000')"
check "rasd down: signalfd path still runs the handler (AO)" \
	grep -q '^handler ran: code=5 .*via=signalfd$' <<<"$(cmd 'AO@fd 0x500000')"
check "rasd down: the VMM moves a slot" grep -q '^moved' <<<"$(cmd 'move 0x18000000')"
check "rasd down: AO in the moved slot runs the handler" \
	grep -q '^handler ran: code=5 .*gpa=0x18001000$' <<<"$(cmd 'AO 0x18001000')"
start_rasd || notok "rasd restarts"
check "forwards made while rasd was down are replayed" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vmh | jq length)\" = 4 ]"
expect_eq "replayed GPAs exact, the moved slot at its new place; MCE source 0" \
	"$(ranges vmh | tr '\n' ,)" \
	"0x500000 AO MCE 0,0x6001000 AR MCE 0,0x6003000 AR MCE 0,0x18001000 AO MCE 0,"
check "rasd has the map as moved while it was down" \
	grep -q '^0x18000000 ' <<<"$(slots vmh)"
echo quit >&"${VMM[1]}"
wait "$SIM_PID"	# (bash unsets VMM_PID once the coproc is reaped)
check "the held VMM exits 0" test $? -eq 0
SIM_PID=
expect_eq "a rasd restart costs no output from the shim" \
	"$(cat "$T/vmh.err")" "$(covered vmh "$U2")"

# 3. A VMM that installs its SIGBUS handler with signal().
out=$(vmm -uuid "$U3" -name guest=vms --use-signal --poison AO:0x700000 2>"$T/vms.err")
check "signal() VMM exits 0" test $? -eq 0
check "signal() VMM: its plain handler ran" grep -q '^handler ran: plain gpa=0x700000$' <<<"$out"
expect_eq "signal() VMM: the error was forwarded" "$(ranges vms)" "0x700000 AO MCE 0"

# 3b. A handler on a small alternate stack: the shim's thread forwards.
out=$(vmm -uuid "$U3b" -name guest=vmalt --altstack --poison AR:0x6000000 2>"$T/vmalt.err")
check "altstack VMM exits 0" test $? -eq 0
check "altstack VMM: its handler ran" grep -q '^handler ran: code=4 .*gpa=0x6000000$' <<<"$out"
check "altstack VMM: the error was forwarded" wait_for bash -c \
	"[ \"\$($RASCTL_BIN --socket $SOCK --json list-poison vmalt 2>/dev/null | jq -r '.[0].gpa')\" = 0x6000000 ]"
expect_eq "altstack VMM: only the covered line" "$(cat "$T/vmalt.err")" "$(covered vmalt "$U3b")"

# 4. Identity from the environment, and -name without guest=.
out=$(RASD_SHIM_UUID=$U4 RASD_SHIM_NAME=vmenv vmm --poison AO:0x200000 2>"$T/vmenv.err")
check "RASD_SHIM_UUID/NAME VMM exits 0" test $? -eq 0
expect_eq "RASD_SHIM_UUID/NAME name the VM" "$(ranges vmenv)" "0x200000 AO MCE 0"
expect_eq "the UUID is RASD_SHIM_UUID's" "$(rasctl --json show vmenv | jq -r .uuid)" "$U4"
vmm -uuid "$U5" -name vmplain,debug-threads=on --poison AO:0x200000 >/dev/null 2>&1
expect_eq "-name NAME,... (no guest=) names the VM" "$(ranges vmplain)" "0x200000 AO MCE 0"

# 5. No UUID: one line, inert (the VMM's handler is not even wrapped).
out=$(vmm -name guest=anon --poison AR:0x6000000 2>"$T/anon.err")
check "VMM without a UUID exits 0" test $? -eq 0
check "no UUID: the VMM's handler ran" grep -q '^handler ran: code=4' <<<"$out"
expect_eq "no UUID: the handler is the VMM's own" \
	"$(grep '^sigbus handler as queried' <<<"$out")" "sigbus handler as queried: own"
expect_eq "no UUID: exactly one line on stderr" "$(wc -l <"$T/anon.err")" 1
check "no UUID: the line says why" grep -q '^rasd-shim: KVM VM without an identity' "$T/anon.err"

# 6. rasd never reachable: one line, local decisions, the VMM unharmed.
out=$(LD_PRELOAD=$PRELOAD RASD_SOCKET=$T/nowhere.sock "$KVMVMM" -uuid "$U6" \
	-name guest=vmu --poison AR:0x6000000 --poison AO:0x200000 2>"$T/vmu.err")
check "rasd unreachable: VMM exits 0" test $? -eq 0
expect_eq "rasd unreachable: both handlers ran" "$(grep -c '^handler ran: code=' <<<"$out")" 2
expect_eq "rasd unreachable: exactly one line on stderr" "$(wc -l <"$T/vmu.err")" 1
check "rasd unreachable: the line says so" grep -q '^rasd-shim: VM vmu .* unreachable' "$T/vmu.err"

# 7. Preloaded into programs that are not VMMs: no change, no output.
out=$(LD_PRELOAD=$PRELOAD /bin/true 2>&1)
check "/bin/true with the shim exits 0" test $? -eq 0
expect_eq "/bin/true with the shim prints nothing" "$out" ""
out=$(LD_PRELOAD=$PRELOAD bash -c 'trap "echo bus" BUS; kill -BUS $$; echo done' 2>&1)
expect_eq "a shell's own SIGBUS trap still works under the shim" "$out" "$(printf 'bus\ndone')"
