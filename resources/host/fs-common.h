/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the cluster file systems (fs-ocfs2.c, fs-gfs2.c) and the NAS mounts (nas.c) share:
 *
 *  1. Parsers of tool output, pure and fuzzed (tests/fuzz/fuzz-host-fs.c): `blkid -p -o export`,
 *     /proc/self/mountinfo, `debugfs.ocfs2 -R stats`, `gfs2_edit -p sb journals`.
 *  2. The verdict a caller draws from an fs probe: format it, adopt it, or leave it alone.
 *  3. The asynchronous machinery every hook runs on (`struct hop`): a chain of steps, each a
 *     child through common/runner.h or a call on common/worker.h, ending in exactly one
 *     host_done_fn call from the loop (never from inside the hook).
 *  4. The flows shared by OCFS2 and GFS2 (probe, mkfs, mount, umount, grow), parameterised by a
 *     small `struct fs_type`, and the mount / umount flow NAS mounts use too.
 *
 * How a mount survives a reboot is mount-unit.h's business (a systemd mount unit kvmcd owns).
 *
 * Probing a device is `blkid -p -o export DEV` (low-level probing: superblocks AND partition
 * tables, the cache is never used). A device is "empty" only when blkid exits 2 with nothing on
 * stdout or stderr, after the device was seen to exist (blkid also exits 2, silently, for a
 * path that does not exist). Anything blkid finds (a file system, a partition table, an LVM or
 * RAID member, swap, an "ambivalent" result of several signatures: exit 8) makes the device not
 * empty, and kvmcd never formats it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host.h"
#include "macros.h"
#include "runner.h"
#include "worker.h"

/* ---- the ops tables (host_backend_real points at these) --------------------------------------- */

extern const struct host_fs_ops host_fs_ocfs2_ops;
extern const struct host_fs_ops host_fs_gfs2_ops;
extern const struct host_attach_ops host_attach_nfs_ops;
extern const struct host_attach_ops host_attach_smb_ops;

/* ---- parsers (pure; no I/O) ------------------------------------------------------------------- */

/* `blkid -p -o export DEV` output (KEY=value lines, values backslash-escaped). Owned strings, NULL
 * when absent. */
struct fs_blkid {
	char *type;      /* TYPE: ocfs2, gfs2, xfs, LVM2_member, linux_raid_member, swap, ... */
	char *label;     /* LABEL (GFS2: the lock table "cluster:fsname") */
	char *uuid;      /* UUID */
	char *usage;     /* USAGE: filesystem, raid, crypto, other */
	char *pttype;    /* PTTYPE: a partition table (gpt, dos, ...) */
	char *ptuuid;
	unsigned n_props; /* properties other than DEVNAME: 0 means blkid found nothing */
};

/* Returns 0 (*out filled, fs_blkid_done it), -EINVAL on a line that is not KEY=value, -ENOMEM. */
int fs_blkid_parse(const char *text, size_t len, struct fs_blkid *out);
void fs_blkid_done(struct fs_blkid *b);

/* What a cluster file system's superblock says (its own tool: debugfs.ocfs2 / gfs2_edit). */
struct fs_super {
	char *label;     /* OCFS2: the label; GFS2: the fs name (after ':' in the lock table) */
	char *uuid;
	char *cluster;   /* OCFS2: the cluster name; GFS2: before ':' in the lock table */
	char *stack;     /* OCFS2: cluster stack ("pcmk", "o2cb"; NULL = local); GFS2: lock protocol */
	unsigned slots;  /* OCFS2 node slots / GFS2 journals */
};

/* `debugfs.ocfs2 -R stats DEV` (it exits 0 even when it cannot open the device: then the keys
 * are missing and this returns -EINVAL). "Max Node Slots", "Label", "UUID", "Cluster stack",
 * "Cluster name". */
int fs_ocfs2_stats_parse(const char *text, size_t len, struct fs_super *out);
/* `gfs2_edit -p sb journals DEV`: sb_lockproto, sb_locktable, uuid, one "journalN:" line per
 * journal. -EINVAL without a lock table. */
int fs_gfs2_edit_parse(const char *text, size_t len, struct fs_super *out);
void fs_super_done(struct fs_super *s);

