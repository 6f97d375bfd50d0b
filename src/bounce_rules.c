/*
 * bounce_rules - text rules and their matcher.  See bounce_rules.h.
 *
 * The table is ordered: the first matching rule wins, so rules that name a
 * precise cause (a full mailbox, a blocklist, an SPF failure) come before
 * the generic ones ("rejected", "not allowed").  The compiled form (pattern
 * split at '*', two bigram keys per pattern for the prefilter) is built
 * once under pthread_once.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bounce_rules.h"

struct bounce_rule {
	enum bounce_reason reason;
	int	tier;
	const char *pat;
};

/* R: ordinary rule; A: beats any status code; L: a local delivery agent's
 * own statement (trusted whatever the SMTP command was); W: generic
 * wording that only counts when the status code says nothing. */
#define R(reason, pat)	{ BOUNCE_##reason, BOUNCE_RULE_NORMAL, pat }
#define A(reason, pat)	{ BOUNCE_##reason, BOUNCE_RULE_DECISIVE, pat }
#define L(reason, pat)	{ BOUNCE_##reason, BOUNCE_RULE_LOCAL, pat }
#define W(reason, pat)	{ BOUNCE_##reason, BOUNCE_RULE_WEAK, pat }

static const struct bounce_rule rules[] = {
	/*
	 * Tier A rules: wording so specific that it beats any status code
	 * (servers often pair a precise sentence with a catch-all or even a
	 * wrong code, e.g. "550 5.1.1 ... has sent to too many recipients
	 * this hour").
	 */
	A(SPEEDING, "too many recipients this hour"),
	A(SPEEDING, "receiving mail at a rate"),
	A(SPEEDING, "receiving mail too quickly"),
	A(FILTERED, "refused due to recipient preferences"),
	A(FILTERED, "only accepting mail from specific email addresses"),
	A(FILTERED, "you have been blocked by the recipient"),
	A(FILTERED, "message rejected due to user rules"),
	A(MAILERERROR, "pipe to |"),
	A(MAILERERROR, "generated during the delivery attempt"),
	A(MAILERERROR, "mail.local"),
	A(MAILERERROR, "maildrop:"),
	A(MAILERERROR, "unknown mailer error"),
	A(NOTACCEPT, "null mx"),
	A(NOTACCEPT, "doesn't receive email"),
	A(NOTACCEPT, "does not receive email"),
	A(HOSTUNKNOWN, "account or domain may not exist"),
	A(NETWORKERROR, "dns error"),
	A(NETWORKERROR, "host not found, try again"),
	A(NETWORKERROR, "name server reply"),
	A(NETWORKERROR, "host name lookup failure"),
	A(NETWORKERROR, "wasn't able to establish an smtp connection"),
	A(NETWORKERROR, "was not able to establish an smtp connection"),
	A(EXPIRED, "did not accept our requests to connect"),
	A(EXPIRED, "message expired"),
	A(EXPIRED, "envelope expired"),
	A(EXPIRED, "delivery time expired"),
	A(EXPIRED, "could not deliver for the last"),
	A(SYSTEMERROR, "unable to contact ldap server"),
	A(SYSTEMERROR, "could not load drd"),
	A(USERUNKNOWN, "recipient address rejected: access denied"),
	A(USERUNKNOWN, "recipient address rejected: user unknown"),
	A(USERUNKNOWN, "recipient address rejected: unknown user"),
	A(USERUNKNOWN, "recipient address rejected: invalid user"),
	A(SUSPEND, "temporary locked"),
	A(SUSPEND, "temporarily locked"),
	A(SUSPEND, "recipient account is blocked"),
	A(SUSPEND, "compte du destinataire est bloque"),
	A(HASMOVED, "has moved to"),
	A(HASMOVED, "mailbox has moved"),
	A(NOTCOMPLIANTRFC, "multiple addresses in from"),
	A(NOTCOMPLIANTRFC, "not rfc 5322 compliant"),
	A(NOTCOMPLIANTRFC, "not rfc5322 compliant"),
	A(NOTCOMPLIANTRFC, "not rfc 2822 compliant"),
	A(NOTCOMPLIANTRFC, "duplicate header"),
	A(NOTCOMPLIANTRFC, "missing a valid address in from"),
	A(NOTCOMPLIANTRFC, "multiple subject headers"),
	A(NOTCOMPLIANTRFC, "multiple from headers"),
	A(NOTCOMPLIANTRFC, "header is missing"),
	A(SPAMDETECTED, "spam classification"),
	A(SECURITYERROR, "unauthenticated senders not allowed"),
	A(NORELAYING, "not configured to relay"),
	A(NORELAYING, "email address is not verified"),
	A(REJECTED, "sender was rejected"),
	A(REJECTED, "purported responsible address"),
	A(REJECTED, "send mail as"),
	A(REJECTED, "address that has been blacklisted"),
	A(REJECTED, "not a member of this mailing list"),
	A(REJECTED, "are not member"),
	A(REJECTED, "may not have permission to post"),
	A(REJECTED, "permission to post messages"),
	A(BLOCKED, "my name was rejected"),
	A(BLOCKED, "refused to talk to me"),
	A(BLOCKED, "invalid ip for sending"),
	A(BLOCKED, "connection refused by"),
	A(BLOCKED, "not accepting connections"),
	A(REQUIREPTR, "mismatches client ip"),
	A(BADREPUTATION, "unexpected volume or user complaints"),
	A(FILTERED, "envelope blocked"),
	A(POLICYVIOLATION, "host network not allowed"),
	A(VIRUSDETECTED, "rejected due to security policies"),

	/* --- the mailbox is full (RFC 3463 X.2.2), several languages --- */
	R(MAILBOXFULL, "mailbox full"),
	R(MAILBOXFULL, "mailbox is full"),
	R(MAILBOXFULL, "mail box full"),
	R(MAILBOXFULL, "mailbox is over quota"),
	R(MAILBOXFULL, "mailbox over quota"),
	R(MAILBOXFULL, "over quota"),
	R(MAILBOXFULL, "overquota"),
	R(MAILBOXFULL, "over its quota"),
	R(MAILBOXFULL, "over the quota"),
	R(MAILBOXFULL, "quota exceeded"),
	R(MAILBOXFULL, "quota exceed"),
	R(MAILBOXFULL, "exceeded*quota"),
	R(MAILBOXFULL, "exceeds*quota"),
	R(MAILBOXFULL, "quota full"),
	R(MAILBOXFULL, "disk quota"),
	R(MAILBOXFULL, "mailbox quota"),
	R(MAILBOXFULL, "mailbox size limit"),
	R(MAILBOXFULL, "mailbox has exceeded"),
	R(MAILBOXFULL, "mailbox exceeded"),
	R(MAILBOXFULL, "mailbox exceeds"),
	R(MAILBOXFULL, "account is full"),
	R(MAILBOXFULL, "inbox is full"),
	R(MAILBOXFULL, "mailfolder is full"),
	R(MAILBOXFULL, "full mailbox"),
	R(MAILBOXFULL, "not enough disk space"),
	R(MAILBOXFULL, "not enough space"),
	R(MAILBOXFULL, "exceeded storage allocation"),
	R(MAILBOXFULL, "storage allocation exceeded"),
	R(MAILBOXFULL, "too much mail data"),
	R(MAILBOXFULL, "space has been used up"),
	R(MAILBOXFULL, "mailbox is overfull"),
	R(MAILBOXFULL, "postfach voll"),
	R(MAILBOXFULL, "postfach ist voll"),
	R(MAILBOXFULL, "boite du destinataire pleine"),
	R(MAILBOXFULL, "boite aux lettres pleine"),
	R(MAILBOXFULL, "buzon lleno"),
	R(MAILBOXFULL, "buz\xc3\xb3n lleno"),				/* es */
	R(MAILBOXFULL, "bo\xc3\xaete aux lettres pleine"),		/* fr */
	R(MAILBOXFULL, "\xd0\xbf\xd0\xb5\xd1\x80\xd0\xb5\xd0\xbf\xd0\xbe\xd0\xbb\xd0\xbd\xd0\xb5\xd0\xbd"),	/* ru "perepolnen" */
	R(MAILBOXFULL, "\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab\xe3\x83\x9c\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9\xe3\x81\x8c\xe4\xb8\x80\xe6\x9d\xaf"),	/* ja "mailbox is full" */
	R(MAILBOXFULL, "casella piena"),

	/* --- message too big for the system (X.3.4) or the mailbox (X.2.3) --- */
	R(MESGTOOBIG, "message too large"),
	R(MESGTOOBIG, "message too big"),
	R(MESGTOOBIG, "message is too large"),
	R(MESGTOOBIG, "message is too big"),
	R(MESGTOOBIG, "message size exceeds"),
	R(MESGTOOBIG, "message size limit"),
	R(MESGTOOBIG, "message length exceeds"),
	R(MESGTOOBIG, "maximum message size"),
	R(MESGTOOBIG, "exceeds the maximum size"),
	R(MESGTOOBIG, "exceeds size limit"),
	R(MESGTOOBIG, "size limit exceeded"),
	R(MESGTOOBIG, "size exceeds the maximum"),
	R(MESGTOOBIG, "mail size exceeds"),
	R(MESGTOOBIG, "message file too big"),
	R(MESGTOOBIG, "larger than the maximum"),
	R(MESGTOOBIG, "too large for this system"),
	R(MESGTOOBIG, "line limit exceeded"),

	/* --- account disabled / suspended --- */
	R(SUSPEND, "account disabled"),
	R(SUSPEND, "account is disabled"),
	R(SUSPEND, "account has been disabled"),
	R(SUSPEND, "mailbox disabled"),
	R(SUSPEND, "mailbox is disabled"),
	R(SUSPEND, "mailbox has been disabled"),
	R(SUSPEND, "account suspended"),
	R(SUSPEND, "account is suspended"),
	R(SUSPEND, "account has been suspended"),
	R(SUSPEND, "account is inactive"),
	R(SUSPEND, "inactive account"),
	R(SUSPEND, "mailbox is inactive"),
	R(SUSPEND, "account is locked"),
	R(SUSPEND, "account has been locked"),
	R(SUSPEND, "mailbox is frozen"),
	R(SUSPEND, "user suspended"),
	R(SUSPEND, "recipient suspended"),
	R(SUSPEND, "service suspended"),

	/* --- moved without forwarding (X.1.6) --- */
	R(HASMOVED, "has been moved"),
	R(HASMOVED, "address has changed"),

	/* --- relaying denied --- */
	R(NORELAYING, "relay access denied"),
	R(NORELAYING, "relaying denied"),
	R(NORELAYING, "relay denied"),
	R(NORELAYING, "relay not permitted"),
	R(NORELAYING, "relaying not permitted"),
	R(NORELAYING, "relay not allowed"),
	R(NORELAYING, "relaying not allowed"),
	R(NORELAYING, "not permitted to relay"),
	R(NORELAYING, "not allowed to relay"),
	R(NORELAYING, "unable to relay"),
	R(NORELAYING, "we do not relay"),
	R(NORELAYING, "relay prohibited"),
	R(NORELAYING, "relaying prohibited"),
	R(NORELAYING, "no relaying"),
	R(NORELAYING, "insecure mail relay"),
	R(NORELAYING, "relaying mail to*is not allowed"),

	/* --- authentication of the sender domain: SPF, DKIM, DMARC --- */
	R(AUTHFAILURE, "dmarc"),
	R(AUTHFAILURE, " spf "),
	R(AUTHFAILURE, " spf:"),
	R(AUTHFAILURE, " spf-"),
	R(AUTHFAILURE, " spf,"),
	R(AUTHFAILURE, "spf check"),
	R(AUTHFAILURE, "spf fail"),
	R(AUTHFAILURE, "spf record"),
	R(AUTHFAILURE, "spf validation"),
	R(AUTHFAILURE, "sender policy framework"),
	R(AUTHFAILURE, "dkim"),
	R(AUTHFAILURE, "unauthenticated email"),
	R(AUTHFAILURE, "sender is unauthenticated"),
	R(AUTHFAILURE, "authentication checks"),
	R(AUTHFAILURE, "does not have authentication information"),
	R(AUTHFAILURE, "multiple authentication checks failed"),

	/* --- sending host has no usable reverse DNS --- */
	R(REQUIREPTR, "reverse dns"),
	R(REQUIREPTR, "reverse lookup"),
	R(REQUIREPTR, "ptr record"),
	R(REQUIREPTR, "cannot find your hostname"),
	R(REQUIREPTR, "cannot find your reverse hostname"),
	R(REQUIREPTR, "ip name lookup failed"),
	R(REQUIREPTR, "no ptr"),
	R(REQUIREPTR, " rdns"),
	R(REQUIREPTR, "reverse hostname"),
	R(REQUIREPTR, "dns ptr"),
	R(REQUIREPTR, "unverifyable sending ip"),
	R(REQUIREPTR, "unverifiable sending ip"),

	/* --- reputation --- */
	R(BADREPUTATION, "poor reputation"),
	R(BADREPUTATION, "bad reputation"),
	R(BADREPUTATION, "low reputation"),
	R(BADREPUTATION, "ip reputation"),
	R(BADREPUTATION, "sender reputation"),

	/* --- rate limits --- */
	R(SPEEDING, "rate limit"),
	R(SPEEDING, "rate-limit"),
	R(SPEEDING, "ratelimit"),
	R(SPEEDING, "too many messages"),
	R(SPEEDING, "sending rate"),
	R(SPEEDING, "message rate"),
	R(SPEEDING, "throttl"),
	R(SPEEDING, "unusual rate"),

	/* --- too many connections or recipients at once --- */
	R(TOOMANYCONN, "too many connections"),
	R(TOOMANYCONN, "too many concurrent"),
	R(TOOMANYCONN, "too many sessions"),
	R(TOOMANYCONN, "too many smtp sessions"),
	R(TOOMANYCONN, "connection limit"),
	R(TOOMANYCONN, "maximum number of connections"),
	R(TOOMANYCONN, "too many recipients"),
	R(TOOMANYCONN, "connection frequency limited"),

	/* --- blocklists, blocked sending host --- */
	R(BLOCKED, "spamhaus"),
	R(BLOCKED, "spamcop"),
	R(BLOCKED, "sorbs"),
	R(BLOCKED, "barracuda"),
	R(BLOCKED, "blacklist"),
	R(BLOCKED, "black list"),
	R(BLOCKED, "blocklist"),
	R(BLOCKED, "block list"),
	R(BLOCKED, "dnsbl"),
	R(BLOCKED, " rbl"),
	R(BLOCKED, "blocked using"),
	R(BLOCKED, "client host*blocked"),
	R(BLOCKED, "client host rejected"),
	R(BLOCKED, "is listed in"),
	R(BLOCKED, "are listed in"),
	R(BLOCKED, "listed at"),
	R(BLOCKED, "listed on"),
	R(BLOCKED, "banned sending ip"),
	R(BLOCKED, "dynamic ip"),
	R(BLOCKED, "dialup"),
	R(BLOCKED, "dial-up"),
	R(BLOCKED, "smtp server of your isp"),
	R(BLOCKED, "connection rejected"),
	R(BLOCKED, "ip address*blocked"),
	R(BLOCKED, "adresse ip source bloquee"),
	R(BLOCKED, "ip has been blocked"),
	R(BLOCKED, "ip address has been blocked"),
	R(BLOCKED, "open relay"),

	/* --- the recipient does not exist --- */
	L(USERUNKNOWN, "not listed in domino directory"),
	L(USERUNKNOWN, "not listed in public name & address book"),
	L(USERUNKNOWN, "recipient name is not recognized"),
	L(USERUNKNOWN, "invalid final delivery userid"),
	L(USERUNKNOWN, "address couldn't be found"),
	L(USERUNKNOWN, "no valid recipients"),
	L(USERUNKNOWN, "no mailbox here by that name"),
	L(USERUNKNOWN, "unknown user:"),
	L(USERUNKNOWN, "requested action not taken: mailbox unavailable"),
	L(USERUNKNOWN, "delivery error: dd"),
	L(USERUNKNOWN, "resolver.adr.recipientnotfound"),
	R(USERUNKNOWN, "user unknown"),
	R(USERUNKNOWN, "unknown user"),
	R(USERUNKNOWN, "user is unknown"),
	R(USERUNKNOWN, "no such user"),
	R(USERUNKNOWN, "no such mailbox"),
	R(USERUNKNOWN, "no such recipient"),
	R(USERUNKNOWN, "no such address"),
	R(USERUNKNOWN, "no such account"),
	R(USERUNKNOWN, "unknown recipient"),
	R(USERUNKNOWN, "recipient unknown"),
	R(USERUNKNOWN, "unknown mailbox"),
	R(USERUNKNOWN, "mailbox unknown"),
	R(USERUNKNOWN, "unknown address"),
	R(USERUNKNOWN, "address unknown"),
	R(USERUNKNOWN, "addressee unknown"),
	R(USERUNKNOWN, "unknown local part"),
	R(USERUNKNOWN, "recipient not found"),
	R(USERUNKNOWN, "user not found"),
	R(USERUNKNOWN, "mailbox not found"),
	R(USERUNKNOWN, "address not found"),
	R(USERUNKNOWN, "recipient does not exist"),
	R(USERUNKNOWN, "user does not exist"),
	R(USERUNKNOWN, "user doesn't exist"),
	R(USERUNKNOWN, "mailbox does not exist"),
	R(USERUNKNOWN, "address does not exist"),
	R(USERUNKNOWN, "account does not exist"),
	R(USERUNKNOWN, "account that you tried to reach does not exist"),
	R(USERUNKNOWN, "doesn't have a*account"),
	R(USERUNKNOWN, "invalid recipient"),
	R(USERUNKNOWN, "invalid mailbox"),
	R(USERUNKNOWN, "not a valid mailbox"),
	R(USERUNKNOWN, "mailbox unavailable"),
	R(USERUNKNOWN, "unknown or illegal alias"),
	R(USERUNKNOWN, "not our customer"),

	/* --- the domain does not exist or takes no mail --- */
	R(NOTACCEPT, "does not accept mail"),
	R(NOTACCEPT, "accepts no mail"),
	R(NOTACCEPT, "no mx found"),
	R(NOTACCEPT, "no mx record"),
	R(NOTACCEPT, "indicated no smtp service"),
	R(NOTACCEPT, "couldn't find a mail exchanger"),
	R(HOSTUNKNOWN, "host unknown"),
	R(HOSTUNKNOWN, "unknown host"),
	R(HOSTUNKNOWN, "host not found"),
	R(HOSTUNKNOWN, "domain not found"),
	R(HOSTUNKNOWN, "host or domain name not found"),
	R(HOSTUNKNOWN, "name or service not known"),
	R(HOSTUNKNOWN, "unrouteable mail domain"),
	R(HOSTUNKNOWN, "unrouteable address"),
	R(HOSTUNKNOWN, "no such domain"),
	R(HOSTUNKNOWN, "domain does not exist"),
	R(HOSTUNKNOWN, "unknown domain"),
	R(HOSTUNKNOWN, "nxdomain"),
	R(HOSTUNKNOWN, "host*not found"),
	R(HOSTUNKNOWN, "domain is not reachable"),
	R(HOSTUNKNOWN, "domain*couldn't be found"),

	/* --- sender address rejected --- */
	R(REJECTED, "sender address rejected"),
	R(REJECTED, "sender rejected"),
	R(REJECTED, "sender verify failed"),
	R(REJECTED, "sender denied"),
	R(REJECTED, "invalid sender"),
	R(REJECTED, "unknown sender"),
	R(REJECTED, "domain of sender address"),
	R(REJECTED, "sender domain"),

	/* --- RFC 5322 format --- */
	R(NOTCOMPLIANTRFC, "rfc 5322"),
	R(NOTCOMPLIANTRFC, "rfc5322"),
	R(NOTCOMPLIANTRFC, "rfc 2822"),
	R(NOTCOMPLIANTRFC, "rfc2822"),

	/* --- viruses and spam --- */
	R(VIRUSDETECTED, "virus"),
	R(VIRUSDETECTED, "malware"),
	R(VIRUSDETECTED, "infected"),
	R(SPAMDETECTED, "spam"),
	R(SPAMDETECTED, "unsolicited"),
	R(SPAMDETECTED, "junk mail"),
	R(SPAMDETECTED, " ube,"),
	R(SPAMDETECTED, " ube "),
	R(SPAMDETECTED, "message content rejected"),

	/* --- content --- */
	R(CONTENTERROR, "improper use of 8-bit data"),
	R(CONTENTERROR, "8-bit data"),
	R(CONTENTERROR, "invalid mime"),

	/* --- policy --- */
	R(POLICYVIOLATION, "policy violation"),
	R(POLICYVIOLATION, "protocol violation"),
	R(POLICYVIOLATION, "policy reasons"),
	R(POLICYVIOLATION, "violates"),
	R(POLICYVIOLATION, "violation of"),
	R(POLICYVIOLATION, "header error"),
	R(POLICYVIOLATION, "local policy"),

	/* --- TLS --- */
	R(FAILEDSTARTTLS, "starttls"),
	R(FAILEDSTARTTLS, "tls is required"),
	R(FAILEDSTARTTLS, "tls required"),
	R(FAILEDSTARTTLS, "tls negotiation failed"),

	/* --- security --- */
	R(SECURITYERROR, "authentication required"),
	R(SECURITYERROR, "must authenticate"),
	R(SECURITYERROR, "authentication failed"),
	R(SECURITYERROR, "smtp authentication"),

	/* --- network --- */
	R(NETWORKERROR, "connection refused"),
	R(EXPIRED, "connection timed out"),
	R(EXPIRED, "timed out"),
	R(NETWORKERROR, "network is unreachable"),
	R(NETWORKERROR, "no route to host"),
	R(NETWORKERROR, "lost connection"),
	R(NETWORKERROR, "connection reset"),
	R(NETWORKERROR, "could not connect"),
	R(NETWORKERROR, "unable to connect"),
	R(NETWORKERROR, "loops back to myself"),
	R(NETWORKERROR, "too many hops"),
	R(NETWORKERROR, "routing loop"),
	R(NETWORKERROR, "mail loop"),

	/* --- systems --- */
	R(SYSTEMFULL, "insufficient system storage"),
	R(SYSTEMFULL, "insufficient disk space"),
	R(SYSTEMFULL, "no space left on device"),
	R(SYSTEMFULL, "disk full"),
	R(MAILERERROR, "operating system error"),
	R(SYSTEMERROR, "system error"),
	R(SYSTEMERROR, "internal error"),
	R(SYSTEMERROR, "local error"),
	R(SYSTEMERROR, "server error"),
	R(SYSTEMERROR, "configuration error"),
	R(SYSTEMERROR, "transaction failed"),
	R(SYSTEMERROR, "service currently unavailable"),
	R(SYSTEMERROR, "insufficient permission"),
	R(SYSTEMERROR, "queue file write error"),
	R(SYSTEMERROR, "duplicated message-id"),

	/* --- delivery gave up after retries --- */
	R(EXPIRED, "retry time not reached"),
	R(EXPIRED, "retry timeout exceeded"),
	R(EXPIRED, "have been failing for a long time"),
	R(EXPIRED, "cannot send message for"),
	R(EXPIRED, "could not be delivered within"),
	R(EXPIRED, "delivery failed*attempts"),
	R(EXPIRED, "queue lifetime"),
	R(EXPIRED, "host not reachable"),

	/* --- mail protocol --- */
	R(SYNTAXERROR, "syntax error"),
	R(SYNTAXERROR, "malformed address"),
	R(SYNTAXERROR, "command unrecognized"),
	R(SYNTAXERROR, "command not recognized"),
	R(SYNTAXERROR, "unrecognized command"),
	R(SYNTAXERROR, "bad sequence of commands"),
	R(SYNTAXERROR, "improper sequence of commands"),
	R(SYNTAXERROR, "not implemented"),

	/* --- local delivery program --- */
	R(MAILERERROR, "mailer error"),
	R(MAILERERROR, "exited with"),
	R(MAILERERROR, "exit status"),
	R(MAILERERROR, "command died"),

	/* --- recipient-side filters (generic wording last) --- */
	R(FILTERED, "filtered"),
	R(FILTERED, "refused by recipient"),
	R(FILTERED, "rejected by recipient"),
	R(FILTERED, "rejected by a remote mail server"),

	/* --- generic wording: only when the status code says nothing --- */
	W(USERUNKNOWN, "recipient address rejected"),
	W(EXPIRED, "in the queue too long"),
	W(EXPIRED, "too long in queue"),
};

