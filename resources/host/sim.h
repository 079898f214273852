/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated host backend (host_backend_sim, host.h): what the multi-node tier and the demo
 * run on a machine whose kernel has no iSCSI, FC, NVMe/TCP, NFS, OCFS2, GFS2 or DLM. Chosen
 * only by explicit configuration ([host] backend = sim); never a fallback.
 *
 * Block storage. A LUN or namespace is the ONTAP simulator's backing file (ontap-sim
 * --backing-dir), usable by a node ONLY while the array grants it: the simulator's
 * GET /sim/access (tests/ontap-sim/README.md) lists what this host's identity (its IQN from
 * <etc>/iscsi/initiatorname.iscsi, its WWPNs from <sys>/class/fc_host, its host NQN from
 * <etc>/nvme/hostnqn: the same files as the real backend and the inventory) reaches right now,
 * from the real records (igroups, LUN maps, subsystems, hosts, subsystem maps). So:
 *   attach  = ask; granted: the symlink <run_dir>/sim/dev/<serial | ns uuid> -> the backing
 *             file, done(0, that path); not granted: -EACCES "access denied by the array: …"
 *             (nothing is created); granted without a backing file: -ENODEV.
 *   probe   = the symlink exists (else -ENOENT, the simulator is not asked) AND the array still
 *             grants it (else -EACCES: a storage fence shows at once) AND it still points at the
 *             backing file the array names (else -ESTALE).
 *   detach  = remove the symlink (succeeds when there is none).
 * The simulator is asked over its access socket when access_socket is set (a worker job: one
 * connection, the query line out, "<status>\n<JSON>" back; the NAS client address is the one
 * this host reaches url's host from; tests/ontap-sim/fabric.c), else by running `curl` against
 * url through the runner (kvmcd itself stays free of libcurl, which only the leader's ONTAP
 * module loads; the TLS certificate is verified against ca_file when one is configured). The
 * step deadline applies either way.
 *
 * Cluster file system. A simulated OCFS2 / GFS2 is a directory every node sees: shared_dir,
 * which the harness provides (a bindfs FUSE mount with subtype glusterfs, so libvirt takes it for
 * shared storage and allows live migration; see /work/shared/notes/multinode-on-one-machine.md).
 * The device still carries the file system's identity, so it behaves like a real one (a new LUN
 * is empty, a clone carries its parent's file system):
 *   mkfs    = only on an "empty" device (its first MiB all zero; -EEXIST otherwise, with what it
 *             holds, as the real mkfs): creates shared_dir/simfs/<uuid>/ (the data) and
 *             shared_dir/simfs/<uuid>.info, then writes a 4 KiB superblock at offset 0:
 *             "KVMCD-SIMFS 1\nfstype=ocfs2\nlabel=…\nuuid=…\ncluster=…\nstack=pcmk\nslots=N\n".
 *             done(0, uuid).
 *   probe   = the superblock, in the real probe's words: "ocfs2 label=ds1 uuid=… slots=4
 *             cluster=c stack=pcmk", "gfs2 label=<fs name> uuid=… slots=3 cluster=c
 *             stack=lock_dlm" (GFS2 label: the lock table's fs name, host_gfs2_fsname's rule),
 *             "empty", or "data" (anything else: never formatted).
 *   mount   = the data directory shared_dir/simfs/<uuid> made visible at the mount point:
 *             HOST_SIM_MOUNT_BIND (default) runs `mount --bind DIR MOUNT_POINT` through the
 *             runner, in kvmcd's own mount namespace (the harness runs kvmcd as root inside the
 *             node's namespace, so this works there and libvirt in the same namespace sees a
 *             fuse.glusterfs mount); HOST_SIM_MOUNT_SYMLINK makes MOUNT_POINT a symlink to DIR
 *             (for unprivileged runs; libvirt then needs --unsafe to migrate, so the harness
 *             uses bind). Idempotent; something else at the mount point is -EEXIST. A device
 *             of the other fs type is -EINVAL (as `mount -t` would refuse it).
 *   umount  = `umount MOUNT_POINT` / remove the symlink, when what is there is ours (a mount of
 *             shared_dir's file system, or a symlink into shared_dir); else -EEXIST.
 *   grow    = the superblock's slot count raised (never lowered).
 *   make_distinct (a clone: the array copied the device, superblock included) = a new uuid and
 *             the clone's label (GFS2: the lock table's fs name) in the superblock, and the data
 *             copied to shared_dir/simfs/<new uuid>/ from the directory the superblock's "data="
 *             names (the ONTAP simulator writes it when it clones at a snapshot: that snapshot's
 *             copy, tests/ontap-sim/hostdata.c) or else from the old uuid's. Probe first: a
 *             superblock with the clone's label is done.
 *
 * NAS. attach nfs / smb = ask GET /sim/access?client=ADDR (client_address, or the address the
 * simulator sees the call come from: in the harness, the node's); nfs needs the volume whose
 * junction path is export_path to be exported "rw" to this host, smb a CIFS share named like
 * export_path without its "/" (kvmcd names the share after the volume) while the SVM's CIFS
 * server is enabled (share ACLs are not evaluated: the simulated host has no SMB user). Then the same
 * mount of shared_dir/nas/<junction without "/", "/" as "_"> at the mount point. probe = mounted
 * and still granted (-EACCES otherwise); detach = the umount above.
 *
 * Inventory: the real one (inventory.c), reading ctx's etc, sys and proc roots, with
 * "backend":"sim" (the harness gives every node its own /etc/iscsi and /etc/nvme), except that
 * tools and kernel modules are those of the simulated host, which has what its simulated
 * storage needs: every tool present and every module "loaded", but the names in `missing`
 * ([host] sim_missing: how a test makes a host lack a package for `kvmcctl preflight`).
 * Pools: the real libvirt pool ops, host_pool_libvirt_ops (a real libvirtd runs on every node).
 *
 * host_ctx.sim points at a struct host_sim (borrowed, outlives every operation); run_dir is
 * required. Every hook probes first and is idempotent, as host.h says.
 */
#pragma once

#include "host.h"

enum host_sim_mount {
	HOST_SIM_MOUNT_BIND,      /* mount --bind (root, own mount namespace) */
	HOST_SIM_MOUNT_SYMLINK,   /* the mount point becomes a symlink */
	_HOST_SIM_MOUNT_MAX,
};

/* The [host] section's sim_* keys (agent config). Strings borrowed. */
/* Teardown, like host_ctx_cancel() (host.h): frees the simulated backend's operations still in
 * flight on ctx without calling their `done`; only after the runner and the worker pool they used
 * are freed. */
struct host_ctx;
void host_sim_cancel(struct host_ctx *ctx);

struct host_sim {
	const char *url;             /* the ONTAP simulator, "https://10.213.0.254:8443" */
	const char *ca_file;         /* PEM verifying its certificate; NULL: not verified (curl -k) */
	const char *access_socket;   /* its access endpoint's unix socket (ontap-sim --access-socket);
				      * NULL: ask GET url/sim/access with curl */
	const char *shared_dir;      /* absolute: the directory every node sees */
	enum host_sim_mount mount;
	const char *client_address;  /* NFS client address to ask about; NULL: the caller's */
	const char *curl;            /* the curl program; NULL: "curl" from PATH */
	const char *missing;         /* tools / modules the simulated host lacks, comma-separated
				      * names of INVENTORY_TOOLS / INVENTORY_MODULES; NULL: none */
};

/* Checks a configuration: url "http(s)://host[:port]" without a path, shared_dir and ca_file
 * absolute, every name in missing a tool or module the inventory knows. Returns 0, or -EINVAL with *why (owned) naming the key: "sim_url: …". */
int host_sim_check(const struct host_sim *s, char **why);

/* "bind" | "symlink" <-> enum. Returns 0 or -EINVAL. */
int host_sim_mount_from_string(const char *s, enum host_sim_mount *out);
const char *host_sim_mount_to_string(enum host_sim_mount m);

/* The device path attach gives for a LUN serial / namespace uuid: <run_dir>/sim/dev/<id>.
 * Owned; NULL on ENOMEM or an id that is not a plain file name. */
char *host_sim_device_path(const char *run_dir, const char *id);

/*
 * A mount point whose FUSE server is gone answers ENOTCONN: in the multi-node tier that is what a
 * node's power cut (`cluster kill I node`) leaves of its bind mounts of the shared directory (the
 * bindfs serving it died with the node). Nothing is mounted there any more, so the stale entry is
 * detached (umount2 MNT_DETACH) and the walk mounts afresh. The simulated backend only, before
 * it inspects a mount point: the real one never mounts through FUSE, and a real mount that
 * answers ENOTCONN is reported, not touched.
 */
void sim_dead_fuse_mount_clear(const char *mp);
