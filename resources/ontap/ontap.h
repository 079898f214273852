/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Typed ONTAP operations on top of ontap-client.h. All work in the client's SVM.
 *
 * Every function returns < 0 when nothing was started (no callback will come; -ESTALE when this
 * node is not the leader for a mutation) or 0, and then `done` is called exactly once from the
 * event loop with r = 0 or a negative errno, the object (borrowed for the duration of the
 * callback) and, on failure, the error detail (ONTAP code/message, HTTP status, object name).
 *
 * Mutations capture the leader epoch when called and carry it on every request they send; a
 * change of epoch fails them with -ESTALE.
 *
 * "ensure" functions are idempotent create-or-adopt: they look the object up, create it when
 * missing, treat ONTAP's duplicate codes as "exists", and always compare what exists with what
 * was asked. A difference fails with -EEXIST and a message naming the object and the field.
 * Deletes of something already gone succeed (obj->adopted = true). Resizes compare first: the
 * same size is a no-op, a LUN/namespace shrink is refused with -EINVAL before anything is sent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ontap-client.h"

struct ontap_object {
	const char *uuid;       /* borrowed from record; NULL when the object has none */
	const char *name;
	uint64_t size;          /* volume size, LUN/namespace space.size; 0 when not applicable */
	int64_t number;         /* lun-map logical_unit_number, namespace-map nsid, export policy id,
				 * export rule index; -1 when not applicable */
	const char *serial;     /* LUN serial_number, subsystem target_nqn, iSCSI target IQN */
	const char *state;      /* state / status.state / enabled ("true"/"false") */
	bool adopted;           /* ensure: existed and matched; delete: was already gone;
				 * resize/transition: already as asked, nothing sent */
	const json_t *record;   /* the full record; list operations: {"records":[…],"num_records":n} */
};

typedef void (*ontap_done_fn)(void *userdata, int r, const struct ontap_object *obj,
			      const struct ontap_error *err);

/* ---------------------------------------------------------------- field gating */
/* A field that exists only from an ONTAP release on (asking older releases for it → 262197). */
struct ontap_field_gate {
	const char *field;
	int generation, major, minor;
};
/* base plus each gated field the discovered version has (none while the version is unknown).
 * Returns a new string or NULL on OOM. */
char *ontap_fields_for(struct ontap_client *c, const char *base, const struct ontap_field_gate *gates,
		       size_t n);

/* LUN serial (12 ASCII chars) → Linux multipath WWID "3600a0980" + hex (notes §7.1); buf ≥ 34. */
int ontap_lun_wwid(const char *serial, char *buf, size_t size);

/* ---------------------------------------------------------------- cluster, SVM, aggregates */
/* GET /cluster?fields=version (falls back to /cluster/nodes for SVM-scoped users); stores the
 * version in the client for field gating. obj->name = version.full. */
int ontap_cluster_discover(struct ontap_client *c, ontap_done_fn done, void *userdata);
/* The SVM peerings of the client's SVM with SVM `peer` (GET /svm/peers?svm.name=<client SVM>&
 * peer.svm.name=<peer>): obj->record = {"records": [{"uuid", "state", "applications", "peer":
 * {"svm", "cluster"}}]} (empty: not peered). */