#define NRULES	(sizeof(rules) / sizeof(rules[0]))

/* Auto-reply wording (RFC 3834 replies rarely carry a code). */
static const char *const autoreply_pats[] = {
	"out of office", "out of the office", "out-of-office", "on vacation",
	"on holiday", "on leave", "auto-reply", "autoreply", "auto reply",
	"automatic reply", "automatische antwort", "abwesenheit",
	"i am away", "i'm away", "i am currently away", "i will be away",
	"away from the office", "away from my desk", "away from my email",
	"i am out", "i'm out", "i will be out", "currently out",
	"absent du bureau", "je suis absent", "fuera de la oficina",
	"ausencia", "vacation", "vacances", "urlaub",
};

/* "This is a temporary error" and friends (qualifies 5xx-less reports). */
static const char *const temporary_pats[] = {
	"temporary failure", "temporary error", "temporarily", "is temporary",
	"try again later", "please try again", "will be retried",
	"will retry", "will keep trying", "still trying", "deferred",
	"delayed", "has not yet been delivered", "not been delivered yet",
	"will continue to try", "delivery attempts will continue",
};

/*
 * Rough frequency of bytes in mail text (per mille, English letters after
 * lower-casing; everything else rare): searching for the needle's rarest
 * byte makes memchr stop far less often than searching for its first.
 */
