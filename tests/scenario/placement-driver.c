/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for placement and ownership (coord/decide/placement.c, the same code the
 * leader runs): the spec's VMs, the nodes with their capacity and state, the ownership records
 * the leader keeps in the replicated state, and a simulated WORLD -- which node really runs which
 * domain -- that the nodes change the way kvmcd's agents would: an owner starts what it is told
 * to start, stops what it is told to stop, and a live node stops any domain of the spec it does
 * not own (nor receives by migration). A node that leaves the view keeps running its domains; a
 * crash kills them; a fence kills them and marks the node fenced. Built with runner.c into
 * placement-sim; runner.h describes the runner, the command line and the random mode.
 *
 * The trace (golden: FILE.expect):
 *   == STATEMENT                                     a scenario statement, as written
 *   place ACTION {"vm","owner","migrating_to","reason"}   one line per VM of the spec, spec order
 *                                                    (null fields left out)
 *   place summary {"keep","start-on","stop","wait"}
 *   record set {"vm","owner","migrating_to"}         the leader recorded a changed ownership
 *   world start|stop {"vm","node"}                   a node started / stopped a domain
 *   world migrated {"vm","from","to"}                a live migration finished in the world
 *   world migration-failed {"vm","from","to"}
 *   plan move {"vm","from","to","why"}               plan stuck {"vm","why"}
 *   plan summary {"moves","stuck","in_flight","deferred"}
 *   settle done {"rounds":N}                         `settle`: place + apply rounds until quiet
 *   FAIL TEXT                                        a check failed (never in a golden)
 *
 * Invariants. After every step, in the world: no domain runs on two nodes; a fenced node runs
 * nothing. On every decision computed (`place`, `apply`, `settle`, and the plans' own):
 *   - one decision per VM; start-on and keep name a live owner (member, not fenced);
 *   - a VM running on a live owner stays there (keep, or stop when stopped in the spec); a VM
 *     whose owner is out of the view (or unknown) and not fenced keeps that owner and waits;
 *   - a new owner (start-on a node other than the recorded one) is eligible: usable (member,
 *     not fenced, drained or in maintenance), not avoided, no anti-affine VM there, its affinity
 *     partners there, the node's capacity not exceeded -- except the migration target taking
 *     over from a fenced source, which may run the VM already;
 *   - stopped VMs are never started and end without an owner unless being stopped or waiting;
 *   - every wait says why; a VM without affinity partners waits without an owner only when no
 *     node could take it in the end state (nothing was missed);
 *   - deterministic: computed again, and on the input with every array reversed, the same.
 * On every plan: each VM moves at most once, is started, runs on a live owner with no migration
 * in flight; the target is eligible (as above, counting the earlier moves); the limits hold with
 * the migrations in flight; balance never moves a VM to a node it prefers less; deterministic
 * (again, and reversed).
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   limits per-node N per-cluster N gap G   (header or timed) the plans' limits (default 1 4 10)
 *   at T node NAME [mem MIB] [cpu N] [out|member] [fenced|unfenced] [drained|undrained]
 *                  [maintenance|active]     adds a node (member, 16384 MiB, 16 vCPUs) or changes
 *                                           its fields; no effect on the world
 *   at T remove-node NAME                   it leaves the cluster's node list (its domains stay)
 *   at T leave NAME | crash NAME | fence NAME | unfence NAME | join NAME
 *                                           out of the view (domains keep running) | out, domains
 *                                           dead | fenced (out, domains dead) | fence cleared |
 *                                           member again (stops domains it does not own)
 *   at T drain NAME | undrain NAME | maintenance NAME on|off
 *   at T vm NAME [mem MIB] [cpu N] [started|stopped] [prefer A,B|-] [avoid A,B|-] [anti V,W|-]
 *                [affinity V,W|-] [ha on|off] [priority P]   adds (1024 MiB, 1 vCPU, started,
 *                                           HA on, priority 0) or changes a VM of the spec
 *   at T owner VM NODE|none [running|assigned] [migrating-to NODE [on-target]]
 *                                           sets the record (and the world: running = the node
 *                                           runs it; on-target = the migration finished in the
 *                                           world, the hand-over is not recorded)
 *   at T place                              decides and traces
 *   at T apply                              the last decisions are recorded and acted on
 *   at T settle [MAX]                       place + apply until nothing changes (default 5 rounds)
 *   at T drain-plan | rebalance             the plan, traced (a dry run: nothing is done)
 *   at T migrate                            starts the last plan's moves (records migrating_to)
 *   at T complete VM|all [unrecorded]       migrations finish in the world and the hand-over is
 *                                           recorded (unrecorded: lost with the source)
 *   at T abort VM|all                       migrations fail; the VM stays on its source
 *   at T expect action VM keep|start-on|stop|wait     of the last decisions
 *   at T expect owner VM NODE|none                    of the last decisions
 *   at T expect reason VM REGEX | no-reason VM         of the last decisions
 *   at T expect runs VM NODE|none                     in the world
 *   at T expect record VM NODE|none                   the recorded owner
 *   at T expect moves N | move VM FROM TO | stuck VM REGEX | deferred N   of the last plan
 *   at T expect settled                     a place now changes nothing, every started VM runs
 *                                           on its owner or waits, every stopped one runs nowhere
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"
#include "runner.h"

#define MS SCN_MS
#define MAX_NODES 64

struct snode {
	char *name;                  /* owned */
	bool member, fenced, drained, maintenance, removed;
	uint64_t mem;
	unsigned cpu;
};

struct strv {
	char **v;                    /* owned */
	size_t n;
};

struct svm {
	char *name;                  /* owned */
	bool started, ha;
	uint64_t mem;
	unsigned cpu;
	int prio;
	struct strv prefer, avoid, anti, aff;
	char *owner, *mig;           /* the record (owned; NULL = none) */
	uint64_t runs;               /* the world: bit i = node i runs it */
};

struct sim {
	struct scn *r;
	struct snode nodes[MAX_NODES];
	size_t n_nodes;
	struct svm *vms;
	size_t n_vms;
	struct placement_limits lim;
	struct placement_result *last;   /* owned: the last decisions */
	uint64_t gen, last_gen;          /* state changes so far; at the last decisions */
	struct placement_plan *plan;     /* owned: the last plan */
};

/* The input as placement sees it; arrays owned, strings borrowed from the sim. */
struct built {
	struct placement_input in;
	struct placement_vm *vms;
	struct placement_node *nodes;
	struct placement_owner *owners;
};

#define BAD(...) do { scn_fail(r, __VA_ARGS__); return -EINVAL; } while (0)

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *c = s ? strdup(s) : NULL;

	if (s && !c)
		abort();
	return c;
}

static void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strv){ 0 };
}

static void strv_set(struct strv *s, const char *list)
{
	strv_clear(s);
	if (!strcmp(list, "-") || !*list)
		return;
	for (const char *p = list;;) {
		size_t len = strcspn(p, ",");
		s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
		if (!s->v || !(s->v[s->n] = strndup(p, len)))
			abort();
		s->n++;
		if (!p[len])
			break;
		p += len + 1;
	}
}

static bool strv_has(const struct strv *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], x))
			return true;
	return false;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static struct snode *node_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return &s->nodes[i];
	return NULL;
}

