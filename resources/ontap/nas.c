/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NFS: export policies and their rules, the NFS service. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-op.h"

static int id_path(struct op *op, const json_t *rec, char **ret)
{
	const json_t *id = jget(rec, "id");

	if (!json_is_integer(id))
		return -EBADMSG;
	if (asprintf(ret, "%s/%" JSON_INTEGER_FORMAT, op->collection, json_integer_value(id)) < 0)
		return -ENOMEM;
	return 0;
}

static int policy_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
		     void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "export policy", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/nfs/export-policies"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "id,name"));
	op->instance_path = id_path;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_export_policy_ensure(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(policy_op(c, OP_ENSURE, name, done, userdata, &op));
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:s,s:{s:s}}", "name", name, "svm", "name", ontap_client_svm(c));
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_export_policy_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(policy_op(c, OP_DELETE, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

struct rule_want {
	char *protocol, *ro, *rw, *su;
};

static void rule_want_free(void *p)
{
	struct rule_want *w = p;

	if (!w)
		return;
	free(w->protocol);
	free(w->ro);
	free(w->rw);
	free(w->su);
	free(w);
}

/* Rule fields are arrays of strings; compare the first (kvmcd writes one each). */
static int first_matches(struct op *op, const json_t *rec, const char *field, const char *want)
{
	const json_t *a = json_object_get(rec, field);
	const char *have = json_is_array(a) ? json_string_value(json_array_get(a, 0)) :
			   json_string_value(a);

	if (json_is_array(a) && json_array_size(a) != 1)
		return op_mismatch(op, field, "(several values)", want);
	if (!have || strcasecmp(have, want) != 0)
		return op_mismatch(op, field, have, want);
	return 0;
}

static int rule_verify(struct op *op, const json_t *rec)
{
	const struct rule_want *w = op->spec;

	TRY(first_matches(op, rec, "protocols", w->protocol));
	TRY(first_matches(op, rec, "ro_rule", w->ro));
	TRY(first_matches(op, rec, "rw_rule", w->rw));
	TRY(first_matches(op, rec, "superuser", w->su));
	return 0;
}

int ontap_export_rule_ensure(struct ontap_client *c, const struct ontap_export_rule_spec *spec,
			     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;
	struct rule_want *w;

	if (!spec || !spec->policy || !spec->clients || !*spec->clients)
		return -EINVAL;
	if (asprintf(&disp, "%s in %s", spec->clients, spec->policy) < 0)
		return -ENOMEM;
	TRY(op_new(c, OP_ENSURE, "export rule", disp, done, userdata, &op));
	op->parent_key = "id";
	TRY(op_set_parent(op, "export policy", "/protocols/nfs/export-policies", "name", spec->policy, true));
	TRY(op_set(&op->collection, "/protocols/nfs/export-policies/{}/rules"));
	TRY(op_query_by(op, "clients.match", spec->clients, false));
	TRY(op_set(&op->fields, "index,clients,protocols,ro_rule,rw_rule,superuser"));
	TRY(op_set(&op->post_query, "return_records=true"));
	op->dup_codes[0] = ONTAP_E_EXPORT_RULE_EXISTS;
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = rule_want_free;
	if (!w)
		return -ENOMEM;
	TRY(op_set(&w->protocol, spec->protocol ?: "any"));
	TRY(op_set(&w->ro, spec->ro_rule ?: "sys"));
	TRY(op_set(&w->rw, spec->rw_rule ?: "sys"));
	TRY(op_set(&w->su, spec->superuser ?: "sys"));
	op->verify = rule_verify;
	op->body = json_pack("{s:[{s:s}],s:[s],s:[s],s:[s],s:[s]}", "clients", "match", spec->clients,
			     "protocols", w->protocol, "ro_rule", w->ro, "rw_rule", w->rw, "superuser", w->su);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_nfs_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	return ontap_service_get(c, "NFS service", "/protocols/nfs/services", "enabled", done, userdata);
}

/* A rule's instance path: /protocols/nfs/export-policies/{id}/rules/{index}. */
static int rule_instance_path(struct op *op, const json_t *rec, char **ret)
{
	const json_t *idx = json_object_get(rec, "index");

	if (!json_is_integer(idx) || !op->parent_id) {
		ontap_error_setf(&op->err, -EBADMSG, "export rule record without index");
		return -EBADMSG;
	}
	if (asprintf(ret, "/protocols/nfs/export-policies/%s/rules/%" JSON_INTEGER_FORMAT, op->parent_id,
		     json_integer_value(idx)) < 0)
		return -ENOMEM;
	return 0;
}

int ontap_export_rule_delete(struct ontap_client *c, const char *policy, const char *clients,
			     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;

	if (!policy || !clients || !*clients)
		return -EINVAL;
	if (asprintf(&disp, "%s in %s", clients, policy) < 0)
		return -ENOMEM;
	TRY(op_new(c, OP_DELETE, "export rule", disp, done, userdata, &op));
	op->parent_key = "id";
	TRY(op_set_parent(op, "export policy", "/protocols/nfs/export-policies", "name", policy, true));
	TRY(op_set(&op->collection, "/protocols/nfs/export-policies/{}/rules"));
	TRY(op_query_by(op, "clients.match", clients, false));
	TRY(op_set(&op->fields, "index,clients"));
	op->instance_path = rule_instance_path;
	return op_start(TAKE_PTR(op));
}
