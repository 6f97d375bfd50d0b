/*
 * srs_test - SRS0/SRS1 forward and reverse: vectors computed independently
 * (Python's hmac over the documented input), round trips, case changes,
 * tampering, expiry with an injected clock, secret rotation, limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "srs.h"

#define DOMAIN	"srs.example.net"
#define SECRET	"tops3cret"
#define NOW	((int64_t)1700000000)	/* day 19675; 19675 % 1024 = 219 = "G3" */
#define DAY	((int64_t)86400)

/*
 * Expected values, from:
 *   data = b"".join(f.lower().encode() + b"\0" for f in fields)
 *   base64(HMAC-SHA256(b"tops3cret", data)[:3])
 */
#define V_ALICE	"SRS0=tJzY=G3=example.com=alice@" DOMAIN
#define V_MIXED	"SRS0=DRsl=G3=Example.COM=Alice.Smith@" DOMAIN
#define V_SRS1	"SRS1=93lT=fwd1.example==HHHH=G3=orig.example=bob@" DOMAIN

static struct srs s;

static int
setup(void **state)
{
	(void)state;
	return srs_init(&s, DOMAIN, SECRET, 0) == SRS_OK ? 0 : -1;
}

static void
test_init(void **state)
{
	struct srs t;
	char big[SRS_SECRET_MAX + 2];

	(void)state;
	assert_int_equal(s.max_age, SRS_MAX_AGE_DEFAULT);
	assert_int_equal(srs_init(&t, "", SECRET, 0), SRS_EARG);
	assert_int_equal(srs_init(&t, DOMAIN, "", 0), SRS_EARG);
	assert_int_equal(srs_init(&t, DOMAIN, NULL, 0), SRS_EARG);
	assert_int_equal(srs_init(&t, DOMAIN, SECRET, 1001), SRS_EARG);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(srs_init(&t, DOMAIN, big, 0), SRS_EARG);
	assert_int_equal(srs_init(&t, DOMAIN, SECRET, 7), SRS_OK);
	assert_int_equal(t.max_age, 7);
}

