/*
 * log - the relay's one log stream (stderr by default), maillog shaped.
 *
 * Lines look like "cleanbox-relay[PID]: LEVEL: text".  Delivery lines use the
 * familiar Postfix shape: "QUEUEID: to=<...>, relay=..., delay=..., dsn=...,
 * status=sent (...)".  Peer-supplied text is sanitised (control bytes become
 * '?') so a client cannot forge log lines.
 */
#ifndef CLEANBOX_LOG_H
#define CLEANBOX_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void	log_set_level(enum log_level lvl);
void	log_msg(enum log_level lvl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/*
 * Copy at most len bytes of peer text into out (size outsz), replacing
 * control and non-printable bytes with '?'; always NUL-terminates.
 */
void	log_sanitize(char *out, size_t outsz, const char *in, size_t len);

#endif
