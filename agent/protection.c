/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The snapshot service (protection.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "leader-ontap.h"
#include "mirror-service.h"
#include "macros.h"
#include "protection-parse.h"
#include "protection-service.h"
#include "spec.h"
#include "datastore.h"
#include "vm.h"

#define RETRY_MIN_SEC 5
#define RETRY_MAX_SEC 60
#define BUSY_RETRY_SEC 3600      /* a snapshot ONTAP refused as busy is not tried again before */
#define REQUEST_TIMEOUT_SEC 180  /* a create / delete request's verdict (outcome unknown after) */
#define LISTING_MAX 20000u       /* snapshots published in the leader's section, all datastores */
#define FREEZE_WAIT_PERCENT 60   /* the leader waits for the freeze reports at most this much of the budget */
#define VMS_HISTORY_MAX 16       /* snapshots whose VM consistency a policy's protvms/ record keeps */

struct ticket;

/* One step of a pass, performed in order. */
enum job_kind { JOB_RUN, JOB_DELETE, JOB_REQUEST };
struct job {
	enum job_kind kind;
	char *policy, *label, *name; /* owned; label NULL for requests */
	char **dss;                  /* owned: the datastores it covers (a delete: where it exists) */
	size_t n_dss, next;          /* next: the datastore a delete works on */
	int64_t slot;                /* JOB_RUN */
	char *req_id;                /* owned: JOB_REQUEST's id ("<node>/<nonce>.<n>") */
	char *op;                    /* owned: JOB_REQUEST's "create" | "delete" */
	char *error;                 /* owned: the last failure of this job */
};

struct pass {
	uint64_t gen;                /* the tickets of this pass carry it */
	json_t *listing;             /* owned: {"<ds>": [{"name","create_time","busy"}]} */
	size_t pending;              /* listings in flight */
	bool list_failed;
	struct job *jobs;            /* owned */
	size_t n_jobs, cur;
	bool waiting;                /* for records to commit (wait_version) */
	bool failed;                 /* a job failed: retry with backoff */
	bool changed;                /* a snapshot was taken or deleted: list again (snapshot list) */
	int64_t wake;                /* the scheduler's, UTC seconds; INT64_MAX: none */
};

/* A request this node sent the leader (the asking side). */
struct preq {
	char *id;                    /* owned */
	json_t *body;                /* owned: {"op", ...} as published */
	uint64_t conn_id;
	uint64_t deadline;           /* CLOCK_MONOTONIC usec */
	struct preq *next;
};

/* The leader's VM-consistent run (consistency "vm"), one at a time: the job of pass pass_gen at
 * index job. */
struct frz {
	bool active;                 /* the freeze is asked; the snapshot is not taken yet */
	bool taking;                 /* the snapshot call is in flight */
	bool thaw;                   /* the run is over: "thaw" is published (until the next run) */
	uint64_t run;                /* epoch << 24 | sequence: only grows (freeze.h) */
	uint64_t pass_gen;
	size_t job;
	uint64_t t0;                 /* CLOCK_MONOTONIC usec when the freeze was published */
	uint64_t budget;             /* usec: the nodes' deadline, relative ([protection] freeze_budget) */
	char *snapshot;              /* owned: the snapshot's name */
	json_t *nodes;               /* owned: {"<node>": ["<vm>", ...]}: asked to freeze */
	json_t *scope;               /* owned: {"<vm>": {"node", "why"?}}: why = crash-consistent
					without asking (paused, state unknown) */
};

struct prot {
	struct service_ctx *ctx;     /* borrowed */
	sd_event_source *timer;      /* owned: CLOCK_REALTIME, the next pass */
	sd_event_source *poll;       /* owned: CLOCK_MONOTONIC, 1 s: the test clock file, request deadlines */
	sd_event_source *kick_src;   /* owned: defer, a pass soon */
	char *clock_file;            /* owned: [protection] test_clock_offset_file, NULL normally */
	int64_t clock_offset;        /* seconds, read from clock_file */
	bool clock_fixed;            /* clock_file says "@T": the schedules' now is T, frozen */
	uint64_t epoch;              /* acting epoch; 0 = not acting */
	struct pass *pass;           /* owned: the pass in progress, NULL when none */
	uint64_t gen;                /* pass generation */
	bool again;                  /* something changed during the pass */
	unsigned failures;           /* consecutive failed passes (backoff) */
	uint64_t wait_version;       /* the last patch of ours; a pass decides only once it commits */
	uint64_t spec_sig;           /* what the pass reads of the committed document (a hash) */
	struct ticket *tickets;      /* outstanding ONTAP callbacks (orphaned on free) */
	/* the leader's soft output, published in its section */
	json_t *listing;             /* owned: the last complete listing, {"<ds>": [...]} */
	int64_t listed_at;
	json_t *health;              /* owned: {"<policy>": {"error", "at", "kept": [...]}} */
	json_t *busy_until;          /* owned: {"<ds>@<name>": UTC seconds} */
	json_t *answers;             /* owned: {"<id>": reply} */
	json_t *published;           /* owned: what was last published */
	struct frz frz;              /* the VM-consistent run; owns its members */
	uint64_t frz_seq;
	sd_event_source *frz_timer;  /* owned: CLOCK_MONOTONIC, the leader's wait for the reports */
	/* the asking side */
	struct preq *reqs;           /* owned */
	char nonce[16];
	uint64_t seq;
};

/* userdata of an ONTAP call: orphaned (p NULL) when the service is freed first. */
struct ticket {
	struct prot *p;
	uint64_t gen;
	char *ds;                    /* owned: a listing's datastore */
	struct ticket *next;
};

static void pass_kick(struct prot *p);
static void pass_step(struct prot *p);
static void publish(struct prot *p);
static json_t *frz_result(struct prot *p, bool ok);
static void frz_end(struct prot *p, const char *why);
static void frz_clear(struct prot *p);
static void frz_check(struct prot *p);
static void take_vm(struct prot *p, struct job *j);

/* ---- small helpers ----------------------------------------------------------------------- */

static struct klog *plog(struct prot *p)
{
	return service_log(p->ctx);
}

static const char *me(struct prot *p)
{
	return service_config(p->ctx)->node_name;
}

static uint64_t mono_usec(struct prot *p)
{
	uint64_t t = 0;

	sd_event_now(service_event(p->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

/* The test clock ([protection] test_clock_offset_file): "N" seconds added to the wall clock, or
 * "@T" the time T (UTC seconds), frozen; unreadable: offset 0. */
static void read_clock(const char *path, int64_t *v, bool *fixed)
{
	_cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
	long long x = 0;
	int c;

	*v = 0;
	*fixed = false;
	if (!f)
		return;
	c = fgetc(f);
	if (c == '@')
		*fixed = true;
	else if (c != EOF)
		ungetc(c, f);
	if (fscanf(f, "%lld", &x) != 1 || x < -PROT_TIME_MAX || x > PROT_TIME_MAX || (*fixed && x < 0)) {
		*fixed = false;
		return;
	}
	*v = (int64_t)x;
}

/* The wall clock the schedules read: UTC seconds, clamped to the scheduler's range. */
static int64_t wall_now(struct prot *p)
{
	struct timespec ts;
	int64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = p->clock_fixed ? p->clock_offset : (int64_t)ts.tv_sec + p->clock_offset;
	return t < 0 ? 0 : t > PROT_TIME_MAX ? PROT_TIME_MAX : t;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static char **strv_dup(const char *const *v, size_t n)
{
	char **o = calloc(n ? n : 1, sizeof(*o));

	for (size_t i = 0; o && i < n; i++)
		if (!(o[i] = strdup(v[i]))) {
			strv_free(o, i);
			return NULL;
		}
	return o;
}

static void job_clear(struct job *j)
{
	free(j->policy);
	free(j->label);
	free(j->name);
	strv_free(j->dss, j->n_dss);
	free(j->req_id);
	free(j->op);
	free(j->error);
}

static void pass_free(struct pass *ps)
{
	if (!ps)
		return;
	json_decref(ps->listing);
	for (size_t i = 0; i < ps->n_jobs; i++)
		job_clear(&ps->jobs[i]);
	free(ps->jobs);
	free(ps);
}

static struct ticket *ticket_new(struct prot *p, const char *ds)
{
	struct ticket *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (ds && !(t->ds = strdup(ds))) {
		free(t);
		return NULL;
	}
	t->p = p;
	t->gen = p->pass ? p->pass->gen : 0;
	t->next = p->tickets;
	p->tickets = t;
	return t;
}

/* Takes t off its service's list and frees it; returns the pass it belongs to, or NULL when
 * that pass (or the service) is gone. */
static struct pass *ticket_take(struct ticket *t, struct prot **pp)
{
	struct prot *p = t->p;
	struct pass *ps = NULL;

	if (p) {
		for (struct ticket **q = &p->tickets; *q; q = &(*q)->next)
			if (*q == t) {
				*q = t->next;
				break;
			}
		if (p->pass && p->pass->gen == t->gen)
			ps = p->pass;
	}
	*pp = p;
	free(t->ds);
	free(t);
	return ps;
}

static const char *ontap_why(int r, const struct ontap_error *err, char *buf, size_t size)
{
	if (err && (err->message || err->code))
		return ontap_error_format(err, buf, size);
	snprintf(buf, size, "%s", strerror(-r));
	return buf;
}

/* records["ds/<name>"] says the datastore's volume is there (the datastore loop wrote it). */
static bool ds_ready(struct prot *p, const char *ds)
{
	char key[256];

	snprintf(key, sizeof(key), "ds/%s", ds);
	return json_is_true(json_object_get(json_object_get(service_records(p->ctx), key), "ready"));
}

static void health_set(struct prot *p, const char *policy, const char *fmt, ...) _printf_(3, 4);
static void health_set(struct prot *p, const char *policy, const char *fmt, ...)
{
	json_t *h = json_object_get(p->health, policy);
	char buf[1024];
	va_list ap;

	if (!h) {
		h = json_object();
		if (!h || json_object_set_new(p->health, policy, h) < 0)
			return;
	}
	if (!fmt) {
		json_object_del(h, "error");
		json_object_del(h, "at");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_set_new(h, "error", json_string(buf));
	json_object_set_new(h, "at", json_integer(wall_now(p)));
}

/* ---- the leader's section ---------------------------------------------------------------- */

static json_t *requests_json(struct prot *p)
{
	json_t *o = json_object();

	for (struct preq *q = p->reqs; q && o; q = q->next)
		json_object_set(o, q->id, q->body);
	return o;
}

static void publish(struct prot *p)
{
	_cleanup_free_ char *error = NULL;
	json_t *part = json_object(), *reqs = requests_json(p);
	int r;

	if (!part || !reqs) {
		json_decref(part);
		json_decref(reqs);
		return;
	}
	if (json_object_size(reqs))
		json_object_set(part, "protection_requests", reqs);
	json_decref(reqs);
	/* COPIES of the live objects: p->published keeps this part to compare the next one with, and
	 * an object changed in place later would compare equal to itself and never be sent */
	if (p->epoch) {
		if (json_object_size(p->answers))
			json_object_set_new(part, "protection_answers", json_deep_copy(p->answers));
		if (p->listing)
			json_object_set_new(part, "protection_listing",
					    json_pack("{sIsIso}", "epoch", (json_int_t)p->epoch, "at", (json_int_t)p->listed_at,
						      "datastores", json_deep_copy(p->listing)));
		json_object_set_new(part, "protection_health",
				    json_pack("{sIso}", "epoch", (json_int_t)p->epoch, "policies", json_deep_copy(p->health)));
		if (p->frz.run && (p->frz.active || p->frz.thaw))
			json_object_set_new(part, "protection_freeze",
					    json_pack("{sIsIsssIso}", "epoch", (json_int_t)p->epoch, "run", (json_int_t)p->frz.run,
						      "phase", p->frz.active ? "freeze" : "thaw", "budget_ms",
						      (json_int_t)(p->frz.budget / USEC_PER_MSEC), "nodes", json_deep_copy(p->frz.nodes)));
	}
	if (p->published && json_equal(p->published, part)) {
		json_decref(part);
		return;
	}
	r = service_node_publish(p->ctx, part, &error);
	if (r < 0 && r != -EOPNOTSUPP) {
		klog(plog(p), LOG_WARNING, "Cannot publish this node's protection section: %s", error ? error : strerror(-r));
		json_decref(part);
		return;
	}
	json_decref(p->published);
	p->published = part;
}

/* The section of the member that published `key` under the highest epoch (the acting leader's,
 * or its predecessor's while it has not published yet). Borrowed; *name its node. */
static const json_t *leader_part(struct prot *p, const char *key, const char **name)
{
	return service_leader_part(p->ctx, key, name);
}

const json_t *protection_leader_listing(struct service_ctx *ctx)
{
	return service_leader_part(ctx, "protection_listing", NULL);
}

/* ---- the pass: list, decide, perform ------------------------------------------------------ */

static void arm_timer(struct prot *p, int64_t wake)
{
	int64_t now = wall_now(p), at;
	uint64_t usec;

	if (p->failures) {
		int64_t back = RETRY_MIN_SEC << (p->failures > 4 ? 4 : p->failures - 1);
		if (back > RETRY_MAX_SEC)
			back = RETRY_MAX_SEC;
		if (wake > now + back)
			wake = now + back;
	}
	if (wake == INT64_MAX) {
		sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
		return;
	}
	/* CLOCK_REALTIME, absolute: a jump of the clock moves the timer with it. (The test clock:
	 * as far ahead of the real clock as wake is of its now; a frozen one moves only when its
	 * file changes, which on_poll sees.) */
	if (p->clock_file) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		at = (int64_t)ts.tv_sec + (wake - now);
	} else {
		at = wake;
	}
	usec = at <= 0 ? 1 : (uint64_t)at * USEC_PER_SEC;
	sd_event_source_set_time(p->timer, usec);
	sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static void pass_end(struct prot *p)
{
	struct pass *ps = p->pass;
	int64_t wake = ps ? ps->wake : INT64_MAX;

	if (ps && (ps->failed || ps->list_failed))
		p->failures++;
	else if (ps)
		p->failures = 0;
	if (ps && ps->changed)
		p->again = true; /* the listing the verbs show is read again */
	frz_end(p, "the pass ended");
	p->pass = NULL;
	pass_free(ps);
	publish(p);
	if (!p->epoch)
		return;
	arm_timer(p, wake);
	if (p->again)
		pass_kick(p);
}

/* The policies of the committed spec (borrowed: service_prot_policies()), NULL when none. */
static const struct prot_policy *policies_of(struct prot *p, size_t *n)
{
	const struct prot_policy *pols = NULL;

	if (service_prot_policies(p->ctx, &pols, n) < 0) {
		*n = 0;
		return NULL;
	}
	return pols;
}

static bool policy_ready(struct prot *p, const struct prot_policy *pol, const char **missing)
{
	if (pol->n_datastores == 0) {
		*missing = NULL;
		return false;
	}
	for (size_t i = 0; i < pol->n_datastores; i++)
		if (!ds_ready(p, pol->datastores[i])) {
			*missing = pol->datastores[i];
			return false;
		}
	return true;
}

static int job_add(struct pass *ps, struct job **out)
{
	struct job *j = realloc(ps->jobs, (ps->n_jobs + 1) * sizeof(*j));

	if (!j)
		return -ENOMEM;
	ps->jobs = j;
	*out = memset(&j[ps->n_jobs++], 0, sizeof(*j));
	return 0;
}

/* The records of every (policy, label) the policies have, for the scheduler. Borrowed strings
 * (from the records document and pols): valid until the caller returns to the loop. */
static struct sched_record *records_of(struct prot *p, const struct prot_policy *pols, size_t n_pols, size_t *n)
{
	struct sched_record *recs;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < n_pols; i++)
		total += pols[i].n_schedules;
	recs = calloc(total ? total : 1, sizeof(*recs));
	if (!recs)
		return NULL;
	for (size_t i = 0; i < n_pols; i++)
		for (size_t s = 0; s < pols[i].n_schedules; s++) {
			char key[PROT_RECORD_KEY_MAX];
			const json_t *rec;

			if (prot_record_key(pols[i].name, pols[i].schedules[s].label, key) < 0)
				continue;
			rec = json_object_get(service_records(p->ctx), key);
			if (!rec)
				continue;
			recs[k].policy = pols[i].name;
			recs[k].label = pols[i].schedules[s].label;
			prot_record_slots(rec, &recs[k].started, &recs[k].done);
			k++;
		}
	*n = k;
	return recs;
}

/* Requests of every member's section this leader has not answered yet become jobs. */
static void requests_to_jobs(struct prot *p, struct pass *ps)
{
	const json_t *v, *body;
	const char *k, *id;

	json_object_foreach((json_t *)service_node_sections(p->ctx), k, v) {
		json_object_foreach(json_object_get(json_object_get(v, "section"), "protection_requests"), id, body) {
			const char *op = json_string_value(json_object_get(body, "op"));
			const char *name = json_string_value(json_object_get(body, "name"));
			const char *policy = json_string_value(json_object_get(body, "policy"));
			struct job *j;

			if (json_object_get(p->answers, id) || !op || !name)
				continue;
			if (job_add(ps, &j) < 0)
				return;
			j->kind = JOB_REQUEST;
			j->req_id = strdup(id);
			j->op = strdup(op);
			j->name = strdup(name);
			j->policy = policy ? strdup(policy) : NULL;
		}
	}
}

static void answer(struct prot *p, const char *id, json_t *reply)
{
	if (reply && id)
		json_object_set_new(p->answers, id, reply);
	else
		json_decref(reply);
}

static void decide(struct prot *p, struct pass *ps)
{
	const struct prot_policy *pols = NULL;
	size_t n_pols = 0, n_ready = 0, n_recs = 0, n_snaps = 0, total = 0;
	_cleanup_free_ struct prot_policy *ready = NULL;
	_cleanup_free_ struct sched_record *recs = NULL;
	_cleanup_free_ struct sched_snapshot *snaps = NULL;
	struct sched_result res = { 0 };
	const json_t *arr, *s;
	const char *ds;
	int64_t now = wall_now(p);
	size_t i;
	int r;

	pols = policies_of(p, &n_pols);
	ready = calloc(n_pols ? n_pols : 1, sizeof(*ready));
	if (!ready)
		goto fail;
	/* only policies whose datastores are all there run (the others wait, and say so) */
	for (i = 0; i < n_pols; i++) {
		const char *missing = NULL;

		if (policy_ready(p, &pols[i], &missing)) {
			ready[n_ready++] = pols[i];
			if (json_is_string(json_object_get(json_object_get(p->health, pols[i].name), "waiting")))
				json_object_del(json_object_get(p->health, pols[i].name), "waiting");
		} else {
			json_t *h = json_object_get(p->health, pols[i].name);
			if (!h && (h = json_object()))
				json_object_set_new(p->health, pols[i].name, h);
			if (h)
				json_object_set_new(h, "waiting", json_string(missing ? missing : "(no datastore)"));
		}
	}
	/* the health of policies no longer in the spec goes */
	{
		const char *k;
		json_t *v, *tmp;
		json_object_foreach_safe(p->health, tmp, k, v) {
			bool found = false;
			for (i = 0; i < n_pols && !found; i++)
				found = !strcmp(pols[i].name, k);
			if (!found)
				json_object_del(p->health, k);
		}
	}
	recs = records_of(p, ready, n_ready, &n_recs);
	json_object_foreach(ps->listing, ds, arr)
		total += json_array_size(arr);
	snaps = calloc(total ? total : 1, sizeof(*snaps));
	if (!recs || !snaps)
		goto fail;
	json_object_foreach(ps->listing, ds, arr)
		json_array_foreach(arr, i, s) {
			char key[512];
			const char *name = json_string_value(json_object_get(s, "name"));

			snprintf(key, sizeof(key), "%s@%s", ds, name);
			snaps[n_snaps].datastore = ds;
			snaps[n_snaps].name = name;
			snaps[n_snaps].busy = json_is_true(json_object_get(s, "busy")) ||
					      json_integer_value(json_object_get(p->busy_until, key)) > now;
			n_snaps++;
		}
	{
		struct sched_input in = { .policies = ready, .n_policies = n_ready, .records = recs, .n_records = n_recs,
					  .snapshots = snaps, .n_snapshots = ps->list_failed ? 0 : n_snaps,
					  .now = now, .grace = SCHED_GRACE_DEFAULT };
		r = sched_decide(&in, &res);
	}
	if (r < 0) {
		klog(plog(p), LOG_ERR, "Snapshot schedules: cannot decide: %s", strerror(-r));
		goto fail;
	}
	ps->wake = res.wake;
	for (i = 0; i < res.n_runs; i++) {
		const struct sched_run *run = &res.runs[i];
		const struct prot_policy *pol = &ready[run->policy];
		struct job *j;
		char slot[SCHED_SLOT_TEXT];

		if (run->kind != SCHED_SNAPSHOT)
			continue; /* SnapMirror is not wired yet */
		if (job_add(ps, &j) < 0)
			goto fail;
		j->kind = JOB_RUN;
		j->policy = strdup(pol->name);
		j->label = strdup(pol->schedules[run->schedule].label);
		j->name = strdup(run->name);
		j->dss = strv_dup(pol->datastores, pol->n_datastores);
		j->n_dss = j->dss ? pol->n_datastores : 0;
		j->slot = run->slot;
		klog(plog(p), LOG_INFO, "Snapshot run %s of policy '%s' (%s, slot %s) is due", run->name, pol->name,
		     sched_why_name(run->why), sched_slot_format(run->slot, slot));
	}
	requests_to_jobs(p, ps);
	/* retention: the policy's kept snapshots are reported; the deletes come last */
	for (i = 0; i < n_ready; i++) {
		json_t *h = json_object_get(p->health, ready[i].name), *kept = json_array();
		if (!h && (h = json_object()))
			json_object_set_new(p->health, ready[i].name, h);
		for (size_t k = 0; kept && k < res.n_kept; k++)
			if (res.kept[k].policy == i)
				json_array_append_new(kept, json_pack("{ssssss}", "datastore", res.kept[k].datastore, "name",
								      res.kept[k].name, "why", sched_kept_name(res.kept[k].why)));
		if (h && kept)
			json_object_set_new(h, "kept", kept);
		else
			json_decref(kept);
	}
	for (i = 0; i < res.n_deletes && !ps->list_failed; i++) {
		const struct sched_delete *d = &res.deletes[i];
		struct job *j;

		if (job_add(ps, &j) < 0)
			goto fail;
		j->kind = JOB_DELETE;
		j->policy = strdup(ready[d->policy].name);
		j->name = strdup(d->name);
		j->dss = strv_dup(&d->datastore, 1);
		j->n_dss = j->dss ? 1 : 0;
	}
	sched_result_clear(&res);
	publish(p);
	pass_step(p);
	return;
fail:
	sched_result_clear(&res);
	ps->failed = true;
	pass_end(p);
}

static void on_listed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct ticket *t = userdata;
	_cleanup_free_ char *ds = t->ds ? strdup(t->ds) : NULL;
	struct prot *p;
	struct pass *ps = ticket_take(t, &p);
	struct prot_snap *snaps = NULL;
	size_t n = 0;
	char buf[1024];
	json_t *arr;

	if (!ps || !ds)
		return;
	if (r >= 0)
		r = prot_listing_parse(obj ? obj->record : NULL, &snaps, &n);
	if (r < 0) {
		if (r != -ECANCELED && r != -ESTALE)
			klog(plog(p), LOG_WARNING, "Cannot list the snapshots of datastore '%s': %s", ds,
			     ontap_why(r, err, buf, sizeof(buf)));
		ps->list_failed = true;
	} else if ((arr = json_array())) {
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{sssssb}", "name", snaps[i].name, "create_time",
							     snaps[i].create_time, "busy", snaps[i].busy));
		json_object_set_new(ps->listing, ds, arr);
	}
	prot_listing_free(snaps, n);
	if (--ps->pending)
		return;
	if (!p->epoch) {
		pass_end(p);
		return;
	}
	if (!ps->list_failed) {
		size_t total = 0;
		const char *k;
		json_t *v;

		json_object_foreach(ps->listing, k, v)
			total += json_array_size(v);
		json_decref(p->listing);
		p->listing = total <= LISTING_MAX ? json_deep_copy(ps->listing) : json_pack("{s[]}", "(too many to show)");
		p->listed_at = wall_now(p);
	}
	decide(p, ps);
}

/* The leader's patch over records (borrowed) under the acting epoch, what naming it for the log;
 * sets wait_version. */
static int records_patch(struct prot *p, const json_t *patch, const char *what)
{
	_cleanup_free_ char *error = NULL;
	uint64_t version = 0;
	int r = service_leader_patch(p->ctx, p->epoch, patch, &version, &error);

	if (r < 0) {
		klog(plog(p), LOG_WARNING, "Cannot record %s: %s", what, error ? error : strerror(-r));
		return r;
	}
	klog(plog(p), LOG_DEBUG, "Recording %s (version %" PRIu64 ")", what, version);
	if (version > p->wait_version)
		p->wait_version = version;
	return 0;
}

/*
 * The schedule records (prot/<policy>/<label>) of policies and schedules no longer in the spec
 * go, in one patch: nothing reads them any more, and a spec that comes and goes must not leave
 * the document growing. The snapshots they took stay on ONTAP (retention deletes only what a
 * policy of the spec keeps; `kvmcctl snapshot delete` removes the others), and so does the VM
 * consistency history (protvms/<policy>, bounded), which `snapshot list` shows for them.
 */
static void records_prune(struct prot *p)
{
	const struct prot_policy *pols = NULL;
	size_t n = 0;
	json_t *drop = json_object(), *v;
	const char *k;

	if (service_prot_policies(p->ctx, &pols, &n) < 0) {
		json_decref(drop);
		return; /* the spec's policies unknown (ENOMEM): nothing can be said to have left */
	}
	json_object_foreach((json_t *)service_records(p->ctx), k, v) {
		const char *pl, *slash;
		bool keep = false;

		if (!drop || strncmp(k, PROT_RECORD_PREFIX, strlen(PROT_RECORD_PREFIX)))
			continue;
		pl = k + strlen(PROT_RECORD_PREFIX);
		if (!(slash = strchr(pl, '/')))
			continue;
		for (size_t i = 0; i < n && !keep; i++) {
			if (strlen(pols[i].name) != (size_t)(slash - pl) || strncmp(pols[i].name, pl, (size_t)(slash - pl)))
				continue;
			if (pols[i].has_mirror && !pols[i].mirror.update_after_snapshot &&
			    !strcmp(slash + 1, SCHED_MIRROR_LABEL))
				keep = true;
			for (size_t s = 0; s < pols[i].n_schedules && !keep; s++)
				keep = !strcmp(pols[i].schedules[s].label, slash + 1);
		}
		if (!keep)
			json_object_set_new(drop, k, json_null());
	}
	if (drop && json_object_size(drop) && records_patch(p, drop, "the drop of schedule records that left the spec") == 0)
		json_object_foreach(drop, k, v)
			klog(plog(p), LOG_NOTICE, "Dropped the record %s: its policy or schedule left the spec (the "
			     "snapshots it took stay on ONTAP)", k);
	json_decref(drop);
}

static void pass_start(struct prot *p)
{
	const struct ds_spec *dss = NULL;
	size_t n_pols = 0, n_ds = 0;
	struct pass *ps;
	int r;

	if (!p->epoch || p->pass)
		return;
	if (p->wait_version && service_committed_version(p->ctx) < p->wait_version)
		return; /* the committed hook comes back: decide on our own records */
	records_prune(p);
	if (p->wait_version && service_committed_version(p->ctx) < p->wait_version)
		return; /* pruned: decide once that is committed */
	p->again = false;
	(void)policies_of(p, &n_pols);
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->listing = json_object())) {
		free(ps);
		return;
	}
	ps->gen = ++p->gen;
	ps->wake = INT64_MAX;
	p->pass = ps;
	if (n_pols && service_ds_specs(p->ctx, &dss, &n_ds) < 0)
		n_ds = 0;
	ps->pending = 1; /* held while the listings are sent */
	for (size_t i = 0; i < n_ds; i++) {
		struct ticket *t;

		if (!ds_ready(p, dss[i].name))
			continue;
		t = ticket_new(p, dss[i].name);
		if (!t) {
			ps->list_failed = true;
			break;
		}
		r = leader_ontap_snapshot(LEADER_SNAP_LIST, dss[i].name, NULL, on_listed, t);
		if (r < 0) {
			struct prot *q;
			ticket_take(t, &q);
			if (r != -ENOTCONN)
				klog(plog(p), LOG_WARNING, "Cannot list the snapshots of datastore '%s': %s", dss[i].name,
				     strerror(-r));
			ps->list_failed = true;
			break;
		}
		ps->pending++;
	}
	if (--ps->pending)
		return;
	if (n_ds == 0 && n_pols == 0) {
		json_decref(p->listing);
		p->listing = NULL;
	} else if (!ps->list_failed) {
		json_decref(p->listing);
		p->listing = json_deep_copy(ps->listing);
		p->listed_at = wall_now(p);
	}
	decide(p, ps);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	struct prot *p = userdata;

	if (p->pass)
		p->again = true;
	else
		pass_start(p);
	return 0;
}