static unsigned char
bounce_rules_freq(unsigned char c)
{
	static const unsigned char letters[26] = {
		82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24,
		67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2, 20, 1,
	};

	if (c == ' ')
		return 150;
	if (c >= 'a' && c <= 'z')
		return letters[c - 'a'];
	return 5;
}

/* rarest-byte index of each pattern above, filled by bounce_rules_compile */
static size_t autoreply_rare[sizeof(autoreply_pats) / sizeof(autoreply_pats[0])];
static size_t temporary_rare[sizeof(temporary_pats) / sizeof(temporary_pats[0])];

#define FRAG_MAX	6

struct compiled_rule {
	uint16_t key[2];	/* bigram hashes that must be in the text */
	uint8_t	nkey;
	uint8_t	nfrag;
	uint16_t off[FRAG_MAX];
	uint16_t len[FRAG_MAX];
	uint8_t	rare[FRAG_MAX];	/* index of the fragment's rarest byte */
};

static struct compiled_rule compiled[NRULES];
static pthread_once_t compiled_once = PTHREAD_ONCE_INIT;

#define BIGRAM_BITS	4096

static uint16_t
bounce_rules_key(unsigned char a, unsigned char b)
{
	return (uint16_t)(((unsigned)a * 131u + (unsigned)b) & (BIGRAM_BITS - 1));
}

