/*
 * suppress - the suppression policy over the store.  See suppress.h.
 */
#include "suppress.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bounce.h"
#include "config.h"
#include "log.h"

void
suppress_policy_default(struct suppress_policy *p)
{
	p->soft_threshold = SUPPRESS_SOFT_THRESHOLD_DEFAULT;
	p->soft_window = SUPPRESS_SOFT_WINDOW_DEFAULT;
	p->ttl = 0;
}

void
suppress_policy_from_config(struct suppress_policy *p,
    const struct config *cfg)
{
	p->soft_threshold = cfg->suppress_soft_threshold;
	p->soft_window = cfg->suppress_soft_window;
	p->ttl = cfg->suppress_ttl;
}

const char *
suppress_source_name(enum suppress_source s)
{
	switch (s) {
	case SUPPRESS_SRC_IN_SESSION:
		return "in-session";
	case SUPPRESS_SRC_RETRY:
		return "retry";
	case SUPPRESS_SRC_RETURNED:
		return "returned-bounce";
	case SUPPRESS_SRC_OPERATOR:
		return "operator";
	}
	return "unknown";
}

const char *
suppress_class_name(enum suppress_class c)
{
	switch (c) {
	case SUPPRESS_CLASS_DELIVERED:
		return "delivered";
	case SUPPRESS_CLASS_DEAD:
		return "dead";
	case SUPPRESS_CLASS_POLICY:
		return "policy";
	case SUPPRESS_CLASS_SOFT:
		return "soft";
	case SUPPRESS_CLASS_IGNORE:
		return "ignore";
	}
	return "unknown";
}

const char *
suppress_effect_name(enum suppress_effect e)
{
	switch (e) {
	case SUPPRESS_EFF_NONE:
		return "none";
	case SUPPRESS_EFF_RESET:
		return "reset";
	case SUPPRESS_EFF_COUNTED:
		return "counted";
	case SUPPRESS_EFF_SUPPRESSED:
		return "suppressed";
	case SUPPRESS_EFF_ALREADY:
		return "already suppressed";
	case SUPPRESS_EFF_POLICY:
		return "policy (not suppressed)";
	}
	return "unknown";
}

/*
 * Copy text into a fixed field of the store; a longer diagnostic is cut
 * on purpose (at a UTF-8 boundary), the field being a summary.
 */
static void
suppress_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= dstsz) {
		n = dstsz - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The address or domain is gone. */
static const char *const suppress_dead[] = {
	"userunknown", "hostunknown", "hasmoved",
};

/*
 * About the relay or the message, never the address.  The first twelve
 * are DESIGN.md's policy/reputation/blocklist/auth/content rejections;
 * the rest say the same kind of thing (size, protocol, rate).
 */
static const char *const suppress_policy_reasons[] = {
	"blocked", "badreputation", "policyviolation", "spamdetected",
	"virusdetected", "authfailure", "securityerror", "contenterror",
	"rejected", "norelaying", "requireptr", "filtered",
	"mesgtoobig", "exceedlimit", "syntaxerror", "notcompliantrfc",
	"failedstarttls", "toomanyconn", "speeding",
};

static int
suppress_in(const char *word, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(word, list[i]) == 0)
			return 1;
	return 0;
}

/* "C.S.D" -> three numbers; -1 if status is not one (RFC 3463 2). */
static int
suppress_status_parse(const char *s, int *c, int *sub, int *det)
{
	int v[3], i, digits;

	if (s == NULL)
		return -1;
	for (i = 0; i < 3; i++) {
		v[i] = 0;
		for (digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 3)
				return -1;
			v[i] = v[i] * 10 + (*s - '0');
		}
		if (digits == 0 || (i < 2 && *s++ != '.'))
			return -1;
	}
	if (*s != '\0' || v[0] < 2 || v[0] > 5)
		return -1;
	*c = v[0];
	*sub = v[1];
	*det = v[2];
	return 0;
}

