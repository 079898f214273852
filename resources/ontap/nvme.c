/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NVMe: namespaces, subsystems and their hosts, subsystem maps, the NVMe service. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "ontap-op.h"

#define NS_FIELDS "uuid,name,os_type,space.size,space.block_size,status.state,location.volume.name"

int ontap_namespace_ensure(struct ontap_client *c, const struct ontap_namespace_spec *spec,
			   ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct size_want *w;
	const char *os = spec && spec->os_type ? spec->os_type : "linux";

	if (!spec || !spec->size)
		return -EINVAL;
	TRY(ontap_space_object_op(c, OP_ENSURE, "namespace", "/storage/namespaces", NS_FIELDS, spec->path,
				  done, userdata, &op));
	w = op->spec;
	w->size = spec->size;
	TRY(op_set(&w->os_type, os));
	op->dup_codes[0] = ONTAP_E_NS_EXISTS;
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:s,s:s,s:{s:I,s:i}}",
			     "svm", "name", ontap_client_svm(c), "name", spec->path, "os_type", os,
			     "space", "size", (json_int_t) spec->size, "block_size",
			     spec->block_size ? (int) spec->block_size : 4096);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_namespace_get(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(ontap_space_object_op(c, OP_GET, "namespace", "/storage/namespaces", NS_FIELDS, path,
				  done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_namespace_resize(struct ontap_client *c, const char *path, uint64_t size,
			   ontap_done_fn done, void *userdata)
{
	return ontap_space_object_resize(c, "namespace", "/storage/namespaces", NS_FIELDS, path, size,
					 done, userdata);
}

int ontap_namespace_delete(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(ontap_space_object_op(c, OP_DELETE, "namespace", "/storage/namespaces", "uuid,name", path,
				  done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

/* A subsystem's identity for hosts is its target NQN, not its 20-char serial number. */
static void subsystem_fill(struct op *op, const json_t *rec, struct ontap_object *obj)
{
	obj->serial = jstring(rec, "target_nqn");
}

static int subsystem_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
			void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "NVMe subsystem", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/nvme/subsystems"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "uuid,name,os_type,target_nqn,hosts"));
	op->dup_codes[0] = ONTAP_E_SUBSYS_EXISTS;
	op->fill = subsystem_fill;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_subsystem_ensure(struct ontap_client *c, const struct ontap_subsystem_spec *spec,
			   ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct name_set *s;

	if (!spec)
		return -EINVAL;
	TRY(subsystem_op(c, OP_ENSURE, spec->name, done, userdata, &op));
	TRY(ontap_name_set_new(spec->os_type ?: "linux", NULL, spec->hosts, spec->n_hosts, "hosts", "nqn", &s));
	ontap_op_verify_name_set(op, s);
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:s,s:s}", "svm", "name", ontap_client_svm(c),
			     "name", spec->name, "os_type", s->os_type);
	if (!op->body)
		return -ENOMEM;
	if (spec->comment)
		TRY(json_set_path(op->body, "comment", json_string(spec->comment)));
	TRY(ontap_name_set_put_members(s, op->body));
	return op_start(TAKE_PTR(op));
}

int ontap_subsystem_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(subsystem_op(c, OP_GET, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_subsystem_delete(struct ontap_client *c, const char *name, bool force,
			   ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(subsystem_op(c, OP_DELETE, name, done, userdata, &op));
	if (force)
		TRY(op_set(&op->mutate_query, "allow_delete_while_mapped=true&allow_delete_with_hosts=true"));
	return op_start(TAKE_PTR(op));
}

int ontap_subsystem_delete_with_hosts(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(subsystem_op(c, OP_DELETE, name, done, userdata, &op));
	TRY(op_set(&op->mutate_query, "allow_delete_with_hosts=true"));
	return op_start(TAKE_PTR(op));
}

int ontap_subsystem_add_host(struct ontap_client *c, const char *subsystem, const char *nqn,
			     ontap_done_fn done, void *userdata)
{
	return ontap_member_op(c, OP_ENSURE, "NVMe host", "NVMe subsystem", "/protocols/nvme/subsystems",
			       subsystem, "/protocols/nvme/subsystems/{}/hosts", "nqn", nqn,
			       ONTAP_E_SUBSYS_HOST_EXISTS, NULL, done, userdata);
}

int ontap_subsystem_remove_host(struct ontap_client *c, const char *subsystem, const char *nqn,
				ontap_done_fn done, void *userdata)
{
	return ontap_member_op(c, OP_DELETE, "NVMe host", "NVMe subsystem", "/protocols/nvme/subsystems",
			       subsystem, "/protocols/nvme/subsystems/{}/hosts", "nqn", nqn, 0, NULL, done, userdata);
}

static const char *const map_keys[] = { "/protocols/nvme/subsystem-maps", "subsystem.uuid", "namespace.uuid" };

static int subsystem_map_op(struct ontap_client *c, enum op_kind kind, const char *subsystem,
			    const char *ns, ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;

	if (!subsystem || !*subsystem || !ns || strncmp(ns, "/vol/", 5) != 0)
		return -EINVAL;
	if (asprintf(&disp, "%s → %s", ns, subsystem) < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, "NVMe subsystem map", disp, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/nvme/subsystem-maps"));
	TRY(op_query_by(op, "namespace.name", ns, false));
	TRY(op_query_by(op, "subsystem.name", subsystem, true));
	TRY(op_set(&op->fields, "nsid,subsystem.name,subsystem.uuid,namespace.name,namespace.uuid"));
	op->spec = (void *) map_keys;
	op->instance_path = ontap_pair_path;
	op->dup_codes[0] = ONTAP_E_NS_MAP_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_subsystem_map_ensure(struct ontap_client *c, const char *subsystem, const char *ns_path,
			       ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(subsystem_map_op(c, OP_ENSURE, subsystem, ns_path, done, userdata, &op));
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:{s:s},s:{s:s}}", "svm", "name", ontap_client_svm(c),
			     "subsystem", "name", subsystem, "namespace", "name", ns_path);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_subsystem_map_delete(struct ontap_client *c, const char *subsystem, const char *ns_path,
			       ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(subsystem_map_op(c, OP_DELETE, subsystem, ns_path, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_nvme_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	return ontap_service_get(c, "NVMe service", "/protocols/nvme/services", "enabled",
				 done, userdata);
}
