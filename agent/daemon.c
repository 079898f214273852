/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "build-config.h"
#include "core.h"
#include "cpg-glue.h"
#include "daemon.h"
#include "datastore.h"
#include "datastores.h"
#include "vms.h"
#include "vm-spec-api.h"
#include "ha.h"
#include "metrics-service.h"
#include "freeze-node.h"
#include "protection-service.h"
#include "mirror-service.h"
#include "restore.h"
#include "leader-ontap.h"
#include "persist.h"
#include "service.h"
#include "spec.h"
#include "timing.h"

/*
 * Every service, in start-up order (teardown in reverse). A new feature adds itself here and
 * nowhere else in this file: see service.h.
 */
static const struct service_ops *const services[] = {
	&leader_ontap_service,
	&datastores_service,     /* agent/datastores.c: every node's side of the datastores */
	&vms_service,            /* agent/vms.c: placement (leader) and libvirt domains (every node) */
	&vm_spec_service,        /* agent/vm-spec-api.c: kvmcctl vm add/start/stop/remove/import */
	&ha_service,             /* agent/ha.c: fencing (leader), the watchdog (every node) */
	&protection_service,     /* agent/protection.c: scheduled snapshots (leader), kvmcctl snapshot */
	&freeze_node_service,    /* agent/freeze-node.c: guest freeze / thaw for vm-consistent snapshots (every node) */
	&mirror_service,         /* agent/mirror.c: SnapMirror (leader), kvmcctl dr */
	&restore_service,        /* agent/restore.c: kvmcctl snapshot restore (leader + every node) */
	&metrics_service,        /* agent/metrics-service.c: GET /metrics, kvmcctl metrics */
	NULL,
};
#define N_SERVICES (ARRAY_SIZE(services) - 1)

/* The journal is folded into a snapshot once it is larger than this and than the snapshot:
 * replaying it then costs at most about as much as reading the snapshot. */
#define COMPACT_MIN_BYTES (1024u * 1024u)

struct daemon;

/* What a service is lent (service.h); one per entry of services[], inside struct daemon. */
struct service_ctx {
	struct daemon *d;              /* borrowed: the daemon that runs the service */
	const struct service_ops *ops; /* borrowed: its entry in services[] */
	void *state;                   /* owned through ops->free; NULL = off (or not started) */
	json_t *section;               /* owned: its part of this node's section (its own keys), or NULL */
	bool stopping;                 /* its stop hook holds the exit until service_stop_done() */
};

/* The committed spec's lists (service_ds_specs() & co.), parsed lazily once per spec object. */
struct spec_lists {
	json_t *spec;                            /* a reference to what they come from; NULL: none */
	struct ds_spec *ds;                      /* owned */
	struct vm_spec *vms;                     /* owned */
	struct prot_policy *pols;                /* owned */
	size_t n_ds, n_vms, n_pols;
	int ds_r, vm_r, pol_r;                   /* their list function's result; 1: not made yet */
};

struct daemon {
	const struct daemon_args *args; /* borrowed */
	struct klog *log;               /* borrowed */
	struct kvmcd_config *cfg;       /* owned; replaced whole on a good reload */
	sd_event *event;                /* owned */
	struct core *core;              /* owned */
	struct spec_lists lists;        /* owned */
	struct cpg_glue *glue;          /* owned */
	struct api_server *api;         /* owned */
	struct persist *persist;        /* owned: the state directory's lock, snapshot and journal */
	sd_event_source *core_timer;    /* owned: fires at core_next_deadline() */
	uint64_t notice_max_usec;       /* coord/timeouts.h: service_healthy's two-node grace */
	sd_event_source *drain_src;     /* owned: defer source; enabled (ONESHOT) whenever an event
					 * was fed, performs the queued actions on the next iteration */
	sd_event_source *sig_term, *sig_int, *sig_hup; /* owned */
	bool draining;                  /* inside drain(): events from the glue are postponed */
	bool send_blocked_pending;      /* the glue said "send blocked" during a drain: fed after it */
	bool fatal;                     /* a PERSIST failed: feed and perform nothing more */
	char *status_text;              /* owned: last STATUS= sent to systemd */
	uint64_t led_epoch;             /* epoch this node leads in, for the log line when it ends */
	uint64_t acting_epoch, recording_epoch; /* the same, for LEADING / RECORDING */
	uint64_t compact_retry_at;      /* journal size at which a failed compaction is tried again */
	uint64_t sections_gen;          /* core_node_sections_generation() the services last heard of */
	uint64_t own_gen, own_gen_heard; /* this node's own parts changed / as the services last heard */
	bool stopping;                  /* SIGTERM came; services with a stop hook may hold the exit */
	uint64_t stop_deadline;         /* CLOCK_MONOTONIC: the latest deadline they gave */
	sd_event_source *stop_timer;    /* owned: EXTEND_TIMEOUT_USEC to systemd, then the deadline */
	uint64_t views;                 /* CPG views delivered since start (a departure's id) */
	json_t *departures;             /* owned: name -> {"reason","view","at"}: how each kvmcd last
					 * left this node's view (service_departure) */
	struct service_ctx svc[N_SERVICES];
};

#define FOREACH_SERVICE(d, s) for (struct service_ctx *s = (d)->svc; s < (d)->svc + N_SERVICES; s++)
/* The services that are on and implement hook `h`. */
#define FOREACH_SERVICE_WITH(d, s, h) FOREACH_SERVICE(d, s) if (s->state && s->ops->h)

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void drain(struct daemon *d);

/* ---- performing the core's actions ---------------------------------------------------------- */

