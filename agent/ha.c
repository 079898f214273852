/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The HA service (issue 9; ha.h lists its records, section and verbs).
 *
 * On the RECORDING leader it drives the fence core (coord/decide/fence.h) the way
 * tests/scenario/ha-driver.c models it: at every pass it builds the core's input -- every node
 * it knows (members: those with a section; the others from the fence, ha-node, node and VM
 * records), how each left (service_departure(): corosync's NODEDOWN vs PROCDOWN / LEAVE, the
 * view it left at as the failure's id, when this node saw it), whether a member is clean (its
 * section lists no running domain of a VM another node owns; `node unfence` says so for it),
 * whether its watchdog counts (ha-node records), the fence records, the reports of the attempts
 * that ended, armed or not -- and performs what the core decides: an ontap attempt through the
 * ONTAP service's client (leader-ontap.h: cut, wait for the quiet point, read back), an agent
 * attempt through fencing/agent.c (fence-agents, [ha] agent_dir), a watchdog level by waiting,
 * an unfence by letting the datastore plan give the access back (leader-datastores.c keeps a
 * node whose access was cut out of the plan until its record is unfencing / releasing) and
 * waiting for a pass of the plan that ended empty. It runs exactly the attempts the decisions
 * name, cancels the others, and reports each one's end once. The records are one leader patch
 * per pass; the next pass waits for it to commit (every decision is made on the records it was
 * made for). Ownership moves in the VM service's pass (vms-leader.c), which marks a node whose
 * fence is confirmed `fenced` for placement and runs the recovery core.
 *
 * On EVERY node it feeds the watchdog ([ha] watchdog) while the node is healthy: connected, in a
 * quorate view with a leader (service_healthy()) and no fence record names it -- asked at every
 * keepalive tick, on the loop (fencing/watchdog.h); it is armed the first time the node is
 * healthy, never before (a restarted kvmcd whose node was fenced does not arm it until it is
 * unfenced). Its section says whether it is armed with this cluster's timeout. The VM service
 * stops the HA guests of a node that was healthy and no longer is (vms.c, isolation_stop).
 *
 * Two-node clusters (votequorum's two_node): the least invasive safe split of the work. The
 * coordination core elects a lone survivor (a new epoch, the one the other half computes too)
 * but holds it short of acting -- no LEADING, no may_act, so no service mutates ONTAP, patches
 * records or places VMs -- until told its claim for that epoch is won (core.h
 * core_claim_pending / core_claim_won). It stays healthy (fed watchdog, HA guests running) for
 * at most notice_max after it found itself alone (daemon.c service_healthy), like an isolated
 * host before it notices: the claim takes one ONTAP round trip, so the winner never stops its
 * own guests, and the loser (or a survivor that cannot reach ONTAP) stops them and stops
 * feeding on the same timeline the winner's watchdog level counts on.
 *
 * This service makes the claim, as the fence core decides it (claim.needed:
 * service_claim_pending() names an epoch; peer_seen: this kvmcd saw a peer's section since it
 * started or lost a claim, kept in memory -- a restart forgets it, which is the safe side),
 * through leader_ontap_claim(). WON: service_claim_won(), the node acts and its first leader
 * pass fences the peer like any failed host. LOST: nothing more -- the core never lets it act
 * in that epoch, it turns unhealthy at notice_max (HA guests stopped, the watchdog resets the
 * host), and it claims again only after it has seen its peer. Every other service needs no
 * change.
 *
 * The leader's pass runs from RECORDING (core.h), so a failed leader's host is fenced and its
 * VMs placed without waiting for its lease; the ontap read-back confirms from grants_settled
 * (leader-ontap.h's grants record: at once when no older access grant was in flight).
 *
 * Two-node clusters with a quorum device take the same path: the corosync glue treats 2 nodes
 * with a qdevice as two_node (agent/quorum-votes.h).
 *
 * When the quiet point applies, the ontap read-back also waits for the SVM's active ONTAP jobs
 * (an older leader's may still grant access: coord/timeouts.h 7.; leader-ontap.c sets the
 * fence's settle_jobs).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "api-server.h"
#include "core.h"
#include "fencing/fence.h"
#include "fencing/watchdog.h"
#include "handover.h"
#include "ha.h"
#include "leader-ontap.h"
#include "macros.h"
#include "runner.h"
#include "timing.h"
#include "timeouts.h"

#define TICK_USEC (1 * USEC_PER_SEC)            /* while something is in flight */
#define ARM_RETRY_USEC (5 * USEC_PER_SEC)       /* a watchdog that could not be opened */
#define PATCH_WAIT_USEC (10 * USEC_PER_SEC)     /* our last patch, before going on anyway */
#define REQUEST_TIMEOUT_USEC (30 * USEC_PER_SEC) /* disarm / arm / unfence: the leader's record */
#define MAX_PARAMS 64

struct ha;

/* One attempt (or unfence) the leader runs. Callbacks find it by id (ha_find_attempt): an ONTAP
 * call cannot be cancelled, so its callback may come after the attempt was dropped. */
struct attempt {
	struct attempt *next;
	uint64_t id;
	char *node;
	uint64_t failure, epoch;
	unsigned level, attempt;
	bool unfence;
	enum fence_method method;
	struct fence_handle *agent;      /* agent: live until done or cancel */
	uint64_t unfence_version;        /* unfence: done once the plan settled at or past it */
	struct fence_agent_params_buf *pb;
};

/* A local-API verb waiting for the leader's record. */
struct waiter {
	struct waiter *next;
	uint64_t conn_id;
	char id[48];                     /* its request in this node's section ("" for fence-wait) */
	char op[16], node[CONFIG_HOST_NAME_MAX + 1];
	uint64_t deadline;
	char since[32];                  /* fence-wait: a confirmation at or after this UTC time also
					    counts once the node is back ("" = only a fence in force) */
};

struct ha {
	struct service_ctx *ctx;
	struct timeouts t;
	struct fence_config fc;
	char *fc_error;                  /* owned: why this node does not fence (no level, ...) */
	enum fence_method levels[FENCE_MAX_LEVELS];
	size_t n_levels;
	char *agent_dir;                 /* owned */
	sd_event_source *timer;          /* owned */
	sd_event_source *kick;           /* owned: a pass soon, from the loop */
	struct runner *runner;           /* owned: fence agents */
	uint64_t started_usec;
	/* leader */
	uint64_t epoch, leading_since;
	uint64_t led_epoch;              /* the epoch leading_since is T_L of (kept across a ROLE blip) */
	struct attempt *attempts;
	uint64_t attempt_seq;
	struct fence_report *reports;    /* node / error owned */
	size_t n_reports;
	json_t *evidence;                /* owned: node -> what confirmed its fence (for the record) */
	json_t *reasons;                 /* owned: node -> the core's last reason (status) */
	uint64_t patch_version, patch_deadline;
	/* watchdog (every node) */
	struct watchdog *wd;             /* owned; NULL: none configured */
	char *wd_path;                   /* owned */
	const struct watchdog_device_ops *wd_ops;
	char wd_error[256];
	uint64_t wd_retry_at;
	/* requests (every node) */
	json_t *requests;                /* owned: id -> {"op","node"} in this node's section */
	struct waiter *waiters;
	uint64_t request_seq;
	json_t *published;               /* owned: the section part last published */
	/* the two-node claim (every node; only a lone survivor makes one) */
	uint64_t claim_epoch;            /* the epoch claim_state is about */
	enum fence_claim_state claim_state;
	enum fence_claim_action claim_logged; /* last decision logged for claim_epoch */
	bool peer_seen;                  /* another kvmcd's section seen since start / a lost claim */
};

static struct ha *the_ha; /* for callbacks that may outlive an attempt (ontap) */

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void utc_of(time_t t, char out[32])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "?");
}

static void utc_now(char out[32])
{
	utc_of(time(NULL), out);
}

static const char *me(struct ha *h)
{
	return service_config(h->ctx)->node_name;
}

static void kick(struct ha *h)
{
	if (h->kick)
		sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
}

static void arm_timer(struct ha *h, uint64_t at)
{
	uint64_t cur = 0;
	int enabled = SD_EVENT_OFF;

	if (!h->timer || !at)
		return;
	sd_event_source_get_enabled(h->timer, &enabled);
	sd_event_source_get_time(h->timer, &cur);
	if (enabled != SD_EVENT_OFF && cur <= at && cur > now_usec())
		return;
	sd_event_source_set_time(h->timer, at);
	sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

/* ---- records <-> the core's structs ---------------------------------------------------------- */

static int status_from_name(const char *s, enum fence_status *out)
{
	for (int i = 0; i < _FENCE_STATUS_MAX; i++)
		if (s && fence_status_name(i) && !strcmp(s, fence_status_name(i))) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

static uint64_t ju(const json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));
	return v > 0 ? (uint64_t)v : 0;
}

/* A record as the core reads it (strings borrowed from rec). -EINVAL: not a fence record. */
static int record_parse(const char *node, const json_t *rec, struct fence_record *out)
{
	enum fence_method m = FENCE_METHOD_ONTAP;
	const char *loss = json_string_value(json_object_get(rec, "loss"));

	*out = (struct fence_record){ .node = node };
	if (status_from_name(json_string_value(json_object_get(rec, "status")), &out->status) < 0 ||
	    out->status == FENCE_NONE)
		return -EINVAL;
	if (json_string_value(json_object_get(rec, "confirmed_by")))
		(void)fence_method_from_name(json_string_value(json_object_get(rec, "confirmed_by")), &m);
	out->failure = ju(rec, "failure");
	out->loss = loss && !strcmp(loss, "procdown") ? FENCE_LOSS_PROCDOWN : FENCE_LOSS_NODEDOWN;
	out->level = (unsigned)ju(rec, "level");
	out->attempt = (unsigned)ju(rec, "attempt");
	out->rounds = (unsigned)ju(rec, "rounds");
	out->running = json_is_true(json_object_get(rec, "running"));
	out->access_cut = json_is_true(json_object_get(rec, "access_cut"));
	out->confirmed_by = m;
	out->epoch = ju(rec, "epoch");
	out->started_usec = ju(rec, "started_usec");
	out->not_before_usec = ju(rec, "not_before_usec");
	out->error = json_string_value(json_object_get(rec, "error"));
	return 0;
}

static json_t *record_json(struct ha *h, const struct fence_record *r, const char *evidence)
{
	char at[32];
	json_t *o;

	utc_now(at);
	o = json_pack("{s:s,s:I,s:s,s:I,s:s?,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:s?,s:s}", "status", fence_status_name(r->status),
		      "failure", (json_int_t)r->failure, "loss", fence_loss_name(r->loss), "level", (json_int_t)r->level,
		      "method", r->level < h->n_levels ? fence_method_name(h->levels[r->level]) : NULL,
		      "attempt", (json_int_t)r->attempt, "rounds", (json_int_t)r->rounds, "running", r->running,
		      "access_cut", r->access_cut, "epoch", (json_int_t)r->epoch, "started_usec", (json_int_t)r->started_usec,
		      "not_before_usec", (json_int_t)r->not_before_usec, "error", r->error, "at", at);
	if (o && (r->status == FENCE_CONFIRMED || r->status == FENCE_UNFENCING)) {
		json_object_set_new(o, "confirmed_by", json_string(fence_method_name(r->confirmed_by)));
		if (evidence)
			json_object_set_new(o, "evidence", json_string(evidence));
	}
	return o;
}

/* ---- attempts --------------------------------------------------------------------------------- */

struct fence_agent_params_buf {
	struct fence_param params[MAX_PARAMS];
	size_t n;
	char *text;                      /* owned: the file's content the params point into */
};

static struct attempt *attempt_find(struct ha *h, uint64_t id)
{
	for (struct attempt *a = h->attempts; a; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

static void attempt_unlink_free(struct ha *h, struct attempt *x, bool cancel)
{
	for (struct attempt **p = &h->attempts; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			break;
		}
	if (cancel && x->agent)
		fence_agent_ops.cancel(x->agent);
	if (x->pb) {
		free(x->pb->text);
		free(x->pb);
	}
	free(x->node);
	free(x);
}

static void report_add(struct ha *h, const struct attempt *a, bool ok, uint64_t readback_usec, const char *error)
{
	struct fence_report *v = realloc(h->reports, (h->n_reports + 1) * sizeof(*v));

	if (!v)
		return; /* the core's deadline ends the attempt */
	h->reports = v;
	v[h->n_reports++] = (struct fence_report){
		.node = strdup(a->node), .kind = a->unfence ? FENCE_REPORT_UNFENCE : FENCE_REPORT_ATTEMPT,
		.failure = a->failure, .epoch = a->epoch, .level = a->level, .attempt = a->attempt, .ok = ok,
		.readback_usec = readback_usec, .error = error ? strdup(error) : NULL,
	};
	kick(h);
}

static void reports_clear(struct ha *h)
{
	for (size_t i = 0; i < h->n_reports; i++) {
		free((char *)h->reports[i].node);
		free((char *)h->reports[i].error);
	}
	free(h->reports);
	h->reports = NULL;
	h->n_reports = 0;
}

static void on_ontap_fenced(void *userdata, int r, const struct ontap_fence_result *res)
{
	struct ha *h = the_ha;
	struct attempt *a = h ? attempt_find(h, (uint64_t)(uintptr_t)userdata) : NULL;
	bool ok = r == 0 && res && res->confirmed;
	char why[1024];

	if (!a)
		return; /* cancelled meanwhile: the core no longer wants its report */
	if (r < 0)
		snprintf(why, sizeof(why), "ONTAP fence of %s: %s%s%s", a->node, strerror(-r), res && res->evidence ? ": " : "",
			 res && res->evidence ? res->evidence : "");
	else
		snprintf(why, sizeof(why), "%s", res && res->evidence ? res->evidence : "read back");
	klog(service_log(h->ctx), ok ? LOG_NOTICE : LOG_WARNING, "Fence of %s by ONTAP (attempt %u): %s: %s", a->node,
	     a->attempt, ok ? "confirmed" : "not confirmed", why);
	if (ok)
		json_object_set_new(h->evidence, a->node, json_string(why));
	report_add(h, a, ok, ok ? res->readback_usec : 0, ok ? NULL : why);
	attempt_unlink_free(h, a, false);
}

static void on_agent_done(void *userdata, const struct fence_outcome *o)
{
	struct ha *h = the_ha;
	struct attempt *a = h ? attempt_find(h, (uint64_t)(uintptr_t)userdata) : NULL;
	bool ok = o->kind == FENCE_OUTCOME_CONFIRMED;

	if (!a)
		return;
	a->agent = NULL; /* done: no cancel any more */
	klog(service_log(h->ctx), ok ? LOG_NOTICE : LOG_WARNING, "Fence of %s by its fence agent (attempt %u): %s: %s",
	     a->node, a->attempt, fence_outcome_name(o->kind), o->text ? o->text : "");
	if (ok)
		json_object_set_new(h->evidence, a->node, json_string(o->text ? o->text : "power off"));
	report_add(h, a, ok, 0, ok ? NULL : o->text ? o->text : fence_outcome_name(o->kind));
	attempt_unlink_free(h, a, false);
}

/* The node's names on the array, from the leader's node/NAME record (leader-datastores.c). */
static int ontap_node_of(struct ha *h, const char *node, struct ontap_fence_node *out, const char **strs, size_t max)
{
	char key[CONFIG_HOST_NAME_MAX + 8];
	const json_t *rec, *v;
	size_t i, k = 0;

	snprintf(key, sizeof(key), "node/%s", node);
	rec = json_object_get(service_records(h->ctx), key);
	*out = (struct ontap_fence_node){ .name = node,
					  .iqn = json_string_value(json_object_get(rec, "iscsi_iqn")),
					  .nqn = json_string_value(json_object_get(rec, "nvme_nqn")) };
	out->wwpns = strs;
	json_array_foreach(json_object_get(rec, "fc_wwpns"), i, v)
		if (json_is_string(v) && k < max)
			strs[k++] = json_string_value(v);
	out->n_wwpns = k;
	out->addresses = strs + k;
	json_array_foreach(json_object_get(rec, "addresses"), i, v)
		if (json_is_string(v) && k < max)
			strs[k++] = json_string_value(v);
	out->n_addresses = (size_t)(strs + k - out->addresses);
	return 0;
}

/* DIR/NODE.conf: "key = value" lines, '#' comments. */
static int agent_params(struct ha *h, const char *node, struct fence_agent_params_buf **out, char **error)
{
	_cleanup_free_ char *path = NULL;
	struct fence_agent_params_buf *b;
	FILE *f;
	long len;
	char *p;

	*out = NULL;
	if (!h->agent_dir) {
		*error = strdup("[ha] agent_dir is not set");
		return -ENOENT;
	}
	if (asprintf(&path, "%s/%s.conf", h->agent_dir, node) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		if (asprintf(error, "fence agent for %s: %s: %s", node, path, strerror(-r)) < 0)
			*error = NULL;
		return r;
	}
	b = calloc(1, sizeof(*b));
	if (!b || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || len > 65536 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(b->text = calloc(1, (size_t)len + 1)) || fread(b->text, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		if (b)
			free(b->text);
		free(b);
		if (asprintf(error, "fence agent for %s: cannot read %s", node, path) < 0)
			*error = NULL;
		return -EIO;
	}
	fclose(f);
	for (p = b->text; p && *p;) {
		char *nl = strchr(p, '\n'), *eq, *k, *v, *e;
		if (nl)
			*nl = 0;
		k = p + strspn(p, " \t");
		p = nl ? nl + 1 : NULL;
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq || b->n >= MAX_PARAMS) {
			if (asprintf(error, "fence agent for %s: %s: a line that is not key = value", node, path) < 0)
				*error = NULL;
			free(b->text);
			free(b);
			return -EINVAL;
		}
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = 0;
		v = eq + 1 + strspn(eq + 1, " \t");
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--)
			;
		*e = 0;
		b->params[b->n++] = (struct fence_param){ .key = k, .value = v };
	}
	*out = b;
	return 0;
}

static void fence_log(void *userdata, int level, const char *text)
{
	struct ha *h = userdata;

	klog(service_log(h->ctx), level, "%s", text);
}

/* Starts what RUN decision d names; a start that fails is reported as a failed attempt. */
static void attempt_start(struct ha *h, const struct fence_decision *d)
{
	struct attempt *a = calloc(1, sizeof(*a));
	_cleanup_free_ char *error = NULL;
	int r = -ENOMEM;

	if (!a || !(a->node = strdup(d->node))) {
		free(a);
		return;
	}
	*a = (struct attempt){ .next = h->attempts, .id = ++h->attempt_seq, .node = a->node, .failure = d->failure,
			       .epoch = h->epoch, .level = d->level, .attempt = d->attempt, .method = d->method,
			       .unfence = d->action == FENCE_ACT_UNFENCE };
	h->attempts = a;
	if (a->unfence) {
		/* the datastore plan gives the access back now that the record is unfencing /
		 * releasing (committed before this pass ran: the pass waits for its own patch) */
		a->unfence_version = service_committed_version(h->ctx);
		klog(service_log(h->ctx), LOG_NOTICE, "Unfencing %s: its storage access is given back by the datastore plan",
		     a->node);
		return;
	}
	klog(service_log(h->ctx), LOG_NOTICE, "Fencing %s: %s, attempt %u (failure %" PRIu64 ", deadline in %" PRIu64 " ms)",
	     a->node, fence_method_name(d->method), d->attempt, d->failure,
	     d->at_usec > now_usec() ? (uint64_t)((d->at_usec - now_usec()) / USEC_PER_MSEC) : 0);
	if (d->method == FENCE_METHOD_WATCHDOG)
		return; /* nothing runs: the deadline confirms it */
	if (d->method == FENCE_METHOD_ONTAP) {
		struct ontap_fence_node n;
		const char *strs[64];
		ontap_node_of(h, a->node, &n, strs, 64);
		r = leader_ontap_fence(&n, d->readback_after_usec, false, on_ontap_fenced, (void *)(uintptr_t)a->id);
		if (r == -ENOTCONN)
			error = strdup("this leader has no ONTAP client ([ontap] not configured, or not reached yet)");
	} else if (d->method == FENCE_METHOD_AGENT) {
		struct fence_ctx fctx = { .event = service_event(h->ctx), .runner = h->runner, .timeouts = &h->t,
					  .log = fence_log, .log_userdata = h };
		r = agent_params(h, a->node, &a->pb, &error);
		if (r >= 0) {
			struct fence_target t = { .node = a->node, .params = a->pb->params, .n_params = a->pb->n };
			r = fence_agent_ops.start(&fctx, &t, d->at_usec, on_agent_done, (void *)(uintptr_t)a->id, &a->agent,
						  error ? NULL : &error);
		}
	}
	if (r < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s could not start: %s", fence_method_name(d->method), error ? error : strerror(-r));
		klog(service_log(h->ctx), LOG_WARNING, "Fence of %s: %s", a->node, why);
		report_add(h, a, false, 0, why);
		attempt_unlink_free(h, a, false);
	}
}

static void attempts_cancel_all(struct ha *h)
{
	while (h->attempts)
		attempt_unlink_free(h, h->attempts, true);
}

/* ---- the leader's pass ------------------------------------------------------------------------ */

static const char *section_name(const json_t *sec)
{
	return json_string_value(json_object_get(sec, "name"));
}

/* The corosync node id of a member, from its section's key; 0 when it is not a member. */
static uint32_t nodeid_of(struct ha *h, const char *node)
{
	const json_t *sec;
	const char *k;

	json_object_foreach((json_t *)service_node_sections(h->ctx), k, sec)
		if (section_name(sec) && !strcmp(section_name(sec), node))
			return (uint32_t)strtoul(k, NULL, 10);
	return 0;
}

static const json_t *section_of(struct ha *h, const char *node)
{
	const json_t *sec;
	const char *k;

	json_object_foreach((json_t *)service_node_sections(h->ctx), k, sec)
		if (section_name(sec) && !strcmp(section_name(sec), node))
			return json_object_get(sec, "section");
	return NULL;
}

/* Its VM service has listed its libvirtd and lists no domain that may run (running, paused, or
 * "unknown": not listed since its last op) of a VM the records give another node (fence.h's
 * `clean`). A node whose VM service has not published yet is not clean. */
static bool node_clean(struct ha *h, const char *node, const json_t *sec)
{
	const json_t *v, *records = service_records(h->ctx), *vms = json_object_get(sec, "vms");
	const char *vm;
	char key[300];

	if (!json_is_object(vms))
		return false;
	json_object_foreach((json_t *)vms, vm, v) {
		const char *st = json_string_value(json_object_get(v, "state")), *owner;
		if (!handover_state_may_run(st))
			continue;
		snprintf(key, sizeof(key), "vm/%s", vm);
		owner = json_string_value(json_object_get(json_object_get(records, key), "owner"));
		if (!owner || strcmp(owner, node))
			return false;
	}
	return true;
}

/* Its section says its watchdog is armed with this cluster's timeout. */
static bool watchdog_counts(struct ha *h, const json_t *sec)
{
	const json_t *w = json_object_get(json_object_get(sec, "ha"), "watchdog");

	return h->t.base.watchdog_timeout_usec && json_is_true(json_object_get(w, "armed")) &&
	       json_is_true(json_object_get(w, "crash_safe")) &&
	       ju(w, "timeout_sec") * USEC_PER_SEC == h->t.base.watchdog_timeout_usec;
}

static void add_name(json_t *names, const char *n)
{
	if (n && *n)
		json_object_set_new(names, n, json_true());
}

/* An unfence some member asked for (`kvmcctl node unfence NAME`). */
static bool unfence_requested(struct ha *h, const char *node)
{
	const json_t *sec, *req;
	const char *k, *id;

	json_object_foreach((json_t *)service_node_sections(h->ctx), k, sec)
		json_object_foreach(json_object_get(json_object_get(json_object_get(sec, "section"), "ha"), "requests"), id, req)
			if (!strcmp(json_string_value(json_object_get(req, "op")) ?: "", "unfence") &&
			    !strcmp(json_string_value(json_object_get(req, "node")) ?: "", node))
				return true;
	return false;
}

/* disarm / arm requests: the newest by the requests' order in the sections wins (one operator). */
static void serve_arming(struct ha *h, json_t *patch)
{
	const json_t *sec, *req, *cur = json_object_get(service_records(h->ctx), "ha/armed");
	const char *k, *id, *op, *by = NULL;
	int want = -1;
	char at[32];

	json_object_foreach((json_t *)service_node_sections(h->ctx), k, sec)
		json_object_foreach(json_object_get(json_object_get(json_object_get(sec, "section"), "ha"), "requests"), id, req) {
			op = json_string_value(json_object_get(req, "op"));
			if (op && (!strcmp(op, "disarm") || !strcmp(op, "arm"))) {
				want = !strcmp(op, "arm");
				by = section_name(sec);
			}
		}
	if (want < 0 || want == !cur)
		return;
	utc_now(at);
	if (want) {
		json_object_set_new(patch, "ha/armed", json_null());
		klog(service_log(h->ctx), LOG_NOTICE, "HA armed again (asked on %s)", by ? by : "?");
	} else {
		json_object_set_new(patch, "ha/armed", json_pack("{s:b,s:s,s:s}", "armed", 0, "by", by ? by : "?", "at", at));
		klog(service_log(h->ctx), LOG_WARNING, "HA DISARMED (asked on %s): no fencing and no recovery until "
		     "`kvmcctl ha arm`", by ? by : "?");
	}
}

static void history_add(struct ha *h, json_t *patch, const char *node, const struct fence_record *r, const char *reason,
			const char *evidence)
{
	json_t *cur = json_object_get(patch, "ha/history");
	json_t *hist = cur ? json_incref(cur) : json_deep_copy(json_object_get(service_records(h->ctx), "ha/history"));
	char at[32];

	if (!json_is_array(hist)) {
		json_decref(hist);
		hist = json_array();
	}
	if (!hist)
		return;
	utc_now(at);
	json_array_append_new(hist, json_pack("{s:s,s:s,s:I,s:s,s:s?,s:s,s:s?,s:s?}", "node", node, "status",
					      r ? fence_status_name(r->status) : "cleared", "failure",
					      (json_int_t)(r ? r->failure : 0),
					      "loss", r ? fence_loss_name(r->loss) : "", "method",
					      r && (r->status == FENCE_CONFIRMED || r->status == FENCE_UNFENCING)
						      ? fence_method_name(r->confirmed_by)
						      : r && r->level < h->n_levels ? fence_method_name(h->levels[r->level]) : NULL,
					      "at", at, "reason", reason, "evidence", evidence));
	while (json_array_size(hist) > HA_HISTORY_MAX)
		json_array_remove(hist, 0);
	json_object_set_new(patch, "ha/history", hist);
}

static void leader_pass(struct ha *h)
{
	const json_t *records = service_records(h->ctx), *secs = service_node_sections(h->ctx), *v, *sec;
	json_auto_t *names = json_object(), *patch = json_object();
	_cleanup_free_ struct fence_node *nodes = NULL;
	_cleanup_free_ struct fence_record *recs = NULL;
	struct fence_result *res = NULL;
	struct fence_input in;
	uint64_t now = now_usec();
	size_t n = 0, nr = 0, cap;
	const char *k;
	int r;

	if (!names || !patch)
		return;
	/* our last patch first: decisions are made on the records they were made for */
	if (h->patch_version && service_committed_version(h->ctx) < h->patch_version && now < h->patch_deadline) {
		arm_timer(h, now + TICK_USEC);
		return;
	}
	h->patch_version = 0;
	json_object_foreach((json_t *)secs, k, sec)
		add_name(names, section_name(sec));
	json_object_foreach((json_t *)records, k, v) {
		if (!strncmp(k, "fence/", 6))
			add_name(names, k + 6);
		else if (!strncmp(k, "ha-node/", 8))
			add_name(names, k + 8);
		else if (!strncmp(k, "node/", 5))
			add_name(names, k + 5);
		else if (!strncmp(k, "vm/", 3))
			add_name(names, json_string_value(json_object_get(v, "owner")));
	}
	cap = json_object_size(names);
	nodes = calloc(cap + 1, sizeof(*nodes));
	recs = calloc(cap + 1, sizeof(*recs));
	if (!nodes || !recs)
		return;
	json_object_foreach(names, k, v) {
		char key[CONFIG_HOST_NAME_MAX + 16];
		const json_t *s = section_of(h, k), *rec;
		struct fence_node *fn = &nodes[n++];
		uint32_t reason;
		uint64_t view, at;

		snprintf(key, sizeof(key), "fence/%s", k);
		rec = json_object_get(records, key);
		if (rec && record_parse(k, rec, &recs[nr]) == 0)
			nr++;
		else
			rec = NULL;
		snprintf(key, sizeof(key), "ha-node/%s", k);
		*fn = (struct fence_node){ .name = k, .member = s != NULL,
					   .watchdog = s ? watchdog_counts(h, s)
							 : json_is_true(json_object_get(json_object_get(records, key), "watchdog")) };
		if (s) {
			fn->clean = node_clean(h, k, s) || unfence_requested(h, k);
			bool counts = fn->watchdog;
			uint32_t id = nodeid_of(h, k);
			const json_t *was = json_object_get(records, key);
			/* the corosync node id too: the DLM fence device names its victim by it */
			if (!was || json_is_true(json_object_get(was, "watchdog")) != counts ||
			    (id && ju(was, "nodeid") != id))
				json_object_set_new(patch, key, id ? json_pack("{s:b,s:I}", "watchdog", counts, "nodeid", (json_int_t)id)
								  : json_pack("{s:b}", "watchdog", counts));
			continue;
		}
		if (service_departure(h->ctx, k, &reason, &view, &at) == 0) {
			fn->loss = reason == CORE_LEAVE_NODEDOWN ? FENCE_LOSS_NODEDOWN : FENCE_LOSS_PROCDOWN;
			fn->failure = view;
			fn->since_usec = at > h->leading_since ? at : h->leading_since;
		} else {
			/* it left before this kvmcd saw it: a failed host, as far as we know (the safe
			 * reading: no grace), from when this node began to act */
			fn->loss = FENCE_LOSS_NODEDOWN;
			fn->failure = rec ? ju(rec, "failure") : 0;
			if (!fn->failure)
				fn->failure = service_views(h->ctx) ? service_views(h->ctx) : 1;
			fn->since_usec = h->leading_since;
		}
		fn->began = fn->loss;
	}
	in = (struct fence_input){ .config = &h->fc, .nodes = nodes, .n_nodes = n, .records = recs, .n_records = nr,
				   .reports = h->reports, .n_reports = h->n_reports, .acting = true,
				   .armed = !json_object_get(records, "ha/armed"), .epoch = h->epoch,
				   .leading_since_usec = h->leading_since, .now_usec = now,
				   .grants_settled_usec = leader_ontap_grants_settled() };
	r = fence_decide(&in, &res);
	reports_clear(h); /* consumed by the call that saw them */
	if (r < 0) {
		klog(service_log(h->ctx), LOG_ERR, "Fence decision failed: %s", strerror(-r));
		return;
	}
	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct fence_decision *d = &res->decisions[i];
		const struct fence_record *old = NULL;
		char key[CONFIG_HOST_NAME_MAX + 8];
		for (size_t j = 0; j < nr; j++)
			if (!strcmp(recs[j].node, d->node))
				old = &recs[j];
		if (d->reason)
			json_object_set_new(h->reasons, d->node, json_string(d->reason));
		if (d->record_changed) {
			const char *evidence = json_string_value(json_object_get(h->evidence, d->node));
			snprintf(key, sizeof(key), "fence/%s", d->node);
			if (d->record.status == FENCE_NONE) {
				json_object_set_new(patch, key, json_null());
				json_object_del(h->evidence, d->node);
			} else {
				json_object_set_new(patch, key, record_json(h, &d->record, evidence));
			}
			if (!old || old->status != d->record.status) {
				klog(service_log(h->ctx), d->record.status == FENCE_FAILED ? LOG_ERR : LOG_NOTICE,
				     "Fence of %s: %s -> %s: %s", d->node, old ? fence_status_name(old->status) : "none",
				     d->record.status == FENCE_NONE ? "cleared" : fence_status_name(d->record.status),
				     d->reason ? d->reason : "");
				history_add(h, patch, d->node, d->record.status == FENCE_NONE ? NULL : &d->record, d->reason,
					    d->record.status == FENCE_CONFIRMED ? evidence : NULL);
			}
		}
		if (d->action == FENCE_ACT_RUN || d->action == FENCE_ACT_UNFENCE) {
			bool have = false;
			for (struct attempt *a = h->attempts; a; a = a->next)
				have |= !strcmp(a->node, d->node) && a->failure == d->failure && a->epoch == h->epoch &&
					a->unfence == (d->action == FENCE_ACT_UNFENCE) &&
					(a->unfence || (a->level == d->level && a->attempt == d->attempt));
			if (!have)
				attempt_start(h, d);
		}
	}
	/* cancel what the decisions no longer name */
	for (struct attempt *a = h->attempts, *next; a; a = next) {
		bool named = false;
		next = a->next;
		for (size_t i = 0; i < res->n_decisions; i++) {
			const struct fence_decision *d = &res->decisions[i];
			if (strcmp(d->node, a->node) || d->failure != a->failure)
				continue;
			named |= a->unfence ? d->action == FENCE_ACT_UNFENCE
					    : d->action == FENCE_ACT_RUN && d->level == a->level && d->attempt == a->attempt;
		}
		if (!named || a->epoch != h->epoch) {
			klog(service_log(h->ctx), LOG_INFO, "Fence of %s: %s %s no longer wanted: cancelled", a->node,
			     a->unfence ? "unfence" : fence_method_name(a->method), a->unfence ? "" : "attempt");
			attempt_unlink_free(h, a, true);
		}
	}
	/* an unfence is done once the datastore plan settled on records that say so */
	for (struct attempt *a = h->attempts, *next; a; a = next) {
		next = a->next;
		if (a->unfence && (leader_ontap_plan_settled_version() > a->unfence_version ||
				   !service_config(h->ctx)->ontap.address)) {
			report_add(h, a, true, 0, NULL);
			attempt_unlink_free(h, a, false);
		}
	}
	serve_arming(h, patch);
	if (json_object_size(patch)) {
		_cleanup_free_ char *error = NULL;
		uint64_t version = 0;
		r = service_leader_patch(h->ctx, h->epoch, patch, &version, &error);
		if (r < 0 && r != -ESTALE)
			klog(service_log(h->ctx), LOG_WARNING, "Cannot record the fences: %s", error ? error : strerror(-r));
		if (r == 0) {
			h->patch_version = version;
			h->patch_deadline = now + PATCH_WAIT_USEC;
		}
	}
	if (res->wake_usec)
		arm_timer(h, res->wake_usec);
	if (h->attempts || h->n_reports)
		arm_timer(h, now + TICK_USEC);
	fence_result_free(res);
}

/* ---- every node: the watchdog, requests ------------------------------------------------------- */

static bool fenced_here(struct ha *h)
{
	char key[CONFIG_HOST_NAME_MAX + 8];

	snprintf(key, sizeof(key), "fence/%s", me(h));
	return json_object_get(service_records(h->ctx), key) != NULL;
}

static bool wd_healthy(void *userdata, const char **why)
{
	struct ha *h = userdata;

	if (!service_healthy(h->ctx)) {
		*why = "not in a quorate view with a leader";
		return false;
	}
	if (fenced_here(h)) {
		*why = "a fence record names this node";
		return false;
	}
	return true;
}

static json_t *watchdog_json(struct ha *h)
{
	struct watchdog_state st;

	if (!h->wd)
		return json_pack("{s:s}", "device", "none");
	watchdog_get_state(h->wd, &st);
	return json_pack("{s:s,s:b,s:I,s:b,s:b,s:b,s:s,s:s?}", "device", h->wd_path, "armed", st.open, "timeout_sec",
			 (json_int_t)st.timeout_sec, "matches", st.matches, "crash_safe", st.crash_safe, "feeding",
			 st.feeding, "identity", st.identity, "error", h->wd_error[0] ? h->wd_error : NULL);
}

static void publish(struct ha *h)
{
	/* a copy of the requests: with a reference, h->published would hold h->requests itself, so
	 * a request added later compared equal to what was "published" and never went out (ha
	 * disarm / arm / node unfence then timed out) */
	json_t *part = json_pack("{s:{s:o,s:o}}", "ha", "watchdog", watchdog_json(h), "requests", json_deep_copy(h->requests));
	_cleanup_free_ char *error = NULL;

	if (!part)
		return;
	/* only what others read: "feeding" flips at every health change, the rest rarely */
	json_object_del(json_object_get(json_object_get(part, "ha"), "watchdog"), "feeding");
	if (h->published && json_equal(h->published, part)) {
		json_decref(part);
		return;
	}
	if (service_node_publish(h->ctx, part, &error) == 0) {
		json_decref(h->published);
		h->published = part;
	} else {
		json_decref(part);
	}
}

static void watchdog_step(struct ha *h)
{
	struct watchdog_state st;
	const char *why = NULL;

	if (!h->wd)
		return;
	watchdog_get_state(h->wd, &st);
	if (!st.open) {
		_cleanup_free_ char *error = NULL;
		int r;
		if (!wd_healthy(h, &why) || now_usec() < h->wd_retry_at)
			return;
		r = watchdog_arm(h->wd, &error);
		if (r < 0) {
			if (strcmp(h->wd_error, error ? error : strerror(-r)))
				klog(service_log(h->ctx), LOG_ERR, "Cannot arm the watchdog %s: %s (tried again every %u s)",
				     h->wd_path, error ? error : strerror(-r), (unsigned)(ARM_RETRY_USEC / USEC_PER_SEC));
			snprintf(h->wd_error, sizeof(h->wd_error), "%s", error ? error : strerror(-r));
			h->wd_retry_at = now_usec() + ARM_RETRY_USEC;
			arm_timer(h, h->wd_retry_at);
			return;
		}
		h->wd_error[0] = 0;
		watchdog_get_state(h->wd, &st);
		klog(service_log(h->ctx), LOG_NOTICE, "Watchdog %s (%s) armed: %u s%s", h->wd_path, st.identity, st.timeout_sec,
		     st.matches ? "" : " -- NOT the cluster's timeout: the others will not count on it");
	} else {
		watchdog_poke(h->wd);
	}
}

/*
 * fence-wait (kvmcctl fence wait, the DLM fence device): the node's fence in force is confirmed
 * (or further on: unfencing), or -- with `since` -- the history holds a confirmation of it at or
 * after that time (the node was fenced for that failure and is back already). Otherwise NULL
 * until the deadline, then an error that says where the fence stands. This node's copy of the
 * records may lag but never runs ahead: a confirmation read here was committed.
 */
static json_t *fence_wait_answer(struct ha *h, const struct waiter *w, bool expired)
{
	const json_t *records = service_records(h->ctx), *rec, *x, *hist = json_object_get(records, "ha/history");
	char key[CONFIG_HOST_NAME_MAX + 8];
	const char *st, *by, *at;
	size_t i;

	snprintf(key, sizeof(key), "fence/%s", w->node);
	rec = json_object_get(records, key);
	st = json_string_value(json_object_get(rec, "status"));
	by = json_string_value(json_object_get(rec, "confirmed_by"));
	if (st && (!strcmp(st, "confirmed") || !strcmp(st, "unfencing")))
		return json_pack("{s:b,s:s,s:s,s:s?,s:s}", "ok", 1, "node", w->node, "status", st, "confirmed_by", by,
				 "message", "fenced (confirmed in the replicated state)");
	json_array_foreach(hist, i, x)
		if (w->since[0] && !strcmp(json_string_value(json_object_get(x, "node")) ?: "", w->node) &&
		    !strcmp(json_string_value(json_object_get(x, "status")) ?: "", "confirmed") &&
		    (at = json_string_value(json_object_get(x, "at"))) && strcmp(at, w->since) >= 0)
			return json_pack("{s:b,s:s,s:s,s:s?,s:s}", "ok", 1, "node", w->node, "status", "confirmed", "confirmed_by",
					 json_string_value(json_object_get(x, "method")), "message",
					 "fenced (confirmed since the failure; the node is back already)");
	if (!expired)
		return NULL;
	if (json_object_get(records, "ha/armed"))
		return json_pack("{s:b,s:i,s:s}", "ok", 0, "errno", EAGAIN, "error",
				 "HA is disarmed: kvmcd fences nobody until `kvmcctl ha arm`");
	if (st)
		return json_pack("{s:b,s:i,s:s,s:s,s:s?}", "ok", 0, "errno", ETIMEDOUT, "status", st, "error",
				 !strcmp(st, "failed") ? "the fence failed (kvmcctl fence history: the error; it is tried again)"
						       : "the fence is not confirmed yet",
				 "fence_error", json_string_value(json_object_get(rec, "error")));
	if (section_of(h, w->node))
		return json_pack("{s:b,s:i,s:s}", "ok", 0, "errno", EAGAIN, "error",
				 "the node is a member of kvmcd's view: kvmcd fences a host only once it has left the membership");
	return json_pack("{s:b,s:i,s:s}", "ok", 0, "errno", ETIMEDOUT, "error",
			 "no fence of the node is recorded yet (is this node in the quorate partition, with a leader?)");
}

/* The requests this node's verbs wait for: answered once the leader's records show them. */
static void waiters_check(struct ha *h)
{
	const json_t *records = service_records(h->ctx);
	uint64_t now = now_usec();
	bool changed = false;

	for (struct waiter **p = &h->waiters, *w; (w = *p);) {
		json_t *reply = NULL;
		if (!strcmp(w->op, "disarm") && json_object_get(records, "ha/armed"))
			reply = json_pack("{s:b,s:s}", "ok", 1, "message", "HA disarmed: no fencing and no recovery until `kvmcctl ha arm`");
		else if (!strcmp(w->op, "arm") && !json_object_get(records, "ha/armed"))
			reply = json_pack("{s:b,s:s}", "ok", 1, "message", "HA armed");
		else if (!strcmp(w->op, "fence-wait"))
			reply = fence_wait_answer(h, w, now >= w->deadline);
		else if (!strcmp(w->op, "unfence")) {
			char key[CONFIG_HOST_NAME_MAX + 8];
			const char *st;
			snprintf(key, sizeof(key), "fence/%s", w->node);
			st = json_string_value(json_object_get(json_object_get(records, key), "status"));
			if (!st || strcmp(st, "confirmed"))
				reply = json_pack("{s:b,s:s}", "ok", 1, "message", st ? "unfencing: its storage access is being given back"
										 : "unfenced");
		}
		if (!reply && now >= w->deadline)
			reply = json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "unknown", "errno", ETIMEDOUT, "error",
					  "the leader has not recorded it in time (check `kvmcctl fence history`, `kvmcctl status`)");
		if (!reply) {
			p = &w->next;
			continue;
		}
		service_reply(h->ctx, w->conn_id, reply);
		if (w->id[0])
			json_object_del(h->requests, w->id);
		changed = true;
		*p = w->next;
		free(w);
	}
	if (h->waiters)
		arm_timer(h, now + TICK_USEC);
	if (changed)
		publish(h);
}

