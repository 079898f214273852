/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VM service (vms.h): the leader's placement records and every node's libvirt domains. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "api-server.h"
#include "domain.h"
#include "macros.h"
#include "placement.h"
#include "pool.h"
#include "vm.h"
#include "vms.h"
#include "worker.h"

#define TICK_USEC (2 * USEC_PER_SEC)          /* libvirt is listed again at least this often */
#define RETRY_MIN_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define STEP_TIMEOUT_USEC (180 * USEC_PER_SEC)  /* a stop's grace + libvirt's own time */
#define STOP_GRACE_SEC 60u                     /* ACPI shutdown, then destroy */
#define HOST_MEMORY_RESERVE_MIB 1024u          /* the host's own, never given to VMs */
#define VCPU_OVERCOMMIT 4u                     /* vCPUs given to VMs per online CPU */

/* One VM (of the spec, or a domain kvmcd defined here for a VM that left it) on this node. */
struct vm_local {
	char *name;                  /* owned */
	bool busy;                   /* a domain op is in flight */
	unsigned failures;           /* consecutive, for the backoff */
	uint64_t retry_at;           /* CLOCK_MONOTONIC; 0 = now */
	char *error;                 /* owned: the last failure, for status; NULL after a success */
	struct vms *d;               /* borrowed back-pointer */
	struct vm_local *next;
};

struct vms {
	struct service_ctx *ctx;
	struct worker_pool *workers;     /* owned */
	struct host_ctx host;
	char *libvirt_uri;               /* owned or NULL */
	const struct host_domain_ops *dom;
	sd_event_source *timer;          /* owned: the periodic tick */
	sd_event_source *kick;           /* owned: act soon, from the loop */
	json_t *libvirt;                 /* owned: the last listing, or NULL */
	bool listing;                    /* a list job in flight */
	bool list_again;                 /* something changed while it ran */
	struct vm_local *list;           /* owned */
	json_t *published;               /* owned: the section part last published */
};

static uint64_t now_usec(struct vms *d)
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

static void kick(struct vms *d)
{
	sd_event_source_set_enabled(d->kick, SD_EVENT_ONESHOT);
}

/* ---- what a VM needs (from its domain XML) -------------------------------------------------- */

/* <memory unit='…'>N</memory> in MiB (libvirt's units; KiB by default) and <vcpu>N</vcpu>. */
static void vm_needs(const char *xml, uint64_t *mib, unsigned *vcpus)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	*mib = 0;
	*vcpus = 1;
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(c->name, BAD_CAST "memory") == 0) {
			xmlChar *t = xmlNodeGetContent(c), *u = xmlGetProp(c, BAD_CAST "unit");
			unsigned long long n = t ? strtoull((const char *)t, NULL, 10) : 0;
			const char *unit = u ? (const char *)u : "KiB";
			double bytes = (double)n;
			if (!strcmp(unit, "b") || !strcmp(unit, "bytes"))
				bytes = (double)n;
			else if (!strcmp(unit, "KB"))
				bytes = n * 1e3;
			else if (!strcmp(unit, "k") || !strcmp(unit, "KiB"))
				bytes = n * 1024.0;
			else if (!strcmp(unit, "MB"))
				bytes = n * 1e6;
			else if (!strcmp(unit, "M") || !strcmp(unit, "MiB"))
				bytes = n * 1048576.0;
			else if (!strcmp(unit, "GB"))
				bytes = n * 1e9;
			else if (!strcmp(unit, "G") || !strcmp(unit, "GiB"))
				bytes = n * 1073741824.0;
			else if (!strcmp(unit, "TB"))
				bytes = n * 1e12;
			else if (!strcmp(unit, "T") || !strcmp(unit, "TiB"))
				bytes = n * 1099511627776.0;
			*mib = (uint64_t)((bytes + 1048575.0) / 1048576.0);
			xmlFree(t);
			xmlFree(u);
		} else if (xmlStrcmp(c->name, BAD_CAST "vcpu") == 0) {
			xmlChar *t = xmlNodeGetContent(c);
			unsigned long n = t ? strtoul((const char *)t, NULL, 10) : 1;
			*vcpus = n ? (unsigned)n : 1;
			xmlFree(t);
		}
	}
	xmlFreeDoc(doc);
}

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

