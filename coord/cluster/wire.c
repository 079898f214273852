/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bounds-checked encoder/decoder of the CPG wire protocol (see wire.h for the format).
 * The decoder is the first code that touches bytes from a peer: every read goes through a
 * cursor that refuses to run past the payload, and the result borrows from the input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* ---- reading ---------------------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad; /* sticky: once a read fails, every later read fails too */
};

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return false;
	}
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *b;
	if (!rd_take(r, 2, &b))
		return 0;
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *b;
	if (!rd_take(r, 4, &b))
		return 0;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);
	return hi << 32 | rd_u32(r);
}

/* A u16-length string: at most max bytes, no NUL inside. */
static void rd_str(struct rd *r, uint32_t max, struct wire_bytes *out)
{
	uint16_t n = rd_u16(r);
	const uint8_t *b = NULL;

	if (n > max) {
		r->bad = true;
		return;
	}
	if (!rd_take(r, n, &b))
		return;
	if (memchr(b, 0, n)) {
		r->bad = true;
		return;
	}
	*out = (struct wire_bytes){ .data = b, .len = n };
}

static void rd_blob(struct rd *r, uint32_t max, struct wire_bytes *out)
{
	uint32_t n = rd_u32(r);
	const uint8_t *b = NULL;

	if (n > max) {
		r->bad = true;
		return;
	}
	if (!rd_take(r, n, &b))
		return;
	*out = (struct wire_bytes){ .data = b, .len = n };
}

static void decode_info(struct rd *r, struct wire_sync_info *m)
{
	m->round = rd_u32(r);
	m->n_members = rd_u32(r);
	if (m->n_members == 0 || m->n_members > WIRE_MAX_MEMBERS) {
		r->bad = true;
		return;
	}
	for (uint32_t i = 0; i < m->n_members; i++) {
		m->members[i] = rd_u32(r);
		/* Sorted and unique: the receiver compares views element by element. */
		if (m->members[i] == 0 || (i > 0 && m->members[i] <= m->members[i - 1]))
			r->bad = true;
	}
	m->proto_min = rd_u16(r);
	m->proto_max = rd_u16(r);
	if (m->proto_min == 0 || m->proto_min > m->proto_max)
		r->bad = true;
	m->flags = rd_u32(r);
	rd_str(r, WIRE_MAX_NAME, &m->name);
	m->state_epoch = rd_u64(r);
	m->state_version = rd_u64(r);
	m->state_hash = rd_u64(r);
	m->leader_id = rd_u32(r);
	m->leader_epoch = rd_u64(r);
	m->max_epoch = rd_u64(r);
	m->expected_votes = rd_u32(r);
	if (m->leader_epoch > m->max_epoch || m->state_epoch > m->max_epoch)
		r->bad = true;
	if (!r->bad && r->left > 0)
		rd_str(r, WIRE_MAX_CLUSTER_ID, &m->cluster_id);
	if (!r->bad && r->left > 0)
		m->lease_remaining_usec = rd_u64(r);
	if (!r->bad && r->left > 0)
		rd_str(r, WIRE_MAX_CLUSTER_ID, &m->id_candidate);
}

static bool kind_known(uint16_t kind)
{
	return kind == WIRE_KIND_SPEC || kind == WIRE_KIND_STATUS || kind == WIRE_KIND_LEADER_PATCH;
}

static void decode_section(struct rd *r, struct wire_node_section *m)
{
	m->seq = rd_u64(r);
	rd_blob(r, WIRE_MAX_PAYLOAD, &m->payload);
}

static void decode_section_patch(struct rd *r, struct wire_node_section *m)
{
	m->seq = rd_u64(r);
	m->base_seq = rd_u64(r);
	rd_blob(r, WIRE_MAX_PAYLOAD, &m->payload);
	if (!r->bad && (m->base_seq == 0 || m->base_seq >= m->seq))
		r->bad = true;
}

static void decode_chunk(struct rd *r, struct wire_state_chunk *m)
{
	m->round = rd_u32(r);
	m->state_epoch = rd_u64(r);
	m->state_version = rd_u64(r);
	m->state_hash = rd_u64(r);
	m->total_len = rd_u32(r);
	m->offset = rd_u32(r);
	rd_blob(r, WIRE_CHUNK_SIZE, &m->data);
	if (r->bad)
		return;
	if (m->total_len == 0 || m->offset > m->total_len || m->data.len > m->total_len - m->offset ||
	    (m->data.len == 0 && m->offset != m->total_len))
		r->bad = true;
}

static void decode_request(struct rd *r, struct wire_request *m)
{
	m->request_id = rd_u64(r);
	m->kind = rd_u16(r);
	rd_blob(r, WIRE_MAX_PAYLOAD, &m->payload);
	if (!kind_known(m->kind))
		r->bad = true;
}