/* One /proc/self/mountinfo entry (strings unescaped, owned). */
struct fs_mount {
	unsigned major, minor;   /* st_dev of the mounted file system */
	char *mount_point;
	char *fstype;
	char *source;
	char *options;           /* per-mount options (rw,noatime,...) */
};

/* The topmost entry mounted at mount_point (the last one listed: mounts stack). Returns 0 and
 * *out (fs_mount_done it), -ENOENT when nothing is mounted there, -ENOMEM. Lines that do not
 * parse are skipped (the kernel writes none). */
int fs_mountinfo_find(const char *text, size_t len, const char *mount_point, struct fs_mount *out);
void fs_mount_done(struct fs_mount *m);

/* The probe's detail: "empty", "ocfs2 label=ds1 uuid=… slots=4 cluster=c stack=pcmk", "gfs2
 * label=ds1 uuid=… slots=3 cluster=c stack=lock_dlm", "xfs label=data uuid=…", "partition-table
 * pttype=gpt ptuuid=…", "LVM2_member uuid=… usage=raid", "ambivalent". Values never hold blanks
 * (each blank or control byte becomes '?'). super may be NULL. Owned; NULL on ENOMEM. */
char *fs_probe_describe(const struct fs_blkid *b, const struct fs_super *super);

/* ---- what a caller does with a device --------------------------------------------------------- */

enum host_fs_verdict {
	HOST_FS_MKFS,     /* "empty": format it (mkfs re-probes and refuses anything else) */
	HOST_FS_ADOPT,    /* this file system, made for this datastore and cluster: use it as is */
	HOST_FS_FOREIGN,  /* anything else: never touched; *why says what is there */
};

/*
 * From a probe detail (fs_probe_describe's format) and what the datastore wants: adopt when the
 * type matches, the label is the datastore's (GFS2: host_gfs2_fsname of it) and the cluster name
 * (and OCFS2's stack "pcmk", GFS2's "lock_dlm") is this cluster's. why (may be NULL) receives an
 * owned sentence for FOREIGN ("holds xfs label=data uuid=…; kvmcd never formats a device that
 * holds data"), NULL otherwise. Pure.
 */
enum host_fs_verdict host_fs_verdict(enum ds_fs fs, const struct host_fs_params *p, const char *detail, char **why);

/* GFS2's lock table holds at most 30 bytes of fs name: the label as is when it fits, else its
 * first 21 bytes, '_' and 8 hex digits of its FNV-1a hash (deterministic on every node).
 * buf has HOST_GFS2_FSNAME_MAX + 1 bytes. Returns buf. */
#define HOST_GFS2_FSNAME_MAX 30u
const char *host_gfs2_fsname(const char *label, char *buf);

/* ---- asynchronous steps ----------------------------------------------------------------------- */

struct hop;
typedef void (*hop_run_then)(struct hop *op, struct runner_result *res);
typedef void (*hop_work_then)(struct hop *op, int r, void *arg);

/*
 * One running hook. Embedded as the FIRST member of each operation's own struct. Owned by
 * itself: freed (destroy, then free) right after done has returned.
 */
struct hop {
	struct host_ctx *ctx;          /* borrowed */
	host_done_fn done;
	void *userdata;                /* borrowed, handed to done */
	void (*destroy)(struct hop *op); /* frees the embedding struct's fields; NULL: nothing */
	hop_run_then run_then;
	hop_work_then work_then;
	char *cmd;                     /* owned: the running command line, for messages */
	sd_event_source *finish;       /* owned: made at hop_new, so finishing cannot fail */
	int finish_r;
	char *finish_detail;           /* owned */
	bool finished;
	struct hop *live_next, **live_prev; /* in ctx->live_ops while it exists */
};

/* Allocates a zeroed op of `size` bytes (>= sizeof(struct hop)). NULL on ENOMEM (the hook
 * returns -ENOMEM: nothing was started). */
void *hop_new(size_t size, struct host_ctx *ctx, host_done_fn done, void *userdata, void (*destroy)(struct hop *op));
/* Frees an op that was never started (the hook's own early failure). Accepts NULL. */
void hop_free(struct hop *op);
/* Ends the op: done(userdata, r, detail) runs from a deferred event on the loop. Further calls
 * are ignored. */
