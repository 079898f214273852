/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datastore service, node side (datastores.h): every node walks each datastore of the spec
 * whose leader record is ready through attach -> file system -> mount -> pool, one step at a
 * time, each step a probe-first idempotent host op (resources/host/host.h) that reports back to
 * the loop. What it reached is published in this node's section; the leader reads it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "api-server.h"
#include "datastores.h"
#include "datastore-clone.h"
#include "restore.h"
#include "datastore.h"
#include "fs-common.h"
#include "host-options.h"
#include "host.h"
#include "timing.h"
#include "inventory.h"
#include "macros.h"
#include "preflight-api.h"
#include "runner.h"
#include "sim.h"
#include "worker.h"

#define RECONCILE_PERIOD_USEC (30 * USEC_PER_SEC) /* re-probe what is done: a fence shows here */
/* A ready datastore's check due this much later is done now, with the one whose time woke the
 * loop: datastores that became ready about together keep being checked together (one wakeup,
 * not one per datastore: the idle benchmark's wakeups). */
#define RECHECK_SLACK_USEC (RECONCILE_PERIOD_USEC / 3)
#define INVENTORY_PERIOD_USEC (60 * USEC_PER_SEC) /* preflight sees an installed package within a minute */
#define RETRY_MIN_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define STEP_TIMEOUT_USEC (120 * USEC_PER_SEC)
#define FORMATTER_POLL_USEC (USEC_PER_SEC / 10) /* the formatter's section, not the device */
/* A step's result is published this much later, and at most once per PUBLISH_INTERVAL: the
 * section carries every datastore, and 50 datastores walked at once end a step every few ms --
 * each publish is a CPG message of the whole section (~20 KB for 50 datastores), encrypted and
 * ordered by corosync and parsed by every kvmcd. At one per 20 ms per node, corosync's threads
 * took the largest share of the two CPUs in bench/datastores.sh; one per 100 ms still tells the
 * formatter's peers (who look every FORMATTER_POLL) and the leader within a poll. */
/* Worker threads: libvirt pool calls (each thread keeps its connection) and the simulated
 * backend's file work and asks. 50 datastores walked at once queue ~150 jobs; with 2 threads an
 * ask waited 80-100 ms behind pool calls (bench/datastores.sh). */
#define DS_WORKER_THREADS 4
#define PUBLISH_DELAY_USEC (USEC_PER_SEC / 50)
#define PUBLISH_INTERVAL_USEC (USEC_PER_SEC / 10)
/* What the formatter's peers wait for -- its probe found the file system it made -- goes out
 * this soon after the last publish, not PUBLISH_INTERVAL: the peers of the datastore recorded
 * last waited 50-60 ms more for it, the last step of a 50-datastore apply (bench/datastores.sh). */
#define PUBLISH_URGENT_INTERVAL_USEC (USEC_PER_SEC / 50)

enum step { STEP_ATTACH, STEP_FS_PROBE, STEP_MKFS, STEP_MOUNT, STEP_GROW, STEP_POOL, STEP_DONE,
	    STEP_POOL_REMOVE, STEP_UMOUNT, STEP_DETACH, STEP_GONE };

static const char *const step_names[] = {
	[STEP_ATTACH] = "attach", [STEP_FS_PROBE] = "probe file system", [STEP_MKFS] = "mkfs",
	[STEP_MOUNT] = "mount", [STEP_GROW] = "add slots", [STEP_POOL] = "libvirt pool", [STEP_DONE] = "ready",
	[STEP_POOL_REMOVE] = "remove pool", [STEP_UMOUNT] = "unmount", [STEP_DETACH] = "detach",
	[STEP_GONE] = "detached",
};

/* One datastore on this node. */
struct ds_local {
	char *name;                  /* owned */
	enum step step;
	bool busy;                   /* a host op is in flight */
	uint64_t step_started;       /* CLOCK_MONOTONIC when that op began (its debug line) */
	bool removing;               /* not in the spec any more: going down */
	unsigned failures;           /* consecutive, for the backoff */
	uint64_t ready_at;           /* when it last reached STEP_DONE (the next check is due after) */
	bool rechecking;             /* the periodic walk of a ready datastore: no "ready" log line */
	bool fs_probed;              /* "fs" in status is a probe of the device attached now */
	size_t probed_members;       /* the members then (STEP_GROW counts on the probe's slots) */
	uint64_t retry_at;           /* CLOCK_MONOTONIC; 0 = now */
	unsigned formatter_probes;   /* device probes while waiting for the formatter (its backoff) */
	bool formatter_told_probed;  /* one of them after its section said it was done */
	bool formatted_here;         /* this node's mkfs is done; its probe after it is not yet */
	uint64_t formatter_wait;     /* since when it waits for the node that formats it (to begin
				      * or to finish); 0 = not */
	json_t *status;              /* owned: what the section says about it */
	json_t *last_spec;           /* owned: {"datastores":[its last spec entry]} (for the way down) */
	json_t *last_record;         /* owned: the leader's last record of it */
	struct datastores *d;        /* borrowed back-pointer for callbacks */
	struct ds_local *next;
};

struct datastores {
	struct service_ctx *ctx;     /* borrowed */
	const struct host_backend *backend;
	struct host_ctx host;
	struct runner *runner;       /* owned */
	struct worker_pool *workers; /* owned */
	struct worker_pool *sim_workers; /* owned: the simulated backend's (host.h), NULL otherwise */
	char *run_dir, *sim_dir;     /* owned */
	char *cluster_name;          /* owned: corosync's cluster_name (the fs lock tables) */
	struct host_options opts;    /* owned copies of the [host] strings the backend keeps using
				      * (a reload replaces the config; [host] needs a restart) */
	struct host_sim sim;         /* the simulated backend's settings (strings: opts') */
	json_t *inventory;           /* owned: last collected; NULL until then */
	bool inventory_busy;
	bool reconciled;             /* the list holds every datastore of the committed spec and
					records (published: the leader counts on this node's word
					about a removal only then) */
	uint64_t inventory_at;
	struct ds_local *list;       /* owned */
	bool may_act;
	sd_event_source *timer;      /* owned: the next reconcile */
	sd_event_source *kick;       /* owned: a reconcile from the loop, soon */
	sd_event_source *publish_timer; /* owned: publish_soon()'s */
	uint64_t last_publish;          /* CLOCK_MONOTONIC of the last publish; 0 = none yet */
};

