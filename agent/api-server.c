/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "spec.h"

#define OOM_REPLY "{\"ok\":false,\"error\":\"out of memory\",\"errno\":12}"

enum conn_state {
	CONN_HEADER,  /* collecting the request's header line */
	CONN_BODY,    /* collecting the spec_length raw bytes that follow it */
	CONN_WAITING, /* the daemon owes an answer (spec-apply waiting for a commit) */
	CONN_WRITING, /* sending the reply, then close */
};

struct api_conn {
	struct api_conn *next;
	struct api_server *srv;     /* borrowed back pointer */
	uint64_t id;
	int fd;                     /* owned */
	sd_event_source *io;        /* owned */
	sd_event_source *timer;     /* owned: the deadline of the current phase */
	enum conn_state state;
	struct ucred peer;
	char *in;                   /* owned: header bytes, and whatever came after its '\n' */
	size_t in_len, in_cap;
	json_t *req;                /* owned: the parsed header while its body is read; else NULL */
	char *body;                 /* owned: body_want bytes, NULL outside CONN_BODY */
	size_t body_len, body_want; /* body_want is counted in srv->body_bytes while body is set */
	char *out;                  /* owned reply line */
	size_t out_len, out_pos;
};

/* What a flood produces; logged once per burst, then counted (see trouble()). */
enum trouble {
	TROUBLE_CAP,     /* refused: over the connection cap */
	TROUBLE_FDS,     /* refused: file descriptors running short */
	TROUBLE_BODIES,  /* refused: too many spec bytes being received */
	TROUBLE_PERM,    /* refused: the peer may not use the API */
	TROUBLE_ACCEPT,  /* accept() or SO_PEERCRED failed */
	TROUBLE_TIMEOUT, /* a client too slow to send its request or take its reply */
	_TROUBLE_MAX,
};

static const char *const trouble_names[_TROUBLE_MAX] = {
	[TROUBLE_CAP] = "refused over the connection cap",
	[TROUBLE_FDS] = "refused for want of file descriptors",
	[TROUBLE_BODIES] = "refused with too many specs in flight",
	[TROUBLE_PERM] = "refused permission",
	[TROUBLE_ACCEPT] = "accept failures",
	[TROUBLE_TIMEOUT] = "timed out",
};

