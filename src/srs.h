/*
 * srs - the Sender Rewriting Scheme: envelope senders of forwarded mail.
 *
 * When the relay forwards a message to a foreign domain, the destination's
 * SPF check (RFC 7208) sees the relay's address with the original sender's
 * domain and may reject it.  SRS rewrites the envelope sender into an
 * address of the relay's own SRS domain that encodes the original, signed,
 * so that a bounce sent to it later can be verified and returned to the
 * original sender.  The scheme follows Shevek's "Sender Rewriting Scheme"
 * paper and libsrs2's behaviour (this is our own code):
 *
 *   SRS0:  alice@example.com
 *          -> SRS0=HHHH=TT=example.com=alice@srs.domain
 *   SRS1:  SRS0=HHHH=TT=example.com=alice@fwd1.example   (already rewritten
 *          by a forwarder before us)
 *          -> SRS1=GGGG=fwd1.example==HHHH=TT=example.com=alice@srs.domain
 *   SRS1 again: SRS1=XXXX=fwd1.example==HHHH=TT=...@fwd2.example
 *          -> SRS1=GGGG=fwd1.example==HHHH=TT=...@srs.domain
 *          (the first forwarder stays; the ones between drop out)
 *
 * TT is the day number (days since the epoch) mod 1024 in two base32
 * characters (RFC 4648 alphabet), so an address ages out after max_age
 * days (default 21) and the timestamp wraps after 1024 days.  HHHH is the
 * HMAC-SHA-256 (OpenSSL) of the lowercased fields (TT, host, local for
 * SRS0; host, rest for SRS1) under the secret, base64 (RFC 4648), first
 * SRS_HASH_LEN characters.  Verification ignores case throughout, as
 * libsrs2 does, because some MTAs fold the case of local parts: the hash is
 * compared without regard to case (which leaves about 20 of its 24 bits).
 *
 * Not rewritten (returned unchanged, SRS_OK): the null sender <> (RFC 5321
 * 4.5.5: bounces are never bounced) and senders already in the SRS domain.
 * The rewritten local part may be longer than RFC 5321's 64 octets; like
 * every SRS implementation we allow that (RFC 5321 4.5.3.1 asks receivers
 * not to impose such limits where they can avoid it).
 *
 * Reversing an address of our domain: SRS0 -> the original sender; SRS1 ->
 * the SRS0 address at the first forwarder, to which the bounce is then
 * delivered.  Bad hash, bad syntax -> SRS_EINVALID; valid but older than
 * max_age -> SRS_EEXPIRED (both 550 5.7.1 at RCPT).
 *
 * Several secrets may be given: the first signs, all verify, so a secret
 * can be rotated without losing the bounces of the last max_age days.
 *
 * Thread safety: a struct srs is immutable after srs_init(); every function
 * is re-entrant.  Callers: the queue manager (forward), the server (RCPT to
 * the SRS domain: reverse), fuzz_srs_reverse.
 */
#ifndef CLEANBOX_SRS_H
#define CLEANBOX_SRS_H

#include <stddef.h>
#include <stdint.h>

#define SRS_HASH_LEN		4	/* base64 characters of the HMAC */
#define SRS_SECRETS_MAX		4
#define SRS_SECRET_MAX		256
#define SRS_DOMAIN_MAX		255
#define SRS_MAX_AGE_DEFAULT	21	/* days */
/* Enough for any rewritten address of sane inputs. */
#define SRS_ADDR_MAX		1024

#define SRS_OK		 0
#define SRS_ENOTSRS	-1	/* not an SRS address (or not of our domain) */
#define SRS_EINVALID	-2	/* bad syntax or hash: forged or mangled */
#define SRS_EEXPIRED	-3	/* hash good, timestamp older than max_age */
#define SRS_ETOOLONG	-4	/* result does not fit the output buffer */
#define SRS_EARG	-5	/* bad argument (no '@', empty secret, ...) */
#define SRS_ECRYPTO	-6	/* OpenSSL failed */
#define SRS_EOFF	-7	/* [srs] domain is empty: SRS is off */

struct srs {
	char	domain[SRS_DOMAIN_MAX + 1];
	char	secret[SRS_SECRETS_MAX][SRS_SECRET_MAX + 1];
	size_t	secret_len[SRS_SECRETS_MAX];
	size_t	nsecrets;
	unsigned max_age;	/* days, 1..1000 */
};

/*
 * Set up s for domain with one signing secret (more with srs_add_secret)
 * and max_age days (0 = SRS_MAX_AGE_DEFAULT).  Returns SRS_OK or SRS_EARG
 * (empty or too long domain or secret, max_age over 1000).
 */
int	srs_init(struct srs *s, const char *domain, const char *secret,
	    unsigned max_age);
/*
 * Set up s from [srs] of a loaded configuration (max_age rounded down to
 * whole days).  SRS_OK, SRS_EOFF (no domain: do not rewrite), or SRS_EARG.
 */
struct config;
int	srs_init_config(struct srs *s, const struct config *cfg);
/* Add a secret accepted for verification only (rotation).  SRS_OK/EARG. */
int	srs_add_secret(struct srs *s, const char *secret);

/*
 * Rewrite the envelope sender (local@domain, no angle brackets; "" for <>)
 * for forwarding, at time now (seconds since the epoch).  Writes the
 * result, NUL-terminated, into out (outsz bytes).  SRS_OK, SRS_EARG
 * (sender without '@'), SRS_ETOOLONG or SRS_ECRYPTO.
 */
int	srs_forward(const struct srs *s, const char *sender, int64_t now,
	    char *out, size_t outsz);

/*
 * Reverse an SRS address of our domain (local@domain, compared without
 * regard to case) at time now.  SRS0 gives the original sender, SRS1 the
 * SRS0 address at the first forwarder.  SRS_OK, SRS_ENOTSRS, SRS_EINVALID,
 * SRS_EEXPIRED, SRS_ETOOLONG or SRS_ECRYPTO; out is "" unless SRS_OK.
 */
int	srs_reverse(const struct srs *s, const char *addr, int64_t now,
	    char *out, size_t outsz);

/* 1 if the local part starts with SRS0 or SRS1 and a separator, else 0. */
int	srs_is_srs(const char *addr);

const char *srs_strerror(int err);

#endif