static uint64_t now_usec(struct datastores *d)
{
	uint64_t t = 0;

	sd_event_now(service_event(d->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

static void ds_log(void *userdata, int level, const char *text)
{
	struct datastores *d = userdata;

	klog(service_log(d->ctx), level, "%s", text);
}

static void reconcile(struct datastores *d);

static int on_kick(sd_event_source *s, void *userdata)
{
	struct datastores *d = userdata;

	sd_event_source_set_enabled(d->kick, SD_EVENT_OFF);
	reconcile(d);
	return 0;
}

static void kick(struct datastores *d)
{
	if (d->kick)
		sd_event_source_set_enabled(d->kick, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	reconcile(userdata);
	return 0;
}

static void arm_timer(struct datastores *d, uint64_t at)
{
	uint64_t cur = 0;
	int enabled = SD_EVENT_OFF;

	if (!d->timer)
		return;
	sd_event_source_get_enabled(d->timer, &enabled);
	sd_event_source_get_time(d->timer, &cur);
	if (enabled != SD_EVENT_OFF && cur && cur <= at)
		return;
	sd_event_source_set_time(d->timer, at);
	sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
}

/* ---- publishing ----------------------------------------------------------------------------- */

static void publish(struct datastores *d)
{
	_cleanup_free_ char *error = NULL;
	json_t *sec = json_object(), *dss = json_object();
	int r;

	if (d->publish_timer)
		sd_event_source_set_enabled(d->publish_timer, SD_EVENT_OFF); /* this one says it all */
	if (!sec || !dss) {
		json_decref(sec);
		json_decref(dss);
		return;
	}
	if (d->inventory)
		json_object_set(sec, INVENTORY_SECTION_KEY, d->inventory);
	for (struct ds_local *l = d->list; l; l = l->next)
		if (l->step != STEP_GONE)
			json_object_set(dss, l->name, l->status);
	json_object_set_new(sec, "datastores", dss);
	/* Until then a removed datastore this node still has attached may simply be missing from
	 * "datastores" (a kvmcd just started publishes its inventory first): not a detach. */
	json_object_set_new(sec, DATASTORES_RECONCILED_KEY, json_boolean(d->reconciled));
	r = service_node_publish(d->ctx, sec, &error);
	d->last_publish = now_usec(d);
	if (r < 0 && r != -EOPNOTSUPP)
		klog(service_log(d->ctx), LOG_WARNING, "Cannot publish this node's datastore section: %s",
		     error ? error : strerror(-r));
	json_decref(sec);
}

static int on_publish(sd_event_source *s, uint64_t usec, void *userdata)
{
	publish(userdata);
	return 0;
}

/* Publishes PUBLISH_DELAY from now, or PUBLISH_INTERVAL after the last publish when that is
 * later, once for whatever changes until then. Urgent (another node waits for it): at the end of
 * this turn of the loop, or PUBLISH_URGENT_INTERVAL after the last publish when that is later. */
static void publish_soon(struct datastores *d, bool urgent)
{
	int enabled = SD_EVENT_OFF;
	uint64_t at = now_usec(d) + (urgent ? 0 : PUBLISH_DELAY_USEC), armed = 0;
	uint64_t gap = urgent ? PUBLISH_URGENT_INTERVAL_USEC : PUBLISH_INTERVAL_USEC;

	if (!d->publish_timer) {
		publish(d);
		return;
	}
	if (d->last_publish && d->last_publish + gap > at)
		at = d->last_publish + gap;
	sd_event_source_get_enabled(d->publish_timer, &enabled);
	if (enabled != SD_EVENT_OFF && sd_event_source_get_time(d->publish_timer, &armed) >= 0 && armed <= at)
		return; /* armed already, as soon or sooner */
	sd_event_source_set_time(d->publish_timer, at);
	sd_event_source_set_enabled(d->publish_timer, SD_EVENT_ONESHOT);
}

static void set_status(struct ds_local *l, const char *key, json_t *v /* taken */)
{
	json_object_set_new(l->status, key, v ? v : json_null());
}

/* ---- inventory ------------------------------------------------------------------------------- */

static void on_inventory(void *userdata, int r, const char *detail)
{
	struct datastores *d = userdata;
	json_t *inv;

	d->inventory_busy = false;
	if (r < 0) {
		klog(service_log(d->ctx), LOG_WARNING, "Cannot collect this host's inventory: %s",
		     detail ? detail : strerror(-r));
		return;
	}
	inv = json_loads(detail ? detail : "", 0, NULL);
	if (!json_is_object(inv)) {
		json_decref(inv);
		return;
	}
	if (!d->inventory || !json_equal(d->inventory, inv)) {
		json_decref(d->inventory);
		d->inventory = inv;
		publish(d);
	} else {
		json_decref(inv);
	}
}

static void collect_inventory(struct datastores *d)
{
	if (d->inventory_busy || !d->backend->inventory)
		return;
	if (d->inventory && now_usec(d) < d->inventory_at + INVENTORY_PERIOD_USEC)
		return;
	d->inventory_at = now_usec(d);
	if (d->backend->inventory->collect(&d->host, on_inventory, d) >= 0)
		d->inventory_busy = true;
}

/* ---- the walk -------------------------------------------------------------------------------- */

/* The target of a datastore from the spec entry and the leader's record (borrowed from both). */
struct target_buf {
	struct host_target t;
	const char *portals[16];
	const char *nas[16];
};

static void fill_array(const json_t *arr, const char **out, size_t max, size_t *n)
{
	const json_t *v;
	size_t i;

	*n = 0;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && *n < max)
			out[(*n)++] = json_string_value(v);
}

static void make_target(const struct ds_spec *spec, const json_t *rec, struct target_buf *b)
{
	memset(b, 0, sizeof(*b));
	b->t.datastore = spec->name;
	b->t.protocol = spec->protocol;
	b->t.spec = spec;
	b->t.mount_point = spec->path;
	b->t.lun_serial = json_string_value(json_object_get(rec, "lun_serial"));
	b->t.target_iqn = json_string_value(json_object_get(rec, "target_iqn"));
	b->t.subsystem_nqn = json_string_value(json_object_get(rec, "subsystem_nqn"));
	b->t.ns_uuid = json_string_value(json_object_get(rec, "ns_uuid"));
	b->t.export_path = json_string_value(json_object_get(rec, "export_path"));
	fill_array(json_object_get(rec, spec->protocol == DS_PROTO_NVME_TCP ? "nvme_portals" : "portals"),
		   b->portals, ARRAY_SIZE(b->portals), &b->t.n_portals);
	b->t.portals = b->portals;
	fill_array(json_object_get(rec, "nas_servers"), b->nas, ARRAY_SIZE(b->nas), &b->t.n_nas_servers);
	b->t.nas_servers = b->nas;
}

static struct ds_local *local_get(struct datastores *d, const char *name, bool create)
{
	struct ds_local *l;

	for (l = d->list; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	if (!create || !(l = calloc(1, sizeof(*l))))
		return NULL;
	l->name = strdup(name);
	l->status = json_pack("{sbsnsnsbsbsnsssn}", "attached", 0, "device", "fs", "mounted", 0, "pool_active", 0,
			      "pool_xml_sha256", "step", step_names[STEP_ATTACH], "error");
	if (!l->name || !l->status) {
		free(l->name);
		json_decref(l->status);
		free(l);
		return NULL;
	}
	l->d = d;
	l->step = STEP_ATTACH;
	l->next = d->list;
	d->list = l;
	return l;
}

/* A step ended: advance, or note the error and back off. */
static void step_done(struct ds_local *l, int r, const char *detail, enum step next)
{
	struct datastores *d = l->d;

	l->busy = false;
	klogf(service_log(d->ctx), LOG_DEBUG, KLOG_DS(l->name), "Datastore '%s': %s: %s after %" PRIu64 " ms%s%s", l->name,
	      step_names[l->step], r < 0 ? "failed" : "done", (now_usec(d) - l->step_started) / 1000, detail ? ": " : "",
	      detail ? detail : "");
	if (r < 0) {
		char buf[1024];
		uint64_t delay = RETRY_MIN_USEC << (l->failures < 5 ? l->failures : 5);

		if (delay > RETRY_MAX_USEC)
			delay = RETRY_MAX_USEC;
		l->failures++;
		snprintf(buf, sizeof(buf), "%s: %s", step_names[l->step], detail && *detail ? detail : strerror(-r));
		{
			const char *was = json_string_value(json_object_get(l->status, "error"));
			if (!was || strcmp(was, buf) != 0) /* logged once per distinct failure */
				klogf(service_log(d->ctx), LOG_WARNING, KLOG_DS(l->name), "Datastore '%s' on this node: %s; retrying in %" PRIu64 " s",
				     l->name, buf, (uint64_t)(delay / USEC_PER_SEC));
		}
		set_status(l, "error", json_string(buf));
		l->retry_at = now_usec(d) + delay;
		arm_timer(d, l->retry_at);
	} else {
		if (l->failures || !json_is_null(json_object_get(l->status, "error")))
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_DS(l->name), "Datastore '%s' on this node: %s done", l->name,
			     step_names[l->step]);
		l->failures = 0;
		l->retry_at = 0;
		set_status(l, "error", NULL);
		l->step = next;
		if (next == STEP_DONE) {
			l->formatter_probes = 0;
			l->formatter_told_probed = false;
			if (!l->rechecking)
				klogf(service_log(d->ctx), LOG_INFO, KLOG_DS(l->name), "Datastore '%s' is ready on this node", l->name);
			l->rechecking = false;
			l->ready_at = now_usec(d);
		}
		if (next == STEP_GONE)
			klogf(service_log(d->ctx), LOG_INFO, KLOG_DS(l->name), "Datastore '%s' is detached from this node", l->name);
	}
	set_status(l, "step", json_string(step_names[l->step]));
	/* this node's probe after its own mkfs: its peers wait for the file system it found */
	publish_soon(d, r >= 0 && l->formatted_here && next == STEP_MKFS);
	if (next == STEP_MKFS)
		l->formatted_here = false;
	kick(d);
}

static void on_attached(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0) {
		const char *was = json_string_value(json_object_get(l->status, "device"));

		if (!was || !detail || strcmp(was, detail) != 0)
			l->fs_probed = false; /* another device: its file system is not known */
		set_status(l, "attached", json_true());
		set_status(l, "device", json_string(detail ? detail : ""));
	}
	step_done(l, r, detail, STEP_FS_PROBE);
}

static void on_fs_probed(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0)
		set_status(l, "fs", json_string(detail ? detail : ""));
	l->fs_probed = r >= 0;
	l->probed_members = json_object_size(service_node_sections(l->d->ctx));
	/* Where it goes next is decided in the walk (it needs the record's mkfs_by). */
	step_done(l, r, detail, STEP_MKFS);
}

/* Has node BY published that its probe found the file system WANT ("<fs> label=") on datastore
 * NAME? Its probe after mkfs is what sets it: then its mkfs is over. */
static bool formatted_by(struct datastores *d, const char *by, const char *name, const char *want)
{
	const json_t *secs = service_node_sections(d->ctx), *sec;
	const char *k;

	json_object_foreach((json_t *)secs, k, sec) {
		const char *node = json_string_value(json_object_get(sec, "name"));
		const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), name);
		const char *fs = json_string_value(json_object_get(st, "fs"));
		if (node && strcmp(node, by) == 0)
			return fs && strncmp(fs, want, strlen(want)) == 0;
	}
	return false;
}