/* The reason to store and classify by: given, or inferred from status. */
static const char *
suppress_reason_of(const char *reason, const char *status)
{
	int c, s, d;

	if (reason != NULL && reason[0] != '\0' &&
	    strcasecmp(reason, "undefined") != 0 &&
	    strcasecmp(reason, "onhold") != 0)
		return reason;
	if (suppress_status_parse(status, &c, &s, &d) == 0 && c == 5) {
		/* RFC 3463 3.2; 5.1.10 is RFC 7505's null MX. */
		if (s == 1 && d == 1)
			return "userunknown";
		if (s == 1 && (d == 2 || d == 10))
			return "hostunknown";
		if (s == 1 && d == 6)
			return "hasmoved";
		if (s == 7)
			return "rejected";
	}
	return reason != NULL && reason[0] != '\0' ? reason : "undefined";
}

static int
suppress_temporary(const char *status, int reply)
{
	int c, s, d;

	if (suppress_status_parse(status, &c, &s, &d) == 0)
		return c == 4;
	return reply >= 400 && reply < 500;
}

enum suppress_class
suppress_classify(const char *reason, const char *status, int reply,
    int hard)
{
	const char *r = suppress_reason_of(reason, status);

	if (strcasecmp(r, "delivered") == 0)
		return SUPPRESS_CLASS_DELIVERED;
	if (strcasecmp(r, "vacation") == 0 || strcasecmp(r, "feedback") == 0)
		return SUPPRESS_CLASS_IGNORE;
	if (suppress_in(r, suppress_policy_reasons,
	    sizeof(suppress_policy_reasons) / sizeof(suppress_policy_reasons[0])))
		return SUPPRESS_CLASS_POLICY;
	/* "No such user" with a 4xx is a server in trouble, not a verdict. */
	if (suppress_temporary(status, reply))
		return SUPPRESS_CLASS_SOFT;
	if (suppress_in(r, suppress_dead,
	    sizeof(suppress_dead) / sizeof(suppress_dead[0])))
		return SUPPRESS_CLASS_DEAD;
	/* A domain that accepts no mail, when the classifier says so. */
	if (strcasecmp(r, "notaccept") == 0 && hard == 1)
		return SUPPRESS_CLASS_DEAD;
	return SUPPRESS_CLASS_SOFT;
}

/* ------------------------------------------------------------------ */

struct suppress_rec {
	const struct suppress_policy *p;
	const struct suppress_outcome *o;
	enum suppress_class cls;
	const char	*reason;
	enum suppress_effect eff;
};

static void
suppress_row_fill(struct store_supp *row, const struct suppress_rec *r)
{
	const struct suppress_outcome *o = r->o;

	suppress_copy(row->reason, sizeof(row->reason), r->reason);
	suppress_copy(row->status, sizeof(row->status),
	    o->status ? o->status : "");
	suppress_copy(row->text, sizeof(row->text), o->text ? o->text : "");
	suppress_copy(row->source, sizeof(row->source),
	    suppress_source_name(o->source));
	row->reply = o->reply;
}

static void
suppress_row_failed(struct store_supp *row, int64_t now)
{
	if (row->count == 0)
		row->first_time = now;
	if (row->count < UINT_MAX)
		row->count++;
	row->last_time = now;
}

static void
suppress_row_suppress(struct store_supp *row, const struct suppress_policy *p,
    int64_t now)
{
	row->suppressed = true;
	row->since = now;
	row->expires_at = p->ttl ? now + (int64_t)p->ttl : 0;
}

