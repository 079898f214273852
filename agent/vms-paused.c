/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM service's paused-guest policy (issue 8): what kvmcd does with a guest QEMU paused
 * because its storage failed, once the storage is back. [vms] paused_policy (vms-options.h):
 *
 *   auto-resume (default)  resumed (virDomainResume: QEMU retries the failed requests), logged;
 *   leave-paused           stays paused; `vm list` / `vm show` say that its storage is back and
 *                          how to resume it: `kvmcctl vm resume NAME`;
 *   kill                   destroyed. The owner then finds a domain it owns that does not run,
 *                          which is what a guest that stopped by itself (crashed, powered off
 *                          from inside) looks like: the VM service starts it again, on the same
 *                          node (node_act: record owner = this node, spec "started" -> start),
 *                          at once. The HA issue will count these restarts (ha.max_restart);
 *                          today every one is made.
 *
 * WHICH GUESTS: a domain of the spec that libvirt lists "paused" with the reason "ioerror"
 * (QEMU's error_policy / rerror_policy = stop), on the node the record names its owner, not
 * migrating, "started" in the spec and not to be stopped. A guest paused for any other reason
 * (a user's `virsh suspend`: "user"; a migration's: "migration"; a save, a snapshot...) is never
 * touched by the policy: the section says why it is paused and `vm list` shows it. A paused
 * guest the record takes from this node, or that the spec stops, is node_act's: its stop
 * destroys it at once (an ACPI shutdown needs a running guest). While the planned-shutdown
 * policy runs (vms-shutdown.c) nothing is resumed or killed here. A live migration of a guest
 * paused on an I/O error (a drain, `vm migrate`) is tried as for any guest: libvirt migrates a
 * paused domain, but QEMU must flush its disks first, so while the storage fails the migration
 * fails and the guest stays paused here with why in its verdict (not tested yet; a guest that
 * did migrate arrives paused with the target's own reason, which the policy leaves alone).
 *
 * "THE PATHS ARE BACK" means, on this node, both:
 *   1. every datastore the VM uses (coord/spec/vm.h: vm_spec.datastores) is healthy as this
 *      node's datastore service reports it in the node's section ("datastores"."<name>": no
 *      error, attached, its pool active): the attach / mount / pool walk that re-probes ready
 *      datastores every 30 s (datastores.c) sees the paths; and
 *   2. a probe of each of the VM's disk files (open, then pread of the first 4 KiB with O_DIRECT
 *      where the file system takes it, so no page cache answers for the storage) succeeds, on
 *      this service's own worker thread with a deadline (PROBE_TIMEOUT_USEC: a hung path is a
 *      failing one; the stuck thread is abandoned, not waited for). Probed every PROBE_MIN_USEC
 *      .. PROBE_MAX_USEC (backing off) while a guest waits.
 * A datastore whose own probes do not see the failure (the multi-node tier's simulated backend
 * knows nothing of the FUSE file system that fails the guest's disk) leaves 2. to decide.
 *
 * `kvmcctl vm resume NAME [--force]` (verb "vm-resume", vms-api.c) goes to the owner as a
 * request in the asking node's section ({"op": "resume", "vm", "owner", "force"} under
 * "vm_requests": the leader leaves these to the owner). The owner answers in its own section
 * ("vm_resume_answers": {"<node>/<id>": reply}): refused when the VM is not paused there, is
 * paused by a migration, or (without --force) its paths still fail (the probe's words); else
 * resumed. Any paused guest (a user's too) can be resumed this way.
 *
 * The section's entry of a paused VM carries "pause_reason" (libvirt's) and "paused" (what kvmcd
 * does about it, for `vm list`'s reason).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "datastore.h"
#include "macros.h"
#include "vms-internal.h"
#include "worker.h"

#define PROBE_TIMEOUT_USEC (10 * USEC_PER_SEC) /* a disk read that takes longer: the path fails */
#define PROBE_MIN_USEC (2 * USEC_PER_SEC)      /* a waiting guest's disks probed again */
#define PROBE_MAX_USEC (10 * USEC_PER_SEC)
#define PROBE_BYTES 4096u
#define NOTE_MAX 1024u

static const char *const policy_names[] = { "auto-resume", "leave-paused", "kill" };

/* One guest paused here (any reason), while it is. */
struct paused_vm {
	char *name;                  /* owned */
	char *reason;                /* owned: libvirt's pause reason */
	char *note;                  /* owned: what kvmcd does about it (section "paused") */
	bool probing;                /* a disk probe in flight */
	uint64_t probe_at;           /* CLOCK_MONOTONIC: the next probe; 0 = now */
	unsigned probe_failures;     /* consecutive, for the backoff */
	int probe_r;                 /* the last probe: 1 none yet, 0 ok, < 0 failed */
	char *probe_detail;          /* owned: why it failed */
	bool acting;                 /* a resume / destroy of the policy in flight */
	bool logged_back;            /* leave-paused: "storage back" said once */
	struct vms_paused *p;        /* borrowed back-pointer */
	struct paused_vm *next;
};

/* A `vm resume` request this node serves as the VM's owner, while its probe / resume runs. */
struct resume_req {
	char *key;                   /* owned: "<node>/<id>" */
	char *vm;                    /* owned */
	bool force;
	struct vms_paused *p;        /* borrowed back-pointer */
	struct resume_req *next;
};

struct vms_paused {
	struct vms *d;               /* borrowed */
	struct paused_vm *list;      /* owned */
	struct resume_req *pending;  /* owned */
	json_t *answers;             /* owned: {"<node>/<id>": reply}, published as "vm_resume_answers" */
	struct worker_pool *workers; /* owned: the disk probes (a hung path holds a thread) */
	sd_event_source *timer;      /* owned: the next probe due */
};

static struct vms_paused *pp_get(struct vms *d)
{
	if (!d->paused && (d->paused = calloc(1, sizeof(*d->paused))))
		d->paused->d = d;
	return d->paused;
}

static void pvm_free(struct paused_vm *v)
{
	if (!v)
		return;
	free(v->name);
	free(v->reason);
	free(v->note);
	free(v->probe_detail);
	free(v);
}

static void req_free(struct resume_req *q)
{
	if (!q)
		return;
	free(q->key);
	free(q->vm);
	free(q);
}

void vms_paused_free(struct vms *d)
{
	struct vms_paused *p = d->paused;

	if (!p)
		return;
	sd_event_source_disable_unref(p->timer);
	worker_pool_free(p->workers); /* drops what is queued; a stuck probe frees its own job */
	while (p->list) {
		struct paused_vm *v = p->list;
		p->list = v->next;
		pvm_free(v);
	}
	while (p->pending) {
		struct resume_req *q = p->pending;
		p->pending = q->next;
		req_free(q);
	}
	json_decref(p->answers);
	free(p);
	d->paused = NULL;
}

static struct paused_vm *pvm_get(struct vms_paused *p, const char *name, bool create)
{
	struct paused_vm *v;

	for (v = p->list; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	if (!create || !(v = calloc(1, sizeof(*v))) || !(v->name = strdup(name))) {
		free(v);
		return NULL;
	}
	v->probe_r = 1;
	v->p = p;
	v->next = p->list;
	p->list = v;
	return v;
}

static void pvm_drop(struct vms_paused *p, struct paused_vm *gone)
{
	for (struct paused_vm **pv = &p->list; *pv; pv = &(*pv)->next)
		if (*pv == gone) {
			*pv = gone->next;
			pvm_free(gone);
			return;
		}
}

static void set_str(char **at, const char *s)
{
	if (*at && s && !strcmp(*at, s))
		return;
	free(*at);
	*at = s ? strdup(s) : NULL;
}

/* ---- what a guest uses: its disk files and datastores --------------------------------------- */

/* The path of every file a disk of the domain reads ("file" sources; "volume" sources as the
 * pool's target path + the volume, the datastore's path being its pool's target). *out owned
 * (NULL-terminated, each string owned). Returns 0, -ENOMEM. */
static int disk_paths(const struct vm_spec *s, const struct ds_spec *dss, size_t nds, char ***out)
{
	xmlDocPtr doc = xmlReadMemory(s->domain_xml, (int)strlen(s->domain_xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char **paths = calloc(1, sizeof(char *));
	size_t n = 0;
	int r = paths ? 0 : -ENOMEM;

	for (xmlNodePtr dv = root ? root->children : NULL; dv && r == 0; dv = dv->next) {
		if (dv->type != XML_ELEMENT_NODE || xmlStrcmp(dv->name, BAD_CAST "devices"))
			continue;
		for (xmlNodePtr disk = dv->children; disk && r == 0; disk = disk->next) {
			if (disk->type != XML_ELEMENT_NODE || xmlStrcmp(disk->name, BAD_CAST "disk"))
				continue;
			for (xmlNodePtr src = disk->children; src && r == 0; src = src->next) {
				xmlChar *file, *pool, *vol;
				char *path = NULL, **grown;
				if (src->type != XML_ELEMENT_NODE || xmlStrcmp(src->name, BAD_CAST "source"))
					continue;
				file = xmlGetProp(src, BAD_CAST "file");
				pool = xmlGetProp(src, BAD_CAST "pool");
				vol = xmlGetProp(src, BAD_CAST "volume");
				if (file)
					path = strdup((const char *)file);
				else if (pool && vol)
					for (size_t k = 0; k < nds && !path; k++)
						if (!strcmp(dss[k].name, (const char *)pool) &&
						    asprintf(&path, "%s/%s", dss[k].path, (const char *)vol) < 0)
							path = NULL;
				xmlFree(file);
				xmlFree(pool);
				xmlFree(vol);
				if (!path)
					continue; /* no file of its own (an empty cdrom) */
				grown = realloc(paths, (n + 2) * sizeof(char *));
				if (!grown) {
					free(path);
					r = -ENOMEM;
					break;
				}
				paths = grown;
				paths[n++] = path;
				paths[n] = NULL;
			}
		}
	}
	xmlFreeDoc(doc);
	if (r < 0) {
		for (size_t k = 0; paths && k < n; k++)
			free(paths[k]);
		free(paths);
		return r;
	}
	*out = paths;
	return 0;
}

/* NULL when every datastore the VM uses is healthy on this node (the datastore service's own
 * report, in this node's section); else why not, in buf. */
static const char *datastores_unhealthy(struct vms *d, const struct vm_spec *s, char *buf, size_t size)
{
	const json_t *mine = json_object_get(vms_section_of(d, vms_me(d)), "datastores");

	for (size_t i = 0; i < s->datastores.n; i++) {
		const json_t *st = json_object_get(mine, s->datastores.name[i]);
		const char *err = json_string_value(json_object_get(st, "error"));
		if (!st)
			snprintf(buf, size, "datastore %s: not reported by this node's datastore service", s->datastores.name[i]);
		else if (err)
			snprintf(buf, size, "datastore %s: %s", s->datastores.name[i], err);
		else if (!json_is_true(json_object_get(st, "attached")) || !json_is_true(json_object_get(st, "pool_active")))
			snprintf(buf, size, "datastore %s: not ready on this node (%s)", s->datastores.name[i],
				 json_string_value(json_object_get(st, "step")) ?: "?");
		else
			continue;
		return buf;
	}
	return NULL;
}

/* ---- the disk probe (a worker thread) -------------------------------------------------------- */

struct probe_job {
	char **paths;                /* owned, NULL-terminated */
	char *detail;                /* owned: why it failed */
};

static void probe_job_free(void *arg)
{
	struct probe_job *j = arg;

	if (!j)
		return;
	for (size_t k = 0; j->paths && j->paths[k]; k++)
		free(j->paths[k]);
	free(j->paths);
	free(j->detail);
	free(j);
}

static int probe_one(const char *path, char **detail)
{
	_cleanup_free_ void *buf = NULL;
	ssize_t n;
	int fd, r;

	/* O_DIRECT: the storage answers, not the page cache; a file system without it (tmpfs)
	 * is read through the cache */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (asprintf(detail, "%s: open: %s", path, strerror(-r)) < 0)
			*detail = NULL;
		return r;
	}
	if (posix_memalign(&buf, PROBE_BYTES, PROBE_BYTES) != 0) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, buf, PROBE_BYTES, 0);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0 && asprintf(detail, "%s: read: %s", path, strerror(-r)) < 0)
		*detail = NULL;
	return r;
}

static int probe_run(void *arg)
{
	struct probe_job *j = arg;
	int r = 0;

	for (size_t k = 0; j->paths[k] && r == 0; k++)
		r = probe_one(j->paths[k], &j->detail);
	return r;
}

/* ---- acting on a guest ---------------------------------------------------------------------- */

static void arm_timer(struct vms_paused *p)
{
	uint64_t next = 0;

	for (struct paused_vm *v = p->list; v; v = v->next)
		if (v->probe_at && !v->probing && (!next || v->probe_at < next))
			next = v->probe_at;
	if (!p->timer || !next)
		return;
	sd_event_source_set_time(p->timer, next);
	sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct vms_paused *p = userdata;

	p->d->list_again = true; /* what the probe decides goes with a fresh listing */
	vms_kick(p->d);
	return 0;
}

static int ensure_setup(struct vms_paused *p)
{
	int r = 0;

	if (!p->workers)
		r = worker_pool_new(service_event(p->d->ctx), 1, &p->workers);
	if (r >= 0 && !p->timer) {
		r = sd_event_add_time(service_event(p->d->ctx), &p->timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_timer, p);
		if (r >= 0)
			r = sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	}
	return r < 0 ? r : 0;
}

/* Submits a probe of s's disks; done(r, job or NULL, userdata) follows. */
static int probe_submit(struct vms_paused *p, const struct vm_spec *s, worker_done_fn done, void *userdata)
{
	const struct ds_spec *dss = NULL;
	struct probe_job *j;
	size_t nds = 0;
	int r = ensure_setup(p);

	if (r < 0)
		return r;
	if (service_ds_specs(p->d->ctx, &dss, &nds) < 0)
		nds = 0;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	r = disk_paths(s, dss, nds, &j->paths);
	if (r == 0)
		r = worker_submit(p->workers, probe_run, j, probe_job_free, done, userdata, PROBE_TIMEOUT_USEC);
	if (r < 0)
		probe_job_free(j);
	return r;
}

static char *probe_why(int r, struct probe_job *j)
{
	char *s = NULL;

	if (j && j->detail)
		return strdup(j->detail);
	if (r == -ETIMEDOUT && !j) {
		if (asprintf(&s, "a disk read did not answer within %u s", (unsigned)(PROBE_TIMEOUT_USEC / USEC_PER_SEC)) < 0)
			s = NULL;
		return s;
	}
	return strdup(strerror(-r));
}

static void on_probed(int r, void *arg, void *userdata)
{
	struct paused_vm *v = userdata;
	struct vms_paused *p = v->p;
	uint64_t backoff;

	v->probing = false;
	v->probe_r = r;
	free(v->probe_detail);
	v->probe_detail = r < 0 ? probe_why(r, arg) : NULL;
	v->probe_failures = r < 0 ? v->probe_failures + 1 : 0;
	backoff = PROBE_MIN_USEC << (v->probe_failures < 3 ? v->probe_failures : 3);
	v->probe_at = vms_now(p->d) + (backoff < PROBE_MAX_USEC ? backoff : PROBE_MAX_USEC);
	arm_timer(p);
	p->d->list_again = true;
	vms_kick(p->d);
}

static void on_acted(void *userdata, int r, const char *detail)
{
	struct paused_vm *v = userdata;
	struct vms *d = v->p->d;
	struct vm_local *l = vms_local(d, v->name, false);
	int policy = service_config(d->ctx)->vms.paused_policy;

	v->acting = false;
	if (l) {
		l->busy = false;
		l->op_seq = d->list_seq;
	}
	if (r < 0)
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(v->name), "VM '%s': paused_policy %s failed: %s (tried again)", v->name,
		     policy_names[policy], detail && *detail ? detail : strerror(-r));
	else if (policy == VMS_PAUSED_KILL)
		klog(service_log(d->ctx), LOG_NOTICE,
		     "VM '%s': %s on this node (paused_policy kill); it is started again, as a guest of this node that "
		     "stopped by itself is", v->name, detail ? detail : "destroyed");
	else
		klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(v->name), "VM '%s': %s on this node (paused_policy auto-resume)", v->name,
		     detail ? detail : "resumed");
	v->probe_at = vms_now(d) + PROBE_MIN_USEC;
	d->list_again = true;
	vms_kick(d);
}

