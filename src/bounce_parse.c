/*
 * bounce_parse - bounce messages to per-recipient results.  See bounce_parse.h.
 *
 * For each message in the input (an mbox may hold several):
 *  1. bounce_mime reads the structure (bounded);
 *  2. an RFC 5965 feedback report gives "feedback" results;
 *  3. RFC 3464 delivery-status parts give one record per recipient group;
 *     the human-readable part fills in what the machine part leaves out;
 *  4. otherwise, if the message looks like a bounce (sender, subject,
 *     X-Failed-Recipients, report wording), bounce_text reads the
 *     human-readable layout;
 *  5. otherwise an RFC 3834 auto-reply gives one "vacation" result;
 *  6. every record is classified (bounce_classify_hints) and, when the
 *     report gave no enhanced code, gets the conventional inferred one.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "bounce_codes.h"
#include "bounce_mime.h"
#include "bounce_parse.h"
#include "bounce_rules.h"
#include "bounce_text.h"

struct rec {
	struct bounce_result res;
	int	reply;
	char	command[8];
	char	action[16];
	char	diag_type[16];	/* RFC 3464 diagnostic-type, lower-case */
	char	context[BOUNCE_DIAG_MAX];	/* report text around it */
	bool	from_dsn;
	enum bounce_reason preset;
};

struct parse_ctx {
	struct bounce_report *rep;
	size_t	cap;
	int	rc;
};

/* ---- small helpers ---------------------------------------------------- */

static const char *
bounce_parse_ifind(const char *s, const char *needle)
{
	size_t nl = strlen(needle), k;
	int c0 = (unsigned char)needle[0], c0u;

	if (s == NULL)
		return NULL;
	if (nl == 0)
		return s;
	c0u = (c0 >= 'a' && c0 <= 'z') ? c0 - 'a' + 'A' : c0;
	for (; *s; s++) {
		if (*s != c0 && *s != c0u)
			continue;
		for (k = 1; k < nl; k++) {
			int a = (unsigned char)s[k], b = (unsigned char)needle[k];

			if (a >= 'A' && a <= 'Z')
				a = a - 'A' + 'a';
			if (a != b)
				break;
		}
		if (k == nl)
			return s;
	}
	return NULL;
}

/* Copy value into out as a bare address (strip "rfc822;", <>, quotes). */
static void
bounce_parse_addr_value(const char *v, char *out, size_t outsz)
{
	const char *semi;
	char tmp[BOUNCE_ADDR_MAX * 2];
	size_t l;

	out[0] = '\0';
	if (v == NULL)
		return;
	if ((semi = strchr(v, ';')) != NULL)
		v = semi + 1;
	if (bounce_text_first_addr(v, strlen(v), out, outsz))
		return;
	/* no @: keep the token as given (e.g. a local user) */
	while (*v == ' ' || *v == '<' || *v == '"')
		v++;
	l = bounce_text_oneline(v, strlen(v), tmp, sizeof(tmp));
	while (l > 0 && (tmp[l - 1] == '>' || tmp[l - 1] == '"'))
		tmp[--l] = '\0';
	if (l < outsz)
		memcpy(out, tmp, l + 1);
}

/* Value after "type;" (RFC 3464 2.1.2 address/diagnostic types). */
static const char *
bounce_parse_after_type(const char *v)
{
	const char *semi;

	if (v == NULL)
		return "";
	semi = strchr(v, ';');
	if (semi != NULL && semi - v < 24) {
		v = semi + 1;
		while (*v == ' ' || *v == '\t')
			v++;
	}
	return v;
}

static void
bounce_parse_copy(char *out, size_t outsz, const char *s)
{
	bounce_text_oneline(s, strlen(s), out, outsz);
}

/* "X.0.0": the code says only "failed" (RFC 3463 3.1, 3.2: other/undefined) */
static bool
bounce_parse_generic_status(const char *st)
{
	size_t l = strlen(st);

	return l == 5 && st[1] == '.' && st[2] == '0' && st[3] == '.' &&
	    st[4] == '0';
}

static bool
bounce_parse_has_code(const char *s)
{
	int reply;
	char st[16];

	bounce_text_codes(s, strlen(s), &reply, st, sizeof(st));
	return reply != 0 || st[0] != '\0';
}

/* ---- records ---------------------------------------------------------- */

struct recs {
	struct rec *v;
	size_t	n;
	size_t	cap;
};

static struct rec *
bounce_parse_rec_new(struct recs *r)
{
	struct rec *nv;

	if (r->n >= BOUNCE_PARSE_RESULTS)
		return NULL;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 8;

		if ((nv = realloc(r->v, nc * sizeof(*nv))) == NULL)
			return NULL;
		r->v = nv;
		r->cap = nc;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[0]));
	return &r->v[r->n++];
}

static struct rec *
bounce_parse_rec_find(struct recs *r, const char *addr)
{
	size_t i;

	if (addr[0] == '\0')
		return NULL;
	for (i = 0; i < r->n; i++)
		if (strcasecmp(r->v[i].res.recipient, addr) == 0)
			return &r->v[i];
	return NULL;
}

/* ---- RFC 3464 delivery-status ----------------------------------------- */

/* RFC 3464 2.3.4: Status = status-code, maybe followed by a comment. */
static void
bounce_parse_status_field(const char *v, char *out, size_t outsz)
{
	size_t n = 0;
	int c, a, b;

	out[0] = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	while ((v[n] >= '0' && v[n] <= '9') || v[n] == '.')
		n++;
	while (n > 0 && v[n - 1] == '.')
		n--;
	if (n == 0 || n >= outsz ||
	    bounce_codes_status_parse(v, n, &c, &a, &b) < 0)
		return;
	memcpy(out, v, n);
	out[n] = '\0';
}

