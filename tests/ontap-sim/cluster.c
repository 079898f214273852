/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ontap-sim: cluster, nodes, SVMs, aggregates, data LIFs, and the default cluster layout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define AGGR_SIZE (100LL << 40)

static void version_obj(struct sim *sim, json_t *out)
{
	char full[128];

	snprintf(full, sizeof(full), "NetApp Release %s: Mon Jan 08 10:00:00 UTC 2024",
		 sim->cfg.version);
	json_object_set_new(out, "version",
			    json_pack("{s:s,s:i,s:i,s:i}", "full", full, "generation", sim->cfg.ver[0],
				      "major", sim->cfg.ver[1], "minor", sim->cfg.ver[2]));
}

static void decorate_cluster(struct sim *sim, json_t *rec, json_t *out)
{
	version_obj(sim, out);
}

static void decorate_aggr(struct sim *sim, json_t *rec, json_t *out)
{
	json_int_t used = 0, size = jint(rec, "space.block_storage.size", AGGR_SIZE);
	json_t *vol;
	size_t i;

	json_array_foreach(state_array(sim, "volumes"), i, vol) {
		json_t *a = json_array_get(json_object_get(vol, "aggregates"), 0);
		if (a && streq_ci(jstr(a, "uuid"), jstr(rec, "uuid")))
			used += jint(vol, "size", 0);
	}
	jset(out, "space.block_storage.used", json_integer(used));
	jset(out, "space.block_storage.available", json_integer(size - used));
}

static void decorate_svm(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(out, "aggregates"), i, a) {
		json_t *aggr = state_find(sim, "aggregates", "uuid", jstr(a, "uuid"));
		if (aggr) {
			json_auto_t *full = coll_render(sim, &coll_aggregates, aggr);
			json_object_set(a, "available_size", jpath(full, "space.block_storage.available"));
			json_object_set_new(a, "state", json_string("online"));
			json_object_set_new(a, "type", json_string("ssd"));
		}
	}
}

struct coll coll_cluster = {
	.name = "cluster",
	.schema = "{'name':'','uuid':'','version':{'full':'','generation':0,'major':0,'minor':0},"
		  "'contact':'','location':'','dns_domains':[''],'timezone':{'name':''},"
		  "'management_interfaces':[{'name':'','uuid':'','ip':{'address':''}}]}",
	.keys = "name,uuid",
	.href = "/api/cluster",
	.decorate = decorate_cluster,
};

struct coll coll_nodes = {
	.name = "nodes",
	.schema = "{'uuid':'','name':'','version':{'full':'','generation':0,'major':0,'minor':0},"
		  "'model':'','serial_number':'','state':'','system_id':'','location':'',"
		  "'uptime':0,'ha':{'enabled':true,'partners':[{'name':'','uuid':''}]},"
		  "'membership':'','cluster_interfaces':[{'ip':{'address':''}}],"
		  "'management_interfaces':[{'ip':{'address':''}}]}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/cluster/nodes/{uuid}",
	.decorate = decorate_cluster,
};

struct coll coll_svms = {
	.name = "svms",
	.schema = "{'uuid':'','name':'','state':'','subtype':'','language':'','comment':'',"
		  "'iscsi':{'enabled':true},'nvme':{'enabled':true},'nfs':{'enabled':true},"
		  "'fcp':{'enabled':true},'cifs':{'enabled':true},"
		  "'aggregates':[{'name':'','uuid':'','available_size':0,'state':'','type':''}],"
		  "'ipspace':{'name':'','uuid':''},'snapshot_policy':{'name':'','uuid':''},"
		  "'number_of_volumes_in_recovery_queue':0,'max_volumes':''}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/svm/svms/{uuid}",
	.decorate = decorate_svm,
};

/* SVM peer relationships (intracluster only: every SVM is local). */
struct coll coll_svm_peers = {
	.name = "svm_peers",
	.schema = "{'uuid':'','name':'','state':'','applications':[''],'svm':{'name':'','uuid':''},"
		  "'peer':{'svm':{'name':'','uuid':''},'cluster':{'name':'','uuid':''}}}",
	.keys = "uuid",
	.cursor = "uuid",
	.href = "/api/svm/peers/{uuid}",
};

