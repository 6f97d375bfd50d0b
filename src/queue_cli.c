/*
 * queue_cli - queue administration.  See queue_cli.h.
 */
#include "queue_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "buf.h"
#include "config.h"
#include "dsn.h"
#include "route.h"
#include "spool.h"

/* Never let a listing delete anything young: the relay may be writing. */
#define QCLI_SCAN_MIN_AGE	(7u * 86400u)

static const char *
qcli_state_name(enum spool_rcpt_state st)
{
	return st == SPOOL_RCPT_DELIVERED ? "delivered" :
	    st == SPOOL_RCPT_FAILED ? "failed" : "pending";
}

static void
qcli_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (t == 0) {
		snprintf(out, outsz, "-");
		return;
	}
	localtime_r(&t, &tm);
	if (strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, outsz, "?");
}

static int
qcli_list_one(const struct spool_envelope *env, void *arg)
{
	char when[32], next[32];
	size_t i;

	(*(size_t *)arg)++;
	qcli_time(env->arrival, when, sizeof(when));
	printf("%-16s %9zu %s  <%s>\n", env->id, env->size, when, env->sender);
	for (i = 0; i < env->nrcpt; i++) {
		const struct spool_rcpt *r = &env->rcpt[i];

		qcli_time(r->next_attempt, next, sizeof(next));
		printf("    %-9s <%s> via %s, attempts %u%s%s\n",
		    qcli_state_name(r->state), r->addr, r->dest, r->attempts,
		    r->state == SPOOL_RCPT_PENDING ? ", next " : "",
		    r->state == SPOOL_RCPT_PENDING ? next : "");
		if (r->last_error.reply || r->last_error.text[0])
			printf("              (%d %s %s%s%s)\n", r->last_error.reply,
			    r->last_error.status[0] ? r->last_error.status : "-",
			    r->last_error.host[0] ? r->last_error.host : "",
			    r->last_error.host[0] ? ": " : "", r->last_error.text);
	}
	return 0;
}