static void pass_kick(struct prot *p)
{
	if (p->pass) {
		p->again = true;
		return;
	}
	sd_event_source_set_enabled(p->kick_src, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	pass_kick(userdata);
	return 0;
}

/* ---- performing a job ------------------------------------------------------------------- */

/* A merge patch of records[key] under the acting epoch; sets wait_version. */
static int record_patch(struct prot *p, const char *key, json_t *value)
{
	json_auto_t *patch = json_object();

	if (!patch || !value || json_object_set_new(patch, key, value) < 0) {
		klog(plog(p), LOG_ERR, "Cannot record %s: out of memory", key);
		return -ENOMEM;
	}
	return records_patch(p, patch, key);
}

/* ", VM-consistent: a, b; crash-consistent: c (agent-timeout)" for the log and the answers. */
static void vms_summary(const json_t *vms, char *buf, size_t size)
{
	size_t len = strlen(buf);
	const char *vm;
	json_t *e;

	for (int pass = 0; pass < 2; pass++) {
		bool first = true;
		json_object_foreach((json_t *)vms, vm, e) {
			bool c = json_is_true(json_object_get(e, "consistent"));
			if (c != (pass == 0))
				continue;
			len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s%s%s%s%s",
					       first ? (pass == 0 ? "; VM-consistent: " : "; crash-consistent: ") : ", ", vm,
					       c ? "" : " (", c ? "" : json_string_value(json_object_get(e, "why")) ?: "?",
					       c ? "" : ")", "");
			first = false;
		}
	}
	if (!json_object_size(vms))
		snprintf(buf + len, len < size ? size - len : 0, "; no running VM to freeze");
}

