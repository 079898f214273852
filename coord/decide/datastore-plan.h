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
 *   volume            <prefix>_<ds>                      one per datastore, comment kvmcd:<cluster id>
 *   LUN (iscsi, fc)   /vol/<prefix>_<ds>/lun0            os_type linux
 *   igroup            <prefix>_<node>                    ONE PER NODE, that node's IQN (iscsi) or
 *                                                        WWPNs (fc): a storage fence is one call
 *   LUN map           every datastore LUN -> every node's igroup
 *   namespace (nvme)  /vol/<prefix>_<ds>/ns0
 *   subsystem (nvme)  <prefix>                           ONE for the cluster, every node's host NQN,
 *                                                        every namespace mapped: ONTAP maps a
 *                                                        namespace to at most one subsystem, so
 *                                                        per-node subsystems cannot share one;
 *                                                        removing a host NQN cuts that node from
 *                                                        every namespace in one call
 *   export policy     <prefix>                           one rule per node address (nfs)
 *   volume junction   /<prefix>_<ds>                     (nfs, smb)
 *   CIFS share        <prefix>_<ds>                      (smb), ACL for the cluster's user
 * kvmcd never modifies or deletes an object it did not create: an object with one of these
 * names that does not carry kvmcd's comment (volumes, LUNs, igroups, subsystems) is a conflict,
 * reported, and the datastore waits.
 *
 * Order: creates and grows top-down (volume, LUN/namespace, igroup/subsystem, maps, export
 * rules); a datastore removed from the spec is first detached by every node (the node drivers
 * report it), then unmapped, and its volume destroyed only when the user asked for it
 * (`kvmcctl datastore remove NAME --destroy-data`); otherwise the volume stays and status says
 * so. A node removed from the spec is unmapped and its igroup / subsystem host / export rule
 * removed. A node that joins is added everywhere.
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
	const char *const *wwpns;    /* FC port names, "0x…" lower-case */
	size_t n_wwpns;
	const char *nqn;             /* NVMe host NQN; NULL = not known */
	const char *const *addresses; /* for NFS export rules */
	size_t n_addresses;
};

/* What ONTAP holds (the leader reads it with the client; only names under the prefix). */
struct dsplan_ontap_volume { const char *name; uint64_t size; const char *comment; const char *junction; };
struct dsplan_ontap_lun { const char *path; uint64_t size; const char *serial; const char *comment; };
struct dsplan_ontap_igroup { const char *name; const char *protocol; const char *const *initiators; size_t n_initiators; const char *comment; };
struct dsplan_ontap_map { const char *object; const char *group; int64_t number; }; /* LUN path -> igroup, or namespace path -> subsystem */
struct dsplan_ontap_subsystem { const char *name; const char *const *hosts; size_t n_hosts; const char *comment; };
struct dsplan_ontap_rule { const char *policy; const char *clients; int64_t index; };

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
	const char *const *shares; size_t n_shares;                      /* CIFS shares */
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
	_DSPLAN_OP_MAX,
};

/* One operation. Strings are owned by the plan (dsplan_free). */
struct dsplan_op {
	enum dsplan_op_kind kind;
	char *datastore;              /* the datastore it is for; NULL for per-node / cluster objects */
	char *object;                 /* volume name, LUN/namespace path, igroup, subsystem, policy, share */
	char *target;                 /* map: igroup / subsystem; add/remove: initiator / NQN; rule: clients */
	uint64_t size;                /* ensure / resize */
	char *const *members;         /* igroup ensure: initiators; subsystem ensure: host NQNs */
	size_t n_members;
	const char *protocol;         /* igroup: "iscsi" | "fcp"; volume: NULL = SAN (no junction) */
	char *junction;               /* volume ensure (nas) */
	unsigned wave;                /* ops of one wave are independent and may run in parallel;
					 wave n+1 starts when wave n is done */
};

/* Why a datastore cannot go on (status shows it); owned by the plan. */
struct dsplan_blocked {
	char *datastore;
	char *why;                    /* "volume kvmcd_x_ds1 exists but was not created by kvmcd", ... */
};

struct dsplan {
	struct dsplan_op *ops; size_t n_ops;
	struct dsplan_blocked *blocked; size_t n_blocked;
	/* Removed datastores whose volume is kept (the user did not ask to destroy the data). */
	char **kept_volumes; size_t n_kept_volumes;
};

/* Computes the plan. Returns 0 and *out (owned, dsplan_free) or -ENOMEM. Never fails on what
 * ONTAP holds: what cannot be resolved goes into `blocked`. */
int dsplan_compute(const struct dsplan_input *in, struct dsplan **out);
void dsplan_free(struct dsplan *p);
const char *dsplan_op_name(enum dsplan_op_kind k);
/* One op as canonical JSON text (scenario traces, logs). Owned. */
char *dsplan_op_json(const struct dsplan_op *op);
/* The ONTAP object names of a datastore / node under a prefix (the layout above). Owned. */
char *dsplan_volume_name(const char *prefix, const char *datastore);
char *dsplan_igroup_name(const char *prefix, const char *node);
/* "kvmcd_" + the corosync cluster name with every character outside [A-Za-z0-9_] replaced by
 * '_' (ONTAP names), at most 40 characters. Owned. */
char *dsplan_prefix(const char *cluster_name);