static size_t node_index(struct sim *s, const char *name)
{
	struct snode *n = name ? node_find(s, name) : NULL;
	return n ? (size_t)(n - s->nodes) : (size_t)-1;
}

static struct svm *vm_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	return NULL;
}

static bool live(const struct snode *n)
{
	return n && n->member && !n->fenced && !n->removed;
}

static bool usable(const struct snode *n)
{
	return live(n) && !n->drained && !n->maintenance;
}

static bool runs_on(const struct svm *v, size_t node)
{
	return node < MAX_NODES && (v->runs >> node) & 1;
}

static int parse_uint(struct scn *r, const char *w, uint64_t *v)
{
	if (scn_parse_u64(w, v) < 0)
		BAD("'%s' is not a number", w);
	return 0;
}

/* ---- the input ------------------------------------------------------------------------------ */

static void build(struct sim *s, struct built *b, bool reversed)
{
	size_t k = 0, nn = 0;

	*b = (struct built){ 0 };
	b->vms = xcalloc(s->n_vms, sizeof(*b->vms));
	b->nodes = xcalloc(s->n_nodes, sizeof(*b->nodes));
	b->owners = xcalloc(s->n_vms, sizeof(*b->owners));
	for (size_t j = 0; j < s->n_vms; j++) {
		const struct svm *v = &s->vms[reversed ? s->n_vms - 1 - j : j];
		size_t x = node_index(s, v->owner);
		b->vms[j] = (struct placement_vm){
			.name = v->name, .started = v->started, .memory_mib = v->mem, .vcpus = v->cpu,
			.prefer = (const char *const *)v->prefer.v, .n_prefer = v->prefer.n,
			.avoid = (const char *const *)v->avoid.v, .n_avoid = v->avoid.n,
			.anti_affinity = (const char *const *)v->anti.v, .n_anti_affinity = v->anti.n,
			.affinity = (const char *const *)v->aff.v, .n_affinity = v->aff.n,
			.ha_enabled = v->ha, .ha_priority = v->prio,
		};
		if (v->owner)
			b->owners[k++] = (struct placement_owner){ .vm = v->name, .node = v->owner,
				.running = x != (size_t)-1 && runs_on(v, x), .migrating_to = v->mig };
	}
	for (size_t j = 0; j < s->n_nodes; j++) {
		const struct snode *n = &s->nodes[reversed ? s->n_nodes - 1 - j : j];
		if (n->removed)
			continue;
		b->nodes[nn++] = (struct placement_node){ .name = n->name, .member = n->member, .memory_mib = n->mem,
			.vcpus = n->cpu, .drained = n->drained, .maintenance = n->maintenance, .fenced = n->fenced };
	}
	if (reversed)
		for (size_t j = 0; j < k / 2; j++) {
			struct placement_owner t = b->owners[j];
			b->owners[j] = b->owners[k - 1 - j];
			b->owners[k - 1 - j] = t;
		}
	b->in = (struct placement_input){ .vms = b->vms, .n_vms = s->n_vms, .nodes = b->nodes, .n_nodes = nn,
					  .owners = b->owners, .n_owners = k };
}

static void built_free(struct built *b)
{
	free(b->vms);
	free(b->nodes);
	free(b->owners);
}

/* ---- checks on decisions ------------------------------------------------------------------- */

static const struct placement_decision *decision_of(const struct placement_result *res, const char *vm)
{
	for (size_t i = 0; i < res->n_decisions; i++)
		if (!strcmp(res->decisions[i].vm, vm))
			return &res->decisions[i];
	return NULL;
}

static bool decisions_equal(const struct placement_decision *a, const struct placement_decision *b)
{
	return a->action == b->action && same(a->vm, b->vm) && same(a->owner, b->owner) &&
	       same(a->migrating_to, b->migrating_to) && same(a->reason, b->reason);
}

/* Where a VM is (or will be) by the decisions: its owner and its migration target. */
static bool decided_at(const struct placement_decision *d, const char *node)
{
	return same(d->owner, node) || same(d->migrating_to, node);
}

static void node_use(struct sim *s, const struct placement_result *res, const char *node, uint64_t *mem, uint64_t *cpu)
{
	*mem = *cpu = 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct placement_decision *d = &res->decisions[i];
		if (d->owner && !strcmp(d->owner, node)) {
			*mem += s->vms[i].mem;
			*cpu += s->vms[i].cpu;
		}
		if (d->migrating_to && !strcmp(d->migrating_to, node)) {
			*mem += s->vms[i].mem;
			*cpu += s->vms[i].cpu;
		}
	}
}

/* Started VMs this one has affinity with (either direction). */
static bool has_partners(struct sim *s, const struct svm *v)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *w = &s->vms[i];
		if (w == v || !w->started)
			continue;
		if (strv_has(&v->aff, w->name) || strv_has(&w->aff, v->name))
			return true;
	}
	return false;
}

static bool anti_pair(const struct svm *a, const struct svm *b)
{
	return a != b && (strv_has(&a->anti, b->name) || strv_has(&b->anti, a->name));
}

/* Could node n take VM v in the end state the decisions describe (without v itself)? */
static const char *refusal(struct sim *s, const struct placement_result *res, const struct svm *v, const struct snode *n)
{
	uint64_t mem, cpu;

	if (!usable(n))
		return "not usable";
	if (strv_has(&v->avoid, n->name))
		return "avoided";
	for (size_t i = 0; i < s->n_vms; i++)
		if (anti_pair(v, &s->vms[i]) && decided_at(&res->decisions[i], n->name))
			return "anti-affinity";
	node_use(s, res, n->name, &mem, &cpu);
	if (mem + v->mem > n->mem || cpu + v->cpu > n->cpu)
		return "capacity";
	return NULL;
}