/*
 * The record of a vm policy's snapshot: records["protvms/<policy>"] {"<snapshot>": {"at", "vms"}},
 * the VMS_HISTORY_MAX newest, carried forward whole (a record is replaced whole); with rec (taken)
 * set as records[prot/<policy>/<label>] in the same patch.
 */
static int record_vms(struct prot *p, const struct job *j, const json_t *vms, json_t *rec)
{
	_cleanup_free_ char *error = NULL;
	char key[PROT_RECORD_KEY_MAX + 16], hkey[PROT_NAME_MAX + 16];
	json_auto_t *patch = json_object();
	json_t *hist;
	uint64_t version = 0;
	int r;

	snprintf(hkey, sizeof(hkey), PROT_VMS_RECORD_PREFIX "%s", j->policy);
	hist = json_deep_copy(json_object_get(service_records(p->ctx), hkey));
	if (!json_is_object(hist)) {
		json_decref(hist);
		hist = json_object();
	}
	if (!patch || !hist) {
		json_decref(hist);
		json_decref(rec);
		return -ENOMEM;
	}
	if (prot_vms_history_add(hist, j->name, wall_now(p), vms, VMS_HISTORY_MAX) < 0) {
		json_decref(hist);
		json_decref(rec);
		return -ENOMEM;
	}
	json_object_set_new(patch, hkey, hist);
	if (rec && j->label && prot_record_key(j->policy, j->label, key) == 0)
		json_object_set_new(patch, key, rec);
	else
		json_decref(rec);
	r = service_leader_patch(p->ctx, p->epoch, patch, &version, &error);
	if (r < 0) {
		klog(plog(p), LOG_WARNING, "Cannot record the VM consistency of snapshot %s: %s", j->name,
		     error ? error : strerror(-r));
		return r;
	}
	if (version > p->wait_version)
		p->wait_version = version;
	return 0;
}

