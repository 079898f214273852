/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SnapMirror and DR, the pure part (issue 10): what the leader's mirror service (agent/mirror.c)
 * decides, with no I/O, no clock, no globals (STYLE.md 3). Unit-tested (tests/test-mirror.c);
 * the reader of ONTAP's relationship record is fuzzed (tests/fuzz/fuzz-mirror-relationship.c).
 *
 *   mirror_destination()   the destination volume of a datastore's volume
 *   mirror_rel_parse()     ONTAP's relationship record (GET /api/snapmirror/relationships) as
 *                          the few fields the service uses; lag_time read by mirror_duration_parse
 *   mirror_update_due()    whether an update transfer is due, and for which slot
 *   mirror_rpo_check()     the RPO rule: lag > rpo is a breach; a lag ONTAP does not report
 *                          for an initialized relationship is a breach too (nothing proves it)
 *   mirror_dr_check()      whether `kvmcctl dr failover | resync` may run on a relationship in
 *                          the state observed, and why not
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protection.h"

#define MIRROR_STATE_MAX 32u          /* bytes of a relationship or transfer state, NUL included */
#define MIRROR_WHY_MAX 256u           /* bytes of a reason, NUL included */
#define MIRROR_REASON_MAX 256u        /* bytes of ONTAP's first unhealthy_reason message kept */
#define MIRROR_LAG_MAX INT64_C(3162240000) /* 100 years of seconds: a longer lag_time is refused */

/*
 * The destination volume of the source volume `src_volume` (kvmcd's <prefix>_<datastore>):
 * m->destination_volume when given, else src_volume + m->destination_volume_suffix. buf has
 * size bytes. 0; -ENAMETOOLONG when it does not fit or exceeds PROT_VOLUME_NAME_MAX; -EINVAL
 * on NULL input. Writes buf only on success.
 */
int mirror_destination(const struct prot_mirror *m, const char *src_volume, char *buf, size_t size);

/*
 * An ISO 8601 duration as ONTAP writes lag_time: "P" [n "D"] ["T" [n "H"] [n "M"] [n ["." digits]
 * "S"]], e.g. "PT1H2M", "P1DT0H0M5S", "PT30S", "PT0.5S" (fractions are cut), and also weeks
 * "P2W". Years and months are refused (their length is not fixed: ONTAP never sends them for a
 * lag). At least one component; "P" and "PT" alone are refused. Returns 0 with *sec (whole
 * seconds, 0 .. MIRROR_LAG_MAX); -EINVAL (not that form), -ERANGE (beyond MIRROR_LAG_MAX).
 * Writes *sec only on success.
 */
int mirror_duration_parse(const char *s, int64_t *sec);

/* A relationship as the service reads it. */
struct mirror_rel {
	char state[MIRROR_STATE_MAX];           /* "snapmirrored", "broken_off", ...; "" unknown */
	char transfer_state[MIRROR_STATE_MAX];  /* "success", "transferring", ...; "" when none */
	bool healthy;                           /* ONTAP's "healthy"; absent: false */
	bool has_lag;
	int64_t lag;                            /* seconds, when has_lag */
	char reason[MIRROR_REASON_MAX];         /* unhealthy_reason[0].message, "" when none */
};

/*
 * ONTAP's record of one relationship (fields state, healthy, unhealthy_reason, lag_time,
 * transfer.state) into *out. A field of the wrong type is treated as absent; a lag_time that
 * does not parse leaves has_lag false; strings longer than their buffer are cut (a state that
 * long is no state we know: "" instead); control characters in the reason become '?'.
 * Returns 0; -EINVAL when rec is not an object. Writes *out only on success.
 */
int mirror_rel_parse(const json_t *rec, struct mirror_rel *out);

/* A transfer is running (queued or transferring). */
bool mirror_transferring(const struct mirror_rel *r);

/*
 * The update rule. after_snapshot (m->update_after_snapshot): due when the protection service
 * completed a snapshot run later than the last update (latest_done > updated; SCHED_NONE for
 * "never"), for slot latest_done. Otherwise the mirror's own schedule: due when its latest slot
 * at or before now is later than `updated`, for that slot. Returns true with *slot, else false
 * (*slot untouched). A relationship that is not "snapmirrored" is never updated (the caller
 * checks the state: uninitialized is initialized first; broken_off after a failover waits for
 * `dr resync`).
 */
bool mirror_update_due(const struct prot_mirror *m, int64_t latest_done, int64_t updated, int64_t now,
		       int64_t *slot);

/* When the mirror's own schedule fires next after now (UTC seconds); INT64_MAX for
 * after-snapshot (the snapshot service's completion wakes the service instead). */
int64_t mirror_next_update(const struct prot_mirror *m, int64_t now);

/*
 * The RPO rule, for `kvmcctl protection status` and the warning of `kvmcctl status`:
 *   MIRROR_RPO_NONE     no rpo in the spec, or the relationship is not initialized / broken off
 *                       (a failover is the admin's decision: status says broken_off instead)
 *   MIRROR_RPO_OK       lag <= rpo
 *   MIRROR_RPO_BREACH   lag > rpo, or an initialized relationship with no lag reported
 */
enum mirror_rpo { MIRROR_RPO_NONE, MIRROR_RPO_OK, MIRROR_RPO_BREACH };
enum mirror_rpo mirror_rpo_check(int64_t rpo, const struct mirror_rel *r);
const char *mirror_rpo_name(enum mirror_rpo v); /* "none", "ok", "breach" */

/*
 * DR transitions. Each is refused unless it is safe on the relationship as last observed
 * (r NULL: never observed -- the leader has not read it yet):
 *   FAILOVER (quiesce, break: the destination becomes writable): from snapmirrored or paused,
 *     with no transfer running; already broken_off: -EALREADY (nothing to do); uninitialized:
 *     -EINVAL (the destination holds no data yet).
 *   RESYNC (the destination is overwritten from the source again): only from broken_off with no
 *     transfer running; snapmirrored: -EALREADY.
 * Returns 0 or the -errno above (-EBUSY while a transfer runs, -ENODATA when never observed,
 * -EINVAL for any other state), with *why (why_len bytes, may be NULL) the sentence an admin
 * reads, naming the datastore.
 */
enum mirror_dr_op { MIRROR_DR_FAILOVER, MIRROR_DR_RESYNC };
int mirror_dr_check(enum mirror_dr_op op, const char *datastore, const struct mirror_rel *r, char *why,
		    size_t why_len);
const char *mirror_dr_name(enum mirror_dr_op op); /* "failover", "resync" */
