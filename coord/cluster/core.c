/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The coordination core (protocol in core.h). Pure: every function takes the time as an
 * argument and its only outputs are the queued actions and the read-only views.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "section-delta.h"
#include "macros.h"
#include "datastore.h"
#include "spec.h"

#define PERSIST_FORMAT 2        /* snapshot format written; format 1 (before records) is read too */

enum phase {
	PHASE_DISCONNECTED, /* no corosync connection */
	PHASE_NO_VIEW,      /* connected, first configuration change not delivered yet */
	PHASE_INFO,         /* collecting every member's SYNC_INFO for the round */
	PHASE_STATE,        /* the newest state is being transferred to stale members */
	PHASE_SYNCED,
	PHASE_SYNC_FAILED,  /* this node could not take the transferred state; waits for a new view */
};

static const char *const phase_names[] = {
	[PHASE_DISCONNECTED] = "disconnected", [PHASE_NO_VIEW] = "joining", [PHASE_INFO] = "syncing",
	[PHASE_STATE] = "syncing", [PHASE_SYNCED] = "synced", [PHASE_SYNC_FAILED] = "sync-failed",
};

/* What one member said about itself in the current round. */
struct member {
	uint32_t nodeid;
	bool have_info;
	char *name;              /* owned; kept across rounds for display, NULL until known */
	uint16_t proto_min, proto_max;
	bool quorate;
	uint64_t state_epoch, state_version, state_hash;
	uint32_t leader_id;
	uint64_t leader_epoch, max_epoch;
	uint32_t expected_votes;
	char cluster_id[CORE_CLUSTER_ID_LEN + 1]; /* the identity of its state, "" = none */
	char id_candidate[CORE_CLUSTER_ID_LEN + 1]; /* what it would mint as the first leader */
	bool foreign;            /* holds the state of another cluster (this round) */
	bool compatible;         /* valid once the info phase completed (false when foreign) */
	uint64_t acked_version;  /* highest version it acked in this view */
	uint64_t acked_epoch;    /* the leader epoch of its last ACK in this view */
};

/* A local client waiting for its change to commit. */
struct pending {
	uint64_t client_id;
	uint64_t request_id;
	uint64_t deadline;
	char *payload;           /* owned: canonical spec text */
	bool sent;               /* REQUEST multicast in the current view */
	bool ever_sent;          /* it left this node at least once: the outcome may be unknown */
	bool applied;            /* our PROPOSE was applied locally ... */
	uint64_t version;        /* ... as this version */
	struct pending *next;
};

struct action_node {
	struct core_action a;
	struct action_node *next;
};

struct core {
	struct core_config cfg;
	char *name;                      /* owned */
	uint32_t nodeid;
	enum phase phase;

	/* view: sorted, unique */
	struct member members[WIRE_MAX_MEMBERS];
	size_t n_members;
	uint32_t round;
	uint32_t sent_round;             /* highest round we sent our info for, +1 (0 = none) */
	uint16_t cluster_proto;

	/* quorum as votequorum reports it locally */
	bool quorate;
	uint32_t votes, expected_votes;
	bool two_node;                   /* votequorum's two_node (core_two_node) */

	/* Two-node clusters (issue 9): a lone survivor's leadership acts only once the shell says
	 * its ONTAP claim for that epoch was won (core_claim_won). */
	bool claim_needed;               /* this view's leadership is such a lone survivor's */
	uint64_t claim_won_epoch;        /* the epoch whose claim this node won; 0 = none */
	uint64_t alone_since;            /* alone in a two-node cluster without a won claim since */
	bool peer_seen;                  /* in a synced view with another member since it started */

	/* replicated state (see core.h, 6.) */
	json_t *spec;                    /* owned; durable */
	json_t *records;                 /* owned; durable: the leader's records, key -> value */
	json_t *proposed_spec;           /* owned; leader: the spec of its newest spec PROPOSE, until
					    the view syncs (then c->spec is current again) */
	char cluster_id[CORE_CLUSTER_ID_LEN + 1]; /* durable; "" until minted */
	uint64_t version, state_epoch, hash;
	uint64_t spec_hash;              /* of the canonical spec document, recomputed on replace */
	uint64_t records_hash;           /* sum of record_hash() over the records: updated in place */
	uint64_t max_epoch;              /* highest epoch ever seen; persisted */
	json_t *sections;                /* owned; soft: "<nodeid>" -> {"name", "seq", "section"} */
	uint64_t sections_gen;           /* +1 whenever a section is replaced or dropped */
	json_t *own_section;             /* owned; what this node publishes; NULL = nothing */
	bool own_section_due;            /* (re)send it when the view is synced */
	uint64_t own_section_seq;
	/* The section this node last sent in this synced view (owned; NULL = none since the view
	 * synced): every member that takes its messages applies them in order, so the next change
	 * can go as a delta over it (protocol 3). */
	json_t *sent_section;
	unsigned sent_patches;           /* patches sent since the last whole section */
	uint64_t sent_whole_at;          /* when that whole section was sent */
	char id_candidate[CORE_CLUSTER_ID_LEN + 1]; /* minted if this node first leads an id-less cluster */

	/* "may act" as last reported (CORE_ACT_LEADING / CORE_ACT_COMMITTED) */
	bool acting;
	bool recording;                  /* reported RECORDING (a synced leadership; lease aside) */
	bool reported_may_act;
	uint64_t reported_committed;

	/* leadership */
	uint32_t leader_id;              /* elected leader of this synced view; 0 = none right now */
	uint64_t leader_epoch;
	uint32_t claim_id;               /* the leadership we vouch for as unbroken (sent in SYNC_INFO,
					    makes it sticky); cleared when it surely ended */
	uint64_t claim_epoch;
	/* A member went NODEDOWN: votequorum's verdict on the new ring may arrive just after the
	 * CPG view. Until a quorum event (or the grace deadline) confirms it, report "not quorate"
	 * so an isolated node never elects itself for those few milliseconds. */
	bool quorum_unconfirmed;
	uint64_t quorum_grace_until;
	uint32_t quorum_nodes[WIRE_MAX_MEMBERS]; /* nodes in votequorum's last notification */
	size_t n_quorum_nodes;
	bool have_quorum_nodes;
	uint64_t held_epoch;             /* the epoch ROLE last reported (0 = none) */
	uint64_t confirmed_epoch;        /* every member of a view ACKed this epoch of ours */
	uint64_t lease_until;            /* a leader we lost contact with may act until then */
	uint64_t peer_lease_until;       /* ... as the members' SYNC_INFOs say: counts for a NEW
					    leadership only (elect()) */
	uint64_t last_leader_contact;    /* last delivery while another node led (or was claimed) */
	bool leader_left_cleanly;        /* set around drop_leader(): it left with LEAVE/PROCDOWN */
	bool started;                    /* the first connection to corosync was made */
	bool held;                       /* we hold the leadership (leader_id == us, quorate, not
					    stalled); ROLE actions report changes of this. In-flight
					    work under its epoch stays valid through sync rounds. */
	uint64_t next_base;              /* leader: base version of the next PROPOSE */
	uint64_t hb_seq, next_hb;
	uint64_t committed;              /* highest version acked by every compatible member */
	char no_leader_why[160];         /* why the last settled election found no leader */
	bool election_pending;           /* the view's members disagree on quorum: some have not
					    had votequorum's verdict on this ring yet. The next round
					    (their quorum event starts it) decides; until then the
					    leadership neither changes nor issues changes. */

	/* state transfer of the current round */
	uint32_t xfer_from;
	uint64_t xfer_epoch, xfer_version, xfer_hash;
	uint8_t *xfer_buf;               /* owned; only when we are stale */
	uint32_t xfer_got, xfer_total;
	bool xfer_needed_here;
	char view_cluster_id[CORE_CLUSTER_ID_LEN + 1]; /* the identity the view's infos settled on */
	bool replaced_by_sync;           /* our uncommitted changes were overwritten */

	/* liveness */
	uint64_t last_delivery;
	uint64_t phase_since;
	bool stalled;
	uint64_t stalled_since;

	/* clients */
	struct pending *pending;         /* owned list */
	uint64_t next_request_id;

	/* counters for status */
	uint64_t dropped[_WIRE_ERR_MAX];
	uint64_t dropped_unexpected;
	uint64_t applied_total;

	uint64_t now;                    /* the time of the event being handled */

	struct action_node *act_head, *act_tail; /* owned queue */
};

static void core_settle(struct core *c, uint64_t now);

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t propose(struct core *c, uint16_t kind, uint32_t origin, uint64_t request_id, const char *payload);
static void mint_cluster_id(struct core *c);

/* ---- actions ---------------------------------------------------------------------------- */

void core_action_clear(struct core_action *a)
{
	free(a->data);
	free(a->text);
	json_decref(a->fields);
	*a = (struct core_action){ 0 };
}

static void push(struct core *c, const struct core_action *a)
{
	struct action_node *n = calloc(1, sizeof(*n));

	if (!n) {
		/* Out of memory while queueing: dropping a LOG is harmless, anything else is not. */
		if (a->type != CORE_ACT_LOG)
			abort();
		json_decref(a->fields);
		return;
	}
	n->a = *a;
	if (c->act_tail)
		c->act_tail->next = n;
	else
		c->act_head = n;
	c->act_tail = n;
}

bool core_next_action(struct core *c, struct core_action *a)
{
	struct action_node *n = c->act_head;

	if (!n)
		return false;
	c->act_head = n->next;
	if (!c->act_head)
		c->act_tail = NULL;
	*a = n->a;
	free(n);
	return true;
}

/*
 * A decision: a static event name and its fields (built with jansson's json_pack format), so
 * scenario traces compare facts rather than wording; core_log_text() words it for people.
 */
static void decide(struct core *c, int level, const char *event, const char *fmt, ...)
{
	struct core_action a = { .type = CORE_ACT_LOG, .level = level, .event = event };
	json_error_t jerr;
	va_list ap;

	va_start(ap, fmt);
	a.fields = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (!a.fields)
		a.fields = json_pack("{ss}", "bug", jerr.text);
	if (a.fields)
		push(c, &a);
}

/* How each decision reads in the journal. {name} is replaced by that field. */
static const struct {
	const char *event, *text;
} decision_texts[] = {
	{ "bug", "BUG: {what}" },
	{ "connected", "connected to corosync as node {node}" },
	{ "disconnected", "lost the corosync connection: acting as inquorate" },
	{ "view", "view {members} left: {left}" },
	{ "quorum", "quorum {state} (votes {votes}/{expected})" },
	{ "stalled", "membership stalled: {why}" },
	{ "unstalled", "membership delivering again after {after_ms} ms; resyncing" },
	{ "protocol", "cluster protocol {version}" },
	{ "incompatible", "member {node} is incompatible: it speaks protocol {min}..{max}, the cluster {cluster}; it takes no part until the others are upgraded" },
	{ "foreign", "member {node} holds the state of another cluster ({its_cluster}; this cluster is {cluster}): it takes no part and its state is never taken; move its state directory away" },
	{ "diverged", "diverged: members {a} and {b} both hold version {version} epoch {epoch} with different content; {winner}'s copy wins" },
	{ "sync-source", "sync: member {from} sends version {version} epoch {epoch} (this node is behind: {behind})" },
	{ "state-rejected", "state from {from} not applied: {why}" },
	{ "took-state", "took state version {version} epoch {epoch} from {from} (had version {had_version} epoch {had_epoch})" },
	{ "synced", "synced: version {version} epoch {epoch} round {round}" },
	{ "election-waits", "election waits: {quorate} of {members} members report quorum" },
	{ "no-leader", "no leader: {why}" },
	{ "elect", "leader {leader} epoch {epoch} ({how})" },
	{ "leadership-ended", "leadership of {leader} epoch {epoch} ended: {why}" },
	{ "request-refused", "refused request {request} of {from}: {why}" },
	{ "change-unreadable", "change {version} ({kind}) from leader {from} is unreadable here ({why}); not applied" },
	{ "applied", "applied version {version} ({kind}) from leader {from} epoch {epoch}" },
	{ "commit", "committed version {version}" },
	{ "ack-mismatch", "member {from} acked version {version} with different content; resyncing" },
	{ "cluster-id", "the cluster's identity is {cluster_id} (minted by its first leader, node {leader})" },
	{ "section", "node {node} published its section ({bytes} bytes)" },
	{ "section-refused", "section of node {node} not taken: {why}" },
	{ "section-patch", "node {node} changed its section ({bytes} bytes of patch)" },
	{ "section-patch-refused", "section patch of node {node} not applied, its section is dropped until it comes whole: {why}" },
	{ "dropped", "dropped {type} from {from}: {why}" },
	{ "dropped-message", "dropped message from {from} ({bytes} bytes): {why}" },
};

static void append_value(FILE *f, const json_t *v)
{
	if (json_is_string(v))
		fputs(json_string_value(v), f);
	else if (v) {
		_cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		fputs(s ? s : "?", f);
	} else
		fputs("?", f);
}

