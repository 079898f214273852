/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Placement and ownership (placement.h says what is decided and why). Pure: no I/O, no clock, no
 * globals beyond constant tables.
 *
 * Shape: the input is indexed once (names sorted for lookups, rules resolved to indices and
 * made symmetric, affinity groups as union-find components), then decided in phases that only
 * ever add to the state:
 *   A  ownership: every VM with a record is decided from (owner, running, migration) alone;
 *      this is where "never on two hosts" is kept, before capacity or rules are looked at;
 *   B  placement: what A left without an owner is placed, group by group, in priority order,
 *      charging each node as it goes;
 *   C  notes: running VMs that break a rule say so;
 * and for the plans, R1..R4 on top of A+B (drain, rules, preferences, load). Every choice
 * breaks ties by name, never by input order, so a permuted input gives the same decisions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "placement.h"

#define NONE ((size_t)-1)
#define LIST_MAX 8 /* nodes / VMs named in one part of a reason before "and N more" */

static const char *const action_names[_PLACEMENT_ACTION_MAX] = {
	[PLACEMENT_KEEP] = "keep",
	[PLACEMENT_START_ON] = "start-on",
	[PLACEMENT_STOP] = "stop",
	[PLACEMENT_WAIT] = "wait",
};

const char *placement_action_name(enum placement_action a)
{
	return (unsigned)a < _PLACEMENT_ACTION_MAX ? action_names[a] : NULL;
}

/* ---- a string builder whose allocation failure latches ---------------------------------- */

struct sb {
	char *s;
	size_t len, cap;
	bool oom;
};

_printf_(2, 3) static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 128) + (size_t)n;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
}

/* The text (owned), or NULL on ENOMEM; the builder is spent. */
static char *sb_take(struct sb *b)
{
	if (b->oom || !b->s) {
		free(b->s);
		b->s = NULL;
		return b->oom ? NULL : strdup("");
	}
	return TAKE_PTR(b->s);
}

/* ---- the indexed input ------------------------------------------------------------------ */

struct nst {
	const struct placement_node *in;
	bool live;                   /* member, not fenced */
	bool usable;                 /* live, not drained, not in maintenance */
	uint64_t mem_used, cpu_used; /* conservative: owners + migration targets (+ planned moves) */
	uint64_t mem_after;          /* where VMs will be once migrations are done (balance) */
	unsigned flights;            /* migrations touching it, in flight + planned */
};

struct vst {
	const struct placement_vm *in;
	const struct placement_owner *rec;
	size_t *prefer; size_t n_prefer;     /* node indices, deduplicated, in order */
	size_t *avoid; size_t n_avoid;       /* node indices */
	size_t *anti; size_t n_anti;         /* VM indices, symmetric, by name, not itself */
	size_t *aff; size_t n_aff;           /* started VM indices, symmetric, by name */
	size_t comp;                         /* affinity component: index of its root */
	bool comp_conflict;                  /* its component has anti-affinity inside: it can never
						be met, and moves treat its members one by one */

	/* the decision being built */
	bool decided;
	enum placement_action action;
	size_t owner;                        /* node index, NONE */
	const char *owner_name;              /* borrowed from the input; set with or without index */
	size_t mig;                          /* node index of a migration target, NONE */
	const char *mig_name;
	char *reason;                        /* owned */
	bool charged;

	/* plans */
	bool movable, moved;
};

struct ctx {
	const struct placement_input *in;
	struct nst *n; size_t nn;
	struct vst *v; size_t nv;
	size_t *node_by_name;                /* node indices sorted by name */
	size_t *vm_by_name;                  /* VM indices sorted by name */
	size_t *vm_order;                    /* VM indices: priority desc, then name */
	size_t *uf;                          /* union-find parents */
	bool oom;
};

static int sort_cmp_str(const char *a, const char *b)
{
	return strcmp(a, b);
}

/* qsort_r comparators */
static int cmp_node_name(const void *a, const void *b, void *u)
{
	const struct ctx *c = u;
	return sort_cmp_str(c->n[*(const size_t *)a].in->name, c->n[*(const size_t *)b].in->name);
}

static int cmp_vm_name(const void *a, const void *b, void *u)
{
	const struct ctx *c = u;
	return sort_cmp_str(c->v[*(const size_t *)a].in->name, c->v[*(const size_t *)b].in->name);
}

/* Priority desc, then name. */
static int vm_before(const struct ctx *c, size_t a, size_t b)
{
	int pa = c->v[a].in->ha_priority, pb = c->v[b].in->ha_priority;

	if (pa != pb)
		return pa > pb ? -1 : 1;
	return sort_cmp_str(c->v[a].in->name, c->v[b].in->name);
}

static int cmp_vm_order(const void *a, const void *b, void *u)
{
	return vm_before(u, *(const size_t *)a, *(const size_t *)b);
}

static size_t find_sorted(const struct ctx *c, const size_t *by, size_t n, bool nodes, const char *name)
{
	size_t lo = 0, hi = n;

	if (!name)
		return NONE;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = nodes ? c->n[by[mid]].in->name : c->v[by[mid]].in->name;
		int d = strcmp(name, m);
		if (!d)
			return by[mid];
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NONE;
}

static size_t node_idx(const struct ctx *c, const char *name)
{
	return find_sorted(c, c->node_by_name, c->nn, true, name);
}

static size_t vm_idx(const struct ctx *c, const char *name)
{
	return find_sorted(c, c->vm_by_name, c->nv, false, name);
}

static bool has(const size_t *v, size_t n, size_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static void push(struct ctx *c, size_t **v, size_t *n, size_t x)
{
	size_t *p;

	if (c->oom)
		return;
	p = realloc(*v, (*n + 1) * sizeof(**v));
	if (!p) {
		c->oom = true;
		return;
	}
	p[(*n)++] = x;
	*v = p;
}

/* Sorts VM indices by the VMs' names (so that every walk over them is independent of the input
 * order) and drops duplicates. */
static void sort_unique(struct ctx *c, size_t *v, size_t *n)
{
	size_t k = 0;

	if (!*n)
		return;
	qsort_r(v, *n, sizeof(*v), cmp_vm_name, c);
	for (size_t i = 0; i < *n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	*n = k;
}

static size_t uf_find(struct ctx *c, size_t x)
{
	while (c->uf[x] != x) {
		c->uf[x] = c->uf[c->uf[x]];
		x = c->uf[x];
	}
	return x;
}

static void uf_join(struct ctx *c, size_t a, size_t b)
{
	a = uf_find(c, a);
	b = uf_find(c, b);
	/* the root is the smaller index: any root works, the choice only has to be stable */
	if (a < b)
		c->uf[b] = a;
	else if (b < a)
		c->uf[a] = b;
}

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; c->v && i < c->nv; i++) {
		free(c->v[i].prefer);
		free(c->v[i].avoid);
		free(c->v[i].anti);
		free(c->v[i].aff);
		free(c->v[i].reason);
	}
	free(c->v);
	free(c->n);
	free(c->node_by_name);
	free(c->vm_by_name);
	free(c->vm_order);
	free(c->uf);
}

