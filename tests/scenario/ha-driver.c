/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for HA: the fence core (coord/decide/fence.c) and the recovery core
 * (coord/decide/recovery.c, which runs placement), the same code the leader's HA service runs,
 * inside a simulated cluster and WORLD. Built with runner.c into ha-sim; runner.h describes the
 * runner, the command line and the random mode.
 *
 * The world: hosts with power, a kvmcd (the agent) and corosync, partitions, each host's access
 * to the storage on ONTAP, its hardware watchdog, and which host runs which VM's domain. The
 * cluster: votequorum (a majority of the hosts' corosyncs; `two-node`: either host alone), the
 * leader (the lowest kvmcd of the quorate partition with a majority of kvmcds, sticky; a new
 * leader takes a new epoch), and one copy of the replicated records (fence records, VM owners,
 * HA records) -- the substrate's guarantee that every leader sees every committed change.
 * After every event the leader runs the cores and performs what they decide, as the daemon
 * will: the fence methods (ontap: the access is cut after a short delay, the read-back reported
 * no earlier than the decision's readback_after, failed if the access is back by then; agent: the power goes off; watchdog: nothing),
 * the unfence, the two-node claim on a simulated ONTAP (first creator of an epoch's claim
 * wins), the ownership records and the HA records; the owners start and stop domains. A method
 * a newer decision no longer names is cancelled: its report is dropped, but what it already
 * sent lands anyway (the worst case). Reports of a leader that lost its epoch are dropped.
 * Every host acts on its own: a kvmcd in the leader's view stops the domains it does not own
 * (a fenced one all of them, unless `stuck`) and feeds its watchdog unless a fence record names
 * it; a kvmcd outside any quorate view notices after `notice` (default notice_max), stops its
 * HA domains and stops feeding; a dead kvmcd feeds nothing and its domains run on; a watchdog
 * not fed for watchdog_fire_max resets the host (domains gone; it boots after 3 s).
 *
 * Timing: coord/timeouts.h's derivation from small bases (token 1000 ms, coefficient 0, the
 * host count, stall 4000, ONTAP request 1000, job 2000, agent restart 2000, watchdog 5 s, agent
 * timeout 5 s, 2 attempts, backoff 500 ms, margin 500 ms); `timing` overrides them.
 *
 * Invariants, after every step:
 *   - no VM has two WRITERS: hosts that run its domain, are powered and have storage access;
 *   - a domain started on a host other than the VM's recorded owner's (a new owner while the
 *     old one is out of the view) only after the old owner's fence was CONFIRMED;
 *   - every ONTAP mutation (fence removal, unfence, claim) decided by the acting leader of a
 *     quorate view; and every other kvmcd's own fence core, asked with its own view, decides
 *     nothing at all (no run, no record, no claim unless it is a two-node lone survivor);
 *   - a fence record is CONFIRMED only when its host is truly fenced in the world (powered off,
 *     storage cut, or reset by its watchdog since it left) -- the fence core's confirmation is
 *     checked against what happened, not against its own bookkeeping.
 * `expect recovered` (the random runs' end, after every host is back, armed, healed): no
 * fence record left, every started VM runs on its recorded owner alone unless HA holds it
 * (with a reason), every host has its access.
 *
 * Trace (golden: FILE.expect):
 *   == STATEMENT
 *   view {"leader","epoch","members","out"}          the leader's view changed
 *   fence ACTION {"node","status",...,"reason"}      a fence decision that changed something
 *   claim make|won|lost|self-fence {"node","epoch"}
 *   run start|cancel {"node","method","attempt"}     the leader's shell; run done {"node","ok"}
 *   world cut|restore|power-off|boot|watchdog-reset|self-fence {"node"}
 *   world start|stop {"vm","node"}
 *   owner set {"vm","owner"}       ha set {"vm","failed_on","restarts","relocations","held"}
 *   place ACTION {"vm","owner","reason"}             a placement decision that changed
 *
 * Scenario language (times in ms):
 *   levels ontap,agent,watchdog        (header) the fence levels, in order (default ontap,agent)
 *   two-node                           (header) corosync two_node: either host alone is quorate
 *   timing KEY MS [KEY MS ...]         (header) bases: token stall ontap-request agent-restart
 *                                      watchdog agent-timeout backoff margin; attempts N
 *   notice MS                          (header) how long an isolated kvmcd takes to notice
 *   at T node NAME [mem MIB] [cpu N] [watchdog on|off]   a host (16384 MiB, 16 vCPUs, watchdog)
 *   at T vm NAME [mem MIB] [cpu N] [started|stopped] [prefer A,B] [avoid ..] [anti ..]
 *               [affinity ..] [ha on|off] [priority P] [max-restart N] [max-relocate N]
 *   at T crash NODE | boot NODE        power off (domains die) | power on (kvmcd starts)
 *   at T kill-agent NODE | start-agent NODE    kvmcd dies (domains run on) | starts again
 *   at T partition A,B C               corosync partitions; hosts not named form one more group
 *   at T heal
 *   at T disarm | arm
 *   at T method NODE ontap|agent ok|fail|hang
 *   at T stuck NODE on|off             its domains cannot be stopped (a dirty host)
 *   at T drain NODE | undrain NODE | maintenance NODE on|off
 *   at T vm-start VM                   the user starts a held VM again (the hold is cleared)
 *   at T expect fence NODE none|pending|confirmed|failed|unfencing
 *   at T expect fence-reason NODE REGEX   the last fence decision's reason
 *   at T expect runs VM NODE|none      in the world, alone
 *   at T expect owner VM NODE|none     the recorded owner
 *   at T expect held VM yes|no
 *   at T expect reason VM REGEX        the last placement reason
 *   at T expect counts VM RESTARTS RELOCATIONS
 *   at T expect leader NODE|none
 *   at T expect access NODE on|off | expect power NODE on|off
 *   at T expect recovered
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fence.h"
#include "recovery.h"
#include "runner.h"
#include "timeouts.h"

#define MS SCN_MS
#define MAX_NODES 16
#define NONE (-1)
#define BOOT_USEC (3000 * MS)

enum { EV_RUN = 1, EV_CLAIM, EV_NOTICE, EV_WATCHDOG, EV_WAKE, EV_BOOT, EV_LAND, EV_START, EV_GRANT };
enum behave { B_OK, B_FAIL, B_HANG };

struct strv {
	char **v;
	size_t n;
};

struct hnode {
	char *name;
	uint64_t mem;
	unsigned cpu;
	bool has_wd;
	/* world */
	bool power, agent, access, stuck, self_fenced;
	bool wd_armed;                /* kvmcd armed its watchdog (first feed since boot) */
	bool wd_published;            /* what its section said while it was last a member */
	bool joined;                  /* this kvmcd (since it started) was in a view that acts */
	bool peer_seen;               /* two-node: in a view with its peer since it started or lost */
	enum fence_claim_action last_claim_traced;
	int group;
	enum behave how[2];           /* ontap, agent */
	bool feeding;
	uint64_t last_feed, wd_gen;
	bool noticed;                 /* an isolated kvmcd that noticed */
	bool reset_since_out;         /* its watchdog reset it (or it lost power) since it left */
	/* cluster */
	bool drained, maintenance;
	bool member;                  /* kvmcd in the leader's view (as of the last step) */
	bool was_member;
	uint64_t out_since, failure, joined_at;
	enum fence_loss loss, began;
	/* records */
	struct fence_record rec;      /* status NONE: no record; error owned */
	/* last traced fence decision */
	enum fence_action last_act;
	enum fence_status last_status;
	unsigned last_level, last_attempt;
	char *last_reason;
	/* two-node */
	enum fence_claim_state claim;
	uint64_t claim_epoch;
	uint64_t seen_epoch;          /* the highest epoch it acked */
	uint64_t isolation_gen;
	bool isolation_pending;
};

struct hvm {
	char *name;
	bool started, ha;
	uint64_t mem;
	unsigned cpu, max_restart, max_relocate;
	int prio;
	struct strv prefer, avoid, anti, aff;
	char *owner;                  /* record */
	char *failed_on, *held;       /* HA record */
	unsigned restarts, relocations;
	uint32_t runs;                /* world: bit i = host i runs it */
	char *last_place;             /* last traced placement line */
	char *last_reason;
};

struct run {
	int node;                     /* the fenced host */
	int leader;
	bool unfence;
	enum fence_method method;
	uint64_t failure, epoch;
	unsigned level, attempt;
	bool cancelled, silent;
	bool ok;
	uint64_t readback_after;
	struct run *next;
};

struct sim {
	struct scn *r;
	struct hnode nodes[MAX_NODES];
	int n_nodes;
	struct hvm *vms;
	size_t n_vms;
	/* config */
	struct timeouts_base base;
	struct timeouts t;
	enum fence_method levels[FENCE_MAX_LEVELS];
	size_t n_levels;
	struct fence_config fc;
	bool two_node, started;
	uint64_t notice;
	bool notice_set;
	/* cluster */
	bool armed;
	int leader;                   /* the acting or claiming leader; NONE */
	int leader2;                  /* two-node split: the other half's lone survivor; NONE */
	uint64_t epoch, epoch2, leading_since, leading_since2, view_seq;
	bool lone, lone2;             /* two-node: the leader (the other half's) is alone */
	char *last_view;
	uint64_t claims[64];          /* epochs claimed on ONTAP */
	int claim_owner[64];
	size_t n_claims;
	/* records["ontap/grants"] (agent/leader-ontap.h), one copy like the other records */
	bool g_present, g_in_flight;
	uint64_t g_epoch;
	/* the leader's own grant bookkeeping, for the epoch g_own_epoch */
	uint64_t g_own_epoch, g_older, g_last_answered;
	unsigned g_outstanding;
	/* the leader's shell */
	struct run *runs;
	struct fence_report *reports;
	size_t n_reports;
	uint64_t wake_at;
	bool in_step, world_changed;
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

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void set_str(char **dst, const char *v)
{
	char *c = xstrdup(v);

	free(*dst);
	*dst = c;
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

static int node_find(struct sim *s, const char *name)
{
	for (int i = 0; name && i < s->n_nodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return i;
	return NONE;
}

static struct hvm *vm_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	return NULL;
}

static bool runs_on(const struct hvm *v, int n)
{
	return n >= 0 && (v->runs >> n) & 1;
}

static void trace_node(struct sim *s, const char *who, const char *ev, int n)
{
	scn_trace_json(s->r, who, ev, json_pack("{ss}", "node", s->nodes[n].name));
}

static int parse_uint(struct scn *r, const char *w, uint64_t *v)
{
	if (scn_parse_u64(w, v) < 0)
		BAD("'%s' is not a number", w);
	return 0;
}

/* ---- the world ------------------------------------------------------------------------------ */

static void world_start(struct sim *s, struct hvm *v, int n)
{
	if (runs_on(v, n))
		return;
	v->runs |= 1u << n;
	scn_trace_json(s->r, "world", "start", json_pack("{ssss}", "vm", v->name, "node", s->nodes[n].name));
}

static void world_stop(struct sim *s, struct hvm *v, int n)
{
	if (!runs_on(v, n))
		return;
	s->world_changed = true; /* the host reports it in its section: the leader looks again */
	v->runs &= ~(1u << n);
	scn_trace_json(s->r, "world", "stop", json_pack("{ssss}", "vm", v->name, "node", s->nodes[n].name));
}

static void stop_all(struct sim *s, int n, bool ha_only)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (!ha_only || s->vms[i].ha)
			world_stop(s, &s->vms[i], n);
}

static void power_off(struct sim *s, int n, const char *why)
{
	struct hnode *h = &s->nodes[n];

	if (!h->power)
		return;
	trace_node(s, "world", why, n);
	h->power = h->agent = h->feeding = h->noticed = h->self_fenced = h->wd_armed = false;
	h->reset_since_out = true;
	h->wd_gen++;
	/* a dead host runs nothing: its domains are gone, even a stuck one's */
	for (size_t i = 0; i < s->n_vms; i++)
		s->vms[i].runs &= ~(1u << n);
}

static void power_on(struct sim *s, int n)
{
	struct hnode *h = &s->nodes[n];

	if (h->power)
		return;
	h->power = h->agent = true;
	h->peer_seen = h->joined = false; /* a new kvmcd */
	h->last_feed = scn_now(s->r);
	trace_node(s, "world", "boot", n);
}

/* ---- the cluster: views and leadership ------------------------------------------------------ */

static bool quorate_group(struct sim *s, int g, int *kvmcds)
{
	int hosts = 0, k = 0;

	for (int i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].power && s->nodes[i].group == g) {
			hosts++;
			if (s->nodes[i].agent && !s->nodes[i].self_fenced)
				k++;
		}
	*kvmcds = k;
	if (s->two_node && s->n_nodes == 2)
		return hosts >= 1;
	return 2 * hosts > s->n_nodes;
}

static bool may_lead(struct sim *s, int g)
{
	int k;

	if (!quorate_group(s, g, &k))
		return false;
	return s->two_node && s->n_nodes == 2 ? k >= 1 : 2 * k > s->n_nodes;
}

static bool kvmcd_in(struct sim *s, int n, int g)
{
	const struct hnode *h = &s->nodes[n];

	return h->power && h->agent && !h->self_fenced && h->group == g;
}

static int pick_leader(struct sim *s, int g, int prev)
{
	if (prev != NONE && kvmcd_in(s, prev, g))
		return prev;
	for (int i = 0; i < s->n_nodes; i++)
		if (kvmcd_in(s, i, g))
			return i;
	return NONE;
}

static void trace_view(struct sim *s)
{
	char buf[512];
	json_t *mem = json_array(), *out = json_array();

	for (int i = 0; i < s->n_nodes; i++)
		json_array_append_new(s->nodes[i].member ? mem : out, json_string(s->nodes[i].name));
	json_t *j = json_pack("{s:s?,s:I,s:o,s:o}", "leader", s->leader == NONE ? NULL : s->nodes[s->leader].name,
			      "epoch", (json_int_t)s->epoch, "members", mem, "out", out);
	if (s->leader2 != NONE)
		json_object_set_new(j, "leader2", json_string(s->nodes[s->leader2].name));
	char *txt = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	snprintf(buf, sizeof(buf), "%s", txt ? txt : "");
	free(txt);
	if (same(buf, s->last_view)) {
		json_decref(j);
		return;
	}
	set_str(&s->last_view, buf);
	scn_trace_json(s->r, "view", "change", j);
}

/* The highest epoch the kvmcds of group g have seen (each persisted it when it acked). */
static uint64_t group_seen(struct sim *s, int g)
{
	uint64_t m = 0;

	for (int i = 0; i < s->n_nodes; i++)
		if (kvmcd_in(s, i, g) && s->nodes[i].seen_epoch > m)
			m = s->nodes[i].seen_epoch;
	return m;
}

static int group_kvmcds(struct sim *s, int g)
{
	int k = 0;

	for (int i = 0; i < s->n_nodes; i++)
		k += kvmcd_in(s, i, g);
	return k;
}

/* A leadership for group g: sticky `prev`, or a new one with an epoch above what the group saw.
 * In a two-node cluster a leader that lost its peer is elected anew (it is no majority by
 * itself), so both halves of a split compute the same new epoch -- the claim's name. */
static int elect(struct sim *s, int g, int prev, bool prev_lone, uint64_t *epoch, uint64_t *since)
{
	int l = pick_leader(s, g, prev);
	bool lone = s->two_node && s->n_nodes == 2 && group_kvmcds(s, g) == 1;

	if (l == NONE)
		return NONE;
	if (l != prev || (lone && !prev_lone)) {
		*epoch = group_seen(s, g) + 1;
		*since = scn_now(s->r);
		s->nodes[l].claim = FENCE_CLAIM_STATE_NONE;
	}
	/* every member's SYNC_INFO carries the highest epoch it has seen: the view shares it */
	uint64_t m = group_seen(s, g) > *epoch ? group_seen(s, g) : *epoch;
	for (int i = 0; i < s->n_nodes; i++)
		if (kvmcd_in(s, i, g))
			s->nodes[i].seen_epoch = m;
	return l;
}

/* Recomputes leadership and each host's membership in the leader's view. */
static void recompute_view(struct sim *s)
{
	uint64_t now = scn_now(s->r);
	int groups[MAX_NODES + 1], ng = 0, cand[2] = { NONE, NONE }, nc = 0;
	int old = s->leader, old2 = s->leader2;

	/* a self-fenced kvmcd of a two-node cluster rejoins once its peer is in its view again */
	if (s->two_node && s->n_nodes == 2 && s->nodes[0].power && s->nodes[1].power && s->nodes[0].agent &&
	    s->nodes[1].agent && s->nodes[0].group == s->nodes[1].group) {
		s->nodes[0].self_fenced = s->nodes[1].self_fenced = false;
		s->nodes[0].peer_seen = s->nodes[1].peer_seen = true;
	}
	for (int i = 0; i < s->n_nodes; i++) {
		bool seen = false;
		for (int k = 0; k < ng; k++)
			seen |= groups[k] == s->nodes[i].group;
		if (!seen)
			groups[ng++] = s->nodes[i].group;
	}
	for (int k = 0; k < ng && nc < 2; k++)
		if (may_lead(s, groups[k]))
			cand[nc++] = groups[k];
	/* the group of the old leader first */
	if (nc == 2 && old != NONE && s->nodes[old].group == cand[1]) {
		int x = cand[0];
		cand[0] = cand[1];
		cand[1] = x;
	}
	int p1 = old != NONE && nc >= 1 && s->nodes[old].group == cand[0] ? old : NONE;
	int p2 = old2 != NONE && nc == 2 && s->nodes[old2].group == cand[1] ? old2 : NONE;
	if (p1 == NONE && old2 != NONE && nc >= 1 && s->nodes[old2].group == cand[0]) {
		/* the other half's leader is the only one left */
		p1 = old2;
		s->epoch = s->epoch2;
		s->leading_since = s->leading_since2;
		s->lone = s->lone2;
	}
	int l1 = nc >= 1 ? elect(s, cand[0], p1, s->lone, &s->epoch, &s->leading_since) : NONE;
	int l2 = nc == 2 ? elect(s, cand[1], p2, s->lone2, &s->epoch2, &s->leading_since2) : NONE;
	s->lone = l1 != NONE && s->two_node && s->n_nodes == 2 && group_kvmcds(s, cand[0]) == 1;
	s->lone2 = l2 != NONE;
	if (l1 == NONE)
		s->epoch = 0;
	/* the half whose claim won is the one that acts */
	if (l2 != NONE && s->nodes[l2].claim == FENCE_CLAIM_STATE_WON && s->nodes[l1].claim != FENCE_CLAIM_STATE_WON) {
		int x = l1;
		uint64_t e = s->epoch, t = s->leading_since;
		l1 = l2;
		l2 = x;
		s->epoch = s->epoch2;
		s->leading_since = s->leading_since2;
		s->epoch2 = e;
		s->leading_since2 = t;
		s->lone = s->lone2 = true;
	}
	s->leader = l1;
	s->leader2 = l2;

	/* membership in the (first) leader's view */
	int g = l1 == NONE ? -1000 : s->nodes[l1].group;
	for (int i = 0; i < s->n_nodes; i++) {
		struct hnode *h = &s->nodes[i];
		bool m = l1 != NONE && kvmcd_in(s, i, g);
		if (!m)
			h->loss = h->power && h->group == g ? FENCE_LOSS_PROCDOWN : FENCE_LOSS_NODEDOWN;
		if (h->member && !m) {
			h->out_since = now;
			h->failure = ++s->view_seq;
			h->reset_since_out = !h->power; /* already dead: it runs nothing since */
			h->began = h->loss;
		}
		if (!h->member && m)
			h->joined_at = now;
		h->member = m;
	}
	trace_view(s);
}

/* ---- the leader's shell --------------------------------------------------------------------- */

static void ontap_mutation_check(struct sim *s, int leader, const char *what)
{
	int k;

	if (leader == NONE || !kvmcd_in(s, leader, s->nodes[leader].group) ||
	    !quorate_group(s, s->nodes[leader].group, &k))
		scn_fail(s->r, "ONTAP mutation (%s) decided by %s, which is not in a quorate view", what,
			 leader == NONE ? "nobody" : s->nodes[leader].name);
}

static struct run *run_find(struct sim *s, int node, bool unfence, uint64_t failure, uint64_t epoch, unsigned level,
			    unsigned attempt)
{
	for (struct run *u = s->runs; u; u = u->next)
		if (u->node == node && u->unfence == unfence && u->failure == failure && u->epoch == epoch &&
		    !u->cancelled &&
		    (unfence || (u->level == level && u->attempt == attempt)))
			return u;
	return NULL;
}

static void run_unlink(struct sim *s, struct run *x)
{
	for (struct run **p = &s->runs; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			return;
		}
}

static void run_start(struct sim *s, int leader, const struct fence_decision *d, bool unfence)
{
	struct scn *r = s->r;
	uint64_t now = scn_now(r);
	struct run *u = xcalloc(1, sizeof(*u));
	const struct hnode *t = &s->nodes[node_find(s, d->node)];
	enum behave how;

	*u = (struct run){ .node = node_find(s, d->node), .leader = leader, .unfence = unfence, .method = d->method,
			   .failure = d->failure, .epoch = s->epoch, .level = d->level, .attempt = d->attempt,
			   .readback_after = d->readback_after_usec };
	u->next = s->runs;
	s->runs = u;
	json_t *j = json_pack("{ss}", "node", d->node);
	if (unfence) {
		json_object_set_new(j, "what", json_string("unfence"));
	} else {
		json_object_set_new(j, "method", json_string(fence_method_name(d->method)));
		json_object_set_new(j, "attempt", json_integer(d->attempt));
	}
	scn_trace_json(r, "run", "start", j);
	if (unfence || d->method == FENCE_METHOD_ONTAP)
		ontap_mutation_check(s, leader, unfence ? "unfence" : "fence");
	if (unfence) {
		u->ok = true;
		scn_schedule(r, now + 100 * MS, EV_LAND, u->node, 1, NULL); /* restore lands */
		scn_schedule(r, now + 150 * MS, EV_RUN, u->node, 0, u);
		return;
	}
	how = d->method == FENCE_METHOD_WATCHDOG ? B_HANG : t->how[d->method == FENCE_METHOD_ONTAP ? 0 : 1];
	if (how == B_HANG) {
		/* nothing reports (the watchdog: its deadline confirms; a hang: the core's deadline ends
		 * it); the event only owns the run and drops it long after */
		u->silent = true;
		scn_schedule(r, now + 3600000 * MS, EV_RUN, u->node, 0, u);
		return;
	}
	u->ok = how == B_OK;
	if (d->method == FENCE_METHOD_ONTAP) {
		if (u->ok)
			scn_schedule(r, now + 100 * MS, EV_LAND, u->node, 0, NULL); /* the removal lands */
		uint64_t at = now + 200 * MS;
		if (u->ok && at < d->readback_after_usec)
			at = d->readback_after_usec; /* the confirming read-back waits for the quiet point */
		scn_schedule(r, at, EV_RUN, u->node, 0, u);
	} else {
		if (u->ok)
			scn_schedule(r, now + 1000 * MS, EV_LAND, u->node, 2, NULL); /* the power goes off */
		scn_schedule(r, now + 1200 * MS, EV_RUN, u->node, 0, u);
	}
}

static void add_report(struct sim *s, const struct run *u)
{
	s->reports = realloc(s->reports, (s->n_reports + 1) * sizeof(*s->reports));
	if (!s->reports)
		abort();
	s->reports[s->n_reports++] = (struct fence_report){
		.node = s->nodes[u->node].name, .kind = u->unfence ? FENCE_REPORT_UNFENCE : FENCE_REPORT_ATTEMPT,
		.failure = u->failure, .epoch = u->epoch, .level = u->level, .attempt = u->attempt, .ok = u->ok,
		.readback_usec = scn_now(s->r), .error = u->ok ? NULL : "the method failed" };
}

/* ---- building the cores' inputs ------------------------------------------------------------- */

static bool node_clean(struct sim *s, int n)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (runs_on(&s->vms[i], n) && !same(s->vms[i].owner, s->nodes[n].name))
			return false;
	return true;
}

/*
 * The grants record, as agent/leader-ontap.c keeps it: when the leader of `epoch` first looks,
 * older leaderships' grants have settled at T_L if the record said none was in flight, else
 * at T_L + ontap_quiet (an epoch-1 leader has no predecessor); it writes {epoch, in_flight
 * false} once that time has come and none of its own is in flight. Returns grants_settled_usec.
 */
static void grants_trace(struct sim *s)
{
	scn_trace_json(s->r, "grants", "record", json_pack("{sIsb}", "epoch", (json_int_t)s->g_epoch, "in_flight", s->g_in_flight));
}

static void grants_own(struct sim *s, uint64_t epoch)
{
	if (s->g_own_epoch == epoch)
		return;
	s->g_own_epoch = epoch;
	s->g_outstanding = 0;
	s->g_last_answered = 0;
	s->g_older = epoch <= 1 || (s->g_present && !s->g_in_flight)
			     ? s->leading_since
			     : s->leading_since + s->t.ontap_quiet_usec;
}

static uint64_t grants_settled(struct sim *s, uint64_t epoch)
{
	uint64_t now = scn_now(s->r), at;

	grants_own(s, epoch);
	if (s->g_outstanding)
		return UINT64_MAX;
	at = s->g_older > s->g_last_answered ? s->g_older : s->g_last_answered;
	if (now >= at && (!s->g_present || s->g_epoch != epoch || s->g_in_flight)) {
		s->g_present = true;
		s->g_epoch = epoch;
		s->g_in_flight = false;
		grants_trace(s);
	}
	return at ? at : 1;
}

/* The fence input as host `self` sees it. Arrays owned by the caller (free). */
static void build_fence(struct sim *s, int self, bool acting, uint64_t epoch, struct fence_input *in,
			struct fence_node **nodes, struct fence_record **recs)
{
	uint64_t now = scn_now(s->r);
	size_t k = 0;

	*nodes = xcalloc((size_t)s->n_nodes, sizeof(**nodes));
	*recs = xcalloc((size_t)s->n_nodes, sizeof(**recs));
	for (int i = 0; i < s->n_nodes; i++) {
		const struct hnode *h = &s->nodes[i];
		bool m = acting ? h->member : kvmcd_in(s, i, s->nodes[self].group);
		uint64_t since = h->out_since;
		if (acting && s->nodes[self].joined_at > since)
			since = s->nodes[self].joined_at;
		(*nodes)[i] = (struct fence_node){ .name = h->name, .member = m, .loss = h->loss, .began = h->began,
						   .failure = h->failure ? h->failure : 1, .since_usec = since,
						   .clean = node_clean(s, i), .watchdog = h->wd_published };
		if (h->rec.status != FENCE_NONE) {
			(*recs)[k] = h->rec;
			(*recs)[k++].node = h->name;
		}
	}
	*in = (struct fence_input){ .config = &s->fc, .nodes = *nodes, .n_nodes = (size_t)s->n_nodes, .records = *recs,
				    .n_records = k, .reports = s->reports, .n_reports = s->n_reports, .acting = acting,
				    .armed = s->armed, .epoch = epoch, .leading_since_usec = s->leading_since,
				    .now_usec = now };
	if (acting && epoch == s->epoch && s->leader == self)
		in->grants_settled_usec = grants_settled(s, epoch);
	in->claim.needed = s->two_node && s->n_nodes == 2;
	if (in->claim.needed) {
		int peer = 1 - self, k2;
		(void)k2;
		/* a lone survivor: its peer is not in its view */
		in->claim.needed = !kvmcd_in(s, peer, s->nodes[self].group);
		in->claim.state = s->nodes[self].claim;
		in->claim.peer_seen = s->nodes[self].peer_seen;
	}
}

/* ---- the leader's step ---------------------------------------------------------------------- */

static bool fence_confirmed(const struct hnode *h)
{
	return h->rec.status == FENCE_CONFIRMED || h->rec.status == FENCE_UNFENCING;
}

static void trace_fence(struct sim *s, int n, const struct fence_decision *d)
{
	struct hnode *h = &s->nodes[n];
	bool changed = d->action != h->last_act || d->record.status != h->last_status ||
		       d->record.level != h->last_level || d->record.attempt != h->last_attempt ||
		       (d->action != FENCE_ACT_WAIT && d->action != FENCE_ACT_RUN && !same(d->reason, h->last_reason));

	set_str(&h->last_reason, d->reason);
	if (!changed)
		return;
	h->last_act = d->action;
	h->last_status = d->record.status;
	h->last_level = d->record.level;
	h->last_attempt = d->record.attempt;
	json_t *j = json_pack("{ssss}", "node", d->node, "status", fence_status_name(d->record.status));
	if (d->action == FENCE_ACT_RUN) {
		json_object_set_new(j, "method", json_string(fence_method_name(d->method)));
		json_object_set_new(j, "attempt", json_integer(d->attempt));
	}
	if (d->reason)
		json_object_set_new(j, "reason", json_string(d->reason));
	scn_trace_json(s->r, "fence", fence_action_name(d->action), j);
}

/* Another kvmcd's own fence core must decide nothing (it does not act). */
static void check_bystander(struct sim *s, int self)
{
	struct fence_input in;
	struct fence_node *nodes;
	struct fence_record *recs;
	struct fence_result *res = NULL;

	build_fence(s, self, false, s->epoch, &in, &nodes, &recs);
	if (fence_decide(&in, &res) < 0)
		scn_fail(s->r, "fence_decide failed for bystander %s", s->nodes[self].name);
	else if (res->n_decisions || res->may_act || res->claim != FENCE_CLAIM_NONE)
		scn_fail(s->r, "%s does not act, yet its fence core decided %zu things (claim %s)", s->nodes[self].name,
			 res->n_decisions, fence_claim_action_name(res->claim));
	fence_result_free(res);
	free(nodes);
	free(recs);
}

static void claim_step(struct sim *s, int self, uint64_t epoch, enum fence_claim_action a)
{
	struct hnode *h = &s->nodes[self];
	enum fence_claim_action last = h->last_claim_traced;

	h->last_claim_traced = a;
	if (a == FENCE_CLAIM_WAIT_FOR_PEER && last == a)
		return;

	if (a == FENCE_CLAIM_MAKE && h->claim == FENCE_CLAIM_STATE_NONE) {
		h->claim = FENCE_CLAIM_STATE_PENDING;
		h->claim_epoch = epoch;
		ontap_mutation_check(s, self, "claim");
		scn_trace_json(s->r, "claim", "make", json_pack("{sssI}", "node", h->name, "epoch", (json_int_t)epoch));
		/* the lower-named host's request reaches ONTAP a little later: the race is real */
		scn_schedule(s->r, scn_now(s->r) + (uint64_t)(20 + 10 * self) * MS, EV_CLAIM, self, epoch, NULL);
	} else if (a == FENCE_CLAIM_WAIT_FOR_PEER) {
		scn_trace_json(s->r, "claim", "wait-for-peer", json_pack("{sssI}", "node", h->name, "epoch", (json_int_t)epoch));
	} else if (a == FENCE_CLAIM_SELF_FENCE && !h->self_fenced) {
		h->self_fenced = true;
		trace_node(s, "world", "self-fence", self);
		stop_all(s, self, false);
	}
}

/* The leader's fence step; returns whether a record changed. */
static bool fence_step(struct sim *s, int self, uint64_t epoch, bool *may_act)
{
	struct fence_input in;
	struct fence_node *nodes;
	struct fence_record *recs;
	struct fence_result *res = NULL;
	bool changed = false;

	build_fence(s, self, true, epoch, &in, &nodes, &recs);
	if (fence_decide(&in, &res) < 0) {
		scn_fail(s->r, "fence_decide: malformed input");
		goto out;
	}
	claim_step(s, self, epoch, res->claim);
	*may_act = res->may_act;
	if (!res->may_act)
		goto out;
	if (self != s->leader) {
		/* the other half: it may act only once its claim won, and then it is swapped in */
		goto out;
	}
	for (size_t i = 0; i < res->n_decisions; i++) {
		const struct fence_decision *d = &res->decisions[i];
		int n = node_find(s, d->node);
		struct hnode *h = &s->nodes[n];
		trace_fence(s, n, d);
		if (d->record_changed) {
			char *err = xstrdup(d->record.error);
			free((char *)h->rec.error);
			h->rec = d->record;
			h->rec.node = NULL;
			h->rec.error = err;
			changed = true;
		}
		if (d->action == FENCE_ACT_CONFIRM) {
			/* the confirmation against the world: it cannot write any more (its access is
			 * gone, or it was powered off or reset since it left: a host that booted since
			 * runs nothing until it rejoins, and rejoining drops an unconfirmed fence) */
			if (h->power && h->access && !h->reset_since_out)
				scn_fail(s->r, "%s confirmed fenced (%s) but it is powered with its storage access", h->name,
					 fence_method_name(d->record.confirmed_by));
		}
		if (d->action == FENCE_ACT_RUN && !run_find(s, n, false, d->failure, s->epoch, d->level, d->attempt))
			run_start(s, self, d, false);
		if (d->action == FENCE_ACT_UNFENCE && !run_find(s, n, true, d->failure, s->epoch, 0, 0))
			run_start(s, self, d, true);
	}
	/* the shell cancels what the decisions no longer name */
	for (struct run *u = s->runs; u; u = u->next) {
		bool named = false;
		if (u->cancelled || u->epoch != s->epoch)
			continue;
		for (size_t i = 0; i < res->n_decisions; i++) {
			const struct fence_decision *d = &res->decisions[i];
			if (strcmp(d->node, s->nodes[u->node].name) || d->failure != u->failure)
				continue;
			if (u->unfence ? d->action == FENCE_ACT_UNFENCE
				       : d->action == FENCE_ACT_RUN && d->level == u->level && d->attempt == u->attempt)
				named = true;
		}
		if (!named) {
			u->cancelled = true;
			scn_trace_json(s->r, "run", "cancel", json_pack("{ss}", "node", s->nodes[u->node].name));
		}
	}
	/* reports are consumed by the call that saw them */
	free(s->reports);
	s->reports = NULL;
	s->n_reports = 0;
	if (res->wake_usec > scn_now(s->r) && (!s->wake_at || res->wake_usec < s->wake_at || s->wake_at <= scn_now(s->r))) {
		s->wake_at = res->wake_usec;
		scn_schedule(s->r, res->wake_usec, EV_WAKE, 0, 0, NULL);
	}
out:
	fence_result_free(res);
	free(nodes);
	free(recs);
	return changed;
}

struct built {
	struct placement_input pin;
	struct placement_vm *vms;
	struct placement_node *nodes;
	struct placement_owner *owners;
	struct recovery_vm *rvms;
	struct recovery_input rin;
};

static void build_recovery(struct sim *s, struct built *b)
{
	size_t k = 0;

	*b = (struct built){ 0 };
	b->vms = xcalloc(s->n_vms, sizeof(*b->vms));
	b->rvms = xcalloc(s->n_vms, sizeof(*b->rvms));
	b->owners = xcalloc(s->n_vms, sizeof(*b->owners));
	b->nodes = xcalloc((size_t)s->n_nodes, sizeof(*b->nodes));
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct hvm *v = &s->vms[i];
		int o = node_find(s, v->owner);
		b->vms[i] = (struct placement_vm){
			.name = v->name, .started = v->started, .memory_mib = v->mem, .vcpus = v->cpu,
			.prefer = (const char *const *)v->prefer.v, .n_prefer = v->prefer.n,
			.avoid = (const char *const *)v->avoid.v, .n_avoid = v->avoid.n,
			.anti_affinity = (const char *const *)v->anti.v, .n_anti_affinity = v->anti.n,
			.affinity = (const char *const *)v->aff.v, .n_affinity = v->aff.n,
			.ha_enabled = v->ha, .ha_priority = v->prio };
		b->rvms[i] = (struct recovery_vm){ .name = v->name, .max_restart = v->max_restart,
						   .max_relocate = v->max_relocate, .failed_on = v->failed_on,
						   .restarts = v->restarts, .relocations = v->relocations, .held = v->held };
		if (v->owner)
			b->owners[k++] = (struct placement_owner){ .vm = v->name, .node = v->owner,
				.running = o != NONE && s->nodes[o].member && runs_on(v, o) };
	}
	for (int i = 0; i < s->n_nodes; i++) {
		const struct hnode *h = &s->nodes[i];
		b->nodes[i] = (struct placement_node){ .name = h->name, .member = h->member, .memory_mib = h->mem,
						       .vcpus = h->cpu, .drained = h->drained, .maintenance = h->maintenance,
						       .fenced = fence_confirmed(h) };
	}
	b->pin = (struct placement_input){ .vms = b->vms, .n_vms = s->n_vms, .nodes = b->nodes,
					   .n_nodes = (size_t)s->n_nodes, .owners = b->owners, .n_owners = k };
	b->rin = (struct recovery_input){ .placement = &b->pin, .vms = b->rvms, .n_vms = s->n_vms, .armed = s->armed };
}

