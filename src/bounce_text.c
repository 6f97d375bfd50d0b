/*
 * bounce_text - heuristics for human-readable bounce text.  See bounce_text.h.
 *
 * The shape shared by MTA reports: a preamble, then for each failed
 * recipient a line that starts with (or labels) the address, followed by
 * what went wrong; then, often, a transcript; then a copy of the original
 * message.  We cut the copy off, find "anchor" lines, and give each anchor
 * the lines up to the next one.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bounce_rules.h"
#include "bounce_text.h"
#include "utf8.h"

#define LINES_MAX	2000	/* lines of report text looked at */
#define BLOCK_LINES	40	/* lines that can belong to one recipient */
#define CUT_SCAN	(16 * 1024)	/* bytes searched for the copy marker */

struct line {
	const char *p;
	size_t	len;
};

static int
bounce_text_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/*
 * Case-insensitive search of an ASCII needle in a byte string (memchr on
 * both cases of the first byte, then a byte loop): this runs for every
 * line against every marker, so it must be cheap.
 */
static const char *
bounce_text_find(const char *s, size_t len, const char *needle)
{
	size_t nl = strlen(needle), k;
	int c0 = bounce_text_lower((unsigned char)needle[0]), c0u;
	const char *p = s, *end;

	if (nl == 0)
		return s;
	if (nl > len)
		return NULL;
	c0u = (c0 >= 'a' && c0 <= 'z') ? c0 - 'a' + 'A' : c0;
	end = s + len - nl + 1;
	while (p < end) {
		const char *a = memchr(p, c0, (size_t)(end - p));
		const char *b = c0u != c0 ? memchr(p, c0u,
		    (size_t)((a ? a : end) - p)) : NULL;
		const char *hit = b ? b : a;

		if (hit == NULL)
			return NULL;
		for (k = 1; k < nl; k++)
			if (bounce_text_lower((unsigned char)hit[k]) !=
			    bounce_text_lower((unsigned char)needle[k]))
				break;
		if (k == nl)
			return hit;
		p = hit + 1;
	}
	return NULL;
}

static size_t
bounce_text_lines(const char *text, size_t len, struct line *lines,
    size_t max)
{
	size_t pos = 0, n = 0;

	while (pos < len && n < max) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lines[n].p = text + pos;
		lines[n].len = (l > 0 && text[pos + l - 1] == '\r') ? l - 1 : l;
		n++;
		pos += l + 1;
	}
	return n;
}

static void
bounce_text_trim(const char **p, size_t *len)
{
	while (*len > 0 && ((unsigned char)**p <= ' '))
		(*p)++, (*len)--;
	while (*len > 0 && ((unsigned char)(*p)[*len - 1] <= ' '))
		(*len)--;
}

/* ---- where the original message starts -------------------------------- */

static const char *const cut_phrases[] = {
	"original message follows",
	"original mail as follows",
	"unsent message follows",
	"returned mail follows",
	"returned message follows",
	"copy of the message",
	"copy of your message",
	"copy of the original message",
	"message headers follow",
	"header of the original message",
	"headers of the original message",
	"original message header",
	"original message's header",
	"original message text",
	"rfc822 message",
	"content-type: message/rfc822",
	"content-type: text/rfc822-headers",
	"message/rfc822",
	"text of the original message",
	"--- original message ---",
	"----- original message -----",
	"-----original message-----",
	"original message:",
	"--- the message follows",
};

/* Header fields that only a copied original message starts with. */
static const char *const cut_fields[] = {
	"received: ", "return-path:", "dkim-signature:", "arc-seal:",
	"x-received:", "authentication-results:", "domainkey-signature:",
	"x-google-dkim-signature:", "x-gm-message-state:",
};

static const char *const boiler[] = {
	"this message was created automatically",
	"this is an automatically generated",
	"this is the mail system at host",
	"this is the qmail-send program",
	"i'm afraid i wasn't able to deliver",
	"i'm sorry to have to inform you",
	"a message that you sent could not be delivered",
	"message could not be delivered to one or more",
	"recipients. this is a permanent error",
	"its recipients. this is a permanent",
	"the following address(es) failed",
	"for further assistance, please",
	"if you do so, please include",
	"you can delete your own text",
	"please contact your system administrator",
	"the mail system",
	"transcript of session follows",
	"the following addresses had",
	"non-delivered information",
	"this is a mime-encapsulated message",
	"this is a multi-part message",
	"--",
};