/* STATUS= for systemctl status: one line an admin understands. Sent only when it changes. */
static void update_status(struct daemon *d)
{
	_cleanup_free_ char *text = NULL;
	int r;

	/* every log line's KVMCD_NODE / KVMCD_EPOCH (log.h) */
	klog_set_context(d->log, d->cfg->node_name, core_leader_epoch(d->core));

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

static void fatal_stop(struct daemon *d, int r, const char *what)
{
	d->fatal = true;
	(void)sd_notifyf(false, "STATUS=Stopped: %s (%s)\nERRNO=%d", what, strerror(-r), -r);
	sd_event_exit(d->event, r);
}

/* Every event fed to the core is followed by this: the drain runs once the current callback
 * has returned to the loop (it has the highest priority, so before any other input). */
static void schedule_drain(struct daemon *d)
{
	int r;

	if (d->fatal)
		return;
	r = sd_event_source_set_enabled(d->drain_src, SD_EVENT_ONESHOT);
	if (r < 0) {
		/* The queued actions would never be performed: nothing may go on. */
		klog(d->log, LOG_ERR, "Cannot schedule the core's actions: %s; stopping", strerror(-r));
		fatal_stop(d, r, "cannot schedule the core's actions");
	}
}

static const char *outcome_name(const struct core_action *a)
{
	enum core_outcome o = a->outcome;

	/* An error that says "committed" contradicts itself (a core that does not fill in the
	 * outcome yet leaves it 0): judge by the error as kvmcctl always did. */
	if (a->error && o == CORE_OUTCOME_COMMITTED)
		o = a->error == -ETIMEDOUT || a->error == -ECANCELED ? CORE_OUTCOME_UNKNOWN : CORE_OUTCOME_REFUSED;
	switch (o) {
	case CORE_OUTCOME_COMMITTED:
		return "committed";
	case CORE_OUTCOME_REFUSED:
		return "refused";
	case CORE_OUTCOME_UNKNOWN:
	default:
		return "unknown";
	}
}

static json_t *reply_json(const struct core_action *a)
{
	if (a->error == 0)
		return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)a->version, "message", a->text ? a->text : "",
				 "outcome", outcome_name(a));
	return json_pack("{sbsssisIss}", "ok", 0, "error", a->text ? a->text : strerror(-a->error), "errno", -a->error,
			 "version", (json_int_t)a->version, "outcome", outcome_name(a));
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
		fatal_stop(d, r, "cannot persist state");
		return;
	}
	if (a->data)
		maybe_compact(d);
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

		api_server_reply(d->api, a->client_id, reply ? reply : api_error(-ENOMEM, "out of memory"));
		break;
	}
	case CORE_ACT_LOG: {
		_cleanup_free_ char *text = core_log_text(a);

		klog(d->log, a->level, "%s", text ? text : a->event);
		break;
	}
	case CORE_ACT_ROLE: {
		uint64_t epoch = a->is_leader || a->epoch ? a->epoch : d->led_epoch;

		if (a->is_leader)
			klog(d->log, LOG_NOTICE, "This node is now the leader (epoch %" PRIu64 ")", epoch);
		d->led_epoch = a->is_leader ? epoch : 0;
		FOREACH_SERVICE_WITH(d, s, role)
			s->ops->role(s->state, a->is_leader, epoch);
		if (!a->is_leader)
			klog(d->log, LOG_NOTICE, "This node no longer leads (epoch %" PRIu64 " ended)", epoch);
		break;
	}
	case CORE_ACT_LEADING:
		if (a->is_leader)
			klog(d->log, LOG_NOTICE, "Acting as leader under epoch %" PRIu64, a->epoch);
		else
			klog(d->log, LOG_NOTICE, "Stopped acting as leader (epoch %" PRIu64 ")", d->acting_epoch);
		d->acting_epoch = a->is_leader ? a->epoch : 0;
		FOREACH_SERVICE_WITH(d, s, leading)
			s->ops->leading(s->state, a->is_leader, a->epoch);
		break;
	case CORE_ACT_RECORDING:
		if (a->is_leader)
			klog(d->log, LOG_NOTICE, "Recording as leader under epoch %" PRIu64 "%s", a->epoch,
			     core_is_acting(d->core) ? "" : "; acting once the previous leader's lease has ended");
		else
			klog(d->log, LOG_NOTICE, "Stopped recording as leader (epoch %" PRIu64 ")", d->recording_epoch);
		d->recording_epoch = a->is_leader ? a->epoch : 0;
		FOREACH_SERVICE_WITH(d, s, recording)
			s->ops->recording(s->state, a->is_leader, a->epoch);
		break;
	case CORE_ACT_COMMITTED:
		klog(d->log, LOG_DEBUG, "Committed version %" PRIu64 "%s", a->version,
		     a->may_act ? "" : "; this node may not act on it (view syncing, stalled or inquorate)");
		FOREACH_SERVICE_WITH(d, s, committed)
			s->ops->committed(s->state, a->version, a->may_act);
		break;
	}
}

/*
 * The defer source's work: perform every queued action in order, then re-arm the core's timer.
 * Performing an action never feeds the glue's events in: a send that corosync keeps refusing
 * reports "send blocked" from inside cpg_glue_send(), which is postponed to the end of this
 * drain (send failures are already deferred by the glue itself). Services may call
 * service_leader_patch()/service_node_publish() from their hooks: the actions those queue come
 * after everything already queued and are performed by this same loop.
 */