static void job_next(struct prot *p)
{
	if (p->pass) {
		p->pass->cur++;
		pass_step(p);
	}
}

static void job_failed(struct prot *p, struct job *j, const char *fmt, ...) _printf_(3, 4);
static void job_failed(struct prot *p, struct job *j, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(j->error);
	j->error = strdup(buf);
	if (j->kind != JOB_REQUEST) {
		p->pass->failed = true;
		if (j->policy)
			health_set(p, j->policy, "%s", buf);
	}
	klog(plog(p), LOG_ERR, "%s", buf);
}

static void request_done(struct prot *p, struct job *j, bool ok, int err, const char *msg)
{
	json_t *reply = ok ? json_pack("{sbss}", "ok", 1, "message", msg)
			   : json_pack("{sbsssiss}", "ok", 0, "outcome", "refused", "errno", err, "error", msg);

	if (reply && j->name)
		json_object_set_new(reply, "name", json_string(j->name));
	answer(p, j->req_id, reply);
	publish(p);
}

static void taken(struct prot *p, struct pass *ps, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct job *j = &ps->jobs[ps->cur];
	char buf[1024], dss[512] = "";
	json_auto_t *vms = NULL;

	if (p->frz.active && p->frz.pass_gen == ps->gen && p->frz.job == ps->cur) {
		/* the thaw goes out now, the snapshot call having returned (taken or not) */
		vms = frz_result(p, r >= 0);
		frz_end(p, r >= 0 ? "snapshot taken" : "snapshot failed");
	}
	for (size_t i = 0; i < j->n_dss; i++)
		snprintf(dss + strlen(dss), sizeof(dss) - strlen(dss), "%s%s", i ? ", " : "", j->dss[i]);
	if (r < 0) {
		ontap_why(r, err, buf, sizeof(buf));
		if (r == -EOPNOTSUPP)
			snprintf(buf, sizeof(buf), "ONTAP before 9.10.1 has no consistency groups: a policy of several datastores needs them");
		if (j->kind == JOB_REQUEST) {
			job_failed(p, j, "On-demand snapshot %s of policy '%s' (%s) failed: %s", j->name, j->policy, dss, buf);
			request_done(p, j, false, -r, j->error);
		} else {
			job_failed(p, j, "Snapshot %s of policy '%s' (%s) failed: %s", j->name, j->policy, dss, buf);
		}
		if (r == -ECANCELED || r == -ESTALE || r == -ENOTCONN || !p->epoch) {
			pass_end(p);
			return;
		}
		job_next(p);
		return;
	}
	if (!obj || !obj->adopted)
		ps->changed = true;
	if (j->kind == JOB_REQUEST) {
		snprintf(buf, sizeof(buf), "snapshot %s taken on %s", j->name, dss);
		klog(plog(p), LOG_NOTICE, "On-demand snapshot %s of policy '%s' taken on %s", j->name, j->policy, dss);
		if (vms) {
			vms_summary(vms, buf + strlen(buf), sizeof(buf) - strlen(buf));
			(void)record_vms(p, j, vms, NULL);
		}
		request_done(p, j, true, 0, buf);
	} else {
		char key[PROT_RECORD_KEY_MAX];

		char sum[512] = "";

		if (vms)
			vms_summary(vms, sum, sizeof(sum));
		klog(plog(p), LOG_NOTICE, "Snapshot %s of policy '%s' taken on %s%s%s", j->name, j->policy, dss,
		     obj && obj->adopted ? " (it was there already)" : "", sum);
		health_set(p, j->policy, NULL);
		/* 3. done = slot (a sync round meanwhile: the next pass resumes and finds it taken);
		 * a vm policy's record says which VMs were consistent, in the same patch */
		if (p->epoch && prot_record_key(j->policy, j->label, key) == 0) {
			json_t *rec = json_pack("{sIsssI}", "done", (json_int_t)j->slot, "last_snapshot", j->name, "done_at",
						(json_int_t)wall_now(p));
			if (rec && vms) {
				json_object_set_new(rec, "consistency", json_string("vm"));
				json_object_set(rec, "vms", vms);
			}
			if (vms)
				(void)record_vms(p, j, vms, rec);
			else
				(void)record_patch(p, key, rec);
		}
	}
	job_next(p);
}

static void on_taken(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct prot *p;
	struct pass *ps = ticket_take(userdata, &p);

	if (ps)
		taken(p, ps, r, obj, err);
}

/* The snapshot of j on its datastores (one: a volume snapshot; several: a CG snapshot). */
static void take(struct prot *p, struct job *j)
{
	struct ticket *t = ticket_new(p, NULL);
	int r;

	if (!t) {
		job_failed(p, j, "Snapshot %s: out of memory", j->name);
		job_next(p);
		return;
	}
	if (j->n_dss == 1)
		r = leader_ontap_snapshot(LEADER_SNAP_ENSURE, j->dss[0], j->name, on_taken, t);
	else
		r = leader_ontap_cg_snapshot(j->policy, (const char *const *)j->dss, j->n_dss, j->name, on_taken, t);
	if (r < 0) {
		struct prot *q;
		ticket_take(t, &q);
		taken(p, p->pass, r, NULL, NULL); /* nothing was started */
	}
}

/* ---- VM-consistent runs (consistency "vm"; protection-service.h) --------------------------- */

/* The member section of node `name` ("section"), NULL when none. Borrowed. */
static const json_t *section_of(struct prot *p, const char *name)
{
	const json_t *v;
	const char *k;

	json_object_foreach((json_t *)service_node_sections(p->ctx), k, v)
		if (name && !strcmp(json_string_value(json_object_get(v, "name")) ?: "", name))
			return json_object_get(v, "section");
	return NULL;
}

static bool policy_is_vm(struct prot *p, const char *policy, bool *by_vms_out, json_t **vms_out)
{
	const struct prot_policy *pols = NULL;
	size_t n = 0;
	bool vm = false;

	pols = policies_of(p, &n);
	for (size_t i = 0; policy && i < n; i++)
		if (!strcmp(pols[i].name, policy)) {
			vm = pols[i].consistency == PROT_VM;
			if (by_vms_out)
				*by_vms_out = pols[i].by_vms;
			if (vms_out && pols[i].by_vms) {
				*vms_out = json_array();
				for (size_t k = 0; *vms_out && k < pols[i].n_vms; k++)
					json_array_append_new(*vms_out, json_string(pols[i].vms[k]));
			}
		}
	return vm;
}