static void built_free(struct built *b)
{
	free(b->vms);
	free(b->rvms);
	free(b->owners);
	free(b->nodes);
}

static void trace_place(struct sim *s, struct hvm *v, const struct placement_decision *d)
{
	char line[1024];

	snprintf(line, sizeof(line), "%s|%s|%s", placement_action_name(d->action), d->owner ? d->owner : "",
		 d->reason ? d->reason : "");
	set_str(&v->last_reason, d->reason);
	if (same(line, v->last_place))
		return;
	set_str(&v->last_place, line);
	if (d->action == PLACEMENT_KEEP && !d->reason)
		return; /* the quiet case: nothing to say */
	json_t *j = json_pack("{ss}", "vm", v->name);
	if (d->owner)
		json_object_set_new(j, "owner", json_string(d->owner));
	if (d->reason)
		json_object_set_new(j, "reason", json_string(d->reason));
	scn_trace_json(s->r, "place", placement_action_name(d->action), j);
}

static void set_owner(struct sim *s, struct hvm *v, const char *owner)
{
	if (same(v->owner, owner))
		return;
	set_str(&v->owner, owner);
	json_t *j = json_pack("{ss}", "vm", v->name);
	json_object_set_new(j, "owner", owner ? json_string(owner) : json_null());
	scn_trace_json(s->r, "owner", "set", j);
}

