/*
 * bounce_cli - `bounce explain`, `bounce classify`, `check`.  See bounce_cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "addrcheck.h"
#include "bounce.h"
#include "bounce_cli.h"
#include "bounce_parse.h"
#include "bounce_text.h"
#include "mxcheck.h"

#define CHECK_DNS_TIMEOUT_MS	5000

static void
bounce_cli_usage(FILE *f)
{
	fprintf(f,
	    "usage: cleanbox-relay bounce explain [--json] FILE...|-\n"
	    "       cleanbox-relay bounce classify --reply N --status X.Y.Z "
	    "--text TEXT [--json]\n");
}

/*
 * Read at most BOUNCE_PARSE_PREFIX bytes of a file (or stdin for "-"):
 * the parser never looks further, so a 20 MB bounce costs a 2 MB read.
 */
static int
bounce_cli_read(const char *path, char **data, size_t *len, const char **err)
{
	size_t cap = BOUNCE_PARSE_PREFIX, n = 0;
	int fd, rc = -1;
	char *buf;

	*data = NULL;
	*len = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*err = strerror(errno);
		return -1;
	}
	if ((buf = malloc(cap + 1)) == NULL) {
		*err = strerror(ENOMEM);
		goto out;
	}
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = strerror(errno);
			free(buf);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	rc = 0;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

static json_t *
bounce_cli_str(const char *s)
{
	/* json_string validates UTF-8 (RFC 8259 8.1); a failure gives "" */
	json_t *j = json_string(s);

	return j ? j : json_string("");
}

static json_t *
bounce_cli_hard(int hard)
{
	if (hard == BOUNCE_HARD)
		return json_true();
	if (hard == BOUNCE_SOFT)
		return json_false();
	return json_null();
}

/*
 * `bounce explain --json` writes its lines with this small RFC 8259
 * encoder rather than through jansson objects: on the corpus jansson spent
 * about 220 instructions per output byte (object set-up, per-character
 * UTF-8 iteration, one callback per run), 40 % of the whole run, and the
 * throughput target is 20x the reference parser.  The strings are valid
 * UTF-8 by construction (bounce_parse.h), so escaping '"', '\\' and
 * control characters is all RFC 8259 7 asks.  classify and check, with a
 * single small object each, use jansson.
 */
static void
bounce_cli_json_str(FILE *f, const char *s)
{
	const char *run = s;

	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		fwrite(run, 1, (size_t)(s - run), f);
		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
		} else
			fprintf(f, "\\u%04x", c);
		run = s + 1;
	}
	fwrite(run, 1, (size_t)(s - run), f);
	putc('"', f);
}

static void
bounce_cli_json_key(FILE *f, const char *k, const char *v, bool comma)
{
	if (comma)
		putc(',', f);
	bounce_cli_json_str(f, k);
	putc(':', f);
	bounce_cli_json_str(f, v);
}

static void
bounce_cli_json_file(FILE *f, const char *path, const struct bounce_report *rep,
    const char *error)
{
	char safe[4096];
	size_t i;

	bounce_text_oneline(path, strlen(path), safe, sizeof(safe));
	putc('{', f);
	bounce_cli_json_key(f, "file", safe, false);
	if (error != NULL) {
		bounce_cli_json_key(f, "error", error, true);
		fputs("}\n", f);
		return;
	}
	fputs(",\"results\":[", f);
	for (i = 0; rep != NULL && i < rep->n; i++) {
		const struct bounce_result *r = &rep->results[i];

		if (i > 0)
			putc(',', f);
		putc('{', f);
		bounce_cli_json_key(f, "recipient", r->recipient, false);
		bounce_cli_json_key(f, "status", r->status, true);
		bounce_cli_json_key(f, "reply", r->reply, true);
		bounce_cli_json_key(f, "reason",
		    bounce_reason_name(r->verdict.reason), true);
		fputs(r->verdict.hard == BOUNCE_HARD ? ",\"hard\":true" :
		    r->verdict.hard == BOUNCE_SOFT ? ",\"hard\":false" :
		    ",\"hard\":null", f);
		bounce_cli_json_key(f, "diagnostic", r->diagnostic, true);
		bounce_cli_json_key(f, "remote", r->remote, true);
		bounce_cli_json_key(f, "explanation", r->verdict.meaning, true);
		bounce_cli_json_key(f, "actor",
		    bounce_actor_name(r->verdict.actor), true);
		bounce_cli_json_key(f, "fix", r->verdict.fix, true);
		putc('}', f);
	}
	fputs("]}\n", f);
}

