/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic operation engine behind ontap.h. A typed operation fills a struct op (what to look
 * up, what to send, how to compare) and starts it; the engine runs
 *
 *   [resolve parent] → lookup → (create | delete | patch | action) → [re-read, verify] → done
 *
 * with the rules of notes §9: 201/202 everywhere, duplicates re-read and verified, 404 on delete
 * is success, a purged job is decided by re-reading, an object not yet visible after its job is
 * re-read with backoff, state transitions are re-read until settled.
 */
#pragma once

#include <string.h>

#include "ontap.h"
#include "ontap-internal.h"

struct op;

/* 0 = matches; -EAGAIN = not yet (re-read later when op->wait_settled); otherwise a negative
 * errno with op->err message set (op_mismatch()). */
typedef int (*op_verify_fn)(struct op *op, const json_t *record);
/* PATCH: 0 = nothing to do, 1 = send *ret_body (owned), < 0 = refuse (op->err set). */
typedef int (*op_decide_fn)(struct op *op, const json_t *record, json_t **ret_body);
/* Instance path (relative to /api) of a looked-up record. */
typedef int (*op_path_fn)(struct op *op, const json_t *record, char **ret_path);
/* Extra fields of the result object. */
typedef void (*op_fill_fn)(struct op *op, const json_t *record, struct ontap_object *obj);

enum op_kind {
	OP_GET,      /* exactly one record, -ENOENT / -ENOTUNIQ otherwise */
	OP_LIST,     /* all pages */
	OP_ENSURE,   /* lookup → POST when missing → verify */
	OP_DELETE,   /* lookup → DELETE when present */
	OP_PATCH,    /* lookup → decide → PATCH → re-read until verify */
	OP_ACTION,   /* POST collection (after parent resolution) → [re-read until verify] */
};

struct op {
	struct ontap_client *client;        /* borrowed */
	enum op_kind kind;
	const char *what;                   /* static: "volume", "LUN", … */
	char *name;                         /* owned display name of the object */
	bool mutating;
	uint64_t epoch;                     /* captured at start for mutations */

	/* Optional parent: its id replaces "{}" in collection and reread_path. */
	char *parent_path;                  /* owned "/storage/volumes?name=…&fields=uuid" */
	const char *parent_what;            /* static */
	char *parent_name;                  /* owned display name */
	const char *parent_key;             /* static, "uuid" by default; may be dotted ("svm.uuid") */
	char *parent_id;                    /* owned, set by the engine */

	char *collection;                   /* owned, may contain "{}" */
	char *query;                        /* owned lookup query (no fields); NULL = collection is
					     * an instance/singleton path */
	char *fields;                       /* owned or NULL */
	char *fields_fallback;              /* owned: fields without version-gated ones, used once
					     * if ONTAP still refuses a field (262197) */
	json_t *body;                       /* owned POST/PATCH body or NULL */
	char *post_query;                   /* owned, added to the POST */
	char *mutate_query;                 /* owned, added to DELETE/PATCH */
	char *reread_path;                  /* owned; NULL = the lookup again */
	int64_t dup_codes[4];               /* ONTAP codes meaning "exists already" */
	bool reread_after_create;           /* ignore return_records: always re-read */
	bool wait_settled;                  /* PATCH/ACTION: re-read while verify says -EAGAIN */
	bool follow_created;                /* ACTION: re-read the created record (collection/uuid) */
	bool urgent;                        /* every request at the front of the queue
					     * (client->ops_urgent when it started) */
	bool seen_missing;                  /* ENSURE: the caller has just read that the object is
					     * missing and reads again after (client->ensure_seen_missing):
					     * POST without a lookup, no re-read after a create */

	op_verify_fn verify;
	op_decide_fn decide;
	op_path_fn instance_path;           /* default collection/uuid */
	op_fill_fn fill;
	void *spec;                         /* owned by the op via spec_free */
	void (*spec_free)(void *spec);

	/* runtime */
	enum { S_PARENT, S_LOOKUP, S_MUTATE, S_REREAD } state;
	bool purged;                        /* the mutation's job was purged */
	bool deleting_reread;
	unsigned rereads;
	uint64_t reread_deadline, reread_interval;
	sd_event_source *timer;             /* owned */
	struct op *next_waiting;            /* in client->waiting_ops while timer is armed */
	json_t *record;                     /* owned: the current record */
	bool adopted;
	struct ontap_error err;
	ontap_done_fn done;
	void *userdata;
};

