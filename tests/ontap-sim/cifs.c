/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: SMB — the CIFS server per SVM, CIFS shares and their share-level ACLs
 * (README "SMB"). A share is the state's "cifs_shares" record with its ACL inline ("acls");
 * the ACL endpoints render its entries as records of their own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

struct coll coll_cifs_services = {
	.name = "cifs_services",
	.schema = "{'svm':{'name':'','uuid':''},'name':'','enabled':true,'comment':'',"
		  "'ad_domain':{'fqdn':'','organizational_unit':''},'workgroup':''}",
	.keys = "svm,name",
	.cursor = "svm.uuid",
	.href = "/api/protocols/cifs/services/{svm.uuid}",
};

static void decorate_share(struct sim *sim, json_t *rec, json_t *out);

struct coll coll_cifs_shares = {
	.name = "cifs_shares",
	.schema = "{'svm':{'name':'','uuid':''},'name':'','path':'','comment':'',"
		  "'acls':[{'user_or_group':'','type':'','permission':''}],'home_directory':true,"
		  "'oplocks':true,'access_based_enumeration':true,'change_notify':true,'encryption':true,"
		  "'continuously_available':true,'unix_symlink':'','volume':{'name':'','uuid':''}}",
	.keys = "svm,name",
	.cursor = "svm.uuid,name",
	.href = "/api/protocols/cifs/shares/{svm.uuid}/{name}",
	.decorate = decorate_share,
};

struct coll coll_cifs_share_acls = {
	.name = "cifs_share_acls",
	.schema = "{'svm':{'name':'','uuid':''},'share':'','user_or_group':'','type':'','permission':''}",
	.keys = "user_or_group,type",
	.cursor = "user_or_group,type",
	.href = "/api/protocols/cifs/shares/{svm.uuid}/{share}/acls/{user_or_group}/{type}",
};

/* A share name ONTAP takes: 1..80 characters, none of " / \ [ ] : | < > + = ; , ? * or controls. */
static bool share_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > 80)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || strchr("\"/\\[]:|<>+=;,?*", *s))
			return false;
	return true;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static const char *const acl_types[] = { "windows", "unix_user", "unix_group", NULL };
static const char *const acl_perms[] = { "no_access", "read", "change", "full_control", NULL };

json_t *cifs_service_of(struct sim *sim, const char *svm_uuid)
{
	return state_find(sim, "cifs_services", "svm.uuid", svm_uuid);
}

/* The online volume of the SVM whose junction path holds path ("/vol1" holds "/vol1/dir"),
 * the deepest one; NULL when none does ("/" is the SVM root: no volume of ours). */
json_t *cifs_volume_of_path(struct sim *sim, const char *svm_uuid, const char *path)
{
	json_t *vol, *best = NULL;
	size_t i, best_len = 0;

	json_array_foreach(state_array(sim, "volumes"), i, vol) {
		const char *j = jstr(vol, "nas.path");
		size_t n = j ? strlen(j) : 0;

		while (n > 1 && j[n - 1] == '/')
			n--;
		if (!n || (n == 1 && j[0] == '/') || !streq_ci(jstr(vol, "svm.uuid"), svm_uuid))
			continue;
		if (strncmp(path, j, n) == 0 && (path[n] == '\0' || path[n] == '/') && n > best_len) {
			best = vol;
			best_len = n;
		}
	}
	return best;
}

static json_t *share_find(struct sim *sim, const char *svm_uuid, const char *name)
{
	json_t *s;
	size_t i;

	json_array_foreach(state_array(sim, "cifs_shares"), i, s)
		if (streq_ci(jstr(s, "svm.uuid"), svm_uuid) && streq_ci(jstr(s, "name"), name))
			return s;
	return NULL;
}

static json_t *acl_find(json_t *share, const char *user, const char *type, size_t *at)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(share, "acls"), i, a)
		if (streq_ci(jstr(a, "user_or_group"), user) && strcmp(jstr(a, "type") ?: "", type) == 0) {
			if (at)
				*at = i;
			return a;
		}
	return NULL;
}

