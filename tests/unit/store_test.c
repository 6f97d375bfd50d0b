/*
 * store_test - the same store test cases against SQLite (a temporary file)
 * and a real PostgreSQL server.
 *
 * PostgreSQL: the test starts a throw-away cluster of Debian's postgresql
 * 15 (initdb in a temporary directory, pg_ctl start on a free loopback
 * port, its socket in the same directory; as root, both run as the user
 * postgres through runuser).  Each test case gets a fresh database.  A
 * watchdog process stops the cluster and removes the directory when the
 * test process ends for any reason (normal end, failed assertion, crash,
 * kill by the ctest timeout).  If the cluster cannot be started the test
 * FAILS, unless CLEANBOX_NO_PG=1 is set, which skips the PostgreSQL
 * cases visibly.  PG_BINDIR overrides /usr/lib/postgresql/15/bin.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testnet.h"

#include "store.h"
#include "suppress.h"

#define DEFAULT_PG_BINDIR	"/usr/lib/postgresql/15/bin"

static char tmpdir[256];
static char pg_bindir[256];
static int pg_port;
static int pg_up;
static int no_pg;
static int watchdog_fd = -1;
static pid_t watchdog_pid = -1;
static unsigned dbseq;

enum backend { BE_SQLITE, BE_PG };

struct fixture {
	enum backend be;
	char	path[512];	/* sqlite */
	char	dsn[512];	/* postgres */
	struct store_params params;
	struct store *st;
};

static struct fixture fx_sqlite = { .be = BE_SQLITE };
static struct fixture fx_pg = { .be = BE_PG };

/* ------------------------------------------------------------------ */
/* Running the PostgreSQL tools.                                       */

/*
 * Run argv (as postgres when we are root), output to tmpdir/cmd.log.
 * Returns the exit status, or -1.
 */
static int
run(char *const argv[])
{
	char logpath[512];
	const char *args[32];
	pid_t pid;
	int status, fd, i, n = 0;

	if (geteuid() == 0) {
		args[n++] = "runuser";
		args[n++] = "-u";
		args[n++] = "postgres";
		args[n++] = "--";
	}
	for (i = 0; argv[i] != NULL && n < 31; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	snprintf(logpath, sizeof(logpath), "%s/cmd.log", tmpdir);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
show_file(const char *name)
{
	char path[512], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "r")) == NULL)
		return;
	fprintf(stderr, "---- %s\n", path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}


static void
pg_stop_and_remove(void)
{
	char datadir[512], cmd[600], *stop[] = { NULL, "-D", datadir, "-m",
	    "fast", "-w", "-t", "30", "stop", NULL };
	char ctl[512];

	snprintf(ctl, sizeof(ctl), "%s/pg_ctl", pg_bindir);
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
	stop[0] = ctl;
	if (access(datadir, F_OK) == 0)
		(void)run(stop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "store_test: could not remove %s\n", tmpdir);
}

/*
 * A child that outlives us only long enough to clean up: it blocks on a
 * pipe whose write end only we hold; when we exit (however), read()
 * returns 0 and it stops the cluster and removes the directory.  It has
 * its own session, so a signal to our process group does not reach it.
 */
static int
start_watchdog(void)
{
	int p[2];
	char c;

	if (pipe(p) == -1)
		return -1;
	if ((watchdog_pid = fork()) == -1)
		return -1;
	if (watchdog_pid == 0) {
		close(p[1]);
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		pg_stop_and_remove();
		_exit(0);
	}
	close(p[0]);
	watchdog_fd = p[1];
	(void)fcntl(watchdog_fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static int
pg_start(void)
{
	char initdb[512], ctl[512], datadir[512], logf[512], opts[600];
	char *init_argv[] = { initdb, "-D", datadir, "-A", "trust", "-U",
	    "postgres", "-E", "UTF8", "--locale=C", "--no-sync", NULL };
	char *start_argv[] = { ctl, "-D", datadir, "-l", logf, "-w", "-t",
	    "60", "-o", opts, "start", NULL };
	struct passwd *pw;

	snprintf(initdb, sizeof(initdb), "%s/initdb", pg_bindir);
	snprintf(ctl, sizeof(ctl), "%s/pg_ctl", pg_bindir);
	snprintf(datadir, sizeof(datadir), "%s/data", tmpdir);
	snprintf(logf, sizeof(logf), "%s/postgres.log", tmpdir);
	if (access(initdb, X_OK) != 0) {
		fprintf(stderr, "store_test: %s: %s (install Debian's "
		    "postgresql, or set CLEANBOX_NO_PG=1 to skip)\n", initdb,
		    strerror(errno));
		return -1;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam("postgres")) == NULL) {
			fprintf(stderr, "store_test: no user postgres\n");
			return -1;
		}
		if (chown(tmpdir, pw->pw_uid, pw->pw_gid) == -1) {
			fprintf(stderr, "store_test: chown %s: %s\n", tmpdir,
			    strerror(errno));
			return -1;
		}
	}
	if ((pg_port = testnet_free_port(SOCK_STREAM)) <= 0)
		return -1;
	/* fsync off: a throw-away cluster need not survive power loss. */
	snprintf(opts, sizeof(opts), "-p %d -k %s -c listen_addresses=127.0.0.1 "
	    "-c fsync=off -c max_connections=50", pg_port, tmpdir);
	if (start_watchdog() == -1)
		return -1;
	if (run(init_argv) != 0) {
		fprintf(stderr, "store_test: initdb failed\n");
		show_file("cmd.log");
		return -1;
	}
	if (run(start_argv) != 0) {
		fprintf(stderr, "store_test: pg_ctl start failed\n");
		show_file("cmd.log");
		show_file("postgres.log");
		return -1;
	}
	pg_up = 1;
	return 0;
}

