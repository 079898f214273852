/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: SAN and NVMe access control — igroups and their initiators, LUN maps, iSCSI and
 * NVMe services, NVMe subsystems and their hosts, subsystem maps.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

static void svm_hex(json_t *svm, char out[33])
{
	size_t n = 0;

	for (const char *p = jstr(svm, "uuid"); p && *p && n < 32; p++)
		if (*p != '-')
			out[n++] = *p;
	out[n] = '\0';
}

static json_t *svm_of(struct sim *sim, json_t *rec)
{
	return svm_find(sim, NULL, jstr(rec, "svm.uuid"));
}

/* ---- services ---- */

struct coll coll_iscsi_services = {
	.name = "iscsi_services",
	.schema = "{'svm':{'name':'','uuid':''},'enabled':true,'target':{'name':'','alias':''},"
		  "'connection':{'max':0},'statistics':{'status':''}}",
	.keys = "svm",
	.cursor = "svm.uuid",
	.expensive = "statistics",
	.href = "/api/protocols/san/iscsi/services/{svm.uuid}",
};

struct coll coll_nvme_services = {
	.name = "nvme_services",
	.schema = "{'svm':{'name':'','uuid':''},'enabled':true}",
	.keys = "svm",
	.cursor = "svm.uuid",
	.href = "/api/protocols/nvme/services/{svm.uuid}",
};

static json_t *iscsi_service_new(struct sim *sim, json_t *svm, bool enabled)
{
	char hex[33], iqn[160];
	json_t *s;

	svm_hex(svm, hex);
	snprintf(iqn, sizeof(iqn), "iqn.1992-08.com.netapp:sn.%s:vs.%lld", hex,
		 (long long)jint(svm, "_sim.index", 3));
	s = json_pack("{s:o,s:b,s:{s:s,s:s}}", "svm", ref_of(svm), "enabled", enabled, "target",
		      "name", iqn, "alias", jstr(svm, "name"));
	json_array_append_new(state_array(sim, "iscsi_services"), s);
	return s;
}

static json_t *nvme_service_new(struct sim *sim, json_t *svm, bool enabled)
{
	json_t *s = json_pack("{s:o,s:b}", "svm", ref_of(svm), "enabled", enabled);

	json_array_append_new(state_array(sim, "nvme_services"), s);
	return s;
}

void state_init_san(struct sim *sim, json_t *svm)
{
	if (json_is_true(jpath(svm, "iscsi.enabled")))
		iscsi_service_new(sim, svm, true);
	if (json_is_true(jpath(svm, "nvme.enabled")))
		nvme_service_new(sim, svm, true);
}

static int service_handler(struct req *r, struct coll *c, const char *missing_code,
			   const char *proto)
{
	json_t *svc = r->arg[0] ? state_find(r->sim, c->name, "svm.uuid", r->arg[0]) : NULL, *svm;
	int ret;

	if (!r->arg[0]) {
		if (r->m == M_GET)
			return coll_list(r, c, state_array(r->sim, c->name));
		ret = coll_check_body(r, c, NULL);
		if (ret < 0)
			return ret;
		ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
		if (ret < 0)
			return ret;
		if (state_find(r->sim, c->name, "svm.uuid", jstr(svm, "uuid")))
			return req_error(r, 409, "1", "svm.name",
					 "The %s service already exists on Vserver \"%s\".", proto,
					 jstr(svm, "name"));
		svc = strcmp(proto, "iSCSI") == 0
			      ? iscsi_service_new(r->sim, svm, !json_is_false(json_object_get(r->body, "enabled")))
			      : nvme_service_new(r->sim, svm, !json_is_false(json_object_get(r->body, "enabled")));
		jset(svm, strcmp(proto, "iSCSI") == 0 ? "iscsi.enabled" : "nvme.enabled", json_true());
		r->mutated = true;
		return coll_created(r, c, svc, 201);
	}
	if (!svc) {
		if (r->m == M_GET)
			return req_error(r, 404, missing_code, "svm.uuid",
					 "The %s service does not exist on this SVM.", proto);
		return req_error(r, 404, missing_code, "svm.uuid",
				 "The %s service does not exist on this SVM.", proto);
	}
	if (r->m == M_GET)
		return coll_get(r, c, svc);
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, c, NULL);
		if (ret < 0)
			return ret;
		if (json_is_boolean(json_object_get(r->body, "enabled")))
			json_object_set(svc, "enabled", json_object_get(r->body, "enabled"));
		if (jstr(r->body, "target.alias"))
			jset(svc, "target.alias", json_string(jstr(r->body, "target.alias")));
	} else {
		svm = svm_of(r->sim, svc);
		if (svm)
			jset(svm, strcmp(proto, "iSCSI") == 0 ? "iscsi.enabled" : "nvme.enabled",
			     json_false());
		state_remove(r->sim, c->name, svc);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static int h_iscsi_services(struct req *r)
{
	return service_handler(r, &coll_iscsi_services, "5374078", "iSCSI");
}

static int h_nvme_services(struct req *r)
{
	return service_handler(r, &coll_nvme_services, "72089651", "NVMe");
}

/* ---- igroups ---- */

static void decorate_igroup(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *maps = json_array(), *m;
	size_t i;

	json_array_foreach(state_array(sim, "lun_maps"), i, m) {
		json_t *lun;
		if (!streq_ci(jstr(m, "igroup.uuid"), jstr(rec, "uuid")))
			continue;
		lun = state_find(sim, "luns", "uuid", jstr(m, "lun.uuid"));
		json_array_append_new(maps, json_pack("{s:O,s:o}", "logical_unit_number",
						      json_object_get(m, "logical_unit_number"), "lun",
						      lun ? ref_of(lun) : json_object()));
	}
	json_object_set_new(out, "lun_maps", maps);
}

struct coll coll_igroups = {
	.name = "igroups",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},'os_type':'','protocol':'',"
		  "'comment':'','delete_on_unmap':true,"
		  "'initiators':[{'name':'','comment':''}],'portset':{'name':'','uuid':''},"
		  "'lun_maps':[{'logical_unit_number':0,'lun':{'name':'','uuid':''}}]}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/protocols/san/igroups/{uuid}",
	.decorate = decorate_igroup,
};

