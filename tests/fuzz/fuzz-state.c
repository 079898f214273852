/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the persisted state a node reads at start-up (outside input: a disk, a
 * backup, a hand-edited file). The input is split at its first NUL byte into the snapshot
 * (state.json) and the journal (journal.jsonl); the core must load it or refuse it with a
 * message, never crash, and what it loads must persist and load again to the same state.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_config cfg = { .nodeid = 1, .name = "fuzz", .proto_min = 1, .proto_max = WIRE_PROTO_MAX };
	char *buf = malloc(size + 2), *snapshot, *journal, *err = NULL, *again;
	const char *nul;
	struct core *c = NULL, *c2 = NULL;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = 0;
	nul = memchr(buf, 0, size + 1);
	snapshot = nul == buf ? NULL : buf;
	journal = (char *)nul + 1;
	if (core_new(&cfg, snapshot, journal, &c, &err) == 0) {
		again = core_persist_json(c);
		if (!again || core_new(&cfg, again, NULL, &c2, &err) != 0 ||
		    core_state_hash(c2) != core_state_hash(c) || core_state_version(c2) != core_state_version(c))
			abort(); /* what was loaded must survive its own snapshot */
		core_free(c2);
		free(again);
		core_free(c);
	}
	free(err);
	free(buf);
	return 0;
}
