/*
 * store_backend - the function table each store backend fills in.
 * Private to store.c, store_sqlite.c and store_pg.c.
 *
 * A backend provides primitives only: open/close a connection,
 * transactions, and one parameterised statement runner that hands rows
 * back as text.  The operations (store.h) are written once, in store.c,
 * in SQL both engines accept: parameters are written $1, $2, ... (the
 * SQLite backend rewrites them to ?1, ?2, ...), upserts use ON CONFLICT
 * (SQLite 3.24+, PostgreSQL 9.5+).  What differs is in the table: the
 * migrations' DDL, how a write transaction starts, row locking, and which
 * errors mean "lost a race, run the transaction again".
 *
 * store.c takes the handle's mutex around every call, so a backend sees
 * one call at a time per handle.  A backend reports failures by returning
 * a STORE_E* code after setting st->errmsg (store_seterr).
 */
#ifndef CLEANBOX_STORE_BACKEND_H
#define CLEANBOX_STORE_BACKEND_H

#include <pthread.h>

#include "store.h"

/* Internal: a transaction lost a race (unique key, serialisation). */
#define STORE_ERETRY	-100

/* A statement parameter. */
struct store_val {
	enum { SV_TEXT, SV_INT } type;
	const char	*s;
	int64_t		 i;
};
#define SVT(x)	{ SV_TEXT, (x), 0 }
#define SVI(x)	{ SV_INT, NULL, (int64_t)(x) }

/*
 * One result row: ncols values as text (integers in decimal), NULL for
 * SQL NULL.  Valid only during the callback.  Non-zero stops the walk.
 */
typedef int (*store_row_fn)(void *arg, const char *const *cols, int ncols);

struct store_backend {
	const char *name;
	/* Connect (create the file, set the engine's options). */
	int	(*open)(struct store *st, const struct store_params *p);
	/* Disconnect; called on a handle whose open failed too. */
	void	(*close)(struct store *st);
	/* Start a transaction that will write (SQLite takes the lock now). */
	int	(*begin)(struct store *st);
	int	(*commit)(struct store *st);
	void	(*rollback)(struct store *st);
	/*
	 * Run sql with params; call fn (if not NULL) for each row; put the
	 * number of rows changed by an INSERT/UPDATE/DELETE in *changes (if
	 * not NULL).  Returns STORE_OK, STORE_ERETRY, STORE_EBUSY or
	 * STORE_EDB.
	 */
	int	(*exec)(struct store *st, const char *sql,
		    const struct store_val *params, int nparams,
		    store_row_fn fn, void *arg, uint64_t *changes);
	/* Appended to the SELECT of a read-modify-write (" FOR UPDATE"). */
	const char *lock_row;
	/* Run first inside the migration transaction, or NULL. */
	const char *migrate_lock;
	/* migrations[i] upgrades version i to i+1: statements, NULL-ended. */
	const char *const *const *migrations;
	int	nmigrations;
};

struct store {
	const struct store_backend *be;
	void		*conn;		/* the backend's connection state */
	pthread_mutex_t	 mu;
	char		 errmsg[512];
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgres;

/* Set st->errmsg (printf-style). */
void	store_seterr(struct store *st, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
