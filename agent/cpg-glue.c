/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "cpg-glue.h"
#include "macros.h"
#include "quorum-votes.h"

#define RECONNECT_MIN_USEC (100 * USEC_PER_MSEC)
#define RETRY_MIN_USEC (10 * USEC_PER_MSEC)
#define RETRY_MAX_USEC (1 * USEC_PER_SEC)
#define BLOCKED_REPORT_USEC (1 * USEC_PER_SEC)

struct out_msg {
	struct out_msg *next;
	uint8_t *data; /* owned */
	size_t len;
};

struct cpg_glue {
	sd_event *event;                  /* borrowed */
	struct klog *log;                 /* borrowed */
	const struct cpg_glue_ops *ops;   /* borrowed */
	void *userdata;                   /* borrowed */
	struct cpg_name group;
	uint64_t reconnect_max_usec;

	/* The connection; the handles are valid only while `connected`. */
	bool connected;
	cpg_handle_t cpg;
	quorum_handle_t quorum;
	votequorum_handle_t vq;
	bool have_vq;                     /* votequorum is optional (no votes without it) */
	bool two_node;                    /* votequorum's last info: two_node, or a quorum device
					   * with two nodes' votes expected (quorum-votes.h) */
	uint32_t qdevice_votes;           /* ... a configured quorum device's votes, 0 without one */
	bool qdevice_voting;              /* ... and whether it votes for this partition */
	uint32_t nodeid;
	sd_event_source *cpg_src;         /* owned; NULL once disconnected */
	sd_event_source *quorum_src;      /* owned; NULL once disconnected */
	bool in_dispatch;                 /* inside cpg/quorum dispatch: handles must stay alive */
	bool failed;                      /* lost while sending or dispatching; torn down from the
					   * loop (lost_defer or the dispatch's return), never from
					   * inside a hook that is still draining the core */
	const char *fail_reason;          /* static text for the log line */
	sd_event_source *lost_defer;      /* owned: runs connection_lost() on the next iteration */
	bool stopped;                     /* cpg_glue_stop() ran: no more hooks, no reconnects */

	/* Reconnecting. */
	sd_event_source *reconnect_timer; /* owned */
	uint64_t backoff_usec;            /* next wait before reconnecting */
	unsigned failures;                /* consecutive failed connection attempts */

	/* Outgoing FIFO. */
	struct out_msg *head, **tail;     /* owned list */
	size_t n_queued;
	sd_event_source *retry_timer;     /* owned; armed while corosync says TRY_AGAIN */
	uint64_t retry_usec;
	uint64_t blocked_since;           /* monotonic usec of the first TRY_AGAIN; 0 = not blocked */
	bool blocked_reported;
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* The one place corosync's error space becomes errno (as corosync's own qb_to_cs_error, reversed). */
static int cs_to_errno(cs_error_t e)
{
	switch (e) {
	case CS_OK: return 0;
	case CS_ERR_LIBRARY: return -ENOTCONN;
	case CS_ERR_VERSION: return -EPROTONOSUPPORT;
	case CS_ERR_INIT: return -ENOTCONN;
	case CS_ERR_TIMEOUT: return -ETIMEDOUT;
	case CS_ERR_TRY_AGAIN: return -EAGAIN;
	case CS_ERR_INVALID_PARAM: return -EINVAL;
	case CS_ERR_NO_MEMORY: return -ENOMEM;
	case CS_ERR_BAD_HANDLE: return -EBADF;
	case CS_ERR_BUSY: return -EBUSY;
	case CS_ERR_ACCESS: return -EACCES;
	case CS_ERR_NOT_EXIST: return -ENOENT;
	case CS_ERR_NAME_TOO_LONG: return -ENAMETOOLONG;
	case CS_ERR_EXIST: return -EEXIST;
	case CS_ERR_NO_SPACE: return -ENOSPC;
	case CS_ERR_INTERRUPT: return -EINTR;
	case CS_ERR_NOT_SUPPORTED: return -EOPNOTSUPP;
	case CS_ERR_TOO_BIG: return -EMSGSIZE;
	case CS_ERR_MESSAGE_ERROR: return -EBADMSG;
	case CS_ERR_QUEUE_FULL: return -ENOBUFS;
	default: return -EIO;
	}
}