/* SMTP commands a report names, and how remote hosts are introduced. */
static struct { struct bounce_needle pat; const char *cmd; } cmds[] = {
	{ { "rcpt to", 0, 0 }, "RCPT" },
	{ { "rcpt command", 0, 0 }, "RCPT" },
	{ { "rcpt response", 0, 0 }, "RCPT" },
	{ { "our rcpt", 0, 0 }, "RCPT" },
	{ { "reply to rcpt", 0, 0 }, "RCPT" },
	{ { "does not like recipient", 0, 0 }, "RCPT" },
	{ { "rcpt_to", 0, 0 }, "RCPT" },
	{ { "smtp:rcpt", 0, 0 }, "RCPT" },
	{ { "mail from", 0, 0 }, "MAIL" },
	{ { "mail command", 0, 0 }, "MAIL" },
	{ { "end of data", 0, 0 }, "DATA" },
	{ { "final data", 0, 0 }, "DATA" },
	{ { "data command", 0, 0 }, "DATA" },
	{ { ">>> data", 0, 0 }, "DATA" },
	{ { "after data", 0, 0 }, "DATA" },
	{ { "our data", 0, 0 }, "DATA" },
	{ { "ehlo", 0, 0 }, "EHLO" },
	{ { "helo", 0, 0 }, "EHLO" },
	{ { "greeting", 0, 0 }, "CONN" },
	{ { "initial connection", 0, 0 }, "CONN" },
};

static struct bounce_needle intro[] = {
	{ "remote host ", 0, 0 }, { "host ", 0, 0 },
	{ "talking to ", 0, 0 }, { "server ", 0, 0 }, { "by ", 0, 0 },
};

#define NBOILER	(sizeof(boiler) / sizeof(boiler[0]))
#define NCUT	(sizeof(cut_phrases) / sizeof(cut_phrases[0]))

static size_t boiler_len[NBOILER], boiler_rare[NBOILER];
static size_t cut_len[NCUT], cut_rare[NCUT];
static pthread_once_t text_once = PTHREAD_ONCE_INIT;

static void
bounce_text_init(void)
{
	size_t i;

	for (i = 0; i < NBOILER; i++) {
		boiler_len[i] = strlen(boiler[i]);
		boiler_rare[i] = bounce_rules_rare_index(boiler[i],
		    boiler_len[i]);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		bounce_rules_needle_init(&cmds[i].pat);
	for (i = 0; i < sizeof(intro) / sizeof(intro[0]); i++)
		bounce_rules_needle_init(&intro[i]);
	for (i = 0; i < NCUT; i++) {
		cut_len[i] = strlen(cut_phrases[i]);
		cut_rare[i] = bounce_rules_rare_index(cut_phrases[i],
		    cut_len[i]);
	}
}

size_t
bounce_text_cut(const char *text, size_t len)
{
	size_t pos = 0, i, seen = 0, best = len;

	/*
	 * Marker phrases: search a lower-cased copy of the text once per
	 * phrase; a hit counts on a short line only (a marker is a line of
	 * its own).  Markers sit in the first CUT_SCAN bytes.
	 */
	{
		static __thread char low[CUT_SCAN];
		size_t ll = len < CUT_SCAN ? len : CUT_SCAN;

		for (i = 0; i < ll; i++)
			low[i] = (char)bounce_text_lower((unsigned char)text[i]);
		pthread_once(&text_once, bounce_text_init);
		for (i = 0; i < NCUT; i++) {
			size_t pl = cut_len[i], from = 0;
			const char *hit;

			while (from < ll && from < best &&
			    (hit = bounce_rules_find_at(low + from, ll - from,
			    cut_phrases[i], pl, cut_rare[i])) != NULL) {
				size_t at = (size_t)(hit - low), ls = at, le = at;

				if (at >= best)
					break;
				while (ls > 0 && text[ls - 1] != '\n')
					ls--;
				while (le < len && text[le] != '\n')
					le++;
				if (le - ls < 130) {
					best = ls;
					break;
				}
				from = at + 1;
			}
		}
	}
	/* or the first header field of a copied message, after some text */
	while (pos < best) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *p = text + pos;
		size_t tl = l;

		bounce_text_trim(&p, &tl);
		if (seen > 0 && l > 0 && text[pos] != ' ' && text[pos] != '\t') {
			for (i = 0; i < sizeof(cut_fields) /
			    sizeof(cut_fields[0]); i++) {
				size_t fl = strlen(cut_fields[i]);

				if (l >= fl && strncasecmp(text + pos,
				    cut_fields[i], fl) == 0)
					return pos;
			}
		}
		if (tl > 0)
			seen++;
		pos += l + 1;
	}
	return best;
}