static void
bounce_parse_dsn_field(struct rec *cur, const char *name, const char *value)
{
	if (strcmp(name, "final-recipient") == 0 ||
	    (strcmp(name, "original-recipient") == 0 &&
	    cur->res.recipient[0] == '\0') ||
	    (strcmp(name, "x-actual-recipient") == 0 &&
	    cur->res.recipient[0] == '\0')) {
		bounce_parse_addr_value(value, cur->res.recipient,
		    sizeof(cur->res.recipient));
	} else if (strcmp(name, "action") == 0) {
		bounce_parse_copy(cur->action, sizeof(cur->action), value);
		for (char *p = cur->action; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	} else if (strcmp(name, "status") == 0) {
		const char *c = strchr(value, '(');

		bounce_parse_status_field(value, cur->res.status,
		    sizeof(cur->res.status));
		/* "4.0.0 (x.example: host name lookup failure)": a comment
		 * that may be the only diagnostic there is */
		if (c != NULL && cur->res.diagnostic[0] == '\0' &&
		    strstr(c, "permanent failure") == NULL &&
		    strstr(c, "undefined status") == NULL) {
			size_t cl = strcspn(c + 1, ")");
			char tmp[BOUNCE_DIAG_MAX];

			if (cl >= sizeof(tmp))
				cl = sizeof(tmp) - 1;
			memcpy(tmp, c + 1, cl);
			tmp[cl] = '\0';
			bounce_parse_copy(cur->res.diagnostic,
			    sizeof(cur->res.diagnostic), tmp);
		}
	} else if (strcmp(name, "remote-mta") == 0) {
		bounce_parse_copy(cur->res.remote, sizeof(cur->res.remote),
		    bounce_parse_after_type(value));
	} else if (strcmp(name, "diagnostic-code") == 0) {
		const char *semi = strchr(value, ';');
		size_t tl = semi ? (size_t)(semi - value) : 0, k;

		bounce_parse_copy(cur->res.diagnostic,
		    sizeof(cur->res.diagnostic), bounce_parse_after_type(value));
		while (tl > 0 && value[tl - 1] == ' ')
			tl--;
		if (tl > 0 && tl < sizeof(cur->diag_type)) {
			for (k = 0; k < tl; k++)
				cur->diag_type[k] = (char)((value[k] >= 'A' &&
				    value[k] <= 'Z') ? value[k] - 'A' + 'a' :
				    value[k]);
			cur->diag_type[tl] = '\0';
		}
	}
}

static void
bounce_parse_dsn(struct bounce_mime_msg *m, const char *t, size_t len,
    struct recs *recs, struct parse_ctx *ctx)
{
	struct rec orphan;
	bool have_orphan = false;
	size_t pos = 0, n0 = recs->n, k;

	memset(&orphan, 0, sizeof(orphan));
	while (pos < len) {
		struct bounce_mime_hdrs h;
		struct rec *cur = NULL;
		size_t used, i;

		/* skip blank lines between groups */
		while (pos < len && (t[pos] == '\n' || t[pos] == '\r' ||
		    t[pos] == ' ' || t[pos] == '\t'))
			pos++;
		if (pos >= len)
			break;
		if (bounce_mime_parse_headers(m, t + pos, len - pos, &h,
		    &used) < 0) {
			ctx->rc = -1;
			return;
		}
		if (used == 0) {
			/* not a field line: skip it */
			const char *nl = memchr(t + pos, '\n', len - pos);

			pos = nl ? (size_t)(nl - t) + 1 : len;
			continue;
		}
		pos += used;
		for (i = 0; i < h.n; i++) {
			const char *n = h.v[i].name;
			bool is_rcpt = strcmp(n, "final-recipient") == 0 ||
			    strcmp(n, "original-recipient") == 0;

			/*
			 * A recipient field starts a new record, unless it is
			 * the Original-/Final- pair of the current one
			 * (groups without blank lines occur in the wild).
			 */
			if (is_rcpt && (cur == NULL ||
			    (cur->res.recipient[0] != '\0' &&
			    cur->action[0] != '\0'))) {
				if ((cur = bounce_parse_rec_new(recs)) == NULL)
					return;
				cur->from_dsn = true;
			}
			if (cur != NULL)
				bounce_parse_dsn_field(cur, n, h.v[i].value);
			else {
				/*
				 * Per-recipient fields in the per-message group
				 * (RFC 3464 2.2 forbids it; some MTAs do it):
				 * keep them as defaults.
				 */
				bounce_parse_dsn_field(&orphan, n, h.v[i].value);
				if (strcmp(n, "status") == 0 ||
				    strcmp(n, "diagnostic-code") == 0 ||
				    strcmp(n, "action") == 0)
					have_orphan = true;
			}
		}
	}
	if (!have_orphan)
		return;
	if (recs->n == n0) {
		struct rec *r = bounce_parse_rec_new(recs);

		if (r != NULL) {
			*r = orphan;
			r->from_dsn = true;
		}
		return;
	}
	for (k = n0; k < recs->n; k++) {
		struct rec *r = &recs->v[k];

		if (r->res.status[0] == '\0')
			memcpy(r->res.status, orphan.res.status,
			    sizeof(r->res.status));
		if (r->res.diagnostic[0] == '\0') {
			memcpy(r->res.diagnostic, orphan.res.diagnostic,
			    sizeof(r->res.diagnostic));
			memcpy(r->diag_type, orphan.diag_type,
			    sizeof(r->diag_type));
		}
		if (r->res.remote[0] == '\0')
			memcpy(r->res.remote, orphan.res.remote,
			    sizeof(r->res.remote));
		if (r->action[0] == '\0')
			memcpy(r->action, orphan.action, sizeof(r->action));
	}
}

/* ---- RFC 5965 feedback reports ---------------------------------------- */

static void
bounce_parse_arf(const struct bounce_mime_msg *m, struct recs *recs)
{
	const struct bounce_mime_part *fb = NULL, *orig = NULL;
	size_t i, n0 = recs->n;

	for (i = 0; i < m->nparts; i++) {
		if (m->parts[i].kind == BOUNCE_MIME_ARF && fb == NULL)
			fb = &m->parts[i];
		else if (m->parts[i].kind == BOUNCE_MIME_HEADERS_ONLY &&
		    orig == NULL)
			orig = &m->parts[i];
	}
	if (fb != NULL) {
		/* RFC 5965 3.2: Original-Rcpt-To may repeat */
		const char *t = fb->text;
		size_t len = fb->text_len, pos = 0;

		while (pos < len) {
			const char *nl = memchr(t + pos, '\n', len - pos);
			size_t l = nl ? (size_t)(nl - (t + pos)) : len - pos;

			if (l > 16 && strncasecmp(t + pos, "original-rcpt-to:",
			    17) == 0) {
				struct rec *r = bounce_parse_rec_new(recs);
				char line[BOUNCE_ADDR_MAX * 2];
				size_t cl = l - 17 < sizeof(line) - 1 ? l - 17 :
				    sizeof(line) - 1;

				if (r == NULL)
					return;
				memcpy(line, t + pos + 17, cl);
				line[cl] = '\0';
				bounce_parse_addr_value(line, r->res.recipient,
				    sizeof(r->res.recipient));
				r->preset = BOUNCE_FEEDBACK;
			}
			pos += l + 1;
		}
	}
	if (recs->n == n0) {
		struct rec *r = bounce_parse_rec_new(recs);
		const char *to = orig ? bounce_mime_hdr_get(&orig->inner, "to") :
		    NULL;

		if (r == NULL)
			return;
		if (to != NULL)
			bounce_parse_addr_value(to, r->res.recipient,
			    sizeof(r->res.recipient));
		r->preset = BOUNCE_FEEDBACK;
	}
}

/* ---- what kind of message is this ------------------------------------- */

static const char *const bounce_subjects[] = {
	"undeliver", "undelivered", "delivery status notification",
	"failure notice", "returned mail", "mail delivery failed",
	"delivery failure", "non-delivery", "nondeliver", "non delivery",
	"could not be delivered", "delivery has failed", "delivery failed",
	"mail system error", "delivery notification", "failed delivery",
	"returned to sender", "delivery problem", "mail failure",
	"message not delivered", "not delivered", "failed mail",
	"error sending", "delivery report", "notice of delivery failure",
	"rejected", "bounce", "warning: could not send",
	"mail could not be delivered", "delayed mail", "delivery delayed",
	"permanent error", "\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc", /* "mail error" (ja) */
	"\xe4\xb8\x8d\xe9\x81\x94", /* "undelivered" (ja) */
	"\xd0\xbd\xd0\xb5 \xd0\xb4\xd0\xbe\xd1\x81\xd1\x82\xd0\xb0\xd0\xb2\xd0\xbb", /* "not delivered" (ru) */
	"unzustellbar", "non remis", "no entregado", "impossible de remettre",
};

/* Report wording that only bounces use (checked on normalised text). */
static struct bounce_needle bounce_phrases[] = {
	{ "could not be delivered", 0, 0 },
	{ "couldn't be delivered", 0, 0 },
	{ "was not delivered", 0, 0 },
	{ "wasn't delivered", 0, 0 },
	{ "undeliverable", 0, 0 },
	{ "delivery has failed", 0, 0 },
	{ "delivery failed", 0, 0 },
	{ "delivery to the following", 0, 0 },
	{ "permanent fatal errors", 0, 0 },
	{ "unable to deliver", 0, 0 },
	{ "permanent error", 0, 0 },
	{ "mail delivery failed", 0, 0 },
	{ "not be delivered to", 0, 0 },
	{ "failed permanently", 0, 0 },
	{ "could not deliver", 0, 0 },
	{ "delivery status notification", 0, 0 },
	{ "did not reach the following", 0, 0 },
	{ "returned mail", 0, 0 },
};

/*
 * Exim's words for a retry time that ran out on a temporary error: the
 * failure was temporary, only the time to retry is over.
 */
static struct bounce_needle temp_expiry_pats[] = {
	{ "have been failing for a long time", 0, 0 },
	{ "technical details of temporary failure", 0, 0 },
};

static const char *const bounce_senders[] = {
	"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster",
	"post_master", "mail delivery", "mail administrator",
	"mail system", "double-bounce", "bounce",
};

static bool
bounce_parse_any(const char *s, const char *const *pats, size_t n)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (bounce_parse_ifind(s, pats[i]) != NULL)
			return true;
	return false;
}