static PGconn *
pg_admin(const char *dbname)
{
	char dsn[256];
	PGconn *c;

	snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=%s "
	    "user=postgres connect_timeout=10", pg_port, dbname);
	c = PQconnectdb(dsn);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", dsn, PQerrorMessage(c));
	return c;
}

static void
pg_admin_exec(const char *dbname, const char *sql)
{
	PGconn *c = pg_admin(dbname);
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static int
group_setup(void **state)
{
	const char *t = getenv("TMPDIR"), *b = getenv("PG_BINDIR");
	const char *np = getenv("CLEANBOX_NO_PG");

	(void)state;
	no_pg = np != NULL && strcmp(np, "1") == 0;
	snprintf(pg_bindir, sizeof(pg_bindir), "%s", b ? b : DEFAULT_PG_BINDIR);
	snprintf(tmpdir, sizeof(tmpdir), "%s/store_test.XXXXXX",
	    t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if (no_pg) {
		fprintf(stderr, "store_test: CLEANBOX_NO_PG=1: PostgreSQL "
		    "cases are skipped\n");
		return 0;
	}
	if (pg_start() == -1) {
		fprintf(stderr, "store_test: could not start PostgreSQL; set "
		    "CLEANBOX_NO_PG=1 to run without it\n");
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[300];
	int status;

	(void)state;
	if (watchdog_fd >= 0) {
		/* The watchdog stops the cluster and removes tmpdir. */
		close(watchdog_fd);
		watchdog_fd = -1;
		while (waitpid(watchdog_pid, &status, 0) == -1 &&
		    errno == EINTR)
			;
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Fixtures: a fresh database per test case.                           */

static int
fx_setup(void **state)
{
	struct fixture *f = *state;
	char err[512], sql[64];
	int rc;

	f->st = NULL;
	memset(&f->params, 0, sizeof(f->params));
	dbseq++;
	if (f->be == BE_SQLITE) {
		snprintf(f->path, sizeof(f->path), "%s/state%u.db", tmpdir,
		    dbseq);
		f->params.kind = STORE_SQLITE;
		f->params.path = f->path;
	} else {
		if (no_pg)
			return 0;
		snprintf(sql, sizeof(sql), "CREATE DATABASE t%u", dbseq);
		pg_admin_exec("postgres", sql);
		snprintf(f->dsn, sizeof(f->dsn), "host=127.0.0.1 port=%d "
		    "dbname=t%u user=postgres", pg_port, dbseq);
		f->params.kind = STORE_POSTGRES;
		f->params.dsn = f->dsn;
	}
	rc = store_open(&f->params, &f->st, err, sizeof(err));
	if (rc != STORE_OK) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	f->st = NULL;
	return 0;
}

static struct fixture *
fx(void **state)
{
	struct fixture *f = *state;

	if (f->be == BE_PG && no_pg)
		skip();
	assert_non_null(f->st);
	return f;
}

/* A second handle on the fixture's database. */
static struct store *
fx_open2(struct fixture *f)
{
	struct store *st = NULL;
	char err[512];

	if (store_open(&f->params, &st, err, sizeof(err)) != STORE_OK)
		fail_msg("second open: %s", err);
	return st;
}

static void
fx_raw_sql(struct fixture *f, const char *sql)
{
	if (f->be == BE_SQLITE) {
		sqlite3 *db;
		char *msg = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
			fail_msg("%s: %s", sql, msg);
		sqlite3_close(db);
	} else {
		char name[32];

		snprintf(name, sizeof(name), "t%u", dbseq);
		pg_admin_exec(name, sql);
	}
}

static void
row_init(struct store_supp *r, const char *dest)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dest, sizeof(r->dest), "%s", dest);
}

/* ------------------------------------------------------------------ */
/* The cases.                                                          */

static void
test_open_and_migrate(void **state)
{
	struct fixture *f = fx(state);
	struct store *st2;
	char err[512];

	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_string_equal(store_backend_name(f->st),
	    f->be == BE_SQLITE ? "sqlite" : "postgres");
	/* Opening again migrates nothing and changes nothing. */
	st2 = fx_open2(f);
	assert_int_equal(store_schema_version(st2), STORE_SCHEMA_VERSION);
	store_close(st2);
	/* One row per version, not one per open. */
	fx_raw_sql(f, "DELETE FROM schema_version WHERE version = 1");
	st2 = fx_open2(f);
	assert_int_equal(store_schema_version(st2), STORE_SCHEMA_VERSION);
	store_close(st2);
	/* A database from a newer relay is refused, with a reason. */
	fx_raw_sql(f, "INSERT INTO schema_version (version) VALUES (99)");
	assert_int_equal(store_open(&f->params, &st2, err, sizeof(err)),
	    STORE_ESCHEMA);
	assert_null(st2);
	assert_non_null(strstr(err, "newer"));
	if (f->be == BE_SQLITE) {
		/* WAL mode, as promised. */
		sqlite3 *db;
		sqlite3_stmt *s;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode",
		    -1, &s, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(s, 0),
		    "wal");
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
}

static void
test_open_errors(void **state)
{
	struct fixture *f = fx(state);
	struct store_params p;
	struct store *st = (struct store *)1;
	char err[512];

	memset(&p, 0, sizeof(p));
	if (f->be == BE_SQLITE) {
		p.kind = STORE_SQLITE;
		p.path = "/nonexistent-dir/x/state.db";
		assert_int_equal(store_open(&p, &st, err, sizeof(err)),
		    STORE_EDB);
		assert_non_null(strstr(err, "/nonexistent-dir/x/state.db"));
		p.path = "";
		assert_int_equal(store_open(&p, &st, err, sizeof(err)),
		    STORE_ECONFIG);
	} else {
		char dsn[128];

		p.kind = STORE_POSTGRES;
		snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=nosuchdb "
		    "user=postgres", pg_port);
		p.dsn = dsn;
		assert_int_equal(store_open(&p, &st, err, sizeof(err)),
		    STORE_EDB);
		assert_non_null(strstr(err, "nosuchdb"));
		p.dsn = "";
		assert_int_equal(store_open(&p, &st, err, sizeof(err)),
		    STORE_ECONFIG);
	}
	assert_null(st);
}

static void
test_supp_roundtrip(void **state)
{
	struct fixture *f = fx(state);
	struct store_supp r, g;

	row_init(&r, "alice@example.net");
	r.suppressed = true;
	snprintf(r.reason, sizeof(r.reason), "userunknown");
	snprintf(r.status, sizeof(r.status), "5.1.1");
	r.reply = 550;
	snprintf(r.text, sizeof(r.text), "No such user here");
	r.first_time = 1700000000;
	r.last_time = 1700000500;
	r.count = 3;
	r.hard = true;
	snprintf(r.source, sizeof(r.source), "in-session");
	r.since = 1700000500;
	r.expires_at = 4102444800LL;	/* 2100: needs 64 bits */
	assert_int_equal(store_supp_put(f->st, &r), STORE_OK);
	assert_int_equal(store_supp_get(f->st, "alice@example.net", &g),
	    STORE_OK);
	assert_memory_equal(&r, &g, sizeof(r));

	/* Replace. */
	r.count = 4;
	r.suppressed = false;
	assert_int_equal(store_supp_put(f->st, &r), STORE_OK);
	assert_int_equal(store_supp_get(f->st, "alice@example.net", &g),
	    STORE_OK);
	assert_int_equal(g.count, 4);
	assert_false(g.suppressed);

	assert_int_equal(store_supp_get(f->st, "nobody@example.net", &g),
	    STORE_NOTFOUND);
	assert_string_equal(g.dest, "");
	assert_int_equal(store_supp_delete(f->st, "alice@example.net"),
	    STORE_OK);
	assert_int_equal(store_supp_delete(f->st, "alice@example.net"),
	    STORE_NOTFOUND);
	assert_int_equal(store_supp_get(f->st, "alice@example.net", &g),
	    STORE_NOTFOUND);
}

static void
test_text_and_keys(void **state)
{
	struct fixture *f = fx(state);
	struct store_supp r, g;
	char big[STORE_DEST_MAX + 10];

	/* Keys: UTF-8 fine; empty, controls, bad UTF-8, too long refused. */
	row_init(&r, "\xc3\xa9l\xc3\xa8ve@\xc3\xa9" "cole.example");
	assert_int_equal(store_supp_put(f->st, &r), STORE_OK);
	assert_int_equal(store_supp_get(f->st, r.dest, &g), STORE_OK);
	assert_string_equal(g.dest, r.dest);
	assert_int_equal(store_supp_get(f->st, "", &g), STORE_EINVAL);
	assert_int_equal(store_supp_get(f->st, "a\nb@x", &g), STORE_EINVAL);
	assert_int_equal(store_supp_get(f->st, "a\xff@x", &g), STORE_EINVAL);
	assert_int_equal(store_supp_get(f->st, "a\xc0\xaf@x", &g),
	    STORE_EINVAL);		/* overlong '/' */
	assert_int_equal(store_supp_get(f->st, "a\xed\xa0\x80@x", &g),
	    STORE_EINVAL);		/* a surrogate */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_supp_get(f->st, big, &g), STORE_EINVAL);
	row_init(&r, "a\rb@x");
	assert_int_equal(store_supp_put(f->st, &r), STORE_EINVAL);
	assert_int_equal(store_supp_delete(f->st, "\x01"), STORE_EINVAL);

	/* Free text: controls and bad UTF-8 become '?', the rest is kept. */
	row_init(&r, "bob@example.net");
	snprintf(r.text, sizeof(r.text), "line1\r\nline2\x01 \xff\xfe "
	    "caf\xc3\xa9 ' ; DROP TABLE suppression; --");
	snprintf(r.reason, sizeof(r.reason), "x\ty");
	assert_int_equal(store_supp_put(f->st, &r), STORE_OK);
	assert_int_equal(store_supp_get(f->st, "bob@example.net", &g),
	    STORE_OK);
	assert_string_equal(g.text, "line1??line2? ?? caf\xc3\xa9 ' ; DROP "
	    "TABLE suppression; --");
	assert_string_equal(g.reason, "x?y");
	/* Still there: parameters, not string pasting. */
	assert_int_equal(store_supp_get(f->st, r.dest, &g), STORE_OK);
}

struct upd_arg {
	int	calls;
	int	saw_exists;
	unsigned saw_count;
	enum store_update what;
};

static enum store_update
upd_incr(struct store_supp *row, bool exists, void *arg)
{
	struct upd_arg *a = arg;

	a->calls++;
	a->saw_exists = exists;
	a->saw_count = row->count;
	if (a->what == STORE_UPD_PUT) {
		row->count++;
		snprintf(row->reason, sizeof(row->reason), "mailboxfull");
		/* Trying to move the row elsewhere has no effect. */
		snprintf(row->dest, sizeof(row->dest), "elsewhere@x");
	}
	return a->what;
}

static int
ev_count_cb(const struct store_event *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int
events_of(struct store *st, const char *dest)
{
	struct store_event_filter ef;
	int n = 0;

	memset(&ef, 0, sizeof(ef));
	ef.dest = dest;
	assert_int_equal(store_event_scan(st, &ef, ev_count_cb, &n), STORE_OK);
	return n;
}

static void
test_supp_update(void **state)
{
	struct fixture *f = fx(state);
	struct upd_arg a;
	struct store_supp g;
	struct store_event ev;
	const char *d = "carol@example.net";

	memset(&ev, 0, sizeof(ev));
	ev.time = 1000;
	snprintf(ev.dest, sizeof(ev.dest), "%s", d);
	snprintf(ev.reason, sizeof(ev.reason), "mailboxfull");

	/* KEEP on a missing row: nothing written, but the event is. */
	memset(&a, 0, sizeof(a));
	a.what = STORE_UPD_KEEP;
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, &ev),
	    STORE_OK);
	assert_int_equal(a.calls, 1);
	assert_false(a.saw_exists);
	assert_int_equal(store_supp_get(f->st, d, &g), STORE_NOTFOUND);
	assert_int_equal(events_of(f->st, d), 1);

	/* PUT creates, then updates what it finds. */
	a.what = STORE_UPD_PUT;
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, NULL),
	    STORE_OK);
	assert_false(a.saw_exists);
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, &ev),
	    STORE_OK);
	assert_true(a.saw_exists);
	assert_int_equal(a.saw_count, 1);
	assert_int_equal(store_supp_get(f->st, d, &g), STORE_OK);
	assert_int_equal(g.count, 2);
	assert_string_equal(g.reason, "mailboxfull");
	assert_int_equal(store_supp_get(f->st, "elsewhere@x", &g),
	    STORE_NOTFOUND);
	assert_int_equal(events_of(f->st, d), 2);

	/* DELETE. */
	a.what = STORE_UPD_DELETE;
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, NULL),
	    STORE_OK);
	assert_int_equal(store_supp_get(f->st, d, &g), STORE_NOTFOUND);
	/* DELETE of nothing is fine too. */
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, NULL),
	    STORE_OK);

	/* A bad event key refuses the whole update. */
	snprintf(ev.dest, sizeof(ev.dest), "bad\x01");
	a.what = STORE_UPD_PUT;
	a.calls = 0;
	assert_int_equal(store_supp_update(f->st, d, upd_incr, &a, &ev),
	    STORE_EINVAL);
	assert_int_equal(a.calls, 0);
	assert_int_equal(store_supp_get(f->st, d, &g), STORE_NOTFOUND);
}

