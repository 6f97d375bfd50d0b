/*
 * smtp_client_test - the outbound session against real servers on loopback:
 * Postfix's smtp-sink (fast, PIPELINING + DSN, scripted 4xx/5xx/drop via
 * -r/-f/-q) and tests/helpers/smtp_test_server.py (aiosmtpd: per-recipient
 * answers, STARTTLS, SIZE, no 8BITMIME, a record of what arrived).  Every
 * test starts its own server on a free 127.0.0.1 port and stops it (SIGTERM
 * + waitpid) before it ends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testnet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "smtp_client.h"

/* --- processes, ports, files --------------------------------------------- */



/* Everything started, so a failed test still stops its servers. */
static pid_t spawned[8];

static void
track(pid_t pid)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (spawned[i] <= 0) {
			spawned[i] = pid;
			return;
		}
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 8; i++)
		if (spawned[i] > 0) {
			kill(spawned[i], SIGTERM);
			waitpid(spawned[i], NULL, 0);
			spawned[i] = -1;
		}
	return 0;
}

/* fork + exec argv; if ready_line, wait for "READY" on its stdout. */
static pid_t
spawn(char *const argv[], bool ready_line)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (ready_line)
		assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 0);
		if (ready_line) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
		} else
			dup2(devnull, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	track(pid);
	if (ready_line) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		char buf[64] = "";
		ssize_t n = 0;

		close(pfd[1]);
		if (poll(&p, 1, 10000) == 1)
			n = read(pfd[0], buf, sizeof(buf) - 1);
		close(pfd[0]);
		if (n <= 0 || strncmp(buf, "READY", 5) != 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
			fail_msg("server %s did not start", argv[1]);
		}
	}
	return pid;
}

static void
stop(pid_t pid)
{
	size_t i;

	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		for (i = 0; i < 8; i++)
			if (spawned[i] == pid)
				spawned[i] = -1;
	}
}

static void
rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Number of files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		    strstr(e->d_name, ".tmp") == NULL)
			n++;
	closedir(d);
	return n;
}

/* Read the first file in dir starting with prefix (or a given name). */
static char *
slurp_first(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];
	char *data = NULL;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		long n;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		f = fopen(p, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		data = calloc(1, (size_t)n + 1);
		assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		break;
	}
	closedir(d);
	assert_non_null(data);
	return data;
}

/* smtp-sink dumps that hold a message (a transaction that saw DATA). */
static int
count_sink_messages(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024], buf[8192];
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		size_t got;

		if (strncmp(e->d_name, "m.", 2) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if ((f = fopen(p, "rb")) == NULL)
			continue;
		got = fread(buf, 1, sizeof(buf) - 1, f);
		buf[got] = '\0';
		fclose(f);
		if (strstr(buf, "\nReceived: ") != NULL)
			n++;
	}
	closedir(d);
	return n;
}

static int
count_substr(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

struct srv {
	pid_t	pid;
	unsigned port;
	char	dir[64];
};

static void
srv_dir(struct srv *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/smtpc_test.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	chmod(s->dir, 0777);	/* smtp-sink writes as nobody */
}

/* smtp-sink with extra flags (NULL-terminated), dumping to s->dir. */
static void
sink_start(struct srv *s, ...)
{
	char *argv[24];
	char listen[64], dump[128];
	int n = 0;
	va_list ap;
	char *a;

	srv_dir(s);
	s->port = testnet_free_port(SOCK_STREAM);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", s->port);
	snprintf(dump, sizeof(dump), "%s/m.", s->dir);
	argv[n++] = "/usr/sbin/smtp-sink";
	if (geteuid() == 0) {
		/* smtp-sink refuses to run as root without -u. */
		argv[n++] = "-u";
		argv[n++] = "nobody";
	}
	argv[n++] = "-d";
	argv[n++] = dump;
	va_start(ap, s);
	while ((a = va_arg(ap, char *)) != NULL && n < 20)
		argv[n++] = a;
	va_end(ap);
	argv[n++] = listen;
	argv[n++] = "64";
	argv[n] = NULL;
	s->pid = spawn(argv, false);
	if (testnet_wait_tcp(s->port, 5000) != 0) {
		stop(s->pid);
		fail_msg("smtp-sink did not start");
	}
}

/* The aiosmtpd helper with extra flags (NULL-terminated). */
static void
py_start(struct srv *s, ...)
{
	char *argv[24];
	char port[16], script[512];
	const char *root = getenv("SOURCE_DIR");
	int n = 0;
	va_list ap;
	char *a;

	srv_dir(s);
	s->port = testnet_free_port(SOCK_STREAM);
	snprintf(port, sizeof(port), "%u", s->port);
	snprintf(script, sizeof(script), "%s/tests/helpers/smtp_test_server.py",
	    root ? root : ".");
	argv[n++] = "/usr/bin/python3";
	argv[n++] = script;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--save-dir";
	argv[n++] = s->dir;
	va_start(ap, s);
	while ((a = va_arg(ap, char *)) != NULL && n < 22)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	s->pid = spawn(argv, true);
}

static void
srv_stop(struct srv *s)
{
	stop(s->pid);
	s->pid = -1;
	rm_rf(s->dir);
}

/* --- client harness --------------------------------------------------- */

struct h {
	struct event_base *base;
	struct event *tick;
	struct smtp_client *c;
	int	ready;
	bool	ready_ok;
	struct smtp_client_reply ready_fail;
	int	closed;
	bool	closed_clean;
	struct smtp_client_reply closed_why;
	int	txdone;
	int	nstep;
	struct smtp_client_reply step[16];
	bool	free_in_step;	/* free the client in the 2nd step cb */
};

static void
h_ready(struct smtp_client *c, const struct smtp_client_reply *fail, void *arg)
{
	struct h *h = arg;

	(void)c;
	h->ready++;
	h->ready_ok = fail == NULL;
	if (fail)
		h->ready_fail = *fail;
}

static void
h_closed(struct smtp_client *c, const struct smtp_client_reply *why,
    void *arg)
{
	struct h *h = arg;

	(void)c;
	h->closed++;
	h->closed_clean = why == NULL;
	if (why)
		h->closed_why = *why;
}

static void
h_tx(struct smtp_client *c, struct smtp_client_tx *tx, void *arg)
{
	struct h *h = arg;

	(void)c;
	(void)tx;
	h->txdone++;
}

static void
h_step(struct smtp_client *c, const struct smtp_client_reply *r, void *arg)
{
	struct h *h = arg;

	if (h->nstep < 16)
		h->step[h->nstep] = *r;
	h->nstep++;
	if (h->free_in_step && h->nstep == 2) {
		smtp_client_free(c);
		h->c = NULL;
	}
}

static void
h_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Run the loop until *counter >= want or ms pass; true if reached. */
static bool
run_until(struct h *h, int *counter, int want, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*counter < want) {
		event_base_loop(h->base, EVLOOP_ONCE);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
	}
	return true;
}

