/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ONTAP storage fence and the two-node claim (issue 9), on top of ontap.h. The decisions
 * (whom to fence, when a read-back may confirm, who claims which epoch) are coord/decide/fence.h's;
 * this file carries them out on the array.
 *
 * WHAT THE FENCE CUTS. kvmcd gives a node access through its own objects only (the layout in
 * coord/decide/datastore-plan.h): the node's igroup <prefix>_<node> holding its IQN / WWPNs and
 * mapped to every SAN datastore's LUN, its host NQN in the cluster's subsystem <prefix>, one
 * export rule per node address in the policy <prefix>, and the SMB shares' ACLs. The fence takes
 * the node's NAMES out of those objects:
 *   - every initiator of the node's own igroup (whatever name it holds: a stale IQN is the node's
 *     too), and the node's IQN / WWPNs from any other kvmcd igroup (allow_delete_while_mapped:
 *     taking the host out of a mapped igroup is the point);
 *   - its host NQN from every kvmcd subsystem;
 *   - every export rule of a kvmcd policy whose single client match is one of its addresses;
 *   - the ACL entries of kvmcd shares for the users listed as the node's own (smb_users).
 * Not the LUN maps: one call per initiator cuts every LUN at once (one per datastore otherwise),
 * the maps and their LUN ids stay as the hosts know them, and giving access back is adding the
 * name again -- exactly the datastore plan's igroup-add-initiator / subsystem-add-host /
 * export-rule-ensure. The plan already keeps a fenced node out (dsplan_node.fenced: nothing of
 * it is added back, nothing of it removed), so the two never undo each other.
 *
 * UNFENCE is the datastore plan's next pass with the node no longer fenced: the plan knows what
 * the node should have (cloned names stay off, an igroup's protocol, which protocols the spec
 * uses) and re-adds only that; a second copy of those rules here would drift. The caller (the HA
 * service) passes dsplan_node.fenced = true from the moment an ontap attempt may have cut access
 * (fence record access_cut) until the record is UNFENCING / RELEASING, then runs the plan and
 * reports the unfence done once that pass succeeded and the plan is empty. ontap_fence_readback()
 * shows what access the node has again.
 *
 * CONFIRMING. Only a read-back confirms, and it counts only when issued at or after the leader's
 * quiet point (fence.h: an older leader's request may still land before it): the fence waits for
 * readback_not_before_usec on the loop before it reads. The read-back looks beyond kvmcd's
 * objects: an igroup or subsystem kvmcd did not make that holds the node's name AND maps one of
 * kvmcd's LUNs / namespaces, an export rule covering an address (a subnet, several clients) in a
 * policy one of kvmcd's mounted volumes uses, an SMB share open to a user that is not the node's
 * alone (Everyone: ONTAP cannot tell this host from the others) -- each is access the fence does
 * not remove, so it is reported and the fence is NOT confirmed. A cluster with SMB datastores
 * reached with a shared user therefore needs another level (agent, watchdog) to fence. The
 * read-back finds only the names it is given (besides whatever the node's own igroup holds): pass
 * every name the node published (the leader's node/<name> record); the evidence lists the names
 * it checked, so a confirmation for a node without a known NQN says "host NQN (none)".
 *
 * Every mutation is a DELETE of something the probe just read, by its uuid / index; a thing
 * already gone (404) counts as done, so re-running a fence (a new leader resuming one, a retry
 * after a half-done attempt) sends only what is still left and nothing once it is complete.
 * Mutations carry the epoch captured when the fence started (the client's leader guard: a node
 * that stopped leading sends nothing more, -ESTALE).
 *
 * THE CLAIM (two-node clusters): a snapshot policy named <prefix>_claim_<epoch>, comment
 * "kvmcd claim: epoch E by CLAIMANT". ONTAP creates a name once per SVM and answers the second
 * POST with 409 / 1638527 (snapshot policy exists), synchronously (201, no job): the first creator
 * wins. Chosen over an igroup (needs SAN on the SVM, and lives among the node igroups the plan
 * manages), a volume snapshot or a qtree (jobs, and a volume to hang them on): a disabled policy
 * attached to nothing does nothing, exists on every SVM whatever it serves, and is one DELETE to
 * clean up. An answer lost on the way back is settled by reading the policy: its comment names
 * the claimant, so the same claimant asking again is told it won (the client may resend the POST
 * for the same reason). Keep the claimant unique per kvmcd run when a restart must not count as
 * the same claimant (fence.h's peer_seen rule already keeps a restarted node from claiming).
 * Nothing else kvmcd makes is a snapshot policy named <prefix>_claim_*; issue 10's policies must
 * keep out of that name.
 *
 * Conventions as in ontap.h: < 0 = nothing started, no callback; 0 = exactly one callback, from
 * the loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ontap.h"

/* A node's identity on the array. All borrowed for the call (copied). */
struct ontap_fence_node {
	const char *name;                /* the kvmcd node: its igroup is dsplan_igroup_name(prefix, name) */
	const char *iqn;                 /* NULL = none known */
	const char *const *wwpns; size_t n_wwpns;       /* FC port names, any of ONTAP's forms */
	const char *nqn;                 /* NVMe host NQN; NULL = none known */
	const char *const *addresses; size_t n_addresses; /* NFS / SMB client addresses */
	const char *const *smb_users; size_t n_smb_users; /* share ACL users that are this node's alone */
};

struct ontap_fence_options {
	const char *prefix;              /* "kvmcd_<cluster>" (dsplan_prefix) */
	const char *comment;             /* "kvmcd:<cluster id>": igroups, subsystems and shares are
					    kvmcd's only with it; NULL = by name alone */
	uint64_t readback_not_before_usec; /* CLOCK_MONOTONIC (the loop's clock): the confirming
					      read-back is not issued before; 0 = at once */
	/* Settle an older leader's JOBS first (coord/timeouts.h 6. and 7.): the confirming read-back
	 * also waits until the SVM lists no job queued, running or paused (GET /api/cluster/jobs,
	 * listed again every JOBS_POLL_MS): a job an older leader started before the quiet point may
	 * still grant access when it ends, and only a read-back after its end sees what it did. Set
	 * it when the quiet point is what readback_not_before_usec waits for (the grants record did
	 * not say "none in flight"). Any active job counts, kvmcd's own too: ONTAP does not say who
	 * started one, and waiting for one more only delays the confirmation. jobs_deadline_usec
	 * (CLOCK_MONOTONIC; 0 = none) bounds the wait: a job still active then leaves the fence
	 * UNCONFIRMED, the job named in the report's access (kind "job") and the evidence. */
	bool settle_jobs;
	uint64_t jobs_deadline_usec;
};

struct ontap_fence_result {
	bool confirmed;                  /* the read-back found no access of the node left */
	uint64_t epoch;                  /* the epoch the cuts were issued under; 0 = read-back only */
	uint64_t readback_usec;          /* CLOCK_MONOTONIC when the read-back was issued (its requests
					    went out at or after it) */
	unsigned cuts_made;              /* DELETEs ONTAP carried out in this call */
	unsigned cuts_gone;              /* DELETEs of something already gone (404) */
	unsigned cuts_failed;
	const char *evidence;            /* one paragraph for the log and the fence history: what was
					    checked and found gone, or what remains and why (and the
					    jobs waited for, settle_jobs) */
	/* {"removed": [ITEM], "failed": [ITEM + "error"], "access": [ITEM]} with
	 * ITEM = {"kind": "iscsi"|"fc"|"nvme"|"nfs"|"smb"|"job", "object": igroup | subsystem | policy |
	 * share, "member": initiator | NQN | clients | user, "ours": bool, "cut": bool (the fence
	 * removes it), "reaches": [LUN / namespace paths, volumes], "why": text}; "access" is what the
	 * read-back found. */
	const json_t *report;
};

/* r = 0: the read-back was made and res says what it found (a cut that failed shows up as
 * access left, its error in report.failed); r < 0: no read-back (-ESTALE: not leading any more;
 * an ONTAP failure), res still lists what was cut. res borrowed for the call. */
typedef void (*ontap_fence_done_fn)(void *userdata, int r, const struct ontap_fence_result *res);

/* Probe, cut what is left, wait for readback_not_before_usec (and the jobs, settle_jobs), read
 * back. -EINVAL: no prefix, no
 * node name; -ESTALE: this client may not mutate now. */
int ontap_fence_node(struct ontap_client *c, const struct ontap_fence_node *node,
		     const struct ontap_fence_options *opts, ontap_fence_done_fn done, void *userdata);
/* The read-back alone (no mutation; no epoch needed): what access the node has now. */
int ontap_fence_readback(struct ontap_client *c, const struct ontap_fence_node *node,
			 const struct ontap_fence_options *opts, ontap_fence_done_fn done, void *userdata);

/*
 * The pure part, for tests: from what the probe read -- {"igroups", "lun_maps", "subsystems",
 * "ns_maps", "policies" (with their rules), "volumes", "shares"}: arrays of ONTAP records as the
 * REST API returns them -- the node's access (*access: array of ITEM, owned) and the DELETEs that
 * remove what is kvmcd's (*cuts: array of {"path" (relative to /api), ITEM}, owned).
 * 0, -EINVAL (no prefix or name), -ENOMEM.
 */
int ontap_fence_assess(const json_t *probe, const struct ontap_fence_node *node,
		       const struct ontap_fence_options *opts, json_t **access, json_t **cuts);

/* ---------------------------------------------------------------- the two-node claim */

enum ontap_claim_outcome {
	ONTAP_CLAIM_WON,                 /* ONTAP created it for this claimant */
	ONTAP_CLAIM_LOST,                /* it exists, made by another claimant */
};

struct ontap_claim_result {
	enum ontap_claim_outcome outcome;
	const char *name;                /* <prefix>_claim_<epoch> */
	const char *holder;              /* the claimant its comment names (LOST: the winner) */
	bool adopted;                    /* WON by an earlier request whose answer was lost */
};
typedef void (*ontap_claim_done_fn)(void *userdata, int r, const struct ontap_claim_result *res,
				    const struct ontap_error *err);

/* "<prefix>_claim_<epoch>" (owned); NULL on ENOMEM. */
char *ontap_claim_name(const char *prefix, uint64_t epoch);
/* Creates the claim for epoch; the client must be set to mutate under that same epoch (else
 * -ESTALE: nothing sent). claimant: a name with no '"' (the node and its run). r < 0: an ONTAP
 * or transport failure (err says), neither won nor lost: ask again. */
int ontap_claim_epoch(struct ontap_client *c, const char *prefix, uint64_t epoch, const char *claimant,
		      ontap_claim_done_fn done, void *userdata);
/* Deletes the claims of epochs below below_epoch. Safe once both nodes have been in one view at
 * an epoch >= below_epoch: from then on both compute a higher epoch for the next split, so no
 * one can still race for a deleted one. done's obj->number = how many were deleted. */
int ontap_claim_cleanup(struct ontap_client *c, const char *prefix, uint64_t below_epoch,
			ontap_done_fn done, void *userdata);