static void check_decisions(struct sim *s, const struct placement_result *res)
{
	struct scn *r = s->r;

	if (res->n_decisions != s->n_vms) {
		scn_fail(r, "%zu decisions for %zu VMs", res->n_decisions, s->n_vms);
		return;
	}
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		const struct placement_decision *d = &res->decisions[i];
		const struct snode *o = d->owner ? node_find(s, d->owner) : NULL;
		const struct snode *rec = v->owner ? node_find(s, v->owner) : NULL;
		bool rec_live = live(rec), rec_running = rec_live && runs_on(v, node_index(s, v->owner));

		if (!same(d->vm, v->name)) {
			scn_fail(r, "decision %zu is for %s, not %s", i, d->vm, v->name);
			continue;
		}
		if ((d->action == PLACEMENT_START_ON || d->action == PLACEMENT_KEEP || d->action == PLACEMENT_STOP) &&
		    d->owner && !live(o))
			scn_fail(r, "%s: %s on %s, which is not a live member", v->name, placement_action_name(d->action), d->owner);
		if (d->action == PLACEMENT_START_ON && !d->owner)
			scn_fail(r, "%s: start-on without an owner", v->name);
		if (d->action == PLACEMENT_WAIT && !(d->reason && *d->reason))
			scn_fail(r, "%s waits without a reason", v->name);
		/* the safety rules */
		if (v->owner && !rec_live && !(rec && rec->fenced)) {
			if (!same(d->owner, v->owner) || d->action != PLACEMENT_WAIT)
				scn_fail(r, "%s: its owner %s is out and not fenced, yet decided %s on %s", v->name, v->owner,
					 placement_action_name(d->action), d->owner ? d->owner : "none");
		}
		if (rec_running && !v->mig) {
			enum placement_action want = v->started ? PLACEMENT_KEEP : PLACEMENT_STOP;
			if (!same(d->owner, v->owner) || d->action != want)
				scn_fail(r, "%s runs on live %s but was decided %s on %s", v->name, v->owner,
					 placement_action_name(d->action), d->owner ? d->owner : "none");
		}
		/* (a fenced target runs nothing: then the migration is simply over) */
		if (v->owner && rec_live && v->mig && !(node_find(s, v->mig) && node_find(s, v->mig)->fenced) &&
		    !same(d->owner, v->owner))
			scn_fail(r, "%s migrates from live %s but its owner became %s", v->name, v->owner,
				 d->owner ? d->owner : "none");
		if (!v->started && d->action == PLACEMENT_START_ON)
			scn_fail(r, "%s is stopped in the spec but is started on %s", v->name, d->owner);
		if (!v->started && d->owner && d->action == PLACEMENT_KEEP && !d->migrating_to)
			scn_fail(r, "%s is stopped in the spec and kept owned by %s", v->name, d->owner);
		/* a new owner is eligible and the rules hold */
		if (d->action == PLACEMENT_START_ON && !same(d->owner, v->owner)) {
			bool takeover = rec && rec->fenced && same(v->mig, d->owner);
			uint64_t mem, cpu;
			if (!takeover) {
				if (!usable(o))
					scn_fail(r, "%s placed on %s, which is not usable", v->name, d->owner);
				if (strv_has(&v->avoid, d->owner))
					scn_fail(r, "%s placed on %s, which it avoids", v->name, d->owner);
				for (size_t j = 0; j < s->n_vms; j++) {
					const struct placement_decision *e = &res->decisions[j];
					if (anti_pair(v, &s->vms[j]) && decided_at(e, d->owner))
						scn_fail(r, "%s placed on %s with %s, against their anti-affinity", v->name, d->owner,
							 s->vms[j].name);
					if (j != i && s->vms[j].started &&
					    (strv_has(&v->aff, s->vms[j].name) || strv_has(&s->vms[j].aff, v->name)) && e->owner &&
					    !same(e->owner, d->owner))
						scn_fail(r, "%s placed on %s, its affinity partner %s on %s", v->name, d->owner,
							 s->vms[j].name, e->owner);
				}
				node_use(s, res, d->owner, &mem, &cpu);
				if (o && (mem > o->mem || cpu > o->cpu))
					scn_fail(r, "%s placed on %s: %" PRIu64 " MiB / %" PRIu64 " vCPUs used of %" PRIu64 " / %u",
						 v->name, d->owner, mem, cpu, o->mem, o->cpu);
			}
		}
		/* nothing missed: a lone VM waits without an owner only when no node takes it */
		if (d->action == PLACEMENT_WAIT && !d->owner && v->started && !has_partners(s, v)) {
			for (size_t n = 0; n < s->n_nodes; n++)
				if (!s->nodes[n].removed && !refusal(s, res, v, &s->nodes[n]))
					scn_fail(r, "%s waits (%s) but %s could take it", v->name, d->reason ? d->reason : "",
						 s->nodes[n].name);
		}
	}
}

/* Computes the decisions, checks them, and checks they are deterministic. Owned result. */
static struct placement_result *decide_now(struct sim *s)
{
	struct placement_result *res = NULL, *again = NULL, *rev = NULL;
	struct built b, br;
	int rc;

	build(s, &b, false);
	rc = placement_place(&b.in, &res);
	if (rc < 0) {
		scn_fail(s->r, "placement_place: %s", scn_errno_name(rc));
		built_free(&b);
		return NULL;
	}
	check_decisions(s, res);
	if (placement_place(&b.in, &again) < 0)
		abort();
	build(s, &br, true);
	if (placement_place(&br.in, &rev) < 0)
		abort();
	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *d = &res->decisions[i], *e = decision_of(rev, d->vm);
		if (!decisions_equal(d, &again->decisions[i]))
			scn_fail(s->r, "%s: not deterministic (computed twice)", d->vm);
		if (!e || !decisions_equal(d, e))
			scn_fail(s->r, "%s: another decision on the reversed input (%s on %s: %s)", d->vm,
				 e ? placement_action_name(e->action) : "none", e && e->owner ? e->owner : "none",
				 e && e->reason ? e->reason : "");
	}
	placement_result_free(again);
	placement_result_free(rev);
	built_free(&b);
	built_free(&br);
	return res;
}

static void trace_decisions(struct sim *s, const struct placement_result *res)
{
	size_t count[_PLACEMENT_ACTION_MAX] = { 0 };

	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct placement_decision *d = &res->decisions[i];
		json_t *j = json_pack("{ss}", "vm", d->vm);
		if (d->owner)
			json_object_set_new(j, "owner", json_string(d->owner));
		if (d->migrating_to)
			json_object_set_new(j, "migrating_to", json_string(d->migrating_to));
		if (d->reason)
			json_object_set_new(j, "reason", json_string(d->reason));
		scn_trace_json(s->r, "place", placement_action_name(d->action), j);
		count[d->action]++;
	}
	scn_trace_json(s->r, "place", "summary",
		       json_pack("{sIsIsIsI}", "keep", (json_int_t)count[PLACEMENT_KEEP], "start-on",
				 (json_int_t)count[PLACEMENT_START_ON], "stop", (json_int_t)count[PLACEMENT_STOP], "wait",
				 (json_int_t)count[PLACEMENT_WAIT]));
}

/* ---- the world ------------------------------------------------------------------------------ */

static void world_start(struct sim *s, struct svm *v, size_t n)
{
	if (runs_on(v, n))
		return;
	v->runs |= UINT64_C(1) << n;
	scn_trace_json(s->r, "world", "start", json_pack("{ssss}", "vm", v->name, "node", s->nodes[n].name));
}

static void world_stop(struct sim *s, struct svm *v, size_t n)
{
	if (!runs_on(v, n))
		return;
	v->runs &= ~(UINT64_C(1) << n);
	scn_trace_json(s->r, "world", "stop", json_pack("{ssss}", "vm", v->name, "node", s->nodes[n].name));
}

static void record(struct sim *s, struct svm *v, const char *owner, const char *mig)
{
	json_t *j;
	char *o, *m;

	if (same(v->owner, owner) && same(v->mig, mig))
		return;
	/* copied first: the new values may be the old ones (a hand-over passes v->mig) */
	o = xstrdup(owner);
	m = xstrdup(mig);
	free(v->owner);
	free(v->mig);
	v->owner = o;
	v->mig = m;
	j = json_pack("{ss}", "vm", v->name);
	json_object_set_new(j, "owner", v->owner ? json_string(v->owner) : json_null());
	if (v->mig)
		json_object_set_new(j, "migrating_to", json_string(v->mig));
	scn_trace_json(s->r, "record", "set", j);
}

