/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd CPG wire protocol.
 *
 * Every message is a 12-byte header followed by a type-specific payload, all integers in network
 * byte order (big-endian):
 *
 *   u32 magic   'KVMC' (0x4b564d43)
 *   u16 version protocol version the payload is encoded in
 *   u16 type    enum wire_type; numbers are never reused or renumbered
 *   u32 length  payload length in bytes (the message is exactly 12 + length bytes)
 *
 * Strings are u16 length + bytes (no NUL, no embedded NUL allowed), blobs u32 length + bytes.
 * A payload may be longer than the fields the receiver knows: trailing bytes are ignored, so a
 * later protocol version may append fields without breaking older readers.
 *
 * Versions and rolling upgrades: each daemon supports a range [proto_min, proto_max]. The
 * cluster speaks the lowest proto_max among the members of the view (negotiated in the sync
 * round); members whose proto_min is above that are "incompatible": they stay in the CPG group
 * but are never elected, never apply changes, and report it in status. WIRE_SYNC_INFO is frozen
 * at version 1 and always encoded as version 1, so that every version can read it and the
 * negotiation itself can never fail. Any other message whose header version is outside the
 * receiver's range is dropped and counted.
 *
 * The decoder (wire.c) is bounds-checked, never allocates and never trusts a length; decoded
 * strings and blobs point into the caller's buffer (borrowed).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0x4b564d43u
#define WIRE_HEADER_SIZE 12u
#define WIRE_PROTO_BASE 1u    /* the version WIRE_SYNC_INFO is always encoded in */
#define WIRE_PROTO_MIN 1u     /* oldest version this build reads and writes */
#define WIRE_PROTO_MAX 3u     /* newest version this build reads and writes */
/* Protocol 2 adds leader patches and the cluster identity (request/propose kinds 3 and 5) and
 * node sections (WIRE_NODE_SECTION); a cluster that speaks 1 uses none of them. Protocol 3 adds
 * section patches (WIRE_NODE_SECTION_PATCH); a cluster that speaks 2 sends sections whole. */

#define WIRE_MAX_MEMBERS 128u      /* CPG_MEMBERS_MAX */
#define WIRE_MAX_NAME 255u         /* node names */
#define WIRE_MAX_TEXT 4096u        /* error messages */
/* Specs travel whole in REQUEST/PROPOSE (corosync 3 splits CPG messages above its IPC size);
 * a state transfer is cut into WIRE_CHUNK_SIZE pieces so other traffic interleaves. */
#define WIRE_MAX_PAYLOAD (64u << 20)
#define WIRE_CHUNK_SIZE (256u * 1024u)

enum wire_type {
	WIRE_SYNC_INFO = 1,   /* a member's view of itself for one sync round */
	WIRE_STATE_CHUNK = 2, /* a piece of the newest state, sent to bring stale members up */
	WIRE_REQUEST = 3,     /* a member forwards a client's change request to the leader */
	WIRE_PROPOSE = 4,     /* the leader's change; applied by every member on delivery */
	WIRE_ACK = 5,         /* a member has applied and persisted a version */
	WIRE_REJECT = 6,      /* the leader refuses a request */
	WIRE_HEARTBEAT = 7,   /* the leader is alive and its messages are being delivered */
	WIRE_NODE_SECTION = 8, /* protocol 2: a member replaces its own soft section */
	WIRE_NODE_SECTION_PATCH = 9, /* protocol 3: a member changes its own section by a delta */
	_WIRE_TYPE_MAX,
};

/* The update kinds of coord/cluster/core.h (enum core_update_kind); never renumbered. */
enum wire_request_kind {
	WIRE_KIND_SPEC = 1,         /* payload is the whole new spec (JSON) */
	WIRE_KIND_STATUS = 2,       /* protocol 1's whole-status replace: decoded, never applied */
	WIRE_KIND_LEADER_PATCH = 3, /* protocol 2: merge patch over the leader's records (JSON) */
	WIRE_KIND_IDENTITY = 5,     /* reserved (the identity is minted at election, never proposed) */
};

#define WIRE_INFO_QUORATE 0x1u /* sender's votequorum says quorate */

struct wire_bytes {
	const uint8_t *data; /* borrowed from the decoded buffer */
	uint32_t len;
};

