/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"

enum conn_state {
	CONN_READING, /* collecting the request line */
	CONN_WAITING, /* the daemon owes an answer (spec-apply waiting for a commit) */
	CONN_WRITING, /* sending the reply, then close */
};

struct api_conn {
	struct api_conn *next;
	struct api_server *srv;   /* borrowed back pointer */
	uint64_t id;
	int fd;                   /* owned */
	sd_event_source *io;      /* owned */
	sd_event_source *timer;   /* owned: the deadline of the current phase */
	enum conn_state state;
	struct ucred peer;
	json_t *refusal;          /* owned: the answer to send whatever the request, or NULL */
	char *in;                 /* owned request bytes */
	size_t in_len, in_cap;
	char *out;                /* owned reply line */
	size_t out_len, out_pos;
};

struct api_server {
	sd_event *event;                /* borrowed */
	struct klog *log;               /* borrowed */
	const struct api_server_ops *ops; /* borrowed */
	void *userdata;                 /* borrowed */
	char *path;                     /* owned */
	char *group;                    /* owned: the group name as configured */
	gid_t gid;                      /* (gid_t)-1 when the group does not exist */
	int fd;                         /* owned listening socket */
	sd_event_source *listen_src;    /* owned */
	struct api_conn *conns;         /* owned list */
	unsigned n_conns;
	uint64_t next_id;
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

json_t *api_error(int err, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	return json_pack("{sbsssi}", "ok", 0, "error", text, "errno", -err);
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_free(struct api_conn *c)
{
	struct api_server *s = c->srv;

	for (struct api_conn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	s->n_conns--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	json_decref(c->refusal);
	free(c->in);
	free(c->out);
	free(c);
}

static void conn_arm_timer(struct api_conn *c, bool on)
{
	if (on)
		sd_event_source_set_time(c->timer, now_usec() + API_IO_TIMEOUT_USEC);
	sd_event_source_set_enabled(c->timer, on ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

/* Queues reply (taken) and switches to writing; the write happens from the loop, never from
 * the caller's stack, so a reply can be posted from anywhere without freeing the connection
 * under someone's feet. */
static void conn_send(struct api_conn *c, json_t *reply)
{
	char *text = NULL;

	if (reply)
		text = json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(reply);
	if (!text)
		text = strdup("{\"ok\":false,\"error\":\"out of memory\",\"errno\":12}");
	free(c->out);
	c->out = NULL;
	if (text && asprintf(&c->out, "%s\n", text) < 0)
		c->out = NULL;
	free(text);
	c->out_len = c->out ? strlen(c->out) : 0;
	c->out_pos = 0;
	c->state = CONN_WRITING;
	sd_event_source_set_io_events(c->io, EPOLLOUT);
	conn_arm_timer(c, true);
}

static void conn_handle_request(struct api_conn *c, size_t len)
{
	struct api_server *s = c->srv;
	json_error_t jerr;
	json_t *req, *reply;
	const char *cmd;

	if (c->refusal) {
		conn_send(c, TAKE_PTR(c->refusal));
		return;
	}
	req = json_loadb(c->in, len, JSON_REJECT_DUPLICATES, &jerr);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	if (!req) {
		conn_send(c, api_error(-EINVAL, "request is not valid JSON: %s (position %d)", jerr.text, jerr.position));
		return;
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (!json_is_object(req) || !cmd) {
		json_decref(req);
		conn_send(c, api_error(-EINVAL, "request must be an object with a string \"cmd\""));
		return;
	}
	klog(s->log, LOG_DEBUG, "API request '%s' from pid %d uid %u (connection %" PRIu64 ")", cmd,
	     (int)c->peer.pid, (unsigned)c->peer.uid, c->id);
	/* WAITING before the call: the answer may be posted from inside it. */
	c->state = CONN_WAITING;
	sd_event_source_set_io_events(c->io, 0); /* EPOLLHUP still tells us if the client leaves */
	conn_arm_timer(c, false);
	reply = s->ops->request(s->userdata, c->id, cmd, req);
	json_decref(req);
	if (reply)
		conn_send(c, reply);
}

static void conn_read(struct api_conn *c)
{
	for (;;) {
		ssize_t n;
		char *nl;

		/* A refused peer's request is only read to be discarded: keep one small buffer. */
		if (c->refusal && c->in_len == c->in_cap && c->in_cap)
			c->in_len = 0;
		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			char *p;

			if (cap > API_MAX_REQUEST + 1)
				cap = API_MAX_REQUEST + 1;
			if (c->in_len == cap) {
				conn_send(c, api_error(-EMSGSIZE, "request larger than %u bytes", API_MAX_REQUEST));
				return;
			}
			p = realloc(c->in, cap);
			if (!p) {
				conn_send(c, api_error(-ENOMEM, "out of memory reading the request"));
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			klog(c->srv->log, LOG_DEBUG, "API connection %" PRIu64 ": read: %m", c->id);
			conn_free(c);
			return;
		}
		if (n == 0) {
			/* EOF without a newline: the client half-closed after its request; take it as is. */
			if (c->in_len == 0) {
				conn_free(c);
				return;
			}
			conn_handle_request(c, c->in_len);
			return;
		}
		nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl) {
			conn_handle_request(c, (size_t)(nl - c->in));
			return;
		}
	}
}

static void conn_write(struct api_conn *c)
{
	while (c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			klog(c->srv->log, LOG_DEBUG, "API connection %" PRIu64 ": client gone before its reply: %m", c->id);
			break;
		}
		c->out_pos += (size_t)n;
	}
	conn_free(c);
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct api_conn *c = userdata;

	switch (c->state) {
	case CONN_READING:
		if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
			conn_read(c);
		break;
	case CONN_WAITING:
		/* Only hang-ups arrive here (no events requested): the answer will be dropped. */
		klog(c->srv->log, LOG_DEBUG, "API connection %" PRIu64 ": client left before its answer", c->id);
		conn_free(c);
		break;
	case CONN_WRITING:
		if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLOUT))
			conn_free(c);
		else
			conn_write(c);
		break;
	}
	return 0;
}

static int on_conn_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct api_conn *c = userdata;

	klog(c->srv->log, LOG_INFO, "API connection %" PRIu64 " (pid %d) timed out %s", c->id, (int)c->peer.pid,
	     c->state == CONN_READING ? "sending its request" : "taking its reply");
	conn_free(c);
	return 0;
}

/* Root, the daemon's own user, or a member of the API group (primary or supplementary). */
static bool peer_allowed(struct api_server *s, const struct ucred *cred)
{
	_cleanup_free_ gid_t *groups = NULL;
	_cleanup_free_ char *buf = NULL;
	struct passwd pw, *res = NULL;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	int n = 32;

	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (s->gid == (gid_t)-1)
		return false;
	if (cred->gid == s->gid)
		return true;
	if (size <= 0)
		size = 16384;
	buf = malloc((size_t)size);
	if (!buf || getpwuid_r(cred->uid, &pw, buf, (size_t)size, &res) != 0 || !res)
		return false;
	for (;;) {
		int want = n;
		gid_t *g = realloc(groups, (size_t)n * sizeof(*g));

		if (!g)
			return false;
		groups = g;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
			n = want;
			break;
		}
		if (want <= n || want > 65536)
			return false;
		n = want;
	}
	for (int i = 0; i < n; i++)
		if (groups[i] == s->gid)
			return true;
	return false;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct api_server *s = userdata;
	_cleanup_close_ int cfd = -1;
	struct api_conn *c;
	socklen_t len;
	int r;