/* ---- addresses -------------------------------------------------------- */

static bool
bounce_text_local_char(unsigned char c)
{
	if (c >= 0x80)
		return true;	/* RFC 6531 UTF-8 local parts */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	/* '/' is legal (RFC 5322 atext) but in reports it separates paths */
	return strchr(".!#$%&'*+=?^_`{|}~-", c) != NULL && c != '\0';
}

/*
 * Domain characters in free text: ASCII only.  UTF-8 domains exist
 * (RFC 6531) but in reports written in other scripts the byte after an
 * address is far more often a non-Latin comma or quote than an IDN label.
 */
static bool
bounce_text_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/*
 * Find the next address at or after *pos in s; on success set *start and
 * *alen and advance *pos past it.
 */
static bool
bounce_text_next_addr(const char *s, size_t len, size_t *pos, size_t *start,
    size_t *alen)
{
	size_t i;

	for (i = *pos; i < len; i++) {
		size_t l, r;
		bool dot = false;

		if (s[i] != '@')
			continue;
		l = i;
		while (l > 0 && bounce_text_local_char((unsigned char)s[l - 1]) &&
		    i - l < 64)
			l--;
		/* a local part does not start or end with '.' (RFC 5322 3.4.1) */
		while (l < i && (s[l] == '.' || s[l] == '\'' || s[l] == '/' ||
		    s[l] == '='))
			l++;
		r = i + 1;
		while (r < len && bounce_text_domain_char((unsigned char)s[r]) &&
		    r - i < 255) {
			if (s[r] == '.')
				dot = true;
			r++;
		}
		while (r > i + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
			r--;
		if (l == i || r == i + 1) {
			continue;
		}
		{
			size_t k;

			dot = false;
			for (k = i + 1; k < r; k++)
				if (s[k] == '.')
					dot = true;
		}
		if (!dot && !(r - i - 1 == 9 && strncasecmp(s + i + 1,
		    "localhost", 9) == 0))
			continue;
		*start = l;
		*alen = r - l;
		*pos = r;
		return true;
	}
	*pos = len;
	return false;
}

bool
bounce_text_first_addr(const char *s, size_t len, char *out, size_t outsz)
{
	size_t pos = 0, st, al;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	if (!bounce_text_next_addr(s, len, &pos, &st, &al))
		return false;
	if (al >= outsz)
		return false;
	memcpy(out, s + st, al);
	out[al] = '\0';
	return true;
}

static bool
bounce_text_skipped(const struct bounce_text_ctx *ctx, const char *a,
    size_t al)
{
	size_t i, at;

	for (i = 0; ctx != NULL && i < ctx->nskip; i++)
		if (ctx->skip[i] != NULL && strlen(ctx->skip[i]) == al &&
		    strncasecmp(ctx->skip[i], a, al) == 0)
			return true;
	for (at = 0; at < al && a[at] != '@'; at++)
		;
	if ((at == 13 && strncasecmp(a, "mailer-daemon", 13) == 0) ||
	    (at == 13 && strncasecmp(a, "double-bounce", 13) == 0))
		return true;
	return false;
}

/* Lines whose addresses are never recipients. */
static bool
bounce_text_line_is_sender(const char *p, size_t l)
{
	static const char *const labels[] = {
		"from:", "reply-to:", "sender:", "return-path:", "message-id:",
		"in-reply-to:", "references:", "envelope-from", "x-sender",
		"mail from", "original-envelope-id", "reporting-mta",
		"received-from-mta",
	};
	size_t i;

	bounce_text_trim(&p, &l);
	if (l == 0 || strchr("frsmiexoFRSMIEXO", p[0]) == NULL)
		return false;	/* no label starts otherwise */
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (l >= strlen(labels[i]) &&
		    strncasecmp(p, labels[i], strlen(labels[i])) == 0)
			return true;
	return false;
}

#define ANCHOR_NONE	0
#define ANCHOR_BLOCK	1	/* the lines after it belong to it */
#define ANCHOR_LINE	2	/* "550 <addr>... reason": one line says it all */

/*
 * Is the address at offset st of the line in "anchor" position: the first
 * thing on the line (after blanks, quotes, '<', '>>>' bullets), right
 * after a short label ("Failed Recipient: ", "Unknown user: "), or in
 * Sendmail's summary form "554 <addr>... reason"?
 */
static int
bounce_text_anchor_pos(const char *p, size_t l, size_t st, size_t alen)
{
	size_t i = 0, colon = SIZE_MAX;

	while (i < st && (p[i] == ' ' || p[i] == '\t'))
		i++;
	/* Sendmail: "NNN <addr>... text" (a status code may follow NNN) */
	if (st >= i + 5 && p[i] >= '2' && p[i] <= '5' &&
	    p[i + 1] >= '0' && p[i + 1] <= '9' && p[i + 2] >= '0' &&
	    p[i + 2] <= '9' && p[i + 3] == ' ' && p[st - 1] == '<' &&
	    st + alen + 4 <= l && memcmp(p + st + alen, ">...", 4) == 0)
		return ANCHOR_LINE;
	while (i < st && (p[i] == ' ' || p[i] == '\t' || p[i] == '<' ||
	    p[i] == '"' || p[i] == '\'' || p[i] == '>' || p[i] == '*' ||
	    p[i] == '-' || p[i] == '(' || p[i] == '['))
		i++;
	if (i == st)
		return ANCHOR_BLOCK;
	/* a label: words ending in ':' within 48 bytes, no digits */
	for (size_t k = i; k < st; k++) {
		if (p[k] == ':') {
			colon = k;
			break;
		}
		if (p[k] >= '0' && p[k] <= '9')
			return ANCHOR_NONE;
	}
	if (colon == SIZE_MAX || colon - i > 48)
		return ANCHOR_NONE;
	for (size_t k = colon + 1; k < st; k++)
		if (!(p[k] == ' ' || p[k] == '\t' || p[k] == '<' ||
		    p[k] == '"'))
			return ANCHOR_NONE;
	{
		/* "MAIL FROM:" and friends label the sender */
		const char *lab = p + i;
		size_t ll = colon - i;

		if (bounce_text_find(lab, ll, "from") ||
		    bounce_text_find(lab, ll, "sender") ||
		    bounce_text_find(lab, ll, "reply"))
			return ANCHOR_NONE;
	}
	return ANCHOR_BLOCK;
}

/* ---- codes, command, remote ------------------------------------------- */

static bool
bounce_text_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* Status code at s[i] ("5.1.1"): returns its length or 0. */
static size_t
bounce_text_status_at(const char *s, size_t len, size_t i)
{
	size_t j = i, d;

	if (i > 0 && (bounce_text_isdigit(s[i - 1]) || s[i - 1] == '.' ||
	    (s[i - 1] >= 'a' && s[i - 1] <= 'z') ||
	    (s[i - 1] >= 'A' && s[i - 1] <= 'Z')))
		return 0;
	if (j >= len || (s[j] != '2' && s[j] != '4' && s[j] != '5'))
		return 0;
	j++;
	if (j >= len || s[j] != '.')
		return 0;
	j++;
	for (d = 0; j < len && bounce_text_isdigit(s[j]) && d < 4; j++, d++)
		;
	if (d == 0 || d > 3 || j >= len || s[j] != '.')
		return 0;
	j++;
	for (d = 0; j < len && bounce_text_isdigit(s[j]) && d < 4; j++, d++)
		;
	if (d == 0 || d > 3)
		return 0;
	/* "5.1.1." at the end of a sentence is fine, "5.1.1.2" is not */
	if (j < len && (bounce_text_isdigit(s[j]) || (s[j] == '.' &&
	    j + 1 < len && bounce_text_isdigit(s[j + 1]))))
		return 0;
	return j - i;
}

/* Reply code at s[i] ("550"): 1 if it is one. */
static bool
bounce_text_reply_at(const char *s, size_t len, size_t i)
{
	if (i + 3 > len)
		return false;
	if (s[i] != '2' && s[i] != '4' && s[i] != '5')
		return false;
	if (s[i + 1] < '0' || s[i + 1] > '5' || !bounce_text_isdigit(s[i + 2]))
		return false;
	if (i > 0) {
		char c = s[i - 1];

		if (!(c == ' ' || c == '\t' || c == '\n' || c == '(' ||
		    c == ':' || c == '"' || c == '\'' || c == '<' || c == '>' ||
		    c == '[' || c == ';' || c == ','))
			return false;
	}
	if (i + 3 < len) {
		char c = s[i + 3];

		if (bounce_text_isdigit(c) || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '@' || c == '/')
			return false;
		if (c == '.' && i + 4 < len && bounce_text_isdigit(s[i + 4]))
			return false;
	}
	return true;
}

void
bounce_text_codes(const char *s, size_t len, int *reply, char *status,
    size_t statussz)
{
	size_t i, sl, first_status = SIZE_MAX, first_status_len = 0;
	int first_reply = 0;

	*reply = 0;
	if (statussz)
		status[0] = '\0';
	/* success codes (a transcript's "250 2.1.5 Ok") are not the failure */
	for (i = 0; i < len; i++) {
		if (s[i] != '4' && s[i] != '5')
			continue;
		if (first_status == SIZE_MAX &&
		    (sl = bounce_text_status_at(s, len, i)) > 0) {
			first_status = i;
			first_status_len = sl;
		}
		if (bounce_text_reply_at(s, len, i)) {
			int code = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 +
			    (s[i + 2] - '0');

			/* "550 5.1.1" / "550-5.1.1": code and status together */
			size_t q = i + 4;

			/* 550-'5.2.2 ...' as quoted by some reporters */
			if (q < len && (s[q] == '\'' || s[q] == '"'))
				q++;
			if (q + 1 < len && (s[i + 3] == ' ' || s[i + 3] == '-') &&
			    (sl = bounce_text_status_at(s, len, q)) > 0 &&
			    s[q] == s[i]) {
				*reply = code;
				if (sl < statussz) {
					memcpy(status, s + q, sl);
					status[sl] = '\0';
				}
				return;
			}
			if (first_reply == 0)
				first_reply = code;
		}
	}
	*reply = first_reply;
	if (first_status != SIZE_MAX && first_status_len < statussz) {
		memcpy(status, s + first_status, first_status_len);
		status[first_status_len] = '\0';
	}
}

const char *
bounce_text_command(const char *s, size_t len)
{
	const char *best = "", *hit;
	char low[2048];

	pthread_once(&text_once, bounce_text_init);
	size_t i, bestpos = SIZE_MAX, ll = len < sizeof(low) ? len : sizeof(low);

	for (i = 0; i < ll; i++)
		low[i] = (char)bounce_text_lower((unsigned char)s[i]);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if ((hit = bounce_rules_find_needle(low, ll,
		    &cmds[i].pat)) != NULL &&
		    (size_t)(hit - low) < bestpos) {
			bestpos = (size_t)(hit - low);
			best = cmds[i].cmd;
		}
	}
	return best;
}