struct names {
	char	list[16][64];
	int	n;
};

static int
names_cb(const struct store_supp *r, void *arg)
{
	struct names *nm = arg;

	if (nm->n < 16)
		snprintf(nm->list[nm->n++], 64, "%.63s", r->dest);
	return 0;
}

static int
names_stop_cb(const struct store_supp *r, void *arg)
{
	names_cb(r, arg);
	return 1;
}

static void
put_row(struct store *st, const char *dest, bool suppressed,
    int64_t expires_at, int64_t last_time)
{
	struct store_supp r;

	row_init(&r, dest);
	r.suppressed = suppressed;
	r.expires_at = expires_at;
	r.last_time = last_time;
	r.since = suppressed ? 500 : 0;
	assert_int_equal(store_supp_put(st, &r), STORE_OK);
}

static void
test_supp_list_count_expire(void **state)
{
	struct fixture *f = fx(state);
	struct store_supp_filter sf;
	struct names nm;
	uint64_t n;

	put_row(f->st, "d@x.test", true, 0, 100);
	put_row(f->st, "a@x.test", true, 2000, 100);	/* expires at 2000 */
	put_row(f->st, "c@x.test", false, 0, 100);	/* counting only */
	put_row(f->st, "b%_@y.test", true, 0, 100);
	put_row(f->st, "bz@y.test", true, 0, 5000);

	memset(&sf, 0, sizeof(sf));
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 5);
	assert_string_equal(nm.list[0], "a@x.test");
	assert_string_equal(nm.list[1], "b%_@y.test");
	assert_string_equal(nm.list[2], "bz@y.test");
	assert_string_equal(nm.list[3], "c@x.test");
	assert_string_equal(nm.list[4], "d@x.test");

	/* Suppressed only; with a time, the expired one goes too. */
	sf.suppressed_only = true;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 4);
	sf.now = 2000;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 3);
	assert_string_equal(nm.list[0], "b%_@y.test");

	/* A prefix is literal: % and _ match only themselves. */
	sf.dest_prefix = "b%_";
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.list[0], "b%_@y.test");
	sf.dest_prefix = "b";
	sf.limit = 1;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 1);
	/* A callback can stop the walk. */
	memset(&sf, 0, sizeof(sf));
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_stop_cb, &nm),
	    STORE_OK);
	assert_int_equal(nm.n, 1);

	assert_int_equal(store_supp_count(f->st, 0, &n), STORE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(store_supp_count(f->st, 1999, &n), STORE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(store_supp_count(f->st, 2000, &n), STORE_OK);
	assert_int_equal(n, 3);

	/* Expire: the expired suppression, then counters older than 200. */
	assert_int_equal(store_supp_expire(f->st, 1999, 0, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_supp_expire(f->st, 2000, 0, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_supp_expire(f->st, 2000, 200, &n), STORE_OK);
	assert_int_equal(n, 1);		/* c@x.test; suppressed ones stay */
	memset(&sf, 0, sizeof(sf));
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_supp_list(f->st, &sf, names_cb, &nm), STORE_OK);
	assert_int_equal(nm.n, 3);
	assert_int_equal(store_supp_expire(f->st, 2000, 0, NULL), STORE_OK);
}

static void
add_event(struct store *st, int64_t t, const char *dest, const char *domain,
    const char *reason, bool hard, const char *source)
{
	struct store_event e;

	memset(&e, 0, sizeof(e));
	e.time = t;
	snprintf(e.dest, sizeof(e.dest), "%s", dest);
	snprintf(e.domain, sizeof(e.domain), "%s", domain);
	snprintf(e.rcpt, sizeof(e.rcpt), "rcpt@hosted.test");
	snprintf(e.status, sizeof(e.status), hard ? "5.1.1" : "4.2.2");
	e.reply = hard ? 550 : 452;
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	e.hard = hard;
	snprintf(e.source, sizeof(e.source), "%s", source);
	snprintf(e.text, sizeof(e.text), "text of %s at %" PRId64, dest, t);
	assert_int_equal(store_event_add(st, &e), STORE_OK);
}

struct evlist {
	struct store_event ev[8];
	int	n;
};

static int
evlist_cb(const struct store_event *e, void *arg)
{
	struct evlist *l = arg;

	if (l->n < 8)
		l->ev[l->n++] = *e;
	return 0;
}

struct counts {
	char	key[8][64];
	uint64_t n[8];
	int	len;
};

static int
counts_cb(const char *key, uint64_t n, void *arg)
{
	struct counts *c = arg;

	if (c->len < 8) {
		snprintf(c->key[c->len], 64, "%.63s", key);
		c->n[c->len++] = n;
	}
	return 0;
}

static void
get_counts(struct store *st, enum store_group by, int64_t since,
    size_t limit, struct counts *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_event_count(st, by, since, limit, counts_cb, c),
	    STORE_OK);
}

static void
test_events(void **state)
{
	struct fixture *f = fx(state);
	struct store_event_filter ef;
	struct evlist l;
	struct counts c;
	uint64_t n;

	add_event(f->st, 100, "a@one.test", "one.test", "userunknown", true,
	    "in-session");
	add_event(f->st, 200, "b@one.test", "one.test", "mailboxfull", false,
	    "retry");
	add_event(f->st, 300, "b@one.test", "one.test", "mailboxfull", false,
	    "retry");
	add_event(f->st, 400, "c@two.test", "two.test", "blocked", false,
	    "returned-bounce");
	add_event(f->st, 400, "b@one.test", "one.test", "mailboxfull", false,
	    "retry");

	memset(&ef, 0, sizeof(ef));
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_event_scan(f->st, &ef, evlist_cb, &l), STORE_OK);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.ev[0].time, 100);
	assert_string_equal(l.ev[0].dest, "a@one.test");
	assert_string_equal(l.ev[0].domain, "one.test");
	assert_string_equal(l.ev[0].rcpt, "rcpt@hosted.test");
	assert_string_equal(l.ev[0].status, "5.1.1");
	assert_int_equal(l.ev[0].reply, 550);
	assert_string_equal(l.ev[0].reason, "userunknown");
	assert_true(l.ev[0].hard);
	assert_string_equal(l.ev[0].source, "in-session");
	assert_string_equal(l.ev[0].text, "text of a@one.test at 100");
	assert_true(l.ev[0].id > 0);
	assert_true(l.ev[1].id > l.ev[0].id);
	/* Same second: insertion order. */
	assert_string_equal(l.ev[3].dest, "c@two.test");
	assert_string_equal(l.ev[4].dest, "b@one.test");

	/* Since, dest, newest first with a limit. */
	ef.since = 300;
	ef.dest = "b@one.test";
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_event_scan(f->st, &ef, evlist_cb, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	ef.since = 0;
	ef.limit = 2;
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_event_scan(f->st, &ef, evlist_cb, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.ev[0].time, 400);
	assert_int_equal(l.ev[1].time, 300);

	/* Grouped counts, largest first, ties by key. */
	get_counts(f->st, STORE_GROUP_REASON, 0, 0, &c);
	assert_int_equal(c.len, 3);
	assert_string_equal(c.key[0], "mailboxfull");
	assert_int_equal(c.n[0], 3);
	assert_string_equal(c.key[1], "blocked");
	assert_string_equal(c.key[2], "userunknown");
	get_counts(f->st, STORE_GROUP_DOMAIN, 0, 0, &c);
	assert_int_equal(c.len, 2);
	assert_string_equal(c.key[0], "one.test");
	assert_int_equal(c.n[0], 4);
	get_counts(f->st, STORE_GROUP_HARD, 0, 0, &c);
	assert_int_equal(c.len, 2);
	assert_string_equal(c.key[0], "soft");
	assert_int_equal(c.n[0], 4);
	assert_string_equal(c.key[1], "hard");
	assert_int_equal(c.n[1], 1);
	get_counts(f->st, STORE_GROUP_SOURCE, 250, 0, &c);
	assert_int_equal(c.len, 2);
	assert_string_equal(c.key[0], "retry");
	assert_int_equal(c.n[0], 2);
	get_counts(f->st, STORE_GROUP_REASON, 0, 1, &c);
	assert_int_equal(c.len, 1);
	/* Of destinations suppressed now only. */
	put_row(f->st, "b@one.test", true, 0, 400);
	put_row(f->st, "c@two.test", false, 0, 400);
	get_counts(f->st, STORE_GROUP_SUPPRESSED_DEST, 0, 0, &c);
	assert_int_equal(c.len, 1);
	assert_string_equal(c.key[0], "b@one.test");
	assert_int_equal(c.n[0], 3);
	assert_int_equal(store_event_count(f->st, (enum store_group)99, 0, 0,
	    counts_cb, &c), STORE_EINVAL);

	/* Prune. */
	assert_int_equal(store_event_prune(f->st, 300, &n), STORE_OK);
	assert_int_equal(n, 2);
	memset(&ef, 0, sizeof(ef));
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_event_scan(f->st, &ef, evlist_cb, &l), STORE_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ev[0].time, 300);
}

