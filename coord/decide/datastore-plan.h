/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datastore plan: a pure function of (the spec's datastores, the nodes and their initiator
 * names, what ONTAP holds under kvmcd's prefix, which nodes have detached what) -> the ONTAP
 * operations, in order, that make ONTAP hold exactly what the spec says. The leader runs it,
 * performs the operations with the ONTAP client (every one is an idempotent "ensure" or a
 * delete that succeeds when the object is gone), reads ONTAP back and runs it again until the
 * plan is empty. A new leader starts from what ONTAP shows, so a half-done plan is simply
 * finished; nothing of the plan itself needs to be replicated.
 *
 * Layout on ONTAP (names derive from the prefix, "kvmcd_<corosync cluster_name>", sanitised):
 *   volume            <prefix>_<ds>                      one per datastore, comment kvmcd:<cluster id>;
 *                                                        block: dsplan_volume_size() leaves room
 *                                                        for the LUN/namespace's metadata
 *   LUN (iscsi, fc)   /vol/<prefix>_<ds>/lun0            os_type linux, comment kvmcd:<cluster id>
 *   igroup            <prefix>_<node>                    ONE PER NODE, that node's IQN (iscsi) or
 *                                                        WWPNs (fc): a storage fence is one call.
 *                                                        Protocol "iscsi" or "fcp" after the SAN
 *                                                        datastores of the spec, "mixed" when it
 *                                                        has both (ONTAP cannot change an igroup's
 *                                                        protocol later: an initiator the igroup's
 *                                                        protocol refuses waits, see `waiting`)
 *   LUN map           every datastore LUN -> every node's igroup
 *   namespace (nvme)  /vol/<prefix>_<ds>/ns0                (it is ours when its volume is)
 *   subsystem (nvme)  <prefix>                           ONE for the cluster, every node's host NQN,
 *                                                        every namespace mapped: ONTAP maps a
 *                                                        namespace to at most one subsystem, so
 *                                                        per-node subsystems cannot share one;
 *                                                        removing a host NQN cuts that node from
 *                                                        every namespace in one call
 *   export policy     <prefix>                           one rule per node address (nfs); the
 *                                                        NFS volumes use it
 *   volume junction   /<prefix>_<ds>                     (nfs, smb)
 *   CIFS share        <prefix>_<ds>                      (smb) on the volume's junction, comment
 *                                                        kvmcd:<cluster id>; its ACL is exactly one
 *                                                        entry: the spec's smb.user (default
 *                                                        Everyone), windows, full_control
 * kvmcd never modifies or deletes an object it did not create: an object with one of these
 * names that does not carry kvmcd's comment (volumes, LUNs, igroups, subsystems) is a conflict,
 * reported, and the datastore waits (`blocked`); a foreign igroup with a node's name makes that
 * node wait (`waiting`). A CIFS share with a datastore's name and another comment (or none) is a
 * conflict too; one of ours at another path blocks its datastore (kvmcd does not move it).
 * Export policies and rules carry no comment: they are kvmcd's by their name alone. A volume of ours that is neither in the spec nor removed (a kept volume
 * whose removal record is gone) is never touched.
 *
 * Order: creates and grows top-down (volume, LUN/namespace, igroup/subsystem, maps, export
 * rules); a datastore removed from the spec is first detached by every node (the node drivers
 * report it), then unmapped, and its volume destroyed only when the user asked for it
 * (`kvmcctl datastore remove NAME --destroy-data`); otherwise the volume stays and status says
 * so. A node removed from the spec is unmapped and its igroup / subsystem host / export rule
 * removed. A node that joins is added everywhere.
 *
 * Decisions the contract leaves to the plan (each one keeps the plan idempotent):
 *   - Waves. Every op has a wave; the ops of one wave are independent (any order, in parallel)
 *     and an op's wave is one past the highest wave of the ops it depends on in THIS plan (0
 *     when none), so the number of waves is the longest dependency chain and an op whose
 *     prerequisite already exists on ONTAP starts at once. Dependencies:
 *         lun/namespace ensure, resize  <- volume ensure, resize of its volume
 *         nfs volume ensure, mount      <- export policy ensure
 *         export rule ensure            <- export policy ensure
 *         lun map ensure                <- lun ensure, igroup ensure
 *         ns map ensure                 <- namespace ensure, subsystem ensure
 *         share ensure                  <- volume ensure, mount
 *         share ACL entry ensure        <- share ensure, the delete of that user's entry
 *                                          (another permission)
 *         share ACL entry delete        <- share ensure, the ensure of the wanted entry (a share
 *                                          never goes without the cluster's entry)
 *         lun / namespace delete        <- its map deletes
 *         volume unmount                <- share delete
 *         volume delete                 <- lun / namespace delete, share delete
 *         igroup delete                 <- its lun map deletes
 *         subsystem delete              <- its ns map deletes
 *         export policy delete          <- unmount / delete of the volumes that use it
 *     A fresh SAN datastore is 3 waves (volume; LUN; maps), NFS and SMB 2, a removal with
 *     --destroy-data 3 (unmaps; LUN; volume).
 *   - A datastore with "clone" whose volume does not exist yet is made by ONE volume-clone of
 *     its parent's volume (which must exist: else `blocked`), not by volume-ensure; a block
 *     clone gets nothing else in that round (its LUN / namespace appears with the clone and is
 *     mapped -- and grown when the spec asks more -- in the next round), a NAS clone its mount
 *     (and share) after the clone. Once the volume exists, "clone" is read only for "split": a
 *     volume ONTAP reports a FlexClone with no split started gets one volume-clone-split.
 *   - Sizes only grow: the volume before its LUN/namespace; a LUN or namespace is never shrunk,
 *     nor a volume (one larger than asked is left alone).
 *   - An initiator not known yet (iqn / nqn NULL, no WWPNs, no addresses) is skipped for that
 *     protocol, and the node is listed in `waiting` with the reason; nothing that node already
 *     has on ONTAP is taken away for it (a node's section disappears while it is out of the
 *     view). An existing igroup still gets the new LUN maps. Host NQNs and export rules that no
 *     node claims are removed only when every node's NQN / addresses are known (otherwise they
 *     may be a silent node's, and `waiting` names what is kept).
 *   - Cloned hosts: an IQN, host NQN or WWPN that two or more nodes report is never merged
 *     (one igroup initiator or one subsystem host standing for two hosts would let one reach
 *     what only the other may, and a storage fence of one would cut both). It is kept off the
 *     array for all of them -- no igroup holds it, the subsystem does not list it, also where
 *     it was before (removed at once: whose it is, is known) -- and each of those nodes is
 *     listed in `cloned`, a blocking error naming the other nodes and the file to fix. Their
 *     other, unique names are used as usual.
 *   - A fenced node (dsplan_node.fenced) gets nothing added back: the fence removed its
 *     initiators / host NQN and the plan must not undo it; nothing of it is removed either.
 *   - A removal whose datastore is still attached somewhere freezes everything of it: its
 *     volume, LUN/namespace and maps stay (also when they are the last thing keeping an igroup,
 *     the subsystem or the export policy alive). A node removed from the spec loses its access
 *     at once, frozen datastores included.
 *   - A removal named like a datastore of the spec is ignored: the spec wins (the leader drops
 *     the record).
 *   - Per-protocol objects (igroups, subsystem, export policy) exist while the spec has a
 *     datastore of that protocol, and are deleted when it has none and nothing maps to them.
 *     Nothing of a protocol the SVM does not serve is created or deleted.
 *   - A removed NAS datastore whose volume is kept is unmounted (no junction, export policy
 *     "default": no node reaches it); re-adding it to the spec mounts it again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datastore.h"

/* A node as the plan sees it: from the spec's "nodes" and the node's published section. */
struct dsplan_node {
	const char *name;
	const char *iqn;             /* NULL = not known (yet) */
	const char *const *wwpns;    /* FC port names, "0x…" lower-case; none = not known */
	size_t n_wwpns;
	const char *nqn;             /* NVMe host NQN; NULL = not known */
	const char *const *addresses; /* for NFS export rules; none = not known */
	size_t n_addresses;
	bool fenced;                 /* its storage is fenced (HA): add nothing of it back */
};

/* What ONTAP holds (the leader reads it with the client; only names under the prefix matter).
 * All strings borrowed. */
struct dsplan_ontap_volume {
	const char *name; uint64_t size; const char *comment;
	const char *junction;        /* nas.path; NULL or "" = not mounted */
	const char *export_policy;   /* nas.export_policy.name; NULL = not read: then only the
					junction is compared, and a mounted NFS-or-unknown volume
					counts as using the cluster's policy */
	bool is_flexclone;           /* clone.is_flexclone: still a FlexClone of its parent */
	bool split_initiated;        /* clone.split_initiated: a split of it was started */
};
struct dsplan_ontap_lun { const char *path; uint64_t size; const char *serial; const char *comment; };
struct dsplan_ontap_igroup { const char *name; const char *protocol; const char *const *initiators; size_t n_initiators; const char *comment; };
struct dsplan_ontap_map { const char *object; const char *group; int64_t number; }; /* LUN path -> igroup, or namespace path -> subsystem */
struct dsplan_ontap_subsystem { const char *name; const char *const *hosts; size_t n_hosts; const char *comment; };
struct dsplan_ontap_rule { const char *policy; const char *clients; int64_t index; };
/* A CIFS share and its ACL (user_or_group, type "windows" | "unix_user" | "unix_group",
 * permission). path NULL = not read; an entry with another type is left alone. */
struct dsplan_ontap_ace { const char *user; const char *type; const char *permission; };
struct dsplan_ontap_share {
	const char *name; const char *path; const char *comment;
	const struct dsplan_ontap_ace *acl; size_t n_acl;
};

struct dsplan_ontap {
	const struct dsplan_ontap_volume *volumes; size_t n_volumes;
	const struct dsplan_ontap_lun *luns; size_t n_luns;               /* LUNs */
	const struct dsplan_ontap_lun *namespaces; size_t n_namespaces;   /* NVMe namespaces (serial = uuid) */
	const struct dsplan_ontap_igroup *igroups; size_t n_igroups;
	const struct dsplan_ontap_map *lun_maps; size_t n_lun_maps;
	const struct dsplan_ontap_subsystem *subsystems; size_t n_subsystems;
	const struct dsplan_ontap_map *ns_maps; size_t n_ns_maps;
	const char *const *export_policies; size_t n_export_policies;
	const struct dsplan_ontap_rule *rules; size_t n_rules;
	const struct dsplan_ontap_share *shares; size_t n_shares;        /* CIFS shares */
};

/* A datastore that is no longer in the spec (the leader keeps this in its records). */
struct dsplan_removal {
	const char *name;
	enum ds_protocol protocol;
	bool destroy_data;            /* the user asked: `datastore remove NAME --destroy-data` */
	const char *const *attached_on; /* nodes that still report it attached: wait for them */
	size_t n_attached_on;
};

struct dsplan_input {
	const char *prefix;           /* "kvmcd_<cluster>" */
	const char *cluster_id;       /* goes into comments: "kvmcd:<cluster_id>" */
	const struct ds_spec *datastores; size_t n_datastores;
	const struct dsplan_node *nodes; size_t n_nodes;
	const struct dsplan_removal *removals; size_t n_removals;
	const struct dsplan_ontap *ontap;
	/* What the SVM serves, once known (NULL = not known yet: nothing is refused for it). */
	const bool *svm_serves;       /* indexed by enum ds_protocol */
};

/* Never renumbered (they appear in logs by name, but keep them stable anyway). */
enum dsplan_op_kind {
	DSPLAN_VOLUME_ENSURE, DSPLAN_VOLUME_RESIZE, DSPLAN_VOLUME_DELETE,
	DSPLAN_LUN_ENSURE, DSPLAN_LUN_RESIZE, DSPLAN_LUN_DELETE,
	DSPLAN_IGROUP_ENSURE, DSPLAN_IGROUP_ADD_INITIATOR, DSPLAN_IGROUP_REMOVE_INITIATOR, DSPLAN_IGROUP_DELETE,
	DSPLAN_LUN_MAP_ENSURE, DSPLAN_LUN_MAP_DELETE,
	DSPLAN_NAMESPACE_ENSURE, DSPLAN_NAMESPACE_RESIZE, DSPLAN_NAMESPACE_DELETE,
	DSPLAN_SUBSYSTEM_ENSURE, DSPLAN_SUBSYSTEM_ADD_HOST, DSPLAN_SUBSYSTEM_REMOVE_HOST, DSPLAN_SUBSYSTEM_DELETE,
	DSPLAN_NS_MAP_ENSURE, DSPLAN_NS_MAP_DELETE,
	DSPLAN_EXPORT_POLICY_ENSURE, DSPLAN_EXPORT_RULE_ENSURE, DSPLAN_EXPORT_RULE_DELETE, DSPLAN_EXPORT_POLICY_DELETE,
	DSPLAN_SHARE_ENSURE, DSPLAN_SHARE_DELETE,
	/* PATCH nas.path = junction, nas.export_policy = target (NULL: "default") */
	DSPLAN_VOLUME_MOUNT,
	/* PATCH nas.path = "", nas.export_policy = "default" (a kept NAS volume) */
	DSPLAN_VOLUME_UNMOUNT,
	DSPLAN_SHARE_ACL_ENSURE, DSPLAN_SHARE_ACL_DELETE,
	/* POST a FlexClone (a datastore with "clone", datastore.h) */
	DSPLAN_VOLUME_CLONE,
	/* PATCH clone.split_initiated (a clone with "split": true) */
	DSPLAN_VOLUME_CLONE_SPLIT,
	_DSPLAN_OP_MAX,
};

/*
 * One operation. Strings are owned by the plan (dsplan_free). What the executor does with each
 * kind (the client call in resources/ontap/ontap.h):
 *   volume-ensure     object, size, junction (nas), target = export policy (nfs), protocol
 *                     NULL (SAN) | "nfs" | "smb", comment            ontap_volume_ensure
 *   volume-clone      object, target = the parent's volume, snapshot = the parent's snapshot,
 *                     comment; the clone is created unmounted with the parent's size, its
 *                     LUN / namespace in it (a later round maps / mounts / grows it)
 *                                                                     ontap_volume_clone
 *   volume-clone-split  object: split the FlexClone from its parent (ONTAP does it in the
 *                     background; the volume stays in use)            ontap_volume_clone_split
 *   volume-resize     object, size (grow only)                        ontap_volume_grow
 *   volume-delete     object (only for a removal with --destroy-data) ontap_volume_delete
 *   volume-mount      object, junction, target = export policy        (PATCH; no client op yet)
 *   volume-unmount    object                                          (PATCH; no client op yet)
 *   lun-ensure        object = path, size, comment                    ontap_lun_ensure (linux, thin)
 *   lun-resize        object, size (grow only)                        ontap_lun_resize
 *   lun-delete        object (its maps are gone by then)              ontap_lun_delete(allow_mapped false)
 *   igroup-ensure     object, protocol "iscsi"|"fcp"|"mixed", members = initiators, comment
 *   igroup-add-initiator / -remove-initiator   object = igroup, target = initiator
 *   igroup-delete     object (its maps are gone by then)              allow_mapped false
 *   lun-map-ensure / -delete   object = LUN path, target = igroup
 *   namespace-ensure / -resize / -delete   as for LUNs (ontap_namespace_*)
 *   subsystem-ensure  object, members = host NQNs, comment
 *   subsystem-add-host / -remove-host   object = subsystem, target = NQN
 *   subsystem-delete  object; its maps are gone by then, hosts may remain (allow_delete_with_hosts)
 *   ns-map-ensure / -delete    object = namespace path, target = subsystem
 *   export-policy-ensure / -delete   object = policy (delete takes its rules along)
 *   export-rule-ensure / -delete     object = policy, target = clients (one address); the
 *                     executor finds the rule's index by its clients (no client op for delete yet)
 *   share-ensure      object = share, junction = its path, comment  ontap_cifs_share_ensure
 *   share-delete      object (its entries go with it)              ontap_cifs_share_delete
 *   share-acl-ensure  object = share, target = user or group, protocol = its type ("windows");
 *                     full_control                                 ontap_cifs_share_acl_ensure
 *   share-acl-delete  object = share, target = user or group, protocol = its type
 *                                                                  ontap_cifs_share_acl_delete
 */
struct dsplan_op {
	enum dsplan_op_kind kind;
	char *datastore;              /* the datastore it is for; NULL for per-node / cluster objects */
	char *object;                 /* volume name, LUN/namespace path, igroup, subsystem, policy, share */
	char *target;                 /* map: igroup / subsystem; add/remove: initiator / NQN; rule: clients;
					 nfs volume ensure/mount: export policy */
	uint64_t size;                /* ensure / resize */
	char **members;               /* igroup ensure: initiators; subsystem ensure: host NQNs */
	size_t n_members;
	const char *protocol;         /* static; igroup: "iscsi" | "fcp" | "mixed"; volume ensure:
					 NULL = SAN (no junction), "nfs", "smb"; share ACL entry:
					 "windows" | "unix_user" | "unix_group" */
	char *junction;               /* volume ensure / mount (nas), share ensure */
	char *comment;                /* ensure of a volume, LUN, igroup, subsystem, share: "kvmcd:<id>" */
	char *snapshot;               /* volume-clone: the parent's snapshot; NULL otherwise */
	unsigned wave;                /* ops of one wave are independent and may run in parallel;
					 wave n+1 starts when wave n is done */
	size_t *after;                /* the ops (indices in the plan's ops, all of earlier waves)
					 this one waits for: an executor may start it as soon as
					 these are done, without waiting for the rest of their waves */
	size_t n_after;
};

/* Why a datastore cannot go on (status shows it); owned by the plan. */
struct dsplan_blocked {
	char *datastore;
	char *why;                    /* "volume kvmcd_x_ds1 exists but was not created by kvmcd", ... */
};

/* Something the plan leaves alone for now and why: a node whose initiator is not known yet,
 * a fenced node, a foreign igroup with a node's name, an object kept for a silent node. */
struct dsplan_wait {
	char *subject;                /* a node name, or an ONTAP object (igroup, subsystem, policy) */
	char *why;
};

struct dsplan {
	struct dsplan_op *ops; size_t n_ops;       /* sorted by wave, then in a stable order */
	unsigned n_waves;                          /* 0 for an empty plan */
	struct dsplan_blocked *blocked; size_t n_blocked;
	struct dsplan_wait *waiting; size_t n_waiting;
	/* Removed datastores whose volume is kept (the user did not ask to destroy the data). */
	char **kept_volumes; size_t n_kept_volumes;
	/* Cloned hosts: a node with an IQN, host NQN or WWPN another node reports too, one entry
	 * per node and name (subject = the node). A blocking error for that node: the name is
	 * kept off the array for every node that has it (see "Cloned hosts" above). */
	struct dsplan_wait *cloned; size_t n_cloned;
};

/* Computes the plan. Returns 0 and *out (owned, dsplan_free) or -ENOMEM. Never fails on what
 * ONTAP holds: what cannot be resolved goes into `blocked` / `waiting`. */
int dsplan_compute(const struct dsplan_input *in, struct dsplan **out);
void dsplan_free(struct dsplan *p);
const char *dsplan_op_name(enum dsplan_op_kind k);   /* "lun-map-ensure"; NULL out of range */
/* Whether an operation of this kind can give a host access on ONTAP (a map, an initiator or
 * host, an export policy or rule, a share or its ACL, a volume created or mounted with an
 * export policy): the HA fence must know when none is in flight (agent/leader-ontap.h). Only
 * deletes, removals, resizes and unmounts cannot. */
bool dsplan_op_may_grant(enum dsplan_op_kind k);
/* One op as canonical JSON text (scenario traces, logs): fixed key order, absent fields left
 * out. Owned; NULL on ENOMEM. */
char *dsplan_op_json(const struct dsplan_op *op);

/* iSCSI names (iqn., eui., naa.); anything else is taken for an FC WWPN. */
bool dsplan_is_iscsi_name(const char *s);
/* The same initiator: IQNs case-insensitively (ONTAP lower-cases them), WWPNs by their hex
 * digits ("0x2100…" as a node reports it, "21:00:…" as ONTAP shows it). */
bool dsplan_initiator_eq(const char *a, const char *b);
/* The ONTAP object names of a datastore / node under a prefix (the layout above). Owned. */
char *dsplan_volume_name(const char *prefix, const char *datastore);
char *dsplan_lun_path(const char *prefix, const char *datastore);        /* /vol/<vol>/lun0 */
char *dsplan_namespace_path(const char *prefix, const char *datastore);  /* /vol/<vol>/ns0 */
/* <prefix>_<node>, every character of the node name outside [A-Za-z0-9_.:-] replaced by '_'.
 * ONTAP takes at most 96 characters: a node whose igroup name is longer is ignored by the plan
 * and listed in `waiting` (so is the second of two nodes with one igroup name). */
char *dsplan_igroup_name(const char *prefix, const char *node);
/* "kvmcd_" + the corosync cluster name with every character outside [A-Za-z0-9_] replaced by
 * '_' (ONTAP names), at most 40 characters. Owned. */
char *dsplan_prefix(const char *cluster_name);
/*
 * The node that formats a new block datastore (its record's mkfs_by): one of `nodes` (names,
 * any order; NULL or empty entries ignored) chosen by a hash of the datastore's name, so a
 * spec of many datastores has them formatted by all the nodes side by side rather than one
 * after another by one node, and every leader picks the same one from the same members.
 * `avoid` (NULL: none) is picked only when no other node can be: the leader passes its own
 * name, since it is the node that provisions on ONTAP meanwhile -- with many new datastores
 * its workers and loop are the busiest, and a datastore it formats is ready on the others
 * only after its mkfs. Borrowed from nodes; NULL when there is none.
 */
const char *dsplan_formatter(const char *const *nodes, size_t n_nodes, const char *datastore, const char *avoid);
/* The volume size for a datastore of `size` bytes: NAS the size itself; block the size plus a
 * tenth for the LUN/namespace's metadata; rounded up to 4 KiB. */
uint64_t dsplan_volume_size(enum ds_protocol protocol, uint64_t size);
