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

struct host_domain_ops {
	const char *name;
	/* Every domain of this node: done 0 + a JSON object as text,
	 *   {"<name>": {"state": "running"|"paused"|"shutoff"|"crashed"|"other", "persistent": bool,
	 *               "autostart": bool, "spec_sha256": "<hex>"|null}} (null: not kvmcd's). */
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
