/*
 * suppress_test - the suppression policy over a real (SQLite) store:
 * soft counting and reset, the K-over-D rule, hard bounces at once, policy
 * rejections never, TTL expiry, operator entries, fan-out checks, keys,
 * and the 550 text.  The same policy against PostgreSQL is exercised by
 * store_test (test_two_handles).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "store.h"
#include "suppress.h"

#define DAY	((int64_t)86400)
#define T0	((int64_t)1767355200)	/* 2026-01-02 12:00:00 UTC */

static char tmpdir[256];
static unsigned seq;

struct ctx {
	struct store *st;
	struct suppress_policy p;
};

static int
group_setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/suppress_test.XXXXXX",
	    t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
setup(void **state)
{
	struct store_params sp;
	struct ctx *c;
	char path[300], err[256];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/s%u.db", tmpdir, ++seq);
	memset(&sp, 0, sizeof(sp));
	sp.kind = STORE_SQLITE;
	sp.path = path;
	if (store_open(&sp, &c->st, err, sizeof(err)) != STORE_OK) {
		fprintf(stderr, "%s\n", err);
		free(c);
		return -1;
	}
	suppress_policy_default(&c->p);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	store_close(c->st);
	free(c);
	return 0;
}

/* One outcome for dest at now; returns the effect. */
static enum suppress_effect
outcome(struct ctx *c, const char *dest, int64_t now, int reply,
    const char *status, const char *reason, int hard)
{
	struct suppress_outcome o;
	enum suppress_effect eff = (enum suppress_effect)-1;

	memset(&o, 0, sizeof(o));
	o.dest = dest;
	o.rcpt = "rcpt@hosted.test";
	o.delivered = reply >= 200 && reply < 300;
	o.reply = reply;
	o.status = status;
	o.reason = reason;
	o.hard = hard;
	o.text = "the destination's words";
	o.source = SUPPRESS_SRC_RETRY;
	o.now = now;
	assert_int_equal(suppress_record(c->st, &c->p, &o, &eff), STORE_OK);
	return eff;
}

static enum suppress_effect
soft(struct ctx *c, const char *dest, int64_t now)
{
	return outcome(c, dest, now, 452, "4.2.2", "mailboxfull", 0);
}

static enum suppress_effect
delivered(struct ctx *c, const char *dest, int64_t now)
{
	return outcome(c, dest, now, 250, "2.0.0", NULL, -1);
}

static int
suppressed(struct ctx *c, const char *dest, int64_t now)
{
	struct suppress_info info;
	int rc = suppress_lookup(c->st, dest, now, &info);

	assert_true(rc == 0 || rc == 1);
	assert_int_equal(info.suppressed, rc == 1);
	return rc;
}

static unsigned
count_of(struct ctx *c, const char *dest)
{
	struct store_supp row;
	int rc = store_supp_get(c->st, dest, &row);

	assert_true(rc == STORE_OK || rc == STORE_NOTFOUND);
	return rc == STORE_OK ? row.count : 0;
}