struct coll coll_initiators = {
	.name = "initiators",
	.schema = "{'name':'','comment':'','igroup':{'name':'','uuid':''}}",
	.keys = "name",
	.cursor = "name",
	.href = "/api/protocols/san/igroups/{igroup.uuid}/initiators/{name}",
};

static bool valid_initiator(const char *n)
{
	int colons = 0;

	if (!n || !*n)
		return false;
	if (strncasecmp(n, "iqn.", 4) == 0 || strncasecmp(n, "eui.", 4) == 0 ||
	    strncasecmp(n, "naa.", 4) == 0)
		return strlen(n) > 6 && !strpbrk(n, " /\\");
	/* FC WWPN 20:00:00:25:b5:00:00:01 */
	if (strlen(n) != 23)
		return false;
	for (const char *p = n; *p; p++) {
		if (*p == ':')
			colons++;
		else if (!isxdigit((unsigned char)*p))
			return false;
	}
	return colons == 7;
}

static json_t *igroup_initiator(json_t *ig, const char *name)
{
	json_t *x;
	size_t i;

	json_array_foreach(json_object_get(ig, "initiators"), i, x)
		if (streq_ci(jstr(x, "name"), name))
			return x;
	return NULL;
}

/* Validates one initiator for igroup ig (NULL while creating); writes the error into r. */
static int check_initiator(struct req *r, json_t *svm, const char *igname, const char *os_type,
			   json_t *ig, const char *name)
{
	json_t *other;
	size_t i;

	if (!valid_initiator(name))
		return req_error(r, 400, "5374038", "initiators.name",
				 "The initiator name \"%s\" is invalid.", name ? name : "");
	if (ig && igroup_initiator(ig, name)) {
		_cleanup_free_ char *low = str_lower(name);
		return req_error(r, 409, "5374035", "name",
				 "Initiator group \"%s\" already contains initiator \"%s\".", igname, low);
	}
	json_array_foreach(state_array(r->sim, "igroups"), i, other) {
		if (other == ig || !streq_ci(jstr(other, "svm.uuid"), jstr(svm, "uuid")))
			continue;
		if (igroup_initiator(other, name) && !streq_ci(jstr(other, "os_type"), os_type)) {
			_cleanup_free_ char *low = str_lower(name);
			return req_error(r, 409, "5374732", "initiators.name",
					 "Initiator \"%s\" is already in initiator group \"%s\" with a different OS type \"%s\".",
					 low, jstr(other, "name"), jstr(other, "os_type"));
		}
	}
	return 0;
}