static int ctx_build(struct ctx *c, const struct placement_input *in)
{
	*c = (struct ctx){ .in = in, .nn = in->n_nodes, .nv = in->n_vms };

	if ((in->n_vms && !in->vms) || (in->n_nodes && !in->nodes) || (in->n_owners && !in->owners))
		return -EINVAL;
	c->n = calloc(c->nn ? c->nn : 1, sizeof(*c->n));
	c->v = calloc(c->nv ? c->nv : 1, sizeof(*c->v));
	c->node_by_name = calloc(c->nn ? c->nn : 1, sizeof(size_t));
	c->vm_by_name = calloc(c->nv ? c->nv : 1, sizeof(size_t));
	c->vm_order = calloc(c->nv ? c->nv : 1, sizeof(size_t));
	c->uf = calloc(c->nv ? c->nv : 1, sizeof(size_t));
	if (!c->n || !c->v || !c->node_by_name || !c->vm_by_name || !c->vm_order || !c->uf)
		return -ENOMEM;

	for (size_t i = 0; i < c->nn; i++) {
		const struct placement_node *p = &in->nodes[i];
		if (!p->name)
			return -EINVAL;
		c->n[i].in = p;
		c->n[i].live = p->member && !p->fenced;
		c->n[i].usable = c->n[i].live && !p->drained && !p->maintenance;
		c->node_by_name[i] = i;
	}
	qsort_r(c->node_by_name, c->nn, sizeof(size_t), cmp_node_name, c);
	for (size_t i = 1; i < c->nn; i++)
		if (!strcmp(c->n[c->node_by_name[i - 1]].in->name, c->n[c->node_by_name[i]].in->name))
			return -EINVAL;

	for (size_t i = 0; i < c->nv; i++) {
		if (!in->vms[i].name)
			return -EINVAL;
		c->v[i] = (struct vst){ .in = &in->vms[i], .owner = NONE, .mig = NONE };
		c->vm_by_name[i] = c->vm_order[i] = c->uf[i] = i;
	}
	qsort_r(c->vm_by_name, c->nv, sizeof(size_t), cmp_vm_name, c);
	qsort_r(c->vm_order, c->nv, sizeof(size_t), cmp_vm_order, c);
	for (size_t i = 1; i < c->nv; i++)
		if (!strcmp(c->v[c->vm_by_name[i - 1]].in->name, c->v[c->vm_by_name[i]].in->name))
			return -EINVAL;

	for (size_t i = 0; i < in->n_owners; i++) {
		const struct placement_owner *o = &in->owners[i];
		size_t k;
		if (!o->vm || !o->node)
			return -EINVAL;
		k = vm_idx(c, o->vm);
		if (k == NONE)
			continue; /* a record of a VM the spec no longer has: not ours to decide */
		if (c->v[k].rec)
			return -EINVAL;
		c->v[k].rec = o;
	}

	for (size_t i = 0; i < c->nv; i++) {
		struct vst *v = &c->v[i];
		const struct placement_vm *p = v->in;
		if ((p->n_prefer && !p->prefer) || (p->n_avoid && !p->avoid) ||
		    (p->n_anti_affinity && !p->anti_affinity) || (p->n_affinity && !p->affinity))
			return -EINVAL;
		for (size_t j = 0; j < p->n_prefer; j++) {
			size_t n = node_idx(c, p->prefer[j]);
			if (n != NONE && !has(v->prefer, v->n_prefer, n))
				push(c, &v->prefer, &v->n_prefer, n);
		}
		for (size_t j = 0; j < p->n_avoid; j++) {
			size_t n = node_idx(c, p->avoid[j]);
			if (n != NONE && !has(v->avoid, v->n_avoid, n))
				push(c, &v->avoid, &v->n_avoid, n);
		}
		for (size_t j = 0; j < p->n_anti_affinity; j++) {
			size_t w = vm_idx(c, p->anti_affinity[j]);
			if (w == NONE || w == i)
				continue;
			push(c, &v->anti, &v->n_anti, w);
			push(c, &c->v[w].anti, &c->v[w].n_anti, i);
		}
		for (size_t j = 0; j < p->n_affinity; j++) {
			size_t w = vm_idx(c, p->affinity[j]);
			if (w == NONE || w == i || !p->started || !c->v[w].in->started)
				continue;
			push(c, &v->aff, &v->n_aff, w);
			push(c, &c->v[w].aff, &c->v[w].n_aff, i);
			uf_join(c, i, w);
		}
	}
	if (c->oom)
		return -ENOMEM;
	for (size_t i = 0; i < c->nv; i++) {
		sort_unique(c, c->v[i].anti, &c->v[i].n_anti);
		sort_unique(c, c->v[i].aff, &c->v[i].n_aff);
		c->v[i].comp = uf_find(c, i);
	}
	for (size_t i = 0; i < c->nv; i++)
		for (size_t a = 0; a < c->v[i].n_anti; a++) {
			size_t w = c->v[i].anti[a];
			if (c->v[i].in->started && c->v[w].in->started && c->v[w].comp == c->v[i].comp)
				c->v[i].comp_conflict = true;
		}
	for (size_t i = 0; i < c->nv; i++)
		if (c->v[i].comp_conflict)
			c->v[c->v[i].comp].comp_conflict = true;
	for (size_t i = 0; i < c->nv; i++)
		c->v[i].comp_conflict = c->v[c->v[i].comp].comp_conflict;
	return 0;
}

/* ---- occupancy ---------------------------------------------------------------------------- */

/* VM w is on node n now or will be (its owner, or the target of its migration). */
static bool at(const struct ctx *c, size_t w, size_t n)
{
	return c->v[w].owner == n || c->v[w].mig == n;
}

/* Where VM w will be once its migration (if any) is done; NONE: nowhere known. */
static size_t where_after(const struct ctx *c, size_t w)
{
	return c->v[w].mig != NONE ? c->v[w].mig : c->v[w].owner;
}

static void charge(struct ctx *c, size_t n, const struct vst *v)
{
	if (n == NONE)
		return;
	c->n[n].mem_used += v->in->memory_mib;
	c->n[n].cpu_used += v->in->vcpus;
}

/* Counts a decided VM where it is (and where it goes). */
static void charge_decided(struct ctx *c, size_t i)
{
	struct vst *v = &c->v[i];
	size_t after = where_after(c, i);

	if (v->charged)
		return;
	v->charged = true;
	charge(c, v->owner, v);
	charge(c, v->mig, v);
	if (after != NONE)
		c->n[after].mem_after += v->in->memory_mib;
}

static void decide(struct ctx *c, size_t i, enum placement_action a, size_t owner, const char *owner_name,
		   size_t mig, const char *mig_name)
{
	struct vst *v = &c->v[i];

	v->decided = true;
	v->action = a;
	v->owner = owner;
	v->owner_name = owner == NONE ? owner_name : c->n[owner].in->name;
	v->mig = mig;
	v->mig_name = mig == NONE ? mig_name : c->n[mig].in->name;
	charge_decided(c, i);
}

_printf_(3, 4) static void set_reason(struct ctx *c, size_t i, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		c->oom = true;
	}
	va_end(ap);
	free(c->v[i].reason);
	c->v[i].reason = s;
}

static void take_reason(struct ctx *c, size_t i, char *s)
{
	if (!s)
		c->oom = true;
	free(c->v[i].reason);
	c->v[i].reason = s;
}

static const char *unusable_words(const struct nst *n)
{
	if (n->in->fenced)
		return "is fenced";
	if (!n->in->member)
		return "left the quorate view";
	if (n->in->maintenance)
		return "is in maintenance";
	if (n->in->drained)
		return "is drained";
	return "is usable";
}

/* ---- refusals: why a node cannot take a set of VMs, and the words for it --------------- */

enum rf_kind { RF_OK, RF_FENCED, RF_OUT, RF_MAINT, RF_DRAINED, RF_AVOID, RF_ANTI, RF_MEM, RF_CPU, _RF_MAX };

struct refusal {
	enum rf_kind kind;
	size_t vm;           /* RF_AVOID: the VM of the set that avoids it; RF_ANTI: the VM on the node */
	uint64_t free;       /* RF_MEM, RF_CPU: what is free there */
};

