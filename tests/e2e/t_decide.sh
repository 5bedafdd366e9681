#!/usr/bin/env bash
# Decisions on every path, through ras-vmmsim (real SIGBUS on its vCPU
# thread) against the real rasd:
#  - a repeat is answered with the decision for its own kind: the commonest
#    real sequence, patrol scrub (AO) then the guest's touch (AR), must give
#    the AR a synchronous type, also after merges and inside huge granules;
#  - an AR is told by an interrupt only when the vCPU had interrupts
#    unmasked (unknown = masked);
#  - the decision, the CPER record and MCi_ADDR name the exact address, the
#    range its granule; the x86 machine-check values are QEMU's, for Intel
#    and AMD guests;
#  - the library's local fallback is byte for byte rasd's answer.
. "$(dirname "$0")/lib.sh"

start_rasd || { notok "rasd starts"; exit 1; }
VIRT=$DATA/qemu-virt-10.2-sea-gpio.hest	# source 0 SEA, source 1 GPIO
ALL=$T/all.json				# every vmmsim answer, JSON lines

# sim ARGS...: run vmmsim with --json --compare; its lines on stdout and
# appended to $ALL.
sim() { vmmsim --json --compare "$@" 2>>"$T/sim.err" | tee -a "$ALL"; }
# line OUTPUT N JQ: field of the Nth (0-based) answer.
line() { sed -n "$(($2 + 1))p" <<<"$1" | jq -r "$3"; }
# field VM INDEX JQ: field of one range of list-poison --json.
field() { poison_json "$1" | jq -r ".[$2]$3"; }
dec() { line "$1" "$2" '"\(.action) \(.notify) \(.source_id) repeat=\(.repeat)"'; }
# le64 HEX-STRING OFFSET: the little-endian u64 at byte OFFSET, as 0x...
le64() {
	local h=${1:$(($2 * 2)):16} r= i
	for i in 14 12 10 8 6 4 2 0; do r+=${h:$i:2}; done
	printf '0x%x\n' "$((16#$r))"
}

# 1. AO, then AR, then AR again at one page (issue 8: the repeat got GPIO).
out=$(sim --name a1 --arch arm64 --hest "$VIRT" --poison AO:0x40001000 \
	--poison AR:0x40001000 --poison AR:0x40001000)
expect_eq "AO at a page -> GPIO 1" "$(dec "$out" 0)" "inject GPIO 1 repeat=false"
expect_eq "AR at the AO's page -> SEA 0" "$(dec "$out" 1)" "inject SEA 0 repeat=false"
expect_eq "repeat AR -> SEA 0 again, not the AO's GPIO" "$(dec "$out" 2)" "inject SEA 0 repeat=true"
expect_eq "one range" "$(poison_json a1 | jq length)" 1
expect_eq "range is AR" "$(field a1 0 .kind)" AR
expect_eq "range shows the AR decision" "$(field a1 0 '|"\(.notification) \(.source_id)"')" "SEA 0"
expect_eq "its AR decision" "$(field a1 0 '.ar|"\(.action) \(.notification) \(.source_id)"')" "inject SEA 0"
expect_eq "its AO decision" "$(field a1 0 '.ao|"\(.action) \(.notification) \(.source_id)"')" "inject GPIO 1"
expect_eq "two records" "$(field a1 0 .records)" 2
check "text list-poison has an AR and an AO column" \
	grep -qE '^0x40001000 +4\.0K +AR +SEA/0 +GPIO/1 ' <<<"$(rasctl list-poison a1)"

# 2. An AO range merged with a neighbouring AR range: each kind keeps its own.
out=$(sim --name a2 --arch arm64 --hest "$VIRT" --poison AO:0x40010000 \
	--poison AR:0x40011000 --poison AR:0x40011000 --poison AO:0x40010000 \
	--poison AR:0x40010000)
expect_eq "neighbours merge into one range" "$(poison_json a2 | jq length)" 1
expect_eq "neighbour AR repeat -> SEA" "$(dec "$out" 2)" "inject SEA 0 repeat=true"
expect_eq "neighbour AO repeat -> GPIO" "$(dec "$out" 3)" "inject GPIO 1 repeat=true"
expect_eq "AR at the AO page of the merged range -> SEA" \
	"$(line "$out" 4 '"\(.action) \(.notify)"')" "inject SEA"
expect_eq "merged range: AR SEA, AO GPIO" \
	"$(field a2 0 '|"\(.kind) \(.ar.notification) \(.ao.notification)"')" "AR SEA GPIO"

# 3. An AR inside a 2 MiB AO range.
out=$(sim --name a3 --arch arm64 --hest "$VIRT" --poison AO:0x40400000:21 \
	--poison AR:0x40401000 --poison AR:0x40401000)
