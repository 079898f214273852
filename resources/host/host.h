/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a node does to its own host for a datastore, as ops tables: one per protocol (attach),
 * one per cluster file system, one for NAS mounts and one for libvirt pools. Each table has a
 * real implementation (the default) and a simulated one (host_backend_sim) that only tests and
 * the demo select, by configuration ([host] backend = sim). Never let the simulation be the
 * only implementation: the real one runs for real in the full-stack tier.
 *
 * Every hook is asynchronous and never blocks the event loop: slow steps run as children
 * through common/runner.h (iscsiadm, multipath, mkfs, mount) or on common/worker.h (libvirt,
 * libnvme calls), each with a deadline. A hook returns < 0 when nothing was started (no callback
 * follows), or 0 and then calls `done` exactly once, from the loop, never from inside the hook.
 *
 * Every mutating hook PROBES FIRST and is idempotent: attaching what is attached, detaching
 * what is gone, mounting what is mounted, defining a pool that exists with the same XML all
 * succeed without doing anything; what exists but differs fails with -EEXIST and says what
 * differs. mkfs refuses (-EEXIST) a device that holds any file system or data signature other
 * than an empty one: kvmcd never formats a device that holds data.
 *
 * Devices are found by identity, never by name or order: a LUN by its serial (VPD page 0x80,
 * /sys/block/sdX/device/vpd_pg80, then its dm-multipath holder) or the WWID derived from it,
 * an NVMe namespace by its UUID (/sys/block/nvmeXnY/uuid). The sysfs / dev / etc roots are
 * taken from host_ctx so unit tests can point them at a fake tree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "datastore.h"

struct runner;
struct worker_pool;

/* What every hook may use. Borrowed; outlives every operation. */
struct host_ctx {
	sd_event *event;
	struct runner *runner;        /* children with deadlines (real or argv-capture in tests) */
	struct worker_pool *workers;  /* blocking library calls */
	struct worker_pool *sim_workers; /* the simulated backend's own jobs (device and file-system
					    I/O, access asks), NULL = workers: what the real backend
					    runs as children must not queue behind libvirt calls */
	const char *sys_root;         /* "/sys" (tests: a fake tree) */
	const char *dev_root;         /* "/dev" */
	const char *etc_root;         /* "/etc" (mount units go to <etc_root>/systemd/system) */
	const char *proc_root;        /* "/proc" (<proc_root>/self/mountinfo); NULL = "/proc" */
	const char *libvirt_uri;      /* pool ops' connection; NULL = "qemu:///system" */
	const char *run_dir;          /* kvmcd's run dir: mount units, sim state */
	const char *node_name;
	uint64_t step_timeout_usec;   /* deadline of one tool run */
	void (*log)(void *userdata, int level, const char *text);
	void *log_userdata;
	void *sim;                    /* the simulated backend's state (NULL for the real one) */
	struct hop *live_ops;         /* private to fs-common.c: the operations in flight, for
					 host_ctx_cancel(); NULL in a fresh ctx */
	void *sim_live_ops;           /* private to sim.c: its operations in flight, for
					 host_sim_cancel(); NULL in a fresh ctx */
	void *sim_asks;               /* private to sim.c: its shared /sim/access asks, likewise */
};

/*
 * Teardown: frees every operation still in flight on ctx without calling its `done`. Only after
 * the worker pool and the runner those operations used are freed (then no callback can come:
 * worker_pool_free / runner_free drop what has not reported); until then an operation in flight
 * owns itself and frees itself when it reports.
 */
void host_ctx_cancel(struct host_ctx *ctx);

/* Everything a node needs to attach one datastore: from the spec and the leader's records. */
struct host_target {
	const char *datastore;
	enum ds_protocol protocol;
	/* iscsi / fc */
	const char *lun_serial;       /* ONTAP serial_number (12 characters) */
	const char *target_iqn;       /* iscsi */
	const char *const *portals;   /* iscsi "ip:3260", nvme-tcp "ip:4420": every data LIF */
	size_t n_portals;
	const char *chap_user;        /* iscsi CHAP; NULL = none */
	const char *chap_secret_file; /* root-only file holding the secret */
	/* nvme-tcp */
	const char *subsystem_nqn;
	const char *ns_uuid;          /* the namespace's UUID as ONTAP reports it */
	/* nfs / smb */
	const char *const *nas_servers; /* NAS data LIF addresses; the first is mounted */
	size_t n_nas_servers;
	const char *export_path;      /* nfs: the junction path; smb: the share name */
	const struct ds_spec *spec;   /* options: nfs version/nconnect/trunkdiscovery, smb ... */
	const char *mount_point;
};

