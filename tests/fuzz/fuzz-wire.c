/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the CPG message decoder, and a core fed with whatever decodes. */
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct core *c;
	struct wire_msg m;
	struct core_action a;
	char *err = NULL;

	(void)wire_decode(data, size, WIRE_PROTO_MIN, WIRE_PROTO_MAX, &m);
	if (!c) {
		struct core_config cfg = { .nodeid = 1, .name = "fuzz", .proto_min = 1, .proto_max = WIRE_PROTO_MAX };
		static const uint32_t members[] = { 1, 2, 3 };
		if (core_new(&cfg, NULL, NULL, &c, &err) < 0)
			return 0;
		core_connected(c, 1, 1);
		core_quorum(c, 2, true, 3, 3);
		core_confchg(c, 3, members, 3, NULL, 0);
	}
	/* The core must shrug off any message from a member, in any state. */
	core_message(c, 10, 2, data, size);
	while (core_next_action(c, &a))
		core_action_clear(&a);
	return 0;
}
