/*
 * shim.h -- internals of rasd-shim.so, the LD_PRELOAD shim that makes an
 * unmodified KVM VMM (QEMU) forward memory-error SIGBUS to rasd.
 */
#ifndef SHIM_H
#define SHIM_H

#include <signal.h>
#include <stdatomic.h>
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
	int		 enforce;	/* RASD_SHIM_MODE=enforce (shim_mce.c) */
	char		 machine[64];	/* -machine type, "" if none given */
	int		 ras;		/* -machine ...,ras=on */
	const char	*mode_bad;	/* an unknown RASD_SHIM_MODE, or NULL */
};

/* One piece of guest RAM: a guest-physical range and its host memory. */
struct shim_piece {
	uint64_t	gpa;
	uintptr_t	hva;
	uint64_t	len;
};

/* shim.c */
void	shim_log(const char *, ...) __attribute__((format(printf, 1, 2)));
void	shim_start(void);
void	shim_wake(void);
struct rasc *shim_client(void);
int	shim_current(void);
int	shim_stopped(char *, size_t);
int	shim_registered(void);

/* shim_id.c */
void	shim_id_load(void);
unsigned int shim_id_arm_profile(const char *, int, struct rasc_declared *);
int	shim_id_ready(void);
const struct shim_id *shim_id_get(void);
int	shim_id_qemu_version(void);

/* shim_kvm.c */
unsigned int shim_kvm_snapshot(struct rasc_slot *, unsigned int, uint64_t *);
uint64_t shim_kvm_gen(void);
int	shim_kvm_on_vcpu(void);
int	shim_kvm_translate(uint64_t, uint64_t, struct shim_piece *,
	    unsigned int, uint64_t *);
int	shim_kvm_gpa(uintptr_t, uint64_t *);
#define SHIM_KVM_VCPUS 256	/* vCPU threads the shim can hold */
void	shim_kvm_hold(void);
void	shim_kvm_release(void);
int	shim_kvm_evict(uint64_t);
void	shim_kvm_kick(unsigned int);
unsigned int shim_kvm_vcpus(void);
int	shim_kvm_vcpu_fd(unsigned int);
int	shim_kvm_index(void);

/* shim_gate.c */
extern atomic_int shim_gate_open_v;	/* 0 while KVM_RUN must wait */
void	shim_gate_init(void);
void	shim_gate_pass(int);
void	shim_gate_registered(struct rasc *);
int	shim_gate_late(void);
int	shim_gate_deadline(void);
void	shim_gate_refused(const char *);

/* shim_poison.c */
int	shim_poison_arm(uintptr_t, uint64_t, char *, size_t);
void	shim_poison_add(uintptr_t, uint64_t, int);
void	shim_poison_reset(void);
int	shim_poison_rescue(const siginfo_t *);
int	shim_poison_service(void);

/* shim_mce.c */
extern atomic_int shim_mce_on_v;	/* enforcing: KVM_RUN calls in */
void	shim_mce_init(void);
int	shim_mce_enforcing(void);
int	shim_mce_qemu_injects(void);
int	shim_mce_vendor(void);
int	shim_mce_stopped(void);
void	shim_mce_watch(unsigned long, const void *);
void	shim_mce_run(int);
int	shim_mce_carry_out(int, const struct rasc_decision *);
unsigned int shim_mce_take_dropped(void);

/* shim_sig.c */
int	shim_sig_real(int, const struct sigaction *, struct sigaction *);
void	shim_sig_adopt(void);
void	shim_sig_flush(struct rasc *);
int	shim_sig_pending(void);

#endif
