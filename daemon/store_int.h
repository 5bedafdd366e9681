/*
 * store_int.h -- what store.c shares with store_schema.c: the connection
 * of the running thread and the primitives that write through it. Not for
 * the rest of the daemon (rasd.h has the store's interface).
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <limits.h>
#include <sqlite3.h>

/* One connection to the database and what goes with it. */
struct store_conn {
	sqlite3 *db;
	char err[512];		/* the last failure */
	int err_rc;		/* SQLite's extended code for err */
	unsigned long failures;	/* failed writes since one worked */
	sqlite3_stmt *insert_event, *save_vm, *retire, *history;
	sqlite3_stmt *insert_vevent, *vevents;
};

/* The connection of the thread running: each uses only its own. */
extern _Thread_local struct store_conn *store_cur;
extern char store_path[PATH_MAX];	/* STATE_DIR/rasd.db */

/* A VM's UUID as text in SQL, as ras_uuid_format() writes it. */
#define STORE_SQL_UUID(col)						\
    "lower(substr(hex(" col "),1,8)||'-'||substr(hex(" col "),9,4)||'-'||"	\
    "substr(hex(" col "),13,4)||'-'||substr(hex(" col "),17,4)||'-'||"	\
    "substr(hex(" col "),21,12))"

/* A transaction's body: 0, or -1 with the reason set (store_set_error). */
typedef int (*store_body_fn)(void *arg);

/* store.c */
int	store_exec(const char *);
int	store_write(store_body_fn, void *);

/* store_schema.c */
int	store_schema_create(void *);
int	store_upgrade(int);

#endif
