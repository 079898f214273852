/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The [ha] section of kvmcd.conf (ha-options.h): keys, defaults and the checks made while parsing. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "ha-options.h"

static const struct ha_options defaults = HA_OPTIONS_DEFAULTS;

#define H struct ha_options

/* "ontap,agent,watchdog": known names, each at most once. */
static bool levels_ok(const char *value, const char **why)
{
	static const char *const names[] = { "ontap", "agent", "watchdog" };
	bool seen[3] = { false };
	const char *p = value;

	if (!*value) {
		*why = "is empty (leave the key out for the default)";
		return false;
	}
	for (;;) {
		size_t len = strcspn(p, ","), i;
		while (len && *p == ' ') {
			p++;
			len--;
		}
		for (i = 0; i < 3; i++)
			if (strlen(names[i]) <= len && !strncmp(p, names[i], strlen(names[i])) &&
			    strspn(p + strlen(names[i]), " ") == len - strlen(names[i]))
				break;
		if (i == 3) {
			*why = "names a level that is not one of ontap, agent, watchdog";
			return false;
		}
		if (seen[i]) {
			*why = "names a level twice";
			return false;
		}
		seen[i] = true;
		if (!p[len])
			return true;
		p += len + 1;
	}
}

static bool watchdog_ok(const char *value, const char **why)
{
	if (!strcmp(value, "none") || (value[0] == '/' && value[1]) || (!strncmp(value, "sim:/", 5) && value[5]))
		return true;
	*why = "is not none, a device path (/dev/watchdog) or sim:/path (the simulated watchdog's socket)";
	return false;
}

static const struct config_key keys[] = {
	{ .name = "levels", CONFIG_STRING_AT(H, levels), .max = 64, .optional = true, .check = levels_ok,
	  .default_text = "ontap, then watchdog when this node has one (agent between them when agent_dir is set)",
	  .description = "The fence methods the leader tries, in order: ontap (remove the node's access on ONTAP and "
			 "read it back), agent (power off through fence-agents), watchdog (wait for the node's own "
			 "watchdog to reset it)." },
	{ .name = "watchdog", CONFIG_STRING_AT(H, watchdog), .max = CONFIG_PATH_MAX, .optional = true,
	  .check = watchdog_ok, .default_text = "none",
	  .description = "This node's watchdog, fed while it is quorate and healthy: none, a device (/dev/watchdog) "
			 "or sim:/path (the multi-node tests' simulated watchdog)." },
	{ .name = "agent_dir", CONFIG_PATH_AT(H, agent_dir), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "The agent level's parameters: DIR/NODE.conf per node, key = value lines (agent = "
			 "fence_ipmilan, ip = ..., password_file = ...)." },
	{ .name = "agent_restart", CONFIG_DURATION_AT(H, agent_restart_ms), .min = 1000, .max = 300000, .unit = "ms",
	  .description = "How long a kvmcd restart takes (its kvmcd gone to rejoined); a node whose kvmcd is back "
			 "within this plus the margin is not fenced." },
	{ 0 },
};

static int check(void *section, struct config_check *chk)
{
	H *o = section;

	if (o->levels && strstr(o->levels, "agent") && !o->agent_dir)
		config_check_error(chk, "levels", "names the agent level, but agent_dir (its per-node parameters) is not set");
	return 0;
}

const struct config_section ha_config_section = {
	.name = "ha", .offset = offsetof(struct kvmcd_config, ha), .defaults = &defaults, .keys = keys, .check = check,
};