static const char *cs_text(cs_error_t e)
{
	return strerror(-cs_to_errno(e) ?: EIO);
}

static void queue_clear(struct cpg_glue *g)
{
	while (g->head) {
		struct out_msg *m = g->head;

		g->head = m->next;
		free(m->data);
		free(m);
	}
	g->tail = &g->head;
	g->n_queued = 0;
	g->blocked_since = 0;
	g->blocked_reported = false;
	g->retry_usec = RETRY_MIN_USEC;
	if (g->retry_timer)
		sd_event_source_set_enabled(g->retry_timer, SD_EVENT_OFF);
}

static void schedule_reconnect(struct cpg_glue *g)
{
	uint64_t wait = g->backoff_usec;

	g->backoff_usec = g->backoff_usec * 2 > g->reconnect_max_usec ? g->reconnect_max_usec : g->backoff_usec * 2;
	sd_event_source_set_time(g->reconnect_timer, now_usec() + wait);
	sd_event_source_set_enabled(g->reconnect_timer, SD_EVENT_ONESHOT);
}

/* Drops every handle. Must not run inside a dispatch of those handles. */
static void teardown(struct cpg_glue *g)
{
	g->cpg_src = sd_event_source_disable_unref(g->cpg_src);
	g->quorum_src = sd_event_source_disable_unref(g->quorum_src);
	if (g->cpg) {
		cpg_finalize(g->cpg);
		g->cpg = 0;
	}
	if (g->quorum) {
		quorum_finalize(g->quorum);
		g->quorum = 0;
	}
	if (g->have_vq) {
		votequorum_finalize(g->vq);
		g->have_vq = false;
	}
	queue_clear(g);
	g->failed = false;
}

/* The connection is gone: tell the core at once, then come back with backoff. */
static void connection_lost(struct cpg_glue *g, const char *why)
{
	sd_event_source_set_enabled(g->lost_defer, SD_EVENT_OFF);
	if (g->in_dispatch) {
		g->failed = true; /* the dispatch still uses the handle; finish when it returns */
		g->fail_reason = why;
		return;
	}
	if (!g->connected && !g->cpg)
		return;
	klog(g->log, LOG_WARNING, "Lost the connection to corosync (%s): no membership or leadership until reconnected", why);
	g->connected = false;
	queue_clear(g);
	/* Tell the core before finalizing: finalizing handles of a dead corosync can take 100+ ms,
	 * and leadership must end at once. Sends from the hook are dropped (not connected). */
	if (!g->stopped)
		g->ops->disconnected(g->userdata);
	teardown(g);
	if (!g->stopped)
		schedule_reconnect(g);
}

/* ---- outgoing ------------------------------------------------------------------------------- */

/*
 * A send failed. Sends happen while the owner performs the core's actions, so reporting the loss
 * right here would feed the core a new event in the middle of that; finish on the next loop
 * iteration instead (nothing more is sent or delivered meanwhile).
 */
static void send_failed(struct cpg_glue *g, const char *why)
{
	g->failed = true;
	g->fail_reason = why;
	if (!g->in_dispatch)
		sd_event_source_set_enabled(g->lost_defer, SD_EVENT_ONESHOT);
}

static int on_lost_defer(sd_event_source *s, void *userdata)
{
	struct cpg_glue *g = userdata;

	if (g->failed)
		connection_lost(g, g->fail_reason ? g->fail_reason : "send failed");
	return 0;
}

