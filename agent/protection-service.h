/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The snapshot service (issue 10), a service (service.h) named "protection": the spec's
 * `protection` policies (coord/spec/protection.h) run by the ACTING leader, exactly once per slot.
 *
 * ---- The leader's pass (LEADING only; the ONTAP client of leader-ontap.h) -------------------
 *   0. the records["prot/<policy>/<label>"] of policies and schedules no longer in the spec go
 *      (one patch, committed before the pass goes on); the snapshots they took stay on ONTAP,
 *      and so does the bounded VM-consistency history records["protvms/<policy>"];
 *   1. list the snapshots of every ready datastore of the spec (records["ds/<name>"].ready;
 *      only while the spec has a policy: no ONTAP traffic otherwise);
 *   2. decide: coord/decide/schedule.h with the policies whose datastores are all ready, the
 *      records below, the listing, and now = CLOCK_REALTIME (plus the test offset, [protection]
 *      test_clock_offset_file);
 *   3. perform, one at a time: each due run -- records["prot/<policy>/<label>"].started = slot
 *      COMMITTED first, then the snapshot by the scheduler's name on every datastore's volume
 *      (one datastore: a volume snapshot; several: the consistency group <prefix>_<policy> of
 *      their volumes, ensured, and its snapshot -- ONTAP >= 9.10.1), each step "ensure" (probe
 *      first: a snapshot of that name that exists is success), then done = slot; the requests
 *      of `kvmcctl snapshot create|delete` (below); retention's deletes (ONTAP's "busy" one is
 *      kept, reported, and not tried again for BUSY_RETRY_SEC);
 *   4. a CLOCK_REALTIME timer at the scheduler's wake-up (and a retry with backoff after a
 *      failure); a commit that changes the spec or the records, a node's request, and acting
 *      again re-run it. A new leader finds started > done and resumes the same name: a slot is
 *      never skipped nor doubled (schedule.h's "What the leader records").
 * SnapMirror is the mirror service's (agent/mirror.c, mirror-service.h): this one ignores the
 * scheduler's SCHED_MIRROR_UPDATE runs (the mirror service decides its updates from the `done`
 * records above and its own records), and its status's "snapmirror" object comes from
 * mirror_policy_status().
 *
 * ---- Consistency "vm": freeze before the snapshot, thaw after ---------------------------------
 * For a run (or an on-demand create) of a `consistency: vm` policy, between "started committed"
 * and the snapshot call:
 *   a. scope: every VM of the spec whose disks are on one of the run's datastores (a policy of
 *      `vms`: the VMs named), that has an owner (records["vm/<name>"].owner) and whose owner's
 *      section reports its domain "running" -- asked to freeze; "paused" (libvirt refuses agent
 *      commands to it) or "unknown": crash-consistent without asking (why "paused" / "unknown");
 *      shut off, or no owner: nothing to freeze, not in the record;
 *   b. the leader publishes in its section "protection_freeze" {"epoch", "run" (epoch << 24 |
 *      sequence: only grows), "phase": "freeze", "budget_ms" ([protection] freeze_budget, default
 *      5 s), "nodes": {"<owner>": ["<vm>", ...]}}; each owner's freeze service (freeze-node.h,
 *      coord/decide/freeze.h) freezes them with its deadline = budget on its own clock from when
 *      it sees the request, and reports each VM in its section "freeze_reports" {"run", "vms":
 *      {"<vm>": {"report": "frozen" | "crash-consistent" (with "outcome": agent-timeout,
 *      agent-not-connected, no-agent, paused, ...) | "thawed" | "thaw-failed"}}};
 *   c. the snapshot is taken once every VM asked has a report for the run, or when the leader's
 *      own wait (60 % of the budget) is over -- a VM without a report then is crash-consistent
 *      ("no-report"); the snapshot is ALWAYS taken;
 *   d. the moment the snapshot call returns (taken or failed) the phase becomes "thaw" (published
 *      until the next run); the nodes thaw. They also thaw by themselves at their deadline, when
 *      the leader's part of that epoch disappears (its kvmcd died, it stopped acting: a leader that
 *      stops acting withdraws the part) or when they leave a healthy synced view;
 *   e. a VM counts as consistent only when its owner's report still says "frozen" when the call
 *      returned AND the call returned before t0 + budget (t0: when the leader published the
 *      freeze; every node saw it later, so its deadline had not passed).
 * A new leader that resumes a run (started > done) runs the freeze again under its own epoch.
 * What is recorded -- the result for each VM: {"<vm>": {"node", "consistent": bool, "why"?}}:
 *   records["prot/<policy>/<label>"] gains "consistency": "vm" and "vms" (the last snapshot's),
 *   in the same patch as done;
 *   records["protvms/<policy>"] {"<snapshot>": {"at", "vms"}}: the VMS_HISTORY_MAX (16) newest
 *   snapshots of the policy, scheduled and on-demand, carried forward whole by the leader.
 * `snapshot list --json` shows each snapshot's "vms" from protvms/; `protection status --json`
 * shows a vm policy's "last_vms"; an on-demand create answers with the summary in its message.
 *
 * ---- Verbs (any node) -----------------------------------------------------------------------
 *   protection-status {}            per policy: last snapshot, next due, health, errors, kept
 *                                   snapshots, consistency, last_vms (vm policies),
 *                                   snapmirror (mirror_policy_status); computed on the node
 *                                   asked from the spec, the records and the leader's section
 *   snapshot-list {datastore?}      the leader's last listing (its section), each snapshot with
 *                                   its policy / label / slot when it is kvmcd's, and "vms"
 *                                   when a vm policy's record has it
 *   snapshot-create {policy}        an on-demand snapshot of the policy's datastores now, named
 *                                   kvmcd.<policy>.ondemand.<YYYYmmddTHHMMSSZ> (protection-parse.h:
 *                                   never a slot's name; retention never deletes it)
 *   snapshot-delete {name}          that snapshot (kvmcd's names only) on every datastore holding it
 * Create and delete are REQUESTS to the leader, as vms-api.c's: the node asked puts them in its
 * section ("protection_requests": {"<node>/<nonce>.<n>": {"op", ...}}), the acting leader serves
 * each once and answers in its own section ("protection_answers": {"<id>": reply}); the asking
 * node replies when the answer is there, "outcome unknown" after REQUEST_TIMEOUT_SEC. A new
 * leader serves a request again: the same name (chosen by the asking node) makes it idempotent.
 *
 * The leader's section also carries "protection_listing" {"epoch", "at", "datastores":
 * {"<ds>": [{"name", "create_time", "busy"}]}} and "protection_health" {"<policy>": {"error",
 * "at", "kept": [...]}}: soft state, re-made by the next leader's first pass.
 */
/* (Named protection-service.h, not protection.h: coord/spec/protection.h is the spec's, and
 * headers are found by name across the include directories.) */
#pragma once

#include "service.h"

extern const struct service_ops protection_service;

/* The acting leader's snapshot listing, "protection_listing" of its section (the one of the
 * highest epoch; above): {"epoch", "at", "datastores": {"<ds>": [...]}}. Borrowed; NULL when no
 * leader has listed. For the verbs that name a snapshot (restore, clone). */
const json_t *protection_leader_listing(struct service_ctx *ctx);

/*
 * The spec-apply path's check of next's protection policies against the ONTAP release the leader
 * found (records["ontap/svm"].ontap_version, agent/leader-datastores.c): a policy of several
 * datastores needs consistency groups, ONTAP 9.10.1 (prot_check_ontap_version). A refusal reply
 * ({"problems": [...]}, nothing applied) or NULL: fine, or the release is not known yet (the
 * run then fails with that reason in `protection status`). records borrowed.
 */
json_t *protection_spec_check(const json_t *records, const json_t *next);
