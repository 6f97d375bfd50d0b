/*
 * sched - retry timing, the in-memory run queue, per-host connection caps.
 *
 * Owns three things, all pure computation without I/O, clocks or event
 * loop (times are passed in; the random source is injectable):
 *
 *   - the backoff schedule: sched_backoff() and sched_next_attempt();
 *   - the run queue: a min-heap of (next attempt time, queue ID, recipient
 *     index) entries; among equal times, first pushed is first popped;
 *   - connection accounting per destination host with a cap
 *     ([outbound] max_per_host).
 *
 * Backoff ([retry] first, factor, max_interval, jitter, lifetime): after
 * the n-th failed attempt the next one comes first * factor^(n-1) seconds
 * later, capped at max_interval, then moved by a random jitter of up to
 * +-jitter (0.2 = 20 %) of that interval so that messages deferred
 * together do not retry together.  With the defaults (5m, 2, 4h, 20 %):
 * 300, 600, 1200, 2400, 4800, 9600, 14400, 14400, ... seconds, +-20 %.
 *
 * Lifetime: a recipient expires when an attempt fails at or after
 * first_attempt + lifetime.  An attempt that would fall after that
 * deadline is not skipped but moved to the deadline itself, so the last
 * attempt happens exactly when the lifetime ends, and a recipient is only
 * given up after a final try.  lifetime 0 means no retry at all: the
 * first temporary failure expires the recipient.
 *
 * Thread safety: the pure functions are thread-safe (sched_rand_default
 * too).  A struct sched is not: the event loop owns it.
 *
 * Callers: the delivery scheduler in the relay (run queue, timer),
 * workers after each attempt (sched_next_attempt), the DSN code
 * (sched_deadline for Will-Retry-Until), admin `queue retry`.
 */
#ifndef CLEANBOX_SCHED_H
#define CLEANBOX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "spool.h"

struct config;

struct sched_retry {
	unsigned first;		/* seconds before the 2nd attempt */
	double	factor;		/* >= 1 */
	unsigned max_interval;	/* cap; 0 = none */
	double	jitter;		/* 0 .. 1 */
	unsigned lifetime;	/* seconds from the first attempt */
};

/* The [retry] section of a loaded configuration. */
void	sched_retry_from_config(const struct config *cfg,
	    struct sched_retry *out);

/* A random source: a uniformly distributed number in [0, 1). */
typedef double (*sched_rand_fn)(void *arg);
/* The default source (arc4random); arg unused. */
double	sched_rand_default(void *arg);

/*
 * Interval in seconds after the attempt_no-th failed attempt, before
 * jitter: 0 for attempt 0, first for attempt 1, then times factor each
 * attempt, never more than max_interval (when not 0).  Saturates instead
 * of overflowing.
 */
unsigned sched_backoff(unsigned first, double factor, unsigned max_interval,
	    unsigned attempt_no);

enum sched_verdict {
	SCHED_RETRY = 0,	/* *next holds the next attempt time */
	SCHED_EXPIRED,		/* lifetime over: fail the recipient */
};

/*
 * When to try again after `attempts` attempts (the last of which just
 * failed at `now`), for a recipient first attempted at first_attempt.
 * rnd NULL = sched_rand_default.  See the lifetime rule above.  The
 * result is at least now + 1 (a retry never spins), except that it is
 * never later than the deadline.
 */
enum sched_verdict sched_next_attempt(time_t now, time_t first_attempt,
	    unsigned attempts, const struct sched_retry *rc, sched_rand_fn rnd,
	    void *rnd_arg, time_t *next);

/* first_attempt + lifetime (saturating): Will-Retry-Until of a DSN. */
time_t	sched_deadline(time_t first_attempt, const struct sched_retry *rc);

/* True when a "delayed" DSN is due: delay_warning ([retry]
 * delay_warning, 0 = off) has passed since first_attempt.  The caller
 * sends it once (spool_rcpt.dsn_sent). */
bool	sched_delay_warning_due(time_t now, time_t first_attempt,
	    unsigned delay_warning);

/* ---- run queue and host accounting ---- */

#define SCHED_OK	 0
#define SCHED_ENOMEM	-1
#define SCHED_EBUSY	-2	/* host at its connection cap */
#define SCHED_EINVAL	-3

struct sched_entry {
	time_t	when;
	char	id[SPOOL_ID_SIZE];
	unsigned rcpt;		/* index into the envelope's recipients */
	uint64_t seq;		/* push order (ties: lower first) */
};

struct sched;

/* max_per_host 0 = no cap.  NULL when out of memory. */
struct sched *sched_new(unsigned max_per_host);
void	sched_free(struct sched *s);
/* Change the cap (SIGHUP); connections above it are not cut, but no new
 * one is granted until the count falls below it. */
void	sched_set_max_per_host(struct sched *s, unsigned max_per_host);

/* Add an entry; SCHED_OK, SCHED_ENOMEM or SCHED_EINVAL (bad ID). */
int	sched_queue_push(struct sched *s, time_t when, const char *id,
	    unsigned rcpt);
size_t	sched_queue_len(const struct sched *s);
/* Earliest entry without removing it; false when empty. */
bool	sched_queue_peek(const struct sched *s, struct sched_entry *out);
/* Remove and return the earliest entry if its time is <= now. */
bool	sched_queue_pop_due(struct sched *s, time_t now,
	    struct sched_entry *out);
/* Remove every entry of message id (queue delete); returns how many. */
size_t	sched_queue_remove(struct sched *s, const char *id);
/* Move every entry of message id (NULL: of all messages) to `when`
 * (queue retry); returns how many. */
size_t	sched_queue_reschedule(struct sched *s, const char *id, time_t when);

/*
 * Take one connection slot for host (a DNS name or an address; compared
 * case-insensitively).  SCHED_OK, SCHED_EBUSY at the cap, SCHED_ENOMEM,
 * SCHED_EINVAL (empty or longer than SPOOL_HOST_MAX).
 */
int	sched_host_acquire(struct sched *s, const char *host);
/* Give a slot back; SCHED_OK, or SCHED_EINVAL when host held none. */
int	sched_host_release(struct sched *s, const char *host);
/* Connections currently held for host. */
unsigned sched_host_count(const struct sched *s, const char *host);
/* Hosts with at least one connection. */
size_t	sched_host_active(const struct sched *s);

#endif
