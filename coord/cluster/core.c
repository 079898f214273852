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
#include "macros.h"
#include "spec.h"

#define PERSIST_FORMAT 1

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
	bool compatible;         /* valid once the info phase completed */
	uint64_t acked_version;  /* highest version it acked in this view */
};

/* A local client waiting for its change to commit. */
struct pending {
	uint64_t client_id;
	uint64_t request_id;
	uint64_t deadline;
	char *payload;           /* owned: canonical spec text */
	bool sent;               /* REQUEST multicast in the current view */
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

	/* replicated state */
	json_t *spec;                    /* owned */
	json_t *status;                  /* owned */
	uint64_t version, state_epoch, hash;
	uint64_t max_epoch;              /* highest epoch ever seen; persisted */

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

	struct action_node *act_head, *act_tail; /* owned queue */
};

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

_printf_(3, 4) static void logf_(struct core *c, int level, const char *fmt, ...)
{
	struct core_action a = { .type = CORE_ACT_LOG, .level = level, .event = "log" };
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text && (a.fields = json_pack("{ss}", "text", text)))
		push(c, &a);
}

static void reply(struct core *c, uint64_t client_id, int error, uint64_t version, const char *fmt, ...)
	_printf_(5, 6);
static void reply(struct core *c, uint64_t client_id, int error, uint64_t version, const char *fmt, ...)
{
	struct core_action a = { .type = CORE_ACT_REPLY, .client_id = client_id, .error = error,
				 .version = version };
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
		logf_(c, CORE_LOG_ERR, "BUG: cannot encode %s", wire_type_name(m->type));
		return;
	}
	push(c, &a);
}

static void persist(struct core *c)
{
	push(c, &(struct core_action){ .type = CORE_ACT_PERSIST });
}

/* ---- state ------------------------------------------------------------------------------ */

/* The replicated document: what is hashed and what a state transfer carries. */
static char *state_text(const struct core *c)
{
	json_t *doc = json_pack("{sOsO}", "spec", c->spec, "status", c->status);
	char *s;

	if (!doc)
		return NULL;
	s = spec_canonical(doc);
	json_decref(doc);
	return s;
}

static void rehash(struct core *c)
{
	_cleanup_free_ char *s = state_text(c);

	if (!s)
		abort();
	c->hash = spec_hash_bytes(s, strlen(s));
}

/* Parses a replicated document; on success takes ownership into *spec and *status. */
static int parse_state_doc(json_t *doc, json_t **spec, json_t **status, char **error)
{
	struct spec_problems p = { 0 };
	json_t *s = json_object_get(doc, "spec"), *st = json_object_get(doc, "status");

	if (!json_is_object(s) || !json_is_object(st)) {
		if (error)
			*error = strdup("\"spec\" and \"status\" must be objects");
		return -EINVAL;
	}
	if (spec_validate(s, &p) < 0) {
		if (error) {
			_cleanup_free_ char *j = spec_problems_join(&p);
			if (asprintf(error, "invalid spec: %s", j ? j : "?") < 0)
				*error = NULL;
		}
		spec_problems_clear(&p);
		return -EINVAL;
	}
	*spec = json_incref(s);
	*status = json_incref(st);
	return 0;
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
	if (c->held == held)
		return;
	c->held = held;
	if (held) {
		c->next_base = c->version;
		c->next_hb = now + c->cfg.stall_timeout_usec / 2;
	}
	push(c, &(struct core_action){ .type = CORE_ACT_ROLE, .is_leader = held,
				       .epoch = held ? c->leader_epoch : 0 });
}

/* The leader issues changes only in a synced view with a settled election. */
static bool can_propose(const struct core *c)
{
	return c->held && c->phase == PHASE_SYNCED && !c->election_pending;
}

/* Ends whatever leadership we follow or hold; the next election gives a new epoch. */
static void drop_leader(struct core *c, uint64_t now, const char *why)
{
	if (c->leader_id || c->claim_id)
		logf_(c, CORE_LOG_NOTICE, "leadership of %" PRIu32 " epoch %" PRIu64 " ended: %s",
		      c->leader_id ? c->leader_id : c->claim_id, c->leader_id ? c->leader_epoch : c->claim_epoch, why);
	c->leader_id = 0;
	c->leader_epoch = 0;
	c->claim_id = 0;
	c->claim_epoch = 0;
	set_held(c, false, now);
}

