/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's "protection": scheduled snapshots with retention, optionally replicated by
 * SnapMirror (issue 10). Other tools read and write these names; they are an interface:
 *
 *   "protection": [ {
 *       "name": "[a-z][a-z0-9_-]{0,39}",           unique; part of every snapshot name
 *       "datastores": [ datastore names ]           exactly one of the two: the datastores
 *     | "vms": [ VM names ],                        protected (a VM stands for the datastores
 *                                                   its disks are on, resolved by prot_spec_list)
 *       "schedules": [ {                            1..PROT_MAX_SCHEDULES
 *           "every": "15m" | "1h" | "1d" | ...      digits + ONE unit s m h d w, whole minutes,
 *                                                   1m .. 366d; slots are multiples of it since
 *                                                   the Unix epoch, UTC (so "1h" is at :00,
 *                                                   "1d" at 00:00 UTC, "1w" on Thursdays)
 *         | "cron": "0 0-23/4 * * *",                5 fields, UTC (prot_cron_parse below)
 *           "keep": N,                              1..PROT_KEEP_MAX snapshots of THIS schedule
 *           "label": "[a-z0-9][a-z0-9_-]{0,23}"     optional; in the snapshot names (below)
 *       } ],
 *       "consistency": "crash" (default) | "vm",
 *       "catch_up": "once" (default) | "skip",      slots missed while no leader ran them
 *       "snapmirror": {                             optional
 *           "destination_svm": "svm_dr",            required
 *           "destination_volume_suffix": "_dr"      default "_dr": <source volume><suffix>
 *         | "destination_volume": "vol",            one volume: only for ONE datastore
 *           "policy": "MirrorAllSnapshots",         default; the ONTAP SnapMirror policy
 *           "rpo": "30m",                           optional: the lag watched (a duration)
 *           "update": "after-snapshot" (default) | { "every": ... } | { "cron": ... }
 *       }
 *   } ]
 *
 * Snapshot names (coord/decide/schedule.h builds and parses them): kvmcd.<policy>.<label>.
 * <YYYYmmddTHHMMZ of the SLOT>. A schedule's label is its "label", else for "every" the
 * interval in the largest of m h d that divides it ("60m" and "1h" are both "1h", "1w" is
 * "7d"), else for "cron" "cron-" + 8 hex digits of a hash of its five fields (FNV-1a 32 of the
 * fields joined by one blank): stable when schedules are reordered or others added, so the
 * snapshots a schedule took stay its own. Changing a schedule's label (or its "every" without a
 * label, or its cron text) makes a new schedule: the old one's snapshots are kept, never deleted
 * by retention (schedule.h), until `kvmcctl snapshot delete`.
 *
 * Validation (spec_validate, in spec.c) refuses the whole spec, listing every problem with its
 * JSON path, before anything is touched. Pure: no I/O, no clock.
 *
 * The rules, precisely:
 *   - Any key other than those above, in a policy, a schedule, "snapmirror" or "update", is
 *     refused: a typo is never ignored. At most PROT_MAX_POLICIES policies.
 *   - name: as above (no "." -- it separates the parts of a snapshot name), unique.
 *   - datastores / vms: exactly one of them, a non-empty array of at most PROT_MAX_TARGETS
 *     distinct names, each a datastore (a VM) of the same spec.
 *   - schedules: a non-empty array; each exactly one of every / cron, and keep. every: a string
 *     (a JSON number is refused with the spelling to use); below one minute, not a whole number
 *     of minutes, above 366d: refused. cron: see prot_cron_parse; one that never fires (Feb 30)
 *     is refused. keep: an integer 1..PROT_KEEP_MAX, and the keeps of one policy add up to at
 *     most PROT_KEEP_MAX (ONTAP holds at most 1023 snapshots per volume). Labels (given or
 *     derived) unique within the policy: two schedules "every": "1h" need a label each.
 *   - consistency, catch_up: exactly one of the names.
 *   - snapmirror.destination_svm: 1..PROT_SVM_NAME_MAX chars of A-Z a-z 0-9 . _ -, starting
 *     with a letter. destination_volume_suffix: 1..PROT_SUFFIX_MAX chars of A-Z a-z 0-9 _.
 *     destination_volume: an ONTAP volume name (a letter or "_", then A-Z a-z 0-9 _, at most
 *     PROT_VOLUME_NAME_MAX), and only when the policy protects ONE datastore named directly (a
 *     single volume cannot mirror several). Not both. policy: 1..PROT_POLICY_NAME_MAX bytes
 *     without control characters. rpo: a duration like every (1m .. 366d). update: the string
 *     "after-snapshot" or an object with exactly one of every / cron.
 *   - rpo is not shorter than the update interval: with "after-snapshot" the longest gap
 *     between two slots of the policy's schedules taken together (several schedules interleave:
 *     "0 0 * * *" and "0 12 * * *" are 12 h apart), with an update schedule its own longest gap
 *     (prot_max_gap()). Transfers take time too; this refuses only what cannot work.
 *   - Destinations, within the spec: a datastore in two policies with snapmirror may not get
 *     the same destination (same SVM and resulting volume name) twice, and a destination_volume
 *     given explicitly may not be used by two policies on one SVM. Whether a destination IS a
 *     source volume needs the source SVM and kvmcd's volume prefix, which are the node's
 *     configuration, not the spec: prot_check_destinations() does that, for the caller that has
 *     them (the apply path and the leader).
 * Every message is "<JSON path>: <what is wrong>", e.g. "protection[0].schedules[1].every:
 * \"30s\" is below one minute (the smallest interval is \"1m\")".
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

