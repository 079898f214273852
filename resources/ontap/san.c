/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SAN: LUNs, igroups and their initiators, lun-maps, the iSCSI service, data LIFs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-op.h"

#define LUN_FIELDS "uuid,name,os_type,space.size,serial_number,status.state,location.volume.name"

/* Newer releases report the serial in hex too (first release unconfirmed: 9.16.1 assumed; a
 * refusal falls back to LUN_FIELDS). */
static const struct ontap_field_gate lun_gates[] = {
	{ "serial_number_hex", 9, 16, 1 },
};

int ontap_lun_wwid(const char *serial, char *buf, size_t size)
{
	size_t n = serial ? strlen(serial) : 0;

	if (n != 12 || size < 9 + 2 * n + 1)
		return -EINVAL;
	memcpy(buf, "3600a0980", 9);
	for (size_t i = 0; i < n; i++)
		snprintf(buf + 9 + 2 * i, 3, "%02x", (unsigned char) serial[i]);
	return 0;
}

static void size_want_free(void *p)
{
	struct size_want *w = p;

	if (w)
		free(w->os_type);
	free(w);
}

/* Shared with nvme.c through ontap-op.h users: LUNs and namespaces compare the same way. */
static int space_verify(struct op *op, const json_t *rec)
{
	const struct size_want *w = op->spec;
	const char *os = jstring(rec, "os_type");

	if (w->os_type && os && strcasecmp(os, w->os_type) != 0)
		return op_mismatch(op, "os_type", os, w->os_type);
	if (w->size && juint(rec, "space.size") != w->size)
		return op_mismatch_u64(op, "space.size", juint(rec, "space.size"), w->size);
	return 0;
}

static int space_resize_decide(struct op *op, const json_t *rec, json_t **body)
{
	const struct size_want *w = op->spec;
	uint64_t have = juint(rec, "space.size");

	if (have == w->size)
		return 0;  /* ONTAP refuses a same-size PATCH (1254226): never send one */
	if (w->size < have) {
		ontap_error_setf(&op->err, -EINVAL, "%s '%s' is %" PRIu64 " bytes; shrinking to %" PRIu64 " is not supported",
				 op->what, op->name, have, w->size);
		return -EINVAL;
	}
	*body = json_pack("{s:{s:I}}", "space", "size", (json_int_t) w->size);
	return *body ? 1 : -ENOMEM;
}

static int space_resized_verify(struct op *op, const json_t *rec)
{
	const struct size_want *w = op->spec;

	if (juint(rec, "space.size") != w->size) {
		/* Maybe not applied yet (async PATCH on 9.16.1+): look again. */
		ontap_error_setf(&op->err, -EIO, "%s '%s' has size %" PRIu64 " after resizing to %" PRIu64,
				 op->what, op->name, juint(rec, "space.size"), w->size);
		return -EAGAIN;
	}
	return 0;
}

int ontap_space_object_op(struct ontap_client *c, enum op_kind kind, const char *what,
			  const char *collection, const char *fields, const char *path,
			  ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!path || strncmp(path, "/vol/", 5) != 0)
		return -EINVAL;
	TRY(op_new(c, kind, what, path, done, userdata, &op));
	TRY(op_set(&op->collection, collection));
	TRY(op_query_by(op, "name", path, true));
	if (strcmp(collection, "/storage/luns") == 0 && strcmp(fields, LUN_FIELDS) == 0)
		TRY(op_set_fields_gated(op, fields, lun_gates, ARRAY_SIZE(lun_gates)));
	else
		TRY(op_set(&op->fields, fields));
	op->spec = calloc(1, sizeof(struct size_want));
	op->spec_free = size_want_free;
	if (!op->spec)
		return -ENOMEM;
	op->verify = space_verify;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_space_object_resize(struct ontap_client *c, const char *what, const char *collection,
			      const char *fields, const char *path, uint64_t size,
			      ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!size)
		return -EINVAL;
	TRY(ontap_space_object_op(c, OP_PATCH, what, collection, fields, path, done, userdata, &op));
	((struct size_want *) op->spec)->size = size;
	op->decide = space_resize_decide;
	op->verify = space_resized_verify;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