/* done(userdata, r, detail): r 0 or a negative errno; detail (borrowed during the call) is the
 * result on success (the device path, "ocfs2 label=… uuid=…", the pool XML's sha256) and on
 * failure the step and the tool's own message ("iscsiadm -m discovery ...: iscsiadm: cannot
 * make connection to 10.0.0.5: Connection refused"). */
typedef void (*host_done_fn)(void *userdata, int r, const char *detail);

/* Attaching a datastore's storage to this host (block: the device appears; NAS: mounted). */
struct host_attach_ops {
	const char *name;
	/* Is it attached? done: 0 + the device (block) / mount point (NAS), -ENOENT when not. */
	int (*probe)(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata);
	/* iscsi: sendtargets discovery on every portal, login to all, node.startup = automatic,
	 * CHAP when configured, dm-multipath; fc: rescan the SCSI hosts, multipath; nvme-tcp:
	 * discover + connect to every portal (native multipath); nfs/smb: mount with the spec's
	 * options. done: 0 + the device / mount point. */
	int (*attach)(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata);
	/* Flush the multipath map, log out / disconnect (block), unmount (NAS); each step verified.
	 * Succeeds when already detached. The file system must be unmounted first. */
	int (*detach)(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata);
};

struct host_fs_params {
	const char *cluster_name;     /* corosync cluster_name: OCFS2 --cluster-name, GFS2 lock table */
	const char *label;            /* file system label: the datastore name */
	unsigned slots;               /* node slots (OCFS2) / journals (GFS2): nodes + headroom */
};

/* A cluster file system on a block device (OCFS2 on the corosync stack, GFS2 with lock_dlm). */
struct host_fs_ops {
	const char *name;
	/* What the device holds: done 0 + "empty" | "<fstype> label=<l> uuid=<u> slots=<n>" (blkid
	 * and the fs tools); any other signature is reported as "<type>" too. */
	int (*probe)(struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata);
	/* Only on a device that probes "empty" (-EEXIST otherwise); done 0 + the new uuid. */
	int (*mkfs)(struct host_ctx *ctx, const char *device, const struct host_fs_params *p, host_done_fn done,
		    void *userdata);
	/* Mount (idempotent; -EEXIST when something else is mounted there) / unmount. */
	int (*mount)(struct host_ctx *ctx, const char *device, const char *mount_point, host_done_fn done,
		     void *userdata);
	int (*umount)(struct host_ctx *ctx, const char *mount_point, host_done_fn done, void *userdata);
	/* Add slots / journals when nodes are added (mounted or not, as the fs allows). */
	int (*grow)(struct host_ctx *ctx, const char *device, const char *mount_point, unsigned slots,
		    host_done_fn done, void *userdata);
	/* A clone (a copy of another file system of this type, e.g. an ONTAP FlexClone): give it a
	 * new UUID and p->label (GFS2: also the lock table p->cluster_name:<fs name>), so it mounts
	 * beside the file system it was copied from (OCFS2: tunefs.ocfs2 --cloned-volume=LABEL;
	 * GFS2: tunegfs2 -U NEWUUID -o locktable=CLUSTER:FSNAME). Probe first, idempotent: a file
	 * system of this type that already carries p->label is success without a change (the
	 * label and the UUID change in one tool run). Another type, or nothing, is -EEXIST with
	 * what it holds. The device must not be mounted anywhere meanwhile (the caller's rule: no
	 * node mounts a clone before it is made distinct). done 0 + the (new) uuid. */
	int (*make_distinct)(struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
			     host_done_fn done, void *userdata);
};

struct host_pool_spec {
	const char *name;             /* = the datastore name */
	const char *uuid;             /* the same on every node (derived from cluster id + name) */
	const char *target_path;      /* the mount point */
};

/* A libvirt `dir` pool, identical on every node, autostarted and started. */
struct host_pool_ops {
	const char *name;
	/* done 0 + "active <sha256 of the pool XML>" / "inactive <sha256>", -ENOENT when undefined. */
	int (*probe)(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata);
	/* Define (or check the definition is this one), autostart, start. done 0 + sha256. */
	int (*ensure)(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata);
	/* Stop and undefine; succeeds when undefined. */
	int (*remove)(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata);
};

/* This host's facts, published as the node's section (resources/host/inventory.h). */
struct host_inventory_ops {
	const char *name;
	/* done 0 + the inventory as compact JSON text. */
	int (*collect)(struct host_ctx *ctx, host_done_fn done, void *userdata);
};

struct host_backend {
	const char *name;                                   /* "real" | "sim" */
	const struct host_attach_ops *attach[_DS_PROTO_MAX]; /* NULL = protocol unsupported here */
	const struct host_fs_ops *fs[_DS_FS_MAX];            /* [DS_FS_NONE] is NULL */
	const struct host_pool_ops *pool;
	const struct host_inventory_ops *inventory;
};

extern const struct host_backend host_backend_real;
extern const struct host_backend host_backend_sim;