static int
ev_cb(const struct store_event *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int
events(struct ctx *c, const char *dest)
{
	struct store_event_filter f;
	int n = 0;

	memset(&f, 0, sizeof(f));
	f.dest = dest;
	assert_int_equal(store_event_scan(c->st, &f, ev_cb, &n), STORE_OK);
	return n;
}

/* 4 soft failures, then a delivery: not suppressed, count back to 0. */
static void
test_four_soft_then_success(void **state)
{
	struct ctx *c = *state;
	const char *d = "full@partner.test";
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(soft(c, d, T0 + i * DAY), SUPPRESS_EFF_COUNTED);
	assert_int_equal(count_of(c, d), 4);
	assert_int_equal(delivered(c, d, T0 + 4 * DAY), SUPPRESS_EFF_RESET);
	assert_int_equal(count_of(c, d), 0);
	assert_false(suppressed(c, d, T0 + 4 * DAY));
	/* The next failure starts a new streak: 4 more are still not 5. */
	for (i = 5; i < 9; i++)
		assert_int_equal(soft(c, d, T0 + i * DAY), SUPPRESS_EFF_COUNTED);
	assert_false(suppressed(c, d, T0 + 9 * DAY));
	assert_int_equal(count_of(c, d), 4);
	/* Failures are logged; the delivery is not. */
	assert_int_equal(events(c, d), 8);
	/* A delivery to an unknown destination changes nothing. */
	assert_int_equal(delivered(c, "new@partner.test", T0),
	    SUPPRESS_EFF_NONE);
}

/* 5 soft failures spread over 3 days: suppressed at the fifth. */
static void
test_five_soft_over_window(void **state)
{
	struct ctx *c = *state;
	const char *d = "full@partner.test";
	struct suppress_info info;
	char text[SUPPRESS_REPLY_MAX];
	int64_t when[5] = { T0, T0 + DAY, T0 + 2 * DAY, T0 + 2 * DAY + 3600,
	    T0 + 3 * DAY };
	int i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(soft(c, d, when[i]), SUPPRESS_EFF_COUNTED);
		assert_false(suppressed(c, d, when[i]));
	}
	assert_int_equal(soft(c, d, when[4]), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_lookup(c->st, d, when[4] + 1, &info), 1);
	assert_int_equal(info.since, T0 + 3 * DAY);
	assert_int_equal(info.count, 5);
	assert_false(info.hard);
	assert_string_equal(info.status, "4.2.2");
	assert_string_equal(info.reason, "mailboxfull");
	assert_string_equal(info.source, "retry");
	assert_int_equal(info.expires_at, 0);
	assert_true(suppress_reply_text(&info, text, sizeof(text)) > 0);
	assert_string_equal(text, "destination suppressed since 2026-01-05 "
	    "12:00 UTC after 4.2.2 (mailboxfull)");
	/* Further failures count on; a delivery does not lift it. */
	assert_int_equal(soft(c, d, T0 + 4 * DAY), SUPPRESS_EFF_ALREADY);
	assert_int_equal(delivered(c, d, T0 + 5 * DAY), SUPPRESS_EFF_ALREADY);
	assert_true(suppressed(c, d, T0 + 5 * DAY));
	assert_int_equal(count_of(c, d), 6);
}

/* 5 soft failures within less than D: not yet; later ones do it. */
static void
test_five_soft_too_fast(void **state)
{
	struct ctx *c = *state;
	const char *d = "flaky@partner.test";
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(soft(c, d, T0 + i * 3600), SUPPRESS_EFF_COUNTED);
	assert_false(suppressed(c, d, T0 + 5 * 3600));
	/* Ten within a day, still not. */
	for (i = 5; i < 10; i++)
		assert_int_equal(soft(c, d, T0 + i * 3600), SUPPRESS_EFF_COUNTED);
	assert_false(suppressed(c, d, T0 + DAY));
	/* One second short of three days after the first, still not ... */
	assert_int_equal(soft(c, d, T0 + 3 * DAY - 1), SUPPRESS_EFF_COUNTED);
	/* ... three days: yes. */
	assert_int_equal(soft(c, d, T0 + 3 * DAY), SUPPRESS_EFF_SUPPRESSED);
	assert_true(suppressed(c, d, T0 + 3 * DAY));

	/* The thresholds are the policy's: K = 2 over 1 hour. */
	c->p.soft_threshold = 2;
	c->p.soft_window = 3600;
	assert_int_equal(soft(c, "x@p.test", T0), SUPPRESS_EFF_COUNTED);
	assert_int_equal(soft(c, "x@p.test", T0 + 3600),
	    SUPPRESS_EFF_SUPPRESSED);
}

