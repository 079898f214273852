/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VM service (vms.h): the leader's placement records and migrations, every node's libvirt
 * domains. The local-API verbs and the requests they send the leader are vms-api.c's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "api-server.h"
#include "domain.h"
#include "macros.h"
#include "placement.h"
#include "domain-events.h"
#include "pool.h"
#include "vm-lock.h"
#include "vm.h"
#include "vms-internal.h"
#include "vms.h"
#include "worker.h"

/* libvirt is listed again at least this often while anything is in motion (a retry, a migration,
 * a request, a domain op); once all is settled and libvirt's lifecycle events are connected
 * (domain-events.h: every change of a domain here wakes the loop at once), only every
 * IDLE_TICK_USEC, as a safety net: an idle host wakes up for the VM service about never. */
#define TICK_USEC (2 * USEC_PER_SEC)
#define IDLE_TICK_USEC (30 * USEC_PER_SEC)
#define RETRY_MIN_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define STEP_TIMEOUT_USEC (180 * USEC_PER_SEC)  /* a stop's grace + libvirt's own time */
#define STOP_GRACE_SEC VMS_STOP_GRACE_SEC      /* ACPI shutdown, then destroy */
#define HOST_MEMORY_RESERVE_MIB 1024u          /* the host's own, never given to VMs */
#define VCPU_OVERCOMMIT 4u                     /* vCPUs given to VMs per online CPU */
/* migrations this node can drive at once: [vms] migrations_per_node's maximum, so the leader's
 * limit decides how many run (with 4, a drain at migrations_per_node = 10 ran in waves of 4,
 * the rest queued on their source while recorded in flight: bench/vms.sh) */
#define MIGRATION_THREADS WORKER_THREADS_MAX
#define LOCK_REPROBE_USEC (30 * USEC_PER_SEC)   /* a VM lock system not usable (yet) is probed again */

static const char *const mig_state_names[] = { "none", "running", "done", "failed" };