int ontap_svm_peer_list(struct ontap_client *c, const char *peer, ontap_done_fn done, void *userdata);
/* The client's SVM: state, iscsi/nvme/nfs/fcp/cifs .enabled, aggregates. */
int ontap_svm_get(struct ontap_client *c, ontap_done_fn done, void *userdata);
int ontap_aggregates_list(struct ontap_client *c, ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- volumes */
struct ontap_volume_spec {
	const char *name;
	uint64_t size;              /* bytes */
	const char *aggregate;      /* NULL: let ONTAP choose */
	bool thin;                  /* guarantee none */
	const char *snapshot_policy; /* NULL = "none" */
	const char *junction_path;  /* NULL: not mounted (SAN) */
	const char *export_policy;  /* NULL = default */
	const char *type;           /* NULL = "rw"; "dp" for a SnapMirror destination */
	const char *comment;
};
int ontap_volume_ensure(struct ontap_client *c, const struct ontap_volume_spec *spec,
			ontap_done_fn done, void *userdata);
int ontap_volume_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
/*
 * A SnapMirror destination volume `name` on SVM `svm` (the destination SVM: not necessarily the
 * client's), type dp, thin, `size` bytes (ONTAP grows a DP destination to its source on each
 * transfer). Probe first: one that exists must be of type dp (any other type: a mismatch that
 * names it; its size is left alone); created otherwise. Idempotent.
 */
int ontap_dp_volume_ensure(struct ontap_client *c, const char *svm, const char *name, uint64_t size,
			   ontap_done_fn done, void *userdata);
int ontap_volume_list(struct ontap_client *c, const char *name_pattern, ontap_done_fn done, void *userdata);
/* Grows or shrinks to size; same size is a no-op. */
int ontap_volume_resize(struct ontap_client *c, const char *name, uint64_t size,
			ontap_done_fn done, void *userdata);
/* Grows to size; a volume already at least that large is left alone (adopted, no PATCH): the
 * datastore plan's volume-resize, which must never undo an admin's grow made after it read
 * ONTAP. */
int ontap_volume_grow(struct ontap_client *c, const char *name, uint64_t size,
		      ontap_done_fn done, void *userdata);
int ontap_volume_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
/* Mounts the volume at junction with export policy (NULL = "default"); junction NULL or "":
 * unmounts it. Same state: no PATCH. */
int ontap_volume_mount(struct ontap_client *c, const char *name, const char *junction, const char *policy,
		       ontap_done_fn done, void *userdata);
/* Reverts the volume to snapshot (newer snapshots are lost). */
int ontap_volume_restore(struct ontap_client *c, const char *name, const char *snapshot,
			 ontap_done_fn done, void *userdata);
/* FlexClone `name` of parent (at parent_snapshot, NULL = ONTAP takes a new one), with comment
 * (NULL = none). Probe first: a FlexClone of that name with that lineage is success (its
 * comment is not compared); another volume of that name is -EEXIST. */
int ontap_volume_clone(struct ontap_client *c, const char *name, const char *parent,
		       const char *parent_snapshot, const char *comment, ontap_done_fn done, void *userdata);
/* Splits the FlexClone `name` from its parent (PATCH clone.split_initiated; ONTAP splits in the
 * background, the volume stays online). Success when the volume is no FlexClone any more or its
 * split is running (probe first: nothing is sent then). */
int ontap_volume_clone_split(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- snapshots */
int ontap_snapshot_ensure(struct ontap_client *c, const char *volume, const char *name,
			  const char *snapmirror_label, ontap_done_fn done, void *userdata);
int ontap_snapshot_list(struct ontap_client *c, const char *volume, ontap_done_fn done, void *userdata);
int ontap_snapshot_delete(struct ontap_client *c, const char *volume, const char *name,
			  ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- LUNs, igroups, maps */
struct ontap_lun_spec {
	const char *path;           /* "/vol/<volume>/<lun>" */
	uint64_t size;
	const char *os_type;        /* NULL = "linux" */
	bool space_reserved;        /* false = thin */
	const char *comment;
};
int ontap_lun_ensure(struct ontap_client *c, const struct ontap_lun_spec *spec,
		     ontap_done_fn done, void *userdata);
int ontap_lun_get(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata);
/* Grow only: same size → no-op without a PATCH; smaller → -EINVAL without a PATCH. */
int ontap_lun_resize(struct ontap_client *c, const char *path, uint64_t size,
		     ontap_done_fn done, void *userdata);
int ontap_lun_delete(struct ontap_client *c, const char *path, bool allow_mapped,
		     ontap_done_fn done, void *userdata);
/* LUN clone of source (same or other volume of the SVM). */
int ontap_lun_clone(struct ontap_client *c, const char *path, const char *source,
		    ontap_done_fn done, void *userdata);

struct ontap_igroup_spec {
	const char *name;
	const char *os_type;        /* NULL = "linux" */
	const char *protocol;       /* "iscsi" | "fcp" | "mixed"; NULL = "iscsi" */
	const char *const *initiators; /* exact set expected (compared case-insensitively) */
	size_t n_initiators;
	const char *comment;        /* set at creation (kvmcd marks what it owns); NULL = none */
};
int ontap_igroup_ensure(struct ontap_client *c, const struct ontap_igroup_spec *spec,
			ontap_done_fn done, void *userdata);
int ontap_igroup_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
int ontap_igroup_delete(struct ontap_client *c, const char *name, bool allow_mapped,
			ontap_done_fn done, void *userdata);
int ontap_igroup_add_initiator(struct ontap_client *c, const char *igroup, const char *initiator,
			       ontap_done_fn done, void *userdata);
/* Also from a mapped igroup (allow_delete_while_mapped): taking the initiator out is taking
 * that host's access to every LUN the igroup maps, which is why it is asked for. */
int ontap_igroup_remove_initiator(struct ontap_client *c, const char *igroup, const char *initiator,
				  ontap_done_fn done, void *userdata);

/* obj->number = the LUN id ONTAP chose (or found). */
int ontap_lun_map_ensure(struct ontap_client *c, const char *lun_path, const char *igroup,
			 ontap_done_fn done, void *userdata);
int ontap_lun_map_get(struct ontap_client *c, const char *lun_path, const char *igroup,
		      ontap_done_fn done, void *userdata);
int ontap_lun_map_delete(struct ontap_client *c, const char *lun_path, const char *igroup,
			 ontap_done_fn done, void *userdata);

/* obj->serial = target IQN, obj->state = "true"/"false" (enabled). */
int ontap_iscsi_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata);

enum ontap_lif_service { ONTAP_LIF_ISCSI, ONTAP_LIF_NVME_TCP, ONTAP_LIF_NFS, ONTAP_LIF_FCP, ONTAP_LIF_CIFS };
/* Data LIFs of the SVM serving one protocol; obj->record = {"records":[{name, ip.address,
 * state, location…}]}. */
int ontap_lifs_list(struct ontap_client *c, enum ontap_lif_service service,
		    ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- NVMe */
struct ontap_namespace_spec {
	const char *path;           /* "/vol/<volume>/<ns>" */
	uint64_t size;
	const char *os_type;        /* NULL = "linux" */
	unsigned block_size;        /* 0 = 4096 */
};
int ontap_namespace_ensure(struct ontap_client *c, const struct ontap_namespace_spec *spec,
			   ontap_done_fn done, void *userdata);
int ontap_namespace_get(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata);
int ontap_namespace_resize(struct ontap_client *c, const char *path, uint64_t size,
			   ontap_done_fn done, void *userdata);
int ontap_namespace_delete(struct ontap_client *c, const char *path, ontap_done_fn done, void *userdata);

struct ontap_subsystem_spec {
	const char *name;
	const char *os_type;        /* NULL = "linux" */
	const char *const *hosts;   /* host NQNs expected (exact set) */
	size_t n_hosts;
	const char *comment;        /* set at creation; NULL = none */
};
/* obj->serial = target_nqn */
int ontap_subsystem_ensure(struct ontap_client *c, const struct ontap_subsystem_spec *spec,
			   ontap_done_fn done, void *userdata);
int ontap_subsystem_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
int ontap_subsystem_delete(struct ontap_client *c, const char *name, bool force,
			   ontap_done_fn done, void *userdata);
/* Deletes the subsystem with the host NQNs it still lists (allow_delete_with_hosts), but never
 * while it maps a namespace (-EBUSY): the datastore plan's subsystem-delete. */
int ontap_subsystem_delete_with_hosts(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
int ontap_subsystem_add_host(struct ontap_client *c, const char *subsystem, const char *nqn,
			     ontap_done_fn done, void *userdata);
int ontap_subsystem_remove_host(struct ontap_client *c, const char *subsystem, const char *nqn,
				ontap_done_fn done, void *userdata);
/* obj->number = nsid */
int ontap_subsystem_map_ensure(struct ontap_client *c, const char *subsystem, const char *ns_path,
			       ontap_done_fn done, void *userdata);
int ontap_subsystem_map_delete(struct ontap_client *c, const char *subsystem, const char *ns_path,
			       ontap_done_fn done, void *userdata);
int ontap_nvme_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- NFS */
/* obj->number = policy id */
int ontap_export_policy_ensure(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
int ontap_export_policy_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
struct ontap_export_rule_spec {
	const char *policy;
	const char *clients;        /* one match: "10.0.0.0/24" or a host */
	const char *protocol;       /* "nfs4" | "nfs3" | "nfs" | "any"; NULL = "any" */
	const char *ro_rule, *rw_rule, *superuser; /* NULL = "sys", "sys", "sys" */
};
/* obj->number = rule index */
int ontap_export_rule_ensure(struct ontap_client *c, const struct ontap_export_rule_spec *spec,
			     ontap_done_fn done, void *userdata);
int ontap_nfs_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata);
/* Deletes the rule of policy whose clients match is `clients`; gone already: success. */
int ontap_export_rule_delete(struct ontap_client *c, const char *policy, const char *clients,
			     ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- SMB (CIFS) */
/*
 * CIFS shares (/protocols/cifs/shares; the instance is {svm.uuid}/{name}). ONTAP gives a new
 * share the ACL "Everyone / full_control" (type windows) unless the POST names others.
 */
struct ontap_cifs_share_spec {
	const char *name;           /* the share name */
	const char *path;           /* in the SVM's namespace: a junction path, "/vol1" */
	const char *comment;        /* set at creation and compared; NULL = none, not compared */
};
/* Create or adopt: an existing share of that name with another path (or comment, when one is
 * asked) is -EEXIST naming the field. obj->name = the share, obj->uuid = NULL (shares have none),
 * obj->record = the share with its acls. */
int ontap_cifs_share_ensure(struct ontap_client *c, const struct ontap_cifs_share_spec *spec,
			    ontap_done_fn done, void *userdata);
/* obj->record = {name, path, comment, acls: [{user_or_group, type, permission}], svm}. */
int ontap_cifs_share_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
/* Deletes the share (not its volume or data); gone already: success (obj->adopted). */
int ontap_cifs_share_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);

/* One entry of a share's ACL (/protocols/cifs/shares/{svm.uuid}/{share}/acls/{user}/{type}). */
struct ontap_cifs_acl_spec {
	const char *share;
	const char *user_or_group;  /* "Everyone", "DOMAIN\kvm-hosts", a UNIX user or group */
	const char *type;           /* "windows" | "unix_user" | "unix_group"; NULL = "windows" */
	const char *permission;     /* "no_access" | "read" | "change" | "full_control";
				     * NULL = "full_control" */
};
/* Create or adopt; the entry there with another permission is -EEXIST (delete it first). A share
 * that does not exist is -ENOENT. obj->name = the user or group. */
int ontap_cifs_share_acl_ensure(struct ontap_client *c, const struct ontap_cifs_acl_spec *spec,
				ontap_done_fn done, void *userdata);
/* Removes the entry (permission not used); the entry or its share gone already: success. */
int ontap_cifs_share_acl_delete(struct ontap_client *c, const struct ontap_cifs_acl_spec *spec,
				ontap_done_fn done, void *userdata);
/* The SVM's CIFS server (/protocols/cifs/services/{svm.uuid}): obj->state = "true"/"false"
 * (enabled), obj->name = the server's NetBIOS name; -ENOENT when the SVM has none. */
int ontap_cifs_service_get(struct ontap_client *c, ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- schedules, policies */
struct ontap_cron {
	const int *minutes; size_t n_minutes;   /* empty = every */
	const int *hours;   size_t n_hours;
};
int ontap_schedule_ensure(struct ontap_client *c, const char *name, const struct ontap_cron *cron,
			  ontap_done_fn done, void *userdata);
int ontap_schedule_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);

struct ontap_snapshot_policy_copy {
	const char *schedule;
	unsigned count;
	const char *prefix;          /* NULL = schedule name */
	const char *snapmirror_label; /* may be NULL */
};
int ontap_snapshot_policy_ensure(struct ontap_client *c, const char *name,
				 const struct ontap_snapshot_policy_copy *copies, size_t n_copies,
				 ontap_done_fn done, void *userdata);
int ontap_snapshot_policy_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- consistency groups (≥ 9.10.1) */
int ontap_cg_ensure(struct ontap_client *c, const char *name, const char *const *volumes,
		    size_t n_volumes, ontap_done_fn done, void *userdata);
int ontap_cg_delete(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
int ontap_cg_snapshot_ensure(struct ontap_client *c, const char *cg, const char *name,
			     ontap_done_fn done, void *userdata);
int ontap_cg_snapshot_delete(struct ontap_client *c, const char *cg, const char *name,
			     ontap_done_fn done, void *userdata);

/* ---------------------------------------------------------------- SnapMirror */
struct ontap_snapmirror_spec {
	const char *source_path;      /* "svm:vol" as named on this (destination) cluster */
	const char *destination_path; /* "svm:vol"; the volume must be type dp */
	const char *policy;           /* NULL = ONTAP's default */
	const char *schedule;         /* cron schedule name or NULL */
};
/* obj->state = relationship state; obj->record carries state, healthy, unhealthy_reason,
 * lag_time, transfer.state/end_time (also for _get) */
int ontap_snapmirror_ensure(struct ontap_client *c, const struct ontap_snapmirror_spec *spec,
			    ontap_done_fn done, void *userdata);
int ontap_snapmirror_get(struct ontap_client *c, const char *destination_path,
			 ontap_done_fn done, void *userdata);
/* Initialize (uninitialized → snapmirrored) and wait for the transfer to end. */
int ontap_snapmirror_initialize(struct ontap_client *c, const char *destination_path,
				ontap_done_fn done, void *userdata);
/* Start an update transfer and wait for it to end. */
int ontap_snapmirror_update(struct ontap_client *c, const char *destination_path,
			    ontap_done_fn done, void *userdata);
int ontap_snapmirror_quiesce(struct ontap_client *c, const char *destination_path,
			     ontap_done_fn done, void *userdata);
int ontap_snapmirror_break(struct ontap_client *c, const char *destination_path,
			   ontap_done_fn done, void *userdata);
int ontap_snapmirror_resync(struct ontap_client *c, const char *destination_path,
			    ontap_done_fn done, void *userdata);
int ontap_snapmirror_delete(struct ontap_client *c, const char *destination_path,
			    bool destination_only, ontap_done_fn done, void *userdata);
int ontap_snapmirror_policy_ensure(struct ontap_client *c, const char *name, const char *type,
				   ontap_done_fn done, void *userdata);
int ontap_snapmirror_policy_get(struct ontap_client *c, const char *name, ontap_done_fn done, void *userdata);