/* Every live node stops the domains of the spec it neither owns nor receives. */
static void nodes_reconcile(struct sim *s)
{
	for (size_t n = 0; n < s->n_nodes; n++) {
		if (!live(&s->nodes[n]))
			continue;
		for (size_t i = 0; i < s->n_vms; i++) {
			struct svm *v = &s->vms[i];
			if (runs_on(v, n) && !same(v->owner, s->nodes[n].name) && !same(v->mig, s->nodes[n].name))
				world_stop(s, v, n);
		}
	}
}

/* The leader records the decisions, the owners act on them. Returns whether anything changed. */
static bool apply(struct sim *s, const struct placement_result *res)
{
	bool changed = false;

	for (size_t i = 0; i < res->n_decisions && i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		const struct placement_decision *d = &res->decisions[i];
		size_t o = node_index(s, d->owner);
		uint64_t before = v->runs;

		changed |= !same(v->owner, d->owner) || !same(v->mig, d->migrating_to);
		record(s, v, d->owner, d->migrating_to);
		if (d->action == PLACEMENT_START_ON && o != (size_t)-1 && live(&s->nodes[o])) {
			world_start(s, v, o);
		} else if (d->action == PLACEMENT_STOP && o != (size_t)-1 && live(&s->nodes[o])) {
			world_stop(s, v, o);
			record(s, v, NULL, NULL);
			changed = true;
		}
		changed |= before != v->runs;
	}
	nodes_reconcile(s);
	return changed;
}

static void world_invariants(void *d, struct scn *r)
{
	struct sim *s = d;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		if (__builtin_popcountll(v->runs) > 1) {
			char list[256] = "";
			for (size_t n = 0; n < s->n_nodes; n++)
				if (runs_on(v, n))
					snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s", s->nodes[n].name);
			scn_fail(r, "%s runs on two hosts:%s", v->name, list);
		}
		for (size_t n = 0; n < s->n_nodes; n++)
			if (runs_on(v, n) && s->nodes[n].fenced)
				scn_fail(r, "%s runs on fenced %s", v->name, s->nodes[n].name);
	}
}

/* ---- statements: the scene ------------------------------------------------------------------ */

static int st_limits(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char k[32], w[32];
	uint64_t v;

	while (*args) {
		args = scn_word(scn_word(args, k, sizeof(k)), w, sizeof(w));
		if (parse_uint(r, w, &v) < 0)
			return -EINVAL;
		if (!strcmp(k, "per-node"))
			s->lim.per_node = (unsigned)v;
		else if (!strcmp(k, "per-cluster"))
			s->lim.per_cluster = (unsigned)v;
		else if (!strcmp(k, "gap"))
			s->lim.balance_gap = (unsigned)v;
		else
			BAD("limits: unknown '%s'", k);
	}
	return 0;
}

static int st_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64], w[32], x[32];
	struct snode *n;
	uint64_t v;

	s->gen++;

	args = scn_word(args, name, sizeof(name));
	if (!*name)
		BAD("node: which node?");
	n = node_find(s, name);
	if (!n) {
		if (s->n_nodes == MAX_NODES)
			BAD("node: at most %d nodes", MAX_NODES);
		n = &s->nodes[s->n_nodes++];
		*n = (struct snode){ .name = xstrdup(name), .member = true, .mem = 16384, .cpu = 16 };
	}
	n->removed = false;
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		if (!strcmp(w, "mem") || !strcmp(w, "cpu")) {
			args = scn_word(args, x, sizeof(x));
			if (parse_uint(r, x, &v) < 0)
				return -EINVAL;
			if (!strcmp(w, "mem"))
				n->mem = v;
			else
				n->cpu = (unsigned)v;
		} else if (!strcmp(w, "out") || !strcmp(w, "member")) {
			n->member = !strcmp(w, "member");
		} else if (!strcmp(w, "fenced") || !strcmp(w, "unfenced")) {
			n->fenced = !strcmp(w, "fenced");
		} else if (!strcmp(w, "drained") || !strcmp(w, "undrained")) {
			n->drained = !strcmp(w, "drained");
		} else if (!strcmp(w, "maintenance") || !strcmp(w, "active")) {
			n->maintenance = !strcmp(w, "maintenance");
		} else {
			BAD("node %s: unknown '%s'", name, w);
		}
	}
	return 0;
}

static struct snode *node_arg(struct sim *s, struct scn *r, const char *verb, const char *args, char *rest, size_t size)
{
	char name[64];
	const char *after = scn_word(args, name, sizeof(name));
	struct snode *n = node_find(s, name);

	if (!n) {
		scn_fail(r, "%s: no node '%s'", verb, name);
		return NULL;
	}
	snprintf(rest, size, "%s", after);
	return n;
}

static int st_node_event(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char rest[64];
	struct snode *n = node_arg(s, r, verb, args, rest, sizeof(rest));
	size_t idx;

	if (!n)
		return -EINVAL;
	idx = (size_t)(n - s->nodes);
	s->gen++;
	if (!strcmp(verb, "maintenance")) {
		if (strcmp(rest, "on") && strcmp(rest, "off"))
			BAD("maintenance NODE on|off");
		n->maintenance = !strcmp(rest, "on");
		return 0;
	}
	if (*rest)
		BAD("%s: unexpected '%s'", verb, rest);
	if (!strcmp(verb, "drain") || !strcmp(verb, "undrain")) {
		n->drained = !strcmp(verb, "drain");
	} else if (!strcmp(verb, "leave")) {
		n->member = false;
	} else if (!strcmp(verb, "crash") || !strcmp(verb, "fence")) {
		n->member = false;
		if (!strcmp(verb, "fence"))
			n->fenced = true;
		for (size_t i = 0; i < s->n_vms; i++)
			world_stop(s, &s->vms[i], idx);
	} else if (!strcmp(verb, "unfence")) {
		n->fenced = false;
	} else if (!strcmp(verb, "join")) {
		n->member = true;
		nodes_reconcile(s);
	} else if (!strcmp(verb, "remove-node")) {
		n->removed = true;
	}
	return 0;
}

static int st_vm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64], w[32], x[512];
	struct svm *v;
	uint64_t u;

	s->gen++;

	args = scn_word(args, name, sizeof(name));
	if (!*name)
		BAD("vm: which VM?");
	v = vm_find(s, name);
	if (!v) {
		s->vms = realloc(s->vms, (s->n_vms + 1) * sizeof(*s->vms));
		if (!s->vms)
			abort();
		v = &s->vms[s->n_vms++];
		*v = (struct svm){ .name = xstrdup(name), .started = true, .ha = true, .mem = 1024, .cpu = 1 };
	}
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		if (!strcmp(w, "started") || !strcmp(w, "stopped")) {
			v->started = !strcmp(w, "started");
			continue;
		}
		args = scn_word(args, x, sizeof(x));
		if (!*x)
			BAD("vm %s: %s needs a value", name, w);
		if (!strcmp(w, "mem") || !strcmp(w, "cpu")) {
			if (parse_uint(r, x, &u) < 0)
				return -EINVAL;
			if (!strcmp(w, "mem"))
				v->mem = u;
			else
				v->cpu = (unsigned)u;
		} else if (!strcmp(w, "prefer")) {
			strv_set(&v->prefer, x);
		} else if (!strcmp(w, "avoid")) {
			strv_set(&v->avoid, x);
		} else if (!strcmp(w, "anti")) {
			strv_set(&v->anti, x);
		} else if (!strcmp(w, "affinity")) {
			strv_set(&v->aff, x);
		} else if (!strcmp(w, "ha")) {
			if (strcmp(x, "on") && strcmp(x, "off"))
				BAD("vm %s: ha on|off", name);
			v->ha = !strcmp(x, "on");
		} else if (!strcmp(w, "priority")) {
			char *end;
			long p = strtol(x, &end, 10);
			if (*end || p < -1000 || p > 1000)
				BAD("vm %s: priority '%s'", name, x);
			v->prio = (int)p;
		} else {
			BAD("vm %s: unknown '%s'", name, w);
		}
	}
	return 0;
}