void hop_finish(struct hop *op, int r, const char *fmt, ...) _printf_(3, 4);
/* A hook's failure found before any step: done(userdata, r, detail) from the loop, later.
 * Returns 0, or -ENOMEM (then nothing follows). */
int hop_fail_later(struct host_ctx *ctx, host_done_fn done, void *userdata, int r, const char *fmt, ...)
	_printf_(5, 6);
/* Runs argv (LC_ALL=C) with the deadline; then(op, res) on the loop. A start failure finishes
 * the op with the error. */
void hop_run(struct hop *op, const char *const *argv, uint64_t timeout_usec, hop_run_then then);
/* Ends the op with a failed tool run: the errno from fs_tool_errno() and "CMD: HOW: MESSAGE". */
void hop_fail_tool(struct hop *op, const struct runner_result *res);
/* Submits fn(arg) to the worker pool with the step deadline; then(op, r, arg) on the loop (arg
 * NULL after a timeout). On a submit failure free_arg(arg) runs and the op finishes. */
void hop_work(struct hop *op, worker_fn fn, void *arg, worker_free_fn free_arg, hop_work_then then);
/* The same with its own deadline (a job whose length the caller bounds itself: a migration). */
void hop_work_timeout(struct hop *op, worker_fn fn, void *arg, worker_free_fn free_arg, hop_work_then then,
		      uint64_t timeout_usec);

/* The one translation of a tool's result into an errno: timed out -ETIMEDOUT, cancelled
 * -ECANCELED, killed or abandoned -EIO; a non-zero exit by its message ("busy" -EBUSY, "No such
 * file or directory" / "does not exist" / "not found" -ENOENT, "Permission denied" -EACCES),
 * else -EIO. 0 for a clean exit 0. */
int fs_tool_errno(const struct runner_result *res);
/* The tool's own words: stderr (stdout when stderr is empty), blanks folded, at most `size`-1
 * bytes. Returns buf. */
const char *fs_tool_message(const struct runner_result *res, char *buf, size_t size);

/* Reads <proc_root>/self/mountinfo and finds mount_point (fs_mountinfo_find's returns; -errno of
 * reading, with *why set). Synchronous: procfs, never blocks on storage. */
int fs_mountinfo_lookup(struct host_ctx *ctx, const char *mount_point, struct fs_mount *out, char **why);

/* ---- cluster file systems: the shared flows --------------------------------------------------- */

/* What differs between OCFS2 and GFS2. */
struct fs_type {
	enum ds_fs fs;
	const char *name;              /* blkid TYPE, mount -t, mountinfo fstype */
	const char *mkfs_tool;         /* for messages: "mkfs.ocfs2" */
	/* -EINVAL with *why (owned) when the parameters cannot make this fs. */
	int (*check_params)(const struct host_fs_params *p, char **why);
	/* The argv of: the superblock query, mkfs, grow (to `want` slots, `have` now). Owned,
	 * NULL-terminated (fs_strv_free); NULL on ENOMEM. */
	char **(*super_argv)(const char *device);
	int (*super_parse)(const char *text, size_t len, struct fs_super *out);
	char **(*mkfs_argv)(const char *device, const struct host_fs_params *p);
	char **(*grow_argv)(const char *device, const char *mount_point, unsigned have, unsigned want);
	/* A clone made distinct: new uuid (GFS2; OCFS2's tool makes its own) and p's label /
	 * lock table. */
	char **(*distinct_argv)(const char *device, const struct host_fs_params *p, const char *uuid);
	/* When the clone still lacks p's label after distinct_argv: the label alone (OCFS2:
	 * tunefs.ocfs2 1.8.7 ignores --cloned-volume's "=label" and writes "<old>-cloned"); NULL:
	 * none (GFS2's lock table is set by distinct_argv). */
	char **(*relabel_argv)(const char *device, const struct host_fs_params *p);
	/* Between the two: what replays the journals the copy carries -- a snapshot of a file system
	 * mounted on every node has dirty ones, and tunefs.ocfs2 -L refuses ("At least one journal has
	 * uncommitted changes"), found on real OCFS2 by fullstack-datastores. Runs only once
	 * distinct_argv gave the copy its own UUID: before, it shares its parent's (the DLM
	 * lockspace's name) while the parent is mounted. Exit statuses 0..replay_ok_max are success
	 * (fsck.ocfs2: 1 = errors fixed). NULL: none (GFS2: the first mount replays them). */
	char **(*replay_argv)(const char *device);
	int replay_ok_max;
	const char *distinct_tool;     /* for messages: "tunefs.ocfs2" */
	bool grow_needs_mount;         /* gfs2_jadd works on the mounted fs */
	unsigned max_slots;
	/* Unit dependencies a reboot needs (mount-unit.h). */
	const char *unit_requires;
	const char *unit_after;
};

