/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM service's local-API verbs (vms.h) and the requests they send the leader.
 *
 * Reads (vm-list, vm-show, node-list, cluster-rebalance with dry_run) are answered by any node
 * from its copy of the replicated state: the spec, the records and every member's section.
 *
 * Changes that only the leader may make (a migration, a drain, a rebalance) travel as REQUESTS:
 * the node the admin asked puts {"op", ...} under a fresh id in its own section
 * ("vm_requests": {"<id>": ...}); the acting leader serves each request it has not answered yet
 * -- it records the migration intent, the drain, the rebalance (the durable part) or refuses --
 * and publishes its answers in its own section ("vm_answers": {"<node>/<id>": reply}). The
 * asking node replies to its API connection once the answer or the record is there, then drops
 * the request. A leader that changes meanwhile serves the request again and recognises what is
 * recorded already by its id ("<node>/<id>" in records[vm/NAME].migration.id / last_migration.id,
 * records[cluster/rebalance].id). Sections are soft state: a request or an answer lost with its
 * node is sent again by the next leader or ends in "outcome unknown" at the request's deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "api-server.h"
#include "macros.h"
#include "vms-internal.h"

#define REQUEST_MARGIN_USEC (150 * USEC_PER_SEC)  /* a migration's verdict after its deadline */
#define CHANGE_MARGIN_USEC (5 * USEC_PER_SEC)     /* a drain's after the request timeout */
#define MAX_DOWNTIME_MS 60000

/* ---- requests to the leader -------------------------------------------------------------------- */

static void request_free(struct vm_request *q)
{
	if (!q)
		return;
	free(q->key);
	json_decref(q->body);
	free(q);
}

void vms_requests_free(struct vms *d)
{
	while (d->requests) {
		struct vm_request *q = d->requests;
		d->requests = q->next;
		request_free(q);
	}
}

json_t *vms_requests_json(struct vms *d)
{
	json_t *o = json_object();
	size_t me = strlen(vms_me(d)) + 1;

	for (struct vm_request *q = d->requests; q && o; q = q->next)
		json_object_set(o, q->key + me, q->body);
	return o;
}

/* Queues body (taken) for the leader on behalf of conn_id; the reply comes later. Returns 0, or a
 * negative errno with nothing queued (the handler answers itself). */
static int request_send(struct vms *d, uint64_t conn_id, json_t *body, uint64_t timeout_usec)
{
	uint64_t accept = (uint64_t)service_config(d->ctx)->request_timeout_ms * USEC_PER_MSEC + CHANGE_MARGIN_USEC;
	struct vm_request *q = calloc(1, sizeof(*q));

	if (!q || !body || asprintf(&q->key, "%s/%s.%" PRIu64, vms_me(d), d->nonce, ++d->request_seq) < 0) {
		if (q)
			q->key = NULL;
		free(q);
		json_decref(body);
		return -ENOMEM;
	}
	q->conn_id = conn_id;
	q->body = body;
	q->deadline = vms_now(d) + timeout_usec;
	q->accept_deadline = vms_now(d) + (accept < timeout_usec ? accept : timeout_usec);
	q->next = d->requests;
	d->requests = q;
	klog(service_log(d->ctx), LOG_INFO, "Request %s to the leader: %s %s", q->key,
	     json_string_value(json_object_get(body, "op")) ?: "?",
	     json_string_value(json_object_get(body, "vm")) ?: json_string_value(json_object_get(body, "node")) ?: "");
	vms_publish(d);
	return 0;
}

int vms_request_internal(struct vms *d, json_t *body, uint64_t timeout_usec)
{
	return request_send(d, 0, body, timeout_usec); /* connection ids start at 1: no one is answered */
}