struct coll coll_aggregates = {
	.name = "aggregates",
	.schema = "{'uuid':'','name':'','state':'','node':{'name':'','uuid':''},"
		  "'home_node':{'name':'','uuid':''},"
		  "'space':{'block_storage':{'size':0,'available':0,'used':0}},"
		  "'block_storage':{'primary':{'disk_type':'','raid_type':'','disk_count':0}},"
		  "'snaplock_type':'','create_time':''}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/storage/aggregates/{uuid}",
	.decorate = decorate_aggr,
};

struct coll coll_interfaces = {
	.name = "interfaces",
	.schema = "{'uuid':'','name':'','ip':{'address':'','netmask':'','family':''},'state':'',"
		  "'enabled':true,'scope':'','services':[''],'service_policy':{'name':'','uuid':''},"
		  "'location':{'home_node':{'name':'','uuid':''},'node':{'name':'','uuid':''},"
		  "'home_port':{'name':'','uuid':''},'port':{'name':'','uuid':''},'is_home':true},"
		  "'svm':{'name':'','uuid':''},'ipspace':{'name':''}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/network/ip/interfaces/{uuid}",
};

json_t *svm_find(struct sim *sim, const char *name, const char *uuid)
{
	json_t *svm;
	size_t i;

	json_array_foreach(state_array(sim, "svms"), i, svm) {
		if (name && streq_ci(jstr(svm, "name"), name))
			return svm;
		if (uuid && streq_ci(jstr(svm, "uuid"), uuid))
			return svm;
	}
	return NULL;
}

static void add_lif(struct sim *sim, json_t *svm, const char *kind, const char *service,
		    const char *ip, int n)
{
	json_t *node = json_array_get(state_array(sim, "nodes"), (size_t)(n - 1) % 2);
	char uuid[37], name[128];
	json_t *lif;

	sim_uuid(uuid);
	snprintf(name, sizeof(name), "%s_%s_%d", jstr(svm, "name"), kind, n);
	lif = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:b,s:s,s:[s,s],s:{s:s},"
			"s:{s:o,s:o,s:{s:s},s:{s:s},s:b},s:o,s:{s:s}}",
			"uuid", uuid, "name", name, "ip", "address", ip, "netmask", "24", "family",
			strchr(ip, ':') ? "ipv6" : "ipv4", "state", "up", "enabled", 1, "scope",
			"svm", "services", "data_core", service, "service_policy", "name",
			strcmp(kind, "iscsi") == 0 ? "default-data-blocks"
			: strcmp(kind, "nvme") == 0 ? "default-data-nvme-tcp" : "default-data-files",
			"location", "home_node", ref_of(node), "node", ref_of(node), "home_port",
			"name", "e0c", "port", "name", "e0c", "is_home", 1, "svm", ref_of(svm),
			"ipspace", "name", "Default");
	/* default-data-files serves SMB too (once the SVM has a CIFS server) */
	if (lif && strcmp(kind, "nfs") == 0)
		json_array_append_new(json_object_get(lif, "services"), json_string("data_cifs"));
	json_array_append_new(state_array(sim, "interfaces"), lif);
}

int svm_create_services(struct sim *sim, json_t *svm)
{
	int n = 0;

	state_init_san(sim, svm);
	state_init_nas(sim, svm);
	for (char **ip = sim->cfg.data_ips; ip && *ip; ip++) {
		n++;
		if (json_is_true(jpath(svm, "iscsi.enabled")))
			add_lif(sim, svm, "iscsi", "data_iscsi", *ip, n);
		if (json_is_true(jpath(svm, "nvme.enabled")))
			add_lif(sim, svm, "nvme", "data_nvme_tcp", *ip, n);
		if (json_is_true(jpath(svm, "nfs.enabled")))
			add_lif(sim, svm, "nfs", "data_nfs", *ip, n);
	}
	return 0;
}

static json_t *svm_new(struct sim *sim, const char *name, bool iscsi, bool nvme, bool nfs)
{
	json_t *aggr = json_array_get(state_array(sim, "aggregates"), 0);
	char uuid[37];
	json_t *svm;

	sim_uuid(uuid);
	svm = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:b},s:{s:b},s:{s:b},s:{s:b},s:{s:b},s:[o],"
			"s:{s:s},s:{s:s},s:I}",
			"uuid", uuid, "name", name, "state", "running", "subtype", "default",
			"language", "c.utf_8", "comment", "", "iscsi", "enabled", iscsi, "nvme",
			"enabled", nvme, "nfs", "enabled", nfs, "fcp", "enabled", 0, "cifs",
			"enabled", 0, "aggregates", ref_of(aggr), "ipspace", "name", "Default",
			"snapshot_policy", "name", "default", "number_of_volumes_in_recovery_queue",
			(json_int_t)0);
	json_object_set_new(jsim(svm), "index", json_integer(state_counter(sim, "svm_index") + 2));
	json_array_append_new(state_array(sim, "svms"), svm);
	return svm;
}

