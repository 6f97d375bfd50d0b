/*
 * store_cli - suppress, bounces and route subcommands.  See store_cli.h.
 */
#include "store_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "route.h"
#include "store.h"
#include "suppress.h"

#define SCLI_MAXPOS	8
#define SCLI_SHOW_EVENTS 10

struct scli_args {
	const char *cmd;		/* argv[1] */
	const char *pos[SCLI_MAXPOS];	/* positional arguments after it */
	int	npos;
	bool	all;
	bool	json;
	const char *reason;
	const char *since;
	const char *top;
};

/* Split argv (argv[0] the subcommand) into options and positionals. */
static int
scli_parse(int argc, char **argv, struct scli_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	if (argc < 2 || argv[1][0] == '-')
		return -1;
	a->cmd = argv[1];
	for (i = 2; i < argc; i++) {
		const char *s = argv[i], **val = NULL;
		size_t n;

		if (strcmp(s, "--all") == 0) {
			a->all = true;
			continue;
		}
		if (strcmp(s, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strncmp(s, "--config", 8) == 0 && (s[8] == '\0' ||
		    s[8] == '=')) {
			if (s[8] == '\0' && ++i >= argc)
				return -1;
			continue;	/* admin_config_path() reads it */
		}
		if (strncmp(s, "--reason", 8) == 0)
			val = &a->reason, n = 8;
		else if (strncmp(s, "--since", 7) == 0)
			val = &a->since, n = 7;
		else if (strncmp(s, "--top", 5) == 0)
			val = &a->top, n = 5;
		if (val != NULL) {
			if (s[n] == '=')
				*val = s + n + 1;
			else if (s[n] == '\0' && i + 1 < argc)
				*val = argv[++i];
			else
				return -1;
			continue;
		}
		if (s[0] == '-' || a->npos == SCLI_MAXPOS)
			return -1;
		a->pos[a->npos++] = s;
	}
	return 0;
}

/* Load the configuration and open its store; prints why on failure. */
static int
scli_open(int argc, char **argv, const char *who, struct config *cfg,
    struct store **st)
{
	char err[600];
	int rc;

	*st = NULL;
	if (config_load(admin_config_path(argc, argv), cfg, stderr) != 0)
		return -1;
	if ((rc = store_open_config(cfg, st, err, sizeof(err))) != STORE_OK) {
		fprintf(stderr, "%s: cannot open the store: %s\n", who, err);
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* The handle's message, or the code's when the store set none. */
static const char *
scli_err(struct store *st, int rc)
{
	const char *m = store_errmsg(st);

	return strcmp(m, "no error") != 0 ? m : store_strerror(rc);
}

/* A whole number 1..max, or -1. */
static int
scli_count(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void
scli_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		(void)snprintf(out, outsz, "-");
		return;
	}
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		(void)snprintf(out, outsz, "?");
}

/* What the operator typed, as a key: lowercased. */
static int
scli_key(const char *arg, char *out, size_t outsz)
{
	if (suppress_key(arg, NULL, out, outsz) == -1) {
		fprintf(stderr, "destination too long\n");
		return -1;
	}
	return 0;
}

static void
scli_json_print(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;

	if (s != NULL) {
		puts(s);
		free(s);
	} else
		fprintf(stderr, "out of memory\n");
	json_decref(j);
}

static json_t *
scli_supp_json(const struct store_supp *r)
{
	return json_pack("{s:s, s:b, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:b, "
	    "s:s, s:I, s:I}", "dest", r->dest, "suppressed", r->suppressed,
	    "reason", r->reason, "status", r->status, "reply", r->reply,
	    "text", r->text, "first_time", (json_int_t)r->first_time,
	    "last_time", (json_int_t)r->last_time, "count",
	    (json_int_t)r->count, "hard", r->hard, "source", r->source,
	    "since", (json_int_t)r->since, "expires_at",
	    (json_int_t)r->expires_at);
}

static json_t *
scli_event_json(const struct store_event *e)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:s, "
	    "s:s}", "id", (json_int_t)e->id, "time", (json_int_t)e->time,
	    "dest", e->dest, "domain", e->domain, "rcpt", e->rcpt, "status",
	    e->status, "reply", e->reply, "reason", e->reason, "hard", e->hard,
	    "source", e->source, "text", e->text);
}

/* ------------------------------------------------------------------ */
/* suppress                                                            */

struct scli_list {
	json_t	*arr;
	size_t	 n;
	int64_t	 now;
};

