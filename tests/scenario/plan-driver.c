/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for the datastore plan (coord/decide/datastore-plan.c, the same code the
 * leader runs): the plan's inputs (nodes with their initiator names, the spec's datastores,
 * removals, what the SVM serves) and a simulated ONTAP that performs the plan's operations the
 * way ONTAP and the client's "ensure" calls would. Built with runner.c into plan-sim;
 * runner.h describes the runner, the command line and the random mode.
 *
 * The simulated ONTAP (one JSON document, so that copies and comparisons are exact) keeps the
 * rules a plan can break: a LUN / namespace needs its volume and fits in it, a map needs both
 * ends, a namespace maps into one subsystem, an NFS volume needs its export policy and a share
 * a mounted volume; a LUN, namespace, igroup or subsystem cannot be deleted while mapped, a
 * volume while it holds a mapped LUN / namespace or a share, an export policy while a volume
 * uses it; an igroup takes only initiators of its protocol; a LUN / namespace never shrinks;
 * an "ensure" of an object that exists otherwise fails (the client's -EEXIST), an ensure of an
 * object exactly as asked, a delete of something gone and a volume resize to no more than its
 * size (ontap_volume_grow: a stale plan never undoes an admin's grow) succeed without changing
 * anything ("adopted").
 *
 * The trace (golden: FILE.expect):
 *   == STATEMENT                               a scenario statement, as written
 *   plan op {dsplan_op_json}                   one line per op of a computed plan, in order
 *   plan blocked {"datastore":D,"why":W}       plan waiting {"subject":S,"why":W}
 *   plan kept {"volume":V}                     plan summary {"ops":N,"waves":W}
 *   plan cloned {"subject":NODE,"why":W}       a cloned host: NODE shares a name with another
 *   ontap refused {"kind":K,"object":O,"op":I,"why":W}   ONTAP / the client refused op I
 *   ontap failed {"applied":B,"op":I}          an injected failure (`perform ... fail I`)
 *   ontap perform {"adopted":[I..],"done":N,"left":L}    what a perform did; `left` ops of the
 *                                              plan were not started (a failed wave stops it)
 *   plan converged {"ops":N,"rounds":R}        `converge`: plans performed until one was empty
 *   FAIL TEXT                                  a check failed (never in a golden)
 *
 * Invariants, checked on every plan computed (by `plan`, `converge` and the expectations):
 *   - every op is about one of our names (under the prefix), and touches no object that exists
 *     without kvmcd's comment (volumes, LUNs, igroups, subsystems; a namespace by its volume);
 *   - access is never taken from a node whose initiator / NQN / addresses are not known (its
 *     section is gone while it is out of the view) or that is fenced, never given back to a
 *     fenced node; a spec datastore is never unmapped from a node of the spec, nor a removed
 *     one that a node still has attached;
 *   - a name two nodes share (cloned hosts: eq IQNs, NQNs, WWPNs) is never given to anyone
 *     (igroup-ensure / -add-initiator, subsystem-ensure / -add-host); removing it is allowed;
 *   - no volume, LUN or namespace is deleted unless its datastore's removal asked for
 *     --destroy-data and no node has it attached; no resize is a shrink or the same size;
 *   - the ops of one wave are independent: performed in plan order and in reverse order within
 *     each wave, every op succeeds and changes something (no duplicate, no no-op), and both
 *     orders end in the same ONTAP;
 *   - an op's `after` (the ops it waits for) lists ops of earlier waves, the latest of them in
 *     the wave just before its own, and is all it needs: performed as the executor may, each op
 *     once its `after` are done, the latest-planned ready op first (which mixes the waves), every
 *     op succeeds and the end is the same ONTAP;
 *   - idempotence: on the ONTAP that results from performing the plan, the plan is empty;
 *   - resumability: after any prefix of the ops (every prefix up to 40 ops, evenly spread ones
 *     beyond) and after every other op of each wave, the plan is exactly the ops not performed
 *     (as a multiset, waves aside): no duplicates, nothing lost.
 * `expect converged` (the random mode's end) checks that ONTAP holds exactly the desired state,
 * derived here independently of the plan's code from the inputs: every datastore's volume
 * (size, junction, export policy), LUN / namespace, maps to every node, share; every node's
 * igroup with exactly its initiators, the subsystem with exactly the nodes' NQNs, the export
 * policy with exactly their addresses (names two nodes share left out); removed datastores
 * unmapped, destroyed or kept and unmounted; nothing else of ours.
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   cluster NAME ID                    header: prefix dsplan_prefix(NAME), comment kvmcd:ID
 *                                      (default: lab c1 -> kvmcd_lab, kvmcd:c1)
 *   at T node NAME [iqn X|-] [nqn X|-] [wwpns A,B|-] [addresses A,B|-] [fenced|unfenced]
 *                                      adds a node (initiators unknown unless given) or changes
 *                                      the fields given; "-" = not known
 *   at T remove-node NAME              the node leaves the spec
 *   at T datastore JSON                adds (or replaces, by name) a spec entry: name,
 *                                      protocol, size (bytes or "100G"), clone {parent,
 *                                      snapshot}; other keys ignored
 *   at T remove-datastore NAME [destroy-data] [attached N1,N2]   spec entry -> removal record
 *   at T attached NAME N1,N2|none      the nodes that report removal NAME attached
 *   at T svm serves P1,P2|unknown      what the SVM serves (default: unknown = everything)
 *   at T reader no-export-policy|full  the plan sees volumes' export policies (default) or not
 *   at T ontap volume NAME SIZE [comment C|none] [junction J] [policy P]
 *   at T ontap lun|namespace PATH SIZE [comment C|none]
 *   at T ontap igroup NAME PROTOCOL I1,I2|- [comment C|none]
 *   at T ontap subsystem NAME NQN1,NQN2|- [comment C|none]
 *   at T ontap lun-map PATH IGROUP | ns-map PATH SUBSYSTEM | policy NAME | rule POLICY CLIENTS
 *   at T ontap share NAME PATH [comment C|none] [acl USER:TYPE:PERMISSION,...|-]   a CIFS share
 *                                      (default: ours, ONTAP's default ACL Everyone:windows:full_control)
 *   at T ontap drop volume|lun|namespace|igroup|subsystem|policy|share NAME | rule POLICY CLIENTS
 *   at T ontap grow volume|lun|namespace NAME SIZE   an admin grew it (the plan never shrinks it)
 *                                      what someone else did on ONTAP (comment defaults to ours)
 *   at T plan                          computes the plan from the inputs and ONTAP, traces it
 *   at T perform [N|all] [fail K [applied]]   performs the next N ops of the last plan (wave by
 *                                      wave; default all); op K (1-based, in the plan) fails,
 *                                      after taking effect with `applied`; a failed op stops the
 *                                      plan after its wave, as the executor does
 *   at T converge [MAX]                plan + perform all until the plan is empty, at most MAX
 *                                      (default 3) performs
 *   at T expect empty-plan | ops N | waves N
 *   at T expect blocked DS REGEX | not-blocked DS | waiting SUBJECT REGEX | kept V1,V2|none
 *   at T expect cloned NODE REGEX | not-cloned NODE
 *   at T expect ontap volumes|luns|namespaces|igroups|maps|subsystem-hosts|rules|shares|acls JSON
 *                                      (shares: {name: path}; acls: {share: ["USER:TYPE:PERMISSION"]})
 *   at T expect converged              ONTAP holds exactly the desired state (above)
 *   end T
 * The `expect blocked/waiting/kept` checks look at a plan computed at that moment.
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datastore-plan.h"
#include "runner.h"

#define MS SCN_MS
#define PREFIX_CHECKS 40 /* resumability: every prefix up to this many ops, spread beyond */

static const char *const proto_names[_DS_PROTO_MAX] = { "iscsi", "fc", "nvme-tcp", "nfs", "smb" };

struct pnode {
	char *name, *iqn, *nqn;        /* owned; NULL = not known */
	char **wwpns, **addrs;         /* owned */
	size_t n_wwpns, n_addrs;
	bool fenced;
};

struct premoval {
	char *name;                    /* owned */
	enum ds_protocol protocol;
	bool destroy;
	uint64_t size;                 /* its size when removed (a random re-add takes no less) */
	char **attached;               /* owned */
	size_t n_attached;
};

struct sim {
	struct scn *r;
	char *prefix, *cluster_id, *comment;   /* owned */
	struct pnode *nodes;
	size_t n_nodes;
	struct ds_spec *ds;            /* names owned (cast) */
	size_t n_ds;
	struct premoval *rem;
	size_t n_rem;
	bool serves_known, serves[_DS_PROTO_MAX];
	bool unread_policies;          /* the reader does not fetch volumes' export policies */
	json_t *ontap;                 /* the simulated ONTAP (owned) */
	json_t *grown;                 /* name/path -> size someone else grew it to, until it is
					  deleted: the plan never shrinks it back (owned) */

	struct dsplan *plan;           /* the last plan (owned) */
	size_t cursor;                 /* its ops performed so far */
	/* random mode */
	unsigned next_node, next_ds, iqn_gen;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *c = s ? strdup(s) : NULL;

	if (s && !c)
		abort();
	return c;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* "a,b,c" (or "-" / "none": empty) into an owned vector. */
static char **split_list(const char *s, size_t *n)
{
	char **v = NULL;

	*n = 0;
	if (!strcmp(s, "-") || !strcmp(s, "none") || !*s)
		return NULL;
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		if (!(v = realloc(v, (*n + 1) * sizeof(*v))) || !(v[*n] = strndup(p, len)))
			abort();
		(*n)++;
		if (!p[len])
			break;
		p += len + 1;
	}
	return v;
}

/* Bytes, or digits with one of K M G T P (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		const char *u = strchr("KMGTP", *end);
		if (!u || end[1])
			return -EINVAL;
		shift = 10 * (unsigned)(u - "KMGTP" + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int proto_of(const char *s, enum ds_protocol *p)
{
	for (int i = 0; i < _DS_PROTO_MAX; i++)
		if (!strcmp(s, proto_names[i])) {
			*p = (enum ds_protocol)i;
			return 0;
		}
	return -EINVAL;
}

static struct pnode *node_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return &s->nodes[i];
	return NULL;
}

static struct ds_spec *ds_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (!strcmp(s->ds[i].name, name))
			return &s->ds[i];
	return NULL;
}

static struct premoval *rem_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_rem; i++)
		if (!strcmp(s->rem[i].name, name))
			return &s->rem[i];
	return NULL;
}

/* ---- the simulated ONTAP: one JSON document ----------------------------------------------
 * {"volumes":{name:{"size","comment","junction","policy"}}, "luns":{path:{"size","comment"}},
 *  "namespaces":{path:{"size"}}, "igroups":{name:{"protocol","initiators":[],"comment"}},
 *  "lun_maps":{path:{igroup:number}}, "subsystems":{name:{"hosts":[],"comment"}},
 *  "ns_maps":{path:subsystem}, "policies":{name:[clients]},
 *  "shares":{name:{"path","comment","acl":[{"user","type","permission"}]}}}
 * Arrays are kept sorted, so that equal states are json_equal. */

static const char *const families[] = { "volumes", "luns", "namespaces", "igroups", "lun_maps",
					"subsystems", "ns_maps", "policies", "shares" };

static json_t *ontap_new(void)
{
	json_t *o = json_object();

	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		json_object_set_new(o, families[i], json_object());
	return o;
}

static json_t *fam(json_t *st, const char *f)
{
	return json_object_get(st, f);
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static uint64_t jsize(const json_t *o)
{
	return (uint64_t)json_integer_value(json_object_get(o, "size"));
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted JSON array of strings. */
static json_t *sorted_array(const char *const *v, size_t n)
{
	const char **c = calloc(n ? n : 1, sizeof(*c));
	json_t *a = json_array();

	if (!c || !a)
		abort();
	if (n) {
		memcpy(c, v, n * sizeof(*c));
		qsort(c, n, sizeof(*c), strp_cmp);
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(c[i]));
	free(c);
	return a;
}

static void array_insert_sorted(json_t *a, const char *s)
{
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		if (strcmp(json_string_value(json_array_get(a, i)), s) > 0)
			break;
	json_array_insert_new(a, i, json_string(s));
}

static bool array_remove(json_t *a, const char *s, bool (*eq)(const char *, const char *))
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (eq(json_string_value(json_array_get(a, i)), s)) {
			json_array_remove(a, i);
			return true;
		}
	return false;
}

static bool array_has(const json_t *a, const char *s, bool (*eq)(const char *, const char *))
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (eq(json_string_value(json_array_get(a, i)), s))
			return true;
	return false;
}

static bool eq_exact(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool is_iscsi_name(const char *s)
{
	return !strncasecmp(s, "iqn.", 4) || !strncasecmp(s, "eui.", 4) || !strncasecmp(s, "naa.", 4);
}

/* IQNs case-insensitively, WWPNs by their hex digits ("0x" and ':' are spelling). */
static bool eq_initiator(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	if (is_iscsi_name(a) || is_iscsi_name(b))
		return !strcasecmp(a, b);
	if (a[0] == '0' && (a[1] | 0x20) == 'x')
		a += 2;
	if (b[0] == '0' && (b[1] | 0x20) == 'x')
		b += 2;
	for (;; a++, b++) {
		while (*a == ':')
			a++;
		while (*b == ':')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if ((*a | 0x20) != (*b | 0x20))
			return false;
	}
}

static bool initiator_allowed(const char *protocol, const char *initiator)
{
	if (!protocol || !strcmp(protocol, "mixed"))
		return true;
	return !strcmp(protocol, is_iscsi_name(initiator) ? "iscsi" : "fcp");
}

/* "/vol/<volume>/x" -> <volume> (owned), or NULL. */
static char *volume_of(const char *path)
{
	const char *e;

	if (strncmp(path, "/vol/", 5) || !(e = strchr(path + 5, '/')))
		return NULL;
	return strndup(path + 5, (size_t)(e - path - 5));
}

static bool lun_mapped(json_t *st, const char *path)
{
	return json_object_size(json_object_get(fam(st, "lun_maps"), path)) > 0 ||
	       json_object_get(fam(st, "ns_maps"), path) != NULL;
}

/* Does any LUN / namespace in the volume have a map? */
static bool volume_mapped(json_t *st, const char *vol)
{
	const char *path;
	json_t *v;

	json_object_foreach(fam(st, "luns"), path, v) {
		_cleanup_free_ char *in = volume_of(path);
		if (eq_exact(in, vol) && lun_mapped(st, path))
			return true;
	}
	json_object_foreach(fam(st, "namespaces"), path, v) {
		_cleanup_free_ char *in = volume_of(path);
		if (eq_exact(in, vol) && lun_mapped(st, path))
			return true;
	}
	return false;
}

static const char *share_on(json_t *st, const char *junction)
{
	const char *name;
	json_t *p;

	json_object_foreach(fam(st, "shares"), name, p)
		if (junction && *junction && eq_exact(jstr(p, "path"), junction))
			return name;
	return NULL;
}

static bool members_equal(json_t *have, char *const *want, size_t n, bool (*eq)(const char *, const char *))
{
	if (json_array_size(have) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!array_has(have, want[i], eq))
			return false;
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return (!a || !*a) ? (!b || !*b) : (b && !strcmp(a, b));
}

enum { APPLIED = 0, ADOPTED = 1, REFUSED = -1 };

/*
 * Performs one op on st as ONTAP + the client would. APPLIED (changed), ADOPTED (already so:
 * nothing sent or a duplicate treated as success), REFUSED with *why (owned).
 */
static int apply(struct sim *s, json_t *st, const struct dsplan_op *op, char **why)
{
	const char *obj = op->object, *tgt = op->target;
	json_t *o, *f;
	_cleanup_free_ char *vol = NULL;

#define REFUSE(...) do { if (asprintf(why, __VA_ARGS__) < 0) abort(); return REFUSED; } while (0)
	if (!obj)
		REFUSE("no object");
	switch (op->kind) {
	case DSPLAN_VOLUME_ENSURE:
		f = fam(st, "volumes");
		if ((o = json_object_get(f, obj))) {
			if ((uint64_t)jsize(o) != op->size || !same_str(jstr(o, "comment"), op->comment) ||
			    !same_str(jstr(o, "junction"), op->junction) || !same_str(jstr(o, "policy"), tgt ? tgt : "default"))
				REFUSE("volume %s exists and differs", obj);
			return ADOPTED;
		}
		if (tgt && !json_object_get(fam(st, "policies"), tgt))
			REFUSE("export policy %s not found", tgt);
		o = json_pack("{s:I,s:s?,s:s,s:s}", "size", (json_int_t)op->size, "comment", op->comment, "junction",
			      op->junction ? op->junction : "", "policy", tgt ? tgt : "default");
		json_object_set_new(f, obj, o);
		return APPLIED;
	case DSPLAN_VOLUME_CLONE: {
		/* ontap_volume_clone: a FlexClone of that parent is success; the parent's LUNs and
		 * namespaces appear in the clone under the same names, unmapped */
		json_t *pv, *v, *tmp;
		const char *path;
		f = fam(st, "volumes");
		if ((o = json_object_get(f, obj))) {
			if (!same_str(jstr(o, "clone_of"), tgt))
				REFUSE("volume %s exists and is not a clone of %s", obj, tgt);
			return ADOPTED;
		}
		if (!tgt || !(pv = json_object_get(f, tgt)))
			REFUSE("parent volume %s not found", tgt ? tgt : "(none)");
		if (!op->snapshot)
			REFUSE("no parent snapshot");
		o = json_pack("{s:I,s:s?,s:s,s:s,s:s}", "size", (json_int_t)jsize(pv), "comment", op->comment, "junction", "",
			      "policy", "default", "clone_of", tgt);
		json_object_set_new(f, obj, o);
		for (int k = 0; k < 2; k++) {
			json_t *fl = fam(st, k ? "namespaces" : "luns");
			json_object_foreach_safe(fl, tmp, path, v) {
				_cleanup_free_ char *in = volume_of(path);
				const char *base = strrchr(path, '/');
				char np[512];
				if (!eq_exact(in, tgt) || !base)
					continue;
				snprintf(np, sizeof(np), "/vol/%s%s", obj, base);
				json_object_set_new(fl, np, json_pack("{s:I,s:s?}", "size", (json_int_t)jsize(v), "comment", jstr(v, "comment")));
			}
		}
		return APPLIED;
	}
	case DSPLAN_VOLUME_CLONE_SPLIT: /* ontap_volume_clone_split: not a clone, or split: nothing */
		if (!(o = json_object_get(fam(st, "volumes"), obj)))
			REFUSE("volume %s not found", obj);
		if (!jstr(o, "clone_of") || json_is_true(json_object_get(o, "split")))
			return ADOPTED;
		json_object_set_new(o, "split", json_true());
		return APPLIED;
	case DSPLAN_VOLUME_RESIZE: /* ontap_volume_grow: one at least that large is left alone */
		if (!(o = json_object_get(fam(st, "volumes"), obj)))
			REFUSE("volume %s not found", obj);
		if (jsize(o) >= op->size)
			return ADOPTED;
		json_object_set_new(o, "size", json_integer((json_int_t)op->size));
		return APPLIED;
	case DSPLAN_VOLUME_DELETE: {
		const char *path;
		json_t *v, *tmp;
		if (!(o = json_object_get(fam(st, "volumes"), obj)))
			return ADOPTED;
		if (volume_mapped(st, obj))
			REFUSE("volume %s holds a mapped LUN or namespace", obj);
		if (share_on(st, jstr(o, "junction")))
			REFUSE("volume %s has a CIFS share", obj);
		json_object_foreach_safe(fam(st, "luns"), tmp, path, v) {
			_cleanup_free_ char *in = volume_of(path);
			if (eq_exact(in, obj)) {
				if (st == s->ontap)
					json_object_del(s->grown, path);
				json_object_del(fam(st, "luns"), path);
			}
		}
		json_object_foreach_safe(fam(st, "namespaces"), tmp, path, v) {
			_cleanup_free_ char *in = volume_of(path);
			if (eq_exact(in, obj)) {
				if (st == s->ontap)
					json_object_del(s->grown, path);
				json_object_del(fam(st, "namespaces"), path);
			}
		}
		if (st == s->ontap)
			json_object_del(s->grown, obj);
		json_object_del(fam(st, "volumes"), obj);
		return APPLIED;
	}
	case DSPLAN_VOLUME_MOUNT:
		if (!(o = json_object_get(fam(st, "volumes"), obj)))
			REFUSE("volume %s not found", obj);
		if (tgt && !json_object_get(fam(st, "policies"), tgt))
			REFUSE("export policy %s not found", tgt);
		if (same_str(jstr(o, "junction"), op->junction) && same_str(jstr(o, "policy"), tgt ? tgt : "default"))
			return ADOPTED;
		json_object_set_new(o, "junction", json_string(op->junction ? op->junction : ""));
		json_object_set_new(o, "policy", json_string(tgt ? tgt : "default"));
		return APPLIED;
	case DSPLAN_VOLUME_UNMOUNT:
		if (!(o = json_object_get(fam(st, "volumes"), obj)))
			REFUSE("volume %s not found", obj);
		if (share_on(st, jstr(o, "junction")))
			REFUSE("volume %s has a CIFS share", obj);
		if (same_str(jstr(o, "junction"), "") && same_str(jstr(o, "policy"), "default"))
			return ADOPTED;
		json_object_set_new(o, "junction", json_string(""));
		json_object_set_new(o, "policy", json_string("default"));
		return APPLIED;
	case DSPLAN_LUN_ENSURE:
	case DSPLAN_NAMESPACE_ENSURE: {
		bool lun = op->kind == DSPLAN_LUN_ENSURE;
		json_t *v;
		f = fam(st, lun ? "luns" : "namespaces");
		if ((o = json_object_get(f, obj))) {
			if (jsize(o) != op->size || !same_str(jstr(o, "comment"), op->comment))
				REFUSE("%s %s exists and differs", lun ? "LUN" : "namespace", obj);
			return ADOPTED;
		}
		if (json_object_get(fam(st, lun ? "namespaces" : "luns"), obj))
			REFUSE("a LUN or namespace already exists at %s", obj);
		if (!(vol = volume_of(obj)) || !(v = json_object_get(fam(st, "volumes"), vol)))
			REFUSE("volume of %s not found", obj);
		if (op->size > jsize(v))
			REFUSE("%s of %" PRIu64 " bytes does not fit in volume %s", obj, op->size, vol);
		json_object_set_new(f, obj, json_pack("{s:I,s:s?}", "size", (json_int_t)op->size, "comment", op->comment));
		return APPLIED;
	}
	case DSPLAN_LUN_RESIZE:
	case DSPLAN_NAMESPACE_RESIZE: {
		json_t *v;
		if (!(o = json_object_get(fam(st, op->kind == DSPLAN_LUN_RESIZE ? "luns" : "namespaces"), obj)))
			REFUSE("%s not found", obj);
		if (op->size < jsize(o))
			REFUSE("%s would shrink", obj);
		if (op->size == jsize(o))
			return ADOPTED;
		if (!(vol = volume_of(obj)) || !(v = json_object_get(fam(st, "volumes"), vol)) || op->size > jsize(v))
			REFUSE("%s of %" PRIu64 " bytes does not fit in its volume", obj, op->size);
		json_object_set_new(o, "size", json_integer((json_int_t)op->size));
		return APPLIED;
	}
	case DSPLAN_LUN_DELETE:
	case DSPLAN_NAMESPACE_DELETE:
		f = fam(st, op->kind == DSPLAN_LUN_DELETE ? "luns" : "namespaces");
		if (!json_object_get(f, obj))
			return ADOPTED;
		if (lun_mapped(st, obj))
			REFUSE("%s is mapped", obj);
		if (st == s->ontap)
			json_object_del(s->grown, obj);
		json_object_del(f, obj);
		return APPLIED;
	case DSPLAN_IGROUP_ENSURE:
		f = fam(st, "igroups");
		if ((o = json_object_get(f, obj))) {
			if (!same_str(jstr(o, "protocol"), op->protocol) || !same_str(jstr(o, "comment"), op->comment) ||
			    !members_equal(json_object_get(o, "initiators"), op->members, op->n_members, eq_initiator))
				REFUSE("igroup %s exists and differs", obj);
			return ADOPTED;
		}
		if (json_object_get(fam(st, "subsystems"), obj))
			REFUSE("an NVMe subsystem is named %s", obj);
		for (size_t i = 0; i < op->n_members; i++)
			if (!initiator_allowed(op->protocol, op->members[i]))
				REFUSE("igroup of protocol %s cannot hold %s", op->protocol, op->members[i]);
		json_object_set_new(f, obj, json_pack("{s:s?,s:o,s:s?}", "protocol", op->protocol, "initiators",
						      sorted_array((const char *const *)op->members, op->n_members),
						      "comment", op->comment));
		return APPLIED;
	case DSPLAN_IGROUP_ADD_INITIATOR:
		if (!(o = json_object_get(fam(st, "igroups"), obj)) || !tgt)
			REFUSE("igroup %s not found", obj);
		if (array_has(json_object_get(o, "initiators"), tgt, eq_initiator))
			return ADOPTED;
		if (!initiator_allowed(jstr(o, "protocol"), tgt))
			REFUSE("igroup %s of protocol %s cannot hold %s", obj, jstr(o, "protocol"), tgt);
		array_insert_sorted(json_object_get(o, "initiators"), tgt);
		return APPLIED;
	case DSPLAN_IGROUP_REMOVE_INITIATOR:
		if (!(o = json_object_get(fam(st, "igroups"), obj)) || !tgt)
			return ADOPTED;
		return array_remove(json_object_get(o, "initiators"), tgt, eq_initiator) ? APPLIED : ADOPTED;
	case DSPLAN_IGROUP_DELETE: {
		const char *path;
		json_t *m;
		if (!json_object_get(fam(st, "igroups"), obj))
			return ADOPTED;
		json_object_foreach(fam(st, "lun_maps"), path, m)
			if (json_object_get(m, obj))
				REFUSE("igroup %s is mapped", obj);
		json_object_del(fam(st, "igroups"), obj);
		return APPLIED;
	}
	case DSPLAN_LUN_MAP_ENSURE: {
		json_t *m;
		int64_t number = 0;
		const char *path, *g;
		json_t *maps, *n;
		if (!json_object_get(fam(st, "luns"), obj))
			REFUSE("LUN %s not found", obj);
		if (!tgt || !json_object_get(fam(st, "igroups"), tgt))
			REFUSE("igroup %s not found", tgt ? tgt : "?");
		if (!(m = json_object_get(fam(st, "lun_maps"), obj)))
			json_object_set_new(fam(st, "lun_maps"), obj, m = json_object());
		if (json_object_get(m, tgt))
			return ADOPTED;
		/* the lowest LUN number free in that igroup */
		for (bool taken = true; taken; number += taken) {
			taken = false;
			json_object_foreach(fam(st, "lun_maps"), path, maps)
				json_object_foreach(maps, g, n)
					if (!strcmp(g, tgt) && json_integer_value(n) == number)
						taken = true;
		}
		json_object_set_new(m, tgt, json_integer(number));
		return APPLIED;
	}
	case DSPLAN_LUN_MAP_DELETE: {
		json_t *m = json_object_get(fam(st, "lun_maps"), obj);
		if (!tgt || !m || !json_object_get(m, tgt))
			return ADOPTED;
		json_object_del(m, tgt);
		if (!json_object_size(m))
			json_object_del(fam(st, "lun_maps"), obj);
		return APPLIED;
	}
	case DSPLAN_SUBSYSTEM_ENSURE:
		f = fam(st, "subsystems");
		if ((o = json_object_get(f, obj))) {
			if (!same_str(jstr(o, "comment"), op->comment) ||
			    !members_equal(json_object_get(o, "hosts"), op->members, op->n_members, eq_exact))
				REFUSE("subsystem %s exists and differs", obj);
			return ADOPTED;
		}
		if (json_object_get(fam(st, "igroups"), obj))
			REFUSE("an igroup is named %s", obj);
		json_object_set_new(f, obj, json_pack("{s:o,s:s?}", "hosts",
						      sorted_array((const char *const *)op->members, op->n_members),
						      "comment", op->comment));
		return APPLIED;
	case DSPLAN_SUBSYSTEM_ADD_HOST:
		if (!(o = json_object_get(fam(st, "subsystems"), obj)) || !tgt)
			REFUSE("subsystem %s not found", obj);
		if (array_has(json_object_get(o, "hosts"), tgt, eq_exact))
			return ADOPTED;
		array_insert_sorted(json_object_get(o, "hosts"), tgt);
		return APPLIED;
	case DSPLAN_SUBSYSTEM_REMOVE_HOST:
		if (!(o = json_object_get(fam(st, "subsystems"), obj)) || !tgt)
			return ADOPTED;
		return array_remove(json_object_get(o, "hosts"), tgt, eq_exact) ? APPLIED : ADOPTED;
	case DSPLAN_SUBSYSTEM_DELETE: {
		const char *path;
		json_t *g;
		if (!json_object_get(fam(st, "subsystems"), obj))
			return ADOPTED;
		json_object_foreach(fam(st, "ns_maps"), path, g)
			if (eq_exact(json_string_value(g), obj))
				REFUSE("subsystem %s is mapped", obj);
		json_object_del(fam(st, "subsystems"), obj);
		return APPLIED;
	}
	case DSPLAN_NS_MAP_ENSURE: {
		const char *have = json_string_value(json_object_get(fam(st, "ns_maps"), obj));
		if (!json_object_get(fam(st, "namespaces"), obj))
			REFUSE("namespace %s not found", obj);
		if (!tgt || !json_object_get(fam(st, "subsystems"), tgt))
			REFUSE("subsystem %s not found", tgt ? tgt : "?");
		if (have)
			return !strcmp(have, tgt) ? ADOPTED : (*why = xstrdup("namespace mapped to another subsystem"), REFUSED);
		json_object_set_new(fam(st, "ns_maps"), obj, json_string(tgt));
		return APPLIED;
	}
	case DSPLAN_NS_MAP_DELETE:
		if (!tgt || !eq_exact(json_string_value(json_object_get(fam(st, "ns_maps"), obj)), tgt))
			return ADOPTED;
		json_object_del(fam(st, "ns_maps"), obj);
		return APPLIED;
	case DSPLAN_EXPORT_POLICY_ENSURE:
		if (json_object_get(fam(st, "policies"), obj))
			return ADOPTED;
		json_object_set_new(fam(st, "policies"), obj, json_array());
		return APPLIED;
	case DSPLAN_EXPORT_POLICY_DELETE: {
		const char *name;
		json_t *v;
		if (!json_object_get(fam(st, "policies"), obj))
			return ADOPTED;
		json_object_foreach(fam(st, "volumes"), name, v)
			if (eq_exact(jstr(v, "policy"), obj))
				REFUSE("export policy %s is used by volume %s", obj, name);
		json_object_del(fam(st, "policies"), obj);
		return APPLIED;
	}
	case DSPLAN_EXPORT_RULE_ENSURE:
		if (!(o = json_object_get(fam(st, "policies"), obj)) || !tgt)
			REFUSE("export policy %s not found", obj);
		if (array_has(o, tgt, eq_exact))
			return ADOPTED;
		array_insert_sorted(o, tgt);
		return APPLIED;
	case DSPLAN_EXPORT_RULE_DELETE:
		if (!(o = json_object_get(fam(st, "policies"), obj)) || !tgt)
			return ADOPTED;
		return array_remove(o, tgt, eq_exact) ? APPLIED : ADOPTED;
	case DSPLAN_SHARE_ENSURE: {
		const char *name;
		json_t *v;
		bool mounted = false;
		if ((o = json_object_get(fam(st, "shares"), obj))) {
			if (!same_str(jstr(o, "path"), op->junction) || (op->comment && !same_str(jstr(o, "comment"), op->comment)))
				REFUSE("share %s exists and differs", obj);
			return ADOPTED;
		}
		json_object_foreach(fam(st, "volumes"), name, v)
			mounted |= op->junction && same_str(jstr(v, "junction"), op->junction);
		if (!mounted)
			REFUSE("no volume is mounted at %s", op->junction ? op->junction : "?");
		/* ONTAP gives a new share the ACL Everyone / windows / full_control */
		json_object_set_new(fam(st, "shares"), obj,
				    json_pack("{s:s,s:o,s:[{s:s,s:s,s:s}]}", "path", op->junction, "comment",
					      op->comment ? json_string(op->comment) : json_null(), "acl", "user", "Everyone",
					      "type", "windows", "permission", "full_control"));
		return APPLIED;
	}
	case DSPLAN_SHARE_ACL_ENSURE:
	case DSPLAN_SHARE_ACL_DELETE: {
		json_t *acl, *e;
		size_t k;
		if (!(o = json_object_get(fam(st, "shares"), obj))) {
			if (op->kind == DSPLAN_SHARE_ACL_DELETE)
				return ADOPTED;
			REFUSE("share %s not found", obj);
		}
		if (!tgt || !op->protocol)
			REFUSE("share ACL entry without a user or type");
		acl = json_object_get(o, "acl");
		json_array_foreach(acl, k, e) {
			if (strcasecmp(jstr(e, "user") ?: "", tgt) || !same_str(jstr(e, "type"), op->protocol))
				continue;
			if (op->kind == DSPLAN_SHARE_ACL_DELETE) {
				json_array_remove(acl, k);
				return APPLIED;
			}
			if (!same_str(jstr(e, "permission"), "full_control"))
				REFUSE("share %s: the entry of %s exists with %s", obj, tgt, jstr(e, "permission") ?: "?");
			return ADOPTED;
		}
		if (op->kind == DSPLAN_SHARE_ACL_DELETE)
			return ADOPTED;
		json_array_append_new(acl, json_pack("{s:s,s:s,s:s}", "user", tgt, "type", op->protocol, "permission",
						     "full_control"));
		return APPLIED;
	}
	case DSPLAN_SHARE_DELETE:
		if (!json_object_get(fam(st, "shares"), obj))
			return ADOPTED;
		json_object_del(fam(st, "shares"), obj);
		return APPLIED;
	default:
		REFUSE("unknown op kind %d", (int)op->kind);
	}
#undef REFUSE
}

/* ---- the plan's inputs from the simulation ---------------------------------------------- */

struct view {
	struct dsplan_ontap o;
	struct dsplan_ontap_volume *vols;
	struct dsplan_ontap_lun *luns, *nss;
	struct dsplan_ontap_igroup *igs;
	struct dsplan_ontap_map *lmaps, *nmaps;
	struct dsplan_ontap_subsystem *subs;
	const char **pols;
	struct dsplan_ontap_share *shares;
	struct dsplan_ontap_rule *rules;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

static const char **strs_of(const json_t *a, size_t *n)
{
	const char **v = xcalloc(json_array_size(a), sizeof(*v));

	*n = json_array_size(a);
	for (size_t i = 0; i < *n; i++)
		v[i] = json_string_value(json_array_get(a, i));
	return v;
}

static void view_build(struct view *w, json_t *st, bool unread_policies)
{
	const char *k, *g;
	json_t *v, *n;
	size_t i;

	memset(w, 0, sizeof(*w));
	w->vols = xcalloc(json_object_size(fam(st, "volumes")), sizeof(*w->vols));
	i = 0;
	json_object_foreach(fam(st, "volumes"), k, v)
		w->vols[i++] = (struct dsplan_ontap_volume){ k, jsize(v), jstr(v, "comment"), jstr(v, "junction"),
							     unread_policies ? NULL : jstr(v, "policy"),
							     .is_flexclone = jstr(v, "clone_of") && !json_is_true(json_object_get(v, "split")),
							     .split_initiated = json_is_true(json_object_get(v, "split")) };
	w->o.volumes = w->vols;
	w->o.n_volumes = i;
	w->luns = xcalloc(json_object_size(fam(st, "luns")), sizeof(*w->luns));
	i = 0;
	json_object_foreach(fam(st, "luns"), k, v)
		w->luns[i++] = (struct dsplan_ontap_lun){ k, jsize(v), NULL, jstr(v, "comment") };
	w->o.luns = w->luns;
	w->o.n_luns = i;
	w->nss = xcalloc(json_object_size(fam(st, "namespaces")), sizeof(*w->nss));
	i = 0;
	json_object_foreach(fam(st, "namespaces"), k, v)
		w->nss[i++] = (struct dsplan_ontap_lun){ k, jsize(v), NULL, jstr(v, "comment") };
	w->o.namespaces = w->nss;
	w->o.n_namespaces = i;
	w->igs = xcalloc(json_object_size(fam(st, "igroups")), sizeof(*w->igs));
	i = 0;
	json_object_foreach(fam(st, "igroups"), k, v) {
		size_t ni;
		const char **ini = strs_of(json_object_get(v, "initiators"), &ni);
		w->igs[i++] = (struct dsplan_ontap_igroup){ k, jstr(v, "protocol"), ini, ni, jstr(v, "comment") };
	}
	w->o.igroups = w->igs;
	w->o.n_igroups = i;
	i = 0;
	json_object_foreach(fam(st, "lun_maps"), k, v)
		i += json_object_size(v);
	w->lmaps = xcalloc(i, sizeof(*w->lmaps));
	i = 0;
	json_object_foreach(fam(st, "lun_maps"), k, v)
		json_object_foreach(v, g, n)
			w->lmaps[i++] = (struct dsplan_ontap_map){ k, g, json_integer_value(n) };
	w->o.lun_maps = w->lmaps;
	w->o.n_lun_maps = i;
	w->subs = xcalloc(json_object_size(fam(st, "subsystems")), sizeof(*w->subs));
	i = 0;
	json_object_foreach(fam(st, "subsystems"), k, v) {
		size_t nh;
		const char **h = strs_of(json_object_get(v, "hosts"), &nh);
		w->subs[i++] = (struct dsplan_ontap_subsystem){ k, h, nh, jstr(v, "comment") };
	}
	w->o.subsystems = w->subs;
	w->o.n_subsystems = i;
	w->nmaps = xcalloc(json_object_size(fam(st, "ns_maps")), sizeof(*w->nmaps));
	i = 0;
	json_object_foreach(fam(st, "ns_maps"), k, v)
		w->nmaps[i++] = (struct dsplan_ontap_map){ k, json_string_value(v), 1 };
	w->o.ns_maps = w->nmaps;
	w->o.n_ns_maps = i;
	w->pols = xcalloc(json_object_size(fam(st, "policies")), sizeof(*w->pols));
	i = 0;
	json_object_foreach(fam(st, "policies"), k, v)
		w->pols[i++] = k;
	w->o.export_policies = w->pols;
	w->o.n_export_policies = i;
	i = 0;
	json_object_foreach(fam(st, "policies"), k, v)
		i += json_array_size(v);
	w->rules = xcalloc(i, sizeof(*w->rules));
	i = 0;
	json_object_foreach(fam(st, "policies"), k, v)
		for (size_t j = 0; j < json_array_size(v); j++)
			w->rules[i++] = (struct dsplan_ontap_rule){ k, json_string_value(json_array_get(v, j)), (int64_t)j + 1 };
	w->o.rules = w->rules;
	w->o.n_rules = i;
	w->shares = xcalloc(json_object_size(fam(st, "shares")), sizeof(*w->shares));
	i = 0;
	json_object_foreach(fam(st, "shares"), k, v) {
		json_t *acl = json_object_get(v, "acl"), *e;
		struct dsplan_ontap_ace *aces = xcalloc(json_array_size(acl), sizeof(*aces));
		size_t j;
		json_array_foreach(acl, j, e)
			aces[j] = (struct dsplan_ontap_ace){ jstr(e, "user"), jstr(e, "type"), jstr(e, "permission") };
		w->shares[i++] = (struct dsplan_ontap_share){ k, jstr(v, "path"), jstr(v, "comment"), aces, json_array_size(acl) };
	}
	w->o.shares = w->shares;
	w->o.n_shares = i;
}

static void view_free(struct view *w)
{
	for (size_t i = 0; i < w->o.n_igroups; i++)
		free((void *)w->igs[i].initiators);
	for (size_t i = 0; i < w->o.n_subsystems; i++)
		free((void *)w->subs[i].hosts);
	free(w->vols);
	free(w->luns);
	free(w->nss);
	free(w->igs);
	free(w->lmaps);
	free(w->nmaps);
	free(w->subs);
	free(w->pols);
	for (size_t i = 0; i < w->o.n_shares; i++)
		free((void *)w->shares[i].acl);
	free(w->shares);
	free(w->rules);
}

/* The plan for the inputs now and ONTAP state st (owned by the caller). */
static struct dsplan *compute(struct sim *s, json_t *st)
{
	struct view w;
	struct dsplan_node *nodes = xcalloc(s->n_nodes, sizeof(*nodes));
	struct dsplan_removal *rem = xcalloc(s->n_rem, sizeof(*rem));
	struct dsplan_input in;
	struct dsplan *p = NULL;

	view_build(&w, st, s->unread_policies);
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct pnode *n = &s->nodes[i];
		nodes[i] = (struct dsplan_node){ .name = n->name, .iqn = n->iqn, .nqn = n->nqn,
						 .wwpns = (const char *const *)n->wwpns, .n_wwpns = n->n_wwpns,
						 .addresses = (const char *const *)n->addrs, .n_addresses = n->n_addrs,
						 .fenced = n->fenced };
	}
	for (size_t i = 0; i < s->n_rem; i++) {
		const struct premoval *r = &s->rem[i];
		rem[i] = (struct dsplan_removal){ .name = r->name, .protocol = r->protocol, .destroy_data = r->destroy,
						  .attached_on = (const char *const *)r->attached,
						  .n_attached_on = r->n_attached };
	}
	in = (struct dsplan_input){ .prefix = s->prefix, .cluster_id = s->cluster_id,
				    .datastores = s->ds, .n_datastores = s->n_ds,
				    .nodes = nodes, .n_nodes = s->n_nodes,
				    .removals = rem, .n_removals = s->n_rem,
				    .ontap = &w.o, .svm_serves = s->serves_known ? s->serves : NULL };
	if (dsplan_compute(&in, &p) < 0)
		abort();
	view_free(&w);
	free(nodes);
	free(rem);
	return p;
}

/* An op as text without its wave (what "the same op" means across plans). Owned. */
static char *op_key(const struct dsplan_op *op)
{
	struct dsplan_op c = *op;
	char *k;

	c.wave = 0;
	if (!(k = dsplan_op_json(&c)))
		abort();
	return k;
}

/* ---- checks on one plan ----------------------------------------------------------------- */

static bool under_prefix(const struct sim *s, const char *name)
{
	size_t n = strlen(s->prefix);
	return name && !strncmp(name, s->prefix, n) && name[n] == '_';
}

/* Is the op about one of our names, and does everything it touches carry our comment? */
static void check_ownership(struct sim *s, json_t *st, const struct dsplan_op *op, size_t i)
{
	const char *kind = dsplan_op_name(op->kind), *obj = op->object;
	_cleanup_free_ char *vol = NULL;
	json_t *o;
	bool named;

	switch (op->kind) {
	case DSPLAN_VOLUME_ENSURE: case DSPLAN_VOLUME_RESIZE: case DSPLAN_VOLUME_DELETE:
	case DSPLAN_VOLUME_MOUNT: case DSPLAN_VOLUME_UNMOUNT: case DSPLAN_VOLUME_CLONE: case DSPLAN_VOLUME_CLONE_SPLIT:
		named = under_prefix(s, obj);
		vol = xstrdup(obj);
		break;
	case DSPLAN_LUN_ENSURE: case DSPLAN_LUN_RESIZE: case DSPLAN_LUN_DELETE: case DSPLAN_LUN_MAP_ENSURE:
	case DSPLAN_LUN_MAP_DELETE: case DSPLAN_NAMESPACE_ENSURE: case DSPLAN_NAMESPACE_RESIZE:
	case DSPLAN_NAMESPACE_DELETE: case DSPLAN_NS_MAP_ENSURE: case DSPLAN_NS_MAP_DELETE:
		vol = obj ? volume_of(obj) : NULL;
		named = under_prefix(s, vol);
		break;
	case DSPLAN_IGROUP_ENSURE: case DSPLAN_IGROUP_ADD_INITIATOR: case DSPLAN_IGROUP_REMOVE_INITIATOR:
	case DSPLAN_IGROUP_DELETE: case DSPLAN_SHARE_ENSURE: case DSPLAN_SHARE_DELETE:
	case DSPLAN_SHARE_ACL_ENSURE: case DSPLAN_SHARE_ACL_DELETE:
		named = under_prefix(s, obj);
		if ((op->kind == DSPLAN_SHARE_DELETE || op->kind == DSPLAN_SHARE_ACL_ENSURE ||
		     op->kind == DSPLAN_SHARE_ACL_DELETE) &&
		    (o = json_object_get(fam(st, "shares"), obj)) && !eq_exact(jstr(o, "comment"), s->comment))
			scn_fail(s->r, "op %zu (%s %s) touches a share that is not ours", i + 1, kind, obj);
		break;
	default: /* subsystem, export policy and rules: the prefix itself */
		named = eq_exact(obj, s->prefix);
		break;
	}
	if (!named)
		scn_fail(s->r, "op %zu (%s %s) is not about one of our names", i + 1, kind, obj ? obj : "?");
	if (vol && (o = json_object_get(fam(st, "volumes"), vol)) && !eq_exact(jstr(o, "comment"), s->comment))
		scn_fail(s->r, "op %zu (%s %s) touches volume %s, which is not ours", i + 1, kind, obj, vol);
	if (obj && (o = json_object_get(fam(st, "luns"), obj)) && !eq_exact(jstr(o, "comment"), s->comment))
		scn_fail(s->r, "op %zu (%s) touches LUN %s, which is not ours", i + 1, kind, obj);
	{
		const char *ig = op->kind == DSPLAN_LUN_MAP_ENSURE || op->kind == DSPLAN_LUN_MAP_DELETE ? op->target
				 : (op->kind >= DSPLAN_IGROUP_ENSURE && op->kind <= DSPLAN_IGROUP_DELETE) ? obj
													  : NULL;
		if (ig && (o = json_object_get(fam(st, "igroups"), ig)) && !eq_exact(jstr(o, "comment"), s->comment))
			scn_fail(s->r, "op %zu (%s) touches igroup %s, which is not ours", i + 1, kind, ig);
		if (ig && !under_prefix(s, ig))
			scn_fail(s->r, "op %zu (%s) touches igroup %s, which is not under the prefix", i + 1, kind, ig);
	}
	{
		const char *sub = op->kind == DSPLAN_NS_MAP_ENSURE || op->kind == DSPLAN_NS_MAP_DELETE ? op->target
				  : (op->kind >= DSPLAN_SUBSYSTEM_ENSURE && op->kind <= DSPLAN_SUBSYSTEM_DELETE) ? obj
														  : NULL;
		if (sub && (o = json_object_get(fam(st, "subsystems"), sub)) && !eq_exact(jstr(o, "comment"), s->comment))
			scn_fail(s->r, "op %zu (%s) touches subsystem %s, which is not ours", i + 1, kind, sub);
	}
}

static char *name2(const char *a, const char *b, const char *c);

static void check_destructive(struct sim *s, json_t *st, const struct dsplan_op *op, size_t i)
{
	const char *kind = dsplan_op_name(op->kind);
	json_t *o;

	if (op->kind == DSPLAN_VOLUME_DELETE || op->kind == DSPLAN_LUN_DELETE || op->kind == DSPLAN_NAMESPACE_DELETE) {
		const struct premoval *r = op->datastore ? rem_find(s, op->datastore) : NULL;
		if (!r || !r->destroy || r->n_attached || ds_find(s, r->name))
			scn_fail(s->r, "op %zu (%s %s) deletes data nobody asked to destroy", i + 1, kind, op->object);
	}
	if (op->kind == DSPLAN_VOLUME_RESIZE || op->kind == DSPLAN_LUN_RESIZE || op->kind == DSPLAN_NAMESPACE_RESIZE) {
		const char *f = op->kind == DSPLAN_VOLUME_RESIZE ? "volumes" : op->kind == DSPLAN_LUN_RESIZE ? "luns" : "namespaces";
		const struct ds_spec *ds = op->datastore ? ds_find(s, op->datastore) : NULL;
		o = json_object_get(fam(st, f), op->object);
		if (!o && ds && ds->clone.parent) {
			/* a clone being made in this plan: it gets the parent's volume and LUN sizes */
			_cleanup_free_ char *vol = name2(s->prefix, "_", ds->name), *pvol = name2(s->prefix, "_", ds->clone.parent);
			const char *at = strstr(op->object, vol);
			char parent_obj[512];
			if (at) {
				snprintf(parent_obj, sizeof(parent_obj), "%.*s%s%s", (int)(at - op->object), op->object, pvol,
					 at + strlen(vol));
				o = json_object_get(fam(st, f), parent_obj);
			}
		}
		if (!o || op->size <= jsize(o))
			scn_fail(s->r, "op %zu (%s %s to %" PRIu64 ") is not a growth (now %" PRIu64 ")", i + 1, kind,
				 op->object, op->size, o ? jsize(o) : 0);
	}
}

/* The input node whose igroup this is, or NULL. */
static const struct pnode *node_of_igroup(struct sim *s, const char *igroup)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		_cleanup_free_ char *ig = dsplan_igroup_name(s->prefix, s->nodes[i].name);
		if (eq_exact(ig, igroup))
			return &s->nodes[i];
	}
	return NULL;
}

static bool spec_has_protocol(struct sim *s, enum ds_protocol p)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (s->ds[i].protocol == p)
			return true;
	return false;
}

/* Another node than n reports initiator name x too (cloned hosts), by the plan's equality. */
static bool name_cloned(struct sim *s, const struct pnode *n, const char *x, bool nqn)
{
	for (size_t k = 0; x && k < s->n_nodes; k++) {
		const struct pnode *o = &s->nodes[k];
		if (o == n)
			continue;
		if (nqn ? eq_exact(o->nqn, x) : o->iqn && eq_initiator(o->iqn, x))
			return true;
		for (size_t w = 0; !nqn && w < o->n_wwpns; w++)
			if (eq_initiator(o->wwpns[w], x))
				return true;
	}
	return false;
}

/* A name that some node reports and another node too. */
static bool shared_name(struct sim *s, const char *x, bool nqn)
{
	for (size_t k = 0; x && k < s->n_nodes; k++) {
		const struct pnode *n = &s->nodes[k];
		bool has = nqn ? eq_exact(n->nqn, x) : n->iqn && eq_initiator(n->iqn, x);
		for (size_t w = 0; !nqn && !has && w < n->n_wwpns; w++)
			has = eq_initiator(n->wwpns[w], x);
		if (has && name_cloned(s, n, x, nqn))
			return true;
	}
	return false;
}

/*
 * Access is never taken from a node whose name for it is not known (its section is gone while
 * it is out of the view) or that is fenced, and never given back to a fenced node.
 */
static void check_access(struct sim *s, const struct dsplan_op *op, size_t i)
{
	const char *kind = dsplan_op_name(op->kind), *t = op->target;
	const struct pnode *n = NULL;
	bool all_nqn = true, all_addr = true;

	for (size_t k = 0; k < s->n_nodes; k++) {
		all_nqn &= s->nodes[k].nqn != NULL;
		all_addr &= s->nodes[k].n_addrs > 0;
	}
	switch (op->kind) {
	case DSPLAN_IGROUP_REMOVE_INITIATOR:
		if (!(n = node_of_igroup(s, op->object)) || !t)
			break;
		if (n->fenced)
			scn_fail(s->r, "op %zu (%s %s) takes from fenced node %s", i + 1, kind, t, n->name);
		if (is_iscsi_name(t) ? spec_has_protocol(s, DS_PROTO_ISCSI) && !n->iqn
				     : spec_has_protocol(s, DS_PROTO_FC) && !n->n_wwpns)
			scn_fail(s->r, "op %zu (%s %s): node %s has not said what its name is", i + 1, kind, t, n->name);
		break;
	case DSPLAN_SUBSYSTEM_REMOVE_HOST:
		if (shared_name(s, t, true))
			break; /* a cloned NQN: kept off the array, whatever else is unknown */
		for (size_t k = 0; k < s->n_nodes; k++)
			if (eq_exact(s->nodes[k].nqn, t))
				scn_fail(s->r, "op %zu (%s) removes node %s's NQN", i + 1, kind, s->nodes[k].name);
		if (!all_nqn)
			scn_fail(s->r, "op %zu (%s %s) while a node's NQN is unknown", i + 1, kind, t);
		break;
	case DSPLAN_EXPORT_RULE_DELETE:
		for (size_t k = 0; k < s->n_nodes; k++)
			for (size_t a = 0; a < s->nodes[k].n_addrs; a++)
				if (eq_exact(s->nodes[k].addrs[a], t))
					scn_fail(s->r, "op %zu (%s) removes node %s's rule", i + 1, kind, s->nodes[k].name);
		if (!all_addr)
			scn_fail(s->r, "op %zu (%s %s) while a node's addresses are unknown", i + 1, kind, t);
		break;
	case DSPLAN_LUN_MAP_DELETE:
	case DSPLAN_NS_MAP_DELETE: {
		_cleanup_free_ char *vol = volume_of(op->object);
		const char *name = vol && under_prefix(s, vol) ? vol + strlen(s->prefix) + 1 : NULL;
		const struct ds_spec *ds = name ? ds_find(s, name) : NULL;
		const struct premoval *rm = name && !ds ? rem_find(s, name) : NULL;
		n = op->kind == DSPLAN_LUN_MAP_DELETE ? node_of_igroup(s, t) : NULL;
		if (ds && (n || op->kind == DSPLAN_NS_MAP_DELETE))
			scn_fail(s->r, "op %zu (%s) unmaps datastore %s%s%s", i + 1, kind, ds->name, n ? " from node " : "",
				 n ? n->name : "");
		/* a removal still attached keeps its maps, except to a node that left the spec */
		if (rm && rm->n_attached && (n || op->kind == DSPLAN_NS_MAP_DELETE))
			scn_fail(s->r, "op %zu (%s %s) unmaps removed datastore %s, still attached on %s", i + 1, kind,
				 t ? t : "", rm->name, rm->attached[0]);
		break;
	}
	case DSPLAN_IGROUP_ENSURE:
	case DSPLAN_IGROUP_ADD_INITIATOR:
		if ((n = node_of_igroup(s, op->object)) && n->fenced)
			scn_fail(s->r, "op %zu (%s %s) gives fenced node %s access", i + 1, kind, op->object, n->name);
		if (op->kind == DSPLAN_IGROUP_ADD_INITIATOR && shared_name(s, t, false))
			scn_fail(s->r, "op %zu (%s %s) gives a name two nodes share", i + 1, kind, t);
		for (size_t m = 0; op->kind == DSPLAN_IGROUP_ENSURE && m < op->n_members; m++)
			if (shared_name(s, op->members[m], false))
				scn_fail(s->r, "op %zu (%s) gives %s, a name two nodes share", i + 1, kind, op->members[m]);
		break;
	case DSPLAN_SUBSYSTEM_ENSURE:
	case DSPLAN_SUBSYSTEM_ADD_HOST:
	case DSPLAN_EXPORT_RULE_ENSURE:
		if (op->kind == DSPLAN_SUBSYSTEM_ADD_HOST && shared_name(s, t, true))
			scn_fail(s->r, "op %zu (%s %s) gives an NQN two nodes share", i + 1, kind, t);
		for (size_t m = 0; op->kind == DSPLAN_SUBSYSTEM_ENSURE && m < op->n_members; m++)
			if (shared_name(s, op->members[m], true))
				scn_fail(s->r, "op %zu (%s) gives %s, an NQN two nodes share", i + 1, kind, op->members[m]);
		for (size_t k = 0; k < s->n_nodes; k++) {
			const struct pnode *f = &s->nodes[k];
			bool gives = false;
			if (!f->fenced)
				continue;
			if (op->kind == DSPLAN_SUBSYSTEM_ENSURE)
				for (size_t m = 0; m < op->n_members; m++)
					gives |= eq_exact(op->members[m], f->nqn);
			else if (op->kind == DSPLAN_SUBSYSTEM_ADD_HOST)
				gives = eq_exact(t, f->nqn);
			else
				for (size_t a = 0; a < f->n_addrs; a++)
					gives |= eq_exact(t, f->addrs[a]);
			if (gives)
				scn_fail(s->r, "op %zu (%s) gives fenced node %s access", i + 1, kind, f->name);
		}
		break;
	default:
		break;
	}
}

/* Performs ops[from..to) of p on st in order, wave by wave, reversed within each wave when
 * `reverse`; every op must change st. Returns false (after scn_fail) when one does not. */
static bool run_ops(struct sim *s, json_t *st, const struct dsplan *p, size_t to, bool reverse, const char *what)
{
	for (size_t lo = 0; lo < to;) {
		size_t hi = lo;
		while (hi < to && p->ops[hi].wave == p->ops[lo].wave)
			hi++;
		for (size_t k = 0; k < hi - lo; k++) {
			size_t i = reverse ? hi - 1 - k : lo + k;
			_cleanup_free_ char *why = NULL;
			int rc = apply(s, st, &p->ops[i], &why);
			if (rc != APPLIED) {
				scn_fail(s->r, "%s: op %zu (%s %s%s%s) %s", what, i + 1, dsplan_op_name(p->ops[i].kind),
					 p->ops[i].object, p->ops[i].target ? " " : "", p->ops[i].target ? p->ops[i].target : "",
					 rc == ADOPTED ? "changes nothing: a duplicate" : why);
				return false;
			}
		}
		lo = hi;
	}
	return true;
}

/* Performs every op of p on st in an order the executor may take: the ops it waits for done,
 * the latest-planned ready op first; every op must change st. False (after scn_fail) when one
 * does not. */
static bool run_dataflow(struct sim *s, json_t *st, const struct dsplan *p)
{
	bool *done = xcalloc(p->n_ops ? p->n_ops : 1, sizeof(bool)), ok = true;

	for (size_t n = 0; n < p->n_ops && ok; n++) {
		size_t i = p->n_ops;
		for (size_t j = p->n_ops; j-- > 0 && i == p->n_ops;) {
			bool ready = !done[j];
			for (size_t k = 0; ready && k < p->ops[j].n_after; k++)
				ready = done[p->ops[j].after[k]];
			if (ready)
				i = j;
		}
		if (i == p->n_ops) {
			scn_fail(s->r, "as soon as their dependencies allow: %zu op(s) never become ready", p->n_ops - n);
			ok = false;
		} else {
			_cleanup_free_ char *why = NULL;
			int rc = apply(s, st, &p->ops[i], &why);
			if (rc != APPLIED) {
				scn_fail(s->r, "as soon as their dependencies allow: op %zu (%s %s%s%s) %s", i + 1,
					 dsplan_op_name(p->ops[i].kind), p->ops[i].object, p->ops[i].target ? " " : "",
					 p->ops[i].target ? p->ops[i].target : "",
					 rc == ADOPTED ? "changes nothing: a duplicate" : why);
				ok = false;
			}
			done[i] = true;
		}
	}
	free(done);
	return ok;
}

/* Equal states; the LUN numbers ONTAP chose depend on the order maps were made, and are not
 * part of what the plan decides. */
static bool state_equal(json_t *a, json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b), *maps, *m;
	const char *k, *g;
	bool eq;

	for (json_t *st = x; st; st = st == x ? y : NULL)
		json_object_foreach(fam(st, "lun_maps"), k, maps)
			json_object_foreach(maps, g, m)
				json_integer_set(m, 0);
	eq = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The plan on st is exactly p's ops minus `done` (done[i] true: performed). */
static void check_rest(struct sim *s, json_t *st, const struct dsplan *p, const bool *done, const char *what)
{
	struct dsplan *q = compute(s, st);
	char **want = xcalloc(p->n_ops, sizeof(char *)), **have = xcalloc(q->n_ops, sizeof(char *));
	size_t nw = 0;

	for (size_t i = 0; i < p->n_ops; i++)
		if (!done[i])
			want[nw++] = op_key(&p->ops[i]);
	for (size_t i = 0; i < q->n_ops; i++)
		have[i] = op_key(&q->ops[i]);
	qsort(want, nw, sizeof(char *), key_cmp);
	qsort(have, q->n_ops, sizeof(char *), key_cmp);
	for (size_t i = 0, j = 0; i < nw || j < q->n_ops;) {
		int c = i == nw ? 1 : j == q->n_ops ? -1 : strcmp(want[i], have[j]);
		if (c < 0)
			scn_fail(s->r, "%s: the new plan lacks %s", what, want[i++]);
		else if (c > 0)
			scn_fail(s->r, "%s: the new plan has %s, which is not left from the old one", what, have[j++]);
		else
			i++, j++;
	}
	strv_free(want, nw);
	strv_free(have, q->n_ops);
	dsplan_free(q);
}

/* Every invariant of a plan p computed from st (see the top of this file). */
static void check_plan(struct sim *s, json_t *st, const struct dsplan *p)
{
	json_t *fwd = json_deep_copy(st), *rev = json_deep_copy(st), *flow = json_deep_copy(st);
	bool *done = xcalloc(p->n_ops, sizeof(bool));

	for (size_t i = 0; i < p->n_ops; i++) {
		unsigned w = 0;

		check_ownership(s, st, &p->ops[i], i);
		check_destructive(s, st, &p->ops[i], i);
		check_access(s, &p->ops[i], i);
		if (i && p->ops[i].wave < p->ops[i - 1].wave)
			scn_fail(s->r, "op %zu is in wave %u, after wave %u", i + 1, p->ops[i].wave, p->ops[i - 1].wave);
		for (size_t k = 0; k < p->ops[i].n_after; k++) {
			size_t j = p->ops[i].after[k];
			if (j >= p->n_ops || p->ops[j].wave >= p->ops[i].wave)
				scn_fail(s->r, "op %zu (wave %u) waits for op %zu, not of an earlier wave", i + 1,
					 p->ops[i].wave, j + 1);
			else if (p->ops[j].wave + 1 > w)
				w = p->ops[j].wave + 1;
		}
		if (w != p->ops[i].wave)
			scn_fail(s->r, "op %zu is in wave %u, but what it waits for ends in wave %d", i + 1,
				 p->ops[i].wave, (int)w - 1);
	}
	if (p->n_ops && (p->n_waves != p->ops[p->n_ops - 1].wave + 1 || p->ops[0].wave != 0))
		scn_fail(s->r, "the plan says %u waves; its ops span %u..%u", p->n_waves, p->ops[0].wave,
			 p->ops[p->n_ops - 1].wave);
	if (run_ops(s, fwd, p, p->n_ops, false, "in plan order") &&
	    run_ops(s, rev, p, p->n_ops, true, "each wave in reverse order")) {
		struct dsplan *q;
		if (!state_equal(fwd, rev))
			scn_fail(s->r, "the ops of a wave are not independent: plan order and reverse order end differently");
		if (run_dataflow(s, flow, p) && !state_equal(fwd, flow))
			scn_fail(s->r, "as soon as their dependencies allow, the ops end differently than in plan order");
		q = compute(s, fwd);
		if (q->n_ops) {
			_cleanup_free_ char *k = op_key(&q->ops[0]);
			scn_fail(s->r, "not idempotent: after performing the plan, %zu op(s) are left, first %s", q->n_ops, k);
		}
		dsplan_free(q);
		/* resumability: prefixes, then every other op of each wave */
		for (size_t k = 0; k < p->n_ops && !scn_failed(s->r); k++) {
			size_t step = p->n_ops > PREFIX_CHECKS ? (p->n_ops + PREFIX_CHECKS - 1) / PREFIX_CHECKS : 1;
			json_t *part;
			_cleanup_free_ char *what = NULL;
			if (k % step)
				continue;
			part = json_deep_copy(st);
			for (size_t i = 0; i < p->n_ops; i++)
				done[i] = i < k;
			for (size_t i = 0; i < k; i++) {
				char *why = NULL;
				apply(s, part, &p->ops[i], &why);
				free(why);
			}
			if (asprintf(&what, "after the first %zu op(s)", k) < 0)
				abort();
			if (k)
				check_rest(s, part, p, done, what);
			json_decref(part);
		}
		for (unsigned w = 0; w < p->n_waves && !scn_failed(s->r); w++) {
			json_t *part = json_deep_copy(st);
			_cleanup_free_ char *what = NULL;
			size_t pos = 0;
			for (size_t i = 0; i < p->n_ops; i++) {
				done[i] = p->ops[i].wave < w || (p->ops[i].wave == w && pos++ % 2 == 1);
				if (done[i]) {
					char *why = NULL;
					apply(s, part, &p->ops[i], &why);
					free(why);
				}
			}
			if (asprintf(&what, "after waves 0..%u and every other op of wave %u", w, w) < 0)
				abort();
			check_rest(s, part, p, done, what);
			json_decref(part);
		}
	}
	free(done);
	json_decref(fwd);
	json_decref(rev);
	json_decref(flow);
}

/* A plan of the inputs and ONTAP now, its invariants checked. Owned. */
static struct dsplan *plan_now(struct sim *s)
{
	struct dsplan *p = compute(s, s->ontap);

	check_plan(s, s->ontap, p);
	return p;
}

/* ---- header ----------------------------------------------------------------------------- */

static int set_cluster(struct sim *s, const char *name, const char *id)
{
	free(s->prefix);
	free(s->cluster_id);
	free(s->comment);
	if (!(s->prefix = dsplan_prefix(name)) || !(s->cluster_id = strdup(id)) || asprintf(&s->comment, "kvmcd:%s", id) < 0)
		abort();
	return 0;
}

static int hd_cluster(void *d, struct scn *r, const char *verb, const char *args)
{
	char name[128], id[128];

	args = scn_word(args, name, sizeof(name));
	args = scn_word(args, id, sizeof(id));
	if (!*name || !*id || *args)
		return -EINVAL;
	return set_cluster(d, name, id);
}

/* ---- statements ------------------------------------------------------------------------- */

#define BAD(...) do { scn_fail(r, __VA_ARGS__); return -EINVAL; } while (0)

static int st_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[128], key[32];
	struct pnode *n;

	args = scn_word(args, name, sizeof(name));
	if (!*name)
		BAD("node: a name is needed");
	if (!(n = node_find(s, name))) {
		if (!(s->nodes = realloc(s->nodes, (s->n_nodes + 1) * sizeof(*s->nodes))))
			abort();
		n = &s->nodes[s->n_nodes++];
		*n = (struct pnode){ .name = xstrdup(name) };
	}
	while (*args) {
		char val[1024];
		args = scn_word(args, key, sizeof(key));
		if (!strcmp(key, "fenced") || !strcmp(key, "unfenced")) {
			n->fenced = key[0] == 'f';
			continue;
		}
		args = scn_word(args, val, sizeof(val));
		if (!*val)
			BAD("node %s: %s needs a value", name, key);
		if (!strcmp(key, "iqn")) {
			free(n->iqn);
			n->iqn = strcmp(val, "-") ? xstrdup(val) : NULL;
		} else if (!strcmp(key, "nqn")) {
			free(n->nqn);
			n->nqn = strcmp(val, "-") ? xstrdup(val) : NULL;
		} else if (!strcmp(key, "wwpns")) {
			strv_free(n->wwpns, n->n_wwpns);
			n->wwpns = split_list(val, &n->n_wwpns);
		} else if (!strcmp(key, "addresses")) {
			strv_free(n->addrs, n->n_addrs);
			n->addrs = split_list(val, &n->n_addrs);
		} else {
			BAD("node %s: unknown field %s", name, key);
		}
	}
	return 0;
}

static void node_clear(struct pnode *n)
{
	free(n->name);
	free(n->iqn);
	free(n->nqn);
	strv_free(n->wwpns, n->n_wwpns);
	strv_free(n->addrs, n->n_addrs);
}

static int st_remove_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	struct pnode *n = node_find(s, args);

	if (!n)
		BAD("remove-node: no node \"%s\"", args);
	node_clear(n);
	memmove(n, n + 1, (size_t)(&s->nodes[s->n_nodes] - (n + 1)) * sizeof(*n));
	s->n_nodes--;
	return 0;
}