/* Allocates an op; for mutations captures the epoch (-ESTALE when not leader). */
int op_new(struct ontap_client *c, enum op_kind kind, const char *what, const char *name,
	   ontap_done_fn done, void *userdata, struct op **ret);
/* Starts it; on < 0 the op is freed and no callback comes. */
int op_start(struct op *op);
void op_free(struct op *op);
static inline void op_freep(struct op **op) { op_free(*op); }
#define _cleanup_op_ __attribute__((cleanup(op_freep)))

/* Adds key=value to the lookup query (quoted/encoded); with_svm also svm.name=<client svm>. */
int op_query_by(struct op *op, const char *key, const char *value, bool with_svm);
/* Sets op->fields from ontap_fields_for() and keeps base as the fallback. */
int op_set_fields_gated(struct op *op, const char *base, const struct ontap_field_gate *gates, size_t n);
/* strdup()s into a field, -ENOMEM on failure. */
int op_set(char **field, const char *value);

#define TRY(x) do { int _r = (x); if (_r < 0) return _r; } while (0)
int op_set_parent(struct op *op, const char *what, const char *collection, const char *key,
		  const char *value, bool with_svm);
/* Sets op->err (-EEXIST) to "<what> '<name>' exists with <field> <have>, asked <want>". */
int op_mismatch(struct op *op, const char *field, const char *have, const char *want);
int op_mismatch_u64(struct op *op, const char *field, uint64_t have, uint64_t want);

static inline bool streq_null(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* jansson helpers tolerant of missing members. */
const json_t *jget(const json_t *v, const char *dotted);
const char *jstring(const json_t *v, const char *dotted);
uint64_t juint(const json_t *v, const char *dotted);
bool jbool(const json_t *v, const char *dotted, bool dflt);
int json_set_path(json_t *obj, const char *dotted, json_t *val); /* steals val */
/* ONTAP nsid / anagrpid "00000001h" → 1; a plain integer also works. -1 on garbage. */
int64_t ontap_parse_hex_id(const json_t *v);

/* ------------------------------------------------------------------ shared by the families */

/* LUNs and namespaces: compared by os_type and space.size. */
struct size_want {
	uint64_t size;
	char *os_type;
};
int ontap_space_object_op(struct ontap_client *c, enum op_kind kind, const char *what,
			  const char *collection, const char *fields, const char *path,
			  ontap_done_fn done, void *userdata, struct op **ret);
/* Grow-only resize: same size → no PATCH; smaller → -EINVAL, nothing sent. */
int ontap_space_object_resize(struct ontap_client *c, const char *what, const char *collection,
			      const char *fields, const char *path, uint64_t size,
			      ontap_done_fn done, void *userdata);

/* igroups (initiators), subsystems (hosts): os_type, protocol and an exact member set. */
struct name_set {
	char *os_type, *protocol;   /* owned or NULL (not compared) */
	char **names;               /* owned, lower-cased */
	size_t n;
	const char *member;         /* static: "initiators" / "hosts" / "volumes" */
	const char *key;            /* static: "name" / "nqn" */
};
int ontap_name_set_new(const char *os_type, const char *protocol, const char *const *names, size_t n,
		       const char *member, const char *key, struct name_set **ret);
int ontap_name_set_verify(struct op *op, const json_t *rec);
/* s (owned by op from here on) becomes what an existing object is verified against. */
void ontap_op_verify_name_set(struct op *op, struct name_set *s);
/* Sets body.<s->member> = [{<s->key>: name}, ...] when s has members. 0 or -ENOMEM. */
int ontap_name_set_put_members(const struct name_set *s, json_t *body);

/* Members of a parent keyed by name (igroup initiators, subsystem hosts): ensure or delete.
 * mutate_query: appended to the mutation's path ("allow_delete_while_mapped=true"); NULL = none. */
int ontap_member_op(struct ontap_client *c, enum op_kind kind, const char *what,
		    const char *parent_what, const char *parent_coll, const char *parent,
		    const char *coll, const char *key, const char *member, int64_t dup,
		    const char *mutate_query, ontap_done_fn done, void *userdata);
/* Per-SVM protocol service record (iSCSI, NVMe, NFS). */
int ontap_service_get(struct ontap_client *c, const char *what, const char *collection,
		      const char *fields, ontap_done_fn done, void *userdata);
/* Two-key instance paths: spec = const char *[3] {collection, key1 path, key2 path}. */
int ontap_pair_path(struct op *op, const json_t *rec, char **ret);