static void drain(struct daemon *d)
{
	struct core_action a;
	uint64_t deadline;

	d->draining = true;
	for (;;) {
		while (core_next_action(d->core, &a)) {
			if (!d->fatal)
				perform(d, &a);
			core_action_clear(&a);
		}
		if (d->fatal || !d->send_blocked_pending)
			break;
		d->send_blocked_pending = false;
		core_send_blocked(d->core, now_usec());
	}
	d->draining = false;
	if (d->fatal)
		return;
	deadline = core_next_deadline(d->core);
	if (deadline) {
		sd_event_source_set_time(d->core_timer, deadline);
		sd_event_source_set_enabled(d->core_timer, SD_EVENT_ONESHOT);
	} else
		sd_event_source_set_enabled(d->core_timer, SD_EVENT_OFF);
	/* Node sections are soft (no COMMITTED): tell the services they changed. What a hook
	 * queues schedules the next drain (not draining any more). */
	if (core_node_sections_generation(d->core) != d->sections_gen || d->own_gen != d->own_gen_heard) {
		d->sections_gen = core_node_sections_generation(d->core);
		d->own_gen_heard = d->own_gen;
		FOREACH_SERVICE_WITH(d, s, sections)
			s->ops->sections(s->state);
	}
	update_status(d);
}

static int on_drain(sd_event_source *s, void *userdata)
{
	drain(userdata);
	return 0;
}

static int on_core_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return 0;
	core_tick(d->core, now_usec());
	schedule_drain(d);
	return 0;
}

/* ---- corosync events: fed at once, in order; performed by the drain ------------------------ */

static void on_connected(void *userdata, uint32_t nodeid)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_connected(d->core, now_usec(), nodeid);
	schedule_drain(d);
}

static void on_disconnected(void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_disconnected(d->core, now_usec());
	schedule_drain(d);
}

static void on_confchg(void *userdata, const uint32_t *members, size_t n_members, const struct core_left *left,
		       size_t n_left)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	/* Who left and why, by name, before the core drops their sections (the HA service's
	 * detection: NODEDOWN, a failed host, vs PROCDOWN / LEAVE, a failed or stopped kvmcd). */
	d->views++;
	for (size_t i = 0; i < n_left && d->departures; i++) {
		char key[12];
		const char *name;
		snprintf(key, sizeof(key), "%" PRIu32, left[i].nodeid);
		name = json_string_value(json_object_get(json_object_get(core_node_sections(d->core), key), "name"));
		if (name && *name)
			json_object_set_new(d->departures, name, json_pack("{sIsIsI}", "reason", (json_int_t)left[i].reason,
									  "view", (json_int_t)d->views, "at", (json_int_t)now_usec()));
	}
	core_confchg(d->core, now_usec(), members, n_members, left, n_left);
	schedule_drain(d);
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
	core_two_node(d->core, cpg_glue_is_two_node(d->glue));
	core_quorum(d->core, now_usec(), quorate, total, expected);
	schedule_drain(d);
}

static void on_message(void *userdata, uint32_t sender, const void *data, size_t len)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	core_message(d->core, now_usec(), sender, data, len);
	schedule_drain(d);
}

/* Called from cpg_glue_send(), i.e. possibly from inside a drain performing a SEND. */
static void on_send_blocked(void *userdata)
{
	struct daemon *d = userdata;

	if (d->fatal)
		return;
	if (d->draining) {
		d->send_blocked_pending = true;
		return;
	}
	core_send_blocked(d->core, now_usec());
	schedule_drain(d);
}

static const struct cpg_glue_ops glue_ops = {
	.connected = on_connected,
	.disconnected = on_disconnected,
	.confchg = on_confchg,
	.quorum = on_quorum,
	.message = on_message,
	.send_blocked = on_send_blocked,
};

/* ---- what services are lent (service.h) ----------------------------------------------------- */

sd_event *service_event(const struct service_ctx *ctx) { return ctx->d->event; }
struct klog *service_log(const struct service_ctx *ctx) { return ctx->d->log; }
const struct kvmcd_config *service_config(const struct service_ctx *ctx) { return ctx->d->cfg; }
const json_t *service_spec(const struct service_ctx *ctx) { return core_spec(ctx->d->core); }

static void spec_lists_clear(struct spec_lists *l)
{
	json_decref(l->spec);
	free(l->ds);
	free(l->vms);
	free(l->pols);
	*l = (struct spec_lists){ .ds_r = 1, .vm_r = 1, .pol_r = 1 };
}

/* The lists of the core's spec now: cleared when that is another object than theirs. */
static struct spec_lists *spec_lists(struct daemon *d)
{
	const json_t *spec = core_spec(d->core);

	if (d->lists.spec != spec) {
		spec_lists_clear(&d->lists);
		d->lists.spec = json_incref((json_t *)spec);
	}
	return &d->lists;
}

#define SPEC_LIST(fn, field, count, res)                                                   \
	do {                                                                                     \
		struct spec_lists *l = spec_lists(ctx->d);                                      \
		if (l->res > 0 || l->res == -ENOMEM)                                             \
			l->res = fn(l->spec, &l->field, &l->count);                              \
		*out = l->res == 0 ? l->field : NULL;                                            \
		*n = l->res == 0 ? l->count : 0;                                                 \
		return l->res;                                                                   \
	} while (0)

int service_ds_specs(const struct service_ctx *ctx, const struct ds_spec **out, size_t *n)
{
	SPEC_LIST(ds_spec_list, ds, n_ds, ds_r);
}

int service_vm_specs(const struct service_ctx *ctx, const struct vm_spec **out, size_t *n)
{
	SPEC_LIST(vm_spec_list, vms, n_vms, vm_r);
}

int service_prot_policies(const struct service_ctx *ctx, const struct prot_policy **out, size_t *n)
{
	SPEC_LIST(prot_spec_list, pols, n_pols, pol_r);
}
const json_t *service_records(const struct service_ctx *ctx) { return core_records(ctx->d->core); }
const json_t *service_node_sections(const struct service_ctx *ctx) { return core_node_sections(ctx->d->core); }

