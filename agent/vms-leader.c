/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VM service's leader side: the placement records, the migrations it starts and settles,
 * the requests nodes send it (migrate, drain, rebalance). The runtime on every node is vms.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "handover.h"
#include "macros.h"
#include "placement.h"
#include "recovery.h"
#include "vm.h"
#include "vms-internal.h"
#include "vms.h"

#define PATCH_WAIT_USEC (10 * USEC_PER_SEC)    /* the leader's last patch, before it goes on anyway */

/* ---- leader side ----------------------------------------------------------------------------- */

/*
 * One leader pass computes the records it wants ("want": key -> the whole record) from the
 * replicated state, then patches what differs. Records (vms.h says what they mean):
 *
 *   vm/NAME    {"owner", "action", "reason", "migrating_to", "migration", "last_migration"}
 *   drain/NAME {"drained": true, "requested_by"}               (absent: not drained; not
 *              node/NAME: the datastore leader owns those and replaces them whole)
 *   cluster/rebalance {"id", "requested_by", "started"}          (absent: no rebalance runs)
 */
struct pass {
	struct vms *d;
	struct pinput p;
	json_t *want;            /* owned: key -> record (json null: delete) */
	json_t *touched;         /* owned: {"vm": true} for VMs whose migration changed this pass */
	char **strings;          /* owned: names placement's input borrows from this pass */
	size_t n_strings;
	bool answers_changed;
};

static const char *pass_keep(struct pass *ps, const char *s)
{
	char **v = realloc(ps->strings, (ps->n_strings + 1) * sizeof(*v));
	char *c = s ? strdup(s) : NULL;

	if (!v || !c) {
		free(c);
		if (v)
			ps->strings = v;
		return NULL;
	}
	ps->strings = v;
	v[ps->n_strings++] = c;
	return c;
}

static json_t *want_vm(struct pass *ps, const char *vm)
{
	char key[VM_NAME_MAX + 8];

	snprintf(key, sizeof(key), "vm/%s", vm);
	return json_object_get(ps->want, key);
}

static void set_want_vm(struct pass *ps, const char *vm, json_t *rec /* taken */)
{
	char key[VM_NAME_MAX + 8];

	snprintf(key, sizeof(key), "vm/%s", vm);
	json_object_set_new(ps->want, key, rec);
}

static struct placement_owner *pass_owner(struct pass *ps, const char *vm)
{
	for (size_t i = 0; i < ps->p.no; i++)
		if (!strcmp(ps->p.po[i].vm, vm))
			return &ps->p.po[i];
	return NULL;
}

/* Wall-clock time for people, in records: "2026-11-27T21:52:13Z". */
static void utc_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "?");
}

/* The record placement's decision gives, with what it carries over from the current one. */
static json_t *record_of_decision(const struct placement_decision *dec, const json_t *rec, bool *abandon)
{
	const char *mig_to = json_string_value(json_object_get(rec, "migrating_to"));
	const json_t *mig = json_object_get(rec, "migration"), *last = json_object_get(rec, "last_migration");
	const char *reason = dec->reason;
	char buf[1024];
	json_t *want;

	*abandon = false;
	if (mig_to && !dec->migrating_to && dec->owner && json_string_value(json_object_get(rec, "owner")) &&
	    !strcmp(dec->owner, json_string_value(json_object_get(rec, "owner"))))
		*abandon = true; /* kept, and the source told to abort (migrations_settle) */
	if (!reason && mig_to && (dec->migrating_to || *abandon)) {
		const char *why = json_string_value(json_object_get(mig, "why"));
		snprintf(buf, sizeof(buf), "migrating to %s%s%s", mig_to, why ? ": " : "", why ? why : "");
		reason = buf;
	} else if (!reason && json_is_false(json_object_get(last, "ok")) && dec->owner &&
		   !strcmp(json_string_value(json_object_get(last, "from")) ?: "", dec->owner)) {
		snprintf(buf, sizeof(buf), "its last migration, to %s at %s, failed: %s",
			 json_string_value(json_object_get(last, "to")) ?: "?", json_string_value(json_object_get(last, "at")) ?: "?",
			 json_string_value(json_object_get(last, "error")) ?: "?");
		reason = buf;
	}
	want = json_pack("{s:s?,s:s,s:s?}", "owner", dec->owner, "action", placement_action_name(dec->action), "reason", reason);
	if (!want)
		return NULL;
	if (mig_to && (dec->migrating_to || *abandon)) {
		json_object_set_new(want, "migrating_to", json_string(mig_to));
		json_object_set_new(want, "migration", json_deep_copy(mig));
	}
	if (last)
		json_object_set_new(want, "last_migration", json_deep_copy(last));
	return want;
}