struct api_server {
	sd_event *event;                  /* borrowed */
	struct klog *log;                 /* borrowed */
	const struct api_server_ops *ops; /* borrowed */
	void *userdata;                   /* borrowed */
	char *path;                       /* owned */
	char *group;                      /* owned: the group name as configured */
	gid_t gid;                        /* (gid_t)-1 when the group does not exist */
	int fd;                           /* owned listening socket */
	sd_event_source *listen_src;      /* owned; off while accepting is paused */
	sd_event_source *resume_src;      /* owned: ends a pause of accepting; off otherwise */
	sd_event_source *log_src;         /* owned: ends the current logging interval of a burst */
	struct api_conn *conns;           /* owned list */
	unsigned n_conns;
	unsigned max_conns;               /* the cap; the last max_conns/8 only for root */
	size_t body_bytes;                /* announced bytes of the bodies being received */
	uint64_t next_id;
	bool accept_paused;
	bool in_burst;                    /* trouble was logged; log_src is running */
	bool logged[_TROUBLE_MAX];        /* this kind was logged in full in this burst */
	unsigned counts[_TROUBLE_MAX];    /* trouble since the last line */
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static json_t *error_reply(int err, const char *outcome, const char *fmt, va_list ap) _printf_(3, 0);
static json_t *error_reply(int err, const char *outcome, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL;
	json_t *reply;

	if (vasprintf(&text, fmt, ap) < 0)
		return NULL;
	reply = json_pack("{sbsssi}", "ok", 0, "error", text, "errno", -err);
	if (reply && outcome && json_object_set_new(reply, "outcome", json_string(outcome)) < 0) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}

json_t *api_error(int err, const char *fmt, ...)
{
	va_list ap;
	json_t *reply;

	va_start(ap, fmt);
	reply = error_reply(err, NULL, fmt, ap);
	va_end(ap);
	return reply;
}

json_t *api_refusal(int err, const char *fmt, ...)
{
	va_list ap;
	json_t *reply;

	va_start(ap, fmt);
	reply = error_reply(err, API_OUTCOME_REFUSED, fmt, ap);
	va_end(ap);
	return reply;
}

/* reply (borrowed) as one line with its '\n' (owned); the out-of-memory reply if it cannot be
 * dumped; NULL only when not even that can be allocated. */
static char *line_of(const json_t *reply, size_t *len)
{
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL, *p;
	size_t n;

	if (!text)
		text = strdup(OOM_REPLY);
	if (!text)
		return NULL;
	n = strlen(text);
	p = realloc(text, n + 2);
	if (!p) {
		free(text);
		return NULL;
	}
	p[n] = '\n';
	p[n + 1] = '\0';
	*len = n + 1;
	return p;
}

/* ---- logging a flood without flooding the log ----------------------------------------------- */

/*
 * The first trouble of each kind in a burst is logged in full; more of that kind is only
 * counted, and one summary line per API_LOG_INTERVAL_USEC gives the counts. An interval
 * without trouble ends the burst. A flood thus costs at most _TROUBLE_MAX lines, then one line
 * per interval.
 */
static void trouble(struct api_server *s, enum trouble t, int level, const char *fmt, ...) _printf_(4, 5);
static void trouble(struct api_server *s, enum trouble t, int level, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	int r;

	if (s->logged[t]) {
		s->counts[t]++;
		return;
	}
	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	klog(s->log, level, "%s (more of this is counted and summarised every %us)", r < 0 ? fmt : text,
	     (unsigned)(API_LOG_INTERVAL_USEC / USEC_PER_SEC));
	s->logged[t] = true;
	if (s->in_burst)
		return;
	s->in_burst = true;
	sd_event_source_set_time(s->log_src, now_usec() + API_LOG_INTERVAL_USEC);
	sd_event_source_set_enabled(s->log_src, SD_EVENT_ONESHOT);
}

static int on_log_interval(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct api_server *s = userdata;
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	bool any = false;

	for (int t = 0; t < _TROUBLE_MAX; t++) {
		if (!s->counts[t])
			continue;
		if (f)
			fprintf(f, "%s%u %s", any ? ", " : "", s->counts[t], trouble_names[t]);
		s->counts[t] = 0;
		any = true;
	}
	if (f)
		fclose(f);
	if (!any) {
		s->in_burst = false;
		memset(s->logged, 0, sizeof(s->logged));
		return 0;
	}
	klog(s->log, LOG_WARNING, "API socket %s, last %us: %s (%u connections open, cap %u)", s->path,
	     (unsigned)(API_LOG_INTERVAL_USEC / USEC_PER_SEC), text ? text : "trouble", s->n_conns, s->max_conns);
	sd_event_source_set_time(s->log_src, now_usec() + API_LOG_INTERVAL_USEC);
	sd_event_source_set_enabled(s->log_src, SD_EVENT_ONESHOT);
	return 0;
}

/* ---- file descriptors ----------------------------------------------------------------------- */

static rlim_t fd_soft_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	return rl.rlim_cur;
}

/* Descriptors below the soft limit that API connections leave to everything else. */
static rlim_t fd_reserve(rlim_t soft)
{
	return soft / 2 < API_FD_RESERVE ? soft / 2 : API_FD_RESERVE;
}

/* systemd starts services with a soft limit of 1024 and a high hard limit: take what we may.
 * Nothing in kvmcd uses select(), so descriptors above 1023 are fine. */
static void raise_fd_limit(struct api_server *s)
{
	struct rlimit rl;
	rlim_t was, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	was = rl.rlim_cur;
	want = rl.rlim_max < API_FD_LIMIT_WANT ? rl.rlim_max : API_FD_LIMIT_WANT;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			klog(s->log, LOG_WARNING, "Cannot raise the open files limit from %ju to %ju: %m", (uintmax_t)was,
			     (uintmax_t)want);
	}
	rl.rlim_cur = fd_soft_limit();
	if (was != rl.rlim_cur)
		klog(s->log, LOG_INFO, "Raised the open files limit from %ju to %ju", (uintmax_t)was, (uintmax_t)rl.rlim_cur);
	klog(s->log, rl.rlim_cur - fd_reserve(rl.rlim_cur) < 2u * s->max_conns ? LOG_WARNING : LOG_DEBUG,
	     "Open files limit %ju: API connections leave the last %ju descriptors to persistence, corosync and ONTAP",
	     (uintmax_t)rl.rlim_cur, (uintmax_t)fd_reserve(rl.rlim_cur));
}