struct wire_sync_info {
	uint32_t round;          /* sync round within the current view */
	uint32_t n_members;      /* the sender's view: sorted node ids */
	uint32_t members[WIRE_MAX_MEMBERS];
	uint16_t proto_min, proto_max;
	uint32_t flags;          /* WIRE_INFO_* */
	struct wire_bytes name;  /* node name */
	uint64_t state_epoch;    /* leader epoch that committed the sender's state */
	uint64_t state_version;
	uint64_t state_hash;
	uint32_t leader_id;      /* who the sender follows; 0 = none */
	uint64_t leader_epoch;
	uint64_t max_epoch;      /* highest epoch the sender has ever seen (persisted) */
	uint32_t expected_votes; /* votequorum's expected votes as the sender knows them */
	/* Appended after the version-1 fields (older readers ignore it; absent = empty): the
	 * cluster identity of the sender's state, WIRE_MAX_CLUSTER_ID bytes at most. */
	struct wire_bytes cluster_id;
	/* Appended after it (absent = 0): how much longer, from the moment this was sent, a
	 * leader that the sender saw leave the ring (NODEDOWN) may still act. The next leader
	 * acts only after the longest such lease of its view's members. */
	uint64_t lease_remaining_usec;
	/* Appended after it (absent = empty): the identity the sender would give the cluster if
	 * it is elected first while the cluster has none. */
	struct wire_bytes id_candidate;
};

#define WIRE_MAX_CLUSTER_ID 64u

struct wire_node_section {
	uint64_t seq;            /* per sender, grows with each section or patch it sends */
	/* WIRE_NODE_SECTION_PATCH only (0 in WIRE_NODE_SECTION): the seq of the section the patch
	 * applies to, which the sender sent last, in this view */
	uint64_t base_seq;
	struct wire_bytes payload; /* the section, canonical JSON object; for a patch the delta
				      (coord/cluster/section-delta.h, a JSON object) */
};

struct wire_state_chunk {
	uint32_t round;
	uint64_t state_epoch, state_version, state_hash;
	uint32_t total_len;      /* whole serialized state */
	uint32_t offset;         /* of this chunk */
	struct wire_bytes data;
};

struct wire_request {
	uint64_t request_id;     /* unique per origin process */
	uint16_t kind;           /* enum wire_request_kind */
	struct wire_bytes payload;
};

struct wire_propose {
	uint64_t leader_epoch;
	uint64_t base_version;   /* applies only on top of exactly this version */
	uint32_t origin;         /* node that asked (0 = the leader itself) */
	uint64_t request_id;
	uint16_t kind;
	struct wire_bytes payload;
};

struct wire_ack {
	uint64_t leader_epoch;
	uint64_t version;
	uint64_t hash;
};

struct wire_reject {
	uint32_t origin;
	uint64_t request_id;
	int32_t error;           /* positive errno */
	struct wire_bytes message;
};

struct wire_heartbeat {
	uint64_t leader_epoch;
	uint64_t seq;
};

struct wire_msg {
	uint16_t version;
	uint16_t type;
	union {
		struct wire_sync_info info;
		struct wire_state_chunk chunk;
		struct wire_request request;
		struct wire_propose propose;
		struct wire_ack ack;
		struct wire_reject reject;
		struct wire_heartbeat heartbeat;
		struct wire_node_section section;
	};
};

/* Why a message was dropped; indexes the counters in status. */
enum wire_error {
	WIRE_OK = 0,
	WIRE_ERR_SHORT,       /* shorter than the header or than its own length */
	WIRE_ERR_MAGIC,
	WIRE_ERR_VERSION,     /* header version outside [min, max] */
	WIRE_ERR_TYPE,        /* unknown type */
	WIRE_ERR_MALFORMED,   /* a field runs past the payload or breaks a bound */
	_WIRE_ERR_MAX,
};

const char *wire_error_name(enum wire_error e);
const char *wire_type_name(uint16_t type);

/*
 * Decodes buf[0..len) into *out. Accepts header versions in [proto_min, proto_max], except
 * WIRE_SYNC_INFO which is accepted at any version >= 1. Returns WIRE_OK or why it was refused;
 * *out is only meaningful on WIRE_OK and borrows from buf.
 */
enum wire_error wire_decode(const void *buf, size_t len, uint16_t proto_min, uint16_t proto_max,
			    struct wire_msg *out);

/*
 * Encodes *msg (msg->type, msg->version and the matching union member) into a newly allocated
 * buffer. Returns 0 and sets *out and *out_len (owned by the caller, free()) or -EINVAL when a field
 * breaks a bound, -ENOMEM.
 */
int wire_encode(const struct wire_msg *msg, uint8_t **out, size_t *out_len);
