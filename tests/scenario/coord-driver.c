/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for the coordination core (coord/cluster/core.c, the same code the daemon
 * runs): N cores in one process over a simulated corosync. Built with runner.c into
 * scenario-sim; runner.h describes the runner, the command line and the random mode.
 *
 * What is simulated:
 *   - CPG with extended virtual synchrony: messages are delivered in one total order, only in
 *     the view they were sent in; messages of a view in flight at a membership change are
 *     flushed to the members that stay together, the rest dropped;
 *   - votequorum: one vote per node whose corosync runs, quorate with more than half of the
 *     expected votes (= nodes N), its node list passed with every verdict;
 *   - failure detection and merge delays, partitions, stalls (corosync delivering nothing, as
 *     in an asymmetric partition or a frozen corosync: what a stalled node sends stays queued,
 *     what it should receive comes late, in order, if the others have not re-formed without it
 *     -- they do after `detect`), per-node delivery delays;
 *   - agent and corosync restarts; each node's "disk" keeps the snapshot and the journal the
 *     core's PERSIST actions wrote (folded into a snapshot when the journal outgrows it, as the
 *     daemon does), and a restarted agent starts from them;
 *   - the shell's facts: a node re-publishes its last published section when its agent starts.
 *
 * The trace (golden: FILE.expect), one line per decision, "  T.TTT WHO EVENT {canonical JSON}":
 *   == STATEMENT                           a scenario statement, as written
 *   nI EVENT {...}                         a decision (CORE_ACT_LOG at level <= INFO, rendered by
 *                                          core_log_trace(); debug ones only with --trace)
 *   nI reply {"client":N,"errno":0|"EAGAIN","outcome":"committed"|"refused"|"unknown","version":V}
 *   nI role {"epoch":E,"leader":true|false}            CORE_ACT_ROLE
 *   nI recording {"epoch":E,"recording":true|false}   CORE_ACT_RECORDING
 *   nI leading {"acting":true|false,"epoch":E}         CORE_ACT_LEADING
 *   nI committed {"may_act":true|false,"version":V}    CORE_ACT_COMMITTED
 *   nI request {"client":N}                 a client's apply entered node I
 *   nI patch {"epoch":E,"rc":0,"version":V} | {"epoch":E,"rc":"ESTALE"}   core_leader_patch()
 *   nI publish {"rc":0|"EINVAL"}            core_node_publish()
 *   nI agent {"state":"started","version":V} | {"state":"killed"|"stopped"}
 *          | {"errno":"EINVAL","state":"refused"}  (the core refused its persisted state)
 *   nI corosync {"state":"started"|"killed"}
 *   FAIL TEXT                               a check failed (never in a golden)
 *
 * Invariants, after every step:
 *   - an epoch is only ever led by one node, and a node's epochs only grow;
 *   - at most one node holds the leadership (ROLE) at any time, and at most one ACTS as leader
 *     (LEADING start..stop, or core_is_acting()), each only in a quorate partition once the
 *     partition's membership has been delivered; a node acts only under the epoch it holds,
 *     and core_is_acting() agrees with the LEADING actions; a node RECORDS (RECORDING
 *     start..stop, core_is_recording()) only in a quorate partition, under the epoch it holds,
 *     and LEADING lies inside RECORDING; a leader patch is accepted (rc 0) only from a node
 *     recording, under its epoch (two may record at once: a leader whose corosync stalled,
 *     until its stall timeout -- it commits nothing, check_history says so);
 *   - COMMITTED may_act only in a quorate partition, and never beyond the node's state;
 *   - within one leader epoch a node's committed and state versions never go backwards, and the
 *     committed history is one line: every node that may act with committed == state version V
 *     holds the same state at V;
 *   - synced members of one view at the same version hold identical state (hash and records);
 *   - a node's cluster id never changes once set (until `disk` replaces its state);
 *   - a change answered "refused" never shows up in any node's spec (when no node held that
 *     spec at the time and no other client asked for it).
 * Checked when asked (`expect same-sections`, `expect converged`), since soft state is in
 * flight otherwise: the node sections of a synced view are identical across its members.
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   nodes N                        define nodes 1..N (expected votes = N); first
 *   option detect|merge|latency|stall|join|corosync_start|request_timeout MS
 *   option quorum_first 1          votequorum's event precedes the CPG view (default: 1 ms after)
 *   option cluster_id 1            every agent gets a cluster id candidate (default: none)
 *   proto I MIN MAX                protocol range of node I's agent (before it starts)
 *   at T start|kill|start-agent|kill-agent|stop-agent|start-corosync|kill-corosync I[,J...]
 *   at T partition A,B C ...       cut links between the groups   | at T heal
 *   at T stall A,B,...             those nodes' corosync stops delivering | at T unstall
 *   at T delay I MS                extra delivery latency to node I
 *   at T disk I VERSION EPOCH JSON replace node I's persisted state (its agent must be down)
 *   at T disk-cluster I ID         ... and make it belong to cluster ID (after `disk`)
 *   at T apply I JSON              a client on node I applies JSON as the spec
 *   at T patch I JSON [epoch E]    node I's leader patch, under its leader epoch or epoch E
 *   at T publish I JSON            node I publishes its own section
 *   at T inject I HEX              deliver raw bytes to node I as if sent by its lowest peer
 *   at T expect leader L [epoch E] [on I,J]  | no-leader I,J | version V I,J | same-state I,J
 *   at T expect stalled I | not-stalled I | quorate I | not-quorate I | spec I JSON | synced I,J
 *   at T expect acting I | not-acting I | recording I | not-recording I | committed V I,J
 *   at T expect record I KEY JSON|absent | section I OWNER JSON|absent | same-sections I,J
 *   at T expect cluster-id-set I,J | cluster-id-unset I,J | cluster-id-same I,J
 *   at T expect converged [I,J]    liveness: one leader, all synced and acting on the same
 *                                  state, every client answered, every acknowledged change
 *                                  present, sections and cluster ids agreeing
 *   end T
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "runner.h"

#define MAXN 16
#define MS SCN_MS

enum ev_kind {
	EV_DELIVER = 1, /* a message reaches a node (data: struct msg) */
	EV_RING,        /* corosync settles a new membership: recompute components, send views */
	EV_QUORUM,      /* votequorum notification for one node */
	EV_TICK,        /* a core's timer */
	EV_CONNECT,     /* an agent's connection to corosync comes up */
};

struct msg {
	int refs;
	uint8_t *data;   /* owned */
	size_t len;
	int sender;
	uint64_t view;   /* view id it was sent in */
};

/* A change some client or leader asked for, and what became of it (for `expect converged`). */
enum change_state {
	CHANGE_PENDING,  /* no answer yet */
	CHANGE_ACKED,    /* spec: reply ok; patch: COMMITTED >= its version while still acting */
	CHANGE_REFUSED,  /* reply with outcome "refused": nothing was applied anywhere */
	CHANGE_UNKNOWN,  /* may or may not have survived */
};

struct change {
	bool patch;             /* leader patch; else a spec apply */
	int node;
	uint64_t gen;           /* the origin agent's generation: a dead agent's client gets nothing */
	uint64_t client;        /* spec */
	uint64_t epoch;         /* patch: the epoch it was issued under */
	uint64_t version;       /* spec: the version acknowledged; patch: the version it commits as */
	json_t *body;           /* the spec or the patch (owned; NULL for text that is not JSON) */
	enum change_state state;
	bool distinct;          /* refused spec held by no node then, asked for by no other client */
};

struct node {
	int id;
	bool corosync_up, agent_up, connected;
	bool joined;              /* agent is a CPG member (once connected) */
	struct core *core;        /* NULL while the agent is down */
	char *snapshot;           /* persisted state: last snapshot (owned) ... */
	char *journal;            /* ... and the records appended since, one per line (owned) */
	size_t journal_len;
	json_t *facts;            /* the section it publishes (owned); re-published at agent start */
	uint16_t proto_min, proto_max;
	uint64_t delay;           /* extra delivery latency */
	uint64_t last_delivery;   /* when its latest delivery is due: total order survives a
				     shorter delay */
	uint64_t view;            /* view id the node currently has */
	uint32_t view_members[MAXN];
	uint64_t view_inc[MAXN];  /* incarnation of each member when the view formed */
	size_t n_view;
	uint64_t incarnation;     /* bumped at each (re)connect: a new CPG member */
	uint32_t ring[MAXN];      /* settled totem ring (votequorum's node list) */
	size_t n_ring;
	bool view_pending;        /* its component's membership is being re-formed */
	uint64_t tick_at;
	uint64_t gen;             /* agent generation: events for a dead agent are dropped */
	/* what the actions said, for the invariants */
	uint64_t last_epoch;      /* highest epoch it led */
	bool role_held;
	uint64_t role_epoch;
	bool acting;              /* between LEADING start and stop */
	uint64_t acting_epoch;
	bool recording;           /* between RECORDING start and stop */
	uint64_t recording_epoch;
	uint64_t mono_epoch, mono_committed, mono_version; /* monotonic within one leader epoch */
	char cluster_id[CORE_CLUSTER_ID_LEN + 1];
	uint64_t checked_hash;    /* state hash last checked against refused changes */
};

struct sim {
	struct scn *r;
	int n;
	struct node nodes[MAXN + 1];
	int group[MAXN + 1];       /* partition group; nodes in different groups are cut */
	bool stalled[MAXN + 1];
	uint64_t next_view;
	uint64_t detect, merge, latency, stall, join, corosync_start, request_timeout;
	bool quorum_first;
	bool cluster_ids;          /* option cluster_id */
	uint64_t client_seq;
	uint64_t *epoch_owner;     /* epoch -> node that led it (owned, grows) */
	size_t n_epoch_owner;
	struct msg *held[4096];    /* sent by stalled nodes: cpg_mcast_joined keeps them queued */
	size_t n_held;
	struct { struct msg *m; int to; } deferred[4096]; /* for stalled nodes, in order (refs) */
	size_t n_deferred;
	struct change *changes;    /* owned, grows */
	size_t n_changes;
	struct { bool set; uint64_t hash; int node; } *history; /* committed version -> state hash */
	size_t n_history;
	bool saw_leading;          /* the core emits CORE_ACT_LEADING */
	const char *stub;          /* what the core answered EOPNOTSUPP for at protocol 2 */
	unsigned labels, keys;     /* random mode: unique values */
};

