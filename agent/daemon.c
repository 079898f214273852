/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "build-config.h"
#include "core.h"
#include "cpg-glue.h"
#include "daemon.h"
#include "leader-ontap.h"
#include "persist.h"
#include "spec.h"

struct daemon {
	const struct daemon_args *args; /* borrowed */
	struct klog *log;               /* borrowed */
	struct kvmcd_config *cfg;       /* owned; replaced whole on a good reload */
	sd_event *event;                /* owned */
	struct core *core;              /* owned */
	struct cpg_glue *glue;          /* owned */
	struct api_server *api;         /* owned */
	sd_event_source *core_timer;    /* owned: fires at core_next_deadline() */
	sd_event_source *sig_term, *sig_int, *sig_hup; /* owned */
	struct persist *persist;        /* owned: the state directory's lock, snapshot and journal */
	bool fatal;                     /* a PERSIST failed: feed and perform nothing more */
	char *status_text;              /* owned: last STATUS= sent to systemd */
	uint64_t led_epoch;             /* epoch this node leads in, for the log line when it ends */
	struct leader_ontap *ontap;     /* owned; NULL when [ontap] is not configured */
	uint64_t compact_retry_at;      /* journal size at which a failed compaction is tried again */
};

/* The journal is folded into a snapshot once it is larger than this and than the snapshot:
 * replaying it then costs at most about as much as reading the snapshot. */
#define COMPACT_MIN_BYTES (1024u * 1024u)

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- performing the core's actions ---------------------------------------------------------- */

/* STATUS= for systemctl status: one line an admin understands. Sent only when it changes. */
static void update_status(struct daemon *d)
{
	_cleanup_free_ char *text = NULL;
	int r;

	if (!cpg_glue_is_connected(d->glue))
		r = asprintf(&text, "Not connected to corosync; reconnecting");
	else if (core_is_leader(d->core))
		r = asprintf(&text, "Leader, epoch %" PRIu64 ", state version %" PRIu64, core_leader_epoch(d->core),
			     core_state_version(d->core));
	else if (core_leader_id(d->core))
		r = asprintf(&text, "Following leader node %" PRIu32 " (epoch %" PRIu64 "), state version %" PRIu64,
			     core_leader_id(d->core), core_leader_epoch(d->core), core_state_version(d->core));
	else
		r = asprintf(&text, "No leader (%s), state version %" PRIu64,
			     core_is_quorate(d->core) ? "membership syncing or stalled" : "not quorate",
			     core_state_version(d->core));
	if (r < 0)
		return;
	if (d->status_text && strcmp(d->status_text, text) == 0)
		return;
	(void)sd_notifyf(false, "STATUS=%s", text);
	free(d->status_text);
	d->status_text = TAKE_PTR(text);
}

static void fatal_stop(struct daemon *d, int r)
{
	d->fatal = true;
	(void)sd_notifyf(false, "STATUS=Stopped: cannot persist state (%s)\nERRNO=%d", strerror(-r), -r);
	sd_event_exit(d->event, r);
}

static int write_snapshot(struct daemon *d)
{
	_cleanup_free_ char *text = core_persist_json(d->core);

	return text ? persist_write(d->persist, text, strlen(text)) : -ENOMEM;
}

/*
 * After an append: once the journal is larger than max(COMPACT_MIN_BYTES, the snapshot), fold it
 * into a new snapshot. The snapshot is the core's state now, which may already hold records
 * still queued behind this one; appended after it, they are skipped by version on replay.
 * A failed compaction loses nothing (the journal is complete and durable): it is logged and
 * tried again once the journal has grown by as much again.
 */
static void maybe_compact(struct daemon *d)
{
	uint64_t journal = persist_journal_bytes(d->persist), snapshot = persist_snapshot_bytes(d->persist);
	uint64_t limit = snapshot > COMPACT_MIN_BYTES ? snapshot : COMPACT_MIN_BYTES;
	int r;

	if (journal <= limit || journal < d->compact_retry_at)
		return;
	r = write_snapshot(d);
	if (r < 0) {
		klog(d->log, LOG_WARNING,
		     "Cannot fold the %" PRIu64 "-byte journal %s/%s into a snapshot: %s; the journal stays complete, trying again once it has grown by %" PRIu64 " bytes",
		     journal, persist_dir(d->persist), PERSIST_JOURNAL_FILE, strerror(-r), limit);
		d->compact_retry_at = journal + limit;
		return;
	}
	d->compact_retry_at = 0;
	klog(d->log, LOG_DEBUG, "Folded the %" PRIu64 "-byte journal into a %" PRIu64 "-byte snapshot", journal,
	     persist_snapshot_bytes(d->persist));
}

