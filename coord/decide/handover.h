/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hand-over of a live migration: when the VM's ownership passes from the migration's source
 * to its target, when the migration is dropped (the VM stays with its source), and when the
 * source is asked to abort it. A pure function of (the VM's ownership record, placement's
 * decision for it, what the source and the target report) -> one verdict. The leader
 * (agent/vms-leader.c) runs it on every pass for every VM of the spec and records the verdict;
 * nothing here reads a clock, a file or libvirt.
 *
 * THE SAFETY RULE: at every instant exactly one node is responsible for the VM. The record has
 * one owner; during a migration it is the SOURCE, and `migrating_to` names the target, which
 * receives the domain from libvirt but never starts nor stops it on its own. The owner changes
 * in one record patch, and only to the target, and only on facts that say the domain has left
 * the source:
 *   - the source reports THIS migration (its id) done and the target reports the domain running
 *     (a target whose listing is late only delays the hand-over). A target whose host died
 *     after the switch-over never says so: the migration waits until the target is FENCED (a
 *     confirmed fence: it runs nothing), then fails (the VM restarts on its source); a target
 *     that came back from a crash unfenced keeps it waiting -- a known gap until the HA issue
 *     fences such hosts;
 *   - or the source reports the domain not running (its listing is in), reports no job of this
 *     migration still running, and the target reports it running: the source's report was
 *     lost (its kvmcd restarted while libvirtd finished the job alone).
 * Both reporting it running is never a hand-over: the source keeps it until it reports it gone.
 *
 * A migration is dropped (FAILED: the owner stays the source, the reason is kept for status:
 * never a silent stop and start) when
 *   - the source reports this migration failed (aborted at its deadline, the target killed,
 *     refused by the target's libvirtd, abandoned) and still runs the domain;
 *   - or the source's listing says it does not run the domain, no job of this migration runs
 *     there, and the target's listing (known) says it does not run it either, or the target is
 *     fenced: the VM died on the way; placement then restarts it on its owner.
 * A report of another migration id (an earlier migration of the same VM) is ignored.
 *
 * Placement (coord/decide/placement.h) has the last word on whether a migration may go on: when
 * its decision keeps the source as owner but drops `migrating_to` (the target left the view, was
 * drained, fenced or is avoided now; the VM was stopped in the spec), the migration is ABORTED:
 * the record keeps it with `abort` set, the source aborts its job and reports it failed, and the
 * migration ends as above. When placement gives the VM another owner (the source was fenced: the
 * target takes it over), the record is placement's (NONE). Until the source's report or listing
 * says more, the migration GOES ON; a source that left the view reports nothing, so its
 * migration waits (its owner too, placement says why) until it is back or fenced.
 *
 * Deadlines: the source bounds its own job ([vms] migration_timeout: libvirt's job is aborted
 * and reported failed, "did not finish within N s: aborted"), so the leader needs no clock: a
 * migration past its deadline ends as a failure the source reports.
 *
 * A record of a VM that left the spec (`removed`) is never settled: no node starts it, every
 * member stops and undefines its domain, the source's job ends on its own. The record is
 * FORGOTTEN once no member reports the domain running AND its owner and migration target are
 * members (an owner whose kvmcd is away may still run it); it is LEFT as it is until then: it
 * still names who may run it, should the VM come back to the spec before that node does.
 *
 * Stateless: the same input gives the same verdict, so a new leader that reads the same records
 * and the same sections decides the same (a verdict whose patch was lost is decided again).
 */
#pragma once

#include <stdbool.h>

/* The source's report of its migration job (its section's vms.NAME.migration.state). Never
 * renumbered. */
enum handover_job {
	HANDOVER_JOB_NONE,               /* no report (none, or of another migration id) */
	HANDOVER_JOB_RUNNING,
	HANDOVER_JOB_DONE,
	HANDOVER_JOB_FAILED,
	_HANDOVER_JOB_MAX,
};

/* Everything is borrowed for the duration of the call. */
struct handover_input {
	const char *vm;
	bool removed;                    /* the VM is not in the spec any more */
	bool runs_anywhere;              /* removed only: some member reports the domain running */
	bool source_member, target_member; /* removed only: the owner / the target is a member */
	/* the record, records["vm/NAME"] */
	const char *owner;               /* NULL: none */
	const char *migrating_to;        /* NULL: no migration in flight */
	const char *id;                  /* migration.id */
	const char *abort;               /* migration.abort: the source was asked to abort (why) */
	/* placement's decision for the VM, over the same state */
	const char *decided_owner;
	const char *decided_migrating_to;/* NULL: placement does not let the migration go on */
	const char *decided_reason;      /* why (for the abort) */
	/* What the two ends report of the domain: "running", "paused", "shutoff", "undefined", ...;
	 * "unknown": its libvirtd not listed yet, or not since that node's last domain op on it
	 * ended (agent/vms.c); NULL: it reports nothing (not a member). "paused"
	 * counts as running (a target's incoming domain is paused until the switch-over). */
	const char *source_state;
	const char *target_state;
	bool target_fenced;              /* a confirmed fence of the target: it runs nothing */
	/* the source's report of a migration job */
	const char *job_id;              /* the migration it reports (NULL: none) */
	enum handover_job job;
	const char *job_error;           /* failed: why */
};

/* Never renumbered. */
enum handover_verdict {
	HANDOVER_NONE,                   /* no migration to settle: the record is placement's */
	HANDOVER_GO_ON,                  /* in flight: the record stays as it is */
	HANDOVER_ABORT,                  /* in flight, abandoned: record migration.abort = why */
	HANDOVER_DONE,                   /* owner = the target; the migration ends well */
	HANDOVER_FAILED,                 /* the migration ends; owner stays the source; why */
	HANDOVER_FORGET,                 /* removed and runs nowhere: the record is deleted */
	HANDOVER_LEAVE,                  /* removed and still runs somewhere: the record stays */
	_HANDOVER_VERDICT_MAX,
};

struct handover_decision {
	enum handover_verdict verdict;
	bool from_report;                /* DONE: the source reported it (its numbers are the
					    migration's); false: settled from the listings */
	char *why;                       /* owned: ABORT and FAILED: words for the user; else NULL */
};

/*
 * Decides. Returns 0 and *out (out->why owned: handover_decision_clear), -EINVAL (NULL in or
 * out, no vm name, a job state out of range), -ENOMEM. *out is written only on success.
 */
int handover_decide(const struct handover_input *in, struct handover_decision *out);
void handover_decision_clear(struct handover_decision *d);
/* "none", "go-on", "abort", "done", "failed", "forget", "leave"; NULL out of range. Static. */
const char *handover_verdict_name(enum handover_verdict v);
/* "none", "running", "done", "failed"; NULL out of range. Static. */
const char *handover_job_name(enum handover_job j);
/* Whether a reported domain state counts as running ("running", "paused"). */
bool handover_state_running(const char *state);
/* Whether a member that reports this state may run the domain: running, or not listed yet
 * ("unknown": a kvmcd that has just started). What placement's `running` of an owner must be
 * (placement.h): an owner that has not listed yet keeps what it may run. */
bool handover_state_may_run(const char *state);
/* A VM placement stops (no migration in flight): whether its owner's report says it is down,
 * so the ownership may be cleared. Only a listing says so: "unknown" (a kvmcd that has just
 * started and not listed its libvirtd yet) is not down -- cleared on it, the VM could be placed
 * elsewhere while it still runs there. */
bool handover_stop_done(const char *owner_state);