/* ---- topology --------------------------------------------------------------------------- */

static bool linked(const struct sim *s, int a, int b)
{
	return s->group[a] == s->group[b] && s->stalled[a] == s->stalled[b];
}

/* votequorum's verdict for a node: from its last settled ring, not from the wires. */
static bool ring_quorate(const struct sim *s, int of)
{
	return s->nodes[of].corosync_up && s->nodes[of].n_ring * 2 > (size_t)s->n;
}

static uint32_t ring_votes(const struct sim *s, int i)
{
	return s->nodes[i].corosync_up ? (uint32_t)s->nodes[i].n_ring : 0;
}

static void settle_rings(struct sim *s)
{
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->corosync_up || s->stalled[i])
			continue;
		nd->n_ring = 0;
		for (int j = 1; j <= s->n; j++)
			if (s->nodes[j].corosync_up && linked(s, i, j))
				nd->ring[nd->n_ring++] = (uint32_t)j;
	}
}

static void schedule_ring(struct sim *s, uint64_t after)
{
	for (int i = 1; i <= s->n; i++)
		s->nodes[i].view_pending = true;
	scn_schedule(s->r, scn_now(s->r) + after, EV_RING, 0, 0, NULL);
}

/* ---- bookkeeping ------------------------------------------------------------------------ */

static const char *who(const struct node *nd)
{
	static char buf[MAXN][8];
	char *b = buf[nd->id % MAXN];

	snprintf(b, sizeof(buf[0]), "n%d", nd->id);
	return b;
}

static json_t *rc_json(int rc)
{
	return rc ? json_string(scn_errno_name(rc)) : json_integer(0);
}

static struct change *change_add(struct sim *s, bool patch, struct node *nd, json_t *body)
{
	struct change *c;

	if (!(s->n_changes & (s->n_changes + 1))) { /* grow at 0, 1, 3, 7, ... */
		s->changes = realloc(s->changes, (2 * s->n_changes + 2) * sizeof(*s->changes));
		if (!s->changes)
			abort();
	}
	c = &s->changes[s->n_changes++];
	*c = (struct change){ .patch = patch, .node = nd->id, .gen = nd->gen, .body = body };
	return c;
}

static struct change *change_by_client(struct sim *s, uint64_t client)
{
	for (size_t k = 0; k < s->n_changes; k++)
		if (!s->changes[k].patch && s->changes[k].client == client)
			return &s->changes[k];
	return NULL;
}

static void note_epoch_owner(struct sim *s, struct node *nd, uint64_t epoch)
{
	if (epoch >= s->n_epoch_owner) {
		size_t n = epoch * 2 + 16;
		s->epoch_owner = realloc(s->epoch_owner, n * sizeof(*s->epoch_owner));
		if (!s->epoch_owner)
			abort();
		memset(s->epoch_owner + s->n_epoch_owner, 0, (n - s->n_epoch_owner) * sizeof(*s->epoch_owner));
		s->n_epoch_owner = n;
	}
	if (s->epoch_owner[epoch] && s->epoch_owner[epoch] != (uint64_t)nd->id)
		scn_fail(s->r, "epoch %" PRIu64 " led by node %d and node %" PRIu64, epoch, nd->id,
			 s->epoch_owner[epoch]);
	s->epoch_owner[epoch] = (uint64_t)nd->id;
}

/* The core answered EOPNOTSUPP although the cluster speaks protocol 2: a stub. */
static void check_stub(struct sim *s, struct node *nd, int rc, const char *what)
{
	json_t *st;
	json_int_t proto;

	if (rc != -EOPNOTSUPP || !nd->core)
		return;
	st = core_status_json(nd->core, scn_now(s->r));
	proto = json_integer_value(json_object_get(st, "cluster_protocol"));
	json_decref(st);
	if (proto >= 2) {
		s->stub = what;
		scn_unsupported(s->r, what);
	}
}

/* ---- running a core --------------------------------------------------------------------- */

static void multicast(struct sim *s, int sender, uint8_t *data, size_t len);

static void arm_tick(struct sim *s, struct node *nd)
{
	uint64_t d = nd->core ? core_next_deadline(nd->core) : 0;

	if (!d || d == nd->tick_at)
		return;
	if (d < scn_now(s->r))
		d = scn_now(s->r);
	nd->tick_at = d;
	scn_schedule(s->r, d, EV_TICK, nd->id, nd->gen, NULL);
}

static void on_persist(struct node *nd, const struct core_action *a)
{
	if (a->data) {
		char *j = realloc(nd->journal, nd->journal_len + a->len + 2);
		if (!j)
			abort();
		memcpy(j + nd->journal_len, a->data, a->len);
		nd->journal_len += a->len;
		j[nd->journal_len++] = '\n';
		j[nd->journal_len] = 0;
		nd->journal = j;
		/* The daemon folds the journal into a snapshot once it outgrows it. */
		if (nd->snapshot && nd->journal_len <= strlen(nd->snapshot))
			return;
	}
	free(nd->snapshot);
	nd->snapshot = core_persist_json(nd->core);
	if (!nd->snapshot)
		abort();
	free(nd->journal);
	nd->journal = NULL;
	nd->journal_len = 0;
}

static const char *outcome_name(enum core_outcome o)
{
	switch (o) {
	case CORE_OUTCOME_COMMITTED: return "committed";
	case CORE_OUTCOME_REFUSED: return "refused";
	case CORE_OUTCOME_UNKNOWN: return "unknown";
	}
	return "?";
}

static void on_reply(struct sim *s, struct node *nd, const struct core_action *a)
{
	struct change *c = change_by_client(s, a->client_id);

	scn_trace_json(s->r, who(nd), "reply",
		       json_pack("{sIsosssI}", "client", (json_int_t)a->client_id, "errno", rc_json(a->error),
				 "outcome", outcome_name(a->outcome), "version", (json_int_t)a->version));
	if (!c || c->node != nd->id) {
		scn_fail(s->r, "node %d answers client #%" PRIu64 ", which never asked it", nd->id, a->client_id);
		return;
	}
	if (c->state != CHANGE_PENDING) {
		scn_fail(s->r, "node %d answers client #%" PRIu64 " twice", nd->id, a->client_id);
		return;
	}
	if (!a->error && a->outcome == CORE_OUTCOME_COMMITTED) {
		c->state = CHANGE_ACKED;
		c->version = a->version;
	} else if (a->error && a->outcome == CORE_OUTCOME_REFUSED) {
		c->state = CHANGE_REFUSED;
		/* Checked from now on, unless another client asked for the same spec or a node holds
		 * it already (a stale node refuses even the spec it has). */
		c->distinct = c->body != NULL;
		for (int i = 1; i <= s->n && c->distinct; i++)
			c->distinct = !s->nodes[i].core || !json_equal(c->body, core_spec(s->nodes[i].core));
		for (size_t k = 0; k < s->n_changes && c->distinct; k++)
			c->distinct = &s->changes[k] == c || s->changes[k].patch || !s->changes[k].body ||
				      !json_equal(s->changes[k].body, c->body);
	} else {
		c->state = CHANGE_UNKNOWN;
	}
}

static void on_role(struct sim *s, struct node *nd, const struct core_action *a)
{
	scn_trace_json(s->r, who(nd), "role", json_pack("{sIsb}", "epoch", (json_int_t)a->epoch, "leader", a->is_leader));
	nd->role_held = a->is_leader;
	if (!a->is_leader)
		return;
	nd->role_epoch = a->epoch;
	if (a->epoch < nd->last_epoch)
		scn_fail(s->r, "node %d leads epoch %" PRIu64 " after epoch %" PRIu64, nd->id, a->epoch, nd->last_epoch);
	nd->last_epoch = a->epoch;
	note_epoch_owner(s, nd, a->epoch);
}

static void stop_recording(struct sim *s, struct node *nd)
{
	/* Patches not committed by now may or may not survive. */
	for (size_t k = 0; k < s->n_changes; k++) {
		struct change *c = &s->changes[k];
		if (c->patch && c->node == nd->id && c->state == CHANGE_PENDING)
			c->state = CHANGE_UNKNOWN;
	}
	nd->recording = false;
}

static void stop_acting(struct sim *s, struct node *nd)
{
	nd->acting = false;
}

static void on_recording(struct sim *s, struct node *nd, const struct core_action *a)
{
	scn_trace_json(s->r, who(nd), "recording",
		       json_pack("{sIsb}", "epoch", (json_int_t)a->epoch, "recording", a->is_leader));
	if (!a->is_leader) {
		if (nd->acting)
			scn_fail(s->r, "node %d stops recording while still acting", nd->id);
		stop_recording(s, nd);
		return;
	}
	if (nd->recording)
		scn_fail(s->r, "node %d starts recording under epoch %" PRIu64 " while recording under %" PRIu64, nd->id,
			 a->epoch, nd->recording_epoch);
	if (!nd->role_held || nd->role_epoch != a->epoch)
		scn_fail(s->r, "node %d starts recording under epoch %" PRIu64 " without holding its leadership", nd->id,
			 a->epoch);
	nd->recording = true;
	nd->recording_epoch = a->epoch;
}

static void on_leading(struct sim *s, struct node *nd, const struct core_action *a)
{
	scn_trace_json(s->r, who(nd), "leading", json_pack("{sbsI}", "acting", a->is_leader, "epoch", (json_int_t)a->epoch));
	s->saw_leading = true;
	if (!a->is_leader) {
		stop_acting(s, nd);
		return;
	}
	if (nd->acting)
		scn_fail(s->r, "node %d starts acting under epoch %" PRIu64 " while acting under %" PRIu64, nd->id,
			 a->epoch, nd->acting_epoch);
	if (!nd->role_held || nd->role_epoch != a->epoch)
		scn_fail(s->r, "node %d starts acting under epoch %" PRIu64 " without holding its leadership", nd->id,
			 a->epoch);
	if (!nd->recording || nd->recording_epoch != a->epoch)
		scn_fail(s->r, "node %d starts acting under epoch %" PRIu64 " without recording under it", nd->id, a->epoch);
	nd->acting = true;
	nd->acting_epoch = a->epoch;
}