/* The leader's recovery + placement step; returns whether a record changed. */
static bool recovery_step(struct sim *s)
{
	struct built b;
	struct recovery_result *res = NULL;
	bool changed = false;

	build_recovery(s, &b);
	if (recovery_decide(&b.rin, &res) < 0) {
		scn_fail(s->r, "recovery_decide: malformed input");
		built_free(&b);
		return false;
	}
	for (size_t i = 0; i < s->n_vms; i++) {
		struct hvm *v = &s->vms[i];
		const struct placement_decision *d = &res->placement->decisions[i];
		const struct recovery_vm_result *h = &res->vms[i];
		int old = node_find(s, v->owner), o = node_find(s, d->owner);

		trace_place(s, v, d);
		/* THE check: a new owner while the old one is out of the view only after its fence */
		if (d->owner && v->owner && !same(d->owner, v->owner) && old != NONE && !s->nodes[old].member &&
		    !fence_confirmed(&s->nodes[old]))
			scn_fail(s->r, "%s moves from %s to %s, but %s's fence is %s", v->name, v->owner, d->owner, v->owner,
				 fence_status_name(s->nodes[old].rec.status));
		if (h->changed) {
			set_str(&v->failed_on, h->failed_on);
			set_str(&v->held, h->held);
			v->restarts = h->restarts;
			v->relocations = h->relocations;
			json_t *j = json_pack("{sssIsI}", "vm", v->name, "restarts", (json_int_t)h->restarts, "relocations",
					      (json_int_t)h->relocations);
			if (h->failed_on)
				json_object_set_new(j, "failed_on", json_string(h->failed_on));
			if (h->held)
				json_object_set_new(j, "held", json_string(h->held));
			scn_trace_json(s->r, "ha", "set", j);
			changed = true;
		}
		changed |= !same(v->owner, d->owner);
		set_owner(s, v, d->owner);
		if (d->action == PLACEMENT_START_ON && o != NONE && s->nodes[o].member) {
			/* the writer check happens in the world invariant */
			world_start(s, v, o);
		} else if (d->action == PLACEMENT_STOP && o != NONE && s->nodes[o].member) {
			if (!s->nodes[o].stuck) {
				world_stop(s, v, o);
				set_owner(s, v, NULL);
				changed = true;
			}
		}
	}
	recovery_result_free(res);
	built_free(&b);
	return changed;
}