expect_eq "AO 2 MiB -> GPIO" "$(dec "$out" 0)" "inject GPIO 1 repeat=false"
expect_eq "AR inside the AO granule -> SEA" "$(line "$out" 1 '"\(.action) \(.notify) \(.source_id)"')" "inject SEA 0"
expect_eq "AR inside again -> SEA" "$(line "$out" 2 '"\(.action) \(.notify) \(.source_id)"')" "inject SEA 0"
expect_eq "range: 2 MiB, AR, AR SEA, AO GPIO" \
	"$(field a3 0 '|"\(.length) \(.kind) \(.ar.notification) \(.ao.notification)"')" \
	"2097152 AR SEA GPIO"
expect_eq "no AR row in any range with an interrupt-only type" \
	"$(for v in a1 a2 a3; do poison_json $v; done | jq -s '[.[][] | select(.kind == "AR" and (.notification == "GPIO" or .notification == "GSIV"))] | length')" 0

# 4. Masked or unmasked: a GPIO-only guest.
out=$(sim --name m1 --arch arm64 --declare 2:GPIO --poison AR:0x40001000 \
	--poison AR-unmasked:0x40003000 --poison AO:0x40005000)
expect_eq "AR, interrupts unknown (masked) -> stop-vm" "$(line "$out" 0 .action)" stop-vm
expect_eq "AR, interrupts unmasked -> GPIO 2" "$(dec "$out" 1)" "inject GPIO 2 repeat=false"
expect_eq "AO -> GPIO 2 (mask does not matter)" "$(dec "$out" 2)" "inject GPIO 2 repeat=false"
out=$(sim --name m2 --arch arm64 --declare 2:GPIO --poison AR-unmasked:0x40001000 \
	--poison AR:0x40001000 --poison AR-unmasked:0x40001000)
expect_eq "unmasked AR -> GPIO" "$(line "$out" 0 .notify)" GPIO
expect_eq "the same page, now masked: not the recorded interrupt" \
	"$(line "$out" 1 .action)" stop-vm
expect_eq "unmasked again: the recorded GPIO is good" \
	"$(line "$out" 2 '"\(.action) \(.notify)"')" "inject GPIO"
# A guest with SEA and GPIO: masked AR takes SEA even if the order puts GPIO first.
stop_rasd
start_rasd --ar-order GPIO,SEA || notok "rasd restarts with GPIO first for AR"
out=$(sim --name m3 --arch arm64 --hest "$VIRT" --poison AR:0x40001000 \
	--poison AR-unmasked:0x40003000)
expect_eq "order GPIO,SEA, masked AR -> SEA" "$(line "$out" 0 .notify)" SEA
expect_eq "order GPIO,SEA, unmasked AR -> GPIO" "$(line "$out" 1 .notify)" GPIO
stop_rasd
start_rasd || notok "rasd restarts with the default policy"

# 5. The exact address, with the granule as the range (arm64 CPER).
# CPER: status block 20 + data entry 72 + memory section: validation bits
# at 92, physical address at 108, its mask at 116.
for g in "0x40001234 12 0x40001000 0xfffffffffffff000" \
	 "0x40601234 21 0x40600000 0xffffffffffe00000" \
	 "0x52345678 30 0x40000000 0xffffffffc0000000"; do
	set -- $g
	out=$(sim --name c$2 --arch arm64 --hest "$VIRT" --poison AR:$1:$2)
	expect_eq "lsb $2: range is the granule" "$(line "$out" 0 .gpa)" "$3"
	expect_eq "lsb $2: decision names the exact address" "$(line "$out" 0 .addr)" "$1"
	cper=$(line "$out" 0 .cper)
	expect_eq "lsb $2: CPER physical address is exact" "$(le64 "$cper" 108)" "$1"
	expect_eq "lsb $2: CPER address mask is the granule" "$(le64 "$cper" 116)" "$4"
	expect_eq "lsb $2: CPER validation: address and mask valid" \
		"$(( $(le64 "$cper" 92) & 0x6 ))" 6
	expect_eq "lsb $2: list-poison range" "$(field c$2 0 '|"\(.gpa) \(.length)"')" \
		"$3 $((1 << $2))"
done