/* The migration in `want` for vm ends: handed over to its target (ok) or dropped (the VM stays
 * with its source). result: the source's numbers (borrowed) or NULL; error: why it failed. */
static void migration_end(struct pass *ps, const char *vm, const json_t *rec, bool ok, const json_t *result,
			  const char *error)
{
	const char *from = json_string_value(json_object_get(rec, "owner"));
	const char *to = json_string_value(json_object_get(rec, "migrating_to"));
	const json_t *mig = json_object_get(rec, "migration");
	char at[32], reason[1024];
	json_t *last, *want;

	utc_now(at);
	last = json_pack("{s:O?,s:s?,s:s?,s:b,s:s,s:O?}", "id", json_object_get(mig, "id"), "from", from, "to", to,
			 "ok", ok, "at", at, "why", json_object_get(mig, "why"));
	if (!last)
		return;
	if (ok) {
		json_object_set(last, "ms", json_object_get(result, "ms"));
		json_object_set(last, "downtime_ms", json_object_get(result, "downtime_ms"));
		if (json_object_get(result, "downtime_error")) /* the migration went on with QEMU's own */
			json_object_set(last, "downtime_error", json_object_get(result, "downtime_error"));
		want = json_pack("{s:s?,s:s,s:n,s:o}", "owner", to, "action", "keep", "reason", "last_migration", last);
		klogf(service_log(ps->d->ctx), LOG_NOTICE, KLOG_VM(vm), "VM '%s': migration %s from %s to %s done: %s owns it now", vm,
		     json_string_value(json_object_get(mig, "id")) ?: "?", from ?: "?", to ?: "?", to ?: "?");
	} else {
		json_object_set_new(last, "error", json_string(error ? error : "failed"));
		snprintf(reason, sizeof(reason), "its last migration, to %s at %s, failed: %s", to ?: "?", at, error ? error : "failed");
		want = json_pack("{s:s?,s:s,s:s,s:o}", "owner", from, "action", "keep", "reason", reason, "last_migration", last);
		klogf(service_log(ps->d->ctx), LOG_WARNING, KLOG_VM(vm), "VM '%s': migration %s from %s to %s failed, it stays with %s: %s", vm,
		     json_string_value(json_object_get(mig, "id")) ?: "?", from ?: "?", to ?: "?", from ?: "?", error ? error : "?");
	}
	if (want) {
		set_want_vm(ps, vm, want);
		json_object_set_new(ps->touched, vm, json_true());
	}
}

/* The source's job report, as the hand-over core reads it. */
static enum handover_job job_of(const char *state)
{
	if (!state)
		return HANDOVER_JOB_NONE;
	if (!strcmp(state, "running"))
		return HANDOVER_JOB_RUNNING;
	if (!strcmp(state, "done"))
		return HANDOVER_JOB_DONE;
	if (!strcmp(state, "failed"))
		return HANDOVER_JOB_FAILED;
	return HANDOVER_JOB_NONE;
}

/*
 * Migrations in flight: their end is decided from what the nodes report, never guessed -- by
 * the hand-over core (coord/decide/handover.h: handed over, dropped, abort asked, or it goes on),
 * over the record, placement's decision and the two ends' sections. Recorded here.
 */