/* A datastore entry as the plan needs it: name, protocol, size (the spec's own parser is
 * ds_spec_list(); this reads only what the plan uses). */
static int st_datastore(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	json_error_t e;
	json_t *j = json_loads(args, 0, &e), *size;
	const char *name = jstr(j, "name"), *proto = jstr(j, "protocol");
	struct ds_spec n = { 0 }, *have;

	if (!j || !name || !proto || proto_of(proto, &n.protocol) < 0) {
		json_decref(j);
		BAD("datastore: need {\"name\",\"protocol\",\"size\"}: %s", j ? "a field is missing or wrong" : e.text);
	}
	size = json_object_get(j, "size");
	if (json_is_integer(size) && json_integer_value(size) > 0)
		n.size = (uint64_t)json_integer_value(size);
	else if (!json_is_string(size) || parse_size(json_string_value(size), &n.size) < 0) {
		json_decref(j);
		BAD("datastore: bad size");
	}
	n.name = xstrdup(name);
	if (jstr(json_object_get(j, "smb"), "user"))
		n.smb.user = xstrdup(jstr(json_object_get(j, "smb"), "user"));
	if (jstr(json_object_get(j, "clone"), "parent") && jstr(json_object_get(j, "clone"), "snapshot")) {
		n.clone.parent = xstrdup(jstr(json_object_get(j, "clone"), "parent"));
		n.clone.snapshot = xstrdup(jstr(json_object_get(j, "clone"), "snapshot"));
		n.clone.split = json_is_true(json_object_get(json_object_get(j, "clone"), "split"));
	}
	json_decref(j);
	if ((have = ds_find(s, n.name))) {
		free((char *)have->name);
		free((char *)have->smb.user);
		free((char *)have->clone.parent);
		free((char *)have->clone.snapshot);
		*have = n;
		return 0;
	}
	if (!(s->ds = realloc(s->ds, (s->n_ds + 1) * sizeof(*s->ds))))
		abort();
	s->ds[s->n_ds++] = n;
	return 0;
}

