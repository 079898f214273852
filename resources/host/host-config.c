/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [host] section of kvmcd.conf (host-options.h): keys, defaults, the checks made while
 * parsing, and the backend choice. Collected by agent/config.c; compiled into the config code.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "host-options.h"

static const struct host_options defaults = HOST_OPTIONS_DEFAULTS;

static const struct config_enum backends[] = {
	{ "real", HOST_BACKEND_REAL }, { "sim", HOST_BACKEND_SIM }, { NULL, 0 },
};
static const struct config_enum mounts[] = {
	{ "bind", HOST_SIM_MOUNT_BIND }, { "symlink", HOST_SIM_MOUNT_SYMLINK }, { NULL, 0 },
};

#define H struct host_options

static const struct config_key keys[] = {
	{ .name = "backend", CONFIG_ENUM_AT(H, backend), .enums = backends,
	  .description = "How this node acts on its host: real (iscsiadm, nvme, multipath, mkfs, mount, "
			 "libvirt), or sim (the multi-node test tier and the demo only: the ONTAP "
			 "simulator's files and a shared directory)." },
	{ .name = "libvirt_uri", CONFIG_STRING_AT(H, libvirt_uri), .max = 160,
	  .description = "The libvirtd that holds the datastores' pools." },
	{ .name = "cluster_name", CONFIG_STRING_AT(H, cluster_name), .max = 15, .optional = true,
	  .default_text = "corosync's totem.cluster_name",
	  .description = "Cluster name of the OCFS2 / GFS2 lock tables (DLM); must be corosync's." },
	{ .name = "sim_url", CONFIG_STRING_AT(H, sim_url), .max = 160, .optional = true,
	  .description = "sim: the ONTAP simulator's base URL (https://host:port)." },
	{ .name = "sim_ca_file", CONFIG_PATH_AT(H, sim_ca_file), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "sim: PEM CA verifying the simulator's certificate." },
	{ .name = "sim_access_socket", CONFIG_PATH_AT(H, sim_access_socket), .max = CONFIG_PATH_MAX, .optional = true,
	  .default_text = "ask over sim_url",
	  .description = "sim: the simulator's access socket (ontap-sim --access-socket): the attach and probe "
			 "steps ask it what the array grants, instead of running curl against sim_url." },
	{ .name = "sim_shared_dir", CONFIG_PATH_AT(H, sim_shared_dir), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "sim: the directory every node sees (stands for the cluster file systems)." },
	{ .name = "sim_mount", CONFIG_ENUM_AT(H, sim_mount), .enums = mounts,
	  .description = "sim: bind (mount --bind, needs root) or symlink." },
	{ .name = "sim_missing", CONFIG_STRING_AT(H, sim_missing), .max = 160, .optional = true,
	  .description = "sim, tests only: tools and kernel modules the simulated host reports missing "
			 "(comma-separated, e.g. iscsiadm,dm_multipath), so kvmcctl preflight has "
			 "something to find." },
	{ 0 },
};

#undef H

static int check(void *section, struct config_check *chk)
{
	struct host_options *o = section;

	if (o->backend != HOST_BACKEND_SIM)
		return 0; /* the sim_* keys only matter with backend = sim */
	if (!o->sim_url || !o->sim_shared_dir) {
		config_check_error(chk, "backend", "backend = sim needs sim_url and sim_shared_dir");
		return 0;
	}
	/* The URL's shape and the files are checked when the daemon sets the backend up
	 * (host_backend_setup); here what needs no file system. */
	if (strncmp(o->sim_url, "http://", 7) != 0 && strncmp(o->sim_url, "https://", 8) != 0)
		config_check_error(chk, "sim_url", "\"%s\" is not an http:// or https:// URL", o->sim_url);
	return 0;
}

const struct config_section host_config_section = {
	.name = "host",
	.offset = offsetof(struct kvmcd_config, host),
	.defaults = &defaults,
	.keys = keys,
	.check = check,
};
