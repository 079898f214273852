/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Data protection: schedules, snapshot policies, consistency groups, SnapMirror. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-op.h"

/* ------------------------------------------------------------------ schedules */

static json_t *ints(const int *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static int schedule_verify(struct op *op, const json_t *rec)
{
	const json_t *body = op->body;  /* what we would send: the wanted cron */
	const json_t *want = json_object_get(body, "cron"), *have = json_object_get(rec, "cron");
	const char *type = jstring(rec, "type");

	if (type && strcmp(type, "cron") != 0)
		return op_mismatch(op, "type", type, "cron");
	if (!json_equal(json_object_get(want, "minutes"), json_object_get(have, "minutes")) ||
	    !json_equal(json_object_get(want, "hours"), json_object_get(have, "hours"))) {
		const json_t *hm = json_object_get(have, "minutes"), *hh = json_object_get(have, "hours");

		/* ONTAP omits empty arrays: "every" on both sides is equal. */
		if (!(json_array_size(json_object_get(want, "minutes")) == json_array_size(hm) && json_array_size(hm) == 0 &&
		      json_equal(json_object_get(want, "hours"), hh)) &&
		    !(json_array_size(json_object_get(want, "hours")) == json_array_size(hh) && json_array_size(hh) == 0 &&
		      json_equal(json_object_get(want, "minutes"), hm)))
			return op_mismatch(op, "cron", "(different minutes/hours)", "(requested cron)");
	}
	return 0;
}

int ontap_schedule_ensure(struct ontap_client *c, const char *name, const struct ontap_cron *cron,
			  ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name || !cron)
		return -EINVAL;
	TRY(op_new(c, OP_ENSURE, "schedule", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/cluster/schedules"));
	TRY(op_query_by(op, "name", name, false));
	TRY(op_set(&op->fields, "uuid,name,type,cron"));
	TRY(op_set(&op->post_query, "return_records=true"));
	op->verify = schedule_verify;
	op->body = json_pack("{s:s,s:{s:o,s:o}}", "name", name, "cron",
			     "minutes", ints(cron->minutes, cron->n_minutes),
			     "hours", ints(cron->hours, cron->n_hours));
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_schedule_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_DELETE, "schedule", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/cluster/schedules"));
	TRY(op_query_by(op, "name", name, false));
	TRY(op_set(&op->fields, "uuid,name"));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ snapshot policies */

static int policy_verify(struct op *op, const json_t *rec)
{
	const json_t *want = json_object_get(op->body, "copies"), *have = json_object_get(rec, "copies"), *w;
	size_t i;

	if (json_array_size(want) != json_array_size(have))
		return op_mismatch_u64(op, "number of copies", json_array_size(have), json_array_size(want));
	json_array_foreach(want, i, w) {
		const json_t *h = json_array_get(have, i);

		if (!streq_null(jstring(h, "schedule.name"), jstring(w, "schedule.name")))
			return op_mismatch(op, "copies.schedule", jstring(h, "schedule.name"), jstring(w, "schedule.name"));
		if (juint(h, "count") != juint(w, "count"))
			return op_mismatch_u64(op, "copies.count", juint(h, "count"), juint(w, "count"));
	}
	return 0;
}

int ontap_snapshot_policy_ensure(struct ontap_client *c, const char *name,
				 const struct ontap_snapshot_policy_copy *copies, size_t n_copies,
				 ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	json_t *a;

	if (!name || !*name || (n_copies && !copies))
		return -EINVAL;
	TRY(op_new(c, OP_ENSURE, "snapshot policy", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/snapshot-policies"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "uuid,name,enabled,copies"));
	TRY(op_set(&op->post_query, "return_records=true"));
	op->dup_codes[0] = ONTAP_E_SNAPSHOT_POLICY_EXISTS;
	op->verify = policy_verify;
	a = json_array();
	for (size_t i = 0; a && i < n_copies; i++) {
		json_t *cp = json_pack("{s:i,s:{s:s},s:s}", "count", (int) copies[i].count,
				       "schedule", "name", copies[i].schedule,
				       "prefix", copies[i].prefix ?: copies[i].schedule);
		if (cp && copies[i].snapmirror_label)
			json_object_set_new(cp, "snapmirror_label", json_string(copies[i].snapmirror_label));
		json_array_append_new(a, cp);
	}
	op->body = json_pack("{s:s,s:{s:s},s:b,s:o}", "name", name, "svm", "name", ontap_client_svm(c),
			     "enabled", 1, "copies", a);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_snapshot_policy_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(op_new(c, OP_DELETE, "snapshot policy", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/storage/snapshot-policies"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "uuid,name"));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ consistency groups */

static int cg_supported(struct ontap_client *c)
{
	/* /api/application/consistency-groups appeared in 9.10.1 (notes §5.15). */
	if (ontap_client_version(c) && !ontap_client_version_at_least(c, 9, 10, 1))
		return -EOPNOTSUPP;
	return 0;
}

static int cg_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
		 void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(cg_supported(c));
	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "consistency group", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/application/consistency-groups"));
	TRY(op_query_by(op, "name", name, true));
	TRY(op_set(&op->fields, "uuid,name,volumes"));
	op->dup_codes[0] = ONTAP_E_CG_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_cg_ensure(struct ontap_client *c, const char *name, const char *const *volumes,
		    size_t n_volumes, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct name_set *s;
	json_t *a;

	if (!volumes || n_volumes == 0)
		return -EINVAL;
	TRY(cg_op(c, OP_ENSURE, name, done, userdata, &op));
	TRY(ontap_name_set_new(NULL, NULL, volumes, n_volumes, "volumes", "name", &s));
	ontap_op_verify_name_set(op, s);
	a = json_array();
	for (size_t i = 0; a && i < n_volumes; i++)
		json_array_append_new(a, json_pack("{s:s,s:{s:s}}", "name", volumes[i],
						   "provisioning_options", "action", "add"));
	op->body = json_pack("{s:s,s:{s:s},s:o}", "name", name, "svm", "name", ontap_client_svm(c),
			     "volumes", a);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_cg_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(cg_op(c, OP_DELETE, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

static int cg_snapshot_op(struct ontap_client *c, enum op_kind kind, const char *cg, const char *name,
			  ontap_done_fn done, void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;
	_cleanup_free_ char *disp = NULL;

	TRY(cg_supported(c));
	if (!cg || !*cg || !name || !*name)
		return -EINVAL;
	if (asprintf(&disp, "%s@%s", cg, name) < 0)
		return -ENOMEM;
	TRY(op_new(c, kind, "consistency group snapshot", disp, done, userdata, &op));
	TRY(op_set_parent(op, "consistency group", "/application/consistency-groups", "name", cg, true));
	TRY(op_set(&op->collection, "/application/consistency-groups/{}/snapshots"));
	TRY(op_query_by(op, "name", name, false));
	TRY(op_set(&op->fields, "uuid,name"));
	/* Trident reads 53411921 as "exists"; we re-read and check instead of assuming. */
	op->dup_codes[0] = ONTAP_E_CG_SNAPSHOT_FAILED;
	op->dup_codes[1] = ONTAP_E_SNAPSHOT_EXISTS;
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_cg_snapshot_ensure(struct ontap_client *c, const char *cg, const char *name,
			     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(cg_snapshot_op(c, OP_ENSURE, cg, name, done, userdata, &op));
	op->body = json_pack("{s:s,s:s}", "name", name, "consistency_type", "crash");
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_cg_snapshot_delete(struct ontap_client *c, const char *cg, const char *name,
			     ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(cg_snapshot_op(c, OP_DELETE, cg, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ SnapMirror */

#define SM_FIELDS "uuid,state,healthy,unhealthy_reason,lag_time,source.path,destination.path,policy.name," \
	"transfer_schedule.name,transfer.state,transfer.uuid,transfer.end_time"

struct sm_want {
	char *source, *policy, *schedule;
	const char *target;        /* static: state a transition wants */
};

static void sm_want_free(void *p)
{
	struct sm_want *w = p;

	if (!w)
		return;
	free(w->source);
	free(w->policy);
	free(w->schedule);
	free(w);
}

static int sm_op(struct ontap_client *c, enum op_kind kind, const char *dest, ontap_done_fn done,
		 void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!dest || !strchr(dest, ':'))
		return -EINVAL;
	TRY(op_new(c, kind, "SnapMirror relationship", dest, done, userdata, &op));
	TRY(op_set(&op->collection, "/snapmirror/relationships"));
	TRY(op_query_by(op, "destination.path", dest, false));
	TRY(op_set(&op->fields, SM_FIELDS));
	op->dup_codes[0] = ONTAP_E_SM_EXISTS;
	op->spec = calloc(1, sizeof(struct sm_want));
	op->spec_free = sm_want_free;
	if (!op->spec)
		return -ENOMEM;
	*ret = TAKE_PTR(op);
	return 0;
}

static int sm_verify(struct op *op, const json_t *rec)
{
	const struct sm_want *w = op->spec;

	if (w->source && !streq_null(jstring(rec, "source.path"), w->source))
		return op_mismatch(op, "source.path", jstring(rec, "source.path"), w->source);
	if (w->policy && !streq_null(jstring(rec, "policy.name"), w->policy))
		return op_mismatch(op, "policy", jstring(rec, "policy.name"), w->policy);
	if (w->schedule && !streq_null(jstring(rec, "transfer_schedule.name"), w->schedule))
		return op_mismatch(op, "transfer_schedule", jstring(rec, "transfer_schedule.name"), w->schedule);
	return 0;
}

int ontap_snapmirror_ensure(struct ontap_client *c, const struct ontap_snapmirror_spec *spec,
			    ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;
	struct sm_want *w;

	if (!spec || !spec->source_path || !strchr(spec->source_path, ':'))
		return -EINVAL;
	TRY(sm_op(c, OP_ENSURE, spec->destination_path, done, userdata, &op));
	w = op->spec;
	TRY(op_set(&w->source, spec->source_path));
	if (spec->policy)
		TRY(op_set(&w->policy, spec->policy));
	if (spec->schedule)
		TRY(op_set(&w->schedule, spec->schedule));
	op->verify = sm_verify;
	op->body = json_pack("{s:{s:s},s:{s:s}}", "source", "path", spec->source_path,
			     "destination", "path", spec->destination_path);
	if (!op->body)
		return -ENOMEM;
	if (spec->policy)
		TRY(json_set_path(op->body, "policy.name", json_string(spec->policy)));
	if (spec->schedule)
		TRY(json_set_path(op->body, "transfer_schedule.name", json_string(spec->schedule)));
	return op_start(TAKE_PTR(op));
}

int ontap_snapmirror_get(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(sm_op(c, OP_GET, dest, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

static bool transfer_running(const json_t *rec)
{
	const char *t = jstring(rec, "transfer.state");

	return t && (strcmp(t, "queued") == 0 || strcmp(t, "transferring") == 0);
}

/* Transitions: the PATCH job only starts them (notes §9.15); re-read until settled. */
static int sm_settled(struct op *op, const json_t *rec)
{
	const struct sm_want *w = op->spec;
	const char *state = jstring(rec, "state"), *t = jstring(rec, "transfer.state");

	if (!streq_null(state, w->target) || transfer_running(rec)) {
		ontap_error_setf(&op->err, -ETIME, "SnapMirror relationship '%s' is '%s' (transfer %s), waiting for '%s'",
				 op->name, state ?: "?", t ?: "none", w->target);
		return -EAGAIN;
	}
	if (t && (strcmp(t, "failed") == 0 || strcmp(t, "aborted") == 0 || strcmp(t, "hard_aborted") == 0)) {
		ontap_error_setf(&op->err, -EIO, "SnapMirror relationship '%s': transfer %s", op->name, t);
		return -EIO;
	}
	return 0;
}

static int sm_decide(struct op *op, const json_t *rec, json_t **body)
{
	const struct sm_want *w = op->spec;
	const char *state = jstring(rec, "state");

	if (streq_null(state, w->target))
		return 0;
	if (strcmp(w->target, "broken_off") == 0 && transfer_running(rec)) {
		ontap_error_setf(&op->err, -EBUSY, "SnapMirror relationship '%s' is transferring; cannot break now",
				 op->name);
		return -EBUSY;
	}
	*body = json_pack("{s:s}", "state", w->target);
	return *body ? 1 : -ENOMEM;
}

static int sm_transition(struct ontap_client *c, const char *dest, const char *target,
			 ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(sm_op(c, OP_PATCH, dest, done, userdata, &op));
	((struct sm_want *) op->spec)->target = target;
	op->decide = sm_decide;
	op->verify = sm_settled;
	op->wait_settled = true;
	return op_start(TAKE_PTR(op));
}

int ontap_snapmirror_initialize(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	return sm_transition(c, dest, "snapmirrored", done, userdata);
}

int ontap_snapmirror_quiesce(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	return sm_transition(c, dest, "paused", done, userdata);
}

int ontap_snapmirror_break(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	return sm_transition(c, dest, "broken_off", done, userdata);
}

int ontap_snapmirror_resync(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	return sm_transition(c, dest, "snapmirrored", done, userdata);
}

static int transfer_done(struct op *op, const json_t *rec)
{
	const char *t = jstring(rec, "state");

	if (!t || strcmp(t, "queued") == 0 || strcmp(t, "transferring") == 0) {
		ontap_error_setf(&op->err, -ETIME, "SnapMirror transfer of '%s' still %s", op->name, t ?: "?");
		return -EAGAIN;
	}
	if (strcmp(t, "success") != 0) {
		ontap_error_setf(&op->err, -EIO, "SnapMirror transfer of '%s' ended %s", op->name, t);
		return -EIO;
	}
	return 0;
}

int ontap_snapmirror_update(struct ontap_client *c, const char *dest, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!dest || !strchr(dest, ':'))
		return -EINVAL;
	TRY(op_new(c, OP_ACTION, "SnapMirror relationship", dest, done, userdata, &op));
	TRY(op_set_parent(op, "SnapMirror relationship", "/snapmirror/relationships", "destination.path", dest, false));
	TRY(op_set(&op->collection, "/snapmirror/relationships/{}/transfers"));
	TRY(op_set(&op->post_query, "return_records=true"));
	TRY(op_set(&op->fields, "uuid,state"));
	op->body = json_object();
	op->verify = transfer_done;
	op->wait_settled = true;
	op->follow_created = true;
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_snapmirror_delete(struct ontap_client *c, const char *dest, bool destination_only,
			    ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(sm_op(c, OP_DELETE, dest, done, userdata, &op));
	if (destination_only)
		TRY(op_set(&op->mutate_query, "destination_only=true"));
	return op_start(TAKE_PTR(op));
}

static int smp_verify(struct op *op, const json_t *rec)
{
	const char *want = op->spec, *have = jstring(rec, "type");

	if (want && !streq_null(have, want))
		return op_mismatch(op, "type", have, want);
	return 0;
}

static int smp_op(struct ontap_client *c, enum op_kind kind, const char *name, ontap_done_fn done,
		  void *userdata, struct op **ret)
{
	_cleanup_op_ struct op *op = NULL;

	if (!name || !*name)
		return -EINVAL;
	TRY(op_new(c, kind, "SnapMirror policy", name, done, userdata, &op));
	TRY(op_set(&op->collection, "/snapmirror/policies"));
	TRY(op_query_by(op, "name", name, false));
	TRY(op_set(&op->fields, "uuid,name,type"));
	*ret = TAKE_PTR(op);
	return 0;
}

int ontap_snapmirror_policy_ensure(struct ontap_client *c, const char *name, const char *type,
				   ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(smp_op(c, OP_ENSURE, name, done, userdata, &op));
	op->spec = strdup(type ?: "async");
	op->spec_free = free;
	if (!op->spec)
		return -ENOMEM;
	op->verify = smp_verify;
	op->body = json_pack("{s:s,s:{s:s},s:s}", "name", name, "svm", "name", ontap_client_svm(c),
			     "type", (const char *) op->spec);
	return op->body ? op_start(TAKE_PTR(op)) : -ENOMEM;
}

int ontap_snapmirror_policy_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	TRY(smp_op(c, OP_GET, name, done, userdata, &op));
	return op_start(TAKE_PTR(op));
}

/* ------------------------------------------------------------------ SVM peers */

int ontap_svm_peer_list(struct ontap_client *c, const char *peer, ontap_done_fn done, void *userdata)
{
	_cleanup_op_ struct op *op = NULL;

	if (!peer || !*peer)
		return -EINVAL;
	TRY(op_new(c, OP_LIST, "SVM peer", peer, done, userdata, &op));
	TRY(op_set(&op->collection, "/svm/peers"));
	TRY(ontap_query_add(&op->query, "svm.name", ontap_client_svm(c), false));
	TRY(ontap_query_add(&op->query, "peer.svm.name", peer, false));
	TRY(op_set(&op->fields, "uuid,state,applications,peer.svm.name,peer.cluster.name"));
	return op_start(TAKE_PTR(op));
}
