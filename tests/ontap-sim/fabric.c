/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: the access endpoint on a unix socket (--access-socket PATH; README "Access
 * endpoint"): the same answers as GET /sim/access (access.c), without HTTPS.
 *
 * Why: the simulated host backend asks at every attach and probe step. Over HTTPS each ask was
 * a `curl` child and a TLS handshake: 100-250 ms on a loaded 2-CPU machine, on the critical path
 * of every attach (bench/datastores.sh), and a tenth of the machine's CPU. Over this socket an
 * ask is a connect, a line and a read on the host's worker thread.
 *
 * Protocol, one ask per connection: the host writes the query as the URL would carry it
 * ("initiator=IQN", "hostnqn=NQN" or "client=ADDR", percent-encoded, at most 4 KiB) and "\n";
 * the simulator answers "<HTTP status>\n<JSON body>" and closes. A unix socket has no peer
 * address, so client= is required for the NAS answer. One thread per connection, as the HTTPS
 * server has; a host that says nothing for 5 s is dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sim.h"

#define QUERY_MAX 4096
#define IDLE_SECONDS 5

struct fabric_conn {
	struct sim *sim;
	int fd;
};

/* "a=b&c=d" (percent-encoded) -> {"a":"b","c":"d"}; NULL when malformed (no '=') or no memory. */
static json_t *query_parse(char *line)
{
	json_t *q = json_object();
	char *save = NULL;

	for (char *kv = strtok_r(line, "&", &save); q && kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			json_decref(q);
			return NULL;
		}
		*eq = '\0';
		MHD_http_unescape(kv);
		MHD_http_unescape(eq + 1);
		if (json_object_set_new(q, kv, json_string(eq + 1)) < 0) {
			json_decref(q);
			return NULL;
		}
	}
	return q;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the host went away: nothing to tell */
		p += w;
		n -= (size_t)w;
	}
}

static void *conn_thread(void *arg)
{
	struct fabric_conn *c = arg;
	char line[QUERY_MAX + 1];
	size_t len = 0;
	json_t *query = NULL, *resp = NULL;
	int status = 400;
	char *body, *nl;

	while (len < QUERY_MAX && !memchr(line, '\n', len)) {
		ssize_t n = read(c->fd, line + len, QUERY_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	nl = strchr(line, '\n');
	if (!nl)
		resp = json_pack("{s:{s:s,s:s}}", "error", "message", "The query must end with a newline, within 4 KiB.",
				 "code", "2");
	else {
		*nl = '\0';
		query = query_parse(line);
		if (!query)
			resp = json_pack("{s:{s:s,s:s}}", "error", "message", "Malformed query: key=value pairs joined by '&'.",
					 "code", "2");
		else if (access_handle(c->sim, "GET", "/sim/access", query, NULL, &status, &resp) < 0 && !resp)
			resp = json_pack("{s:{s:s,s:s}}", "error", "message", "access error", "code", "2");
	}
	body = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	{
		char head[16];
		int n = snprintf(head, sizeof(head), "%d\n", body ? status : 500);
		write_all(c->fd, head, (size_t)n);
	}
	if (body)
		write_all(c->fd, body, strlen(body));
	free(body);
	json_decref(resp);
	json_decref(query);
	/* The answer is complete; what the host still sends (a query over 4 KiB) is read and dropped
	 * until it closes, so that closing with unread data does not reset the answer away. */
	shutdown(c->fd, SHUT_WR);
	while (read(c->fd, line, sizeof(line)) > 0)
		;
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_thread(void *arg)
{
	struct fabric_conn *listener = arg;

	for (;;) {
		struct timeval idle = { .tv_sec = IDLE_SECONDS };
		struct fabric_conn *c;
		pthread_attr_t attr;
		pthread_t tid;
		int fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			fprintf(stderr, "ontap-sim: access socket: accept: %m\n");
			return NULL;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		*c = (struct fabric_conn){ .sim = listener->sim, .fd = fd };
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, conn_thread, c) != 0) {
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
}

int fabric_start(struct sim *sim, const char *path)
{
	static struct fabric_conn listener;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_t tid;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	{
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(path); /* left by an earlier run; anything else is not ours to remove */
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	listener = (struct fabric_conn){ .sim = sim, .fd = fd };
	r = pthread_create(&tid, NULL, accept_thread, &listener);
	if (r != 0) {
		close(fd);
		return -r;
	}
	pthread_detach(tid);
	return 0;
}