/* The policy, run inside the store's transaction (may run twice). */
static enum store_update
suppress_rec_fn(struct store_supp *row, bool exists, void *arg)
{
	struct suppress_rec *r = arg;
	const struct suppress_policy *p = r->p;
	int64_t now = r->o->now;

	switch (r->cls) {
	case SUPPRESS_CLASS_DELIVERED:
		if (!exists) {
			r->eff = SUPPRESS_EFF_NONE;
			return STORE_UPD_KEEP;
		}
		if (row->suppressed) {
			r->eff = SUPPRESS_EFF_ALREADY;
			return STORE_UPD_KEEP;
		}
		r->eff = SUPPRESS_EFF_RESET;
		return STORE_UPD_DELETE;
	case SUPPRESS_CLASS_DEAD:
		if (exists && row->suppressed) {
			/* Now we know it is dead: say so, keep since. */
			suppress_row_failed(row, now);
			suppress_row_fill(row, r);
			row->hard = true;
			r->eff = SUPPRESS_EFF_ALREADY;
			return STORE_UPD_PUT;
		}
		suppress_row_failed(row, now);
		suppress_row_fill(row, r);
		row->hard = true;
		suppress_row_suppress(row, p, now);
		r->eff = SUPPRESS_EFF_SUPPRESSED;
		return STORE_UPD_PUT;
	case SUPPRESS_CLASS_SOFT:
		suppress_row_failed(row, now);
		if (exists && row->suppressed) {
			/* Keep the reason it was suppressed for. */
			r->eff = SUPPRESS_EFF_ALREADY;
			return STORE_UPD_PUT;
		}
		suppress_row_fill(row, r);
		row->hard = false;
		if (row->count >= p->soft_threshold &&
		    now - row->first_time >= (int64_t)p->soft_window) {
			suppress_row_suppress(row, p, now);
			r->eff = SUPPRESS_EFF_SUPPRESSED;
		} else
			r->eff = SUPPRESS_EFF_COUNTED;
		return STORE_UPD_PUT;
	case SUPPRESS_CLASS_POLICY:
		r->eff = SUPPRESS_EFF_POLICY;
		return STORE_UPD_KEEP;
	case SUPPRESS_CLASS_IGNORE:
		break;
	}
	r->eff = SUPPRESS_EFF_NONE;
	return STORE_UPD_KEEP;
}

int
suppress_record(struct store *st, const struct suppress_policy *p,
    const struct suppress_outcome *o, enum suppress_effect *effect)
{
	struct suppress_rec r;
	struct store_event *ev = NULL;
	char safe[160];
	int rc;

	if (effect != NULL)
		*effect = SUPPRESS_EFF_NONE;
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.o = o;
	r.cls = o->delivered ? SUPPRESS_CLASS_DELIVERED :
	    suppress_classify(o->reason, o->status, o->reply, o->hard);
	r.reason = o->delivered ? "delivered" :
	    suppress_reason_of(o->reason, o->status);
	if (o->dest == NULL || strlen(o->dest) >= STORE_DEST_MAX)
		return STORE_EINVAL;	/* never record under a cut key */
	if (r.cls == SUPPRESS_CLASS_IGNORE)
		return STORE_OK;
	if (r.cls != SUPPRESS_CLASS_DELIVERED) {
		if ((ev = calloc(1, sizeof(*ev))) == NULL)
			return STORE_ENOMEM;
		ev->time = o->now;
		suppress_copy(ev->dest, sizeof(ev->dest), o->dest);
		if (suppress_key_domain(o->dest, ev->domain,
		    sizeof(ev->domain)) == -1)
			ev->domain[0] = '\0';
		suppress_copy(ev->rcpt, sizeof(ev->rcpt),
		    o->rcpt ? o->rcpt : "");
		suppress_copy(ev->status, sizeof(ev->status),
		    o->status ? o->status : "");
		ev->reply = o->reply;
		suppress_copy(ev->reason, sizeof(ev->reason), r.reason);
		ev->hard = o->hard == 1 || r.cls == SUPPRESS_CLASS_DEAD;
		suppress_copy(ev->source, sizeof(ev->source),
		    suppress_source_name(o->source));
		suppress_copy(ev->text, sizeof(ev->text),
		    o->text ? o->text : "");
	}
	rc = store_supp_update(st, o->dest, suppress_rec_fn, &r, ev);
	free(ev);
	if (rc != STORE_OK)
		return rc;
	if (effect != NULL)
		*effect = r.eff;
	log_sanitize(safe, sizeof(safe), o->dest, strlen(o->dest));
	if (r.eff == SUPPRESS_EFF_SUPPRESSED)
		log_info("suppress: %s suppressed after %s%s(%s, %s)", safe,
		    o->status ? o->status : "", o->status && *o->status ?
		    " " : "", r.reason, suppress_source_name(o->source));
	else if (r.eff == SUPPRESS_EFF_POLICY)
		/* The operator's business: the relay or its mail is refused. */
		log_warn("suppress: %s refused the relay's mail for policy "
		    "(%s %s); not suppressed - check the relay's reputation "
		    "and the message", safe, o->status ? o->status : "-",
		    r.reason);
	return STORE_OK;
}