/* ---- accepting, paused when accept() itself fails ------------------------------------------- */

static void resume_accepting(struct api_server *s)
{
	if (!s->accept_paused)
		return;
	s->accept_paused = false;
	sd_event_source_set_enabled(s->resume_src, SD_EVENT_OFF);
	sd_event_source_set_enabled(s->listen_src, SD_EVENT_ON);
}

/* The pending connection stays in the backlog and EPOLLIN stays up: trying again at once would
 * spin. Wait for a connection to close or for API_ACCEPT_PAUSE_USEC. */
static void pause_accepting(struct api_server *s, int err)
{
	trouble(s, TROUBLE_ACCEPT, LOG_WARNING,
		"API socket %s: accept: %s; not accepting for %us or until a connection closes (%u open)", s->path,
		strerror(-err), (unsigned)(API_ACCEPT_PAUSE_USEC / USEC_PER_SEC), s->n_conns);
	s->accept_paused = true;
	sd_event_source_set_enabled(s->listen_src, SD_EVENT_OFF);
	sd_event_source_set_time(s->resume_src, now_usec() + API_ACCEPT_PAUSE_USEC);
	sd_event_source_set_enabled(s->resume_src, SD_EVENT_ONESHOT);
}

static int on_resume(sd_event_source *src, uint64_t usec, void *userdata)
{
	resume_accepting(userdata);
	return 0;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_drop_body(struct api_conn *c)
{
	if (!c->body)
		return;
	free(c->body);
	c->body = NULL;
	c->srv->body_bytes -= c->body_want;
	c->body_len = c->body_want = 0;
}

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
	conn_drop_body(c);
	json_decref(c->req);
	free(c->in);
	free(c->out);
	free(c);
	resume_accepting(s); /* a descriptor came free */
}