#define PROT_NAME_MAX 40u            /* bytes of a policy name */
#define PROT_LABEL_MAX 24u           /* bytes of a schedule label */
#define PROT_MAX_POLICIES 256u
#define PROT_MAX_SCHEDULES 16u       /* per policy */
#define PROT_MAX_TARGETS 256u        /* names in datastores / vms */
#define PROT_KEEP_MAX 1023u          /* ONTAP's snapshots per volume */
#define PROT_EVERY_MIN 60            /* seconds */
#define PROT_DURATION_MAX (366 * 86400) /* seconds: every and rpo */
#define PROT_SVM_NAME_MAX 47u
#define PROT_VOLUME_NAME_MAX 203u    /* ONTAP's volume names */
#define PROT_SUFFIX_MAX 40u
#define PROT_POLICY_NAME_MAX 256u
#define PROT_CRON_TEXT_MAX 128u      /* bytes of a cron expression */
#define PROT_MIRROR_POLICY_DEFAULT "MirrorAllSnapshots"
#define PROT_SUFFIX_DEFAULT "_dr"

/* ---- cron ---------------------------------------------------------------------------------- */

/*
 * A parsed 5-field cron expression, UTC: minute hour day-of-month month day-of-week. Each field
 * is "*", a number, a range "a-b", a step "*" "/n" or "a-b/n" or "a/n" (a to the field's
 * maximum), or a comma list of those; months and days of the week also by their English
 * three-letter names (jan..dec, sun..sat, any case). Ranges: minute 0-59, hour 0-23, dom 1-31,
 * month 1-12, dow 0-7 (0 and 7 are Sunday). Refused: anything else -- macros ("@daily"), six
 * fields, "?", "L", "W", "#", a range backwards ("5-1"), a step of 0 or beyond the field, blanks
 * other than between fields, more than PROT_CRON_TEXT_MAX bytes.
 * Days, as Vixie cron and systemd's crontab conversion: when BOTH day-of-month and day-of-week
 * are restricted (neither field starts with "*"), a day matches when EITHER does; otherwise both
 * must ("*" matches every day).
 */
struct prot_cron {
	uint64_t minutes;        /* bit m: minute m */
	uint32_t hours;          /* bit h */
	uint32_t mdays;          /* bit d, 1..31 */
	uint16_t months;         /* bit m, 1..12 */
	uint8_t wdays;           /* bit w, 0..6 (0 = Sunday; 7 folds into 0) */
	bool dom_star, dow_star; /* the field started with "*" */
};

/*
 * Parses s. Returns 0; -EINVAL when it is not a cron expression as above, and then *why
 * (why_len bytes, may be NULL) says which field and what is accepted. Writes *out only on
 * success. A valid expression may still never fire (Feb 30): prot_cron_fires().
 */
int prot_cron_parse(const char *s, struct prot_cron *out, char *why, size_t why_len);

/* Whether c fires at all (some month of its list has one of its days; with both day fields
 * restricted always: the day of the week matches every week). */
bool prot_cron_fires(const struct prot_cron *c);

/*
 * The first time c fires strictly after t, or the last time at or before t (UTC seconds, whole
 * minutes). Both look at most PROT_CRON_SEARCH_DAYS days away (enough for Feb 29 across a
 * century's missing leap day) and return INT64_MIN when there is none that close (a c that
 * does not fire, or t near the range's end). t in 0 .. PROT_TIME_MAX.
 */
#define PROT_CRON_SEARCH_DAYS (9 * 366)
#define PROT_TIME_MAX INT64_C(253402300740)  /* 9999-12-31T23:59:00Z: names have 4-digit years */
int64_t prot_cron_next(const struct prot_cron *c, int64_t t);
int64_t prot_cron_prev(const struct prot_cron *c, int64_t t);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31), and back. */
int64_t prot_days_from_civil(int64_t y, unsigned m, unsigned d);
void prot_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- durations ----------------------------------------------------------------------------- */

/*
 * "<digits><unit>", unit one of s m h d w (lower case), as seconds. Range is not checked here
 * except overflow (-ERANGE). Returns 0, -EINVAL when it is not a duration; *why (may be NULL)
 * says what is accepted, without the JSON path. Writes *sec only on success.
 */
int prot_duration_parse(const json_t *v, int64_t *sec, char *why, size_t why_len);

/* sec (whole minutes) in the largest of m h d that divides it: "15m", "1h", "7d". buf has
 * PROT_LABEL_MAX + 1 bytes. Returns buf. */