static int
scli_list_cb(const struct store_supp *r, void *arg)
{
	struct scli_list *l = arg;
	char since[40], exp[40];
	const char *state;

	l->n++;
	if (l->arr != NULL) {
		json_t *o = scli_supp_json(r);

		if (o != NULL)
			json_array_append_new(l->arr, o);
		return 0;
	}
	scli_time(r->since ? r->since : r->last_time, since, sizeof(since));
	if (r->expires_at)
		scli_time(r->expires_at, exp, sizeof(exp));
	else
		(void)snprintf(exp, sizeof(exp), "never");
	state = !r->suppressed ? "counting" : (r->expires_at &&
	    r->expires_at <= l->now) ? "expired" : r->hard ? "hard" : "soft";
	printf("%s\n    %-9s since %s  %s (%s)  %u failure%s  %s  expires %s\n",
	    r->dest, state, since, r->status[0] ? r->status : "-", r->reason,
	    r->count, r->count == 1 ? "" : "s", r->source[0] ? r->source : "-",
	    exp);
	return 0;
}

static int
scli_suppress_list(struct store *st, const struct scli_args *a)
{
	struct store_supp_filter f;
	struct scli_list l;
	int rc;

	memset(&f, 0, sizeof(f));
	memset(&l, 0, sizeof(l));
	l.now = (int64_t)time(NULL);
	f.suppressed_only = !a->all;
	f.now = a->all ? 0 : l.now;
	if (a->json && (l.arr = json_array()) == NULL)
		return 1;
	rc = store_supp_list(st, &f, scli_list_cb, &l);
	if (rc != STORE_OK) {
		fprintf(stderr, "suppress: %s\n", scli_err(st, rc));
		json_decref(l.arr);
		return 1;
	}
	if (a->json)
		scli_json_print(l.arr);
	else if (l.n == 0)
		printf("No %s.\n", a->all ? "destinations tracked" :
		    "suppressed destinations");
	else
		printf("-- %zu destination%s\n", l.n, l.n == 1 ? "" : "s");
	return 0;
}

struct scli_events {
	json_t	*arr;
	size_t	 n;
};

static int
scli_event_cb(const struct store_event *e, void *arg)
{
	struct scli_events *l = arg;
	char when[40], text[200];

	l->n++;
	if (l->arr != NULL) {
		json_t *o = scli_event_json(e);

		if (o != NULL)
			json_array_append_new(l->arr, o);
		return 0;
	}
	scli_time(e->time, when, sizeof(when));
	log_sanitize(text, sizeof(text), e->text, strlen(e->text));
	printf("  %s  %-15s %s %s %-4s %s%s%s\n      %s\n", when, e->source,
	    e->status[0] ? e->status : "-", e->reason, e->hard ? "hard" : "soft",
	    e->rcpt[0] ? "rcpt=<" : "", e->rcpt, e->rcpt[0] ? ">" : "",
	    text[0] ? text : "(no text)");
	return 0;
}

static int
scli_suppress_show(struct store *st, const struct scli_args *a,
    const char *key)
{
	struct store_event_filter ef;
	struct scli_events ev;
	struct store_supp r;
	struct suppress_info info;
	char first[40], last[40], since[40], exp[40], reply[SUPPRESS_REPLY_MAX];
	char text[STORE_TEXT_MAX];
	int rc, sup;

	rc = store_supp_get(st, key, &r);
	if (rc == STORE_NOTFOUND) {
		fprintf(stderr, "suppress: %s: not in the suppression list\n",
		    key);
		return 1;
	}
	if (rc != STORE_OK) {
		fprintf(stderr, "suppress: %s\n", scli_err(st, rc));
		return 1;
	}
	memset(&ef, 0, sizeof(ef));
	memset(&ev, 0, sizeof(ev));
	ef.dest = key;
	ef.limit = SCLI_SHOW_EVENTS;
	if (a->json) {
		json_t *o = scli_supp_json(&r);

		if (o == NULL || (ev.arr = json_array()) == NULL) {
			json_decref(o);
			return 1;
		}
		(void)store_event_scan(st, &ef, scli_event_cb, &ev);
		json_object_set_new(o, "events", ev.arr);
		scli_json_print(o);
		return 0;
	}
	sup = suppress_lookup(st, key, (int64_t)time(NULL), &info);
	scli_time(r.first_time, first, sizeof(first));
	scli_time(r.last_time, last, sizeof(last));
	scli_time(r.since, since, sizeof(since));
	if (r.expires_at)
		scli_time(r.expires_at, exp, sizeof(exp));
	else
		(void)snprintf(exp, sizeof(exp), "never");
	log_sanitize(text, sizeof(text), r.text, strlen(r.text));
	printf("destination: %s\n", r.dest);
	printf("state:       %s\n", sup == 1 ? "suppressed" : r.suppressed ?
	    "suppressed, expired" : "counting soft failures");
	printf("reason:      %s (%s)\n", r.reason, r.hard ? "hard" : "soft");
	if (r.reply)
		printf("status:      %s, reply %d\n", r.status[0] ? r.status :
		    "-", r.reply);
	else
		printf("status:      %s\n", r.status[0] ? r.status : "-");
	printf("text:        %s\n", text[0] ? text : "-");
	printf("source:      %s\n", r.source);
	printf("failures:    %u, first %s, last %s\n", r.count, first, last);
	printf("suppressed:  %s, expires %s\n", since, exp);
	if (sup == 1 && suppress_reply_text(&info, reply, sizeof(reply)) > 0)
		printf("RCPT reply:  550 5.1.1 %s\n", reply);
	printf("recent events:\n");
	rc = store_event_scan(st, &ef, scli_event_cb, &ev);
	if (rc == STORE_OK && ev.n == 0)
		printf("  (none)\n");
	return 0;
}

