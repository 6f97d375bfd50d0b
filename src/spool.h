/*
 * spool - durable message files: the relay's queue on disk.
 *
 * Owns the directory tree under [queue] dir:
 *
 *   DIR/tmp/      files being written; never read by anyone
 *   DIR/queue/    committed messages: ID.msg (data) and ID.env (envelope)
 *   DIR/corrupt/  envelopes that could not be read, moved aside by the scan
 *
 * A message is two files.  ID.msg holds the message bytes exactly as they
 * are to be sent (CRLF line endings, no dot-stuffing) and never changes
 * after it is written.  ID.env holds the envelope and the per-recipient
 * delivery state; it is replaced atomically (write a temporary file, fsync,
 * rename over, fsync the directory) on every update.
 *
 * Invariants:
 *   - ID.env exists in queue/ only if ID.msg does: creation renames the
 *     data first and the envelope last, removal unlinks the envelope first.
 *     The envelope's presence is the commit point.
 *   - spool_message_create() returns 0 only when both files and their
 *     directory entries are on stable storage; only then may the server
 *     answer 250.  On any error nothing is left in queue/.
 *   - A half-written file (crash, full disk) lives in tmp/ or is an ID.msg
 *     without its ID.env: it is never delivered and the scan removes it.
 *
 * Envelope file format (version 1), one field per line, "KEY SP VALUE LF",
 * every line present exactly once and in exactly this order:
 *
 *   CLEANBOX-ENVELOPE 1
 *   id 65f1a2b30a1c4e9d           16 lowercase hex digits
 *   arrival 1710334643            seconds since the epoch
 *   size 1234                     octets in ID.msg (checked on load)
 *   sender alice@example.org      "-" for the null sender <>
 *   body 8bitmime                 7bit | 8bitmime | binarymime
 *   smtputf8 no                   yes | no
 *   ret -                         - | full | hdrs
 *   envid -                       ENVID, xtext-decoded
 *   helo mail.example.org         client's HELO/EHLO argument
 *   client 192.0.2.1              client's IP address
 *   rcpts 2                       number of recipient blocks that follow
 *   then per recipient:
 *   rcpt bob@example.test         the address as accepted
 *   orcpt rfc822;bob@example.test ORCPT, decoded ("-" when absent)
 *   notify failure,delay          - | never | any of success,failure,delay
 *   dest smtp://127.0.0.1:2526    route destination spec
 *   state pending                 pending | delivered | failed
 *   attempts 1
 *   first-attempt 1710334644      0 = never attempted
 *   last-attempt 1710334644
 *   next-attempt 1710334944
 *   dsn-sent -                    DSNs already sent: - | success,failure,delay
 *   first-error CODE STATUS HOST TEXT   "0 - - -" when none
 *   last-error CODE STATUS HOST TEXT
 *   and finally:
 *   end
 *
 * VALUE escaping: bytes 0x21-0x7e other than '%' stand for themselves;
 * every other byte (space, control, '%', 8-bit) is written as %XX with
 * upper-case hex.  The empty string is written "-", and the one-byte string
 * "-" as "%2D".  Numbers are decimal without sign or leading zeros.  The
 * reader accepts exactly what the writer produces (no other escapes, no
 * other spellings), so format(parse(file)) == file for every file that
 * parses.  A file that lacks its final "end" line, has bytes after it, or
 * differs in any way is invalid: a truncated or damaged envelope is never
 * half-read.
 *
 * Thread safety: spool_id_new, spool_message_create, spool_envelope_update,
 * spool_message_remove, spool_message_load and spool_data_open may be
 * called from any number of worker threads at once.  They block (fsync):
 * never call them from the event loop.  Operations on one message ID must
 * be serialised by the caller (one owner per message at a time).
 * spool_scan runs at start-up before the workers start (with min_age 0),
 * or concurrently with a min_age that exceeds the time any create takes.
 *
 * Callers: smtp_server (create, via a worker), the delivery workers
 * (load, update, remove), start-up (scan), admin queue commands, fuzz
 * target fuzz_spool_envelope (parse/format).
 */
#ifndef CLEANBOX_SPOOL_H
#define CLEANBOX_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "smtp_parse.h"

#define SPOOL_ID_LEN		16
#define SPOOL_ID_SIZE		(SPOOL_ID_LEN + 1)

