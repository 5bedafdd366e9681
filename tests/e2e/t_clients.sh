#!/usr/bin/env bash
# Hostile or careless clients cannot starve rasd (issue 8, item 9). A flood
# of connections from one unprivileged uid (tests/tools/ras-flood) while
# VMMs of that uid and of another register and forward, and root's rasctl
# asks questions:
#  A. 1 100 connections under RLIMIT_NOFILE 1024 with max_clients 1024:
#     max_clients is fitted to the limit, the VMMs and rasctl get in, rasd
#     stays idle and its log short (it used to spin on EMFILE, logging a
#     million lines in seconds, and lock every VMM out);
#  B. the same with the unregistered limits raised so rasd holds every
#     connection it has descriptors for: the VMM takes the place of the
#     oldest, root a reserved slot;
#  C. 1 024 idle connections all held, then closed at idle_timeout;
#  D. a half-sent frame is dropped at frame_timeout;
#  E. large half-sent frames: refused before registration, dropped at
#     frame_timeout after it, and the memory comes back (VmRSS); a VMM
#     that forwards without reading its answers is dropped at about 1 MiB
#     of them (it was 32 MiB);
#  G. 8 000 malformed requests before registering: each answered, the log
#     rate-limited (it was one line each);
#  F. accept() failing for want of descriptors (the limit lowered under a
#     running rasd): no spinning, no log flood, root still gets in.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { skip "t_clients needs root (floods as other uids)"; exit 0; }
command -v setpriv >/dev/null || { skip "t_clients needs setpriv"; exit 0; }

FLOOD_BIN=${FLOOD_BIN:-$(dirname "$RASD_BIN")/../tests/tools/ras-flood}
[ -x "$FLOOD_BIN" ] || { notok "ras-flood is built ($FLOOD_BIN)"; exit 1; }
RASD_REAL=$(realpath "$RASD_BIN")
chmod 0755 "$T"
Q=40021		# the uid of the flood and of "the host's QEMUs"
O=40022		# another unprivileged uid
ASAN=
ldd "$RASD_BIN" 2>/dev/null | grep -q libasan && ASAN=1

# as UID CMD...: run CMD as UID (and gid UID), no supplementary groups.
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups -- "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$RASD_PID/status"; }
# CPU time rasd used (clock ticks, utime + stime; its comm has no blanks).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$RASD_PID/stat"; }
loglines() { wc -l <"$RASD_LOG"; }
HZ=$(getconf CLK_TCK)

# conf LINES...: write rasd.conf (socket open to every uid).
conf() { printf '%s\n' "socket_mode = 0666" "$@" >"$T/rasd.conf"; }

# start_limited NOFILE: start rasd with RLIMIT_NOFILE NOFILE (soft and hard).
start_limited() {
	cat >"$T/rasd-nofile" <<EOF
#!/bin/sh
ulimit -n $1 || exit 1
exec "$RASD_REAL" "\$@"
EOF
	chmod 0755 "$T/rasd-nofile"
	RASD_BIN=$T/rasd-nofile start_rasd --config "$T/rasd.conf"
}

# flood NAME ARGS...: run ras-flood in the background (as uid Q unless
# ARGS say --uid), output in $T/NAME.out; wait for its setup line.
FLOOD_PID=
flood() {
	local name=$1; shift
	"$FLOOD_BIN" --socket "$SOCK" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	FLOOD_PID=$!
	within 30 grep -qs '^setup ' "$T/$name.out"
}
# fl NAME LINE KEY: a number from ras-flood's setup or done line.
fl() { sed -n "s/^$2.* $3=\\([-0-9]*\\).*/\\1/p" "$T/$1.out" | tail -1; }
# flood_wait: wait for the flood to end (its done line).
flood_wait() { [ -n "$FLOOD_PID" ] && wait "$FLOOD_PID" 2>/dev/null; FLOOD_PID=; }
flood_stop() { [ -n "$FLOOD_PID" ] && kill "$FLOOD_PID" 2>/dev/null; flood_wait; }

# vmm UID NAME: a VMM of UID registers VM NAME and forwards one AR; ok when
# rasd (not the library's local fallback) answered. Sets VMM_MS.
vmm() {
	local t0 out
	t0=$(now_ms)
	out=$(as "$1" timeout 30 "$VMMSIM_BIN" --socket "$SOCK" --name "$2" \
	    --arch x86_64 --poison AR:0x100000 2>&1)
	VMM_MS=$(( $(now_ms) - t0 ))
	echo "# vmm uid $1 $2 (${VMM_MS} ms): $out"
	grep -q "inject MCE source=0 (rasd)" <<<"$out"
}
# ctl_ranges VM: root's rasctl list-poison (bounded); sets CTL_N (ranges)
# and CTL_MS.
ctl_ranges() {
	local t0
	t0=$(now_ms)
	CTL_N=$(timeout 30 "$RASCTL_BIN" --socket "$SOCK" --json list-poison "$1" | jq length)
	CTL_MS=$(( $(now_ms) - t0 ))
}
# lt A B: A < B (numbers)
lt() { [ -n "$1" ] && [ "$1" -lt "$2" ]; }
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# --- A. 1 100 connections, RLIMIT_NOFILE 1024, max_clients 1024 -----------
conf "max_clients = 1024"
start_limited 1024 || { notok "rasd starts with RLIMIT_NOFILE 1024"; exit 1; }
check "A: max_clients fitted to RLIMIT_NOFILE, with a warning" \
	grep -q "max_clients 1024 needs 1088 file descriptors but RLIMIT_NOFILE allows 1024: serving at most 960 clients" "$RASD_LOG"