static void
scli_suppress_usage(void)
{
	fprintf(stderr,
	    "usage: cleanbox-relay suppress list [--all] [--json] [--config FILE]\n"
	    "       cleanbox-relay suppress show DEST [--json] [--config FILE]\n"
	    "       cleanbox-relay suppress add DEST [--reason R] [--config FILE]\n"
	    "       cleanbox-relay suppress remove DEST [--config FILE]\n"
	    "       cleanbox-relay suppress expire [--config FILE]\n");
}

int
suppress_cli_cmd(int argc, char **argv)
{
	struct scli_args a;
	struct config cfg;
	struct store *st;
	struct suppress_policy pol;
	char key[STORE_DEST_MAX];
	uint64_t n;
	int rc = 1, nargs;

	if (scli_parse(argc, argv, &a) == -1) {
		scli_suppress_usage();
		return 2;
	}
	nargs = strcmp(a.cmd, "list") == 0 || strcmp(a.cmd, "expire") == 0 ?
	    0 : strcmp(a.cmd, "show") == 0 || strcmp(a.cmd, "add") == 0 ||
	    strcmp(a.cmd, "remove") == 0 ? 1 : -1;
	if (nargs == -1 || a.npos != nargs || (a.reason != NULL &&
	    strcmp(a.cmd, "add") != 0)) {
		scli_suppress_usage();
		return 2;
	}
	if (nargs == 1 && scli_key(a.pos[0], key, sizeof(key)) == -1)
		return 2;
	if (scli_open(argc, argv, "suppress", &cfg, &st) == -1)
		return 1;
	suppress_policy_from_config(&pol, &cfg);
	if (strcmp(a.cmd, "list") == 0)
		rc = scli_suppress_list(st, &a);
	else if (strcmp(a.cmd, "show") == 0)
		rc = scli_suppress_show(st, &a, key);
	else if (strcmp(a.cmd, "add") == 0) {
		int r = suppress_add(st, &pol, key, a.reason,
		    (int64_t)time(NULL));

		if (r != STORE_OK)
			fprintf(stderr, "suppress: %s: %s\n", key,
			    scli_err(st, r));
		else {
			printf("%s: suppressed (%s)\n", key,
			    a.reason ? a.reason : "operator");
			rc = 0;
		}
	} else if (strcmp(a.cmd, "remove") == 0) {
		int r = suppress_remove(st, key);

		if (r == STORE_OK) {
			printf("%s: removed\n", key);
			rc = 0;
		} else if (r == STORE_NOTFOUND)
			fprintf(stderr, "suppress: %s: not in the suppression "
			    "list\n", key);
		else
			fprintf(stderr, "suppress: %s\n", scli_err(st, r));
	} else if (strcmp(a.cmd, "expire") == 0) {
		if (suppress_expire(st, (int64_t)time(NULL), &n) != STORE_OK)
			fprintf(stderr, "suppress: %s\n", store_errmsg(st));
		else {
			printf("%" PRIu64 " entr%s removed\n", n,
			    n == 1 ? "y" : "ies");
			rc = 0;
		}
	}
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* ------------------------------------------------------------------ */
/* bounces report                                                      */

#define SCLI_GROUP_MAX	1000

struct scli_group {
	char	*key[SCLI_GROUP_MAX];
	uint64_t count[SCLI_GROUP_MAX];
	size_t	 n;
	uint64_t total;
};

static int
scli_group_cb(const char *key, uint64_t count, void *arg)
{
	struct scli_group *g = arg;

	if (g->n == SCLI_GROUP_MAX || (g->key[g->n] = strdup(key)) == NULL)
		return 1;
	g->count[g->n++] = count;
	g->total += count;
	return 0;
}

static void
scli_group_free(struct scli_group *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->key[i]);
	g->n = 0;
}

