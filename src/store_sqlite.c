/*
 * store_sqlite - the embedded store backend (SQLite 3).  See store.h.
 *
 * WAL mode (https://sqlite.org/wal.html): readers do not wait for the
 * writer, so RCPT-time lookups from several threads or processes proceed
 * while outcomes are recorded.  synchronous = NORMAL: in WAL mode a commit
 * survives a crash of the relay, and power loss may undo the last few
 * commits but never corrupts the file.  Losing a few counter updates on
 * power loss is harmless for suppression state (mail is in the spool,
 * which fsyncs), and it keeps a commit from costing an fsync.
 *
 * Writers serialise on the database lock: a write transaction starts with
 * BEGIN IMMEDIATE (the lock is taken at once, so a read-modify-write can
 * never deadlock upgrading a read lock), and waits up to
 * SQLITE_BUSY_MS for another writer before giving up with STORE_EBUSY.
 *
 * Statements are prepared once per connection and cached by their text
 * (at most SQLITE_CACHE; others are prepared for each use).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

#define SQLITE_BUSY_MS		10000
#define SQLITE_CACHE		32

struct sqlite_cached {
	char		*sql;		/* the text as the caller gave it */
	sqlite3_stmt	*stmt;
};

struct sqlite_conn {
	sqlite3		*db;
	struct sqlite_cached cache[SQLITE_CACHE];
	size_t		 ncache;
	int		 in_tx;
};

static const char *const sqlite_m1[] = {
	"CREATE TABLE suppression ("
	" dest TEXT PRIMARY KEY,"
	" suppressed INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL DEFAULT '',"
	" reply INTEGER NOT NULL DEFAULT 0,"
	" text TEXT NOT NULL DEFAULT '',"
	" first_time BIGINT NOT NULL DEFAULT 0,"
	" last_time BIGINT NOT NULL DEFAULT 0,"
	" count INTEGER NOT NULL DEFAULT 0,"
	" hard INTEGER NOT NULL DEFAULT 0,"
	" source TEXT NOT NULL DEFAULT '',"
	" since BIGINT NOT NULL DEFAULT 0,"
	" expires_at BIGINT NOT NULL DEFAULT 0)",
	"CREATE INDEX suppression_suppressed ON suppression (suppressed, dest)",
	"CREATE TABLE bounce_event ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time BIGINT NOT NULL,"
	" dest TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" rcpt TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" reply INTEGER NOT NULL,"
	" reason TEXT NOT NULL,"
	" hard INTEGER NOT NULL,"
	" source TEXT NOT NULL,"
	" text TEXT NOT NULL)",
	"CREATE INDEX bounce_event_time ON bounce_event (time)",
	"CREATE INDEX bounce_event_dest ON bounce_event (dest, time)",
	NULL,
};

static const char *const sqlite_m2[] = {
	"CREATE TABLE route (address TEXT PRIMARY KEY, dests TEXT NOT NULL)",
	NULL,
};

static const char *const *const sqlite_migrations[] = {
	sqlite_m1, sqlite_m2,
};

static int
sqlite_fail(struct store *st, const char *what)
{
	struct sqlite_conn *c = st->conn;
	int code = c && c->db ? sqlite3_errcode(c->db) : SQLITE_ERROR;

	store_seterr(st, "sqlite: %s: %s", what,
	    c && c->db ? sqlite3_errmsg(c->db) : "no database");
	return code == SQLITE_BUSY || code == SQLITE_LOCKED ? STORE_EBUSY :
	    STORE_EDB;
}

/* Run SQL without parameters or rows (PRAGMA, BEGIN, ...). */
static int
sqlite_simple(struct store *st, const char *sql)
{
	struct sqlite_conn *c = st->conn;
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		store_seterr(st, "sqlite: %s: %s", sql, msg ? msg :
		    sqlite3_errstr(rc));
		sqlite3_free(msg);
		return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? STORE_EBUSY :
		    STORE_EDB;
	}
	return STORE_OK;
}

