/*
 * maildir - durable delivery of one message into a Maildir.
 *
 * Owns the Maildir protocol (cr.yp.to/proto/maildir.html): write the file
 * under tmp/ with a unique name, fsync it, rename it into new/, fsync new/.
 * Only after that returns 0 may the caller answer 250; a crash at any point
 * leaves either nothing in new/ or the complete message.
 *
 * Line endings: the message arrives with SMTP's CRLF line endings
 * (RFC 5321 2.3.8) and is stored with local LF line endings, as Postfix's
 * local(8)/virtual(8) and Dovecot's LDA do, because Maildir readers (mutt,
 * Dovecot, Courier) expect native Unix text.  Only CRLF pairs are changed;
 * a lone CR or LF is kept as it is.
 *
 * Blocking (mkdir, write, fsync, rename): call it from a worker thread
 * (workq), never from the event loop.  Thread-safe: no shared state except
 * an atomic counter for unique names.
 *
 * Callers: the delivery engine (DEST_MAILDIR destinations).
 */
#ifndef CLEANBOX_MAILDIR_H
#define CLEANBOX_MAILDIR_H

#include <stddef.h>

/*
 * Deliver msg (len bytes, CRLF line endings, already dot-unstuffed) into
 * the Maildir dir, creating dir (and missing parents), dir/tmp, dir/new and
 * dir/cur with mode 0700 when missing.  The stored file starts with
 *   Return-Path: <return_path>
 *   Delivered-To: delivered_to
 * (return_path "" gives "<>", the null sender of RFC 5321 4.5.5).  Both
 * must be free of control characters (no header injection).
 *
 * Returns 0 when the message is durably in new/, or a negative errno value
 * (-EINVAL for bad arguments, -ENOSPC, -EACCES, ...) with a message in err;
 * on failure nothing is left in tmp/ or new/.
 */
int	maildir_deliver(const char *dir, const char *return_path,
	    const char *delivered_to, const char *msg, size_t len, char *err,
	    size_t errlen);

#endif