static int st_owner(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char vm[64], node[64], w[32], t[64] = "";
	struct svm *v;
	bool running = true, on_target = false;
	size_t n, tn;

	s->gen++;

	args = scn_word(scn_word(args, vm, sizeof(vm)), node, sizeof(node));
	if (!(v = vm_find(s, vm)))
		BAD("owner: no VM '%s'", vm);
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		if (!strcmp(w, "running") || !strcmp(w, "assigned"))
			running = !strcmp(w, "running");
		else if (!strcmp(w, "migrating-to"))
			args = scn_word(args, t, sizeof(t));
		else if (!strcmp(w, "on-target"))
			on_target = true;
		else
			BAD("owner: unknown '%s'", w);
	}
	if (!strcmp(node, "none")) {
		record(s, v, NULL, NULL);
		return 0;
	}
	n = node_index(s, node);
	tn = node_index(s, *t ? t : NULL);
	if (n == (size_t)-1 || (*t && tn == (size_t)-1))
		BAD("owner: no node '%s'", n == (size_t)-1 ? node : t);
	record(s, v, node, *t ? t : NULL);
	for (size_t i = 0; i < s->n_nodes; i++)
		world_stop(s, v, i);
	if (on_target && *t)
		world_start(s, v, tn);
	else if (running)
		world_start(s, v, n);
	return 0;
}

/* ---- statements: deciding and acting ------------------------------------------------------- */

static int st_place(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	struct placement_result *res;

	if (*args)
		BAD("place takes no arguments");
	res = decide_now(s);
	if (!res)
		return 0;
	placement_result_free(s->last);
	s->last = res;
	s->last_gen = s->gen;
	trace_decisions(s, res);
	return 0;
}

static int st_apply(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	/* Decisions hold for the state they were computed from: the leader records them in the same
	 * step, against the records it read. */
	if (!s->last || s->last_gen != s->gen)
		BAD("apply: no decisions for the current state (place first)");
	apply(s, s->last);
	s->gen++;
	return 0;
}

static int st_settle(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t max = 5;
	unsigned rounds = 0;

	if (*args && parse_uint(r, args, &max) < 0)
		return -EINVAL;
	while (rounds < max) {
		struct placement_result *res = decide_now(s);
		bool changed;
		if (!res)
			return 0;
		rounds++;
		changed = apply(s, res);
		s->gen++;
		placement_result_free(s->last);
		s->last = res;
		if (!changed)
			break;
	}
	scn_trace_json(r, "settle", "done", json_pack("{sI}", "rounds", (json_int_t)rounds));
	return 0;
}

static bool prefers_less(const struct svm *v, const char *to, const char *from)
{
	size_t rt = v->prefer.n, rf = v->prefer.n;

	for (size_t i = v->prefer.n; i-- > 0;) {
		if (!strcmp(v->prefer.v[i], to))
			rt = i;
		if (!strcmp(v->prefer.v[i], from))
			rf = i;
	}
	return rt > rf;
}

static bool plans_equal(const struct placement_plan *a, const struct placement_plan *b)
{
	if (a->n_moves != b->n_moves || a->n_stuck != b->n_stuck || a->n_deferred != b->n_deferred ||
	    a->n_in_flight != b->n_in_flight)
		return false;
	for (size_t i = 0; i < a->n_moves; i++)
		if (!same(a->moves[i].vm, b->moves[i].vm) || !same(a->moves[i].from, b->moves[i].from) ||
		    !same(a->moves[i].to, b->moves[i].to) || !same(a->moves[i].why, b->moves[i].why))
			return false;
	for (size_t i = 0; i < a->n_stuck; i++)
		if (!same(a->stuck[i].vm, b->stuck[i].vm) || !same(a->stuck[i].why, b->stuck[i].why))
			return false;
	return true;
}

static void check_plan(struct sim *s, const struct placement_plan *p, const struct placement_result *res)
{
	struct scn *r = s->r;
	unsigned flights[MAX_NODES] = { 0 }, cluster = 0;
	uint64_t mem[MAX_NODES] = { 0 }, cpu[MAX_NODES] = { 0 };

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		if (v->owner && v->mig) {
			size_t a = node_index(s, v->owner), b = node_index(s, v->mig);
			cluster++;
			if (a != (size_t)-1)
				flights[a]++;
			if (b != (size_t)-1)
				flights[b]++;
		}
	}
	for (size_t n = 0; n < s->n_nodes; n++)
		node_use(s, res, s->nodes[n].name, &mem[n], &cpu[n]);
	for (size_t k = 0; k < p->n_moves; k++) {
		const struct placement_move *m = &p->moves[k];
		struct svm *v = vm_find(s, m->vm);
		size_t from = node_index(s, m->from), to = node_index(s, m->to);
		if (!v || from == (size_t)-1 || to == (size_t)-1) {
			scn_fail(r, "move %zu names an unknown VM or node", k);
			continue;
		}
		for (size_t j = 0; j < k; j++)
			if (!strcmp(p->moves[j].vm, m->vm))
				scn_fail(r, "%s moves twice in one plan", m->vm);
		if (!v->started || !same(v->owner, m->from) || v->mig || !live(&s->nodes[from]) || !runs_on(v, from))
			scn_fail(r, "%s moved from %s but it does not simply run there", m->vm, m->from);
		if (from == to || !usable(&s->nodes[to]))
			scn_fail(r, "%s moved to %s, which is not usable (or its own node)", m->vm, m->to);
		if (strv_has(&v->avoid, m->to))
			scn_fail(r, "%s moved to %s, which it avoids", m->vm, m->to);
		for (size_t i = 0; i < s->n_vms; i++) {
			bool there = decided_at(&res->decisions[i], m->to);
			for (size_t j = 0; j < k; j++)
				there |= !strcmp(p->moves[j].vm, s->vms[i].name) && !strcmp(p->moves[j].to, m->to);
			if (anti_pair(v, &s->vms[i]) && there)
				scn_fail(r, "%s moved to %s with %s, against their anti-affinity", m->vm, m->to, s->vms[i].name);
		}
		mem[to] += v->mem;
		cpu[to] += v->cpu;
		if (mem[to] > s->nodes[to].mem || cpu[to] > s->nodes[to].cpu)
			scn_fail(r, "%s moved to %s beyond its capacity", m->vm, m->to);
		flights[from]++;
		flights[to]++;
		cluster++;
		if (flights[from] > s->lim.per_node || flights[to] > s->lim.per_node || cluster > s->lim.per_cluster)
			scn_fail(r, "%s moved beyond the limits (per node %u, per cluster %u)", m->vm, s->lim.per_node,
				 s->lim.per_cluster);
		if (!strncmp(m->why, "balance", 7) && prefers_less(v, m->to, m->from))
			scn_fail(r, "%s balanced to %s, which it prefers less than %s", m->vm, m->to, m->from);
	}
	for (size_t k = 0; k < p->n_stuck; k++)
		if (!p->stuck[k].why || !*p->stuck[k].why)
			scn_fail(r, "%s is stuck without a reason", p->stuck[k].vm);
}

