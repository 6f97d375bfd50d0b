/*
 * spool - durable message files.  See spool.h for the layout, the
 * envelope file format and the invariants.
 *
 * Durability follows the classic recipe (OpenSMTPD queue_fs.c, Postfix):
 * write to a temporary file, fsync it, rename it into place, fsync the
 * directory.  The directory fsync is shared between concurrent callers
 * ("group commit", spool_dir_sync): each caller still returns only after
 * an fsync that started after its own rename has completed.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define SPOOL_MAGIC		"CLEANBOX-ENVELOPE"
#define SPOOL_VERSION		"1"
/* Times beyond the year 9999 are nonsense in an envelope. */
#define SPOOL_TIME_MAX		253402300799LL
#define SPOOL_SIZE_MAX		((unsigned long long)1 << 40)
#define SPOOL_ATTEMPTS_MAX	1000000000ULL
#define SPOOL_NAME_MAX		64	/* "ID.upd.NNNNNNNNNN" and the like */

struct spool {
	char	dir[4096];
	int	root_fd;
	int	tmp_fd;
	int	queue_fd;
	int	corrupt_fd;

	pthread_mutex_t lock;
	pthread_cond_t	synced;
	uint32_t counter;	/* ID counter, random start */
	uint64_t tmp_seq;	/* unique temp names for updates */

	/* Group commit of queue/ (see spool_dir_sync). */
	uint64_t sync_req;	/* tickets handed out */
	uint64_t sync_done;	/* tickets covered by a finished fsync */
	uint64_t sync_fail;	/* bumped by every failed fsync */
	bool	sync_running;
};

/* ---------------------------------------------------------------- */
/* small helpers                                                      */

static const char *
spool_errno_str(int e, char *tmp, size_t tmpsz)
{
	/* GNU strerror_r (we build with _GNU_SOURCE): thread-safe. */
	return strerror_r(e, tmp, tmpsz);
}

/* Map an errno from the disk to our code, logging what happened. */
static int
spool_io_fail(const char *what, const char *name, int e)
{
	char tmp[128];

	log_error("spool: %s %s: %s", what, name ? name : "",
	    spool_errno_str(e, tmp, sizeof(tmp)));
	return SPOOL_ELOCAL;
}

static int
spool_name(char *out, size_t outsz, const char *id, const char *suffix)
{
	int n = snprintf(out, outsz, "%s%s", id, suffix);

	return (n < 0 || (size_t)n >= outsz) ? SPOOL_EINVAL : 0;
}

bool
spool_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < SPOOL_ID_LEN; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[SPOOL_ID_LEN] == '\0';
}

const char *
spool_strerror(int code)
{
	switch (code) {
	case SPOOL_OK:		return "ok";
	case SPOOL_ELOCAL:	return "local I/O error";
	case SPOOL_ENOENT:	return "no such message";
	case SPOOL_ECORRUPT:	return "corrupt message files";
	case SPOOL_EINVAL:	return "invalid argument";
	default:		return "unknown spool error";
	}
}

/* ---------------------------------------------------------------- */
/* envelope memory                                                    */

void
spool_envelope_init(struct spool_envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->body = SMTP_BODY_7BIT;
	env->ret = SMTP_RET_NONE;
}

void
spool_envelope_free(struct spool_envelope *env)
{
	free(env->rcpt);
	env->rcpt = NULL;
	env->nrcpt = env->rcpt_cap = 0;
}

struct spool_rcpt *
spool_envelope_add_rcpt(struct spool_envelope *env)
{
	struct spool_rcpt *r;
	size_t ncap;

	if (env->nrcpt >= SPOOL_RCPT_MAX)
		return NULL;
	if (env->nrcpt == env->rcpt_cap) {
		ncap = env->rcpt_cap ? env->rcpt_cap * 2 : 4;
		if (ncap > SPOOL_RCPT_MAX)
			ncap = SPOOL_RCPT_MAX;
		/* ncap <= 10000: the product cannot overflow. */
		r = realloc(env->rcpt, ncap * sizeof(*r));
		if (r == NULL)
			return NULL;
		env->rcpt = r;
		env->rcpt_cap = ncap;
	}
	r = &env->rcpt[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->state = SPOOL_RCPT_PENDING;
	return r;
}

int
spool_envelope_copy(struct spool_envelope *dst,
    const struct spool_envelope *src)
{
	*dst = *src;
	dst->rcpt = NULL;
	dst->rcpt_cap = 0;
	if (src->nrcpt == 0) {
		dst->nrcpt = 0;
		return 0;
	}
	dst->rcpt = malloc(src->nrcpt * sizeof(*dst->rcpt));
	if (dst->rcpt == NULL) {
		dst->nrcpt = 0;
		return SPOOL_ELOCAL;
	}
	memcpy(dst->rcpt, src->rcpt, src->nrcpt * sizeof(*dst->rcpt));
	dst->rcpt_cap = src->nrcpt;
	return 0;
}

bool
spool_envelope_done(const struct spool_envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == SPOOL_RCPT_PENDING)
			return false;
	return true;
}

