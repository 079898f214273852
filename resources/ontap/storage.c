/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Volumes (create, get, resize, delete, restore, FlexClone) and volume snapshots. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-op.h"

#define VOLUME_FIELDS "uuid,name,size,state,type,style,aggregates,guarantee.type,snapshot_policy.name,nas.path"
#define CLONE_FIELDS VOLUME_FIELDS ",clone.is_flexclone,clone.parent_volume.name,clone.parent_snapshot.name"

struct volume_want {
	uint64_t size;
	bool thin;
	char *snapshot_policy;
	char *junction;
	char *parent, *parent_snapshot;  /* clones */
	char *type;
};

static void volume_want_free(void *p)
{
	struct volume_want *w = p;

	if (!w)
		return;
	free(w->snapshot_policy);
	free(w->junction);
	free(w->parent);
	free(w->parent_snapshot);
	free(w->type);
	free(w);
}

static int volume_op(struct ontap_client *c, enum op_kind kind, const char *name, const char *fields,
		     ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "volume", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/volumes"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, fields));
	op->dup_codes[0] = ONTAP_E_VOLUME_EXISTS;
	op->dup_codes[1] = ONTAP_E_VOLUME_BEING_CREATED;
	*ret = TAKE_PTR(op);
	return 0;
}

static int volume_verify(struct op *op, const json_t *rec)
{
	const struct volume_want *w = op->spec;
	const char *g = jstring(rec, "guarantee.type"), *sp = jstring(rec, "snapshot_policy.name");
	const char *type = jstring(rec, "type");

	if (type && w->type && strcasecmp(type, w->type) != 0)
		return op_mismatch(op, "type", type, w->type);
	if (w->size && juint(rec, "size") != w->size)
		return op_mismatch_u64(op, "size", juint(rec, "size"), w->size);
	/* A clone's size and guarantee follow its parent: only its lineage is compared. */
	if (g && !w->parent && (strcmp(g, "none") == 0) != w->thin)
		return op_mismatch(op, "guarantee.type", g, w->thin ? "none" : "volume");
	if (w->snapshot_policy && sp && strcmp(sp, w->snapshot_policy) != 0)
		return op_mismatch(op, "snapshot_policy", sp, w->snapshot_policy);
	if (w->junction && !streq_null(jstring(rec, "nas.path"), w->junction))
		return op_mismatch(op, "nas.path", jstring(rec, "nas.path"), w->junction);
	if (w->parent) {
		if (!jbool(rec, "clone.is_flexclone", false))
			return op_mismatch(op, "clone.is_flexclone", "false", "true");
		if (!streq_null(jstring(rec, "clone.parent_volume.name"), w->parent))
			return op_mismatch(op, "clone.parent_volume", jstring(rec, "clone.parent_volume.name"), w->parent);
		if (w->parent_snapshot &&
		    !streq_null(jstring(rec, "clone.parent_snapshot.name"), w->parent_snapshot))
			return op_mismatch(op, "clone.parent_snapshot", jstring(rec, "clone.parent_snapshot.name"),
					   w->parent_snapshot);
	}
	return 0;
}

