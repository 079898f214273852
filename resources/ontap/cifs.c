/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SMB: CIFS shares and their ACLs, the CIFS service (ontap.h, "SMB (CIFS)").
 *
 *   share   /protocols/cifs/shares                     looked up by name + svm.name; instance
 *           /protocols/cifs/shares/{svm.uuid}/{name}   (shares have no uuid)
 *   ACL     /protocols/cifs/shares/{svm.uuid}/{share}/acls        the share is the parent (its
 *           /protocols/cifs/shares/{svm.uuid}/{share}/acls/{user_or_group}/{type}   svm.uuid)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-op.h"

#define SHARE_FIELDS "name,path,comment,acls,svm.name,svm.uuid"

struct share_want {
	char *path, *comment;        /* owned; comment NULL = not compared */
};

static void share_want_free(void *p)
{
	struct share_want *w = p;

	if (!w)
		return;
	free(w->path);
	free(w->comment);
	free(w);
}

/* /protocols/cifs/shares/{svm.uuid}/{name} */
static int share_instance_path(struct op *op, const json_t *rec, char **ret)
{
	const char *svm = jstring(rec, "svm.uuid"), *name = jstring(rec, "name");
	_cleanup_free_ char *es = NULL, *en = NULL;

	if (!svm || !name) {
		ontap_error_setf(&op->err, -EBADMSG, "CIFS share record without svm.uuid or name");
		return -EBADMSG;
	}
	es = ontap_url_encode(svm, true);
	en = ontap_url_encode(name, true);
	if (!es || !en || asprintf(ret, "/protocols/cifs/shares/%s/%s", es, en) < 0)
		return -ENOMEM;
	return 0;
}

static int share_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
		    void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "CIFS share", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/cifs/shares"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, SHARE_FIELDS));
	op->instance_path = share_instance_path;
	*ret = TAKE_PTR(op);
	return 0;
}