static bool in_set(const size_t *set, size_t k, size_t x)
{
	return has(set, k, x);
}

static struct refusal refuse(const struct ctx *c, const size_t *set, size_t k, size_t n)
{
	const struct nst *N = &c->n[n];
	uint64_t mem = 0, cpu = 0;

	if (N->in->fenced)
		return (struct refusal){ RF_FENCED };
	if (!N->in->member)
		return (struct refusal){ RF_OUT };
	if (N->in->maintenance)
		return (struct refusal){ RF_MAINT };
	if (N->in->drained)
		return (struct refusal){ RF_DRAINED };
	for (size_t j = 0; j < k; j++)
		if (has(c->v[set[j]].avoid, c->v[set[j]].n_avoid, n))
			return (struct refusal){ RF_AVOID, set[j] };
	for (size_t j = 0; j < k; j++) {
		const struct vst *v = &c->v[set[j]];
		for (size_t a = 0; a < v->n_anti; a++)
			if (!in_set(set, k, v->anti[a]) && at(c, v->anti[a], n))
				return (struct refusal){ RF_ANTI, v->anti[a] };
	}
	for (size_t j = 0; j < k; j++) {
		mem += c->v[set[j]].in->memory_mib;
		cpu += c->v[set[j]].in->vcpus;
	}
	if (N->mem_used > N->in->memory_mib || N->in->memory_mib - N->mem_used < mem)
		return (struct refusal){ RF_MEM, NONE, N->mem_used > N->in->memory_mib ? 0 : N->in->memory_mib - N->mem_used };
	if (N->cpu_used > N->in->vcpus || N->in->vcpus - N->cpu_used < cpu)
		return (struct refusal){ RF_CPU, NONE, N->cpu_used > N->in->vcpus ? 0 : N->in->vcpus - N->cpu_used };
	return (struct refusal){ RF_OK };
}

/* "a, b, c" / "a, ... and 3 more" of the nodes flagged in pick[] (node-name order). */
static void list_nodes(const struct ctx *c, struct sb *b, const struct refusal *rf, enum rf_kind kind)
{
	size_t shown = 0, total = 0;

	for (size_t j = 0; j < c->nn; j++) {
		size_t n = c->node_by_name[j];
		if (rf[n].kind != kind)
			continue;
		if (shown < LIST_MAX) {
			const char *sep = shown ? ", " : "";
			if (kind == RF_ANTI)
				sb_printf(b, "%s%s on %s", sep, c->v[rf[n].vm].in->name, c->n[n].in->name);
			else if (kind == RF_MEM || kind == RF_CPU)
				sb_printf(b, "%s%s has %llu", sep, c->n[n].in->name, (unsigned long long)rf[n].free);
			else
				sb_printf(b, "%s%s", sep, c->n[n].in->name);
			shown++;
		}
		total++;
	}
	if (total > shown)
		sb_printf(b, " and %zu more", total - shown);
}

static size_t count_kind(const struct ctx *c, const struct refusal *rf, enum rf_kind kind)
{
	size_t k = 0;

	for (size_t n = 0; n < c->nn; n++)
		k += rf[n].kind == kind;
	return k;
}

/*
 * Why no node takes the set (a VM, or an affinity group placed whole): every node's first
 * refusal, grouped. `except` (NONE: none) is left out: the node a migration leaves.
 *   one kind of refusal among the usable nodes: "no node has 4096 MiB free (kvm2 has 1024)",
 *     "anti-affinity with vm2 on kvm1: no other eligible node", ...; then the unusable nodes
 *   otherwise: "no eligible node: <each kind>; ..."
 */
static char *no_node_reason(const struct ctx *c, const size_t *set, size_t k, size_t except)
{
	static const enum rf_kind rule_kinds[] = { RF_ANTI, RF_MEM, RF_CPU, RF_AVOID };
	static const struct { enum rf_kind kind; const char *one, *many; } flags[] = {
		{ RF_DRAINED, "is drained", "are drained" },
		{ RF_MAINT, "is in maintenance", "are in maintenance" },
		{ RF_OUT, "is out of the quorate view", "are out of the quorate view" },
		{ RF_FENCED, "is fenced", "are fenced" },
	};
	struct refusal *rf = calloc(c->nn ? c->nn : 1, sizeof(*rf));
	struct sb b = { 0 };
	uint64_t mem = 0, cpu = 0;
	size_t kinds = 0, considered = 0;
	bool first = true;

	if (!rf)
		return NULL;
	for (size_t j = 0; j < k; j++) {
		mem += c->v[set[j]].in->memory_mib;
		cpu += c->v[set[j]].in->vcpus;
	}
	for (size_t n = 0; n < c->nn; n++) {
		rf[n] = n == except ? (struct refusal){ RF_OK } : refuse(c, set, k, n);
		considered += n != except;
	}
	for (size_t j = 0; j < ARRAY_SIZE(rule_kinds); j++)
		kinds += count_kind(c, rf, rule_kinds[j]) > 0;

	if (k > 1) {
		sb_printf(&b, "its affinity group (");
		for (size_t j = 0; j < k; j++)
			sb_printf(&b, "%s%s", j ? ", " : "", c->v[set[j]].in->name);
		sb_printf(&b, ") needs one node for all: ");
	}
	if (!considered) {
		sb_printf(&b, except == NONE ? "no nodes" : "no other node");
		free(rf);
		return sb_take(&b);
	}
	if (kinds == 1) {
		if (count_kind(c, rf, RF_MEM)) {
			sb_printf(&b, "no node has %llu MiB free (", (unsigned long long)mem);
			list_nodes(c, &b, rf, RF_MEM);
			sb_printf(&b, ")");
		} else if (count_kind(c, rf, RF_CPU)) {
			sb_printf(&b, "no node has %llu vCPUs free (", (unsigned long long)cpu);
			list_nodes(c, &b, rf, RF_CPU);
			sb_printf(&b, ")");
		} else if (count_kind(c, rf, RF_ANTI)) {
			sb_printf(&b, "anti-affinity with ");
			list_nodes(c, &b, rf, RF_ANTI);
			sb_printf(&b, ": no other eligible node");
		} else {
			sb_printf(&b, "avoids ");
			list_nodes(c, &b, rf, RF_AVOID);
			sb_printf(&b, ": no other eligible node");
		}
		first = false;
	} else {
		sb_printf(&b, "no eligible node");
		if (kinds) {
			sb_printf(&b, ": ");
			for (size_t j = 0; j < ARRAY_SIZE(rule_kinds); j++) {
				enum rf_kind kind = rule_kinds[j];
				if (!count_kind(c, rf, kind))
					continue;
				if (!first)
					sb_printf(&b, "; ");
				first = false;
				if (kind == RF_ANTI) {
					sb_printf(&b, "anti-affinity with ");
					list_nodes(c, &b, rf, kind);
				} else if (kind == RF_MEM) {
					sb_printf(&b, "less than %llu MiB free: ", (unsigned long long)mem);
					list_nodes(c, &b, rf, kind);
				} else if (kind == RF_CPU) {
					sb_printf(&b, "less than %llu vCPUs free: ", (unsigned long long)cpu);
					list_nodes(c, &b, rf, kind);
				} else {
					sb_printf(&b, "avoids ");
					list_nodes(c, &b, rf, kind);
				}
			}
		}
	}
	for (size_t j = 0; j < ARRAY_SIZE(flags); j++) {
		size_t cnt = count_kind(c, rf, flags[j].kind);
		if (!cnt)
			continue;
		sb_printf(&b, first ? ": " : "; ");
		first = false;
		list_nodes(c, &b, rf, flags[j].kind);
		sb_printf(&b, " %s", cnt == 1 ? flags[j].one : flags[j].many);
	}
	free(rf);
	return sb_take(&b);
}