static int
sqlite_open(struct store *st, const struct store_params *p)
{
	struct sqlite_conn *c;
	int rc;

	if (p->path == NULL || p->path[0] == '\0') {
		store_seterr(st, "sqlite: no database path ([store] path)");
		return STORE_ECONFIG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return STORE_ENOMEM;
	st->conn = c;
	/* Our own mutex serialises a handle; SQLite's would be redundant. */
	rc = sqlite3_open_v2(p->path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_seterr(st, "%s: %s", p->path, c->db ?
		    sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return STORE_EDB;
	}
	sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 0);
	if ((rc = sqlite_simple(st, "PRAGMA journal_mode = WAL")) != STORE_OK ||
	    (rc = sqlite_simple(st, "PRAGMA synchronous = NORMAL")) !=
	    STORE_OK)
		return rc;
	return STORE_OK;
}

static void
sqlite_close(struct store *st)
{
	struct sqlite_conn *c = st->conn;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ncache; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	if (c->db != NULL)
		sqlite3_close(c->db);
	free(c);
	st->conn = NULL;
}

static int
sqlite_begin(struct store *st)
{
	struct sqlite_conn *c = st->conn;
	int rc;

	if ((rc = sqlite_simple(st, "BEGIN IMMEDIATE")) == STORE_OK)
		c->in_tx = 1;
	return rc;
}

static int
sqlite_commit(struct store *st)
{
	struct sqlite_conn *c = st->conn;
	int rc;

	rc = sqlite_simple(st, "COMMIT");
	if (rc != STORE_OK) {
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	c->in_tx = 0;
	return rc;
}

static void
sqlite_rollback(struct store *st)
{
	struct sqlite_conn *c = st->conn;

	if (c->in_tx)
		(void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	c->in_tx = 0;
}

/* "$12" -> "?12": SQLite's numbered parameters. */
static int
sqlite_translate(const char *sql, char **out)
{
	size_t n = strlen(sql), i;
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i <= n; i++)
		p[i] = (sql[i] == '$' && sql[i + 1] >= '0' &&
		    sql[i + 1] <= '9') ? '?' : sql[i];
	*out = p;
	return 0;
}

/* The prepared statement for sql (cached when there is room). */
static int
sqlite_stmt(struct store *st, const char *sql, sqlite3_stmt **stmt,
    int *cached)
{
	struct sqlite_conn *c = st->conn;
	char *text;
	size_t i;
	int rc;

	for (i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].sql, sql) == 0) {
			*stmt = c->cache[i].stmt;
			*cached = 1;
			return STORE_OK;
		}
	if (sqlite_translate(sql, &text) == -1)
		return STORE_ENOMEM;
	rc = sqlite3_prepare_v2(c->db, text, -1, stmt, NULL);
	free(text);
	if (rc != SQLITE_OK)
		return sqlite_fail(st, "prepare");
	*cached = 0;
	if (c->ncache < SQLITE_CACHE &&
	    (c->cache[c->ncache].sql = strdup(sql)) != NULL) {
		c->cache[c->ncache].stmt = *stmt;
		c->ncache++;
		*cached = 1;
	}
	return STORE_OK;
}

#define SQLITE_MAXCOLS	16

static int
sqlite_exec(struct store *st, const char *sql, const struct store_val *v,
    int nv, store_row_fn fn, void *arg, uint64_t *changes)
{
	struct sqlite_conn *c = st->conn;
	const char *cols[SQLITE_MAXCOLS];
	sqlite3_stmt *stmt;
	int rc, i, ncols, cached = 0, stop = 0;

	if ((rc = sqlite_stmt(st, sql, &stmt, &cached)) != STORE_OK)
		return rc;
	for (i = 0; i < nv; i++) {
		if (v[i].type == SV_INT)
			rc = sqlite3_bind_int64(stmt, i + 1, v[i].i);
		else
			rc = sqlite3_bind_text(stmt, i + 1, v[i].s, -1,
			    SQLITE_STATIC);
		if (rc != SQLITE_OK) {
			rc = sqlite_fail(st, "bind");
			goto out;
		}
	}
	ncols = sqlite3_column_count(stmt);
	if (ncols > SQLITE_MAXCOLS) {
		store_seterr(st, "sqlite: too many columns");
		rc = STORE_EDB;
		goto out;
	}
	while (!stop && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (fn == NULL)
			continue;
		for (i = 0; i < ncols; i++)
			cols[i] = (const char *)sqlite3_column_text(stmt, i);
		stop = fn(arg, cols, ncols);
	}
	if (stop || rc == SQLITE_DONE) {
		rc = STORE_OK;
		if (changes != NULL)
			*changes = (uint64_t)sqlite3_changes(c->db);
	} else
		rc = sqlite_fail(st, "step");
out:
	if (cached) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	} else
		sqlite3_finalize(stmt);
	return rc;
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.exec = sqlite_exec,
	.lock_row = NULL,	/* BEGIN IMMEDIATE holds the write lock */
	.migrate_lock = NULL,
	.migrations = sqlite_migrations,
	.nmigrations = (int)(sizeof(sqlite_migrations) /
	    sizeof(sqlite_migrations[0])),
};
