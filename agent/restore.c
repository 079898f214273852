/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `kvmcctl snapshot restore`: restore.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "api-server.h"
#include "datastore.h"
#include "handover.h"
#include "inventory.h"
#include "leader-ontap.h"
#include "log.h"
#include "macros.h"
#include "protection-service.h"
#include "ontap-error.h"
#include "restore.h"
#include "vm.h"

struct ticket;

struct restore {
	struct service_ctx *ctx;     /* borrowed */
	uint64_t epoch;              /* acting epoch; 0 = not acting */
	struct ticket *inflight;     /* the ONTAP restore running (at most one); NULL = none */
	json_t *finished;            /* owned: {ds: id} restores this leader ended whose record may
				      * not be committed yet (never run twice meanwhile) */
	unsigned seq;                /* request ids made on this node */
	json_t *restarting;          /* owned: {ds: id} restart_vms changes this leader asked for
				      * and has not seen committed (asked once per RESTART_RETRY_USEC) */
	sd_event_source *retry;      /* owned: step() again when an asked change may be lost */
};

/* A restart_vms change not committed after this is asked again (refused by a concurrent spec
 * change, or lost with the node that relayed it). */
#define RESTART_RETRY_USEC (10 * USEC_PER_SEC)

/* One ONTAP call in flight; it outlives the service when freed first (r NULL then). */
struct ticket {
	struct restore *r;           /* borrowed; NULL once the service is gone */
	char *ds, *id, *snapshot;    /* owned */
	uint64_t epoch;
};

static void step(struct restore *r);