static void perform_persist(struct daemon *d, const struct core_action *a)
{
	const char *file = a->data ? PERSIST_JOURNAL_FILE : PERSIST_STATE_FILE;
	int r;

	if (a->data)
		r = persist_append(d->persist, (const char *)a->data, a->len);
	else
		r = write_snapshot(d);
	if (r < 0) {
		klog(d->log, LOG_ERR, "Cannot persist state to %s/%s: %s; stopping, since nothing unpersisted may be acknowledged",
		     persist_dir(d->persist), file, strerror(-r));
		fatal_stop(d, r);
		return;
	}
	if (a->data)
		maybe_compact(d);
}


static json_t *reply_json(const struct core_action *a)
{
	if (a->error == 0)
		return json_pack("{sbsIss}", "ok", 1, "version", (json_int_t)a->version, "message", a->text ? a->text : "");
	return json_pack("{sbsssisI}", "ok", 0, "error", a->text ? a->text : strerror(-a->error), "errno", -a->error,
			 "version", (json_int_t)a->version);
}

static void perform(struct daemon *d, struct core_action *a)
{
	switch (a->type) {
	case CORE_ACT_SEND:
		cpg_glue_send(d->glue, TAKE_PTR(a->data), a->len);
		break;
	case CORE_ACT_PERSIST:
		perform_persist(d, a);
		break;
	case CORE_ACT_REPLY: {
		json_t *reply = reply_json(a);

		if (reply)
			api_server_reply(d->api, a->client_id, reply);
		else
			api_server_reply(d->api, a->client_id, api_error(-ENOMEM, "out of memory"));
		break;
	}
	case CORE_ACT_LOG: {
		_cleanup_free_ char *text = core_log_text(a);

		klog(d->log, a->level, "%s", text ? text : a->event);
		break;
	}
	case CORE_ACT_LEADING:
	case CORE_ACT_COMMITTED:
		break;
	case CORE_ACT_ROLE:
		if (a->is_leader) {
			klog(d->log, LOG_NOTICE, "This node is now the leader (epoch %" PRIu64 ")", a->epoch);
			d->led_epoch = a->epoch;
			leader_ontap_role(d->ontap, true, a->epoch);
		} else {
			leader_ontap_role(d->ontap, false, 0);
			klog(d->log, LOG_NOTICE, "This node no longer leads (epoch %" PRIu64 " ended)",
			     a->epoch ? a->epoch : d->led_epoch);
			d->led_epoch = 0;
		}
		break;
	}
}

/* Runs after every event fed to the core: perform its actions in order, re-arm its timer. */
static void drain(struct daemon *d)
{
	struct core_action a;
	uint64_t deadline;

	while (core_next_action(d->core, &a)) {
		if (!d->fatal)
			perform(d, &a);
		core_action_clear(&a);
	}
	if (d->fatal)
		return;
	deadline = core_next_deadline(d->core);
	if (deadline) {
		sd_event_source_set_time(d->core_timer, deadline);
		sd_event_source_set_enabled(d->core_timer, SD_EVENT_ONESHOT);
	} else
		sd_event_source_set_enabled(d->core_timer, SD_EVENT_OFF);
	update_status(d);
}

static int on_core_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return 0;
	core_tick(d->core, now_usec());
	drain(d);
	return 0;
}

/* ---- corosync events ------------------------------------------------------------------------ */

static void on_connected(void *userdata, uint32_t nodeid)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_connected(d->core, now_usec(), nodeid);
	drain(d);
}

static void on_disconnected(void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_disconnected(d->core, now_usec());
	drain(d);
}

static void on_confchg(void *userdata, const uint32_t *members, size_t n_members, const struct core_left *left,
		       size_t n_left)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_confchg(d->core, now_usec(), members, n_members, left, n_left);
	drain(d);
}

static void on_quorum(void *userdata, bool quorate, uint32_t total, uint32_t expected, const uint32_t *nodes,
		      size_t n_nodes)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	/* The node list first: it tells the core whether this verdict already covers the ring a
	 * NODEDOWN in the CPG view came from (CPG and quorum callbacks arrive in either order). */
	core_quorum_nodes(d->core, nodes, n_nodes);
	core_quorum(d->core, now_usec(), quorate, total, expected);
	drain(d);
}

static void on_message(void *userdata, uint32_t sender, const void *data, size_t len)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_message(d->core, now_usec(), sender, data, len);
	drain(d);
}

static void on_send_blocked(void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_send_blocked(d->core, now_usec());
	drain(d);
}