static void on_claimed(void *userdata, int r, const struct ontap_claim_result *res, const struct ontap_error *err)
{
	struct ha *h = the_ha;
	uint64_t epoch = (uint64_t)(uintptr_t)userdata;

	(void)err;
	if (!h || epoch != h->claim_epoch || h->claim_state != FENCE_CLAIM_STATE_PENDING)
		return;
	if (r < 0 || !res) {
		klog(service_log(h->ctx), LOG_WARNING, "Two-node claim for epoch %" PRIu64 " not settled: %s; asking again",
		     epoch, strerror(r < 0 ? -r : EIO));
		h->claim_state = FENCE_CLAIM_STATE_NONE;
		arm_timer(h, now_usec() + TICK_USEC);
		return;
	}
	if (res->outcome == ONTAP_CLAIM_WON) {
		klog(service_log(h->ctx), LOG_NOTICE, "Won the two-node claim '%s' for epoch %" PRIu64 "%s: acting alone",
		     res->name, epoch, res->adopted ? " (an earlier request made it)" : "");
		h->claim_state = FENCE_CLAIM_STATE_WON;
		service_claim_won(h->ctx, epoch);
	} else {
		klog(service_log(h->ctx), LOG_CRIT,
		     "Lost the two-node claim '%s' for epoch %" PRIu64 " to %s: fencing this node (HA guests stopped, watchdog no longer fed)",
		     res->name, epoch, res->holder ? res->holder : "the peer");
		h->claim_state = FENCE_CLAIM_STATE_LOST;
		h->peer_seen = false;
	}
	kick(h);
}

