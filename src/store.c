/*
 * store - the front of the store: argument checks, text cleaning, the
 * handle's mutex, and dispatch to the backend's function table.  See
 * store.h for the contract and store_backend.h for the table.
 */
#include "store.h"
#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"
#include "store_backend.h"

const char *
store_strerror(int rc)
{
	switch (rc) {
	case STORE_OK:
		return "ok";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_EDB:
		return "database error";
	case STORE_ENOMEM:
		return "out of memory";
	case STORE_EINVAL:
		return "invalid argument";
	case STORE_ESCHEMA:
		return "database schema is newer than this program";
	case STORE_EBUSY:
		return "database busy";
	case STORE_ECONFIG:
		return "bad store configuration";
	}
	return "unknown store error";
}

void
store_seterr(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
	va_end(ap);
}

const char *
store_errmsg(struct store *st)
{
	return st->errmsg[0] ? st->errmsg : "no error";
}

const char *
store_backend_name(const struct store *st)
{
	return st->be->name;
}


static int
store_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* A key: not empty, fits, valid UTF-8, no control bytes. */
static int
store_key_ok(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i = 0, k;

	if (s == NULL || (n = strlen(s)) == 0 || n >= max)
		return 0;
	while (i < n) {
		if (store_ctrl(p[i]) || (k = utf8_seq_len(p + i, n - i)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* In place: control bytes and invalid UTF-8 become '?'. */
static void
store_text_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if (store_ctrl(p[i]) || (k = utf8_seq_len(p + i, n - i)) == 0) {
			p[i++] = '?';
			continue;
		}
		i += k;
	}
}

/* Copy src into a fixed field, cut at a UTF-8 boundary if too long. */
static void
store_field_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (dstsz == 0)
		return;
	if (n >= dstsz) {
		n = dstsz - 1;
		/* Do not cut a UTF-8 sequence in two. */
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The fixed fields are NUL-terminated and clean; the key is valid. */
static int
store_supp_clean(struct store_supp *r)
{
	r->reason[sizeof(r->reason) - 1] = '\0';
	r->status[sizeof(r->status) - 1] = '\0';
	r->text[sizeof(r->text) - 1] = '\0';
	r->source[sizeof(r->source) - 1] = '\0';
	r->dest[sizeof(r->dest) - 1] = '\0';
	store_text_clean(r->reason);
	store_text_clean(r->status);
	store_text_clean(r->text);
	store_text_clean(r->source);
	return store_key_ok(r->dest, sizeof(r->dest)) ? STORE_OK : STORE_EINVAL;
}

static int
store_event_clean(struct store_event *e)
{
	e->domain[sizeof(e->domain) - 1] = '\0';
	e->rcpt[sizeof(e->rcpt) - 1] = '\0';
	e->status[sizeof(e->status) - 1] = '\0';
	e->reason[sizeof(e->reason) - 1] = '\0';
	e->source[sizeof(e->source) - 1] = '\0';
	e->text[sizeof(e->text) - 1] = '\0';
	e->dest[sizeof(e->dest) - 1] = '\0';
	store_text_clean(e->domain);
	store_text_clean(e->rcpt);
	store_text_clean(e->status);
	store_text_clean(e->reason);
	store_text_clean(e->source);
	store_text_clean(e->text);
	return store_key_ok(e->dest, sizeof(e->dest)) ? STORE_OK : STORE_EINVAL;
}

static int store_migrate(struct store *st);

int
store_open(const struct store_params *p, struct store **out, char *err,
    size_t errlen)
{
	struct store *st;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		if (err != NULL)
			(void)snprintf(err, errlen, "out of memory");
		return STORE_ENOMEM;
	}
	switch (p->kind) {
	case STORE_SQLITE:
		st->be = &store_backend_sqlite;
		break;
	case STORE_POSTGRES:
		st->be = &store_backend_postgres;
		break;
	default:
		free(st);
		if (err != NULL)
			(void)snprintf(err, errlen, "unknown store backend");
		return STORE_ECONFIG;
	}
	if ((rc = pthread_mutex_init(&st->mu, NULL)) != 0) {
		free(st);
		if (err != NULL)
			(void)snprintf(err, errlen, "mutex: %s", strerror(rc));
		return STORE_ENOMEM;
	}
	if ((rc = st->be->open(st, p)) != STORE_OK ||
	    (rc = store_migrate(st)) != STORE_OK) {
		if (err != NULL)
			(void)snprintf(err, errlen, "%s", st->errmsg[0] ?
			    st->errmsg : store_strerror(rc));
		st->be->close(st);
		pthread_mutex_destroy(&st->mu);
		free(st);
		return rc;
	}
	*out = st;
	return STORE_OK;
}

int
store_open_config(const struct config *cfg, struct store **out, char *err,
    size_t errlen)
{
	struct store_params p;

	memset(&p, 0, sizeof(p));
	p.kind = cfg->store_backend == CONFIG_STORE_POSTGRES ?
	    STORE_POSTGRES : STORE_SQLITE;
	p.path = cfg->store_path;
	p.dsn = cfg->store_dsn;
	return store_open(&p, out, err, errlen);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->be->close(st);
	pthread_mutex_destroy(&st->mu);
	free(st);
}


/* ------------------------------------------------------------------ */
/* Rows as text -> structs.                                            */

static int64_t
store_num(const char *s)
{
	long long v;
	char *end;

	if (s == NULL)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return 0;
	return (int64_t)v;
}

#define STORE_SUPP_COLS	"dest, suppressed, reason, status, reply, text, " \
	"first_time, last_time, count, hard, source, since, expires_at"
#define STORE_SUPP_NCOLS 13
#define STORE_EVENT_COLS "id, time, dest, domain, rcpt, status, reply, " \
	"reason, hard, source, text"
#define STORE_EVENT_NCOLS 11

static int
store_row_supp(const char *const *c, int n, struct store_supp *r)
{
	int64_t count;

	memset(r, 0, sizeof(*r));
	if (n != STORE_SUPP_NCOLS)
		return -1;
	store_field_copy(r->dest, sizeof(r->dest), c[0]);
	r->suppressed = store_num(c[1]) != 0;
	store_field_copy(r->reason, sizeof(r->reason), c[2]);
	store_field_copy(r->status, sizeof(r->status), c[3]);
	r->reply = (int)store_num(c[4]);
	store_field_copy(r->text, sizeof(r->text), c[5]);
	r->first_time = store_num(c[6]);
	r->last_time = store_num(c[7]);
	count = store_num(c[8]);
	r->count = count < 0 ? 0 : count > UINT32_MAX ? UINT32_MAX :
	    (unsigned)count;
	r->hard = store_num(c[9]) != 0;
	store_field_copy(r->source, sizeof(r->source), c[10]);
	r->since = store_num(c[11]);
	r->expires_at = store_num(c[12]);
	return 0;
}

static int
store_row_event(const char *const *c, int n, struct store_event *e)
{
	memset(e, 0, sizeof(*e));
	if (n != STORE_EVENT_NCOLS)
		return -1;
	e->id = store_num(c[0]);
	e->time = store_num(c[1]);
	store_field_copy(e->dest, sizeof(e->dest), c[2]);
	store_field_copy(e->domain, sizeof(e->domain), c[3]);
	store_field_copy(e->rcpt, sizeof(e->rcpt), c[4]);
	store_field_copy(e->status, sizeof(e->status), c[5]);
	e->reply = (int)store_num(c[6]);
	store_field_copy(e->reason, sizeof(e->reason), c[7]);
	e->hard = store_num(c[8]) != 0;
	store_field_copy(e->source, sizeof(e->source), c[9]);
	store_field_copy(e->text, sizeof(e->text), c[10]);
	return 0;
}

/* Row callback: the first row into a struct store_supp. */
struct store_one {
	struct store_supp *row;
	int	found;
};

static int
store_one_supp(void *arg, const char *const *cols, int ncols)
{
	struct store_one *o = arg;

	if (store_row_supp(cols, ncols, o->row) == 0)
		o->found = 1;
	return 1;	/* the key is unique: stop */
}

/* Row callback: the first column of the first row as a number. */
static int
store_one_num(void *arg, const char *const *cols, int ncols)
{
	*(int64_t *)arg = ncols > 0 ? store_num(cols[0]) : 0;
	return 1;
}

/* The 13 parameters of a suppression row, in STORE_SUPP_COLS order. */
static void
store_supp_params(const struct store_supp *r, struct store_val *v)
{
	v[0] = (struct store_val)SVT(r->dest);
	v[1] = (struct store_val)SVI(r->suppressed ? 1 : 0);
	v[2] = (struct store_val)SVT(r->reason);
	v[3] = (struct store_val)SVT(r->status);
	v[4] = (struct store_val)SVI(r->reply);
	v[5] = (struct store_val)SVT(r->text);
	v[6] = (struct store_val)SVI(r->first_time);
	v[7] = (struct store_val)SVI(r->last_time);
	v[8] = (struct store_val)SVI(r->count);
	v[9] = (struct store_val)SVI(r->hard ? 1 : 0);
	v[10] = (struct store_val)SVT(r->source);
	v[11] = (struct store_val)SVI(r->since);
	v[12] = (struct store_val)SVI(r->expires_at);
}

#define STORE_SUPP_VALUES "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, " \
	"$12, $13"
#define STORE_SUPP_SET "suppressed = $2, reason = $3, status = $4, " \
	"reply = $5, text = $6, first_time = $7, last_time = $8, " \
	"count = $9, hard = $10, source = $11, since = $12, expires_at = $13"

static const char store_sql_supp_get[] =
    "SELECT " STORE_SUPP_COLS " FROM suppression WHERE dest = $1";
static const char store_sql_supp_insert[] =
    "INSERT INTO suppression (" STORE_SUPP_COLS ") VALUES ("
    STORE_SUPP_VALUES ")";
static const char store_sql_supp_update[] =
    "UPDATE suppression SET " STORE_SUPP_SET " WHERE dest = $1";
static const char store_sql_supp_upsert[] =
    "INSERT INTO suppression (" STORE_SUPP_COLS ") VALUES ("
    STORE_SUPP_VALUES ") ON CONFLICT (dest) DO UPDATE SET "
    "suppressed = excluded.suppressed, reason = excluded.reason, "
    "status = excluded.status, reply = excluded.reply, "
    "text = excluded.text, first_time = excluded.first_time, "
    "last_time = excluded.last_time, count = excluded.count, "
    "hard = excluded.hard, source = excluded.source, "
    "since = excluded.since, expires_at = excluded.expires_at";
static const char store_sql_supp_delete[] =
    "DELETE FROM suppression WHERE dest = $1";
static const char store_sql_event_add[] =
    "INSERT INTO bounce_event (time, dest, domain, rcpt, status, reply, "
    "reason, hard, source, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10)";

/* ------------------------------------------------------------------ */
/* Migrations.                                                         */

static int
store_migrate(struct store *st)
{
	const struct store_backend *be = st->be;
	int64_t version = 0;
	int rc, i, k;

	if ((rc = be->begin(st)) != STORE_OK)
		return rc;
	if (be->migrate_lock != NULL &&
	    (rc = be->exec(st, be->migrate_lock, NULL, 0, NULL, NULL,
	    NULL)) != STORE_OK)
		goto fail;
	if ((rc = be->exec(st, "CREATE TABLE IF NOT EXISTS schema_version "
	    "(version INTEGER NOT NULL)", NULL, 0, NULL, NULL, NULL)) !=
	    STORE_OK)
		goto fail;
	if ((rc = be->exec(st, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_version", NULL, 0, store_one_num, &version, NULL)) !=
	    STORE_OK)
		goto fail;
	if (version > be->nmigrations) {
		store_seterr(st, "database schema version %lld is newer than "
		    "this program's (%d); upgrade the relay",
		    (long long)version, be->nmigrations);
		rc = STORE_ESCHEMA;
		goto fail;
	}
	for (i = (int)version; i < be->nmigrations; i++) {
		struct store_val v[1] = { SVI(i + 1) };

		for (k = 0; be->migrations[i][k] != NULL; k++)
			if ((rc = be->exec(st, be->migrations[i][k], NULL, 0,
			    NULL, NULL, NULL)) != STORE_OK)
				goto fail;
		if ((rc = be->exec(st, "INSERT INTO schema_version (version) "
		    "VALUES ($1)", v, 1, NULL, NULL, NULL)) != STORE_OK)
			goto fail;
	}
	return be->commit(st);
fail:
	be->rollback(st);
	return rc == STORE_ERETRY ? STORE_EDB : rc;
}

int
store_schema_version(struct store *st)
{
	int64_t v = 0;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = st->be->exec(st, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_version", NULL, 0, store_one_num, &v, NULL);
	pthread_mutex_unlock(&st->mu);
	return rc == STORE_OK ? (int)v : rc;
}

/* ------------------------------------------------------------------ */
/* Operations.                                                         */

/* Run one statement under the handle's mutex. */
static int
store_exec1(struct store *st, const char *sql, const struct store_val *v,
    int nv, store_row_fn fn, void *arg, uint64_t *changes)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	st->errmsg[0] = '\0';
	rc = st->be->exec(st, sql, v, nv, fn, arg, changes);
	pthread_mutex_unlock(&st->mu);
	return rc == STORE_ERETRY ? STORE_EDB : rc;
}

int
store_supp_get(struct store *st, const char *dest, struct store_supp *out)
{
	struct store_val v[1] = { SVT(dest) };
	struct store_one o = { out, 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (!store_key_ok(dest, STORE_DEST_MAX))
		return STORE_EINVAL;
	rc = store_exec1(st, store_sql_supp_get, v, 1, store_one_supp, &o,
	    NULL);
	if (rc != STORE_OK)
		return rc;
	return o.found ? STORE_OK : STORE_NOTFOUND;
}

static int
store_event_insert(struct store *st, const struct store_event *e)
{
	struct store_val v[10] = {
		SVI(e->time), SVT(e->dest), SVT(e->domain), SVT(e->rcpt),
		SVT(e->status), SVI(e->reply), SVT(e->reason),
		SVI(e->hard ? 1 : 0), SVT(e->source), SVT(e->text),
	};

	return st->be->exec(st, store_sql_event_add, v, 10, NULL, NULL, NULL);
}

/* One attempt at the read-modify-write; the caller holds the mutex. */
static int
store_update_once(struct store *st, const char *dest, store_supp_fn fn,
    void *arg, const struct store_event *ev, int *bad)
{
	const struct store_backend *be = st->be;
	struct store_supp *row;
	struct store_val kv[1] = { SVT(dest) }, v[STORE_SUPP_NCOLS];
	struct store_one o;
	char sql[sizeof(store_sql_supp_get) + 32];
	enum store_update u;
	int rc, n;

	if ((row = malloc(sizeof(*row))) == NULL)
		return STORE_ENOMEM;
	n = snprintf(sql, sizeof(sql), "%s%s", store_sql_supp_get,
	    be->lock_row ? be->lock_row : "");
	if (n < 0 || (size_t)n >= sizeof(sql)) {
		free(row);
		return STORE_EINVAL;
	}
	o.row = row;
	o.found = 0;
	if ((rc = be->begin(st)) != STORE_OK) {
		free(row);
		return rc;
	}
	if ((rc = be->exec(st, sql, kv, 1, store_one_supp, &o, NULL)) !=
	    STORE_OK)
		goto fail;
	if (!o.found) {
		memset(row, 0, sizeof(*row));
		store_field_copy(row->dest, sizeof(row->dest), dest);
	}
	*bad = 0;
	u = fn(row, o.found != 0, arg);
	if (u == STORE_UPD_PUT) {
		/* The key is not the callback's to change. */
		store_field_copy(row->dest, sizeof(row->dest), dest);
		if (store_supp_clean(row) != STORE_OK) {
			*bad = 1;
			u = STORE_UPD_KEEP;
		}
	}
	switch (u) {
	case STORE_UPD_KEEP:
		rc = STORE_OK;
		break;
	case STORE_UPD_PUT:
		store_supp_params(row, v);
		rc = be->exec(st, o.found ? store_sql_supp_update :
		    store_sql_supp_insert, v, STORE_SUPP_NCOLS, NULL, NULL,
		    NULL);
		break;
	case STORE_UPD_DELETE:
		rc = o.found ? be->exec(st, store_sql_supp_delete, kv, 1, NULL,
		    NULL, NULL) : STORE_OK;
		break;
	}
	if (rc == STORE_OK && ev != NULL && !*bad)
		rc = store_event_insert(st, ev);
	if (rc != STORE_OK)
		goto fail;
	free(row);
	return be->commit(st);
fail:
	be->rollback(st);
	free(row);
	return rc;
}

/* Transactions that lost a race are run again, at most this often. */
#define STORE_RETRIES	10

int
store_supp_update(struct store *st, const char *dest, store_supp_fn fn,
    void *arg, const struct store_event *ev)
{
	struct store_event *e = NULL;
	int rc = STORE_EBUSY, bad = 0, i;

	if (!store_key_ok(dest, STORE_DEST_MAX))
		return STORE_EINVAL;
	if (ev != NULL) {
		if ((e = malloc(sizeof(*e))) == NULL)
			return STORE_ENOMEM;
		*e = *ev;
		if (store_event_clean(e) != STORE_OK) {
			free(e);
			return STORE_EINVAL;
		}
	}
	pthread_mutex_lock(&st->mu);
	for (i = 0; i < STORE_RETRIES; i++) {
		st->errmsg[0] = '\0';
		rc = store_update_once(st, dest, fn, arg, e, &bad);
		if (rc != STORE_ERETRY)
			break;
	}
	if (rc == STORE_ERETRY) {
		store_seterr(st, "%s: lost %d races in a row", dest, i);
		rc = STORE_EBUSY;
	}
	pthread_mutex_unlock(&st->mu);
	free(e);
	if (rc == STORE_OK && bad)
		rc = STORE_EINVAL;
	return rc;
}

int
store_supp_put(struct store *st, const struct store_supp *row)
{
	struct store_val v[STORE_SUPP_NCOLS];
	struct store_supp *r;
	int rc;

	if ((r = malloc(sizeof(*r))) == NULL)
		return STORE_ENOMEM;
	*r = *row;
	if (store_supp_clean(r) != STORE_OK) {
		free(r);
		return STORE_EINVAL;
	}
	store_supp_params(r, v);
	rc = store_exec1(st, store_sql_supp_upsert, v, STORE_SUPP_NCOLS, NULL,
	    NULL, NULL);
	free(r);
	return rc;
}

int
store_supp_delete(struct store *st, const char *dest)
{
	struct store_val v[1] = { SVT(dest) };
	uint64_t n = 0;
	int rc;

	if (!store_key_ok(dest, STORE_DEST_MAX))
		return STORE_EINVAL;
	rc = store_exec1(st, store_sql_supp_delete, v, 1, NULL, NULL, &n);
	return rc != STORE_OK ? rc : n ? STORE_OK : STORE_NOTFOUND;
}

/* Row callback: each row to the caller's store_supp_cb. */
struct store_walk {
	store_supp_cb	 supp_cb;
	store_event_cb	 event_cb;
	store_count_cb	 count_cb;
	store_route_cb	 route_cb;
	void		*arg;
	union {
		struct store_supp supp;
		struct store_event event;
	} u;
};

static int
store_walk_supp(void *arg, const char *const *cols, int ncols)
{
	struct store_walk *w = arg;

	if (store_row_supp(cols, ncols, &w->u.supp) != 0)
		return 1;
	return w->supp_cb(&w->u.supp, w->arg);
}

static int
store_walk_event(void *arg, const char *const *cols, int ncols)
{
	struct store_walk *w = arg;

	if (store_row_event(cols, ncols, &w->u.event) != 0)
		return 1;
	return w->event_cb(&w->u.event, w->arg);
}

static int
store_walk_count(void *arg, const char *const *cols, int ncols)
{
	struct store_walk *w = arg;
	int64_t n;

	if (ncols != 2)
		return 1;
	n = store_num(cols[1]);
	return w->count_cb(cols[0] ? cols[0] : "", n < 0 ? 0 : (uint64_t)n,
	    w->arg);
}

static int
store_walk_route(void *arg, const char *const *cols, int ncols)
{
	struct store_walk *w = arg;

	if (ncols != 2)
		return 1;
	return w->route_cb(cols[0] ? cols[0] : "", cols[1] ? cols[1] : "",
	    w->arg);
}

/* A LIKE pattern matching keys that start with prefix ('\' escapes). */
static char *
store_like_prefix(const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0, i, k = 0;
	char *p;

	if (n > STORE_DEST_MAX || (p = malloc(2 * n + 2)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (prefix[i] == '%' || prefix[i] == '_' || prefix[i] == '\\')
			p[k++] = '\\';
		p[k++] = prefix[i];
	}
	p[k++] = '%';
	p[k] = '\0';
	return p;
}

/* "No limit" as a LIMIT both engines take. */
static int64_t
store_limit(size_t limit)
{
	return limit == 0 || limit > (size_t)INT64_MAX ? INT64_MAX :
	    (int64_t)limit;
}

int
store_supp_list(struct store *st, const struct store_supp_filter *f,
    store_supp_cb cb, void *arg)
{
	struct store_walk *w;
	char *like;
	int rc;

	if (f->dest_prefix != NULL && f->dest_prefix[0] != '\0' &&
	    !store_key_ok(f->dest_prefix, STORE_DEST_MAX))
		return STORE_EINVAL;
	if ((like = store_like_prefix(f->dest_prefix)) == NULL)
		return STORE_ENOMEM;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(like);
		return STORE_ENOMEM;
	}
	w->supp_cb = cb;
	w->arg = arg;
	{
		struct store_val v[4] = {
			SVI(f->suppressed_only ? 1 : 0), SVI(f->now),
			SVT(like), SVI(store_limit(f->limit)),
		};

		rc = store_exec1(st, "SELECT " STORE_SUPP_COLS " FROM "
		    "suppression WHERE ($1 = 0 OR (suppressed = 1 AND "
		    "($2 = 0 OR expires_at = 0 OR expires_at > $2))) AND "
		    "dest LIKE $3 ESCAPE '\\' ORDER BY dest LIMIT $4", v, 4,
		    store_walk_supp, w, NULL);
	}
	free(w);
	free(like);
	return rc;
}

int
store_supp_count(struct store *st, int64_t now, uint64_t *n)
{
	struct store_val v[1] = { SVI(now) };
	int64_t c = 0;
	int rc;

	*n = 0;
	rc = store_exec1(st, "SELECT count(*) FROM suppression WHERE "
	    "suppressed = 1 AND ($1 = 0 OR expires_at = 0 OR expires_at > $1)",
	    v, 1, store_one_num, &c, NULL);
	if (rc == STORE_OK)
		*n = c < 0 ? 0 : (uint64_t)c;
	return rc;
}

int
store_supp_expire(struct store *st, int64_t now, int64_t stale_before,
    uint64_t *n)
{
	struct store_val v1[1] = { SVI(now) }, v2[1] = { SVI(stale_before) };
	uint64_t a = 0, b = 0;
	int rc;

	if (n != NULL)
		*n = 0;
	rc = store_exec1(st, "DELETE FROM suppression WHERE suppressed = 1 AND "
	    "expires_at <> 0 AND expires_at <= $1", v1, 1, NULL, NULL, &a);
	if (rc == STORE_OK && stale_before > 0)
		rc = store_exec1(st, "DELETE FROM suppression WHERE "
		    "suppressed = 0 AND last_time < $1", v2, 1, NULL, NULL, &b);
	if (n != NULL)
		*n = a + b;
	return rc;
}

int
store_event_add(struct store *st, const struct store_event *ev)
{
	struct store_event *e;
	int rc;

	if ((e = malloc(sizeof(*e))) == NULL)
		return STORE_ENOMEM;
	*e = *ev;
	if (store_event_clean(e) != STORE_OK) {
		free(e);
		return STORE_EINVAL;
	}
	pthread_mutex_lock(&st->mu);
	st->errmsg[0] = '\0';
	rc = store_event_insert(st, e);
	pthread_mutex_unlock(&st->mu);
	free(e);
	return rc == STORE_ERETRY ? STORE_EDB : rc;
}

int
store_event_scan(struct store *st, const struct store_event_filter *f,
    store_event_cb cb, void *arg)
{
	struct store_val v[3] = {
		SVI(f->since), SVT(f->dest ? f->dest : ""),
		SVI(store_limit(f->limit)),
	};
	struct store_walk *w;
	int rc;

	if (f->dest != NULL && !store_key_ok(f->dest, STORE_DEST_MAX))
		return STORE_EINVAL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return STORE_ENOMEM;
	w->event_cb = cb;
	w->arg = arg;
	if (f->limit == 0)
		rc = store_exec1(st, "SELECT " STORE_EVENT_COLS " FROM "
		    "bounce_event WHERE time >= $1 AND ($2 = '' OR dest = $2) "
		    "ORDER BY time, id", v, 2, store_walk_event, w, NULL);
	else
		rc = store_exec1(st, "SELECT " STORE_EVENT_COLS " FROM "
		    "bounce_event WHERE time >= $1 AND ($2 = '' OR dest = $2) "
		    "ORDER BY time DESC, id DESC LIMIT $3", v, 3,
		    store_walk_event, w, NULL);
	free(w);
	return rc;
}

int
store_event_prune(struct store *st, int64_t before, uint64_t *n)
{
	struct store_val v[1] = { SVI(before) };
	uint64_t dummy;

	if (n == NULL)
		n = &dummy;
	*n = 0;
	return store_exec1(st, "DELETE FROM bounce_event WHERE time < $1", v,
	    1, NULL, NULL, n);
}

int
store_event_count(struct store *st, enum store_group by, int64_t since,
    size_t limit, store_count_cb cb, void *arg)
{
	struct store_val v[2] = { SVI(since), SVI(store_limit(limit)) };
	struct store_walk w;
	const char *key;
	char sql[512];
	int n;

	switch (by) {
	case STORE_GROUP_REASON:
		key = "reason";
		break;
	case STORE_GROUP_DOMAIN:
		key = "domain";
		break;
	case STORE_GROUP_SOURCE:
		key = "source";
		break;
	case STORE_GROUP_HARD:
		key = "CASE WHEN hard <> 0 THEN 'hard' ELSE 'soft' END";
		break;
	case STORE_GROUP_SUPPRESSED_DEST:
		key = NULL;
		break;
	default:
		return STORE_EINVAL;
	}
	if (key != NULL)
		n = snprintf(sql, sizeof(sql), "SELECT %s AS k, count(*) AS n "
		    "FROM bounce_event WHERE time >= $1 GROUP BY k "
		    "ORDER BY n DESC, k LIMIT $2", key);
	else
		n = snprintf(sql, sizeof(sql), "SELECT e.dest AS k, count(*) AS "
		    "n FROM bounce_event e JOIN suppression s ON s.dest = e.dest "
		    "WHERE s.suppressed = 1 AND e.time >= $1 GROUP BY e.dest "
		    "ORDER BY n DESC, k LIMIT $2");
	if (n < 0 || (size_t)n >= sizeof(sql))
		return STORE_EINVAL;
	memset(&w, 0, sizeof(w));
	w.count_cb = cb;
	w.arg = arg;
	return store_exec1(st, sql, v, 2, store_walk_count, &w, NULL);
}

int
store_route_put(struct store *st, const char *key, const char *value)
{
	struct store_val v[2] = { SVT(key), SVT(value) };

	if (!store_key_ok(key, STORE_ADDR_MAX) || value == NULL ||
	    !store_key_ok(value, 65536))
		return STORE_EINVAL;
	return store_exec1(st, "INSERT INTO route (address, dests) VALUES "
	    "($1, $2) ON CONFLICT (address) DO UPDATE SET dests = "
	    "excluded.dests", v, 2, NULL, NULL, NULL);
}

int
store_route_delete(struct store *st, const char *key)
{
	struct store_val v[1] = { SVT(key) };
	uint64_t n = 0;
	int rc;

	if (!store_key_ok(key, STORE_ADDR_MAX))
		return STORE_EINVAL;
	rc = store_exec1(st, "DELETE FROM route WHERE address = $1", v, 1,
	    NULL, NULL, &n);
	return rc != STORE_OK ? rc : n ? STORE_OK : STORE_NOTFOUND;
}

int
store_route_list(struct store *st, store_route_cb cb, void *arg)
{
	struct store_walk *w;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return STORE_ENOMEM;
	w->route_cb = cb;
	w->arg = arg;
	rc = store_exec1(st, "SELECT address, dests FROM route ORDER BY "
	    "address", NULL, 0, store_walk_route, w, NULL);
	free(w);
	return rc;
}

struct store_rload {
	struct route_table *rt;
	char	*err;
	size_t	 errlen;
	int	 bad;
};

static int
store_rload_cb(const char *key, const char *value, void *arg)
{
	struct store_rload *l = arg;
	char why[512];

	if (route_table_add(l->rt, key, value, why, sizeof(why)) == -1) {
		if (l->err != NULL && l->errlen > 0)
			(void)snprintf(l->err, l->errlen, "route %s: %s", key,
			    why);
		l->bad = 1;
		return 1;
	}
	return 0;
}

int
store_routes_load(struct store *st, struct route_table *rt, char *err,
    size_t errlen)
{
	struct store_rload l = { rt, err, errlen, 0 };
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	rc = store_route_list(st, store_rload_cb, &l);
	if (rc == STORE_OK && l.bad)
		return STORE_EINVAL;
	if (rc != STORE_OK && err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s", store_errmsg(st));
	return rc;
}