static uint64_t
scli_group_get(const struct scli_group *g, const char *key)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->key[i], key) == 0)
			return g->count[i];
	return 0;
}

static json_t *
scli_group_json(const struct scli_group *g, const char *keyname)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < g->n; i++)
		if ((o = json_pack("{s:s, s:I}", keyname, g->key[i], "count",
		    (json_int_t)g->count[i])) != NULL)
			json_array_append_new(arr, o);
	return arr;
}

static void
scli_group_print(const struct scli_group *g, const char *title)
{
	size_t i;

	printf("\n%s:\n", title);
	if (g->n == 0)
		printf("  (none)\n");
	for (i = 0; i < g->n; i++)
		printf("  %8" PRIu64 "  %s\n", g->count[i], g->key[i][0] ?
		    g->key[i] : "(unknown)");
}

int
bounces_cli_cmd(int argc, char **argv)
{
	static const struct {
		enum store_group by;
		const char *title, *json, *keyname;
		int limited;
	} groups[] = {
		{ STORE_GROUP_REASON, "By reason", "by_reason", "reason", 1 },
		{ STORE_GROUP_DOMAIN, "By destination domain", "by_domain",
		    "domain", 1 },
		{ STORE_GROUP_SOURCE, "By source", "by_source", "source", 0 },
		{ STORE_GROUP_SUPPRESSED_DEST, "Top suppressed destinations "
		    "(bounces in the period)", "top_suppressed", "dest", 1 },
	};
	enum { NG = sizeof(groups) / sizeof(groups[0]) };
	struct scli_group *g = NULL, hard;
	struct scli_args a;
	struct config cfg;
	struct store *st;
	unsigned window = 7 * 86400, top = 10;
	uint64_t suppressed_now = 0;
	int64_t now, since;
	char when[40];
	size_t i;
	int rc = 1;

	if (scli_parse(argc, argv, &a) == -1 || strcmp(a.cmd, "report") != 0 ||
	    a.npos != 0 || a.reason != NULL || a.all ||
	    (a.since != NULL && config_parse_duration(a.since, &window) == -1) ||
	    (a.top != NULL && scli_count(a.top, SCLI_GROUP_MAX, &top) == -1)) {
		fprintf(stderr, "usage: cleanbox-relay bounces report [--since "
		    "DURATION (7d)] [--top N (10)] [--json] [--config FILE]\n");
		return 2;
	}
	if (scli_open(argc, argv, "bounces", &cfg, &st) == -1)
		return 1;
	now = (int64_t)time(NULL);
	since = now - (int64_t)window;
	memset(&hard, 0, sizeof(hard));
	if ((g = calloc(NG, sizeof(*g))) == NULL)
		goto out;
	if (store_event_count(st, STORE_GROUP_HARD, since, 0, scli_group_cb,
	    &hard) != STORE_OK)
		goto dberr;
	for (i = 0; i < NG; i++)
		if (store_event_count(st, groups[i].by, since,
		    groups[i].limited ? top : 0, scli_group_cb, &g[i]) !=
		    STORE_OK)
			goto dberr;
	if (store_supp_count(st, now, &suppressed_now) != STORE_OK)
		goto dberr;

	if (a.json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "since",
		    (json_int_t)since, "until", (json_int_t)now, "total",
		    (json_int_t)hard.total, "hard",
		    (json_int_t)scli_group_get(&hard, "hard"), "soft",
		    (json_int_t)scli_group_get(&hard, "soft"),
		    "suppressed_now", (json_int_t)suppressed_now);

		for (i = 0; o != NULL && i < NG; i++)
			json_object_set_new(o, groups[i].json,
			    scli_group_json(&g[i], groups[i].keyname));
		scli_json_print(o);
	} else {
		scli_time(since, when, sizeof(when));
		printf("Bounces since %s: %" PRIu64 " (hard %" PRIu64 ", soft %"
		    PRIu64 ")\n", when, hard.total, scli_group_get(&hard, "hard"),
		    scli_group_get(&hard, "soft"));
		printf("Destinations suppressed now: %" PRIu64 "\n",
		    suppressed_now);
		for (i = 0; i < NG; i++)
			scli_group_print(&g[i], groups[i].title);
	}
	rc = 0;
	goto out;