static void migrations_settle(struct pass *ps, const struct placement_result *res)
{
	struct vms *d = ps->d;

	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *dec = &res->decisions[i];
		const json_t *rec = vms_vm_record(d, dec->vm), *mig = json_object_get(rec, "migration");
		const char *from = json_string_value(json_object_get(rec, "owner"));
		const char *to = json_string_value(json_object_get(rec, "migrating_to"));
		const json_t *rep = json_object_get(vms_reported(d, from, dec->vm), "migration");
		struct handover_decision hd;
		struct handover_input in = {
			.vm = dec->vm, .owner = from, .migrating_to = to,
			.id = json_string_value(json_object_get(mig, "id")),
			.abort = json_string_value(json_object_get(mig, "abort")),
			.decided_owner = dec->owner, .decided_migrating_to = dec->migrating_to, .decided_reason = dec->reason,
			.source_state = from ? vms_reported_state(d, from, dec->vm) : NULL,
			.target_state = to ? vms_reported_state(d, to, dec->vm) : NULL,
			.job_id = json_string_value(json_object_get(rep, "id")),
			.job = job_of(json_string_value(json_object_get(rep, "state"))),
			.job_error = json_string_value(json_object_get(rep, "error")),
		};
		json_t *want = want_vm(ps, dec->vm), *m;

		if (!want || handover_decide(&in, &hd) < 0)
			continue; /* -ENOMEM: decided again at the next pass */
		switch (hd.verdict) {
		case HANDOVER_DONE:
			migration_end(ps, dec->vm, rec, true, hd.from_report ? json_object_get(rep, "result") : NULL, NULL);
			break;
		case HANDOVER_FAILED:
			migration_end(ps, dec->vm, rec, false, NULL, hd.why);
			break;
		case HANDOVER_ABORT:
			/* record_of_decision kept the migration: the source aborts it and reports the end */
			m = json_object_get(want, "migration");
			if (json_is_object(m)) {
				json_object_set_new(m, "abort", json_string(hd.why));
				klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(dec->vm), "VM '%s': migration %s to %s abandoned (%s): the source aborts it",
				     dec->vm, in.id ? in.id : "?", to, hd.why);
			}
			break;
		default:
			break;
		}
		handover_decision_clear(&hd);
	}
}

/* Starts the migration of vm from `from` to `to` in the records: the source performs it. */
static void migration_start(struct pass *ps, const char *vm, const char *from, const char *to, const char *id,
			    const json_t *max_downtime, const char *why)
{
	json_t *want = want_vm(ps, vm), *mig;
	struct placement_owner *o = pass_owner(ps, vm);
	char reason[1024];

	if (!want || !o)
		return;
	mig = json_pack("{s:s,s:s,s:O?,s:s?}", "id", id, "from", from, "max_downtime_ms", max_downtime, "why", why);
	if (!mig)
		return;
	snprintf(reason, sizeof(reason), "migrating to %s%s%s", to, why ? ": " : "", why ? why : "");
	json_object_set_new(want, "migrating_to", json_string(to));
	json_object_set_new(want, "migration", mig);
	json_object_set_new(want, "reason", json_string(reason));
	json_object_set_new(want, "action", json_string("keep"));
	json_object_set_new(ps->touched, vm, json_true());
	/* what follows in this pass counts it in flight */
	o->migrating_to = pass_keep(ps, to);
	klogf(service_log(ps->d->ctx), LOG_NOTICE, KLOG_VM(vm), "VM '%s': live migration %s from %s to %s recorded (%s)", vm, id, from, to,
	     why ? why : "");
}

static void answer(struct pass *ps, const char *key, json_t *reply /* taken */)
{
	if (!reply || !ps->d->answers)
		return;
	json_object_set_new(ps->d->answers, key, reply);
	ps->answers_changed = true;
}

static json_t *refusal(int err, const char *why)
{
	return json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "refused", "errno", -err, "error", why);
}