/* The two-node claim of a lone survivor (header comment), as the fence core decides it. */
static void claim_step(struct ha *h)
{
	uint64_t epoch = service_claim_pending(h->ctx);
	struct fence_result *res = NULL;
	struct fence_input in;
	char claimant[CONFIG_HOST_NAME_MAX + 32];
	int r;

	if (json_object_size(service_node_sections(h->ctx)) >= 2)
		h->peer_seen = true;
	if (!epoch)
		return;
	if (h->fc_error) {
		/* no fence level: no claim, so this lone survivor never acts (said once per epoch) */
		if (epoch != h->claim_epoch)
			klog(service_log(h->ctx), LOG_ERR, "Alone in a two-node cluster, but cannot claim epoch %" PRIu64
			     " on ONTAP: %s", epoch, h->fc_error);
		h->claim_epoch = epoch;
		return;
	}
	if (epoch != h->claim_epoch) {
		h->claim_epoch = epoch;
		h->claim_state = FENCE_CLAIM_STATE_NONE;
		h->claim_logged = FENCE_CLAIM_NONE;
	}
	/* acting: the core holds this leadership and waits only for the claim */
	in = (struct fence_input){ .config = &h->fc, .acting = true,
				   .armed = !json_object_get(service_records(h->ctx), "ha/armed"), .epoch = epoch,
				   .claim = { .needed = true, .peer_seen = h->peer_seen, .state = h->claim_state },
				   .now_usec = now_usec() };
	r = fence_decide(&in, &res);
	if (r < 0) {
		klog(service_log(h->ctx), LOG_ERR, "Two-node claim for epoch %" PRIu64 ": the fence core refused its input: %s",
		     epoch, strerror(-r));
		return;
	}
	if (res->claim != h->claim_logged && res->claim != FENCE_CLAIM_MAKE && res->claim != FENCE_CLAIM_WAIT) {
		h->claim_logged = res->claim;
		if (res->claim == FENCE_CLAIM_WAIT_FOR_PEER)
			klog(service_log(h->ctx), LOG_WARNING,
			     "Alone in a two-node cluster without having seen the peer since this kvmcd started or lost a claim: not claiming epoch %" PRIu64 ", nobody acts here until the peer is back",
			     epoch);
		else if (res->claim == FENCE_CLAIM_NONE && !in.armed)
			klog(service_log(h->ctx), LOG_WARNING, "Alone in a two-node cluster while HA is disarmed: no claim, nobody acts");
	}
	if (res->claim == FENCE_CLAIM_MAKE) {
		snprintf(claimant, sizeof(claimant), "%s/%" PRIu64, me(h), h->started_usec);
		r = leader_ontap_claim(epoch, claimant, on_claimed, (void *)(uintptr_t)epoch);
		if (r < 0) {
			klog(service_log(h->ctx), LOG_ERR, "Cannot make the two-node claim for epoch %" PRIu64 ": %s", epoch,
			     r == -ENOTCONN ? "no ONTAP link ([ontap] is needed for a two-node cluster)" : strerror(-r));
			arm_timer(h, now_usec() + ARM_RETRY_USEC);
		} else {
			klog(service_log(h->ctx), LOG_NOTICE, "Alone in a two-node cluster: claiming epoch %" PRIu64 " on ONTAP as %s",
			     epoch, claimant);
			h->claim_state = FENCE_CLAIM_STATE_PENDING;
		}
	}
	fence_result_free(res);
}