/* Is node BY (the one the leader named to format datastore NAME) formatting it right now, by its
 * own report? A formatter that is gone (no section) is not: its file system is adopted as it is,
 * and a half-made one fails to mount with the tool's own error, retried. Its step reads "mkfs"
 * also from its probe after mkfs until its mount is done: the file system that probe found
 * (WANT) says the mkfs is over. */
static bool formatter_busy(struct datastores *d, const char *by, const char *name, const char *want)
{
	const json_t *secs = service_node_sections(d->ctx), *sec;
	const char *k;

	json_object_foreach((json_t *)secs, k, sec) {
		const char *node = json_string_value(json_object_get(sec, "name"));
		const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), name);
		const char *step = json_string_value(json_object_get(st, "step"));
		if (node && strcmp(node, by) == 0)
			return step && strcmp(step, step_names[STEP_MKFS]) == 0 && !formatted_by(d, by, name, want);
	}
	return false;
}

static void on_mkfs(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	l->formatted_here = r >= 0;
	step_done(l, r, detail, STEP_FS_PROBE);
}

static void on_mounted(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0)
		set_status(l, "mounted", json_true());
	step_done(l, r, detail, STEP_GROW);
}

/* After slots were added, probe again: the adopt path checks the new count and mounts (a no-op). */
static void on_grown(void *userdata, int r, const char *detail)
{
	step_done(userdata, r, detail, STEP_FS_PROBE);
}

/*
 * Node slots (OCFS2) and journals (GFS2): every member of the cluster needs one to mount, and
 * FS_SLOT_HEADROOM more are kept so that a node that joins mounts at once. mkfs makes
 * members + headroom; when a join eats into the headroom, ONE node adds slots back (online:
 * tunefs.ocfs2 -N, gfs2_jadd on the mounted file system): the member with the lowest name among
 * those that have it mounted -- a choice every node makes alike from the replicated sections.
 */
#define FS_SLOT_HEADROOM 2u

static unsigned fs_slots_wanted(unsigned members)
{
	return members + FS_SLOT_HEADROOM;
}

/* The "slots=N" of a probe's detail, 0 when absent. */
static unsigned fs_slots_of(const char *probe)
{
	const char *p = probe ? strstr(probe, " slots=") : NULL;
	unsigned long n = p ? strtoul(p + 7, NULL, 10) : 0;

	return n > 65535 ? 0 : (unsigned)n;
}

static bool is_slot_grower(struct datastores *d, const char *name, const char *me)
{
	const json_t *secs = service_node_sections(d->ctx), *sec;
	const char *k, *best = me;

	json_object_foreach((json_t *)secs, k, sec) {
		const char *node = json_string_value(json_object_get(sec, "name"));
		const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), name);
		if (node && json_is_true(json_object_get(st, "mounted")) && strcmp(node, best) < 0)
			best = node;
	}
	return strcmp(best, me) == 0;
}

static void on_pool(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0) {
		/* "active <sha256>" / "inactive <sha256>" or just the sha256 (ensure) */
		const char *sp = detail ? strchr(detail, ' ') : NULL;
		set_status(l, "pool_active", json_boolean(!detail || strncmp(detail, "inactive", 8) != 0));
		set_status(l, "pool_xml_sha256", json_string(sp ? sp + 1 : detail ? detail : ""));
	}
	step_done(l, r, detail, STEP_DONE);
}

static void on_pool_removed(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0) {
		set_status(l, "pool_active", json_false());
		set_status(l, "pool_xml_sha256", NULL);
	}
	step_done(l, r, detail, STEP_UMOUNT);
}

static void on_umounted(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0) {
		set_status(l, "mounted", json_false());
		l->fs_probed = false;
	}
	step_done(l, r, detail, STEP_DETACH);
}

static void on_detached(void *userdata, int r, const char *detail)
{
	struct ds_local *l = userdata;

	if (r >= 0) {
		set_status(l, "attached", json_false());
		set_status(l, "device", NULL);
	}
	step_done(l, r, detail, STEP_GONE);
}

/* The pool of a datastore: the same name, UUID and target on every node. */
static void pool_spec(struct datastores *d, const struct ds_spec *spec, char uuid[37], struct host_pool_spec *p)
{
	const char *cid = "";
	uint64_t h1, h2;
	char seed[256];

	cid = service_cluster_id(d->ctx);
	snprintf(seed, sizeof(seed), "%s/%s", cid ? cid : "", spec->name);
	/* A name-based UUID (RFC 4122 layout bits set) from the cluster identity and the name. */
	h1 = 0xcbf29ce484222325ULL;
	for (const char *c = seed; *c; c++)
		h1 = (h1 ^ (uint8_t)*c) * 0x100000001b3ULL;
	h2 = h1 * 0x9e3779b97f4a7c15ULL;
	for (const char *c = seed; *c; c++)
		h2 = (h2 ^ (uint8_t)*c) * 0x100000001b3ULL;
	snprintf(uuid, 37, "%08x-%04x-5%03x-%04x-%012llx", (unsigned)(h1 >> 32), (unsigned)(h1 >> 16) & 0xffff,
		 (unsigned)h1 & 0xfff, (unsigned)((h2 >> 48) & 0x3fff) | 0x8000,
		 (unsigned long long)(h2 & 0xffffffffffffULL));
	*p = (struct host_pool_spec){ .name = spec->name, .uuid = uuid, .target_path = spec->path };
}