static void update_role(struct core *c, uint64_t now)
{
	set_held(c, c->leader_id == c->nodeid && c->quorate && !c->stalled && c->phase != PHASE_DISCONNECTED &&
			    c->phase != PHASE_SYNC_FAILED, now);
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
			reply(c, p->client_id, 0, p->version, "applied: version %" PRIu64, p->version);
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
	logf_(c, CORE_LOG_INFO, "committed version %" PRIu64, committed);
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
		logf_(c, CORE_LOG_INFO, "election waits: %zu of %zu members report quorum", n_quorate, c->n_members);
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
	 * corosync's quorum counts hosts whose corosync runs, not whose kvmcd runs. Every change is
	 * committed by all kvmcd members of a view; demanding that the members of a leader's view
	 * be a majority of the expected votes makes every such view overlap every committing one,
	 * so "newest state wins" always carries the last committed change forward. Without it, a
	 * node with a stale disk starting alone beside idle corosyncs could lead and overwrite it.
	 */
	if (n_quorate && expected && n_eligible * 2 <= expected) {
		snprintf(c->no_leader_why, sizeof(c->no_leader_why),
			 "only %zu of %" PRIu32 " expected members run kvmcd here; a majority is needed to be sure no committed change is missed",
			 n_eligible, expected);
		if (c->leader_id || !c->claim_id)
			logf_(c, CORE_LOG_NOTICE, "no leader: %s", c->no_leader_why);
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
		       prev->leader_epoch >= max_epoch;
	}
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
			logf_(c, CORE_LOG_NOTICE, "no leader: no member reports quorum (votes %" PRIu32 "/%" PRIu32 ")",
			      c->votes, c->expected_votes);
		c->leader_id = 0;
		c->leader_epoch = 0;
		return;
	}
	if (leader != c->leader_id || epoch != c->leader_epoch)
		logf_(c, CORE_LOG_NOTICE, "leader %" PRIu32 " epoch %" PRIu64 " (%s)", leader, epoch,
		      kept ? "kept" : "new");
	c->no_leader_why[0] = 0;
	c->leader_id = c->claim_id = leader;
	c->leader_epoch = c->claim_epoch = epoch;
	if (epoch > c->max_epoch)
		c->max_epoch = epoch;
	persist(c);
}

