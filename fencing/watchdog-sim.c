/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "sim" watchdog device: the client side of tests/multinode/watchdog-sim's socket (the
 * protocol is in watchdog.h). Selected only by configuration, for the multi-node tier, where a
 * node is a network namespace and has no watchdog of its own; the supervisor kills the node's
 * processes when it is not fed, as a reset would.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fencing/watchdog.h"
#include "macros.h"

#define SIM_ANSWER_TIMEOUT_MS 2000   /* the supervisor answers at once; it runs on this host */

struct sim {
	int fd;
	char *path;
	char identity[64];
};

_printf_(2, 3) static void set_error(char **error, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*error);
	*error = s;
}

static int sim_send(struct sim *s, const char *msg)
{
	ssize_t n = send(s->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	return (size_t)n == strlen(msg) ? 0 : -EIO;
}

/* One answer packet, NUL-terminated, waited for at most SIM_ANSWER_TIMEOUT_MS. */
static int sim_answer(struct sim *s, char *buf, size_t size)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, SIM_ANSWER_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(s->fd, buf, size - 1, MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	buf[n] = '\0';
	return 0;
}

static int sim_open(const struct watchdog_config *cfg, void **out, char **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char ans[128];
	struct sim *s;
	int r;

	if (!cfg->path || strlen(cfg->path) >= sizeof sa.sun_path) {
		set_error(error, "simulated watchdog: the socket path is missing or too long");
		return -EINVAL;
	}
	strcpy(sa.sun_path, cfg->path);
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = -errno;
		free(s);
		return r;
	}
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		r = -errno;
		set_error(error, "simulated watchdog %s: %s (is tests/multinode/watchdog-sim serving it?)", cfg->path,
			  strerror(-r));
		goto fail;
	}
	if ((r = sim_send(s, "open")) < 0 || (r = sim_answer(s, ans, sizeof ans)) < 0) {
		set_error(error, "simulated watchdog %s: open: %s", cfg->path, strerror(-r));
		goto fail;
	}
	if (strcmp(ans, "busy") == 0) {
		r = -EBUSY;
		set_error(error, "simulated watchdog %s: already open by another process: one opener only", cfg->path);
		goto fail;
	}
	if (strncmp(ans, "ok", 2) != 0) {
		r = -EPROTO;
		set_error(error, "simulated watchdog %s: open: unexpected answer", cfg->path);
		goto fail;
	}
	snprintf(s->identity, sizeof s->identity, "%.63s", ans[2] == ' ' ? ans + 3 : "simulated watchdog");
	if (!(s->path = strdup(cfg->path))) {
		r = -ENOMEM;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	close(s->fd);
	free(s);
	return r;
}

static int sim_set_timeout(void *p, unsigned seconds, unsigned *set_seconds, char **error)
{
	struct sim *s = p;
	char msg[32], ans[64];
	unsigned got;
	int r;

	snprintf(msg, sizeof msg, "timeout %u", seconds);
	if ((r = sim_send(s, msg)) < 0 || (r = sim_answer(s, ans, sizeof ans)) < 0) {
		set_error(error, "simulated watchdog %s: timeout %u: %s", s->path, seconds, strerror(-r));
		return r;
	}
	if (sscanf(ans, "timeout %u", &got) != 1 || got == 0) {
		set_error(error, "simulated watchdog %s: timeout %u: unexpected answer", s->path, seconds);
		return -EPROTO;
	}
	*set_seconds = got;
	return 0;
}

static int sim_keepalive(void *p)
{
	return sim_send(p, "keepalive");
}

static void sim_info(void *p, char *identity, size_t size, bool *crash_safe)
{
	struct sim *s = p;

	snprintf(identity, size, "%s", s->identity);
	*crash_safe = true;   /* the supervisor keeps it armed across a close without "V" */
}

static void sim_close(void *p, bool disarm)
{
	struct sim *s = p;

	if (!s)
		return;
	if (disarm)
		(void)sim_send(s, "V");
	close(s->fd);
	free(s->path);
	free(s);
}

const struct watchdog_device_ops watchdog_sim_ops = {
	.name = "sim", .open = sim_open, .set_timeout = sim_set_timeout, .keepalive = sim_keepalive,
	.info = sim_info, .close = sim_close,
};
