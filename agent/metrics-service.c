/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics service (issue 11): GET /metrics on [metrics] listen, and `kvmcctl metrics`, both
 * the text of metrics.h's renderer over the read verbs' JSON (status, datastore-list, vm-list,
 * node-list, fence-history, protection-status) plus the counters only this service keeps:
 *
 *   - fences that ended, by method and result, and their durations: every node sees every
 *     commit, so it follows the records fence/<node> (ha.h): a record that appears starts a
 *     fence (this node's monotonic clock at the commit that brought it), one whose status
 *     becomes "confirmed" ends it (confirmed_by names the method), one that becomes "failed"
 *     failed, one that goes away unconfirmed was cancelled (its node came back first). Every
 *     node counts the same fences;
 *   - VMs recovered: a VM record whose owner changed while its old owner had a fence record;
 *   - the ONTAP requests this node made while leading (leader_ontap_metrics()).
 *
 * HTTP: libmicrohttpd without threads (MHD_USE_EPOLL, no internal polling thread): its epoll
 * fd is one io source on the daemon's loop and MHD_run() is called when it is readable or
 * MHD's timeout passes, so a scrape runs on the loop like any API request (the state it reads
 * cannot change under it) and costs the loop only the render. The listening socket is bound by
 * us (a bind failure names the address and the errno), retried every LISTEN_RETRY_SEC: a port
 * in use must not stop the daemon, but status says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "leader-ontap.h"
#include "macros.h"
#include "metrics-service.h"
#include "metrics.h"
#include "service.h"

#define LISTEN_RETRY_SEC 10
#define FENCE_PREFIX "fence/"
#define VM_PREFIX "vm/"

static const double fence_le[] = { 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600 };

struct metrics {
	struct service_ctx *ctx;            /* borrowed */
	char *listen;                       /* owned: the [metrics] listen in force; NULL = none */
	struct MHD_Daemon *mhd;             /* owned */
	sd_event_source *io, *timer, *retry; /* owned */
	char error[256];                    /* the endpoint's problem, "" = none */
	/* the counters */
	json_t *fences_seen;                /* owned: {"<node>": {"status", "since" (usec)}} */
	json_t *owners;                     /* owned: {"<vm>": "<node>"} as last committed */
	json_t *fences_total;               /* owned: {"<method>": {"confirmed": n, "failed": n}} */
	uint64_t fence_counts[ARRAY_SIZE(fence_le) + 1];
	double fence_sum;
	uint64_t vm_recoveries, scrapes;
	bool primed;                        /* the first commit seen: what is there is not "new" */
};