static void
bounce_cli_print_json(json_t *o)
{
	if (json_dumpf(o, stdout, JSON_COMPACT) == 0)
		fputc('\n', stdout);
}

static const char *
bounce_cli_hard_word(int hard)
{
	if (hard == BOUNCE_HARD)
		return "hard bounce: the address will never work";
	if (hard == BOUNCE_SOFT)
		return "soft bounce: the address itself is fine";
	return "not a failure";
}

static const char *
bounce_cli_actor_words(enum bounce_actor a)
{
	switch (a) {
	case BOUNCE_ACTOR_SENDER:
		return "the sender";
	case BOUNCE_ACTOR_RECIPIENT:
		return "the recipient";
	case BOUNCE_ACTOR_RECIPIENT_ADMIN:
		return "the recipient's mail administrator";
	case BOUNCE_ACTOR_RELAY_OPERATOR:
		return "the relay's operator";
	}
	return "the sender";
}

#define CLI_WIDTH	78
#define CLI_INDENT	13	/* "  Label:     " */

/* Print "  Label:     text", the text word-wrapped under itself. */
static void
bounce_cli_field(const char *label, const char *text)
{
	size_t col, len = strlen(text), pos = 0;

	col = (size_t)printf("  %-10s ", label);
	while (col < CLI_INDENT)
		col += (size_t)printf(" ");
	while (pos < len) {
		size_t room = CLI_WIDTH - CLI_INDENT, take = len - pos;

		if (take > room) {
			/* break at the last blank that fits */
			size_t k = room;

			while (k > 0 && text[pos + k] != ' ')
				k--;
			take = k > 0 ? k : room;
		}
		fwrite(text + pos, 1, take, stdout);
		pos += take;
		while (pos < len && text[pos] == ' ')
			pos++;
		if (pos < len)
			printf("\n%*s", CLI_INDENT, "");
	}
	printf("\n");
}

static void
bounce_cli_print_verdict(int reply, const char *status,
    const struct bounce_verdict *v)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "%s (%s)",
	    bounce_cli_hard_word(v->hard), bounce_reason_name(v->reason));
	if (n > 0 && (size_t)n < sizeof(line))
		bounce_cli_field("Result:", line);
	bounce_cli_field("What:", v->meaning);
	if (v->code_text[0] != '\0') {
		if (reply > 0 && status[0] != '\0')
			n = snprintf(line, sizeof(line), "%d %s: %s", reply,
			    status, v->code_text);
		else if (status[0] != '\0')
			n = snprintf(line, sizeof(line), "%s: %s", status,
			    v->code_text);
		else
			n = snprintf(line, sizeof(line), "%d: %s", reply,
			    v->code_text);
		if (n > 0 && (size_t)n < sizeof(line))
			bounce_cli_field("Code:", line);
	}
	bounce_cli_field("Who acts:", bounce_cli_actor_words(v->actor));
	bounce_cli_field("Fix:", v->fix);
}

static void
bounce_cli_print_human(const char *path, const struct bounce_report *rep)
{
	size_t i;

	if (rep->n == 0) {
		printf("%s: not a bounce (no failed recipient found)\n\n", path);
		return;
	}
	printf("%s: %zu result%s\n", path, rep->n, rep->n == 1 ? "" : "s");
	for (i = 0; i < rep->n; i++) {
		const struct bounce_result *r = &rep->results[i];
		const char *at = strrchr(r->recipient, '@');
		char sugg[256], line[600];

		bounce_cli_field("Recipient:", r->recipient[0] ? r->recipient :
		    "(not named in the report)");
		bounce_cli_print_verdict(atoi(r->reply), r->status, &r->verdict);
		if (r->remote[0] != '\0')
			bounce_cli_field("Server:", r->remote);
		if (r->diagnostic[0] != '\0')
			bounce_cli_field("It said:", r->diagnostic);
		if ((r->verdict.reason == BOUNCE_USERUNKNOWN ||
		    r->verdict.reason == BOUNCE_HOSTUNKNOWN) && at != NULL &&
		    addrcheck_suggest_domain(at + 1, sugg, sizeof(sugg))) {
			int n = snprintf(line, sizeof(line), "did you mean "
			    "%.*s@%s?", (int)(at - r->recipient), r->recipient,
			    sugg);

			if (n > 0 && (size_t)n < sizeof(line))
				bounce_cli_field("Typo?", line);
		}
		if (i + 1 < rep->n)
			printf("\n");
	}
	printf("\n");
}

