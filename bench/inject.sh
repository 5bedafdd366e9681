#!/usr/bin/env bash
# bench/inject.sh -- `make bench-inject`: what a memory error costs from
# the SIGBUS in QEMU's vCPU thread to the guest's machine-check handler,
# the shim enforcing (rasd's decision carried out through KVM) against the
# shim observing (QEMU's own handler injects), under a private libvirtd
# with real QEMU/KVM guests (bench/bench_inject.c says what is measured).
# Needs root and KVM: run it in the nested KVM host where the machine has
# none (the Makefile target does). BENCH_N errors per guest (default 40);
# RAS_QEMU picks the emulator (default the installed one).
. "$(dirname "$0")/../tests/e2e/lib.sh"
. "$(dirname "$0")/../tests/e2e/libvirt-lib.sh"
B=$(virt_abs "${B:-build}")
N=${BENCH_N:-40}
INJECT=$B/tests/tools/ras-inject

virt_start || { notok "private libvirtd starts"; exit 1; }
RASD_LIBVIRT=qemu:///system start_rasd --config "$VIRT_RASD_CONF" ||
    { notok "rasd starts"; exit 1; }
SHIM=$(virt_share "$B/lib/rasd-shim.so")
IMG=$(virt_share "$B/tests/tools/mce-guest.img")
echo "inject bench: $("$VIRT_QEMU" --version | head -1), kernel $(uname -r)," \
	"$(nproc) CPUs${KVMHOST:+ (the nested KVM host: TCG under KVM)}"
for mode in enforce observe; do
	name=b-$mode
	virt_define_guest "$name" "$IMG" --shim "$SHIM" --env RASD_SHIM_MODE=$mode
	vsh start "$name" >/dev/null && virt_wait_ready "$name" ||
	    { notok "$name starts"; exit 1; }
	# Warm up: the first error on a guest pays for its first record.
	pid=$(virt_qemu_pid "$name")
	"$INJECT" --pid "$pid" --code AR --gpa 0x10000 >/dev/null 2>&1
	virt_wait_serial "$name" "addr=0000000000010000" 1 10 ||
	    { notok "$name: the warm-up error reached the guest"; exit 1; }
	echo "shim $mode$( [ $mode = enforce ] && echo 's (rasd decides, the shim injects)' ||
	    echo 's (QEMU injects)'):"
	"$B/bench/bench_inject" "$INJECT" "$pid" "$(virt_serial "$name")" \
	    0x20000 "$N" || { notok "bench_inject on $name"; exit 1; }
	vsh destroy "$name" >/dev/null
done