static void
bounce_rules_compile_one(const char *pat, struct compiled_rule *c)
{
	size_t i, start = 0, plen = strlen(pat), best = 0, bestlen = 0;

	c->nfrag = 0;
	c->nkey = 0;
	for (i = 0; i <= plen; i++) {
		if (i < plen && pat[i] != '*')
			continue;
		if (i > start && c->nfrag < FRAG_MAX) {
			c->off[c->nfrag] = (uint16_t)start;
			c->len[c->nfrag] = (uint16_t)(i - start);
			c->rare[c->nfrag] = (uint8_t)bounce_rules_rare_index(
			    pat + start, i - start);
			if (i - start > bestlen) {
				bestlen = i - start;
				best = c->nfrag;
			}
			c->nfrag++;
		}
		start = i + 1;
	}
	if (bestlen >= 2) {
		const unsigned char *f = (const unsigned char *)pat + c->off[best];

		c->key[c->nkey++] = bounce_rules_key(f[0], f[1]);
		if (bestlen >= 4)
			c->key[c->nkey++] = bounce_rules_key(f[bestlen - 2],
			    f[bestlen - 1]);
	}
}

static void
bounce_rules_compile(void)
{
	size_t i;

	for (i = 0; i < NRULES; i++)
		bounce_rules_compile_one(rules[i].pat, &compiled[i]);
	for (i = 0; i < sizeof(autoreply_pats) / sizeof(autoreply_pats[0]); i++)
		autoreply_rare[i] = bounce_rules_rare_index(autoreply_pats[i],
		    strlen(autoreply_pats[i]));
	for (i = 0; i < sizeof(temporary_pats) / sizeof(temporary_pats[0]); i++)
		temporary_rare[i] = bounce_rules_rare_index(temporary_pats[i],
		    strlen(temporary_pats[i]));
}