int ontap_volume_ensure(struct ontap_client *c, const struct ontap_volume_spec *spec,
			ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct volume_want *w;
	json_t *b;

	if (!spec || !spec->size)
		return -EINVAL;
	TRY(volume_op(c, OP_ENSURE, spec->name, VOLUME_FIELDS, done, userdata, &op));
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = volume_want_free;
	if (!w)
		return -ENOMEM;
	w->size = spec->size;
	w->thin = spec->thin;
	TRY(op_set(&w->snapshot_policy, spec->snapshot_policy ?: "none"));
	TRY(op_set(&w->type, spec->type ?: "rw"));
	if (spec->junction_path)
		TRY(op_set(&w->junction, spec->junction_path));
	op->verify = volume_verify;

	op->body = b = json_pack("{s:s,s:{s:s},s:I,s:{s:s},s:{s:s},s:s}",
				 "name", spec->name, "svm", "name", ontap_client_svm(c),
				 "size", (json_int_t) spec->size,
				 "guarantee", "type", spec->thin ? "none" : "volume",
				 "snapshot_policy", "name", w->snapshot_policy,
				 "type", w->type);
	if (!b)
		return -ENOMEM;
	if (spec->aggregate)
		TRY(json_set_path(b, "aggregates", json_pack("[{s:s}]", "name", spec->aggregate)));
	else
		TRY(json_set_path(b, "style", json_string("flexvol")));
	if (spec->junction_path)
		TRY(json_set_path(b, "nas.path", json_string(spec->junction_path)));
	if (spec->export_policy)
		TRY(json_set_path(b, "nas.export_policy.name", json_string(spec->export_policy)));
	if (spec->comment)
		TRY(json_set_path(b, "comment", json_string(spec->comment)));
	return op_start(TAKE_PTR(op));
}

static int dp_volume_verify(struct op *op, const json_t *rec)
{
	const char *type = jstring(rec, "type");

	if (!type || strcasecmp(type, "dp") != 0)
		return op_mismatch(op, "type", type ? type : "(none)", "dp");
	return 0;
}