void state_init_cluster(struct sim *sim)
{
	char uuid[37], n1[37], n2[37], a1[37];
	json_t *node1, *node2, *aggr;

	sim_uuid(uuid);
	json_object_set_new(sim->state, "cluster",
			    json_pack("{s:s,s:s,s:s,s:s,s:[s],s:{s:s},s:[{s:s,s:{s:s}}]}", "name",
				      sim->cfg.cluster_name ? sim->cfg.cluster_name : "ontap-sim", "uuid", uuid, "contact", "", "location", "lab",
				      "dns_domains", "sim.local", "timezone", "name", "Etc/UTC",
				      "management_interfaces", "name", "cluster_mgmt", "ip", "address",
				      sim->cfg.listen_host));
	sim_uuid(n1);
	sim_uuid(n2);
	node1 = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "uuid", n1, "name", "ontap-sim-01",
			  "model", "SIM-A800", "serial_number", "900000000001", "state", "up",
			  "system_id", "0537000001", "membership", "member");
	node2 = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "uuid", n2, "name", "ontap-sim-02",
			  "model", "SIM-A800", "serial_number", "900000000002", "state", "up",
			  "system_id", "0537000002", "membership", "member");
	json_object_set_new(node1, "ha", json_pack("{s:b,s:[o]}", "enabled", 1, "partners",
						   ref_of(node2)));
	json_object_set_new(node2, "ha", json_pack("{s:b,s:[o]}", "enabled", 1, "partners",
						   ref_of(node1)));
	json_array_append_new(state_array(sim, "nodes"), node1);
	json_array_append_new(state_array(sim, "nodes"), node2);

	sim_uuid(a1);
	aggr = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{s:{s:I}},s:{s:{s:s,s:s,s:i}},s:s}", "uuid", a1,
			 "name", "aggr1", "state", "online", "node", ref_of(node1), "home_node",
			 ref_of(node1), "space", "block_storage", "size", (json_int_t)AGGR_SIZE,
			 "block_storage", "primary", "disk_type", "ssd", "raid_type", "raid_dp",
			 "disk_count", 24, "snaplock_type", "non_snaplock");
	json_array_append_new(state_array(sim, "aggregates"), aggr);

	for (char **s = sim->cfg.svms; s && *s; s++) {
		json_t *svm = svm_new(sim, *s, true, true, true);
		svm_create_services(sim, svm);
	}
}

/* ---- handlers ---- */

static int h_cluster(struct req *r)
{
	return coll_get(r, &coll_cluster, json_object_get(r->sim->state, "cluster"));
}

static int h_nodes(struct req *r)
{
	if (r->arg[0])
		return coll_get(r, &coll_nodes, state_find(r->sim, "nodes", "uuid", r->arg[0]));
	return coll_list(r, &coll_nodes, state_array(r->sim, "nodes"));
}

static int h_aggregates(struct req *r)
{
	if (r->arg[0])
		return coll_get(r, &coll_aggregates,
				state_find(r->sim, "aggregates", "uuid", r->arg[0]));
	return coll_list(r, &coll_aggregates, state_array(r->sim, "aggregates"));
}

static int h_interfaces(struct req *r)
{
	if (r->arg[0])
		return coll_get(r, &coll_interfaces,
				state_find(r->sim, "interfaces", "uuid", r->arg[0]));
	return coll_list(r, &coll_interfaces, state_array(r->sim, "interfaces"));
}

static int h_svms(struct req *r)
{
	json_t *args;
	const char *name;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_svms, state_array(r->sim, "svms"));
	ret = coll_check_body(r, &coll_svms, NULL);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (svm_find(r->sim, name, NULL))
		return req_error(r, 409, "13434908", "name", "SVM \"%s\" already exists.", name);
	args = json_deep_copy(r->body);
	return job_start(r, "svm_create", args, 201);
}