/* A token that is only an SMTP code: "550", "550-5.7.1", "5.7.1". */
static bool
bounce_rules_code_token(const char *t, size_t n)
{
	size_t i = 0, dots = 0;

	if (n >= 3 && t[0] >= '2' && t[0] <= '5' && t[1] >= '0' && t[1] <= '9' &&
	    t[2] >= '0' && t[2] <= '9') {
		if (n == 3)
			return true;
		if (t[3] != '-')
			goto status;
		if (n == 4)
			return true;
		i = 4;
	}
status:
	if (i >= n || t[i] < '2' || t[i] > '5')
		return i > 0 && i == n;
	for (; i < n; i++) {
		if (t[i] == '.')
			dots++;
		else if (t[i] < '0' || t[i] > '9')
			return false;
	}
	return dots == 2;
}

/*
 * Drop code-only tokens: a multi-line reply joins as "550-5.7.1 Messages
 * with multiple 550-5.7.1 addresses in From: header", and the codes must
 * not split the words the rules look for.
 */
static size_t
bounce_rules_strip_codes(char *s, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t j;

		if (s[i] == ' ') {
			if (o == 0 || s[o - 1] != ' ')
				s[o++] = ' ';
			i++;
			continue;
		}
		for (j = i; j < n && s[j] != ' '; j++)
			;
		if (!bounce_rules_code_token(s + i, j - i)) {
			memmove(s + o, s + i, j - i);
			o += j - i;
		}
		i = j;
	}
	if (o == 0)
		s[o++] = ' ';
	s[o] = '\0';
	return o;
}