static int st_plan(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	bool rebalance = !strcmp(verb, "rebalance");
	int (*fn)(const struct placement_input *, const struct placement_limits *, struct placement_plan **) =
		rebalance ? placement_rebalance : placement_drain;
	struct placement_plan *p = NULL, *again = NULL, *rev = NULL;
	struct placement_result *res;
	struct built b, br;
	int rc;

	if (*args)
		BAD("%s takes no arguments", verb);
	res = decide_now(s);
	if (!res)
		return 0;
	build(s, &b, false);
	build(s, &br, true);
	rc = fn(&b.in, &s->lim, &p);
	if (rc < 0) {
		scn_fail(r, "%s: %s", verb, scn_errno_name(rc));
	} else {
		check_plan(s, p, res);
		if (fn(&b.in, &s->lim, &again) < 0 || fn(&br.in, &s->lim, &rev) < 0)
			abort();
		if (!plans_equal(p, again))
			scn_fail(r, "%s: not deterministic (computed twice)", verb);
		if (!plans_equal(p, rev))
			scn_fail(r, "%s: another plan on the reversed input", verb);
		for (size_t k = 0; k < p->n_moves; k++)
			scn_trace_json(r, "plan", "move",
				       json_pack("{ssssssss}", "vm", p->moves[k].vm, "from", p->moves[k].from, "to",
						 p->moves[k].to, "why", p->moves[k].why));
		for (size_t k = 0; k < p->n_stuck; k++)
			scn_trace_json(r, "plan", "stuck", json_pack("{ssss}", "vm", p->stuck[k].vm, "why", p->stuck[k].why));
		scn_trace_json(r, "plan", "summary",
			       json_pack("{sIsIsIsI}", "moves", (json_int_t)p->n_moves, "stuck", (json_int_t)p->n_stuck,
					 "in_flight", (json_int_t)p->n_in_flight, "deferred", (json_int_t)p->n_deferred));
		placement_plan_free(s->plan);
		s->plan = p;
	}
	placement_plan_free(again);
	placement_plan_free(rev);
	placement_result_free(res);
	built_free(&b);
	built_free(&br);
	return 0;
}

static int st_migrate(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (*args)
		BAD("migrate takes no arguments");
	if (!s->plan)
		BAD("migrate: no plan");
	s->gen++;
	for (size_t k = 0; k < s->plan->n_moves; k++) {
		const struct placement_move *m = &s->plan->moves[k];
		struct svm *v = vm_find(s, m->vm);
		/* the plan may be stale: a move starts only from where the VM still simply runs */
		if (!v || !same(v->owner, m->from) || v->mig || !v->started || !live(node_find(s, m->from)) ||
		    !runs_on(v, node_index(s, m->from)))
			continue;
		record(s, v, m->from, m->to);
	}
	placement_plan_free(s->plan);
	s->plan = NULL;
	return 0;
}

static int st_complete(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	bool complete = !strcmp(verb, "complete");
	char which[64];
	const char *rest = scn_word(args, which, sizeof(which));
	bool unrecorded = false, all = !strcmp(which, "all"), found = false;

	s->gen++;
	if (complete && !strcmp(rest, "unrecorded"))
		unrecorded = true;
	else if (*rest)
		BAD("%s: unexpected '%s'", verb, rest);
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		size_t from = node_index(s, v->owner), to = node_index(s, v->mig);
		if (!v->mig || (!all && strcmp(v->name, which)))
			continue;
		found = true;
		if (to != (size_t)-1 && runs_on(v, to) && !runs_on(v, from)) {
			/* it finished earlier and the hand-over was lost: the target records it now */
			if (complete && !unrecorded)
				record(s, v, v->mig, NULL);
			continue;
		}
		if (complete && from != (size_t)-1 && runs_on(v, from) && live(&s->nodes[from]) && to != (size_t)-1 &&
		    live(&s->nodes[to])) {
			json_t *j = json_pack("{ssssss}", "vm", v->name, "from", v->owner, "to", v->mig);
			v->runs &= ~(UINT64_C(1) << from);
			v->runs |= UINT64_C(1) << to;
			scn_trace_json(r, "world", "migrated", j);
			if (!unrecorded)
				record(s, v, s->nodes[to].name, NULL);
			continue;
		}
		if (complete)
			scn_trace_json(r, "world", "migration-failed",
				       json_pack("{ssssss}", "vm", v->name, "from", v->owner, "to", v->mig));
		/* the source (when it is there to say so) records that it failed */
		if (from != (size_t)-1 && live(&s->nodes[from]))
			record(s, v, v->owner, NULL);
	}
	if (!found && !all)
		BAD("%s: %s has no migration in flight", verb, which);
	return 0;
}

/* ---- expectations --------------------------------------------------------------------------- */

static const struct placement_decision *last_of(struct sim *s, struct scn *r, const char *vm)
{
	const struct placement_decision *d = s->last ? decision_of(s->last, vm) : NULL;

	if (!d)
		scn_fail(r, "no decision for '%s' (place first)", vm);
	return d;
}

static bool matches(const char *re, const char *text)
{
	regex_t rx;
	bool m;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return false;
	m = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return m;
}

static int ex_decision(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char vm[64], w[64];
	const char *rest = scn_word(scn_word(args, vm, sizeof(vm)), w, sizeof(w));
	const struct placement_decision *dec;

	if (!strcmp(what, "no-reason")) {
		if (!(dec = last_of(s, r, vm)))
			return 0;
		if (dec->reason)
			scn_fail(r, "%s has a reason: %s", vm, dec->reason);
		return 0;
	}
	if (!strcmp(what, "reason")) {
		rest = scn_skipws(args + strlen(vm));
		if (!(dec = last_of(s, r, vm)))
			return 0;
		if (!dec->reason || !matches(rest, dec->reason))
			scn_fail(r, "%s's reason '%s' does not match /%s/", vm, dec->reason ? dec->reason : "(none)", rest);
		return 0;
	}
	if (*rest)
		BAD("expect %s VM VALUE", what);
	if (!strcmp(what, "action")) {
		if (!(dec = last_of(s, r, vm)))
			return 0;
		if (strcmp(placement_action_name(dec->action), w))
			scn_fail(r, "%s: action %s, not %s", vm, placement_action_name(dec->action), w);
	} else if (!strcmp(what, "owner")) {
		if (!(dec = last_of(s, r, vm)))
			return 0;
		if (!same(dec->owner, strcmp(w, "none") ? w : NULL))
			scn_fail(r, "%s: owner %s, not %s", vm, dec->owner ? dec->owner : "none", w);
	} else if (!strcmp(what, "record")) {
		struct svm *v = vm_find(s, vm);
		if (!v)
			BAD("no VM '%s'", vm);
		if (!same(v->owner, strcmp(w, "none") ? w : NULL))
			scn_fail(r, "%s: recorded owner %s, not %s", vm, v->owner ? v->owner : "none", w);
	} else if (!strcmp(what, "runs")) {
		struct svm *v = vm_find(s, vm);
		size_t n = node_index(s, w);
		if (!v)
			BAD("no VM '%s'", vm);
		if (!strcmp(w, "none") ? v->runs != 0 : (n == (size_t)-1 || v->runs != UINT64_C(1) << n))
			scn_fail(r, "%s does not run on %s alone", vm, w);
	}
	return 0;
}

