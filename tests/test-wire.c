/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wire protocol: every message round-trips; every kind of damage is refused, never crashes. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tap.h"
#include "wire.h"

static void roundtrip(struct wire_msg *m, const char *what)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct wire_msg d;
	int r = wire_encode(m, &buf, &len);

	CHECK(r == 0, "%s: encode %d", what, r);
	if (r)
		return;
	CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_OK, "%s: decode", what);
	CHECK(d.type == m->type, "%s: type", what);
	/* every strict prefix is refused -- except, for a sync-info, the one that ends where
	 * protocol 1's fields end: that is what an older sender writes (no cluster id) */
	for (size_t cut = 0; cut < len; cut++) {
		size_t v1_end = m->type == WIRE_SYNC_INFO ? len - 2 - m->info.id_candidate.len - 8 - 2 - m->info.cluster_id.len : SIZE_MAX;
		if (cut == v1_end) {
			uint8_t *old = malloc(cut);
			uint32_t plen = (uint32_t)(cut - WIRE_HEADER_SIZE);
			memcpy(old, buf, cut);
			old[8] = plen >> 24; old[9] = plen >> 16; old[10] = plen >> 8; old[11] = plen;
			CHECK(wire_decode(old, cut, 1, 1, &d) == WIRE_OK && d.info.cluster_id.len == 0,
			      "%s: a protocol-1 sync-info (no cluster id) refused", what);
			free(old);
			continue;
		}
		CHECK(wire_decode(buf, cut, 1, 1, &d) != WIRE_OK, "%s: prefix %zu accepted", what, cut);
	}
	/* a payload with bytes appended (a later version's fields) is accepted if the header says so */
	{
		uint8_t *ext = malloc(len + 4);
		memcpy(ext, buf, len);
		memset(ext + len, 0xee, 4);
		uint32_t plen = (uint32_t)(len - WIRE_HEADER_SIZE + 4);
		ext[8] = plen >> 24; ext[9] = plen >> 16; ext[10] = plen >> 8; ext[11] = plen;
		CHECK(wire_decode(ext, len + 4, 1, 1, &d) == WIRE_OK, "%s: trailing fields refused", what);
		free(ext);
	}
	free(buf);
}

/* roundtrip() at protocol 2 (the decoder range must include the message's version) */
static void roundtrip2(const struct wire_msg *m, const char *what)
{
	uint8_t *buf;
	size_t len;
	struct wire_msg d;
	int r = wire_encode(m, &buf, &len);

	CHECK(r == 0, "%s: encode %d", what, r);
	if (r)
		return;
	CHECK(wire_decode(buf, len, 1, 2, &d) == WIRE_OK, "%s: decode", what);
	for (size_t cut = 0; cut < len; cut++)
		CHECK(wire_decode(buf, cut, 1, 2, &d) != WIRE_OK, "%s: prefix %zu accepted", what, cut);
	free(buf);
}

