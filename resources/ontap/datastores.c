/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Observe and execute for the datastore plan (ontap-datastores.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "ontap-datastores.h"
#include "ontap-op.h"
#include <systemd/sd-event.h>

/* ---- observe ------------------------------------------------------------------------------ */

enum obs_part {
	OBS_VOLUMES, OBS_LUNS, OBS_NAMESPACES, OBS_IGROUPS, OBS_LUN_MAPS, OBS_SUBSYSTEMS, OBS_NS_MAPS,
	OBS_POLICIES, OBS_SHARES, OBS_ISCSI, OBS_LIFS_ISCSI, OBS_LIFS_NVME, OBS_LIFS_NFS, OBS_LIFS_CIFS, OBS_SVM,
	_OBS_MAX,
};

struct observe {
	struct ontap_client *client;   /* borrowed */
	char *prefix;                  /* owned */
	json_t *doc;                   /* owned: what is being assembled */
	unsigned pending;              /* requests (and rule lookups) not answered yet */
	int r;                         /* first failure */
	struct ontap_error err;        /* its detail */
	ontap_ds_observed_fn done;
	void *userdata;
};

struct obs_req {
	struct observe *o;             /* borrowed (kept alive by o->pending) */
	enum obs_part part;
	char *policy;                  /* rules of this export policy (owned) or NULL */
};

static const char *jstr(const json_t *o, const char *path)
{
	const json_t *v = o;
	char key[128];

	for (const char *p = path; v && *p;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = 0;
		v = json_object_get(v, key);
		p += n + (dot ? 1 : 0);
	}
	return json_string_value(v);
}

static json_int_t jint(const json_t *o, const char *path)
{
	const json_t *v = o;
	char key[128];

	for (const char *p = path; v && *p;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key))
			return 0;
		memcpy(key, p, n);
		key[n] = 0;
		v = json_object_get(v, key);
		p += n + (dot ? 1 : 0);
	}
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static json_t *names_of(const json_t *arr, const char *key)
{
	json_t *out = json_array(), *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (jstr(x, key))
			json_array_append_new(out, json_string(jstr(x, key)));
	return out;
}

static void observe_finish(struct observe *o)
{
	if (--o->pending)
		return;
	o->done(o->userdata, o->r, o->r < 0 ? NULL : o->doc, &o->err);
	ontap_error_clear(&o->err);
	json_decref(o->doc);
	free(o->prefix);
	free(o);
}

static void add_record(struct observe *o, enum obs_part part, const json_t *rec);
static int start_rules(struct observe *o, const char *policy, json_int_t id);

static void on_observed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct obs_req *q = userdata;
	struct observe *o = q->o;
	const json_t *recs = obj && obj->record ? json_object_get(obj->record, "records") : NULL;
	json_t *x;
	size_t i;

	/* A service the SVM does not run (404 / not configured) is an answer, not a failure: no
	 * CIFS server, no shares. */
	if (r == -ENOENT && (q->part == OBS_ISCSI || q->part == OBS_SHARES || q->part >= OBS_LIFS_ISCSI))
		r = 0;
	if (r == -EOPNOTSUPP && q->part >= OBS_LIFS_ISCSI && q->part <= OBS_LIFS_CIFS)
		r = 0; /* this release cannot list them: none */
	if (r < 0 && o->r == 0) {
		o->r = r;
		if (err)
			ontap_error_copy(&o->err, err);
	}
	if (r >= 0 && obj) {
		if (q->policy) {
			json_array_foreach(recs, i, x) {
				const json_t *cl = json_object_get(x, "clients");
				json_t *c;
				size_t k;
				json_array_foreach(cl, k, c)
					json_array_append_new(json_object_get(o->doc, "rules"),
							      json_pack("{sssssI}", "policy", q->policy, "clients",
									jstr(c, "match") ?: "", "index",
									jint(x, "index")));
			}
		} else if (recs) {
			json_array_foreach(recs, i, x)
				add_record(o, q->part, x);
		} else {
			add_record(o, q->part, obj->record);
		}
	}
	free(q->policy);
	free(q);
	observe_finish(o);
}