/* Whether this node is the one to act on s (its owner, no migration, to keep running). */
static bool ours_to_keep(struct vms *d, const struct vm_spec *s)
{
	const json_t *rec = vms_vm_record(d, s->name);
	const char *owner = json_string_value(json_object_get(rec, "owner"));
	const char *action = json_string_value(json_object_get(rec, "action"));

	return owner && !strcmp(owner, vms_me(d)) && !json_object_get(rec, "migrating_to") &&
	       s->state == VM_STATE_STARTED && !(action && !strcmp(action, "stop"));
}

static void one_vm(struct vms_paused *p, const struct vm_spec *s)
{
	struct vms *d = p->d;
	const json_t *dom = json_object_get(d->libvirt, s->name);
	const char *state = json_string_value(json_object_get(dom, "state"));
	const char *reason = json_string_value(json_object_get(dom, "reason")) ?: "unknown";
	int policy = service_config(d->ctx)->vms.paused_policy;
	struct paused_vm *v = pvm_get(p, s->name, false);
	struct vm_local *l;
	char note[NOTE_MAX], why[512];
	const char *bad;
	int r;

	if (!state || strcmp(state, "paused")) {
		if (v && !v->acting && !v->probing) {
			if (v->reason && !strcmp(v->reason, "ioerror") && state && !strcmp(state, "running"))
				klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(s->name), "VM '%s' runs again (it was paused on an I/O error)", s->name);
			pvm_drop(p, v);
		}
		return;
	}
	if (!v && !(v = pvm_get(p, s->name, true)))
		return;
	if (!v->reason || strcmp(v->reason, reason)) {
		/* (a domain being started or migrated is paused for a moment: not worth a line) */
		if (strcmp(reason, "starting-up") && strcmp(reason, "migration"))
			klog(service_log(d->ctx), !strcmp(reason, "ioerror") ? LOG_WARNING : LOG_NOTICE,
			     "VM '%s' is paused here (%s)%s%s", s->name, reason,
			     !strcmp(reason, "ioerror") ? ": QEMU stopped it on an I/O error of its storage; paused_policy "
							: ": kvmcd leaves it paused",
			     !strcmp(reason, "ioerror") ? policy_names[policy] : "");
		set_str(&v->reason, reason);
		v->probe_r = 1;
		v->probe_at = 0;
		v->logged_back = false;
	}
	if (strcmp(reason, "ioerror")) {
		if (!strcmp(reason, "user"))
			snprintf(note, sizeof(note), "paused by a user; kvmcd leaves it (kvmcctl vm resume %s)", s->name);
		else if (!strcmp(reason, "migration"))
			snprintf(note, sizeof(note), "paused by a migration; kvmcd leaves it to the migration");
		else
			snprintf(note, sizeof(note), "paused (%s); kvmcd leaves it", reason);
		set_str(&v->note, note);
		return;
	}
	if (!ours_to_keep(d, s)) {
		set_str(&v->note, "paused on an I/O error; not this node's to resume (the record gives it up)");
		return;
	}
	if (vms_shutdown_holds(d)) {
		set_str(&v->note, "paused on an I/O error; this node shuts down (shutdown policy)");
		return;
	}
	if (v->acting || v->probing)
		return;
	if ((bad = datastores_unhealthy(d, s, why, sizeof(why)))) {
		snprintf(note, sizeof(note), "paused on an I/O error; waiting for its storage: %s", bad);
		set_str(&v->note, note);
		v->probe_r = 1; /* probed afresh once the datastores are back */
		v->probe_at = vms_now(d) + PROBE_MIN_USEC;
		arm_timer(p); /* the datastore service's next publish kicks us too */
		return;
	}
	if (v->probe_r != 0) {
		if (v->probe_r < 0) {
			snprintf(note, sizeof(note), "paused on an I/O error; its storage still fails: %s",
				 v->probe_detail ? v->probe_detail : "?");
			set_str(&v->note, note);
		} else if (!v->note) {
			set_str(&v->note, "paused on an I/O error; probing its storage");
		}
		if (!v->probe_at || vms_now(d) >= v->probe_at) {
			v->probing = true;
			r = probe_submit(p, s, on_probed, v);
			if (r < 0) {
				v->probing = false;
				v->probe_at = vms_now(d) + PROBE_MAX_USEC;
			}
		}
		arm_timer(p);
		return;
	}
	/* its storage is back */
	if (policy == VMS_PAUSED_LEAVE) {
		snprintf(note, sizeof(note), "paused on an I/O error; its storage is back; left paused ([vms] paused_policy = "
					     "leave-paused): kvmcctl vm resume %s", s->name);
		set_str(&v->note, note);
		if (!v->logged_back)
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(s->name), "VM '%s': its storage is back; left paused (paused_policy "
			     "leave-paused): `kvmcctl vm resume %s` resumes it", s->name, s->name);
		v->logged_back = true;
		return;
	}
	l = vms_local(d, s->name, true);
	if (!l || l->busy)
		return;
	klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(s->name), "VM '%s': its storage is back (datastores healthy, disks readable): %s",
	     s->name, policy == VMS_PAUSED_KILL ? "destroying it (paused_policy kill)" : "resuming it (paused_policy auto-resume)");
	snprintf(note, sizeof(note), "paused on an I/O error; its storage is back: %s",
		 policy == VMS_PAUSED_KILL ? "being destroyed and started again (paused_policy kill)" : "being resumed");
	set_str(&v->note, note);
	l->busy = true;
	v->acting = true;
	v->probe_r = 1; /* a pause after this is a new one */
	r = policy == VMS_PAUSED_KILL ? d->dom->stop(&d->host, s->name, 0, on_acted, v)
				      : d->dom->resume(&d->host, s->name, on_acted, v);
	if (r < 0)
		on_acted(v, r, NULL);
}