static const char *me(struct vms *d)
{
	return service_config(d->ctx)->node_name;
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

static void publish(struct vms *d)
{
	_cleanup_free_ char *error = NULL;
	json_auto_t *part = json_object();
	json_t *vms = json_object();
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE), cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mib = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 1048576u : 0;
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0;
	int r;

	if (!part || !vms)
		return;
	(void)vm_spec_list(service_spec(d->ctx), &specs, &n);
	for (size_t i = 0; i < n; i++) {
		struct vm_local *l = local_get(d, specs[i].name, false);
		const char *st = libvirt_state(d, specs[i].name);
		json_object_set_new(vms, specs[i].name,
				    json_pack("{s:s,s:s?}", "state", !d->libvirt ? "unknown" : st ? st : "undefined", "error",
					      l ? l->error : NULL));
	}
	json_object_set_new(part, "vms", vms);
	json_object_set_new(part, "capacity",
			    json_pack("{sIsI}", "memory_mib",
				      (json_int_t)(mib > HOST_MEMORY_RESERVE_MIB ? mib - HOST_MEMORY_RESERVE_MIB : 0), "vcpus",
				      (json_int_t)((cpus > 0 ? (unsigned)cpus : 1u) * VCPU_OVERCOMMIT)));
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
	free(l->error);
	l->error = NULL;
	if (r < 0) {
		uint64_t backoff = RETRY_MIN_USEC << (l->failures < 5 ? l->failures : 5);
		l->failures++;
		l->retry_at = now_usec(d) + (backoff < RETRY_MAX_USEC ? backoff : RETRY_MAX_USEC);
		l->error = strdup(detail && *detail ? detail : strerror(-r));
		klog(service_log(d->ctx), LOG_WARNING, "VM '%s': %s", l->name, l->error ? l->error : "failed");
	} else {
		l->failures = 0;
		l->retry_at = 0;
		if (detail && (!strcmp(detail, "started") || !strcmp(detail, "stopped") || !strcmp(detail, "destroyed") ||
			       !strcmp(detail, "defined") || !strcmp(detail, "undefined")))
			klog(service_log(d->ctx), LOG_NOTICE, "VM '%s': %s on this node", l->name, detail);
	}
	d->list_again = true;
	kick(d);
}

/* At most one domain op per VM at a time; each probes first (host.h). */
static void node_act(struct vms *d, const struct vm_spec *vm)
{
	struct vm_local *l = local_get(d, vm->name, true);
	const json_t *rec;
	const char *owner, *action, *have_sha;
	char key[VM_NAME_MAX + 8], sha[65];
	bool mine, running = runs_here(d, vm->name);
	int r = 0;

	if (!l || l->busy || (l->retry_at && now_usec(d) < l->retry_at))
		return;
	snprintf(key, sizeof(key), "vm/%s", vm->name);
	rec = json_object_get(service_records(d->ctx), key);
	owner = json_string_value(json_object_get(rec, "owner"));
	action = json_string_value(json_object_get(rec, "action"));
	mine = owner && strcmp(owner, me(d)) == 0;
	have_sha = json_string_value(json_object_get(json_object_get(d->libvirt, vm->name), "spec_sha256"));
	host_domain_sha256(vm->domain_xml, sha);

	l->busy = true;
	if (running && (!mine || vm->state == VM_STATE_STOPPED || (action && !strcmp(action, "stop")))) {
		/* the record is the authority: a copy it does not give this node goes down */
		klog(service_log(d->ctx), LOG_NOTICE, "VM '%s' runs here but %s: stopping it", vm->name,
		     !mine ? (owner ? "another node owns it" : "no node owns it") : "it is to stop");
		r = d->dom->stop(&d->host, vm->name, vm_has_acpi(vm->domain_xml) ? STOP_GRACE_SEC : 0, on_op, l);
	} else if (!have_sha || strcmp(have_sha, sha) != 0) {
		_cleanup_free_ char *xml = NULL;
		char uuid[VM_UUID_TEXT];
		vm_uuid(d, vm->name, uuid);
		r = host_domain_xml(vm->domain_xml, vm->uuid[0] ? NULL : uuid, &xml);
		if (r == 0)
			r = d->dom->define(&d->host, vm->name, xml, on_op, l);
	} else if (mine && !running && vm->state == VM_STATE_STARTED && action &&
		   (!strcmp(action, "start-on") || !strcmp(action, "keep"))) {
		r = d->dom->start(&d->host, vm->name, on_op, l);
	} else {
		l->busy = false;
		return;
	}
	if (r < 0)
		on_op(l, r, NULL); /* nothing was started: the same backoff and error */
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
		if (in_spec || !(l = local_get(d, name, true)) || l->busy || (l->retry_at && now_usec(d) < l->retry_at))
			continue;
		l->busy = true;
		r = runs_here(d, name) ? d->dom->stop(&d->host, name, 0, on_op, l) : d->dom->undefine(&d->host, name, on_op, l);
		if (r < 0)
			on_op(l, r, NULL);
	}
}

