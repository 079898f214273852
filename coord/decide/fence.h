/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fencing decisions (issue 9): whom to fence, with which method, and when a fence counts as
 * confirmed. A pure function of (the membership as the leader sees it, the fence records of the
 * replicated state, the reports of the attempts the leader ran, the configuration, armed or not,
 * now) -> (decisions, the new records). Nothing here runs a method, reads a clock or talks to
 * ONTAP: the caller (the leader's HA service) performs the decisions and records the records.
 * The timing comes from coord/timeouts.h (fence_config_from_timeouts()); section 7 there walks
 * the timeline.
 *
 * THE SAFETY RULES:
 *   - Only the recording leader decides (core.h RECORDING: quorate, elected, synced; in a
 *     two-node cluster a lone survivor also needs the claim, below). Not LEADING: a predecessor
 *     that lost contact may act outside until its lease ends, but everything it could still do
 *     that matters here is bounded below (its fence removals only help; its access grants are
 *     what grants_settled_usec accounts for). Any other node gets no decision at
 *     all: not acting -> an empty result, so no ONTAP mutation is ever decided by a node that is
 *     not quorate.
 *   - CONFIRMED is the only status that lets VMs move (recovery.h; placement's `fenced`), and it
 *     is reached only by: an ontap attempt whose read-back, issued at or after readback_after
 *     (below), shows the node's access gone; an agent attempt whose `status` after `off` showed the power
 *     off; the watchdog deadline passed (since + watchdog_dead_after_nodedown / _procdown) for a
 *     node that published an armed watchdog and was not seen in the view since.
 *   - A fence is carried out once per record: a record lives from the decision to fence until
 *     the node is back in the view (before the fence was confirmed: dropped) or back and clean
 *     (after: cleared). A node that leaves again meanwhile is still fenced by the same record;
 *     a new leader resumes the record it finds instead of starting another. `failure` (the view
 *     at which the node left) names the failure it is for; reports of attempts for another
 *     failure, level, attempt or epoch are ignored.
 *
 * Detection. A node out of the view left NODEDOWN (its corosync left too: a failed host, fenced
 * at once) or PROCDOWN (its kvmcd left, its corosync stayed: a failed agent whose VMs may still
 * run). A PROCDOWN node is given agent_grace from when this node saw it leave; a kvmcd restart
 * within it is not a failure, and no record is written before it ends.
 *
 * Levels. The configured methods are tried in order, each up to its attempts with a doubling
 * backoff between attempts:
 *   ontap     the leader removes the node's access on ONTAP (igroup initiators, NVMe subsystem
 *             hosts, export rules) and reads it back. The removal may run at once; the read-back
 *             that confirms must be issued at or after readback_after: once no ONTAP access
 *             grant (a map, an initiator or host added, an export rule) of any leadership can
 *             still land, so that the access it reads gone stays gone. The caller knows that
 *             from the grants record (agent/leader-ontap.h) and passes it as
 *             grants_settled_usec; unknown (0): T_L + ontap_quiet, when every older leader's
 *             mutation has landed (coord/timeouts.h 6.). Deadline: max(start, readback_after)
 *             + fence_ontap_attempt. Sets access_cut: giving the node back needs an unfence.
 *   agent     a fence agent (power) run as a child: `off`, then `status`. Deadline:
 *             fence_agent_timeout + kill grace.
 *   watchdog  nothing to run: the node's own watchdog resets it. Skipped for a node that did not
 *             publish an armed watchdog (or when there is none: timeouts without a watchdog).
 *             Confirmed at since + watchdog_dead_after_nodedown (PROCDOWN: _procdown).
 * A failed or timed-out attempt is followed by the next one (after the backoff), the last
 * attempt of a level by the next level. When every level has failed, the record becomes FAILED
 * (the operator sees it in status; an alarm), and the ladder runs again from its first level
 * after fence_round_pause, doubled after each failed round up to 8 times: never a storm.
 * The caller runs exactly the attempts the decisions name (RUN, repeated in every result while
 * in flight; it starts one it does not run yet, identified by node, failure, level, attempt and
 * epoch) and cancels any other it runs; it reports each attempt's end once.
 *
 * A new leader. Times in a record belong to the epoch that wrote them (each host has its own
 * CLOCK_MONOTONIC). A record of another epoch with an attempt in flight: that attempt is counted
 * as used and failed (its report died with the old leader) and the next one starts now; a
 * backoff of another epoch ends now. The ontap read-back waits for readback_after (above).
 *
 * A node that comes back. Into the view before its fence was confirmed (a corosync blip, a
 * kvmcd restarted after the grace, a fence that failed): the record is dropped -- its VMs never
 * moved -- after an unfence (RELEASING, which is NOT fenced: recovery never moves VMs for it)
 * when an ontap attempt may have cut its access (not before that attempt's deadline: the cut may
 * still land). A node that leaves again while RELEASING starts a new fence. After its fence was confirmed: it is DIRTY until
 * it reports that it runs no domain of a VM it does not own (`clean`; a rebooted host runs
 * none), then unfenced (when its access was cut) and cleared: placement may use it again.
 *
 * Disarmed (`kvmcctl ha disarm`): no new fence, and a pending one is HELD: the caller cancels its
 * attempt (not counted), the record stays, and re-arming resumes it where it was; a confirmed
 * fence stays confirmed (recovery is held by recovery.h); no unfence runs. Nothing is lost and
 * nothing is fenced twice.
 *
 * Two-node clusters (`two_node: 1`, or a qdevice): a lone survivor is quorate by corosync's
 * rules but may act only after it wins an atomic claim on ONTAP: it creates an object named
 * for the epoch it would lead (the highest epoch of the last view both shared + 1, which both
 * halves of a split compute alike); the first creator wins, the other gets ONTAP's duplicate
 * error and must fence itself (stop its VMs, stop feeding its watchdog). claim.needed: the
 * caller is such a lone survivor. Decided: MAKE (state NONE), WAIT (PENDING), SELF_FENCE (LOST);
 * only WON lets the fences go on. While disarmed no claim is made (nobody acts, nothing moves).
 * A claim is named per epoch, so a node that claims a HIGHER epoch than the one its peer won
 * would win too while the peer still acts (the peer, alone since, never re-elected): a kvmcd
 * claims only once it has been in a view with its peer since it last started or lost a claim
 * (claim.peer_seen, persisted; corosync's wait_for_all, which two_node turns on, is the same
 * rule for quorum). Then both halves of the next split come from one shared view and compute
 * the same epoch, and the claims decide. Otherwise: WAIT_FOR_PEER, nobody acts on this side --
 * a lone host that restarts stays without a leader until its peer is back (as corosync's own
 * two_node would keep it inquorate after a reboot). Until its claim is won a lone survivor is
 * not "quorate and healthy" for its watchdog: it notices like an isolated host (stops its HA VMs,
 * stops feeding) -- otherwise the winner's watchdog deadline for it would not hold. The claim
 * takes one ONTAP round trip, far less than notice_max.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timeouts;

/* Never renumbered (they are recorded). */
enum fence_method {
	FENCE_METHOD_ONTAP,
	FENCE_METHOD_AGENT,
	FENCE_METHOD_WATCHDOG,
	_FENCE_METHOD_MAX,
};

enum fence_loss {
	FENCE_LOSS_NODEDOWN,             /* its corosync left the membership: a failed host */
	FENCE_LOSS_PROCDOWN,             /* its kvmcd left, its corosync stayed: a failed agent */
	_FENCE_LOSS_MAX,
};

/* Never renumbered (recorded). */
enum fence_status {
	FENCE_NONE,                      /* no record (a decision with NONE deletes the record) */
	FENCE_PENDING,                   /* decided; attempts under way */
	FENCE_CONFIRMED,                 /* the node runs nothing and cannot write: VMs may move */
	FENCE_FAILED,                    /* every level failed; the next round after a pause */
	FENCE_UNFENCING,                 /* confirmed, back and clean: its access being given back */
	FENCE_RELEASING,                 /* dropped before it was confirmed (the node came back): its
					    access being given back; NOT fenced, its VMs never moved */
	_FENCE_STATUS_MAX,
};

#define FENCE_MAX_LEVELS 8

struct fence_method_config {
	unsigned attempts;               /* >= 1 */
	uint64_t attempt_usec;           /* one attempt's deadline (ontap: after the quiet point) */
	uint64_t backoff_usec;           /* before the second attempt; doubled per attempt */
};

struct fence_config {
	enum fence_method levels[FENCE_MAX_LEVELS]; /* in order; each method at most once */
	size_t n_levels;                 /* >= 1 */
	struct fence_method_config method[_FENCE_METHOD_MAX];
	uint64_t agent_grace_usec;       /* PROCDOWN -> may fence */
	uint64_t watchdog_nodedown_usec; /* watchdog_dead_after_nodedown; 0: no watchdog fence */
	uint64_t watchdog_procdown_usec; /* watchdog_dead_after_procdown */
	uint64_t ontap_quiet_usec;       /* after T_L */
	uint64_t round_pause_usec;       /* after a failed ladder, doubled per round up to 8x */
	uint64_t unfence_backoff_usec;   /* between unfence tries */
};

/*
 * The configuration for `levels` (n of them, each method at most once) with the derived timing
 * of *t. Returns 0, or -EINVAL with *error (owned; may be NULL) naming the problem: no level,
 * too many, a method twice or unknown, "watchdog" without a watchdog (watchdog_timeout 0).
 */
int fence_config_from_timeouts(const struct timeouts *t, const enum fence_method *levels, size_t n,
			       struct fence_config *out, char **error);

/* A node as the deciding node sees it. Borrowed. */
struct fence_node {
	const char *name;                /* unique */
	bool member;                     /* its kvmcd is in this quorate view */
	enum fence_loss loss;            /* !member: how it left */
	uint64_t failure;                /* !member: the failure's id, the same on every member (the
					    view sequence at which it left), > 0 */
	uint64_t since_usec;             /* !member: when THIS node saw it leave, on this node's clock;
					    a node that joined later passes when it joined */
	enum fence_loss began;           /* !member: how this departure began: PROCDOWN when its
					    corosync stayed as its kvmcd left (it fed no more from
					    then on), else NODEDOWN (it may have fed until it
					    noticed); a later change of `loss` does not change it */
	bool clean;                      /* member: it reports no domain of a VM it does not own */
	bool watchdog;                   /* its section said, when it was last a member, that its
					    watchdog is armed with this cluster's timeout (a host
					    that booted and never armed it since is not) */
};

/* One node's record in the replicated state (records[fence/NODE]). In the input: borrowed; in
 * a decision: strings owned by the result. */
struct fence_record {
	const char *node;
	enum fence_status status;
	uint64_t failure;                /* the failure it is for */
	enum fence_loss loss;
	unsigned level;                  /* index into the configured levels */
	unsigned attempt;                /* attempts made at this level (the current one if running) */
	unsigned rounds;                 /* failed ladders so far */
	bool running;                    /* attempt `attempt` started, no result yet */
	bool access_cut;                 /* an ontap attempt started: its access may be gone */
	enum fence_method confirmed_by;  /* CONFIRMED / UNFENCING */
	uint64_t epoch;                  /* the leader epoch whose clock the times below are on */
	uint64_t started_usec;           /* the current attempt's (or unfence's) start */
	uint64_t not_before_usec;        /* the next attempt / round / unfence not before */
	const char *error;               /* the last failure, in words; NULL */
};

enum fence_report_kind {
	FENCE_REPORT_ATTEMPT,            /* an attempt ended */
	FENCE_REPORT_UNFENCE,            /* an unfence ended */
};

/* What the caller learnt since the last call: one report per attempt that ended. Borrowed. */
struct fence_report {
	const char *node;
	enum fence_report_kind kind;
	uint64_t failure, epoch;         /* as the RUN / UNFENCE decision said */
	unsigned level, attempt;         /* ATTEMPT: as the RUN decision said */
	bool ok;                         /* ontap: removed and read back gone; agent: `status` says
					    off after `off`; unfence: access back */
	uint64_t readback_usec;          /* ontap ok: when the confirming read-back was issued */
	const char *error;               /* !ok: why, in words */
};

enum fence_claim_state {
	FENCE_CLAIM_STATE_NONE,          /* not made for this epoch */
	FENCE_CLAIM_STATE_PENDING,       /* the create is in flight */
	FENCE_CLAIM_STATE_WON,           /* ONTAP created it for us */
	FENCE_CLAIM_STATE_LOST,          /* ONTAP said it exists */
};

struct fence_input {
	const struct fence_config *config;
	const struct fence_node *nodes; size_t n_nodes;
	const struct fence_record *records; size_t n_records;  /* at most one per node */
	const struct fence_report *reports; size_t n_reports;
	bool acting;                     /* RECORDING: quorate, elected, synced leader */
	bool armed;
	uint64_t epoch;                  /* the recording leader's epoch */
	uint64_t leading_since_usec;     /* T_L: this epoch's RECORDING start, this node's clock */
	/* From when no ONTAP access grant -- of an older leadership or of this one -- can still
	 * land (this node's clock): the ontap read-back confirms only if issued at or after it.
	 * 0: not known, T_L + ontap_quiet (timeouts.h 6.); UINT64_MAX: one may be in flight now
	 * (wait; the caller calls again when that changes). */
	uint64_t grants_settled_usec;
	struct {
		bool needed;             /* a two-node cluster's lone survivor */
		bool peer_seen;          /* this kvmcd has been in a view with its peer since it last
					    started or lost a claim (persisted) */
		enum fence_claim_state state;
	} claim;
	uint64_t now_usec;
};

/* Never renumbered. */
enum fence_action {
	FENCE_ACT_NONE,                  /* nothing to do (the record, if any, is unchanged) */
	FENCE_ACT_WAIT,                  /* nothing until at_usec (0: until an input changes) */
	FENCE_ACT_RUN,                   /* run method/level/attempt (keep running it) until at_usec */
	FENCE_ACT_CONFIRM,               /* the fence is confirmed now */
	FENCE_ACT_FAIL,                  /* every level failed: alarm; next round at at_usec */
	FENCE_ACT_HOLD,                  /* disarmed: cancel its attempt, keep the record */
	FENCE_ACT_UNFENCE,               /* give its access back (ONTAP), report when done */
	FENCE_ACT_CLEAR,                 /* the record is deleted: the node is in service again */
	_FENCE_ACT_MAX,
};

struct fence_decision {
	char *node;                      /* owned */
	enum fence_action action;
	enum fence_method method;        /* RUN */
	unsigned level, attempt;         /* RUN */
	uint64_t failure;                /* RUN / UNFENCE: to put in the report */
	uint64_t at_usec;                /* WAIT / FAIL: call again then; RUN: the deadline */
	uint64_t readback_after_usec;    /* RUN ontap: the confirming read-back not before */
	char *reason;                    /* for status and the log; owned; NULL */
	bool record_changed;             /* record it (status NONE: delete it) */
	struct fence_record record;      /* the record after this decision (strings owned) */
};

enum fence_claim_action {
	FENCE_CLAIM_NONE,                /* no claim needed, or won */
	FENCE_CLAIM_MAKE,                /* create the claim object for `epoch` */
	FENCE_CLAIM_WAIT,                /* the create is in flight */
	FENCE_CLAIM_SELF_FENCE,          /* lost: stop every VM here, stop feeding the watchdog */
	FENCE_CLAIM_WAIT_FOR_PEER,       /* no claim before the peer was seen (wait_for_all) */
};

struct fence_result {
	struct fence_decision *decisions; size_t n_decisions; /* one per node with a record or
								 something to do, input order */
	enum fence_claim_action claim;
	bool may_act;                    /* acting, and the claim (if needed) won */
	uint64_t wake_usec;              /* call again at the latest then; 0: only on a change */
};

/*
 * Decides. Returns 0 and *out (owned: fence_result_free); -EINVAL for malformed input (no
 * config, a NULL or duplicate node name, two records for one node, a record or report whose
 * level is out of range, a failure 0 for a node out of the view); -ENOMEM. *out only on success.
 * Records of nodes not in the input are left alone (no decision).
 */
int fence_decide(const struct fence_input *in, struct fence_result **out);
void fence_result_free(struct fence_result *r);

/* Names ("ontap", "pending", "run", "nodedown", ...); NULL out of range. Static. */
const char *fence_method_name(enum fence_method m);
const char *fence_status_name(enum fence_status s);
const char *fence_action_name(enum fence_action a);
const char *fence_loss_name(enum fence_loss l);
const char *fence_claim_action_name(enum fence_claim_action a);
/* "ontap" -> FENCE_METHOD_ONTAP; -EINVAL. */
int fence_method_from_name(const char *s, enum fence_method *out);