/* The acting leader's answer to one of our requests, from any member's section. Borrowed. */
static const json_t *leader_answer(struct vms *d, const char *key)
{
	const json_t *secs = service_node_sections(d->ctx), *sec, *a;
	const char *k;

	/* vm_resume_answers: a `vm resume` is the VM owner's to answer (vms-paused.c) */
	json_object_foreach((json_t *)secs, k, sec)
		if ((a = json_object_get(json_object_get(json_object_get(sec, "section"), "vm_answers"), key)) ||
		    (a = json_object_get(json_object_get(json_object_get(sec, "section"), "vm_resume_answers"), key)))
			return a;
	return NULL;
}

/* The reply to a migration request the record has settled, or NULL while it has not. */
static json_t *migration_verdict(struct vms *d, struct vm_request *q)
{
	const char *vm = json_string_value(json_object_get(q->body, "vm"));
	const json_t *rec = vm ? vms_vm_record(d, vm) : NULL, *last = json_object_get(rec, "last_migration");
	const char *from, *to;
	char msg[1024], timing[128] = "";

	if (strcmp(json_string_value(json_object_get(last, "id")) ?: "", q->key) != 0) {
		if (!q->accepted && !strcmp(json_string_value(json_object_get(json_object_get(rec, "migration"), "id")) ?: "",
					    q->key)) {
			q->accepted = true;
			klog(service_log(d->ctx), LOG_INFO, "Request %s: the leader recorded the migration of %s", q->key, vm);
		}
		return NULL;
	}
	from = json_string_value(json_object_get(last, "from")) ?: "?";
	to = json_string_value(json_object_get(last, "to")) ?: "?";
	if (json_is_true(json_object_get(last, "ok"))) {
		if (json_is_integer(json_object_get(last, "ms")))
			snprintf(timing, sizeof(timing), " in %" JSON_INTEGER_FORMAT " ms", json_integer_value(json_object_get(last, "ms")));
		if (json_is_integer(json_object_get(last, "downtime_ms")))
			snprintf(timing + strlen(timing), sizeof(timing) - strlen(timing), " (downtime %" JSON_INTEGER_FORMAT " ms)",
				 json_integer_value(json_object_get(last, "downtime_ms")));
		snprintf(msg, sizeof(msg), "%s migrated live from %s to %s%s", vm, from, to, timing);
		return json_pack("{s:b,s:s,s:s,s:s,s:O?,s:O?}", "ok", 1, "message", msg, "from", from, "to", to, "ms",
				 json_object_get(last, "ms"), "downtime_ms", json_object_get(last, "downtime_ms"));
	}
	snprintf(msg, sizeof(msg), "the migration of %s from %s to %s failed: %s; %s stays with %s", vm, from, to,
		 json_string_value(json_object_get(last, "error")) ?: "?", vm, from);
	return json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "refused", "errno", EIO, "error", msg);
}

void vms_requests_check(struct vms *d)
{
	struct vm_request **pq = &d->requests;
	bool changed = false;

	while (*pq) {
		struct vm_request *q = *pq;
		const char *op = json_string_value(json_object_get(q->body, "op")) ?: "";
		const json_t *ans = leader_answer(d, q->key);
		json_t *reply = NULL;

		if (!strcmp(op, "migrate") && (reply = migration_verdict(d, q)))
			;
		else if (ans)
			reply = json_deep_copy(ans);
		else if (vms_now(d) >= q->deadline || (!strcmp(op, "migrate") && !q->accepted && vms_now(d) >= q->accept_deadline))
			reply = json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "unknown", "errno", ETIMEDOUT, "error",
					  !strcmp(op, "migrate")
						  ? q->accepted ? "no verdict from the leader in time; the migration may still end either way: see `kvmcctl vm show`"
								: "the leader did not take the request in time; the migration may still happen: see `kvmcctl vm show`"
						  : !strcmp(op, "resume") ? "no answer from the VM's owner in time; it may still resume it: see `kvmcctl vm show`"
						  : "no answer from the leader in time; the change may still apply: see `kvmcctl node list`");
		if (!reply) {
			pq = &q->next;
			continue;
		}
		klog(service_log(d->ctx), json_is_true(json_object_get(reply, "ok")) ? LOG_INFO : LOG_NOTICE,
		     "Request %s (%s): %s", q->key, op,
		     json_string_value(json_object_get(reply, json_is_true(json_object_get(reply, "ok")) ? "message" : "error")) ?: "");
		service_reply(d->ctx, q->conn_id, reply);
		*pq = q->next;
		request_free(q);
		changed = true;
	}
	if (changed)
		vms_publish(d);
}