dberr:
	fprintf(stderr, "bounces: %s\n", store_errmsg(st));
out:
	if (g != NULL) {
		for (i = 0; i < NG; i++)
			scli_group_free(&g[i]);
		free(g);
	}
	scli_group_free(&hard);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* ------------------------------------------------------------------ */
/* route                                                               */

static int
scli_route_cb(const char *key, const char *value, void *arg)
{
	(*(size_t *)arg)++;
	printf("%s = %s\n", key, value);
	return 0;
}

int
route_cli_cmd(int argc, char **argv)
{
	struct scli_args a;
	struct config cfg;
	struct store *st;
	struct route_table *rt = NULL;
	struct buf value;
	char key[STORE_ADDR_MAX], err[600];
	size_t n = 0;
	int i, rc = 1, r;

	if (scli_parse(argc, argv, &a) == -1 || a.reason || a.since ||
	    a.top || a.all || a.json ||
	    !((strcmp(a.cmd, "list") == 0 && a.npos == 0) ||
	    (strcmp(a.cmd, "add") == 0 && a.npos >= 2) ||
	    (strcmp(a.cmd, "remove") == 0 && a.npos == 1))) {
		fprintf(stderr, "usage: cleanbox-relay route list [--config FILE]\n"
		    "       cleanbox-relay route add KEY DEST[,DEST...] "
		    "[--config FILE]\n"
		    "       cleanbox-relay route remove KEY [--config FILE]\n");
		return 2;
	}
	buf_init(&value, 65535);
	if (a.npos > 0 && suppress_key(a.pos[0], NULL, key, sizeof(key)) ==
	    -1) {
		fprintf(stderr, "route: key too long\n");
		buf_free(&value);
		return 2;
	}
	for (i = 1; i < a.npos; i++)
		if ((i > 1 && buf_append_str(&value, ", ") != BUF_OK) ||
		    buf_append_str(&value, a.pos[i]) != BUF_OK) {
			fprintf(stderr, "route: destination list too long\n");
			buf_free(&value);
			return 2;
		}
	if (a.npos > 1) {
		/* The same checks as a [routes] line of the file. */
		if ((rt = route_table_new()) == NULL ||
		    route_table_add(rt, key, value.data, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "route: %s: %s\n", key,
			    rt ? err : "out of memory");
			route_table_free(rt);
			buf_free(&value);
			return 1;
		}
		route_table_free(rt);
	}
	if (scli_open(argc, argv, "route", &cfg, &st) == -1) {
		buf_free(&value);
		return 1;
	}
	if (cfg.routes_source != CONFIG_ROUTES_STORE &&
	    strcmp(a.cmd, "list") != 0)
		fprintf(stderr, "route: note: %s has no \"[routes] source = "
		    "store\"; the relay will not read stored routes\n", cfg.path);
	if (strcmp(a.cmd, "list") == 0) {
		if (store_route_list(st, scli_route_cb, &n) == STORE_OK) {
			printf("-- %zu stored route%s\n", n, n == 1 ? "" : "s");
			rc = 0;
		} else
			fprintf(stderr, "route: %s\n", store_errmsg(st));
	} else if (strcmp(a.cmd, "add") == 0) {
		if ((r = store_route_put(st, key, value.data)) == STORE_OK) {
			printf("%s = %s\n", key, value.data);
			rc = 0;
		} else
			fprintf(stderr, "route: %s\n", scli_err(st, r));
	} else {
		r = store_route_delete(st, key);
		if (r == STORE_OK) {
			printf("%s: removed\n", key);
			rc = 0;
		} else if (r == STORE_NOTFOUND)
			fprintf(stderr, "route: %s: no such stored route\n", key);
		else
			fprintf(stderr, "route: %s\n", scli_err(st, r));
	}
	store_close(st);
	config_free(&cfg);
	buf_free(&value);
	return rc;
}
