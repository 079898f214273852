/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ONTAP storage fence and the two-node claim (ontap-fence.h says what and why). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "datastore-plan.h"
#include "macros.h"
#include "ontap-fence.h"
#include "ontap-op.h"
#include <systemd/sd-event.h>

/* ---- names ------------------------------------------------------------------------------- */

static bool under_prefix(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return name && strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '_');
}

static bool node_has_initiator(const struct ontap_fence_node *n, const char *name)
{
	if (!name)
		return false;
	if (n->iqn && dsplan_initiator_eq(n->iqn, name))
		return true;
	for (size_t i = 0; i < n->n_wwpns; i++)
		if (n->wwpns[i] && dsplan_initiator_eq(n->wwpns[i], name))
			return true;
	return false;
}

/* Does an export rule's client match `m` cover address `addr`? An address equal to it (text), or
 * inside it as a subnet (a.b.c.d/len, a.b.c.d/mask, IPv6/len). Host names and netgroups are not
 * resolved: kvmcd writes addresses only, and the node's addresses are all it is known by. */
static bool client_covers(const char *m, const char *addr, bool *exact)
{
	unsigned char net[16], host[16], mask[16];
	const char *slash = strchr(m, '/');
	char buf[64];
	int fam, bits = -1;
	size_t len;

	*exact = !strcasecmp(m, addr);
	if (*exact)
		return true;
	if (!slash || (size_t)(slash - m) >= sizeof(buf))
		return false;
	memcpy(buf, m, slash - m);
	buf[slash - m] = 0;
	fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
	len = fam == AF_INET ? 4 : 16;
	if (inet_pton(fam, buf, net) != 1 || inet_pton(fam, addr, host) != 1)
		return false;
	if (fam == AF_INET && strchr(slash + 1, '.')) {
		if (inet_pton(AF_INET, slash + 1, mask) != 1)
			return false;
	} else {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end || b < 0 || b > (long)len * 8)
			return false;
		bits = (int)b;
		for (size_t i = 0; i < len; i++) {
			int k = bits - (int)i * 8;
			mask[i] = k >= 8 ? 0xff : k <= 0 ? 0 : (unsigned char)(0xff << (8 - k));
		}
	}
	for (size_t i = 0; i < len; i++)
		if ((net[i] & mask[i]) != (host[i] & mask[i]))
			return false;
	return true;
}

/* ---- the pure assessment ------------------------------------------------------------------ */

static const char *js(const json_t *o, const char *dotted)
{
	return jstring(o, dotted);
}

static bool obj_ours(const json_t *rec, const struct ontap_fence_options *o)
{
	const char *c = js(rec, "comment");

	return under_prefix(js(rec, "name"), o->prefix) && (!o->comment || (c && !strcmp(c, o->comment)));
}

static json_t *item(const char *kind, const char *object, const char *member, bool ours, bool cut,
		    json_t *reaches /* taken */, char *why /* taken */)
{
	json_t *it = json_pack("{sssssssbsbsoss}", "kind", kind, "object", object ?: "", "member", member ?: "",
			       "ours", ours, "cut", cut, "reaches", reaches ?: json_array(), "why", why ?: "");

	free(why);
	return it;
}

static char *strf(const char *fmt, ...) _printf_(1, 2);
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* "a, b, c" of a string array (at most 4, then "and N more"). Owned. */
static char *join(const json_t *arr)
{
	char *s = strdup(""), *t;
	const json_t *v;
	size_t i, n = json_array_size(arr);

	json_array_foreach(arr, i, v) {
		if (!s)
			return NULL;
		if (i == 4) {
			t = strf("%s and %zu more", s, n - 4);
			free(s);
			return t;
		}
		t = strf("%s%s%s", s, i ? ", " : "", json_string_value(v) ?: "?");
		free(s);
		s = t;
	}
	return s;
}

/* Appends {"path", "item"} to cuts; takes the reference to it and path. */
static int add_cut(json_t *cuts, json_t *it /* taken */, char *path /* taken */)
{
	json_t *c;

	if (!it || !path) {
		json_decref(it);
		free(path);
		return -ENOMEM;
	}
	c = json_pack("{ssso}", "path", path, "item", it);
	free(path);
	return !c || json_array_append_new(cuts, c) < 0 ? -ENOMEM : 0;
}

/* base + "/" + each encoded segment + suffix (owned), NULL on ENOMEM. */
static char *seg_path(const char *base, const char *const *segs, size_t n, const char *suffix)
{
	char *p = strdup(base), *t;

	for (size_t i = 0; p && i < n; i++) {
		_cleanup_free_ char *e = ontap_url_encode(segs[i] ?: "", true);
		t = e ? strf("%s/%s", p, e) : NULL;
		free(p);
		p = t;
	}
	if (p && suffix) {
		t = strf("%s%s", p, suffix);
		free(p);
		p = t;
	}
	return p;
}

