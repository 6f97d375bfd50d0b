/*
 * smtp_server - the inbound SMTP session state machine (RFC 5321).
 *
 * Owns every inbound session: greeting, EHLO and the extensions it
 * advertises (SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS,
 * DSN, SMTPUTF8), the transaction (MAIL, RCPT with the route policy, DATA),
 * limits (line lengths, recipients, size, errors, timeouts, connections per
 * client), and the reply to the end of DATA.  Parsing is delegated to
 * smtp_parse and smtp_data; local delivery to maildir via workq.
 *
 * Invariants: replies are written in command order (RFC 2920 pipelining);
 * no input is read while a session waits for a worker; plaintext pipelined
 * after STARTTLS is discarded (CVE-2011-0411 class); a session is freed only
 * when no worker job refers to it.
 *
 * Callers: relay (accept, reload, shutdown).
 */
#ifndef CLEANBOX_SMTP_SERVER_H
#define CLEANBOX_SMTP_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct config;
struct event_base;
struct route_table;
struct smtp_server;
struct workq;
struct spool;
struct deliver;

/* ssl_ctx may be NULL (no STARTTLS).  cfg must outlive the server. */
struct smtp_server *smtp_server_new(struct event_base *base,
	    const struct config *cfg, SSL_CTX *ssl_ctx, struct workq *wq,
	    struct spool *sp, struct deliver *dl);
/* Replace the route table (SIGHUP); the server takes ownership of rt. */
void	smtp_server_set_routes(struct smtp_server *srv, struct route_table *rt);
/*
 * Refuse RCPTs whose destinations are all suppressed in st (checked on a
 * worker; some suppressed: those are skipped), and answer RCPTs to the
 * SRS domain of srs (NULL: off).  st and srs must outlive srv.
 */
struct srs;
struct store;
struct suppress_policy;
void	smtp_server_set_store(struct smtp_server *srv, struct store *st,
	    const struct suppress_policy *p, const struct srs *srs);
/* Take over an accepted socket. */
void	smtp_server_accept(struct smtp_server *srv, evutil_socket_t fd,
	    const struct sockaddr *sa, int salen);
/* Graceful stop: idle sessions get 421 now, busy ones after their reply. */
void	smtp_server_shutdown(struct smtp_server *srv);
/* Close every session at once (shutdown deadline passed). */
void	smtp_server_close_all(struct smtp_server *srv);
size_t	smtp_server_session_count(const struct smtp_server *srv);
void	smtp_server_free(struct smtp_server *srv);

#endif
