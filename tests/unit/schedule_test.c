/*
 * sched_test - backoff schedule, jitter bounds, lifetime, run queue order,
 * per-host connection caps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sched.h"

static const struct sched_retry defaults = {
	.first = 300, .factor = 2.0, .max_interval = 14400, .jitter = 0.2,
	.lifetime = 3 * 86400,
};

static double
fixed_rand(void *arg)
{
	return *(double *)arg;
}

static void
test_backoff_defaults(void **state)
{
	static const unsigned expect[] = {
		0, 300, 600, 1200, 2400, 4800, 9600, 14400, 14400, 14400,
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		assert_int_equal(sched_backoff(300, 2.0, 14400, i), expect[i]);
	/* No overflow, no wrap, for absurd attempt numbers. */
	assert_int_equal(sched_backoff(300, 2.0, 14400, 64), 14400);
	assert_int_equal(sched_backoff(300, 2.0, 14400, 4000000000u), 14400);
	assert_int_equal(sched_backoff(300, 2.0, 0, 4000000000u), UINT32_MAX);
	/* Other factors, first above the cap, factor below 1 or NaN. */
	assert_int_equal(sched_backoff(300, 1.5, 14400, 2), 450);
	assert_int_equal(sched_backoff(300, 1.5, 14400, 3), 675);
	assert_int_equal(sched_backoff(300, 1.0, 14400, 50), 300);
	assert_int_equal(sched_backoff(20000, 2.0, 14400, 1), 14400);
	assert_int_equal(sched_backoff(300, 0.5, 14400, 5), 300);
	assert_int_equal(sched_backoff(300, 0.0 / 0.0, 14400, 5), 300);
	/* Second-scale test settings. */
	assert_int_equal(sched_backoff(1, 2.0, 8, 1), 1);
	assert_int_equal(sched_backoff(1, 2.0, 8, 4), 8);
	assert_int_equal(sched_backoff(1, 2.0, 8, 5), 8);
}