static void step(struct ha *h)
{
	claim_step(h);
	watchdog_step(h);
	waiters_check(h);
	if (h->epoch && service_is_recording(h->ctx) && !h->fc_error)
		leader_pass(h);
	publish(h);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	step(userdata);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	step(userdata);
	return 0;
}

/* ---- hooks ------------------------------------------------------------------------------------ */

/*
 * The leader's pass runs from RECORDING, not LEADING: fencing a failed host and moving its VMs
 * must not wait for the predecessor's lease (~18 s) when the failed host is the leader's own.
 * What such a predecessor may still do outside is bounded where it matters: it commits nothing
 * (no record, no VM ownership), a power-off or a storage cut it may still send only helps, and
 * an ONTAP access grant it may still have in flight is what the grants record tells (ontap
 * fence read-backs wait for the quiet point only then: leader-ontap.h).
 */
static void svc_recording(void *state, bool recording, uint64_t epoch)
{
	struct ha *h = state;

	if (recording && h->epoch != epoch) {
		/* T_L: the ontap read-back waits for this epoch's quiet point (coord/timeouts.h 6.). The
		 * same epoch again after its ROLE ended -- a NODEDOWN view whose quorum nobody vouched
		 * for yet ends it for the few ms until votequorum's verdict keeps it -- is the same
		 * leadership: nobody led in between, so its quiet point stands, unless ending it
		 * cancelled ONTAP mutations already sent (they may still land: count from now). */
		if (epoch != h->led_epoch || leader_ontap_cancelled_sent_usec() >= h->leading_since)
			h->leading_since = now_usec();
		h->epoch = h->led_epoch = epoch;
		h->patch_version = 0;
	}
	if (!recording) {
		/* a sync round or the end of the leadership: nothing new starts; an attempt of an epoch
		 * that ended is counted failed by the next leader (fence.h), so drop it */
		if (!service_recording_epoch(h->ctx) || service_recording_epoch(h->ctx) != h->epoch) {
			attempts_cancel_all(h);
			reports_clear(h);
		}
	}
	kick(h);
}