/* One ACL entry from a request body into *out (new). 0 or the error already answered. */
static int acl_from_body(struct req *r, json_t *b, json_t **out)
{
	const char *user = jstr(b, "user_or_group"), *type = jstr(b, "type") ?: "windows";
	const char *perm = jstr(b, "permission");

	if (!user || !*user)
		return req_error(r, 400, "262177", "user_or_group", "Missing value for field \"user_or_group\".");
	if (!perm)
		return req_error(r, 400, "262177", "permission", "Missing value for field \"permission\".");
	if (!one_of(type, acl_types))
		return req_error(r, 400, "262196", "type", "Field \"type\" cannot be set to \"%s\".", type);
	if (!one_of(perm, acl_perms))
		return req_error(r, 400, "262196", "permission", "Field \"permission\" cannot be set to \"%s\".", perm);
	*out = json_pack("{s:s,s:s,s:s}", "user_or_group", user, "type", type, "permission", perm);
	return 0;
}

/* ---- the CIFS server ---------------------------------------------------------------------- */

static int h_cifs_services(struct req *r)
{
	json_t *svc = r->arg[0] ? cifs_service_of(r->sim, r->arg[0]) : NULL, *svm;
	const char *name;
	int ret;

	if (!r->arg[0]) {
		if (r->m == M_GET)
			return coll_list(r, &coll_cifs_services, state_array(r->sim, "cifs_services"));
		ret = coll_check_body(r, &coll_cifs_services, NULL);
		if (ret < 0)
			return ret;
		ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
		if (ret < 0)
			return ret;
		name = jstr(r->body, "name");
		if (!name || !*name || strlen(name) > 15)
			return req_error(r, 400, "262177", "name", "Field \"name\" must be a NetBIOS name of 1 to 15 characters.");
		if (!jstr(r->body, "ad_domain.fqdn") && !jstr(r->body, "workgroup"))
			return req_error(r, 400, "262177", "ad_domain.fqdn",
					 "Either \"ad_domain.fqdn\" or \"workgroup\" must be specified.");
		if (cifs_service_of(r->sim, jstr(svm, "uuid")))
			return req_error(r, 409, "1", "svm.name", "The CIFS server already exists on this SVM.");
		svc = json_pack("{s:o,s:s,s:b,s:s}", "svm", ref_of(svm), "name", name, "enabled",
				!json_is_false(json_object_get(r->body, "enabled")), "comment",
				jstr(r->body, "comment") ?: "");
		if (jstr(r->body, "workgroup"))
			json_object_set(svc, "workgroup", json_object_get(r->body, "workgroup"));
		else
			jset(svc, "ad_domain.fqdn", json_string(jstr(r->body, "ad_domain.fqdn")));
		json_array_append_new(state_array(r->sim, "cifs_services"), svc);
		jset(svm, "cifs.enabled", json_boolean(json_is_true(json_object_get(svc, "enabled"))));
		r->mutated = true;
		return coll_created(r, &coll_cifs_services, svc, 201);
	}
	if (r->m == M_GET)
		return coll_get(r, &coll_cifs_services, svc);
	if (!svc)
		return req_error(r, 404, "4", "svm.uuid", "The CIFS server does not exist on this SVM.");
	svm = svm_find(r->sim, NULL, r->arg[0]);
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_cifs_services, NULL);
		if (ret < 0)
			return ret;
		if (json_is_boolean(json_object_get(r->body, "enabled")))
			json_object_set(svc, "enabled", json_object_get(r->body, "enabled"));
		if (jstr(r->body, "comment"))
			json_object_set(svc, "comment", json_object_get(r->body, "comment"));
		if (svm)
			jset(svm, "cifs.enabled", json_boolean(json_is_true(json_object_get(svc, "enabled"))));
	} else {
		if (svm)
			jset(svm, "cifs.enabled", json_false());
		state_remove(r->sim, "cifs_services", svc);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- shares ----------------------------------------------------------------------------------- */

/* The share as rendered: its volume filled in from its path. */
static void decorate_share(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *vol = cifs_volume_of_path(sim, jstr(rec, "svm.uuid"), jstr(rec, "path") ?: "");

	if (vol)
		json_object_set_new(out, "volume", ref_of(vol));
}

static int h_shares(struct req *r)
{
	json_t *svm, *share, *acls, *x;
	const char *name, *path;
	size_t i;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_cifs_shares, state_array(r->sim, "cifs_shares"));
	ret = coll_check_body(r, &coll_cifs_shares, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	path = jstr(r->body, "path");
	if (!name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (!path)
		return req_error(r, 400, "262177", "path", "Missing value for field \"path\".");
	if (!share_name_ok(name))
		return req_error(r, 400, "2", "name", "\"%s\" is not a valid CIFS share name.", name);
	if (jstr(r->body, "comment") && strlen(jstr(r->body, "comment")) > 256)
		return req_error(r, 400, "2", "comment", "The comment is longer than 256 characters.");
	if (!cifs_service_of(r->sim, jstr(svm, "uuid")))
		return req_error(r, 400, "2", "svm.name", "The CIFS server does not exist on SVM \"%s\".", jstr(svm, "name"));
	if (share_find(r->sim, jstr(svm, "uuid"), name))
		return req_error(r, 409, "1", "name", "The CIFS share \"%s\" already exists.", name);
	if (path[0] != '/' || (strcmp(path, "/") != 0 && !cifs_volume_of_path(r->sim, jstr(svm, "uuid"), path)))
		return req_error(r, 400, "2", "path", "The path \"%s\" does not exist in the namespace of SVM \"%s\".",
				 path, jstr(svm, "name"));
	acls = json_array();
	if (json_object_get(r->body, "acls")) {
		json_array_foreach(json_object_get(r->body, "acls"), i, x) {
			json_t *e = NULL;
			if (acl_from_body(r, x, &e) < 0) {
				json_decref(acls);
				return -EINVAL;
			}
			json_array_append_new(acls, e);
		}
	} else {
		/* ONTAP's default share ACL */
		json_array_append_new(acls, json_pack("{s:s,s:s,s:s}", "user_or_group", "Everyone", "type", "windows",
						      "permission", "full_control"));
	}
	share = json_pack("{s:o,s:s,s:s,s:s,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:s}", "svm", ref_of(svm), "name", name,
			  "path", path, "comment", jstr(r->body, "comment") ?: "", "acls", acls, "home_directory", 0,
			  "oplocks", 1, "access_based_enumeration", 0, "change_notify", 1, "encryption", 0,
			  "continuously_available", 0, "unix_symlink", "local");
	json_array_append_new(state_array(r->sim, "cifs_shares"), share);
	r->mutated = true;
	return coll_created(r, &coll_cifs_shares, share, 201);
}

static int h_share(struct req *r)
{
	json_t *share = share_find(r->sim, r->arg[0], r->arg[1]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_cifs_shares, share);
	if (!share)
		return req_error(r, 404, "4", "name", "The CIFS share \"%s\" does not exist.", r->arg[1]);
	if (r->m == M_PATCH) {
		const char *path = jstr(r->body, "path");
		ret = coll_check_body(r, &coll_cifs_shares, NULL);
		if (ret < 0)
			return ret;
		if (path && (path[0] != '/' || (strcmp(path, "/") != 0 && !cifs_volume_of_path(r->sim, r->arg[0], path))))
			return req_error(r, 400, "2", "path", "The path \"%s\" does not exist in the namespace of the SVM.", path);
		if (path)
			json_object_set(share, "path", json_object_get(r->body, "path"));
		if (jstr(r->body, "comment"))
			json_object_set(share, "comment", json_object_get(r->body, "comment"));
	} else {
		state_remove(r->sim, "cifs_shares", share);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- share ACLs ------------------------------------------------------------------------------- */

static json_t *acl_record(json_t *share, json_t *entry)
{
	json_t *rec = json_deep_copy(entry);

	json_object_set(rec, "svm", json_object_get(share, "svm"));
	json_object_set(rec, "share", json_object_get(share, "name"));
	return rec;
}

static int h_acls(struct req *r)
{
	json_t *share = share_find(r->sim, r->arg[0], r->arg[1]), *x, *e = NULL;
	size_t i;
	int ret;

	if (!share)
		return req_error(r, 404, "4", "share", "The CIFS share \"%s\" does not exist.", r->arg[1]);
	if (r->m == M_GET) {
		json_auto_t *recs = json_array();
		json_array_foreach(json_object_get(share, "acls"), i, x)
			json_array_append_new(recs, acl_record(share, x));
		return coll_list(r, &coll_cifs_share_acls, recs);
	}
	ret = coll_check_body(r, &coll_cifs_share_acls, NULL);
	if (ret < 0)
		return ret;
	if (acl_from_body(r, r->body, &e) < 0)
		return -EINVAL;
	if (acl_find(share, jstr(e, "user_or_group"), jstr(e, "type"), NULL)) {
		ret = req_error(r, 409, "1", "user_or_group", "The ACL entry for \"%s\" (%s) already exists on share \"%s\".",
				jstr(e, "user_or_group"), jstr(e, "type"), jstr(share, "name"));
		json_decref(e);
		return ret;
	}
	json_array_append(json_object_get(share, "acls"), e);
	r->mutated = true;
	{
		json_auto_t *rec = acl_record(share, e);
		json_decref(e);
		return coll_created(r, &coll_cifs_share_acls, rec, 201);
	}
}

static int h_acl(struct req *r)
{
	json_t *share = share_find(r->sim, r->arg[0], r->arg[1]), *entry;
	size_t at = 0;
	int ret;

	if (!share)
		return req_error(r, 404, "4", "share", "The CIFS share \"%s\" does not exist.", r->arg[1]);
	entry = acl_find(share, r->arg[2], r->arg[3], &at);
	if (r->m == M_GET) {
		json_auto_t *rec = entry ? acl_record(share, entry) : NULL;
		return coll_get(r, &coll_cifs_share_acls, rec);
	}
	if (!entry)
		return req_error(r, 404, "4", "user_or_group", "The ACL entry for \"%s\" (%s) does not exist on share \"%s\".",
				 r->arg[2], r->arg[3], jstr(share, "name"));
	if (r->m == M_PATCH) {
		const char *perm = jstr(r->body, "permission");
		ret = coll_check_body(r, &coll_cifs_share_acls, NULL);
		if (ret < 0)
			return ret;
		if (perm && !one_of(perm, acl_perms))
			return req_error(r, 400, "262196", "permission", "Field \"permission\" cannot be set to \"%s\".", perm);
		if (perm)
			json_object_set(entry, "permission", json_object_get(r->body, "permission"));
	} else {
		json_array_remove(json_object_get(share, "acls"), at);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

const struct route cifs_routes[] = {
	{ "/api/protocols/cifs/services", M_GET | M_POST, h_cifs_services, NULL },
	{ "/api/protocols/cifs/services/{}", M_GET | M_PATCH | M_DELETE, h_cifs_services, NULL },
	{ "/api/protocols/cifs/shares", M_GET | M_POST, h_shares, NULL },
	{ "/api/protocols/cifs/shares/{}/{}", M_GET | M_PATCH | M_DELETE, h_share, NULL },
	{ "/api/protocols/cifs/shares/{}/{}/acls", M_GET | M_POST, h_acls, NULL },
	{ "/api/protocols/cifs/shares/{}/{}/acls/{}/{}", M_GET | M_PATCH | M_DELETE, h_acl, NULL },
	{ NULL, 0, NULL, NULL },
};