static int h_svm(struct req *r)
{
	json_t *svm = svm_find(r->sim, NULL, r->arg[0]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_svms, svm);
	if (!svm)
		return req_error(r, 404, "4", "uuid", "SVM \"%s\" does not exist.", r->arg[0]);
	if (r->m == M_PATCH) {
		if (!r->body)
			return req_error(r, 400, "262177", "", "A request body is required.");
		ret = coll_check_body(r, &coll_svms, NULL);
		if (ret < 0)
			return ret;
		return job_start(r, "svm_modify",
				 json_pack("{s:s,s:O}", "uuid", r->arg[0], "body", r->body), 200);
	}
	return job_start(r, "svm_delete", json_pack("{s:s}", "uuid", r->arg[0]), 200);
}

/* A peering of a and b (either direction) with `app` among its applications, or NULL. */
json_t *svm_peer_find(struct sim *sim, const char *a, const char *b, const char *app)
{
	json_t *p, *x;
	size_t i, k;

	json_array_foreach(state_array(sim, "svm_peers"), i, p) {
		const char *s = jstr(p, "svm.name"), *o = jstr(p, "peer.svm.name");
		bool found = !app;

		if (!((streq_ci(s, a) && streq_ci(o, b)) || (streq_ci(s, b) && streq_ci(o, a))))
			continue;
		json_array_foreach(json_object_get(p, "applications"), k, x)
			found = found || streq_ci(json_string_value(x), app);
		if (found)
			return p;
	}
	return NULL;
}

static int h_svm_peers(struct req *r)
{
	json_t *svm, *peer, *apps, *x;
	const char *cl;
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_svm_peers, state_array(r->sim, "svm_peers"));
	ret = coll_check_body(r, &coll_svm_peers, NULL);
	if (ret < 0)
		return ret;
	if (!jstr(r->body, "svm.name") && !jstr(r->body, "svm.uuid"))
		return req_error(r, 400, "262177", "svm", "Missing value for field \"svm.name\" or \"svm.uuid\".");
	if (!jstr(r->body, "peer.svm.name") && !jstr(r->body, "peer.svm.uuid"))
		return req_error(r, 400, "262177", "peer.svm", "Missing value for field \"peer.svm.name\".");
	svm = svm_find(r->sim, jstr(r->body, "svm.name"), jstr(r->body, "svm.uuid"));
	if (!svm)
		return req_error(r, 404, "2621462", "svm", "SVM does not exist.");
	/* A peer cluster other than this one is not simulated, but for its name: one set by
	 * _sim/config "peer_clusters" takes an SVM peer to an SVM of it, peered at once and listed
	 * from this side only (nothing of that cluster can be read or driven here). */
	cl = jstr(r->body, "peer.cluster.name");
	if (cl && !streq_ci(cl, jstr(json_object_get(r->sim->state, "cluster"), "name"))) {
		json_t *known = json_object_get(r->sim->state, "cluster_peers");
		bool peered = false;

		json_array_foreach(known, i, x)
			peered |= json_is_string(x) && streq_ci(json_string_value(x), cl);
		if (!peered)
			return req_error(r, 400, "26345574", "peer.cluster.name",
					 "Cluster \"%s\" is not peered (the simulator has no peer clusters).", cl);
		if (!jstr(r->body, "peer.svm.name"))
			return req_error(r, 400, "262177", "peer.svm", "Missing value for field \"peer.svm.name\".");
		if (!json_array_size(json_object_get(r->body, "applications")))
			return req_error(r, 400, "262177", "applications", "Missing value for field \"applications\".");
		return job_start(r, "svm_peer_create",
				 json_pack("{s:o,s:{s:s},s:O,s:s}", "svm", ref_of(svm), "peer", "name",
					   jstr(r->body, "peer.svm.name"), "applications",
					   json_object_get(r->body, "applications") ?: json_null(), "remote_cluster", cl),
				 201);
	}
	peer = svm_find(r->sim, jstr(r->body, "peer.svm.name"), jstr(r->body, "peer.svm.uuid"));
	if (!peer)
		return req_error(r, 404, "2621462", "peer.svm", "Peer SVM does not exist.");
	apps = json_object_get(r->body, "applications");
	if (!json_array_size(apps))
		return req_error(r, 400, "262177", "applications", "Missing value for field \"applications\".");
	json_array_foreach(apps, i, x)
		if (!json_is_string(x) || (strcmp(json_string_value(x), "snapmirror") && strcmp(json_string_value(x), "file_copy") &&
					   strcmp(json_string_value(x), "lun_copy") && strcmp(json_string_value(x), "flexcache")))
			return req_error(r, 400, "262196", "applications", "Invalid value for field \"applications\".");
	if (streq_ci(jstr(svm, "uuid"), jstr(peer, "uuid")))
		return req_error(r, 400, "26345573", "peer.svm", "An SVM cannot be peered with itself.");
	if (svm_peer_find(r->sim, jstr(svm, "name"), jstr(peer, "name"), NULL))
		return req_error(r, 409, "26345571", "peer.svm", "SVM peer relationship between \"%s\" and \"%s\" already exists.",
				 jstr(svm, "name"), jstr(peer, "name"));
	return job_start(r, "svm_peer_create",
			 json_pack("{s:o,s:o,s:O}", "svm", ref_of(svm), "peer", ref_of(peer), "applications", apps), 201);
}