/* Arms the deadline of the current phase, usec from now; 0 disarms it. */
static void conn_arm_timer(struct api_conn *c, uint64_t usec)
{
	if (usec)
		sd_event_source_set_time(c->timer, now_usec() + usec);
	sd_event_source_set_enabled(c->timer, usec ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

/* Queues reply (taken) and switches to writing; the write happens from the loop, never from
 * the caller's stack, so a reply can be posted from anywhere without freeing the connection
 * under someone's feet. Nothing more is read. */
static void conn_send(struct api_conn *c, json_t *reply)
{
	free(c->out);
	c->out = line_of(reply, &c->out_len);
	json_decref(reply);
	if (!c->out)
		c->out_len = 0;
	c->out_pos = 0;
	json_decref(c->req);
	c->req = NULL;
	conn_drop_body(c);
	c->state = CONN_WRITING;
	sd_event_source_set_io_events(c->io, EPOLLOUT);
	conn_arm_timer(c, API_IO_TIMEOUT_USEC);
}

/* A whole request (req taken): to the daemon. */
static void conn_dispatch(struct api_conn *c, json_t *req)
{
	struct api_server *s = c->srv;
	json_t *spec = json_object_get(req, "spec_text"), *reply;
	const char *cmd = json_string_value(json_object_get(req, "cmd")), *nul;

	/* Said here about the spec, not about JSON escapes in the request (an inline spec_text). */
	if (json_is_string(spec) &&
	    (nul = memchr(json_string_value(spec), '\0', json_string_length(spec)))) {
		conn_send(c, api_refusal(-EINVAL, "spec: byte %zu is a NUL byte; a spec is JSON text",
					 (size_t)(nul - json_string_value(spec))));
		json_decref(req);
		return;
	}
	klog(s->log, LOG_DEBUG, "API request '%s' from pid %d uid %u (connection %" PRIu64 ")", cmd,
	     (int)c->peer.pid, (unsigned)c->peer.uid, c->id);
	/* WAITING before the call: the answer may be posted from inside it. */
	c->state = CONN_WAITING;
	sd_event_source_set_io_events(c->io, 0); /* EPOLLHUP still tells us if the client leaves */
	conn_arm_timer(c, 0);
	reply = s->ops->request(s->userdata, c->id, cmd, req);
	json_decref(req);
	if (reply)
		conn_send(c, reply);
}

/* Offset of the first byte that is not UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or len. Only to say where; jansson decides. */
static size_t utf8_invalid_at(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char b = p[i];
		uint32_t cp;
		size_t n;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			n = 1, cp = b & 0x1f;
		else if (b >= 0xe0 && b <= 0xef)
			n = 2, cp = b & 0x0f;
		else if (b >= 0xf0 && b <= 0xf4)
			n = 3, cp = b & 0x07;
		else
			return i;
		if (len - i - 1 < n)
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n + 1;
	}
	return len;
}

static void conn_got_body(struct api_conn *c)
{
	json_t *req = TAKE_PTR(c->req), *text = json_stringn(c->body, c->body_len);
	size_t bad;

	if (!text) {
		bad = utf8_invalid_at((const unsigned char *)c->body, c->body_len);
		if (bad < c->body_len)
			conn_send(c, api_refusal(-EINVAL, "spec: byte %zu is not UTF-8; a spec is JSON text", bad));
		else
			conn_send(c, api_refusal(-ENOMEM, "out of memory taking the spec"));
		json_decref(req);
		return;
	}
	conn_drop_body(c);
	if (json_object_set_new(req, "spec_text", text) < 0) {
		conn_send(c, api_refusal(-ENOMEM, "out of memory taking the spec"));
		json_decref(req);
		return;
	}
	conn_dispatch(c, req);
}

/* The header is c->in[0..len) (its '\n' at len unless eof). Parses it; takes the body that
 * came with it, or dispatches a request without one. */
static void conn_got_header(struct api_conn *c, size_t len, bool eof)
{
	struct api_server *s = c->srv;
	json_error_t jerr;
	json_t *req, *jlen;
	json_int_t want;
	size_t extra;

	/* JSON_ALLOW_NUL: an inline spec_text with "\u0000" is then refused about the spec. */
	req = json_loadb(c->in, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!req) {
		conn_send(c, api_refusal(-EINVAL, "request header is not valid JSON: %s (position %d)", jerr.text,
					 jerr.position));
		return;
	}
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "cmd"))) {
		json_decref(req);
		conn_send(c, api_refusal(-EINVAL, "request must be an object with a string \"cmd\""));
		return;
	}
	jlen = json_object_get(req, "spec_length");
	if (!jlen) {
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
		conn_dispatch(c, req);
		return;
	}
	want = json_integer_value(jlen);
	extra = eof ? 0 : c->in_len - len - 1;
	if (!json_is_integer(jlen) || want < 0)
		conn_send(c, api_refusal(-EINVAL, "\"spec_length\" must be a non-negative integer"));
	else if (json_object_get(req, "spec_text"))
		conn_send(c, api_refusal(-EINVAL, "a request carries \"spec_text\" or \"spec_length\", not both"));
	else if (want > SPEC_MAX_BYTES)
		conn_send(c, api_refusal(-EMSGSIZE, "spec of %" JSON_INTEGER_FORMAT " bytes is larger than the limit of %u bytes",
					 want, SPEC_MAX_BYTES));
	else if (s->body_bytes + (size_t)want > API_MAX_BODIES_IN_FLIGHT) {
		trouble(s, TROUBLE_BODIES, LOG_WARNING, "API socket %s: already receiving %zu bytes of specs; refusing one of %" JSON_INTEGER_FORMAT " (pid %d)",
			s->path, s->body_bytes, want, (int)c->peer.pid);
		conn_send(c, api_refusal(-EBUSY, "kvmcd is receiving too many specs at once; try again"));
	} else if (extra > (size_t)want)
		conn_send(c, api_refusal(-EINVAL, "%zu bytes follow the %" JSON_INTEGER_FORMAT " spec bytes announced",
					 extra - (size_t)want, want));
	else if (!(c->body = malloc(want ? (size_t)want : 1)))
		conn_send(c, api_refusal(-ENOMEM, "out of memory for a spec of %" JSON_INTEGER_FORMAT " bytes", want));
	if (!c->body) {
		json_decref(req);
		return;
	}
	c->body_want = (size_t)want;
	s->body_bytes += c->body_want;
	if (extra)
		memcpy(c->body, c->in + len + 1, extra);
	c->body_len = extra;
	c->req = req;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	c->state = CONN_BODY;
	if (c->body_len == c->body_want)
		conn_got_body(c);
	else if (eof)
		conn_send(c, api_refusal(-EINVAL, "request ended after 0 of the %zu spec bytes it announced", c->body_want));
}

