/*
 * store - the relay's shared state: suppression list, bounce events,
 * and (optionally) routes.  One interface, two backends.
 *
 * Owns the database: its schema and migrations, and every SQL statement.
 * Backends are a function table (struct store_backend in store_backend.h,
 * in the way of OpenSMTPD's table and queue backends):
 *   sqlite   - embedded default ([store] backend = sqlite, path =
 *              var/state.db); WAL mode, so readers never wait for the
 *              writer, and several processes on one machine may share it;
 *   postgres - ([store] backend = postgres, dsn = "host=... dbname=...")
 *              for several relay nodes behind several MX records that must
 *              share one suppression list.
 * The schema is versioned (table schema_version) and store_open() applies
 * the migrations the database lacks, each in its own transaction (on
 * PostgreSQL under an advisory lock, so two nodes starting together do not
 * both migrate).  A database newer than this binary is refused.
 *
 * What the store holds is policy-free: it stores rows and runs the atomic
 * read-modify-write that suppress.c asks for (store_supp_update).  The
 * policy (what suppresses, when) is suppress.c's.
 *
 * Times are seconds since the epoch (int64_t), always passed in by the
 * caller, never read from the clock here, so tests inject time.
 *
 * Text is stored as valid UTF-8 (PostgreSQL refuses anything else): in
 * free text (reply text, reason, source) control bytes and invalid UTF-8
 * become '?'; a destination key or recipient that is not valid UTF-8, or
 * holds control bytes, is refused with STORE_EINVAL.
 *
 * Blocking and threads: every call blocks until the database answers (a
 * file for SQLite, a network round trip for PostgreSQL), so the event-loop
 * thread must not call it: use workq.  A handle holds one connection and a
 * mutex; calls on one handle from several threads are safe and serialised.
 * For parallel lookups open one handle per worker thread: SQLite in WAL
 * mode and PostgreSQL both serve concurrent connections.  A PostgreSQL
 * connection that dropped is re-established once per call.  Callbacks
 * (list, scan, count, update) run with the handle's mutex held: they must
 * not call the same handle (use a second one, or collect and act after).
 *
 * Callers: suppress (policy), store_cli (suppress/bounces/route commands),
 * the server and the queue manager through suppress.
 */
#ifndef CLEANBOX_STORE_H
#define CLEANBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;

#define STORE_OK		 0
#define STORE_NOTFOUND		 1	/* not an error: no such row */
#define STORE_EDB		-1	/* the database failed (see errmsg) */
#define STORE_ENOMEM		-2
#define STORE_EINVAL		-3	/* bad argument, bad UTF-8, too long */
#define STORE_ESCHEMA		-4	/* schema newer than this binary */
#define STORE_EBUSY		-5	/* locked / serialisation, retries spent */
#define STORE_ECONFIG		-6	/* unknown backend, missing path/dsn */

/* Sizes of the fixed fields (bytes, including the NUL). */
#define STORE_DEST_MAX		1024
#define STORE_ADDR_MAX		512
#define STORE_DOMAIN_MAX	256
#define STORE_REASON_MAX	32
#define STORE_STATUS_MAX	16
#define STORE_SOURCE_MAX	24
#define STORE_TEXT_MAX		1024

/* The schema version this binary writes (see the migrations). */
#define STORE_SCHEMA_VERSION	2

enum store_kind { STORE_SQLITE, STORE_POSTGRES };

struct store_params {
	enum store_kind kind;
	const char	*path;		/* sqlite: database file */
	const char	*dsn;		/* postgres: libpq connection string */
};

/*
 * One destination's row.  While a destination only collects soft failures
 * the row exists with suppressed = false; suppress.c decides when it flips.
 */
struct store_supp {
	char	dest[STORE_DEST_MAX];		/* the key (suppress_key()) */
	bool	suppressed;
	char	reason[STORE_REASON_MAX];	/* "userunknown", "operator", ... */
	char	status[STORE_STATUS_MAX];	/* enhanced status "5.1.1", or "" */
	int	reply;				/* SMTP reply code, 0 unknown */
	char	text[STORE_TEXT_MAX];		/* the last diagnostic text */
	int64_t	first_time;			/* first failure of the streak */
	int64_t	last_time;			/* latest failure */
	unsigned count;				/* consecutive failures */
	bool	hard;
	char	source[STORE_SOURCE_MAX];	/* in-session|retry|returned-bounce|operator */
	int64_t	since;				/* suppressed at (0: not) */
	int64_t	expires_at;			/* 0: never */
};

/* One failure, as logged. */
struct store_event {
	int64_t	id;				/* set by the store */
	int64_t	time;
	char	dest[STORE_DEST_MAX];
	char	domain[STORE_DOMAIN_MAX];	/* destination domain, for reports */
	char	rcpt[STORE_ADDR_MAX];		/* the recipient, "" if unknown */
	char	status[STORE_STATUS_MAX];
	int	reply;
	char	reason[STORE_REASON_MAX];
	bool	hard;
	char	source[STORE_SOURCE_MAX];
	char	text[STORE_TEXT_MAX];
};