static const char *js(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const json_t *record_of(const json_t *records, const char *ds)
{
	char key[128];

	snprintf(key, sizeof(key), "restore/%s", ds);
	return json_object_get(records, key);
}

bool restore_holds_down(const json_t *spec, const json_t *records, const char *name)
{
	const json_t *req = json_object_get(json_object_get(spec, "restore"), name);
	const json_t *rec = req ? record_of(records, name) : NULL;
	const char *phase = js(rec, "phase");

	return rec && js(req, "id") && js(rec, "id") && !strcmp(js(req, "id"), js(rec, "id")) && phase &&
	       (!strcmp(phase, "down") || !strcmp(phase, "restoring"));
}

/* The VMs of the spec whose disks use datastore ds: a JSON array of names (owned). With
 * started_only, only those the spec keeps started. */
static json_t *vms_of(const json_t *spec, const char *ds, bool started_only)
{
	_cleanup_free_ struct vm_spec *vms = NULL;
	json_t *out = json_array();
	size_t n = 0;

	if (!out || vm_spec_list(spec, &vms, &n) < 0)
		return out;
	for (size_t i = 0; i < n; i++) {
		if (started_only && vms[i].state != VM_STATE_STARTED)
			continue;
		for (size_t k = 0; k < vms[i].datastores.n; k++)
			if (!strcmp(vms[i].datastores.name[k], ds)) {
				json_array_append_new(out, json_string(vms[i].name));
				break;
			}
	}
	return out;
}

/* Whether node is a member: its section is in the view's sections. */
static bool is_member(const json_t *secs, const char *node)
{
	const json_t *sec;
	const char *k;

	json_object_foreach((json_t *)secs, k, sec)
		if (!strcmp(js(sec, "name") ? js(sec, "name") : k, node))
			return true;
	return false;
}

/* A node that may have the datastore attached but is not a member now (the spec's "nodes", and
 * every node the leader recorded: records["node/<name>"]) counts as down only once its fence is
 * confirmed (records["fence/<name>"].status "confirmed", ha.h): cut off but alive, it may still
 * have the datastore mounted, and reverting the volume under a mount corrupts it. */
static bool absent_and_unfenced(struct restore *r, const char *node, const char **why, char *buf, size_t size)
{
	char key[300];

	if (!node || is_member(service_node_sections(r->ctx), node))
		return false;
	snprintf(key, sizeof(key), "fence/%s", node);
	if (!strcmp(js(json_object_get(service_records(r->ctx), key), "status") ?: "", "confirmed"))
		return false;
	snprintf(buf, size, "node %s is not a member and its fence is not confirmed: it may still have the datastore mounted",
		 node);
	*why = buf;
	return true;
}

static bool absent_nodes_fenced(struct restore *r, const char **why, char *buf, size_t size)
{
	const json_t *n, *v;
	const char *k;
	size_t i;

	json_array_foreach(json_object_get(service_spec(r->ctx), "nodes"), i, n)
		if (absent_and_unfenced(r, js(n, "name"), why, buf, size))
			return false;
	json_object_foreach((json_t *)service_records(r->ctx), k, v)
		if (!strncmp(k, "node/", 5) && absent_and_unfenced(r, k + 5, why, buf, size))
			return false;
	return true;
}

/* Every member has datastore ds down, every other node is fenced, and no node reports one of
 * its VMs running or paused. *why (a static or borrowed sentence) says what is waited for. */
static bool all_down(struct restore *r, const char *ds, const char **why, char *buf, size_t size)
{
	json_auto_t *vms = vms_of(service_spec(r->ctx), ds, false);
	const json_t *secs = service_node_sections(r->ctx), *sec, *v;
	const char *k;
	size_t i;

	if (!absent_nodes_fenced(r, why, buf, size))
		return false;
	json_object_foreach((json_t *)secs, k, sec) {
		const json_t *part = json_object_get(sec, "section");
		const char *node = js(sec, "name") ? js(sec, "name") : k;
		const json_t *st = json_object_get(json_object_get(part, "datastores"), ds);
		const char *stp = js(st, "step");

		/* a kvmcd that just started has not gone through the committed datastores yet: its
		 * word that it has nothing mounted counts only once it has (datastores.c), and a
		 * section with another service's part alone says nothing of them (inventory.h) */
		if (!node_section_datastores_reconciled(part)) {
			snprintf(buf, size, "node %s has not gone through its datastores yet", node);
			*why = buf;
			return false;
		}
		if (st && (!stp || strcmp(stp, "detached") != 0)) {
			snprintf(buf, size, "node %s has it %s", node, stp ? stp : "in an unknown state");
			*why = buf;
			return false;
		}
		/* likewise a node whose VM service has not listed its libvirtd yet (ha.c, node_clean) */
		if (json_array_size(vms) && !json_is_object(json_object_get(part, "vms"))) {
			snprintf(buf, size, "node %s has not listed its VMs yet", node);
			*why = buf;
			return false;
		}
		json_array_foreach(vms, i, v) {
			const char *s = js(json_object_get(json_object_get(part, "vms"), json_string_value(v)), "state");
			/* "unknown" too: not listed since its last operation (handover.h) */
			if (handover_state_may_run(s)) {
				snprintf(buf, size, "VM %s is %s on node %s", json_string_value(v), s, node);
				*why = buf;
				return false;
			}
		}
	}
	return true;
}

static int record(struct restore *r, const char *ds, json_t *value)
{
	_cleanup_free_ char *error = NULL;
	json_auto_t *patch = json_object();
	char key[128];
	uint64_t version = 0;
	int ret;

	if (!patch || !value) {
		json_decref(value);
		return -ENOMEM;
	}
	snprintf(key, sizeof(key), "restore/%s", ds);
	json_object_set_new(value, "at", json_integer((json_int_t)time(NULL)));
	json_object_set_new(patch, key, value);
	ret = service_leader_patch(r->ctx, r->epoch, patch, &version, &error);
	if (ret < 0)
		klog(service_log(r->ctx), LOG_WARNING, "Restore of datastore '%s': cannot record it: %s", ds,
		     error ? error : strerror(-ret));
	return ret;
}

static void ticket_free(struct ticket *t)
{
	if (!t)
		return;
	free(t->ds);
	free(t->id);
	free(t->snapshot);
	free(t);
}

static void on_restored(void *userdata, int ret, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct ticket *t = userdata;
	struct restore *r = t->r;
	char buf[1024];

	if (!r) { /* the service is gone */
		ticket_free(t);
		return;
	}
	r->inflight = NULL;
	if (ret == -ECANCELED || ret == -ESTALE || r->epoch != t->epoch) {
		/* the leadership ended: the next leader finds "restoring" and runs it again */
		ticket_free(t);
		return;
	}
	if (ret < 0) {
		if (err && (err->message || err->code))
			ontap_error_format(err, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "%s", strerror(-ret));
		klog(service_log(r->ctx), LOG_ERR, "Restore of datastore '%s' to snapshot %s failed on ONTAP: %s; the nodes bring it back as it was",
		     t->ds, t->snapshot, buf);
		record(r, t->ds, json_pack("{sssssss?}", "id", t->id, "snapshot", t->snapshot, "phase", "failed", "error", buf));
	} else {
		klogf(service_log(r->ctx), LOG_NOTICE, KLOG_DS(t->ds), "Datastore '%s' restored to snapshot %s on ONTAP; the nodes bring it back",
		     t->ds, t->snapshot);
		record(r, t->ds, json_pack("{ssssss}", "id", t->id, "snapshot", t->snapshot, "phase", "done"));
	}
	json_object_set_new(r->finished, t->ds, json_string(t->id));
	ticket_free(t);
	step(r);
}

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct restore *r = userdata;

	r->retry = sd_event_source_disable_unref(r->retry);
	json_object_clear(r->restarting);
	step(r);
	return 0;
}