/* The leader's view may act (in a two-node cluster a lone leader only with its claim won). */
static bool view_acts(struct sim *s)
{
	return s->leader != NONE && (!s->lone || s->nodes[s->leader].claim == FENCE_CLAIM_STATE_WON);
}

/* Every host acts on its own. */
static void hosts_act(struct sim *s)
{
	uint64_t now = scn_now(s->r);
	bool acts = view_acts(s);

	for (int n = 0; n < s->n_nodes; n++) {
		struct hnode *h = &s->nodes[n];
		bool was = h->feeding;
		if (!h->power)
			continue;
		if (was)
			h->last_feed = now; /* it fed all along up to now */
		if (!h->agent || h->self_fenced) {
			h->feeding = false;
		} else if (h->member && acts) {
			/* in a view that may act: quorate and healthy. (A two-node half waiting for its
			 * claim is not: it notices like an isolated host, or its watchdog could not
			 * count for the other half.) */
			h->isolation_gen++;
			h->isolation_pending = h->noticed = false;
			h->joined = true;
			if (h->member && !h->stuck) {
				bool fenced = fence_confirmed(h);
				for (size_t i = 0; i < s->n_vms; i++)
					if (runs_on(&s->vms[i], n) && (fenced || !same(s->vms[i].owner, h->name)))
						world_stop(s, &s->vms[i], n);
			}
			h->feeding = h->rec.status == FENCE_NONE;
		} else if (!h->joined) {
			/* this kvmcd never was in a view that acts since it started: it does not feed
			 * (the device may still be armed by its predecessor: it runs down) */
			h->feeding = false;
		} else if (!h->noticed) {
			/* outside any led view: it notices after `notice`; it feeds until then */
			if (!h->isolation_pending) {
				h->isolation_pending = true;
				scn_schedule(s->r, now + s->notice, EV_NOTICE, n, ++h->isolation_gen, NULL);
			}
			h->feeding = true;
		} else {
			h->feeding = false;
		}
		if (h->feeding)
			h->wd_armed = true;
		if (h->member)
			h->wd_published = h->has_wd && h->wd_armed; /* its section, while it is a member */
		if (was != h->feeding)
			scn_debug(s->r, "%s %s feeding its watchdog", h->name, h->feeding ? "starts" : "stops");
		if (was && !h->feeding) {
			h->wd_gen++;
			if (h->has_wd)
				scn_schedule(s->r, h->last_feed + s->t.watchdog_fire_max_usec, EV_WATCHDOG, n, h->wd_gen, NULL);
		}
	}
}

