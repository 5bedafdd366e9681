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
 * the shim sees only QEMU, as in production.
 *
 * The firmware: QEMU 10's own data files and the SeaBIOS it depends on
 * (1.16.3) are unpacked beside it, but the binary's built-in firmware path
 * is the machine's /usr/share/qemu and /usr/share/seabios (QEMU 7.2's data,
 * SeaBIOS 1.16.2). SeaBIOS 1.16.2 under QEMU 10 sits out a 32 s AHCI
 * timeout on every boot from a SATA disk (QEMU10.md), so the wrapper puts
 * the unpacked SeaBIOS and data first with -L, ahead of the built-in path.
 *
 * kvmhost fetch compiles it with QEMU10_BIN, QEMU10_MODDIR, QEMU10_FWDIR
 * and QEMU10_DATADIR set to the unpacked tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(QEMU10_BIN) || !defined(QEMU10_MODDIR) || \
    !defined(QEMU10_FWDIR) || !defined(QEMU10_DATADIR)
#error "build with -DQEMU10_BIN=... -DQEMU10_MODDIR=... -DQEMU10_FWDIR=... -DQEMU10_DATADIR=..."
#endif

#define NPRE 5	/* the binary, -L FWDIR, -L DATADIR */

int
main(int argc, char **argv)
{
	char **args;
	int i;

	if (setenv("QEMU_MODULE_DIR", QEMU10_MODDIR, 1) != 0) {
		perror("qemu10-wrap: setenv");
		return 1;
	}
	args = calloc((size_t)argc + NPRE, sizeof(*args));
	if (args == NULL) {
		perror("qemu10-wrap: calloc");
		return 1;
	}
	args[0] = (char *)QEMU10_BIN;
	args[1] = (char *)"-L";
	args[2] = (char *)QEMU10_FWDIR;
	args[3] = (char *)"-L";
	args[4] = (char *)QEMU10_DATADIR;
	for (i = 1; i < argc; i++)
		args[NPRE - 1 + i] = argv[i];
	execv(QEMU10_BIN, args);
	fprintf(stderr, "qemu10-wrap: cannot execute %s: %s\n", QEMU10_BIN,
	    strerror(errno));
	return 1;
}