uint64_t vms_now(struct vms *d)
{
	uint64_t t = 0;

	sd_event_now(service_event(d->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

static void vlog(void *userdata, int level, const char *text)
{
	struct vms *d = userdata;

	klog(service_log(d->ctx), level, "%s", text);
}

void vms_kick(struct vms *d)
{
	sd_event_source_set_enabled(d->kick, SD_EVENT_ONESHOT);
}

/* ---- what a VM needs (from its domain XML) -------------------------------------------------- */


/* Whether the guest can take an ACPI shutdown (<features><acpi/>): else stop destroys at once. */
static bool vm_has_acpi(const char *xml)
{
	const char *f = strstr(xml, "<features");
	const char *e = f ? strstr(f, "</features>") : NULL;
	const char *a = f ? strstr(f, "<acpi") : NULL;

	return a && (!e || a < e);
}

/* The UUID every node gives a VM whose XML has none: from the cluster identity and the name. */
static void vm_uuid(struct vms *d, const char *name, char out[VM_UUID_TEXT])
{
	char seed[256], sha[HOST_SHA256_HEX];
	const char *cid = service_cluster_id(d->ctx);

	snprintf(seed, sizeof(seed), "kvmcd-vm/%s/%s", cid ? cid : "", name);
	host_sha256_hex(seed, strlen(seed), sha);
	/* name-based layout: version 5 and the RFC 4122 variant bits */
	snprintf(out, VM_UUID_TEXT, "%.8s-%.4s-5%.3s-%c%.3s-%.12s", sha, sha + 8, sha + 13,
		 "89ab"[strtoul((char[]){ sha[16], 0 }, NULL, 16) & 3], sha + 17, sha + 20);
}

/* ---- the replicated state, read ---------------------------------------------------------------- */

const char *vms_me(struct vms *d)
{
	return service_config(d->ctx)->node_name;
}

static const json_t *record(struct vms *d, const char *prefix, const char *name)
{
	char key[CONFIG_HOST_NAME_MAX + VM_NAME_MAX + 16];

	snprintf(key, sizeof(key), "%s/%s", prefix, name);
	return json_object_get(service_records(d->ctx), key);
}

const json_t *vms_vm_record(struct vms *d, const char *vm)
{
	return record(d, "vm", vm);
}

const json_t *vms_node_record(struct vms *d, const char *node)
{
	return record(d, "drain", node);
}

bool vms_node_drained(struct vms *d, const char *node)
{
	return json_is_true(json_object_get(vms_node_record(d, node), "drained"));
}

const json_t *vms_section_of(struct vms *d, const char *node)
{
	const json_t *secs = service_node_sections(d->ctx), *sec;
	const char *k;

	json_object_foreach((json_t *)secs, k, sec)
		if (node && !strcmp(json_string_value(json_object_get(sec, "name")) ?: "", node))
			return json_object_get(sec, "section");
	return NULL;
}

const json_t *vms_reported(struct vms *d, const char *node, const char *vm)
{
	return json_object_get(json_object_get(vms_section_of(d, node), "vms"), vm);
}

const char *vms_reported_state(struct vms *d, const char *node, const char *vm)
{
	return json_string_value(json_object_get(vms_reported(d, node, vm), "state"));
}

bool vms_reported_running(struct vms *d, const char *node, const char *vm)
{
	const char *s = vms_reported_state(d, node, vm);

	return s && (!strcmp(s, "running") || !strcmp(s, "paused"));
}

struct placement_limits vms_limits(const struct kvmcd_config *cfg)
{
	return (struct placement_limits){ .per_node = cfg->vms.migrations_per_node,
					  .per_cluster = cfg->vms.migrations_per_cluster,
					  .balance_gap = cfg->vms.balance_gap };
}

void vms_pinput_clear(struct pinput *p)
{
	free(p->pv);
	free(p->pn);
	free(p->po);
	*p = (struct pinput){ 0 };
}

bool vms_pinput_has_node(const struct pinput *p, const char *name)
{
	for (size_t j = 0; j < p->nn; j++)
		if (!strcmp(p->pn[j].name, name))
			return true;
	return false;
}

/* A member whose listing says a VM without an owner runs there (the first by name; borrowed),
 * or NULL. A VM removed from the spec and added back while a node still ran its domain, or a
 * domain started there by hand: placement keeps it with that node (a running VM stays with its
 * owner) instead of starting a second copy elsewhere; that node does not stop it meanwhile. */
static const char *unowned_runner(struct vms *d, const char *vm)
{
	const json_t *sec;
	const char *k, *found = NULL;

	json_object_foreach((json_t *)service_node_sections(d->ctx), k, sec) {
		const char *name = json_string_value(json_object_get(sec, "name"));
		if (name && vms_reported_running(d, name, vm) && (!found || strcmp(name, found) < 0))
			found = name;
	}
	return found;
}

int vms_pinput_build(struct vms *d, struct pinput *p)
{
	const json_t *records = service_records(d->ctx), *secs = service_node_sections(d->ctx), *sec, *rec;
	const char *k;
	size_t max_nodes;
	int r;

	*p = (struct pinput){ 0 };
	r = service_vm_specs(d->ctx, &p->specs, &p->n);
	if (r < 0)
		return r;
	max_nodes = json_object_size(secs) + 2 * p->n + json_object_size(records) + 1;
	p->pv = calloc(p->n ? p->n : 1, sizeof(*p->pv));
	p->po = calloc(p->n ? p->n : 1, sizeof(*p->po));
	p->pn = calloc(max_nodes, sizeof(*p->pn));
	if (!p->pv || !p->po || !p->pn) {
		vms_pinput_clear(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct vm_spec *s = &p->specs[i];
		const char *owner;

		p->pv[i] = (struct placement_vm){
			.name = s->name, .started = s->state == VM_STATE_STARTED,
			.prefer = s->placement.prefer.name, .n_prefer = s->placement.prefer.n,
			.avoid = s->placement.avoid.name, .n_avoid = s->placement.avoid.n,
			.anti_affinity = s->placement.anti_affinity.name, .n_anti_affinity = s->placement.anti_affinity.n,
			.affinity = s->placement.affinity.name, .n_affinity = s->placement.affinity.n,
			.ha_enabled = s->ha.enabled, .ha_priority = s->ha.priority,
		};
		p->pv[i].memory_mib = s->memory_mib;
		p->pv[i].vcpus = s->vcpus;
		rec = vms_vm_record(d, s->name);
		owner = json_string_value(json_object_get(rec, "owner"));
		if (!owner)
			owner = unowned_runner(d, s->name);
		if (owner)
			p->po[p->no++] = (struct placement_owner){
				.vm = s->name, .node = owner, .running = vms_reported_running(d, owner, s->name),
				.migrating_to = json_string_value(json_object_get(rec, "migrating_to")),
			};
	}
	json_object_foreach((json_t *)secs, k, sec) {
		const char *name = json_string_value(json_object_get(sec, "name"));
		const json_t *cap = json_object_get(json_object_get(sec, "section"), "capacity");
		if (!name || !cap || vms_pinput_has_node(p, name))
			continue; /* a member without the VM service yet: not a place for VMs */
		p->pn[p->nn++] = (struct placement_node){
			.name = name, .member = true,
			.memory_mib = (uint64_t)json_integer_value(json_object_get(cap, "memory_mib")),
			.vcpus = (unsigned)json_integer_value(json_object_get(cap, "vcpus")),
			.drained = vms_node_drained(d, name),
		};
	}
	/* owners and targets that are not members now (left the view, kvmcd down), and drained
	 * nodes that are away: nodes that are not members, so placement says so (and, with the HA
	 * issue, can be told they are fenced) */
	for (size_t i = 0; i < p->no; i++) {
		if (!vms_pinput_has_node(p, p->po[i].node))
			p->pn[p->nn++] = (struct placement_node){ .name = p->po[i].node, .drained = vms_node_drained(d, p->po[i].node) };
		if (p->po[i].migrating_to && !vms_pinput_has_node(p, p->po[i].migrating_to))
			p->pn[p->nn++] = (struct placement_node){ .name = p->po[i].migrating_to,
								  .drained = vms_node_drained(d, p->po[i].migrating_to) };
	}
	json_object_foreach((json_t *)records, k, rec)
		if (!strncmp(k, "drain/", 6) && !vms_pinput_has_node(p, k + 6) && p->nn < max_nodes)
			p->pn[p->nn++] = (struct placement_node){ .name = k + 6, .drained = json_is_true(json_object_get(rec, "drained")) };
	p->in = (struct placement_input){ .vms = p->pv, .n_vms = p->n, .nodes = p->pn, .n_nodes = p->nn,
					  .owners = p->po, .n_owners = p->no };
	return 0;
}

/* ---- node side ------------------------------------------------------------------------------- */

static struct vm_local *local_get(struct vms *d, const char *name, bool create)
{
	struct vm_local *l;

	for (l = d->list; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	if (!create || !(l = calloc(1, sizeof(*l))) || !(l->name = strdup(name))) {
		free(l);
		return NULL;
	}
	l->d = d;
	l->next = d->list;
	d->list = l;
	return l;
}

struct vm_local *vms_local(struct vms *d, const char *name, bool create)
{
	return local_get(d, name, create);
}

bool vms_has_acpi(const char *xml)
{
	return vm_has_acpi(xml);
}

static void local_forget_migration(struct vm_local *l)
{
	free(l->mig_id);
	free(l->mig_to);
	free(l->mig_detail);
	free(l->abort_id);
	l->mig_id = l->mig_to = l->mig_detail = l->abort_id = NULL;
	l->mig_state = MIG_NONE;
	l->mig_report_after = 0;
}

static const char *libvirt_state(struct vms *d, const char *name)
{
	return json_string_value(json_object_get(json_object_get(d->libvirt, name), "state"));
}

static bool runs_here(struct vms *d, const char *name)
{
	const char *s = libvirt_state(d, name);

	return s && (!strcmp(s, "running") || !strcmp(s, "paused"));
}

/* ---- the VM lock below kvmcd (vm-lock.h) ------------------------------------------------------ */

static const char *const lock_kind_names[] = { "auto", "none", "dlm", "lockd" };

static const char *lock_configured(struct vms *d)
{
	int k = service_config(d->ctx)->vms.vm_lock;

	return k >= 0 && k <= VMS_LOCK_LOCKD ? lock_kind_names[k] : "?";
}

static const char *lock_system(struct vms *d)
{
	return d->lock && d->lock_state != VMS_LOCK_OFF ? d->lock->ops->name : "none";
}

/* {"configured", "system", "ok": true | false | null (not known yet), "found"}: this node's
 * section carries it for `kvmcctl preflight` (coord/decide/preflight.h, check "vm-lock"). */
json_t *vms_lock_json(struct vms *d)
{
	json_t *ok = d->lock_state == VMS_LOCK_BROKEN ? json_false()
		     : d->lock_state == VMS_LOCK_PROBING ? json_null() : json_true();

	return json_pack("{s:s,s:s,s:o,s:s}", "configured", lock_configured(d), "system", lock_system(d), "ok", ok,
			 "found", d->lock_found ? d->lock_found : d->lock_state == VMS_LOCK_PROBING ? "being probed" : "?");
}

/* A VM's failure: the backoff on_op uses, and the error status shows. text taken. */
static void lock_failed(struct vm_local *l, char *text)
{
	struct vms *d = l->d;
	uint64_t backoff = RETRY_MIN_USEC << (l->failures < 5 ? l->failures : 5);

	l->failures++;
	l->retry_at = vms_now(d) + (backoff < RETRY_MAX_USEC ? backoff : RETRY_MAX_USEC);
	free(l->error);
	l->error = text;
}

static void on_lock_probed(void *userdata, int r, const char *detail)
{
	struct vms *d = userdata;
	enum vms_lock_state was = d->lock_state;
	bool is_auto = service_config(d->ctx)->vms.vm_lock == VMS_LOCK_AUTO;

	d->lock_probing = false;
	free(d->lock_found);
	d->lock_found = NULL;
	if (r == 0) {
		d->lock_state = VMS_LOCK_READY;
		d->lock_probe_at = 0;
		d->lock_found = strdup(detail && *detail ? detail : "usable");
	} else {
		/* auto without DLM here: none, and DLM is looked for again (dlm_controld may start
		 * later). Anything else (an explicit choice that does not work, or DLM that is here but
		 * does not answer) starts no VM here until it works */
		d->lock_state = is_auto && r == -ENOLCK ? VMS_LOCK_OFF : is_auto ? VMS_LOCK_PROBING : VMS_LOCK_BROKEN;
		d->lock_probe_at = vms_now(d) + LOCK_REPROBE_USEC;
		if (asprintf(&d->lock_found, "%s%s", d->lock_state == VMS_LOCK_OFF ? "auto, no DLM here: " : "",
			     detail && *detail ? detail : strerror(-r)) < 0)
			d->lock_found = NULL;
	}
	if (d->lock_state != was || d->lock_state == VMS_LOCK_BROKEN)
		klog(service_log(d->ctx),
		     d->lock_state == VMS_LOCK_BROKEN ? LOG_ERR : d->lock_state == VMS_LOCK_PROBING ? LOG_WARNING : LOG_NOTICE,
		     "VM lock ([vms] vm_lock = %s): %s%s", lock_configured(d), d->lock_found ? d->lock_found : "?",
		     d->lock_state == VMS_LOCK_READY	? ": every VM takes its lock before it starts here"
		     : d->lock_state == VMS_LOCK_OFF	? ": VMs start here without a lock below kvmcd"
							: ": no VM starts here until it works (kvmcctl preflight shows it)");
	vms_publish(d);
	vms_kick(d);
}

static void lock_probe(struct vms *d)
{
	if (!d->lock || d->lock_probing || !d->lock_probe_at || vms_now(d) < d->lock_probe_at)
		return;
	d->lock_probing = true;
	if (d->lock->ops->probe(d->lock, on_lock_probed, d) < 0) {
		d->lock_probing = false;
		d->lock_probe_at = vms_now(d) + LOCK_REPROBE_USEC;
	}
}

static void lock_released(struct vm_local *l, int r, const char *detail)
{
	struct vms *d = l->d;

	l->lock_busy = false;
	if (r == 0) {
		if (l->locked || (detail && strcmp(detail, "not held") && strncmp(detail, "not held by kvmcd", 17)))
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': its %s lock: %s", l->name, lock_system(d),
			     detail ? detail : "released");
		l->locked = false;
		l->lock_seen = true;
	} else {
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': cannot release its %s lock: %s (tried again)", l->name,
		     lock_system(d), detail && *detail ? detail : strerror(-r));
	}
	vms_kick(d);
}

static void on_lock_released(void *userdata, int r, const char *detail)
{
	lock_released(userdata, r, detail);
}

static int lock_release(struct vm_local *l, host_done_fn done)
{
	struct vms *d = l->d;
	int r;

	if (!d->lock || d->lock_state != VMS_LOCK_READY || l->lock_busy || (!l->locked && l->lock_seen))
		return -EALREADY;
	l->lock_busy = true;
	r = d->lock->ops->release(d->lock, l->name, done, l);
	if (r < 0)
		l->lock_busy = false;
	return r;
}

static void on_lock_acquired(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;
	struct vms *d = l->d;
	const char *why = detail && *detail ? detail : strerror(-r);
	bool running = runs_here(d, l->name);
	char *text = NULL;

	l->lock_busy = false;
	l->lock_seen = l->lock_seen || r == 0 || r == -EBUSY;
	if (r == 0) {
		l->locked = true;
		l->failures = 0;
		l->retry_at = 0;
		free(l->error);
		l->error = NULL;
		if (!detail || strcmp(detail, "held"))
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': its %s lock: %s", l->name, lock_system(d),
			     detail ? detail : "acquired");
	} else if (running) {
		/* the record gives this node a domain that runs here: the lock must be ours. Another
		 * holder means the lock system believes the VM may run elsewhere too */
		if (asprintf(&text, "runs here, but its %s lock cannot be taken: %s", lock_system(d), why) < 0)
			text = NULL;
		klog(service_log(d->ctx), r == -ETIMEDOUT ? LOG_WARNING : LOG_ERR, "VM '%s' %s (tried again)", l->name,
		     text ? text : why);
		lock_failed(l, text);
	} else {
		if (asprintf(&text, r == -EBUSY ? "not started here: its %s lock is held by another node (%s)"
				    : r == -ETIMEDOUT ? "not started here yet: its %s lock did not answer (%s); tried again"
						      : "not started here: cannot take its %s lock: %s",
			     lock_system(d), why) < 0)
			text = NULL;
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s' %s", l->name, text ? text : why);
		lock_failed(l, text);
	}
	vms_kick(d);
}

/*
 * The lock's part of one pass over a VM this node does not stop now: `start` when the record asks
 * this node to start it, `running` when its domain runs here (and is this node's to keep). A start
 * waits for the VM's lock (true: nothing else happens to the VM in this pass); a domain that runs
 * here gets its lock too (kvmcd restarted and adopted it, a migration handed it over, the lock
 * system became usable); a VM that neither runs nor starts here has its lock released -- once per
 * process also when this process never took it, which adopts and drops an earlier kvmcd's orphan
 * (dlm). "Does not run here" counts only from a listing started after the VM's last domain op.
 */
static bool lock_gate(struct vms *d, struct vm_local *l, bool running, bool start)
{
	if (!d->lock || d->lock_state == VMS_LOCK_OFF)
		return false;
	if (l->lock_busy)
		return start;
	if (d->lock_state != VMS_LOCK_READY) {
		if (start) {
			free(l->error);
			if (asprintf(&l->error, "not started here: %s ([vms] vm_lock = %s): %s",
				     d->lock_state == VMS_LOCK_BROKEN ? "the VM lock does not work on this node"
								      : "waiting for the VM lock system",
				     lock_configured(d), d->lock_found ? d->lock_found : "being probed") < 0)
				l->error = NULL;
		}
		return start;
	}
	if ((start || running) && !l->locked) {
		l->lock_busy = true;
		if (d->lock->ops->acquire(d->lock, l->name, on_lock_acquired, l) < 0) {
			l->lock_busy = false;
			lock_failed(l, strdup("not started here: cannot ask for its VM lock"));
		}
		return start;
	}
	if (!start && !running && d->listed_seq > l->op_seq)
		(void)lock_release(l, on_lock_released);
	return false;
}

/* What the lock system says this process holds, reconciled with what runs here: the truth for
 * `locked` (an acquire that timed out may have been granted since), and a lock held for a VM that
 * left the spec and no longer runs here is released (those of the spec: lock_gate). */
static void on_lock_listed(void *userdata, int r, const char *detail)
{
	struct vms *d = userdata;
	json_auto_t *held = r == 0 && detail ? json_loads(detail, 0, NULL) : NULL;
	const struct vm_spec *specs = NULL;
	size_t n = 0;
	const char *name;
	json_t *v;

	d->lock_listing = false;
	if (!json_is_object(held) || service_vm_specs(d->ctx, &specs, &n) < 0)
		return;
	for (struct vm_local *l = d->list; l; l = l->next)
		if (!l->lock_busy && l->locked && !json_object_get(held, l->name)) {
			klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': the lock system no longer lists its lock", l->name);
			l->locked = false;
		}
	json_object_foreach(held, name, v) {
		struct vm_local *l = json_is_string(v) && !strcmp(json_string_value(v), "held") ? local_get(d, name, true) : NULL;
		bool in_spec = false;

		if (!l || l->lock_busy)
			continue;
		l->locked = true;
		for (size_t i = 0; i < n && !in_spec; i++)
			in_spec = !strcmp(specs[i].name, name);
		if (!in_spec && !l->busy && !runs_here(d, name) && d->listed_seq > l->op_seq)
			(void)lock_release(l, on_lock_released);
	}
}

static void lock_reconcile(struct vms *d)
{
	if (!d->lock || d->lock_state != VMS_LOCK_READY || !d->lock->ops->list || d->lock_listing)
		return;
	d->lock_listing = true;
	if (d->lock->ops->list(d->lock, on_lock_listed, d) < 0)
		d->lock_listing = false;
}

/* [vms] vm_lock: the lock system this process uses. An explicit dlm in a kvmcd built without
 * libdlm is a startup error; one that is built in but does not work here (no dlm_controld, a
 * lockd setup that is incomplete) is found by the probe and keeps VMs from starting here. */
static int lock_open(struct vms *d, const struct kvmcd_config *cfg, char **error)
{
	struct host_vm_lock_params p = { .lockspace = cfg->vms.vm_lock_lockspace };
	const struct host_vm_lock_ops *ops;
	int r;

	d->lock_state = VMS_LOCK_OFF;
	if (cfg->vms.vm_lock == VMS_LOCK_NONE) {
		d->lock_found = strdup("[vms] vm_lock = none: no lock below kvmcd");
		return 0;
	}
	ops = host_vm_lock_find(cfg->vms.vm_lock == VMS_LOCK_LOCKD ? "lockd" : "dlm");
	if (!ops && cfg->vms.vm_lock == VMS_LOCK_AUTO) {
		d->lock_found = strdup("auto: this kvmcd is built without libdlm");
		return 0;
	}
	if (!ops) {
		if (asprintf(error, "[vms] vm_lock = dlm, but this kvmcd is built without libdlm: build it with "
				    "libdlm (dlm-dev), or set vm_lock = lockd or none") < 0)
			*error = NULL;
		return -EOPNOTSUPP;
	}
	r = ops->open(&d->host, &p, &d->lock);
	if (r < 0) {
		if (asprintf(error, "[vms] vm_lock = %s: cannot open the VM lock: %s", lock_configured(d), strerror(-r)) < 0)
			*error = NULL;
		return r;
	}
	d->lock_state = VMS_LOCK_PROBING;
	d->lock_probe_at = 1; /* at the first step */
	return 0;
}

/* The migration as this node's section reports it: {"id","to","state", "result"|"error"}. A
 * migration that ended is reported once a listing taken after its end is in, so the state the
 * same section shows is the one after it. */
static json_t *migration_report(struct vms *d, const struct vm_local *l)
{
	json_t *m, *res;
	enum mig_state st = l->mig_state;

	if (!l->mig_id)
		return NULL;
	if ((st == MIG_DONE || st == MIG_FAILED) && d->listed_seq < l->mig_report_after)
		st = MIG_RUNNING;
	m = json_pack("{ssssss}", "id", l->mig_id, "to", l->mig_to ? l->mig_to : "", "state", mig_state_names[st]);
	if (!m)
		return NULL;
	if (st == MIG_DONE && l->mig_detail && (res = json_loads(l->mig_detail, 0, NULL)))
		json_object_set_new(m, "result", res);
	else if (st == MIG_FAILED)
		json_object_set_new(m, "error", json_string(l->mig_detail ? l->mig_detail : "failed"));
	return m;
}

/*
 * What this node reports of a VM's domain. Only a listing started after the VM's last domain op
 * here ended says whether it runs (op_seq, as lock_gate counts it): a listing that started
 * before a start or a stop can come in after it, and a stop judged done on its "shutoff" would
 * clear the owner of a VM that runs. Until such a listing is in (and while an op runs) it is
 * "unknown", which the leader takes as "may run" (handover_state_may_run: placement keeps the
 * owner, a stop is not done, a removed VM's record stays) and never as a hand-over's fact.
 */
static const char *reported_state(struct vms *d, const char *name)
{
	const struct vm_local *l = local_get(d, name, false);
	const char *st = libvirt_state(d, name);

	if (!d->libvirt || (l && (l->busy || d->listed_seq <= l->op_seq)))
		return "unknown";
	return st ? st : "undefined";
}

void vms_publish(struct vms *d)
{
	_cleanup_free_ char *error = NULL;
	json_auto_t *part = json_object();
	json_t *vms = json_object(), *reqs;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE), cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mib = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 1048576u : 0;
	const struct vm_spec *specs = NULL;
	const char *name;
	json_t *dom;
	size_t n = 0;
	int r;

	if (!part || !vms) {
		json_decref(vms);
		return;
	}
	(void)service_vm_specs(d->ctx, &specs, &n);
	for (size_t i = 0; i < n; i++) {
		struct vm_local *l = local_get(d, specs[i].name, false);
		json_t *v = json_pack("{s:s,s:s?}", "state", reported_state(d, specs[i].name), "error", l ? l->error : NULL);
		if (v && l && l->mig_id)
			json_object_set_new(v, "migration", migration_report(d, l));
		if (v && l && l->locked && d->lock)
			json_object_set_new(v, "lock", json_string(d->lock->ops->name));
		vms_paused_annotate(d, specs[i].name, v);
		json_object_set_new(vms, specs[i].name, v);
	}
	/* and every other domain kvmcd defined here (its metadata: a VM that left the spec, which
	 * node_forget stops and undefines): while it may run, the leader keeps the VM's record, and
	 * a VM added back meanwhile stays here (vms_pinput_build) -- no second copy elsewhere */
	json_object_foreach(d->libvirt, name, dom)
		if (json_is_string(json_object_get(dom, "spec_sha256")) && !json_object_get(vms, name))
			json_object_set_new(vms, name, json_pack("{s:s,s:b}", "state", reported_state(d, name), "removed", 1));
	json_object_set_new(part, "vms", vms);
	json_object_set_new(part, "vm_lock", vms_lock_json(d));
	json_object_set_new(part, "capacity",
			    json_pack("{sIsI}", "memory_mib",
				      (json_int_t)(mib > HOST_MEMORY_RESERVE_MIB ? mib - HOST_MEMORY_RESERVE_MIB : 0), "vcpus",
				      (json_int_t)((cpus > 0 ? (unsigned)cpus : 1u) * VCPU_OVERCOMMIT)));
	reqs = vms_requests_json(d);
	if (reqs && json_object_size(reqs))
		json_object_set_new(part, "vm_requests", reqs);
	else
		json_decref(reqs);
	if (d->answers && json_object_size(d->answers) && service_is_recording(d->ctx))
		json_object_set(part, "vm_answers", d->answers);
	vms_paused_publish(d, part);
	if (d->published && json_equal(d->published, part))
		return;
	r = service_node_publish(d->ctx, part, &error);
	if (r < 0 && r != -EOPNOTSUPP) {
		klog(service_log(d->ctx), LOG_WARNING, "Cannot publish this node's VM section: %s", error ? error : strerror(-r));
		return;
	}
	json_decref(d->published);
	d->published = json_incref(part);
}

static void on_op(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;
	struct vms *d = l->d;

	l->busy = false;
	l->op_seq = d->list_seq;
	free(l->error);
	l->error = NULL;
	if (r < 0) {
		uint64_t backoff = RETRY_MIN_USEC << (l->failures < 5 ? l->failures : 5);
		l->failures++;
		l->retry_at = vms_now(d) + (backoff < RETRY_MAX_USEC ? backoff : RETRY_MAX_USEC);
		l->error = strdup(detail && *detail ? detail : strerror(-r));
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': %s", l->name, l->error ? l->error : "failed");
	} else {
		l->failures = 0;
		l->retry_at = 0;
		if (detail && (!strcmp(detail, "started") || !strcmp(detail, "stopped") || !strcmp(detail, "destroyed") ||
			       !strcmp(detail, "defined") || !strcmp(detail, "undefined")))
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': %s on this node", l->name, detail);
		if (detail && (!strcmp(detail, "stopped") || !strcmp(detail, "destroyed")))
			(void)lock_release(l, on_lock_released); /* its domain is down here */
	}
	d->list_again = true;
	vms_kick(d);
}

static void migration_ended(struct vm_local *l, int r, const char *detail)
{
	struct vms *d = l->d;

	l->mig_state = r < 0 ? MIG_FAILED : MIG_DONE;
	free(l->mig_detail);
	l->mig_detail = strdup(detail && *detail ? detail : r < 0 ? strerror(-r) : "{}");
	/* a failure is reported with the state of a listing started after it (the leader drops the
	 * migration only when the VM still runs here); a success at once (the hand-over does not
	 * depend on the state here, and the target waits for it) */
	l->mig_report_after = r < 0 ? d->list_seq + 1 : 0;
	l->op_seq = d->list_seq;
	d->list_again = true;
	vms_publish(d);
	vms_kick(d);
}

/*
 * A live migration's hand-over of the VM lock. With DLM (an EX lock: one holder at a time):
 *   1. while the job runs, the source holds vm:NAME: the guest runs on the source until the
 *      switch-over, and the target never takes the lock for an incoming domain;
 *   2. the job succeeded: the guest runs on the target and the source's QEMU is gone. The source
 *      releases the lock and only THEN reports the migration done in its section
 *      (on_migration_unlocked);
 *   3. the leader hands the VM over (owner = target) once that report is in and the target
 *      reports the domain running;
 *   4. the target owns a domain that runs there and takes the lock (lock_gate): an acquire that
 *      must succeed, since the source released it in 2. A refusal is logged as an error and
 *      retried with the backoff: the source's kvmcd died between 1 and 2, and its lock stays its
 *      node's orphan until the next kvmcd there adopts and releases it (lock_gate's first
 *      release of a VM that does not run there) or that node is fenced.
 * Between 2 and 4 no node holds the lock while the guest runs on the target; kvmcd's own rule
 * covers that gap (the record names the source as owner and the target as migrating_to: the
 * target never starts an incoming VM, the source never starts one it migrates), and it lasts
 * one commit. A failed or aborted job leaves the guest running on the source: the lock stays.
 * lockd needs none of this: libvirt moves its leases inside the migration (the source drops
 * them at the switch-over, the target takes them before the guest resumes); release does
 * nothing there.
 */
static void on_migration_unlocked(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;
	char *result = TAKE_PTR(l->mig_detail);

	lock_released(l, r, detail);
	migration_ended(l, 0, result);
	free(result);
}

static void on_migrated(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;

	if (r < 0)
		klogf(service_log(l->d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': migration %s to %s failed: %s", l->name,
		     l->mig_id ? l->mig_id : "?", l->mig_to ? l->mig_to : "?", detail && *detail ? detail : strerror(-r));
	else
		klogf(service_log(l->d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': migrated to %s (migration %s): %s", l->name,
		     l->mig_to ? l->mig_to : "?", l->mig_id ? l->mig_id : "?", detail ? detail : "");
	if (r == 0) { /* the lock first, then the report (see above) */
		free(l->mig_detail);
		l->mig_detail = strdup(detail ? detail : "{}");
		if (l->mig_detail && lock_release(l, on_migration_unlocked) == 0)
			return;
	}
	migration_ended(l, r, detail);
}

static void on_aborted(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;

	klog(service_log(l->d->ctx), r < 0 ? LOG_WARNING : LOG_NOTICE, "VM '%s': abort of migration %s: %s", l->name,
	     l->abort_id ? l->abort_id : "?", detail && *detail ? detail : r < 0 ? strerror(-r) : "done");
	if (r < 0) { /* tried again at the next pass */
		free(l->abort_id);
		l->abort_id = NULL;
	}
}

/* A migration the leader abandoned before this process started it: the abort of whatever job an
 * earlier kvmcd left on the domain has ended (domain.h: abort_job), so the outcome is final. */
static void on_abandoned(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;
	struct vms *d = l->d;
	_cleanup_free_ char *why = NULL;

	if (r < 0) { /* a job may still run: nothing reported (the leader waits), tried again */
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': abandoned migration %s: %s (tried again)", l->name,
		     l->mig_id ? l->mig_id : "?", detail && *detail ? detail : strerror(-r));
		local_forget_migration(l);
		vms_kick(d);
		return;
	}
	if (detail && !strcmp(detail, "migrated")) {
		/* an earlier kvmcd's job completed: the guest runs on the target. Done, as on_migrated
		 * reports it (the lock first), never "failed": the leader would keep this node as the
		 * owner of a VM that left it */
		klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': migration %s to %s, abandoned by the leader, was "
		     "completed by an earlier kvmcd's job", l->name, l->mig_id ? l->mig_id : "?", l->mig_to ? l->mig_to : "?");
		on_migrated(l, 0, "{}");
		return;
	}
	if (asprintf(&why, "abandoned before it started: %s",
		     json_string_value(json_object_get(json_object_get(vms_vm_record(d, l->name), "migration"), "abort")) ?:
			     "aborted") < 0)
		why = NULL;
	klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': abandoned migration %s: %s", l->name, l->mig_id ? l->mig_id : "?",
	     detail && !strcmp(detail, "aborted") ? "an earlier kvmcd's job aborted" : "no job ran");
	/* reported with a listing started after this: the leader drops it only if it runs here */
	migration_ended(l, -ECANCELED, why ? why : "abandoned before it started");
}