	cfd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			klog(s->log, LOG_WARNING, "API socket %s: accept: %m", s->path);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return 0;
	c->srv = s;
	c->id = ++s->next_id;
	c->fd = -1;
	len = sizeof(c->peer);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
		klog(s->log, LOG_WARNING, "API socket %s: SO_PEERCRED: %m", s->path);
		free(c);
		return 0;
	}
	r = sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c);
	if (r >= 0)
		r = sd_event_add_time(s->event, &c->timer, CLOCK_MONOTONIC, now_usec() + API_IO_TIMEOUT_USEC,
				      USEC_PER_SEC, on_conn_timer, c);
	if (r < 0) {
		sd_event_source_disable_unref(c->io);
		free(c);
		return 0;
	}
	c->fd = TAKE_FD(cfd);
	c->next = s->conns;
	s->conns = c;
	s->n_conns++;
	if (!peer_allowed(s, &c->peer)) {
		klog(s->log, LOG_NOTICE, "API: refused pid %d uid %u: not root and not in group '%s'", (int)c->peer.pid,
		     (unsigned)c->peer.uid, s->group);
		/* Answered after the request is read: closing on unread data would reset the
		 * connection and the client would never see why. */
		c->refusal = api_error(-EACCES, "permission denied: uid %u is neither root nor a member of group '%s'",
				       (unsigned)c->peer.uid, s->group);
	} else if (s->n_conns > API_MAX_CONNECTIONS)
		c->refusal = api_error(-EBUSY, "too many API connections (%u); try again", API_MAX_CONNECTIONS);
	return 0;
}

