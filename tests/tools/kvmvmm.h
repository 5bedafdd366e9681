/*
 * kvmvmm.h -- what kvmvmm.c shares with its other files (kvmvmm_*.c).
 */
#ifndef KVMVMM_H
#define KVMVMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* kvmvmm.c */
extern int		 kvmvmm_vmfd;
extern int		 kvmvmm_kvmfd;
extern atomic_int	 kvmvmm_calls;
extern const char	*kvmvmm_mname;
uint8_t		*kvmvmm_hva(uint64_t);
int		 kvmvmm_memread(const void *);
int		 kvmvmm_load(const volatile uint8_t *, uint8_t *);
const char	*kvmvmm_errname(int);
void		 kvmvmm_ipi(int);
int		 kvmvmm_flat(int, uint64_t);
int		 kvmvmm_helper_thread(pthread_t *, void *(*)(void *), void *);

/* kvmvmm_race.c */
int	kvmvmm_race_parse(const char *, const char *);
void	kvmvmm_race_fill(void);
int	kvmvmm_race(void);
int	kvmvmm_race_wanted(void);

#endif
