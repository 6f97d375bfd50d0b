/*
 * testnet - loopback helpers shared by the unit tests that start real
 * servers (dnsmasq, smtp-sink, aiosmtpd, PostgreSQL).  Everything binds or
 * connects to 127.0.0.1 only.
 */
#ifndef CLEANBOX_TESTNET_H
#define CLEANBOX_TESTNET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port of the given socket type free right now on 127.0.0.1; -1 on error. */
static inline int
testnet_free_port(int type)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, type, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Wait up to ms until something accepts TCP on 127.0.0.1:port; 0 or -1. */
static inline int
testnet_wait_tcp(unsigned port, int ms)
{
	struct sockaddr_in sin;
	int i, fd, rc;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < ms / 20; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
		if (rc == 0)
			return 0;
		usleep(20000);
	}
	return -1;
}

#endif
