/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A VM's libvirt domain on this node, through libvirt's C API on the worker pool (every libvirt
 * call blocks), one connection per job (host_ctx.libvirt_uri), like the pool ops (pool.h).
 *
 * Every node defines every VM of the spec PERSISTENTLY and NEVER autostarts it: whether a domain
 * runs here is kvmcd's decision (the replicated owner), not libvirt's at boot. The XML kvmcd
 * defines is the user's `domain_xml` plus kvmcd's metadata element (host_domain_xml): the user's
 * devices are never changed. The element carries the sha256 of the user's XML, so a definition
 * is compared with the spec without comparing libvirt's reformatted XML:
 *
 *   <metadata>
 *     <kvmcd:vm xmlns:kvmcd="https://kvmcd.org/xmlns/vm/1" spec_sha256="…"/>
 *   </metadata>
 *
 * A domain of that name WITHOUT kvmcd's element is someone else's: define refuses it (-EEXIST)
 * rather than overwrite it.
 *
 * Hooks follow host.h's contract: < 0 when nothing was started (no callback), else 0 and `done`
 * exactly once from the loop; every mutating hook probes first and is idempotent (start of a
 * running domain, stop of a stopped one, undefine of an absent one succeed doing nothing).
 */
#pragma once

#include "host.h"

#define HOST_DOMAIN_XMLNS "https://kvmcd.org/xmlns/vm/1"

struct host_migration;

struct host_domain_ops {
	const char *name;
	/* Every domain of this node: done 0 + a JSON object as text,
	 *   {"<name>": {"state": "running"|"paused"|"shutoff"|"crashed"|"other", "persistent": bool,
	 *               "autostart": bool, "spec_sha256": "<hex>"|null (null: not kvmcd's),
	 *               "reason": why a "paused" domain is paused (virDomainGetState's reason):
	 *                 "ioerror" (QEMU's error_policy: its storage failed), "user", "migration",
	 *                 "save", "dump", "watchdog", "snapshot", "shutting-down", "starting-up",
	 *                 "crashed", "postcopy", "postcopy-failed", "from-snapshot", "unknown";
	 *                 absent when it is not paused}}. */
	int (*list)(struct host_ctx *ctx, host_done_fn done, void *userdata);
	/* Define (or redefine, when its spec_sha256 differs) persistently, autostart off.
	 * xml: host_domain_xml's result. done 0 + "defined" | "unchanged". */
	int (*define)(struct host_ctx *ctx, const char *name, const char *xml, host_done_fn done, void *userdata);
	/* Start the defined domain (running: nothing). done 0 + "started" | "running". */
	int (*start)(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata);
	/* ACPI shutdown, then destroy when it is still running after grace_sec (0: destroy at once).
	 * Absent or shut off: nothing. done 0 + "stopped" | "destroyed" | "not running". */
	int (*stop)(struct host_ctx *ctx, const char *name, unsigned grace_sec, host_done_fn done, void *userdata);
	/* Undefine a domain that does not run (-EBUSY when it runs). Absent: nothing. */
	int (*undefine)(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata);
	/*
	 * Live-migrate the running domain to another node's libvirtd (struct host_migration):
	 * virDomainMigrateToURI3 with VIR_MIGRATE_LIVE | PEER2PEER | PERSIST_DEST -- this node's
	 * libvirtd drives the whole migration and connects to dest_uri itself, so dest_uri is the
	 * target as THIS node reaches it. Never UNDEFINE_SOURCE: every node keeps every VM of the spec
	 * defined, so after a success the domain is shut off here and still defined. Probes first:
	 * a migration job already running on the domain (an earlier kvmcd's, still driven by
	 * libvirtd) is waited for, within the deadline; a domain that does not run here is -ESRCH
	 * ("does not run here (shut off: migrated)"), nothing attempted. While the migration runs, a
	 * helper thread sets the maximum downtime (virDomainMigrateSetMaxDowntime, once the job is
	 * there) and, when deadline_usec has passed, aborts the job (virDomainAbortJob) and the hook
	 * ends with -ETIMEDOUT. On any failure libvirt resumes the guest here: it keeps running on
	 * this node. done 0 + {"ms":N,"downtime_ms":N|null} (JSON text: the call's time, libvirt's
	 * downtime); < 0 + libvirt's message. The worker job's own deadline is deadline_usec plus a
	 * margin for the abort, so the hook always reports after libvirt has let go of the domain.
	 */
	int (*migrate)(struct host_ctx *ctx, const struct host_migration *m, host_done_fn done, void *userdata);
	/* Abort the domain's running job (a migration), virDomainAbortJob, and wait until no job
	 * runs on it any more (at most 30 s: else -ETIMEDOUT, the job still runs): a migration's
	 * job ends after the abort, and may still switch the guest over meanwhile. done 0 +
	 * "migrated" (the domain left this node: shut off, reason migrated -- the job, or an earlier
	 * one, completed) | "aborted" | "no job" (none ran, or the domain is not here). */
	int (*abort_job)(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata);
	/* Resume the paused domain (virDomainResume; after an I/O-error pause QEMU retries the
	 * failed requests, and pauses it again if they fail again). done 0 + "resumed" | "running"
	 * (it runs already: nothing); -ESRCH when it does not run here, -ENOENT when not defined. */
	int (*resume)(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata);
	/*
	 * Freeze / thaw every mounted file system of the guest through its qemu-guest-agent
	 * (virDomainFSFreeze / virDomainFSThaw, no mount point list: the agent's
	 * guest-fsfreeze-freeze / -thaw). For a VM-consistent snapshot (coord/decide/freeze.h says
	 * who calls them when). Probes first, so that the cases where nothing was sent to the guest
	 * have results of their own:
	 *   -ENOENT      not defined here;
	 *   -ESRCH       "not-running": shut off (a thaw: nothing frozen survives it);
	 *   -EAGAIN      "paused": libvirt refuses agent commands to a paused domain (the caller
	 *                takes it crash-consistent, or retries a thaw once it runs again);
	 *   -EOPNOTSUPP  "no-agent": the domain has no org.qemu.guest_agent.0 channel;
	 *   -ENOTCONN    "agent-not-connected": the channel is there but nothing in the guest has
	 *                opened it (no agent installed, or it is not running);
	 * and the call itself:
	 *   -ETIMEDOUT   "agent-timeout": libvirt's guest-sync or the command got no answer within
	 *                the agent timeout. A FREEZE THAT TIMED OUT MAY HAVE FROZEN THE GUEST (the
	 *                agent may still be freezing): the caller thaws it;
	 *   -EIO         "agent-error": the agent answered with an error (a freeze hook failed, it
	 *                is frozen already), or libvirt's other failures.
	 * deadline_usec (> 0, relative) bounds the call: libvirt's agent response timeout for the
	 * domain is set to max(1, deadline/2) whole seconds first (virDomainAgentSetResponseTimeout:
	 * libvirt may need a guest-sync and then the command, each within it), so a hung agent
	 * holds the worker at most max(2 s, deadline). That timeout STAYS set on the domain for
	 * every later agent call (libvirt has no getter to restore it): kvmcd owns it. The worker
	 * job's own deadline is deadline + a margin for libvirtd itself; past it the hook reports
	 * -ETIMEDOUT "libvirt did not answer". done 0 + "frozen N" / "thawed N" (N: the agent's
	 * count of file systems); < 0 + "<result name>: <libvirt's message>". Not idempotent on the
	 * guest's side for a freeze (a frozen agent refuses a second freeze: -EIO); a thaw of a
	 * thawed guest succeeds ("thawed 0").
	 */
	int (*fs_freeze)(struct host_ctx *ctx, const char *name, uint64_t deadline_usec, host_done_fn done,
			 void *userdata);
	int (*fs_thaw)(struct host_ctx *ctx, const char *name, uint64_t deadline_usec, host_done_fn done,
		       void *userdata);
};

