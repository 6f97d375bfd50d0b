/*
 * maildir_test - maildir_deliver(): the file lands in new/ with the two
 * envelope headers, CRLF turned into LF and every other byte as sent,
 * tmp/ empty afterwards, unique names across threads, and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"

static char tmpdir[256];

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/maildir_test.XXXXXX",
	    t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Names of the regular entries in dir (not . and ..); returns count. */
static size_t
list(const char *dir, char names[][256], size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n < max)
			snprintf(names[n], 256, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

static void
assert_mode(const char *path, mode_t want)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, want);
}

static void
test_deliver(void **state)
{
	static const char msg[] =
	    "Subject: hi\r\n"
	    "From: a@example.test\r\n"
	    "\r\n"
	    "line one\r\n"
	    "bare\rcr and bare\nlf\r\n"
	    "..not unstuffed here\r\n"
	    "end";
	static const char want[] =
	    "Return-Path: <sender@example.net>\n"
	    "Delivered-To: alice@example.test\n"
	    "Subject: hi\n"
	    "From: a@example.test\n"
	    "\n"
	    "line one\n"
	    "bare\rcr and bare\nlf\n"
	    "..not unstuffed here\n"
	    "end";
	char dir[512], sub[1024], names[4][256], err[256] = "";
	char *got;
	size_t len;

	(void)state;
	/* Parents are created too. */
	snprintf(dir, sizeof(dir), "%s/mail/example.test/alice", tmpdir);
	assert_int_equal(maildir_deliver(dir, "sender@example.net",
	    "alice@example.test", msg, sizeof(msg) - 1, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	assert_int_equal(list(sub, names, 4), 0);
	assert_mode(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/cur", dir);
	assert_int_equal(list(sub, names, 4), 0);
	assert_mode(sub, 0700);
	assert_mode(dir, 0700);
	snprintf(sub, sizeof(sub), "%s/new", dir);
	assert_mode(sub, 0700);
	assert_int_equal(list(sub, names, 4), 1);
	/* SECONDS.M<usec>P<pid>Q<n>.HOST */
	assert_non_null(strstr(names[0], ".M"));
	assert_non_null(strchr(names[0], 'P'));
	assert_non_null(strchr(names[0], 'Q'));
	assert_null(strchr(names[0], '/'));
	assert_null(strchr(names[0], ':'));

	snprintf(sub, sizeof(sub), "%s/new/%s", dir, names[0]);
	assert_mode(sub, 0600);
	got = slurp(sub, &len);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(got, want, len);
	free(got);
}

/* Every byte value, CRLFs across the 64 KB write-buffer boundary. */
static void
test_byte_for_byte(void **state)
{
	static const char hdr[] = "Return-Path: <>\nDelivered-To: b@x.test\n";
	char dir[512], sub[1024], names[4][256], err[256];
	char *msg, *want, *got;
	size_t len = 300000, i, w, glen;

	(void)state;
	msg = malloc(len);
	want = malloc(sizeof(hdr) + len);
	assert_non_null(msg);
	assert_non_null(want);
	srand(7);
	for (i = 0; i < len; i++) {
		switch (rand() % 8) {
		case 0:
			msg[i] = '\r';
			break;
		case 1:
			msg[i] = '\n';
			break;
		default:
			msg[i] = (char)(rand() % 256);
		}
	}
	/* A CRLF straddling the first 64 KB of output, and one at the end. */
	msg[65535] = '\r';
	msg[65536] = '\n';
	msg[len - 2] = '\r';
	msg[len - 1] = '\n';
	/* The expected text, computed the obvious way. */
	memcpy(want, hdr, sizeof(hdr) - 1);
	w = sizeof(hdr) - 1;
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;
		want[w++] = msg[i];
	}

	snprintf(dir, sizeof(dir), "%s/bytes", tmpdir);
	assert_int_equal(maildir_deliver(dir, "", "b@x.test", msg, len, err,
	    sizeof(err)), 0);
	snprintf(sub, sizeof(sub), "%s/new", dir);
	assert_int_equal(list(sub, names, 4), 1);
	snprintf(sub, sizeof(sub), "%s/new/%s", dir, names[0]);
	got = slurp(sub, &glen);
	assert_int_equal(glen, w);
	assert_memory_equal(got, want, w);
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	assert_int_equal(list(sub, names, 4), 0);
	free(got);
	free(msg);
	free(want);
}

struct worker {
	const char *dir;
	int	 failures;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char err[256], to[64];
	int i;

	for (i = 0; i < 25; i++) {
		snprintf(to, sizeof(to), "u%d@x.test", i);
		if (maildir_deliver(w->dir, "s@x.test", to, "a\r\n", 3, err,
		    sizeof(err)) != 0)
			w->failures++;
	}
	return NULL;
}

/* Four threads, 100 messages, 100 distinct files. */
static void
test_threads(void **state)
{
	static char names[128][256];
	struct worker w[4];
	pthread_t t[4];
	char dir[512], sub[1024];
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/threads", tmpdir);
	for (i = 0; i < 4; i++) {
		w[i].dir = dir;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	snprintf(sub, sizeof(sub), "%s/new", dir);
	assert_int_equal(list(sub, names, 128), 100);
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	assert_int_equal(list(sub, names, 128), 0);
}

static void
test_refusals(void **state)
{
	char dir[512], sub[1024], names[4][256], err[256];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/refuse", tmpdir);
	/* Header injection through the envelope. */
	assert_int_equal(maildir_deliver(dir, "a@x.test\r\nBcc: evil@x.test",
	    "b@x.test", "m", 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control character"));
	assert_int_equal(maildir_deliver(dir, "a@x.test", "b@x.test\n", "m",
	    1, err, sizeof(err)), -EINVAL);
	assert_int_equal(maildir_deliver("", "a", "b", "m", 1, err,
	    sizeof(err)), -EINVAL);
	assert_int_equal(maildir_deliver(dir, NULL, "b", "m", 1, err,
	    sizeof(err)), -EINVAL);

	/* The Maildir path is a file: an error, with the reason. */
	snprintf(dir, sizeof(dir), "%s/plainfile", tmpdir);
	f = fopen(dir, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(maildir_deliver(dir, "a@x.test", "b@x.test", "m", 1,
	    err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "Not a directory"));

	/* Unwritable tmp/ (root ignores modes, so only as a user). */
	if (geteuid() != 0) {
		snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
		assert_int_equal(maildir_deliver(dir, "a", "b", "m", 1, err,
		    sizeof(err)), 0);
		snprintf(sub, sizeof(sub), "%s/tmp", dir);
		assert_int_equal(chmod(sub, 0500), 0);
		assert_int_equal(maildir_deliver(dir, "a", "b", "m", 1, err,
		    sizeof(err)), -EACCES);
		assert_non_null(strstr(err, "tmp/"));
		snprintf(sub, sizeof(sub), "%s/new", dir);
		assert_int_equal(list(sub, names, 4), 1);
		snprintf(sub, sizeof(sub), "%s/tmp", dir);
		chmod(sub, 0700);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_byte_for_byte),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
