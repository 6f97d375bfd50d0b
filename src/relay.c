/*
 * relay - the daemon's life cycle.  See relay.h.
 */
#include "relay.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "route.h"
#include "smtp_server.h"
#include "spool.h"
#include "srs.h"
#include "store.h"
#include "suppress.h"
#include "workq.h"

/* Sessions still busy this long after SIGTERM are cut off. */
#define RELAY_SHUTDOWN_DEADLINE	30
#define RELAY_WORKERS		4
/* Expired suppressions and stale counters are dropped this often. */
#define RELAY_EXPIRE_INTERVAL	3600
/* config.c's default [store] path. */
#define RELAY_STORE_DEFAULT	"var/state.db"

struct relay {
	struct event_base *base;
	struct config cfg;
	SSL_CTX	*ssl_ctx;
	struct workq *wq;
	struct spool *spool;
	struct deliver *deliver;
	struct smtp_server *srv;
	struct evconnlistener *listeners[CONFIG_MAX_LISTEN];
	size_t	nlisteners;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stop_timer;
	time_t	stop_deadline;
	struct store *store;		/* NULL: [store] not configured */
	struct suppress_policy policy;
	struct srs srs;
	bool	srs_on;
	struct event *expire_timer;
	bool	expire_busy;
};

static SSL_CTX *
relay_tls_ctx(const struct config *cfg)
{
	SSL_CTX *ctx;

	if (cfg->tls_cert[0] == '\0')
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto err;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto err;
	return ctx;
err:
	log_error("TLS: cannot load %s / %s: %s", cfg->tls_cert, cfg->tls_key,
	    ERR_reason_error_string(ERR_get_error()));
	SSL_CTX_free(ctx);
	return NULL;
}

static void
relay_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct relay *r = arg;

	(void)l;
	smtp_server_accept(r->srv, fd, sa, salen);
}

static void
relay_accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	/* EMFILE and friends: log and keep listening; sessions will free fds. */
	log_warn("accept: %s", evutil_socket_error_to_string(err));
}

static int
relay_listen(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->cfg.nlisten; i++) {
		const struct config_listen *cl = &r->cfg.listen[i];
		struct evutil_addrinfo hints, *ai = NULL;
		struct evconnlistener *l;
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
		if ((rc = evutil_getaddrinfo(cl->host, cl->port, &hints, &ai)) != 0) {
			log_error("listen %s:%s: %s", cl->host, cl->port,
			    evutil_gai_strerror(rc));
			return -1;
		}
		l = evconnlistener_new_bind(r->base, relay_accept_cb, r,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
		    (ai->ai_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0),
		    1024, ai->ai_addr, (int)ai->ai_addrlen);
		evutil_freeaddrinfo(ai);
		if (l == NULL) {
			log_error("listen %s:%s: %s", cl->host, cl->port, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(l, relay_accept_error_cb);
		r->listeners[r->nlisteners++] = l;
		log_info("listening on %s%s%s:%s", strchr(cl->host, ':') ? "[" : "",
		    cl->host, strchr(cl->host, ':') ? "]" : "", cl->port);
	}
	return 0;
}

static void
relay_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	struct timeval tv = { 0, 100000 };

	(void)fd;
	(void)what;
	if (smtp_server_session_count(r->srv) == 0 && deliver_idle(r->deliver)) {
		event_base_loopexit(r->base, NULL);
		return;
	}
	if (time(NULL) >= r->stop_deadline) {
		log_warn("shutdown deadline: closing %zu busy session(s)",
		    smtp_server_session_count(r->srv));
		smtp_server_close_all(r->srv);
		if (smtp_server_session_count(r->srv) == 0) {
			/* Unfinished attempts are retried after the restart. */
			event_base_loopexit(r->base, NULL);
			return;
		}
	}
	evtimer_add(r->stop_timer, &tv);
}

static void
relay_signal_stop(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;
	size_t i;

	(void)what;
	if (r->stop_timer != NULL)
		return;	/* already stopping */
	log_info("signal %d: stopping; no new connections", (int)sig);
	for (i = 0; i < r->nlisteners; i++)
		evconnlistener_disable(r->listeners[i]);
	smtp_server_shutdown(r->srv);
	deliver_stop(r->deliver);
	r->stop_deadline = time(NULL) + RELAY_SHUTDOWN_DEADLINE;
	r->stop_timer = evtimer_new(r->base, relay_stop_check, r);
	relay_stop_check(-1, 0, r);
}

/*
 * [routes] source = store: the store's routes join the file's.  XXX At
 * SIGHUP this reads the store on the loop thread; it is an operator action
 * and a route table is read once.
 */
static int
relay_routes_from_store(struct relay *r, struct route_table *rt)
{
	char err[512];

	if (r->cfg.routes_source != CONFIG_ROUTES_STORE)
		return 0;
	if (r->store == NULL) {
		log_error("[routes] source = store, but no store could be opened");
		return -1;
	}
	if (store_routes_load(r->store, rt, err, sizeof(err)) != 0) {
		log_error("routes from the store: %s", err);
		return -1;
	}
	return 0;
}