static const struct cpg_glue_ops glue_ops = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.confchg = on_confchg,
	.quorum = on_quorum,
	.message = on_message,
	.send_blocked = on_send_blocked,
};

/* ---- API requests --------------------------------------------------------------------------- */

static json_t *api_status(struct daemon *d)
{
	json_t *st = core_status_json(d->core, now_usec());

	if (!st)
		return NULL;
	/* What only the shell knows: the corosync connection and where this daemon lives. */
	json_object_set_new(st, "daemon",
			    json_pack("{sssisbsIsssssssIsI}", "version", KVMCD_VERSION, "pid", (int)getpid(), "connected",
				      cpg_glue_is_connected(d->glue), "send_queue", (json_int_t)cpg_glue_queued(d->glue),
				      "config", d->cfg->path, "socket", d->cfg->socket_path, "group", d->cfg->cluster_group,
				      "snapshot_bytes", (json_int_t)persist_snapshot_bytes(d->persist),
				      "journal_bytes", (json_int_t)persist_journal_bytes(d->persist)));
	json_object_set_new(st, "ontap", d->ontap ? leader_ontap_status(d->ontap) : json_null());
	return json_pack("{sbso}", "ok", 1, "status", st);
}

static const char *spec_text_of(json_t *req, size_t *len)
{
	json_t *t = json_object_get(req, "spec_text");

	if (!json_is_string(t))
		return NULL;
	*len = json_string_length(t);
	return json_string_value(t);
}

static json_t *api_spec_diff(struct daemon *d, json_t *req)
{
	struct spec_problems probs = { 0 };
	json_t *next = NULL, *cur, *reply, *list;
	_cleanup_free_ char *diff = NULL, *all = NULL;
	const char *text;
	size_t len;

	text = spec_text_of(req, &len);
	if (!text)
		return api_error(-EINVAL, "spec-diff needs a string \"spec_text\"");
	if (spec_parse(text, len, &next, &probs) < 0) {
		all = spec_problems_join(&probs);
		list = json_array();
		for (unsigned i = 0; i < probs.n; i++)
			json_array_append_new(list, json_string(probs.text[i]));
		reply = json_pack("{sbsssisoso}", "ok", 0, "error", "invalid spec", "errno", EINVAL, "problems",
				  list ? list : json_array(), "problems_dropped", json_integer(probs.dropped));
		spec_problems_clear(&probs);
		return reply;
	}
	cur = core_spec_json(d->core);
	diff = cur ? spec_diff(cur, next) : NULL;
	json_decref(cur);
	json_decref(next);
	if (!diff)
		return api_error(-ENOMEM, "out of memory");
	return json_pack("{sbsssI}", "ok", 1, "diff", diff, "version", (json_int_t)core_state_version(d->core));
}

static json_t *on_api_request(void *userdata, uint64_t conn_id, const char *cmd, json_t *req)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return api_error(-ESHUTDOWN, "kvmcd is stopping after a fatal error");
	if (strcmp(cmd, "status") == 0)
		return api_status(d);
	if (strcmp(cmd, "spec-get") == 0) {
		json_t *spec = core_spec_json(d->core);

		return json_pack("{sbsosI}", "ok", 1, "spec", spec ? spec : json_object(), "version",
				 (json_int_t)core_state_version(d->core));
	}
	if (strcmp(cmd, "spec-apply") == 0) {
		size_t len;
		const char *text = spec_text_of(req, &len);

		if (!text)
			return api_error(-EINVAL, "spec-apply needs a string \"spec_text\"");
		/* The answer always comes as a CORE_ACT_REPLY for conn_id, maybe from this very drain. */
		core_request_spec(d->core, now_usec(), conn_id, text, len);
		drain(d);
		return NULL;
	}
	if (strcmp(cmd, "spec-diff") == 0)
		return api_spec_diff(d, req);
	if (strcmp(cmd, "log") == 0) {
		json_t *lines = klog_ring_json(d->log);

		return lines ? json_pack("{sbso}", "ok", 1, "lines", lines) : api_error(-ENOMEM, "out of memory");
	}
	return api_error(-EOPNOTSUPP, "unknown command '%s' (status, spec-get, spec-apply, spec-diff, log)", cmd);
}

static const struct api_server_ops api_ops = {
	.request = on_api_request,
};

/* ---- signals -------------------------------------------------------------------------------- */

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	klog(d->log, LOG_NOTICE, "Received %s; leaving the cluster", strsignal((int)si->ssi_signo));
	sd_event_exit(d->event, 0);
	return 0;
}