size_t
bounce_rules_normalize(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;
	int space = 1;

	if (outsz < 3) {
		if (outsz)
			out[0] = '\0';
		return 0;
	}
	out[o++] = ' ';
	for (i = 0; in != NULL && i < len && o < outsz - 2; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c == 0x7f) {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		out[o++] = (char)c;
		space = 0;
	}
	if (!space)
		out[o++] = ' ';
	out[o] = '\0';
	return bounce_rules_strip_codes(out, o);
}

void
bounce_rules_needle_init(struct bounce_needle *n)
{
	n->len = strlen(n->str);
	n->rare = bounce_rules_rare_index(n->str, n->len);
}

const char *
bounce_rules_find_needle(const char *hay, size_t hlen,
    const struct bounce_needle *n)
{
	return bounce_rules_find_at(hay, hlen, n->str, n->len, n->rare);
}

const char *
bounce_rules_find(const char *hay, size_t hlen, const char *needle,
    size_t nlen)
{
	return bounce_rules_find_at(hay, hlen, needle, nlen,
	    bounce_rules_rare_index(needle, nlen));
}

size_t
bounce_rules_rare_index(const char *needle, size_t nlen)
{
	size_t k, rare = 0, lim = nlen < 24 ? nlen : 24;

	for (k = 1; k < lim; k++)
		if (bounce_rules_freq((unsigned char)needle[k]) <
		    bounce_rules_freq((unsigned char)needle[rare]))
			rare = k;
	return rare;
}