void api_server_reply(struct api_server *s, uint64_t conn_id, json_t *reply)
{
	for (struct api_conn *c = s->conns; c; c = c->next)
		if (c->id == conn_id && c->state == CONN_WAITING) {
			conn_send(c, reply);
			return;
		}
	klog(s->log, LOG_DEBUG, "API connection %" PRIu64 " is gone; its answer is dropped", conn_id);
	json_decref(reply);
}

void api_server_answer_waiting(struct api_server *s, const json_t *reply)
{
	_cleanup_free_ char *text = json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII);
	_cleanup_free_ char *line = NULL;

	if (!text || asprintf(&line, "%s\n", text) < 0)
		return;
	for (struct api_conn *c = s->conns; c; c = c->next)
		if (c->state == CONN_WAITING)
			(void)send(c->fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* ---- the listening socket ------------------------------------------------------------------- */

static int mkdir_parents_of(const char *path)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static gid_t lookup_group(struct api_server *s, const char *name)
{
	struct group gr, *res = NULL;
	char buf[16384];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res) {
		klog(s->log, LOG_NOTICE, "API group '%s' does not exist: only root may use %s", name, s->path);
		return (gid_t)-1;
	}
	return res->gr_gid;
}

int api_server_set_group(struct api_server *s, const char *group)
{
	char *copy = strdup(group);

	if (!copy)
		return -ENOMEM;
	free(s->group);
	s->group = copy;
	s->gid = lookup_group(s, group);
	/* Owner root (or us), group as configured; without the group, our own, so that members
	 * of a group named earlier lose access at the file, not just at the credential check. */
	if (chown(s->path, geteuid(), s->gid != (gid_t)-1 ? s->gid : getegid()) < 0) {
		int r = -errno;

		klog(s->log, LOG_WARNING, "Cannot give %s to group '%s': %s", s->path, group, strerror(-r));
		return r;
	}
	return 0;
}

int api_server_new(sd_event *e, struct klog *log, const char *path, const char *group,
		   const struct api_server_ops *ops, void *userdata, struct api_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct api_server *s;
	mode_t old_umask;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = e;
	s->log = log;
	s->ops = ops;
	s->userdata = userdata;
	s->gid = (gid_t)-1;
	s->fd = -1;
	s->path = strdup(path);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = mkdir_parents_of(path);
	if (r < 0)
		goto fail;

	/* A socket file that still answers belongs to a running daemon: never steal it. */
	{
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe < 0) {
			r = -errno;
			goto fail;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			r = -EADDRINUSE;
			goto fail;
		}
		if (errno == ECONNREFUSED)
			(void)unlink(path); /* stale, left by a daemon that died */
	}

	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = -errno;
		goto fail;
	}
	/* The mode must hold from the first instant the file exists, hence umask, not chmod. */
	old_umask = umask(0117);
	r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0)
		goto fail;
	if (listen(s->fd, 64) < 0) {
		r = -errno;
		goto fail;
	}
	(void)api_server_set_group(s, group); /* logged; root still gets in */
	if (!s->group) {
		r = -ENOMEM;
		goto fail;
	}
	r = sd_event_add_io(e, &s->listen_src, s->fd, EPOLLIN, on_accept, s);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
		(void)unlink(path);
	}
	free(s->path);
	free(s->group);
	free(s);
	return r;
}

void api_server_free(struct api_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_free(s->conns);
	sd_event_source_disable_unref(s->listen_src);
	if (s->fd >= 0) {
		close(s->fd);
		(void)unlink(s->path);
	}
	free(s->path);
	free(s->group);
	free(s);
}