static int assess_san(const json_t *probe, const struct ontap_fence_node *n, const struct ontap_fence_options *o,
		      json_t *access, json_t *cuts)
{
	_cleanup_free_ char *own = dsplan_igroup_name(o->prefix, n->name);
	const json_t *ig, *m, *ini;
	size_t i, k;

	if (!own)
		return -ENOMEM;
	json_array_foreach(json_object_get(probe, "igroups"), i, ig) {
		bool ours = obj_ours(ig, o), mine = ours && !strcmp(js(ig, "name") ?: "", own);
		json_t *reaches = json_array();
		_cleanup_free_ char *luns = NULL;

		if (!reaches)
			return -ENOMEM;
		json_array_foreach(json_object_get(probe, "lun_maps"), k, m)
			if ((js(m, "igroup.uuid") && js(ig, "uuid") && !strcmp(js(m, "igroup.uuid"), js(ig, "uuid"))) ||
			    (!js(m, "igroup.uuid") && js(m, "igroup.name") && !strcmp(js(m, "igroup.name"), js(ig, "name") ?: "")))
				json_array_append_new(reaches, json_string(js(m, "lun.name") ?: "?"));
		luns = join(reaches);
		json_array_foreach(json_object_get(ig, "initiators"), k, ini) {
			const char *name = js(ini, "name");
			bool node_name;
			json_t *it;
			char *path = NULL;

			if (!name)
				continue;
			node_name = node_has_initiator(n, name);
			if (!node_name && !mine)
				continue;
			if (!ours && !json_array_size(reaches))
				continue; /* a foreign igroup that maps nothing of kvmcd's reaches nothing of ours */
			it = item(dsplan_is_iscsi_name(name) ? "iscsi" : "fc", js(ig, "name"), name, ours, ours, json_deep_copy(reaches),
				  ours ? strf("igroup %s holds %s%s%s%s", js(ig, "name"), name,
					      node_name ? "" : " (the node's igroup)", json_array_size(reaches) ? ", mapped to " : "",
					      json_array_size(reaches) ? luns ?: "" : "")
				       : strf("igroup %s, which kvmcd did not create, holds %s and maps %s: kvmcd does not change it "
					      "(take %s out of it, or unmap those LUNs from it)", js(ig, "name"), name, luns ?: "",
					      name));
			if (!it || json_array_append(access, it) < 0) {
				json_decref(it);
				json_decref(reaches);
				return -ENOMEM;
			}
			if (ours) /* taking the host out of a mapped igroup is the point */
				path = seg_path("/protocols/san/igroups",
						(const char *const[]){ js(ig, "uuid"), "initiators", name }, 3,
						"?allow_delete_while_mapped=true");
			if (ours && add_cut(cuts, json_incref(it), path) < 0) {
				json_decref(it);
				json_decref(reaches);
				return -ENOMEM;
			}
			json_decref(it);
		}
		json_decref(reaches);
	}
	return 0;
}

static int assess_nvme(const json_t *probe, const struct ontap_fence_node *n, const struct ontap_fence_options *o,
		       json_t *access, json_t *cuts)
{
	const json_t *ss, *m, *h;
	size_t i, k;

	if (!n->nqn)
		return 0;
	json_array_foreach(json_object_get(probe, "subsystems"), i, ss) {
		bool ours = obj_ours(ss, o);
		json_t *reaches = json_array();
		_cleanup_free_ char *nss = NULL;

		if (!reaches)
			return -ENOMEM;
		json_array_foreach(json_object_get(probe, "ns_maps"), k, m)
			if (js(m, "subsystem.uuid") && js(ss, "uuid") ? !strcmp(js(m, "subsystem.uuid"), js(ss, "uuid"))
								      : !strcmp(js(m, "subsystem.name") ?: "", js(ss, "name") ?: "-"))
				json_array_append_new(reaches, json_string(js(m, "namespace.name") ?: "?"));
		nss = join(reaches);
		json_array_foreach(json_object_get(ss, "hosts"), k, h) {
			const char *nqn = js(h, "nqn");
			json_t *it;
			char *path = NULL;

			if (!nqn || strcasecmp(nqn, n->nqn) != 0 || (!ours && !json_array_size(reaches)))
				continue;
			it = item("nvme", js(ss, "name"), nqn, ours, ours, json_deep_copy(reaches),
				  ours ? strf("subsystem %s lists %s%s%s", js(ss, "name"), nqn,
					      json_array_size(reaches) ? ", mapping " : "", json_array_size(reaches) ? nss ?: "" : "")
				       : strf("subsystem %s, which kvmcd did not create, lists %s and maps %s: kvmcd does not "
					      "change it", js(ss, "name"), nqn, nss ?: ""));
			if (!it || json_array_append(access, it) < 0) {
				json_decref(it);
				json_decref(reaches);
				return -ENOMEM;
			}
			if (ours)
				path = seg_path("/protocols/nvme/subsystems",
						(const char *const[]){ js(ss, "uuid"), "hosts", nqn }, 3, NULL);
			if (ours && add_cut(cuts, json_incref(it), path) < 0) {
				json_decref(it);
				json_decref(reaches);
				return -ENOMEM;
			}
			json_decref(it);
		}
		json_decref(reaches);
	}
	return 0;
}

/* Does the rule let a matching client in at all (some ro or rw flavour other than never)? */
static bool rule_grants(const json_t *rule)
{
	const char *keys[] = { "ro_rule", "rw_rule" };
	bool any = false;

	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const json_t *a = json_object_get(rule, keys[k]), *v;
		size_t i;
		if (!json_is_array(a))
			return true; /* not read: assume it does */
		json_array_foreach(a, i, v) {
			any = true;
			if (!json_string_value(v) || strcmp(json_string_value(v), "never") != 0)
				return true;
		}
	}
	return !any;
}