static void node_reconcile(struct vms *d)
{
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0;

	if (!d->libvirt)
		return;
	publish(d);
	/* only a synced, quorate view acts: an inquorate node starts nothing and stops nothing
	 * (stopping what it may still own is the HA issue's self-fence, not this) */
	if (!service_may_act(d->ctx) || vm_spec_list(service_spec(d->ctx), &specs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		node_act(d, &specs[i]);
	node_forget(d, specs, n);
}

static void on_listed(void *userdata, int r, const char *detail)
{
	struct vms *d = userdata;
	json_error_t e;

	d->listing = false;
	if (r < 0) {
		klog(service_log(d->ctx), LOG_WARNING, "Cannot list this node's libvirt domains: %s",
		     detail && *detail ? detail : strerror(-r));
	} else {
		json_t *l = json_loads(detail ? detail : "", 0, &e);
		if (json_is_object(l)) {
			json_decref(d->libvirt);
			d->libvirt = l;
		} else {
			json_decref(l);
		}
	}
	node_reconcile(d);
	if (d->list_again) {
		d->list_again = false;
		kick(d);
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
	if (r < 0)
		klog(service_log(d->ctx), LOG_WARNING, "Cannot list this node's libvirt domains: %s", strerror(-r));
	else
		d->listing = true;
}

/* ---- leader side ----------------------------------------------------------------------------- */

static const json_t *section_of(struct vms *d, const char *node)
{
	const json_t *secs = service_node_sections(d->ctx), *sec;
	const char *k;

	json_object_foreach((json_t *)secs, k, sec)
		if (node && !strcmp(json_string_value(json_object_get(sec, "name")) ?: "", node))
			return json_object_get(sec, "section");
	return NULL;
}

static const char *reported_state(struct vms *d, const char *node, const char *vm)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(section_of(d, node), "vms"), vm), "state"));
}

static bool reported_running(struct vms *d, const char *node, const char *vm)
{
	const char *s = reported_state(d, node, vm);

	return s && (!strcmp(s, "running") || !strcmp(s, "paused"));
}