static void step(struct sim *s)
{
	if (!s->started || s->in_step)
		return;
	s->in_step = true;
	for (int round = 0; round < 6; round++) {
		bool changed = false, may_act = false;
		recompute_view(s);
		for (int n = 0; n < s->n_nodes; n++)
			if (s->nodes[n].power && s->nodes[n].agent && n != s->leader && n != s->leader2)
				check_bystander(s, n);
		if (s->leader2 != NONE) {
			bool other = false;
			fence_step(s, s->leader2, s->epoch2, &other);
			if (other && s->nodes[s->leader].claim == FENCE_CLAIM_STATE_WON)
				scn_fail(s->r, "both halves of a two-node split may act");
		}
		if (s->leader != NONE) {
			changed |= fence_step(s, s->leader, s->epoch, &may_act);
			if (may_act && !s->nodes[s->leader].self_fenced)
				changed |= recovery_step(s);
		}
		s->world_changed = false;
		hosts_act(s);
		if (!changed && !s->world_changed)
			break;
	}
	s->in_step = false;
}

static int setup_timing(struct sim *s, struct scn *r);

/* ---- events --------------------------------------------------------------------------------- */

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	struct sim *s = d;
	struct hnode *h = e->node >= 0 && e->node < s->n_nodes ? &s->nodes[e->node] : NULL;

	switch (e->kind) {
	case EV_RUN: {
		struct run *u = e->data;
		e->data = NULL;
		/* the ontap read-back reads the world: an access given back since the cut shows */
		if (!u->unfence && u->method == FENCE_METHOD_ONTAP && u->ok && s->nodes[u->node].access)
			u->ok = false;
		if (!u->cancelled && !u->silent && u->epoch == s->epoch && u->leader == s->leader) {
			scn_trace_json(r, "run", "done", json_pack("{sssb}", "node", s->nodes[u->node].name, "ok", u->ok));
			add_report(s, u);
		}
		run_unlink(s, u);
		free(u);
		break;
	}
	case EV_LAND:
		if (e->gen == 0 && h->access) {
			h->access = false;
			trace_node(s, "world", "cut", e->node);
		} else if (e->gen == 1 && !h->access) {
			h->access = true;
			trace_node(s, "world", "restore", e->node);
		} else if (e->gen == 2) {
			power_off(s, e->node, "power-off");
		}
		break;
	case EV_GRANT:
		/* an access grant lands, whoever leads now (the worst case: nothing stops it) */
		if (!h->access) {
			h->access = true;
			trace_node(s, "world", "grant", e->node);
		}
		if (s->g_own_epoch == e->gen && s->leader != NONE && s->epoch == e->gen && s->g_outstanding) {
			s->g_outstanding--;
			s->g_last_answered = scn_now(r);
		}
		break;
	case EV_CLAIM: {
		bool won = true;
		for (size_t i = 0; i < s->n_claims; i++)
			if (s->claims[i] == e->gen)
				won = s->claim_owner[i] == e->node;
		if (won && s->n_claims < 64) {
			s->claims[s->n_claims] = e->gen;
			s->claim_owner[s->n_claims++] = e->node;
		}
		if (h->claim == FENCE_CLAIM_STATE_PENDING && h->claim_epoch == e->gen) {
			h->claim = won ? FENCE_CLAIM_STATE_WON : FENCE_CLAIM_STATE_LOST;
			if (!won)
				h->peer_seen = false;
			scn_trace_json(r, "claim", won ? "won" : "lost",
				       json_pack("{sssI}", "node", h->name, "epoch", (json_int_t)e->gen));
		}
		break;
	}
	case EV_NOTICE:
		if (e->gen == h->isolation_gen && h->isolation_pending && h->power && h->agent &&
		    !(h->member && view_acts(s))) {
			h->noticed = true;
			h->isolation_pending = false;
			if (!h->stuck)
				stop_all(s, e->node, true);
			if (h->feeding) {
				h->last_feed = scn_now(r);
				h->feeding = false;
				h->wd_gen++;
				if (h->has_wd)
					scn_schedule(r, h->last_feed + s->t.watchdog_fire_max_usec, EV_WATCHDOG, e->node, h->wd_gen,
						     NULL);
			}
		}
		break;
	case EV_WATCHDOG:
		if (e->gen == h->wd_gen && h->power && !h->feeding && h->wd_armed) {
			power_off(s, e->node, "watchdog-reset");
			scn_schedule(r, scn_now(r) + BOOT_USEC, EV_BOOT, e->node, 0, NULL);
		}
		break;
	case EV_BOOT:
		power_on(s, e->node);
		break;
	case EV_START:
		/* every `at 0 node` / `vm` statement ran first (script before driver events) */
		if (setup_timing(s, r) < 0)
			return;
		s->started = true;
		break;
	case EV_WAKE:
	default:
		break;
	}
	step(s);
}