const char *prot_duration_format(int64_t sec, char *buf);

/* ---- policies of a validated spec ---------------------------------------------------------- */

enum prot_kind { PROT_EVERY, PROT_CRON };
enum prot_consistency { PROT_CRASH, PROT_VM };
enum prot_catch_up { PROT_CATCH_UP_ONCE, PROT_CATCH_UP_SKIP };

/* When a schedule (or the mirror's own update schedule) fires. */
struct prot_timing {
	enum prot_kind kind;
	int64_t every;               /* seconds, PROT_EVERY */
	struct prot_cron cron;       /* PROT_CRON */
};

struct prot_schedule {
	struct prot_timing timing;
	unsigned keep;               /* 0 for the mirror's update schedule */
	char label[PROT_LABEL_MAX + 1];
};

struct prot_mirror {
	const char *destination_svm;
	const char *destination_volume;   /* NULL: the suffix is used */
	const char *destination_volume_suffix; /* PROT_SUFFIX_DEFAULT when neither was given */
	const char *policy;               /* PROT_MIRROR_POLICY_DEFAULT when not given */
	int64_t rpo;                      /* seconds; 0 = not given (no lag watch) */
	bool update_after_snapshot;       /* else `update` says when */
	struct prot_timing update;
};

/* One policy of a VALIDATED spec, defaults applied. Strings are borrowed from the spec's json_t
 * (valid as long as that reference is held); arrays live in prot_spec_list()'s block. */
struct prot_policy {
	const char *name;
	/* The datastores protected, each once, in the order of the spec's "datastores" -- named
	 * directly, or the datastores of the VMs named (vm_spec.datastores); may be empty for VMs
	 * without a disk on a datastore. */
	const char *const *datastores;
	size_t n_datastores;
	bool by_vms;                      /* the policy named VMs */
	const char *const *vms;           /* those names (by_vms), borrowed */
	size_t n_vms;
	const struct prot_schedule *schedules;
	size_t n_schedules;
	enum prot_consistency consistency;
	enum prot_catch_up catch_up;
	bool has_mirror;
	struct prot_mirror mirror;
};

/* Whether s is a policy name, a schedule label (the rules of "name" and "label" above). */
bool prot_policy_name_ok(const char *s);
bool prot_label_ok(const char *s);

/* "crash", "vm"; "once", "skip"; "unknown" out of range. */
const char *prot_consistency_name(enum prot_consistency c);
const char *prot_catch_up_name(enum prot_catch_up c);

/*
 * The policies of a spec that passed spec_validate(): *out (owned, free() once: every array
 * lives in the same block) of *n entries in the spec's order; NULL when there are none.
 * Validates the spec itself. Returns 0, -EINVAL when it is not valid, -ENOMEM. Writes *out and
 * *n only on success.
 */
int prot_spec_list(const json_t *spec, struct prot_policy **out, size_t *n);

/*
 * The longest time between two consecutive fires of the timings t[0..n) taken together, looked
 * at over PROT_GAP_HORIZON_DAYS days (28 years: every alignment of weekdays and leap years of
 * the Gregorian calendar outside its century rule); a search that finds a gap above `limit`
 * stops there and returns it (callers compare with a limit). Seconds; INT64_MAX when they do
 * not fire at all.
 */
#define PROT_GAP_HORIZON_DAYS (28 * 365 + 7)
int64_t prot_max_gap(const struct prot_timing *t, size_t n, int64_t limit);

/* For spec.c's spec_validate(): the problems of spec["protection"], which is present. */
void prot_validate(const json_t *spec, struct spec_problems *problems);

/*
 * The destinations of policies[0..n) against the source volumes: a mirror whose destination is
 * on source_svm and named like the volume of a datastore of the spec (<volume_prefix>_<name>,
 * coord/decide/datastore-plan.h) -- its own or another one's -- would overwrite a datastore.
 * For the caller that knows the SVM and prefix (the node's [ontap] configuration): the apply
 * path and the leader. Appends "protection[i].snapmirror...: ..." problems (i is the policy's
 * index) and returns -EINVAL when there is any, else 0. all_datastores: every datastore name of
 * the spec.
 */
int prot_check_destinations(const struct prot_policy *policies, size_t n, const char *const *all_datastores,
			    size_t n_all, const char *source_svm, const char *volume_prefix,
			    struct spec_problems *problems);

/*
 * The policies against the ONTAP release the leader found (G.M.m, e.g. 9.9.1): a policy of
 * several datastores is cut as one consistency group snapshot, and ONTAP has consistency groups
 * from PROT_CG_MIN_VERSION (9.10.1) on. For the caller that knows the release (the apply path:
 * records["ontap/svm"].ontap_version, agent/leader-datastores.c). Appends
 * "protection[i].datastores|vms: ..." problems and returns -EINVAL when there is any, else 0.
 */
#define PROT_CG_MIN_VERSION "9.10.1"
int prot_check_ontap_version(const struct prot_policy *policies, size_t n, int generation, int major, int minor,
			     struct spec_problems *problems);