static int assess_nfs(const json_t *probe, const struct ontap_fence_node *n, const struct ontap_fence_options *o,
		      json_t *access, json_t *cuts)
{
	const json_t *pol, *vol, *rule, *cl;
	size_t i, k, j;

	if (!n->n_addresses)
		return 0;
	json_array_foreach(json_object_get(probe, "policies"), i, pol) {
		const char *pname = js(pol, "name");
		bool ours = under_prefix(pname, o->prefix); /* export policies carry no comment */
		json_t *reaches = json_array();
		_cleanup_free_ char *vols = NULL;

		if (!reaches || !pname) {
			json_decref(reaches);
			if (!pname)
				continue;
			return -ENOMEM;
		}
		/* kvmcd's mounted volumes that use this policy: what a matching client reaches */
		json_array_foreach(json_object_get(probe, "volumes"), k, vol)
			if (js(vol, "nas.path") && *js(vol, "nas.path") && js(vol, "nas.export_policy.name") &&
			    !strcmp(js(vol, "nas.export_policy.name"), pname))
				json_array_append_new(reaches, json_string(js(vol, "name") ?: "?"));
		if (!ours && !json_array_size(reaches)) {
			json_decref(reaches);
			continue;
		}
		vols = join(reaches);
		json_array_foreach(json_object_get(pol, "rules"), k, rule) {
			const json_t *clients = json_object_get(rule, "clients");
			if (!rule_grants(rule))
				continue;
			json_array_foreach(clients, j, cl) {
				const char *m = js(cl, "match");
				const char *addr = NULL;
				bool exact = false, cut;
				json_t *it;
				char *path = NULL;

				for (size_t a = 0; m && a < n->n_addresses && !addr; a++)
					if (n->addresses[a] && client_covers(m, n->addresses[a], &exact))
						addr = n->addresses[a];
				if (!addr)
					continue;
				/* kvmcd deletes only the rules it writes: one address, one rule. A subnet or a
				 * rule for several clients would cut others too. */
				cut = ours && exact && json_array_size(clients) == 1;
				it = item("nfs", pname, m, ours, cut, json_deep_copy(reaches),
					  cut ? strf("export rule %" JSON_INTEGER_FORMAT " of policy %s lets %s in%s%s",
						     json_integer_value(json_object_get(rule, "index")), pname, m,
						     json_array_size(reaches) ? " to " : "", json_array_size(reaches) ? vols ?: "" : "")
					      : strf("export rule %" JSON_INTEGER_FORMAT " of policy %s (%s) lets %s in%s%s: "
						     "kvmcd deletes only its own one-address rules",
						     json_integer_value(json_object_get(rule, "index")), pname, m, addr,
						     json_array_size(reaches) ? " to " : "", json_array_size(reaches) ? vols ?: "" : ""));
				if (!it || json_array_append(access, it) < 0) {
					json_decref(it);
					json_decref(reaches);
					return -ENOMEM;
				}
				if (cut) {
					path = strf("/protocols/nfs/export-policies/%" JSON_INTEGER_FORMAT "/rules/%" JSON_INTEGER_FORMAT,
						    json_integer_value(json_object_get(pol, "id")),
						    json_integer_value(json_object_get(rule, "index")));
					if (add_cut(cuts, json_incref(it), path) < 0) {
						json_decref(it);
						json_decref(reaches);
						return -ENOMEM;
					}
				}
				json_decref(it);
			}
		}
		json_decref(reaches);
	}
	return 0;
}

static int assess_smb(const json_t *probe, const struct ontap_fence_node *n, const struct ontap_fence_options *o,
		      json_t *access, json_t *cuts)
{
	const json_t *sh, *ace;
	size_t i, k;

	json_array_foreach(json_object_get(probe, "shares"), i, sh) {
		if (!obj_ours(sh, o))
			continue;
		json_array_foreach(json_object_get(sh, "acls"), k, ace) {
			const char *user = js(ace, "user_or_group"), *perm = js(ace, "permission");
			const char *type = js(ace, "type") ?: "windows";
			bool own = false;
			json_t *it;
			char *path = NULL;

			for (size_t u = 0; user && u < n->n_smb_users && !own; u++)
				own = n->smb_users[u] && !strcasecmp(n->smb_users[u], user);
			if (!user || (!own && perm && !strcmp(perm, "no_access")))
				continue;
			it = item("smb", js(sh, "name"), user, true, own, json_pack("[s]", js(sh, "path") ?: "?"),
				  own ? strf("share %s grants the node's user %s %s", js(sh, "name"), user, perm ?: "access")
				      : strf("share %s grants %s %s: ONTAP cannot tell this host from the others that use it; "
					     "fence it with another level", js(sh, "name"), user, perm ?: "access"));
			if (!it || json_array_append(access, it) < 0) {
				json_decref(it);
				return -ENOMEM;
			}
			if (own)
				path = seg_path("/protocols/cifs/shares",
						(const char *const[]){ js(sh, "svm.uuid"), js(sh, "name"), "acls", user, type }, 5,
						NULL);
			if (own && add_cut(cuts, json_incref(it), path) < 0) {
				json_decref(it);
				return -ENOMEM;
			}
			json_decref(it);
		}
	}
	return 0;
}

int ontap_fence_assess(const json_t *probe, const struct ontap_fence_node *node,
		       const struct ontap_fence_options *opts, json_t **ret_access, json_t **ret_cuts)
{
	json_t *access, *cuts;
	int r;

	if (!probe || !node || !node->name || !*node->name || !opts || !opts->prefix || !*opts->prefix)
		return -EINVAL;
	access = json_array();
	cuts = json_array();
	if (!access || !cuts) {
		json_decref(access);
		json_decref(cuts);
		return -ENOMEM;
	}
	r = assess_san(probe, node, opts, access, cuts);
	if (r >= 0)
		r = assess_nvme(probe, node, opts, access, cuts);
	if (r >= 0)
		r = assess_nfs(probe, node, opts, access, cuts);
	if (r >= 0)
		r = assess_smb(probe, node, opts, access, cuts);
	if (r < 0) {
		json_decref(access);
		json_decref(cuts);
		return r;
	}
	*ret_access = access;
	if (ret_cuts)
		*ret_cuts = cuts;
	else
		json_decref(cuts);
	return 0;
}

/* ---- the fence on the loop ----------------------------------------------------------------- */

enum part { P_IGROUPS, P_LUN_MAPS, P_SUBSYSTEMS, P_NS_MAPS, P_POLICIES, P_VOLUMES, P_SHARES, _P_MAX };
static const char *const part_key[_P_MAX] = { "igroups", "lun_maps", "subsystems", "ns_maps", "policies", "volumes", "shares" };

struct fence {
	struct ontap_client *client;       /* borrowed */
	struct fence *next_live;           /* the client's live fences (client->live_fences) */
	struct ontap_fence_node node;      /* strings and arrays owned (below) */
	char **strs; size_t n_strs;        /* owned: every string of node */
	char *prefix, *comment;            /* owned */
	uint64_t not_before;
	bool settle_jobs, jobs_settled;    /* opts.settle_jobs; the SVM listed no active job */
	uint64_t jobs_deadline;            /* opts.jobs_deadline_usec */
	json_t *jobs_seen;                 /* owned: {uuid: "description (state)"} of every active job
					      listed while settling */
	bool cut;                          /* ontap_fence_node (else a read-back alone) */
	bool reading_back;
	uint64_t epoch;
	json_t *probe;                     /* owned: the probe being assembled */
	unsigned pending;
	int r;                             /* first failure of the current step */
	struct ontap_error err;
	json_t *removed, *failed;          /* owned */
	unsigned made, gone, nfailed;
	uint64_t readback_usec;
	sd_event_source *timer;            /* owned */
	ontap_fence_done_fn done;
	void *userdata;
};

