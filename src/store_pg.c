/*
 * store_pg - the shared store backend (PostgreSQL through libpq).  See
 * store.h.
 *
 * Several relay nodes share one database.  A read-modify-write of a
 * suppression row runs in a READ COMMITTED transaction that locks the row
 * with SELECT ... FOR UPDATE; when the row does not exist yet two nodes
 * may both try to INSERT it, and the loser gets a unique violation
 * (SQLSTATE 23505).  That, a serialisation failure (40001) and a deadlock
 * (40P01) mean "run the transaction again" (STORE_ERETRY), which store.c
 * does; the retry then finds and locks the winner's row.
 *
 * Migrations run under a transaction-scoped advisory lock, so nodes that
 * start together migrate one after the other (the second finds nothing to
 * do).
 *
 * Statements are prepared once per connection (PQprepare) and cached by
 * text; parameters are sent as text with their types (int8 or text), so
 * the server never has to guess them.  A connection that broke is reset
 * (PQreset) at the next call outside a transaction, and a statement that
 * failed because the connection broke is sent once more.
 */
#include <libpq-fe.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

#define PG_CACHE	32
#define PG_MAXPARAMS	16
#define PG_INT8OID	20	/* pg_type.oid of int8 */
#define PG_TEXTOID	25	/* pg_type.oid of text */

struct pg_cached {
	char	*sql;
	char	 name[16];
	int	 nparams;
};

struct pg_conn {
	PGconn		*db;
	struct pg_cached cache[PG_CACHE];
	size_t		 ncache;
	unsigned	 nextname;
	int		 in_tx;
};