static void sync_complete(struct core *c, uint64_t now)
{
	set_phase(c, PHASE_SYNCED, now);
	for (size_t i = 0; i < c->n_members; i++)
		c->members[i].acked_version = c->version;
	c->committed = c->version;
	logf_(c, CORE_LOG_INFO, "synced: version %" PRIu64 " epoch %" PRIu64 " round %" PRIu32, c->version,
	      c->state_epoch, c->round);
	elect(c, now);
	update_role(c, now);
	/* Every member now holds this state: what a local client changed and survived is committed. */
	if (!c->replaced_by_sync)
		resolve_committed(c);
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

static void info_phase_done(struct core *c, uint64_t now)
{
	struct member *best = NULL, *self = member_get(c, c->nodeid);
	uint16_t proto = UINT16_MAX;
	bool stale = false;

	for (size_t i = 0; i < c->n_members; i++)
		if (c->members[i].proto_max < proto)
			proto = c->members[i].proto_max;
	if (proto != c->cluster_proto)
		logf_(c, CORE_LOG_NOTICE, "cluster protocol %u", proto);
	c->cluster_proto = proto;
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		m->compatible = m->proto_min <= proto;
		if (!m->compatible)
			logf_(c, CORE_LOG_WARNING,
			      "member %" PRIu32 " is incompatible: it speaks protocol %u..%u, the cluster %u; it takes no part until the others are upgraded",
			      m->nodeid, m->proto_min, m->proto_max, proto);
	}
	if (self && !self->compatible) {
		drop_leader(c, now, "this node is incompatible with the cluster protocol");
		set_phase(c, PHASE_SYNC_FAILED, now);
		return;
	}

	/* Newest state among compatible members; ties with different content are a divergence. */
	for (size_t i = 0; i < c->n_members; i++) {
		struct member *m = &c->members[i];
		if (!m->compatible)
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
			logf_(c, CORE_LOG_WARNING,
			      "diverged: members %" PRIu32 " and %" PRIu32 " both hold version %" PRIu64 " epoch %" PRIu64
			      " with different content; %" PRIu32 "'s copy wins",
			      best->nodeid, m->nodeid, best->state_version, best->state_epoch, best->nodeid);
		if (m->state_epoch != best->state_epoch || m->state_version != best->state_version ||
		    m->state_hash != best->state_hash)
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
			      c->state_epoch != best->state_epoch;
	set_phase(c, PHASE_STATE, now);
	logf_(c, CORE_LOG_INFO, "sync: member %" PRIu32 " sends version %" PRIu64 " epoch %" PRIu64 "%s",
	      best->nodeid, best->state_version, best->state_epoch, c->xfer_needed_here ? " (this node is behind)" : "");
	if (best->nodeid == c->nodeid)
		send_state(c);
}

/* ---- message handlers ------------------------------------------------------------------- */

static void drop(struct core *c, uint32_t sender, const char *type, const char *why)
{
	c->dropped_unexpected++;
	logf_(c, CORE_LOG_DEBUG, "dropped %s from %" PRIu32 ": %s", type, sender, why);
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

	if (c->phase != PHASE_INFO)
		return;
	for (size_t i = 0; i < c->n_members; i++)
		if (!c->members[i].have_info)
			return;
	info_phase_done(c, now);
}

static void on_chunk(struct core *c, uint64_t now, uint32_t sender, const struct wire_state_chunk *k)
{
	json_t *doc, *spec = NULL, *status = NULL;
	json_error_t jerr;
	_cleanup_free_ char *err = NULL;

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
		if (spec_hash_bytes(c->xfer_buf, c->xfer_total) != c->xfer_hash) {
			logf_(c, CORE_LOG_ERR, "state from %" PRIu32 " does not match its hash; not applied", sender);
			set_phase(c, PHASE_SYNC_FAILED, now);
			return;
		}
		doc = json_loadb((const char *)c->xfer_buf, c->xfer_total, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc || parse_state_doc(doc, &spec, &status, &err) < 0) {
			logf_(c, CORE_LOG_ERR, "state from %" PRIu32 " is unreadable (%s); not applied", sender,
			      doc ? (err ? err : "?") : jerr.text);
			json_decref(doc);
			set_phase(c, PHASE_SYNC_FAILED, now);
			return;
		}
		json_decref(doc);
		logf_(c, CORE_LOG_NOTICE, "took state version %" PRIu64 " epoch %" PRIu64 " from %" PRIu32
			 " (had version %" PRIu64 " epoch %" PRIu64 ")",
		      c->xfer_version, c->xfer_epoch, sender, c->version, c->state_epoch);
		json_decref(c->spec);
		json_decref(c->status);
		c->spec = spec;
		c->status = status;
		c->version = c->xfer_version;
		c->state_epoch = c->xfer_epoch;
		c->hash = c->xfer_hash;
		if (c->state_epoch > c->max_epoch)
			c->max_epoch = c->state_epoch;
		c->replaced_by_sync = true;
		free(c->xfer_buf);
		c->xfer_buf = NULL;
		persist(c);
	}
	sync_complete(c, now);
}

