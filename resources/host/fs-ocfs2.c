/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OCFS2 on the corosync stack ("pcmk": dlm_controld over corosync, no o2cb, no pacemaker needed):
 *
 *   probe  blkid -p -o export DEV            then, when it is OCFS2: debugfs.ocfs2 -R stats DEV
 *          (slots, label, cluster stack and name)
 *   mkfs   mkfs.ocfs2 --cluster-stack=pcmk --cluster-name=CLUSTER -N SLOTS -L LABEL DEV
 *          only on a device that probes "empty"; then probed again (the new uuid)
 *   mount  mount -t ocfs2 -o _netdev,noatime DEV MOUNTPOINT   (+ the mount unit, mount-unit.h)
 *   umount umount MOUNTPOINT                  (after removing the unit)
 *   grow   tunefs.ocfs2 -N SLOTS DEV          online or offline (it takes the cluster lock)
 *
 * The flows are fs-common.c's; this file says what is OCFS2's. Limits: the cluster name is at
 * most 16 bytes (OCFS2_CLUSTER_NAME_LEN: corosync's cluster_name must fit), the label 63, node
 * slots 255. Every tool runs with stdin on /dev/null, so an unexpected "Proceed (y/N)" prompt
 * aborts instead of hanging.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs-common.h"

#define OCFS2_CLUSTER_NAME_MAX 16u
#define OCFS2_LABEL_MAX 63u
#define OCFS2_SLOTS_MAX 255u

static bool printable_word(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int ocfs2_check(const struct host_fs_params *p, char **why)
{
	const char *w = NULL;
	if (!p->cluster_name || !*p->cluster_name || strlen(p->cluster_name) > OCFS2_CLUSTER_NAME_MAX ||
	    !printable_word(p->cluster_name))
		w = "the corosync cluster_name must be 1 to 16 bytes without blanks for OCFS2 (OCFS2_CLUSTER_NAME_LEN)";
	else if (!p->label || !*p->label || strlen(p->label) > OCFS2_LABEL_MAX || !printable_word(p->label))
		w = "the label must be 1 to 63 bytes without blanks";
	else if (p->slots < 1 || p->slots > OCFS2_SLOTS_MAX)
		w = "node slots must be 1 to 255";
	if (!w)
		return 0;
	*why = strdup(w);
	return -EINVAL;
}

static char **ocfs2_super_argv(const char *device)
{
	return fs_strv_new("debugfs.ocfs2", "-R", "stats", device, NULL);
}

static char **ocfs2_mkfs_argv(const char *device, const struct host_fs_params *p)
{
	char stack[64], slots[16];
	snprintf(stack, sizeof stack, "--cluster-name=%s", p->cluster_name);
	snprintf(slots, sizeof slots, "%u", p->slots);
	return fs_strv_new("mkfs.ocfs2", "--cluster-stack=pcmk", stack, "-N", slots, "-L", p->label, device, NULL);
}

static char **ocfs2_grow_argv(const char *device, const char *mount_point, unsigned have, unsigned want)
{
	char slots[16];
	snprintf(slots, sizeof slots, "%u", want);
	return fs_strv_new("tunefs.ocfs2", "-N", slots, device, NULL);
}

/* tunefs.ocfs2 makes the new UUID itself (without the cluster stack: it warns so); -y answers its
 * question. ocfs2-tools 1.8.7 ignores "=LABEL" and labels the clone "<old>-cloned": the label is
 * then set alone (-L, which needs the cluster stack -- up on a node that mounts OCFS2), after
 * fsck.ocfs2 replayed the journals (replay_argv). */
static char **ocfs2_distinct_argv(const char *device, const struct host_fs_params *p, const char *uuid)
{
	char opt[128];
	snprintf(opt, sizeof opt, "--cloned-volume=%s", p->label);
	return fs_strv_new("tunefs.ocfs2", "-y", opt, device, NULL);
}

static char **ocfs2_relabel_argv(const char *device, const struct host_fs_params *p)
{
	return fs_strv_new("tunefs.ocfs2", "-L", p->label, device, NULL);
}

/* The clone's journals replayed (and the copy checked, as after a crash: it is one) under its
 * new UUID's cluster lock, so that -L takes it; -y answers fsck's questions. */
static char **ocfs2_replay_argv(const char *device)
{
	return fs_strv_new("fsck.ocfs2", "-y", device, NULL);
}

const struct fs_type fs_type_ocfs2 = {
	.fs = DS_FS_OCFS2,
	.name = "ocfs2",
	.mkfs_tool = "mkfs.ocfs2",
	.check_params = ocfs2_check,
	.super_argv = ocfs2_super_argv,
	.super_parse = fs_ocfs2_stats_parse,
	.mkfs_argv = ocfs2_mkfs_argv,
	.grow_argv = ocfs2_grow_argv,
	.distinct_argv = ocfs2_distinct_argv,
	.relabel_argv = ocfs2_relabel_argv,
	.replay_argv = ocfs2_replay_argv,
	.replay_ok_max = 1,
	.distinct_tool = "tunefs.ocfs2",
	.grow_needs_mount = false,
	.max_slots = OCFS2_SLOTS_MAX,
	.unit_requires = "dlm.service",
	.unit_after = "dlm.service corosync.service iscsid.service open-iscsi.service iscsi.service multipathd.service "
		      "nvmf-autoconnect.service network-online.target",
};

static int ocfs2_probe(struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata)
{
	return fs_probe(&fs_type_ocfs2, ctx, device, done, userdata);
}

static int ocfs2_mkfs(struct host_ctx *ctx, const char *device, const struct host_fs_params *p, host_done_fn done,
		      void *userdata)
{
	return fs_mkfs(&fs_type_ocfs2, ctx, device, p, done, userdata);
}

static int ocfs2_mount(struct host_ctx *ctx, const char *device, const char *mount_point, host_done_fn done,
		       void *userdata)
{
	return fs_mount(&fs_type_ocfs2, ctx, device, mount_point, done, userdata);
}

static int ocfs2_umount(struct host_ctx *ctx, const char *mount_point, host_done_fn done, void *userdata)
{
	return fs_umount(&fs_type_ocfs2, ctx, mount_point, done, userdata);
}

static int ocfs2_grow(struct host_ctx *ctx, const char *device, const char *mount_point, unsigned slots,
		      host_done_fn done, void *userdata)
{
	return fs_grow(&fs_type_ocfs2, ctx, device, mount_point, slots, done, userdata);
}

static int ocfs2_make_distinct(struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
			       host_done_fn done, void *userdata)
{
	return fs_make_distinct(&fs_type_ocfs2, ctx, device, p, NULL, done, userdata);
}

const struct host_fs_ops host_fs_ocfs2_ops = {
	.name = "ocfs2",
	.probe = ocfs2_probe,
	.mkfs = ocfs2_mkfs,
	.mount = ocfs2_mount,
	.umount = ocfs2_umount,
	.grow = ocfs2_grow,
	.make_distinct = ocfs2_make_distinct,
};