struct routes {
	char	text[512];
};

static int
routes_cb(const char *key, const char *value, void *arg)
{
	struct routes *r = arg;
	size_t len = strlen(r->text);

	snprintf(r->text + len, sizeof(r->text) - len, "%s=%s;", key, value);
	return 0;
}

static void
test_routes(void **state)
{
	struct fixture *f = fx(state);
	struct routes r;

	assert_int_equal(store_route_put(f->st, "bob@example.test",
	    "smtp://10.0.0.5:25"), STORE_OK);
	assert_int_equal(store_route_put(f->st, "*@example.test",
	    "maildir:/srv/mail/all"), STORE_OK);
	assert_int_equal(store_route_put(f->st, "bob@example.test",
	    "bob@elsewhere.test, maildir:/srv/bob"), STORE_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_route_list(f->st, routes_cb, &r), STORE_OK);
	assert_string_equal(r.text, "*@example.test=maildir:/srv/mail/all;"
	    "bob@example.test=bob@elsewhere.test, maildir:/srv/bob;");
	assert_int_equal(store_route_delete(f->st, "bob@example.test"),
	    STORE_OK);
	assert_int_equal(store_route_delete(f->st, "bob@example.test"),
	    STORE_NOTFOUND);
	assert_int_equal(store_route_put(f->st, "x@y", "a\nb"), STORE_EINVAL);
	memset(&r, 0, sizeof(r));
	assert_int_equal(store_route_list(f->st, routes_cb, &r), STORE_OK);
	assert_string_equal(r.text, "*@example.test=maildir:/srv/mail/all;");
}