/* Why this one node cannot take the set: "kvm1 has 1024 MiB free (needs 4096)", ... */
static char *one_node_reason(const struct ctx *c, const size_t *set, size_t k, size_t n, struct refusal r)
{
	uint64_t mem = 0, cpu = 0;
	char *s = NULL;
	int rc = 0;

	for (size_t j = 0; j < k; j++) {
		mem += c->v[set[j]].in->memory_mib;
		cpu += c->v[set[j]].in->vcpus;
	}
	switch (r.kind) {
	case RF_FENCED: case RF_OUT: case RF_MAINT: case RF_DRAINED:
		rc = asprintf(&s, "%s %s", c->n[n].in->name, unusable_words(&c->n[n]));
		break;
	case RF_AVOID:
		rc = asprintf(&s, "%s avoids %s", c->v[r.vm].in->name, c->n[n].in->name);
		break;
	case RF_ANTI:
		rc = asprintf(&s, "%s runs %s (anti-affinity)", c->n[n].in->name, c->v[r.vm].in->name);
		break;
	case RF_MEM:
		rc = asprintf(&s, "%s has %llu MiB free (needs %llu)", c->n[n].in->name, (unsigned long long)r.free,
			      (unsigned long long)mem);
		break;
	case RF_CPU:
		rc = asprintf(&s, "%s has %llu vCPUs free (needs %llu)", c->n[n].in->name, (unsigned long long)r.free,
			      (unsigned long long)cpu);
		break;
	default:
		rc = asprintf(&s, "%s can take it", c->n[n].in->name);
	}
	return rc < 0 ? NULL : s;
}

/* ---- ranking: prefer order, then least loaded, then name -------------------------------- */

static size_t prefer_rank(const struct vst *v, size_t n)
{
	for (size_t j = 0; j < v->n_prefer; j++)
		if (v->prefer[j] == n)
			return j;
	return v->n_prefer;
}

/* a/b < c/d for shares (b or d 0: that share counts as full, above everything). */
static int share_cmp(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	unsigned __int128 l, r;

	if (!b || !d)
		return (!b) - (!d);
	l = (unsigned __int128)a * d;
	r = (unsigned __int128)c * b;
	return l < r ? -1 : l > r;
}

/* A node's rank for a set: the best rank any of its VMs gives it (SIZE_MAX: none prefers it). */
static size_t set_rank(const struct ctx *c, const size_t *set, size_t k, size_t n)
{
	size_t best = SIZE_MAX;

	for (size_t j = 0; j < k; j++) {
		const struct vst *v = &c->v[set[j]];
		size_t r = prefer_rank(v, n);
		if (r < v->n_prefer && r < best)
			best = r;
	}
	return best;
}

/* Is node x better than node y for the set? */
static bool better(const struct ctx *c, const size_t *set, size_t k, uint64_t mem, uint64_t cpu, size_t x, size_t y)
{
	const struct nst *X = &c->n[x], *Y = &c->n[y];
	size_t rx = set_rank(c, set, k, x), ry = set_rank(c, set, k, y);
	int d;

	if (rx != ry)
		return rx < ry;
	d = share_cmp(X->mem_used + mem, X->in->memory_mib, Y->mem_used + mem, Y->in->memory_mib);
	if (d)
		return d < 0;
	d = share_cmp(X->cpu_used + cpu, X->in->vcpus, Y->cpu_used + cpu, Y->in->vcpus);
	if (d)
		return d < 0;
	return strcmp(X->in->name, Y->in->name) < 0;
}

/* The best node for the set, NONE when none takes it. `except`: a node left out (NONE). */
static size_t best_node(const struct ctx *c, const size_t *set, size_t k, size_t except)
{
	uint64_t mem = 0, cpu = 0;
	size_t best = NONE;

	for (size_t j = 0; j < k; j++) {
		mem += c->v[set[j]].in->memory_mib;
		cpu += c->v[set[j]].in->vcpus;
	}
	for (size_t n = 0; n < c->nn; n++) {
		if (n == except || refuse(c, set, k, n).kind != RF_OK)
			continue;
		if (best == NONE || better(c, set, k, mem, cpu, n, best))
			best = n;
	}
	return best;
}

/* ---- phase A: ownership ------------------------------------------------------------------ */

static void decide_owned(struct ctx *c, size_t i)
{
	struct vst *v = &c->v[i];
	const struct placement_owner *o = v->rec;
	size_t X = node_idx(c, o->node), T = o->migrating_to ? node_idx(c, o->migrating_to) : NONE;
	bool started = v->in->started;
	bool x_fenced = X != NONE && c->n[X].in->fenced, x_live = X != NONE && c->n[X].live;
	bool has_t = o->migrating_to != NULL;
	bool t_fenced = T != NONE && c->n[T].in->fenced, t_live = T != NONE && c->n[T].live;

	if (x_fenced) {
		if (has_t && !t_fenced) {
			if (t_live) {
				/* The hand-over may have been lost with the source: the target may run it
				 * already, and nobody else may start it. */
				decide(c, i, started ? PLACEMENT_START_ON : PLACEMENT_STOP, T, NULL, NONE, NULL);
				set_reason(c, i, "its owner %s was fenced during its migration to %s: %s takes it over",
					   o->node, o->migrating_to, o->migrating_to);
			} else {
				decide(c, i, PLACEMENT_WAIT, X, o->node, T, o->migrating_to);
				set_reason(c, i, "its owner %s was fenced during its migration to %s, which %s: waiting "
					   "until %s is back or fenced", o->node, o->migrating_to,
					   T == NONE ? "is not a node of the cluster" : "left the quorate view", o->migrating_to);
			}
			return;
		}
		if (!started) {
			decide(c, i, PLACEMENT_KEEP, NONE, NULL, NONE, NULL);
			return;
		}
		if (!v->in->ha_enabled) {
			decide(c, i, PLACEMENT_WAIT, X, o->node, NONE, NULL);
			set_reason(c, i, "its node %s was fenced and HA is off for it: it starts again when %s is back",
				   o->node, o->node);
			return;
		}
		return; /* placed again in phase B */
	}
	if (!x_live) {
		decide(c, i, PLACEMENT_WAIT, X, o->node, T, o->migrating_to);
		if (X == NONE)
			set_reason(c, i, "its owner %s is not a node of the cluster and is not fenced: waiting until it is",
				   o->node);
		else
			set_reason(c, i, "%sits owner %s left the quorate view and is not fenced: waiting until it is back "
				   "or fenced", started ? "" : "stopped in the spec; ", o->node);
		return;
	}

	/* The owner is a live member: its report of the domain is current. */
	if (has_t && !t_fenced) {
		bool t_ok = t_live && c->n[T].usable && started && !has(v->avoid, v->n_avoid, T);
		if (o->running) {
			if (!started) {
				decide(c, i, PLACEMENT_STOP, X, NULL, NONE, NULL);
				set_reason(c, i, "stopped in the spec: its migration to %s is abandoned", o->migrating_to);
			} else if (t_ok) {
				decide(c, i, PLACEMENT_KEEP, X, NULL, T, NULL);
			} else {
				decide(c, i, PLACEMENT_KEEP, X, NULL, NONE, NULL);
				if (T == NONE)
					set_reason(c, i, "its migration to %s is abandoned: %s is not a node of the cluster",
						   o->migrating_to, o->migrating_to);
				else if (!c->n[T].usable)
					set_reason(c, i, "its migration to %s is abandoned: %s %s", o->migrating_to,
						   o->migrating_to, unusable_words(&c->n[T]));
				else
					set_reason(c, i, "its migration to %s is abandoned: it avoids %s", o->migrating_to,
						   o->migrating_to);
			}
			return;
		}
		/* The source does not run it: the migration may have finished on the target. */
		if (t_live) {
			decide(c, i, PLACEMENT_KEEP, X, NULL, T, NULL);
			set_reason(c, i, "its migration to %s is finishing", o->migrating_to);
		} else {
			decide(c, i, PLACEMENT_WAIT, X, NULL, T, o->migrating_to);
			set_reason(c, i, "its migration to %s may have finished and %s %s: waiting until it is back or "
				   "fenced", o->migrating_to, o->migrating_to,
				   T == NONE ? "is not a node of the cluster" : "left the quorate view");
		}
		return;
	}
	/* No migration (or one to a fenced node, which runs nothing). */
	if (!started) {
		if (o->running) {
			decide(c, i, PLACEMENT_STOP, X, NULL, NONE, NULL);
			set_reason(c, i, "stopped in the spec");
		} else {
			decide(c, i, PLACEMENT_KEEP, NONE, NULL, NONE, NULL);
		}
		return;
	}
	if (o->running)
		decide(c, i, PLACEMENT_KEEP, X, NULL, NONE, NULL);
	else if (c->n[X].usable)
		decide(c, i, PLACEMENT_START_ON, X, NULL, NONE, NULL);
	else {
		/* It never started there and the node is leaving: the node lets it go first (it may
		 * be starting it right now), then it is placed again. */
		decide(c, i, PLACEMENT_STOP, X, NULL, NONE, NULL);
		set_reason(c, i, "%s %s and had not started it: placed again once %s has let it go", o->node,
			   unusable_words(&c->n[X]), o->node);
	}
}