static void frz_clear(struct prot *p)
{
	json_decref(p->frz.nodes);
	json_decref(p->frz.scope);
	free(p->frz.snapshot);
	if (p->frz_timer)
		sd_event_source_set_enabled(p->frz_timer, SD_EVENT_OFF);
	p->frz = (struct frz){ 0 };
}

/* The run's thaw: published until the next run (the nodes thaw on it). */
static void frz_end(struct prot *p, const char *why)
{
	if (!p->frz.active)
		return;
	klog(plog(p), LOG_INFO, "VM-consistent run %" PRIu64 " of snapshot %s: thaw (%s, %" PRIu64 " ms after the freeze)",
	     p->frz.run, p->frz.snapshot ? p->frz.snapshot : "?", why, (uint64_t)((mono_usec(p) - p->frz.t0) / USEC_PER_MSEC));
	p->frz.active = false;
	p->frz.taking = false;
	p->frz.thaw = true;
	sd_event_source_set_enabled(p->frz_timer, SD_EVENT_OFF);
	publish(p);
}

/* vm's latest report for the run from its owner's section (this node's: as its freeze service
 * last published it, service_own_part()), NULL when none. Borrowed. */
static const json_t *frz_report(struct prot *p, const char *vm, const char *node)
{
	const json_t *rep = node && !strcmp(node, service_config(p->ctx)->node_name)
				    ? service_own_part(p->ctx, "freeze_reports")
				    : json_object_get(section_of(p, node), "freeze_reports");

	if ((uint64_t)json_integer_value(json_object_get(rep, "run")) != p->frz.run)
		return NULL;
	return json_object_get(json_object_get(rep, "vms"), vm);
}

/*
 * Which VMs of the run were consistent, at the moment the snapshot completed: {"<vm>": {"node",
 * "consistent": bool, "why"?}}. A VM is consistent only when its owner's latest report still
 * says "frozen" AND the snapshot completed before t0 + budget (the node's own deadline, counted
 * from when it saw the request, cannot have passed then: it saw it after t0).
 */
static json_t *frz_result(struct prot *p, bool ok)
{
	json_t *out = json_object();
	const char *vm;
	json_t *e;
	bool late = mono_usec(p) >= p->frz.t0 + p->frz.budget;

	json_object_foreach(p->frz.scope, vm, e) {
		const char *node = json_string_value(json_object_get(e, "node"));
		const char *pre = json_string_value(json_object_get(e, "why"));
		const char *why = NULL;
		bool consistent = prot_vm_verdict(pre ? NULL : frz_report(p, vm, node), pre, late, ok, &why);

		json_object_set_new(out, vm, json_pack("{sssb}", "node", node ? node : "", "consistent", consistent));
		if (why && !consistent)
			json_object_set_new(json_object_get(out, vm), "why", json_string(why));
	}
	return out;
}

static void frz_go(struct prot *p, const char *why)
{
	struct pass *ps = p->pass;

	if (!p->frz.active || p->frz.taking || !ps || ps->gen != p->frz.pass_gen || ps->cur != p->frz.job ||
	    ps->cur >= ps->n_jobs)
		return;
	p->frz.taking = true;
	sd_event_source_set_enabled(p->frz_timer, SD_EVENT_OFF);
	klog(plog(p), LOG_INFO, "VM-consistent run %" PRIu64 ": taking snapshot %s (%s, %" PRIu64 " ms after the freeze)",
	     p->frz.run, p->frz.snapshot, why, (uint64_t)((mono_usec(p) - p->frz.t0) / USEC_PER_MSEC));
	take(p, &ps->jobs[ps->cur]);
}

/* Every VM of the run reported (or the leader's wait is over): the snapshot. */
static void frz_check(struct prot *p)
{
	const char *node;
	json_t *vms, *v;
	size_t i;

	if (!p->frz.active || p->frz.taking)
		return;
	json_object_foreach(p->frz.nodes, node, vms)
		json_array_foreach(vms, i, v)
			if (!frz_report(p, json_string_value(v), node))
				return;
	frz_go(p, "every VM reported");
}

static int on_frz_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct prot *p = userdata;

	(void)s;
	(void)usec;
	frz_go(p, "the leader's wait is over");
	return 0;
}

static bool names_has(const json_t *arr, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v) ?: "", name))
			return true;
	return false;
}

/*
 * The snapshot of job j, VM-consistent when its policy says so: the owner of every running VM
 * in scope (its disks on one of j's datastores, or named by the policy) is asked to freeze it;
 * the snapshot follows once all reported or the leader's wait (FREEZE_WAIT of the budget) is
 * over, and the thaw after it (taken()).
 */