static void add_record(struct observe *o, enum obs_part part, const json_t *rec)
{
	json_t *doc = o->doc, *lifs = json_object_get(doc, "lifs"), *svm = json_object_get(doc, "svm");

	switch (part) {
	case OBS_VOLUMES:
		json_array_append_new(json_object_get(doc, "volumes"),
				      json_pack("{sssIss?ss?ss?sbsb}", "name", jstr(rec, "name") ?: "", "size",
						jint(rec, "size"), "comment", jstr(rec, "comment"), "junction",
						jstr(rec, "nas.path"), "export_policy", jstr(rec, "nas.export_policy.name"),
						"is_flexclone", jbool(rec, "clone.is_flexclone", false), "split_initiated",
						jbool(rec, "clone.split_initiated", false)));
		break;
	case OBS_LUNS:
	case OBS_NAMESPACES:
		json_array_append_new(json_object_get(doc, part == OBS_LUNS ? "luns" : "namespaces"),
				      json_pack("{sssIss?ss?}", "path", jstr(rec, "name") ?: "", "size",
						jint(rec, "space.size"), part == OBS_LUNS ? "serial" : "uuid",
						part == OBS_LUNS ? jstr(rec, "serial_number") : jstr(rec, "uuid"),
						"comment", jstr(rec, "comment")));
		break;
	case OBS_IGROUPS:
		json_array_append_new(json_object_get(doc, "igroups"),
				      json_pack("{sssssoss?}", "name", jstr(rec, "name") ?: "", "protocol",
						jstr(rec, "protocol") ?: "", "initiators",
						names_of(json_object_get(rec, "initiators"), "name"), "comment",
						jstr(rec, "comment")));
		break;
	case OBS_LUN_MAPS:
		json_array_append_new(json_object_get(doc, "lun_maps"),
				      json_pack("{sssssI}", "object", jstr(rec, "lun.name") ?: "", "group",
						jstr(rec, "igroup.name") ?: "", "number",
						jint(rec, "logical_unit_number")));
		break;
	case OBS_SUBSYSTEMS:
		json_array_append_new(json_object_get(doc, "subsystems"),
				      json_pack("{sssoss?ss?}", "name", jstr(rec, "name") ?: "", "hosts",
						names_of(json_object_get(rec, "hosts"), "nqn"), "comment",
						jstr(rec, "comment"), "target_nqn", jstr(rec, "target_nqn")));
		break;
	case OBS_NS_MAPS: {
		const char *nsid = jstr(rec, "nsid");
		json_array_append_new(json_object_get(doc, "ns_maps"),
				      json_pack("{sssssI}", "object", jstr(rec, "namespace.name") ?: "", "group",
						jstr(rec, "subsystem.name") ?: "", "number",
						nsid ? (json_int_t)strtoll(nsid, NULL, 16) : jint(rec, "nsid")));
		break;
	}
	case OBS_POLICIES:
		json_array_append_new(json_object_get(doc, "export_policies"),
				      json_pack("{sssI}", "name", jstr(rec, "name") ?: "", "id", jint(rec, "id")));
		if (start_rules(o, jstr(rec, "name"), jint(rec, "id")) < 0 && o->r == 0)
			o->r = -ENOMEM;
		break;
	case OBS_SHARES: {
		json_t *acl = json_array(), *a;
		size_t i;
		json_array_foreach(json_object_get(rec, "acls"), i, a)
			json_array_append_new(acl, json_pack("{ss?ss?ss?}", "user", jstr(a, "user_or_group"), "type",
							     jstr(a, "type"), "permission", jstr(a, "permission")));
		json_array_append_new(json_object_get(doc, "shares"),
				      json_pack("{ssssss?so}", "name", jstr(rec, "name") ?: "", "path", jstr(rec, "path") ?: "",
						"comment", jstr(rec, "comment"), "acl", acl));
		break;
	}
	case OBS_ISCSI:
		if (jstr(rec, "target.name"))
			json_object_set_new(doc, "iscsi_target", json_string(jstr(rec, "target.name")));
		break;
	case OBS_LIFS_ISCSI:
	case OBS_LIFS_NVME:
	case OBS_LIFS_NFS:
	case OBS_LIFS_CIFS:
		if (jstr(rec, "ip.address") && (!jstr(rec, "state") || strcmp(jstr(rec, "state"), "down") != 0))
			json_array_append_new(json_object_get(lifs, part == OBS_LIFS_ISCSI ? "iscsi"
								    : part == OBS_LIFS_NVME ? "nvme_tcp"
								    : part == OBS_LIFS_NFS ? "nfs" : "cifs"),
					      json_string(jstr(rec, "ip.address")));
		break;
	case OBS_SVM:
		json_object_set_new(svm, "iscsi", json_boolean(json_is_true(json_object_get(json_object_get(rec, "iscsi"), "enabled"))));
		json_object_set_new(svm, "nvme", json_boolean(json_is_true(json_object_get(json_object_get(rec, "nvme"), "enabled"))));
		json_object_set_new(svm, "nfs", json_boolean(json_is_true(json_object_get(json_object_get(rec, "nfs"), "enabled"))));
		json_object_set_new(svm, "fcp", json_boolean(json_is_true(json_object_get(json_object_get(rec, "fcp"), "enabled"))));
		json_object_set_new(svm, "cifs", json_boolean(json_is_true(json_object_get(json_object_get(rec, "cifs"), "enabled"))));
		break;
	case _OBS_MAX:
		break;
	}
}