static int ex_plan(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char a[64], b[64], c[64];
	const struct placement_plan *p = s->plan;
	uint64_t n;

	if (!p)
		BAD("expect %s: no plan", what);
	if (!strcmp(what, "moves") || !strcmp(what, "deferred")) {
		if (parse_uint(r, args, &n) < 0)
			return -EINVAL;
		if ((!strcmp(what, "moves") ? p->n_moves : p->n_deferred) != n)
			scn_fail(r, "the plan has %zu %s, not %" PRIu64, !strcmp(what, "moves") ? p->n_moves : p->n_deferred,
				 what, n);
		return 0;
	}
	if (!strcmp(what, "move")) {
		scn_word(scn_word(scn_word(args, a, sizeof(a)), b, sizeof(b)), c, sizeof(c));
		for (size_t k = 0; k < p->n_moves; k++)
			if (!strcmp(p->moves[k].vm, a) && !strcmp(p->moves[k].from, b) && !strcmp(p->moves[k].to, c))
				return 0;
		scn_fail(r, "the plan does not move %s from %s to %s", a, b, c);
		return 0;
	}
	/* stuck VM REGEX */
	const char *re = scn_word(args, a, sizeof(a));
	for (size_t k = 0; k < p->n_stuck; k++)
		if (!strcmp(p->stuck[k].vm, a)) {
			if (!matches(re, p->stuck[k].why))
				scn_fail(r, "%s is stuck for '%s', not /%s/", a, p->stuck[k].why, re);
			return 0;
		}
	scn_fail(r, "%s is not stuck in the plan", a);
	return 0;
}

static int ex_settled(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	struct placement_result *res = decide_now(s);

	if (!res)
		return 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		const struct placement_decision *dec = &res->decisions[i];
		size_t o = node_index(s, dec->owner);
		if (dec->action == PLACEMENT_START_ON || dec->action == PLACEMENT_STOP)
			scn_fail(r, "not settled: %s would %s on %s", v->name, placement_action_name(dec->action), dec->owner);
		if (!same(dec->owner, v->owner) || !same(dec->migrating_to, v->mig))
			scn_fail(r, "not settled: %s would be recorded on %s", v->name, dec->owner ? dec->owner : "none");
		if (!v->started && v->runs)
			scn_fail(r, "%s is stopped in the spec but runs", v->name);
		if (v->started && dec->action == PLACEMENT_KEEP && !v->mig && (o == (size_t)-1 || v->runs != UINT64_C(1) << o))
			scn_fail(r, "%s is kept on %s but does not run there alone", v->name, dec->owner ? dec->owner : "none");
		if (v->started && dec->action == PLACEMENT_WAIT && dec->owner && live(node_find(s, dec->owner)))
			scn_fail(r, "%s waits on live %s once everything is back: %s", v->name, dec->owner,
				 dec->reason ? dec->reason : "");
	}
	placement_result_free(res);
	return 0;
}

/* ---- random mode ---------------------------------------------------------------------------- */

static const char *pick_node(struct sim *s, struct scn_rng *g)
{
	return s->n_nodes ? s->nodes[scn_rng_below(g, s->n_nodes)].name : "kvm1";
}

/* "-" or a list of up to k names out of PREFIX1..PREFIXn (not `self`). Random runs name their
 * nodes kvm1.. and their VMs vm1.. in order, so names can be drawn before they exist. */
static void random_names(struct scn_rng *g, const char *prefix, size_t n, const char *self, unsigned k, char *buf,
			 size_t size)
{
	size_t o = 0;

	buf[0] = 0;
	for (unsigned j = 0; j < k && n; j++) {
		char name[32], pad[40];
		snprintf(name, sizeof(name), "%s%u", prefix, (unsigned)scn_rng_range(g, 1, n));
		snprintf(pad, sizeof(pad), ",%s,", name);
		if (self && !strcmp(name, self))
			continue;
		char have[300];
		snprintf(have, sizeof(have), ",%s,", buf);
		if (strstr(have, pad))
			continue;
		o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", name);
	}
	if (!o)
		snprintf(buf, size, "-");
}