static void serve_migrate(struct pass *ps, const char *node, const char *key, const json_t *body)
{
	struct vms *d = ps->d;
	const char *vm = json_string_value(json_object_get(body, "vm")), *to = json_string_value(json_object_get(body, "to"));
	const json_t *rec = vm ? vms_vm_record(d, vm) : NULL;
	struct placement_limits lim = vms_limits(service_config(d->ctx));
	const struct placement_owner *o;
	_cleanup_free_ char *why = NULL;
	char text[256];
	int r;

	if (!vm || !to) {
		answer(ps, key, refusal(-EINVAL, "a migration request without \"vm\" and \"to\""));
		return;
	}
	if (!strcmp(json_string_value(json_object_get(json_object_get(rec, "migration"), "id")) ?: "", key) ||
	    !strcmp(json_string_value(json_object_get(json_object_get(rec, "last_migration"), "id")) ?: "", key))
		return; /* recorded already: the requester reads the outcome from the record */
	if (json_object_get(ps->touched, vm))
		return; /* its record changed in this pass: looked at again in the next */
	r = placement_check_move(&ps->p.in, &lim, vm, to, &why);
	if (r == -EALREADY) {
		answer(ps, key, json_pack("{s:b,s:s}", "ok", 1, "message", why ? why : "there already"));
		return;
	}
	if (r == -EBUSY && why) {
		/* beyond the [vms] limits (the same check without them passes it): refused, never
		 * queued -- the user is told which setting, and asks again once one has ended */
		_cleanup_free_ char *nolim = NULL;
		if (placement_check_move(&ps->p.in, NULL, vm, to, &nolim) != -EBUSY) {
			_cleanup_free_ char *full = NULL;
			if (asprintf(&full, "%s: [vms] migrations_per_node = %u, migrations_per_cluster = %u; refused, not "
				     "queued: ask again once a migration has ended", why, lim.per_node, lim.per_cluster) >= 0) {
				free(why);
				why = TAKE_PTR(full);
			}
		}
	}
	if (r < 0) {
		answer(ps, key, refusal(r, why ? why : strerror(-r)));
		return;
	}
	o = pass_owner(ps, vm);
	snprintf(text, sizeof(text), "requested on %s", node);
	migration_start(ps, vm, o ? o->node : "?", to, key, json_object_get(body, "max_downtime_ms"), text);
}

static void serve_drain(struct pass *ps, const char *node, const char *key, const json_t *body, bool drain)
{
	struct vms *d = ps->d;
	const char *name = json_string_value(json_object_get(body, "node"));
	char rkey[CONFIG_HOST_NAME_MAX + 8];

	if (!name) {
		answer(ps, key, refusal(-EINVAL, "a drain request without \"node\""));
		return;
	}
	if (!vms_pinput_has_node(&ps->p, name)) {
		char why[256];
		snprintf(why, sizeof(why), "no node %s in the cluster (kvmcd runs on no member of that name)", name);
		answer(ps, key, refusal(-ENOENT, why));
		return;
	}
	snprintf(rkey, sizeof(rkey), "drain/%s", name);
	if (drain && json_object_get(body, "shutdown")) { /* a planned shutdown's drain (vms-shutdown.c) */
		json_t *rec, *reply = vms_shutdown_serve(d, name, node, body, &rec);
		if (rec)
			json_object_set_new(ps->want, rkey, rec);
		answer(ps, key, reply);
		return;
	}
	/* undrain: also a record that does not drain (a frozen node's shutdown mark) */
	if (drain ? vms_node_drained(d, name) : !vms_node_record(d, name)) {
		answer(ps, key, json_pack("{s:b,s:s}", "ok", 1, "message", drain ? "drained" : "undrained"));
		return;
	}
	json_object_set_new(ps->want, rkey, drain ? json_pack("{s:b,s:s}", "drained", 1, "requested_by", node) : json_null());
	/* answered once the record is in place (a later pass) */
}

static void serve_rebalance(struct pass *ps, const char *node, const char *key)
{
	struct vms *d = ps->d;
	const json_t *cur = json_object_get(service_records(d->ctx), "cluster/rebalance");
	struct placement_limits lim = vms_limits(service_config(d->ctx));
	struct placement_plan *plan = NULL;

	if (cur && strcmp(json_string_value(json_object_get(cur, "id")) ?: "", key) != 0) {
		answer(ps, key, json_pack("{s:b,s:s}", "ok", 1, "message", "a rebalance runs already"));
		return;
	}
	if (placement_rebalance(&ps->p.in, &lim, &plan) < 0)
		return;
	if (!cur && (plan->n_moves || plan->n_deferred))
		json_object_set_new(ps->want, "cluster/rebalance", json_pack("{s:s,s:s,s:i}", "id", key, "requested_by", node,
									       "started", 0));
	answer(ps, key, vms_plan_json(plan, plan->n_moves || plan->n_deferred ? "rebalance started" : "nothing to move"));
	placement_plan_free(plan);
}