static void leader_place(struct vms *d)
{
	_cleanup_free_ struct vm_spec *specs = NULL;
	_cleanup_free_ struct placement_vm *pv = NULL;
	_cleanup_free_ struct placement_node *pn = NULL;
	_cleanup_free_ struct placement_owner *po = NULL;
	struct placement_result *res = NULL;
	const json_t *records = service_records(d->ctx), *secs = service_node_sections(d->ctx), *sec, *rec;
	json_auto_t *patch = json_object();
	size_t n = 0, nn = 0, no = 0;
	uint64_t epoch = service_acting_epoch(d->ctx);
	const char *k;
	int r;

	if (!epoch || !service_may_act(d->ctx) || !patch || vm_spec_list(service_spec(d->ctx), &specs, &n) < 0)
		return;
	pv = calloc(n ? n : 1, sizeof(*pv));
	po = calloc(n ? n : 1, sizeof(*po));
	pn = calloc(json_object_size(secs) + n + 1, sizeof(*pn));
	if (!pv || !po || !pn)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct vm_spec *s = &specs[i];
		char key[VM_NAME_MAX + 8];
		const char *owner;

		pv[i] = (struct placement_vm){
			.name = s->name, .started = s->state == VM_STATE_STARTED,
			.prefer = s->placement.prefer.name, .n_prefer = s->placement.prefer.n,
			.avoid = s->placement.avoid.name, .n_avoid = s->placement.avoid.n,
			.anti_affinity = s->placement.anti_affinity.name, .n_anti_affinity = s->placement.anti_affinity.n,
			.affinity = s->placement.affinity.name, .n_affinity = s->placement.affinity.n,
			.ha_enabled = s->ha.enabled, .ha_priority = s->ha.priority,
		};
		vm_needs(s->domain_xml, &pv[i].memory_mib, &pv[i].vcpus);
		snprintf(key, sizeof(key), "vm/%s", s->name);
		owner = json_string_value(json_object_get(json_object_get(records, key), "owner"));
		if (owner)
			po[no++] = (struct placement_owner){ .vm = s->name, .node = owner,
							     .running = reported_running(d, owner, s->name) };
	}
	json_object_foreach((json_t *)secs, k, sec) {
		const char *name = json_string_value(json_object_get(sec, "name"));
		const json_t *cap = json_object_get(json_object_get(sec, "section"), "capacity");
		if (!name || !cap)
			continue; /* a member without the VM service yet: not a place for VMs */
		pn[nn++] = (struct placement_node){
			.name = name, .member = true,
			.memory_mib = (uint64_t)json_integer_value(json_object_get(cap, "memory_mib")),
			.vcpus = (unsigned)json_integer_value(json_object_get(cap, "vcpus")),
		};
	}
	/* owners that are not members now (left the view, kvmcd down): nodes that are not members,
	 * so placement says so (and, with the HA issue, can be told they are fenced) */
	for (size_t i = 0; i < no; i++) {
		bool known = false;
		for (size_t j = 0; j < nn && !known; j++)
			known = !strcmp(pn[j].name, po[i].node);
		if (!known)
			pn[nn++] = (struct placement_node){ .name = po[i].node, .member = false };
	}
	struct placement_input in = { .vms = pv, .n_vms = n, .nodes = pn, .n_nodes = nn, .owners = po, .n_owners = no };
	r = placement_place(&in, &res);
	if (r < 0) {
		klog(service_log(d->ctx), LOG_ERR, "VM placement failed: %s", strerror(-r));
		return;
	}
	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *dec = &res->decisions[i];
		const char *owner = dec->owner, *action = placement_action_name(dec->action), *reason = dec->reason;
		char key[VM_NAME_MAX + 8];
		json_t *want;

		/* a stop is done once its owner reports the domain down: the owner is cleared */
		if (dec->action == PLACEMENT_STOP && owner && !reported_running(d, owner, dec->vm) &&
		    reported_state(d, owner, dec->vm)) {
			owner = NULL;
			action = "keep";
			reason = NULL;
		}
		snprintf(key, sizeof(key), "vm/%s", dec->vm);
		/* a leader patch replaces each record it names whole (nulls included) */
		want = json_pack("{s:s?,s:s,s:s?}", "owner", owner, "action", action, "reason", reason);
		rec = json_object_get(records, key);
		if (want && (!rec || !json_equal(rec, want)))
			json_object_set(patch, key, want);
		json_decref(want);
	}
	placement_result_free(res);
	/* records of VMs that left the spec: dropped once no member runs them */
	json_object_foreach((json_t *)records, k, rec) {
		bool in_spec = false, running = false;
		const json_t *s2;
		const char *k2;

		if (strncmp(k, "vm/", 3) != 0)
			continue;
		for (size_t i = 0; i < n && !in_spec; i++)
			in_spec = !strcmp(specs[i].name, k + 3);
		json_object_foreach((json_t *)secs, k2, s2)
			running |= reported_running(d, json_string_value(json_object_get(s2, "name")), k + 3);
		if (!in_spec && !running)
			json_object_set_new(patch, k, json_null());
	}
	if (json_object_size(patch)) {
		_cleanup_free_ char *error = NULL;
		uint64_t version;
		_cleanup_free_ char *text = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
		klog(service_log(d->ctx), LOG_DEBUG, "VM placement: recording %s", text ? text : "?");
		r = service_leader_patch(d->ctx, epoch, patch, &version, &error);
		if (r < 0 && r != -ESTALE)
			klog(service_log(d->ctx), LOG_WARNING, "Cannot record the VMs' placement: %s", error ? error : strerror(-r));
	}
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void step(struct vms *d)
{
	if (service_is_acting(d->ctx))
		leader_place(d);
	refresh(d);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	step(userdata);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vms *d = userdata;

	step(d);
	sd_event_source_set_time(s, now_usec(d) + TICK_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	kick(state);
}

static void svc_sections(void *state)
{
	struct vms *d = state;

	if (service_is_acting(d->ctx))
		kick(d);
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	if (acting)
		kick(state);
}

/* ---- local API ------------------------------------------------------------------------------- */

/* The `kvmcctl vm list` view of one VM. */
static json_t *vm_view(struct vms *d, const struct vm_spec *s, bool detail)
{
	char key[VM_NAME_MAX + 8];
	const json_t *rec;
	const char *owner, *action, *reason, *state;
	const char *on_owner;

	snprintf(key, sizeof(key), "vm/%s", s->name);
	rec = json_object_get(service_records(d->ctx), key);
	owner = json_string_value(json_object_get(rec, "owner"));
	action = json_string_value(json_object_get(rec, "action"));
	reason = json_string_value(json_object_get(rec, "reason"));
	on_owner = owner ? reported_state(d, owner, s->name) : NULL;
	if (owner && on_owner && !strcmp(on_owner, "running"))
		state = "running";
	else if (owner && on_owner && !strcmp(on_owner, "paused"))
		state = "paused";
	else if (owner && json_string_value(json_object_get(json_object_get(json_object_get(section_of(d, owner), "vms"), s->name), "error")))
		state = "error";
	else if (!owner && s->state == VM_STATE_STOPPED)
		state = "stopped";
	else if (action && !strcmp(action, "stop"))
		state = "stopped";
	else
		state = "waiting";
	json_t *v = json_pack("{s:s,s:s,s:o,s:s?}", "name", s->name, "state", state, "node",
			      owner ? json_string(owner) : json_null(), "reason", reason);
	if (!reason && owner && !strcmp(state, "waiting")) {
		const char *err = NULL;
		char buf[256];
		snprintf(buf, sizeof(buf), "starting on %s", owner);
		err = buf;
		json_object_set_new(v, "reason", json_string(err));
	} else if (!strcmp(state, "error")) {
		json_object_set_new(v, "reason", json_string(json_string_value(json_object_get(
			json_object_get(json_object_get(section_of(d, owner), "vms"), s->name), "error"))));
	}
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
	}
	return v;
}

