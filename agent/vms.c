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
#include "pool.h"
#include "vm.h"
#include "vms-internal.h"
#include "vms.h"
#include "worker.h"

#define TICK_USEC (2 * USEC_PER_SEC)          /* libvirt is listed again at least this often */
#define RETRY_MIN_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define STEP_TIMEOUT_USEC (180 * USEC_PER_SEC)  /* a stop's grace + libvirt's own time */
#define STOP_GRACE_SEC 60u                     /* ACPI shutdown, then destroy */
#define HOST_MEMORY_RESERVE_MIB 1024u          /* the host's own, never given to VMs */
#define VCPU_OVERCOMMIT 4u                     /* vCPUs given to VMs per online CPU */
#define MIGRATION_THREADS 4u                   /* migrations this node can drive at once */
#define PATCH_WAIT_USEC (10 * USEC_PER_SEC)    /* the leader's last patch, before it goes on anyway */

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

/* <memory unit='…'>N</memory> in MiB (libvirt's units; KiB by default) and <vcpu>N</vcpu>. */
void vms_needs(const char *xml, uint64_t *mib, unsigned *vcpus)
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

static const json_t *reported(struct vms *d, const char *node, const char *vm)
{
	return json_object_get(json_object_get(vms_section_of(d, node), "vms"), vm);
}

const char *vms_reported_state(struct vms *d, const char *node, const char *vm)
{
	return json_string_value(json_object_get(reported(d, node, vm), "state"));
}

bool vms_reported_running(struct vms *d, const char *node, const char *vm)
{
	const char *s = vms_reported_state(d, node, vm);

	return s && (!strcmp(s, "running") || !strcmp(s, "paused"));
}

/* A state a node reports from a listing (not "unknown": its libvirtd not listed yet). */
static bool state_known(const char *s)
{
	return s && strcmp(s, "unknown") != 0;
}

struct placement_limits vms_limits(const struct kvmcd_config *cfg)
{
	return (struct placement_limits){ .per_node = cfg->vms.migrations_per_node,
					  .per_cluster = cfg->vms.migrations_per_cluster,
					  .balance_gap = cfg->vms.balance_gap };
}

void vms_pinput_clear(struct pinput *p)
{
	free(p->specs);
	free(p->pv);
	free(p->pn);
	free(p->po);
	*p = (struct pinput){ 0 };
}

static bool pinput_has_node(const struct pinput *p, const char *name)
{
	for (size_t j = 0; j < p->nn; j++)
		if (!strcmp(p->pn[j].name, name))
			return true;
	return false;
}

int vms_pinput_build(struct vms *d, struct pinput *p)
{
	const json_t *records = service_records(d->ctx), *secs = service_node_sections(d->ctx), *sec, *rec;
	const char *k;
	size_t max_nodes;
	int r;

	*p = (struct pinput){ 0 };
	r = vm_spec_list(service_spec(d->ctx), &p->specs, &p->n);
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
		vms_needs(s->domain_xml, &p->pv[i].memory_mib, &p->pv[i].vcpus);
		rec = vms_vm_record(d, s->name);
		owner = json_string_value(json_object_get(rec, "owner"));
		if (owner)
			p->po[p->no++] = (struct placement_owner){
				.vm = s->name, .node = owner, .running = vms_reported_running(d, owner, s->name),
				.migrating_to = json_string_value(json_object_get(rec, "migrating_to")),
			};
	}
	json_object_foreach((json_t *)secs, k, sec) {
		const char *name = json_string_value(json_object_get(sec, "name"));
		const json_t *cap = json_object_get(json_object_get(sec, "section"), "capacity");
		if (!name || !cap || pinput_has_node(p, name))
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
		if (!pinput_has_node(p, p->po[i].node))
			p->pn[p->nn++] = (struct placement_node){ .name = p->po[i].node, .drained = vms_node_drained(d, p->po[i].node) };
		if (p->po[i].migrating_to && !pinput_has_node(p, p->po[i].migrating_to))
			p->pn[p->nn++] = (struct placement_node){ .name = p->po[i].migrating_to,
								  .drained = vms_node_drained(d, p->po[i].migrating_to) };
	}
	json_object_foreach((json_t *)records, k, rec)
		if (!strncmp(k, "drain/", 6) && !pinput_has_node(p, k + 6) && p->nn < max_nodes)
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