/* One list request: GET collection?key=pattern&svm.name=…&fields=… (all pages). */
static int start_list(struct observe *o, enum obs_part part, const char *collection, const char *key,
		      const char *pattern, const char *fields, const char *policy)
{
	_cleanup_op_ struct op *op = NULL;
	struct obs_req *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	*q = (struct obs_req){ .o = o, .part = part, .policy = policy ? strdup(policy) : NULL };
	r = op_new(o->client, OP_LIST, "datastore object", pattern, on_observed, q, &op);
	if (r >= 0)
		r = op_set(&op->collection, collection);
	if (r >= 0 && key)
		r = ontap_query_add(&op->query, key, pattern, true);
	if (r >= 0 && !policy && *ontap_client_svm(o->client))
		r = ontap_query_add(&op->query, "svm.name", ontap_client_svm(o->client), false);
	if (r >= 0)
		r = op_set(&op->fields, fields);
	if (r >= 0) {
		o->pending++;
		r = op_start(TAKE_PTR(op));
		if (r < 0)
			o->pending--;
	}
	if (r < 0) {
		free(q->policy);
		free(q);
	}
	return r;
}

static int start_rules(struct observe *o, const char *policy, json_int_t id)
{
	char path[96];

	if (!policy)
		return 0;
	snprintf(path, sizeof(path), "/protocols/nfs/export-policies/%lld/rules", (long long)id);
	return start_list(o, OBS_POLICIES, path, NULL, policy, "index,clients", policy);
}

/* Singletons through the typed calls: their obj->record is the record itself. */
static int start_typed(struct observe *o, enum obs_part part)
{
	struct obs_req *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	*q = (struct obs_req){ .o = o, .part = part };
	o->pending++;
	switch (part) {
	case OBS_ISCSI: r = ontap_iscsi_service_get(o->client, on_observed, q); break;
	case OBS_LIFS_ISCSI: r = ontap_lifs_list(o->client, ONTAP_LIF_ISCSI, on_observed, q); break;
	case OBS_LIFS_NVME: r = ontap_lifs_list(o->client, ONTAP_LIF_NVME_TCP, on_observed, q); break;
	case OBS_LIFS_NFS: r = ontap_lifs_list(o->client, ONTAP_LIF_NFS, on_observed, q); break;
	case OBS_LIFS_CIFS: r = ontap_lifs_list(o->client, ONTAP_LIF_CIFS, on_observed, q); break;
	case OBS_SVM: r = ontap_svm_get(o->client, on_observed, q); break;
	default: r = -EINVAL; break;
	}
	if (r == -EOPNOTSUPP) {
		/* Not listable on this release: an empty answer, delivered like the others. */
		o->pending--;
		free(q);
		return 0;
	}
	if (r < 0) {
		o->pending--;
		free(q);
	}
	return r;
}