static void decode_propose(struct rd *r, struct wire_propose *m)
{
	m->leader_epoch = rd_u64(r);
	m->base_version = rd_u64(r);
	m->origin = rd_u32(r);
	m->request_id = rd_u64(r);
	m->kind = rd_u16(r);
	rd_blob(r, WIRE_MAX_PAYLOAD, &m->payload);
	if (m->leader_epoch == 0 || !kind_known(m->kind))
		r->bad = true;
}

static void decode_ack(struct rd *r, struct wire_ack *m)
{
	m->leader_epoch = rd_u64(r);
	m->version = rd_u64(r);
	m->hash = rd_u64(r);
}

static void decode_reject(struct rd *r, struct wire_reject *m)
{
	m->origin = rd_u32(r);
	m->request_id = rd_u64(r);
	m->error = (int32_t)rd_u32(r);
	rd_str(r, WIRE_MAX_TEXT, &m->message);
	if (m->error <= 0 || m->error > 4095)
		r->bad = true;
}

static void decode_heartbeat(struct rd *r, struct wire_heartbeat *m)
{
	m->leader_epoch = rd_u64(r);
	m->seq = rd_u64(r);
}

enum wire_error wire_decode(const void *buf, size_t len, uint16_t proto_min, uint16_t proto_max,
			    struct wire_msg *out)
{
	struct rd r = { .p = buf, .left = len };
	struct wire_msg m;
	uint32_t magic, plen;

	if (!buf || len < WIRE_HEADER_SIZE)
		return WIRE_ERR_SHORT;
	memset(&m, 0, sizeof(m));
	magic = rd_u32(&r);
	m.version = rd_u16(&r);
	m.type = rd_u16(&r);
	plen = rd_u32(&r);
	if (magic != WIRE_MAGIC)
		return WIRE_ERR_MAGIC;
	if (plen != r.left)
		return WIRE_ERR_SHORT;
	if (m.type == 0 || m.type >= _WIRE_TYPE_MAX)
		return WIRE_ERR_TYPE;
	if (m.type == WIRE_SYNC_INFO ? m.version < WIRE_PROTO_BASE
				     : (m.version < proto_min || m.version > proto_max))
		return WIRE_ERR_VERSION;

	switch (m.type) {
	case WIRE_SYNC_INFO:   decode_info(&r, &m.info); break;
	case WIRE_STATE_CHUNK: decode_chunk(&r, &m.chunk); break;
	case WIRE_REQUEST:     decode_request(&r, &m.request); break;
	case WIRE_PROPOSE:     decode_propose(&r, &m.propose); break;
	case WIRE_ACK:         decode_ack(&r, &m.ack); break;
	case WIRE_REJECT:      decode_reject(&r, &m.reject); break;
	case WIRE_HEARTBEAT:   decode_heartbeat(&r, &m.heartbeat); break;
	case WIRE_NODE_SECTION: decode_section(&r, &m.section); break;
	case WIRE_NODE_SECTION_PATCH: decode_section_patch(&r, &m.section); break;
	}
	/* Trailing bytes are allowed (fields appended by a later version); missing ones are not. */
	if (r.bad)
		return WIRE_ERR_MALFORMED;
	*out = m;
	return WIRE_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

struct wr {
	uint8_t *buf; /* owned */
	size_t len, cap;
	int err;      /* sticky */
};

static void wr_reserve(struct wr *w, size_t n)
{
	size_t cap;
	uint8_t *b;

	if (w->err || w->len + n <= w->cap)
		return;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->err = -ENOMEM;
		return;
	}
	w->buf = b;
	w->cap = cap;
}

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	wr_reserve(w, n);
	if (w->err)
		return;
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };
	wr_bytes(w, b, 2);
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
	wr_bytes(w, b, 4);
}

static void wr_u64(struct wr *w, uint64_t v)
{
	wr_u32(w, (uint32_t)(v >> 32));
	wr_u32(w, (uint32_t)v);
}

static void wr_str(struct wr *w, const struct wire_bytes *s, uint32_t max)
{
	if (s->len > max || (s->len && memchr(s->data, 0, s->len))) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	wr_u16(w, (uint16_t)s->len);
	wr_bytes(w, s->data, s->len);
}

static void wr_blob(struct wr *w, const struct wire_bytes *s, uint32_t max)
{
	if (s->len > max) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	wr_u32(w, s->len);
	wr_bytes(w, s->data, s->len);
}