static void on_committed(struct sim *s, struct node *nd, const struct core_action *a)
{
	scn_trace_json(s->r, who(nd), "committed", json_pack("{sbsI}", "may_act", a->may_act, "version", (json_int_t)a->version));
	if (!a->may_act)
		return;
	if (!nd->view_pending && !ring_quorate(s, nd->id))
		scn_fail(s->r, "node %d may act on version %" PRIu64 " in a partition without quorum", nd->id, a->version);
	if (a->version > core_state_version(nd->core))
		scn_fail(s->r, "node %d reports version %" PRIu64 " committed while it holds %" PRIu64, nd->id,
			 a->version, core_state_version(nd->core));
	for (size_t k = 0; k < s->n_changes; k++) {
		struct change *c = &s->changes[k];
		if (c->patch && c->node == nd->id && c->state == CHANGE_PENDING && nd->recording &&
		    nd->recording_epoch == c->epoch && c->version <= a->version)
			c->state = CHANGE_ACKED;
	}
}

static void drain(struct sim *s, struct node *nd)
{
	struct core_action a;

	while (nd->core && core_next_action(nd->core, &a)) {
		switch (a.type) {
		case CORE_ACT_SEND:
			multicast(s, nd->id, TAKE_PTR(a.data), a.len);
			break;
		case CORE_ACT_PERSIST:
			on_persist(nd, &a);
			break;
		case CORE_ACT_REPLY:
			on_reply(s, nd, &a);
			break;
		case CORE_ACT_LOG: {
			_cleanup_free_ char *t = core_log_trace(&a);
			if (a.level <= CORE_LOG_INFO)
				scn_trace(s->r, "%s %s", who(nd), t ? t : "?");
			else
				scn_debug(s->r, "%s %s", who(nd), t ? t : "?");
			break;
		}
		case CORE_ACT_ROLE:
			on_role(s, nd, &a);
			break;
		case CORE_ACT_RECORDING:
			on_recording(s, nd, &a);
			break;
		case CORE_ACT_LEADING:
			on_leading(s, nd, &a);
			break;
		case CORE_ACT_COMMITTED:
			on_committed(s, nd, &a);
			break;
		}
		core_action_clear(&a);
	}
	arm_tick(s, nd);
}

static void msg_unref(struct msg *m)
{
	if (m && --m->refs == 0) {
		free(m->data);
		free(m);
	}
}

static void fanout(struct sim *s, struct msg *m)
{
	struct node *snd = &s->nodes[m->sender];

	for (size_t i = 0; i < snd->n_view; i++) {
		struct node *to = &s->nodes[snd->view_members[i]];
		uint64_t at = scn_now(s->r) + s->latency + to->delay;
		if (at < to->last_delivery)
			at = to->last_delivery;
		to->last_delivery = at;
		m->refs++;
		scn_schedule(s->r, at, EV_DELIVER, to->id, 0, m);
	}
	if (!m->refs) {
		free(m->data);
		free(m);
	}
}

static void multicast(struct sim *s, int sender, uint8_t *data, size_t len)
{
	struct node *snd = &s->nodes[sender];
	struct msg *m;

	if (!snd->joined) {
		free(data); /* not in a group: a real cpg_mcast_joined fails too */
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	*m = (struct msg){ .data = data, .len = len, .sender = sender, .view = snd->view };
	if (s->stalled[sender]) {
		/* corosync answers "try again": the agent keeps it queued until corosync moves */
		if (s->n_held < ARRAY_SIZE(s->held)) {
			m->refs = 1;
			s->held[s->n_held++] = m;
		} else {
			free(m->data);
			free(m);
		}
		return;
	}
	fanout(s, m);
}

/* After a ring change: queued messages go out if their sender still has the view they were
 * queued in; otherwise the new view's sync round supersedes them. */
static void release_held(struct sim *s)
{
	size_t n = s->n_held;

	s->n_held = 0;
	for (size_t k = 0; k < n; k++) {
		struct msg *m = s->held[k];
		struct node *snd = &s->nodes[m->sender];
		if (!s->stalled[m->sender] && snd->joined && snd->view == m->view) {
			m->refs--; /* the queue's reference becomes the deliveries' */
			fanout(s, m);
		} else if (s->stalled[m->sender]) {
			s->held[s->n_held++] = m;
		} else {
			msg_unref(m);
		}
	}
}

static void give_quorum(struct sim *s, struct node *nd)
{
	core_quorum_nodes(nd->core, nd->ring, nd->n_ring);
	core_quorum(nd->core, scn_now(s->r), ring_quorate(s, nd->id), ring_votes(s, nd->id), (uint32_t)s->n);
}

static int publish(struct sim *s, struct node *nd, const json_t *section)
{
	_cleanup_free_ char *err = NULL;
	int rc = core_node_publish(nd->core, scn_now(s->r), section, &err);

	scn_trace_json(s->r, who(nd), "publish", json_pack("{so}", "rc", rc_json(rc)));
	check_stub(s, nd, rc, "node sections");
	drain(s, nd);
	return rc;
}

static void agent_start(struct sim *s, int i)
{
	struct node *nd = &s->nodes[i];
	char name[16], candidate[CORE_CLUSTER_ID_LEN + 1];
	struct core_config cfg = {
		.nodeid = (uint32_t)i, .name = name, .proto_min = nd->proto_min, .proto_max = nd->proto_max,
		.stall_timeout_usec = s->stall, .request_timeout_usec = s->request_timeout,
	};
	_cleanup_free_ char *err = NULL;
	int rc;

	if (nd->agent_up)
		return;
	snprintf(name, sizeof(name), "n%d", i);
	if (s->cluster_ids) {
		/* what the daemon draws from its random source, but the same in every run */
		struct scn_rng g = { (uint64_t)i << 32 | (nd->gen + 1) };
		snprintf(candidate, sizeof(candidate), "%016" PRIx64 "%016" PRIx64, scn_rng_next(&g), scn_rng_next(&g));
		cfg.cluster_id_candidate = candidate;
	}
	rc = core_new(&cfg, nd->snapshot, nd->journal, &nd->core, &err);
	if (rc < 0) {
		scn_trace_json(s->r, who(nd), "agent", json_pack("{ssss}", "errno", scn_errno_name(rc), "state", "refused"));
		nd->core = NULL;
		return;
	}
	nd->agent_up = true;
	nd->gen++;
	nd->acting = nd->recording = nd->role_held = false;
	nd->mono_epoch = nd->mono_committed = nd->mono_version = 0;
	scn_trace_json(s->r, who(nd), "agent",
		       json_pack("{sssI}", "state", "started", "version", (json_int_t)core_state_version(nd->core)));
	if (nd->facts)
		publish(s, nd, nd->facts);
	if (nd->corosync_up)
		scn_schedule(s->r, scn_now(s->r) + s->join, EV_CONNECT, i, nd->gen, NULL);
}

static void agent_stop(struct sim *s, int i, bool clean)
{
	struct node *nd = &s->nodes[i];

	if (!nd->agent_up)
		return;
	core_free(nd->core);
	nd->core = NULL;
	nd->agent_up = nd->connected = nd->joined = false;
	nd->n_view = 0;
	nd->tick_at = 0;
	nd->gen++;
	nd->role_held = false;
	stop_acting(s, nd); /* a dead process acts no more */
	stop_recording(s, nd);
	scn_trace_json(s->r, who(nd), "agent", json_pack("{ss}", "state", clean ? "stopped" : "killed"));
	/* A process leaving CPG is seen at once by its ring (no failure detection needed). */
	if (nd->corosync_up)
		schedule_ring(s, 20 * MS);
}

static void corosync_stop(struct sim *s, int i)
{
	struct node *nd = &s->nodes[i];

	if (!nd->corosync_up)
		return;
	nd->corosync_up = false;
	scn_trace_json(s->r, who(nd), "corosync", json_pack("{ss}", "state", "killed"));
	if (nd->agent_up && nd->connected) {
		nd->connected = nd->joined = false;
		nd->n_view = 0;
		core_disconnected(nd->core, scn_now(s->r));
		drain(s, nd);
	}
	schedule_ring(s, s->detect);
}

static void corosync_start(struct sim *s, int i)
{
	struct node *nd = &s->nodes[i];

	if (nd->corosync_up)
		return;
	nd->corosync_up = true;
	nd->n_ring = 1;
	nd->ring[0] = (uint32_t)i;
	scn_trace_json(s->r, who(nd), "corosync", json_pack("{ss}", "state", "started"));
	if (nd->agent_up) /* the agent's reconnect backoff finds it once it is up */
		scn_schedule(s->r, scn_now(s->r) + s->corosync_start, EV_CONNECT, i, nd->gen, NULL);
	schedule_ring(s, s->corosync_start);
}

static bool flushable(const struct scn_event *e, void *ud)
{
	struct sim *s = ud;
	const struct node *to = &s->nodes[e->node];
	const struct msg *m = e->data;

	return e->kind == EV_DELIVER && to->core && to->joined && m->view == to->view &&
	       linked(s, e->node, m->sender) && !s->stalled[e->node];
}

/*
 * Corosync settled a new membership: each connected component gets a view (only if it changed
 * for that node) followed by -- or preceded by, with quorum_first -- a quorum event. In-flight
 * messages of old views are delivered first to members that stay with their sender.
 */
static void ring_change(struct sim *s)
{
	uint32_t members[MAXN + 1][MAXN];
	size_t nm[MAXN + 1] = { 0 };
	uint64_t newview[MAXN + 1] = { 0 };
	struct scn_event **flush;
	size_t nflush;

	/* Flush: messages of the old views still in flight reach the members that stay with their
	 * sender, now and in order, before the new views; the others never arrive. */
	nflush = scn_take(s->r, flushable, s, &flush);
	for (size_t k = 0; k < nflush; k++) {
		struct node *nd = &s->nodes[flush[k]->node];
		struct msg *m = flush[k]->data;
		core_message(nd->core, scn_now(s->r), (uint32_t)m->sender, m->data, m->len);
		drain(s, nd); /* what it sends now belongs to the old view and dies with it */
		scn_event_free(s->r, flush[k]);
	}
	free(flush);

	settle_rings(s);
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		nd->view_pending = false;
		if (!nd->joined || s->stalled[i])
			continue;
		for (int j = 1; j <= s->n; j++)
			if (s->nodes[j].joined && linked(s, i, j))
				members[i][nm[i]++] = (uint32_t)j;
	}
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		bool same;
		if (!nd->joined || s->stalled[i])
			continue;
		same = nm[i] == nd->n_view && !memcmp(members[i], nd->view_members, nm[i] * sizeof(uint32_t));
		/* same members, same processes, and still one view: a member that went through other
		 * views meanwhile (it was stalled while the others re-formed) needs a new one too */
		for (size_t k = 0; same && k < nm[i]; k++)
			same = nd->view_inc[k] == s->nodes[members[i][k]].incarnation &&
			       s->nodes[members[i][k]].view == nd->view;
		if (same)
			continue;
		/* one view id per component */
		for (int j = 1; j < i && !newview[i]; j++)
			if (newview[j] && linked(s, i, j))
				newview[i] = newview[j];
		if (!newview[i])
			newview[i] = ++s->next_view;
	}
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		struct core_left left[MAXN];
		size_t nl = 0;
		if (!newview[i])
			continue;
		for (size_t k = 0; k < nd->n_view; k++) {
			int o = (int)nd->view_members[k];
			bool still = false;
			for (size_t j = 0; j < nm[i]; j++)
				still |= members[i][j] == (uint32_t)o && nd->view_inc[k] == s->nodes[o].incarnation;
			if (!still)
				left[nl++] = (struct core_left){ (uint32_t)o,
					s->nodes[o].corosync_up && linked(s, i, o) ? CORE_LEAVE_PROCDOWN : CORE_LEAVE_NODEDOWN };
		}
		nd->view = newview[i];
		memcpy(nd->view_members, members[i], nm[i] * sizeof(uint32_t));
		for (size_t k = 0; k < nm[i]; k++)
			nd->view_inc[k] = s->nodes[members[i][k]].incarnation;
		nd->n_view = nm[i];
		if (s->quorum_first)
			give_quorum(s, nd);
		else
			scn_schedule(s->r, scn_now(s->r) + 1 * MS, EV_QUORUM, i, nd->gen, NULL);
		core_confchg(nd->core, scn_now(s->r), nd->view_members, nd->n_view, left, nl);
		drain(s, nd);
	}
	release_held(s);
	/* Nodes whose CPG view did not change still get votequorum's verdict on the new ring. */
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (newview[i] || !nd->connected || s->stalled[i])
			continue;
		scn_schedule(s->r, scn_now(s->r) + 1 * MS, EV_QUORUM, i, nd->gen, NULL);
	}
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	struct sim *s = d;
	struct node *nd = e->node ? &s->nodes[e->node] : NULL;
	struct msg *m = e->data;

	switch ((enum ev_kind)e->kind) {
	case EV_RING:
		/* Only the last scheduled ring change applies; earlier ones are superseded. */
		if (!scn_count(r, EV_RING))
			ring_change(s);
		break;
	case EV_DELIVER:
		if (!nd->core || !nd->joined || m->view != nd->view)
			break;
		if (s->stalled[e->node]) {
			/* corosync delivers it once it moves again (if the view survives) */
			if (s->n_deferred < ARRAY_SIZE(s->deferred)) {
				m->refs++;
				s->deferred[s->n_deferred].m = m;
				s->deferred[s->n_deferred++].to = e->node;
			}
			break;
		}
		core_message(nd->core, scn_now(r), (uint32_t)m->sender, m->data, m->len);
		drain(s, nd);
		break;
	case EV_QUORUM:
		if (!nd->core || !nd->connected || e->gen != nd->gen || s->stalled[e->node])
			break;
		give_quorum(s, nd);
		drain(s, nd);
		break;
	case EV_TICK:
		if (!nd->core || e->gen != nd->gen || e->at != nd->tick_at)
			break;
		nd->tick_at = 0;
		core_tick(nd->core, scn_now(r));
		drain(s, nd);
		break;
	case EV_CONNECT:
		if (!nd->core || e->gen != nd->gen || !nd->corosync_up || nd->connected)
			break;
		nd->connected = nd->joined = true;
		nd->incarnation++;
		core_connected(nd->core, scn_now(r), (uint32_t)e->node);
		/* quorum_trackstart(CS_TRACK_CURRENT) reports the current verdict right away */
		give_quorum(s, nd);
		drain(s, nd);
		schedule_ring(s, s->join);
		break;
	}
}

