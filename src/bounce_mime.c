/*
 * bounce_mime - bounded MIME reader.  See bounce_mime.h.
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "bounce_mime.h"

/* ---- arena ------------------------------------------------------------ */

#define ARENA_CHUNK	(64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t	used;
	size_t	size;
	/* data follows, aligned by the struct's size */
	max_align_t data[];
};

void *
bounce_mime_alloc(struct bounce_mime_msg *m, size_t n)
{
	struct arena_chunk *c = m->arena;
	size_t need, sz;

	if (n > SIZE_MAX / 2)
		return NULL;
	need = (n + 15) & ~(size_t)15;
	if (c == NULL || c->size - c->used < need) {
		sz = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		if ((c = malloc(sizeof(*c) + sz)) == NULL)
			return NULL;
		c->next = m->arena;
		c->used = 0;
		c->size = sz;
		m->arena = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static char *
bounce_mime_strndup(struct bounce_mime_msg *m, const char *s, size_t n)
{
	char *p = bounce_mime_alloc(m, n + 1);

	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
bounce_mime_free(struct bounce_mime_msg *m)
{
	struct arena_chunk *c = m->arena, *next;

	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
	m->arena = NULL;
	m->nparts = 0;
	m->hdrs.n = 0;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
bounce_mime_init_once(void)
{
	g_mime_init();
}

void
bounce_mime_init(void)
{
	pthread_once(&gmime_once, bounce_mime_init_once);
}

/* ---- lines and header blocks ----------------------------------------- */

/* Length of the line at p (without its LF and an optional CR before it). */
static size_t
bounce_mime_line(const char *p, size_t len, size_t *next)
{
	const char *nl = memchr(p, '\n', len);
	size_t l;

	if (nl == NULL) {
		*next = len;
		l = len;
	} else {
		*next = (size_t)(nl - p) + 1;
		l = (size_t)(nl - p);
	}
	if (l > 0 && p[l - 1] == '\r')
		l--;
	return l;
}

static bool
bounce_mime_is_field_start(const char *p, size_t l, size_t *namelen)
{
	size_t i;

	for (i = 0; i < l && i < 128; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':') {
			if (i == 0)
				return false;
			*namelen = i;
			return true;
		}
		/* RFC 5322 2.2: field names are printable ASCII but ':' */
		if (c <= ' ' || c >= 0x7f)
			return false;
	}
	return false;
}

int
bounce_mime_parse_headers(struct bounce_mime_msg *m, const char *data,
    size_t len, struct bounce_mime_hdrs *h, size_t *used)
{
	size_t pos = 0, next, l, nl, cap = 0, vlen = 0;
	char *val = NULL, *name = NULL;
	size_t limit = len < BOUNCE_MIME_HEADER_BYTES ? len :
	    BOUNCE_MIME_HEADER_BYTES;
	struct bounce_mime_hdr *v = NULL;
	char vbuf[BOUNCE_MIME_VALUE_MAX + 1];
	int rc = 0;

	h->v = NULL;
	h->n = 0;
	if ((v = bounce_mime_alloc(m, BOUNCE_MIME_HEADERS * sizeof(*v))) ==
	    NULL) {
		rc = -1;
		goto out;
	}
	cap = BOUNCE_MIME_HEADERS;
	h->v = v;

	/* An mbox "From " line before the first field is not a field. */
	if (len >= 5 && memcmp(data, "From ", 5) == 0) {
		(void)bounce_mime_line(data, len, &next);
		pos = next;
	}
	while (pos < limit) {
		const char *p = data + pos;

		l = bounce_mime_line(p, len - pos, &next);
		if (l == 0) {
			pos += next;	/* the blank line ends the block */
			break;
		}
		if ((p[0] == ' ' || p[0] == '\t') && name != NULL) {
			/* folded continuation (RFC 5322 2.2.3) */
			if (vlen < BOUNCE_MIME_VALUE_MAX) {
				size_t take = l;

				if (take > BOUNCE_MIME_VALUE_MAX - vlen)
					take = BOUNCE_MIME_VALUE_MAX - vlen;
				memcpy(vbuf + vlen, p, take);
				vlen += take;
			}
			pos += next;
			continue;
		}
		if (!bounce_mime_is_field_start(p, l, &nl)) {
			if (name == NULL && h->n == 0 && (p[0] == ' ' ||
			    p[0] == '\t')) {
				pos += next;
				continue;
			}
			break;	/* not a header: the body starts here */
		}
		/* flush the previous field */
		if (name != NULL && h->n < cap) {
			while (vlen > 0 && (vbuf[vlen - 1] == ' ' ||
			    vbuf[vlen - 1] == '\t'))
				vlen--;
			if ((val = bounce_mime_strndup(m, vbuf, vlen)) == NULL) {
				rc = -1;
				goto out;
			}
			v[h->n].name = name;
			v[h->n].value = val;
			h->n++;
		}
		if ((name = bounce_mime_strndup(m, p, nl)) == NULL) {
			rc = -1;
			goto out;
		}
		for (size_t i = 0; i < nl; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				name[i] = (char)(name[i] - 'A' + 'a');
		/* the value starts after ':' and leading blanks */
		{
			size_t s = nl + 1;

			while (s < l && (p[s] == ' ' || p[s] == '\t'))
				s++;
			vlen = l - s;
			if (vlen > BOUNCE_MIME_VALUE_MAX)
				vlen = BOUNCE_MIME_VALUE_MAX;
			memcpy(vbuf, p + s, vlen);
		}
		pos += next;
	}
	if (name != NULL && h->n < cap) {
		while (vlen > 0 && (vbuf[vlen - 1] == ' ' ||
		    vbuf[vlen - 1] == '\t'))
			vlen--;
		if ((val = bounce_mime_strndup(m, vbuf, vlen)) == NULL) {
			rc = -1;
			goto out;
		}
		v[h->n].name = name;
		v[h->n].value = val;
		h->n++;
	}
	if (pos > limit && limit < len)
		pos = limit;
out:
	*used = pos;
	return rc;
}

const char *
bounce_mime_hdr_get(const struct bounce_mime_hdrs *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

/* ---- decoding --------------------------------------------------------- */

static bool
bounce_mime_ascii_eq(const char *a, const char *b)
{
	return g_ascii_strcasecmp(a, b) == 0;
}

/* Decode the transfer encoding; returns an arena copy (NUL-terminated). */
static char *
bounce_mime_decode_cte(struct bounce_mime_msg *m, const char *cte,
    const char *body, size_t blen, size_t *olen)
{
	char *out;
	int state = 0;
	guint32 save = 0;
	size_t n;

	if (blen > BOUNCE_MIME_TEXT_MAX * 2) {
		blen = BOUNCE_MIME_TEXT_MAX * 2;
		m->truncated = true;
	}
	if (cte != NULL && g_ascii_strncasecmp(cte, "base64", 6) == 0) {
		if ((out = bounce_mime_alloc(m, blen / 4 * 3 + 8)) == NULL)
			return NULL;
		n = g_mime_encoding_base64_decode_step(
		    (const unsigned char *)body, blen, (unsigned char *)out,
		    &state, &save);
	} else if (cte != NULL &&
	    g_ascii_strncasecmp(cte, "quoted-printable", 16) == 0) {
		if ((out = bounce_mime_alloc(m, blen + 8)) == NULL)
			return NULL;
		n = g_mime_encoding_quoted_decode_step(
		    (const unsigned char *)body, blen, (unsigned char *)out,
		    &state, &save);
	} else {
		if ((out = bounce_mime_alloc(m, blen + 1)) == NULL)
			return NULL;
		memcpy(out, body, blen);
		n = blen;
	}
	if (n > BOUNCE_MIME_TEXT_MAX) {
		n = BOUNCE_MIME_TEXT_MAX;
		m->truncated = true;
	}
	out[n] = '\0';
	*olen = n;
	return out;
}

static bool
bounce_mime_charset_is_utf8(const char *cs)
{
	return cs == NULL || *cs == '\0' || bounce_mime_ascii_eq(cs, "utf-8") ||
	    bounce_mime_ascii_eq(cs, "utf8") ||
	    bounce_mime_ascii_eq(cs, "us-ascii") ||
	    bounce_mime_ascii_eq(cs, "ascii");
}

/*
 * Convert text to UTF-8 from charset cs.  Bytes the converter rejects are
 * passed through one at a time (real bounces mislabel charsets, e.g. raw
 * EUC-JP declared as ISO-2022-JP); later output sanitising makes the
 * result valid UTF-8.
 */
static char *
bounce_mime_to_utf8(struct bounce_mime_msg *m, const char *cs, char *text,
    size_t len, size_t *olen)
{
	iconv_t cd;
	char *out, *in = text, *op;
	size_t inleft = len, outcap, outleft;

	if (bounce_mime_charset_is_utf8(cs) || len == 0) {
		*olen = len;
		return text;
	}
	cd = g_mime_iconv_open("UTF-8", g_mime_charset_iconv_name(cs));
	if (cd == (iconv_t)-1) {
		*olen = len;
		return text;
	}
	if (len > (SIZE_MAX - 16) / 4) {
		g_mime_iconv_close(cd);
		*olen = len;
		return text;
	}
	outcap = len * 4 + 16;
	if ((out = bounce_mime_alloc(m, outcap + 1)) == NULL) {
		g_mime_iconv_close(cd);
		return NULL;
	}
	op = out;
	outleft = outcap;
	while (inleft > 0) {
		size_t r = iconv(cd, &in, &inleft, &op, &outleft);

		if (r != (size_t)-1)
			break;
		if (errno == E2BIG || outleft == 0)
			break;
		/* EILSEQ or EINVAL: copy one byte as is and go on */
		*op++ = *in++;
		inleft--;
		outleft--;
		(void)iconv(cd, NULL, NULL, NULL, NULL);
	}
	if (outleft >= 8)
		(void)iconv(cd, NULL, NULL, &op, &outleft);	/* flush shift state */
	g_mime_iconv_close(cd);
	*op = '\0';
	*olen = (size_t)(op - out);
	return out;
}

const char *
bounce_mime_decode_words(struct bounce_mime_msg *m, const char *value)
{
	char *dec, *copy;

	if (value == NULL || strstr(value, "=?") == NULL)
		return value;
	if ((dec = g_mime_utils_header_decode_text(NULL, value)) == NULL)
		return value;
	copy = bounce_mime_strndup(m, dec, strlen(dec));
	g_free(dec);
	return copy ? copy : value;
}

/* Crude but bounded HTML to text: tags out, a few entities, block -> LF. */
static size_t
bounce_mime_strip_html(char *t, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		if (t[i] == '<') {
			size_t j = i + 1;
			bool block;

			while (j < len && t[j] != '>')
				j++;
			block = (j - i >= 3 && (g_ascii_strncasecmp(t + i + 1,
			    "br", 2) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/p", 2) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/div", 4) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/tr", 3) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/li", 3) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/h", 2) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "/td", 3) == 0));
			if (j - i >= 6 && (g_ascii_strncasecmp(t + i + 1,
			    "style", 5) == 0 || g_ascii_strncasecmp(t + i + 1,
			    "script", 6) == 0)) {
				/* skip to the closing tag */
				const char *end = g_strstr_len(t + j,
				    (gssize)(len - j), "</");

				j = end ? (size_t)(end - t) : len;
				while (j < len && t[j] != '>')
					j++;
			}
			i = j < len ? j + 1 : len;
			t[o++] = block ? '\n' : ' ';
			continue;
		}
		if (t[i] == '&') {
			static const struct { const char *e; char c; } ent[] = {
				{ "&nbsp;", ' ' }, { "&lt;", '<' }, { "&gt;", '>' },
				{ "&amp;", '&' }, { "&quot;", '"' }, { "&#39;", '\'' },
				{ "&apos;", '\'' },
			};
			size_t k;

			for (k = 0; k < sizeof(ent) / sizeof(ent[0]); k++) {
				size_t el = strlen(ent[k].e);

				if (len - i >= el && g_ascii_strncasecmp(t + i,
				    ent[k].e, el) == 0) {
					t[o++] = ent[k].c;
					i += el;
					break;
				}
			}
			if (k < sizeof(ent) / sizeof(ent[0]))
				continue;
		}
		t[o++] = t[i++];
	}
	t[o] = '\0';
	return o;
}

/* ---- the part walk ---------------------------------------------------- */

struct walk_ctx {
	struct bounce_mime_msg *m;
	int	rc;
};

/*
 * Copy one parameter value (token or quoted-string, RFC 2045 5.1) that
 * starts at v into out, lower-casing it if asked.
 */
static void
bounce_mime_param_value(const char *v, char *out, size_t outsz, bool lower)
{
	size_t o = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '"') {
		for (v++; *v && *v != '"' && o + 1 < outsz; v++) {
			if (*v == '\\' && v[1] != '\0')
				v++;
			out[o++] = lower ? g_ascii_tolower(*v) : *v;
		}
	} else {
		for (; *v && *v != ';' && *v != ' ' && *v != '\t' &&
		    o + 1 < outsz; v++)
			out[o++] = lower ? g_ascii_tolower(*v) : *v;
	}
	out[o] = '\0';
	/* a value cut short is no value: a truncated boundary never matches */
	if (o + 1 >= outsz)
		out[0] = '\0';
}

/*
 * Content-Type (RFC 2045 5.1): type "/" subtype *(";" parameter).  Only
 * three parameters matter here, so this small reader replaces a full
 * GMimeContentType (which costs tens of thousands of instructions per
 * part in object setup).  RFC 2231 continuations of a boundary are not
 * supported; such a part is read as text, which is the safe failure.
 */
static void
bounce_mime_ctype(const char *value, char *type, size_t typesz,
    char *boundary, size_t bsz, char *charset, size_t csz, char *rtype,
    size_t rsz)
{
	const char *p;
	size_t o = 0;

	type[0] = boundary[0] = charset[0] = '\0';
	if (rtype)
		rtype[0] = '\0';
	if (value == NULL)
		return;
	p = value;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p && *p != ';' && *p != ' ' && *p != '\t' && o + 1 < typesz)
		type[o++] = g_ascii_tolower(*p++);
	type[o] = '\0';
	if (strchr(type, '/') == NULL)
		type[0] = '\0';
	while ((p = strchr(p, ';')) != NULL) {
		const char *name;
		size_t nl;

		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		name = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		if (*p != '=')
			continue;
		nl = (size_t)(p - name);
		while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
			nl--;
		p++;
		if (nl == 8 && g_ascii_strncasecmp(name, "boundary", 8) == 0)
			bounce_mime_param_value(p, boundary, bsz, false);
		else if (nl == 7 && g_ascii_strncasecmp(name, "charset", 7) == 0)
			bounce_mime_param_value(p, charset, csz, false);
		else if (rtype && nl == 11 &&
		    g_ascii_strncasecmp(name, "report-type", 11) == 0)
			bounce_mime_param_value(p, rtype, rsz, true);
		/* skip a quoted value so a ';' inside it does not split */
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
		}
	}
}

static void bounce_mime_walk(struct walk_ctx *w, const char *body,
    size_t blen, const char *ctval, const char *cte, int depth,
    bool in_attachment, bool digest);

static struct bounce_mime_part *
bounce_mime_new_part(struct walk_ctx *w, const char *type, int depth,
    bool in_att)
{
	struct bounce_mime_part *p;
	size_t tl = strlen(type);

	if (w->m->nparts >= BOUNCE_MIME_PARTS) {
		w->m->truncated = true;
		return NULL;
	}
	p = &w->m->parts[w->m->nparts++];
	memset(p, 0, sizeof(*p));
	if (tl >= sizeof(p->type))
		tl = sizeof(p->type) - 1;
	memcpy(p->type, type, tl);
	p->type[tl] = '\0';
	p->depth = depth;
	p->in_attachment = in_att;
	p->text = "";
	p->body = "";
	return p;
}

static void
bounce_mime_leaf(struct walk_ctx *w, const char *body, size_t blen,
    const char *type, const char *charset, const char *cte, int depth,
    bool in_att)
{
	struct bounce_mime_part *p;
	enum bounce_mime_kind kind;
	char *t;
	size_t tl;

	if (strcmp(type, "text/html") == 0)
		kind = BOUNCE_MIME_HTML;
	else if (strncmp(type, "text/", 5) == 0 && strstr(type,
	    "rfc822-headers") != NULL)
		kind = BOUNCE_MIME_HEADERS_ONLY;
	else if (strncmp(type, "text/", 5) == 0 || type[0] == '\0')
		kind = BOUNCE_MIME_TEXT;
	else if (strstr(type, "delivery-status") != NULL)
		kind = BOUNCE_MIME_DSN;
	else if (strcmp(type, "message/feedback-report") == 0)
		kind = BOUNCE_MIME_ARF;
	else if (strcmp(type, "message/rfc822") == 0 ||
	    strcmp(type, "message/global") == 0 ||
	    strcmp(type, "message/rfc822-headers") == 0 ||
	    strcmp(type, "message/global-headers") == 0 ||
	    strcmp(type, "message/partial") == 0)
		kind = BOUNCE_MIME_HEADERS_ONLY;
	else
		kind = BOUNCE_MIME_OTHER;

	if ((p = bounce_mime_new_part(w, type[0] ? type : "text/plain", depth,
	    in_att)) == NULL)
		return;
	p->kind = kind;
	if (kind == BOUNCE_MIME_OTHER)
		return;
	if ((t = bounce_mime_decode_cte(w->m, cte, body, blen, &tl)) == NULL) {
		w->rc = -1;
		return;
	}
	if (kind == BOUNCE_MIME_HEADERS_ONLY) {
		size_t used;

		if (bounce_mime_parse_headers(w->m, t, tl, &p->inner,
		    &used) < 0)
			w->rc = -1;
		p->body = t;
		p->body_len = tl;
		return;
	}
	if ((t = bounce_mime_to_utf8(w->m, charset, t, tl, &tl)) == NULL) {
		w->rc = -1;
		return;
	}
	if (kind == BOUNCE_MIME_HTML)
		tl = bounce_mime_strip_html(t, tl);
	p->text = t;
	p->text_len = tl;
}

/*
 * Find the next delimiter line "--boundary" at or after pos (RFC 2046
 * 5.1.1: it must start a line).  Returns its offset or blen; *close is set
 * for the closing delimiter "--boundary--".
 */
static size_t
bounce_mime_next_delim(const char *body, size_t blen, size_t pos,
    const char *bnd, size_t bl, bool *close)
{
	while (pos < blen) {
		const char *hit = memmem(body + pos, blen - pos, bnd, bl);
		size_t at;

		if (hit == NULL)
			return blen;
		at = (size_t)(hit - body);
		if (at >= 2 && body[at - 1] == '-' && body[at - 2] == '-' &&
		    (at == 2 || body[at - 3] == '\n')) {
			*close = at + bl + 1 < blen && body[at + bl] == '-' &&
			    body[at + bl + 1] == '-';
			return at - 2;
		}
		pos = at + 1;
	}
	return blen;
}

static void
bounce_mime_multipart(struct walk_ctx *w, const char *body, size_t blen,
    const char *boundary, int depth, bool in_att, bool digest)
{
	size_t bl = strlen(boundary), pos, start, next;
	bool close = false;

	pos = bounce_mime_next_delim(body, blen, 0, boundary, bl, &close);
	if (pos >= blen) {
		/* broken MIME: no delimiter at all; read it as text */
		bounce_mime_leaf(w, body, blen, "text/plain", "", NULL, depth,
		    in_att);
		return;
	}
	while (pos < blen && !close && w->rc == 0) {
		struct bounce_mime_hdrs ph;
		size_t used, plen;
		const char *pct, *pcte;

		(void)bounce_mime_line(body + pos, blen - pos, &next);
		start = pos + next;
		pos = bounce_mime_next_delim(body, blen, start, boundary, bl,
		    &close);
		plen = pos - start;
		/* the CRLF before a delimiter belongs to the delimiter */
		if (pos < blen && plen > 0 && body[start + plen - 1] == '\n')
			plen--;
		if (pos < blen && plen > 0 && body[start + plen - 1] == '\r')
			plen--;
		if (w->m->nparts >= BOUNCE_MIME_PARTS) {
			w->m->truncated = true;
			return;
		}
		if (bounce_mime_parse_headers(w->m, body + start, plen, &ph,
		    &used) < 0) {
			w->rc = -1;
			return;
		}
		pct = bounce_mime_hdr_get(&ph, "content-type");
		pcte = bounce_mime_hdr_get(&ph, "content-transfer-encoding");
		if (pct == NULL && digest)
			pct = "message/rfc822";
		bounce_mime_walk(w, body + start + used, plen - used, pct, pcte,
		    depth + 1, in_att, false);
	}
}

static void
bounce_mime_walk(struct walk_ctx *w, const char *body, size_t blen,
    const char *ctval, const char *cte, int depth, bool in_att,
    bool digest)
{
	char type[64], boundary[80], charset[48];

	(void)digest;
	if (depth > BOUNCE_MIME_DEPTH) {
		w->m->truncated = true;
		return;
	}
	bounce_mime_ctype(ctval, type, sizeof(type), boundary,
	    sizeof(boundary), charset, sizeof(charset), NULL, 0);
	if (strlen(type) > 10 && memcmp(type, "multipart/", 10) == 0) {
		if (boundary[0] == '\0') {
			bounce_mime_leaf(w, body, blen, "text/plain", charset,
			    cte, depth, in_att);
			return;
		}
		bounce_mime_multipart(w, body, blen, boundary, depth, in_att,
		    strcmp(type, "multipart/digest") == 0);
		return;
	}
	bounce_mime_leaf(w, body, blen, type, charset, cte, depth, in_att);
}

int
bounce_mime_parse(const char *data, size_t len, struct bounce_mime_msg *m)
{
	struct walk_ctx w = { m, 0 };
	const char *ct, *cte;
	char boundary[80], charset[48];
	size_t used;

	bounce_mime_init();
	memset(&m->hdrs, 0, sizeof(m->hdrs));
	m->type[0] = m->report_type[0] = '\0';
	m->nparts = 0;
	m->truncated = false;
	m->arena = NULL;
	if (bounce_mime_parse_headers(m, data, len, &m->hdrs, &used) < 0)
		return -1;
	ct = bounce_mime_hdr_get(&m->hdrs, "content-type");
	cte = bounce_mime_hdr_get(&m->hdrs, "content-transfer-encoding");
	bounce_mime_ctype(ct, m->type, sizeof(m->type), boundary,
	    sizeof(boundary), charset, sizeof(charset), m->report_type,
	    sizeof(m->report_type));
	bounce_mime_walk(&w, data + used, len - used, ct, cte, 0, false,
	    false);
	return w.rc;
}
