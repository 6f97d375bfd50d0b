/*
 * dsn - build RFC 3464 delivery status notifications.  See dsn.h.
 */
#include "dsn.h"

#include "route.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSN_FOLD_COL	78	/* RFC 5322 2.1.1: SHOULD be <= 78 */
#define DSN_LINE_MAX	998	/* RFC 5322 2.1.1: MUST be <= 998 */
#define DSN_TEXT_WIDTH	76

const char *
dsn_action_name(enum dsn_action action)
{
	switch (action) {
	case DSN_ACTION_FAILED:		return "failed";
	case DSN_ACTION_DELAYED:	return "delayed";
	case DSN_ACTION_DELIVERED:	return "delivered";
	case DSN_ACTION_RELAYED:	return "relayed";
	case DSN_ACTION_EXPANDED:	return "expanded";
	}
	return "failed";
}

bool
dsn_wanted(unsigned notify, enum dsn_action action)
{
	/* RFC 3461 4.1: absent NOTIFY = FAILURE (and DELAY at the MTA's
	 * discretion, which we grant); NEVER = nothing. */
	if (notify == SMTP_NOTIFY_NONE)
		notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
	if (notify & SMTP_NOTIFY_NEVER)
		return false;
	switch (action) {
	case DSN_ACTION_FAILED:
		return (notify & SMTP_NOTIFY_FAILURE) != 0;
	case DSN_ACTION_DELAYED:
		return (notify & SMTP_NOTIFY_DELAY) != 0;
	case DSN_ACTION_DELIVERED:
	case DSN_ACTION_RELAYED:
	case DSN_ACTION_EXPANDED:
		return (notify & SMTP_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

bool
dsn_should_send(bool sender_is_null, unsigned notify, enum dsn_action action)
{
	/* RFC 5321 4.5.5 / 6.1: never notify the null sender. */
	if (sender_is_null)
		return false;
	return dsn_wanted(notify, action);
}

int
dsn_format_date(time_t t, char *out, size_t outsz)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm tm;
	int n;

	/* Fixed English names: strftime would follow the locale. */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	n = snprintf(out, outsz, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

/* ---------------------------------------------------------------- */
/* explanations                                                       */

/* Parse "C.S.D" (class 2/4/5, 1-3 digit subject and detail). */
static bool
dsn_status_parse(const char *s, int *cls, int *subj, int *det)
{
	int v[3] = { 0, 0, 0 }, k = 0, digits = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (digits == 0 || k == 2)
				return false;
			k++;
			digits = 0;
			continue;
		}
		if (*s < '0' || *s > '9' || digits == 3 || (k == 0 && digits))
			return false;
		v[k] = v[k] * 10 + (*s - '0');
		digits++;
	}
	if (k != 2 || digits == 0 || (v[0] != 2 && v[0] != 4 && v[0] != 5))
		return false;
	*cls = v[0];
	*subj = v[1];
	*det = v[2];
	return true;
}

int
dsn_explain_builtin(void *arg, enum dsn_action action, int reply,
    const char *status, const char *text, struct buf *out)
{
	int cls = 0, subj = -1, det = -1;
	const char *what;

	(void)arg;
	(void)text;
	if (action == DSN_ACTION_DELIVERED || action == DSN_ACTION_RELAYED ||
	    action == DSN_ACTION_EXPANDED)
		return buf_append_str(out, "The message was delivered to the "
		    "destination.  Nothing needs to be done.") ? -1 : 0;
	if (!dsn_status_parse(status, &cls, &subj, &det))
		cls = reply / 100;

	if (subj == 1 && det == 1)
		what = "The recipient's mailbox does not exist at the "
		    "destination.\nCheck the address for typing mistakes, or "
		    "ask the recipient for their current address.";
	else if (subj == 1 && det == 10)
		what = "The recipient's domain has declared that it accepts no "
		    "mail at all (a \"null MX\" record).\nCheck the part of the "
		    "address after the @ sign.";
	else if (subj == 1 && det == 2)
		what = "The recipient's domain does not exist, or has no mail "
		    "server.\nCheck the part of the address after the @ sign "
		    "for typing mistakes.";
	else if (subj == 1)
		what = "There is a problem with the recipient's address.\n"
		    "Check the address, or ask the recipient for the right one.";
	else if (subj == 2 && det == 2)
		what = "The recipient's mailbox is full.\nTry again later, or "
		    "reach the recipient another way and ask them to make room.";
	else if ((subj == 2 && det == 3) || (subj == 3 && det == 4))
		what = "The message is larger than the destination accepts.\n"
		    "Send a smaller message, for example a link instead of a "
		    "large attachment.";
	else if (subj == 2)
		what = "The recipient's mailbox cannot take mail right now "
		    "(it may be disabled or over its limits).\nTry again later "
		    "or reach the recipient another way.";
	else if (subj == 3)
		what = "The destination's mail system has a problem.\nTry again "
		    "later; if it persists, tell the recipient by other means.";
	else if (subj == 4 && det == 7)
		what = "The message could not be delivered within the time "
		    "limit: the destination kept refusing it or could not be "
		    "reached while this server kept trying.\nCheck the address; "
		    "if it is right, send the message again later.";
	else if (subj == 4)
		what = "The destination's mail server could not be reached "
		    "(a network or routing problem).\nIf this persists, the "
		    "recipient's mail setup may be broken.";
	else if (subj == 5)
		what = "The destination's mail server refused the way the "
		    "message was sent (a protocol problem).\nThis is usually "
		    "not something the sender can fix; tell the recipient.";
	else if (subj == 6)
		what = "The destination refused the message's content or "
		    "format.\nTry sending it as plain text or without "
		    "attachments.";
	else if (subj == 7)
		what = "The destination refused the message for policy or "
		    "security reasons (for example spam filtering, sender "
		    "authentication such as SPF, DKIM or DMARC, or a "
		    "blocklist).\nIf you believe this is a mistake, contact "
		    "the recipient's mail administrator by other means.";
	else if (cls == 4 || action == DSN_ACTION_DELAYED)
		what = "The destination has a temporary problem.";
	else
		what = "The destination rejected the message permanently.";
	if (buf_append_str(out, what))
		return -1;
	if (action == DSN_ACTION_DELAYED &&
	    buf_append_str(out, "\nThis is only a warning: delivery is "
	    "still being attempted, and you do not need to send the message "
	    "again."))
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- */
/* text helpers                                                       */

static bool
dsn_has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static bool
dsn_has_ctl(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/*
 * Append s as one line of printable text: CR, LF and TAB count as spaces,
 * runs of spaces become one and leading/trailing ones go (so a folded
 * field never gets a line of only white space, RFC 5322 3.2.2), other
 * control bytes become '?', 8-bit bytes '?' unless keep_8bit.  At most max
 * input characters are used; "..." marks a cut.
 */
static int
dsn_clean(struct buf *b, const char *s, size_t max, bool keep_8bit)
{
	size_t i, len = s ? strlen(s) : 0;
	bool space = false, any = false;

	for (i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
			space = any;
			continue;
		}
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_8bit))
			c = '?';
		if ((space && buf_append_byte(b, ' ')) ||
		    buf_append_byte(b, (char)c))
			return -1;
		space = false;
		any = true;
	}
	if (len > max && buf_append_str(b, any ? " ..." : "..."))
		return -1;
	return 0;
}

/* A remote host name as Remote-MTA wants it: drop "[ip]:port". */
static int
dsn_clean_host(struct buf *b, const char *h)
{
	size_t i, n = strlen(h);

	if (h[0] != '[') {
		const char *br = strchr(h, '[');

		if (br != NULL)
			n = (size_t)(br - h);
	} else {
		const char *br = strchr(h, ']');

		if (br != NULL)
			n = (size_t)(br - h) + 1;
	}
	if (n > SPOOL_HOST_MAX)
		n = SPOOL_HOST_MAX;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == ':' || c == '[' || c == ']';

		if (buf_append_byte(b, ok ? (char)c : '?'))
			return -1;
	}
	return 0;
}

