/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The [protection] section of kvmcd.conf (protection-options.h). */
#include <stddef.h>

#include "config.h"
#include "protection-options.h"

static const struct protection_options defaults = PROTECTION_OPTIONS_DEFAULTS;

#define P struct protection_options

static const struct config_key keys[] = {
	{ .name = "test_clock_offset_file", CONFIG_PATH_AT(P, test_clock_offset_file), .max = CONFIG_PATH_MAX,
	  .optional = true,
	  .description = "TESTS ONLY: a file holding seconds added to the wall clock the snapshot schedules read, or @T "
			 "(a fixed time: the multi-node tier advances it with the simulator's clock). Leave unset." },
	{ .name = "freeze_budget", CONFIG_DURATION_AT(P, freeze_budget_ms), .min = 1000, .max = 9000, .unit = "ms",
	  .runtime = true,
	  .description = "VM-consistent snapshots: how long a node may keep a guest's file systems frozen (it thaws "
			 "by itself then); the leader waits for the freezes at most 60 % of it. Windows VSS holds at "
			 "most 10 s." },
	{ 0 },
};

const struct config_section protection_config_section = {
	.name = "protection", .offset = offsetof(struct kvmcd_config, protection), .defaults = &defaults, .keys = keys,
};
