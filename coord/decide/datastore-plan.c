/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datastore plan (datastore-plan.h says what it decides and why). Pure: no I/O, no clock,
 * no globals beyond constant tables.
 *
 * Shape: one builder collects the ops in a stable order (cluster objects first, then the
 * spec's datastores, the removals, and last the deletions of per-protocol objects nothing needs
 * any more), each op with the ops it depends on; the waves are computed at the end from those
 * dependencies (longest chain), and the ops sorted by wave. An allocation failure latches in
 * the builder, so the decision code reads straight and the end returns -ENOMEM once.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datastore-plan.h"
#include "macros.h"

#define NOP ((size_t)-1) /* "no op": an op index that is not there */
#define IGROUP_NAME_MAX 96u /* ONTAP's limit; a 40-character prefix leaves a node name 55 */

static const char *const proto_names[_DS_PROTO_MAX] = {
	[DS_PROTO_ISCSI] = "iscsi", [DS_PROTO_FC] = "fc", [DS_PROTO_NVME_TCP] = "nvme-tcp",
	[DS_PROTO_NFS] = "nfs", [DS_PROTO_SMB] = "smb",
};

static const char *const op_names[_DSPLAN_OP_MAX] = {
	[DSPLAN_VOLUME_ENSURE] = "volume-ensure",
	[DSPLAN_VOLUME_RESIZE] = "volume-resize",
	[DSPLAN_VOLUME_DELETE] = "volume-delete",
	[DSPLAN_LUN_ENSURE] = "lun-ensure",
	[DSPLAN_LUN_RESIZE] = "lun-resize",
	[DSPLAN_LUN_DELETE] = "lun-delete",
	[DSPLAN_IGROUP_ENSURE] = "igroup-ensure",
	[DSPLAN_IGROUP_ADD_INITIATOR] = "igroup-add-initiator",
	[DSPLAN_IGROUP_REMOVE_INITIATOR] = "igroup-remove-initiator",
	[DSPLAN_IGROUP_DELETE] = "igroup-delete",
	[DSPLAN_LUN_MAP_ENSURE] = "lun-map-ensure",
	[DSPLAN_LUN_MAP_DELETE] = "lun-map-delete",
	[DSPLAN_NAMESPACE_ENSURE] = "namespace-ensure",
	[DSPLAN_NAMESPACE_RESIZE] = "namespace-resize",
	[DSPLAN_NAMESPACE_DELETE] = "namespace-delete",
	[DSPLAN_SUBSYSTEM_ENSURE] = "subsystem-ensure",
	[DSPLAN_SUBSYSTEM_ADD_HOST] = "subsystem-add-host",
	[DSPLAN_SUBSYSTEM_REMOVE_HOST] = "subsystem-remove-host",
	[DSPLAN_SUBSYSTEM_DELETE] = "subsystem-delete",
	[DSPLAN_NS_MAP_ENSURE] = "ns-map-ensure",
	[DSPLAN_NS_MAP_DELETE] = "ns-map-delete",
	[DSPLAN_EXPORT_POLICY_ENSURE] = "export-policy-ensure",
	[DSPLAN_EXPORT_RULE_ENSURE] = "export-rule-ensure",
	[DSPLAN_EXPORT_RULE_DELETE] = "export-rule-delete",
	[DSPLAN_EXPORT_POLICY_DELETE] = "export-policy-delete",
	[DSPLAN_SHARE_ENSURE] = "share-ensure",
	[DSPLAN_SHARE_DELETE] = "share-delete",
	[DSPLAN_VOLUME_MOUNT] = "volume-mount",
	[DSPLAN_VOLUME_UNMOUNT] = "volume-unmount",
	[DSPLAN_SHARE_ACL_ENSURE] = "share-acl-ensure",
	[DSPLAN_SHARE_ACL_DELETE] = "share-acl-delete",
	[DSPLAN_VOLUME_CLONE] = "volume-clone",
	[DSPLAN_VOLUME_CLONE_SPLIT] = "volume-clone-split",
};

const char *dsplan_op_name(enum dsplan_op_kind k)
{
	return (unsigned)k < _DSPLAN_OP_MAX ? op_names[k] : NULL;
}

bool dsplan_op_may_grant(enum dsplan_op_kind k)
{
	switch (k) {
	case DSPLAN_VOLUME_RESIZE: case DSPLAN_VOLUME_DELETE: case DSPLAN_LUN_RESIZE: case DSPLAN_LUN_DELETE:
	case DSPLAN_IGROUP_REMOVE_INITIATOR: case DSPLAN_IGROUP_DELETE: case DSPLAN_LUN_MAP_DELETE:
	case DSPLAN_NAMESPACE_RESIZE: case DSPLAN_NAMESPACE_DELETE: case DSPLAN_SUBSYSTEM_REMOVE_HOST:
	case DSPLAN_SUBSYSTEM_DELETE: case DSPLAN_NS_MAP_DELETE: case DSPLAN_EXPORT_RULE_DELETE:
	case DSPLAN_EXPORT_POLICY_DELETE: case DSPLAN_SHARE_DELETE: case DSPLAN_VOLUME_UNMOUNT:
	case DSPLAN_SHARE_ACL_DELETE:
		return false;
	default:
		return true; /* every ensure, add and mount -- and any kind added later, until shown not to */
	}
}

/* ---- names ------------------------------------------------------------------------------ */

char *dsplan_prefix(const char *cluster_name)
{
	static const char head[] = "kvmcd_";
	size_t n = strlen(head), max = 40;
	char *p = malloc(max + 1);

	if (!p)
		return NULL;
	memcpy(p, head, n);
	for (const char *s = cluster_name ? cluster_name : ""; *s && n < max; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
		p[n++] = ok ? c : '_';
	}
	p[n] = 0;
	return p;
}

static char *strf(const char *fmt, ...) _printf_(1, 2);
static char *strf(const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static bool formatter_candidate(const char *node, const char *avoid, bool avoiding)
{
	return node && *node && !(avoiding && strcmp(node, avoid) == 0);
}

const char *dsplan_formatter(const char *const *nodes, size_t n_nodes, const char *datastore, const char *avoid)
{
	const char *pick = NULL;
	size_t count = 0, want;
	uint32_t h = 2166136261u; /* FNV-1a: stable across builds and hosts */
	bool avoiding = false;

	/* avoid is left out only when someone else can format */
	for (size_t i = 0; avoid && *avoid && i < n_nodes && !avoiding; i++)
		avoiding = formatter_candidate(nodes[i], avoid, true);
	for (size_t i = 0; i < n_nodes; i++)
		count += formatter_candidate(nodes[i], avoid, avoiding);
	if (!count)
		return NULL;
	for (const char *c = datastore ? datastore : ""; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	/* the want-th name in sorted order: the same whatever order the members came in */
	want = h % count;
	for (size_t i = 0; i < n_nodes; i++) {
		size_t below = 0;

		if (!formatter_candidate(nodes[i], avoid, avoiding))
			continue;
		for (size_t j = 0; j < n_nodes; j++)
			below += formatter_candidate(nodes[j], avoid, avoiding) &&
				 (strcmp(nodes[j], nodes[i]) < 0 || (strcmp(nodes[j], nodes[i]) == 0 && j < i));
		if (below == want) {
			pick = nodes[i];
			break;
		}
	}
	return pick;
}

char *dsplan_volume_name(const char *prefix, const char *datastore)
{
	return strf("%s_%s", prefix, datastore);
}

char *dsplan_lun_path(const char *prefix, const char *datastore)
{
	return strf("/vol/%s_%s/lun0", prefix, datastore);
}

char *dsplan_namespace_path(const char *prefix, const char *datastore)
{
	return strf("/vol/%s_%s/ns0", prefix, datastore);
}

char *dsplan_igroup_name(const char *prefix, const char *node)
{
	char *s = strf("%s_%s", prefix, node);

	if (!s)
		return NULL;
	for (char *c = s + strlen(prefix) + 1; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_' || *c == '.' || *c == ':' || *c == '-'))
			*c = '_';
	return s;
}

uint64_t dsplan_volume_size(enum ds_protocol protocol, uint64_t size)
{
	uint64_t v = size;

	if (ds_is_block(protocol))
		v += size / 10;
	return (v + 4095) / 4096 * 4096;
}

/* ---- comparisons ------------------------------------------------------------------------ */

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* iSCSI names (iqn., eui., naa.); anything else is taken for an FC WWPN. */
bool dsplan_is_iscsi_name(const char *s)
{
	return !strncasecmp(s, "iqn.", 4) || !strncasecmp(s, "eui.", 4) || !strncasecmp(s, "naa.", 4);
}

/* The hex digits of a WWPN: "0x" and ':' are spelling ("0x2100…" as the node reports it,
 * "21:00:…" as ONTAP shows it). */
static const char *wwpn_skip(const char *s)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	return s;
}

/* IQNs case-insensitively (ONTAP lower-cases them), WWPNs by their hex digits. */
bool dsplan_initiator_eq(const char *a, const char *b)
{
	if (dsplan_is_iscsi_name(a) || dsplan_is_iscsi_name(b))
		return !strcasecmp(a, b);
	a = wwpn_skip(a);
	b = wwpn_skip(b);
	for (;;) {
		while (*a == ':')
			a++;
		while (*b == ':')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if ((*a | 0x20) != (*b | 0x20))
			return false;
		a++, b++;
	}
}

/* Does an igroup of this protocol take an iSCSI (or else an FC) initiator? */
static bool protocol_allows(const char *ig_protocol, bool iscsi)
{
	if (!ig_protocol || !strcmp(ig_protocol, "mixed"))
		return true;
	return !strcmp(ig_protocol, iscsi ? "iscsi" : "fcp");
}

/* ---- what ONTAP holds ------------------------------------------------------------------- */

static const struct dsplan_ontap_volume *find_volume(const struct dsplan_ontap *o, const char *name)
{
	for (size_t i = 0; i < o->n_volumes; i++)
		if (streq(o->volumes[i].name, name))
			return &o->volumes[i];
	return NULL;
}

static const struct dsplan_ontap_lun *find_in(const struct dsplan_ontap_lun *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].path, path))
			return &v[i];
	return NULL;
}

