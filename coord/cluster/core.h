/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The coordination core: membership, quorum, leader election and replicated state.
 *
 * Pure: it owns no fds, reads no clock and does no I/O. The I/O shell (agent/) feeds it events
 * with the monotonic time passed in, then drains the actions it queued (send a CPG message,
 * persist the state, answer a client, log a decision, note a role change) and performs them IN
 * ORDER before feeding the next event -- that ordering is what makes "persist, then acknowledge"
 * hold. Tests drive many cores in one process over a simulated CPG (tests/scenario-sim.c).
 *
 * Protocol (all decisions are computed identically by every member from totally ordered input):
 *
 * 1. Views and sync rounds. Every CPG configuration change starts round 0 of a new view; a local
 *    quorum change, a stall recovery or a reconnect starts round r+1 (any member may start it by
 *    multicasting its WIRE_SYNC_INFO for r+1; everyone joins the highest round delivered). In a
 *    round each member multicasts one SYNC_INFO: its (state_epoch, state_version, hash), who it
 *    follows, the highest epoch it has seen, its quorum flag and protocol range. CPG extended
 *    virtual synchrony delivers a message only in the view it was sent in, so infos of an older
 *    view never mix into a newer one; infos whose member list differs are dropped.
 * 2. Newest state wins. When the infos of all members are in, the newest (state_epoch,
 *    state_version) is chosen (equal versions with different hashes: "diverged", lowest node id
 *    holding the highest epoch wins, logged). If any member is behind, the lowest-id holder of
 *    the newest state multicasts it in WIRE_STATE_CHUNKs; stale members apply it on the last
 *    chunk and persist before anything else. The view is "synced" once no member is behind.
 * 3. Election (only when every info says quorate and the local node is quorate): the previous
 *    leader stays if it is still a member, compatible, and still claims the leadership it held
 *    ("sticky"); otherwise the compatible member with the lowest node id leads with epoch
 *    max(max_epoch of all infos) + 1. The epoch is persisted by every member. Quorum loss, a
 *    stall or a lost corosync connection ends the leadership at once; coming back always gives a
 *    new epoch, so an epoch names one continuous quorate leadership (the fencing token the
 *    ONTAP client checks).
 * 4. Changes. A client's request goes from any member to the leader as WIRE_REQUEST; the leader
 *    validates it and multicasts WIRE_PROPOSE(epoch, base_version, payload). Every member
 *    (leader included) applies it on delivery iff it comes from the current leader and epoch and
 *    base_version equals its own version, persists, then multicasts WIRE_ACK. A version is
 *    committed when every compatible member of the view has acked it; the origin then answers
 *    its client. A view change during a commit is resolved by the next sync: the origin answers
 *    success if the state that survived contains the change, an error otherwise.
 * 5. Liveness. The leader multicasts WIRE_HEARTBEAT every stall_timeout/2 (idle cost per beat:
 *    one timer, one IPC round trip, one delivery). A member that has a leader (or is syncing) and
 *    sees no delivery at all for stall_timeout -- two missed beats -- is "stalled" (corosync
 *    re-forming without completing, e.g. an asymmetric partition): status says so, a stalled
 *    leader stops leading and pending requests fail at once. The next delivery starts a new
 *    round; the resync it queued at the stall goes out as soon as corosync moves again.
 * 6. The replicated document and its update kinds. The state every member holds is a set of
 *    sections, each written by one kind of update (enum core_update_kind, never renumbered: the
 *    numbers travel in REQUEST / PROPOSE and in the journal on disk):
 *      - "spec": the user's desired state. CORE_UPDATE_SPEC: a client replaces it whole; goes
 *        to the leader as a REQUEST, which validates it and PROPOSEs it. Durable.
 *      - "records": the leader's own records (fence state, VM ownership, plan progress,
 *        protection runs): a map key -> JSON value. CORE_UPDATE_LEADER_PATCH: a merge patch
 *        over the map (a member's value replaces the record whole, null deletes it), proposed
 *        by the leader itself and only under the epoch it records in: a patch issued under an
 *        older epoch is refused (-ESTALE) before anything is sent, and one in flight when the
 *        leadership changes is dropped by every member (PROPOSE carries the epoch). Durable.
 *      - "cluster_id": the cluster's identity, minted once when the cluster first elects a
 *        leader (that leader's random candidate, carried in its SYNC_INFO; every member adopts
 *        it at the same point, CORE_UPDATE_IDENTITY), carried in every SYNC_INFO; state of
 *        another cluster is never taken, whatever its epoch. Durable.
 *      - "nodes": each node's own facts (initiator names, attached datastores, running
 *        domains...). CORE_UPDATE_NODE_SECTION: a node multicasts its own section directly
 *        (no leader involved; the CPG sender IS the owner, so no node can write another's).
 *        SOFT state: not persisted, not part of the version or hash; every member re-sends
 *        its section after each completed sync, and the sections of members that left the
 *        view are dropped, so the map always describes the current view. In between, a
 *        cluster of protocol 3 sends a changed section as a delta over the one sent before
 *        (WIRE_NODE_SECTION_PATCH, section-delta.h): a member that does not hold that one
 *        drops the sender's section until it comes whole again (at the latest 10 s or 64
 *        patches later, or after the next sync).
 *    Durable updates are versioned: (state_epoch, version) orders them and the hash covers
 *    spec, records and cluster_id. Applying one costs its own size, not the document's: the
 *    PROPOSE carries only the update, the hash is updated incrementally (records hash = sum of
 *    per-record hashes), and the PERSIST action hands the shell a journal record to append
 *    and fdatasync; the shell folds the journal into a snapshot (core_persist_json) when it
 *    grows past the snapshot's size. Only a state transfer moves the whole document.
 * 7. "May act". Drivers that act on the state learn when they may:
 *      CORE_ACT_ROLE      leadership held / ended (kept across sync rounds of one epoch: the
 *                         ONTAP client's epoch guard follows it);
 *      CORE_ACT_RECORDING recording as leader under epoch E may start (the view is synced, the
 *                         election settled; a lone two-node survivor's claim won) / must stop
 *                         now: leader patches commit from here on. A predecessor that lost
 *                         contact may still act OUTSIDE kvmcd until its lease ends, but it can
 *                         commit nothing (every commit needs every member's ACK), so work that
 *                         only records, or acts in ways the predecessor cannot undo, starts
 *                         here: fencing the failed hosts and moving their VMs (issue 9);
 *      CORE_ACT_LEADING   acting as leader under epoch E may start (recording, and the
 *                         predecessor's lease has ended) / must stop now (a sync round began, or
 *                         the leadership ended): start no new leader work until the next start.
 *                         Always inside a RECORDING start..stop bracket;
 *      CORE_ACT_COMMITTED version V is held by every compatible member of a synced, quorate
 *                         view, so a member may act on it (may_act); may_act false: the view
 *                         is syncing, stalled or inquorate, act on nothing new.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct core;

#define CORE_CLUSTER_ID_LEN 32u          /* lower-case hex characters */
#define CORE_MAX_RECORD_KEY 200u         /* records: keys of [A-Za-z0-9._:/@-], 1..200 bytes */
#define CORE_MAX_SECTION_BYTES (1u << 20) /* one node section, canonical JSON */
#define CORE_MAX_PATCH_BYTES (4u << 20)   /* one leader patch, canonical JSON */

struct core_config {
	uint32_t nodeid;            /* corosync node id of this node; may be 0 until connected */
	const char *name;           /* node name (borrowed during core_new, copied) */
	uint16_t proto_min, proto_max; /* normally WIRE_PROTO_MIN/MAX; scenarios vary them */
	/* Safety timing, derived in coord/timeouts.h (0 = that file's defaults). */
	uint64_t stall_timeout_usec;   /* no delivery for this long while led/syncing = stalled */
	uint64_t heartbeat_usec;       /* the leader's heartbeat period (< stall_timeout / 1.5) */
	uint64_t quorum_grace_usec;    /* wait for votequorum's verdict after a NODEDOWN view */
	uint64_t lease_usec;           /* after the leader's node went NODEDOWN, the next leader acts
					  only this long after that view (> stall_timeout: the old
					  leader may act until its own stall timeout) */
	uint64_t request_timeout_usec; /* a client request not committed by then fails */
	/* CORE_CLUSTER_ID_LEN hex characters from the shell's random source (borrowed during
	 * core_new, copied): becomes the cluster's identity if this node is the first leader of a
	 * cluster that has none. NULL: this node never mints one (tests that do not care). */
	const char *cluster_id_candidate;
};

/* Why a member left the CPG view (values of corosync's cpg_reason_t). */
enum core_leave_reason {
	CORE_LEAVE_JOIN = 1,
	CORE_LEAVE_LEAVE = 2,      /* clean cpg_leave */
	CORE_LEAVE_NODEDOWN = 3,   /* the node is gone from the totem ring */
	CORE_LEAVE_NODEUP = 4,
	CORE_LEAVE_PROCDOWN = 5,   /* the agent process died; the node itself may still run */
};

struct core_left {
	uint32_t nodeid;
	uint32_t reason; /* enum core_leave_reason */
};

/*
 * The kinds of update to the replicated document (see 6. above). Never renumbered: they travel
 * on the wire (wire_request.kind / wire_propose.kind) and in the journal on disk.
 */
enum core_update_kind {
	CORE_UPDATE_SPEC = 1,          /* = WIRE_KIND_SPEC: a client replaces the spec */
	/* 2: protocol 1's whole-"status" replace; never sent, refused when received */
	CORE_UPDATE_LEADER_PATCH = 3,  /* the leader's merge patch over "records" */
	CORE_UPDATE_NODE_SECTION = 4,  /* a node replaces its own soft section */
	CORE_UPDATE_IDENTITY = 5,      /* the cluster identity, adopted by every member at the first
					  election (no version; a journal record {"k":5,"cluster_id"}) */
};

enum core_action_type {
	CORE_ACT_SEND,      /* multicast data[0..len) to the group, in order */
	CORE_ACT_PERSIST,   /* make the state durable before the next action: data[0..len) is one
			       journal record (a line of JSON, no newline) to append and fdatasync;
			       data == NULL: write core_persist_json() as the new snapshot and
			       empty the journal (after a state transfer or a format change) */
	CORE_ACT_REPLY,     /* answer client_id: error (0 or negative errno), outcome, text, version */
	CORE_ACT_LOG,       /* a decision: event (static name) + fields, for the journal and the
			       scenario traces; core_log_text() renders it for people */
	CORE_ACT_ROLE,      /* this node gained (is_leader, epoch) or lost the leadership. It is held
			       across sync rounds of the same epoch; it ends at once on quorum loss,
			       a stall, a lost corosync connection or another node's election. */
	CORE_ACT_LEADING,   /* is_leader: acting as leader under epoch may start; false: stop now */
	CORE_ACT_COMMITTED, /* version is committed in a synced quorate view (may_act), or the
			       node may no longer act (may_act false; version = last committed) */
	CORE_ACT_RECORDING, /* is_leader: leader patches under epoch may be issued now (before the
			       predecessor's lease ended, unlike LEADING); false: stop now */
};

enum core_log_level { CORE_LOG_ERR = 3, CORE_LOG_WARNING = 4, CORE_LOG_NOTICE = 5, CORE_LOG_INFO = 6, CORE_LOG_DEBUG = 7 };

/* What a client's change came to; decides kvmcctl's exit status (0 / 2 / 3). */
enum core_outcome {
	CORE_OUTCOME_COMMITTED = 0, /* committed (or already the state: "unchanged") */
	CORE_OUTCOME_REFUSED = 1,   /* refused before anything was sent: nothing applied anywhere */
	CORE_OUTCOME_UNKNOWN = 2,   /* it left this node and may yet commit through the others */
};

struct core_action {
	enum core_action_type type;
	uint8_t *data;       /* SEND: message bytes; PERSIST: journal record or NULL (owned) */
	size_t len;
	uint64_t client_id;  /* REPLY */
	int error;           /* REPLY: 0 or negative errno */
	enum core_outcome outcome; /* REPLY */
	char *text;          /* REPLY: message for the user (owned) */
	uint64_t version;    /* REPLY: state version; COMMITTED: the committed version */
	int level;           /* LOG: enum core_log_level */
	const char *event;   /* LOG: decision name (static string, e.g. "elect") */
	json_t *fields;      /* LOG: the decision's fields (owned reference) */
	bool is_leader;      /* ROLE, LEADING, RECORDING */
	bool may_act;        /* COMMITTED */
	uint64_t epoch;      /* ROLE, LEADING, RECORDING */
};

/* Releases what an action owns; accepts a zeroed action. */
void core_action_clear(struct core_action *a);

/* A LOG action as one line for people ("leader 2 epoch 5 (new)"). Owned; NULL on ENOMEM. */
char *core_log_text(const struct core_action *a);
/* A LOG action as one trace line: `event {"canonical":"fields"}`. Owned; NULL on ENOMEM. */
char *core_log_trace(const struct core_action *a);

/*
 * Creates a core. snapshot is the last core_persist_json() written (NULL for a fresh node) and
 * journal the records appended since (NULL or "" for none; one per line; a torn last line, as
 * a crash mid-append leaves it, is ignored: it was never acknowledged). Returns 0, -EINVAL with
 * *error (owned, for the user) when the persisted state is unreadable, -ENOMEM.
 */
int core_new(const struct core_config *cfg, const char *snapshot, const char *journal, struct core **out,
	     char **error);
void core_free(struct core *c);

/* Events. `now` is CLOCK_MONOTONIC in microseconds. */
void core_connected(struct core *c, uint64_t now, uint32_t local_nodeid);
void core_disconnected(struct core *c, uint64_t now);
/* members: node ids of the new view (any order, this node included). */
void core_confchg(struct core *c, uint64_t now, const uint32_t *members, size_t n_members,
		  const struct core_left *left, size_t n_left);
/*
 * Votequorum's node list from the same notification, passed just before core_quorum(). Optional
 * but recommended: when a CPG view reports a node NODEDOWN, the core waits for votequorum to
 * confirm the quorum of the new ring (at most quorum_grace) unless this list already shows
 * the node gone -- an isolated node must never lead on a stale "quorate".
 */
void core_quorum_nodes(struct core *c, const uint32_t *nodes, size_t n_nodes);
void core_quorum(struct core *c, uint64_t now, bool quorate, uint32_t total_votes, uint32_t expected_votes);
void core_message(struct core *c, uint64_t now, uint32_t sender, const void *data, size_t len);
void core_tick(struct core *c, uint64_t now);
/* The local CPG send queue is blocked (cpg_mcast_joined keeps returning CS_ERR_TRY_AGAIN). */
void core_send_blocked(struct core *c, uint64_t now);

/*
 * A client (client_id chosen by the shell) asks to replace the spec with spec_text. The answer
 * always comes later as a CORE_ACT_REPLY for client_id (possibly queued by this very call:
 * invalid spec, not quorate, unchanged). A node that is not connected, not quorate or stalled
 * refuses every change, even one equal to the spec it holds (its copy may be stale).
 */
void core_request_spec(struct core *c, uint64_t now, uint64_t client_id, const char *spec_text, size_t len);

/*
 * The leader changes its records: patch is a JSON object whose members set records (the value
 * replaces the record whole) or delete them (null). Only while recording as leader (between
 * CORE_ACT_RECORDING start and stop) and only under that epoch. Returns 0 and *version, the
 * state version the patch will be committed as (a CORE_ACT_COMMITTED with version >= it says
 * it is), -ESTALE when epoch is not the epoch this node leads in, -EAGAIN when it does not
 * record as leader right now (sync round, no leadership, a claim not won), -EOPNOTSUPP when the
 * cluster protocol is below 2, -EINVAL with *error (owned) for a patch that is not an object,
 * has a bad key or is too large. Nothing is sent unless 0 is returned. If CORE_ACT_RECORDING
 * stop comes before the commit, the patch may or may not have survived: read the records again.
 */
int core_leader_patch(struct core *c, uint64_t now, uint64_t epoch, const json_t *patch, uint64_t *version,
		      char **error);

/*
 * This node's own soft section (a JSON object, borrowed; copied). Multicast when the view is
 * synced, and again after every sync. Returns 0 (also when unchanged: nothing is sent), -EINVAL
 * with *error (owned) when it is not an object or is larger than CORE_MAX_SECTION_BYTES,
 * -EOPNOTSUPP when the cluster protocol is below 2 (kept and sent once it is 2).
 */
int core_node_publish(struct core *c, uint64_t now, const json_t *section, char **error);

/* Pops the next queued action into *a (caller clears it). Returns false when none is queued. */
bool core_next_action(struct core *c, struct core_action *a);

/* When the core next needs core_tick() (0 = nothing pending). Monotonic usec. */
uint64_t core_next_deadline(const struct core *c);

/* Read-only views for the local API. All return new references / owned strings. */
json_t *core_status_json(const struct core *c, uint64_t now);
json_t *core_spec_json(const struct core *c);
char *core_persist_json(const struct core *c);

/*
 * Borrowed views of the replicated document, valid until the next event fed to the core.
 * records: {key: value}. nodes: {"<node id>": {"name": ..., "section": {...}}} for the members
 * of the current view that published one.
 */
const json_t *core_records(const struct core *c);
const json_t *core_node_sections(const struct core *c);
/* Changes whenever a member's section is replaced or dropped: soft state brings no
 * CORE_ACT_COMMITTED, so a shell that wants to react compares this after performing actions. */
uint64_t core_node_sections_generation(const struct core *c);
const json_t *core_spec(const struct core *c);
const char *core_cluster_id(const struct core *c); /* "" while the cluster has none */

/* Quick accessors (for the shell and tests). */
bool core_is_leader(const struct core *c);       /* holds the leadership right now */
bool core_is_acting(const struct core *c);       /* acting as leader (LEADING) */
bool core_is_recording(const struct core *c);    /* recording as leader: may issue patches now */
/*
 * Two-node clusters (issue 9; coord/decide/fence.h "Two-node clusters"). core_two_node: the
 * shell says whether votequorum runs with two_node (a lone survivor stays quorate). Such a
 * survivor is elected (a new epoch: the highest of the last shared view + 1, as the other half
 * computes it) but neither acts (LEADING) nor may act until core_claim_won() for that epoch.
 * core_claim_pending: the epoch whose ONTAP claim this node must make now (it holds that
 * leadership), 0 when none is needed or it is won. core_two_node_alone_since: since when (the
 * `now` of the event that made it so) this node is alone in a two-node cluster without a won
 * claim, 0 when it is not; core_two_node_peer_seen: this core has been in a synced view with
 * another member (the shell's healthiness: a survivor that saw its peer stays healthy for
 * notice_max while it claims, as an isolated host would before noticing; one that never saw
 * it is not healthy at all). core_claim_won: ignored unless epoch is the pending one. A lost
 * claim is the shell's business: the node never acts in that epoch.
 */
void core_two_node(struct core *c, bool two_node);
uint64_t core_claim_pending(const struct core *c);
uint64_t core_two_node_alone_since(const struct core *c);
bool core_two_node_peer_seen(const struct core *c);
void core_claim_won(struct core *c, uint64_t now, uint64_t epoch);
bool core_may_act(const struct core *c);         /* member of a synced quorate view */
uint64_t core_leader_epoch(const struct core *c); /* 0 when there is no leader */
uint32_t core_leader_id(const struct core *c);
uint64_t core_state_version(const struct core *c);
uint64_t core_committed_version(const struct core *c);
uint64_t core_state_hash(const struct core *c);
bool core_is_synced(const struct core *c);
bool core_is_quorate(const struct core *c);
bool core_is_stalled(const struct core *c);       /* no delivery for stall_timeout (core.h 5.) */
/* The same, judged at `now` rather than at the last tick: also true once now >= the last
 * delivery + stall_timeout while traffic is expected, before the tick that notices it has run
 * (coord/timeouts.h 4.: the watchdog feeder's test). */
bool core_is_stalled_at(const struct core *c, uint64_t now);
/* Why there is no leader right now, for status ("" when there is one). */
const char *core_no_leader_reason(const struct core *c);