/* Room for more header bytes; false when the header is too long (then answered). */
static bool conn_header_room(struct api_conn *c)
{
	size_t cap;
	char *p;

	if (c->in_len < c->in_cap)
		return true;
	if (c->in_cap >= API_MAX_HEADER + 1) {
		conn_send(c, api_refusal(-EMSGSIZE, "request header longer than %u bytes without a newline", API_MAX_HEADER));
		return false;
	}
	cap = c->in_cap ? c->in_cap * 2 : 4096;
	if (cap > API_MAX_HEADER + 1)
		cap = API_MAX_HEADER + 1;
	p = realloc(c->in, cap);
	if (!p) {
		conn_send(c, api_refusal(-ENOMEM, "out of memory reading the request"));
		return false;
	}
	c->in = p;
	c->in_cap = cap;
	return true;
}

static void conn_eof(struct api_conn *c)
{
	if (c->state == CONN_BODY) {
		conn_send(c, api_refusal(-EINVAL, "request ended after %zu of the %zu spec bytes it announced", c->body_len,
					 c->body_want));
		return;
	}
	if (c->in_len == 0) {
		klog(c->srv->log, LOG_DEBUG, "API connection %" PRIu64 ": closed without a request", c->id);
		conn_free(c);
		return;
	}
	/* No newline: the client half-closed after its header; take it as is. */
	conn_got_header(c, c->in_len, true);
}