/*
 * This node is the source of the record's migration (owner = this node, migrating_to set).
 * While that record stands the node neither starts, stops nor redefines the domain: the
 * migration is the only thing that happens to it here. Once the job ends, its result is
 * reported (the section's "migration") and the leader hands the VM over or drops the migration.
 */
static void node_migrate(struct vms *d, const struct vm_spec *vm, struct vm_local *l, const json_t *rec)
{
	const json_t *mig = json_object_get(rec, "migration");
	const char *to = json_string_value(json_object_get(rec, "migrating_to"));
	const char *id = json_string_value(json_object_get(mig, "id"));
	const char *abort = json_string_value(json_object_get(mig, "abort"));
	const struct kvmcd_config *cfg = service_config(d->ctx);
	_cleanup_free_ char *uri = NULL;
	struct host_migration m;
	json_int_t downtime;
	int r;

	if (!id || !to)
		return; /* a malformed record: nothing is done to the domain until the leader fixes it */
	if (l->mig_id && !strcmp(l->mig_id, id)) {
		if (l->mig_state == MIG_RUNNING && abort && (!l->abort_id || strcmp(l->abort_id, id))) {
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(vm->name), "VM '%s': the leader abandons migration %s to %s (%s): aborting it",
			     vm->name, id, to, abort);
			if ((l->abort_id = strdup(id)) && d->dom->abort_job(&d->mig_host, vm->name, on_aborted, l) < 0) {
				free(l->abort_id);
				l->abort_id = NULL;
			}
		}
		return;
	}
	if (l->mig_id && l->mig_state == MIG_RUNNING)
		return; /* an earlier migration's job still ends (the record moved on meanwhile) */
	local_forget_migration(l);
	if (!runs_here(d, vm->name) || l->busy)
		return; /* not here: the leader decides from what every node reports */
	if (!(l->mig_id = strdup(id)) || !(l->mig_to = strdup(to))) {
		local_forget_migration(l);
		return;
	}
	l->mig_state = MIG_RUNNING;
	if (abort) {
		/* abandoned before this process started it -- but an earlier kvmcd here may have, and
		 * its job may still run inside libvirtd and switch the guest over after the leader
		 * dropped the migration. Reported only once no job runs on the domain (on_abandoned) */
		if (!(l->abort_id = strdup(id)) || d->dom->abort_job(&d->mig_host, vm->name, on_abandoned, l) < 0)
			local_forget_migration(l); /* nothing reported: tried again at the next pass */
		return;
	}
	r = vms_migration_uri(cfg->vms.migration_uri, to, &uri);
	downtime = json_integer_value(json_object_get(mig, "max_downtime_ms"));
	m = (struct host_migration){
		.name = vm->name, .dest_uri = uri,
		.max_downtime_ms = json_is_integer(json_object_get(mig, "max_downtime_ms")) && downtime >= 0
					   ? (unsigned)downtime : cfg->vms.max_downtime_ms,
		.deadline_usec = (uint64_t)cfg->vms.migration_timeout_ms * USEC_PER_MSEC,
	};
	klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(vm->name), "VM '%s': live migration %s to %s (%s) starts: %s", vm->name, id, to,
	     uri ? uri : "?", json_string_value(json_object_get(mig, "why")) ?: "");
	if (r == 0)
		r = d->dom->migrate(&d->mig_host, &m, on_migrated, l);
	if (r < 0) {
		_cleanup_free_ char *why = NULL;
		if (asprintf(&why, "cannot start the migration to %s: %s", uri ? uri : to, strerror(-r)) < 0)
			why = NULL;
		migration_ended(l, r, why);
	}
}

