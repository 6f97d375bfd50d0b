/*
 * srs - the Sender Rewriting Scheme.  See srs.h for the address forms.
 *
 * The HMAC input is the lowercased fields joined by NUL bytes (libsrs2
 * joins them with nothing, which lets an attacker move characters between
 * the host and the local part of a valid address without changing the
 * hash; a separator that can occur in neither field closes that).
 */
#include "srs.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define SRS_DAY		86400
#define SRS_TS_MOD	1024		/* two base32 characters */
#define SRS_FIELDS_MAX	(2 * SRS_ADDR_MAX)

static const char srs_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char srs_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *
srs_strerror(int err)
{
	switch (err) {
	case SRS_OK:
		return "ok";
	case SRS_ENOTSRS:
		return "not an SRS address of this domain";
	case SRS_EINVALID:
		return "invalid SRS address (bad hash or syntax)";
	case SRS_EEXPIRED:
		return "SRS address too old";
	case SRS_ETOOLONG:
		return "address too long";
	case SRS_EARG:
		return "bad argument";
	case SRS_ECRYPTO:
		return "HMAC computation failed";
	case SRS_EOFF:
		return "SRS is not configured";
	}
	return "unknown SRS error";
}

static int
srs_set_secret(struct srs *s, size_t i, const char *secret)
{
	size_t len;

	if (secret == NULL || (len = strlen(secret)) == 0 ||
	    len > SRS_SECRET_MAX)
		return SRS_EARG;
	memcpy(s->secret[i], secret, len + 1);
	s->secret_len[i] = len;
	return SRS_OK;
}

int
srs_init(struct srs *s, const char *domain, const char *secret,
    unsigned max_age)
{
	size_t len;

	memset(s, 0, sizeof(*s));
	if (domain == NULL || (len = strlen(domain)) == 0 ||
	    len > SRS_DOMAIN_MAX || max_age > 1000)
		return SRS_EARG;
	memcpy(s->domain, domain, len + 1);
	if (srs_set_secret(s, 0, secret) != SRS_OK)
		return SRS_EARG;
	s->nsecrets = 1;
	s->max_age = max_age ? max_age : SRS_MAX_AGE_DEFAULT;
	return SRS_OK;
}

int
srs_init_config(struct srs *s, const struct config *cfg)
{
	unsigned days = cfg->srs_max_age / SRS_DAY;

	memset(s, 0, sizeof(*s));
	if (cfg->srs_domain[0] == '\0')
		return SRS_EOFF;
	return srs_init(s, cfg->srs_domain, cfg->srs_secret, days ? days : 1);
}

int
srs_add_secret(struct srs *s, const char *secret)
{
	if (s->nsecrets == SRS_SECRETS_MAX ||
	    srs_set_secret(s, s->nsecrets, secret) != SRS_OK)
		return SRS_EARG;
	s->nsecrets++;
	return SRS_OK;
}

static char
srs_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * HMAC-SHA-256 under secret i of the nf fields (lowercased, joined by
 * NUL), base64, first SRS_HASH_LEN characters into hash (not terminated).
 */
static int
srs_hash(const struct srs *s, size_t i, const char *const *f,
    const size_t *flen, size_t nf, char hash[SRS_HASH_LEN])
{
	unsigned char data[SRS_FIELDS_MAX], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0, k, j;
	unsigned v;

	for (k = 0; k < nf; k++) {
		if (flen[k] > sizeof(data) - n - 1)
			return SRS_ETOOLONG;
		for (j = 0; j < flen[k]; j++)
			data[n++] = (unsigned char)srs_lower(f[k][j]);
		data[n++] = '\0';
	}
	if (HMAC(EVP_sha256(), s->secret[i], (int)s->secret_len[i], data, n,
	    md, &mdlen) == NULL || mdlen < 3 * ((SRS_HASH_LEN + 3) / 4))
		return SRS_ECRYPTO;
	/* RFC 4648 section 4: each 3 bytes give 4 characters. */
	for (k = 0, j = 0; k < SRS_HASH_LEN; k += 4, j += 3) {
		v = (unsigned)md[j] << 16 | (unsigned)md[j + 1] << 8 | md[j + 2];
		hash[k] = srs_b64[(v >> 18) & 63];
		if (k + 1 < SRS_HASH_LEN)
			hash[k + 1] = srs_b64[(v >> 12) & 63];
		if (k + 2 < SRS_HASH_LEN)
			hash[k + 2] = srs_b64[(v >> 6) & 63];
		if (k + 3 < SRS_HASH_LEN)
			hash[k + 3] = srs_b64[v & 63];
	}
	return SRS_OK;
}