# 6. x86 machine-check values (QEMU >= 9.1's kvm_mce_inject).
mce() { line "$1" "$2" '"\(.mce_status) \(.mcg_status) \(.mce_misc) \(.mce_bank) \(.mce_broadcast) \(.mce_addr)"'; }
for lsb in 12 21 30; do
	out=$(sim --name xi$lsb --arch x86_64 --declare 0:MCE --cpu-vendor intel \
		--ram 2G --slot 0:2G --poison AR:0x12345678:$lsb --poison AO:0x7654321:$lsb)
	expect_eq "Intel AR lsb $lsb: SRAR data load, RIPV|EIPV|MCIP, LSB 12, broadcast, exact address" \
		"$(mce "$out" 0)" "0xbd80000000000134 0x7 0x8c 9 true 0x12345678"
	expect_eq "Intel AO lsb $lsb: SRAO patrol scrub, RIPV|MCIP" \
		"$(mce "$out" 1)" "0xbd000000000000c0 0x5 0x8c 9 true 0x7654321"
	out=$(sim --name xa$lsb --arch x86_64 --declare 0:MCE --cpu-vendor amd \
		--ram 2G --slot 0:2G --poison AR:0x12345678:$lsb --poison AO:0x7654321:$lsb)
	expect_eq "AMD AR lsb $lsb: UC|POISON, RIPV|EIPV|MCIP, local" \
		"$(mce "$out" 0)" "0xbc00080000000000 0x7 0x8c 9 false 0x12345678"
	expect_eq "AMD AO lsb $lsb: DEFERRED|POISON, RIPV|MCIP, local" \
		"$(mce "$out" 1)" "0x9c00180000000000 0x5 0x8c 9 false 0x7654321"
done
out=$(sim --name xu --arch x86_64 --declare 0:MCE --poison AR:0x100000)
expect_eq "unknown vendor: encoded as Intel (QEMU before 9.1)" \
	"$(mce "$out" 0)" "0xbd80000000000134 0x7 0x8c 9 true 0x100000"

# 7. HEST sources as Linux reads them: only sources that can bring a
# memory error count; a source this parser (or Linux) does not take is
# skipped with a log line, not the whole table refused.
hd() { line "$1" 0 '"\(.action) \(.notify) \(.source_id) read_ack=\(.read_ack)"'; }
out=$(sim --name h-cmc --arch x86_64 --hest "$DATA/iasl-x86-cmc-only.hest" --poison AR:0x100000)
expect_eq "CMC-only HEST: corrected-only source never chosen -> stop-vm" "$(hd "$out")" "stop-vm null null read_ack=false"
check "CMC source skipped, logged" grep -q "vm h-cmc: boot HEST: error source 0 (type 1 IA-32 CMC): reports corrected errors only" "$RASD_LOG"
out=$(sim --name h-nmi --arch x86_64 --hest "$DATA/iasl-x86-nmi-only.hest" --poison AR:0x100000)
expect_eq "NMI-only HEST: no error status block -> stop-vm" "$(hd "$out")" "stop-vm null null read_ack=false"
out=$(sim --name h-assist --arch x86_64 --hest "$DATA/iasl-x86-ghes-assist.hest" --poison AR:0x100000)
expect_eq "GHES_ASSIST: the assisting GHES is skipped, MCE stays" "$(hd "$out")" "inject MCE 0 read_ack=false"
check "GHES_ASSIST skip logged" grep -q "vm h-assist: boot HEST: error source 1 (type 9 GHES): assists GHES_ASSIST" "$RASD_LOG"
out=$(sim --name h-unk --arch arm64 --hest "$DATA/iasl-arm64-unknown-notify.hest" \
	--poison AR:0x40001000 --poison AO:0x40003000)
expect_eq "unknown notification on one source: the table is taken, AR -> SEA" "$(hd "$out")" "inject SEA 0 read_ack=true"
expect_eq "... AO -> GPIO" "$(line "$out" 1 '"\(.action) \(.notify)"')" "inject GPIO"
check "unknown notification type skipped with a warning" \
	grep -q "vm h-unk: boot HEST: error source 1 (type 10 GHESv2): unknown notification type 12" "$RASD_LOG"
out=$(sim --name h-v1 --arch arm64 --hest "$VIRT" --poison AR:0x40001000)
expect_eq "QEMU's GHESv2 source: the decision says the guest acks each record" "$(hd "$out")" "inject SEA 0 read_ack=true"

# 8. The library's local fallback agrees with rasd on every first answer.
n=$(jq -s '[.[] | select(.repeat == false and .from == "rasd")] | length' "$ALL")
check "rasd answered first-time errors ($n)" test "$n" -ge 20
expect_eq "the library's fallback is byte for byte rasd's, every time" \
	"$(jq -s -c '[.[] | select(.repeat == false and .from == "rasd" and .fallback_same != true) | {kind, gpa, addr}]' "$ALL")" "[]"
check "vmmsim printed no errors" test ! -s "$T/sim.err"
stop_rasd
exit $((failures > 0))