static void event_free(struct scn_event *e)
{
	if (e->kind == EV_DELIVER)
		msg_unref(e->data);
}

/* ---- invariants ------------------------------------------------------------------------- */

static void check_history(struct sim *s, struct node *nd)
{
	uint64_t v = core_state_version(nd->core), h = core_state_hash(nd->core);

	if (!v || !core_may_act(nd->core) || core_committed_version(nd->core) != v)
		return;
	if (v >= s->n_history) {
		size_t n = v * 2 + 16;
		s->history = realloc(s->history, n * sizeof(*s->history));
		if (!s->history)
			abort();
		memset(s->history + s->n_history, 0, (n - s->n_history) * sizeof(*s->history));
		s->n_history = n;
	}
	if (!s->history[v].set)
		s->history[v] = (typeof(*s->history)){ true, h, nd->id };
	else if (s->history[v].hash != h)
		scn_fail(s->r, "committed version %" PRIu64 " differs: node %d holds %016" PRIx64 ", node %d held %016" PRIx64,
			 v, nd->id, h, s->history[v].node, s->history[v].hash);
}

static void check_monotonic(struct sim *s, struct node *nd)
{
	uint64_t e = core_leader_epoch(nd->core), cv = core_committed_version(nd->core), v = core_state_version(nd->core);

	if (e && e == nd->mono_epoch) {
		if (cv < nd->mono_committed)
			scn_fail(s->r, "node %d: committed version went back from %" PRIu64 " to %" PRIu64 " in epoch %" PRIu64,
				 nd->id, nd->mono_committed, cv, e);
		if (v < nd->mono_version)
			scn_fail(s->r, "node %d: state version went back from %" PRIu64 " to %" PRIu64 " in epoch %" PRIu64,
				 nd->id, nd->mono_version, v, e);
	}
	nd->mono_epoch = e;
	nd->mono_committed = cv;
	nd->mono_version = v;
}

static void check_cluster_id(struct sim *s, struct node *nd)
{
	const char *id = core_cluster_id(nd->core);

	if (!id || !*id)
		return;
	if (*nd->cluster_id && strcmp(nd->cluster_id, id))
		scn_fail(s->r, "node %d: cluster id changed from %s to %s", nd->id, nd->cluster_id, id);
	snprintf(nd->cluster_id, sizeof(nd->cluster_id), "%s", id);
}

/* A change answered "refused" is applied nowhere (for specs no other client asked for). */
static void check_refused(struct sim *s, struct node *nd)
{
	const json_t *spec;

	if (core_state_hash(nd->core) == nd->checked_hash)
		return;
	nd->checked_hash = core_state_hash(nd->core);
	spec = core_spec(nd->core);
	for (size_t k = 0; k < s->n_changes; k++) {
		const struct change *c = &s->changes[k];
		if (!c->patch && c->state == CHANGE_REFUSED && c->distinct && json_equal(c->body, spec))
			scn_fail(s->r, "node %d holds the spec of client #%" PRIu64 ", which was refused", nd->id, c->client);
	}
}

static void invariants(void *d, struct scn *r)
{
	struct sim *s = d;
	int leaders = 0, acting = 0, who_leads = 0, who_acts = 0;

	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		bool acts;
		if (!nd->core)
			continue;
		if (core_is_leader(nd->core)) {
			leaders++;
			who_leads = i;
			if (!nd->view_pending && !ring_quorate(s, i))
				scn_fail(r, "node %d acts as leader in a partition without quorum", i);
		}
		acts = nd->acting || core_is_acting(nd->core);
		if (acts) {
			acting++;
			who_acts = i;
			if (!nd->view_pending && !ring_quorate(s, i))
				scn_fail(r, "node %d acts as leader (LEADING) in a partition without quorum", i);
		}
		if (nd->acting && !core_is_acting(nd->core))
			scn_fail(r, "node %d: LEADING started but core_is_acting() is false", i);
		if (nd->recording != core_is_recording(nd->core) && s->saw_leading)
			scn_fail(r, "node %d: core_is_recording() %s the RECORDING actions", i,
				 nd->recording ? "is false between" : "is true outside");
		if (nd->recording && !nd->view_pending && !ring_quorate(s, i))
			scn_fail(r, "node %d records as leader in a partition without quorum", i);
		if (s->saw_leading && !nd->acting && core_is_acting(nd->core))
			scn_fail(r, "node %d: core_is_acting() without a LEADING start", i);
		check_monotonic(s, nd);
		check_history(s, nd);
		check_cluster_id(s, nd);
		check_refused(s, nd);
	}
	/*
	 * Two ROLE holders can overlap: a leader whose corosync stopped delivering holds its ROLE
	 * until its own stall timeout while the others elect. It cannot change the replicated state
	 * (nothing it sends is delivered), and it is the only one ACTING until then: the next
	 * leader acts only after the lease (core.h). So only LEADING must be exclusive.
	 */
	(void)leaders;
	(void)who_leads;
	if (acting > 1)
		scn_fail(r, "%d nodes act as leader at once (last: %d)", acting, who_acts);
	for (int i = 1; i <= s->n; i++)
		for (int j = i + 1; j <= s->n; j++) {
			struct node *a = &s->nodes[i], *b = &s->nodes[j];
			if (!a->core || !b->core || !a->joined || !b->joined || a->view != b->view ||
			    !core_is_synced(a->core) || !core_is_synced(b->core) ||
			    core_state_version(a->core) != core_state_version(b->core))
				continue;
			if (core_state_hash(a->core) != core_state_hash(b->core))
				scn_fail(r, "nodes %d and %d are synced at version %" PRIu64 " with different states", i, j,
					 core_state_version(a->core));
			else if (!json_equal(core_records(a->core), core_records(b->core)))
				scn_fail(r, "nodes %d and %d are synced at version %" PRIu64 " with equal hashes but different records",
					 i, j, core_state_version(a->core));
		}
}

/* ---- statements ------------------------------------------------------------------------- */

/* "I" naming a node with a running agent. */
static struct node *running_node(struct sim *s, const char *verb, const char *arg)
{
	int i;