static void event_free(struct scn_event *e)
{
	free(e->data);
}

static void invariants(void *d, struct scn *r)
{
	struct sim *s = d;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct hvm *v = &s->vms[i];
		char list[256] = "";
		int writers = 0;
		for (int n = 0; n < s->n_nodes; n++)
			if (runs_on(v, n) && s->nodes[n].power && s->nodes[n].access) {
				writers++;
				snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s", s->nodes[n].name);
			}
		if (writers > 1)
			scn_fail(r, "%s runs with storage access on two hosts:%s", v->name, list);
	}
	/* a confirmation must stay true: no grant may land on a host whose fence is confirmed */
	for (int n = 0; n < s->n_nodes; n++) {
		const struct hnode *h = &s->nodes[n];
		if (h->rec.status == FENCE_CONFIRMED && h->rec.confirmed_by == FENCE_METHOD_ONTAP && h->power &&
		    h->access && !h->reset_since_out && !h->member)
			scn_fail(r, "%s is confirmed fenced by ontap, yet it is powered with its storage access", h->name);
	}
}

/* ---- statements ----------------------------------------------------------------------------- */

static int setup_timing(struct sim *s, struct scn *r)
{
	char *err = NULL;

	s->base.totem_nodes = (uint32_t)(s->n_nodes ? s->n_nodes : 1);
	if (timeouts_derive(&s->base, &s->t, &err) < 0) {
		scn_fail(r, "timing: %s", err ? err : "refused");
		free(err);
		return -EINVAL;
	}
	if (fence_config_from_timeouts(&s->t, s->levels, s->n_levels, &s->fc, &err) < 0) {
		scn_fail(r, "levels: %s", err ? err : "refused");
		free(err);
		return -EINVAL;
	}
	if (!s->notice_set)
		s->notice = s->t.notice_max_usec;
	return 0;
}

static int st_levels(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[128];

	scn_word(args, w, sizeof(w));
	s->n_levels = 0;
	for (char *p = w, *tok; (tok = strsep(&p, ","));) {
		if (s->n_levels == FENCE_MAX_LEVELS || fence_method_from_name(tok, &s->levels[s->n_levels]) < 0)
			BAD("levels: '%s'", tok);
		s->n_levels++;
	}
	return 0;
}

static int st_two_node(void *d, struct scn *r, const char *verb, const char *args)
{
	((struct sim *)d)->two_node = true;
	return 0;
}

static int st_notice(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t v;

	if (parse_uint(r, args, &v) < 0)
		return -EINVAL;
	s->notice = v * MS;
	s->notice_set = true;
	return 0;
}

static int st_timing(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char k[32], w[32];
	uint64_t v;

	while (*args) {
		args = scn_word(scn_word(args, k, sizeof(k)), w, sizeof(w));
		if (parse_uint(r, w, &v) < 0)
			return -EINVAL;
		if (!strcmp(k, "token"))
			s->base.totem_token_usec = v * MS;
		else if (!strcmp(k, "stall"))
			s->base.stall_timeout_usec = v * MS;
		else if (!strcmp(k, "ontap-request"))
			s->base.ontap_request_timeout_usec = v * MS;
		else if (!strcmp(k, "agent-restart"))
			s->base.agent_restart_usec = v * MS;
		else if (!strcmp(k, "watchdog"))
			s->base.watchdog_timeout_usec = v * MS;
		else if (!strcmp(k, "agent-timeout"))
			s->base.fence_agent_timeout_usec = v * MS;
		else if (!strcmp(k, "backoff"))
			s->base.fence_agent_backoff_usec = v * MS;
		else if (!strcmp(k, "margin"))
			s->base.margin_usec = v * MS;
		else if (!strcmp(k, "attempts"))
			s->base.fence_agent_attempts = (uint32_t)v;
		else
			BAD("timing: unknown '%s'", k);
	}
	return 0;
}

static int st_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64], w[32], x[32];
	uint64_t v;
	int i;

	args = scn_word(args, name, sizeof(name));
	if (!*name)
		BAD("node: which node?");
	i = node_find(s, name);
	if (i == NONE) {
		if (s->started)
			BAD("node %s: hosts are added before the first event (at 0)", name);
		if (s->n_nodes == MAX_NODES)
			BAD("node: at most %d hosts", MAX_NODES);
		i = s->n_nodes++;
		s->nodes[i] = (struct hnode){ .name = xstrdup(name), .mem = 16384, .cpu = 16, .has_wd = true, .power = true,
					      .agent = true, .access = true, .feeding = true, .member = true,
					      .peer_seen = true, .wd_armed = true, .joined = true };
	}
	struct hnode *h = &s->nodes[i];
	while (*args) {
		args = scn_word(scn_word(args, w, sizeof(w)), x, sizeof(x));
		if (!strcmp(w, "watchdog")) {
			h->has_wd = !strcmp(x, "on");
			continue;
		}
		if (parse_uint(r, x, &v) < 0)
			return -EINVAL;
		if (!strcmp(w, "mem"))
			h->mem = v;
		else if (!strcmp(w, "cpu"))
			h->cpu = (unsigned)v;
		else
			BAD("node %s: unknown '%s'", name, w);
	}
	return 0;
}

static int st_vm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64], w[32], x[512];
	struct hvm *v;
	uint64_t u;

	args = scn_word(args, name, sizeof(name));
	if (!*name)
		BAD("vm: which VM?");
	v = vm_find(s, name);
	if (!v) {
		s->vms = realloc(s->vms, (s->n_vms + 1) * sizeof(*s->vms));
		if (!s->vms)
			abort();
		v = &s->vms[s->n_vms++];
		*v = (struct hvm){ .name = xstrdup(name), .started = true, .ha = true, .mem = 1024, .cpu = 1,
				   .max_restart = 1, .max_relocate = 1 };
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
		if (!strcmp(w, "mem") || !strcmp(w, "cpu") || !strcmp(w, "max-restart") || !strcmp(w, "max-relocate")) {
			if (parse_uint(r, x, &u) < 0)
				return -EINVAL;
			if (!strcmp(w, "mem"))
				v->mem = u;
			else if (!strcmp(w, "cpu"))
				v->cpu = (unsigned)u;
			else if (!strcmp(w, "max-restart"))
				v->max_restart = (unsigned)u;
			else
				v->max_relocate = (unsigned)u;
		} else if (!strcmp(w, "prefer")) {
			strv_set(&v->prefer, x);
		} else if (!strcmp(w, "avoid")) {
			strv_set(&v->avoid, x);
		} else if (!strcmp(w, "anti")) {
			strv_set(&v->anti, x);
		} else if (!strcmp(w, "affinity")) {
			strv_set(&v->aff, x);
		} else if (!strcmp(w, "ha")) {
			v->ha = !strcmp(x, "on");
		} else if (!strcmp(w, "priority")) {
			v->prio = atoi(x);
		} else {
			BAD("vm %s: unknown '%s'", name, w);
		}
	}
	step(s);
	return 0;
}

static int node_arg(struct sim *s, struct scn *r, const char *verb, const char *args, char *rest, size_t size)
{
	char name[64];
	const char *after = scn_word(args, name, sizeof(name));
	int n = node_find(s, name);

	if (n == NONE) {
		scn_fail(r, "%s: no node '%s'", verb, name);
		return NONE;
	}
	snprintf(rest, size, "%s", after);
	return n;
}