/* ---- vm resume: the owner's side ----------------------------------------------------------- */

static void answer(struct vms_paused *p, const char *key, json_t *reply /* taken */)
{
	if (!p->answers)
		p->answers = json_object();
	if (p->answers && reply)
		json_object_set_new(p->answers, key, reply);
	else
		json_decref(reply);
	klog(service_log(p->d->ctx), json_is_true(json_object_get(reply, "ok")) ? LOG_NOTICE : LOG_INFO,
	     "vm resume (request %s): %s", key,
	     json_string_value(json_object_get(reply, json_is_true(json_object_get(reply, "ok")) ? "message" : "error")) ?: "");
	vms_publish(p->d);
}

static json_t *refusal(int err, const char *fmt, ...) _printf_(2, 3);
static json_t *refusal(int err, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	return json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "refused", "errno", err, "error", text ? text : "refused");
}

static void req_done(struct resume_req *q)
{
	struct vms_paused *p = q->p;

	for (struct resume_req **pq = &p->pending; *pq; pq = &(*pq)->next)
		if (*pq == q) {
			*pq = q->next;
			req_free(q);
			return;
		}
}

static void on_resumed_by_request(void *userdata, int r, const char *detail)
{
	struct resume_req *q = userdata;
	struct vms_paused *p = q->p;
	struct vms *d = p->d;
	struct vm_local *l = vms_local(d, q->vm, false);
	char msg[512];

	if (l) {
		l->busy = false;
		l->op_seq = d->list_seq;
	}
	if (r < 0) {
		answer(p, q->key, refusal(-r, "%s: cannot resume it on %s: %s", q->vm, vms_me(d), detail && *detail ? detail : strerror(-r)));
	} else {
		snprintf(msg, sizeof(msg), "%s %s on %s%s", q->vm, detail && !strcmp(detail, "running") ? "runs already" : "resumed",
			 vms_me(d), q->force ? " (--force: its storage was not checked)" : "");
		answer(p, q->key, json_pack("{s:b,s:s}", "ok", 1, "message", msg));
	}
	req_done(q);
	d->list_again = true;
	vms_kick(d);
}

