/*
 * spool_test - durable message files: round trip, atomic updates, the
 * envelope format's strictness, recovery scan, disk-full behaviour.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "spool.h"

struct fixture {
	char	dir[256];
	struct spool *sp;
};

/* snprintf result check: the paths here must never be cut. */
static void
fmt_ok(int n, size_t size)
{
	assert_true(n > 0 && (size_t)n < size);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/spool_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* A nested path also checks that spool_open creates parents. */
	{
		size_t n = strlen(f->dir);

		snprintf(f->dir + n, sizeof(f->dir) - n, "/var/queue");
	}
	if (spool_open(f->dir, &f->sp) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char top[256];

	spool_close(f->sp);
	snprintf(top, sizeof(top), "%s", f->dir);
	*strstr(top, "/var/queue") = '\0';
	nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Number of entries (not . or ..) in f->dir/sub. */
static int
count_files(struct fixture *f, const char *sub)
{
	char path[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	fmt_ok(snprintf(path, sizeof(path), "%s/%s", f->dir, sub),
	    sizeof(path));
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void
write_raw(struct fixture *f, const char *sub, const char *name,
    const char *data, size_t len)
{
	char path[512];
	FILE *fp;

	fmt_ok(snprintf(path, sizeof(path), "%s/%s/%s", f->dir, sub, name),
	    sizeof(path));
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static bool
file_exists(struct fixture *f, const char *sub, const char *name)
{
	char path[512];
	struct stat st;

	fmt_ok(snprintf(path, sizeof(path), "%s/%s/%s", f->dir, sub, name),
	    sizeof(path));
	return stat(path, &st) == 0;
}

/* An envelope that exercises every field, with hostile bytes. */
static void
make_env(struct spool_envelope *env)
{
	struct spool_rcpt *r;

	spool_envelope_init(env);
	env->arrival = 1710334643;
	snprintf(env->sender, sizeof(env->sender), "alice%%x@example.org");
	env->body = SMTP_BODY_8BITMIME;
	env->smtputf8 = true;
	env->ret = SMTP_RET_HDRS;
	snprintf(env->envid, sizeof(env->envid), "-");
	snprintf(env->helo, sizeof(env->helo), "mail example\r\n.org");
	snprintf(env->client_ip, sizeof(env->client_ip), "2001:db8::1");

	r = spool_envelope_add_rcpt(env);
	assert_non_null(r);
	snprintf(r->addr, sizeof(r->addr), "b\xc3\xb8" "b@example.test");
	snprintf(r->orcpt, sizeof(r->orcpt), "rfc822;bob@example.test");
	r->notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
	snprintf(r->dest, sizeof(r->dest), "smtp://127.0.0.1:2526");
	r->attempts = 2;
	r->first_attempt = 1710334644;
	r->last_attempt = 1710334944;
	r->next_attempt = 1710335544;
	r->dsn_sent = SMTP_NOTIFY_DELAY;
	spool_error_set(&r->first_error, 451, "4.7.1", "mx.example.test[127.0.0.1]",
	    "Greylisted, try again in 5 minutes", 34);
	spool_error_set(&r->last_error, 452, "4.2.2", "mx.example.test[127.0.0.1]",
	    "Mailbox full 100%", 17);

	r = spool_envelope_add_rcpt(env);
	assert_non_null(r);
	snprintf(r->addr, sizeof(r->addr), "carol@example.test");
	r->notify = SMTP_NOTIFY_NEVER;
	snprintf(r->dest, sizeof(r->dest), "carol@other.test");
	r->state = SPOOL_RCPT_DELIVERED;
}

static void
assert_env_equal(const struct spool_envelope *a, const struct spool_envelope *b)
{
	size_t i;

	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_int_equal(a->size, b->size);
	assert_string_equal(a->sender, b->sender);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->ret, b->ret);
	assert_string_equal(a->envid, b->envid);
	assert_string_equal(a->helo, b->helo);
	assert_string_equal(a->client_ip, b->client_ip);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (i = 0; i < a->nrcpt; i++) {
		const struct spool_rcpt *x = &a->rcpt[i], *y = &b->rcpt[i];

		assert_string_equal(x->addr, y->addr);
		assert_string_equal(x->orcpt, y->orcpt);
		assert_int_equal(x->notify, y->notify);
		assert_string_equal(x->dest, y->dest);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_int_equal(x->first_attempt, y->first_attempt);
		assert_int_equal(x->last_attempt, y->last_attempt);
		assert_int_equal(x->next_attempt, y->next_attempt);
		assert_int_equal(x->dsn_sent, y->dsn_sent);
		assert_int_equal(x->first_error.reply, y->first_error.reply);
		assert_string_equal(x->first_error.status, y->first_error.status);
		assert_string_equal(x->first_error.host, y->first_error.host);
		assert_string_equal(x->first_error.text, y->first_error.text);
		assert_int_equal(x->last_error.reply, y->last_error.reply);
		assert_string_equal(x->last_error.status, y->last_error.status);
		assert_string_equal(x->last_error.host, y->last_error.host);
		assert_string_equal(x->last_error.text, y->last_error.text);
	}
}

static const char msg[] =
    "From: alice@example.org\r\nTo: bob@example.test\r\nSubject: hi\r\n"
    "\r\nHello\r\n.dot line stays as is\r\n";

static void
test_create_load_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct spool_envelope env, got;
	struct buf data;
	char id[SPOOL_ID_SIZE], name[64];

	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, msg, sizeof(msg) - 1,
	    id), 0);
	assert_true(spool_id_valid(id));
	assert_string_equal(id, env.id);
	assert_int_equal(env.size, sizeof(msg) - 1);
	snprintf(name, sizeof(name), "%s.env", id);
	assert_true(file_exists(f, "queue", name));
	snprintf(name, sizeof(name), "%s.msg", id);
	assert_true(file_exists(f, "queue", name));
	assert_int_equal(count_files(f, "tmp"), 0);

	buf_init(&data, 0);
	assert_int_equal(spool_message_load(f->sp, id, &got, &data), 0);
	assert_env_equal(&env, &got);
	assert_int_equal(data.len, sizeof(msg) - 1);
	assert_memory_equal(data.data, msg, sizeof(msg) - 1);
	/* Hostile bytes survive exactly. */
	assert_string_equal(got.helo, "mail example\r\n.org");
	assert_string_equal(got.envid, "-");
	assert_string_equal(got.rcpt[0].addr, "b\xc3\xb8" "b@example.test");
	assert_string_equal(got.rcpt[0].last_error.text, "Mailbox full 100%");
	assert_string_equal(got.rcpt[1].orcpt, "");
	spool_envelope_free(&got);

	/* Envelope only. */
	assert_int_equal(spool_message_load(f->sp, id, &got, NULL), 0);
	assert_int_equal(got.nrcpt, 2);
	spool_envelope_free(&got);

	/* A caller-chosen ID (e.g. already named in Received:) is used. */
	spool_envelope_free(&env);
	make_env(&env);
	spool_id_new(f->sp, env.id);
	memcpy(name, env.id, SPOOL_ID_SIZE);
	assert_int_equal(spool_message_create(f->sp, &env, msg, 5, id), 0);
	assert_string_equal(id, name);
	/* ... and reusing it is refused, leaving the first one intact. */
	assert_int_equal(spool_message_create(f->sp, &env, msg, 7, NULL),
	    SPOOL_ELOCAL);
	assert_int_equal(spool_message_load(f->sp, id, &got, NULL), 0);
	assert_int_equal(got.size, 5);
	spool_envelope_free(&got);
	assert_int_equal(count_files(f, "tmp"), 0);

	buf_free(&data);
	spool_envelope_free(&env);
}

static void
test_format_exact(void **state)
{
	struct spool_envelope env, got;
	struct buf a, b;
	static const char expect_head[] =
	    "CLEANBOX-ENVELOPE 1\n"
	    "id 0123456789abcdef\n"
	    "arrival 1710334643\n"
	    "size 42\n"
	    "sender alice%25x@example.org\n"
	    "body 8bitmime\n"
	    "smtputf8 yes\n"
	    "ret hdrs\n"
	    "envid %2D\n"
	    "helo mail%20example%0D%0A.org\n"
	    "client 2001:db8::1\n"
	    "rcpts 2\n"
	    "rcpt b%C3%B8b@example.test\n"
	    "orcpt rfc822;bob@example.test\n"
	    "notify failure,delay\n"
	    "dest smtp://127.0.0.1:2526\n"
	    "state pending\n"
	    "attempts 2\n"
	    "first-attempt 1710334644\n"
	    "last-attempt 1710334944\n"
	    "next-attempt 1710335544\n"
	    "dsn-sent delay\n"
	    "first-error 451 4.7.1 mx.example.test[127.0.0.1] "
	    "Greylisted,%20try%20again%20in%205%20minutes\n"
	    "last-error 452 4.2.2 mx.example.test[127.0.0.1] "
	    "Mailbox%20full%20100%25\n"
	    "rcpt carol@example.test\n"
	    "orcpt -\n"
	    "notify never\n"
	    "dest carol@other.test\n"
	    "state delivered\n"
	    "attempts 0\n"
	    "first-attempt 0\n"
	    "last-attempt 0\n"
	    "next-attempt 0\n"
	    "dsn-sent -\n"
	    "first-error 0 - - -\n"
	    "last-error 0 - - -\n"
	    "end\n";
	size_t cut;

	(void)state;
	make_env(&env);
	memcpy(env.id, "0123456789abcdef", SPOOL_ID_SIZE);
	env.size = 42;
	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_int_equal(spool_envelope_format(&env, &a), 0);
	assert_string_equal(a.data, expect_head);

	assert_int_equal(spool_envelope_parse(a.data, a.len, &got), 0);
	assert_env_equal(&env, &got);
	assert_int_equal(spool_envelope_format(&got, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	spool_envelope_free(&got);

	/* Every truncation is rejected, including the one cutting "end". */
	for (cut = 0; cut < a.len; cut++) {
		assert_int_equal(spool_envelope_parse(a.data, cut, &got),
		    SPOOL_ECORRUPT);
		assert_null(got.rcpt);
	}
	/* Bytes after "end" too. */
	buf_append_str(&a, "x");
	assert_int_equal(spool_envelope_parse(a.data, a.len, &got),
	    SPOOL_ECORRUPT);

	buf_free(&a);
	buf_free(&b);
	spool_envelope_free(&env);
}

/* Replace the first occurrence of from by to in a copy of the formatted
 * envelope, and check whether it parses. */
static int
parse_edited(const char *from, const char *to)
{
	struct spool_envelope env, got;
	struct buf a, b;
	char *p;
	int rc;

	make_env(&env);
	memcpy(env.id, "0123456789abcdef", SPOOL_ID_SIZE);
	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_int_equal(spool_envelope_format(&env, &a), 0);
	p = strstr(a.data, from);
	assert_non_null(p);
	buf_append(&b, a.data, (size_t)(p - a.data));
	buf_append_str(&b, to);
	buf_append_str(&b, p + strlen(from));
	rc = spool_envelope_parse(b.data, b.len, &got);
	spool_envelope_free(&got);
	spool_envelope_free(&env);
	buf_free(&a);
	buf_free(&b);
	return rc;
}

static void
test_parse_strict(void **state)
{
	(void)state;
	/* Sanity: an identity edit parses. */
	assert_int_equal(parse_edited("size 0\n", "size 0\n"), 0);
	assert_int_equal(parse_edited("attempts 2\n", "attempts 17\n"), 0);
	/* Non-canonical spellings. */
	assert_int_equal(parse_edited("attempts 2\n", "attempts 02\n"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("attempts 2\n", "attempts +2\n"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("client 2001", "client %32001"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("helo mail%20", "helo mail%2a"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("helo mail%20", "helo mail "),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("helo mail%20", "helo mail%00"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("helo mail%20", "helo mail%2"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("envid %2D", "envid --%2D"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("notify failure,delay",
	    "notify delay,failure"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("notify never", "notify never,success"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("dsn-sent delay", "dsn-sent never"),
	    SPOOL_ECORRUPT);
	/* Order and presence of keys, values in range. */
	assert_int_equal(parse_edited("body 8bitmime\nsmtputf8 yes\n",
	    "smtputf8 yes\nbody 8bitmime\n"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("ret hdrs\n", ""), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("ret hdrs\n", "ret hdrs\nx 1\n"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("CLEANBOX-ENVELOPE 1",
	    "CLEANBOX-ENVELOPE 2"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("rcpts 2", "rcpts 3"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("rcpts 2", "rcpts 1"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("rcpts 2", "rcpts 0"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("rcpts 2", "rcpts 99999999999"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("first-error 451", "first-error 199"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("first-error 451", "first-error 600"),
	    SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("last-error 0 - - -",
	    "last-error 0 - - - -"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("last-error 0 - - -",
	    "last-error 0 - -"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("last-error 0 - - -",
	    "last-error 0 -  -"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("4.7.1", "4.x.1"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("id 0123456789abcdef",
	    "id 0123456789ABCDEF"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("arrival 1710334643",
	    "arrival 99999999999999"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("rcpt carol@example.test",
	    "rcpt -"), SPOOL_ECORRUPT);
	assert_int_equal(parse_edited("end\n", "end\r\n"), SPOOL_ECORRUPT);
}

static void
test_format_invalid(void **state)
{
	struct spool_envelope env;
	struct buf b;
	struct fixture *f = *state;

	buf_init(&b, 0);
	spool_envelope_init(&env);
	memcpy(env.id, "0123456789abcdef", SPOOL_ID_SIZE);
	/* No recipients. */
	assert_int_equal(spool_envelope_format(&env, &b), SPOOL_EINVAL);
	spool_envelope_init(&env);
	assert_int_equal(spool_message_create(f->sp, &env, "x\r\n", 3, NULL),
	    SPOOL_EINVAL);
	spool_envelope_free(&env);

	make_env(&env);
	memcpy(env.id, "0123456789abcdef", SPOOL_ID_SIZE);
	/* Unterminated field. */
	memset(env.helo, 'a', sizeof(env.helo));
	assert_int_equal(spool_envelope_format(&env, &b), SPOOL_EINVAL);
	assert_int_equal(b.len, 0);
	env.helo[0] = '\0';
	env.rcpt[0].notify = SMTP_NOTIFY_NEVER | SMTP_NOTIFY_SUCCESS;
	assert_int_equal(spool_envelope_format(&env, &b), SPOOL_EINVAL);
	env.rcpt[0].notify = 0;
	env.rcpt[0].last_error.reply = 99;
	assert_int_equal(spool_envelope_format(&env, &b), SPOOL_EINVAL);
	env.rcpt[0].last_error.reply = 0;
	env.rcpt[1].addr[0] = '\0';
	assert_int_equal(spool_envelope_format(&env, &b), SPOOL_EINVAL);
	assert_int_equal(b.len, 0);
	env.rcpt[1].addr[0] = 'c';
	assert_int_equal(spool_envelope_format(&env, &b), 0);
	assert_true(b.len > 0);
	/* Nothing reached the disk for the refused creates. */
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "queue"), 0);
	spool_envelope_free(&env);
	buf_free(&b);
}

static void
test_error_set_cuts(void **state)
{
	struct spool_error e;
	char big[3000];

	(void)state;
	memset(big, 'x', sizeof(big));
	spool_error_set(&e, 550, "5.1.1", NULL, big, sizeof(big));
	assert_int_equal(e.reply, 550);
	assert_string_equal(e.status, "5.1.1");
	assert_string_equal(e.host, "");
	assert_int_equal(strlen(e.text), SPOOL_TEXT_MAX);
	spool_error_set(&e, 0, NULL, "h", "a\0b", 3);
	assert_string_equal(e.text, "a");
	assert_string_equal(e.status, "");
}

static void
test_update_atomic(void **state)
{
	struct fixture *f = *state;
	struct spool_envelope env, got;
	char id[SPOOL_ID_SIZE], path[512];
	struct stat st1, st2;

	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, msg, sizeof(msg) - 1,
	    id), 0);
	fmt_ok(snprintf(path, sizeof(path), "%s/queue/%s.env", f->dir, id),
	    sizeof(path));
	assert_int_equal(stat(path, &st1), 0);

	env.rcpt[0].state = SPOOL_RCPT_FAILED;
	env.rcpt[0].attempts = 3;
	env.rcpt[0].dsn_sent = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
	spool_error_set(&env.rcpt[0].last_error, 550, "5.1.1", "mx",
	    "No such user", 12);
	assert_int_equal(spool_envelope_update(f->sp, &env), 0);
	/* Replaced by rename: a new inode, never rewritten in place. */
	assert_int_equal(stat(path, &st2), 0);
	assert_int_not_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(count_files(f, "tmp"), 0);

	assert_int_equal(spool_message_load(f->sp, id, &got, NULL), 0);
	assert_env_equal(&env, &got);
	assert_true(spool_envelope_done(&got));
	spool_envelope_free(&got);

	/* An update must not resurrect a removed message. */
	assert_int_equal(spool_message_remove(f->sp, id), 0);
	assert_int_equal(spool_envelope_update(f->sp, &env), SPOOL_ENOENT);
	fmt_ok(snprintf(path, sizeof(path), "%s.env", id),
	    sizeof(path));
	assert_false(file_exists(f, "queue", path));
	assert_int_equal(count_files(f, "queue"), 0);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(spool_message_load(f->sp, id, &got, NULL),
	    SPOOL_ENOENT);
	spool_envelope_free(&got);
	assert_int_equal(spool_message_remove(f->sp, id), SPOOL_ENOENT);
	assert_int_equal(spool_message_remove(f->sp, "../etc/passwd"),
	    SPOOL_EINVAL);
	assert_int_equal(spool_message_load(f->sp, "0123", &got, NULL),
	    SPOOL_EINVAL);
	spool_envelope_free(&got);
	spool_envelope_free(&env);
}

struct seen {
	char	ids[16][SPOOL_ID_SIZE];
	size_t	n;
	int	stop_after;
};

static int
scan_cb(const struct spool_envelope *env, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	memcpy(s->ids[s->n++], env->id, SPOOL_ID_SIZE);
	assert_true(env->nrcpt > 0);
	return s->stop_after && (int)s->n == s->stop_after ? 7 : 0;
}

static void
test_scan_recovery(void **state)
{
	struct fixture *f = *state;
	struct spool_envelope env;
	struct buf full;
	char good[3][SPOOL_ID_SIZE], name[64];
	static const char *const bad_ids[] = {
		"1111111111111111", "2222222222222222", "3333333333333333",
		"4444444444444444", "5555555555555555",
	};
	struct seen seen = { .n = 0 };
	size_t found, i;

	/* Three good messages, created out of ID order. */
	for (i = 0; i < 3; i++) {
		make_env(&env);
		assert_int_equal(spool_message_create(f->sp, &env, msg,
		    sizeof(msg) - 1, good[i]), 0);
		spool_envelope_free(&env);
	}

	/* A crash before the envelope rename: data without envelope. */
	write_raw(f, "queue", "1111111111111111.msg", msg, sizeof(msg) - 1);
	/* A truncated envelope (its final "end" line missing) with data. */
	make_env(&env);
	memcpy(env.id, bad_ids[1], SPOOL_ID_SIZE);
	env.size = sizeof(msg) - 1;
	buf_init(&full, 0);
	assert_int_equal(spool_envelope_format(&env, &full), 0);
	write_raw(f, "queue", "2222222222222222.env", full.data, full.len - 4);
	write_raw(f, "queue", "2222222222222222.msg", msg, sizeof(msg) - 1);
	/* A valid envelope whose data is missing. */
	buf_reset(&full);
	memcpy(env.id, bad_ids[2], SPOOL_ID_SIZE);
	assert_int_equal(spool_envelope_format(&env, &full), 0);
	write_raw(f, "queue", "3333333333333333.env", full.data, full.len);
	/* A valid envelope whose data has the wrong size. */
	buf_reset(&full);
	memcpy(env.id, bad_ids[3], SPOOL_ID_SIZE);
	assert_int_equal(spool_envelope_format(&env, &full), 0);
	write_raw(f, "queue", "4444444444444444.env", full.data, full.len);
	write_raw(f, "queue", "4444444444444444.msg", msg, 10);
	/* A valid envelope naming another ID. */
	write_raw(f, "queue", "5555555555555555.env", full.data, full.len);
	write_raw(f, "queue", "5555555555555555.msg", msg, sizeof(msg) - 1);
	/* Temp leftovers from a crash mid-create and mid-update. */
	write_raw(f, "tmp", "6666666666666666.msg", msg, 3);
	write_raw(f, "tmp", "6666666666666666.env", "CLEANBOX", 8);
	write_raw(f, "tmp", "7777777777777777.upd.5", "x", 1);
	/* Something nobody knows about stays. */
	write_raw(f, "queue", "README", "x", 1);
	spool_envelope_free(&env);
	buf_free(&full);

	/* With an age limit nothing young is removed. */
	assert_int_equal(spool_scan(f->sp, 3600, NULL, NULL, &found), 0);
	assert_int_equal(found, 3);
	assert_int_equal(count_files(f, "tmp"), 3);
	assert_true(file_exists(f, "queue", "1111111111111111.msg"));

	/* Start-up scan. */
	assert_int_equal(spool_scan(f->sp, 0, scan_cb, &seen, &found), 0);
	assert_int_equal(found, 3);
	assert_int_equal(seen.n, 3);
	/* Oldest first (IDs sort by time, then by counter). */
	assert_true(strcmp(seen.ids[0], seen.ids[1]) < 0);
	assert_true(strcmp(seen.ids[1], seen.ids[2]) < 0);
	for (i = 0; i < 3; i++)
		assert_true(strcmp(seen.ids[0], good[i]) == 0 ||
		    strcmp(seen.ids[1], good[i]) == 0 ||
		    strcmp(seen.ids[2], good[i]) == 0);

	assert_int_equal(count_files(f, "tmp"), 0);
	assert_false(file_exists(f, "queue", "1111111111111111.msg"));
	for (i = 1; i < 5; i++) {
		snprintf(name, sizeof(name), "%s.env", bad_ids[i]);
		assert_false(file_exists(f, "queue", name));
		assert_true(file_exists(f, "corrupt", name));
	}
	assert_true(file_exists(f, "corrupt", "2222222222222222.msg"));
	assert_true(file_exists(f, "corrupt", "4444444444444444.msg"));
	/* 3 good messages * 2 files + README. */
	assert_int_equal(count_files(f, "queue"), 7);

	/* The callback can stop the scan. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 2;
	assert_int_equal(spool_scan(f->sp, 0, scan_cb, &seen, &found), 7);
	assert_int_equal(found, 2);

	/* A second corrupt file with the same name goes aside too. */
	write_raw(f, "queue", "2222222222222222.env", "junk", 4);
	assert_int_equal(spool_scan(f->sp, 0, NULL, NULL, &found), 0);
	assert_int_equal(found, 3);
	assert_false(file_exists(f, "queue", "2222222222222222.env"));
	assert_int_equal(count_files(f, "corrupt"), 8);
}

static void
test_disk_full(void **state)
{
	struct fixture *f = *state;
	struct spool_envelope env, got;
	struct rlimit old, lim;
	char *big, id[SPOOL_ID_SIZE];
	size_t bigsz = 256 * 1024, i;

	/* RLIMIT_FSIZE makes write() fail with EFBIG once SIGXFSZ is
	 * ignored: the same path as ENOSPC. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	big = malloc(bigsz);
	assert_non_null(big);
	memset(big, 'a', bigsz);

	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	/* The data file does not fit. */
	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, big, bigsz, id),
	    SPOOL_ELOCAL);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "queue"), 0);

	/* The data fits, the envelope does not (huge recipient list). */
	spool_envelope_free(&env);
	make_env(&env);
	for (i = 0; i < 100; i++) {
		struct spool_rcpt *r = spool_envelope_add_rcpt(&env);

		assert_non_null(r);
		snprintf(r->addr, sizeof(r->addr), "r%zu@example.test", i);
		memset(r->last_error.text, ' ', SPOOL_TEXT_MAX);
		r->last_error.text[SPOOL_TEXT_MAX] = '\0';
	}
	assert_int_equal(spool_message_create(f->sp, &env, msg, sizeof(msg) - 1,
	    id), SPOOL_ELOCAL);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(count_files(f, "queue"), 0);

	/* An update that does not fit leaves the old envelope in place. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	spool_envelope_free(&env);
	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, msg, sizeof(msg) - 1,
	    id), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (i = 0; i < 100; i++) {
		struct spool_rcpt *r = spool_envelope_add_rcpt(&env);

		assert_non_null(r);
		snprintf(r->addr, sizeof(r->addr), "r%zu@example.test", i);
		memset(r->last_error.text, ' ', SPOOL_TEXT_MAX);
		r->last_error.text[SPOOL_TEXT_MAX] = '\0';
	}
	assert_int_equal(spool_envelope_update(f->sp, &env), SPOOL_ELOCAL);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(spool_message_load(f->sp, id, &got, NULL), 0);
	assert_int_equal(got.nrcpt, 2);
	spool_envelope_free(&got);

	/* Recovery: with room again the same create works. */
	spool_envelope_free(&env);
	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, big, bigsz, id), 0);
	assert_int_equal(count_files(f, "queue"), 4);

	signal(SIGXFSZ, SIG_DFL);
	spool_envelope_free(&env);
	free(big);
}

static void
test_ids(void **state)
{
	struct fixture *f = *state;
	static char ids[5000][SPOOL_ID_SIZE];
	char now_hex[9];
	size_t i;

	snprintf(now_hex, sizeof(now_hex), "%08lx",
	    (unsigned long)time(NULL) & 0xffffffffUL);
	for (i = 0; i < 5000; i++) {
		spool_id_new(f->sp, ids[i]);
		assert_true(spool_id_valid(ids[i]));
	}
	/* The first 8 digits are the time (allow a second boundary). */
	assert_true(strncmp(ids[0], now_hex, 7) == 0);
	qsort(ids, 5000, SPOOL_ID_SIZE, (int (*)(const void *,
	    const void *))strcmp);
	for (i = 1; i < 5000; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) != 0);
	assert_false(spool_id_valid("0123456789abcde"));
	assert_false(spool_id_valid("0123456789abcdeg"));
	assert_false(spool_id_valid("0123456789abcdef0"));
	assert_false(spool_id_valid("0123456789ABCDEF"));
	assert_true(spool_id_valid("0123456789abcdef"));
}

struct worker {
	struct spool *sp;
	int	ok;
	char	ids[25][SPOOL_ID_SIZE];
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct spool_envelope env;
	int i;

	for (i = 0; i < 25; i++) {
		make_env(&env);
		if (spool_message_create(w->sp, &env, msg, sizeof(msg) - 1,
		    w->ids[i]) == 0)
			w->ok++;
		spool_envelope_free(&env);
	}
	return NULL;
}

static void
test_concurrent_creates(void **state)
{
	struct fixture *f = *state;
	struct worker w[6];
	pthread_t t[6];
	struct spool_envelope got;
	struct buf data;
	size_t found;
	int i, j;

	memset(w, 0, sizeof(w));
	for (i = 0; i < 6; i++) {
		w[i].sp = f->sp;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		    0);
	}
	for (i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	buf_init(&data, 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(w[i].ok, 25);
		for (j = 0; j < 25; j++) {
			buf_reset(&data);
			assert_int_equal(spool_message_load(f->sp, w[i].ids[j],
			    &got, &data), 0);
			assert_int_equal(data.len, sizeof(msg) - 1);
			spool_envelope_free(&got);
		}
	}
	buf_free(&data);
	assert_int_equal(spool_scan(f->sp, 0, NULL, NULL, &found), 0);
	assert_int_equal(found, 150);
	assert_int_equal(count_files(f, "tmp"), 0);
}

static void
test_data_open(void **state)
{
	struct fixture *f = *state;
	struct spool_envelope env;
	char id[SPOOL_ID_SIZE], b[sizeof(msg)];
	off_t size;
	int fd;

	make_env(&env);
	assert_int_equal(spool_message_create(f->sp, &env, msg, sizeof(msg) - 1,
	    id), 0);
	fd = spool_data_open(f->sp, id, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, sizeof(msg) - 1);
	assert_int_equal(read(fd, b, sizeof(b)), sizeof(msg) - 1);
	assert_memory_equal(b, msg, sizeof(msg) - 1);
	close(fd);
	assert_int_equal(spool_data_open(f->sp, "ffffffffffffffff", &size),
	    SPOOL_ENOENT);
	spool_envelope_free(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_load_roundtrip,
		    setup, teardown),
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test_setup_teardown(test_format_invalid, setup,
		    teardown),
		cmocka_unit_test(test_error_set_cuts),
		cmocka_unit_test_setup_teardown(test_update_atomic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_scan_recovery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_creates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_data_open, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