static json_t *cmd_list(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	_cleanup_free_ struct vm_spec *specs = NULL;
	json_t *out = json_array();
	size_t n = 0;

	if (vm_spec_list(service_spec(d->ctx), &specs, &n) < 0 || !out) {
		json_decref(out);
		return api_error(EINVAL, "the spec in force has no valid \"vms\"");
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, vm_view(d, &specs[i], false));
	return json_pack("{sbso}", "ok", 1, "vms", out);
}

static json_t *cmd_show(void *state, uint64_t conn_id, json_t *req)
{
	struct vms *d = state;
	_cleanup_free_ struct vm_spec *specs = NULL;
	const char *name = json_string_value(json_object_get(req, "name"));
	size_t n = 0;

	if (!name)
		return api_error(EINVAL, "vm-show needs \"name\"");
	if (vm_spec_list(service_spec(d->ctx), &specs, &n) < 0)
		return api_error(EINVAL, "the spec in force has no valid \"vms\"");
	for (size_t i = 0; i < n; i++)
		if (!strcmp(specs[i].name, name))
			return json_pack("{sbso}", "ok", 1, "vm", vm_view(d, &specs[i], true));
	return api_error(ENOENT, "no VM '%s' in the spec", name);
}

static const struct service_command commands[] = {
	{ "vm-list", cmd_list },
	{ "vm-show", cmd_show },
	{ NULL },
};

static json_t *svc_status(void *state)
{
	struct vms *d = state;
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0, running = 0;

	(void)vm_spec_list(service_spec(d->ctx), &specs, &n);
	for (size_t i = 0; i < n; i++)
		running += runs_here(d, specs[i].name);
	return json_pack("{sIsIsO?}", "vms", (json_int_t)n, "running_here", (json_int_t)running, "libvirt", d->libvirt);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void svc_free(void *state)
{
	struct vms *d = state;

	if (!d)
		return;
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->kick);
	worker_pool_free(d->workers); /* cancels what is queued: no callback after this */
	while (d->list) {
		struct vm_local *l = d->list;
		d->list = l->next;
		free(l->name);
		free(l->error);
		free(l);
	}
	json_decref(d->libvirt);
	json_decref(d->published);
	free(d->libvirt_uri);
	free(d);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct vms *d;
	int r;

	*state = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	d->dom = &host_domain_libvirt_ops;
	r = worker_pool_new(service_event(ctx), 2, &d->workers);
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
	*state = d;
	return 0;
}

const struct service_ops vms_service = {
	.name = "vms",
	.init = svc_init,
	.free = svc_free,
	.leading = svc_leading,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};