static const struct dsplan_ontap_share *find_share(const struct dsplan_ontap *o, const char *name)
{
	for (size_t i = 0; i < o->n_shares; i++)
		if (o->shares[i].name && name && !strcasecmp(o->shares[i].name, name))
			return &o->shares[i];
	return NULL;
}

/* "/a" and "/a/" name the same path. */
static bool same_path(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return a && b && la == lb && !strncmp(a, b, la);
}

static const struct dsplan_ontap_igroup *find_igroup(const struct dsplan_ontap *o, const char *name)
{
	for (size_t i = 0; i < o->n_igroups; i++)
		if (streq(o->igroups[i].name, name))
			return &o->igroups[i];
	return NULL;
}

static const struct dsplan_ontap_subsystem *find_subsystem(const struct dsplan_ontap *o, const char *name)
{
	for (size_t i = 0; i < o->n_subsystems; i++)
		if (streq(o->subsystems[i].name, name))
			return &o->subsystems[i];
	return NULL;
}

/* Maps sorted by (object, group), so that "is X mapped to Y" is a binary search: the plan asks
 * it for every datastore and node. */
struct map_index {
	const struct dsplan_ontap_map **v;
	size_t n;
};

static int map_cmp_keys(const char *o1, const char *g1, const char *o2, const char *g2)
{
	int c = strcmp(o1 ? o1 : "", o2 ? o2 : "");
	return c ? c : strcmp(g1 ? g1 : "", g2 ? g2 : "");
}

static int map_cmp(const void *a, const void *b)
{
	const struct dsplan_ontap_map *x = *(const struct dsplan_ontap_map *const *)a;
	const struct dsplan_ontap_map *y = *(const struct dsplan_ontap_map *const *)b;
	return map_cmp_keys(x->object, x->group, y->object, y->group);
}

