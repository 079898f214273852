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

static const struct config_enum shutdown_policies[] = {
	{ "migrate", VMS_SHUTDOWN_MIGRATE }, { "stop", VMS_SHUTDOWN_STOP }, { "freeze", VMS_SHUTDOWN_FREEZE }, { NULL, 0 },
};
static const struct config_enum shutdown_ons[] = {
	{ "system-shutdown", VMS_SHUTDOWN_ON_SYSTEM }, { "any-stop", VMS_SHUTDOWN_ON_ANY }, { NULL, 0 },
};
static const struct config_enum paused_policies[] = {
	{ "auto-resume", VMS_PAUSED_AUTO_RESUME }, { "leave-paused", VMS_PAUSED_LEAVE }, { "kill", VMS_PAUSED_KILL },
	{ NULL, 0 },
};

static const struct config_enum lock_kinds[] = {
	{ "auto", VMS_LOCK_AUTO }, { "none", VMS_LOCK_NONE }, { "dlm", VMS_LOCK_DLM }, { "lockd", VMS_LOCK_LOCKD },
	{ NULL, 0 },
};

/* A DLM lockspace name becomes a device name (/dev/misc/dlm_NAME): printable, no '/', no blank. */
static bool lockspace_ok(const char *value, const char **why)
{
	for (const char *c = value; *c; c++)
		if (*c == '/' || *c <= ' ' || *c > '~') {
			*why = "is not a DLM lockspace name (printable ASCII without '/' or blanks)";
			return false;
		}
	if (!*value) {
		*why = "is empty";
		return false;
	}
	return true;
}

static const struct config_key keys[] = {
	{ .name = "shutdown_policy", CONFIG_ENUM_AT(V, shutdown_policy), .enums = shutdown_policies, .runtime = true,
	  .description = "A planned host shutdown (kvmcd stopped by systemd while the host shuts down): migrate (the "
			 "node is drained, its guests leave live; what has not left near shutdown_timeout is shut down "
			 "and restarted elsewhere), stop (shut down here, restarted elsewhere), freeze (shut down here, "
			 "kept by this node and started here again when it is back; they wait for it meanwhile). An "
			 "inquorate node, or one whose leader does not answer, shuts its guests down for every policy." },
	{ .name = "shutdown_policy_on", CONFIG_ENUM_AT(V, shutdown_policy_on), .enums = shutdown_ons, .runtime = true,
	  .description = "system-shutdown: the policy applies when systemd stops kvmcd during a host shutdown "
			 "(its SystemState is \"stopping\"); any-stop: on every stop of kvmcd (SIGTERM), restarts too." },
	{ .name = "shutdown_timeout", CONFIG_DURATION_AT(V, shutdown_timeout_ms), .min = 10000, .max = 3600000,
	  .unit = "ms", .runtime = true,
	  .description = "How long the shutdown policy may take, SIGTERM to exit; the guests' stop grace (60 s) and "
			 "one committed change come out of it (kvmcd --print-timeouts). Keep the unit's TimeoutStopSec "
			 "above it." },
	{ .name = "paused_policy", CONFIG_ENUM_AT(V, paused_policy), .enums = paused_policies, .runtime = true,
	  .description = "A guest QEMU paused on an I/O error (every path to its storage failed), once its "
			 "datastores are ready on this node again and its disks read: auto-resume, leave-paused (until "
			 "kvmcctl vm resume NAME), or kill (destroyed, then restarted per its ha.max_restart). A guest "
			 "paused by a user is never touched." },
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
	{ .name = "vm_lock", CONFIG_ENUM_AT(V, vm_lock), .enums = lock_kinds,
	  .description = "The lock below kvmcd that refuses a second copy of a running VM: dlm (a DLM lock per "
			 "running VM; clusters with OCFS2 / GFS2), lockd (libvirt's virtlockd leases, verified before "
			 "each start; NFS / SMB only), none, or auto: dlm where the DLM lockspace can be joined, else none. "
			 "An explicit dlm or lockd that does not work here keeps VMs from starting on this node and "
			 "shows in kvmcctl preflight." },
	{ .name = "vm_lock_lockspace", CONFIG_STRING_AT(V, vm_lock_lockspace), .max = 64, .check = lockspace_ok,
	  .description = "vm_lock = dlm: the DLM lockspace of the VM locks (the same on every node); its "
			 "resources are vm:NAME." },
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