static int h_igroups(struct req *r)
{
	static const char *const os[] = { "aix", "hpux", "hyper_v", "linux", "netware", "openvms",
					  "solaris", "vmware", "windows", "xen", NULL };
	_cleanup_free_ char *os_type = NULL, *proto = NULL;
	json_t *svm, *ig, *inits, *x;
	const char *name;
	char uuid[37];
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_igroups, state_array(r->sim, "igroups"));
	ret = coll_check_body(r, &coll_igroups, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (!jstr(r->body, "os_type"))
		return req_error(r, 400, "262177", "os_type", "Missing value for field \"os_type\".");
	os_type = str_lower(jstr(r->body, "os_type"));
	proto = str_lower(jstr(r->body, "protocol") ? jstr(r->body, "protocol") : "mixed");
	{
		bool ok = false;
		for (size_t k = 0; os[k]; k++)
			ok |= strcmp(os[k], os_type) == 0;
		if (!ok)
			return req_error(r, 400, "262197", "os_type",
					 "The value \"%s\" is invalid for field \"os_type\"", os_type);
	}
	if (strcmp(proto, "iscsi") && strcmp(proto, "fcp") && strcmp(proto, "mixed"))
		return req_error(r, 400, "262197", "protocol",
				 "The value \"%s\" is invalid for field \"protocol\" (fcp,iscsi,mixed)",
				 proto);
	if (state_find2(r->sim, "igroups", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "5374023", "name",
				 "The initiator group \"%s\" already exists in Vserver \"%s\".", name,
				 jstr(svm, "name"));
	if (state_find2(r->sim, "subsystems", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "72090043", "name",
				 "An NVMe subsystem named \"%s\" already exists in Vserver \"%s\".",
				 name, jstr(svm, "name"));
	inits = json_array();
	json_array_foreach(json_object_get(r->body, "initiators"), i, x) {
		_cleanup_free_ char *low = NULL;
		if (check_initiator(r, svm, name, os_type, NULL, jstr(x, "name")) < 0) {
			json_decref(inits);
			return -EINVAL;
		}
		low = str_lower(jstr(x, "name"));
		json_array_append_new(inits, json_pack("{s:s,s:s}", "name", low, "comment",
						       jstr(x, "comment") ? jstr(x, "comment") : ""));
	}
	sim_uuid(uuid);
	ig = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:b,s:o}", "uuid", uuid, "name", name, "svm",
		       ref_of(svm), "os_type", os_type, "protocol", proto, "comment",
		       jstr(r->body, "comment") ? jstr(r->body, "comment") : "", "delete_on_unmap",
		       json_is_true(json_object_get(r->body, "delete_on_unmap")), "initiators", inits);
	json_array_append_new(state_array(r->sim, "igroups"), ig);
	r->mutated = true;
	return coll_created(r, &coll_igroups, ig, 201);
}

static int h_igroup(struct req *r)
{
	json_t *ig = state_find(r->sim, "igroups", "uuid", r->arg[0]), *m;
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_igroups, ig);
	if (!ig)
		return req_error(r, 404, "5374852", "uuid", "The initiator group does not exist.");
	if (r->m == M_PATCH) {
		const char *name;

		ret = coll_check_body(r, &coll_igroups, NULL);
		if (ret < 0)
			return ret;
		name = jstr(r->body, "name");
		if (name && strcmp(name, jstr(ig, "name")) != 0) {
			if (state_find2(r->sim, "igroups", "name", name, "svm.uuid", jstr(ig, "svm.uuid")))
				return req_error(r, 409, "5374023", "name",
						 "The initiator group \"%s\" already exists.", name);
			if (state_find2(r->sim, "subsystems", "name", name, "svm.uuid",
					jstr(ig, "svm.uuid")))
				return req_error(r, 409, "72090043", "name",
						 "An NVMe subsystem named \"%s\" already exists.", name);
			json_object_set_new(ig, "name", json_string(name));
		}
		if (jstr(r->body, "comment"))
			json_object_set_new(ig, "comment", json_string(jstr(r->body, "comment")));
		if (jstr(r->body, "os_type")) {
			_cleanup_free_ char *os = str_lower(jstr(r->body, "os_type"));
			json_object_set_new(ig, "os_type", json_string(os));
		}
		r->mutated = true;
		req_reply(r, 200, json_object());
		return 0;
	}
	if (state_find(r->sim, "lun_maps", "igroup.uuid", r->arg[0]) &&
	    !req_flag(r, "allow_delete_while_mapped"))
		return req_error(r, 409, "1254213", "",
				 "The initiator group \"%s\" is mapped to one or more LUNs. Unmap the LUNs first.",
				 jstr(ig, "name"));
	while ((m = state_find(r->sim, "lun_maps", "igroup.uuid", r->arg[0])))
		state_remove(r->sim, "lun_maps", m);
	state_remove(r->sim, "igroups", ig);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static json_t *initiator_records(json_t *ig)
{
	json_t *out = json_array(), *x;
	size_t i;

	json_array_foreach(json_object_get(ig, "initiators"), i, x) {
		json_t *rec = json_deep_copy(x);
		json_object_set_new(rec, "igroup", ref_of(ig));
		json_array_append_new(out, rec);
	}
	return out;
}

static int h_initiators(struct req *r)
{
	json_t *ig = state_find(r->sim, "igroups", "uuid", r->arg[0]), *svm, *x, *list;
	json_auto_t *recs = NULL, *add = NULL;
	size_t i;

	if (!ig)
		return req_error(r, 404, "5374852", "igroup.uuid", "The initiator group does not exist.");
	if (r->m == M_GET) {
		recs = initiator_records(ig);
		return coll_list(r, &coll_initiators, recs);
	}
	if (coll_check_body(r, &coll_initiators, "records") < 0)
		return -EINVAL;
	svm = svm_of(r->sim, ig);
	list = json_object_get(r->body, "records");
	add = json_array();
	if (!list) {
		recs = json_pack("[O]", r->body ? r->body : json_object());
		list = recs;
	}
	json_array_foreach(list, i, x) {
		_cleanup_free_ char *low = NULL;
		if (check_initiator(r, svm, jstr(ig, "name"), jstr(ig, "os_type"), ig,
				    jstr(x, "name")) < 0)
			return -EINVAL;
		low = str_lower(jstr(x, "name"));
		json_array_append_new(add, json_pack("{s:s,s:s}", "name", low, "comment",
						     jstr(x, "comment") ? jstr(x, "comment") : ""));
	}
	json_array_extend(json_object_get(ig, "initiators"), add);
	r->mutated = true;
	if (req_flag(r, "return_records")) {
		json_t *out = json_array();
		json_array_foreach(add, i, x) {
			json_t *rec = json_deep_copy(x);
			json_object_set_new(rec, "igroup", ref_of(ig));
			json_array_append_new(out, rec);
		}
		req_reply(r, 201, json_pack("{s:I,s:o}", "num_records",
					    (json_int_t)json_array_size(out), "records", out));
		return 0;
	}
	req_reply(r, 201, json_object());
	return 0;
}