static void svc_role(void *state, bool leading, uint64_t epoch)
{
	struct ha *h = state;

	if (!leading) {
		attempts_cancel_all(h);
		reports_clear(h);
		h->epoch = 0;
	}
	kick(h); /* a lone two-node survivor's leadership: its claim */
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct ha *h = state;

	if (h->wd)
		watchdog_poke(h->wd); /* unhealthy now: stop feeding at once, not at the next tick */
	kick(h);
}

static void svc_sections(void *state)
{
	kick(state);
}

static json_t *svc_status(void *state)
{
	struct ha *h = state;
	const json_t *records = service_records(h->ctx), *v;
	json_t *fences = json_object(), *st;
	const char *k;

	json_object_foreach((json_t *)records, k, v)
		if (!strncmp(k, "fence/", 6))
			json_object_set(fences, k + 6, (json_t *)v);
	st = json_pack("{s:b,s:s?,s:s?,s:o,s:o,s:O}", "armed", !json_object_get(records, "ha/armed"), "disarmed",
		       json_object_get(records, "ha/armed") ? "HA IS DISARMED: no fencing and no recovery" : NULL, "error",
		       h->fc_error, "watchdog", watchdog_json(h), "fences", fences, "reasons", h->reasons);
	if (st) {
		json_t *lv = json_array();
		for (size_t i = 0; lv && i < h->n_levels; i++)
			json_array_append_new(lv, json_string(fence_method_name(h->levels[i])));
		json_object_set_new(st, "levels", lv ? lv : json_null());
	}
	return st;
}