	if (scn_parse_list(arg, s->n, &i, 1) != 1) {
		scn_fail(s->r, "%s: bad node \"%s\"", verb, arg);
		return NULL;
	}
	if (!s->nodes[i].core) {
		scn_fail(s->r, "%s: node %d has no running agent", verb, i);
		return NULL;
	}
	return &s->nodes[i];
}

/* JSON at the start of text; *end: what follows it. */
static json_t *json_prefix(const char *text, const char **end)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);

	if (j && end)
		*end = scn_skipws(text + err.position);
	return j;
}

static int st_nodes(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	int list[MAXN], n = scn_parse_list(args, MAXN, list, MAXN);

	if (n <= 0) {
		scn_fail(r, "%s: bad node list \"%s\"", verb, args);
		return -EINVAL;
	}
	for (int k = 0; k < n; k++) {
		int i = list[k];
		if (!strcmp(verb, "start")) {
			corosync_start(s, i);
			agent_start(s, i);
		} else if (!strcmp(verb, "kill")) {
			agent_stop(s, i, false);
			corosync_stop(s, i);
		} else if (!strcmp(verb, "start-agent")) {
			agent_start(s, i);
		} else if (!strcmp(verb, "kill-agent") || !strcmp(verb, "stop-agent")) {
			agent_stop(s, i, !strcmp(verb, "stop-agent"));
		} else if (!strcmp(verb, "start-corosync")) {
			corosync_start(s, i);
		} else if (!strcmp(verb, "kill-corosync")) {
			corosync_stop(s, i);
		} else if (!strcmp(verb, "stall")) {
			s->stalled[i] = true;
		}
	}
	/* The others' totem loses the stalled nodes' tokens and re-forms without them. */
	if (!strcmp(verb, "stall"))
		schedule_ring(s, s->detect);
	return 0;
}

static int st_delay(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[32];
	int i;
	uint64_t ms;

	args = scn_word(args, arg, sizeof(arg));
	if (scn_parse_list(arg, s->n, &i, 1) != 1 || scn_parse_u64(args, &ms) < 0) {
		scn_fail(r, "delay: needs I MS");
		return -EINVAL;
	}
	s->nodes[i].delay = ms * MS;
	return 0;
}

static int st_partition(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[256];
	int list[MAXN], g = 0;

	for (int i = 1; i <= s->n; i++)
		s->group[i] = -i; /* unlisted nodes are alone */
	while (*args) {
		int n;
		args = scn_word(args, arg, sizeof(arg));
		n = scn_parse_list(arg, s->n, list, MAXN);
		if (n <= 0) {
			scn_fail(r, "bad partition group \"%s\"", arg);
			return -EINVAL;
		}
		g++;
		for (int k = 0; k < n; k++)
			s->group[list[k]] = g;
	}
	schedule_ring(s, s->detect);
	return 0;
}

/* A node that stalled shorter than failure detection is still in the ring: what it missed
 * comes late but in order. One the others re-formed without gets a new view instead. */
static void deliver_deferred(struct sim *s)
{
	for (size_t k = 0; k < s->n_deferred; k++) {
		struct msg *m = s->deferred[k].m;
		int to = s->deferred[k].to;
		bool current = true;
		for (int j = 1; j <= s->n; j++)
			if (s->nodes[j].joined && !s->stalled[j] && linked(s, to, j) && s->nodes[j].view != s->nodes[to].view)
				current = false;
		/* they were due already: corosync hands over the backlog at once, before anything
		 * sent later */
		if (current && !s->stalled[to] && s->nodes[to].core && s->nodes[to].joined &&
		    m->view == s->nodes[to].view) {
			core_message(s->nodes[to].core, scn_now(s->r), (uint32_t)m->sender, m->data, m->len);
			drain(s, &s->nodes[to]);
		}
		msg_unref(m);
	}
	s->n_deferred = 0;
}

static int st_heal(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	for (int i = 1; i <= s->n; i++) {
		if (!strcmp(verb, "heal"))
			s->group[i] = 0;
		else
			s->stalled[i] = false;
	}
	if (strcmp(verb, "heal"))
		deliver_deferred(s);
	schedule_ring(s, s->merge);
	return 0;
}

static int st_disk(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	int i, used = 0;
	long long ver, ep;
	json_t *spec = NULL, *doc;

	if (sscanf(args, "%d %lld %lld %n", &i, &ver, &ep, &used) != 3 || i < 1 || i > s->n || s->nodes[i].agent_up ||
	    !(spec = json_loads(args + used, 0, NULL))) {
		scn_fail(r, "disk: needs I VERSION EPOCH JSON for a node whose agent is down");
		json_decref(spec);
		return -EINVAL;
	}
	doc = json_pack("{sisIsIsIsoso}", "format", 1, "version", (json_int_t)ver, "state_epoch", (json_int_t)ep,
			"max_epoch", (json_int_t)ep, "spec", spec, "status", json_object());
	free(s->nodes[i].snapshot);
	s->nodes[i].snapshot = json_dumps(doc, JSON_SORT_KEYS);
	json_decref(doc);
	free(s->nodes[i].journal);
	s->nodes[i].journal = NULL;
	s->nodes[i].journal_len = 0;
	s->nodes[i].cluster_id[0] = 0; /* another state, maybe another cluster */
	return 0;
}

/* disk-cluster I ID: the state on node I's disk belongs to cluster ID (a state file restored
 * from, or forged as, another cluster). */
static int st_disk_cluster(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	int i, used = 0;
	json_t *doc;

	if (sscanf(args, "%d %n", &i, &used) != 1 || i < 1 || i > s->n || s->nodes[i].agent_up ||
	    !s->nodes[i].snapshot || !(doc = json_loads(s->nodes[i].snapshot, 0, NULL))) {
		scn_fail(r, "disk-cluster: needs I ID for a node whose agent is down and that has a snapshot");
		return -EINVAL;
	}
	json_object_set_new(doc, "format", json_integer(2));
	json_object_set_new(doc, "cluster_id", json_string(args + used));
	free(s->nodes[i].snapshot);
	s->nodes[i].snapshot = json_dumps(doc, JSON_SORT_KEYS);
	json_decref(doc);
	return 0;
}

static int st_apply(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[32];
	struct node *nd;
	struct change *c;

	args = scn_word(args, arg, sizeof(arg));
	if (!(nd = running_node(s, verb, arg)))
		return -EINVAL;
	c = change_add(s, false, nd, json_loads(args, 0, NULL));
	c->client = ++s->client_seq;
	scn_trace_json(r, who(nd), "request", json_pack("{sI}", "client", (json_int_t)c->client));
	core_request_spec(nd->core, scn_now(r), c->client, args, strlen(args));
	drain(s, nd);
	return 0;
}

static int st_inject(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[32];
	struct node *nd;
	size_t len;
	_cleanup_free_ uint8_t *b = NULL;

	args = scn_word(args, arg, sizeof(arg));
	if (!(nd = running_node(s, verb, arg)))
		return -EINVAL;
	len = strlen(args) / 2;
	b = calloc(len + 1, 1);
	if (!b)
		abort();
	for (size_t k = 0; k < len; k++) {
		unsigned v;
		if (sscanf(args + 2 * k, "%2x", &v) != 1) {
			scn_fail(r, "inject: bad hex");
			return -EINVAL;
		}
		b[k] = (uint8_t)v;
	}
	core_message(nd->core, scn_now(r), nd->id == 1 ? 2 : 1, b, len);
	drain(s, nd);
	return 0;
}

static int st_publish(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[32];
	struct node *nd;
	json_t *section;
	int rc;

	args = scn_word(args, arg, sizeof(arg));
	if (!(nd = running_node(s, verb, arg)))
		return -EINVAL;
	if (!(section = json_loads(args, JSON_DECODE_ANY, NULL))) {
		scn_fail(r, "publish: bad JSON");
		return -EINVAL;
	}
	rc = publish(s, nd, section);
	/* The shell's facts: what the core took (also when it keeps it for protocol 2). */
	if (rc == 0 || rc == -EOPNOTSUPP) {
		json_decref(nd->facts);
		nd->facts = section;
	} else {
		json_decref(section);
	}
	return 0;
}

static int st_patch(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char arg[32];
	struct node *nd;
	json_t *patch;
	const char *rest = NULL;
	uint64_t epoch, version = 0;
	_cleanup_free_ char *err = NULL;
	int rc;

	args = scn_word(args, arg, sizeof(arg));
	if (!(nd = running_node(s, verb, arg)))
		return -EINVAL;
	if (!(patch = json_prefix(args, &rest))) {
		scn_fail(r, "patch: bad JSON");
		return -EINVAL;
	}
	epoch = core_leader_epoch(nd->core);
	if (*rest) {
		rest = scn_word(rest, arg, sizeof(arg));
		if (strcmp(arg, "epoch") || scn_parse_u64(rest, &epoch) < 0) {
			scn_fail(r, "patch: I JSON [epoch E]");
			json_decref(patch);
			return -EINVAL;
		}
	}
	rc = core_leader_patch(nd->core, scn_now(r), epoch, patch, &version, &err);
	if (rc == 0)
		scn_trace_json(r, who(nd), "patch", json_pack("{sIsisI}", "epoch", (json_int_t)epoch, "rc", 0,
							       "version", (json_int_t)version));
	else
		scn_trace_json(r, who(nd), "patch", json_pack("{sIso}", "epoch", (json_int_t)epoch, "rc", rc_json(rc)));
	check_stub(s, nd, rc, "leader patches");
	if (rc == 0) {
		struct change *c;
		/* No leader action from a node that does not act, or under another epoch. */
		if (!nd->recording && s->saw_leading)
			scn_fail(r, "node %d accepted a leader patch while not recording", nd->id);
		else if (nd->recording && nd->recording_epoch != epoch)
			scn_fail(r, "node %d accepted a patch under epoch %" PRIu64 " while recording under %" PRIu64, nd->id,
				 epoch, nd->recording_epoch);
		c = change_add(s, true, nd, patch);
		c->epoch = epoch;
		c->version = version;
	} else {
		json_decref(patch);
	}
	drain(s, nd);
	return 0;
}

/* ---- expectations ----------------------------------------------------------------------- */

