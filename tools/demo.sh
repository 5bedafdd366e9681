#!/bin/sh
# tools/demo.sh -- `make demo`: install what is missing, build, start rasd
# on a private socket with its embedded store, let ras-vmmsim forward a real
# AR and AO SIGBUS for vm1 (QEMU's arm64 virt HEST: SEA + GPIO), and show
# `rasctl list-poison vm1`.
set -e
cd "$(dirname "$0")/.."
tools/deps.sh
make -s all
D=$(mktemp -d /tmp/rasd-demo-XXXXXX)
B=build/bin
echo "== starting rasd (socket $D/rasd.sock, store $D/state/rasd.db)"
$B/rasd --foreground --no-libvirt --socket "$D/rasd.sock" --state-dir "$D/state" \
	2>"$D/rasd.log" &
RASD=$!
trap 'kill $RASD 2>/dev/null; wait $RASD 2>/dev/null' EXIT
i=0
until $B/rasctl --socket "$D/rasd.sock" list-vms >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 200 ] || { cat "$D/rasd.log"; exit 1; }
	sleep 0.05
done
echo "== ras-vmmsim: vm1 (arm64, boot HEST from QEMU virt 10.2) raises SIGBUS AR and AO"
$B/ras-vmmsim --socket "$D/rasd.sock" --name vm1 --arch arm64 \
	--hest tests/data/qemu-virt-10.2-sea-gpio.hest \
	--poison AR:0x40001000 --poison AO:0x40200000:21
echo "== rasctl list-poison vm1"
$B/rasctl --socket "$D/rasd.sock" list-poison vm1
echo "== rasctl --json list-poison vm1"
$B/rasctl --socket "$D/rasd.sock" --json list-poison vm1
echo "== rasd log"
cat "$D/rasd.log"
echo "(state kept in $D)"
