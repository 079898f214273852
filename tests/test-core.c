/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Core edges the scenarios do not reach: loading persisted state (and refusing a damaged file
 * with a message naming the problem), the status document's contract used by `kvmcctl status
 * --json`, and requests refused before a node is part of a quorate view.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "macros.h"

#include "core.h"
#include "tap.h"

static struct core *mk(const char *disk, int *r, char **err)
{
	struct core_config cfg = { .nodeid = 1, .name = "kvm1", .proto_min = 1, .proto_max = 1 };
	struct core *c = NULL;
	*r = core_new(&cfg, disk, NULL, &c, err);
	return c;
}

static int last_reply(struct core *c, char **text)
{
	struct core_action a;
	int err = 1;
	while (core_next_action(c, &a)) {
		if (a.type == CORE_ACT_REPLY) {
			err = a.error;
			free(*text);
			*text = strdup(a.text);
		}
		core_action_clear(&a);
	}
	return err;
}

/* ---- a one-node cluster of protocol 2, its messages looped back as corosync would ---- */

#define ID1 "00112233445566778899aabbccddeeff"

struct sent { uint16_t type; uint32_t len; };

struct loop {
	struct core *c;
	uint64_t now;
	char journal[1 << 16];    /* PERSIST records, one per line */
	int snapshots;
	bool acting;
	uint64_t leading_epoch, committed;
	bool may_act;
	int replies;
	struct sent sent[16];     /* the messages pump() sent since n_sent was last zeroed */
	size_t n_sent;
};

static void pump(struct loop *l)
{
	struct core_action a;
	uint8_t *q[64];
	size_t qlen[64], n;

	do {
		n = 0;
		while (core_next_action(l->c, &a)) {
			switch (a.type) {
			case CORE_ACT_SEND:
				if (l->n_sent < sizeof(l->sent) / sizeof(l->sent[0])) {
					struct wire_msg m;
					if (wire_decode(a.data, a.len, 1, WIRE_PROTO_MAX, &m) == WIRE_OK)
						l->sent[l->n_sent++] = (struct sent){ m.type, (uint32_t)a.len };
				}
				if (n < 64) {
					q[n] = TAKE_PTR(a.data);
					qlen[n++] = a.len;
				}
				break;
			case CORE_ACT_PERSIST:
				if (a.data) {
					strncat(l->journal, (const char *)a.data, sizeof(l->journal) - strlen(l->journal) - 2);
					strcat(l->journal, "\n");
				} else {
					l->snapshots++;
				}
				break;
			case CORE_ACT_LEADING:
				l->acting = a.is_leader;
				l->leading_epoch = a.epoch;
				break;
			case CORE_ACT_COMMITTED:
				l->committed = a.version;
				l->may_act = a.may_act;
				break;
			case CORE_ACT_REPLY:
				l->replies++;
				break;
			default:
				break;
			}
			core_action_clear(&a);
		}
		for (size_t i = 0; i < n; i++) {
			core_message(l->c, ++l->now, 1, q[i], qlen[i]);
			free(q[i]);
		}
	} while (n);
}

/* l->c made from cfg, alone in its view and quorate: its own leader */
static void start_alone(struct loop *l, const struct core_config *cfg)
{
	uint32_t m[] = { cfg->nodeid };
	char *err = NULL;
	int rc = core_new(cfg, NULL, NULL, &l->c, &err);

	CHECK(rc == 0, "core_new: %s", err);
	free(err);
	core_connected(l->c, ++l->now, cfg->nodeid);
	core_quorum(l->c, ++l->now, true, 1, 1);
	core_confchg(l->c, ++l->now, m, 1, NULL, 0);
	pump(l);
}

static void leader_records(void)
{
	struct core_config cfg = { .nodeid = 1, .name = "kvm1", .proto_min = 1, .proto_max = 2,
				   .cluster_id_candidate = ID1 };
	struct loop l = { .now = 1000 };
	char *err = NULL;
	uint64_t v = 0, v2 = 0, hash;
	json_t *patch;
	struct core *r;
	int rc;

	start_alone(&l, &cfg);
	CHECK(core_is_leader(l.c) && l.acting && l.leading_epoch == 1, "leading under epoch 1 (%d %" PRIu64 ")",
	      l.acting, l.leading_epoch);
	/* the first leader of an id-less cluster minted its identity, spending no version */
	CHECK(!strcmp(core_cluster_id(l.c), ID1), "cluster id minted: '%s'", core_cluster_id(l.c));
	CHECK(l.may_act && l.committed == 0 && core_state_version(l.c) == 0, "committed %" PRIu64, l.committed);
	CHECK(strstr(l.journal, "\"k\":5,\"cluster_id\":\"" ID1 "\""), "identity journaled: %s", l.journal);

	/* a leader patch under the current epoch commits; the journal holds the patch alone */
	patch = json_pack("{s{ss}s{ss}}", "vm/web1", "owner", "kvm1", "fence/kvm3", "state", "pending");
	rc = core_leader_patch(l.c, ++l.now, 1, patch, &v, &err);
	json_decref(patch);
	CHECK(rc == 0 && v == 1, "patch: %d %s v=%" PRIu64, rc, err, v);
	pump(&l);
	CHECK(l.committed == 1, "patch committed (%" PRIu64 ")", l.committed);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(core_records(l.c), "vm/web1"), "owner")), "kvm1"),
	      "record set");
	CHECK(strlen(l.journal) < 400 && strstr(l.journal, "\"k\":3"), "journal record small: %s", l.journal);

	/* null deletes; a stale epoch, a bad key and a non-object are refused and nothing is sent */
	patch = json_pack("{sn}", "fence/kvm3");
	CHECK(core_leader_patch(l.c, ++l.now, 1, patch, &v2, &err) == 0 && v2 == 2, "delete");
	json_decref(patch);
	pump(&l);
	CHECK(!json_object_get(core_records(l.c), "fence/kvm3") && json_object_size(core_records(l.c)) == 1, "deleted");
	patch = json_pack("{s{}}", "vm/x");
	rc = core_leader_patch(l.c, ++l.now, 0, patch, &v2, &err);
	CHECK(rc == -ESTALE && err && strstr(err, "epoch 0"), "stale epoch 0: %d %s", rc, err);
	free(err); err = NULL;
	rc = core_leader_patch(l.c, ++l.now, 2, patch, &v2, &err);
	CHECK(rc == -ESTALE, "future epoch refused: %d", rc);
	free(err); err = NULL;
	json_decref(patch);
	patch = json_pack("{s{}}", "bad key");
	rc = core_leader_patch(l.c, ++l.now, 1, patch, &v2, &err);
	CHECK(rc == -EINVAL && err && strstr(err, "bad key"), "bad key: %d %s", rc, err);
	free(err); err = NULL;
	json_decref(patch);
	patch = json_array();
	CHECK(core_leader_patch(l.c, ++l.now, 1, patch, &v2, &err) == -EINVAL, "array patch");
	free(err); err = NULL;
	json_decref(patch);
	pump(&l);
	CHECK(core_state_version(l.c) == 2, "nothing else applied (version %" PRIu64 ")", core_state_version(l.c));

	/* a node section: soft, not versioned, visible under the node id */
	patch = json_pack("{ss}", "iqn", "iqn.2024-01.test:kvm1");
	CHECK(core_node_publish(l.c, ++l.now, patch, &err) == 0, "publish: %s", err);
	json_decref(patch);
	pump(&l);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(json_object_get(core_node_sections(l.c), "1"),
								       "section"), "iqn")), "iqn.2024-01.test:kvm1"),
	      "section visible");
	CHECK(core_state_version(l.c) == 2, "a section is no versioned change");

	/* the journal alone rebuilds the same state; a torn last line is ignored */
	hash = core_state_hash(l.c);
	strcat(l.journal, "{\"k\":3,\"v\":3,\"e\":1,\"p\":{\"vm/torn\"");
	rc = core_new(&cfg, NULL, l.journal, &r, &err);
	CHECK(rc == 0 && core_state_version(r) == 2 && core_state_hash(r) == hash &&
	      !strcmp(core_cluster_id(r), ID1) && json_object_get(core_records(r), "vm/web1"),
	      "journal replay: %d %s v%" PRIu64, rc, err, r ? core_state_version(r) : 0);
	/* a snapshot taken at version 3 plus the whole journal (the crash came before it was
	 * emptied): records the snapshot holds are skipped */
	{
		char *snap = core_persist_json(l.c);
		struct core *r2 = NULL;
		rc = core_new(&cfg, snap, l.journal, &r2, &err);
		CHECK(rc == 0 && core_state_hash(r2) == hash, "snapshot + overlapping journal: %d %s", rc, err);
		core_free(r2);
		free(snap);
	}
	core_free(r);
	/* a gap in the journal is refused, naming the line */
	rc = core_new(&cfg, NULL, "{\"k\":3,\"v\":2,\"e\":1,\"p\":{\"vm/a\":{}}}\n", &r, &err);
	CHECK(rc == -EINVAL && err && strstr(err, "line 1") && strstr(err, "does not follow"), "gap: %d %s", rc, err);
	free(err); err = NULL;
	rc = core_new(&cfg, NULL, "{\"k\":9,\"v\":1,\"e\":1,\"p\":{}}\n", &r, &err);
	CHECK(rc == -EINVAL && err && strstr(err, "not a kvmcd journal record"), "unknown kind: %d %s", rc, err);
	free(err); err = NULL;

	/* a datastore only grows: refused on this node against the spec in force, and -- for two
	 * requests in flight at once -- by the leader against the spec it proposed last */
	{
		const char *g2 = "{\"datastores\":[{\"name\":\"ds1\",\"protocol\":\"iscsi\",\"size\":\"2G\"}]}";
		const char *g4 = "{\"datastores\":[{\"name\":\"ds1\",\"protocol\":\"iscsi\",\"size\":\"4G\"}]}";
		const char *g3 = "{\"datastores\":[{\"name\":\"ds1\",\"protocol\":\"iscsi\",\"size\":\"3G\"}]}";
		const char *nfs = "{\"datastores\":[{\"name\":\"ds1\",\"protocol\":\"nfs\",\"size\":\"4G\"}]}";
		struct core_action a;
		int replies_before;
		char *t = NULL;

		core_request_spec(l.c, ++l.now, 100, g2, strlen(g2));
		pump(&l);
		CHECK(json_array_size(json_object_get(core_spec(l.c), "datastores")) == 1, "ds1 at 2G committed");
		/* both in flight before anything is delivered: the second would shrink the first */
		core_request_spec(l.c, ++l.now, 101, g4, strlen(g4));
		core_request_spec(l.c, ++l.now, 102, g3, strlen(g3));
		replies_before = l.replies;
		pump(&l);
		CHECK(l.replies == replies_before + 2, "both answered (%d)", l.replies - replies_before);
		t = json_dumps(core_spec(l.c), JSON_COMPACT);
		CHECK(t && strstr(t, "\"4G\""), "the grow to 4G stands: %s", t);
		free(t);
		t = NULL;
		core_request_spec(l.c, ++l.now, 103, g3, strlen(g3));
		while (core_next_action(l.c, &a)) {
			if (a.type == CORE_ACT_REPLY) {
				CHECK(a.error == -EINVAL && a.outcome == CORE_OUTCOME_REFUSED && a.text && strstr(a.text, "shrink"),
				      "a shrink is refused here: %s", a.text);
				t = a.text ? strdup(a.text) : NULL;
			}
			core_action_clear(&a);
		}
		CHECK(t != NULL, "the shrink got its answer at once");
		free(t);
		core_request_spec(l.c, ++l.now, 104, nfs, strlen(nfs));
		while (core_next_action(l.c, &a)) {
			if (a.type == CORE_ACT_REPLY)
				CHECK(a.error == -EINVAL && a.text && strstr(a.text, "protocol"), "a protocol change is refused: %s",
				      a.text);
			core_action_clear(&a);
		}
	}

	/* leadership lost: LEADING stop, and a patch under the old epoch is stale */
	core_quorum(l.c, ++l.now, false, 1, 3);
	pump(&l);
	CHECK(!l.acting && !l.may_act, "stopped acting on quorum loss");
	patch = json_pack("{s{}}", "vm/late");
	rc = core_leader_patch(l.c, ++l.now, 1, patch, &v2, &err);
	CHECK(rc == -ESTALE, "patch after losing the lead: %d", rc);
	free(err);
	json_decref(patch);
	core_free(l.c);
}

/* Two-node clusters (issue 9): votequorum keeps a lone survivor quorate (two_node); the core
 * elects it but lets it act only once its ONTAP claim for that epoch is won. */
static void two_node_alone(void)
{
	struct core_config cfg = { .nodeid = 1, .name = "kvm1", .proto_min = 1, .proto_max = 2,
				   .cluster_id_candidate = ID1 };
	struct loop l = { .now = 1000 }, l2 = { .now = 1000 };
	char *err = NULL;
	uint32_t m[] = { 1 };
	uint64_t epoch, v = 0;
	json_t *patch;
	int rc;

	/* without two_node, one kvmcd of 2 expected votes is no majority: no leader */
	rc = core_new(&cfg, NULL, NULL, &l2.c, &err);
	CHECK(rc == 0, "core_new: %s", err);
	core_connected(l2.c, ++l2.now, 1);
	core_quorum(l2.c, ++l2.now, true, 1, 2);
	core_confchg(l2.c, ++l2.now, m, 1, NULL, 0);
	pump(&l2);
	CHECK(!core_is_leader(l2.c) && !l2.acting && !core_claim_pending(l2.c) && !core_two_node_alone_since(l2.c),
	      "1 of 2 without two_node: no leader, no claim");
	core_free(l2.c);

	rc = core_new(&cfg, NULL, NULL, &l.c, &err);
	CHECK(rc == 0, "core_new: %s", err);
	core_two_node(l.c, true);
	core_connected(l.c, ++l.now, 1);
	core_quorum(l.c, ++l.now, true, 1, 2);
	core_confchg(l.c, ++l.now, m, 1, NULL, 0);
	pump(&l);
	epoch = core_claim_pending(l.c);
	CHECK(core_is_leader(l.c) && epoch == 1, "lone two-node survivor elected, claim pending for epoch %" PRIu64, epoch);
	CHECK(!l.acting && !l.may_act && !core_is_acting(l.c) && core_two_node_alone_since(l.c) &&
	      !core_two_node_peer_seen(l.c), "no acting, no may_act, alone (never saw its peer) before the claim is won");
	patch = json_pack("{s{ss}}", "vm/web1", "owner", "kvm1");
	rc = core_leader_patch(l.c, ++l.now, epoch, patch, &v, &err);
	CHECK(rc < 0, "no leader patch before the claim is won: %d", rc);
	free(err);
	err = NULL;
	core_claim_won(l.c, ++l.now, epoch + 1);
	pump(&l);
	CHECK(!l.acting && core_claim_pending(l.c) == epoch, "a win for another epoch is ignored");
	core_claim_won(l.c, ++l.now, epoch);
	pump(&l);
	CHECK(l.acting && l.leading_epoch == epoch && l.may_act && !core_claim_pending(l.c) && !core_two_node_alone_since(l.c),
	      "acting under epoch %" PRIu64 " once the claim is won", l.leading_epoch);
	rc = core_leader_patch(l.c, ++l.now, epoch, patch, &v, &err);
	pump(&l);
	CHECK(rc == 0 && l.committed == v, "a leader patch commits after the win: %d %s", rc, err);
	free(err);
	json_decref(patch);
	core_free(l.c);
}

/* ---- node sections travel as deltas (protocol 3) --------------------------------------- */

/* pump() and the number of messages it sent, in l->sent */
static size_t pump_sent(struct loop *l)
{
	l->n_sent = 0;
	pump(l);
	return l->n_sent;
}

static const json_t *own_view(struct core *c)
{
	return json_object_get(json_object_get(core_node_sections(c), "1"), "section");
}

static void section_patches(uint16_t proto_max)
{
	struct core_config cfg = { .nodeid = 1, .name = "kvm1", .proto_min = 1, .proto_max = proto_max,
				   .cluster_id_candidate = ID1 };
	struct loop l = { .now = 1000 };
	const struct sent *sent = l.sent;
	char *err = NULL;
	uint32_t m[] = { 1 };
	json_t *sec, *ds;
	size_t n, whole_len;

	start_alone(&l, &cfg);

	/* 20 datastores, then one of them changes, one goes, one comes */
	sec = json_pack("{sss{}}", "iqn", "iqn.2024-01.test:kvm1", "datastores");
	ds = json_object_get(sec, "datastores");
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "ds%02d", i);
		json_object_set_new(ds, name, json_pack("{sbsssb}", "attached", 1, "device", "/dev/mapper/3600a0980383030",
							"pool_active", 1));
	}
	CHECK(core_node_publish(l.c, ++l.now, sec, &err) == 0, "publish: %s", err);
	n = pump_sent(&l);
	CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION, "the first publish goes whole (%zu, type %u)", n,
	      n ? sent[0].type : 0);
	whole_len = n ? sent[0].len : 0;
	CHECK(json_equal(own_view(l.c), sec), "the whole section taken");

	json_object_set_new(json_object_get(ds, "ds03"), "pool_active", json_false());
	json_object_del(ds, "ds07");
	json_object_set_new(ds, "new1", json_pack("{sbsn}", "attached", 0, "device"));
	json_object_set_new(sec, "list", json_pack("[n]"));
	CHECK(core_node_publish(l.c, ++l.now, sec, &err) == 0, "publish: %s", err);
	n = pump_sent(&l);
	if (proto_max >= 3) {
		/* nulls and deletions are changes like any other */
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION_PATCH && sent[0].len * 8 < whole_len,
		      "a change of three datastores goes as a delta (type %u, %u bytes, whole %zu)", n ? sent[0].type : 0,
		      n ? sent[0].len : 0, whole_len);
		json_object_set_new(json_object_get(ds, "new1"), "device", json_string("/dev/nvme0n1"));
		json_object_set_new(json_object_get(ds, "ds04"), "attached", json_false());
		CHECK(core_node_publish(l.c, ++l.now, sec, &err) == 0, "publish: %s", err);
		n = pump_sent(&l);
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION_PATCH, "and the next");
		json_object_del(ds, "ds08");
		json_object_set_new(json_object_get(ds, "ds05"), "device", json_string("/dev/mapper/other"));
		CHECK(core_node_publish(l.c, ++l.now, sec, &err) == 0, "publish: %s", err);
		n = pump_sent(&l);
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION_PATCH, "a deletion goes as a patch too");
	} else {
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION, "protocol 2: whole (type %u)", n ? sent[0].type : 0);
	}
	CHECK(json_equal(own_view(l.c), sec), "the patched section is the one published");

	if (proto_max >= 3) {
		/* a patch over a section this member does not hold: the section is dropped (unknown, not
		 * stale), a warning says why */
		struct wire_msg bad = { .version = 3, .type = WIRE_NODE_SECTION_PATCH };
		uint64_t gen = core_node_sections_generation(l.c);
		uint8_t *buf;
		size_t len;
		const char *p = "{\"/\":{\"iqn\":{\"=\":\"x\"}}}";
		bad.section.seq = 1000;
		bad.section.base_seq = 998;
		bad.section.payload = (struct wire_bytes){ (const uint8_t *)p, (uint32_t)strlen(p) };
		CHECK(wire_encode(&bad, &buf, &len) == 0, "encode");
		core_message(l.c, ++l.now, 1, buf, len);
		free(buf);
		pump(&l);
		CHECK(!own_view(l.c) && core_node_sections_generation(l.c) > gen, "a patch over another base drops the section");
		/* the next change goes whole once SECTION_WHOLE_EVERY_USEC has passed: the gap closes */
		json_object_set_new(sec, "iqn", json_string("iqn.2024-01.test:kvm1b"));
		l.now += 11 * 1000000ull;
		CHECK(core_node_publish(l.c, l.now, sec, &err) == 0, "publish: %s", err);
		n = pump_sent(&l);
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION && json_equal(own_view(l.c), sec),
		      "10 s after the last whole one the section goes whole again");
		/* a sync round: the section goes whole again (a joining member holds nothing of it),
		 * patches follow it */
		core_confchg(l.c, ++l.now, m, 1, NULL, 0);
		n = pump_sent(&l);
		CHECK(n >= 1 && sent[n - 1].type == WIRE_NODE_SECTION && json_equal(own_view(l.c), sec),
		      "after a sync round: whole (%zu messages, the last of type %u)", n, n ? sent[n - 1].type : 0);
		json_object_set_new(sec, "iqn", json_string("iqn.2024-01.test:kvm1c"));
		CHECK(core_node_publish(l.c, ++l.now, sec, &err) == 0, "publish: %s", err);
		n = pump_sent(&l);
		CHECK(n == 1 && sent[0].type == WIRE_NODE_SECTION_PATCH && json_equal(own_view(l.c), sec),
		      "then a patch over it");
	}
	json_decref(sec);
	free(err);
	core_free(l.c);
}

int main(void)
{
	struct core *c;
	char *err = NULL, *text = NULL, *saved;
	int r;
	json_t *st, *spec;

	/* damaged state files are refused with the reason, never silently replaced */
	c = mk("{\"format\":1,\"version\":3", &r, &err);
	CHECK(r == -EINVAL && !c && err && strstr(err, "line"), "truncated JSON: %d %s", r, err);
	free(err); err = NULL;
	c = mk("{\"format\":3,\"version\":3,\"state_epoch\":1,\"max_epoch\":1,\"spec\":{},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "format 3"), "future format: %s", err);
	free(err); err = NULL;
	c = mk("{\"format\":1,\"version\":3,\"state_epoch\":4,\"max_epoch\":1,\"spec\":{},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "max_epoch"), "epochs: %s", err);
	free(err); err = NULL;
	c = mk("{\"format\":1,\"version\":3,\"state_epoch\":1,\"max_epoch\":1,\"spec\":{\"vm\":1},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "invalid spec") && strstr(err, "vm"), "bad spec: %s", err);
	free(err); err = NULL;

	/* a good file round-trips through core_persist_json */
	c = mk("{\"format\":1,\"version\":7,\"state_epoch\":2,\"max_epoch\":5,\"spec\":{\"labels\":{\"a\":\"b\"}},\"status\":{}}", &r, &err);
	CHECK(r == 0 && c, "good state refused: %s", err);
	if (!c)
		return tap_done("test-core");
	CHECK(core_state_version(c) == 7, "version");
	saved = core_persist_json(c);
	core_free(c);
	c = mk(saved, &r, &err);
	CHECK(r == 0 && core_state_version(c) == 7, "reload of persisted state");
	free(saved);
	spec = core_spec_json(c);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(spec, "labels"), "a")), "b"), "spec kept");
	json_decref(spec);

	/* before corosync: changes are refused with a clear message */
	core_request_spec(c, 1, 42, "{\"labels\":{}}", 13);
	CHECK(last_reply(c, &text) == -ENOTCONN && strstr(text, "not connected"), "disconnected: %s", text);
	/* invalid specs are refused whole, every problem listed */
	core_request_spec(c, 1, 43, "{\"labels\":{\"a b\":1}}", 20);
	CHECK(last_reply(c, &text) == -EINVAL && strstr(text, "nothing applied") && strstr(text, "invalid label key") &&
	      strstr(text, "must be a string"), "invalid: %s", text);

	/* connected, in a view, but not quorate */
	core_connected(c, 2, 1);
	core_quorum(c, 3, false, 1, 3);
	{
		uint32_t m[] = { 1 };
		core_confchg(c, 4, m, 1, NULL, 0);
	}
	core_request_spec(c, 5, 44, "{\"labels\":{\"x\":\"y\"}}", 20);
	CHECK(last_reply(c, &text) == -EAGAIN && strstr(text, "not quorate") && strstr(text, "votes 1 of 3"),
	      "inquorate: %s", text);

	/* an inquorate node refuses even the spec it already holds: its copy may be stale */
	core_request_spec(c, 6, 45, "{\"labels\":{\"a\":\"b\"}}", 20);
	CHECK(last_reply(c, &text) == -EAGAIN && strstr(text, "not quorate"), "inquorate unchanged: %s", text);

	/* the status contract */
	st = core_status_json(c, 10);
	CHECK(json_is_object(json_object_get(st, "node")), "node");
	CHECK(json_integer_value(json_object_get(json_object_get(st, "node"), "id")) == 1, "node.id");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(st, "node"), "name")), "kvm1"), "node.name");
	CHECK(json_is_false(json_object_get(st, "quorate")), "quorate");
	CHECK(json_is_null(json_object_get(st, "leader")), "leader null");
	CHECK(json_is_array(json_object_get(st, "members")), "members");
	CHECK(json_integer_value(json_object_get(st, "state_version")) == 7, "state_version");
	CHECK(json_is_string(json_object_get(json_object_get(st, "sync"), "state")), "sync.state");
	CHECK(strstr(json_string_value(json_object_get(st, "no_leader_reason")), "not quorate"), "no_leader_reason");
	CHECK(json_is_string(json_object_get(st, "cluster_id")), "cluster_id");
	json_decref(st);

	core_free(c);
	free(text);
	leader_records();
	two_node_alone();
	section_patches(2);
	section_patches(3);
	return tap_done("test-core");
}