/* The requests every member's section carries ("vm_requests"): each answered once (its
 * answer published in this node's section, "vm_answers"), or recorded. A new leader serves
 * them again: what is recorded already is recognised by its id. */
static void serve_requests(struct pass *ps)
{
	struct vms *d = ps->d;
	const json_t *secs = service_node_sections(d->ctx), *sec, *body;
	json_auto_t *live = json_object();
	const char *k, *id, *key;
	json_t *v;
	void *tmp;

	if (!live)
		return;
	json_object_foreach((json_t *)secs, k, sec) {
		const char *node = json_string_value(json_object_get(sec, "name"));
		json_object_foreach(json_object_get(json_object_get(sec, "section"), "vm_requests"), id, body) {
			char full[CONFIG_HOST_NAME_MAX + 64];
			const char *op = json_string_value(json_object_get(body, "op"));
			if (!node)
				continue;
			snprintf(full, sizeof(full), "%s/%s", node, id);
			json_object_set_new(live, full, json_true());
			if (json_object_get(d->answers, full))
				continue;
			if (op && !strcmp(op, "migrate"))
				serve_migrate(ps, node, full, body);
			else if (op && (!strcmp(op, "drain") || !strcmp(op, "undrain")))
				serve_drain(ps, node, full, body, !strcmp(op, "drain"));
			else if (op && !strcmp(op, "rebalance"))
				serve_rebalance(ps, node, full);
			else if (op && !strcmp(op, "resume"))
				continue; /* the VM's owner serves it (vms-paused.c) */
			else
				answer(ps, full, refusal(-EOPNOTSUPP, "this leader does not know that request"));
		}
	}
	/* answers of requests that are gone */
	json_object_foreach_safe(d->answers, tmp, key, v)
		if (!json_object_get(live, key)) {
			json_object_del(d->answers, key);
			ps->answers_changed = true;
		}
}

/* Drains and a running rebalance: the moves placement plans within the limits, started. */
static void plans(struct pass *ps)
{
	struct vms *d = ps->d;
	const json_t *rb = json_object_get(service_records(d->ctx), "cluster/rebalance");
	struct placement_limits lim = vms_limits(service_config(d->ctx));
	struct placement_plan *plan = NULL;
	int r;

	r = rb ? placement_rebalance(&ps->p.in, &lim, &plan) : placement_drain(&ps->p.in, &lim, &plan);
	if (r < 0) {
		klog(service_log(d->ctx), LOG_ERR, "VM %s plan failed: %s", rb ? "rebalance" : "drain", strerror(-r));
		return;
	}
	for (size_t i = 0; i < plan->n_moves; i++) {
		const struct placement_move *m = &plan->moves[i];
		char id[64];
		if (json_object_get(ps->touched, m->vm))
			continue;
		snprintf(id, sizeof(id), "%s/e%" PRIu64 ".%" PRIu64, vms_me(d), service_recording_epoch(d->ctx), ++d->mig_seq);
		migration_start(ps, m->vm, m->from, m->to, id, NULL, m->why);
	}
	if (rb) {
		json_int_t started = json_integer_value(json_object_get(rb, "started")) + (json_int_t)plan->n_moves;
		/* done when nothing is left to move nor moving; bounded in any case */
		if ((!plan->n_moves && !plan->n_in_flight && !plan->n_deferred) || started > 2 * (json_int_t)ps->p.n + 4) {
			json_object_set_new(ps->want, "cluster/rebalance", json_null());
			klog(service_log(d->ctx), LOG_NOTICE, "Rebalance %s done (%" JSON_INTEGER_FORMAT " migrations started)",
			     json_string_value(json_object_get(rb, "id")) ?: "?", started);
		} else if (plan->n_moves) {
			json_t *n = json_deep_copy(rb);
			json_object_set_new(n, "started", json_integer(started));
			json_object_set_new(ps->want, "cluster/rebalance", n);
		}
	}
	placement_plan_free(plan);
}