static void note_reload(void *userdata, const char *key, bool runtime)
{
	struct daemon *d = userdata;

	if (runtime)
		klog(d->log, LOG_NOTICE, "Reload: %s changed, applied", key);
	else
		klog(d->log, LOG_WARNING, "Reload: %s changed, needs restart; keeping the running value", key);
}

/* All or nothing: a config with any problem changes nothing. */
static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	struct config_errors errors = { 0 };
	struct kvmcd_config *next = NULL;
	size_t changed;
	int r;

	(void)sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration");
	klog(d->log, LOG_INFO, "Reloading %s", d->args->config_path);
	r = config_load(d->args->config_path, !d->args->config_explicit, &next, &errors);
	if (r < 0) {
		for (size_t i = 0; i < errors.n; i++)
			klog(d->log, LOG_ERR, "%s", errors.text[i]);
		klog(d->log, LOG_ERR, "Reload failed (%zu problem%s): keeping the running configuration", errors.n,
		     errors.n == 1 ? "" : "s");
		config_errors_clear(&errors);
	} else {
		changed = config_reload_merge(next, d->cfg, note_reload, d);
		klog_configure(d->log, next->log_level, next->log_target, d->args->foreground);
		cpg_glue_set_reconnect_max(d->glue, next->reconnect_max_ms);
		/* Always: the group may have been created (or renumbered) since the last look. */
		(void)api_server_set_group(d->api, next->api_group);
		config_free(d->cfg);
		d->cfg = next;
		klog(d->log, LOG_INFO, "Reloaded %s (%zu key%s changed)", d->args->config_path, changed,
		     changed == 1 ? "" : "s");
	}
	free(d->status_text);
	d->status_text = NULL; /* re-send it with READY=1 */
	(void)sd_notify(false, "READY=1");
	update_status(d);
	return 0;
}

/* ---- setup and teardown --------------------------------------------------------------------- */

static void daemon_free(struct daemon *d)
{
	sd_event_source_disable_unref(d->core_timer);
	sd_event_source_disable_unref(d->sig_term);
	sd_event_source_disable_unref(d->sig_int);
	sd_event_source_disable_unref(d->sig_hup);
	cpg_glue_free(d->glue);
	api_server_free(d->api);
	leader_ontap_free(d->ontap);
	core_free(d->core);
	sd_event_unref(d->event);
	persist_free(d->persist); /* releases the state directory's lock: last */
	config_free(d->cfg);
	free(d->status_text);
}

/*
 * Reads the snapshot and the journal and builds the core; unusable state stops the daemon (never
 * reset silently). A journal left by the previous run is then folded into a snapshot: start-up
 * has read and replayed it anyway, and this bounds the journal to one run's records.
 */
static int load_core(struct daemon *d)
{
	_cleanup_free_ char *snapshot = NULL, *journal = NULL, *error = NULL, *with = NULL;
	const char *dir = persist_dir(d->persist);
	struct core_config cc = {
		.name = d->cfg->node_name,
		.proto_min = WIRE_PROTO_MIN,
		.proto_max = WIRE_PROTO_MAX,
		.stall_timeout_usec = (uint64_t)d->cfg->stall_timeout_ms * USEC_PER_MSEC,
		.request_timeout_usec = (uint64_t)d->cfg->request_timeout_ms * USEC_PER_MSEC,
	};
	size_t records = 0;
	int r;

	r = persist_read(d->persist, &snapshot, &journal);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r,
				  "Cannot read state file %s/%s or %s: %s; refusing to start (fix or move the files away; a node without them rejoins as a fresh member)",
				  dir, PERSIST_STATE_FILE, PERSIST_JOURNAL_FILE, strerror(-r));
	for (const char *p = journal; p && (p = strchr(p, '\n')); p++)
		records++;
	if (journal && asprintf(&with, "the %zu record%s of %s/%s", records, records == 1 ? "" : "s", dir,
				PERSIST_JOURNAL_FILE) < 0)
		with = NULL;
	r = core_new(&cc, snapshot, journal, &d->core, &error);
	if (r == -EINVAL && snapshot)
		return klog_errno(d->log, LOG_ERR, r,
				  "State file %s/%s is unusable%s%s%s: %s; refusing to start (fix or move the files away; a node without them rejoins as a fresh member)",
				  dir, PERSIST_STATE_FILE, with ? " (read with " : "", with ? with : "", with ? ")" : "",
				  error ? error : "invalid");
	if (r == -EINVAL)
		return klog_errno(d->log, LOG_ERR, r,
				  "Journal %s/%s is unusable: %s; refusing to start (fix or move it away; a node without it rejoins as a fresh member)",
				  dir, PERSIST_JOURNAL_FILE, error ? error : "invalid");
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot create the coordination core: %s", strerror(-r));
	if (!snapshot && !journal) {
		klog(d->log, LOG_INFO, "No %s/%s: starting as a fresh node", dir, PERSIST_STATE_FILE);
		return 0;
	}
	klog(d->log, LOG_INFO, "Recovered state version %" PRIu64 " from %s%s%s%s%s", core_state_version(d->core),
	     snapshot ? dir : "", snapshot ? "/" PERSIST_STATE_FILE : "", snapshot && with ? " and " : "", with ? with : "",
	     snapshot ? "" : " (no snapshot yet)");
	if (journal) {
		r = write_snapshot(d);
		if (r < 0)
			klog(d->log, LOG_WARNING, "Cannot fold the journal %s/%s into a snapshot: %s; it stays complete",
			     dir, PERSIST_JOURNAL_FILE, strerror(-r));
	}
	return 0;
}