static void flush(struct cpg_glue *g)
{
	while (g->connected && !g->failed && g->head) {
		struct out_msg *m = g->head;
		struct iovec iov = { .iov_base = m->data, .iov_len = m->len };
		cs_error_t e = cpg_mcast_joined(g->cpg, CPG_TYPE_AGREED, &iov, 1);

		if (e == CS_ERR_TRY_AGAIN) {
			uint64_t now = now_usec();

			if (!g->blocked_since)
				g->blocked_since = now;
			if (!g->blocked_reported && now - g->blocked_since > BLOCKED_REPORT_USEC) {
				g->blocked_reported = true;
				klog(g->log, LOG_WARNING, "Corosync has refused to send for %.1fs (%zu messages queued)",
				     (double)(now - g->blocked_since) / 1e6, g->n_queued);
				g->ops->send_blocked(g->userdata);
			}
			sd_event_source_set_time(g->retry_timer, now + g->retry_usec);
			sd_event_source_set_enabled(g->retry_timer, SD_EVENT_ONESHOT);
			g->retry_usec = g->retry_usec * 2 > RETRY_MAX_USEC ? RETRY_MAX_USEC : g->retry_usec * 2;
			return;
		}
		if (e != CS_OK) {
			if (e == CS_ERR_TOO_BIG || e == CS_ERR_INVALID_PARAM) {
				/* A message corosync can never take; keeping it would block the queue forever. */
				klog(g->log, LOG_ERR, "Dropping a %zu-byte message corosync refuses: %s", m->len, cs_text(e));
				g->head = m->next;
				if (!g->head)
					g->tail = &g->head;
				g->n_queued--;
				free(m->data);
				free(m);
				continue;
			}
			send_failed(g, cs_text(e));
			return;
		}
		g->head = m->next;
		if (!g->head)
			g->tail = &g->head;
		g->n_queued--;
		free(m->data);
		free(m);
		if (g->blocked_since) {
			if (g->blocked_reported)
				klog(g->log, LOG_NOTICE, "Corosync accepts messages again after %.1fs",
				     (double)(now_usec() - g->blocked_since) / 1e6);
			g->blocked_since = 0;
			g->blocked_reported = false;
			g->retry_usec = RETRY_MIN_USEC;
		}
	}
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	flush(userdata);
	return 0;
}

void cpg_glue_send(struct cpg_glue *g, uint8_t *data, size_t len)
{
	struct out_msg *m;

	if (!g->connected || g->failed) {
		free(data); /* would belong to a view we are no longer part of */
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		/* Losing a message silently would break the protocol; a reconnect resyncs instead. */
		free(data);
		send_failed(g, "out of memory queueing a message");
		return;
	}
	m->data = data;
	m->len = len;
	*g->tail = m;
	g->tail = &m->next;
	g->n_queued++;
	/* While a retry is pending, corosync is known to be full: wait for the timer. */
	if (!g->blocked_since)
		flush(g);
}

/* ---- corosync callbacks --------------------------------------------------------------------- */

static void on_cpg_deliver(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
			   void *msg, size_t len)
{
	struct cpg_glue *g = NULL;

	if (cpg_context_get(handle, (void **)&g) != CS_OK || !g || g->failed || g->stopped)
		return;
	g->ops->message(g->userdata, nodeid, msg, len);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void on_cpg_confchg(cpg_handle_t handle, const struct cpg_name *group,
			   const struct cpg_address *members, size_t n_members,
			   const struct cpg_address *left, size_t n_left,
			   const struct cpg_address *joined, size_t n_joined)
{
	struct cpg_glue *g = NULL;
	uint32_t ids[CPG_MEMBERS_MAX];
	struct core_left gone[CPG_MEMBERS_MAX];
	size_t n = 0, k = 0, w = 0;

	if (cpg_context_get(handle, (void **)&g) != CS_OK || !g || g->failed || g->stopped)
		return;
	for (size_t i = 0; i < n_members && i < CPG_MEMBERS_MAX; i++)
		ids[n++] = members[i].nodeid;
	/* Two daemons of one cluster on one node would share a node id; the core counts nodes. */
	qsort(ids, n, sizeof(ids[0]), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && ids[w - 1] == ids[i]) {
			klog(g->log, LOG_WARNING, "Two processes of node %u are in CPG group '%s'; counting the node once",
			     ids[i], g->group.value);
			continue;
		}
		ids[w++] = ids[i];
	}
	n = w;
	for (size_t i = 0; i < n_left && i < CPG_MEMBERS_MAX; i++)
		gone[k++] = (struct core_left){ .nodeid = left[i].nodeid, .reason = left[i].reason };
	klog(g->log, LOG_DEBUG, "CPG view: %zu members, %zu joined, %zu left", n, n_joined, n_left);
	g->ops->confchg(g->userdata, ids, n, gone, k);
}

