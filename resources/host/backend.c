/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Picking the host backend from the [host] section (host-options.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev.h"
#include "fs-common.h"
#include "host-options.h"
#include "inventory.h"
#include "pool.h"

const struct host_backend *host_backend_setup(const struct host_options *o, struct host_ctx *ctx,
					      struct host_sim *sim, char **error)
{
	*error = NULL;
	ctx->libvirt_uri = o->libvirt_uri;
	ctx->sim = NULL;
	if (o->backend != HOST_BACKEND_SIM)
		return &host_backend_real;
	*sim = (struct host_sim){ .url = o->sim_url, .ca_file = o->sim_ca_file,
				  .access_socket = o->sim_access_socket, .shared_dir = o->sim_shared_dir,
				  .mount = (enum host_sim_mount)o->sim_mount, .missing = o->sim_missing };
	if (host_sim_check(sim, error) < 0)
		return NULL;
	ctx->sim = sim;
	return &host_backend_sim;
}

/* The real backend: what a production host runs (each table in its own file). */
const struct host_backend host_backend_real = {
	.name = "real",
	.attach = {
		[DS_PROTO_ISCSI] = &host_attach_iscsi,
		[DS_PROTO_FC] = &host_attach_fc,
		[DS_PROTO_NVME_TCP] = &host_attach_nvme_tcp,
		[DS_PROTO_NFS] = &host_attach_nfs_ops,
		[DS_PROTO_SMB] = &host_attach_smb_ops,
	},
	.fs = {
		[DS_FS_OCFS2] = &host_fs_ocfs2_ops,
		[DS_FS_GFS2] = &host_fs_gfs2_ops,
	},
	.pool = &host_pool_libvirt_ops,
	.inventory = &host_inventory_real,
};