static void resume_now(struct resume_req *q)
{
	struct vms *d = q->p->d;
	struct vm_local *l = vms_local(d, q->vm, true);
	int r;

	if (!l || l->busy) {
		answer(q->p, q->key, refusal(EBUSY, "%s: another operation on its domain runs on %s; try again", q->vm, vms_me(d)));
		req_done(q);
		return;
	}
	l->busy = true;
	klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(q->vm), "VM '%s': resumed at an admin's request%s", q->vm,
	     q->force ? " (--force: its storage not checked)" : " (its storage is back)");
	r = d->dom->resume(&d->host, q->vm, on_resumed_by_request, q);
	if (r < 0)
		on_resumed_by_request(q, r, NULL);
}

static void on_request_probed(int r, void *arg, void *userdata)
{
	struct resume_req *q = userdata;
	_cleanup_free_ char *why = NULL;

	if (r == 0) {
		resume_now(q);
		return;
	}
	why = probe_why(r, arg);
	answer(q->p, q->key, refusal(EIO, "%s: its storage still fails on %s (%s); nothing done. `kvmcctl vm resume %s --force` "
				     "resumes it anyway (QEMU pauses it again at its next failed I/O)",
				     q->vm, vms_me(q->p->d), why ? why : "?", q->vm));
	req_done(q);
}

