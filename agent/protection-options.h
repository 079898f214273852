/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [protection] section of kvmcd.conf (agent/protection-config.c): the leader's snapshot
 * service (agent/protection.c, issue 10). Included by config.h; defaults in
 * PROTECTION_OPTIONS_DEFAULTS only.
 */
#pragma once

struct protection_options {
	/*
	 * TESTS ONLY. A file holding either a whole number of seconds N (may be negative) that this
	 * node adds to CLOCK_REALTIME wherever the snapshot schedules read the wall clock, or "@T":
	 * the schedules' clock is T (UTC seconds), frozen -- so the multi-node tier moves "now"
	 * forward in steps, together with the ONTAP simulator's clock (POST /_sim/clock), instead of
	 * waiting minutes, and real minutes passing during a test add no slot. Read again every
	 * second while set; a missing or unreadable file counts as offset 0. NULL (the default): the
	 * wall clock, untouched.
	 */
	char *test_clock_offset_file;
	/*
	 * A VM-consistent snapshot (consistency "vm"): how long a node may hold a guest's file
	 * systems frozen, counted on its own clock from when it sees the leader's freeze (each node
	 * thaws by itself then). The leader waits for the nodes' reports at most 60 % of it, and
	 * counts a VM as consistent only when the snapshot completed within it. Windows' VSS
	 * holds a freeze at most 10 s: keep it well below (1..9 s; default 5 s). The leader's value
	 * counts.
	 */
	unsigned freeze_budget_ms;
};

#define PROTECTION_OPTIONS_DEFAULTS { .test_clock_offset_file = NULL, .freeze_budget_ms = 5000 }

struct config_section;
extern const struct config_section protection_config_section;
