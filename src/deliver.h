/*
 * deliver - the queue manager: delivery attempts of spooled messages.
 *
 * Owns every message in the spool while the relay runs: an in-memory copy
 * of each envelope, the run queue (schedule), the outbound connections
 * (a per-host pool with the [outbound] max_per_host cap), and what follows
 * each attempt: per recipient delivered / deferred (next attempt by
 * exponential backoff with jitter) / failed (5xx, or the lifetime is over),
 * the RFC 3464 DSN to the sender (itself spooled and delivered like any
 * message, from <>; a DSN about a DSN is never made), the maillog line, and
 * the atomic envelope update or the removal of a finished message.
 *
 * An attempt groups a message's due recipients by destination: Maildir
 * paths (written on a worker thread), smtp://host:port (that host), and
 * forwarding addresses (the MX hosts of the address's domain, looked up
 * with c-ares; a forward to a domain the relay hosts goes through the route
 * table instead).  Every disk operation runs on the worker pool; the event
 * loop never blocks.
 *
 * Invariants: one attempt per message at a time (a message is "busy" from
 * the load of its data until its envelope is durable again); a delivered or
 * failed recipient is never attempted again; the spool is the truth after a
 * crash, so an attempt's outcome is recorded before it is acted upon only
 * where that cannot lose mail (a crash between delivery and the envelope
 * update repeats a delivery: at most twice, never zero times).
 *
 * Callers: relay (start-up recovery, shutdown, signals), smtp_server (new
 * spooled messages), admin via signals (retry).
 */
#ifndef CLEANBOX_DELIVER_H
#define CLEANBOX_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "dsn.h"	/* enum dsn_action, struct buf */

struct config;
struct event_base;
struct route_table;
struct spool;
struct spool_envelope;
struct workq;

struct deliver;

/*
 * A queue manager over spool sp.  It creates its own DNS resolver and
 * outbound TLS context from cfg.  NULL with a message in err on failure.
 */
struct deliver *deliver_new(struct event_base *base, const struct config *cfg,
	    struct spool *sp, struct workq *wq, char *err, size_t errlen);
/* Stop: no new attempts; connections are dropped.  Frees d. */
void	deliver_free(struct deliver *d);
/* Use rt (a reference is taken) for forwards to hosted domains and DSNs. */
void	deliver_set_routes(struct deliver *d, struct route_table *rt);
/*
 * Record every attempt's outcome per recipient in st (suppression list and
 * bounce events, on the worker that persists the envelope) under policy p,
 * and rewrite the sender of forwards to foreign domains with srs (NULL:
 * off).  st, p's copy and srs must outlive d; st NULL turns recording off.
 */
struct srs;
struct store;
struct suppress_policy;
void	deliver_set_store(struct deliver *d, struct store *st,
	    const struct suppress_policy *p, const struct srs *srs);
/*
 * Load every committed message from the spool (start-up, before the
 * workers take new mail).  Returns the number found or a negative SPOOL_E*.
 */
long	deliver_recover(struct deliver *d);
/*
 * Pick up messages another process (queue delete's notices) put in the
 * spool.  Returns how many were new, or a negative SPOOL_E*.
 */
long	deliver_rescan(struct deliver *d);
/*
 * Take a message just committed to the spool: env's contents are moved into
 * the queue manager (env is left empty).  data, when not NULL, is the
 * message as spooled: a small one is moved in (data is left empty) so the
 * first attempt does not read the file back.  Its pending recipients whose
 * next attempt is due are tried at once.
 */
void	deliver_enqueue(struct deliver *d, struct spool_envelope *env,
	    struct buf *data);
/* Make every pending recipient (of id, or all when id is NULL) due now. */
size_t	deliver_retry_now(struct deliver *d, const char *id);
/* Stop starting attempts (graceful shutdown); true when none is running. */
void	deliver_stop(struct deliver *d);
bool	deliver_idle(const struct deliver *d);
size_t	deliver_queue_size(const struct deliver *d);

/*
 * Shared with in-session delivery (insession), so that both paths count
 * outbound connections against the same per-host cap, under the same key,
 * and use one resolver and one TLS context.  Valid until deliver_free.
 */
struct dest;
struct dns_resolver;
struct sched;
struct ssl_ctx_st;
struct sched *deliver_sched(struct deliver *d);
struct dns_resolver *deliver_dns(struct deliver *d);
/* NULL when [outbound] tls = none. */
struct ssl_ctx_st *deliver_ssl_ctx(struct deliver *d);
/* The per-host cap key of a destination ("smtp:host:port", "mx:domain",
 * "maildir:path"), lowercased, cut to keysz. */
void	deliver_dest_key(const struct dest *dst, char *key, size_t keysz);
/*
 * The MAIL FROM for sending sender's mail to dst: its SRS0/SRS1 rewrite
 * (written into buf, bufsz bytes) when srs is on and dst forwards to a
 * domain rt does not host, else sender itself.  Never rewrites <> ("")
 * and never smtp:// or maildir destinations; a rewrite that fails (too
 * long, no '@') keeps sender, logged.  Returns buf or sender.
 */
struct srs;
struct route_table;
const char *deliver_mail_from(const struct srs *srs,
	    const struct route_table *rt, const struct dest *dst,
	    const char *sender, char *buf, size_t bufsz);
/* The explanation hook (dsn_explain_fn) of the queue manager's notices:
 * the bounce classifier's meaning and fix, so every notice reads alike. */
int	deliver_dsn_explain(void *arg, enum dsn_action action, int reply,
	    const char *status, const char *text, struct buf *out);

#endif