/* ------------------------------------------------------------------ */

int
suppress_lookup(struct store *st, const char *dest, int64_t now,
    struct suppress_info *info)
{
	struct store_supp *row;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((row = malloc(sizeof(*row))) == NULL)
		return STORE_ENOMEM;
	rc = store_supp_get(st, dest, row);
	if (rc == STORE_NOTFOUND || (rc == STORE_OK && (!row->suppressed ||
	    (row->expires_at != 0 && now >= row->expires_at)))) {
		free(row);
		return 0;
	}
	if (rc != STORE_OK) {
		free(row);
		return rc;
	}
	info->suppressed = true;
	info->since = row->since;
	info->expires_at = row->expires_at;
	info->count = row->count;
	info->hard = row->hard;
	info->reply = row->reply;
	memcpy(info->reason, row->reason, sizeof(info->reason));
	memcpy(info->status, row->status, sizeof(info->status));
	memcpy(info->source, row->source, sizeof(info->source));
	memcpy(info->text, row->text, sizeof(info->text));
	free(row);
	return 1;
}

/* Keep only [A-Za-z0-9._-]: stored text must not reach a reply raw. */
static void
suppress_word(char *out, size_t outsz, const char *in)
{
	size_t k = 0;

	for (; *in != '\0' && k + 1 < outsz; in++)
		if ((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
		    (*in >= '0' && *in <= '9') || *in == '.' || *in == '-' ||
		    *in == '_')
			out[k++] = *in;
	out[k] = '\0';
}

int
suppress_reply_text(const struct suppress_info *info, char *out,
    size_t outsz)
{
	char when[40], reason[STORE_REASON_MAX], status[STORE_STATUS_MAX];
	struct tm tm;
	time_t t = (time_t)info->since;
	int n;

	if (outsz == 0)
		return -1;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		(void)snprintf(when, sizeof(when), "an unknown date");
	suppress_word(reason, sizeof(reason), info->reason);
	suppress_word(status, sizeof(status), info->status);
	if (reason[0] == '\0')
		(void)snprintf(reason, sizeof(reason), "unknown");
	if (strcmp(info->source, "operator") == 0)
		n = snprintf(out, outsz, "destination suppressed since %s by "
		    "the postmaster (%s)", when, reason);
	else if (status[0] != '\0')
		n = snprintf(out, outsz, "destination suppressed since %s "
		    "after %s (%s)", when, status, reason);
	else
		n = snprintf(out, outsz, "destination suppressed since %s "
		    "(%s)", when, reason);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return -1;
	}
	return n;
}

int
suppress_check_dests(struct store *st, const char *rcpt,
    const char *const *specs, size_t n, int64_t now, bool *suppressed,
    struct suppress_info *first)
{
	struct suppress_info *info;
	char key[STORE_DEST_MAX];
	size_t i;
	int count = 0, rc;

	if (first != NULL)
		memset(first, 0, sizeof(*first));
	if ((info = malloc(sizeof(*info))) == NULL)
		return STORE_ENOMEM;
	for (i = 0; i < n; i++) {
		if (suppressed != NULL)
			suppressed[i] = false;
		if (suppress_key(rcpt, specs[i], key, sizeof(key)) == -1)
			continue;	/* cannot have been stored either */
		rc = suppress_lookup(st, key, now, info);
		if (rc < 0) {
			free(info);
			return rc;
		}
		if (rc == 0)
			continue;
		if (suppressed != NULL)
			suppressed[i] = true;
		if (count == 0 && first != NULL)
			*first = *info;
		if (count < INT_MAX)
			count++;
	}
	free(info);
	return count;
}