static int map_index_build(struct map_index *ix, const struct dsplan_ontap_map *m, size_t n)
{
	if (!(ix->v = calloc(n ? n : 1, sizeof(*ix->v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ix->v[i] = &m[i];
	ix->n = n;
	qsort(ix->v, n, sizeof(*ix->v), map_cmp);
	return 0;
}

static bool has_map(const struct map_index *ix, const char *object, const char *group)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = map_cmp_keys(ix->v[mid]->object, ix->v[mid]->group, object, group);
		if (!c)
			return object && group;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool has_name(const char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i], name))
			return true;
	return false;
}

static bool has_rule(const struct dsplan_ontap *o, const char *policy, const char *clients)
{
	for (size_t i = 0; i < o->n_rules; i++)
		if (streq(o->rules[i].policy, policy) && o->rules[i].clients && !strcasecmp(o->rules[i].clients, clients))
			return true;
	return false;
}

/* ---- the builder ------------------------------------------------------------------------ */

struct idxv {
	size_t *v;
	size_t n, cap;
};

/* Per input node. */
struct nstate {
	bool dup;                          /* a second entry with the same name (or igroup name), or a
					      name too long for an igroup: ignored */
	char *igroup;                      /* owned */
	const struct dsplan_ontap_igroup *have;  /* ours, on ONTAP */
	bool usable;                       /* LUNs may be mapped to its igroup */
	size_t ig_op;                      /* igroup-ensure, or NOP */
	bool iqn_cloned, nqn_cloned;       /* another node has the same IQN / host NQN */
	bool *wwpn_cloned;                 /* owned, one per WWPN: another node has it too */
};

struct b {
	const struct dsplan_input *in;
	const struct dsplan_ontap *o;
	struct dsplan *p;
	size_t cap_ops, cap_blocked, cap_waiting, cap_kept, cap_cloned;
	struct idxv *deps;                 /* deps[i]: the ops op i waits for (cap_ops entries) */
	bool oom;
	char *comment;                     /* "kvmcd:<cluster_id>" */
	bool served[_DS_PROTO_MAX];
	bool need[_DS_PROTO_MAX];          /* the spec has a datastore of it and the SVM serves it */
	struct nstate *nodes;
	const struct dsplan_ontap_subsystem *sub; /* <prefix>, ours; NULL when missing or foreign */
	bool sub_foreign;
	size_t sub_op, pol_op;
	bool sub_usable;
	struct map_index lun_maps, ns_maps;
};

static bool ours(const struct b *b, const char *comment)
{
	return streq(comment, b->comment);
}

/* A name of ours: "<prefix>_..." */
static bool under(const struct b *b, const char *name)
{
	size_t n = strlen(b->in->prefix);
	return name && !strncmp(name, b->in->prefix, n) && name[n] == '_';
}

static char *dup_or_oom(struct b *b, const char *s)
{
	char *c;

	if (!s)
		return NULL;
	if (!(c = strdup(s)))
		b->oom = true;
	return c;
}

static bool grow(struct b *b, void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return true;
	ncap = *cap ? 2 * *cap : 16;
	if (!(nv = realloc(*v, ncap * size))) {
		b->oom = true;
		return false;
	}
	*v = nv;
	*cap = ncap;
	return true;
}

/* Appends an op (strings copied) and returns its index, or NOP when out of memory. */
static size_t add_op(struct b *b, enum dsplan_op_kind kind, const char *datastore, const char *object,
		     const char *target)
{
	struct dsplan *p = b->p;
	size_t old = b->cap_ops;
	struct dsplan_op *op;

	if (b->oom || !grow(b, (void **)&p->ops, &b->cap_ops, p->n_ops, sizeof(*p->ops)))
		return NOP;
	if (b->cap_ops != old) {
		struct idxv *nd = realloc(b->deps, b->cap_ops * sizeof(*nd));
		if (!nd) {
			b->oom = true;
			return NOP;
		}
		memset(nd + old, 0, (b->cap_ops - old) * sizeof(*nd));
		b->deps = nd;
	}
	op = &p->ops[p->n_ops];
	*op = (struct dsplan_op){ .kind = kind };
	op->datastore = dup_or_oom(b, datastore);
	op->object = dup_or_oom(b, object);
	op->target = dup_or_oom(b, target);
	return p->n_ops++;
}

/* The op of this kind on (object, target) already planned, else a new one: a map delete can be
 * asked for by a removal and by the igroup / subsystem it belongs to. */
static size_t add_op_once(struct b *b, enum dsplan_op_kind kind, const char *datastore, const char *object,
			  const char *target)
{
	for (size_t i = 0; i < b->p->n_ops; i++) {
		const struct dsplan_op *op = &b->p->ops[i];
		if (op->kind == kind && streq(op->object, object) && (target ? streq(op->target, target) : !op->target))
			return i;
	}
	return add_op(b, kind, datastore, object, target);
}

static size_t find_op(const struct b *b, enum dsplan_op_kind kind, const char *object)
{
	for (size_t i = 0; i < b->p->n_ops; i++)
		if (b->p->ops[i].kind == kind && streq(b->p->ops[i].object, object))
			return i;
	return NOP;
}

/* Op i waits for op j (either may be NOP: then nothing). */
static void dep(struct b *b, size_t i, size_t j)
{
	struct idxv *d;

	if (i == NOP || j == NOP || b->oom)
		return;
	d = &b->deps[i];
	for (size_t k = 0; k < d->n; k++)
		if (d->v[k] == j)
			return;
	if (grow(b, (void **)&d->v, &d->cap, d->n, sizeof(*d->v)))
		d->v[d->n++] = j;
}

static void set_members(struct b *b, size_t i, const char *const *v, size_t n)
{
	struct dsplan_op *op;

	if (i == NOP)
		return;
	op = &b->p->ops[i];
	if (!(op->members = calloc(n ? n : 1, sizeof(*op->members)))) {
		b->oom = true;
		return;
	}
	for (size_t k = 0; k < n; k++)
		op->members[op->n_members++] = dup_or_oom(b, v[k]);
}

static void add_blocked(struct b *b, const char *datastore, char *why /* taken */)
{
	struct dsplan *p = b->p;

	if (!why)
		b->oom = true;
	if (b->oom || !grow(b, (void **)&p->blocked, &b->cap_blocked, p->n_blocked, sizeof(*p->blocked))) {
		free(why);
		return;
	}
	p->blocked[p->n_blocked].why = why;
	p->blocked[p->n_blocked++].datastore = dup_or_oom(b, datastore);
}

static void add_wait(struct b *b, const char *subject, char *why /* taken */)
{
	struct dsplan *p = b->p;

	if (!why)
		b->oom = true;
	if (b->oom || !grow(b, (void **)&p->waiting, &b->cap_waiting, p->n_waiting, sizeof(*p->waiting))) {
		free(why);
		return;
	}
	p->waiting[p->n_waiting].why = why;
	p->waiting[p->n_waiting++].subject = dup_or_oom(b, subject);
}

static void add_cloned(struct b *b, const char *node, char *why /* taken */)
{
	struct dsplan *p = b->p;

	if (!why)
		b->oom = true;
	if (b->oom || !grow(b, (void **)&p->cloned, &b->cap_cloned, p->n_cloned, sizeof(*p->cloned))) {
		free(why);
		return;
	}
	p->cloned[p->n_cloned].why = why;
	p->cloned[p->n_cloned++].subject = dup_or_oom(b, node);
}

static char *join_names(const char *const *v, size_t n);

static void add_kept(struct b *b, const char *volume)
{
	struct dsplan *p = b->p;

	if (!b->oom && grow(b, (void **)&p->kept_volumes, &b->cap_kept, p->n_kept_volumes, sizeof(char *)))
		p->kept_volumes[p->n_kept_volumes++] = dup_or_oom(b, volume);
}

/* ---- inputs ----------------------------------------------------------------------------- */

static bool in_spec(const struct b *b, const char *name)
{
	for (size_t i = 0; i < b->in->n_datastores; i++)
		if (streq(b->in->datastores[i].name, name))
			return true;
	return false;
}

/* The removal still attached somewhere whose LUN / namespace is at `path`: its maps stay. */
static bool frozen_path(struct b *b, const char *path)
{
	for (size_t i = 0; i < b->in->n_removals; i++) {
		const struct dsplan_removal *r = &b->in->removals[i];
		_cleanup_free_ char *l = NULL, *n = NULL;

		if (!r->n_attached_on || in_spec(b, r->name))
			continue;
		l = dsplan_lun_path(b->in->prefix, r->name);
		n = dsplan_namespace_path(b->in->prefix, r->name);
		if (!l || !n) {
			b->oom = true;
			return true;
		}
		if (streq(l, path) || streq(n, path))
			return true;
	}
	return false;
}

/* The volume a LUN / namespace path lies in ("/vol/<volume>/..."), copied into buf. */
static const struct dsplan_ontap_volume *volume_of(const struct b *b, const char *path, char *buf, size_t size)
{
	const char *s, *e;

	if (!path || strncmp(path, "/vol/", 5))
		return NULL;
	s = path + 5;
	e = strchr(s, '/');
	if (!e || (size_t)(e - s) >= size)
		return NULL;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = 0;
	return find_volume(b->o, buf);
}

/* A namespace is ours when its volume is (the client cannot comment namespaces). */
static bool ns_ours(const struct b *b, const char *path)
{
	char vol[256];
	const struct dsplan_ontap_volume *v = volume_of(b, path, vol, sizeof(vol));

	return v && ours(b, v->comment);
}

/* ---- per-node objects ------------------------------------------------------------------- */

static void plan_nodes_init(struct b *b)
{
	const struct dsplan_input *in = b->in;

	if (!(b->nodes = calloc(in->n_nodes ? in->n_nodes : 1, sizeof(*b->nodes)))) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < in->n_nodes; i++) {
		struct nstate *ns = &b->nodes[i];
		ns->ig_op = NOP;
		if (!in->nodes[i].name || !(ns->igroup = dsplan_igroup_name(in->prefix, in->nodes[i].name))) {
			ns->dup = true;
			b->oom |= in->nodes[i].name != NULL;
			continue;
		}
		if (strlen(ns->igroup) > IGROUP_NAME_MAX) {
			ns->dup = true;
			add_wait(b, in->nodes[i].name, strf("its igroup name %s is longer than ONTAP's %u characters: ignored",
							   ns->igroup, IGROUP_NAME_MAX));
			continue;
		}
		for (size_t j = 0; j < i && !ns->dup; j++) {
			if (b->nodes[j].dup)
				continue;
			if (streq(in->nodes[j].name, in->nodes[i].name))
				ns->dup = true;
			else if (streq(b->nodes[j].igroup, ns->igroup)) {
				ns->dup = true;
				add_wait(b, in->nodes[i].name,
					 strf("its igroup name %s is node %s's too: ignored", ns->igroup, in->nodes[j].name));
			}
		}
	}
}

/*
 * Cloned hosts: an IQN, host NQN or WWPN that two (or more) nodes report. The array cannot tell
 * such nodes apart -- one would reach what only the other may, and a storage fence of one would
 * cut the other -- so the name is kept off the array for all of them (never merged into one
 * igroup or one subsystem host): no igroup holds it and the subsystem does not list it, also
 * where it was before. Each such node gets an entry in `cloned` naming the other nodes and what
 * to fix. Their other, unique names are used as usual.
 */
static void plan_clones(struct b *b)
{
	const struct dsplan_input *in = b->in;

	for (size_t i = 0; i < in->n_nodes && !b->oom; i++) {
		const struct dsplan_node *n = &in->nodes[i];
		struct nstate *ns = &b->nodes[i];
		_cleanup_free_ const char **iqn_too = NULL, **nqn_too = NULL;
		size_t n_iqn = 0, n_nqn = 0;

		if (ns->dup)
			continue;
		if (!(iqn_too = calloc(in->n_nodes, sizeof(*iqn_too))) || !(nqn_too = calloc(in->n_nodes, sizeof(*nqn_too))) ||
		    (n->n_wwpns && !(ns->wwpn_cloned = calloc(n->n_wwpns, sizeof(bool))))) {
			b->oom = true;
			return;
		}
		for (size_t j = 0; j < in->n_nodes; j++) {
			const struct dsplan_node *o = &in->nodes[j];
			if (j == i || b->nodes[j].dup)
				continue;
			if (n->iqn && o->iqn && dsplan_initiator_eq(n->iqn, o->iqn))
				iqn_too[n_iqn++] = o->name;
			if (streq(n->nqn, o->nqn))
				nqn_too[n_nqn++] = o->name;
		}
		ns->iqn_cloned = n_iqn > 0;
		ns->nqn_cloned = n_nqn > 0;
		if (n_iqn) {
			_cleanup_free_ char *who = join_names(iqn_too, n_iqn);
			add_cloned(b, n->name, who ? strf("cloned host: its iSCSI IQN %s is also node%s %s's: the array cannot tell them apart, so no igroup holds it; give each host its own (/etc/iscsi/initiatorname.iscsi)",
							  n->iqn, n_iqn > 1 ? "s" : "", who) : NULL);
		}
		if (n_nqn) {
			_cleanup_free_ char *who = join_names(nqn_too, n_nqn);
			add_cloned(b, n->name, who ? strf("cloned host: its NVMe host NQN %s is also node%s %s's: the array cannot tell them apart, so the subsystem does not list it; give each host its own (/etc/nvme/hostnqn, /etc/nvme/hostid)",
							  n->nqn, n_nqn > 1 ? "s" : "", who) : NULL);
		}
		for (size_t k = 0; k < n->n_wwpns && !b->oom; k++) {
			const char *other = NULL;
			for (size_t j = 0; j < in->n_nodes && !other; j++)
				for (size_t m = 0; j != i && !b->nodes[j].dup && m < in->nodes[j].n_wwpns && !other; m++)
					if (n->wwpns[k] && in->nodes[j].wwpns[m] && dsplan_initiator_eq(n->wwpns[k], in->nodes[j].wwpns[m]))
						other = in->nodes[j].name;
			ns->wwpn_cloned[k] = other != NULL;
			if (other)
				add_cloned(b, n->name, strf("cloned host: its FC WWPN %s is also node %s's: the array cannot tell them apart, so no igroup holds it; give each port its own WWPN",
							    n->wwpns[k], other));
		}
	}
}