/* Whether every member reports datastore ds ready ("step" "ready", datastores.c). */
static bool ready_everywhere(struct restore *r, const char *ds)
{
	const json_t *sec;
	const char *k;

	json_object_foreach((json_t *)service_node_sections(r->ctx), k, sec) {
		const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), ds);

		if (strcmp(js(st, "step") ?: "", "ready"))
			return false;
	}
	return true;
}

/*
 * A restore of ds that ended (done or failed: either way the data is what the VMs may use) with
 * VMs that --stop-vms stopped: once every member has ds ready again, one spec change sets each
 * of them that the spec still keeps "stopped" back to "started" and drops restart_vms (a VM
 * the user removed or started meanwhile is left as it is). The VM service then places and
 * starts them as after any `vm start`. Idempotent: a new leader finds restart_vms still in the
 * spec until the change is committed and asks again.
 */
static void restart_vms(struct restore *r, const char *ds, const json_t *req, const char *id)
{
	const json_t *names = json_object_get(req, "restart_vms"), *n;
	json_auto_t *next = NULL;
	json_t *ve, *entry;
	size_t i, k;
	int ret;

	if (!json_array_size(names) || (js(r->restarting, ds) && !strcmp(js(r->restarting, ds), id)))
		return;
	if (!ready_everywhere(r, ds))
		return; /* the sections hook runs step() again as nodes get it ready */
	next = json_deep_copy(service_spec(r->ctx));
	entry = json_object_get(json_object_get(next, "restore"), ds);
	if (!next || !entry)
		return;
	json_array_foreach(json_object_get(next, "vms"), i, ve)
		json_array_foreach(names, k, n)
			if (json_equal(json_object_get(ve, "name"), n) && !strcmp(js(ve, "state") ?: "", "stopped"))
				json_object_set_new(ve, "state", json_string("started"));
	json_object_del(entry, "restart_vms");
	ret = service_request_spec(r->ctx, 0, next); /* no client: the outcome shows in the spec */
	if (ret < 0) {
		klog(service_log(r->ctx), LOG_WARNING, "Restore of datastore '%s': cannot ask to start its VMs again: %s", ds,
		     strerror(-ret));
		return;
	}
	{
		_cleanup_free_ char *list = json_dumps(names, JSON_COMPACT);
		klogf(service_log(r->ctx), LOG_NOTICE, KLOG_DS(ds), "Datastore '%s' is back on every node; starting the VMs its restore stopped: %s",
		      ds, list ? list : "?");
	}
	json_object_set_new(r->restarting, ds, json_string(id));
	if (!r->retry)
		(void)sd_event_add_time_relative(service_event(r->ctx), &r->retry, CLOCK_MONOTONIC, RESTART_RETRY_USEC, 0,
						 on_retry, r);
}