static void on_request(struct core *c, uint64_t now, uint32_t sender, const struct wire_request *r)
{
	struct wire_msg m = { 0 };
	struct spec_problems p = { 0 };
	json_t *spec = NULL;
	_cleanup_free_ char *canon = NULL, *problems = NULL;

	if (!can_propose(c))
		return; /* not ours to answer; the origin retries after the next sync or times out */
	if (r->kind != WIRE_KIND_SPEC)
		return drop(c, sender, "request", "unsupported kind");
	if (spec_parse((const char *)r->payload.data, r->payload.len, &spec, &p) < 0) {
		problems = spec_problems_join(&p);
		spec_problems_clear(&p);
		m.type = WIRE_REJECT;
		m.reject.origin = sender;
		m.reject.request_id = r->request_id;
		m.reject.error = EINVAL;
		m.reject.message = (struct wire_bytes){ (const uint8_t *)(problems ? problems : "invalid spec"),
						      (uint32_t)strnlen(problems ? problems : "invalid spec", WIRE_MAX_TEXT) };
		logf_(c, CORE_LOG_NOTICE, "refused request %" PRIu64 " of %" PRIu32 ": invalid spec", r->request_id, sender);
		send_msg(c, &m);
		return;
	}
	canon = spec_canonical(spec);
	json_decref(spec);
	if (!canon)
		abort();
	m.type = WIRE_PROPOSE;
	m.propose.leader_epoch = c->leader_epoch;
	m.propose.base_version = c->next_base++;
	m.propose.origin = sender;
	m.propose.request_id = r->request_id;
	m.propose.kind = WIRE_KIND_SPEC;
	m.propose.payload = (struct wire_bytes){ (const uint8_t *)canon, (uint32_t)strlen(canon) };
	send_msg(c, &m);
}

static void on_propose(struct core *c, uint64_t now, uint32_t sender, const struct wire_propose *p)
{
	struct wire_msg ack = { .type = WIRE_ACK };
	json_t *doc;
	json_error_t jerr;
	struct spec_problems probs = { 0 };
	struct pending *pend;

	if (c->phase != PHASE_SYNCED || sender != c->leader_id || p->leader_epoch != c->leader_epoch)
		return drop(c, sender, "propose", "not from the current leader");
	if (p->base_version != c->version)
		return drop(c, sender, "propose", "for another base version");
	doc = json_loadb((const char *)p->payload.data, p->payload.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc || (p->kind == WIRE_KIND_SPEC ? spec_validate(doc, &probs) < 0 : !json_is_object(doc))) {
		spec_problems_clear(&probs);
		json_decref(doc);
		logf_(c, CORE_LOG_ERR, "change %" PRIu64 " from leader %" PRIu32 " is unreadable here; not applied",
		      p->base_version + 1, sender);
		trigger_round(c, now);
		return;
	}
	if (p->kind == WIRE_KIND_SPEC) {
		json_decref(c->spec);
		c->spec = doc;
	} else {
		json_decref(c->status);
		c->status = doc;
	}
	c->version = p->base_version + 1;
	c->state_epoch = p->leader_epoch;
	rehash(c);
	c->applied_total++;
	logf_(c, CORE_LOG_INFO, "applied version %" PRIu64 " (%s) from leader %" PRIu32 " epoch %" PRIu64,
	      c->version, p->kind == WIRE_KIND_SPEC ? "spec" : "status", sender, p->leader_epoch);
	persist(c);
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
		logf_(c, CORE_LOG_ERR, "member %" PRIu32 " acked version %" PRIu64 " with different content; resyncing",
		      sender, a->version);
		trigger_round(c, now);
		return;
	}
	if (a->version > m->acked_version)
		m->acked_version = a->version;
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
	reply(c, p->client_id, -r->error, c->version, "refused by leader %" PRIu32 ": %.*s", sender,
	      (int)r->message.len, (const char *)r->message.data);
	pending_remove(c, p);
}

/* Called for every delivery from corosync: that is what "not stalled" means. */
static void delivered(struct core *c, uint64_t now, bool resync)
{
	c->last_delivery = now;
	if (c->stalled) {
		c->stalled = false;
		logf_(c, CORE_LOG_NOTICE, "membership delivering again after %.1fs; resyncing",
		      (double)(now - c->stalled_since) / 1e6);
		if (resync)
			trigger_round(c, now);
	}
}

void core_message(struct core *c, uint64_t now, uint32_t sender, const void *data, size_t len)
{
	struct wire_msg m;
	enum wire_error e;

	if (c->phase == PHASE_DISCONNECTED)
		return;
	delivered(c, now, true);
	e = wire_decode(data, len, c->cfg.proto_min, c->cfg.proto_max, &m);
	if (e != WIRE_OK) {
		c->dropped[e]++;
		logf_(c, CORE_LOG_WARNING, "dropped message from %" PRIu32 " (%zu bytes): %s", sender, len,
		      wire_error_name(e));
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
	}
}