/* Every node's igroup with that node's initiators (when the spec has SAN datastores). */
static void plan_igroups(struct b *b)
{
	const struct dsplan_input *in = b->in;
	const char *protocol = b->need[DS_PROTO_ISCSI] && b->need[DS_PROTO_FC] ? "mixed"
			       : b->need[DS_PROTO_ISCSI]                        ? "iscsi"
										: "fcp";

	if (!b->need[DS_PROTO_ISCSI] && !b->need[DS_PROTO_FC])
		return;
	for (size_t i = 0; i < in->n_nodes && !b->oom; i++) {
		const struct dsplan_node *n = &in->nodes[i];
		struct nstate *ns = &b->nodes[i];
		const struct dsplan_ontap_igroup *have;
		_cleanup_free_ const char **want = NULL;
		size_t n_want = 0;

		if (ns->dup)
			continue;
		have = find_igroup(b->o, ns->igroup);
		if (have && !ours(b, have->comment)) {
			add_wait(b, n->name, strf("igroup %s exists but was not created by kvmcd: no LUN is mapped to it", ns->igroup));
			continue;
		}
		if (!(want = calloc(1 + n->n_wwpns, sizeof(*want)))) {
			b->oom = true;
			return;
		}
		if (b->need[DS_PROTO_ISCSI]) {
			if (n->iqn && !ns->iqn_cloned)
				want[n_want++] = n->iqn;
			else if (!n->iqn)
				add_wait(b, n->name, strf("no IQN published yet: iSCSI LUNs wait for it"));
		}
		if (b->need[DS_PROTO_FC]) {
			if (!n->n_wwpns)
				add_wait(b, n->name, strf("no FC WWPNs published yet: FC LUNs wait for them"));
			for (size_t k = 0; k < n->n_wwpns; k++) {
				bool seen = ns->wwpn_cloned && ns->wwpn_cloned[k];
				for (size_t j = 0; j < n_want && !seen; j++)
					seen = dsplan_initiator_eq(want[j], n->wwpns[k]);
				if (!seen)
					want[n_want++] = n->wwpns[k];
			}
		}
		if (!have) {
			if (!n->fenced && n_want) {
				ns->ig_op = add_op(b, DSPLAN_IGROUP_ENSURE, NULL, ns->igroup, NULL);
				if (ns->ig_op != NOP) {
					b->p->ops[ns->ig_op].protocol = protocol;
					b->p->ops[ns->ig_op].comment = dup_or_oom(b, b->comment);
				}
				set_members(b, ns->ig_op, want, n_want);
				ns->usable = true;
			}
			continue;
		}
		ns->have = have;
		ns->usable = true;
		if (n->fenced)
			continue;
		for (size_t k = 0; k < n_want; k++) {
			bool there = false;
			for (size_t j = 0; j < have->n_initiators && !there; j++)
				there = have->initiators[j] && dsplan_initiator_eq(have->initiators[j], want[k]);
			if (there)
				continue;
			if (protocol_allows(have->protocol, dsplan_is_iscsi_name(want[k])))
				add_op(b, DSPLAN_IGROUP_ADD_INITIATOR, NULL, ns->igroup, want[k]);
			else
				add_wait(b, n->name, strf("igroup %s has protocol %s, which cannot hold %s (ONTAP cannot change an igroup's protocol)",
							  ns->igroup, have->protocol, want[k]));
		}
		for (size_t j = 0; j < have->n_initiators; j++) {
			const char *h = have->initiators[j];
			bool wanted = false, iscsi, known;
			if (!h)
				continue;
			for (size_t k = 0; k < n_want && !wanted; k++)
				wanted = dsplan_initiator_eq(h, want[k]);
			iscsi = dsplan_is_iscsi_name(h);
			/* an initiator of a kind whose current name is unknown may still be the node's */
			known = iscsi ? !b->need[DS_PROTO_ISCSI] || n->iqn : !b->need[DS_PROTO_FC] || n->n_wwpns;
			if (!wanted && known)
				add_op(b, DSPLAN_IGROUP_REMOVE_INITIATOR, NULL, ns->igroup, h);
		}
	}
}

/* The cluster's subsystem with every node's host NQN (when the spec has NVMe datastores). */
static void plan_subsystem(struct b *b)
{
	const struct dsplan_input *in = b->in;
	const struct dsplan_ontap_subsystem *have = find_subsystem(b->o, in->prefix);
	_cleanup_free_ const char **want = NULL;
	size_t n_want = 0;
	bool all_known = true;

	b->sub_foreign = have && !ours(b, have->comment);
	b->sub = b->sub_foreign ? NULL : have;
	b->sub_usable = b->sub != NULL;
	if (!b->need[DS_PROTO_NVME_TCP] || b->sub_foreign)
		return;
	if (!(want = calloc(in->n_nodes ? in->n_nodes : 1, sizeof(*want)))) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct dsplan_node *n = &in->nodes[i];
		bool seen = false;
		if (b->nodes[i].dup)
			continue;
		if (!n->nqn) {
			all_known = false;
			add_wait(b, n->name, strf("no NVMe host NQN published yet: NVMe namespaces wait for it"));
			continue;
		}
		seen = b->nodes[i].nqn_cloned;
		for (size_t j = 0; j < n_want && !seen; j++)
			seen = streq(want[j], n->nqn);
		if (!n->fenced && !seen)
			want[n_want++] = n->nqn;
	}
	if (!b->sub) {
		b->sub_op = add_op(b, DSPLAN_SUBSYSTEM_ENSURE, NULL, in->prefix, NULL);
		if (b->sub_op != NOP)
			b->p->ops[b->sub_op].comment = dup_or_oom(b, b->comment);
		set_members(b, b->sub_op, want, n_want);
		b->sub_usable = true;
		return;
	}
	for (size_t k = 0; k < n_want; k++)
		if (!has_name(have->hosts, have->n_hosts, want[k]))
			add_op(b, DSPLAN_SUBSYSTEM_ADD_HOST, NULL, in->prefix, want[k]);
	for (size_t j = 0; j < have->n_hosts; j++) {
		bool claimed = false, cloned = false;
		for (size_t i = 0; i < in->n_nodes && !claimed; i++)
			if (!b->nodes[i].dup && streq(in->nodes[i].nqn, have->hosts[j])) {
				cloned |= b->nodes[i].nqn_cloned;
				claimed = !b->nodes[i].nqn_cloned;
			}
		if (claimed || !have->hosts[j])
			continue;
		/* a cloned NQN is known to be two nodes': it goes whatever else is unknown */
		if (all_known || cloned)
			add_op(b, DSPLAN_SUBSYSTEM_REMOVE_HOST, NULL, in->prefix, have->hosts[j]);
		else
			add_wait(b, in->prefix, strf("host NQN %s is no node's: kept until every node has published its NQN",
						     have->hosts[j]));
	}
}