static int setup(struct daemon *d)
{
	sigset_t mask;
	int r;

	r = persist_open(d->cfg->state_dir, &d->persist);
	if (r == -EBUSY)
		return klog_errno(d->log, LOG_ERR, r, "Another kvmcd uses state directory %s; refusing to start",
				  d->cfg->state_dir);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot open state directory %s: %s", d->cfg->state_dir,
				  strerror(-r));
	r = load_core(d);
	if (r < 0)
		return r;

	r = sd_event_new(&d->event);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "sd_event_new: %s", strerror(-r));
	/* signalfd needs the signals blocked; SIGPIPE is ignored since peers may vanish mid-write. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = sd_event_add_signal(d->event, &d->sig_term, SIGTERM, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, &d->sig_int, SIGINT, on_terminate, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, &d->sig_hup, SIGHUP, on_reload, d);
	if (r >= 0)
		r = sd_event_set_watchdog(d->event, true);
	if (r >= 0)
		r = sd_event_add_time(d->event, &d->core_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_core_timer, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->core_timer, SD_EVENT_OFF);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot set up the event loop: %s", strerror(-r));

	{
		_cleanup_free_ char *error = NULL;
		r = leader_ontap_new(&d->ontap, d->event, &d->cfg->ontap, d->cfg->node_name, d->log, &error);
		if (r < 0)
			return klog_errno(d->log, LOG_ERR, r, "[ontap] in %s is unusable: %s; refusing to start",
					  d->cfg->path, error ? error : strerror(-r));
	}

	r = api_server_new(d->event, d->log, d->cfg->socket_path, d->cfg->api_group, &api_ops, d, &d->api);
	if (r == -EADDRINUSE)
		return klog_errno(d->log, LOG_ERR, r, "Another kvmcd answers on %s; refusing to start", d->cfg->socket_path);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot listen on %s: %s", d->cfg->socket_path, strerror(-r));

	r = cpg_glue_new(d->event, d->log, d->cfg->cluster_group, d->cfg->reconnect_max_ms, &glue_ops, d, &d->glue);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot set up corosync: %s", strerror(-r));
	return 0;
}

int daemon_run(const struct daemon_args *args, struct klog *log, struct kvmcd_config *cfg)
{
	struct daemon d = { .args = args, .log = log, .cfg = cfg };
	int r;

	klog(log, LOG_INFO, "kvmcd %s starting: node '%s', group '%s', config %s, state %s, socket %s", KVMCD_VERSION,
	     cfg->node_name, cfg->cluster_group, cfg->path, cfg->state_dir, cfg->socket_path);
	r = setup(&d);
	if (r < 0) {
		(void)sd_notifyf(false, "STATUS=Failed to start: %s\nERRNO=%d", strerror(-r), -r);
		daemon_free(&d);
		return r;
	}
	/* Ready once the API answers; corosync may come later (status then says so). */
	cpg_glue_start(d.glue);
	drain(&d);
	(void)sd_notify(false, "READY=1");
	r = sd_event_loop(d.event);
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Leaving the cluster");
	cpg_glue_stop(d.glue);
	{
		/* A change still in flight may yet commit through the other members: say so. */
		json_auto_t *bye = api_error(-ECANCELED, "kvmcd stopped before the change was committed; it may still apply, check `kvmcctl spec get`");

		if (bye && d.api)
			api_server_answer_waiting(d.api, bye);
	}
	if (r < 0)
		klog(log, LOG_ERR, "Stopping after a fatal error: %s", strerror(-r));
	else
		klog(log, LOG_NOTICE, "Stopped");
	daemon_free(&d);
	return r < 0 ? r : 0;
}