static void fence_free(struct fence *f)
{
	if (!f)
		return;
	for (struct fence **p = &f->client->live_fences; *p; p = &(*p)->next_live)
		if (*p == f) {
			*p = f->next_live;
			break;
		}
	for (size_t i = 0; i < f->n_strs; i++)
		free(f->strs[i]);
	free(f->strs);
	free((void *)f->node.wwpns);
	free((void *)f->node.addresses);
	free((void *)f->node.smb_users);
	free(f->prefix);
	free(f->comment);
	json_decref(f->probe);
	json_decref(f->jobs_seen);
	json_decref(f->removed);
	json_decref(f->failed);
	ontap_error_clear(&f->err);
	sd_event_source_disable_unref(f->timer);
	free(f);
}

static const char *keep(struct fence *f, const char *s)
{
	if (!s)
		return NULL;
	return (f->strs[f->n_strs] = strdup(s)) ? f->strs[f->n_strs++] : NULL;
}

static int keep_array(struct fence *f, const char *const *in, size_t n, const char *const **out, size_t *n_out)
{
	const char **a = calloc(n + 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	*out = a;
	*n_out = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i] && !(a[(*n_out)++] = keep(f, in[i])))
			return -ENOMEM;
	return 0;
}

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static int fence_new(struct ontap_client *c, const struct ontap_fence_node *n, const struct ontap_fence_options *o,
		     ontap_fence_done_fn done, void *userdata, struct fence **ret)
{
	struct fence *f;
	size_t total;

	if (!c || !n || !n->name || !*n->name || !o || !o->prefix || !*o->prefix || !done)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	total = 3 + n->n_wwpns + n->n_addresses + n->n_smb_users;
	f->client = c;
	f->next_live = c->live_fences;
	c->live_fences = f;
	f->done = done;
	f->userdata = userdata;
	f->not_before = o->readback_not_before_usec;
	f->settle_jobs = o->settle_jobs;
	f->jobs_deadline = o->jobs_deadline_usec;
	f->jobs_seen = json_object();
	f->strs = calloc(total, sizeof(*f->strs));
	f->prefix = strdup(o->prefix);
	f->comment = o->comment ? strdup(o->comment) : NULL;
	f->removed = json_array();
	f->failed = json_array();
	if (!f->strs || !f->prefix || (o->comment && !f->comment) || !f->removed || !f->failed || !f->jobs_seen ||
	    !(f->node.name = keep(f, n->name)) || (n->iqn && !(f->node.iqn = keep(f, n->iqn))) ||
	    (n->nqn && !(f->node.nqn = keep(f, n->nqn))) ||
	    keep_array(f, n->wwpns, n->n_wwpns, &f->node.wwpns, &f->node.n_wwpns) < 0 ||
	    keep_array(f, n->addresses, n->n_addresses, &f->node.addresses, &f->node.n_addresses) < 0 ||
	    keep_array(f, n->smb_users, n->n_smb_users, &f->node.smb_users, &f->node.n_smb_users) < 0) {
		fence_free(f);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

static struct ontap_fence_options opts_of(const struct fence *f)
{
	return (struct ontap_fence_options){ .prefix = f->prefix, .comment = f->comment };
}

/* The result, to the caller; then the fence is freed. */
static void fence_finish(struct fence *f, int r, const json_t *access)
{
	_cleanup_free_ char *evidence = NULL, *list = NULL;
	json_t *report = json_pack("{sOsOsO}", "removed", f->removed, "failed", f->failed, "access",
				   access ?: json_null());
	const json_t *it;
	size_t i;
	struct ontap_fence_result res = {
		.epoch = f->epoch, .cuts_made = f->made, .cuts_gone = f->gone, .cuts_failed = f->nfailed,
	};

	if (r >= 0 && access) {
		res.confirmed = json_array_size(access) == 0;
		res.readback_usec = f->readback_usec; /* 0 when the jobs did not settle: no read-back */
		list = strdup("");
		json_array_foreach(access, i, it) {
			char *t = list ? strf("%s%s%s", list, i ? "; " : "", js(it, "why") ?: "?") : NULL;
			free(list);
			list = t;
		}
		if (f->settle_jobs && !f->jobs_settled)
			evidence = strf("no confirming read-back of node %s: the SVM's jobs did not settle by the deadline: %s "
					"(this run removed %u, %u were gone already)", f->node.name, list ?: "?", f->made, f->gone);
		else
			evidence = res.confirmed
				? strf("read back: node %s has no access left on ONTAP: no igroup holds its initiators (%s%s%zu WWPN(s)), "
				       "no subsystem lists its host NQN (%s), no export rule matches its %zu address(es), no kvmcd SMB "
				       "share grants it access (%zu igroups, %zu subsystems, %zu export policies, %zu kvmcd shares "
				       "read); this run removed %u, %u were gone already",
				       f->node.name, f->node.iqn ?: "", f->node.iqn ? " and " : "", f->node.n_wwpns,
				       f->node.nqn ?: "none", f->node.n_addresses,
				       json_array_size(json_object_get(f->probe, "igroups")),
				       json_array_size(json_object_get(f->probe, "subsystems")),
				       json_array_size(json_object_get(f->probe, "policies")),
				       json_array_size(json_object_get(f->probe, "shares")), f->made, f->gone)
				: strf("read back: node %s still has access on ONTAP: %s%s", f->node.name, list ?: "?",
				       f->nfailed ? " (removals failed: see the report's failed)" : "");
	} else {
		char b[512];
		evidence = strf("no read-back: %s (this run removed %u, %u failed)",
				r == -ESTALE ? "this node does not lead any more" : ontap_error_format(&f->err, b, sizeof(b)),
				f->made, f->nfailed);
	}
	if (evidence && json_object_size(f->jobs_seen) && f->jobs_settled) {
		const char *uuid;
		const json_t *d;
		char *t, *jobs = strdup("");
		json_object_foreach(f->jobs_seen, uuid, d) {
			t = jobs ? strf("%s%s%s %s", jobs, *jobs ? ", " : "", uuid, json_string_value(d) ?: "") : NULL;
			free(jobs);
			jobs = t;
		}
		t = strf("%s; before reading back it waited for the SVM's active ONTAP jobs, which an older leader "
			 "may have started: %s", evidence, jobs ?: "?");
		free(jobs);
		free(evidence);
		evidence = t;
	}
	res.evidence = evidence ?: "(out of memory)";
	res.report = report;
	f->done(f->userdata, r, &res);
	json_decref(report);
	fence_free(f);
}

static void probe_done(struct fence *f);

struct probe_req {
	struct fence *f;
	enum part part;
};

static void on_listed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct probe_req *q = userdata;
	struct fence *f = q->f;
	const json_t *recs = obj && obj->record ? json_object_get(obj->record, "records") : NULL;

	/* A protocol the SVM does not run (no CIFS server, no NVMe service) lists nothing. */
	if (r == -ENOENT || r == -EOPNOTSUPP)
		r = 0;
	if (r < 0 && f->r == 0) {
		f->r = r;
		if (err)
			ontap_error_copy(&f->err, err);
	}
	if (r >= 0 && json_is_array(recs))
		json_array_extend(json_object_get(f->probe, part_key[q->part]), (json_t *)recs);
	free(q);
	if (--f->pending == 0)
		probe_done(f);
}

static int start_list(struct fence *f, enum part part, const char *collection, const char *key, const char *pattern,
		      const char *fields)
{
	_cleanup_op_ struct op *op = NULL;
	struct probe_req *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	*q = (struct probe_req){ .f = f, .part = part };
	r = op_new(f->client, OP_LIST, "fence probe", part_key[part], on_listed, q, &op);
	if (r >= 0)
		r = op_set(&op->collection, collection);
	if (r >= 0 && key)
		r = ontap_query_add(&op->query, key, pattern, true);
	if (r >= 0 && *ontap_client_svm(f->client))
		r = ontap_query_add(&op->query, "svm.name", ontap_client_svm(f->client), false);
	if (r >= 0)
		r = op_set(&op->fields, fields);
	if (r >= 0) {
		f->pending++;
		r = op_start(TAKE_PTR(op));
		if (r < 0)
			f->pending--;
	}
	if (r < 0)
		free(q);
	return r;
}

/* Reads everything that can give the node access (in parallel). 0: probe_done() follows, from
 * the loop; < 0: nothing was started. */
static int probe_start(struct fence *f)
{
	_cleanup_free_ char *vol = NULL, *path = NULL;
	int r;

	json_decref(f->probe);
	f->probe = json_pack("{s[]s[]s[]s[]s[]s[]s[]}", "igroups", "lun_maps", "subsystems", "ns_maps", "policies",
			     "volumes", "shares");
	if (!f->probe || asprintf(&vol, "%s_*", f->prefix) < 0 || asprintf(&path, "/vol/%s_*", f->prefix) < 0)
		return -ENOMEM;
	f->r = 0;
	ontap_error_clear(&f->err);
	/* Every igroup, subsystem and export policy of the SVM, not only kvmcd's: one an admin made
	 * may hold the node's name and map kvmcd's storage. */
	r = start_list(f, P_IGROUPS, "/protocols/san/igroups", NULL, NULL, "uuid,name,comment,initiators");
	if (r >= 0)
		r = start_list(f, P_LUN_MAPS, "/protocols/san/lun-maps", "lun.name", path,
			       "igroup.name,igroup.uuid,lun.name,logical_unit_number");
	if (r >= 0)
		r = start_list(f, P_SUBSYSTEMS, "/protocols/nvme/subsystems", NULL, NULL, "uuid,name,comment,hosts");
	if (r >= 0)
		r = start_list(f, P_NS_MAPS, "/protocols/nvme/subsystem-maps", "namespace.name", path,
			       "subsystem.name,subsystem.uuid,namespace.name");
	if (r >= 0)
		r = start_list(f, P_POLICIES, "/protocols/nfs/export-policies", NULL, NULL, "id,name,rules");
	if (r >= 0)
		r = start_list(f, P_VOLUMES, "/storage/volumes", "name", vol, "name,nas.path,nas.export_policy.name");
	if (r >= 0)
		r = start_list(f, P_SHARES, "/protocols/cifs/shares", "name", vol, "name,path,comment,acls,svm.uuid");
	if (r < 0) {
		if (f->pending == 0)
			return r;
		/* what was started completes (the client never answers inline); then it fails */
		f->r = r;
		ontap_error_setf(&f->err, r, "fence probe: %s", strerror(-r));
	}
	return 0;
}

static int readback_start(struct fence *f);

/* ---- settling an older leader's jobs (opts.settle_jobs) ------------------------------------- */

#define JOBS_POLL_MS 1000

static void readback_go(struct fence *f)
{
	int r = readback_start(f);

	if (r < 0) {
		ontap_error_setf(&f->err, r, "fence read-back: %s", strerror(-r));
		fence_finish(f, r, NULL);
	}
}

static int on_jobs_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fence *f = userdata;

	f->timer = sd_event_source_disable_unref(f->timer);
	readback_go(f);
	return 0;
}