/* The cluster's export policy with one rule per node address (when the spec has NFS). */
static void plan_exports(struct b *b)
{
	const struct dsplan_input *in = b->in;
	const char *pol = in->prefix;
	bool all_known = true;

	if (!b->need[DS_PROTO_NFS])
		return;
	if (!has_name(b->o->export_policies, b->o->n_export_policies, pol))
		b->pol_op = add_op(b, DSPLAN_EXPORT_POLICY_ENSURE, NULL, pol, NULL);
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct dsplan_node *n = &in->nodes[i];
		if (b->nodes[i].dup)
			continue;
		if (!n->n_addresses) {
			all_known = false;
			add_wait(b, n->name, strf("no address published yet: no NFS export rule for it"));
			continue;
		}
		if (n->fenced)
			continue;
		for (size_t k = 0; k < n->n_addresses; k++) {
			const char *a = n->addresses[k];
			if (!a || has_rule(b->o, pol, a))
				continue;
			if (find_op(b, DSPLAN_EXPORT_RULE_ENSURE, pol) != NOP) {
				bool planned = false;
				for (size_t j = 0; j < b->p->n_ops && !planned; j++)
					planned = b->p->ops[j].kind == DSPLAN_EXPORT_RULE_ENSURE && b->p->ops[j].target &&
						  !strcasecmp(b->p->ops[j].target, a);
				if (planned)
					continue;
			}
			dep(b, add_op(b, DSPLAN_EXPORT_RULE_ENSURE, NULL, pol, a), b->pol_op);
		}
	}
	for (size_t j = 0; j < b->o->n_rules; j++) {
		const struct dsplan_ontap_rule *r = &b->o->rules[j];
		bool claimed = false;
		if (!streq(r->policy, pol) || !r->clients)
			continue;
		for (size_t i = 0; i < in->n_nodes && !claimed; i++)
			for (size_t k = 0; k < in->nodes[i].n_addresses && !claimed && !b->nodes[i].dup; k++)
				claimed = in->nodes[i].addresses[k] && !strcasecmp(in->nodes[i].addresses[k], r->clients);
		if (claimed)
			continue;
		if (all_known)
			add_op(b, DSPLAN_EXPORT_RULE_DELETE, NULL, pol, r->clients);
		else
			add_wait(b, pol, strf("export rule for %s is no node's: kept until every node has published its addresses",
					      r->clients));
	}
}

/* ---- datastores of the spec ------------------------------------------------------------- */

/* Why datastore d cannot go on, or NULL (also NULL on OOM, which latches). */
static char *conflict(struct b *b, const struct ds_spec *d, const char *vol, const char *path)
{
	const struct dsplan_ontap_volume *v = find_volume(b->o, vol);

	if ((unsigned)d->protocol >= _DS_PROTO_MAX)
		return strf("unknown protocol %d", (int)d->protocol);
	if (!b->served[d->protocol])
		return strf("the SVM does not serve %s", proto_names[d->protocol]);
	if (v && !ours(b, v->comment))
		return strf("volume %s exists but was not created by kvmcd", vol);
	if (d->protocol == DS_PROTO_ISCSI || d->protocol == DS_PROTO_FC) {
		const struct dsplan_ontap_lun *l = find_in(b->o->luns, b->o->n_luns, path);
		if (l && !ours(b, l->comment))
			return strf("LUN %s exists but was not created by kvmcd", path);
	}
	if (d->protocol == DS_PROTO_SMB) {
		const struct dsplan_ontap_share *sh = find_share(b->o, vol);
		if (sh && !ours(b, sh->comment))
			return strf("CIFS share %s exists but was not created by kvmcd", vol);
		if (sh && sh->path && (vol[0] == '\0' || strncmp(sh->path, "/", 1) || !same_path(sh->path + 1, vol)))
			return strf("CIFS share %s shares %s, not /%s: kvmcd does not move it (delete it, kvmcd makes it again)",
				    vol, sh->path, vol);
	}
	if (d->protocol == DS_PROTO_NVME_TCP) {
		if (b->sub_foreign)
			return strf("subsystem %s exists but was not created by kvmcd", b->in->prefix);
		for (size_t i = 0; i < b->o->n_ns_maps; i++)
			if (streq(b->o->ns_maps[i].object, path) && !streq(b->o->ns_maps[i].group, b->in->prefix))
				return strf("namespace %s is mapped to subsystem %s, which kvmcd did not create", path,
					    b->o->ns_maps[i].group ? b->o->ns_maps[i].group : "?");
	}
	return NULL;
}

/* A share ACL entry's type as a static string (ops hold static protocols); NULL: unknown. */
static const char *ace_type(const char *t)
{
	static const char *const types[] = { "windows", "unix_user", "unix_group" };

	for (size_t i = 0; t && i < ARRAY_SIZE(types); i++)
		if (!strcmp(t, types[i]))
			return types[i];
	return NULL;
}

static size_t add_acl_op(struct b *b, enum dsplan_op_kind kind, const struct ds_spec *d, const char *share,
			 const char *user, const char *type)
{
	size_t k = add_op(b, kind, d->name, share, user);

	if (k != NOP)
		b->p->ops[k].protocol = type;
	return k;
}

/*
 * An smb datastore's share and its ACL: exactly one entry, the spec's smb.user (Everyone when not
 * given), windows, full_control. A share made in this plan gets ONTAP's default entry (Everyone,
 * full_control), which goes too when the spec names someone else.
 */
static void plan_share(struct b *b, const struct ds_spec *d, const char *vol, const char *junction, size_t vol_op,
		       size_t mount_op)
{
	static const struct dsplan_ontap_ace ontap_default = { "Everyone", "windows", "full_control" };
	const struct dsplan_ontap_share *sh = find_share(b->o, vol);
	const char *user = d->smb.user ? d->smb.user : "Everyone";
	const struct dsplan_ontap_ace *acl = sh ? sh->acl : &ontap_default;
	size_t n_acl = sh ? sh->n_acl : 1, sh_op = NOP, ens = NOP, del_same = NOP;
	bool have = false;

	if (!sh) {
		sh_op = add_op(b, DSPLAN_SHARE_ENSURE, d->name, vol, NULL);
		if (sh_op != NOP) {
			b->p->ops[sh_op].junction = dup_or_oom(b, junction);
			b->p->ops[sh_op].comment = dup_or_oom(b, b->comment);
		}
		dep(b, sh_op, vol_op);
		dep(b, sh_op, mount_op);
	}
	for (size_t i = 0; i < n_acl; i++) {
		if (!acl[i].user || strcasecmp(acl[i].user, user) || !streq(acl[i].type, "windows"))
			continue;
		if (streq(acl[i].permission, "full_control"))
			have = true;
		else
			del_same = add_acl_op(b, DSPLAN_SHARE_ACL_DELETE, d, vol, acl[i].user, "windows");
	}
	if (!have) {
		ens = add_acl_op(b, DSPLAN_SHARE_ACL_ENSURE, d, vol, user, "windows");
		dep(b, ens, sh_op);
		dep(b, ens, del_same);
	}
	for (size_t i = 0; i < n_acl; i++) {
		const char *type = ace_type(acl[i].type);
		size_t del;

		if (!acl[i].user || !type || (!strcasecmp(acl[i].user, user) && !strcmp(type, "windows")))
			continue;
		del = add_acl_op(b, DSPLAN_SHARE_ACL_DELETE, d, vol, acl[i].user, type);
		dep(b, del, sh_op);
		dep(b, del, ens);
	}
}