/* The node list of an expectation; each must have a running agent. */
static int expect_list(struct sim *s, const char *what, const char *args, int *list)
{
	int n = scn_parse_list(args, s->n, list, MAXN);

	if (n <= 0) {
		scn_fail(s->r, "expect %s: bad node list \"%s\"", what, args);
		return -EINVAL;
	}
	for (int k = 0; k < n; k++)
		if (!s->nodes[list[k]].core) {
			scn_fail(s->r, "expect %s: node %d: agent is down", what, list[k]);
			return -EINVAL;
		}
	return n;
}

static int ex_leader(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char arg[64];
	int list[MAXN], n = 0, leader;
	uint64_t epoch = 0;
	bool with_epoch = false;

	args = scn_word(args, arg, sizeof(arg));
	if (scn_parse_list(arg, s->n, &leader, 1) != 1) {
		scn_fail(r, "expect leader: bad node \"%s\"", arg);
		return -EINVAL;
	}
	while (*args) {
		args = scn_word(args, arg, sizeof(arg));
		if (!strcmp(arg, "epoch")) {
			args = scn_word(args, arg, sizeof(arg));
			with_epoch = scn_parse_u64(arg, &epoch) == 0;
		} else if (!strcmp(arg, "on")) {
			args = scn_word(args, arg, sizeof(arg));
			n = scn_parse_list(arg, s->n, list, MAXN);
		}
	}
	if (n <= 0) /* default: every running agent linked to the leader */
		for (int i = 1; i <= s->n; i++)
			if (s->nodes[i].core && linked(s, i, leader))
				list[n++] = i;
	for (int k = 0; k < n; k++) {
		struct core *c = s->nodes[list[k]].core;
		if (!c || core_leader_id(c) != (uint32_t)leader || !core_is_synced(c) ||
		    (with_epoch && core_leader_epoch(c) != epoch))
			scn_fail(r, "expected node %d to follow leader %d%s synced; it follows %" PRIu32 " epoch %" PRIu64 " (%s)",
				 list[k], leader, with_epoch ? " with that epoch" : "", c ? core_leader_id(c) : 0,
				 c ? core_leader_epoch(c) : 0, c ? (core_is_synced(c) ? "synced" : "not synced") : "agent down");
	}
	if (!s->nodes[leader].core || !core_is_leader(s->nodes[leader].core))
		scn_fail(r, "expected node %d to act as leader", leader);
	return 0;
}

static int ex_version(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char arg[64];
	uint64_t v;
	int list[MAXN], n;

	args = scn_word(args, arg, sizeof(arg));
	if (scn_parse_u64(arg, &v) < 0 || (n = expect_list(s, what, args, list)) < 0) {
		scn_fail(r, "expect %s: needs V I,J", what);
		return -EINVAL;
	}
	for (int k = 0; k < n; k++) {
		struct core *c = s->nodes[list[k]].core;
		uint64_t have = !strcmp(what, "version") ? core_state_version(c) : core_committed_version(c);
		if (have != v)
			scn_fail(r, "expected node %d at %s %" PRIu64 ", it is at %" PRIu64, list[k],
				 !strcmp(what, "version") ? "version" : "committed version", v, have);
	}
	return 0;
}

static int ex_spec(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char arg[64];
	int i;
	json_t *want;

	args = scn_word(args, arg, sizeof(arg));
	if (expect_list(s, what, arg, &i) != 1 || !(want = json_loads(args, 0, NULL))) {
		scn_fail(r, "bad expect spec");
		return -EINVAL;
	}
	if (!json_equal(want, core_spec(s->nodes[i].core))) {
		_cleanup_free_ char *h = json_dumps(core_spec(s->nodes[i].core), JSON_SORT_KEYS | JSON_COMPACT);
		scn_fail(r, "node %d spec is %s", i, h);
	}
	json_decref(want);
	return 0;
}