/* The leader's pass over the spec's restore requests (restore.h). */
static void step(struct restore *r)
{
	const json_t *spec = service_spec(r->ctx), *records = service_records(r->ctx), *req;
	const char *ds;

	if (!r->epoch || r->inflight || !service_may_act(r->ctx))
		return;
	json_object_foreach((json_t *)json_object_get(spec, "restore"), ds, req) {
		const json_t *rec = record_of(records, ds);
		const char *id = js(req, "id"), *snap = js(req, "snapshot"), *phase = js(rec, "phase"), *why = NULL;
		char buf[256];

		if (!id || !snap)
			continue;
		if (!rec || !js(rec, "id") || strcmp(js(rec, "id"), id) != 0) {
			klog(service_log(r->ctx), LOG_NOTICE, "Restore of datastore '%s' to snapshot %s (request %s): every node takes it down",
			     ds, snap, id);
			record(r, ds, json_pack("{ssssss}", "id", id, "snapshot", snap, "phase", "down"));
			continue;
		}
		if (!phase)
			continue;
		if (!strcmp(phase, "done") || !strcmp(phase, "failed")) {
			restart_vms(r, ds, req, id);
			continue;
		}
		if (!strcmp(phase, "down")) {
			if (!all_down(r, ds, &why, buf, sizeof(buf))) {
				/* what it waits for, in the record (restore-status on any node shows it) and
				 * the log, once per change */
				if (strcmp(js(rec, "waiting") ?: "", why)) {
					klogf(service_log(r->ctx), LOG_NOTICE, KLOG_DS(ds), "Restore of datastore '%s': waiting: %s", ds, why);
					record(r, ds, json_pack("{ssssssss}", "id", id, "snapshot", snap, "phase", "down", "waiting", why));
				}
				continue;
			}
			record(r, ds, json_pack("{ssssss}", "id", id, "snapshot", snap, "phase", "restoring"));
			continue; /* the ONTAP call once "restoring" is committed */
		}
		if (!strcmp(phase, "restoring")) {
			struct ticket *t;
			int ret;

			if (js(r->finished, ds) && !strcmp(js(r->finished, ds), id))
				continue; /* ended here; its record is on its way */
			t = calloc(1, sizeof(*t));
			if (!t || !(t->ds = strdup(ds)) || !(t->id = strdup(id)) || !(t->snapshot = strdup(snap))) {
				ticket_free(t);
				return;
			}
			t->r = r;
			t->epoch = r->epoch;
			klog(service_log(r->ctx), LOG_NOTICE, "Restore of datastore '%s': every node has it down; reverting its volume to snapshot %s",
			     ds, snap);
			r->inflight = t;
			ret = leader_ontap_snapshot(LEADER_SNAP_RESTORE, ds, snap, on_restored, t);
			if (ret < 0) {
				r->inflight = NULL;
				ticket_free(t);
				if (ret != -ENOTCONN)
					klog(service_log(r->ctx), LOG_WARNING, "Restore of datastore '%s': cannot start: %s", ds, strerror(-ret));
			}
			return; /* one at a time */
		}
	}
}

/* ---- the request ---------------------------------------------------------------------------- */