static void walk(struct datastores *d, struct ds_local *l, const struct ds_spec *spec, const json_t *rec);

static void on_made_distinct(void *userdata, int r, const char *detail)
{
	step_done(userdata, r, detail, STEP_FS_PROBE);
}

/*
 * While another node formats a datastore (or makes a clone distinct), this node looks at that
 * node's section every FORMATTER_POLL and probes the device itself once that section says the
 * formatter's own probe found the file system (TOLD) -- at once the first time, and as a
 * fallback for a formatter whose section does not tell (it restarted, an older kvmcd): RETRY_MIN
 * after the wait began, then twice as long after each probe, up to RETRY_MAX. Each probe reads
 * the shared device's superblock (blkid, debugfs.ocfs2 / gfs2_edit): in the full-stack tier's
 * nested guests, probing every RETRY_MIN while the formatter attached and formatted (minutes
 * there) took the CPU the formatter needed. Whether a probe is due now; counts it when it is.
 */
static bool formatter_probe_due(struct ds_local *l, uint64_t now, bool told)
{
	uint64_t after = RETRY_MIN_USEC << (l->formatter_probes < 5 ? l->formatter_probes : 5);

	if (after > RETRY_MAX_USEC)
		after = RETRY_MAX_USEC;
	if (told && !l->formatter_told_probed)
		l->formatter_told_probed = true;
	else if (now < l->formatter_wait + after)
		return false;
	l->formatter_probes++;
	return true;
}

/*
 * STEP_MKFS of a clone (datastore.h "clone"): its device holds a copy of the parent's file
 * system (the parent's label and UUID), which must never be mounted as it is (two file systems
 * with one UUID / lock table). The node that would have run mkfs (the record's mkfs_by) makes it
 * distinct once (host_fs_ops.make_distinct: new UUID, the clone's label; probe first, so a
 * repeat after a crash or a leader change is a no-op); every node mounts it only once its own
 * probe finds the clone's label. Returns 0 when a host op was started (l->busy stays set), 1
 * when decided without one (l->busy cleared; the walk goes on by itself), < 0 when it could not
 * start.
 */
static int walk_clone_fs(struct datastores *d, struct ds_local *l, const struct ds_spec *spec, const json_t *rec,
			 const char *fs, const char *by, const char *me)
{
	char want[128], any[64], fsname[HOST_GFS2_FSNAME_MAX + 1];
	const char *label = spec->fs == DS_FS_GFS2 ? host_gfs2_fsname(spec->name, fsname) : spec->name;
	const struct host_fs_ops *ops = d->backend->fs[spec->fs];

	snprintf(want, sizeof(want), "%s label=%s ", ds_fs_name(spec->fs), label);
	snprintf(any, sizeof(any), "%s label=", ds_fs_name(spec->fs));
	if (fs && strncmp(fs, want, strlen(want)) == 0) {
		/* distinct: mount it like any other */
		l->formatter_wait = 0;
		l->step = STEP_MOUNT;
		l->busy = false;
		walk(d, l, spec, rec);
		return 1;
	}
	if (!fs || strncmp(fs, any, strlen(any)) != 0) {
		l->busy = false;
		step_done(l, -EEXIST, "the clone's device holds no copy of its parent's file system; kvmcd never formats a clone",
			  STEP_FS_PROBE);
		return 1;
	}
	if (by && strcmp(by, me) == 0) {
		struct host_fs_params p = { .cluster_name = d->cluster_name, .label = spec->name, .slots = 0 };
		if (!ops || !ops->make_distinct)
			return -EOPNOTSUPP;
		klog(service_log(d->ctx), LOG_NOTICE,
		     "Datastore '%s': a clone of %s at %s: giving its file system on %s a new UUID and label on this node (the leader's choice)",
		     spec->name, spec->clone.parent, spec->clone.snapshot, json_string_value(json_object_get(l->status, "device")));
		return ops->make_distinct(&d->host, json_string_value(json_object_get(l->status, "device")), &p,
					  on_made_distinct, l);
	}
	/* Another node makes it distinct: probe again once its section shows the clone's label
	 * (formatter_probe_due()). */
	{
		uint64_t now = now_usec(d);

		l->busy = false;
		if (!l->formatter_wait)
			l->formatter_wait = now;
		if (formatter_probe_due(l, now, by && formatted_by(d, by, spec->name, want))) {
			l->formatter_wait = 0;
			l->step = STEP_FS_PROBE;
			walk(d, l, spec, rec);
			return 1;
		}
		l->retry_at = now + FORMATTER_POLL_USEC;
		set_status(l, "step", json_string("waiting for the node that makes the clone distinct"));
		arm_timer(d, l->retry_at);
		return 1;
	}
}

