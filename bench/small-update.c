/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Benchmark: what ONE small replicated change costs when the document is large.
 *
 * Three cores (protocol 2) in one process, messages passed in memory in CPG order. The state
 * holds a 10 000-entry spec (~1.3 MB) and 10 000 leader records, one per VM (its owner, as the
 * VMs issue will keep them). Then the leader changes one VM's record (its owner) R times and we
 * measure per change: bytes multicast, bytes the core hands to persistence, the three cores'
 * CPU, and the durable write each member does before it acks -- appending the journal record
 * with fdatasync, against what the whole-document design did (the snapshot written to a
 * temporary file, fsync, rename, fsync of the directory). The files go to $BENCH_DIR (default
 * /var/tmp), so the fsync numbers are those of that disk.
 *
 * Usage: bench-small-update [ENTRIES [ROUNDS]]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "macros.h"

#define N 3

static struct core *cores[N + 1];
struct queued { uint32_t from; uint8_t *data; size_t len; };
static struct queued q[1 << 16];
static size_t qh, qt;
static size_t sent_bytes, persist_bytes;
static uint64_t committed_seen;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void drain(int i)
{
	struct core_action a;

	while (core_next_action(cores[i], &a)) {
		if (a.type == CORE_ACT_SEND) {
			q[qt++ % (1 << 16)] = (struct queued){ (uint32_t)i, TAKE_PTR(a.data), a.len };
			sent_bytes += a.len;
		} else if (a.type == CORE_ACT_PERSIST) {
			persist_bytes += a.data ? a.len : 0;
		} else if (a.type == CORE_ACT_COMMITTED && i == 1) {
			committed_seen = a.version;
		}
		core_action_clear(&a);
	}
}

static uint64_t now_virtual = 1;

