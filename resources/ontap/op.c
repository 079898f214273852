/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The generic operation engine (see ontap-op.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "macros.h"
#include "ontap-op.h"

#define REREAD_CREATE_MAX_USEC (60 * USEC_PER_SEC)

/* ------------------------------------------------------------------ json helpers */

const json_t *jget(const json_t *v, const char *dotted)
{
	char key[128];
	const char *p = dotted, *dot;

	while (v && p) {
		size_t n;

		dot = strchr(p, '.');
		n = dot ? (size_t) (dot - p) : strlen(p);
		if (n >= sizeof key)
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		v = json_object_get(v, key);
		p = dot ? dot + 1 : NULL;
	}
	return v;
}

const char *jstring(const json_t *v, const char *dotted)
{
	const json_t *s = jget(v, dotted);

	return json_is_string(s) ? json_string_value(s) : NULL;
}

uint64_t juint(const json_t *v, const char *dotted)
{
	const json_t *n = jget(v, dotted);

	if (json_is_integer(n) && json_integer_value(n) >= 0)
		return (uint64_t) json_integer_value(n);
	return 0;
}

bool jbool(const json_t *v, const char *dotted, bool dflt)
{
	const json_t *b = jget(v, dotted);

	return json_is_boolean(b) ? json_is_true(b) : dflt;
}

int json_set_path(json_t *obj, const char *dotted, json_t *val)
{
	char key[128];
	const char *dot = strchr(dotted, '.');
	json_t *child;
	size_t n;

	if (!val)
		return -ENOMEM;
	if (!dot)
		return json_object_set_new(obj, dotted, val) < 0 ? -ENOMEM : 0;
	n = (size_t) (dot - dotted);
	if (n >= sizeof key) {
		json_decref(val);
		return -EINVAL;
	}
	memcpy(key, dotted, n);
	key[n] = '\0';
	child = json_object_get(obj, key);
	if (!json_is_object(child)) {
		child = json_object();
		if (!child || json_object_set_new(obj, key, child) < 0) {
			json_decref(val);
			return -ENOMEM;
		}
	}
	return json_set_path(child, dot + 1, val);
}

int64_t ontap_parse_hex_id(const json_t *v)
{
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = strtoll(s, &end, 16);
	if (end == s || (*end != '\0' && strcmp(end, "h") != 0) || n < 0)
		return -1;
	return n;
}

/* ------------------------------------------------------------------ life cycle */

static void waiting_remove(struct op *op);

void op_free(struct op *op)
{
	if (!op)
		return;
	if (op->timer)
		waiting_remove(op);
	sd_event_source_disable_unref(op->timer);
	if (op->spec_free)
		op->spec_free(op->spec);
	free(op->name);
	free(op->parent_path);
	free(op->parent_name);
	free(op->parent_id);
	free(op->collection);
	free(op->query);
	free(op->fields);
	free(op->fields_fallback);
	json_decref(op->body);
	free(op->post_query);
	free(op->mutate_query);
	free(op->reread_path);
	json_decref(op->record);
	ontap_error_clear(&op->err);
	free(op);
}

int op_new(struct ontap_client *c, enum op_kind kind, const char *what, const char *name,
	   ontap_done_fn done, void *userdata, struct op **ret)
{
	struct op *op;
	int r;

	if (!c || !done)
		return -EINVAL;
	op = calloc(1, sizeof *op);
	if (!op)
		return -ENOMEM;
	op->client = c;
	op->kind = kind;
	op->what = what;
	op->name = strdup(name ?: "");
	op->parent_key = "uuid";
	op->done = done;
	op->userdata = userdata;
	op->mutating = kind == OP_ENSURE || kind == OP_DELETE || kind == OP_PATCH || kind == OP_ACTION;
	op->seen_missing = kind == OP_ENSURE && c->ensure_seen_missing;
	op->urgent = c->ops_urgent;
	if (!op->name) {
		op_free(op);
		return -ENOMEM;
	}
	if (op->mutating) {
		r = ontap_client_current_epoch(c, &op->epoch);
		if (r < 0) {
			op_free(op);
			return r;
		}
	}
	*ret = op;
	return 0;
}

int op_set(char **field, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

int op_query_by(struct op *op, const char *key, const char *value, bool with_svm)
{
	int r = ontap_query_add(&op->query, key, value, false);

	if (r < 0)
		return r;
	if (with_svm && *ontap_client_svm(op->client))
		r = ontap_query_add(&op->query, "svm.name", ontap_client_svm(op->client), false);
	return r;
}

int op_set_parent(struct op *op, const char *what, const char *collection, const char *key,
		  const char *value, bool with_svm)
{
	_cleanup_free_ char *q = NULL;
	int r;

	r = ontap_query_add(&q, key, value, false);
	if (r >= 0 && with_svm && *ontap_client_svm(op->client))
		r = ontap_query_add(&q, "svm.name", ontap_client_svm(op->client), false);
	if (r < 0)
		return r;
	if (asprintf(&op->parent_path, "%s?%s&fields=%s", collection, q, op->parent_key) < 0)
		return -ENOMEM;
	op->parent_what = what;
	op->parent_name = strdup(value);
	return op->parent_name ? 0 : -ENOMEM;
}

int op_mismatch(struct op *op, const char *field, const char *have, const char *want)
{
	ontap_error_setf(&op->err, -EEXIST, "%s '%s' exists with %s '%s' but '%s' was asked; not adopting it",
			 op->what, op->name, field, have ?: "(unset)", want ?: "(unset)");
	return -EEXIST;
}

int op_mismatch_u64(struct op *op, const char *field, uint64_t have, uint64_t want)
{
	ontap_error_setf(&op->err, -EEXIST, "%s '%s' exists with %s %" PRIu64 " but %" PRIu64 " was asked; not adopting it",
			 op->what, op->name, field, have, want);
	return -EEXIST;
}

/* ------------------------------------------------------------------ completion */

static void op_fill_object(struct op *op, const json_t *rec, struct ontap_object *o)
{
	const json_t *v;

	*o = (struct ontap_object) { .number = -1, .adopted = op->adopted, .record = rec };
	if (!rec)
		return;
	o->uuid = jstring(rec, "uuid");
	o->name = jstring(rec, "name");
	o->size = juint(rec, "space.size") ?: juint(rec, "size");
	o->serial = jstring(rec, "serial_number") ?: jstring(rec, "target_nqn") ?: jstring(rec, "target.name");
	o->state = jstring(rec, "state") ?: jstring(rec, "status.state");
	if ((v = jget(rec, "logical_unit_number")) && json_is_integer(v))
		o->number = json_integer_value(v);
	else if ((v = jget(rec, "nsid")))
		o->number = ontap_parse_hex_id(v);
	else if ((v = jget(rec, "id")) && json_is_integer(v))
		o->number = json_integer_value(v);
	else if ((v = jget(rec, "index")) && json_is_integer(v))
		o->number = json_integer_value(v);
	if (!o->state && (v = jget(rec, "enabled")) && json_is_boolean(v))
		o->state = json_is_true(v) ? "true" : "false";
	if (op->fill)
		op->fill(op, rec, o);
}

static void op_complete(struct op *op, int r)
{
	struct ontap_object obj;

	if (r < 0) {
		op->err.error = r;
		if (!op->err.object) {
			if (op->name[0])
				ontap_error_set_object(&op->err, "%s '%s'", op->what, op->name);
			else
				ontap_error_set_object(&op->err, "%s", op->what);
		}
	} else
		op->err.error = 0;
	op_fill_object(op, r < 0 ? NULL : op->record, &obj);
	op->done(op->userdata, r, r < 0 ? NULL : &obj, r < 0 ? &op->err : NULL);
	op_free(op);
}

static void op_fail_reply(struct op *op, int r, const struct ontap_reply *reply)
{
	ontap_error_copy(&op->err, reply->error);
	op_complete(op, r);
}

/* ------------------------------------------------------------------ steps */

static void on_reply(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata);
static int step_lookup(struct op *op);
static void step_reread(struct op *op);

static int submit(struct op *op, const char *method, const char *path, const json_t *body, unsigned flags)
{
	int r = ontap_client_request(op->client, method, path, body, flags | (op->urgent ? ONTAP_REQ_URGENT : 0),
				     op->mutating ? op->epoch : 0, on_reply, op);
	if (r == -ESTALE)
		ontap_error_setf(&op->err, r, "not the leader any more (epoch %" PRIu64 "); %s not sent",
				 op->epoch, method);
	return r;
}

static char *subst_parent(struct op *op, const char *s)
{
	const char *p = strstr(s, "{}");
	_cleanup_free_ char *enc = NULL;
	char *out;

	if (!p || !op->parent_id)
		return strdup(s);
	enc = ontap_url_encode(op->parent_id, true);
	if (!enc || asprintf(&out, "%.*s%s%s", (int) (p - s), s, enc, p + 2) < 0)
		return NULL;
	return out;
}

static int lookup_path(struct op *op, char **ret)
{
	_cleanup_free_ char *coll = subst_parent(op, op->collection);

	if (!coll)
		return -ENOMEM;
	if (asprintf(ret, "%s%s%s%s%s%s", coll, (op->query || op->fields) ? "?" : "",
		     op->query ?: "", op->query && op->fields ? "&" : "",
		     op->fields ? "fields=" : "", op->fields ?: "") < 0)
		return -ENOMEM;
	return 0;
}

static int default_instance_path(struct op *op, const json_t *rec, char **ret)
{
	const char *uuid = jstring(rec, "uuid");
	_cleanup_free_ char *coll = subst_parent(op, op->collection), *enc = NULL;

	if (!uuid) {
		ontap_error_setf(&op->err, -EBADMSG, "%s record without uuid", op->what);
		return -EBADMSG;
	}
	enc = ontap_url_encode(uuid, true);
	if (!coll || !enc || asprintf(ret, "%s/%s", coll, enc) < 0)
		return -ENOMEM;
	return 0;
}

static int with_query(const char *path, const char *q, char **ret)
{
	if (asprintf(ret, "%s%s%s", path, q ? (strchr(path, '?') ? "&" : "?") : "", q ?: "") < 0)
		return -ENOMEM;
	return 0;
}

static int step_mutate(struct op *op)
{
	_cleanup_free_ char *path = NULL, *inst = NULL;
	_cleanup_(json_decrefp) json_t *patch = NULL;
	int r;

	op->state = S_MUTATE;
	switch (op->kind) {
	case OP_ENSURE:
	case OP_ACTION: {
		_cleanup_free_ char *coll = subst_parent(op, op->collection);

		if (!coll)
			return -ENOMEM;
		r = with_query(coll, op->post_query, &path);
		if (r < 0)
			return r;
		return submit(op, "POST", path, op->body,
			      ONTAP_REQ_WAIT_JOB | (op->kind == OP_ENSURE ? ONTAP_REQ_IDEMPOTENT : 0));
	}
	case OP_DELETE:
		r = (op->instance_path ?: default_instance_path)(op, op->record, &inst);
		if (r < 0)
			return r;
		r = with_query(inst, op->mutate_query, &path);
		if (r < 0)
			return r;
		return submit(op, "DELETE", path, NULL, ONTAP_REQ_WAIT_JOB | ONTAP_REQ_IDEMPOTENT);
	case OP_PATCH:
		r = op->decide(op, op->record, &patch);
		if (r <= 0) {
			if (r == 0) {
				op->adopted = true;  /* already as asked: nothing sent */
				op_complete(op, 0);
				return 1;
			}
			return r;
		}
		r = (op->instance_path ?: default_instance_path)(op, op->record, &inst);
		if (r < 0)
			return r;
		r = with_query(inst, op->mutate_query, &path);
		if (r < 0)
			return r;
		/* An absolute target (size N, state S) can be resent safely. */
		return submit(op, "PATCH", path, patch, ONTAP_REQ_WAIT_JOB | ONTAP_REQ_IDEMPOTENT);
	default:
		return -EINVAL;
	}
}

static void waiting_remove(struct op *op)
{
	for (struct op **o = &op->client->waiting_ops; *o; o = &(*o)->next_waiting)
		if (*o == op) {
			*o = op->next_waiting;
			break;
		}
	op->next_waiting = NULL;
}

void op_cancel_waiting(struct ontap_client *c)
{
	while (c->waiting_ops) {
		struct op *op = c->waiting_ops;

		c->waiting_ops = op->next_waiting;
		op->next_waiting = NULL;
		op->timer = sd_event_source_disable_unref(op->timer);
		ontap_error_setf(&op->err, -ECANCELED, "client shut down");
		op_complete(op, -ECANCELED);
	}
}

static int on_reread_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct op *op = userdata;

	waiting_remove(op);
	op->timer = sd_event_source_disable_unref(op->timer);
	step_reread(op);
	return 0;
}

/* Re-read again later, or give up with r. */
static void reread_later(struct op *op, int r)
{
	uint64_t now = ontap_now_usec(op->client);

	if (op->reread_deadline == 0) {
		uint64_t limit = (uint64_t) op->client->job_timeout_ms * USEC_PER_MSEC;

		if (op->kind == OP_ENSURE && limit > REREAD_CREATE_MAX_USEC)
			limit = REREAD_CREATE_MAX_USEC;
		op->reread_deadline = now + limit;
		op->reread_interval = op->client->job_poll_initial;
	}
	if (now + op->reread_interval > op->reread_deadline ||
	    sd_event_add_time_relative(ontap_client_get_event(op->client), &op->timer, CLOCK_MONOTONIC,
				       op->reread_interval, 1, on_reread_timer, op) < 0) {
		op_complete(op, r);
		return;
	}
	op->next_waiting = op->client->waiting_ops;
	op->client->waiting_ops = op;
	op->reread_interval = op->reread_interval * 3 / 2;
	if (op->reread_interval > op->client->job_poll_max)
		op->reread_interval = op->client->job_poll_max;
}

static void step_reread(struct op *op)
{
	_cleanup_free_ char *path = NULL;
	int r;

	op->state = S_REREAD;
	op->rereads++;
	if (op->reread_path) {
		_cleanup_free_ char *p = subst_parent(op, op->reread_path);

		r = p ? 0 : -ENOMEM;
		path = TAKE_PTR(p);
	} else
		r = lookup_path(op, &path);
	if (r >= 0)
		r = submit(op, "GET", path, NULL, ONTAP_REQ_URGENT);
	if (r < 0)
		op_complete(op, r);
}

static int records_one(struct op *op, const json_t *body, const json_t **ret)
{
	const json_t *recs = json_object_get(body, "records");
	size_t n;

	if (!json_is_object(body)) {
		ontap_error_setf(&op->err, -EBADMSG, "no JSON object in ONTAP's answer about %s '%s'",
				 op->what, op->name);
		return -EBADMSG;
	}
	if (!recs) {
		/* An instance path answers with the object itself. */
		*ret = body;
		return 1;
	}
	if (!json_is_array(recs)) {
		ontap_error_setf(&op->err, -EBADMSG, "malformed records in ONTAP's answer about %s '%s'",
				 op->what, op->name);
		return -EBADMSG;
	}
	n = json_array_size(recs);
	if (n > 1) {
		ontap_error_setf(&op->err, -ENOTUNIQ, "%zu %ss match '%s'", n, op->what, op->name);
		return -ENOTUNIQ;
	}
	*ret = n == 1 ? json_array_get(recs, 0) : NULL;
	return (int) n;
}

static void set_record(struct op *op, const json_t *rec)
{
	json_decref(op->record);
	op->record = rec ? json_deep_copy(rec) : NULL;
}

static void after_lookup(struct op *op, const struct ontap_reply *reply)
{
	const json_t *rec = NULL;
	int n, r;

	if (op->kind == OP_LIST) {
		set_record(op, reply->body);
		op_complete(op, 0);
		return;
	}
	n = records_one(op, reply->body, &rec);
	if (n < 0) {
		op_complete(op, n);
		return;
	}
	set_record(op, rec);
	switch (op->kind) {
	case OP_GET:
		if (n == 0) {
			ontap_error_setf(&op->err, -ENOENT, "%s '%s' does not exist", op->what, op->name);
			op_complete(op, -ENOENT);
			return;
		}
		op_complete(op, 0);
		return;
	case OP_ENSURE:
		if (n == 1) {
			r = op->verify ? op->verify(op, op->record) : 0;
			op->adopted = r == 0;
			op_complete(op, r);
			return;
		}
		break;
	case OP_DELETE:
		if (n == 0) {
			op->adopted = true;
			op_complete(op, 0);
			return;
		}
		break;
	case OP_PATCH:
		if (n == 0) {
			ontap_error_setf(&op->err, -ENOENT, "%s '%s' does not exist", op->what, op->name);
			op_complete(op, -ENOENT);
			return;
		}
		break;
	default:
		break;
	}
	r = step_mutate(op);
	if (r < 0)
		op_complete(op, r);
}

static bool is_duplicate(struct op *op, const struct ontap_error *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(op->dup_codes) && op->dup_codes[i]; i++)
		if (e->code == op->dup_codes[i])
			return true;
	return e->code == ONTAP_E_DUPLICATE || (e->http_status == 409 && e->code == 0);
}

