/*
 * tests/tools/guest-rom.S -- the last 256 bytes of a 64 KiB firmware image
 * that runs a boot-sector guest without SeaBIOS (libvirt: <loader
 * type='rom'>, QEMU: -bios).
 *
 * The Makefile puts the 512-byte boot sector (mce-guest.S) at the start of
 * the image and this at offset 0xff00, i.e. at F000:FF00 in the ISA BIOS
 * window. The CPU leaves reset at F000:FFF0 with interrupts off; the jump
 * there lands on rom_start, which copies the boot sector to 0:7C00 as a
 * BIOS would and jumps to it. Interrupts are never enabled: in the nested
 * KVM host (tests/kvmhost, SVM emulated by TCG) an interrupt delivered to
 * a real-mode guest now and then leaves it spinning on #UD, and SeaBIOS,
 * which runs with its timer on for seconds, was where that struck
 * (tests/kvmhost/README.md, Limits). A reset (QEMU's answer to a machine
 * check without CR4.MCE) starts the guest over the same way.
 *
 * Assembled with -Ttext=0xff00 (offsets within segment F000).
 */
	.code16
	.text
	.globl	_start
_start:
rom_start:
	cli
	cld
	movw	$0xf000, %ax		/* the boot sector: F000:0000 */
	movw	%ax, %ds
	xorw	%si, %si
	xorw	%ax, %ax		/* ... to 0000:7C00 */
	movw	%ax, %es
	movw	$0x7c00, %di
	movw	$256, %cx
	rep movsw
	ljmp	$0, $0x7c00

	.org	0xf0			/* F000:FFF0, the reset vector */
	ljmp	$0xf000, $rom_start
	.org	0x100
