/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Placement and ownership: where each VM of the spec runs, and who is responsible for it. A pure
 * function of (the spec's VMs, the nodes with their capacity and state, the current ownership)
 * -> one decision per VM. The leader runs it (agent/vms.c) whenever an input changes and records
 * the owners it decides in the replicated state; a node starts a domain only when that state
 * says it owns it. Nothing here reads a clock, a file or libvirt: the caller gathers the facts.
 *
 * THE SAFETY RULE: a VM never runs on two hosts. Placement keeps it by never giving a VM a new
 * owner while the old one may still run it:
 *   - a running VM stays with its owner (placement alone never moves a VM; only a migration
 *     planned by placement_drain() / placement_rebalance() and performed by the caller does,
 *     and the owner stays the source until the caller records the hand-over);
 *   - a VM whose owner left the quorate view (or is not a node of the input at all) WAITS with
 *     that owner, whatever its capacity, rules or priority, until the owner is back or the
 *     caller marks it `fenced` (the HA issue's fencing: a confirmed fence means the host is
 *     dead and ran nothing since). Only then is it placed again;
 *   - a VM owned by a live node that has not started it yet stays with that node (that node may
 *     be starting it right now); if the node became unusable (drained, maintenance) the node
 *     is told to STOP it, and only once the caller has cleared that ownership is it placed
 *     elsewhere;
 *   - a migration in flight keeps the source as owner. When the source is fenced the target
 *     takes the VM over (it may already run it: the hand-over may have been lost with the
 *     source); when the source does not run it any more and the target left the view, it waits.
 *
 * Decisions, per VM (struct placement_decision):
 *   keep      nothing to do: it runs on `owner` (or, stopped in the spec, has no owner)
 *   start-on  `owner` starts it (a new owner, or the owner that has not started it yet)
 *   stop      `owner` stops it (it is stopped in the spec, or the owner was drained before it
 *             started it); once the domain is down the caller clears the ownership
 *   wait      it cannot run now; `reason` says why in words a user reads in `kvmcctl vm list`;
 *             `owner` is kept when there is one (that node may still run it)
 * `reason` may accompany any action ("runs on kvm1, which it avoids: kvmcctl cluster rebalance
 * moves it"); it is NULL when there is nothing to say.
 *
 * Decisions hold for the input they were computed from: the caller records them (one leader
 * patch) against the ownership records it read, and computes again after any change -- an old
 * decision applied after a migration finished or a node left could start a second copy.
 *
 * Where a VM without an owner goes (started in the spec; stopped VMs get no owner):
 *   - eligible nodes: members of the quorate view, not fenced, not drained, not in maintenance,
 *     not in the VM's `avoid` (strict: never, whatever else is full — an avoid that should
 *     bend is a `prefer` of the other nodes), not running (or receiving by migration) a VM it
 *     has anti-affinity with, with the memory and vCPUs it needs free;
 *   - capacity: a node's memory_mib / vcpus are what it gives to the VMs of the spec (the caller
 *     takes the host's own reserve, foreign domains and any vCPU overcommit into account). What
 *     is used is the sum over the VMs it owns (running, starting, stopping, or waiting with it
 *     as owner) and those migrating to it (a migration holds room on both ends);
 *   - among the eligible nodes: the VM's `prefer` nodes first, in its order; then the least
 *     loaded: the lowest share of memory in use with the VM on it, then of vCPUs, then the
 *     node's name (so the same input always gives the same output, in any input order);
 *   - order: higher `ha.priority` first, then the name. A VM that cannot be placed does not hold
 *     back the ones after it. Priority never stops or moves a running VM (no preemption): when
 *     capacity is short the lower-priority VMs wait, with the reason;
 *   - affinity (strict, symmetric, transitive: the started VMs linked by `affinity` form a
 *     group that runs on one node). A group with members already owned goes where they are; when
 *     they are on several nodes (a rule added while they ran) the others wait. A group with no
 *     owner yet is placed whole on one node that takes all of it (a node ranks by the best rank
 *     any member's `prefer` gives it), or waits whole. A stopped partner imposes nothing; a
 *     partner that waits makes its group wait. A group whose members are also anti-affine to
 *     each other can never be met: they wait, and say so;
 *   - anti-affinity (strict, symmetric): never on a node that runs or receives the other VM;
 *   - a node coming back (member again, unfenced, undrained) pulls nothing back: running VMs
 *     stay where they are; only an explicit rebalance moves them to their preferred nodes.
 *   - ha.enabled false: when its owner is fenced, the VM is not restarted elsewhere: it waits
 *     with that owner and starts there again once the node is back (unfenced and a member).
 * Rules are enforced for every new placement and every migration planned; a running VM that
 * breaks one (the spec changed under it) keeps running and says so in `reason`; the rebalance
 * plan moves it.
 *
 * Names in prefer / avoid / affinity / anti_affinity that are not nodes / started VMs of the
 * input, and a VM named in its own rules, are ignored (the spec's validation refuses them; the
 * core must still not trip over them). An ownership record of a VM that is not in the input is
 * ignored.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A VM of the spec. Every pointer is borrowed for the duration of the call. */
struct placement_vm {
	const char *name;                /* unique */
	bool started;                    /* the spec's state: started (true) or stopped */
	uint64_t memory_mib;             /* what it needs */
	unsigned vcpus;
	const char *const *prefer; size_t n_prefer;          /* node names, most preferred first */
	const char *const *avoid; size_t n_avoid;            /* node names: never there */
	const char *const *anti_affinity; size_t n_anti_affinity; /* VM names: never on one node */
	const char *const *affinity; size_t n_affinity;      /* VM names: always on one node */
	bool ha_enabled;                 /* spec default true */
	int ha_priority;                 /* higher first; spec default 0 */
};

/* A node: from the spec's nodes, the view, the node's own inventory and the HA records. */
struct placement_node {
	const char *name;                /* unique; borrowed */
	bool member;                     /* its kvmcd is in the quorate view now */
	uint64_t memory_mib;             /* memory it gives to the VMs of the spec, in all */
	unsigned vcpus;                  /* vCPUs it gives to them (after any overcommit) */
	bool drained;                    /* `kvmcctl node drain`: no new VMs, running ones leave */
	bool maintenance;                /* maintenance: the same, and it survives a restart */
	bool fenced;                     /* a confirmed fence: it runs nothing, may be re-placed
					    from; the caller clears it when the node is back clean */
};

/* The current ownership of one VM, as recorded in the replicated state, with the owner's own
 * report. Borrowed. */
struct placement_owner {
	const char *vm;
	const char *node;                /* the owner (a live migration: its source) */
	bool running;                    /* the owner reports the domain running there (only read
					    while the owner is a live member) */
	const char *migrating_to;        /* a live migration node -> migrating_to in flight; NULL */
};

struct placement_input {
	const struct placement_vm *vms; size_t n_vms;
	const struct placement_node *nodes; size_t n_nodes;
	const struct placement_owner *owners; size_t n_owners;    /* at most one per VM */
};

/* Never renumbered. */
enum placement_action {
	PLACEMENT_KEEP,
	PLACEMENT_START_ON,
	PLACEMENT_STOP,
	PLACEMENT_WAIT,
	_PLACEMENT_ACTION_MAX,
};

/* One decision. Every string is owned by the result (placement_result_free). */
struct placement_decision {
	char *vm;
	enum placement_action action;
	char *owner;                     /* the node responsible for it after this decision; NULL:
					    none (it may then be placed by the next call) */
	char *migrating_to;              /* the migration in flight may go on; NULL while the input
					    had one: the owner abandons it (reason says why) */
	char *reason;                    /* for status; NULL when there is nothing to say */
};

struct placement_result {
	struct placement_decision *decisions; size_t n_decisions; /* one per input VM, same order */
};

/*
 * Decides every VM. Returns 0 and *out (owned: placement_result_free), -EINVAL when the input
 * is malformed (a NULL or duplicate VM or node name, two ownership records for one VM, a
 * record without a node), -ENOMEM. *out is written only on success.
 */
int placement_place(const struct placement_input *in, struct placement_result **out);
void placement_result_free(struct placement_result *r);
/* "keep", "start-on", "stop", "wait"; NULL out of range. Static. */
const char *placement_action_name(enum placement_action a);

/*
 * Migrations: the explicit moves. Both functions plan live migrations of RUNNING VMs only
 * (started in the spec, owner a live member reporting it running, no migration in flight), and
 * never more than the limits allow together with the migrations already in flight:
 *
 *   placement_drain()      VMs on drained or maintenance nodes, to other eligible nodes
 *                          (`kvmcctl node drain`). An affinity group leaves together: to the
 *                          node where the rest of its group runs, or to one node that takes all
 *                          of it.
 *   placement_rebalance()  the drain's moves, then (`kvmcctl cluster rebalance [--dry-run]`;
 *                          a dry run prints the plan instead of performing it):
 *                          rules broken by running VMs (a VM on a node it avoids; two
 *                          anti-affine VMs on one node: the lower priority, then later name,
 *                          moves; an affinity group split over nodes: it gathers on the node
 *                          holding most of it), VMs not on their most preferred eligible node
 *                          (this is the only way a node coming back gets its VMs back), then
 *                          load: a VM moves from the most loaded node (share of memory) when
 *                          the target's share with it stays at least `balance_gap` points
 *                          below the source's (so a plan never asks to move it back), and never
 *                          to a node it prefers less. Members of affinity groups move only to
 *                          keep or restore their group (a group with anti-affinity inside it
 *                          can never be met: its members move one by one, keeping the
 *                          anti-affinity).
 *
 * Every target is eligible for the VM by the rules of placement_place(), counting the moves
 * planned before it (a migration holds room on both ends until it completes). In one plan a VM
 * moves at most once, in order: higher priority first, then name. The caller records
 * `migrating_to` for each move it starts, and the hand-over (owner = target) when it
 * completes; calling again after migrations finish continues the drain.
 */
struct placement_limits {
	unsigned per_node;               /* migrations with one node as source or target, >= 1 */
	unsigned per_cluster;            /* migrations in the whole cluster, >= 1 */
	unsigned balance_gap;            /* percentage points of memory share, 1..100 */
};
#define PLACEMENT_LIMITS_DEFAULT { .per_node = 1, .per_cluster = 4, .balance_gap = 10 }

/* What a plan does not do, and why (owned strings). */
struct placement_stuck {
	char *vm;
	char *why;                       /* "drained kvm1: no eligible node: kvm2 has 1024 of 4096 MiB free" */
};

struct placement_move {
	char *vm, *from, *to;            /* owned */
	char *why;                       /* "kvm1 is drained", "avoids kvm1", "anti-affinity with vm2",
					    "affinity with vm2", "prefers kvm1", "balance: kvm1 75% -> ..." */
};

struct placement_plan {
	struct placement_move *moves; size_t n_moves;        /* in the order to start them */
	struct placement_stuck *stuck; size_t n_stuck;       /* must move but cannot (no target) */
	size_t n_in_flight;              /* migrations of the input still in flight */
	size_t n_deferred;               /* wanted moves held back by the limits (not counting
					    load balance, which is recomputed next time) */
};

/* Return 0 and *out (owned: placement_plan_free), -EINVAL (malformed input as for
 * placement_place, or limits out of range), -ENOMEM. NULL lim: PLACEMENT_LIMITS_DEFAULT. */
int placement_drain(const struct placement_input *in, const struct placement_limits *lim,
		    struct placement_plan **out);
int placement_rebalance(const struct placement_input *in, const struct placement_limits *lim,
			struct placement_plan **out);
void placement_plan_free(struct placement_plan *p);

/*
 * An explicit move (`kvmcctl vm migrate VM NODE`): may `vm` live-migrate to node `to` now? By the
 * same rules as every target the plans choose: the VM is started in the spec, its owner a live
 * member reporting it running, no migration in flight for it, and placement keeps it there; `to`
 * is another node, eligible for it (a member, not fenced, drained or in maintenance, not in its
 * `avoid`, not running or receiving a VM it has anti-affinity with, with the memory and vCPUs it
 * needs free -- a migration holds room on both ends); a member of an affinity group moves alone
 * only to where the rest of its group runs; and the limits (lim; NULL: no limits) leave room
 * for one more migration with its owner and `to` as ends, counting those in flight.
 * The limits are checked before `to`'s eligibility: a request beyond them is refused for them.
 * Returns 0 (it may), or a negative errno with *why (owned) in words for the user:
 *   -ENOENT    no VM or no node of that name in the input
 *   -EALREADY  it runs on `to` already
 *   -EBUSY     it cannot move now: stopped, not running, waiting, migrating already, or the
 *              limits are reached ("n1 has 1 migration in flight (limit 1 per node)")
 *   -EPERM     `to` is not eligible for it ("n3 runs vm2 (anti-affinity)", "n3 is drained")
 * and -EINVAL (malformed input, as placement_place), -ENOMEM without *why. *why is written only
 * with those four.
 */
int placement_check_move(const struct placement_input *in, const struct placement_limits *lim, const char *vm,
			 const char *to, char **why);