/* Advances one datastore by at most one step. */
static void walk(struct datastores *d, struct ds_local *l, const struct ds_spec *spec, const json_t *rec)
{
	const char *me = service_config(d->ctx)->node_name;
	struct target_buf tb;
	struct host_pool_spec ps;
	char uuid[37];
	int r = 0;

	if (l->busy)
		return;
	if (l->retry_at && now_usec(d) < l->retry_at) {
		/* Not due yet: the timer must come back for it (it may have fired for another
		 * datastore's earlier retry, and reconcile() arms it only for the period). */
		arm_timer(d, l->retry_at);
		return;
	}
	if (l->removing && l->step < STEP_POOL_REMOVE)
		l->step = STEP_POOL_REMOVE;
	if (!l->removing && l->step >= STEP_POOL_REMOVE)
		l->step = STEP_ATTACH; /* back in the spec: up again (every step is idempotent) */
	if (l->step == STEP_GONE)
		return;
	if (!spec) {
		l->step = STEP_GONE; /* nothing known of it: nothing this node can take down */
		set_status(l, "step", json_string(step_names[STEP_GONE]));
		publish(d);
		return;
	}
	if (l->step == STEP_DONE && now_usec(d) + RECHECK_SLACK_USEC < l->ready_at + RECONCILE_PERIOD_USEC) {
		/* Walk it again every RECONCILE_PERIOD (every step probes first, so this only
		 * checks): a fence or an admin's hand shows up as a failed step. Not sooner: the
		 * walk kicks the reconcile after every step. Its own time: the reconcile's period
		 * timer, armed before it was ready, would come back up to a whole period late (a
		 * check every 60 s instead of 30). */
		arm_timer(d, l->ready_at + RECONCILE_PERIOD_USEC);
		return;
	}
	make_target(spec, rec, &tb);
	l->busy = true;
	l->step_started = now_usec(d);
	switch (l->step) {
	case STEP_ATTACH: {
		const struct host_attach_ops *a = d->backend->attach[spec->protocol];
		r = a ? a->attach(&d->host, &tb.t, on_attached, l) : -EOPNOTSUPP;
		break;
	}
	case STEP_FS_PROBE:
		if (!ds_is_block(spec->protocol)) {
			/* NAS: "attached" is the mount. */
			set_status(l, "mounted", json_true());
			l->step = STEP_POOL;
			l->busy = false;
			return walk(d, l, spec, rec);
		}
		/* The periodic check of a ready datastore, on the device it probed when it mounted it:
		 * the mount step probes the mount itself, and only a node added or gone changes what
		 * this probe says (the slots STEP_GROW counts). Each probe reads the shared device's
		 * superblock with two tools (blkid, debugfs.ocfs2 / gfs2_edit) -- on every node, for
		 * every datastore, every RECONCILE_PERIOD -- for nothing. */
		if (l->rechecking && l->fs_probed && json_is_true(json_object_get(l->status, "mounted")) &&
		    l->probed_members == json_object_size(service_node_sections(d->ctx))) {
			l->step = STEP_MOUNT;
			l->busy = false;
			return walk(d, l, spec, rec);
		}
		r = d->backend->fs[spec->fs] ? d->backend->fs[spec->fs]->probe(&d->host, json_string_value(json_object_get(l->status, "device")), on_fs_probed, l)
					     : -EOPNOTSUPP;
		break;
	case STEP_MKFS: {
		const char *fs = json_string_value(json_object_get(l->status, "fs"));
		const char *by = json_string_value(json_object_get(rec, "mkfs_by"));
		char want[128];

		snprintf(want, sizeof(want), "%s label=", ds_fs_name(spec->fs));
		if (spec->clone.parent) {
			r = walk_clone_fs(d, l, spec, rec, fs, by, me);
			if (r <= 0)
				break; /* started (0), or failed to (< 0) */
			return; /* decided without a host op */
		}
		if (fs && strncmp(fs, want, strlen(want)) == 0 && by && strcmp(by, me) != 0 &&
		    formatter_busy(d, by, spec->name, want)) {
			/* mkfs writes the superblock before it is done (mount.ocfs2 then fails with
			 * "Internal logic failure"): mount only once the formatter has finished. Its
			 * section tells (looked at every FORMATTER_POLL; the device is not probed
			 * meanwhile); then probe again. */
			l->busy = false;
			if (!l->formatter_wait)
				l->formatter_wait = now_usec(d);
			l->retry_at = now_usec(d) + FORMATTER_POLL_USEC;
			set_status(l, "step", json_string("waiting for the node that formats it"));
			arm_timer(d, l->retry_at);
			return;
		}
		if (fs && strncmp(fs, want, strlen(want)) == 0 && l->formatter_wait) {
			/* The formatter finished after this node's probe saw its superblock. */
			l->formatter_wait = 0;
			l->step = STEP_FS_PROBE;
			l->busy = false;
			return walk(d, l, spec, rec);
		}
		if (fs && strncmp(fs, want, strlen(want)) == 0) {
			/* Formatted (by us or by the node the leader named): adopt it. */
			l->step = STEP_MOUNT;
			l->busy = false;
			return walk(d, l, spec, rec);
		}
		if (!fs || strcmp(fs, "empty") != 0) {
			l->busy = false;
			step_done(l, -EEXIST, "the device holds something else; kvmcd never formats a device that holds data",
				  STEP_FS_PROBE);
			return;
		}
		if (!by || strcmp(by, me) != 0) {
			/* Another node formats it: probe again once that node's section says its probe
			 * found the file system (formatter_probe_due()); until then look at its
			 * section (not the device) every FORMATTER_POLL. */
			uint64_t now = now_usec(d);

			l->busy = false;
			if (!l->formatter_wait)
				l->formatter_wait = now;
			if (formatter_probe_due(l, now, by && formatted_by(d, by, spec->name, want))) {
				l->formatter_wait = 0;
				l->step = STEP_FS_PROBE;
				return walk(d, l, spec, rec);
			}
			l->retry_at = now + FORMATTER_POLL_USEC;
			set_status(l, "step", json_string("waiting for the node that formats it"));
			arm_timer(d, l->retry_at);
			return;
		}
		{
			struct host_fs_params p = { .cluster_name = d->cluster_name, .label = spec->name, .slots = 0 };
			const json_t *nodes = json_object_get(service_spec(d->ctx), "nodes");
			unsigned n = nodes ? (unsigned)json_array_size(nodes) : 0;
			unsigned members = (unsigned)json_object_size(service_node_sections(d->ctx));
			p.slots = fs_slots_wanted(n > members ? n : members);
			klogf(service_log(d->ctx), LOG_NOTICE, KLOG_DS(spec->name), "Datastore '%s': formatting %s as %s on this node (the leader's choice)",
			     spec->name, json_string_value(json_object_get(l->status, "device")), ds_fs_name(spec->fs));
			r = d->backend->fs[spec->fs]->mkfs(&d->host, json_string_value(json_object_get(l->status, "device")), &p,
							   on_mkfs, l);
		}
		break;
	}
	case STEP_MOUNT:
		r = d->backend->fs[spec->fs]->mount(&d->host, json_string_value(json_object_get(l->status, "device")),
						    spec->path, on_mounted, l);
		break;
	case STEP_GROW: {
		const char *dev = json_string_value(json_object_get(l->status, "device"));
		unsigned have = fs_slots_of(json_string_value(json_object_get(l->status, "fs")));
		unsigned members = (unsigned)json_object_size(service_node_sections(d->ctx));

		if (!ds_is_block(spec->protocol) || !have || have >= fs_slots_wanted(members) ||
		    !d->backend->fs[spec->fs] || !is_slot_grower(d, spec->name, me)) {
			l->step = STEP_POOL;
			l->busy = false;
			return walk(d, l, spec, rec);
		}
		klogf(service_log(d->ctx), LOG_NOTICE, KLOG_DS(spec->name), "Datastore '%s': %u members, %u %s: adding up to %u on this node",
		     spec->name, members, have, spec->fs == DS_FS_GFS2 ? "journals" : "slots", fs_slots_wanted(members));
		r = d->backend->fs[spec->fs]->grow(&d->host, dev, spec->path, fs_slots_wanted(members), on_grown, l);
		break;
	}
	case STEP_POOL:
		pool_spec(d, spec, uuid, &ps);
		r = d->backend->pool ? d->backend->pool->ensure(&d->host, &ps, on_pool, l) : -EOPNOTSUPP;
		break;
	case STEP_DONE: /* due for its check (not due: returned above) */
		{
			const struct host_attach_ops *a = d->backend->attach[spec->protocol];
			l->step = STEP_ATTACH;
			l->rechecking = true;
			r = a->attach(&d->host, &tb.t, on_attached, l);
		}
		break;
	case STEP_POOL_REMOVE:
		pool_spec(d, spec, uuid, &ps);
		r = d->backend->pool ? d->backend->pool->remove(&d->host, &ps, on_pool_removed, l) : 0;
		break;
	case STEP_UMOUNT:
		if (!ds_is_block(spec->protocol)) {
			/* NAS: the mount is the attachment; detach unmounts it. */
			l->busy = false;
			l->step = STEP_DETACH;
			return walk(d, l, spec, rec);
		}
		r = d->backend->fs[spec->fs] ? d->backend->fs[spec->fs]->umount(&d->host, spec->path, on_umounted, l)
					     : -EOPNOTSUPP;
		break;
	case STEP_DETACH: {
		const struct host_attach_ops *a = d->backend->attach[spec->protocol];
		r = a ? a->detach(&d->host, &tb.t, on_detached, l) : -EOPNOTSUPP;
		break;
	}
	case STEP_GONE:
		l->busy = false;
		return;
	}
	if (r < 0) {
		l->busy = false;
		step_done(l, r, r == -EOPNOTSUPP ? "not supported by this host backend" : NULL, l->step);
	}
}

/*
 * What taking a removed datastore down needs of its spec entry, from the leader's record of it
 * ("protocol", "fs", "path"; a record older than "path" means the default path). Strings
 * borrowed from name, rec and path_buf. Returns 0, or -EINVAL when the record says too little.
 */