static void
relay_signal_reload(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;
	struct config ncfg;
	int n;

	(void)sig;
	(void)what;
	/* Only the route table is reloaded; other settings need a restart. */
	n = config_load(r->cfg.path, &ncfg, stderr);
	if (n != 0) {
		log_error("reload: %s has %d problem(s); keeping the old routes",
		    r->cfg.path, n);
		return;
	}
	if (relay_routes_from_store(r, ncfg.routes) != 0) {
		log_error("reload: keeping the old routes");
		config_free(&ncfg);
		return;
	}
	log_info("reload: %zu route(s) from %s%s", route_table_count(ncfg.routes),
	    r->cfg.path, r->cfg.routes_source == CONFIG_ROUTES_STORE ?
	    " and the store" : "");
	deliver_set_routes(r->deliver, ncfg.routes);
	smtp_server_set_routes(r->srv, ncfg.routes);
	ncfg.routes = NULL;
	config_free(&ncfg);
}

static void
relay_signal_retry(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;

	(void)sig;
	(void)what;
	/* `queue retry|delete` left requests in DIR/ctl/ (SIGUSR1). */
	char dir[4200], path[4500];
	struct dirent *de;
	DIR *dp;
	long n;

	if ((n = deliver_rescan(r->deliver)) > 0)
		log_info("queue: %ld new message(s) found in the spool", n);
	snprintf(dir, sizeof(dir), "%s/ctl", r->cfg.queue_dir);
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, "retry.", 6) == 0) {
			const char *id = de->d_name + 6;

			log_info("retry requested for %s: %zu recipient(s) due now",
			    id, deliver_retry_now(r->deliver,
			    strcmp(id, "all") == 0 ? NULL : id));
		}
		if (de->d_name[0] != '.' &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(dp);
}

/* Worker: the store blocks, so expiry never runs on the loop. */
static void
relay_expire_work(void *arg)
{
	struct relay *r = arg;
	uint64_t n = 0;
	int rc;

	rc = suppress_expire(r->store, (int64_t)time(NULL), &n);
	if (rc < 0)
		log_warn("suppression: expiry failed: %s (%s)",
		    store_strerror(rc), store_errmsg(r->store));
	else if (n > 0)
		log_info("suppression: %llu expired entr%s dropped",
		    (unsigned long long)n, n == 1 ? "y" : "ies");
}

static void
relay_expire_done(void *arg)
{
	struct relay *r = arg;

	r->expire_busy = false;
}

static void
relay_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)fd;
	(void)what;
	if (r->store == NULL || r->expire_busy)
		return;
	r->expire_busy = true;
	if (workq_submit(r->wq, relay_expire_work, relay_expire_done, r) != 0)
		r->expire_busy = false;
}

/*
 * Open the store when [store] is configured, and set up SRS.  A store that
 * cannot be opened stops start-up: running without the suppression list
 * would hammer dead addresses without anyone noticing.
 */
static int
relay_store_open(struct relay *r)
{
	char err[512];
	int rc;

	suppress_policy_from_config(&r->policy, &r->cfg);
	rc = srs_init_config(&r->srs, &r->cfg);
	if (rc == SRS_OK) {
		r->srs_on = true;
		log_info("SRS: rewriting forwarded senders under %s", r->srs.domain);
	} else if (rc != SRS_EOFF) {
		log_error("[srs]: %s", srs_strerror(rc));
		return -1;
	}
	if ((rc = store_open_config(&r->cfg, &r->store, err, sizeof(err))) != STORE_OK) {
		/*
		 * The embedded default (var/state.db) is optional: without it
		 * the relay runs as before, without a suppression list.  A
		 * store the operator configured must open.
		 */
		if (r->cfg.store_backend == CONFIG_STORE_SQLITE &&
		    strcmp(r->cfg.store_path, RELAY_STORE_DEFAULT) == 0) {
			log_warn("store: %s; running without a suppression list",
			    err);
			return 0;
		}
		log_error("store: %s", err);
		return -1;
	}
	log_info("store: %s backend, schema %d", store_backend_name(r->store),
	    store_schema_version(r->store));
	return 0;
}

/*
 * queue/relay.pid lets `queue retry` find the running relay.  We hold an
 * exclusive lock on it for our lifetime: the CLI signals the pid only if
 * the lock is held, so a stale file never makes it signal a stranger.
 */
static int
relay_write_pidfile(const struct config *cfg, char *path, size_t pathsz)
{
	char line[32];
	int fd, n;

	if ((size_t)snprintf(path, pathsz, "%s/relay.pid", cfg->queue_dir) >= pathsz)
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_warn("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_warn("%s is locked: is another relay using this queue?", path);
		close(fd);
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, line, (size_t)n) != n)
		log_warn("cannot write %s: %s", path, strerror(errno));
	return fd;
}

