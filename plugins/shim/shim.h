/*
 * shim.h -- internals of rasd-shim.so, the LD_PRELOAD shim that makes an
 * unmodified KVM VMM (QEMU) forward memory-error SIGBUS to rasd.
 */
#ifndef SHIM_H
#define SHIM_H

#include <signal.h>
#include <stdint.h>

#include "rasclient.h"

#define SHIM_NAME_MAX 256
#define SHIM_PATH_MAX 108	/* sun_path */

/* Who this VMM is, from its command line and the environment. */
struct shim_id {
	int		 valid;		/* a UUID was found */
	const char	*why;		/* why not, when !valid */
	uint8_t		 uuid[16];
	char		 uuid_str[37];
	char		 name[SHIM_NAME_MAX];
	char		 socket[SHIM_PATH_MAX];
	int		 resume;	/* -incoming: the guest is not booting */
};

/* shim.c */
void	shim_log(const char *, ...) __attribute__((format(printf, 1, 2)));
void	shim_start(void);
void	shim_wake(void);
struct rasc *shim_client(void);
int	shim_current(void);

/* shim_id.c */
void	shim_id_load(void);
int	shim_id_ready(void);
const struct shim_id *shim_id_get(void);

/* shim_kvm.c */
unsigned int shim_kvm_snapshot(struct rasc_slot *, unsigned int, uint64_t *);
uint64_t shim_kvm_gen(void);

/* shim_sig.c */
int	shim_sig_real(int, const struct sigaction *, struct sigaction *);
void	shim_sig_adopt(void);
void	shim_sig_flush(struct rasc *);
int	shim_sig_pending(void);

#endif