/* `KEY JSON|absent` against a value (NULL: absent). */
static void expect_value(struct sim *s, const char *label, const json_t *have, const char *want_text)
{
	json_t *want = NULL;

	if (strcmp(want_text, "absent") && !(want = json_loads(want_text, JSON_DECODE_ANY, NULL))) {
		scn_fail(s->r, "expect %s: bad JSON \"%s\"", label, want_text);
		return;
	}
	if (!want ? have != NULL : !have || !json_equal(want, have)) {
		_cleanup_free_ char *h = have ? json_dumps(have, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		scn_fail(s->r, "%s is %s, expected %s", label, h ? h : "absent", want_text);
	}
	json_decref(want);
}

static int ex_record(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char arg[64], key[CORE_MAX_RECORD_KEY + 1], label[300];
	int i;

	args = scn_word(args, arg, sizeof(arg));
	args = scn_word(args, key, sizeof(key));
	if (expect_list(s, what, arg, &i) != 1 || !*key || !*args) {
		scn_fail(r, "expect record: needs I KEY JSON|absent");
		return -EINVAL;
	}
	snprintf(label, sizeof(label), "node %d's record %s", i, key);
	expect_value(s, label, json_object_get(core_records(s->nodes[i].core), key), args);
	return 0;
}

static const json_t *section_of(const struct core *c, int owner)
{
	char key[16];

	snprintf(key, sizeof(key), "%d", owner);
	return json_object_get(json_object_get(core_node_sections(c), key), "section");
}

static int ex_section(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char arg[64], label[64];
	int i, owner;

	args = scn_word(args, arg, sizeof(arg));
	if (expect_list(s, what, arg, &i) != 1) {
		scn_fail(r, "expect section: needs I OWNER JSON|absent");
		return -EINVAL;
	}
	args = scn_word(args, arg, sizeof(arg));
	if (scn_parse_list(arg, s->n, &owner, 1) != 1 || !*args) {
		scn_fail(r, "expect section: needs I OWNER JSON|absent");
		return -EINVAL;
	}
	snprintf(label, sizeof(label), "node %d's view of node %d's section", i, owner);
	expect_value(s, label, section_of(s->nodes[i].core, owner), args);
	return 0;
}

static bool sections_agree(struct sim *s, const int *list, int n)
{
	bool ok = true;

	for (int k = 1; k < n; k++)
		if (!json_equal(core_node_sections(s->nodes[list[0]].core), core_node_sections(s->nodes[list[k]].core))) {
			_cleanup_free_ char *a = json_dumps(core_node_sections(s->nodes[list[0]].core), JSON_SORT_KEYS | JSON_COMPACT);
			_cleanup_free_ char *b = json_dumps(core_node_sections(s->nodes[list[k]].core), JSON_SORT_KEYS | JSON_COMPACT);
			scn_fail(s->r, "nodes %d and %d see different sections: %s / %s", list[0], list[k], a, b);
			ok = false;
		}
	return ok;
}

static int ex_same_sections(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	int list[MAXN], n = expect_list(s, what, args, list);

	if (n > 0)
		sections_agree(s, list, n);
	return n < 0 ? n : 0;
}

static int ex_cluster_id(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	int list[MAXN], n = expect_list(s, what, args, list);

	for (int k = 0; k < n; k++) {
		const char *id = core_cluster_id(s->nodes[list[k]].core);
		const char *first = core_cluster_id(s->nodes[list[0]].core);
		if (!strcmp(what, "cluster-id-unset") ? *id : !*id)
			scn_fail(r, "node %d's cluster id is \"%s\"", list[k], id);
		else if (!strcmp(what, "cluster-id-same") && strcmp(id, first))
			scn_fail(r, "node %d's cluster id %s differs from node %d's %s", list[k], id, list[0], first);
	}
	return n < 0 ? n : 0;
}

static int ex_flags(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	int list[MAXN], n = expect_list(s, what, args, list);

	for (int k = 0; k < n; k++) {
		struct node *nd = &s->nodes[list[k]];
		struct core *c = nd->core;
		json_t *st = core_status_json(c, scn_now(r));
		bool stalled = json_is_true(json_object_get(json_object_get(st, "sync"), "stalled"));
		bool acts = core_is_acting(c) && (nd->acting || !s->saw_leading);

		json_decref(st);
		if (!strcmp(what, "no-leader") && core_leader_id(c))
			scn_fail(r, "expected node %d without leader, it follows %" PRIu32, list[k], core_leader_id(c));
		else if (!strcmp(what, "stalled") && !stalled)
			scn_fail(r, "expected node %d stalled", list[k]);
		else if (!strcmp(what, "not-stalled") && stalled)
			scn_fail(r, "expected node %d not stalled", list[k]);
		else if (!strcmp(what, "quorate") && !core_is_quorate(c))
			scn_fail(r, "expected node %d quorate", list[k]);
		else if (!strcmp(what, "not-quorate") && core_is_quorate(c))
			scn_fail(r, "expected node %d not quorate", list[k]);
		else if (!strcmp(what, "synced") && !core_is_synced(c))
			scn_fail(r, "expected node %d synced", list[k]);
		else if (!strcmp(what, "acting") && !acts)
			scn_fail(r, "expected node %d to act as leader", list[k]);
		else if (!strcmp(what, "not-acting") && acts)
			scn_fail(r, "expected node %d not to act as leader", list[k]);
		else if (!strcmp(what, "recording") && !core_is_recording(c))
			scn_fail(r, "expected node %d to record as leader", list[k]);
		else if (!strcmp(what, "not-recording") && core_is_recording(c))
			scn_fail(r, "expected node %d not to record as leader", list[k]);
		else if (!strcmp(what, "same-state") &&
			 (core_state_hash(c) != core_state_hash(s->nodes[list[0]].core) ||
			  core_state_version(c) != core_state_version(s->nodes[list[0]].core)))
			scn_fail(r, "node %d state (version %" PRIu64 ") differs from node %d's (version %" PRIu64 ")",
				 list[k], core_state_version(c), list[0], core_state_version(s->nodes[list[0]].core));
	}
	return n < 0 ? n : 0;
}

/* (epoch, version) order of two patches. */
static bool patch_after(const struct change *a, const struct change *b)
{
	return a->epoch != b->epoch ? a->epoch > b->epoch : a->version > b->version;
}

/* Every acknowledged change is in the state node `i` holds now. */
static void check_changes(struct sim *s, int i)
{
	struct core *c = s->nodes[i].core;
	const struct change *last = NULL;
	const json_t *records = core_records(c);

	/* spec: the newest acknowledged, or one whose fate is unknown (it may have come later) */
	for (size_t k = 0; k < s->n_changes; k++) {
		const struct change *ch = &s->changes[k];
		if (!ch->patch && ch->state == CHANGE_ACKED && (!last || ch->version > last->version))
			last = ch;
	}
	if (last) {
		bool ok = last->body && json_equal(last->body, core_spec(c));
		if (core_state_version(c) < last->version)
			scn_fail(s->r, "node %d is at version %" PRIu64 ", below acknowledged version %" PRIu64, i,
				 core_state_version(c), last->version);
		for (size_t k = 0; k < s->n_changes && !ok; k++) {
			const struct change *ch = &s->changes[k];
			ok = !ch->patch && (ch->state == CHANGE_PENDING || ch->state == CHANGE_UNKNOWN) && ch->body &&
			     json_equal(ch->body, core_spec(c));
		}
		if (!ok)
			scn_fail(s->r, "node %d lost the spec of client #%" PRIu64 " (acknowledged at version %" PRIu64 ")", i,
				 last->client, last->version);
	}
	/* records, key by key: the value of the newest acknowledged patch that set it, or of a
	 * later patch whose fate is unknown; with none acknowledged, absent or any such value */
	json_t *keys = json_object();
	for (size_t k = 0; k < s->n_changes; k++) {
		const char *key;
		json_t *v;
		if (s->changes[k].patch && json_is_object(s->changes[k].body))
			json_object_foreach(s->changes[k].body, key, v)
				json_object_set(keys, key, json_true());
	}
	const char *key;
	json_t *unused;
	json_object_foreach(keys, key, unused) {
		const struct change *acked = NULL;
		const json_t *have = json_object_get(records, key);
		bool ok = false;

		for (size_t k = 0; k < s->n_changes; k++) {
			const struct change *o = &s->changes[k];
			if (o->patch && o->state == CHANGE_ACKED && json_object_get(o->body, key) &&
			    (!acked || patch_after(o, acked)))
				acked = o;
		}
		if (!acked)
			ok = !have;
		for (size_t k = 0; k < s->n_changes && !ok; k++) {
			const struct change *o = &s->changes[k];
			const json_t *ov = o->patch ? json_object_get(o->body, key) : NULL;
			if (!ov || (o != acked && (o->state == CHANGE_ACKED || (acked && !patch_after(o, acked)))))
				continue;
			ok = json_is_null(ov) ? !have : have && json_equal(ov, have);
		}
		if (!ok) {
			_cleanup_free_ char *h = have ? json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
			scn_fail(s->r, "node %d's record %s is %s: neither the last acknowledged patch's value nor a later one's",
				 i, key, h ? h : "absent");
		}
	}
	json_decref(keys);
}

static int ex_converged(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	int list[MAXN], n = 0, leader = 0, leaders = 0;

	if (*args) {
		if ((n = expect_list(s, what, args, list)) < 0)
			return n;
	} else {
		for (int i = 1; i <= s->n; i++)
			list[n++] = i;
		for (int k = 0; k < n; k++)
			if (!s->nodes[list[k]].core) {
				scn_fail(r, "not converged: node %d's agent is down", list[k]);
				return 0;
			}
	}
	for (int i = 1; i <= s->n; i++)
		if (s->nodes[i].core && core_is_leader(s->nodes[i].core)) {
			leaders++;
			leader = i;
		}
	if (leaders != 1) {
		scn_fail(r, "not converged: %d leaders", leaders);
		return 0;
	}
	for (int k = 0; k < n; k++) {
		struct node *nd = &s->nodes[list[k]], *l = &s->nodes[leader];
		struct core *c = nd->core;
		if (!core_is_synced(c) || !core_may_act(c) || core_leader_id(c) != (uint32_t)leader ||
		    core_leader_epoch(c) != core_leader_epoch(l->core))
			scn_fail(r, "not converged: node %d follows %" PRIu32 " epoch %" PRIu64 " (%s, %s), leader %d has epoch %" PRIu64,
				 list[k], core_leader_id(c), core_leader_epoch(c), core_is_synced(c) ? "synced" : "not synced",
				 core_may_act(c) ? "may act" : "may not act", leader, core_leader_epoch(l->core));
		if (core_state_version(c) != core_state_version(l->core) || core_state_hash(c) != core_state_hash(l->core) ||
		    !json_equal(core_records(c), core_records(l->core)))
			scn_fail(r, "not converged: node %d holds version %" PRIu64 ", the leader %" PRIu64 " (or another state)",
				 list[k], core_state_version(c), core_state_version(l->core));
		if (core_committed_version(c) != core_state_version(c))
			scn_fail(r, "not converged: node %d has committed %" PRIu64 " of %" PRIu64, list[k],
				 core_committed_version(c), core_state_version(c));
		if (strcmp(core_cluster_id(c), core_cluster_id(l->core)))
			scn_fail(r, "not converged: node %d's cluster id \"%s\", the leader's \"%s\"", list[k],
				 core_cluster_id(c), core_cluster_id(l->core));
		if (s->cluster_ids && !s->stub && !*core_cluster_id(c))
			scn_fail(r, "not converged: node %d has no cluster id", list[k]);
		if (!s->stub)
			for (int j = 1; j <= s->n; j++) {
				const json_t *have = section_of(c, j);
				const json_t *want = s->nodes[j].core ? s->nodes[j].facts : NULL;
				if (!(want ? have && json_equal(want, have) : !have))
					scn_fail(r, "not converged: node %d's view of node %d's section is not what %d published",
						 list[k], j, j);
			}
		check_changes(s, list[k]);
	}
	sections_agree(s, list, n);
	/* Liveness: every client whose agent still runs has its answer. */
	for (size_t k = 0; k < s->n_changes; k++) {
		const struct change *ch = &s->changes[k];
		if (ch->state != CHANGE_PENDING || s->nodes[ch->node].gen != ch->gen)
			continue;
		if (!ch->patch)
			scn_fail(r, "client #%" PRIu64 " on node %d never got an answer", ch->client, ch->node);
		else
			scn_fail(r, "node %d's patch (epoch %" PRIu64 ", version %" PRIu64 ") is neither committed nor abandoned",
				 ch->node, ch->epoch, ch->version);
	}
	return 0;
}

/* ---- header ----------------------------------------------------------------------------- */

static int hd_nodes(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t n;

	if (scn_parse_u64(args, &n) < 0 || n < 1 || n > MAXN)
		return -EINVAL;
	s->n = (int)n;
	for (int i = 1; i <= s->n; i++)
		s->nodes[i] = (struct node){ .id = i, .proto_min = WIRE_PROTO_MIN, .proto_max = WIRE_PROTO_MAX };
	return 0;
}

static int hd_option(void *d, struct scn *r, const char *verb, const char *args)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
		{ "detect", offsetof(struct sim, detect) },
		{ "merge", offsetof(struct sim, merge) },
		{ "latency", offsetof(struct sim, latency) },
		{ "stall", offsetof(struct sim, stall) },
		{ "join", offsetof(struct sim, join) },
		{ "corosync_start", offsetof(struct sim, corosync_start) },
		{ "request_timeout", offsetof(struct sim, request_timeout) },
	};
	struct sim *s = d;
	char name[64];
	uint64_t v;

	args = scn_word(args, name, sizeof(name));
	if (scn_parse_u64(args, &v) < 0)
		return -EINVAL;
	if (!strcmp(name, "quorum_first")) {
		s->quorum_first = v != 0;
		return 0;
	}
	if (!strcmp(name, "cluster_id")) {
		s->cluster_ids = v != 0;
		return 0;
	}
	for (size_t k = 0; k < ARRAY_SIZE(opts); k++)
		if (!strcmp(name, opts[k].name)) {
			*(uint64_t *)((char *)s + opts[k].off) = v * MS;
			return 0;
		}
	return -EINVAL;
}

static int hd_proto(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	int i, lo, hi;

	if (sscanf(args, "%d %d %d", &i, &lo, &hi) != 3 || i < 1 || i > s->n || lo < 1 || hi < lo || hi > 65535)
		return -EINVAL;
	s->nodes[i].proto_min = (uint16_t)lo;
	s->nodes[i].proto_max = (uint16_t)hi;
	return 0;
}

/* ---- random mode ------------------------------------------------------------------------ */

/* "1,2,3" for the nodes in mask (bit i = node i). */
static void list_text(char *buf, size_t size, unsigned mask)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 1; i < MAXN + 1 && o < size; i++)
		if (mask & (1u << i))
			o += (size_t)snprintf(buf + o, size - o, "%s%d", o ? "," : "", i);
}

