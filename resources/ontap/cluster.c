/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Cluster version discovery (feature gating), the SVM, aggregates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "ontap-op.h"

struct discover {
	struct ontap_client *client;
	ontap_done_fn done;
	void *userdata;
	bool fallback_tried;
};

static int parse_version(const json_t *v, struct ontap_version *out)
{
	const char *full = jstring(v, "full");

	if (!json_is_integer(jget(v, "generation")) || !json_is_integer(jget(v, "major")) ||
	    !json_is_integer(jget(v, "minor")))
		return -EBADMSG;
	*out = (struct ontap_version) {
		.generation = (int) juint(v, "generation"),
		.major = (int) juint(v, "major"),
		.minor = (int) juint(v, "minor"),
	};
	snprintf(out->full, sizeof out->full, "%s", full ?: "");
	return 0;
}

static int discover_start(struct discover *d, bool nodes);

static void on_discovered(void *userdata, int r, const struct ontap_object *obj,
			  const struct ontap_error *err)
{
	struct discover *d = userdata;
	struct ontap_version v;
	struct ontap_object o;
	const json_t *rec = obj ? obj->record : NULL;

	/* SVM-scoped users may not read /cluster: the nodes carry the same version (§1). */
	if (r == -EACCES && !d->fallback_tried) {
		d->fallback_tried = true;
		if (discover_start(d, true) >= 0)
			return;
	}
	if (r >= 0) {
		if (json_is_array(json_object_get(rec, "records")))
			rec = json_array_get(json_object_get(rec, "records"), 0);
		if (parse_version(jget(rec, "version"), &v) < 0) {
			struct ontap_error e = { .error = -EBADMSG };

			ontap_error_setf(&e, -EBADMSG, "cluster version missing or malformed");
			d->done(d->userdata, -EBADMSG, NULL, &e);
			ontap_error_clear(&e);
			free(d);
			return;
		}
		ontap_client_set_version(d->client, &v);
		o = *obj;
		o.name = ontap_client_version(d->client)->full;
		d->done(d->userdata, 0, &o, NULL);
	} else
		d->done(d->userdata, r, NULL, err);
	free(d);
}

static int discover_start(struct discover *d, bool nodes)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(d->client, nodes ? OP_LIST : OP_GET, "cluster", "", on_discovered, d, &op));
	TRY(op_set(&op->collection, nodes ? "/cluster/nodes" : "/cluster"));
	TRY(op_set(&op->fields, nodes ? "name,version" : "name,uuid,version"));
	return op_start(TAKE_PTR(op));
}

int ontap_cluster_discover(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	struct discover *d = calloc(1, sizeof *d);
	int r;

	if (!d)
		return -ENOMEM;
	*d = (struct discover) { .client = c, .done = done, .userdata = userdata };
	r = discover_start(d, false);
	if (r < 0)
		free(d);
	return r;
}

int ontap_svm_get(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_GET, "SVM", ontap_client_svm(c), done, userdata, &op));
	TRY(op_set(&op->collection, "/svm/svms"));
	TRY(op_query_by(op, "name", ontap_client_svm(c), false));
	TRY(op_set(&op->fields, "uuid,name,state,subtype,iscsi.enabled,nvme.enabled,nfs.enabled,fcp.enabled,cifs.enabled,aggregates"));
	return op_start(TAKE_PTR(op));
}

int ontap_aggregates_list(struct ontap_client *c, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_LIST, "aggregates", "", done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/aggregates"));
	TRY(op_set(&op->fields, "uuid,name,state,node.name,space.block_storage"));
	return op_start(TAKE_PTR(op));
}