/*
 * HA (issue 9): placement runs inside the recovery core (coord/decide/recovery.h). A node whose
 * fence record (agent/ha.c: records["fence/NAME"]) is confirmed or unfencing is `fenced`: only
 * then may its VMs get a new owner; the VMs' HA records ("ha" in vm/NAME: failed_on, restarts,
 * relocations, held) count the restarts; records["ha/armed"] {"armed": false} holds it all.
 */
static int place(struct pass *ps, struct recovery_result **out)
{
	const json_t *records = service_records(ps->d->ctx), *armed = json_object_get(records, "ha/armed");
	_cleanup_free_ struct recovery_vm *rv = calloc(ps->p.n ? ps->p.n : 1, sizeof(*rv));
	struct recovery_input in;

	if (!rv)
		return -ENOMEM;
	for (size_t i = 0; i < ps->p.nn; i++) {
		char key[CONFIG_HOST_NAME_MAX + 8];
		const char *st;
		snprintf(key, sizeof(key), "fence/%s", ps->p.pn[i].name);
		st = json_string_value(json_object_get(json_object_get(records, key), "status"));
		ps->p.pn[i].fenced = st && (!strcmp(st, "confirmed") || !strcmp(st, "unfencing"));
	}
	for (size_t i = 0; i < ps->p.n; i++) {
		const struct vm_spec *s = &ps->p.specs[i];
		const json_t *ha = json_object_get(vms_vm_record(ps->d, s->name), "ha");
		rv[i] = (struct recovery_vm){
			.name = s->name, .max_restart = s->ha.max_restart, .max_relocate = s->ha.max_relocate,
			.failed_on = json_string_value(json_object_get(ha, "failed_on")),
			.restarts = (unsigned)json_integer_value(json_object_get(ha, "restarts")),
			.relocations = (unsigned)json_integer_value(json_object_get(ha, "relocations")),
			.held = json_string_value(json_object_get(ha, "held")),
		};
	}
	in = (struct recovery_input){ .placement = &ps->p.in, .vms = rv, .n_vms = ps->p.n,
				      .armed = !json_is_false(json_object_get(armed, "armed")) };
	return recovery_decide(&in, out);
}

/* The VM's HA record as recovery left it, into its wanted record (none when it is all zero). */
static void want_ha(json_t *want, const struct recovery_result *rr, const char *vm)
{
	for (size_t i = 0; want && i < rr->n_vms; i++) {
		const struct recovery_vm_result *h = &rr->vms[i];
		if (strcmp(h->vm, vm))
			continue;
		if (h->failed_on || h->held || h->restarts || h->relocations)
			json_object_set_new(want, "ha", json_pack("{s:s?,s:I,s:I,s:s?}", "failed_on", h->failed_on, "restarts",
								   (json_int_t)h->restarts, "relocations",
								   (json_int_t)h->relocations, "held", h->held));
		return;
	}
}