static void after_mutate(struct op *op, int r, const struct ontap_reply *reply)
{
	const json_t *rec = NULL;

	if (r < 0) {
		if (reply->error->job_purged) {
			/* The job's outcome is gone: the object itself tells. */
			op->purged = true;
			step_reread(op);
			return;
		}
		if (op->kind == OP_ENSURE && is_duplicate(op, reply->error)) {
			op->adopted = true;  /* exists (a race, or our own resent POST): verify it */
			ontap_error_copy(&op->err, reply->error);
			step_reread(op);
			return;
		}
		if (op->kind == OP_DELETE && r == -ENOENT) {
			op->adopted = true;
			op_complete(op, 0);
			return;
		}
		op_fail_reply(op, r, reply);
		return;
	}
	switch (op->kind) {
	case OP_ENSURE:
		if ((!op->reread_after_create || op->seen_missing) && reply->http_status == 201 &&
		    json_is_array(json_object_get(reply->body, "records")) &&
		    records_one(op, reply->body, &rec) == 1) {
			set_record(op, rec);
			r = op->verify ? op->verify(op, op->record) : 0;
			op_complete(op, r);
			return;
		}
		if (op->seen_missing) {
			/* Created as asked (201, or its job succeeded): the caller reads ONTAP again
			 * anyway and checks it there; a re-read here would only cost a request on
			 * the way to the next op (a volume's LUN). No record to hand back. */
			set_record(op, NULL);
			op_complete(op, 0);
			return;
		}
		step_reread(op);
		return;
	case OP_DELETE:
		op_complete(op, 0);
		return;
	case OP_PATCH:
		step_reread(op);
		return;
	case OP_ACTION:
		if (op->follow_created && json_is_array(json_object_get(reply->body, "records")) &&
		    records_one(op, reply->body, &rec) == 1 && jstring(rec, "uuid")) {
			_cleanup_free_ char *coll = subst_parent(op, op->collection);
			_cleanup_free_ char *enc = ontap_url_encode(jstring(rec, "uuid"), true);

			free(op->reread_path);
			op->reread_path = NULL;
			if (!coll || !enc || asprintf(&op->reread_path, "%s/%s%s%s", coll, enc,
						      op->fields ? "?fields=" : "", op->fields ?: "") < 0) {
				op_complete(op, -ENOMEM);
				return;
			}
		}
		if (op->wait_settled) {
			step_reread(op);
			return;
		}
		set_record(op, reply->body);
		op_complete(op, 0);
		return;
	default:
		op_complete(op, -EINVAL);
	}
}