static void plan_datastore(struct b *b, const struct ds_spec *d)
{
	const struct dsplan_input *in = b->in;
	const struct dsplan_ontap *o = b->o;
	bool block = ds_is_block(d->protocol), nfs = d->protocol == DS_PROTO_NFS;
	_cleanup_free_ char *vol = dsplan_volume_name(in->prefix, d->name);
	_cleanup_free_ char *path = d->protocol == DS_PROTO_NVME_TCP ? dsplan_namespace_path(in->prefix, d->name)
								      : dsplan_lun_path(in->prefix, d->name);
	_cleanup_free_ char *junction = NULL, *why = NULL;
	const struct dsplan_ontap_volume *v;
	uint64_t vsize = dsplan_volume_size(d->protocol, d->size);
	size_t vol_op = NOP, resize_op = NOP, mount_op = NOP, obj_op = NOP;
	const struct dsplan_ontap_lun *clone_lun = NULL; /* the parent's, which a clone being made gets */

	if (!vol || !path || !(junction = strf("/%s", vol ? vol : ""))) {
		b->oom = true;
		return;
	}
	if ((why = conflict(b, d, vol, path))) {
		add_blocked(b, d->name, TAKE_PTR(why));
		return;
	}
	v = find_volume(o, vol);
	if (!v && d->clone.parent) {
		/* Made as a FlexClone of the parent's volume at the snapshot, with the parent's
		 * volume size; its LUN / namespace comes with it (the same name in the new volume,
		 * the parent's size, unmapped). What follows is planned on that: a grow after the
		 * clone, the maps and (NAS) the mount wait for it. */
		_cleanup_free_ char *pvol = dsplan_volume_name(in->prefix, d->clone.parent);
		_cleanup_free_ char *ppath = d->protocol == DS_PROTO_NVME_TCP ? dsplan_namespace_path(in->prefix, d->clone.parent)
									      : dsplan_lun_path(in->prefix, d->clone.parent);
		const struct dsplan_ontap_volume *pv;
		if (!pvol || !ppath) {
			b->oom = true;
			return;
		}
		if (!(pv = find_volume(o, pvol))) {
			add_blocked(b, d->name, strf("clone of %s: its volume %s is not on ONTAP", d->clone.parent, pvol));
			return;
		}
		vol_op = add_op(b, DSPLAN_VOLUME_CLONE, d->name, vol, pvol);
		if (vol_op != NOP) {
			struct dsplan_op *op = &b->p->ops[vol_op];
			op->snapshot = dup_or_oom(b, d->clone.snapshot);
			op->comment = dup_or_oom(b, b->comment);
		}
		if (d->clone.split)
			dep(b, add_op(b, DSPLAN_VOLUME_CLONE_SPLIT, d->name, vol, NULL), vol_op);
		if (pv->size < vsize) {
			resize_op = add_op(b, DSPLAN_VOLUME_RESIZE, d->name, vol, NULL);
			if (resize_op != NOP)
				b->p->ops[resize_op].size = vsize;
			dep(b, resize_op, vol_op);
		}
		if (block)
			clone_lun = d->protocol == DS_PROTO_NVME_TCP ? find_in(o->namespaces, o->n_namespaces, ppath)
								     : find_in(o->luns, o->n_luns, ppath);
		else {
			mount_op = add_op(b, DSPLAN_VOLUME_MOUNT, d->name, vol, nfs ? in->prefix : NULL);
			if (mount_op != NOP)
				b->p->ops[mount_op].junction = dup_or_oom(b, junction);
			dep(b, mount_op, vol_op);
			if (nfs)
				dep(b, mount_op, b->pol_op);
		}
	} else if (!v) {
		vol_op = add_op(b, DSPLAN_VOLUME_ENSURE, d->name, vol, nfs ? in->prefix : NULL);
		if (vol_op != NOP) {
			struct dsplan_op *op = &b->p->ops[vol_op];
			op->size = vsize;
			op->protocol = block ? NULL : proto_names[d->protocol];
			op->junction = block ? NULL : dup_or_oom(b, junction);
			op->comment = dup_or_oom(b, b->comment);
		}
		if (nfs)
			dep(b, vol_op, b->pol_op);
	} else {
		if (v->size < vsize) {
			resize_op = add_op(b, DSPLAN_VOLUME_RESIZE, d->name, vol, NULL);
			if (resize_op != NOP)
				b->p->ops[resize_op].size = vsize;
		}
		/* "split": once, while ONTAP reports a FlexClone with no split started (a split in
		 * progress, or done, needs nothing); a clone being made is split right after it */
		if (d->clone.parent && d->clone.split && v->is_flexclone && !v->split_initiated)
			(void)add_op(b, DSPLAN_VOLUME_CLONE_SPLIT, d->name, vol, NULL);
		if (!block && (!streq(v->junction, junction) ||
			       (nfs && v->export_policy && !streq(v->export_policy, in->prefix)))) {
			mount_op = add_op(b, DSPLAN_VOLUME_MOUNT, d->name, vol, nfs ? in->prefix : NULL);
			if (mount_op != NOP)
				b->p->ops[mount_op].junction = dup_or_oom(b, junction);
			if (nfs)
				dep(b, mount_op, b->pol_op);
		}
	}

	if (d->protocol == DS_PROTO_SMB)
		plan_share(b, d, vol, junction, vol_op, mount_op);
	if (!block)
		return;

	/* the LUN / namespace */
	{
		bool nvme = d->protocol == DS_PROTO_NVME_TCP;
		const struct dsplan_ontap_lun *l = clone_lun ? clone_lun :
						   nvme ? find_in(o->namespaces, o->n_namespaces, path)
							: find_in(o->luns, o->n_luns, path);
		if (clone_lun)
			obj_op = vol_op; /* the clone makes it */
		if (!l) {
			obj_op = add_op(b, nvme ? DSPLAN_NAMESPACE_ENSURE : DSPLAN_LUN_ENSURE, d->name, path, NULL);
			if (obj_op != NOP) {
				b->p->ops[obj_op].size = d->size;
				if (!nvme)
					b->p->ops[obj_op].comment = dup_or_oom(b, b->comment);
			}
			dep(b, obj_op, vol_op);
			dep(b, obj_op, resize_op);
		} else if (l->size < d->size) {
			size_t r = add_op(b, nvme ? DSPLAN_NAMESPACE_RESIZE : DSPLAN_LUN_RESIZE, d->name, path, NULL);
			if (r != NOP)
				b->p->ops[r].size = d->size;
			dep(b, r, resize_op);
			dep(b, r, obj_op);
		}
		if (nvme) {
			if (b->sub_usable && !has_map(&b->ns_maps, path, in->prefix)) {
				size_t m = add_op(b, DSPLAN_NS_MAP_ENSURE, d->name, path, in->prefix);
				dep(b, m, obj_op);
				dep(b, m, b->sub_op);
			}
			return;
		}
	}
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct nstate *ns = &b->nodes[i];
		size_t m;
		if (ns->dup || !ns->usable || has_map(&b->lun_maps, path, ns->igroup))
			continue;
		m = add_op(b, DSPLAN_LUN_MAP_ENSURE, d->name, path, ns->igroup);
		dep(b, m, obj_op);
		dep(b, m, ns->ig_op);
	}
}

/* ---- removals --------------------------------------------------------------------------- */

static char *join_names(const char *const *v, size_t n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", v[i] ? v[i] : "?");
	if (fclose(f)) {
		free(s);
		return NULL;
	}
	return s;
}

static void plan_removal(struct b *b, const struct dsplan_removal *r)
{
	const struct dsplan_input *in = b->in;
	const struct dsplan_ontap *o = b->o;
	bool nvme = r->protocol == DS_PROTO_NVME_TCP, destroy_ok = r->destroy_data;
	_cleanup_free_ char *vol = dsplan_volume_name(in->prefix, r->name);
	_cleanup_free_ char *path = nvme ? dsplan_namespace_path(in->prefix, r->name) : dsplan_lun_path(in->prefix, r->name);
	const struct dsplan_ontap_volume *v;
	size_t obj_del = NOP, share_del = NOP;

	if (!vol || !path) {
		b->oom = true;
		return;
	}
	v = find_volume(o, vol);
	if (v && !ours(b, v->comment))
		return; /* not our data: there is nothing of ours to remove */
	if (r->n_attached_on) {
		_cleanup_free_ char *who = join_names(r->attached_on, r->n_attached_on);
		add_blocked(b, r->name, who ? strf("waiting for node%s %s to detach", r->n_attached_on > 1 ? "s" : "", who) : NULL);
		return;
	}
	if (r->protocol == DS_PROTO_ISCSI || r->protocol == DS_PROTO_FC) {
		const struct dsplan_ontap_lun *l = find_in(o->luns, o->n_luns, path);
		if (l && !ours(b, l->comment)) {
			if (r->destroy_data)
				add_blocked(b, r->name, strf("LUN %s exists but was not created by kvmcd: not deleted", path));
			destroy_ok = false;
			l = NULL;
		}
		if (l) {
			struct idxv maps = { 0 };
			for (size_t i = 0; i < o->n_lun_maps; i++) {
				const struct dsplan_ontap_map *m = &o->lun_maps[i];
				const struct dsplan_ontap_igroup *ig;
				if (!streq(m->object, path))
					continue;
				ig = find_igroup(o, m->group);
				if (ig && under(b, ig->name) && ours(b, ig->comment)) {
					size_t k = add_op_once(b, DSPLAN_LUN_MAP_DELETE, r->name, path, m->group);
					if (k != NOP && grow(b, (void **)&maps.v, &maps.cap, maps.n, sizeof(size_t)))
						maps.v[maps.n++] = k;
				} else {
					if (r->destroy_data)
						add_blocked(b, r->name, strf("LUN %s is mapped to igroup %s, which kvmcd did not create: not deleted",
									     path, m->group ? m->group : "?"));
					destroy_ok = false;
				}
			}
			if (destroy_ok) {
				obj_del = add_op(b, DSPLAN_LUN_DELETE, r->name, path, NULL);
				for (size_t k = 0; k < maps.n; k++)
					dep(b, obj_del, maps.v[k]);
			}
			free(maps.v);
		}
	} else if (nvme) {
		const struct dsplan_ontap_lun *l = find_in(o->namespaces, o->n_namespaces, path);
		if (l) {
			size_t unmap = NOP;
			for (size_t i = 0; i < o->n_ns_maps; i++) {
				const struct dsplan_ontap_map *m = &o->ns_maps[i];
				if (!streq(m->object, path))
					continue;
				if (streq(m->group, in->prefix) && b->sub)
					unmap = add_op_once(b, DSPLAN_NS_MAP_DELETE, r->name, path, m->group);
				else {
					if (r->destroy_data)
						add_blocked(b, r->name, strf("namespace %s is mapped to subsystem %s, which kvmcd did not create: not deleted",
									     path, m->group ? m->group : "?"));
					destroy_ok = false;
				}
			}
			if (destroy_ok) {
				obj_del = add_op(b, DSPLAN_NAMESPACE_DELETE, r->name, path, NULL);
				dep(b, obj_del, unmap);
			}
		}
	}
	if (r->protocol == DS_PROTO_SMB && find_share(o, vol)) {
		if (!ours(b, find_share(o, vol)->comment)) {
			/* unmounting or deleting the volume would break someone else's share */
			add_blocked(b, r->name, strf("CIFS share %s exists but was not created by kvmcd: not deleted, and its "
						     "volume stays as it is", vol));
			return;
		}
		share_del = add_op(b, DSPLAN_SHARE_DELETE, r->name, vol, NULL);
	}
	if (!v)
		return;
	if (r->destroy_data) {
		if (destroy_ok) {
			size_t del = add_op(b, DSPLAN_VOLUME_DELETE, r->name, vol, NULL);
			dep(b, del, obj_del);
			dep(b, del, share_del);
		}
		return;
	}
	if (!ds_is_block(r->protocol) && ((v->junction && *v->junction) || (v->export_policy && strcmp(v->export_policy, "default"))))
		dep(b, add_op(b, DSPLAN_VOLUME_UNMOUNT, r->name, vol, NULL), share_del);
	add_kept(b, vol);
}