/* Any of pats in normalised (lower-case) text. */
static bool
bounce_parse_any_norm(const char *norm, size_t nl,
    const struct bounce_needle *pats, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (bounce_rules_find_needle(norm, nl, &pats[i]) != NULL)
			return true;
	return false;
}

static bool
bounce_parse_is_autoreply(const struct bounce_mime_msg *m,
    const char *subject)
{
	const char *as = bounce_mime_hdr_get(&m->hdrs, "auto-submitted");
	const char *prec = bounce_mime_hdr_get(&m->hdrs, "precedence");
	char norm[512];
	size_t nl;

	if (as != NULL && bounce_parse_ifind(as, "auto-replied") != NULL)
		return true;
	if (bounce_mime_hdr_get(&m->hdrs, "x-autoreply") != NULL ||
	    bounce_mime_hdr_get(&m->hdrs, "x-autorespond") != NULL ||
	    bounce_mime_hdr_get(&m->hdrs, "x-autoresponder") != NULL)
		return true;
	if (prec != NULL && bounce_parse_ifind(prec, "auto_reply") != NULL)
		return true;
	if (subject == NULL)
		return false;
	if (strncasecmp(subject, "auto:", 5) == 0 ||
	    strncasecmp(subject, "autoreply", 9) == 0)
		return true;
	nl = bounce_rules_normalize(subject, strlen(subject), norm,
	    sizeof(norm));
	return bounce_rules_is_autoreply(norm, nl);
}

/* ---- DSN fields inside the text part ---------------------------------- */

/*
 * Some MTAs print the RFC 3464 fields inside the human-readable text
 * ("Technical report:\nReporting-MTA: ...\nFinal-Recipient: ...") and
 * attach no delivery-status part.  Read that block as a DSN.
 */
static bool
bounce_parse_inline_dsn(struct bounce_mime_msg *m, const char *text,
    size_t len, struct recs *recs, struct parse_ctx *ctx)
{
	size_t pos = 0, start = SIZE_MAX, end, n0 = recs->n, lines;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (l > 16 && (strncasecmp(text + pos, "final-recipient:",
		    16) == 0 || strncasecmp(text + pos, "reporting-mta:",
		    14) == 0 || strncasecmp(text + pos, "original-recipient:",
		    19) == 0)) {
			start = pos;
			break;
		}
		pos += l + 1;
	}
	if (start == SIZE_MAX)
		return false;
	/* the field block: at most 60 lines from there */
	for (end = start, lines = 0; end < len && lines < 60; lines++) {
		const char *nl = memchr(text + end, '\n', len - end);

		end = nl ? (size_t)(nl - text) + 1 : len;
	}
	bounce_parse_dsn(m, text + start, end - start, recs, ctx);
	if (recs->n > n0 && recs->v[n0].res.recipient[0] != '\0')
		return true;
	recs->n = n0;
	return false;
}

