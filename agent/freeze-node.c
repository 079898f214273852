/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The node's side of a VM-consistent snapshot (freeze-node.h): coord/decide/freeze.h's shell. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "domain.h"
#include "freeze-node.h"
#include "freeze.h"
#include "macros.h"
#include "worker.h"

#define THAW_BUDGET_USEC (5 * USEC_PER_SEC)      /* one thaw call */
#define THAW_RETRY_USEC (1 * USEC_PER_SEC)       /* a failed thaw again after (doubling) */
#define LIST_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define RUN_EPOCH(run) ((run) >> 24)             /* protection.c: run = epoch << 24 | sequence */

struct fz;

/* One fs_freeze / fs_thaw / list in flight: the host op's userdata. Owned by fz->calls until its
 * done; freed by fz_free when the pool dropped it (host_ctx_cancel: no done). */
struct call {
	struct fz *f;                /* borrowed back-pointer */
	char *vm;                    /* owned; NULL for the start-up listing */
	enum freeze_op op;
	bool startup;                /* the start-up thaw (not the core's) */
	uint64_t run;                /* the run it was issued in (for the log) */
	struct call *next;
};

struct fz {
	struct service_ctx *ctx;     /* borrowed */
	struct worker_pool *workers; /* owned */
	struct host_ctx host;        /* its workers are ours */
	char *libvirt_uri;           /* owned or NULL */
	const struct host_domain_ops *dom;
	sd_event_source *timer;      /* owned: CLOCK_MONOTONIC at freeze_next_wakeup() */
	sd_event_source *publish_src; /* owned: defer, one publish for the results of one loop
					 iteration (ten results of one wake-up: one CPG message) */
	sd_event_source *linger_src;  /* owned: CLOCK_MONOTONIC, a publish held for calls in flight */
	struct freeze_session s;     /* owned */
	struct call *calls;          /* owned: in flight */
	unsigned startup_pending;    /* start-up listing / thaws in flight: no run starts before */
	uint64_t rep_run;            /* the run the reports are about */
	json_t *reports;             /* owned: {"<vm>": {"report","outcome"?,"why"?}} */
	json_t *published;           /* owned: what was last published */
	uint64_t runs, frozen, crash, thawed, thaw_failed; /* counters, for status */
};

static void feed(struct fz *f, const struct freeze_input *in);
static void evaluate(struct fz *f);

static struct klog *flog(struct fz *f)
{
	return service_log(f->ctx);
}

static const char *me(struct fz *f)
{
	return service_config(f->ctx)->node_name;
}