int ontap_ds_observe(struct ontap_client *c, const char *prefix, ontap_ds_observed_fn done, void *userdata)
{
	struct observe *o;
	_cleanup_free_ char *vol = NULL, *path = NULL, *any = NULL;
	int r = 0;

	if (!prefix || !*prefix || !done)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->client = c;
	o->done = done;
	o->userdata = userdata;
	o->prefix = strdup(prefix);
	o->doc = json_pack("{s[]s[]s[]s[]s[]s[]s[]s[]s[]s[]sns{s[]s[]s[]s[]}s{}}", "volumes", "luns", "namespaces",
			   "igroups", "lun_maps", "subsystems", "ns_maps", "export_policies", "rules", "shares",
			   "iscsi_target", "lifs", "iscsi", "nvme_tcp", "nfs", "cifs", "svm");
	if (!o->prefix || !o->doc || asprintf(&vol, "%s_*", prefix) < 0 || asprintf(&path, "/vol/%s_*", prefix) < 0 ||
	    asprintf(&any, "%s*", prefix) < 0) {
		json_decref(o->doc);
		free(o->prefix);
		free(o);
		return -ENOMEM;
	}
	o->pending = 1; /* held until every request has started */
	if (r >= 0)
		r = start_list(o, OBS_VOLUMES, "/storage/volumes", "name", vol, "uuid,name,size,comment,nas.path,nas.export_policy.name,clone.is_flexclone,clone.split_initiated", NULL);
	if (r >= 0)
		r = start_list(o, OBS_LUNS, "/storage/luns", "name", path, "uuid,name,space.size,serial_number,comment", NULL);
	if (r >= 0)
		r = start_list(o, OBS_NAMESPACES, "/storage/namespaces", "name", path, "uuid,name,space.size,comment", NULL);
	if (r >= 0)
		r = start_list(o, OBS_IGROUPS, "/protocols/san/igroups", "name", vol, "uuid,name,protocol,initiators,comment", NULL);
	if (r >= 0)
		r = start_list(o, OBS_LUN_MAPS, "/protocols/san/lun-maps", "igroup.name", vol,
			       "lun.name,igroup.name,logical_unit_number", NULL);
	if (r >= 0)
		r = start_list(o, OBS_SUBSYSTEMS, "/protocols/nvme/subsystems", "name", any,
			       "uuid,name,hosts,comment,target_nqn", NULL);
	if (r >= 0)
		r = start_list(o, OBS_NS_MAPS, "/protocols/nvme/subsystem-maps", "subsystem.name", any,
			       "subsystem.name,namespace.name,nsid", NULL);
	if (r >= 0)
		r = start_list(o, OBS_POLICIES, "/protocols/nfs/export-policies", "name", any, "id,name", NULL);
	if (r >= 0)
		r = start_list(o, OBS_SHARES, "/protocols/cifs/shares", "name", vol, "name,path,comment,acls", NULL);
	for (enum obs_part p = OBS_ISCSI; r >= 0 && p <= OBS_SVM; p++)
		r = start_typed(o, p);
	if (r < 0 && o->r == 0)
		o->r = r;
	if (r < 0 && o->pending == 1) {
		/* Nothing in flight: fail now, no callback. */
		json_decref(o->doc);
		free(o->prefix);
		free(o);
		return r;
	}
	/* Either all started, or some failed to start after others did: the callback reports
	 * o->r once those have answered. */
	observe_finish(o);
	return 0;
}