static bool
bounce_text_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

void
bounce_text_remote(const char *s, size_t len, char *out, size_t outsz)
{
	size_t i;

	char low[2048];
	size_t ll = len < sizeof(low) ? len : sizeof(low);

	pthread_once(&text_once, bounce_text_init);
	if (outsz == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < ll; i++)
		low[i] = (char)bounce_text_lower((unsigned char)s[i]);
	len = ll;
	for (i = 0; i < sizeof(intro) / sizeof(intro[0]); i++) {
		const char *p = low, *hit;
		size_t left = len;

		while ((hit = bounce_rules_find_needle(p, left,
		    &intro[i])) != NULL) {
			hit = s + (hit - low);
			size_t off = (size_t)(hit - s) + intro[i].len, e = off;
			bool dot = false;

			while (e < len && bounce_text_host_char((unsigned char)s[e])) {
				if (s[e] == '.')
					dot = true;
				e++;
			}
			while (e > off && (s[e - 1] == '.' || s[e - 1] == '-'))
				e--;
			if (dot && e - off >= 4 && e - off < outsz &&
			    (e >= len || s[e] != '@')) {
				memcpy(out, s + off, e - off);
				out[e - off] = '\0';
				return;
			}
			left = len - (size_t)(hit - s) - 1;
			p = low + (hit - s) + 1;
		}
	}
}