/*
 * Two handles on one database see each other's suppressions: for
 * PostgreSQL these stand for two relay nodes behind two MX records.
 */
static void
test_two_handles(void **state)
{
	struct fixture *f = fx(state);
	struct store *b = fx_open2(f);
	struct suppress_policy p;
	struct suppress_outcome o;
	struct suppress_info info;
	enum suppress_effect eff;
	uint64_t n;
	char text[SUPPRESS_REPLY_MAX];

	suppress_policy_default(&p);
	memset(&o, 0, sizeof(o));
	o.dest = "gone@partner.example";
	o.rcpt = "alias@hosted.example";
	o.reply = 550;
	o.status = "5.1.1";
	o.reason = "userunknown";
	o.hard = 1;
	o.text = "5.1.1 <gone@partner.example>: Recipient address rejected";
	o.source = SUPPRESS_SRC_IN_SESSION;
	o.now = 1767355200;	/* 2026-01-02 12:00 UTC */
	/* Node A records a hard bounce ... */
	assert_int_equal(suppress_record(f->st, &p, &o, &eff), STORE_OK);
	assert_int_equal(eff, SUPPRESS_EFF_SUPPRESSED);
	/* ... node B refuses the next RCPT for it. */
	assert_int_equal(suppress_lookup(b, "gone@partner.example", o.now + 60,
	    &info), 1);
	assert_int_equal(info.since, o.now);
	assert_string_equal(info.status, "5.1.1");
	assert_string_equal(info.reason, "userunknown");
	assert_true(suppress_reply_text(&info, text, sizeof(text)) > 0);
	assert_string_equal(text, "destination suppressed since 2026-01-02 "
	    "12:00 UTC after 5.1.1 (userunknown)");
	/* B lifts it; A sees that. */
	assert_int_equal(suppress_remove(b, "gone@partner.example"), STORE_OK);
	assert_int_equal(suppress_lookup(f->st, "gone@partner.example",
	    o.now + 120, &info), 0);
	/* Soft failures from both nodes add up to one count. */
	o.dest = "full@partner.example";
	o.status = "4.2.2";
	o.reply = 452;
	o.reason = "mailboxfull";
	o.hard = 0;
	o.source = SUPPRESS_SRC_RETRY;
	for (int i = 0; i < 5; i++) {
		o.now = 1767355200 + (int64_t)i * 86400;
		assert_int_equal(suppress_record(i % 2 ? b : f->st, &p, &o,
		    &eff), STORE_OK);
		assert_int_equal(eff, i < 4 ? SUPPRESS_EFF_COUNTED :
		    SUPPRESS_EFF_SUPPRESSED);
	}
	assert_int_equal(suppress_lookup(f->st, "full@partner.example", o.now,
	    &info), 1);
	assert_int_equal(info.count, 5);
	assert_int_equal(store_supp_count(b, o.now, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(events_of(b, "full@partner.example"), 5);
	store_close(b);
}

/* Many writers, one row: every increment must land (no lost update). */
struct racer {
	struct fixture *f;
	struct store *shared;	/* NULL: open a handle of its own */
	int	n;
	int	fresh;		/* also create NFRESH rows together */
	int	failures;
	pthread_barrier_t *start;
};

#define NFRESH	60

static enum store_update
race_incr(struct store_supp *row, bool exists, void *arg)
{
	(void)exists;
	(void)arg;
	row->count++;
	return STORE_UPD_PUT;
}

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	struct store *st = r->shared;
	char err[512];
	int i;

	if (st == NULL && store_open(&r->f->params, &st, err, sizeof(err)) !=
	    STORE_OK) {
		fprintf(stderr, "racer open: %s\n", err);
		r->failures = r->n;
		pthread_barrier_wait(r->start);
		return NULL;
	}
	pthread_barrier_wait(r->start);
	for (i = 0; i < r->n; i++)
		if (store_supp_update(st, "race@example.test", race_incr, NULL,
		    NULL) != STORE_OK) {
			fprintf(stderr, "racer: %s\n", store_errmsg(st));
			r->failures++;
		}
	/*
	 * Rows that do not exist yet: every thread tries to create each one
	 * at about the same time (PostgreSQL: the unique-key race).
	 */
	for (i = 0; r->fresh && i < NFRESH; i++) {
		char key[64];

		snprintf(key, sizeof(key), "fresh%d@example.test", i);
		if (store_supp_update(st, key, race_incr, NULL, NULL) !=
		    STORE_OK) {
			fprintf(stderr, "racer: %s\n", store_errmsg(st));
			r->failures++;
		}
	}
	if (r->shared == NULL)
		store_close(st);
	return NULL;
}

static void
race(struct fixture *f, struct store *shared, unsigned want)
{
	enum { NTHREADS = 4, PER = 40 };
	struct racer r[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t start;
	struct store_supp g;
	char key[64];
	int i;

	assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		r[i].f = f;
		r[i].shared = shared;
		r[i].n = PER;
		r[i].fresh = want == 0;
		r[i].failures = 0;
		r[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]),
		    0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].failures, 0);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(store_supp_get(f->st, "race@example.test", &g),
	    STORE_OK);
	assert_int_equal(g.count, want + NTHREADS * PER);
	for (i = 0; want == 0 && i < NFRESH; i++) {
		snprintf(key, sizeof(key), "fresh%d@example.test", i);
		assert_int_equal(store_supp_get(f->st, key, &g), STORE_OK);
		assert_int_equal(g.count, NTHREADS);
	}
}