/* The result names of fs_freeze / fs_thaw above, from their r: "ok", "not-defined", "not-running",
 * "paused", "no-agent", "agent-not-connected", "agent-timeout", "agent-error", or "error" for any
 * other. Static. */
const char *host_domain_agent_result(int r);

/* One live migration (migrate hook). Borrowed during the call. */
struct host_migration {
	const char *name;              /* the domain */
	const char *dest_uri;          /* the target's libvirtd, e.g. qemu+tcp://kvm2/system */
	unsigned max_downtime_ms;      /* the guest's pause at the switch-over; 0 = QEMU's (300 ms) */
	uint64_t deadline_usec;        /* > 0, relative: not converged by then -> aborted */
};

extern const struct host_domain_ops host_domain_libvirt_ops;

/*
 * The XML kvmcd defines for a VM: user_xml with kvmcd's metadata element added inside
 * <metadata> (created when absent), carrying sha256(user_xml), and, when user_xml has no <uuid>,
 * `uuid`: the same on every node (the caller derives it from the cluster identity and the name),
 * which a live migration needs and without which libvirt refuses a redefinition. Returns 0 and
 * *out (owned), -EINVAL when user_xml is not one <domain> element this can read, -ENOMEM. Pure.
 */
int host_domain_xml(const char *user_xml, const char *uuid, char **out);

/* sha256 of s as 64 lower-case hex digits + NUL. */
void host_domain_sha256(const char *s, char out[65]);