/* ---- per-protocol objects nothing needs any more ---------------------------------------- */

/* A node's igroup name -> that input node's index, or NOP. */
static size_t node_of_igroup(const struct b *b, const char *igroup)
{
	for (size_t i = 0; i < b->in->n_nodes; i++)
		if (!b->nodes[i].dup && streq(b->nodes[i].igroup, igroup))
			return i;
	return NOP;
}

static void plan_igroup_deletes(struct b *b)
{
	const struct dsplan_ontap *o = b->o;
	bool san = b->need[DS_PROTO_ISCSI] || b->need[DS_PROTO_FC];

	if (!b->served[DS_PROTO_ISCSI] && !b->served[DS_PROTO_FC])
		return;
	for (size_t g = 0; g < o->n_igroups && !b->oom; g++) {
		const struct dsplan_ontap_igroup *ig = &o->igroups[g];
		size_t node = node_of_igroup(b, ig->name), del;
		const char *subject = node != NOP ? b->in->nodes[node].name : ig->name;
		struct idxv maps = { 0 };
		bool can = true;

		if (!under(b, ig->name) || !ours(b, ig->comment) || (node != NOP && san))
			continue;
		for (size_t i = 0; i < o->n_lun_maps; i++) {
			const struct dsplan_ontap_map *m = &o->lun_maps[i];
			const struct dsplan_ontap_lun *l;
			if (!streq(m->group, ig->name))
				continue;
			l = find_in(o->luns, o->n_luns, m->object);
			if (!l || !ours(b, l->comment)) {
				add_wait(b, subject, strf("igroup %s still maps LUN %s, which kvmcd did not create: the igroup stays",
							  ig->name, m->object ? m->object : "?"));
				can = false;
			} else if (node != NOP && frozen_path(b, m->object)) {
				can = false; /* a live node keeps a datastore that is still attached */
			} else {
				size_t k = add_op_once(b, DSPLAN_LUN_MAP_DELETE, NULL, m->object, ig->name);
				if (k != NOP && grow(b, (void **)&maps.v, &maps.cap, maps.n, sizeof(size_t)))
					maps.v[maps.n++] = k;
			}
		}
		if (can) {
			del = add_op(b, DSPLAN_IGROUP_DELETE, NULL, ig->name, NULL);
			for (size_t k = 0; k < maps.n; k++)
				dep(b, del, maps.v[k]);
		}
		free(maps.v);
	}
}

static void plan_subsystem_delete(struct b *b)
{
	const struct dsplan_ontap *o = b->o;
	const char *name = b->in->prefix;
	struct idxv maps = { 0 };
	bool can = true;
	size_t del;

	if (!b->sub || b->need[DS_PROTO_NVME_TCP] || !b->served[DS_PROTO_NVME_TCP])
		return;
	for (size_t i = 0; i < o->n_ns_maps; i++) {
		const struct dsplan_ontap_map *m = &o->ns_maps[i];
		if (!streq(m->group, name))
			continue;
		if (!ns_ours(b, m->object)) {
			add_wait(b, name, strf("subsystem %s still maps namespace %s, which kvmcd did not create: the subsystem stays",
					       name, m->object ? m->object : "?"));
			can = false;
		} else if (frozen_path(b, m->object)) {
			can = false;
		} else {
			size_t k = add_op_once(b, DSPLAN_NS_MAP_DELETE, NULL, m->object, name);
			if (k != NOP && grow(b, (void **)&maps.v, &maps.cap, maps.n, sizeof(size_t)))
				maps.v[maps.n++] = k;
		}
	}
	if (can) {
		del = add_op(b, DSPLAN_SUBSYSTEM_DELETE, NULL, name, NULL);
		for (size_t k = 0; k < maps.n; k++)
			dep(b, del, maps.v[k]);
	}
	free(maps.v);
}

/* Does volume v use the cluster's export policy? When its policy was not read: a mounted volume
 * of an NFS datastore (in the spec or removed), or of no datastore we know, may. */
static bool may_use_policy(const struct b *b, const struct dsplan_ontap_volume *v)
{
	const char *pol = b->in->prefix, *ds;

	if (v->export_policy)
		return streq(v->export_policy, pol);
	if (!v->junction || !*v->junction)
		return false;
	if (!under(b, v->name))
		return true;
	ds = v->name + strlen(pol) + 1;
	for (size_t i = 0; i < b->in->n_datastores; i++)
		if (streq(b->in->datastores[i].name, ds))
			return b->in->datastores[i].protocol == DS_PROTO_NFS;
	for (size_t i = 0; i < b->in->n_removals; i++)
		if (streq(b->in->removals[i].name, ds))
			return b->in->removals[i].protocol == DS_PROTO_NFS;
	return true;
}

static void plan_policy_delete(struct b *b)
{
	const struct dsplan_ontap *o = b->o;
	const char *pol = b->in->prefix;
	struct idxv users = { 0 };
	bool can = true;
	size_t del;

	if (b->need[DS_PROTO_NFS] || !b->served[DS_PROTO_NFS] || !has_name(o->export_policies, o->n_export_policies, pol))
		return;
	for (size_t i = 0; i < o->n_volumes; i++) {
		const struct dsplan_ontap_volume *v = &o->volumes[i];
		size_t k;
		if (!may_use_policy(b, v))
			continue;
		k = find_op(b, DSPLAN_VOLUME_DELETE, v->name);
		if (k == NOP)
			k = find_op(b, DSPLAN_VOLUME_UNMOUNT, v->name);
		if (k == NOP) {
			/* a datastore still attached keeps it silently: its removal says why */
			bool frozen = false;
			for (size_t j = 0; j < b->in->n_removals && !frozen; j++) {
				_cleanup_free_ char *vol = dsplan_volume_name(b->in->prefix, b->in->removals[j].name);
				frozen = b->in->removals[j].n_attached_on && streq(vol, v->name);
			}
			if (!frozen)
				add_wait(b, pol, strf("export policy %s is %sused by volume %s: it stays", pol,
						      v->export_policy ? "still " : "perhaps (not read) ", v->name));
			can = false;
		} else if (grow(b, (void **)&users.v, &users.cap, users.n, sizeof(size_t))) {
			users.v[users.n++] = k;
		}
	}
	if (can) {
		del = add_op(b, DSPLAN_EXPORT_POLICY_DELETE, NULL, pol, NULL);
		for (size_t k = 0; k < users.n; k++)
			dep(b, del, users.v[k]);
	}
	free(users.v);
}