/* Does given (SRS_HASH_LEN chars) match the hash under any secret? */
static int
srs_hash_check(const struct srs *s, const char *given, const char *const *f,
    const size_t *flen, size_t nf)
{
	char want[SRS_HASH_LEN], got[SRS_HASH_LEN];
	size_t i, k;
	int rc;

	for (k = 0; k < SRS_HASH_LEN; k++)
		got[k] = srs_lower(given[k]);
	for (i = 0; i < s->nsecrets; i++) {
		if ((rc = srs_hash(s, i, f, flen, nf, want)) != SRS_OK)
			return rc;
		for (k = 0; k < SRS_HASH_LEN; k++)
			want[k] = srs_lower(want[k]);
		/* Constant time, so timing tells nothing about the hash. */
		if (CRYPTO_memcmp(want, got, SRS_HASH_LEN) == 0)
			return SRS_OK;
	}
	return SRS_EINVALID;
}

/* Today's day number mod 1024. */
static unsigned
srs_today(int64_t now)
{
	return now <= 0 ? 0 : (unsigned)((now / SRS_DAY) % SRS_TS_MOD);
}

static int
srs_b32_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	c = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	p = strchr(srs_b32, c);
	return p ? (int)(p - srs_b32) : -1;
}

static int
srs_sep(char c)
{
	/* libsrs2 accepts these three after the SRS0/SRS1 tag. */
	return c == '=' || c == '+' || c == '-';
}

/* Which tag local starts with: 0 for SRS0, 1 for SRS1, -1 for neither. */
static int
srs_tag(const char *local, size_t len)
{
	if (len < 5 || strncasecmp(local, "SRS", 3) != 0 || !srs_sep(local[4]))
		return -1;
	return local[3] == '0' ? 0 : local[3] == '1' ? 1 : -1;
}

int
srs_is_srs(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return srs_tag(addr, at ? (size_t)(at - addr) : strlen(addr)) != -1;
}

/* Append len bytes of p to out at *n; SRS_ETOOLONG if it does not fit. */
static int
srs_put(char *out, size_t outsz, size_t *n, const char *p, size_t len)
{
	if (len >= outsz - *n)
		return SRS_ETOOLONG;
	memcpy(out + *n, p, len);
	*n += len;
	out[*n] = '\0';
	return SRS_OK;
}

/* Join the pieces (pointer, length pairs, NULL-terminated) into out. */
static int
srs_join(char *out, size_t outsz, const char *const *p, const size_t *len)
{
	size_t n = 0, i;

	if (outsz == 0)
		return SRS_ETOOLONG;
	out[0] = '\0';
	for (i = 0; p[i] != NULL; i++)
		if (srs_put(out, outsz, &n, p[i], len[i]) != SRS_OK) {
			out[0] = '\0';
			return SRS_ETOOLONG;
		}
	return SRS_OK;
}

/* Bytes an address may hold here: no controls, blanks or quotes. */
static int
srs_text_ok(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '"' ||
		    p[i] == '<' || p[i] == '>')
			return 0;
	return 1;
}