static void random_vm_rules(struct scn_rng *g, size_t nodes, size_t vms, const char *name, char *buf, size_t size)
{
	char pre[128], av[128], an[128], af[128];

	random_names(g, "kvm", nodes, NULL, scn_rng_chance(g, 40) ? (unsigned)scn_rng_range(g, 1, 2) : 0, pre, sizeof(pre));
	random_names(g, "kvm", nodes, NULL, scn_rng_chance(g, 20) ? 1 : 0, av, sizeof(av));
	random_names(g, "vm", vms, name, scn_rng_chance(g, 25) ? (unsigned)scn_rng_range(g, 1, 2) : 0, an, sizeof(an));
	random_names(g, "vm", vms, name, scn_rng_chance(g, 12) ? 1 : 0, af, sizeof(af));
	snprintf(buf, size, "vm %s mem %u cpu %u %s prefer %s avoid %s anti %s affinity %s ha %s priority %u", name,
		 512u << scn_rng_below(g, 4), (unsigned)scn_rng_range(g, 1, 4), scn_rng_chance(g, 85) ? "started" : "stopped",
		 pre, av, an, af, scn_rng_chance(g, 85) ? "on" : "off", (unsigned)scn_rng_below(g, 4));
}

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	unsigned nodes = o->nodes ? o->nodes : (unsigned)scn_rng_range(g, 2, 5), vms = (unsigned)scn_rng_range(g, 3, 12);
	char buf[512];

	if (nodes > 8)
		nodes = 8;
	if (scn_header(r, "limits per-node %u per-cluster %u gap %u", (unsigned)scn_rng_range(g, 1, 2),
		       (unsigned)scn_rng_range(g, 1, 4), (unsigned)scn_rng_range(g, 5, 30)) < 0)
		return -EINVAL;
	for (unsigned i = 1; i <= nodes; i++)
		scn_at(r, 0, "node kvm%u mem %u cpu %u", i, 4096u << scn_rng_below(g, 3), 8u << scn_rng_below(g, 2));
	for (unsigned i = 1; i <= vms; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vm%u", i);
		random_vm_rules(g, nodes, vms, name, buf, sizeof(buf));
		scn_at(r, 0, "%s", buf);
	}
	scn_at(r, 1, "settle");
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);
	const char *n = pick_node(s, g);

	*next = scn_rng_range(g, 50, 1000) * MS;
	/* A migration that finished without its hand-over recorded is the nastiest moment to lose a
	 * node: make it happen often. */
	for (size_t i = 0; i < s->n_vms && scn_rng_chance(g, 40); i++) {
		const struct svm *v = &s->vms[i];
		size_t to = node_index(s, v->mig);
		if (!v->mig || !runs_on(v, to))
			continue;
		static const char *const what[] = { "fence", "crash", "leave" };
		if (scn_rng_chance(g, 50))
			snprintf(buf, size, "%s %s", what[scn_rng_below(g, 3)], v->owner);
		else
			snprintf(buf, size, "leave %s", v->mig);
		return 0;
	}
	if (roll < 12) {
		snprintf(buf, size, "place");
	} else if (roll < 18) {
		snprintf(buf, size, s->last && s->last_gen == s->gen ? "apply" : "place");
	} else if (roll < 28) {
		snprintf(buf, size, "settle");
	} else if (roll < 33) {
		snprintf(buf, size, "leave %s", n);
	} else if (roll < 36) {
		snprintf(buf, size, "crash %s", n);
	} else if (roll < 40) {
		snprintf(buf, size, "fence %s", n);
	} else if (roll < 43) {
		snprintf(buf, size, "unfence %s", n);
	} else if (roll < 50) {
		snprintf(buf, size, "join %s", n);
	} else if (roll < 54) {
		snprintf(buf, size, "%s %s", scn_rng_chance(g, 50) ? "drain" : "undrain", n);
	} else if (roll < 56) {
		snprintf(buf, size, "maintenance %s %s", n, scn_rng_chance(g, 50) ? "on" : "off");
	} else if (roll < 63 && s->n_vms) {
		const struct svm *v = &s->vms[scn_rng_below(g, s->n_vms)];
		if (scn_rng_chance(g, 60))
			snprintf(buf, size, "vm %s %s", v->name, v->started ? "stopped" : "started");
		else
			random_vm_rules(g, s->n_nodes, s->n_vms, v->name, buf, size);
	} else if (roll < 72) {
		snprintf(buf, size, "%s", scn_rng_chance(g, 40) ? "drain-plan" : "rebalance");
	} else if (roll < 80) {
		if (!s->plan)
			return -EAGAIN;
		snprintf(buf, size, "migrate");
	} else if (roll < 92) {
		const struct svm *v = NULL;
		for (size_t i = 0, k = scn_rng_below(g, s->n_vms ? s->n_vms : 1); i < s->n_vms && !v; i++)
			if (s->vms[(i + k) % s->n_vms].mig)
				v = &s->vms[(i + k) % s->n_vms];
		if (!v)
			return -EAGAIN;
		snprintf(buf, size, "complete %s%s", scn_rng_chance(g, 30) ? "all" : v->name,
			 scn_rng_chance(g, 30) ? " unrecorded" : "");
	} else if (roll < 95) {
		snprintf(buf, size, "abort all");
	} else if (s->n_nodes < 8) {
		snprintf(buf, size, "node kvm%zu mem %u cpu %u", s->n_nodes + 1, 4096u << scn_rng_below(g, 3),
			 8u << scn_rng_below(g, 2));
	} else {
		return -EAGAIN;
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;

	/* every node back, clean, in service; migrations finish; then it must settle */
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct snode *n = &s->nodes[i];
		if (n->fenced)
			scn_at(r, at, "unfence %s", n->name);
		if (!n->member || n->fenced)
			scn_at(r, at, "join %s", n->name);
		if (n->drained)
			scn_at(r, at, "undrain %s", n->name);
		if (n->maintenance)
			scn_at(r, at, "maintenance %s off", n->name);
	}
	scn_at(r, at + 1 * MS, "complete all");
	scn_at(r, at + 2 * MS, "settle 8");
	scn_at(r, at + 3 * MS, "expect settled");
	return at + 4 * MS;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->lim = (struct placement_limits)PLACEMENT_LIMITS_DEFAULT;
	return s;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++)
		free(s->nodes[i].name);
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		free(v->name);
		free(v->owner);
		free(v->mig);
		strv_clear(&v->prefer);
		strv_clear(&v->avoid);
		strv_clear(&v->anti);
		strv_clear(&v->aff);
	}
	free(s->vms);
	placement_result_free(s->last);
	placement_plan_free(s->plan);
	free(s);
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	/* no driver events: everything happens in statements */
}

static const struct scn_statement header[] = {
	{ "limits", st_limits, "per-node N per-cluster N gap G  the plans' limits (default 1 4 10)" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "limits", st_limits, "per-node N per-cluster N gap G" },
	{ "node", st_node, "NAME [mem MIB] [cpu N] [out|member] [fenced|unfenced] [drained|undrained] [maintenance|active]" },
	{ "remove-node", st_node_event, "NAME  out of the cluster's node list" },
	{ "leave", st_node_event, "NAME  out of the view; its domains keep running" },
	{ "crash", st_node_event, "NAME  out of the view; its domains die" },
	{ "fence", st_node_event, "NAME  fenced: out, its domains dead" },
	{ "unfence", st_node_event, "NAME  the fence flag cleared" },
	{ "join", st_node_event, "NAME  member again; stops the domains it does not own" },
	{ "drain", st_node_event, "NAME" },
	{ "undrain", st_node_event, "NAME" },
	{ "maintenance", st_node_event, "NAME on|off" },
	{ "vm", st_vm, "NAME [mem MIB] [cpu N] [started|stopped] [prefer ..] [avoid ..] [anti ..] [affinity ..] [ha on|off] [priority P]" },
	{ "owner", st_owner, "VM NODE|none [running|assigned] [migrating-to NODE [on-target]]" },
	{ "place", st_place, " decide and trace" },
	{ "apply", st_apply, " record the last decisions; the nodes act on them" },
	{ "settle", st_settle, "[MAX]  place + apply until nothing changes" },
	{ "drain-plan", st_plan, " the drain plan" },
	{ "rebalance", st_plan, " the rebalance plan (a dry run)" },
	{ "migrate", st_migrate, " start the last plan's moves" },
	{ "complete", st_complete, "VM|all [unrecorded]  migrations finish" },
	{ "abort", st_complete, "VM|all  migrations fail" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "action", ex_decision, "VM keep|start-on|stop|wait" },
	{ "owner", ex_decision, "VM NODE|none" },
	{ "reason", ex_decision, "VM REGEX" },
	{ "no-reason", ex_decision, "VM" },
	{ "record", ex_decision, "VM NODE|none  the recorded owner" },
	{ "runs", ex_decision, "VM NODE|none  in the world" },
	{ "moves", ex_plan, "N  of the last plan" },
	{ "move", ex_plan, "VM FROM TO" },
	{ "stuck", ex_plan, "VM REGEX" },
	{ "deferred", ex_plan, "N" },
	{ "settled", ex_settled, " a place now changes nothing" },
	{ 0 }
};

static const struct scn_driver placement_driver = {
	.name = "placement",
	.summary = "Placement and ownership (coord/decide/placement.c): VMs, nodes, the ownership records and a\n"
		   "simulated world of running domains. See tests/scenario/placement-driver.c for the trace\n"
		   "format and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.handle = handle,
	.invariants = world_invariants,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&placement_driver, argc, argv);
}