/* Once per change: how kvmcd counts votes with (or without) a quorum device. */
static void log_qdevice(struct cpg_glue *g, const struct quorum_votes *v)
{
	if (!v->qdevice_votes) {
		if (g->qdevice_votes)
			klog(g->log, LOG_NOTICE, "votequorum has no quorum device any more");
		return;
	}
	klog(g->log, LOG_NOTICE, "votequorum has a quorum device (%u vote%s): kvmcd counts the nodes' votes only, %u expected%s",
	     v->qdevice_votes, v->qdevice_votes == 1 ? "" : "s", v->expected,
	     v->two_node ? "; two nodes: a lone survivor acts only after it won the ONTAP claim, as with two_node" : "");
}

static void on_quorum_notify(quorum_handle_t handle, uint32_t quorate, struct quorum_ring_id ring_id,
			     uint32_t n_members, const uint32_t *members)
{
	struct cpg_glue *g = NULL;
	struct votequorum_info info = { 0 };
	uint32_t total = n_members, expected = 0;

	if (quorum_context_get(handle, (const void **)&g) != CS_OK || !g || g->failed || g->stopped)
		return;
	/* The quorum service says yes/no; votequorum tells how far from the line we are -- in the
	 * nodes' votes: a quorum device's are taken out (quorum-votes.h). */
	if (g->have_vq) {
		cs_error_t e = votequorum_getinfo(g->vq, g->nodeid, &info);

		if (e == CS_OK) {
			struct quorum_votes v;

			quorum_votes_from_info(&info, &v);
			total = v.total;
			expected = v.expected;
			if (v.qdevice_votes != g->qdevice_votes || v.two_node != g->two_node)
				log_qdevice(g, &v);
			if (v.qdevice_votes && v.qdevice_voting != g->qdevice_voting)
				klog(g->log, LOG_INFO, "The quorum device %s for this partition%s",
				     v.qdevice_voting ? "votes" : "does not vote",
				     v.qdevice_registered ? "" : " (no qdevice daemon is registered on this node)");
			g->two_node = v.two_node;
			g->qdevice_votes = v.qdevice_votes;
			g->qdevice_voting = v.qdevice_voting;
		} else
			klog(g->log, LOG_DEBUG, "votequorum_getinfo: %s", cs_text(e));
	}
	klog(g->log, LOG_DEBUG, "Quorum notification: %s, %u nodes in the ring, node votes %u/%u%s",
	     quorate ? "quorate" : "not quorate", n_members, total, expected,
	     g->qdevice_votes ? (g->qdevice_voting ? ", the quorum device votes" : ", the quorum device does not vote") : "");
	g->ops->quorum(g->userdata, quorate != 0, total, expected, members, n_members);
}

/* One readiness event on a corosync fd: a hang-up or a failed dispatch (or a send that failed
 * inside a callback) drops the whole connection. */