/* ---- phase B: placement ------------------------------------------------------------------ */

/* A component's members, in placement order (priority, name). */
static size_t comp_members(const struct ctx *c, size_t root, size_t *out)
{
	size_t k = 0;

	for (size_t j = 0; j < c->nv; j++) {
		size_t i = c->vm_order[j];
		if (c->v[i].in->started && c->v[i].comp == root)
			out[k++] = i;
	}
	return k;
}

static bool anti_inside(const struct ctx *c, const size_t *m, size_t k, size_t *a, size_t *b)
{
	for (size_t x = 0; x < k; x++)
		for (size_t y = 0; y < c->v[m[x]].n_anti; y++)
			if (in_set(m, k, c->v[m[x]].anti[y])) {
				*a = m[x];
				*b = c->v[m[x]].anti[y];
				return true;
			}
	return false;
}

/* The VMs u[0..n) wait, all for one reason (taken; NULL: out of memory). */
static void wait_all(struct ctx *c, const size_t *u, size_t n, char *why)
{
	for (size_t j = 0; j < n; j++) {
		decide(c, u[j], PLACEMENT_WAIT, NONE, NULL, NONE, NULL);
		take_reason(c, u[j], j + 1 < n ? (why ? strdup(why) : NULL) : why);
	}
}

static void place_group(struct ctx *c, size_t root, size_t *m, size_t *u)
{
	size_t k = comp_members(c, root, m), nu = 0, pinned = NONE, a, b;
	bool split = false;

	for (size_t j = 0; j < k; j++) {
		const struct vst *v = &c->v[m[j]];
		if (!v->decided) {
			u[nu++] = m[j];
			continue;
		}
		if (!v->owner_name)
			continue;
		if (pinned == NONE)
			pinned = m[j];
		else if (strcmp(c->v[pinned].owner_name, v->owner_name))
			split = true;
	}
	if (!nu)
		return;

	if (k > 1 && anti_inside(c, m, k, &a, &b)) {
		char *why = NULL;
		if (asprintf(&why, "its affinity group has anti-affinity inside it (%s and %s): cannot be met",
			     c->v[a].in->name, c->v[b].in->name) < 0)
			why = NULL;
		wait_all(c, u, nu, why);
		return;
	}
	if (split) {
		struct sb s = { 0 };
		sb_printf(&s, "affinity with ");
		for (size_t j = 0, shown = 0; j < k; j++)
			if (c->v[m[j]].owner_name && shown++ < LIST_MAX)
				sb_printf(&s, "%s%s on %s", shown > 1 ? ", " : "", c->v[m[j]].in->name, c->v[m[j]].owner_name);
		sb_printf(&s, ": they are on different nodes (kvmcctl cluster rebalance gathers them)");
		wait_all(c, u, nu, sb_take(&s));
		return;
	}
	if (pinned != NONE) {
		size_t N = c->v[pinned].owner;
		for (size_t j = 0; j < nu; j++) {
			struct refusal r = N == NONE ? (struct refusal){ RF_OUT } : refuse(c, &u[j], 1, N);
			if (r.kind == RF_OK) {
				decide(c, u[j], PLACEMENT_START_ON, N, NULL, NONE, NULL);
				continue;
			}
			decide(c, u[j], PLACEMENT_WAIT, NONE, NULL, NONE, NULL);
			if (N == NONE) {
				set_reason(c, u[j], "affinity with %s, whose owner %s is not a node of the cluster",
					   c->v[pinned].in->name, c->v[pinned].owner_name);
			} else {
				_cleanup_free_ char *why = one_node_reason(c, &u[j], 1, N, r);
				if (!why)
					c->oom = true;
				set_reason(c, u[j], "affinity with %s on %s: %s", c->v[pinned].in->name,
					   c->n[N].in->name, why ? why : "");
			}
		}
		return;
	}
	/* Nobody placed yet: the whole group on one node, or all wait. */
	size_t n = best_node(c, u, nu, NONE);
	if (n != NONE) {
		for (size_t j = 0; j < nu; j++)
			decide(c, u[j], PLACEMENT_START_ON, n, NULL, NONE, NULL);
		return;
	}
	wait_all(c, u, nu, no_node_reason(c, u, nu, NONE));
}

/* Phase C: a running VM that breaks a rule keeps running and says so. */
static void note_kept(struct ctx *c, size_t i)
{
	struct vst *v = &c->v[i];
	size_t X = v->owner;

	if (v->action != PLACEMENT_KEEP || X == NONE || v->reason || v->mig != NONE)
		return;
	if (!c->n[X].usable) {
		set_reason(c, i, "%s %s: the drain migrates it", c->n[X].in->name, unusable_words(&c->n[X]));
		return;
	}
	if (has(v->avoid, v->n_avoid, X)) {
		set_reason(c, i, "runs on %s, which it avoids: kvmcctl cluster rebalance moves it", c->n[X].in->name);
		return;
	}
	for (size_t a = 0; a < v->n_anti; a++)
		if (at(c, v->anti[a], X)) {
			set_reason(c, i, "runs on %s with %s against their anti-affinity: kvmcctl cluster rebalance moves one",
				   c->n[X].in->name, c->v[v->anti[a]].in->name);
			return;
		}
	for (size_t a = 0; a < v->n_aff; a++) {
		const struct vst *w = &c->v[v->aff[a]];
		if (w->owner_name && strcmp(w->owner_name, c->n[X].in->name)) {
			set_reason(c, i, "affinity with %s broken: it is on %s (kvmcctl cluster rebalance gathers them)",
				   w->in->name, w->owner_name);
			return;
		}
	}
}

