/*
 * maildir - durable delivery of one message into a Maildir.  See maildir.h.
 *
 * Unique names follow the current Maildir convention
 * "SECONDS.MUSECPPIDQCOUNT.HOST" (as Dovecot and Courier write them): the
 * counter is process-wide and atomic, so two threads never pick the same
 * name; O_EXCL catches anything else (a pid reused across a container
 * restart within the same microsecond) and we simply pick again.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAILDIR_PATH_MAX	4096
#define MAILDIR_ADDR_MAX	900	/* keeps the header line under 998 */
#define MAILDIR_WBUF		65536
#define MAILDIR_NAME_TRIES	10

static atomic_ulong maildir_seq;

static void
maildir_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
maildir_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);	/* truncation is harmless */
	va_end(ap);
}

/* strerror() may share a static buffer between threads; this does not. */
static const char *
maildir_strerror(int e, char *buf, size_t len)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, len);
#else
	if (strerror_r(e, buf, len) != 0)
		(void)snprintf(buf, len, "error %d", e);
	return buf;
#endif
}

/* snprintf into a path buffer; -ENAMETOOLONG on truncation. */
static int
maildir_path(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
maildir_path(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outsz)
		return -ENAMETOOLONG;
	return 0;
}

static int
maildir_fsync_dir(const char *path)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	if (fsync(fd) == -1)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * mkdir path (mode 0700) unless it exists.  When we create it, fsync its
 * parent so the new entry survives a crash before the message does.
 */
static int
maildir_mkdir1(char *path)
{
	char *slash;
	int rc;

	if (mkdir(path, 0700) == -1)
		return errno == EEXIST ? 0 : -errno;
	slash = strrchr(path, '/');
	if (slash == NULL)
		return maildir_fsync_dir(".");
	if (slash == path)
		return maildir_fsync_dir("/");
	*slash = '\0';
	rc = maildir_fsync_dir(path);
	*slash = '/';
	return rc;
}

/* mkdir -p path; path is modified temporarily and restored. */
static int
maildir_mkdirs(char *path)
{
	struct stat st;
	char *p;
	int rc;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		rc = maildir_mkdir1(path);
		*p = '/';
		if (rc != 0)
			return rc;
	}
	return maildir_mkdir1(path);
}

static int
maildir_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write msg with each CRLF turned into LF. */
static int
maildir_write_lf(int fd, const char *msg, size_t len)
{
	char buf[MAILDIR_WBUF];
	size_t i, n = 0;
	int rc;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;	/* drop the CR of a CRLF pair */
		buf[n++] = msg[i];
		if (n == sizeof(buf)) {
			if ((rc = maildir_write_all(fd, buf, n)) != 0)
				return rc;
			n = 0;
		}
	}
	return n ? maildir_write_all(fd, buf, n) : 0;
}

static int
maildir_header_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return i <= MAILDIR_ADDR_MAX;
}

/*
 * The host part of the unique name, with '/' and ':' encoded as the
 * Maildir convention asks (they would break the path or the info suffix).
 */
static void
maildir_host(char *out, size_t outsz)
{
	char host[256];
	size_t i, n = 0;
	int w;

	if (gethostname(host, sizeof(host)) == -1)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && n + 5 < outsz; i++) {
		if (host[i] == '/' || host[i] == ':') {
			w = snprintf(out + n, outsz - n, "\\%03o",
			    (unsigned)(unsigned char)host[i]);
			if (w < 0 || (size_t)w >= outsz - n)
				break;
			n += (size_t)w;
		} else
			out[n++] = host[i];
	}
	out[n] = '\0';
}

int
maildir_deliver(const char *dir, const char *return_path,
    const char *delivered_to, const char *msg, size_t len, char *err,
    size_t errlen)
{
	char path[MAILDIR_PATH_MAX], tmp[MAILDIR_PATH_MAX];
	char newp[MAILDIR_PATH_MAX], name[512], host[128], hdr[2 * 1024];
	char ebuf[128];
	const char *sub[] = { "tmp", "new", "cur" };
	const char *what = "";
	struct timespec ts;
	unsigned long seq;
	size_t i;
	int fd = -1, rc, n, tries, in_new = 0;

	tmp[0] = newp[0] = '\0';
	if (dir == NULL || dir[0] == '\0' || return_path == NULL ||
	    delivered_to == NULL || (msg == NULL && len > 0)) {
		maildir_err(err, errlen, "maildir: bad arguments");
		return -EINVAL;
	}
	if (!maildir_header_ok(return_path) || !maildir_header_ok(delivered_to)) {
		maildir_err(err, errlen, "maildir %s: control character or "
		    "overlong address in envelope", dir);
		return -EINVAL;
	}

	/* dir, then tmp/ new/ cur/ (all three: readers expect cur/). */
	if ((rc = maildir_path(path, sizeof(path), "%s", dir)) != 0 ||
	    (rc = maildir_mkdirs(path)) != 0) {
		what = "create directory";
		goto fail;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((rc = maildir_path(path, sizeof(path), "%s/%s", dir,
		    sub[i])) != 0 || (rc = maildir_mkdir1(path)) != 0) {
			what = "create subdirectory";
			goto fail;
		}
	}

	maildir_host(host, sizeof(host));
	for (tries = 0;; tries++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seq = atomic_fetch_add(&maildir_seq, 1);
		n = snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%lu.%s",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(),
		    seq, host);
		if (n < 0 || (size_t)n >= sizeof(name) ||
		    (rc = maildir_path(tmp, sizeof(tmp), "%s/tmp/%s", dir,
		    name)) != 0 ||
		    (rc = maildir_path(newp, sizeof(newp), "%s/new/%s", dir,
		    name)) != 0) {
			tmp[0] = '\0';
			rc = -ENAMETOOLONG;
			what = "build file name";
			goto fail;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		rc = -errno;
		if (rc != -EEXIST || tries == MAILDIR_NAME_TRIES) {
			tmp[0] = '\0';	/* not ours: do not unlink */
			what = "create file in tmp/";
			goto fail;
		}
	}

	n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: %s\n",
	    return_path, delivered_to);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		rc = -EINVAL;
		what = "format headers";
		goto fail;
	}
	if ((rc = maildir_write_all(fd, hdr, (size_t)n)) != 0 ||
	    (rc = maildir_write_lf(fd, msg, len)) != 0) {
		what = "write";
		goto fail;
	}
	if (fsync(fd) == -1) {
		rc = -errno;
		what = "fsync";
		goto fail;
	}
	rc = close(fd);
	fd = -1;
	if (rc == -1) {
		rc = -errno;
		what = "close";
		goto fail;
	}
	if (rename(tmp, newp) == -1) {
		rc = -errno;
		what = "rename into new/";
		goto fail;
	}
	in_new = 1;
	/* The rename is durable only once new/ itself is on disk. */
	if ((rc = maildir_path(path, sizeof(path), "%s/new", dir)) != 0 ||
	    (rc = maildir_fsync_dir(path)) != 0) {
		what = "fsync new/";
		goto fail;
	}
	return 0;

fail:
	if (fd != -1)
		close(fd);
	/* Leave nothing behind: the caller will retry or bounce. */
	if (in_new)
		(void)unlink(newp);
	else if (tmp[0] != '\0')
		(void)unlink(tmp);
	maildir_err(err, errlen, "maildir %s: %s: %s", dir, what,
	    maildir_strerror(-rc, ebuf, sizeof(ebuf)));
	return rc;
}