static int st_host(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char rest[64];
	int n = node_arg(s, r, verb, args, rest, sizeof(rest));
	struct hnode *h;

	if (n == NONE)
		return -EINVAL;
	h = &s->nodes[n];
	if (!strcmp(verb, "crash")) {
		power_off(s, n, "power-off");
	} else if (!strcmp(verb, "boot")) {
		power_on(s, n);
	} else if (!strcmp(verb, "kill-agent")) {
		if (h->agent)
			trace_node(s, "world", "kill-agent", n);
		h->agent = false;
	} else if (!strcmp(verb, "start-agent")) {
		if (h->power && !h->agent) {
			h->agent = true;
			h->self_fenced = false;
			h->peer_seen = h->joined = false; /* a new kvmcd */
			trace_node(s, "world", "start-agent", n);
		}
	} else if (!strcmp(verb, "drain") || !strcmp(verb, "undrain")) {
		h->drained = !strcmp(verb, "drain");
	} else if (!strcmp(verb, "maintenance") || !strcmp(verb, "stuck")) {
		if (strcmp(rest, "on") && strcmp(rest, "off"))
			BAD("%s NODE on|off", verb);
		if (!strcmp(verb, "stuck"))
			h->stuck = !strcmp(rest, "on");
		else
			h->maintenance = !strcmp(rest, "on");
	} else if (!strcmp(verb, "grant")) {
		/* the leader's datastore plan gives this host access (a map, an initiator, a host NQN):
		 * never to a host whose fence record says its access is cut (the plan reads the
		 * records when it starts executing), and only after the record says one is in flight */
		uint64_t land = 200 * MS;
		bool cut = h->rec.status != FENCE_NONE && h->rec.access_cut &&
			   (h->rec.status == FENCE_PENDING || h->rec.status == FENCE_CONFIRMED ||
			    h->rec.status == FENCE_FAILED);
		if (*rest && sscanf(rest, "land %" SCNu64, &land) == 1)
			land *= MS;
		else if (*rest)
			BAD("grant NODE [land MS]");
		bool leads = s->leader != NONE && !s->nodes[s->leader].self_fenced &&
			     (!s->lone || s->nodes[s->leader].claim == FENCE_CLAIM_STATE_WON);
		if (!leads || cut) {
			scn_trace_json(r, "grant", "skip", json_pack("{ssss}", "node", h->name, "why", cut ? "access cut" : "no leader"));
		} else {
			grants_own(s, s->epoch);
			ontap_mutation_check(s, s->leader, "grant");
			s->g_present = true;
			s->g_epoch = s->epoch;
			if (!s->g_in_flight) {
				s->g_in_flight = true;
				grants_trace(s);
			}
			s->g_outstanding++;
			scn_trace_json(r, "grant", "send", json_pack("{sssI}", "node", h->name, "epoch", (json_int_t)s->epoch));
			scn_schedule(r, scn_now(r) + land, EV_GRANT, n, s->epoch, NULL);
		}
	} else if (!strcmp(verb, "method")) {
		char m[32], b[32];
		scn_word(scn_word(rest, m, sizeof(m)), b, sizeof(b));
		int which = !strcmp(m, "ontap") ? 0 : !strcmp(m, "agent") ? 1 : -1;
		enum behave how = !strcmp(b, "ok") ? B_OK : !strcmp(b, "fail") ? B_FAIL : !strcmp(b, "hang") ? B_HANG : 99;
		if (which < 0 || how == 99)
			BAD("method NODE ontap|agent ok|fail|hang");
		h->how[which] = how;
	}
	step(s);
	return 0;
}

static int st_partition(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[256];
	int g = 1;

	for (int i = 0; i < s->n_nodes; i++)
		s->nodes[i].group = 0;
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		for (char *p = w, *tok; (tok = strsep(&p, ","));) {
			int n = node_find(s, tok);
			if (n == NONE)
				BAD("partition: no node '%s'", tok);
			s->nodes[n].group = g;
		}
		g++;
	}
	step(s);
	return 0;
}

static int st_simple(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (!strcmp(verb, "heal"))
		for (int i = 0; i < s->n_nodes; i++)
			s->nodes[i].group = 0;
	else if (!strcmp(verb, "disarm"))
		s->armed = false;
	else if (!strcmp(verb, "arm"))
		s->armed = true;
	else if (!strcmp(verb, "vm-start")) {
		struct hvm *v = vm_find(s, args);
		if (!v)
			BAD("vm-start: no VM '%s'", args);
		v->started = true;
		set_str(&v->held, NULL);
		v->restarts = v->relocations = 0;
		set_str(&v->failed_on, NULL);
	} else if (!strcmp(verb, "settle")) {
		/* nothing: a step */
	}
	step(s);
	return 0;
}

/* ---- expectations --------------------------------------------------------------------------- */

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

static int ex_node(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char rest[256];
	int n;

	if (!strcmp(what, "leader")) {
		int want = strcmp(args, "none") ? node_find(s, args) : NONE;
		if (want == NONE && strcmp(args, "none"))
			BAD("expect leader: no node '%s'", args);
		if (s->leader != want)
			scn_fail(r, "leader %s, not %s", s->leader == NONE ? "none" : s->nodes[s->leader].name, args);
		return 0;
	}
	n = node_arg(s, r, what, args, rest, sizeof(rest));
	if (n == NONE)
		return -EINVAL;
	struct hnode *h = &s->nodes[n];
	if (!strcmp(what, "fence")) {
		if (strcmp(fence_status_name(h->rec.status), rest))
			scn_fail(r, "%s's fence is %s, not %s", h->name, fence_status_name(h->rec.status), rest);
	} else if (!strcmp(what, "fence-reason")) {
		if (!h->last_reason || !matches(rest, h->last_reason))
			scn_fail(r, "%s's fence reason '%s' does not match /%s/", h->name,
				 h->last_reason ? h->last_reason : "(none)", rest);
	} else if (!strcmp(what, "access") || !strcmp(what, "power")) {
		bool want = !strcmp(rest, "on"), got = !strcmp(what, "access") ? h->access : h->power;
		if (want != got)
			scn_fail(r, "%s's %s is %s, not %s", h->name, what, got ? "on" : "off", rest);
	}
	return 0;
}

static int ex_vm(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char vm[64], w[64], w2[64];
	const char *rest = scn_word(args, vm, sizeof(vm));
	struct hvm *v = vm_find(s, vm);

	if (!v)
		BAD("expect %s: no VM '%s'", what, vm);
	if (!strcmp(what, "reason")) {
		if (!v->last_reason || !matches(rest, v->last_reason))
			scn_fail(r, "%s's reason '%s' does not match /%s/", vm, v->last_reason ? v->last_reason : "(none)", rest);
		return 0;
	}
	rest = scn_word(scn_word(rest, w, sizeof(w)), w2, sizeof(w2));
	if (!strcmp(what, "runs")) {
		int n = node_find(s, w);
		if (!strcmp(w, "none") ? v->runs != 0 : (n == NONE || v->runs != 1u << n))
			scn_fail(r, "%s does not run on %s alone", vm, w);
	} else if (!strcmp(what, "owner")) {
		if (!same(v->owner, strcmp(w, "none") ? w : NULL))
			scn_fail(r, "%s: recorded owner %s, not %s", vm, v->owner ? v->owner : "none", w);
	} else if (!strcmp(what, "held")) {
		if ((v->held != NULL) != !strcmp(w, "yes"))
			scn_fail(r, "%s: held is %s", vm, v->held ? v->held : "no");
	} else if (!strcmp(what, "counts")) {
		if (v->restarts != (unsigned)atoi(w) || v->relocations != (unsigned)atoi(w2))
			scn_fail(r, "%s: restarts %u relocations %u, not %s %s", vm, v->restarts, v->relocations, w, w2);
	}
	return 0;
}

static int ex_recovered(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;

	for (int n = 0; n < s->n_nodes; n++) {
		const struct hnode *h = &s->nodes[n];
		if (h->rec.status != FENCE_NONE)
			scn_fail(r, "not recovered: %s's fence is still %s", h->name, fence_status_name(h->rec.status));
		if (!h->access)
			scn_fail(r, "not recovered: %s has no storage access", h->name);
	}
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct hvm *v = &s->vms[i];
		int o = node_find(s, v->owner);
		if (!v->started || v->held) {
			if (v->runs)
				scn_fail(r, "%s is %s but runs", v->name, v->held ? "held" : "stopped");
			if (v->held && !*v->held)
				scn_fail(r, "%s is held without a reason", v->name);
			continue;
		}
		if (o == NONE || v->runs != 1u << o)
			scn_fail(r, "not recovered: %s (owner %s) does not run on its owner alone (%s)", v->name,
				 v->owner ? v->owner : "none", v->last_reason ? v->last_reason : "no reason");
	}
	return 0;
}