static int decide_all(struct ctx *c)
{
	size_t *m = calloc(c->nv ? c->nv : 1, sizeof(size_t)), *u = calloc(c->nv ? c->nv : 1, sizeof(size_t));

	if (!m || !u) {
		free(m);
		free(u);
		return -ENOMEM;
	}
	/* A: ownership */
	for (size_t i = 0; i < c->nv; i++) {
		if (c->v[i].rec)
			decide_owned(c, i);
		else if (!c->v[i].in->started)
			decide(c, i, PLACEMENT_KEEP, NONE, NULL, NONE, NULL);
	}
	/* B: placement, group by group in the order of each group's first undecided member */
	for (size_t j = 0; j < c->nv && !c->oom; j++) {
		size_t i = c->vm_order[j];
		if (!c->v[i].decided)
			place_group(c, c->v[i].comp, m, u);
	}
	/* C: notes */
	for (size_t i = 0; i < c->nv; i++)
		note_kept(c, i);
	free(m);
	free(u);
	return c->oom ? -ENOMEM : 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

void placement_result_free(struct placement_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_decisions; i++) {
		free(r->decisions[i].vm);
		free(r->decisions[i].owner);
		free(r->decisions[i].migrating_to);
		free(r->decisions[i].reason);
	}
	free(r->decisions);
	free(r);
}

