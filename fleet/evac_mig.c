/*
 * evac_mig.c -- one evacuation's migration, in a process of its own:
 * rasd --fleet-migrate SRC-URI DEST-URI UUID safe|unsafe.
 *
 * DESIGN: the controller (evac.c) must never wait for libvirt, and a
 * migration takes seconds to minutes, so each runs in a fresh exec of
 * rasd, which shares nothing with the loop (not libvirt's event
 * implementation either). It connects to the source host's libvirt and
 * asks for a peer-to-peer live migration to the destination's libvirt
 * (virDomainMigrateToURI3: LIVE, PEER2PEER, PERSIST_DEST,
 * UNDEFINE_SOURCE; UNSAFE with fleet_migrate_unsafe, for disks that are
 * copies rather than shared storage): libvirtd on the source drives it,
 * the libvirt hook and the final sync carry the VM's poison over.
 *
 * A controller taking over a move its predecessor started runs this
 * too, so it first waits out any job libvirt still runs for the domain
 * and migrates only a domain still active on the source: nothing is
 * migrated twice. It says what happened on standard output, one line,
 * and exits EVAC_EXIT_OK, EVAC_EXIT_GONE (not on the source) or
 * EVAC_EXIT_FAIL.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "evac.h"

#define EVAC_JOB_WAIT_MAX 3600	/* s: an earlier migration's job */

static void
evac_mig_quiet(void *arg, virErrorPtr err)
{
}

int
evac_migrate_main(char *const *argv)
{
	const char *src = argv[0], *dst = argv[1], *uuid = argv[2];
	unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER |
	    VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
	virConnectPtr conn;
	virDomainPtr dom;
	virDomainJobInfo job;
	int waited = 0, rc = EVAC_EXIT_FAIL;

	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	virSetErrorFunc(NULL, evac_mig_quiet);
	if (strcmp(argv[3], "unsafe") == 0)
		flags |= VIR_MIGRATE_UNSAFE;
	if ((conn = virConnectOpen(src)) == NULL) {
		printf("cannot connect to the source's libvirt %s: %s\n", src,
		    virGetLastErrorMessage());
		return EVAC_EXIT_FAIL;
	}
	if ((dom = virDomainLookupByUUIDString(conn, uuid)) == NULL) {
		printf("no domain %s on %s\n", uuid, src);
		virConnectClose(conn);
		return EVAC_EXIT_GONE;
	}
	/* An earlier controller's migration may still be under way. */
	while (virDomainGetJobInfo(dom, &job) == 0 &&
	    job.type != VIR_DOMAIN_JOB_NONE && waited < EVAC_JOB_WAIT_MAX) {
		sleep(1);
		waited++;
	}
	if (virDomainIsActive(dom) != 1) {
		printf("domain %s is not running on %s%s\n", uuid, src,
		    waited ? " (after an earlier job ended)" : "");
		rc = EVAC_EXIT_GONE;
	} else if (virDomainMigrateToURI3(dom, dst, NULL, 0, flags) == 0) {
		printf("migrated to %s\n", dst);
		rc = EVAC_EXIT_OK;
	} else
		printf("libvirt: %s\n", virGetLastErrorMessage());
	virDomainFree(dom);
	virConnectClose(conn);
	fflush(stdout);
	return rc;
}