/* ONTAP may report the path with or without a trailing '/' (and "/" for the root). */
static bool same_path(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;

	if (!a || !b)
		return a == b;
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

static int share_verify(struct op *op, const json_t *rec)
{
	const struct share_want *w = op->spec;

	if (!same_path(jstring(rec, "path"), w->path))
		return op_mismatch(op, "path", jstring(rec, "path"), w->path);
	if (w->comment && !streq_null(jstring(rec, "comment"), w->comment))
		return op_mismatch(op, "comment", jstring(rec, "comment"), w->comment);
	return 0;
}

int ontap_cifs_share_ensure(struct ontap_client *c, const struct ontap_cifs_share_spec *spec,
			    ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct share_want *w;

	if (!spec || !spec->path || spec->path[0] != '/' || (spec->comment && strlen(spec->comment) > 256))
		return -EINVAL;
	TRY(share_op(c, OP_ENSURE, spec->name, done, userdata, &op));
	op->spec = w = calloc(1, sizeof(*w));
	op->spec_free = share_want_free;
	if (!w)
		return -ENOMEM;
	TRY(op_set(&w->path, spec->path));
	if (spec->comment)
		TRY(op_set(&w->comment, spec->comment));
	op->verify = share_verify;
	/* The ACL is not sent: ONTAP gives the new share its default (Everyone / full_control); the
	 * caller sets the entries it wants with ontap_cifs_share_acl_*(). */
	op->body = json_pack("{s:{s:s},s:s,s:s,s:s?}", "svm", "name", ontap_client_svm(c), "name", spec->name, "path",
			     spec->path, "comment", spec->comment);
	/* the POST's records would lack the acls: always read the share back */
	op->reread_after_create = true;
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_cifs_share_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(share_op(c, OP_GET, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_cifs_share_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(share_op(c, OP_DELETE, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

/* ---- ACLs ------------------------------------------------------------------------------------- */

struct acl_want {
	char *share, *permission;    /* owned */
};

static void acl_want_free(void *p)
{
	struct acl_want *w = p;

	if (!w)
		return;
	free(w->share);
	free(w->permission);
	free(w);
}

/* /protocols/cifs/shares/{svm.uuid}/{share}/acls/{user_or_group}/{type} */
static int acl_instance_path(struct op *op, const json_t *rec, char **ret)
{
	const struct acl_want *w = op->spec;
	const char *user = jstring(rec, "user_or_group"), *type = jstring(rec, "type");
	_cleanup_free_ char *es = NULL, *esh = NULL, *eu = NULL, *et = NULL;

	if (!user || !type || !op->parent_id) {
		ontap_error_setf(&op->err, -EBADMSG, "CIFS share ACL record without user_or_group or type");
		return -EBADMSG;
	}
	es = ontap_url_encode(op->parent_id, true);
	esh = ontap_url_encode(w->share, true);
	eu = ontap_url_encode(user, true);
	et = ontap_url_encode(type, true);
	if (!es || !esh || !eu || !et ||
	    asprintf(ret, "/protocols/cifs/shares/%s/%s/acls/%s/%s", es, esh, eu, et) < 0)
		return -ENOMEM;
	return 0;
}

static bool acl_type_ok(const char *t)
{
	return !strcmp(t, "windows") || !strcmp(t, "unix_user") || !strcmp(t, "unix_group");
}

static bool acl_permission_ok(const char *p)
{
	return !strcmp(p, "no_access") || !strcmp(p, "read") || !strcmp(p, "change") || !strcmp(p, "full_control");
}

static int acl_op(struct ontap_client *c, enum op_kind kind, const struct ontap_cifs_acl_spec *spec,
		  ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL, *coll = NULL, *esh = NULL;
	const char *type = spec && spec->type ? spec->type : "windows";
	const char *perm = spec && spec->permission ? spec->permission : "full_control";
	struct acl_want *w;

	if (!spec || !spec->share || !*spec->share || !spec->user_or_group || !*spec->user_or_group ||
	    !acl_type_ok(type) || !acl_permission_ok(perm))
		return -EINVAL;
	if (asprintf(&disp, "%s (%s) on %s", spec->user_or_group, type, spec->share) < 0 ||
	    !(esh = ontap_url_encode(spec->share, true)) || asprintf(&coll, "/protocols/cifs/shares/{}/%s/acls", esh) < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, "CIFS share ACL entry", disp, done, userdata, &op));
	op->parent_key = "svm.uuid";
	TRY(op_set_parent(op, "CIFS share", "/protocols/cifs/shares", "name", spec->share, true));
	TRY(op_set(&op->collection, coll));
	TRY(op_query_by(op, "user_or_group", spec->user_or_group, false));
	TRY(op_query_by(op, "type", type, false));
	TRY(op_set(&op->fields, "user_or_group,type,permission"));
	op->instance_path = acl_instance_path;
	op->spec = w = calloc(1, sizeof(*w));
	op->spec_free = acl_want_free;
	if (!w)
		return -ENOMEM;
	TRY(op_set(&w->share, spec->share));
	TRY(op_set(&w->permission, perm));
	*ret = TAKE_PTR(op);
	return 0;
}

static int acl_verify(struct op *op, const json_t *rec)
{
	const struct acl_want *w = op->spec;

	if (!streq_null(jstring(rec, "permission"), w->permission))
		return op_mismatch(op, "permission", jstring(rec, "permission"), w->permission);
	return 0;
}

int ontap_cifs_share_acl_ensure(struct ontap_client *c, const struct ontap_cifs_acl_spec *spec,
				ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	const struct acl_want *w;

	TRY(acl_op(c, OP_ENSURE, spec, done, userdata, &op));
	w = op->spec;
	op->verify = acl_verify;
	op->reread_after_create = true;
	op->body = json_pack("{s:s,s:s,s:s}", "user_or_group", spec->user_or_group, "type",
			     spec->type ? spec->type : "windows", "permission", w->permission);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_cifs_share_acl_delete(struct ontap_client *c, const struct ontap_cifs_acl_spec *spec,
				ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(acl_op(c, OP_DELETE, spec, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_cifs_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	return ontap_service_get(c, "CIFS service", "/protocols/cifs/services", "enabled,name", done, userdata);
}
