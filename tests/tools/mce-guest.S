/*
 * tests/tools/mce-guest.S -- a 512-byte boot-sector guest that takes
 * machine checks under KVM and keeps running, so that the poison QEMU
 * injected stays active (TESTBED.md: "A guest that survives machine checks").
 *
 * Its ROM (guest-rom.S) or a BIOS loads it at 0:7c00 in real mode. It enables every MCA bank
 * (MCG_CTL and MCi_CTL all ones: KVM drops the machine check silently
 * otherwise), points IVT vector 18 at a handler, sets CR4.MCE and prints
 * "READY" on COM1. The handler prints one line per machine check:
 *	MCE status=BD00000000000090 addr=0000000006000000 mcg=0000000000000005
 * (MC9_STATUS, MC9_ADDR and MCG_STATUS: QEMU injects memory errors into
 * bank 9), clears the bank and MCG_STATUS so the next machine check is
 * not a triple fault, ends the line (so a complete line means the next one
 * may come), and returns.
 *
 * Built with -DNO_MCE (tests/tools/nomce-guest.S) it leaves CR4.MCE clear:
 * QEMU then answers an injected memory error by resetting the guest, which
 * prints "READY" again. Its banner says "READY (no CR4.MCE)".
 *
 * Built with -DTOUCH (tests/tools/touch-guest.S) it loads a byte from
 * guest-physical 0x9f000 again and again, a pause loop between loads, as
 * a guest using that page would: when the page is poisoned on the host,
 * the load makes KVM signal BUS_MCEERR_AR to the vCPU thread. The machine
 * check that answers it returns to touch_done instead of the load (the
 * guest takes the page offline), which prints "TOUCH DONE" and idles.
 * Its banner says "READY (touching 0x9f000)".
 *
 * Assembled by the Makefile: cc -c, ld -Ttext=0x7c00 --oformat=binary,
 * truncated to a 1 MiB raw disk image.
 */
#define COM1		0x3f8
#define MSR_MCG_STATUS	0x17a
#define MSR_MCG_CTL	0x17b
#define MSR_MC0_CTL	0x400
#define MSR_MC9_STATUS	0x425
#define MSR_MC9_ADDR	0x426
#define NBANKS		10
#define CR4_MCE		0x40
#define TOUCH_SEG	0x9f00		/* GPA 0x9f000 */
#define TOUCH_DELAY	0x100000	/* pauses between loads */

	.code16
	.text
	.globl	_start
_start:
	cli
	ljmp	$0, $start		/* normalise CS:IP to 0:7cxx */
start:
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	cld

	/* Enable every error source: MCG_CTL, then MCi_CTL of banks 0-9. */
	movl	$0xffffffff, %eax
	movl	%eax, %edx
	movl	$MSR_MCG_CTL, %ecx
	wrmsr
	movl	$MSR_MC0_CTL, %ecx
1:	wrmsr
	addl	$4, %ecx
	cmpl	$MSR_MC0_CTL + 4 * NBANKS, %ecx
	jb	1b

	/* IVT entry 18 (#MC) at 0:0x48 -> mce_handler. */
	movw	$mce_handler, 18 * 4
	movw	$0, 18 * 4 + 2

#ifndef NO_MCE
	movl	%cr4, %eax
	orl	$CR4_MCE, %eax
	movl	%eax, %cr4
#endif

	movw	$msg_ready, %si
	call	puts

#ifdef TOUCH
	movw	$TOUCH_SEG, %ax
	movw	%ax, %es
touch:
	movl	$TOUCH_DELAY, %ecx
7:	pause
	decl	%ecx
	jnz	7b
	movb	%es:0, %al
	jmp	touch
touch_done:
	movw	$msg_touched, %si
	call	puts
#endif

	/* Idle with interrupts off: nothing here needs the BIOS timer (COM1
	 * is polled), and a machine check is an exception that wakes the
	 * halted vCPU with IF=0 too. In the nested KVM host (tests/kvmhost,
	 * SVM emulated by TCG) a timer interrupt injected under load is now
	 * and then delivered wrongly and leaves the guest spinning on #UD. */
2:	hlt
	jmp	2b

/* #MC handler: report bank 9 on COM1, clear it and MCG_STATUS, return. */
mce_handler:
	pushal
	pushw	%ds
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$msg_mce, %si
	call	puts
	movl	$MSR_MC9_STATUS, %ecx
	call	putmsr
	movw	$msg_addr, %si
	call	puts
	movl	$MSR_MC9_ADDR, %ecx
	call	putmsr
	movw	$msg_mcg, %si
	call	puts
	movl	$MSR_MCG_STATUS, %ecx
	call	putmsr
	xorl	%eax, %eax
	xorl	%edx, %edx
	movl	$MSR_MC9_STATUS, %ecx
	wrmsr
	movl	$MSR_MCG_STATUS, %ecx
	wrmsr
	/* The line ends once MCG_STATUS.MCIP is clear: from then on the next
	 * machine check is no triple fault. */
	movw	$msg_crlf, %si
	call	puts
	popw	%ds
	popal
#ifdef TOUCH
	/* Return past the load: the page is offline for this guest. */
	pushw	%bp
	movw	%sp, %bp
	movw	$touch_done, 2(%bp)
	popw	%bp
#endif
	iret

/* Print the NUL-terminated string at %ds:%si on COM1. */
puts:
	lodsb
	testb	%al, %al
	jz	3f
	call	putc
	jmp	puts
3:	ret

/* Print %al on COM1 once the transmitter holding register is empty. */
putc:
	pushw	%ax
	pushw	%dx
	movb	%al, %ah
	movw	$COM1 + 5, %dx
4:	inb	%dx, %al
	testb	$0x20, %al
	jz	4b
	movw	$COM1, %dx
	movb	%ah, %al
	outb	%al, %dx
	popw	%dx
	popw	%ax
	ret

/* Print MSR %ecx as 16 hex digits. */
putmsr:
	rdmsr
	pushl	%eax
	movl	%edx, %eax
	call	puthex32
	popl	%eax
	/* fall through */

/* Print %eax as 8 hex digits. */
puthex32:
	movw	$8, %cx
5:	roll	$4, %eax
	pushl	%eax
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	6f
	addb	$'A' - '9' - 1, %al
6:	call	putc
	popl	%eax
	loop	5b
	ret

#if defined(NO_MCE)
msg_ready:	.asciz	"READY (no CR4.MCE)\r\n"
#elif defined(TOUCH)
msg_ready:	.asciz	"READY (touching 0x9f000)\r\n"
msg_touched:	.asciz	"TOUCH DONE\r\n"
#else
msg_ready:	.asciz	"READY\r\n"
#endif
msg_mce:	.asciz	"MCE status="
msg_addr:	.asciz	" addr="
msg_mcg:	.asciz	" mcg="
msg_crlf:	.asciz	"\r\n"

	.org	510
	.byte	0x55, 0xaa
