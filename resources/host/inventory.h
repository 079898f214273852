/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * This host's facts, published by every node in its soft section (under INVENTORY_SECTION_KEY)
 * so the leader's datastore plan knows the initiator names and addresses, and status can show
 * what each host can do. The JSON is an interface: status, kvmcctl, the datastore plan and other
 * tools read these names; add fields, never rename or retype one (and bump "schema" if a
 * meaning changes).
 *
 *   {
 *     "schema": 1,
 *     "backend": "real" | "sim",                    which host backend collected it
 *     "hostname": "kvm01",                          gethostname()
 *     "kernel": "6.1.0-13-amd64",                   uname -r
 *     "addresses": ["10.0.0.11", "fd00::11"],       IPv4 and IPv6 addresses of the interfaces that
 *                                                   are up, without loopback (127/8, ::1) and
 *                                                   link-local (169.254/16, fe80::/10: useless in
 *                                                   an export rule); unique, sorted as text
 *     "iscsi_iqn": "iqn.1993-08.org.debian:01:ab" | null,
 *                                                   <etc>/iscsi/initiatorname.iscsi, the
 *                                                   "InitiatorName=" line (lower-cased, as ONTAP
 *                                                   stores it); null when absent or invalid
 *     "fc_wwpns": ["0x21000024ff5a1b2c"],           <sys>/class/fc_host/<host>/port_name, lower
 *                                                   case "0x" + 16 hex digits, unique, sorted
 *     "nvme_nqn": "nqn.2014-08.org.nvmexpress:uuid:…" | null,
 *                                                   <etc>/nvme/hostnqn, first line (read here,
 *                                                   not through libnvme, so the root is
 *                                                   overridable and nothing is generated: a
 *                                                   host without the file has no NQN)
 *     "nvme_hostid": "a2c1…" | null,                <etc>/nvme/hostid, first line
 *     "tools": {"iscsiadm": true, …},               every name of INVENTORY_TOOLS: an executable
 *                                                   file of that name in a standard bin/sbin dir
 *                                                   under the tools root (or in $PATH)
 *     "modules": {"iscsi_tcp": "loaded", …},        every name of INVENTORY_MODULES: "loaded"
 *                                                   (<proc>/modules), "builtin" (modules.builtin,
 *                                                   or <sys>/module/<m> without being loaded),
 *                                                   "available" (modules.dep of this kernel) or
 *                                                   "missing". The simulated backend (sim.h)
 *                                                   reports its simulated host instead: every
 *                                                   tool true, every module "loaded", except the
 *                                                   names in [host] sim_missing
 *     "os": {"id": "debian", "id_like": null, "version_id": "12",
 *            "pretty_name": "Debian GNU/Linux 12 (bookworm)"} | null,
 *                                                   <etc>/os-release (or /usr/lib/os-release when
 *                                                   the etc root is /etc): ID, ID_LIKE,
 *                                                   VERSION_ID, PRETTY_NAME (null when absent);
 *                                                   null when there is no os-release. preflight
 *                                                   names the package of the host's distribution
 *                                                   family from it
 *     "libvirtd": {"uri": "qemu:///system", "answers": true, "version": "9.0.0"}
 *               | {"uri": …, "answers": false, "error": "Failed to connect socket to …"}
 *               | null                            (not probed: no URI, or built without libvirt)
 *     "problems": ["<etc>/nvme/hostnqn: \"foo\" is not an NVMe qualified name", …]
 *                                                   what made a field null although its source
 *                                                   exists (a missing file is not a problem)
 *   }
 *
 * Collected asynchronously: the file reads and getifaddrs() as one job on the worker pool
 * (deadline ctx->step_timeout_usec), the libvirt probe (virConnectOpenReadOnly +
 * virConnectGetLibVersion) as a second job with its own short deadline, so a hung libvirtd
 * shows as "answers": false ("timed out after 5 s") instead of hiding the other facts.
 *
 * Roots: ctx->etc_root, ctx->sys_root and ctx->proc_root, the libvirt URI from ctx->libvirt_uri;
 * struct inventory_options overrides them and holds the rest (tests point everything at a fake
 * tree; the multi-node harness gives each node its own /etc/iscsi and /etc/nvme).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "host.h"

struct ifaddrs;

#define INVENTORY_SCHEMA 1
/* The key of the node's soft section under which the inventory object is published. */
#define INVENTORY_SECTION_KEY "inventory"
/* Its datastore list ("datastores") follows the committed spec and records (agent/datastores.c). */
#define DATASTORES_RECONCILED_KEY "datastores_reconciled"

/* The names under "tools" and "modules", in this order. NULL-terminated. */
extern const char *const INVENTORY_TOOLS[];
extern const char *const INVENTORY_MODULES[];

/* Everything not in host_ctx. Borrowed during inventory_collect() (copied). NULL or a NULL /
 * zero field means the default. */