/* Defined by fs-ocfs2.c and fs-gfs2.c; the probe asks the one whose type blkid found. */
extern const struct fs_type fs_type_ocfs2;
extern const struct fs_type fs_type_gfs2;

int fs_probe(const struct fs_type *t, struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata);
int fs_mkfs(const struct fs_type *t, struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
	    host_done_fn done, void *userdata);
int fs_mount(const struct fs_type *t, struct host_ctx *ctx, const char *device, const char *mount_point,
	     host_done_fn done, void *userdata);
int fs_umount(const struct fs_type *t, struct host_ctx *ctx, const char *mount_point, host_done_fn done,
	      void *userdata);
int fs_grow(const struct fs_type *t, struct host_ctx *ctx, const char *device, const char *mount_point,
	    unsigned slots, host_done_fn done, void *userdata);
/* host_fs_ops.make_distinct (host.h). uuid: the new UUID to give when the tool takes one (GFS2);
 * NULL = a random one. */
int fs_make_distinct(const struct fs_type *t, struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
		     const char *uuid, host_done_fn done, void *userdata);

/* ---- mounts shared with NAS ------------------------------------------------------------------- */

/* One mount kvmcd owns: what the mount command and the unit get. Strings borrowed for the call
 * (copied). */
struct fs_mount_req {
	const char *source;            /* device, "server:/export", "//server/share" */
	const char *unit_what;         /* What= in the unit (a /dev/disk/by-uuid path for devices) */
	const char *mount_point;
	const char *type;              /* mount -t */
	const char *const *accept_types; /* mountinfo fstypes that are this mount (NULL-terminated) */
	const char *options;           /* mount -o (the unit adds nofail) */
	const char *unit_requires, *unit_after, *unit_wants;
	dev_t device_rdev;             /* a block device's number (0: compare sources only) */
};

/* Mounts req idempotently: something else at the mount point is -EEXIST; the unit is written
 * (or found identical); mount runs only when not mounted; the result is checked in mountinfo.
 * done 0 + the mount point. */
int fs_mount_ensure(struct host_ctx *ctx, const struct fs_mount_req *req, host_done_fn done, void *userdata);
/* Removes kvmcd's unit, then unmounts (when mounted: fstype in accept_types and, when source is
 * not NULL, that source, else -EEXIST) and checks it is gone. done 0 + "unmounted" / "not
 * mounted". */
int fs_mount_remove(struct host_ctx *ctx, const char *mount_point, const char *const *accept_types,
		    const char *source, host_done_fn done, void *userdata);
/* The mountinfo check alone: 0 + mount point, -ENOENT not mounted, -EEXIST something else. */
int fs_mount_probe(struct host_ctx *ctx, const char *mount_point, const char *const *accept_types,
		   const char *source, host_done_fn done, void *userdata);

/* ---- small helpers ---------------------------------------------------------------------------- */

/* NULL-terminated owned string vectors. fs_strv_new copies its arguments up to the NULL. */
char **fs_strv_new(const char *first, ...) __attribute__((sentinel));
void fs_strv_free(char **v);
/* "a b 'c d'": argv for messages. Owned; NULL on ENOMEM. */
char *fs_strv_join(const char *const *argv);

/* The step deadline from ctx (0 there: 60 s) and the longer one for mkfs / grow (4x). */
uint64_t fs_step_timeout(const struct host_ctx *ctx);
uint64_t fs_long_timeout(const struct host_ctx *ctx);