static void
test_concurrent_updates(void **state)
{
	struct fixture *f = fx(state);

	/* One handle per thread (separate connections), then a shared one. */
	race(f, NULL, 0);
	race(f, f->st, 160);
}

/*
 * Several nodes starting at once on a database nobody has migrated yet:
 * every open succeeds and each migration is applied once.
 */
struct opener {
	struct store_params *p;
	pthread_barrier_t *start;
	int	rc;
	char	err[512];
};

static void *
opener_main(void *arg)
{
	struct opener *o = arg;
	struct store *st = NULL;

	pthread_barrier_wait(o->start);
	o->rc = store_open(o->p, &st, o->err, sizeof(o->err));
	store_close(st);
	return NULL;
}

static int
num_cb(void *arg, int ncols, char **cols, char **names)
{
	(void)names;
	*(int *)arg = ncols > 0 && cols[0] ? atoi(cols[0]) : -1;
	return 0;
}

static void
test_concurrent_first_open(void **state)
{
	struct fixture *f = fx(state);
	enum { N = 4 };
	struct store_params p = f->params;
	struct opener o[N];
	pthread_t t[N];
	pthread_barrier_t start;
	char path[600], dsn[600], sql[64];
	int i, rows = -1;

	/* A database the fixture has not opened (so not migrated). */
	if (f->be == BE_SQLITE) {
		snprintf(path, sizeof(path), "%s.fresh", f->path);
		p.path = path;
	} else {
		snprintf(sql, sizeof(sql), "CREATE DATABASE f%u", dbseq);
		pg_admin_exec("postgres", sql);
		snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=f%u "
		    "user=postgres", pg_port, dbseq);
		p.dsn = dsn;
	}
	assert_int_equal(pthread_barrier_init(&start, NULL, N), 0);
	for (i = 0; i < N; i++) {
		o[i].p = &p;
		o[i].start = &start;
		o[i].rc = -99;
		o[i].err[0] = '\0';
		assert_int_equal(pthread_create(&t[i], NULL, opener_main, &o[i]),
		    0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (o[i].rc != STORE_OK)
			fail_msg("open %d: %s", i, o[i].err);
	}
	pthread_barrier_destroy(&start);
	/* One row per version. */
	if (f->be == BE_SQLITE) {
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM "
		    "schema_version", num_cb, &rows, NULL), SQLITE_OK);
		sqlite3_close(db);
	} else {
		char name[32];
		PGconn *c;
		PGresult *r;

		snprintf(name, sizeof(name), "f%u", dbseq);
		c = pg_admin(name);
		r = PQexec(c, "SELECT count(*) FROM schema_version");
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		rows = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	}
	assert_int_equal(rows, STORE_SCHEMA_VERSION);
}