static int st_remove_datastore(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[128], w[32], list[1024];
	struct ds_spec *ds;
	struct premoval *rm;

	args = scn_word(args, name, sizeof(name));
	if (!(ds = ds_find(s, name)))
		BAD("remove-datastore: no datastore \"%s\" in the spec", name);
	if ((rm = rem_find(s, name))) { /* removed before, re-added, removed again */
		free(rm->name);
		strv_free(rm->attached, rm->n_attached);
		memmove(rm, rm + 1, (size_t)(&s->rem[s->n_rem] - (rm + 1)) * sizeof(*rm));
		s->n_rem--;
	}
	if (!(s->rem = realloc(s->rem, (s->n_rem + 1) * sizeof(*s->rem))))
		abort();
	rm = &s->rem[s->n_rem++];
	*rm = (struct premoval){ .name = xstrdup(name), .protocol = ds->protocol, .size = ds->size };
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		if (!strcmp(w, "destroy-data")) {
			rm->destroy = true;
		} else if (!strcmp(w, "attached")) {
			args = scn_word(args, list, sizeof(list));
			strv_free(rm->attached, rm->n_attached);
			rm->attached = split_list(list, &rm->n_attached);
		} else {
			BAD("remove-datastore: unknown word %s", w);
		}
	}
	free((char *)ds->name);
	free((char *)ds->smb.user);
	free((char *)ds->clone.parent);
	free((char *)ds->clone.snapshot);
	memmove(ds, ds + 1, (size_t)(&s->ds[s->n_ds] - (ds + 1)) * sizeof(*ds));
	s->n_ds--;
	return 0;
}