void vms_publish(struct vms *d)
{
	_cleanup_free_ char *error = NULL;
	json_auto_t *part = json_object();
	json_t *vms = json_object(), *reqs;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE), cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mib = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 1048576u : 0;
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0;
	int r;

	if (!part || !vms) {
		json_decref(vms);
		return;
	}
	(void)vm_spec_list(service_spec(d->ctx), &specs, &n);
	for (size_t i = 0; i < n; i++) {
		struct vm_local *l = local_get(d, specs[i].name, false);
		const char *st = libvirt_state(d, specs[i].name);
		json_t *v = json_pack("{s:s,s:s?}", "state", !d->libvirt ? "unknown" : st ? st : "undefined", "error",
				      l ? l->error : NULL);
		if (v && l && l->mig_id)
			json_object_set_new(v, "migration", migration_report(d, l));
		json_object_set_new(vms, specs[i].name, v);
	}
	json_object_set_new(part, "vms", vms);
	json_object_set_new(part, "capacity",
			    json_pack("{sIsI}", "memory_mib",
				      (json_int_t)(mib > HOST_MEMORY_RESERVE_MIB ? mib - HOST_MEMORY_RESERVE_MIB : 0), "vcpus",
				      (json_int_t)((cpus > 0 ? (unsigned)cpus : 1u) * VCPU_OVERCOMMIT)));
	reqs = vms_requests_json(d);
	if (reqs && json_object_size(reqs))
		json_object_set_new(part, "vm_requests", reqs);
	else
		json_decref(reqs);
	if (d->answers && json_object_size(d->answers) && service_is_acting(d->ctx))
		json_object_set(part, "vm_answers", d->answers);
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
		l->retry_at = vms_now(d) + (backoff < RETRY_MAX_USEC ? backoff : RETRY_MAX_USEC);
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
	d->list_again = true;
	vms_publish(d);
	vms_kick(d);
}