/* ---- Amazon SES notifications (JSON) ---------------------------------- */

static void
bounce_parse_json_str(json_t *o, const char *key, char *out, size_t outsz)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v != NULL)
		bounce_parse_copy(out, outsz, v);
}

/*
 * Amazon SES sends its bounce, complaint and delivery notifications as a
 * JSON document in the mail body ("notificationType" / "eventType").
 */
static bool
bounce_parse_ses(const char *text, size_t len, struct recs *recs)
{
	const char *brace = memchr(text, '{', len < 64 ? len : 64);
	json_t *root, *b, *list, *e;
	const char *type;
	size_t i;
	bool done = false;

	if (brace == NULL || (memmem(text, len, "notificationType", 16) ==
	    NULL && memmem(text, len, "eventType", 9) == NULL))
		return false;
	root = json_loadb(brace, len - (size_t)(brace - text),
	    JSON_DISABLE_EOF_CHECK, NULL);
	if (root == NULL) {
		/*
		 * Sendmail folds lines over 990 bytes as "!\n " (RFC 5322
		 * 2.1.1 line limit); undo that and try again.
		 */
		size_t bl = len - (size_t)(brace - text), i2, o = 0;
		char *fix = malloc(bl + 1);

		if (fix == NULL)
			return false;
		for (i2 = 0; i2 < bl; i2++) {
			if (brace[i2] == '!' && i2 + 2 < bl &&
			    brace[i2 + 1] == '\n' && brace[i2 + 2] == ' ') {
				i2 += 2;
				continue;
			}
			if (brace[i2] == '!' && i2 + 3 < bl &&
			    brace[i2 + 1] == '\r' && brace[i2 + 2] == '\n' &&
			    brace[i2 + 3] == ' ') {
				i2 += 3;
				continue;
			}
			fix[o++] = brace[i2];
		}
		root = json_loadb(fix, o, JSON_DISABLE_EOF_CHECK, NULL);
		free(fix);
		if (root == NULL)
			return false;
	}
	/* delivered through SNS: the notification is a string in "Message" */
	if (json_string_value(json_object_get(root, "Message")) != NULL) {
		const char *inner = json_string_value(json_object_get(root,
		    "Message"));
		json_t *in = json_loads(inner, 0, NULL);

		if (in != NULL) {
			json_decref(root);
			root = in;
		}
	}
	type = json_string_value(json_object_get(root, "notificationType"));
	if (type == NULL)
		type = json_string_value(json_object_get(root, "eventType"));
	if (type == NULL)
		goto out;
	if (strcmp(type, "Bounce") == 0 &&
	    (b = json_object_get(root, "bounce")) != NULL) {
		const char *bt = NULL;

		list = json_object_get(b, "bouncedRecipients");
		json_array_foreach(list, i, e) {
			struct rec *r = bounce_parse_rec_new(recs);

			if (r == NULL)
				break;
			bounce_parse_json_str(e, "emailAddress",
			    r->res.recipient, sizeof(r->res.recipient));
			bounce_parse_json_str(e, "status", r->res.status,
			    sizeof(r->res.status));
			bounce_parse_json_str(e, "diagnosticCode",
			    r->res.diagnostic, sizeof(r->res.diagnostic));
			bounce_parse_json_str(e, "action", r->action,
			    sizeof(r->action));
			bounce_parse_json_str(b, "remoteMtaIp", r->res.remote,
			    sizeof(r->res.remote));
			(void)bt;
		}
		done = true;
	} else if (strcmp(type, "Complaint") == 0 &&
	    (b = json_object_get(root, "complaint")) != NULL) {
		list = json_object_get(b, "complainedRecipients");
		json_array_foreach(list, i, e) {
			struct rec *r = bounce_parse_rec_new(recs);

			if (r == NULL)
				break;
			bounce_parse_json_str(e, "emailAddress",
			    r->res.recipient, sizeof(r->res.recipient));
			r->preset = BOUNCE_FEEDBACK;
		}
		done = true;
	} else if (strcmp(type, "Delivery") == 0 &&
	    (b = json_object_get(root, "delivery")) != NULL) {
		const char *resp = json_string_value(json_object_get(b,
		    "smtpResponse"));

		list = json_object_get(b, "recipients");
		json_array_foreach(list, i, e) {
			struct rec *r = bounce_parse_rec_new(recs);
			const char *a = json_string_value(e);

			if (r == NULL)
				break;
			if (a != NULL)
				bounce_parse_copy(r->res.recipient,
				    sizeof(r->res.recipient), a);
			if (resp != NULL)
				bounce_parse_copy(r->res.diagnostic,
				    sizeof(r->res.diagnostic), resp);
			bounce_parse_json_str(b, "remoteMtaIp", r->res.remote,
			    sizeof(r->res.remote));
			memcpy(r->action, "delivered", 10);
			if (resp != NULL) {
				int reply;

				(void)reply;
				bounce_parse_status_field(resp + strcspn(resp,
				    " "), r->res.status, sizeof(r->res.status));
				r->reply = atoi(resp);
			}
		}
		done = true;
	}
out:
	json_decref(root);
	return done;
}

/* ---- Google Groups ---------------------------------------------------- */

/*
 * Google answers a post to a group that does not exist, or that the sender
 * may not post to, with a localised text and no code; the failed address
 * is the group's.  Posting was refused: "rejected".
 */
static void
bounce_parse_google_groups(const char *from, struct recs *recs)
{
	size_t i;

	if (from == NULL || (bounce_parse_ifind(from, "googlemail.com") ==
	    NULL && bounce_parse_ifind(from, "google.com") == NULL))
		return;
	for (i = 0; i < recs->n; i++) {
		const char *at = strrchr(recs->v[i].res.recipient, '@');

		if (at != NULL && strcasecmp(at + 1, "googlegroups.com") == 0 &&
		    recs->v[i].preset == BOUNCE_UNDEFINED &&
		    recs->v[i].res.status[0] == '\0')
			recs->v[i].preset = BOUNCE_REJECTED;
	}
}

