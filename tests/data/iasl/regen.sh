#!/bin/sh
# Recompile every tests/data/iasl/*.asl into tests/data/iasl-NAME.hest.
# iasl fills in Table Length and Checksum; everything else is as written.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for src in *.asl; do
	name=${src%.asl}
	iasl -vs -p "$tmp/$name" "$src" >"$tmp/$name.log" 2>&1 ||
	    { cat "$tmp/$name.log"; exit 1; }
	cp "$tmp/$name.aml" "../iasl-$name.hest"
	echo "iasl-$name.hest: $(wc -c <"../iasl-$name.hest") bytes"
done