/* ---- one-line UTF-8 --------------------------------------------------- */

/*
 * Length of a valid UTF-8 sequence at s, 0 if invalid or a C1 control
 * (U+0080..U+009F, encoded C2 80..C2 9F): those are control characters too.
 */
static size_t
bounce_text_utf8_len(const unsigned char *s, size_t len)
{
	size_t n = utf8_seq_len(s, len);

	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return n;
}

size_t
bounce_text_oneline(const char *s, size_t len, char *out, size_t outsz)
{
	size_t i = 0, o = 0;
	bool space = true;

	if (outsz == 0)
		return 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space && o + 1 < outsz)
				out[o++] = ' ';
			space = true;
			i++;
			continue;
		}
		if (c < 0x80) {		/* printable ASCII: most of the text */
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
			i++;
			space = false;
			continue;
		}
		n = bounce_text_utf8_len((const unsigned char *)s + i, len - i);
		if (n == 0) {
			if (o + 1 >= outsz)
				break;
			out[o++] = '?';
			i++;
			space = false;
			continue;
		}
		if (o + n >= outsz)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
		space = false;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

/* ---- boilerplate ------------------------------------------------------ */


static bool
bounce_text_is_boiler(const char *p, size_t l)
{
	char low[256];
	size_t i;

	pthread_once(&text_once, bounce_text_init);

	bounce_text_trim(&p, &l);
	if (l == 0)
		return true;
	if (l > sizeof(low))
		return false;	/* boilerplate lines are short */
	if (l >= 6 && p[0] == '-' && p[1] == '-' &&
	    memmem(p, l, "------", 6) != NULL)
		return true;
	for (i = 0; i < l; i++)
		low[i] = (char)bounce_text_lower((unsigned char)p[i]);
	for (i = 0; i < NBOILER; i++)
		if (boiler_len[i] > 2 && bounce_rules_find_at(low, l, boiler[i],
		    boiler_len[i], boiler_rare[i]) != NULL)
			return true;
	return false;
}