/* The SVM's active jobs were listed: none -> the read-back; some -> list again in JOBS_POLL_MS,
 * or, past the deadline, finish unconfirmed with each job as access that may still come. */
static void on_jobs_listed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct fence *f = userdata;
	const json_t *recs = obj && obj->record ? json_object_get(obj->record, "records") : NULL, *job;
	_cleanup_(json_decrefp) json_t *active = NULL;
	uint64_t now = mono_usec(), next;
	size_t i;

	if (r < 0) {
		if (err)
			ontap_error_copy(&f->err, err);
		else
			ontap_error_setf(&f->err, r, "fence: listing the SVM's jobs: %s", strerror(-r));
		fence_finish(f, r, NULL);
		return;
	}
	active = json_array();
	if (!active) {
		fence_finish(f, -ENOMEM, NULL);
		return;
	}
	json_array_foreach(recs, i, job) {
		const char *uuid = js(job, "uuid"), *state = js(job, "state") ?: "?";
		char *d;

		/* the query asked for these states; a reply that holds others is taken at its word */
		if (!uuid || !(!strcmp(state, "queued") || !strcmp(state, "running") || !strcmp(state, "paused")))
			continue;
		d = strf("(%s, %s)", js(job, "description") ?: "no description", state);
		json_object_set_new(f->jobs_seen, uuid, json_string(d ?: ""));
		json_array_append_new(active, item("job", uuid, js(job, "description") ?: "", false, false, NULL,
						   strf("ONTAP job %s (%s) is still %s: an older leader may have started "
							"it, and it may give the node access when it ends", uuid,
							js(job, "description") ?: "no description", state)));
		free(d);
	}
	if (json_array_size(active) == 0) {
		f->jobs_settled = true;
		readback_go(f);
		return;
	}
	if (f->jobs_deadline && now >= f->jobs_deadline) {
		fence_finish(f, 0, active); /* not confirmed: the jobs are the access left */
		return;
	}
	next = now + JOBS_POLL_MS * USEC_PER_MSEC;
	if (f->jobs_deadline && next > f->jobs_deadline)
		next = f->jobs_deadline;
	r = sd_event_add_time(ontap_client_get_event(f->client), &f->timer, CLOCK_MONOTONIC, next, USEC_PER_MSEC,
			      on_jobs_timer, f);
	if (r < 0)
		fence_finish(f, r, NULL);
}