/*
 * A mailing list manager's own answer (fml, ezmlm, Mailman: "you are not
 * a member", "loop detected") refuses a post like a bounce does.
 */
static bool
bounce_parse_list_manager(const struct bounce_mime_msg *m, const char *from)
{
	static const char *const suffixes[] = { "-admin@", "-owner@",
	    "-request@", "-bounces@" };
	size_t i;

	if (bounce_mime_hdr_get(&m->hdrs, "x-mlserver") == NULL &&
	    bounce_mime_hdr_get(&m->hdrs, "x-ml-name") == NULL &&
	    bounce_mime_hdr_get(&m->hdrs, "mailing-list") == NULL)
		return false;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (bounce_parse_ifind(from, suffixes[i]) != NULL)
			return true;
	return false;
}

/* Is there an attached message that is itself a bounce? */
static bool
bounce_parse_has_nested(const struct bounce_mime_msg *m)
{
	size_t i;

	for (i = 0; i < m->nparts; i++) {
		const struct bounce_mime_part *p = &m->parts[i];
		const char *ifrom, *ict;

		if (p->kind != BOUNCE_MIME_HEADERS_ONLY || p->body_len == 0)
			continue;
		ifrom = bounce_mime_hdr_get(&p->inner, "from");
		ict = bounce_mime_hdr_get(&p->inner, "content-type");
		if (bounce_parse_any(ifrom, bounce_senders,
		    sizeof(bounce_senders) / sizeof(bounce_senders[0])) ||
		    (ict != NULL && bounce_parse_ifind(ict,
		    "report-type=delivery-status") != NULL))
			return true;
	}
	return false;
}

static pthread_once_t parse_once = PTHREAD_ONCE_INIT;

static void
bounce_parse_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(bounce_phrases) / sizeof(bounce_phrases[0]); i++)
		bounce_rules_needle_init(&bounce_phrases[i]);
	for (i = 0; i < sizeof(temp_expiry_pats) / sizeof(temp_expiry_pats[0]);
	    i++)
		bounce_rules_needle_init(&temp_expiry_pats[i]);
}

/*
 * Does a DSN need its human-readable part?  Yes when a record lacks a
 * recipient or a coded diagnostic, when its diagnostic names no cause the
 * rules know (the text around it may), or when it says "user unknown"
 * without a status code that agrees (then the SMTP command decides).
 */
static bool
bounce_parse_dsn_needs_text(const struct recs *recs)
{
	size_t i;

	if (recs->n == 0)
		return true;
	for (i = 0; i < recs->n; i++) {
		const struct rec *r = &recs->v[i];
		char norm[BOUNCE_RULES_TEXT_MAX];
		size_t nl;
		int tier;
		enum bounce_reason tr;
		bool strong;

		if (r->res.recipient[0] == '\0' ||
		    !bounce_parse_has_code(r->res.diagnostic))
			return true;
		nl = bounce_rules_normalize(r->res.diagnostic,
		    strlen(r->res.diagnostic), norm, sizeof(norm));
		tr = bounce_rules_match(norm, nl, &tier, NULL);
		if (tr == BOUNCE_UNDEFINED || tier == BOUNCE_RULE_WEAK)
			return true;
		if (tr == BOUNCE_USERUNKNOWN && tier != BOUNCE_RULE_LOCAL &&
		    bounce_codes_status_reason(r->res.status, &strong) !=
		    BOUNCE_USERUNKNOWN)
			return true;
	}
	return false;
}

/* ---- one message ------------------------------------------------------ */

static void
bounce_parse_skip_ctx(struct bounce_mime_msg *m, struct bounce_text_ctx *tc,
    char addrs[][BOUNCE_ADDR_MAX + 1])
{
	static const char *const fields[] = { "to", "from", "reply-to",
	    "return-path" };
	size_t i;

	tc->nskip = 0;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = bounce_mime_hdr_get(&m->hdrs, fields[i]);

		if (v == NULL)
			continue;
		if (bounce_text_first_addr(v, strlen(v), addrs[tc->nskip],
		    BOUNCE_ADDR_MAX + 1))
			tc->skip[tc->nskip] = addrs[tc->nskip], tc->nskip++;
	}
}

/*
 * When most lines of the text start with '>', it is a quoted (forwarded)
 * report: strip one level of quoting.  Returns the text to read.
 */
static const char *
bounce_parse_dequote(struct bounce_mime_msg *m, const char *t, size_t *len)
{
	size_t pos = 0, quoted = 0, lines = 0, o = 0;
	char *out;

	while (pos < *len && lines < 200) {
		const char *nl = memchr(t + pos, '\n', *len - pos);
		size_t l = nl ? (size_t)(nl - (t + pos)) : *len - pos;

		if (l > 1) {
			lines++;
			if (t[pos] == '>')
				quoted++;
		}
		pos += l + 1;
	}
	if (lines < 4 || quoted * 10 < lines * 7)
		return t;
	if ((out = bounce_mime_alloc(m, *len + 1)) == NULL)
		return t;
	for (pos = 0; pos < *len;) {
		const char *nl = memchr(t + pos, '\n', *len - pos);
		size_t l = nl ? (size_t)(nl - (t + pos)) + 1 : *len - pos;
		size_t skip = 0;

		if (l > 0 && t[pos] == '>') {
			skip = 1;
			if (l > 1 && t[pos + 1] == ' ')
				skip = 2;
		}
		memcpy(out + o, t + pos + skip, l - skip);
		o += l - skip;
		pos += l;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* Main human-readable text: the first text part outside attachments. */
static const struct bounce_mime_part *
bounce_parse_main_text(const struct bounce_mime_msg *m)
{
	size_t i;

	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].kind == BOUNCE_MIME_TEXT &&
		    m->parts[i].text_len > 0)
			return &m->parts[i];
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].kind == BOUNCE_MIME_HTML &&
		    m->parts[i].text_len > 0)
			return &m->parts[i];
	return NULL;
}

