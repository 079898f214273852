/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fence methods built into kvmcd (fence.h). */
#include "fencing/fence.h"
#include "macros.h"

const struct fence_method_ops *fence_method_builtin(enum fence_method m)
{
	switch (m) {
	case FENCE_METHOD_AGENT:
		return &fence_agent_ops;
	case FENCE_METHOD_ONTAP:     /* the ONTAP module's table: the daemon takes it from there */
	case FENCE_METHOD_WATCHDOG:  /* nothing runs on the survivors */
	default:
		return NULL;
	}
}

const char *fence_outcome_name(enum fence_outcome_kind k)
{
	static const char *const names[] = {
		[FENCE_OUTCOME_CONFIRMED] = "confirmed",
		[FENCE_OUTCOME_FAILED] = "failed",
		[FENCE_OUTCOME_TIMED_OUT] = "timed-out",
	};
	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : NULL;
}
