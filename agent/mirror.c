/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The SnapMirror service (mirror-service.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "api-server.h"
#include "leader-ontap.h"
#include "macros.h"
#include "mirror-service.h"
#include "protection-parse.h"
#include "spec.h"
#include "timing.h"
#include "datastore-plan.h"
#include "coord/decide/mirror.h"
#include "coord/decide/schedule.h"

#define POLL_SEC 5               /* the leader reads every relationship this often */
#define MAX_STEPS 8              /* ONTAP calls per datastore and pass (GET, transition, GET, ...) */
#define REQUEST_TIMEOUT_SEC 150  /* a dr request's verdict (outcome unknown after) */
#define RECORD_PREFIX "mirror/"
#define UPDATE_RETRY_SEC 20      /* a failed update transfer is not tried again before */

/* One (policy, datastore) the pass works on: copies, the spec may change meanwhile. */
struct target {
	char *policy, *ds;           /* owned */
	char *dst_svm, *dst_volume;  /* owned */
	char *sm_policy;             /* owned: the ONTAP SnapMirror policy */
	char *key;                   /* owned: "<policy>/<ds>" */
	struct prot_mirror m;        /* timing and flags; its strings are NOT kept (NULL) */
	int64_t latest_done;         /* the policy's latest completed snapshot slot, SCHED_NONE */
	int steps;
	bool set_up;                 /* SETUP was tried in this pass */
	bool want_setup;             /* the relationship is missing: SETUP next */
	int64_t updated;             /* the slot this pass updated for (its record may not be back
					 * yet), SCHED_NONE */
	json_t *observed;            /* owned: the last GET's record, NULL */
	char *error;                 /* owned: the step that failed, NULL */
	bool left;                   /* no longer in the spec: only read (GET), never changed; its
				      * record goes once ONTAP has no such relationship */
	char *left_cluster;          /* owned: a left target's destination cluster as its record
				      * names it ([ontap_peer]'s), NULL: this one */
};

struct pass {
	uint64_t gen;
	struct target *t;            /* owned */
	size_t n, cur;
	int64_t update_slot;         /* the update in flight: its slot */
	json_t *peers;               /* owned: {"<destination SVM>": {"peered": bool|null, "state",
				      * "applications", "error"}} read in this pass */
};

/* A request this node sent the leader. */
struct mreq {
	char *id;                    /* owned */
	json_t *body;                /* owned: {"op", "datastore"} as published */
	uint64_t conn_id;
	uint64_t deadline;           /* CLOCK_MONOTONIC usec */
	struct mreq *next;
};

struct ticket;

struct mirror {
	struct service_ctx *ctx;     /* borrowed */
	sd_event_source *poll;       /* owned: CLOCK_MONOTONIC, 1 s */
	sd_event_source *kick_src;   /* owned: defer, a pass soon */
	char *clock_file;            /* owned: [protection] test_clock_offset_file, NULL normally */
	uint64_t epoch;              /* acting epoch; 0 = not acting */
	struct pass *pass;           /* owned: the pass in progress, NULL */
	uint64_t gen;
	bool again;                  /* a change came during the pass: another one after it */
	uint64_t next_pass;          /* CLOCK_MONOTONIC usec of the periodic pass */
	uint64_t wait_version;       /* our last patch: DR steps act only once it committed */
	uint64_t sig;                /* what a pass reads of the committed document (a hash) */
	struct ticket *tickets;      /* outstanding ONTAP callbacks (orphaned on free) */
	json_t *targets;             /* owned: {"<policy>/<ds>": {...}} the leader's reading */
	json_t *peers;               /* owned: the last pass's peerings (struct pass) */
	int64_t read_at;
	json_t *answers;             /* owned: {"<id>": reply} */
	json_t *serving;             /* owned: {"<id>": true} requests taken, not answered yet */
	json_t *logged;              /* owned: {"<policy>/<ds>": the error last logged} */
	json_t *retry_at;            /* owned: {"<policy>/<ds>": {"at": CLOCK_MONOTONIC usec, "error"}}: a
				      * failed update, not tried again before "at"; its error is shown */
	json_t *published;           /* owned */
	struct mreq *reqs;           /* owned */
	char nonce[16];
	uint64_t seq;
};

struct ticket {
	struct mirror *p;            /* NULL once the service is freed */
	uint64_t gen;
	enum leader_ontap_mirror_op op;
	struct ticket *next;
};

static void pass_kick(struct mirror *p);
static void step(struct mirror *p);
static void publish(struct mirror *p);
static void rel_of_reading(const json_t *x, struct mirror_rel *rel);
static json_t *peering_of(int r, const struct ontap_object *obj, const struct ontap_error *err);
static const char *target_cluster(const struct mirror *p, const struct target *t);
static const char *failure_text(const struct mirror *p, const struct target *t, int r, char *buf, size_t size);
static json_t *destination_json(const struct target *t, const char *cluster);

static struct klog *mlog(struct mirror *p)
{
	return service_log(p->ctx);
}

static uint64_t mono_usec(struct mirror *p)
{
	uint64_t t = 0;

	sd_event_now(service_event(p->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

/* The wall clock the mirror's own update schedule reads, with protection.c's test clock. */
static int64_t wall_now(struct mirror *p)
{
	_cleanup_fclose_ FILE *f = p->clock_file ? fopen(p->clock_file, "re") : NULL;
	long long x = 0;
	bool fixed = false;
	int64_t t = (int64_t)time(NULL);
	int c;

	if (f) {
		c = fgetc(f);
		if (c == '@')
			fixed = true;
		else if (c != EOF)
			ungetc(c, f);
		if (fscanf(f, "%lld", &x) == 1 && x > -PROT_TIME_MAX && x < PROT_TIME_MAX)
			t = fixed ? (int64_t)x : t + (int64_t)x;
	}
	return t < 0 ? 0 : t > PROT_TIME_MAX ? PROT_TIME_MAX : t;
}

static void target_clear(struct target *t)
{
	free(t->policy);
	free(t->ds);
	free(t->dst_svm);
	free(t->dst_volume);
	free(t->sm_policy);
	free(t->key);
	free(t->left_cluster);
	json_decref(t->observed);
	free(t->error);
}

static void pass_free(struct pass *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		target_clear(&ps->t[i]);
	free(ps->t);
	json_decref(ps->peers);
	free(ps);
}

static bool ds_ready(struct mirror *p, const char *ds)
{
	char key[256];

	snprintf(key, sizeof(key), "ds/%s", ds);
	return json_is_true(json_object_get(json_object_get(service_records(p->ctx), key), "ready"));
}

static const json_t *record_of(const json_t *records, const char *policy, const char *ds)
{
	char key[512];

	snprintf(key, sizeof(key), RECORD_PREFIX "%s/%s", policy, ds);
	return json_object_get(records, key);
}

/* The latest completed snapshot slot of a policy (its schedules' records). */
static int64_t latest_done(const json_t *records, const struct prot_policy *pol)
{
	int64_t best = SCHED_NONE;

	for (size_t s = 0; s < pol->n_schedules; s++) {
		char key[PROT_RECORD_KEY_MAX];
		int64_t started, done;

		if (prot_record_key(pol->name, pol->schedules[s].label, key) < 0)
			continue;
		prot_record_slots(json_object_get(records, key), &started, &done);
		if (done != SCHED_NONE && (best == SCHED_NONE || done > best))
			best = done;
	}
	return best;
}

static int64_t record_slot(const json_t *rec, const char *field)
{
	const json_t *v = json_object_get(rec, field);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : SCHED_NONE;
}

static const char *record_dr(const json_t *rec)
{
	return json_string_value(json_object_get(rec, "dr"));
}

/* The section part `key` of the acting leader (service_leader_part). Borrowed. */
static const json_t *leader_part(const struct service_ctx *ctx, const char *key)
{
	return service_leader_part(ctx, key, NULL);
}

/* The leader's patch over records (borrowed) under the acting epoch; what names it for the log.
 * Sets wait_version: the pass acts again only once it is committed. */
static int records_patch(struct mirror *p, const json_t *patch, const char *what)
{
	_cleanup_free_ char *error = NULL;
	uint64_t version = 0;
	int r = service_leader_patch(p->ctx, p->epoch, patch, &version, &error);

	if (r < 0) {
		klog(mlog(p), LOG_WARNING, "Cannot record %s: %s", what, error ? error : strerror(-r));
		return r;
	}
	if (version > p->wait_version)
		p->wait_version = version;
	return 0;
}

/* records["mirror/<policy>/<ds>"] = value (stolen; json_null() drops the record). */
static int record_patch(struct mirror *p, const char *policy, const char *ds, json_t *value)
{
	json_auto_t *patch = json_object();
	char key[512];

	snprintf(key, sizeof(key), RECORD_PREFIX "%s/%s", policy, ds);
	if (!patch || !value || json_object_set_new(patch, key, value) < 0)
		return -ENOMEM;
	return records_patch(p, patch, key);
}

/* ---- the leader's section ---------------------------------------------------------------- */

static json_t *requests_json(struct mirror *p)
{
	json_t *o = json_object();

	for (struct mreq *q = p->reqs; q && o; q = q->next)
		json_object_set(o, q->id, q->body);
	return o;
}

static void publish(struct mirror *p)
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
		json_object_set(part, "mirror_requests", reqs);
	json_decref(reqs);
	if (p->epoch) {
		if (json_object_size(p->answers))
			json_object_set(part, "mirror_answers", p->answers);
		json_object_set_new(part, "mirror_state",
				    json_pack("{sIsIsOsO}", "epoch", (json_int_t)p->epoch, "at", (json_int_t)p->read_at,
					      "targets", p->targets, "peers", p->peers ? p->peers : json_null()));
	}
	if (p->published && json_equal(p->published, part)) {
		json_decref(part);
		return;
	}
	r = service_node_publish(p->ctx, part, &error);
	if (r < 0 && r != -EOPNOTSUPP) {
		klog(mlog(p), LOG_WARNING, "Cannot publish this node's mirror section: %s", error ? error : strerror(-r));
		json_decref(part);
		return;
	}
	json_decref(p->published);
	p->published = part;
}

static void answer(struct mirror *p, const char *id, json_t *reply)
{
	if (reply && id && *id) {
		json_object_set_new(p->answers, id, reply);
		json_object_del(p->serving, id);
	} else
		json_decref(reply);
}

/* ---- the pass ------------------------------------------------------------------------------ */

/* The policies of the committed spec (borrowed: service_prot_policies()), NULL when none. */
static const struct prot_policy *policies_of(struct mirror *p, size_t *n)
{
	const struct prot_policy *pols = NULL;

	if (service_prot_policies(p->ctx, &pols, n) < 0) {
		*n = 0;
		return NULL;
	}
	return pols;
}

static int target_fill(struct mirror *p, struct target *t, const struct prot_policy *pol, const char *ds,
		       const json_t *records)
{
	_cleanup_free_ char *src = leader_ontap_volume_of(ds);
	const char *svm = service_config(p->ctx)->ontap.svm;
	char dst[PROT_VOLUME_NAME_MAX + 1];
	const json_t *x;
	size_t i;
	int r;

	if (!src)
		return -ENOTCONN;
	r = mirror_destination(&pol->mirror, src, dst, sizeof(dst));
	if (r < 0)
		return r;
	/* never a datastore's own volume (the apply path refuses such a spec; a spec from an older
	 * node, or a changed [ontap] svm, must not get that far either) */
	if (svm && !strcasecmp(pol->mirror.destination_svm, svm))
		json_array_foreach(json_object_get(service_spec(p->ctx), "datastores"), i, x) {
			_cleanup_free_ char *vol = leader_ontap_volume_of(json_string_value(json_object_get(x, "name")));
			if (vol && !strcasecmp(vol, dst))
				return -EEXIST;
		}
	t->policy = strdup(pol->name);
	t->ds = strdup(ds);
	t->dst_svm = strdup(pol->mirror.destination_svm);
	t->dst_volume = strdup(dst);
	t->sm_policy = strdup(pol->mirror.policy ? pol->mirror.policy : PROT_MIRROR_POLICY_DEFAULT);
	if (asprintf(&t->key, "%s/%s", pol->name, ds) < 0)
		t->key = NULL;
	t->m = pol->mirror;
	t->m.destination_svm = t->m.destination_volume = t->m.destination_volume_suffix = t->m.policy = NULL;
	t->latest_done = latest_done(records, pol);
	t->updated = SCHED_NONE;
	if (!t->policy || !t->ds || !t->dst_svm || !t->dst_volume || !t->sm_policy || !t->key)
		return -ENOMEM;
	return 0;
}

/*
 * The record of a (policy, datastore) whose snapmirror left the spec: a target that is only read.
 * Its destination is the one the record names (the spec no longer says it). -ENOENT when the
 * record names none (written before records named their destination).
 */
static int target_fill_left(struct target *t, const char *key, const json_t *rec)
{
	const char *slash = strchr(key, '/');
	const json_t *dst = json_object_get(rec, "destination");
	const char *svm = json_string_value(json_object_get(dst, "svm"));
	const char *vol = json_string_value(json_object_get(dst, "volume"));
	const char *cluster = json_string_value(json_object_get(dst, "cluster"));

	if (!slash || !svm || !*svm || !vol || !*vol)
		return -ENOENT;
	t->left = true;
	if (cluster && !(t->left_cluster = strdup(cluster)))
		return -ENOMEM;
	t->policy = strndup(key, (size_t)(slash - key));
	t->ds = strdup(slash + 1);
	t->dst_svm = strdup(svm);
	t->dst_volume = strdup(vol);
	t->key = strdup(key);
	t->latest_done = t->updated = SCHED_NONE;
	if (!t->policy || !t->ds || !t->dst_svm || !t->dst_volume || !t->key)
		return -ENOMEM;
	return 0;
}

/* Whether the committed spec replicates (policy, ds): a policy with snapmirror that lists ds. */
static bool in_spec(const struct prot_policy *pols, size_t n, const char *policy, const char *ds)
{
	for (size_t i = 0; i < n; i++)
		if (pols[i].has_mirror && !strcmp(pols[i].name, policy))
			for (size_t d = 0; d < pols[i].n_datastores; d++)
				if (!strcmp(pols[i].datastores[d], ds))
					return true;
	return false;
}

static void pass_end(struct mirror *p)
{
	struct pass *ps = p->pass;
	json_t *targets = json_object();

	if (!ps)
		return;
	/* the reading of this pass replaces the last one (targets gone from the spec go) */
	for (size_t i = 0; targets && i < ps->n; i++) {
		struct target *t = &ps->t[i];
		const json_t *rec = record_of(service_records(p->ctx), t->policy, t->ds), *o = t->observed;
		struct mirror_rel rel = { 0 };
		json_t *x;
		int64_t updated = record_slot(rec, "updated");
		const char *end = json_string_value(json_object_get(json_object_get(o, "transfer"), "end_time"));
		char src[PROT_VOLUME_NAME_MAX + 64];

		if (o)
			mirror_rel_parse(o, &rel);
		snprintf(src, sizeof(src), "%s", json_string_value(json_object_get(json_object_get(o, "source"), "path")) ?: "");
		x = json_pack("{ssssssssss?sbss?ss?ss?ss?ss?ss?}", "policy", t->policy, "datastore", t->ds, "destination_svm",
			      t->dst_svm, "destination_volume", t->dst_volume, "state", rel.state[0] ? rel.state : NULL,
			      "healthy", rel.healthy, "transfer_state", rel.transfer_state[0] ? rel.transfer_state : NULL,
			      "last_transfer_end", end, "unhealthy_reason", rel.reason[0] ? rel.reason : NULL, "error",
			      t->error ? t->error
				       : json_string_value(json_object_get(json_object_get(p->retry_at, t->key), "error")),
			      "dr", record_dr(rec), "source", src[0] ? src : NULL);
		if (!x)
			continue;
		json_object_set_new(x, "lag_seconds", rel.has_lag ? json_integer(rel.lag) : json_null());
		json_object_set_new(x, "updated", updated != SCHED_NONE ? json_integer(updated) : json_null());
		json_object_set_new(x, "observed", json_boolean(o != NULL));
		if (t->left)
			json_object_set_new(x, "left", json_true());
		if (!t->error && o && json_object_get(p->logged, t->key)) {
			klog(mlog(p), LOG_NOTICE, "SnapMirror of datastore '%s' (policy '%s'): the error is gone", t->ds,
			     t->policy);
			json_object_del(p->logged, t->key);
		}
		json_object_set_new(targets, t->key, x);
	}
	if (targets) {
		json_decref(p->targets);
		p->targets = targets;
	}
	if (ps->peers) {
		json_decref(p->peers);
		p->peers = json_incref(ps->peers);
	}
	p->read_at = wall_now(p);
	pass_free(ps);
	p->pass = NULL;
	publish(p);
	if (p->again && p->epoch) {
		p->again = false;
		pass_kick(p);
	}
}

static void pass_start(struct mirror *p)
{
	const struct prot_policy *pols = NULL;
	const json_t *records = service_records(p->ctx);
	struct pass *ps;
	size_t n = 0, total = 0;

	if (p->pass || !p->epoch || !service_may_act(p->ctx))
		return;
	if (p->wait_version && service_committed_version(p->ctx) < p->wait_version)
		return; /* svc_committed kicks again */
	p->next_pass = mono_usec(p) + POLL_SEC * USEC_PER_SEC;
	bool pols_known = service_prot_policies(p->ctx, &pols, &n) >= 0;

	if (!pols_known)
		n = 0, pols = NULL;
	for (size_t i = 0; i < n; i++)
		if (pols[i].has_mirror)
			total += pols[i].n_datastores;
	total += json_object_size(records); /* room for the records of mirrors that left the spec */
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->t = calloc(total ? total : 1, sizeof(*ps->t)))) {
		free(ps);
		return;
	}
	ps->gen = ++p->gen;
	ps->peers = json_object();
	for (size_t i = 0; i < n; i++) {
		if (!pols[i].has_mirror)
			continue;
		for (size_t d = 0; d < pols[i].n_datastores; d++) {
			struct target *t = &ps->t[ps->n];
			int r;

			if (!ds_ready(p, pols[i].datastores[d]))
				continue;
			r = target_fill(p, t, &pols[i], pols[i].datastores[d], records);
			if (r < 0) {
				target_clear(t);
				memset(t, 0, sizeof(*t));
				if (r == -EEXIST)
					klog(mlog(p), LOG_ERR, "SnapMirror of datastore '%s' (policy '%s'): its destination on SVM "
					     "%s is a datastore's own volume; not replicating it", pols[i].datastores[d],
					     pols[i].name, pols[i].mirror.destination_svm);
				else if (r != -ENOTCONN)
					klog(mlog(p), LOG_ERR, "SnapMirror of datastore '%s' (policy '%s'): no destination: %s",
					     pols[i].datastores[d], pols[i].name, strerror(-r));
				continue;
			}
			ps->n++;
		}
	}
	/* relationships whose snapmirror left the spec: kvmcd never deletes one (nor its destination
	 * volume) by itself; it reads them, so that status can say they are left on ONTAP, and drops
	 * the record once ONTAP no longer has the relationship */
	if (pols_known) {
		const char *key;
		const json_t *rec;
		json_t *drop = json_object();

		json_object_foreach((json_t *)records, key, rec) {
			const char *pd, *slash;
			_cleanup_free_ char *policy = NULL;
			struct target *t = &ps->t[ps->n];

			if (strncmp(key, RECORD_PREFIX, strlen(RECORD_PREFIX)))
				continue;
			pd = key + strlen(RECORD_PREFIX);
			if (!(slash = strchr(pd, '/')) || !(policy = strndup(pd, (size_t)(slash - pd))) ||
			    in_spec(pols, n, policy, slash + 1))
				continue;
			int r = target_fill_left(t, pd, rec);

			if (r == -ENOENT && drop) {
				_cleanup_free_ char *vol = leader_ontap_volume_of(slash + 1);

				json_object_set_new(drop, key, json_null());
				klog(mlog(p), LOG_WARNING, "SnapMirror of datastore '%s' (policy '%s') left the spec; its "
				     "record does not say where the destination was (an older kvmcd wrote it), so it is "
				     "dropped: look on ONTAP for a relationship from volume %s to remove", slash + 1, policy,
				     vol ? vol : "?");
			}
			if (r < 0) {
				target_clear(t);
				memset(t, 0, sizeof(*t));
				continue;
			}
			ps->n++;
		}
		if (drop && json_object_size(drop))
			(void)records_patch(p, drop, "the drop of SnapMirror records that left the spec");
		json_decref(drop);
	}
	p->pass = ps;
	step(p);
}

static struct ticket *ticket_new(struct mirror *p, enum leader_ontap_mirror_op op)
{
	struct ticket *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p = p;
	t->gen = p->pass ? p->pass->gen : 0;
	t->op = op;
	t->next = p->tickets;
	p->tickets = t;
	return t;
}

static void ticket_drop(struct ticket *t)
{
	struct mirror *p = t->p;

	if (p)
		for (struct ticket **tt = &p->tickets; *tt; tt = &(*tt)->next)
			if (*tt == t) {
				*tt = t->next;
				break;
			}
	free(t);
}

static const char *op_name(enum leader_ontap_mirror_op op)
{
	switch (op) {
	case LEADER_MIRROR_SETUP: return "set up";
	case LEADER_MIRROR_GET: return "read";
	case LEADER_MIRROR_INITIALIZE: return "initialize";
	case LEADER_MIRROR_UPDATE: return "update";
	case LEADER_MIRROR_QUIESCE: return "quiesce";
	case LEADER_MIRROR_BREAK: return "break";
	case LEADER_MIRROR_RESYNC: return "resync";
	case LEADER_MIRROR_PEERS: return "read the SVM peers of";
	}
	return "?";
}

/* The request a DR record names, answered (when it is still asked). */
static void dr_answer(struct mirror *p, const json_t *rec, json_t *reply)
{
	const char *id = json_string_value(json_object_get(rec, "dr_request"));

	if (id && json_object_get(p->serving, id)) {
		answer(p, id, reply);
		publish(p);
	} else
		json_decref(reply);
}

/* t's error is e (taken; NULL: ENOMEM); logged once while it stays the same across passes. */
static void target_error(struct mirror *p, struct target *t, char *e)
{
	const char *last = json_string_value(json_object_get(p->logged, t->key));

	if (e && (!last || strcmp(last, e))) {
		klog(mlog(p), LOG_ERR, "SnapMirror of datastore '%s' (policy '%s', %s:%s): %s", t->ds, t->policy, t->dst_svm,
		     t->dst_volume, e);
		json_object_set_new(p->logged, t->key, json_string(e));
	}
	free(t->error);
	t->error = e;
}

static void on_done(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct ticket *tk = userdata;
	struct mirror *p = tk->p;
	enum leader_ontap_mirror_op op = tk->op;
	struct pass *ps;
	struct target *t;
	char buf[512];
	const json_t *rec;

	if (!p || !p->pass || p->pass->gen != tk->gen) {
		ticket_drop(tk);
		return;
	}
	ticket_drop(tk);
	ps = p->pass;
	t = &ps->t[ps->cur];
	if (!p->epoch || r == -ECANCELED || r == -ESTALE) {
		pass_free(p->pass);
		p->pass = NULL;
		return;
	}
	rec = record_of(service_records(p->ctx), t->policy, t->ds);
	if (t->left && op == LEADER_MIRROR_GET && r == -ENOENT) {
		klog(mlog(p), LOG_NOTICE, "The SnapMirror relationship to %s:%s (datastore '%s', policy '%s', no longer "
		     "in the spec) is gone from ONTAP: its record is dropped", t->dst_svm, t->dst_volume, t->ds, t->policy);
		(void)record_patch(p, t->policy, t->ds, json_null());
		ps->cur++;
		step(p);
		return;
	}
	if (op == LEADER_MIRROR_PEERS) {
		json_object_set_new(ps->peers, t->dst_svm, peering_of(r, obj, err));
		step(p);
		return;
	}
	if (op == LEADER_MIRROR_GET && r == -ENOENT && !t->set_up) {
		const json_t *peer = json_object_get(ps->peers, t->dst_svm);

		if (json_is_false(json_object_get(peer, "peered"))) {
			_cleanup_free_ char *e = NULL;
			const char *src = service_config(p->ctx)->ontap.svm;

			if (asprintf(&e, "SVM %s is not peered with SVM %s for SnapMirror (%s): peer them on ONTAP first "
				     "(`vserver peer create -vserver %s -peer-vserver %s -applications snapmirror`, "
				     "accepted on the destination cluster; see `kvmcctl preflight`)",
				     src, t->dst_svm, json_string_value(json_object_get(peer, "state")) ?: "no peering",
				     src, t->dst_svm) < 0)
				e = NULL;
			target_error(p, t, TAKE_PTR(e));
			ps->cur++;
			step(p);
			return;
		}
		t->set_up = true;
		json_decref(t->observed);
		t->observed = NULL;
		klog(mlog(p), LOG_INFO, "SnapMirror of datastore '%s' (policy '%s'): no relationship to %s:%s yet: setting it up",
		     t->ds, t->policy, t->dst_svm, t->dst_volume);
		t->want_setup = true;
		step(p);
		return;
	}
	if (op == LEADER_MIRROR_GET && r == -ENOENT && t->set_up && t->error) {
		/* the re-read after a failed setup: still no relationship; the setup's error stands */
		ps->cur++;
		step(p);
		return;
	}
	if (r < 0) {
		const char *why = err && (err->message || err->code) ? ontap_error_format(err, buf, sizeof(buf))
								     : failure_text(p, t, r, buf, sizeof(buf));
		_cleanup_free_ char *e = NULL;

		if (asprintf(&e, "%s failed: %s", op_name(op), why) < 0)
			e = NULL;
		/* The destination SVM peered, yet the cluster kvmcd asked cannot make the volume there:
		 * it is on another cluster (ONTAP manages a relationship from its destination's
		 * cluster), one kvmcd has no [ontap_peer] connection to: say so, with ONTAP's words. */
		if (e && op == LEADER_MIRROR_SETUP && r == -ENOENT && !target_cluster(p, t)) {
			const json_t *peer = json_object_get(ps->peers, t->dst_svm);
			const char *cl = json_string_value(json_object_get(peer, "cluster"));
			const char *configured = leader_ontap_peer_cluster();
			char *hint = NULL;

			if (json_is_true(json_object_get(peer, "peered")) &&
			    asprintf(&hint, "%s; SVM %s is peered from cluster %s, which kvmcd has no connection to%s%s%s: "
				     "a relationship is managed from its destination's cluster, so give kvmcd one (an "
				     "[ontap_peer] section with cluster = %s, its management address and credentials, in "
				     "kvmcd.conf on every node), or use a destination SVM of this cluster", e, t->dst_svm,
				     cl ? cl : "(unnamed)", configured ? " ([ontap_peer] is cluster " : "",
				     configured ? configured : "", configured ? ")" : "", cl ? cl : "NAME") >= 0) {
				free(e);
				e = hint;
			}
		}
		target_error(p, t, TAKE_PTR(e));
		if (op == LEADER_MIRROR_UPDATE)
			json_object_set_new(p->retry_at, t->key,
					    json_pack("{sIss?}", "at", (json_int_t)(mono_usec(p) + UPDATE_RETRY_SEC * USEC_PER_SEC),
						      "error", t->error));
		if (op == LEADER_MIRROR_QUIESCE || op == LEADER_MIRROR_BREAK || op == LEADER_MIRROR_RESYNC) {
			/* the transition is recorded: the leader goes on trying it, so the verdict is
			 * not "failed" but "not yet" (kvmcctl: outcome unknown, exit 3) */
			json_t *a = api_error(r, "dr %s of datastore %s: %s failed: %s; it is recorded and the leader keeps "
					      "trying (see `kvmcctl dr status`)",
					      !strcmp(record_dr(rec) ?: "", "resync") ? "resync" : "failover", t->ds,
					      op_name(op), why);
			if (a)
				json_object_set_new(a, "outcome", json_string("unknown"));
			dr_answer(p, rec, a);
		}
		if (op != LEADER_MIRROR_GET) {
			/* re-read, so that the state published is the one after the failure */
			t->steps = MAX_STEPS - 1;
			step(p);
			return;
		}
		ps->cur++;
		step(p);
		return;
	}
	if (op == LEADER_MIRROR_GET) {
		const json_t *dst = json_object_get(rec, "destination");

		json_decref(t->observed);
		t->observed = obj && obj->record ? json_deep_copy(obj->record) : NULL;
		/* the record names the destination, so that a relationship whose snapmirror leaves the
		 * spec can still be found (and reported) after the spec stops saying where it is */
		const char *cluster = target_cluster(p, t);

		if (t->observed && !t->left &&
		    (strcmp(json_string_value(json_object_get(dst, "svm")) ?: "", t->dst_svm) ||
		     strcmp(json_string_value(json_object_get(dst, "volume")) ?: "", t->dst_volume) ||
		     strcmp(json_string_value(json_object_get(dst, "cluster")) ?: "", cluster ?: ""))) {
			json_t *v = json_deep_copy(rec) ?: json_object();

			/* (no patch without the destination: it would be made again at every pass) */
			if (v && json_object_set_new(v, "destination", destination_json(t, cluster)) == 0)
				record_patch(p, t->policy, t->ds, v);
			else
				json_decref(v);
		}
	} else {
		free(t->error);
		t->error = NULL;
		klog(mlog(p), op == LEADER_MIRROR_UPDATE ? LOG_INFO : LOG_NOTICE,
		     "SnapMirror of datastore '%s' (policy '%s', %s:%s): %s done", t->ds, t->policy, t->dst_svm,
		     t->dst_volume, op_name(op));
	}
	if (op == LEADER_MIRROR_UPDATE) {
		json_t *v = json_deep_copy(rec) ?: json_object();

		json_object_del(p->retry_at, t->key);
		if (v) {
			json_object_set_new(v, "updated", json_integer(ps->update_slot));
			t->updated = ps->update_slot;
			json_object_set_new(v, "updated_at", json_integer(wall_now(p)));
		}
		record_patch(p, t->policy, t->ds, v);
	}
	step(p);
}

/* A record's "destination": {"svm", "volume", "cluster" when not [ontap]'s}; NULL on ENOMEM. */
static json_t *destination_json(const struct target *t, const char *cluster)
{
	json_t *d = json_pack("{ssss}", "svm", t->dst_svm, "volume", t->dst_volume);

	if (d && cluster && json_object_set_new(d, "cluster", json_string(cluster)) < 0) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* What the SVM peer listing says: {"peered": true|false|null, "state", "applications", "cluster"
 * (the peer SVM's cluster, as ONTAP names it), "error"}. */
static json_t *peering_of(int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	const json_t *recs = json_object_get(obj ? obj->record : NULL, "records"), *x, *a;
	const char *state = NULL;
	char buf[512];
	size_t i, k;

	if (r < 0)
		return json_pack("{snss}", "peered", "error",
				 err && (err->message || err->code) ? ontap_error_format(err, buf, sizeof(buf)) : strerror(-r));
	json_array_foreach(recs, i, x) {
		bool mirror = false;

		json_array_foreach(json_object_get(x, "applications"), k, a)
			mirror = mirror || !strcmp(json_string_value(a) ?: "", "snapmirror");
		if (!state || !strcmp(json_string_value(json_object_get(x, "state")) ?: "", "peered"))
			state = json_string_value(json_object_get(x, "state"));
		if (mirror && !strcmp(json_string_value(json_object_get(x, "state")) ?: "", "peered"))
			return json_pack("{sbsssOss?}", "peered", 1, "state", "peered", "applications",
					 json_object_get(x, "applications"), "cluster",
					 json_string_value(json_object_get(json_object_get(json_object_get(x, "peer"), "cluster"), "name")));
	}
	return json_pack("{sbss}", "peered", 0, "state",
			 state ? (json_array_size(recs) ? state : "no peering") : "no peering");
}

/*
 * The cluster that holds t's destination, when it is not [ontap]'s: [ontap_peer]'s, when this
 * pass's peering of the destination SVM names it as the peer cluster (a left target: its
 * record's); NULL: [ontap]'s own. A peering with a cluster kvmcd has no [ontap_peer] for stays
 * NULL: the setup then fails on this cluster, and on_done says what to configure.
 */
static const char *target_cluster(const struct mirror *p, const struct target *t)
{
	const char *peer = leader_ontap_peer_cluster(), *cl;

	if (t->left)
		return peer && t->left_cluster && !strcasecmp(t->left_cluster, peer) ? peer : NULL;
	cl = p->pass ? json_string_value(json_object_get(json_object_get(p->pass->peers, t->dst_svm), "cluster")) : NULL;
	return peer && cl && !strcasecmp(cl, peer) ? peer : NULL;
}

/* Why a call failed with r when ONTAP said nothing (in buf, or static): -ENOLINK names the peer
 * cluster the leader cannot reach. */
static const char *failure_text(const struct mirror *p, const struct target *t, int r, char *buf, size_t size)
{
	if (r != -ENOLINK)
		return strerror(-r);
	snprintf(buf, size, "the destination is on the peer ONTAP cluster %s, which the leader cannot reach "
		 "([ontap_peer]): %s", target_cluster(p, t) ?: "?", leader_ontap_peer_error() ?: "no client");
	return buf;
}

static int call(struct mirror *p, struct target *t, enum leader_ontap_mirror_op op)
{
	struct leader_mirror_target lt = { .datastore = t->ds, .dst_svm = t->dst_svm, .dst_volume = t->dst_volume,
					   .policy = t->sm_policy, .dst_cluster = target_cluster(p, t) };
	struct ticket *tk = ticket_new(p, op);
	int r;

	if (!tk)
		return -ENOMEM;
	t->steps++;
	r = leader_ontap_mirror(op, &lt, on_done, tk);
	if (r < 0)
		ticket_drop(tk);
	return r;
}

/* The DR record of t goes (a finished resync, a transition that cannot start). */
static void dr_clear(struct mirror *p, struct target *t, const json_t *rec)
{
	json_t *v = json_deep_copy(rec);

	if (v) {
		json_object_set_new(v, "dr", json_null());
		json_object_set_new(v, "dr_request", json_null());
	}
	record_patch(p, t->policy, t->ds, v);
}

/* What to do next on target t, from its last reading and its record; -1: nothing. */
static int next_op(struct mirror *p, struct target *t, int64_t *slot)
{
	const json_t *rec = record_of(service_records(p->ctx), t->policy, t->ds);
	const char *dr = record_dr(rec);
	struct mirror_rel rel = { 0 };

	if (t->left)
		return !t->observed && t->steps < MAX_STEPS ? LEADER_MIRROR_GET : -1;
	if (t->want_setup) {
		t->want_setup = false;
		return LEADER_MIRROR_SETUP;
	}
	/* SnapMirror between two SVMs needs their peering: read once per pass and SVM */
	if (strcmp(t->dst_svm, service_config(p->ctx)->ontap.svm ?: "") && p->pass &&
	    !json_object_get(p->pass->peers, t->dst_svm))
		return LEADER_MIRROR_PEERS;
	if (!t->observed)
		return t->steps < MAX_STEPS ? LEADER_MIRROR_GET : -1;
	if (t->steps >= MAX_STEPS || mirror_rel_parse(t->observed, &rel) < 0 || mirror_transferring(&rel))
		return -1;
	if (dr && !strcmp(dr, "failover")) {
		if (!strcmp(rel.state, "broken_off")) {
			dr_answer(p, rec, json_pack("{sbss}", "ok", 1, "message", "failed over: the destination is writable "
						   "(broken_off)"));
			return -1;
		}
		if (!strcmp(rel.state, "snapmirrored"))
			return LEADER_MIRROR_QUIESCE;
		if (!strcmp(rel.state, "paused"))
			return LEADER_MIRROR_BREAK;
		/* a state no failover starts from (changed on ONTAP since the request was checked):
		 * the record goes, so that it does not hold the relationship forever */
		dr_answer(p, rec, api_refusal(-EINVAL, "datastore %s cannot fail over from relationship state %s; "
					      "nothing done", t->ds, rel.state[0] ? rel.state : "unknown"));
		dr_clear(p, t, rec);
		return -1;
	}
	if (dr && !strcmp(dr, "resync")) {
		if (!strcmp(rel.state, "broken_off"))
			return LEADER_MIRROR_RESYNC;
		if (!strcmp(rel.state, "snapmirrored"))
			dr_answer(p, rec, json_pack("{sbss}", "ok", 1, "message", "resynced: the relationship is snapmirrored "
						   "again, the destination is read-only"));
		else
			dr_answer(p, rec, api_refusal(-EINVAL, "datastore %s cannot resync from relationship state %s; "
						      "nothing done", t->ds, rel.state[0] ? rel.state : "unknown"));
		dr_clear(p, t, rec);
		return -1;
	}
	if (!strcmp(rel.state, "uninitialized"))
		return LEADER_MIRROR_INITIALIZE;
	if (!strcmp(rel.state, "snapmirrored") &&
	    (uint64_t)json_integer_value(json_object_get(json_object_get(p->retry_at, t->key), "at")) <= mono_usec(p) &&
	    mirror_update_due(&t->m, t->latest_done,
			      t->updated != SCHED_NONE ? t->updated : record_slot(rec, "updated"), wall_now(p), slot))
		return LEADER_MIRROR_UPDATE;
	return -1;
}

static void step(struct mirror *p)
{
	struct pass *ps = p->pass;

	while (ps && ps->cur < ps->n) {
		struct target *t = &ps->t[ps->cur];
		int64_t slot = SCHED_NONE;
		int op = next_op(p, t, &slot), r;

		if (op < 0) {
			ps->cur++;
			continue;
		}
		if (op != LEADER_MIRROR_GET && op != LEADER_MIRROR_SETUP) {
			/* every transition is followed by a fresh reading */
			json_decref(t->observed);
			t->observed = NULL;
		}
		if (op == LEADER_MIRROR_UPDATE) {
			ps->update_slot = slot;
			klog(mlog(p), LOG_INFO, "SnapMirror of datastore '%s' (policy '%s'): update for %s", t->ds, t->policy,
			     t->m.update_after_snapshot ? "the snapshot just taken" : "its schedule");
		}
		r = call(p, t, op);
		if (r >= 0)
			return; /* on_done goes on */
		if (r == -ENOTCONN) {
			pass_free(ps);
			p->pass = NULL;
			return;
		}
		{
			char *e = NULL, buf[512];
			if (asprintf(&e, "%s failed: %s", op_name(op), failure_text(p, t, r, buf, sizeof(buf))) < 0)
				e = NULL;
			target_error(p, t, e);
		}
		ps->cur++;
	}
	pass_end(p);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	struct mirror *p = userdata;

	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	if (p->pass)
		p->again = true;
	else
		pass_start(p);
	return 0;
}

static void pass_kick(struct mirror *p)
{
	if (p->epoch)
		sd_event_source_set_enabled(p->kick_src, SD_EVENT_ONESHOT);
}

/* ---- requests: the asking side ------------------------------------------------------------- */

static void mreq_free(struct mreq *q)
{
	if (!q)
		return;
	free(q->id);
	json_decref(q->body);
	free(q);
}

static int request_send(struct mirror *p, uint64_t conn_id, json_t *body)
{
	struct mreq *q = calloc(1, sizeof(*q));

	if (!q || !body ||
	    asprintf(&q->id, "%s/%s.%" PRIu64, service_config(p->ctx)->node_name, p->nonce, ++p->seq) < 0) {
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
	klog(mlog(p), LOG_INFO, "Request %s to the leader: dr %s %s", q->id,
	     json_string_value(json_object_get(body, "op")) ?: "?",
	     json_string_value(json_object_get(body, "datastore")) ?: "");
	publish(p);
	return 0;
}

static void requests_check(struct mirror *p)
{
	const json_t *secs = service_node_sections(p->ctx), *v;
	uint64_t now = mono_usec(p);
	bool changed = false;
	const char *k;

	for (struct mreq **qq = &p->reqs; *qq;) {
		struct mreq *q = *qq;
		const json_t *a = NULL;

		json_object_foreach((json_t *)secs, k, v)
			if (!a)
				a = json_object_get(json_object_get(json_object_get(v, "section"), "mirror_answers"), q->id);
		if (a || now >= q->deadline) {
			json_t *reply = a ? json_deep_copy(a)
					  : json_pack("{sbsssiss}", "ok", 0, "outcome", "unknown", "errno", ETIMEDOUT, "error",
						      "no verdict from the leader in time; the transition may still happen "
						      "(check `kvmcctl dr status`)");
			service_reply(p->ctx, q->conn_id, reply);
			*qq = q->next;
			mreq_free(q);
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
					json_object_get(json_object_get(json_object_get(v, "section"), "mirror_requests"), id);
			if (!asked) {
				json_object_del(p->answers, id);
				changed = true;
			}
		}
	}
	if (changed)
		publish(p);
}

/* ---- requests: the leader's side ----------------------------------------------------------- */

/* The policy of datastore ds that has snapmirror; NULL (and *any: ds is in some policy). */
static const struct prot_policy *mirror_policy_of(const struct prot_policy *pols, size_t n, const char *ds, bool *in_any)
{
	if (in_any)
		*in_any = false;
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < pols[i].n_datastores; d++)
			if (!strcmp(pols[i].datastores[d], ds)) {
				if (in_any)
					*in_any = true;
				if (pols[i].has_mirror)
					return &pols[i];
			}
	return NULL;
}

static bool ds_in_spec(struct mirror *p, const char *ds)
{
	const json_t *x;
	size_t i;

	json_array_foreach(json_object_get(service_spec(p->ctx), "datastores"), i, x)
		if (!strcmp(json_string_value(json_object_get(x, "name")) ?: "", ds))
			return true;
	return false;
}

/* The first check, on the node asked and again on the leader: NULL, or a refusal. */
static json_t *dr_precheck(struct mirror *p, const char *op, const char *ds, const struct prot_policy *pols, size_t n)
{
	bool in_any;

	if (!ds)
		return api_refusal(-EINVAL, "which datastore?");
	if (!ds_in_spec(p, ds))
		return api_refusal(-ENOENT, "no datastore '%s' in the spec", ds);
	if (!mirror_policy_of(pols, n, ds, &in_any))
		return api_refusal(-ENOENT, "datastore '%s' is %s: it has no SnapMirror relationship", ds,
				   in_any ? "in no protection policy with snapmirror" : "in no protection policy");
	return NULL;
}

static void serve_request(struct mirror *p, const char *id, const json_t *body)
{
	const struct prot_policy *pols = NULL;
	const char *op = json_string_value(json_object_get(body, "op"));
	const char *ds = json_string_value(json_object_get(body, "datastore"));
	const struct prot_policy *pol;
	enum mirror_dr_op dop;
	const json_t *rec, *reading;
	struct mirror_rel rel = { 0 };
	char why[MIRROR_WHY_MAX], key[512];
	json_t *refusal, *v;
	size_t n = 0;
	int r;

	if (json_object_get(p->serving, id))
		return;
	pols = policies_of(p, &n);
	if (!op || (strcmp(op, "failover") && strcmp(op, "resync"))) {
		answer(p, id, api_refusal(-EINVAL, "dr: unknown operation '%s'", op ?: "?"));
		return;
	}
	dop = op[0] == 'f' ? MIRROR_DR_FAILOVER : MIRROR_DR_RESYNC;
	refusal = dr_precheck(p, op, ds, pols, n);
	if (refusal) {
		answer(p, id, refusal);
		return;
	}
	pol = mirror_policy_of(pols, n, ds, NULL);
	rec = record_of(service_records(p->ctx), pol->name, ds);
	if (record_dr(rec) && strcmp(record_dr(rec), op) != 0 && !strcmp(record_dr(rec), "resync")) {
		answer(p, id, api_refusal(-EBUSY, "dr %s of datastore %s: a resync is still in progress", op, ds));
		return;
	}
	if (record_dr(rec) && !strcmp(record_dr(rec), op) &&
	    !strcmp(json_string_value(json_object_get(rec, "dr_request")) ?: "", id)) {
		/* recorded already (by a former leader): the pass finishes it and answers */
		json_object_set_new(p->serving, id, json_true());
		return;
	}
	snprintf(key, sizeof(key), "%s/%s", pol->name, ds);
	reading = json_object_get(p->targets, key);
	rel_of_reading(reading, &rel);
	r = mirror_dr_check(dop, ds, rel.state[0] ? &rel : NULL, why, sizeof(why));
	if (r == -EALREADY && dop == MIRROR_DR_FAILOVER) {
		/* failed over already: in place (a retry after "outcome unknown" must not fail) */
		answer(p, id, json_pack("{sbss}", "ok", 1, "message", why));
		return;
	}
	if (r < 0) {
		klog(mlog(p), LOG_NOTICE, "Refusing dr %s of datastore '%s': %s", op, ds, why);
		answer(p, id, api_refusal(r, "%s", why));
		return;
	}
	/* persist, then act: the record first, the pass acts once it is committed */
	v = json_deep_copy(rec) ?: json_object();
	if (v) {
		json_object_set_new(v, "dr", json_string(op));
		json_object_set_new(v, "dr_request", json_string(id));
	}
	r = record_patch(p, pol->name, ds, v);
	if (r < 0) {
		answer(p, id, api_error(r, "dr %s of datastore %s: cannot record it: %s; nothing done", op, ds,
					strerror(-r)));
		return;
	}
	klog(mlog(p), LOG_NOTICE, "DR %s of datastore '%s' (policy '%s') requested by %s", op, ds, pol->name, id);
	json_object_set_new(p->serving, id, json_true());
}

static void serve_requests(struct mirror *p)
{
	const json_t *v, *body;
	const char *k, *id;
	bool any = false;

	if (!p->epoch || !service_may_act(p->ctx))
		return;
	json_object_foreach((json_t *)service_node_sections(p->ctx), k, v)
		json_object_foreach(json_object_get(json_object_get(v, "section"), "mirror_requests"), id, body)
			if (!json_object_get(p->answers, id) && !json_object_get(p->serving, id)) {
				serve_request(p, id, body);
				any = true;
			}
	if (any) {
		publish(p);
		pass_kick(p);
	}
}

/* ---- status (any node) --------------------------------------------------------------------- */

static const json_t *reading_of(const json_t *state, const char *policy, const char *ds)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", policy, ds);
	return json_object_get(json_object_get(state, "targets"), key);
}

static void rel_of_reading(const json_t *x, struct mirror_rel *rel)
{
	json_t *fake;

	memset(rel, 0, sizeof(*rel));
	if (!x || !json_is_true(json_object_get(x, "observed")))
		return;
	fake = json_pack("{sOsOs{sO}}", "state", json_object_get(x, "state"), "healthy", json_object_get(x, "healthy"),
			 "transfer", "state", json_object_get(x, "transfer_state"));
	if (fake)
		mirror_rel_parse(fake, rel);
	json_decref(fake);
	if (json_is_integer(json_object_get(x, "lag_seconds"))) {
		rel->has_lag = true;
		rel->lag = json_integer_value(json_object_get(x, "lag_seconds"));
	}
}

/* One datastore's status: the leader's reading, the RPO verdict, the record. */
static json_t *ds_status(const struct service_ctx *ctx, const json_t *state, const struct prot_policy *pol, const char *ds)
{
	const json_t *x = reading_of(state, pol->name, ds);
	const json_t *rec = record_of(service_records(ctx), pol->name, ds);
	struct mirror_rel rel;
	enum mirror_rpo rpo;
	const char *health;
	json_t *o;

	rel_of_reading(x, &rel);
	rpo = mirror_rpo_check(pol->mirror.rpo, &rel);
	if (!x || !json_is_true(json_object_get(x, "observed")))
		health = json_is_string(json_object_get(x, "error")) ? "error" : "unknown";
	else if (!strcmp(rel.state, "broken_off"))
		health = "failed over";
	else if (rpo == MIRROR_RPO_BREACH)
		health = "rpo breach";
	else if (!rel.healthy)
		health = "unhealthy";
	else
		health = "ok";
	o = json_pack("{sssssOsOsOsOsOsOsssOsOsO}", "datastore", ds, "policy", pol->name, "destination_svm",
		      json_object_get(x, "destination_svm") ?: json_null(), "destination_volume",
		      json_object_get(x, "destination_volume") ?: json_null(), "state",
		      json_object_get(x, "state") ?: json_null(), "healthy", json_object_get(x, "healthy") ?: json_null(),
		      "transfer_state", json_object_get(x, "transfer_state") ?: json_null(), "last_transfer",
		      json_object_get(x, "last_transfer_end") ?: json_null(), "health", health, "unhealthy_reason",
		      json_object_get(x, "unhealthy_reason") ?: json_null(), "error",
		      json_object_get(x, "error") ?: json_null(), "dr", json_object_get(rec, "dr") ?: json_null());
	if (!o)
		return NULL;
	json_object_set_new(o, "lag_seconds", rel.has_lag ? json_integer(rel.lag) : json_null());
	json_object_set_new(o, "rpo_seconds", pol->mirror.rpo ? json_integer(pol->mirror.rpo) : json_null());
	json_object_set_new(o, "rpo", json_string(mirror_rpo_name(rpo)));
	json_object_set_new(o, "rpo_ok", rpo == MIRROR_RPO_NONE ? json_null() : json_boolean(rpo == MIRROR_RPO_OK));
	json_object_set_new(o, "update", json_string(pol->mirror.update_after_snapshot ? "after-snapshot" : "schedule"));
	json_object_set_new(o, "last_update_slot", json_object_get(rec, "updated") ? json_incref(json_object_get(rec, "updated"))
										     : json_null());
	json_object_set_new(o, "read_at", json_incref(json_object_get(state, "at")) ?: json_null());
	return o;
}

json_t *mirror_policy_status(struct service_ctx *ctx, const struct prot_policy *pol)
{
	const json_t *state = leader_part(ctx, "mirror_state");
	json_t *o, *dss = json_array(), *lag = json_null(), *rpo_ok = json_null(), *last = json_null();
	const char *st = NULL, *health = NULL;
	bool mixed = false;
	size_t rank = SIZE_MAX;
	static const char *const order[] = { "error", "rpo breach", "unhealthy", "failed over", "unknown", "ok" };

	if (!dss)
		return NULL;
	for (size_t d = 0; d < pol->n_datastores; d++) {
		json_t *x = ds_status(ctx, state, pol, pol->datastores[d]);
		const json_t *l, *ok, *t;
		const char *s, *h;

		if (!x)
			continue;
		l = json_object_get(x, "lag_seconds");
		if (json_is_integer(l) && (!json_is_integer(lag) || json_integer_value(l) > json_integer_value(lag)))
			lag = (json_t *)l;
		ok = json_object_get(x, "rpo_ok");
		if (json_is_boolean(ok) && !json_is_false(rpo_ok))
			rpo_ok = (json_t *)ok;
		t = json_object_get(x, "last_transfer");
		if (json_is_string(t) && (!json_is_string(last) || strcmp(json_string_value(t), json_string_value(last)) > 0))
			last = (json_t *)t;
		s = json_string_value(json_object_get(x, "state")) ?: "unknown";
		if (!st)
			st = s;
		else if (strcmp(st, s))
			mixed = true;
		h = json_string_value(json_object_get(x, "health"));
		for (size_t k = 0; h && k < ARRAY_SIZE(order); k++)
			if (!strcmp(h, order[k])) {
				if (k < rank) {
					rank = k;
					health = order[k];
				}
				break;
			}
		json_array_append_new(dss, x);
	}
	o = json_pack("{sssosOsOsOsssssososs}", "destination_svm", pol->mirror.destination_svm, "rpo_seconds",
		      pol->mirror.rpo ? json_integer(pol->mirror.rpo) : json_null(), "lag_seconds", lag, "rpo_ok", rpo_ok,
		      "last_transfer", last, "state", mixed ? "mixed" : st ? st : "unknown", "health",
		      health ? health : "unknown", "datastores", dss, "policy",
		      json_string(pol->mirror.policy ? pol->mirror.policy : PROT_MIRROR_POLICY_DEFAULT), "update",
		      pol->mirror.update_after_snapshot ? "after-snapshot" : "schedule");
	return o;
}

/* The RPO breaches and other warnings of the spec's mirrors, from the leader's reading. */
static json_t *warnings_json(struct service_ctx *ctx, json_t **breaches_out)
{
	const json_t *state = leader_part(ctx, "mirror_state");
	const struct prot_policy *pols = NULL;
	json_t *w = json_array(), *b = json_array();
	size_t n = 0;

	if (service_prot_policies(ctx, &pols, &n) < 0)
		n = 0;
	for (size_t i = 0; w && b && i < n; i++) {
		if (!pols[i].has_mirror)
			continue;
		for (size_t d = 0; d < pols[i].n_datastores; d++) {
			const char *ds = pols[i].datastores[d];
			const json_t *x = reading_of(state, pols[i].name, ds);
			struct mirror_rel rel;
			char line[768];

			rel_of_reading(x, &rel);
			if (mirror_rpo_check(pols[i].mirror.rpo, &rel) == MIRROR_RPO_BREACH) {
				if (rel.has_lag)
					snprintf(line, sizeof(line),
						 "SnapMirror of datastore %s (policy %s): lag %" PRId64 " s is beyond the RPO of %" PRId64
						 " s%s%s", ds, pols[i].name, rel.lag, pols[i].mirror.rpo,
						 rel.reason[0] || json_is_string(json_object_get(x, "unhealthy_reason")) ? ": " : "",
						 json_string_value(json_object_get(x, "unhealthy_reason")) ?: "");
				else
					snprintf(line, sizeof(line),
						 "SnapMirror of datastore %s (policy %s): ONTAP reports no lag; the RPO of %" PRId64
						 " s cannot be shown to hold", ds, pols[i].name, pols[i].mirror.rpo);
				json_array_append_new(w, json_string(line));
				json_array_append_new(b, json_pack("{sssssosI}", "policy", pols[i].name, "datastore", ds,
								   "lag_seconds", rel.has_lag ? json_integer(rel.lag) : json_null(),
								   "rpo_seconds", (json_int_t)pols[i].mirror.rpo));
			} else if (x && json_is_string(json_object_get(x, "error"))) {
				snprintf(line, sizeof(line), "SnapMirror of datastore %s (policy %s): %s", ds, pols[i].name,
					 json_string_value(json_object_get(x, "error")));
				json_array_append_new(w, json_string(line));
			} else if (json_is_true(json_object_get(x, "observed")) && rel.state[0] &&
				   !strcmp(rel.state, "broken_off")) {
				snprintf(line, sizeof(line),
					 "SnapMirror of datastore %s (policy %s) is broken off (failed over): the destination "
					 "is writable and nothing is replicated until `kvmcctl dr resync %s`", ds, pols[i].name, ds);
				json_array_append_new(w, json_string(line));
			}
		}
	}
	/* relationships whose snapmirror left the spec and that ONTAP still has */
	{
		const char *key;
		const json_t *x;

		json_object_foreach(json_object_get(state, "targets"), key, x) {
			char line[768];

			if (!w || !json_is_true(json_object_get(x, "left")) || !json_is_true(json_object_get(x, "observed")))
				continue;
			snprintf(line, sizeof(line),
				 "SnapMirror relationship %s -> %s:%s (datastore %s, policy %s) is no longer in the spec: "
				 "kvmcd leaves it and its destination volume on ONTAP (it never deletes them by itself); "
				 "delete them on ONTAP, or put the snapmirror back in the spec",
				 json_string_value(json_object_get(x, "source")) ?: "?",
				 json_string_value(json_object_get(x, "destination_svm")) ?: "?",
				 json_string_value(json_object_get(x, "destination_volume")) ?: "?",
				 json_string_value(json_object_get(x, "datastore")) ?: "?",
				 json_string_value(json_object_get(x, "policy")) ?: "?");
			json_array_append_new(w, json_string(line));
		}
	}
	if (!w || !b) {
		json_decref(w);
		json_decref(b);
		return NULL;
	}
	*breaches_out = b;
	return w;
}

/* ---- spec apply (any node) ----------------------------------------------------------------- */

json_t *mirror_spec_check(const struct kvmcd_config *cfg, const json_t *next)
{
	_cleanup_free_ struct prot_policy *pols = NULL;
	_cleanup_free_ const char **all = NULL;
	_cleanup_free_ char *cluster = NULL, *prefix = NULL;
	struct spec_problems probs = { 0 };
	const json_t *dss = json_object_get(next, "datastores"), *x;
	json_t *reply, *list;
	size_t n = 0, n_all = 0, i;
	int r;

	/* without [ontap] there is no source SVM to compare with; a spec that does not list is left
	 * to the core, which says what is wrong with it */
	if (!cfg->ontap.address || !*cfg->ontap.address || !cfg->ontap.svm || !json_object_get(next, "protection") ||
	    prot_spec_list(next, &pols, &n) < 0)
		return NULL;
	/* only a destination on the source SVM can be a datastore's volume: the prefix (a cmap call
	 * to the local corosync) is read only then */
	for (i = 0; i < n; i++)
		if (pols[i].has_mirror && !strcasecmp(pols[i].mirror.destination_svm, cfg->ontap.svm))
			break;
	if (i == n)
		return NULL;
	all = calloc(json_array_size(dss) + 1, sizeof(*all));
	cluster = corosync_cluster_name();
	prefix = dsplan_prefix(cluster ? cluster : cfg->cluster_group);
	if (!all || !prefix)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	json_array_foreach(dss, i, x)
		if (json_string_value(json_object_get(x, "name")))
			all[n_all++] = json_string_value(json_object_get(x, "name"));
	r = prot_check_destinations(pols, n, all, n_all, cfg->ontap.svm, prefix, &probs);
	if (r >= 0) {
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

/* ---- preflight (any node) ------------------------------------------------------------------ */

void mirror_preflight(struct service_ctx *ctx, json_t *report)
{
	const json_t *state = leader_part(ctx, "mirror_state");
	const char *src = service_config(ctx)->ontap.svm;
	const struct prot_policy *pols = NULL;
	json_t *findings = json_object_get(report, "findings"), *done = json_object();
	size_t n = 0;

	if (!json_is_array(findings) || !done || service_prot_policies(ctx, &pols, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		const char *dst = pols[i].has_mirror ? pols[i].mirror.destination_svm : NULL;
		const json_t *peer;
		json_t *f;
		char check[128], fix[512], found[256];
		const char *counter;

		if (!dst || (src && !strcmp(dst, src)) || json_object_get(done, dst))
			continue;
		json_object_set_new(done, dst, json_true());
		peer = json_object_get(json_object_get(state, "peers"), dst);
		snprintf(check, sizeof(check), "ontap-snapmirror-peer:%s", dst);
		snprintf(fix, sizeof(fix),
			 "peer the SVMs for SnapMirror on ONTAP: `vserver peer create -vserver %s -peer-vserver %s "
			 "-applications snapmirror` (another cluster: `cluster peer create` first, then `vserver peer "
			 "accept` there), or POST /api/svm/peers",
			 src ? src : "?", dst);
		if (json_is_true(json_object_get(peer, "peered"))) {
			snprintf(found, sizeof(found), "SVM %s is peered with %s for snapmirror", src ? src : "?", dst);
			f = json_pack("{snsssbsss[s]snsnsn}", "node", "check", check, "ok", 1, "found", found, "needed_for",
				      "snapmirror", "fix", "packages", "package");
			counter = "passed";
		} else if (json_is_false(json_object_get(peer, "peered"))) {
			snprintf(found, sizeof(found), "SVM %s is not peered with %s for snapmirror (%s)", src ? src : "?", dst,
				 json_string_value(json_object_get(peer, "state")) ?: "no peering");
			f = json_pack("{snsssbsss[s]sssnsn}", "node", "check", check, "ok", 0, "found", found, "needed_for",
				      "snapmirror", "fix", fix, "packages", "package");
			counter = "failed";
			json_object_set_new(report, "ok", json_false());
		} else {
			snprintf(found, sizeof(found), "the leader has not read the peering of %s with %s yet%s%s",
				 src ? src : "?", dst, json_string_value(json_object_get(peer, "error")) ? ": " : "",
				 json_string_value(json_object_get(peer, "error")) ?: "");
			f = json_pack("{snsssnsss[s]sssnsn}", "node", "check", check, "ok", "found", found, "needed_for",
				      "snapmirror", "fix", fix, "packages", "package");
			counter = "unknown";
		}
		if (f) {
			json_array_append_new(findings, f);
			json_object_set_new(report, counter, json_integer(json_integer_value(json_object_get(report, counter)) + 1));
		}
	}
	json_decref(done);
}

/* ---- commands ------------------------------------------------------------------------------ */

static json_t *cmd_dr_status(void *state, uint64_t conn_id, json_t *req)
{
	struct mirror *p = state;
	const char *want = json_string_value(json_object_get(req, "datastore"));
	const json_t *st = leader_part(p->ctx, "mirror_state");
	const struct prot_policy *pols = NULL;
	json_t *out = json_array();
	size_t n = 0;
	bool found = false;

	if (!out)
		return NULL;
	pols = policies_of(p, &n);
	if (want) {
		json_t *refusal = dr_precheck(p, "status", want, pols, n);
		if (refusal) {
			json_decref(out);
			return refusal;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!pols[i].has_mirror)
			continue;
		for (size_t d = 0; d < pols[i].n_datastores; d++) {
			json_t *x;

			if (want && strcmp(want, pols[i].datastores[d]))
				continue;
			if (want && found)
				continue; /* the first policy with snapmirror is the one DR uses */
			found = true;
			x = ds_status(p->ctx, st, &pols[i], pols[i].datastores[d]);
			if (x)
				json_array_append_new(out, x);
		}
	}
	return json_pack("{sbsosO}", "ok", 1, "datastores", out, "leader_epoch",
			 json_object_get(st, "epoch") ?: json_null());
}

static json_t *cmd_dr_request(struct mirror *p, uint64_t conn_id, json_t *req, const char *op)
{
	const char *ds = json_string_value(json_object_get(req, "datastore"));
	const struct prot_policy *pols = NULL;
	json_t *refusal;
	size_t n = 0;
	int r;

	pols = policies_of(p, &n);
	refusal = dr_precheck(p, op, ds, pols, n);
	if (refusal)
		return refusal;
	if (!service_may_act(p->ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view; nothing done");
	r = request_send(p, conn_id, json_pack("{ssss}", "op", op, "datastore", ds));
	if (r < 0)
		return api_refusal(r, "cannot send the request to the leader: %s; nothing done", strerror(-r));
	return NULL;
}

static json_t *cmd_dr_failover(void *state, uint64_t conn_id, json_t *req)
{
	return cmd_dr_request(state, conn_id, req, "failover");
}

static json_t *cmd_dr_resync(void *state, uint64_t conn_id, json_t *req)
{
	return cmd_dr_request(state, conn_id, req, "resync");
}

static const struct service_command commands[] = {
	{ "dr-status", cmd_dr_status },
	{ "dr-failover", cmd_dr_failover },
	{ "dr-resync", cmd_dr_resync },
	{ NULL, NULL },
};

/* ---- the service ------------------------------------------------------------------------- */

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct mirror *p = userdata;

	if (p->reqs || json_object_size(p->answers))
		requests_check(p);
	if (p->epoch && !p->pass && usec >= p->next_pass)
		pass_start(p);
	sd_event_source_set_time(s, usec + USEC_PER_SEC);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static void mirror_free(void *state)
{
	struct mirror *p = state;

	if (!p)
		return;
	for (struct ticket *t = p->tickets; t; t = t->next)
		t->p = NULL; /* their callbacks (-ECANCELED when the client goes) free them */
	pass_free(p->pass);
	while (p->reqs) {
		struct mreq *q = p->reqs;
		p->reqs = q->next;
		mreq_free(q);
	}
	sd_event_source_disable_unref(p->poll);
	sd_event_source_disable_unref(p->kick_src);
	json_decref(p->targets);
	json_decref(p->peers);
	json_decref(p->answers);
	json_decref(p->serving);
	json_decref(p->retry_at);
	json_decref(p->logged);
	json_decref(p->published);
	free(p->clock_file);
	free(p);
}

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	unsigned char rnd[4] = { 0 };
	struct mirror *p;
	FILE *f;
	int r;

	*state = NULL;
	if (!cfg->ontap.address || !*cfg->ontap.address)
		return 0; /* off without [ontap], like the snapshot service */
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
	p->targets = json_object();
	p->answers = json_object();
	p->serving = json_object();
	p->retry_at = json_object();
	p->logged = json_object();
	r = !p->targets || !p->answers || !p->serving || !p->retry_at || !p->logged ? -ENOMEM : 0;
	if (r >= 0 && cfg->protection.test_clock_offset_file && !(p->clock_file = strdup(cfg->protection.test_clock_offset_file)))
		r = -ENOMEM;
	if (r >= 0)
		r = sd_event_add_time_relative(service_event(ctx), &p->poll, CLOCK_MONOTONIC, USEC_PER_SEC, USEC_PER_SEC / 10,
					       on_poll, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->poll, SD_EVENT_ON);
	if (r >= 0)
		r = sd_event_add_defer(service_event(ctx), &p->kick_src, on_kick, p);
	if (r >= 0)
		r = sd_event_source_set_enabled(p->kick_src, SD_EVENT_OFF);
	if (r < 0) {
		mirror_free(p);
		if (asprintf(error, "cannot set up the SnapMirror service: %s", strerror(-r)) < 0)
			*error = NULL;
		return r;
	}
	*state = p;
	return 0;
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	struct mirror *p = state;

	if (acting) {
		if (p->epoch != epoch) {
			json_object_clear(p->answers);
			json_object_clear(p->serving);
			json_object_clear(p->targets);
		}
		p->epoch = epoch;
		/* a DR request a former leader took: the record names it; serve it again */
		serve_requests(p);
		pass_kick(p);
		return;
	}
	p->epoch = 0;
	if (p->pass && !p->tickets) {
		pass_free(p->pass);
		p->pass = NULL;
	}
	publish(p);
}

/* What a pass reads of the committed document: the spec's protection and datastores, the
 * prot/ and mirror/ records, which datastores are ready. */
static uint64_t committed_signature(struct mirror *p)
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
			json_object_set(recs, k, json_object_get(v, "done") ?: json_null());
		else if (!strncmp(k, RECORD_PREFIX, strlen(RECORD_PREFIX)))
			json_object_set(recs, k, json_object_get(v, "dr") ?: json_null());
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
	struct mirror *p = state;
	uint64_t sig;

	if (!may_act || !p->epoch)
		return;
	if (p->wait_version && version >= p->wait_version) {
		p->wait_version = 0;
		pass_kick(p);
	}
	sig = committed_signature(p);
	if (sig != p->sig) {
		p->sig = sig;
		pass_kick(p);
	}
}

static void svc_sections(void *state)
{
	struct mirror *p = state;

	if (p->reqs || json_object_size(p->answers))
		requests_check(p);
	serve_requests(p);
}

static json_t *svc_status(void *state)
{
	struct mirror *p = state;
	json_t *breaches = NULL, *w = warnings_json(p->ctx, &breaches);

	if (!w)
		return NULL;
	return json_pack("{sbsbsoso}", "acting", p->epoch != 0, "pass_running", p->pass != NULL, "warnings", w,
			 "rpo_breaches", breaches);
}

const struct service_ops mirror_service = {
	.name = "mirror",
	.init = svc_init,
	.free = mirror_free,
	.leading = svc_leading,
	.committed = svc_committed,
	.sections = svc_sections,
	.commands = commands,
	.status = svc_status,
};