/* Recipients when the text names none: X-Failed-Recipients, original To. */
static void
bounce_parse_fallback_rcpts(const struct bounce_mime_msg *m,
    const char *text, size_t len, struct recs *recs, const char *summary)
{
	const char *xf = bounce_mime_hdr_get(&m->hdrs, "x-failed-recipients");
	const char *to = NULL;
	size_t i;

	if (xf != NULL) {
		size_t pos = 0, xl = strlen(xf);

		while (pos < xl) {
			char a[BOUNCE_ADDR_MAX + 1];
			const char *comma = memchr(xf + pos, ',', xl - pos);
			size_t seg = comma ? (size_t)(comma - (xf + pos)) :
			    xl - pos;
			struct rec *r;

			if (bounce_text_first_addr(xf + pos, seg, a, sizeof(a)) &&
			    bounce_parse_rec_find(recs, a) == NULL &&
			    (r = bounce_parse_rec_new(recs)) != NULL) {
				memcpy(r->res.recipient, a, strlen(a) + 1);
				bounce_parse_copy(r->res.diagnostic,
				    sizeof(r->res.diagnostic), summary);
			}
			pos += seg + 1;
		}
		if (recs->n > 0)
			return;
	}
	for (i = 0; i < m->nparts && to == NULL; i++)
		if (m->parts[i].kind == BOUNCE_MIME_HEADERS_ONLY)
			to = bounce_mime_hdr_get(&m->parts[i].inner, "to");
	{
		struct rec *r = bounce_parse_rec_new(recs);

		if (r == NULL)
			return;
		if (to != NULL)
			bounce_parse_addr_value(to, r->res.recipient,
			    sizeof(r->res.recipient));
		else if (text != NULL) {
			/* an inline copy of the original headers: "To: ..." */
			const char *p = text;

			while ((p = bounce_parse_ifind(p, "\nto:")) != NULL &&
			    (size_t)(p - text) < len) {
				if (bounce_text_first_addr(p + 4,
				    strcspn(p + 4, "\n"), r->res.recipient,
				    sizeof(r->res.recipient)))
					break;
				p += 4;
			}
		}
		bounce_parse_copy(r->res.diagnostic, sizeof(r->res.diagnostic),
		    summary);
	}
}

static void
bounce_parse_finish(struct parse_ctx *ctx, struct recs *recs,
    const char *subject, bool delayed, bool temp_expiry)
{
	size_t i;

	for (i = 0; i < recs->n; i++) {
		struct rec *r = &recs->v[i];
		struct bounce_hints h;
		struct bounce_result *out;
		char st[16];
		int reply = 0;

		bounce_text_codes(r->res.diagnostic, strlen(r->res.diagnostic),
		    &reply, st, sizeof(st));
		/*
		 * The code in the server's own reply is more precise than the
		 * reporting MTA's Status: field, which is often a catch-all
		 * ("5.0.0") or its own summary ("4.4.7" for a deferral).
		 */
		if (st[0] != '\0' && r->res.status[0] != '2' &&
		    !(bounce_parse_generic_status(st) &&
		    r->res.status[0] != '\0'))
			memcpy(r->res.status, st, sizeof(st));
		if (r->reply == 0)
			r->reply = reply;
		if (r->command[0] == '\0') {
			const char *c = bounce_text_command(r->res.diagnostic,
			    strlen(r->res.diagnostic));

			memcpy(r->command, c, strlen(c) + 1);
		}
		if (r->res.remote[0] == '\0')
			bounce_text_remote(r->res.diagnostic,
			    strlen(r->res.diagnostic), r->res.remote,
			    sizeof(r->res.remote));
		memset(&h, 0, sizeof(h));
		h.delayed = delayed || strcmp(r->action, "delayed") == 0 ||
		    strncmp(r->action, "expire", 6) == 0;
		h.temporary = temp_expiry;
		h.context = r->context[0] ? r->context : NULL;
		h.subject = subject;
		h.command = r->command[0] ? r->command : NULL;
		h.diag_type = r->diag_type[0] ? r->diag_type : NULL;
		h.preset = r->preset;
		if (strcmp(r->action, "delivered") == 0 ||
		    strcmp(r->action, "relayed") == 0 ||
		    strcmp(r->action, "expanded") == 0)
			h.preset = BOUNCE_DELIVERED;
		bounce_classify_hints(r->reply, r->res.status,
		    r->res.diagnostic, &h, &r->res.verdict);
		if (r->reply >= 200 && r->reply <= 599) {
			r->res.reply[0] = (char)('0' + r->reply / 100);
			r->res.reply[1] = (char)('0' + r->reply / 10 % 10);
			r->res.reply[2] = (char)('0' + r->reply % 10);
			r->res.reply[3] = '\0';
		}
		/*
		 * No code anywhere: a pseudo "C.0.9NN" status names the
		 * reason (the reference parser's convention).  A refusal of
		 * MAIL FROM gets its "on hold" code 9.01 whatever the reason
		 * turned out to be: the refusal was about the sender, not about
		 * this recipient, and the convention keeps those apart.
		 */
		if (r->res.status[0] == '\0' &&
		    strcmp(r->command, "MAIL") == 0 &&
		    bounce_reason_hard(r->res.verdict.reason, false) >= 0)
			(void)bounce_status_infer(BOUNCE_ONHOLD,
			    r->res.verdict.temporary, r->res.status,
			    sizeof(r->res.status));
		else if (r->res.status[0] == '\0')
			(void)bounce_status_infer(r->res.verdict.reason,
			    r->res.verdict.temporary, r->res.status,
			    sizeof(r->res.status));

		if (ctx->rep->n >= BOUNCE_PARSE_RESULTS) {
			ctx->rep->truncated = 1;
			return;
		}
		if (ctx->rep->n == ctx->cap) {
			size_t nc = ctx->cap ? ctx->cap * 2 : 8;
			struct bounce_result *nv = realloc(ctx->rep->results,
			    nc * sizeof(*nv));

			if (nv == NULL) {
				ctx->rc = -1;
				return;
			}
			ctx->rep->results = nv;
			ctx->cap = nc;
		}
		out = &ctx->rep->results[ctx->rep->n++];
		*out = r->res;
		/*
		 * The promise of bounce_parse.h: every string is one line of
		 * valid UTF-8, whatever bytes the report held.
		 */
		bounce_text_oneline(r->res.recipient, strlen(r->res.recipient),
		    out->recipient, sizeof(out->recipient));
		bounce_text_oneline(r->res.status, strlen(r->res.status),
		    out->status, sizeof(out->status));
		bounce_text_oneline(r->res.remote, strlen(r->res.remote),
		    out->remote, sizeof(out->remote));
		bounce_text_oneline(r->res.diagnostic,
		    strlen(r->res.diagnostic), out->diagnostic,
		    sizeof(out->diagnostic));
	}
}