const json_t *service_own_part(const struct service_ctx *ctx, const char *key)
{
	for (size_t i = 0; i < N_SERVICES; i++) {
		const json_t *part = json_object_get(ctx->d->svc[i].section, key);
		if (part)
			return part;
	}
	return NULL;
}

const json_t *service_leader_part(const struct service_ctx *ctx, const char *key, const char **node)
{
	const json_t *best = NULL, *v;
	json_int_t best_epoch = -1;
	const char *k, *best_node = NULL, *me = ctx->d->cfg->node_name;

	json_object_foreach((json_t *)service_node_sections(ctx), k, v) {
		const json_t *part = json_object_get(json_object_get(v, "section"), key);
		json_int_t e = json_integer_value(json_object_get(part, "epoch"));

		if (part && e > best_epoch) {
			best = part;
			best_epoch = e;
			best_node = json_string_value(json_object_get(v, "name"));
		}
	}
	/* this node's own part as its service last published it: newer than (or the same as) what
	 * came back over CPG -- only where that is ours, or older than ours */
	{
		const json_t *own = service_own_part(ctx, key);
		json_int_t e = json_integer_value(json_object_get(own, "epoch"));
		bool mine = best_node && !strcmp(best_node, me);

		if (own && (e > best_epoch || (e == best_epoch && mine))) {
			best = own;
			best_node = me;
		}
	}
	if (node)
		*node = best ? best_node : NULL;
	return best;
}
uint64_t service_committed_version(const struct service_ctx *ctx) { return core_committed_version(ctx->d->core); }
bool service_may_act(const struct service_ctx *ctx) { return core_may_act(ctx->d->core); }
bool service_settled(const struct service_ctx *ctx)
{
	return core_may_act(ctx->d->core) && core_state_version(ctx->d->core) == core_committed_version(ctx->d->core);
}
bool service_is_acting(const struct service_ctx *ctx) { return core_is_acting(ctx->d->core); }
uint64_t service_acting_epoch(const struct service_ctx *ctx)
{
	return core_is_acting(ctx->d->core) ? core_leader_epoch(ctx->d->core) : 0;
}
bool service_is_recording(const struct service_ctx *ctx) { return core_is_recording(ctx->d->core); }
uint64_t service_recording_epoch(const struct service_ctx *ctx)
{
	return core_is_recording(ctx->d->core) ? core_leader_epoch(ctx->d->core) : 0;
}
const char *service_cluster_id(const struct service_ctx *ctx) { return core_cluster_id(ctx->d->core); }
bool service_healthy(const struct service_ctx *ctx)
{
	/* coord/timeouts.h 5.: connected, quorate, not stalled. NOT "has a leader": when the leader
	 * fails, the quorate survivors are without one for a moment (the view change, the
	 * election); were that unhealthy, every survivor would stop its HA guests at once -- one
	 * host's failure would take down every HA VM of the cluster. */
	struct core *c = ctx->d->core;
	uint64_t alone = core_two_node_alone_since(c);

	/* A two-node cluster's lone survivor (core.h): healthy while it claims, at most notice_max
	 * after it found itself alone -- the loser of the claim, or a survivor that cannot reach
	 * ONTAP, then stops its HA guests and stops feeding exactly like an isolated host of a
	 * bigger cluster (coord/timeouts.h 4., 5.), so the winner's watchdog deadline holds. Never
	 * healthy alone before it has seen its peer (wait_for_all): its watchdog is not armed. */
	if (alone && (!core_two_node_peer_seen(c) || now_usec() >= alone + ctx->d->notice_max_usec))
		return false;
	return core_is_quorate(c) && !core_is_stalled_at(c, now_usec()) && cpg_glue_is_connected(ctx->d->glue);
}
uint64_t service_claim_pending(const struct service_ctx *ctx) { return core_claim_pending(ctx->d->core); }
void service_claim_won(struct service_ctx *ctx, uint64_t epoch)
{
	core_claim_won(ctx->d->core, now_usec(), epoch);
	schedule_drain(ctx->d);
}
int service_departure(const struct service_ctx *ctx, const char *name, uint32_t *reason, uint64_t *view,
		      uint64_t *at_usec)
{
	const json_t *v = json_object_get(ctx->d->departures, name);

	if (!v)
		return -ENOENT;
	*reason = (uint32_t)json_integer_value(json_object_get(v, "reason"));
	*view = (uint64_t)json_integer_value(json_object_get(v, "view"));
	*at_usec = (uint64_t)json_integer_value(json_object_get(v, "at"));
	return 0;
}
uint64_t service_views(const struct service_ctx *ctx) { return ctx->d->views; }

int service_leader_patch(struct service_ctx *ctx, uint64_t epoch, const json_t *patch, uint64_t *version,
			 char **error)
{
	struct daemon *d = ctx->d;
	int r;

	if (d->fatal)
		return -ESHUTDOWN;
	r = core_leader_patch(d->core, now_usec(), epoch, patch, version, error);
	if (!d->draining) /* otherwise the running drain performs what this queued */
		schedule_drain(d);
	return r;
}

/* This node's section is one object; each service owns its own top-level keys in it (the
 * datastores' "inventory" and "datastores", the VMs' "vms" and "capacity"): a service publishes
 * its part and the node publishes the union, so services never overwrite each other. */
int service_node_publish(struct service_ctx *ctx, const json_t *section, char **error)
{
	struct daemon *d = ctx->d;
	json_auto_t *merged = json_object();
	json_t *mine = json_deep_copy(section);
	int r;

	if (d->fatal)
		return -ESHUTDOWN;
	if (!merged || !mine) {
		json_decref(mine);
		return -ENOMEM;
	}
	if (!json_equal(ctx->section, mine))
		d->own_gen++; /* service_leader_part() reads it at once: the sections hooks run */
	json_decref(ctx->section);
	ctx->section = mine;
	for (size_t i = 0; i < N_SERVICES; i++)
		if (d->svc[i].section && json_object_update_missing(merged, d->svc[i].section) < 0)
			return -ENOMEM;
	r = core_node_publish(d->core, now_usec(), merged, error);
	if (!d->draining)
		schedule_drain(d);
	return r;
}