static void on_migrated(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;

	if (r < 0)
		klog(service_log(l->d->ctx), LOG_WARNING, "VM '%s': migration %s to %s failed: %s", l->name,
		     l->mig_id ? l->mig_id : "?", l->mig_to ? l->mig_to : "?", detail && *detail ? detail : strerror(-r));
	else
		klog(service_log(l->d->ctx), LOG_NOTICE, "VM '%s': migrated to %s (migration %s): %s", l->name,
		     l->mig_to ? l->mig_to : "?", l->mig_id ? l->mig_id : "?", detail ? detail : "");
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
			klog(service_log(d->ctx), LOG_NOTICE, "VM '%s': the leader abandons migration %s to %s (%s): aborting it",
			     vm->name, id, to, abort);
			if ((l->abort_id = strdup(id)) && d->dom->abort_job(&d->host, vm->name, on_aborted, l) < 0) {
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
	if (abort) { /* abandoned before it started: it keeps running here */
		_cleanup_free_ char *why = NULL;
		if (asprintf(&why, "abandoned before it started: %s", abort) < 0)
			why = NULL;
		migration_ended(l, -ECANCELED, why ? why : abort);
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
	klog(service_log(d->ctx), LOG_NOTICE, "VM '%s': live migration %s to %s (%s) starts: %s", vm->name, id, to,
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
	bool mine, running = runs_here(d, vm->name);
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

/* The migrations the records ask this node to drive, started as soon as they are committed
 * (not after the next listing: the job probes the domain itself). */
static void node_migrations(struct vms *d)
{
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0;

	if (!d->libvirt || !service_may_act(d->ctx) || vm_spec_list(service_spec(d->ctx), &specs, &n) < 0)
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

static void node_reconcile(struct vms *d)
{
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0;

	if (!d->libvirt)
		return;
	/* only a synced, quorate view acts: an inquorate node starts nothing and stops nothing
	 * (stopping what it may still own is the HA issue's self-fence, not this) */
	if (service_may_act(d->ctx) && vm_spec_list(service_spec(d->ctx), &specs, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			node_act(d, &specs[i]);
		node_forget(d, specs, n);
	}
	vms_publish(d);
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
		klog(service_log(ps->d->ctx), LOG_NOTICE, "VM '%s': migration %s from %s to %s done: %s owns it now", vm,
		     json_string_value(json_object_get(mig, "id")) ?: "?", from ?: "?", to ?: "?", to ?: "?");
	} else {
		json_object_set_new(last, "error", json_string(error ? error : "failed"));
		snprintf(reason, sizeof(reason), "its last migration, to %s at %s, failed: %s", to ?: "?", at, error ? error : "failed");
		want = json_pack("{s:s?,s:s,s:s,s:o}", "owner", from, "action", "keep", "reason", reason, "last_migration", last);
		klog(service_log(ps->d->ctx), LOG_WARNING, "VM '%s': migration %s from %s to %s failed, it stays with %s: %s", vm,
		     json_string_value(json_object_get(mig, "id")) ?: "?", from ?: "?", to ?: "?", from ?: "?", error ? error : "?");
	}
	if (want) {
		set_want_vm(ps, vm, want);
		json_object_set_new(ps->touched, vm, json_true());
	}
}

/*
 * Migrations in flight: their end is decided from what the nodes report, never guessed.
 *   - the source reports it done and the target reports the domain running: handed over
 *     (owner = target; a target that lists its libvirtd slowly only delays the hand-over);
 *   - the source reports it failed and runs the VM: dropped (the VM stays with the source);
 *   - the source runs it no more and no job of it runs there: if the target runs it, handed
 *     over (the source's report was lost, e.g. its kvmcd restarted); if the target reports it
 *     does not run it either, dropped (the VM died on the way; placement restarts it on its
 *     owner); otherwise it waits;
 *   - placement abandons it (the target left, was drained, is avoided; the VM was stopped in the
 *     spec): the record keeps the migration and asks the source to abort; it ends as above.
 */
static void migrations_settle(struct pass *ps, const struct placement_result *res)
{
	struct vms *d = ps->d;

	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *dec = &res->decisions[i];
		const json_t *rec = vms_vm_record(d, dec->vm), *mig = json_object_get(rec, "migration"), *rep;
		const char *from = json_string_value(json_object_get(rec, "owner"));
		const char *to = json_string_value(json_object_get(rec, "migrating_to"));
		const char *id = json_string_value(json_object_get(mig, "id"));
		const char *rep_state, *from_state, *to_state;
		json_t *want = want_vm(ps, dec->vm);

		if (!from || !to || !want || !json_object_get(want, "migrating_to"))
			continue; /* none in flight, or placement settled it (a fenced source) */
		rep = json_object_get(reported(d, from, dec->vm), "migration");
		if (!id || strcmp(json_string_value(json_object_get(rep, "id")) ?: "", id))
			rep = NULL;
		rep_state = json_string_value(json_object_get(rep, "state"));
		from_state = vms_reported_state(d, from, dec->vm);
		to_state = vms_reported_state(d, to, dec->vm);
		if (rep_state && !strcmp(rep_state, "done")) {
			if (vms_reported_running(d, to, dec->vm))
				migration_end(ps, dec->vm, rec, true, json_object_get(rep, "result"), NULL);
		} else if (rep_state && !strcmp(rep_state, "failed") && vms_reported_running(d, from, dec->vm)) {
			migration_end(ps, dec->vm, rec, false, NULL, json_string_value(json_object_get(rep, "error")));
		} else if (state_known(from_state) && !vms_reported_running(d, from, dec->vm) &&
			   !(rep_state && !strcmp(rep_state, "running"))) {
			if (vms_reported_running(d, to, dec->vm)) {
				migration_end(ps, dec->vm, rec, true, NULL, NULL);
			} else if (state_known(to_state)) {
				char why[512];
				snprintf(why, sizeof(why), "%s runs neither on %s (%s) nor on %s (%s)", dec->vm, from, from_state, to,
					 to_state);
				migration_end(ps, dec->vm, rec, false, NULL, why);
			}
		} else if (!dec->migrating_to && !json_string_value(json_object_get(mig, "abort"))) {
			/* placement abandons it (record_of_decision kept it): the source aborts it */
			json_t *m = json_object_get(want, "migration");
			if (json_is_object(m)) {
				json_object_set_new(m, "abort", json_string(dec->reason ? dec->reason : "abandoned"));
				klog(service_log(d->ctx), LOG_NOTICE, "VM '%s': migration %s to %s abandoned (%s): the source aborts it",
				     dec->vm, id ? id : "?", to, dec->reason ? dec->reason : "?");
			}
		}
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
	klog(service_log(ps->d->ctx), LOG_NOTICE, "VM '%s': live migration %s from %s to %s recorded (%s)", vm, id, from, to,
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
	if (!pinput_has_node(&ps->p, name)) {
		char why[256];
		snprintf(why, sizeof(why), "no node %s in the cluster (kvmcd runs on no member of that name)", name);
		answer(ps, key, refusal(-ENOENT, why));
		return;
	}
	if (vms_node_drained(d, name) == drain) {
		answer(ps, key, json_pack("{s:b,s:s}", "ok", 1, "message", drain ? "drained" : "undrained"));
		return;
	}
	snprintf(rkey, sizeof(rkey), "drain/%s", name);
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
		snprintf(id, sizeof(id), "%s/e%" PRIu64 ".%" PRIu64, vms_me(d), service_acting_epoch(d->ctx), ++d->mig_seq);
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

static void leader_pass(struct vms *d)
{
	struct pass ps = { .d = d };
	struct placement_result *res = NULL;
	const json_t *records = service_records(d->ctx), *secs = service_node_sections(d->ctx), *rec;
	json_auto_t *patch = json_object();
	uint64_t epoch = service_acting_epoch(d->ctx);
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
	ps.want = json_object();
	ps.touched = json_object();
	if (!ps.want || !ps.touched)
		goto out;
	r = placement_place(&ps.p.in, &res);
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
		    !vms_reported_running(d, dec->owner, dec->vm) && vms_reported_state(d, dec->owner, dec->vm)) {
			struct placement_decision done = { .vm = dec->vm, .action = PLACEMENT_KEEP };
			want = record_of_decision(&done, rec, &abandon);
		} else {
			want = record_of_decision(dec, rec, &abandon);
		}
		if (want)
			set_want_vm(&ps, dec->vm, want);
	}
	migrations_settle(&ps, res);
	serve_requests(&ps);
	plans(&ps);
	/* records of VMs that left the spec: dropped once no member runs them */
	json_object_foreach((json_t *)records, k, rec) {
		bool in_spec = false, running = false;
		const json_t *s2;
		const char *k2;

		if (strncmp(k, "vm/", 3) != 0)
			continue;
		for (size_t i = 0; i < ps.p.n && !in_spec; i++)
			in_spec = !strcmp(ps.p.specs[i].name, k + 3);
		json_object_foreach((json_t *)secs, k2, s2)
			running |= vms_reported_running(d, json_string_value(json_object_get(s2, "name")), k + 3);
		if (!in_spec && !running)
			json_object_set_new(ps.want, k, json_null());
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
	placement_result_free(res);
	json_decref(ps.want);
	json_decref(ps.touched);
	for (size_t i = 0; i < ps.n_strings; i++)
		free(ps.strings[i]);
	free(ps.strings);
	vms_pinput_clear(&ps.p);
	if (ps.answers_changed)
		vms_publish(d);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void step(struct vms *d)
{
	if (service_is_acting(d->ctx))
		leader_pass(d);
	vms_requests_check(d);
	node_migrations(d);
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
	sd_event_source_set_time(s, vms_now(d) + TICK_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
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
	if (service_is_acting(d->ctx) || receiving(d))
		vms_kick(d);
	else if (d->requests)
		vms_requests_check(d);
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	struct vms *d = state;

	d->patch_version = 0;
	if (!acting) { /* answers are the acting leader's: a next leader gives its own */
		json_decref(d->answers);
		d->answers = NULL;
		vms_publish(d);
	}
	vms_kick(d);
}

static json_t *svc_status(void *state)
{
	struct vms *d = state;
	_cleanup_free_ struct vm_spec *specs = NULL;
	size_t n = 0, running = 0, migrating = 0;

	(void)vm_spec_list(service_spec(d->ctx), &specs, &n);
	for (size_t i = 0; i < n; i++)
		running += runs_here(d, specs[i].name);
	for (struct vm_local *l = d->list; l; l = l->next)
		migrating += l->mig_id && l->mig_state == MIG_RUNNING;
	return json_pack("{sIsIsIsO?}", "vms", (json_int_t)n, "running_here", (json_int_t)running, "migrating_from_here",
			 (json_int_t)migrating, "libvirt", d->libvirt);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void svc_free(void *state)
{
	struct vms *d = state;

	if (!d)
		return;
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->kick);
	worker_pool_free(d->mig_workers); /* cancels what is queued: no callback after this */
	worker_pool_free(d->workers);
	host_ctx_cancel(&d->mig_host);     /* the domain ops those pools will never report */
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
	json_decref(d->libvirt);
	json_decref(d->published);
	json_decref(d->answers);
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
	.commands = vms_commands,
	.status = svc_status,
};