/* ---- verbs ------------------------------------------------------------------------------------ */

static json_t *request(struct ha *h, uint64_t conn_id, const char *op, const char *node)
{
	struct waiter *w;

	if (!service_may_act(h->ctx))
		return api_refusal(-EAGAIN, "this node is not in a synced quorate view: the leader cannot be asked now");
	w = calloc(1, sizeof(*w));
	if (!w)
		return api_error(-ENOMEM, "out of memory");
	w->conn_id = conn_id;
	snprintf(w->id, sizeof(w->id), "%" PRIu64 ".%" PRIu64, h->started_usec, ++h->request_seq);
	snprintf(w->op, sizeof(w->op), "%s", op);
	snprintf(w->node, sizeof(w->node), "%s", node ? node : "");
	w->deadline = now_usec() + REQUEST_TIMEOUT_USEC;
	json_object_set_new(h->requests, w->id, json_pack("{s:s,s:s?}", "op", op, "node", node));
	w->next = h->waiters;
	h->waiters = w;
	publish(h);
	waiters_check(h); /* in place already: answered at once */
	return NULL;
}

static json_t *cmd_disarm(void *state, uint64_t conn_id, json_t *req)
{
	struct ha *h = state;

	if (json_object_get(service_records(h->ctx), "ha/armed"))
		return json_pack("{s:b,s:s}", "ok", 1, "message", "HA is disarmed already");
	return request(h, conn_id, "disarm", NULL);
}