l0=$(loglines)
flood a --uid $Q -n 1100 --hold 20
echo "# A: flood: $(cat "$T/a.out")"
c0=$(cpu_ticks); t0=$(now_ms)
sleep 1.2	# the flood's connections are past their grace second
check "A: a VMM of the flood's uid registers and forwards (rasd answers)" vmm $Q vma
check "A: ... within seconds (${VMM_MS} ms)" lt "$VMM_MS" 10000
check "A: a VMM of another uid registers and forwards" vmm $O vmb
ctl_ranges vma
expect_eq "A: root's rasctl list-poison vma" "$CTL_N" 1
check "A: ... within seconds (${CTL_MS} ms)" lt "$CTL_MS" 10000
sleep 2
c1=$(cpu_ticks); t1=$(now_ms)
cpu_pct=$(( (c1 - c0) * 100 * 1000 / HZ / (t1 - t0) ))
echo "# A: rasd CPU ${cpu_pct}% over $(( t1 - t0 )) ms of flood"
check "A: rasd does not spin (CPU ${cpu_pct}% < 30%)" lt "$cpu_pct" 30
la=$(( $(loglines) - l0 ))
echo "# A: $la log lines during the flood"
check "A: rasd's log stays short ($la lines < 100)" lt "$la" 100
check "A: refusals are said, rate-limited" \
	grep -q "more like this are counted, not logged" "$RASD_LOG"
flood_stop
stop_rasd TERM

# --- B. every descriptor held: eviction and the reserve ---------------------
conf "max_clients = 1024" "max_unregistered = 2000" \
	"max_unregistered_per_uid = 2000" "idle_timeout = 60"
start_limited 1024 || { notok "B: rasd starts"; exit 1; }
l0=$(loglines)
flood b --uid $Q -n 1100 --hold 30
echo "# B: flood: $(cat "$T/b.out")"
sleep 1.2
check "B: rasd holds what it has room for (928 of 1 100 open)" \
	test "$(ls "/proc/$RASD_PID/fd" | wc -l)" -ge 928
check "B: a VMM of the flood's uid registers (the oldest makes room)" vmm $Q vmc
check "B: ... within seconds (${VMM_MS} ms)" lt "$VMM_MS" 10000
ctl_ranges vmc
expect_eq "B: root's rasctl gets a reserved slot" "$CTL_N" 1
check "B: ... within seconds (${CTL_MS} ms)" lt "$CTL_MS" 10000
check "B: the closed connection is said" \
	grep -q "unregistered for [0-9]* ms; closing it: 928 clients (max_clients 960, 32 of them reserved for root and admins)" "$RASD_LOG"
lb=$(( $(loglines) - l0 ))
check "B: rasd's log stays short ($lb lines < 100)" lt "$lb" 100
flood_stop
stop_rasd TERM

# --- C. 1 024 idle connections, closed at idle_timeout ----------------------
conf "max_clients = 1100" "max_unregistered = 2000" \
	"max_unregistered_per_uid = 2000" "idle_timeout = 3"
start_rasd --config "$T/rasd.conf" || { notok "C: rasd starts"; exit 1; }
l0=$(loglines)
flood c --uid $Q -n 1024 --hold 20
check "C: a VMM registers among 1 024 idle connections" vmm $O vmd
ctl_ranges vmd
expect_eq "C: root's rasctl works among them" "$CTL_N" 1
flood_wait
echo "# C: $(tail -1 "$T/c.out")"
expect_eq "C: all 1 024 connected" "$(fl c setup connected)" 1024
expect_eq "C: rasd closed every one" "$(fl c done closed)" 1024
check "C: ... none before idle_timeout (first $(fl c done first_close_ms) ms)" \
	between "$(fl c done first_close_ms)" 2500 100000
check "C: ... all soon after it (last $(fl c done last_close_ms) ms)" \
	between "$(fl c done last_close_ms)" 2500 7000
check "C: the timeout is said" grep -q "idle for 3 s without registering a VM; closing connection" "$RASD_LOG"
lc=$(( $(loglines) - l0 ))
check "C: ... rate-limited ($lc lines < 100)" lt "$lc" 100
stop_rasd TERM
check "C: ... with a count of what was not logged" \
	grep -Eq "[0-9]+ more timed-out connections not logged one by one" "$RASD_LOG"