static void
bounce_parse_message(struct parse_ctx *ctx, const char *data, size_t len,
    int depth)
{
	struct bounce_mime_msg *m;
	struct recs recs = { NULL, 0, 0 };
	struct bounce_text_ctx tc;
	char skipaddr[8][BOUNCE_ADDR_MAX + 1];
	const struct bounce_mime_part *main_text;
	const char *subject, *from, *text = NULL;
	char summary[BOUNCE_DIAG_MAX];
	char norm[2048];
	size_t i, cut = 0, nl, text_len = 0;
	bool has_dsn = false, has_arf = false, bouncy, delayed = false;
	bool temp_expiry = false, text_bouncy = false, text_named = false;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		ctx->rc = -1;
		return;
	}
	if (bounce_mime_parse(data, len, m) < 0) {
		ctx->rc = -1;
		goto out;
	}
	if (m->truncated)
		ctx->rep->truncated = 1;
	subject = bounce_mime_decode_words(m,
	    bounce_mime_hdr_get(&m->hdrs, "subject"));
	from = bounce_mime_hdr_get(&m->hdrs, "from");
	for (i = 0; i < m->nparts; i++) {
		if (m->parts[i].kind == BOUNCE_MIME_DSN)
			has_dsn = true;
		else if (m->parts[i].kind == BOUNCE_MIME_ARF)
			has_arf = true;
	}
	if (strcmp(m->report_type, "feedback-report") == 0)
		has_arf = true;

	summary[0] = '\0';
	main_text = bounce_parse_main_text(m);
	if (main_text != NULL) {
		text = main_text->text;
		text_len = main_text->text_len;
		/* a bounce forwarded inline, quoted with "> " */
		text = bounce_parse_dequote(m, text, &text_len);
	}
	if (subject != NULL && bounce_parse_ifind(subject, "delay") != NULL)
		delayed = true;

	if (has_arf) {
		bounce_parse_arf(m, &recs);
		goto done;
	}
	if (has_dsn) {
		for (i = 0; i < m->nparts && ctx->rc == 0; i++)
			if (m->parts[i].kind == BOUNCE_MIME_DSN)
				bounce_parse_dsn(m, m->parts[i].text,
				    m->parts[i].text_len, &recs, ctx);
	}
	if (!has_dsn && text != NULL &&
	    bounce_parse_inline_dsn(m, text, text_len, &recs, ctx))
		has_dsn = true;
	/*
	 * The human-readable part is read unless the delivery-status part
	 * already says everything the classifier needs (bounded work: most
	 * standard DSNs stop here).
	 */
	if (text != NULL && (!has_dsn || bounce_parse_dsn_needs_text(&recs))) {
		cut = bounce_text_cut(text, text_len);
		nl = bounce_rules_normalize(text, cut, norm, sizeof(norm));
		if (!has_dsn)
			delayed = delayed || bounce_rules_is_temporary(norm, nl);
		temp_expiry = bounce_parse_any_norm(norm, nl, temp_expiry_pats,
		    sizeof(temp_expiry_pats) / sizeof(temp_expiry_pats[0])) ||
		    (memmem(norm, nl, "retry timeout exceeded", 22) != NULL &&
		    memmem(norm, nl, "delivery retry timeout", 22) == NULL);
		text_bouncy = bounce_parse_any_norm(norm, nl, bounce_phrases,
		    sizeof(bounce_phrases) / sizeof(bounce_phrases[0]));
	} else
		text = NULL;
	if (!has_dsn && text != NULL &&
	    bounce_parse_ses(text, text_len, &recs))
		goto done;
	bouncy = has_dsn ||
	    bounce_mime_hdr_get(&m->hdrs, "x-failed-recipients") != NULL ||
	    bounce_parse_any(subject, bounce_subjects,
	    sizeof(bounce_subjects) / sizeof(bounce_subjects[0])) ||
	    bounce_parse_any(from, bounce_senders,
	    sizeof(bounce_senders) / sizeof(bounce_senders[0])) ||
	    text_bouncy || bounce_parse_list_manager(m, from);

	if (bouncy && text != NULL) {
		struct bounce_text_rcpt tr[BOUNCE_TEXT_RCPTS];
		size_t n, k;

		bounce_parse_skip_ctx(m, &tc, skipaddr);
		n = bounce_text_scan(text, cut, &tc, tr, BOUNCE_TEXT_RCPTS);
		text_named = n > 0;
		for (k = 0; k < n; k++) {
			struct rec *r = bounce_parse_rec_find(&recs, tr[k].addr);

			if (r == NULL && has_dsn && recs.n == 1 && n == 1)
				r = &recs.v[0];
			if (r != NULL && r->res.recipient[0] == '\0')
				memcpy(r->res.recipient, tr[k].addr,
				    strlen(tr[k].addr) + 1);
			if (r == NULL) {
				if (has_dsn)
					continue;	/* the DSN lists who failed */
				if ((r = bounce_parse_rec_new(&recs)) == NULL)
					break;
				memcpy(r->res.recipient, tr[k].addr,
				    strlen(tr[k].addr) + 1);
			}
			if (r->res.diagnostic[0] == '\0' ||
			    (!bounce_parse_has_code(r->res.diagnostic) &&
			    bounce_parse_has_code(tr[k].diag)))
				memcpy(r->res.diagnostic, tr[k].diag,
				    sizeof(r->res.diagnostic));
			if (r->context[0] == '\0')
				memcpy(r->context, tr[k].context,
				    sizeof(r->context));
			if (r->res.remote[0] == '\0')
				memcpy(r->res.remote, tr[k].remote,
				    sizeof(r->res.remote));
			if (r->command[0] == '\0')
				memcpy(r->command, tr[k].command,
				    sizeof(r->command));
		}
		/*
		 * One recipient whose report gives no code: the transcript
		 * may ("554 5.3.0 unknown mailer error 255").
		 */
		if (has_dsn && recs.n == 1 &&
		    !bounce_parse_has_code(recs.v[0].res.diagnostic)) {
			char line[BOUNCE_DIAG_MAX];

			if (bounce_text_code_line(text, cut, line,
			    sizeof(line)) > 0)
				memcpy(recs.v[0].res.diagnostic, line,
				    sizeof(line));
		}
		/* the summary is only needed where the report said nothing */
		for (k = 0; k < recs.n && summary[0] == '\0'; k++)
			if (recs.v[k].res.diagnostic[0] == '\0' ||
			    recs.v[k].context[0] == '\0')
				bounce_text_summary(text, cut, summary,
				    sizeof(summary));
		if (recs.n == 0) {
			bounce_text_summary(text, cut, summary, sizeof(summary));
			bounce_parse_fallback_rcpts(m, text + cut,
			    text_len - cut, &recs, summary);
		}
		for (k = 0; k < recs.n; k++) {
			if (recs.v[k].res.diagnostic[0] == '\0')
				bounce_parse_copy(recs.v[k].res.diagnostic,
				    sizeof(recs.v[k].res.diagnostic), summary);
			if (recs.v[k].context[0] == '\0')
				bounce_parse_copy(recs.v[k].context,
				    sizeof(recs.v[k].context), summary);
		}
	}
	/* a bounce that names nobody anywhere still reports a failure */
	if (bouncy && text == NULL && recs.n == 0 && depth == 0 &&
	    !bounce_parse_has_nested(m))
		bounce_parse_fallback_rcpts(m, NULL, 0, &recs, "");
	/* Apple Mail's one-click unsubscribe request: an opt-out report */
	if (recs.n == 0 &&
	    bounce_mime_hdr_get(&m->hdrs, "x-apple-unsubscribe") != NULL) {
		struct rec *r = bounce_parse_rec_new(&recs);

		if (r != NULL) {
			if (from != NULL)
				bounce_parse_addr_value(from, r->res.recipient,
				    sizeof(r->res.recipient));
			r->preset = BOUNCE_FEEDBACK;
		}
		goto done;
	}
	/*
	 * A bounce forwarded as an attachment: read the attached one when
	 * this message named no recipient itself.
	 */
	if ((recs.n == 0 || (!has_dsn && !text_named)) && depth == 0) {
		for (i = 0; i < m->nparts; i++) {
			const struct bounce_mime_part *p = &m->parts[i];
			const char *ifrom, *ict;

			if (p->kind != BOUNCE_MIME_HEADERS_ONLY ||
			    p->body_len == 0)
				continue;
			ifrom = bounce_mime_hdr_get(&p->inner, "from");
			ict = bounce_mime_hdr_get(&p->inner, "content-type");
			if (bounce_parse_any(ifrom, bounce_senders,
			    sizeof(bounce_senders) / sizeof(bounce_senders[0])) ||
			    (ict != NULL && bounce_parse_ifind(ict,
			    "report-type=delivery-status") != NULL)) {
				size_t before = ctx->rep->n;

				bounce_parse_message(ctx, p->body, p->body_len,
				    depth + 1);
				if (ctx->rep->n > before)
					goto out;	/* the outer guesses go */
			}
		}
	}
	if (recs.n == 0 && !bouncy && bounce_parse_is_autoreply(m, subject)) {
		struct rec *r = bounce_parse_rec_new(&recs);

		if (r != NULL) {
			if (from != NULL)
				bounce_parse_addr_value(from, r->res.recipient,
				    sizeof(r->res.recipient));
			r->preset = BOUNCE_VACATION;
			bounce_parse_copy(r->res.diagnostic,
			    sizeof(r->res.diagnostic), subject ? subject : "");
		}
	}
