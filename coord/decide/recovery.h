/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HA recovery (issue 9): what happens to the VMs of a fenced node. A pure function of (the
 * placement input, each VM's HA limits and HA record, armed or not) -> (placement's decisions,
 * each VM's new HA record). It COMPOSES with placement instead of duplicating it: recovery
 * rewrites a copy of placement's input -- which VMs placement sees as started, with HA on, which
 * nodes a VM avoids -- calls placement_place() on it, then counts what placement decided and
 * gives the VMs it held back its own reason. Placement is unchanged: its safety rule (a VM
 * whose owner left the view waits with that owner until the owner is back or `fenced`) is what
 * keeps "ownership moves only after the fence is confirmed": the caller sets a node's
 * `fenced` exactly when its fence record (fence.h) is CONFIRMED or UNFENCING (never RELEASING:
 * a fence dropped before it was confirmed), and nothing else
 * here can give a VM a new owner.
 *
 * Per VM (started in the spec; a VM stopped in the spec ends its incident and its hold):
 *   - held (its HA record says HA stopped it): placement sees it stopped, so it has no owner and
 *     runs nowhere; the reason says why. The hold stays until the user starts the VM again
 *     (`kvmcctl vm start` clears it; so does stopping it in the spec);
 *   - its owner is fenced, HA armed:
 *       HA off        held: "its node N was fenced and HA is off for it: stopped" (the issue:
 *                     a non-HA VM of a fenced node becomes stopped with a reason, rather than
 *                     starting again by surprise when the node comes back);
 *       HA on         an incident begins (failed_on = the node). With tries left it is
 *                     released to placement, which places it on the survivors in priority
 *                     order by its rules, or lets it wait (no owner) with its reason until a
 *                     node can take it -- the fenced node too, once it is back clean. With
 *                     no try left (restarts >= max_restart and relocations >= max_relocate)
 *                     it is held: "stopped: ...";
 *       a migration in flight to a live target: placement's take-over (the target may run it
 *                     already); not an HA start, nothing is counted;
 *   - its owner is fenced, HA disarmed: nothing moves: placement sees it with HA off, so it
 *     waits with its fenced owner ("HA is disarmed: ..."); no hold is made while disarmed;
 *   - during an incident (failed_on set): a start on the failed node counts a restart, a start
 *     elsewhere a relocation (counted when placement gives it that new owner: one leader patch
 *     records both). Restarts used up: placement sees the failed node in its `avoid`; relocations
 *     used up: every other node. The incident ends -- counters back to 0 -- once it runs again
 *     (placement keeps it on a live owner that reports it running). So max_restart and
 *     max_relocate bound the HA starts that do not lead to a running VM (its new node failing
 *     too before it ran, as Proxmox VE counts its tries), never how many node failures a VM
 *     survives over its life.
 * Everything else is placement's own decision, passed through unchanged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "placement.h"

/* A VM's HA limits (the spec's ha.max_restart / ha.max_relocate) and HA record. Borrowed. */
struct recovery_vm {
	const char *name;                /* a VM of the placement input */
	unsigned max_restart;            /* starts on the failed node per incident */
	unsigned max_relocate;           /* starts on other nodes per incident */
	/* the record (records[vm/NAME] "ha"): */
	const char *failed_on;           /* the fenced node that began the incident; NULL: none */
	unsigned restarts, relocations;  /* HA starts in this incident */
	const char *held;                /* HA stopped it, for this reason; NULL: not held */
};

struct recovery_input {
	const struct placement_input *placement; /* the facts; node.fenced: its fence is confirmed
						    (CONFIRMED or UNFENCING; not RELEASING) */
	const struct recovery_vm *vms; size_t n_vms; /* at most one per placement VM; a VM without
							one: max 1 / 1, no record */
	bool armed;
};

/* One VM's HA state after this decision. Strings owned by the result. */
struct recovery_vm_result {
	char *vm;
	bool changed;                    /* record it */
	char *failed_on;
	unsigned restarts, relocations;
	char *held;
};

struct recovery_result {
	struct placement_result *placement; /* owned; decisions to record as placement's, with HA's
					       reason where HA decided */
	struct recovery_vm_result *vms; size_t n_vms; /* one per placement VM, same order */
};

/*
 * Decides. Returns 0 and *out (owned: recovery_result_free); -EINVAL for malformed input
 * (placement's rules; a recovery VM without a name, naming no VM of the input, or two for one
 * VM); -ENOMEM. *out only on success.
 */
int recovery_decide(const struct recovery_input *in, struct recovery_result **out);
void recovery_result_free(struct recovery_result *r);