static int h_initiator(struct req *r)
{
	json_t *ig = state_find(r->sim, "igroups", "uuid", r->arg[0]), *init, *a, *x;
	size_t i;

	if (!ig)
		return req_error(r, 404, "5374852", "igroup.uuid", "The initiator group does not exist.");
	init = igroup_initiator(ig, r->arg[1]);
	if (r->m == M_GET) {
		json_auto_t *rec = NULL;
		if (!init)
			return coll_get(r, &coll_initiators, NULL);
		rec = json_deep_copy(init);
		json_object_set_new(rec, "igroup", ref_of(ig));
		return coll_get(r, &coll_initiators, rec);
	}
	if (!init)
		return req_error(r, 404, "5374034", "name",
				 "Initiator \"%s\" is not a member of initiator group \"%s\".", r->arg[1],
				 jstr(ig, "name"));
	if (r->m == M_PATCH) {
		if (jstr(r->body, "comment"))
			json_object_set_new(init, "comment", json_string(jstr(r->body, "comment")));
		r->mutated = true;
		req_reply(r, 200, json_object());
		return 0;
	}
	if (state_find(r->sim, "lun_maps", "igroup.uuid", r->arg[0]) &&
	    !req_flag(r, "allow_delete_while_mapped"))
		return req_error(r, 409, "1254213", "",
				 "Initiator group \"%s\" is mapped; removing initiator \"%s\" requires allow_delete_while_mapped.",
				 jstr(ig, "name"), r->arg[1]);
	a = json_object_get(ig, "initiators");
	json_array_foreach(a, i, x) {
		if (x == init) {
			json_array_remove(a, i);
			break;
		}
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- LUN maps ---- */

static void decorate_lun_map(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *lun = state_find(sim, "luns", "uuid", jstr(rec, "lun.uuid"));
	json_t *ig = state_find(sim, "igroups", "uuid", jstr(rec, "igroup.uuid"));
	json_t *node = json_array_get(state_array(sim, "nodes"), 0);

	if (lun) {
		json_t *l = ref_of(lun);
		json_object_set_new(l, "node", ref_of(node));
		json_object_set_new(out, "lun", l);
	}
	if (ig) {
		json_t *g = ref_of(ig), *names = json_array(), *x;
		size_t i;
		json_array_foreach(json_object_get(ig, "initiators"), i, x)
			json_array_append(names, json_object_get(x, "name"));
		json_object_set(g, "os_type", json_object_get(ig, "os_type"));
		json_object_set(g, "protocol", json_object_get(ig, "protocol"));
		json_object_set_new(g, "initiators", names);
		json_object_set_new(out, "igroup", g);
	}
	{
		json_t *rn = json_array(), *n;
		size_t k;
		json_array_foreach(state_array(sim, "nodes"), k, n)
			json_array_append_new(rn, ref_of(n));
		json_object_set_new(out, "reporting_nodes", rn);
	}
}

struct coll coll_lun_maps = {
	.name = "lun_maps",
	.schema = "{'svm':{'name':'','uuid':''},"
		  "'lun':{'name':'','uuid':'','node':{'name':'','uuid':''}},"
		  "'igroup':{'name':'','uuid':'','os_type':'','protocol':'','initiators':['']},"
		  "'logical_unit_number':0,'reporting_nodes':[{'name':'','uuid':''}]}",
	.keys = "svm,lun,igroup,logical_unit_number",
	.cursor = "lun.uuid,igroup.uuid",
	.href = "/api/protocols/san/lun-maps/{lun.uuid}/{igroup.uuid}",
	.decorate = decorate_lun_map,
};

static json_t *find_by_ref(struct sim *sim, const char *coll, json_t *ref, json_t *svm)
{
	if (jstr(ref, "uuid"))
		return state_find(sim, coll, "uuid", jstr(ref, "uuid"));
	if (jstr(ref, "name") && svm)
		return state_find2(sim, coll, "name", jstr(ref, "name"), "svm.uuid", jstr(svm, "uuid"));
	if (jstr(ref, "name"))
		return state_find(sim, coll, "name", jstr(ref, "name"));
	return NULL;
}

static int h_lun_maps(struct req *r)
{
	json_t *svm, *ig, *lun, *m, *x;
	json_int_t lun_id;
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_lun_maps, state_array(r->sim, "lun_maps"));
	ret = coll_check_body(r, &coll_lun_maps, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), false, &svm);
	if (ret < 0)
		return ret;
	if (!jpath(r->body, "igroup"))
		return req_error(r, 400, "262177", "igroup.name", "Missing value for field \"igroup\".");
	if (!jpath(r->body, "lun"))
		return req_error(r, 400, "262177", "lun.name", "Missing value for field \"lun\".");
	ig = find_by_ref(r->sim, "igroups", json_object_get(r->body, "igroup"), svm);
	if (!ig)
		return req_error(r, 404, "5374852", "igroup.name",
				 "The initiator group \"%s\" does not exist.",
				 jstr(r->body, "igroup.name") ? jstr(r->body, "igroup.name")
							      : jstr(r->body, "igroup.uuid"));
	lun = find_by_ref(r->sim, "luns", json_object_get(r->body, "lun"), svm ? svm : svm_of(r->sim, ig));
	if (!lun)
		return req_error(r, 404, "1254201", "lun.name", "The LUN \"%s\" does not exist.",
				 jstr(r->body, "lun.name") ? jstr(r->body, "lun.name")
							   : jstr(r->body, "lun.uuid"));
	if (!streq_ci(jstr(lun, "svm.uuid"), jstr(ig, "svm.uuid")))
		return req_error(r, 400, "2", "igroup",
				 "The LUN and the initiator group belong to different SVMs.");
	if (state_find2(r->sim, "lun_maps", "lun.uuid", jstr(lun, "uuid"), "igroup.uuid",
			jstr(ig, "uuid")))
		return req_error(r, 409, "1254207", "",
				 "LUN already mapped to this group");
	if (json_object_get(r->body, "logical_unit_number")) {
		lun_id = jint(r->body, "logical_unit_number", -1);
		if (lun_id < 0 || lun_id > 4095)
			return req_error(r, 400, "262197", "logical_unit_number",
					 "The value is invalid for field \"logical_unit_number\" (0-4095)");
		json_array_foreach(state_array(r->sim, "lun_maps"), i, x)
			if (streq_ci(jstr(x, "igroup.uuid"), jstr(ig, "uuid")) &&
			    jint(x, "logical_unit_number", -1) == lun_id)
				return req_error(r, 409, "1", "logical_unit_number",
						 "LUN ID %lld is already used in initiator group \"%s\".",
						 (long long)lun_id, jstr(ig, "name"));
	} else {
		for (lun_id = 0; lun_id <= 4095; lun_id++) {
			bool used = false;
			json_array_foreach(state_array(r->sim, "lun_maps"), i, x)
				if (streq_ci(jstr(x, "igroup.uuid"), jstr(ig, "uuid")) &&
				    jint(x, "logical_unit_number", -1) == lun_id)
					used = true;
			if (!used)
				break;
		}
		if (lun_id > 4095)
			return req_error(r, 409, "7", "logical_unit_number",
					 "No free LUN ID in initiator group \"%s\".", jstr(ig, "name"));
	}
	m = json_pack("{s:O,s:{s:s},s:{s:s},s:I}", "svm", json_object_get(lun, "svm"), "lun", "uuid",
		      jstr(lun, "uuid"), "igroup", "uuid", jstr(ig, "uuid"), "logical_unit_number",
		      lun_id);
	json_array_append_new(state_array(r->sim, "lun_maps"), m);
	r->mutated = true;
	return coll_created(r, &coll_lun_maps, m, 201);
}