static size_t
bounce_text_append(char *out, size_t outsz, size_t o, const char *p,
    size_t l)
{
	if (o > 0 && o + 1 < outsz)
		out[o++] = ' ';
	if (l > outsz - 1 - o)
		l = outsz - 1 - o;
	memcpy(out + o, p, l);
	o += l;
	out[o] = '\0';
	return o;
}

size_t
bounce_text_summary(const char *text, size_t len, char *out, size_t outsz)
{
	struct line lines[256];
	size_t n, i, o = 0;
	char tmp[BOUNCE_DIAG_MAX * 2];

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	n = bounce_text_lines(text, len, lines, 256);
	for (i = 0; i < n && o + 1 < sizeof(tmp); i++) {
		const char *p = lines[i].p;
		size_t l = lines[i].len;

		if (bounce_text_is_boiler(p, l))
			continue;
		bounce_text_trim(&p, &l);
		o = bounce_text_append(tmp, sizeof(tmp), o, p, l);
	}
	return bounce_text_oneline(tmp, o, out, outsz);
}

/* ---- recipients ------------------------------------------------------- */

struct anchor {
	size_t	line;
	size_t	st;		/* address offset in the line */
	size_t	alen;
	int	kind;		/* ANCHOR_* */
};

/*
 * The diagnostic of one block: the server's reply lines if there are any
 * ("550 5.1.1 ..." with its continuations), else the block's text.
 */
static bool
bounce_text_line_has_code(const char *p, size_t l)
{
	size_t k;

	for (k = 0; k < l; k++)
		if ((p[k] == '4' || p[k] == '5') &&
		    (bounce_text_reply_at(p, l, k) ||
		    bounce_text_status_at(p, l, k) > 0))
			return true;
	return false;
}

/*
 * The diagnostic of one block.  The whole block (minus boilerplate) tells
 * the SMTP command and the remote host; the diagnostic itself starts at the
 * server's reply when there is one ("550 5.1.1 ..."), with the line that
 * introduces it ("... did not like our RCPT TO:").
 */