const char *
bounce_rules_find_at(const char *hay, size_t hlen, const char *needle,
    size_t nlen, size_t rare)
{
	const char *p, *end;

	if (nlen == 0)
		return hay;
	if (nlen > hlen)
		return NULL;
	p = hay + rare;
	end = hay + hlen - nlen + 1 + rare;
	while (p < end) {
		p = memchr(p, needle[rare], (size_t)(end - p));
		if (p == NULL)
			return NULL;
		if (memcmp(p - rare, needle, nlen) == 0)
			return p - rare;
		p++;
	}
	return NULL;
}

static int
bounce_rules_frags(const char *norm, size_t len, const char *pat,
    const struct compiled_rule *c)
{
	size_t pos = 0;
	unsigned i;

	for (i = 0; i < c->nfrag; i++) {
		const char *hit;

		if (pos >= len)
			return 0;
		hit = bounce_rules_find_at(norm + pos, len - pos,
		    pat + c->off[i], c->len[i], c->rare[i]);
		if (hit == NULL)
			return 0;
		pos = (size_t)(hit - norm) + c->len[i];
	}
	return 1;
}

int
bounce_rules_pattern_match(const char *norm, size_t len, const char *pattern)
{
	struct compiled_rule c;

	if (strlen(pattern) > UINT16_MAX)
		return 0;
	bounce_rules_compile_one(pattern, &c);
	return bounce_rules_frags(norm, len, pattern, &c);
}

static void
bounce_rules_bigrams(const char *norm, size_t len, uint8_t *bits)
{
	size_t i;

	memset(bits, 0, BIGRAM_BITS / 8);
	for (i = 0; i + 1 < len; i++) {
		uint16_t k = bounce_rules_key((unsigned char)norm[i],
		    (unsigned char)norm[i + 1]);

		bits[k >> 3] |= (uint8_t)(1u << (k & 7));
	}
}

static int
bounce_rules_try(const char *norm, size_t len, const uint8_t *bits, size_t i)
{
	const struct compiled_rule *c = &compiled[i];
	unsigned k;

	for (k = 0; k < c->nkey; k++)
		if (!(bits[c->key[k] >> 3] & (1u << (c->key[k] & 7))))
			return 0;
	return bounce_rules_frags(norm, len, rules[i].pat, c);
}

/*
 * Provider error codes that carry the cause when the words do not.
 *
 * Orange / La Poste (France) end their replies with a code such as
 * "OFR_506 [506]" or "LPN007_416"; the number after '_' is documented on
 * their postmaster pages.  Cox ends with "AUP#CXBL" and friends (Cox's
 * "email error codes" page).
 */
struct provider_code {
	int	code;
	enum bounce_reason reason;
};

static const struct provider_code orange_codes[] = {
	{ 101, BOUNCE_BLOCKED }, { 102, BOUNCE_BLOCKED },
	{ 103, BOUNCE_BLOCKED }, { 104, BOUNCE_TOOMANYCONN },
	{ 108, BOUNCE_BLOCKED }, { 305, BOUNCE_SECURITYERROR },
	{ 401, BOUNCE_BLOCKED }, { 402, BOUNCE_SECURITYERROR },
	{ 403, BOUNCE_REJECTED }, { 405, BOUNCE_REJECTED },
	{ 415, BOUNCE_REJECTED }, { 416, BOUNCE_USERUNKNOWN },
	{ 417, BOUNCE_MAILBOXFULL }, { 418, BOUNCE_USERUNKNOWN },
	{ 420, BOUNCE_SUSPEND }, { 421, BOUNCE_REJECTED },
	{ 426, BOUNCE_SUSPEND }, { 505, BOUNCE_SYSTEMERROR },
	{ 506, BOUNCE_SPAMDETECTED }, { 510, BOUNCE_BLOCKED },
	{ 514, BOUNCE_MESGTOOBIG }, { 517, BOUNCE_POLICYVIOLATION },
	{ 630, BOUNCE_POLICYVIOLATION }, { 999, BOUNCE_BLOCKED },
};

