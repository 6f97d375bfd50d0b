/*
 * sched - retry timing, run queue, per-host caps.  See sched.h.
 */
#include "sched.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* time_t is 64-bit on every platform we build for; saturate below it. */
#define SCHED_TIME_MAX	((time_t)INT64_MAX / 2)

void
sched_retry_from_config(const struct config *cfg, struct sched_retry *out)
{
	out->first = cfg->retry_first;
	out->factor = cfg->retry_factor;
	out->max_interval = cfg->retry_max_interval;
	out->jitter = cfg->retry_jitter;
	out->lifetime = cfg->retry_lifetime;
}

double
sched_rand_default(void *arg)
{
	(void)arg;
	/* 32 random bits scaled into [0, 1). */
	return (double)arc4random() / 4294967296.0;
}

unsigned
sched_backoff(unsigned first, double factor, unsigned max_interval,
    unsigned attempt_no)
{
	double cap = max_interval ? (double)max_interval : (double)UINT_MAX;
	double v;

	if (attempt_no == 0)
		return 0;
	/* NaN or a factor below 1 would shrink or break the schedule. */
	if (!(factor >= 1.0))
		factor = 1.0;
	v = (double)first * pow(factor, (double)(attempt_no - 1));
	if (!(v < cap))		/* also catches +inf */
		return max_interval ? max_interval : UINT_MAX;
	return (unsigned)v;
}

static time_t
sched_add(time_t t, double secs)
{
	if (secs >= (double)(SCHED_TIME_MAX - t))
		return SCHED_TIME_MAX;
	return t + (time_t)secs;
}

time_t
sched_deadline(time_t first_attempt, const struct sched_retry *rc)
{
	return sched_add(first_attempt, (double)rc->lifetime);
}

enum sched_verdict
sched_next_attempt(time_t now, time_t first_attempt, unsigned attempts,
    const struct sched_retry *rc, sched_rand_fn rnd, void *rnd_arg,
    time_t *next)
{
	time_t deadline = sched_deadline(first_attempt, rc);
	double ival, j, u;

	if (now >= deadline)
		return SCHED_EXPIRED;
	ival = (double)sched_backoff(rc->first, rc->factor, rc->max_interval,
	    attempts);
	j = rc->jitter;
	if (!(j > 0.0))
		j = 0.0;
	if (j > 1.0)
		j = 1.0;
	if (j > 0.0) {
		u = (rnd ? rnd : sched_rand_default)(rnd_arg);
		if (!(u >= 0.0))
			u = 0.0;
		if (u >= 1.0)
			u = nextafter(1.0, 0.0);
		/* Uniform in [ival * (1 - j), ival * (1 + j)). */
		ival *= 1.0 + j * (2.0 * u - 1.0);
	}
	ival = floor(ival + 0.5);
	if (ival < 1.0)
		ival = 1.0;
	*next = sched_add(now, ival);
	/* The last attempt happens at the deadline rather than never. */
	if (*next > deadline)
		*next = deadline;
	return SCHED_RETRY;
}

bool
sched_delay_warning_due(time_t now, time_t first_attempt,
    unsigned delay_warning)
{
	if (delay_warning == 0)
		return false;
	return now >= sched_add(first_attempt, (double)delay_warning);
}

/* ---------------------------------------------------------------- */

struct sched_host {
	struct sched_host *next;
	unsigned count;
	char	name[];		/* lower-cased */
};

struct sched {
	/* run queue: binary min-heap on (when, seq) */
	struct sched_entry *heap;
	size_t	n, cap;
	uint64_t seq;

	/* host table: chained hash, grows with the number of hosts */
	struct sched_host **buckets;
	size_t	nbuckets;
	size_t	nhosts;
	unsigned max_per_host;
};

struct sched *
sched_new(unsigned max_per_host)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->nbuckets = 64;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		free(s);
		return NULL;
	}
	s->max_per_host = max_per_host;
	return s;
}

void
sched_free(struct sched *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		struct sched_host *h = s->buckets[i], *nx;

		for (; h != NULL; h = nx) {
			nx = h->next;
			free(h);
		}
	}
	free(s->buckets);
	free(s->heap);
	free(s);
}

void
sched_set_max_per_host(struct sched *s, unsigned max_per_host)
{
	s->max_per_host = max_per_host;
}

/* ---- heap ---- */

static bool
sched_before(const struct sched_entry *a, const struct sched_entry *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return a->seq < b->seq;
}

static void
sched_swap(struct sched_entry *a, struct sched_entry *b)
{
	struct sched_entry t = *a;

	*a = *b;
	*b = t;
}

static void
sched_sift_up(struct sched *s, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!sched_before(&s->heap[i], &s->heap[p]))
			break;
		sched_swap(&s->heap[i], &s->heap[p]);
		i = p;
	}
}