/* At most one domain op per VM at a time; each probes first (host.h). */
static void node_act(struct vms *d, const struct vm_spec *vm)
{
	struct vm_local *l = local_get(d, vm->name, true);
	const json_t *rec;
	const char *owner, *action, *have_sha, *to;
	char sha[65];
	bool mine, start, stop, running = runs_here(d, vm->name);
	int r = 0;

	if (!l)
		return;
	rec = vms_vm_record(d, vm->name);
	owner = json_string_value(json_object_get(rec, "owner"));
	action = json_string_value(json_object_get(rec, "action"));
	to = json_string_value(json_object_get(rec, "migrating_to"));
	mine = owner && strcmp(owner, vms_me(d)) == 0;
	if (l->mig_id && (!mine || !to || strcmp(json_string_value(json_object_get(json_object_get(rec, "migration"), "id")) ?: "",
						l->mig_id)) && l->mig_state != MIG_RUNNING)
		local_forget_migration(l); /* the leader took its result in */
	if (mine && to) {
		node_migrate(d, vm, l, rec);
		return;
	}
	if (to && !strcmp(to, vms_me(d)))
		return; /* the migration's target: its incoming domain is the source's to run, never ours
			   to start or to stop, until the record hands the VM over */
	if (l->mig_id && l->mig_state == MIG_RUNNING)
		return; /* our migration's job still ends */
	if (l->busy || (l->retry_at && vms_now(d) < l->retry_at))
		return;
	if (!running && vms_shutdown_holds(d))
		return; /* kvmcd stops under its shutdown policy (vms-shutdown.c): nothing starts here */
	have_sha = json_string_value(json_object_get(json_object_get(d->libvirt, vm->name), "spec_sha256"));
	host_domain_sha256(vm->domain_xml, sha);
	start = mine && !running && vm->state == VM_STATE_STARTED && action &&
		(!strcmp(action, "start-on") || !strcmp(action, "keep"));
	/* a domain of a started VM that no node owns is left running: the leader makes this node its
	 * owner (vms_pinput_build); stopping it would be a silent stop and start */
	stop = running && ((owner && !mine) || vm->state == VM_STATE_STOPPED || (action && !strcmp(action, "stop")));
	if (!stop && lock_gate(d, l, running, start))
		return; /* a start waits for its lock */

	l->busy = true;
	if (stop) {
		/* the record is the authority: a copy it does not give this node goes down */
		klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(vm->name), "VM '%s' runs here but %s: stopping it", vm->name,
		     owner && !mine ? "another node owns it" : "it is to stop");
		r = d->dom->stop(&d->host, vm->name, vm_has_acpi(vm->domain_xml) ? STOP_GRACE_SEC : 0, on_op, l);
	} else if (!have_sha || strcmp(have_sha, sha) != 0) {
		_cleanup_free_ char *xml = NULL;
		char uuid[VM_UUID_TEXT];
		vm_uuid(d, vm->name, uuid);
		r = host_domain_xml(vm->domain_xml, vm->uuid[0] ? NULL : uuid, &xml);
		if (r == 0)
			r = d->dom->define(&d->host, vm->name, xml, on_op, l);
	} else if (start) {
		r = d->dom->start(&d->host, vm->name, on_op, l);
	} else {
		l->busy = false;
		return;
	}
	if (r < 0)
		on_op(l, r, NULL); /* nothing was started: the same backoff and error */
}