static int jobs_list_start(struct fence *f)
{
	_cleanup_op_ struct op *op = NULL;
	int r;

	r = op_new(f->client, OP_LIST, "fence jobs", "active jobs", on_jobs_listed, f, &op);
	if (r >= 0)
		r = op_set(&op->collection, "/cluster/jobs");
	if (r >= 0)
		r = ontap_query_add(&op->query, "state", "queued|running|paused", true);
	if (r >= 0 && *ontap_client_svm(f->client))
		r = ontap_query_add(&op->query, "svm.name", ontap_client_svm(f->client), false);
	if (r >= 0)
		r = op_set(&op->fields, "uuid,state,description,start_time");
	if (r >= 0)
		r = op_start(TAKE_PTR(op));
	return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fence *f = userdata;
	int r;

	f->timer = sd_event_source_disable_unref(f->timer);
	r = readback_start(f);
	if (r < 0) {
		ontap_error_setf(&f->err, r, "fence read-back: %s", strerror(-r));
		fence_finish(f, r, NULL);
	}
	return 0;
}

/* The confirming read-back: never before not_before (an older leader's request may land until
 * then), nor while the SVM lists an active job (settle_jobs: an older leader's job may still
 * land until it ends); the time it is issued is what the result reports. */
static int readback_start(struct fence *f)
{
	uint64_t now = mono_usec();

	if (now < f->not_before) {
		sd_event *e = ontap_client_get_event(f->client);
		/* accuracy 1 ms: sd-event fires late, never early */
		return sd_event_add_time(e, &f->timer, CLOCK_MONOTONIC, f->not_before, USEC_PER_MSEC, on_timer, f);
	}
	if (f->settle_jobs && !f->jobs_settled)
		return jobs_list_start(f);
	f->reading_back = true;
	f->readback_usec = now;
	return probe_start(f);
}

struct cut_req {
	struct fence *f;
	json_t *item;                      /* owned */
};

static void on_cut(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct cut_req *q = userdata;
	struct fence *f = q->f;

	if (r >= 0) {
		f->made++;
		json_array_append(f->removed, q->item);
	} else if (r == -ENOENT) {
		f->gone++; /* removed by an earlier attempt, or by someone else: what we wanted */
	} else {
		char b[512];
		f->nfailed++;
		if (r == -ESTALE && f->r == 0)
			f->r = -ESTALE;
		json_object_set_new(q->item, "error",
				    json_string(reply && reply->error ? ontap_error_format(reply->error, b, sizeof(b))
								      : strerror(-r)));
		json_array_append(f->failed, q->item);
	}
	json_decref(q->item);
	free(q);
	if (--f->pending)
		return;
	if (f->r == -ESTALE) {
		fence_finish(f, -ESTALE, NULL);
		return;
	}
	r = readback_start(f);
	if (r < 0) {
		ontap_error_setf(&f->err, r, "fence read-back: %s", strerror(-r));
		fence_finish(f, r, NULL);
	}
}

/* Sends every cut at once (the client's max_concurrency bounds them); each is independent. */
static int cuts_start(struct fence *f, const json_t *cuts)
{
	const json_t *cut;
	size_t i;
	int r = 0;

	f->r = 0;
	f->pending = 1;
	json_array_foreach(cuts, i, cut) {
		_cleanup_free_ char *path = NULL;
		struct cut_req *q = calloc(1, sizeof(*q));

		if (!q || !(path = strdup(js(cut, "path") ?: ""))) {
			free(q);
			r = -ENOMEM;
			break;
		}
		q->f = f;
		q->item = json_deep_copy(json_object_get(cut, "item"));
		f->pending++;
		r = ontap_client_request(f->client, "DELETE", path, NULL, ONTAP_REQ_IDEMPOTENT | ONTAP_REQ_WAIT_JOB,
					 f->epoch, on_cut, q);
		if (r < 0) {
			f->pending--;
			json_decref(q->item);
			free(q);
			break;
		}
	}
	if (r < 0) {
		f->nfailed++;
		if (r == -ESTALE)
			f->r = -ESTALE;
	}
	/* release the hold: with nothing to cut (or all answered) go on at once, from the loop's
	 * point of view still later than this call (ontap_client_request never calls back inline) */
	f->pending--;
	if (f->pending == 0) {
		if (f->r == -ESTALE)
			return -ESTALE;
		return readback_start(f);
	}
	return 0;
}

