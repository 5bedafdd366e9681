# tests/e2e/hwpoison-lib.sh -- real hardware-like poison for shell tests:
# the kernel's own memory_failure() through hwpoison-inject (debugfs
# hwpoison/corrupt-pfn), PFNs from /proc/PID/pagemap, and the kernel's log.
# Source it after lib.sh; then call hwp_require, which skips the test
# (exit 0 with one skip line) where the kernel cannot do this.
#
#   hwp_require               root, CONFIG_MEMORY_FAILURE, hwpoison-inject
#   pagemap_pfn PID HVA       the PFN behind HVA in PID (0x...), or "none"
#   memread PID HVA           "ok" or "EIO" for one page of PID's memory
#   inject PFN                memory_failure() on PFN, as a hardware report
#   hwp_unpoison              put every injected page back into service
#   klog STRING               the kernel said STRING since this was sourced
#   klog_new                  the kernel's messages since then
HWP=/sys/kernel/debug/hwpoison
POISONED=	# PFNs to unpoison at the end

# Skip unless this kernel runs memory_failure() for us (root only).
hwp_require() {
	local why
	if [ "$(id -u)" -ne 0 ]; then
		skip "not root: no PFNs in /proc/PID/pagemap, no hwpoison injection"
		exit 0
	fi
	# On a KVM machine of its own (not the nested host) the module and
	# debugfs may just not be there yet.
	if [ ! -w "$HWP/corrupt-pfn" ] && [ -e /proc/sys/vm/memory_failure_recovery ]; then
		grep -qw debugfs /proc/mounts ||
		    mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
		modprobe hwpoison_inject 2>/dev/null
	fi
	[ -w "$HWP/corrupt-pfn" ] && return 0
	if [ ! -e /proc/sys/vm/memory_failure_recovery ]; then
		why="this kernel has no CONFIG_MEMORY_FAILURE (MADV_HWPOISON gives EINVAL)"
	elif ! grep -qw debugfs /proc/mounts; then
		why="debugfs is not mounted"
	else
		why="hwpoison-inject is not loaded"
	fi
	skip "no hwpoison injection here (no $HWP/corrupt-pfn): $why"
	exit 0
}

# pagemap_pfn PID HVA: the PFN behind HVA in PID (0x...), from pagemap.
pagemap_pfn() {
	local e
	e=$(dd if="/proc/$1/pagemap" bs=8 skip=$(($2 / 4096)) count=1 2>/dev/null |
	    od -An -tx8 | tr -d ' \n')
	[ -n "$e" ] && (( (0x$e >> 63) & 1 )) || { echo none; return; }
	printf '0x%x\n' $((0x$e & 0x7fffffffffffff))
}
# memread PID HVA: "ok" or "EIO" for one page of PID's memory.
memread() {
	if dd if="/proc/$1/mem" of=/dev/null bs=4096 skip=$(($2 / 4096)) count=1 \
	    2>"$T/dd.err"; then
		echo ok
	elif grep -q 'Input/output error' "$T/dd.err"; then
		echo EIO
	else
		echo "error: $(tail -1 "$T/dd.err")"
	fi
}
# inject PFN: run memory_failure() on PFN as a hardware report would.
inject() {
	echo "$(($1))" >"$HWP/corrupt-pfn" 2>"$T/inject.err" &&
	    POISONED="$POISONED $1"
}
# klog_new: the kernel's messages since the test began (all of them if
# the ring buffer has wrapped since).
klog_new() {
	local all
	all=$(dmesg)
	if [ -n "$KLOG_MARK" ] && grep -qxF -- "$KLOG_MARK" <<<"$all"; then
		awk -v m="$KLOG_MARK" 'f { print } $0 == m { f = 1 }' <<<"$all"
	else
		echo "$all"
	fi
}
# klog STRING: whether the kernel said STRING since the test began.
klog() { klog_new | grep -qF -- "$1"; }
KLOG_MARK=$(dmesg | tail -1)

# Put the test's poisoned pages back into service.
hwp_unpoison() {
	local p n=0
	for p in $POISONED; do
		echo "$((p))" >"$HWP/unpoison-pfn" 2>/dev/null && n=$((n + 1))
	done
	echo "# unpoisoned $n of $(wc -w <<<"$POISONED") pages"
	POISONED=
}