static int
qcli_list(struct spool *sp)
{
	size_t n = 0;
	int rc;

	rc = spool_scan(sp, QCLI_SCAN_MIN_AGE, qcli_list_one, &n, NULL);
	if (rc < 0) {
		fprintf(stderr, "queue: %s\n", spool_strerror(rc));
		return 1;
	}
	if (n == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %zu message%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
qcli_show(struct spool *sp, const char *id)
{
	struct spool_envelope env;
	struct buf data;
	size_t n = 0, i;
	int rc;

	buf_init(&data, 0);
	rc = spool_message_load(sp, id, &env, &data);
	if (rc != SPOOL_OK) {
		fprintf(stderr, "queue: %s: %s\n", id, spool_strerror(rc));
		spool_envelope_free(&env);
		buf_free(&data);
		return 1;
	}
	qcli_list_one(&env, &n);
	printf("client: %s [%s]\n", env.helo, env.client_ip);
	if (env.envid[0])
		printf("envid: %s\n", env.envid);
	printf("\n");
	/* The header section only: up to the first empty line. */
	for (i = 0; i < data.len; i++) {
		if (data.data[i] == '\n' && i + 2 < data.len &&
		    data.data[i + 1] == '\r' && data.data[i + 2] == '\n') {
			i++;
			break;
		}
	}
	fwrite(data.data, 1, i, stdout);
	spool_envelope_free(&env);
	buf_free(&data);
	return 0;
}

/* Ask the running relay (if any) to act now: ctl/NAME file + SIGUSR1. */
static void
qcli_poke(const struct config *cfg, const char *name)
{
	char path[4300];
	FILE *f;
	long pid = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/ctl", cfg->queue_dir);
	mkdir(path, 0700);
	if ((size_t)snprintf(path, sizeof(path), "%s/ctl/%s", cfg->queue_dir,
	    name) < sizeof(path) &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/relay.pid", cfg->queue_dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	/* The relay holds a lock on its pid file; a free lock means stale. */
	if (flock(fileno(f), LOCK_EX | LOCK_NB) == 0) {
		printf("the relay is not running; it acts at its next start\n");
		fclose(f);
		return;
	}
	if (fscanf(f, "%ld", &pid) == 1 && pid > 1 && kill((pid_t)pid, SIGUSR1) == 0)
		printf("asked the running relay (pid %ld) to act now\n", pid);
	fclose(f);
}

/* A failure notice for every pending recipient of a deleted message. */
static int
qcli_bounce(struct spool *sp, const struct config *cfg,
    const struct spool_envelope *env, const struct buf *data)
{
	struct dsn_report rep;
	struct dsn_rcpt *dr;
	struct spool_envelope dn;
	struct buf out;
	size_t i, n = 0;
	unsigned needs = 0;
	int rc = -1;

	if (env->sender[0] == '\0')
		return 0;	/* never a notice about a notice */
	if ((dr = calloc(env->nrcpt + 1, sizeof(*dr))) == NULL)
		return -1;
	for (i = 0; i < env->nrcpt; i++) {
		struct spool_rcpt tmp = env->rcpt[i];

		if (tmp.state != SPOOL_RCPT_PENDING ||
		    !dsn_wanted(tmp.notify, DSN_ACTION_FAILED))
			continue;
		snprintf(tmp.last_error.status, sizeof(tmp.last_error.status), "5.0.0");
		dsn_rcpt_from_spool(&dr[n], &env->rcpt[i], DSN_ACTION_FAILED, 0);
		dr[n].status = "5.0.0";
		dr[n].reply = 0;
		dr[n].diag = "deleted from the queue by the mail administrator";
		dr[n].remote_mta = NULL;
		n++;
	}
	buf_init(&out, 0);
	spool_envelope_init(&dn);
	if (n == 0) {
		rc = 0;
		goto out;
	}
	memset(&rep, 0, sizeof(rep));
	dsn_report_from_envelope(&rep, env);
	rep.hostname = cfg->hostname;
	rep.now = time(NULL);
	rep.msg = data->data;
	rep.msg_len = data->len;
	rep.rcpt = dr;
	rep.nrcpt = n;
	if (dsn_build(&rep, &out, &needs) != DSN_OK)
		goto out;
	if (dsn_envelope_make(&dn, cfg->hostname, env->sender, cfg->routes,
	    needs, rep.now) != 0)
		goto out;
	rc = spool_message_create(sp, &dn, out.data, out.len, NULL) == SPOOL_OK ? 0 : -1;
	if (rc == 0)
		printf("%s: failure notice queued for <%s> as %s\n", env->id,
		    env->sender, dn.id);
out:
	spool_envelope_free(&dn);
	buf_free(&out);
	free(dr);
	return rc;
}

static int
qcli_delete(struct spool *sp, const struct config *cfg, const char *id,
    bool silent)
{
	struct spool_envelope env;
	struct buf data;
	int rc;

	buf_init(&data, 0);
	if ((rc = spool_message_load(sp, id, &env, &data)) != SPOOL_OK) {
		fprintf(stderr, "queue: %s: %s\n", id, spool_strerror(rc));
		spool_envelope_free(&env);
		buf_free(&data);
		return 1;
	}
	if (!silent && qcli_bounce(sp, cfg, &env, &data) != 0)
		fprintf(stderr, "queue: %s: could not queue the failure notice\n", id);
	rc = spool_message_remove(sp, id);
	spool_envelope_free(&env);
	buf_free(&data);
	if (rc != SPOOL_OK) {
		fprintf(stderr, "queue: %s: %s\n", id, spool_strerror(rc));
		return 1;
	}
	printf("%s: deleted\n", id);
	qcli_poke(cfg, "rescan");
	return 0;
}

static void
qcli_usage(void)
{
	fprintf(stderr, "usage: cleanbox-relay queue list [--config FILE]\n"
	    "       cleanbox-relay queue show ID [--config FILE]\n"
	    "       cleanbox-relay queue retry ID|--all [--config FILE]\n"
	    "       cleanbox-relay queue delete ID [--silent] [--config FILE]\n");
}

int
queue_cli_cmd(int argc, char **argv)
{
	struct config cfg;
	struct spool *sp = NULL;
	const char *id = NULL;
	bool silent = false, all = false;
	int i, rc = 1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(argv[i], "--config=", 9) == 0)
			continue;
		if (strcmp(argv[i], "--silent") == 0)
			silent = true;
		else if (strcmp(argv[i], "--all") == 0)
			all = true;
		else if (argv[i][0] != '-' && id == NULL)
			id = argv[i];
		else {
			qcli_usage();
			return 2;
		}
	}
	if (argc < 2) {
		qcli_usage();
		return 2;
	}
	if (config_load(admin_config_path(argc, argv), &cfg, stderr) != 0)
		return 1;
	if (spool_open(cfg.queue_dir, &sp) != SPOOL_OK) {
		fprintf(stderr, "queue: cannot open %s\n", cfg.queue_dir);
		goto out;
	}
	if (strcmp(argv[1], "list") == 0) {
		rc = qcli_list(sp);
	} else if (strcmp(argv[1], "show") == 0 && id && spool_id_valid(id)) {
		rc = qcli_show(sp, id);
	} else if (strcmp(argv[1], "retry") == 0 && (all || (id && spool_id_valid(id)))) {
		char name[64];

		snprintf(name, sizeof(name), "retry.%s", all ? "all" : id);
		qcli_poke(&cfg, name);
		rc = 0;
	} else if (strcmp(argv[1], "delete") == 0 && id && spool_id_valid(id)) {
		rc = qcli_delete(sp, &cfg, id, silent);
	} else {
		if (id && !spool_id_valid(id))
			fprintf(stderr, "queue: '%s' is not a queue ID\n", id);
		qcli_usage();
		rc = 2;
	}
out:
	if (sp)
		spool_close(sp);
	config_free(&cfg);
	return rc;
}
