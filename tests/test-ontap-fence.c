/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ONTAP storage fence and the two-node claim (resources/ontap/ontap-fence.h) against
 * tests/ontap-sim. Datastores of every protocol are provisioned for three nodes the way the
 * leader does it (ontap_ds_observe -> dsplan_compute -> ontap_ds_execute until the plan is empty);
 * what a host can reach is read from the simulator's data path (/sim/access), which the full-stack
 * tier's target hook turns into real LIO / nvmet ACLs. Exit 77 when the simulator is not built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datastore-plan.h"
#include "ontap-datastores.h"
#include "ontap-fence.h"
#include "ontap-test-util.h"

static int failures;
static const char *current = "";

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "[%s] %s:%d: CHECK failed: %s\n", current, __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static struct sim S;
static sd_event *ev;

#define PREFIX "kvmcd_lab"
#define COMMENT "kvmcd:c1"

/* ---------------------------------------------------------------- the three nodes */

static const char *const wwpn[3][1] = { { "20:00:00:25:b5:00:00:01" }, { "20:00:00:25:b5:00:00:02" },
					 { "20:00:00:25:b5:00:00:03" } };
static const char *const addr[3][1] = { { "10.0.0.11" }, { "10.0.0.12" }, { "10.0.0.13" } };
static struct dsplan_node nodes[3] = {
	{ "n1", "iqn.1994-05.com.redhat:n1", wwpn[0], 1, "nqn.2014-08.org.nvmexpress:uuid:n1", addr[0], 1, false },
	{ "n2", "iqn.1994-05.com.redhat:n2", wwpn[1], 1, "nqn.2014-08.org.nvmexpress:uuid:n2", addr[1], 1, false },
	{ "n3", "iqn.1994-05.com.redhat:n3", wwpn[2], 1, "nqn.2014-08.org.nvmexpress:uuid:n3", addr[2], 1, false },
};

static struct ontap_fence_node fence_node(int i)
{
	return (struct ontap_fence_node){ .name = nodes[i].name, .iqn = nodes[i].iqn, .wwpns = nodes[i].wwpns,
					  .n_wwpns = nodes[i].n_wwpns, .nqn = nodes[i].nqn,
					  .addresses = nodes[i].addresses, .n_addresses = nodes[i].n_addresses };
}

static const struct ontap_fence_options fopts = { .prefix = PREFIX, .comment = COMMENT };

/* ---------------------------------------------------------------- blocking helpers (setup, checks) */

struct buf { char *p; size_t n; };
static size_t buf_add(char *p, size_t sz, size_t n, void *ud)
{
	struct buf *b = ud;
	char *q = realloc(b->p, b->n + sz * n + 1);

	if (!q)
		return 0;
	memcpy(q + b->n, p, sz * n);
	b->n += sz * n;
	q[b->n] = 0;
	b->p = q;
	return sz * n;
}

/* A request to the simulator outside the loop (setup, and what a host would see). Owned answer. */
static json_t *http(const char *method, const char *path, const char *body, long *status)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct buf b = {};
	char url[512];
	json_t *j = NULL;

	*status = 0;
	snprintf(url, sizeof url, "https://%s%s", S.address, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CAINFO, S.cert);
	curl_easy_setopt(e, CURLOPT_USERPWD, "admin:netapp1!");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_add);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	if (b.p)
		j = json_loads(b.p, 0, NULL);
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return j;
}

static long api(const char *method, const char *path, const char *body)
{
	long st;
	json_decref(http(method, path, body, &st));
	return st;
}

/* What node i reaches through the fabric now: "L<n> N<n> F<rw volumes>" (LUNs by its IQN and
 * WWPN, namespaces by its NQN, NFS volumes it may write). */