static const struct { const char *tag; enum bounce_reason reason; }
    cox_codes[] = {
	{ "aup#cxbl", BOUNCE_BLOCKED }, { "aup#cdrbl", BOUNCE_BLOCKED },
	{ "aup#cxdns", BOUNCE_BLOCKED }, { "aup#ipbl", BOUNCE_BLOCKED },
	{ "aup#cxsndr", BOUNCE_REJECTED }, { "aup#cxsmtp", BOUNCE_REJECTED },
	{ "aup#cxcnct", BOUNCE_TOOMANYCONN }, { "aup#cxmxrt", BOUNCE_SPEEDING },
	{ "aup#cxthrt", BOUNCE_SECURITYERROR },
	{ "aup#cxmj", BOUNCE_SECURITYERROR }, { "aup#urlbl", BOUNCE_SPAMDETECTED },
};

static enum bounce_reason
bounce_rules_provider_codes(const char *norm, size_t len)
{
	size_t i, k;

	for (i = 0; i + 7 <= len; i++) {
		size_t j;
		int code = 0, d;

		if (!((norm[i] == 'o' && norm[i + 1] == 'f' &&
		    norm[i + 2] == 'r') || (norm[i] == 'l' &&
		    norm[i + 1] == 'p' && norm[i + 2] == 'n')))
			continue;
		if (i > 0 && norm[i - 1] >= 'a' && norm[i - 1] <= 'z')
			continue;
		for (j = i + 3; j < len && norm[j] >= '0' && norm[j] <= '9' &&
		    j < i + 6; j++)
			;
		if (j >= len || norm[j] != '_')
			continue;
		for (d = 0, j++; j < len && norm[j] >= '0' && norm[j] <= '9' &&
		    d < 4; j++, d++)
			code = code * 10 + (norm[j] - '0');
		if (d != 3)
			continue;
		for (k = 0; k < sizeof(orange_codes) / sizeof(orange_codes[0]);
		    k++)
			if (orange_codes[k].code == code)
				return orange_codes[k].reason;
	}
	if (memmem(norm, len, "aup#", 4) != NULL)
		for (k = 0; k < sizeof(cox_codes) / sizeof(cox_codes[0]); k++)
			if (memmem(norm, len, cox_codes[k].tag,
			    strlen(cox_codes[k].tag)) != NULL)
				return cox_codes[k].reason;
	return BOUNCE_UNDEFINED;
}

enum bounce_reason
bounce_rules_match(const char *norm, size_t len, int *tier,
    const char **which)
{
	uint8_t bits[BIGRAM_BITS / 8];
	size_t i;

	pthread_once(&compiled_once, bounce_rules_compile);
	if (which)
		*which = NULL;
	if (tier)
		*tier = BOUNCE_RULE_NORMAL;
	if (norm == NULL || len == 0)
		return BOUNCE_UNDEFINED;
	{
		enum bounce_reason pr = bounce_rules_provider_codes(norm, len);

		if (pr != BOUNCE_UNDEFINED) {
			if (tier)
				*tier = BOUNCE_RULE_LOCAL;
			if (which)
				*which = "provider code";
			return pr;
		}
	}
	bounce_rules_bigrams(norm, len, bits);
	for (i = 0; i < NRULES; i++) {
		if (bounce_rules_try(norm, len, bits, i)) {
			if (which)
				*which = rules[i].pat;
			if (tier)
				*tier = rules[i].tier;
			return rules[i].reason;
		}
	}
	return BOUNCE_UNDEFINED;
}

int
bounce_rules_match_reason(const char *norm, size_t len, enum bounce_reason r)
{
	uint8_t bits[BIGRAM_BITS / 8];
	size_t i;

	pthread_once(&compiled_once, bounce_rules_compile);
	if (norm == NULL || len == 0)
		return 0;
	bounce_rules_bigrams(norm, len, bits);
	for (i = 0; i < NRULES; i++)
		if (rules[i].reason == r && bounce_rules_try(norm, len, bits, i))
			return 1;
	return 0;
}

static int
bounce_rules_any(const char *norm, size_t len, const char *const *pats,
    const size_t *rare, size_t n)
{
	size_t i;

	pthread_once(&compiled_once, bounce_rules_compile);
	if (norm == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (bounce_rules_find_at(norm, len, pats[i], strlen(pats[i]),
		    rare[i]) != NULL)
			return 1;
	return 0;
}

int
bounce_rules_is_autoreply(const char *norm, size_t len)
{
	return bounce_rules_any(norm, len, autoreply_pats, autoreply_rare,
	    sizeof(autoreply_pats) / sizeof(autoreply_pats[0]));
}

int
bounce_rules_is_greylisting(const char *norm, size_t len)
{
	return norm != NULL && (bounce_rules_find(norm, len, "greylist", 8) ||
	    bounce_rules_find(norm, len, "graylist", 8) ||
	    bounce_rules_find(norm, len, "grey-list", 9) ||
	    bounce_rules_find(norm, len, "gray-list", 9) ||
	    bounce_rules_find(norm, len, "greylisting in action", 21));
}

int
bounce_rules_is_temporary(const char *norm, size_t len)
{
	return bounce_rules_any(norm, len, temporary_pats, temporary_rare,
	    sizeof(temporary_pats) / sizeof(temporary_pats[0]));
}