/* ---- execute ------------------------------------------------------------------------------ */

/*
 * Dataflow over the plan's dependencies: an op starts as soon as every op it waits for
 * (dsplan_op.after) has succeeded, not when its whole previous wave is done -- an NFS volume
 * waits for the export policy only, not for every SAN volume's job, and a datastore's LUN for
 * its own volume only. After a failure nothing new starts; what runs completes.
 */
enum { EX_WAITING, EX_RUNNING, EX_DONE, EX_FAILED };

struct execute {
	struct ontap_client *client;  /* borrowed */
	const struct dsplan_op *ops;  /* borrowed until done */
	size_t n;
	char *comment;                /* owned */
	unsigned char *state;         /* owned: EX_* per op */
	size_t *order;                /* owned: the op indices, longest chain after them first */
	size_t running;
	bool pumping;                 /* inside exec_pump(): completions do not recurse */
	int r;
	json_t *results;              /* owned */
	sd_event_source *start;       /* owned: starts the first ops from the loop */
	ontap_ds_progress_fn progress;
	ontap_ds_executed_fn done;
	void *userdata;
};

struct exec_req {
	struct execute *e;            /* borrowed */
	const struct dsplan_op *op;   /* borrowed */
};

static void exec_pump(struct execute *e);

static void exec_finish(struct execute *e)
{
	e->done(e->userdata, e->r, e->results);
	json_decref(e->results);
	free(e->state);
	free(e->order);
	free(e->comment);
	free(e);
}

static void on_executed(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct exec_req *q = userdata;
	struct execute *e = q->e;
	_cleanup_free_ char *opj = dsplan_op_json(q->op);
	json_t *op = opj ? json_loads(opj, 0, NULL) : NULL;

	char text[1024];

	/* "error": the whole story ("volume 'x': <ONTAP's message> [ONTAP error 460770] (HTTP 409)"),
	 * "code": ONTAP's error code as it sent it, "message": ONTAP's message alone. */
	json_array_append_new(e->results, json_pack("{sosiss?ss?ss?}", "op", op ? op : json_null(), "r", r, "error",
						    r < 0 && err ? ontap_error_format(err, text, sizeof(text)) : NULL,
						    "code", r < 0 && err && err->code_text[0] ? err->code_text : NULL,
						    "message", r < 0 && err ? err->message : NULL));
	if (r < 0 && e->r == 0)
		e->r = r;
	e->state[q->op - e->ops] = r < 0 ? EX_FAILED : EX_DONE;
	e->running--;
	if (e->progress)
		e->progress(e->userdata, (size_t)(q->op - e->ops), r, r >= 0 && obj ? obj->record : NULL);
	free(q);
	exec_pump(e);
}