static void deliver_all(void)
{
	while (qh != qt) {
		struct queued m = q[qh++ % (1 << 16)];
		for (int i = 1; i <= N; i++) {
			core_message(cores[i], ++now_virtual, m.from, m.data, m.len);
			drain(i);
		}
		free(m.data);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The durable write of one journal record: append + fdatasync. */
static uint64_t append_sync(int fd, const char *rec, size_t len)
{
	uint64_t t0 = now_us();
	if (write(fd, rec, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fdatasync(fd) < 0)
		abort();
	return now_us() - t0;
}

/* The whole-document design's durable write: temporary file, fsync, rename, fsync the dir. */
static uint64_t snapshot_sync(const char *dir, const char *text)
{
	char tmp[4200], dst[4200];
	uint64_t t0 = now_us();
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", dir);
	snprintf(dst, sizeof(dst), "%s/state.json", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, dst) < 0)
		abort();
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		abort();
	close(dfd);
	return now_us() - t0;
}

int main(int argc, char **argv)
{
	int entries = argc > 1 ? atoi(argv[1]) : 10000, rounds = argc > 2 ? atoi(argv[2]) : 200;
	const char *base = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/var/tmp";
	json_t *spec = json_object(), *labels = json_object();
	uint32_t members[N] = { 1, 2, 3 };
	uint64_t *cpu = calloc((size_t)rounds, sizeof(uint64_t)), *jw = calloc((size_t)rounds, sizeof(uint64_t));
	uint64_t *sw = calloc((size_t)rounds, sizeof(uint64_t));
	size_t sent_per = 0, persist_per = 0, snapshot_len;
	char dir[4096], *text, *err = NULL, *snap;
	int jfd;

	snprintf(dir, sizeof(dir), "%s/kvmcd-bench-XXXXXX", base);
	if (!mkdtemp(dir) || !cpu || !jw || !sw)
		return 1;
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
		char name[8];
		snprintf(name, sizeof(name), "n%d", i);
		struct core_config cfg = { .nodeid = (uint32_t)i, .name = name, .proto_min = 1, .proto_max = 2 };
		if (core_new(&cfg, NULL, NULL, &cores[i], &err) < 0)
			return 1;
		core_connected(cores[i], now_virtual, (uint32_t)i);
		core_quorum(cores[i], now_virtual, true, 3, 3);
	}
	for (int i = 1; i <= N; i++) {
		core_confchg(cores[i], now_virtual, members, N, NULL, 0);
		drain(i);
	}
	deliver_all();
	if (!core_is_acting(cores[1])) {
		fprintf(stderr, "node 1 does not act as leader\n");
		return 1;
	}
	core_request_spec(cores[2], now_virtual, 1, text, strlen(text));
	drain(2);
	deliver_all();
	/* one record per VM, in patches of 500 */
	for (int i = 0; i < entries; i += 500) {
		json_t *patch = json_object();
		uint64_t v;
		for (int k = i; k < entries && k < i + 500; k++) {
			char key[32];
			snprintf(key, sizeof(key), "vm/vm-%05d", k);
			json_object_set_new(patch, key, json_pack("{sssIsb}", "owner", "n1", "since_epoch", (json_int_t)1,
								  "running", 1));
		}
		if (core_leader_patch(cores[1], now_virtual, core_leader_epoch(cores[1]), patch, &v, &err) < 0) {
			fprintf(stderr, "setup patch: %s\n", err);
			return 1;
		}
		json_decref(patch);
		drain(1);
		deliver_all();
	}
	if (json_object_size(core_records(cores[3])) != (size_t)entries || core_state_hash(cores[3]) != core_state_hash(cores[1])) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	snap = core_persist_json(cores[1]);
	snapshot_len = strlen(snap);
	{
		char j[4200];
		snprintf(j, sizeof(j), "%s/journal.jsonl", dir);
		jfd = open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (jfd < 0)
			return 1;
	}

	/* the measured part: one VM's owner changes, R times */
	for (int r = 0; r < rounds; r++) {
		json_t *patch = json_pack("{s{sssIsb}}", "vm/vm-05000", "owner", r % 2 ? "n2" : "n3", "since_epoch",
					  (json_int_t)1, "running", 1);
		uint64_t v, t0;
		char *rec;

		sent_bytes = persist_bytes = 0;
		t0 = now_us();
		if (core_leader_patch(cores[1], now_virtual, core_leader_epoch(cores[1]), patch, &v, &err) < 0)
			return 1;
		drain(1);
		deliver_all();
		cpu[r] = now_us() - t0;
		json_decref(patch);
		if (committed_seen < v) {
			fprintf(stderr, "update %d not committed\n", r);
			return 1;
		}
		sent_per = sent_bytes;
		persist_per = persist_bytes / N;
		/* the durable writes each member does before acking (one member's, measured) */
		if (asprintf(&rec, "{\"k\":3,\"v\":%" PRIu64 ",\"e\":1,\"p\":{\"vm/vm-05000\":{\"owner\":\"n2\"}}}", v) < 0)
			return 1;
		jw[r] = append_sync(jfd, rec, strlen(rec));
		free(rec);
		if (r < 40)
			sw[r] = snapshot_sync(dir, snap);
	}
	/* what every member did per change before: serialize and hash the whole document */
	uint64_t whole = now_us();
	for (int k = 0; k < 10; k++)
		free(core_persist_json(cores[1]));
	whole = (now_us() - whole) / 10;
	qsort(cpu, (size_t)rounds, sizeof(*cpu), cmp_u64);
	qsort(jw, (size_t)rounds, sizeof(*jw), cmp_u64);
	qsort(sw, 40 < rounds ? 40 : (size_t)rounds, sizeof(*sw), cmp_u64);
	printf("one VM record changed, %d-entry spec + %d records (document %zu bytes), %d rounds:\n", entries, entries,
	       snapshot_len, rounds);
	printf("  multicast per change (PROPOSE + 3 ACKs): %zu bytes\n", sent_per);
	printf("  persisted per change per member (journal record): %zu bytes (the document: %zu bytes)\n", persist_per,
	       snapshot_len);
	printf("  CPU of the 3 cores per change: p50 %.3f ms, p95 %.3f ms\n", cpu[rounds / 2] / 1000.0,
	       cpu[rounds * 95 / 100] / 1000.0);
	printf("  (serializing the whole document once, as each member did per change before: %.1f ms)\n", whole / 1000.0);
	printf("  durable write per member in %s: journal append+fdatasync p50 %.2f ms p95 %.2f ms; whole snapshot write+fsync+rename p50 %.2f ms p95 %.2f ms (%d runs)\n",
	       base, jw[rounds / 2] / 1000.0, jw[rounds * 95 / 100] / 1000.0, sw[(40 < rounds ? 40 : rounds) / 2] / 1000.0,
	       sw[(40 < rounds ? 40 : rounds) * 95 / 100] / 1000.0, 40 < rounds ? 40 : rounds);
	close(jfd);
	{
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	for (int i = 1; i <= N; i++)
		core_free(cores[i]);
	free(text);
	free(snap);
	free(cpu);
	free(jw);
	free(sw);
	json_decref(spec);
	return 0;
}
