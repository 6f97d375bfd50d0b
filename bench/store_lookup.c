/*
 * store_lookup - RCPT-time suppression lookups per second, through
 * suppress_lookup() (what the server calls for each RCPT), against a store
 * holding ENTRIES suppressed destinations.  Half the lookups hit a
 * suppressed destination, half miss.  Run by bench/store_lookup.sh, which
 * builds it and starts a throw-away PostgreSQL; by hand:
 *
 *   store_lookup sqlite PATH [ENTRIES [LOOKUPS [THREADS]]]
 *   store_lookup postgres DSN [ENTRIES [LOOKUPS [THREADS]]]
 *
 * The table is filled with bulk SQL (fast), not through the store API;
 * each thread opens its own store handle, as store.h advises.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "suppress.h"

struct worker {
	struct store_params *p;
	long	entries;
	long	lookups;
	unsigned seed;
	long	hits;
	int	failed;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
fill_sqlite(const char *path, long n)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	char key[64];
	long i;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_exec(db, "BEGIN; DELETE FROM suppression;", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "INSERT INTO suppression (dest, suppressed, "
	    "reason, status, reply, hard, source, since) VALUES (?1, 1, "
	    "'userunknown', '5.1.1', 550, 1, 'retry', 1767355200)", -1, &s,
	    NULL) != SQLITE_OK)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "user%ld@dom%ld.test", i, i % 1000);
		sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(s) != SQLITE_DONE)
			return -1;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	sqlite3_exec(db, "COMMIT; ANALYZE;", NULL, NULL, NULL);
	sqlite3_close(db);
	return 0;
}

static int
fill_pg(const char *dsn, long n)
{
	PGconn *c = PQconnectdb(dsn);
	PGresult *r;
	char sql[512];
	int ok;

	if (PQstatus(c) != CONNECTION_OK)
		return -1;
	snprintf(sql, sizeof(sql), "DELETE FROM suppression; INSERT INTO "
	    "suppression (dest, suppressed, reason, status, reply, hard, source, "
	    "since) SELECT 'user' || g || '@dom' || (g %% 1000) || '.test', 1, "
	    "'userunknown', '5.1.1', 550, 1, 'retry', 1767355200 FROM "
	    "generate_series(0, %ld) g; ANALYZE suppression;", n - 1);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "%s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct suppress_info info;
	struct store *st;
	char key[64], err[512];
	long i, k;
	int rc;

	if (store_open(w->p, &st, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "open: %s\n", err);
		w->failed = 1;
		return NULL;
	}
	for (i = 0; i < w->lookups; i++) {
		k = (long)(rand_r(&w->seed) % (unsigned)w->entries);
		/* Even: a suppressed entry; odd: an address never seen. */
		if (i % 2 == 0)
			snprintf(key, sizeof(key), "user%ld@dom%ld.test", k,
			    k % 1000);
		else
			snprintf(key, sizeof(key), "other%ld@dom%ld.test", k,
			    k % 1000);
		rc = suppress_lookup(st, key, 1767400000, &info);
		if (rc < 0) {
			fprintf(stderr, "lookup: %s\n", store_errmsg(st));
			w->failed = 1;
			break;
		}
		w->hits += rc;
	}
	store_close(st);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct store_params p;
	struct worker w[64];
	pthread_t t[64];
	struct store *st;
	char err[512];
	long entries, lookups, hits = 0;
	int threads, i, failed = 0;
	double t0, t1;

	if (argc < 3) {
		fprintf(stderr, "usage: %s sqlite PATH|postgres DSN [ENTRIES "
		    "[LOOKUPS [THREADS]]]\n", argv[0]);
		return 2;
	}
	entries = argc > 3 ? atol(argv[3]) : 1000000;
	lookups = argc > 4 ? atol(argv[4]) : 200000;
	threads = argc > 5 ? atoi(argv[5]) : 1;
	if (entries < 1 || lookups < 1 || threads < 1 || threads > 64)
		return 2;
	memset(&p, 0, sizeof(p));
	p.kind = strcmp(argv[1], "postgres") == 0 ? STORE_POSTGRES :
	    STORE_SQLITE;
	p.path = argv[2];
	p.dsn = argv[2];
	/* Create and migrate, then fill. */
	if (store_open(&p, &st, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	store_close(st);
	t0 = now_s();
	if ((p.kind == STORE_SQLITE ? fill_sqlite(argv[2], entries) :
	    fill_pg(argv[2], entries)) == -1) {
		fprintf(stderr, "fill failed\n");
		return 1;
	}
	fprintf(stderr, "%s: %ld entries written in %.1f s\n", argv[1], entries,
	    now_s() - t0);

	t0 = now_s();
	for (i = 0; i < threads; i++) {
		w[i].p = &p;
		w[i].entries = entries;
		w[i].lookups = lookups / threads;
		w[i].seed = 12345u + (unsigned)i;
		w[i].hits = 0;
		w[i].failed = 0;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		hits += w[i].hits;
		failed |= w[i].failed;
	}
	t1 = now_s();
	if (failed)
		return 1;
	printf("%s entries=%ld threads=%d lookups=%ld hits=%ld seconds=%.2f "
	    "lookups_per_second=%.0f\n", argv[1], entries, threads,
	    lookups / threads * threads, hits, t1 - t0,
	    (double)(lookups / threads * threads) / (t1 - t0));
	return 0;
}
