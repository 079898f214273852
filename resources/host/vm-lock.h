/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM locks: defense in depth BELOW kvmcd. The replicated record `vm/NAME`.owner decides where a
 * VM runs (agent/vms.c); these locks make the host's own lock system refuse a second holder,
 * whatever any kvmcd believes: the owner holds one exclusive lock per running VM, and a node
 * that tries to take it while another holds it is refused by the lock system itself.
 *
 * One ops table, two real implementations (no simulated one: both run for real in the test
 * tiers, see below):
 *
 *   "dlm"   (vm-lock-dlm.c) clusters with a cluster file system, i.e. corosync + dlm_controld:
 *           the DLM lockspace `kvmcd` (host_vm_lock_params.lockspace), one resource per VM,
 *           "vm:NAME" (at most HOST_VM_LOCK_NAME_MAX bytes: VM_NAME_MAX leaves room), taken in
 *           EX mode with LKF_NOQUEUE: a second holder is refused AT ONCE (-EBUSY), never queued.
 *           Locks are LKF_PERSISTENT: when kvmcd exits (or crashes) while its VMs run, the kernel
 *           keeps them as orphans of this node, still held, and the next kvmcd ADOPTS them
 *           (LKF_ORPHAN) on its first acquire or release of that VM. When a holder NODE fails, DLM
 *           recovery (dlm_controld) drops its locks only after that node was fenced, so another
 *           node's acquire succeeds only then (while the lockspace recovers, requests wait:
 *           acquire answers -ETIMEDOUT after params.op_timeout_usec and the request completes
 *           later; the next acquire/release sees its outcome).
 *   "lockd" (vm-lock-lockd.c) clusters without DLM (NFS / SMB datastores only, and the
 *           multi-node tier): libvirt's own lock manager. virtlockd takes a lease per disk
 *           (auto_disk_leases) in a lease directory on shared storage, so a second QEMU of the
 *           same disks on any host is refused by libvirt before it starts. This is libvirt's
 *           configuration, not calls: acquire VERIFIES that configuration (probe) and release
 *           does nothing; the lease is taken and dropped by libvirt with the domain.
 *           What the host needs is in vm-lock-lockd.c's header and resources/host/README.md.
 *
 * How agent/vms.c uses it: acquire BEFORE starting a domain (a refusal means: do not start it,
 * the lock system says it may run elsewhere), release AFTER the domain stopped or migrated
 * away, list to reconcile what this node holds with what runs here. The hooks follow host.h's
 * contract: < 0 when nothing was started (no callback follows), else 0 and `done` exactly once,
 * from the loop, never from inside the hook. Every hook is idempotent: acquiring what this
 * node holds, releasing what it does not hold succeed doing nothing.
 */
#pragma once

#include <stdint.h>

#include "host.h"
#include "macros.h"

#define HOST_VM_LOCK_PREFIX "vm:"          /* the DLM resource of VM NAME is "vm:NAME" */
#define HOST_VM_LOCK_NAME_MAX 64u          /* DLM_RESNAME_MAXLEN (and DLM_LOCKSPACE_LEN) */
#define HOST_VM_LOCK_DEFAULT_LOCKSPACE "kvmcd"
#define HOST_VM_LOCK_DEFAULT_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* What an implementation needs besides host_ctx. Borrowed during open (copied). */
struct host_vm_lock_params {
	const char *lockspace;        /* dlm: the lockspace; NULL = HOST_VM_LOCK_DEFAULT_LOCKSPACE */
	uint64_t op_timeout_usec;     /* every hook answers within this; 0 = the default (30 s) */
	const char *libvirt_conf_dir; /* lockd: libvirt's config; NULL = <ctx->etc_root or /etc>/libvirt */
	const char *virtlockd_socket; /* lockd: NULL = /run/libvirt/virtlockd-sock */
};

/*
 * One per process: the lock system's state (the DLM lockspace handle and the locks this
 * process holds; for lockd, only its parameters). Every implementation embeds this first.
 */
struct host_vm_lock {
	const struct host_vm_lock_ops *ops;
	struct host_ctx *ctx;         /* borrowed: outlives the lock (event, etc_root, proc_root, log) */
};

struct host_vm_lock_ops {
	const char *name;             /* "dlm" | "lockd" */
	/* Makes the state; never blocks (the DLM lockspace is joined by the first hook that needs
	 * it, on this lock's own worker thread). *out owned by the caller: close it.
	 * -EINVAL (bad params), -ENOMEM, -EOPNOTSUPP (built without what it needs). */
	int (*open)(struct host_ctx *ctx, const struct host_vm_lock_params *p, struct host_vm_lock **out);
	/* Frees the state. Hooks in flight are dropped: their done is never called. Locks this
	 * process holds are NOT released (dlm: they become this node's orphans, still held, and the
	 * next open + acquire adopts them). May block up to 1 s (a DLM call stuck in the kernel).
	 * Not from inside a done callback. Accepts NULL. */
	void (*close)(struct host_vm_lock *l);
	/* Before starting VM `vm`'s domain: take its lock, exclusive, never waiting for a holder.
	 * done: 0 + "acquired" | "held" (already) | "adopted" (an earlier kvmcd's on this node) |
	 * lockd: "lockd: leases in DIR"; -EBUSY + who holds it when known ("held elsewhere" when
	 * not); -ETIMEDOUT (the lock system did not answer: DLM recovery, a node being fenced);
	 * -ENOLCK (the lock system is not set up here: what is missing); -ENAMETOOLONG. */
	int (*acquire)(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata);
	/* After VM `vm`'s domain stopped here or migrated away: drop its lock.
	 * done: 0 + "released" | "not held"; -ETIMEDOUT; other errors keep the lock held. */
	int (*release)(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata);
	/* What this process holds: done 0 + a JSON object as text, {"NAME": "held" | "acquiring" |
	 * "releasing"} (dlm: orphans of an earlier kvmcd are not listed until adopted). NULL when
	 * the lock system cannot say (lockd: virtlockd has no such query). */
	int (*list)(struct host_vm_lock *l, host_done_fn done, void *userdata);
	/* Is the lock system usable here? dlm: joins the lockspace; lockd: verifies libvirt's
	 * configuration and virtlockd. done 0 + what was found, -ENOLCK + what is missing. */
	int (*probe)(struct host_vm_lock *l, host_done_fn done, void *userdata);
};

/* NULL when built without libdlm. */
extern const struct host_vm_lock_ops *const host_vm_lock_dlm;
extern const struct host_vm_lock_ops host_vm_lock_lockd_ops;

/* The table named `name` ("dlm", "lockd"), or NULL (unknown, or not built in). */
const struct host_vm_lock_ops *host_vm_lock_find(const char *name);

/* "vm:NAME" into buf (HOST_VM_LOCK_NAME_MAX + 1 bytes). 0, -EINVAL (empty), -ENAMETOOLONG. */
int host_vm_lock_resource(const char *vm, char buf[HOST_VM_LOCK_NAME_MAX + 1]);