/* A hard bounce that says the address is gone: at once. */
static void
test_hard_at_once(void **state)
{
	struct ctx *c = *state;
	struct suppress_info info;
	char text[SUPPRESS_REPLY_MAX];
	int n;

	assert_int_equal(outcome(c, "gone@partner.test", T0, 550, "5.1.1",
	    "userunknown", 1), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_lookup(c->st, "gone@partner.test", T0,
	    &info), 1);
	assert_true(info.hard);
	assert_int_equal(info.reply, 550);
	assert_string_equal(info.text, "the destination's words");
	n = suppress_reply_text(&info, text, sizeof(text));
	assert_int_equal(n, (int)strlen(text));
	assert_string_equal(text, "destination suppressed since 2026-01-02 "
	    "12:00 UTC after 5.1.1 (userunknown)");
	assert_int_equal(outcome(c, "nohost@gone.test", T0, 550, "5.1.2",
	    "hostunknown", 1), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(outcome(c, "moved@partner.test", T0, 551, "5.1.6",
	    "hasmoved", 1), SUPPRESS_EFF_SUPPRESSED);
	/* Null MX (RFC 7505), when the classifier calls it hard. */
	assert_int_equal(outcome(c, "a@nullmx.test", T0, 556, "5.1.10",
	    "notaccept", 1), SUPPRESS_EFF_SUPPRESSED);
	/* No reason given: from the status code alone. */
	assert_int_equal(outcome(c, "b@partner.test", T0, 550, "5.1.1", NULL,
	    -1), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_lookup(c->st, "b@partner.test", T0, &info),
	    1);
	assert_string_equal(info.reason, "userunknown");
	assert_int_equal(outcome(c, "c@partner.test", T0, 550, "5.1.1",
	    "undefined", -1), SUPPRESS_EFF_SUPPRESSED);
	/* "User unknown" with a 4xx is a server in trouble: soft. */
	assert_int_equal(outcome(c, "d@partner.test", T0, 450, "4.1.1",
	    "userunknown", 0), SUPPRESS_EFF_COUNTED);
	assert_int_equal(outcome(c, "e@partner.test", T0, 450, NULL,
	    "userunknown", 0), SUPPRESS_EFF_COUNTED);
	/* A soft-suppressed destination that turns out dead says so. */
	c->p.soft_threshold = 1;
	c->p.soft_window = 0;
	assert_int_equal(soft(c, "f@partner.test", T0), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(outcome(c, "f@partner.test", T0 + 60, 550, "5.1.1",
	    "userunknown", 1), SUPPRESS_EFF_ALREADY);
	assert_int_equal(suppress_lookup(c->st, "f@partner.test", T0, &info),
	    1);
	assert_true(info.hard);
	assert_string_equal(info.reason, "userunknown");
	assert_int_equal(info.since, T0);
}

/* Policy, reputation, content: never, however often; logged. */
static void
test_policy_never(void **state)
{
	struct ctx *c = *state;
	const char *d = "strict@partner.test";
	int i;

	for (i = 0; i < 10; i++)
		assert_int_equal(outcome(c, d, T0 + i * DAY, 550, "5.7.1",
		    "blocked", 0), SUPPRESS_EFF_POLICY);
	assert_false(suppressed(c, d, T0 + 10 * DAY));
	assert_int_equal(events(c, d), 10);
	/* Unclassified 5.7.x: inferred as policy too. */
	assert_int_equal(outcome(c, d, T0, 550, "5.7.1", NULL, -1),
	    SUPPRESS_EFF_POLICY);
	assert_int_equal(outcome(c, d, T0, 554, "5.7.26", "authfailure", 0),
	    SUPPRESS_EFF_POLICY);
	assert_int_equal(outcome(c, d, T0, 552, "5.3.4", "mesgtoobig", 0),
	    SUPPRESS_EFF_POLICY);
	/* Even a "hard" verdict with a policy reason. */
	assert_int_equal(outcome(c, d, T0, 550, "5.7.1", "spamdetected", 1),
	    SUPPRESS_EFF_POLICY);
	assert_false(suppressed(c, d, T0 + 11 * DAY));
	assert_int_equal(count_of(c, d), 0);
	/* Between soft failures it neither counts nor resets. */
	assert_int_equal(soft(c, d, T0), SUPPRESS_EFF_COUNTED);
	assert_int_equal(outcome(c, d, T0 + DAY, 550, "5.7.1", "blocked", 0),
	    SUPPRESS_EFF_POLICY);
	assert_int_equal(count_of(c, d), 1);
	/* Vacation replies are not failures at all: not even logged. */
	i = events(c, d);
	assert_int_equal(outcome(c, d, T0, 0, NULL, "vacation", -1),
	    SUPPRESS_EFF_NONE);
	assert_int_equal(events(c, d), i);
}

static void
test_classify(void **state)
{
	static const struct {
		const char *reason, *status;
		int reply, hard;
		enum suppress_class want;
	} cases[] = {
		{ "userunknown", "5.1.1", 550, 1, SUPPRESS_CLASS_DEAD },
		{ "USERUNKNOWN", "5.1.1", 550, 1, SUPPRESS_CLASS_DEAD },
		{ "hostunknown", "5.1.2", 550, 1, SUPPRESS_CLASS_DEAD },
		{ "hasmoved", "5.1.6", 551, 1, SUPPRESS_CLASS_DEAD },
		{ "notaccept", "5.1.10", 556, 1, SUPPRESS_CLASS_DEAD },
		{ "notaccept", "4.3.2", 421, 0, SUPPRESS_CLASS_SOFT },
		{ "userunknown", "4.1.1", 450, 0, SUPPRESS_CLASS_SOFT },
		{ NULL, "5.1.1", 550, -1, SUPPRESS_CLASS_DEAD },
		{ "", "5.1.2", 0, -1, SUPPRESS_CLASS_DEAD },
		{ NULL, "5.1.10", 0, -1, SUPPRESS_CLASS_DEAD },
		{ "onhold", "5.1.6", 0, -1, SUPPRESS_CLASS_DEAD },
		{ NULL, "5.7.1", 550, -1, SUPPRESS_CLASS_POLICY },
		{ NULL, "5.2.2", 552, -1, SUPPRESS_CLASS_SOFT },
		{ NULL, NULL, 550, -1, SUPPRESS_CLASS_SOFT },
		{ NULL, "5.1.1x", 550, -1, SUPPRESS_CLASS_SOFT },
		{ NULL, "5.1", 550, -1, SUPPRESS_CLASS_SOFT },
		{ "blocked", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "badreputation", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "policyviolation", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "spamdetected", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "virusdetected", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "authfailure", "5.7.26", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "securityerror", "5.7.0", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "contenterror", "5.6.0", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "rejected", "5.7.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "norelaying", "5.7.1", 554, 0, SUPPRESS_CLASS_POLICY },
		{ "requireptr", "5.7.25", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "filtered", "5.2.1", 550, 0, SUPPRESS_CLASS_POLICY },
		{ "speeding", "4.7.0", 421, 0, SUPPRESS_CLASS_POLICY },
		{ "mailboxfull", "5.2.2", 552, 0, SUPPRESS_CLASS_SOFT },
		{ "suspend", "5.2.1", 550, 0, SUPPRESS_CLASS_SOFT },
		{ "systemerror", "4.3.0", 451, 0, SUPPRESS_CLASS_SOFT },
		{ "networkerror", NULL, 0, 0, SUPPRESS_CLASS_SOFT },
		{ "expired", "4.4.7", 0, 0, SUPPRESS_CLASS_SOFT },
		{ "delivered", "2.0.0", 250, -1, SUPPRESS_CLASS_DELIVERED },
		{ "vacation", NULL, 0, -1, SUPPRESS_CLASS_IGNORE },
		{ "feedback", NULL, 0, -1, SUPPRESS_CLASS_IGNORE },
	};
	size_t i;
	enum suppress_class got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = suppress_classify(cases[i].reason, cases[i].status,
		    cases[i].reply, cases[i].hard);
		if (got != cases[i].want)
			fail_msg("case %zu (%s %s): got %s, want %s", i,
			    cases[i].reason ? cases[i].reason : "(null)",
			    cases[i].status ? cases[i].status : "(null)",
			    suppress_class_name(got),
			    suppress_class_name(cases[i].want));
	}
}

static void
test_ttl(void **state)
{
	struct ctx *c = *state;
	struct suppress_info info;
	uint64_t n;

	c->p.ttl = 7 * 86400;
	assert_int_equal(outcome(c, "gone@partner.test", T0, 550, "5.1.1",
	    "userunknown", 1), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_lookup(c->st, "gone@partner.test",
	    T0 + 7 * DAY - 1, &info), 1);
	assert_int_equal(info.expires_at, T0 + 7 * DAY);
	assert_int_equal(suppress_lookup(c->st, "gone@partner.test",
	    T0 + 7 * DAY, &info), 0);
	/* A counter untouched for 30 days goes with expire too. */
	assert_int_equal(soft(c, "stale@partner.test", T0), SUPPRESS_EFF_COUNTED);
	assert_int_equal(soft(c, "fresh@partner.test", T0 + 20 * DAY),
	    SUPPRESS_EFF_COUNTED);
	assert_int_equal(suppress_expire(c->st, T0 + 31 * DAY, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(count_of(c, "gone@partner.test"), 0);
	assert_int_equal(count_of(c, "stale@partner.test"), 0);
	assert_int_equal(count_of(c, "fresh@partner.test"), 1);
	/* After expiry the next hard bounce suppresses again. */
	assert_int_equal(outcome(c, "gone@partner.test", T0 + 32 * DAY, 550,
	    "5.1.1", "userunknown", 1), SUPPRESS_EFF_SUPPRESSED);
}

static void
test_operator(void **state)
{
	struct ctx *c = *state;
	struct suppress_info info;
	char text[SUPPRESS_REPLY_MAX];

	assert_int_equal(suppress_add(c->st, &c->p, "spamtrap@partner.test",
	    "complaint\r\n250 ok", T0), STORE_OK);
	assert_int_equal(suppress_lookup(c->st, "spamtrap@partner.test", T0,
	    &info), 1);
	assert_string_equal(info.source, "operator");
	/* Stored text never reaches a reply raw. */
	assert_true(suppress_reply_text(&info, text, sizeof(text)) > 0);
	assert_string_equal(text, "destination suppressed since 2026-01-02 "
	    "12:00 UTC by the postmaster (complaint250ok)");
	assert_int_equal(suppress_add(c->st, &c->p, "x@partner.test", NULL,
	    T0), STORE_OK);
	assert_int_equal(suppress_lookup(c->st, "x@partner.test", T0, &info),
	    1);
	assert_string_equal(info.reason, "operator");
	assert_int_equal(suppress_remove(c->st, "x@partner.test"), STORE_OK);
	assert_int_equal(suppress_remove(c->st, "x@partner.test"),
	    STORE_NOTFOUND);
	assert_false(suppressed(c, "x@partner.test", T0));
	/* Too small a buffer: -1 and "". */
	assert_int_equal(suppress_reply_text(&info, text, 20), -1);
	assert_string_equal(text, "");
}

static void
test_keys(void **state)
{
	char k[STORE_DEST_MAX], d[STORE_DOMAIN_MAX];

	(void)state;
	assert_int_equal(suppress_key("Alice@Example.TEST", "Bob@Partner.TEST",
	    k, sizeof(k)), 16);
	assert_string_equal(k, "bob@partner.test");
	assert_int_equal(suppress_key_domain(k, d, sizeof(d)), 0);
	assert_string_equal(d, "partner.test");
	assert_true(suppress_key("Alice@Example.TEST", "smtp://MX.example:2525",
	    k, sizeof(k)) > 0);
	assert_string_equal(k, "alice@example.test via smtp://mx.example:2525");
	assert_int_equal(suppress_key_domain(k, d, sizeof(d)), 0);
	assert_string_equal(d, "mx.example");
	assert_true(suppress_key("a@x.test", "smtp://[2001:db8::25]:25", k,
	    sizeof(k)) > 0);
	assert_int_equal(suppress_key_domain(k, d, sizeof(d)), 0);
	assert_string_equal(d, "2001:db8::25");
	assert_true(suppress_key("a@x.test", "maildir:/srv/A", k,
	    sizeof(k)) > 0);
	assert_string_equal(k, "a@x.test via maildir:/srv/a");
	assert_int_equal(suppress_key_domain(k, d, sizeof(d)), 0);
	assert_string_equal(d, "maildir");
	assert_true(suppress_key("A@X.test", NULL, k, sizeof(k)) > 0);
	assert_string_equal(k, "a@x.test");
	assert_true(suppress_key("A@X.test", "", k, sizeof(k)) > 0);
	assert_string_equal(k, "a@x.test");
	assert_int_equal(suppress_key("a@x.test", "b@y.test", k, 8), -1);
	assert_string_equal(k, "");
	assert_int_equal(suppress_key_domain("nodomain", d, sizeof(d)), -1);
	assert_int_equal(suppress_key_domain("a via ftp://x", d, sizeof(d)),
	    -1);
}

/* A route with several destinations: skip the suppressed ones only. */
static void
test_fanout(void **state)
{
	struct ctx *c = *state;
	const char *specs[3] = { "Bob@Partner.test", "smtp://10.0.0.5:25",
	    "carol@other.test" };
	struct suppress_info first;
	bool flags[3];
	char key[STORE_DEST_MAX];

	assert_int_equal(suppress_check_dests(c->st, "team@hosted.test", specs,
	    3, T0, flags, &first), 0);
	assert_false(flags[0] || flags[1] || flags[2]);
	assert_false(first.suppressed);
	assert_int_equal(outcome(c, "bob@partner.test", T0, 550, "5.1.1",
	    "userunknown", 1), SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_check_dests(c->st, "team@hosted.test", specs,
	    3, T0, flags, &first), 1);
	assert_true(flags[0]);
	assert_false(flags[1] || flags[2]);
	assert_string_equal(first.status, "5.1.1");
	/* The SMTP destination's key involves the recipient. */
	assert_true(suppress_key("Team@hosted.test", specs[1], key,
	    sizeof(key)) > 0);
	assert_int_equal(outcome(c, key, T0, 550, "5.1.1", "userunknown", 1),
	    SUPPRESS_EFF_SUPPRESSED);
	assert_int_equal(suppress_check_dests(c->st, "other@hosted.test",
	    specs, 3, T0, NULL, NULL), 1);
	assert_int_equal(suppress_check_dests(c->st, "team@hosted.test", specs,
	    3, T0, flags, NULL), 2);
	assert_int_equal(outcome(c, "carol@other.test", T0, 550, "5.1.1",
	    "userunknown", 1), SUPPRESS_EFF_SUPPRESSED);
	/* All of them: the RCPT is refused. */
	assert_int_equal(suppress_check_dests(c->st, "team@hosted.test", specs,
	    3, T0, flags, NULL), 3);
}

static void
test_config_policy(void **state)
{
	struct config cfg;
	struct suppress_policy p;

	(void)state;
	config_init(&cfg);
	suppress_policy_from_config(&p, &cfg);
	assert_int_equal(p.soft_threshold, 5);
	assert_int_equal(p.soft_window, 3 * 86400);
	assert_int_equal(p.ttl, 0);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(suppress_source_name(SUPPRESS_SRC_IN_SESSION),
	    "in-session");
	assert_string_equal(suppress_source_name(SUPPRESS_SRC_RETRY), "retry");
	assert_string_equal(suppress_source_name(SUPPRESS_SRC_RETURNED),
	    "returned-bounce");
	assert_string_equal(suppress_source_name(SUPPRESS_SRC_OPERATOR),
	    "operator");
	assert_string_equal(suppress_effect_name(SUPPRESS_EFF_SUPPRESSED),
	    "suppressed");
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_four_soft_then_success),
		T(test_five_soft_over_window),
		T(test_five_soft_too_fast),
		T(test_hard_at_once),
		T(test_policy_never),
		cmocka_unit_test(test_classify),
		T(test_ttl),
		T(test_operator),
		cmocka_unit_test(test_keys),
		T(test_fanout),
		cmocka_unit_test(test_config_policy),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