static const char *const pg_m1[] = {
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
	" id BIGSERIAL PRIMARY KEY,"
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

static const char *const pg_m2[] = {
	"CREATE TABLE route (address TEXT PRIMARY KEY, dests TEXT NOT NULL)",
	NULL,
};

static const char *const *const pg_migrations[] = {
	pg_m1, pg_m2,
};

/* libpq prints NOTICEs on stderr by default; they are not ours to show. */
static void
pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The message without its trailing newline. */
static void
pg_seterr(struct store *st, const char *what, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	store_seterr(st, "postgres: %s: %.*s", what, (int)(n > 400 ? 400 : n),
	    msg ? msg : "");
}

static void
pg_cache_clear(struct pg_conn *c)
{
	size_t i;

	for (i = 0; i < c->ncache; i++)
		free(c->cache[i].sql);
	c->ncache = 0;
}

static int
pg_open(struct store *st, const struct store_params *p)
{
	struct pg_conn *c;

	if (p->dsn == NULL || p->dsn[0] == '\0') {
		store_seterr(st, "postgres: no connection string ([store] dsn)");
		return STORE_ECONFIG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return STORE_ENOMEM;
	st->conn = c;
	if ((c->db = PQconnectdb(p->dsn)) == NULL)
		return STORE_ENOMEM;
	if (PQstatus(c->db) != CONNECTION_OK) {
		pg_seterr(st, "connect", PQerrorMessage(c->db));
		return STORE_EDB;
	}
	PQsetNoticeProcessor(c->db, pg_quiet, NULL);
	return STORE_OK;
}

static void
pg_close(struct store *st)
{
	struct pg_conn *c = st->conn;

	if (c == NULL)
		return;
	pg_cache_clear(c);
	if (c->db != NULL)
		PQfinish(c->db);
	free(c);
	st->conn = NULL;
}

/* A usable connection, reset if it broke (never inside a transaction). */
static int
pg_ensure(struct store *st)
{
	struct pg_conn *c = st->conn;

	if (PQstatus(c->db) == CONNECTION_OK)
		return STORE_OK;
	if (c->in_tx) {
		pg_seterr(st, "connection lost in a transaction",
		    PQerrorMessage(c->db));
		return STORE_EDB;
	}
	/* Prepared statements die with the session. */
	pg_cache_clear(c);
	PQreset(c->db);
	if (PQstatus(c->db) != CONNECTION_OK) {
		pg_seterr(st, "reconnect", PQerrorMessage(c->db));
		return STORE_EDB;
	}
	return STORE_OK;
}

static int
pg_result_rc(struct store *st, PGresult *res, const char *what)
{
	const char *state;

	if (res == NULL) {
		pg_seterr(st, what, PQerrorMessage(((struct pg_conn *)
		    st->conn)->db));
		return STORE_EDB;
	}
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return STORE_OK;
	default:
		break;
	}
	pg_seterr(st, what, PQresultErrorMessage(res));
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && (strcmp(state, "23505") == 0 ||
	    strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
		return STORE_ERETRY;
	if (state != NULL && strcmp(state, "55P03") == 0)
		return STORE_EBUSY;
	return STORE_EDB;
}

/* The cached prepared statement for sql, preparing it if there is room. */
static struct pg_cached *
pg_prepared(struct store *st, const char *sql, const Oid *types, int nv,
    int *rc)
{
	struct pg_conn *c = st->conn;
	struct pg_cached *pc;
	PGresult *res;
	size_t i;

	*rc = STORE_OK;
	for (i = 0; i < c->ncache; i++)
		if (c->cache[i].nparams == nv && strcmp(c->cache[i].sql, sql) ==
		    0)
			return &c->cache[i];
	if (c->ncache == PG_CACHE)
		return NULL;
	pc = &c->cache[c->ncache];
	(void)snprintf(pc->name, sizeof(pc->name), "cb%u", c->nextname++);
	res = PQprepare(c->db, pc->name, sql, nv, types);
	*rc = pg_result_rc(st, res, "prepare");
	PQclear(res);
	if (*rc != STORE_OK)
		return NULL;
	if ((pc->sql = strdup(sql)) == NULL) {
		/* Prepared but not remembered: harmless, it is unused. */
		*rc = STORE_ENOMEM;
		return NULL;
	}
	pc->nparams = nv;
	c->ncache++;
	return pc;
}

static int
pg_exec_once(struct store *st, const char *sql, const struct store_val *v,
    int nv, store_row_fn fn, void *arg, uint64_t *changes)
{
	struct pg_conn *c = st->conn;
	char num[PG_MAXPARAMS][24];
	const char *values[PG_MAXPARAMS], *cols[PG_MAXPARAMS];
	Oid types[PG_MAXPARAMS];
	struct pg_cached *pc;
	PGresult *res;
	int i, r, nrows, ncols, rc;

	if (nv > PG_MAXPARAMS)
		return STORE_EINVAL;
	for (i = 0; i < nv; i++) {
		if (v[i].type == SV_INT) {
			(void)snprintf(num[i], sizeof(num[i]), "%" PRId64,
			    v[i].i);
			values[i] = num[i];
			types[i] = PG_INT8OID;
		} else {
			values[i] = v[i].s;
			types[i] = PG_TEXTOID;
		}
	}
	pc = pg_prepared(st, sql, types, nv, &rc);
	if (rc != STORE_OK)
		return rc;
	if (pc != NULL)
		res = PQexecPrepared(c->db, pc->name, nv, values, NULL, NULL, 0);
	else
		res = PQexecParams(c->db, sql, nv, types, values, NULL, NULL, 0);
	if ((rc = pg_result_rc(st, res, "query")) != STORE_OK) {
		PQclear(res);
		return rc;
	}
	nrows = PQntuples(res);
	ncols = PQnfields(res);
	if (ncols > PG_MAXPARAMS) {
		PQclear(res);
		store_seterr(st, "postgres: too many columns");
		return STORE_EDB;
	}
	for (r = 0; fn != NULL && r < nrows; r++) {
		for (i = 0; i < ncols; i++)
			cols[i] = PQgetisnull(res, r, i) ? NULL :
			    PQgetvalue(res, r, i);
		if (fn(arg, cols, ncols) != 0)
			break;
	}
	if (changes != NULL) {
		const char *t = PQcmdTuples(res);

		*changes = t && *t ? strtoull(t, NULL, 10) : 0;
	}
	PQclear(res);
	return STORE_OK;
}

static int
pg_exec(struct store *st, const char *sql, const struct store_val *v, int nv,
    store_row_fn fn, void *arg, uint64_t *changes)
{
	struct pg_conn *c = st->conn;
	int rc;

	if ((rc = pg_ensure(st)) != STORE_OK)
		return rc;
	rc = pg_exec_once(st, sql, v, nv, fn, arg, changes);
	if (rc != STORE_OK && !c->in_tx && PQstatus(c->db) != CONNECTION_OK &&
	    pg_ensure(st) == STORE_OK)
		rc = pg_exec_once(st, sql, v, nv, fn, arg, changes);
	return rc;
}

static int
pg_simple(struct store *st, const char *sql)
{
	struct pg_conn *c = st->conn;
	PGresult *res;
	int rc;

	res = PQexec(c->db, sql);
	rc = pg_result_rc(st, res, sql);
	PQclear(res);
	return rc;
}

static int
pg_begin(struct store *st)
{
	struct pg_conn *c = st->conn;
	int rc;

	if ((rc = pg_ensure(st)) != STORE_OK)
		return rc;
	if ((rc = pg_simple(st, "BEGIN")) == STORE_OK)
		c->in_tx = 1;
	return rc;
}

static int
pg_commit(struct store *st)
{
	struct pg_conn *c = st->conn;
	int rc;

	rc = pg_simple(st, "COMMIT");
	c->in_tx = 0;
	return rc;
}

static void
pg_rollback(struct store *st)
{
	struct pg_conn *c = st->conn;

	if (c->in_tx && PQstatus(c->db) == CONNECTION_OK) {
		PGresult *res = PQexec(c->db, "ROLLBACK");

		PQclear(res);
	}
	c->in_tx = 0;
}

const struct store_backend store_backend_postgres = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.exec = pg_exec,
	.lock_row = " FOR UPDATE",
	/* Any constant works; this one is "cbox" in ASCII. */
	.migrate_lock = "SELECT pg_advisory_xact_lock(1667395448)",
	.migrations = pg_migrations,
	.nmigrations = (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])),
};