static void after_reread(struct op *op, int r, const struct ontap_reply *reply)
{
	const json_t *rec = NULL;
	int n;

	if (r == -ENOENT && op->kind == OP_DELETE) {
		op_complete(op, 0);
		return;
	}
	if (r < 0) {
		op_fail_reply(op, r, reply);
		return;
	}
	n = records_one(op, reply->body, &rec);
	if (n < 0) {
		op_complete(op, n);
		return;
	}
	if (op->kind == OP_DELETE) {
		/* Only reached when the delete job was purged. */
		if (n == 0) {
			op_complete(op, 0);
			return;
		}
		ontap_error_setf(&op->err, -EIO, "%s '%s' still exists after its delete job was purged",
				 op->what, op->name);
		op_complete(op, -EIO);
		return;
	}
	if (n == 0 && op->adopted) {
		/* "Exists" said ONTAP, yet not under this name/key (e.g. mapped elsewhere). */
		op_complete(op, op->err.error ?: -EEXIST);
		return;
	}
	if (n == 0) {
		ontap_error_setf(&op->err, -EIO, "%s '%s' is not visible after %s", op->what, op->name,
				 op->purged ? "its job was purged" : "it was created");
		reread_later(op, -EIO);  /* Trident sees volumes appear up to a minute late */
		return;
	}
	set_record(op, rec);
	r = op->verify ? op->verify(op, op->record) : 0;
	if (r == -EAGAIN && op->wait_settled) {
		reread_later(op, -ETIME);
		return;
	}
	if (r == -EAGAIN)
		r = -EIO;
	op_complete(op, r);
}

