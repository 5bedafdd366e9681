# tests/e2e/kvmvmm-lib.sh -- rasd-shim.so in a real KVM process
# (tests/tools/kvmvmm), for shell tests. Source it after lib.sh: it checks
# that the shim and kvmvmm are built, skips the test (exit 0, one skip
# line) where KVM is not usable, and sets
#   SHIM, KVMVMM   the built shim and the KVM VMM
#   PRELOAD        what to put in LD_PRELOAD (the sanitizer runtime first
#                  in a sanitizer build)
#   KVM_PROBE_RC   kvmvmm's exit status without the shim (0: it ran)
B=${B:-build}
B=$(cd "$B" 2>/dev/null && pwd) || { notok "build directory ${B} exists"; exit 1; }
SHIM=$B/lib/rasd-shim.so
KVMVMM=$B/tests/tools/kvmvmm
for f in "$SHIM" "$KVMVMM"; do
	[ -e "$f" ] || { notok "$f is built"; exit 1; }
done

"$KVMVMM" >"$T/probe.out" 2>&1
KVM_PROBE_RC=$?
if [ "$KVM_PROBE_RC" -eq 77 ]; then
	skip "KVM is not usable here: $(tail -1 "$T/probe.out")"
	exit 0
fi

# A sanitizer build of the shim needs its runtime first in the process.
PRELOAD=$SHIM
ASAN_RT=$(ldd "$SHIM" | awk '/libasan/ { print $3 }')
if [ -n "$ASAN_RT" ]; then
	PRELOAD=$ASAN_RT:$SHIM
	echo "# sanitizer build: LD_PRELOAD=$PRELOAD"
fi
