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
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct core;

struct core_config {
	uint32_t nodeid;            /* corosync node id of this node; may be 0 until connected */
	const char *name;           /* node name (borrowed during core_new, copied) */
	uint16_t proto_min, proto_max; /* normally WIRE_PROTO_MIN/MAX; scenarios vary them */
	uint64_t stall_timeout_usec;   /* no delivery for this long while led/syncing = stalled */
	uint64_t request_timeout_usec; /* a client request not committed by then fails */
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

enum core_action_type {
	CORE_ACT_SEND,    /* multicast data[0..len) to the group, in order */
	CORE_ACT_PERSIST, /* write core_persist_json() to disk atomically before the next action */
	CORE_ACT_REPLY,   /* answer client_id: error (0 or negative errno), text, version */
	CORE_ACT_LOG,     /* a decision, for the journal and the scenario logs */
	CORE_ACT_ROLE,    /* this node gained (is_leader, epoch) or lost the leadership. It is held
			     across sync rounds of the same epoch; it ends at once on quorum loss,
			     a stall, a lost corosync connection or another node's election. */
};

enum core_log_level { CORE_LOG_ERR = 3, CORE_LOG_WARNING = 4, CORE_LOG_NOTICE = 5, CORE_LOG_INFO = 6, CORE_LOG_DEBUG = 7 };

struct core_action {
	enum core_action_type type;
	uint8_t *data;       /* SEND: message bytes (owned by the action) */
	size_t len;
	uint64_t client_id;  /* REPLY */
	int error;           /* REPLY: 0 or negative errno */
	char *text;          /* REPLY: message for the user; LOG: the line (owned by the action) */
	uint64_t version;    /* REPLY: committed state version */
	int level;           /* LOG: enum core_log_level */
	bool is_leader;      /* ROLE */
	uint64_t epoch;      /* ROLE */
};

/* Releases what an action owns; accepts a zeroed action. */
void core_action_clear(struct core_action *a);

/*
 * Creates a core. persisted_json is the content of the state file written earlier from
 * core_persist_json() (NULL for a fresh node). Returns 0, -EINVAL with *error (owned, for the
 * user) when the persisted state is unreadable, -ENOMEM.
 */
int core_new(const struct core_config *cfg, const char *persisted_json, struct core **out, char **error);
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
 * confirm the quorum of the new ring (at most stall_timeout/8) unless this list already shows
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
 * invalid spec, not quorate, unchanged).
 */
void core_request_spec(struct core *c, uint64_t now, uint64_t client_id, const char *spec_text, size_t len);

/* Pops the next queued action into *a (caller clears it). Returns false when none is queued. */
bool core_next_action(struct core *c, struct core_action *a);

/* When the core next needs core_tick() (0 = nothing pending). Monotonic usec. */
uint64_t core_next_deadline(const struct core *c);

/* Read-only views for the local API. All return new references / owned strings. */
json_t *core_status_json(const struct core *c, uint64_t now);
json_t *core_spec_json(const struct core *c);
char *core_persist_json(const struct core *c);

/* Quick accessors (for the shell and tests). */
bool core_is_leader(const struct core *c);       /* holds the leadership right now */
uint64_t core_leader_epoch(const struct core *c); /* 0 when there is no leader */
uint32_t core_leader_id(const struct core *c);
uint64_t core_state_version(const struct core *c);
uint64_t core_state_hash(const struct core *c);
bool core_is_synced(const struct core *c);
bool core_is_quorate(const struct core *c);