char *core_log_text(const struct core_action *a)
{
	const char *tpl = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!a->event)
		return strdup("");
	for (size_t i = 0; i < ARRAY_SIZE(decision_texts); i++)
		if (strcmp(decision_texts[i].event, a->event) == 0)
			tpl = decision_texts[i].text;
	if (!tpl)
		return core_log_trace(a);
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (const char *p = tpl; *p; p++) {
		const char *end;
		if (*p == '{' && (end = strchr(p, '}'))) {
			char key[64];
			size_t n = (size_t)(end - p - 1);
			if (n < sizeof(key)) {
				memcpy(key, p + 1, n);
				key[n] = 0;
				append_value(f, json_object_get(a->fields, key));
				p = end;
				continue;
			}
		}
		fputc(*p, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *core_log_trace(const struct core_action *a)
{
	_cleanup_free_ char *f = a->fields ? json_dumps(a->fields, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	char *s;

	if (asprintf(&s, "%s %s", a->event ? a->event : "?", f ? f : "{}") < 0)
		return NULL;
	return s;
}

static void reply(struct core *c, uint64_t client_id, int error, enum core_outcome outcome, uint64_t version,
		  const char *fmt, ...) _printf_(6, 7);
static void reply(struct core *c, uint64_t client_id, int error, enum core_outcome outcome, uint64_t version,
		  const char *fmt, ...)
{
	struct core_action a = { .type = CORE_ACT_REPLY, .client_id = client_id, .error = error,
				 .outcome = outcome, .version = version };
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&a.text, fmt, ap) < 0)
		abort();
	va_end(ap);
	push(c, &a);
}

static void send_msg(struct core *c, struct wire_msg *m)
{
	struct core_action a = { .type = CORE_ACT_SEND };

	m->version = c->cluster_proto;
	if (wire_encode(m, &a.data, &a.len) < 0) {
		decide(c, CORE_LOG_ERR, "bug", "{ss}", "what", wire_type_name(m->type));
		return;
	}
	push(c, &a);
}

/* The whole durable state as a new snapshot (after a state transfer): the shell writes
 * core_persist_json() and empties its journal. */
static void persist_snapshot(struct core *c)
{
	push(c, &(struct core_action){ .type = CORE_ACT_PERSIST });
}

/* ---- state ------------------------------------------------------------------------------ */

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The state hash. A cluster without records hashes exactly what protocol 1 hashed (the
 * canonical {"spec","status"} document), so such a state compares equal across builds;
 * otherwise the spec's hash and the records' are combined, and a small change costs its own
 * size. The identity is not hashed: it is adopted by every member at its first election
 * without a version, and compared on its own in every sync round (a member whose identity
 * differs from the source's is behind).
 */
static void rehash(struct core *c)
{
	if (json_object_size(c->records) == 0) {
		c->hash = c->spec_hash;
		return;
	}
	c->hash = fnv_u64(fnv_u64(0xcbf29ce484222325ULL, c->spec_hash), c->records_hash);
}

static void set_spec(struct core *c, json_t *spec /* taken */)
{
	json_t *doc = json_pack("{sOs{}}", "spec", spec, "status");
	_cleanup_free_ char *text = doc ? spec_canonical(doc) : NULL;

	if (!text)
		abort();
	json_decref(doc);
	json_decref(c->spec);
	c->spec = spec;
	c->spec_hash = spec_hash_bytes(text, strlen(text));
}

/* One record's contribution to records_hash: order-independent, so updates are O(record). */
static uint64_t record_hash(const char *key, const json_t *value)
{
	_cleanup_free_ char *v = json_dumps(value, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	uint64_t h;

	if (!v)
		abort();
	h = spec_hash_bytes(key, strlen(key) + 1);
	return fnv_u64(h, spec_hash_bytes(v, strlen(v)));
}

static bool record_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > CORE_MAX_RECORD_KEY)
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._:/@-", *p)))
			return false;
	return true;
}

static bool cluster_id_ok(const char *id, size_t n)
{
	if (n != CORE_CLUSTER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* ---- the update kinds (core.h, 6.): validate and apply, one entry each ------------------- */

/* Checks a decoded payload; *error (owned) says why not. Pure, touches nothing. */
typedef int (*update_validate_fn)(const struct core *c, const json_t *payload, char **error);
/* Applies a validated payload (borrowed) to the durable state; the caller versions and hashes. */
typedef void (*update_apply_fn)(struct core *c, const json_t *payload);

struct update_kind {
	const char *name;
	uint16_t min_proto;          /* the cluster protocol it needs */
	update_validate_fn validate;
	update_apply_fn apply;       /* NULL: soft, applied per sender (node sections) */
};

static int validate_spec(const struct core *c, const json_t *payload, char **error)
{
	struct spec_problems p = { 0 };

	if (spec_validate(payload, &p) == 0)
		return 0;
	*error = spec_problems_join(&p);
	spec_problems_clear(&p);
	return -EINVAL;
}

static void apply_spec(struct core *c, const json_t *payload)
{
	set_spec(c, json_deep_copy(payload));
}

static int validate_patch(const struct core *c, const json_t *payload, char **error)
{
	const char *k;
	json_t *v;

	if (!json_is_object(payload) || json_object_size(payload) == 0) {
		*error = strdup("a leader patch is a non-empty JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)payload, k, v)
		if (!record_key_ok(k)) {
			if (asprintf(error, "record key \"%.64s\" is not 1..%u bytes of [A-Za-z0-9._:/@-]", k,
				     CORE_MAX_RECORD_KEY) < 0)
				*error = NULL;
			return -EINVAL;
		}
	return 0;
}

static void apply_patch(struct core *c, const json_t *payload)
{
	const char *k;
	json_t *v, *old;

	json_object_foreach((json_t *)payload, k, v) {
		old = json_object_get(c->records, k);
		if (old)
			c->records_hash -= record_hash(k, old);
		if (json_is_null(v)) {
			json_object_del(c->records, k);
			continue;
		}
		c->records_hash += record_hash(k, v);
		json_object_set_new(c->records, k, json_deep_copy(v));
	}
}

static int validate_section(const struct core *c, const json_t *payload, char **error)
{
	if (!json_is_object(payload)) {
		*error = strdup("a node section is a JSON object");
		return -EINVAL;
	}
	return 0;
}

/* Indexed by enum core_update_kind; never renumbered (the numbers are on the wire and on disk). */
static const struct update_kind update_kinds[] = {
	[CORE_UPDATE_SPEC] = { "spec", 1, validate_spec, apply_spec },
	[CORE_UPDATE_LEADER_PATCH] = { "leader-patch", 2, validate_patch, apply_patch },
	[CORE_UPDATE_NODE_SECTION] = { "node-section", 2, validate_section, NULL },
};

static const struct update_kind *update_kind_get(uint16_t kind)
{
	if (kind >= ARRAY_SIZE(update_kinds) || !update_kinds[kind].name)
		return NULL;
	return &update_kinds[kind];
}

/* The durable document a state transfer carries: protocol 1's shape plus the new sections. */
static char *state_text(const struct core *c)
{
	json_t *doc = json_pack("{sOs{}}", "spec", c->spec, "status");
	char *s;

	if (!doc)
		return NULL;
	if (json_object_size(c->records))
		json_object_set(doc, "records", c->records);
	if (c->cluster_id[0])
		json_object_set_new(doc, "cluster_id", json_string(c->cluster_id));
	s = spec_canonical(doc);
	json_decref(doc);
	return s;
}

/* Reads a durable document (transfer or snapshot) into a fresh spec/records/id, checked whole. */
struct state_doc {
	json_t *spec, *records;     /* owned */
	char cluster_id[CORE_CLUSTER_ID_LEN + 1];
};

static void state_doc_clear(struct state_doc *d)
{
	json_decref(d->spec);
	json_decref(d->records);
	*d = (struct state_doc){ 0 };
}

static int parse_state_doc(json_t *doc, struct state_doc *out, char **error)
{
	json_t *s = json_object_get(doc, "spec"), *r = json_object_get(doc, "records");
	json_t *id = json_object_get(doc, "cluster_id");
	_cleanup_free_ char *why = NULL;
	const char *k;
	json_t *v;

	if (!json_is_object(s) || (r && !json_is_object(r)) || (id && !json_is_string(id))) {
		*error = strdup("\"spec\" (and \"records\" if present) must be objects, \"cluster_id\" a string");
		return -EINVAL;
	}
	if (id && !cluster_id_ok(json_string_value(id), json_string_length(id))) {
		*error = strdup("\"cluster_id\" is not 32 lower-case hex characters");
		return -EINVAL;
	}
	if (validate_spec(NULL, s, &why) < 0) {
		if (asprintf(error, "invalid spec: %s", why ? why : "?") < 0)
			*error = NULL;
		return -EINVAL;
	}
	if (r)
		json_object_foreach(r, k, v)
			if (!record_key_ok(k) || json_is_null(v)) {
				if (asprintf(error, "record \"%.64s\" has a bad key or a null value", k) < 0)
					*error = NULL;
				return -EINVAL;
			}
	*out = (struct state_doc){ .spec = json_incref(s), .records = r ? json_deep_copy(r) : json_object() };
	if (id)
		snprintf(out->cluster_id, sizeof(out->cluster_id), "%s", json_string_value(id));
	return 0;
}

static void take_state_doc(struct core *c, struct state_doc *d)
{
	const char *k;
	json_t *v;

	set_spec(c, TAKE_PTR(d->spec));
	json_decref(c->records);
	c->records = TAKE_PTR(d->records);
	c->records_hash = 0;
	json_object_foreach(c->records, k, v)
		c->records_hash += record_hash(k, v);
	memcpy(c->cluster_id, d->cluster_id, sizeof(c->cluster_id));
	rehash(c);
}

/* A journal record for one durable update (PERSIST with data): {"k","v","e","p"}. */
static void persist_update(struct core *c, uint16_t kind, const char *payload_text)
{
	struct core_action a = { .type = CORE_ACT_PERSIST };
	char *rec;

	if (asprintf(&rec, "{\"k\":%u,\"v\":%" PRIu64 ",\"e\":%" PRIu64 ",\"p\":%s}", kind, c->version, c->state_epoch,
		     payload_text) < 0)
		abort();
	a.data = (uint8_t *)rec;
	a.len = strlen(rec);
	push(c, &a);
}

/* The election's bookkeeping (max_epoch, the claim) as a journal record. */
static void persist_epochs(struct core *c)
{
	struct core_action a = { .type = CORE_ACT_PERSIST };
	char *rec;

	if (asprintf(&rec, "{\"k\":0,\"max_epoch\":%" PRIu64 ",\"leader_id\":%" PRIu32 ",\"leader_epoch\":%" PRIu64 "}",
		     c->max_epoch, c->leader_id, c->leader_epoch) < 0)
		abort();
	a.data = (uint8_t *)rec;
	a.len = strlen(rec);
	push(c, &a);
}

/* ---- members ---------------------------------------------------------------------------- */

static struct member *member_get(struct core *c, uint32_t nodeid)
{
	for (size_t i = 0; i < c->n_members; i++)
		if (c->members[i].nodeid == nodeid)
			return &c->members[i];
	return NULL;
}

static const struct member *member_cget(const struct core *c, uint32_t nodeid)
{
	return member_get((struct core *)c, nodeid);
}

static const char *member_name(const struct core *c, uint32_t nodeid)
{
	const struct member *m = member_cget(c, nodeid);

	if (nodeid == c->nodeid)
		return c->name;
	return m && m->name ? m->name : NULL;
}

/* ---- leadership ------------------------------------------------------------------------- */

static void set_held(struct core *c, bool held, uint64_t now)
{
	uint64_t epoch = held ? c->leader_epoch : 0;

	if (c->held == held && c->held_epoch == epoch)
		return;
	/* Moving from one epoch straight to another (a restart elected this node again): the old
	 * leadership ends first, so whatever runs under its epoch is cancelled. */
	if (c->held && held)
		push(c, &(struct core_action){ .type = CORE_ACT_ROLE, .is_leader = false, .epoch = 0 });
	c->held = held;
	c->held_epoch = epoch;
	if (held) {
		c->next_base = c->version;
		c->next_hb = now + c->cfg.heartbeat_usec;
	}
	push(c, &(struct core_action){ .type = CORE_ACT_ROLE, .is_leader = held, .epoch = epoch });
}

/* The leader issues changes only in a synced view with a settled election. */
static bool can_propose(const struct core *c)
{
	return c->held && c->phase == PHASE_SYNCED && !c->election_pending;
}

/* A member of a synced, quorate, delivering view: it may act on the committed state. */
static bool may_act(const struct core *c)
{
	/* A view with a leader is a majority of the kvmcd members (see elect()), or a two-node
	 * cluster's lone survivor that won its claim. */
	return c->phase == PHASE_SYNCED && c->quorate && !c->stalled && !c->quorum_unconfirmed && c->leader_id &&
	       (!c->claim_needed || c->claim_won_epoch == c->leader_epoch);
}

/*
 * Recording: a held, synced leadership (a lone two-node survivor's once its claim is won). Its
 * leader patches commit -- a predecessor cut off from this view commits nothing any more: every
 * commit needs every member's ACK -- so services that only record (fence state, VM ownership)
 * and act outside kvmcd in ways a predecessor cannot undo may start now (agent/ha.c,
 * agent/vms.c).
 */
static bool recording(const struct core *c)
{
	return can_propose(c) && (!c->claim_needed || c->claim_won_epoch == c->leader_epoch);
}

/* Acting as leader: recording, and the predecessor can no longer act (its lease ended). */
static bool acting(const struct core *c, uint64_t now)
{
	return recording(c) && now >= c->lease_until;
}

/* ---- node sections (soft) --------------------------------------------------------------- */

static void section_key(uint32_t nodeid, char key[static 12])
{
	snprintf(key, 12, "%" PRIu32, nodeid);
}

/* Sections describe the current view: those of members that left are dropped. */
static void sections_drop_departed(struct core *c)
{
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(c->sections, tmp, k, v) {
		char *end;
		unsigned long id = strtoul(k, &end, 10);
		if (*end || !member_get(c, (uint32_t)id)) {
			json_object_del(c->sections, k);
			c->sections_gen++;
		}
	}
}

/*
 * A section goes whole after every sync round (a member that joined holds nothing of it), and
 * otherwise as a delta over the last one sent (protocol 3, section-delta.h) when that is clearly
 * smaller.
 * A member that cannot apply a patch drops the sender's section (on_section_patch); so that such
 * a gap cannot last, the section goes whole again after SECTION_PATCHES_MAX patches or
 * SECTION_WHOLE_EVERY_USEC.
 */
#define SECTION_PATCHES_MAX 64u
#define SECTION_WHOLE_EVERY_USEC (10 * 1000000ull)

static void send_own_section(struct core *c)
{
	struct wire_msg m = { .type = WIRE_NODE_SECTION };
	_cleanup_free_ char *text = NULL, *patch_text = NULL;
	json_t *patch = NULL;

	if (!c->own_section || !c->own_section_due || c->phase != PHASE_SYNCED || c->cluster_proto < 2)
		return;
	text = json_dumps(c->own_section, JSON_SORT_KEYS | JSON_COMPACT);
	if (!text)
		abort();
	if (c->cluster_proto >= 3 && c->sent_section && c->sent_patches < SECTION_PATCHES_MAX &&
	    c->now - c->sent_whole_at < SECTION_WHOLE_EVERY_USEC &&
	    (patch = section_delta_diff(c->sent_section, c->own_section)))
		patch_text = json_dumps(patch, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(patch);
	m.section.seq = ++c->own_section_seq;
	if (patch_text && strlen(patch_text) * 4 < strlen(text) * 3) {
		m.type = WIRE_NODE_SECTION_PATCH;
		m.section.base_seq = m.section.seq - 1;
		m.section.payload = (struct wire_bytes){ (const uint8_t *)patch_text, (uint32_t)strlen(patch_text) };
		c->sent_patches++;
	} else {
		m.section.payload = (struct wire_bytes){ (const uint8_t *)text, (uint32_t)strlen(text) };
		c->sent_patches = 0;
		c->sent_whole_at = c->now;
	}
	send_msg(c, &m);
	json_decref(c->sent_section);
	c->sent_section = json_incref(c->own_section); /* replaced, never changed in place */
	c->own_section_due = false;
}

static void take_section(struct core *c, uint32_t sender, uint64_t seq, json_t *doc, size_t bytes, bool patch)
{
	char key[12];

	section_key(sender, key);
	json_object_set_new(c->sections, key,
			    json_pack("{sssIso}", "name", member_name(c, sender) ? member_name(c, sender) : "",
				      "seq", (json_int_t)seq, "section", doc));
	c->sections_gen++;
	decide(c, CORE_LOG_DEBUG, patch ? "section-patch" : "section", "{sIsI}", "node", (json_int_t)sender,
	       "bytes", (json_int_t)bytes);
}

static void on_section(struct core *c, uint64_t now, uint32_t sender, const struct wire_node_section *in)
{
	_cleanup_free_ char *why = NULL;
	json_error_t jerr;
	json_t *doc = NULL;

	/* The CPG sender IS the owner: a node can only ever write its own section. */
	if (in->payload.len > CORE_MAX_SECTION_BYTES)
		why = strdup("larger than the section limit");
	else if (!(doc = json_loadb((const char *)in->payload.data, in->payload.len, JSON_REJECT_DUPLICATES, &jerr)))
		why = strdup(jerr.text);
	else if (validate_section(c, doc, &why) < 0)
		json_decref(doc);
	if (why) {
		decide(c, CORE_LOG_WARNING, "section-refused", "{sIss}", "node", (json_int_t)sender, "why", why);
		return;
	}
	take_section(c, sender, in->seq, doc, in->payload.len, false);
}

/*
 * A patch applies only over the section it was made from (base_seq). In one view every member
 * takes a sender's messages in the same order, so a mismatch means this member missed the base
 * (it joined after it was sent, the patch crossing the view change): the sender's section is
 * dropped here -- unknown, not stale -- until it comes whole, after the sync round at the latest.
 */
static void on_section_patch(struct core *c, uint64_t now, uint32_t sender, const struct wire_node_section *in)
{
	json_error_t jerr;
	json_t *patch = NULL, *doc = NULL, *have;
	char key[12], why[256] = "";
	int r;

	section_key(sender, key);
	have = json_object_get(c->sections, key);
	if (!have)
		snprintf(why, sizeof(why), "this member holds no section of that node to apply it to");
	else if ((uint64_t)json_integer_value(json_object_get(have, "seq")) != in->base_seq)
		snprintf(why, sizeof(why), "made over its section %" PRIu64 ", this member holds %" PRIu64, in->base_seq,
			 (uint64_t)json_integer_value(json_object_get(have, "seq")));
	else if (in->payload.len > CORE_MAX_SECTION_BYTES)
		snprintf(why, sizeof(why), "larger than the section limit");
	else if (!(patch = json_loadb((const char *)in->payload.data, in->payload.len, JSON_REJECT_DUPLICATES, &jerr)))
		snprintf(why, sizeof(why), "%s", jerr.text);
	else if ((r = section_delta_apply(json_object_get(have, "section"), patch, &doc)) < 0)
		snprintf(why, sizeof(why), "%s", r == -ENOMEM ? "out of memory" : "not a delta over the section this member holds");
	else if (json_dumpb(doc, NULL, 0, JSON_SORT_KEYS | JSON_COMPACT) > CORE_MAX_SECTION_BYTES)
		snprintf(why, sizeof(why), "the patched section is larger than the section limit");
	json_decref(patch);
	if (why[0]) {
		json_decref(doc);
		decide(c, CORE_LOG_WARNING, "section-patch-refused", "{sIss}", "node", (json_int_t)sender, "why", why);
		if (have) {
			json_object_del(c->sections, key);
			c->sections_gen++;
		}
		return;
	}
	take_section(c, sender, in->seq, doc, in->payload.len, true);
}

int core_node_publish(struct core *c, uint64_t now, const json_t *section, char **error)
{
	_cleanup_free_ char *text = NULL;

	c->now = now;
	*error = NULL;
	if (!json_is_object(section)) {
		*error = strdup("a node section is a JSON object");
		return -EINVAL;
	}
	text = json_dumps(section, JSON_SORT_KEYS | JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	if (strlen(text) > CORE_MAX_SECTION_BYTES) {
		if (asprintf(error, "the section is %zu bytes, more than the %u allowed", strlen(text),
			     CORE_MAX_SECTION_BYTES) < 0)
			*error = NULL;
		return -EINVAL;
	}
	if (c->own_section && json_equal(c->own_section, section))
		return c->cluster_proto < 2 ? -EOPNOTSUPP : 0;
	json_decref(c->own_section);
	c->own_section = json_deep_copy(section);
	if (!c->own_section)
		return -ENOMEM;
	c->own_section_due = true;
	send_own_section(c);
	core_settle(c, now);
	return c->cluster_proto < 2 ? -EOPNOTSUPP : 0;
}

/* ---- leader records -------------------------------------------------------------------- */

int core_leader_patch(struct core *c, uint64_t now, uint64_t epoch, const json_t *patch, uint64_t *version,
		      char **error)
{
	_cleanup_free_ char *text = NULL;
	int r;

	c->now = now;
	*error = NULL;
	if (!c->held || epoch != c->leader_epoch) {
		if (asprintf(error, "epoch %" PRIu64 " is not the epoch this node leads in (%s %" PRIu64 ")", epoch,
			     c->held ? "it leads in" : "it does not lead; last", c->held ? c->leader_epoch : c->leader_epoch) < 0)
			*error = NULL;
		return -ESTALE;
	}
	if (!recording(c)) {
		*error = strdup(can_propose(c) ? "this lone survivor has not won its ONTAP claim yet; wait for RECORDING start"
					       : "the view is syncing; wait for the next RECORDING start");
		return -EAGAIN;
	}
	if (c->cluster_proto < 2) {
		*error = strdup("the cluster speaks protocol 1, which has no leader records; upgrade every node");
		return -EOPNOTSUPP;
	}
	r = validate_patch(c, patch, error);
	if (r < 0)
		return r;
	text = json_dumps(patch, JSON_SORT_KEYS | JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	if (strlen(text) > CORE_MAX_PATCH_BYTES) {
		if (asprintf(error, "the patch is %zu bytes, more than the %u allowed", strlen(text), CORE_MAX_PATCH_BYTES) < 0)
			*error = NULL;
		return -EINVAL;
	}
	*version = propose(c, WIRE_KIND_LEADER_PATCH, c->nodeid, 0, text);
	core_settle(c, now);
	return 0;
}

/* ---- "may act" -------------------------------------------------------------------------- */

/*
 * Runs at the end of every event: reports changes of "acting as leader" and of "committed /
 * may act" to the shell, mints the cluster identity if this leader's cluster has none, and
 * sends this node's section when it is due. Idempotent.
 */
static void core_settle(struct core *c, uint64_t now)
{
	bool act_lead = acting(c, now), rec = recording(c), act = may_act(c);
	bool alone = c->two_node && c->n_members <= 1 &&
		     !(c->leader_id && c->claim_needed && c->claim_won_epoch == c->leader_epoch);

	if (c->phase == PHASE_SYNCED && c->n_members >= 2)
		c->peer_seen = true;
	if (!alone)
		c->alone_since = 0;
	else if (!c->alone_since)
		c->alone_since = now ? now : 1;
	/* Nested: RECORDING starts before (or with) LEADING and stops after it. */
	if (rec && !c->recording) {
		c->recording = true;
		push(c, &(struct core_action){ .type = CORE_ACT_RECORDING, .is_leader = true, .epoch = c->leader_epoch });
	}
	if (act_lead != c->acting) {
		c->acting = act_lead;
		push(c, &(struct core_action){ .type = CORE_ACT_LEADING, .is_leader = act_lead,
					       .epoch = act_lead ? c->leader_epoch : 0 });
	}
	if (!rec && c->recording) {
		c->recording = false;
		push(c, &(struct core_action){ .type = CORE_ACT_RECORDING, .is_leader = false, .epoch = 0 });
	}
	send_own_section(c);
	if (act != c->reported_may_act || (act && c->committed != c->reported_committed)) {
		c->reported_may_act = act;
		c->reported_committed = c->committed;
		push(c, &(struct core_action){ .type = CORE_ACT_COMMITTED, .may_act = act, .version = c->committed });
	}
}

/* Ends whatever leadership we follow or hold; the next election gives a new epoch. */
static void drop_leader(struct core *c, uint64_t now, const char *why)
{
	uint32_t gone = c->leader_id ? c->leader_id : c->claim_id;

	/*
	 * The lease. We lost track of another node's leadership: it may be dead -- or alive with a
	 * corosync that stopped delivering, and then it acts until its own stall timeout, which
	 * runs from its last delivery, about when we last heard anything under it. Whoever leads
	 * next acts only after that (every member's lease travels in its SYNC_INFO). A leader that
	 * left cleanly or whose process died (PROCDOWN) no longer acts. A confirmed fence of its
	 * node will end the lease earlier (HA issue).
	 */
	if (gone && gone != c->nodeid && !c->leader_left_cleanly && c->last_leader_contact &&
	    c->last_leader_contact + c->cfg.lease_usec > c->lease_until)
		c->lease_until = c->last_leader_contact + c->cfg.lease_usec;
	if (c->leader_id || c->claim_id)
		decide(c, CORE_LOG_NOTICE, "leadership-ended", "{sIsIss}", "leader",
		       (json_int_t)(c->leader_id ? c->leader_id : c->claim_id), "epoch",
		       (json_int_t)(c->leader_id ? c->leader_epoch : c->claim_epoch), "why", why);
	c->leader_id = 0;
	c->leader_epoch = 0;
	c->claim_id = 0;
	c->claim_epoch = 0;
	set_held(c, false, now);
}

static void update_role(struct core *c, uint64_t now)
{
	/* A new epoch is held only once every member of the view has persisted it (its election
	 * ACK): a member that missed the end of the round could otherwise elect the same epoch
	 * again elsewhere. Protocol-1 members send no such ACK; such a cluster holds at once. */
	bool confirmed = c->cluster_proto < 2 || c->confirmed_epoch == c->leader_epoch;

	set_held(c, c->leader_id == c->nodeid && c->quorate && !c->stalled && c->phase != PHASE_DISCONNECTED &&
			    c->phase != PHASE_SYNC_FAILED && confirmed, now);
	if (c->held && c->phase == PHASE_SYNCED && c->next_base < c->version)
		c->next_base = c->version;
}

/* ---- pending client requests ------------------------------------------------------------ */

static void pending_free(struct pending *p)
{
	free(p->payload);
	free(p);
}

static void pending_remove(struct core *c, struct pending *target)
{
	for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == target) {
			*pp = target->next;
			pending_free(target);
			return;
		}
}

static struct pending *pending_by_request(struct core *c, uint64_t request_id)
{
	for (struct pending *p = c->pending; p; p = p->next)
		if (p->request_id == request_id)
			return p;
	return NULL;
}

static void pending_send(struct core *c, struct pending *p)
{
	struct wire_msg m = { .type = WIRE_REQUEST };

	m.request.request_id = p->request_id;
	m.request.kind = WIRE_KIND_SPEC;
	m.request.payload = (struct wire_bytes){ (const uint8_t *)p->payload, (uint32_t)strlen(p->payload) };
	send_msg(c, &m);
	p->sent = true;
	p->ever_sent = true;
}

static bool can_request(const struct core *c)
{
	return c->phase == PHASE_SYNCED && c->leader_id && c->quorate && !c->stalled;
}

/*
 * After a sync round: a change that was applied here and survived is done (once committed);
 * anything else is sent again -- replacing the spec is idempotent, so a request that was lost
 * in the membership change, or overwritten by a newer state, is simply re-applied.
 */
static void pending_after_sync(struct core *c)
{
	for (struct pending *p = c->pending; p; p = p->next) {
		if (p->applied && !c->replaced_by_sync && c->version >= p->version)
			continue; /* resolved by the commit check */
		p->applied = false;
		p->sent = false;
		if (can_request(c))
			pending_send(c, p);
	}
}

/* Answers the local clients whose change is part of the committed state. */
static void resolve_committed(struct core *c)
{
	struct pending *p, *next;

	for (p = c->pending; p; p = next) {
		next = p->next;
		if (p->applied && p->version <= c->committed) {
			reply(c, p->client_id, 0, CORE_OUTCOME_COMMITTED, p->version, "applied: version %" PRIu64, p->version);
			pending_remove(c, p);
		}
	}
}

static void check_commit(struct core *c)
{
	uint64_t committed = UINT64_MAX;

	if (c->phase != PHASE_SYNCED)
		return;
	for (size_t i = 0; i < c->n_members; i++)
		if (c->members[i].compatible && c->members[i].acked_version < committed)
			committed = c->members[i].acked_version;
	if (committed == UINT64_MAX || committed <= c->committed)
		return;
	c->committed = committed;
	decide(c, CORE_LOG_INFO, "commit", "{sI}", "version", (json_int_t)committed);
	resolve_committed(c);
}

/* ---- sync rounds ------------------------------------------------------------------------ */

static void send_info(struct core *c, uint32_t round)
{
	struct wire_msg m = { .type = WIRE_SYNC_INFO };
	struct wire_sync_info *i = &m.info;

	if (c->sent_round >= round + 1)
		return;
	c->sent_round = round + 1;
	i->round = round;
	i->n_members = (uint32_t)c->n_members;
	for (size_t k = 0; k < c->n_members; k++)
		i->members[k] = c->members[k].nodeid;
	i->proto_min = c->cfg.proto_min;
	i->proto_max = c->cfg.proto_max;
	i->flags = c->quorate && !c->quorum_unconfirmed ? WIRE_INFO_QUORATE : 0;
	i->name = (struct wire_bytes){ (const uint8_t *)c->name, (uint32_t)strlen(c->name) };
	i->state_epoch = c->state_epoch;
	i->state_version = c->version;
	i->state_hash = c->hash;
	i->leader_id = c->claim_id;
	i->leader_epoch = c->claim_epoch;
	i->max_epoch = c->max_epoch;
	i->expected_votes = c->expected_votes;
	i->cluster_id = (struct wire_bytes){ (const uint8_t *)c->cluster_id, (uint32_t)strlen(c->cluster_id) };
	i->lease_remaining_usec = c->lease_until > c->now ? c->lease_until - c->now : 0;
	if (!c->cluster_id[0])
		i->id_candidate = (struct wire_bytes){ (const uint8_t *)c->id_candidate, (uint32_t)strlen(c->id_candidate) };
	send_msg(c, &m);
}

static void set_phase(struct core *c, enum phase ph, uint64_t now)
{
	if (c->phase != ph)
		c->phase_since = now;
	c->phase = ph;
}

static void start_round(struct core *c, uint32_t round, uint64_t now)
{
	c->round = round;
	c->election_pending = false;
	for (size_t i = 0; i < c->n_members; i++)
		c->members[i].have_info = false;
	free(c->xfer_buf);
	c->xfer_buf = NULL;
	c->xfer_got = c->xfer_total = 0;
	c->replaced_by_sync = false;
	set_phase(c, PHASE_INFO, now);
	update_role(c, now);
	send_info(c, round);
}

/* Any member may start the next round; everyone joins the highest one delivered. */
static void trigger_round(struct core *c, uint64_t now)
{
	if (c->phase == PHASE_DISCONNECTED || c->phase == PHASE_NO_VIEW || c->n_members == 0)
		return;
	send_info(c, c->round + 1);
}

static bool newer(uint64_t e1, uint64_t v1, uint64_t e2, uint64_t v2)
{
	return e1 > e2 || (e1 == e2 && v1 > v2);
}

/*
 * Computed identically by every member from the round's infos. Candidates are the compatible
 * members whose info says quorate; acting additionally needs this node's own quorum.
 */
static void elect(struct core *c, uint64_t now)
{
	const struct member *prev = NULL, *self_claim;
	uint32_t leader = 0;
	uint64_t epoch, max_epoch = c->max_epoch;
	bool kept = false;
	size_t n_quorate = 0;

	for (size_t i = 0; i < c->n_members; i++)
		n_quorate += c->members[i].quorate;
	c->election_pending = n_quorate > 0 && n_quorate < c->n_members;
	if (c->election_pending) {
		decide(c, CORE_LOG_INFO, "election-waits", "{sIsI}", "quorate", (json_int_t)n_quorate, "members",
		       (json_int_t)c->n_members);
		return;
	}
	uint32_t expected = 0;
	size_t n_eligible = 0;

	for (size_t i = 0; i < c->n_members; i++) {
		const struct member *m = &c->members[i];
		if (m->max_epoch > max_epoch)
			max_epoch = m->max_epoch;
		if (m->leader_id && (!prev || m->leader_epoch > prev->leader_epoch))
			prev = m;
		if (m->expected_votes > expected)
			expected = m->expected_votes;
		n_eligible += m->compatible && m->quorate;
	}
	c->max_epoch = max_epoch;
	/*
	 * Two-node clusters (votequorum's two_node): a lone survivor is quorate by corosync's rules
	 * and may lead, but it ACTS (LEADING, may_act) only once it won the ONTAP claim for its
	 * epoch (coord/decide/fence.h; the shell makes the claim and calls core_claim_won). Its
	 * epoch must be the one the other half of a split computes too -- the highest epoch of
	 * the last shared view + 1 -- so it never keeps an older leadership, except one it already
	 * won a claim for.
	 */
	bool lone = c->two_node && expected == 2 && n_eligible == 1 && c->n_members == 1 &&
		    c->members[0].nodeid == c->nodeid;
	c->claim_needed = lone;
	/*
	 * corosync's quorum counts hosts whose corosync runs, not whose kvmcd runs. Every change is
	 * committed by all kvmcd members of a view; demanding that the members of a leader's view
	 * be a majority of the expected votes makes every such view overlap every committing one,
	 * so "newest state wins" always carries the last committed change forward. Without it, a
	 * node with a stale disk starting alone beside idle corosyncs could lead and overwrite it.
	 */
	if (n_quorate && expected && n_eligible * 2 <= expected && !lone) {
		snprintf(c->no_leader_why, sizeof(c->no_leader_why),
			 "only %zu of %" PRIu32 " expected members run kvmcd here; a majority is needed to be sure no committed change is missed",
			 n_eligible, expected);
		if (c->leader_id || !c->claim_id)
			decide(c, CORE_LOG_NOTICE, "no-leader", "{sssIsI}", "why", c->no_leader_why, "eligible",
			       (json_int_t)n_eligible, "expected", (json_int_t)expected);
		c->leader_id = 0;
		c->leader_epoch = 0;
		return;
	}
	if (prev) {
		self_claim = member_cget(c, prev->leader_id);
		/* A leadership older than an epoch some member has seen cannot continue: versions
		 * committed under it would sort below that member's state. */
		kept = self_claim && self_claim->compatible && self_claim->quorate &&
		       self_claim->leader_id == prev->leader_id && self_claim->leader_epoch == prev->leader_epoch &&
		       prev->leader_epoch >= max_epoch &&
		       (!lone || prev->leader_epoch == c->claim_won_epoch);
	}
	/*
	 * A peer's lease (a node that lost contact with a leader, or restarted knowing nothing of
	 * who leads) holds back a NEW leadership only. A kept one was quorate all along -- losing
	 * quorum ends a leadership, and coming back gives a new epoch -- so no other leader could
	 * act beside it: a kvmcd restarting beside a healthy leader does not stop it acting.
	 */
	if (!kept && c->peer_lease_until > c->lease_until)
		c->lease_until = c->peer_lease_until;
	if (kept) {
		leader = prev->leader_id;
		epoch = prev->leader_epoch;
	} else {
		for (size_t i = 0; i < c->n_members && !leader; i++)
			if (c->members[i].compatible && c->members[i].quorate)
				leader = c->members[i].nodeid;
		epoch = max_epoch + 1;
	}
	if (!leader) {
		/* Nobody vouches for quorum yet; a quorum event will start the next round. The claim
		 * stays: only a confirmed quorum loss ends a leadership. */
		snprintf(c->no_leader_why, sizeof(c->no_leader_why), "no member of this view reports quorum");
		if (c->leader_id)
			decide(c, CORE_LOG_NOTICE, "no-leader", "{sssIsI}", "why", c->no_leader_why, "votes",
			       (json_int_t)c->votes, "expected", (json_int_t)c->expected_votes);
		c->leader_id = 0;
		c->leader_epoch = 0;
		return;
	}
	if (leader != c->leader_id || epoch != c->leader_epoch)
		decide(c, CORE_LOG_NOTICE, "elect", "{sIsIss}", "leader", (json_int_t)leader, "epoch", (json_int_t)epoch,
		       "how", kept ? "kept" : "new");
	c->no_leader_why[0] = 0;
	c->leader_id = c->claim_id = leader;
	c->leader_epoch = c->claim_epoch = epoch;
	if (epoch > c->max_epoch)
		c->max_epoch = epoch;
	mint_cluster_id(c);
	persist_epochs(c);
}

/*
 * The first elected leader of a cluster that has no identity gives it one: its candidate,
 * carried in its SYNC_INFO. Every member of the view adopts it at this same point of the total
 * order, so no version is spent on it; it is persisted (a journal record) before the election
 * ACK, and from then on carried in every SYNC_INFO and state transfer.
 */
static void mint_cluster_id(struct core *c)
{
	const struct member *l = member_cget(c, c->leader_id);
	struct core_action a = { .type = CORE_ACT_PERSIST };
	char *rec;

	if (c->cluster_id[0] || c->view_cluster_id[0] || c->cluster_proto < 2 || !l || !l->id_candidate[0])
		return;
	memcpy(c->cluster_id, l->id_candidate, sizeof(c->cluster_id));
	memcpy(c->view_cluster_id, l->id_candidate, sizeof(c->view_cluster_id));
	rehash(c);
	decide(c, CORE_LOG_NOTICE, "cluster-id", "{sssI}", "cluster_id", c->cluster_id, "leader", (json_int_t)c->leader_id);
	if (asprintf(&rec, "{\"k\":%u,\"cluster_id\":\"%s\"}", CORE_UPDATE_IDENTITY, c->cluster_id) < 0)
		abort();
	a.data = (uint8_t *)rec;
	a.len = strlen(rec);
	push(c, &a);
}

static void sync_complete(struct core *c, uint64_t now)
{
	set_phase(c, PHASE_SYNCED, now);
	for (size_t i = 0; i < c->n_members; i++)
		c->members[i].acked_version = c->version;
	decide(c, CORE_LOG_INFO, "synced", "{sIsIsI}", "version", (json_int_t)c->version, "epoch",
	       (json_int_t)c->state_epoch, "round", (json_int_t)c->round);
	elect(c, now);
	/* Proposals of the leader that were not delivered by now died with the old view (EVS):
	 * the next one builds on what every member holds. */
	c->next_base = c->version;
	json_decref(c->proposed_spec);
	c->proposed_spec = NULL;
	if (c->leader_id && c->cluster_proto >= 2) {
		/* The election ACK: this member has persisted the epoch (persist_epochs() was queued
		 * by elect(), before this send). The leader holds a new epoch once all have. */
		struct wire_msg ack = { .type = WIRE_ACK };
		ack.ack.leader_epoch = c->leader_epoch;
		ack.ack.version = c->version;
		ack.ack.hash = c->hash;
		send_msg(c, &ack);
	}
	update_role(c, now);
	c->own_section_due = c->own_section != NULL; /* soft state is rebuilt after every sync */
	json_decref(c->sent_section);                /* ... from whole sections */
	c->sent_section = NULL;
	/* Every member of the view now holds this state. It is committed -- and what a local client
	 * changed and survived is answered -- only in a view that elected a leader: a view that is
	 * not a majority of the kvmcd members may hold a change the majority never saw. */
	if (c->leader_id) {
		c->committed = c->version;
		if (!c->replaced_by_sync)
			resolve_committed(c);
	} else if (c->committed > c->version) {
		c->committed = c->version;
	}
	pending_after_sync(c);
}

static void send_state(struct core *c)
{
	_cleanup_free_ char *doc = state_text(c);
	uint32_t total, off = 0;

	if (!doc)
		abort();
	total = (uint32_t)strlen(doc);
	do {
		struct wire_msg m = { .type = WIRE_STATE_CHUNK };
		uint32_t n = total - off > WIRE_CHUNK_SIZE ? WIRE_CHUNK_SIZE : total - off;

		m.chunk.round = c->round;
		m.chunk.state_epoch = c->state_epoch;
		m.chunk.state_version = c->version;
		m.chunk.state_hash = c->hash;
		m.chunk.total_len = total;
		m.chunk.offset = off;
		m.chunk.data = (struct wire_bytes){ (const uint8_t *)doc + off, n };
		send_msg(c, &m);
		off += n;
	} while (off < total);
}

/*
 * The identity of the view: the one most compatible members hold (a tie goes to the lowest node
 * id's). Members that hold another one are foreign: their state is never taken and they are
 * never elected, whatever their epoch -- a state file restored from another cluster must not
 * take this one over. Computed identically by every member from the same infos.
 */
static void settle_cluster_id(struct core *c)
{
	size_t best_n = 0;
	const char *best = "";

	for (size_t i = 0; i < c->n_members; i++) {
		const struct member *m = &c->members[i];
		size_t n = 0;
		if (!m->compatible || !m->cluster_id[0])
			continue;
		for (size_t k = 0; k < c->n_members; k++)
			n += c->members[k].compatible && strcmp(c->members[k].cluster_id, m->cluster_id) == 0;
		if (n > best_n) {
			best_n = n;
			best = m->cluster_id;
		}
	}
	snprintf(c->view_cluster_id, sizeof(c->view_cluster_id), "%s", best);
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		m->foreign = m->compatible && m->cluster_id[0] && strcmp(m->cluster_id, c->view_cluster_id) != 0;
		if (!m->foreign)
			continue;
		m->compatible = false;
		decide(c, CORE_LOG_ERR, "foreign", "{sIssss}", "node", (json_int_t)m->nodeid, "its_cluster", m->cluster_id,
		       "cluster", c->view_cluster_id);
	}
}

static void info_phase_done(struct core *c, uint64_t now)
{
	struct member *best = NULL, *self = member_get(c, c->nodeid);
	uint16_t proto = UINT16_MAX;
	bool stale = false;

	for (size_t i = 0; i < c->n_members; i++)
		if (c->members[i].proto_max < proto)
			proto = c->members[i].proto_max;
	if (proto != c->cluster_proto)
		decide(c, CORE_LOG_NOTICE, "protocol", "{si}", "version", (int)proto);
	c->cluster_proto = proto;
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		m->compatible = m->proto_min <= proto;
		if (!m->compatible)
			decide(c, CORE_LOG_WARNING, "incompatible", "{sIsisisi}", "node", (json_int_t)m->nodeid, "min",
			       (int)m->proto_min, "max", (int)m->proto_max, "cluster", (int)proto);
	}
	if (self && !self->compatible) {
		drop_leader(c, now, "this node is incompatible with the cluster protocol");
		set_phase(c, PHASE_SYNC_FAILED, now);
		return;
	}
	settle_cluster_id(c);
	if (self && self->foreign) {
		snprintf(c->no_leader_why, sizeof(c->no_leader_why),
			 "this node's state belongs to another cluster (%s; the others are %s): move its state directory away",
			 self->cluster_id, c->view_cluster_id);
		drop_leader(c, now, "this node's state belongs to another cluster");
		set_phase(c, PHASE_SYNC_FAILED, now);
		return;
	}

	/* Newest state among compatible members; ties with different content are a divergence.
	 * Once the view has an identity, a member without one (a fresh node) is never the source. */
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		if (!m->compatible || (c->view_cluster_id[0] && !m->cluster_id[0]))
			continue;
		if (!best || newer(m->state_epoch, m->state_version, best->state_epoch, best->state_version))
			best = m;
	}
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		if (!m->compatible || m == best)
			continue;
		if (m->state_epoch == best->state_epoch && m->state_version == best->state_version &&
		    m->state_hash != best->state_hash)
			decide(c, CORE_LOG_WARNING, "diverged", "{sIsIsIsIsI}", "a", (json_int_t)best->nodeid, "b",
			       (json_int_t)m->nodeid, "version", (json_int_t)best->state_version, "epoch",
			       (json_int_t)best->state_epoch, "winner", (json_int_t)best->nodeid);
		if (m->state_epoch != best->state_epoch || m->state_version != best->state_version ||
		    m->state_hash != best->state_hash || strcmp(m->cluster_id, best->cluster_id) != 0)
			stale = true;
	}
	if (!stale) {
		sync_complete(c, now);
		return;
	}
	c->xfer_from = best->nodeid;
	c->xfer_epoch = best->state_epoch;
	c->xfer_version = best->state_version;
	c->xfer_hash = best->state_hash;
	c->xfer_needed_here = c->hash != best->state_hash || c->version != best->state_version ||
			      c->state_epoch != best->state_epoch || strcmp(c->cluster_id, best->cluster_id) != 0;
	set_phase(c, PHASE_STATE, now);
	decide(c, CORE_LOG_INFO, "sync-source", "{sIsIsIsb}", "from", (json_int_t)best->nodeid, "version",
	       (json_int_t)best->state_version, "epoch", (json_int_t)best->state_epoch, "behind", c->xfer_needed_here);
	if (best->nodeid == c->nodeid)
		send_state(c);
}

/* ---- message handlers ------------------------------------------------------------------- */

static void drop(struct core *c, uint32_t sender, const char *type, const char *why)
{
	c->dropped_unexpected++;
	decide(c, CORE_LOG_DEBUG, "dropped", "{sssIss}", "type", type, "from", (json_int_t)sender, "why", why);
}

static void on_info(struct core *c, uint64_t now, uint32_t sender, const struct wire_sync_info *in)
{
	struct member *m = member_get(c, sender);
	bool same_view = in->n_members == c->n_members;

	for (size_t i = 0; same_view && i < c->n_members; i++)
		same_view = in->members[i] == c->members[i].nodeid;
	if (!m || !same_view)
		return drop(c, sender, "sync-info", "for another view");
	if (c->phase == PHASE_SYNC_FAILED && in->round <= c->round)
		return;
	if (in->round < c->round)
		return drop(c, sender, "sync-info", "for an older round");
	if (in->round > c->round || c->phase == PHASE_NO_VIEW)
		start_round(c, in->round, now);

	m->have_info = true;
	free(m->name);
	m->name = strndup((const char *)in->name.data, in->name.len);
	m->proto_min = in->proto_min;
	m->proto_max = in->proto_max;
	m->quorate = in->flags & WIRE_INFO_QUORATE;
	m->state_epoch = in->state_epoch;
	m->state_version = in->state_version;
	m->state_hash = in->state_hash;
	m->leader_id = in->leader_id;
	m->leader_epoch = in->leader_epoch;
	m->max_epoch = in->max_epoch;
	m->expected_votes = in->expected_votes;
	/* Bounded: a peer cannot hold the next leader back for longer than a lease of ours. */
	if (in->lease_remaining_usec && now + min_u64(in->lease_remaining_usec, c->cfg.lease_usec) > c->peer_lease_until)
		c->peer_lease_until = now + min_u64(in->lease_remaining_usec, c->cfg.lease_usec);
	if (cluster_id_ok((const char *)in->id_candidate.data, in->id_candidate.len)) {
		memcpy(m->id_candidate, in->id_candidate.data, CORE_CLUSTER_ID_LEN);
		m->id_candidate[CORE_CLUSTER_ID_LEN] = 0;
	} else
		m->id_candidate[0] = 0;
	if (cluster_id_ok((const char *)in->cluster_id.data, in->cluster_id.len)) {
		memcpy(m->cluster_id, in->cluster_id.data, CORE_CLUSTER_ID_LEN);
		m->cluster_id[CORE_CLUSTER_ID_LEN] = 0;
	} else
		m->cluster_id[0] = 0;

	if (c->phase != PHASE_INFO)
		return;
	for (size_t i = 0; i < c->n_members; i++)
		if (!c->members[i].have_info)
			return;
	info_phase_done(c, now);
}

static void on_chunk(struct core *c, uint64_t now, uint32_t sender, const struct wire_state_chunk *k)
{
	struct state_doc d = { 0 };
	json_t *doc, *old_spec, *old_records;
	json_error_t jerr;
	_cleanup_free_ char *err = NULL;
	char old_id[sizeof(c->cluster_id)];
	uint64_t old_hash, old_spec_hash, old_records_hash;

	if (c->phase != PHASE_STATE || k->round != c->round || sender != c->xfer_from ||
	    k->state_version != c->xfer_version || k->state_epoch != c->xfer_epoch ||
	    k->state_hash != c->xfer_hash || k->offset != c->xfer_got ||
	    (c->xfer_total && k->total_len != c->xfer_total))
		return drop(c, sender, "state-chunk", "not the transfer of this round");
	c->xfer_total = k->total_len;
	if (c->xfer_needed_here) {
		if (!c->xfer_buf) {
			c->xfer_buf = malloc(k->total_len);
			if (!c->xfer_buf)
				abort();
		}
		memcpy(c->xfer_buf + k->offset, k->data.data, k->data.len);
	}
	c->xfer_got += k->data.len;
	if (c->xfer_got < c->xfer_total)
		return;

	if (c->xfer_needed_here) {
		doc = json_loadb((const char *)c->xfer_buf, c->xfer_total, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc || parse_state_doc(doc, &d, &err) < 0) {
			decide(c, CORE_LOG_ERR, "state-rejected", "{sIss}", "from", (json_int_t)sender, "why",
			       doc ? (err ? err : "?") : jerr.text);
			json_decref(doc);
			set_phase(c, PHASE_SYNC_FAILED, now);
			return;
		}
		json_decref(doc);
		if (c->view_cluster_id[0] && strcmp(d.cluster_id, c->view_cluster_id) != 0) {
			decide(c, CORE_LOG_ERR, "state-rejected", "{sIss}", "from", (json_int_t)sender, "why",
			       "it belongs to another cluster");
			state_doc_clear(&d);
			set_phase(c, PHASE_SYNC_FAILED, now);
			return;
		}
		/* Take it, then check that it hashes to what the sender announced; undo if not. */
		old_spec = json_incref(c->spec);
		old_records = json_incref(c->records);
		memcpy(old_id, c->cluster_id, sizeof(old_id));
		old_hash = c->hash;
		old_spec_hash = c->spec_hash;
		old_records_hash = c->records_hash;
		take_state_doc(c, &d);
		if (c->hash != c->xfer_hash) {
			json_decref(c->spec);
			json_decref(c->records);
			c->spec = old_spec;
			c->records = old_records;
			memcpy(c->cluster_id, old_id, sizeof(old_id));
			c->hash = old_hash;
			c->spec_hash = old_spec_hash;
			c->records_hash = old_records_hash;
			decide(c, CORE_LOG_ERR, "state-rejected", "{sIss}", "from", (json_int_t)sender, "why",
			       "it does not match its hash");
			set_phase(c, PHASE_SYNC_FAILED, now);
			return;
		}
		json_decref(old_spec);
		json_decref(old_records);
		decide(c, CORE_LOG_NOTICE, "took-state", "{sIsIsIsIsI}", "version", (json_int_t)c->xfer_version, "epoch",
		       (json_int_t)c->xfer_epoch, "from", (json_int_t)sender, "had_version", (json_int_t)c->version,
		       "had_epoch", (json_int_t)c->state_epoch);
		c->version = c->xfer_version;
		c->state_epoch = c->xfer_epoch;
		if (c->state_epoch > c->max_epoch)
			c->max_epoch = c->state_epoch;
		c->replaced_by_sync = true;
		free(c->xfer_buf);
		c->xfer_buf = NULL;
		persist_snapshot(c);
	}
	sync_complete(c, now);
}

/* The leader multicasts a durable update as the next version. Returns that version. */
static uint64_t propose(struct core *c, uint16_t kind, uint32_t origin, uint64_t request_id, const char *payload)
{
	struct wire_msg m = { .type = WIRE_PROPOSE };

	m.propose.leader_epoch = c->leader_epoch;
	m.propose.base_version = c->next_base++;
	m.propose.origin = origin;
	m.propose.request_id = request_id;
	m.propose.kind = kind;
	m.propose.payload = (struct wire_bytes){ (const uint8_t *)payload, (uint32_t)strlen(payload) };
	send_msg(c, &m);
	return m.propose.base_version + 1;
}

static void on_request(struct core *c, uint64_t now, uint32_t sender, const struct wire_request *r)
{
	struct wire_msg m = { 0 };
	struct spec_problems p = { 0 };
	json_t *spec = NULL;
	_cleanup_free_ char *canon = NULL, *problems = NULL;

	if (!can_propose(c))
		return; /* not ours to answer; the origin retries after the next sync or times out */
	/* Clients only ever replace the spec; records and the identity are the leader's own. */
	if (r->kind != WIRE_KIND_SPEC)
		return drop(c, sender, "request", "unsupported kind");
	/* Changes that need the spec in force (a datastore's protocol, fs, size only growing) are
	 * checked against the newest spec this leader has proposed, applied or not yet: a request
	 * checked against an older one could undo a proposal in flight (grow to 200G, then 150G). */
	if (spec_parse((const char *)r->payload.data, r->payload.len, &spec, &p) < 0 ||
	    spec_validate_change(c->proposed_spec ? c->proposed_spec : c->spec, spec, &p) < 0) {
		json_decref(spec);
		spec = NULL;
		problems = spec_problems_join(&p);
		spec_problems_clear(&p);
		m.type = WIRE_REJECT;
		m.reject.origin = sender;
		m.reject.request_id = r->request_id;
		m.reject.error = EINVAL;
		m.reject.message = (struct wire_bytes){ (const uint8_t *)(problems ? problems : "invalid spec"),
						      (uint32_t)strnlen(problems ? problems : "invalid spec", WIRE_MAX_TEXT) };
		decide(c, CORE_LOG_NOTICE, "request-refused", "{sIsIss}", "request", (json_int_t)r->request_id, "from",
		       (json_int_t)sender, "why", "invalid spec");
		send_msg(c, &m);
		return;
	}
	canon = spec_canonical(spec);
	json_decref(c->proposed_spec);
	c->proposed_spec = spec;
	if (!canon)
		abort();
	propose(c, WIRE_KIND_SPEC, sender, r->request_id, canon);
}

static void on_propose(struct core *c, uint64_t now, uint32_t sender, const struct wire_propose *p)
{
	struct wire_msg ack = { .type = WIRE_ACK };
	const struct update_kind *kind = update_kind_get(p->kind);
	_cleanup_free_ char *why = NULL, *text = NULL;
	json_t *doc;
	json_error_t jerr;
	struct pending *pend;

	if (c->phase != PHASE_SYNCED || sender != c->leader_id || p->leader_epoch != c->leader_epoch)
		return drop(c, sender, "propose", "not from the current leader");
	if (p->base_version != c->version)
		return drop(c, sender, "propose", "for another base version");
	doc = json_loadb((const char *)p->payload.data, p->payload.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		why = strdup(jerr.text);
	else if (!kind || !kind->apply || kind->min_proto > c->cluster_proto)
		why = strdup("not an update kind the leader may propose in this cluster protocol");
	else if (kind->validate(c, doc, &why) < 0 && !why)
		why = strdup("invalid");
	if (why) {
		json_decref(doc);
		/* Every member decodes the same bytes; a member that cannot apply what the others did
		 * forces a resync from the newest state instead of diverging. */
		decide(c, CORE_LOG_ERR, "change-unreadable", "{sIsssIss}", "version", (json_int_t)(p->base_version + 1),
		       "kind", kind ? kind->name : "unknown", "from", (json_int_t)sender, "why", why);
		trigger_round(c, now);
		return;
	}
	kind->apply(c, doc);
	json_decref(doc);
	c->version = p->base_version + 1;
	c->state_epoch = p->leader_epoch;
	rehash(c);
	c->applied_total++;
	decide(c, CORE_LOG_INFO, "applied", "{sIsssIsI}", "version", (json_int_t)c->version, "kind", kind->name, "from",
	       (json_int_t)sender, "epoch", (json_int_t)p->leader_epoch);
	text = strndup((const char *)p->payload.data, p->payload.len);
	if (!text)
		abort();
	persist_update(c, p->kind, text);
	ack.ack.leader_epoch = c->leader_epoch;
	ack.ack.version = c->version;
	ack.ack.hash = c->hash;
	send_msg(c, &ack);
	if (p->origin == c->nodeid && (pend = pending_by_request(c, p->request_id))) {
		pend->applied = true;
		pend->version = c->version;
	}
}

static void on_ack(struct core *c, uint64_t now, uint32_t sender, const struct wire_ack *a)
{
	struct member *m = member_get(c, sender);

	if (c->phase != PHASE_SYNCED || !m || a->leader_epoch != c->leader_epoch)
		return drop(c, sender, "ack", "not for the current leadership");
	if (a->version == c->version && a->hash != c->hash) {
		decide(c, CORE_LOG_ERR, "ack-mismatch", "{sIsI}", "from", (json_int_t)sender, "version",
		       (json_int_t)a->version);
		trigger_round(c, now);
		return;
	}
	if (a->version > m->acked_version)
		m->acked_version = a->version;
	m->acked_epoch = a->leader_epoch;
	if (c->leader_id == c->nodeid && c->confirmed_epoch != c->leader_epoch) {
		bool all = true;
		for (size_t i = 0; i < c->n_members; i++)
			all &= !c->members[i].compatible || c->members[i].acked_epoch == c->leader_epoch;
		if (all) {
			c->confirmed_epoch = c->leader_epoch;
			update_role(c, now);
		}
	}
	check_commit(c);
}

static void on_reject(struct core *c, uint64_t now, uint32_t sender, const struct wire_reject *r)
{
	struct pending *p;

	if (r->origin != c->nodeid || sender != c->leader_id)
		return;
	p = pending_by_request(c, r->request_id);
	if (!p)
		return;
	reply(c, p->client_id, -r->error, CORE_OUTCOME_REFUSED, c->version, "refused by leader %" PRIu32 ": %.*s", sender,
	      (int)r->message.len, (const char *)r->message.data);
	pending_remove(c, p);
}

/* Called for every delivery from corosync: that is what "not stalled" means. */
static void delivered(struct core *c, uint64_t now, bool resync)
{
	uint32_t led_by = c->leader_id ? c->leader_id : c->claim_id;

	c->last_delivery = now;
	if (led_by && led_by != c->nodeid)
		c->last_leader_contact = now;
	if (c->stalled) {
		c->stalled = false;
		decide(c, CORE_LOG_NOTICE, "unstalled", "{sI}", "after_ms", (json_int_t)((now - c->stalled_since) / 1000));
		if (resync)
			trigger_round(c, now);
	}
}

static void handle_message(struct core *c, uint64_t now, uint32_t sender, const void *data, size_t len)
{
	struct wire_msg m;
	enum wire_error e;

	if (c->phase == PHASE_DISCONNECTED)
		return;
	delivered(c, now, true);
	e = wire_decode(data, len, c->cfg.proto_min, c->cfg.proto_max, &m);
	if (e != WIRE_OK) {
		c->dropped[e]++;
		decide(c, CORE_LOG_WARNING, "dropped-message", "{sIsIss}", "from", (json_int_t)sender, "bytes",
		       (json_int_t)len, "why", wire_error_name(e));
		return;
	}
	if (!member_get(c, sender))
		return drop(c, sender, wire_type_name(m.type), "sender is not in the view");
	switch (m.type) {
	case WIRE_SYNC_INFO:   on_info(c, now, sender, &m.info); break;
	case WIRE_STATE_CHUNK: on_chunk(c, now, sender, &m.chunk); break;
	case WIRE_REQUEST:     on_request(c, now, sender, &m.request); break;
	case WIRE_PROPOSE:     on_propose(c, now, sender, &m.propose); break;
	case WIRE_ACK:         on_ack(c, now, sender, &m.ack); break;
	case WIRE_REJECT:      on_reject(c, now, sender, &m.reject); break;
	case WIRE_HEARTBEAT:   break; /* its delivery is the point */
	case WIRE_NODE_SECTION: on_section(c, now, sender, &m.section); break;
	case WIRE_NODE_SECTION_PATCH: on_section_patch(c, now, sender, &m.section); break;
	}
}

/* ---- membership and quorum events ------------------------------------------------------- */

static void fail_pending(struct core *c, int error, const char *why)
{
	while (c->pending) {
		struct pending *p = c->pending;
		reply(c, p->client_id, error, p->ever_sent ? CORE_OUTCOME_UNKNOWN : CORE_OUTCOME_REFUSED, c->version,
		      "%s%s", why, p->ever_sent ? "" : " (it never left this node: nothing applied)");
		c->pending = p->next;
		pending_free(p);
	}
}

static void handle_connected(struct core *c, uint64_t now, uint32_t local_nodeid)
{
	c->nodeid = local_nodeid;
	c->n_members = 0;
	c->last_delivery = now;
	/* A node that belonged to a led cluster and (re)starts knows nothing of who leads now: a
	 * leader of a view it never saw may be stalled and acting. Its lease covers that. */
	if (!c->started && c->max_epoch > 0)
		c->lease_until = now + c->cfg.lease_usec;
	c->started = true;
	set_phase(c, PHASE_NO_VIEW, now);
	decide(c, CORE_LOG_NOTICE, "connected", "{sI}", "node", (json_int_t)local_nodeid);
}

static void handle_disconnected(struct core *c, uint64_t now)
{
	if (c->phase == PHASE_DISCONNECTED)
		return;
	decide(c, CORE_LOG_WARNING, "disconnected", "{}");
	c->quorate = false;
	drop_leader(c, now, "corosync connection lost");
	for (size_t i = 0; i < c->n_members; i++)
		free(c->members[i].name);
	c->n_members = 0;
	c->stalled = false;
	c->quorum_unconfirmed = false;
	c->have_quorum_nodes = false;
	set_phase(c, PHASE_DISCONNECTED, now);
	fail_pending(c, -ENOTCONN, "lost the connection to corosync before the change committed; retry");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static const char *reason_name(uint32_t r)
{
	switch (r) {
	case CORE_LEAVE_LEAVE: return "left";
	case CORE_LEAVE_NODEDOWN: return "node down";
	case CORE_LEAVE_PROCDOWN: return "agent down";
	case CORE_LEAVE_NODEUP: return "node up";
	case CORE_LEAVE_JOIN: return "join";
	default: return "unknown";
	}
}

static void handle_confchg(struct core *c, uint64_t now, const uint32_t *members, size_t n_members,
			  const struct core_left *left, size_t n_left)
{
	uint32_t sorted[WIRE_MAX_MEMBERS];
	struct member old[WIRE_MAX_MEMBERS];
	size_t n_old = c->n_members, n = 0;
	json_t *view_members, *view_left;
	uint32_t prev_leader = c->leader_id ? c->leader_id : c->claim_id;

	if (c->phase == PHASE_DISCONNECTED)
		return;
	delivered(c, now, false); /* the new view starts its own round */
	for (size_t i = 0; i < n_left; i++)
		if (left[i].nodeid == prev_leader &&
		    (left[i].reason == CORE_LEAVE_LEAVE || left[i].reason == CORE_LEAVE_PROCDOWN))
			c->leader_left_cleanly = true;
	if (n_members > WIRE_MAX_MEMBERS)
		n_members = WIRE_MAX_MEMBERS;
	memcpy(sorted, members, n_members * sizeof(*members));
	qsort(sorted, n_members, sizeof(*sorted), cmp_u32);
	memcpy(old, c->members, n_old * sizeof(*old));
	for (size_t i = 0; i < n_members; i++) {
		struct member *m;
		if (i > 0 && sorted[i] == sorted[i - 1])
			continue; /* one kvmcd per node; a duplicate is a restarted process racing */
		m = &c->members[n++];
		*m = (struct member){ .nodeid = sorted[i] };
		for (size_t k = 0; k < n_old; k++)
			if (old[k].nodeid == sorted[i]) {
				m->name = old[k].name;
				old[k].name = NULL;
			}
	}
	for (size_t k = 0; k < n_old; k++)
		free(old[k].name);
	c->n_members = n;

	view_members = json_array();
	view_left = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(view_members, json_integer(c->members[i].nodeid));
	for (size_t i = 0; i < n_left; i++)
		json_array_append_new(view_left, json_pack("{sIss}", "node", (json_int_t)left[i].nodeid, "reason",
							  reason_name(left[i].reason)));
	decide(c, CORE_LOG_INFO, "view", "{soso}", "members", view_members, "left", view_left);
	sections_drop_departed(c);

	if (!member_get(c, c->nodeid)) {
		c->leader_left_cleanly = false;
		return; /* a view without us: corosync is about to tell us we left */
	}
	if ((c->leader_id && !member_get(c, c->leader_id)) || (c->claim_id && !member_get(c, c->claim_id)))
		drop_leader(c, now, "the leader left the group");
	c->leader_left_cleanly = false;
	for (size_t i = 0; i < n_left; i++) {
		bool known_gone = c->have_quorum_nodes;
		for (size_t k = 0; k < c->n_quorum_nodes; k++)
			if (c->quorum_nodes[k] == left[i].nodeid)
				known_gone = false;
		/* If votequorum's last word already excludes the node, its verdict is current. */
		if (left[i].reason == CORE_LEAVE_NODEDOWN && !known_gone && !c->quorum_unconfirmed) {
			c->quorum_unconfirmed = true;
			c->quorum_grace_until = now + c->cfg.quorum_grace_usec;
		}
	}
	/* Unless the members still in view are a majority on their own, stop leading right away
	 * rather than after votequorum's verdict. */
	if (c->quorum_unconfirmed && c->n_members * 2 <= c->expected_votes)
		drop_leader(c, now, "members lost and quorum not confirmed");
	/* A new view always starts at round 0; everyone delivers this change at the same point. */
	c->sent_round = 0;
	for (struct pending *p = c->pending; p; p = p->next)
		p->sent = false;
	start_round(c, 0, now);
}

void core_quorum_nodes(struct core *c, const uint32_t *nodes, size_t n)
{
	if (n > WIRE_MAX_MEMBERS)
		n = WIRE_MAX_MEMBERS;
	memcpy(c->quorum_nodes, nodes, n * sizeof(*nodes));
	c->n_quorum_nodes = n;
	c->have_quorum_nodes = true;
}

static void handle_quorum(struct core *c, uint64_t now, bool quorate, uint32_t total_votes, uint32_t expected_votes)
{
	bool changed = quorate != c->quorate;

	if (c->phase == PHASE_DISCONNECTED)
		return;
	c->votes = total_votes;
	c->expected_votes = expected_votes;
	if (c->quorum_unconfirmed) {
		c->quorum_unconfirmed = false;
		if (!changed) {
			trigger_round(c, now); /* our info said "not quorate" while unconfirmed */
			return;
		}
	}
	if (!changed)
		return;
	c->quorate = quorate;
	decide(c, CORE_LOG_NOTICE, "quorum", "{sssIsI}", "state", quorate ? "regained" : "lost", "votes",
	       (json_int_t)total_votes, "expected", (json_int_t)expected_votes);
	if (!quorate) {
		drop_leader(c, now, "quorum lost");
		fail_pending(c, -EAGAIN, "quorum lost before the change committed; retry when quorate");
	}
	update_role(c, now);
	trigger_round(c, now);
}

static void handle_send_blocked(struct core *c, uint64_t now)
{
	if (c->stalled || c->phase == PHASE_DISCONNECTED)
		return;
	c->stalled = true;
	c->stalled_since = now;
	decide(c, CORE_LOG_WARNING, "stalled", "{ss}", "why", "corosync refuses to send (try again) for too long");
	drop_leader(c, now, "membership stalled");
	fail_pending(c, -EAGAIN, "cluster membership stalled (corosync refuses to send) before the change committed; retry");
	trigger_round(c, now);
}

/* A round in progress, or a leader whose heartbeat must arrive: silence now means a stall. */
static bool expects_traffic(const struct core *c)
{
	return c->phase == PHASE_INFO || c->phase == PHASE_STATE || (c->phase == PHASE_SYNCED && c->leader_id);
}

static void handle_tick(struct core *c, uint64_t now)
{
	struct pending *p, *next;
	bool expect_traffic = expects_traffic(c);

	if (!c->stalled && expect_traffic && now >= c->last_delivery + c->cfg.stall_timeout_usec) {
		c->stalled = true;
		c->stalled_since = now;
		decide(c, CORE_LOG_WARNING, "stalled", "{sssI}", "why", "nothing delivered by corosync", "for_ms",
		       (json_int_t)((now - c->last_delivery) / 1000));
		drop_leader(c, now, "membership stalled");
		fail_pending(c, -EAGAIN, "cluster membership stalled (corosync delivers nothing) before the change committed; nothing applied here, retry");
		/* Queued until corosync delivers again, it makes everyone resync at once then. */
		trigger_round(c, now);
	}
	if (c->quorum_unconfirmed && now >= c->quorum_grace_until) {
		/* votequorum's event came before the view (or not at all): the local flag is current. */
		c->quorum_unconfirmed = false;
		trigger_round(c, now);
	}
	if (c->held && now >= c->next_hb) {
		struct wire_msg m = { .type = WIRE_HEARTBEAT };
		m.heartbeat.leader_epoch = c->leader_epoch;
		m.heartbeat.seq = ++c->hb_seq;
		send_msg(c, &m);
		c->next_hb = now + c->cfg.heartbeat_usec;
	}
	for (p = c->pending; p; p = next) {
		next = p->next;
		if (now >= p->deadline) {
			if (p->ever_sent)
				reply(c, p->client_id, -ETIMEDOUT, CORE_OUTCOME_UNKNOWN, c->version,
				      "not committed within %.0fs (leader %" PRIu32 ", %s); the change may still apply, check `kvmcctl spec get`",
				      (double)c->cfg.request_timeout_usec / 1e6, c->leader_id, phase_names[c->phase]);
			else
				reply(c, p->client_id, -ETIMEDOUT, CORE_OUTCOME_REFUSED, c->version,
				      "no leader took the change within %.0fs (leader %" PRIu32 ", %s); nothing applied",
				      (double)c->cfg.request_timeout_usec / 1e6, c->leader_id, phase_names[c->phase]);
			pending_remove(c, p);
		}
	}
}

uint64_t core_next_deadline(const struct core *c)
{
	uint64_t d = 0;
	bool expect_traffic = expects_traffic(c);

#define EARLIER(x) do { uint64_t _x = (x); if (_x && (!d || _x < d)) d = _x; } while (0)
	if (!c->stalled && expect_traffic)
		EARLIER(c->last_delivery + c->cfg.stall_timeout_usec);
	if (c->held)
		EARLIER(c->next_hb);
	/* Held and synced but not acting: only the predecessor's lease holds it back. */
	if (can_propose(c) && !c->acting)
		EARLIER(c->lease_until);
	if (c->quorum_unconfirmed)
		EARLIER(c->quorum_grace_until);
	for (const struct pending *p = c->pending; p; p = p->next)
		EARLIER(p->deadline);
#undef EARLIER
	return d;
}

static void handle_request_spec(struct core *c, uint64_t now, uint64_t client_id, const char *text, size_t len)
{
	struct spec_problems probs = { 0 };
	json_t *spec = NULL;
	struct pending *p;
	char *canon;

	if (spec_parse(text, len, &spec, &probs) < 0) {
		_cleanup_free_ char *all = spec_problems_join(&probs);
		spec_problems_clear(&probs);
		reply(c, client_id, -EINVAL, CORE_OUTCOME_REFUSED, c->version, "invalid spec, nothing applied:\n%s", all ? all : "?");
		return;
	}
	canon = spec_canonical(spec);
	if (!canon)
		abort();
	if (c->phase == PHASE_DISCONNECTED || c->phase == PHASE_NO_VIEW) {
		json_decref(spec);
		free(canon);
		reply(c, client_id, -ENOTCONN, CORE_OUTCOME_REFUSED, c->version,
		      "refused: this node is not connected to the cluster (corosync %s); nothing applied",
		      c->phase == PHASE_DISCONNECTED ? "unreachable" : "joining");
		return;
	}
	if (!c->quorate) {
		json_decref(spec);
		free(canon);
		reply(c, client_id, -EAGAIN, CORE_OUTCOME_REFUSED, c->version,
		      "refused: this node's partition is not quorate (votes %" PRIu32 " of %" PRIu32 " expected); changes need quorum, nothing applied",
		      c->votes, c->expected_votes);
		return;
	}
	if (c->stalled) {
		json_decref(spec);
		free(canon);
		reply(c, client_id, -EAGAIN, CORE_OUTCOME_REFUSED, c->version,
		      "refused: cluster membership is stalled (corosync delivers nothing); nothing applied");
		return;
	}
	if (c->phase == PHASE_SYNCED && !c->leader_id && !c->election_pending && c->no_leader_why[0]) {
		json_decref(spec);
		free(canon);
		reply(c, client_id, -EAGAIN, CORE_OUTCOME_REFUSED, c->version, "refused: no leader: %s; nothing applied", c->no_leader_why);
		return;
	}
	/* A synced node's spec is current: a change it refuses would be refused by the leader too. */
	if (c->phase == PHASE_SYNCED && spec_validate_change(c->spec, spec, &probs) < 0) {
		_cleanup_free_ char *all = spec_problems_join(&probs);
		spec_problems_clear(&probs);
		json_decref(spec);
		free(canon);
		reply(c, client_id, -EINVAL, CORE_OUTCOME_REFUSED, c->version, "refused, nothing applied:\n%s",
		      all ? all : "?");
		return;
	}
	/* Only now: a node that may not change the state must not vouch for it either (its copy may
	 * be stale), so "unchanged" is answered only where a change would have been accepted. */
	if (c->phase == PHASE_SYNCED && json_equal(spec, c->spec)) {
		json_decref(spec);
		free(canon);
		reply(c, client_id, 0, CORE_OUTCOME_COMMITTED, c->version, "unchanged: version %" PRIu64, c->version);
		return;
	}
	json_decref(spec);
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->client_id = client_id;
	p->request_id = ++c->next_request_id;
	p->deadline = now + c->cfg.request_timeout_usec;
	p->payload = canon;
	p->next = c->pending;
	c->pending = p;
	if (can_request(c))
		pending_send(c, p);
}

/* Every event ends with core_settle(): the shell learns about "may act" changes at once. */
void core_connected(struct core *c, uint64_t now, uint32_t local_nodeid)
{
	c->now = now;
	handle_connected(c, now, local_nodeid);
	core_settle(c, now);
}

void core_disconnected(struct core *c, uint64_t now)
{
	c->now = now;
	handle_disconnected(c, now);
	core_settle(c, now);
}

void core_confchg(struct core *c, uint64_t now, const uint32_t *members, size_t n_members,
		  const struct core_left *left, size_t n_left)
{
	c->now = now;
	handle_confchg(c, now, members, n_members, left, n_left);
	core_settle(c, now);
}

void core_quorum(struct core *c, uint64_t now, bool quorate, uint32_t total_votes, uint32_t expected_votes)
{
	c->now = now;
	handle_quorum(c, now, quorate, total_votes, expected_votes);
	core_settle(c, now);
}

void core_message(struct core *c, uint64_t now, uint32_t sender, const void *data, size_t len)
{
	c->now = now;
	handle_message(c, now, sender, data, len);
	core_settle(c, now);
}

void core_tick(struct core *c, uint64_t now)
{
	c->now = now;
	handle_tick(c, now);
	core_settle(c, now);
}

void core_send_blocked(struct core *c, uint64_t now)
{
	c->now = now;
	handle_send_blocked(c, now);
	core_settle(c, now);
}

void core_request_spec(struct core *c, uint64_t now, uint64_t client_id, const char *text, size_t len)
{
	c->now = now;
	handle_request_spec(c, now, client_id, text, len);
	core_settle(c, now);
}

/* ---- construction and views ------------------------------------------------------------- */

static int load_snapshot(struct core *c, const char *text, char **error)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct state_doc d = { 0 };
	json_int_t format, version, sepoch, mepoch;
	int r = -EINVAL;

	if (!doc) {
		if (asprintf(error, "line %d: %s", jerr.line, jerr.text) < 0)
			*error = NULL;
		return -EINVAL;
	}
	if (json_unpack(doc, "{sI sI sI sI}", "format", &format, "version", &version, "state_epoch", &sepoch,
			"max_epoch", &mepoch) < 0 || version < 0 || sepoch < 0 || mepoch < sepoch) {
		*error = strdup("needs integer \"format\", \"version\", \"state_epoch\", \"max_epoch\" (max_epoch >= state_epoch >= 0)");
		goto out;
	}
	if (format != 1 && format != PERSIST_FORMAT) {
		if (asprintf(error, "format %" JSON_INTEGER_FORMAT " is not supported (this build reads 1 and %d)", format,
			     PERSIST_FORMAT) < 0)
			*error = NULL;
		goto out;
	}
	r = parse_state_doc(doc, &d, error);
	if (r < 0)
		goto out;
	take_state_doc(c, &d);
	c->version = (uint64_t)version;
	c->state_epoch = (uint64_t)sepoch;
	c->max_epoch = (uint64_t)mepoch;
	r = 0;
out:
	json_decref(doc);
	return r;
}

/*
 * Replays one journal record. Versioned records apply only as the next version (one the
 * snapshot already holds is skipped: the shell writes the snapshot before it empties the
 * journal); a gap means the journal is not this state's.
 */
static int replay_record(struct core *c, json_t *rec, unsigned line, char **error)
{
	json_int_t k = -1, v = 0, e = 0, me = 0;
	const struct update_kind *kind;
	json_t *payload = NULL;
	_cleanup_free_ char *why = NULL;

	if (json_unpack(rec, "{sI}", "k", &k) < 0)
		goto bad;
	if (k == 0) {
		if (json_unpack(rec, "{sI}", "max_epoch", &me) < 0 || me < 0)
			goto bad;
		if ((uint64_t)me > c->max_epoch)
			c->max_epoch = (uint64_t)me;
		return 0;
	}
	if (k == CORE_UPDATE_IDENTITY) {
		const char *id = json_string_value(json_object_get(rec, "cluster_id"));
		if (!id || !cluster_id_ok(id, strlen(id)))
			goto bad;
		if (c->cluster_id[0] && strcmp(c->cluster_id, id) != 0) {
			if (asprintf(error, "journal line %u names cluster %s, the snapshot %s", line, id, c->cluster_id) < 0)
				*error = NULL;
			return -EINVAL;
		}
		snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", id);
		rehash(c);
		return 0;
	}
	kind = k > 0 && k < 65536 ? update_kind_get((uint16_t)k) : NULL;
	if (!kind || !kind->apply || json_unpack(rec, "{sIsIso}", "v", &v, "e", &e, "p", &payload) < 0 || v < 1 || e < 0)
		goto bad;
	if ((uint64_t)v <= c->version)
		return 0;
	if ((uint64_t)v != c->version + 1) {
		if (asprintf(error, "journal line %u: version %" JSON_INTEGER_FORMAT " does not follow version %" PRIu64
			     " (the journal does not belong to this snapshot)", line, v, c->version) < 0)
			*error = NULL;
		return -EINVAL;
	}
	if (kind->validate(c, payload, &why) < 0) {
		if (asprintf(error, "journal line %u: %s update is invalid: %s", line, kind->name, why ? why : "?") < 0)
			*error = NULL;
		return -EINVAL;
	}
	kind->apply(c, payload);
	c->version = (uint64_t)v;
	c->state_epoch = (uint64_t)e;
	if (c->state_epoch > c->max_epoch)
		c->max_epoch = c->state_epoch;
	rehash(c);
	return 0;
bad:
	if (asprintf(error, "journal line %u: not a kvmcd journal record", line) < 0)
		*error = NULL;
	return -EINVAL;
}

static int load_journal(struct core *c, const char *journal, char **error)
{
	unsigned line = 0;

	for (const char *p = journal; p && *p;) {
		const char *nl = strchr(p, '\n');
		json_error_t jerr;
		json_t *rec;
		int r;

		line++;
		if (!nl)
			break; /* a torn last record: the crash came before its fdatasync, never acked */
		rec = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr);
		if (!rec) {
			if (asprintf(error, "journal line %u: %s", line, jerr.text) < 0)
				*error = NULL;
			return -EINVAL;
		}
		r = replay_record(c, rec, line, error);
		json_decref(rec);
		if (r < 0)
			return r;
		p = nl + 1;
	}
	return 0;
}

int core_new(const struct core_config *cfg, const char *snapshot, const char *journal, struct core **out,
	     char **error)
{
	struct core *c = calloc(1, sizeof(*c));
	int r;

	*error = NULL;
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->name = strdup(cfg->name && *cfg->name ? cfg->name : "?");
	c->cfg.name = NULL;
	c->cfg.cluster_id_candidate = NULL;
	c->nodeid = cfg->nodeid;
	c->cluster_proto = cfg->proto_max;
	c->records = json_object();
	c->sections = json_object();
	if (!c->name || !c->records || !c->sections) {
		core_free(c);
		return -ENOMEM;
	}
	set_spec(c, json_object());
	if (cfg->cluster_id_candidate) {
		if (!cluster_id_ok(cfg->cluster_id_candidate, strlen(cfg->cluster_id_candidate))) {
			*error = strdup("cluster id candidate is not 32 lower-case hex characters");
			core_free(c);
			return -EINVAL;
		}
		snprintf(c->id_candidate, sizeof(c->id_candidate), "%s", cfg->cluster_id_candidate);
	}
	if (c->cfg.stall_timeout_usec == 0)
		c->cfg.stall_timeout_usec = 8 * USEC_PER_SEC;
	if (c->cfg.heartbeat_usec == 0)
		c->cfg.heartbeat_usec = c->cfg.stall_timeout_usec / 2;
	if (c->cfg.quorum_grace_usec == 0)
		c->cfg.quorum_grace_usec = c->cfg.stall_timeout_usec / 8;
	if (c->cfg.lease_usec == 0)
		c->cfg.lease_usec = c->cfg.stall_timeout_usec + c->cfg.quorum_grace_usec;
	if (c->cfg.request_timeout_usec == 0)
		c->cfg.request_timeout_usec = 30 * USEC_PER_SEC;
	r = snapshot ? load_snapshot(c, snapshot, error) : 0;
	if (r >= 0)
		r = load_journal(c, journal, error);
	if (r < 0) {
		core_free(c);
		return r;
	}
	rehash(c);
	*out = c;
	return 0;
}

void core_free(struct core *c)
{
	struct core_action a;

	if (!c)
		return;
	while (core_next_action(c, &a))
		core_action_clear(&a);
	while (c->pending) {
		struct pending *p = c->pending;
		c->pending = p->next;
		pending_free(p);
	}
	for (size_t i = 0; i < c->n_members; i++)
		free(c->members[i].name);
	json_decref(c->spec);
	json_decref(c->records);
	json_decref(c->proposed_spec);
	json_decref(c->sections);
	json_decref(c->own_section);
	json_decref(c->sent_section);
	free(c->xfer_buf);
	free(c->name);
	free(c);
}

char *core_persist_json(const struct core *c)
{
	json_t *doc = json_pack("{sisIsIsIsOsOsIsI}", "format", PERSIST_FORMAT, "version", (json_int_t)c->version,
				"state_epoch", (json_int_t)c->state_epoch, "max_epoch", (json_int_t)c->max_epoch,
				"spec", c->spec, "records", c->records,
				"leader_id", (json_int_t)c->leader_id, "leader_epoch", (json_int_t)c->leader_epoch);
	char *s;

	if (!doc)
		return NULL;
	if (c->cluster_id[0])
		json_object_set_new(doc, "cluster_id", json_string(c->cluster_id));
	s = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(doc);
	return s;
}

static const char *member_state(const struct core *c, const struct member *m)
{
	if (c->phase != PHASE_SYNCED && c->phase != PHASE_SYNC_FAILED)
		return m->have_info ? "syncing" : "joining";
	if (m->foreign)
		return "foreign";
	if (!m->compatible)
		return "incompatible";
	return "synced";
}

json_t *core_status_json(const struct core *c, uint64_t now)
{
	json_t *members = json_array(), *leader = json_null(), *st, *dropped = json_object();
	const char *sync_state = c->stalled ? "stalled" : phase_names[c->phase];

	for (size_t i = 0; i < c->n_members; i++) {
		const struct member *m = &c->members[i];
		const char *name = member_name(c, m->nodeid);
		json_array_append_new(members, json_pack("{sIss?sssbsb}", "id", (json_int_t)m->nodeid, "name", name,
							 "state", member_state(c, m), "leader",
							 m->nodeid == c->leader_id, "quorate", m->quorate));
	}
	if (c->leader_id) {
		const char *name = member_name(c, c->leader_id);
		leader = json_pack("{sIss?sI}", "id", (json_int_t)c->leader_id, "name", name, "epoch",
				   (json_int_t)c->leader_epoch);
	}
	for (int e = 1; e < _WIRE_ERR_MAX; e++)
		json_object_set_new(dropped, wire_error_name(e), json_integer((json_int_t)c->dropped[e]));
	json_object_set_new(dropped, "unexpected", json_integer((json_int_t)c->dropped_unexpected));

	st = json_pack("{s{sIss}sbsIsIsosOsIsIsIs{sssIsbsfsI}sisbsIso}",
		       "node", "id", (json_int_t)c->nodeid, "name", c->name,
		       "quorate", c->quorate,
		       "votes", (json_int_t)c->votes,
		       "expected_votes", (json_int_t)c->expected_votes,
		       "leader", leader,
		       "members", members,
		       "state_version", (json_int_t)c->version,
		       "state_epoch", (json_int_t)c->state_epoch,
		       "committed_version", (json_int_t)c->committed,
		       "sync",
		       "state", sync_state,
		       "round", (json_int_t)c->round,
		       "stalled", c->stalled,
		       "seconds_in_state", (double)(now - (c->stalled ? c->stalled_since : c->phase_since)) / 1e6,
		       "max_epoch", (json_int_t)c->max_epoch,
		       "cluster_protocol", (int)c->cluster_proto,
		       "is_leader", c->held,
		       "pending_requests", (json_int_t)({ size_t k = 0; for (const struct pending *p = c->pending; p; p = p->next) k++; k; }),
		       "dropped_messages", dropped);
	json_decref(members);
	if (!st)
		return NULL;
	/* Added with the replicated document's sections; the fields above are unchanged. */
	json_object_set_new(st, "cluster_id", json_string(c->cluster_id));
	json_object_set_new(st, "no_leader_reason", json_string(core_no_leader_reason(c)));
	json_object_set_new(st, "acting", json_boolean(c->acting));
	json_object_set_new(st, "recording", json_boolean(c->recording));
	json_object_set_new(st, "may_act", json_boolean(may_act(c)));
	json_object_set_new(st, "records", json_integer((json_int_t)json_object_size(c->records)));
	{
		json_t *secs = json_object();
		const char *k;
		json_t *v;

		json_object_foreach(c->sections, k, v)
			json_object_set_new(secs, k, json_pack("{sOsO}", "name", json_object_get(v, "name"), "seq",
							       json_object_get(v, "seq")));
		json_object_set_new(st, "node_sections", secs);
	}
	return st;
}

json_t *core_spec_json(const struct core *c) { return json_deep_copy(c->spec); }
bool core_is_leader(const struct core *c) { return c->held; }
uint64_t core_leader_epoch(const struct core *c) { return c->leader_id ? c->leader_epoch : 0; }
uint32_t core_leader_id(const struct core *c) { return c->leader_id; }
uint64_t core_state_version(const struct core *c) { return c->version; }
uint64_t core_state_hash(const struct core *c) { return c->hash; }
bool core_is_synced(const struct core *c) { return c->phase == PHASE_SYNCED && !c->stalled; }
bool core_is_quorate(const struct core *c) { return c->quorate; }
bool core_is_stalled(const struct core *c) { return c->stalled; }

bool core_is_stalled_at(const struct core *c, uint64_t now)
{
	bool expect_traffic = expects_traffic(c);

	return c->stalled || (expect_traffic && now >= c->last_delivery + c->cfg.stall_timeout_usec);
}

const json_t *core_records(const struct core *c) { return c->records; }
const json_t *core_node_sections(const struct core *c) { return c->sections; }
uint64_t core_node_sections_generation(const struct core *c) { return c->sections_gen; }
const json_t *core_spec(const struct core *c) { return c->spec; }
const char *core_cluster_id(const struct core *c) { return c->cluster_id; }
bool core_is_acting(const struct core *c) { return c->acting; }
bool core_is_recording(const struct core *c) { return c->recording; }

void core_two_node(struct core *c, bool two_node) { c->two_node = two_node; }

uint64_t core_claim_pending(const struct core *c)
{
	return c->held && c->claim_needed && c->leader_id == c->nodeid && c->claim_won_epoch != c->leader_epoch
		       ? c->leader_epoch
		       : 0;
}

uint64_t core_two_node_alone_since(const struct core *c) { return c->alone_since; }
bool core_two_node_peer_seen(const struct core *c) { return c->peer_seen; }

void core_claim_won(struct core *c, uint64_t now, uint64_t epoch)
{
	if (!epoch || epoch != core_claim_pending(c))
		return;
	c->claim_won_epoch = epoch;
	decide(c, CORE_LOG_NOTICE, "claim-won", "{sI}", "epoch", (json_int_t)epoch);
	core_settle(c, now);
}
bool core_may_act(const struct core *c) { return may_act(c); }
uint64_t core_committed_version(const struct core *c) { return c->committed; }

const char *core_no_leader_reason(const struct core *c)
{
	if (c->leader_id)
		return "";
	if (c->phase == PHASE_DISCONNECTED)
		return "this node is not connected to corosync";
	if (c->stalled)
		return "the membership is stalled (corosync delivers nothing)";
	if (!c->quorate)
		return "this node's partition is not quorate";
	if (c->no_leader_why[0] && c->phase == PHASE_SYNCED)
		return c->no_leader_why;
	if (c->phase == PHASE_SYNC_FAILED)
		return c->no_leader_why[0] ? c->no_leader_why : "this node could not take the cluster's state";
	if (c->election_pending)
		return "the election waits for every member's quorum verdict";
	return "the membership is syncing";
}
