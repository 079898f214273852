/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [vms] section of kvmcd.conf (vms-options.h): keys, defaults and the checks made while
 * parsing. Collected by agent/config.c; compiled into the config code (kvmcctl reads it too:
 * how long `kvmcctl vm migrate` waits follows migration_timeout).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vms-options.h"

#define NODE_TOKEN "{node}"

static const struct vms_options defaults = VMS_OPTIONS_DEFAULTS;

#define V struct vms_options

static bool uri_ok(const char *value, const char **why)
{
	const char *p = strstr(value, NODE_TOKEN);

	if (!p) {
		*why = "has no {node} (the target node's name goes there)";
		return false;
	}
	if (strstr(p + 1, NODE_TOKEN)) {
		*why = "has {node} more than once";
		return false;
	}
	if (!strstr(value, "://")) {
		*why = "is not a libvirt URI (driver+transport://host/path)";
		return false;
	}
	return true;
}

static const struct config_key keys[] = {
	{ .name = "migration_uri", CONFIG_STRING_AT(V, migration_uri), .max = 160, .runtime = true, .check = uri_ok,
	  .description = "The target's libvirtd for a live migration, as the source node's libvirtd reaches it "
			 "(peer to peer); {node} is the target's node name." },
	{ .name = "migration_timeout", CONFIG_DURATION_AT(V, migration_timeout_ms), .min = 5000, .max = 86400000,
	  .unit = "ms", .runtime = true,
	  .description = "A live migration not finished by then is aborted; the VM keeps running on its source." },
	{ .name = "max_downtime", CONFIG_DURATION_AT(V, max_downtime_ms), .min = 0, .max = 60000, .unit = "ms",
	  .runtime = true,
	  .description = "The longest the guest may pause at a migration's switch-over (kvmcctl vm migrate "
			 "--max-downtime overrides it); 0: QEMU's own (300 ms)." },
	{ .name = "migrations_per_node", CONFIG_UINT_AT(V, migrations_per_node), .min = 1, .max = 16, .runtime = true,
	  .description = "Live migrations in flight with one node as source or target (the leader's value counts)." },
	{ .name = "migrations_per_cluster", CONFIG_UINT_AT(V, migrations_per_cluster), .min = 1, .max = 256,
	  .runtime = true, .description = "Live migrations in flight in the whole cluster (the leader's value counts)." },
	{ .name = "balance_gap", CONFIG_UINT_AT(V, balance_gap), .min = 1, .max = 100, .unit = "%", .runtime = true,
	  .description = "kvmcctl cluster rebalance moves a VM for load only when the target's memory share "
			 "with it stays this many points below the source's." },
	{ 0 },
};

#undef V

const struct config_section vms_config_section = {
	.name = "vms",
	.offset = offsetof(struct kvmcd_config, vms),
	.defaults = &defaults,
	.keys = keys,
};

int vms_migration_uri(const char *template_uri, const char *node, char **out)
{
	const char *p = template_uri ? strstr(template_uri, NODE_TOKEN) : NULL;
	size_t head, tail;
	char *s;

	if (!p || !node)
		return -EINVAL;
	head = (size_t)(p - template_uri);
	tail = strlen(p + strlen(NODE_TOKEN));
	s = malloc(head + strlen(node) + tail + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, template_uri, head);
	memcpy(s + head, node, strlen(node));
	memcpy(s + head + strlen(node), p + strlen(NODE_TOKEN), tail + 1);
	*out = s;
	return 0;
}