static int st_attached(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[128], list[1024];
	struct premoval *rm;

	args = scn_word(args, name, sizeof(name));
	args = scn_word(args, list, sizeof(list));
	if (!(rm = rem_find(s, name)) || !*list)
		BAD("attached: no removal \"%s\" (or no list)", name);
	strv_free(rm->attached, rm->n_attached);
	rm->attached = split_list(list, &rm->n_attached);
	return 0;
}

static int st_reader(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (!strcmp(args, "no-export-policy"))
		s->unread_policies = true;
	else if (!strcmp(args, "full"))
		s->unread_policies = false;
	else
		BAD("reader no-export-policy|full");
	return 0;
}

static int st_svm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32], list[256];
	size_t n;
	char **v;

	args = scn_word(args, w, sizeof(w));
	if (!strcmp(w, "unknown")) {
		s->serves_known = false;
		return 0;
	}
	args = scn_word(args, list, sizeof(list));
	if (strcmp(w, "serves") || *args)
		BAD("svm serves P1,P2 | svm unknown");
	v = split_list(list, &n);
	memset(s->serves, 0, sizeof(s->serves));
	s->serves_known = true;
	for (size_t i = 0; i < n; i++) {
		enum ds_protocol p;
		if (proto_of(v[i], &p) < 0) {
			scn_fail(r, "svm: unknown protocol %s", v[i]);
			strv_free(v, n);
			return -EINVAL;
		}
		s->serves[p] = true;
	}
	strv_free(v, n);
	return 0;
}