static void reach(int i, char *out, size_t size)
{
	char path[256];
	long st;
	json_t *a, *b, *c, *x;
	size_t k, rw = 0;

	snprintf(path, sizeof path, "/sim/access?initiator=%s,%s", nodes[i].iqn, nodes[i].wwpns[0]);
	a = http("GET", path, NULL, &st);
	snprintf(path, sizeof path, "/sim/access?hostnqn=%s", nodes[i].nqn);
	b = http("GET", path, NULL, &st);
	snprintf(path, sizeof path, "/sim/access?client=%s", nodes[i].addresses[0]);
	c = http("GET", path, NULL, &st);
	json_array_foreach(json_object_get(c, "exports"), k, x)
		rw += strcmp(json_string_value(json_object_get(x, "nfs")) ?: "", "rw") == 0;
	snprintf(out, size, "L%zu N%zu F%zu", json_array_size(json_object_get(a, "luns")),
		 json_array_size(json_object_get(b, "namespaces")), rw);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static int mutations(void)
{
	return sim_log_count(&S, "\"method\":\"DELETE\"", NULL) + sim_log_count(&S, "\"method\":\"POST\"", NULL) +
	       sim_log_count(&S, "\"method\":\"PATCH\"", NULL);
}

static struct ontap_client *client_new(const char *node, uint64_t epoch)
{
	struct ontap_options o = {};
	struct ontap_client *c = NULL;
	struct ontap_error e = {};
	int r;

	sim_options(&S, &o);
	r = ontap_client_new_for_test(&c, ev, &o, node, getuid(), &e);
	if (r < 0) {
		fprintf(stderr, "client: %s\n", e.message ?: strerror(-r));
		exit(1);
	}
	ontap_client_set_epoch(c, epoch, true);
	ontap_client_set_retry_policy(c, &(struct ontap_retry_policy) { 5, 50000, 500000, 15000000 });
	ontap_client_set_job_poll(c, 50000, 200000);
	ontap_options_clear(&o);
	ontap_error_clear(&e);
	return c;
}

static void reset(const char *name)
{
	current = name;
	fprintf(stderr, "--- %s\n", name);
	sim_control(&S, "POST", "/_sim/reset", NULL);
	sim_control(&S, "POST", "/_sim/config", "{\"job_ms\":50,\"ontap_version\":\"9.14.1\"}");
	sim_log_mark(&S);
}

/* ---------------------------------------------------------------- provisioning like the leader */

struct obs_wait { bool done; int r; json_t *doc; };
static void on_observed(void *ud, int r, const json_t *doc, const struct ontap_error *err)
{
	struct obs_wait *w = ud;

	w->done = true;
	w->r = r;
	w->doc = doc ? json_deep_copy(doc) : NULL;
}
struct exec_wait { bool done; int r; json_t *results; };
static void on_executed(void *ud, int r, const json_t *results)
{
	struct exec_wait *w = ud;

	w->done = true;
	w->r = r;
	w->results = json_deep_copy(results);
}

static const char *S_(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* Borrowed string arrays of a JSON array of strings; the arrays go into *pool. */
static const char *const *strs(const json_t *a, size_t *n, void ***pool, size_t *n_pool)
{
	const char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	const json_t *x;
	size_t i;

	*n = 0;
	json_array_foreach(a, i, x)
		v[(*n)++] = json_string_value(x);
	(*pool)[(*n_pool)++] = v;
	return v;
}

/* The plan for what ONTAP shows (doc from ontap_ds_observe); strings borrowed from doc. */
static struct dsplan *plan_of(const json_t *doc, const struct ds_spec *ds, size_t n_ds, const struct dsplan_node *nd,
			      size_t n_nd)
{
	const json_t *x, *a;
	size_t i, k, np = 0;
	void **pool = calloc(256, sizeof(void *));
	struct dsplan_ontap o = {};
	struct dsplan *p = NULL;
#define ARR(field, key) field = calloc(json_array_size(json_object_get(doc, key)) + 1, sizeof(*field)); pool[np++] = (void *)field
	struct dsplan_ontap_volume *vols; ARR(vols, "volumes");
	struct dsplan_ontap_lun *luns; ARR(luns, "luns");
	struct dsplan_ontap_lun *nss; ARR(nss, "namespaces");
	struct dsplan_ontap_igroup *igs; ARR(igs, "igroups");
	struct dsplan_ontap_map *lm; ARR(lm, "lun_maps");
	struct dsplan_ontap_map *nm; ARR(nm, "ns_maps");
	struct dsplan_ontap_subsystem *subs; ARR(subs, "subsystems");
	const char **pols; ARR(pols, "export_policies");
	struct dsplan_ontap_rule *rules; ARR(rules, "rules");
	struct dsplan_ontap_share *shares; ARR(shares, "shares");
#undef ARR
	json_array_foreach(json_object_get(doc, "volumes"), i, x)
		vols[o.n_volumes++] = (struct dsplan_ontap_volume){ S_(x, "name"), json_integer_value(json_object_get(x, "size")),
			S_(x, "comment"), S_(x, "junction"), S_(x, "export_policy") };
	json_array_foreach(json_object_get(doc, "luns"), i, x)
		luns[o.n_luns++] = (struct dsplan_ontap_lun){ S_(x, "path"), json_integer_value(json_object_get(x, "size")),
			S_(x, "serial"), S_(x, "comment") };
	json_array_foreach(json_object_get(doc, "namespaces"), i, x)
		nss[o.n_namespaces++] = (struct dsplan_ontap_lun){ S_(x, "path"), json_integer_value(json_object_get(x, "size")),
			S_(x, "uuid"), S_(x, "comment") };
	json_array_foreach(json_object_get(doc, "igroups"), i, x) {
		struct dsplan_ontap_igroup *g = &igs[o.n_igroups++];
		*g = (struct dsplan_ontap_igroup){ S_(x, "name"), S_(x, "protocol"), NULL, 0, S_(x, "comment") };
		g->initiators = strs(json_object_get(x, "initiators"), &g->n_initiators, &pool, &np);
	}
	json_array_foreach(json_object_get(doc, "lun_maps"), i, x)
		lm[o.n_lun_maps++] = (struct dsplan_ontap_map){ S_(x, "object"), S_(x, "group"),
			json_integer_value(json_object_get(x, "number")) };
	json_array_foreach(json_object_get(doc, "ns_maps"), i, x)
		nm[o.n_ns_maps++] = (struct dsplan_ontap_map){ S_(x, "object"), S_(x, "group"),
			json_integer_value(json_object_get(x, "number")) };
	json_array_foreach(json_object_get(doc, "subsystems"), i, x) {
		struct dsplan_ontap_subsystem *s = &subs[o.n_subsystems++];
		*s = (struct dsplan_ontap_subsystem){ S_(x, "name"), NULL, 0, S_(x, "comment") };
		s->hosts = strs(json_object_get(x, "hosts"), &s->n_hosts, &pool, &np);
	}
	json_array_foreach(json_object_get(doc, "export_policies"), i, x)
		pols[o.n_export_policies++] = S_(x, "name");
	json_array_foreach(json_object_get(doc, "rules"), i, x)
		rules[o.n_rules++] = (struct dsplan_ontap_rule){ S_(x, "policy"), S_(x, "clients"),
			json_integer_value(json_object_get(x, "index")) };
	json_array_foreach(json_object_get(doc, "shares"), i, x) {
		struct dsplan_ontap_share *s = &shares[o.n_shares++];
		struct dsplan_ontap_ace *acl = calloc(json_array_size(json_object_get(x, "acl")) + 1, sizeof(*acl));
		pool[np++] = acl;
		*s = (struct dsplan_ontap_share){ S_(x, "name"), S_(x, "path"), S_(x, "comment"), acl, 0 };
		json_array_foreach(json_object_get(x, "acl"), k, a)
			acl[s->n_acl++] = (struct dsplan_ontap_ace){ S_(a, "user"), S_(a, "type"), S_(a, "permission") };
	}
	o.volumes = vols, o.luns = luns, o.namespaces = nss, o.igroups = igs, o.lun_maps = lm, o.ns_maps = nm;
	o.subsystems = subs, o.export_policies = pols, o.rules = rules, o.shares = shares;
	dsplan_compute(&(struct dsplan_input){ .prefix = PREFIX, .cluster_id = "c1", .datastores = ds, .n_datastores = n_ds,
					       .nodes = nd, .n_nodes = n_nd, .ontap = &o }, &p);
	while (np)
		free(pool[--np]);
	free(pool);
	return p;
}

static json_t *observe(struct ontap_client *c)
{
	struct obs_wait w = {};

	if (ontap_ds_observe(c, PREFIX, on_observed, &w) < 0)
		return NULL;
	while (!w.done)
		sd_event_run(ev, UINT64_MAX);
	return w.r < 0 ? (json_decref(w.doc), NULL) : w.doc;
}

/* Plan and perform until the plan is empty: the number of ops performed, or -1. The kinds of the
 * first plan's ops are appended to kinds (when given). */
static int converge(struct ontap_client *c, const struct ds_spec *ds, size_t n_ds, char *kinds, size_t ksize)
{
	int total = 0;

	for (int round = 0; round < 5; round++) {
		json_t *doc = observe(c);
		struct dsplan *p = doc ? plan_of(doc, ds, n_ds, nodes, 3) : NULL;
		struct exec_wait w = {};

		if (!p) {
			json_decref(doc);
			return -1;
		}
		for (size_t i = 0; i < p->n_blocked; i++)
			fprintf(stderr, "  blocked %s: %s\n", p->blocked[i].datastore, p->blocked[i].why);
		if (!p->n_ops) {
			dsplan_free(p);
			json_decref(doc);
			return total;
		}
		for (size_t i = 0; kinds && round == 0 && i < p->n_ops; i++) {
			const char *t = p->ops[i].target ?: p->ops[i].object;
			snprintf(kinds + strlen(kinds), ksize - strlen(kinds), "%s%s %s", *kinds ? ";" : "",
				 dsplan_op_name(p->ops[i].kind), t);
		}
		if (ontap_ds_execute(c, p->ops, p->n_ops, COMMENT, NULL, on_executed, &w) < 0) {
			dsplan_free(p);
			json_decref(doc);
			return -1;
		}
		while (!w.done)
			sd_event_run(ev, UINT64_MAX);
		if (w.r < 0)
			fprintf(stderr, "  execute: %s\n", json_dumps(w.results, JSON_COMPACT) ?: "?");
		total += (int)p->n_ops;
		json_decref(w.results);
		dsplan_free(p);
		json_decref(doc);
		if (w.r < 0)
			return -1;
	}
	return -1;
}

/* ---------------------------------------------------------------- waiting for a fence */

struct fwait {
	bool done;
	int r;
	bool confirmed;
	unsigned made, gone, failed;
	uint64_t readback_usec, epoch;
	char evidence[4096];
	json_t *report;
};
static void on_fenced(void *ud, int r, const struct ontap_fence_result *res)
{
	struct fwait *w = ud;

	w->done = true;
	w->r = r;
	w->confirmed = res->confirmed;
	w->made = res->cuts_made;
	w->gone = res->cuts_gone;
	w->failed = res->cuts_failed;
	w->readback_usec = res->readback_usec;
	w->epoch = res->epoch;
	snprintf(w->evidence, sizeof w->evidence, "%s", res->evidence);
	w->report = json_deep_copy(res->report);
}

static int fence_opts(struct ontap_client *c, int i, bool cut, const struct ontap_fence_options *opts, struct fwait *w)
{
	struct ontap_fence_node n = fence_node(i);
	struct ontap_fence_options o = *opts;
	int r;

	json_decref(w->report);
	memset(w, 0, sizeof *w);
	r = cut ? ontap_fence_node(c, &n, &o, on_fenced, w) : ontap_fence_readback(c, &n, &o, on_fenced, w);
	if (r < 0)
		return r;
	while (!w->done)
		sd_event_run(ev, UINT64_MAX);
	if (getenv("ONTAP_TEST_VERBOSE"))
		fprintf(stderr, "  fence %s: r=%d %s\n", nodes[i].name, w->r, w->evidence);
	return w->r;
}

static int fence(struct ontap_client *c, int i, bool cut, uint64_t not_before, struct fwait *w)
{
	struct ontap_fence_options o = fopts;

	o.readback_not_before_usec = not_before;
	return fence_opts(c, i, cut, &o, w);
}

/* Does the report's "access" (or another list) name object/member? */
static bool listed(const struct fwait *w, const char *list, const char *object, const char *member)
{
	const json_t *x;
	size_t i;

	json_array_foreach(json_object_get(w->report, list), i, x)
		if ((!object || !strcmp(S_(x, "object") ?: "", object)) && (!member || !strcasecmp(S_(x, "member") ?: "", member)))
			return true;
	return false;
}

/* ---------------------------------------------------------------- the fence */

static const struct ds_spec block_nfs[] = {
	{ .name = "vm1", .protocol = DS_PROTO_ISCSI, .size = 1ULL << 30 },
	{ .name = "fc1", .protocol = DS_PROTO_FC, .size = 1ULL << 30 },
	{ .name = "fast", .protocol = DS_PROTO_NVME_TCP, .size = 1ULL << 30 },
	{ .name = "files", .protocol = DS_PROTO_NFS, .size = 1ULL << 30 },
};

/*
 * Ops that may start together start critical path first: with one request at a time, a block
 * datastore's volume (then its LUN, then its maps) is created before an NFS volume that comes
 * first in the spec and that nothing follows -- and everything is still done.
 */
static void test_order(void)
{
	static const struct ds_spec spec[] = {
		{ .name = "aaa", .protocol = DS_PROTO_NFS, .size = 1ULL << 30 },
		{ .name = "zzz", .protocol = DS_PROTO_ISCSI, .size = 1ULL << 30 },
	};
	struct ontap_options o = {};
	struct ontap_client *c = NULL;
	struct ontap_error e = {};
	int block, nfs;

	reset("order");
	sim_options(&S, &o);
	o.max_concurrency = 1;
	CHECK(ontap_client_new_for_test(&c, ev, &o, "n1", getuid(), &e) == 0);
	ontap_options_clear(&o);
	ontap_error_clear(&e);
	if (!c)
		return;
	ontap_client_set_epoch(c, 1, true);
	ontap_client_set_job_poll(c, 50000, 200000);
	CHECK(converge(c, spec, 2, NULL, 0) > 0);
	block = sim_log_line(&S, "\"POST\",\"path\":\"/api/storage/volumes", "\"name\":\"" PREFIX "_zzz\"");
	nfs = sim_log_line(&S, "\"POST\",\"path\":\"/api/storage/volumes", "\"name\":\"" PREFIX "_aaa\"");
	CHECK(block > 0 && nfs > 0 && block < nfs);
	if (!(block > 0 && nfs > 0 && block < nfs))
		fprintf(stderr, "  block volume at line %d, NFS volume at line %d\n", block, nfs);
	ontap_client_free(c);
}

static void test_fence(void)
{
	struct ontap_client *c;
	struct fwait w = {};
	char before[3][64], now[64], kinds[2048] = "";
	uint64_t t0, quiet;

	reset("fence");
	c = client_new("n1", 5);
	CHECK(converge(c, block_nfs, 4, NULL, 0) > 0);
	for (int i = 0; i < 3; i++)
		reach(i, before[i], sizeof before[i]);
	/* every node reaches both SAN LUNs (iSCSI by its IQN, FC by its WWPN), the namespace, the
	 * NFS volume */
	CHECK(!strcmp(before[1], "L2 N1 F1"));
	CHECK(!strcmp(before[0], before[1]) && !strcmp(before[2], before[1]));

	/* a read-back before anything was cut: n2's access, each piece named */
	CHECK(fence(c, 1, false, 0, &w) == 0);
	CHECK(!w.confirmed && w.epoch == 0 && !w.made);
	CHECK(listed(&w, "access", PREFIX "_n2", nodes[1].iqn) && listed(&w, "access", PREFIX "_n2", wwpn[1][0]) &&
	      listed(&w, "access", PREFIX, nodes[1].nqn) && listed(&w, "access", PREFIX, addr[1][0]));
	CHECK(json_array_size(json_object_get(w.report, "access")) == 4);
	CHECK(strstr(w.evidence, "still has access"));

	/* fence n2, its read-back held back to a quiet point 300 ms ahead */
	sim_log_mark(&S);
	t0 = now_usec();
	quiet = t0 + 300 * 1000;
	CHECK(fence(c, 1, true, quiet, &w) == 0);
	CHECK(w.confirmed && w.epoch == 5 && w.made == 4 && w.gone == 0 && w.failed == 0);
	CHECK(w.readback_usec >= quiet);
	CHECK(strstr(w.evidence, "no access left"));
	CHECK(json_array_size(json_object_get(w.report, "removed")) == 4);
	/* the cuts: the IQN and WWPN out of its igroup (mapped: allow_delete_while_mapped), its NQN
	 * out of the subsystem, its export rule; nothing created, no LUN unmapped */
	CHECK(sim_log_count(&S, "\"method\":\"DELETE\"", "/initiators/") == 2);
	CHECK(sim_log_count(&S, "\"method\":\"DELETE\"", "allow_delete_while_mapped=true") == 2);
	CHECK(sim_log_count(&S, "\"method\":\"DELETE\"", "/hosts/") == 1);
	CHECK(sim_log_count(&S, "\"method\":\"DELETE\"", "/rules/") == 1);
	CHECK(mutations() == 4);
	CHECK(sim_log_count(&S, "\"epoch\":\"5\"", "\"method\":\"DELETE\"") == 4);
	/* the read-back went out after the quiet point: the last GETs come after every DELETE */
	reach(1, now, sizeof now);
	CHECK(!strcmp(now, "L0 N0 F0"));
	for (int i = 0; i < 3; i += 2) {
		reach(i, now, sizeof now);
		CHECK(!strcmp(now, before[i])); /* n1 and n3 untouched */
	}

	/* again: nothing left to cut, no mutation, still confirmed */
	sim_log_mark(&S);
	CHECK(fence(c, 1, true, 0, &w) == 0);
	CHECK(w.confirmed && w.made == 0 && w.gone == 0);
	CHECK(mutations() == 0);
	CHECK(fence(c, 1, false, 0, &w) == 0 && w.confirmed);

	/* the plan keeps the fenced node out: nothing of n2 is added back, also for a new datastore */
	nodes[1].fenced = true;
	CHECK(converge(c, block_nfs, 4, NULL, 0) == 0);
	{
		struct ds_spec more[5];
		memcpy(more, block_nfs, sizeof block_nfs);
		more[4] = (struct ds_spec){ .name = "vm2", .protocol = DS_PROTO_ISCSI, .size = 1ULL << 30 };
		CHECK(converge(c, more, 5, kinds, sizeof kinds) > 0);
		CHECK(!strstr(kinds, "add-initiator") && !strstr(kinds, "add-host") && !strstr(kinds, "rule-ensure"));
		reach(1, now, sizeof now);
		CHECK(!strcmp(now, "L0 N0 F0"));
		reach(0, now, sizeof now);
		CHECK(!strcmp(now, "L3 N1 F1"));
		CHECK(fence(c, 1, false, 0, &w) == 0 && w.confirmed);
	}

	/* unfence: the plan's next pass with n2 no longer fenced gives exactly its names back */
	nodes[1].fenced = false;
	kinds[0] = 0;
	sim_log_mark(&S);
	CHECK(converge(c, block_nfs, 4, kinds, sizeof kinds) > 0);
	fprintf(stderr, "  unfence: %s\n", kinds);
	CHECK(strstr(kinds, "igroup-add-initiator iqn.1994-05.com.redhat:n2") && strstr(kinds, "igroup-add-initiator 20:00:00:25:b5:00:00:02") &&
	      strstr(kinds, "subsystem-add-host nqn.2014-08.org.nvmexpress:uuid:n2") && strstr(kinds, "export-rule-ensure 10.0.0.12"));
	reach(1, now, sizeof now);
	CHECK(!strcmp(now, "L3 N1 F1")); /* vm2 is still on ONTAP (the plan keeps a removed datastore's data) */
	CHECK(fence(c, 1, false, 0, &w) == 0 && !w.confirmed);
	json_decref(w.report);
	ontap_client_free(c);
}

/* An older leader's ONTAP job may still be running after the quiet point (coord/timeouts.h 6.,
 * 7.): with settle_jobs the read-back waits until the SVM lists no active job, and a job still
 * active at the deadline leaves the fence unconfirmed, the job named. */
static void test_jobs(void)
{
	struct ontap_client *c;
	struct fwait w = {};
	struct ontap_fence_options o = fopts;
	char path[256], now[64];
	const char *vol_uuid;
	json_t *vols, *job;
	long st;
	uint64_t t0;

	reset("jobs");
	c = client_new("n1", 7);
	CHECK(converge(c, block_nfs, 4, NULL, 0) > 0);
	vols = http("GET", "/api/storage/volumes?name=" PREFIX "_files&fields=uuid", NULL, &st);
	vol_uuid = json_string_value(json_object_get(json_array_get(json_object_get(vols, "records"), 0), "uuid"));
	CHECK(vol_uuid != NULL);
	snprintf(path, sizeof path, "/api/storage/volumes/%s/snapshots", vol_uuid ?: "none");

	/* no job active: the list comes back empty, the read-back follows at once, and the
	 * evidence does not speak of jobs */
	o.settle_jobs = true;
	o.jobs_deadline_usec = now_usec() + 10 * USEC_PER_SEC;
	sim_log_mark(&S);
	CHECK(fence_opts(c, 0, false, &o, &w) == 0 && !w.confirmed);
	CHECK(sim_log_count(&S, "/api/cluster/jobs?", "state=") == 1);
	CHECK(!strstr(w.evidence, "jobs"));

	/* "an older leader's" job: a snapshot that takes 1.5 s. The fence of n2 cuts at once, then
	 * waits for the job before it reads back: confirmed, the read-back after the job's end */
	sim_control(&S, "POST", "/_sim/config", "{\"job_ms\":1500}");
	t0 = now_usec();
	job = http("POST", path, "{\"name\":\"older-leaders-job\"}", &st);
	CHECK(st == 202);
	sim_log_mark(&S);
	o.jobs_deadline_usec = now_usec() + 20 * USEC_PER_SEC;
	CHECK(fence_opts(c, 1, true, &o, &w) == 0);
	CHECK(w.confirmed && w.made == 4);
	CHECK(w.readback_usec >= t0 + 1400 * USEC_PER_MSEC);
	CHECK(sim_log_count(&S, "/api/cluster/jobs?", "state=") >= 2);
	CHECK(strstr(w.evidence, "waited for") &&
	      strstr(w.evidence, json_string_value(json_object_get(json_object_get(job, "job"), "uuid")) ?: "?"));
	reach(1, now, sizeof now);
	CHECK(!strcmp(now, "L0 N0 F0"));
	json_decref(job);

	/* a job that never ends: past the deadline the fence is NOT confirmed, and the job is
	 * what it names (the access is otherwise gone) */
	CHECK(sim_fault(&S, "{\"type\":\"job_hang\",\"method\":\"POST\",\"path\":\"/api/storage/volumes/*/snapshots\"}") / 100 == 2);
	job = http("POST", path, "{\"name\":\"hung-job\"}", &st);
	CHECK(st == 202);
	t0 = now_usec();
	o.jobs_deadline_usec = t0 + 1500 * USEC_PER_MSEC;
	CHECK(fence_opts(c, 1, true, &o, &w) == 0);
	CHECK(!w.confirmed && now_usec() >= o.jobs_deadline_usec);
	CHECK(json_array_size(json_object_get(w.report, "access")) == 1);
	CHECK(listed(&w, "access", json_string_value(json_object_get(json_object_get(job, "job"), "uuid")), NULL));
	CHECK(strstr(w.evidence, "no confirming read-back") && strstr(w.evidence, "older leader"));
	json_decref(job);
	sim_control(&S, "DELETE", "/_sim/faults", NULL);
	json_decref(vols);
	json_decref(w.report);
	ontap_client_free(c);
}

/* A fence that stops half-way (ONTAP refuses one removal) and is run again. */
static void test_half_done(void)
{
	struct ontap_client *c;
	struct fwait w = {};
	char now[64];

	reset("half-done");
	c = client_new("n1", 6);
	CHECK(converge(c, block_nfs, 4, NULL, 0) > 0);
	CHECK(sim_fault(&S, "{\"type\":\"error\",\"method\":\"DELETE\",\"path\":\"/api/protocols/nvme/subsystems/*/hosts/*\","
			    "\"status\":403,\"code\":\"6\",\"message\":\"User is not authorized.\"}") / 100 == 2);
	sim_log_mark(&S);
	CHECK(fence(c, 2, true, 0, &w) == 0);
	CHECK(!w.confirmed && w.made == 3 && w.failed == 1);
	CHECK(listed(&w, "failed", PREFIX, nodes[2].nqn));
	CHECK(listed(&w, "access", PREFIX, nodes[2].nqn) && json_array_size(json_object_get(w.report, "access")) == 1);
	CHECK(strstr(w.evidence, "still has access") && strstr(w.evidence, "subsystem " PREFIX " lists"));
	reach(2, now, sizeof now);
	CHECK(!strcmp(now, "L0 N1 F0"));
	/* ONTAP takes it again: the second run sends only what is left */
	sim_control(&S, "DELETE", "/_sim/faults", NULL);
	sim_log_mark(&S);
	CHECK(fence(c, 2, true, 0, &w) == 0);
	CHECK(w.confirmed && w.made == 1);
	CHECK(mutations() == 1 && sim_log_count(&S, "\"method\":\"DELETE\"", "/hosts/") == 1);
	reach(2, now, sizeof now);
	CHECK(!strcmp(now, "L0 N0 F0"));

	/* a node that is not the leader any more sends nothing */
	ontap_client_set_epoch(c, 6, false);
	CHECK(fence(c, 0, true, 0, &w) == -ESTALE);
	ontap_client_set_epoch(c, 7, true);
	json_decref(w.report);
	ontap_client_free(c);
}

/* Access the fence does not remove (not kvmcd's, or not one address) keeps it unconfirmed. */
static void test_remaining(void)
{
	struct ontap_client *c;
	struct fwait w = {};
	struct wait ow = {};
	static const char *const ini[] = { "iqn.1994-05.com.redhat:n2" };
	char now[64];

	reset("remaining");
	c = client_new("n1", 8);
	CHECK(converge(c, block_nfs, 4, NULL, 0) > 0);
	CHECK(fence(c, 1, true, 0, &w) == 0 && w.confirmed);
	/* an admin maps kvmcd's LUN to an igroup of their own holding n2's IQN */
	wait_run(ev, &ow, ontap_igroup_ensure(c, &(struct ontap_igroup_spec){ .name = "admin_n2", .initiators = ini,
		 .n_initiators = 1 }, wait_done, &ow));
	CHECK(ow.r == 0);
	wait_reset(&ow);
	wait_run(ev, &ow, ontap_lun_map_ensure(c, "/vol/" PREFIX "_vm1/lun0", "admin_n2", wait_done, &ow));
	CHECK(ow.r == 0);
	wait_reset(&ow);
	/* and a subnet rule in kvmcd's export policy covers n2's address */
	wait_run(ev, &ow, ontap_export_rule_ensure(c, &(struct ontap_export_rule_spec){ .policy = PREFIX,
		 .clients = "10.0.0.0/24" }, wait_done, &ow));
	CHECK(ow.r == 0);
	wait_reset(&ow);
	reach(1, now, sizeof now);
	CHECK(!strcmp(now, "L1 N0 F1"));

	CHECK(fence(c, 1, false, 0, &w) == 0);
	CHECK(!w.confirmed);
	CHECK(listed(&w, "access", "admin_n2", ini[0]) && listed(&w, "access", PREFIX, "10.0.0.0/24"));
	CHECK(json_array_size(json_object_get(w.report, "access")) == 2);
	CHECK(strstr(w.evidence, "admin_n2, which kvmcd did not create") && strstr(w.evidence, "/vol/" PREFIX "_vm1/lun0"));
	CHECK(strstr(w.evidence, "10.0.0.0/24"));
	/* the fence leaves them alone and still says so */
	sim_log_mark(&S);
	CHECK(fence(c, 1, true, 0, &w) == 0);
	CHECK(!w.confirmed && w.made == 0 && mutations() == 0);
	/* n1's address is covered as well; n3's too: neither is confirmed while the rule is there */
	CHECK(fence(c, 0, false, 0, &w) == 0 && listed(&w, "access", PREFIX, "10.0.0.0/24"));

	/* once the admin's objects are gone, the read-back confirms */
	wait_run(ev, &ow, ontap_lun_map_delete(c, "/vol/" PREFIX "_vm1/lun0", "admin_n2", wait_done, &ow));
	wait_reset(&ow);
	wait_run(ev, &ow, ontap_export_rule_delete(c, PREFIX, "10.0.0.0/24", wait_done, &ow));
	wait_reset(&ow);
	CHECK(fence(c, 1, false, 0, &w) == 0 && w.confirmed);
	json_decref(w.report);
	ontap_client_free(c);
}

/* SMB: a share open to a shared user cannot be cut per host; an entry of the node's own is. */
static void test_smb(void)
{
	static const struct ds_spec smb[] = { { .name = "share1", .protocol = DS_PROTO_SMB, .size = 1ULL << 30 } };
	static const char *const users[] = { "LAB\\n3" };
	struct ontap_client *c;
	struct fwait w = {};
	struct wait ow = {};
	struct ontap_fence_node n = fence_node(2);

	reset("smb");
	c = client_new("n1", 9);
	CHECK(api("POST", "/api/protocols/cifs/services", "{\"svm\":{\"name\":\"svm1\"},\"name\":\"SIMCIFS\",\"workgroup\":\"LAB\"}") == 201);
	CHECK(converge(c, smb, 1, NULL, 0) > 0);
	wait_run(ev, &ow, ontap_cifs_share_acl_ensure(c, &(struct ontap_cifs_acl_spec){ .share = PREFIX "_share1",
		 .user_or_group = users[0] }, wait_done, &ow));
	CHECK(ow.r == 0);
	wait_reset(&ow);
	n.smb_users = users;
	n.n_smb_users = 1;
	json_decref(w.report);
	memset(&w, 0, sizeof w);
	CHECK(ontap_fence_node(c, &n, &fopts, on_fenced, &w) == 0);
	while (!w.done)
		sd_event_run(ev, UINT64_MAX);
	CHECK(w.r == 0 && !w.confirmed && w.made == 1);
	CHECK(listed(&w, "removed", PREFIX "_share1", users[0]));
	CHECK(listed(&w, "access", PREFIX "_share1", "Everyone") && json_array_size(json_object_get(w.report, "access")) == 1);
	CHECK(strstr(w.evidence, "another level"));
	json_decref(w.report);
	ontap_client_free(c);
}

/* ---------------------------------------------------------------- the claim */

struct cwait { bool done; int r; enum ontap_claim_outcome outcome; bool adopted; char holder[128]; };
static void on_claimed(void *ud, int r, const struct ontap_claim_result *res, const struct ontap_error *err)
{
	struct cwait *w = ud;

	w->done = true;
	w->r = r;
	if (res) {
		w->outcome = res->outcome;
		w->adopted = res->adopted;
		snprintf(w->holder, sizeof w->holder, "%s", res->holder ?: "");
	}
}

static int claim(struct ontap_client *c, uint64_t epoch, const char *who, struct cwait *w)
{
	int r;

	memset(w, 0, sizeof *w);
	r = ontap_claim_epoch(c, PREFIX, epoch, who, on_claimed, w);
	if (r < 0)
		return r;
	while (!w->done)
		sd_event_run(ev, UINT64_MAX);
	return w->r;
}

static void test_claim(void)
{
	struct ontap_client *a, *b;
	struct cwait wa, wb;
	struct wait ow = {};
	int won_a = 0, won_b = 0;
	long st;
	json_t *j;

	reset("claim");
	a = client_new("n1", 7);
	b = client_new("n2", 7);
	CHECK(claim(a, 7, "n1 run 1", &wa) == 0 && wa.outcome == ONTAP_CLAIM_WON && !wa.adopted);
	CHECK(claim(b, 7, "n2 run 1", &wb) == 0 && wb.outcome == ONTAP_CLAIM_LOST && !strcmp(wb.holder, "n1 run 1"));
	/* asking again: the same claimant is told it won (an answer lost on the way back) */
	CHECK(claim(a, 7, "n1 run 1", &wa) == 0 && wa.outcome == ONTAP_CLAIM_WON && wa.adopted);
	CHECK(claim(a, 7, "n1 run 2", &wa) == 0 && wa.outcome == ONTAP_CLAIM_LOST);
	/* only under the epoch the client mutates under */
	CHECK(ontap_claim_epoch(a, PREFIX, 8, "n1 run 1", on_claimed, &wa) == -ESTALE);
	CHECK(ontap_claim_epoch(a, PREFIX, 7, "bad\"name", on_claimed, &wa) == -EINVAL);

	/* both halves of a split at once, for epochs 10..29: exactly one wins each */
	for (uint64_t e = 10; e < 30; e++) {
		ontap_client_set_epoch(a, e, true);
		ontap_client_set_epoch(b, e, true);
		memset(&wa, 0, sizeof wa);
		memset(&wb, 0, sizeof wb);
		/* alternate who sends first */
		if (e % 2) {
			CHECK(ontap_claim_epoch(a, PREFIX, e, "n1", on_claimed, &wa) == 0);
			CHECK(ontap_claim_epoch(b, PREFIX, e, "n2", on_claimed, &wb) == 0);
		} else {
			CHECK(ontap_claim_epoch(b, PREFIX, e, "n2", on_claimed, &wb) == 0);
			CHECK(ontap_claim_epoch(a, PREFIX, e, "n1", on_claimed, &wa) == 0);
		}
		while (!wa.done || !wb.done)
			sd_event_run(ev, UINT64_MAX);
		CHECK(wa.r == 0 && wb.r == 0);
		CHECK((wa.outcome == ONTAP_CLAIM_WON) != (wb.outcome == ONTAP_CLAIM_WON));
		CHECK(!strcmp(wa.holder, wb.holder));
		won_a += wa.outcome == ONTAP_CLAIM_WON;
		won_b += wb.outcome == ONTAP_CLAIM_WON;
	}
	fprintf(stderr, "  concurrent claims: n1 won %d, n2 won %d\n", won_a, won_b);
	CHECK(won_a + won_b == 20);

	/* the POST's answer lost after ONTAP made it: the client sends it again, reads its own */
	ontap_client_set_epoch(a, 40, true);
	CHECK(sim_fault(&S, "{\"type\":\"drop_after\",\"method\":\"POST\",\"path\":\"/api/storage/snapshot-policies\",\"count\":1}") / 100 == 2);
	CHECK(claim(a, 40, "n1", &wa) == 0 && wa.outcome == ONTAP_CLAIM_WON);

	/* cleanup: claims below 20 go, later ones and a policy that is no claim stay */
	CHECK(api("POST", "/api/storage/snapshot-policies", "{\"name\":\"" PREFIX "_claim_3\",\"svm\":{\"name\":\"svm1\"},"
		  "\"copies\":[{\"count\":1,\"schedule\":{\"name\":\"daily\"}}]}") == 201);
	wait_run(ev, &ow, ontap_claim_cleanup(a, PREFIX, 20, wait_done, &ow));
	CHECK(ow.r == 0 && ow.number == 11); /* 7, 10..19 */
	wait_reset(&ow);
	j = http("GET", "/api/storage/snapshot-policies?name=" PREFIX "_claim_*", NULL, &st);
	CHECK(json_array_size(json_object_get(j, "records")) == 12); /* 3 (not a claim), 20..29, 40 */
	json_decref(j);
	wait_run(ev, &ow, ontap_claim_cleanup(a, PREFIX, 20, wait_done, &ow));
	CHECK(ow.r == 0 && ow.number == 0);
	wait_reset(&ow);
	ontap_client_free(a);
	ontap_client_free(b);
}

/* ---------------------------------------------------------------- the pure assessment */

static void test_assess(void)
{
	struct ontap_fence_node n = fence_node(1);
	json_t *access = NULL, *cuts = NULL;
	json_t *probe = json_loads(
		"{\"igroups\":[{\"uuid\":\"u1\",\"name\":\"kvmcd_lab_n2\",\"comment\":\"kvmcd:c1\","
		"  \"initiators\":[{\"name\":\"IQN.1994-05.com.redhat:N2\"},{\"name\":\"iqn.old:n2\"}]},"
		" {\"uuid\":\"u2\",\"name\":\"kvmcd_lab_n1\",\"comment\":\"kvmcd:c1\",\"initiators\":[{\"name\":\"0x20000025b5000002\"}]},"
		" {\"uuid\":\"u3\",\"name\":\"other\",\"initiators\":[{\"name\":\"iqn.1994-05.com.redhat:n2\"}]}],"
		" \"lun_maps\":[{\"igroup\":{\"uuid\":\"u1\",\"name\":\"kvmcd_lab_n2\"},\"lun\":{\"name\":\"/vol/kvmcd_lab_a/lun0\"}}],"
		" \"subsystems\":[{\"uuid\":\"s1\",\"name\":\"kvmcd_lab\",\"comment\":\"kvmcd:c1\",\"hosts\":[{\"nqn\":\"NQN.2014-08.org.nvmexpress:uuid:n2\"}]}],"
		" \"ns_maps\":[],"
		" \"policies\":[{\"id\":5,\"name\":\"kvmcd_lab\",\"rules\":["
		"   {\"index\":1,\"clients\":[{\"match\":\"10.0.0.12\"}],\"ro_rule\":[\"sys\"],\"rw_rule\":[\"sys\"]},"
		"   {\"index\":2,\"clients\":[{\"match\":\"10.0.0.0/255.255.255.0\"}],\"ro_rule\":[\"never\"],\"rw_rule\":[\"never\"]},"
		"   {\"index\":3,\"clients\":[{\"match\":\"10.0.0.0/28\"}],\"ro_rule\":[\"sys\"],\"rw_rule\":[\"never\"]}]},"
		"  {\"id\":6,\"name\":\"default\",\"rules\":[{\"index\":1,\"clients\":[{\"match\":\"0.0.0.0/0\"}]}]}],"
		" \"volumes\":[], \"shares\":[]}", 0, NULL);

	current = "assess";
	CHECK(probe && ontap_fence_assess(probe, &n, &fopts, &access, &cuts) == 0);
	/* its own igroup: both initiators (the stale one too); n1's igroup: n2's WWPN (0x form);
	 * "other" maps nothing of kvmcd's; the subsystem (NQN case-insensitively); rule 1 (cut),
	 * rule 3 (a subnet: reported, not cut); rule 2 grants nothing; "default" is used by no
	 * volume of kvmcd's */
	CHECK(json_array_size(access) == 6);
	CHECK(json_array_size(cuts) == 5);
	if (json_array_size(access) != 6 || getenv("ONTAP_TEST_VERBOSE")) {
		char *s = json_dumps(access, JSON_INDENT(1));
		fprintf(stderr, "%s\n", s);
		free(s);
	}
	CHECK(!strcmp(S_(json_array_get(cuts, 0), "path"),
		      "/protocols/san/igroups/u1/initiators/IQN%2E1994-05%2Ecom%2Eredhat%3AN2?allow_delete_while_mapped=true"));
	CHECK(!strcmp(S_(json_array_get(cuts, 4), "path"), "/protocols/nfs/export-policies/5/rules/1"));
	json_decref(access);
	json_decref(cuts);
	n.name = NULL;
	CHECK(ontap_fence_assess(probe, &n, &fopts, &access, &cuts) == -EINVAL);
	json_decref(probe);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	static const struct { const char *name; void (*fn)(void); } tests[] = {
		{ "assess", test_assess }, { "fence", test_fence }, { "half-done", test_half_done },
		{ "remaining", test_remaining }, { "smb", test_smb }, { "claim", test_claim },
		{ "jobs", test_jobs }, { "order", test_order },
	};
	int r;

	r = sim_start(&S, NULL);
	if (r == -ENOENT) {
		fprintf(stderr, "ontap-sim is not built: skipping\n");
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "cannot start ontap-sim: %s\n", strerror(-r));
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sd_event_default(&ev);
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		if (!only || strcmp(only, tests[i].name) == 0)
			tests[i].fn();
	sd_event_unref(ev);
	sim_stop(&S);
	curl_global_cleanup();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all ontap fence checks passed\n");
	return 0;
}