static int spec_of_record(const char *name, const json_t *rec, struct ds_spec *out, char *path_buf, size_t size)
{
	const char *proto = json_string_value(json_object_get(rec, "protocol"));
	const char *fs = json_string_value(json_object_get(rec, "fs"));
	const char *path = json_string_value(json_object_get(rec, "path"));
	int p = -1, f = DS_FS_NONE;

	for (int i = 0; proto && i < _DS_PROTO_MAX; i++)
		if (strcmp(ds_protocol_name(i), proto) == 0)
			p = i;
	for (int i = DS_FS_OCFS2; fs && i < _DS_FS_MAX; i++)
		if (strcmp(ds_fs_name(i), fs) == 0)
			f = i;
	if (p < 0 || (ds_is_block(p) && f == DS_FS_NONE))
		return -EINVAL;
	if (!path) {
		snprintf(path_buf, size, DS_PATH_DEFAULT_DIR "/%s", name);
		path = path_buf;
	}
	*out = (struct ds_spec){ .name = name, .protocol = p, .fs = f, .path = path };
	if (p == DS_PROTO_NFS)
		out->nfs.version = "4.1";
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether names (n of them, sorted by cmp_name) include name. */
static bool names_have(const char **names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), cmp_name);
}

/* The spec's entry (borrowed) for the i-th of service_ds_specs(), which lists them in the spec's
 * order; NULL when there is none of that name. */
static bool entry_named(const json_t *e, const char *name)
{
	const char *s = json_string_value(json_object_get(e, "name"));

	return s && strcmp(s, name) == 0;
}

static const json_t *spec_entry(const json_t *list, size_t i, const char *name)
{
	const json_t *e = json_array_get(list, i);
	size_t k;

	if (entry_named(e, name))
		return e;
	json_array_foreach(list, k, e)
		if (entry_named(e, name))
			return e;
	return NULL;
}

static void reconcile(struct datastores *d)
{
	const struct ds_spec *specs = NULL;
	const json_t *records, *spec_list;
	_cleanup_free_ const char **names = NULL;
	size_t n = 0;
	uint64_t next = now_usec(d) + RECONCILE_PERIOD_USEC;

	if (!d->may_act)
		return;
	collect_inventory(d);
	if (service_ds_specs(d->ctx, &specs, &n) < 0)
		return;
	records = service_records(d->ctx);
	spec_list = json_object_get(service_spec(d->ctx), "datastores");
	/* The spec's names, sorted: a pass asks of every record and every tracked datastore whether
	 * the spec still has it (n lookups, not n^2 comparisons: this runs after every step). */
	names = n ? calloc(n, sizeof(*names)) : NULL;
	if (n && !names) {
		arm_timer(d, next); /* out of memory: again at the next period */
		return;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = specs[i].name;
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		char key[64];
		const json_t *rec;
		struct ds_local *l;

		snprintf(key, sizeof(key), "ds/%s", specs[i].name);
		rec = json_object_get(records, key);
		if (!json_is_true(json_object_get(rec, "ready")))
			continue; /* the leader has not provisioned it yet */
		l = local_get(d, specs[i].name, true);
		if (!l)
			continue;
		/* a restore of it (restore.h): down on every node until the leader has reverted it */
		l->removing = restore_holds_down(service_spec(d->ctx), records, specs[i].name);
		if (!l->last_record || !json_equal(l->last_record, rec)) {
			json_decref(l->last_record);
			l->last_record = json_deep_copy(rec);
		}
		{
			const json_t *e = spec_entry(spec_list, i, l->name);
			/* Kept only when it changed: this runs after every step of every datastore. */
			if (e && !json_equal(json_array_get(json_object_get(l->last_spec, "datastores"), 0), e)) {
				json_decref(l->last_spec);
				l->last_spec = json_pack("{s[O]}", "datastores", e);
			}
		}
		walk(d, l, &specs[i], rec);
	}
	/* Removed datastores this node does not track (it did not see them go: its kvmcd was down
	 * or restarted since): taken down from the leader's record, once (datastores.h). Reported
	 * attached until detached, unless the leader keeps the volume already (then every node that
	 * was a member had detached it, and nothing waits for this one). */
	{
		const char *key;
		const json_t *rec;

		json_object_foreach((json_t *)records, key, rec) {
			bool in_spec = false;
			struct ds_local *l;

			if (strncmp(key, "ds/", 3) != 0 || !json_string_value(json_object_get(rec, "protocol")))
				continue;
			in_spec = names_have(names, n, key + 3);
			if (in_spec || local_get(d, key + 3, false) || !(l = local_get(d, key + 3, true)))
				continue;
			l->removing = true;
			l->step = STEP_POOL_REMOVE;
			l->last_record = json_deep_copy(rec);
			set_status(l, "attached", json_boolean(!json_is_true(json_object_get(rec, "kept"))));
			set_status(l, "step", json_string(step_names[STEP_POOL_REMOVE]));
		}
	}
	for (struct ds_local *l = d->list; l; l = l->next) {
		if (!names_have(names, n, l->name) && l->step != STEP_GONE) {
			_cleanup_free_ struct ds_spec *gone = NULL;
			struct ds_spec from_record;
			char path[sizeof(DS_PATH_DEFAULT_DIR) + DS_NAME_MAX + 1];
			size_t n_gone = 0;

			l->removing = true;
			/* The way down needs what the entry said: its last copy, or the leader's record. */
			if (l->last_spec && ds_spec_list(l->last_spec, &gone, &n_gone) >= 0 && n_gone == 1)
				walk(d, l, gone, l->last_record);
			else if (spec_of_record(l->name, l->last_record, &from_record, path, sizeof(path)) == 0)
				walk(d, l, &from_record, l->last_record);
			else
				walk(d, l, NULL, l->last_record);
		}
	}
	if (!d->reconciled) {
		d->reconciled = true;
		publish(d);
	}
	arm_timer(d, next);
}

/* ---- the local API: datastore-list --------------------------------------------------------------- */

/* Where a removed datastore stands (its leader record, the spec's destroy_data). */
static const char *removed_state(const json_t *rec, bool destroy)
{
	if (!rec)
		return "destroyed";
	if (json_is_true(json_object_get(rec, "kept")))
		return "kept";
	return destroy ? "destroying" : "removing";
}

/*
 * Appends every datastore removed from the spec that is still of interest: one the leader
 * still has a record of (being detached, its volume kept or being destroyed) and one listed in
 * destroy_data (destroyed once its record is gone):
 *   {"name","protocol","removed":true,"state":"removing"|"kept"|"destroying"|"destroyed",
 *    "destroy_data":bool,"ontap":record|null[,"nodes":{...}]}
 * with the nodes that still report it when `nodes`.
 */
static void removed_append(struct datastores *d, json_t *out, bool nodes)
{
	const json_t *spec = service_spec(d->ctx), *records = service_records(d->ctx);
	const json_t *secs = service_node_sections(d->ctx), *rec, *e, *sec;
	const char *key, *k;
	size_t i;

	json_object_foreach((json_t *)records, key, rec) {
		const char *name = key + 3;
		bool in_spec = false, destroy;
		json_t *one, *ns;

		if (strncmp(key, "ds/", 3) != 0)
			continue;
		json_array_foreach(json_object_get(spec, "datastores"), i, e)
			in_spec |= json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")), name) == 0;
		if (in_spec)
			continue;
		destroy = ds_destroy_data_has(spec, name);
		one = json_pack("{sssOsbsssbsO}", "name", name, "protocol", json_object_get(rec, "protocol") ?: json_null(),
				"removed", 1, "state", removed_state(rec, destroy), "destroy_data", destroy, "ontap", rec);
		if (one && nodes) {
			ns = json_object();
			json_object_foreach((json_t *)secs, k, sec) {
				const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), name);
				const char *node = json_string_value(json_object_get(sec, "name"));
				if (node && st)
					json_object_set_new(ns, node, json_deep_copy(st));
			}
			json_object_set_new(one, "nodes", ns ? ns : json_object());
		}
		if (one)
			json_array_append_new(out, one);
	}
	json_array_foreach(json_object_get(spec, "destroy_data"), i, e) {
		char rk[64];
		if (!json_is_string(e))
			continue;
		snprintf(rk, sizeof(rk), "ds/%s", json_string_value(e));
		if (json_object_get(records, rk))
			continue; /* listed above */
		json_array_append_new(out, json_pack("{sOsnsbsssbsnso}", "name", e, "protocol", "removed", 1, "state",
						     "destroyed", "destroy_data", 1, "ontap", "nodes", json_object()));
	}
}