/* [comment C|none] [junction J] [policy P] after an ontap object. */
static int ontap_opts(struct sim *s, struct scn *r, const char *args, json_t *o, bool volume)
{
	char k[32], v[512];

	json_object_set_new(o, "comment", json_string(s->comment));
	while (*args) {
		args = scn_word(args, k, sizeof(k));
		args = scn_word(args, v, sizeof(v));
		if (!*v)
			BAD("ontap: %s needs a value", k);
		if (!strcmp(k, "comment"))
			json_object_set_new(o, "comment", strcmp(v, "none") ? json_string(v) : json_null());
		else if (volume && !strcmp(k, "junction"))
			json_object_set_new(o, "junction", json_string(v));
		else if (volume && !strcmp(k, "policy"))
			json_object_set_new(o, "policy", json_string(v));
		else
			BAD("ontap: unknown option %s", k);
	}
	return 0;
}

static int st_ontap(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char what[32], a[512], b[1024], c[1024];
	json_t *st = s->ontap, *o;
	uint64_t size;

	args = scn_word(args, what, sizeof(what));
	args = scn_word(args, a, sizeof(a));
	if (!*a)
		BAD("ontap %s: a name is needed", what);
	if (!strcmp(what, "volume") || !strcmp(what, "lun") || !strcmp(what, "namespace")) {
		bool vol = what[0] == 'v';
		args = scn_word(args, b, sizeof(b));
		if (parse_size(b, &size) < 0)
			BAD("ontap %s %s: bad size \"%s\"", what, a, b);
		o = json_pack("{s:I}", "size", (json_int_t)size);
		if (vol) {
			json_object_set_new(o, "junction", json_string(""));
			json_object_set_new(o, "policy", json_string("default"));
		}
		if (ontap_opts(s, r, args, o, vol) < 0) {
			json_decref(o);
			return -EINVAL;
		}
		if (what[0] == 'n')
			json_object_del(o, "comment");
		json_object_set_new(fam(st, vol ? "volumes" : what[0] == 'l' ? "luns" : "namespaces"), a, o);
	} else if (!strcmp(what, "igroup") || !strcmp(what, "subsystem")) {
		bool ig = what[0] == 'i';
		size_t n;
		char **v;
		if (ig)
			args = scn_word(args, b, sizeof(b));
		args = scn_word(args, c, sizeof(c));
		if ((ig && !*b) || !*c)
			BAD("ontap %s %s: %s", what, a, ig ? "PROTOCOL I1,I2|- needed" : "NQN1,NQN2|- needed");
		v = split_list(c, &n);
		o = ig ? json_pack("{s:s,s:o}", "protocol", b, "initiators", sorted_array((const char *const *)v, n))
		       : json_pack("{s:o}", "hosts", sorted_array((const char *const *)v, n));
		strv_free(v, n);
		if (ontap_opts(s, r, args, o, false) < 0) {
			json_decref(o);
			return -EINVAL;
		}
		json_object_set_new(fam(st, ig ? "igroups" : "subsystems"), a, o);
	} else if (!strcmp(what, "lun-map")) {
		args = scn_word(args, b, sizeof(b));
		if (!*b)
			BAD("ontap lun-map PATH IGROUP");
		if (!(o = json_object_get(fam(st, "lun_maps"), a)))
			json_object_set_new(fam(st, "lun_maps"), a, o = json_object());
		json_object_set_new(o, b, json_integer((json_int_t)json_object_size(o)));
	} else if (!strcmp(what, "ns-map")) {
		args = scn_word(args, b, sizeof(b));
		if (!*b)
			BAD("ontap ns-map PATH SUBSYSTEM");
		json_object_set_new(fam(st, "ns_maps"), a, json_string(b));
	} else if (!strcmp(what, "policy")) {
		if (!json_object_get(fam(st, "policies"), a))
			json_object_set_new(fam(st, "policies"), a, json_array());
	} else if (!strcmp(what, "rule")) {
		args = scn_word(args, b, sizeof(b));
		if (!*b || !(o = json_object_get(fam(st, "policies"), a)))
			BAD("ontap rule POLICY CLIENTS (the policy must exist)");
		if (!array_has(o, b, eq_exact))
			array_insert_sorted(o, b);
	} else if (!strcmp(what, "share")) {
		char k[32];
		args = scn_word(args, b, sizeof(b));
		if (!*b)
			BAD("ontap share NAME PATH [comment C|none] [acl USER:TYPE:PERMISSION,...|-]");
		o = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "path", b, "comment", s->comment, "acl", "user", "Everyone",
			      "type", "windows", "permission", "full_control");
		while (*args) {
			args = scn_word(args, k, sizeof(k));
			args = scn_word(args, c, sizeof(c));
			if (!*c) {
				json_decref(o);
				BAD("ontap share: %s needs a value", k);
			}
			if (!strcmp(k, "comment")) {
				json_object_set_new(o, "comment", strcmp(c, "none") ? json_string(c) : json_null());
			} else if (!strcmp(k, "acl")) {
				size_t n;
				char **v = split_list(c, &n);
				json_t *acl = json_array();
				for (size_t j = 0; j < n; j++) {
					char *t = strchr(v[j], ':'), *p = t ? strchr(t + 1, ':') : NULL;
					if (!p) {
						strv_free(v, n);
						json_decref(acl);
						json_decref(o);
						BAD("ontap share: acl entries are USER:TYPE:PERMISSION");
					}
					*t++ = 0;
					*p++ = 0;
					json_array_append_new(acl, json_pack("{s:s,s:s,s:s}", "user", v[j], "type", t, "permission", p));
				}
				strv_free(v, n);
				json_object_set_new(o, "acl", acl);
			} else {
				json_decref(o);
				BAD("ontap share: unknown option %s", k);
			}
		}
		json_object_set_new(fam(st, "shares"), a, o);
	} else if (!strcmp(what, "grow")) {
		static const char *const kinds[][2] = { { "volume", "volumes" }, { "lun", "luns" }, { "namespace", "namespaces" } };
		args = scn_word(args, b, sizeof(b));
		args = scn_word(args, c, sizeof(c));
		if (parse_size(c, &size) < 0)
			BAD("ontap grow KIND NAME SIZE");
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
			if (!strcmp(a, kinds[i][0])) {
				if (!(o = json_object_get(fam(st, kinds[i][1]), b)) || size < jsize(o))
					BAD("ontap grow %s %s: there is none, or it would shrink", a, b);
				json_object_set_new(o, "size", json_integer((json_int_t)size));
				json_object_set_new(s->grown, b, json_integer((json_int_t)size));
				return 0;
			}
		BAD("ontap grow: unknown kind %s", a);
	} else if (!strcmp(what, "drop")) {
		static const char *const kinds[][2] = { { "volume", "volumes" }, { "lun", "luns" }, { "namespace", "namespaces" },
							{ "igroup", "igroups" }, { "subsystem", "subsystems" },
							{ "policy", "policies" }, { "share", "shares" } };
		args = scn_word(args, b, sizeof(b));
		if (!strcmp(a, "rule")) {
			/* one rule of a policy, by its clients: what the storage fence deletes */
			json_t *rules;
			size_t j;
			bool found = false;
			args = scn_word(args, c, sizeof(c));
			if (!*c || !(rules = json_object_get(fam(st, "policies"), b)))
				BAD("ontap drop rule POLICY CLIENTS (the policy must exist)");
			for (j = 0; j < json_array_size(rules) && !found; j++)
				if ((found = eq_exact(json_string_value(json_array_get(rules, j)), c)))
					json_array_remove(rules, j);
			if (!found)
				BAD("ontap drop rule %s %s: there is none", b, c);
			return 0;
		}
		for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
			if (!strcmp(a, kinds[i][0])) {
				if (json_object_del(fam(st, kinds[i][1]), b) < 0)
					BAD("ontap drop %s %s: there is none", a, b);
				return 0;
			}
		BAD("ontap drop: unknown kind %s", a);
	} else {
		BAD("ontap: unknown object kind %s", what);
	}
	if (*args && strcmp(what, "volume") && strcmp(what, "lun") && strcmp(what, "namespace") && strcmp(what, "igroup") &&
	    strcmp(what, "subsystem"))
		BAD("ontap %s: unexpected \"%s\"", what, args);
	return 0;
}

