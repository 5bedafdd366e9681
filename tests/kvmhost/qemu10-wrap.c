/*
 * qemu10-wrap.c -- start the unpacked QEMU 10 with its own modules.
 *
 * DESIGN: Debian's QEMU looks for its loadable modules only in the absolute
 * /usr/lib/x86_64-linux-gnu/qemu, where the installed QEMU 7.2's modules
 * live; QEMU 10 loading one of those aborts ("Only modules from the same
 * build can be loaded"), which libvirt sees as a failed capability probe.
 * QEMU_MODULE_DIR is searched first, but libvirt starts QEMU with a cleared
 * environment, so this wrapper -- libvirt's <emulator> for the QEMU 10
 * lane -- sets it and executes the real binary. It is linked statically so
 * that an LD_PRELOAD meant for QEMU (rasd-shim.so) is not loaded into it:
 * the shim sees only QEMU, as in production. kvmhost fetch compiles it with
 * QEMU10_BIN and QEMU10_MODDIR set to the unpacked tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef QEMU10_BIN
#error "build with -DQEMU10_BIN=\"...\" -DQEMU10_MODDIR=\"...\""
#endif

int
main(int argc, char **argv)
{
	(void)argc;
	if (setenv("QEMU_MODULE_DIR", QEMU10_MODDIR, 1) != 0) {
		perror("qemu10-wrap: setenv");
		return 1;
	}
	argv[0] = (char *)QEMU10_BIN;
	execv(QEMU10_BIN, argv);
	fprintf(stderr, "qemu10-wrap: cannot execute %s: %s\n", QEMU10_BIN,
	    strerror(errno));
	return 1;
}