static int h_lun_map(struct req *r)
{
	json_t *lun = state_find(r->sim, "luns", "uuid", r->arg[0]);
	json_t *ig = state_find(r->sim, "igroups", "uuid", r->arg[1]);
	json_t *m = state_find2(r->sim, "lun_maps", "lun.uuid", r->arg[0], "igroup.uuid", r->arg[1]);

	if (r->m == M_GET)
		return coll_get(r, &coll_lun_maps, m);
	if (!lun)
		return req_error(r, 404, "5374875", "lun.uuid", "The specified LUN does not exist.");
	if (!ig)
		return req_error(r, 404, "5374878", "igroup.uuid",
				 "The specified initiator group does not exist.");
	if (!m)
		return req_error(r, 404, "5374922", "", "The LUN map does not exist.");
	state_remove(r->sim, "lun_maps", m);
	if (json_is_true(json_object_get(ig, "delete_on_unmap")) &&
	    !state_find(r->sim, "lun_maps", "igroup.uuid", r->arg[1]))
		state_remove(r->sim, "igroups", ig);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- NVMe subsystems, hosts, maps ---- */

static void decorate_subsystem(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *maps = json_array(), *m;
	size_t i;

	json_array_foreach(state_array(sim, "subsystem_maps"), i, m) {
		json_t *ns;
		if (!streq_ci(jstr(m, "subsystem.uuid"), jstr(rec, "uuid")))
			continue;
		ns = state_find(sim, "namespaces", "uuid", jstr(m, "namespace.uuid"));
		json_array_append_new(maps, json_pack("{s:O,s:O,s:o}", "nsid", json_object_get(m, "nsid"),
						      "anagrpid", json_object_get(m, "anagrpid"),
						      "namespace", ns ? ref_of(ns) : json_object()));
	}
	json_object_set_new(out, "subsystem_maps", maps);
}

struct coll coll_subsystems = {
	.name = "subsystems",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},'os_type':'','comment':'',"
		  "'target_nqn':'','serial_number':'','hosts':[{'nqn':''}],"
		  "'io_queue':{'default':{'count':0,'depth':0}},"
		  "'subsystem_maps':[{'nsid':'','anagrpid':'','namespace':{'name':'','uuid':''}}]}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.expensive = "subsystem_maps",
	.href = "/api/protocols/nvme/subsystems/{uuid}",
	.decorate = decorate_subsystem,
};