static void trace_plan(struct sim *s, const struct dsplan *p)
{
	for (size_t i = 0; i < p->n_ops; i++) {
		_cleanup_free_ char *j = dsplan_op_json(&p->ops[i]);
		scn_trace(s->r, "plan op %s", j);
	}
	for (size_t i = 0; i < p->n_blocked; i++)
		scn_trace_json(s->r, "plan", "blocked",
			       json_pack("{s:s,s:s}", "datastore", p->blocked[i].datastore, "why", p->blocked[i].why));
	for (size_t i = 0; i < p->n_waiting; i++)
		scn_trace_json(s->r, "plan", "waiting",
			       json_pack("{s:s,s:s}", "subject", p->waiting[i].subject, "why", p->waiting[i].why));
	for (size_t i = 0; i < p->n_kept_volumes; i++)
		scn_trace_json(s->r, "plan", "kept", json_pack("{s:s}", "volume", p->kept_volumes[i]));
	for (size_t i = 0; i < p->n_cloned; i++)
		scn_trace_json(s->r, "plan", "cloned",
			       json_pack("{s:s,s:s}", "subject", p->cloned[i].subject, "why", p->cloned[i].why));
	scn_trace_json(s->r, "plan", "summary", json_pack("{s:I,s:I}", "ops", (json_int_t)p->n_ops, "waves", (json_int_t)p->n_waves));
}

static int st_plan(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (*args)
		BAD("plan takes no arguments");
	dsplan_free(s->plan);
	s->plan = plan_now(s);
	s->cursor = 0;
	trace_plan(s, s->plan);
	return 0;
}

/*
 * Performs the next n ops of the last plan as the executor may: wave by wave, every op of a
 * wave started; when one fails, the rest of its wave still completes and the plan stops there
 * (the leader reads ONTAP back and plans again). (The executor starts an op as soon as what it
 * waits for is done, so ops of later waves may have started before a failure too: check_plan
 * covers that order.) fail_op (1-based, 0 = none) fails, after
 * taking effect when `applied`. Returns the number of failed ops.
 */
static unsigned perform(struct sim *s, size_t n, size_t fail_op, bool applied, bool trace)
{
	struct dsplan *p = s->plan;
	json_t *adopted = json_array();
	size_t end = n >= p->n_ops - s->cursor ? p->n_ops : s->cursor + n, done = 0, i;
	unsigned failed = 0;
	bool stop = false;

	for (i = s->cursor; i < end; i++) {
		_cleanup_free_ char *why = NULL;
		int rc;
		if (stop && p->ops[i].wave != p->ops[i - 1].wave)
			break;
		if (i + 1 == fail_op) {
			if (applied)
				apply(s, s->ontap, &p->ops[i], &why);
			if (trace)
				scn_trace_json(s->r, "ontap", "failed", json_pack("{s:I,s:b}", "op", (json_int_t)(i + 1), "applied", applied));
			failed++;
			stop = true;
			continue;
		}
		rc = apply(s, s->ontap, &p->ops[i], &why);
		if (rc == REFUSED) {
			if (trace)
				scn_trace_json(s->r, "ontap", "refused",
					       json_pack("{s:I,s:s,s:s,s:s}", "op", (json_int_t)(i + 1), "kind",
							 dsplan_op_name(p->ops[i].kind), "object", p->ops[i].object, "why", why));
			failed++;
			stop = true;
			continue;
		}
		if (rc == ADOPTED)
			json_array_append_new(adopted, json_integer((json_int_t)(i + 1)));
		done++;
	}
	s->cursor = stop ? p->n_ops : i;
	if (trace)
		scn_trace_json(s->r, "ontap", "perform",
			       json_pack("{s:I,s:o,s:I}", "done", (json_int_t)done, "adopted", adopted, "left",
					 (json_int_t)(p->n_ops - i)));
	else
		json_decref(adopted);
	return failed;
}

static int st_perform(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];
	uint64_t n = UINT64_MAX, k = 0;
	bool applied = false;

	if (!s->plan)
		BAD("perform: no plan yet");
	while (*args) {
		args = scn_word(args, w, sizeof(w));
		if (!strcmp(w, "all"))
			n = UINT64_MAX;
		else if (!strcmp(w, "fail")) {
			args = scn_word(args, w, sizeof(w));
			if (scn_parse_u64(w, &k) < 0 || !k)
				BAD("perform: fail K (1-based)");
		} else if (!strcmp(w, "applied") && k)
			applied = true;
		else if (scn_parse_u64(w, &n) < 0)
			BAD("perform [N|all] [fail K [applied]]");
	}
	perform(s, n, k, applied, true);
	return 0;
}

static int st_converge(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t max = 3, ops = 0;
	unsigned rounds = 0;

	if (*args && scn_parse_u64(args, &max) < 0)
		BAD("converge [MAX]");
	for (;;) {
		dsplan_free(s->plan);
		s->plan = plan_now(s);
		s->cursor = 0;
		if (!s->plan->n_ops || scn_failed(r))
			break;
		if (rounds == max) {
			scn_fail(r, "not converged after %u performs: %zu op(s) left", rounds, s->plan->n_ops);
			trace_plan(s, s->plan);
			return 0;
		}
		ops += s->plan->n_ops;
		rounds++;
		if (perform(s, SIZE_MAX, 0, false, false))
			scn_fail(r, "converge: a plan computed from ONTAP's state failed (round %u)", rounds);
	}
	scn_trace_json(r, "plan", "converged", json_pack("{s:I,s:I}", "ops", (json_int_t)ops, "rounds", (json_int_t)rounds));
	return 0;
}

/* ---- expectations ----------------------------------------------------------------------- */

static int ex_plan(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	uint64_t n = 0;

	if (!strcmp(what, "empty-plan")) {
		struct dsplan *p = plan_now(s);
		if (p->n_ops) {
			_cleanup_free_ char *k = dsplan_op_json(&p->ops[0]);
			scn_fail(r, "the plan is not empty: %zu op(s), first %s", p->n_ops, k);
		}
		dsplan_free(p);
		return 0;
	}
	if (scn_parse_u64(args, &n) < 0)
		BAD("expect %s N", what);
	if (!s->plan)
		BAD("expect %s: no plan yet", what);
	if (!strcmp(what, "ops") && s->plan->n_ops != n)
		scn_fail(r, "the last plan has %zu op(s), not %" PRIu64, s->plan->n_ops, n);
	if (!strcmp(what, "waves") && s->plan->n_waves != n)
		scn_fail(r, "the last plan has %u wave(s), not %" PRIu64, s->plan->n_waves, n);
	return 0;
}

static bool matches(const char *re, const char *text)
{
	regex_t x;
	bool m;

	if (regcomp(&x, re, REG_EXTENDED | REG_NOSUB))
		return false;
	m = regexec(&x, text, 0, NULL, 0) == 0;
	regfree(&x);
	return m;
}

static int ex_blocked(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char subject[256];
	const char *re;
	struct dsplan *p;
	bool found = false, waiting = !strcmp(what, "waiting"), want = strcmp(what, "not-blocked") && strcmp(what, "not-cloned");
	bool cloned = !strcmp(what, "cloned") || !strcmp(what, "not-cloned");

	re = scn_word(args, subject, sizeof(subject));
	if (!*subject || (want && !*re))
		BAD("expect %s SUBJECT%s", what, want ? " REGEX" : "");
	p = plan_now(s);
	if (cloned) {
		for (size_t i = 0; i < p->n_cloned && !found; i++)
			found = !strcmp(p->cloned[i].subject, subject) && (!want || matches(re, p->cloned[i].why));
		if (found != want)
			scn_fail(r, "node %s is %scloned%s", subject, found ? "" : "not ", want ? " as expected" : "");
		dsplan_free(p);
		return 0;
	}
	if (waiting) {
		for (size_t i = 0; i < p->n_waiting && !found; i++)
			found = !strcmp(p->waiting[i].subject, subject) && matches(re, p->waiting[i].why);
	} else {
		for (size_t i = 0; i < p->n_blocked && !found; i++)
			found = !strcmp(p->blocked[i].datastore, subject) && (!want || matches(re, p->blocked[i].why));
	}
	if (found != want)
		scn_fail(r, "%s %s is %s%s%s", waiting ? "waiting" : "datastore", subject, found ? "" : "not ",
			 waiting ? "waiting" : "blocked", want ? " as expected" : "");
	dsplan_free(p);
	return 0;
}

static int ex_kept(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	struct dsplan *p = plan_now(s);
	size_t n;
	char **v = split_list(args, &n);
	bool ok = n == p->n_kept_volumes;

	for (size_t i = 0; ok && i < n; i++)
		ok = !strcmp(v[i], p->kept_volumes[i]);
	if (!ok)
		scn_fail(r, "kept volumes: %zu, not as expected (%s)", p->n_kept_volumes, args);
	strv_free(v, n);
	dsplan_free(p);
	return 0;
}

/* A family of the simulated ONTAP as `expect ontap` shows it. */
static json_t *render(struct sim *s, const char *what)
{
	json_t *st = s->ontap, *out = json_object(), *v;
	const char *k;

	if (!strcmp(what, "volumes")) {
		json_object_foreach(fam(st, "volumes"), k, v) {
			json_t *e = json_pack("{s:I}", "size", (json_int_t)jsize(v));
			if (jstr(v, "junction") && *jstr(v, "junction"))
				json_object_set_new(e, "junction", json_string(jstr(v, "junction")));
			if (jstr(v, "policy") && strcmp(jstr(v, "policy"), "default"))
				json_object_set_new(e, "policy", json_string(jstr(v, "policy")));
			if (!eq_exact(jstr(v, "comment"), s->comment))
				json_object_set(e, "comment", json_object_get(v, "comment") ? json_object_get(v, "comment") : json_null());
			json_object_set_new(out, k, e);
		}
	} else if (!strcmp(what, "luns") || !strcmp(what, "namespaces")) {
		json_object_foreach(fam(st, what), k, v)
			json_object_set_new(out, k, json_integer((json_int_t)jsize(v)));
	} else if (!strcmp(what, "igroups")) {
		json_object_foreach(fam(st, "igroups"), k, v)
			json_object_set_new(out, k, json_pack("{s:s?,s:O}", "protocol", jstr(v, "protocol"), "initiators",
							      json_object_get(v, "initiators")));
	} else if (!strcmp(what, "maps")) {
		const char *g;
		json_t *n;
		json_object_foreach(fam(st, "lun_maps"), k, v) {
			json_t *a = json_array();
			json_object_foreach(v, g, n)
				array_insert_sorted(a, g);
			json_object_set_new(out, k, a);
		}
		json_object_foreach(fam(st, "ns_maps"), k, v)
			json_object_set_new(out, k, json_pack("[O]", v));
	} else if (!strcmp(what, "subsystem-hosts")) {
		json_object_foreach(fam(st, "subsystems"), k, v)
			json_object_set(out, k, json_object_get(v, "hosts"));
	} else if (!strcmp(what, "rules")) {
		json_decref(out);
		out = json_deep_copy(fam(st, "policies"));
	} else if (!strcmp(what, "shares")) {
		json_object_foreach(fam(st, "shares"), k, v)
			json_object_set_new(out, k, json_string(jstr(v, "path") ?: ""));
	} else if (!strcmp(what, "acls")) {
		json_t *e;
		size_t j;
		json_object_foreach(fam(st, "shares"), k, v) {
			json_t *a = json_array();
			json_array_foreach(json_object_get(v, "acl"), j, e) {
				_cleanup_free_ char *t = NULL;
				if (asprintf(&t, "%s:%s:%s", jstr(e, "user") ?: "?", jstr(e, "type") ?: "?", jstr(e, "permission") ?: "?") < 0)
					abort();
				json_array_append_new(a, json_string(t));
			}
			json_object_set_new(out, k, a);
		}
	} else {
		json_decref(out);
		return NULL;
	}
	return out;
}