static void after_parent(struct op *op, const struct ontap_reply *reply)
{
	const json_t *recs = json_object_get(reply->body, "records"), *id;
	int r;

	if (json_array_size(recs) != 1) {
		if (op->kind == OP_DELETE && json_array_size(recs) == 0) {
			op->adopted = true;  /* parent gone, so is the child */
			op_complete(op, 0);
			return;
		}
		ontap_error_setf(&op->err, json_array_size(recs) ? -ENOTUNIQ : -ENOENT,
				 "%s '%s' %s", op->parent_what, op->parent_name,
				 json_array_size(recs) ? "is not unique" : "does not exist");
		op_complete(op, op->err.error);
		return;
	}
	id = jget(json_array_get(recs, 0), op->parent_key); /* may be dotted: "svm.uuid" */
	if (json_is_string(id))
		op->parent_id = strdup(json_string_value(id));
	else if (json_is_integer(id) && asprintf(&op->parent_id, "%" JSON_INTEGER_FORMAT, json_integer_value(id)) < 0)
		op->parent_id = NULL; /* asprintf leaves it undefined on failure */
	if (!op->parent_id) {
		ontap_error_setf(&op->err, -EBADMSG, "%s '%s' has no %s", op->parent_what, op->parent_name,
				 op->parent_key);
		op_complete(op, -EBADMSG);
		return;
	}
	r = step_lookup(op);
	if (r < 0)
		op_complete(op, r);
}