static int dispatch_io(struct cpg_glue *g, uint32_t revents, const char *hangup_reason,
		       cs_error_t (*dispatch)(struct cpg_glue *g))
{
	cs_error_t e;

	if (revents & (EPOLLHUP | EPOLLERR)) {
		connection_lost(g, hangup_reason);
		return 0;
	}
	g->in_dispatch = true;
	e = dispatch(g);
	g->in_dispatch = false;
	if (g->failed)
		connection_lost(g, g->fail_reason ? g->fail_reason : "send failed");
	else if (e != CS_OK && e != CS_ERR_TRY_AGAIN)
		connection_lost(g, cs_text(e));
	return 0;
}

static cs_error_t cpg_dispatch_all(struct cpg_glue *g) { return cpg_dispatch(g->cpg, CS_DISPATCH_ALL); }
static cs_error_t quorum_dispatch_all(struct cpg_glue *g) { return quorum_dispatch(g->quorum, CS_DISPATCH_ALL); }

static int on_cpg_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	return dispatch_io(userdata, revents, "CPG connection hung up", cpg_dispatch_all);
}

static int on_quorum_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	return dispatch_io(userdata, revents, "quorum connection hung up", quorum_dispatch_all);
}

/* ---- connecting ----------------------------------------------------------------------------- */

/* One attempt. Returns 0, or a negative errno with *step naming what failed (handles dropped). */
static int try_connect(struct cpg_glue *g, const char **step)
{
	cpg_model_v1_data_t cpg_model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = on_cpg_deliver,
		.cpg_confchg_fn = on_cpg_confchg,
	};
	quorum_model_v1_data_t q_model = {
		.model = QUORUM_MODEL_V1,
		.quorum_notify_fn = on_quorum_notify,
	};
	uint32_t qtype = 0;
	int cpg_fd = -1, q_fd = -1, r;
	cs_error_t e;

#define STEP(call, name) do { e = (call); if (e != CS_OK) { *step = (name); r = cs_to_errno(e); goto fail; } } while (0)
	STEP(cpg_model_initialize(&g->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&cpg_model, g), "cpg_model_initialize");
	STEP(cpg_fd_get(g->cpg, &cpg_fd), "cpg_fd_get");
	STEP(cpg_local_get(g->cpg, &g->nodeid), "cpg_local_get");
	STEP(quorum_model_initialize(&g->quorum, QUORUM_MODEL_V1, (quorum_model_data_t *)&q_model, &qtype, g),
	     "quorum_model_initialize");
	STEP(quorum_fd_get(g->quorum, &q_fd), "quorum_fd_get");
	e = votequorum_initialize(&g->vq, NULL);
	g->have_vq = e == CS_OK;
	if (!g->have_vq)
		klog(g->log, LOG_DEBUG, "votequorum unavailable (%s): vote counts not reported", cs_text(e));

	r = sd_event_add_io(g->event, &g->cpg_src, cpg_fd, EPOLLIN, on_cpg_io, g);
	if (r < 0) {
		*step = "sd_event_add_io";
		goto fail;
	}
	r = sd_event_add_io(g->event, &g->quorum_src, q_fd, EPOLLIN, on_quorum_io, g);
	if (r < 0) {
		*step = "sd_event_add_io";
		goto fail;
	}
	STEP(quorum_trackstart(g->quorum, CS_TRACK_CHANGES | CS_TRACK_CURRENT), "quorum_trackstart");
	STEP(cpg_join(g->cpg, &g->group), "cpg_join");
#undef STEP
	if (!qtype)
		klog(g->log, LOG_WARNING, "Corosync has no quorum provider: every partition counts as quorate");
	return 0;
fail:
	teardown(g);
	return r;
}