static void
bounce_text_block_diag(const struct line *lines, size_t from, size_t to,
    const struct anchor *a, bool first, struct bounce_text_rcpt *r)
{
	char buf[BOUNCE_DIAG_MAX * 2];
	size_t o = 0, i, nstart = 0, focus = 0;
	size_t starts[BLOCK_LINES + 1];
	bool found = false;

	buf[0] = '\0';
	for (i = from; i < to; i++) {
		const char *p = lines[i].p;
		size_t l = lines[i].len;

		if (i == a->line) {
			/* drop the address (and what precedes it) */
			size_t cut = a->st + a->alen;

			while (cut < l && (p[cut] == '>' || p[cut] == ':' ||
			    p[cut] == '"' || p[cut] == ' ' || p[cut] == '.' ||
			    p[cut] == ','))
				cut++;
			p += cut;
			l -= cut;
		}
		if (bounce_text_is_boiler(p, l))
			continue;
		bounce_text_trim(&p, &l);
		if (l == 0)
			continue;
		if (!found && bounce_text_line_has_code(p, l)) {
			found = true;
			focus = nstart;
			/* keep an introducing line that ends with ':' */
			if (nstart > 0 && o > 0 && buf[o - 1] == ':')
				focus = nstart - 1;
		}
		if (nstart < BLOCK_LINES)
			starts[nstart++] = o > 0 ? o + 1 : 0;
		o = bounce_text_append(buf, sizeof(buf), o, p, l);
		if (o + 2 >= sizeof(buf))
			break;
	}
	{
		const char *cmd = bounce_text_command(buf, o);
		size_t cl = strlen(cmd);

		memcpy(r->command, cmd, cl + 1);
	}
	bounce_text_remote(buf, o, r->remote, sizeof(r->remote));
	{
		/*
		 * The context also keeps what the anchor line says before the
		 * address ("You are not a member of this list <addr>").
		 */
		char ctx[BOUNCE_DIAG_MAX * 2];
		const char *ap = lines[a->line].p;
		size_t al = a->st, co = 0;

		/* the first recipient also gets the preamble's own words */
		for (size_t k = 0; first && k < from; k++) {
			const char *pp = lines[k].p;
			size_t pl = lines[k].len;

			if (bounce_text_is_boiler(pp, pl))
				continue;
			bounce_text_trim(&pp, &pl);
			if (pl > 0)
				co = bounce_text_append(ctx, sizeof(ctx), co, pp,
				    pl);
		}
		bounce_text_trim(&ap, &al);
		co = bounce_text_append(ctx, sizeof(ctx), co, ap, al);
		co = bounce_text_append(ctx, sizeof(ctx), co, buf, o);
		bounce_text_oneline(ctx, co, r->context, sizeof(r->context));
	}
	if (found && focus < nstart && starts[focus] <= o)
		bounce_text_oneline(buf + starts[focus], o - starts[focus],
		    r->diag, sizeof(r->diag));
	else
		bounce_text_oneline(buf, o, r->diag, sizeof(r->diag));
}

/*
 * Is line i introduced by the line before it as the sender ("A message
 * sent by\n  <addr>", "From:\n  addr")?
 */
static bool
bounce_text_after_sender_label(const struct line *lines, size_t i)
{
	static const char *const tails[] = { "sent by", "from", "from:",
	    "sender:", "sender" };
	const char *p;
	size_t l, k;

	while (i > 0) {
		i--;
		p = lines[i].p;
		l = lines[i].len;
		bounce_text_trim(&p, &l);
		if (l == 0)
			continue;
		for (k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
			size_t tl = strlen(tails[k]);

			if (l >= tl && strncasecmp(p + l - tl, tails[k], tl) == 0 &&
			    (l == tl || p[l - tl - 1] == ' '))
				return true;
		}
		return false;
	}
	return false;
}

/*
 * The first line before the first recipient that carries a code: some
 * layouts state the error once, above the list of recipients ("Could not
 * be delivered because of\n550 5.1.1 User unknown\nThe following
 * recipients were affected:").
 */
static size_t
bounce_text_preamble_code(const struct line *lines, size_t upto, char *out,
    size_t outsz)
{
	size_t i, k;

	out[0] = '\0';
	for (i = 0; i < upto; i++) {
		const char *p = lines[i].p;
		size_t l = lines[i].len;

		for (k = 0; k < l; k++)
			if ((p[k] == '4' || p[k] == '5') &&
			    (bounce_text_reply_at(p, l, k) ||
			    bounce_text_status_at(p, l, k) > 0))
				break;
		if (k < l) {
			bounce_text_trim(&p, &l);
			return bounce_text_oneline(p, l, out, outsz);
		}
	}
	return 0;
}

size_t
bounce_text_code_line(const char *text, size_t len, char *out, size_t outsz)
{
	static __thread struct line cl_lines[LINES_MAX];
	size_t n = bounce_text_lines(text, len, cl_lines, LINES_MAX);

	if (outsz == 0)
		return 0;
	return bounce_text_preamble_code(cl_lines, n, out, outsz);
}

