/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The snapshot scheduler (issue 10): which snapshot and SnapMirror update runs are due, which
 * snapshots retention deletes, and when to look again. A pure core (STYLE.md 3): no clock, no
 * I/O, no globals. The acting leader calls sched_decide() whenever an input changes (the spec,
 * its records, a snapshot listing) and at `wake`, passing CLOCK_REALTIME as `now`: snapshot
 * slots are wall-clock times (an admin's "every hour at :00", cron in UTC), so `now` CAN JUMP,
 * forward and back, and every rule below holds when it does.
 *
 * ---- Slots and names ----------------------------------------------------------------------
 * A schedule (protection.h: "every" or "cron") fires at SLOTS: whole-minute UTC times
 * (sched_slot_prev / sched_slot_next; "every" slots are multiples of the interval since the
 * epoch). A run is FOR a slot, and its snapshot is named after the policy, the schedule's label
 * and the slot, never the time it was taken:
 *
 *     kvmcd.<policy>.<label>.<YYYYmmddTHHMMZ>        e.g. kvmcd.gold.1h.20250301T1400Z
 *
 * so a retry, a resumed run or a second leader computes the same name and finds the snapshot
 * already taken: ONE snapshot per slot, whoever runs it, however often. sched_snapshot_parse()
 * reads a name back (strictly: anything else is foreign); retention goes by it alone.
 *
 * ---- What the leader records, and in which order (the caller's half of exactly once) -------
 * One record per (policy, label) -- the mirror's own update schedule under SCHED_MIRROR_LABEL --
 * with two slots: `started` and `done` (struct sched_record). For each run sched_decide()
 * returns, the leader:
 *   1. commits started = slot (replicated, persisted) BEFORE it touches ONTAP or a guest;
 *   2. does the run: the snapshot by its name on every datastore of the policy (a consistency
 *      group snapshot; with `vm` consistency, freeze/thaw around it), each step idempotent --
 *      a snapshot of that name that exists is success, not an error;
 *   3. commits done = slot only once the snapshot exists on every datastore (and, with
 *      "after-snapshot", the mirror update was started).
 * Then a leader that dies at any point leaves either started == done (nothing in flight: the
 * next slot is computed from done) or started > done (the run is RESUMED under the same name:
 * step 2 finds what was already taken). Nothing is skipped (a started slot is resumed even
 * when later slots are due) and nothing is doubled (a slot at or before `done` never runs
 * again). Records of another schedule, of labels no policy has, are ignored (not deleted here).
 *
 * ---- Which run is due: the rules, and why ---------------------------------------------------
 * Per schedule, with D = done, S = started (SCHED_NONE when never), L = the latest slot <= now:
 *   R1 Resume first: S > D (or D none) -> the run for S is due (why RESUME) as soon as
 *      now >= S, whatever catch_up says (it began: finishing it is not a catch-up). While now < S
 *      (the clock went back after it began) nothing runs for that schedule: a slot never runs
 *      before its time. One run per schedule at a time: later slots wait for its `done`.
 *   R2 Never again: no slot <= D runs. When D > now (the clock went back after it ran), nothing
 *      runs until the first slot after D: status.clock_behind says so (a long wait when the
 *      clock had jumped far ahead -- the record cannot tell which slots between were really
 *      done, so it never guesses; an admin sees it in `kvmcctl protection status`).
 *   R3 Never early: no slot > now runs.
 *   R4 The due slot is L, once: of the slots in (D, L] only the LATEST runs -- one snapshot now
 *      is what protection needs, not a burst of backdated ones. The others are MISSED
 *      (status.missed counts them): slots no leader ran while the cluster was down, or while
 *      the clock jumped forward over them.
 *   R5 catch_up: `once` (default) runs L even when it is late (why CATCH_UP: now - L > grace;
 *      else DUE). `skip` runs L only when it is on time: now - L <= grace
 *      (in->grace, SCHED_GRACE_DEFAULT): a leader change or a slow pass is never "missed", a
 *      cluster that was down past the grace goes on with the next slot. The grace must cover
 *      how late a pass can come after its wake-up and a leader change takes (an election, the
 *      new leader's first pass), else `skip` skips slots of a healthy cluster.
 *   R6 A schedule without any record (new, or its label changed) runs L now (why FIRST) under
 *      `once` (protection starts when the policy is applied), or when on time under `skip`; no
 *      slot before it counts as missed.
 * Several schedules of one policy are independent (each its own label, records and names): a
 * "1h" and a "1d" both due at 00:00 are two runs, two snapshots.
 *
 * ---- Retention ----------------------------------------------------------------------------
 * Per policy, label and datastore, from the snapshots ONTAP lists (in->snapshots):
 *   - only names sched_snapshot_parse() reads as THIS policy's are considered; anything else
 *     (the admin's, another policy's, another tool's) is never touched nor reported;
 *   - of a label that is a schedule of the policy, on a datastore the policy protects, the
 *     `keep` newest by slot stay and the older ones are deleted, oldest first;
 *   - one ONTAP reports busy (a FlexClone's parent, a SnapMirror base: in->snapshots[].busy)
 *     is not deleted but reported in kept[] (SCHED_KEPT_BUSY), and does not make a newer one
 *     go in its place; the next listing that shows it free has it deleted -- never a retry loop
 *     against ONTAP's refusal;
 *   - the policy's snapshots of a label it no longer has (a schedule removed or relabelled) or
 *     on a datastore it no longer protects are kept and reported (SCHED_KEPT_NO_SCHEDULE,
 *     SCHED_KEPT_NO_DATASTORE): deleting a schedule never deletes its snapshots silently.
 * A listing read before a run finished may lack the newest snapshot: retention then keeps one
 * more, never fewer.
 *
 * ---- The wake-up ---------------------------------------------------------------------------
 * out->wake is the earliest time a decision may change by the clock alone: the next slot of
 * any schedule after now (after D when the clock is behind), or a started slot still ahead.
 * INT64_MAX when nothing is scheduled. A timer set on the monotonic clock for wake - now is
 * enough; after a clock jump the leader calls again (any call is safe: the output depends
 * only on the input).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protection.h"

#define SCHED_NONE INT64_MIN
#define SCHED_MIRROR_LABEL "+snapmirror" /* the record of a mirror's own update schedule: never a
					    schedule label (those start with a letter or digit) */
#define SCHED_GRACE_DEFAULT 300          /* seconds a slot is on time for catch_up skip */
#define SCHED_MISSED_CAP 1000u           /* missed slots counted at most (then "1000 or more") */
/* "kvmcd." + policy + "." + label + "." + "YYYYmmddTHHMMZ" + NUL */
#define SCHED_NAME_MAX (6 + PROT_NAME_MAX + 1 + PROT_LABEL_MAX + 1 + 14 + 1)
#define SCHED_SLOT_TEXT 18u              /* "YYYY-mm-ddTHH:MMZ" + NUL (sched_slot_format) */

/* The leader's record of one schedule. Strings borrowed. */
struct sched_record {
	const char *policy;
	const char *label;    /* a schedule's label, or SCHED_MIRROR_LABEL */
	int64_t started;      /* slot of the last run begun; SCHED_NONE: never */
	int64_t done;         /* slot of the last run completed; SCHED_NONE: never */
};

/* One snapshot ONTAP lists on a datastore's volume. Strings borrowed. */
struct sched_snapshot {
	const char *datastore;
	const char *name;
	bool busy;            /* ONTAP reports it in use (a clone's parent, a SnapMirror base) */
};

struct sched_input {
	const struct prot_policy *policies;  /* prot_spec_list() of the spec in force */
	size_t n_policies;
	const struct sched_record *records;  /* at most one per (policy, label); others ignored */
	size_t n_records;
	const struct sched_snapshot *snapshots; /* every snapshot of the policies' datastores */
	size_t n_snapshots;
	int64_t now;                         /* UTC seconds, 0 .. PROT_TIME_MAX */
	int64_t grace;                       /* R5; >= 0 */
};

enum sched_kind { SCHED_SNAPSHOT, SCHED_MIRROR_UPDATE };
enum sched_why {
	SCHED_DUE,       /* the latest slot, on time (missed ones before it are in the status) */
	SCHED_CATCH_UP,  /* the latest slot, after its grace (catch_up once) */
	SCHED_RESUME,    /* a slot begun and not completed (R1) */
	SCHED_FIRST,     /* the first run of a schedule without a record (R6) */
};

/* A run that is due now. */
struct sched_run {
	size_t policy;                /* index into in->policies */
	size_t schedule;              /* index into its schedules; n_schedules: the mirror update */
	enum sched_kind kind;
	enum sched_why why;
	int64_t slot;
	char name[SCHED_NAME_MAX];    /* the snapshot's name; "" for a mirror update */
};

/* Every schedule's state, for `kvmcctl protection status` and the leader's log. */
struct sched_status {
	size_t policy, schedule;      /* as in sched_run */
	int64_t due;                  /* the slot of its run in runs[], SCHED_NONE */
	int64_t next;                 /* the next slot it will run after what is due now (> now) */
	unsigned missed;              /* slots that will never run (R4, R5), at most SCHED_MISSED_CAP */
	int64_t missed_first, missed_last; /* SCHED_NONE when missed == 0 */
	bool clock_behind;            /* R1 / R2: waiting for the clock to pass a recorded slot */
};

struct sched_delete {
	size_t policy, schedule;
	const char *datastore;        /* borrowed from in->snapshots */
	const char *name;             /* borrowed from in->snapshots */
	int64_t slot;
};

enum sched_kept_why { SCHED_KEPT_BUSY, SCHED_KEPT_NO_SCHEDULE, SCHED_KEPT_NO_DATASTORE };
struct sched_kept {
	size_t policy;
	const char *datastore, *name; /* borrowed from in->snapshots */
	enum sched_kept_why why;
};

/* Everything owned by the struct; sched_result_clear() frees it (accepts a zeroed one). */
struct sched_result {
	struct sched_run *runs;       /* in policy, then schedule order (the mirror last) */
	size_t n_runs;
	struct sched_status *status;  /* one per schedule (and mirror update schedule) */
	size_t n_status;
	struct sched_delete *deletes; /* per policy, schedule, datastore: oldest first */
	size_t n_deletes;
	struct sched_kept *kept;
	size_t n_kept;
	int64_t wake;                 /* INT64_MAX: nothing scheduled */
};

/*
 * The decisions for in (above). Returns 0; -EINVAL for an input that breaks its contract (now
 * out of range, grace < 0, a policy without its arrays), -ENOMEM. Writes *out only on success
 * (the caller clears it).
 */
int sched_decide(const struct sched_input *in, struct sched_result *out);
void sched_result_clear(struct sched_result *r);

/* The latest slot of t at or before `at`, the first one after `at`: SCHED_NONE when there is
 * none (before the epoch, after PROT_TIME_MAX, a cron that does not fire). */
int64_t sched_slot_prev(const struct prot_timing *t, int64_t at);
int64_t sched_slot_next(const struct prot_timing *t, int64_t at);

/* kvmcd.<policy>.<label>.<slot>; buf has SCHED_NAME_MAX bytes. -EINVAL when a part breaks its
 * rule (protection.h) or slot is not a whole minute in 0 .. PROT_TIME_MAX. */
int sched_snapshot_name(const char *policy, const char *label, int64_t slot, char *buf);
/* The reverse, strictly (the name must be exactly what sched_snapshot_name() would write):
 * policy has PROT_NAME_MAX + 1 bytes, label PROT_LABEL_MAX + 1. -EINVAL: not kvmcd's. Writes
 * the outputs only on success. */
int sched_snapshot_parse(const char *name, char *policy, char *label, int64_t *slot);

/* "2025-03-01T14:00Z" (SCHED_SLOT_TEXT bytes), "none" for SCHED_NONE. Returns buf. */
const char *sched_slot_format(int64_t slot, char *buf);
/* The reverse: exactly that form, a real date; -EINVAL otherwise. Writes *slot on success. */
int sched_slot_scan(const char *text, int64_t *slot);
/* "due", "catch-up", "resume", "first"; "busy", "no-schedule", "no-datastore"; "unknown" out of range. */
const char *sched_why_name(enum sched_why w);
const char *sched_kept_name(enum sched_kept_why w);