static void
test_next_attempt_jitter(void **state)
{
	struct sched_retry rc = defaults;
	time_t now = 1700000000, next, lo = 0, hi = 0;
	double u;
	int i;

	(void)state;
	/* Deterministic sources hit the ends and the middle. */
	u = 0.0;
	assert_int_equal(sched_next_attempt(now, now, 1, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 240);
	u = 0.5;
	assert_int_equal(sched_next_attempt(now, now, 1, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 300);
	u = 0.999999;
	assert_int_equal(sched_next_attempt(now, now, 1, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 360);
	/* A broken source is clamped into range. */
	u = 7.0;
	assert_int_equal(sched_next_attempt(now, now, 3, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 1440);
	u = -1.0;
	assert_int_equal(sched_next_attempt(now, now, 3, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 960);
	/* Jitter after the cap: around 14400. */
	u = 0.0;
	assert_int_equal(sched_next_attempt(now, now, 9, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 11520);

	/* The real source stays within +-20 % and uses both sides. */
	for (i = 0; i < 20000; i++) {
		time_t d;

		assert_int_equal(sched_next_attempt(now, now, 2, &rc, NULL,
		    NULL, &next), SCHED_RETRY);
		d = next - now;
		assert_true(d >= 480 && d <= 720);
		if (i == 0 || d < lo)
			lo = d;
		if (i == 0 || d > hi)
			hi = d;
	}
	assert_true(lo < 500);
	assert_true(hi > 700);

	/* Without jitter the schedule is exact; a retry never spins. */
	rc.jitter = 0;
	assert_int_equal(sched_next_attempt(now, now, 4, &rc, NULL, NULL,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 2400);
	assert_int_equal(sched_next_attempt(now, now, 0, &rc, NULL, NULL,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 1);
	rc.first = 1;
	rc.jitter = 0.9;
	u = 0.0;
	assert_int_equal(sched_next_attempt(now, now, 1, &rc, fixed_rand, &u,
	    &next), SCHED_RETRY);
	assert_int_equal(next - now, 1);
}

static void
test_lifetime(void **state)
{
	struct sched_retry rc = defaults;
	time_t first = 1000000, next;
	double u = 0.5;

	(void)state;
	rc.lifetime = 3600;
	/* Well inside: normal schedule. */
	assert_int_equal(sched_next_attempt(first + 100, first, 1, &rc,
	    fixed_rand, &u, &next), SCHED_RETRY);
	assert_int_equal(next, first + 400);
	/* The next attempt would be past the end: it is moved onto it. */
	assert_int_equal(sched_next_attempt(first + 3500, first, 5, &rc,
	    fixed_rand, &u, &next), SCHED_RETRY);
	assert_int_equal(next, first + 3600);
	/* That last attempt (at the deadline, or later) failed: expired. */
	assert_int_equal(sched_next_attempt(first + 3600, first, 6, &rc,
	    fixed_rand, &u, &next), SCHED_EXPIRED);
	assert_int_equal(sched_next_attempt(first + 9999, first, 6, &rc,
	    fixed_rand, &u, &next), SCHED_EXPIRED);
	assert_int_equal(sched_deadline(first, &rc), first + 3600);
	/* Lifetime 0: no retry. */
	rc.lifetime = 0;
	assert_int_equal(sched_next_attempt(first, first, 1, &rc, fixed_rand,
	    &u, &next), SCHED_EXPIRED);

	/* A whole life with the defaults and second-scale test values. */
	rc.first = 1;
	rc.factor = 2;
	rc.max_interval = 8;
	rc.jitter = 0;
	rc.lifetime = 30;
	{
		static const time_t expect[] = { 1, 3, 7, 15, 23, 30 };
		time_t now = first;
		unsigned attempts = 1, i = 0;

		while (sched_next_attempt(now, first, attempts, &rc, NULL,
		    NULL, &next) == SCHED_RETRY) {
			assert_true(i < 6);
			assert_int_equal(next - first, expect[i]);
			now = next;
			attempts++;
			i++;
		}
		assert_int_equal(i, 6);
		assert_int_equal(now - first, 30);
	}
}

static void
test_delay_warning(void **state)
{
	(void)state;
	assert_false(sched_delay_warning_due(1000 + 99999, 1000, 0));
	assert_false(sched_delay_warning_due(1000 + 14399, 1000, 14400));
	assert_true(sched_delay_warning_due(1000 + 14400, 1000, 14400));
}

static void
test_from_config(void **state)
{
	struct config cfg;
	struct sched_retry rc;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.retry_first = 60;
	cfg.retry_factor = 3;
	cfg.retry_max_interval = 7200;
	cfg.retry_jitter = 0.1;
	cfg.retry_lifetime = 86400;
	sched_retry_from_config(&cfg, &rc);
	assert_int_equal(rc.first, 60);
	assert_true(rc.factor == 3.0);
	assert_int_equal(rc.max_interval, 7200);
	assert_true(rc.jitter == 0.1);
	assert_int_equal(rc.lifetime, 86400);
}

static void
make_id(char id[SPOOL_ID_SIZE], unsigned n)
{
	snprintf(id, SPOOL_ID_SIZE, "%016x", n);
}

static void
test_heap_order(void **state)
{
	struct sched *s = sched_new(10);
	struct sched_entry e;
	char id[SPOOL_ID_SIZE];
	time_t last = 0;
	unsigned i, seen[2000] = { 0 };

	(void)state;
	assert_non_null(s);
	assert_false(sched_queue_peek(s, &e));
	assert_false(sched_queue_pop_due(s, 1 << 30, &e));
	srand(12345);
	for (i = 0; i < 2000; i++) {
		make_id(id, i);
		assert_int_equal(sched_queue_push(s, 1000 + rand() % 500, id,
		    i % 7), SCHED_OK);
	}
	assert_int_equal(sched_queue_len(s), 2000);
	assert_int_equal(sched_queue_push(s, 1, "nope", 0), SCHED_EINVAL);
	/* Nothing is due before the earliest time. */
	assert_true(sched_queue_peek(s, &e));
	assert_false(sched_queue_pop_due(s, e.when - 1, &e));
	for (i = 0; i < 2000; i++) {
		unsigned n;

		assert_true(sched_queue_pop_due(s, 2000, &e));
		assert_true(e.when >= last);
		last = e.when;
		n = (unsigned)strtoul(e.id, NULL, 16);
		assert_true(n < 2000);
		assert_int_equal(e.rcpt, n % 7);
		seen[n]++;
	}
	for (i = 0; i < 2000; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(sched_queue_len(s), 0);

	/* Equal times: first in, first out. */
	for (i = 0; i < 10; i++) {
		make_id(id, i);
		assert_int_equal(sched_queue_push(s, 5000, id, i), SCHED_OK);
	}
	make_id(id, 99);
	assert_int_equal(sched_queue_push(s, 4999, id, 0), SCHED_OK);
	assert_true(sched_queue_pop_due(s, 5000, &e));
	assert_string_equal(e.id, "0000000000000063");
	for (i = 0; i < 10; i++) {
		assert_true(sched_queue_pop_due(s, 5000, &e));
		assert_int_equal(e.rcpt, i);
	}
	/* pop_due respects now. */
	make_id(id, 1);
	sched_queue_push(s, 100, id, 0);
	sched_queue_push(s, 200, id, 1);
	assert_true(sched_queue_pop_due(s, 150, &e));
	assert_int_equal(e.when, 100);
	assert_false(sched_queue_pop_due(s, 150, &e));
	assert_true(sched_queue_pop_due(s, 200, &e));
	sched_free(s);
}

static void
test_remove_reschedule(void **state)
{
	struct sched *s = sched_new(10);
	struct sched_entry e;
	char a[SPOOL_ID_SIZE], b[SPOOL_ID_SIZE], c[SPOOL_ID_SIZE];
	unsigned i;

	(void)state;
	make_id(a, 0xa);
	make_id(b, 0xb);
	make_id(c, 0xc);
	for (i = 0; i < 5; i++) {
		sched_queue_push(s, 1000 + i, a, i);
		sched_queue_push(s, 2000 + i, b, i);
		sched_queue_push(s, 3000 + i, c, i);
	}
	/* queue delete */
	assert_int_equal(sched_queue_remove(s, b), 5);
	assert_int_equal(sched_queue_remove(s, b), 0);
	assert_int_equal(sched_queue_len(s), 10);
	/* queue retry ID: c moves before a */
	assert_int_equal(sched_queue_reschedule(s, c, 10), 5);
	for (i = 0; i < 5; i++) {
		assert_true(sched_queue_pop_due(s, 10, &e));
		assert_string_equal(e.id, c);
	}
	assert_false(sched_queue_pop_due(s, 999, &e));
	/* queue retry --all */
	assert_int_equal(sched_queue_reschedule(s, NULL, 20), 5);
	assert_true(sched_queue_peek(s, &e));
	assert_int_equal(e.when, 20);
	for (i = 0; i < 5; i++)
		assert_true(sched_queue_pop_due(s, 20, &e));
	assert_int_equal(sched_queue_len(s), 0);
	sched_free(s);
}

static void
test_host_caps(void **state)
{
	struct sched *s = sched_new(3);
	char host[64];
	unsigned i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < 3; i++)
		assert_int_equal(sched_host_acquire(s, "mx.example.test"),
		    SCHED_OK);
	assert_int_equal(sched_host_acquire(s, "mx.example.test"), SCHED_EBUSY);
	/* Host names compare case-insensitively. */
	assert_int_equal(sched_host_acquire(s, "MX.Example.TEST"), SCHED_EBUSY);
	assert_int_equal(sched_host_count(s, "mx.EXAMPLE.test"), 3);
	/* Another host is independent. */
	assert_int_equal(sched_host_acquire(s, "127.0.0.1"), SCHED_OK);
	assert_int_equal(sched_host_active(s), 2);
	/* Releasing one slot lets one more in. */
	assert_int_equal(sched_host_release(s, "mx.example.test"), SCHED_OK);
	assert_int_equal(sched_host_acquire(s, "mx.example.test"), SCHED_OK);
	assert_int_equal(sched_host_acquire(s, "mx.example.test"), SCHED_EBUSY);
	for (i = 0; i < 3; i++)
		assert_int_equal(sched_host_release(s, "Mx.Example.Test"),
		    SCHED_OK);
	assert_int_equal(sched_host_count(s, "mx.example.test"), 0);
	assert_int_equal(sched_host_release(s, "mx.example.test"),
	    SCHED_EINVAL);
	assert_int_equal(sched_host_active(s), 1);
	assert_int_equal(sched_host_acquire(s, ""), SCHED_EINVAL);
	assert_int_equal(sched_host_acquire(s, NULL), SCHED_EINVAL);

	/* Lowering the cap (SIGHUP) blocks new slots, keeps old ones. */
	sched_set_max_per_host(s, 1);
	assert_int_equal(sched_host_acquire(s, "127.0.0.1"), SCHED_EBUSY);
	assert_int_equal(sched_host_count(s, "127.0.0.1"), 1);
	sched_set_max_per_host(s, 0);	/* no cap */
	for (i = 0; i < 100; i++)
		assert_int_equal(sched_host_acquire(s, "127.0.0.1"), SCHED_OK);
	assert_int_equal(sched_host_count(s, "127.0.0.1"), 101);

	/* Many hosts: the table grows and every count stays right. */
	sched_set_max_per_host(s, 2);
	for (i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "mx%u.example.test", i);
		assert_int_equal(sched_host_acquire(s, host), SCHED_OK);
		assert_int_equal(sched_host_acquire(s, host), SCHED_OK);
		assert_int_equal(sched_host_acquire(s, host), SCHED_EBUSY);
	}
	assert_int_equal(sched_host_active(s), 5001);
	for (i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "MX%u.example.test", i);
		assert_int_equal(sched_host_count(s, host), 2);
		assert_int_equal(sched_host_release(s, host), SCHED_OK);
		assert_int_equal(sched_host_release(s, host), SCHED_OK);
	}
	assert_int_equal(sched_host_active(s), 1);
	sched_free(s);	/* frees the remaining entry (ASan checks) */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_defaults),
		cmocka_unit_test(test_next_attempt_jitter),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_delay_warning),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_heap_order),
		cmocka_unit_test(test_remove_reschedule),
		cmocka_unit_test(test_host_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