static int
bounce_cli_explain(int argc, char **argv)
{
	bool json = false;
	int i, status = 0, nfiles = 0;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			bounce_cli_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "bounce explain: unknown option %s\n",
			    argv[i]);
			bounce_cli_usage(stderr);
			return 2;
		} else
			nfiles++;
	}
	if (nfiles == 0) {
		bounce_cli_usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		struct bounce_report rep;
		const char *err = NULL;
		char *data;
		size_t len;

		if (argv[i][0] == '-' && argv[i][1] != '\0')
			continue;
		if (bounce_cli_read(argv[i], &data, &len, &err) < 0) {
			status = 1;
			if (json)
				bounce_cli_json_file(stdout, argv[i], NULL, err);
			else
				fprintf(stderr, "%s: %s\n", argv[i], err);
			continue;
		}
		if (bounce_parse(data, len, &rep) < 0) {
			status = 1;
			bounce_report_free(&rep);
			free(data);
			if (json)
				bounce_cli_json_file(stdout, argv[i], NULL,
				    "out of memory");
			else
				fprintf(stderr, "%s: out of memory\n", argv[i]);
			continue;
		}
		if (json)
			bounce_cli_json_file(stdout, argv[i], &rep, NULL);
		else
			bounce_cli_print_human(argv[i], &rep);
		bounce_report_free(&rep);
		free(data);
	}
	fflush(stdout);
	return status;
}

static int
bounce_cli_classify(int argc, char **argv)
{
	const char *status = "", *text = "";
	int reply = 0, i;
	bool json = false;
	struct bounce_verdict v;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--reply") == 0 && i + 1 < argc) {
			char *end;
			long r = strtol(argv[++i], &end, 10);

			if (*end != '\0' || r < 200 || r > 599) {
				fprintf(stderr, "bounce classify: --reply wants "
				    "a code from 200 to 599\n");
				return 2;
			}
			reply = (int)r;
		} else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
			status = argv[++i];
		else if (strcmp(argv[i], "--text") == 0 && i + 1 < argc)
			text = argv[++i];
		else {
			bounce_cli_usage(stderr);
			return 2;
		}
	}
	if (reply == 0 && status[0] == '\0' && text[0] == '\0') {
		bounce_cli_usage(stderr);
		return 2;
	}
	bounce_classify(reply, status, text, &v);
	if (json) {
		json_t *o = json_object();
		char rs[8] = "";

		if (reply)
			snprintf(rs, sizeof(rs), "%d", reply);
		json_object_set_new(o, "reply", bounce_cli_str(rs));
		json_object_set_new(o, "status", bounce_cli_str(status));
		json_object_set_new(o, "reason",
		    bounce_cli_str(bounce_reason_name(v.reason)));
		json_object_set_new(o, "hard", bounce_cli_hard(v.hard));
		json_object_set_new(o, "temporary", json_boolean(v.temporary));
		json_object_set_new(o, "explanation", bounce_cli_str(v.meaning));
		json_object_set_new(o, "code_meaning",
		    bounce_cli_str(v.code_text));
		json_object_set_new(o, "actor",
		    bounce_cli_str(bounce_actor_name(v.actor)));
		json_object_set_new(o, "fix", bounce_cli_str(v.fix));
		bounce_cli_print_json(o);
		json_decref(o);
	} else
		bounce_cli_print_verdict(reply, status, &v);
	return 0;
}

int
bounce_cli_cmd(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "explain") == 0)
		return bounce_cli_explain(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "classify") == 0)
		return bounce_cli_classify(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		bounce_cli_usage(stdout);
		return 0;
	}
	bounce_cli_usage(stderr);
	return 2;
}

/* ---- check ------------------------------------------------------------ */

static const char *const mx_names[] = {
	[MXCHECK_MX] = "mx", [MXCHECK_IMPLICIT] = "implicit",
	[MXCHECK_NULLMX] = "nullmx", [MXCHECK_NXDOMAIN] = "nxdomain",
	[MXCHECK_NOMAIL] = "nomail", [MXCHECK_ERROR] = "error",
};