void vms_leader_pass(struct vms *d)
{
	struct pass ps = { .d = d };
	struct placement_result *res = NULL;
	struct recovery_result *rres = NULL;
	const json_t *records = service_records(d->ctx), *secs = service_node_sections(d->ctx), *rec;
	json_auto_t *patch = json_object();
	uint64_t epoch = service_recording_epoch(d->ctx);
	const char *k;
	json_t *v;
	int r;

	if (!epoch || !service_may_act(d->ctx) || !patch)
		return;
	/* our last patch first: every decision is made against the records it was made for */
	if (d->patch_version && service_committed_version(d->ctx) < d->patch_version && vms_now(d) < d->patch_deadline)
		return;
	d->patch_version = 0;
	if (!d->answers && !(d->answers = json_object()))
		return;
	if (vms_pinput_build(d, &ps.p) < 0)
		return;
	/* an owner whose kvmcd has not listed its libvirtd yet ("unknown": it has just started) may
	 * run the VM: placement must not take it as down (handover.h) */
	for (size_t i = 0; i < ps.p.no; i++)
		ps.p.po[i].running |= handover_state_may_run(vms_reported_state(d, ps.p.po[i].node, ps.p.po[i].vm));
	ps.want = json_object();
	ps.touched = json_object();
	if (!ps.want || !ps.touched)
		goto out;
	r = place(&ps, &rres);
	res = rres ? rres->placement : NULL;
	if (r < 0) {
		klog(service_log(d->ctx), LOG_ERR, "VM placement failed: %s", strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *dec = &res->decisions[i];
		bool abandon;
		json_t *want;

		rec = vms_vm_record(d, dec->vm);
		/* a stop is done once its owner reports the domain down: the owner is cleared */
		if (dec->action == PLACEMENT_STOP && dec->owner && !json_object_get(rec, "migrating_to") &&
		    handover_stop_done(vms_reported_state(d, dec->owner, dec->vm))) {
			struct placement_decision done = { .vm = dec->vm, .action = PLACEMENT_KEEP };
			want = record_of_decision(&done, rec, &abandon);
		} else {
			want = record_of_decision(dec, rec, &abandon);
		}
		want_ha(want, rres, dec->vm);
		if (want)
			set_want_vm(&ps, dec->vm, want);
	}
	migrations_settle(&ps, res);
	serve_requests(&ps);
	plans(&ps);
	/* records of VMs that left the spec: dropped once no member runs them (handover.h) */
	json_object_foreach((json_t *)records, k, rec) {
		bool in_spec = false, running = false;
		struct handover_input hin;
		struct handover_decision hd = { 0 };
		const json_t *s2;
		const char *k2;

		if (strncmp(k, "vm/", 3) != 0)
			continue;
		for (size_t i = 0; i < ps.p.n && !in_spec; i++)
			in_spec = !strcmp(ps.p.specs[i].name, k + 3);
		if (in_spec)
			continue; /* settled above, with placement's decision */
		/* every domain kvmcd defined is in its node's section (vms_publish): "unknown" (an op
		 * on it just ended there, not listed since) may still run it */
		json_object_foreach((json_t *)secs, k2, s2)
			running |= handover_state_may_run(
				vms_reported_state(d, json_string_value(json_object_get(s2, "name")), k + 3));
		hin = (struct handover_input){
			.vm = k + 3, .removed = true, .runs_anywhere = running,
			.owner = json_string_value(json_object_get(rec, "owner")),
			.migrating_to = json_string_value(json_object_get(rec, "migrating_to")),
		};
		hin.source_member = hin.owner && vms_section_of(d, hin.owner);
		hin.target_member = hin.migrating_to && vms_section_of(d, hin.migrating_to);
		if (handover_decide(&hin, &hd) == 0 && hd.verdict == HANDOVER_FORGET)
			json_object_set_new(ps.want, k, json_null());
		handover_decision_clear(&hd);
	}
	json_object_foreach(ps.want, k, v) {
		rec = json_object_get(records, k);
		if (json_is_null(v) ? rec != NULL : !rec || !json_equal(rec, v))
			json_object_set(patch, k, v);
	}
	if (json_object_size(patch)) {
		_cleanup_free_ char *error = NULL;
		_cleanup_free_ char *text = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
		uint64_t version = 0;
		klog(service_log(d->ctx), LOG_DEBUG, "VMs: recording %s", text ? text : "?");
		r = service_leader_patch(d->ctx, epoch, patch, &version, &error);
		if (r < 0 && r != -ESTALE)
			klog(service_log(d->ctx), LOG_WARNING, "Cannot record the VMs' placement: %s", error ? error : strerror(-r));
		if (r == 0) {
			d->patch_version = version;
			d->patch_deadline = vms_now(d) + PATCH_WAIT_USEC;
		}
	}
out:
	recovery_result_free(rres);
	json_decref(ps.want);
	json_decref(ps.touched);
	for (size_t i = 0; i < ps.n_strings; i++)
		free(ps.strings[i]);
	free(ps.strings);
	vms_pinput_clear(&ps.p);
	if (ps.answers_changed)
		vms_publish(d);
}