/*
 * Append "Name: value" CRLF, folding before whitespace so that lines stay
 * within DSN_FOLD_COL where possible and within DSN_LINE_MAX always (a
 * run without whitespace that long is split).  value has no CR/LF.
 */
static int
dsn_put_field(struct buf *b, const char *name, const char *value)
{
	size_t col, start, i = 0, n = strlen(value);

	if (buf_printf(b, "%s: ", name))
		return -1;
	col = start = strlen(name) + 2;
	while (i < n) {
		size_t j = i, seglen;
		const char *seg = value + i;

		while (j < n && value[j] == ' ')
			j++;
		while (j < n && value[j] != ' ')
			j++;
		seglen = j - i;
		if (col + seglen > DSN_FOLD_COL && col > start && seg[0] == ' ') {
			if (buf_append(b, "\r\n", 2))
				return -1;
			col = 0;
		}
		while (col + seglen > DSN_LINE_MAX) {
			size_t take = DSN_LINE_MAX - col;

			if (buf_append(b, seg, take) || buf_append(b, "\r\n ", 3))
				return -1;
			seg += take;
			seglen -= take;
			col = 1;
		}
		if (buf_append(b, seg, seglen))
			return -1;
		col += seglen;
		i = j;
	}
	return buf_append(b, "\r\n", 2) ? -1 : 0;
}