/* Field sizes (octets, excluding the NUL). */
#define SPOOL_ADDR_MAX		(SMTP_LOCAL_MAX * 2 + 3 + 1 + SMTP_DOMAIN_MAX)
#define SPOOL_DEST_MAX		1023	/* route destination spec as written */
#define SPOOL_HOST_MAX		299	/* "mx.example.org[2001:db8::1]:25" */
#define SPOOL_STATUS_MAX	15	/* "5.1.1" */
#define SPOOL_TEXT_MAX		1023	/* reply text; longer is cut */
#define SPOOL_HELO_MAX		SMTP_DOMAIN_MAX
#define SPOOL_IP_MAX		63

#define SPOOL_RCPT_MAX		10000	/* recipients per envelope */
/* Largest envelope file: SPOOL_RCPT_MAX recipients with every field full
 * and every byte escaped stay below this. */
#define SPOOL_ENVELOPE_FILE_MAX	(192u * 1024 * 1024)

/* Error codes (all negative). */
#define SPOOL_OK		 0
#define SPOOL_ELOCAL		-1	/* I/O error, disk full, no memory:
					   temporary; the server says
					   452 4.3.1 */
#define SPOOL_ENOENT		-2	/* no such message */
#define SPOOL_ECORRUPT		-3	/* envelope unreadable / data missing */
#define SPOOL_EINVAL		-4	/* bad argument (caller's bug) */

enum spool_rcpt_state {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_DELIVERED,
	SPOOL_RCPT_FAILED,
};

/* One delivery error: what the remote (or the local side) said. */
struct spool_error {
	int	reply;				/* 200-599; 0 = no SMTP reply */
	char	status[SPOOL_STATUS_MAX + 1];	/* "4.2.2"; "" = none */
	char	host[SPOOL_HOST_MAX + 1];	/* remote host; "" = none */
	char	text[SPOOL_TEXT_MAX + 1];	/* reply text after the code */
};

struct spool_rcpt {
	char	addr[SPOOL_ADDR_MAX + 1];
	char	orcpt[SMTP_ORCPT_MAX + 1];	/* "rfc822;addr" or "" */
	unsigned notify;			/* SMTP_NOTIFY_* bits */
	char	dest[SPOOL_DEST_MAX + 1];
	enum spool_rcpt_state state;
	unsigned attempts;
	time_t	first_attempt;			/* 0 = not yet */
	time_t	last_attempt;
	time_t	next_attempt;
	unsigned dsn_sent;			/* SMTP_NOTIFY_{SUCCESS,FAILURE,
						   DELAY} bits already sent */
	struct spool_error first_error;
	struct spool_error last_error;
};

struct spool_envelope {
	char	id[SPOOL_ID_SIZE];		/* "" until created */
	time_t	arrival;
	size_t	size;				/* octets of data */
	char	sender[SPOOL_ADDR_MAX + 1];	/* "" = null sender <> */
	enum smtp_body body;
	bool	smtputf8;
	enum smtp_ret ret;
	char	envid[SMTP_ENVID_MAX + 1];	/* "" = none */
	char	helo[SPOOL_HELO_MAX + 1];
	char	client_ip[SPOOL_IP_MAX + 1];
	size_t	nrcpt;
	struct spool_rcpt *rcpt;		/* owned; see envelope_free */
	size_t	rcpt_cap;
};

struct spool;

/* spool_scan callback: env is valid during the call only.  Non-zero stops
 * the scan, and spool_scan returns that value. */
typedef int (*spool_scan_fn)(const struct spool_envelope *env, void *arg);

/*
 * Open (creating when missing, mode 0700) DIR and its tmp/, queue/ and
 * corrupt/ subdirectories.  Returns 0 and *out, or SPOOL_ELOCAL (logged).
 */
int	spool_open(const char *dir, struct spool **out);
void	spool_close(struct spool *sp);

/*
 * A fresh queue ID: 8 hex digits of seconds, 5 of a per-process counter
 * that starts at a random value, 3 of random.  Unique within the process
 * up to 2^20 IDs per second; sorting IDs sorts by creation time (to the
 * second).  Also the maillog queue ID.
 */
void	spool_id_new(struct spool *sp, char id[SPOOL_ID_SIZE]);
/* True when s is a well-formed queue ID (16 lowercase hex digits). */
bool	spool_id_valid(const char *s);