/* ---- membership and quorum events ------------------------------------------------------- */

static void fail_pending(struct core *c, int error, const char *why)
{
	while (c->pending) {
		struct pending *p = c->pending;
		reply(c, p->client_id, error, c->version, "%s", why);
		c->pending = p->next;
		pending_free(p);
	}
}

void core_connected(struct core *c, uint64_t now, uint32_t local_nodeid)
{
	c->nodeid = local_nodeid;
	c->n_members = 0;
	c->last_delivery = now;
	set_phase(c, PHASE_NO_VIEW, now);
	logf_(c, CORE_LOG_NOTICE, "connected to corosync as node %" PRIu32, local_nodeid);
}

void core_disconnected(struct core *c, uint64_t now)
{
	if (c->phase == PHASE_DISCONNECTED)
		return;
	logf_(c, CORE_LOG_WARNING, "lost the corosync connection: acting as inquorate");
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

void core_confchg(struct core *c, uint64_t now, const uint32_t *members, size_t n_members,
		  const struct core_left *left, size_t n_left)
{
	uint32_t sorted[WIRE_MAX_MEMBERS];
	struct member old[WIRE_MAX_MEMBERS];
	size_t n_old = c->n_members, n = 0;
	char buf[1024];
	int off = 0;

	if (c->phase == PHASE_DISCONNECTED)
		return;
	delivered(c, now, false); /* the new view starts its own round */
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

	off += snprintf(buf + off, sizeof(buf) - off, "view [");
	for (size_t i = 0; i < n && off < (int)sizeof(buf) - 32; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%" PRIu32, i ? " " : "", c->members[i].nodeid);
	off += snprintf(buf + off, sizeof(buf) - off, "]");
	for (size_t i = 0; i < n_left && off < (int)sizeof(buf) - 48; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%" PRIu32 " %s", i ? ", " : " left: ", left[i].nodeid,
				reason_name(left[i].reason));
	logf_(c, CORE_LOG_INFO, "%s", buf);

	if (!member_get(c, c->nodeid))
		return; /* a view without us: corosync is about to tell us we left */
	if ((c->leader_id && !member_get(c, c->leader_id)) || (c->claim_id && !member_get(c, c->claim_id)))
		drop_leader(c, now, "the leader left the group");
	for (size_t i = 0; i < n_left; i++) {
		bool known_gone = c->have_quorum_nodes;
		for (size_t k = 0; k < c->n_quorum_nodes; k++)
			if (c->quorum_nodes[k] == left[i].nodeid)
				known_gone = false;
		/* If votequorum's last word already excludes the node, its verdict is current. */
		if (left[i].reason == CORE_LEAVE_NODEDOWN && !known_gone && !c->quorum_unconfirmed) {
			c->quorum_unconfirmed = true;
			c->quorum_grace_until = now + c->cfg.stall_timeout_usec / 8;
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

void core_quorum(struct core *c, uint64_t now, bool quorate, uint32_t total_votes, uint32_t expected_votes)
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
	logf_(c, CORE_LOG_NOTICE, "quorum %s (votes %" PRIu32 "/%" PRIu32 ")", quorate ? "regained" : "lost",
	      total_votes, expected_votes);
	if (!quorate) {
		drop_leader(c, now, "quorum lost");
		fail_pending(c, -EAGAIN, "quorum lost before the change committed; retry when quorate");
	}
	update_role(c, now);
	trigger_round(c, now);
}

void core_send_blocked(struct core *c, uint64_t now)
{
	if (c->stalled || c->phase == PHASE_DISCONNECTED)
		return;
	c->stalled = true;
	c->stalled_since = now;
	logf_(c, CORE_LOG_WARNING, "membership stalled: corosync refuses to send (try again) for too long");
	drop_leader(c, now, "membership stalled");
	fail_pending(c, -EAGAIN, "cluster membership stalled (corosync refuses to send) before the change committed; retry");
	trigger_round(c, now);
}

void core_tick(struct core *c, uint64_t now)
{
	struct pending *p, *next;
	bool expect_traffic = c->phase == PHASE_INFO || c->phase == PHASE_STATE ||
			      (c->phase == PHASE_SYNCED && c->leader_id);

	if (!c->stalled && expect_traffic && now >= c->last_delivery + c->cfg.stall_timeout_usec) {
		c->stalled = true;
		c->stalled_since = now;
		logf_(c, CORE_LOG_WARNING, "membership stalled: nothing delivered by corosync for %.1fs",
		      (double)(now - c->last_delivery) / 1e6);
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
		c->next_hb = now + c->cfg.stall_timeout_usec / 2;
	}
	for (p = c->pending; p; p = next) {
		next = p->next;
		if (now >= p->deadline) {
			reply(c, p->client_id, -ETIMEDOUT, c->version,
			      "not committed within %.0fs (leader %" PRIu32 ", %s); the change may still apply, check `kvmcctl spec get`",
			      (double)c->cfg.request_timeout_usec / 1e6, c->leader_id, phase_names[c->phase]);
			pending_remove(c, p);
		}
	}
}

uint64_t core_next_deadline(const struct core *c)
{
	uint64_t d = 0;
	bool expect_traffic = c->phase == PHASE_INFO || c->phase == PHASE_STATE ||
			      (c->phase == PHASE_SYNCED && c->leader_id);

#define EARLIER(x) do { uint64_t _x = (x); if (_x && (!d || _x < d)) d = _x; } while (0)
	if (!c->stalled && expect_traffic)
		EARLIER(c->last_delivery + c->cfg.stall_timeout_usec);
	if (c->held)
		EARLIER(c->next_hb);
	if (c->quorum_unconfirmed)
		EARLIER(c->quorum_grace_until);
	for (const struct pending *p = c->pending; p; p = p->next)
		EARLIER(p->deadline);
#undef EARLIER
	return d;
}

void core_request_spec(struct core *c, uint64_t now, uint64_t client_id, const char *text, size_t len)
{
	struct spec_problems probs = { 0 };
	json_t *spec = NULL;
	struct pending *p;
	char *canon;

	if (spec_parse(text, len, &spec, &probs) < 0) {
		_cleanup_free_ char *all = spec_problems_join(&probs);
		spec_problems_clear(&probs);
		reply(c, client_id, -EINVAL, c->version, "invalid spec, nothing applied:\n%s", all ? all : "?");
		return;
	}
	if (json_equal(spec, c->spec) && c->phase == PHASE_SYNCED) {
		json_decref(spec);
		reply(c, client_id, 0, c->version, "unchanged: version %" PRIu64, c->version);
		return;
	}
	canon = spec_canonical(spec);
	json_decref(spec);
	if (!canon)
		abort();
	if (c->phase == PHASE_DISCONNECTED || c->phase == PHASE_NO_VIEW) {
		free(canon);
		reply(c, client_id, -ENOTCONN, c->version,
		      "refused: this node is not connected to the cluster (corosync %s); nothing applied",
		      c->phase == PHASE_DISCONNECTED ? "unreachable" : "joining");
		return;
	}
	if (!c->quorate) {
		free(canon);
		reply(c, client_id, -EAGAIN, c->version,
		      "refused: this node's partition is not quorate (votes %" PRIu32 " of %" PRIu32 " expected); changes need quorum, nothing applied",
		      c->votes, c->expected_votes);
		return;
	}
	if (c->stalled) {
		free(canon);
		reply(c, client_id, -EAGAIN, c->version,
		      "refused: cluster membership is stalled (corosync delivers nothing); nothing applied");
		return;
	}
	if (c->phase == PHASE_SYNCED && !c->leader_id && !c->election_pending && c->no_leader_why[0]) {
		free(canon);
		reply(c, client_id, -EAGAIN, c->version, "refused: no leader: %s; nothing applied", c->no_leader_why);
		return;
	}
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

/* ---- construction and views ------------------------------------------------------------- */

static int load_persisted(struct core *c, const char *text, char **error)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	json_t *spec = NULL, *status = NULL;
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
	if (format != PERSIST_FORMAT) {
		if (asprintf(error, "format %" JSON_INTEGER_FORMAT " is not supported (this build reads %d)", format,
			     PERSIST_FORMAT) < 0)
			*error = NULL;
		goto out;
	}
	r = parse_state_doc(doc, &spec, &status, error);
	if (r < 0)
		goto out;
	json_decref(c->spec);
	json_decref(c->status);
	c->spec = spec;
	c->status = status;
	c->version = (uint64_t)version;
	c->state_epoch = (uint64_t)sepoch;
	c->max_epoch = (uint64_t)mepoch;
	r = 0;
out:
	json_decref(doc);
	return r;
}

int core_new(const struct core_config *cfg, const char *persisted, const char *journal, struct core **out,
	     char **error)
{
	struct core *c = calloc(1, sizeof(*c));

	*error = NULL;
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->name = strdup(cfg->name && *cfg->name ? cfg->name : "?");
	c->cfg.name = NULL;
	c->nodeid = cfg->nodeid;
	c->cluster_proto = cfg->proto_max;
	c->spec = json_object();
	c->status = json_object();
	if (!c->name || !c->spec || !c->status) {
		core_free(c);
		return -ENOMEM;
	}
	if (c->cfg.stall_timeout_usec == 0)
		c->cfg.stall_timeout_usec = 8 * USEC_PER_SEC;
	if (c->cfg.request_timeout_usec == 0)
		c->cfg.request_timeout_usec = 30 * USEC_PER_SEC;
	if (persisted) {
		int r = load_persisted(c, persisted, error);
		if (r < 0) {
			core_free(c);
			return r;
		}
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
	json_decref(c->status);
	free(c->xfer_buf);
	free(c->name);
	free(c);
}

char *core_persist_json(const struct core *c)
{
	json_t *doc = json_pack("{sisIsIsIsOsOsIsI}", "format", PERSIST_FORMAT, "version", (json_int_t)c->version,
				"state_epoch", (json_int_t)c->state_epoch, "max_epoch", (json_int_t)c->max_epoch,
				"spec", c->spec, "status", c->status,
				"leader_id", (json_int_t)c->leader_id, "leader_epoch", (json_int_t)c->leader_epoch);
	char *s;

	if (!doc)
		return NULL;
	s = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(doc);
	return s;
}

static const char *member_state(const struct core *c, const struct member *m)
{
	if (c->phase != PHASE_SYNCED && c->phase != PHASE_SYNC_FAILED)
		return m->have_info ? "syncing" : "joining";
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

char *core_log_text(const struct core_action *a)
{
	const char *t = json_string_value(json_object_get(a->fields, "text"));

	return strdup(t ? t : "");
}

char *core_log_trace(const struct core_action *a)
{
	_cleanup_free_ char *f = a->fields ? json_dumps(a->fields, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	char *s;

	if (asprintf(&s, "%s %s", a->event ? a->event : "?", f ? f : "{}") < 0)
		return NULL;
	return s;
}

int core_leader_patch(struct core *c, uint64_t now, uint64_t epoch, const json_t *patch, uint64_t *version,
		      char **error)
{
	return -EOPNOTSUPP;
}

int core_node_publish(struct core *c, uint64_t now, const json_t *section, char **error)
{
	return -EOPNOTSUPP;
}

static json_t *empty_object(void)
{
	static json_t *e;

	if (!e)
		e = json_object();
	return e;
}
const json_t *core_records(const struct core *c) { return empty_object(); }
const json_t *core_node_sections(const struct core *c) { return empty_object(); }
const json_t *core_spec(const struct core *c) { return c->spec; }
const char *core_cluster_id(const struct core *c) { return ""; }
bool core_is_acting(const struct core *c) { return can_propose(c); }
bool core_may_act(const struct core *c) { return c->phase == PHASE_SYNCED && c->quorate && !c->stalled; }
uint64_t core_committed_version(const struct core *c) { return c->committed; }
const char *core_no_leader_reason(const struct core *c) { return c->leader_id ? "" : c->no_leader_why; }
