/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How a kvmcd mount survives a host reboot: a systemd MOUNT UNIT that kvmcd writes and owns.
 *
 * The choice, and why (the alternative was a marked line in /etc/fstab):
 *  - A unit is a file of its own, /etc/systemd/system/<escaped mount point>.mount. kvmcd owns the
 *    whole file (a comment says so on its first line) and replaces it atomically (write a
 *    temporary file, fsync, rename, fsync the directory). An fstab line would mean rewriting a
 *    file the administrator and other tools edit too, racing their edits, and a torn or
 *    mis-parsed fstab can stop a host from booting.
 *  - Ordering is explicit where the reboot (and, as important, the shutdown) needs it:
 *    OCFS2 and GFS2 `Requires=dlm.service` and come `After=` dlm, corosync, the iSCSI logins,
 *    multipathd and NVMe autoconnect, so at shutdown they are unmounted BEFORE DLM stops and
 *    before the paths go away (a cluster fs left mounted under a dead lockspace hangs the host
 *    and gets it fenced). fstab can say this only through x-systemd.* options, which is the same
 *    unit generated less visibly.
 *  - Every kvmcd mount is a network mount for systemd (nfs, cifs, ocfs2 and gfs2 are network
 *    file systems to it, and `_netdev` says so explicitly), so it waits for network-online and
 *    is ordered before remote-fs.target. `nofail`: a datastore that cannot come up (no quorum
 *    yet, a LIF down) never holds up the boot; kvmcd mounts it when it can.
 *  - Enabled the way `systemctl enable` would (a relative symlink in
 *    /etc/systemd/system/remote-fs.target.wants/), without systemctl or D-Bus: kvmcd also runs
 *    on hosts (and full-stack test guests) where PID 1 is not systemd, where the unit is simply
 *    inert.
 *  - /etc, not /run: /run/systemd/system is emptied at every boot, so a unit there would not
 *    survive the reboot it exists for.
 *
 * kvmcd still mounts and unmounts itself (`mount`, `umount` through the runner) rather than
 * `systemctl start`: the deadline, the tool's own error message and the verification in
 * /proc/self/mountinfo are the same on every host. systemd adopts the mount under the unit's
 * name. No daemon-reload is done: systemd reads the file at the next boot (or the next reload);
 * until then it tracks the mount from mountinfo like any other.
 *
 * The unit (OCFS2 example; NFS and SMB have no Requires= and their own options):
 *
 *   # Written by kvmcd: kvmcd owns this file and rewrites or removes it; do not edit.
 *   [Unit]
 *   Description=kvmcd datastore mount /srv/kvmcd/ds1 (ocfs2)
 *   Requires=dlm.service
 *   After=dlm.service corosync.service iscsid.service open-iscsi.service iscsi.service multipathd.service nvmf-autoconnect.service network-online.target
 *   Wants=network-online.target
 *
 *   [Mount]
 *   What=/dev/disk/by-uuid/13df55ac-59c6-4ea3-b2cf-d02f1e24ef6a
 *   Where=/srv/kvmcd/ds1
 *   Type=ocfs2
 *   Options=_netdev,noatime,nofail
 *   TimeoutSec=300
 *
 *   [Install]
 *   WantedBy=remote-fs.target
 *
 * A block device is named by its file system UUID (/dev/disk/by-uuid/…): /dev/nvme0n1 or
 * /dev/dm-3 need not be the same device after a reboot. A unit file at that path WITHOUT kvmcd's
 * first line, or an /etc/fstab line for the same mount point, is someone else's: kvmcd refuses
 * (-EEXIST) rather than shadow or overwrite it. The root of the tree ("/etc") comes from
 * host_ctx.etc_root, so tests write into a temporary tree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The first line of every unit kvmcd writes; a file that does not start with it is not kvmcd's. */
#define MOUNT_UNIT_MARKER "# Written by kvmcd: kvmcd owns this file and rewrites or removes it; do not edit.\n"
#define MOUNT_UNIT_TIMEOUT_SEC 300u

struct mount_unit {
	const char *what;          /* What= */
	const char *where;         /* Where=: absolute, normalised */
	const char *type;          /* Type= */
	const char *options;       /* Options= before ",nofail" (may be NULL) */
	const char *requires;      /* space-separated unit names, or NULL */
	const char *after;         /* space-separated unit names, or NULL */
	const char *wants;         /* space-separated unit names, or NULL */
};

/* systemd's unit name for a mount point ("systemd-escape --path --suffix=mount"): "/srv/kvmcd/ds1"
 * -> "srv-kvmcd-ds1.mount", "-" -> "\x2d", bytes outside [A-Za-z0-9:_.] as "\xNN", a leading "."
 * escaped. Returns 0 and *out (owned), -EINVAL for a path that is not absolute and normalised
 * (or is "/"), -ENOMEM. */
int mount_unit_name(const char *where, char **out);

/* What= of kvmcd's own unit for `where` under etc_root ("/etc" or a test tree), read on the
 * caller's thread (one small local file). Returns 0 and *what (owned), -ENOENT when there is no
 * unit, or it is not kvmcd's (no MOUNT_UNIT_MARKER) or has no What= line, -EINVAL, -ENOMEM. */
int mount_unit_read_what(const char *etc_root, const char *where, char **what);

/* The unit file's text (the format above). Returns 0 and *out (owned), -EINVAL (what/where/type
 * missing, a newline in any value), -ENOMEM. */
int mount_unit_render(const struct mount_unit *u, char **out);

/* Does this fstab text have an entry for `where`? Returns the 1-based line number, 0 when none.
 * Fields are blank-separated, octal escapes (\040) honoured, comments skipped. Pure (fuzzed). */
unsigned mount_unit_fstab_find(const char *text, size_t len, const char *where);

/*
 * The worker jobs (common/worker.h): they touch the file system (fsync) and so never run on the
 * loop. Allocate with mount_unit_job_new, submit with mount_unit_install_fn / mount_unit_remove_fn
 * and mount_unit_job_free as free_arg; the result is in r and detail.
 */
struct mount_unit_job {
	char *etc_root;            /* owned: "/etc" or a test tree */
	char *where;               /* owned */
	char *name;                /* owned: the unit name */
	char *content;             /* owned: the unit text (install only) */
	bool mkdir_where;          /* install: create the mount point (mode 0755) if missing */
	/* results */
	int r;                     /* 0 or a negative errno */
	char *detail;              /* owned: why it failed */
	bool changed;              /* install: the file or link was written; remove: removed */
};

/* Returns 0 and *out, -EINVAL, -ENOMEM. content NULL for a removal. */
int mount_unit_job_new(const char *etc_root, const char *where, const char *content, struct mount_unit_job **out);
void mount_unit_job_free(void *job);
/* Install: refuse an fstab entry or a foreign unit for `where` (-EEXIST), write the unit unless
 * the same text is there, link it into remote-fs.target.wants, create the mount point. */
int mount_unit_install_fn(void *job);
/* Remove kvmcd's unit and its link; a unit that is not kvmcd's is left alone (not an error:
 * kvmcd never wrote it). Succeeds when there is nothing. */
int mount_unit_remove_fn(void *job);