/* Starts one op with the typed client calls. < 0: not started. */
static int exec_one(struct execute *e, struct exec_req *q)
{
	const struct dsplan_op *op = q->op;
	struct ontap_client *c = e->client;

	switch (op->kind) {
	case DSPLAN_VOLUME_ENSURE: {
		struct ontap_volume_spec v = { .name = op->object, .size = op->size, .thin = true,
					       .junction_path = op->junction, .comment = e->comment,
					       .export_policy = op->target };
		return ontap_volume_ensure(c, &v, on_executed, q);
	}
	case DSPLAN_VOLUME_CLONE:
		return ontap_volume_clone(c, op->object, op->target, op->snapshot, e->comment, on_executed, q);
	case DSPLAN_VOLUME_CLONE_SPLIT: return ontap_volume_clone_split(c, op->object, on_executed, q);
	case DSPLAN_VOLUME_RESIZE: return ontap_volume_grow(c, op->object, op->size, on_executed, q);
	case DSPLAN_VOLUME_DELETE: return ontap_volume_delete(c, op->object, on_executed, q);
	case DSPLAN_LUN_ENSURE: {
		struct ontap_lun_spec l = { .path = op->object, .size = op->size, .comment = e->comment };
		return ontap_lun_ensure(c, &l, on_executed, q);
	}
	case DSPLAN_LUN_RESIZE: return ontap_lun_resize(c, op->object, op->size, on_executed, q);
	case DSPLAN_LUN_DELETE: return ontap_lun_delete(c, op->object, false, on_executed, q);
	case DSPLAN_IGROUP_ENSURE: {
		struct ontap_igroup_spec g = { .name = op->object, .protocol = op->protocol,
					       .initiators = (const char *const *)op->members,
					       .n_initiators = op->n_members, .comment = e->comment };
		return ontap_igroup_ensure(c, &g, on_executed, q);
	}
	case DSPLAN_IGROUP_ADD_INITIATOR: return ontap_igroup_add_initiator(c, op->object, op->target, on_executed, q);
	case DSPLAN_IGROUP_REMOVE_INITIATOR:
		return ontap_igroup_remove_initiator(c, op->object, op->target, on_executed, q);
	case DSPLAN_IGROUP_DELETE: return ontap_igroup_delete(c, op->object, false, on_executed, q);
	case DSPLAN_LUN_MAP_ENSURE: return ontap_lun_map_ensure(c, op->object, op->target, on_executed, q);
	case DSPLAN_LUN_MAP_DELETE: return ontap_lun_map_delete(c, op->object, op->target, on_executed, q);
	case DSPLAN_NAMESPACE_ENSURE: {
		struct ontap_namespace_spec ns = { .path = op->object, .size = op->size };
		return ontap_namespace_ensure(c, &ns, on_executed, q);
	}
	case DSPLAN_NAMESPACE_RESIZE: return ontap_namespace_resize(c, op->object, op->size, on_executed, q);
	case DSPLAN_NAMESPACE_DELETE: return ontap_namespace_delete(c, op->object, on_executed, q);
	case DSPLAN_SUBSYSTEM_ENSURE: {
		struct ontap_subsystem_spec ss = { .name = op->object, .hosts = (const char *const *)op->members,
						   .n_hosts = op->n_members, .comment = e->comment };
		return ontap_subsystem_ensure(c, &ss, on_executed, q);
	}
	case DSPLAN_SUBSYSTEM_ADD_HOST: return ontap_subsystem_add_host(c, op->object, op->target, on_executed, q);
	case DSPLAN_SUBSYSTEM_REMOVE_HOST:
		return ontap_subsystem_remove_host(c, op->object, op->target, on_executed, q);
	case DSPLAN_SUBSYSTEM_DELETE: return ontap_subsystem_delete_with_hosts(c, op->object, on_executed, q);
	case DSPLAN_NS_MAP_ENSURE: return ontap_subsystem_map_ensure(c, op->target, op->object, on_executed, q);
	case DSPLAN_NS_MAP_DELETE: return ontap_subsystem_map_delete(c, op->target, op->object, on_executed, q);
	case DSPLAN_EXPORT_POLICY_ENSURE: return ontap_export_policy_ensure(c, op->object, on_executed, q);
	case DSPLAN_EXPORT_RULE_ENSURE: {
		struct ontap_export_rule_spec rule = { .policy = op->object, .clients = op->target };
		return ontap_export_rule_ensure(c, &rule, on_executed, q);
	}
	case DSPLAN_EXPORT_POLICY_DELETE: return ontap_export_policy_delete(c, op->object, on_executed, q);
	case DSPLAN_EXPORT_RULE_DELETE: return ontap_export_rule_delete(c, op->object, op->target, on_executed, q);
	case DSPLAN_VOLUME_MOUNT: return ontap_volume_mount(c, op->object, op->junction, op->target, on_executed, q);
	case DSPLAN_VOLUME_UNMOUNT: return ontap_volume_mount(c, op->object, NULL, NULL, on_executed, q);
	case DSPLAN_SHARE_ENSURE: {
		struct ontap_cifs_share_spec sh = { .name = op->object, .path = op->junction, .comment = e->comment };
		return ontap_cifs_share_ensure(c, &sh, on_executed, q);
	}
	case DSPLAN_SHARE_DELETE: return ontap_cifs_share_delete(c, op->object, on_executed, q);
	case DSPLAN_SHARE_ACL_ENSURE:
	case DSPLAN_SHARE_ACL_DELETE: {
		struct ontap_cifs_acl_spec a = { .share = op->object, .user_or_group = op->target, .type = op->protocol,
						 .permission = "full_control" };
		return op->kind == DSPLAN_SHARE_ACL_ENSURE ? ontap_cifs_share_acl_ensure(c, &a, on_executed, q)
							   : ontap_cifs_share_acl_delete(c, &a, on_executed, q);
	}
	case _DSPLAN_OP_MAX:
		break;
	}
	return -EOPNOTSUPP; /* the client has no such call yet: reported as this op's failure */
}