int ontap_lun_ensure(struct ontap_client *c, const struct ontap_lun_spec *spec,
		     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct size_want *w;
	const char *os = spec && spec->os_type ? spec->os_type : "linux";

	if (!spec || !spec->size)
		return -EINVAL;
	TRY(ontap_space_object_op(c, OP_ENSURE, "LUN", "/storage/luns", LUN_FIELDS, spec->path,
				  done, userdata, &op));
	w = op->spec;
	w->size = spec->size;
	TRY(op_set(&w->os_type, os));
	op->dup_codes[0] = ONTAP_E_LUN_EXISTS;
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:s,s:s,s:{s:I,s:{s:b}}}",
			     "svm", "name", ontap_client_svm(c), "name", spec->path, "os_type", os,
			     "space", "size", (json_int_t) spec->size,
			     "guarantee", "requested", spec->space_reserved);
	if (!op->body)
		return -ENOMEM;
	if (spec->comment)
		TRY(json_set_path(op->body, "comment", json_string(spec->comment)));
	return op_start(TAKE_PTR(op));
}

int ontap_lun_get(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(ontap_space_object_op(c, OP_GET, "LUN", "/storage/luns", LUN_FIELDS, path, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_lun_resize(struct ontap_client *c, const char *path, uint64_t size,
		     ontap_done_fn done, void *userdata)
{
	return ontap_space_object_resize(c, "LUN", "/storage/luns", LUN_FIELDS, path, size, done, userdata);
}

int ontap_lun_delete(struct ontap_client *c, const char *path, bool allow_mapped,
		     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(ontap_space_object_op(c, OP_DELETE, "LUN", "/storage/luns", "uuid,name", path, done, userdata, &op));
	if (allow_mapped)
		TRY(op_set(&op->mutate_query, "allow_delete_while_mapped=true"));
	return op_start(TAKE_PTR(op));
}

int ontap_lun_clone(struct ontap_client *c, const char *path, const char *source,
		    ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!source || !*source)
		return -EINVAL;
	TRY(ontap_space_object_op(c, OP_ENSURE, "LUN", "/storage/luns", LUN_FIELDS, path, done, userdata, &op));
	op->dup_codes[0] = ONTAP_E_LUN_EXISTS;
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:s,s:{s:{s:s}}}", "svm", "name", ontap_client_svm(c),
			     "name", path, "clone", "source", "name", source);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

/* ------------------------------------------------------------------ igroups */

static void name_set_free(void *p)
{
	struct name_set *s = p;

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->os_type);
	free(s->protocol);
	free(s);
}

static char *lowerdup(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
	return d;
}

int ontap_name_set_new(const char *os_type, const char *protocol, const char *const *names, size_t n,
		       const char *member, const char *key, struct name_set **ret)
{
	struct name_set *s = calloc(1, sizeof *s);

	if (!s)
		return -ENOMEM;
	s->member = member;
	s->key = key;
	s->os_type = os_type ? strdup(os_type) : NULL;
	s->protocol = protocol ? strdup(protocol) : NULL;
	s->names = calloc(n + 1, sizeof *s->names);
	if (!s->names) {
		name_set_free(s);
		return -ENOMEM;
	}
	for (s->n = 0; s->n < n; s->n++)
		if (!(s->names[s->n] = lowerdup(names[s->n]))) {
			name_set_free(s);
			return -ENOMEM;
		}
	*ret = s;
	return 0;
}


void ontap_op_verify_name_set(struct op *op, struct name_set *s)
{
	op->spec = s;
	op->spec_free = name_set_free;
	op->verify = ontap_name_set_verify;
}