static struct smtp_client_opts
default_opts(void)
{
	struct smtp_client_opts o;

	memset(&o, 0, sizeof(o));
	o.helo_name = "relay.test";
	o.tls = OUTBOUND_TLS_NONE;
	return o;
}

static void
h_init(struct h *h, const struct smtp_client_opts *o)
{
	struct smtp_client_cbs cbs = { h_ready, h_closed };
	struct timeval tv = { 0, 50000 };

	memset(h, 0, sizeof(*h));
	h->base = event_base_new();
	assert_non_null(h->base);
	h->tick = event_new(h->base, -1, EV_PERSIST, h_tick, NULL);
	event_add(h->tick, &tv);
	h->c = smtp_client_new(h->base, o, &cbs, h);
	assert_non_null(h->c);
}

static void
h_done(struct h *h)
{
	if (h->c)
		smtp_client_free(h->c);
	event_free(h->tick);
	event_base_free(h->base);
}

static struct sockaddr_storage
loopback(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ss;
}

static void
h_connect(struct h *h, unsigned port)
{
	struct sockaddr_storage ss = loopback();

	assert_int_equal(smtp_client_connect(h->c, "localhost", &ss, 1, port),
	    0);
	assert_int_equal(h->ready, 0);	/* never synchronous */
	assert_true(run_until(h, &h->ready, 1, 10000));
	if (!h->ready_ok)
		fail_msg("connect failed: %s", h->ready_fail.text);
}

static void
h_quit(struct h *h)
{
	smtp_client_quit(h->c);
	assert_true(run_until(h, &h->closed, 1, 10000));
	assert_true(h->closed_clean);
}

/* --- tests ------------------------------------------------------------------ */

static const char MSG[] =
    "From: a@src.test\r\nTo: b@dest.test\r\nSubject: t\r\n\r\n"
    "line one\r\n.leading dot\r\n..two dots\r\nbare lf\nend \xc3\xa9t\xc3\xa9";