static uint64_t mono_usec(struct fz *f)
{
	uint64_t t = 0;

	sd_event_now(service_event(f->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

static void hlog(void *userdata, int level, const char *text)
{
	struct fz *f = userdata;

	klog(flog(f), level, "%s", text);
}

static void publish(struct fz *f)
{
	_cleanup_free_ char *error = NULL;
	json_t *part = json_object();
	int r;

	if (f->linger_src)
		sd_event_source_set_enabled(f->linger_src, SD_EVENT_OFF);
	if (!part)
		return;
	if (f->rep_run)
		json_object_set_new(part, "freeze_reports",
				    json_pack("{sIsIso}", "run", (json_int_t)f->rep_run, "epoch",
					      (json_int_t)RUN_EPOCH(f->rep_run), "vms", json_deep_copy(f->reports)));
	/* (a copy: f->reports changes in place, and `published` must keep what was sent) */
	if (f->published && json_equal(f->published, part)) {
		json_decref(part);
		return;
	}
	r = service_node_publish(f->ctx, part, &error);
	if (r < 0 && r != -EOPNOTSUPP) {
		klog(flog(f), LOG_WARNING, "Cannot publish this node's freeze reports: %s", error ? error : strerror(-r));
		json_decref(part);
		return;
	}
	json_decref(f->published);
	f->published = part;
}

static int on_publish(sd_event_source *s, void *userdata)
{
	(void)s;
	publish(userdata);
	return 0;
}

/*
 * The reports of a phase go out together: while other calls are still in flight a result waits
 * for them, up to PUBLISH_LINGER_USEC after the first one that waits; the last result (or the
 * linger's end) publishes them all. One CPG message per node and phase instead of one per VM:
 * on a loaded host every message costs corosync CPU that the guests' freezes and thaws need
 * (bench/freeze.sh), and the leader acts only once it has every VM's report anyway.
 */
#define PUBLISH_LINGER_USEC (100 * USEC_PER_MSEC)

static void publish_soon(struct fz *f)
{
	int on = SD_EVENT_OFF;

	if (f->calls && f->linger_src) {
		if (sd_event_source_get_enabled(f->linger_src, &on) >= 0 && on != SD_EVENT_OFF)
			return; /* already held: its deadline stands */
		if (sd_event_source_set_time(f->linger_src, mono_usec(f) + PUBLISH_LINGER_USEC) >= 0 &&
		    sd_event_source_set_enabled(f->linger_src, SD_EVENT_ONESHOT) >= 0)
			return;
	}
	if (!f->publish_src || sd_event_source_set_enabled(f->publish_src, SD_EVENT_ONESHOT) < 0)
		publish(f);
}

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	publish(userdata);
	return 0;
}

static void arm_timer(struct fz *f)
{
	uint64_t at = freeze_next_wakeup(&f->s);

	if (at == UINT64_MAX) {
		sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(f->timer, at ? at : 1);
	sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
}

/* ---- host calls ---------------------------------------------------------------------------- */

static void call_unlink(struct fz *f, struct call *c)
{
	for (struct call **pp = &f->calls; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void call_free(struct call *c)
{
	if (c) {
		free(c->vm);
		free(c);
	}
}

static void on_call_done(void *userdata, int r, const char *detail)
{
	struct call *c = userdata;
	struct fz *f = c->f;
	enum freeze_outcome o = freeze_outcome_from_errno(r);

	call_unlink(f, c);
	if (c->startup) {
		if (r >= 0)
			klog(flog(f), LOG_INFO, "Start-up thaw of VM '%s': %s", c->vm, detail ? detail : "ok");
		else if (o == FREEZE_AGENT_TIMEOUT || o == FREEZE_AGENT_ERROR || o == FREEZE_ERROR)
			klog(flog(f), LOG_WARNING, "Start-up thaw of VM '%s' failed: %s", c->vm, detail ? detail : strerror(-r));
		f->startup_pending--;
		call_free(c);
		if (!f->startup_pending)
			evaluate(f); /* a run that came meanwhile starts now */
		return;
	}
	if (r < 0 && c->op == FREEZE_OP_FREEZE)
		klog(flog(f), LOG_INFO, "Freeze of VM '%s' (run %" PRIu64 "): %s", c->vm, c->run, detail ? detail : strerror(-r));
	else if (r < 0)
		klog(flog(f), LOG_WARNING, "Thaw of VM '%s' (run %" PRIu64 ") failed: %s", c->vm, c->run,
		     detail ? detail : strerror(-r));
	feed(f, &(struct freeze_input){ .kind = c->op == FREEZE_OP_FREEZE ? FREEZE_IN_FREEZE_DONE : FREEZE_IN_THAW_DONE,
					.vm = c->vm, .outcome = o });
	call_free(c);
}

/* 0, or a negative errno with nothing started. */
static int call_start(struct fz *f, enum freeze_op op, const char *vm, uint64_t budget, bool startup)
{
	struct call *c = calloc(1, sizeof(*c));
	int r;

	if (!c || !(c->vm = strdup(vm))) {
		call_free(c);
		return -ENOMEM;
	}
	c->f = f;
	c->op = op;
	c->startup = startup;
	c->run = f->s.run;
	if (!budget)
		budget = 1;
	r = op == FREEZE_OP_FREEZE ? f->dom->fs_freeze(&f->host, vm, budget, on_call_done, c)
				   : f->dom->fs_thaw(&f->host, vm, budget, on_call_done, c);
	if (r < 0) {
		call_free(c);
		return r;
	}
	c->next = f->calls;
	f->calls = c;
	return 0;
}

/* ---- the core -------------------------------------------------------------------------------- */

static void report(struct fz *f, const struct freeze_action *a)
{
	json_t *e;

	switch (a->report) {
	case FREEZE_REP_FROZEN:
		f->frozen++;
		klog(flog(f), LOG_NOTICE, "Froze the guest file systems of VM '%s' for run %" PRIu64, a->vm, a->run);
		break;
	case FREEZE_REP_CRASH:
		f->crash++;
		klog(flog(f), LOG_NOTICE, "VM '%s' is crash-consistent for run %" PRIu64 ": %s", a->vm, a->run,
		     freeze_outcome_name(a->outcome));
		break;
	case FREEZE_REP_THAWED:
		f->thawed++;
		klog(flog(f), LOG_NOTICE, "Thawed VM '%s' (run %" PRIu64 ": %s)", a->vm, a->run, a->why ? a->why : "");
		break;
	case FREEZE_REP_THAW_FAILED:
		f->thaw_failed++;
		klog(flog(f), LOG_WARNING, "Thaw of VM '%s' (run %" PRIu64 ") failed (%s); retrying", a->vm, a->run,
		     freeze_outcome_name(a->outcome));
		break;
	}
	if (a->run > f->rep_run) {
		json_object_clear(f->reports);
		f->rep_run = a->run;
	}
	if (a->run != f->rep_run)
		return; /* an older run's domain thawed: the leader reads only the current run */
	e = json_object_get(f->reports, a->vm);
	if (a->report == FREEZE_REP_THAWED &&
	    !strcmp(json_string_value(json_object_get(e, "report")) ?: "", freeze_report_name(FREEZE_REP_CRASH))) {
		/* a failed freeze thawed: it stays crash-consistent for the run, with its outcome */
		json_object_set_new(e, "thawed", json_string(a->why ? a->why : ""));
		return;
	}
	e = json_pack("{ss}", "report", freeze_report_name(a->report));
	if (e && (a->report == FREEZE_REP_CRASH || a->report == FREEZE_REP_THAW_FAILED))
		json_object_set_new(e, "outcome", json_string(freeze_outcome_name(a->outcome)));
	if (e && a->why)
		json_object_set_new(e, "why", json_string(a->why));
	if (e)
		json_object_set_new(f->reports, a->vm, e);
}

/* Feeds one input and performs its actions; a call that cannot be started is fed back as its
 * result (the core then reports / retries), iteratively. */
static void feed(struct fz *f, const struct freeze_input *first)
{
	struct freeze_input in = *first;
	char *failed_vm = NULL;
	bool more = true;

	while (more) {
		struct freeze_actions acts = { 0 };
		int r = freeze_step(&f->s, &in, mono_usec(f), &acts);
		struct freeze_input next = { 0 };

		more = false;
		if (r < 0)
			klog(flog(f), LOG_ERR, "The freeze session refused an input (%s); retried at the next tick",
			     strerror(-r));
		for (size_t i = 0; i < acts.n; i++) {
			const struct freeze_action *a = &acts.v[i];
			int k;

			if (a->kind == FREEZE_ACT_REPORT) {
				report(f, a);
				continue;
			}
			k = call_start(f, a->kind == FREEZE_ACT_FREEZE ? FREEZE_OP_FREEZE : FREEZE_OP_THAW, a->vm,
				       a->budget_usec, false);
			if (k < 0) {
				klog(flog(f), LOG_ERR, "Cannot %s VM '%s': %s", freeze_action_name(a->kind), a->vm,
				     strerror(-k));
				if (!more) { /* one at a time; the others come back on the next tick */
					free(failed_vm);
					failed_vm = strdup(a->vm);
					next = (struct freeze_input){
						.kind = a->kind == FREEZE_ACT_FREEZE ? FREEZE_IN_FREEZE_DONE : FREEZE_IN_THAW_DONE,
						.vm = failed_vm, .outcome = FREEZE_ERROR };
					more = failed_vm != NULL;
				}
			}
		}
		freeze_actions_clear(&acts);
		in = next;
	}
	free(failed_vm);
	arm_timer(f);
	publish_soon(f);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fz *f = userdata;

	(void)s;
	(void)usec;
	feed(f, &(struct freeze_input){ .kind = FREEZE_IN_TICK });
	return 0;
}

/* The part "protection_freeze" published under the highest epoch (the acting leader's). */
static const json_t *leader_freeze(struct fz *f)
{
	return service_leader_part(f->ctx, "protection_freeze", NULL);
}

static bool run_active(const struct fz *f)
{
	return f->s.run && !f->s.ended;
}

static void leader_lost(struct fz *f, const char *why)
{
	if (!run_active(f))
		return;
	klog(flog(f), LOG_WARNING, "Run %" PRIu64 ": %s; thawing every guest this node froze for it", f->s.run, why);
	feed(f, &(struct freeze_input){ .kind = FREEZE_IN_LEADER_LOST });
}

static void evaluate(struct fz *f)
{
	const json_t *part = leader_freeze(f), *mine;
	uint64_t run = (uint64_t)json_integer_value(json_object_get(part, "run"));
	uint64_t epoch = (uint64_t)json_integer_value(json_object_get(part, "epoch"));
	const char *phase = json_string_value(json_object_get(part, "phase")) ?: "";

	if (run_active(f)) {
		if (!service_healthy(f->ctx))
			leader_lost(f, "this node is not in a healthy view");
		else if (!part || epoch != RUN_EPOCH(f->s.run))
			leader_lost(f, "its leader is gone");
	}
	if (!part || !run)
		return;
	if (!strcmp(phase, "thaw") && run == f->s.run && run_active(f)) {
		feed(f, &(struct freeze_input){ .kind = FREEZE_IN_THAW, .run = run });
		return;
	}
	if (strcmp(phase, "freeze") != 0 || run <= f->s.run || f->startup_pending || !service_healthy(f->ctx))
		return;
	mine = json_object_get(json_object_get(part, "nodes"), me(f));
	if (json_array_size(mine)) {
		size_t n = json_array_size(mine), m = 0, i;
		const char **vms = calloc(n, sizeof(*vms));
		uint64_t budget = (uint64_t)json_integer_value(json_object_get(part, "budget_ms")) * USEC_PER_MSEC;
		json_t *v;

		if (!vms)
			return;
		json_array_foreach(mine, i, v)
			if (json_string_value(v) && *json_string_value(v))
				vms[m++] = json_string_value(v);
		f->runs++;
		klog(flog(f), LOG_INFO, "Run %" PRIu64 " (leader epoch %" PRIu64 "): freezing %zu VM%s, budget %" PRIu64 " ms",
		     run, epoch, m, m == 1 ? "" : "s", (uint64_t)(budget / USEC_PER_MSEC));
		feed(f, &(struct freeze_input){ .kind = FREEZE_IN_REQUEST, .run = run, .vms = vms, .n_vms = m,
						.budget_usec = budget });
		free(vms);
	}
}

/* ---- start-up thaw --------------------------------------------------------------------------- */

static void on_listed(void *userdata, int r, const char *detail)
{
	struct call *c = userdata;
	struct fz *f = c->f;
	json_auto_t *doms = NULL;
	const char *name;
	json_t *d;

	call_unlink(f, c);
	call_free(c);
	f->startup_pending--;
	if (r < 0 || !(doms = json_loads(detail ? detail : "", 0, NULL))) {
		klog(flog(f), LOG_WARNING, "Cannot list this node's domains for the start-up thaw: %s",
		     r < 0 ? (detail ? detail : strerror(-r)) : "unreadable listing");
		evaluate(f);
		return;
	}
	json_object_foreach(doms, name, d) {
		if (!json_string_value(json_object_get(d, "spec_sha256")) ||
		    strcmp(json_string_value(json_object_get(d, "state")) ?: "", "running") != 0)
			continue;
		if (call_start(f, FREEZE_OP_THAW, name, THAW_BUDGET_USEC, true) == 0)
			f->startup_pending++;
	}
	if (!f->startup_pending)
		evaluate(f);
}

static void startup_thaw(struct fz *f)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	c->f = f;
	if (f->dom->list(&f->host, on_listed, c) < 0) {
		klog(flog(f), LOG_WARNING, "Cannot list this node's domains for the start-up thaw");
		free(c);
		return;
	}
	c->next = f->calls;
	f->calls = c;
	f->startup_pending++;
}

/* ---- the service ----------------------------------------------------------------------------- */

static void svc_free(void *state)
{
	struct fz *f = state;

	if (!f)
		return;
	worker_pool_free(f->workers); /* no callback after this */
	host_ctx_cancel(&f->host);
	while (f->calls) {
		struct call *c = f->calls;
		f->calls = c->next;
		call_free(c);
	}
	sd_event_source_disable_unref(f->timer);
	sd_event_source_disable_unref(f->publish_src);
	sd_event_source_disable_unref(f->linger_src);
	freeze_session_clear(&f->s);
	json_decref(f->reports);
	json_decref(f->published);
	free(f->libvirt_uri);
	free(f);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct freeze_config fc = { .thaw_budget_usec = THAW_BUDGET_USEC, .thaw_retry_usec = THAW_RETRY_USEC };
	struct fz *f = calloc(1, sizeof(*f));
	int r;

	*state = NULL;
	if (!f)
		return -ENOMEM;
	f->ctx = ctx;
	f->dom = &host_domain_libvirt_ops;
	freeze_session_init(&f->s, &fc);
	f->reports = json_object();
	r = f->reports ? worker_pool_new(service_event(ctx), FREEZE_THREADS, &f->workers) : -ENOMEM;
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &f->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, f);
	if (r >= 0)
		r = sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &f->publish_src, on_publish, f);
	if (r >= 0)
		r = sd_event_source_set_enabled(f->publish_src, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &f->linger_src, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_linger, f);
	if (r >= 0)
		r = sd_event_source_set_enabled(f->linger_src, SD_EVENT_OFF);
	if (r >= 0 && cfg->host.libvirt_uri && !(f->libvirt_uri = strdup(cfg->host.libvirt_uri)))
		r = -ENOMEM;
	if (r < 0) {
		if (asprintf(error, "the freeze service cannot start: %s", strerror(-r)) < 0)
			*error = NULL;
		svc_free(f);
		return r;
	}
	f->host = (struct host_ctx){ .event = service_event(ctx), .workers = f->workers, .libvirt_uri = f->libvirt_uri,
				     .node_name = cfg->node_name, .step_timeout_usec = LIST_TIMEOUT_USEC, .log = hlog,
				     .log_userdata = f };
	startup_thaw(f);
	*state = f;
	return 0;
}

static void svc_sections(void *state)
{
	evaluate(state);
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct fz *f = state;

	(void)version;
	if (!may_act)
		leader_lost(f, "this node's view is not synced");
	else
		evaluate(f);
}

static json_t *svc_status(void *state)
{
	struct fz *f = state;
	json_t *doms = json_array();

	for (size_t i = 0; doms && i < f->s.n_doms; i++) {
		const struct freeze_dom *d = &f->s.doms[i];
		json_array_append_new(doms, json_pack("{sssssb}", "vm", d->name, "state",
						      d->state == FREEZE_STATE_FROZEN  ? "frozen"
						      : d->state == FREEZE_STATE_MAYBE ? "maybe-frozen"
										     : "thawed",
						      "in_flight", d->op != FREEZE_OP_NONE));
	}
	return json_pack("{sIsbsosIsIsIsIsI}", "run", (json_int_t)f->s.run, "active", run_active(f), "domains",
			 doms ? doms : json_array(), "runs", (json_int_t)f->runs, "frozen", (json_int_t)f->frozen,
			 "crash_consistent", (json_int_t)f->crash, "thawed", (json_int_t)f->thawed, "thaw_failed",
			 (json_int_t)f->thaw_failed);
}

const struct service_ops freeze_node_service = {
	.name = "freeze",
	.init = svc_init,
	.free = svc_free,
	.committed = svc_committed,
	.sections = svc_sections,
	.status = svc_status,
};