/* A request for a VM this node owns: refused at once, or probed and resumed (answered later). */
static void serve_one(struct vms_paused *p, const char *key, const json_t *body, const struct vm_spec *specs, size_t n)
{
	struct vms *d = p->d;
	const char *vm = json_string_value(json_object_get(body, "vm"));
	const json_t *dom = json_object_get(d->libvirt, vm);
	const char *state = json_string_value(json_object_get(dom, "state"));
	const char *reason = json_string_value(json_object_get(dom, "reason")) ?: "unknown";
	const struct vm_spec *s = NULL;
	struct resume_req *q;
	char why[512];
	const char *bad;
	int r;

	for (size_t i = 0; i < n && !s; i++)
		if (!strcmp(specs[i].name, vm))
			s = &specs[i];
	if (!s) {
		answer(p, key, refusal(ENOENT, "no VM '%s' in the spec", vm));
		return;
	}
	if (!state || strcmp(state, "paused")) {
		answer(p, key, refusal(EINVAL, "%s is not paused on %s (%s): nothing to resume", vm, vms_me(d), state ? state : "not listed"));
		return;
	}
	if (!strcmp(reason, "migration")) {
		answer(p, key, refusal(EBUSY, "%s is paused by a migration on %s: kvmcd leaves it to the migration", vm, vms_me(d)));
		return;
	}
	if (!(q = calloc(1, sizeof(*q))) || !(q->key = strdup(key)) || !(q->vm = strdup(vm))) {
		req_free(q);
		return; /* served again at the next pass */
	}
	q->force = json_is_true(json_object_get(body, "force"));
	q->p = p;
	q->next = p->pending;
	p->pending = q;
	if (q->force) {
		resume_now(q);
		return;
	}
	if ((bad = datastores_unhealthy(d, s, why, sizeof(why)))) {
		answer(p, key, refusal(EIO, "%s: its storage is not back on %s (%s); nothing done. `kvmcctl vm resume %s --force` "
				       "resumes it anyway", vm, vms_me(d), bad, vm));
		req_done(q);
		return;
	}
	r = probe_submit(p, s, on_request_probed, q);
	if (r < 0) {
		answer(p, key, refusal(-r, "%s: cannot probe its storage on %s: %s", vm, vms_me(d), strerror(-r)));
		req_done(q);
	}
}