int ontap_dp_volume_ensure(struct ontap_client *c, const char *svm, const char *name, uint64_t size,
			   ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!svm || !*svm || !name || !*name || !size)
		return -EINVAL;
	TRY(op_new(c, OP_ENSURE, "volume", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/volumes"));
	TRY(op_query_by(op, "name", name, false));
	TRY(ontap_query_add(&op->query, "svm.name", svm, false));
	TRY(op_set(&op->fields, VOLUME_FIELDS));
	op->dup_codes[0] = ONTAP_E_VOLUME_EXISTS;
	op->dup_codes[1] = ONTAP_E_VOLUME_BEING_CREATED;
	op->verify = dp_volume_verify;
	op->body = json_pack("{s:s,s:{s:s},s:I,s:{s:s},s:s,s:s}", "name", name, "svm", "name", svm, "size",
			     (json_int_t) size, "guarantee", "type", "none", "type", "dp", "style", "flexvol");
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_volume_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(volume_op(c, OP_GET, name, VOLUME_FIELDS, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_volume_list(struct ontap_client *c, const char *pattern, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_LIST, "volume", pattern ?: "*", done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/volumes"));
	TRY(ontap_query_add(&op->query, "name", pattern ?: "*", true));
	if (*ontap_client_svm(c))
		TRY(ontap_query_add(&op->query, "svm.name", ontap_client_svm(c), false));
	TRY(op_set(&op->fields, VOLUME_FIELDS));
	return op_start(TAKE_PTR(op));
}

static int resize_decide(struct op *op, const json_t *rec, json_t **body)
{
	const struct volume_want *w = op->spec;

	if (juint(rec, "size") == w->size)
		return 0;
	*body = json_pack("{s:I}", "size", (json_int_t) w->size);
	return *body ? 1 : -ENOMEM;
}

/* Grow only: a volume already at least that large is left as it is. */
static int grow_decide(struct op *op, const json_t *rec, json_t **body)
{
	const struct volume_want *w = op->spec;

	if (juint(rec, "size") >= w->size)
		return 0;
	return resize_decide(op, rec, body);
}

/* After a grow: at least the size asked (someone may have grown it further meanwhile). */
static int grow_verify(struct op *op, const json_t *rec)
{
	const struct volume_want *w = op->spec;
	uint64_t have = juint(rec, "space.size") ?: juint(rec, "size");

	if (have < w->size) {
		ontap_error_setf(&op->err, -EIO, "%s '%s' has size %" PRIu64 " after growing to %" PRIu64,
				 op->what, op->name, have, w->size);
		return -EAGAIN;
	}
	return 0;
}

static int size_verify(struct op *op, const json_t *rec)
{
	const struct volume_want *w = op->spec;
	uint64_t have = juint(rec, "space.size") ?: juint(rec, "size");

	if (have != w->size) {
		ontap_error_setf(&op->err, -EIO, "%s '%s' has size %" PRIu64 " after resizing to %" PRIu64,
				 op->what, op->name, have, w->size);
		return -EAGAIN;
	}
	return 0;
}

int ontap_volume_resize(struct ontap_client *c, const char *name, uint64_t size,
			ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct volume_want *w;

	if (!size)
		return -EINVAL;
	TRY(volume_op(c, OP_PATCH, name, VOLUME_FIELDS, done, userdata, &op));
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = volume_want_free;
	if (!w)
		return -ENOMEM;
	w->size = size;
	op->decide = resize_decide;
	op->verify = size_verify;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

int ontap_volume_grow(struct ontap_client *c, const char *name, uint64_t size,
		      ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct volume_want *w;

	if (!size)
		return -EINVAL;
	TRY(volume_op(c, OP_PATCH, name, VOLUME_FIELDS, done, userdata, &op));
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = volume_want_free;
	if (!w)
		return -ENOMEM;
	w->size = size;
	op->decide = grow_decide;
	op->verify = grow_verify;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

/* nas.path and nas.export_policy.name as asked ("" path: not mounted). */
struct mount_want {
	char *path, *policy;
};

static void mount_want_free(void *p)
{
	struct mount_want *w = p;

	if (w) {
		free(w->path);
		free(w->policy);
		free(w);
	}
}

static const char *jpath(const json_t *rec, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(rec, a), b));
}

static int mount_decide(struct op *op, const json_t *rec, json_t **body)
{
	const struct mount_want *w = op->spec;
	const json_t *nas = json_object_get(rec, "nas");
	const char *path = json_string_value(json_object_get(nas, "path")) ?: "";
	const char *pol = jpath(nas, "export_policy", "name") ?: "default";

	if (strcmp(path, w->path) == 0 && strcmp(pol, w->policy) == 0)
		return 0;
	*body = json_pack("{s:{s:s,s:{s:s}}}", "nas", "path", w->path, "export_policy", "name", w->policy);
	return *body ? 1 : -ENOMEM;
}

static int mount_verify(struct op *op, const json_t *rec)
{
	const struct mount_want *w = op->spec;
	const json_t *nas = json_object_get(rec, "nas");
	const char *path = json_string_value(json_object_get(nas, "path")) ?: "";

	if (strcmp(path, w->path) != 0)
		return op_mismatch(op, "nas.path", path, w->path);
	return 0;
}

int ontap_volume_mount(struct ontap_client *c, const char *name, const char *junction, const char *policy,
		       ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct mount_want *w;

	TRY(volume_op(c, OP_PATCH, name, "uuid,name,nas.path,nas.export_policy.name", done, userdata, &op));
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = mount_want_free;
	if (!w || !(w->path = strdup(junction ?: "")) || !(w->policy = strdup(policy ?: "default")))
		return -ENOMEM;
	op->decide = mount_decide;
	op->verify = mount_verify;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

/* Probe first: a volume that is no FlexClone (any more), or whose split ONTAP already runs,
 * needs nothing. */
static int split_decide(struct op *op, const json_t *rec, json_t **body)
{
	(void)op;
	if (!jbool(rec, "clone.is_flexclone", false) || jbool(rec, "clone.split_initiated", false))
		return 0;
	*body = json_pack("{s:{s:b}}", "clone", "split_initiated", 1);
	return *body ? 1 : -ENOMEM;
}

static int split_verify(struct op *op, const json_t *rec)
{
	if (jbool(rec, "clone.is_flexclone", false) && !jbool(rec, "clone.split_initiated", false))
		return op_mismatch(op, "clone.split_initiated", "false", "true");
	return 0;
}

int ontap_volume_clone_split(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(volume_op(c, OP_PATCH, name, "uuid,name,clone.is_flexclone,clone.split_initiated", done, userdata, &op));
	op->decide = split_decide;
	op->verify = split_verify;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

int ontap_volume_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(volume_op(c, OP_DELETE, name, "uuid,name", done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

static int restore_decide(struct op *op, const json_t *rec, json_t **body)
{
	*body = json_object();
	return *body ? 1 : -ENOMEM;
}

int ontap_volume_restore(struct ontap_client *c, const char *name, const char *snapshot,
			 ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!snapshot || !*snapshot)
		return -EINVAL;
	TRY(volume_op(c, OP_PATCH, name, VOLUME_FIELDS, done, userdata, &op));
	TRY(ontap_query_add(&op->mutate_query, "restore_to.snapshot.name", snapshot, false));
	op->decide = restore_decide;
	return op_start(TAKE_PTR(op));
}

int ontap_volume_clone(struct ontap_client *c, const char *name, const char *parent,
		       const char *parent_snapshot, const char *comment, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct volume_want *w;

	if (!parent || !*parent)
		return -EINVAL;
	TRY(volume_op(c, OP_ENSURE, name, CLONE_FIELDS, done, userdata, &op));
	op->spec = w = calloc(1, sizeof *w);
	op->spec_free = volume_want_free;
	if (!w)
		return -ENOMEM;
	TRY(op_set(&w->parent, parent));
	if (parent_snapshot)
		TRY(op_set(&w->parent_snapshot, parent_snapshot));
	op->verify = volume_verify;
	op->body = json_pack("{s:s,s:{s:s},s:{s:b,s:{s:s}}}", "name", name,
			     "svm", "name", ontap_client_svm(c),
			     "clone", "is_flexclone", 1, "parent_volume", "name", parent);
	if (!op->body)
		return -ENOMEM;
	if (parent_snapshot)
		TRY(json_set_path(op->body, "clone.parent_snapshot.name", json_string(parent_snapshot)));
	if (comment)
		TRY(json_set_path(op->body, "comment", json_string(comment)));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ snapshots */

static int snapshot_op(struct ontap_client *c, enum op_kind kind, const char *volume, const char *name,
		       ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;

	if (!volume || !*volume)
		return -EINVAL;
	if (asprintf(&disp, "%s@%s", volume, name ?: "*") < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, "snapshot", disp, done, userdata, &op));
	TRY(op_set_parent(op, "volume", "/storage/volumes", "name", volume, true));
	TRY(op_set(&op->collection, "/storage/volumes/{}/snapshots"));
	if (name)
		TRY(op_query_by(op, "name", name, false));
	TRY(op_set(&op->fields, "uuid,name,create_time,state,snapmirror_label"));
	op->dup_codes[0] = ONTAP_E_SNAPSHOT_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

static int snapshot_verify(struct op *op, const json_t *rec)
{
	const char *want = op->spec, *have = jstring(rec, "snapmirror_label");

	if (want && !streq_null(have, want))
		return op_mismatch(op, "snapmirror_label", have, want);
	return 0;
}

int ontap_snapshot_ensure(struct ontap_client *c, const char *volume, const char *name,
			  const char *label, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(snapshot_op(c, OP_ENSURE, volume, name, done, userdata, &op));
	op->body = json_pack("{s:s}", "name", name);
	if (!op->body)
		return -ENOMEM;
	if (label) {
		TRY(json_set_path(op->body, "snapmirror_label", json_string(label)));
		op->spec = strdup(label);
		op->spec_free = free;
		if (!op->spec)
			return -ENOMEM;
	}
	op->verify = snapshot_verify;
	return op_start(TAKE_PTR(op));
}

int ontap_snapshot_list(struct ontap_client *c, const char *volume, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(snapshot_op(c, OP_LIST, volume, NULL, done, userdata, &op));
	/* owners: what keeps ONTAP from deleting one (a clone, SnapMirror): retention's "busy" */
	TRY(op_set(&op->fields, "uuid,name,create_time,state,snapmirror_label,owners"));
	return op_start(TAKE_PTR(op));
}

int ontap_snapshot_delete(struct ontap_client *c, const char *volume, const char *name,
			  ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(snapshot_op(c, OP_DELETE, volume, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}