static int op_svm_peer_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *cluster = json_object_get(sim->state, "cluster"), *p, *q;
	char uuid[37], uuid2[37];

	sim_uuid(uuid);
	sim_uuid(uuid2);
	if (jstr(args, "remote_cluster")) {
		/* an SVM of a peer cluster: this side's record only */
		p = json_pack("{s:s,s:s,s:s,s:O,s:O,s:{s:O,s:{s:s}}}", "uuid", uuid, "name", jstr(args, "peer.name"), "state",
			      "peered", "applications", json_object_get(args, "applications"), "svm",
			      json_object_get(args, "svm"), "peer", "svm", json_object_get(args, "peer"), "cluster", "name",
			      jstr(args, "remote_cluster"));
		if (!p)
			return sim_err_set(err, 500, 1, "", "out of memory");
		json_array_append_new(state_array(sim, "svm_peers"), p);
		json_object_set_new(jsim(job), "result", json_pack("{s:s,s:s}", "coll", "svm_peers", "uuid", uuid));
		return 0;
	}
	/* intracluster: peered at once (no accept on a peer cluster), and listed from both SVMs'
	 * side, as ONTAP does */
	p = json_pack("{s:s,s:s,s:s,s:O,s:O,s:{s:O,s:o}}", "uuid", uuid, "name", jstr(args, "peer.name"), "state", "peered",
		      "applications", json_object_get(args, "applications"), "svm", json_object_get(args, "svm"), "peer",
		      "svm", json_object_get(args, "peer"), "cluster", ref_of(cluster));
	q = json_pack("{s:s,s:s,s:s,s:O,s:O,s:{s:O,s:o}}", "uuid", uuid2, "name", jstr(args, "svm.name"), "state", "peered",
		      "applications", json_object_get(args, "applications"), "svm", json_object_get(args, "peer"), "peer",
		      "svm", json_object_get(args, "svm"), "cluster", ref_of(cluster));
	if (!p || !q) {
		json_decref(p);
		json_decref(q);
		return sim_err_set(err, 500, 1, "", "out of memory");
	}
	json_array_append_new(state_array(sim, "svm_peers"), p);
	json_array_append_new(state_array(sim, "svm_peers"), q);
	json_object_set_new(jsim(job), "result", json_pack("{s:s,s:s}", "coll", "svm_peers", "uuid", uuid));
	return 0;
}

static int op_svm_peer_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *p = state_find(sim, "svm_peers", "uuid", jstr(args, "uuid")), *q;
	char a[256], b[256];

	if (!p)
		return sim_err_set(err, 404, 4, "uuid", "SVM peer relationship does not exist.");
	snprintf(a, sizeof(a), "%s", jstr(p, "svm.name") ?: "");
	snprintf(b, sizeof(b), "%s", jstr(p, "peer.svm.name") ?: "");
	state_remove(sim, "svm_peers", p);
	/* the other side's record goes with it */
	while ((q = svm_peer_find(sim, a, b, NULL)))
		state_remove(sim, "svm_peers", q);
	return 0;
}

static int h_svm_peer(struct req *r)
{
	json_t *p = state_find(r->sim, "svm_peers", "uuid", r->arg[0]);

	if (r->m == M_GET)
		return coll_get(r, &coll_svm_peers, p);
	if (!p)
		return req_error(r, 404, "4", "uuid", "SVM peer relationship \"%s\" does not exist.", r->arg[0]);
	return job_start(r, "svm_peer_delete", json_pack("{s:s}", "uuid", r->arg[0]), 200);
}