static json_t *cmd_arm(void *state, uint64_t conn_id, json_t *req)
{
	struct ha *h = state;

	if (!json_object_get(service_records(h->ctx), "ha/armed"))
		return json_pack("{s:b,s:s}", "ok", 1, "message", "HA is armed already");
	return request(h, conn_id, "arm", NULL);
}

static json_t *cmd_unfence(void *state, uint64_t conn_id, json_t *req)
{
	struct ha *h = state;
	const char *name = json_string_value(json_object_get(req, "name")), *st;
	char key[CONFIG_HOST_NAME_MAX + 8];

	if (!name || !*name || strlen(name) > CONFIG_HOST_NAME_MAX)
		return api_refusal(-EINVAL, "node unfence: which node (NAME)?");
	snprintf(key, sizeof(key), "fence/%s", name);
	st = json_string_value(json_object_get(json_object_get(service_records(h->ctx), key), "status"));
	if (!st)
		return json_pack("{s:b,s:s}", "ok", 1, "message", "not fenced: nothing to unfence");
	if (strcmp(st, "confirmed"))
		return api_refusal(-EBUSY, "%s's fence is %s, not confirmed: only a confirmed fence is unfenced by hand "
				   "(a pending or failed one ends by itself once %s is back)", name, st, name);
	if (!section_of(h, name))
		return api_refusal(-ENOENT, "%s is not a member: start its kvmcd first (an unfence gives its storage access "
				   "back, which only a node that is back and runs nothing it does not own may have)", name);
	return request(h, conn_id, "unfence", name);
}

/* The node a fence-wait names: "name", or "nodeid" (corosync's) looked up among the members and
 * the ha-node/ records (a departed node's id). NULL when unknown. */
static const char *fence_wait_node(struct ha *h, json_t *req)
{
	const json_t *records = service_records(h->ctx), *v, *id = json_object_get(req, "nodeid");
	const char *name = json_string_value(json_object_get(req, "name")), *k;
	char key[16];

	if (name)
		return name;
	if (!json_is_integer(id) || json_integer_value(id) < 1 || json_integer_value(id) > UINT32_MAX)
		return NULL;
	snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	v = json_object_get(service_node_sections(h->ctx), key);
	if (section_name(v))
		return section_name(v);
	json_object_foreach((json_t *)records, k, v)
		if (!strncmp(k, "ha-node/", 8) && json_integer_value(json_object_get(v, "nodeid")) == json_integer_value(id))
			return k + 8;
	return NULL;
}