static bool is_ensure(enum dsplan_op_kind k)
{
	switch (k) {
	case DSPLAN_VOLUME_ENSURE: case DSPLAN_LUN_ENSURE: case DSPLAN_IGROUP_ENSURE: case DSPLAN_LUN_MAP_ENSURE:
	case DSPLAN_NAMESPACE_ENSURE: case DSPLAN_SUBSYSTEM_ENSURE: case DSPLAN_NS_MAP_ENSURE:
	case DSPLAN_EXPORT_POLICY_ENSURE: case DSPLAN_EXPORT_RULE_ENSURE: case DSPLAN_SHARE_ENSURE:
	case DSPLAN_SHARE_ACL_ENSURE: case DSPLAN_VOLUME_CLONE:
		return true;
	default:
		return false;
	}
}

/* May op i start: has every op it waits for succeeded? An op that lists none waits for every op
 * of the earlier waves (a plan's op of wave w > 0 always lists what it waits for). */
static bool exec_ready(const struct execute *e, size_t i)
{
	const struct dsplan_op *op = &e->ops[i];

	if (op->n_after) {
		for (size_t k = 0; k < op->n_after; k++)
			if (e->state[op->after[k]] != EX_DONE)
				return false;
		return true;
	}
	for (size_t k = 0; k < e->n; k++)
		if (e->ops[k].wave < op->wave && e->state[k] != EX_DONE)
			return false;
	return true;
}

/* Starts every op that may start; finishes when nothing runs any more. */
static void exec_pump(struct execute *e)
{
	bool again = true;

	if (e->pumping)
		return;
	e->pumping = true;
	while (again && e->r == 0) {
		again = false;
		for (size_t oi = 0; oi < e->n && e->r == 0; oi++) {
			size_t i = e->order[oi];
			struct exec_req *q;
			int r;

			if (e->state[i] != EX_WAITING || !exec_ready(e, i))
				continue;
			q = calloc(1, sizeof(*q));
			if (!q) {
				e->r = -ENOMEM;
				break;
			}
			*q = (struct exec_req){ .e = e, .op = &e->ops[i] };
			e->state[i] = EX_RUNNING;
			e->running++;
			again = true; /* a completion from inside the call may have readied others */
			/* The plan asks to ensure only what its read saw missing (datastore-plan.h):
			 * create it at once (ontap-internal.h says what the flag changes). */
			e->client->ensure_seen_missing = is_ensure(e->ops[i].kind);
			e->client->ops_urgent = e->ops[i].n_after > 0;
			r = exec_one(e, q);
			e->client->ensure_seen_missing = false;
			e->client->ops_urgent = false;
			if (r < 0) {
				/* Not started (no callback will come): recorded as this op's failure. */
				_cleanup_free_ char *opj = dsplan_op_json(q->op);
				json_t *opv = opj ? json_loads(opj, 0, NULL) : NULL;

				json_array_append_new(e->results, json_pack("{sosiss}", "op", opv ? opv : json_null(), "r", r,
									    "error", r == -EOPNOTSUPP ? "not supported by this ONTAP client"
												: strerror(-r)));
				e->r = e->r ?: r;
				e->state[i] = EX_FAILED;
				e->running--;
				free(q);
			}
		}
	}
	e->pumping = false;
	if (e->running)
		return;
	for (size_t i = 0; i < e->n && e->r == 0; i++)
		if (e->state[i] == EX_WAITING)
			e->r = -EDEADLK; /* cannot happen with after[] checked below; never hang */
	exec_finish(e);
}