static void probe_done(struct fence *f)
{
	_cleanup_(json_decrefp) json_t *access = NULL, *cuts = NULL;
	struct ontap_fence_options o = opts_of(f);
	int r = f->r;

	if (r >= 0)
		r = ontap_fence_assess(f->probe, &f->node, &o, &access, &cuts);
	if (r < 0) {
		if (!f->err.error)
			ontap_error_setf(&f->err, r, "fence: %s", strerror(-r));
		fence_finish(f, r, NULL);
		return;
	}
	if (f->reading_back) {
		fence_finish(f, 0, access);
		return;
	}
	r = cuts_start(f, cuts);
	if (r < 0) {
		ontap_error_setf(&f->err, r, "fence: %s", r == -ESTALE ? "this node does not lead any more" : strerror(-r));
		fence_finish(f, r, NULL);
	}
}

int ontap_fence_node(struct ontap_client *c, const struct ontap_fence_node *node,
		     const struct ontap_fence_options *opts, ontap_fence_done_fn done, void *userdata)
{
	struct fence *f = NULL;
	uint64_t epoch;
	int r;

	r = fence_new(c, node, opts, done, userdata, &f);
	if (r < 0)
		return r;
	r = ontap_client_current_epoch(c, &epoch);
	if (r < 0) {
		fence_free(f);
		return -ESTALE;
	}
	f->epoch = epoch;
	f->cut = true;
	r = probe_start(f);
	if (r < 0)
		fence_free(f);
	return r;
}

int ontap_fence_readback(struct ontap_client *c, const struct ontap_fence_node *node,
			 const struct ontap_fence_options *opts, ontap_fence_done_fn done, void *userdata)
{
	struct fence *f = NULL;
	int r;

	r = fence_new(c, node, opts, done, userdata, &f);
	if (r < 0)
		return r;
	r = readback_start(f);
	if (r < 0)
		fence_free(f);
	return r;
}

/* ---- the two-node claim -------------------------------------------------------------------- */

#define CLAIM_MARK "kvmcd claim: epoch "

char *ontap_claim_name(const char *prefix, uint64_t epoch)
{
	return prefix ? strf("%s_claim_%" PRIu64, prefix, epoch) : NULL;
}

struct claim {
	struct ontap_client *client;       /* borrowed */
	char *name, *comment, *claimant;   /* owned */
	uint64_t epoch;
	ontap_claim_done_fn done;
	void *userdata;
};

static void claim_free(struct claim *k)
{
	free(k->name);
	free(k->comment);
	free(k->claimant);
	free(k);
}

/* The claimant a claim's comment names ("kvmcd claim: epoch E by X" -> X), or NULL. */
static const char *claim_holder(const char *comment)
{
	const char *by = comment && !strncmp(comment, CLAIM_MARK, strlen(CLAIM_MARK)) ? strstr(comment, " by ") : NULL;

	return by ? by + 4 : NULL;
}

static void claim_end(struct claim *k, int r, enum ontap_claim_outcome outcome, const char *holder, bool adopted,
		      const struct ontap_error *err)
{
	struct ontap_claim_result res = { .outcome = outcome, .name = k->name, .holder = holder, .adopted = adopted };

	k->done(k->userdata, r, r < 0 ? NULL : &res, err);
	claim_free(k);
}

/* After ONTAP said the name exists: whose is it? */
static void on_claim_read(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct claim *k = userdata;
	const char *comment = obj && obj->record ? jstring(obj->record, "comment") : NULL;
	const char *holder = claim_holder(comment);

	if (r == -ENOENT) {
		/* deleted between the POST and this read: only cleanup of an older epoch deletes one,
		 * so this is not a claim anyone holds now; the caller asks again */
		struct ontap_error e = {};
		ontap_error_setf(&e, -EAGAIN, "claim %s existed, then was gone when read: ask again", k->name);
		claim_end(k, -EAGAIN, ONTAP_CLAIM_LOST, NULL, false, &e);
		ontap_error_clear(&e);
		return;
	}
	if (r < 0) {
		claim_end(k, r, ONTAP_CLAIM_LOST, NULL, false, err);
		return;
	}
	if (comment && !strcmp(comment, k->comment))
		claim_end(k, 0, ONTAP_CLAIM_WON, k->claimant, true, NULL); /* ours: an answer was lost */
	else
		claim_end(k, 0, ONTAP_CLAIM_LOST, holder ?: "(not a kvmcd claim)", false, NULL);
}

static void on_claim_post(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct claim *k = userdata;
	const struct ontap_error *err = reply ? reply->error : NULL;

	if (r >= 0) {
		claim_end(k, 0, ONTAP_CLAIM_WON, k->claimant, false, NULL);
		return;
	}
	/* 409 / 1638527: the name exists. Won or lost is in its comment (a resent POST of ours, or
	 * an earlier attempt whose answer was lost, finds its own). */
	if (err && (err->code == ONTAP_E_SNAPSHOT_POLICY_EXISTS || err->code == ONTAP_E_DUPLICATE)) {
		_cleanup_op_ struct op *op = NULL;
		int q = op_new(c, OP_GET, "claim", k->name, on_claim_read, k, &op);
		if (q >= 0)
			q = op_set(&op->collection, "/storage/snapshot-policies");
		if (q >= 0)
			q = op_query_by(op, "name", k->name, true);
		if (q >= 0)
			q = op_set(&op->fields, "uuid,name,comment");
		if (q >= 0)
			q = op_start(TAKE_PTR(op));
		if (q >= 0)
			return;
		r = q;
	}
	claim_end(k, r, ONTAP_CLAIM_LOST, NULL, false, err);
}

