/*
 * route - recipient address -> destinations.  See route.h.
 *
 * Two open-addressing hash tables (linear probing, load <= 1/2, FNV-1a):
 * one maps a lowercased "local@domain" key (catch-alls included, as
 * "*@domain") to its destinations, the other maps a lowercased domain to
 * its record (which points at the domain's catch-all, if any).  A lookup
 * costs one probe sequence for the domain plus at most two for the
 * address, however many keys there are.  Only route_table_add writes; the
 * table is never changed after it is published, so readers need no locks.
 *
 * Hash flooding is not a concern: only the operator's configuration
 * inserts keys; peers can only look up.
 */
#include "route.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define ROUTE_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ROUTE_KEY_MAX		(ROUTE_LOCAL_MAX + 1 + ROUTE_DOMAIN_MAX)

struct route_node {
	char	*key;		/* lowercased, NUL-terminated */
	size_t	 keylen;
	uint64_t hash;
};

struct route_entry {
	struct route_node node;		/* "local@domain" or "*@domain" */
	struct dest	*dests;
	size_t		 ndests;
};

struct route_domain {
	struct route_node node;		/* "domain" */
	struct route_entry *catchall;	/* NULL: unknown users get 5.1.1 */
};

struct route_map {
	struct route_node **slots;	/* NULL = empty */
	size_t	 cap;			/* power of two, or 0 */
	size_t	 count;
};

struct route_table {
	struct route_map entries;	/* of struct route_entry */
	struct route_map domains;	/* of struct route_domain */
	unsigned refs;			/* holders; loop thread only */
};

/* ASCII-only case folding: locale-independent, leaves UTF-8 bytes alone. */
static unsigned char
route_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t
route_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
route_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
route_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* A truncated message is still a message; nothing depends on it. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Find key (already lowercased) in map; NULL if absent. */
static struct route_node *
route_map_find(const struct route_map *m, const char *key, size_t len)
{
	uint64_t h;
	size_t i;
	struct route_node *n;

	if (m->cap == 0)
		return NULL;
	h = route_hash(key, len);
	for (i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if ((n = m->slots[i]) == NULL)
			return NULL;
		if (n->hash == h && n->keylen == len &&
		    memcmp(n->key, key, len) == 0)
			return n;
	}
}

static void
route_map_place(struct route_node **slots, size_t cap, struct route_node *n)
{
	size_t i;

	for (i = (size_t)n->hash & (cap - 1); slots[i] != NULL;
	    i = (i + 1) & (cap - 1))
		;
	slots[i] = n;
}

/* Make room for one more node.  Returns 0 or -1 (out of memory). */
static int
route_map_reserve(struct route_map *m)
{
	struct route_node **slots;
	size_t cap, i;

	if (m->cap != 0 && m->count + 1 <= m->cap / 2)
		return 0;
	cap = m->cap ? m->cap : 16;
	while (m->count + 1 > cap / 2) {
		if (cap > SIZE_MAX / 2 / sizeof(*slots))
			return -1;
		cap *= 2;
	}
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (i = 0; i < m->cap; i++)
		if (m->slots[i] != NULL)
			route_map_place(slots, cap, m->slots[i]);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

/* Insert n (whose key is not in m); route_map_reserve() must have run. */
static void
route_map_insert(struct route_map *m, struct route_node *n)
{
	n->hash = route_hash(n->key, n->keylen);
	route_map_place(m->slots, m->cap, n);
	m->count++;
}

void
route_dest_clear(struct dest *d)
{
	free(d->spec);
	free(d->path);
	free(d->host);
	free(d->address);
	memset(d, 0, sizeof(*d));
}

static void
route_dests_free(struct dest *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		route_dest_clear(&d[i]);
	free(d);
}

struct route_table *
route_table_new(void)
{
	struct route_table *rt = calloc(1, sizeof(struct route_table));

	if (rt != NULL)
		rt->refs = 1;
	return rt;
}

struct route_table *
route_table_ref(struct route_table *rt)
{
	if (rt != NULL)
		rt->refs++;
	return rt;
}

void
route_table_free(struct route_table *rt)
{
	struct route_entry *e;
	size_t i;

	if (rt == NULL || --rt->refs > 0)
		return;
	for (i = 0; i < rt->entries.cap; i++) {
		if ((e = (struct route_entry *)rt->entries.slots[i]) == NULL)
			continue;
		route_dests_free(e->dests, e->ndests);
		free(e->node.key);
		free(e);
	}
	for (i = 0; i < rt->domains.cap; i++) {
		if (rt->domains.slots[i] == NULL)
			continue;
		free(rt->domains.slots[i]->key);
		free(rt->domains.slots[i]);
	}
	free(rt->entries.slots);
	free(rt->domains.slots);
	free(rt);
}

size_t
route_table_count(const struct route_table *rt)
{
	return rt ? rt->entries.count : 0;
}

int
route_domain_valid(const char *s, size_t len)
{
	size_t i, label = 0;
	unsigned char c, prev = '.';

	if (len == 0 || len > ROUTE_DOMAIN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c >= 0x80) {
			label++;
		} else if (c == '-') {
			if (label == 0)
				return 0;
			label++;
		} else
			return 0;
		if (label > 63)
			return 0;
		prev = c;
	}
	/* No trailing dot, no trailing hyphen. */
	return prev != '.' && prev != '-';
}