/*
 * The order in which ops that may start together are started: the longest chain of ops still to
 * follow each one first (critical path first). The client queues what does not find a slot in
 * that order, so a block datastore's volume -- a job, then its LUN, then its maps -- goes before
 * an NFS volume that nothing follows: with 50 new datastores the last LUNs and maps start earlier
 * and the NFS volumes fill the slots meanwhile. Ties keep the plan's order. Owned; NULL on ENOMEM.
 */
static size_t *exec_order(const struct dsplan_op *ops, size_t n)
{
	size_t *order = calloc(n ? n : 1, sizeof(*order)), *height = calloc(n ? n : 1, sizeof(*height));

	if (!order || !height) {
		free(order);
		free(height);
		return NULL;
	}
	/* ops are sorted by wave and wait only for earlier waves: from the last one backwards, each
	 * op's height is 1 + the highest height of the ops that wait for it (exec_ready's rule: an
	 * op of a later wave listing nothing waits for all) */
	for (size_t j = n; j-- > 0;) {
		height[j] += 1;
		for (size_t k = 0; k < ops[j].n_after; k++)
			if (height[ops[j].after[k]] < height[j])
				height[ops[j].after[k]] = height[j];
		for (size_t i = 0; !ops[j].n_after && i < j; i++)
			if (ops[i].wave < ops[j].wave && height[i] < height[j])
				height[i] = height[j];
	}
	for (size_t i = 0; i < n; i++) {
		size_t at = i;

		while (at > 0 && height[order[at - 1]] < height[i]) { /* stable insertion */
			order[at] = order[at - 1];
			at--;
		}
		order[at] = i;
	}
	free(height);
	return order;
}

/* The first ops start from the loop, so `done` never runs inside ontap_ds_execute(). */
static int on_exec_start(sd_event_source *s, void *userdata)
{
	struct execute *e = userdata;

	e->start = sd_event_source_disable_unref(e->start);
	exec_pump(e);
	return 0;
}

int ontap_ds_execute(struct ontap_client *c, const struct dsplan_op *ops, size_t n, const char *comment,
		     ontap_ds_progress_fn progress, ontap_ds_executed_fn done, void *userdata)
{
	struct execute *e;

	if (!done || !n || !ops)
		return -EINVAL;
	/* What an op waits for is an earlier op of an earlier wave: so every op gets its turn. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ops[i].n_after; k++)
			if (ops[i].after[k] >= n || ops[ops[i].after[k]].wave >= ops[i].wave)
				return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct execute){ .client = c, .ops = ops, .n = n, .progress = progress, .done = done, .userdata = userdata,
			       .results = json_array(), .state = calloc(n, 1), .order = exec_order(ops, n),
			       .comment = comment ? strdup(comment) : NULL };
	if (!e->results || !e->state || !e->order || (comment && !e->comment)) {
		json_decref(e->results);
		free(e->state);
		free(e->order);
		free(e->comment);
		free(e);
		return -ENOMEM;
	}
	{
		int r = sd_event_add_defer(c->event, &e->start, on_exec_start, e);
		if (r < 0) {
			json_decref(e->results);
			free(e->state);
			free(e->order);
			free(e->comment);
			free(e);
			return r;
		}
	}
	return 0;
}