int service_request_spec(struct service_ctx *ctx, uint64_t conn_id, const json_t *spec)
{
	struct daemon *d = ctx->d;
	_cleanup_free_ char *text = NULL;

	if (d->fatal)
		return -ESHUTDOWN;
	text = spec_canonical(spec);
	if (!text)
		return -ENOMEM;
	/* The answer comes as a CORE_ACT_REPLY for conn_id, performed by the drain. */
	core_request_spec(d->core, now_usec(), conn_id, text, strlen(text));
	if (!d->draining)
		schedule_drain(d);
	return 0;
}

void service_reply(struct service_ctx *ctx, uint64_t conn_id, json_t *reply)
{
	if (ctx->d->api)
		api_server_reply(ctx->d->api, conn_id, reply);
	else
		json_decref(reply);
}

/* ---- API requests --------------------------------------------------------------------------- */

/* Every daemon command's state is the daemon itself. */

static json_t *cmd_status(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;
	json_t *st = core_status_json(d->core, now_usec());

	if (!st)
		return NULL;
	/* What only the shell knows: the corosync connection, where this daemon lives, its disk. */
	json_object_set_new(st, "daemon",
			    json_pack("{sssisbsIsssssssIsI}", "version", KVMCD_VERSION, "pid", (int)getpid(), "connected",
				      cpg_glue_is_connected(d->glue), "send_queue", (json_int_t)cpg_glue_queued(d->glue),
				      "config", d->cfg->path, "socket", d->cfg->socket_path, "group", d->cfg->cluster_group,
				      "snapshot_bytes", (json_int_t)persist_snapshot_bytes(d->persist),
				      "journal_bytes", (json_int_t)persist_journal_bytes(d->persist)));
	/* Each service's section under its name; null when it is off or says nothing. */
	FOREACH_SERVICE(d, s) {
		json_t *section = s->state && s->ops->status ? s->ops->status(s->state) : NULL;

		json_object_set_new(st, s->ops->name, section ? section : json_null());
	}
	return json_pack("{sbso}", "ok", 1, "status", st);
}

/* Why this node's copy may be stale (spec-get's "why_not_current"). */
static char *why_not_current(struct daemon *d)
{
	json_auto_t *st = NULL;
	const char *sync;
	char *why;

	if (!cpg_glue_is_connected(d->glue))
		return strdup("this node is not connected to corosync");
	if (!core_is_quorate(d->core))
		return strdup("this node is not quorate");
	st = core_status_json(d->core, now_usec());
	sync = json_string_value(json_object_get(json_object_get(st, "sync"), "state"));
	if (asprintf(&why, "this node's view is not synced (%s)", sync ? sync : "syncing") < 0)
		return NULL;
	return why;
}

/* {"ok": true, key: value (stolen), "version", "current"[, "why_not_current"]}: a copy of this
 * node's replicated state, with whether it may be stale (spec-get, records). */
static json_t *state_reply(struct daemon *d, const char *key, json_t *value)
{
	bool current = core_may_act(d->core);
	json_t *reply = json_pack("{sbsosIsb}", "ok", 1, key, value ? value : json_object(), "version",
				  (json_int_t)core_state_version(d->core), "current", current);

	if (reply && !current) {
		_cleanup_free_ char *why = why_not_current(d);

		json_object_set_new(reply, "why_not_current", json_string(why ? why : "unknown"));
	}
	return reply;
}

static json_t *cmd_spec_get(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;

	return state_reply(d, "spec", core_spec_json(d->core));
}

/* The leader's records on this node (read-only; for operators and tests): those whose key
 * starts with "prefix" when given. */
static json_t *cmd_records(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;
	const char *prefix = json_string_value(json_object_get(req, "prefix")) ?: "", *k;
	json_t *out = json_object(), *v;

	(void)conn_id;
	json_object_foreach((json_t *)core_records(d->core), k, v)
		if (out && !strncmp(k, prefix, strlen(prefix)))
			json_object_set(out, k, v);
	return state_reply(d, "records", out);
}

static const char *spec_text_of(json_t *req, size_t *len)
{
	json_t *t = json_object_get(req, "spec_text");

	if (!json_is_string(t))
		return NULL;
	*len = json_string_length(t);
	return json_string_value(t);
}

static json_t *cmd_spec_apply(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;
	size_t len;
	const char *text = spec_text_of(req, &len);

	if (!text)
		return api_error(-EINVAL, "spec-apply needs a string \"spec_text\"");
	/*
	 * A spec apply never asks by itself to destroy a datastore's data: a name new in
	 * "destroy_data" comes only from `kvmcctl datastore remove NAME --destroy-data` (the
	 * datastore service, which requests the spec itself). So an old file re-applied never
	 * destroys anything (coord/spec/datastore.h). A text that does not parse is left to the
	 * core, which says what is wrong with it.
	 */
	{
		json_auto_t *next = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		const char *added = next ? ds_destroy_data_added(core_spec(d->core), next) : NULL;

		json_t *refusal;

		if (added)
			return api_refusal(-EINVAL,
					   "refused, nothing applied:\ndestroy_data: \"%.64s\" is not listed there in the spec in force; "
					   "`spec apply` never asks to destroy a datastore's data: use `kvmcctl datastore remove %.64s --destroy-data`",
					   added, added);
		/* Nor to revert a datastore to a snapshot (datastore.h "Restores"). */
		added = next ? ds_restore_added(core_spec(d->core), next) : NULL;
		if (added)
			return api_refusal(-EINVAL,
					   "refused, nothing applied:\nrestore.%.64s: not the request of the spec in force; "
					   "`spec apply` never asks to restore a datastore: use `kvmcctl snapshot restore %.64s SNAPSHOT`",
					   added, added);
		/* issue 10: a SnapMirror destination that is a datastore's own volume (the [ontap] SVM) */
		if (next && (refusal = mirror_spec_check(d->cfg, next)))
			return refusal;
		/* issue 10: a consistency group on an ONTAP older than 9.10.1 */
		if (next && (refusal = protection_spec_check(core_records(d->core), next)))
			return refusal;
	}
	/* The answer always comes as a CORE_ACT_REPLY for conn_id, performed by the drain. */
	core_request_spec(d->core, now_usec(), conn_id, text, len);
	schedule_drain(d);
	return NULL;
}