int ontap_claim_epoch(struct ontap_client *c, const char *prefix, uint64_t epoch, const char *claimant,
		      ontap_claim_done_fn done, void *userdata)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	struct claim *k;
	uint64_t current;
	int r;

	if (!c || !prefix || !*prefix || !claimant || !*claimant || strchr(claimant, '"') || !done || epoch == 0)
		return -EINVAL;
	/* The claim is the lone survivor's first mutation of the epoch it would lead: under any
	 * other epoch it would be the wrong claim. */
	if (ontap_client_current_epoch(c, &current) < 0 || current != epoch)
		return -ESTALE;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	*k = (struct claim){ .client = c, .epoch = epoch, .done = done, .userdata = userdata };
	k->name = ontap_claim_name(prefix, epoch);
	k->comment = strf(CLAIM_MARK "%" PRIu64 " by %s", epoch, claimant);
	k->claimant = strdup(claimant);
	/* A disabled policy attached to nothing: it takes no snapshot. ONTAP wants one schedule in
	 * every policy; "daily" is a built-in cluster schedule every SVM sees. */
	if (k->name && k->comment)
		body = json_pack("{sss{ss}sbsss[{sis{ss}}]}", "name", k->name, "svm", "name", ontap_client_svm(c),
				 "enabled", 0, "comment", k->comment, "copies", "count", 1, "schedule", "name", "daily");
	if (!k->name || !k->comment || !k->claimant || !body) {
		claim_free(k);
		return -ENOMEM;
	}
	/* IDEMPOTENT: a resend after a lost answer gets the duplicate and reads its own comment */
	r = ontap_client_request(c, "POST", "/storage/snapshot-policies", body, ONTAP_REQ_IDEMPOTENT | ONTAP_REQ_WAIT_JOB,
				 epoch, on_claim_post, k);
	if (r < 0)
		claim_free(k);
	return r;
}

struct cleanup {
	struct ontap_client *client;
	char *prefix;
	uint64_t below;
	unsigned pending, deleted;
	int r;
	struct ontap_error err;
	ontap_done_fn done;
	void *userdata;
};

static void cleanup_end(struct cleanup *k)
{
	struct ontap_object obj = { .name = k->prefix, .number = k->deleted };

	k->done(k->userdata, k->r, &obj, k->r < 0 ? &k->err : NULL);
	ontap_error_clear(&k->err);
	free(k->prefix);
	free(k);
}

static void on_claim_deleted(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct cleanup *k = userdata;

	if (r >= 0)
		k->deleted++;
	else if (r != -ENOENT && k->r == 0) {
		k->r = r;
		if (reply && reply->error)
			ontap_error_copy(&k->err, reply->error);
	}
	if (--k->pending == 0)
		cleanup_end(k);
}

static void on_claims_listed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct cleanup *k = userdata;
	const json_t *recs = obj && obj->record ? json_object_get(obj->record, "records") : NULL, *rec;
	_cleanup_free_ char *stem = strf("%s_claim_", k->prefix);
	uint64_t epoch;
	size_t i;

	if (r < 0) {
		k->r = r;
		if (err)
			ontap_error_copy(&k->err, err);
	}
	if (!stem && r >= 0)
		k->r = -ENOMEM;
	k->pending = 1;
	json_array_foreach(recs, i, rec) {
		const char *name = jstring(rec, "name"), *uuid = jstring(rec, "uuid");
		_cleanup_free_ char *path = NULL;
		uint64_t e;
		char *end;

		if (k->r < 0 || !name || !uuid || strncmp(name, stem, strlen(stem)) != 0 ||
		    !claim_holder(jstring(rec, "comment")))
			continue; /* only what a claim made: its name and its comment */
		errno = 0;
		epoch = strtoull(name + strlen(stem), &end, 10);
		if (errno || *end || end == name + strlen(stem) || epoch >= k->below)
			continue;
		path = seg_path("/storage/snapshot-policies", (const char *const[]){ uuid }, 1, NULL);
		if (!path) {
			k->r = -ENOMEM;
			break;
		}
		if (ontap_client_current_epoch(k->client, &e) < 0) {
			k->r = -ESTALE;
			break;
		}
		k->pending++;
		r = ontap_client_request(k->client, "DELETE", path, NULL, ONTAP_REQ_IDEMPOTENT | ONTAP_REQ_WAIT_JOB, e,
					 on_claim_deleted, k);
		if (r < 0) {
			k->pending--;
			k->r = r;
			break;
		}
	}
	if (k->r < 0 && !k->err.error)
		ontap_error_setf(&k->err, k->r, "claim cleanup: %s", strerror(-k->r));
	if (--k->pending == 0)
		cleanup_end(k);
}

int ontap_claim_cleanup(struct ontap_client *c, const char *prefix, uint64_t below_epoch,
			ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *pattern = NULL;
	struct cleanup *k;
	uint64_t e;
	int r;

	if (!c || !prefix || !*prefix || !done)
		return -EINVAL;
	if (ontap_client_current_epoch(c, &e) < 0)
		return -ESTALE;
	k = calloc(1, sizeof(*k));
	pattern = strf("%s_claim_*", prefix);
	if (!k || !pattern || !(k->prefix = strdup(prefix))) {
		free(k);
		return -ENOMEM;
	}
	*k = (struct cleanup){ .client = c, .prefix = k->prefix, .below = below_epoch, .done = done, .userdata = userdata };
	r = op_new(c, OP_LIST, "claims", pattern, on_claims_listed, k, &op);
	if (r >= 0)
		r = op_set(&op->collection, "/storage/snapshot-policies");
	if (r >= 0)
		r = ontap_query_add(&op->query, "name", pattern, true);
	if (r >= 0)
		r = ontap_query_add(&op->query, "svm.name", ontap_client_svm(c), false);
	if (r >= 0)
		r = op_set(&op->fields, "uuid,name,comment");
	if (r >= 0)
		r = op_start(TAKE_PTR(op));
	if (r < 0) {
		free(k->prefix);
		free(k);
	}
	return r;
}

/* ontap_client_free(): its requests were finished (their fences went on, and ended, since the
 * client takes no new request); what is left waits on its own timer for the read-back's quiet
 * point. Each ends with -ECANCELED, so no fence is left behind holding an event source (which
 * kept the whole event loop alive past kvmcd's exit: LeakSanitizer in multinode-ontap-leader). */
void ontap_fence_client_closing(struct ontap_client *c)
{
	while (c->live_fences)
		fence_finish(c->live_fences, -ECANCELED, NULL);
}
