/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GFS2 with lock_dlm (dlm_controld over corosync):
 *
 *   probe  blkid -p -o export DEV            then, when it is GFS2: gfs2_edit -p sb journals DEV
 *          (lock protocol, lock table, uuid, one line per journal)
 *   mkfs   mkfs.gfs2 -p lock_dlm -t CLUSTER:FSNAME -j JOURNALS -O DEV
 *          only on a device that probes "empty" (-O: mkfs.gfs2 would otherwise ask, and it
 *          overwrites any other file system without asking: the probe is what protects data)
 *   mount  mount -t gfs2 -o _netdev,noatime DEV MOUNTPOINT    (+ the mount unit, mount-unit.h)
 *   umount umount MOUNTPOINT
 *   grow   gfs2_jadd -j ADD MOUNTPOINT        (ADD = wanted - present: -j counts journals to ADD;
 *          gfs2_jadd works on the mounted file system only)
 *
 * FSNAME is host_gfs2_fsname(label): the label when it fits GFS2's 30 bytes, else a shortened
 * form with a hash, the same on every node. The lock table "CLUSTER:FSNAME" must name corosync's
 * cluster_name (at most 32 bytes) or the mount fails; blkid reports it as the LABEL. The DLM
 * lockspace is FSNAME, so two datastores never share one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs-common.h"

#define GFS2_CLUSTER_NAME_MAX 32u
#define GFS2_JOURNALS_MAX 255u

/* mkfs.gfs2 accepts letters, digits, '-' and '_' in both parts of the lock table. */
static bool locktable_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

static int gfs2_check(const struct host_fs_params *p, char **why)
{
	const char *w = NULL;
	if (!p->cluster_name || strlen(p->cluster_name) > GFS2_CLUSTER_NAME_MAX || !locktable_word(p->cluster_name))
		w = "the corosync cluster_name must be 1 to 32 letters, digits, '-' or '_' for a GFS2 lock table";
	else if (!p->label || !locktable_word(p->label))
		w = "the label must be letters, digits, '-' or '_' for a GFS2 lock table";
	else if (p->slots < 1 || p->slots > GFS2_JOURNALS_MAX)
		w = "journals must be 1 to 255";
	if (!w)
		return 0;
	*why = strdup(w);
	return -EINVAL;
}

static char **gfs2_super_argv(const char *device)
{
	return fs_strv_new("gfs2_edit", "-p", "sb", "journals", device, NULL);
}

static char **gfs2_mkfs_argv(const char *device, const struct host_fs_params *p)
{
	char fsname[HOST_GFS2_FSNAME_MAX + 1], table[GFS2_CLUSTER_NAME_MAX + HOST_GFS2_FSNAME_MAX + 2], journals[16];
	snprintf(table, sizeof table, "%s:%s", p->cluster_name, host_gfs2_fsname(p->label, fsname));
	snprintf(journals, sizeof journals, "%u", p->slots);
	return fs_strv_new("mkfs.gfs2", "-p", "lock_dlm", "-t", table, "-j", journals, "-O", device, NULL);
}

static char **gfs2_grow_argv(const char *device, const char *mount_point, unsigned have, unsigned want)
{
	char add[16];
	snprintf(add, sizeof add, "%u", want - have);
	return fs_strv_new("gfs2_jadd", "-j", add, mount_point, NULL);
}

static char **gfs2_distinct_argv(const char *device, const struct host_fs_params *p, const char *uuid)
{
	char fsname[HOST_GFS2_FSNAME_MAX + 1], table[GFS2_CLUSTER_NAME_MAX + HOST_GFS2_FSNAME_MAX + 32];
	snprintf(table, sizeof table, "locktable=%s:%s", p->cluster_name, host_gfs2_fsname(p->label, fsname));
	return fs_strv_new("tunegfs2", "-U", uuid, "-o", table, device, NULL);
}

const struct fs_type fs_type_gfs2 = {
	.fs = DS_FS_GFS2,
	.name = "gfs2",
	.mkfs_tool = "mkfs.gfs2",
	.check_params = gfs2_check,
	.super_argv = gfs2_super_argv,
	.super_parse = fs_gfs2_edit_parse,
	.mkfs_argv = gfs2_mkfs_argv,
	.grow_argv = gfs2_grow_argv,
	.distinct_argv = gfs2_distinct_argv,
	.distinct_tool = "tunegfs2",
	.grow_needs_mount = true,
	.max_slots = GFS2_JOURNALS_MAX,
	.unit_requires = "dlm.service",
	.unit_after = "dlm.service corosync.service iscsid.service open-iscsi.service iscsi.service multipathd.service "
		      "nvmf-autoconnect.service network-online.target",
};

static int gfs2_probe(struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata)
{
	return fs_probe(&fs_type_gfs2, ctx, device, done, userdata);
}

static int gfs2_mkfs(struct host_ctx *ctx, const char *device, const struct host_fs_params *p, host_done_fn done,
		     void *userdata)
{
	return fs_mkfs(&fs_type_gfs2, ctx, device, p, done, userdata);
}

static int gfs2_mount(struct host_ctx *ctx, const char *device, const char *mount_point, host_done_fn done,
		      void *userdata)
{
	return fs_mount(&fs_type_gfs2, ctx, device, mount_point, done, userdata);
}

static int gfs2_umount(struct host_ctx *ctx, const char *mount_point, host_done_fn done, void *userdata)
{
	return fs_umount(&fs_type_gfs2, ctx, mount_point, done, userdata);
}

static int gfs2_grow(struct host_ctx *ctx, const char *device, const char *mount_point, unsigned slots,
		     host_done_fn done, void *userdata)
{
	return fs_grow(&fs_type_gfs2, ctx, device, mount_point, slots, done, userdata);
}

static int gfs2_make_distinct(struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
			      host_done_fn done, void *userdata)
{
	return fs_make_distinct(&fs_type_gfs2, ctx, device, p, NULL, done, userdata);
}

const struct host_fs_ops host_fs_gfs2_ops = {
	.name = "gfs2",
	.probe = gfs2_probe,
	.mkfs = gfs2_mkfs,
	.mount = gfs2_mount,
	.umount = gfs2_umount,
	.grow = gfs2_grow,
	.make_distinct = gfs2_make_distinct,
};