int main(void)
{
	struct wire_msg m = { .version = 1, .type = WIRE_SYNC_INFO }, d;
	uint8_t *buf;
	size_t len;
	const char *name = "kvm-01";

	m.info = (struct wire_sync_info){ .round = 7, .n_members = 3, .members = { 1, 2, 5 },
		.proto_min = 1, .proto_max = 2, .flags = WIRE_INFO_QUORATE,
		.name = { (const uint8_t *)name, 6 }, .state_epoch = 3, .state_version = 99,
		.state_hash = 0x1122334455667788ULL, .leader_id = 2, .leader_epoch = 4, .max_epoch = 4 };
	roundtrip(&m, "sync-info");
	CHECK(wire_encode(&m, &buf, &len) == 0, "encode");
	CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_OK, "decode");
	CHECK(d.info.round == 7 && d.info.n_members == 3 && d.info.members[2] == 5, "members");
	CHECK(d.info.state_hash == 0x1122334455667788ULL && d.info.state_version == 99, "u64 fields");
	CHECK(d.info.name.len == 6 && !memcmp(d.info.name.data, "kvm-01", 6), "name");
	/* big-endian on the wire */
	CHECK(buf[0] == 0x4b && buf[1] == 0x56 && buf[2] == 0x4d && buf[3] == 0x43, "magic bytes");
	/* SYNC_INFO is readable by a build that only speaks version 2..3 */
	CHECK(wire_decode(buf, len, 2, 3, &d) == WIRE_OK, "sync-info readable by newer builds");
	/* unsorted members */
	buf[WIRE_HEADER_SIZE + 8 + 3] = 9;
	CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_MALFORMED, "unsorted members accepted");
	free(buf);

	/* bounds: too many members, a NUL in a name */
	m.info.n_members = WIRE_MAX_MEMBERS + 1;
	CHECK(wire_encode(&m, &buf, &len) == -EINVAL, "too many members encoded");
	m.info.n_members = 3;
	m.info.name = (struct wire_bytes){ (const uint8_t *)"a\0b", 3 };
	CHECK(wire_encode(&m, &buf, &len) == -EINVAL, "NUL in name encoded");

	{
		const char *spec = "{\"labels\":{}}";
		struct wire_msg p = { .version = 1, .type = WIRE_PROPOSE };
		p.propose = (struct wire_propose){ .leader_epoch = 2, .base_version = 10, .origin = 3, .request_id = 77,
			.kind = WIRE_KIND_SPEC, .payload = { (const uint8_t *)spec, (uint32_t)strlen(spec) } };
		roundtrip(&p, "propose");
		CHECK(wire_encode(&p, &buf, &len) == 0, "encode propose");
		/* the same message refused by a build that speaks only version 2 */
		CHECK(wire_decode(buf, len, 2, 2, &d) == WIRE_ERR_VERSION, "version not checked");
		/* unknown type */
		buf[7] = 99;
		CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_TYPE, "unknown type");
		buf[7] = WIRE_PROPOSE;
		buf[0] ^= 1;
		CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_MAGIC, "bad magic");
		buf[0] ^= 1;
		/* payload length larger than the buffer */
		buf[9] = 0x7f;
		CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_SHORT, "length beyond buffer");
		free(buf);
	}
	{
		struct wire_msg a = { .version = 1, .type = WIRE_ACK };
		a.ack = (struct wire_ack){ 5, 6, 7 };
		roundtrip(&a, "ack");
		struct wire_msg h = { .version = 1, .type = WIRE_HEARTBEAT };
		h.heartbeat = (struct wire_heartbeat){ 5, 1 };
		roundtrip(&h, "heartbeat");
		const char *msg = "invalid spec";
		struct wire_msg r = { .version = 1, .type = WIRE_REJECT };
		r.reject = (struct wire_reject){ .origin = 2, .request_id = 9, .error = EINVAL,
			.message = { (const uint8_t *)msg, (uint32_t)strlen(msg) } };
		roundtrip(&r, "reject");
		struct wire_msg q = { .version = 1, .type = WIRE_REQUEST };
		q.request = (struct wire_request){ .request_id = 1, .kind = WIRE_KIND_SPEC,
			.payload = { (const uint8_t *)"{}", 2 } };
		roundtrip(&q, "request");
		struct wire_msg c = { .version = 1, .type = WIRE_STATE_CHUNK };
		c.chunk = (struct wire_state_chunk){ .round = 1, .state_epoch = 1, .state_version = 2, .state_hash = 3,
			.total_len = 10, .offset = 8, .data = { (const uint8_t *)"ab", 2 } };
		roundtrip(&c, "state-chunk");
		/* a chunk that claims to run past the total */
		c.chunk.offset = 9;
		CHECK(wire_encode(&c, &buf, &len) == 0, "encode chunk");
		CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_MALFORMED, "chunk past total accepted");
		free(buf);
	}
	/* protocol 2: a sync-info with a cluster id, node sections, leader-patch and meta kinds */
	{
		const char *id = "0123456789abcdef0123456789abcdef", *sec = "{\"iqn\":\"iqn.x\"}";
		struct wire_msg i = m, sm = { .version = 2, .type = WIRE_NODE_SECTION };
		i.info.name = (struct wire_bytes){ (const uint8_t *)name, 6 };
		i.info.cluster_id = (struct wire_bytes){ (const uint8_t *)id, 32 };
		roundtrip(&i, "sync-info with cluster id");
		CHECK(wire_encode(&i, &buf, &len) == 0, "encode");
		CHECK(wire_decode(buf, len, 1, 2, &d) == WIRE_OK && d.info.cluster_id.len == 32 &&
		      !memcmp(d.info.cluster_id.data, id, 32), "cluster id round trip");
		free(buf);
		sm.section = (struct wire_node_section){ .seq = 4, .payload = { (const uint8_t *)sec, (uint32_t)strlen(sec) } };
		roundtrip2(&sm, "node-section");
		CHECK(wire_encode(&sm, &buf, &len) == 0, "encode section");
		CHECK(wire_decode(buf, len, 1, 1, &d) == WIRE_ERR_VERSION, "a protocol-1 build reads a section");
		CHECK(wire_decode(buf, len, 1, 2, &d) == WIRE_OK && d.section.seq == 4 && d.section.payload.len == strlen(sec),
		      "section fields");
		free(buf);
		/* protocol 3: a section patch names the section it applies to, which came before it */
		{
			struct wire_msg pm = { .version = 3, .type = WIRE_NODE_SECTION_PATCH };
			pm.section = (struct wire_node_section){ .seq = 9, .base_seq = 8,
				.payload = { (const uint8_t *)sec, (uint32_t)strlen(sec) } };
			CHECK(wire_encode(&pm, &buf, &len) == 0, "encode section patch");
			CHECK(wire_decode(buf, len, 1, 2, &d) == WIRE_ERR_VERSION, "a protocol-2 build reads a patch");
			CHECK(wire_decode(buf, len, 1, 3, &d) == WIRE_OK && d.type == WIRE_NODE_SECTION_PATCH &&
			      d.section.seq == 9 && d.section.base_seq == 8 && d.section.payload.len == strlen(sec) &&
			      !memcmp(d.section.payload.data, sec, strlen(sec)), "section patch fields");
			free(buf);
			CHECK(!strcmp(wire_type_name(WIRE_NODE_SECTION_PATCH), "node-section-patch"), "type name");
			for (int bad = 0; bad < 2; bad++) {
				pm.section.base_seq = bad ? 0 : 9; /* none, or not before it */
				CHECK(wire_encode(&pm, &buf, &len) == 0, "encode");
				CHECK(wire_decode(buf, len, 1, 3, &d) == WIRE_ERR_MALFORMED, "a patch with base %" PRIu64
				      " for seq 9 is refused", pm.section.base_seq);
				free(buf);
			}
		}
		for (uint16_t k = 1; k <= 6; k++) {
			struct wire_msg p = { .version = 2, .type = WIRE_PROPOSE };
			p.propose = (struct wire_propose){ .leader_epoch = 2, .base_version = 1, .kind = k,
				.payload = { (const uint8_t *)"{}", 2 } };
			CHECK(wire_encode(&p, &buf, &len) == 0, "encode kind %u", k);
			CHECK((wire_decode(buf, len, 1, 2, &d) == WIRE_OK) == (k >= 1 && k <= 3),
			      "propose kind %u: accepted iff it is a proposable kind", k);
			free(buf);
		}
	}
	/* random garbage never crashes and is never accepted as a header with a bad magic */
	{
		uint8_t junk[64];
		unsigned seed = 1;
		for (int i = 0; i < 20000; i++) {
			size_t n = (size_t)(rand_r(&seed) % sizeof(junk));
			for (size_t k = 0; k < n; k++)
				junk[k] = (uint8_t)rand_r(&seed);
			(void)wire_decode(junk, n, 1, 1, &d);
		}
	}
	return tap_done("test-wire");
}