/* The resume requests in every member's section for VMs this node owns. */
static void serve_requests(struct vms_paused *p, const struct vm_spec *specs, size_t n)
{
	struct vms *d = p->d;
	const json_t *sec, *body;
	json_auto_t *live = json_object();
	const char *k, *id, *key;
	json_t *v;
	void *tmp;
	bool changed = false;

	if (!live)
		return;
	json_object_foreach((json_t *)service_node_sections(d->ctx), k, sec) {
		const char *node = json_string_value(json_object_get(sec, "name"));
		json_object_foreach(json_object_get(json_object_get(sec, "section"), "vm_requests"), id, body) {
			char full[CONFIG_HOST_NAME_MAX + 64];
			bool busy = false;
			if (!node || strcmp(json_string_value(json_object_get(body, "op")) ?: "", "resume") ||
			    strcmp(json_string_value(json_object_get(body, "owner")) ?: "", vms_me(d)) ||
			    !json_is_string(json_object_get(body, "vm")))
				continue;
			snprintf(full, sizeof(full), "%s/%s", node, id);
			json_object_set_new(live, full, json_true());
			for (struct resume_req *q = p->pending; q && !busy; q = q->next)
				busy = !strcmp(q->key, full);
			if (busy || json_object_get(p->answers, full))
				continue;
			serve_one(p, full, body, specs, n);
		}
	}
	/* answers whose request is gone: the asking node has its reply */
	json_object_foreach_safe(p->answers, tmp, key, v)
		if (!json_object_get(live, key)) {
			json_object_del(p->answers, key);
			changed = true;
		}
	if (changed)
		vms_publish(d);
}