static json_t *cmd_spec_diff(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;
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

static json_t *cmd_log(void *state, uint64_t conn_id, json_t *req)
{
	struct daemon *d = state;
	json_t *lines = klog_ring_json(d->log);

	return lines ? json_pack("{sbso}", "ok", 1, "lines", lines) : api_error(-ENOMEM, "out of memory");
}

/* The daemon's own verbs; the services' follow from their tables. */
static const struct service_command daemon_commands[] = {
	{ "status", cmd_status },
	{ "spec-get", cmd_spec_get },
	{ "records", cmd_records },
	{ "spec-apply", cmd_spec_apply },
	{ "spec-diff", cmd_spec_diff },
	{ "log", cmd_log },
	{ NULL, NULL },
};

static const struct service_command *command_find(const struct service_command *table, const char *name)
{
	for (; table && table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

/* "status, spec-get, ..., <every service's verbs>" for the unknown-command error. */
static char *command_names(struct daemon *d)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	const char *sep = "";

	if (!f)
		return NULL;
	for (const struct service_command *c = daemon_commands; c->name; c++, sep = ", ")
		fprintf(f, "%s%s", sep, c->name);
	FOREACH_SERVICE(d, s)
		for (const struct service_command *c = s->ops->commands; c && c->name; c++, sep = ", ")
			fprintf(f, "%s%s", sep, c->name);
	if (fclose(f) != 0)
		return NULL;
	return TAKE_PTR(buf);
}

static json_t *on_api_request(void *userdata, uint64_t conn_id, const char *cmd, json_t *req)
{
	struct daemon *d = userdata;
	const struct service_command *c;
	_cleanup_free_ char *names = NULL;

	if (d->fatal)
		return api_error(-ESHUTDOWN, "kvmcd is stopping after a fatal error");
	c = command_find(daemon_commands, cmd);
	if (c)
		return c->handler(d, conn_id, req);
	FOREACH_SERVICE(d, s) {
		c = command_find(s->ops->commands, cmd);
		if (!c)
			continue;
		if (!s->state)
			return api_error(-EOPNOTSUPP, "'%s' needs %s, which is not configured on this node", cmd,
					 s->ops->name);
		return c->handler(s->state, conn_id, req);
	}
	names = command_names(d);
	return api_error(-EOPNOTSUPP, "unknown command '%s' (%s)", cmd, names ? names : "see kvmcctl --help");
}

static const struct api_server_ops api_ops = {
	.request = on_api_request,
};

json_t *service_call(struct service_ctx *ctx, const char *cmd, json_t *req)
{
	/* conn_id 0 is never a connection's: a verb that would answer later answers no one */
	return on_api_request(ctx->d, 0, cmd, req);
}

/* ---- signals -------------------------------------------------------------------------------- */

/* systemd is told this much beyond the services' deadline, and again every STOP_TICK_USEC: the
 * unit's TimeoutStopSec should cover it anyway (coord/timeouts.h 8.), this keeps it from cutting
 * a longer configured [vms] shutdown_timeout short. */
#define STOP_TICK_USEC ((uint64_t)5 * USEC_PER_SEC)
#define STOP_EXTEND_USEC ((uint64_t)15 * USEC_PER_SEC)

/* Exits once no service holds the exit any more. */
static void stop_check(struct daemon *d)
{
	FOREACH_SERVICE(d, s)
		if (s->stopping)
			return;
	klog(d->log, LOG_NOTICE, "Leaving the cluster");
	sd_event_exit(d->event, 0);
}

void service_stop_done(struct service_ctx *ctx)
{
	if (!ctx->stopping)
		return;
	ctx->stopping = false;
	klog(ctx->d->log, LOG_INFO, "%s has finished what it does before kvmcd stops", ctx->ops->name);
	stop_check(ctx->d);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t now = now_usec();

	if (now >= d->stop_deadline) {
		FOREACH_SERVICE(d, v)
			if (v->stopping)
				klog(d->log, LOG_WARNING, "%s did not finish what it does before kvmcd stops by its deadline; "
				     "stopping anyway", v->ops->name);
		sd_event_exit(d->event, 0);
		return 0;
	}
	(void)sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%" PRIu64, (uint64_t)(d->stop_deadline - now + STOP_EXTEND_USEC));
	sd_event_source_set_time(s, now + STOP_TICK_USEC < d->stop_deadline ? now + STOP_TICK_USEC : d->stop_deadline);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/*
 * The first SIGTERM / SIGINT asks every service whether it has work to finish first (service.h
 * stop: the VM service's planned-shutdown policy); the daemon goes on running -- the loop keeps
 * feeding systemd's watchdog -- until they are done or their deadline passed. A second signal
 * stops at once.
 */
static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	bool wait = false;
	int r;

	if (d->stopping) {
		klog(d->log, LOG_WARNING, "Received %s again: stopping now", strsignal((int)si->ssi_signo));
		sd_event_exit(d->event, 0);
		return 0;
	}
	d->stopping = true;
	klog(d->log, LOG_NOTICE, "Received %s", strsignal((int)si->ssi_signo));
	FOREACH_SERVICE_WITH(d, v, stop) {
		uint64_t deadline = 0;

		v->stopping = true;
		if (v->ops->stop(v->state, &deadline) > 0) {
			wait = true;
			if (deadline > d->stop_deadline)
				d->stop_deadline = deadline;
		} else {
			v->stopping = false;
		}
	}
	if (!wait) {
		stop_check(d);
		return 0;
	}
	(void)sd_notifyf(false, "STOPPING=1\nSTATUS=Stopping: the shutdown policy runs\nEXTEND_TIMEOUT_USEC=%" PRIu64,
			 (uint64_t)(d->stop_deadline > now_usec() ? d->stop_deadline - now_usec() + STOP_EXTEND_USEC
							       : STOP_EXTEND_USEC));
	r = sd_event_add_time(d->event, &d->stop_timer, CLOCK_MONOTONIC, now_usec() + STOP_TICK_USEC < d->stop_deadline
				      ? now_usec() + STOP_TICK_USEC : d->stop_deadline, USEC_PER_MSEC * 100, on_stop_timer, d);
	if (r < 0) {
		klog(d->log, LOG_ERR, "Cannot arm the stop deadline: %s; stopping now", strerror(-r));
		sd_event_exit(d->event, 0);
	}
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

/*
 * Offers next to every service that is on, in order. All or nothing: when one refuses, those
 * that accepted are handed the running config again. Returns 0 or the refusal (logged).
 */
static int services_reload(struct daemon *d, const struct kvmcd_config *next)
{
	FOREACH_SERVICE_WITH(d, s, reload) {
		_cleanup_free_ char *error = NULL;
		int r = s->ops->reload(s->state, next, &error);

		if (r >= 0)
			continue;
		klog(d->log, LOG_ERR, "Reload refused by %s: %s", s->ops->name, error ? error : strerror(-r));
		for (struct service_ctx *u = d->svc; u < s; u++) {
			_cleanup_free_ char *again = NULL;

			if (u->state && u->ops->reload && u->ops->reload(u->state, d->cfg, &again) < 0)
				klog(d->log, LOG_ERR, "%s cannot go back to the running configuration: %s", u->ops->name,
				     again ? again : "failed");
		}
		return r;
	}
	return 0;
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
		if (services_reload(d, next) < 0) {
			klog(d->log, LOG_ERR, "Reload failed: keeping the running configuration");
			config_free(next);
		} else {
			klog_configure(d->log, next->log_level, next->log_target, d->args->foreground);
			cpg_glue_set_reconnect_max(d->glue, next->reconnect_max_ms);
			/* Always: the group may have been created (or renumbered) since the last look. */
			(void)api_server_set_group(d->api, next->api_group);
			api_server_set_max_connections(d->api, next->api_max_connections);
			config_free(d->cfg);
			d->cfg = next;
			klog(d->log, LOG_INFO, "Reloaded %s (%zu key%s changed)", d->args->config_path, changed,
			     changed == 1 ? "" : "s");
		}
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
	sd_event_source_disable_unref(d->drain_src);
	sd_event_source_disable_unref(d->sig_term);
	sd_event_source_disable_unref(d->sig_int);
	sd_event_source_disable_unref(d->sig_hup);
	sd_event_source_disable_unref(d->stop_timer);
	cpg_glue_free(d->glue);
	api_server_free(d->api);
	for (size_t i = N_SERVICES; i-- > 0;) {
		if (d->svc[i].state && d->svc[i].ops->free)
			d->svc[i].ops->free(d->svc[i].state);
		json_decref(d->svc[i].section);
	}
	spec_lists_clear(&d->lists);
	core_free(d->core);
	json_decref(d->departures);
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
/* CORE_CLUSTER_ID_LEN hex characters from the kernel's random source. */
static int random_cluster_id(char **out)
{
	uint8_t raw[CORE_CLUSTER_ID_LEN / 2];
	char *hex = malloc(CORE_CLUSTER_ID_LEN + 1);

	if (!hex)
		return -ENOMEM;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		free(hex);
		return -errno;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	*out = hex;
	return 0;
}

static int load_core(struct daemon *d)
{
	_cleanup_free_ char *snapshot = NULL, *journal = NULL, *error = NULL, *with = NULL, *source = NULL;
	_cleanup_free_ char *candidate = NULL;
	const char *dir = persist_dir(d->persist);
	struct timeouts t;
	struct core_config cc = {
		.name = d->cfg->node_name,
		.proto_min = WIRE_PROTO_MIN,
		.proto_max = WIRE_PROTO_MAX,
	};
	size_t records = 0;
	int r;

	/* Every timeout the core's safety depends on comes from coord/timeouts.h. */
	r = timing_derive(d->cfg, &t, &source, &error);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "The timeouts of %s do not fit together: %s; refusing to start",
				  d->cfg->path, error ? error : strerror(-r));
	cc.stall_timeout_usec = t.base.stall_timeout_usec;
	d->notice_max_usec = t.notice_max_usec;
	cc.heartbeat_usec = t.heartbeat_usec;
	cc.quorum_grace_usec = t.quorum_grace_usec;
	cc.lease_usec = t.leader_lease_usec + t.base.margin_usec;
	cc.request_timeout_usec = t.base.request_timeout_usec;
	if (t.notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL)
		klog(d->log, LOG_WARNING,
		     "stall_timeout %u ms is below %llu ms for %s: a node failure may first show as a stall (the leader steps down); raise [cluster] stall_timeout or lower totem.token (kvmcd --print-timeouts)",
		     (unsigned)(t.base.stall_timeout_usec / USEC_PER_MSEC), (unsigned long long)(t.stall_clean_min_usec / USEC_PER_MSEC),
		     source ? source : "corosync");
	if (t.notes & TIMEOUTS_NOTE_REQUEST_SHORT)
		klog(d->log, LOG_NOTICE,
		     "request_timeout %u ms is below one failover (%llu ms): a change interrupted by a failover may end as \"outcome unknown\"",
		     d->cfg->request_timeout_ms, (unsigned long long)(t.commit_max_usec / USEC_PER_MSEC));
	/* The cluster identity this node mints if it is the first leader of a cluster without one. */
	r = random_cluster_id(&candidate);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot read random bytes for a cluster identity: %s", strerror(-r));
	cc.cluster_id_candidate = candidate;
	free(error);
	error = NULL;

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

/* Names of services and of every command must be unique (a programming error otherwise). */
static int check_tables(struct daemon *d)
{
	FOREACH_SERVICE(d, s) {
		for (struct service_ctx *t = d->svc; t < s; t++)
			if (strcmp(t->ops->name, s->ops->name) == 0)
				return klog_errno(d->log, LOG_ERR, -EINVAL, "Two services are named '%s'", s->ops->name);
		for (const struct service_command *c = s->ops->commands; c && c->name; c++) {
			const char *owner = command_find(daemon_commands, c->name) ? "the daemon" : NULL;

			for (struct service_ctx *t = d->svc; !owner && t <= s; t++)
				for (const struct service_command *o = t->ops->commands; !owner && o != c && o && o->name; o++)
					if (strcmp(o->name, c->name) == 0)
						owner = t->ops->name;
			if (owner)
				return klog_errno(d->log, LOG_ERR, -EINVAL, "Command '%s' of %s is also one of %s", c->name,
						  s->ops->name, owner);
		}
	}
	return 0;
}

static int services_init(struct daemon *d)
{
	FOREACH_SERVICE(d, s) {
		_cleanup_free_ char *error = NULL;
		void *state = NULL;
		int r;

		if (!s->ops->init)
			continue;
		r = s->ops->init(s, &state, &error);
		if (r < 0)
			return klog_errno(d->log, LOG_ERR, r, "%s; refusing to start",
					  error ? error : strerror(-r));
		s->state = state;
		klog(d->log, LOG_DEBUG, "Service %s: %s", s->ops->name, state ? "on" : "off (not configured)");
	}
	return 0;
}

static int setup(struct daemon *d)
{
	sigset_t mask;
	int r;

	for (size_t i = 0; i < N_SERVICES; i++)
		d->svc[i] = (struct service_ctx){ .d = d, .ops = services[i] };
	d->departures = json_object();
	if (!d->departures)
		return -ENOMEM;
	r = check_tables(d);
	if (r < 0)
		return r;

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
	sigaddset(&mask, SIGCHLD); /* sd-event watches children (common/runner.h) only with it blocked */
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
	/* The drain runs before any other pending source: actions are performed (and API readers
	 * see persisted state) before the next input is even looked at. */
	if (r >= 0)
		r = sd_event_add_defer(d->event, &d->drain_src, on_drain, d);
	if (r >= 0)
		r = sd_event_source_set_priority(d->drain_src, SD_EVENT_PRIORITY_IMPORTANT);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->drain_src, SD_EVENT_OFF);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot set up the event loop: %s", strerror(-r));

	r = services_init(d);
	if (r < 0)
		return r;

	r = api_server_new(d->event, d->log, d->cfg->socket_path, d->cfg->api_group, &api_ops, d, &d->api);
	if (r == -EADDRINUSE)
		return klog_errno(d->log, LOG_ERR, r, "Another kvmcd answers on %s; refusing to start", d->cfg->socket_path);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot listen on %s: %s", d->cfg->socket_path, strerror(-r));
	api_server_set_max_connections(d->api, d->cfg->api_max_connections);

	r = cpg_glue_new(d->event, d->log, d->cfg->cluster_group, d->cfg->reconnect_max_ms, &glue_ops, d, &d->glue);
	if (r < 0)
		return klog_errno(d->log, LOG_ERR, r, "Cannot set up corosync: %s", strerror(-r));
	return 0;
}

int daemon_run(const struct daemon_args *args, struct klog *log, struct kvmcd_config *cfg)
{
	struct daemon d = { .args = args, .log = log, .cfg = cfg, .lists = { .ds_r = 1, .vm_r = 1, .pol_r = 1 } };
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
	schedule_drain(&d);
	(void)sd_notify(false, "READY=1");
	r = sd_event_loop(d.event);
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Leaving the cluster");
	/* Events fed in the loop's last iteration still have their actions queued: perform them
	 * (persisted before acknowledged, as always) before leaving. Not after a fatal error. */
	if (!d.fatal)
		drain(&d);
	cpg_glue_stop(d.glue);
	{
		/* A change still in flight may yet commit through the other members: say so. */
		json_auto_t *bye = api_error(-ECANCELED, "kvmcd stopped before the change was committed; it may still apply, check `kvmcctl spec get`");

		if (bye && d.api) {
			json_object_set_new(bye, "outcome", json_string("unknown"));
			api_server_answer_waiting(d.api, bye);
		}
	}
	if (r < 0)
		klog(log, LOG_ERR, "Stopping after a fatal error: %s", strerror(-r));
	else
		klog(log, LOG_NOTICE, "Stopped");
	daemon_free(&d);
	return r < 0 ? r : 0;
}