static int op_svm_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	const char *name = jstr(args, "name");
	json_t *svm;

	if (svm_find(sim, name, NULL))
		return sim_err_set(err, 409, 13434908, "name", "SVM \"%s\" already exists.", name);
	svm = svm_new(sim, name, json_is_true(jpath(args, "iscsi.enabled")),
		      json_is_true(jpath(args, "nvme.enabled")),
		      json_is_true(jpath(args, "nfs.enabled")));
	if (jstr(args, "comment"))
		json_object_set(svm, "comment", json_object_get(args, "comment"));
	svm_create_services(sim, svm);
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", "svms", "uuid", jstr(svm, "uuid")));
	return 0;
}

static int op_svm_modify(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *svm = svm_find(sim, NULL, jstr(args, "uuid")), *body = json_object_get(args, "body");

	if (!svm)
		return sim_err_set(err, 404, 4, "uuid", "SVM does not exist.");
	if (jstr(body, "name"))
		json_object_set(svm, "name", json_object_get(body, "name"));
	if (jstr(body, "comment"))
		json_object_set(svm, "comment", json_object_get(body, "comment"));
	if (jstr(body, "state"))
		json_object_set(svm, "state", json_object_get(body, "state"));
	return 0;
}

static int op_svm_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *svm = svm_find(sim, NULL, jstr(args, "uuid"));
	static const char *const owned[] = { "interfaces", "iscsi_services", "nvme_services",
					     "nfs_services", "export_policies" };

	if (!svm)
		return sim_err_set(err, 404, 4, "uuid", "SVM does not exist.");
	if (state_find(sim, "volumes", "svm.uuid", jstr(svm, "uuid")))
		return sim_err_set(err, 409, 13434920, "",
				   "Cannot delete SVM \"%s\" because it contains volumes.",
				   jstr(svm, "name"));
	for (size_t k = 0; k < ARRAY_SIZE(owned); k++) {
		json_t *x;
		while ((x = state_find(sim, owned[k], "svm.uuid", jstr(svm, "uuid"))))
			state_remove(sim, owned[k], x);
	}
	state_remove(sim, "svms", svm);
	return 0;
}

const struct job_op cluster_job_ops[] = {
	{ "svm_create", op_svm_create },
	{ "svm_modify", op_svm_modify },
	{ "svm_delete", op_svm_delete },
	{ "svm_peer_create", op_svm_peer_create },
	{ "svm_peer_delete", op_svm_peer_delete },
	{ NULL, NULL },
};

const struct route cluster_routes[] = {
	{ "/api/cluster", M_GET, h_cluster, NULL },
	{ "/api/cluster/nodes", M_GET, h_nodes, NULL },
	{ "/api/cluster/nodes/{}", M_GET, h_nodes, NULL },
	{ "/api/svm/svms", M_GET | M_POST, h_svms, NULL },
	{ "/api/svm/svms/{}", M_GET | M_PATCH | M_DELETE, h_svm, NULL },
	{ "/api/svm/peers", M_GET | M_POST, h_svm_peers, NULL },
	{ "/api/svm/peers/{}", M_GET | M_DELETE, h_svm_peer, NULL },
	{ "/api/storage/aggregates", M_GET, h_aggregates, NULL },
	{ "/api/storage/aggregates/{}", M_GET, h_aggregates, NULL },
	{ "/api/network/ip/interfaces", M_GET, h_interfaces, NULL },
	{ "/api/network/ip/interfaces/{}", M_GET, h_interfaces, NULL },
	{ NULL, 0, NULL, NULL },
};

struct coll *const all_colls[] = {
	&coll_cluster, &coll_nodes, &coll_svms, &coll_svm_peers, &coll_aggregates, &coll_interfaces, &coll_jobs,
	&coll_volumes, &coll_snapshots, &coll_luns, &coll_namespaces,
	&coll_igroups, &coll_initiators, &coll_lun_maps, &coll_iscsi_services, &coll_nvme_services,
	&coll_subsystems, &coll_subsystem_hosts, &coll_subsystem_maps,
	&coll_schedules, &coll_snapshot_policies, &coll_sm_policies, &coll_sm_relationships,
	&coll_sm_transfers, &coll_cgs, &coll_cg_snapshots,
	&coll_nfs_services, &coll_export_policies, &coll_export_rules,
	&coll_cifs_services, &coll_cifs_shares, &coll_cifs_share_acls,
	NULL,
};