/* ---- random mode ---------------------------------------------------------------------------- */

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	unsigned nodes = o->nodes ? o->nodes : (unsigned)scn_rng_range(g, 2, 5), vms = (unsigned)scn_rng_range(g, 2, 8);
	static const char *const ladders[] = { "ontap,agent", "ontap,agent,watchdog", "agent,ontap", "watchdog",
					      "ontap", "agent,watchdog", "ontap,watchdog" };

	if (nodes > 8)
		nodes = 8;
	if (nodes == 2 && scn_rng_chance(g, 60))
		scn_header(r, "two-node");
	scn_header(r, "levels %s", ladders[scn_rng_below(g, ARRAY_SIZE(ladders))]);
	scn_header(r, "notice %u", (unsigned)scn_rng_range(g, 0, 4000));
	/* every host can take every VM and no rule binds them (the goldens test the rules): "once
	 * capacity allows" always holds at the end, so every VM HA does not hold must run again */
	for (unsigned i = 1; i <= nodes; i++)
		scn_at(r, 0, "node kvm%u watchdog %s", i, scn_rng_chance(g, 80) ? "on" : "off");
	for (unsigned i = 1; i <= vms; i++)
		scn_at(r, 0, "vm vm%u mem 1024 ha %s priority %u max-restart %u max-relocate %u", i,
		       scn_rng_chance(g, 85) ? "on" : "off", (unsigned)scn_rng_below(g, 3), (unsigned)scn_rng_below(g, 3),
		       (unsigned)scn_rng_range(g, 0, 3));
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);
	const char *n = s->n_nodes ? s->nodes[scn_rng_below(g, (uint64_t)s->n_nodes)].name : "kvm1";

	*next = scn_rng_range(g, 100, 3000) * MS;
	if (roll < 10) {
		snprintf(buf, size, "crash %s", n);
	} else if (roll < 16 && s->leader != NONE) {
		/* the leader dies, often mid-fence */
		snprintf(buf, size, "%s %s", scn_rng_chance(g, 50) ? "crash" : "kill-agent", s->nodes[s->leader].name);
	} else if (roll < 28) {
		snprintf(buf, size, "boot %s", n);
	} else if (roll < 36) {
		snprintf(buf, size, "kill-agent %s", n);
	} else if (roll < 46) {
		snprintf(buf, size, "start-agent %s", n);
	} else if (roll < 54) {
		char a[128] = "", b[128] = "";
		for (int i = 0; i < s->n_nodes; i++) {
			char *t = scn_rng_chance(g, 50) ? a : b;
			snprintf(t + strlen(t), 128 - strlen(t), "%s%s", *t ? "," : "", s->nodes[i].name);
		}
		if (!*a || !*b)
			snprintf(buf, size, "heal");
		else
			snprintf(buf, size, "partition %s %s", a, b);
	} else if (roll < 62) {
		snprintf(buf, size, "heal");
	} else if (roll < 66) {
		snprintf(buf, size, "%s", s->armed && scn_rng_chance(g, 60) ? "disarm" : "arm");
	} else if (roll < 76) {
		static const char *const how[] = { "ok", "ok", "fail", "hang" };
		snprintf(buf, size, "method %s %s %s", n, scn_rng_chance(g, 50) ? "ontap" : "agent", how[scn_rng_below(g, 4)]);
	} else if (roll < 82 && s->n_vms) {
		const struct hvm *v = &s->vms[scn_rng_below(g, s->n_vms)];
		if (v->held)
			snprintf(buf, size, "vm-start %s", v->name);
		else
			snprintf(buf, size, "vm %s %s", v->name, v->started ? "stopped" : "started");
	} else if (roll < 86) {
		snprintf(buf, size, "%s %s", scn_rng_chance(g, 50) ? "drain" : "undrain", n);
	} else if (roll < 94) {
		/* an access grant, landing within one ONTAP request timeout (coord/timeouts.h 6.) */
		snprintf(buf, size, "grant %s land %" PRIu64, n,
			 scn_rng_range(g, 20, s->base.ontap_request_timeout_usec / MS));
	} else {
		return -EAGAIN;
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;

	scn_at(r, at, "heal");
	scn_at(r, at, "arm");
	for (int i = 0; i < s->n_nodes; i++) {
		scn_at(r, at, "method %s ontap ok", s->nodes[i].name);
		scn_at(r, at, "method %s agent ok", s->nodes[i].name);
		scn_at(r, at, "undrain %s", s->nodes[i].name);
		scn_at(r, at, "boot %s", s->nodes[i].name);
		scn_at(r, at, "start-agent %s", s->nodes[i].name);
	}
	/* a host reset by its watchdog just now boots within BOOT_USEC, one powered off by a fence
	 * agent still in flight (at most 1.2 s) is booted again; then each starts its kvmcd */
	for (uint64_t k = 0; k < 3; k++)
		for (int i = 0; i < s->n_nodes; i++) {
			/* (again: a fence agent cancelled when the host came back may still power it
			 * off; the fence that follows confirms before the next round) */
			scn_at(r, at + BOOT_USEC + 100 * MS + k * 5000 * MS, "boot %s", s->nodes[i].name);
			scn_at(r, at + BOOT_USEC + 100 * MS + k * 5000 * MS, "start-agent %s", s->nodes[i].name);
		}
	/* long enough for a pending round's pause, the quiet point, a whole ladder and unfencing */
	uint64_t quiet = BOOT_USEC + 8 * s->t.fence_round_pause_usec + s->t.ontap_quiet_usec + s->t.fence_ontap_deadline_usec +
			 s->t.fence_agent_deadline_usec + 30000 * MS;
	scn_at(r, at + quiet, "settle");
	scn_at(r, at + quiet + 1 * MS, "expect recovered");
	return at + quiet + 2 * MS;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->leader = s->leader2 = NONE;
	s->armed = true;
	timeouts_defaults(&s->base);
	s->base.totem_token_usec = 1000 * MS;
	s->base.totem_token_coefficient_usec = 0;
	s->base.stall_timeout_usec = 4000 * MS;
	s->base.ontap_request_timeout_usec = 1000 * MS;
	s->base.ontap_job_timeout_usec = 2000 * MS;
	s->base.agent_restart_usec = 2000 * MS;
	s->base.watchdog_timeout_usec = 5000 * MS;
	s->base.fence_agent_timeout_usec = 5000 * MS;
	s->base.fence_agent_attempts = 2;
	s->base.fence_agent_backoff_usec = 500 * MS;
	s->base.margin_usec = 500 * MS;
	s->levels[0] = FENCE_METHOD_ONTAP;
	s->levels[1] = FENCE_METHOD_AGENT;
	s->n_levels = 2;
	return s;
}

static int ready(void *d, struct scn *r)
{
	scn_schedule(r, 0, EV_START, 0, 0, NULL);
	return 0;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (int i = 0; i < s->n_nodes; i++) {
		free(s->nodes[i].name);
		free((char *)s->nodes[i].rec.error);
		free(s->nodes[i].last_reason);
	}
	for (size_t i = 0; i < s->n_vms; i++) {
		struct hvm *v = &s->vms[i];
		free(v->name);
		free(v->owner);
		free(v->failed_on);
		free(v->held);
		free(v->last_place);
		free(v->last_reason);
		strv_clear(&v->prefer);
		strv_clear(&v->avoid);
		strv_clear(&v->anti);
		strv_clear(&v->aff);
	}
	/* every run is owned by its EV_RUN event, freed with it */
	free(s->vms);
	free(s->reports);
	free(s->last_view);
	free(s);
}

static const struct scn_statement header[] = {
	{ "levels", st_levels, "ontap,agent,watchdog  the fence levels in order" },
	{ "two-node", st_two_node, " corosync two_node" },
	{ "timing", st_timing, "KEY MS ...  token stall ontap-request agent-restart watchdog agent-timeout backoff margin attempts" },
	{ "notice", st_notice, "MS  an isolated kvmcd notices after MS" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "node", st_node, "NAME [mem MIB] [cpu N] [watchdog on|off]" },
	{ "vm", st_vm, "NAME [mem MIB] [cpu N] [started|stopped] [prefer ..] [avoid ..] [anti ..] [affinity ..] [ha on|off] [priority P] [max-restart N] [max-relocate N]" },
	{ "crash", st_host, "NODE  power off" },
	{ "boot", st_host, "NODE  power on" },
	{ "kill-agent", st_host, "NODE  kvmcd dies" },
	{ "start-agent", st_host, "NODE  kvmcd starts" },
	{ "drain", st_host, "NODE" },
	{ "undrain", st_host, "NODE" },
	{ "maintenance", st_host, "NODE on|off" },
	{ "stuck", st_host, "NODE on|off  its domains cannot be stopped" },
	{ "grant", st_host, "NODE [land MS]  the leader's plan gives NODE access (lands after MS, 200)" },
	{ "method", st_host, "NODE ontap|agent ok|fail|hang" },
	{ "partition", st_partition, "A,B C  corosync partitions" },
	{ "heal", st_simple, "" },
	{ "disarm", st_simple, "" },
	{ "arm", st_simple, "" },
	{ "vm-start", st_simple, "VM  the user starts a held VM again" },
	{ "settle", st_simple, " one more step" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "fence", ex_node, "NODE none|pending|confirmed|failed|unfencing" },
	{ "fence-reason", ex_node, "NODE REGEX" },
	{ "access", ex_node, "NODE on|off" },
	{ "power", ex_node, "NODE on|off" },
	{ "leader", ex_node, "NODE|none" },
	{ "runs", ex_vm, "VM NODE|none" },
	{ "owner", ex_vm, "VM NODE|none" },
	{ "held", ex_vm, "VM yes|no" },
	{ "reason", ex_vm, "VM REGEX" },
	{ "counts", ex_vm, "VM RESTARTS RELOCATIONS" },
	{ "recovered", ex_recovered, "" },
	{ 0 }
};

static const struct scn_driver ha_driver = {
	.name = "ha",
	.summary = "HA: the fence core and the recovery core (with placement) in a simulated cluster: power,\n"
		   "kvmcd, corosync partitions, storage access, watchdogs, fence methods, two-node claims.\n"
		   "See tests/scenario/ha-driver.c for the trace and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.ready = ready,
	.handle = handle,
	.event_free = event_free,
	.invariants = invariants,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&ha_driver, argc, argv);
}