static int
check_cli_one(const char *addr, bool json, bool dns, const char *resolver)
{
	struct addrcheck_result ar;
	struct mxcheck_result mr;
	char sugg[ADDRCHECK_DOMAIN_MAX + 1] = "", full[600] = "";
	bool valid, have_sugg = false, dns_done = false;
	int rc = 0;

	valid = addrcheck_syntax(addr, strlen(addr), &ar) == 0;
	if (valid && !ar.literal &&
	    addrcheck_suggest_domain(ar.domain, sugg, sizeof(sugg))) {
		int n = snprintf(full, sizeof(full), "%s@%s", ar.local, sugg);

		have_sugg = n > 0 && (size_t)n < sizeof(full);
	}
	if (!valid)
		rc = 1;
	if (valid && dns && !ar.literal) {
		(void)mxcheck_domain(ar.domain, resolver, CHECK_DNS_TIMEOUT_MS,
		    &mr);
		dns_done = true;
		if (mr.status == MXCHECK_NULLMX ||
		    mr.status == MXCHECK_NXDOMAIN ||
		    mr.status == MXCHECK_NOMAIL)
			rc = 1;
	}
	if (json) {
		json_t *o = json_object();
		char safe[1024];

		bounce_text_oneline(addr, strlen(addr), safe, sizeof(safe));
		json_object_set_new(o, "address", bounce_cli_str(safe));
		json_object_set_new(o, "valid", json_boolean(valid));
		json_object_set_new(o, "syntax",
		    bounce_cli_str(addrcheck_error_text(ar.error)));
		json_object_set_new(o, "smtputf8", json_boolean(ar.utf8));
		json_object_set_new(o, "suggestion", have_sugg ?
		    bounce_cli_str(full) : json_null());
		if (dns_done) {
			json_t *mx = json_array();
			size_t i;

			for (i = 0; i < mr.nhosts; i++)
				json_array_append_new(mx,
				    bounce_cli_str(mr.hosts[i]));
			json_object_set_new(o, "domain",
			    bounce_cli_str(mx_names[mr.status]));
			json_object_set_new(o, "accepts_mail",
			    mr.status == MXCHECK_ERROR ? json_null() :
			    json_boolean(mr.status == MXCHECK_MX ||
			    mr.status == MXCHECK_IMPLICIT));
			json_object_set_new(o, "mx", mx);
			if (mr.status == MXCHECK_ERROR)
				json_object_set_new(o, "dns_error",
				    bounce_cli_str(mr.error));
		} else {
			json_object_set_new(o, "domain",
			    bounce_cli_str("unchecked"));
			json_object_set_new(o, "accepts_mail", json_null());
		}
		bounce_cli_print_json(o);
		json_decref(o);
		return rc;
	}
	printf("%s\n", addr);
	printf("  Syntax:    %s%s\n", valid ? "ok" : "INVALID: ",
	    valid ? (ar.utf8 ? " (international address: needs SMTPUTF8)" :
	    "") : addrcheck_error_text(ar.error));
	if (have_sugg)
		printf("  Typo?      did you mean %s?\n", full);
	if (dns_done) {
		printf("  Domain:    %s", mxcheck_status_text(mr.status));
		if (mr.status == MXCHECK_ERROR)
			printf(" (%s)", mr.error);
		printf("\n");
		for (size_t i = 0; i < mr.nhosts; i++)
			printf("  MX %-5d   %s\n", mr.prefs[i], mr.hosts[i]);
	}
	return rc;
}

int
check_cli_cmd(int argc, char **argv)
{
	bool json = false, dns = true;
	const char *resolver = NULL;
	int i, n = 0, rc = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--no-dns") == 0)
			dns = false;
		else if (strcmp(argv[i], "--resolver") == 0 && i + 1 < argc)
			resolver = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: cleanbox-relay check ADDRESS... [--json] "
			    "[--no-dns] [--resolver HOST:PORT]\n");
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "check: unknown option %s\n", argv[i]);
			return 2;
		} else
			n++;
	}
	if (n == 0) {
		fprintf(stderr, "usage: cleanbox-relay check ADDRESS... [--json] "
		    "[--no-dns] [--resolver HOST:PORT]\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--resolver") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] == '-')
			continue;
		if (check_cli_one(argv[i], json, dns, resolver) != 0)
			rc = 1;
	}
	fflush(stdout);
	return rc;
}