/*
 * Store a new message durably.  If env->id is "" a fresh ID is made;
 * otherwise env->id (from spool_id_new) is used.  env->size is set to len.
 * On return 0, the message is committed on stable storage and id_out
 * (may be NULL) holds its ID.  On error nothing is left in the queue:
 * SPOOL_ELOCAL (disk full, EFBIG, EIO, ...: answer 452 4.3.1) or
 * SPOOL_EINVAL (envelope invalid: no recipient, field not terminated).
 */
int	spool_message_create(struct spool *sp, struct spool_envelope *env,
	    const char *data, size_t len, char id_out[SPOOL_ID_SIZE]);

/*
 * Replace the envelope of the existing message env->id atomically: after
 * a crash the file holds either the old or the new envelope, never a mix.
 * Returns 0 when the new envelope is durable, SPOOL_ENOENT when the message
 * is gone, SPOOL_ELOCAL / SPOOL_EINVAL.  After SPOOL_ELOCAL the file holds
 * the old or the new state; the caller keeps its in-memory state and
 * retries later.
 */
int	spool_envelope_update(struct spool *sp, const struct spool_envelope *env);

/* Remove a message (envelope first, then data) durably.  0, SPOOL_ENOENT,
 * SPOOL_EINVAL (bad ID) or SPOOL_ELOCAL. */
int	spool_message_remove(struct spool *sp, const char *id);

/*
 * Read a message.  env is initialised here (release with
 * spool_envelope_free, also after an error).  When data is not NULL the
 * message bytes are appended to it (its max must allow them).  Returns 0,
 * SPOOL_ENOENT, SPOOL_ECORRUPT (envelope invalid, data missing or of the
 * wrong size), SPOOL_EINVAL or SPOOL_ELOCAL.
 */
int	spool_message_load(struct spool *sp, const char *id,
	    struct spool_envelope *env, struct buf *data);

/* Open ID.msg read-only for streaming; returns an fd (caller closes) and
 * its size in *size, or a negative SPOOL_E* code. */
int	spool_data_open(struct spool *sp, const char *id, off_t *size);

/*
 * Recover the queue at start-up.  Removes files in tmp/ and data files
 * without envelope in queue/ whose mtime is at least min_age seconds old
 * (0: all of them).  An envelope that does not parse, whose data file is
 * missing or has the wrong size, is moved to corrupt/ with a log line.
 * Every committed message is passed to cb in ID order (oldest first);
 * *found (may be NULL) gets the number passed.  Returns 0, a negative
 * SPOOL_E* code, or cb's non-zero return value when cb stopped the scan.
 */
int	spool_scan(struct spool *sp, unsigned min_age, spool_scan_fn cb,
	    void *arg, size_t *found);

/* Envelope memory. */
void	spool_envelope_init(struct spool_envelope *env);
void	spool_envelope_free(struct spool_envelope *env);
/* Append a zeroed recipient (state pending); NULL when out of memory or
 * at SPOOL_RCPT_MAX. */
struct spool_rcpt *spool_envelope_add_rcpt(struct spool_envelope *env);
/* Deep copy; 0 or SPOOL_ELOCAL (no memory). dst is initialised here. */
int	spool_envelope_copy(struct spool_envelope *dst,
	    const struct spool_envelope *src);
/* True when no recipient is pending: the message can be removed. */
bool	spool_envelope_done(const struct spool_envelope *env);

/*
 * Fill an error record, cutting text at SPOOL_TEXT_MAX and host at
 * SPOOL_HOST_MAX (the record is diagnostic; a cut is not an error).
 * status, host and text may be NULL.
 */
void	spool_error_set(struct spool_error *e, int reply, const char *status,
	    const char *host, const char *text, size_t text_len);

/*
 * Envelope file format (see above).  format appends the file's bytes to
 * out: 0, SPOOL_EINVAL (a field is not NUL-terminated, a value out of
 * range, no recipients) or SPOOL_ELOCAL (buffer limit / no memory).
 * parse: 0 or SPOOL_ECORRUPT; env is initialised here and must be freed
 * with spool_envelope_free either way.
 */
int	spool_envelope_format(const struct spool_envelope *env, struct buf *out);
int	spool_envelope_parse(const char *in, size_t len,
	    struct spool_envelope *env);

/* Short text for a SPOOL_E* code. */
const char *spool_strerror(int code);

#endif