int
srs_forward(const struct srs *s, const char *sender, int64_t now, char *out,
    size_t outsz)
{
	const char *at, *local, *host, *hash_in, *rest, *p[12];
	size_t llen, hlen, len[12], flen[3];
	char hash[SRS_HASH_LEN], ts[2];
	const char *f[3];
	unsigned day;
	int tag, rc;

	if (outsz == 0)
		return SRS_ETOOLONG;
	out[0] = '\0';
	if (sender[0] == '\0')
		return SRS_OK;		/* <> stays <> (RFC 5321 4.5.5) */
	if ((at = strrchr(sender, '@')) == NULL || at == sender ||
	    at[1] == '\0')
		return SRS_EARG;
	local = sender;
	llen = (size_t)(at - sender);
	host = at + 1;
	hlen = strlen(host);
	if (!srs_text_ok(local, llen) || !srs_text_ok(host, hlen) ||
	    memchr(host, '=', hlen) != NULL || memchr(host, '@', hlen) != NULL)
		return SRS_EARG;
	if (strcasecmp(host, s->domain) == 0) {
		/* Already ours: SPF passes for it as it is. */
		p[0] = sender;
		len[0] = strlen(sender);
		p[1] = NULL;
		return srs_join(out, outsz, p, len);
	}

	tag = srs_tag(local, llen);
	if (tag == 0 || tag == 1) {
		const char *srshost, *srsuser;
		size_t shlen, sulen;

		if (tag == 0) {
			/*
			 * SRS0 from a forwarder before us: keep its host and
			 * everything after "SRS0", so the bounce can go back
			 * there (libsrs2's srs_compile_guarded).
			 */
			srshost = host;
			shlen = hlen;
			srsuser = local + 4;	/* from the separator on */
			sulen = llen - 4;
		} else {
			/* SRS1=HHHH=first.host==...: keep the first host. */
			hash_in = local + 5;
			rest = memchr(hash_in, '=', llen - 5);
			if (rest == NULL)
				return SRS_EARG;
			srshost = rest + 1;
			rest = memchr(srshost, '=',
			    llen - (size_t)(srshost - local));
			if (rest == NULL || rest == srshost)
				return SRS_EARG;
			shlen = (size_t)(rest - srshost);
			srsuser = rest + 1;
			sulen = llen - (size_t)(srsuser - local);
		}
		/* What srs_reverse1() will need to find again. */
		if (sulen < 2 || !srs_sep(srsuser[0]))
			return SRS_EARG;
		f[0] = srshost;
		flen[0] = shlen;
		f[1] = srsuser;
		flen[1] = sulen;
		if ((rc = srs_hash(s, 0, f, flen, 2, hash)) != SRS_OK)
			return rc;
		p[0] = "SRS1=";		len[0] = 5;
		p[1] = hash;		len[1] = SRS_HASH_LEN;
		p[2] = "=";		len[2] = 1;
		p[3] = srshost;		len[3] = shlen;
		p[4] = "=";		len[4] = 1;
		p[5] = srsuser;		len[5] = sulen;
		p[6] = "@";		len[6] = 1;
		p[7] = s->domain;	len[7] = strlen(s->domain);
		p[8] = NULL;
		return srs_join(out, outsz, p, len);
	}

	day = srs_today(now);
	ts[0] = srs_b32[day >> 5];
	ts[1] = srs_b32[day & 31];
	f[0] = ts;
	flen[0] = 2;
	f[1] = host;
	flen[1] = hlen;
	f[2] = local;
	flen[2] = llen;
	if ((rc = srs_hash(s, 0, f, flen, 3, hash)) != SRS_OK)
		return rc;
	p[0] = "SRS0=";		len[0] = 5;
	p[1] = hash;		len[1] = SRS_HASH_LEN;
	p[2] = "=";		len[2] = 1;
	p[3] = ts;		len[3] = 2;
	p[4] = "=";		len[4] = 1;
	p[5] = host;		len[5] = hlen;
	p[6] = "=";		len[6] = 1;
	p[7] = local;		len[7] = llen;
	p[8] = "@";		len[8] = 1;
	p[9] = s->domain;	len[9] = strlen(s->domain);
	p[10] = NULL;
	return srs_join(out, outsz, p, len);
}