/* The migrations the records ask this node to drive, started as soon as they are committed
 * (not after the next listing: the job probes the domain itself). */
static void node_migrations(struct vms *d)
{
	const struct vm_spec *specs = NULL;
	size_t n = 0;

	/* only on committed records (service_settled): a migration started on an update that does not
	 * survive would move a VM the majority never gave away */
	if (!d->libvirt || !service_settled(d->ctx) || service_vm_specs(d->ctx, &specs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const json_t *rec = vms_vm_record(d, specs[i].name);
		struct vm_local *l;
		if (!json_object_get(rec, "migrating_to") ||
		    strcmp(json_string_value(json_object_get(rec, "owner")) ?: "", vms_me(d)) != 0)
			continue;
		if ((l = local_get(d, specs[i].name, true)))
			node_migrate(d, &specs[i], l, rec);
	}
}

/* Domains kvmcd defined for VMs that are no longer in the spec: stopped, then undefined. */
static void node_forget(struct vms *d, const struct vm_spec *specs, size_t n)
{
	const char *name;
	json_t *v;

	json_object_foreach(d->libvirt, name, v) {
		bool in_spec = false;
		struct vm_local *l;
		int r;

		if (json_is_null(json_object_get(v, "spec_sha256")) || !json_object_get(v, "spec_sha256"))
			continue; /* not kvmcd's */
		for (size_t i = 0; i < n && !in_spec; i++)
			in_spec = strcmp(specs[i].name, name) == 0;
		if (in_spec || !(l = local_get(d, name, true)) || l->busy || (l->mig_id && l->mig_state == MIG_RUNNING) ||
		    (l->retry_at && vms_now(d) < l->retry_at))
			continue;
		l->busy = true;
		r = runs_here(d, name) ? d->dom->stop(&d->host, name, 0, on_op, l) : d->dom->undefine(&d->host, name, on_op, l);
		if (r < 0)
			on_op(l, r, NULL);
	}
}

/*
 * Issue 9: a node that was in a quorate view and is not any more (service_healthy) stops its HA guests at
 * once, hard (it may be fenced, and the survivors restart them after the watchdog deadline,
 * which counts on this; coord/timeouts.h 5.). A kvmcd that has not been healthy since it
 * started (a restart within the agent grace) stops nothing: its guests are still its own.
 */
static void isolation_stop(struct vms *d)
{
	const struct vm_spec *specs = NULL;
	size_t n = 0;

	if (service_healthy(d->ctx)) {
		d->was_healthy = true;
		return;
	}
	if (!d->was_healthy || !d->libvirt || service_vm_specs(d->ctx, &specs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct vm_local *l = specs[i].ha.enabled && runs_here(d, specs[i].name) ? local_get(d, specs[i].name, true) : NULL;
		if (!l || l->busy)
			continue;
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(specs[i].name), "VM '%s': this node is no longer in a quorate view: stopping "
		     "the HA guest at once (it may be restarted elsewhere once this node counts as fenced)", specs[i].name);
		l->busy = true;
		if (d->dom->stop(&d->host, specs[i].name, 0, on_op, l) < 0)
			on_op(l, -EIO, NULL);
	}
}

static void node_reconcile(struct vms *d)
{
	isolation_stop(d);
	const struct vm_spec *specs = NULL;
	size_t n = 0;

	if (!d->libvirt)
		return;
	/* only a synced, quorate view acts, on committed records (service_settled): an inquorate node
	 * starts nothing and stops nothing (stopping what it may still own is the HA issue's
	 * self-fence, not this) */
	if (service_settled(d->ctx) && service_vm_specs(d->ctx, &specs, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			node_act(d, &specs[i]);
		node_forget(d, specs, n);
		lock_reconcile(d);
		vms_paused_reconcile(d, specs, n);
	}
	vms_publish(d);
}

static void on_listed(void *userdata, int r, const char *detail)
{
	struct vms *d = userdata;
	json_error_t e;

	d->listing = false;
	if (r < 0) {
		/* once per outage: libvirtd down is said once, not at every tick */
		if (!d->list_failing)
			klog(service_log(d->ctx), LOG_WARNING, "Cannot list this node's libvirt domains: %s",
			     detail && *detail ? detail : strerror(-r));
		d->list_failing = true;
	} else {
		if (d->list_failing)
			klog(service_log(d->ctx), LOG_NOTICE, "This node's libvirt domains are listed again");
		d->list_failing = false;
		json_t *l = json_loads(detail ? detail : "", 0, &e);
		if (json_is_object(l)) {
			json_decref(d->libvirt);
			d->libvirt = l;
			d->listed_seq = d->list_seq;
		} else {
			json_decref(l);
		}
	}
	node_reconcile(d);
	if (d->list_again) {
		d->list_again = false;
		vms_kick(d);
	}
}

static void refresh(struct vms *d)
{
	int r;

	if (d->listing) {
		d->list_again = true;
		return;
	}
	r = d->dom->list(&d->host, on_listed, d);
	if (r < 0) {
		klog(service_log(d->ctx), LOG_WARNING, "Cannot list this node's libvirt domains: %s", strerror(-r));
	} else {
		d->listing = true;
		d->list_seq++;
	}
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void step(struct vms *d)
{
	lock_probe(d);
	if (service_is_recording(d->ctx))
		vms_leader_pass(d);
	vms_requests_check(d);
	vms_shutdown_step(d);
	node_migrations(d);
	refresh(d);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	step(userdata);
	return 0;
}

/* Nothing in motion here and libvirt's events connected: the slow tick is enough. */
static bool settled(struct vms *d)
{
	const json_t *rec;
	const char *k;

	/* (a listing in flight is not motion: what it finds kicks the loop itself) */
	if (!host_domain_events_connected(d->events) || d->list_failing || d->requests || d->patch_version ||
	    !d->libvirt)
		return false;
	for (struct vm_local *l = d->list; l; l = l->next)
		if (l->busy || l->retry_at || l->mig_id)
			return false;
	json_object_foreach((json_t *)service_records(d->ctx), k, rec)
		if ((!strncmp(k, "vm/", 3) && json_object_get(rec, "migrating_to")) || !strcmp(k, "cluster/rebalance"))
			return false;
	return true;
}

static void on_domain_events(void *userdata)
{
	struct vms *d = userdata;

	d->list_again = true;
	vms_kick(d);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vms *d = userdata;

	step(d);
	sd_event_source_set_time(s, vms_now(d) + (settled(d) ? IDLE_TICK_USEC : TICK_USEC));
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	if (!may_act)
		isolation_stop(state); /* at once, not at the next listing */
	vms_kick(state);
}

/* Whether this node is the target of a migration in flight. */
static bool receiving(struct vms *d)
{
	const json_t *rec;
	const char *k;

	json_object_foreach((json_t *)service_records(d->ctx), k, rec)
		if (!strncmp(k, "vm/", 3) && !strcmp(json_string_value(json_object_get(rec, "migrating_to")) ?: "", vms_me(d)))
			return true;
	return false;
}

static void svc_sections(void *state)
{
	struct vms *d = state;

	/* the leader serves requests and settles migrations from what the nodes report; a
	 * migration's target lists its libvirtd again (the source's report of the end came: the
	 * hand-over waits for this node's word that the domain runs here); a node that waits for
	 * the leader reads its answers */
	if (service_is_recording(d->ctx) || receiving(d))
		vms_kick(d);
	else if (d->requests)
		vms_requests_check(d);
	vms_paused_sections(d); /* `vm resume` requests for the VMs this node owns */
}

/*
 * The leader's pass runs from RECORDING, not LEADING: it only records (owners, HA state) and
 * answers requests, which a predecessor still within its lease cannot contradict (it commits
 * nothing), so a failed leader's VMs are placed once its fence is confirmed, not a lease later.
 */
static void svc_recording(void *state, bool recording, uint64_t epoch)
{
	struct vms *d = state;

	d->patch_version = 0;
	if (!recording) { /* answers are the recording leader's: a next leader gives its own */
		json_decref(d->answers);
		d->answers = NULL;
		vms_publish(d);
	}
	vms_kick(d);
}

static json_t *svc_status(void *state)
{
	struct vms *d = state;
	const struct vm_spec *specs = NULL;
	size_t n = 0, running = 0, migrating = 0;

	(void)service_vm_specs(d->ctx, &specs, &n);
	for (size_t i = 0; i < n; i++)
		running += runs_here(d, specs[i].name);
	for (struct vm_local *l = d->list; l; l = l->next)
		migrating += l->mig_id && l->mig_state == MIG_RUNNING;
	return json_pack("{sIsIsIsO?so}", "vms", (json_int_t)n, "running_here", (json_int_t)running, "migrating_from_here",
			 (json_int_t)migrating, "libvirt", d->libvirt, "vm_lock", vms_lock_json(d));
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void svc_free(void *state)
{
	struct vms *d = state;

	if (!d)
		return;
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->kick);
	/* its hooks in flight are dropped (no done after this); the locks it holds stay held (dlm:
	 * this node's orphans, adopted by the next kvmcd): the VMs run on without kvmcd */
	if (d->lock)
		d->lock->ops->close(d->lock);
	worker_pool_free(d->mig_workers); /* cancels what is queued: no callback after this */
	worker_pool_free(d->workers);
	host_ctx_cancel(&d->mig_host);     /* the domain ops those pools will never report */
	host_domain_events_free(d->events); /* joins its thread: no wake-up after this */
	host_ctx_cancel(&d->host);
	while (d->list) {
		struct vm_local *l = d->list;
		d->list = l->next;
		local_forget_migration(l);
		free(l->name);
		free(l->error);
		free(l);
	}
	vms_requests_free(d);
	vms_shutdown_free(d);
	vms_paused_free(d);
	json_decref(d->libvirt);
	json_decref(d->published);
	json_decref(d->answers);
	free(d->lock_found);
	free(d->libvirt_uri);
	free(d);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct vms *d;
	unsigned char rnd[4] = { 0 };
	FILE *f;
	int r;

	*state = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	d->dom = &host_domain_libvirt_ops;
	/* request ids are unique across this node's kvmcd runs: a nonce per run */
	f = fopen("/dev/urandom", "re");
	if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
		memcpy(rnd, &t, sizeof(rnd));
	}
	if (f)
		fclose(f);
	snprintf(d->nonce, sizeof(d->nonce), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	r = worker_pool_new(service_event(ctx), 2, &d->workers);
	if (r >= 0)
		r = worker_pool_new(service_event(ctx), MIGRATION_THREADS, &d->mig_workers);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &d->timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_timer, d);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &d->kick, on_kick, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->kick, SD_EVENT_OFF);
	if (r >= 0 && cfg->host.libvirt_uri && !(d->libvirt_uri = strdup(cfg->host.libvirt_uri)))
		r = -ENOMEM;
	if (r < 0) {
		if (asprintf(error, "the VM service cannot start: %s", strerror(-r)) < 0)
			*error = NULL;
		svc_free(d);
		return r;
	}
	d->host = (struct host_ctx){
		.event = service_event(ctx), .workers = d->workers, .libvirt_uri = d->libvirt_uri,
		.node_name = cfg->node_name, .step_timeout_usec = STEP_TIMEOUT_USEC, .log = vlog, .log_userdata = d,
	};
	d->mig_host = d->host;
	d->mig_host.workers = d->mig_workers;
	/* without events (no libvirt support, no thread) the VM service lists every TICK_USEC */
	r = host_domain_events_start(&d->host, on_domain_events, d, &d->events);
	if (r < 0)
		klog(service_log(ctx), LOG_WARNING, "libvirt's domain events are not available (%s): listing the "
		     "domains every %u s instead", strerror(-r), (unsigned)(TICK_USEC / USEC_PER_SEC));
	r = lock_open(d, cfg, error);
	if (r < 0) {
		svc_free(d);
		return r;
	}
	*state = d;
	return 0;
}

const struct service_ops vms_service = {
	.name = "vms",
	.init = svc_init,
	.free = svc_free,
	.recording = svc_recording,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = vms_commands,
	.status = svc_status,
	.stop = vms_shutdown_stop,
};