/* ---- views -------------------------------------------------------------------------------------- */

/* The `kvmcctl vm list` view of one VM. */
static json_t *vm_view(struct vms *d, const struct vm_spec *s, bool detail)
{
	const json_t *rec = vms_vm_record(d, s->name), *rep;
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	const char *action = json_string_value(json_object_get(rec, "action"));
	const char *reason = json_string_value(json_object_get(rec, "reason"));
	const char *to = json_string_value(json_object_get(rec, "migrating_to"));
	const char *on_owner = owner ? vms_reported_state(d, owner, s->name) : NULL;
	const char *state, *err = NULL;
	char buf[256], frozen[CONFIG_HOST_NAME_MAX + 32];
	json_t *v;

	rep = owner ? json_object_get(json_object_get(vms_section_of(d, owner), "vms"), s->name) : NULL;
	if (owner && to)
		state = "migrating";
	else if (owner && on_owner && !strcmp(on_owner, "running"))
		state = "running";
	else if (owner && on_owner && !strcmp(on_owner, "paused"))
		state = "paused";
	else if (owner && (err = json_string_value(json_object_get(rep, "error"))))
		state = "error";
	else if (!owner && s->state == VM_STATE_STOPPED)
		state = "stopped";
	else if (action && !strcmp(action, "stop"))
		state = "stopped";
	else
		state = "waiting";
	if (!strcmp(state, "error"))
		reason = err;
	else if (!strcmp(state, "paused")) /* why, and what kvmcd does about it (vms-paused.c) */
		reason = json_string_value(json_object_get(rep, "paused")) ?: json_string_value(json_object_get(rep, "pause_reason"));
	else if (!reason && owner && !strcmp(state, "waiting")) {
		snprintf(buf, sizeof(buf), "starting on %s", owner);
		reason = buf;
	}
	if (strcmp(state, "running") && strcmp(state, "migrating") && vms_shutdown_frozen(d, owner, frozen, sizeof(frozen))) {
		state = "stopped"; /* kept by its node, which shut down under the freeze policy (vms-shutdown.c) */
		reason = frozen;
	}
	v = json_pack("{s:s,s:s,s:o,s:s?,s:o}", "name", s->name, "state", state, "node",
		      owner ? json_string(owner) : json_null(), "reason", reason, "migrating_to",
		      to ? json_string(to) : json_null());
	if (detail && v) {
		const json_t *secs = service_node_sections(d->ctx), *sec;
		json_t *nodes = json_object();
		const char *k;
		json_object_foreach((json_t *)secs, k, sec) {
			const char *node = json_string_value(json_object_get(sec, "name"));
			const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "vms"), s->name);
			if (node && st)
				json_object_set_new(nodes, node, json_deep_copy(st));
		}
		json_object_set_new(v, "nodes", nodes);
		json_object_set_new(v, "record", rec ? json_deep_copy(rec) : json_null());
		json_object_set_new(v, "spec_state", json_string(vm_state_name(s->state)));
		json_object_set_new(v, "last_migration",
				    json_object_get(rec, "last_migration") ? json_deep_copy(json_object_get(rec, "last_migration"))
									   : json_null());
	}
	return v;
}

static json_t *cmd_list(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	const struct vm_spec *specs = NULL;
	json_t *out = json_array();
	size_t n = 0;

	if (service_vm_specs(d->ctx, &specs, &n) < 0 || !out) {
		json_decref(out);
		return api_error(-EINVAL, "the spec in force has no valid \"vms\"");
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, vm_view(d, &specs[i], false));
	return json_pack("{sbso}", "ok", 1, "vms", out);
}