static int pick(struct scn_rng *g, const int *cand, int n)
{
	return n ? cand[scn_rng_below(g, (uint64_t)n)] : 0;
}

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	unsigned n = o->nodes ? o->nodes : (unsigned)scn_rng_range(g, 3, 5);

	if (n > MAXN) {
		scn_fail(r, "at most %d nodes", MAXN);
		return -EINVAL;
	}
	if (scn_header(r, "nodes %u", n) < 0 || scn_header(r, "option cluster_id 1") < 0 ||
	    scn_header(r, "option latency %" PRIu64, scn_rng_range(g, 1, 3)) < 0)
		return -EINVAL;
	/* nodes come up within the first 3 s, in random order */
	for (unsigned i = 1; i <= n; i++)
		scn_at(r, scn_rng_range(g, 0, 3000) * MS, "start %u", i);
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	int up[MAXN], down[MAXN], agent_up[MAXN], agent_down[MAXN], coro_up[MAXN], coro_down[MAXN];
	int nup = 0, ndown = 0, nau = 0, nad = 0, ncu = 0, ncd = 0, actor = 0;
	char list[64];
	unsigned roll;

	/* mostly spread out, sometimes in quick bursts: races are where bugs live */
	*next = (scn_rng_chance(g, 30) ? scn_rng_range(g, 1, 150) : scn_rng_range(g, 150, 4000)) * MS;
	if (scn_now(r) < 3000 * MS) {
		*next = 3000 * MS - scn_now(r) + scn_rng_range(g, 1, 1000) * MS;
		return -EAGAIN;
	}
	for (int i = 1; i <= s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (nd->agent_up && nd->corosync_up)
			up[nup++] = i;
		else
			down[ndown++] = i;
		if (nd->agent_up)
			agent_up[nau++] = i;
		else
			agent_down[nad++] = i;
		if (nd->corosync_up)
			coro_up[ncu++] = i;
		else
			coro_down[ncd++] = i;
		if (nd->core && (nd->acting || core_is_acting(nd->core)))
			actor = i;
	}
	roll = (unsigned)scn_rng_below(g, 100);
	if (roll < 20 && nau) {
		snprintf(buf, size, "apply %d {\"labels\":{\"r\":\"%u\"}}", pick(g, agent_up, nau), ++s->labels);
	} else if (roll < 36 && nau) {
		int i = actor && scn_rng_chance(g, 75) ? actor : pick(g, agent_up, nau);
		unsigned key = (unsigned)scn_rng_below(g, 6);
		uint64_t e = core_leader_epoch(s->nodes[i].core);
		int o;
		if (scn_rng_chance(g, 25))
			o = snprintf(buf, size, "patch %d {\"k%u\":null}", i, key);
		else {
			unsigned key2 = (unsigned)scn_rng_below(g, 6);
			s->keys += 2;
			o = snprintf(buf, size, "patch %d {\"k%u\":%u,\"k%u\":%u}", i, key, s->keys - 1, key2, s->keys);
		}
		if (scn_rng_chance(g, 15))
			snprintf(buf + o, size - (size_t)o, " epoch %" PRIu64, e ? e - 1 + 2 * scn_rng_below(g, 2) : 1);
	} else if (roll < 44 && nau) {
		/* a section with a constant part and datastore-like entries that come, change and go,
		 * so that changes travel as deltas (protocol 3) with deletions and nulls among them */
		int o = snprintf(buf, size, "publish %d {\"facts\":%u,\"host\":\"kvm-host-with-a-long-name.example\""
				 ",\"ds\":{", pick(g, agent_up, nau), ++s->labels);
		const char *sep = "";
		for (unsigned k = 0; k < 4; k++) {
			if (scn_rng_chance(g, 30))
				continue;
			o += snprintf(buf + o, size - (size_t)o, "%s\"d%u\":{\"step\":%u,\"error\":%s,\"paths\":[%s]}",
				      sep, k, (unsigned)scn_rng_below(g, 3), scn_rng_chance(g, 50) ? "null" : "\"failed\"",
				      scn_rng_chance(g, 20) ? "null" : "\"a\",\"b\"");
			sep = ",";
		}
		snprintf(buf + o, size - (size_t)o, "}}");
	} else if (roll < 50 && nup) {
		snprintf(buf, size, "kill %d", pick(g, up, nup));
	} else if (roll < 58 && ndown) {
		snprintf(buf, size, "start %d", pick(g, down, ndown));
	} else if (roll < 63 && nau) {
		snprintf(buf, size, "%s %d", scn_rng_chance(g, 70) ? "kill-agent" : "stop-agent", pick(g, agent_up, nau));
	} else if (roll < 69 && nad) {
		snprintf(buf, size, "start-agent %d", pick(g, agent_down, nad));
	} else if (roll < 73 && ncu) {
		snprintf(buf, size, "kill-corosync %d", pick(g, coro_up, ncu));
	} else if (roll < 78 && ncd) {
		snprintf(buf, size, "start-corosync %d", pick(g, coro_down, ncd));
	} else if (roll < 84) {
		/* two or three groups, random members */
		unsigned groups = (unsigned)scn_rng_range(g, 2, s->n > 3 ? 3 : 2), mask[3] = { 0 };
		int o = snprintf(buf, size, "partition");
		for (int i = 1; i <= s->n; i++)
			mask[scn_rng_below(g, groups)] |= 1u << i;
		for (unsigned k = 0; k < groups; k++)
			if (mask[k]) {
				list_text(list, sizeof(list), mask[k]);
				o += snprintf(buf + o, size - (size_t)o, " %s", list);
			}
	} else if (roll < 90) {
		snprintf(buf, size, "heal");
	} else if (roll < 93) {
		unsigned mask = 0;
		for (int i = 1; i <= s->n; i++)
			if (scn_rng_chance(g, 40))
				mask |= 1u << i;
		if (!mask || mask == ((1u << (s->n + 1)) - 2))
			mask = 1u << scn_rng_range(g, 1, (uint64_t)s->n);
		list_text(list, sizeof(list), mask);
		snprintf(buf, size, "stall %s", list);
	} else if (roll < 97) {
		snprintf(buf, size, "unstall");
	} else {
		snprintf(buf, size, "delay %" PRIu64 " %" PRIu64, scn_rng_range(g, 1, (uint64_t)s->n),
			 scn_rng_chance(g, 50) ? 0 : scn_rng_range(g, 1, 400));
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;
	char all[64];
	uint64_t quiet = s->request_timeout + 15000 * MS, done;

	list_text(all, sizeof(all), (1u << (s->n + 1)) - 2);
	scn_at(r, at, "heal");
	scn_at(r, at, "unstall");
	for (int i = 1; i <= s->n; i++)
		if (s->nodes[i].delay)
			scn_at(r, at, "delay %d 0", i);
	scn_at(r, at, "start %s", all);
	scn_at(r, at + quiet, "expect converged");
	/* and it still takes changes */
	done = at + quiet + 1000 * MS;
	scn_at(r, done, "apply %d {\"labels\":{\"r\":\"final\"}}", (int)scn_rng_range(g, 1, (uint64_t)s->n));
	scn_at(r, done + 3000 * MS, "expect converged");
	scn_at(r, done + 3000 * MS, "expect spec 1 {\"labels\":{\"r\":\"final\"}}");
	return done + 3001 * MS;
}

/* ---- the driver ------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->detect = 2000 * MS;
	s->merge = 1500 * MS;
	s->latency = 1 * MS;
	s->stall = 8000 * MS;
	s->join = 20 * MS;
	s->corosync_start = 1000 * MS;
	s->request_timeout = 30000 * MS;
	return s;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (int i = 1; i <= s->n; i++) {
		core_free(s->nodes[i].core);
		free(s->nodes[i].snapshot);
		free(s->nodes[i].journal);
		json_decref(s->nodes[i].facts);
	}
	for (size_t k = 0; k < s->n_held; k++)
		msg_unref(s->held[k]);
	for (size_t k = 0; k < s->n_deferred; k++)
		msg_unref(s->deferred[k].m);
	for (size_t k = 0; k < s->n_changes; k++)
		json_decref(s->changes[k].body);
	free(s->changes);
	free(s->epoch_owner);
	free(s->history);
	free(s);
}

static int ready(void *d, struct scn *r)
{
	struct sim *s = d;

	if (!s->n) {
		fprintf(stderr, "a scenario needs \"nodes N\"\n");
		return -EINVAL;
	}
	return 0;
}

static const struct scn_statement header[] = {
	{ "nodes", hd_nodes, "N  nodes 1..N, expected votes N (first)" },
	{ "option", hd_option, "detect|merge|latency|stall|join|corosync_start|request_timeout MS | quorum_first 1 | cluster_id 1" },
	{ "proto", hd_proto, "I MIN MAX  protocol range of node I's agent" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "start", st_nodes, "I[,J...]  corosync and agent" },
	{ "kill", st_nodes, "I[,J...]  agent and corosync die" },
	{ "start-agent", st_nodes, "I[,J...]" },
	{ "kill-agent", st_nodes, "I[,J...]" },
	{ "stop-agent", st_nodes, "I[,J...]  clean stop" },
	{ "start-corosync", st_nodes, "I[,J...]" },
	{ "kill-corosync", st_nodes, "I[,J...]" },
	{ "stall", st_nodes, "I[,J...]  their corosync stops delivering" },
	{ "unstall", st_heal, " every corosync delivers again" },
	{ "partition", st_partition, "A,B C ...  cut the links between the groups" },
	{ "heal", st_heal, " join every group again" },
	{ "delay", st_delay, "I MS  extra delivery latency to node I" },
	{ "disk", st_disk, "I VERSION EPOCH JSON  replace node I's persisted state (agent down)" },
	{ "disk-cluster", st_disk_cluster, "I ID  the state on node I's disk belongs to cluster ID" },
	{ "apply", st_apply, "I JSON  a client on node I applies JSON as the spec" },
	{ "patch", st_patch, "I JSON [epoch E]  node I's leader patch" },
	{ "publish", st_publish, "I JSON  node I publishes its own section" },
	{ "inject", st_inject, "I HEX  raw bytes to node I from its lowest peer" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "leader", ex_leader, "L [epoch E] [on I,J]  L leads, they follow it, synced" },
	{ "no-leader", ex_flags, "I,J" },
	{ "version", ex_version, "V I,J  state version" },
	{ "committed", ex_version, "V I,J  committed version" },
	{ "same-state", ex_flags, "I,J" },
	{ "stalled", ex_flags, "I,J" },
	{ "not-stalled", ex_flags, "I,J" },
	{ "quorate", ex_flags, "I,J" },
	{ "not-quorate", ex_flags, "I,J" },
	{ "synced", ex_flags, "I,J" },
	{ "acting", ex_flags, "I,J  between LEADING start and stop" },
	{ "not-acting", ex_flags, "I,J" },
	{ "recording", ex_flags, "I,J  between RECORDING start and stop" },
	{ "not-recording", ex_flags, "I,J" },
	{ "spec", ex_spec, "I JSON" },
	{ "record", ex_record, "I KEY JSON|absent" },
	{ "section", ex_section, "I OWNER JSON|absent  node I's view of OWNER's section" },
	{ "same-sections", ex_same_sections, "I,J  identical node sections" },
	{ "cluster-id-set", ex_cluster_id, "I,J" },
	{ "cluster-id-unset", ex_cluster_id, "I,J" },
	{ "cluster-id-same", ex_cluster_id, "I,J  set and equal" },
	{ "converged", ex_converged, "[I,J]  one leader, all synced on one state, clients answered, acknowledged changes kept" },
	{ 0 }
};

static const struct scn_driver coord_driver = {
	.name = "coord",
	.summary = "The coordination core (coord/cluster/core.c): N cores over a simulated corosync (CPG with\n"
		   "virtual synchrony, votequorum, partitions, stalls, restarts, disks). See\n"
		   "tests/scenario/coord-driver.c for the trace format and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.ready = ready,
	.handle = handle,
	.event_free = event_free,
	.invariants = invariants,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&coord_driver, argc, argv);
}