int
suppress_add(struct store *st, const struct suppress_policy *p,
    const char *dest, const char *reason, int64_t now)
{
	struct store_supp *row;
	int rc;

	if (dest == NULL || strlen(dest) >= STORE_DEST_MAX)
		return STORE_EINVAL;
	if ((row = calloc(1, sizeof(*row))) == NULL)
		return STORE_ENOMEM;
	suppress_copy(row->dest, sizeof(row->dest), dest);
	suppress_copy(row->reason, sizeof(row->reason),
	    reason && *reason ? reason : "operator");
	suppress_copy(row->source, sizeof(row->source),
	    suppress_source_name(SUPPRESS_SRC_OPERATOR));
	row->first_time = row->last_time = now;
	row->hard = true;
	suppress_row_suppress(row, p, now);
	rc = store_supp_put(st, row);
	free(row);
	return rc;
}

int
suppress_remove(struct store *st, const char *dest)
{
	return store_supp_delete(st, dest);
}

int
suppress_expire(struct store *st, int64_t now, uint64_t *n)
{
	return store_supp_expire(st, now, now - (int64_t)SUPPRESS_STALE_COUNTER,
	    n);
}

/* ------------------------------------------------------------------ */

static char
suppress_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
suppress_is_local_spec(const char *spec)
{
	return strncasecmp(spec, "smtp://", 7) == 0 ||
	    strncasecmp(spec, "maildir:", 8) == 0;
}

int
suppress_key(const char *rcpt, const char *spec, char *out, size_t outsz)
{
	size_t i;
	int n;

	if (outsz == 0)
		return -1;
	if (spec == NULL || spec[0] == '\0')
		n = snprintf(out, outsz, "%s", rcpt ? rcpt : "");
	else if (suppress_is_local_spec(spec))
		n = snprintf(out, outsz, "%s via %s", rcpt ? rcpt : "", spec);
	else
		n = snprintf(out, outsz, "%s", spec);	/* a forward target */
	if (n <= 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return -1;
	}
	for (i = 0; out[i] != '\0'; i++)
		out[i] = suppress_lower(out[i]);
	return n;
}

int
suppress_key_domain(const char *key, char *out, size_t outsz)
{
	const char *via = strstr(key, " via "), *p, *end;
	size_t len;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (via != NULL) {
		p = via + 5;
		if (strncasecmp(p, "maildir:", 8) == 0) {
			p = "maildir";
			end = p + 7;
		} else if (strncasecmp(p, "smtp://", 7) == 0) {
			p += 7;
			if (*p == '[') {
				p++;
				end = strchr(p, ']');
			} else
				end = p + strcspn(p, ":/");
			if (end == NULL)
				return -1;
		} else
			return -1;
	} else {
		if ((p = strrchr(key, '@')) == NULL)
			return -1;
		p++;
		end = p + strlen(p);
	}
	len = (size_t)(end - p);
	if (len == 0 || len >= outsz)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

int
suppress_record_attempt(struct store *st, const struct suppress_policy *p,
    const char *rcpt, const char *spec, bool delivered, int reply,
    const char *status, const char *text, enum suppress_source source,
    int64_t now)
{
	struct suppress_outcome o;
	struct bounce_verdict v;
	enum suppress_effect eff = SUPPRESS_EFF_NONE;
	char key[STORE_DEST_MAX];
	int rc;

	if (st == NULL)
		return STORE_OK;
	if (suppress_key(rcpt, spec, key, sizeof(key)) < 0)
		return STORE_EINVAL;
	memset(&o, 0, sizeof(o));
	o.dest = key;
	o.rcpt = rcpt;
	o.delivered = delivered;
	o.reply = reply;
	o.status = status;
	o.text = text;
	o.hard = -1;
	o.source = source;
	o.now = now;
	if (!delivered) {
		bounce_classify(reply, status, text, &v);
		o.reason = v.reason == BOUNCE_UNDEFINED ? NULL :
		    bounce_reason_name(v.reason);
		o.hard = v.hard;
	}
	rc = suppress_record(st, p, &o, &eff);
	if (rc < 0)
		log_warn("suppression: cannot record the outcome for %s: %s (%s)",
		    key, store_strerror(rc), store_errmsg(st));
	else if (eff == SUPPRESS_EFF_SUPPRESSED)
		log_info("suppression: %s suppressed after %d %s (%s)", key,
		    reply, status && status[0] ? status : "-",
		    o.reason ? o.reason : "inferred");
	return rc;
}