static void
sched_sift_down(struct sched *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->n && sched_before(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->n && sched_before(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		sched_swap(&s->heap[i], &s->heap[m]);
		i = m;
	}
}

static void
sched_heapify(struct sched *s)
{
	size_t i;

	for (i = s->n / 2; i-- > 0;)
		sched_sift_down(s, i);
}

int
sched_queue_push(struct sched *s, time_t when, const char *id, unsigned rcpt)
{
	struct sched_entry *e;

	if (id == NULL || !spool_id_valid(id))
		return SCHED_EINVAL;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;

		if (ncap > SIZE_MAX / sizeof(*s->heap))
			return SCHED_ENOMEM;
		e = realloc(s->heap, ncap * sizeof(*e));
		if (e == NULL)
			return SCHED_ENOMEM;
		s->heap = e;
		s->cap = ncap;
	}
	e = &s->heap[s->n];
	e->when = when;
	memcpy(e->id, id, SPOOL_ID_SIZE);
	e->rcpt = rcpt;
	e->seq = s->seq++;
	sched_sift_up(s, s->n++);
	return SCHED_OK;
}

size_t
sched_queue_len(const struct sched *s)
{
	return s->n;
}

bool
sched_queue_peek(const struct sched *s, struct sched_entry *out)
{
	if (s->n == 0)
		return false;
	*out = s->heap[0];
	return true;
}

bool
sched_queue_pop_due(struct sched *s, time_t now, struct sched_entry *out)
{
	if (s->n == 0 || s->heap[0].when > now)
		return false;
	*out = s->heap[0];
	s->heap[0] = s->heap[--s->n];
	sched_sift_down(s, 0);
	return true;
}

size_t
sched_queue_remove(struct sched *s, const char *id)
{
	size_t i, o = 0, removed;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->heap[i].id, id) != 0)
			s->heap[o++] = s->heap[i];
	removed = s->n - o;
	s->n = o;
	if (removed)
		sched_heapify(s);
	return removed;
}

size_t
sched_queue_reschedule(struct sched *s, const char *id, time_t when)
{
	size_t i, moved = 0;

	for (i = 0; i < s->n; i++) {
		if (id != NULL && strcmp(s->heap[i].id, id) != 0)
			continue;
		s->heap[i].when = when;
		moved++;
	}
	if (moved)
		sched_heapify(s);
	return moved;
}

/* ---- hosts ---- */

static size_t
sched_hash(const char *name)
{
	/* FNV-1a over the lower-cased name. */
	uint64_t h = 1469598103934665603ULL;

	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h ^= c;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct sched_host **
sched_host_slot(const struct sched *s, const char *host)
{
	struct sched_host **p = &s->buckets[sched_hash(host) % s->nbuckets];

	for (; *p != NULL; p = &(*p)->next)
		if (strcasecmp((*p)->name, host) == 0)
			break;
	return p;
}

static void
sched_host_grow(struct sched *s)
{
	struct sched_host **nb, *h, *nx;
	size_t nn = s->nbuckets * 2, i;

	if (nn > SIZE_MAX / sizeof(*nb) || (nb = calloc(nn, sizeof(*nb))) == NULL)
		return;		/* keep the old table: slower, still right */
	for (i = 0; i < s->nbuckets; i++) {
		for (h = s->buckets[i]; h != NULL; h = nx) {
			size_t b = sched_hash(h->name) % nn;

			nx = h->next;
			h->next = nb[b];
			nb[b] = h;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = nn;
}

static bool
sched_host_ok(const char *host)
{
	size_t len;

	if (host == NULL)
		return false;
	len = strnlen(host, SPOOL_HOST_MAX + 1);
	return len > 0 && len <= SPOOL_HOST_MAX;
}

int
sched_host_acquire(struct sched *s, const char *host)
{
	struct sched_host **p, *h;
	size_t len, i;

	if (!sched_host_ok(host))
		return SCHED_EINVAL;
	p = sched_host_slot(s, host);
	if (*p != NULL) {
		if (s->max_per_host && (*p)->count >= s->max_per_host)
			return SCHED_EBUSY;
		(*p)->count++;
		return SCHED_OK;
	}
	len = strlen(host);
	if ((h = malloc(sizeof(*h) + len + 1)) == NULL)
		return SCHED_ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		h->name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	h->name[len] = '\0';
	h->count = 1;
	h->next = NULL;
	*p = h;
	if (++s->nhosts > s->nbuckets * 2)
		sched_host_grow(s);
	return SCHED_OK;
}

int
sched_host_release(struct sched *s, const char *host)
{
	struct sched_host **p, *h;

	if (!sched_host_ok(host))
		return SCHED_EINVAL;
	p = sched_host_slot(s, host);
	if ((h = *p) == NULL)
		return SCHED_EINVAL;
	if (--h->count == 0) {
		*p = h->next;
		free(h);
		s->nhosts--;
	}
	return SCHED_OK;
}

unsigned
sched_host_count(const struct sched *s, const char *host)
{
	struct sched_host **p;

	if (!sched_host_ok(host))
		return 0;
	p = sched_host_slot(s, host);
	return *p ? (*p)->count : 0;
}

size_t
sched_host_active(const struct sched *s)
{
	return s->nhosts;
}