/*
 * Every datastore of the spec with what the leader recorded and what each node published, then
 * the removed ones (removed_append): the view `kvmcctl datastore list|show` and `kvmcctl pool
 * verify` print. {"ok":true, "datastores":[{"name","protocol","size" (as the spec says it),
 * "size_bytes","fs","path" (defaults applied),"ontap":
 * record|null, "nodes":{"<node>":{"attached","mounted","pool_active","pool_xml_sha256","error",
 * "step"}}}, ..., {"name",...,"removed":true,"state",...}]}
 */
static json_t *cmd_list(void *state, uint64_t conn_id, json_t *req)
{
	struct datastores *d = state;
	const json_t *spec = service_spec(d->ctx), *records = service_records(d->ctx);
	const json_t *secs = service_node_sections(d->ctx), *e, *sec;
	json_t *out = json_array();
	const struct ds_spec *specs = NULL;
	size_t n_specs = 0;
	const char *k;
	size_t i;

	(void)service_ds_specs(d->ctx, &specs, &n_specs); /* a committed spec passed validation */
	json_array_foreach(json_object_get(spec, "datastores"), i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const struct ds_spec *ds = NULL;
		char rk[64];
		json_t *nodes = json_object(), *one;

		for (size_t j = 0; j < n_specs; j++)
			if (name && strcmp(specs[j].name, name) == 0)
				ds = &specs[j];

		if (!name)
			continue;
		snprintf(rk, sizeof(rk), "ds/%s", name);
		json_object_foreach((json_t *)secs, k, sec) {
			const json_t *st = json_object_get(json_object_get(json_object_get(sec, "section"), "datastores"), name);
			const char *node = json_string_value(json_object_get(sec, "name"));
			const json_t *blocked = node ? json_object_get(json_object_get(records, BLOCKED_NODES_KEY), node) : NULL;
			json_t *one_node;

			if (!node)
				continue;
			one_node = st ? json_deep_copy(st) : json_pack("{sbsbsbsnsnss}", "attached", 0, "mounted", 0,
								       "pool_active", 0, "pool_xml_sha256", "error", "step", "not started");
			/* A cloned host: the leader keeps it off the array; that is its error first. */
			if (one_node && json_array_size(blocked)) {
				json_object_set(one_node, "blocked", (json_t *)blocked);
				json_object_set(one_node, "error", json_array_get(blocked, 0));
			}
			json_object_set_new(nodes, node, one_node);
		}
		/* "path" and "size_bytes" with the defaults applied: what the nodes mount and ONTAP holds */
		one = json_pack("{sssOsOsosOsosOso}", "name", name, "protocol", json_object_get(e, "protocol"),
				"size", json_object_get(e, "size"),
				"size_bytes", ds ? json_integer((json_int_t)ds->size) : json_null(),
				"fs", json_object_get(e, "fs") ?: json_null(),
				"path", ds && ds->path ? json_string(ds->path) : json_null(),
				"ontap", json_object_get(records, rk) ?: json_null(), "nodes", nodes);
		if (one)
			json_array_append_new(out, one);
	}
	removed_append(d, out, true);
	return json_pack("{sbso}", "ok", 1, "datastores", out);
}

/*
 * kvmcctl datastore remove NAME [--destroy-data]: {"cmd":"datastore-remove","name":NAME,
 * "destroy_data":bool}. Takes the entry out of the spec this node holds -- and, with
 * destroy_data, adds NAME to the spec's "destroy_data" (datastore.h: why the request lives
 * there) -- in ONE spec change through the spec-apply path (validation, the leader, the same
 * reply). A datastore already removed whose volume is kept may still be given destroy_data.
 * Refused (nothing applied, "outcome":"refused"): an unknown NAME; a node whose copy of the
 * spec may be stale (not in a synced quorate view); removing without destroy_data a datastore
 * whose data is already being destroyed.
 */
static json_t *cmd_remove(void *state, uint64_t conn_id, json_t *req)
{
	struct datastores *d = state;
	const json_t *spec = service_spec(d->ctx), *records = service_records(d->ctx), *e;
	const char *name = json_string_value(json_object_get(req, "name"));
	bool destroy = json_is_true(json_object_get(req, "destroy_data")), listed;
	json_auto_t *next = NULL;
	const json_t *rec;
	char key[64];
	ssize_t at = -1;
	size_t i;
	int r;

	if (!name || strlen(name) > DS_NAME_MAX)
		return api_refusal(-EINVAL, "datastore-remove needs a datastore \"name\"");
	if (!service_may_act(d->ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view, so its copy of the spec may be stale; nothing applied");
	json_array_foreach(json_object_get(spec, "datastores"), i, e)
		if (json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			at = (ssize_t)i;
	snprintf(key, sizeof(key), "ds/%s", name);
	rec = json_object_get(records, key);
	listed = ds_destroy_data_has(spec, name);
	if (at < 0 && listed) {
		if (!destroy)
			return api_refusal(-EEXIST, "refused: datastore '%s' was removed with --destroy-data already: its data %s; nothing applied",
					   name, rec ? "is being destroyed" : "is destroyed");
		return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)service_committed_version(d->ctx), "message",
				 rec ? "unchanged: already removed, its data is being destroyed" : "unchanged: already removed, its data is destroyed",
				 "outcome", API_OUTCOME_COMMITTED);
	}
	if (at < 0 && !rec)
		return api_refusal(-ENOENT, "refused: no datastore '%s' in the spec, nor a removed one whose volume is kept; nothing applied",
				   name);
	if (at < 0 && !destroy)
		return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)service_committed_version(d->ctx), "message",
				 json_is_true(json_object_get(rec, "kept")) ? "unchanged: already removed, its volume and data are kept"
									  : "unchanged: already removed; its volume and data will be kept",
				 "outcome", API_OUTCOME_COMMITTED);
	next = json_deep_copy(spec ? spec : json_object());
	if (!next)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	if (at >= 0)
		json_array_remove(json_object_get(next, "datastores"), (size_t)at);
	if (destroy) {
		json_t *list = json_object_get(next, "destroy_data");
		if (!json_is_array(list)) {
			list = json_array();
			json_object_set_new(next, "destroy_data", list);
		}
		json_array_append_new(list, json_string(name));
	}
	r = service_request_spec(d->ctx, conn_id, next);
	if (r < 0)
		return api_refusal(r, "cannot request the change: %s; nothing applied", strerror(-r));
	klogf(service_log(d->ctx), LOG_NOTICE, KLOG_DS(name), "Datastore '%s': removal from the spec requested%s", name,
	     destroy ? ", its data to be destroyed once every node has detached it" : ", its data kept");
	return NULL; /* answered when the change is committed (or refused) */
}

/* kvmcctl preflight: every node's readiness for the datastores (preflight-api.h). */
static json_t *cmd_preflight(void *state, uint64_t conn_id, json_t *req)
{
	struct datastores *d = state;

	return preflight_command(d->ctx, req);
}

static json_t *cmd_clone(void *state, uint64_t conn_id, json_t *req)
{
	struct datastores *d = state;

	return datastore_clone_command(d->ctx, conn_id, req);
}

static json_t *cmd_split(void *state, uint64_t conn_id, json_t *req)
{
	struct datastores *d = state;

	return datastore_split_command(d->ctx, conn_id, req);
}