/*
 * Local part of a key or a forward target: dot-atom text (RFC 5322 3.2.3
 * atext plus '.') or UTF-8 bytes (RFC 6531), 1..64 octets.  Quoted strings
 * are not accepted in the configuration.
 */
static int
route_local_valid(const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	if (len == 0 || len > ROUTE_LOCAL_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c >= 0x80)
			continue;
		if (strchr("!#$%&'*+-/=?^_`{|}~.", c) == NULL || c == '\0')
			return 0;
	}
	return 1;
}

int
route_port_parse(const char *s, size_t len, unsigned *port)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int
route_all_digits_dots(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
			return 0;
	return 1;
}

static char *
route_strndup(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* "smtp://" already stripped: HOST[:PORT] with HOST a name, IPv4 or [IPv6]. */
static int
route_smtp_parse(const char *s, size_t len, struct dest *d, const char **why)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	const char *host, *rest, *close;
	size_t hlen, rlen;

	d->port = 25;
	if (len > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', len)) == NULL) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		if (hlen == 0 || hlen >= sizeof(tmp)) {
			*why = "bad IPv6 address";
			return -1;
		}
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, addr) != 1) {
			*why = "bad IPv6 address";
			return -1;
		}
		rest = close + 1;
	} else {
		host = s;
		rest = memchr(s, ':', len);
		if (rest == NULL)
			rest = s + len;
		else if (memchr(rest + 1, ':', len - (size_t)(rest + 1 - s))) {
			*why = "an IPv6 address must be written in brackets: "
			    "smtp://[::1]:25";
			return -1;
		}
		hlen = (size_t)(rest - host);
		if (hlen == 0) {
			*why = "missing host";
			return -1;
		}
		if (route_all_digits_dots(host, hlen)) {
			if (hlen >= sizeof(tmp)) {
				*why = "bad IPv4 address";
				return -1;
			}
			memcpy(tmp, host, hlen);
			tmp[hlen] = '\0';
			if (inet_pton(AF_INET, tmp, addr) != 1) {
				*why = "bad IPv4 address";
				return -1;
			}
		} else if (!route_domain_valid(host, hlen)) {
			*why = "bad host name";
			return -1;
		}
	}
	rlen = len - (size_t)(rest - s);
	if (rlen > 0) {
		if (rest[0] != ':' || route_port_parse(rest + 1, rlen - 1,
		    &d->port) == -1) {
			*why = "bad port (expected :1..65535 after the host)";
			return -1;
		}
	}
	if ((d->host = route_strndup(host, hlen)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int
route_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Parse one destination token into d (zeroed).  0, or -1 with *why. */
int
route_dest_parse(const char *s, size_t len, struct dest *d, const char **why)
{
	const char *at;

	*why = NULL;
	if (route_prefix(s, len, "maildir:")) {
		d->kind = DEST_MAILDIR;
		if (len == 8) {
			*why = "empty Maildir path";
			return -1;
		}
		if ((d->path = route_strndup(s + 8, len - 8)) == NULL)
			goto nomem;
	} else if (route_prefix(s, len, "smtp://")) {
		d->kind = DEST_SMTP;
		if (route_smtp_parse(s + 7, len - 7, d, why) == -1)
			return -1;
	} else if ((at = memchr(s, '@', len)) != NULL) {
		d->kind = DEST_FORWARD;
		if (!route_local_valid(s, (size_t)(at - s)) ||
		    !route_domain_valid(at + 1, len - (size_t)(at - s) - 1)) {
			*why = "bad forward address (expected user@domain)";
			return -1;
		}
		if ((d->address = route_strndup(s, len)) == NULL)
			goto nomem;
	} else {
		*why = "expected maildir:PATH, smtp://HOST[:PORT] or user@domain";
		return -1;
	}
	if ((d->spec = route_strndup(s, len)) == NULL)
		goto nomem;
	return 0;
nomem:
	*why = "out of memory";
	return -1;
}

static int
route_is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/*
 * Parse a destination list.  With out != NULL, *out receives a new array
 * (caller frees with route_dests_free).  Returns the count or -1.
 */
static int
route_value_parse(const char *value, struct dest **out, char *err,
    size_t errlen)
{
	struct dest *dests = NULL, d;
	const char *p = value, *tok, *why;
	size_t n = 0, len, i;

	for (;;) {
		while (*p != '\0' && route_is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		tok = p;
		while (*p != '\0' && !route_is_sep(*p))
			p++;
		len = (size_t)(p - tok);
		for (i = 0; i < len; i++) {
			if ((unsigned char)tok[i] < 0x20 || tok[i] == 0x7f) {
				route_err(err, errlen, "bad destination: "
				    "control character");
				goto fail;
			}
		}
		if (n == ROUTE_MAX_DESTS) {
			route_err(err, errlen, "more than %d destinations",
			    ROUTE_MAX_DESTS);
			goto fail;
		}
		memset(&d, 0, sizeof(d));
		if (route_dest_parse(tok, len, &d, &why) == -1) {
			route_dest_clear(&d);
			route_err(err, errlen, "bad destination '%.*s': %s",
			    (int)(len > 200 ? 200 : len), tok, why);
			goto fail;
		}
		if (out == NULL) {
			route_dest_clear(&d);
		} else {
			if (n % 4 == 0) {
				struct dest *nd;

				nd = realloc(dests, (n + 4) * sizeof(*dests));
				if (nd == NULL) {
					route_dest_clear(&d);
					route_err(err, errlen, "out of memory");
					goto fail;
				}
				dests = nd;
			}
			dests[n] = d;
		}
		n++;
	}
	if (out != NULL)
		*out = dests;
	return (int)n;
fail:
	route_dests_free(dests, out != NULL ? n : 0);
	return -1;
}

int
route_value_check(const char *value, char *err, size_t errlen)
{
	return route_value_parse(value, NULL, err, errlen);
}

/* Lowercase len bytes of src into dst (no terminator). */
static void
route_lower_copy(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (char)route_lower((unsigned char)src[i]);
}

int
route_table_add(struct route_table *rt, const char *key, const char *value,
    char *err, size_t errlen)
{
	char norm[ROUTE_KEY_MAX + 1];
	struct route_entry *e = NULL;
	struct route_domain *dom = NULL;
	struct dest *dests = NULL;
	const char *at, *domain;
	size_t klen, llen, dlen;
	int n = 0, catchall;

	klen = strlen(key);
	at = strchr(key, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL) {
		route_err(err, errlen, "bad route key '%.*s' (expected "
		    "local@domain or *@domain)", (int)(klen > 200 ? 200 : klen),
		    key);
		return -1;
	}
	llen = (size_t)(at - key);
	domain = at + 1;
	dlen = klen - llen - 1;
	catchall = llen == 1 && key[0] == '*';
	if (!catchall && !route_local_valid(key, llen)) {
		route_err(err, errlen, "bad local part in route key '%.*s'",
		    (int)(klen > 200 ? 200 : klen), key);
		return -1;
	}
	if (!route_domain_valid(domain, dlen)) {
		route_err(err, errlen, "bad domain in route key '%.*s'",
		    (int)(klen > 200 ? 200 : klen), key);
		return -1;
	}
	route_lower_copy(norm, key, klen);	/* klen <= 64+1+255 checked */
	norm[klen] = '\0';
	if (route_map_find(&rt->entries, norm, klen) != NULL) {
		route_err(err, errlen, "duplicate route key '%s'", norm);
		return -1;
	}
	if ((n = route_value_parse(value, &dests, err, errlen)) == -1)
		return -1;
	if (n == 0) {
		route_err(err, errlen, "no destinations for '%s'", key);
		return -1;
	}

	/* Allocate everything first, so failure leaves the table as it was. */
	if (route_map_reserve(&rt->entries) == -1 ||
	    route_map_reserve(&rt->domains) == -1 ||
	    (e = calloc(1, sizeof(*e))) == NULL ||
	    (e->node.key = route_strndup(norm, klen)) == NULL)
		goto nomem;
	dom = (struct route_domain *)route_map_find(&rt->domains,
	    norm + llen + 1, dlen);
	if (dom == NULL) {
		if ((dom = calloc(1, sizeof(*dom))) == NULL ||
		    (dom->node.key = route_strndup(norm + llen + 1, dlen)) ==
		    NULL) {
			free(dom);
			goto nomem;
		}
		dom->node.keylen = dlen;
		route_map_insert(&rt->domains, &dom->node);
	}
	e->node.keylen = klen;
	e->dests = dests;
	e->ndests = (size_t)n;
	route_map_insert(&rt->entries, &e->node);
	if (catchall)
		dom->catchall = e;
	return 0;
nomem:
	if (e != NULL)
		free(e->node.key);
	free(e);
	route_dests_free(dests, (size_t)n);
	route_err(err, errlen, "out of memory");
	return -1;
}

/* The domain's record, or NULL when it is not hosted. */
static const struct route_domain *
route_domain_find(const struct route_table *rt, const char *domain,
    size_t domain_len)
{
	char norm[ROUTE_DOMAIN_MAX + 1];

	if (rt == NULL || domain_len == 0 || domain_len > ROUTE_DOMAIN_MAX ||
	    domain[0] == '[')
		return NULL;
	route_lower_copy(norm, domain, domain_len);
	return (const struct route_domain *)route_map_find(&rt->domains, norm,
	    domain_len);
}

int
route_domain_hosted(const struct route_table *rt, const char *domain,
    size_t domain_len)
{
	return route_domain_find(rt, domain, domain_len) != NULL;
}

/* Exact entry for local@domain, or NULL. */
static const struct route_entry *
route_entry_find(const struct route_table *rt, const char *local,
    size_t local_len, const char *domain, size_t domain_len)
{
	char norm[ROUTE_KEY_MAX + 1];

	if (local_len == 0 || local_len > ROUTE_LOCAL_MAX)
		return NULL;	/* no key can have this local part */
	route_lower_copy(norm, local, local_len);
	norm[local_len] = '@';
	route_lower_copy(norm + local_len + 1, domain, domain_len);
	return (const struct route_entry *)route_map_find(&rt->entries, norm,
	    local_len + 1 + domain_len);
}

enum route_result
route_lookup(const struct route_table *rt, const char *local,
    size_t local_len, const char *domain, size_t domain_len,
    const struct dest **dests, size_t *ndests)
{
	const struct route_domain *dom;
	const struct route_entry *e;
	const char *plus;

	if ((dom = route_domain_find(rt, domain, domain_len)) == NULL)
		return ROUTE_NOT_HOSTED;
	e = route_entry_find(rt, local, local_len, domain, domain_len);
	/* Subaddress: "alice+news" -> "alice", split at the first '+'. */
	if (e == NULL && local_len > 0 &&
	    (plus = memchr(local, '+', local_len)) != NULL && plus > local)
		e = route_entry_find(rt, local, (size_t)(plus - local), domain,
		    domain_len);
	if (e == NULL)
		e = dom->catchall;
	if (e == NULL)
		return ROUTE_NO_SUCH_USER;
	*dests = e->dests;
	*ndests = e->ndests;
	return ROUTE_FOUND;
}
