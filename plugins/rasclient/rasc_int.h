/*
 * rasc_int.h -- internals of librasclient shared by its files.
 *
 * Everything a SIGBUS handler touches lives in struct rasc and is allocated
 * by rasc_open(); the handler path (rasc_forward, rasc_fallback) only reads
 * and writes that memory and its own stack.
 */
#ifndef RASC_INT_H
#define RASC_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rasd.pb-c.h"
#include "ras.h"
#include "policy.h"
#include "rasclient.h"

/* A handler may only rely on atomics that never fall back to a lock. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#define RASC_TIMEOUT_DEFAULT 1000	/* ms */
#define RASC_RX_MAX 4096		/* largest Response a client accepts */
#define RASC_REGISTER_ARENA (16u << 20)	/* heap arena for Registered */
#define RASC_PAGE_TRIES 4		/* restarts of a changing range list */
#define RASC_TX_SMALL 512		/* Forward, GuestReset, Unregister */
#define RASC_ARENA_SIZE 8192		/* unpack arena, on the caller's stack */
#define RASC_ERR_MAX 256

/* Replay entry states. */
#define RASC_ENTRY_FREE 0
#define RASC_ENTRY_WRITING 1	/* claimed, fields being filled */
#define RASC_ENTRY_INFLIGHT 2	/* its forward is being sent right now */
#define RASC_ENTRY_PENDING 3	/* not acknowledged, waiting for replay */

/* One forward kept until rasd acknowledges it. */
struct rasc_entry {
	atomic_int		 state;
	_Atomic uint64_t	 seq;
	uint64_t		 hva;
	uint32_t		 lsb;
	uint32_t		 kind;
	uint32_t		 flags;		/* RASC_F_* of the forward */
};

/* One memory map; two of them alternate under rasc_set_slots(). */
struct rasc_map {
	unsigned int		 count;
	struct rasc_slot	 slot[RASC_MAX_SLOTS];
	struct ras_policy	 policy;	/* the orders rasd decides by */
};

/* Bump allocator over a caller's buffer, for protobuf_c_message_unpack. */
struct rasc_arena {
	ProtobufCAllocator	 alloc;
	uint8_t			*base;
	size_t			 size;
	size_t			 used;
};

struct rasc {
	/* Fixed by rasc_open(). */
	uint8_t			 uuid[16];
	char			*name;
	char			*path;
	uint32_t		 arch;
	uint8_t			*hest;
	size_t			 hest_len;
	struct ras_profile	 profile;
	int			 declared;	/* profile came from cfg->declared */
	uint32_t		 caps;
	uint32_t		 cpu_vendor;	/* RASC_CPU_* */
	int			 observing;	/* rasc_config.observing */
	int			 timeout_ms;
	int			 resume;
	int			 debug;

	/*
	 * The map a handler reads is map[map_cur]; a writer fills the other
	 * one once no reader is inside it, then flips map_cur.
	 */
	struct rasc_map		 map[2];
	atomic_uint		 map_cur;
	atomic_uint		 map_readers[2];
	pthread_mutex_t		 map_lock;	/* serializes writers */

	/* The socket; fd and registered change only under sock_lock. */
	atomic_int		 sock_lock;
	atomic_int		 fd;
	atomic_int		 registered;
	int			 ever_registered;
	_Atomic uint64_t	 next_id;
	uint64_t		 generation;
	struct rasc_range	*active;	/* map_lock; heap, all of */
	unsigned int		 nactive;	/* them (ActiveQuery pages) */

	/* Forwards not yet acknowledged, replayed in seq order. */
	struct rasc_entry	 ring[RASC_REPLAY_MAX];
	_Atomic uint64_t	 next_seq;
	_Atomic uint64_t	 reset_seq;	/* 0, or the first seq after an
						   undelivered guest reset */
	atomic_ulong		 lost;		/* forwards the full ring dropped */
	unsigned long		 lost_reported;	/* of those, told to rasd */

	/*
	 * What rasd must hear before it may answer a final sync (rasc_ring.c,
	 * DESIGN): errors the VMM keeps outside the library, errors it could
	 * not keep, and whether rasd's last word from us is out of date.
	 */
	atomic_int		 held;		/* rasc_note_held() */
	atomic_ulong		 dropped;	/* rasc_note_dropped(), in all */
	atomic_int		 unsynced;	/* cut the connection at unlock */
	int			 told_pending;	/* sock_lock: rasd last heard
						   pending > 0 */

	/* The service thread. */
	pthread_t		 thread;
	int			 thread_started;
	int			 thread_stop;
	int			 interval_ms;
	pthread_mutex_t		 thread_lock;
	pthread_cond_t		 thread_cond;

	char			 err[RASC_ERR_MAX];
};

/* rasclient.c */
void	rasc_debug(struct rasc *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	rasc_seterr(struct rasc *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	rasc_seterr_safe(struct rasc *, const char *, const char *);

/* rasc_lock.c */
int	rasc_lock_try(struct rasc *, int64_t);
void	rasc_lock(struct rasc *, sigset_t *);
void	rasc_unlock(struct rasc *, const sigset_t *);
void	rasc_lock_release(struct rasc *);

/* rasc_map.c */
int	rasc_map_check(const struct rasc_slot *, unsigned int, char *, size_t);
void	rasc_map_set(struct rasc *, const struct rasc_slot *, unsigned int);
void	rasc_map_set_policy(struct rasc *, const struct ras_policy *);
unsigned int rasc_map_copy(struct rasc *, struct rasc_slot *);
int	rasc_map_translate(struct rasc *, uint64_t, int, uint64_t *, uint64_t *,
	    uint64_t *);
int	rasc_map_decide(struct rasc *, int, uint64_t, int, unsigned int,
	    struct rasc_decision *);

/* rasc_ring.c */
struct rasc_entry *rasc_ring_claim(struct rasc *, int, uint64_t, int,
	    unsigned int, int, uint64_t *);
void	rasc_ring_ack(struct rasc *, uint64_t);
void	rasc_ring_defer(struct rasc *, struct rasc_entry *);
int	rasc_ring_count(struct rasc *);
void	rasc_ring_unsynced(struct rasc *);
void	rasc_ring_resync(struct rasc *);
unsigned int rasc_ring_pending(struct rasc *);
struct rasc_entry *rasc_ring_oldest(struct rasc *, uint64_t);

/* rasc_wire.c */
int64_t	rasc_wire_now(void);
void	rasc_wire_arena(struct rasc_arena *, void *, size_t);
int	rasc_wire_connect(const char *, int64_t);
void	rasc_wire_disconnect(struct rasc *);
Ras__Response *rasc_wire_call(struct rasc *, Ras__Request *, uint8_t *,
	    size_t, uint8_t *, size_t, struct rasc_arena *, int64_t);
int	rasc_wire_drain(struct rasc *);

#endif