static void
spool_copy_cut(char *dst, size_t dstsz, const char *src, size_t len)
{
	if (src == NULL)
		len = 0;
	if (len > dstsz - 1)
		len = dstsz - 1;
	/* A NUL inside the source ends the string: fields are C strings. */
	if (len)
		len = strnlen(src, len);
	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

void
spool_error_set(struct spool_error *e, int reply, const char *status,
    const char *host, const char *text, size_t text_len)
{
	e->reply = reply;
	spool_copy_cut(e->status, sizeof(e->status), status,
	    status ? strlen(status) : 0);
	spool_copy_cut(e->host, sizeof(e->host), host, host ? strlen(host) : 0);
	spool_copy_cut(e->text, sizeof(e->text), text, text_len);
}

/* ---------------------------------------------------------------- */
/* envelope format: writer                                            */

static bool
spool_esc_needed(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%';
}

/* Append the escaped form of the C string in a field of size fieldsz. */
static int
spool_put_str(struct buf *b, const char *s, size_t fieldsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strnlen(s, fieldsz), i;

	if (len >= fieldsz)
		return SPOOL_EINVAL;	/* not terminated inside its field */
	if (len == 0)
		return buf_append_byte(b, '-') ? SPOOL_ELOCAL : 0;
	if (len == 1 && s[0] == '-')
		return buf_append_str(b, "%2D") ? SPOOL_ELOCAL : 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];

		if (!spool_esc_needed(c)) {
			if (buf_append_byte(b, (char)c))
				return SPOOL_ELOCAL;
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (buf_append(b, e, 3))
			return SPOOL_ELOCAL;
	}
	return 0;
}

static int
spool_put_field(struct buf *b, const char *key, const char *s, size_t fieldsz)
{
	int rc;

	if (buf_append_str(b, key) || buf_append_byte(b, ' '))
		return SPOOL_ELOCAL;
	if ((rc = spool_put_str(b, s, fieldsz)) != 0)
		return rc;
	return buf_append_byte(b, '\n') ? SPOOL_ELOCAL : 0;
}

static int
spool_put_num(struct buf *b, const char *key, unsigned long long v,
    unsigned long long max)
{
	if (v > max)
		return SPOOL_EINVAL;
	return buf_printf(b, "%s %llu\n", key, v) ? SPOOL_ELOCAL : 0;
}

static int
spool_put_time(struct buf *b, const char *key, time_t t)
{
	if (t < 0)
		return SPOOL_EINVAL;
	return spool_put_num(b, key, (unsigned long long)t, SPOOL_TIME_MAX);
}

static int
spool_put_word(struct buf *b, const char *key, const char *word)
{
	return buf_printf(b, "%s %s\n", key, word) ? SPOOL_ELOCAL : 0;
}

/*
 * Canonical spelling of a set of NOTIFY-style bits: "-" for none, "never",
 * or the subset of success,failure,delay in that order.  -1 if bits is
 * not a valid combination (allow_never: NOTIFY; else dsn-sent).
 */
