/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Preflight: can every node of the cluster run the datastores of the spec? A pure function of
 * (the protocols and file systems in use, every node's published inventory, what the leader
 * recorded of the SVM) -> a report of findings, each {node, check, ok, what was found, what to
 * install or fix}. Any node's kvmcd answers `kvmcctl preflight` with it (agent/datastores.c,
 * the local-API command "preflight"), for every node at once: the inventories are replicated to
 * every member (resources/host/inventory.h), and so are the leader's records.
 *
 * What is checked, per protocol / file system in use (the spec's datastores, plus what the
 * caller asks for: `kvmcctl preflight --protocol nfs` before a first spec):
 *   every node, always   its inventory is published (its kvmcd runs and is a member);
 *                        libvirtd answers (the pools)
 *   iscsi                tools iscsiadm (open-iscsi / iscsi-initiator-utils), multipath and
 *                        multipathd (multipath-tools / device-mapper-multipath), blkid
 *                        (util-linux); modules iscsi_tcp, dm_multipath; the initiator name
 *                        is set and no other node has it
 *   fc                   multipath, multipathd, blkid; dm_multipath; at least one FC port,
 *                        none shared with another node
 *   nvme-tcp             nvme (nvme-cli), blkid; nvme_tcp; the host NQN is set and unique
 *   ocfs2                mkfs.ocfs2, tunefs.ocfs2 (ocfs2-tools), dlm_controld (dlm-controld /
 *                        dlm); ocfs2, ocfs2_stack_user, dlm
 *   gfs2                 mkfs.gfs2, gfs2_jadd (gfs2-utils), dlm_controld; gfs2, dlm
 *   nfs                  mount.nfs (nfs-common / nfs-utils); nfs
 *   smb                  mount.cifs (cifs-utils); cifs
 *   every node, always   its VM lock ([vms] vm_lock, when its kvmcd reports it): the lock
 *                        system it uses works there ("dlm": the lockspace joined; "lockd":
 *                        libvirt's lockd set up, virtlockd answering); "none" passes, except
 *                        under "auto" (no DLM found) while OCFS2 / GFS2 is in use on a node
 *                        with the real host backend
 *   ONTAP (node null)    per protocol in use: the SVM serves it, and has a data LIF up for it
 *                        (when the leader recorded how many)
 * A kernel module passes when it is loaded, built in or available (loaded on demand by the tool
 * that needs it); "missing" fails. Packages are named for the three families of NetApp's host
 * table: Debian (and Ubuntu), Fedora (and RHEL and its rebuilds), Arch; a node's family comes
 * from its os-release (ID, then ID_LIKE).
 *
 * The report (a JSON object; an interface: `kvmcctl preflight --json` prints it as it is, other
 * tools read it; add keys, never rename or retype one):
 *   {"ok": true | false,              no finding has "ok": false
 *    "passed": N, "failed": N, "unknown": N,
 *    "protocols": ["iscsi", ...],     in use (spec order of enum ds_protocol)
 *    "file_systems": ["ocfs2", ...],
 *    "nodes": [{"name": "kvm1", "family": "debian" | "fedora" | "arch" | null,
 *               "os": "Debian GNU/Linux 12 (bookworm)" | null, "backend": "real" | "sim" | null,
 *               "passed": N, "failed": N, "unknown": N}],
 *    "findings": [{
 *       "node": "kvm1" | null,        null: the cluster's side (ONTAP)
 *       "check": "tool:iscsiadm",     "inventory", "libvirtd", "tool:<name>", "module:<name>",
 *                                     "iscsi-iqn", "fc-wwpn", "nvme-host-nqn",
 *                                     "vm-lock", "ontap-protocol:<protocol>", "ontap-lifs:<protocol>",
 *                                     "ontap"
 *       "ok": true | false | null,    null: could not be checked (not known yet); not a failure
 *       "found": "missing",           what was found, in words
 *       "needed_for": ["iscsi"],      the protocols / file systems that need it; ["all"]
 *       "fix": "install open-iscsi: apt install open-iscsi" | null (null when ok),
 *       "packages": {"debian": "open-iscsi", "fedora": "iscsi-initiator-utils",
 *                    "arch": "open-iscsi"} | null,     when a package provides what is checked
 *       "package": "open-iscsi" | null                 the one for this node's family
 *    }]}
 * Findings come node by node in the order of in->nodes, each node's checks in the order above,
 * then the ONTAP findings; passing checks are listed too.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "datastore.h"

/* A node: named in the spec, a member that published its section, or one the leader recorded. */
struct preflight_node {
	const char *name;
	const json_t *inventory;     /* its inventory (inventory.h's schema), borrowed; NULL: none */
	bool member;                 /* its kvmcd is in the view right now */
	/* Its VM service's lock (agent/vms.c's section "vm_lock": {"configured": "auto" | "none" |
	 * "dlm" | "lockd", "system": "dlm" | "lockd" | "none", "ok": true | false | null, "found"}),
	 * borrowed; NULL: not reported (no finding). */
	const json_t *vm_lock;
};

struct preflight_input {
	const struct ds_spec *datastores; size_t n_datastores;
	/* Also check these, whether or not the spec uses them (indexed by enum ds_protocol /
	 * enum ds_fs; NULL: none). */
	const bool *protocols;
	const bool *file_systems;
	const struct preflight_node *nodes; size_t n_nodes;
	/*
	 * The leader's record of the SVM (leader-datastores.h: records["ontap/svm"]), borrowed; NULL
	 * when there is none (no [ontap], not reached yet). Read: "name", "serves": {"<protocol>":
	 * bool} (absent or null = not known), "lifs": {"<protocol>": data LIFs up} (absent = not
	 * counted).
	 */
	const json_t *svm;
};

/* Computes the report. Returns 0 and *out (a new object), -EINVAL without input, -ENOMEM.
 * Anything in the inventories or the record that is not what the schema says counts as not
 * known: they come from other nodes. */
int preflight_check(const struct preflight_input *in, json_t **out);

/* "debian" | "fedora" | "arch" for an inventory's "os" object (ID, then each word of ID_LIKE);
 * NULL when unknown. Static strings. */
const char *preflight_family(const json_t *os);