int wire_encode(const struct wire_msg *m, uint8_t **out, size_t *out_len)
{
	struct wr w = { 0 };
	uint16_t version = m->type == WIRE_SYNC_INFO ? WIRE_PROTO_BASE : m->version;

	if (m->type == 0 || m->type >= _WIRE_TYPE_MAX || version == 0)
		return -EINVAL;
	wr_u32(&w, WIRE_MAGIC);
	wr_u16(&w, version);
	wr_u16(&w, m->type);
	wr_u32(&w, 0); /* payload length, patched below */

	switch (m->type) {
	case WIRE_SYNC_INFO:
		if (m->info.n_members == 0 || m->info.n_members > WIRE_MAX_MEMBERS) {
			w.err = -EINVAL;
			break;
		}
		wr_u32(&w, m->info.round);
		wr_u32(&w, m->info.n_members);
		for (uint32_t i = 0; i < m->info.n_members; i++)
			wr_u32(&w, m->info.members[i]);
		wr_u16(&w, m->info.proto_min);
		wr_u16(&w, m->info.proto_max);
		wr_u32(&w, m->info.flags);
		wr_str(&w, &m->info.name, WIRE_MAX_NAME);
		wr_u64(&w, m->info.state_epoch);
		wr_u64(&w, m->info.state_version);
		wr_u64(&w, m->info.state_hash);
		wr_u32(&w, m->info.leader_id);
		wr_u64(&w, m->info.leader_epoch);
		wr_u64(&w, m->info.max_epoch);
		wr_u32(&w, m->info.expected_votes);
		/* Always written (empty = none), so fields a later version appends come after it. */
		wr_str(&w, &m->info.cluster_id, WIRE_MAX_CLUSTER_ID);
		wr_u64(&w, m->info.lease_remaining_usec);
		wr_str(&w, &m->info.id_candidate, WIRE_MAX_CLUSTER_ID);
		break;
	case WIRE_STATE_CHUNK:
		wr_u32(&w, m->chunk.round);
		wr_u64(&w, m->chunk.state_epoch);
		wr_u64(&w, m->chunk.state_version);
		wr_u64(&w, m->chunk.state_hash);
		wr_u32(&w, m->chunk.total_len);
		wr_u32(&w, m->chunk.offset);
		wr_blob(&w, &m->chunk.data, WIRE_CHUNK_SIZE);
		break;
	case WIRE_REQUEST:
		wr_u64(&w, m->request.request_id);
		wr_u16(&w, m->request.kind);
		wr_blob(&w, &m->request.payload, WIRE_MAX_PAYLOAD);
		break;
	case WIRE_PROPOSE:
		wr_u64(&w, m->propose.leader_epoch);
		wr_u64(&w, m->propose.base_version);
		wr_u32(&w, m->propose.origin);
		wr_u64(&w, m->propose.request_id);
		wr_u16(&w, m->propose.kind);
		wr_blob(&w, &m->propose.payload, WIRE_MAX_PAYLOAD);
		break;
	case WIRE_ACK:
		wr_u64(&w, m->ack.leader_epoch);
		wr_u64(&w, m->ack.version);
		wr_u64(&w, m->ack.hash);
		break;
	case WIRE_REJECT:
		wr_u32(&w, m->reject.origin);
		wr_u64(&w, m->reject.request_id);
		wr_u32(&w, (uint32_t)m->reject.error);
		wr_str(&w, &m->reject.message, WIRE_MAX_TEXT);
		break;
	case WIRE_HEARTBEAT:
		wr_u64(&w, m->heartbeat.leader_epoch);
		wr_u64(&w, m->heartbeat.seq);
		break;
	case WIRE_NODE_SECTION:
		wr_u64(&w, m->section.seq);
		wr_blob(&w, &m->section.payload, WIRE_MAX_PAYLOAD);
		break;
	case WIRE_NODE_SECTION_PATCH:
		wr_u64(&w, m->section.seq);
		wr_u64(&w, m->section.base_seq);
		wr_blob(&w, &m->section.payload, WIRE_MAX_PAYLOAD);
		break;
	}
	if (w.err) {
		free(w.buf);
		return w.err;
	}
	{
		uint32_t plen = (uint32_t)(w.len - WIRE_HEADER_SIZE);
		w.buf[8] = plen >> 24;
		w.buf[9] = (plen >> 16) & 0xff;
		w.buf[10] = (plen >> 8) & 0xff;
		w.buf[11] = plen & 0xff;
	}
	*out = w.buf;
	*out_len = w.len;
	return 0;
}

const char *wire_error_name(enum wire_error e)
{
	static const char *const names[_WIRE_ERR_MAX] = {
		[WIRE_OK] = "ok",
		[WIRE_ERR_SHORT] = "truncated",
		[WIRE_ERR_MAGIC] = "bad-magic",
		[WIRE_ERR_VERSION] = "unsupported-version",
		[WIRE_ERR_TYPE] = "unknown-type",
		[WIRE_ERR_MALFORMED] = "malformed",
	};
	return (unsigned)e < _WIRE_ERR_MAX ? names[e] : "?";
}

const char *wire_type_name(uint16_t type)
{
	static const char *const names[_WIRE_TYPE_MAX] = {
		[WIRE_SYNC_INFO] = "sync-info",
		[WIRE_STATE_CHUNK] = "state-chunk",
		[WIRE_REQUEST] = "request",
		[WIRE_PROPOSE] = "propose",
		[WIRE_ACK] = "ack",
		[WIRE_REJECT] = "reject",
		[WIRE_HEARTBEAT] = "heartbeat",
		[WIRE_NODE_SECTION] = "node-section",
		[WIRE_NODE_SECTION_PATCH] = "node-section-patch",
	};
	return type > 0 && type < _WIRE_TYPE_MAX ? names[type] : "unknown";
}