static void conn_read(struct api_conn *c)
{
	while (c->state == CONN_HEADER || c->state == CONN_BODY) {
		bool header = c->state == CONN_HEADER;
		char *buf;
		size_t room;
		ssize_t n;

		if (header && !conn_header_room(c))
			return;
		buf = header ? c->in + c->in_len : c->body + c->body_len;
		room = header ? c->in_cap - c->in_len : c->body_want - c->body_len;
		n = recv(c->fd, buf, room, MSG_DONTWAIT);
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
			conn_eof(c);
			return;
		}
		if (header) {
			char *nl = memchr(buf, '\n', (size_t)n);

			c->in_len += (size_t)n;
			if (nl)
				conn_got_header(c, (size_t)(nl - c->in), false);
		} else {
			c->body_len += (size_t)n;
			if (c->body_len == c->body_want)
				conn_got_body(c);
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
	case CONN_HEADER:
	case CONN_BODY:
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

	trouble(c->srv, TROUBLE_TIMEOUT, LOG_INFO, "API connection %" PRIu64 " (pid %d) timed out %s", c->id,
		(int)c->peer.pid, c->state == CONN_WRITING ? "taking its reply" : "sending its request");
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

/* Answers a connection that will not be served, without reading its request (reply taken);
 * the caller closes it. The line fits an empty socket buffer. */
static void refuse_now(int fd, json_t *reply)
{
	size_t len = 0;
	_cleanup_free_ char *line = line_of(reply, &len);

	json_decref(reply);
	if (line)
		(void)send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct api_server *s = userdata;
	_cleanup_close_ int cfd = -1;
	struct ucred peer;
	socklen_t len = sizeof(peer);
	struct api_conn *c;
	rlim_t soft;
	unsigned cap;
	int r;

	cfd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse. */
		pause_accepting(s, -errno);
		return 0;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		trouble(s, TROUBLE_ACCEPT, LOG_WARNING, "API socket %s: SO_PEERCRED: %s", s->path, strerror(errno));
		return 0;
	}
	/* Refusals are answered at once and closed: a refused client holds no descriptor. */
	if (!peer_allowed(s, &peer)) {
		trouble(s, TROUBLE_PERM, LOG_NOTICE, "API: refused pid %d uid %u: not root and not in group '%s'",
			(int)peer.pid, (unsigned)peer.uid, s->group);
		refuse_now(cfd, api_refusal(-EACCES, "permission denied: uid %u is neither root nor a member of group '%s'",
					    (unsigned)peer.uid, s->group));
		return 0;
	}
	/* A flood by an API group member must not lock root out. */
	cap = peer.uid == 0 ? s->max_conns : s->max_conns - s->max_conns / 8;
	if (s->n_conns >= cap) {
		trouble(s, TROUBLE_CAP, LOG_WARNING, "API socket %s: %u connections open, refusing more (pid %d uid %u)",
			s->path, s->n_conns, (int)peer.pid, (unsigned)peer.uid);
		refuse_now(cfd, api_refusal(-EBUSY, "too many API connections (%u); try again", s->n_conns));
		return 0;
	}
	/* The kernel hands out the lowest free descriptor: when that is already within the reserve,
	 * fewer than the reserve are left. */
	soft = fd_soft_limit();
	if ((rlim_t)cfd >= soft - fd_reserve(soft)) {
		trouble(s, TROUBLE_FDS, LOG_WARNING,
			"API socket %s: descriptor %d is among the last %ju below the open files limit of %ju, kept for persistence and corosync; refusing API connections (%u open)",
			s->path, cfd, (uintmax_t)fd_reserve(soft), (uintmax_t)soft, s->n_conns);
		refuse_now(cfd, api_refusal(-EMFILE, "too many API connections (%u); try again", s->n_conns));
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return 0;
	c->srv = s;
	c->id = ++s->next_id;
	c->fd = -1;
	c->peer = peer;
	c->state = CONN_HEADER;
	r = sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_conn_io, c);
	if (r >= 0)
		r = sd_event_add_time(s->event, &c->timer, CLOCK_MONOTONIC, now_usec() + API_REQUEST_TIMEOUT_USEC,
				      USEC_PER_SEC / 10, on_conn_timer, c);
	if (r < 0) {
		sd_event_source_disable_unref(c->io);
		free(c);
		return 0;
	}
	c->fd = TAKE_FD(cfd);
	c->next = s->conns;
	s->conns = c;
	s->n_conns++;
	return 0;
}

void api_server_set_max_connections(struct api_server *s, unsigned max)
{
	s->max_conns = max ? max : 1;
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
	size_t len = 0;
	_cleanup_free_ char *line = line_of(reply, &len);

	if (!line)
		return;
	for (struct api_conn *c = s->conns; c; c = c->next)
		if (c->state == CONN_WAITING)
			(void)send(c->fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
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
	s->max_conns = API_MAX_CONNECTIONS;
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
	if (listen(s->fd, 128) < 0) {
		r = -errno;
		goto fail;
	}
	(void)api_server_set_group(s, group); /* logged; root still gets in */
	if (!s->group) {
		r = -ENOMEM;
		goto fail;
	}
	r = sd_event_add_io(e, &s->listen_src, s->fd, EPOLLIN, on_accept, s);
	if (r >= 0)
		r = sd_event_add_time(e, &s->resume_src, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_resume, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->resume_src, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(e, &s->log_src, CLOCK_MONOTONIC, 0, USEC_PER_SEC, on_log_interval, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->log_src, SD_EVENT_OFF);
	if (r < 0)
		goto fail;
	raise_fd_limit(s);
	*out = s;
	return 0;
fail:
	sd_event_source_disable_unref(s->listen_src);
	sd_event_source_disable_unref(s->resume_src);
	sd_event_source_disable_unref(s->log_src);
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
	sd_event_source_disable_unref(s->resume_src);
	sd_event_source_disable_unref(s->log_src);
	if (s->fd >= 0) {
		close(s->fd);
		(void)unlink(s->path);
	}
	free(s->path);
	free(s->group);
	free(s);
}