struct coll coll_subsystem_hosts = {
	.name = "subsystem_hosts",
	.schema = "{'nqn':'','subsystem':{'name':'','uuid':''}}",
	.keys = "nqn",
	.cursor = "nqn",
	.href = "/api/protocols/nvme/subsystems/{subsystem.uuid}/hosts/{nqn}",
};

static json_t *subsystem_host(json_t *ss, const char *nqn)
{
	json_t *x;
	size_t i;

	json_array_foreach(json_object_get(ss, "hosts"), i, x)
		if (streq_ci(jstr(x, "nqn"), nqn))
			return x;
	return NULL;
}

static int check_nqn(struct req *r, json_t *ss, const char *nqn)
{
	if (!nqn || strncasecmp(nqn, "nqn.", 4) != 0 || strlen(nqn) > 223 || strpbrk(nqn, " /"))
		return req_error(r, 400, "72089771", "hosts.nqn", "The NQN \"%s\" is invalid.",
				 nqn ? nqn : "");
	if (ss && subsystem_host(ss, nqn))
		return req_error(r, 409, "72089705", "nqn",
				 "The host \"%s\" is already in subsystem \"%s\".", nqn, jstr(ss, "name"));
	return 0;
}

static int h_subsystems(struct req *r)
{
	static const char *const os[] = { "aix", "linux", "vmware", "windows", NULL };
	_cleanup_free_ char *os_type = NULL;
	json_t *svm, *svc, *ss, *hosts, *x;
	const char *name;
	char uuid[37], hex[33], nqn[256], serial[21];
	size_t i;
	bool ok = false;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_subsystems, state_array(r->sim, "subsystems"));
	ret = coll_check_body(r, &coll_subsystems, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	svc = state_find(r->sim, "nvme_services", "svm.uuid", jstr(svm, "uuid"));
	if (!svc)
		return req_error(r, 400, "72090029", "svm.name",
				 "The NVMe service does not exist on Vserver \"%s\".", jstr(svm, "name"));
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (strlen(name) > 64)
		return req_error(r, 400, "262197", "name", "The subsystem name is longer than 64 characters.");
	if (!jstr(r->body, "os_type"))
		return req_error(r, 400, "262177", "os_type", "Missing value for field \"os_type\".");
	os_type = str_lower(jstr(r->body, "os_type"));
	for (size_t k = 0; os[k]; k++)
		ok |= strcmp(os[k], os_type) == 0;
	if (!ok)
		return req_error(r, 400, "262197", "os_type",
				 "The value \"%s\" is invalid for field \"os_type\"", os_type);
	if (state_find2(r->sim, "subsystems", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "72090025", "name",
				 "The NVMe subsystem \"%s\" already exists in Vserver \"%s\".", name,
				 jstr(svm, "name"));
	if (state_find2(r->sim, "igroups", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "72090043", "name",
				 "An initiator group named \"%s\" already exists in Vserver \"%s\".", name,
				 jstr(svm, "name"));
	hosts = json_array();
	json_array_foreach(json_object_get(r->body, "hosts"), i, x) {
		_cleanup_free_ char *low = NULL;
		if (check_nqn(r, NULL, jstr(x, "nqn")) < 0) {
			json_decref(hosts);
			return -EINVAL;
		}
		low = str_lower(jstr(x, "nqn"));
		json_array_append_new(hosts, json_pack("{s:s}", "nqn", low));
	}
	sim_uuid(uuid);
	svm_hex(svm, hex);
	snprintf(nqn, sizeof(nqn), "nqn.1992-08.com.netapp:sn.%s:subsystem.%s", hex, name);
	snprintf(serial, sizeof(serial), "8%019lld", (long long)state_counter(r->sim, "ss_serial"));
	ss = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:o,s:{s:{s:i,s:i}}}", "uuid", uuid, "name", name,
		       "svm", ref_of(svm), "os_type", os_type, "comment",
		       jstr(r->body, "comment") ? jstr(r->body, "comment") : "", "target_nqn", nqn,
		       "serial_number", serial, "hosts", hosts, "io_queue", "default", "count", 4,
		       "depth", 32);
	json_array_append_new(state_array(r->sim, "subsystems"), ss);
	r->mutated = true;
	return coll_created(r, &coll_subsystems, ss, 201);
}

