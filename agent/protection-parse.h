/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protection service's pure helpers (agent/protection.c, issue 10): ONTAP's snapshot
 * listing read into what the scheduler needs, the on-demand snapshot names of `kvmcctl snapshot
 * create`, and the leader's per-schedule records. No I/O, no clock: unit-tested
 * (tests/test-protection-parse.c) and fuzzed (tests/fuzz/fuzz-protection-listing.c), since the
 * listing is outside input.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/spec/protection.h"
#include "coord/decide/schedule.h"

/* One snapshot of ONTAP's listing of a volume. Strings owned by the array (prot_listing_free). */
struct prot_snap {
	char *name;
	char *create_time;   /* ONTAP's ISO 8601 text, "" when it sent none */
	bool busy;           /* "owners" not empty: a clone's parent, a SnapMirror base */
};

/*
 * ONTAP's answer to GET /storage/volumes/{uuid}/snapshots (ontap_snapshot_list()'s obj->record:
 * {"records": [{"name", "create_time", "owners": [...]}, ...]}) as *out (owned, *n entries,
 * NULL when none), in ONTAP's order. Records without a string name, or whose name is longer than
 * PROT_SNAP_NAME_MAX bytes or holds a control character, are skipped (never ours: kvmcd's names
 * are SCHED_NAME_MAX); create_time must be a string or is ""; owners, when present, an array
 * (anything else counts as busy: never delete what we cannot read). Returns 0, -EINVAL when
 * `listing` is not an object with a "records" array, -E2BIG beyond PROT_SNAP_LIST_MAX records,
 * -ENOMEM. Writes *out and *n only on success.
 */
#define PROT_SNAP_NAME_MAX 255u
#define PROT_SNAP_LIST_MAX 4096u   /* ONTAP holds at most 1023 per volume */
int prot_listing_parse(const json_t *listing, struct prot_snap **out, size_t *n);
void prot_listing_free(struct prot_snap *s, size_t n);

/*
 * On-demand snapshots (`kvmcctl snapshot create POLICY`): kvmcd.<policy>.ondemand.<YYYYmmddTHHMMSSZ>
 * of the time it was asked for (UTC seconds). Never a schedule's name: those end in a slot of
 * 14 characters (YYYYmmddTHHMMZ) and sched_snapshot_parse() reads them strictly, so retention
 * never counts nor deletes an on-demand snapshot; it stays until `kvmcctl snapshot delete`.
 * buf has PROT_ONDEMAND_NAME_MAX bytes. -EINVAL: not a policy name, t out of 0..PROT_TIME_MAX.
 */
#define PROT_ONDEMAND_LABEL "ondemand"
#define PROT_ONDEMAND_NAME_MAX (6 + PROT_NAME_MAX + 1 + 8 + 1 + 16 + 1)
int prot_ondemand_name(const char *policy, int64_t t, char *buf);
/* The reverse, strictly: policy has PROT_NAME_MAX + 1 bytes. -EINVAL: not one. */
int prot_ondemand_parse(const char *name, char *policy, int64_t *t);
/* A snapshot kvmcd made: a schedule's (sched_snapshot_parse) or an on-demand one. */
bool prot_snapshot_is_ours(const char *name);

/*
 * The leader's record of one schedule: records["prot/<policy>/<label>"] =
 *   {"started": slot|null, "done": slot|null,      UTC seconds (schedule.h's two slots)
 *    "snapshot": name of the started run, "last_snapshot": name of the done one,
 *    "started_at", "done_at": UTC seconds (the leader's clock), "epoch": the leader's,
 *    "datastores": [names the run covers]}
 * PROT_RECORD_PREFIX + policy + "/" + label is the key (buf PROT_RECORD_KEY_MAX bytes).
 */
#define PROT_RECORD_PREFIX "prot/"
#define PROT_RECORD_KEY_MAX (5 + PROT_NAME_MAX + 1 + PROT_LABEL_MAX + 1 + 1)
int prot_record_key(const char *policy, const char *label, char *buf);
/* started / done of a record (SCHED_NONE when absent, null or not a whole minute in range). */
void prot_record_slots(const json_t *rec, int64_t *started, int64_t *done);

/*
 * VM-consistent runs (protection-service.h "Consistency vm"). The verdict on one VM when the
 * snapshot call returned: report is its owner's latest report for the run ({"report", "outcome"?,
 * "why"?}, NULL when none), pre_why the reason it was crash-consistent without being asked
 * ("paused", "unknown"; NULL when it was asked), late whether the call returned at or after t0 +
 * budget, ok whether the snapshot was taken. True (consistent) only for a "frozen" report, in
 * time, of a snapshot taken; else false with *why: pre_why, "no-report", the report's outcome
 * ("agent-timeout", ...), its why ("deadline", "leader-lost", ...), "deadline" (frozen but late),
 * "snapshot-failed". *why is static, pre_why, or borrowed from report.
 */
bool prot_vm_verdict(const json_t *report, const char *pre_why, bool late, bool ok, const char **why);

/*
 * records["protvms/<policy>"]: hist {"<snapshot>": {"at": UTC seconds, "vms": {...}}} gains
 * name's entry (vms copied), then loses its oldest entries ("at", then name) beyond max.
 * Returns 0, -EINVAL (hist not an object, no name, vms not an object, max 0), -ENOMEM.
 */
#define PROT_VMS_RECORD_PREFIX "protvms/"
int prot_vms_history_add(json_t *hist, const char *name, int64_t at, const json_t *vms, size_t max);
