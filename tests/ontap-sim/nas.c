/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ontap-sim: NFS — the NFS service per SVM, export policies and their rules. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define POLICY_ID_BASE 42949672960LL

struct coll coll_nfs_services = {
	.name = "nfs_services",
	.schema = "{'svm':{'name':'','uuid':''},'enabled':true,'state':'',"
		  "'protocol':{'v3_enabled':true,'v4_id_domain':'','v40_enabled':true,'v41_enabled':true},"
		  "'transport':{'tcp_enabled':true,'udp_enabled':true}}",
	.keys = "svm",
	.cursor = "svm.uuid",
	.href = "/api/protocols/nfs/services/{svm.uuid}",
};

struct coll coll_export_policies = {
	.name = "export_policies",
	.schema = "{'id':0,'name':'','svm':{'name':'','uuid':''},"
		  "'rules':[{'index':0,'clients':[{'match':''}],'ro_rule':[''],'rw_rule':[''],"
		  "'superuser':[''],'protocols':[''],'anonymous_user':'','allow_suid':true,"
		  "'allow_device_creation':true,'chown_mode':'','ntfs_unix_security':''}]}",
	.keys = "id,name",
	.cursor = "id",
	.href = "/api/protocols/nfs/export-policies/{id}",
};

struct coll coll_export_rules = {
	.name = "export_rules",
	.schema = "{'index':0,'clients':[{'match':''}],'ro_rule':[''],'rw_rule':[''],"
		  "'superuser':[''],'protocols':[''],'anonymous_user':'','allow_suid':true,"
		  "'allow_device_creation':true,'chown_mode':'','ntfs_unix_security':'',"
		  "'policy':{'id':0,'name':''}}",
	.keys = "index",
	.cursor = "index",
	.href = "/api/protocols/nfs/export-policies/{policy.id}/rules/{index}",
};

static json_t *policy_new(struct sim *sim, json_t *svm, const char *name)
{
	json_t *p = json_pack("{s:I,s:s,s:o,s:[]}", "id",
			      (json_int_t)(POLICY_ID_BASE + state_counter(sim, "export_policy")),
			      "name", name, "svm", ref_of(svm), "rules");

	json_array_append_new(state_array(sim, "export_policies"), p);
	return p;
}

static json_t *nfs_service_new(struct sim *sim, json_t *svm, bool enabled)
{
	json_t *s = json_pack("{s:o,s:b,s:s,s:{s:b,s:s,s:b,s:b},s:{s:b,s:b}}", "svm", ref_of(svm),
			      "enabled", enabled, "state", enabled ? "online" : "offline",
			      "protocol", "v3_enabled", 1, "v4_id_domain", "sim.local",
			      "v40_enabled", 1, "v41_enabled", 1, "transport", "tcp_enabled", 1,
			      "udp_enabled", 0);

	json_array_append_new(state_array(sim, "nfs_services"), s);
	return s;
}

void state_init_nas(struct sim *sim, json_t *svm)
{
	if (json_is_true(jpath(svm, "nfs.enabled")))
		nfs_service_new(sim, svm, true);
	policy_new(sim, svm, "default");
}

static json_t *policy_by_id(struct sim *sim, const char *id)
{
	json_t *p;
	size_t i;
	long long want = id ? atoll(id) : -1;

	json_array_foreach(state_array(sim, "export_policies"), i, p)
		if (jint(p, "id", -2) == want)
			return p;
	return NULL;
}