/*
 * Open (and migrate) the store.  On failure *out is NULL and err (if not
 * NULL) holds a one-line reason, e.g. "var/state.db: unable to open
 * database file" or the libpq message.
 */
int	store_open(const struct store_params *p, struct store **out,
	    char *err, size_t errlen);
/* The same, with the [store] section of a loaded configuration. */
int	store_open_config(const struct config *cfg, struct store **out,
	    char *err, size_t errlen);
void	store_close(struct store *st);		/* NULL is a no-op */
/* "sqlite" or "postgres". */
const char *store_backend_name(const struct store *st);
/* The schema version of the open database. */
int	store_schema_version(struct store *st);
/* Text of the last error on this handle (not thread-specific). */
const char *store_errmsg(struct store *st);
const char *store_strerror(int rc);

/* ---- Suppression rows ---- */

/* Fetch dest's row: STORE_OK, STORE_NOTFOUND, or an error. */
int	store_supp_get(struct store *st, const char *dest,
	    struct store_supp *out);

/* What an update callback decides. */
enum store_update {
	STORE_UPD_KEEP,		/* leave the row as it is (or absent) */
	STORE_UPD_PUT,		/* write *row (insert or replace) */
	STORE_UPD_DELETE,	/* remove the row */
};
/*
 * Atomic read-modify-write of one row.  fn gets the current row (exists
 * false: zeroed with dest set) and returns what to do; the write, and the
 * event ev if not NULL, commit in one transaction.  fn may be called more
 * than once (PostgreSQL retries a transaction that lost a race with
 * another node), so it must only compute from its inputs.  row->dest must
 * not be changed.  Returns STORE_OK or an error.
 */
typedef enum store_update (*store_supp_fn)(struct store_supp *row,
	    bool exists, void *arg);
int	store_supp_update(struct store *st, const char *dest, store_supp_fn fn,
	    void *arg, const struct store_event *ev);
/* Insert or replace a row as given (operator "suppress add"). */
int	store_supp_put(struct store *st, const struct store_supp *row);
/* STORE_OK, STORE_NOTFOUND, or an error. */
int	store_supp_delete(struct store *st, const char *dest);

struct store_supp_filter {
	bool	suppressed_only;	/* skip rows only counting soft failures */
	int64_t	now;			/* with suppressed_only: skip expired (0: keep) */
	const char *dest_prefix;	/* NULL: all */
	size_t	limit;			/* 0: no limit */
};
/* Rows ordered by dest; cb returning non-zero stops the walk (STORE_OK). */
typedef int (*store_supp_cb)(const struct store_supp *row, void *arg);
int	store_supp_list(struct store *st, const struct store_supp_filter *f,
	    store_supp_cb cb, void *arg);
/* Number of suppressed (not expired at now; now 0: all) rows. */
int	store_supp_count(struct store *st, int64_t now, uint64_t *n);
/*
 * Delete suppressions expired at now, and soft-failure counters whose last
 * failure is older than stale_before (0: keep them).  *n (may be NULL)
 * gets the number of rows deleted.
 */
int	store_supp_expire(struct store *st, int64_t now, int64_t stale_before,
	    uint64_t *n);

/* ---- Bounce events ---- */

int	store_event_add(struct store *st, const struct store_event *ev);

struct store_event_filter {
	int64_t	since;			/* time >= since */
	const char *dest;		/* NULL: all */
	size_t	limit;			/* 0: no limit; newest first when set */
};
/* Events in time order (newest first when limit is set). */
typedef int (*store_event_cb)(const struct store_event *ev, void *arg);
int	store_event_scan(struct store *st, const struct store_event_filter *f,
	    store_event_cb cb, void *arg);
/* Delete events older than before; *n (may be NULL) gets the number. */
int	store_event_prune(struct store *st, int64_t before, uint64_t *n);

/* Grouped counts of events since a time, largest first. */
enum store_group {
	STORE_GROUP_REASON,
	STORE_GROUP_DOMAIN,
	STORE_GROUP_HARD,		/* key "hard" or "soft" */
	STORE_GROUP_SOURCE,
	STORE_GROUP_SUPPRESSED_DEST,	/* events of destinations suppressed now */
};
typedef int (*store_count_cb)(const char *key, uint64_t count, void *arg);
int	store_event_count(struct store *st, enum store_group by, int64_t since,
	    size_t limit, store_count_cb cb, void *arg);

/* ---- Routes (for [routes] source = store) ---- */

/* Insert or replace key's destination list (syntax checked by route). */
int	store_route_put(struct store *st, const char *key, const char *value);
int	store_route_delete(struct store *st, const char *key);
/* All routes ordered by key. */
typedef int (*store_route_cb)(const char *key, const char *value, void *arg);
int	store_route_list(struct store *st, store_route_cb cb, void *arg);
/*
 * Add every stored route to rt (a table being built: at start-up or on a
 * reload, before any session sees it).  A key also in the file, or a
 * route that does not parse, is an error: STORE_EINVAL with err set to
 * "route KEY: reason", and rt partly filled (throw it away).
 */
struct route_table;
int	store_routes_load(struct store *st, struct route_table *rt, char *err,
	    size_t errlen);

#endif