static json_t *cmd_show(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	const struct vm_spec *specs = NULL;
	const char *name = json_string_value(json_object_get(req, "name"));
	size_t n = 0;

	if (!name)
		return api_error(-EINVAL, "vm-show needs \"name\"");
	if (service_vm_specs(d->ctx, &specs, &n) < 0)
		return api_error(-EINVAL, "the spec in force has no valid \"vms\"");
	for (size_t i = 0; i < n; i++)
		if (!strcmp(specs[i].name, name))
			return json_pack("{sbso}", "ok", 1, "vm", vm_view(d, &specs[i], true));
	return api_error(-ENOENT, "no VM '%s' in the spec", name);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct placement_node *)a)->name, ((const struct placement_node *)b)->name);
}

/* `kvmcctl node list`: every node placement knows (members with the VM service, owners, drained
 * nodes), with what it gives the VMs, what they use of it and what runs there. */
static json_t *cmd_node_list(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	struct pinput p;
	json_t *out = json_array();
	int r = vms_pinput_build(d, &p);

	if (r < 0 || !out) {
		json_decref(out);
		return r == -EINVAL ? api_error(r, "the spec in force has no valid \"vms\"") : api_error(-ENOMEM, "out of memory");
	}
	qsort(p.pn, p.nn, sizeof(*p.pn), cmp_name);
	for (size_t j = 0; j < p.nn; j++) {
		const struct placement_node *n = &p.pn[j];
		const json_t *sec = vms_section_of(d, n->name);
		uint64_t mem = 0, cpu = 0;
		unsigned migrations = 0;
		json_t *vms = json_array(), *running = json_array(), *o;

		for (size_t i = 0; i < p.no; i++) {
			const struct placement_owner *w = &p.po[i];
			bool here = !strcmp(w->node, n->name), coming = w->migrating_to && !strcmp(w->migrating_to, n->name);
			if (!here && !coming)
				continue;
			for (size_t k = 0; k < p.n; k++)
				if (!strcmp(p.pv[k].name, w->vm)) {
					mem += p.pv[k].memory_mib;
					cpu += p.pv[k].vcpus;
				}
			if (here)
				json_array_append_new(vms, json_string(w->vm));
			migrations += w->migrating_to != NULL;
		}
		for (size_t k = 0; k < p.n; k++)
			if (vms_reported_running(d, n->name, p.specs[k].name))
				json_array_append_new(running, json_string(p.specs[k].name));
		o = json_pack("{s:s,s:b,s:b,s:b,s:o,s:{s:I,s:I},s:o,s:o,s:i,s:o}", "name", n->name, "member", n->member && sec,
			      "drained", n->drained, "maintenance", n->drained && json_array_size(vms) == 0 && !migrations,
			      "capacity",
			      n->member ? json_pack("{s:I,s:I}", "memory_mib", (json_int_t)n->memory_mib, "vcpus", (json_int_t)n->vcpus)
					: json_null(),
			      "used", "memory_mib", (json_int_t)mem, "vcpus", (json_int_t)cpu,
			      "load_pct",
			      n->member && n->memory_mib ? json_integer((json_int_t)(mem * 100 / n->memory_mib)) : json_null(),
			      "vms", vms, "migrations", (int)migrations, "running", running);
		json_array_append_new(out, o);
	}
	vms_pinput_clear(&p);
	return json_pack("{sbso}", "ok", 1, "nodes", out);
}

json_t *vms_plan_json(const struct placement_plan *plan, const char *message)
{
	json_t *moves = json_array(), *stuck = json_array();

	for (size_t i = 0; i < plan->n_moves && moves; i++)
		json_array_append_new(moves, json_pack("{s:s,s:s,s:s,s:s}", "vm", plan->moves[i].vm, "from", plan->moves[i].from,
						       "to", plan->moves[i].to, "why", plan->moves[i].why));
	for (size_t i = 0; i < plan->n_stuck && stuck; i++)
		json_array_append_new(stuck, json_pack("{s:s,s:s}", "vm", plan->stuck[i].vm, "why", plan->stuck[i].why));
	return json_pack("{s:b,s:s?,s:o*,s:o*,s:I,s:I}", "ok", 1, "message", message, "moves", moves, "stuck", stuck,
			 "in_flight", (json_int_t)plan->n_in_flight, "deferred", (json_int_t)plan->n_deferred);
}