char *ontap_fields_for(struct ontap_client *c, const char *base, const struct ontap_field_gate *gates,
		       size_t n)
{
	char *out = strdup(base), *t;

	for (size_t i = 0; out && i < n; i++) {
		if (!ontap_client_version_at_least(c, gates[i].generation, gates[i].major, gates[i].minor))
			continue;
		if (asprintf(&t, "%s,%s", out, gates[i].field) < 0)
			t = NULL;
		free(out);
		out = t;
	}
	return out;
}

int op_set_fields_gated(struct op *op, const char *base, const struct ontap_field_gate *gates, size_t n)
{
	char *f = ontap_fields_for(op->client, base, gates, n);

	if (!f)
		return -ENOMEM;
	free(op->fields);
	op->fields = f;
	if (strcmp(f, base) != 0)
		return op_set(&op->fields_fallback, base);
	return 0;
}

/* A release refusing a field we gated in (our version table was wrong): fall back once. */
static bool retry_without_gated_fields(struct op *op, int r, const struct ontap_reply *reply)
{
	if (r >= 0 || !op->fields_fallback || reply->error->code != ONTAP_E_INVALID_FIELD ||
	    (op->state != S_LOOKUP && op->state != S_REREAD))
		return false;
	ontap_log(op->client, LOG_WARNING, "ONTAP refuses fields '%s' for %s '%s'; retrying with '%s'",
		  op->fields, op->what, op->name, op->fields_fallback);
	free(op->fields);
	op->fields = TAKE_PTR(op->fields_fallback);
	if (op->state == S_REREAD) {
		op->rereads--;
		step_reread(op);
	} else {
		r = step_lookup(op);
		if (r < 0)
			op_complete(op, r);
	}
	return true;
}