/* Same, value built by printf. */
static int
dsn_put_fieldf(struct buf *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
dsn_put_fieldf(struct buf *b, const char *name, const char *fmt, ...)
{
	struct buf v;
	va_list ap;
	int rc;

	buf_init(&v, 0);
	va_start(ap, fmt);
	rc = buf_vprintf(&v, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = dsn_put_field(b, name, v.data ? v.data : "");
	buf_free(&v);
	return rc ? -1 : 0;
}

/*
 * Append plain text (lines separated by "\n") word-wrapped to
 * DSN_TEXT_WIDTH columns, each line indented by indent spaces, CRLF.
 */
static int
dsn_put_wrapped(struct buf *b, const char *text, size_t indent)
{
	const char *p = text, *end = text + strlen(text);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t col = 0;

		while (p < le) {
			const char *w;
			size_t wl;

			while (p < le && *p == ' ')
				p++;
			if (p == le)
				break;
			w = p;
			while (p < le && *p != ' ')
				p++;
			wl = (size_t)(p - w);
			if (col > indent && col + 1 + wl > DSN_TEXT_WIDTH) {
				if (buf_append(b, "\r\n", 2))
					return -1;
				col = 0;
			}
			if (col == 0) {
				if (buf_printf(b, "%*s", (int)indent, ""))
					return -1;
				col = indent;
			} else {
				if (buf_append_byte(b, ' '))
					return -1;
				col++;
			}
			while (col + wl > DSN_LINE_MAX) {
				size_t take = DSN_LINE_MAX - col;

				if (buf_append(b, w, take) ||
				    buf_printf(b, "\r\n%*s", (int)indent, ""))
					return -1;
				w += take;
				wl -= take;
				col = indent;
			}
			if (buf_append(b, w, wl))
				return -1;
			col += wl;
		}
		if (buf_append(b, "\r\n", 2))
			return -1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/*
 * Copy message bytes, normalising line endings to CRLF and NUL to '?';
 * the result ends with CRLF.  A line longer than DSN_LINE_MAX (possible
 * only when the relay accepts longer lines than RFC 5322 allows) is
 * broken there: in a header section as a fold (CRLF SP), elsewhere with a
 * plain CRLF, so the report never carries an illegal line.
 */
static int
dsn_put_crlf(struct buf *b, const char *s, size_t len, bool fold)
{
	size_t i = 0, col = 0;

	while (i < len) {
		size_t j, room;
		char c = s[i];

		if (c == '\r' || c == '\n') {
			if (buf_append(b, "\r\n", 2))
				return -1;
			if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
				i++;
			i++;
			col = 0;
			continue;
		}
		if (col >= DSN_LINE_MAX) {
			if (buf_append(b, fold ? "\r\n " : "\r\n", fold ? 3 : 2))
				return -1;
			col = fold ? 1 : 0;
		}
		if (c == '\0') {
			if (buf_append_byte(b, '?'))
				return -1;
			i++;
			col++;
			continue;
		}
		room = DSN_LINE_MAX - col;
		for (j = i; j < len && j - i < room && s[j] != '\r' &&
		    s[j] != '\n' && s[j] != '\0'; j++)
			;
		if (buf_append(b, s + i, j - i))
			return -1;
		col += j - i;
		i = j;
	}
	if (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
		return buf_append(b, "\r\n", 2) ? -1 : 0;
	return 0;
}

/* Length of the header section (up to and including the CRLF or LF that
 * ends the last field, without the empty line). */
static size_t
dsn_header_len(const char *m, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(m + i, '\n', len - i);
		size_t line_end = nl ? (size_t)(nl - m) + 1 : len;
		size_t content = line_end - i;

		if (nl)
			content--;
		if (content > 0 && m[i + content - 1] == '\r')
			content--;
		if (content == 0)
			return i;	/* the empty line */
		i = line_end;
	}
	return len;
}

/* The recipient address in the form the report wants it. */
static const char *
dsn_addr_type(const char *addr)
{
	/* RFC 6533 3: non-ASCII addresses use the "utf-8" type. */
	return dsn_has_8bit(addr, strlen(addr)) ? "utf-8" : "rfc822";
}

static const char *
dsn_status_of(const struct dsn_rcpt *rc)
{
	int c, s, d;

	if (dsn_status_parse(rc->status, &c, &s, &d))
		return rc->status;
	if (rc->reply >= 200 && rc->reply < 600) {
		switch (rc->reply / 100) {
		case 5: return "5.0.0";
		case 4: return "4.0.0";
		case 2: return "2.0.0";
		}
	}
	switch (rc->action) {
	case DSN_ACTION_FAILED:		return "5.0.0";
	case DSN_ACTION_DELAYED:	return "4.0.0";
	default:			return "2.0.0";
	}
}

/* ---------------------------------------------------------------- */
/* the report                                                         */

/* Append one recipient's explanation (hook, else built-in), wrapped and
 * indented, reduced to printable ASCII with the hook's line breaks. */
static int
dsn_put_explanation(struct buf *b, const struct dsn_report *r,
    const struct dsn_rcpt *rc)
{
	struct buf e, t;
	const char *status = dsn_status_of(rc);
	const char *diag = rc->diag ? rc->diag : "";
	size_t k;
	int hr = -1;

	buf_init(&e, 16384);
	buf_init(&t, 0);
	if (r->explain)
		hr = r->explain(r->explain_arg, rc->action, rc->reply, status,
		    diag, &e);
	if (hr != 0 || e.len == 0) {
		buf_reset(&e);
		hr = dsn_explain_builtin(NULL, rc->action, rc->reply, status,
		    diag, &e);
	}
	for (k = 0; hr == 0 && k < e.len; k++) {
		unsigned char c = (unsigned char)e.data[k];

		if (c == '\r')
			continue;
		if (c == '\t')
			c = ' ';
		else if (c != '\n' && (c < 0x20 || c >= 0x7f))
			c = '?';
		hr = buf_append_byte(&t, (char)c);
	}
	if (hr == 0 && t.len)
		hr = dsn_put_wrapped(b, t.data, 4);
	buf_free(&e);
	buf_free(&t);
	return hr ? -1 : 0;
}

struct dsn_ctx {
	const struct dsn_report *r;
	bool	utf8;		/* global types, utf-8 addresses allowed */
	bool	full;		/* part 3 is the whole message */
	bool	full_refused;	/* RET=FULL asked, headers sent */
	size_t	hdr_len;
	char	boundary[64];
};

static int
dsn_put_text_part(struct buf *b, struct dsn_ctx *cx)
{
	static const struct {
		enum dsn_action a[3];
		const char *intro;
	} groups[] = {
		{ { DSN_ACTION_FAILED, DSN_ACTION_FAILED, DSN_ACTION_FAILED },
		  "Your message could not be delivered to the recipient(s) "
		  "below.  This is a permanent failure: the message will not "
		  "be sent again." },
		{ { DSN_ACTION_DELAYED, DSN_ACTION_DELAYED, DSN_ACTION_DELAYED },
		  "Your message has not yet been delivered to the "
		  "recipient(s) below.  Delivery is still being attempted; "
		  "this is only a warning and you do not need to send the "
		  "message again." },
		{ { DSN_ACTION_DELIVERED, DSN_ACTION_RELAYED,
		    DSN_ACTION_EXPANDED },
		  "Your message was delivered to the recipient(s) below, as "
		  "you asked to be told." },
	};
	const struct dsn_report *r = cx->r;
	struct buf t;
	size_t g, i;
	int ret = -1;

	buf_init(&t, 0);
	if (buf_printf(b, "--%s\r\n", cx->boundary) ||
	    buf_append_str(b, "Content-Description: Notification\r\n") ||
	    buf_printf(b, "Content-Type: text/plain; charset=%s\r\n",
	    cx->utf8 ? "utf-8" : "us-ascii") ||
	    buf_printf(b, "Content-Transfer-Encoding: %s\r\n\r\n",
	    cx->utf8 ? "8bit" : "7bit"))
		goto out;

	buf_reset(&t);
	if (buf_append_str(&t, "This is the mail system at host ") ||
	    dsn_clean_host(&t, r->hostname) || buf_append_str(&t, ".\n") ||
	    dsn_put_wrapped(b, t.data, 0) || buf_append(b, "\r\n", 2))
		goto out;

	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		bool any = false;

		for (i = 0; i < r->nrcpt; i++) {
			const struct dsn_rcpt *rc = &r->rcpt[i];
			char date[40];

			if (rc->action != groups[g].a[0] &&
			    rc->action != groups[g].a[1] &&
			    rc->action != groups[g].a[2])
				continue;
			if (!any) {
				if (dsn_put_wrapped(b, groups[g].intro, 0) ||
				    buf_append(b, "\r\n", 2))
					goto out;
				any = true;
			}
			buf_reset(&t);
			if (buf_append_byte(&t, '<') ||
			    dsn_clean(&t, rc->addr, SPOOL_ADDR_MAX, cx->utf8) ||
			    buf_append_byte(&t, '>') ||
			    dsn_put_wrapped(b, t.data, 0))
				goto out;
			if (rc->orcpt && rc->orcpt[0]) {
				buf_reset(&t);
				if (buf_append_str(&t, "Original recipient: ") ||
				    dsn_clean(&t, rc->orcpt, SMTP_ORCPT_MAX,
				    cx->utf8) || dsn_put_wrapped(b, t.data, 4))
					goto out;
			}
			if (rc->remote_mta && rc->remote_mta[0]) {
				buf_reset(&t);
				if (buf_append_str(&t, "Remote server: ") ||
				    dsn_clean_host(&t, rc->remote_mta) ||
				    dsn_put_wrapped(b, t.data, 4))
					goto out;
			}
			if (rc->reply || (rc->diag && rc->diag[0])) {
				buf_reset(&t);
				if (buf_append_str(&t, rc->reply ? "It said: " :
				    "Error: ") ||
				    (rc->reply && buf_printf(&t, "%d ", rc->reply)) ||
				    dsn_clean(&t, rc->diag, DSN_DIAG_MAX, false) ||
				    dsn_put_wrapped(b, t.data, 4))
					goto out;
			}
			if (rc->action == DSN_ACTION_DELAYED &&
			    rc->will_retry_until &&
			    dsn_format_date(rc->will_retry_until, date,
			    sizeof(date)) == 0) {
				buf_reset(&t);
				if (buf_printf(&t, "Attempts continue until %s.",
				    date) || dsn_put_wrapped(b, t.data, 4))
					goto out;
			}
			/* The explanation: hook first, built-in fallback. */
			if (dsn_put_explanation(b, r, rc))
				goto out;
			if (buf_append(b, "\r\n", 2))
				goto out;
		}
	}
	if (cx->full_refused &&
	    dsn_put_wrapped(b, "The message was too large to return in "
	    "full; only its header section is attached.", 0))
		goto out;
	ret = 0;
out:
	buf_free(&t);
	return ret;
}

static int
dsn_put_status_part(struct buf *b, struct dsn_ctx *cx)
{
	const struct dsn_report *r = cx->r;
	struct buf v;
	char date[40];
	size_t i;
	int ret = -1;

	buf_init(&v, 0);
	if (buf_printf(b, "--%s\r\n", cx->boundary) ||
	    buf_append_str(b, "Content-Description: Delivery report\r\n") ||
	    buf_printf(b, "Content-Type: message/%s\r\n",
	    cx->utf8 ? "global-delivery-status" : "delivery-status") ||
	    buf_printf(b, "Content-Transfer-Encoding: %s\r\n\r\n",
	    cx->utf8 ? "8bit" : "7bit"))
		goto out;

	/* Per-message fields, RFC 3464 2.2. */
	buf_reset(&v);
	if (buf_append_str(&v, "dns; ") || dsn_clean_host(&v, r->hostname) ||
	    dsn_put_field(b, "Reporting-MTA", v.data))
		goto out;
	if (r->envid && r->envid[0]) {
		buf_reset(&v);
		if (dsn_clean(&v, r->envid, SMTP_ENVID_MAX, false) ||
		    dsn_put_field(b, "Original-Envelope-Id", v.data))
			goto out;
	}
	if (r->arrival && dsn_format_date(r->arrival, date, sizeof(date)) == 0 &&
	    dsn_put_field(b, "Arrival-Date", date))
		goto out;

	/* Per-recipient fields, RFC 3464 2.3, each block after a blank line. */
	for (i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpt[i];

		if (buf_append(b, "\r\n", 2))
			goto out;
		if (rc->orcpt && rc->orcpt[0]) {
			buf_reset(&v);
			if (dsn_clean(&v, rc->orcpt, SMTP_ORCPT_MAX, cx->utf8) ||
			    dsn_put_field(b, "Original-Recipient", v.data))
				goto out;
		}
		buf_reset(&v);
		if (buf_printf(&v, "%s; ", dsn_addr_type(rc->addr)) ||
		    dsn_clean(&v, rc->addr, SPOOL_ADDR_MAX, cx->utf8) ||
		    dsn_put_field(b, "Final-Recipient", v.data) ||
		    dsn_put_field(b, "Action", dsn_action_name(rc->action)) ||
		    dsn_put_field(b, "Status", dsn_status_of(rc)))
			goto out;
		if (rc->remote_mta && rc->remote_mta[0]) {
			buf_reset(&v);
			if (buf_append_str(&v, "dns; ") ||
			    dsn_clean_host(&v, rc->remote_mta) ||
			    dsn_put_field(b, "Remote-MTA", v.data))
				goto out;
		}
		if (rc->reply >= 200 && rc->reply <= 599) {
			buf_reset(&v);
			if (buf_printf(&v, "smtp; %d", rc->reply) ||
			    (rc->diag && rc->diag[0] &&
			    (buf_append_byte(&v, ' ') ||
			    dsn_clean(&v, rc->diag, DSN_DIAG_MAX, false))) ||
			    dsn_put_field(b, "Diagnostic-Code", v.data))
				goto out;
		} else if (rc->diag && rc->diag[0]) {
			/* No SMTP reply (DNS, connection): RFC 3464 2.3.6
			 * allows an X- diagnostic type. */
			buf_reset(&v);
			if (buf_append_str(&v, "X-Cleanbox; ") ||
			    dsn_clean(&v, rc->diag, DSN_DIAG_MAX, false) ||
			    dsn_put_field(b, "Diagnostic-Code", v.data))
				goto out;
		}
		if (rc->last_attempt &&
		    dsn_format_date(rc->last_attempt, date, sizeof(date)) == 0 &&
		    dsn_put_field(b, "Last-Attempt-Date", date))
			goto out;
		if (rc->action == DSN_ACTION_DELAYED && rc->will_retry_until &&
		    dsn_format_date(rc->will_retry_until, date,
		    sizeof(date)) == 0 &&
		    dsn_put_field(b, "Will-Retry-Until", date))
			goto out;
	}
	ret = 0;
out:
	buf_free(&v);
	return ret;
}

static int
dsn_put_original(struct buf *b, struct dsn_ctx *cx)
{
	const struct dsn_report *r = cx->r;
	size_t len = cx->full ? r->msg_len : cx->hdr_len;
	bool eight = dsn_has_8bit(r->msg, len);
	const char *type, *desc;
	bool failed = false;
	size_t i;

	for (i = 0; i < r->nrcpt; i++)
		if (r->rcpt[i].action == DSN_ACTION_FAILED ||
		    r->rcpt[i].action == DSN_ACTION_DELAYED)
			failed = true;
	if (cx->full) {
		type = cx->utf8 ? "message/global" : "message/rfc822";
		desc = failed ? "Undelivered Message" : "Delivered Message";
	} else {
		type = cx->utf8 ? "message/global-headers" : "text/rfc822-headers";
		desc = failed ? "Undelivered Message Headers"
		    : "Delivered Message Headers";
	}
	if (buf_printf(b, "--%s\r\n", cx->boundary) ||
	    buf_printf(b, "Content-Description: %s\r\n", desc) ||
	    buf_printf(b, "Content-Type: %s\r\n", type) ||
	    buf_printf(b, "Content-Transfer-Encoding: %s\r\n\r\n",
	    eight ? "8bit" : "7bit"))
		return -1;
	if (len == 0)
		return 0;
	if (dsn_put_crlf(b, r->msg, cx->hdr_len, true))
		return -1;
	if (len > cx->hdr_len &&
	    dsn_put_crlf(b, r->msg + cx->hdr_len, len - cx->hdr_len, false))
		return -1;
	return 0;
}

static bool
dsn_contains(const char *hay, size_t hlen, const char *needle)
{
	size_t nlen = strlen(needle);

	return hay != NULL && memmem(hay, hlen, needle, nlen) != NULL;
}

void
dsn_report_from_envelope(struct dsn_report *r, const struct spool_envelope *env)
{
	r->sender = env->sender;
	r->queue_id = env->id;
	r->envid = env->envid;
	r->arrival = env->arrival;
	r->smtputf8 = env->smtputf8;
	r->body = env->body;
	r->ret = env->ret;
}

void
dsn_rcpt_from_spool(struct dsn_rcpt *out, const struct spool_rcpt *sr,
    enum dsn_action action, time_t will_retry_until)
{
	memset(out, 0, sizeof(*out));
	out->addr = sr->addr;
	out->orcpt = sr->orcpt;
	out->action = action;
	out->status = sr->last_error.status;
	out->reply = sr->last_error.reply;
	out->diag = sr->last_error.text;
	out->remote_mta = sr->last_error.host;
	out->last_attempt = sr->last_attempt;
	out->will_retry_until = will_retry_until;
}

int
dsn_build(const struct dsn_report *r, struct buf *out, unsigned *needs)
{
	struct dsn_ctx cx;
	char date[40], stamp[16];
	const char *subject;
	bool any_failed = false, any_delayed = false;
	size_t start = out->len, i, n;
	struct tm tm;
	int tries, rc = DSN_ENOMEM;

	if (needs)
		*needs = 0;
	if (r->nrcpt == 0 || r->rcpt == NULL || r->hostname == NULL ||
	    r->hostname[0] == '\0' || dsn_has_ctl(r->hostname) ||
	    strchr(r->hostname, ' ') || dsn_has_8bit(r->hostname,
	    strlen(r->hostname)) || strlen(r->hostname) > SMTP_DOMAIN_MAX ||
	    r->sender == NULL || r->sender[0] == '\0' ||
	    dsn_has_ctl(r->sender) || strlen(r->sender) > SPOOL_ADDR_MAX)
		return DSN_EINVAL;
	for (i = 0; i < r->nrcpt; i++)
		if (r->rcpt[i].addr == NULL || r->rcpt[i].addr[0] == '\0')
			return DSN_EINVAL;

	memset(&cx, 0, sizeof(cx));
	cx.r = r;
	cx.utf8 = r->smtputf8 || dsn_has_8bit(r->sender, strlen(r->sender));
	for (i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpt[i];

		if (dsn_has_8bit(rc->addr, strlen(rc->addr)) ||
		    (rc->orcpt && dsn_has_8bit(rc->orcpt, strlen(rc->orcpt))))
			cx.utf8 = true;
		if (rc->action == DSN_ACTION_FAILED)
			any_failed = true;
		if (rc->action == DSN_ACTION_DELAYED)
			any_delayed = true;
	}
	if (r->msg != NULL && r->msg_len > 0) {
		cx.hdr_len = dsn_header_len(r->msg, r->msg_len);
		if (r->ret == SMTP_RET_FULL) {
			/* BINARYMIME content cannot travel inside a DSN that
			 * is sent without BINARYMIME: headers only. */
			cx.full = r->body != SMTP_BODY_BINARYMIME &&
			    (r->max_full == 0 || r->msg_len <= r->max_full);
			cx.full_refused = !cx.full;
		}
	}

	/* A boundary that the original does not contain (RFC 2046 5.1.1). */
	for (tries = 0; tries < 16; tries++) {
		n = (size_t)snprintf(cx.boundary, sizeof(cx.boundary),
		    "=_cleanbox_%08x%08x%08x", arc4random(), arc4random(),
		    arc4random());
		if (n >= sizeof(cx.boundary))
			return DSN_EINVAL;
		if (!dsn_contains(r->msg, r->msg_len, cx.boundary))
			break;
	}
	if (tries == 16)
		return DSN_EINVAL;

	subject = any_failed ? "Undelivered Mail Returned to Sender" :
	    any_delayed ? "Delayed Mail (still being retried)" :
	    "Delivery Status Notification (Success)";
	if (dsn_format_date(r->now, date, sizeof(date)) != 0 ||
	    gmtime_r(&r->now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
		return DSN_EINVAL;

	/* Header section (RFC 5322 3.6), then the report (RFC 6522). */
	if (buf_printf(out, "From: \"Mail Delivery System\" "
	    "<MAILER-DAEMON@%s>\r\n", r->hostname) ||
	    buf_printf(out, "To: <%s>\r\n", r->sender) ||
	    dsn_put_field(out, "Subject", subject) ||
	    dsn_put_field(out, "Date", date) ||
	    dsn_put_fieldf(out, "Message-ID", "<%s.%s.%08x@%s>", stamp,
	    r->queue_id && spool_id_valid(r->queue_id) ? r->queue_id : "dsn",
	    arc4random(), r->hostname) ||
	    /* RFC 3834 5: a DSN is an automatic response. */
	    buf_append_str(out, "Auto-Submitted: auto-replied\r\n") ||
	    buf_append_str(out, "MIME-Version: 1.0\r\n") ||
	    buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n",
	    cx.boundary))
		goto out;
	{
		/* One pass to know whether any part is 8-bit. */
		bool eight = cx.utf8 || (r->msg && dsn_has_8bit(r->msg,
		    cx.full ? r->msg_len : cx.hdr_len));

		if (buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
		    eight ? "8bit" : "7bit") ||
		    buf_append_str(out, "This is a MIME-encapsulated message."
		    "\r\n\r\n"))
			goto out;
	}
	if (dsn_put_text_part(out, &cx) || buf_append(out, "\r\n", 2) ||
	    dsn_put_status_part(out, &cx) || buf_append(out, "\r\n", 2))
		goto out;
	if (r->msg != NULL && r->msg_len > 0 &&
	    (dsn_put_original(out, &cx) || buf_append(out, "\r\n", 2)))
		goto out;
	if (buf_printf(out, "--%s--\r\n", cx.boundary))
		goto out;

	if (needs) {
		if (dsn_has_8bit(out->data + start, out->len - start))
			*needs |= DSN_NEEDS_8BITMIME;
		/* UTF-8 in the DSN's own header (To:) or in addresses needs
		 * SMTPUTF8; 8-bit body content alone needs 8BITMIME (RFC
		 * 6532 3.5 lets message/global travel as 8bit). */
		if (dsn_has_8bit(r->sender, strlen(r->sender)))
			*needs |= DSN_NEEDS_SMTPUTF8;
		for (i = 0; i < r->nrcpt; i++)
			if (dsn_has_8bit(r->rcpt[i].addr,
			    strlen(r->rcpt[i].addr)) || (r->rcpt[i].orcpt &&
			    dsn_has_8bit(r->rcpt[i].orcpt,
			    strlen(r->rcpt[i].orcpt))))
				*needs |= DSN_NEEDS_SMTPUTF8;
	}
	rc = DSN_OK;
out:
	if (rc != DSN_OK) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}

static int
dsn_envelope_add(struct spool_envelope *dn, const char *to, const char *spec)
{
	struct spool_rcpt *r;

	if ((r = spool_envelope_add_rcpt(dn)) == NULL)
		return -1;
	snprintf(r->addr, sizeof(r->addr), "%s", to);
	snprintf(r->dest, sizeof(r->dest), "%s", spec);
	r->notify = SMTP_NOTIFY_NEVER;
	return 0;
}

int
dsn_envelope_make(struct spool_envelope *dn, const char *hostname,
    const char *sender, const struct route_table *rt, unsigned needs,
    time_t now)
{
	const char *at = strrchr(sender, '@');
	const struct dest *dests;
	size_t n, i;

	dn->arrival = now;
	dn->sender[0] = '\0';
	dn->body = (needs & DSN_NEEDS_8BITMIME) ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	dn->smtputf8 = (needs & DSN_NEEDS_SMTPUTF8) != 0;
	snprintf(dn->helo, sizeof(dn->helo), "%s", hostname);
	snprintf(dn->client_ip, sizeof(dn->client_ip), "127.0.0.1");
	if (at == NULL || at == sender || at[1] == '\0')
		return -1;
	if (rt != NULL && route_domain_hosted(rt, at + 1, strlen(at + 1))) {
		if (route_lookup(rt, sender, (size_t)(at - sender), at + 1,
		    strlen(at + 1), &dests, &n) != ROUTE_FOUND)
			return -1;
		for (i = 0; i < n; i++)
			if (dsn_envelope_add(dn, sender, dests[i].spec) != 0)
				return -1;
		return n > 0 ? 0 : -1;
	}
	return dsn_envelope_add(dn, sender, sender);
}