/* ---- changes through the leader ------------------------------------------------------------------- */

static json_t *not_ready(struct vms *d)
{
	if (!service_may_act(d->ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view (its copy of the cluster's state "
					    "may be stale); nothing done");
	return NULL;
}

static json_t *send_or_refuse(struct vms *d, uint64_t conn_id, json_t *body, uint64_t timeout_usec)
{
	int r = request_send(d, conn_id, body, timeout_usec);

	if (r < 0)
		return api_refusal(r, "cannot send the request to the leader: %s; nothing done", strerror(-r));
	return NULL; /* the answer comes from vms_requests_check() */
}

/* {"cmd":"vm-migrate","name":VM,"to":NODE[,"max_downtime_ms":MS]} */
static json_t *cmd_migrate(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	const char *name = json_string_value(json_object_get(req, "name")), *to = json_string_value(json_object_get(req, "to"));
	const json_t *dt = json_object_get(req, "max_downtime_ms");
	const struct kvmcd_config *cfg = service_config(d->ctx);
	_cleanup_free_ char *why = NULL;
	struct pinput p;
	json_t *refused, *body;
	int r;

	if (!name || !to)
		return api_refusal(-EINVAL, "vm-migrate needs \"name\" and \"to\"");
	if (dt && (!json_is_integer(dt) || json_integer_value(dt) < 1 || json_integer_value(dt) > MAX_DOWNTIME_MS))
		return api_refusal(-EINVAL, "max_downtime_ms: an integer 1..%d", MAX_DOWNTIME_MS);
	if ((refused = not_ready(d)))
		return refused;
	/* what this node sees already refuses most mistakes; the leader checks again, with limits */
	r = vms_pinput_build(d, &p);
	if (r < 0)
		return api_refusal(r, r == -EINVAL ? "the spec in force has no valid \"vms\"" : "out of memory");
	r = placement_check_move(&p.in, NULL, name, to, &why);
	vms_pinput_clear(&p);
	if (r == -EALREADY)
		return json_pack("{s:b,s:s}", "ok", 1, "message", why ? why : "there already");
	if (r < 0)
		return api_refusal(r, "%s", why ? why : strerror(-r));
	body = json_pack("{s:s,s:s,s:s,s:O?}", "op", "migrate", "vm", name, "to", to, "max_downtime_ms", dt);
	return send_or_refuse(d, conn_id, body,
			      (uint64_t)cfg->vms.migration_timeout_ms * USEC_PER_MSEC + REQUEST_MARGIN_USEC);
}

static json_t *drain(struct vms *d, uint64_t conn_id, json_t *req, bool on)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct pinput p;
	bool known = false;
	json_t *refused;
	int r;

	if (!name)
		return api_refusal(-EINVAL, "node-%s needs \"name\"", on ? "drain" : "undrain");
	if ((refused = not_ready(d)))
		return refused;
	r = vms_pinput_build(d, &p);
	if (r < 0)
		return api_refusal(r, r == -EINVAL ? "the spec in force has no valid \"vms\"" : "out of memory");
	for (size_t j = 0; j < p.nn && !known; j++)
		known = !strcmp(p.pn[j].name, name);
	vms_pinput_clear(&p);
	if (!known)
		return api_refusal(-ENOENT, "no node %s in the cluster (kvmcd runs on no member of that name)", name);
	if (vms_node_drained(d, name) == on)
		return json_pack("{s:b,s:s}", "ok", 1, "message", on ? "drained already" : "not drained");
	return send_or_refuse(d, conn_id, json_pack("{s:s,s:s}", "op", on ? "drain" : "undrain", "node", name),
			      (uint64_t)service_config(d->ctx)->request_timeout_ms * USEC_PER_MSEC + CHANGE_MARGIN_USEC);
}

static json_t *cmd_drain(void *state, uint64_t conn_id, json_t *req)
{
	return drain(state, conn_id, req, true);
}

static json_t *cmd_undrain(void *state, uint64_t conn_id, json_t *req)
{
	return drain(state, conn_id, req, false);
}

/* {"cmd":"vm-resume","name":VM[,"force":true]}: sent to the VM's owner, which probes its storage
 * and resumes it, or refuses (vms-paused.c). */
static json_t *cmd_resume(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	const char *name = json_string_value(json_object_get(req, "name"));
	const json_t *force = json_object_get(req, "force");
	const struct vm_spec *specs = NULL;
	const char *owner, *on_owner;
	bool known = false;
	json_t *refused;
	size_t n = 0;

	if (!name)
		return api_refusal(-EINVAL, "vm-resume needs \"name\"");
	if (force && !json_is_boolean(force))
		return api_refusal(-EINVAL, "vm-resume: \"force\" is true or false");
	if ((refused = not_ready(d)))
		return refused;
	if (service_vm_specs(d->ctx, &specs, &n) < 0)
		return api_refusal(-EINVAL, "the spec in force has no valid \"vms\"");
	for (size_t i = 0; i < n && !known; i++)
		known = !strcmp(specs[i].name, name);
	if (!known)
		return api_refusal(-ENOENT, "no VM '%s' in the spec", name);
	owner = json_string_value(json_object_get(vms_vm_record(d, name), "owner"));
	if (!owner)
		return api_refusal(-EINVAL, "%s has no owner: it runs nowhere, nothing to resume", name);
	if (!vms_section_of(d, owner))
		return api_refusal(-EHOSTUNREACH, "%s's owner %s is not in this view (its kvmcd is away); nothing done", name, owner);
	on_owner = vms_reported_state(d, owner, name);
	if (on_owner && strcmp(on_owner, "paused"))
		return api_refusal(-EINVAL, "%s is not paused on %s (%s): nothing to resume", name, owner, on_owner);
	return send_or_refuse(d, conn_id,
			      json_pack("{s:s,s:s,s:s,s:b}", "op", "resume", "vm", name, "owner", owner, "force", json_is_true(force)),
			      (uint64_t)service_config(d->ctx)->request_timeout_ms * USEC_PER_MSEC + REQUEST_MARGIN_USEC / 5);
}

/* {"cmd":"cluster-rebalance"[,"dry_run":true]}: the plan (dry run: computed here, with this
 * node's limits, nothing done), or the leader starts it and answers with its plan. */
static json_t *cmd_rebalance(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	struct placement_limits lim = vms_limits(service_config(d->ctx));
	struct placement_plan *plan = NULL;
	struct pinput p;
	json_t *refused, *out;
	int r;

	if (json_is_true(json_object_get(req, "dry_run"))) {
		r = vms_pinput_build(d, &p);
		if (r == 0)
			r = placement_rebalance(&p.in, &lim, &plan);
		vms_pinput_clear(&p);
		if (r < 0)
			return api_error(r, "cannot plan: %s", strerror(-r));
		out = vms_plan_json(plan, NULL);
		placement_plan_free(plan);
		if (out)
			json_object_set_new(out, "dry_run", json_true());
		return out;
	}
	if ((refused = not_ready(d)))
		return refused;
	return send_or_refuse(d, conn_id, json_pack("{s:s}", "op", "rebalance"),
			      (uint64_t)service_config(d->ctx)->request_timeout_ms * USEC_PER_MSEC + CHANGE_MARGIN_USEC);
}

const struct service_command vms_commands[] = {
	{ "vm-list", cmd_list },
	{ "vm-show", cmd_show },
	{ "vm-migrate", cmd_migrate },
	{ "vm-resume", cmd_resume },
	{ "node-list", cmd_node_list },
	{ "node-drain", cmd_drain },
	{ "node-undrain", cmd_undrain },
	{ "cluster-rebalance", cmd_rebalance },
	{ NULL },
};