static void
test_vectors(void **state)
{
	char out[SRS_ADDR_MAX];

	(void)state;
	assert_int_equal(srs_forward(&s, "alice@example.com", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, V_ALICE);
	/* Case is kept in the address; the hash is over lowercase. */
	assert_int_equal(srs_forward(&s, "Alice.Smith@Example.COM", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, V_MIXED);
	/* Any second of the same day gives the same address. */
	assert_int_equal(srs_forward(&s, "alice@example.com",
	    NOW - NOW % DAY, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, V_ALICE);
	assert_int_equal(srs_forward(&s, "alice@example.com",
	    NOW - NOW % DAY + DAY - 1, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, V_ALICE);
	/* The next day changes stamp and hash. */
	assert_int_equal(srs_forward(&s, "alice@example.com",
	    NOW - NOW % DAY + DAY, out, sizeof(out)), SRS_OK);
	assert_memory_equal(out, "SRS0=", 5);
	assert_memory_equal(out + 9, "=G4=example.com=alice@", 22);
	assert_string_not_equal(out, V_ALICE);
}

static void
test_round_trip(void **state)
{
	static const char *const senders[] = {
		"alice@example.com", "Alice.Smith@Example.COM",
		"a+tag=x@sub.example.org", "x@y.z",
		"first.last-name_99@mail.example.co.uk",
		"\xc3\xa9" "l\xc3\xa8" "ve@\xc3\xa9" "cole.example",	/* SMTPUTF8 */
	};
	char fwd[SRS_ADDR_MAX], back[SRS_ADDR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		assert_int_equal(srs_forward(&s, senders[i], NOW, fwd,
		    sizeof(fwd)), SRS_OK);
		assert_true(srs_is_srs(fwd));
		assert_int_equal(srs_reverse(&s, fwd, NOW + 3 * DAY, back,
		    sizeof(back)), SRS_OK);
		assert_string_equal(back, senders[i]);
	}
}

static void
upper(char *p)
{
	for (; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
}

static void
lower(char *p)
{
	for (; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static void
test_case_insensitive(void **state)
{
	char a[SRS_ADDR_MAX], out[SRS_ADDR_MAX];

	(void)state;
	snprintf(a, sizeof(a), "%s", V_ALICE);
	upper(a);
	assert_int_equal(srs_reverse(&s, a, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "ALICE@EXAMPLE.COM");
	lower(a);
	assert_int_equal(srs_reverse(&s, a, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "alice@example.com");
	/* Just the hash's case changed. */
	assert_int_equal(srs_reverse(&s, "SRS0=TjZy=G3=example.com=alice@"
	    DOMAIN, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "alice@example.com");
	/* The tag and the stamp too, with libsrs2's other separators. */
	assert_int_equal(srs_reverse(&s, "srs0+tJzY=g3=example.com=alice@"
	    DOMAIN, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "alice@example.com");
	snprintf(a, sizeof(a), "%s", V_SRS1);
	upper(a);
	assert_int_equal(srs_reverse(&s, a, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "SRS0=HHHH=G3=ORIG.EXAMPLE=BOB@FWD1.EXAMPLE");
}

static void
test_tampering(void **state)
{
	static const char *const forged[] = {
		"SRS0=tJzZ=G3=example.com=alice@" DOMAIN,	/* hash */
		"SRS0=AAAA=G3=example.com=alice@" DOMAIN,
		"SRS0=tJzY=G4=example.com=alice@" DOMAIN,	/* stamp */
		"SRS0=tJzY=G3=example.org=alice@" DOMAIN,	/* host */
		"SRS0=tJzY=G3=example.com=alicf@" DOMAIN,	/* user */
		"SRS0=tJzY=G3=example.com=alice2@" DOMAIN,
		/* A character moved from host to user. */
		"SRS0=tJzY=G3=example.co=malice@" DOMAIN,
		"SRS1=93lT=fwd1.example==HHHH=G3=orig.example=eve@" DOMAIN,
		"SRS1=93lT=fwd2.example==HHHH=G3=orig.example=bob@" DOMAIN,
		"SRS1=93lU=fwd1.example==HHHH=G3=orig.example=bob@" DOMAIN,
		/* Syntax. */
		"SRS0=tJzY@" DOMAIN,
		"SRS0=tJzY=G3@" DOMAIN,
		"SRS0=tJzY=G3=example.com@" DOMAIN,
		"SRS0=tJzY=G3=example.com=@" DOMAIN,
		"SRS0=tJzY=G3==alice@" DOMAIN,
		"SRS0=tJz=G3=example.com=alice@" DOMAIN,
		"SRS0=tJzYY=G3=example.com=alice@" DOMAIN,
		"SRS0=tJzY=G=example.com=alice@" DOMAIN,
		"SRS0=tJzY=G1=example.com=alice@" DOMAIN,	/* not base32 */
		"SRS0=tJzY=G3=example.com=al ice@" DOMAIN,
		"SRS1=93lT@" DOMAIN,
		"SRS1=93lT=fwd1.example@" DOMAIN,
		"SRS1=93lT==HHHH=G3=orig.example=bob@" DOMAIN,
		"SRS1=93lT=fwd1.example=@" DOMAIN,
		"SRS1=93lT=fwd1.example=xHHHH@" DOMAIN,
	};
	char out[SRS_ADDR_MAX];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		snprintf(out, sizeof(out), "junk");
		rc = srs_reverse(&s, forged[i], NOW, out, sizeof(out));
		if (rc != SRS_EINVALID)
			fail_msg("%s: got %d (%s), want invalid", forged[i], rc,
			    srs_strerror(rc));
		assert_string_equal(out, "");
	}
	/* A different secret does not verify. */
	{
		struct srs other;

		assert_int_equal(srs_init(&other, DOMAIN, "another", 0), SRS_OK);
		assert_int_equal(srs_reverse(&other, V_ALICE, NOW, out,
		    sizeof(out)), SRS_EINVALID);
	}
}

static void
test_expiry(void **state)
{
	char out[SRS_ADDR_MAX], a[SRS_ADDR_MAX];
	struct srs t;
	int64_t signed_at = NOW;

	(void)state;
	/* Signed on day 219; valid for 21 days after it. */
	assert_int_equal(srs_reverse(&s, V_ALICE, signed_at + 21 * DAY, out,
	    sizeof(out)), SRS_OK);
	assert_int_equal(srs_reverse(&s, V_ALICE, signed_at + 22 * DAY, out,
	    sizeof(out)), SRS_EEXPIRED);
	assert_string_equal(out, "");
	assert_int_equal(srs_reverse(&s, V_ALICE, signed_at + 500 * DAY, out,
	    sizeof(out)), SRS_EEXPIRED);
	/* Up to a day ahead is clock skew between nodes, still good... */
	assert_int_equal(srs_reverse(&s, V_ALICE, signed_at - DAY, out,
	    sizeof(out)), SRS_OK);
	/* ... two days ahead is not. */
	assert_int_equal(srs_reverse(&s, V_ALICE, signed_at - 2 * DAY, out,
	    sizeof(out)), SRS_EEXPIRED);
	/* Expiry is checked after the hash: a forged old one is invalid. */
	assert_int_equal(srs_reverse(&s, "SRS0=AAAA=G3=example.com=alice@"
	    DOMAIN, signed_at + 100 * DAY, out, sizeof(out)), SRS_EINVALID);
	/* A shorter max_age. */
	assert_int_equal(srs_init(&t, DOMAIN, SECRET, 3), SRS_OK);
	assert_int_equal(srs_reverse(&t, V_ALICE, signed_at + 3 * DAY, out,
	    sizeof(out)), SRS_OK);
	assert_int_equal(srs_reverse(&t, V_ALICE, signed_at + 4 * DAY, out,
	    sizeof(out)), SRS_EEXPIRED);
	/* Across the wrap of the 1024-day stamp: day 1023 -> day 1025. */
	assert_int_equal(srs_forward(&s, "bob@example.com", 1023 * DAY, a,
	    sizeof(a)), SRS_OK);
	assert_memory_equal(a + 9, "=77=", 4);	/* 1023 = 31,31 */
	assert_int_equal(srs_reverse(&s, a, 1025 * DAY, out, sizeof(out)),
	    SRS_OK);
	assert_string_equal(out, "bob@example.com");
	assert_int_equal(srs_reverse(&s, a, (1023 + 22) * DAY, out,
	    sizeof(out)), SRS_EEXPIRED);
}

static void
test_not_rewritten(void **state)
{
	char out[SRS_ADDR_MAX];

	(void)state;
	snprintf(out, sizeof(out), "junk");
	assert_int_equal(srs_forward(&s, "", NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "");
	assert_int_equal(srs_forward(&s, "someone@SRS.Example.NET", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, "someone@SRS.Example.NET");
	assert_int_equal(srs_forward(&s, "nodomain", NOW, out, sizeof(out)),
	    SRS_EARG);
	assert_int_equal(srs_forward(&s, "@example.com", NOW, out,
	    sizeof(out)), SRS_EARG);
	assert_int_equal(srs_forward(&s, "alice@", NOW, out, sizeof(out)),
	    SRS_EARG);
	assert_int_equal(srs_forward(&s, "\"a b\"@example.com", NOW, out,
	    sizeof(out)), SRS_EARG);
	assert_int_equal(srs_forward(&s, "a@ex=ample.com", NOW, out,
	    sizeof(out)), SRS_EARG);
}

static void
test_srs1(void **state)
{
	char out[SRS_ADDR_MAX], again[SRS_ADDR_MAX], back[SRS_ADDR_MAX];
	struct srs fwd2;

	(void)state;
	/* An SRS0 address of an earlier forwarder becomes SRS1. */
	assert_int_equal(srs_forward(&s,
	    "SRS0=HHHH=G3=orig.example=bob@fwd1.example", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, V_SRS1);
	/* SRS1 has no stamp of its own: the first forwarder checks age. */
	assert_int_equal(srs_reverse(&s, out, NOW + 100 * DAY, back,
	    sizeof(back)), SRS_OK);
	assert_string_equal(back, "SRS0=HHHH=G3=orig.example=bob@fwd1.example");

	/* Through a third hop: the first forwarder's host stays. */
	assert_int_equal(srs_init(&fwd2, "hop3.example", "s3", 0), SRS_OK);
	assert_int_equal(srs_forward(&fwd2, out, NOW, again, sizeof(again)),
	    SRS_OK);
	assert_memory_equal(again, "SRS1=", 5);
	assert_non_null(strstr(again,
	    "=fwd1.example==HHHH=G3=orig.example=bob@hop3.example"));
	assert_int_equal(srs_reverse(&fwd2, again, NOW, back, sizeof(back)),
	    SRS_OK);
	assert_string_equal(back, "SRS0=HHHH=G3=orig.example=bob@fwd1.example");

	/* And our own full chain: forward, forward, reverse, reverse. */
	assert_int_equal(srs_forward(&s, "carol@orig.example", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_int_equal(srs_forward(&fwd2, out, NOW, again, sizeof(again)),
	    SRS_OK);
	assert_int_equal(srs_reverse(&fwd2, again, NOW, back, sizeof(back)),
	    SRS_OK);
	assert_string_equal(back, out);
	assert_int_equal(srs_reverse(&s, back, NOW, out, sizeof(out)), SRS_OK);
	assert_string_equal(out, "carol@orig.example");
	/* A malformed SRS1 cannot be wrapped again. */
	assert_int_equal(srs_forward(&s, "SRS1=xxxx@fwd.example", NOW, out,
	    sizeof(out)), SRS_EARG);
}

static void
test_rotation(void **state)
{
	struct srs t;
	char out[SRS_ADDR_MAX];

	(void)state;
	/* The new secret signs; the old one still verifies. */
	assert_int_equal(srs_init(&t, DOMAIN, "new secret", 0), SRS_OK);
	assert_int_equal(srs_add_secret(&t, SECRET), SRS_OK);
	assert_int_equal(srs_reverse(&t, V_ALICE, NOW, out, sizeof(out)),
	    SRS_OK);
	assert_string_equal(out, "alice@example.com");
	assert_int_equal(srs_forward(&t, "alice@example.com", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_not_equal(out, V_ALICE);
	assert_int_equal(srs_add_secret(&t, ""), SRS_EARG);
	assert_int_equal(srs_add_secret(&t, "3"), SRS_OK);
	assert_int_equal(srs_add_secret(&t, "4"), SRS_OK);
	assert_int_equal(srs_add_secret(&t, "5"), SRS_EARG);	/* full */
}

static void
test_not_srs_and_limits(void **state)
{
	char out[SRS_ADDR_MAX], small[20];

	(void)state;
	assert_int_equal(srs_reverse(&s, "alice@" DOMAIN, NOW, out,
	    sizeof(out)), SRS_ENOTSRS);
	assert_int_equal(srs_reverse(&s, "SRS0=tJzY=G3=example.com=alice@"
	    "other.example", NOW, out, sizeof(out)), SRS_ENOTSRS);
	assert_int_equal(srs_reverse(&s, "SRS2=tJzY=G3=example.com=alice@"
	    DOMAIN, NOW, out, sizeof(out)), SRS_ENOTSRS);
	assert_int_equal(srs_reverse(&s, "SRS0", NOW, out, sizeof(out)),
	    SRS_ENOTSRS);
	assert_int_equal(srs_reverse(&s, "", NOW, out, sizeof(out)),
	    SRS_ENOTSRS);
	assert_false(srs_is_srs("alice@example.com"));
	assert_false(srs_is_srs("SRS0@example.com"));
	assert_true(srs_is_srs("srs1-x@example.com"));
	/* Output too small: an error and an empty string, never a prefix. */
	snprintf(small, sizeof(small), "junk");
	assert_int_equal(srs_forward(&s, "alice@example.com", NOW, small,
	    sizeof(small)), SRS_ETOOLONG);
	assert_string_equal(small, "");
	assert_int_equal(srs_reverse(&s, V_ALICE, NOW, small, 17),
	    SRS_ETOOLONG);
	assert_string_equal(small, "");
	assert_int_equal(srs_reverse(&s, V_ALICE, NOW, small, 18), SRS_OK);
	assert_string_equal(small, "alice@example.com");
	assert_int_equal(srs_forward(&s, "alice@example.com", NOW, out, 0),
	    SRS_ETOOLONG);
}

static void
test_from_config(void **state)
{
	struct config cfg;
	struct srs t;
	char out[SRS_ADDR_MAX];

	(void)state;
	config_init(&cfg);
	assert_int_equal(srs_init_config(&t, &cfg), SRS_EOFF);
	snprintf(cfg.srs_domain, sizeof(cfg.srs_domain), "%s", DOMAIN);
	snprintf(cfg.srs_secret, sizeof(cfg.srs_secret), "%s", SECRET);
	cfg.srs_max_age = 10 * 86400 + 3600;	/* whole days count */
	assert_int_equal(srs_init_config(&t, &cfg), SRS_OK);
	assert_int_equal(t.max_age, 10);
	assert_int_equal(srs_forward(&t, "alice@example.com", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, V_ALICE);
	cfg.srs_secret[0] = '\0';
	assert_int_equal(srs_init_config(&t, &cfg), SRS_EARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_not_rewritten),
		cmocka_unit_test(test_srs1),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_not_srs_and_limits),
		cmocka_unit_test(test_from_config),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
