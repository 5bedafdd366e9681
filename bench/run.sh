#!/bin/sh
# bench/run.sh -- `make bench`: start rasd on a private socket and state
# directory and measure an AR forward against its baselines, then one VM
# with a million poisoned ranges (bench_scale).
set -e
B=${B:-build}
D=$(mktemp -d /tmp/rasd-bench-XXXXXX)
# BENCH_COMMIT_POLICY=inline|pipelined: rasd.conf's commit_policy.
echo "commit_policy = ${BENCH_COMMIT_POLICY:-pipelined}" >"$D/rasd.conf"
"$B/bin/rasd" -c "$D/rasd.conf" --foreground --no-libvirt \
	--socket "$D/rasd.sock" --state-dir "$D/state" 2>"$D/rasd.log" &
RASD=$!
trap 'kill $RASD 2>/dev/null; wait $RASD 2>/dev/null; rm -rf "$D"' EXIT
i=0
until "$B/bin/rasctl" --socket "$D/rasd.sock" list-vms >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 200 ] || { cat "$D/rasd.log"; exit 1; }
	sleep 0.05
done
echo "rasd bench on $(uname -r), $(nproc) cores, state dir on $(df -P "$D" | awk 'NR==2{print $1}'), commit_policy ${BENCH_COMMIT_POLICY:-pipelined}"
"$B/bench/bench_forward" "$D/rasd.sock" "$D/state" "${BENCH_N:-1000}"
# One VM with a million poisoned ranges (BENCH_RANGES; bench_scale starts
# its own rasd on a private socket and state dir under $D).
echo
"$B/bench/bench_scale" "$B/bin" "$D" "${BENCH_RANGES:-1000000}"
