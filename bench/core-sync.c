/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Benchmark: the coordination core's own cost of syncing a large spec to a joining node.
 * Three cores in one process; nodes 1 and 2 hold a spec of N entries (default 10 000, each the
 * size of a VM entry, ~200 bytes), node 3 joins empty. Messages are passed in memory in CPG
 * order, so the time measured is the agent's CPU work (serialize, chunk, reassemble, hash,
 * parse, validate) without the network. The end-to-end figure on real corosync is measured by
 * bench/state-sync.sh.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "macros.h"
#include "spec.h"

#define N 3

static struct core *cores[N + 1];
struct queued { uint32_t from; uint8_t *data; size_t len; };
static struct queued q[1 << 16];
static size_t qh, qt;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void drain(int i, size_t *bytes)
{
	struct core_action a;
	while (core_next_action(cores[i], &a)) {
		if (a.type == CORE_ACT_SEND) {
			q[qt++ % (1 << 16)] = (struct queued){ (uint32_t)i, TAKE_PTR(a.data), a.len };
			*bytes += a.len;
		} else if (a.type == CORE_ACT_LOG && getenv("BENCH_DEBUG")) {
			char *t = core_log_trace(&a);
			fprintf(stderr, "n%d: %s\n", i, t);
			free(t);
		} else if (a.type == CORE_ACT_PERSIST) {
			free(core_persist_json(cores[i])); /* the serialization the daemon writes */
		}
		core_action_clear(&a);
	}
}

int main(int argc, char **argv)
{
	int entries = argc > 1 ? atoi(argv[1]) : 10000;
	json_t *spec = json_object(), *labels = json_object();
	uint32_t members[N] = { 1, 2, 3 };
	char *text, *err = NULL;
	size_t bytes = 0;
	uint64_t t0, t1, now = 1;

	for (int i = 0; i < entries; i++) {
		char k[32], v[200];
		snprintf(k, sizeof(k), "vm-%05d", i);
		snprintf(v, sizeof(v), "uuid=%08x-1111-2222-3333-%012d;host=kvm%d;datastore=ds%02d;cpus=4;memory=8192;ha=true;disks=/vol/ds%02d/lun%d",
			 i * 2654435761u, i, i % 3 + 1, i % 16, i % 16, i);
		json_object_set_new(labels, k, json_string(v));
	}
	json_object_set_new(spec, "labels", labels);
	text = json_dumps(spec, JSON_COMPACT);

	for (int i = 1; i <= N; i++) {
		struct core_config cfg = { .nodeid = (uint32_t)i, .name = i == 1 ? "n1" : i == 2 ? "n2" : "n3",
					   .proto_min = 1, .proto_max = 1 };
		if (core_new(&cfg, NULL, NULL, &cores[i], &err) < 0)
			return 1;
		core_connected(cores[i], now, (uint32_t)i);
		core_quorum(cores[i], now, true, 3, 3);
	}
	/* nodes 1 and 2 form the cluster and commit the big spec */
	for (int i = 1; i <= 2; i++) {
		core_confchg(cores[i], now, members, 2, NULL, 0);
		drain(i, &bytes);
	}
	core_request_spec(cores[2], now, 1, text, strlen(text));
	drain(2, &bytes);
	while (qh != qt) {
		struct queued m = q[qh++ % (1 << 16)];
		for (int i = 1; i <= 2; i++) {
			core_message(cores[i], ++now, m.from, m.data, m.len);
			drain(i, &bytes);
		}
		free(m.data);
	}
	if (core_state_version(cores[1]) != 1 || core_state_version(cores[2]) != 1) {
		fprintf(stderr, "setup failed: versions %" PRIu64 " %" PRIu64 "\n", core_state_version(cores[1]),
			core_state_version(cores[2]));
		return 1;
	}

	/* node 3 joins empty: measure until it is synced with the same state */
	bytes = 0;
	t0 = now_us();
	for (int i = 1; i <= 3; i++) {
		core_confchg(cores[i], now, members, 3, NULL, 0);
		drain(i, &bytes);
	}
	while (qh != qt) {
		struct queued m = q[qh++ % (1 << 16)];
		for (int i = 1; i <= 3; i++) {
			core_message(cores[i], ++now, m.from, m.data, m.len);
			drain(i, &bytes);
		}
		free(m.data);
	}
	t1 = now_us();
	if (!core_is_synced(cores[3]) || core_state_hash(cores[3]) != core_state_hash(cores[1])) {
		fprintf(stderr, "node 3 did not sync\n");
		return 1;
	}
	printf("core sync of a %d-entry spec (%zu bytes of spec): %.1f ms of agent CPU for 3 nodes, %zu bytes multicast\n",
	       entries, strlen(text), (double)(t1 - t0) / 1000.0, bytes);
	for (int i = 1; i <= N; i++)
		core_free(cores[i]);
	free(text);
	json_decref(spec);
	return 0;
}