static int
spool_bits_word(unsigned bits, bool allow_never, char *out, size_t outsz)
{
	static const struct { unsigned bit; const char *name; } w[] = {
		{ SMTP_NOTIFY_SUCCESS, "success" },
		{ SMTP_NOTIFY_FAILURE, "failure" },
		{ SMTP_NOTIFY_DELAY, "delay" },
	};
	size_t i, o = 0;
	unsigned all = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY;

	if (outsz < sizeof("success,failure,delay"))
		return -1;
	if (bits == 0) {
		memcpy(out, "-", 2);
		return 0;
	}
	if (bits == SMTP_NOTIFY_NEVER) {
		if (!allow_never)
			return -1;
		memcpy(out, "never", 6);
		return 0;
	}
	if (bits & ~all)
		return -1;	/* NEVER mixed with others, or unknown bits */
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		size_t n;

		if (!(bits & w[i].bit))
			continue;
		if (o)
			out[o++] = ',';
		n = strlen(w[i].name);
		memcpy(out + o, w[i].name, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static int
spool_put_bits(struct buf *b, const char *key, unsigned bits, bool allow_never)
{
	char w[32];

	if (spool_bits_word(bits, allow_never, w, sizeof(w)) != 0)
		return SPOOL_EINVAL;
	return spool_put_word(b, key, w);
}

static bool
spool_status_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			return false;
	return true;
}

static int
spool_put_error(struct buf *b, const char *key, const struct spool_error *e)
{
	int rc;

	if (e->reply != 0 && (e->reply < 200 || e->reply > 599))
		return SPOOL_EINVAL;
	if (strnlen(e->status, sizeof(e->status)) >= sizeof(e->status) ||
	    !spool_status_ok(e->status, strlen(e->status)))
		return SPOOL_EINVAL;
	if (buf_printf(b, "%s %d ", key, e->reply))
		return SPOOL_ELOCAL;
	if ((rc = spool_put_str(b, e->status, sizeof(e->status))) != 0)
		return rc;
	if (buf_append_byte(b, ' '))
		return SPOOL_ELOCAL;
	if ((rc = spool_put_str(b, e->host, sizeof(e->host))) != 0)
		return rc;
	if (buf_append_byte(b, ' '))
		return SPOOL_ELOCAL;
	if ((rc = spool_put_str(b, e->text, sizeof(e->text))) != 0)
		return rc;
	return buf_append_byte(b, '\n') ? SPOOL_ELOCAL : 0;
}

static const char *const spool_body_words[] = {
	"7bit", "8bitmime", "binarymime",
};
static const char *const spool_ret_words[] = { "-", "full", "hdrs" };
static const char *const spool_state_words[] = {
	"pending", "delivered", "failed",
};

static int
spool_put_rcpt(struct buf *b, const struct spool_rcpt *r)
{
	int rc;

#define PUT(x) do { if ((rc = (x)) != 0) return rc; } while (0)
	PUT(spool_put_field(b, "rcpt", r->addr, sizeof(r->addr)));
	if (r->addr[0] == '\0')
		return SPOOL_EINVAL;
	PUT(spool_put_field(b, "orcpt", r->orcpt, sizeof(r->orcpt)));
	PUT(spool_put_bits(b, "notify", r->notify, true));
	PUT(spool_put_field(b, "dest", r->dest, sizeof(r->dest)));
	if ((unsigned)r->state > SPOOL_RCPT_FAILED)
		return SPOOL_EINVAL;
	PUT(spool_put_word(b, "state", spool_state_words[r->state]));
	PUT(spool_put_num(b, "attempts", r->attempts, SPOOL_ATTEMPTS_MAX));
	PUT(spool_put_time(b, "first-attempt", r->first_attempt));
	PUT(spool_put_time(b, "last-attempt", r->last_attempt));
	PUT(spool_put_time(b, "next-attempt", r->next_attempt));
	PUT(spool_put_bits(b, "dsn-sent", r->dsn_sent, false));
	PUT(spool_put_error(b, "first-error", &r->first_error));
	PUT(spool_put_error(b, "last-error", &r->last_error));
#undef PUT
	return 0;
}

int
spool_envelope_format(const struct spool_envelope *env, struct buf *out)
{
	size_t i, start = out->len;
	int rc = SPOOL_EINVAL;

	if (!spool_id_valid(env->id) || env->nrcpt == 0 ||
	    env->nrcpt > SPOOL_RCPT_MAX || env->rcpt == NULL)
		goto out;
	if ((unsigned)env->body > SMTP_BODY_BINARYMIME ||
	    (unsigned)env->ret > SMTP_RET_HDRS)
		goto out;

#define PUT(x) do { if ((rc = (x)) != 0) goto out; } while (0)
	PUT(spool_put_word(out, SPOOL_MAGIC, SPOOL_VERSION));
	PUT(spool_put_field(out, "id", env->id, sizeof(env->id)));
	PUT(spool_put_time(out, "arrival", env->arrival));
	PUT(spool_put_num(out, "size", env->size, SPOOL_SIZE_MAX));
	PUT(spool_put_field(out, "sender", env->sender, sizeof(env->sender)));
	PUT(spool_put_word(out, "body", spool_body_words[env->body]));
	PUT(spool_put_word(out, "smtputf8", env->smtputf8 ? "yes" : "no"));
	PUT(spool_put_word(out, "ret", spool_ret_words[env->ret]));
	PUT(spool_put_field(out, "envid", env->envid, sizeof(env->envid)));
	PUT(spool_put_field(out, "helo", env->helo, sizeof(env->helo)));
	PUT(spool_put_field(out, "client", env->client_ip,
	    sizeof(env->client_ip)));
	PUT(spool_put_num(out, "rcpts", env->nrcpt, SPOOL_RCPT_MAX));
	for (i = 0; i < env->nrcpt; i++)
		PUT(spool_put_rcpt(out, &env->rcpt[i]));
	PUT(buf_append_str(out, "end\n") ? SPOOL_ELOCAL : 0);
#undef PUT
	rc = 0;
out:
	if (rc != 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}

/* ---------------------------------------------------------------- */
/* envelope format: reader                                            */

struct spool_cur {
	const char *p;
	const char *end;
};

/* Take the next line, which must be "KEY SP VALUE"; the value is returned
 * (not yet validated). */
static int
spool_get_line(struct spool_cur *c, const char *key, const char **val,
    size_t *vlen)
{
	const char *nl;
	size_t klen = strlen(key), llen;

	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (nl == NULL)
		return -1;	/* truncated */
	llen = (size_t)(nl - c->p);
	if (llen < klen + 2 || memcmp(c->p, key, klen) != 0 ||
	    c->p[klen] != ' ')
		return -1;
	*val = c->p + klen + 1;
	*vlen = llen - klen - 1;
	c->p = nl + 1;
	return 0;
}

static int
spool_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not canonical */
}

/* Decode one escaped token into out (size outsz, NUL-terminated). */
static int
spool_get_str(const char *v, size_t vlen, char *out, size_t outsz)
{
	size_t i, o = 0;

	if (vlen == 0)
		return -1;
	if (vlen == 1 && v[0] == '-') {
		out[0] = '\0';
		return 0;
	}
	for (i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		int hi, lo;

		if (o + 1 >= outsz)
			return -1;
		if (c != '%') {
			if (spool_esc_needed(c))
				return -1;	/* raw space, control, 8-bit */
			out[o++] = (char)c;
			continue;
		}
		if (vlen - i < 3)
			return -1;
		hi = spool_hexval(v[i + 1]);
		lo = spool_hexval(v[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		c = (unsigned char)(hi << 4 | lo);
		if (c == 0)
			return -1;	/* fields are C strings */
		/* Only the writer's escapes: needed ones, and "-" alone. */
		if (!spool_esc_needed(c) && !(c == '-' && vlen == 3))
			return -1;
		out[o++] = (char)c;
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

static int
spool_get_field(struct spool_cur *c, const char *key, char *out, size_t outsz)
{
	const char *v;
	size_t vlen;

	if (spool_get_line(c, key, &v, &vlen) != 0)
		return -1;
	return spool_get_str(v, vlen, out, outsz);
}

static int
spool_get_ull(const char *v, size_t vlen, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long n = 0;
	size_t i;

	if (vlen == 0 || (vlen > 1 && v[0] == '0'))
		return -1;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n > (max - (unsigned long long)(v[i] - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long long)(v[i] - '0');
	}
	*out = n;
	return 0;
}

static int
spool_get_num(struct spool_cur *c, const char *key, unsigned long long max,
    unsigned long long *out)
{
	const char *v;
	size_t vlen;

	if (spool_get_line(c, key, &v, &vlen) != 0)
		return -1;
	return spool_get_ull(v, vlen, max, out);
}

static int
spool_get_time(struct spool_cur *c, const char *key, time_t *out)
{
	unsigned long long n;

	if (spool_get_num(c, key, SPOOL_TIME_MAX, &n) != 0)
		return -1;
	*out = (time_t)n;
	return 0;
}

/* The value must be one of words[0..n); returns its index. */
static int
spool_get_word(struct spool_cur *c, const char *key,
    const char *const *words, size_t n)
{
	const char *v;
	size_t vlen, i;

	if (spool_get_line(c, key, &v, &vlen) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (strlen(words[i]) == vlen && memcmp(words[i], v, vlen) == 0)
			return (int)i;
	return -1;
}

static int
spool_get_bits(struct spool_cur *c, const char *key, bool allow_never,
    unsigned *out)
{
	const char *v;
	size_t vlen;
	unsigned bits;
	char w[32];

	if (spool_get_line(c, key, &v, &vlen) != 0)
		return -1;
	/* Few valid values: compare with each canonical spelling. */
	for (bits = 0; bits < 16; bits++) {
		if (spool_bits_word(bits, allow_never, w, sizeof(w)) != 0)
			continue;
		if (strlen(w) == vlen && memcmp(w, v, vlen) == 0) {
			*out = bits;
			return 0;
		}
	}
	return -1;
}

static int
spool_get_error(struct spool_cur *c, const char *key, struct spool_error *e)
{
	const char *v, *tok[4];
	size_t vlen, toklen[4], i, n = 0;
	unsigned long long code;

	if (spool_get_line(c, key, &v, &vlen) != 0)
		return -1;
	/* Exactly four tokens, single spaces between them. */
	tok[0] = v;
	for (i = 0; i < vlen; i++) {
		if (v[i] != ' ')
			continue;
		if (n == 3)
			return -1;
		toklen[n] = (size_t)(v + i - tok[n]);
		tok[++n] = v + i + 1;
	}
	if (n != 3)
		return -1;
	toklen[3] = (size_t)(v + vlen - tok[3]);
	if (spool_get_ull(tok[0], toklen[0], 599, &code) != 0 ||
	    (code != 0 && code < 200))
		return -1;
	e->reply = (int)code;
	if (spool_get_str(tok[1], toklen[1], e->status, sizeof(e->status)) ||
	    !spool_status_ok(e->status, strlen(e->status)) ||
	    spool_get_str(tok[2], toklen[2], e->host, sizeof(e->host)) ||
	    spool_get_str(tok[3], toklen[3], e->text, sizeof(e->text)))
		return -1;
	return 0;
}

static int
spool_get_rcpt(struct spool_cur *c, struct spool_rcpt *r)
{
	unsigned long long n;
	int w;

	if (spool_get_field(c, "rcpt", r->addr, sizeof(r->addr)) ||
	    r->addr[0] == '\0' ||
	    spool_get_field(c, "orcpt", r->orcpt, sizeof(r->orcpt)) ||
	    spool_get_bits(c, "notify", true, &r->notify) ||
	    spool_get_field(c, "dest", r->dest, sizeof(r->dest)))
		return -1;
	if ((w = spool_get_word(c, "state", spool_state_words, 3)) < 0)
		return -1;
	r->state = (enum spool_rcpt_state)w;
	if (spool_get_num(c, "attempts", SPOOL_ATTEMPTS_MAX, &n))
		return -1;
	r->attempts = (unsigned)n;
	if (spool_get_time(c, "first-attempt", &r->first_attempt) ||
	    spool_get_time(c, "last-attempt", &r->last_attempt) ||
	    spool_get_time(c, "next-attempt", &r->next_attempt) ||
	    spool_get_bits(c, "dsn-sent", false, &r->dsn_sent) ||
	    spool_get_error(c, "first-error", &r->first_error) ||
	    spool_get_error(c, "last-error", &r->last_error))
		return -1;
	return 0;
}

int
spool_envelope_parse(const char *in, size_t len, struct spool_envelope *env)
{
	static const char *const yesno[] = { "no", "yes" };
	static const char *const version[] = { SPOOL_VERSION };
	struct spool_cur c = { in, in + len };
	unsigned long long n, nrcpt, i;
	int w;

	spool_envelope_init(env);
	if (len > SPOOL_ENVELOPE_FILE_MAX)
		goto bad;
	if (spool_get_word(&c, SPOOL_MAGIC, version, 1) != 0 ||
	    spool_get_field(&c, "id", env->id, sizeof(env->id)) != 0 ||
	    !spool_id_valid(env->id) ||
	    spool_get_time(&c, "arrival", &env->arrival) != 0 ||
	    spool_get_num(&c, "size", SPOOL_SIZE_MAX, &n) != 0)
		goto bad;
	env->size = (size_t)n;
	if (spool_get_field(&c, "sender", env->sender, sizeof(env->sender)))
		goto bad;
	if ((w = spool_get_word(&c, "body", spool_body_words, 3)) < 0)
		goto bad;
	env->body = (enum smtp_body)w;
	if ((w = spool_get_word(&c, "smtputf8", yesno, 2)) < 0)
		goto bad;
	env->smtputf8 = w == 1;
	if ((w = spool_get_word(&c, "ret", spool_ret_words, 3)) < 0)
		goto bad;
	env->ret = (enum smtp_ret)w;
	if (spool_get_field(&c, "envid", env->envid, sizeof(env->envid)) ||
	    spool_get_field(&c, "helo", env->helo, sizeof(env->helo)) ||
	    spool_get_field(&c, "client", env->client_ip,
	    sizeof(env->client_ip)) ||
	    spool_get_num(&c, "rcpts", SPOOL_RCPT_MAX, &nrcpt) || nrcpt == 0)
		goto bad;
	/* The array grows as blocks are actually read: a lying count in a
	 * short file cannot make us allocate much. */
	for (i = 0; i < nrcpt; i++) {
		struct spool_rcpt *r = spool_envelope_add_rcpt(env);

		if (r == NULL || spool_get_rcpt(&c, r) != 0)
			goto bad;
	}
	if (c.end - c.p != 4 || memcmp(c.p, "end\n", 4) != 0)
		goto bad;
	return 0;
bad:
	spool_envelope_free(env);
	return SPOOL_ECORRUPT;
}

/* ---------------------------------------------------------------- */
/* files                                                              */

static int
spool_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Create dirfd/name exclusively, write len bytes, fsync, close.  On error
 * the file is removed and SPOOL_ELOCAL returned (logged).
 */
static int
spool_write_file(int dirfd, const char *name, const char *p, size_t len)
{
	int fd, e;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return spool_io_fail("create", name, errno);
	if (spool_write_all(fd, p, len) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlinkat(dirfd, name, 0);
		return spool_io_fail("write", name, e);
	}
	/* close() can report a deferred write error (NFS): honour it. */
	if (close(fd) != 0) {
		e = errno;
		unlinkat(dirfd, name, 0);
		return spool_io_fail("close", name, e);
	}
	return 0;
}

/* Read all of an open fd whose size is known into out. */
static int
spool_read_fd(int fd, size_t size, struct buf *out, const char *name)
{
	size_t got = 0;
	int rc;

	if ((rc = buf_reserve(out, size)) != BUF_OK) {
		log_error("spool: %s: %zu bytes do not fit the buffer", name,
		    size);
		return rc == BUF_ETOOBIG ? SPOOL_EINVAL : SPOOL_ELOCAL;
	}
	while (got < size) {
		ssize_t n = read(fd, out->data + out->len + got, size - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return spool_io_fail("read", name, errno);
		}
		if (n == 0)
			return SPOOL_ECORRUPT;	/* shrank under us */
		got += (size_t)n;
	}
	out->len += size;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * Group commit: make every directory entry change in queue/ made before
 * this call durable.  A caller takes a ticket after its rename; an fsync
 * that starts after ticket t was handed out covers t.  One thread runs the
 * fsync while others wait; when it finishes, all tickets handed out
 * before it started are done.  A failed fsync fails every caller that was
 * waiting through it (conservative: a spurious failure only costs a 4xx).
 */
static int
spool_dir_sync(struct spool *sp)
{
	uint64_t ticket, fails, target;
	int rc, e = 0;
	bool failed;

	pthread_mutex_lock(&sp->lock);
	ticket = ++sp->sync_req;
	fails = sp->sync_fail;
	while (sp->sync_done < ticket) {
		if (sp->sync_running) {
			pthread_cond_wait(&sp->synced, &sp->lock);
			continue;
		}
		sp->sync_running = true;
		target = sp->sync_req;
		pthread_mutex_unlock(&sp->lock);
		rc = fsync(sp->queue_fd);
		if (rc != 0)
			e = errno;
		pthread_mutex_lock(&sp->lock);
		sp->sync_running = false;
		if (rc != 0)
			sp->sync_fail++;
		if (target > sp->sync_done)
			sp->sync_done = target;
		pthread_cond_broadcast(&sp->synced);
	}
	failed = sp->sync_fail != fails;
	pthread_mutex_unlock(&sp->lock);
	if (failed)
		return spool_io_fail("fsync", "queue/", e ? e : EIO);
	return 0;
}

static int
spool_fsync_fd(int fd, const char *what)
{
	if (fsync(fd) != 0)
		return spool_io_fail("fsync", what, errno);
	return 0;
}

/* rename without replacing; EEXIST when the target exists. */
static int
spool_rename_noreplace(int ofd, const char *oname, int nfd, const char *nname)
{
	struct stat st;

	if (renameat2(ofd, oname, nfd, nname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* File system without RENAME_NOREPLACE: check, then rename.  Our
	 * IDs are unique within the process, so the window is harmless. */
	if (fstatat(nfd, nname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(ofd, oname, nfd, nname);
}

/* ---------------------------------------------------------------- */
/* open / close / ids                                                 */

static int
spool_mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		if (i < len)
			tmp[i] = '/';
	}
	return 0;
}

static int
spool_open_sub(int root, const char *name)
{
	int fd;

	if (mkdirat(root, name, 0700) != 0 && errno != EEXIST)
		return -1;
	fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

int
spool_open(const char *dir, struct spool **out)
{
	struct spool *sp;
	int n;

	*out = NULL;
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return SPOOL_ELOCAL;
	sp->root_fd = sp->tmp_fd = sp->queue_fd = sp->corrupt_fd = -1;
	n = snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
	if (n <= 0 || (size_t)n >= sizeof(sp->dir)) {
		free(sp);
		return SPOOL_EINVAL;
	}
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->synced, NULL);
	if (spool_mkdir_p(dir) != 0 ||
	    (sp->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (sp->tmp_fd = spool_open_sub(sp->root_fd, "tmp")) < 0 ||
	    (sp->queue_fd = spool_open_sub(sp->root_fd, "queue")) < 0 ||
	    (sp->corrupt_fd = spool_open_sub(sp->root_fd, "corrupt")) < 0) {
		spool_io_fail("open", dir, errno);
		spool_close(sp);
		return SPOOL_ELOCAL;
	}
	/* The subdirectories themselves must survive a crash. */
	if (spool_fsync_fd(sp->root_fd, dir) != 0) {
		spool_close(sp);
		return SPOOL_ELOCAL;
	}
	sp->counter = arc4random();
	*out = sp;
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->root_fd >= 0)
		close(sp->root_fd);
	if (sp->tmp_fd >= 0)
		close(sp->tmp_fd);
	if (sp->queue_fd >= 0)
		close(sp->queue_fd);
	if (sp->corrupt_fd >= 0)
		close(sp->corrupt_fd);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->synced);
	free(sp);
}

void
spool_id_new(struct spool *sp, char id[SPOOL_ID_SIZE])
{
	uint32_t cnt;
	uint64_t now = (uint64_t)time(NULL);

	pthread_mutex_lock(&sp->lock);
	cnt = sp->counter++;
	pthread_mutex_unlock(&sp->lock);
	/* 8 + 5 + 3 hex digits; exactly 16 characters, so no truncation. */
	snprintf(id, SPOOL_ID_SIZE, "%08" PRIx32 "%05" PRIx32 "%03" PRIx32,
	    (uint32_t)(now & 0xffffffffu), cnt & 0xfffffu,
	    arc4random() & 0xfffu);
}

static uint64_t
spool_tmp_seq(struct spool *sp)
{
	uint64_t n;

	pthread_mutex_lock(&sp->lock);
	n = ++sp->tmp_seq;
	pthread_mutex_unlock(&sp->lock);
	return n;
}

/* ---------------------------------------------------------------- */
/* messages                                                           */

int
spool_message_create(struct spool *sp, struct spool_envelope *env,
    const char *data, size_t len, char id_out[SPOOL_ID_SIZE])
{
	struct buf eb;
	char dname[SPOOL_NAME_MAX], ename[SPOOL_NAME_MAX];
	bool tmp_data = false, tmp_env = false, q_data = false, q_env = false;
	int rc;

	buf_init(&eb, SPOOL_ENVELOPE_FILE_MAX);
	if (env->id[0] == '\0')
		spool_id_new(sp, env->id);
	else if (!spool_id_valid(env->id)) {
		rc = SPOOL_EINVAL;
		goto out;
	}
	env->size = len;
	/* Validate and format before touching the disk. */
	if ((rc = spool_envelope_format(env, &eb)) != 0)
		goto out;
	if ((rc = spool_name(dname, sizeof(dname), env->id, ".msg")) != 0 ||
	    (rc = spool_name(ename, sizeof(ename), env->id, ".env")) != 0)
		goto out;

	if ((rc = spool_write_file(sp->tmp_fd, dname, data, len)) != 0)
		goto out;
	tmp_data = true;
	if ((rc = spool_write_file(sp->tmp_fd, ename, eb.data, eb.len)) != 0)
		goto out;
	tmp_env = true;

	/* Data first, envelope last: the envelope is the commit point. */
	if (spool_rename_noreplace(sp->tmp_fd, dname, sp->queue_fd, dname)) {
		rc = spool_io_fail("rename", dname, errno);
		goto out;
	}
	tmp_data = false;
	q_data = true;
	if (spool_rename_noreplace(sp->tmp_fd, ename, sp->queue_fd, ename)) {
		rc = spool_io_fail("rename", ename, errno);
		goto out;
	}
	tmp_env = false;
	q_env = true;
	if ((rc = spool_dir_sync(sp)) != 0)
		goto out;
	if (id_out != NULL)
		memcpy(id_out, env->id, SPOOL_ID_SIZE);
	rc = 0;
out:
	if (rc != 0) {
		/* Nothing half-stored: undo in commit order (envelope first). */
		if (q_env)
			unlinkat(sp->queue_fd, ename, 0);
		if (q_data)
			unlinkat(sp->queue_fd, dname, 0);
		if (q_env || q_data)
			(void)fsync(sp->queue_fd);
		if (tmp_env)
			unlinkat(sp->tmp_fd, ename, 0);
		if (tmp_data)
			unlinkat(sp->tmp_fd, dname, 0);
		if (rc != SPOOL_EINVAL)
			rc = SPOOL_ELOCAL;
	}
	buf_free(&eb);
	return rc;
}

int
spool_envelope_update(struct spool *sp, const struct spool_envelope *env)
{
	struct buf eb;
	char tname[SPOOL_NAME_MAX], ename[SPOOL_NAME_MAX], dname[SPOOL_NAME_MAX];
	struct stat st;
	bool tmp = false;
	int rc, n;

	buf_init(&eb, SPOOL_ENVELOPE_FILE_MAX);
	if (!spool_id_valid(env->id)) {
		rc = SPOOL_EINVAL;
		goto out;
	}
	if ((rc = spool_envelope_format(env, &eb)) != 0)
		goto out;
	n = snprintf(tname, sizeof(tname), "%s.upd.%" PRIu64, env->id,
	    spool_tmp_seq(sp));
	if (n < 0 || (size_t)n >= sizeof(tname) ||
	    spool_name(ename, sizeof(ename), env->id, ".env") ||
	    spool_name(dname, sizeof(dname), env->id, ".msg")) {
		rc = SPOOL_EINVAL;
		goto out;
	}
	/* Never resurrect a removed message as an envelope without data. */
	if (fstatat(sp->queue_fd, ename, &st, 0) != 0 ||
	    fstatat(sp->queue_fd, dname, &st, 0) != 0) {
		rc = errno == ENOENT ? SPOOL_ENOENT
		    : spool_io_fail("stat", ename, errno);
		goto out;
	}
	if ((rc = spool_write_file(sp->tmp_fd, tname, eb.data, eb.len)) != 0)
		goto out;
	tmp = true;
	if (renameat(sp->tmp_fd, tname, sp->queue_fd, ename) != 0) {
		rc = spool_io_fail("rename", tname, errno);
		goto out;
	}
	tmp = false;
	rc = spool_dir_sync(sp);
out:
	if (tmp)
		unlinkat(sp->tmp_fd, tname, 0);
	buf_free(&eb);
	return rc;
}

int
spool_message_remove(struct spool *sp, const char *id)
{
	char ename[SPOOL_NAME_MAX], dname[SPOOL_NAME_MAX];
	int rc = 0;

	if (!spool_id_valid(id) ||
	    spool_name(ename, sizeof(ename), id, ".env") ||
	    spool_name(dname, sizeof(dname), id, ".msg"))
		return SPOOL_EINVAL;
	/* Envelope first: once it is gone the message is gone. */
	if (unlinkat(sp->queue_fd, ename, 0) != 0) {
		if (errno != ENOENT)
			return spool_io_fail("unlink", ename, errno);
		rc = SPOOL_ENOENT;
	}
	if (unlinkat(sp->queue_fd, dname, 0) != 0 && errno != ENOENT &&
	    rc == 0)
		rc = spool_io_fail("unlink", dname, errno);
	if (rc == SPOOL_ENOENT)
		return rc;
	/* A removal that is not durable would deliver the message again
	 * after a crash. */
	if (spool_dir_sync(sp) != 0)
		return SPOOL_ELOCAL;
	return rc;
}

/* Read queue/ID.env and parse it (env initialised either way). */
static int
spool_env_read(struct spool *sp, const char *id, struct spool_envelope *env)
{
	char ename[SPOOL_NAME_MAX];
	struct stat st;
	struct buf b;
	int fd, rc;

	spool_envelope_init(env);
	buf_init(&b, SPOOL_ENVELOPE_FILE_MAX);
	if (spool_name(ename, sizeof(ename), id, ".env"))
		return SPOOL_EINVAL;
	fd = openat(sp->queue_fd, ename, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? SPOOL_ENOENT
		    : spool_io_fail("open", ename, errno);
	if (fstat(fd, &st) != 0) {
		rc = spool_io_fail("stat", ename, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > SPOOL_ENVELOPE_FILE_MAX) {
		rc = SPOOL_ECORRUPT;
		goto out;
	}
	if ((rc = spool_read_fd(fd, (size_t)st.st_size, &b, ename)) != 0)
		goto out;
	if ((rc = spool_envelope_parse(b.data, b.len, env)) != 0)
		goto out;
	if (strcmp(env->id, id) != 0) {
		spool_envelope_free(env);
		rc = SPOOL_ECORRUPT;
	}
out:
	close(fd);
	buf_free(&b);
	return rc;
}

int
spool_data_open(struct spool *sp, const char *id, off_t *size)
{
	char dname[SPOOL_NAME_MAX];
	struct stat st;
	int fd;

	if (!spool_id_valid(id) || spool_name(dname, sizeof(dname), id, ".msg"))
		return SPOOL_EINVAL;
	fd = openat(sp->queue_fd, dname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? SPOOL_ENOENT
		    : spool_io_fail("open", dname, errno);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return SPOOL_ECORRUPT;
	}
	*size = st.st_size;
	return fd;
}

int
spool_message_load(struct spool *sp, const char *id,
    struct spool_envelope *env, struct buf *data)
{
	char dname[SPOOL_NAME_MAX];
	off_t size;
	int fd, rc;

	spool_envelope_init(env);
	if (!spool_id_valid(id))
		return SPOOL_EINVAL;
	if ((rc = spool_env_read(sp, id, env)) != 0)
		return rc;
	fd = spool_data_open(sp, id, &size);
	if (fd < 0) {
		/* An envelope without data breaks the invariant. */
		rc = fd == SPOOL_ENOENT ? SPOOL_ECORRUPT : fd;
		goto out;
	}
	if ((unsigned long long)size != env->size) {
		rc = SPOOL_ECORRUPT;
		goto out;
	}
	if (data != NULL) {
		(void)spool_name(dname, sizeof(dname), id, ".msg");
		rc = spool_read_fd(fd, env->size, data, dname);
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		spool_envelope_free(env);
	return rc;
}

/* ---------------------------------------------------------------- */
/* start-up scan                                                      */

struct spool_names {
	char	(*v)[SPOOL_ID_SIZE];
	size_t	n, cap;
};

static int
spool_names_add(struct spool_names *ns, const char *id)
{
	if (ns->n == ns->cap) {
		size_t ncap = ns->cap ? ns->cap * 2 : 64;
		void *p;

		if (ncap > SIZE_MAX / SPOOL_ID_SIZE)
			return -1;
		if ((p = realloc(ns->v, ncap * SPOOL_ID_SIZE)) == NULL)
			return -1;
		ns->v = p;
		ns->cap = ncap;
	}
	memcpy(ns->v[ns->n++], id, SPOOL_ID_SIZE);
	return 0;
}

static int
spool_names_cmp(const void *a, const void *b)
{
	return memcmp(a, b, SPOOL_ID_LEN);
}

/* Move queue/ID.env and queue/ID.msg (when present) to corrupt/. */
static void
spool_move_aside(struct spool *sp, const char *id, const char *why)
{
	static const char *const sfx[] = { ".env", ".msg" };
	char name[SPOOL_NAME_MAX], alt[SPOOL_NAME_MAX];
	size_t i;
	int n;

	log_warn("spool: %s: %s; moved to %s/corrupt", id, why, sp->dir);
	for (i = 0; i < 2; i++) {
		if (spool_name(name, sizeof(name), id, sfx[i]))
			continue;
		if (spool_rename_noreplace(sp->queue_fd, name, sp->corrupt_fd,
		    name) == 0 || errno == ENOENT)
			continue;
		/* An older file of that name in corrupt/: keep both. */
		n = snprintf(alt, sizeof(alt), "%s.%lld%s", id,
		    (long long)time(NULL), sfx[i]);
		if (n > 0 && (size_t)n < sizeof(alt) &&
		    renameat(sp->queue_fd, name, sp->corrupt_fd, alt) == 0)
			continue;
		spool_io_fail("move aside", name, errno);
	}
	(void)fsync(sp->corrupt_fd);
	(void)fsync(sp->queue_fd);
}

/* Is the file old enough to be someone's leftover? */
static bool
spool_is_old(int dirfd, const char *name, unsigned min_age, time_t now)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return false;
	return min_age == 0 || now - st.st_mtime >= (time_t)min_age;
}

static int
spool_scan_tmp(struct spool *sp, unsigned min_age, time_t now)
{
	DIR *d;
	struct dirent *de;
	int fd;
	size_t removed = 0;

	if ((fd = dup(sp->tmp_fd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return spool_io_fail("opendir", "tmp/", errno);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!spool_is_old(sp->tmp_fd, de->d_name, min_age, now))
			continue;
		if (unlinkat(sp->tmp_fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		log_info("spool: removed %zu leftover temporary file(s)",
		    removed);
	return 0;
}

/* Split "ID.env" / "ID.msg" names; 1 = env, 2 = msg, 0 = other. */
static int
spool_name_kind(const char *name, char id[SPOOL_ID_SIZE])
{
	if (strlen(name) != SPOOL_ID_LEN + 4)
		return 0;
	memcpy(id, name, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	if (!spool_id_valid(id))
		return 0;
	if (strcmp(name + SPOOL_ID_LEN, ".env") == 0)
		return 1;
	if (strcmp(name + SPOOL_ID_LEN, ".msg") == 0)
		return 2;
	return 0;
}

int
spool_scan(struct spool *sp, unsigned min_age, spool_scan_fn cb, void *arg,
    size_t *found)
{
	struct spool_names envs = { 0 }, msgs = { 0 };
	struct spool_envelope env;
	char id[SPOOL_ID_SIZE], ename[SPOOL_NAME_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	time_t now = time(NULL);
	size_t i, count = 0, orphans = 0;
	int fd, rc;

	if (found)
		*found = 0;
	if ((rc = spool_scan_tmp(sp, min_age, now)) != 0)
		return rc;
	if ((fd = dup(sp->queue_fd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return spool_io_fail("opendir", "queue/", errno);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		int kind;

		if (de->d_name[0] == '.')
			continue;
		kind = spool_name_kind(de->d_name, id);
		if (kind == 0) {
			log_warn("spool: ignoring unexpected file queue/%s",
			    de->d_name);
			continue;
		}
		if (spool_names_add(kind == 1 ? &envs : &msgs, id) != 0) {
			rc = SPOOL_ELOCAL;
			goto out;
		}
	}
	qsort(envs.v, envs.n, SPOOL_ID_SIZE, spool_names_cmp);

	for (i = 0; i < envs.n; i++) {
		rc = spool_message_load(sp, envs.v[i], &env, NULL);
		if (rc == SPOOL_ENOENT)
			continue;	/* removed meanwhile */
		if (rc == SPOOL_ECORRUPT) {
			spool_move_aside(sp, envs.v[i],
			    "unreadable envelope or missing data");
			continue;
		}
		if (rc != 0)
			goto out;
		count++;
		rc = cb ? cb(&env, arg) : 0;
		spool_envelope_free(&env);
		if (rc != 0)
			goto out;
	}

	/* Data without envelope: a create that never committed. */
	for (i = 0; i < msgs.n; i++) {
		char dname[SPOOL_NAME_MAX];

		if (spool_name(ename, sizeof(ename), msgs.v[i], ".env") ||
		    spool_name(dname, sizeof(dname), msgs.v[i], ".msg"))
			continue;
		if (fstatat(sp->queue_fd, ename, &st, AT_SYMLINK_NOFOLLOW) == 0
		    || errno != ENOENT)
			continue;
		if (!spool_is_old(sp->queue_fd, dname, min_age, now))
			continue;
		if (unlinkat(sp->queue_fd, dname, 0) == 0) {
			orphans++;
			log_info("spool: %s: removed data file without "
			    "envelope (never committed)", msgs.v[i]);
		}
	}
	if (orphans)
		(void)fsync(sp->queue_fd);
	rc = 0;
out:
	if (found)
		*found = count;
	closedir(d);
	free(envs.v);
	free(msgs.v);
	return rc;
}
