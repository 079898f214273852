/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The leader's datastore loop (leader-datastores.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "datastore-plan.h"
#include "datastores.h"
#include "inventory.h"
#include "leader-datastores.h"
#include "leader-ontap.h"
#include "macros.h"

#define PERIOD_USEC (30 * USEC_PER_SEC)
#define RETRY_MIN_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define MAX_ROUNDS 20 /* observe/execute rounds in one run before a pause: a plan that never
		       * empties is a bug or a fight with someone else; it must not spin */

struct leader_ds {
	struct service_ctx *ctx;          /* borrowed */
	char *prefix;                     /* owned: kvmcd_<cluster> */
	struct ontap_client *client;      /* borrowed while acting; NULL otherwise */
	struct leader_ds_ontap ops;
	bool running;                     /* an observe or execute is in flight */
	bool again;                       /* something changed while running: run once more */
	unsigned rounds;                  /* in the current run */
	unsigned failures;
	sd_event_source *timer;           /* owned */
	uint64_t sections_sig;            /* what the plan last read of the sections (a hash) */
	uint64_t committed_sig;           /* what it last read of the committed document (a hash) */
	uint64_t others_sig;              /* the committed records but its own ds/ ones, at the run's start */
	json_t *last;                     /* owned: the last plan's summary for status */
	char error[512];                  /* the last failure, "" when none */
	uint64_t run_version;             /* the committed version when the current run began */
	uint64_t settled_version;         /* the last run_version whose plan ended empty (HA's unfence) */
	struct run_ctx *held;             /* owned: a plan that may grant access, waiting for the grants
					     record to commit (leader-ontap.h) before it is executed */
	struct run_ctx *executing;        /* borrowed: the plan being executed (its records' flush
					     waits for the previous one to commit), NULL when none */
};

static void run(struct leader_ds *l);

static uint64_t now_usec(struct leader_ds *l)
{
	uint64_t t = 0;

	sd_event_now(service_event(l->ctx), CLOCK_MONOTONIC, &t);
	return t;
}

static void arm(struct leader_ds *l, uint64_t delay)
{
	if (!l->timer)
		return;
	sd_event_source_set_time(l->timer, now_usec(l) + delay);
	sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	run(userdata);
	return 0;
}

/*
 * What the plan reads of the node sections, as a hash: every member's initiator names and
 * addresses, and which datastores it has attached. A node that joins publishes its inventory,
 * a node that detached a removed datastore says so -- both only in its soft section, which
 * brings no committed notification: leader_ds_sections() re-runs the loop when this changes.
 */
