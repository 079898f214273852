/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leader's link to ONTAP, a service (service.h) named "ontap". Every node checks the [ontap]
 * section at start-up (so a bad section or an unsafe credentials file stops the daemon at once,
 * naming the problem), but only the leader loads the client (kvmcd-ontap.so, with libcurl) and
 * uses it: leadership (the role hook, the core's ROLE actions) sets the epoch the client stamps
 * on and checks before every mutating request; losing it cancels what is in flight.
 *
 * Off (status "ontap": null) when [ontap] has no address. Status section:
 * {"address","svm","leader_epoch","client_loaded","version","last_error","datastores","peer"}, peer
 * being [ontap_peer]'s {"cluster","address","client_loaded","version","last_error"} or null.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "service.h"
#include "resources/ontap/ontap-fence.h"
#include "resources/ontap/ontap.h"

extern const struct service_ops leader_ontap_service;

/*
 * The HA service's narrow way to ONTAP (issue 9; agent/ha.c): the storage fence of one node
 * (ontap_fence_node: cut, wait for readback_not_before_usec, read back) or, readback_only, its
 * read-back alone, through the client this node acts with, under the epoch it acts in, with the
 * datastore loop's prefix and the cluster's comment. -ENOTCONN: this node does not act with an
 * ONTAP client now (nothing started, no callback); otherwise as ontap-fence.h (0: done exactly
 * once, later, from the loop; also with -ECANCELED / -ESTALE when the leadership ends).
 */
int leader_ontap_fence(const struct ontap_fence_node *node, uint64_t readback_not_before_usec, bool readback_only,
		       ontap_fence_done_fn done, void *userdata);
/* When (CLOCK_MONOTONIC) the end of a leadership (ROLE lost: the epoch taken from the client)
 * last cancelled a mutation that had already been sent, so that ONTAP may still carry it out
 * (ontap_client_cancelled_sent_usec); 0: never, or no client. */
uint64_t leader_ontap_cancelled_sent_usec(void);
/* The committed version the datastore loop last found its plan empty for (the unfence is done
 * once that is at or past the version that made the record unfencing); 0: none, or no ONTAP. */
uint64_t leader_ontap_plan_settled_version(void);
/*
 * The two-node claim (ontap-fence.h ontap_claim_epoch) for `epoch`, the leadership this node
 * holds but does not act in yet (core.h core_claim_pending): the client is set to that epoch
 * first (loaded if need be; the datastore loop still waits for LEADING). -ENOTCONN: no ONTAP
 * ([ontap] off, the module or client could not be set up; nothing started, no callback);
 * otherwise as ontap_claim_epoch.
 */
int leader_ontap_claim(uint64_t epoch, const char *claimant, ontap_claim_done_fn done, void *userdata);

/*
 * The grants record (issue 9): records["ontap/grants"] = {"epoch": E, "in_flight": bool} says
 * whether the leader of epoch E may have an ONTAP access GRANT -- a mutation that can give a
 * host access: the datastore plan's LUN / namespace maps, igroup initiators, subsystem hosts,
 * export policies and rules, shares and their ACLs, NAS mounts, and an unfence -- sent and not
 * yet answered. The leader commits in_flight true before its plan sends one (every member holds
 * it then: a commit needs every member's ACK) and false once every one was answered (or, one
 * that was not, [ontap] job_timeout + margin after the plan gave up on it: it may be a job ONTAP
 * runs on) AND nothing an older leader sent can still land. So a new leader
 * that finds {older epoch, false} knows that no grant can undo the fences it confirms: it
 * confirms at once instead of after its quiet point (coord/timeouts.h 6.); one that finds it in
 * flight, or no record, waits for the quiet point (and writes {its epoch, false} then). The
 * datastore loop runs only while acting (LEADING), so the record costs two commits per plan run
 * that may grant; none when the plan is empty.
 *
 * leader_ontap_grants_settled: the fence core's grants_settled_usec (fence.h): from when no grant
 * can land; UINT64_MAX while one of ours is in flight; 0 when this node does not record with an
 * ONTAP link (the core then uses T_L + ontap_quiet).
 * leader_ontap_grants_begin: before a plan execution that may grant: 0 = send (and call
 * leader_ontap_grants_end after); -EAGAIN = the record is being committed, call again after
 * the next commit (nothing to end); -ESTALE: this node does not record under an epoch; other
 * negative errno: the record could not be written.
 * leader_ontap_grants_end: that execution ended; answered: every request it sent got an answer.
 */
#define LEADER_ONTAP_GRANTS_KEY "ontap/grants"
uint64_t leader_ontap_grants_settled(void);

/* The ONTAP requests this node's clients made since kvmcd started (while it led), for the
 * metrics (agent/metrics.h "counters.ontap"): {"requests": {"METHOD status": n}, "errors":
 * {"ontap code": n}, "duration": {"METHOD": histogram}}. A new reference; NULL on ENOMEM. */
json_t *leader_ontap_metrics(void);
int leader_ontap_grants_begin(void);
void leader_ontap_grants_end(bool answered);
/* The plan that got -EAGAIN from leader_ontap_grants_begin is dropped, not sent. */
void leader_ontap_grants_cancel(void);

/*
 * The protection service's narrow way to ONTAP (issue 10; agent/protection.c): snapshots of a
 * datastore's volume (the datastore loop's <prefix>_<datastore>, datastore-plan.h), through the
 * client this node ACTS with (LEADING), under the epoch it acts in. -ENOTCONN: this node does not
 * act with an ONTAP client now (nothing started, no callback); otherwise as ontap.h (0: `done`
 * exactly once, later, from the loop; -ECANCELED / -ESTALE when the leadership ends).
 *   LIST    ontap_snapshot_list (name unused): obj->record = {"records": [...]}
 *   ENSURE  ontap_snapshot_ensure: probe first, create when missing (idempotent)
 *   DELETE  ontap_snapshot_delete: gone already is success; -EBUSY: ONTAP keeps it (a clone's
 *           parent, a SnapMirror base: 1638555)
 *   RESTORE ontap_volume_restore: the volume reverted to snapshot `name` (agent/restore.c, with
 *           every node's hands off it); running it again with nothing written between is a
 *           no-op for the data
 */
enum leader_ontap_snap_op { LEADER_SNAP_LIST, LEADER_SNAP_ENSURE, LEADER_SNAP_DELETE, LEADER_SNAP_RESTORE };
int leader_ontap_snapshot(enum leader_ontap_snap_op op, const char *datastore, const char *name, ontap_done_fn done,
			  void *userdata);
/*
 * Several datastores cut together: the consistency group <prefix>_<group> of their volumes is
 * ensured (created, or adopted when it holds exactly those volumes; other volumes: -EEXIST), then
 * its snapshot `name` (one snapshot of that name on every member volume, the same instant; one
 * that exists is success). ONTAP >= 9.10.1: an older release is -EOPNOTSUPP before anything is
 * sent. Returns and calls back as leader_ontap_snapshot.
 */
int leader_ontap_cg_snapshot(const char *group, const char *const *datastores, size_t n, const char *name,
			     ontap_done_fn done, void *userdata);

/*
 * SnapMirror of one datastore's volume (issue 10; agent/mirror.c), through the client this node
 * ACTS with, under its epoch; the source is <client SVM>:<prefix>_<datastore>, the destination
 * <dst_svm>:<dst_volume>. -ENOTCONN: not acting with an ONTAP client (nothing started, no
 * callback); otherwise as ontap.h (0: `done` exactly once, later; -ECANCELED / -ESTALE when the
 * leadership ends). Every op is idempotent (probe first):
 *   SETUP       the source volume's size, then the DP destination volume (ontap_dp_volume_ensure:
 *               created thin at that size, or adopted when it is type dp), then the relationship
 *               (ontap_snapmirror_ensure with `policy`; obj->record is the relationship)
 *   GET         the relationship (obj->record: state, healthy, lag_time, transfer, ...)
 *   INITIALIZE  uninitialized -> snapmirrored, waits for the baseline transfer
 *   UPDATE      an update transfer, waits for it to end (failed: -EIO)
 *   QUIESCE, BREAK, RESYNC   the state transitions (paused, broken_off, snapmirrored), settled
 *   PEERS       the client SVM's peerings with dst_svm (ontap_svm_peer_list; obj->record's records)
 */
enum leader_ontap_mirror_op {
	LEADER_MIRROR_SETUP,
	LEADER_MIRROR_GET,
	LEADER_MIRROR_INITIALIZE,
	LEADER_MIRROR_UPDATE,
	LEADER_MIRROR_QUIESCE,
	LEADER_MIRROR_BREAK,
	LEADER_MIRROR_RESYNC,
	LEADER_MIRROR_PEERS,
};
struct leader_mirror_target {
	const char *datastore;   /* borrowed, all of them */
	const char *dst_svm;
	const char *dst_volume;
	const char *policy;      /* SETUP: the SnapMirror policy; NULL: ONTAP's default */
	const char *dst_cluster; /* [ontap_peer]'s cluster when the destination SVM is on it (every op
				  * but PEERS then goes through that cluster's client); NULL: this one */
};
/* As above; also -ENOLINK: the destination is on [ontap_peer]'s cluster and its client is not set
 * up (leader_ontap_peer_error says why), -EINVAL: dst_cluster is not [ontap_peer]'s. */
int leader_ontap_mirror(enum leader_ontap_mirror_op op, const struct leader_mirror_target *t, ontap_done_fn done,
			void *userdata);
/* [ontap_peer]'s cluster name (borrowed), NULL when none is configured or [ontap] is off. */
const char *leader_ontap_peer_cluster(void);
/* Why the peer cluster's client is not set up or could not reach it (borrowed), NULL: no problem
 * known. */
const char *leader_ontap_peer_error(void);
/* The volume of a datastore (<prefix>_<datastore>), owned; NULL when this node does not act with
 * an ONTAP client (or ENOMEM). */
char *leader_ontap_volume_of(const char *datastore);