size_t
bounce_text_scan(const char *text, size_t len,
    const struct bounce_text_ctx *ctx, struct bounce_text_rcpt *out,
    size_t max)
{
	static __thread struct line lines[LINES_MAX];
	struct anchor anchors[BOUNCE_TEXT_RCPTS];
	struct anchor loose[BOUNCE_TEXT_RCPTS];
	size_t nlines, i, na = 0, nl = 0, nout = 0;
	struct anchor *use;
	size_t nuse;
	bool has_rcpt_to;

	nlines = bounce_text_lines(text, len, lines, LINES_MAX);
	for (i = 0; i < nlines; i++) {
		const char *p = lines[i].p;
		size_t l = lines[i].len, pos = 0, st, al;

		if (bounce_text_line_is_sender(p, l) ||
		    bounce_text_after_sender_label(lines, i))
			continue;
		while (bounce_text_next_addr(p, l, &pos, &st, &al)) {
			struct anchor a = { i, st, al, ANCHOR_BLOCK };
			bool dup = false;
			size_t k;
			int kind;

			if (bounce_text_skipped(ctx, p + st, al))
				continue;
			/* the sender's address in "MAIL FROM:<...>" */
			if (st >= 1 && bounce_text_find(p, st, "from") != NULL &&
			    bounce_text_find(p, st, "rcpt") == NULL)
				continue;
			if ((kind = bounce_text_anchor_pos(p, l, st, al)) !=
			    ANCHOR_NONE) {
				a.kind = kind;
				for (k = 0; k < na; k++)
					if (anchors[k].alen == al &&
					    strncasecmp(lines[anchors[k].line].p +
					    anchors[k].st, p + st, al) == 0)
						dup = true;
				if (!dup && na < BOUNCE_TEXT_RCPTS)
					anchors[na++] = a;
			}
			dup = false;
			for (k = 0; k < nl; k++)
				if (loose[k].alen == al &&
				    strncasecmp(lines[loose[k].line].p +
				    loose[k].st, p + st, al) == 0)
					dup = true;
			if (!dup && nl < BOUNCE_TEXT_RCPTS)
				loose[nl++] = a;
		}
	}
	use = na > 0 ? anchors : loose;
	has_rcpt_to = bounce_text_find(text, len, "rcpt to:<") != NULL;
	nuse = na > 0 ? na : nl;
	for (i = 0; i < nuse && nout < max; i++) {
		struct bounce_text_rcpt *r = &out[nout];
		size_t from = use[i].line, to;

		to = i + 1 < nuse ? use[i + 1].line : nlines;
		/* several addresses on one line share the line */
		if (to <= from || use[i].kind == ANCHOR_LINE)
			to = from + 1;
		if (to - from > BLOCK_LINES)
			to = from + BLOCK_LINES;
		memset(r, 0, sizeof(*r));
		if (use[i].alen >= sizeof(r->addr))
			continue;
		memcpy(r->addr, lines[from].p + use[i].st, use[i].alen);
		r->addr[use[i].alen] = '\0';
		bounce_text_block_diag(lines, from, to, &use[i], i == 0, r);
		if (r->command[0] == '\0' && has_rcpt_to) {
			/* a transcript elsewhere: ">>> RCPT To:<addr>" */
			char pat[BOUNCE_ADDR_MAX + 16];
			int n = snprintf(pat, sizeof(pat), "rcpt to:<%s>",
			    r->addr);

			if (n > 0 && (size_t)n < sizeof(pat) &&
			    bounce_text_find(text, len, pat) != NULL)
				memcpy(r->command, "RCPT", 5);
		}
		{
			int reply;
			char st[16], pre[BOUNCE_DIAG_MAX];
			size_t dl = strlen(r->diag), pl;

			bounce_text_codes(r->diag, dl, &reply, st, sizeof(st));
			if (reply == 0 && st[0] == '\0' &&
			    (pl = bounce_text_preamble_code(lines, use[0].line,
			    pre, sizeof(pre))) > 0 &&
			    pl + 1 + dl < sizeof(r->diag)) {
				memmove(r->diag + pl + 1, r->diag, dl + 1);
				memcpy(r->diag, pre, pl);
				r->diag[pl] = dl ? ' ' : '\0';
			}
		}
		nout++;
	}
	return nout;
}