static void
relay_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
relay_free(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nlisteners; i++)
		evconnlistener_free(r->listeners[i]);
	/* Workers first: their completions still refer to sessions. */
	if (r->wq)
		workq_free(r->wq);
	if (r->srv)
		smtp_server_free(r->srv);
	deliver_free(r->deliver);
	if (r->spool)
		spool_close(r->spool);
	if (r->sig_term)
		event_free(r->sig_term);
	if (r->sig_int)
		event_free(r->sig_int);
	if (r->sig_hup)
		event_free(r->sig_hup);
	if (r->sig_usr1)
		event_free(r->sig_usr1);
	if (r->stop_timer)
		event_free(r->stop_timer);
	if (r->expire_timer)
		event_free(r->expire_timer);
	store_close(r->store);
	SSL_CTX_free(r->ssl_ctx);
	if (r->base)
		event_base_free(r->base);
	config_free(&r->cfg);
}

int
relay_serve_cmd(int argc, char **argv)
{
	struct relay r;
	const char *path = admin_config_path(argc, argv);
	char err[256], pidpath[4200];
	int pidfd = -1;
	long nrec;
	int n, rc = 1, rc2;

	memset(&r, 0, sizeof(r));
	if ((n = config_load(path, &r.cfg, stderr)) != 0) {
		fprintf(stderr, "cleanbox-relay: %s: %s\n", path,
		    n < 0 ? "cannot read configuration" : "configuration has errors");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit then gives EFBIG, handled like a full disk. */
	signal(SIGXFSZ, SIG_IGN);
	relay_raise_fd_limit();
	evthread_use_pthreads();
	if ((r.base = event_base_new()) == NULL)
		goto out;
	if (r.cfg.tls_cert[0] != '\0' && (r.ssl_ctx = relay_tls_ctx(&r.cfg)) == NULL)
		goto out;
	if ((r.wq = workq_new(r.base, RELAY_WORKERS)) == NULL)
		goto out;
	if (relay_store_open(&r) != 0)
		goto out;
	if ((rc2 = spool_open(r.cfg.queue_dir, &r.spool)) != SPOOL_OK) {
		log_error("queue %s: %s", r.cfg.queue_dir, spool_strerror(rc2));
		goto out;
	}
	if ((r.deliver = deliver_new(r.base, &r.cfg, r.spool, r.wq, err,
	    sizeof(err))) == NULL) {
		log_error("delivery: %s", err);
		goto out;
	}
	if ((r.srv = smtp_server_new(r.base, &r.cfg, r.ssl_ctx, r.wq, r.spool,
	    r.deliver)) == NULL)
		goto out;
	if (r.store != NULL || r.srs_on) {
		deliver_set_store(r.deliver, r.store, &r.policy,
		    r.srs_on ? &r.srs : NULL);
		smtp_server_set_store(r.srv, r.store, &r.policy,
		    r.srs_on ? &r.srs : NULL);
	}
	if (r.store != NULL) {
		struct timeval iv = { RELAY_EXPIRE_INTERVAL, 0 };

		if ((r.expire_timer = event_new(r.base, -1, EV_PERSIST,
		    relay_expire_cb, &r)) == NULL || evtimer_add(r.expire_timer, &iv))
			goto out;
		relay_expire_cb(-1, 0, &r);
	}
	if (relay_routes_from_store(&r, r.cfg.routes) != 0)
		goto out;
	deliver_set_routes(r.deliver, r.cfg.routes);
	smtp_server_set_routes(r.srv, r.cfg.routes);
	r.cfg.routes = NULL;	/* the server and the queue own it now */
	if ((nrec = deliver_recover(r.deliver)) < 0) {
		log_error("queue %s: recovery failed: %s", r.cfg.queue_dir,
		    spool_strerror((int)nrec));
		goto out;
	}
	if (nrec > 0)
		log_info("queue: %ld message(s) recovered from %s", nrec,
		    r.cfg.queue_dir);
	if (relay_listen(&r) != 0)
		goto out;
	r.sig_term = evsignal_new(r.base, SIGTERM, relay_signal_stop, &r);
	r.sig_int = evsignal_new(r.base, SIGINT, relay_signal_stop, &r);
	r.sig_hup = evsignal_new(r.base, SIGHUP, relay_signal_reload, &r);
	r.sig_usr1 = evsignal_new(r.base, SIGUSR1, relay_signal_retry, &r);
	if (!r.sig_term || !r.sig_int || !r.sig_hup || !r.sig_usr1 ||
	    evsignal_add(r.sig_term, NULL) || evsignal_add(r.sig_int, NULL) ||
	    evsignal_add(r.sig_hup, NULL) || evsignal_add(r.sig_usr1, NULL))
		goto out;
	pidfd = relay_write_pidfile(&r.cfg, pidpath, sizeof(pidpath));
	/* Requests left while we were down (queue retry/delete) count now. */
	relay_signal_retry(-1, 0, &r);
	log_info("started: hostname %s, config %s", r.cfg.hostname, path);
	event_base_dispatch(r.base);
	log_info("stopped");
	rc = 0;
out:
	if (pidfd >= 0) {
		unlink(pidpath);
		close(pidfd);
	}
	relay_free(&r);
	return rc;
}