done:
	bounce_parse_google_groups(from, &recs);
	bounce_parse_finish(ctx, &recs, subject, delayed, temp_expiry);
out:
	free(recs.v);
	bounce_mime_free(m);
	free(m);
}

/* ---- mbox splitting ---------------------------------------------------- */

/* Is the line at p an mbox separator ("From sender date")? */
static bool
bounce_parse_from_line(const char *p, size_t l)
{
	size_t i, colons = 0;

	if (l < 10 || memcmp(p, "From ", 5) != 0 || p[5] == ' ')
		return false;
	/* a date with a time: "Thu Jul  2 12:05:05 2020" */
	for (i = 5; i + 2 < l; i++)
		if (p[i] == ':' && p[i - 1] >= '0' && p[i - 1] <= '9' &&
		    p[i + 1] >= '0' && p[i + 1] <= '9')
			colons++;
	return colons >= 1;
}

int
bounce_parse(const char *data, size_t len, struct bounce_report *rep)
{
	struct parse_ctx ctx = { rep, 0, 0 };
	size_t start = 0, pos, nmsg = 0;
	bool mbox;

	memset(rep, 0, sizeof(*rep));
	pthread_once(&parse_once, bounce_parse_init);
	if (data == NULL)
		return 0;
	if (len > BOUNCE_PARSE_PREFIX) {
		len = BOUNCE_PARSE_PREFIX;
		rep->truncated = 1;
	}
	mbox = len > 5 && memcmp(data, "From ", 5) == 0;
	pos = 0;
	while (mbox && pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t next = nl ? (size_t)(nl - data) + 1 : len;

		if (pos > start && bounce_parse_from_line(data + pos,
		    next - pos)) {
			if (nmsg + 1 >= BOUNCE_PARSE_MESSAGES) {
				rep->truncated = 1;
				break;
			}
			bounce_parse_message(&ctx, data + start, pos - start, 0);
			nmsg++;
			start = pos;
		}
		pos = next;
	}
	if (start < len && ctx.rc == 0) {
		bounce_parse_message(&ctx, data + start, len - start, 0);
		nmsg++;
	}
	rep->messages = nmsg;
	return ctx.rc;
}

void
bounce_report_free(struct bounce_report *rep)
{
	free(rep->results);
	rep->results = NULL;
	rep->n = 0;
}