static void do_connect(struct cpg_glue *g)
{
	const char *step = "?";
	int r;

	if (g->connected || g->stopped)
		return;
	r = try_connect(g, &step);
	if (r < 0) {
		/* Log the first failure loudly, the repeats quietly: corosync may be down for hours. */
		klog(g->log, g->failures ? LOG_DEBUG : LOG_WARNING,
		     "Cannot connect to corosync (%s: %s); retrying with backoff up to %.1fs", step, strerror(-r),
		     (double)g->reconnect_max_usec / 1e6);
		g->failures++;
		schedule_reconnect(g);
		return;
	}
	klog(g->log, LOG_NOTICE, "Connected to corosync as node %u, joined CPG group '%s'%s", g->nodeid,
	     g->group.value, g->failures ? " (after retrying)" : "");
	g->connected = true;
	g->failures = 0;
	g->backoff_usec = RECONNECT_MIN_USEC;
	g->ops->connected(g->userdata, g->nodeid);
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	do_connect(userdata);
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int cpg_glue_new(sd_event *e, struct klog *log, const char *group, unsigned reconnect_max_ms,
		 const struct cpg_glue_ops *ops, void *userdata, struct cpg_glue **out)
{
	struct cpg_glue *g;
	size_t len = strlen(group);
	int r;

	if (len == 0 || len >= CPG_MAX_NAME_LENGTH)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->event = e;
	g->log = log;
	g->ops = ops;
	g->userdata = userdata;
	memcpy(g->group.value, group, len);
	g->group.length = (uint32_t)len;
	g->reconnect_max_usec = (uint64_t)reconnect_max_ms * USEC_PER_MSEC;
	g->backoff_usec = RECONNECT_MIN_USEC;
	g->tail = &g->head;
	g->retry_usec = RETRY_MIN_USEC;
	r = sd_event_add_time(e, &g->reconnect_timer, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC, on_reconnect_timer, g);
	if (r >= 0)
		r = sd_event_source_set_enabled(g->reconnect_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(e, &g->retry_timer, CLOCK_MONOTONIC, 0, 1 * USEC_PER_MSEC, on_retry_timer, g);
	if (r >= 0)
		r = sd_event_source_set_enabled(g->retry_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(e, &g->lost_defer, on_lost_defer, g);
	if (r >= 0)
		r = sd_event_source_set_enabled(g->lost_defer, SD_EVENT_OFF);
	if (r < 0) {
		cpg_glue_free(g);
		return r;
	}
	*out = g;
	return 0;
}

void cpg_glue_start(struct cpg_glue *g)
{
	do_connect(g);
}

void cpg_glue_stop(struct cpg_glue *g)
{
	if (g->stopped)
		return;
	g->stopped = true;
	sd_event_source_set_enabled(g->reconnect_timer, SD_EVENT_OFF);
	if (g->connected) {
		/* Others see a clean LEAVE (reason 2), not a crash, and need not wait for anything. */
		cs_error_t e = cpg_leave(g->cpg, &g->group);

		if (e != CS_OK)
			klog(g->log, LOG_WARNING, "cpg_leave: %s", cs_text(e));
		else
			klog(g->log, LOG_INFO, "Left CPG group '%s'", g->group.value);
	}
	g->connected = false;
	teardown(g);
}

void cpg_glue_free(struct cpg_glue *g)
{
	if (!g)
		return;
	cpg_glue_stop(g);
	sd_event_source_disable_unref(g->reconnect_timer);
	sd_event_source_disable_unref(g->retry_timer);
	sd_event_source_disable_unref(g->lost_defer);
	free(g);
}

void cpg_glue_set_reconnect_max(struct cpg_glue *g, unsigned ms)
{
	g->reconnect_max_usec = (uint64_t)ms * USEC_PER_MSEC;
	if (g->backoff_usec > g->reconnect_max_usec)
		g->backoff_usec = g->reconnect_max_usec;
}

bool cpg_glue_is_connected(const struct cpg_glue *g) { return g->connected; }
bool cpg_glue_is_two_node(const struct cpg_glue *g) { return g->two_node; }
size_t cpg_glue_queued(const struct cpg_glue *g) { return g->n_queued; }