int ontap_name_set_put_members(const struct name_set *s, json_t *body)
{
	json_t *members;

	if (s->n == 0)
		return 0;
	members = json_array();
	for (size_t i = 0; members && i < s->n; i++)
		if (json_array_append_new(members, json_pack("{s:s}", s->key, s->names[i])) < 0) {
			json_decref(members);
			return -ENOMEM;
		}
	return json_set_path(body, s->member, members);
}

/* Compares os_type, protocol and the member set (IQNs/NQNs case-insensitively, notes §9.10). */
int ontap_name_set_verify(struct op *op, const json_t *rec)
{
	const struct name_set *s = op->spec;
	const json_t *members = json_object_get(rec, s->member), *m;
	const char *v;
	size_t i;

	if (s->os_type && (v = jstring(rec, "os_type")) && strcasecmp(v, s->os_type) != 0)
		return op_mismatch(op, "os_type", v, s->os_type);
	if (s->protocol && (v = jstring(rec, "protocol")) && strcasecmp(v, s->protocol) != 0)
		return op_mismatch(op, "protocol", v, s->protocol);
	json_array_foreach(members, i, m) {
		bool found = false;

		v = jstring(m, s->key);
		for (size_t k = 0; v && k < s->n; k++)
			found = found || strcasecmp(v, s->names[k]) == 0;
		if (v && !found)
			return op_mismatch(op, s->member, v, "(not in the requested set)");
	}
	for (size_t k = 0; k < s->n; k++) {
		bool found = false;

		json_array_foreach(members, i, m)
			found = found || ((v = jstring(m, s->key)) && strcasecmp(v, s->names[k]) == 0);
		if (!found)
			return op_mismatch(op, s->member, "(missing)", s->names[k]);
	}
	return 0;
}

static int igroup_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
		     void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "igroup", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/san/igroups"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "uuid,name,os_type,protocol,initiators"));
	op->dup_codes[0] = ONTAP_E_IGROUP_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_igroup_ensure(struct ontap_client *c, const struct ontap_igroup_spec *spec,
			ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct name_set *s;

	if (!spec)
		return -EINVAL;
	TRY(igroup_op(c, OP_ENSURE, spec->name, done, userdata, &op));
	TRY(ontap_name_set_new(spec->os_type ?: "linux", spec->protocol ?: "iscsi", spec->initiators,
			       spec->n_initiators, "initiators", "name", &s));
	ontap_op_verify_name_set(op, s);
	TRY(op_set(&op->post_query, "return_records=true"));
	op->body = json_pack("{s:{s:s},s:s,s:s,s:s}", "svm", "name", ontap_client_svm(c),
			     "name", spec->name, "os_type", s->os_type, "protocol", s->protocol);
	if (!op->body)
		return -ENOMEM;
	if (spec->comment)
		TRY(json_set_path(op->body, "comment", json_string(spec->comment)));
	TRY(ontap_name_set_put_members(s, op->body));
	return op_start(TAKE_PTR(op));
}