static int ex_ontap(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char fam_name[32];
	json_error_t e;
	json_t *want, *have;

	args = scn_word(args, fam_name, sizeof(fam_name));
	if (!(have = render(s, fam_name)))
		BAD("expect ontap: unknown family %s", fam_name);
	if (!(want = json_loads(args, 0, &e))) {
		json_decref(have);
		BAD("expect ontap %s: bad JSON: %s", fam_name, e.text);
	}
	if (!json_equal(want, have)) {
		_cleanup_free_ char *h = json_dumps(have, JSON_SORT_KEYS | JSON_COMPACT);
		scn_fail(r, "ontap %s is %s", fam_name, h);
	}
	json_decref(want);
	json_decref(have);
	return 0;
}

/* ---- expect converged: the desired state, derived here from the inputs ------------------- */

static char *name2(const char *a, const char *b, const char *c)
{
	char *s;

	if (asprintf(&s, "%s%s%s", a, b, c) < 0)
		abort();
	return s;
}

static bool ours(struct sim *s, json_t *o)
{
	return o && eq_exact(jstr(o, "comment"), s->comment);
}

static bool served(struct sim *s, enum ds_protocol p)
{
	return !s->serves_known || s->serves[p];
}

static bool needs(struct sim *s, enum ds_protocol p)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (s->ds[i].protocol == p && served(s, p))
			return true;
	return false;
}

/* Is this volume name a spec datastore's (vol) or a removal's, and which? */
static const char *ds_of_volume(struct sim *s, const char *vol, bool *removal)
{
	size_t n = strlen(s->prefix);

	*removal = false;
	if (strncmp(vol, s->prefix, n) || vol[n] != '_')
		return NULL;
	if (ds_find(s, vol + n + 1))
		return vol + n + 1;
	if (rem_find(s, vol + n + 1)) {
		*removal = true;
		return vol + n + 1;
	}
	return NULL;
}

/* The size wanted, or more when someone grew it. */
static uint64_t at_least(struct sim *s, const char *name, uint64_t want)
{
	json_t *g = json_object_get(s->grown, name);

	return g && (uint64_t)json_integer_value(g) > want ? (uint64_t)json_integer_value(g) : want;
}

/* Node n has (or is to have) an igroup LUNs are mapped to: one of ours exists, or it has an
 * initiator name the spec's SAN protocols use that no other node shares. */
static bool san_mappable(struct sim *s, const struct pnode *n)
{
	_cleanup_free_ char *ig = dsplan_igroup_name(s->prefix, n->name);
	json_t *o = json_object_get(fam(s->ontap, "igroups"), ig);

	if (o)
		return ours(s, o);
	if (needs(s, DS_PROTO_ISCSI) && n->iqn && !name_cloned(s, n, n->iqn, false))
		return true;
	for (size_t k = 0; needs(s, DS_PROTO_FC) && k < n->n_wwpns; k++)
		if (!name_cloned(s, n, n->wwpns[k], false))
			return true;
	return false;
}

static int ex_converged(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	json_t *st = s->ontap, *v;
	struct dsplan *p = plan_now(s);
	bool san = needs(s, DS_PROTO_ISCSI) || needs(s, DS_PROTO_FC);
	_cleanup_free_ char *vpre = name2("/vol/", s->prefix, "_");
	const char *k;
	json_t *tmp;

	if (p->n_ops)
		scn_fail(r, "not converged: the plan has %zu op(s)", p->n_ops);
	/* every spec datastore, unless something foreign is in its way */
	for (size_t i = 0; i < s->n_ds; i++) {
		const struct ds_spec *ds = &s->ds[i];
		_cleanup_free_ char *vol = name2(s->prefix, "_", ds->name), *junction = name2("/", vol, "");
		_cleanup_free_ char *path = name2("/vol/", vol, ds->protocol == DS_PROTO_NVME_TCP ? "/ns0" : "/lun0");
		json_t *vo = json_object_get(fam(st, "volumes"), vol), *sub = json_object_get(fam(st, "subsystems"), s->prefix);
		bool blocked = false, conflict = !served(s, ds->protocol) || (vo && !ours(s, vo)) ||
						 (ds->protocol == DS_PROTO_NVME_TCP && sub && !ours(s, sub));
		for (size_t j = 0; j < p->n_blocked; j++)
			blocked |= !strcmp(p->blocked[j].datastore, ds->name);
		if (conflict != blocked)
			scn_fail(r, "datastore %s is %sblocked; a conflict is %sthere", ds->name, blocked ? "" : "not ",
				 conflict ? "" : "not ");
		if (conflict)
			continue;
		if (!vo || jsize(vo) != at_least(s, vol, dsplan_volume_size(ds->protocol, ds->size)))
			scn_fail(r, "datastore %s: volume %s %s", ds->name, vol, vo ? "has the wrong size" : "is missing");
		if (vo && !ds_is_block(ds->protocol) &&
		    (!same_str(jstr(vo, "junction"), junction) ||
		     !same_str(jstr(vo, "policy"), ds->protocol == DS_PROTO_NFS ? s->prefix : "default")))
			scn_fail(r, "datastore %s: volume %s is not mounted at %s with the cluster's export policy", ds->name, vol, junction);
		if (vo && ds_is_block(ds->protocol) && jstr(vo, "junction") && *jstr(vo, "junction"))
			scn_fail(r, "datastore %s: block volume %s has a junction", ds->name, vol);
		if (ds->protocol == DS_PROTO_SMB) {
			json_t *sh = json_object_get(fam(st, "shares"), vol), *acl = json_object_get(sh, "acl");
			const char *user = ds->smb.user ? ds->smb.user : "Everyone";
			if (!sh || !same_str(jstr(sh, "path"), junction) || !eq_exact(jstr(sh, "comment"), s->comment))
				scn_fail(r, "datastore %s: share %s missing, foreign or elsewhere", ds->name, vol);
			else if (json_array_size(acl) != 1 || strcasecmp(jstr(json_array_get(acl, 0), "user") ?: "", user) ||
				 !same_str(jstr(json_array_get(acl, 0), "type"), "windows") ||
				 !same_str(jstr(json_array_get(acl, 0), "permission"), "full_control"))
				scn_fail(r, "datastore %s: share %s's ACL is not exactly %s with full control", ds->name, vol, user);
		}
		if (ds->protocol == DS_PROTO_ISCSI || ds->protocol == DS_PROTO_FC) {
			json_t *l = json_object_get(fam(st, "luns"), path), *m = json_object_get(fam(st, "lun_maps"), path);
			if (!ours(s, l) || jsize(l) != at_least(s, path, ds->size))
				scn_fail(r, "datastore %s: LUN %s missing, foreign or of the wrong size", ds->name, path);
			size_t mappable = 0;
			for (size_t j = 0; j < s->n_nodes; j++) {
				_cleanup_free_ char *ig = dsplan_igroup_name(s->prefix, s->nodes[j].name);
				if (!san_mappable(s, &s->nodes[j]))
					continue;
				mappable++;
				if (!json_object_get(m, ig))
					scn_fail(r, "datastore %s: LUN %s is not mapped to %s", ds->name, path, ig);
			}
			if (json_object_size(m) != mappable)
				scn_fail(r, "datastore %s: LUN %s has %zu map(s) for %zu node(s) with an igroup", ds->name,
					 path, json_object_size(m), mappable);
		}
		if (ds->protocol == DS_PROTO_NVME_TCP) {
			json_t *n = json_object_get(fam(st, "namespaces"), path);
			if (!n || jsize(n) != at_least(s, path, ds->size))
				scn_fail(r, "datastore %s: namespace %s missing or of the wrong size", ds->name, path);
			if (!eq_exact(json_string_value(json_object_get(fam(st, "ns_maps"), path)), s->prefix))
				scn_fail(r, "datastore %s: namespace %s is not mapped into %s", ds->name, path, s->prefix);
		}
	}
	/* removals: unmapped; destroyed, or kept and unmounted */
	for (size_t i = 0; i < s->n_rem; i++) {
		const struct premoval *rm = &s->rem[i];
		_cleanup_free_ char *vol = name2(s->prefix, "_", rm->name);
		_cleanup_free_ char *path = name2("/vol/", vol, rm->protocol == DS_PROTO_NVME_TCP ? "/ns0" : "/lun0");
		json_t *vo = json_object_get(fam(st, "volumes"), vol);
		if (ds_find(s, rm->name) || (vo && !ours(s, vo)))
			continue;
		if (rm->n_attached) {
			scn_fail(r, "removal %s: still attached (the check needs every removal detached)", rm->name);
			continue;
		}
		if (lun_mapped(st, path))
			scn_fail(r, "removal %s: %s is still mapped", rm->name, path);
		if (json_object_get(fam(st, "shares"), vol))
			scn_fail(r, "removal %s: share %s is still there", rm->name, vol);
		if (rm->destroy && (vo || json_object_get(fam(st, "luns"), path) || json_object_get(fam(st, "namespaces"), path)))
			scn_fail(r, "removal %s with --destroy-data: its volume or LUN is still there", rm->name);
		if (!rm->destroy && vo && ((jstr(vo, "junction") && *jstr(vo, "junction")) || !same_str(jstr(vo, "policy"), "default")))
			scn_fail(r, "removal %s: kept volume %s is still mounted or exported", rm->name, vol);
	}
	/* nothing else of ours: volumes, LUNs, namespaces */
	json_object_foreach(fam(st, "volumes"), k, v) {
		bool removal;
		if (ours(s, v) && !ds_of_volume(s, k, &removal))
			scn_fail(r, "volume %s is ours but no datastore's", k);
	}
	json_object_foreach_safe(fam(st, "luns"), tmp, k, v) {
		_cleanup_free_ char *vol = volume_of(k);
		bool removal;
		if (!strncmp(k, vpre, strlen(vpre)) && ours(s, v) && (!vol || !ds_of_volume(s, vol, &removal)))
			scn_fail(r, "LUN %s is ours but no datastore's", k);
	}
	/* igroups: one per node with exactly its initiators, while the spec has SAN datastores */
	json_object_foreach(fam(st, "igroups"), k, v) {
		bool mine = false;
		if (!under_prefix(s, k) || !ours(s, v))
			continue;
		for (size_t j = 0; j < s->n_nodes && san; j++) {
			_cleanup_free_ char *ig = dsplan_igroup_name(s->prefix, s->nodes[j].name);
			mine |= !strcmp(ig, k);
		}
		if (!mine && (served(s, DS_PROTO_ISCSI) || served(s, DS_PROTO_FC)))
			scn_fail(r, "igroup %s is ours but no node's (or the spec has no SAN datastore)", k);
	}
	for (size_t j = 0; j < s->n_nodes && san; j++) {
		const struct pnode *n = &s->nodes[j];
		_cleanup_free_ char *ig = dsplan_igroup_name(s->prefix, n->name);
		json_t *o = json_object_get(fam(st, "igroups"), ig), *want = json_array();
		if (o && !ours(s, o)) {
			json_decref(want);
			continue;
		}
		if (needs(s, DS_PROTO_ISCSI) && n->iqn && !name_cloned(s, n, n->iqn, false) &&
		    (!o || initiator_allowed(jstr(o, "protocol"), n->iqn)))
			json_array_append_new(want, json_string(n->iqn));
		for (size_t k2 = 0; needs(s, DS_PROTO_FC) && k2 < n->n_wwpns; k2++)
			if ((!o || initiator_allowed(jstr(o, "protocol"), n->wwpns[k2])) && !name_cloned(s, n, n->wwpns[k2], false) &&
			    !array_has(want, n->wwpns[k2], eq_initiator))
				json_array_append_new(want, json_string(n->wwpns[k2]));
		if (!o ? json_array_size(want) > 0
		       : json_array_size(want) != json_array_size(json_object_get(o, "initiators")))
			scn_fail(r, "node %s: igroup %s %s", n->name, ig, o ? "does not hold exactly its initiators" : "is missing");
		for (size_t k2 = 0; o && k2 < json_array_size(want); k2++)
			if (!array_has(json_object_get(o, "initiators"), json_string_value(json_array_get(want, k2)), eq_initiator))
				scn_fail(r, "node %s: igroup %s lacks %s", n->name, ig, json_string_value(json_array_get(want, k2)));
		json_decref(want);
	}
	/* LUN maps: only those of spec datastores (checked above) */
	json_object_foreach(fam(st, "lun_maps"), k, v) {
		_cleanup_free_ char *vol = volume_of(k);
		bool removal = false;
		if (vol && ds_of_volume(s, vol, &removal) && removal)
			scn_fail(r, "LUN %s of a removed datastore is mapped", k);
	}
	/* the subsystem: every node's NQN while the spec has NVMe */
	{
		json_t *sub = json_object_get(fam(st, "subsystems"), s->prefix);
		if (needs(s, DS_PROTO_NVME_TCP) && (!sub || ours(s, sub))) {
			json_t *want = json_array();
			for (size_t j = 0; j < s->n_nodes; j++)
				if (s->nodes[j].nqn && !name_cloned(s, &s->nodes[j], s->nodes[j].nqn, true) &&
				    !array_has(want, s->nodes[j].nqn, eq_exact))
					array_insert_sorted(want, s->nodes[j].nqn);
			if (!sub || !json_equal(want, json_object_get(sub, "hosts")))
				scn_fail(r, "subsystem %s %s", s->prefix, sub ? "does not hold exactly the nodes' NQNs" : "is missing");
			json_decref(want);
		} else if (sub && ours(s, sub) && served(s, DS_PROTO_NVME_TCP)) {
			scn_fail(r, "subsystem %s is there, the spec has no NVMe datastore", s->prefix);
		}
	}
	/* the export policy: every node's addresses while the spec has NFS */
	{
		json_t *pol = json_object_get(fam(st, "policies"), s->prefix);
		if (needs(s, DS_PROTO_NFS)) {
			json_t *want = json_array();
			for (size_t j = 0; j < s->n_nodes; j++)
				for (size_t k2 = 0; k2 < s->nodes[j].n_addrs; k2++)
					if (!array_has(want, s->nodes[j].addrs[k2], eq_exact))
						array_insert_sorted(want, s->nodes[j].addrs[k2]);
			if (!pol || !json_equal(want, pol))
				scn_fail(r, "export policy %s %s", s->prefix, pol ? "does not hold exactly the nodes' addresses" : "is missing");
			json_decref(want);
		} else if (pol && served(s, DS_PROTO_NFS)) {
			scn_fail(r, "export policy %s is there, the spec has no NFS datastore", s->prefix);
		}
	}
	/* shares: only the spec's SMB datastores' */
	json_object_foreach(fam(st, "shares"), k, v) {
		const struct ds_spec *ds = under_prefix(s, k) ? ds_find(s, k + strlen(s->prefix) + 1) : NULL;
		if (under_prefix(s, k) && (!ds || ds->protocol != DS_PROTO_SMB))
			scn_fail(r, "share %s is no SMB datastore's", k);
	}
	dsplan_free(p);
	return 0;
}