# --- D/E. half-sent frames, and the memory they took ------------------------
conf "frame_timeout = 2" "idle_timeout = 30"
start_rasd --config "$T/rasd.conf" || { notok "D: rasd starts"; exit 1; }
flood d --uid $Q -n 1 --mode partial --declare 1000 --send 500 --hold 15
flood_wait
echo "# D: $(tail -1 "$T/d.out")"
expect_eq "D: a half-sent frame is dropped" "$(fl d done closed)" 1
check "D: ... at frame_timeout ($(fl d done first_close_ms) ms)" \
	between "$(fl d done first_close_ms)" 1500 5000
check "D: ... and said" grep -q "incomplete frame after 2 s (500 of 1000 bytes); closing connection" "$RASD_LOG"

rss0=$(rss_kb)
flood e1 --uid $Q -n 600 --mode partial --declare 1048576 --send 1048000 --hold 3
peak=$(rss_kb)
flood_wait
echo "# E1: $(cat "$T/e1.out" | tr '\n' ' '); VmRSS $rss0 -> $peak kB"
check "E1: 1 MiB frames before registering are refused" \
	grep -q "bad frame: declared length 1048576 (must be 1..262144 before registering); closing connection" "$RASD_LOG"
expect_eq "E1: ... every one of the 600" "$(fl e1 done closed)" 600
flood e2 --uid $O -n 100 --mode register --declare 1048576 --send 1048000 --hold 15
peak2=$(rss_kb)
flood_wait
sleep 1.5	# the heap is trimmed at most once a second
rss1=$(rss_kb)
echo "# E2: $(cat "$T/e2.out" | tr '\n' ' '); VmRSS $peak2 kB with them, $rss1 kB after"
expect_eq "E2: 100 VMMs registered" "$(fl e2 setup registered)" 100
expect_eq "E2: their half-sent 1 MiB frames are dropped" "$(fl e2 done closed)" 100
check "E2: ... within frame_timeout of their first byte (last $(fl e2 done last_close_ms) ms)" \
	between "$(fl e2 done last_close_ms)" 0 8000
check "E2: ... and said" grep -q "incomplete frame after 2 s (1048000 of 1048576 bytes); closing connection" "$RASD_LOG"
if [ -n "$ASAN" ]; then
	skip "E: VmRSS bounds (AddressSanitizer keeps freed memory)"
else
	check "E1: VmRSS bounded during 600 x 1 MiB ($peak kB < $rss0 + 64 MiB)" \
		lt "$peak" $(( rss0 + 65536 ))
	check "E2: VmRSS comes back after 100 x 1 MiB ($rss1 kB < $rss0 + 32 MiB)" \
		lt "$rss1" $(( rss0 + 32768 ))
fi
flood e3 --uid $O -n 2 --mode noread --forwards 100000 --hold 10
flood_wait
echo "# E3: $(cat "$T/e3.out" | tr '\n' ' ')"
expect_eq "E3: 2 VMMs that never read their answers are dropped" "$(fl e3 done closed)" 2
check "E3: ... at about 1 MiB of them" grep -q "over 1114112 bytes of unread answers; dropping it" "$RASD_LOG"
check "E: rasd still serves a VMM" vmm $O vme

l0=$(loglines)
flood g --uid $Q -n 4 --mode junk --forwards 2000 --hold 1
flood_wait
lg=$(( $(loglines) - l0 ))
echo "# G: $(cat "$T/g.out" | tr '\n' ' '); $lg log lines"
check "G: malformed requests are answered and said" \
	grep -q "malformed message (1 bytes) is not a Request" "$RASD_LOG"
check "G: ... rate-limited ($lg lines for 8 000 < 100)" lt "$lg" 100
stop_rasd TERM
check "G: ... with a count of what was not logged" \
	grep -Eq "[0-9]+ more errors answered to unregistered clients not logged one by one" "$RASD_LOG"

# --- F. out of descriptors under a running rasd ------------------------------
conf "max_unregistered = 2000" "max_unregistered_per_uid = 2000" \
	"idle_timeout = 60"
start_rasd --config "$T/rasd.conf" || { notok "F: rasd starts"; exit 1; }
prlimit --pid "$RASD_PID" --nofile=200:200
l0=$(loglines)
flood f --uid $Q -n 400 --hold 20 --connect-sec 3
echo "# F: flood: $(cat "$T/f.out")"
c0=$(cpu_ticks); t0=$(now_ms)
sleep 1.2
ctl_ranges vma
expect_eq "F: root's rasctl gets in" "$CTL_N" 1
check "F: ... within seconds (${CTL_MS} ms)" lt "$CTL_MS" 10000
check "F: a VMM registers and forwards" vmm $O vmf
check "F: ... within seconds (${VMM_MS} ms)" lt "$VMM_MS" 10000
sleep 1
c1=$(cpu_ticks); t1=$(now_ms)
cpu_pct=$(( (c1 - c0) * 100 * 1000 / HZ / (t1 - t0) ))
check "F: accept failures are said" grep -q "accept: Too many open files" "$RASD_LOG"
check "F: rasd does not spin (CPU ${cpu_pct}% < 30%)" lt "$cpu_pct" 30
lf=$(( $(loglines) - l0 ))
check "F: rasd's log stays short ($lf lines < 100)" lt "$lf" 100
flood_stop
check "rasd still running at the end" kill -0 "$RASD_PID"
stop_rasd TERM
exit 0