int ontap_igroup_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(igroup_op(c, OP_GET, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_igroup_delete(struct ontap_client *c, const char *name, bool allow_mapped,
			ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(igroup_op(c, OP_DELETE, name, done, userdata, &op));
	if (allow_mapped)
		TRY(op_set(&op->mutate_query, "allow_delete_while_mapped=true"));
	return op_start(TAKE_PTR(op));
}

/* Member sub-collections keyed by name: igroup initiators, subsystem hosts. */
static int member_path(struct op *op, const json_t *rec, char **ret)
{
	const char *key = op->spec;
	const char *v = jstring(rec, key);
	_cleanup_free_ char *enc = NULL, *coll = NULL;
	const char *p = strstr(op->collection, "{}");

	if (!v || !p)
		return -EBADMSG;
	enc = ontap_url_encode(v, true);
	coll = ontap_url_encode(op->parent_id, true);
	if (!enc || !coll)
		return -ENOMEM;
	if (asprintf(ret, "%.*s%s%s/%s", (int) (p - op->collection), op->collection, coll, p + 2, enc) < 0)
		return -ENOMEM;
	return 0;
}

int ontap_member_op(struct ontap_client *c, enum op_kind kind, const char *what,
		    const char *parent_what, const char *parent_coll, const char *parent,
		    const char *coll, const char *key, const char *member, int64_t dup,
		    const char *mutate_query, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *low = NULL, *disp = NULL;

	if (!parent || !*parent || !member || !*member)
		return -EINVAL;
	low = lowerdup(member);
	if (!low || asprintf(&disp, "%s in %s", low, parent) < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, what, disp, done, userdata, &op));
	TRY(op_set_parent(op, parent_what, parent_coll, "name", parent, true));
	TRY(op_set(&op->collection, coll));
	TRY(op_query_by(op, key, low, false));
	TRY(op_set(&op->fields, key));
	op->spec = (void *) key;  /* static string, not freed */
	op->instance_path = member_path;
	op->dup_codes[0] = dup;
	if (mutate_query)
		TRY(op_set(&op->mutate_query, mutate_query));
	op->body = json_pack("{s:s}", key, low);
	if (!op->body)
		return -ENOMEM;
	return op_start(TAKE_PTR(op));
}

int ontap_igroup_add_initiator(struct ontap_client *c, const char *igroup, const char *initiator,
			       ontap_done_fn done, void *userdata)
{
	return ontap_member_op(c, OP_ENSURE, "initiator", "igroup", "/protocols/san/igroups", igroup,
			       "/protocols/san/igroups/{}/initiators", "name", initiator,
			       ONTAP_E_INITIATOR_PRESENT, NULL, done, userdata);
}

int ontap_igroup_remove_initiator(struct ontap_client *c, const char *igroup, const char *initiator,
				  ontap_done_fn done, void *userdata)
{
	/* Taking an initiator out is taking that host's access to what the igroup maps -- the
	 * point of it (a node leaving the array, a cloned name, a fence): ONTAP wants that said
	 * for a mapped igroup. */
	return ontap_member_op(c, OP_DELETE, "initiator", "igroup", "/protocols/san/igroups", igroup,
			       "/protocols/san/igroups/{}/initiators", "name", initiator, 0,
			       "allow_delete_while_mapped=true", done, userdata);
}

/* ------------------------------------------------------------------ lun-maps */

int ontap_pair_path(struct op *op, const json_t *rec, char **ret)
{
	const char *const *keys = op->spec; /* {collection, first uuid path, second uuid path} */
	const char *a = jstring(rec, keys[1]), *b = jstring(rec, keys[2]);
	_cleanup_free_ char *ea = NULL, *eb = NULL;

	if (!a || !b) {
		ontap_error_setf(&op->err, -EBADMSG, "%s record without %s/%s", op->what, keys[1], keys[2]);
		return -EBADMSG;
	}
	ea = ontap_url_encode(a, true);
	eb = ontap_url_encode(b, true);
	if (!ea || !eb || asprintf(ret, "%s/%s/%s", keys[0], ea, eb) < 0)
		return -ENOMEM;
	return 0;
}

static const char *const lun_map_keys[] = { "/protocols/san/lun-maps", "lun.uuid", "igroup.uuid" };

static int lun_map_op(struct ontap_client *c, enum op_kind kind, const char *lun, const char *igroup,
		      ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;

	if (!lun || !igroup || !*igroup || strncmp(lun, "/vol/", 5) != 0)
		return -EINVAL;
	if (asprintf(&disp, "%s → %s", lun, igroup) < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, "LUN map", disp, done, userdata, &op));
	TRY(op_set(&op->collection, "/protocols/san/lun-maps"));
	TRY(op_query_by(op, "lun.name", lun, false));
	TRY(op_query_by(op, "igroup.name", igroup, true));
	TRY(op_set(&op->fields, "logical_unit_number,lun.name,lun.uuid,igroup.name,igroup.uuid"));
	op->spec = (void *) lun_map_keys;
	op->instance_path = ontap_pair_path;
	op->dup_codes[0] = ONTAP_E_LUN_MAP_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

static int lun_map_verify(struct op *op, const json_t *rec)
{
	if (!json_is_integer(jget(rec, "logical_unit_number"))) {
		ontap_error_setf(&op->err, -EBADMSG, "LUN map '%s' has no logical_unit_number", op->name);
		return -EBADMSG;
	}
	return 0;
}

int ontap_lun_map_ensure(struct ontap_client *c, const char *lun_path, const char *igroup,
			 ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(lun_map_op(c, OP_ENSURE, lun_path, igroup, done, userdata, &op));
	op->verify = lun_map_verify;
	TRY(op_set(&op->post_query, "return_records=true"));
	/* No logical_unit_number: ONTAP picks the lowest free one, read back from the record. */
	op->body = json_pack("{s:{s:s},s:{s:s},s:{s:s}}", "svm", "name", ontap_client_svm(c),
			     "lun", "name", lun_path, "igroup", "name", igroup);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_lun_map_get(struct ontap_client *c, const char *lun_path, const char *igroup,
		      ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(lun_map_op(c, OP_GET, lun_path, igroup, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

int ontap_lun_map_delete(struct ontap_client *c, const char *lun_path, const char *igroup,
			 ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(lun_map_op(c, OP_DELETE, lun_path, igroup, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ services, LIFs */

int ontap_service_get(struct ontap_client *c, const char *what, const char *collection,
		      const char *fields, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_GET, what, ontap_client_svm(c), done, userdata, &op));
	TRY(op_set(&op->collection, collection));
	TRY(ontap_query_add(&op->query, "svm.name", ontap_client_svm(c), false));
	TRY(op_set(&op->fields, fields));
	return op_start(TAKE_PTR(op));
}

int ontap_iscsi_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	return ontap_service_get(c, "iSCSI service", "/protocols/san/iscsi/services",
				 "enabled,target.name,target.alias", done, userdata);
}

int ontap_lifs_list(struct ontap_client *c, enum ontap_lif_service service,
		    ontap_done_fn done, void *userdata)
{
	static const char *const names[] = {
		[ONTAP_LIF_ISCSI] = "data_iscsi", [ONTAP_LIF_NVME_TCP] = "data_nvme_tcp",
		[ONTAP_LIF_NFS] = "data_nfs", [ONTAP_LIF_CIFS] = "data_cifs",
	};
	_cleanup_op_ struct op *op = NULL;

	if ((unsigned) service >= ARRAY_SIZE(names) || !names[service])
		return -EOPNOTSUPP;  /* FC LIFs live under /network/fc/interfaces: not used by kvmcd yet */
	/* The services filter exists from 9.6, NVMe/TCP from 9.10.1 (Trident's gates). */
	if (ontap_client_version(c) && !ontap_client_version_at_least(c, 9, 6, 0))
		return -EOPNOTSUPP;
	if (service == ONTAP_LIF_NVME_TCP && ontap_client_version(c) &&
	    !ontap_client_version_at_least(c, 9, 10, 1))
		return -EOPNOTSUPP;
	TRY(op_new(c, OP_LIST, "data LIF", names[service], done, userdata, &op));
	TRY(op_set(&op->collection, "/network/ip/interfaces"));
	TRY(ontap_query_add(&op->query, "svm.name", ontap_client_svm(c), false));
	TRY(ontap_query_add(&op->query, "services", names[service], false));
	TRY(op_set(&op->fields, "uuid,name,ip.address,state,enabled,services,location.home_node.name,location.node.name"));
	return op_start(TAKE_PTR(op));
}