static int h_subsystem(struct req *r)
{
	json_t *ss = state_find(r->sim, "subsystems", "uuid", r->arg[0]), *m;
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_subsystems, ss);
	if (!ss)
		return req_error(r, 404, "72090001", "uuid", "The NVMe subsystem does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_subsystems, NULL);
		if (ret < 0)
			return ret;
		if (jstr(r->body, "comment"))
			json_object_set_new(ss, "comment", json_string(jstr(r->body, "comment")));
		r->mutated = true;
		req_reply(r, 200, json_object());
		return 0;
	}
	if (state_find(r->sim, "subsystem_maps", "subsystem.uuid", r->arg[0]) &&
	    !req_flag(r, "allow_delete_while_mapped"))
		return req_error(r, 409, "72090023", "",
				 "The NVMe subsystem \"%s\" is mapped to one or more namespaces.",
				 jstr(ss, "name"));
	if (json_array_size(json_object_get(ss, "hosts")) && !req_flag(r, "allow_delete_with_hosts"))
		return req_error(r, 409, "72090024", "",
				 "The NVMe subsystem \"%s\" has hosts. Remove them first or use allow_delete_with_hosts.",
				 jstr(ss, "name"));
	while ((m = state_find(r->sim, "subsystem_maps", "subsystem.uuid", r->arg[0])))
		state_remove(r->sim, "subsystem_maps", m);
	state_remove(r->sim, "subsystems", ss);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static int h_hosts(struct req *r)
{
	json_t *ss = state_find(r->sim, "subsystems", "uuid", r->arg[0]), *list, *x;
	json_auto_t *recs = NULL, *add = NULL;
	size_t i;

	if (!ss)
		return req_error(r, 404, "72090001", "subsystem.uuid", "The NVMe subsystem does not exist.");
	if (r->m == M_GET) {
		recs = json_array();
		json_array_foreach(json_object_get(ss, "hosts"), i, x) {
			json_t *h = json_deep_copy(x);
			json_object_set_new(h, "subsystem", ref_of(ss));
			json_array_append_new(recs, h);
		}
		return coll_list(r, &coll_subsystem_hosts, recs);
	}
	if (coll_check_body(r, &coll_subsystem_hosts, "records") < 0)
		return -EINVAL;
	list = json_object_get(r->body, "records");
	if (!list) {
		recs = json_pack("[O]", r->body ? r->body : json_object());
		list = recs;
	}
	add = json_array();
	json_array_foreach(list, i, x) {
		_cleanup_free_ char *low = NULL;
		if (check_nqn(r, ss, jstr(x, "nqn")) < 0)
			return -EINVAL;
		low = str_lower(jstr(x, "nqn"));
		json_array_append_new(add, json_pack("{s:s}", "nqn", low));
	}
	json_array_extend(json_object_get(ss, "hosts"), add);
	r->mutated = true;
	req_reply(r, 201, json_object());
	return 0;
}

static int h_host(struct req *r)
{
	json_t *ss = state_find(r->sim, "subsystems", "uuid", r->arg[0]), *h, *a, *x;
	size_t i;

	if (!ss)
		return req_error(r, 404, "72090001", "subsystem.uuid", "The NVMe subsystem does not exist.");
	h = subsystem_host(ss, r->arg[1]);
	if (r->m == M_GET) {
		json_auto_t *rec = NULL;
		if (!h)
			return coll_get(r, &coll_subsystem_hosts, NULL);
		rec = json_deep_copy(h);
		json_object_set_new(rec, "subsystem", ref_of(ss));
		return coll_get(r, &coll_subsystem_hosts, rec);
	}
	if (!h)
		return req_error(r, 404, "72090004", "nqn",
				 "The host \"%s\" is not in subsystem \"%s\".", r->arg[1], jstr(ss, "name"));
	a = json_object_get(ss, "hosts");
	json_array_foreach(a, i, x) {
		if (x == h) {
			json_array_remove(a, i);
			break;
		}
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static void decorate_ss_map(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *ss = state_find(sim, "subsystems", "uuid", jstr(rec, "subsystem.uuid"));
	json_t *ns = state_find(sim, "namespaces", "uuid", jstr(rec, "namespace.uuid"));

	if (ss) {
		json_t *s = ref_of(ss);
		json_object_set(s, "hosts", json_object_get(ss, "hosts"));
		json_object_set_new(out, "subsystem", s);
	}
	if (ns)
		json_object_set_new(out, "namespace", ref_of(ns));
}

struct coll coll_subsystem_maps = {
	.name = "subsystem_maps",
	.schema = "{'svm':{'name':'','uuid':''},'subsystem':{'name':'','uuid':'','hosts':[{'nqn':''}]},"
		  "'namespace':{'name':'','uuid':''},'nsid':'','anagrpid':''}",
	.keys = "svm,subsystem,namespace,nsid",
	.cursor = "subsystem.uuid,namespace.uuid",
	.href = "/api/protocols/nvme/subsystem-maps/{subsystem.uuid}/{namespace.uuid}",
	.decorate = decorate_ss_map,
};

static int h_ss_maps(struct req *r)
{
	json_t *svm, *ss, *ns, *m, *x, *other;
	char nsid[32];
	long id;
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_subsystem_maps, state_array(r->sim, "subsystem_maps"));
	ret = coll_check_body(r, &coll_subsystem_maps, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), false, &svm);
	if (ret < 0)
		return ret;
	ss = find_by_ref(r->sim, "subsystems", json_object_get(r->body, "subsystem"), svm);
	if (!ss)
		return req_error(r, 404, "72090001", "subsystem.name", "The NVMe subsystem does not exist.");
	ns = find_by_ref(r->sim, "namespaces", json_object_get(r->body, "namespace"),
			 svm ? svm : svm_of(r->sim, ss));
	if (!ns)
		return req_error(r, 404, "72090006", "namespace.name", "The NVMe namespace does not exist.");
	other = state_find(r->sim, "subsystem_maps", "namespace.uuid", jstr(ns, "uuid"));
	if (other) {
		if (streq_ci(jstr(other, "subsystem.uuid"), jstr(ss, "uuid")))
			return req_error(r, 409, "72089790", "",
					 "The namespace \"%s\" is already mapped to subsystem \"%s\".",
					 jstr(ns, "name"), jstr(ss, "name"));
		return req_error(r, 409, "72089790", "",
				 "The namespace \"%s\" is already mapped to another subsystem; a namespace can be mapped to only one subsystem.",
				 jstr(ns, "name"));
	}
	for (id = 1;; id++) {
		bool used = false;
		snprintf(nsid, sizeof(nsid), "%08lXh", id);
		json_array_foreach(state_array(r->sim, "subsystem_maps"), i, x)
			if (streq_ci(jstr(x, "subsystem.uuid"), jstr(ss, "uuid")) &&
			    streq_ci(jstr(x, "nsid"), nsid))
				used = true;
		if (!used)
			break;
	}
	m = json_pack("{s:O,s:{s:s},s:{s:s},s:s,s:s}", "svm", json_object_get(ns, "svm"), "subsystem",
		      "uuid", jstr(ss, "uuid"), "namespace", "uuid", jstr(ns, "uuid"), "nsid", nsid,
		      "anagrpid", nsid);
	json_array_append_new(state_array(r->sim, "subsystem_maps"), m);
	r->mutated = true;
	return coll_created(r, &coll_subsystem_maps, m, 201);
}