static void take_vm(struct prot *p, struct job *j)
{
	const struct vm_spec *specs = NULL;
	json_auto_t *named = NULL;
	bool by_vms = false;
	size_t n = 0, asked = 0;
	uint64_t budget = (uint64_t)service_config(p->ctx)->protection.freeze_budget_ms * USEC_PER_MSEC;

	if (p->frz.active && p->frz.pass_gen == p->pass->gen && p->frz.job == p->pass->cur)
		return; /* this job's run is under way */
	if (!policy_is_vm(p, j->policy, &by_vms, &named)) {
		take(p, j);
		return;
	}
	frz_clear(p);
	p->frz.nodes = json_object();
	p->frz.scope = json_object();
	p->frz.snapshot = strdup(j->name);
	if (!p->frz.nodes || !p->frz.scope || !p->frz.snapshot || service_vm_specs(p->ctx, &specs, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vm_spec *vs = &specs[i];
		const char *owner, *state;
		char key[256];
		bool in = false;

		if (by_vms)
			in = names_has(named, vs->name);
		for (size_t d = 0; !by_vms && d < vs->datastores.n; d++)
			for (size_t k = 0; k < j->n_dss; k++)
				in = in || !strcmp(vs->datastores.name[d], j->dss[k]);
		if (!in)
			continue;
		snprintf(key, sizeof(key), "vm/%s", vs->name);
		owner = json_string_value(json_object_get(json_object_get(service_records(p->ctx), key), "owner"));
		if (!owner)
			continue; /* runs nowhere: nothing to freeze */
		state = json_string_value(
			json_object_get(json_object_get(json_object_get(section_of(p, owner), "vms"), vs->name), "state"));
		if (!state || !strcmp(state, "shutoff") || !strcmp(state, "undefined"))
			continue;
		if (!strcmp(state, "running")) {
			json_t *arr = json_object_get(p->frz.nodes, owner);
			if (!arr) {
				arr = json_array();
				json_object_set_new(p->frz.nodes, owner, arr);
			}
			json_array_append_new(arr, json_string(vs->name));
			json_object_set_new(p->frz.scope, vs->name, json_pack("{ss}", "node", owner));
			asked++;
		} else {
			/* paused (libvirt refuses agent commands to it), or a state the owner cannot
			 * vouch for right now: crash-consistent, nothing asked */
			json_object_set_new(p->frz.scope, vs->name,
					    json_pack("{ssss}", "node", owner, "why", !strcmp(state, "paused") ? "paused" : state));
		}
	}
	p->frz.active = true;
	p->frz.run = (p->epoch << 24) | (++p->frz_seq & 0xffffff);
	p->frz.pass_gen = p->pass->gen;
	p->frz.job = p->pass->cur;
	p->frz.t0 = mono_usec(p);
	p->frz.budget = budget;
	if (!asked) {
		klog(plog(p), LOG_INFO, "Snapshot %s of VM-consistent policy '%s': no running VM to freeze", j->name,
		     j->policy);
		frz_go(p, "nothing to freeze");
		return;
	}
	klog(plog(p), LOG_NOTICE, "VM-consistent run %" PRIu64 " of snapshot %s: asking %zu node%s to freeze %zu VM%s "
	     "(budget %" PRIu64 " ms)", p->frz.run, j->name, json_object_size(p->frz.nodes),
	     json_object_size(p->frz.nodes) == 1 ? "" : "s", asked, asked == 1 ? "" : "s", (uint64_t)(budget / USEC_PER_MSEC));
	sd_event_source_set_time(p->frz_timer, p->frz.t0 + budget * FREEZE_WAIT_PERCENT / 100);
	sd_event_source_set_enabled(p->frz_timer, SD_EVENT_ONESHOT);
	publish(p);
}

static void on_deleted(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct prot *p;
	struct pass *ps = ticket_take(userdata, &p);
	struct job *j;
	char buf[1024], key[512];

	if (!ps)
		return;
	j = &ps->jobs[ps->cur];
	snprintf(key, sizeof(key), "%s@%s", j->dss[j->next], j->name);
	if (r == -EBUSY) {
		/* kept and reported, not tried again for a while (never a retry loop against ONTAP) */
		json_object_set_new(p->busy_until, key, json_integer(wall_now(p) + BUSY_RETRY_SEC));
		klog(plog(p), LOG_WARNING, "Snapshot %s of datastore '%s' is busy on ONTAP (a clone or SnapMirror uses it): kept",
		     j->name, j->dss[j->next]);
		free(j->error);
		j->error = strdup("busy on ONTAP (a clone or SnapMirror uses it)");
	} else if (r < 0) {
		job_failed(p, j, "Cannot delete snapshot %s of datastore '%s': %s", j->name, j->dss[j->next],
			   ontap_why(r, err, buf, sizeof(buf)));
		if (r == -ECANCELED || r == -ESTALE || !p->epoch) {
			if (j->kind == JOB_REQUEST)
				request_done(p, j, false, -r, j->error);
			pass_end(p);
			return;
		}
	} else {
		ps->changed = true;
		klog(plog(p), LOG_NOTICE, "Snapshot %s of datastore '%s' deleted%s%s", j->name, j->dss[j->next],
		     j->kind == JOB_DELETE ? " (retention of policy '" : "", j->kind == JOB_DELETE ? j->policy : "");
		json_object_del(p->busy_until, key);
	}
	if (++j->next < j->n_dss) {
		pass_step(p);
		return;
	}
	if (j->kind == JOB_REQUEST) {
		if (j->error)
			request_done(p, j, false, r == -EBUSY ? EBUSY : EIO, j->error);
		else {
			char msg[512];
			snprintf(msg, sizeof(msg), "snapshot %s deleted on %zu datastore%s", j->name, j->n_dss,
				 j->n_dss == 1 ? "" : "s");
			request_done(p, j, true, 0, msg);
		}
	}
	job_next(p);
}

static void delete_one(struct prot *p, struct job *j)
{
	struct ticket *t = ticket_new(p, NULL);
	int r = t ? leader_ontap_snapshot(LEADER_SNAP_DELETE, j->dss[j->next], j->name, on_deleted, t) : -ENOMEM;

	if (r < 0) {
		if (t) {
			struct prot *q;
			ticket_take(t, &q);
		}
		job_failed(p, j, "Cannot delete snapshot %s of datastore '%s': %s", j->name, j->dss[j->next], strerror(-r));
		if (j->kind == JOB_REQUEST)
			request_done(p, j, false, -r, j->error);
		if (r == -ENOTCONN) {
			pass_end(p);
			return;
		}
		job_next(p);
	}
}

/* A request job: checks it against the spec and the listing, then it is a take or deletes. */
static bool request_prepare(struct prot *p, struct pass *ps, struct job *j)
{
	char msg[512];

	if (!strcmp(j->op, "create")) {
		const struct prot_policy *pols = NULL;
		size_t n = 0;
		const struct prot_policy *pol = NULL;
		const char *missing = NULL;
		char polname[PROT_NAME_MAX + 1];

		pols = policies_of(p, &n);
		for (size_t i = 0; j->policy && i < n; i++)
			if (!strcmp(pols[i].name, j->policy))
				pol = &pols[i];
		if (!pol) {
			snprintf(msg, sizeof(msg), "no protection policy '%s' in the spec", j->policy ? j->policy : "");
			request_done(p, j, false, ENOENT, msg);
			return false;
		}
		if (prot_ondemand_parse(j->name, polname, NULL) < 0 || strcmp(polname, pol->name) != 0) {
			request_done(p, j, false, EINVAL, "not an on-demand snapshot name of that policy");
			return false;
		}
		if (!policy_ready(p, pol, &missing)) {
			snprintf(msg, sizeof(msg), "policy '%s': datastore '%s' is not provisioned yet", pol->name,
				 missing ? missing : "(none)");
			request_done(p, j, false, EAGAIN, msg);
			return false;
		}
		j->dss = strv_dup(pol->datastores, pol->n_datastores);
		j->n_dss = j->dss ? pol->n_datastores : 0;
		return j->dss != NULL;
	}
	if (!strcmp(j->op, "delete")) {
		const char *ds;
		json_t *arr, *s;
		size_t i, n = 0;

		if (!prot_snapshot_is_ours(j->name)) {
			request_done(p, j, false, EPERM, "kvmcd deletes only its own snapshots (kvmcd.<policy>.<label>.<time>)");
			return false;
		}
		if (ps->list_failed) {
			request_done(p, j, false, EAGAIN, "the leader could not list the snapshots; try again");
			return false;
		}
		j->dss = calloc(json_object_size(ps->listing) + 1, sizeof(*j->dss));
		if (!j->dss)
			return false;
		json_object_foreach(ps->listing, ds, arr)
			json_array_foreach(arr, i, s)
				if (!strcmp(json_string_value(json_object_get(s, "name")) ?: "", j->name))
					j->dss[n++] = strdup(ds);
		j->n_dss = n;
		if (!n) {
			snprintf(msg, sizeof(msg), "no snapshot %s on any datastore of the spec", j->name);
			request_done(p, j, false, ENOENT, msg);
			return false;
		}
		return true;
	}
	request_done(p, j, false, EINVAL, "unknown request");
	return false;
}

static void pass_step(struct prot *p)
{
	struct pass *ps = p->pass;
	struct job *j;

	for (;;) {
		if (!ps)
			return;
		if (!p->epoch) {
			pass_end(p);
			return;
		}
		if (ps->cur >= ps->n_jobs) {
			pass_end(p);
			return;
		}
		j = &ps->jobs[ps->cur];
		switch (j->kind) {
		case JOB_RUN: {
			char key[PROT_RECORD_KEY_MAX];
			int64_t started = SCHED_NONE, done = SCHED_NONE;

			if (!j->dss || !j->name || prot_record_key(j->policy, j->label, key) < 0) {
				ps->cur++;
				continue;
			}
			prot_record_slots(json_object_get(service_records(p->ctx), key), &started, &done);
			if (started != j->slot) {
				/* 1. the slot is recorded as begun, committed, before ONTAP is touched */
				json_t *dsa = json_array();
				for (size_t i = 0; dsa && i < j->n_dss; i++)
					json_array_append_new(dsa, json_string(j->dss[i]));
				if (record_patch(p, key, json_pack("{sIsssIsIso}", "started", (json_int_t)j->slot, "snapshot",
								   j->name, "started_at", (json_int_t)wall_now(p), "epoch",
								   (json_int_t)p->epoch, "datastores", dsa)) < 0) {
					ps->failed = true;
					pass_end(p);
					return;
				}
				ps->waiting = true;
				return; /* committed hook: pass_step again */
			}
			if (ps->waiting)
				return;
			if (service_committed_version(p->ctx) < p->wait_version) {
				ps->waiting = true;
				return;
			}
			take_vm(p, j);
			return;
		}
		case JOB_DELETE:
			if (!j->dss || !j->n_dss) {
				ps->cur++;
				continue;
			}
			delete_one(p, j);
			return;
		case JOB_REQUEST:
			if (!j->req_id || !j->op || !j->name) {
				ps->cur++;
				continue;
			}
			if (json_object_get(p->answers, j->req_id)) {
				ps->cur++;
				continue;
			}
			if (!j->dss && !request_prepare(p, ps, j)) {
				ps->cur++;
				continue;
			}
			if (!strcmp(j->op, "create"))
				take_vm(p, j);
			else
				delete_one(p, j);
			return;
		}
	}
}

/* ---- the asking side: requests and their answers ------------------------------------------ */

static void preq_free(struct preq *q)
{
	if (!q)
		return;
	free(q->id);
	json_decref(q->body);
	free(q);
}

static int request_send(struct prot *p, uint64_t conn_id, json_t *body)
{
	struct preq *q = calloc(1, sizeof(*q));

	if (!q || !body || asprintf(&q->id, "%s/%s.%" PRIu64, me(p), p->nonce, ++p->seq) < 0) {
		if (q)
			q->id = NULL;
		free(q);
		json_decref(body);
		return -ENOMEM;
	}
	q->conn_id = conn_id;
	q->body = body;
	q->deadline = mono_usec(p) + REQUEST_TIMEOUT_SEC * USEC_PER_SEC;
	q->next = p->reqs;
	p->reqs = q;
	klog(plog(p), LOG_INFO, "Request %s to the leader: snapshot %s %s", q->id,
	     json_string_value(json_object_get(body, "op")) ?: "?", json_string_value(json_object_get(body, "name")) ?: "");
	publish(p);
	return 0;
}

/* Answers that came, requests past their deadline; answers of requests that are gone. */
static void requests_check(struct prot *p)
{
	const json_t *secs = service_node_sections(p->ctx), *v;
	uint64_t now = mono_usec(p);
	bool changed = false;
	const char *k;

	for (struct preq **qq = &p->reqs; *qq;) {
		struct preq *q = *qq;
		const json_t *a = NULL;

		json_object_foreach((json_t *)secs, k, v)
			if (!a)
				a = json_object_get(json_object_get(json_object_get(v, "section"), "protection_answers"), q->id);
		if (a || now >= q->deadline) {
			json_t *reply = a ? json_deep_copy(a)
					  : json_pack("{sbsssiss}", "ok", 0, "outcome", "unknown", "errno", ETIMEDOUT, "error",
						      "no verdict from the leader in time; the request may still be served "
						      "(check `kvmcctl snapshot list`)");
			service_reply(p->ctx, q->conn_id, reply);
			*qq = q->next;
			preq_free(q);
			changed = true;
			continue;
		}
		qq = &q->next;
	}
	/* the leader: answers whose request left every section go */
	if (json_object_size(p->answers)) {
		const char *id;
		json_t *ans, *tmp;

		json_object_foreach_safe(p->answers, tmp, id, ans) {
			bool asked = false;
			json_object_foreach((json_t *)secs, k, v)
				asked = asked ||
					json_object_get(json_object_get(json_object_get(v, "section"), "protection_requests"), id);
			if (!asked) {
				json_object_del(p->answers, id);
				changed = true;
			}
		}
	}
	if (changed)
		publish(p);
}

/* ---- commands ------------------------------------------------------------------------------ */

static json_t *cmd_snapshot_create(void *state, uint64_t conn_id, json_t *req)
{
	struct prot *p = state;
	const char *policy = json_string_value(json_object_get(req, "policy"));
	const struct prot_policy *pols = NULL;
	char name[PROT_ONDEMAND_NAME_MAX];
	bool found = false;
	size_t n = 0;
	int r;

	if (!policy)
		return api_refusal(-EINVAL, "snapshot create: which policy?");
	pols = policies_of(p, &n);
	for (size_t i = 0; i < n; i++)
		found = found || !strcmp(pols[i].name, policy);
	if (!found)
		return api_refusal(-ENOENT, "no protection policy '%s' in the spec", policy);
	if (!service_may_act(p->ctx))
		return api_refusal(-EAGAIN, "this node is not in a synced quorate view; nothing done");
	if (prot_ondemand_name(policy, wall_now(p), name) < 0)
		return api_refusal(-EINVAL, "cannot name a snapshot of policy '%s'", policy);
	r = request_send(p, conn_id, json_pack("{ssssss}", "op", "create", "policy", policy, "name", name));
	if (r < 0)
		return api_refusal(r, "cannot send the request to the leader: %s; nothing done", strerror(-r));
	return NULL;
}

static json_t *cmd_snapshot_delete(void *state, uint64_t conn_id, json_t *req)
{
	struct prot *p = state;
	const char *name = json_string_value(json_object_get(req, "name"));
	int r;

	if (!name)
		return api_refusal(-EINVAL, "snapshot delete: which snapshot?");
	if (!prot_snapshot_is_ours(name))
		return api_refusal(-EPERM, "'%s' is not a snapshot kvmcd made (kvmcd.<policy>.<label>.<time>); "
				   "kvmcd deletes only its own", name);
	if (!service_may_act(p->ctx))
		return api_refusal(-EAGAIN, "this node is not in a synced quorate view; nothing done");
	r = request_send(p, conn_id, json_pack("{ssss}", "op", "delete", "name", name));
	if (r < 0)
		return api_refusal(r, "cannot send the request to the leader: %s; nothing done", strerror(-r));
	return NULL;
}

/* What a snapshot's name says: its policy, label (or "ondemand") and slot / time. */
static void describe(json_t *o, const char *name)
{
	char pol[PROT_NAME_MAX + 1], label[PROT_LABEL_MAX + 1], slot[SCHED_SLOT_TEXT];
	int64_t t;

	if (sched_snapshot_parse(name, pol, label, &t) == 0) {
		json_object_set_new(o, "policy", json_string(pol));
		json_object_set_new(o, "label", json_string(label));
		json_object_set_new(o, "slot", json_string(sched_slot_format(t, slot)));
	} else if (prot_ondemand_parse(name, pol, &t) == 0) {
		json_object_set_new(o, "policy", json_string(pol));
		json_object_set_new(o, "label", json_string(PROT_ONDEMAND_LABEL));
	}
	json_object_set_new(o, "kvmcd", json_boolean(prot_snapshot_is_ours(name)));
}

/* What records["protvms/<policy>"] says of snapshot name's VMs (protection-service.h), NULL:
 * nothing (not a vm policy's, or older than its history). Borrowed. */
static json_t *snapshot_vms(struct prot *p, const char *policy, const char *name)
{
	char hkey[PROT_NAME_MAX + 16];

	if (!policy || !name)
		return NULL;
	snprintf(hkey, sizeof(hkey), PROT_VMS_RECORD_PREFIX "%s", policy);
	return json_object_get(json_object_get(json_object_get(service_records(p->ctx), hkey), name), "vms");
}

static json_t *cmd_snapshot_list(void *state, uint64_t conn_id, json_t *req)
{
	struct prot *p = state;
	const char *only = json_string_value(json_object_get(req, "datastore")), *leader = NULL, *ds;
	const json_t *part = leader_part(p, "protection_listing", &leader), *arr, *s;
	json_t *out = json_array(), *reply;
	size_t i;

	if (!out)
		return NULL;
	if (!part) {
		json_decref(out);
		return api_refusal(-EAGAIN, "no leader has listed the snapshots yet (the leader lists them while the spec "
				   "has a protection policy)");
	}
	if (only && !json_object_get(json_object_get(part, "datastores"), only)) {
		json_decref(out);
		return api_refusal(-ENOENT, "the leader's listing has no datastore '%s' (not in the spec, or not provisioned)",
				   only);
	}
	json_object_foreach((json_t *)json_object_get(part, "datastores"), ds, arr) {
		if (only && strcmp(only, ds) != 0)
			continue;
		json_array_foreach(arr, i, s) {
			json_t *o = json_deep_copy(s);
			if (!o)
				continue;
			json_object_set_new(o, "datastore", json_string(ds));
			describe(o, json_string_value(json_object_get(s, "name")) ?: "");
			if (snapshot_vms(p, json_string_value(json_object_get(o, "policy")), json_string_value(json_object_get(s, "name"))))
				json_object_set_new(o, "vms", json_incref(snapshot_vms(p, json_string_value(json_object_get(o, "policy")),
										      json_string_value(json_object_get(s, "name")))));
			json_array_append_new(out, o);
		}
	}
	reply = json_pack("{sbsossso?}", "ok", 1, "snapshots", out, "leader", leader ? leader : "", "epoch",
			  json_incref(json_object_get(part, "epoch")));
	if (reply) {
		char at[64] = "";
		time_t t = (time_t)json_integer_value(json_object_get(part, "at"));
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(reply, "listed_at", json_string(at));
	}
	return reply;
}

/* {"every": "15m"} or {"cron": "<its text in the spec>"}; sched_spec: the spec's schedule */
static json_t *timing_json(const struct prot_schedule *s, const json_t *sched_spec)
{
	char buf[PROT_LABEL_MAX + 1];

	if (s->timing.kind == PROT_EVERY)
		return json_pack("{ss}", "every", prot_duration_format(s->timing.every, buf));
	return json_pack("{ss}", "cron", json_string_value(json_object_get(sched_spec, "cron")) ?: "?");
}

static json_t *slot_json(int64_t slot)
{
	char buf[SCHED_SLOT_TEXT];

	return slot == SCHED_NONE || slot == INT64_MAX ? json_null() : json_string(sched_slot_format(slot, buf));
}

/* The policy's SnapMirror, as the mirror service's leader last read it (mirror-service.h). */
static json_t *mirror_json(struct prot *p, const struct prot_policy *pol)
{
	return mirror_policy_status(p->ctx, pol);
}

static json_t *cmd_protection_status(void *state, uint64_t conn_id, json_t *req)
{
	struct prot *p = state;
	const struct prot_policy *pols = NULL;
	_cleanup_free_ struct sched_record *recs = NULL;
	struct sched_result res = { 0 };
	const char *leader = NULL;
	const json_t *health = leader_part(p, "protection_health", &leader);
	const json_t *spec_pol = json_object_get(service_spec(p->ctx), "protection");
	json_t *out = json_array(), *reply;
	size_t n = 0, n_recs = 0;
	int64_t now = wall_now(p);
	int r = 0;

	pols = policies_of(p, &n);
	recs = records_of(p, pols, n, &n_recs);
	if (!out || !recs) {
		json_decref(out);
		return NULL;
	}
	if (n) {
		struct sched_input in = { .policies = pols, .n_policies = n, .records = recs, .n_records = n_recs,
					  .now = now, .grace = SCHED_GRACE_DEFAULT };
		r = sched_decide(&in, &res);
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct prot_policy *pol = &pols[i];
		const json_t *h = json_object_get(json_object_get(health, "policies"), pol->name);
		json_t *scheds = json_array(), *dss = json_array(), *o;
		int64_t next = INT64_MAX, last_done = SCHED_NONE;
		const char *last_name = NULL, *missing = NULL, *state_txt;
		bool in_flight = false;

		for (size_t d = 0; dss && d < pol->n_datastores; d++)
			json_array_append_new(dss, json_string(pol->datastores[d]));
		for (size_t s = 0; scheds && s < pol->n_schedules; s++) {
			const struct sched_status *st = NULL;
			char key[PROT_RECORD_KEY_MAX];
			const json_t *rec = NULL;
			int64_t started = SCHED_NONE, done = SCHED_NONE, due;
			json_t *so;

			for (size_t k = 0; k < res.n_status; k++)
				if (res.status[k].policy == i && res.status[k].schedule == s)
					st = &res.status[k];
			if (prot_record_key(pol->name, pol->schedules[s].label, key) == 0)
				rec = json_object_get(service_records(p->ctx), key);
			prot_record_slots(rec, &started, &done);
			due = st && st->due != SCHED_NONE ? st->due : st ? st->next : INT64_MAX;
			if (due != SCHED_NONE && due < next)
				next = due;
			if (done != SCHED_NONE && (last_done == SCHED_NONE || done > last_done)) {
				last_done = done;
				last_name = json_string_value(json_object_get(rec, "last_snapshot"));
			}
			in_flight = in_flight || (started != SCHED_NONE && (done == SCHED_NONE || started > done));
			so = json_pack("{sssosisosososisbsO?sO?}", "label", pol->schedules[s].label, "timing",
				       timing_json(&pol->schedules[s],
						   json_array_get(json_object_get(json_array_get(spec_pol, i), "schedules"), s)),
				       "keep", (int)pol->schedules[s].keep, "last_snapshot",
				       slot_json(done), "due_now", slot_json(st ? st->due : SCHED_NONE), "next_due",
				       slot_json(st ? st->next : SCHED_NONE), "missed", st ? st->missed : 0,
				       "clock_behind", st && st->clock_behind, "last_snapshot_name",
				       json_object_get(rec, "last_snapshot"), "in_flight",
				       started != SCHED_NONE && (done == SCHED_NONE || started > done)
					       ? json_object_get(rec, "snapshot") : NULL);
			if (so)
				json_array_append_new(scheds, so);
		}
		/* health: error > waiting > in flight > ok; "unknown" without a leader's word */
		if (json_string_value(json_object_get(h, "error")))
			state_txt = "error";
		else if (!policy_ready(p, pol, &missing))
			state_txt = "waiting";
		else if (!health)
			state_txt = "unknown";
		else
			state_txt = "ok";
		o = json_pack("{sssosssssosososssO?sO?so}", "name", pol->name, "datastores", dss, "consistency",
			      prot_consistency_name(pol->consistency), "catch_up",
			      prot_catch_up_name(pol->catch_up), "schedules", scheds, "last_snapshot", slot_json(last_done),
			      "next_due", slot_json(next), "health", state_txt, "errors",
			      json_object_get(h, "error"), "kept", json_object_get(h, "kept"), "snapmirror",
			      pol->has_mirror ? mirror_json(p, pol) : json_null());
		if (!o)
			continue;
		if (last_name)
			json_object_set_new(o, "last_snapshot_name", json_string(last_name));
		if (pol->consistency == PROT_VM)
			json_object_set_new(o, "last_vms", json_incref(snapshot_vms(p, pol->name, last_name)) ?: json_null());
		if (missing)
			json_object_set_new(o, "waiting_for", json_string(missing));
		json_object_set_new(o, "in_flight", json_boolean(in_flight));
		json_array_append_new(out, o);
	}
	sched_result_clear(&res);
	if (r < 0) {
		json_decref(out);
		return api_error(r, "cannot compute the schedules: %s", strerror(-r));
	}
	reply = json_pack("{sbsosssisI}", "ok", 1, "policies", out, "leader", leader ? leader : "", "spec_policies",
			  (int)json_array_size(spec_pol), "now", (json_int_t)now);
	if (reply) {
		char buf[SCHED_SLOT_TEXT];
		json_object_set_new(reply, "now_text", json_string(sched_slot_format(now - now % 60, buf)));
	}
	return reply;
}

static const struct service_command commands[] = {
	{ "protection-status", cmd_protection_status },
	{ "snapshot-list", cmd_snapshot_list },
	{ "snapshot-create", cmd_snapshot_create },
	{ "snapshot-delete", cmd_snapshot_delete },
	{ NULL, NULL },
};

/* ---- the service ------------------------------------------------------------------------- */

/* Once a second: the test clock file and request deadlines. */
static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct prot *p = userdata;

	if (p->clock_file) {
		int64_t off;
		bool fixed;

		read_clock(p->clock_file, &off, &fixed);
		if (off != p->clock_offset || fixed != p->clock_fixed) {
			klog(plog(p), LOG_INFO, "Test clock: %s %" PRId64 " s", fixed ? "fixed at" : "offset", off);
			p->clock_offset = off;
			p->clock_fixed = fixed;
			if (p->epoch)
				pass_kick(p);
		}
	}
	if (p->reqs)
		requests_check(p);
	sd_event_source_set_time(s, usec + USEC_PER_SEC);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static void prot_free(void *state)
{
	struct prot *p = state;

	if (!p)
		return;
	for (struct ticket *t = p->tickets; t; t = t->next)
		t->p = NULL; /* their callbacks (-ECANCELED when the client goes) free them */
	pass_free(p->pass);
	while (p->reqs) {
		struct preq *q = p->reqs;
		p->reqs = q->next;
		preq_free(q);
	}
	sd_event_source_disable_unref(p->timer);
	sd_event_source_disable_unref(p->poll);
	sd_event_source_disable_unref(p->kick_src);
	frz_clear(p);
	sd_event_source_disable_unref(p->frz_timer);
	json_decref(p->listing);
	json_decref(p->health);
	json_decref(p->busy_until);
	json_decref(p->answers);
	json_decref(p->published);
	free(p->clock_file);
	free(p);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	unsigned char rnd[4] = { 0 };
	struct prot *p;
	FILE *f;
	int r;

	*state = NULL;
	/* off without [ontap]: the leader could never take a snapshot (the verbs say so) */
	if (!cfg->ontap.address || !*cfg->ontap.address)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	f = fopen("/dev/urandom", "re");
	if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
		memcpy(rnd, &t, sizeof(rnd));
	}
	if (f)
		fclose(f);
	snprintf(p->nonce, sizeof(p->nonce), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	p->listing = NULL;
	p->health = json_object();
	p->busy_until = json_object();
	p->answers = json_object();
	if (cfg->protection.test_clock_offset_file) {
		p->clock_file = strdup(cfg->protection.test_clock_offset_file);
		if (!p->clock_file) {
			prot_free(p);
			return -ENOMEM;
		}
		read_clock(p->clock_file, &p->clock_offset, &p->clock_fixed);
		klog(service_log(ctx), LOG_WARNING, "[protection] test_clock_offset_file %s: the snapshot schedules read "
			 "a test clock (TESTS ONLY): %s %" PRId64 " s", p->clock_file,
		     p->clock_fixed ? "fixed at" : "offset", p->clock_offset);
	}
	r = !p->health || !p->busy_until || !p->answers ? -ENOMEM : 0;
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &p->timer, CLOCK_REALTIME, 0, USEC_PER_SEC / 10, on_timer, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time_relative(service_event(ctx), &p->poll, CLOCK_MONOTONIC, USEC_PER_SEC,
					       USEC_PER_SEC / 10, on_poll, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->poll, SD_EVENT_ON);
	if (r >= 0)
		r = sd_event_add_time(service_event(ctx), &p->frz_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_frz_timer, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->frz_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &p->kick_src, on_kick, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->kick_src, SD_EVENT_OFF);
	if (r < 0) {
		prot_free(p);
		if (asprintf(error, "cannot set up the snapshot service: %s", strerror(-r)) < 0)
			*error = NULL;
		return r;
	}
	*state = p;
	return 0;
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	struct prot *p = state;

	if (acting) {
		if (p->epoch != epoch) {
			json_object_clear(p->answers);
			json_object_clear(p->health);
			p->failures = 0;
		}
		p->epoch = epoch;
		pass_kick(p);
		return;
	}
	/* a sync round or the end of the leadership: nothing new starts; what is in flight ends
	 * (cancelled with the client's epoch, or answered) and the pass stops at its next step */
	p->epoch = 0;
	frz_clear(p); /* its part goes with the epoch: the nodes thaw (leader lost) */
	sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
	if (p->pass && !p->tickets) {
		pass_free(p->pass);
		p->pass = NULL;
	}
	publish(p);
}

/* What a pass reads of the committed document, as a hash: the spec's protection and
 * datastores, the prot/ records, and which datastores are ready. */
static uint64_t committed_signature(struct prot *p)
{
	const json_t *spec = service_spec(p->ctx), *v;
	json_t *sig = json_object(), *recs = json_object();
	_cleanup_free_ char *text = NULL;
	const char *k;

	if (!sig || !recs) {
		json_decref(sig);
		json_decref(recs);
		return 0;
	}
	json_object_foreach((json_t *)service_records(p->ctx), k, v) {
		if (!strncmp(k, PROT_RECORD_PREFIX, strlen(PROT_RECORD_PREFIX)))
			json_object_set(recs, k, (json_t *)v);
		else if (!strncmp(k, "ds/", 3))
			json_object_set_new(recs, k, json_boolean(json_is_true(json_object_get(v, "ready"))));
	}
	json_object_set(sig, "protection", json_object_get(spec, "protection") ?: json_null());
	json_object_set(sig, "datastores", json_object_get(spec, "datastores") ?: json_null());
	json_object_set_new(sig, "records", recs);
	text = json_dumps(sig, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(sig);
	return text ? spec_hash_bytes(text, strlen(text)) | 1 : 0;
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct prot *p = state;
	uint64_t sig;

	if (!may_act || !p->epoch)
		return;
	if (p->pass && p->pass->waiting && service_committed_version(p->ctx) >= p->wait_version) {
		p->pass->waiting = false;
		pass_step(p);
		return;
	}
	sig = committed_signature(p);
	if (sig != p->spec_sig || (!p->pass && p->wait_version && version >= p->wait_version)) {
		p->spec_sig = sig;
		if (!p->pass && p->wait_version && version >= p->wait_version)
			p->wait_version = 0;
		pass_kick(p);
	}
}

static void svc_sections(void *state)
{
	struct prot *p = state;
	const json_t *v, *body;
	const char *k, *id;
	bool fresh = false;

	if (p->reqs || json_object_size(p->answers))
		requests_check(p);
	if (!p->epoch)
		return;
	frz_check(p);
	/* a request this leader has not answered: a pass serves it */
	json_object_foreach((json_t *)service_node_sections(p->ctx), k, v)
		json_object_foreach(json_object_get(json_object_get(v, "section"), "protection_requests"), id, body)
			fresh = fresh || !json_object_get(p->answers, id);
	if (fresh)
		pass_kick(p);
}

static json_t *svc_status(void *state)
{
	struct prot *p = state;

	return json_pack("{sbsIsbsbsI}", "acting", p->epoch != 0, "test_clock", (json_int_t)p->clock_offset,
			 "test_clock_fixed", p->clock_fixed, "pass_running", p->pass != NULL, "failures",
			 (json_int_t)p->failures);
}

const struct service_ops protection_service = {
	.name = "protection",
	.init = svc_init,
	.free = prot_free,
	.leading = svc_leading,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};

json_t *protection_spec_check(const json_t *records, const json_t *next)
{
	_cleanup_free_ struct prot_policy *pols = NULL;
	struct spec_problems probs = { 0 };
	const char *v = json_string_value(json_object_get(json_object_get(records, "ontap/svm"), "ontap_version"));
	int gen, major, minor;
	size_t n = 0;
	json_t *reply, *list;

	if (!v || sscanf(v, "%d.%d.%d", &gen, &major, &minor) != 3 || !json_object_get(next, "protection") ||
	    prot_spec_list(next, &pols, &n) < 0 || prot_check_ontap_version(pols, n, gen, major, minor, &probs) >= 0) {
		spec_problems_clear(&probs);
		return NULL;
	}
	list = json_array();
	for (unsigned k = 0; list && k < probs.n; k++)
		json_array_append_new(list, json_string(probs.text[k]));
	reply = api_refusal(-EINVAL, "refused, nothing applied: invalid spec");
	if (reply && list) {
		json_object_set_new(reply, "problems", list);
		json_object_set_new(reply, "problems_dropped", json_integer(probs.dropped));
	} else
		json_decref(list);
	spec_problems_clear(&probs);
	return reply;
}