static const struct service_command commands[] = {
	{ "datastore-list", cmd_list },
	{ "datastore-clone", cmd_clone },
	{ "datastore-split", cmd_split },
	{ "preflight", cmd_preflight },
	{ "datastore-remove", cmd_remove },
	{ NULL, NULL },
};

/* ---- the service ------------------------------------------------------------------------------ */

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct datastores *d = state;

	d->may_act = may_act;
	if (may_act)
		kick(d);
}

/*
 * A member's section changed. A datastore waiting for the node that formats it looks at that
 * node's section every FORMATTER_POLL; the section that says the formatter is done is here now,
 * so the walk looks at once (walk() decides, as at any poll) instead of up to a poll later --
 * with 50 datastores formatted by one node, each of its peers' waits ended that much sooner.
 */
static void svc_sections(void *state)
{
	struct datastores *d = state;
	uint64_t now = now_usec(d);
	bool any = false;

	if (!d->may_act)
		return;
	for (struct ds_local *l = d->list; l; l = l->next)
		if (l->formatter_wait && !l->busy && l->retry_at > now) {
			l->retry_at = now;
			any = true;
		}
	if (any)
		kick(d);
}

static json_t *svc_status(void *state)
{
	struct datastores *d = state;
	json_t *dss = json_object();

	for (struct ds_local *l = d->list; l; l = l->next)
		if (l->step != STEP_GONE)
			json_object_set(dss, l->name, l->status);
	json_t *dups = NULL;

	/* Cloned hosts (the same IQN, host NQN or WWPN on two nodes) are a blocking error: the
	 * array cannot tell them apart, so one would reach the other's storage. */
	if (inventory_duplicates(service_node_sections(d->ctx), &dups) < 0)
		dups = NULL;
	/* Removed datastores: detaching, their data kept, being destroyed, destroyed. */
	json_t *removed = json_array();
	if (removed)
		removed_append(d, removed, false);
	/* ontap_errors: what the leader recorded of ONTAP's refusals (every node shows them) */
	json_t *errors = json_array();
	{
		const json_t *records = service_records(d->ctx), *rec;
		const char *key;

		json_object_foreach((json_t *)records, key, rec)
			if (errors && ((strncmp(key, "ds/", 3) == 0 && json_object_get(rec, "error")) ||
				       strcmp(key, ONTAP_ERROR_KEY) == 0))
				json_array_append_new(errors, json_pack("{sssOsO}", "datastore", strncmp(key, "ds/", 3) == 0 ? key + 3 : "",
									"error", json_object_get(rec, "error") ?: json_null(),
									"error_code", json_object_get(rec, "error_code") ?: json_null()));
	}
	/* blocked_nodes: the leader's verdict on cloned hosts (what it keeps off the array) */
	return json_pack("{sssoso?so?so?sO?so?}", "backend", d->backend->name, "datastores", dss, "inventory",
			 d->inventory ? json_incref(d->inventory) : NULL, "duplicate_initiators",
			 json_array_size(dups) ? dups : (json_decref(dups), NULL), "removed",
			 json_array_size(removed) ? removed : (json_decref(removed), NULL), "blocked_nodes",
			 json_object_get(service_records(d->ctx), BLOCKED_NODES_KEY), "ontap_errors",
			 json_array_size(errors) ? errors : (json_decref(errors), NULL));
}

static void svc_free(void *state)
{
	struct datastores *d = state;

	if (!d)
		return;
	/* A host step still in flight at shutdown is killed with the runner or dropped with the
	 * worker pool, neither of which calls back: host_ctx_cancel() then frees what those steps
	 * owned (host.h). */
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->kick);
	sd_event_source_disable_unref(d->publish_timer);
	while (d->list) {
		struct ds_local *l = d->list;
		d->list = l->next;
		free(l->name);
		json_decref(l->status);
		json_decref(l->last_spec);
		json_decref(l->last_record);
		free(l);
	}
	runner_free(d->runner);
	worker_pool_free(d->workers);
	worker_pool_free(d->sim_workers);
	host_ctx_cancel(&d->host);
	host_sim_cancel(&d->host);
	json_decref(d->inventory);
	free(d->run_dir);
	free(d->sim_dir);
	free(d->cluster_name);
	free(d->opts.libvirt_uri);
	free(d->opts.sim_url);
	free(d->opts.sim_ca_file);
	free(d->opts.sim_access_socket);
	free(d->opts.sim_shared_dir);
	free(d->opts.sim_missing);
	free(d);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct datastores *d;
	struct runner_config rc = { 0 };
	int r;

	*state = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ctx = ctx;
	rc.log = ds_log;
	rc.log_userdata = d;
	r = runner_new(service_event(ctx), &rc, &d->runner);
	if (r >= 0)
		r = worker_pool_new(service_event(ctx), DS_WORKER_THREADS, &d->workers);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &d->timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_timer, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &d->kick, on_kick, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->kick, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &d->publish_timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 1000,
				      on_publish, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->publish_timer, SD_EVENT_OFF);
	if (r < 0 || asprintf(&d->run_dir, "%s/host", cfg->run_dir) < 0) {
		if (asprintf(error, "the datastore service cannot start: %s", strerror(r < 0 ? -r : ENOMEM)) < 0)
			*error = NULL;
		svc_free(d);
		return r < 0 ? r : -ENOMEM;
	}
	{
		_cleanup_free_ char *cs = cfg->host.cluster_name ? NULL : corosync_cluster_name();
		d->cluster_name = strdup(cfg->host.cluster_name ? cfg->host.cluster_name : cs ? cs : cfg->cluster_group);
	}
	d->host = (struct host_ctx){
		.event = service_event(ctx), .runner = d->runner, .workers = d->workers,
		.sys_root = "/sys", .dev_root = "/dev", .etc_root = "/etc", .proc_root = "/proc",
		.run_dir = d->run_dir, .node_name = cfg->node_name, .step_timeout_usec = STEP_TIMEOUT_USEC,
		.log = ds_log, .log_userdata = d,
	};
	d->opts = (struct host_options){
		.backend = cfg->host.backend, .sim_mount = cfg->host.sim_mount,
		.libvirt_uri = cfg->host.libvirt_uri ? strdup(cfg->host.libvirt_uri) : NULL,
		.sim_url = cfg->host.sim_url ? strdup(cfg->host.sim_url) : NULL,
		.sim_ca_file = cfg->host.sim_ca_file ? strdup(cfg->host.sim_ca_file) : NULL,
		.sim_access_socket = cfg->host.sim_access_socket ? strdup(cfg->host.sim_access_socket) : NULL,
		.sim_shared_dir = cfg->host.sim_shared_dir ? strdup(cfg->host.sim_shared_dir) : NULL,
		.sim_missing = cfg->host.sim_missing ? strdup(cfg->host.sim_missing) : NULL,
	};
	d->backend = host_backend_setup(&d->opts, &d->host, &d->sim, error);
	if (!d->backend || !d->cluster_name) {
		svc_free(d);
		return -EINVAL;
	}
	if (d->host.sim) {
		r = worker_pool_new(service_event(ctx), DS_WORKER_THREADS, &d->sim_workers);
		if (r < 0) {
			if (asprintf(error, "the datastore service cannot start: %s", strerror(-r)) < 0)
				*error = NULL;
			svc_free(d);
			return r;
		}
		d->host.sim_workers = d->sim_workers;
	}
	*state = d;
	/* This service's part of the node's section exists from the start ("not reconciled yet"):
	 * another service publishing first must not send a section that seems to say this node has
	 * no datastore attached (inventory.h, node_section_datastores_reconciled()). */
	publish(d);
	return 0;
}

const struct service_ops datastores_service = {
	.name = "datastores",
	.init = svc_init,
	.free = svc_free,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};