static int h_nfs_services(struct req *r)
{
	json_t *svc = r->arg[0] ? state_find(r->sim, "nfs_services", "svm.uuid", r->arg[0]) : NULL;
	json_t *svm;
	int ret;

	if (!r->arg[0]) {
		if (r->m == M_GET)
			return coll_list(r, &coll_nfs_services, state_array(r->sim, "nfs_services"));
		ret = coll_check_body(r, &coll_nfs_services, NULL);
		if (ret < 0)
			return ret;
		ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
		if (ret < 0)
			return ret;
		if (state_find(r->sim, "nfs_services", "svm.uuid", jstr(svm, "uuid")))
			return req_error(r, 409, "1", "svm.name", "The NFS service already exists.");
		svc = nfs_service_new(r->sim, svm, !json_is_false(json_object_get(r->body, "enabled")));
		jset(svm, "nfs.enabled", json_true());
		r->mutated = true;
		return coll_created(r, &coll_nfs_services, svc, 201);
	}
	if (r->m == M_GET && svc)
		return coll_get(r, &coll_nfs_services, svc);
	if (!svc)
		return req_error(r, 404, "4", "svm.uuid", "The NFS service does not exist on this SVM.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_nfs_services, NULL);
		if (ret < 0)
			return ret;
		if (json_is_boolean(json_object_get(r->body, "enabled"))) {
			json_object_set(svc, "enabled", json_object_get(r->body, "enabled"));
			json_object_set_new(svc, "state", json_string(json_is_true(json_object_get(
					svc, "enabled")) ? "online" : "offline"));
		}
		if (json_is_object(json_object_get(r->body, "protocol")))
			json_object_update(json_object_get(svc, "protocol"),
					   json_object_get(r->body, "protocol"));
	} else {
		svm = svm_find(r->sim, NULL, r->arg[0]);
		if (svm)
			jset(svm, "nfs.enabled", json_false());
		state_remove(r->sim, "nfs_services", svc);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static int rule_fill(struct req *r, json_t *body, json_t *rule)
{
	static const char *const lists[] = { "ro_rule", "rw_rule", "superuser", "protocols" };

	if (json_object_get(body, "clients")) {
		json_t *c, *out = json_array();
		size_t i;
		json_array_foreach(json_object_get(body, "clients"), i, c) {
			if (!jstr(c, "match")) {
				json_decref(out);
				return req_error(r, 400, "262177", "clients.match",
						 "Missing value for field \"clients.match\".");
			}
			json_array_append_new(out, json_pack("{s:s}", "match", jstr(c, "match")));
		}
		json_object_set_new(rule, "clients", out);
	}
	for (size_t k = 0; k < ARRAY_SIZE(lists); k++)
		if (json_is_array(json_object_get(body, lists[k])))
			json_object_set(rule, lists[k], json_object_get(body, lists[k]));
	if (jstr(body, "anonymous_user"))
		json_object_set(rule, "anonymous_user", json_object_get(body, "anonymous_user"));
	if (json_is_boolean(json_object_get(body, "allow_suid")))
		json_object_set(rule, "allow_suid", json_object_get(body, "allow_suid"));
	return 0;
}

static bool same_clients(json_t *a, json_t *b)
{
	json_t *x;
	size_t i;

	if (json_array_size(a) != json_array_size(b))
		return false;
	json_array_foreach(a, i, x)
		if (!streq_ci(jstr(x, "match"), jstr(json_array_get(b, i), "match")))
			return false;
	return true;
}

static int h_export_policies(struct req *r)
{
	json_t *svm, *p, *x;
	const char *name;
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_export_policies, state_array(r->sim, "export_policies"));
	ret = coll_check_body(r, &coll_export_policies, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (state_find2(r->sim, "export_policies", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "1", "name", "Export policy \"%s\" already exists.", name);
	p = policy_new(r->sim, svm, name);
	json_array_foreach(json_object_get(r->body, "rules"), i, x) {
		json_t *rule = json_pack("{s:I,s:[s],s:[s],s:[s],s:[s],s:s,s:b}", "index",
					 (json_int_t)(i + 1), "ro_rule", "any", "rw_rule", "any",
					 "superuser", "none", "protocols", "any", "anonymous_user",
					 "65534", "allow_suid", 1);
		if (rule_fill(r, x, rule) < 0) {
			json_decref(rule);
			state_remove(r->sim, "export_policies", p);
			return -EINVAL;
		}
		json_array_append_new(json_object_get(p, "rules"), rule);
	}
	r->mutated = true;
	return coll_created(r, &coll_export_policies, p, 201);
}

static int h_export_policy(struct req *r)
{
	json_t *p = policy_by_id(r->sim, r->arg[0]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_export_policies, p);
	if (!p)
		return req_error(r, 404, "1703954", "id", "Export policy does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_export_policies, NULL);
		if (ret < 0)
			return ret;
		if (jstr(r->body, "name"))
			json_object_set(p, "name", json_object_get(r->body, "name"));
	} else {
		if (strcmp(jstr(p, "name"), "default") == 0)
			return req_error(r, 400, "2", "", "The default export policy cannot be deleted.");
		if (state_find2(r->sim, "volumes", "nas.export_policy.name", jstr(p, "name"),
				"svm.uuid", jstr(p, "svm.uuid")))
			return req_error(r, 409, "8", "", "Export policy \"%s\" is in use by a volume.",
					 jstr(p, "name"));
		state_remove(r->sim, "export_policies", p);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static json_t *rule_records(json_t *p)
{
	json_t *out = json_array(), *x;
	size_t i;

	json_array_foreach(json_object_get(p, "rules"), i, x) {
		json_t *rec = json_deep_copy(x);
		json_object_set_new(rec, "policy", json_pack("{s:O,s:O}", "id", json_object_get(p, "id"),
							     "name", json_object_get(p, "name")));
		json_array_append_new(out, rec);
	}
	return out;
}

static int h_rules(struct req *r)
{
	json_t *p = policy_by_id(r->sim, r->arg[0]), *rule, *x;
	json_int_t max = 0;
	size_t i;
	int ret;

	if (!p)
		return req_error(r, 404, "1703954", "policy.id", "Export policy does not exist.");
	if (r->m == M_GET) {
		json_auto_t *recs = rule_records(p);
		return coll_list(r, &coll_export_rules, recs);
	}
	ret = coll_check_body(r, &coll_export_rules, NULL);
	if (ret < 0)
		return ret;
	if (!json_array_size(json_object_get(r->body, "clients")))
		return req_error(r, 400, "262177", "clients", "Missing value for field \"clients\".");
	json_array_foreach(json_object_get(p, "rules"), i, x) {
		if (same_clients(json_object_get(x, "clients"), json_object_get(r->body, "clients")))
			return req_error(r, 409, "1704070", "clients",
					 "An export rule for these clients already exists in policy \"%s\".",
					 jstr(p, "name"));
		if (jint(x, "index", 0) > max)
			max = jint(x, "index", 0);
	}
	rule = json_pack("{s:I,s:[s],s:[s],s:[s],s:[s],s:s,s:b}", "index", max + 1, "ro_rule", "any",
			 "rw_rule", "any", "superuser", "none", "protocols", "any", "anonymous_user",
			 "65534", "allow_suid", 1);
	if (rule_fill(r, r->body, rule) < 0) {
		json_decref(rule);
		return -EINVAL;
	}
	json_array_append_new(json_object_get(p, "rules"), rule);
	r->mutated = true;
	if (req_flag(r, "return_records")) {
		json_t *rec = json_deep_copy(rule);
		json_object_set_new(rec, "policy", json_pack("{s:O,s:O}", "id", json_object_get(p, "id"),
							     "name", json_object_get(p, "name")));
		ret = coll_created(r, &coll_export_rules, rec, 201);
		json_decref(rec);
		return ret;
	}
	req_reply(r, 201, json_object());
	return 0;
}

static int h_rule(struct req *r)
{
	json_t *p = policy_by_id(r->sim, r->arg[0]), *rule = NULL, *x, *rules;
	size_t i, at = 0;
	int ret;

	if (!p)
		return req_error(r, 404, "1703954", "policy.id", "Export policy does not exist.");
	rules = json_object_get(p, "rules");
	json_array_foreach(rules, i, x) {
		if (jint(x, "index", -1) == atoll(r->arg[1])) {
			rule = x;
			at = i;
		}
	}
	if (r->m == M_GET) {
		json_auto_t *rec = NULL;
		if (!rule)
			return coll_get(r, &coll_export_rules, NULL);
		rec = json_deep_copy(rule);
		json_object_set_new(rec, "policy", json_pack("{s:O,s:O}", "id", json_object_get(p, "id"),
							     "name", json_object_get(p, "name")));
		return coll_get(r, &coll_export_rules, rec);
	}
	if (!rule)
		return req_error(r, 404, "4", "index", "Export rule does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_export_rules, NULL);
		if (ret < 0)
			return ret;
		if (rule_fill(r, r->body, rule) < 0)
			return -EINVAL;
	} else
		json_array_remove(rules, at);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

const struct route nas_routes[] = {
	{ "/api/protocols/nfs/services", M_GET | M_POST, h_nfs_services, NULL },
	{ "/api/protocols/nfs/services/{}", M_GET | M_PATCH | M_DELETE, h_nfs_services, NULL },
	{ "/api/protocols/nfs/export-policies", M_GET | M_POST, h_export_policies, NULL },
	{ "/api/protocols/nfs/export-policies/{}", M_GET | M_PATCH | M_DELETE, h_export_policy, NULL },
	{ "/api/protocols/nfs/export-policies/{}/rules", M_GET | M_POST, h_rules, NULL },
	{ "/api/protocols/nfs/export-policies/{}/rules/{}", M_GET | M_PATCH | M_DELETE, h_rule, NULL },
	{ NULL, 0, NULL, NULL },
};