/* SRS0=HHHH=TT=host=user (local, llen) -> user@host. */
static int
srs_reverse0(const struct srs *s, const char *local, size_t llen,
    int64_t now, char *out, size_t outsz)
{
	const char *hash, *ts, *host, *user, *end = local + llen, *p[4], *f[3];
	size_t hlen, ulen, len[4], flen[3];
	unsigned then, age;
	int v0, v1, rc;

	hash = local + 5;
	if ((size_t)(end - hash) < SRS_HASH_LEN + 1 + 2 + 1 ||
	    hash[SRS_HASH_LEN] != '=')
		return SRS_EINVALID;
	ts = hash + SRS_HASH_LEN + 1;
	if (ts[2] != '=' || (v0 = srs_b32_value(ts[0])) < 0 ||
	    (v1 = srs_b32_value(ts[1])) < 0)
		return SRS_EINVALID;
	host = ts + 3;
	user = memchr(host, '=', (size_t)(end - host));
	if (user == NULL || user == host)
		return SRS_EINVALID;
	hlen = (size_t)(user - host);
	user++;
	ulen = (size_t)(end - user);
	if (ulen == 0)
		return SRS_EINVALID;
	f[0] = ts;
	flen[0] = 2;
	f[1] = host;
	flen[1] = hlen;
	f[2] = user;
	flen[2] = ulen;
	if ((rc = srs_hash_check(s, hash, f, flen, 3)) != SRS_OK)
		return rc;
	then = (unsigned)v0 << 5 | (unsigned)v1;
	age = (srs_today(now) + SRS_TS_MOD - then) % SRS_TS_MOD;
	/*
	 * A stamp up to a day ahead is clock skew between two relays that
	 * share the secret, not an address 1023 days old.
	 */
	if (age > s->max_age && age < SRS_TS_MOD - 1)
		return SRS_EEXPIRED;
	p[0] = user;	len[0] = ulen;
	p[1] = "@";	len[1] = 1;
	p[2] = host;	len[2] = hlen;
	p[3] = NULL;
	return srs_join(out, outsz, p, len);
}

/* SRS1=HHHH=host=REST (local, llen) -> SRS0REST@host. */
static int
srs_reverse1(const struct srs *s, const char *local, size_t llen,
    char *out, size_t outsz)
{
	const char *hash, *host, *user, *end = local + llen, *p[5], *f[2];
	size_t hlen, ulen, len[5], flen[2];
	int rc;

	hash = local + 5;
	if ((size_t)(end - hash) < SRS_HASH_LEN + 1 ||
	    hash[SRS_HASH_LEN] != '=')
		return SRS_EINVALID;
	host = hash + SRS_HASH_LEN + 1;
	user = memchr(host, '=', (size_t)(end - host));
	if (user == NULL || user == host)
		return SRS_EINVALID;
	hlen = (size_t)(user - host);
	user++;
	ulen = (size_t)(end - user);
	/* The rest is the first forwarder's SRS0 from its separator on. */
	if (ulen < 2 || !srs_sep(user[0]))
		return SRS_EINVALID;
	f[0] = host;
	flen[0] = hlen;
	f[1] = user;
	flen[1] = ulen;
	if ((rc = srs_hash_check(s, hash, f, flen, 2)) != SRS_OK)
		return rc;
	p[0] = "SRS0";	len[0] = 4;
	p[1] = user;	len[1] = ulen;
	p[2] = "@";	len[2] = 1;
	p[3] = host;	len[3] = hlen;
	p[4] = NULL;
	return srs_join(out, outsz, p, len);
}

int
srs_reverse(const struct srs *s, const char *addr, int64_t now, char *out,
    size_t outsz)
{
	const char *at;
	size_t llen;
	int tag, rc;

	if (outsz == 0)
		return SRS_ETOOLONG;
	out[0] = '\0';
	if ((at = strrchr(addr, '@')) == NULL || strcasecmp(at + 1,
	    s->domain) != 0)
		return SRS_ENOTSRS;
	llen = (size_t)(at - addr);
	if ((tag = srs_tag(addr, llen)) == -1)
		return SRS_ENOTSRS;
	if (!srs_text_ok(addr, llen))
		return SRS_EINVALID;
	rc = tag == 0 ? srs_reverse0(s, addr, llen, now, out, outsz) :
	    srs_reverse1(s, addr, llen, out, outsz);
	if (rc != SRS_OK)
		out[0] = '\0';
	return rc;
}