int placement_place(const struct placement_input *in, struct placement_result **out)
{
	struct ctx c;
	struct placement_result *r;
	bool oom = false;
	int rc;

	if (!in || !out)
		return -EINVAL;
	rc = ctx_build(&c, in);
	if (rc == 0)
		rc = decide_all(&c);
	if (rc < 0) {
		ctx_free(&c);
		return rc;
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->decisions = calloc(c.nv ? c.nv : 1, sizeof(*r->decisions));
	if (!r || !r->decisions) {
		free(r);
		ctx_free(&c);
		return -ENOMEM;
	}
	r->n_decisions = c.nv;
	for (size_t i = 0; i < c.nv; i++) {
		struct placement_decision *d = &r->decisions[i];
		d->vm = dup_or_null(c.v[i].in->name, &oom);
		d->action = c.v[i].action;
		d->owner = dup_or_null(c.v[i].owner_name, &oom);
		d->migrating_to = dup_or_null(c.v[i].mig_name, &oom);
		d->reason = TAKE_PTR(c.v[i].reason);
	}
	ctx_free(&c);
	if (oom) {
		placement_result_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

/* ---- plans: drain and rebalance ---------------------------------------------------------- */

struct planner {
	struct ctx *c;
	struct placement_limits lim;
	unsigned cluster_flights;
	struct placement_move *moves; size_t n_moves;
	struct placement_stuck *stuck; size_t n_stuck;
	size_t deferred;
};

static bool budget(const struct planner *p, size_t s, size_t d)
{
	return p->cluster_flights < p->lim.per_cluster && p->c->n[s].flights < p->lim.per_node &&
	       p->c->n[d].flights < p->lim.per_node;
}

_printf_(3, 4) static void add_stuck(struct planner *p, size_t i, const char *fmt, ...)
{
	struct placement_stuck *s;
	va_list ap;
	char *why = NULL;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	s = realloc(p->stuck, (p->n_stuck + 1) * sizeof(*s));
	if (!s || !why) {
		free(why);
		p->c->oom = true;
		if (s)
			p->stuck = s;
		return;
	}
	p->stuck = s;
	s[p->n_stuck].vm = strdup(p->c->v[i].in->name);
	s[p->n_stuck].why = why;
	if (!s[p->n_stuck].vm) {
		free(why);
		p->c->oom = true;
		return;
	}
	p->n_stuck++;
	p->c->v[i].moved = true; /* handled: not looked at again in this plan */
}

/* Plans v's migration to d (budget checked by the caller). */
_printf_(4, 5) static void add_move(struct planner *p, size_t i, size_t d, const char *fmt, ...)
{
	struct ctx *c = p->c;
	struct vst *v = &c->v[i];
	struct placement_move *m;
	va_list ap;
	char *why = NULL;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	m = realloc(p->moves, (p->n_moves + 1) * sizeof(*m));
	if (!m || !why) {
		free(why);
		c->oom = true;
		if (m)
			p->moves = m;
		return;
	}
	p->moves = m;
	m[p->n_moves] = (struct placement_move){ .vm = strdup(v->in->name), .from = strdup(c->n[v->owner].in->name),
						 .to = strdup(c->n[d].in->name), .why = why };
	if (!m[p->n_moves].vm || !m[p->n_moves].from || !m[p->n_moves].to)
		c->oom = true;
	p->n_moves++;
	/* a migration holds room on both ends; for balance it is on the target already */
	charge(c, d, v);
	c->n[v->owner].mem_after -= v->in->memory_mib;
	c->n[d].mem_after += v->in->memory_mib;
	v->mig = d;
	v->moved = true;
	c->n[v->owner].flights++;
	c->n[d].flights++;
	p->cluster_flights++;
}

/* Moves the VM to the best node other than its own, or counts it stuck / deferred. */
static void move_one(struct planner *p, size_t i, const char *why_prefix, const char *why)
{
	struct ctx *c = p->c;
	size_t s = c->v[i].owner, d = best_node(c, &i, 1, s);

	if (d == NONE) {
		_cleanup_free_ char *r = no_node_reason(c, &i, 1, s);
		if (!r)
			c->oom = true;
		add_stuck(p, i, "%s: %s", why_prefix, r ? r : "");
		return;
	}
	if (!budget(p, s, d)) {
		p->deferred++;
		c->v[i].moved = true;
		return;
	}
	add_move(p, i, d, "%s", why);
}

/* Where the members of i's group other than `except_on`'s VMs are (their node after
 * migrations), the node holding most of them (ties: name); NONE when none is usable. */
static size_t group_home(const struct ctx *c, size_t i, size_t except_on)
{
	size_t best = NONE, best_cnt = 0;

	for (size_t n = 0; n < c->nn; n++) {
		size_t cnt = 0;
		if (n == except_on || !c->n[n].usable)
			continue;
		for (size_t w = 0; w < c->nv; w++) {
			if (c->v[w].in->started && c->v[w].comp == c->v[i].comp && where_after(c, w) == n)
				cnt++;
		}
		if (cnt > best_cnt || (cnt && cnt == best_cnt && strcmp(c->n[n].in->name, c->n[best].in->name) < 0)) {
			best = n;
			best_cnt = cnt;
		}
	}
	return best;
}

/* A member of an affinity group that can be met (one with anti-affinity inside it cannot: its
 * members move one by one, keeping their anti-affinity). */
static bool in_group(const struct ctx *c, size_t i)
{
	return c->v[i].n_aff > 0 && !c->v[i].comp_conflict;
}

/* R1: everything on drained / maintenance nodes leaves; affinity groups leave together. */
static void plan_drain(struct planner *p, size_t *g)
{
	struct ctx *c = p->c;

	for (size_t j = 0; j < c->nv && !c->oom; j++) {
		size_t i = c->vm_order[j], s = c->v[i].owner, k = 0, home;
		const char *what;

		if (!c->v[i].movable || c->v[i].moved || c->n[s].usable)
			continue;
		what = c->n[s].in->maintenance ? "in maintenance" : "drained";
		if (!in_group(c, i)) {
			_cleanup_free_ char *why = NULL;
			if (asprintf(&why, "%s is %s", c->n[s].in->name, what) < 0) {
				c->oom = true;
				return;
			}
			move_one(p, i, why, why);
			continue;
		}
		/* the members of its group on this node, moving together */
		for (size_t x = 0; x < c->nv; x++) {
			size_t w = c->vm_order[x];
			if (c->v[w].comp == c->v[i].comp && c->v[w].movable && !c->v[w].moved && c->v[w].owner == s)
				g[k++] = w;
		}
		home = group_home(c, i, s);
		if (home != NONE) {
			for (size_t x = 0; x < k; x++) {
				struct refusal r = refuse(c, &g[x], 1, home);
				if (r.kind != RF_OK) {
					_cleanup_free_ char *why = one_node_reason(c, &g[x], 1, home, r);
					add_stuck(p, g[x], "%s is %s: its affinity group is on %s, and %s", c->n[s].in->name, what,
						  c->n[home].in->name, why ? why : "?");
				} else if (!budget(p, s, home)) {
					p->deferred++;
					c->v[g[x]].moved = true;
				} else {
					add_move(p, g[x], home, "%s is %s (its affinity group is on %s)", c->n[s].in->name, what,
						 c->n[home].in->name);
				}
			}
			continue;
		}
		home = best_node(c, g, k, s);
		if (home == NONE) {
			_cleanup_free_ char *why = no_node_reason(c, g, k, s);
			for (size_t x = 0; x < k; x++)
				add_stuck(p, g[x], "%s is %s: %s", c->n[s].in->name, what, why ? why : "?");
			continue;
		}
		for (size_t x = 0; x < k; x++) {
			if (!budget(p, s, home)) {
				p->deferred++;
				c->v[g[x]].moved = true;
			} else {
				add_move(p, g[x], home, "%s is %s", c->n[s].in->name, what);
			}
		}
	}
}

/* R2: rules that running VMs break. */
static void plan_rules(struct planner *p)
{
	struct ctx *c = p->c;

	/* avoid and anti-affinity: VMs outside affinity groups */
	for (size_t j = 0; j < c->nv && !c->oom; j++) {
		size_t i = c->vm_order[j], s = c->v[i].owner;
		struct vst *v = &c->v[i];
		char why[256];

		if (!v->movable || v->moved)
			continue;
		if (has(v->avoid, v->n_avoid, s)) {
			snprintf(why, sizeof(why), "avoids %s", c->n[s].in->name);
			if (in_group(c, i))
				add_stuck(p, i, "%s: it has affinity partners (move the group by hand)", why);
			else
				move_one(p, i, why, why);
			continue;
		}
		for (size_t a = 0; a < v->n_anti; a++) {
			size_t w = v->anti[a];
			if (where_after(c, w) != s)
				continue;
			/* of the two, the one after in placement order moves, if it can */
			if (c->v[w].movable && !c->v[w].moved && vm_before(c, i, w) < 0)
				continue;
			snprintf(why, sizeof(why), "anti-affinity with %s", c->v[w].in->name);
			if (in_group(c, i))
				add_stuck(p, i, "%s: it has affinity partners (move the group by hand)", why);
			else
				move_one(p, i, why, why);
			break;
		}
	}
	/* affinity groups split over several nodes gather where most of them are */
	for (size_t j = 0; j < c->nv && !c->oom; j++) {
		size_t i = c->vm_order[j], home, first = NONE;
		bool split = false;

		if (!in_group(c, i) || !c->v[i].movable || c->v[i].moved)
			continue;
		for (size_t w = 0; w < c->nv; w++) {
			size_t where = where_after(c, w);
			if (!c->v[w].in->started || c->v[w].comp != c->v[i].comp || where == NONE)
				continue;
			if (first == NONE)
				first = where;
			else if (where != first)
				split = true;
		}
		if (!split)
			continue;
		home = group_home(c, i, NONE);
		if (home == NONE || home == c->v[i].owner)
			continue;
		struct refusal r = refuse(c, &i, 1, home);
		if (r.kind != RF_OK) {
			_cleanup_free_ char *why = one_node_reason(c, &i, 1, home, r);
			add_stuck(p, i, "affinity: its group is on %s, and %s", c->n[home].in->name, why ? why : "?");
		} else if (!budget(p, c->v[i].owner, home)) {
			p->deferred++;
			c->v[i].moved = true;
		} else {
			add_move(p, i, home, "affinity: its group is on %s", c->n[home].in->name);
		}
	}
}

/* R3: VMs not on their most preferred eligible node. */
static void plan_prefer(struct planner *p)
{
	struct ctx *c = p->c;

	for (size_t j = 0; j < c->nv && !c->oom; j++) {
		size_t i = c->vm_order[j], s = c->v[i].owner, r;
		struct vst *v = &c->v[i];

		if (!v->movable || v->moved || in_group(c, i) || !v->n_prefer)
			continue;
		r = prefer_rank(v, s);
		for (size_t k = 0; k < r && k < v->n_prefer; k++) {
			size_t d = v->prefer[k];
			if (refuse(c, &i, 1, d).kind != RF_OK)
				continue;
			if (!budget(p, s, d)) {
				p->deferred++;
				v->moved = true;
			} else {
				add_move(p, i, d, "prefers %s", c->n[d].in->name);
			}
			break;
		}
	}
}

static unsigned pct(uint64_t used, uint64_t cap)
{
	return cap ? (unsigned)((unsigned __int128)used * 100 / cap) : 100;
}

/* The share of its memory a node will use once migrations are done: most loaded first, then name. */
static int cmp_source(const void *a, const void *b, void *u)
{
	const struct ctx *c = u;
	const struct nst *x = &c->n[*(const size_t *)a], *y = &c->n[*(const size_t *)b];
	int d = share_cmp(y->mem_after, y->in->memory_mib, x->mem_after, x->in->memory_mib);

	return d ? d : strcmp(x->in->name, y->in->name);
}

/* R4: load. Repeatedly, from the most loaded node that has a VM to give: the move that leaves
 * the larger of the two nodes' shares smallest (ties: the emptier target, then the VM's name,
 * then the target's), if the target's share with the VM stays `balance_gap` points below the
 * source's share now. */
static void plan_balance(struct planner *p, size_t *src)
{
	struct ctx *c = p->c;
	const uint64_t gap = p->lim.balance_gap;

	while (!c->oom && p->cluster_flights < p->lim.per_cluster) {
		size_t ns = 0, bv = NONE, bd = NONE, s = NONE;
		uint64_t bnum = 0, bden = 1;

		for (size_t n = 0; n < c->nn; n++)
			if (c->n[n].usable && c->n[n].in->memory_mib && c->n[n].flights < p->lim.per_node)
				src[ns++] = n;
		qsort_r(src, ns, sizeof(size_t), cmp_source, c);
		for (size_t si = 0; si < ns && bv == NONE; si++) {
			const struct nst *S;
			s = src[si];
			S = &c->n[s];
			for (size_t j = 0; j < c->nv; j++) {
				size_t i = c->vm_by_name[j];
				const struct vst *v = &c->v[i];
				if (!v->movable || v->moved || v->owner != s || in_group(c, i))
					continue;
				for (size_t di = 0; di < c->nn; di++) {
					size_t d = c->node_by_name[di];
					const struct nst *D = &c->n[d];
					uint64_t dnew = D->mem_after + v->in->memory_mib, snew = S->mem_after - v->in->memory_mib;
					uint64_t num, den;
					if (d == s || !D->in->memory_mib || D->flights >= p->lim.per_node ||
					    prefer_rank(v, d) > prefer_rank(v, s) || refuse(c, &i, 1, d).kind != RF_OK)
						continue;
					/* dnew/dcap + gap/100 < safter/scap <=> 100*dnew*scap + gap*dcap*scap < 100*safter*dcap */
					if ((unsigned __int128)100 * dnew * S->in->memory_mib +
						    (unsigned __int128)gap * D->in->memory_mib * S->in->memory_mib >=
					    (unsigned __int128)100 * S->mem_after * D->in->memory_mib)
						continue;
					if (share_cmp(dnew, D->in->memory_mib, snew, S->in->memory_mib) > 0)
						num = dnew, den = D->in->memory_mib;
					else
						num = snew, den = S->in->memory_mib;
					int cmp = bv == NONE ? -1 : share_cmp(num, den, bnum, bden);
					if (!cmp) /* as good: the target that ends emptier */
						cmp = share_cmp(dnew, D->in->memory_mib, c->n[bd].mem_after + c->v[bv].in->memory_mib,
								c->n[bd].in->memory_mib);
					if (cmp < 0)
						bv = i, bd = d, bnum = num, bden = den;
				}
			}
		}
		if (bv == NONE)
			return;
		unsigned sp = pct(c->n[s].mem_after, c->n[s].in->memory_mib);
		unsigned dp = pct(c->n[bd].mem_after + c->v[bv].in->memory_mib, c->n[bd].in->memory_mib);
		add_move(p, bv, bd, "balance: %s at %u%% of its memory, %s at %u%% with it", c->n[s].in->name, sp,
			 c->n[bd].in->name, dp);
	}
}

void placement_plan_free(struct placement_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_moves; i++) {
		free(p->moves[i].vm);
		free(p->moves[i].from);
		free(p->moves[i].to);
		free(p->moves[i].why);
	}
	for (size_t i = 0; i < p->n_stuck; i++) {
		free(p->stuck[i].vm);
		free(p->stuck[i].why);
	}
	free(p->moves);
	free(p->stuck);
	free(p);
}

static int plan(const struct placement_input *in, const struct placement_limits *lim, bool rebalance,
		struct placement_plan **out)
{
	static const struct placement_limits defaults = PLACEMENT_LIMITS_DEFAULT;
	struct planner p = { .lim = lim ? *lim : defaults };
	struct placement_plan *r;
	struct ctx c;
	_cleanup_free_ size_t *g = NULL;
	int rc;

	if (!in || !out || !p.lim.per_node || !p.lim.per_cluster || !p.lim.balance_gap || p.lim.balance_gap > 100)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = ctx_build(&c, in);
	if (rc == 0)
		rc = decide_all(&c);
	if (rc == 0 && !(g = calloc(c.nv + c.nn + 1, sizeof(size_t))))
		rc = -ENOMEM;
	if (rc < 0) {
		ctx_free(&c);
		free(r);
		return rc;
	}
	p.c = &c;
	/* what is in flight counts against the limits */
	for (size_t i = 0; i < c.nv; i++) {
		const struct placement_owner *o = c.v[i].rec;
		size_t X, T;
		if (!o || !o->migrating_to)
			continue;
		r->n_in_flight++;
		p.cluster_flights++;
		X = node_idx(&c, o->node);
		T = node_idx(&c, o->migrating_to);
		if (X != NONE)
			c.n[X].flights++;
		if (T != NONE)
			c.n[T].flights++;
	}
	for (size_t i = 0; i < c.nv; i++) {
		struct vst *v = &c.v[i];
		v->movable = v->in->started && v->rec && !v->rec->migrating_to && v->rec->running &&
			     v->action == PLACEMENT_KEEP && v->owner != NONE && c.n[v->owner].live && v->mig == NONE;
	}
	plan_drain(&p, g);
	if (rebalance) {
		plan_rules(&p);
		plan_prefer(&p);
		plan_balance(&p, g);
	}
	r->moves = p.moves;
	r->n_moves = p.n_moves;
	r->stuck = p.stuck;
	r->n_stuck = p.n_stuck;
	r->n_deferred = p.deferred;
	rc = c.oom ? -ENOMEM : 0;
	ctx_free(&c);
	if (rc < 0) {
		placement_plan_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int placement_drain(const struct placement_input *in, const struct placement_limits *lim, struct placement_plan **out)
{
	return plan(in, lim, false, out);
}

int placement_rebalance(const struct placement_input *in, const struct placement_limits *lim,
			struct placement_plan **out)
{
	return plan(in, lim, true, out);
}

/* ---- an explicit move ---------------------------------------------------------------------- */

_printf_(3, 4) static int why_not(char **why, int err, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return -ENOMEM;
	*why = s;
	return err;
}

static int check_move(struct ctx *c, const struct placement_limits *lim, const char *vm, const char *to, char **why)
{
	size_t i = vm_idx(c, vm), d = node_idx(c, to), s;
	const struct vst *v;
	unsigned flights_cluster = 0;
	struct refusal rf;

	if (i == NONE)
		return why_not(why, -ENOENT, "no VM %s in the spec", vm);
	if (d == NONE)
		return why_not(why, -ENOENT, "no node %s in the cluster", to);
	v = &c->v[i];
	s = v->owner;
	if (!v->in->started)
		return why_not(why, -EBUSY, "%s is stopped in the spec", vm);
	if (v->rec && v->rec->migrating_to)
		return why_not(why, -EBUSY, "%s is migrating to %s already", vm, v->rec->migrating_to);
	if (!v->rec || s == NONE || v->action != PLACEMENT_KEEP || !v->rec->running || !c->n[s].live)
		return why_not(why, -EBUSY, "%s does not run now%s%s", vm, v->reason ? ": " : "", v->reason ? v->reason : "");
	if (s == d)
		return why_not(why, -EALREADY, "%s runs on %s already", vm, to);
	/* the limits first: a request beyond them is refused for them, whatever else holds (the
	 * user is told which limit, and asks again once a migration has ended) */
	if (lim) {
		for (size_t n = 0; n < c->nn; n++)
			c->n[n].flights = 0;
		for (size_t w = 0; w < c->nv; w++) {
			const struct placement_owner *o = c->v[w].rec;
			size_t X, T;
			if (!o || !o->migrating_to)
				continue;
			flights_cluster++;
			X = node_idx(c, o->node);
			T = node_idx(c, o->migrating_to);
			if (X != NONE)
				c->n[X].flights++;
			if (T != NONE)
				c->n[T].flights++;
		}
		if (flights_cluster >= lim->per_cluster)
			return why_not(why, -EBUSY, "%u migrations are in flight in the cluster (limit %u)", flights_cluster,
				       lim->per_cluster);
		if (c->n[s].flights >= lim->per_node)
			return why_not(why, -EBUSY, "%s has %u migration%s in flight (limit %u per node)", c->n[s].in->name,
				       c->n[s].flights, c->n[s].flights == 1 ? "" : "s", lim->per_node);
		if (c->n[d].flights >= lim->per_node)
			return why_not(why, -EBUSY, "%s has %u migration%s in flight (limit %u per node)", c->n[d].in->name,
				       c->n[d].flights, c->n[d].flights == 1 ? "" : "s", lim->per_node);
	}
	rf = refuse(c, &i, 1, d);
	if (rf.kind != RF_OK) {
		_cleanup_free_ char *r = one_node_reason(c, &i, 1, d, rf);
		if (!r)
			return -ENOMEM;
		return why_not(why, -EPERM, "%s", r);
	}
	if (in_group(c, i))
		for (size_t w = 0; w < c->nv; w++) {
			size_t where = where_after(c, w);
			if (w == i || !c->v[w].in->started || c->v[w].comp != v->comp || where == NONE || where == d)
				continue;
			return why_not(why, -EPERM, "%s has affinity with %s, which runs on %s: an affinity group moves together",
				       vm, c->v[w].in->name, c->n[where].in->name);
		}
	return 0;
}

int placement_check_move(const struct placement_input *in, const struct placement_limits *lim, const char *vm,
			 const char *to, char **why)
{
	struct ctx c;
	int rc;

	if (!in || !vm || !to || !why || (lim && (!lim->per_node || !lim->per_cluster)))
		return -EINVAL;
	rc = ctx_build(&c, in);
	if (rc == 0)
		rc = decide_all(&c);
	if (rc == 0)
		rc = check_move(&c, lim, vm, to, why);
	ctx_free(&c);
	return rc;
}