/* PostgreSQL: a connection the server dropped is re-established. */
static void
test_reconnect(void **state)
{
	struct fixture *f = fx(state);
	struct store_supp g;
	char sql[256];

	if (f->be != BE_PG)
		skip();
	put_row(f->st, "keep@example.test", true, 0, 1);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = 't%u' AND pid <> "
	    "pg_backend_pid()", dbseq);
	pg_admin_exec("postgres", sql);
	usleep(100000);
	assert_int_equal(store_supp_get(f->st, "keep@example.test", &g),
	    STORE_OK);
	assert_true(g.suppressed);
	/* And the cached statements were prepared again on the new session. */
	assert_int_equal(store_supp_get(f->st, "keep@example.test", &g),
	    STORE_OK);
}

/* Each case twice, named after its backend. */
#define BOTH(fn)							\
	{ #fn " [sqlite]", fn, fx_setup, fx_teardown, &fx_sqlite },	\
	{ #fn " [postgres]", fn, fx_setup, fx_teardown, &fx_pg }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_open_and_migrate),
		BOTH(test_open_errors),
		BOTH(test_supp_roundtrip),
		BOTH(test_text_and_keys),
		BOTH(test_supp_update),
		BOTH(test_supp_list_count_expire),
		BOTH(test_events),
		BOTH(test_routes),
		BOTH(test_two_handles),
		BOTH(test_concurrent_updates),
		BOTH(test_concurrent_first_open),
		{ "test_reconnect [postgres]", test_reconnect, fx_setup,
		    fx_teardown, &fx_pg },
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