struct inventory_options {
	const char *backend;         /* "real" */
	const char *proc_root;       /* ctx->proc_root, else "/proc" */
	const char *modules_dir;     /* "/lib/modules" (then <kernel>/modules.dep, modules.builtin) */
	const char *tools_root;      /* "/": tools are looked for in <root>{/usr/local/sbin,
				      * /usr/local/bin,/usr/sbin,/usr/bin,/sbin,/bin}, and with "/"
				      * also in the daemon's $PATH */
	const char *libvirt_uri;     /* ctx->libvirt_uri, else "qemu:///system"; "" = do not probe
				      * ("libvirtd": null) */
	uint64_t libvirt_timeout_usec; /* 0: min(5 s, ctx->step_timeout_usec) */
	const char *kernel_release;  /* tests: instead of uname -r */
	const char *hostname;        /* tests: instead of gethostname() */
	/* The simulated host (sim.c): tools and modules are not looked for; every name of
	 * INVENTORY_TOOLS is reported present and every module of INVENTORY_MODULES "loaded",
	 * except the names in simulated_missing (comma-separated). */
	bool simulated;
	const char *simulated_missing;
};

/*
 * Collects the inventory (the schema above) with these options; done(userdata, 0, compact JSON
 * text with sorted keys) on the loop, or done(r < 0, "reading host facts: …") when the facts job
 * failed or timed out. Returns < 0 when nothing was started (-EINVAL without an event loop or
 * worker pool, -ENOMEM, worker_submit()'s errors).
 */
int inventory_collect(struct host_ctx *ctx, const struct inventory_options *o, host_done_fn done,
		      void *userdata);

/* The real backend's table: inventory_collect(ctx, NULL, …). */
extern const struct host_inventory_ops host_inventory_real;

/* ---- pieces, also used by the simulated backend (sim.c) and by tests ---------------------- */

/*
 * The initiator name in an initiatorname.iscsi text: the value of the last "InitiatorName="
 * line (comments and blanks ignored), trimmed and lower-cased. *out owned. 0; -ENOENT when
 * there is no such line; -EINVAL when the value is not an iqn./eui./naa. name (*out is still
 * set to the raw value, for the message); -ENOMEM.
 */
int inventory_parse_iqn(const char *text, char **out);

/* <etc_root>/iscsi/initiatorname.iscsi, parsed as above; -ENOENT also when the file is absent. */
int inventory_read_iqn(const char *etc_root, char **out);

/*
 * An os-release text (os-release(5): KEY=value lines, values optionally in double or single
 * quotes, backslash escapes inside double quotes, '#' comments): *out a new JSON object
 * {"id", "id_like", "version_id", "pretty_name"}, each a string or null when absent or empty;
 * control characters are dropped and a value is cut at 255 bytes. 0 or -ENOMEM. Pure.
 */
int inventory_parse_os_release(const char *text, json_t **out);

/* True when name is one of INVENTORY_TOOLS or INVENTORY_MODULES. */
bool inventory_known_name(const char *name);

/* <etc_root>/nvme/hostnqn: the first line, trimmed. 0; -ENOENT (absent or empty); -EINVAL when
 * it does not start with "nqn." or is longer than 223 bytes (*out set, for the message). */
int inventory_read_nqn(const char *etc_root, char **out);

/* <sys_root>/class/fc_host/<host>/port_name of every FC host port: a new JSON array of
 * "0x…" (16 hex digits, lower case), unique, sorted. 0 (an empty array when there is no FC
 * host), -ENOMEM. */
int inventory_read_wwpns(const char *sys_root, json_t **out);

/* The addresses of a getifaddrs() list as described above: a new JSON array. Pure. */
json_t *inventory_addresses(const struct ifaddrs *list);

/*
 * Cloned hosts: two nodes with the same iSCSI IQN, NVMe host NQN or FC WWPN cannot be told apart
 * by the array (mapping a LUN to one maps it to both; fencing one fences both), so status shows
 * each as a blocking error, and the plan never merges them. Pure.
 *
 * sections: core_node_sections()'s shape, {"<node id>": {"name": "kvm01", "section": {...}}};
 * the inventory is section[INVENTORY_SECTION_KEY] (or the section itself when it has no such
 * key). Nodes are named by "name", else by their id. Values compare case-insensitively (WWPNs
 * after normalising to "0x" + 16 hex digits).
 *
 * *out: a new JSON array, sorted by kind then value, one entry per value held by two or more
 * nodes: [{"kind": "iqn" | "nqn" | "wwpn", "value": "iqn…", "nodes": ["kvm01", "kvm02"]}]
 * (nodes sorted; the value in its normalised, lower-case form). Returns 0, -EINVAL when
 * sections is not an object, -ENOMEM.
 */
int inventory_duplicates(const json_t *sections, json_t **out);

/*
 * Whether a node's section (the "section" object of one core_node_sections() entry) speaks for
 * the datastores it has: only then does a datastore missing from its "datastores" mean "not
 * attached here", which a removal that destroys data and a restore wait for. Pure.
 *   DATASTORES_RECONCILED_KEY true                -> yes;
 *   DATASTORES_RECONCILED_KEY false               -> no (the datastore service has not gone
 *                                                    through the committed state yet);
 *   no such key, but a "datastores" object        -> yes (a kvmcd from before the key, which
 *                                                    published both at once);
 *   neither (another service's part alone, a kvmcd
 *   that just started), or not an object          -> no.
 */
bool node_section_datastores_reconciled(const json_t *section);