static json_t *cmd_restore(void *state, uint64_t conn_id, json_t *req)
{
	struct restore *r = state;
	const char *ds = js(req, "datastore"), *snap = js(req, "snapshot");
	bool stop = json_is_true(json_object_get(req, "stop_vms"));
	bool leave = json_is_true(json_object_get(req, "leave_stopped"));
	const json_t *spec = service_spec(r->ctx), *e, *snaps;
	json_auto_t *next = NULL, *running = NULL;
	bool known = false;
	char id[DS_RESTORE_ID_MAX + 1];
	struct timespec ts;
	size_t i;
	int ret;

	if (!ds || !snap)
		return api_refusal(-EINVAL, "snapshot-restore needs \"datastore\" and \"snapshot\"");
	if (!service_may_act(r->ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view, so its copy of the spec may be stale; nothing applied");
	json_array_foreach(json_object_get(spec, "datastores"), i, e)
		known |= js(e, "name") && !strcmp(js(e, "name"), ds);
	if (!known)
		return api_refusal(-ENOENT, "refused: no datastore '%s' in the spec; nothing applied", ds);
	if (restore_holds_down(spec, service_records(r->ctx), ds) ||
	    (json_object_get(json_object_get(spec, "restore"), ds) &&
	     !record_of(service_records(r->ctx), ds)))
		return api_refusal(-EBUSY, "refused: a restore of datastore '%s' is running (`kvmcctl snapshot restore-status`); nothing applied", ds);
	snaps = json_object_get(json_object_get(protection_leader_listing(r->ctx), "datastores"), ds);
	if (json_is_array(snaps)) {
		bool found = false;
		json_array_foreach(snaps, i, e)
			found |= js(e, "name") && !strcmp(js(e, "name"), snap);
		if (!found)
			return api_refusal(-ENOENT, "refused: datastore '%s' has no snapshot '%s' in the leader's last listing (`kvmcctl snapshot list %s`); nothing applied",
					   ds, snap, ds);
	}
	running = vms_of(spec, ds, true);
	if (json_array_size(running) && !stop) {
		_cleanup_free_ char *names = json_dumps(running, JSON_COMPACT);
		return api_refusal(-EBUSY, "refused: VMs of datastore '%s' run: %s; stop them first (`kvmcctl vm stop NAME`) or restore with --stop-vms; nothing applied",
				   ds, names ? names : "?");
	}
	next = json_deep_copy(spec);
	if (!next)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	if (json_array_size(running)) {
		json_t *v, *ve;
		json_array_foreach(json_object_get(next, "vms"), i, ve) {
			size_t k;
			json_array_foreach(running, k, v)
				if (js(ve, "name") && !strcmp(js(ve, "name"), json_string_value(v)))
					json_object_set_new(ve, "state", json_string("stopped"));
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(id, sizeof(id), "%.30s.%lld.%u", service_config(r->ctx)->node_name, (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
		 ++r->seq);
	for (char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("._-", *c)))
			*c = '_';
	if (!json_is_object(json_object_get(next, "restore")))
		json_object_set_new(next, "restore", json_object());
	json_object_set_new(json_object_get(next, "restore"), ds,
			    json_pack("{ssssso*}", "snapshot", snap, "id", id, "restart_vms",
				      json_array_size(running) && !leave ? json_incref(running) : NULL));
	ret = service_request_spec(r->ctx, conn_id, next);
	if (ret < 0)
		return api_refusal(ret, "cannot request the restore: %s; nothing applied", strerror(-ret));
	klogf(service_log(r->ctx), LOG_NOTICE, KLOG_DS(ds), "Datastore '%s': restore to snapshot %s requested (id %s)%s", ds, snap, id,
	     !json_array_size(running) ? "" : leave ? ", its VMs stopped first (and left stopped)" : ", its VMs stopped first (started again after it)");
	return NULL;
}

/* snapshot-restore-status {}: the leader's records of the spec's restore requests. */
static json_t *status_json(struct restore *r)
{
	const json_t *req;
	const char *ds;
	json_t *out = json_object();

	json_object_foreach((json_t *)json_object_get(service_spec(r->ctx), "restore"), ds, req) {
		const json_t *rec = record_of(service_records(r->ctx), ds);
		bool ours = rec && js(rec, "id") && js(req, "id") && !strcmp(js(rec, "id"), js(req, "id"));
		json_object_set_new(out, ds, json_pack("{ssss?ssss?sO?ss?sO?}", "snapshot", js(req, "snapshot") ?: "", "id", js(req, "id"),
						       "phase", ours ? js(rec, "phase") : "requested", "error",
						       ours ? js(rec, "error") : NULL, "at", ours ? json_object_get(rec, "at") : NULL,
						       "waiting", ours && !strcmp(js(rec, "phase") ?: "", "down") ? js(rec, "waiting") : NULL,
						       "restart_vms", json_object_get(req, "restart_vms")));
	}
	return out;
}

static json_t *cmd_status(void *state, uint64_t conn_id, json_t *req)
{
	return json_pack("{sbso}", "ok", 1, "restores", status_json(state));
}

static const struct service_command commands[] = {
	{ "snapshot-restore", cmd_restore },
	{ "snapshot-restore-status", cmd_status },
	{ NULL, NULL },
};

/* ---- the service ------------------------------------------------------------------------------ */

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	struct restore *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->ctx = ctx;
	r->finished = json_object();
	r->restarting = json_object();
	if (!r->finished || !r->restarting) {
		json_decref(r->finished);
		json_decref(r->restarting);
		free(r);
		return -ENOMEM;
	}
	*state = r;
	return 0;
}

static void svc_free(void *state)
{
	struct restore *r = state;

	if (!r)
		return;
	if (r->inflight)
		r->inflight->r = NULL; /* freed by its callback */
	json_decref(r->finished);
	json_decref(r->restarting);
	r->retry = sd_event_source_disable_unref(r->retry);
	free(r);
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	struct restore *r = state;

	if (!acting || epoch != r->epoch) {
		json_object_clear(r->finished); /* a new leadership reads the records afresh */
		json_object_clear(r->restarting);
	}
	r->epoch = acting ? epoch : 0;
	step(r);
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	step(state);
}

static void svc_sections(void *state)
{
	step(state);
}

static json_t *svc_status(void *state)
{
	return status_json(state);
}

const struct service_ops restore_service = {
	.name = "restore",
	.init = svc_init,
	.free = svc_free,
	.leading = svc_leading,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};