/* ---- random mode ------------------------------------------------------------------------ */

/* A node statement with every field, known or not ("-"). */
static void random_node(struct scn_rng *g, char *buf, size_t size, unsigned id, unsigned gen, unsigned known_pct)
{
	bool iqn = scn_rng_chance(g, known_pct), nqn = scn_rng_chance(g, known_pct);
	bool ww = scn_rng_chance(g, known_pct), ad = scn_rng_chance(g, known_pct);
	char iqn_s[96], nqn_s[96], ww_s[96], ad_s[64];

	snprintf(iqn_s, sizeof(iqn_s), "iqn.1994-05.com.redhat:n%u-%u", id, gen);
	snprintf(nqn_s, sizeof(nqn_s), "nqn.2014-08.org.nvmexpress:uuid:n%u", id);
	snprintf(ww_s, sizeof(ww_s), "0x21000024ff%06u,0x21000024ff%06u", id * 10 + 1, id * 10 + 2);
	snprintf(ad_s, sizeof(ad_s), "10.0.0.%u", id);
	snprintf(buf, size, "node n%u iqn %s nqn %s wwpns %s addresses %s", id, iqn ? iqn_s : "-",
		 nqn ? nqn_s : "-", ww ? ww_s : "-", ad ? ad_s : "-");
}

static const char *random_proto(struct scn_rng *g)
{
	static const char *const p[] = { "iscsi", "iscsi", "fc", "nvme-tcp", "nvme-tcp", "nfs", "nfs", "smb" };
	return p[scn_rng_below(g, ARRAY_SIZE(p))];
}

/* An smb datastore's "smb" member, sometimes: the share's ACL user (one of two, or Everyone). */
static const char *random_smb(struct scn_rng *g, const char *proto)
{
	static const char *const u[] = { "", ",\"smb\":{\"user\":\"LAB\\\\kvm\"}", ",\"smb\":{\"user\":\"LAB\\\\ops\"}" };
	return strcmp(proto, "smb") ? "" : u[scn_rng_below(g, ARRAY_SIZE(u))];
}

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	struct sim *s = d;
	unsigned n = o->nodes ? o->nodes : (unsigned)scn_rng_range(g, 2, 4);
	char buf[512];

	if (scn_header(r, "cluster lab c1") < 0)
		return -EINVAL;
	if (scn_rng_chance(g, 20))
		scn_at(r, 0, "svm serves iscsi,fc,nfs,smb");
	else if (scn_rng_chance(g, 30))
		scn_at(r, 0, "svm serves iscsi,fc,nvme-tcp,nfs,smb");
	if (scn_rng_chance(g, 30))
		scn_at(r, 0, "reader no-export-policy");
	for (unsigned i = 1; i <= n; i++) {
		random_node(g, buf, sizeof(buf), i, 0, 85);
		scn_at(r, 0, "%s", buf);
	}
	s->next_node = n + 1;
	for (unsigned i = 0, k = (unsigned)scn_rng_range(g, 1, 3); i < k; i++)
		scn_at(r, 0, "datastore {\"name\":\"ds%u\",\"protocol\":\"%s\",\"size\":\"%" PRIu64 "G\"}", ++s->next_ds,
		       random_proto(g), scn_rng_range(g, 1, 64));
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);

	*next = scn_rng_range(g, 50, 1500) * MS;
	if (roll < 16) {
		snprintf(buf, size, "plan");
	} else if (roll < 34) {
		if (!s->plan || s->cursor >= s->plan->n_ops) {
			snprintf(buf, size, "plan");
		} else {
			size_t left = s->plan->n_ops - s->cursor;
			unsigned how = (unsigned)scn_rng_below(g, 4);
			if (how == 0)
				snprintf(buf, size, "perform %" PRIu64, scn_rng_range(g, 1, left));
			else if (how == 1)
				snprintf(buf, size, "perform all fail %" PRIu64 "%s", s->cursor + scn_rng_range(g, 1, left),
					 scn_rng_chance(g, 40) ? " applied" : "");
			else
				snprintf(buf, size, "perform all");
		}
	} else if (roll < 44) {
		unsigned id;
		bool reuse = s->n_rem && scn_rng_chance(g, 25);
		if (reuse) { /* a removed datastore comes back (same protocol, not smaller) */
			const struct premoval *rm = &s->rem[scn_rng_below(g, s->n_rem)];
			if (ds_find(s, rm->name))
				return -EAGAIN;
			snprintf(buf, size, "datastore {\"name\":\"%s\",\"protocol\":\"%s\",\"size\":%" PRIu64 "}", rm->name,
				 proto_names[rm->protocol], rm->size + scn_rng_range(g, 0, 4) * (UINT64_C(1) << 30));
			return 0;
		}
		const char *proto = random_proto(g);
		id = ++s->next_ds;
		snprintf(buf, size, "datastore {\"name\":\"ds%u\",\"protocol\":\"%s\",\"size\":\"%" PRIu64 "G\"%s}", id,
			 proto, scn_rng_range(g, 1, 64), random_smb(g, proto));
	} else if (roll < 50 && s->n_ds) {
		const struct ds_spec *ds = &s->ds[scn_rng_below(g, s->n_ds)];
		snprintf(buf, size, "datastore {\"name\":\"%s\",\"protocol\":\"%s\",\"size\":%" PRIu64 "%s}", ds->name,
			 proto_names[ds->protocol], ds->size + scn_rng_range(g, 1, 16) * (UINT64_C(1) << 30),
			 random_smb(g, proto_names[ds->protocol]));
	} else if (roll < 58 && s->n_ds) {
		const struct ds_spec *ds = &s->ds[scn_rng_below(g, s->n_ds)];
		int o = snprintf(buf, size, "remove-datastore %s%s", ds->name, scn_rng_chance(g, 50) ? " destroy-data" : "");
		if (s->n_nodes && scn_rng_chance(g, 50)) {
			o += snprintf(buf + o, size - (size_t)o, " attached ");
			for (size_t i = 0, k = 0; i < s->n_nodes; i++)
				if (scn_rng_chance(g, 60) || (i + 1 == s->n_nodes && !k))
					o += snprintf(buf + o, size - (size_t)o, "%s%s", k++ ? "," : "", s->nodes[i].name);
		}
	} else if (roll < 66 && s->n_rem) {
		const struct premoval *rm = &s->rem[scn_rng_below(g, s->n_rem)];
		int o = snprintf(buf, size, "attached %s ", rm->name);
		size_t k = 0;
		for (size_t i = 0; i + 1 < rm->n_attached; i++) /* one fewer node */
			o += snprintf(buf + o, size - (size_t)o, "%s%s", k++ ? "," : "", rm->attached[i]);
		if (!k)
			snprintf(buf + o, size - (size_t)o, "none");
	} else if (roll < 73) {
		random_node(g, buf, size, s->next_node++, 0, 75);
	} else if (roll < 77 && s->n_nodes > 1) {
		snprintf(buf, size, "remove-node %s", s->nodes[scn_rng_below(g, s->n_nodes)].name);
	} else if (roll < 86 && s->n_nodes) {
		const struct pnode *n = &s->nodes[scn_rng_below(g, s->n_nodes)];
		const struct pnode *o = &s->nodes[scn_rng_below(g, s->n_nodes)];
		unsigned id = (unsigned)strtoul(n->name + 1, NULL, 10);
		/* a cloned host: it publishes another node's IQN or host NQN */
		if (o != n && scn_rng_chance(g, 12) && (o->iqn || o->nqn)) {
			bool iqn = o->iqn && (!o->nqn || scn_rng_chance(g, 50));
			snprintf(buf, size, "node %s %s %s", n->name, iqn ? "iqn" : "nqn", iqn ? o->iqn : o->nqn);
			return 0;
		}
		/* it publishes (again), sometimes with a new IQN (a reinstalled host) */
		random_node(g, buf, size, id, scn_rng_chance(g, 20) ? ++s->iqn_gen : 0, 90);
	} else if (roll < 89 && s->n_nodes) {
		const struct pnode *n = &s->nodes[scn_rng_below(g, s->n_nodes)];
		snprintf(buf, size, "node %s %s", n->name, n->fenced ? "unfenced" : "fenced");
	} else if (roll < 94) {
		/* someone else's volume with a name a datastore may take */
		unsigned id = (unsigned)scn_rng_range(g, 1, s->next_ds + 2);
		char name[64];
		json_t *v;
		snprintf(name, sizeof(name), "ds%u", id);
		v = json_object_get(fam(s->ontap, "volumes"), name);
		if (ds_find(s, name) || rem_find(s, name) || v)
			return -EAGAIN;
		snprintf(buf, size, "ontap volume %s_%s 10G comment %s", s->prefix, name, scn_rng_chance(g, 50) ? "none" : "other");
	} else if (roll < 96) {
		/* an admin grows one of our volumes, LUNs or namespaces behind the plan's back */
		static const char *const kinds[][2] = { { "volume", "volumes" }, { "lun", "luns" }, { "namespace", "namespaces" } };
		unsigned f = (unsigned)scn_rng_below(g, 3);
		json_t *all = fam(s->ontap, kinds[f][1]), *v;
		const char *k;
		size_t n = json_object_size(all), pick;
		if (!n)
			return -EAGAIN;
		pick = scn_rng_below(g, n);
		json_object_foreach(all, k, v)
			if (!pick--) {
				if (f == 0 && !ours(s, v))
					return -EAGAIN;
				snprintf(buf, size, "ontap grow %s %s %" PRIu64, kinds[f][0], k,
					 jsize(v) + (f ? (UINT64_C(64) << 20) : scn_rng_range(g, 1, 8) << 30));
				return 0;
			}
		return -EAGAIN;
	} else if (roll < 98) {
		const char *k;
		json_t *v;
		json_object_foreach(fam(s->ontap, "volumes"), k, v)
			if (!ours(s, v)) {
				snprintf(buf, size, "ontap drop volume %s", k);
				return 0;
			}
		return -EAGAIN;
	} else {
		return -EAGAIN;
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;
	char buf[512];

	/* everyone detaches, is unfenced and has published everything: the desired state is exact */
	for (size_t i = 0; i < s->n_rem; i++)
		if (s->rem[i].n_attached)
			scn_at(r, at, "attached %s none", s->rem[i].name);
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct pnode *n = &s->nodes[i];
		unsigned id = (unsigned)strtoul(n->name + 1, NULL, 10);
		if (n->fenced)
			scn_at(r, at, "node %s unfenced", n->name);
		if (!n->iqn || !n->nqn || !n->n_wwpns || !n->n_addrs) {
			random_node(g, buf, sizeof(buf), id, ++s->iqn_gen, 100);
			scn_at(r, at, "%s", buf);
		}
	}
	scn_at(r, at + 1 * MS, "converge 1");
	scn_at(r, at + 2 * MS, "expect converged");
	return at + 3 * MS;
}

/* ---- the driver ------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->ontap = ontap_new();
	s->grown = json_object();
	set_cluster(s, "lab", "c1");
	return s;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++)
		node_clear(&s->nodes[i]);
	free(s->nodes);
	for (size_t i = 0; i < s->n_ds; i++) {
		free((char *)s->ds[i].name);
		free((char *)s->ds[i].smb.user);
		free((char *)s->ds[i].clone.parent);
		free((char *)s->ds[i].clone.snapshot);
	}
	free(s->ds);
	for (size_t i = 0; i < s->n_rem; i++) {
		free(s->rem[i].name);
		strv_free(s->rem[i].attached, s->rem[i].n_attached);
	}
	free(s->rem);
	json_decref(s->ontap);
	json_decref(s->grown);
	dsplan_free(s->plan);
	free(s->prefix);
	free(s->cluster_id);
	free(s->comment);
	free(s);
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	/* no driver events: everything happens in statements */
}

static const struct scn_statement header[] = {
	{ "cluster", hd_cluster, "NAME ID  prefix kvmcd_NAME, comment kvmcd:ID (default: lab c1)" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "node", st_node, "NAME [iqn X|-] [nqn X|-] [wwpns A,B|-] [addresses A,B|-] [fenced|unfenced]" },
	{ "remove-node", st_remove_node, "NAME  the node leaves the spec" },
	{ "datastore", st_datastore, "JSON  add or replace a datastore entry (name, protocol, size)" },
	{ "remove-datastore", st_remove_datastore, "NAME [destroy-data] [attached N1,N2]  spec entry -> removal" },
	{ "attached", st_attached, "NAME N1,N2|none  who still has removal NAME attached" },
	{ "svm", st_svm, "serves P1,P2 | unknown" },
	{ "reader", st_reader, "no-export-policy|full  whether the leader's ONTAP reader fetches volumes' export policies" },
	{ "ontap", st_ontap, "volume|lun|namespace|igroup|subsystem|lun-map|ns-map|policy|rule|share|grow|drop ...  someone else's change" },
	{ "plan", st_plan, " compute and trace the plan" },
	{ "perform", st_perform, "[N|all] [fail K [applied]]  perform the next ops of the last plan" },
	{ "converge", st_converge, "[MAX]  plan and perform until the plan is empty" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "empty-plan", ex_plan, " the plan computed now is empty" },
	{ "ops", ex_plan, "N  the last plan has N ops" },
	{ "waves", ex_plan, "N  the last plan has N waves" },
	{ "blocked", ex_blocked, "DS REGEX  the plan now blocks DS for a reason matching REGEX" },
	{ "not-blocked", ex_blocked, "DS" },
	{ "waiting", ex_blocked, "SUBJECT REGEX  the plan now waits on SUBJECT" },
	{ "cloned", ex_blocked, "NODE REGEX  the plan now keeps NODE's shared name off the array" },
	{ "not-cloned", ex_blocked, "NODE  the plan does not list NODE as cloned" },
	{ "kept", ex_kept, "V1,V2|none  the plan's kept volumes" },
	{ "ontap", ex_ontap, "volumes|luns|namespaces|igroups|maps|subsystem-hosts|rules|shares|acls JSON" },
	{ "converged", ex_converged, " ONTAP holds exactly the desired state" },
	{ 0 }
};

static const struct scn_driver plan_driver = {
	.name = "plan",
	.summary = "The datastore plan (coord/decide/datastore-plan.c): its inputs and a simulated ONTAP that\n"
		   "performs its operations. See tests/scenario/plan-driver.c for the trace format and the\n"
		   "invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.handle = handle,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&plan_driver, argc, argv);
}