static uint64_t mono_usec(struct metrics *m)
{
	uint64_t t = 0;

	sd_event_now(service_event(m->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

/* ---- the counters, from the committed records --------------------------------------------------- */

/* result: "confirmed", "failed" or "cancelled" (the node came back before a confirmation). */
static void fence_ended(struct metrics *m, const char *method, const char *k, uint64_t since)
{
	json_t *e = json_object_get(m->fences_total, method ?: "none");
	bool confirmed = !strcmp(k, "confirmed");

	if (!e) {
		e = json_pack("{sisisi}", "confirmed", 0, "failed", 0, "cancelled", 0);
		if (!e || json_object_set_new(m->fences_total, method ?: "none", e) < 0)
			return;
	}
	json_object_set_new(e, k, json_integer(json_integer_value(json_object_get(e, k)) + 1));
	if (confirmed && since) {
		double s = (double)(mono_usec(m) - since) / USEC_PER_SEC;
		size_t b = 0;
		while (b < ARRAY_SIZE(fence_le) && s > fence_le[b])
			b++;
		m->fence_counts[b]++;
		m->fence_sum += s;
	}
}

static void follow_fences(struct metrics *m, const json_t *records)
{
	json_t *now = json_object();
	const char *key, *node;
	const json_t *rec, *old;

	if (!now)
		return;
	json_object_foreach((json_t *)records, key, rec) {
		const char *status = json_string_value(json_object_get(rec, "status"));
		uint64_t since;

		if (strncmp(key, FENCE_PREFIX, strlen(FENCE_PREFIX)) != 0 || !status)
			continue;
		node = key + strlen(FENCE_PREFIX);
		old = json_object_get(m->fences_seen, node);
		since = old ? (uint64_t)json_integer_value(json_object_get(old, "since")) : (m->primed ? mono_usec(m) : 0);
		json_object_set_new(now, node, json_pack("{sssIss?}", "status", status, "since", (json_int_t)since, "method",
							 json_string_value(json_object_get(rec, "method"))));
		if (!m->primed)
			continue;
		if (!strcmp(status, "confirmed") &&
		    (!old || strcmp(json_string_value(json_object_get(old, "status")) ?: "", "confirmed") != 0))
			fence_ended(m, json_string_value(json_object_get(rec, "confirmed_by")), "confirmed", since);
		else if (!strcmp(status, "failed") &&
			 (!old || strcmp(json_string_value(json_object_get(old, "status")) ?: "", "failed") != 0))
			fence_ended(m, json_string_value(json_object_get(rec, "method")), "failed", 0);
	}
	/* a fence that went away before it was confirmed (the node came back first): cancelled */
	if (m->primed)
		json_object_foreach(m->fences_seen, node, old) {
			const char *st = json_string_value(json_object_get(old, "status")) ?: "";
			if (!json_object_get(now, node) && strcmp(st, "confirmed") && strcmp(st, "failed") &&
			    strcmp(st, "unfencing") && strcmp(st, "releasing"))
				fence_ended(m, json_string_value(json_object_get(old, "method")), "cancelled", 0);
		}
	json_decref(m->fences_seen);
	m->fences_seen = now;
}

static void follow_owners(struct metrics *m, const json_t *records)
{
	json_t *now = json_object();
	const char *key;
	const json_t *rec;

	if (!now)
		return;
	json_object_foreach((json_t *)records, key, rec) {
		const char *owner = json_string_value(json_object_get(rec, "owner")), *vm, *was;

		if (strncmp(key, VM_PREFIX, strlen(VM_PREFIX)) != 0 || !owner)
			continue;
		vm = key + strlen(VM_PREFIX);
		json_object_set_new(now, vm, json_string(owner));
		was = json_string_value(json_object_get(m->owners, vm));
		/* a new owner while the old one is fenced: a recovery (a migration's source is not) */
		if (m->primed && was && strcmp(was, owner) && json_object_get(m->fences_seen, was))
			m->vm_recoveries++;
	}
	json_decref(m->owners);
	m->owners = now;
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct metrics *m = state;
	const json_t *records = service_records(m->ctx);

	follow_fences(m, records);
	follow_owners(m, records);
	m->primed = true;
}

/* ---- the text ------------------------------------------------------------------------------------ */

static json_t *counters_json(struct metrics *m)
{
	json_t *le = json_array(), *counts = json_array();

	for (size_t b = 0; b < ARRAY_SIZE(fence_le); b++)
		json_array_append_new(le, json_real(fence_le[b]));
	for (size_t b = 0; b <= ARRAY_SIZE(fence_le); b++)
		json_array_append_new(counts, json_integer((json_int_t)m->fence_counts[b]));
	return json_pack("{sOs{sososf}sIsosI}", "fences", m->fences_total, "fence_duration", "le", le, "counts", counts,
			 "sum", m->fence_sum, "vm_recoveries", (json_int_t)m->vm_recoveries, "ontap",
			 leader_ontap_metrics() ?: json_object(), "scrapes", (json_int_t)m->scrapes);
}

/* A verb's payload: reply[key] when the reply says ok. */
static void add_verb(struct metrics *m, json_t *in, const char *cmd, const char *reply_key, const char *as)
{
	json_auto_t *req = json_object();
	json_auto_t *reply = req ? service_call(m->ctx, cmd, req) : NULL;
	json_t *v;

	if (!reply || !json_is_true(json_object_get(reply, "ok")))
		return;
	v = reply_key ? json_object_get(reply, reply_key) : reply;
	if (v)
		json_object_set(in, as, v);
}

static int render(struct metrics *m, char **text)
{
	json_auto_t *in = json_object();
	struct timespec ts;

	if (!in)
		return -ENOMEM;
	m->scrapes++;
	clock_gettime(CLOCK_REALTIME, &ts);
	add_verb(m, in, "status", "status", "status");
	add_verb(m, in, "datastore-list", "datastores", "datastores");
	add_verb(m, in, "vm-list", "vms", "vms");
	add_verb(m, in, "node-list", "nodes", "nodes");
	add_verb(m, in, "fence-history", NULL, "fences");
	add_verb(m, in, "protection-status", NULL, "protection");
	json_object_set_new(in, "counters", counters_json(m));
	json_object_set_new(in, "now", json_integer((json_int_t)ts.tv_sec));
	return metrics_render(in, text);
}

/* ---- HTTP ---------------------------------------------------------------------------------------- */

static enum MHD_Result on_http(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	unsigned status = MHD_HTTP_OK;
	const char *type = METRICS_CONTENT_TYPE;

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		text = strdup("only GET /metrics\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		type = "text/plain; charset=utf-8";
	} else if (strcmp(url, "/metrics") != 0) {
		text = strdup("kvmcd: the metrics are at /metrics\n");
		status = MHD_HTTP_NOT_FOUND;
		type = "text/plain; charset=utf-8";
	} else if (render(m, &text) < 0) {
		text = strdup("kvmcd: out of memory\n");
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain; charset=utf-8";
	}
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void mhd_arm(struct metrics *m);

static void mhd_step(struct metrics *m)
{
	if (!m->mhd)
		return;
	MHD_run(m->mhd);
	mhd_arm(m);
}

static int on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	mhd_step(userdata);
	return 0;
}

static int on_mhd_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	mhd_step(userdata);
	return 0;
}

/* MHD's own timeout (idle connections) as a timer on the loop. */
static void mhd_arm(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(m->mhd, &ms) != MHD_YES) {
		sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(m->timer, mono_usec(m) + ms * USEC_PER_MSEC);
	sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static void endpoint_close(struct metrics *m)
{
	m->io = sd_event_source_disable_unref(m->io);
	m->timer = sd_event_source_disable_unref(m->timer);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
}

static int endpoint_open(struct metrics *m)
{
	struct sockaddr_storage ss;
	unsigned len;
	const char *why;
	const union MHD_DaemonInfo *info;
	int fd, one = 1, r;

	if (metrics_listen_parse(m->listen, &ss, &len, &why) < 0) {
		snprintf(m->error, sizeof(m->error), "[metrics] listen '%s' %s", m->listen, why);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		snprintf(m->error, sizeof(m->error), "cannot listen on %s: %s", m->listen, strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL, NULL, on_http, m, MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, 16U, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
	if (!m->mhd) {
		close(fd);
		snprintf(m->error, sizeof(m->error), "cannot start the HTTP server on %s (libmicrohttpd)", m->listen);
		return -EIO;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	r = info ? sd_event_add_io(service_event(m->ctx), &m->io, info->epoll_fd, EPOLLIN, on_mhd_io, m) : -EIO;
	if (r >= 0)
		r = sd_event_add_time(service_event(m->ctx), &m->timer, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_MSEC,
				      on_mhd_timer, m);
	if (r < 0) {
		endpoint_close(m);
		snprintf(m->error, sizeof(m->error), "cannot watch the HTTP server on %s: %s", m->listen, strerror(-r));
		return r;
	}
	m->error[0] = 0;
	klog(service_log(m->ctx), LOG_INFO, "Metrics: GET http://%s/metrics", m->listen);
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct metrics *m = userdata;

	m->retry = sd_event_source_disable_unref(m->retry);
	if (endpoint_open(m) < 0)
		sd_event_add_time_relative(service_event(m->ctx), &m->retry, CLOCK_MONOTONIC,
					   LISTEN_RETRY_SEC * USEC_PER_SEC, USEC_PER_SEC, on_retry, m);
	return 0;
}

static void endpoint_start(struct metrics *m)
{
	if (!m->listen)
		return;
	if (endpoint_open(m) < 0) {
		klog(service_log(m->ctx), LOG_ERR, "Metrics: %s (trying again every %d s; kvmcctl metrics works meanwhile)",
		     m->error, LISTEN_RETRY_SEC);
		sd_event_add_time_relative(service_event(m->ctx), &m->retry, CLOCK_MONOTONIC,
					   LISTEN_RETRY_SEC * USEC_PER_SEC, USEC_PER_SEC, on_retry, m);
	}
}

/* ---- the service ---------------------------------------------------------------------------------- */

static json_t *cmd_metrics(void *state, uint64_t conn_id, json_t *req)
{
	struct metrics *m = state;
	_cleanup_free_ char *text = NULL;

	if (render(m, &text) < 0)
		return api_error(-ENOMEM, "out of memory");
	return json_pack("{sbssss}", "ok", 1, "text", text, "content_type", METRICS_CONTENT_TYPE);
}

static const struct service_command commands[] = {
	{ "metrics", cmd_metrics },
	{ NULL, NULL },
};

static void metrics_free(void *state)
{
	struct metrics *m = state;

	if (!m)
		return;
	endpoint_close(m);
	sd_event_source_disable_unref(m->retry);
	free(m->listen);
	json_decref(m->fences_seen);
	json_decref(m->owners);
	json_decref(m->fences_total);
	free(m);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->fences_seen = json_object();
	m->owners = json_object();
	m->fences_total = json_object();
	if (!m->fences_seen || !m->owners || !m->fences_total ||
	    (cfg->metrics.listen && *cfg->metrics.listen && !(m->listen = strdup(cfg->metrics.listen)))) {
		metrics_free(m);
		return -ENOMEM;
	}
	endpoint_start(m);
	*state = m;
	return 0;
}

static json_t *svc_status(void *state)
{
	struct metrics *m = state;

	return json_pack("{s:s?,s:b,s:s?,s:I}", "listen", m->listen, "serving", m->mhd != NULL, "error",
			 m->error[0] ? m->error : NULL, "scrapes", (json_int_t)m->scrapes);
}

const struct service_ops metrics_service = {
	.name = "metrics",
	.init = svc_init,
	.free = metrics_free,
	.committed = svc_committed,
	.commands = commands,
	.status = svc_status,
};