/* ---- hooks ---------------------------------------------------------------------------------- */

void vms_paused_reconcile(struct vms *d, const struct vm_spec *specs, size_t n)
{
	struct vms_paused *p;

	if (!d->libvirt || !(p = pp_get(d)))
		return;
	for (size_t i = 0; i < n; i++)
		one_vm(p, &specs[i]);
	/* guests that left the spec: forgotten */
	for (struct paused_vm *v = p->list, *next; v; v = next) {
		bool in_spec = false;
		next = v->next;
		for (size_t i = 0; i < n && !in_spec; i++)
			in_spec = !strcmp(specs[i].name, v->name);
		if (!in_spec && !v->acting && !v->probing)
			pvm_drop(p, v);
	}
	serve_requests(p, specs, n);
}

void vms_paused_sections(struct vms *d)
{
	const struct vm_spec *specs = NULL;
	size_t n = 0;

	if (!d->libvirt || !service_may_act(d->ctx) || service_vm_specs(d->ctx, &specs, &n) < 0)
		return;
	if (pp_get(d))
		serve_requests(d->paused, specs, n);
}

void vms_paused_annotate(struct vms *d, const char *vm, json_t *entry)
{
	struct paused_vm *v = d->paused ? pvm_get(d->paused, vm, false) : NULL;
	const char *reason = json_string_value(json_object_get(json_object_get(d->libvirt, vm), "reason"));

	if (!entry || !reason)
		return;
	json_object_set_new(entry, "pause_reason", json_string(reason));
	if (v && v->note)
		json_object_set_new(entry, "paused", json_string(v->note));
}

void vms_paused_publish(struct vms *d, json_t *part)
{
	if (d->paused && d->paused->answers && json_object_size(d->paused->answers))
		json_object_set(part, "vm_resume_answers", d->paused->answers);
}
