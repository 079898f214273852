/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [host] section of kvmcd.conf: which host backend this node uses and how. The real
 * backend is the default; the simulated one (sim.h) is chosen only here, explicitly, by the
 * multi-node tier and the demo. The keys are an interface (the harness writes them).
 */
#pragma once

#include "host.h"
#include "sim.h"

enum host_backend_kind { HOST_BACKEND_REAL, HOST_BACKEND_SIM };

struct host_options {
	int backend;                  /* enum host_backend_kind */
	char *libvirt_uri;            /* the pools' libvirtd */
	char *cluster_name;           /* the fs lock tables' cluster name; NULL = corosync's */
	char *sim_url;                /* sim: the ONTAP simulator */
	char *sim_ca_file;            /* sim: PEM verifying it; NULL = not verified */
	char *sim_access_socket;      /* sim: its access endpoint's unix socket; NULL = ask over sim_url */
	char *sim_shared_dir;         /* sim: the directory every node sees (the "cluster fs") */
	int sim_mount;                /* sim: enum host_sim_mount */
	char *sim_missing;            /* sim: tools / modules the simulated host lacks (tests) */
};

#define HOST_OPTIONS_DEFAULTS { .backend = HOST_BACKEND_REAL, .libvirt_uri = (char *)"qemu:///system", \
				.sim_mount = HOST_SIM_MOUNT_BIND }

struct config_section;
extern const struct config_section host_config_section;

/*
 * Picks the backend and fills what it needs in ctx (ctx->sim points into *sim, which the caller
 * keeps as long as ctx). Returns it, or NULL with *error (owned) naming the key at fault.
 */
const struct host_backend *host_backend_setup(const struct host_options *o, struct host_ctx *ctx,
					      struct host_sim *sim, char **error);