/* ---- waves ------------------------------------------------------------------------------ */

struct order {
	unsigned wave;
	size_t idx;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->wave != y->wave)
		return x->wave < y->wave ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Each op one wave past the latest op it waits for; ops sorted by wave, then as planned. */
static void assign_waves(struct b *b)
{
	struct dsplan *p = b->p;
	struct order *ord;
	struct dsplan_op *sorted;
	size_t *pos;
	bool changed = true;

	for (size_t pass = 0; changed && pass <= p->n_ops; pass++) {
		changed = false;
		for (size_t i = 0; i < p->n_ops; i++)
			for (size_t k = 0; k < b->deps[i].n; k++) {
				unsigned w = p->ops[b->deps[i].v[k]].wave + 1;
				if (p->ops[i].wave < w) {
					p->ops[i].wave = w;
					changed = true;
				}
			}
	}
	p->n_waves = 0;
	for (size_t i = 0; i < p->n_ops; i++)
		if (p->ops[i].wave + 1 > p->n_waves)
			p->n_waves = p->ops[i].wave + 1;
	if (!p->n_ops)
		return;
	ord = calloc(p->n_ops, sizeof(*ord));
	sorted = calloc(p->n_ops, sizeof(*sorted));
	if (!ord || !sorted) {
		free(ord);
		free(sorted);
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < p->n_ops; i++)
		ord[i] = (struct order){ p->ops[i].wave, i };
	qsort(ord, p->n_ops, sizeof(*ord), order_cmp);
	for (size_t i = 0; i < p->n_ops; i++)
		sorted[i] = p->ops[ord[i].idx];
	free(p->ops);
	p->ops = sorted;
	/* Each op's dependencies, as indices in the sorted ops: pos[j] is where op j went. */
	pos = calloc(p->n_ops, sizeof(*pos));
	if (!pos)
		b->oom = true;
	for (size_t i = 0; pos && i < p->n_ops; i++)
		pos[ord[i].idx] = i;
	for (size_t j = 0; pos && j < p->n_ops && !b->oom; j++) {
		const struct idxv *d = &b->deps[j];
		struct dsplan_op *op = &p->ops[pos[j]];

		if (!d->n)
			continue;
		if (!(op->after = calloc(d->n, sizeof(*op->after)))) {
			b->oom = true;
			break;
		}
		for (size_t k = 0; k < d->n; k++)
			op->after[k] = pos[d->v[k]];
		op->n_after = d->n;
	}
	free(pos);
	free(ord);
}

/* ---- the plan --------------------------------------------------------------------------- */

int dsplan_compute(const struct dsplan_input *in, struct dsplan **out)
{
	static const struct dsplan_ontap nothing;
	struct b b = { .in = in, .o = in->ontap ? in->ontap : &nothing, .sub_op = NOP, .pol_op = NOP };
	int r = 0;

	if (!(b.p = calloc(1, sizeof(*b.p))) || !(b.comment = strf("kvmcd:%s", in->cluster_id ? in->cluster_id : "")))
		b.oom = true;
	for (int p = 0; p < _DS_PROTO_MAX; p++)
		b.served[p] = !in->svm_serves || in->svm_serves[p];
	for (size_t i = 0; i < in->n_datastores; i++) {
		enum ds_protocol p = in->datastores[i].protocol;
		if ((unsigned)p < _DS_PROTO_MAX && b.served[p])
			b.need[p] = true;
	}
	if (!b.oom && (map_index_build(&b.lun_maps, b.o->lun_maps, b.o->n_lun_maps) < 0 ||
		       map_index_build(&b.ns_maps, b.o->ns_maps, b.o->n_ns_maps) < 0))
		b.oom = true;
	if (!b.oom)
		plan_nodes_init(&b);
	if (!b.oom)
		plan_clones(&b);

	/* cluster and per-node objects first: exports, subsystem, igroups */
	if (!b.oom)
		plan_exports(&b);
	if (!b.oom)
		plan_subsystem(&b);
	if (!b.oom)
		plan_igroups(&b);
	for (size_t i = 0; i < in->n_nodes && !b.oom; i++)
		if (!b.nodes[i].dup && in->nodes[i].fenced &&
		    (b.need[DS_PROTO_ISCSI] || b.need[DS_PROTO_FC] || b.need[DS_PROTO_NVME_TCP] || b.need[DS_PROTO_NFS]))
			add_wait(&b, in->nodes[i].name, strf("fenced: its initiators, host NQN and export rules are not added back"));

	/* the spec's datastores, in its order; a second entry with a name already seen is ignored */
	for (size_t i = 0; i < in->n_datastores && !b.oom; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = streq(in->datastores[j].name, in->datastores[i].name);
		if (!seen && in->datastores[i].name)
			plan_datastore(&b, &in->datastores[i]);
	}
	/* removed datastores (the spec wins over a removal of the same name) */
	for (size_t i = 0; i < in->n_removals && !b.oom; i++)
		if (in->removals[i].name && !in_spec(&b, in->removals[i].name))
			plan_removal(&b, &in->removals[i]);
	/* what no node / datastore needs any more */
	if (!b.oom)
		plan_igroup_deletes(&b);
	if (!b.oom)
		plan_subsystem_delete(&b);
	if (!b.oom)
		plan_policy_delete(&b);
	if (!b.oom)
		assign_waves(&b);

	if (b.oom) {
		r = -ENOMEM;
		dsplan_free(b.p);
	} else {
		*out = b.p;
	}
	for (size_t i = 0; i < b.cap_ops && b.deps; i++)
		free(b.deps[i].v);
	free(b.deps);
	for (size_t i = 0; b.nodes && i < in->n_nodes; i++) {
		free(b.nodes[i].igroup);
		free(b.nodes[i].wwpn_cloned);
	}
	free(b.nodes);
	free(b.lun_maps.v);
	free(b.ns_maps.v);
	free(b.comment);
	return r;
}

void dsplan_free(struct dsplan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_ops; i++) {
		struct dsplan_op *op = &p->ops[i];
		free(op->datastore);
		free(op->object);
		free(op->target);
		for (size_t k = 0; k < op->n_members; k++)
			free(op->members[k]);
		free(op->members);
		free(op->junction);
		free(op->comment);
		free(op->snapshot);
		free(op->after);
	}
	free(p->ops);
	for (size_t i = 0; i < p->n_blocked; i++) {
		free(p->blocked[i].datastore);
		free(p->blocked[i].why);
	}
	free(p->blocked);
	for (size_t i = 0; i < p->n_waiting; i++) {
		free(p->waiting[i].subject);
		free(p->waiting[i].why);
	}
	free(p->waiting);
	for (size_t i = 0; i < p->n_cloned; i++) {
		free(p->cloned[i].subject);
		free(p->cloned[i].why);
	}
	free(p->cloned);
	for (size_t i = 0; i < p->n_kept_volumes; i++)
		free(p->kept_volumes[i]);
	free(p->kept_volumes);
	free(p);
}

char *dsplan_op_json(const struct dsplan_op *op)
{
	json_t *j = json_object(), *m;
	char *s = NULL;
	int e = 0;

	if (!j || !dsplan_op_name(op->kind))
		goto out;
	e |= json_object_set_new(j, "kind", json_string(dsplan_op_name(op->kind)));
	e |= json_object_set_new(j, "wave", json_integer(op->wave));
	if (op->datastore)
		e |= json_object_set_new(j, "datastore", json_string(op->datastore));
	if (op->object)
		e |= json_object_set_new(j, "object", json_string(op->object));
	if (op->target)
		e |= json_object_set_new(j, "target", json_string(op->target));
	if (op->size)
		e |= json_object_set_new(j, "size", json_integer((json_int_t)op->size));
	if (op->members) {
		e |= json_object_set_new(j, "members", m = json_array());
		for (size_t i = 0; m && i < op->n_members; i++)
			e |= json_array_append_new(m, json_string(op->members[i]));
	}
	if (op->protocol)
		e |= json_object_set_new(j, "protocol", json_string(op->protocol));
	if (op->junction)
		e |= json_object_set_new(j, "junction", json_string(op->junction));
	if (op->comment)
		e |= json_object_set_new(j, "comment", json_string(op->comment));
	if (op->snapshot)
		e |= json_object_set_new(j, "snapshot", json_string(op->snapshot));
	if (!e)
		s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(j);
	return s;
}