static int h_ss_map(struct req *r)
{
	json_t *m = state_find2(r->sim, "subsystem_maps", "subsystem.uuid", r->arg[0],
				"namespace.uuid", r->arg[1]);

	if (r->m == M_GET)
		return coll_get(r, &coll_subsystem_maps, m);
	if (!state_find(r->sim, "subsystems", "uuid", r->arg[0]))
		return req_error(r, 404, "72090001", "subsystem.uuid", "The NVMe subsystem does not exist.");
	if (!m)
		return req_error(r, 404, "72090019", "",
				 "The namespace is not mapped to the specified subsystem.");
	state_remove(r->sim, "subsystem_maps", m);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

const struct route san_routes[] = {
	{ "/api/protocols/san/igroups", M_GET | M_POST, h_igroups, NULL },
	{ "/api/protocols/san/igroups/{}", M_GET | M_PATCH | M_DELETE, h_igroup,
	  "allow_delete_while_mapped" },
	{ "/api/protocols/san/igroups/{}/initiators", M_GET | M_POST, h_initiators, NULL },
	{ "/api/protocols/san/igroups/{}/initiators/{}", M_GET | M_PATCH | M_DELETE, h_initiator,
	  "allow_delete_while_mapped" },
	{ "/api/protocols/san/lun-maps", M_GET | M_POST, h_lun_maps, NULL },
	{ "/api/protocols/san/lun-maps/{}/{}", M_GET | M_DELETE, h_lun_map, NULL },
	{ "/api/protocols/san/iscsi/services", M_GET | M_POST, h_iscsi_services, NULL },
	{ "/api/protocols/san/iscsi/services/{}", M_GET | M_PATCH | M_DELETE, h_iscsi_services, NULL },
	{ "/api/protocols/nvme/services", M_GET | M_POST, h_nvme_services, NULL },
	{ "/api/protocols/nvme/services/{}", M_GET | M_PATCH | M_DELETE, h_nvme_services, NULL },
	{ "/api/protocols/nvme/subsystems", M_GET | M_POST, h_subsystems, NULL },
	{ "/api/protocols/nvme/subsystems/{}", M_GET | M_PATCH | M_DELETE, h_subsystem,
	  "allow_delete_while_mapped allow_delete_with_hosts" },
	{ "/api/protocols/nvme/subsystems/{}/hosts", M_GET | M_POST, h_hosts, NULL },
	{ "/api/protocols/nvme/subsystems/{}/hosts/{}", M_GET | M_DELETE, h_host, NULL },
	{ "/api/protocols/nvme/subsystem-maps", M_GET | M_POST, h_ss_maps, NULL },
	{ "/api/protocols/nvme/subsystem-maps/{}/{}", M_GET | M_DELETE, h_ss_map, NULL },
	{ NULL, 0, NULL, NULL },
};