static void on_reply(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct op *op = userdata;

	if (retry_without_gated_fields(op, r, reply))
		return;
	switch (op->state) {
	case S_PARENT:
		if (r < 0)
			op_fail_reply(op, r, reply);
		else
			after_parent(op, reply);
		return;
	case S_LOOKUP:
		if (r == -ENOENT && op->query == NULL && op->kind == OP_DELETE) {
			op->adopted = true;
			op_complete(op, 0);
		} else if (r < 0)
			op_fail_reply(op, r, reply);
		else
			after_lookup(op, reply);
		return;
	case S_MUTATE:
		after_mutate(op, r, reply);
		return;
	case S_REREAD:
		after_reread(op, r, reply);
		return;
	}
}

static int step_lookup(struct op *op)
{
	_cleanup_free_ char *path = NULL;
	int r;

	op->state = S_LOOKUP;
	/* An object the caller has just seen missing is created at once: the lookup would only
	 * say so again; a duplicate answer (someone made it meanwhile) is read and verified. */
	if (op->kind == OP_ACTION || op->seen_missing)
		return step_mutate(op);
	r = lookup_path(op, &path);
	if (r < 0)
		return r;
	return submit(op, "GET", path, NULL, op->kind == OP_LIST ? ONTAP_REQ_ALL_PAGES : 0);
}

int op_start(struct op *op)
{
	int r;

	if (op->parent_path) {
		op->state = S_PARENT;
		r = submit(op, "GET", op->parent_path, NULL, 0);
	} else
		r = step_lookup(op);
	if (r < 0)
		op_free(op);
	return r;
}