static void
test_deliver_dsn_stuffing(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[2];
	struct smtp_client_tx tx;
	char *dump;
	unsigned ext;

	(void)state;
	sink_start(&s, NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	ext = smtp_client_extensions(h.c);
	assert_true(ext & SMTPC_EXT_PIPELINING);
	assert_true(ext & SMTPC_EXT_DSN);
	assert_true(ext & SMTPC_EXT_8BITMIME);
	assert_true(ext & SMTPC_EXT_ENHANCED);
	assert_false(ext & SMTPC_EXT_STARTTLS);
	assert_true(smtp_client_is_idle(h.c));
	assert_string_equal(smtp_client_addr(h.c), "127.0.0.1");

	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	r[0].notify = "SUCCESS,FAILURE";
	r[0].orcpt = "rfc822;b@dest.test";
	r[1].addr = "c@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.mail.ret = "HDRS";
	tx.mail.envid = "QID123";
	tx.rcpts = r;
	tx.nrcpts = 2;
	tx.msg = MSG;
	tx.msglen = sizeof(MSG) - 1;
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_false(smtp_client_is_idle(h.c));
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(tx.mail_reply.code, 250);
	assert_int_equal(tx.naccepted, 2);
	assert_int_equal(r[0].rcpt_reply.code, 250);
	assert_string_equal(r[0].rcpt_reply.enh, "2.1.5");
	assert_int_equal(r[0].result.code, 250);
	assert_string_equal(r[0].result.enh, "2.0.0");
	assert_string_equal(r[0].result.cmd, "end of DATA");
	assert_string_equal(r[0].result.host, "localhost");
	assert_string_equal(r[0].result.addr, "127.0.0.1");
	assert_int_equal(r[0].result.port, s.port);
	assert_int_equal(smtp_client_reply_class(&r[1].result), SMTPC_OK);
	assert_int_equal(tx.data_reply.code, 250);
	assert_int_equal(smtp_client_transactions(h.c), 1);
	h_quit(&h);
	h_done(&h);

	/* What went over the wire, as smtp-sink recorded it (stuffed). */
	assert_int_equal(count_files(s.dir, "m."), 1);
	dump = slurp_first(s.dir, "m.");
	assert_non_null(strstr(dump, "X-Mail-Args: <a@src.test> "
	    "BODY=8BITMIME RET=HDRS ENVID=QID123\n"));
	assert_non_null(strstr(dump, "X-Rcpt-Args: <b@dest.test> "
	    "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@dest.test\n"));
	assert_non_null(strstr(dump, "X-Rcpt-Args: <c@dest.test>\n"));
	/* smtp-sink removes the stuffing: a dot lost = stuffing missing. */
	assert_non_null(strstr(dump, "\n.leading dot\n"));
	assert_non_null(strstr(dump, "\n..two dots\n"));
	assert_non_null(strstr(dump, "\nbare lf\n"));
	assert_non_null(strstr(dump, "\nend \xc3\xa9t\xc3\xa9\n"));
	free(dump);
	srv_stop(&s);
}

static void
test_rcpt_mixed_answers(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[3];
	struct smtp_client_tx tx;
	char *msg;

	(void)state;
	py_start(&s, "--pipelining", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_true(smtp_client_extensions(h.c) & SMTPC_EXT_SIZE);
	assert_int_equal(smtp_client_size_limit(h.c), 33554432);
	memset(r, 0, sizeof(r));
	r[0].addr = "ok@dest.test";
	r[1].addr = "temp@dest.test";
	r[2].addr = "perm@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 3;
	tx.msg = "Subject: x\r\n\r\nhello\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));

	assert_int_equal(tx.naccepted, 1);
	assert_int_equal(r[0].result.code, 250);
	assert_int_equal(smtp_client_reply_class(&r[0].result), SMTPC_OK);

	assert_int_equal(r[1].result.kind, SMTPC_REPLY);
	assert_int_equal(r[1].result.code, 451);
	assert_string_equal(r[1].result.enh, "4.2.1");
	assert_string_equal(r[1].result.cmd, "RCPT TO");
	assert_int_equal(smtp_client_reply_class(&r[1].result), SMTPC_TEMP);
	assert_string_equal(r[1].result.text,
	    "451 4.2.1 Mailbox busy, try again later");

	assert_int_equal(r[2].result.code, 550);
	assert_string_equal(r[2].result.enh, "5.1.1");
	assert_int_equal(smtp_client_reply_class(&r[2].result), SMTPC_PERM);
	assert_string_equal(r[2].result.text,
	    "550-5.1.1 The email account that you tried to reach does not "
	    "exist.\n550 5.1.1 Please check the address");
	assert_string_equal(r[2].result.addr, "127.0.0.1");
	h_quit(&h);
	h_done(&h);

	assert_int_equal(count_files(s.dir, "msg-"), 1);
	msg = slurp_first(s.dir, "msg-");
	assert_non_null(strstr(msg, "X-Test-To: ok@dest.test\r\n"));
	assert_null(strstr(msg, "temp@"));
	assert_null(strstr(msg, "perm@"));
	assert_non_null(strstr(msg, "\r\n\r\nhello\r\n"));
	free(msg);
	srv_stop(&s);
}

static void
test_sink_rcpt_4xx_no_data(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[1];
	struct smtp_client_tx tx;

	(void)state;
	sink_start(&s, "-r", "rcpt", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "";
	tx.rcpts = r;
	tx.nrcpts = 1;
	tx.msg = "Subject: x\r\n\r\nhi\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(r[0].result.code, 450);
	assert_string_equal(r[0].result.enh, "4.3.0");
	assert_int_equal(smtp_client_reply_class(&r[0].result), SMTPC_TEMP);
	assert_int_equal(tx.naccepted, 0);
	/* DATA never went out. */
	assert_int_equal(tx.data_reply.kind, SMTPC_LOCAL);
	assert_int_equal(tx.data_reply.code, 0);
	/* Ready for the next transaction (which will start with RSET). */
	assert_true(smtp_client_is_idle(h.c));
	h_quit(&h);
	h_done(&h);
	assert_int_equal(count_sink_messages(s.dir), 0);
	srv_stop(&s);
}

static void
test_sink_mail_rejected(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[2];
	struct smtp_client_tx tx;

	(void)state;
	sink_start(&s, "-f", "mail", "-B", "553 5.7.1 Sender rejected", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	r[1].addr = "c@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "bad@src.test";
	tx.rcpts = r;
	tx.nrcpts = 2;
	tx.msg = "Subject: x\r\n\r\nhi\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(tx.mail_reply.code, 553);
	/* Every recipient carries MAIL's answer, not a 503. */
	assert_int_equal(r[0].result.code, 553);
	assert_string_equal(r[0].result.enh, "5.7.1");
	assert_string_equal(r[0].result.cmd, "MAIL FROM");
	assert_int_equal(r[1].result.code, 553);
	assert_int_equal(tx.naccepted, 0);
	/* The session is still good for the next transaction. */
	assert_true(smtp_client_is_idle(h.c));
	h_quit(&h);
	h_done(&h);
	srv_stop(&s);
}

static void
test_sink_5xx_end_of_data(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[2];
	struct smtp_client_tx tx;

	(void)state;
	sink_start(&s, "-f", ".", "-B", "554 5.7.1 Spam detected here", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	r[1].addr = "c@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 2;
	tx.msg = "Subject: x\r\n\r\nhi\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(r[0].rcpt_reply.code, 250);
	assert_int_equal(tx.data_reply.code, 554);
	assert_string_equal(tx.data_reply.enh, "5.7.1");
	assert_string_equal(tx.data_reply.text, "554 5.7.1 Spam detected here");
	assert_int_equal(r[0].result.code, 554);
	assert_int_equal(r[1].result.code, 554);
	assert_int_equal(smtp_client_reply_class(&r[1].result), SMTPC_PERM);
	assert_int_equal(tx.naccepted, 0);
	h_quit(&h);
	h_done(&h);
	srv_stop(&s);
}

static void
test_connection_dropped(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[1];
	struct smtp_client_tx tx;

	(void)state;
	sink_start(&s, "-q", "rcpt", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 1;
	tx.msg = "Subject: x\r\n\r\nhi\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(r[0].result.kind, SMTPC_LOST);
	assert_int_equal(r[0].result.code, 0);
	assert_string_equal(r[0].result.enh, "4.4.2");
	assert_int_equal(smtp_client_reply_class(&r[0].result), SMTPC_TEMP);
	assert_non_null(strstr(r[0].result.text, "lost connection"));
	assert_true(run_until(&h, &h.closed, 1, 5000));
	assert_false(h.closed_clean);
	assert_int_equal(h.closed_why.kind, SMTPC_LOST);
	assert_true(smtp_client_is_closed(h.c));
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), -1);
	h_done(&h);
	srv_stop(&s);
}

static void
test_connect_refused_then_next_address(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct sockaddr_storage ss[2];
	unsigned dead = testnet_free_port(SOCK_STREAM);

	(void)state;
	/* Only a refused address: the failure is reported. */
	h_init(&h, &o);
	ss[0] = loopback();
	assert_int_equal(smtp_client_connect(h.c, "mx.dest.test", ss, 1, dead),
	    0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	assert_false(h.ready_ok);
	assert_int_equal(h.ready_fail.kind, SMTPC_CONNECT);
	assert_string_equal(h.ready_fail.enh, "4.4.1");
	assert_int_equal(smtp_client_reply_class(&h.ready_fail), SMTPC_TEMP);
	assert_non_null(strstr(h.ready_fail.text, "Connection refused"));
	assert_non_null(strstr(h.ready_fail.text, "mx.dest.test[127.0.0.1]"));
	assert_true(smtp_client_is_closed(h.c));
	h_done(&h);

	/* A dead first address, a live second one (127.0.0.2 = loopback). */
	sink_start(&s, NULL);
	h_init(&h, &o);
	ss[0] = loopback();
	((struct sockaddr_in *)&ss[0])->sin_addr.s_addr = htonl(0x7f000002);
	ss[1] = loopback();
	/* 127.0.0.2 has nothing on the port smtp-sink has on 127.0.0.1. */
	assert_int_equal(smtp_client_connect(h.c, "mx.dest.test", ss, 2,
	    s.port), 0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	assert_true(h.ready_ok);
	assert_string_equal(smtp_client_addr(h.c), "127.0.0.1");
	h_quit(&h);
	h_done(&h);
	srv_stop(&s);
}

static void
test_greeting_timeout(void **state)
{
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct sockaddr_storage ss = loopback();
	struct timespec t0, t1;
	long ms;
	int fd;

	(void)state;
	/* Listening, never accepting: the kernel completes the handshake. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	o.timeouts.greeting = 1000;
	h_init(&h, &o);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(smtp_client_connect(h.c, "slow.test", &ss, 1,
	    ntohs(sin.sin_port)), 0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) /
	    1000000;
	assert_false(h.ready_ok);
	assert_int_equal(h.ready_fail.kind, SMTPC_TIMEOUT);
	assert_string_equal(h.ready_fail.enh, "4.4.2");
	assert_string_equal(h.ready_fail.cmd, "greeting");
	assert_non_null(strstr(h.ready_fail.text, "timed out"));
	assert_true(ms >= 950 && ms < 4000);
	h_done(&h);
	close(fd);
}

static void
make_cert(const char *dir, char *cert, char *key, size_t len)
{
	char *argv[32];
	int n = 0;
	pid_t pid;
	int st;

	snprintf(cert, len, "%s/cert.pem", dir);
	snprintf(key, len, "%s/key.pem", dir);
	argv[n++] = "/usr/bin/openssl";
	argv[n++] = "req";
	argv[n++] = "-x509";
	argv[n++] = "-newkey";
	argv[n++] = "ec";
	argv[n++] = "-pkeyopt";
	argv[n++] = "ec_paramgen_curve:prime256v1";
	argv[n++] = "-nodes";
	argv[n++] = "-keyout";
	argv[n++] = key;
	argv[n++] = "-out";
	argv[n++] = cert;
	argv[n++] = "-days";
	argv[n++] = "2";
	argv[n++] = "-subj";
	argv[n++] = "/CN=localhost";
	argv[n++] = "-addext";
	argv[n++] = "subjectAltName=DNS:localhost";
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_starttls(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[1];
	struct smtp_client_tx tx;
	char cert[128], key[128], certdir[64], err[256];
	SSL_CTX *noverify, *verify;
	struct sockaddr_storage ss = loopback();
	char *msg;

	(void)state;
	snprintf(certdir, sizeof(certdir), "/tmp/smtpc_cert.XXXXXX");
	assert_non_null(mkdtemp(certdir));
	make_cert(certdir, cert, key, sizeof(cert));
	py_start(&s, "--tls", cert, key, NULL);
	noverify = smtp_client_ssl_ctx_new(NULL, err, sizeof(err));
	assert_non_null(noverify);
	verify = smtp_client_ssl_ctx_new(cert, err, sizeof(err));
	assert_non_null(verify);

	/* Opportunistic, not verified: encrypted delivery. */
	o.tls = OUTBOUND_TLS_OPPORTUNISTIC;
	o.ssl_ctx = noverify;
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_non_null(smtp_client_tls_version(h.c));
	/* After STARTTLS the EHLO is repeated and no longer offers it. */
	assert_false(smtp_client_extensions(h.c) & SMTPC_EXT_STARTTLS);
	memset(r, 0, sizeof(r));
	r[0].addr = "ok@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 1;
	tx.msg = "Subject: tls\r\n\r\nsecret\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(r[0].result.code, 250);
	h_quit(&h);
	h_done(&h);
	msg = slurp_first(s.dir, "msg-");
	assert_non_null(strstr(msg, "X-Test-TLS: yes\r\n"));
	free(msg);

	/* Verified against the right name: fine. */
	o.tls = OUTBOUND_TLS_REQUIRE;
	o.ssl_ctx = verify;
	o.tls_verify = true;
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_non_null(smtp_client_tls_version(h.c));
	h_quit(&h);
	h_done(&h);

	/* Verified against a wrong name: temporary TLS failure, no mail. */
	h_init(&h, &o);
	assert_int_equal(smtp_client_connect(h.c, "wrong.test", &ss, 1,
	    s.port), 0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	assert_false(h.ready_ok);
	assert_int_equal(h.ready_fail.kind, SMTPC_TLS);
	assert_string_equal(h.ready_fail.enh, "4.7.5");
	assert_int_equal(smtp_client_reply_class(&h.ready_fail), SMTPC_TEMP);
	assert_non_null(strstr(h.ready_fail.text, "wrong.test"));
	h_done(&h);
	srv_stop(&s);

	/*
	 * STARTTLS offered but no handshake possible: opportunistic and
	 * unverified, so the same address is tried again in plaintext.
	 */
	py_start(&s, "--tls", cert, key, "--tls-broken", NULL);
	o.tls = OUTBOUND_TLS_OPPORTUNISTIC;
	o.tls_verify = false;
	o.ssl_ctx = noverify;
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_null(smtp_client_tls_version(h.c));
	h.txdone = 0;
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(r[0].result.code, 250);
	h_quit(&h);
	h_done(&h);
	msg = slurp_first(s.dir, "msg-");
	assert_non_null(strstr(msg, "X-Test-TLS: no\r\n"));
	free(msg);
	srv_stop(&s);
	/* ... but with tls = require that is a failure. */
	py_start(&s, "--tls", cert, key, "--tls-broken", NULL);
	o.tls = OUTBOUND_TLS_REQUIRE;
	h_init(&h, &o);
	assert_int_equal(smtp_client_connect(h.c, "localhost", &ss, 1, s.port),
	    0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	assert_false(h.ready_ok);
	assert_int_equal(h.ready_fail.kind, SMTPC_TLS);
	assert_string_equal(h.ready_fail.enh, "4.7.5");
	h_done(&h);
	srv_stop(&s);

	/* tls = require, server without STARTTLS: 4.7.4. */
	sink_start(&s, NULL);
	o.tls_verify = false;
	o.ssl_ctx = noverify;
	h_init(&h, &o);
	assert_int_equal(smtp_client_connect(h.c, "localhost", &ss, 1, s.port),
	    0);
	assert_true(run_until(&h, &h.ready, 1, 10000));
	assert_false(h.ready_ok);
	assert_int_equal(h.ready_fail.kind, SMTPC_TLS);
	assert_string_equal(h.ready_fail.enh, "4.7.4");
	h_done(&h);
	srv_stop(&s);

	SSL_CTX_free(noverify);
	SSL_CTX_free(verify);
	rm_rf(certdir);
}

static void
test_reuse_two_transactions(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r1[1], r2[1];
	struct smtp_client_tx t1, t2;
	char *log;
	char path[128];
	FILE *f;
	long n;

	(void)state;
	py_start(&s, NULL);	/* no PIPELINING: one command at a time */
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r1, 0, sizeof(r1));
	memset(r2, 0, sizeof(r2));
	r1[0].addr = "one@dest.test";
	r2[0].addr = "two@dest.test";
	memset(&t1, 0, sizeof(t1));
	memset(&t2, 0, sizeof(t2));
	t1.mail.from = t2.mail.from = "a@src.test";
	t1.rcpts = r1;
	t2.rcpts = r2;
	t1.nrcpts = t2.nrcpts = 1;
	t1.msg = "Subject: 1\r\n\r\nfirst\r\n";
	t2.msg = "Subject: 2\r\n\r\nsecond\r\n";
	t1.msglen = strlen(t1.msg);
	t2.msglen = strlen(t2.msg);
	assert_int_equal(smtp_client_send(h.c, &t1, h_tx, &h), 0);
	/* One transaction at a time. */
	assert_int_equal(smtp_client_send(h.c, &t2, h_tx, &h), -1);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_true(smtp_client_is_idle(h.c));
	assert_int_equal(smtp_client_send(h.c, &t2, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 2, 10000));
	assert_int_equal(r1[0].result.code, 250);
	assert_int_equal(r2[0].result.code, 250);
	assert_int_equal(smtp_client_transactions(h.c), 2);
	h_quit(&h);
	h_done(&h);
	assert_int_equal(count_files(s.dir, "msg-"), 2);
	snprintf(path, sizeof(path), "%s/commands.log", s.dir);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	log = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(log, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	/* One session: one EHLO, an RSET between the two transactions. */
	assert_int_equal(count_substr(log, "EHLO "), 1);
	assert_int_equal(count_substr(log, "RSET"), 1);
	assert_int_equal(count_substr(log, "MAIL "), 2);
	assert_non_null(strstr(log, "DATA\nRSET\nMAIL"));
	free(log);
	srv_stop(&s);
}

static void
test_abort_after_rcpt(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_mail m;
	struct smtp_client_rcpt r;
	char path[128];
	struct stat st;

	(void)state;
	py_start(&s, "--pipelining", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(&m, 0, sizeof(m));
	m.from = "a@src.test";
	memset(&r, 0, sizeof(r));
	r.addr = "ok@dest.test";
	/* In-session style: MAIL + RCPT, answers come back one by one. */
	assert_int_equal(smtp_client_mail(h.c, &m, h_step, &h), 0);
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	r.addr = "perm@dest.test";
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	assert_int_equal(h.nstep, 0);
	assert_true(run_until(&h, &h.nstep, 3, 10000));
	assert_int_equal(h.step[0].code, 250);
	assert_string_equal(h.step[0].cmd, "MAIL FROM");
	assert_int_equal(h.step[1].code, 250);
	assert_int_equal(h.step[2].code, 550);
	/* A second MAIL while the transaction is open is refused. */
	assert_int_equal(smtp_client_mail(h.c, &m, h_step, &h), -1);
	/* Abandon it: RSET, never DATA. */
	assert_int_equal(smtp_client_rset(h.c, h_step, &h), 0);
	assert_true(run_until(&h, &h.nstep, 4, 10000));
	assert_int_equal(h.step[3].code, 250);
	assert_string_equal(h.step[3].cmd, "RSET");
	assert_true(smtp_client_is_idle(h.c));

	/* And once more, this time hanging up with QUIT after the RCPT. */
	assert_int_equal(smtp_client_mail(h.c, &m, h_step, &h), 0);
	r.addr = "ok@dest.test";
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	assert_true(run_until(&h, &h.nstep, 6, 10000));
	assert_int_equal(h.step[5].code, 250);
	h_quit(&h);
	h_done(&h);

	/* The server got no message at all, and no DATA command. */
	assert_int_equal(count_files(s.dir, "msg-"), 0);
	snprintf(path, sizeof(path), "%s/commands.log", s.dir);
	assert_int_equal(stat(path, &st), 0);
	{
		FILE *f = fopen(path, "r");
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		fclose(f);
		buf[n] = '\0';
		assert_null(strstr(buf, "DATA"));
		assert_int_equal(count_substr(buf, "RCPT "), 3);
	}
	srv_stop(&s);
}

static void
test_local_refusals(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[2];
	struct smtp_client_tx tx;
	char big[2000];
	char path[128];
	struct stat st;

	(void)state;
	py_start(&s, "--size", "1000", "--no-8bitmime", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_int_equal(smtp_client_size_limit(h.c), 1000);
	assert_false(smtp_client_extensions(h.c) & SMTPC_EXT_8BITMIME);
	assert_false(smtp_client_extensions(h.c) & SMTPC_EXT_SMTPUTF8);

	/* Too big for the server's SIZE: 5.3.4, nothing sent. */
	memset(big, 'x', sizeof(big));
	memset(r, 0, sizeof(r));
	r[0].addr = "ok@dest.test";
	r[1].addr = "ok2@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 2;
	tx.msg = big;
	tx.msglen = sizeof(big);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 10000));
	assert_int_equal(tx.mail_reply.kind, SMTPC_LOCAL);
	assert_string_equal(tx.mail_reply.enh, "5.3.4");
	assert_int_equal(r[0].result.kind, SMTPC_LOCAL);
	assert_string_equal(r[0].result.enh, "5.3.4");
	assert_string_equal(r[1].result.enh, "5.3.4");
	assert_int_equal(smtp_client_reply_class(&r[1].result), SMTPC_PERM);

	/* 8-bit body, no 8BITMIME: 5.6.3. */
	tx.msg = "Subject: x\r\n\r\ncaf\xc3\xa9\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 2, 10000));
	assert_string_equal(r[0].result.enh, "5.6.3");
	assert_int_equal(r[0].result.kind, SMTPC_LOCAL);

	/* UTF-8 recipient, no SMTPUTF8: 5.6.7. */
	r[1].addr = "j\xc3\xb6rg@dest.test";
	tx.msg = "Subject: x\r\n\r\nplain\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 3, 10000));
	assert_string_equal(r[1].result.enh, "5.6.7");

	/* Bad arguments never reach the wire. */
	r[1].addr = "evil@dest.test>\r\nRSET";
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), -1);
	h_quit(&h);
	h_done(&h);

	/* No MAIL ever reached the server. */
	snprintf(path, sizeof(path), "%s/commands.log", s.dir);
	if (stat(path, &st) == 0) {
		FILE *f = fopen(path, "r");
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		fclose(f);
		buf[n] = '\0';
		assert_null(strstr(buf, "MAIL "));
	}
	assert_int_equal(count_files(s.dir, "msg-"), 0);
	srv_stop(&s);
}

static void
test_helo_fallback_and_free_in_callback(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_mail m;
	struct smtp_client_rcpt r;

	(void)state;
	sink_start(&s, "-f", "ehlo", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	/* EHLO got a 5xx, HELO worked: no extensions at all. */
	assert_int_equal(smtp_client_extensions(h.c), 0);
	memset(&m, 0, sizeof(m));
	m.from = "a@src.test";
	m.ret = "FULL";		/* not sent: no DSN without EHLO */
	memset(&r, 0, sizeof(r));
	r.addr = "b@dest.test";
	h.free_in_step = true;
	assert_int_equal(smtp_client_mail(h.c, &m, h_step, &h), 0);
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	assert_true(run_until(&h, &h.nstep, 2, 10000));
	assert_int_equal(h.step[0].code, 250);
	assert_int_equal(h.step[1].code, 250);
	/* Freed inside the 2nd callback: the 3rd never comes. */
	assert_null(h.c);
	run_until(&h, &h.nstep, 3, 300);
	assert_int_equal(h.nstep, 2);
	h_done(&h);
	srv_stop(&s);
}

static void
test_data_step_and_abort_mid_data(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_mail m;
	struct smtp_client_rcpt r;
	static char big[24 * 1024 * 1024];

	(void)state;
	/*
	 * smtp-sink -H 3: does not read for 3 s after DATA, so our big body
	 * is still being written when we abort (24 MB is more than loopback
	 * socket buffers hold).  smtp-sink deletes an unfinished dump.
	 */
	sink_start(&s, "-H", "3", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(&m, 0, sizeof(m));
	m.from = "a@src.test";
	memset(&r, 0, sizeof(r));
	r.addr = "b@dest.test";
	memset(big, 'y', sizeof(big));
	assert_int_equal(smtp_client_mail(h.c, &m, h_step, &h), 0);
	assert_int_equal(smtp_client_rcpt(h.c, &r, h_step, &h), 0);
	assert_int_equal(smtp_client_data(h.c, big, sizeof(big), h_step, &h),
	    0);
	assert_true(run_until(&h, &h.nstep, 2, 10000));
	/* Let DATA go out and the body start. */
	run_until(&h, &h.nstep, 3, 500);
	assert_int_equal(h.nstep, 2);
	assert_int_equal(smtp_client_rset(h.c, h_step, &h), 0);
	assert_true(run_until(&h, &h.nstep, 3, 5000));
	assert_int_equal(h.step[2].kind, SMTPC_LOST);
	assert_true(run_until(&h, &h.closed, 1, 5000));
	/* The RSET is answered with the same reason (it was never sent). */
	assert_int_equal(h.nstep, 4);
	assert_int_equal(h.step[3].kind, SMTPC_LOST);
	h_done(&h);
	/* smtp-sink never saw the final dot: no message. */
	sleep(1);
	assert_int_equal(count_sink_messages(s.dir), 0);
	srv_stop(&s);
}

static void
test_timeouts_and_idle(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[1];
	struct smtp_client_tx tx;

	(void)state;
	/*
	 * RCPT answered after 3 s, our timeouts are 500 ms.  smtp-sink holds
	 * back the pipelined MAIL reply too, so either timer may fire.
	 */
	sink_start(&s, "-W", "rcpt:3", NULL);
	o.timeouts.mail = 500;
	o.timeouts.rcpt = 500;
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "b@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 1;
	tx.msg = "Subject: x\r\n\r\nhi\r\n";
	tx.msglen = strlen(tx.msg);
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 2500));
	assert_int_equal(r[0].result.kind, SMTPC_TIMEOUT);
	assert_non_null(strstr(r[0].result.text, "timed out"));
	assert_int_equal(smtp_client_reply_class(&r[0].result), SMTPC_TEMP);
	assert_true(run_until(&h, &h.closed, 1, 2000));
	assert_int_equal(h.closed_why.kind, SMTPC_TIMEOUT);
	h_done(&h);
	srv_stop(&s);

	/* Our idle timer: QUIT after 300 ms without work. */
	sink_start(&s, NULL);
	o = default_opts();
	o.timeouts.idle = 300;
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_true(run_until(&h, &h.closed, 1, 3000));
	assert_true(h.closed_clean);
	h_done(&h);
	srv_stop(&s);

	/* The server hangs up on an idle session (smtp-sink -t 1). */
	sink_start(&s, "-t", "1", NULL);
	o = default_opts();
	h_init(&h, &o);
	h_connect(&h, s.port);
	assert_true(run_until(&h, &h.closed, 1, 5000));
	assert_false(h.closed_clean);
	assert_int_equal(smtp_client_reply_class(&h.closed_why), SMTPC_TEMP);
	assert_true(smtp_client_is_closed(h.c));
	h_done(&h);
	srv_stop(&s);
}

/* A message of several chunks, dots at chunk edges: arrives unchanged. */
static void
test_big_message_roundtrip(void **state)
{
	struct srv s;
	struct h h;
	struct smtp_client_opts o = default_opts();
	struct smtp_client_rcpt r[1];
	struct smtp_client_tx tx;
	size_t len = 300000, i, hdr;
	char *m = malloc(len), *got;
	const char *body;

	(void)state;
	assert_non_null(m);
	hdr = (size_t)snprintf(m, len, "Subject: big\r\n\r\n");
	for (i = hdr; i < len; i++)
		m[i] = (char)('a' + (i % 26));
	/* Lines of 100 octets; some start with '.', around 64 KiB edges. */
	for (i = hdr + 98; i + 1 < len; i += 100) {
		m[i] = '\r';
		m[i + 1] = '\n';
		if (i + 2 < len && (i / 100) % 7 == 0)
			m[i + 2] = '.';
	}
	m[65536] = '.';
	m[65535] = '\n';
	m[65534] = '\r';
	m[len - 2] = '\r';
	m[len - 1] = '\n';
	py_start(&s, "--pipelining", NULL);
	h_init(&h, &o);
	h_connect(&h, s.port);
	memset(r, 0, sizeof(r));
	r[0].addr = "ok@dest.test";
	memset(&tx, 0, sizeof(tx));
	tx.mail.from = "a@src.test";
	tx.rcpts = r;
	tx.nrcpts = 1;
	tx.msg = m;
	tx.msglen = len;
	assert_int_equal(smtp_client_send(h.c, &tx, h_tx, &h), 0);
	assert_true(run_until(&h, &h.txdone, 1, 20000));
	assert_int_equal(r[0].result.code, 250);
	h_quit(&h);
	h_done(&h);
	got = slurp_first(s.dir, "msg-");
	body = strstr(got, "Subject: big");
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	assert_memory_equal(body, m, len);
	free(got);
	free(m);
	srv_stop(&s);
}

/* The reply parser on its own (the session uses the same code). */
static void
test_reply_parser(void **state)
{
	struct smtp_client_reply r;
	unsigned ext;
	size_t lim;
	const char *ehlo = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	    "250-8bitmime\r\n250-SMTPUTF8\r\n250-DSN\r\n250-STARTTLS\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n220 next";
	const char *bad[] = { "25\r\n", "2500 x\r\n", "250x\r\n",
	    "650 nope\r\n", "250-a\r\n251 b\r\n", "abc\r\n" };
	size_t i;
	char longline[SMTPC_LINE_MAX + 16];

	(void)state;
	assert_int_equal(smtp_client_reply_parse(ehlo, strlen(ehlo), &r, &ext,
	    &lim), (int)(strstr(ehlo, "220") - ehlo));
	assert_int_equal(r.code, 250);
	assert_int_equal(ext, SMTPC_EXT_ESMTP | SMTPC_EXT_PIPELINING |
	    SMTPC_EXT_SIZE | SMTPC_EXT_8BITMIME | SMTPC_EXT_SMTPUTF8 |
	    SMTPC_EXT_DSN | SMTPC_EXT_STARTTLS | SMTPC_EXT_ENHANCED);
	assert_int_equal(lim, 1000);
	assert_string_equal(r.enh, "");	/* "mx.test" is not a status code */

	/* Incomplete: no line end yet, or a continuation line only. */
	assert_int_equal(smtp_client_reply_parse("250 ok", 6, &r, &ext, &lim),
	    0);
	assert_int_equal(smtp_client_reply_parse("250-ok\r\n", 8, &r, &ext,
	    &lim), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_client_reply_parse(bad[i], strlen(bad[i]),
		    &r, &ext, &lim), -1);
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "250 ", 4);
	assert_int_equal(smtp_client_reply_parse(longline, sizeof(longline),
	    &r, &ext, &lim), -1);

	/* Enhanced codes: present, class mismatch, malformed, bare LF ok. */
	assert_int_equal(smtp_client_reply_parse("550 5.1.1 <x>: no\n", 18, &r,
	    &ext, &lim), 18);
	assert_string_equal(r.enh, "5.1.1");
	assert_string_equal(r.text, "550 5.1.1 <x>: no");
	assert_int_equal(ext, 0);
	smtp_client_reply_parse("550 4.1.1 odd\r\n", 15, &r, &ext, &lim);
	assert_string_equal(r.enh, "");
	smtp_client_reply_parse("451 4.7.1000 x\r\n", 16, &r, &ext, &lim);
	assert_string_equal(r.enh, "");
	smtp_client_reply_parse("421 4.4.2\r\n", 11, &r, &ext, &lim);
	assert_string_equal(r.enh, "4.4.2");
	smtp_client_reply_parse("554 5.7.1.2 x\r\n", 15, &r, &ext, &lim);
	assert_string_equal(r.enh, "");
	assert_int_equal(smtp_client_reply_parse("250\r\n", 5, &r, &ext,
	    &lim), 5);
	assert_int_equal(r.code, 250);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parser),
		cmocka_unit_test_teardown(test_deliver_dsn_stuffing, teardown),
		cmocka_unit_test_teardown(test_rcpt_mixed_answers, teardown),
		cmocka_unit_test_teardown(test_sink_rcpt_4xx_no_data, teardown),
		cmocka_unit_test_teardown(test_sink_mail_rejected, teardown),
		cmocka_unit_test_teardown(test_sink_5xx_end_of_data, teardown),
		cmocka_unit_test_teardown(test_connection_dropped, teardown),
		cmocka_unit_test_teardown(test_connect_refused_then_next_address, teardown),
		cmocka_unit_test_teardown(test_greeting_timeout, teardown),
		cmocka_unit_test_teardown(test_starttls, teardown),
		cmocka_unit_test_teardown(test_reuse_two_transactions, teardown),
		cmocka_unit_test_teardown(test_abort_after_rcpt, teardown),
		cmocka_unit_test_teardown(test_local_refusals, teardown),
		cmocka_unit_test_teardown(test_helo_fallback_and_free_in_callback, teardown),
		cmocka_unit_test_teardown(test_data_step_and_abort_mid_data, teardown),
		cmocka_unit_test_teardown(test_timeouts_and_idle, teardown),
		cmocka_unit_test_teardown(test_big_message_roundtrip, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (getenv("SMTPC_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