static uint64_t sections_signature(struct leader_ds *l)
{
	const struct ds_spec *specs = NULL;
	json_t *sig = json_object(), *v;
	const char *k;
	_cleanup_free_ char *text = NULL;
	size_t n = 0;

	if (!sig)
		return 0;
	/* No spec yet (or none with datastores): every attached datastore counts. */
	if (service_ds_specs(l->ctx, &specs, &n) < 0)
		n = 0;
	json_object_foreach((json_t *)service_node_sections(l->ctx), k, v) {
		const json_t *sec = json_object_get(v, "section"), *inv = json_object_get(sec, INVENTORY_SECTION_KEY), *st;
		json_t *attached = json_array();
		const char *ds;

		/* Only a removal waits for nodes to detach: a datastore of the spec that a node
		 * attaches (every node, while the plan still runs) changes no plan. */
		json_object_foreach((json_t *)json_object_get(sec, "datastores"), ds, st) {
			bool in_spec = false;

			for (size_t i = 0; i < n && !in_spec; i++)
				in_spec = strcmp(specs[i].name, ds) == 0;
			if (!in_spec && json_is_true(json_object_get(st, "attached")))
				json_array_append_new(attached, json_string(ds));
		}
		json_object_set_new(sig, k, json_pack("{sO?sO?sO?sO?sO?sosO?}", "name", json_object_get(v, "name"),
						      "iqn", json_object_get(inv, "iscsi_iqn"), "nqn", json_object_get(inv, "nvme_nqn"),
						      "wwpns", json_object_get(inv, "fc_wwpns"), "addresses",
						      json_object_get(inv, "addresses"), "attached", attached, "reconciled",
						      json_boolean(node_section_datastores_reconciled(sec))));
	}
	text = json_dumps(sig, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(sig);
	return text ? spec_hash_bytes(text, strlen(text)) : 0;
}

/*
 * HA (agent/ha.c): a node whose fence record (records["fence/NAME"]) says an ontap attempt may
 * have cut its access is fenced for the plan (dsplan_node.fenced: nothing of it is added back)
 * until the record is unfencing or releasing -- then the plan's next pass gives it back, and the
 * HA service counts the unfence done once a pass for a version after that ended empty.
 */
static bool node_fenced(const json_t *rec)
{
	const char *st = json_string_value(json_object_get(rec, "status"));

	return json_is_true(json_object_get(rec, "access_cut")) && st &&
	       (!strcmp(st, "pending") || !strcmp(st, "confirmed") || !strcmp(st, "failed"));
}

/*
 * What the plan reads of the committed document, as a hash: the spec, the leader's node/<name>
 * records (initiators of nodes that are not members) and which datastores the records hold
 * that the spec no longer has (removals, with their protocol). Every commit notifies; one that
 * changes none of this -- this loop's own records of its datastores, the VM service's records
 * -- needs no new read of ONTAP.
 */
static uint64_t committed_signature(struct leader_ds *l)
{
	const json_t *spec = service_spec(l->ctx), *records = service_records(l->ctx), *v;
	_cleanup_free_ struct ds_spec *specs = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *sig = json_object(), *recs = json_object();
	size_t n = 0;
	const char *k;

	if (!sig || !recs) {
		json_decref(sig);
		json_decref(recs);
		return 0; /* unknown: differs from any real signature but 0, so the loop runs */
	}
	if (ds_spec_list(spec, &specs, &n) < 0)
		n = 0; /* no spec yet: every ds/ record counts */
	json_object_foreach((json_t *)records, k, v) {
		bool in_spec = false;

		if (strncmp(k, "node/", 5) == 0) {
			json_object_set(recs, k, (json_t *)v);
			continue;
		}
		if (strncmp(k, "fence/", 6) == 0) { /* whether the node is fenced (node_fenced) */
			json_object_set_new(recs, k, json_boolean(node_fenced(v)));
			continue;
		}
		if (strncmp(k, "ds/", 3) != 0)
			continue;
		for (size_t i = 0; i < n && !in_spec; i++)
			in_spec = strcmp(specs[i].name, k + 3) == 0;
		if (!in_spec)
			json_object_set(recs, k, json_object_get(v, "protocol") ?: json_null());
	}
	json_object_set(sig, "spec", spec ? (json_t *)spec : json_null());
	json_object_set_new(sig, "records", recs);
	text = json_dumps(sig, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(sig);
	return text ? spec_hash_bytes(text, strlen(text)) | 1 : 0;
}

/*
 * The committed records but this loop's own records of the spec's datastores, as a hash. A commit
 * during a run that leaves it and committed_signature() unchanged was this loop's own records
 * (issue 7's benchmark: one per datastore as it completes): the run needs no second read of ONTAP
 * for it. Any other commit during a run still gets one -- the HA service waits for a pass that
 * began after its records (leader_ds_settled_version()).
 */
static uint64_t others_signature(struct leader_ds *l)
{
	const struct ds_spec *specs = NULL;
	_cleanup_free_ char *text = NULL;
	const json_t *v;
	json_t *others = json_object();
	const char *k;
	size_t n = 0;

	if (!others)
		return 0;
	if (service_ds_specs(l->ctx, &specs, &n) < 0)
		n = 0;
	json_object_foreach((json_t *)service_records(l->ctx), k, v) {
		bool own = false;

		for (size_t i = 0; i < n && !own && strncmp(k, "ds/", 3) == 0; i++)
			own = strcmp(specs[i].name, k + 3) == 0;
		/* the grants record: the ONTAP link writes it around this loop's own runs */
		own = own || strcmp(k, LEADER_ONTAP_GRANTS_KEY) == 0;
		if (!own)
			json_object_set(others, k, (json_t *)v);
	}
	text = json_dumps(others, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(others);
	return text ? spec_hash_bytes(text, strlen(text)) | 1 : 0;
}

static void fail(struct leader_ds *l, const char *fmt, ...) _printf_(2, 3);
static void fail(struct leader_ds *l, const char *fmt, ...)
{
	uint64_t delay = RETRY_MIN_USEC << (l->failures < 5 ? l->failures : 5);
	char buf[sizeof(l->error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (strcmp(buf, l->error) != 0)
		klog(service_log(l->ctx), LOG_ERR, "Datastores on ONTAP: %s; retrying", buf);
	memcpy(l->error, buf, sizeof(buf));
	l->failures++;
	l->running = false;
	arm(l, delay > RETRY_MAX_USEC ? RETRY_MAX_USEC : delay);
}

/* ---- building the plan's input from the replicated document and what ONTAP showed ---------- */

struct input_buf {
	struct dsplan_input in;
	struct dsplan_ontap ontap;
	const struct ds_spec *specs;                 /* borrowed (service_ds_specs) */
	struct dsplan_node *nodes;                   /* owned arrays; strings borrowed */
	const char **strs;                           /* owned: every const char* array below */
	size_t n_strs, cap_strs;
	struct dsplan_removal *removals;
	struct dsplan_ontap_volume *vols;
	struct dsplan_ontap_lun *luns, *nss;
	struct dsplan_ontap_igroup *igroups;
	struct dsplan_ontap_map *lmaps, *nmaps;
	struct dsplan_ontap_subsystem *subs;
	struct dsplan_ontap_rule *rules;
	struct dsplan_ontap_share *shares;             /* owned, each with its acl (owned) */
	bool serves[_DS_PROTO_MAX];
};

static void input_free(struct input_buf *b)
{
	free(b->nodes);
	free(b->strs);
	free(b->removals);
	free(b->vols);
	free(b->luns);
	free(b->nss);
	free(b->igroups);
	free(b->lmaps);
	free(b->nmaps);
	free(b->subs);
	free(b->rules);
	for (size_t i = 0; b->shares && i < b->ontap.n_shares; i++)
		free((void *)b->shares[i].acl);
	free(b->shares);
}

/* A string array borrowed from a JSON array, in b->strs (stable: reserved up front). */
static const char *const *strings_of(struct input_buf *b, const json_t *arr, size_t *n)
{
	const char **start = b->strs + b->n_strs;
	const json_t *v;
	size_t i;

	*n = 0;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && b->n_strs < b->cap_strs) {
			b->strs[b->n_strs++] = json_string_value(v);
			(*n)++;
		}
	return start;
}

static const char *js(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The section the node of this name publishes (borrowed), NULL when its kvmcd is not a member. */
static const json_t *section_of(struct leader_ds *l, const char *name)
{
	const json_t *v;
	const char *k;

	json_object_foreach((json_t *)service_node_sections(l->ctx), k, v)
		if (js(v, "name") && strcmp(js(v, "name"), name) == 0)
			return v;
	return NULL;
}

/* The node of this name publishes a section: its kvmcd is a member of the view. */
static bool is_member(struct leader_ds *l, const char *name)
{
	return section_of(l, name) != NULL;
}

/* The member of this name has published that its datastore list follows the committed state
 * (inventory.h, node_section_datastores_reconciled(): a section holding only another service's
 * part, as a kvmcd that just started may publish first, does not). */
static bool reconciled(struct leader_ds *l, const char *name)
{
	const json_t *v = section_of(l, name);

	return v && node_section_datastores_reconciled(json_object_get(v, "section"));
}

#define ALLOC_FOR(ptr, arr) (ptr = calloc(json_array_size(arr) + 1, sizeof(*(ptr))))

static int input_build(struct leader_ds *l, const json_t *obs, struct input_buf *b)
{
	const json_t *spec = service_spec(l->ctx), *secs = service_node_sections(l->ctx);
	const json_t *records = service_records(l->ctx), *spec_nodes = json_object_get(spec, "nodes");
	const json_t *v, *x, *svm = json_object_get(obs, "svm");
	const char *k;
	size_t i, n_specs = 0, total = 16;
	int r;

	memset(b, 0, sizeof(*b));
	r = service_ds_specs(l->ctx, &b->specs, &n_specs);
	if (r < 0)
		return r;
	/* Reserve every string slot at once: strings_of() hands out pointers into it. */
	json_object_foreach((json_t *)secs, k, v)
		total += 64;
	json_array_foreach(json_object_get(obs, "igroups"), i, x)
		total += json_array_size(json_object_get(x, "initiators"));
	json_array_foreach(json_object_get(obs, "subsystems"), i, x)
		total += json_array_size(json_object_get(x, "hosts"));
	/* per record: a removal's attached_on (every node: sections, node records, spec nodes), or
	 * a node record's addresses and WWPNs */
	json_object_foreach((json_t *)records, k, v)
		total += json_object_size(secs) + json_object_size(records) + json_array_size(spec_nodes) + 1 +
			 json_array_size(json_object_get(v, "addresses")) + json_array_size(json_object_get(v, "fc_wwpns"));
	total += json_array_size(json_object_get(obs, "export_policies")) + 4;
	b->cap_strs = total;
	b->strs = calloc(total, sizeof(*b->strs));
	b->nodes = calloc(json_object_size(secs) + json_object_size(records) + json_array_size(spec_nodes) + 1,
			  sizeof(*b->nodes));
	b->removals = calloc(json_object_size(records) + 1, sizeof(*b->removals));
	if (!b->strs || !b->nodes || !b->removals || !ALLOC_FOR(b->vols, json_object_get(obs, "volumes")) ||
	    !ALLOC_FOR(b->luns, json_object_get(obs, "luns")) || !ALLOC_FOR(b->nss, json_object_get(obs, "namespaces")) ||
	    !ALLOC_FOR(b->igroups, json_object_get(obs, "igroups")) ||
	    !ALLOC_FOR(b->lmaps, json_object_get(obs, "lun_maps")) ||
	    !ALLOC_FOR(b->nmaps, json_object_get(obs, "ns_maps")) ||
	    !ALLOC_FOR(b->subs, json_object_get(obs, "subsystems")) || !ALLOC_FOR(b->rules, json_object_get(obs, "rules")))
		return -ENOMEM;

	/* Nodes: the spec's "nodes" when it lists them, else every member that published a
	 * section; initiators from each node's inventory. */
	json_object_foreach((json_t *)secs, k, v) {
		const char *name = js(v, "name");
		const json_t *inv = json_object_get(json_object_get(v, "section"), INVENTORY_SECTION_KEY);
		struct dsplan_node *nd;
		bool listed = json_array_size(spec_nodes) == 0;

		json_array_foreach(spec_nodes, i, x)
			listed |= name && js(x, "name") && strcmp(js(x, "name"), name) == 0;
		if (!name || !listed)
			continue;
		nd = &b->nodes[b->in.n_nodes++];
		nd->name = name;
		nd->iqn = js(inv, "iscsi_iqn");
		nd->nqn = js(inv, "nvme_nqn");
		nd->wwpns = strings_of(b, json_object_get(inv, "fc_wwpns"), &nd->n_wwpns);
		nd->addresses = strings_of(b, json_object_get(inv, "addresses"), &nd->n_addresses);
	}
	/*
	 * A node that is not a member right now (its kvmcd restarts, its host reboots, it is being
	 * fenced) is still a node: its initiators come from the leader's record of them
	 * ("node/<name>", written when it last published), so it keeps its access. Without a
	 * "nodes" list in the spec every node ever recorded stays; a node leaves the storage only
	 * when the spec lists nodes and no longer lists it.
	 */
	json_object_foreach((json_t *)records, k, v) {
		const char *name = k + 5;
		bool seen = false, listed = json_array_size(spec_nodes) == 0;
		struct dsplan_node *nd;

		if (strncmp(k, "node/", 5) != 0)
			continue;
		for (size_t j = 0; j < b->in.n_nodes; j++)
			seen |= strcmp(b->nodes[j].name, name) == 0;
		json_array_foreach(spec_nodes, i, x)
			listed |= js(x, "name") && strcmp(js(x, "name"), name) == 0;
		if (seen || !listed)
			continue;
		nd = &b->nodes[b->in.n_nodes++];
		nd->name = name;
		nd->iqn = js(v, "iscsi_iqn");
		nd->nqn = js(v, "nvme_nqn");
		nd->wwpns = strings_of(b, json_object_get(v, "fc_wwpns"), &nd->n_wwpns);
		nd->addresses = strings_of(b, json_object_get(v, "addresses"), &nd->n_addresses);
	}
	for (size_t j = 0; j < b->in.n_nodes; j++) {
		char key[CONFIG_HOST_NAME_MAX + 8];
		snprintf(key, sizeof(key), "fence/%s", b->nodes[j].name);
		b->nodes[j].fenced = node_fenced(json_object_get(records, key));
	}
	/* A spec node that has never published is still a node: it keeps what it has on ONTAP. */
	json_array_foreach(spec_nodes, i, x) {
		bool seen = false;
		for (size_t j = 0; j < b->in.n_nodes; j++)
			seen |= strcmp(b->nodes[j].name, js(x, "name")) == 0;
		if (!seen)
			b->nodes[b->in.n_nodes++] = (struct dsplan_node){ .name = js(x, "name") };
	}

	/* Removals: a datastore the leader recorded that the spec no longer has. */
	json_object_foreach((json_t *)records, k, v) {
		struct dsplan_removal *rm;
		bool in_spec = false;
		const char *proto = js(v, "protocol"), *sk;

		if (strncmp(k, "ds/", 3) != 0 || !proto)
			continue;
		for (size_t j = 0; j < n_specs; j++)
			in_spec |= strcmp(b->specs[j].name, k + 3) == 0;
		if (in_spec)
			continue;
		rm = &b->removals[b->in.n_removals++];
		rm->name = k + 3;
		rm->protocol = DS_PROTO_ISCSI;
		for (int p = 0; p < _DS_PROTO_MAX; p++)
			if (strcmp(ds_protocol_name(p), proto) == 0)
				rm->protocol = p;
		/* The user's explicit request, in the spec with the removal itself (datastore.h says
		 * why there): replicated, persisted, read again by every new leader. */
		rm->destroy_data = ds_destroy_data_has(spec, rm->name);
		/* Nodes whose section still says it is attached. */
		rm->attached_on = (const char *const *)(b->strs + b->n_strs);
		/* Its own key variable: json_object_foreach() steps on from the key it holds, so
		 * reusing `k` here made the walk over the records go on inside the sections and
		 * miss every removal recorded after this one. */
		json_object_foreach((json_t *)secs, sk, x) {
			const json_t *st = json_object_get(json_object_get(json_object_get(x, "section"), "datastores"),
							   rm->name);
			if (json_is_true(json_object_get(st, "attached")) && b->n_strs < b->cap_strs) {
				b->strs[b->n_strs++] = js(x, "name");
				rm->n_attached_on++;
			}
		}
		/* Destroying the data waits for every node to SAY it detached: a node that is not a
		 * member now (its kvmcd is down, its host rebooting) may still have it attached, and
		 * says nothing. It counts as attached until it is back, or the spec's "nodes" no
		 * longer lists it. (Keeping the data does not wait: that only unmaps, as a fence.) */
		for (size_t j = 0; rm->destroy_data && j < b->in.n_nodes; j++) {
			bool listed = false;
			for (size_t a = 0; a < rm->n_attached_on; a++)
				listed |= strcmp(rm->attached_on[a], b->nodes[j].name) == 0;
			/* A member whose kvmcd has not yet gone through the committed datastores (just
			 * started: it publishes its inventory first) says nothing of it yet either. */
			if (!listed && (!is_member(l, b->nodes[j].name) || !reconciled(l, b->nodes[j].name)) &&
			    b->n_strs < b->cap_strs) {
				b->strs[b->n_strs++] = b->nodes[j].name;
				rm->n_attached_on++;
			}
		}
	}

	json_array_foreach(json_object_get(obs, "volumes"), i, x)
		b->vols[b->ontap.n_volumes++] = (struct dsplan_ontap_volume){
			.name = js(x, "name"), .size = (uint64_t)json_integer_value(json_object_get(x, "size")),
			.comment = js(x, "comment"), .junction = js(x, "junction"),
			.export_policy = js(x, "export_policy") ? js(x, "export_policy") : "default",
			.is_flexclone = json_is_true(json_object_get(x, "is_flexclone")),
			.split_initiated = json_is_true(json_object_get(x, "split_initiated")) };
	json_array_foreach(json_object_get(obs, "luns"), i, x)
		b->luns[b->ontap.n_luns++] = (struct dsplan_ontap_lun){
			.path = js(x, "path"), .size = (uint64_t)json_integer_value(json_object_get(x, "size")),
			.serial = js(x, "serial"), .comment = js(x, "comment") };
	json_array_foreach(json_object_get(obs, "namespaces"), i, x)
		b->nss[b->ontap.n_namespaces++] = (struct dsplan_ontap_lun){
			.path = js(x, "path"), .size = (uint64_t)json_integer_value(json_object_get(x, "size")),
			.serial = js(x, "uuid"), .comment = js(x, "comment") };
	json_array_foreach(json_object_get(obs, "igroups"), i, x) {
		struct dsplan_ontap_igroup *g = &b->igroups[b->ontap.n_igroups++];
		g->name = js(x, "name");
		g->protocol = js(x, "protocol");
		g->comment = js(x, "comment");
		g->initiators = strings_of(b, json_object_get(x, "initiators"), &g->n_initiators);
	}
	json_array_foreach(json_object_get(obs, "lun_maps"), i, x)
		b->lmaps[b->ontap.n_lun_maps++] = (struct dsplan_ontap_map){
			.object = js(x, "object"), .group = js(x, "group"),
			.number = json_integer_value(json_object_get(x, "number")) };
	json_array_foreach(json_object_get(obs, "ns_maps"), i, x)
		b->nmaps[b->ontap.n_ns_maps++] = (struct dsplan_ontap_map){
			.object = js(x, "object"), .group = js(x, "group"),
			.number = json_integer_value(json_object_get(x, "number")) };
	json_array_foreach(json_object_get(obs, "subsystems"), i, x) {
		struct dsplan_ontap_subsystem *s = &b->subs[b->ontap.n_subsystems++];
		s->name = js(x, "name");
		s->comment = js(x, "comment");
		s->hosts = strings_of(b, json_object_get(x, "hosts"), &s->n_hosts);
	}
	{
		const char **pol = b->strs + b->n_strs;
		json_array_foreach(json_object_get(obs, "export_policies"), i, x)
			if (b->n_strs < b->cap_strs)
				b->strs[b->n_strs++] = js(x, "name");
		b->ontap.export_policies = pol;
		b->ontap.n_export_policies = (size_t)(b->strs + b->n_strs - pol);
	}
	json_array_foreach(json_object_get(obs, "rules"), i, x)
		b->rules[b->ontap.n_rules++] = (struct dsplan_ontap_rule){
			.policy = js(x, "policy"), .clients = js(x, "clients"),
			.index = json_integer_value(json_object_get(x, "index")) };
	b->ontap.volumes = b->vols;
	b->ontap.luns = b->luns;
	b->ontap.namespaces = b->nss;
	b->ontap.igroups = b->igroups;
	b->ontap.lun_maps = b->lmaps;
	b->ontap.ns_maps = b->nmaps;
	b->ontap.subsystems = b->subs;
	b->ontap.rules = b->rules;
	/* CIFS shares with their ACL entries */
	if (!ALLOC_FOR(b->shares, json_object_get(obs, "shares")))
		return -ENOMEM;
	json_array_foreach(json_object_get(obs, "shares"), i, x) {
		const json_t *acl = json_object_get(x, "acl"), *a;
		struct dsplan_ontap_ace *aces = calloc(json_array_size(acl) + 1, sizeof(*aces));
		size_t e;

		if (!aces)
			return -ENOMEM;
		json_array_foreach(acl, e, a)
			aces[e] = (struct dsplan_ontap_ace){ js(a, "user"), js(a, "type"), js(a, "permission") };
		b->shares[b->ontap.n_shares++] = (struct dsplan_ontap_share){
			.name = js(x, "name"), .path = js(x, "path"), .comment = js(x, "comment"), .acl = aces,
			.n_acl = json_array_size(acl) };
	}
	b->ontap.shares = b->shares;

	b->serves[DS_PROTO_ISCSI] = json_is_true(json_object_get(svm, "iscsi"));
	b->serves[DS_PROTO_FC] = json_is_true(json_object_get(svm, "fcp"));
	b->serves[DS_PROTO_NVME_TCP] = json_is_true(json_object_get(svm, "nvme"));
	b->serves[DS_PROTO_NFS] = json_is_true(json_object_get(svm, "nfs"));
	b->serves[DS_PROTO_SMB] = json_is_true(json_object_get(svm, "cifs"));
	b->in = (struct dsplan_input){
		.prefix = l->prefix, .cluster_id = service_cluster_id(l->ctx),
		.datastores = b->specs, .n_datastores = n_specs,
		.nodes = b->nodes, .n_nodes = b->in.n_nodes,
		.removals = b->removals, .n_removals = b->in.n_removals,
		.ontap = &b->ontap,
		/* An SVM record without protocol flags (an SVM-scoped user) says nothing. */
		.svm_serves = json_object_size(svm) ? b->serves : NULL,
	};
	return 0;
}

/* ---- records: what the nodes need, once the plan is empty ---------------------------------- */

static json_t *lifs_with_port(const json_t *lifs, const char *port)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(lifs, i, v) {
		char buf[128];
		const char *ip = json_string_value(v);
		if (!ip)
			continue;
		snprintf(buf, sizeof(buf), strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip, port);
		json_array_append_new(out, json_string(buf));
	}
	return out;
}

static const json_t *find_by(const json_t *arr, const char *key, const char *value)
{
	const json_t *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (js(x, key) && strcmp(js(x, key), value) == 0)
			return x;
	return NULL;
}

/*
 * records["ontap/svm"], what `kvmcctl preflight` on any node checks ONTAP's side with:
 * {"name": the SVM, "serves": {"<protocol>": bool, ...} | null (not readable: an SVM-scoped
 * user), "lifs": {"iscsi" | "nvme-tcp" | "nfs" | "smb": data LIFs up}, "ontap_version": "G.M.m"
 * (absent until known; the apply path checks the protection policies against it:
 * prot_check_ontap_version)}. Protocol names as the spec's.
 */
static json_t *svm_record(struct leader_ds *l, const json_t *obs)
{
	static const struct { enum ds_protocol p; const char *obs; } serves[] = {
		{ DS_PROTO_ISCSI, "iscsi" }, { DS_PROTO_FC, "fcp" }, { DS_PROTO_NVME_TCP, "nvme" },
		{ DS_PROTO_NFS, "nfs" }, { DS_PROTO_SMB, "cifs" },
	};
	static const struct { enum ds_protocol p; const char *obs; } lifs[] = {
		{ DS_PROTO_ISCSI, "iscsi" }, { DS_PROTO_NVME_TCP, "nvme_tcp" }, { DS_PROTO_NFS, "nfs" },
		{ DS_PROTO_SMB, "cifs" },
	};
	const json_t *svm = json_object_get(obs, "svm"), *olifs = json_object_get(obs, "lifs");
	const char *name = service_config(l->ctx)->ontap.svm;
	json_t *s = json_object(), *n = json_object();

	for (size_t i = 0; s && i < ARRAY_SIZE(serves); i++)
		json_object_set_new(s, ds_protocol_name(serves[i].p), json_boolean(json_is_true(json_object_get(svm, serves[i].obs))));
	for (size_t i = 0; n && i < ARRAY_SIZE(lifs); i++)
		json_object_set_new(n, ds_protocol_name(lifs[i].p), json_integer((json_int_t)json_array_size(json_object_get(olifs, lifs[i].obs))));
	if (!s || !n || !json_object_size(svm)) {
		json_decref(s);
		s = json_null();
	}
	{
		const struct ontap_version *v = l->client && l->ops.version ? l->ops.version(l->client) : NULL;
		json_t *rec = json_pack("{ss?soso}", "name", name, "serves", s, "lifs", n);
		char text[64];

		if (rec && v && v->generation) {
			snprintf(text, sizeof(text), "%d.%d.%d", v->generation, v->major, v->minor);
			json_object_set_new(rec, "ontap_version", json_string(text));
		}
		return rec;
	}
}

/*
 * records["ds/<name>"] of a datastore of the spec, what every node's walk reads: from what ONTAP
 * holds (obs: ontap-datastores.h's observed document), the plan's verdict (blocked: why it
 * cannot go on, or NULL) and the nodes one of which formats it when the record names none yet
 * (formatters: formatters_of(), NULL = none; dsplan_formatter() picks). Owned; NULL on ENOMEM.
 */
static json_t *ds_record(struct leader_ds *l, const json_t *obs, const struct ds_spec *s, const char *blocked,
			 const json_t *formatters)
{
	_cleanup_free_ char *vol = dsplan_volume_name(l->prefix, s->name);
	const json_t *records = service_records(l->ctx);
	char key[64], path[256];
	json_t *rec;

	if (!vol)
		return NULL;
	snprintf(key, sizeof(key), "ds/%s", s->name);
	/* "path" too: a node that restarts while the datastore is being removed takes it down
	 * from this record (the spec no longer has it). */
	rec = json_pack("{ssssss?sbss?ss}", "protocol", ds_protocol_name(s->protocol), "volume", vol,
			"fs", s->fs == DS_FS_NONE ? NULL : ds_fs_name(s->fs), "ready", blocked == NULL,
			"blocked", blocked, "path", s->path);
	if (!rec)
		return NULL;
	/* The previous mkfs_by stays while that node is a member: never two formatters at once
	 * (a node that died while formatting leaves a device the next one refuses to touch:
	 * it holds something -- safe, and status says so). */
	{
		const char *prev = js(json_object_get(records, key), "mkfs_by"), *names[64], *mkfs_by;
		bool still = prev && *prev && is_member(l, prev);
		size_t n = 0;

		for (size_t i = 0; i < json_array_size(formatters) && n < ARRAY_SIZE(names); i++)
			names[n++] = json_string_value(json_array_get(formatters, i));
		mkfs_by = still ? prev : dsplan_formatter(names, n, s->name, service_config(l->ctx)->node_name);
		json_object_set_new(rec, "mkfs_by", json_string(mkfs_by ? mkfs_by : ""));
	}
	/* a clone: what it was made from and, as ONTAP says, whether it is still one ("flexclone"),
	 * being split ("splitting") or a volume of its own ("split") */
	if (s->clone.parent) {
		const json_t *v = find_by(json_object_get(obs, "volumes"), "name", vol);
		const char *state = !v ? NULL
				    : !json_is_true(json_object_get(v, "is_flexclone")) ? "split"
				    : json_is_true(json_object_get(v, "split_initiated")) ? "splitting"
											 : "flexclone";
		json_object_set_new(rec, "clone", json_pack("{ssssss?}", "parent", s->clone.parent, "snapshot",
							    s->clone.snapshot ? s->clone.snapshot : "", "state", state));
	}
	switch (s->protocol) {
	case DS_PROTO_ISCSI:
	case DS_PROTO_FC:
		snprintf(path, sizeof(path), "/vol/%s/lun0", vol);
		json_object_set_new(rec, "lun_serial",
				    json_incref(json_object_get(find_by(json_object_get(obs, "luns"), "path", path), "serial")));
		if (s->protocol == DS_PROTO_ISCSI) {
			json_object_set(rec, "target_iqn", json_object_get(obs, "iscsi_target"));
			json_object_set_new(rec, "portals", lifs_with_port(json_object_get(json_object_get(obs, "lifs"), "iscsi"), "3260"));
		}
		break;
	case DS_PROTO_NVME_TCP: {
		const json_t *ss = json_array_get(json_object_get(obs, "subsystems"), 0);
		snprintf(path, sizeof(path), "/vol/%s/ns0", vol);
		json_object_set_new(rec, "ns_uuid",
				    json_incref(json_object_get(find_by(json_object_get(obs, "namespaces"), "path", path), "uuid")));
		json_object_set_new(rec, "subsystem_nqn", json_incref(json_object_get(ss, "target_nqn")));
		json_object_set_new(rec, "nvme_portals", lifs_with_port(json_object_get(json_object_get(obs, "lifs"), "nvme_tcp"), "4420"));
		break;
	}
	case DS_PROTO_NFS:
	case DS_PROTO_SMB: {
		const json_t *v = find_by(json_object_get(obs, "volumes"), "name", vol);
		json_object_set_new(rec, "export_path", json_incref(json_object_get(v, "junction")));
		/* SMB: the share is named like the volume (the host mounts //server/<share>), served
		 * by the SVM's CIFS LIFs */
		json_object_set(rec, "nas_servers", json_object_get(json_object_get(obs, "lifs"),
								      s->protocol == DS_PROTO_SMB ? "cifs" : "nfs"));
		if (s->protocol == DS_PROTO_SMB)
			json_object_set_new(rec, "share", json_string(vol));
		break;
	}
	default:
		break;
	}
	return rec;
}

/* What the nodes need of a datastore is all there (a node cannot attach without it). */
static bool ds_record_complete(const json_t *rec)
{
	const char *proto = js(rec, "protocol");

	if (!proto || !json_is_true(json_object_get(rec, "ready")))
		return false;
	if (strcmp(proto, "iscsi") == 0)
		return js(rec, "lun_serial") && js(rec, "target_iqn") && json_array_size(json_object_get(rec, "portals"));
	if (strcmp(proto, "fc") == 0)
		return js(rec, "lun_serial");
	if (strcmp(proto, "nvme-tcp") == 0)
		return js(rec, "ns_uuid") && js(rec, "subsystem_nqn") && json_array_size(json_object_get(rec, "nvme_portals"));
	if (strcmp(proto, "nfs") == 0 || strcmp(proto, "smb") == 0)
		return js(rec, "export_path") && *js(rec, "export_path") && json_array_size(json_object_get(rec, "nas_servers"));
	return false;
}

/* The nodes that may format a datastore: the plan's nodes that are members right now (a node
 * whose kvmcd is down would never do it); ds_record() picks one per datastore. A JSON array of
 * names, owned; NULL on ENOMEM. */
static json_t *formatters_of(struct leader_ds *l, const struct input_buf *b)
{
	json_t *names = json_array();

	for (size_t i = 0; names && i < b->in.n_nodes; i++)
		if (is_member(l, b->nodes[i].name) && json_array_append_new(names, json_string(b->nodes[i].name)) < 0) {
			json_decref(names);
			return NULL;
		}
	return names;
}

static void write_records(struct leader_ds *l, const json_t *obs, const struct input_buf *b, const struct dsplan *plan,
			  uint64_t epoch)
{
	_cleanup_free_ char *error = NULL;
	json_t *patch = json_object();
	const json_t *records = service_records(l->ctx);
	_cleanup_(json_decrefp) json_t *formatters = NULL;
	uint64_t version;
	int r;

	/* What each member published of its initiators, kept for when it is not a member. */
	{
		const json_t *secs = service_node_sections(l->ctx), *v;
		const char *k;

		json_object_foreach((json_t *)secs, k, v) {
			const json_t *inv = json_object_get(json_object_get(v, "section"), INVENTORY_SECTION_KEY);
			char key[128];
			json_t *rec;

			if (!js(v, "name") || !json_is_object(inv))
				continue;
			rec = json_pack("{sOsOsOsO}", "iscsi_iqn", json_object_get(inv, "iscsi_iqn") ?: json_null(),
					"nvme_nqn", json_object_get(inv, "nvme_nqn") ?: json_null(), "fc_wwpns",
					json_object_get(inv, "fc_wwpns") ?: json_null(), "addresses",
					json_object_get(inv, "addresses") ?: json_null());
			snprintf(key, sizeof(key), "node/%s", js(v, "name"));
			if (rec && !json_equal(json_object_get(records, key), rec))
				json_object_set_new(patch, key, rec);
			else
				json_decref(rec);
		}
	}
	/* NULL (out of memory): no formatter named yet; the next plan names one */
	formatters = formatters_of(l, b); /* a record's formatter stays while it is a member: ds_record() */
	for (size_t i = 0; i < b->in.n_datastores; i++) {
		const struct ds_spec *s = &b->specs[i];
		const char *blocked = NULL;
		char key[64];
		json_t *rec;

		snprintf(key, sizeof(key), "ds/%s", s->name);
		for (size_t k = 0; k < plan->n_blocked; k++)
			if (strcmp(plan->blocked[k].datastore, s->name) == 0)
				blocked = plan->blocked[k].why;
		rec = ds_record(l, obs, s, blocked, formatters);
		if (rec && !json_equal(json_object_get(records, key), rec))
			json_object_set_new(patch, key, rec);
		else
			json_decref(rec);
	}
	/*
	 * A removed datastore's record says how its removal goes: "removed": true, "ready": false,
	 * "destroy_data" (the user asked), "blocked" (what it waits for: nodes to detach, an
	 * object kvmcd did not create) and, once its volume is all that is left, "kept": true (the
	 * data stays; status shows it). A removal that is done -- nothing of it planned, nothing
	 * waited for, no volume kept -- loses its record: its data is destroyed, or was not ours.
	 */
	for (size_t i = 0; i < b->in.n_removals; i++) {
		const struct dsplan_removal *rm = &b->removals[i];
		bool pending = rm->n_attached_on > 0, kept = false;
		const char *blocked = NULL;
		_cleanup_free_ char *why = NULL, *absent = NULL;
		char key[64];
		json_t *cur;

		for (size_t k = 0; k < plan->n_ops; k++)
			pending |= plan->ops[k].datastore && strcmp(plan->ops[k].datastore, rm->name) == 0;
		for (size_t k = 0; k < plan->n_blocked; k++)
			if (strcmp(plan->blocked[k].datastore, rm->name) == 0)
				blocked = plan->blocked[k].why;
		for (size_t k = 0; k < plan->n_kept_volumes; k++) {
			_cleanup_free_ char *vol = dsplan_volume_name(l->prefix, rm->name);
			kept |= vol && strcmp(plan->kept_volumes[k], vol) == 0;
		}
		snprintf(key, sizeof(key), "ds/%s", rm->name);
		if (!pending && !kept && !blocked) {
			json_object_set_new(patch, key, json_null());
			continue;
		}
		/* Nodes waited for that are not members cannot say they detached: say so. */
		for (size_t a = 0; blocked && a < rm->n_attached_on; a++)
			if (!is_member(l, rm->attached_on[a])) {
				char *more = NULL;
				if (asprintf(&more, "%s%s%s", absent ? absent : "", absent ? ", " : "", rm->attached_on[a]) < 0)
					break;
				free(absent);
				absent = more;
			}
		if (absent && asprintf(&why, "%s (%s: not a member now, so it cannot confirm; its kvmcd must come back, or the spec's \"nodes\" stop listing it)",
				       blocked, absent) < 0)
			why = NULL;
		cur = json_deep_copy(json_object_get(records, key));
		if (!cur)
			continue;
		json_object_set_new(cur, "removed", json_true());
		json_object_set_new(cur, "ready", json_false());
		json_object_set_new(cur, "destroy_data", json_boolean(rm->destroy_data));
		json_object_set_new(cur, "kept", json_boolean(kept && !pending));
		json_object_set_new(cur, "blocked", blocked ? json_string(why ? why : blocked) : json_null());
		if (!json_equal(json_object_get(records, key), cur))
			json_object_set_new(patch, key, cur);
		else
			json_decref(cur);
	}
	{
		json_t *svm = svm_record(l, obs);
		if (svm && !json_equal(json_object_get(records, "ontap/svm"), svm))
			json_object_set_new(patch, "ontap/svm", svm);
		else
			json_decref(svm);
	}
	/* The plan is empty: no ONTAP error stands (the datastores' records are rebuilt above). */
	if (json_object_get(records, ONTAP_ERROR_KEY))
		json_object_set_new(patch, ONTAP_ERROR_KEY, json_null());
	/* Cloned hosts: the nodes the plan keeps off the array for a name another node has too,
	 * each with why (a blocking error every node shows: status, datastore show). */
	{
		json_t *blocked = json_object();

		for (size_t i = 0; blocked && i < plan->n_cloned; i++) {
			json_t *why = json_object_get(blocked, plan->cloned[i].subject);
			if (!why)
				json_object_set_new(blocked, plan->cloned[i].subject, why = json_array());
			json_array_append_new(why, json_string(plan->cloned[i].why));
		}
		const json_t *had = json_object_get(records, BLOCKED_NODES_KEY);

		if (blocked && json_object_size(blocked) && !json_equal(had, blocked))
			json_object_set_new(patch, BLOCKED_NODES_KEY, blocked);
		else {
			if (blocked && !json_object_size(blocked) && had)
				json_object_set_new(patch, BLOCKED_NODES_KEY, json_null());
			json_decref(blocked);
		}
	}
	if (json_object_size(patch) == 0) {
		json_decref(patch);
		return;
	}
	r = service_leader_patch(l->ctx, epoch, patch, &version, &error);
	if (r < 0)
		klog(service_log(l->ctx), LOG_WARNING, "Cannot record the datastores' state: %s", error ? error : strerror(-r));
	json_decref(patch);
}

/* ---- the loop ----------------------------------------------------------------------------- */

/*
 * One execution of a plan. The nodes need not wait for the whole plan: a datastore whose own
 * ops and the cluster-wide ones (igroups, the subsystem and its hosts, the export policy and
 * rules) are done is recorded at once (on_progress), from what ONTAP showed plus what the ops
 * made; the read after the plan checks it all and write_records() settles the rest.
 */
struct run_ctx {
	struct leader_ds *l;
	struct dsplan *plan;         /* owned while executing */
	json_t *obs;                 /* owned: what ONTAP held, plus what this plan's ops made */
	json_t *formatters;          /* owned: the nodes the plan's records pick formatters from */
	bool *ok;                    /* owned: per op, it succeeded */
	json_t *done;                /* owned: {datastore: true} ready to record, not recorded yet */
	sd_event_source *flush;      /* owned: records `done` from the loop, one patch for a burst */
	uint64_t flushed_version;    /* the version of the last records patch, 0 before the first */
	bool granting;               /* counted in the grants record: leader_ontap_grants_end() due */
};

static void run_ctx_free(struct run_ctx *rc)
{
	if (!rc)
		return;
	if (rc->l && rc->l->executing == rc)
		rc->l->executing = NULL;
	dsplan_free(rc->plan);
	json_decref(rc->obs);
	json_decref(rc->done);
	json_decref(rc->formatters);
	free(rc->ok);
	sd_event_source_disable_unref(rc->flush);
	free(rc);
}

/* What an op that succeeded made, into rc->obs: what ds_record() reads of it. */
static void learn(struct run_ctx *rc, const struct dsplan_op *op, const json_t *record)
{
	json_t *obs = rc->obs, *v;

	switch (op->kind) {
	case DSPLAN_VOLUME_ENSURE:
		if (!find_by(json_object_get(obs, "volumes"), "name", op->object))
			json_array_append_new(json_object_get(obs, "volumes"),
					      json_pack("{sssIss?ss?ss?}", "name", op->object, "size", (json_int_t)op->size,
							"comment", op->comment, "junction", op->junction, "export_policy",
							op->junction ? (op->target ? op->target : "default") : NULL));
		break;
	case DSPLAN_VOLUME_CLONE:
		if (!find_by(json_object_get(obs, "volumes"), "name", op->object))
			json_array_append_new(json_object_get(obs, "volumes"),
					      json_pack("{sssIss?sbsb}", "name", op->object, "size", (json_int_t)0, "comment",
							op->comment, "is_flexclone", 1, "split_initiated", 0));
		break;
	case DSPLAN_VOLUME_CLONE_SPLIT:
		/* started (ONTAP splits in the background) or, as the op's read-back says, done */
		v = (json_t *)find_by(json_object_get(obs, "volumes"), "name", op->object);
		if (v) {
			const json_t *cl = json_object_get(record, "clone");
			json_object_set_new(v, "split_initiated", json_true());
			if (json_is_false(json_object_get(cl, "is_flexclone")))
				json_object_set_new(v, "is_flexclone", json_false());
		}
		break;
	case DSPLAN_VOLUME_MOUNT:
		v = (json_t *)find_by(json_object_get(obs, "volumes"), "name", op->object);
		if (v) {
			json_object_set_new(v, "junction", json_string(op->junction ? op->junction : ""));
			json_object_set_new(v, "export_policy", json_string(op->target ? op->target : "default"));
		}
		break;
	case DSPLAN_LUN_ENSURE:
	case DSPLAN_NAMESPACE_ENSURE: {
		bool lun = op->kind == DSPLAN_LUN_ENSURE;
		const char *arr = lun ? "luns" : "namespaces";

		if (!find_by(json_object_get(obs, arr), "path", op->object))
			json_array_append_new(json_object_get(obs, arr),
					      json_pack("{sssIss?}", "path", op->object, "size", (json_int_t)op->size,
							lun ? "serial" : "uuid",
							js(record, lun ? "serial_number" : "uuid")));
		break;
	}
	case DSPLAN_SUBSYSTEM_ENSURE:
		if (!find_by(json_object_get(obs, "subsystems"), "name", op->object))
			json_array_append_new(json_object_get(obs, "subsystems"),
					      json_pack("{sss[]ss?}", "name", op->object, "hosts", "target_nqn",
							js(record, "target_nqn")));
		break;
	default:
		break; /* nothing a node's record is made of */
	}
}

static void flush_done(struct run_ctx *rc)
{
	struct leader_ds *l = rc->l;
	const struct ds_spec *specs = NULL;
	_cleanup_free_ char *error = NULL;
	const json_t *records = service_records(l->ctx), *v;
	uint64_t epoch = service_acting_epoch(l->ctx), version;
	const char *name;
	json_t *patch;
	size_t n = 0;
	int r;

	if (!json_object_size(rc->done) || !epoch || !l->client)
		return;
	/* The spec as committed now: a datastore it lost or changed meanwhile waits for the next
	 * plan (that one is recorded by write_records()). */
	if (service_ds_specs(l->ctx, &specs, &n) < 0 || !(patch = json_object()))
		return;
	json_object_foreach(rc->done, name, v) {
		char key[64];
		json_t *rec = NULL;

		for (size_t i = 0; i < n && !rec; i++)
			if (strcmp(specs[i].name, name) == 0)
				rec = ds_record(l, rc->obs, &specs[i], NULL, rc->formatters);
		snprintf(key, sizeof(key), "ds/%s", name);
		if (rec && ds_record_complete(rec) && !json_equal(json_object_get(records, key), rec))
			json_object_set_new(patch, key, rec);
		else
			json_decref(rec);
	}
	json_object_clear(rc->done);
	if (json_object_size(patch)) {
		r = service_leader_patch(l->ctx, epoch, patch, &version, &error);
		if (r < 0)
			klog(service_log(l->ctx), LOG_WARNING, "Cannot record the datastores' state: %s",
			     error ? error : strerror(-r));
		else {
			rc->flushed_version = version;
			klog(service_log(l->ctx), LOG_DEBUG, "Recorded %zu datastore(s) for the nodes (version %" PRIu64 ")",
			     json_object_size(patch), version);
		}
	}
	json_decref(patch);
}

/*
 * Records the completed datastores now, or once the previous records patch has committed: one
 * records patch in flight at a time. Each patch is a CPG round that every node persists
 * (fdatasync) and acknowledges, and each commit runs every node's walk over the datastores; one
 * per datastore as it completed (issue 7's benchmark: ~50 patches for 50 datastores) kept
 * corosync's token spinning and every node's loop busy while the leader still waited for ONTAP's
 * answers. Those that complete while one is in flight go together in the next. A patch that
 * cannot commit (the leader lost its epoch) holds nothing: the run ends with a flush anyway
 * (on_executed), and a new leader records everything from its own read.
 */
static void flush_soon(struct run_ctx *rc)
{
	if (!json_object_size(rc->done))
		return;
	if (rc->flushed_version && service_committed_version(rc->l->ctx) < rc->flushed_version)
		return; /* leader_ds_kick() flushes when it commits */
	sd_event_source_set_enabled(rc->flush, SD_EVENT_ONESHOT);
}

static int on_flush(sd_event_source *s, void *userdata)
{
	flush_done(userdata);
	return 0;
}

static void on_progress(void *userdata, size_t i, int r, const json_t *record)
{
	struct run_ctx *rc = userdata;
	const struct dsplan *p = rc->plan;

	if (r < 0 || i >= p->n_ops)
		return;
	rc->ok[i] = true;
	learn(rc, &p->ops[i], record);
	/* Datastores now complete: every op of theirs and every cluster-wide op done (an NFS
	 * datastore needs the export rules, which wait for nothing of it). A cluster-wide op that
	 * ends may complete several. */
	for (size_t k = 0; k < p->n_ops; k++) {
		const char *ds = p->ops[k].datastore;
		bool complete = ds && rc->ok[k] && !json_object_get(rc->done, ds);

		if (!complete || (p->ops[i].datastore && strcmp(ds, p->ops[i].datastore) != 0))
			continue;
		for (size_t j = 0; j < p->n_ops && complete; j++)
			if (!rc->ok[j] && (!p->ops[j].datastore || strcmp(p->ops[j].datastore, ds) == 0))
				complete = false;
		if (complete)
			json_object_set_new(rc->done, ds, json_true());
	}
	flush_soon(rc);
}

static void on_observed(void *userdata, int r, const json_t *obs, const struct ontap_error *err);

static void observe(struct leader_ds *l)
{
	int r;

	if (!l->client)
		return;
	l->running = true;
	r = l->ops.observe(l->client, l->prefix, on_observed, l);
	if (r < 0)
		fail(l, "cannot start reading ONTAP: %s", strerror(-r));
}

/*
 * Makes the ONTAP errors of a run visible on every node, in the records: a failed operation of
 * a datastore in its "ds/<name>" record ("error": the operation and ONTAP's words with its code,
 * "error_code": the code alone; created with the datastore's protocol if the leader has not
 * recorded it yet), one of no datastore (igroups, the subsystem, the export policy) and a
 * failed read of ONTAP in ONTAP_ERROR_KEY. A datastore whose operation succeeded this time loses
 * its error; write_records() clears every error once the plan is empty. errors: {"<datastore>"
 * or "": {"error", "error_code"}}; ok: the datastores with an operation that succeeded.
 */
static void record_errors(struct leader_ds *l, const json_t *errors, const json_t *ok)
{
	const struct ds_spec *specs = NULL;
	_cleanup_free_ char *error = NULL;
	const json_t *records = service_records(l->ctx), *v;
	uint64_t epoch = service_acting_epoch(l->ctx), version;
	json_t *patch = json_object();
	size_t n_specs = 0;
	const char *name;
	int r;

	if (!epoch || !patch) {
		json_decref(patch);
		return;
	}
	(void)service_ds_specs(l->ctx, &specs, &n_specs); /* a committed spec is valid */
	json_object_foreach((json_t *)errors, name, v) {
		char key[64];
		json_t *rec;

		if (!*name) {
			if (!json_equal(json_object_get(records, ONTAP_ERROR_KEY), v))
				json_object_set(patch, ONTAP_ERROR_KEY, (json_t *)v);
			continue;
		}
		snprintf(key, sizeof(key), "ds/%s", name);
		rec = json_deep_copy(json_object_get(records, key));
		for (size_t i = 0; !rec && i < n_specs; i++)
			if (strcmp(specs[i].name, name) == 0)
				rec = json_pack("{sssb}", "protocol", ds_protocol_name(specs[i].protocol), "ready", 0);
		if (!rec)
			continue; /* neither in the spec nor recorded: nothing to show it on */
		json_object_set(rec, "error", json_object_get(v, "error"));
		json_object_set(rec, "error_code", json_object_get(v, "error_code"));
		if (!json_equal(json_object_get(records, key), rec))
			json_object_set_new(patch, key, rec);
		else
			json_decref(rec);
	}
	json_object_foreach((json_t *)ok, name, v) {
		char key[64];
		const json_t *had;

		snprintf(key, sizeof(key), "ds/%s", name);
		had = json_object_get(records, key);
		if (json_object_get(errors, name) || !json_object_get(had, "error"))
			continue;
		json_object_set_new(patch, key, json_deep_copy(had));
		json_object_del(json_object_get(patch, key), "error");
		json_object_del(json_object_get(patch, key), "error_code");
	}
	if (json_object_size(patch)) {
		r = service_leader_patch(l->ctx, epoch, patch, &version, &error);
		if (r < 0)
			klog(service_log(l->ctx), LOG_WARNING, "Cannot record the datastores' ONTAP errors: %s",
			     error ? error : strerror(-r));
	}
	json_decref(patch);
}

/* {"error": "<op kind>[ <object>]: <what failed> [ONTAP error N]", "error_code": N | null} */
static json_t *error_entry(const char *what, const char *text, const char *code)
{
	char buf[1536];

	snprintf(buf, sizeof(buf), "%s: %s", what, text);
	return json_pack("{ssss?}", "error", buf, "error_code", code);
}

static void on_executed(void *userdata, int r, const json_t *results)
{
	struct run_ctx *rc = userdata;
	struct leader_ds *l = rc->l;
	json_t *errors = json_object(), *ok = json_object();
	const char *first = NULL;
	char what[512];
	const json_t *x;
	size_t i;

	if (rc->granting) {
		/* answered: ONTAP said something about every request (a failed op that carries no
		 * ONTAP error code -- a timeout, a reset, a cancel -- may still be carried out) */
		bool answered = r != -ECANCELED;
		json_array_foreach(results, i, x)
			if (json_integer_value(json_object_get(x, "r")) < 0 && !json_object_get(x, "code"))
				answered = false;
		rc->granting = false;
		leader_ontap_grants_end(answered);
	}
	json_array_foreach(results, i, x) {
		const json_t *op = json_object_get(x, "op");
		const char *ds = js(op, "datastore");
		int e = (int)json_integer_value(json_object_get(x, "r"));
		_cleanup_free_ char *opj = NULL;

		if (e >= 0) {
			if (ds && ok)
				json_object_set_new(ok, ds, json_true());
			continue;
		}
		opj = json_dumps(op, JSON_COMPACT | JSON_SORT_KEYS);
		klog(service_log(l->ctx), LOG_ERR, "Datastores on ONTAP: %s failed: %s", opj ? opj : "?",
		     js(x, "error") ? js(x, "error") : strerror(-e));
		/* "volume-ensure: volume 'x': ..." -- the object once: the client's text names it */
		snprintf(what, sizeof(what), "%s%s%s", js(op, "kind") ? js(op, "kind") : "operation",
			 js(op, "object") && !(js(x, "error") && strstr(js(x, "error"), js(op, "object"))) ? " " : "",
			 js(op, "object") && !(js(x, "error") && strstr(js(x, "error"), js(op, "object"))) ? js(op, "object") : "");
		if (errors && !json_object_get(errors, ds ? ds : ""))
			json_object_set_new(errors, ds ? ds : "",
					    error_entry(what, js(x, "error") ? js(x, "error") : strerror(-e), js(x, "code")));
		if (!first && errors)
			first = json_string_value(json_object_get(json_object_get(errors, ds ? ds : ""), "error"));
	}
	/* Already recorded those that completed; the rest waits for the read below. */
	if (r != -ECANCELED && l->client)
		flush_done(rc);
	run_ctx_free(rc);
	if (r == -ECANCELED || !l->client) {
		json_decref(errors);
		json_decref(ok);
		l->running = false;
		return;
	}
	if (errors && ok && (json_object_size(errors) || json_object_size(ok)))
		record_errors(l, errors, ok);
	if (r < 0) {
		_cleanup_free_ char *why = first ? strdup(first) : NULL;
		json_decref(errors);
		json_decref(ok);
		return fail(l, "the plan stopped at a failed operation: %s", why ? why : strerror(-r));
	}
	json_decref(errors);
	json_decref(ok);
	observe(l); /* and again, until the plan is empty */
}

static bool plan_may_grant(const struct dsplan *plan)
{
	for (size_t i = 0; i < plan->n_ops; i++)
		if (dsplan_op_may_grant(plan->ops[i].kind))
			return true;
	return false;
}

/* Executes rc's plan -- once the grants record says an access grant may be in flight, if the
 * plan may send one (leader-ontap.h); until that commits the run is held (leader_ds_kick). */
static void execute_plan(struct leader_ds *l, struct run_ctx *rc)
{
	char comment[64];
	int r;

	if (!rc->granting && plan_may_grant(rc->plan)) {
		r = leader_ontap_grants_begin();
		if (r == -EAGAIN) {
			l->held = rc;
			return;
		}
		if (r < 0) {
			run_ctx_free(rc);
			return fail(l, "cannot record the access grants about to be sent: %s", strerror(-r));
		}
		rc->granting = true;
	}
	snprintf(comment, sizeof(comment), "kvmcd:%s", service_cluster_id(l->ctx));
	l->executing = rc;
	r = l->ops.execute(l->client, rc->plan->ops, rc->plan->n_ops, comment, on_progress, on_executed, rc);
	if (r < 0) {
		if (rc->granting)
			leader_ontap_grants_end(true); /* nothing was sent */
		run_ctx_free(rc);
		return fail(l, "cannot start the plan: %s", strerror(-r));
	}
}

static void on_observed(void *userdata, int r, const json_t *obs, const struct ontap_error *err)
{
	struct leader_ds *l = userdata;
	struct input_buf b;
	struct dsplan *plan = NULL;
	uint64_t epoch = 0;

	if (r == -ECANCELED || !l->client) {
		l->running = false;
		return;
	}
	if (r < 0) {
		char text[1024];
		json_t *errors = json_object(), *e;

		ontap_error_format(err && err->error ? err : &(struct ontap_error){ .error = r }, text, sizeof(text));
		e = error_entry("reading ONTAP", text, err && err->code_text[0] ? err->code_text : NULL);
		if (errors && e)
			json_object_set_new(errors, "", e);
		else
			json_decref(e);
		if (errors)
			record_errors(l, errors, NULL);
		json_decref(errors);
		return fail(l, "cannot read ONTAP: %s", text);
	}
	r = input_build(l, obs, &b);
	if (r >= 0)
		r = dsplan_compute(&b.in, &plan);
	if (r < 0) {
		input_free(&b);
		return fail(l, "cannot compute the datastore plan: %s", strerror(-r));
	}
	json_decref(l->last);
	l->last = json_pack("{sIsIsIsI}", "ops", (json_int_t)plan->n_ops, "waves", (json_int_t)plan->n_waves, "blocked",
			    (json_int_t)plan->n_blocked, "waiting", (json_int_t)plan->n_waiting);
	for (size_t i = 0; l->last && i < plan->n_blocked; i++) {
		if (!json_object_get(l->last, "why"))
			json_object_set_new(l->last, "why", json_object());
		json_object_set_new(json_object_get(l->last, "why"), plan->blocked[i].datastore,
				    json_string(plan->blocked[i].why));
	}
	if (plan->n_ops && ++l->rounds <= MAX_ROUNDS) {
		struct run_ctx *rc = calloc(1, sizeof(*rc));

		klog(service_log(l->ctx), LOG_INFO, "Datastores on ONTAP: %zu operation%s in %u wave%s", plan->n_ops,
		     plan->n_ops == 1 ? "" : "s", plan->n_waves, plan->n_waves == 1 ? "" : "s");
		if (rc) {
			*rc = (struct run_ctx){ .l = l, .plan = plan, .obs = json_deep_copy(obs),
						.formatters = formatters_of(l, &b), .ok = calloc(plan->n_ops, sizeof(bool)),
						.done = json_object() };
			r = sd_event_add_defer(service_event(l->ctx), &rc->flush, on_flush, rc);
			if (r >= 0)
				r = sd_event_source_set_enabled(rc->flush, SD_EVENT_OFF);
		}
		input_free(&b);
		if (!rc || !rc->obs || !rc->ok || !rc->done || !rc->formatters || !rc->flush) {
			if (rc)
				run_ctx_free(rc);
			else
				dsplan_free(plan);
			return fail(l, "out of memory");
		}
		execute_plan(l, rc);
		return;
	}
	if (plan->n_ops)
		klog(service_log(l->ctx), LOG_ERR,
		     "Datastores on ONTAP: the plan is not empty after %u rounds (%zu operations left); pausing",
		     MAX_ROUNDS, plan->n_ops);
	if (!plan->n_ops)
		l->settled_version = l->run_version;
	/* Done (or paused): record what the nodes need. */
	epoch = service_acting_epoch(l->ctx);
	if (epoch)
		write_records(l, obs, &b, plan, epoch);
	dsplan_free(plan);
	input_free(&b);
	l->failures = 0;
	l->error[0] = 0;
	l->running = false;
	if (l->again) {
		l->again = false;
		run(l);
	} else {
		arm(l, PERIOD_USEC);
	}
}

static void run(struct leader_ds *l)
{
	if (!l->client)
		return;
	if (l->running) {
		l->again = true;
		return;
	}
	l->rounds = 0;
	l->sections_sig = sections_signature(l); /* a change from now on runs the loop again */
	l->committed_sig = committed_signature(l);
	l->others_sig = others_signature(l);
	l->run_version = service_committed_version(l->ctx);
	observe(l);
}

void leader_ds_kick(struct leader_ds *l)
{
	uint64_t sig;

	if (!l || !l->client)
		return;
	if (l->held) {
		/* a commit: perhaps the grants record the held plan waits for */
		struct run_ctx *rc = TAKE_PTR(l->held);
		execute_plan(l, rc);
		return;
	}
	if (l->executing)
		flush_soon(l->executing); /* perhaps the records patch it waited for */
	sig = committed_signature(l);
	/* A commit of nothing the plan reads (mostly this loop's own records) changes no plan: no
	 * second read of ONTAP for it. During a run, only when it was this loop's own records alone
	 * (others_signature() says why). */
	if (sig && sig == l->committed_sig && (!l->running || others_signature(l) == l->others_sig))
		return;
	run(l);
}

void leader_ds_sections(struct leader_ds *l)
{
	if (l && l->client && sections_signature(l) != l->sections_sig)
		run(l);
}

void leader_ds_set_client(struct leader_ds *l, struct ontap_client *client, const struct leader_ds_ontap *ops)
{
	if (!l)
		return;
	l->client = client;
	if (ops)
		l->ops = *ops;
	if (l->held) {
		/* not sent: the next run plans again */
		run_ctx_free(TAKE_PTR(l->held));
		leader_ontap_grants_cancel();
		l->running = false;
	}
	if (client)
		run(l);
	else if (l->timer)
		sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
}

const char *leader_ds_prefix(const struct leader_ds *l)
{
	return l ? l->prefix : NULL;
}

uint64_t leader_ds_settled_version(const struct leader_ds *l)
{
	return l ? l->settled_version : 0;
}

json_t *leader_ds_status(const struct leader_ds *l)
{
	if (!l)
		return NULL;
	return json_pack("{sssOss?}", "prefix", l->prefix, "last_plan", l->last ? l->last : json_null(), "error",
			 l->error[0] ? l->error : NULL);
}

int leader_ds_new(struct service_ctx *ctx, const char *cluster_name, struct leader_ds **out)
{
	struct leader_ds *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	l->prefix = dsplan_prefix(cluster_name);
	if (!l->prefix) {
		free(l);
		return -ENOMEM;
	}
	r = sd_event_add_time(service_event(ctx), &l->timer, CLOCK_MONOTONIC, 0, USEC_PER_SEC / 10, on_timer, l);
	if (r >= 0)
		r = sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
	if (r < 0) {
		leader_ds_free(l);
		return r;
	}
	*out = l;
	return 0;
}

void leader_ds_free(struct leader_ds *l)
{
	if (!l)
		return;
	sd_event_source_disable_unref(l->timer);
	run_ctx_free(l->held);
	json_decref(l->last);
	free(l->prefix);
	free(l);
}
