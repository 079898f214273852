/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [ha] section of kvmcd.conf (agent/ha-config.c): fencing and HA restart (issue 9; the
 * service is agent/ha.c). Included by config.h; defaults in HA_OPTIONS_DEFAULTS only.
 */
#pragma once

#include <stdbool.h>

struct ha_options {
	/* The fence levels, in order: a comma-separated list of ontap, agent, watchdog. NULL:
	 * ontap, then watchdog when this node has a watchdog (and agent when agent_dir is set,
	 * between the two). */
	char *levels;
	/* none | /dev/watchdogN (the hardware or kernel watchdog) | sim:/path (the multi-node tier's
	 * simulated watchdog, tests/multinode/watchdog-sim). */
	char *watchdog;
	/* The "agent" level's per-node parameters: DIR/NODE.conf, key = value lines as
	 * fencing/agent.h lists them. NULL: no agent level. */
	char *agent_dir;
	/* kvmcd's restart time (PROCDOWN to rejoined) the agent grace derives from (timeouts.h). */
	unsigned agent_restart_ms;
};

#define HA_OPTIONS_DEFAULTS { .levels = NULL, .watchdog = NULL, .agent_dir = NULL, .agent_restart_ms = 6000 }

struct config_section;
extern const struct config_section ha_config_section;