static json_t *cmd_fence_wait(void *state, uint64_t conn_id, json_t *req)
{
	struct ha *h = state;
	const char *name = fence_wait_node(h, req);
	json_int_t timeout_ms = json_integer_value(json_object_get(req, "timeout_ms"));
	json_t *since = json_object_get(req, "since");
	struct waiter *w;
	json_t *reply;

	if (!name)
		return json_object_get(req, "nodeid")
			       ? api_refusal(-ENOENT, "fence wait: corosync node id %" JSON_INTEGER_FORMAT " is not a node kvmcd knows",
					     json_integer_value(json_object_get(req, "nodeid")))
			       : api_refusal(-EINVAL, "fence wait: which node (NAME or corosync node id)?");
	if (!*name || strlen(name) > CONFIG_HOST_NAME_MAX)
		return api_refusal(-EINVAL, "fence wait: '%s' is not a node name", name);
	if (timeout_ms < 0 || timeout_ms > 3600 * 1000)
		return api_refusal(-EINVAL, "fence wait: timeout_ms must be 0..3600000");
	if (since && (!json_is_integer(since) || json_integer_value(since) < 0))
		return api_refusal(-EINVAL, "fence wait: since must be seconds since the epoch");
	w = calloc(1, sizeof(*w));
	if (!w)
		return api_error(-ENOMEM, "out of memory");
	w->conn_id = conn_id;
	snprintf(w->op, sizeof(w->op), "fence-wait");
	snprintf(w->node, sizeof(w->node), "%s", name);
	if (since)
		utc_of((time_t)json_integer_value(since), w->since);
	w->deadline = now_usec() + (uint64_t)timeout_ms * USEC_PER_MSEC;
	reply = fence_wait_answer(h, w, timeout_ms == 0);
	if (reply) {
		free(w);
		return reply;
	}
	w->next = h->waiters;
	h->waiters = w;
	arm_timer(h, w->deadline);
	return NULL;
}

static json_t *cmd_history(void *state, uint64_t conn_id, json_t *req)
{
	struct ha *h = state;
	const json_t *records = service_records(h->ctx), *v, *hist = json_object_get(records, "ha/history");
	json_t *fences = json_array();
	const char *k;

	json_object_foreach((json_t *)records, k, v)
		if (!strncmp(k, "fence/", 6)) {
			json_t *e = json_deep_copy(v);
			if (e) {
				json_object_set_new(e, "node", json_string(k + 6));
				json_array_append_new(fences, e);
			}
		}
	return json_pack("{s:b,s:b,s:o,s:o}", "ok", 1, "armed", !json_object_get(records, "ha/armed"), "fences", fences,
			 "history", json_is_array(hist) ? json_incref((json_t *)hist) : json_array());
}

static const struct service_command commands[] = {
	{ "fence-history", cmd_history },
	{ "fence-wait", cmd_fence_wait },
	{ "node-unfence", cmd_unfence },
	{ "ha-disarm", cmd_disarm },
	{ "ha-arm", cmd_arm },
	{ NULL },
};

/* ---- setup ------------------------------------------------------------------------------------ */

static void svc_free(void *state)
{
	struct ha *h = state;

	if (!h)
		return;
	if (the_ha == h)
		the_ha = NULL;
	attempts_cancel_all(h);
	reports_clear(h);
	while (h->waiters) {
		struct waiter *w = h->waiters;
		h->waiters = w->next;
		free(w);
	}
	watchdog_free(h->wd); /* stays armed: kvmcd stopping is not a reason to disarm */
	runner_free(h->runner);
	sd_event_source_disable_unref(h->timer);
	sd_event_source_disable_unref(h->kick);
	json_decref(h->evidence);
	json_decref(h->reasons);
	json_decref(h->requests);
	json_decref(h->published);
	free(h->fc_error);
	free(h->agent_dir);
	free(h->wd_path);
	free(h);
}

static void runner_log(void *userdata, int level, const char *text)
{
	fence_log(userdata, level, text);
}

/* [ha] levels, or the default: ontap (with [ontap]), agent (with agent_dir), watchdog (with one). */
static int levels_parse(struct ha *h, const struct kvmcd_config *cfg)
{
	const char *p = cfg->ha.levels;

	h->n_levels = 0;
	if (!p) {
		if (cfg->ontap.address && *cfg->ontap.address)
			h->levels[h->n_levels++] = FENCE_METHOD_ONTAP;
		if (cfg->ha.agent_dir)
			h->levels[h->n_levels++] = FENCE_METHOD_AGENT;
		if (h->t.base.watchdog_timeout_usec)
			h->levels[h->n_levels++] = FENCE_METHOD_WATCHDOG;
		return 0;
	}
	for (;;) {
		char name[16];
		size_t len = strcspn(p, ",");
		enum fence_method m;
		snprintf(name, sizeof(name), "%.*s", (int)(len < 15 ? len : 15), p + strspn(p, " "));
		name[strcspn(name, " ")] = 0;
		if (fence_method_from_name(name, &m) < 0 || h->n_levels >= FENCE_MAX_LEVELS)
			return -EINVAL;
		h->levels[h->n_levels++] = m;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	struct runner_config rc = { 0 };
	_cleanup_free_ char *why = NULL;
	struct timeouts_base b;
	struct ha *h;
	int r;

	*state = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	h->started_usec = now_usec();
	h->evidence = json_object();
	h->reasons = json_object();
	h->requests = json_object();
	if (!h->evidence || !h->reasons || !h->requests) {
		svc_free(h);
		return -ENOMEM;
	}
	r = timing_derive(cfg, &h->t, NULL, &why);
	if (r >= 0) {
		/* this node's watchdog and agent restart time: derived again with them */
		b = h->t.base;
		b.agent_restart_usec = (uint64_t)cfg->ha.agent_restart_ms * USEC_PER_MSEC;
		if (!cfg->ha.watchdog || !strcmp(cfg->ha.watchdog, "none"))
			b.watchdog_timeout_usec = 0;
		free(why);
		why = NULL;
		r = timeouts_derive(&b, &h->t, &why);
	}
	if (r < 0) {
		if (asprintf(error, "[ha] in %s: the safety timing does not fit together: %s", cfg->path,
			     why ? why : strerror(-r)) < 0)
			*error = NULL;
		svc_free(h);
		return r;
	}
	if (levels_parse(h, cfg) < 0) {
		if (asprintf(error, "[ha] in %s: levels = %s is not a list of ontap, agent, watchdog", cfg->path,
			     cfg->ha.levels) < 0)
			*error = NULL;
		svc_free(h);
		return -EINVAL;
	}
	if (!h->n_levels) {
		h->fc_error = strdup("no fence level: no [ontap], no [ha] agent_dir and no [ha] watchdog; this node "
				     "does not fence as leader, and no VM of a failed node is restarted elsewhere");
	} else {
		free(why);
		why = NULL;
		r = fence_config_from_timeouts(&h->t, h->levels, h->n_levels, &h->fc, &why);
		if (r < 0) {
			if (asprintf(error, "[ha] in %s: levels: %s", cfg->path, why ? why : strerror(-r)) < 0)
				*error = NULL;
			svc_free(h);
			return r;
		}
	}
	if (cfg->ha.agent_dir && !(h->agent_dir = strdup(cfg->ha.agent_dir))) {
		svc_free(h);
		return -ENOMEM;
	}
	rc.log = runner_log;
	rc.log_userdata = h;
	r = runner_new(service_event(ctx), &rc, &h->runner);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &h->timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 20, on_timer, h);
	if (r >= 0)
		r = sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &h->kick, on_kick, h);
	if (r >= 0)
		r = sd_event_source_set_enabled(h->kick, SD_EVENT_OFF);
	if (r >= 0 && cfg->ha.watchdog && strcmp(cfg->ha.watchdog, "none")) {
		bool sim = !strncmp(cfg->ha.watchdog, "sim:", 4);
		struct watchdog_config wc = { 0 };
		h->wd_ops = sim ? &watchdog_sim_ops : &watchdog_dev_ops;
		h->wd_path = strdup(sim ? cfg->ha.watchdog + 4 : cfg->ha.watchdog);
		wc = (struct watchdog_config){ .ops = h->wd_ops, .path = h->wd_path, .timeouts = &h->t, .healthy = wd_healthy,
					       .userdata = h, .log = fence_log, .log_userdata = h };
		r = h->wd_path ? watchdog_new(service_event(ctx), &wc, &h->wd) : -ENOMEM;
	}
	if (r < 0) {
		if (asprintf(error, "the HA service cannot start: %s", strerror(-r)) < 0)
			*error = NULL;
		svc_free(h);
		return r;
	}
	if (h->fc_error)
		klog(service_log(ctx), LOG_WARNING, "HA: %s", h->fc_error);
	the_ha = h;
	*state = h;
	return 0;
}

const struct service_ops ha_service = {
	.name = "ha",
	.init = svc_init,
	.free = svc_free,
	.role = svc_role,
	.recording = svc_recording,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};
